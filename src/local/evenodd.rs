//! The even-odd rule for the local engine: the rings of one polygon become loops that neither cross
//! themselves nor each other, each with the role (+1 fills, −1 cuts) that makes their signed sum the
//! even-odd interior — the polygon Earth Engine reduces, since geepipe declares `evenOdd: true`.
//!
//! Why by hand: the coverage of `super::coverage` is linear (Green's theorem sums each ring's signed
//! contribution), and the even-odd interior is linear in its loops only once they do not cross. No crate
//! here resolves self-intersecting rings into such loops (`geo`'s boolean operations would add a large
//! dependency for one function), and the method is short:
//!
//! 1. **Uncross.** Every proper crossing between two edges (of one ring or of two) is found and both
//!    edges are cut there; a vertex lying inside another edge cuts that edge too. At every point where
//!    the boundary passes more than once, the passes are re-paired so that paired rays are neighbours
//!    in angular order (a non-crossing matching: the boundary touches itself there instead of crossing).
//!    Re-pairing keeps every edge, so every point's crossing parity — the even-odd rule — is unchanged.
//! 2. **Trace** the loops of the re-paired boundary. They are simple and mutually non-crossing, so any
//!    two are nested or disjoint.
//! 3. **Depth.** A loop inside an even number of others fills (+1), inside an odd number cuts (−1): the
//!    sum is 1 exactly where the parity is odd.
//!
//! A polygon without crossings (the usual case) skips step 1; a polygon of one ring is its own loop.
//! Collinear overlapping edges are not cut (their parity contribution cancels anyway).

use crate::sites::Ring;

/// One loop: its positions (not closed: the first position is not repeated) and its role.
#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    pub pts: Vec<[f64; 2]>,
    /// +1 when it fills, −1 when it cuts a hole.
    pub role: f64,
}

fn orient(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// The loops of one polygon (its rings, closed or not) under the even-odd rule.
pub fn loops(rings: &[Ring]) -> Vec<Loop> {
    let mut open: Vec<Vec<[f64; 2]>> = rings
        .iter()
        .map(|r| {
            let mut pts: Vec<[f64; 2]> = Vec::with_capacity(r.len());
            for p in r {
                if pts.last() != Some(p) {
                    pts.push(*p);
                }
            }
            if pts.len() > 1 && pts.first() == pts.last() {
                pts.pop();
            }
            pts
        })
        .filter(|p| p.len() >= 3)
        .collect();
    if open.is_empty() {
        return Vec::new();
    }
    if open.len() == 1 && !has_crossing(&open) {
        return vec![Loop { pts: open.pop().unwrap_or_default(), role: 1.0 }];
    }
    let traced = if has_crossing(&open) { uncross(&open) } else { open };
    with_roles(traced)
}

/// Edges as (ring, index) with their end points.
fn edges(rings: &[Vec<[f64; 2]>]) -> Vec<(usize, usize, [f64; 2], [f64; 2])> {
    let mut out = Vec::new();
    for (r, ring) in rings.iter().enumerate() {
        for i in 0..ring.len() {
            out.push((r, i, ring[i], ring[(i + 1) % ring.len()]));
        }
    }
    out
}

/// Calls `f(a, b)` for every pair of edges whose bounding boxes overlap (a sweep over x).
fn candidate_pairs(es: &[(usize, usize, [f64; 2], [f64; 2])], mut f: impl FnMut(usize, usize)) {
    let mut order: Vec<usize> = (0..es.len()).collect();
    let lo = |e: &(usize, usize, [f64; 2], [f64; 2])| e.2[0].min(e.3[0]);
    let hi = |e: &(usize, usize, [f64; 2], [f64; 2])| e.2[0].max(e.3[0]);
    order.sort_by(|&a, &b| lo(&es[a]).total_cmp(&lo(&es[b])));
    let mut active: Vec<usize> = Vec::new();
    for &i in &order {
        let x = lo(&es[i]);
        active.retain(|&j| hi(&es[j]) >= x);
        let (ylo, yhi) = (es[i].2[1].min(es[i].3[1]), es[i].2[1].max(es[i].3[1]));
        for &j in &active {
            let (jlo, jhi) = (es[j].2[1].min(es[j].3[1]), es[j].2[1].max(es[j].3[1]));
            if jhi >= ylo && jlo <= yhi {
                f(j, i);
            }
        }
        active.push(i);
    }
}

/// Whether two edges are neighbours on one ring (they share a vertex by construction).
fn adjacent(rings: &[Vec<[f64; 2]>], a: (usize, usize), b: (usize, usize)) -> bool {
    if a.0 != b.0 {
        return false;
    }
    let n = rings[a.0].len();
    (a.1 + 1) % n == b.1 || (b.1 + 1) % n == a.1
}

/// Whether any two edges cross properly, or a vertex lies inside another edge.
fn has_crossing(rings: &[Vec<[f64; 2]>]) -> bool {
    let es = edges(rings);
    let mut found = false;
    candidate_pairs(&es, |a, b| {
        if !found && !adjacent(rings, (es[a].0, es[a].1), (es[b].0, es[b].1)) {
            found = intersection(es[a].2, es[a].3, es[b].2, es[b].3).is_some();
        }
    });
    found
}

/// Where two segments meet such that one of them must be cut: `(t on pq, u on rs, point)`, with `t` or
/// `u` strictly inside (0, 1). Proper crossings give both inside; a vertex on the other's interior one.
fn intersection(p: [f64; 2], q: [f64; 2], r: [f64; 2], s: [f64; 2]) -> Option<(f64, f64, [f64; 2])> {
    let (o1, o2, o3, o4) = (orient(p, q, r), orient(p, q, s), orient(r, s, p), orient(r, s, q));
    let d = [q[0] - p[0], q[1] - p[1]];
    let e = [s[0] - r[0], s[1] - r[1]];
    let param = |a: [f64; 2], from: [f64; 2], dir: [f64; 2]| {
        let len2 = dir[0] * dir[0] + dir[1] * dir[1];
        ((a[0] - from[0]) * dir[0] + (a[1] - from[1]) * dir[1]) / len2
    };
    if o1 * o2 < 0.0 && o3 * o4 < 0.0 {
        let t = o3 / (o3 - o4);
        let u = o1 / (o1 - o2);
        let pt = [p[0] + t * d[0], p[1] + t * d[1]];
        return Some((t, u, pt));
    }
    // A vertex of one segment inside the other (a touching or crossing through a vertex).
    let inside = |a: [f64; 2], from: [f64; 2], dir: [f64; 2]| {
        let t = param(a, from, dir);
        (t > 0.0 && t < 1.0).then_some(t)
    };
    if o1 == 0.0 && o2 != 0.0 {
        if let Some(t) = inside(r, p, d) {
            return Some((t, 0.0, r));
        }
    }
    if o2 == 0.0 && o1 != 0.0 {
        if let Some(t) = inside(s, p, d) {
            return Some((t, 1.0, s));
        }
    }
    if o3 == 0.0 && o4 != 0.0 {
        if let Some(u) = inside(p, r, e) {
            return Some((0.0, u, p));
        }
    }
    if o4 == 0.0 && o3 != 0.0 {
        if let Some(u) = inside(q, r, e) {
            return Some((1.0, u, q));
        }
    }
    None
}

/// Steps 1 and 2: cuts every edge at its crossings, re-pairs the passes at every multiple point, traces.
fn uncross(rings: &[Vec<[f64; 2]>]) -> Vec<Vec<[f64; 2]>> {
    let es = edges(rings);
    // Cut points per edge: (parameter, point).
    let mut cuts: Vec<Vec<(f64, [f64; 2])>> = vec![Vec::new(); es.len()];
    candidate_pairs(&es, |a, b| {
        if adjacent(rings, (es[a].0, es[a].1), (es[b].0, es[b].1)) {
            return;
        }
        if let Some((t, u, pt)) = intersection(es[a].2, es[a].3, es[b].2, es[b].3) {
            if t > 0.0 && t < 1.0 {
                cuts[a].push((t, pt));
            }
            if u > 0.0 && u < 1.0 {
                cuts[b].push((u, pt));
            }
        }
    });
    // The boundary as one list of directed half-edges (from, to), ring by ring.
    let mut seq: Vec<Vec<[f64; 2]>> = Vec::with_capacity(rings.len());
    let mut k = 0;
    for ring in rings {
        let mut pts = Vec::new();
        for _ in 0..ring.len() {
            pts.push(es[k].2);
            let mut c = std::mem::take(&mut cuts[k]);
            c.sort_by(|x, y| x.0.total_cmp(&y.0));
            for (_, pt) in c {
                if pts.last() != Some(&pt) {
                    pts.push(pt);
                }
            }
            k += 1;
        }
        seq.push(pts);
    }
    let key = |p: [f64; 2]| (p[0].to_bits(), p[1].to_bits());
    // Half-edges: (ring, index) → from seq[r][i] to seq[r][i+1].
    let half: Vec<(usize, usize)> =
        seq.iter().enumerate().flat_map(|(r, pts)| (0..pts.len()).map(move |i| (r, i))).collect();
    let id_of = |r: usize, i: usize, seq: &Vec<Vec<[f64; 2]>>| -> usize {
        seq[..r].iter().map(Vec::len).sum::<usize>() + i % seq[r].len()
    };
    let from = |h: (usize, usize)| seq[h.0][h.1];
    let to = |h: (usize, usize)| seq[h.0][(h.1 + 1) % seq[h.0].len()];
    // Outgoing and incoming half-edges at each point.
    let mut at: std::collections::HashMap<(u64, u64), (Vec<usize>, Vec<usize>)> = std::collections::HashMap::new();
    for (id, &h) in half.iter().enumerate() {
        at.entry(key(from(h))).or_default().0.push(id);
        at.entry(key(to(h))).or_default().1.push(id);
    }
    // next[incoming half-edge] = outgoing half-edge it continues into.
    let mut next: Vec<usize> = half.iter().map(|&(r, i)| id_of(r, i + 1, &seq)).collect();
    for (outs, ins) in at.values() {
        if outs.len() < 2 {
            continue;
        }
        let p = from(half[outs[0]]);
        // Rays: outgoing along the half-edge, incoming back along it; sorted by angle.
        let mut rays: Vec<(f64, bool, usize)> = Vec::with_capacity(outs.len() * 2);
        for &o in outs {
            let q = to(half[o]);
            rays.push(((q[1] - p[1]).atan2(q[0] - p[0]), true, o));
        }
        for &i in ins {
            let q = from(half[i]);
            rays.push(((q[1] - p[1]).atan2(q[0] - p[0]), false, i));
        }
        rays.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut stack: Vec<(bool, usize)> = Vec::new();
        for (_, out, id) in rays {
            match stack.last() {
                Some(&(o, other)) if o != out => {
                    stack.pop();
                    let (i, o) = if out { (other, id) } else { (id, other) };
                    next[i] = o;
                }
                _ => stack.push((out, id)),
            }
        }
    }
    // Trace.
    let mut seen = vec![false; half.len()];
    let mut out = Vec::new();
    for start in 0..half.len() {
        if seen[start] {
            continue;
        }
        let mut pts = Vec::new();
        let mut h = start;
        while !seen[h] {
            seen[h] = true;
            pts.push(from(half[h]));
            h = next[h];
        }
        if pts.len() >= 3 {
            out.push(pts);
        }
    }
    out
}

fn area(pts: &[[f64; 2]]) -> f64 {
    let o = pts[0];
    let mut s = 0.0;
    for i in 0..pts.len() {
        let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
        s += (a[0] - o[0]) * (b[1] - o[1]) - (b[0] - o[0]) * (a[1] - o[1]);
    }
    s / 2.0
}

/// Whether `p` is inside `pts` by the crossing rule.
fn contains(pts: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    for i in 0..pts.len() {
        let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if x > p[0] {
                inside = !inside;
            }
        }
    }
    inside
}

/// Step 3: the role of each loop from how many others contain it.
fn with_roles(loops: Vec<Vec<[f64; 2]>>) -> Vec<Loop> {
    let boxes: Vec<[f64; 4]> = loops
        .iter()
        .map(|l| {
            l.iter().fold([f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY], |b, p| {
                [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
            })
        })
        .collect();
    let probes: Vec<[f64; 2]> = loops
        .iter()
        .map(|l| {
            // The midpoint of the loop's longest edge: on its boundary, off every other loop's.
            let (mut best, mut len) = (0, -1.0);
            for i in 0..l.len() {
                let (a, b) = (l[i], l[(i + 1) % l.len()]);
                let d = (b[0] - a[0]).hypot(b[1] - a[1]);
                if d > len {
                    (best, len) = (i, d);
                }
            }
            let (a, b) = (l[best], l[(best + 1) % l.len()]);
            [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
        })
        .collect();
    let mut out = Vec::with_capacity(loops.len());
    for (i, l) in loops.iter().enumerate() {
        if area(l) == 0.0 {
            continue;
        }
        let p = probes[i];
        let depth = (0..loops.len())
            .filter(|&j| j != i)
            .filter(|&j| {
                let b = boxes[j];
                p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3] && contains(&loops[j], p)
            })
            .count();
        out.push(Loop { pts: l.clone(), role: if depth % 2 == 0 { 1.0 } else { -1.0 } });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The even-odd area of a set of loops: Σ role · |area|.
    fn filled(rings: &[Ring]) -> f64 {
        loops(rings).iter().map(|l| l.role * area(&l.pts).abs()).sum()
    }

    fn closed(pts: &[[f64; 2]]) -> Ring {
        let mut r = pts.to_vec();
        r.push(pts[0]);
        r
    }

    #[test]
    fn a_bow_tie_is_two_triangles() {
        let bow = closed(&[[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 2.0]]);
        let l = loops(&[bow]);
        assert_eq!(l.len(), 2, "{l:?}");
        assert!(l.iter().all(|l| l.role == 1.0));
        assert!((filled(&[closed(&[[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 2.0]])]) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_ring_that_loops_over_itself_leaves_the_twice_wound_part_out() {
        // Around [0,4]² except its corner [3,4]², then a loop around [1,3]² that crosses the first pass at
        // (3, 3): [1,3]² is wound twice, so even-odd leaves it out (15 − 4); non-zero would give 15.
        let looped =
            closed(&[[0.0, 0.0], [4.0, 0.0], [4.0, 3.0], [1.0, 3.0], [1.0, 1.0], [3.0, 1.0], [3.0, 4.0], [0.0, 4.0]]);
        let l = loops(std::slice::from_ref(&looped));
        assert_eq!(l.len(), 2, "{l:?}");
        let a = filled(&[looped]);
        assert!((a - 11.0).abs() < 1e-12, "{a}");
    }

    #[test]
    fn holes_and_overlapping_rings_follow_the_parity() {
        let outer = closed(&[[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]]);
        let hole = closed(&[[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0]]);
        assert!((filled(&[outer.clone(), hole.clone()]) - 15.0).abs() < 1e-12);
        // A "hole" sticking out of the outer ring: the part outside becomes filled (parity 1).
        let out_hole = closed(&[[3.0, 1.0], [5.0, 1.0], [5.0, 2.0], [3.0, 2.0]]);
        assert!((filled(&[outer.clone(), out_hole]) - (16.0 - 1.0 + 1.0)).abs() < 1e-12);
        // Pieces of one side after an antimeridian split: two disjoint rings both fill.
        let other = closed(&[[10.0, 0.0], [11.0, 0.0], [11.0, 1.0], [10.0, 1.0]]);
        assert!((filled(&[outer, hole, other]) - 16.0).abs() < 1e-12);
    }
}
