//! The local engine at scale: sites in random file order still decode each tile about once with a cache
//! far smaller than the raster (all sites are ordered along a space-filling curve, not batch by batch),
//! and progress is reported through the observers (plain periodic lines on a non-terminal, `--events`
//! JSON lines).

mod common;

use common::Test;
use geepipe::local::geotiff::{write, Compress, Layout, Samples, Transform, WriteSpec};
use serde_json::{json, Value};

const PIPELINE: &str = "engine: local\nsites: {file: s.geojson, id: id}\nyears: [2020]\nlayers:\n  - {name: c, kind: categorical, local: r.tif}\nexport: {to: local}\noutput: {path: out/t.csv}\n";

/// A 2048 × 2048 raster in 64 × 64 tiles (1024 tiles of 4 KiB) and `n` small sites in random order.
fn setup(n: usize) -> Test {
    let (w, h, px) = (2048u32, 2048u32, 0.001);
    let mut seed = 99u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let values: Vec<u8> = (0..w * h).map(|i| 1 + ((i % w) / 50 + (i / w) / 70) as u8 % 6).collect();
    let mut features = Vec::new();
    for i in 0..n {
        let (x, y) = (rnd() * 2.048, -rnd() * 2.048);
        let r = 0.003 + rnd() * 0.012;
        let mut ring: Vec<[f64; 2]> = (0..7)
            .map(|k| {
                let t = k as f64 / 7.0 * std::f64::consts::TAU;
                [x + r * t.cos(), y + r * t.sin()]
            })
            .collect();
        ring.push(ring[0]);
        features.push(json!({"type": "Feature", "properties": {"id": format!("s{i}")},
                              "geometry": {"type": "Polygon", "coordinates": [ring]}}));
    }
    let sites = json!({"type": "FeatureCollection", "features": features}).to_string();
    let t = Test::new().file("s.geojson", &sites).file("p.yaml", PIPELINE);
    let spec = WriteSpec {
        width: w,
        height: h,
        bands: vec![Samples::U8(values)],
        layout: Layout::Tiles { width: 64, height: 64 },
        compress: Compress::Deflate,
        transform: Transform { x0: 0.0, dx: px, y0: 0.0, dy: -px },
        nodata: None,
        epsg: 4326,
    };
    write(&t.path().join("r.tif"), &spec).unwrap();
    t
}

#[test]
fn random_order_sites_decode_each_tile_about_once_with_a_small_cache() {
    // The cache holds 1 MiB: a quarter of the raster's 1024 tiles of 4 KiB.
    let t = setup(6000).args(["run", "p.yaml"]).env("GEEPIPE_CACHE_MB", "1").env("GEEPIPE_THREADS", "2");
    let out = t.code(0);
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/t.manifest.json")).unwrap()).unwrap();
    let c = &m["extra"]["chunk_cache"];
    assert_eq!(c["budget_bytes"], 1 << 20);
    assert!(c["distinct_decoded"].as_u64().unwrap() > 1000, "nearly every tile is touched: {c}");
    let per = c["decodes_per_chunk"].as_f64().unwrap();
    eprintln!("decodes per tile: {per} ({c})");
    assert!(per <= 1.2, "{per} decodes per tile: {c}");
    // (In file order the same cache decodes each tile about 7 times: 7.1 measured.)
}

#[test]
fn progress_is_reported_as_lines_and_events() {
    let t = setup(3000)
        .args(["run", "p.yaml", "--events", "ev.jsonl"])
        .env("GEEPIPE_PROGRESS_EVERY", "0")
        .env("GEEPIPE_THREADS", "1");
    let out = t.code(0);
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert!(!lines.is_empty(), "no progress lines: {}", out.stderr);
    for l in &lines {
        assert!(l.contains(" of 3000 sites computed"), "{l}");
    }
    assert!(lines.last().unwrap().starts_with("[3000/3000] 3000 of 3000 sites computed"), "{}", out.stderr);
    let events: Vec<Value> = std::fs::read_to_string(out.dir.join("ev.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "local_started");
    assert_eq!(events[0]["sites"], 3000);
    let done: Vec<u64> =
        events.iter().filter(|e| e["event"] == "sites_done").map(|e| e["done"].as_u64().unwrap()).collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    assert_eq!(done.last(), Some(&3000));
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["succeeded"].as_u64(), last["remaining"].as_u64()),
        (Some("finished"), Some(3000), Some(0))
    );
}
