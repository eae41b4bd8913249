//! Sites in a raster grid that is not WGS 84 longitude/latitude, and the area of its cells.
//!
//! **Polygons.** A site's edges are straight lines in longitude/latitude (as for geographic rasters and
//! for exactextract). Their images in a projection are curves, so each edge is projected through its
//! vertices and midpoints, halving pieces while the projected midpoint of a piece lies more than
//! [`DENSIFY_TOLERANCE_CELLS`] of a cell from the chord between its projected ends (at most
//! [`DENSIFY_MAX_DEPTH`] halvings). Coverage is then computed exactly on that polyline in the raster's
//! own grid.
//!
//! **Cell areas.** For an equal-area projection (Albers, Lambert azimuthal, cylindrical equal area,
//! sinusoidal, Equal Earth) the area of every cell is its size in the plane, `|dx · dy|` in m². For
//! any other projection the area of a cell is the ellipsoidal area of its footprint: the cell's
//! outline taken back to longitude/latitude on the CRS's own ellipsoid (no datum shift) and measured
//! with GeographicLib's geodesic polygon area (`geographiclib-rs`). Doing that for every cell would
//! cost microseconds per cell, so footprints are measured for blocks of about 2 km (`B × B` cells,
//! every cell corner along the block outline, so a block's footprint is exactly the union of its
//! cells'), and a cell's area is the bilinear interpolation of the block means at block centres. The
//! area of a cell varies smoothly (on the scale of the Earth's radius R), so this reproduces the
//! per-cell footprint areas to about `(B·cell / R)²` ≈ 1e-7 relative; block means are computed once
//! per raster grid and shared by all sites and threads.

use std::collections::HashMap;
use std::sync::Mutex;

use geographiclib_rs::{Geodesic, PolygonArea, Winding};
use proj4rs::Proj;

use super::geotiff::Transform;
use crate::crs::{Crs, CrsError};

/// How far (in cells) a projected edge may stray from the image of the straight longitude/latitude edge.
pub const DENSIFY_TOLERANCE_CELLS: f64 = 1e-6;
/// At most 2^16 pieces per edge.
pub const DENSIFY_MAX_DEPTH: u32 = 16;
/// Target size of the blocks whose footprints are measured (metres).
const AREA_BLOCK_M: f64 = 2000.0;

/// PROJ names of the projections that preserve area on their ellipsoid.
const EQUAL_AREA: &[&str] = &["aea", "leac", "laea", "cea", "sinu", "eqearth"];

/// Projects sites into a grid and gives its cell areas.
/// Why a position or a cell area cannot be computed in a raster's coordinate system.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// PROJ cannot build or apply a transformation of that system.
    #[error("{0}")]
    Proj(#[from] proj4rs::errors::Error),
    /// A position cannot be carried between WGS 84 and that system.
    #[error("{0}")]
    Crs(#[from] CrsError),
    #[error("cell corner ({col}, {row}) has no longitude/latitude")]
    NoLonLat { col: f64, row: f64 },
}

pub struct Projector {
    crs: Crs,
    transform: Transform,
    areas: Areas,
}

enum Areas {
    /// m² per cell.
    Constant(f64),
    /// Longitude/latitude cells on the ellipsoid (a, f): the exact zone formula of [`super::area`].
    Zones {
        a: f64,
        f: f64,
    },
    Footprints(Box<Footprints>),
}

impl Projector {
    /// For a raster in `crs` (projected, or geographic on another datum) with grid `transform`.
    pub fn new(crs: Crs, transform: Transform) -> Result<Projector, ProjectError> {
        let projected = Proj::from_proj_string(crs.definition())?;
        let to_meter = projected.to_meter();
        let name = projected.projname();
        let k = param(crs.definition(), "k").or_else(|| param(crs.definition(), "k_0")).unwrap_or(1.0);
        let areas = if projected.is_latlong() {
            let (a, b) = projected.ellipse_parameters();
            Areas::Zones { a, f: if a > 0.0 { (a - b) / a } else { 0.0 } }
        } else if EQUAL_AREA.contains(&name) && k == 1.0 {
            Areas::Constant((transform.dx * transform.dy).abs() * to_meter * to_meter)
        } else {
            Areas::Footprints(Box::new(Footprints::new(&crs, &projected, transform)?))
        };
        Ok(Projector { crs, transform, areas })
    }

    /// A WGS 84 `[lon, lat]` in CRS coordinates.
    fn to_crs(&self, p: [f64; 2]) -> Result<[f64; 2], ProjectError> {
        Ok(self.crs.from_lonlat(p[0], p[1])?)
    }

    /// A ring of WGS 84 positions in CRS coordinates, densified (module doc).
    pub fn ring_in_crs(&self, ring: &[[f64; 2]]) -> Result<Vec<[f64; 2]>, ProjectError> {
        let (dx, dy) = (self.transform.dx, self.transform.dy);
        // How far (in cells) the projected midpoint lies from the chord's midpoint.
        let off = |a: [f64; 2], b: [f64; 2], m: [f64; 2]| {
            ((m[0] - (a[0] + b[0]) / 2.0) / dx).hypot((m[1] - (a[1] + b[1]) / 2.0) / dy)
        };
        crate::crs::densify(ring, |p| self.to_crs(p), off, DENSIFY_TOLERANCE_CELLS, DENSIFY_MAX_DEPTH)
    }

    /// Converts CRS coordinates back to WGS 84 `[lon, lat]`.
    pub fn to_lonlat(&self, p: [f64; 2]) -> Result<[f64; 2], ProjectError> {
        Ok(self.crs.to_lonlat(p[0], p[1])?)
    }

    /// Areas in m² of the `bw × bh` cells from global column `gc0`, row `gr0`, row-major into `out`.
    pub fn cell_areas(
        &self,
        gc0: usize,
        gr0: usize,
        bw: usize,
        bh: usize,
        out: &mut Vec<f64>,
    ) -> Result<(), ProjectError> {
        out.clear();
        match &self.areas {
            Areas::Constant(a) => {
                out.resize(bw * bh, *a);
                Ok(())
            }
            Areas::Zones { a, f } => {
                let t = self.transform;
                for r in 0..bh {
                    let g = (gr0 + r) as f64;
                    let area =
                        super::area::cell_area_m2_on(*a, *f, 0.0, t.dx, t.y0 + g * t.dy, t.y0 + (g + 1.0) * t.dy);
                    out.extend(std::iter::repeat_n(area, bw));
                }
                Ok(())
            }
            Areas::Footprints(f) => f.cell_areas(gc0, gr0, bw, bh, out),
        }
    }

    /// Whether every cell has the same area.
    pub fn equal_area(&self) -> bool {
        matches!(self.areas, Areas::Constant(_))
    }
}

/// The value of `+key=value` in a PROJ string, as a number.
fn param(definition: &str, key: &str) -> Option<f64> {
    definition.split_whitespace().find_map(|t| t.strip_prefix('+')?.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Footprint areas of `B × B`-cell blocks, measured on demand and kept.
struct Footprints {
    projected: Proj,
    geographic: Proj,
    geodesic: Geodesic,
    transform: Transform,
    /// Cells per block side.
    b: usize,
    /// Mean cell area (m²) of block (column, row), block indices may be negative at the edges.
    means: Mutex<HashMap<(i64, i64), f64>>,
}

impl Footprints {
    fn new(crs: &Crs, projected: &Proj, transform: Transform) -> Result<Footprints, ProjectError> {
        // Longitude/latitude on the CRS's own datum: the same ellipsoid and shift, no projection.
        let keep = ["+datum=", "+ellps=", "+a=", "+b=", "+rf=", "+f=", "+R=", "+towgs84=", "+pm="];
        let datum: Vec<&str> =
            crs.definition().split_whitespace().filter(|t| keep.iter().any(|k| t.starts_with(k))).collect();
        let geographic = Proj::from_proj_string(&format!("+proj=longlat {} +no_defs", datum.join(" ")))?;
        let (a, b) = geographic.ellipse_parameters();
        let f = if a > 0.0 { (a - b) / a } else { 0.0 };
        let cell_m = (transform.dx.abs().min(transform.dy.abs()) * projected.to_meter()).max(1e-9);
        let cells = if projected.is_latlong() {
            // Degrees: about 111 km per degree.
            AREA_BLOCK_M / (cell_m * 111_000.0)
        } else {
            AREA_BLOCK_M / cell_m
        };
        Ok(Footprints {
            projected: projected.clone(),
            geographic,
            geodesic: Geodesic::new(a, f),
            transform,
            b: (cells.round() as usize).clamp(1, 128),
            means: Mutex::new(HashMap::new()),
        })
    }

    /// `[lat, lon]` in degrees on the CRS's ellipsoid of grid position (column, row) (cell corners are
    /// whole numbers).
    fn corner(&self, col: f64, row: f64) -> Result<[f64; 2], ProjectError> {
        let t = self.transform;
        let (x, y) = (t.x0 + col * t.dx, t.y0 + row * t.dy);
        let mut p = if self.projected.is_latlong() { (x.to_radians(), y.to_radians(), 0.0) } else { (x, y, 0.0) };
        proj4rs::transform::transform(&self.projected, &self.geographic, &mut p)?;
        let (lon, lat) = (p.0.to_degrees(), p.1.to_degrees());
        if !lon.is_finite() || !lat.is_finite() {
            return Err(ProjectError::NoLonLat { col, row });
        }
        Ok([lat, lon])
    }

    /// Mean cell area of block (i, j): its footprint's geodesic area over its cell count.
    fn measure(&self, i: i64, j: i64) -> Result<f64, ProjectError> {
        let b = self.b as i64;
        let (c0, r0) = ((i * b) as f64, (j * b) as f64);
        let n = self.b;
        let mut poly = PolygonArea::new(&self.geodesic, Winding::CounterClockwise);
        // The outline through every cell corner: top edge, right edge, bottom edge, left edge.
        let mut outline = Vec::with_capacity(4 * n);
        for k in 0..n {
            outline.push((c0 + k as f64, r0));
        }
        for k in 0..n {
            outline.push((c0 + n as f64, r0 + k as f64));
        }
        for k in 0..n {
            outline.push((c0 + (n - k) as f64, r0 + n as f64));
        }
        for k in 0..n {
            outline.push((c0, r0 + (n - k) as f64));
        }
        for (c, r) in outline {
            let [lat, lon] = self.corner(c, r)?;
            poly.add_point(lat, lon);
        }
        let (_, area, _) = poly.compute(true);
        Ok(area.abs() / (n * n) as f64)
    }

    fn cell_areas(&self, gc0: usize, gr0: usize, bw: usize, bh: usize, out: &mut Vec<f64>) -> Result<(), ProjectError> {
        let b = self.b as f64;
        // Block centres around the cells: cell c's centre is at c + 0.5; block i's centre at (i + 0.5)·b.
        let pos = |c: usize| (c as f64 + 0.5) / b - 0.5;
        let (i0, i1) = (pos(gc0).floor() as i64, pos(gc0 + bw - 1).floor() as i64 + 1);
        let (j0, j1) = (pos(gr0).floor() as i64, pos(gr0 + bh - 1).floor() as i64 + 1);
        let (ni, nj) = ((i1 - i0 + 1) as usize, (j1 - j0 + 1) as usize);
        let mut grid = vec![f64::NAN; ni * nj];
        {
            let means = self.means.lock().unwrap_or_else(|e| e.into_inner());
            for j in j0..=j1 {
                for i in i0..=i1 {
                    if let Some(&m) = means.get(&(i, j)) {
                        grid[(j - j0) as usize * ni + (i - i0) as usize] = m;
                    }
                }
            }
        }
        let mut fresh = Vec::new();
        for j in j0..=j1 {
            for i in i0..=i1 {
                let g = &mut grid[(j - j0) as usize * ni + (i - i0) as usize];
                if g.is_nan() {
                    *g = self.measure(i, j)?;
                    fresh.push(((i, j), *g));
                }
            }
        }
        if !fresh.is_empty() {
            let mut means = self.means.lock().unwrap_or_else(|e| e.into_inner());
            means.extend(fresh);
        }
        out.reserve(bw * bh);
        for r in 0..bh {
            let v = pos(gr0 + r);
            let (j, ty) = (v.floor(), v - v.floor());
            let jr = (j as i64 - j0) as usize;
            for c in 0..bw {
                let u = pos(gc0 + c);
                let (i, tx) = (u.floor(), u - u.floor());
                let ic = (i as i64 - i0) as usize;
                let at = |di: usize, dj: usize| grid[(jr + dj) * ni + ic + di];
                let top = at(0, 0) + (at(1, 0) - at(0, 0)) * tx;
                let bottom = at(0, 1) + (at(1, 1) - at(0, 1)) * tx;
                out.push(top + (bottom - top) * ty);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Geodesic area of one cell's footprint, measured directly (4 corners).
    fn direct(f: &Footprints, c: usize, r: usize) -> f64 {
        let mut poly = PolygonArea::new(&f.geodesic, Winding::CounterClockwise);
        for (dc, dr) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)] {
            let [lat, lon] = f.corner(c as f64 + dc, r as f64 + dr).unwrap();
            poly.add_point(lat, lon);
        }
        poly.compute(true).1.abs()
    }

    #[test]
    fn utm_cell_areas_match_each_cells_own_footprint() {
        // 30 m cells of UTM 23S, 300 km east of the central meridian (scale ~1.0007).
        let crs = Crs::from_epsg(32723).unwrap();
        let t = Transform { x0: 800_000.0, dx: 30.0, y0: 8_600_000.0, dy: -30.0 };
        let p = Projector::new(crs, t).unwrap();
        assert!(!p.equal_area());
        let Areas::Footprints(f) = &p.areas else { panic!() };
        let mut out = Vec::new();
        p.cell_areas(1000, 2000, 150, 90, &mut out).unwrap();
        let mut worst: f64 = 0.0;
        for (r, c) in [(0, 0), (0, 149), (89, 0), (45, 77), (89, 149), (13, 101)] {
            let want = direct(f, 1000 + c, 2000 + r);
            worst = worst.max((out[r * 150 + c] - want).abs() / want);
        }
        assert!(worst < 2e-7, "largest relative difference {worst:e}");
        // Not the plane area: UTM enlarges areas this far from the meridian.
        assert!((out[0] - 900.0).abs() / 900.0 > 1e-4, "{}", out[0]);
    }

    #[test]
    fn equal_area_projections_use_the_plane_area() {
        let crs = Crs::from_epsg(5070).unwrap();
        let t = Transform { x0: -2_000_000.0, dx: 30.0, y0: 3_000_000.0, dy: -30.0 };
        let p = Projector::new(crs.clone(), t).unwrap();
        assert!(p.equal_area());
        let mut out = Vec::new();
        p.cell_areas(5, 5, 3, 2, &mut out).unwrap();
        assert_eq!(out, vec![900.0; 6]);
        // And the footprint of a cell there is indeed 900 m² on the ellipsoid.
        let f = Footprints::new(&crs, &Proj::from_proj_string(crs.definition()).unwrap(), t).unwrap();
        let a = direct(&f, 1234, 5678);
        assert!((a - 900.0).abs() / 900.0 < 1e-8, "{a}");
    }

    #[test]
    fn long_edges_are_densified_within_the_tolerance() {
        // A 0.3° parallel edge at 45°S in UTM: its image bows by a fraction of a cell; the densified
        // polyline follows it.
        let crs = Crs::from_epsg(32723).unwrap();
        let t = Transform { x0: 400_000.0, dx: 30.0, y0: 5_100_000.0, dy: -30.0 };
        let p = Projector::new(crs.clone(), t).unwrap();
        let ring = vec![[-45.2, -45.0], [-44.9, -45.0]];
        let line: Vec<[f64; 2]> =
            p.ring_in_crs(&ring).unwrap().into_iter().map(|q| [(q[0] - t.x0) / t.dx, (q[1] - t.y0) / t.dy]).collect();
        assert!(line.len() > 30, "{} points", line.len());
        // Every point of the true curve lies within the tolerance of the polyline.
        for k in 0..=1000 {
            let lon = -45.2 + 0.3 * k as f64 / 1000.0;
            let q = crs.from_lonlat(lon, -45.0).unwrap();
            let c = [(q[0] - t.x0) / t.dx, (q[1] - t.y0) / t.dy];
            let d = line
                .windows(2)
                .map(|w| {
                    let (a, b) = (w[0], w[1]);
                    let (vx, vy) = (b[0] - a[0], b[1] - a[1]);
                    let s = (((c[0] - a[0]) * vx + (c[1] - a[1]) * vy) / (vx * vx + vy * vy)).clamp(0.0, 1.0);
                    (c[0] - a[0] - s * vx).hypot(c[1] - a[1] - s * vy)
                })
                .fold(f64::INFINITY, f64::min);
            assert!(d < 2.0 * DENSIFY_TOLERANCE_CELLS, "point {k} is {d} cells off");
        }
    }
}
