//! Every raster is read correctly or refused clearly: nodata compared in the raster's own sample type,
//! headers that claim more than the file holds, strips cut short, truncated files, sparse tiles, and a
//! run interrupted by a signal. After every failure the output folder holds no table, no manifest and no
//! temporary file.

mod common;

use std::path::Path;

use common::Test;
use geepipe::local::geotiff::{patch_tag, write, Compress, Layout, Samples, Transform, WriteSpec};
use serde_json::json;

const PIPELINE: &str = "engine: local\nsites: {file: s.geojson, id: id}\nyears: [2020]\nlayers:\n  - {name: v, kind: continuous, stats: [mean, count], local: r.tif}\nexport: {to: local}\noutput: {path: out/t.csv}\n";
const PIPELINE_CAT: &str = "engine: local\nsites: {file: s.geojson, id: id}\nyears: [2020]\nlayers:\n  - {name: c, kind: categorical, local: r.tif}\nexport: {to: local}\noutput: {path: out/t.csv}\n";

/// One rectangular site covering columns `c0..c1` and rows `r0..r1` of a grid at (x0, y0) with `px` cells.
fn rect_site(id: &str, x0: f64, y0: f64, px: f64, c: [f64; 2], r: [f64; 2]) -> serde_json::Value {
    let (w, e, n, s) = (x0 + c[0] * px, x0 + c[1] * px, y0 - r[0] * px, y0 - r[1] * px);
    json!({"type": "Feature", "properties": {"id": id},
           "geometry": {"type": "Polygon", "coordinates": [[[w, n], [e, n], [e, s], [w, s], [w, n]]]}})
}

fn sites(features: Vec<serde_json::Value>) -> String {
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

/// Files left in `dir` (recursively), as relative paths.
fn files_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_in(&p).into_iter().map(|f| format!("{}/{f}", e.file_name().to_string_lossy())));
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// The files of `dir` but the run state in `.geepipe/` (the journal and the results store, which keeps the
/// sites computed before a failure or an interrupt so a rerun does not compute them again).
fn outputs_in(dir: &Path) -> Vec<String> {
    files_in(dir).into_iter().filter(|f| !f.starts_with(".geepipe/")).collect()
}

/// The stats of the long table: `stat → value` of site `id`.
fn stats(dir: &Path, id: &str) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for row in csv::Reader::from_path(dir.join("out/t.csv"))
        .unwrap()
        .deserialize::<std::collections::BTreeMap<String, String>>()
    {
        let row = row.unwrap();
        if row["id"] == id && row["kind"] == "continuous" {
            out.insert(row["stat"].clone(), row["value"].parse().unwrap());
        }
    }
    out
}

/// The text without line breaks and the diagnostic renderer's frame characters.
fn flat(s: &str) -> String {
    s.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ")
}

fn grid() -> Transform {
    Transform { x0: -47.0, dx: 0.01, y0: -15.0, dy: -0.01 }
}

#[test]
fn float32_nodata_is_compared_as_float32() {
    // Every third pixel holds -9999.9 stored as float32; the others 30 + (col mod 5) / 10.
    let (w, h) = (30u32, 20u32);
    let nd = -9999.9f32;
    let v: Vec<f32> = (0..w * h).map(|i| if i % 3 == 0 { nd } else { 30.0 + (i % w % 5) as f32 / 10.0 }).collect();
    let spec = WriteSpec {
        width: w,
        height: h,
        bands: vec![Samples::F32(v.clone())],
        layout: Layout::Tiles { width: 16, height: 16 },
        compress: Compress::Deflate,
        transform: grid(),
        nodata: Some(-9999.9),
        epsg: 4326,
    };
    let s = sites(vec![rect_site("all", -47.0, -15.0, 0.01, [0.0, 30.0], [0.0, 20.0])]);
    let t = Test::new().file("s.geojson", &s).file("p.yaml", PIPELINE).args(["run", "p.yaml"]);
    write(&t.path().join("r.tif"), &spec).unwrap();
    let out = t.code(0);
    let valid: Vec<f64> = v.iter().filter(|&&x| x != nd).map(|&x| f64::from(x)).collect();
    let want = valid.iter().sum::<f64>() / valid.len() as f64;
    let got = stats(&out.dir, "all");
    assert_eq!(got["count"], valid.len() as f64);
    assert!((got["mean"] - want).abs() < 1e-9 * want, "mean {} vs {want}", got["mean"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/t.manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["inputs"][1]["details"]["nodata"], -9999.9, "the nodata value as written");
}

#[test]
fn integer_rasters_ignore_a_nodata_they_cannot_hold() {
    // uint8 values 0..=4; nodata 2.5 matches no uint8 pixel (GDAL's rule), so every pixel counts.
    let (w, h) = (10u32, 10u32);
    let v: Vec<u8> = (0..w * h).map(|i| (i % 5) as u8).collect();
    let spec = WriteSpec {
        width: w,
        height: h,
        bands: vec![Samples::U8(v)],
        layout: Layout::Strips { rows: 3 },
        compress: Compress::Lzw,
        transform: grid(),
        nodata: Some(2.5),
        epsg: 4326,
    };
    let s = sites(vec![rect_site("all", -47.0, -15.0, 0.01, [0.0, 10.0], [0.0, 10.0])]);
    let t = Test::new().file("s.geojson", &s).file("p.yaml", PIPELINE).args(["run", "p.yaml"]);
    write(&t.path().join("r.tif"), &spec).unwrap();
    let out = t.code(0);
    let got = stats(&out.dir, "all");
    assert_eq!((got["count"], got["mean"]), (100.0, 2.0));
}

/// A raster whose header is then damaged by `damage`; returns the run's output (exit code `code`).
fn damaged_run(
    pipeline: &str,
    spec: &WriteSpec,
    damage: impl Fn(&Path),
    code: i32,
) -> (common::Output, tempfile::TempDir) {
    let s = sites(vec![rect_site("a", -47.0, -15.0, 0.01, [0.5, 7.5], [0.5, 9.5])]);
    let t = Test::new().file("s.geojson", &s).file("p.yaml", pipeline).args(["run", "p.yaml"]);
    let p = t.path().join("r.tif");
    write(&p, spec).unwrap();
    damage(&p);
    let out = t.code(code);
    assert_eq!(outputs_in(&out.dir.join("out")), Vec::<String>::new(), "nothing left in out/: {}", out.stderr);
    let keep = tempfile::tempdir().unwrap();
    (out, keep)
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 56) as u8
        })
        .collect()
}

#[test]
fn a_header_claiming_a_million_squared_pixels_in_one_strip_is_refused() {
    for compress in [Compress::None, Compress::Deflate, Compress::Lzw] {
        let spec = WriteSpec {
            width: 10,
            height: 10,
            bands: vec![Samples::U8(random_bytes(100, 1))],
            layout: Layout::Strips { rows: 10 },
            compress,
            transform: grid(),
            nodata: None,
            epsg: 4326,
        };
        let (out, _) = damaged_run(
            PIPELINE_CAT,
            &spec,
            |p| {
                for tag in [256, 257, 278] {
                    patch_tag(p, tag, &[1_000_000]).unwrap();
                }
            },
            2,
        );
        let e = flat(&out.stderr);
        assert!(e.contains("r.tif` is damaged"), "{compress:?}: {e}");
        assert!(e.contains("strip 0") && e.contains("1000000 × 1000000 pixels"), "{compress:?}: {e}");
    }
}

#[test]
fn strips_whose_byte_count_is_cut_short_are_refused_or_fail_clearly() {
    // 1000 columns of random bytes, one strip per row: every row needs 1000 bytes (more compressed).
    let (w, h) = (1000u32, 12u32);
    let spec = |compress| WriteSpec {
        width: w,
        height: h,
        bands: vec![Samples::U8(random_bytes((w * h) as usize, 7))],
        layout: Layout::Strips { rows: 1 },
        compress,
        transform: grid(),
        nodata: None,
        epsg: 4326,
    };
    let cut = |p: &Path| patch_tag(p, 279, &[100; 12]).unwrap();
    // Uncompressed: refused when opened (exit 2), before anything is computed.
    let (out, _) = damaged_run(PIPELINE_CAT, &spec(Compress::None), cut, 2);
    let e = flat(&out.stderr);
    assert!(e.contains("uncompressed strip 0 holds 100 bytes but its 1000 × 1 pixels need 1000"), "{e}");
    // Compressed: the decoder meets the end of the strip's 100 bytes (exit 4, nothing written).
    for c in [Compress::Deflate, Compress::Lzw] {
        let (out, _) = damaged_run(PIPELINE_CAT, &spec(c), cut, 4);
        let e = flat(&out.stderr);
        assert!(e.contains("r.tif` is damaged: strip 0"), "{c:?}: {e}");
        assert!(e.contains("nothing was written"), "{c:?}: {e}");
    }
}

#[test]
fn a_truncated_file_is_refused_with_the_chunk_that_runs_past_its_end() {
    let spec = WriteSpec {
        width: 64,
        height: 64,
        bands: vec![Samples::U8(random_bytes(64 * 64, 3))],
        layout: Layout::Tiles { width: 16, height: 16 },
        compress: Compress::Deflate,
        transform: grid(),
        nodata: None,
        epsg: 4326,
    };
    // The writer puts the directory after the pixel data, so cutting the file would lose the header:
    // the last tile claims to run past the end instead, as in a file cut short after its header.
    let (out, _) = damaged_run(
        PIPELINE_CAT,
        &spec,
        |p| {
            let len = std::fs::metadata(p).unwrap().len();
            let tiff = geepipe::local::geotiff::GeoTiff::open(p, 0).unwrap();
            let mut counts: Vec<u64> = (0..16).map(|i| tiff.chunk_range(i % 4, i / 4, 0).1).collect();
            counts[15] = len;
            drop(tiff);
            patch_tag(p, 325, &counts).unwrap();
        },
        2,
    );
    let e = flat(&out.stderr);
    assert!(e.contains("tile 15") && e.contains("runs past the end of the file"), "{e}");
}

#[test]
fn sparse_tiles_read_as_nodata() {
    // Tiles 1 and 2 (of 4) are marked unwritten (offset and byte count 0), as GDAL's SPARSE_OK writes them.
    let (w, h) = (32u32, 32u32);
    let spec = WriteSpec {
        width: w,
        height: h,
        bands: vec![Samples::U8(vec![7; (w * h) as usize])],
        layout: Layout::Tiles { width: 16, height: 16 },
        compress: Compress::Deflate,
        transform: grid(),
        nodata: Some(0.0),
        epsg: 4326,
    };
    let s = sites(vec![rect_site("all", -47.0, -15.0, 0.01, [0.0, 32.0], [0.0, 32.0])]);
    let t = Test::new().file("s.geojson", &s).file("p.yaml", PIPELINE_CAT).args(["run", "p.yaml"]);
    let p = t.path().join("r.tif");
    write(&p, &spec).unwrap();
    let tiff = geepipe::local::geotiff::GeoTiff::open(&p, 0).unwrap();
    let (o0, c0) = tiff.chunk_range(0, 0, 0);
    let (o3, c3) = tiff.chunk_range(1, 1, 0);
    drop(tiff);
    patch_tag(&p, 324, &[o0, 0, 0, o3]).unwrap();
    patch_tag(&p, 325, &[c0, 0, 0, c3]).unwrap();
    let out = t.code(0);
    let text = std::fs::read_to_string(out.dir.join("out/t.csv")).unwrap();
    let row = text.lines().find(|l| l.contains(",7,")).unwrap_or_else(|| panic!("{text}"));
    let pixels: f64 = row.split(',').nth(7).unwrap().parse().unwrap();
    assert_eq!(pixels, 512.0, "two tiles of 16 × 16 valid pixels: {text}");
}

#[test]
fn an_interrupted_run_leaves_nothing_behind() {
    // Enough sites to take a while in a debug build; stop once progress shows some done.
    let (w, h) = (400u32, 400u32);
    let spec = WriteSpec {
        width: w,
        height: h,
        bands: vec![Samples::U8(random_bytes((w * h) as usize, 5).iter().map(|b| b % 8).collect())],
        layout: Layout::Tiles { width: 64, height: 64 },
        compress: Compress::Deflate,
        transform: grid(),
        nodata: None,
        epsg: 4326,
    };
    let features: Vec<_> = (0..30_000)
        .map(|i| {
            let (c, r) = ((i * 37 % 380) as f64, (i * 91 % 380) as f64);
            rect_site(&format!("s{i}"), -47.0, -15.0, 0.01, [c + 0.3, c + 19.6], [r + 0.2, r + 18.7])
        })
        .collect();
    for signal in ["INT", "TERM"] {
        let t = Test::new().file("s.geojson", &sites(features.clone())).file("p.yaml", PIPELINE_CAT);
        write(&t.path().join("r.tif"), &spec).unwrap();
        std::fs::create_dir_all(t.path().join("out")).unwrap();
        std::fs::write(t.path().join("out/t.csv"), "old table\n").unwrap();
        let events = t.path().join("events.jsonl");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_geepipe"))
            .args(["run", "p.yaml", "--events", "events.jsonl"])
            .current_dir(t.path())
            .env("GEEPIPE_THREADS", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        loop {
            let text = std::fs::read_to_string(&events).unwrap_or_default();
            if text.contains("\"sites_done\"") {
                break;
            }
            assert!(started.elapsed().as_secs() < 120, "no progress event: {text}");
            assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let ok = std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
        assert!(ok.unwrap().success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted: nothing was written"), "{stderr}");
        assert_eq!(outputs_in(&t.path().join("out")), vec!["t.csv"], "{signal}");
        assert_eq!(std::fs::read_to_string(t.path().join("out/t.csv")).unwrap(), "old table\n");
    }
}
