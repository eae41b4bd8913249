//! The deterministic synthetic world the fake computes on: what every asset "contains", as pure
//! functions of (asset, band, image date, location). The evaluator ([`crate::eval`]) reads pixels from
//! here and applies Earth Engine's documented semantics to them; tests compute their expectations from
//! these same definitions with code of their own, never from the planner or geepipe's column contract.
//!
//! The rules (change them only together with the tests that depend on them):
//!
//! - **Native grid.** Every asset's bands live on one global grid of [`NATIVE_DEG`]° cells (≈ 27.8 m)
//!   in EPSG:4326, cell `(i, j)` covering `[i·d, (i+1)·d) × [j·d, (j+1)·d)`. Reading a band at a location
//!   reads the native cell containing it (nearest-neighbour resampling, Earth Engine's default).
//! - **Values** ([`band_value`]): an integer drawn from the band's [`Profile`] by
//!   `hash(asset, band, time, i, j)`; `time` is the image's `system:time_start` (ms) for images of a
//!   collection and absent for single images. Profiles by band name: `classification*` → one of
//!   [`CLASS_CODES`] (MapBiomas-like); `Map` → 10, 20, …, 100; `label` → 0–8; `LC_Type1` → 1–17;
//!   `waterClass` → 0–3; `lossyear` → 0–24; `SCL` → 1–11; `treecover2000` → 0–100; `elevation` →
//!   0–1500; `precipitation` → 0–30; `NDVI`/`EVI` → −2000–10000; `B<n>` → 0–10000; any other → 0–1000.
//! - **No data** ([`is_masked`]): a cell of an image is masked (all bands together) when
//!   `hash(asset, time, i, j, "mask") % 8 == 0`, and everywhere outside latitudes [−60°, 84°] (the
//!   footprint of every asset).
//! - **Collections** ([`collection_times`]): `ImageCollection.load(id)` holds one image every
//!   `4 + hash(id) % 13` days from 1980-01-01T00:00Z up to 2030-12-31, each with `system:time_start`,
//!   `system:index` = `YYYYMMDD` and ([`image_properties`]) `year` = its calendar year; the images of a
//!   MapBiomas land-cover collection (`projects/mapbiomas-public/assets/<country>/lulc/v1`) also carry
//!   `collection_id` = 10.0 and `version` = `"v1"`, the properties the Earth Engine catalog documents
//!   for them (its example filters on `collection_id`, `version` and `year`).
//! - **Tables** ([`table_size`], [`table_feature`], [`table_properties`]): `Collection.loadTable(id)`
//!   holds `20 + hash(id) % 21` features; feature `k` has `system:index` = `k`, a square polygon of
//!   0.003° with its south-west corner at (−48 + 0.01·k, −15.5), and the properties `id` and `site_id`
//!   = `"f{k}"`, `name` = `"Feature {k}"`, `owner` = `"owner-{k}"`, `planted` = 2000 + k mod 20 and
//!   `label` = k mod 3; no others.
//! - **A region's pixels** ([`region_pixels`]): the fake samples a region instead of rasterising it
//!   (a few weighted pixels per site keep every test fast). On the reduction grid (cell size
//!   `scale / DEGREE_METRES` degrees in EPSG:4326), the pixels are the distinct cells containing the
//!   region's probe points — for each polygon of the region in turn, the centres of a 3×3 grid over that
//!   polygon's bounding box that lie inside the region (even-odd rule), in row-major order from the
//!   south-west (a MultiPolygon's parts are each probed, so parts far apart — a site split at the
//!   antimeridian — are all seen). A pixel's **weight** is the fraction of a 4×4
//!   sub-sample of the cell inside the region (at least 1/16): Earth Engine's "fraction of the pixel
//!   covered by the region", estimated. A point is one pixel of weight 1.
//! - **Pixel area** ([`cell_area`]): the true area of the reduction-grid cell on a sphere of radius
//!   [`EARTH_RADIUS`] m, `R²·Δλ·(sin φ₂ − sin φ₁)`.
//!
//! Not modelled: geodesic polygon edges (edges are straight in longitude/latitude), projections other than
//! EPSG:4326 grids, 8-bit quantisation of weights.

/// Class codes of `classification*` bands (MapBiomas-like).
pub const CLASS_CODES: [i64; 10] = [3, 4, 9, 11, 12, 15, 21, 24, 25, 33];

/// Cell size of the native grid, degrees.
pub const NATIVE_DEG: f64 = 0.00025;

/// Metres per degree at the equator: 2π·6378137/360, how Earth Engine turns a scale in metres into degrees
/// for EPSG:4326.
pub const DEGREE_METRES: f64 = 111_319.490_793_273_57;

/// Radius of the sphere pixel areas are computed on (metres; the authalic radius of WGS84).
pub const EARTH_RADIUS: f64 = 6_371_007.181;

/// Latitudes every asset covers; outside, every band is masked.
pub const FOOTPRINT_LAT: (f64, f64) = (-60.0, 84.0);

/// First and last image time of every collection (ms since the epoch): 1980-01-01 and 2030-12-31.
pub const COLLECTION_SPAN_MS: (i64, i64) = (315_532_800_000, 1_924_905_600_000);

const DAY_MS: i64 = 86_400_000;

/// FNV-1a over the parts (separated by 0x1f), finished with splitmix64.
pub fn hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    splitmix(h)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The values a band takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Profile {
    /// One of these codes.
    Codes(&'static [i64]),
    /// An integer in `[lo, hi]`.
    Range(i64, i64),
}

const WORLDCOVER: [i64; 10] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

/// The profile of a band, by its name (see the module doc).
pub fn profile(band: &str) -> Profile {
    match band {
        b if b.starts_with("classification") => Profile::Codes(&CLASS_CODES),
        "Map" => Profile::Codes(&WORLDCOVER),
        "label" => Profile::Range(0, 8),
        "LC_Type1" => Profile::Range(1, 17),
        "waterClass" => Profile::Range(0, 3),
        "lossyear" => Profile::Range(0, 24),
        "SCL" => Profile::Range(1, 11),
        "treecover2000" => Profile::Range(0, 100),
        "elevation" => Profile::Range(0, 1500),
        "precipitation" => Profile::Range(0, 30),
        "NDVI" | "EVI" => Profile::Range(-2000, 10000),
        b if b.len() > 1 && b.starts_with('B') && b[1..].bytes().all(|c| c.is_ascii_digit()) => {
            Profile::Range(0, 10000)
        }
        _ => Profile::Range(0, 1000),
    }
}

/// The native cell containing a location.
pub fn native_cell(lon: f64, lat: f64) -> (i64, i64) {
    ((lon / NATIVE_DEG).floor() as i64, (lat / NATIVE_DEG).floor() as i64)
}

fn time_text(time: Option<i64>) -> String {
    time.map(|t| t.to_string()).unwrap_or_default()
}

/// Whether an image of `asset` (at `time`) has no data at a location.
pub fn is_masked(asset: &str, time: Option<i64>, lon: f64, lat: f64) -> bool {
    if !(FOOTPRINT_LAT.0..=FOOTPRINT_LAT.1).contains(&lat) {
        return true;
    }
    let (i, j) = native_cell(lon, lat);
    hash(&[asset, &time_text(time), &i.to_string(), &j.to_string(), "mask"]) % 8 == 0
}

/// The value of `band` of an image of `asset` (at `time`) at a location; `None` where masked.
pub fn band_value(asset: &str, band: &str, time: Option<i64>, lon: f64, lat: f64) -> Option<i64> {
    if is_masked(asset, time, lon, lat) {
        return None;
    }
    let (i, j) = native_cell(lon, lat);
    let h = hash(&[asset, band, &time_text(time), &i.to_string(), &j.to_string()]);
    Some(match profile(band) {
        Profile::Codes(codes) => codes[(h % codes.len() as u64) as usize],
        Profile::Range(lo, hi) => lo + (h % (hi - lo + 1) as u64) as i64,
    })
}

/// Days between images of a collection.
pub fn collection_cadence_days(id: &str) -> i64 {
    4 + (hash(&[id, "cadence"]) % 13) as i64
}

/// `system:time_start` (ms) of every image of a collection, oldest first.
pub fn collection_times(id: &str) -> Vec<i64> {
    let step = collection_cadence_days(id) * DAY_MS;
    (0..).map(|k| COLLECTION_SPAN_MS.0 + k * step).take_while(|t| *t <= COLLECTION_SPAN_MS.1).collect()
}

/// Properties of the image of collection `id` at `time` besides `system:time_start` and `system:index`
/// (see the module doc).
pub fn image_properties(id: &str, time: i64) -> Vec<(&'static str, serde_json::Value)> {
    let year = time::OffsetDateTime::from_unix_timestamp(time.div_euclid(1000)).map(|d| d.year()).unwrap_or(0);
    let mut out = vec![("year", serde_json::json!(year))];
    if id.starts_with("projects/mapbiomas-public/assets/") && id.ends_with("/lulc/v1") {
        out.push(("collection_id", serde_json::json!(10.0)));
        out.push(("version", serde_json::json!("v1")));
    }
    out
}

/// Number of features of a table asset.
pub fn table_size(id: &str) -> usize {
    20 + (hash(&[id, "size"]) % 21) as usize
}

/// Feature `k` of a table: its polygon ring (closed, counter-clockwise).
pub fn table_feature(k: usize) -> Vec<[f64; 2]> {
    let (x, y) = (-48.0 + 0.01 * k as f64, -15.5);
    vec![[x, y], [x + 0.003, y], [x + 0.003, y + 0.003], [x, y + 0.003], [x, y]]
}

/// The properties of feature `k` of a table (see the module doc).
pub fn table_properties(k: usize) -> Vec<(&'static str, serde_json::Value)> {
    let id = format!("f{k}");
    vec![
        ("id", id.clone().into()),
        ("site_id", id.into()),
        ("name", format!("Feature {k}").into()),
        ("owner", format!("owner-{k}").into()),
        ("planted", (2000 + (k % 20) as i64).into()),
        ("label", ((k % 3) as i64).into()),
    ]
}

/// A cell of a reduction grid of `size` degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub i: i64,
    pub j: i64,
    pub size: f64,
}

impl Cell {
    pub fn containing(lon: f64, lat: f64, size: f64) -> Cell {
        Cell { i: (lon / size).floor() as i64, j: (lat / size).floor() as i64, size }
    }
    /// (west, south, east, north).
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        let (w, s) = (self.i as f64 * self.size, self.j as f64 * self.size);
        (w, s, w + self.size, s + self.size)
    }
    pub fn centre(&self) -> (f64, f64) {
        let (w, s, e, n) = self.bounds();
        ((w + e) / 2.0, (s + n) / 2.0)
    }
}

/// The area of a cell in square metres (see the module doc).
pub fn cell_area(cell: &Cell) -> f64 {
    let (w, s, e, n) = cell.bounds();
    let (s, n) = (s.clamp(-90.0, 90.0), n.clamp(-90.0, 90.0));
    EARTH_RADIUS * EARTH_RADIUS * (e - w).to_radians() * (n.to_radians().sin() - s.to_radians().sin()).abs()
}

/// Cell size in degrees of a reduction at `scale` metres.
pub fn grid_degrees(scale_m: f64) -> f64 {
    scale_m / DEGREE_METRES
}

/// One pixel of a region: its cell and weight (fraction covered).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionPixel {
    pub cell: Cell,
    pub weight: f64,
}

/// Polygons as rings of `[lon, lat]` (first ring the shell, then holes; even-odd rule over all rings).
pub type Polygons = [Vec<Vec<[f64; 2]>>];

/// Even-odd point in polygon over every ring of every polygon.
pub fn inside(polygons: &Polygons, x: f64, y: f64) -> bool {
    let mut odd = false;
    for poly in polygons {
        for ring in poly {
            let n = ring.len();
            if n < 3 {
                continue;
            }
            let mut j = n - 1;
            for i in 0..n {
                let ([xi, yi], [xj, yj]) = (ring[i], ring[j]);
                if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                    odd = !odd;
                }
                j = i;
            }
        }
    }
    odd
}

fn bbox(polygons: &Polygons) -> Option<(f64, f64, f64, f64)> {
    let mut b: Option<(f64, f64, f64, f64)> = None;
    for [x, y] in polygons.iter().flatten().flatten() {
        b = Some(match b {
            None => (*x, *y, *x, *y),
            Some((w, s, e, n)) => (w.min(*x), s.min(*y), e.max(*x), n.max(*y)),
        });
    }
    b
}

/// The pixels of a polygonal region on a grid of `size` degrees (see the module doc).
pub fn region_pixels(polygons: &Polygons, size: f64) -> Vec<RegionPixel> {
    let mut out: Vec<RegionPixel> = Vec::new();
    for part in polygons {
        let Some(b) = bbox(std::slice::from_ref(part)) else { continue };
        probe(polygons, b, size, &mut out);
    }
    out
}

/// Adds the pixels of the 3×3 probes of bounding box `(w, s, e, n)` that lie inside the region.
fn probe(polygons: &Polygons, (w, s, e, n): (f64, f64, f64, f64), size: f64, out: &mut Vec<RegionPixel>) {
    for r in 0..3 {
        for c in 0..3 {
            let x = w + (e - w) * (2 * c + 1) as f64 / 6.0;
            let y = s + (n - s) * (2 * r + 1) as f64 / 6.0;
            if !inside(polygons, x, y) {
                continue;
            }
            let cell = Cell::containing(x, y, size);
            if out.iter().any(|p| p.cell == cell) {
                continue;
            }
            let (cw, cs, _, _) = cell.bounds();
            let mut hits = 0;
            for a in 0..4 {
                for b in 0..4 {
                    let px = cw + size * (2 * a + 1) as f64 / 8.0;
                    let py = cs + size * (2 * b + 1) as f64 / 8.0;
                    if inside(polygons, px, py) {
                        hits += 1;
                    }
                }
            }
            out.push(RegionPixel { cell, weight: hits.max(1) as f64 / 16.0 });
        }
    }
}

/// The pixel of a point.
pub fn point_pixel(x: f64, y: f64, size: f64) -> RegionPixel {
    RegionPixel { cell: Cell::containing(x, y, size), weight: 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_profiles_and_masks_occur() {
        let mut masked = 0;
        for k in 0..400 {
            let lon = -48.0 + k as f64 * 0.0003;
            match band_value("a", "classification_2020", None, lon, -15.8) {
                Some(v) => assert!(CLASS_CODES.contains(&v)),
                None => masked += 1,
            }
            if let Some(v) = band_value("a", "SCL", Some(0), lon, -15.8) {
                assert!((1..=11).contains(&v));
            }
        }
        assert!(masked > 20 && masked < 90, "about 1 in 8 cells masked: {masked}");
        assert_eq!(band_value("a", "B4", None, 10.0, -70.0), None, "outside the footprint");
        assert_eq!(band_value("x", "b", Some(5), 1.0, 2.0), band_value("x", "b", Some(5), 1.0, 2.0));
    }

    #[test]
    fn region_pixels_are_few_and_weighted() {
        let square = vec![vec![vec![[0.0, 0.0], [0.01, 0.0], [0.01, 0.01], [0.0, 0.01], [0.0, 0.0]]]];
        let px = region_pixels(&square, grid_degrees(30.0));
        assert_eq!(px.len(), 9, "9 probes in 9 different 30 m cells");
        assert!(px.iter().all(|p| p.weight > 0.0 && p.weight <= 1.0));
        // A 30 m cell at the equator is ~ 900 m².
        let a = cell_area(&px[0].cell);
        assert!((a - 900.0).abs() < 10.0, "{a}");
        // A site smaller than a pixel: one partly covered pixel.
        let tiny = vec![vec![vec![[0.0001, 0.0001], [0.0002, 0.0001], [0.0002, 0.0002], [0.0001, 0.0001]]]];
        let px = region_pixels(&tiny, grid_degrees(500.0));
        assert_eq!(px.len(), 1);
        assert!(px[0].weight < 1.0);
    }

    #[test]
    fn collections_and_tables() {
        let t = collection_times("MODIS/061/MOD13Q1");
        let step = collection_cadence_days("MODIS/061/MOD13Q1") * DAY_MS;
        assert!(t.windows(2).all(|w| w[1] - w[0] == step));
        assert!((20..=40).contains(&table_size("projects/p/assets/t")));
        assert_eq!(table_properties(3)[3], ("owner", serde_json::json!("owner-3")));
    }
}
