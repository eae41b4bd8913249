//! A raster's grid as the engine uses it: where a site falls in it (its polygons in cell coordinates
//! and the window of cells they can touch) and the area of each cell in m².

use super::area;
use super::coverage::{self, CellRing};
use super::geotiff::{GeoTiff, Transform};
use crate::sites::Site;

/// One raster grid (shared by the layer-years whose rasters have the same size and georeferencing).
#[derive(Debug, Clone)]
pub struct Grid {
    pub transform: Transform,
    pub width: u32,
    pub height: u32,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Longitude/latitude in degrees on the WGS84 ellipsoid.
    Geographic,
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
    pub fn for_raster(r: &GeoTiff) -> Grid {
        Grid { transform: r.transform, width: r.width, height: r.height, kind: Kind::Geographic }
    }

    /// The site's polygons in cell coordinates of its window, or `None` when it misses the raster.
    pub fn site_in_cells(&self, site: &Site) -> Option<SiteShape> {
        let t = self.transform;
        let [x0, y0, x1, y1] = site.bbox();
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            return None;
        }
        let a = t.to_cell([x0, y0]);
        let b = t.to_cell([x1, y1]);
        let clamp = |v: f64, hi: u32| v.max(0.0).min(hi as f64);
        let col0 = clamp(a[0].min(b[0]).floor(), self.width) as usize;
        let col1 = clamp(a[0].max(b[0]).ceil(), self.width) as usize;
        let row0 = clamp(a[1].min(b[1]).floor(), self.height) as usize;
        let row1 = clamp(a[1].max(b[1]).ceil(), self.height) as usize;
        if col1 <= col0 || row1 <= row0 {
            return None;
        }
        // Window-local cell coordinates keep the numbers small (precision).
        let (ox, oy) = (t.x0 + col0 as f64 * t.dx, t.y0 + row0 as f64 * t.dy);
        let rings = coverage::rings_in_cells(&site.polygons, |p| [(p[0] - ox) / t.dx, (p[1] - oy) / t.dy]);
        Some(SiteShape { rings, window: (col0, row0, col1 - col0, row1 - row0) })
    }

    /// Areas in m² of the `bw × bh` cells from global column `gc0`, row `gr0`, into `out`.
    pub fn cell_areas(&self, _gc0: usize, gr0: usize, _bw: usize, bh: usize, out: &mut Vec<f64>) -> AreaLayout {
        let t = self.transform;
        out.clear();
        match self.kind {
            Kind::Geographic => {
                for r in 0..bh {
                    let g = (gr0 + r) as f64;
                    out.push(area::cell_area_m2(0.0, t.dx, t.y0 + g * t.dy, t.y0 + (g + 1.0) * t.dy));
                }
                AreaLayout { per_cell: false }
            }
        }
    }
}
