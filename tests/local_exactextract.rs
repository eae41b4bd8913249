//! The local engine against exactextract (PyPI `exactextract`, run for real from `.venv-test/`) on the
//! same rasters and polygons: holes, MultiPolygons, polygons over the raster's edges, over nodata, and
//! outside the raster.
//!
//! exactextract keeps coverage fractions as 32-bit floats, so its results carry ~1e-7 relative rounding.
//! Two sets of polygons therefore: "dyadic" ones whose every coverage fraction is exactly representable
//! (vertices on 1/4-cell positions, edges axis-aligned or at 45°) must agree within 1e-9 relative; the
//! general ones (arbitrary slopes) within 1e-7 (observed: about 5e-9).
//!
//! A second test pins the documented difference on integer rasters: exactextract truncates its quantiles
//! to the raster's integer type, geepipe does not.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{test_venv, Test};
use geepipe::local::geotiff::{write, Compress, Layout, Samples, Transform, WriteSpec};
use serde_json::{json, Value};

const W: u32 = 120;
const H: u32 = 90;
const X0: f64 = -50.0;
const Y0: f64 = -10.0;
const PX: f64 = 0.125;
const ND: f64 = -9999.0;

fn value(c: u32, r: u32) -> f64 {
    let (x, y) = (c as f64, r as f64);
    if (30..36).contains(&c) && (20..40).contains(&r) || (c * 7 + r * 13) % 97 == 0 {
        return ND;
    }
    // Float32-representable values.
    (((x * 0.37).sin() * 40.0 + (y * 0.23).cos() * 25.0 + x * 0.5) * 64.0).round() / 64.0
}

fn class(c: u32, r: u32) -> u8 {
    if (60..70).contains(&c) && (50..58).contains(&r) {
        return 0;
    }
    1 + ((c / 3 + r / 4 + (c * r) % 5) % 5) as u8
}

fn lon(col: f64) -> f64 {
    X0 + col * PX
}
fn lat(row: f64) -> f64 {
    Y0 - row * PX
}

/// A ring from cell coordinates (col, row), closed.
fn ring(pts: &[[f64; 2]]) -> Value {
    let mut v: Vec<Value> = pts.iter().map(|p| json!([lon(p[0]), lat(p[1])])).collect();
    v.push(v[0].clone());
    Value::Array(v)
}

fn feature(id: &str, geometry: Value) -> Value {
    json!({"type": "Feature", "id": id, "properties": {"site_id": id}, "geometry": geometry})
}

fn star(cx: f64, cy: f64, n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut s = seed;
    let mut rnd = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|k| {
            let t = (k as f64 + rnd() * 0.7) / n as f64 * std::f64::consts::TAU;
            let r = 2.0 + rnd() * 9.0;
            [cx + r * t.cos(), cy + r * t.sin()]
        })
        .collect()
}

/// (id, dyadic?, feature)
fn sites() -> Vec<(String, bool, Value)> {
    let rect = |x0: f64, y0: f64, x1: f64, y1: f64| vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
    let poly = |rings: Vec<Vec<[f64; 2]>>| json!({"type": "Polygon", "coordinates": rings.iter().map(|r| ring(r)).collect::<Vec<_>>()});
    let mut out = vec![
        ("d_rect".to_string(), true, poly(vec![rect(3.25, 4.5, 17.75, 12.25)])),
        ("d_hole".to_string(), true, poly(vec![rect(20.25, 5.5, 40.75, 30.25), rect(25.5, 10.25, 31.75, 18.5)])),
        ("d_diamond".to_string(), true, poly(vec![vec![[50.25, 10.0], [60.25, 20.0], [50.25, 30.0], [40.25, 20.0]]])),
        (
            "d_multi".to_string(),
            true,
            json!({"type": "MultiPolygon", "coordinates": [
                [ring(&rect(70.5, 60.25, 80.75, 70.5))],
                [ring(&rect(85.25, 62.75, 90.5, 88.25)), ring(&rect(86.5, 70.0, 88.25, 75.75))]
            ]}),
        ),
        ("d_west_edge".to_string(), true, poly(vec![rect(-6.5, 40.25, 5.75, 50.5)])),
        ("d_south_east".to_string(), true, poly(vec![rect(110.25, 80.5, 126.75, 97.25)])),
        ("d_nodata".to_string(), true, poly(vec![rect(28.25, 18.5, 38.75, 44.25)])),
        ("d_class_nodata".to_string(), true, poly(vec![rect(58.5, 48.25, 72.75, 60.5)])),
        ("outside".to_string(), true, poly(vec![rect(130.0, 10.0, 140.0, 20.0)])),
    ];
    for (i, (cx, cy)) in [(15.0, 60.0), (95.0, 25.0), (60.0, 45.0), (2.0, 85.0), (117.0, 3.0)].into_iter().enumerate() {
        let outer = star(cx, cy, 5 + 3 * i, 11 + i as u64);
        let geometry = if i == 2 {
            // A star with a triangular hole around its centre.
            poly(vec![outer, vec![[cx - 1.3, cy - 0.7], [cx + 1.1, cy - 0.9], [cx + 0.2, cy + 1.4]]])
        } else if i == 3 {
            json!({"type": "MultiPolygon", "coordinates": [[ring(&outer)], [ring(&star(cx + 25.0, cy - 10.0, 7, 99))]]})
        } else {
            poly(vec![outer])
        };
        out.push((format!("g_star{i}"), false, geometry));
    }
    out.into_iter().map(|(id, d, g)| (id.clone(), d, feature(&id, g))).collect()
}

const PY: &str = r#"
import json, sys
import numpy as np
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource
w, h, x0, y0, px, nd = [float(v) for v in sys.argv[1:7]]
w, h = int(w), int(h)
ext = dict(xmin=x0, ymin=y0 - h * px, xmax=x0 + w * px, ymax=y0)
val = NumPyRasterSource(np.fromfile("val.bin", dtype="<f8").reshape(h, w), nodata=nd, **ext)
cls = NumPyRasterSource(np.fromfile("cls.bin", dtype="<f8").reshape(h, w), nodata=0, **ext)
feats = json.load(open("sites.geojson"))["features"]
ops = ["count", "sum", "mean", "min", "max", "stdev", "variance", "median", "quantile(q=0.25)", "quantile(q=0.9)"]
out = {}
for f in exact_extract(val, feats, ops, include_cols=["site_id"], output="geojson"):
    p = f["properties"]
    sid = p.pop("site_id")
    out.setdefault(sid, {})["val"] = {k: (None if v is None or v != v else float(v)) for k, v in p.items()}
for f in exact_extract(cls, feats, ["count", "unique", "frac"], include_cols=["site_id"], output="geojson"):
    p = f["properties"]
    out[p["site_id"]]["cls"] = {str(int(u)): float(fr) * float(p["count"]) for u, fr in zip(p["unique"], p["frac"])}
json.dump(out, open("ee.json", "w"), indent=1)
"#;

fn write_inputs(dir: &Path) {
    let vals: Vec<f64> = (0..H).flat_map(|r| (0..W).map(move |c| value(c, r))).collect();
    let classes: Vec<u8> = (0..H).flat_map(|r| (0..W).map(move |c| class(c, r))).collect();
    let t = Transform { x0: X0, dx: PX, y0: Y0, dy: -PX };
    write(
        &dir.join("val.tif"),
        &WriteSpec {
            width: W,
            height: H,
            bands: vec![Samples::F32(vals.iter().map(|&v| v as f32).collect())],
            layout: Layout::Tiles { width: 32, height: 32 },
            compress: Compress::Deflate,
            transform: t,
            nodata: Some(ND),
            epsg: 4326,
        },
    )
    .unwrap();
    write(
        &dir.join("cls.tif"),
        &WriteSpec {
            width: W,
            height: H,
            bands: vec![Samples::U8(classes.clone())],
            layout: Layout::Strips { rows: 7 },
            compress: Compress::Lzw,
            transform: t,
            nodata: Some(0.0),
            epsg: 4326,
        },
    )
    .unwrap();
    let le = |v: &mut Vec<u8>, x: f64| v.extend_from_slice(&x.to_le_bytes());
    let mut b = Vec::new();
    vals.iter().for_each(|&x| le(&mut b, x));
    std::fs::write(dir.join("val.bin"), &b).unwrap();
    let mut b = Vec::new();
    classes.iter().for_each(|&x| le(&mut b, x as f64));
    std::fs::write(dir.join("cls.bin"), &b).unwrap();
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300) || (a - b).abs() < 1e-12
}

#[test]
fn weighted_statistics_match_exactextract() {
    let venv = test_venv();
    let features: Vec<Value> = sites().into_iter().map(|(_, _, f)| f).collect();
    let pipeline = r#"
name: cmp
engine: local
sites: {file: sites.geojson, id: site_id}
years: [2020]
layers:
  - name: val
    kind: continuous
    stats: [count, sum, mean, min, max, stdDev, variance, median, p25, p90]
    local: val.tif
  - name: cls
    kind: categorical
    local: cls.tif
export: {to: local, folder: out}
output: {path: out/table.csv}
"#;
    let t = Test::new()
        .file("sites.geojson", &json!({"type": "FeatureCollection", "features": features}).to_string())
        .file("cmp.yaml", pipeline)
        .args(["run", "cmp.yaml"]);
    write_inputs(t.path());
    let out = t.code(0);
    // exactextract on the same data.
    let py = t.path().join("ee.py");
    std::fs::write(&py, PY).unwrap();
    let status = std::process::Command::new(venv.join("python"))
        .arg(&py)
        .args([W.to_string(), H.to_string(), X0.to_string(), Y0.to_string(), PX.to_string(), ND.to_string()])
        .current_dir(t.path())
        .status()
        .unwrap();
    assert!(status.success(), "exactextract script failed");
    let ee: Value = serde_json::from_str(&std::fs::read_to_string(t.path().join("ee.json")).unwrap()).unwrap();

    // geepipe's long table → site → (stat → value) and (class → pixels).
    let mut stats: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut classes: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut nodata: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rdr = csv::Reader::from_path(out.dir.join("out/table.csv")).unwrap();
    for row in rdr.deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        let site = row["site_id"].clone();
        match row["kind"].as_str() {
            "continuous" => {
                stats.entry(site).or_default().insert(row["stat"].clone(), row["value"].parse().unwrap());
            }
            "categorical" => {
                classes.entry(site).or_default().insert(row["class_code"].clone(), row["pixels"].parse().unwrap());
            }
            "nodata" => nodata.entry(site).or_default().push(row["layer"].clone()),
            other => panic!("unexpected kind {other}"),
        }
    }
    let names = [
        ("count", "count"),
        ("sum", "sum"),
        ("mean", "mean"),
        ("min", "min"),
        ("max", "max"),
        ("stdDev", "stdev"),
        ("variance", "variance"),
        ("median", "median"),
        ("p25", "quantile_25"),
        ("p90", "quantile_90"),
    ];
    let mut compared = 0;
    let mut worst = [0.0f64; 2];
    let mut note = |dyadic: bool, a: f64, b: f64| {
        let d = (a - b).abs() / a.abs().max(b.abs()).max(1e-300);
        let i = usize::from(!dyadic);
        worst[i] = worst[i].max(if (a - b).abs() < 1e-12 { 0.0 } else { d });
    };
    for (id, dyadic, _) in sites() {
        let rel = if dyadic { 1e-9 } else { 1e-7 };
        let e = &ee[&id];
        if id == "outside" {
            assert_eq!(e["val"]["count"], 0.0);
            assert_eq!(nodata[&id], vec!["val", "cls"], "explicit no-data rows");
            continue;
        }
        for (ours, theirs) in names {
            let want = e["val"][theirs].as_f64().unwrap_or_else(|| panic!("{id} {theirs}: {}", e["val"]));
            let got = stats[&id][ours];
            note(dyadic, got, want);
            assert!(close(got, want, rel), "{id} {ours}: geepipe {got} vs exactextract {want}");
            compared += 1;
        }
        let want: BTreeMap<String, f64> =
            e["cls"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_f64().unwrap())).collect();
        let got = classes.get(&id).cloned().unwrap_or_default();
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{id} classes");
        for (k, w) in &want {
            note(dyadic, got[k], *w);
            assert!(close(got[k], *w, rel), "{id} class {k}: geepipe {} vs exactextract {w}", got[k]);
            compared += 1;
        }
    }
    assert!(compared > 100, "compared {compared} numbers");
    eprintln!("largest relative difference: dyadic sites {:e}, general sites {:e}", worst[0], worst[1]);
}

/// exactextract run on one raster file through rasterio: per site, its median and quantiles.
const PY_QUANTILES: &str = r#"
import json, sys
import rasterio
from exactextract import exact_extract
feats = json.load(open("sites.geojson"))["features"]
ops = ["median", "quantile(q=0.1)", "quantile(q=0.25)", "quantile(q=0.9)"]
with rasterio.open(sys.argv[1]) as r:
    res = exact_extract(r, feats, ops, include_cols=["site_id"], output="geojson")
out = {}
for f in res:
    p = f["properties"]
    sid = p.pop("site_id")
    out[sid] = {k: float(v) for k, v in p.items()}
json.dump(out, open(sys.argv[2], "w"), indent=1)
"#;

/// The docs' note on integer rasters (docs/local-engine.md, *Statistics*): on the same int32 raster
/// exactextract 0.3.0 truncates its quantiles to the raster's integer type, geepipe does not. The same
/// pixels written as float64 make exactextract's quantiles geepipe's; written as int32 they are those
/// values truncated toward zero, and geepipe gives the same untruncated values on both files.
#[test]
fn integer_raster_percentiles_are_not_truncated_as_exactextract_does() {
    const W: u32 = 12;
    const H: u32 = 10;
    const PX: f64 = 0.5;
    let (x0, y0) = (-50.0, -10.0);
    let mut s = 17u64;
    let values: Vec<i32> = (0..W * H)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) % 201) as i32 - 100
        })
        .collect();
    let t = Transform { x0, dx: PX, y0, dy: -PX };
    let rect = |c0: f64, r0: f64, c1: f64, r1: f64| {
        let (a, b) = (x0 + c0 * PX, y0 - r0 * PX);
        let (c, d) = (x0 + c1 * PX, y0 - r1 * PX);
        json!({"type": "Polygon", "coordinates": [[[a, b], [c, b], [c, d], [a, d], [a, b]]]})
    };
    let sites = [
        ("whole_2x2", rect(1.0, 1.0, 3.0, 3.0)),
        ("whole_3x5", rect(4.0, 2.0, 7.0, 7.0)),
        ("whole_4x1", rect(8.0, 6.0, 12.0, 7.0)),
        ("partial", rect(0.25, 5.5, 3.75, 9.25)),
        ("star", {
            // star() draws radii of 2–11 units: a quarter of that, in degrees, around cell (7.5, 5).
            let (cx, cy) = (x0 + 7.5 * PX, y0 - 5.0 * PX);
            let mut r: Vec<[f64; 2]> =
                star(0.0, 0.0, 9, 5).iter().map(|p| [cx + p[0] * 0.25, cy + p[1] * 0.25]).collect();
            r.push(r[0]);
            json!({"type": "Polygon", "coordinates": [r]})
        }),
    ];
    let features: Vec<Value> = sites.iter().map(|(id, g)| feature(id, g.clone())).collect();
    let pipeline = r#"
name: q
engine: local
sites: {file: sites.geojson, id: site_id}
years: [2020]
layers:
  - name: int
    kind: continuous
    stats: [median, p10, p25, p90]
    local: int.tif
  - name: float
    kind: continuous
    stats: [median, p10, p25, p90]
    local: float.tif
export: {to: local, folder: out}
output: {path: out/table.csv}
"#;
    let test = Test::new()
        .file("sites.geojson", &json!({"type": "FeatureCollection", "features": features}).to_string())
        .file("q.yaml", pipeline)
        .args(["run", "q.yaml"]);
    for (name, bands) in [
        ("int.tif", Samples::I32(values.clone())),
        ("float.tif", Samples::F64(values.iter().map(|&v| v as f64).collect())),
    ] {
        let spec = WriteSpec {
            width: W,
            height: H,
            bands: vec![bands],
            layout: Layout::Strips { rows: 3 },
            compress: Compress::None,
            transform: t,
            nodata: None,
            epsg: 4326,
        };
        write(&test.path().join(name), &spec).unwrap();
    }
    let out = test.code(0);
    let venv = test_venv();
    std::fs::write(test.path().join("q.py"), PY_QUANTILES).unwrap();
    let mut ee = BTreeMap::new();
    for name in ["int", "float"] {
        let status = std::process::Command::new(venv.join("python"))
            .args(["q.py", &format!("{name}.tif"), &format!("{name}.json")])
            .current_dir(test.path())
            .status()
            .unwrap();
        assert!(status.success(), "exactextract script failed on {name}.tif");
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(test.path().join(format!("{name}.json"))).unwrap()).unwrap();
        ee.insert(name, v);
    }
    let mut ours: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    let mut rdr = csv::Reader::from_path(out.dir.join("out/table.csv")).unwrap();
    for row in rdr.deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        assert_eq!(row["kind"], "continuous", "{row:?}");
        ours.insert((row["site_id"].clone(), row["layer"].clone(), row["stat"].clone()), row["value"].parse().unwrap());
    }
    let names = [("median", "median"), ("p10", "quantile_10"), ("p25", "quantile_25"), ("p90", "quantile_90")];
    let mut truncated = 0;
    for (id, _) in &sites {
        for (stat, theirs) in names {
            let int = ours[&(id.to_string(), "int".to_string(), stat.to_string())];
            let float = ours[&(id.to_string(), "float".to_string(), stat.to_string())];
            assert_eq!(int, float, "{id} {stat}: geepipe reads both sample types alike");
            let ee_float = ee["float"][id][theirs].as_f64().unwrap();
            let ee_int = ee["int"][id][theirs].as_f64().unwrap();
            assert!(close(float, ee_float, 1e-7), "{id} {stat}: geepipe {float} vs exactextract on float64 {ee_float}");
            assert_eq!(ee_int, ee_float.trunc(), "{id} {stat}: exactextract on int32 truncates {ee_float}");
            if ee_int != int {
                truncated += 1;
            }
        }
    }
    assert!(truncated >= 5, "only {truncated} quantiles differ by exactextract's truncation: the data shows nothing");
}
