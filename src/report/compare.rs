//! The per-site difference between this table and another table of the same pipeline (typically a local
//! run checked against the Earth Engine run, `geepipe report FILE --compare OTHER_TABLE`).
//!
//! Categorical layers: per site and year, half the sum over classes of |area here − area there| is the
//! area classified differently (what would have to move to make the two equal); it is shown in hectares
//! and as a share of the site's covered area here, the largest over the site's layers and years.
//! Continuous layers: per site, the largest |value here − value there| of each band and statistic.
//! Site-layer-years with data in one table and not in the other are counted separately.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::read::{Cell, Table};
use crate::pipeline::LayerKind;

/// One site's difference.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteDiff {
    pub site: usize,
    /// Largest area classified differently in one layer-year (ha) and as % of the covered area.
    pub area_ha: f64,
    pub area_pct: f64,
    /// Largest |Δ| per continuous series, in report order (layer, series).
    pub values: Vec<Option<f64>>,
    /// Layer-years with data in only one table.
    pub mismatched: u32,
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub other: String,
    /// Continuous series labels (`layer band stat`), matching [`SiteDiff::values`].
    pub series: Vec<String>,
    pub sites: Vec<SiteDiff>,
    /// Sites only here / only in the other table.
    pub only_here: usize,
    pub only_there: usize,
    pub has_categorical: bool,
}

fn area_diff(a: &[(i64, f64)], b: &[(i64, f64)]) -> f64 {
    let mut m: std::collections::BTreeMap<i64, f64> = a.iter().copied().collect();
    for (c, ha) in b {
        *m.entry(*c).or_default() -= ha;
    }
    m.values().map(|d| d.abs()).sum::<f64>() / 2.0
}

/// Compares `here` with `there` (both read for the same pipeline).
pub fn compare(here: &Table, there: &Table, other: &str) -> Comparison {
    let index: HashMap<&str, usize> = there.sites.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    let mut series = Vec::new();
    for l in &here.layers {
        if l.kind == LayerKind::Continuous {
            series.extend(l.series.iter().map(|(b, s)| format!("{} {b} {s}", l.name)));
        }
    }
    let has_categorical = here.layers.iter().any(|l| l.kind == LayerKind::Categorical);
    let mut sites = Vec::new();
    for (s, id) in here.sites.iter().enumerate() {
        let Some(&o) = index.get(id.as_str()) else { continue };
        let mut d = SiteDiff { site: s, area_ha: 0.0, area_pct: 0.0, values: vec![None; series.len()], mismatched: 0 };
        let mut k = 0;
        for (li, l) in here.layers.iter().enumerate() {
            for yi in 0..l.years.len() {
                let (a, b) = (here.cell(s, li, yi), there.cell(o, li, yi));
                match (a, b) {
                    (Cell::Classes(a), Cell::Classes(b)) => {
                        let ha = area_diff(a, b);
                        let total: f64 = a.iter().map(|e| e.1).sum();
                        let pct = if total > 0.0 { ha / total * 100.0 } else { 0.0 };
                        if ha > d.area_ha {
                            d.area_ha = ha;
                        }
                        if pct > d.area_pct {
                            d.area_pct = pct;
                        }
                    }
                    (Cell::Values(a), Cell::Values(b)) => {
                        for (i, (x, y)) in a.iter().zip(b).enumerate() {
                            if let (Some(x), Some(y)) = (x, y) {
                                let v = d.values[k + i].get_or_insert(0.0);
                                *v = v.max((x - y).abs());
                            }
                        }
                    }
                    (Cell::Classes(_) | Cell::Values(_), _) | (_, Cell::Classes(_) | Cell::Values(_)) => {
                        d.mismatched += 1;
                    }
                    _ => {}
                }
            }
            if l.kind == LayerKind::Continuous {
                k += l.series.len();
            }
        }
        sites.push(d);
    }
    let here_ids: std::collections::HashSet<&str> = here.sites.iter().map(String::as_str).collect();
    Comparison {
        other: other.to_string(),
        only_here: here.sites.len() - sites.len(),
        only_there: there.sites.iter().filter(|s| !here_ids.contains(s.as_str())).count(),
        series,
        sites,
        has_categorical,
    }
}

impl Comparison {
    /// Per-site values for the browser, aligned with the report's site list (`null` for sites not compared).
    pub fn site_values(&self, n_sites: usize) -> Value {
        let mut pct = vec![Value::Null; n_sites];
        let mut ha = vec![Value::Null; n_sites];
        let mut vals = vec![vec![Value::Null; n_sites]; self.series.len()];
        for d in &self.sites {
            pct[d.site] = json!(round(d.area_pct, 4));
            ha[d.site] = json!(round(d.area_ha, 4));
            for (i, v) in d.values.iter().enumerate() {
                if let Some(v) = v {
                    vals[i][d.site] = json!(sig(*v));
                }
            }
        }
        json!({"other": self.other, "series": self.series, "area_pct": pct, "area_ha": ha, "values": vals})
    }

    /// The sites with the largest difference (categorical share first, then the first series).
    pub fn largest(&self, n: usize) -> Vec<&SiteDiff> {
        let key = |d: &SiteDiff| {
            if self.has_categorical {
                d.area_pct
            } else {
                d.values.first().copied().flatten().unwrap_or(0.0)
            }
        };
        let mut v: Vec<&SiteDiff> = self.sites.iter().filter(|d| key(d) > 0.0 || d.mismatched > 0).collect();
        v.sort_by(|a, b| key(b).total_cmp(&key(a)).then(b.mismatched.cmp(&a.mismatched)).then(a.site.cmp(&b.site)));
        v.truncate(n);
        v
    }
}

/// `x` rounded to `digits` decimals.
pub fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// `x` with 4 significant digits.
pub fn sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let d = 3 - x.abs().log10().floor() as i32;
    format!("{:.*}", d.max(0) as usize, x).parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_classified_differently_is_half_the_absolute_differences() {
        assert_eq!(area_diff(&[(3, 10.0), (15, 2.0)], &[(3, 8.0), (15, 4.0)]), 2.0);
        assert_eq!(area_diff(&[(3, 10.0)], &[(15, 10.0)]), 10.0);
        assert_eq!(area_diff(&[(3, 1.5)], &[(3, 1.5)]), 0.0);
    }

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.000123456), 0.0001235);
        assert_eq!(sig(123456.0), 123456.0);
        assert_eq!(sig(1.23456), 1.235);
    }
}
