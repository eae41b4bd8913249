//! No-data is never a class in the local engine either: a layer's `nodata.values` and its mask band
//! (`nodata.mask` read from `local_mask`) are masked exactly as the Earth Engine expression masks them.
//! Expected numbers are counted here from the rasters the test writes, not by geepipe.

mod common;

use std::collections::BTreeMap;

use common::Test;
use geepipe::local::geotiff::{write, Compress, Layout, Samples, Transform, WriteSpec};

const W: u32 = 8;
const H: u32 = 6;
const X0: f64 = -50.0;
const Y0: f64 = -10.0;
const PX: f64 = 0.01;

/// Class codes: 0 (no data) in a few cells, else 1..3.
fn class(c: u32, r: u32) -> u8 {
    if (c + 2 * r) % 5 == 0 {
        0
    } else {
        1 + ((c + r) % 3) as u8
    }
}

/// Hansen-style data mask: 0 no data, 1 land, 2 water.
fn datamask(c: u32, r: u32) -> u8 {
    match (c * 3 + r) % 7 {
        0 => 0,
        1 | 2 => 2,
        _ => 1,
    }
}

fn raster(path: &std::path::Path, f: fn(u32, u32) -> u8, layout: Layout) {
    let t = Transform { x0: X0, dx: PX, y0: Y0, dy: -PX };
    let samples: Vec<u8> = (0..H).flat_map(|r| (0..W).map(move |c| f(c, r))).collect();
    let spec = WriteSpec {
        width: W,
        height: H,
        bands: vec![Samples::U8(samples)],
        layout,
        compress: Compress::Deflate,
        transform: t,
        nodata: None,
        epsg: 4326,
    };
    write(path, &spec).unwrap();
}

/// Pixels per class code in the long table of a run.
fn pixels(table: &std::path::Path) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    let mut rdr = csv::Reader::from_path(table).unwrap();
    for row in rdr.deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        if row["kind"] == "categorical" {
            *out.entry(row["class_code"].parse().unwrap()).or_insert(0.0) += row["pixels"].parse::<f64>().unwrap();
        }
    }
    out
}

fn run(nodata: &str) -> BTreeMap<i64, f64> {
    // One site covering the whole raster, so every pixel counts fully.
    let (x1, y1) = (X0 + W as f64 * PX, Y0 - H as f64 * PX);
    let sites = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"site_id":"a"}},"geometry":{{"type":"Polygon","coordinates":[[[{X0},{Y0}],[{x1},{Y0}],[{x1},{y1}],[{X0},{y1}],[{X0},{Y0}]]]}}}}]}}"#
    );
    let pipeline = format!(
        "name: nd\nengine: local\nsites: {{file: sites.geojson, id: site_id}}\nyears: 2020\nlayers:\n  - name: cls\n    \
         kind: categorical\n    local: cls.tif\n{nodata}export: {{to: local, folder: out}}\noutput: {{path: out/t.csv}}\n"
    );
    let t = Test::new().file("sites.geojson", &sites).file("p.yaml", &pipeline).args(["run", "p.yaml"]);
    raster(&t.path().join("cls.tif"), class, Layout::Strips { rows: 4 });
    // The mask raster is tiled differently from the class raster on purpose.
    raster(&t.path().join("datamask.tif"), datamask, Layout::Tiles { width: 16, height: 16 });
    let out = t.code(0);
    pixels(&out.dir.join("out/t.csv"))
}

/// Pixels per class counted directly from the rasters, keeping the pixels `keep` accepts.
fn expected(keep: impl Fn(u8, u8) -> bool) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for r in 0..H {
        for c in 0..W {
            if keep(class(c, r), datamask(c, r)) {
                *out.entry(i64::from(class(c, r))).or_insert(0.0) += 1.0;
            }
        }
    }
    out
}

fn assert_close(got: &BTreeMap<i64, f64>, want: &BTreeMap<i64, f64>) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "classes: {got:?} vs {want:?}");
    for (k, v) in want {
        assert!((got[k] - v).abs() < 1e-9, "class {k}: {} vs {v}", got[k]);
    }
}

#[test]
fn without_a_declaration_zero_is_a_class() {
    let got = run("");
    assert!(got.contains_key(&0), "{got:?}");
    assert_close(&got, &expected(|_, _| true));
}

#[test]
fn nodata_values_are_never_a_class() {
    let got = run("    nodata: {values: [0]}\n");
    assert_close(&got, &expected(|cls, _| cls != 0));
}

#[test]
fn the_mask_band_keeps_only_valid_pixels() {
    let got = run("    nodata: {values: [0], mask: {band: datamask, valid: [1]}}\n    local_mask: datamask.tif\n");
    let want = expected(|cls, m| cls != 0 && m == 1);
    assert!(want.values().sum::<f64>() < expected(|cls, _| cls != 0).values().sum::<f64>(), "the mask masks");
    assert_close(&got, &want);
}

#[test]
fn a_mask_without_its_raster_is_a_located_error() {
    let t = Test::new()
        .file("sites.geojson", r#"{"type":"FeatureCollection","features":[]}"#)
        .file(
            "p.yaml",
            "name: nd\nengine: local\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\nlayers:\n  - catalog: hansen_loss\n    local: loss.tif\nexport: {to: local, folder: out}\n",
        )
        .args(["validate", "p.yaml"]);
    let out = t.code(2);
    assert!(
        out.stderr.contains("layers::local-mask")
            && out.stderr.contains("layer `hansen_loss` is data only where its band `datamask` is 1")
            && out.stderr.contains("add `local_mask: data/datamask.tif`"),
        "{}",
        out.stderr
    );
}
