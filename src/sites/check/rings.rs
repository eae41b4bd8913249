//! A ring's own shape beyond its positions: whether it crosses itself, whether it encloses any area, whether
//! a hole lies inside its outer ring (the checks that report these are in [`super::geometry`]), and how
//! messages name it. Both are judged in longitude/latitude
//! (containment with the `geo` crate; "no area" by hand, as no crate tests collinearity with a
//! tolerance), for polygons that do not cross the antimeridian (those are split first, and their parts
//! are planar again only after the split).
//!
//! Self-crossings are found by the sweep-line of the `geo` crate ([`geo::algorithm::sweep`], a simplified
//! Bentley–Ottmann over the ring's edges with robust orientation tests), for rings of any length. It
//! compares only edges whose ranges along the sweep overlap, so a site boundary of n edges costs about
//! n log n, not n²; but a ring whose edges nearly all span the same range — a comb whose long teeth run
//! along the sweep — costs about n²/2 comparisons. So the ranges' overlapping pairs are counted first
//! (n log n) along x and along y, and the sweep runs along the axis with fewer: a comb with horizontal
//! teeth is swept along y (each tooth then meets only its neighbours). The sweep stops after
//! [`MAX_PAIRS`] comparisons: a ring whose long edges overlap along both axes (a comb drawn diagonally) and
//! does not cross itself within them is said to be unchecked ([`SelfCrossing::Unchecked`]), never silently
//! skipped; a ring crossing itself everywhere meets a crossing long before. (geo's sweep has no balanced
//! status tree — which a full Bentley–Ottmann needs to stay n log n on such a ring — and no crate offers one
//! for f64 segments with exact predicates.)
//!
//! A short ring (most site boundaries) is first checked pair by pair over the same candidates (edges whose
//! x ranges overlap) with the same test (`line_intersection`), which costs less than building the sweep;
//! only a ring found to cross itself is swept, so the pair reported is the sweep's.

use std::cell::Cell;

use geo::algorithm::line_intersection::line_intersection;
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
    let Some((len, [dx, dy])) = farthest(ring, x0, y0) else { return true };
    if len == 0.0 {
        return true;
    }
    ring.iter().all(|&[x, y]| {
        let (px, py) = (x - x0, y - y0);
        (dx * py - dy * px).abs() <= 1e-9 * len * px.hypot(py)
    })
}

/// The position farthest from `(x0, y0)` by `hypot` (the last of equally far ones), as its distance and
/// offset. `hypot` is most of the cost, so it is computed only for positions not clearly nearer than the
/// farthest so far: a square distance below the farthest's by a relative 1e-9 (far beyond the rounding of
/// either) means a smaller `hypot`, so such a position could not be chosen.
fn farthest(ring: &Ring, x0: f64, y0: f64) -> Option<(f64, [f64; 2])> {
    let mut best: Option<(f64, f64, [f64; 2])> = None;
    for &[x, y] in ring {
        let (dx, dy) = (x - x0, y - y0);
        let sq = dx * dx + dy * dy;
        if let Some((best_sq, best_len, _)) = best {
            if best_sq.is_finite() && sq < best_sq * (1.0 - 1e-9) {
                continue;
            }
            let len = dx.hypot(dy);
            if len.total_cmp(&best_len) != std::cmp::Ordering::Less {
                best = Some((sq, len, [dx, dy]));
            }
        } else {
            best = Some((sq, dx.hypot(dy), [dx, dy]));
        }
    }
    best.map(|(_, len, d)| (len, d))
}

/// The most pairs of edges the sweep may compare in one ring (about a fifth of a second in a release
/// build): 10 million, which a ring of 4,500 edges all spanning the same range reaches.
pub(super) const MAX_PAIRS: u64 = 10_000_000;

/// Whether a closed ring crosses itself.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SelfCrossing {
    /// No two non-adjacent edges cross properly.
    No,
    /// Edges `i < j` (edge `k` runs from position `k` to `k + 1`) cross properly: the first such pair the
    /// sweep meets.
    At(usize, usize),
    /// Not checked to the end: the sweep compared [`MAX_PAIRS`] pairs of edges without finding a crossing,
    /// of the `pairs` it would compare along its better axis.
    Unchecked { pairs: u64 },
}

/// Edge `k` of a ring (from position `k` to `k + 1`), as the sweep sees it. `read` counts the lines the
/// sweep reads (one per edge to sort them, then two per pair it compares); past `limit` every edge reads
/// as the same line, so the sweep's next comparison meets an overlap and hands control back.
#[derive(Clone, Copy)]
struct Edge<'a> {
    k: usize,
    line: Line<f64>,
    read: &'a Cell<u64>,
    limit: u64,
}

impl Cross for Edge<'_> {
    type Scalar = f64;

    fn line(&self) -> Line<f64> {
        self.read.set(self.read.get() + 1);
        if self.read.get() > self.limit {
            return Line::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 1.0, y: 1.0 });
        }
        self.line
    }
}

/// How many pairs of `ranges` (`[low, high]` each) overlap, as geo's sweep counts them: sorted by `low`,
/// each range is compared with every later one starting at or before its `high`. n log n.
fn overlapping_pairs(ranges: &mut [[f64; 2]]) -> u64 {
    ranges.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let lows: Vec<f64> = ranges.iter().map(|r| r[0]).collect();
    ranges.iter().enumerate().map(|(i, r)| (lows.partition_point(|&l| l <= r[1]) - i - 1) as u64).sum()
}

/// Whether a closed ring crosses itself: a pair of non-adjacent edges crossing properly. The first pair
/// the sweep meets is reported, so a ring that crosses itself everywhere (n² crossings) costs no more
/// than finding one. Touching at a point and collinear overlaps are not crossings.
pub(super) fn self_crossing(ring: &[[f64; 2]]) -> SelfCrossing {
    let edges = ring.len().saturating_sub(1);
    if (4..=SHORT_RING).contains(&edges) && !crosses_pairwise(ring) {
        return SelfCrossing::No;
    }
    self_crossing_counted(ring).0
}

/// Rings of at most this many edges are checked pair by pair before the sweep.
const SHORT_RING: usize = 32;

/// Whether two non-adjacent edges of a closed ring cross properly, comparing every pair of edges whose x
/// ranges overlap (the pairs the sweep compares) with the sweep's test.
fn crosses_pairwise(ring: &[[f64; 2]]) -> bool {
    let edges = ring.len().saturating_sub(1);
    let edge =
        |k: usize| Line::new(Coord { x: ring[k][0], y: ring[k][1] }, Coord { x: ring[k + 1][0], y: ring[k + 1][1] });
    let range = |k: usize| (ring[k][0].min(ring[k + 1][0]), ring[k][0].max(ring[k + 1][0]));
    for i in 0..edges {
        let (a0, a1) = range(i);
        for j in i + 2..edges {
            if i == 0 && j == edges - 1 {
                continue; // the closing edge is adjacent to the first
            }
            let (b0, b1) = range(j);
            if b0 > a1 || a0 > b1 {
                continue;
            }
            if matches!(
                line_intersection(edge(i), edge(j)),
                Some(LineIntersection::SinglePoint { is_proper: true, .. })
            ) {
                return true;
            }
        }
    }
    false
}

/// [`self_crossing`], with how many lines the sweep read (`edges` + 2 × the pairs it compared).
fn self_crossing_counted(ring: &[[f64; 2]]) -> (SelfCrossing, u64) {
    let edges = ring.len().saturating_sub(1);
    if edges < 4 {
        return (SelfCrossing::No, 0); // a triangle's edges are all adjacent
    }
    // Along which axis: x unless y compares fewer pairs (worth counting only for long rings).
    let (mut swap, mut pairs) = (false, 0);
    if edges > 64 {
        let range = |axis: usize| -> Vec<[f64; 2]> {
            (0..edges).map(|k| [ring[k][axis].min(ring[k + 1][axis]), ring[k][axis].max(ring[k + 1][axis])]).collect()
        };
        let (along_x, along_y) = (overlapping_pairs(&mut range(0)), overlapping_pairs(&mut range(1)));
        swap = along_y < along_x;
        pairs = along_x.min(along_y);
    }
    // Swapping x and y mirrors the ring: which edges cross properly does not change.
    let at = |p: [f64; 2]| if swap { Coord { x: p[1], y: p[0] } } else { Coord { x: p[0], y: p[1] } };
    let read = Cell::new(0);
    let limit = edges as u64 + 2 * MAX_PAIRS;
    let segments = (0..edges).map(|k| Edge { k, line: Line::new(at(ring[k]), at(ring[k + 1])), read: &read, limit });
    for (e, f, x) in Intersections::from_iter(segments) {
        if read.get() > limit {
            return (SelfCrossing::Unchecked { pairs }, read.get());
        }
        let (i, j) = (e.k.min(f.k), e.k.max(f.k));
        let adjacent = j == i + 1 || (i == 0 && j == edges - 1);
        if !adjacent && matches!(x, LineIntersection::SinglePoint { is_proper: true, .. }) {
            return (SelfCrossing::At(i, j), read.get());
        }
    }
    (SelfCrossing::No, read.get())
}

/// How messages name a ring ("the outer ring", "hole 2 of polygon 3"), written only when a message is.
#[derive(Clone, Copy)]
pub(super) struct RingName {
    /// The polygon's index in a MultiPolygon.
    pub(super) polygon: Option<usize>,
    pub(super) ring: usize,
}

impl std::fmt::Display for RingName {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.ring {
            0 => f.write_str("the outer ring")?,
            r => write!(f, "hole {r}")?,
        }
        match self.polygon {
            Some(p) => write!(f, " of polygon {}", p + 1),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{self_crossing, self_crossing_counted, zero_area, SelfCrossing, MAX_PAIRS};

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

    #[test]
    fn the_farthest_position_is_the_one_hypot_picks() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for n in [1usize, 2, 5, 13, 40] {
            for _ in 0..500 {
                // Coarse grids give many equally far positions; fine ones nearly equal distances.
                let scale = [1.0, 1e-7, 1e3][rng.random_range(0..3)];
                let ring: Vec<[f64; 2]> = (0..n)
                    .map(|_| [rng.random_range(-3..4) as f64 * scale, rng.random_range(-3..4) as f64 * scale])
                    .collect();
                let [x0, y0] = ring[0];
                let want = ring
                    .iter()
                    .map(|&[x, y]| [x - x0, y - y0])
                    .max_by(|a, b| a[0].hypot(a[1]).total_cmp(&b[0].hypot(b[1])))
                    .map(|[dx, dy]| (dx.hypot(dy), [dx, dy]));
                assert_eq!(super::farthest(&ring, x0, y0), want, "{ring:?}");
            }
        }
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
        assert_eq!(self_crossing(&ring), SelfCrossing::No);
        // Swap two neighbouring positions far into the ring: the chords 70,000→70,002 and 70,001→70,003
        // now cross (their ends interleave on the circle).
        ring.swap(70_001, 70_002);
        assert_eq!(self_crossing(&ring), SelfCrossing::At(70_000, 70_002));
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
        let SelfCrossing::At(i, j) = self_crossing(&ring) else { panic!("no crossing found") };
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
                    (SelfCrossing::No, None) => {}
                    (SelfCrossing::At(i, j), Some(_)) => assert!(brute_force_pair(&ring, i, j), "{ring:?}: {i}, {j}"),
                    (got, want) => panic!("{ring:?}: sweep {got:?}, definition {want:?}"),
                }
            }
        }
    }

    #[test]
    fn the_pairwise_check_of_short_rings_agrees_with_the_sweep() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut crossing, mut not) = (0, 0);
        for n in [4usize, 5, 7, 12, 20, 32] {
            for _ in 0..400 {
                // Small integer grids (touchings, collinear overlaps, crossings) and near-circles.
                let ring: Vec<[f64; 2]> = if rng.random_bool(0.5) {
                    (0..n).map(|_| [rng.random_range(0..5) as f64, rng.random_range(0..5) as f64]).collect()
                } else {
                    (0..n)
                        .map(|k| {
                            let a = k as f64 / n as f64 * std::f64::consts::TAU + rng.random_range(-0.3..0.3);
                            [a.cos() * rng.random_range(0.5..1.0), a.sin() * rng.random_range(0.5..1.0)]
                        })
                        .collect()
                };
                let mut ring = ring;
                ring.push(ring[0]);
                let swept = self_crossing_counted(&ring).0;
                assert_eq!(super::crosses_pairwise(&ring), swept != SelfCrossing::No, "{ring:?}");
                if swept == SelfCrossing::No {
                    not += 1;
                } else {
                    crossing += 1;
                }
            }
        }
        assert!(crossing > 100 && not > 100, "{crossing} crossing, {not} not");
    }

    #[test]
    fn finds_a_bow_tie_but_not_a_square_or_a_touching_ring() {
        let square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        assert_eq!(self_crossing(&square), SelfCrossing::No);
        let bow_tie = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]];
        assert_eq!(self_crossing(&bow_tie), SelfCrossing::At(0, 2));
        // Two triangles touching at (1, 1): no proper crossing.
        let touching = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [2.0, 2.0], [1.0, 1.0], [0.0, 2.0], [0.0, 0.0]];
        assert_eq!(self_crossing(&touching), SelfCrossing::No);
    }

    /// A comb of `teeth` horizontal teeth of length 1 along a vertical spine at x = 0 (a simple polygon):
    /// tooth t runs out at y = 2t·h and back at y = (2t + 1)·h; the spine's far side is at x = -0.1.
    /// 4·teeth + 3 positions, the last repeating the first.
    fn comb(teeth: usize) -> Vec<[f64; 2]> {
        let h = 1e-4;
        let mut ring = Vec::with_capacity(4 * teeth + 3);
        for t in 0..teeth {
            let (out, back) = ((2 * t) as f64 * h, (2 * t + 1) as f64 * h);
            ring.extend([[0.0, out], [1.0, out], [1.0, back], [0.0, back]]);
        }
        let top = (2 * teeth) as f64 * h;
        ring.extend([[-0.1, top], [-0.1, 0.0], [0.0, 0.0]]);
        ring
    }

    #[test]
    fn a_comb_is_swept_across_its_teeth_and_its_crossing_found_where_it_is() {
        // 20,003 positions, 5,000 teeth spanning the same x-range: swept along x, every pair of teeth would
        // be compared (about 5·10⁷ pairs); swept along y each edge meets only its neighbours.
        let teeth = 5_000;
        let ring = comb(teeth);
        assert_eq!(ring.len(), 20_003);
        let edges = (ring.len() - 1) as u64;
        let (found, lines) = self_crossing_counted(&ring);
        assert_eq!(found, SelfCrossing::No);
        let pairs = (lines - edges) / 2;
        // The spine's far side (one edge spanning every y) meets each edge once; the rest only neighbours.
        assert!(pairs < 4 * edges, "{pairs} pairs compared for {edges} edges");

        // Pull the tip of tooth 3,000 (position 4·3,000 + 2) up and in, past the outgoing edge of tooth
        // 3,001: its two edges around that position now cross that edge (edge 4·3,001), and nothing else.
        let mut bent = ring.clone();
        let t = 3_000;
        bent[4 * t + 2] = [0.5, (2 * t + 2) as f64 * 1e-4 + 0.5e-4];
        let (found, lines) = self_crossing_counted(&bent);
        let SelfCrossing::At(i, j) = found else { panic!("no crossing found: {found:?}") };
        assert!([(4 * t + 1, 4 * t + 4), (4 * t + 2, 4 * t + 4)].contains(&(i, j)), "{i}, {j}");
        assert!(brute_force_pair(&bent, i, j));
        assert!((lines - edges) / 2 < 4 * edges);
    }

    #[test]
    fn a_diagonal_comb_beyond_the_budget_is_said_to_be_unchecked() {
        // The comb turned by 45°: its teeth overlap along x and along y, so either sweep compares about
        // (5,000 teeth × 2)² / 2 pairs, above the budget; counting them is n log n.
        let turn =
            |[x, y]: [f64; 2]| [(x - y) * std::f64::consts::FRAC_1_SQRT_2, (x + y) * std::f64::consts::FRAC_1_SQRT_2];
        let ring: Vec<[f64; 2]> = comb(5_000).into_iter().map(turn).collect();
        match self_crossing(&ring) {
            SelfCrossing::Unchecked { pairs } => assert!(pairs > MAX_PAIRS, "{pairs}"),
            other => panic!("{other:?}"),
        }
        // A smaller one within the budget is checked: 1,000 teeth, about 2·10⁶ pairs.
        let small: Vec<[f64; 2]> = comb(1_000).into_iter().map(turn).collect();
        assert_eq!(self_crossing(&small), SelfCrossing::No);
    }
}
