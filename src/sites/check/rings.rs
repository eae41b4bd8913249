//! A ring's own shape beyond its positions: whether it crosses itself, whether it encloses any area, whether
//! a hole lies inside its outer ring (the checks that report these are in [`super::geometry`]), and how
//! messages name it. Both are judged in longitude/latitude
//! (containment with the `geo` crate; "no area" by hand, as no crate tests collinearity with a
//! tolerance), for polygons that do not cross the antimeridian (those are split first, and their parts
//! are planar again only after the split).
//!
//! Self-crossings are found by the sweep-line of the `geo` crate ([`geo::algorithm::sweep`], a simplified
//! Bentley–Ottmann over the ring's edges with robust orientation tests), for rings of any length: only
//! edges whose x-ranges overlap are compared, so a site boundary of n edges costs about n log n, not n².
//! (A ring whose edges nearly all span the same x-range — a comb of long zigzags — still costs about n²;
//! site boundaries are not drawn that way.)

use geo::algorithm::sweep::{Cross, Intersections};
use geo::{Coord, Line, LineIntersection, LineString};

use crate::sites::Ring;

pub(super) fn line(ring: &Ring) -> LineString {
    LineString::new(ring.iter().map(|&[x, y]| Coord { x, y }).collect())
}

/// Whether every position of a ring lies on one line (within rounding: the sine of the angle each makes
/// with the longest line from the first position is below 1e-9), so it encloses no area. The signed area
/// cannot tell: a bow tie's two halves cancel out, yet the even-odd fill covers both.
pub(super) fn zero_area(ring: &Ring) -> bool {
    let Some(&[x0, y0]) = ring.first() else { return true };
    let far = ring.iter().map(|&[x, y]| [x - x0, y - y0]).max_by(|a, b| a[0].hypot(a[1]).total_cmp(&b[0].hypot(b[1])));
    let Some([dx, dy]) = far else { return true };
    let len = dx.hypot(dy);
    if len == 0.0 {
        return true;
    }
    ring.iter().all(|&[x, y]| {
        let (px, py) = (x - x0, y - y0);
        (dx * py - dy * px).abs() <= 1e-9 * len * px.hypot(py)
    })
}

/// Edge `k` of a ring (from position `k` to `k + 1`), as the sweep sees it.
#[derive(Clone, Copy)]
struct Edge {
    k: usize,
    line: Line<f64>,
}

impl Cross for Edge {
    type Scalar = f64;

    fn line(&self) -> Line<f64> {
        self.line
    }
}

/// A pair `(i, j)`, `i < j`, of non-adjacent edges (edge `k` runs from position `k` to `k + 1`) that
/// cross properly, in a closed ring: the first one the sweep meets, so a ring that crosses itself
/// everywhere (n² crossings) costs no more than finding one. Touching at a point and collinear overlaps
/// are not reported.
pub(super) fn self_crossing(ring: &[[f64; 2]]) -> Option<(usize, usize)> {
    let edges = ring.len().saturating_sub(1);
    if edges < 4 {
        return None; // a triangle's edges are all adjacent
    }
    let at = |p: [f64; 2]| Coord { x: p[0], y: p[1] };
    let segments = (0..edges).map(|k| Edge { k, line: Line::new(at(ring[k]), at(ring[k + 1])) });
    Intersections::from_iter(segments)
        .filter_map(|(e, f, x)| {
            let (i, j) = (e.k.min(f.k), e.k.max(f.k));
            let adjacent = j == i + 1 || (i == 0 && j == edges - 1);
            let proper = matches!(x, LineIntersection::SinglePoint { is_proper: true, .. });
            (proper && !adjacent).then_some((i, j))
        })
        .next()
}

pub(super) fn ring_name(polygon: Option<usize>, ring: usize) -> String {
    let r = if ring == 0 { "the outer ring".to_string() } else { format!("hole {ring}") };
    match polygon {
        Some(p) => format!("{r} of polygon {}", p + 1),
        None => r,
    }
}

#[cfg(test)]
mod tests {
    use super::{self_crossing, zero_area};

    #[test]
    fn zero_area_means_every_position_on_one_line() {
        let square = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        assert!(!zero_area(&square));
        let flat = vec![[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 0.0]];
        assert!(zero_area(&flat));
        let diagonal = vec![[-48.0, -15.0], [-47.99, -14.99], [-47.98, -14.98], [-48.0, -15.0]];
        assert!(zero_area(&diagonal));
        // A thin but real sliver (1 m by 1 km at the equator) is not zero.
        let sliver = vec![[0.0, 0.0], [0.01, 0.0], [0.01, 0.00001], [0.0, 0.00001], [0.0, 0.0]];
        assert!(!zero_area(&sliver));
        // A bow tie's signed area is zero, but it covers two triangles.
        let bow_tie = vec![[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]];
        assert!(!zero_area(&bow_tie));
        assert!(zero_area(&vec![[3.0, 4.0]; 4]));
    }

    /// Whether edges `i` and `j` cross properly (strict orientation tests).
    fn brute_force_pair(ring: &[[f64; 2]], i: usize, j: usize) -> bool {
        let orient = |a: [f64; 2], b: [f64; 2], c: [f64; 2]| {
            let v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
            (v > 0.0) as i32 - (v < 0.0) as i32
        };
        let (p, q, r, t) = (ring[i], ring[i + 1], ring[j], ring[j + 1]);
        orient(p, q, r) * orient(p, q, t) < 0 && orient(r, t, p) * orient(r, t, q) < 0
    }

    /// The quadratic definition: every pair of non-adjacent edges, strict orientation tests.
    fn brute_force(ring: &[[f64; 2]]) -> Option<(usize, usize)> {
        let edges = ring.len() - 1;
        (0..edges)
            .flat_map(|i| (i + 2..edges).map(move |j| (i, j)))
            .filter(|&(i, j)| !(i == 0 && j == edges - 1))
            .find(|&(i, j)| brute_force_pair(ring, i, j))
    }

    /// A circle of `n` positions around (0, 0) (never crossing itself).
    fn circle(n: usize) -> Vec<[f64; 2]> {
        let mut r: Vec<[f64; 2]> = (0..n)
            .map(|k| {
                let a = k as f64 / n as f64 * std::f64::consts::TAU;
                [a.cos(), a.sin()]
            })
            .collect();
        r.push(r[0]);
        r
    }

    #[test]
    fn a_crossing_in_a_long_ring_is_found() {
        // 100,001 positions: the old check skipped anything above 256.
        let mut ring = circle(100_000);
        assert_eq!(self_crossing(&ring), None);
        // Swap two neighbouring positions far into the ring: the chords 70,000→70,002 and 70,001→70,003
        // now cross (their ends interleave on the circle).
        ring.swap(70_001, 70_002);
        assert_eq!(self_crossing(&ring), Some((70_000, 70_002)));
    }

    #[test]
    fn a_ring_crossing_itself_everywhere_is_found_without_listing_every_crossing() {
        // 20,001 positions alternating between two far-apart points on a circle: every edge passes near
        // the centre, so nearly every pair of edges crosses (about 2·10⁸ crossings). Listing them all
        // would take minutes; the first one is enough.
        let n = 20_000;
        let mut ring: Vec<[f64; 2]> = (0..n)
            .map(|k| {
                let a =
                    k as f64 / n as f64 * std::f64::consts::PI + if k % 2 == 1 { std::f64::consts::PI } else { 0.0 };
                [a.cos(), a.sin()]
            })
            .collect();
        ring.push(ring[0]);
        let (i, j) = self_crossing(&ring).expect("a crossing");
        assert!(i + 1 < j && !(i == 0 && j == n - 1));
        assert!(brute_force_pair(&ring, i, j), "{i} and {j} do not cross");
    }

    #[test]
    fn the_sweep_agrees_with_the_quadratic_definition() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in [4usize, 5, 6, 8, 12, 30] {
            for _ in 0..300 {
                // Positions on a small integer grid: many touchings, collinear edges and crossings.
                let mut ring: Vec<[f64; 2]> =
                    (0..n).map(|_| [rng.random_range(0..6) as f64, rng.random_range(0..6) as f64]).collect();
                ring.push(ring[0]);
                match (self_crossing(&ring), brute_force(&ring)) {
                    (None, None) => {}
                    (Some((i, j)), Some(_)) => assert!(brute_force_pair(&ring, i, j), "{ring:?}: {i}, {j}"),
                    (got, want) => panic!("{ring:?}: sweep {got:?}, definition {want:?}"),
                }
            }
        }
    }

    #[test]
    fn finds_a_bow_tie_but_not_a_square_or_a_touching_ring() {
        let square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        assert_eq!(self_crossing(&square), None);
        let bow_tie = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]];
        assert_eq!(self_crossing(&bow_tie), Some((0, 2)));
        // Two triangles touching at (1, 1): no proper crossing.
        let touching = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [2.0, 2.0], [1.0, 1.0], [0.0, 2.0], [0.0, 0.0]];
        assert_eq!(self_crossing(&touching), None);
    }
}
