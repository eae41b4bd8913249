//! Sites that cross the antimeridian, split at ±180° so that both engines reduce the polygon the file
//! means.
//!
//! GeoJSON edges are straight lines in longitude/latitude (RFC 7946 §3.1.1), and geepipe sends them so
//! (`geodesic: false`). An edge from 179° to −179° is therefore a 358°-wide line, unless the file means
//! the short way across the antimeridian — which is what a longitude jump of more than 180° between two
//! consecutive positions says (RFC 7946 §3.1.9 asks writers to split such geometries; many do not). Such
//! a polygon is split here into its parts east and west of the antimeridian, each a polygon of
//! longitudes within [−180°, 180°]; the site becomes a MultiPolygon of those parts.
//!
//! Method: each ring is unwrapped (every longitude moved by a multiple of 360° so that consecutive ones
//! differ by at most 180°), cut where it crosses a line `180° + k·360°` (latitude interpolated linearly,
//! as the edge is straight), and each piece is moved back by its band's multiple of 360° and closed along
//! the antimeridian. Pieces are grouped by side: each side's pieces (from the outer ring and from holes)
//! form one polygon whose interior is given by the even-odd rule (`evenOdd: true` in the request, and
//! the local engine fills rings the same way): a point's parity counts crossings with the original edges
//! only, because a ray leaving the antimeridian never meets the closing segments, so however the pieces
//! are closed the parts are exactly the original polygon on each side.
//!
//! A ring whose unwrapped longitudes do not come back to the start (it goes once around the globe, i.e.
//! it encloses a pole) cannot be split this way and is reported.

use super::{Polygon, Ring};

/// Why a polygon cannot be split.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitError {
    /// A ring goes once around the globe: it encloses a pole.
    EnclosesPole { polygon: usize, ring: usize },
    /// A ring spans more than 360° of longitude once unwrapped.
    TooWide { polygon: usize, ring: usize },
}

/// Whether a ring has a longitude jump of more than 180° between consecutive positions.
pub fn crosses(ring: &[[f64; 2]]) -> bool {
    ring.windows(2).any(|w| (w[1][0] - w[0][0]).abs() > 180.0)
}

/// Splits every polygon that crosses the antimeridian; `Ok(None)` when none does.
pub fn split(polygons: &[Polygon]) -> Result<Option<Vec<Polygon>>, SplitError> {
    if !polygons.iter().flatten().any(|r| crosses(r)) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (pi, poly) in polygons.iter().enumerate() {
        if !poly.iter().any(|r| crosses(r)) {
            out.push(poly.clone());
            continue;
        }
        // Side (band k of longitudes [−180 + 360k, 180 + 360k)) → its closed pieces.
        let mut sides: Vec<(i64, Polygon)> = Vec::new();
        for (ri, ring) in poly.iter().enumerate() {
            for (band, piece) in cut(ring).map_err(|e| match e {
                Cut::Pole => SplitError::EnclosesPole { polygon: pi, ring: ri },
                Cut::Wide => SplitError::TooWide { polygon: pi, ring: ri },
            })? {
                match sides.iter_mut().find(|(b, _)| *b == band) {
                    Some((_, rings)) => rings.push(piece),
                    None => sides.push((band, vec![piece])),
                }
            }
        }
        sides.sort_by_key(|(b, _)| *b);
        out.extend(sides.into_iter().map(|(_, rings)| rings));
    }
    Ok(Some(out))
}

enum Cut {
    Pole,
    Wide,
}

/// The band of an unwrapped longitude: band `k` holds `[−180 + 360k, 180 + 360k)`.
fn band(x: f64) -> i64 {
    ((x + 180.0) / 360.0).floor() as i64
}

/// Cuts one (closed) ring into closed pieces, each with its band and moved into [−180°, 180°].
fn cut(ring: &Ring) -> Result<Vec<(i64, Ring)>, Cut> {
    if ring.len() < 2 {
        return Ok(vec![(0, ring.clone())]);
    }
    // Unwrap.
    let mut u: Vec<[f64; 2]> = Vec::with_capacity(ring.len());
    for (i, p) in ring.iter().enumerate() {
        if i == 0 {
            u.push(*p);
            continue;
        }
        let prev = u[i - 1][0];
        let mut x = p[0];
        while x - prev > 180.0 {
            x -= 360.0;
        }
        while prev - x > 180.0 {
            x += 360.0;
        }
        u.push([x, p[1]]);
    }
    if (u[u.len() - 1][0] - u[0][0]).abs() > 1e-9 {
        return Err(Cut::Pole);
    }
    let last = u.len() - 1;
    u[last] = u[0];
    let (lo, hi) = u.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| (l.min(p[0]), h.max(p[0])));
    if hi - lo > 360.0 {
        return Err(Cut::Wide);
    }
    // Walk the edges; a piece ends where an edge reaches a band boundary.
    let mut pieces: Vec<(i64, Vec<[f64; 2]>)> = Vec::new();
    let mut current: Vec<[f64; 2]> = vec![u[0]];
    let mut cur_band = band(u[0][0]);
    for w in u.windows(2) {
        let (p, q) = (w[0], w[1]);
        let bq = band(q[0]);
        // Cross every boundary between the two bands, in order.
        while bq != cur_band {
            let line = if bq > cur_band { 180.0 + 360.0 * cur_band as f64 } else { -180.0 + 360.0 * cur_band as f64 };
            let t = (line - p[0]) / (q[0] - p[0]);
            let y = p[1] + t * (q[1] - p[1]);
            current.push([line, y]);
            pieces.push((cur_band, std::mem::take(&mut current)));
            cur_band += if bq > cur_band { 1 } else { -1 };
            current.push([line, y]);
        }
        current.push(q);
    }
    if pieces.is_empty() {
        return Ok(vec![(cur_band, shift(&current, cur_band))]);
    }
    // The last piece continues into the first (the ring's start is inside a piece).
    let first = pieces.remove(0);
    if first.0 == cur_band {
        current.extend(first.1.into_iter().skip(1));
        pieces.push((cur_band, current));
    } else {
        pieces.push((cur_band, current));
        pieces.push(first);
    }
    Ok(pieces
        .into_iter()
        .map(|(b, mut pts)| {
            // Close along the antimeridian (even-odd makes any closure on the line exact).
            if pts.first() != pts.last() {
                pts.push(pts[0]);
            }
            (b, shift(&pts, b))
        })
        .collect())
}

/// Moves a piece of band `b` into [−180°, 180°].
fn shift(pts: &[[f64; 2]], b: i64) -> Ring {
    let d = 360.0 * b as f64;
    pts.iter().map(|p| [(p[0] - d).clamp(-180.0, 180.0), p[1]]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(ring: &[[f64; 2]]) -> f64 {
        ring.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum::<f64>() / 2.0
    }

    #[test]
    fn a_box_across_the_antimeridian_becomes_two_boxes() {
        let ring = vec![[179.0, -16.0], [-179.0, -16.0], [-179.0, -15.0], [179.0, -15.0], [179.0, -16.0]];
        assert!(crosses(&ring));
        let parts = split(&[vec![ring]]).unwrap().unwrap();
        assert_eq!(parts.len(), 2, "{parts:?}");
        let areas: Vec<f64> = parts.iter().map(|p| area(&p[0]).abs()).collect();
        assert!((areas[0] - 1.0).abs() < 1e-12 && (areas[1] - 1.0).abs() < 1e-12, "{areas:?}");
        for p in &parts {
            for q in &p[0] {
                assert!((-180.0..=180.0).contains(&q[0]), "{q:?}");
            }
            assert_eq!(p[0].first(), p[0].last());
        }
        // West of the antimeridian (longitudes ≤ 180) and east of it (≥ −180).
        assert!(parts.iter().any(|p| p[0].iter().all(|q| q[0] >= 179.0)));
        assert!(parts.iter().any(|p| p[0].iter().all(|q| q[0] <= -179.0)));
    }

    #[test]
    fn polygons_that_do_not_cross_are_left_alone_and_poles_are_reported() {
        let square = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        assert_eq!(split(&[vec![square]]).unwrap(), None);
        // Around the South Pole: longitudes go once around.
        let cap = vec![[0.0, -80.0], [120.0, -80.0], [-120.0, -80.0], [0.0, -80.0]];
        assert!(crosses(&cap));
        assert_eq!(split(&[vec![cap]]), Err(SplitError::EnclosesPole { polygon: 0, ring: 0 }));
    }

    #[test]
    fn a_hole_across_the_antimeridian_is_split_with_its_outer_ring() {
        let outer = vec![[178.0, -17.0], [-178.0, -17.0], [-178.0, -13.0], [178.0, -13.0], [178.0, -17.0]];
        let hole = vec![[179.5, -16.0], [179.5, -14.0], [-179.5, -14.0], [-179.5, -16.0], [179.5, -16.0]];
        let parts = split(&[vec![outer, hole]]).unwrap().unwrap();
        assert_eq!(parts.len(), 2);
        for p in &parts {
            assert_eq!(p.len(), 2, "each side: its piece of the outer ring and of the hole: {p:?}");
            let net = area(&p[0]).abs() - area(&p[1]).abs();
            assert!((net - (2.0 * 4.0 - 0.5 * 2.0)).abs() < 1e-9, "{net}");
        }
    }
}
