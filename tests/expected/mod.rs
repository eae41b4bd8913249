//! What a layer "measured" for a site, computed from the fake Earth Engine's synthetic world
//! (`fake_ee::world`: pixels of a region, band values, masks, pixel areas, collection dates) with the
//! documented meaning of the layer and of Earth Engine's reducers, by code independent of geepipe's
//! planner and column contract. End-to-end tests compare geepipe's merged table with these numbers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use fake_ee::world::{self, RegionPixel};

/// A polygon ring of `[lon, lat]`.
pub type Ring = Vec<[f64; 2]>;

/// The pixels of a site reduced at `scale` metres.
pub fn pixels(ring: &Ring, scale: f64) -> Vec<RegionPixel> {
    world::region_pixels(&[vec![ring.clone()]], world::grid_degrees(scale))
}

/// Categorical layer of one image band: per class code, (hectares, weighted pixel count): hectares are the
/// true area of each pixel (its cell's area) × the fraction inside the site, pixels that fraction.
pub fn classes(asset: &str, band: &str, ring: &Ring, scale: f64) -> BTreeMap<i64, (f64, f64)> {
    let mut out: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for p in pixels(ring, scale) {
        let (x, y) = p.cell.centre();
        if let Some(v) = world::band_value(asset, band, None, x, y) {
            let e = out.entry(v).or_default();
            e.0 += p.weight * world::cell_area(&p.cell) / 10_000.0;
            e.1 += p.weight;
        }
    }
    out
}

/// The scale in metres of the synthetic world's native grid (its 0.00025° cells): what a layer reduced on
/// its own grid (no `scale` sent) is reduced at.
pub fn native_scale() -> f64 {
    world::NATIVE_DEG * world::DEGREE_METRES
}

/// The first image of a collection in `year` (its `system:time_start`): what `Collection.first` of the
/// collection filtered to the year's images gives (the synthetic images' `year` is their calendar year).
pub fn first_image_of_year(collection: &str, year: i32) -> Option<i64> {
    let (a, b) = (year_start(year), year_start(year + 1));
    world::collection_times(collection).into_iter().find(|t| *t >= a && *t < b)
}

/// Categorical layer of one band of the collection image at `time`: as [`classes`].
pub fn classes_at(asset: &str, band: &str, time: i64, ring: &Ring, scale: f64) -> BTreeMap<i64, (f64, f64)> {
    let mut out: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for p in pixels(ring, scale) {
        let (x, y) = p.cell.centre();
        if let Some(v) = world::band_value(asset, band, Some(time), x, y) {
            let e = out.entry(v).or_default();
            e.0 += p.weight * world::cell_area(&p.cell) / 10_000.0;
            e.1 += p.weight;
        }
    }
    out
}

/// (weight, value) of every unmasked pixel of a single-image band, scaled by `factor`.
pub fn single(asset: &str, band: &str, ring: &Ring, scale: f64, factor: f64) -> Vec<(f64, f64)> {
    pixels(ring, scale)
        .into_iter()
        .filter_map(|p| {
            let (x, y) = p.cell.centre();
            world::band_value(asset, band, None, x, y).map(|v| (p.weight, v as f64 * factor))
        })
        .collect()
}

/// Milliseconds of 1 January of `year`, UTC.
pub fn year_start(year: i32) -> i64 {
    time::Date::from_calendar_date(year, time::Month::January, 1).unwrap().midnight().assume_utc().unix_timestamp()
        * 1000
}

/// (weight, value) per pixel of the per-pixel mean of `band` over the collection's images of `year`
/// (masked images left out; a pixel with no image is masked), times `factor`.
pub fn yearly_mean(collection: &str, band: &str, year: i32, ring: &Ring, scale: f64, factor: f64) -> Vec<(f64, f64)> {
    let (a, b) = (year_start(year), year_start(year + 1));
    let times: Vec<i64> = world::collection_times(collection).into_iter().filter(|t| *t >= a && *t < b).collect();
    pixels(ring, scale)
        .into_iter()
        .filter_map(|p| {
            let (x, y) = p.cell.centre();
            let v: Vec<f64> = times
                .iter()
                .filter_map(|t| world::band_value(collection, band, Some(*t), x, y))
                .map(|v| v as f64)
                .collect();
            (!v.is_empty()).then(|| (p.weight, v.iter().sum::<f64>() / v.len() as f64 * factor))
        })
        .collect()
}

/// A statistic of weighted pixel values as Earth Engine's reducers define it: `mean` and `sum` weighted
/// by the fraction of each pixel inside the site; `min`, `max`, `count`, `median`, `pN`, `stdDev`,
/// `variance` over the pixels regardless of weight; percentiles linear between closest ranks.
pub fn stat(px: &[(f64, f64)], stat: &str) -> Option<f64> {
    let mut v: Vec<f64> = px.iter().map(|p| p.1).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let pct = |q: f64| {
        (!v.is_empty()).then(|| {
            let r = q / 100.0 * (v.len() - 1) as f64;
            let (lo, hi) = (r.floor() as usize, r.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (r - lo as f64)
        })
    };
    let mean = (!v.is_empty()).then(|| v.iter().sum::<f64>() / n);
    match stat {
        "mean" => {
            let sw: f64 = px.iter().map(|p| p.0).sum();
            (sw > 0.0).then(|| px.iter().map(|p| p.0 * p.1).sum::<f64>() / sw)
        }
        "sum" => Some(px.iter().map(|p| p.0 * p.1).sum()),
        "count" => Some(n),
        "min" => v.first().copied(),
        "max" => v.last().copied(),
        "median" => pct(50.0),
        "variance" => mean.map(|m| v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n),
        "stdDev" => mean.map(|m| (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt()),
        p => pct(p.strip_prefix('p')?.parse().ok()?),
    }
}

/// One row of geepipe's long table, numbers kept as numbers (columns `site_id`, the kept properties, then
/// `layer, year, kind, class_code, class_name, area_ha, pixels, band, stat, value`).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub struct Row {
    pub site: String,
    /// The kept properties' cells, in order.
    pub kept: Vec<String>,
    pub layer: String,
    pub year: i32,
    pub kind: String,
    pub class_code: Option<i64>,
    pub class_name: String,
    pub area_ha: Option<f64>,
    pub pixels: Option<f64>,
    pub band: String,
    pub stat: String,
    pub value: Option<f64>,
}

impl Row {
    /// A row of `site`'s `layer` and `year` with nothing measured yet.
    pub fn new(site: &str, kept: &[&str], layer: &str, year: i32, kind: &str) -> Row {
        Row {
            site: site.into(),
            kept: kept.iter().map(|k| k.to_string()).collect(),
            layer: layer.into(),
            year,
            kind: kind.into(),
            class_code: None,
            class_name: String::new(),
            area_ha: None,
            pixels: None,
            band: String::new(),
            stat: String::new(),
            value: None,
        }
    }

    /// The key rows are sorted and matched by.
    pub fn key(&self) -> (String, String, i32, Option<i64>, String, String) {
        (self.site.clone(), self.layer.clone(), self.year, self.class_code, self.band.clone(), self.stat.clone())
    }
}

fn opt<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() {
        None
    } else {
        Some(s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}")))
    }
}

/// Reads a long CSV table with `kept` property columns after the site id.
pub fn read_table(path: &std::path::Path, id: &str, kept: &[&str]) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut want = vec![id];
    want.extend(kept);
    want.extend(["layer", "year", "kind", "class_code", "class_name", "area_ha", "pixels", "band", "stat", "value"]);
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), want);
    let k = kept.len();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            Row {
                site: rec[0].into(),
                kept: (1..=k).map(|i| rec[i].to_string()).collect(),
                layer: rec[k + 1].into(),
                year: rec[k + 2].parse().unwrap(),
                kind: rec[k + 3].into(),
                class_code: opt(&rec[k + 4]),
                class_name: rec[k + 5].into(),
                area_ha: opt(&rec[k + 6]),
                pixels: opt(&rec[k + 7]),
                band: rec[k + 8].into(),
                stat: rec[k + 9].into(),
                value: opt(&rec[k + 10]),
            }
        })
        .collect()
}

/// Whether two measured numbers agree (relative 1e-9).
pub fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

/// Asserts that `got` holds exactly the rows of `want` (any order), numbers within [`close`].
pub fn assert_same_rows(mut got: Vec<Row>, mut want: Vec<Row>) {
    assert_eq!(got.len(), want.len(), "row count: got {got:#?}\nwant {want:#?}");
    got.sort_by_key(Row::key);
    want.sort_by_key(Row::key);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (&g.site, &g.kept, &g.layer, g.year, &g.kind, g.class_code, &g.class_name, &g.band, &g.stat),
            (&w.site, &w.kept, &w.layer, w.year, &w.kind, w.class_code, &w.class_name, &w.band, &w.stat)
        );
        assert!(close(g.area_ha, w.area_ha) && close(g.pixels, w.pixels) && close(g.value, w.value), "{g:?}\n{w:?}");
    }
}
