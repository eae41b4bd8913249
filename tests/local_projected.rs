//! Projected rasters against GDAL, PROJ and exactextract: an Albers raster with a user-defined projection
//! (no EPSG code: GeoKeys with the method, parameters and ellipsoid) and a UTM raster with an EPSG code,
//! both written by GDAL (rasterio). The same WGS 84 sites are reprojected by pyproj (every edge cut into
//! 512 pieces, straight in longitude/latitude) and given to exactextract; per site and class the
//! coverage-weighted pixel counts, and the areas (Albers: the cell's plane area, which is its area on the
//! ellipsoid; UTM: each cell's footprint measured by pyproj's geodesic polygon area), must agree within
//! 1e-6 relative.

mod common;

use std::collections::BTreeMap;

use common::{test_venv, Test};
use serde_json::Value;

const PY: &str = r#"
import json, math, sys
import numpy as np
import rasterio
from rasterio.transform import from_origin
from pyproj import CRS, Transformer, Geod
from exactextract import exact_extract

rng = np.random.default_rng(7)
W, H, PX = 400, 300, 30.0
CENTRE = (-45.6, -12.4)
CRSS = {
    # Brazil's Albers (IBGE) on GRS 1980: not an EPSG code, so GDAL writes user-defined GeoKeys.
    "albers": CRS.from_proj4("+proj=aea +lat_0=-32 +lon_0=-60 +lat_1=-5 +lat_2=-42 +x_0=0 +y_0=0 "
                             "+ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs"),
    # SIRGAS 2000 / UTM zone 23S.
    "utm": CRS.from_epsg(31983),
}

def classes():
    base = rng.integers(1, 6, size=(H // 4 + 1, W // 4 + 1)).repeat(4, 0).repeat(4, 1)[:H, :W]
    noise = rng.integers(1, 6, size=(H, W))
    v = np.where(rng.random((H, W)) < 0.3, noise, base).astype("uint8")
    v[H // 3:H // 3 + 15, W // 2:W // 2 + 20] = 0
    return v

def densify(ring, n=512):
    out = []
    for (x0, y0), (x1, y1) in zip(ring, ring[1:]):
        for k in range(n):
            t = k / n
            out.append((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
    out.append(ring[-1])
    return out

def reproject(geom, to):
    def ring(r):
        xs, ys = to.transform(*zip(*densify(r)))
        return list(zip(xs, ys))
    if geom["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [ring(r) for r in geom["coordinates"]]}
    return {"type": "MultiPolygon", "coordinates": [[ring(r) for r in p] for p in geom["coordinates"]]}

feats = json.load(open("sites.geojson"))["features"]
reference = {}
for name, crs in CRSS.items():
    to = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    cx, cy = to.transform(*CENTRE)
    x0 = math.floor((cx - W * PX / 2) / PX) * PX
    y0 = math.floor((cy + H * PX / 2) / PX) * PX
    profile = dict(driver="GTiff", width=W, height=H, count=1, dtype="uint8", crs=crs,
                   transform=from_origin(x0, y0, PX, PX), nodata=0, tiled=True,
                   blockxsize=128, blockysize=128, compress="deflate")
    with rasterio.open(f"{name}.tif", "w", **profile) as dst:
        dst.write(classes(), 1)
    # Each cell's footprint area on the CRS's own ellipsoid (UTM); the plane area for Albers.
    back = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    ell = crs.ellipsoid
    geod = Geod(a=ell.semi_major_metre, b=ell.semi_minor_metre)
    def cell_area(x, y):
        if name == "albers":
            return PX * PX
        xs = [x - PX / 2, x + PX / 2, x + PX / 2, x - PX / 2]
        ys = [y + PX / 2, y + PX / 2, y - PX / 2, y - PX / 2]
        lons, lats = back.transform(xs, ys)
        return abs(geod.polygon_area_perimeter(lons, lats)[0])
    projected = [{"type": "Feature", "id": f["properties"]["id"], "properties": {"site": f["properties"]["id"]},
                  "geometry": reproject(f["geometry"], to)}
                 for f in feats]
    with rasterio.open(f"{name}.tif") as r:
        res = exact_extract(r, projected, ["coverage", "values", "center_x", "center_y"],
                            include_cols=["site"], output="geojson")
    out = {}
    for f in res:
        p = f["properties"]
        per = {}
        for c, v, x, y in zip(p["coverage"], p["values"], p["center_x"], p["center_y"]):
            if v is None or v != v or int(v) == 0 or c <= 0:
                continue
            e = per.setdefault(str(int(v)), [0.0, 0.0])
            e[0] += float(c)
            e[1] += float(c) * cell_area(x, y)
        out[p["site"]] = per
    reference[name] = out
json.dump(reference, open("reference.json", "w"), indent=1)
"#;

/// WGS 84 sites around the rasters' centre (−45.6, −12.4): stars, a hole, a MultiPolygon, one over the
/// rasters' edges, one with 10 km edges (densification), one outside.
fn sites() -> Value {
    let (cx, cy) = (-45.6, -12.4);
    let mut seed = 11u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut star = |x: f64, y: f64, r: f64, n: usize| -> Vec<[f64; 2]> {
        let mut v: Vec<[f64; 2]> = (0..n)
            .map(|k| {
                let t = (k as f64 + rnd() * 0.7) / n as f64 * std::f64::consts::TAU;
                let rr = r * (0.4 + 0.6 * rnd());
                [x + rr * t.cos(), y + rr * t.sin()]
            })
            .collect();
        v.push(v[0]);
        v
    };
    let mut features = Vec::new();
    let mut add = |id: &str, geometry: Value| {
        features.push(serde_json::json!({"type": "Feature", "properties": {"id": id}, "geometry": geometry}));
    };
    for (i, (dx, dy, r)) in
        [(0.0, 0.0, 0.01), (0.03, 0.02, 0.006), (-0.035, -0.015, 0.012), (0.02, -0.025, 0.004)].into_iter().enumerate()
    {
        add(
            &format!("star{i}"),
            serde_json::json!({"type": "Polygon", "coordinates": [star(cx + dx, cy + dy, r, 9 + 2 * i)]}),
        );
    }
    let hole =
        vec![[cx - 0.002, cy + 0.03], [cx + 0.003, cy + 0.031], [cx + 0.001, cy + 0.026], [cx - 0.002, cy + 0.03]];
    add("holed", serde_json::json!({"type": "Polygon", "coordinates": [star(cx, cy + 0.029, 0.009, 12), hole]}));
    add(
        "multi",
        serde_json::json!({"type": "MultiPolygon", "coordinates": [[star(cx - 0.02, cy + 0.015, 0.005, 7)], [star(cx + 0.045, cy - 0.01, 0.007, 8)]]}),
    );
    // Over the east edge of the rasters (they span about ±0.055° × ±0.04°).
    add("edge", serde_json::json!({"type": "Polygon", "coordinates": [star(cx + 0.056, cy + 0.005, 0.012, 10)]}));
    // Long straight longitude/latitude edges (about 10 km): their images curve in both projections.
    add(
        "long",
        serde_json::json!({"type": "Polygon", "coordinates": [[[cx - 0.05, cy - 0.035], [cx + 0.045, cy - 0.03], [cx - 0.01, cy + 0.037], [cx - 0.05, cy - 0.035]]]}),
    );
    add("outside", serde_json::json!({"type": "Polygon", "coordinates": [star(cx + 0.5, cy, 0.01, 6)]}));
    serde_json::json!({"type": "FeatureCollection", "features": features})
}

#[test]
fn albers_and_utm_rasters_match_exactextract_on_reprojected_polygons() {
    let venv = test_venv();
    let pipeline = "engine: local\nsites: {file: sites.geojson, id: id}\nyears: [2020]\nlayers:\n  - {name: albers, kind: categorical, local: albers.tif}\n  - {name: utm, kind: categorical, local: utm.tif}\nexport: {to: local}\noutput: {path: out/t.csv}\n";
    let t = Test::new().file("sites.geojson", &sites().to_string()).file("p.yaml", pipeline).file("ref.py", PY);
    let status = std::process::Command::new(venv.join("python")).arg("ref.py").current_dir(t.path()).status().unwrap();
    assert!(status.success(), "the reference script failed");
    let t = t.args(["run", "p.yaml"]);
    let out = t.code(0);
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("reference.json")).unwrap()).unwrap();

    // geepipe: layer → site → class → (pixels, m²).
    type Classes = BTreeMap<String, (f64, f64)>;
    let mut got: BTreeMap<String, BTreeMap<String, Classes>> = BTreeMap::new();
    for row in csv::Reader::from_path(out.dir.join("out/t.csv")).unwrap().deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        if row["kind"] != "categorical" {
            continue;
        }
        let px: f64 = row["pixels"].parse().unwrap();
        let m2 = row["area_ha"].parse::<f64>().unwrap() * 1e4;
        got.entry(row["layer"].clone())
            .or_default()
            .entry(row["id"].clone())
            .or_default()
            .insert(row["class_code"].clone(), (px, m2));
    }
    let mut compared = 0;
    let mut worst = (0.0f64, 0.0f64);
    for layer in ["albers", "utm"] {
        for (site, classes) in reference[layer].as_object().unwrap() {
            let ours = got.get(layer).and_then(|l| l.get(site)).cloned().unwrap_or_default();
            let theirs: BTreeMap<String, (f64, f64)> = classes
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())))
                .collect();
            assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "{layer} {site}");
            for (class, (px, m2)) in &theirs {
                let (gpx, gm2) = ours[class];
                let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(b.abs());
                worst = (worst.0.max(rel(gpx, *px)), worst.1.max(rel(gm2, *m2)));
                assert!(rel(gpx, *px) <= 1e-6, "{layer} {site} class {class}: pixels {gpx} vs exactextract {px}");
                assert!(rel(gm2, *m2) <= 1e-6, "{layer} {site} class {class}: area {gm2} m² vs {m2} m²");
                compared += 1;
            }
        }
        assert!(reference[layer]["outside"].as_object().unwrap().is_empty());
    }
    assert!(compared > 60, "compared {compared} classes");
    eprintln!("largest relative difference: pixels {:e}, area {:e}", worst.0, worst.1);
    // The manifest names each raster's coordinate system.
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/t.manifest.json")).unwrap()).unwrap();
    let rasters: Vec<&Value> = m["inputs"].as_array().unwrap().iter().filter(|i| i["kind"] == "raster").collect();
    assert!(rasters[0]["details"]["crs_definition"].as_str().unwrap().contains("+proj=aea"), "{}", rasters[0]);
    assert_eq!(rasters[1]["details"]["crs"], "EPSG:31983");
}
