//! Edge densification: converting a ring's vertices alone would turn each straight edge of the source CRS
//! into the edge Earth Engine draws between the converted vertices (a geodesic, since site polygons are
//! sent as geodesic EPSG:4326 geometries). The two differ (a straight UTM or Web Mercator edge is not a
//! geodesic), by millimetres for a field-sized edge and by metres for a long one. So each edge is split at
//! its midpoint (in the source CRS) while that midpoint, converted, lies more than [`DENSIFY_TOLERANCE_M`]
//! from the geodesic between the converted ends, down to [`DENSIFY_MAX_DEPTH`] levels (1,024 pieces per edge).
//!
//! Distances are measured on a sphere of the Earth's mean radius (the cross-track distance); for the
//! sub-metre offsets involved the ellipsoid changes them by well under 1%.

use super::{Crs, CrsError};

/// How far a converted edge may stray from the source CRS's straight edge, in metres: a hundredth of a
/// Sentinel-2 pixel, far below what a zonal statistic can see.
pub const DENSIFY_TOLERANCE_M: f64 = 0.1;

/// How many times an edge may be halved (at most 2^10 pieces).
pub const DENSIFY_MAX_DEPTH: u32 = 10;

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

fn unit([lon, lat]: [f64; 2]) -> [f64; 3] {
    let (lon, lat) = (lon.to_radians(), lat.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Distance in metres from `p` to the great circle through `a` and `b` (all `[lon, lat]` degrees); the
/// distance from `p` to `a` when `a` and `b` coincide.
pub fn cross_track_m(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> f64 {
    let (ua, ub, up) = (unit(a), unit(b), unit(p));
    let n = cross(ua, ub);
    let norm = dot(n, n).sqrt();
    if norm < 1e-15 {
        let c = cross(ua, up);
        return dot(c, c).sqrt().atan2(dot(ua, up)) * EARTH_RADIUS_M;
    }
    (dot(up, n) / norm).clamp(-1.0, 1.0).asin().abs() * EARTH_RADIUS_M
}

impl Crs {
    /// Converts a ring (or any line) of source-CRS positions to WGS 84 `[lon, lat]`, densifying edges to
    /// [`DENSIFY_TOLERANCE_M`]. WGS 84 input is returned unchanged. A closed ring stays closed.
    pub fn ring_to_lonlat(&self, ring: &[[f64; 2]]) -> Result<Vec<[f64; 2]>, CrsError> {
        self.line_to_lonlat(ring, DENSIFY_TOLERANCE_M)
    }

    /// [`Crs::ring_to_lonlat`] with another tolerance (metres).
    pub fn line_to_lonlat(&self, line: &[[f64; 2]], tolerance_m: f64) -> Result<Vec<[f64; 2]>, CrsError> {
        if self.is_wgs84() {
            return Ok(line.to_vec());
        }
        let mut out = Vec::with_capacity(line.len());
        let Some(&first) = line.first() else { return Ok(out) };
        let mut prev = (first, self.to_lonlat(first[0], first[1])?);
        out.push(prev.1);
        for &p in &line[1..] {
            let next = (p, self.to_lonlat(p[0], p[1])?);
            if p != prev.0 {
                self.refine(prev, next, tolerance_m, 0, &mut out)?;
            }
            out.push(next.1);
            prev = next;
        }
        Ok(out)
    }

    /// Adds the converted points strictly between `a` and `b` that keep the edge within `tol`.
    fn refine(
        &self,
        a: ([f64; 2], [f64; 2]),
        b: ([f64; 2], [f64; 2]),
        tol: f64,
        depth: u32,
        out: &mut Vec<[f64; 2]>,
    ) -> Result<(), CrsError> {
        if depth >= DENSIFY_MAX_DEPTH {
            return Ok(());
        }
        let mid = [(a.0[0] + b.0[0]) / 2.0, (a.0[1] + b.0[1]) / 2.0];
        let m = (mid, self.to_lonlat(mid[0], mid[1])?);
        if cross_track_m(a.1, b.1, m.1) <= tol {
            return Ok(());
        }
        self.refine(a, m, tol, depth + 1, out)?;
        out.push(m.1);
        self.refine(m, b, tol, depth + 1, out)
    }
}
