//! `geepipe run` end to end, as a user runs it: the strict fake Earth Engine (every body checked against
//! the reference contract) runs the exports and writes each one's CSV into a real Cloud Storage emulator
//! (fake-gcs-server), and geepipe plans, submits, watches, downloads and merges them into one table.
//!
//! The expected table is computed here, independently of geepipe, from the fake's published synthetic
//! rule (`fake_ee::synthetic`): what Earth Engine "measured" for each site, layer and year.

mod common;

use std::collections::BTreeMap;

use common::Test;
use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::{synthetic, Clock, Config, Durations, FakeEe};

const TOKEN: &str = "e2e-static-token-7f3a";
const SITES: usize = 11;

fn sites_geojson() -> String {
    let features: Vec<String> = (0..SITES)
        .map(|i| {
            let (x, y) = (-48.0 + i as f64 * 0.01, -15.8);
            format!(
                r#"{{"type":"Feature","properties":{{"site_id":"s{i:02}","name":"Farm \"{i}\", north"}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x2},{y}],[{x2},{y2}],[{x},{y2}],[{x},{y}]]]}}}}"#,
                x2 = x + 0.005,
                y2 = y + 0.005
            )
        })
        .collect();
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",\n"))
}

const PIPELINE: &str = "\
name: e2e
project: demo-project
sites:
  file: sites.geojson
  id: site_id
  keep: [name]
years: 2020..2021
layers:
  - catalog: mapbiomas_lulc
  - catalog: modis_ndvi
    stats: [mean, max]
export:
  to: gcs
  bucket: e2e-bucket
  prefix: runs/e2e/
chunks:
  sites_per_task: 4
  max_concurrent: 2
output:
  path: out/e2e.csv
";

/// One expected row of the long table, numbers kept as numbers.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
struct Row {
    site: String,
    name: String,
    layer: String,
    year: i32,
    kind: String,
    class_code: Option<i64>,
    class_name: String,
    area_ha: Option<f64>,
    pixels: Option<f64>,
    band: String,
    stat: String,
    value: Option<f64>,
}

fn expected() -> Vec<Row> {
    let legend: BTreeMap<i64, String> = geepipe::catalog::get("mapbiomas_lulc")
        .and_then(|l| l.legend)
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.code, e.name))
        .collect();
    let mut rows = Vec::new();
    for i in 0..SITES {
        let site = format!("s{i:02}");
        let name = format!("Farm \"{i}\", north");
        let base = |layer: &str, year: i32, kind: &str| Row {
            site: site.clone(),
            name: name.clone(),
            layer: layer.into(),
            year,
            kind: kind.into(),
            class_code: None,
            class_name: String::new(),
            area_ha: None,
            pixels: None,
            band: String::new(),
            stat: String::new(),
            value: None,
        };
        for year in [2020, 2021] {
            let classes = synthetic::categorical(&site, "mapbiomas_lulc", year);
            if classes.is_empty() {
                rows.push(base("mapbiomas_lulc", year, "nodata"));
            }
            for (code, ha, px) in classes {
                rows.push(Row {
                    class_code: Some(code),
                    class_name: legend.get(&code).cloned().unwrap_or_default(),
                    area_ha: Some(ha),
                    pixels: Some(px),
                    ..base("mapbiomas_lulc", year, "categorical")
                });
            }
        }
        for year in [2020, 2021] {
            let values: Vec<(&str, Option<f64>)> =
                ["mean", "max"].iter().map(|s| (*s, synthetic::stat(&site, "modis_ndvi", year, "ndvi", s))).collect();
            if values.iter().all(|(_, v)| v.is_none()) {
                rows.push(base("modis_ndvi", year, "nodata"));
                continue;
            }
            for (stat, value) in values {
                rows.push(Row {
                    band: "ndvi".into(),
                    stat: stat.into(),
                    value,
                    ..base("modis_ndvi", year, "continuous")
                });
            }
        }
    }
    rows
}

fn opt<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() {
        None
    } else {
        Some(s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}")))
    }
}

fn read_table(path: &std::path::Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path).expect("table exists");
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "site_id",
            "name",
            "layer",
            "year",
            "kind",
            "class_code",
            "class_name",
            "area_ha",
            "pixels",
            "band",
            "stat",
            "value"
        ]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            Row {
                site: rec[0].into(),
                name: rec[1].into(),
                layer: rec[2].into(),
                year: rec[3].parse().unwrap(),
                kind: rec[4].into(),
                class_code: opt(&rec[5]),
                class_name: rec[6].into(),
                area_ha: opt(&rec[7]),
                pixels: opt(&rec[8]),
                band: rec[9].into(),
                stat: rec[10].into(),
                value: opt(&rec[11]),
            }
        })
        .collect()
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

#[test]
fn run_submits_watches_fetches_and_merges_into_the_expected_table() {
    let gcs = GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket("e2e-bucket").unwrap();
    let ee = FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(1000.0),
        durations: Durations::Uniform {
            min: std::time::Duration::from_secs(30),
            max: std::time::Duration::from_secs(300),
            seed: 11,
        },
        max_running: 2,
        storage_base_url: Some(gcs.base_url().to_string()),
        ..Config::default()
    })
    .expect("fake Earth Engine starts");

    let t = Test::new()
        .file("sites.geojson", &sites_geojson())
        .file("p.yaml", PIPELINE)
        .env("GEEPIPE_EE_URL", &ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("STORAGE_EMULATOR_HOST", gcs.base_url())
        .env("GEEPIPE_POLL_MIN", "0.05")
        .args(["run", "p.yaml"]);
    let out = t.code(0);
    let table = out.dir.join("out/e2e.csv");

    // Every request fit the contract; one operation per chunk (11 sites, 4 per task → 3 chunks).
    let counters = ee.counters();
    assert!(counters.rejections.is_empty(), "the fake refused requests: {:?}", counters.rejections);
    assert_eq!(counters.operations_created, 3, "{counters:?}");
    assert!(counters.created_per_request_id.values().all(|n| *n == 1), "{counters:?}");
    assert!(counters.max_running <= 2);

    let mut want = expected();
    let mut got = read_table(&table);
    assert_eq!(got.len(), want.len(), "row count\n{}", std::fs::read_to_string(&table).unwrap());
    let key = |r: &Row| (r.site.clone(), r.layer.clone(), r.year, r.class_code, r.stat.clone());
    want.sort_by_key(key);
    got.sort_by_key(key);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (&g.site, &g.name, &g.layer, g.year, &g.kind, g.class_code, &g.class_name, &g.band, &g.stat),
            (&w.site, &w.name, &w.layer, w.year, &w.kind, w.class_code, &w.class_name, &w.band, &w.stat)
        );
        assert!(close(g.area_ha, w.area_ha) && close(g.pixels, w.pixels) && close(g.value, w.value), "{g:?}\n{w:?}");
    }
    // Some site-years have no data in the synthetic world, and they are in the table explicitly.
    assert!(got.iter().any(|r| r.kind == "nodata"));

    // The manifest sits beside the table with every chunk's operation.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/e2e.manifest.json")).unwrap()).unwrap();
    let chunks = manifest["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 3);
    assert!(chunks
        .iter()
        .all(|c| c["operation"].as_str().is_some_and(|o| o.starts_with("projects/demo-project/operations/"))));

    // A rerun is idempotent: nothing is submitted again and the table is the same, byte for byte.
    let before = std::fs::read(&table).unwrap();
    t.code(0);
    assert_eq!(ee.counters().operations_created, 3);
    assert_eq!(std::fs::read(&table).unwrap(), before);
}
