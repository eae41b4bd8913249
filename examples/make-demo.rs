//! Generates the offline demo data in `demo/`: three years of a small synthetic land-cover map
//! (MapBiomas class codes, EPSG:4326, tiled and Deflate-compressed GeoTIFFs) and six demo sites.
//!
//! `cargo run --example make-demo` rewrites the files; the output is deterministic, so running it again
//! changes nothing (the committed files are what it writes).

use std::path::Path;

use geepipe::local::geotiff::{write, Compress, Layout, Samples, Transform, WriteSpec};

const W: u32 = 400;
const H: u32 = 400;
const X0: f64 = -47.96;
const Y0: f64 = -15.76;
const PX: f64 = 0.00025;

const FOREST: u8 = 3;
const SAVANNA: u8 = 4;
const PASTURE: u8 = 15;
const RIVER: u8 = 33;
const NODATA: u8 = 0;

/// Smooth deterministic noise in [0, 1) (a few sine waves; no randomness so the files never change).
fn field(x: f64, y: f64) -> f64 {
    let v = (x * 0.031).sin() * (y * 0.027).cos()
        + 0.6 * (x * 0.011 + y * 0.017).sin()
        + 0.4 * ((x - y) * 0.045).cos() * (y * 0.009).sin();
    (v / 2.0 + 0.5).clamp(0.0, 0.999)
}

fn class(col: u32, row: u32, year: i32) -> u8 {
    let (x, y) = (col as f64, row as f64);
    // Outside the mapped area: the south-west corner.
    if x + (H - row) as f64 <= 60.0 {
        return NODATA;
    }
    // A meandering river from north to south.
    let centre = 200.0 + 40.0 * (y * 0.02).sin() + 15.0 * (y * 0.07).cos();
    if (x - centre).abs() < 4.0 {
        return RIVER;
    }
    let f = field(x, y);
    // Pasture advances from the east year after year; restoration brings forest back in the north-west.
    let front = 330.0 - 25.0 * f64::from(year - 2020);
    let restored = year >= 2022 && x < 120.0 && y < 140.0 && f > 0.35;
    if restored {
        FOREST
    } else if x > front + 20.0 * f {
        PASTURE
    } else if f < 0.3 {
        SAVANNA
    } else if f < 0.45 && x < 150.0 && y < 150.0 {
        PASTURE
    } else {
        FOREST
    }
}

fn square(lon: f64, lat: f64, size: f64) -> Vec<[f64; 2]> {
    vec![[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
}

fn rings(r: &[[f64; 2]]) -> serde_json::Value {
    serde_json::Value::Array(r.iter().map(|p| serde_json::json!([round(p[0]), round(p[1])])).collect())
}

fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn main() -> Result<(), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for year in 2020..=2022 {
        let values: Vec<u8> = (0..H).flat_map(|r| (0..W).map(move |c| class(c, r, year))).collect();
        let spec = WriteSpec {
            width: W,
            height: H,
            bands: vec![Samples::U8(values)],
            layout: Layout::Tiles { width: 128, height: 128 },
            compress: Compress::Deflate,
            transform: Transform { x0: X0, dx: PX, y0: Y0, dy: -PX },
            nodata: Some(f64::from(NODATA)),
            epsg: 4326,
        };
        let path = dir.join(format!("lulc_{year}.tif"));
        write(&path, &spec).map_err(|e| e.to_string())?;
        println!("wrote {}", path.display());
    }
    // Sites: a plain square, one with a hole, a MultiPolygon, one over the raster's east edge, one partly
    // outside the mapped area (nodata corner), and one entirely outside the raster.
    let a = square(-47.95, -15.80, 0.012);
    let b_outer =
        vec![[-47.925, -15.83], [-47.905, -15.832], [-47.903, -15.812], [-47.924, -15.809], [-47.925, -15.83]];
    let b_hole = square(-47.918, -15.825, 0.006);
    let c1 = vec![[-47.90, -15.78], [-47.893, -15.776], [-47.889, -15.785], [-47.90, -15.78]];
    let c2 = square(-47.885, -15.795, 0.004);
    let d = square(-47.866, -15.81, 0.01);
    let e = vec![[-47.962, -15.857], [-47.95, -15.857], [-47.95, -15.845], [-47.962, -15.845], [-47.962, -15.857]];
    let f = square(-47.70, -15.70, 0.01);
    let feature = |id: &str, name: &str, planted: serde_json::Value, geometry: serde_json::Value| serde_json::json!({"type": "Feature", "properties": {"site_id": id, "name": name, "planted": planted}, "geometry": geometry});
    let poly = |rs: Vec<&Vec<[f64; 2]>>| serde_json::json!({"type": "Polygon", "coordinates": rs.into_iter().map(|r| rings(r)).collect::<Vec<_>>()});
    let sites = serde_json::json!({
        "type": "FeatureCollection",
        "features": [
            feature("a", "Fazenda Boa Vista", 2020.into(), poly(vec![&a])),
            feature("b", "Sítio Esperança", 2021.into(), poly(vec![&b_outer, &b_hole])),
            feature("c", "Reserva Norte", serde_json::Value::Null, serde_json::json!({
                "type": "MultiPolygon",
                "coordinates": [[rings(&c1)], [rings(&c2)]]
            })),
            feature("d", "Lote Ribeirinho", 2020.into(), poly(vec![&d])),
            feature("e", "Canto Sudoeste", 2020.into(), poly(vec![&e])),
            feature("f", "Fora do Mapa", 2020.into(), poly(vec![&f])),
        ]
    });
    let mut text = String::from("{\n  \"type\": \"FeatureCollection\",\n  \"features\": [\n");
    let feats = sites["features"].as_array().cloned().unwrap_or_default();
    for (i, f) in feats.iter().enumerate() {
        text.push_str("    ");
        text.push_str(&serde_json::to_string(f).map_err(|e| e.to_string())?);
        text.push_str(if i + 1 < feats.len() { ",\n" } else { "\n" });
    }
    text.push_str("  ]\n}\n");
    let path = dir.join("sites.geojson");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    println!("wrote {}", path.display());
    Ok(())
}
