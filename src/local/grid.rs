//! A raster's grid as the engine uses it: where a site falls in it (its polygons in cell coordinates
//! and the window of cells they can touch) and the area of each cell in m².
//!
//! A WGS 84 longitude/latitude grid takes the sites' coordinates as they are, and its cells' areas are
//! exact ellipsoidal quadrangles ([`super::area`]). Any other grid (projected, or geographic on another
//! datum) goes through a [`Projector`]: polygons are projected with densified edges, and cell areas
//! are the plane area for an equal-area projection or the ellipsoidal area of the cell's footprint.

use std::path::PathBuf;

use super::area;
use super::coverage::{self, CellRing};
use super::geotiff::{GeoTiff, RasterError, Transform};
use super::project::{ProjectError, Projector};
use crate::sites::{Polygon, Site};

/// One raster grid (shared by the layer-years whose rasters have the same size and georeferencing).
pub struct Grid {
    pub transform: Transform,
    pub width: u32,
    pub height: u32,
    kind: Kind,
    path: PathBuf,
}

enum Kind {
    /// Longitude/latitude in degrees on the WGS84 ellipsoid.
    Wgs84,
    /// Anything else, with the raster's footprint in WGS 84 longitude/latitude `[w, s, e, n]` (a site
    /// that cannot be projected but lies outside it simply misses the raster).
    Projected { projector: Box<Projector>, lonlat: [f64; 4] },
}

/// A site placed in a grid.
pub struct SiteShape {
    /// Rings in window cell coordinates (see [`coverage::rings_in_cells`]).
    pub rings: Vec<CellRing>,
    /// First column, first row, width and height of the window (cells of the raster).
    pub window: (usize, usize, usize, usize),
}

/// How [`Grid::cell_areas`] laid out its answer.
#[derive(Debug, Clone, Copy)]
pub struct AreaLayout {
    /// One area per cell (row-major) rather than one per row.
    pub per_cell: bool,
}

impl Grid {
    pub fn for_raster(r: &GeoTiff) -> Result<Grid, RasterError> {
        let kind = if r.crs.is_wgs84() {
            Kind::Wgs84
        } else {
            let projector = Projector::new(r.crs.clone(), r.transform).map_err(|message| RasterError::Crs {
                path: r.path.clone(),
                message: format!("{}: {message}", r.crs.name()),
                help: String::new(),
            })?;
            let lonlat = footprint(&projector, r);
            Kind::Projected { projector: Box::new(projector), lonlat }
        };
        Ok(Grid { transform: r.transform, width: r.width, height: r.height, kind, path: r.path.clone() })
    }

    /// The site's polygons in cell coordinates of its window, or `None` when it misses the raster.
    pub fn site_in_cells(&self, site: &Site) -> Result<Option<SiteShape>, RasterError> {
        let t = self.transform;
        let projected;
        let (polygons, [x0, y0, x1, y1]): (&[Polygon], [f64; 4]) = match &self.kind {
            Kind::Wgs84 => (&site.polygons, site.bbox()),
            Kind::Projected { projector, lonlat } => {
                match project(projector, &site.polygons) {
                    Ok(p) => projected = p,
                    Err(source) => {
                        let [w, s, e, n] = site.bbox();
                        if w > lonlat[2] || e < lonlat[0] || s > lonlat[3] || n < lonlat[1] {
                            return Ok(None);
                        }
                        return Err(RasterError::Project {
                            path: self.path.clone(),
                            site: site.id.clone(),
                            message: source.to_string(),
                        });
                    }
                }
                (&projected.0, projected.1)
            }
        };
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            return Ok(None);
        }
        let a = t.to_cell([x0, y0]);
        let b = t.to_cell([x1, y1]);
        let clamp = |v: f64, hi: u32| v.max(0.0).min(hi as f64);
        let col0 = clamp(a[0].min(b[0]).floor(), self.width) as usize;
        let col1 = clamp(a[0].max(b[0]).ceil(), self.width) as usize;
        let row0 = clamp(a[1].min(b[1]).floor(), self.height) as usize;
        let row1 = clamp(a[1].max(b[1]).ceil(), self.height) as usize;
        if col1 <= col0 || row1 <= row0 {
            return Ok(None);
        }
        // Window-local cell coordinates keep the numbers small (precision).
        let (ox, oy) = (t.x0 + col0 as f64 * t.dx, t.y0 + row0 as f64 * t.dy);
        let rings = coverage::rings_in_cells(polygons, |p| [(p[0] - ox) / t.dx, (p[1] - oy) / t.dy]);
        Ok(Some(SiteShape { rings, window: (col0, row0, col1 - col0, row1 - row0) }))
    }

    /// Areas in m² of the `bw × bh` cells from global column `gc0`, row `gr0`, into `out`.
    pub fn cell_areas(
        &self,
        gc0: usize,
        gr0: usize,
        bw: usize,
        bh: usize,
        out: &mut Vec<f64>,
    ) -> Result<AreaLayout, RasterError> {
        let t = self.transform;
        out.clear();
        match &self.kind {
            Kind::Wgs84 => {
                for r in 0..bh {
                    let g = (gr0 + r) as f64;
                    out.push(area::cell_area_m2(0.0, t.dx, t.y0 + g * t.dy, t.y0 + (g + 1.0) * t.dy));
                }
                Ok(AreaLayout { per_cell: false })
            }
            Kind::Projected { projector, .. } => {
                projector.cell_areas(gc0, gr0, bw, bh, out).map_err(|message| RasterError::Crs {
                    path: self.path.clone(),
                    message: format!("cannot measure its cells: {message}"),
                    help: String::new(),
                })?;
                Ok(AreaLayout { per_cell: true })
            }
        }
    }
}

/// A site's polygons in CRS coordinates, and their bounding box.
fn project(p: &Projector, polygons: &[Polygon]) -> Result<(Vec<Polygon>, [f64; 4]), ProjectError> {
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    let mut out = Vec::with_capacity(polygons.len());
    for poly in polygons {
        let mut rings = Vec::with_capacity(poly.len());
        for ring in poly {
            let r = p.ring_in_crs(ring)?;
            for q in &r {
                b = [b[0].min(q[0]), b[1].min(q[1]), b[2].max(q[0]), b[3].max(q[1])];
            }
            rings.push(r);
        }
        out.push(rings);
    }
    Ok((out, b))
}

/// The raster's extent in WGS 84 longitude/latitude, from points along its outline (with a margin of a
/// tenth of its size); the whole world when it cannot be converted.
fn footprint(p: &Projector, r: &GeoTiff) -> [f64; 4] {
    let t = r.transform;
    let (w, h) = (f64::from(r.width), f64::from(r.height));
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    const N: usize = 64;
    for k in 0..=N {
        let f = k as f64 / N as f64;
        for (c, row) in [(f * w, 0.0), (f * w, h), (0.0, f * h), (w, f * h)] {
            match p.to_lonlat([t.x0 + c * t.dx, t.y0 + row * t.dy]) {
                Ok([lon, lat]) => b = [b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)],
                Err(_) => return [-180.0, -90.0, 180.0, 90.0],
            }
        }
    }
    let (mx, my) = ((b[2] - b[0]) * 0.1, (b[3] - b[1]) * 0.1);
    [b[0] - mx, b[1] - my, b[2] + mx, b[3] + my]
}
