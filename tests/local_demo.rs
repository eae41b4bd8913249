//! `geepipe run pipelines/demo-local.yaml`: the offline demo end to end, checked against area and pixel
//! counts computed independently here (whole-raster decoding with the `tiff` crate, per-cell polygon
//! clipping, geodesic cell areas from the authalic latitude), plus the engine's error paths.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{repo_root, Test};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The shipped demo pipeline, rewritten to read the repository's demo data and write into `out/`.
fn demo_pipeline() -> String {
    let text = std::fs::read_to_string(repo_root().join("pipelines/demo-local.yaml")).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema=../schemas/pipeline.schema.json\n"));
    let demo = repo_root().join("demo");
    text.replace("../demo/", &format!("{}/", demo.display())).replace("../results/", "out/")
}

// ---- independent reference ------------------------------------------------------------------------

struct Raster {
    w: usize,
    h: usize,
    x0: f64,
    y0: f64,
    px: f64,
    values: Vec<u8>,
    nodata: u8,
}

fn read_raster(path: &Path) -> Raster {
    use tiff::decoder::{Decoder, DecodingResult};
    use tiff::tags::Tag;
    let mut d = Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    let (w, h) = d.dimensions().unwrap();
    let scale = d.get_tag(Tag::Unknown(33550)).unwrap().into_f64_vec().unwrap();
    let tie = d.get_tag(Tag::Unknown(33922)).unwrap().into_f64_vec().unwrap();
    let nodata: u8 =
        d.get_tag(Tag::Unknown(42113)).unwrap().into_string().unwrap().trim_end_matches('\0').parse().unwrap();
    assert_eq!(scale[0], scale[1]);
    let values = match d.read_image().unwrap() {
        DecodingResult::U8(v) => v,
        _ => panic!("the demo rasters are uint8"),
    };
    Raster { w: w as usize, h: h as usize, x0: tie[3], y0: tie[4], px: scale[0], values, nodata }
}

fn ring_area(p: &[[f64; 2]]) -> f64 {
    // Relative to the first vertex, to avoid cancellation.
    let o = p[0];
    let mut s = 0.0;
    for i in 0..p.len() {
        let (a, b) = (p[i], p[(i + 1) % p.len()]);
        s += (a[0] - o[0]) * (b[1] - o[1]) - (b[0] - o[0]) * (a[1] - o[1]);
    }
    (s / 2.0).abs()
}

/// Area of a ring clipped to an axis-aligned box (Sutherland–Hodgman).
fn clip_area(ring: &[[f64; 2]], xmin: f64, xmax: f64, ymin: f64, ymax: f64) -> f64 {
    let mut pts: Vec<[f64; 2]> = ring.to_vec();
    for (axis, bound, keep_ge) in [(0, xmin, true), (0, xmax, false), (1, ymin, true), (1, ymax, false)] {
        let inside = |p: &[f64; 2]| if keep_ge { p[axis] >= bound } else { p[axis] <= bound };
        let mut next = Vec::new();
        for j in 0..pts.len() {
            let (p, q) = (pts[j], pts[(j + 1) % pts.len()]);
            if inside(&p) {
                next.push(p);
            }
            if inside(&p) != inside(&q) {
                let t = (bound - p[axis]) / (q[axis] - p[axis]);
                next.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
            }
        }
        pts = next;
        if pts.is_empty() {
            return 0.0;
        }
    }
    ring_area(&pts)
}

/// Geodesic area of a lat/lon cell on WGS84 via the authalic latitude β:
/// A = Δλ · R_q² · (sin β₂ − sin β₁), with q(φ) as in Snyder (1987), eq. 3-12.
fn cell_area(lon0: f64, lon1: f64, lat0: f64, lat1: f64) -> f64 {
    let a = 6_378_137.0f64;
    let f = 1.0 / 298.257_223_563;
    let e2: f64 = f * (2.0 - f);
    let e = e2.sqrt();
    let q = |phi: f64| {
        let s = phi.to_radians().sin();
        (1.0 - e2) * (s / (1.0 - e2 * s * s) - (1.0 / (2.0 * e)) * ((1.0 - e * s) / (1.0 + e * s)).ln())
    };
    let qp = q(90.0);
    let rq2 = a * a * qp / 2.0;
    let sin_beta = |phi: f64| q(phi) / qp;
    ((lon1 - lon0).to_radians() * rq2 * (sin_beta(lat1) - sin_beta(lat0))).abs()
}

fn polygons(g: &Value) -> Vec<Vec<Vec<[f64; 2]>>> {
    let ring = |r: &Value| -> Vec<[f64; 2]> {
        let mut v: Vec<[f64; 2]> =
            r.as_array().unwrap().iter().map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()]).collect();
        v.pop();
        v
    };
    let poly = |p: &Value| p.as_array().unwrap().iter().map(ring).collect::<Vec<_>>();
    match g["type"].as_str().unwrap() {
        "Polygon" => vec![poly(&g["coordinates"])],
        _ => g["coordinates"].as_array().unwrap().iter().map(poly).collect(),
    }
}

/// (site, year) → Some(code → (ha, px)) or None when the site has no valid pixel.
type Expected = BTreeMap<(String, i32), Option<BTreeMap<i64, (f64, f64)>>>;

fn expected() -> Expected {
    let sites: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("demo/sites.geojson")).unwrap()).unwrap();
    let mut out = Expected::new();
    for year in 2020..=2022 {
        let r = read_raster(&repo_root().join(format!("demo/lulc_{year}.tif")));
        let r0 = &r;
        for f in sites["features"].as_array().unwrap() {
            let id = f["properties"]["site_id"].as_str().unwrap().to_string();
            if f["properties"]["planted"].as_i64().is_some_and(|p| i64::from(year) < p) {
                continue;
            }
            // Degrees relative to the raster's top-left corner (small numbers: precise clipping).
            let polys: Vec<Vec<Vec<[f64; 2]>>> = polygons(&f["geometry"])
                .into_iter()
                .map(|p| p.into_iter().map(|r| r.into_iter().map(|[x, y]| [x - r0.x0, y - r0.y0]).collect()).collect())
                .collect();
            let mut classes: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
            for row in 0..r.h {
                let (top, bottom) = (r.y0 - row as f64 * r.px, r.y0 - (row + 1) as f64 * r.px);
                for col in 0..r.w {
                    let (left, right) = (r.x0 + col as f64 * r.px, r.x0 + (col + 1) as f64 * r.px);
                    let mut covered = 0.0;
                    let (l, rr) = (col as f64 * r.px, (col + 1) as f64 * r.px);
                    let (b, t) = (-((row + 1) as f64) * r.px, -(row as f64) * r.px);
                    for p in &polys {
                        for (i, ring) in p.iter().enumerate() {
                            let a = clip_area(ring, l, rr, b, t);
                            covered += if i == 0 { a } else { -a };
                        }
                    }
                    let frac = covered / (r.px * r.px);
                    let v = r.values[row * r.w + col];
                    if frac <= 1e-12 || v == r.nodata {
                        continue;
                    }
                    let e = classes.entry(i64::from(v)).or_default();
                    e.0 += frac * cell_area(left, right, bottom, top) / 10_000.0;
                    e.1 += frac;
                }
            }
            out.insert((id, year), if classes.is_empty() { None } else { Some(classes) });
        }
    }
    out
}

/// Diagnostics text without the renderer's line wrapping and margin characters.
fn flat(s: &str) -> String {
    s.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-12
}

// ---- tests -------------------------------------------------------------------------------------------

#[test]
fn demo_table_matches_an_independent_computation() {
    let t = Test::new().file("demo-local.yaml", &demo_pipeline()).args(["run", "demo-local.yaml"]);
    let out = t.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("local run `demo-local`: 6 sites × 3 layer-years on "), "{}", out.stdout);
    assert_eq!(lines[1].trim(), "17 site-years in the table, 3 without valid pixels; 37 rows");
    // A first run computes every site: one cell per site-year (one statistic, the class histogram).
    assert_eq!(lines[2].trim(), "this run computed 6 site(s) (17 cells); 0 site(s) came whole from the results store");
    // The coverage per layer (17 site-years, 3 of them without valid pixels).
    assert_eq!(lines[3].trim(), "mapbiomas_lulc: 14 of 17 site-years have values");
    assert_eq!(lines[4].trim(), "table:    out/demo-local.csv");
    assert_eq!(lines[5].trim(), "manifest: out/demo-local.manifest.json");
    assert_eq!(out.stderr, "");
    // The same run again computes nothing and says where the table's values came from.
    let again = t.code(0);
    let second: Vec<&str> = again.stdout.lines().collect();
    assert_eq!(second[1].trim(), "17 site-years in the table, 3 without valid pixels; 37 rows");
    assert_eq!(
        second[2].trim(),
        "this run computed 0 site(s) (0 cells); 6 site(s) came whole from the results store (`--fresh` recomputes them)"
    );

    let table = out.dir.join("out/demo-local.csv");
    let text = std::fs::read_to_string(&table).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
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
    let mut got = Expected::new();
    let mut order = Vec::new();
    for row in rdr.records() {
        let row = row.unwrap();
        let key = (row[0].to_string(), row[3].parse::<i32>().unwrap());
        order.push((row[0].to_string(), key.1, row[5].parse::<i64>().unwrap_or(-1)));
        assert_eq!(&row[2], "mapbiomas_lulc");
        match &row[4] {
            "nodata" => {
                assert!(got.insert(key, None).is_none());
            }
            "categorical" => {
                let code: i64 = row[5].parse().unwrap();
                let legend = geepipe::catalog::get("mapbiomas_lulc").and_then(|l| l.legend).unwrap_or_default();
                let name = legend.iter().find(|e| e.code == code).map(|e| e.name.as_str()).unwrap_or("");
                assert!(!legend.is_empty());
                assert_eq!(&row[6], name, "legend names come from the catalog");
                let e = got.entry(key).or_insert_with(|| Some(BTreeMap::new()));
                e.as_mut().unwrap().insert(code, (row[7].parse().unwrap(), row[8].parse().unwrap()));
            }
            other => panic!("unexpected kind {other}"),
        }
    }
    let want = expected();
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "site-years");
    for (k, w) in &want {
        let g = &got[k];
        match (g, w) {
            (None, None) => {}
            (Some(g), Some(w)) => {
                assert_eq!(g.keys().collect::<Vec<_>>(), w.keys().collect::<Vec<_>>(), "{k:?} classes");
                for (code, (ha, px)) in w {
                    let (gha, gpx) = g[code];
                    assert!(close(gha, *ha), "{k:?} class {code}: {gha} ha vs {ha} ha");
                    assert!(close(gpx, *px), "{k:?} class {code}: {gpx} px vs {px} px");
                }
            }
            _ => panic!("{k:?}: geepipe {g:?} vs reference {w:?}"),
        }
    }
    // Rows in site-file order, then year, then class code.
    let site_order = ["a", "b", "c", "d", "e", "f"];
    let mut sorted = order.clone();
    sorted.sort_by_key(|(s, y, c)| (site_order.iter().position(|x| x == s), *y, *c));
    assert_eq!(order, sorted);

    // The manifest describes this table and its inputs.
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/demo-local.manifest.json")).unwrap()).unwrap();
    assert_eq!(m["engine"], "local");
    assert_eq!(m["catalog_version"], geepipe::catalog::VERSION);
    assert_eq!(m["table"]["sha256"], hex::encode(Sha256::digest(text.as_bytes())));
    assert_eq!(m["table"]["rows"], 37);
    assert_eq!(m["totals"]["nodata_site_years"], 3);
    let rasters: Vec<&Value> = m["inputs"].as_array().unwrap().iter().filter(|i| i["kind"] == "raster").collect();
    assert_eq!(rasters.len(), 3);
    for r in rasters {
        let len = std::fs::metadata(r["location"].as_str().unwrap()).unwrap().len();
        assert_eq!(r["bytes"], len);
    }

    // Running again gives the same table, byte for byte.
    let again = t.code(0);
    assert_eq!(std::fs::read_to_string(again.dir.join("out/demo-local.csv")).unwrap(), text);
}

#[test]
fn wide_geojson_output_has_one_feature_per_site() {
    let p = demo_pipeline()
        .replace("  path: out/demo-local.csv", "  path: out/demo.geojson\n  format: geojson\n  layout: wide");
    let t = Test::new().file("demo-local.yaml", &p).args(["run", "demo-local.yaml"]);
    let out = t.code(0);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/demo.geojson")).unwrap()).unwrap();
    let f = v["features"].as_array().unwrap();
    assert_eq!(f.len(), 6);
    assert_eq!(f[2]["geometry"]["type"], "MultiPolygon");
    let b = &f[1]["properties"];
    assert_eq!(b["site_id"], "b");
    assert_eq!(b["mapbiomas_lulc__2020__3__ha"], Value::Null, "before the site's first year");
    assert!(b["mapbiomas_lulc__2021__3__ha"].as_f64().unwrap() > 0.0);
    assert_eq!(f[5]["properties"]["mapbiomas_lulc__2022__3__ha"], Value::Null, "no data");
}

#[test]
fn missing_rasters_are_all_reported_and_nothing_is_written() {
    let p = demo_pipeline().replace("years: 2020..2022", "years: 2018..2021");
    let t = Test::new()
        .file("demo-local.yaml", &p)
        .file("out/demo-local.csv", "old table\n")
        .args(["run", "demo-local.yaml"]);
    let out = t.code(2);
    for y in [2018, 2019] {
        let flat = flat(&out.stderr);
        assert!(flat.contains(&format!("year {y}: cannot open raster")), "{flat}");
        assert!(flat.contains(&format!("lulc_{y}.tif")), "{flat}");
    }
    assert!(!out.stderr.contains("year 2020"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(std::fs::read_to_string(out.dir.join("out/demo-local.csv")).unwrap(), "old table\n");
    assert!(!out.dir.join("out/demo-local.manifest.json").exists());
}

#[test]
fn unsupported_projections_are_refused_naming_them() {
    use geepipe::local::geotiff::{patch_tag, write, Compress, Layout, Samples, Transform, WriteSpec};
    let p = demo_pipeline()
        .replace(&format!("{}/lulc_{{{{year}}}}.tif", repo_root().join("demo").display()), "vdg_{{year}}.tif");
    let t = Test::new().file("demo-local.yaml", &p).args(["run", "demo-local.yaml"]);
    for year in 2020..=2022 {
        let spec = WriteSpec {
            width: 8,
            height: 8,
            bands: vec![Samples::U8(vec![3; 64])],
            layout: Layout::Strips { rows: 8 },
            compress: Compress::None,
            transform: Transform { x0: 180000.0, dx: 30.0, y0: 8250000.0, dy: -30.0 },
            nodata: None,
            epsg: 32723,
        };
        let path = t.path().join(format!("vdg_{year}.tif"));
        write(&path, &spec).unwrap();
        // A user-defined Van der Grinten projection (ProjCoordTransGeoKey 25), which proj4rs lacks.
        patch_tag(&path, 34735, &[1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3075, 0, 1, 25]).unwrap();
    }
    let out = t.code(2);
    let flat = flat(&out.stderr);
    assert!(
        flat.contains("the projection method Van der Grinten (ProjCoordTransGeoKey 25) is not supported"),
        "{flat}"
    );
    assert!(flat.contains("gdalwarp -t_srs EPSG:4326"), "{flat}");
    assert!(!out.dir.join("out").exists());
}

#[test]
fn sites_larger_than_a_coverage_block_and_many_tiles_add_up_exactly() {
    use geepipe::local::geotiff::{write, Compress, Layout, Samples, Transform, WriteSpec};
    // 1100 × 700 cells of 0.001°, a quarter of them class 2 (in columns ≥ 825), the rest class 1.
    let (w, h, px, x0, y0) = (1100u32, 700u32, 0.001, 10.0, 5.0);
    let values: Vec<u8> = (0..w * h).map(|i| if i % w >= 825 { 2 } else { 1 }).collect();
    let spec = WriteSpec {
        width: w,
        height: h,
        bands: vec![Samples::U8(values)],
        layout: Layout::Tiles { width: 256, height: 256 },
        compress: Compress::Deflate,
        transform: Transform { x0, dx: px, y0, dy: -px },
        nodata: None,
        epsg: 4326,
    };
    // A triangle spanning three coverage blocks across and two down, cut by the raster's east edge.
    let cells = [[3.3, 2.7], [1180.0, 350.25], [20.125, 690.5]];
    let ring: Vec<Value> =
        cells.iter().chain(&cells[..1]).map(|c| serde_json::json!([x0 + c[0] * px, y0 - c[1] * px])).collect();
    let sites = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": 1}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    ]});
    let pipeline = "engine: local\nsites: {file: s.geojson, id: id}\nyears: [2020]\nlayers:\n  - {name: c, kind: categorical, local: big.tif}\nexport: {to: local}\noutput: {path: out.csv}\n";
    let t = Test::new().file("s.geojson", &sites.to_string()).file("p.yaml", pipeline).args(["run", "p.yaml"]);
    write(&t.path().join("big.tif"), &spec).unwrap();
    let out = t.code(0);
    let mut got = BTreeMap::new();
    for row in csv::Reader::from_path(out.dir.join("out.csv")).unwrap().records() {
        let row = row.unwrap();
        got.insert(row[4].parse::<i64>().unwrap(), row[7].parse::<f64>().unwrap());
    }
    // Reference: the triangle clipped to the raster's columns [0, 825) and [825, 1100), in cell units.
    let tri: Vec<[f64; 2]> = cells.to_vec();
    let (a1, a2) = (clip_area(&tri, 0.0, 825.0, 0.0, 700.0), clip_area(&tri, 825.0, 1100.0, 0.0, 700.0));
    assert!(close(got[&1], a1), "class 1: {} vs {a1}", got[&1]);
    assert!(close(got[&2], a2), "class 2: {} vs {a2}", got[&2]);
}

#[test]
fn continuous_layers_read_their_bands_in_order_and_skip_nan() {
    use geepipe::local::geotiff::{write_with, Compress, Layout, Samples, Transform, WriteSpec};
    // Band 1 holds the column index, band 2 ten times the row index, NaN in its first row.
    let (w, h) = (40u32, 30u32);
    let b1: Vec<f32> = (0..w * h).map(|i| (i % w) as f32).collect();
    let b2: Vec<f32> = (0..w * h).map(|i| if i < w { f32::NAN } else { (i / w) as f32 * 10.0 }).collect();
    let spec = WriteSpec {
        width: w,
        height: h,
        bands: vec![Samples::F32(b1), Samples::F32(b2)],
        layout: Layout::Tiles { width: 16, height: 16 },
        compress: Compress::Lzw,
        transform: Transform { x0: 0.0, dx: 0.5, y0: 0.0, dy: -0.5 },
        nodata: None,
        epsg: 4326,
    };
    // Cells 10..20 across and 0..4 down (the NaN row and three more), exactly.
    let ring = serde_json::json!([[[5.0, 0.0], [10.0, 0.0], [10.0, -2.0], [5.0, -2.0], [5.0, 0.0]]]);
    let sites = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "x"}, "geometry": {"type": "Polygon", "coordinates": ring}}
    ]});
    let pipeline = "engine: local\nsites: {file: s.geojson, id: id}\nyears: [2020]\nlayers:\n  - {name: v, kind: continuous, bands: [col, row], stats: [mean, count, max], local: v.tif}\nexport: {to: local}\noutput: {path: out.csv}\n";
    for planar in [false, true] {
        let t = Test::new().file("s.geojson", &sites.to_string()).file("p.yaml", pipeline).args(["run", "p.yaml"]);
        write_with(&t.path().join("v.tif"), &spec, planar).unwrap();
        let out = t.code(0);
        let mut got = BTreeMap::new();
        for row in csv::Reader::from_path(out.dir.join("out.csv")).unwrap().records() {
            let row = row.unwrap();
            got.insert(format!("{}.{}", &row[8], &row[9]), row[10].parse::<f64>().unwrap());
        }
        let want: BTreeMap<String, f64> = [
            ("col.mean", 14.5),
            ("col.count", 40.0),
            ("col.max", 19.0),
            ("row.mean", 20.0),
            ("row.count", 30.0),
            ("row.max", 30.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(got, want, "planar: {planar}");
    }
}

#[test]
fn a_geojson_output_path_without_format_writes_geojson_and_a_device_is_never_replaced() {
    let p = demo_pipeline().replace("  path: out/demo-local.csv", "  path: out/demo.geojson");
    let t = Test::new().file("demo-local.yaml", &p).args(["run", "demo-local.yaml"]);
    let out = t.code(0);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/demo.geojson")).unwrap()).unwrap();
    assert_eq!(v["type"], "FeatureCollection");
    assert!(v["features"].as_array().unwrap().len() >= 6);
    // A device node as the table: refused before anything runs, and left a device.
    let p = demo_pipeline().replace("  path: out/demo-local.csv", "  path: /dev/null");
    let out = Test::new().file("demo-local.yaml", &p).args(["run", "demo-local.yaml"]).code(2);
    assert!(out.stderr.contains("is not a regular file"), "{}", out.stderr);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
}

/// The cells (site × year of the single categorical layer) a run of the demo over `years` needs: a site
/// planted in year `p` needs no year before `p` (read from the site file here, not from geepipe).
fn demo_cells(years: std::ops::RangeInclusive<i32>) -> i64 {
    let sites: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("demo/sites.geojson")).unwrap()).unwrap();
    let planted: Vec<Option<i64>> =
        sites["features"].as_array().unwrap().iter().map(|f| f["properties"]["planted"].as_i64()).collect();
    years.map(|y| planted.iter().filter(|p| p.is_none_or(|p| p <= i64::from(y))).count() as i64).sum()
}

/// What each local run wrote to the results store, in order (`origins.cells`).
fn local_runs(dir: &Path) -> Vec<i64> {
    let db = rusqlite::Connection::open(dir.join("out/.geepipe/demo-local.store.sqlite")).unwrap();
    let mut st = db.prepare("SELECT cells FROM origins WHERE kind = 'local' ORDER BY id").unwrap();
    let rows = st.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// A rerun of the local engine computes only what the results store lacks: one more year computes that
/// year alone (counted by what each run wrote to the store) and gives the table of a fresh run in a new
/// folder; an unchanged rerun computes nothing and writes the same bytes; `--fresh` computes every cell again
/// (replacing the stored ones) and still gives the same table.
#[test]
fn a_local_rerun_computes_only_the_missing_layer_years() {
    let three = demo_pipeline();
    assert!(three.contains("years: 2020..2022"));
    let two = three.replace("years: 2020..2022", "years: 2020..2021");
    let t = Test::new().file("d.yaml", &two).args(["run", "d.yaml"]);
    t.code(0);
    assert_eq!(local_runs(t.path()), [demo_cells(2020..=2021)]);
    std::fs::write(t.path().join("d.yaml"), &three).unwrap();
    t.code(0);
    assert_eq!(local_runs(t.path()), [demo_cells(2020..=2021), demo_cells(2022..=2022)], "only 2022 is computed");
    let table = std::fs::read(t.path().join("out/demo-local.csv")).unwrap();
    let fresh = Test::new().file("d.yaml", &three).args(["run", "d.yaml"]);
    fresh.code(0);
    assert_eq!(
        String::from_utf8_lossy(&table),
        String::from_utf8_lossy(&std::fs::read(fresh.path().join("out/demo-local.csv")).unwrap()),
        "the incremental table is the fresh run's"
    );
    // Unchanged: nothing computed, the same bytes.
    t.code(0);
    assert_eq!(local_runs(t.path())[2], 0, "an unchanged rerun computes nothing");
    assert_eq!(std::fs::read(t.path().join("out/demo-local.csv")).unwrap(), table);
    // --fresh: every cell again, replacing what was stored (each cell then comes from that run).
    let t = t.then(["run", "d.yaml", "--fresh"]);
    t.code(0);
    assert_eq!(local_runs(t.path())[3], demo_cells(2020..=2022), "--fresh computes every cell");
    let db = rusqlite::Connection::open(t.path().join("out/.geepipe/demo-local.store.sqlite")).unwrap();
    let (cells, from_fresh): (i64, i64) = db
        .query_row("SELECT count(*), sum(origin = (SELECT max(id) FROM origins)) FROM cells", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((cells, from_fresh), (demo_cells(2020..=2022), demo_cells(2020..=2022)));
    assert_eq!(std::fs::read(t.path().join("out/demo-local.csv")).unwrap(), table);
}
