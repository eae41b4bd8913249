//! `geepipe plan` as a user runs it: summary, `--json`, `--out`, invalid input.

mod common;
use common::Test;

const SITES: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"site_id":"a"},"geometry":{"type":"Polygon","coordinates":[[[-47.95,-15.8],[-47.9,-15.8],[-47.9,-15.75],[-47.95,-15.8]]]}},
{"type":"Feature","properties":{"site_id":"b"},"geometry":{"type":"Polygon","coordinates":[[[-48.1,-15.9],[-48.05,-15.9],[-48.05,-15.85],[-48.1,-15.9]]]}},
{"type":"Feature","properties":{"site_id":"c"},"geometry":{"type":"Polygon","coordinates":[[[-48.2,-15.9],[-48.15,-15.9],[-48.15,-15.85],[-48.2,-15.9]]]}}
]}"#;

// `mode: batch`: these tests are about export requests (interactive plans: tests/interactive.rs).
const PIPELINE: &str = "name: demo\nmode: batch\nsites: {file: sites.geojson, id: site_id}\nyears: 2020..2022\nlayers: [{catalog: mapbiomas_lulc}, {catalog: srtm_elevation}]\nexport: {to: gcs, bucket: my-bucket}\nchunks: {sites_per_task: 2}\n";

fn test() -> Test {
    Test::new().file("sites.geojson", SITES).file("p.yaml", PIPELINE)
}

#[test]
fn plan_prints_a_summary() {
    let out = test().args(["plan", "p.yaml"]).code(0);
    let s = &out.stdout;
    for needle in [
        "plan for `demo` (nothing is sent)",
        "tasks:            2 (table:export)",
        "sites:            3",
        "layers:           2 — mapbiomas_lulc (2020..2022), srtm_elevation (2020..2022)",
        "years:            2020..2022",
        "layer-years:      6",
        "columns:          16",
        "largest request:",
        "warnings:         0",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in\n{s}");
    }
}

#[test]
fn plan_json_is_machine_readable() {
    let out = test().args(["plan", "p.yaml", "--json"]).code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["tasks"], 2);
    assert_eq!(v["sites"], 3);
    assert_eq!(v["layer_years"], 6);
    assert_eq!(v["years"], serde_json::json!([2020, 2021, 2022]));
    assert!(v["largest_request_bytes"].as_u64().unwrap() > 1000);
    assert_eq!(v["largest_request_chunk"], "c00000");
}

#[test]
fn plan_out_writes_every_body_and_an_index() {
    let t = test().args(["plan", "p.yaml", "--out", "requests", "--json"]);
    let out = t.code(0);
    let dir = out.dir.join("requests");
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["c00000.json", "c00001.json", "plan.json"]);
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    let tasks = index["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for task in tasks {
        let text = std::fs::read_to_string(dir.join(task["file"].as_str().unwrap())).unwrap();
        assert_eq!(
            text.trim_end().len() as u64,
            task["body_bytes"].as_u64().unwrap(),
            "the file holds the exact body sent"
        );
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["requestId"], task["request_id"]);
        assert_eq!(task["endpoint"], "table:export");
    }
    assert_eq!(tasks[1]["site_ids"], serde_json::json!(["c"]));
    // Same input, same files.
    let t2 = test().args(["plan", "p.yaml", "--out", "requests"]);
    let again = t2.code(0);
    for n in ["c00000.json", "c00001.json"] {
        assert_eq!(std::fs::read(dir.join(n)).unwrap(), std::fs::read(again.dir.join("requests").join(n)).unwrap());
    }
}

#[test]
fn plan_of_an_invalid_pipeline_exits_2_and_writes_nothing() {
    let out = Test::new()
        .file("sites.geojson", SITES)
        .file("p.yaml", &PIPELINE.replace("mapbiomas_lulc", "mapbiomas_lulcc"))
        .args(["plan", "p.yaml", "--out", "requests"])
        .code(2);
    assert!(out.stderr.contains("did you mean `mapbiomas_lulc`"), "{}", out.stderr);
    assert!(!out.dir.join("requests").exists());
}

#[test]
fn plan_reports_a_bad_expression() {
    let bad = "name: demo\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\nlayers:\n  - name: custom\n    kind: categorical\n    image: {call: Image.selct, input: {call: Image.load, id: x}, bandSelectors: [b]}\nexport: {to: gcs, bucket: my-bucket}\n";
    let out = Test::new().file("sites.geojson", SITES).file("p.yaml", bad).args(["plan", "p.yaml"]).code(2);
    assert!(out.stderr.contains("Image.selct") && out.stderr.contains("did you mean `Image.select`"), "{}", out.stderr);
}

#[test]
fn plan_reports_site_file_problems_and_exits_2() {
    let broken = SITES.replace(r#""site_id":"b""#, r#""name":"b""#);
    let out = Test::new().file("sites.geojson", &broken).file("p.yaml", PIPELINE).args(["plan", "p.yaml"]).code(2);
    assert!(out.stderr.contains("site_id"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}
