//! Files of succeeded exports, written into a real Cloud Storage emulator (fake-gcs-server) and read
//! back: CSV and GeoJSON tables holding the selected properties of the features the expression evaluated
//! to, with values computed here from the synthetic world's definition (`fake_ee::world`); a GeoTIFF for
//! image exports, nothing for classifiers; expressions that do not evaluate fail their task.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::{world, Config};
use serde_json::{json, Value};

const SELECTORS: [&str; 4] = ["site_id", "name", "histogram", "not_produced"];

fn sites() -> Vec<String> {
    (0..12).map(|i| format!("site-{i}")).collect()
}

fn emulator_and_fake() -> (GcsEmulator, fake_ee::FakeEe) {
    let gcs = GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket("results").unwrap();
    let ee = start(Config { storage_base_url: Some(gcs.base_url().to_string()), max_running: 5, ..manual() });
    (gcs, ee)
}

/// The weighted class counts of site `i` of [`table_body`], from the world's definition: its pixels at
/// 30 m and the MapBiomas 2020 value at each pixel centre (masked pixels left out).
fn histogram(i: usize) -> BTreeMap<String, f64> {
    let x = -48.0 + i as f64 * 0.01;
    let ring = vec![vec![[x, -15.0], [x + 0.005, -15.0], [x + 0.005, -15.005], [x, -15.0]]];
    let mut out = BTreeMap::new();
    for p in world::region_pixels(&[ring], world::grid_degrees(30.0)) {
        let (cx, cy) = p.cell.centre();
        if let Some(v) = world::band_value(MAPBIOMAS, "classification_2020", None, cx, cy) {
            *out.entry(v.to_string()).or_insert(0.0) += p.weight;
        }
    }
    out
}

/// A dictionary cell as Earth Engine's CSV writer renders it: `{k=v, …}`, keys in dictionary order.
fn java_map(h: &BTreeMap<String, f64>) -> String {
    let items: Vec<String> =
        h.iter().map(|(k, v)| format!("{k}={}", serde_json::Number::from_f64(*v).unwrap())).collect();
    format!("{{{}}}", items.join(", "))
}

#[test]
fn a_csv_table_lands_in_cloud_storage_with_the_evaluated_properties() {
    let (gcs, ee) = emulator_and_fake();
    let ids = sites();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let a = export(&ee, &table_body("csv1", &refs, &SELECTORS));
    assert_eq!(a.status, 200, "{}", a.json);
    ee.advance(Duration::from_secs(30));
    assert_eq!(state(&get_op(&ee, a.json["name"].as_str().unwrap())), "SUCCEEDED");
    assert_eq!(gcs.list("results", "run/").unwrap(), ["run/csv1.csv"]);
    let text = String::from_utf8(gcs.download("results", "run/csv1.csv").unwrap().expect("object exists")).unwrap();
    assert_eq!(text.lines().next(), Some(SELECTORS.join(",").as_str()), "header = selectors, no system:index/.geo");
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let mut rows = 0;
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let h = histogram(i);
        let want = [ids[i].clone(), format!("Site, \"{}\"", ids[i]), java_map(&h), String::new()];
        // The unquoted `{k=v, k=v}` cell splits at its commas, as in a real export.
        let cells: Vec<&str> = record.iter().collect();
        assert_eq!(cells[0], want[0]);
        assert_eq!(cells[1], want[1]);
        assert_eq!(cells[2..cells.len() - 1].join(","), want[2], "site {i}");
        assert_eq!(cells[cells.len() - 1], "", "a selector the expression does not produce is an empty cell");
        rows += 1;
    }
    assert_eq!(rows, 12);
    // Earth Engine quotes only when needed: ids bare, the name with its comma quoted, dictionaries in
    // Java's map form unquoted.
    let first = text.lines().nth(1).unwrap();
    assert_eq!(first, format!("site-0,\"Site, \"\"site-0\"\"\",{},", java_map(&histogram(0))));
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
    let h: BTreeMap<String, f64> = serde_json::from_value(features[1]["properties"]["histogram"].clone()).unwrap();
    assert_eq!(h, histogram(1));
    assert!(features[1]["properties"].get("not_produced").is_none());
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
    assert_eq!(state(&get_op(&ee, a.json["name"].as_str().unwrap())), "SUCCEEDED");
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
    let a = export(&ee, &table_body("mem", &["x", "y"], &["site_id", "histogram"]));
    ee.advance(Duration::from_secs(30));
    assert_eq!(state(&get_op(&ee, a.json["name"].as_str().unwrap())), "SUCCEEDED");
    let files = ee.files();
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].bucket.as_str(), files[0].name.as_str()), ("results", "run/mem.csv"));
    let want = format!("site_id,histogram\nx,{}\ny,{}\n", java_map(&histogram(0)), java_map(&histogram(1)));
    assert_eq!(String::from_utf8(files[0].bytes.clone()).unwrap(), want);
}

#[test]
fn sites_listed_by_filter_get_rows_with_world_properties() {
    let ee = start(manual());
    let mut body = table_body("listed", &["unused"], &["site_id", "owner", "histogram"]);
    // ee.Filter.inList('plot', [...]) as the official clients send it: listContains{leftValue, rightField}.
    body["expression"] = json!({"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "Collection.filter", "arguments": {
        "collection": {"functionInvocationValue": {"functionName": "Collection.loadTable", "arguments": {"tableId": {"constantValue": "projects/p/assets/plots"}}}},
        "filter": {"functionInvocationValue": {"functionName": "Filter.listContains", "arguments": {
            "leftValue": {"constantValue": ["f1", "f2", "f3", "f99"]}, "rightField": {"constantValue": "site_id"}}}}}}}}});
    let a = export(&ee, &body);
    assert_eq!(a.status, 200, "{}", a.json);
    ee.advance(Duration::from_secs(30));
    let text = String::from_utf8(ee.files()[0].bytes.clone()).unwrap();
    assert_eq!(text, "site_id,owner,histogram\nf1,owner-1,\nf2,owner-2,\nf3,owner-3,\n");
}

#[test]
fn an_expression_that_does_not_evaluate_fails_its_task_with_the_reason() {
    let ee = start(manual());
    let mut body = table_body("bad", &["a"], &["site_id", "histogram"]);
    body["expression"]["values"]["0"]["functionInvocationValue"]["arguments"]["image"]["functionInvocationValue"]
        ["arguments"]["bandSelectors"] = json!({"constantValue": [0]});
    let a = export(&ee, &body);
    assert_eq!(a.status, 200, "accepted: Earth Engine checks the computation when the task runs");
    ee.advance(Duration::from_secs(30));
    let op = get_op(&ee, a.json["name"].as_str().unwrap());
    assert_eq!(state(&op), "FAILED");
    assert_eq!(op["error"]["code"], 3);
    let msg = op["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("Image.select: fake-ee cannot list the bands of asset"), "{msg}");
    assert!(ee.files().is_empty());
}
