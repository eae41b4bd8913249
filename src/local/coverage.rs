//! Exact cell coverage: for every raster cell of a window, the fraction of its area inside a site.
//!
//! The method is Green's theorem applied cell by cell (the "signed area accumulation" used by exact
//! font rasterisers, and equivalent to what exactextract computes by clipping):
//!
//! 1. The rings of each polygon are resolved by the even-odd rule into loops that do not cross
//!    (`super::evenodd`: a self-intersecting ring or a hole crossing its outer ring is filled as Earth
//!    Engine fills it with `evenOdd: true`), each moved into window cell coordinates (column, row as real
//!    numbers) and given a factor so that a filling loop counts +1 and a cutting one −1 whatever the
//!    file's winding order (the sign of the loop's shoelace area decides). The loops of all polygons of a
//!    MultiPolygon are simply added.
//! 2. Each edge is cut at every row and column boundary it crosses. A piece lying inside cell
//!    `(r, c)`, with signed height `dy` and mean column `xm`, adds `dy · (c + 1 − xm)` to cell `c` and
//!    `dy · (xm − c)` to cell `c + 1` of an accumulation row: that is the area of the cell's strip lying
//!    right of the piece, as a difference from the previous cell.
//! 3. A running sum along each row turns the differences into the signed area inside the polygon of each
//!    cell, which is the coverage fraction (cells are 1 × 1 in these units).
//!
//! Parts of a polygon outside the window are handled exactly: points left (right) of the window are
//! clamped onto its left (right) edge after cutting the edge there, which keeps the winding number of
//! every point inside the window; parts above or below simply add nothing. The window can therefore be
//! processed in blocks of rows and columns with bounded memory, each block seeing all edges.
//!
//! Results are exact up to floating-point rounding; values within [`EPS`] of 0 or 1 are snapped, and the
//! result is clamped to [0, 1] (overlapping parts of a MultiPolygon therefore count once for cells they
//! cover fully, but add up in cells they share partially: such geometries are invalid GeoJSON anyway).

use crate::sites::Polygon;

/// Coverage below this is treated as zero (rounding noise), above `1 − EPS` as one.
pub const EPS: f64 = 1e-10;

/// A ring in cell coordinates with its contribution factor (+1 or −1 after orientation).
#[derive(Debug, Clone)]
pub struct CellRing {
    pub pts: Vec<[f64; 2]>,
    pub factor: f64,
    /// Row range `[min, max]` of the ring, for skipping rings that miss a block.
    pub rows: [f64; 2],
}

/// Signed shoelace area of a ring (positive when counter-clockwise in x-right/y-up axes).
pub fn shoelace(pts: &[[f64; 2]]) -> f64 {
    if pts.len() < 3 {
        return 0.0;
    }
    let [ox, oy] = pts[0];
    let mut s = 0.0;
    for w in pts.windows(2) {
        s += (w[0][0] - ox) * (w[1][1] - oy) - (w[1][0] - ox) * (w[0][1] - oy);
    }
    let (a, b) = (pts[pts.len() - 1], pts[0]);
    s += (a[0] - ox) * (b[1] - oy) - (b[0] - ox) * (a[1] - oy);
    s / 2.0
}

/// Moves a site's polygons into cell coordinates with `to_cell` and orients every ring.
pub fn rings_in_cells(polygons: &[Polygon], to_cell: impl Fn([f64; 2]) -> [f64; 2]) -> Vec<CellRing> {
    let mut out = Vec::new();
    for poly in polygons {
        // The even-odd rule (as the request declares, `evenOdd: true`): loops that fill or cut.
        for l in super::evenodd::loops(poly) {
            let pts: Vec<[f64; 2]> = l.pts.iter().map(|&p| to_cell(p)).collect();
            let area = shoelace(&pts);
            if pts.len() < 3 || area == 0.0 {
                continue;
            }
            // With this accumulation, a ring of positive shoelace area accumulates −coverage.
            let role = l.role;
            let factor = -role * area.signum();
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for p in &pts {
                lo = lo.min(p[1]);
                hi = hi.max(p[1]);
            }
            out.push(CellRing { pts, factor, rows: [lo, hi] });
        }
    }
    out
}

/// Computes the coverage of the block of `w × h` cells whose top-left corner is at cell coordinates
/// `(x0, y0)`, into `out` (row-major, `w * h` values in [0, 1]). `scratch` is reused between calls.
pub fn coverage_block(
    rings: &[CellRing],
    x0: f64,
    y0: f64,
    w: usize,
    h: usize,
    out: &mut Vec<f64>,
    scratch: &mut Vec<f64>,
) {
    let stride = w + 2;
    scratch.clear();
    scratch.resize(stride * h, 0.0);
    let (top, bottom) = (y0, y0 + h as f64);
    for ring in rings {
        if ring.rows[1] <= top || ring.rows[0] >= bottom {
            continue;
        }
        let n = ring.pts.len();
        for i in 0..n {
            let a = ring.pts[i];
            let b = ring.pts[(i + 1) % n];
            add_edge(scratch, stride, w, h, [a[0] - x0, a[1] - y0], [b[0] - x0, b[1] - y0], ring.factor);
        }
    }
    out.clear();
    out.reserve(w * h);
    for r in 0..h {
        let row = &scratch[r * stride..r * stride + w];
        let mut acc = 0.0;
        for &d in row {
            acc += d;
            let v = if acc < EPS {
                0.0
            } else if acc > 1.0 - EPS {
                1.0
            } else {
                acc
            };
            out.push(v);
        }
    }
}

fn add_edge(acc: &mut [f64], stride: usize, w: usize, h: usize, a: [f64; 2], b: [f64; 2], factor: f64) {
    let ([ax, ay], [bx, by]) = (a, b);
    if ay == by || !(ay.is_finite() && by.is_finite() && ax.is_finite() && bx.is_finite()) {
        return;
    }
    let hf = h as f64;
    let (ylo, yhi) = if ay < by { (ay, by) } else { (by, ay) };
    if yhi <= 0.0 || ylo >= hf {
        return;
    }
    let sign = if by > ay { factor } else { -factor };
    let r0 = ylo.max(0.0).floor() as usize;
    let r1 = (yhi.min(hf).ceil() as usize).min(h);
    let x_at = |y: f64| ax + (bx - ax) * ((y - ay) / (by - ay));
    for r in r0..r1 {
        let ya = ylo.max(r as f64);
        let yb = yhi.min(r as f64 + 1.0);
        if yb <= ya {
            continue;
        }
        let row = &mut acc[r * stride..(r + 1) * stride];
        add_row(row, w, x_at(ya), x_at(yb), sign * (yb - ya));
    }
}

/// Adds a piece of edge lying within one row, from column position `xa` to `xb`, of signed height `sh`.
fn add_row(row: &mut [f64], w: usize, xa: f64, xb: f64, sh: f64) {
    let wf = w as f64;
    let put = |row: &mut [f64], xm: f64, hh: f64| {
        let c = (xm.floor().max(0.0) as usize).min(w);
        let cf = c as f64;
        row[c] += hh * (cf + 1.0 - xm);
        row[c + 1] += hh * (xm - cf);
    };
    let (mut xl, mut xr) = if xa < xb { (xa, xb) } else { (xb, xa) };
    if xr <= 0.0 {
        put(row, 0.0, sh);
        return;
    }
    if xl >= wf {
        put(row, wf, sh);
        return;
    }
    let dx = xr - xl;
    if xl.floor() == xr.floor() || dx == 0.0 {
        put(row, 0.5 * (xl + xr), sh);
        return;
    }
    if xl < 0.0 {
        put(row, 0.0, sh * (-xl / dx));
        xl = 0.0;
    }
    if xr > wf {
        put(row, wf, sh * ((xr - wf) / dx));
        xr = wf;
    }
    let mut x = xl;
    while x < xr {
        let next = (x.floor() + 1.0).min(xr);
        put(row, 0.5 * (x + next), sh * ((next - x) / dx));
        x = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cover(polys: &[Polygon], x0: f64, y0: f64, w: usize, h: usize) -> Vec<f64> {
        let rings = rings_in_cells(polys, |p| p);
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        coverage_block(&rings, x0, y0, w, h, &mut out, &mut scratch);
        out
    }

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    }

    /// Reference: area of the polygon clipped to one cell (Sutherland–Hodgman against the convex cell).
    fn clipped_area(poly: &Polygon, cx: f64, cy: f64) -> f64 {
        let mut total = 0.0;
        for (i, ring) in poly.iter().enumerate() {
            let mut pts: Vec<[f64; 2]> = ring[..ring.len() - 1].to_vec();
            for (axis, bound, keep_greater) in
                [(0, cx, true), (0, cx + 1.0, false), (1, cy, true), (1, cy + 1.0, false)]
            {
                let inside = |p: &[f64; 2]| if keep_greater { p[axis] >= bound } else { p[axis] <= bound };
                let mut next = Vec::new();
                for j in 0..pts.len() {
                    let (p, q) = (pts[j], pts[(j + 1) % pts.len()]);
                    if inside(&p) {
                        next.push(p);
                    }
                    if inside(&p) != inside(&q) {
                        let t = (bound - p[axis]) / (q[axis] - p[axis]);
                        next.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
                    }
                }
                pts = next;
                if pts.is_empty() {
                    break;
                }
            }
            let a = shoelace(&pts).abs();
            total += if i == 0 { a } else { -a };
        }
        total
    }

    #[test]
    fn unit_square_inside_one_cell_and_orientation_does_not_matter() {
        for ring in [rect(1.0, 1.0, 2.0, 2.0), rect(1.0, 1.0, 2.0, 2.0).into_iter().rev().collect()] {
            let c = cover(&[vec![ring]], 0.0, 0.0, 3, 3);
            assert_eq!(c, vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        }
    }

    #[test]
    fn fractions_sum_to_the_polygon_area() {
        // A triangle and a skewed quadrilateral, off the grid.
        let tri = vec![vec![[0.3, 0.2], [7.9, 1.7], [2.2, 6.6], [0.3, 0.2]]];
        let quad = vec![vec![[1.25, 0.5], [6.5, 2.125], [5.75, 7.5], [0.5, 4.0], [1.25, 0.5]]];
        for poly in [tri, quad] {
            let c = cover(std::slice::from_ref(&poly), 0.0, 0.0, 9, 9);
            let want = shoelace(&poly[0]).abs();
            let got: f64 = c.iter().sum();
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
            for (i, v) in c.iter().enumerate() {
                let reference = clipped_area(&poly, (i % 9) as f64, (i / 9) as f64);
                assert!((v - reference).abs() < 1e-12, "cell {i}: {v} vs {reference}");
            }
        }
    }

    #[test]
    fn holes_subtract_and_multipolygons_add() {
        let outer = rect(0.5, 0.5, 6.5, 6.5);
        let hole = rect(2.25, 2.25, 4.75, 4.0); // same winding as the outer ring on purpose
        let other = rect(7.0, 0.0, 8.0, 2.5);
        let polys = vec![vec![outer, hole], vec![other]];
        let c = cover(&polys, 0.0, 0.0, 9, 8);
        let got: f64 = c.iter().sum();
        assert!((got - (36.0 - 2.5 * 1.75 + 2.5)).abs() < 1e-12, "{got}");
        assert_eq!(c[3 * 9 + 3], 0.0, "inside the hole");
        assert_eq!(c[9 + 1], 1.0);
        assert!((c[2 * 9 + 2] - 0.4375).abs() < 1e-12, "cell under the hole's corner: {}", c[2 * 9 + 2]);
        for (i, v) in c.iter().enumerate() {
            let (cx, cy) = ((i % 9) as f64, (i / 9) as f64);
            let reference: f64 = polys.iter().map(|p| clipped_area(p, cx, cy)).sum();
            assert!((v - reference).abs() < 1e-12, "cell {i}: {v} vs {reference}");
        }
    }

    #[test]
    fn polygons_crossing_the_window_edges_are_clipped_exactly() {
        // A diamond sticking out on all four sides of a 4 × 4 window.
        let diamond: Polygon = vec![vec![[2.0, -1.5], [5.5, 2.0], [2.0, 5.5], [-1.5, 2.0], [2.0, -1.5]]];
        let c = cover(std::slice::from_ref(&diamond), 0.0, 0.0, 4, 4);
        for (i, v) in c.iter().enumerate() {
            let reference = clipped_area(&diamond, (i % 4) as f64, (i / 4) as f64);
            assert!((v - reference).abs() < 1e-12, "cell {i}: {v} vs {reference}");
        }
        // The same diamond in four 2 × 2 blocks gives the same numbers.
        for (bx, by) in [(0.0, 0.0), (2.0, 0.0), (0.0, 2.0), (2.0, 2.0)] {
            let b = cover(std::slice::from_ref(&diamond), bx, by, 2, 2);
            for (j, v) in b.iter().enumerate() {
                let (cx, cy) = (bx as usize + j % 2, by as usize + j / 2);
                assert!((v - c[cy * 4 + cx]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn random_polygons_match_clipping() {
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..40 {
            // Star-shaped polygons around a centre (always simple), partly outside the window.
            let (cx, cy) = (1.0 + rnd() * 6.0, 1.0 + rnd() * 6.0);
            let n = 3 + (rnd() * 9.0) as usize;
            let mut ring: Vec<[f64; 2]> = (0..n)
                .map(|k| {
                    let t = (k as f64 + rnd() * 0.8) / n as f64 * std::f64::consts::TAU;
                    let r = 0.3 + rnd() * 5.0;
                    [cx + r * t.cos(), cy + r * t.sin()]
                })
                .collect();
            ring.push(ring[0]);
            let poly = vec![ring];
            let c = cover(std::slice::from_ref(&poly), 0.0, 0.0, 8, 8);
            for (i, v) in c.iter().enumerate() {
                let reference = clipped_area(&poly, (i % 8) as f64, (i / 8) as f64);
                assert!((v - reference).abs() < 1e-9, "cell {i}: {v} vs {reference}");
            }
        }
    }
}
