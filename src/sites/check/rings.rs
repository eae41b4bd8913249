//! A ring's own shape beyond its positions: whether it crosses itself, and how messages name it.

/// Rings longer than this are not checked for self-crossings (the check is quadratic).
pub(super) const SELF_CROSSING_MAX: usize = 256;

/// The first pair of non-adjacent edges `(i, j)` (edge `k` runs from position `k` to `k + 1`) that cross
/// properly, in a closed ring of at most [`SELF_CROSSING_MAX`] positions. Touching at a point and
/// collinear overlaps are not reported.
pub(super) fn self_crossing(ring: &[[f64; 2]]) -> Option<(usize, usize)> {
    if ring.len() > SELF_CROSSING_MAX {
        return None;
    }
    let edges = ring.len() - 1;
    let orient = |a: [f64; 2], b: [f64; 2], c: [f64; 2]| {
        let v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        if v > 0.0 {
            1
        } else if v < 0.0 {
            -1
        } else {
            0
        }
    };
    for i in 0..edges {
        let (p, q) = (ring[i], ring[i + 1]);
        for j in i + 2..edges {
            if i == 0 && j == edges - 1 {
                continue;
            }
            let (r, t) = (ring[j], ring[j + 1]);
            if orient(p, q, r) * orient(p, q, t) < 0 && orient(r, t, p) * orient(r, t, q) < 0 {
                return Some((i, j));
            }
        }
    }
    None
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
    use super::self_crossing;

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
