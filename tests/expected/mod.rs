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
