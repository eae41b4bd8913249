//! Zonal statistics from (value, coverage weight, cell area) triples.
//!
//! Every valid pixel (not nodata, not NaN) touched by a site contributes with weight `w` = the fraction
//! of the cell inside the site (see [`super::coverage`]).
//!
//! Categorical layers, per class code: `pixels = Σ w`, `area_ha = Σ w · cell_area / 10⁴` with the
//! geodesic cell area of [`super::area`]. Non-integer values are rounded to the nearest code.
//!
//! Continuous layers, per band:
//! - `count = Σ w` (weighted pixel count), `sum = Σ w·v`, `mean = sum / count`;
//! - `variance = Σ w·(v − mean)² / Σ w` (population variance, weighted), `stdDev = √variance`;
//! - `min`, `max` over pixels with `w > 0`;
//! - `median` = `p50`; percentile `pq` by the weighted-percentile method: merge equal values (adding
//!   their weights), sort the n distinct values, give the k-th (1-based) the position
//!   `S_k = (k − 1)·w_k + (n − 1)·Σ_{i<k} w_i`, and interpolate linearly at `q/100 · S_n`. With equal
//!   weights and distinct values this is the usual linear interpolation between order statistics
//!   (NumPy's default, R type 7); `p0` is the minimum and `p100` the maximum. This is also what
//!   exactextract computes (checked by `tests/local_exactextract.rs`).

/// Accumulates one categorical layer-year of one site.
#[derive(Debug, Default, Clone)]
pub struct Categorical {
    /// (code, weighted pixels, area in m²), in order of first appearance (a site has few classes).
    classes: Vec<(i64, f64, f64)>,
    last: usize,
}

impl Categorical {
    #[inline]
    pub fn add(&mut self, value: f64, w: f64, cell_m2: f64) {
        let code = value.round() as i64;
        let i = match self.classes.get(self.last) {
            Some(e) if e.0 == code => self.last,
            _ => match self.classes.iter().position(|e| e.0 == code) {
                Some(i) => i,
                None => {
                    self.classes.push((code, 0.0, 0.0));
                    self.classes.len() - 1
                }
            },
        };
        self.last = i;
        let e = &mut self.classes[i];
        e.1 += w;
        e.2 += w * cell_m2;
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// `(code, weighted pixels, area m²)` by ascending code.
    pub fn into_sorted(mut self) -> Vec<(i64, f64, f64)> {
        self.classes.sort_by_key(|e| e.0);
        self.classes
    }
}

/// Accumulates one band of one continuous layer-year of one site.
#[derive(Debug, Clone)]
pub struct Continuous {
    /// Keep every (value, weight) pair for medians and percentiles.
    keep_values: bool,
    values: Vec<(f64, f64)>,
    w: f64,
    wv: f64,
    /// Running weighted mean and sum of squared deviations (West's algorithm).
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Continuous {
    pub fn new(keep_values: bool) -> Continuous {
        Continuous {
            keep_values,
            values: Vec::new(),
            w: 0.0,
            wv: 0.0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    #[inline]
    pub fn add(&mut self, v: f64, w: f64) {
        if w <= 0.0 {
            return;
        }
        self.w += w;
        self.wv += w * v;
        let delta = v - self.mean;
        self.mean += delta * w / self.w;
        self.m2 += w * delta * (v - self.mean);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if self.keep_values {
            self.values.push((v, w));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.w <= 0.0
    }

    /// The named statistic (canonical spelling: `mean`, `median`, `p90`, `stdDev`, ...).
    pub fn stat(&mut self, name: &str) -> Option<f64> {
        if self.is_empty() {
            return if name == "count" || name == "sum" { Some(0.0) } else { None };
        }
        match name {
            "count" => Some(self.w),
            "sum" => Some(self.wv),
            "mean" => Some(self.wv / self.w),
            "min" => Some(self.min),
            "max" => Some(self.max),
            "variance" => Some((self.m2 / self.w).max(0.0)),
            "stdDev" => Some((self.m2 / self.w).max(0.0).sqrt()),
            "median" => self.percentile(50.0),
            p => p.strip_prefix('p').and_then(|n| n.parse::<f64>().ok()).and_then(|q| self.percentile(q)),
        }
    }

    fn percentile(&mut self, q: f64) -> Option<f64> {
        if !self.keep_values || self.values.is_empty() {
            return None;
        }
        self.values.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Merge equal values (adding their weights) so the result does not depend on pixel order.
        self.values.dedup_by(|next, kept| {
            if next.0 == kept.0 {
                kept.1 += next.1;
                true
            } else {
                false
            }
        });
        Some(weighted_percentile(&self.values, q))
    }
}

/// Weighted percentile `q` (0..=100) of `(value, weight)` pairs sorted by value (see the module doc).
pub fn weighted_percentile(sorted: &[(f64, f64)], q: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0].0;
    }
    let nm1 = (n - 1) as f64;
    let mut positions = Vec::with_capacity(n);
    let mut cum = 0.0;
    for (k, &(_, w)) in sorted.iter().enumerate() {
        positions.push(k as f64 * w + nm1 * cum);
        cum += w;
    }
    let target = q.clamp(0.0, 100.0) / 100.0 * positions[n - 1];
    if target <= positions[0] {
        return sorted[0].0;
    }
    if target >= positions[n - 1] {
        return sorted[n - 1].0;
    }
    let k = positions.partition_point(|&s| s <= target) - 1;
    let (s0, s1) = (positions[k], positions[k + 1]);
    let (x0, x1) = (sorted[k].0, sorted[k + 1].0);
    if s1 <= s0 {
        return x1;
    }
    x0 + (target - s0) / (s1 - s0) * (x1 - x0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_give_numpy_linear_percentiles() {
        let mut c = Continuous::new(true);
        for v in [7.0, 1.0, 3.0, 5.0] {
            c.add(v, 1.0);
        }
        // numpy.percentile([1,3,5,7], [0, 25, 50, 90, 100]) = 1, 2.5, 4, 6.4, 7
        for (q, want) in [("p0", 1.0), ("p25", 2.5), ("median", 4.0), ("p90", 6.4), ("p100", 7.0)] {
            let got = c.stat(q).unwrap();
            assert!((got - want).abs() < 1e-12, "{q}: {got} vs {want}");
        }
        assert_eq!(c.stat("mean"), Some(4.0));
        assert_eq!(c.stat("count"), Some(4.0));
        assert!((c.stat("variance").unwrap() - 5.0).abs() < 1e-12);
    }

    #[test]
    fn equal_values_are_merged_before_interpolating() {
        // Weights 0.5 and 1 on value 2 in either order give the same result as one value 2 of weight 1.5.
        let run = |pairs: &[(f64, f64)]| {
            let mut c = Continuous::new(true);
            for &(v, w) in pairs {
                c.add(v, w);
            }
            c.stat("p40").unwrap()
        };
        let a = run(&[(1.0, 1.0), (2.0, 0.5), (2.0, 1.0), (5.0, 1.0)]);
        let b = run(&[(1.0, 1.0), (2.0, 1.0), (2.0, 0.5), (5.0, 1.0)]);
        let merged = run(&[(1.0, 1.0), (2.0, 1.5), (5.0, 1.0)]);
        assert_eq!(a, b);
        assert_eq!(a, merged);
    }

    #[test]
    fn weights_scale_mean_and_moments() {
        let mut c = Continuous::new(false);
        c.add(10.0, 0.25);
        c.add(20.0, 0.75);
        c.add(99.0, 0.0); // a cell that does not touch the site
        assert_eq!(c.stat("count"), Some(1.0));
        assert_eq!(c.stat("sum"), Some(17.5));
        assert_eq!(c.stat("mean"), Some(17.5));
        assert_eq!(c.stat("max"), Some(20.0));
        // Σw(v−m)²/Σw = 0.25·56.25 + 0.75·6.25 = 18.75
        assert!((c.stat("variance").unwrap() - 18.75).abs() < 1e-12);
        assert_eq!(c.stat("median"), None, "values were not kept");
    }

    #[test]
    fn empty_is_no_data_except_count_and_sum() {
        let mut c = Continuous::new(true);
        assert!(c.is_empty());
        assert_eq!(c.stat("mean"), None);
        assert_eq!(c.stat("p50"), None);
        assert_eq!(c.stat("count"), Some(0.0));
    }

    #[test]
    fn categorical_sums_weights_and_area() {
        let mut c = Categorical::default();
        c.add(3.0, 0.5, 900.0);
        c.add(3.0, 1.0, 900.0);
        c.add(15.0, 0.25, 800.0);
        c.add(2.6, 1.0, 100.0);
        assert_eq!(c.into_sorted(), vec![(3, 2.5, 1450.0), (15, 0.25, 200.0)]);
    }
}
