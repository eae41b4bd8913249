//! Categorical layers: total area per class and year, the net-change matrix, the sites with the largest
//! change per class, and each site's class shares for the site view and the map.
//!
//! # What the matrix is (and is not)
//!
//! The table holds, per site and year, the area of each class; it does not say which pixels went from
//! one class to another. The report therefore shows a **net-change matrix**: for every site with data in
//! at least two years, compare its first and last year with data. What a class kept (the smaller of its
//! two areas) is on the diagonal. The area classes lost (net) is shared among the classes that gained
//! (net) in proportion to their gains — the smallest set of transitions that explains the site's two
//! totals — and summed over sites. Swaps inside a site (forest cleared here, regrown there) cancel out,
//! so off-diagonal cells are a lower bound on real pixel transitions. When a site's covered area differs
//! between the two years (no-data pixels), the unmatched part goes to a "not observed" row or column, so
//! row sums are the first-year areas and column sums the last-year areas.

use std::collections::BTreeMap;

use super::pack::Stream;
use super::read::{Cell, LayerInfo, Table};

/// Colours for classes without one in the legend (Vega's `tableau10` scheme).
const FALLBACK: &[&str] =
    &["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"];

/// Label of the matrix row/column for area seen in only one of the two years.
pub const NOT_OBSERVED: &str = "not observed";

/// One class of a layer as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub code: i64,
    pub name: String,
    pub color: String,
    /// Whether the colour came from the pipeline's (catalog's) legend.
    pub official: bool,
}

/// A site's change of one class between its first and last year with data.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub site: usize,
    pub first_year: i32,
    pub last_year: i32,
    pub first_ha: f64,
    pub last_ha: f64,
    /// Site area covered in the first year (for the share).
    pub site_ha: f64,
}

impl Change {
    pub fn delta(&self) -> f64 {
        self.last_ha - self.first_ha
    }
}

/// Everything the report shows for one categorical layer.
#[derive(Debug, Clone)]
pub struct Landcover {
    pub layer: usize,
    pub classes: Vec<Class>,
    pub years: Vec<i32>,
    /// `totals[year][class]` in hectares.
    pub totals: Vec<Vec<f64>>,
    /// Sites with data, and with a no-data row, per year.
    pub sites_with_data: Vec<u64>,
    pub sites_nodata: Vec<u64>,
    /// Net-change matrix, `(classes + 1)²` (the last row/column is "not observed"), hectares.
    pub matrix: Vec<Vec<f64>>,
    /// Sites in the matrix (data in two or more years) and their year ranges.
    pub matrix_sites: u64,
    pub matrix_first_years: (i32, i32),
    pub matrix_last_years: (i32, i32),
    /// Per class: the largest gains and the largest losses (at most `TOP` each).
    pub top_gains: Vec<Vec<Change>>,
    pub top_losses: Vec<Vec<Change>>,
}

/// Sites listed per class and direction.
pub const TOP: usize = 5;

fn classes(t: &Table, li: usize) -> Vec<Class> {
    let layer = &t.layers[li];
    let mut codes: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
    for site in &t.cells {
        for c in &site[li] {
            if let Cell::Classes(v) = c {
                codes.extend(v.iter().map(|e| e.0));
            }
        }
    }
    let mut fallback = 0usize;
    codes
        .into_iter()
        .map(|code| {
            let legend = layer.legend.get(&code);
            let name = t
                .class_names
                .get(&(li, code))
                .cloned()
                .or_else(|| legend.map(|l| l.0.clone()))
                .unwrap_or_else(|| format!("class {code}"));
            match legend.and_then(|l| l.1.clone()) {
                Some(color) => Class { code, name, color, official: true },
                None => {
                    let color = FALLBACK[fallback % FALLBACK.len()].to_string();
                    fallback += 1;
                    Class { code, name, color, official: false }
                }
            }
        })
        .collect()
}

/// Dense class areas of one cell (`None` without data).
fn dense(cell: &Cell, index: &BTreeMap<i64, usize>, n: usize) -> Option<Vec<f64>> {
    match cell {
        Cell::Classes(v) => {
            let mut out = vec![0.0; n];
            for (code, ha) in v {
                if let Some(&i) = index.get(code) {
                    out[i] += ha;
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// Adds one site's net change between two years to `matrix` (see the module doc).
pub fn add_net_change(matrix: &mut [Vec<f64>], first: &[f64], last: &[f64]) {
    let n = first.len();
    let mut loss = vec![0.0; n];
    let mut gain = vec![0.0; n];
    for c in 0..n {
        matrix[c][c] += first[c].min(last[c]);
        loss[c] = (first[c] - last[c]).max(0.0);
        gain[c] = (last[c] - first[c]).max(0.0);
    }
    let l: f64 = loss.iter().sum();
    let g: f64 = gain.iter().sum();
    let m = l.max(g);
    if m <= 0.0 {
        return;
    }
    // Equal up to rounding: a site whose covered area did not change has nothing "not observed".
    let (l, g) = if (l - g).abs() <= 1e-9 * m { (m, m) } else { (l, g) };
    for i in 0..n {
        if loss[i] == 0.0 {
            continue;
        }
        for j in 0..n {
            if gain[j] > 0.0 {
                matrix[i][j] += loss[i] * gain[j] / m;
            }
        }
        if l > g {
            matrix[i][n] += loss[i] * (l - g) / l;
        }
    }
    if g > l {
        for j in 0..n {
            matrix[n][j] += gain[j] * (g - l) / g;
        }
    }
}

/// Aggregates categorical layer `li`.
pub fn summarise(t: &Table, li: usize) -> Landcover {
    let layer: &LayerInfo = &t.layers[li];
    let classes = classes(t, li);
    let n = classes.len();
    let index: BTreeMap<i64, usize> = classes.iter().enumerate().map(|(i, c)| (c.code, i)).collect();
    let ny = layer.years.len();
    let mut totals = vec![vec![0.0; n]; ny];
    let mut with_data = vec![0u64; ny];
    let mut nodata = vec![0u64; ny];
    let mut matrix = vec![vec![0.0; n + 1]; n + 1];
    let mut matrix_sites = 0u64;
    let (mut fy, mut ly) = ((i32::MAX, i32::MIN), (i32::MAX, i32::MIN));
    let mut changes: Vec<Vec<Change>> = vec![Vec::new(); n];
    for (s, site) in t.cells.iter().enumerate() {
        let mut first: Option<(usize, Vec<f64>)> = None;
        let mut last: Option<(usize, Vec<f64>)> = None;
        for (y, cell) in site[li].iter().enumerate() {
            if *cell == Cell::NoData {
                nodata[y] += 1;
            }
            let Some(d) = dense(cell, &index, n) else { continue };
            with_data[y] += 1;
            for (c, ha) in d.iter().enumerate() {
                totals[y][c] += ha;
            }
            if first.is_none() {
                first = Some((y, d));
            } else {
                last = Some((y, d));
            }
        }
        let (Some((y0, a)), Some((y1, b))) = (first, last) else { continue };
        matrix_sites += 1;
        add_net_change(&mut matrix, &a, &b);
        let (y0, y1) = (layer.years[y0], layer.years[y1]);
        fy = (fy.0.min(y0), fy.1.max(y0));
        ly = (ly.0.min(y1), ly.1.max(y1));
        let site_ha: f64 = a.iter().sum();
        for c in 0..n {
            if a[c] != b[c] {
                changes[c].push(Change {
                    site: s,
                    first_year: y0,
                    last_year: y1,
                    first_ha: a[c],
                    last_ha: b[c],
                    site_ha,
                });
            }
        }
    }
    let mut top_gains = Vec::with_capacity(n);
    let mut top_losses = Vec::with_capacity(n);
    for list in changes {
        let mut gains: Vec<Change> = list.iter().filter(|c| c.delta() > 0.0).cloned().collect();
        gains.sort_by(|a, b| b.delta().total_cmp(&a.delta()).then(a.site.cmp(&b.site)));
        gains.truncate(TOP);
        let mut losses: Vec<Change> = list.into_iter().filter(|c| c.delta() < 0.0).collect();
        losses.sort_by(|a, b| a.delta().total_cmp(&b.delta()).then(a.site.cmp(&b.site)));
        losses.truncate(TOP);
        top_gains.push(gains);
        top_losses.push(losses);
    }
    Landcover {
        layer: li,
        classes,
        years: layer.years.clone(),
        totals,
        sites_with_data: with_data,
        sites_nodata: nodata,
        matrix,
        matrix_sites,
        matrix_first_years: fy,
        matrix_last_years: ly,
        top_gains,
        top_losses,
    }
}

/// Per-site class shares for the browser, one [`Stream`] per layer. Per site: the number of classes
/// present, their indexes, the covered area per year in 0.01 ha (delta-coded, none without data), then
/// per present class its share per year in ‰ of that year's covered area (delta-coded). The per-site
/// charts read these; every aggregate above is computed from the exact values.
pub fn site_series(t: &Table, lc: &Landcover, out: &mut Stream) {
    let n = lc.classes.len();
    let index: BTreeMap<i64, usize> = lc.classes.iter().enumerate().map(|(i, c)| (c.code, i)).collect();
    for site in &t.cells {
        let cells: Vec<Option<Vec<f64>>> = site[lc.layer].iter().map(|c| dense(c, &index, n)).collect();
        let totals: Vec<Option<i64>> =
            cells.iter().map(|c| c.as_ref().map(|v| (v.iter().sum::<f64>() * 100.0).round() as i64)).collect();
        let present: Vec<usize> = (0..n).filter(|&c| cells.iter().flatten().any(|v| v[c] > 0.0)).collect();
        out.uint(present.len() as u64);
        for &c in &present {
            out.uint(c as u64);
        }
        for d in delta(&totals) {
            out.opt(d);
        }
        for &c in &present {
            let per_year: Vec<Option<i64>> = cells
                .iter()
                .map(|v| {
                    v.as_ref().map(|v| {
                        let total: f64 = v.iter().sum();
                        if total > 0.0 {
                            (v[c] / total * 1000.0).round() as i64
                        } else {
                            0
                        }
                    })
                })
                .collect();
            for d in delta(&per_year) {
                out.opt(d);
            }
        }
    }
}

/// Delta-codes a series with gaps: each value minus the previous present one; gaps stay null.
pub fn delta(values: &[Option<i64>]) -> Vec<Option<i64>> {
    let mut prev = 0i64;
    values
        .iter()
        .map(|v| {
            v.map(|x| {
                let d = x - prev;
                prev = x;
                d
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_change_keeps_row_and_column_sums() {
        // Forest 10 → 6, pasture 0 → 3, water 2 → 2; one hectare fewer observed in the last year.
        let (a, b) = ([10.0, 0.0, 2.0], [6.0, 3.0, 2.0]);
        let mut m = vec![vec![0.0; 4]; 4];
        add_net_change(&mut m, &a, &b);
        assert_eq!(m[0][0], 6.0);
        assert_eq!(m[2][2], 2.0);
        assert!((m[0][1] - 3.0).abs() < 1e-12, "forest → pasture: {}", m[0][1]);
        assert!((m[0][3] - 1.0).abs() < 1e-12, "forest → not observed: {}", m[0][3]);
        for (i, want) in a.iter().enumerate() {
            assert!((m[i].iter().sum::<f64>() - want).abs() < 1e-12);
        }
        for (j, want) in b.iter().enumerate() {
            assert!((m.iter().map(|r| r[j]).sum::<f64>() - want).abs() < 1e-12);
        }
    }

    #[test]
    fn net_change_shares_losses_in_proportion_to_gains() {
        let (a, b) = ([8.0, 0.0, 0.0, 2.0], [2.0, 4.0, 2.0, 4.0]);
        let mut m = vec![vec![0.0; 5]; 5];
        add_net_change(&mut m, &a, &b);
        assert!((m[0][1] - 3.0).abs() < 1e-12);
        assert!((m[0][2] - 1.5).abs() < 1e-12);
        assert!((m[0][3] - 1.5).abs() < 1e-12);
        assert!((m[4][1] - 1.0).abs() < 1e-12 && (m[4][2] - 0.5).abs() < 1e-12 && (m[4][3] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn rounding_differences_are_not_unobserved_area() {
        let (a, b) = ([0.1 + 0.2, 0.0], [0.0, 0.3]);
        let mut m = vec![vec![0.0; 3]; 3];
        add_net_change(&mut m, &a, &b);
        assert!((m[0][1] - 0.3).abs() < 1e-15);
        assert_eq!((m[0][2], m[2][1]), (0.0, 0.0));
    }

    #[test]
    fn delta_coding_skips_gaps() {
        assert_eq!(delta(&[None, Some(5), Some(7), None, Some(6)]), vec![None, Some(5), Some(2), None, Some(-1)]);
    }
}
