//! Continuous layers: for each band and statistic, the distribution of the site values per year
//! (quantiles) and the trend of the median (Theil–Sen slope), plus each site's values for the browser.

use super::pack::Stream;
use super::read::{Cell, Table};

/// Distribution of one series' site values in one year.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    pub year: i32,
    /// Sites with a value.
    pub n: usize,
    pub min: f64,
    pub p5: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
}

/// One band × statistic of a continuous layer.
#[derive(Debug, Clone)]
pub struct Series {
    pub layer: usize,
    /// Index into the layer's series.
    pub series: usize,
    pub band: String,
    pub stat: String,
    /// Years with at least one value.
    pub years: Vec<Spread>,
    /// Theil–Sen slope of the yearly medians (units per year), with two or more years.
    pub median_slope: Option<f64>,
    /// Rounding step of the per-site values sent to the browser.
    pub step: f64,
}

/// Quantile with linear interpolation between order statistics (Hyndman–Fan type 7, as NumPy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Median of the pairwise slopes (Theil–Sen); `None` with fewer than two points.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<f64> {
    let mut slopes = Vec::new();
    for i in 0..points.len() {
        for j in i + 1..points.len() {
            let dx = points[j].0 - points[i].0;
            if dx != 0.0 {
                slopes.push((points[j].1 - points[i].1) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    Some(quantile(&slopes, 0.5))
}

/// A rounding step of 1, 2 or 5 × 10ⁿ, about 1/100 of the spread of the values (5th to 95th percentile
/// over all years), so a per-site line chart loses nothing visible; at least 10⁻⁶. For steps below 1,
/// 1/step is a whole number, so the browser divides by it and prints clean decimals.
pub fn step_for(p5: f64, p95: f64) -> f64 {
    let range = (p95 - p5).abs();
    let target = if range.is_finite() && range > 0.0 {
        range / 100.0
    } else {
        let m = p95.abs().max(p5.abs());
        if m > 0.0 && m.is_finite() {
            m / 1000.0
        } else {
            1e-3
        }
    };
    let e = target.log10().floor().max(-6.0) as i32;
    let base = decimal(e);
    let m = [5.0, 2.0, 1.0].into_iter().find(|m| m * base <= target).unwrap_or(1.0);
    if e < 0 {
        format!("{m}e{e}").parse().unwrap_or(base)
    } else {
        m * base
    }
}

/// 10^e as the nearest double to the decimal (so it prints as `0.001`, not `0.0010000000000000002`).
fn decimal(e: i32) -> f64 {
    if e < 0 {
        format!("1e{e}").parse().unwrap_or(1e-3)
    } else {
        10f64.powi(e)
    }
}

/// Aggregates every series of continuous layer `li`.
pub fn summarise(t: &Table, li: usize) -> Vec<Series> {
    let layer = &t.layers[li];
    let mut out = Vec::new();
    for (si, (band, stat)) in layer.series.iter().enumerate() {
        let mut years = Vec::new();
        let mut all_p5 = f64::INFINITY;
        let mut all_p95 = f64::NEG_INFINITY;
        for (yi, &year) in layer.years.iter().enumerate() {
            let mut v: Vec<f64> = t
                .cells
                .iter()
                .filter_map(|site| match &site[li][yi] {
                    Cell::Values(vals) => vals[si].filter(|x| x.is_finite()),
                    _ => None,
                })
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(f64::total_cmp);
            let s = Spread {
                year,
                n: v.len(),
                min: v[0],
                p5: quantile(&v, 0.05),
                p25: quantile(&v, 0.25),
                median: quantile(&v, 0.5),
                p75: quantile(&v, 0.75),
                p95: quantile(&v, 0.95),
                max: v[v.len() - 1],
                mean: v.iter().sum::<f64>() / v.len() as f64,
            };
            all_p5 = all_p5.min(s.p5);
            all_p95 = all_p95.max(s.p95);
            years.push(s);
        }
        let points: Vec<(f64, f64)> = years.iter().map(|s| (s.year as f64, s.median)).collect();
        let step = if years.is_empty() { 1e-3 } else { step_for(all_p5, all_p95) };
        out.push(Series {
            layer: li,
            series: si,
            band: band.clone(),
            stat: stat.clone(),
            median_slope: theil_sen(&points),
            years,
            step,
        });
    }
    out
}

/// Per-site values of one series for the browser, one [`Stream`] per series: per site, none when it
/// has no value, else `m` (the rounded mean of its values in steps of the series' step) followed by
/// `v − m` per year (none without a value). Deviations from the mean are smaller than year-to-year
/// differences for noisy series, so they pack better.
pub fn site_series(t: &Table, s: &Series, out: &mut Stream) {
    for site in &t.cells {
        let q: Vec<Option<i64>> = site[s.layer]
            .iter()
            .map(|c| match c {
                Cell::Values(v) => v[s.series].filter(|x| x.is_finite()).map(|x| (x / s.step).round() as i64),
                _ => None,
            })
            .collect();
        let present: Vec<i64> = q.iter().flatten().copied().collect();
        if present.is_empty() {
            out.opt(None);
            continue;
        }
        let m = (present.iter().sum::<i64>() as f64 / present.len() as f64).round() as i64;
        out.opt(Some(m));
        for v in q {
            out.opt(v.map(|x| x - m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.25), 1.75);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
    }

    #[test]
    fn theil_sen_ignores_one_outlier() {
        let pts = [(2000.0, 1.0), (2001.0, 2.0), (2002.0, 3.0), (2003.0, 40.0), (2004.0, 5.0)];
        assert_eq!(theil_sen(&pts), Some(1.0));
        assert_eq!(theil_sen(&pts[..1]), None);
    }

    #[test]
    fn steps_are_1_2_5_and_about_a_100th_of_the_spread() {
        assert_eq!(step_for(0.1, 0.9), 0.005);
        assert_eq!(step_for(100.0, 2000.0), 10.0);
        assert_eq!(step_for(0.0, 0.5), 0.005);
        assert_eq!(step_for(5.0, 5.0), 0.005);
        assert_eq!(step_for(0.0, 0.0), 0.001);
        for (a, b) in [(0.0, 0.37), (1.0, 1.0003), (-7.0, 12345.0)] {
            let s = step_for(a, b);
            assert!(s <= (b - a) / 100.0 && s > (b - a) / 500.0, "{s} for {a}..{b}");
            if s < 1.0 {
                assert_eq!((1.0 / s).round() * s, 1.0, "1/{s} is whole");
            }
        }
    }
}
