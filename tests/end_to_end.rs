//! `geepipe run` end to end, as a user runs it: the strict fake Earth Engine (every body checked against
//! the reference contract, every expression evaluated with Earth Engine's documented semantics) runs the
//! exports and writes each one's CSV into a real Cloud Storage emulator (fake-gcs-server), and geepipe
//! plans, submits, watches, downloads and merges them into one table.
//!
//! The expected table is computed here from the synthetic world's definition (`expected`, over
//! `fake_ee::world`) with the documented meaning of each catalog layer, independently of geepipe's
//! planner and column contract: categorical hectares and pixels, continuous statistics with a
//! percentile, a static layer, first years and kept properties.

mod common;
mod expected;
mod support_proxy;

use std::collections::BTreeMap;

use common::Test;
use expected::Ring;
use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::{Clock, Config, Durations, FakeEe, Route};

const TOKEN: &str = "e2e-static-token-7f3a";
const SITES: usize = 12;

/// Site `i`: a 0.005° square near Brasília, except the last one, south of every asset's footprint.
fn ring(i: usize) -> Ring {
    let (x, y) = if i == SITES - 1 { (-48.0, -65.0) } else { (-48.0 + i as f64 * 0.01, -15.8) };
    vec![[x, y], [x + 0.005, y], [x + 0.005, y + 0.005], [x, y + 0.005], [x, y]]
}

/// Sites 3 and 7 were planted in 2021: their 2020 is not reported.
fn planted(i: usize) -> Option<i32> {
    [3, 7].contains(&i).then_some(2021)
}

fn sites_geojson() -> String {
    let features: Vec<String> = (0..SITES)
        .map(|i| {
            let planted = planted(i).map(|y| format!(r#","planted":{y}"#)).unwrap_or_default();
            format!(
                r#"{{"type":"Feature","properties":{{"site_id":"s{i:02}","name":"Farm \"{i}\", north"{planted}}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}}"#,
                serde_json::to_string(&ring(i)).unwrap()
            )
        })
        .collect();
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",\n"))
}

// `mode: batch`: this test is about export tasks (the interactive path: tests/interactive.rs).
const PIPELINE: &str = "\
name: e2e
project: demo-project
mode: batch
sites:
  file: sites.geojson
  id: site_id
  keep: [name]
  first_year: planted
years: 2020..2021
layers:
  - catalog: mapbiomas_lulc
  - catalog: modis_ndvi
    stats: [mean, max, p50]
  - catalog: srtm_elevation
    stats: [mean, p90]
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

/// The asset and scale of a catalog layer (catalog data, not the planner).
fn asset_and_scale(layer: &str) -> (String, f64) {
    let l = geepipe::catalog::get(layer).expect("catalog entry");
    (l.asset.expect("asset"), l.scale.expect("scale"))
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
        let years: Vec<i32> = [2020, 2021].into_iter().filter(|y| planted(i).is_none_or(|p| *y >= p)).collect();
        let r = ring(i);
        // Every layer here is reduced on its own grid (no scale is sent): the native 0.00025° cells.
        let native = expected::native_scale();
        // MapBiomas: band `classification` of the year's image of the catalogued collection (the first
        // image whose `year` is the year; the synthetic images all carry collection 10, version v1);
        // hectares and pixels per class.
        let (asset, _) = asset_and_scale("mapbiomas_lulc");
        for &year in &years {
            let t = expected::first_image_of_year(&asset, year).expect("an image in the year");
            let classes = expected::classes_at(&asset, "classification", t, &r, native);
            if classes.is_empty() {
                rows.push(base("mapbiomas_lulc", year, "nodata"));
            }
            for (code, (ha, px)) in classes {
                rows.push(Row {
                    class_code: Some(code),
                    class_name: legend.get(&code).cloned().unwrap_or_default(),
                    area_ha: Some(ha),
                    pixels: Some(px),
                    ..base("mapbiomas_lulc", year, "categorical")
                });
            }
        }
        // MODIS NDVI: the year's mean of the 16-day `NDVI` band × 0.0001, on the grid of the year's first
        // image (the composite is given its projection).
        let (asset, _) = asset_and_scale("modis_ndvi");
        // SRTM: one static image, reduced once, the same numbers in every year.
        let (srtm, _) = asset_and_scale("srtm_elevation");
        let elevation = expected::single(&srtm, "elevation", &r, native, 1.0);
        for &year in &years {
            let px = expected::yearly_mean(&asset, "NDVI", year, &r, native, 0.0001);
            for (layer, band, stats, px) in [
                ("modis_ndvi", "ndvi", &["mean", "max", "p50"][..], &px),
                ("srtm_elevation", "elevation", &["mean", "p90"][..], &elevation),
            ] {
                if px.is_empty() {
                    rows.push(base(layer, year, "nodata"));
                    continue;
                }
                for stat in stats {
                    rows.push(Row {
                        band: band.into(),
                        stat: stat.to_string(),
                        value: expected::stat(px, stat),
                        ..base(layer, year, "continuous")
                    });
                }
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

/// A fake Earth Engine writing into a fresh Cloud Storage emulator with the bucket of the pipeline.
fn environment() -> (GcsEmulator, FakeEe) {
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
    (gcs, ee)
}

/// `geepipe run p.yaml` (plus `extra`) against Earth Engine at `ee_url`.
fn run_test(ee_url: &str, gcs: &GcsEmulator, extra: &[&str]) -> Test {
    Test::new()
        .file("sites.geojson", &sites_geojson())
        .file("p.yaml", PIPELINE)
        .env("GEEPIPE_EE_URL", ee_url)
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("STORAGE_EMULATOR_HOST", gcs.base_url())
        .env("GEEPIPE_POLL_MIN", "0.05")
        .args(["run", "p.yaml"])
        .args(extra.iter().copied())
}

/// Whether the merged table equals the expected one (`Err` says the first difference).
fn check_table(table: &std::path::Path) -> Result<Vec<Row>, String> {
    if !table.exists() {
        return Err(format!("no table at {}", table.display()));
    }
    let mut want = expected();
    let mut got = read_table(table);
    if got.len() != want.len() {
        return Err(format!("{} rows, expected {}", got.len(), want.len()));
    }
    let key = |r: &Row| (r.site.clone(), r.layer.clone(), r.year, r.class_code, r.stat.clone());
    want.sort_by_key(key);
    got.sort_by_key(key);
    for (g, w) in got.iter().zip(&want) {
        let same = (&g.site, &g.name, &g.layer, g.year, &g.kind, g.class_code, &g.class_name, &g.band, &g.stat)
            == (&w.site, &w.name, &w.layer, w.year, &w.kind, w.class_code, &w.class_name, &w.band, &w.stat);
        let close_enough = close(g.area_ha, w.area_ha) && close(g.pixels, w.pixels) && close(g.value, w.value);
        if !same || !close_enough {
            return Err(format!("row differs:\n got  {g:?}\n want {w:?}"));
        }
    }
    Ok(got)
}

#[test]
fn run_submits_watches_fetches_and_merges_into_the_expected_table() {
    let (gcs, ee) = environment();
    let t = run_test(&ee.base_url(), &gcs, &[]);
    let out = t.code(0);
    let table = out.dir.join("out/e2e.csv");

    // Every request fit the contract; the probe ran first; one operation per chunk: 12 sites, 4 per task,
    // the two sites planted in 2021 apart (their 2020 is not computed): 4 + 4 + 2 sites, and 2.
    let counters = ee.counters();
    assert!(counters.rejections.is_empty(), "the fake refused requests: {:?}", counters.rejections);
    assert_eq!(counters.requests_to(Route::ComputeFeatures), 1, "one probe");
    assert_eq!(counters.operations_created, 4, "{counters:?}");
    assert!(counters.created_per_request_id.values().all(|n| *n == 1), "{counters:?}");
    assert!(counters.max_running <= 2);

    let got = check_table(&table).unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&table).unwrap()));
    // The site outside every asset's footprint has no data, explicitly in the table; first years hold.
    assert!(got.iter().filter(|r| r.site == "s11").all(|r| r.kind == "nodata"));
    assert!(!got.iter().any(|r| r.site == "s03" && r.year == 2020));
    assert!(got.iter().any(|r| r.stat == "p50" && r.value.is_some()));
    // fetch reports every layer's coverage (the footprint-less site's site-years have no value).
    for layer in ["mapbiomas_lulc", "modis_ndvi", "srtm_elevation"] {
        let rows: Vec<&Row> = got.iter().filter(|r| r.layer == layer).collect();
        let all: std::collections::BTreeSet<_> = rows.iter().map(|r| (&r.site, r.year)).collect();
        let valued: std::collections::BTreeSet<_> =
            rows.iter().filter(|r| r.kind != "nodata").map(|r| (&r.site, r.year)).collect();
        assert!(valued.len() < all.len());
        let line = format!("{layer}: {} of {} site-years have values", valued.len(), all.len());
        assert!(out.stdout.contains(&line), "{line}\n{}", out.stdout);
    }

    // The manifest sits beside the table with every chunk's operation and the coverage.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/e2e.manifest.json")).unwrap()).unwrap();
    let chunks = manifest["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 4);
    assert!(chunks
        .iter()
        .all(|c| c["operation"].as_str().is_some_and(|o| o.starts_with("projects/demo-project/operations/"))));
    assert_eq!(manifest["totals"]["layers"][0]["layer"], "mapbiomas_lulc");
    assert_eq!(manifest["totals"]["layers"][0]["site_years"], 22);

    // A rerun is idempotent: nothing is submitted or probed again and the table is the same, byte for byte.
    let before = std::fs::read(&table).unwrap();
    t.code(0);
    assert_eq!(ee.counters().operations_created, 4);
    assert_eq!(ee.counters().requests_to(Route::ComputeFeatures), 1);
    assert_eq!(std::fs::read(&table).unwrap(), before);
}

/// The done-means check of "numbers you can trust": a planner bug in the reducer chain, reproduced on the
/// wire by a proxy that rewrites the requests (no backdoor in geepipe), makes this end-to-end comparison
/// fail, and the probe stops `geepipe run` before any batch task exists.
#[test]
fn a_broken_reducer_chain_fails_the_comparison_and_stops_run_at_the_probe() {
    let cases: [(&str, support_proxy::Mutation); 2] = [
        ("groupName renamed", support_proxy::rename_group_name()),
        ("group outputs renamed", support_proxy::rename_group_outputs()),
    ];
    for (what, mutation) in cases {
        // Without the probe the batch tasks run, and the table is not the expected one.
        let (gcs, ee) = environment();
        let proxy = support_proxy::Proxy::start(&ee.base_url(), mutation.clone());
        let t = run_test(&proxy.url, &gcs, &["--no-probe"]);
        let out = t.output();
        assert_eq!(out.code, 1, "{what}: the run fails\n{}", out.stderr);
        assert!(ee.counters().operations_created > 0, "{what}: batch tasks ran");
        let err = check_table(&out.dir.join("out/e2e.csv")).expect_err("the comparison fails");
        eprintln!("{what}: {err}");
        if what == "group outputs renamed" {
            // The tasks succeed with empty cells: fetch refuses the silent empty layer.
            assert!(
                out.stderr.contains("error: layer `mapbiomas_lulc` has no value in any of its 22 site-years"),
                "{}",
                out.stderr
            );
        } else {
            assert!(out.stderr.contains("4 chunks: 0 succeeded, 4 failed"), "{}", out.stderr);
        }

        // With the probe (the default), run refuses before any batch task exists, naming the columns.
        let (gcs, ee) = environment();
        let proxy = support_proxy::Proxy::start(&ee.base_url(), mutation);
        let t = run_test(&proxy.url, &gcs, &[]);
        let out = t.code(4);
        assert_eq!(ee.counters().operations_created, 0, "{what}: no batch task");
        assert_eq!(ee.counters().requests_to(Route::ComputeFeatures), 1);
        assert!(out.stderr.contains("error: the probe failed"), "{}", out.stderr);
        if what == "group outputs renamed" {
            assert!(
                out.stderr.contains(
                    "column `mapbiomas_lulc__2020__ha` (layer `mapbiomas_lulc`): no value for any probed site"
                ),
                "{}",
                out.stderr
            );
        } else {
            assert!(out.stderr.contains("Dictionary does not contain key: class"), "{}", out.stderr);
        }
        assert!(!out.dir.join("out/e2e.csv").exists());
    }
}

/// Sites from a table asset: geepipe cannot read their first years, so the tasks export the first-year
/// property as a column and `fetch` drops the years before it. The synthetic table's `planted` is
/// `fake_ee::world::table_properties`'s (2000 + k mod 20), read here, not through geepipe.
#[test]
fn asset_sites_report_no_year_before_their_first_year() {
    let (gcs, ee) = environment();
    let pipeline = "name: fy\nproject: demo-project\n\
        sites: {asset: projects/demo-project/assets/sites, id: site_id, keep: [name], first_year: planted}\n\
        years: 2015..2016\nlayers:\n  - catalog: mapbiomas_lulc\n\
        export: {to: gcs, bucket: e2e-bucket, prefix: runs/fy/}\noutput: {path: out/fy.csv}\n";
    let t = Test::new()
        .file("p.yaml", pipeline)
        .env("GEEPIPE_EE_URL", &ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("STORAGE_EMULATOR_HOST", gcs.base_url())
        .env("GEEPIPE_POLL_MIN", "0.05")
        .args(["run", "p.yaml"]);
    let out = t.code(0);
    assert!(ee.counters().rejections.is_empty(), "{:?}", ee.counters().rejections);
    let rows = read_table(&out.dir.join("out/fy.csv"));
    let size = fake_ee::world::table_size("projects/demo-project/assets/sites");
    for k in 0..size {
        let props = fake_ee::world::table_properties(k);
        let planted = props.iter().find(|(p, _)| *p == "planted").and_then(|(_, v)| v.as_i64()).unwrap();
        let site = format!("f{k}");
        let years: std::collections::BTreeSet<i32> = rows.iter().filter(|r| r.site == site).map(|r| r.year).collect();
        let want: std::collections::BTreeSet<i32> = (2015..=2016).filter(|y| i64::from(*y) >= planted).collect();
        assert_eq!(years, want, "{site} planted {planted}");
        // The reported years hold the layer's classes on its native grid, computed from the synthetic world.
        let (asset, _) = asset_and_scale("mapbiomas_lulc");
        let ring: Ring = fake_ee::world::table_feature(k);
        for year in want {
            let t = expected::first_image_of_year(&asset, year).expect("an image in the year");
            let classes = expected::classes_at(&asset, "classification", t, &ring, expected::native_scale());
            let got: BTreeMap<i64, (f64, f64)> = rows
                .iter()
                .filter(|r| r.site == site && r.year == year && r.kind == "categorical")
                .map(|r| (r.class_code.unwrap(), (r.area_ha.unwrap(), r.pixels.unwrap())))
                .collect();
            assert_eq!(got.keys().collect::<Vec<_>>(), classes.keys().collect::<Vec<_>>(), "{site} {year}");
            for (code, (ha, px)) in &classes {
                assert!(close(Some(got[code].0), Some(*ha)) && close(Some(got[code].1), Some(*px)), "{site} {year}");
            }
        }
    }
    assert!(rows.iter().any(|r| r.year == 2015) && rows.iter().any(|r| r.year == 2016));
}
