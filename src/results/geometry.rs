//! Site geometries for the output table: the GeoJSON geometry a site carries, its centroid, and both as
//! WKB for GeoParquet (written with the `wkb` crate over `geo-types`).
//!
//! The centroid is the area-weighted centroid of the polygons in longitude/latitude degrees (holes
//! subtracted), computed here in a few lines: for site-sized polygons it differs from a geodesic
//! centroid by far less than a pixel.

use geo_types::{Coord, LineString, MultiPolygon, Point, Polygon};
use serde_json::{json, Value};

/// The polygons of a GeoJSON Polygon or MultiPolygon value (empty for anything else).
fn polygons(g: &Value) -> Vec<Vec<Vec<[f64; 2]>>> {
    let ring = |r: &Value| -> Vec<[f64; 2]> {
        r.as_array()
            .map(|ps| ps.iter().filter_map(|p| Some([p.get(0)?.as_f64()?, p.get(1)?.as_f64()?])).collect())
            .unwrap_or_default()
    };
    let polygon =
        |p: &Value| -> Vec<Vec<[f64; 2]>> { p.as_array().map(|rs| rs.iter().map(ring).collect()).unwrap_or_default() };
    let coords = g.get("coordinates").unwrap_or(&Value::Null);
    match g.get("type").and_then(Value::as_str) {
        Some("Polygon") => vec![polygon(coords)],
        Some("MultiPolygon") => coords.as_array().map(|ps| ps.iter().map(polygon).collect()).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Twice the signed area and the area-weighted centroid sums of one ring (shoelace), with coordinates
/// taken relative to `o` (near the polygon, so the products do not cancel).
fn ring_moments(r: &[[f64; 2]], o: [f64; 2]) -> (f64, f64, f64) {
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for w in r.windows(2) {
        let ([x0, y0], [x1, y1]) = ([w[0][0] - o[0], w[0][1] - o[1]], [w[1][0] - o[0], w[1][1] - o[1]]);
        let cross = x0 * y1 - x1 * y0;
        a += cross;
        cx += (x0 + x1) * cross;
        cy += (y0 + y1) * cross;
    }
    (a, cx, cy)
}

/// The area-weighted centroid `[lon, lat]` of a Polygon or MultiPolygon (the mean vertex for a
/// degenerate one), or `None` for anything else.
pub fn centroid(g: &Value) -> Option<[f64; 2]> {
    let polys = polygons(g);
    let o = polys.iter().flatten().flatten().next().copied().unwrap_or([0.0, 0.0]);
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for p in &polys {
        for (i, r) in p.iter().enumerate() {
            let (ra, rx, ry) = ring_moments(r, o);
            // Outer rings add, holes subtract, whatever their orientation.
            let sign = if (i == 0) == (ra >= 0.0) { 1.0 } else { -1.0 };
            a += sign * ra;
            cx += sign * rx;
            cy += sign * ry;
        }
    }
    if a.abs() > 0.0 {
        return Some([o[0] + cx / (3.0 * a), o[1] + cy / (3.0 * a)]);
    }
    let pts: Vec<[f64; 2]> = polys.iter().flatten().flatten().copied().collect();
    (!pts.is_empty()).then(|| {
        let n = pts.len() as f64;
        [pts.iter().map(|p| p[0]).sum::<f64>() / n, pts.iter().map(|p| p[1]).sum::<f64>() / n]
    })
}

/// The centroid as a GeoJSON Point.
pub fn centroid_json(g: &Value) -> Value {
    centroid(g).map(|[x, y]| json!({"type": "Point", "coordinates": [x, y]})).unwrap_or(Value::Null)
}

fn geo_polygon(p: &[Vec<[f64; 2]>]) -> Polygon {
    let line = |r: &Vec<[f64; 2]>| LineString::new(r.iter().map(|&[x, y]| Coord { x, y }).collect());
    let mut rings = p.iter().map(line);
    let exterior = rings.next().unwrap_or_else(|| LineString::new(Vec::new()));
    Polygon::new(exterior, rings.collect())
}

fn to_wkb(g: &impl geo_traits::GeometryTrait<T = f64>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    wkb::writer::write_geometry(&mut out, g, &Default::default()).ok()?;
    Some(out)
}

/// WKB of a GeoJSON Polygon or MultiPolygon (same type), `None` for anything else.
pub fn polygon_wkb(g: &Value) -> Option<Vec<u8>> {
    let polys = polygons(g);
    match g.get("type").and_then(Value::as_str) {
        Some("Polygon") => to_wkb(&geo_polygon(polys.first()?)),
        Some("MultiPolygon") => to_wkb(&MultiPolygon::new(polys.iter().map(|p| geo_polygon(p)).collect())),
        _ => None,
    }
}

/// WKB of the centroid point.
pub fn centroid_wkb(g: &Value) -> Option<Vec<u8>> {
    let [x, y] = centroid(g)?;
    to_wkb(&Point::new(x, y))
}

/// The bounding box `[min_x, min_y, max_x, max_y]` of a GeoJSON polygon value's positions.
pub fn bbox(g: &Value) -> Option<[f64; 4]> {
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for [x, y] in polygons(g).iter().flatten().flatten() {
        b = [b[0].min(*x), b[1].min(*y), b[2].max(*x), b[3].max(*y)];
    }
    b[0].is_finite().then_some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centroid_of_a_square_with_a_hole_and_a_multipolygon() {
        let square = json!({"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]]});
        assert_eq!(centroid(&square), Some([2.0, 2.0]));
        // A hole in the right half moves the centroid left: (16·2 − 4·3) / 12 = 5/3.
        let holed = json!({"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]],
                                                              [[2, 1], [2, 3], [4, 3], [4, 1], [2, 1]]]});
        let c = centroid(&holed).unwrap();
        assert!((c[0] - 5.0 / 3.0).abs() < 1e-12 && (c[1] - 2.0).abs() < 1e-12, "{c:?}");
        let two = json!({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
                                                                 [[[2, 0], [3, 0], [3, 1], [2, 1], [2, 0]]]]});
        assert_eq!(centroid(&two), Some([1.5, 0.5]));
        assert_eq!(centroid(&json!({"type": "Point", "coordinates": [1, 2]})), None);
    }

    #[test]
    fn wkb_reads_back_with_the_same_coordinates() {
        let g = json!({"type": "MultiPolygon", "coordinates": [[[[0.5, 0], [1, 0], [1, 1], [0.5, 0]]]]});
        let bytes = polygon_wkb(&g).unwrap();
        // Little-endian MultiPolygon (type 6) of 1 polygon.
        assert_eq!(&bytes[..5], &[1, 6, 0, 0, 0]);
        let back = wkb::reader::read_wkb(&bytes).unwrap();
        let geo_traits::GeometryType::MultiPolygon(mp) = geo_traits::GeometryTrait::as_type(&back) else {
            panic!("not a multipolygon")
        };
        use geo_traits::{CoordTrait, LineStringTrait, MultiPolygonTrait, PolygonTrait};
        let ring: Vec<[f64; 2]> = mp.polygon(0).unwrap().exterior().unwrap().coords().map(|c| [c.x(), c.y()]).collect();
        assert_eq!(ring, vec![[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.0]]);
        let p = centroid_wkb(&g).unwrap();
        assert_eq!(&p[..5], &[1, 1, 0, 0, 0]);
        assert_eq!(bbox(&g), Some([0.5, 0.0, 1.0, 1.0]));
    }
}
