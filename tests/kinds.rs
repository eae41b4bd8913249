//! `kind: image` pipelines: the `image` section's diagnostics, the `image:export` bodies against the Earth
//! Engine contract, and the folded expression against the official client's; exports `per: site` planned as a
//! stream are the kind planner's.

mod common;

use std::path::PathBuf;

use ee_contract::Contract;
use geepipe::expr::canonicalize;
use geepipe::pipeline::{load, Overrides};
use geepipe::plan::{ChunkPlanner, Endpoint, Planner, Target};
use serde_json::{json, Value};

const IMAGE_EXPORT: &str = "earthengine.projects.image.export";

fn reference_dir() -> PathBuf {
    match std::env::var_os("GEEPIPE_REFERENCE_DIR") {
        Some(d) if !common::repo_root().join("../shared/reference").is_dir() => PathBuf::from(d),
        _ => common::reference_dir(),
    }
}

fn contract() -> Contract {
    Contract::from_dir(&reference_dir()).expect("reference loads")
}

/// The rectangle of the captured image exports, as one site, plus a small site inside it.
fn sites() -> String {
    json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"site_id": "a"}, "geometry": {"type": "Polygon", "coordinates":
            [[[-48.2, -16.0], [-47.8, -16.0], [-47.8, -15.7], [-48.2, -15.7], [-48.2, -16.0]]]}},
        {"type": "Feature", "properties": {"site_id": "b"}, "geometry": {"type": "Polygon", "coordinates":
            [[[-48.10, -15.90], [-48.05, -15.90], [-48.05, -15.85], [-48.10, -15.85], [-48.10, -15.90]]]}}]})
    .to_string()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn fixture(yaml: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites()).unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, yaml).unwrap();
    Fixture { _dir: dir, path }
}

/// The MapBiomas collection the official client's exports were captured with.
const COLLECTION9: &str =
    "projects/mapbiomas-public/assets/brazil/lulc/collection9/mapbiomas_collection90_integration_v1";

/// An image pipeline over the official client's captured image (MapBiomas collection 9, band
/// `classification_<year>`), written as a custom layer so the expression is exactly the client's.
fn image_pipeline(image: &str, export: &str, years: &str) -> String {
    format!(
        "name: img\nkind: image\nsites: {{file: sites.geojson, id: site_id}}\nyears: {years}\n\
         layers: [{{name: mapbiomas_lulc, kind: categorical, scale: 30, asset: {COLLECTION9}, \
         image: {{call: Image.select, input: {{call: Image.load, id: '{{{{asset}}}}'}}, bandSelectors: ['classification_{{{{year}}}}']}}}}]\n\
         image: {image}\nexport: {export}\n"
    )
}

fn planner(yaml: &str) -> (Fixture, Planner) {
    let f = fixture(yaml);
    let p = match load(&f.path, &Overrides::default()) {
        Ok((p, _)) => p,
        Err(d) => panic!("pipeline does not compile: {:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()),
    };
    let planner = match Planner::new(&p) {
        Ok(pl) => pl,
        Err(d) => panic!("plan fails: {:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()),
    };
    (f, planner)
}

fn errors(yaml: &str) -> Vec<(String, String)> {
    let f = fixture(yaml);
    match load(&f.path, &Overrides::default()) {
        Ok(_) => Vec::new(),
        Err(ds) => ds.into_iter().map(|d| (d.code.to_string(), d.message)).collect(),
    }
}

fn captured(file: &str) -> Value {
    let text = std::fs::read_to_string(reference_dir().join("captured").join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn region_export_with_scale_matches_the_official_client() {
    let (_f, planner) = planner(&image_pipeline(
        "{per: region, scale: 30, crs: 'EPSG:4326', max_pixels: 10000000000, cloud_optimized: true}",
        "{to: gcs, bucket: my-bucket, prefix: rasters/}",
        "2020",
    ));
    let plan = planner.plan();
    assert_eq!(plan.tasks.len(), 1, "one layer-year over the region");
    let task = &plan.tasks[0];
    assert_eq!(task.endpoint, Endpoint::ImageExport);
    assert_eq!(task.site_ids, ["a", "b"]);
    let mut official = captured("image_export_gcs_geotiff.json");
    // geepipe sends `geodesic: false` (straight edges in longitude/latitude), as `geodesic=False` would.
    common::with_straight_edges(&mut official);
    assert_eq!(canonicalize(&task.body["expression"]), canonicalize(&official["expression"]));
    assert_eq!(task.body["fileExportOptions"]["fileFormat"], official["fileExportOptions"]["fileFormat"]);
    assert_eq!(task.body["fileExportOptions"]["geoTiffOptions"], official["fileExportOptions"]["geoTiffOptions"]);
    assert_eq!(task.body["maxPixels"], json!("10000000000"));
    assert_eq!(task.target, Target::Gcs { bucket: "my-bucket".into(), prefix: "rasters/mapbiomas_lulc-2020".into() });
    let v = contract().check_request(IMAGE_EXPORT, &task.body);
    assert!(v.is_empty(), "{}", v.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n"));
}

#[test]
fn region_export_with_crs_transform_matches_the_official_client() {
    let (_f, planner) = planner(&image_pipeline(
        "{per: region, crs: 'EPSG:4326', crs_transform: [0.00025, 0, -48.2, 0, -0.00025, -15.7]}",
        "{to: drive, folder: f}",
        "2020",
    ));
    let plan = planner.plan();
    let mut official = captured("image_export_drive_geotiff_crs_transform.json");
    // geepipe sends `geodesic: false` (straight edges in longitude/latitude), as `geodesic=False` would.
    common::with_straight_edges(&mut official);
    assert_eq!(canonicalize(&plan.tasks[0].body["expression"]), canonicalize(&official["expression"]));
    assert_eq!(plan.tasks[0].body["fileExportOptions"]["driveDestination"]["folder"], json!("f"));
}

#[test]
fn every_image_body_fits_the_contract() {
    let c = contract();
    let cases = [
        (
            "{per: site, buffer: 100, scale: 30, skip_empty: true, file_dimensions: [512], no_data: -1}",
            "{to: gcs, bucket: my-bucket}",
        ),
        (
            "{per: site, scale: 10}",
            "{to: drive, folder: chips, prefix: chip, format: tfrecord, priority: 50, workload_tag: t1}",
        ),
        (
            "{per: region, scale: 30, pyramiding: mode, pyramiding_bands: {classification_2020: sample}}",
            "{to: asset, asset: projects/p/assets/f, overwrite: true}",
        ),
        ("{per: region, max_pixels: 1000000000000}", "{to: gcs, bucket: my-bucket, format: geotiff}"),
    ];
    for (image, export) in cases {
        let (_f, planner) = planner(&image_pipeline(image, export, "2019..2020"));
        let plan = planner.plan();
        assert!(!plan.tasks.is_empty());
        for t in &plan.tasks {
            assert_eq!(t.endpoint, Endpoint::ImageExport);
            let v = c.check_request(IMAGE_EXPORT, &t.body);
            assert!(
                v.is_empty(),
                "{image} {export} {}: {}",
                t.chunk_id,
                v.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
            );
            assert!(c.check_expression(&t.body["expression"]).is_empty(), "{image} {export}");
        }
    }
}

#[test]
fn per_site_exports_one_task_per_site_and_year() {
    let (_f, planner) =
        planner(&image_pipeline("{per: site, buffer: 50}", "{to: gcs, bucket: my-bucket}", "2019..2020"));
    let plan = planner.plan();
    let ids: Vec<_> = plan.tasks.iter().map(|t| t.chunk_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "mapbiomas_lulc-2019-s00000",
            "mapbiomas_lulc-2019-s00001",
            "mapbiomas_lulc-2020-s00000",
            "mapbiomas_lulc-2020-s00001"
        ]
    );
    let text = plan.tasks[1].body["expression"].to_string();
    assert!(
        text.contains("Geometry.buffer") && text.contains("classification_2019") && text.contains("-48.05"),
        "{text}"
    );
    assert!(!text.contains("-47.8"), "site b's export must not cover site a: {text}");
    assert_eq!(plan.tasks[1].site_ids, ["b"]);
    // Exports are not split: the executor gets a planned export's body again, and nothing else.
    let body = planner.body("mapbiomas_lulc-2020-s00001", &[], None).unwrap();
    assert_eq!(body, serde_json::to_vec(&plan.tasks[3].body).unwrap());
    let err = planner.task("mapbiomas_lulc-2020-s00001a", &["b".into()], None).unwrap_err();
    assert!(err.to_string().contains("not in the plan"), "{err}");
    // Deterministic: a second planner gives the same request ids.
    let (_g, again) = planner_again();
    assert_eq!(
        plan.tasks.iter().map(|t| &t.request_id).collect::<Vec<_>>(),
        again.plan().tasks.iter().map(|t| t.request_id.clone()).collect::<Vec<_>>().iter().collect::<Vec<_>>()
    );
}

fn planner_again() -> (Fixture, Planner) {
    planner(&image_pipeline("{per: site, buffer: 50}", "{to: gcs, bucket: my-bucket}", "2019..2020"))
}

/// Image exports are planned as a stream by `plan` and `run` (`per: site`: their number grows with the
/// sites; `per: region`: the extent is gathered a site at a time): the same chunk ids, request ids, bodies
/// (byte for byte), `maxPixels` warnings and probe as the kind planner's — whose bodies the tests above
/// compare with the official client's — for each destination, and for the pixel counts of a geographic, a
/// projected and the layer's own CRS and of a `crs_transform` grid.
#[test]
fn streamed_image_exports_are_the_kind_planners() {
    use geepipe::plan::image_stream::ImageExports;
    let cases = [
        ("{per: site, buffer: 50}", "{to: gcs, bucket: my-bucket}"),
        ("{per: site, scale: 30, crs: 'EPSG:4326', max_pixels: 1000}", "{to: drive, folder: chips}"),
        ("{per: site, scale: 30, pyramiding: mode}", "{to: asset, asset: projects/p/assets/f}"),
        ("{per: site, buffer: 100, scale: 30, crs: 'EPSG:32723', max_pixels: 1000}", "{to: gcs, bucket: chips-b}"),
        ("{per: region, scale: 30, crs: 'EPSG:4326', max_pixels: 1000}", "{to: gcs, bucket: my-bucket}"),
        ("{per: region, scale: 30, crs: 'EPSG:32723', max_pixels: 1000}", "{to: drive, folder: chips}"),
        ("{per: region, scale: 30, max_pixels: 1000}", "{to: gcs, bucket: my-bucket}"),
        ("{per: region, scale: 30, pyramiding: mode}", "{to: asset, asset: projects/p/assets/f}"),
        (
            "{per: region, crs: 'EPSG:4326', crs_transform: [0.00025, 0, -48.2, 0, -0.00025, -15.7], max_pixels: 1000}",
            "{to: gcs, bucket: my-bucket}",
        ),
    ];
    for (image, export) in cases {
        let (f, planner) = planner(&image_pipeline(image, export, "2019..2020"));
        let (plan, bodies) = planner.plan_serialized();
        let p = load(&f.path, &Overrides::default()).map(|(p, _)| p).unwrap();
        let spill = tempfile::tempdir().unwrap();
        let (exports, site_warnings) = ImageExports::new(&p, spill.path()).unwrap();
        assert!(site_warnings.is_empty());
        let (mut got, mut warnings) = (Vec::new(), Vec::new());
        exports
            .for_each(|(task, bytes, warning)| -> Result<(), geepipe::plan::PlanError> {
                got.push((serde_json::to_value(&task).unwrap(), bytes));
                warnings.extend(warning.map(|w| w.message));
                Ok(())
            })
            .unwrap();
        let want: Vec<(Value, Vec<u8>)> =
            plan.tasks.iter().map(|t| serde_json::to_value(t).unwrap()).zip(bodies).collect();
        assert_eq!(got.len(), if image.contains("region") { 2 } else { 4 }, "{image}");
        assert_eq!(got, want, "{image} {export}");
        let planned: Vec<String> = plan.warnings.iter().map(|w| w.message.clone()).collect();
        assert_eq!(warnings, planned, "{image}");
        assert_eq!(warnings.is_empty(), !image.contains("max_pixels"), "{warnings:?}");
        let probe = |c: geepipe::plan::probe::ProbeCall| format!("{c:?}");
        assert_eq!(probe(exports.probe().unwrap()), probe(planner.probe_call(3).unwrap()));
    }
}

#[test]
fn asset_exports_send_pyramiding_and_no_overwrite_unless_set() {
    let (_f, planner) = planner(&image_pipeline(
        "{per: region, scale: 30, pyramiding: mode}",
        "{to: asset, asset: projects/p/assets/f}",
        "2020",
    ));
    let t = &planner.plan().tasks[0];
    assert_eq!(
        t.body["assetExportOptions"],
        json!({"earthEngineDestination": {"name": "projects/p/assets/f/img_mapbiomas_lulc-2020"}, "pyramidingPolicy": "MODE"})
    );
    assert_eq!(t.target, Target::Asset { name: "projects/p/assets/f/img_mapbiomas_lulc-2020".into() });
}

#[test]
fn plan_warns_when_an_export_exceeds_max_pixels() {
    let (_f, pl) =
        planner(&image_pipeline("{per: region, scale: 30, max_pixels: 1000}", "{to: gcs, bucket: my-bucket}", "2020"));
    let plan = pl.plan();
    let w: Vec<_> = plan.warnings.iter().filter(|w| w.code == "plan::max-pixels").collect();
    assert_eq!(w.len(), 1, "{:?}", plan.warnings.iter().map(|w| &w.message).collect::<Vec<_>>());
    assert!(w[0].message.contains("mapbiomas_lulc-2020"), "{}", w[0].message);
    let (_g, fine) = planner(&image_pipeline(
        "{per: region, scale: 30, max_pixels: 10000000000}",
        "{to: gcs, bucket: my-bucket}",
        "2020",
    ));
    assert!(fine.plan().warnings.iter().all(|w| w.code != "plan::max-pixels"));
}

#[test]
fn image_section_mistakes_are_located_errors() {
    let cases = [
        ("{per: region, scale: 30, pyramiding: mode}", "{to: gcs, bucket: b-b-b}", "image::destination", "pyramiding"),
        ("{cloud_optimized: true}", "{to: asset, asset: projects/p/assets/f}", "image::destination", "cloud_optimized"),
        (
            "{scale: 30, crs: 'EPSG:4326', crs_transform: [1, 0, 0, 0, -1, 0]}",
            "{to: gcs, bucket: b-b-b}",
            "image::scale-and-transform",
            "scale",
        ),
        ("{crs_transform: [1, 0, 0]}", "{to: gcs, bucket: b-b-b}", "image::crs-transform", "six"),
        ("{per: region, buffer: 10}", "{to: gcs, bucket: b-b-b}", "image::buffer", "per: site"),
        ("{skip_empty: true}", "{to: gcs, bucket: b-b-b, format: tfrecord}", "image::format", "GeoTIFF"),
        ("{scale: 30}", "{to: gcs, bucket: b-b-b, format: csv}", "export::format", "images"),
        ("{scale: 30}", "{to: bigquery, table: p.d.t}", "export::kind", "BigQuery"),
    ];
    for (image, export, code, word) in cases {
        let errs = errors(&image_pipeline(image, export, "2020"));
        assert!(
            errs.iter().any(|(c, m)| c == code && m.contains(word)),
            "{image} {export}: want {code} mentioning {word}, got {errs:?}"
        );
    }
    let zonal =
        "name: z\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\nlayers: [{catalog: mapbiomas_lulc}]\n\
                 image: {scale: 30}\nexport: {to: gcs, bucket: b-b-b}\n";
    assert!(errors(zonal).iter().any(|(c, _)| c == "image::kind"), "{:?}", errors(zonal));
    assert!(errors(&image_pipeline("{scale: 30}", "{to: gcs, bucket: b-b-b}", "2020")).is_empty());
}

mod end_to_end {
    //! `geepipe run` of an image pipeline against the strict fake Earth Engine and the Cloud Storage emulator.

    use super::common::Test;
    use fake_ee::gcs_emulator::GcsEmulator;
    use fake_ee::{Clock, Config, FakeEe};

    const TOKEN: &str = "kinds-static-token-51c2";

    const PIPELINE: &str = "\
name: chips
project: demo-project
kind: image
sites:
  file: sites.geojson
  id: site_id
years: 2020
layers:
  - catalog: mapbiomas_lulc
image:
  per: site
  buffer: 30
  scale: 30
export:
  to: gcs
  bucket: chips-bucket
  prefix: runs/chips/
";

    #[test]
    fn image_run_exports_to_gcs_and_fetch_downloads_the_tifs() {
        let gcs = GcsEmulator::start().expect("fake-gcs-server starts");
        gcs.create_bucket("chips-bucket").unwrap();
        let ee = FakeEe::start_blocking(Config {
            token: Some(TOKEN.into()),
            clock: Clock::Scaled(1000.0),
            storage_base_url: Some(gcs.base_url().to_string()),
            ..Config::default()
        })
        .expect("fake Earth Engine starts");
        let t = Test::new()
            .file("sites.geojson", &super::sites())
            .file("p.yaml", PIPELINE)
            .env("GEEPIPE_EE_URL", &ee.base_url())
            .env("GEEPIPE_EE_TOKEN", TOKEN)
            .env("STORAGE_EMULATOR_HOST", gcs.base_url())
            .env("GEEPIPE_POLL_MIN", "0.05")
            .args(["run", "p.yaml"]);
        let out = t.code(0);
        let counters = ee.counters();
        assert!(counters.rejections.is_empty(), "the fake refused requests: {:?}", counters.rejections);
        assert_eq!(counters.operations_created, 2, "one export per site: {counters:?}");
        // The exports landed in the bucket and fetch downloaded each one, with no table merged.
        let objects = gcs.list("chips-bucket", "runs/chips/").unwrap();
        assert_eq!(objects.len(), 2, "{objects:?}");
        let downloads = out.dir.join("results/.geepipe/downloads/chips");
        for o in &objects {
            let local = downloads.join("files/gcs/chips-bucket").join(o);
            let bytes = std::fs::read(&local).unwrap_or_else(|e| {
                let found = std::process::Command::new("find").arg(&out.dir).output().unwrap();
                panic!("{} not downloaded ({e}); found:\n{}", local.display(), String::from_utf8_lossy(&found.stdout))
            });
            assert_eq!(bytes, gcs.download("chips-bucket", o).unwrap().unwrap());
            assert!(bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*"), "{o} is not a TIFF");
        }
        assert!(objects.iter().any(|o| o.starts_with("runs/chips/mapbiomas_lulc-2020-s00001")), "{objects:?}");
        assert!(out.stdout.contains("2 file(s) in"), "{}", out.stdout);
        assert!(!out.dir.join("results/chips.csv").exists(), "an image pipeline writes no table");
    }

    #[test]
    fn classifier_run_exports_an_asset_and_reports_it() {
        let ee = FakeEe::start_blocking(Config {
            token: Some(TOKEN.into()),
            clock: Clock::Scaled(1000.0),
            ..Config::default()
        })
        .expect("fake Earth Engine starts");
        let pipeline = "name: rf\nproject: demo-project\nkind: classifier\n\
                        sites: {file: sites.geojson, id: site_id, label: class}\nyears: 2020\n\
                        layers: [{catalog: mapbiomas_lulc}, {catalog: modis_ndvi}]\n\
                        classifier: {algorithm: smileCart, parameters: {maxNodes: 8}}\n\
                        export: {to: asset, asset: projects/demo-project/assets/models}\n";
        let t = Test::new()
            .file("sites.geojson", &super::labelled_sites())
            .file("p.yaml", pipeline)
            .env("GEEPIPE_EE_URL", &ee.base_url())
            .env("GEEPIPE_EE_TOKEN", TOKEN)
            .env("GEEPIPE_POLL_MIN", "0.05")
            .args(["run", "p.yaml"]);
        let out = t.code(0);
        let counters = ee.counters();
        assert!(counters.rejections.is_empty(), "the fake refused requests: {:?}", counters.rejections);
        assert_eq!(counters.operations_created, 1, "{counters:?}");
        assert!(out.stdout.contains("projects/demo-project/assets/models/rf"), "{}", out.stdout);
        assert!(!out.dir.join("results/rf.csv").exists(), "a classifier pipeline writes no table");
        // A rerun submits nothing again.
        t.code(0);
        assert_eq!(ee.counters().operations_created, 1);
    }
}

const CLASSIFIER_EXPORT: &str = "earthengine.projects.classifier.export";

fn labelled_sites() -> String {
    json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"site_id": "a", "class": 1}, "geometry": {"type": "Polygon", "coordinates":
            [[[-47.95, -15.80], [-47.90, -15.80], [-47.90, -15.75], [-47.95, -15.75], [-47.95, -15.80]]]}},
        {"type": "Feature", "properties": {"site_id": "b", "class": 2}, "geometry": {"type": "Polygon", "coordinates":
            [[[-48.10, -15.90], [-48.05, -15.90], [-48.05, -15.85], [-48.10, -15.85], [-48.10, -15.90]]]}}]})
    .to_string()
}

fn classifier_pipeline(sites_extra: &str, classifier: &str, export: &str) -> String {
    format!(
        "name: rf\nkind: classifier\nsites: {{file: sites.geojson, id: site_id{sites_extra}}}\nyears: 2020..2021\n\
         layers: [{{catalog: mapbiomas_lulc}}, {{catalog: modis_ndvi}}]\nclassifier: {classifier}\nexport: {export}\n"
    )
}

fn classifier_fixture(yaml: &str) -> Fixture {
    let f = fixture(yaml);
    std::fs::write(f.path.parent().unwrap().join("sites.geojson"), labelled_sites()).unwrap();
    f
}

/// A classifier trains on every site in one request: past Earth Engine's request size (10 MiB) the plan is
/// refused with what to do, before anything is sent.
#[test]
fn a_classifier_request_past_the_size_limit_is_refused() {
    let f = classifier_fixture(&classifier_pipeline(
        ", label: class",
        "{algorithm: smileCart}",
        "{to: asset, asset: projects/p/assets/models}",
    ));
    // 500 sites of 400 vertices each: about 12 MB of coordinates in the request.
    let site = |i: usize| {
        let (cx, cy) = (-60.0 + (i % 50) as f64 * 0.05, -15.0 + (i / 50) as f64 * 0.05);
        let a = |k: usize| k as f64 / 400.0 * std::f64::consts::TAU;
        let ring: Vec<[f64; 2]> =
            (0..=400).map(|k| [cx + 0.01 * a(k % 400).cos(), cy + 0.01 * a(k % 400).sin()]).collect();
        json!({"type": "Feature", "properties": {"site_id": format!("s{i}"), "class": i % 3 + 1},
               "geometry": {"type": "Polygon", "coordinates": [ring]}})
    };
    let geo = json!({"type": "FeatureCollection", "features": (0..500).map(site).collect::<Vec<_>>()});
    std::fs::write(f.path.parent().unwrap().join("sites.geojson"), geo.to_string()).unwrap();
    let p = load(&f.path, &Overrides::default()).map_err(|d| format!("{d:?}")).unwrap().0;
    let errors = Planner::new(&p).err().expect("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e.code, "plan::classifier");
    let said = e.message.contains("the training request of 500 sites is") && e.message.contains("(10485760 bytes)");
    assert!(said, "{}", e.message);
    let help = e.help.as_deref().and_then(|h| h.strip_prefix("train on fewer sites (about "));
    let fit: usize = help.and_then(|h| h.split(' ').next()?.parse().ok()).unwrap_or_else(|| panic!("{:?}", e.help));
    assert!((100..500).contains(&fit), "{fit}");
}

#[test]
fn classifier_body_trains_on_sampled_sites_and_fits_the_contract() {
    let f = classifier_fixture(&classifier_pipeline(
        ", label: class",
        "{algorithm: smileRandomForest, parameters: {numberOfTrees: 50, seed: 3}, features: [mapbiomas_lulc], scale: 30}",
        "{to: asset, asset: projects/p/assets/models}",
    ));
    let p = load(&f.path, &Overrides::default()).map_err(|d| format!("{d:?}")).unwrap().0;
    let planner = Planner::new(&p).map_err(|d| format!("{d:?}")).unwrap();
    let plan = planner.plan();
    assert_eq!(plan.tasks.len(), 1);
    let t = &plan.tasks[0];
    assert_eq!(t.endpoint, Endpoint::ClassifierExport);
    // One request, never split: the executor gets it again under its own id only.
    assert_eq!(planner.body("classifier", &[], None).unwrap(), serde_json::to_vec(&t.body).unwrap());
    let err = planner.task("classifiera", &["a".into()], None).unwrap_err();
    assert!(err.to_string().contains("is one request and is not split"), "{err}");
    assert_eq!(t.site_ids, ["a", "b"]);
    assert_eq!(t.target, Target::Asset { name: "projects/p/assets/models/rf".into() });
    assert_eq!(
        t.body["assetExportOptions"],
        json!({"earthEngineDestination": {"name": "projects/p/assets/models/rf"}})
    );
    let c = contract();
    let v = c.check_request(CLASSIFIER_EXPORT, &t.body);
    assert!(v.is_empty(), "{}", v.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n"));
    assert!(c.check_expression(&t.body["expression"]).is_empty());
    // The decoded computation: train(smileRandomForest(50, seed 3), sampleRegions(lulc bands at the sites), class).
    let text = inline(&t.body["expression"]).to_string();
    for needle in [
        "\"Classifier.train\"",
        "\"Classifier.smileRandomForest\"",
        "\"numberOfTrees\":{\"constantValue\":50}",
        "\"Image.sampleRegions\"",
        "mapbiomas_lulc__2020",
        "mapbiomas_lulc__2021",
        "\"classProperty\":{\"constantValue\":\"class\"}",
        "\"scale\":{\"constantValue\":30}",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    assert!(!text.contains("modis_ndvi"), "only the chosen feature layers: {text}");
    assert!(text.contains("\"metadata\":{\"constantValue\":{\"class\":2}}"), "labels sent: {text}");
}

#[test]
fn classifier_mistakes_are_located_errors() {
    let asset = "{to: asset, asset: projects/p/assets/models}";
    let rf = "{algorithm: smileRandomForest, parameters: {numberOfTrees: 10}}";
    let cases = [
        (
            ", label: class",
            "{algorithm: smileRandomForst, parameters: {numberOfTrees: 10}}",
            asset,
            "classifier::algorithm",
            "smileRandomForest",
        ),
        (
            ", label: class",
            "{algorithm: smileRandomForest, parameters: {numberOfTrees: 10, numberOfTree: 3}}",
            asset,
            "classifier::parameter",
            "numberOfTrees",
        ),
        (", label: class", "{algorithm: smileGradientTreeBoost}", asset, "classifier::parameter", "numberOfTrees"),
        ("", rf, asset, "classifier::label", "label"),
        (", label: class", rf, "{to: gcs, bucket: b-b-b}", "export::kind", "asset"),
        (", label: class", "{algorithm: smileCart, features: [lulc]}", asset, "classifier::features", "lulc"),
    ];
    for (sites, classifier, export, code, word) in cases {
        let f = classifier_fixture(&classifier_pipeline(sites, classifier, export));
        let errs: Vec<(String, String, Option<String>)> = match load(&f.path, &Overrides::default()) {
            Ok(_) => Vec::new(),
            Err(ds) => ds.into_iter().map(|d| (d.code.to_string(), d.message, d.help)).collect(),
        };
        assert!(
            errs.iter().any(|(c, m, h)| c == code && (m.contains(word) || h.as_deref().unwrap_or("").contains(word))),
            "{classifier} {export}: want {code} mentioning {word}, got {errs:?}"
        );
    }
    let f = classifier_fixture(&classifier_pipeline(", label: class", "{algorithm: Classifier.libsvm}", asset));
    assert!(load(&f.path, &Overrides::default()).is_ok(), "libsvm with no parameters is valid");
    // A site without a numeric label is named by the planner.
    let f = classifier_fixture(&classifier_pipeline(", label: kind", rf, asset));
    let text = labelled_sites().replace("\"class\":2", "\"kind\":\"pasture\"").replace("\"class\":1", "\"kind\":1");
    std::fs::write(f.path.parent().unwrap().join("sites.geojson"), text).unwrap();
    let p = load(&f.path, &Overrides::default()).map_err(|d| format!("{d:?}")).unwrap().0;
    let errs = Planner::new(&p).err().expect("unlabelled site refused");
    assert!(errs.iter().any(|d| d.code == "plan::classifier-label" && d.message.contains(": b")), "{errs:?}");
}

/// The expression's result with every `valueReference` replaced by the value it names (for reading).
fn inline(expr: &Value) -> Value {
    fn walk(v: &Value, values: &serde_json::Map<String, Value>) -> Value {
        match v {
            Value::Object(m) => match m.get("valueReference").and_then(Value::as_str) {
                Some(k) if m.len() == 1 => walk(&values[k], values),
                _ => Value::Object(m.iter().map(|(k, v)| (k.clone(), walk(v, values))).collect()),
            },
            Value::Array(a) => Value::Array(a.iter().map(|v| walk(v, values)).collect()),
            other => other.clone(),
        }
    }
    let values = expr["values"].as_object().unwrap();
    walk(&values[expr["result"].as_str().unwrap()], values)
}

#[test]
fn plan_shows_and_writes_image_bodies() {
    let yaml = image_pipeline("{per: site, scale: 30}", "{to: drive, folder: chips}", "2019..2020");
    let t = common::Test::new()
        .file("sites.geojson", &sites())
        .file("p.yaml", &yaml)
        .args(["plan", "p.yaml", "--out", "out"]);
    let out = t.code(0);
    assert!(out.stdout.contains("tasks:            4 (image:export)"), "{}", out.stdout);
    assert!(!out.stdout.contains("columns:"), "an image plan has no column contract: {}", out.stdout);
    let c = contract();
    for id in ["mapbiomas_lulc-2019-s00000", "mapbiomas_lulc-2020-s00001"] {
        let body: Value =
            serde_json::from_str(&std::fs::read_to_string(out.dir.join("out").join(format!("{id}.json"))).unwrap())
                .unwrap();
        assert!(c.check_request(IMAGE_EXPORT, &body).is_empty(), "{id}");
        assert_eq!(body["fileExportOptions"]["driveDestination"]["folder"], json!("chips"));
    }
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/plan.json")).unwrap()).unwrap();
    assert!(plan["tasks"].as_array().unwrap().iter().all(|t| t["endpoint"] == json!("image:export")), "{plan}");
}
