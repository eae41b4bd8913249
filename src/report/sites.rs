//! Site outlines for the report's map, drawn by the report itself (no web tiles): the polygons from the
//! site file, projected equirectangularly about the sites' mean latitude (x = lon·cos φ₀, y = lat),
//! quantised to a grid of [`GRID`] cells over the sites' extent, simplified (Ramer–Douglas–Peucker, from
//! the `geo` crate, to half a cell) and delta-coded. At a typical page width a cell is a fraction of a
//! pixel, so nothing visible is lost, and 40,000 sites stay a few hundred kilobytes.
//!
//! A polygon smaller than a cell is kept as a one-cell square, so every site stays visible and
//! hoverable; holes smaller than a cell are dropped.

use std::collections::HashMap;

use geo::{Coord, LineString, Simplify};
use serde_json::{json, Value};

use crate::pipeline::{Pipeline, SiteLocation};

/// Cells along the longer side of the sites' extent.
pub const GRID: f64 = 4096.0;

/// A site's polygons as read from the site file (lon/lat rings).
pub type Polygons = Vec<Vec<Vec<[f64; 2]>>>;

/// Site geometries by id; `None` when the sites come from an Earth Engine asset.
pub fn read(p: &Pipeline) -> Result<Option<HashMap<String, Polygons>>, Vec<crate::diag::Diagnostic>> {
    if let SiteLocation::Asset(_) = p.sites.location {
        return Ok(None);
    }
    let mut out = HashMap::new();
    crate::sites::for_each(&p.sites, |site| {
        out.insert(site.id.clone(), site.polygons.clone());
        Ok(())
    })?;
    Ok(Some(out))
}

/// The projection of the map, sent to the browser (it converts back for hover details).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub lon0: f64,
    pub lat_max: f64,
    pub kx: f64,
    /// Grid cells per projected degree.
    pub scale: f64,
    pub width: f64,
    pub height: f64,
}

/// The frame fitting every polygon of `sites`.
pub fn frame<'a>(sites: impl Iterator<Item = &'a Polygons> + Clone) -> Option<Frame> {
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for polys in sites {
        for ring in polys.iter().flatten() {
            for [x, y] in ring {
                b = [b[0].min(*x), b[1].min(*y), b[2].max(*x), b[3].max(*y)];
            }
        }
    }
    if !b.iter().all(|v| v.is_finite()) {
        return None;
    }
    let kx = ((b[1] + b[3]) / 2.0).to_radians().cos().max(0.01);
    let w = (b[2] - b[0]) * kx;
    let h = b[3] - b[1];
    let scale = GRID / w.max(h).max(1e-9);
    Some(Frame { lon0: b[0], lat_max: b[3], kx, scale, width: (w * scale).ceil(), height: (h * scale).ceil() })
}

impl Frame {
    fn project(&self, [lon, lat]: [f64; 2]) -> Coord<f64> {
        Coord { x: ((lon - self.lon0) * self.kx * self.scale).round(), y: ((self.lat_max - lat) * self.scale).round() }
    }

    pub fn to_json(&self) -> Value {
        json!({"lon0": self.lon0, "latMax": self.lat_max, "kx": self.kx, "scale": self.scale,
               "width": self.width, "height": self.height})
    }
}

/// One ring, quantised and simplified, as `[x0, y0, dx1, dy1, ...]` without the closing point; `None`
/// when it collapses below a cell. Outer rings turn one way and holes the other (whatever the site file
/// did), so the browser's non-zero fill rule leaves holes empty.
fn ring(frame: &Frame, ring: &[[f64; 2]], outer: bool) -> Option<Vec<i64>> {
    let line: LineString<f64> = ring.iter().map(|p| frame.project(*p)).collect();
    let simple = line.simplify(0.5);
    let mut pts: Vec<(i64, i64)> = Vec::with_capacity(simple.0.len());
    for c in &simple.0 {
        let p = (c.x as i64, c.y as i64);
        if pts.last() != Some(&p) {
            pts.push(p);
        }
    }
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    let area2: i64 = (0..pts.len())
        .map(|i| {
            let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    if pts.len() < 3 || area2 == 0 {
        return None;
    }
    if (area2 > 0) != outer {
        pts.reverse();
    }
    let mut out = Vec::with_capacity(pts.len() * 2);
    let mut prev = (0, 0);
    for p in pts {
        out.push(p.0 - prev.0);
        out.push(p.1 - prev.1);
        prev = p;
    }
    Some(out)
}

/// A site's polygons for the browser: `[[ring, hole, ...], ...]` (see [`ring`]).
pub fn encode(frame: &Frame, polys: &Polygons) -> Value {
    let mut out = Vec::new();
    for poly in polys {
        let Some(outer) = poly.first() else { continue };
        let rings: Vec<Vec<i64>> = match ring(frame, outer, true) {
            Some(r) => std::iter::once(r).chain(poly[1..].iter().filter_map(|h| ring(frame, h, false))).collect(),
            None => {
                // Below a cell: a one-cell square at the polygon's first corner.
                let c = frame.project(outer[0]);
                vec![vec![c.x as i64, c.y as i64, 1, 0, 0, 1, -1, 0]]
            }
        };
        out.push(json!(rings));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_becomes_four_delta_coded_corners() {
        let sq: Polygons = vec![vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]]];
        let f = frame(std::iter::once(&sq)).unwrap();
        assert_eq!(f.width, GRID);
        // Corners (0,4096) (4096,4096) (4096,0) (0,0) in grid cells, y down, turned so the signed area is positive.
        let v = encode(&f, &sq);
        assert_eq!(v, json!([[[0, 0, 4096, 0, 0, 4096, -4096, 0]]]));
    }

    #[test]
    fn a_tiny_polygon_stays_visible_and_a_tiny_hole_is_dropped() {
        let big: Polygons = vec![vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]];
        let tiny: Polygons = vec![vec![
            vec![[0.5, 0.5], [0.50001, 0.5], [0.50001, 0.50001], [0.5, 0.5]],
            vec![[0.500001, 0.500001], [0.500002, 0.500001], [0.500001, 0.500002], [0.500001, 0.500001]],
        ]];
        let f = frame([&big, &tiny].into_iter()).unwrap();
        let v = encode(&f, &tiny);
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0].as_array().unwrap().len(), 1, "the hole is dropped");
        assert_eq!(v[0][0].as_array().unwrap().len(), 8, "a one-cell square");
    }
}
