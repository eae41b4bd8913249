//! Writes the data of `scripts/bench-local.sh`: a large categorical GeoTIFF (EPSG:4326, tiled 512 × 512,
//! Deflate, uint8 with nodata 0) and a GeoJSON of random star-shaped sites over it (some with holes,
//! some crossing the raster's edges).
//!
//! `cargo run --release --example bench-data -- OUT_DIR SIZE SITES`

use std::io::Write;
use std::path::PathBuf;

use geepipe::local::geotiff::{write, Compress, Layout, Samples, Transform, WriteSpec};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("bench-out"));
    let size: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (x0, y0, px) = (-50.0, -10.0, 0.00025);
    let tif = dir.join("lulc.tif");
    if !tif.exists() {
        let s = size as usize;
        let mut v = vec![0u8; s * s];
        for (i, c) in v.iter_mut().enumerate() {
            let (x, y) = ((i % s) as f64, (i / s) as f64);
            let f =
                (x * 0.013).sin() * (y * 0.011).cos() + 0.5 * ((x + y) * 0.031).sin() + 0.3 * ((x - y) * 0.071).cos();
            *c = if (i % s + i / s) % 997 == 0 {
                0
            } else if f < -0.6 {
                33
            } else if f < 0.0 {
                3
            } else if f < 0.5 {
                15
            } else {
                4
            };
        }
        let spec = WriteSpec {
            width: size,
            height: size,
            bands: vec![Samples::U8(v)],
            layout: Layout::Tiles { width: 512, height: 512 },
            compress: Compress::Deflate,
            transform: Transform { x0, dx: px, y0, dy: -px },
            nodata: Some(0.0),
            epsg: 4326,
        };
        write(&tif, &spec).map_err(|e| e.to_string())?;
    }
    let mut seed = 42u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let span = size as f64 * px;
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("sites.geojson")).map_err(|e| e.to_string())?);
    let mut text = String::from("{\"type\":\"FeatureCollection\",\"features\":[\n");
    for i in 0..n {
        let (cx, cy) = (x0 - 0.01 + rnd() * (span + 0.02), y0 + 0.01 - rnd() * (span + 0.02));
        let radius = px * (10.0 + rnd() * 140.0);
        let k = 8 + (rnd() * 16.0) as usize;
        let mut ring: Vec<[f64; 2]> = (0..k)
            .map(|j| {
                let t = (j as f64 + rnd() * 0.8) / k as f64 * std::f64::consts::TAU;
                let r = radius * (0.5 + 0.5 * rnd());
                [cx + r * t.cos(), cy + r * t.sin()]
            })
            .collect();
        ring.push(ring[0]);
        let mut rings = vec![ring];
        if i % 5 == 0 {
            let h = radius * 0.2;
            rings.push(vec![[cx - h, cy - h], [cx - h, cy + h], [cx + h, cy + h], [cx + h, cy - h], [cx - h, cy - h]]);
        }
        let geometry = serde_json::json!({"type": "Polygon", "coordinates": rings});
        let f = serde_json::json!({"type": "Feature", "id": format!("s{i}"), "properties": {"site_id": format!("s{i}")}, "geometry": geometry});
        text.push_str(&f.to_string());
        text.push_str(if i + 1 < n { ",\n" } else { "\n" });
    }
    text.push_str("]}\n");
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(())
}
