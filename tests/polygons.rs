//! One polygon meaning for both engines: a site across the antimeridian is split at ±180° and both
//! engines (the strict fake Earth Engine and the local engine) measure the same two parts; a
//! self-intersecting ring is filled by the even-odd rule in the local engine as the request declares
//! (`evenOdd: true`, with straight `geodesic: false` edges).
//!
//! Expected numbers come from the synthetic world (`fake_ee::world`) and from a point-sampled parity
//! computed here, never from geepipe.

mod common;

use std::collections::BTreeMap;

use common::Test;
use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::world;
use fake_ee::{Clock, Config, FakeEe};
use geepipe::local::geotiff::{write, Compress, Layout, Samples, Transform, WriteSpec};

const TOKEN: &str = "polygons-static-token-1";

/// Per class code: (hectares, pixels) of one site in a long table.
fn classes(table: &std::path::Path, site: &str) -> BTreeMap<i64, (f64, f64)> {
    let mut out = BTreeMap::new();
    let mut rdr = csv::Reader::from_path(table).unwrap();
    for row in rdr.deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        if row["site_id"] == site && row["kind"] == "categorical" {
            let e: &mut (f64, f64) = out.entry(row["class_code"].parse().unwrap()).or_default();
            e.0 += row["area_ha"].parse::<f64>().unwrap();
            e.1 += row["pixels"].parse::<f64>().unwrap();
        }
    }
    out
}

const ASSET: &str = "test/classes";

/// The site across the antimeridian (a 2° × 1° box) and a control site elsewhere.
const SITES: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"site_id":"fiji"},"geometry":{"type":"Polygon","coordinates":[[[179,-16],[-179,-16],[-179,-15],[179,-15],[179,-16]]]}},
{"type":"Feature","properties":{"site_id":"ctrl"},"geometry":{"type":"Polygon","coordinates":[[[10,-16],[12,-16],[12,-15],[10,-15],[10,-16]]]}}]}"#;

/// A 1° reduction grid: Earth Engine's cell of `scale / 111319.49…` degrees.
const ONE_DEGREE_M: f64 = world::DEGREE_METRES;

fn pipeline(engine: &str) -> String {
    format!(
        "name: am\nproject: demo-project\nengine: {engine}\nsites: {{file: sites.geojson, id: site_id}}\nyears: 2020\n\
         layers:\n  - name: cls\n    kind: categorical\n    scale: {ONE_DEGREE_M}\n    local: classes.tif\n    \
         image: {{call: Image.select, input: {{call: Image.load, id: {ASSET}}}, bandSelectors: [classification]}}\n\
         export: {}\noutput: {{path: out/{engine}.csv}}\n",
        if engine == "local" { "{to: local, folder: out}" } else { "{to: gcs, bucket: am-bucket, prefix: am/}" }
    )
}

/// The synthetic world's band on a global 1° raster (rows from 0° to 30°S), nodata 0 where masked.
fn world_raster(path: &std::path::Path) {
    let (w, h) = (360u32, 30u32);
    let mut v = Vec::with_capacity((w * h) as usize);
    for r in 0..h {
        for c in 0..w {
            let (x, y) = (-180.0 + c as f64 + 0.5, -(r as f64) - 0.5);
            v.push(world::band_value(ASSET, "classification", None, x, y).map_or(0, |v| v as u8));
        }
    }
    let spec = WriteSpec {
        width: w,
        height: h,
        bands: vec![Samples::U8(v)],
        layout: Layout::Tiles { width: 64, height: 32 },
        compress: Compress::Deflate,
        transform: Transform { x0: -180.0, dx: 1.0, y0: 0.0, dy: -1.0 },
        nodata: Some(0.0),
        epsg: 4326,
    };
    write(path, &spec).unwrap();
}

/// The world's classes in whole 1° cells `(west, south)`, one pixel each.
fn world_classes(cells: &[(f64, f64)]) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for (x, y) in cells {
        if let Some(v) = world::band_value(ASSET, "classification", None, x + 0.5, y + 0.5) {
            *out.entry(v).or_insert(0.0) += 1.0;
        }
    }
    out
}

#[test]
fn a_site_across_the_antimeridian_is_the_same_two_parts_on_both_engines() {
    let gcs = GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket("am-bucket").unwrap();
    let ee = FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(1000.0),
        storage_base_url: Some(gcs.base_url().to_string()),
        ..Config::default()
    })
    .expect("fake Earth Engine starts");
    let t = Test::new()
        .file("sites.geojson", SITES)
        .file("ee.yaml", &pipeline("earthengine"))
        .file("local.yaml", &pipeline("local"))
        .env("GEEPIPE_EE_URL", &ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("STORAGE_EMULATOR_HOST", gcs.base_url())
        .env("GEEPIPE_POLL_MIN", "0.05")
        .args(["plan", "ee.yaml", "--out", "plan"]);
    world_raster(&t.path().join("classes.tif"));
    let out = t.code(0);
    // The request sends the two parts, each within [-180, 180], with straight edges, filled even-odd.
    let body: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("plan/c00000.json")).unwrap()).unwrap();
    let text = body["expression"].to_string();
    assert!(text.contains("GeometryConstructors.MultiPolygon"), "{text}");
    assert!(
        text.contains(r#""geodesic":{"constantValue":false}"#) && text.contains(r#""evenOdd":{"constantValue":true}"#)
    );
    assert!(text.contains("[-180.0,-16.0]") && text.contains("[180.0,-15.0]"), "{text}");

    let t = t.then(["run", "ee.yaml"]);
    t.code(0);
    assert!(ee.counters().rejections.is_empty(), "{:?}", ee.counters().rejections);
    let t = t.then(["run", "local.yaml"]);
    t.code(0);
    let (ee_table, local_table) = (t.path().join("out/earthengine.csv"), t.path().join("out/local.csv"));

    for (site, cells) in [("fiji", vec![(179.0, -16.0), (-180.0, -16.0)]), ("ctrl", vec![(10.0, -16.0), (11.0, -16.0)])]
    {
        let want = world_classes(&cells);
        assert!(!want.is_empty(), "{site}: the world has data in these cells");
        let (on_ee, on_local) = (classes(&ee_table, site), classes(&local_table, site));
        let pixels = |m: &BTreeMap<i64, (f64, f64)>| m.iter().map(|(k, v)| (*k, v.1)).collect::<BTreeMap<_, _>>();
        assert_eq!(pixels(&on_ee), want, "{site}: Earth Engine (fake) pixels per class");
        assert_eq!(pixels(&on_local), want, "{site}: local engine pixels per class");
        // Areas: the fake measures cells on a sphere, the local engine on the WGS84 ellipsoid.
        for (code, (ha, _)) in &on_ee {
            let local = on_local[code].0;
            assert!((ha - local).abs() / local < 0.005, "{site} class {code}: {ha} ha vs {local} ha");
        }
        // A 1° cell at 15.5°S is about 1.19 million ha: two cells, not 358.
        let total: f64 = on_local.values().map(|v| v.0).sum();
        let cells_with_data = want.values().sum::<f64>();
        assert!((total / cells_with_data - 1.19e6).abs() < 0.02e6, "{site}: {total} ha");
    }
}

/// Cell-coordinate rings for the even-odd test: (col, row) on a 6 × 6 grid of 1° cells from (20°E, 0°).
const EO_X0: f64 = 20.0;

fn lonlat(p: [f64; 2]) -> [f64; 2] {
    [EO_X0 + p[0], -p[1]]
}

/// The even-odd coverage of each cell, sampled at 128 × 128 points per cell by ray crossing.
fn sampled_coverage(ring: &[[f64; 2]], cols: usize, rows: usize) -> Vec<f64> {
    let n = 128;
    let inside = |x: f64, y: f64| {
        let mut odd = false;
        for w in ring.windows(2) {
            let (a, b) = (w[0], w[1]);
            if (a[1] > y) != (b[1] > y) && x < a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]) {
                odd = !odd;
            }
        }
        odd
    };
    let mut out = Vec::with_capacity(cols * rows);
    for r in 0..rows {
        for c in 0..cols {
            let mut hits = 0;
            for i in 0..n {
                for j in 0..n {
                    let (x, y) = (c as f64 + (i as f64 + 0.5) / n as f64, r as f64 + (j as f64 + 0.5) / n as f64);
                    hits += usize::from(inside(x, y));
                }
            }
            out.push(hits as f64 / (n * n) as f64);
        }
    }
    out
}

#[test]
fn self_intersecting_rings_are_filled_even_odd_by_the_local_engine() {
    let (cols, rows) = (6usize, 6usize);
    let close = |pts: &[[f64; 2]]| {
        let mut r = pts.to_vec();
        r.push(pts[0]);
        r
    };
    // A bow-tie (two triangles of 1 cell² each; a non-zero or signed-area rule gives 0 or 2 with
    // different cells), and a ring that loops around [2,4]² a second time (even-odd leaves it out: 15 − 4).
    let bow = close(&[[1.0, 1.0], [3.0, 3.0], [3.0, 1.0], [1.0, 3.0]]);
    let looped =
        close(&[[1.0, 1.0], [5.0, 1.0], [5.0, 4.0], [2.0, 4.0], [2.0, 2.0], [4.0, 2.0], [4.0, 5.0], [1.0, 5.0]]);
    let ring_json = |r: &[[f64; 2]]| serde_json::to_string(&r.iter().map(|p| lonlat(*p)).collect::<Vec<_>>()).unwrap();
    let sites = format!(
        r#"{{"type":"FeatureCollection","features":[
{{"type":"Feature","properties":{{"site_id":"bow"}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}},
{{"type":"Feature","properties":{{"site_id":"looped"}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}}]}}"#,
        ring_json(&bow),
        ring_json(&looped)
    );
    // One class code per cell (row-major from 1), so the table gives each cell's coverage.
    let codes: Vec<u8> = (0..rows * cols).map(|i| i as u8 + 1).collect();
    let pipeline = "name: eo\nengine: local\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\nlayers:\n  \
                    - {name: cell, kind: categorical, local: cells.tif}\nexport: {to: local, folder: out}\n\
                    output: {path: out/eo.csv}\n";
    let t = Test::new().file("sites.geojson", &sites).file("p.yaml", pipeline).args(["run", "p.yaml"]);
    let spec = WriteSpec {
        width: cols as u32,
        height: rows as u32,
        bands: vec![Samples::U8(codes)],
        layout: Layout::Strips { rows: 2 },
        compress: Compress::Lzw,
        transform: Transform { x0: EO_X0, dx: 1.0, y0: 0.0, dy: -1.0 },
        nodata: None,
        epsg: 4326,
    };
    write(&t.path().join("cells.tif"), &spec).unwrap();
    let out = t.code(0);
    assert!(out.stderr.contains("sites::self-intersection"), "the crossing is still reported: {}", out.stderr);
    let table = out.dir.join("out/eo.csv");
    for (site, ring, area) in [("bow", &bow, 2.0), ("looped", &looped, 11.0)] {
        let got = classes(&table, site);
        let want = sampled_coverage(ring, cols, rows);
        let total: f64 = got.values().map(|v| v.1).sum();
        assert!((total - area).abs() < 1e-9, "{site}: even-odd area {area} cells, got {total}");
        for (i, w) in want.iter().enumerate() {
            let g = got.get(&(i as i64 + 1)).map_or(0.0, |v| v.1);
            assert!((g - w).abs() < 0.01, "{site}: cell {i} covers {g}, sampled parity {w}");
        }
    }
}
