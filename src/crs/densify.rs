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

/// Maps the positions of a line (or ring) through `map`, adding the images of edge midpoints wherever
/// `off(image of a, image of b, image of the midpoint)` exceeds `tol`: each edge is halved (in the
/// source coordinates) down to `max_depth` levels. The common step of [`Crs::line_to_lonlat`] and of the
/// local engine's projection of sites into a raster grid.
pub fn densify<E>(
    line: &[[f64; 2]],
    map: impl Fn([f64; 2]) -> Result<[f64; 2], E>,
    off: impl Fn([f64; 2], [f64; 2], [f64; 2]) -> f64,
    tol: f64,
    max_depth: u32,
) -> Result<Vec<[f64; 2]>, E> {
    type Pair = ([f64; 2], [f64; 2]);
    struct Step<'a, M, O> {
        map: &'a M,
        off: &'a O,
        tol: f64,
        max_depth: u32,
    }
    impl<M, O> Step<'_, M, O> {
        fn refine<E>(&self, a: Pair, b: Pair, depth: u32, out: &mut Vec<[f64; 2]>) -> Result<(), E>
        where
            M: Fn([f64; 2]) -> Result<[f64; 2], E>,
            O: Fn([f64; 2], [f64; 2], [f64; 2]) -> f64,
        {
            if depth >= self.max_depth {
                return Ok(());
            }
            let mid = [(a.0[0] + b.0[0]) / 2.0, (a.0[1] + b.0[1]) / 2.0];
            let m = (mid, (self.map)(mid)?);
            if (self.off)(a.1, b.1, m.1) <= self.tol {
                return Ok(());
            }
            self.refine(a, m, depth + 1, out)?;
            out.push(m.1);
            self.refine(m, b, depth + 1, out)
        }
    }
    let step = Step { map: &map, off: &off, tol, max_depth };
    let mut out = Vec::with_capacity(line.len());
    let Some(&first) = line.first() else { return Ok(out) };
    let mut prev = (first, map(first)?);
    out.push(prev.1);
    for &p in &line[1..] {
        let next = (p, map(p)?);
        if p != prev.0 {
            step.refine(prev, next, 0, &mut out)?;
        }
        out.push(next.1);
        prev = next;
    }
    Ok(out)
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
        densify(line, |p| self.to_lonlat(p[0], p[1]), cross_track_m, tolerance_m, DENSIFY_MAX_DEPTH)
    }
}
