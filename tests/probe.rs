//! `geepipe probe` and the probe of `geepipe run` against the computing fake Earth Engine, and the "no
//! silent empty tables" checks of `fetch` and the local engine: a layer that comes back without any value
//! stops `run` at the probe before any batch task exists; with `--no-probe` the batch runs and `fetch`
//! names the empty layer and the empty chunk (exit 1).

mod common;

use common::{repo_root, Test};
use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::{Clock, Config, FakeEe, Route};

const TOKEN: &str = "probe-token";

fn fake(storage: Option<&GcsEmulator>) -> FakeEe {
    FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(1000.0),
        storage_base_url: storage.map(|g| g.base_url().to_string()),
        ..Config::default()
    })
    .expect("fake starts")
}

fn square(i: usize, lat: f64) -> String {
    let x = -48.0 + i as f64 * 0.01;
    format!(
        r#"{{"type":"Feature","properties":{{"site_id":"s{i}","label":{}}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{lat}],[{x2},{lat}],[{x2},{lat2}],[{x},{lat2}],[{x},{lat}]]]}}}}"#,
        i % 2 + 1,
        x2 = x + 0.004,
        lat2 = lat + 0.004
    )
}

/// Four sites near Brasília, then one south of every asset's footprint.
fn sites() -> String {
    let f: Vec<String> = (0..5).map(|i| square(i, if i == 4 { -65.0 } else { -15.8 })).collect();
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, f.join(","))
}

/// MapBiomas, and a custom layer whose image is masked everywhere (a layer that computes nothing).
const EMPTY_LAYER: &str = "\
name: empty
project: demo-project
sites: {file: sites.geojson, id: site_id}
years: 2020
layers:
  - catalog: mapbiomas_lulc
  - name: masked
    kind: categorical
    scale: 30
    image:
      call: Image.updateMask
      image: {call: Image.select, input: {call: Image.load, id: projects/p/assets/lulc}, bandSelectors: [\"classification_{{year}}\"]}
      mask: {call: Image.constant, value: 0}
export: {to: gcs, bucket: probe-bucket, prefix: runs/empty/}
chunks: {sites_per_task: 2}
output: {path: out/empty.csv}
";

fn test(ee: &FakeEe, pipeline: &str) -> Test {
    Test::new()
        .file("sites.geojson", &sites())
        .file("p.yaml", pipeline)
        .env("GEEPIPE_EE_URL", &ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("GEEPIPE_POLL_MIN", "0.05")
}

#[test]
fn probe_prints_every_column_and_submits_nothing() {
    let ee = fake(None);
    let pipeline =
        EMPTY_LAYER.replace("  - name: masked\n", "").split("    kind: categorical").next().unwrap().to_string()
            + "export: {to: gcs, bucket: probe-bucket}\n";
    let out = test(&ee, &pipeline).args(["probe", "p.yaml"]).code(0);
    assert!(
        out.stdout.starts_with("probe via table:computeFeatures: 2 site(s) (s0, s1), mapbiomas_lulc 2020\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("2 row(s) came back"), "{}", out.stdout);
    for col in ["site_id", "mapbiomas_lulc__2020__ha", "mapbiomas_lulc__2020__px"] {
        let line = out.stdout.lines().find(|l| l.starts_with(col)).unwrap_or_else(|| panic!("{col}\n{}", out.stdout));
        assert!(line.contains("ok (2 site(s))"), "{line}");
    }
    let c = ee.counters();
    assert_eq!((c.requests_to(Route::ComputeFeatures), c.operations_created), (1, 0));
    assert!(c.rejections.is_empty(), "{:?}", c.rejections);
}

#[test]
fn image_and_classifier_pipelines_probe_through_value_compute() {
    let ee = fake(None);
    let root = repo_root();
    let sites = root.join("examples/sites");
    for (file, expect) in [
        ("image_chips.yaml", "result: bands classification"),
        ("classifier.yaml", "result: classifier inputs mapbiomas_lulc__"),
    ] {
        let text = std::fs::read_to_string(root.join("pipelines").join(file))
            .unwrap()
            .replace("../examples/sites", &sites.display().to_string());
        let out = test(&ee, &text).args(["probe", "p.yaml", "--project", "demo-project"]).code(0);
        assert!(out.stdout.starts_with("probe via value:compute: "), "{}", out.stdout);
        assert!(out.stdout.contains(expect), "{}", out.stdout);
    }
    let c = ee.counters();
    assert_eq!((c.requests_to(Route::ComputeValue), c.operations_created), (2, 0));
}

#[test]
fn a_layer_without_values_stops_run_at_the_probe_and_fetch_names_it() {
    let gcs = GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket("probe-bucket").unwrap();
    let ee = fake(Some(&gcs));

    // The probe on its own: exit 4, the empty columns named with their layer.
    let out = test(&ee, EMPTY_LAYER).args(["probe", "p.yaml"]).code(4);
    let line = out.stdout.lines().find(|l| l.starts_with("masked__2020__ha")).expect("a line per column");
    assert!(line.contains("masked") && line.contains("NO VALUE"), "{line}");
    assert!(
        out.stderr.contains("column `masked__2020__ha` (layer `masked`): no value for any probed site"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("column `masked__2020__px` (layer `masked`)"), "{}", out.stderr);
    assert!(!out.stderr.contains("mapbiomas_lulc__2020"), "the good layer passes:\n{}", out.stderr);

    // `run` refuses before any batch task exists (batch mode: an interactive run is its own probe).
    let t =
        test(&ee, EMPTY_LAYER).env("STORAGE_EMULATOR_HOST", gcs.base_url()).args(["run", "p.yaml", "--mode", "batch"]);
    let out = t.code(4);
    assert!(out.stderr.contains("error: the probe failed"), "{}", out.stderr);
    assert!(out.stderr.contains("--no-probe"), "{}", out.stderr);
    assert_eq!(ee.counters().operations_created, 0);

    // `--no-probe`: the batch runs; fetch reports the coverage, warns about the chunk without any value and
    // fails naming the empty layer and the likely causes.
    let t = t.arg("--no-probe");
    let out = t.output();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(ee.counters().operations_created, 3);
    assert!(out.stdout.contains("mapbiomas_lulc: 4 of 5 site-years have values"), "{}", out.stdout);
    assert!(out.stdout.contains("masked: 0 of 5 site-years have values"), "{}", out.stdout);
    assert!(
        out.stderr.contains("warning: chunk c00002 (1 site(s)) came back without any value in any layer"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("chunk c00000"), "{}", out.stderr);
    assert!(out.stderr.contains("error: layer `masked` has no value in any of its 5 site-years. Likely causes: the sites lie outside the dataset's footprint"), "{}", out.stderr);
    assert!(out.dir.join("out/empty.csv").exists(), "the table is written, and the exit code says it is wrong");
}

#[test]
fn the_local_engine_fails_a_layer_without_values() {
    let far = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"far"},"geometry":{"type":"Polygon","coordinates":[[[10,10],[10.01,10],[10.01,10.01],[10,10.01],[10,10]]]}}]}"#;
    let pipeline = format!(
        "name: far\nengine: local\nsites: {{file: sites.geojson, id: site_id}}\nyears: 2020\nlayers:\n  - catalog: mapbiomas_lulc\n    local: {}/lulc_{{{{year}}}}.tif\nexport: {{to: local, folder: out}}\noutput: {{path: out/far.csv}}\n",
        repo_root().join("demo").display()
    );
    let out = Test::new().file("sites.geojson", far).file("p.yaml", &pipeline).args(["run", "p.yaml"]).code(1);
    assert!(out.stdout.contains("mapbiomas_lulc: 0 of 1 site-years have values"), "{}", out.stdout);
    assert!(out.stderr.contains("error: layer `mapbiomas_lulc` has no value in any of its 1 site-years. Likely causes: the sites lie outside the rasters' extent"), "{}", out.stderr);
}
