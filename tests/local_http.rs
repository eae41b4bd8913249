//! Rasters over HTTP: a Cloud-Optimized GeoTIFF written by GDAL (rasterio's COG driver) is served by a
//! small HTTP server on 127.0.0.1 that answers real `Range` requests from the real file and records every
//! range it sends. A run on the URL must write the same table as a run on the file, and read only the
//! header and the tiles the sites touch (computed here from the file's own tile table), each once.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{test_venv, Test};
use serde_json::json;

const PY: &str = r#"
import numpy as np, rasterio, rasterio.shutil
from rasterio.io import MemoryFile
from rasterio.transform import from_origin
rng = np.random.default_rng(3)
W = H = 2048
base = rng.integers(1, 8, size=(H // 16, W // 16)).repeat(16, 0).repeat(16, 1)
v = np.where(rng.random((H, W)) < 0.2, rng.integers(1, 8, size=(H, W)), base).astype("uint8")
profile = dict(driver="GTiff", width=W, height=H, count=1, dtype="uint8", crs="EPSG:4326",
               transform=from_origin(-50.0, -10.0, 0.00025, 0.00025), nodata=0)
with MemoryFile() as mem:
    with mem.open(**profile) as d:
        d.write(v, 1)
    with mem.open() as src:
        rasterio.shutil.copy(src, "cog.tif", driver="COG", blocksize=256, compress="DEFLATE")
"#;

/// What the server did: every (first byte, length) it sent.
#[derive(Default)]
struct Served {
    ranges: Mutex<Vec<(u64, u64)>>,
    /// Answer 200 with the whole file instead of ranges (a server without range support).
    ignore_range: bool,
}

struct Server {
    file: Vec<u8>,
    served: Served,
}

async fn serve(State(s): State<Arc<Server>>, headers: HeaderMap) -> Response {
    let len = s.file.len() as u64;
    if s.served.ignore_range {
        return s.file.clone().into_response();
    }
    // `Range: bytes=a-b` (the only form geepipe sends), clamped to the file as RFC 9110 says.
    let range = headers.get("range").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some((a, b)) = range.strip_prefix("bytes=").and_then(|r| r.split_once('-')) else {
        return (StatusCode::BAD_REQUEST, "a range request is expected").into_response();
    };
    let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) else {
        return (StatusCode::BAD_REQUEST, "bad range").into_response();
    };
    if a >= len || b < a {
        return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
    }
    let b = b.min(len - 1);
    s.served.ranges.lock().unwrap().push((a, b + 1 - a));
    let body = s.file[a as usize..=b as usize].to_vec();
    (StatusCode::PARTIAL_CONTENT, [("content-range", format!("bytes {a}-{b}/{len}"))], body).into_response()
}

/// Serves `file` at `http://127.0.0.1:port/rasters/cog.tif` on a runtime of its own.
fn start(file: &Path, ignore_range: bool) -> (String, Arc<Server>, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let s =
        Arc::new(Server { file: std::fs::read(file).unwrap(), served: Served { ignore_range, ..Served::default() } });
    let app = axum::Router::new().route("/rasters/cog.tif", axum::routing::get(serve)).with_state(s.clone());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/rasters/cog.tif", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, s, rt)
}

/// Sites in the raster's north-west quarter only (the raster spans -50..-49.488, -10..-10.512).
fn sites() -> String {
    let mut features = Vec::new();
    for i in 0..40 {
        let (x, y) = (-49.99 + (i % 8) as f64 * 0.028, -10.01 - (i / 8) as f64 * 0.045);
        let r = 0.004 + (i % 5) as f64 * 0.002;
        let mut ring: Vec<[f64; 2]> = (0..10)
            .map(|k| {
                let t = k as f64 / 10.0 * std::f64::consts::TAU;
                let rr = if k % 2 == 0 { r } else { r * 0.6 };
                [x + rr * t.cos(), y + rr * t.sin()]
            })
            .collect();
        ring.push(ring[0]);
        features.push(json!({"type": "Feature", "properties": {"id": format!("s{i}")},
                              "geometry": {"type": "Polygon", "coordinates": [ring]}}));
    }
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

fn pipeline(local: &str) -> String {
    format!(
        "engine: local\nsites: {{file: sites.geojson, id: id}}\nyears: [2020]\nlayers:\n  - {{name: c, kind: categorical, local: '{local}'}}\nexport: {{to: local}}\noutput: {{path: out/t.csv}}\n"
    )
}

/// The full-resolution image's tiles: size, tiles across, and (offset, byte count) of each.
fn tile_table(file: &Path) -> (u32, u32, Vec<(u64, u64)>) {
    use tiff::decoder::Decoder;
    use tiff::tags::Tag;
    let mut d = Decoder::new(std::fs::File::open(file).unwrap()).unwrap();
    let tw: u32 = d.get_tag_u32(Tag::TileWidth).unwrap();
    let (w, _) = d.dimensions().unwrap();
    let offsets = d.get_tag_u64_vec(Tag::TileOffsets).unwrap();
    let counts = d.get_tag_u64_vec(Tag::TileByteCounts).unwrap();
    (tw, w.div_ceil(tw), offsets.into_iter().zip(counts).collect())
}

fn cog() -> (Test, PathBuf) {
    let venv = test_venv();
    let t = Test::new().file("sites.geojson", &sites()).file("cog.py", PY);
    let ok = std::process::Command::new(venv.join("python")).arg("cog.py").current_dir(t.path()).status().unwrap();
    assert!(ok.success(), "writing the COG failed");
    let p = t.path().join("cog.tif");
    (t, p)
}

#[test]
fn a_remote_cog_gives_the_local_table_and_reads_only_the_tiles_it_needs() {
    let (t, file) = cog();
    // The file itself.
    std::fs::write(t.path().join("p.yaml"), pipeline("cog.tif")).unwrap();
    let t = t.args(["run", "p.yaml"]);
    let out = t.code(0);
    let local = std::fs::read(out.dir.join("out/t.csv")).unwrap();
    std::fs::remove_dir_all(out.dir.join("out")).unwrap();

    // The same file over HTTP, with a token in the query string that must never be shown.
    let (url, server, _rt) = start(&file, false);
    std::fs::write(t.path().join("p.yaml"), pipeline(&format!("{url}?sig=SECRET-TOKEN"))).unwrap();
    let out = t.code(0);
    assert_eq!(
        String::from_utf8(std::fs::read(out.dir.join("out/t.csv")).unwrap()).unwrap(),
        String::from_utf8(local).unwrap()
    );
    let manifest = std::fs::read_to_string(out.dir.join("out/t.manifest.json")).unwrap();
    assert!(!manifest.contains("SECRET") && !out.stdout.contains("SECRET") && !out.stderr.contains("SECRET"));
    assert!(manifest.contains(&url), "the manifest names the URL without its query");

    // Which tiles the sites can touch: those their bounding boxes overlap.
    let (tw, across, tiles) = tile_table(&file);
    let (x0, y0, px) = (-50.0, -10.0, 0.00025);
    let mut needed = BTreeSet::new();
    let v: serde_json::Value = serde_json::from_str(&sites()).unwrap();
    for f in v["features"].as_array().unwrap() {
        let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
        let xs: Vec<f64> = ring.iter().map(|p| p[0].as_f64().unwrap()).collect();
        let ys: Vec<f64> = ring.iter().map(|p| p[1].as_f64().unwrap()).collect();
        let c0 = ((xs.iter().cloned().fold(f64::INFINITY, f64::min) - x0) / px).floor() as u32 / tw;
        let c1 = ((xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - x0) / px).floor() as u32 / tw;
        let r0 = ((y0 - ys.iter().cloned().fold(f64::NEG_INFINITY, f64::max)) / px).floor() as u32 / tw;
        let r1 = ((y0 - ys.iter().cloned().fold(f64::INFINITY, f64::min)) / px).floor() as u32 / tw;
        for r in r0..=r1 {
            for c in c0..=c1 {
                needed.insert((r * across + c) as usize);
            }
        }
    }
    let ranges = server.served.ranges.lock().unwrap().clone();
    let size = std::fs::metadata(&file).unwrap().len();
    let mut tile_reads = Vec::new();
    let mut header_bytes = 0;
    for &(a, n) in &ranges {
        match tiles.iter().position(|&(o, c)| (o, c) == (a, n)) {
            Some(i) => tile_reads.push(i),
            None => {
                // Header pages: 64 KiB-aligned pieces.
                assert_eq!(a % 65536, 0, "a range that is neither a tile nor a header page: {a} + {n}");
                header_bytes += n;
            }
        }
    }
    let distinct: BTreeSet<usize> = tile_reads.iter().copied().collect();
    assert_eq!(distinct.len(), tile_reads.len(), "a tile was fetched twice: {tile_reads:?}");
    assert!(distinct.is_subset(&needed), "tiles fetched that no site touches: {:?}", distinct.difference(&needed));
    assert!(header_bytes <= 2 * 65536, "header: {header_bytes} bytes");
    let tile_bytes: u64 = distinct.iter().map(|&i| tiles[i].1).sum();
    let total: u64 = ranges.iter().map(|r| r.1).sum();
    assert_eq!(total, header_bytes + tile_bytes);
    assert!(total * 3 < size, "read {total} of {size} bytes");
    assert!(distinct.len() >= 5, "{} tiles", distinct.len());
    eprintln!(
        "read {total} of {size} bytes in {} requests: {} of {} tiles ({} possibly needed), {header_bytes} header bytes",
        ranges.len(),
        distinct.len(),
        tiles.len(),
        needed.len()
    );
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(m["inputs"][1]["details"]["bytes_read"], total);
    assert_eq!(m["inputs"][1]["details"]["http_requests"], ranges.len());
}

#[test]
fn servers_without_ranges_and_missing_urls_are_clear_errors() {
    let (t, file) = cog();
    let (url, _server, _rt) = start(&file, true);
    std::fs::write(t.path().join("p.yaml"), pipeline(&format!("{url}?sig=SECRET-TOKEN"))).unwrap();
    let t = t.args(["run", "p.yaml"]);
    let out = t.code(2);
    let e = out.stderr.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
    assert!(e.contains("does not answer range requests"), "{e}");
    assert!(!e.contains("SECRET"), "{e}");

    let missing = url.replace("cog.tif", "nothing.tif");
    std::fs::write(out.dir.join("p.yaml"), pipeline(&format!("{missing}?sig=SECRET-TOKEN"))).unwrap();
    let out = t.code(2);
    let e = out.stderr.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
    assert!(e.contains("nothing.tif") && e.contains("404"), "{e}");
    assert!(!e.contains("SECRET"), "{e}");
    assert!(!out.dir.join("out").exists());
}
