//! Files of succeeded exports, written into a real Cloud Storage emulator (fake-gcs-server) and read
//! back: CSV and GeoJSON tables whose cells follow the column contract with values computed here from
//! `fake_ee::synthetic`, a GeoTIFF for image exports, nothing for classifiers.

mod common;

use std::time::Duration;

use common::*;
use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::{files, synthetic, Config};
use serde_json::{json, Value};

const SELECTORS: [&str; 6] =
    ["site_id", "name", "lulc__2020__ha", "lulc__2020__px", "s2__2021__NDVI__mean", "s2__2021__NDVI__count"];

fn sites() -> Vec<String> {
    (0..12).map(|i| format!("site-{i}")).collect()
}

fn emulator_and_fake() -> (GcsEmulator, fake_ee::FakeEe) {
    let gcs = GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket("results").unwrap();
    let ee = start(Config { storage_base_url: Some(gcs.base_url().to_string()), max_running: 5, ..manual() });
    (gcs, ee)
}

/// The expected cell of a column, computed from the synthetic rules (not from the fake's renderer).
fn expected(site: &str, column: &str) -> String {
    match column {
        "site_id" => site.to_string(),
        "name" => format!("Site, \"{site}\""),
        "lulc__2020__ha" => synthetic::categorical_cells(site, "lulc", 2020).0,
        "lulc__2020__px" => synthetic::categorical_cells(site, "lulc", 2020).1,
        "s2__2021__NDVI__mean" => {
            synthetic::stat(site, "s2", 2021, "NDVI", "mean").map(synthetic::number).unwrap_or_default()
        }
        "s2__2021__NDVI__count" => {
            synthetic::stat(site, "s2", 2021, "NDVI", "count").map(synthetic::number).unwrap_or_default()
        }
        other => panic!("unexpected column {other}"),
    }
}

#[test]
fn a_csv_table_lands_in_cloud_storage_with_contract_cells() {
    let (gcs, ee) = emulator_and_fake();
    let ids = sites();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let a = export(&ee, &table_body("csv1", &refs, &SELECTORS));
    assert_eq!(a.status, 200, "{}", a.json);
    ee.advance(Duration::from_secs(30));
    assert_eq!(state(&get_op(&ee, a.json["name"].as_str().unwrap())), "SUCCEEDED");
    assert_eq!(gcs.list("results", "run/").unwrap(), ["run/csv1.csv"]);
    let bytes = gcs.download("results", "run/csv1.csv").unwrap().expect("object exists");
    let text = String::from_utf8(bytes).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(SELECTORS.join(",").as_str()), "header = selectors, no system:index/.geo");

    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut rows = 0;
    let mut no_data = 0;
    for (record, site) in reader.records().zip(&ids) {
        let record = record.unwrap();
        for (cell, column) in record.iter().zip(SELECTORS) {
            assert_eq!(cell, expected(site, column), "{site} {column}");
        }
        if record[2].is_empty() || &record[2] == "{}" {
            no_data += 1;
        } else {
            let ha: Value = serde_json::from_str(&record[2]).unwrap();
            for (code, hectares, _) in synthetic::categorical(site, "lulc", 2020) {
                assert_eq!(ha[code.to_string()].as_f64(), Some(hectares));
            }
        }
        rows += 1;
    }
    assert_eq!(rows, 12);
    assert!(no_data < 12);
    // Earth Engine quotes only when needed: ids bare, JSON objects and the name with its comma quoted.
    let first = text.lines().nth(1).unwrap();
    assert!(first.starts_with("site-0,\"Site, \"\"site-0\"\"\","), "{first}");
}

#[test]
fn a_geojson_table_lands_in_cloud_storage() {
    let (gcs, ee) = emulator_and_fake();
    let mut body = table_body("gj1", &["a", "b"], &SELECTORS);
    body["fileExportOptions"]["fileFormat"] = json!("GEO_JSON");
    let a = export(&ee, &body);
    assert_eq!(a.status, 200, "{}", a.json);
    ee.advance(Duration::from_secs(30));
    let bytes = gcs.download("results", "run/gj1.geojson").unwrap().expect("object exists");
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["type"], "FeatureCollection");
    let features = v["features"].as_array().unwrap();
    assert_eq!(features.len(), 2);
    assert_eq!(features[1]["id"], "1");
    assert_eq!(features[1]["geometry"]["type"], "Polygon");
    assert_eq!(features[1]["properties"]["site_id"], "b");
    assert_eq!(features[1]["properties"]["lulc__2020__px"], expected("b", "lulc__2020__px"));
    match synthetic::stat("b", "s2", 2021, "NDVI", "mean") {
        Some(m) => assert_eq!(features[1]["properties"]["s2__2021__NDVI__mean"].as_f64(), Some(m)),
        None => assert!(features[1]["properties"].get("s2__2021__NDVI__mean").is_none()),
    }
}

#[test]
fn image_exports_write_a_geotiff_and_classifiers_nothing() {
    let (gcs, ee) = emulator_and_fake();
    let mut img = captured_js("js_image_export_gcs_geotiff.json");
    img["fileExportOptions"]["cloudStorageDestination"]["bucket"] = json!("results");
    let a = call(&ee, "POST", &format!("/v1/projects/{PROJECT}/image:export"), Some(&img)).unwrap();
    assert_eq!(a.status, 200, "{}", a.json);
    let c = call(
        &ee,
        "POST",
        &format!("/v1/projects/{PROJECT}/classifier:export"),
        Some(&captured_js("js_classifier_export_asset.json")),
    )
    .unwrap();
    assert_eq!(c.status, 200, "{}", c.json);
    ee.advance(Duration::from_secs(30));
    assert_eq!(state(&get_op(&ee, c.json["name"].as_str().unwrap())), "SUCCEEDED");
    let prefix = img["fileExportOptions"]["cloudStorageDestination"]["filenamePrefix"].as_str().unwrap();
    let tif = gcs.download("results", &format!("{prefix}.tif")).unwrap().expect("tif exists");
    let mut d = tiff::decoder::Decoder::new(std::io::Cursor::new(tif)).unwrap();
    assert_eq!(d.dimensions().unwrap(), (4, 4));
    assert_eq!(gcs.list("results", "").unwrap().len(), 1, "the classifier wrote no file");
}

#[test]
fn a_missing_bucket_fails_the_task() {
    let (_gcs, ee) = emulator_and_fake();
    let mut body = table_body("nobucket", &["a"], &SELECTORS);
    body["fileExportOptions"]["cloudStorageDestination"]["bucket"] = json!("no-such-bucket");
    let a = export(&ee, &body);
    ee.advance(Duration::from_secs(30));
    let op = get_op(&ee, a.json["name"].as_str().unwrap());
    assert_eq!(state(&op), "FAILED");
    assert!(op["error"]["message"].as_str().unwrap().contains("no-such-bucket"), "{op}");
}

#[test]
fn without_storage_files_are_kept_in_memory() {
    let ee = start(manual());
    let a = export(&ee, &table_body("mem", &["x", "y"], &["site_id", "lulc__2020__ha"]));
    ee.advance(Duration::from_secs(30));
    assert_eq!(state(&get_op(&ee, a.json["name"].as_str().unwrap())), "SUCCEEDED");
    let files = ee.files();
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].bucket.as_str(), files[0].name.as_str()), ("results", "run/mem.csv"));
    let quote =
        |s: String| if s.contains(',') || s.contains('"') { format!("\"{}\"", s.replace('"', "\"\"")) } else { s };
    let want = format!(
        "site_id,lulc__2020__ha\nx,{}\ny,{}\n",
        quote(synthetic::categorical_cells("x", "lulc", 2020).0),
        quote(synthetic::categorical_cells("y", "lulc", 2020).0)
    );
    assert_eq!(String::from_utf8(files[0].bytes.clone()).unwrap(), want);
}

#[test]
fn sites_listed_by_filter_in_list_get_rows() {
    let ee = start(manual());
    let mut body = table_body("listed", &["unused"], &["plot", "owner", "lulc__2019__px"]);
    body["expression"] = json!({"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "Collection.filter", "arguments": {
        "collection": {"functionInvocationValue": {"functionName": "Collection.loadTable", "arguments": {"tableId": {"constantValue": "projects/p/assets/plots"}}}},
        "filter": {"functionInvocationValue": {"functionName": "Filter.inList", "arguments": {
            "leftField": {"constantValue": "plot"}, "rightValue": {"constantValue": ["p1", "p2", "p3"]}}}}}}}}});
    let a = export(&ee, &body);
    assert_eq!(a.status, 200, "{}", a.json);
    ee.advance(Duration::from_secs(30));
    let text = String::from_utf8(ee.files()[0].bytes.clone()).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 4);
    assert!(rows[2].starts_with(&format!("p2,{},", synthetic::property("p2", "owner"))), "{}", rows[2]);
    assert_eq!(ee.operations()[0].site_ids, ["p1", "p2", "p3"]);
    assert_eq!(files::meaning("lulc__2019__px"), files::ColumnMeaning::Pixels { layer: "lulc".into(), year: 2019 });
}
