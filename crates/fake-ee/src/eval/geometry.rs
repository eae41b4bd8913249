//! Geometries: the `GeometryConstructors.*` the clients send (GeoJSON-shaped coordinates), the few
//! `Geometry.*` operations the planner uses, and the pixels of a region ([`Geometry::pixels`], from
//! [`crate::world::region_pixels`]).
//!
//! Edges are straight in longitude/latitude whatever `geodesic` says (the flag is kept and reported):
//! for the small polygons of sites the difference is far below a pixel. `Geometry.buffer` returns the
//! bounding box grown by the distance (an over-approximation that is enough for export regions).

use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::value::V;
use super::{Algo, Call, EvalError};
use crate::world::{self, RegionPixel};

/// A geometry in EPSG:4326.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    pub shape: Shape,
    pub geodesic: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Point([f64; 2]),
    MultiPoint(Vec<[f64; 2]>),
    LineString(Vec<[f64; 2]>),
    Polygon(Vec<Vec<[f64; 2]>>),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

impl Geometry {
    pub fn to_geojson(&self) -> Json {
        let (kind, coords) = match &self.shape {
            Shape::Point(p) => ("Point", json!(p)),
            Shape::MultiPoint(p) => ("MultiPoint", json!(p)),
            Shape::LineString(p) => ("LineString", json!(p)),
            Shape::Polygon(p) => ("Polygon", json!(p)),
            Shape::MultiPolygon(p) => ("MultiPolygon", json!(p)),
        };
        json!({"type": kind, "coordinates": coords})
    }

    /// The polygons of an areal geometry.
    pub fn polygons(&self) -> Vec<Vec<Vec<[f64; 2]>>> {
        match &self.shape {
            Shape::Polygon(p) => vec![p.clone()],
            Shape::MultiPolygon(p) => p.clone(),
            _ => Vec::new(),
        }
    }

    fn points(&self) -> Vec<[f64; 2]> {
        match &self.shape {
            Shape::Point(p) => vec![*p],
            Shape::MultiPoint(p) | Shape::LineString(p) => p.clone(),
            Shape::Polygon(p) => p.iter().flatten().copied().collect(),
            Shape::MultiPolygon(p) => p.iter().flatten().flatten().copied().collect(),
        }
    }

    /// (west, south, east, north).
    pub fn bounds(&self) -> Option<(f64, f64, f64, f64)> {
        let pts = self.points();
        let first = pts.first()?;
        Some(pts.iter().fold((first[0], first[1], first[0], first[1]), |(w, s, e, n), [x, y]| {
            (w.min(*x), s.min(*y), e.max(*x), n.max(*y))
        }))
    }

    /// The pixels of this region on a grid of `size` degrees (see [`crate::world`]).
    pub fn pixels(&self, size: f64) -> Vec<RegionPixel> {
        match &self.shape {
            Shape::Point([x, y]) => vec![world::point_pixel(*x, *y, size)],
            Shape::MultiPoint(ps) => {
                let mut out: Vec<RegionPixel> = Vec::new();
                for [x, y] in ps {
                    let p = world::point_pixel(*x, *y, size);
                    if !out.iter().any(|q| q.cell == p.cell) {
                        out.push(p);
                    }
                }
                out
            }
            Shape::LineString(_) => Vec::new(),
            _ => world::region_pixels(&self.polygons(), size),
        }
    }

    pub fn contains_point(&self, x: f64, y: f64) -> bool {
        world::inside(&self.polygons(), x, y)
    }

    fn rectangle(w: f64, s: f64, e: f64, n: f64, geodesic: bool) -> Geometry {
        Geometry { shape: Shape::Polygon(vec![vec![[w, s], [e, s], [e, n], [w, n], [w, s]]]), geodesic }
    }
}

fn point(v: &V) -> Result<[f64; 2], EvalError> {
    match v {
        V::List(xy) if xy.len() >= 2 => Ok([xy[0].clone().into_f64()?, xy[1].clone().into_f64()?]),
        V::Geometry(g) => match g.shape {
            Shape::Point(p) => Ok(p),
            _ => Err(EvalError::new("Expected a point.")),
        },
        other => Err(EvalError::new(format!("Invalid coordinates: expected [x, y], got {}.", other.type_name()))),
    }
}

fn points(v: V) -> Result<Vec<[f64; 2]>, EvalError> {
    v.into_list()?.iter().map(point).collect()
}

fn depth(v: &V) -> usize {
    match v {
        V::List(l) => 1 + l.first().map(depth).unwrap_or(0),
        _ => 0,
    }
}

/// Rings of a polygon: a list of rings, or (for a simple polygon) a list of points.
fn rings(v: V) -> Result<Vec<Vec<[f64; 2]>>, EvalError> {
    if depth(&v) == 2 {
        return Ok(vec![points(v)?]);
    }
    v.into_list()?.into_iter().map(points).collect()
}

fn geodesic_arg(c: &mut Call) -> Result<bool, EvalError> {
    // "The default is the geodesic state of the inputs, or true if the inputs are numbers."
    Ok(c.opt_bool("geodesic")?.unwrap_or(true))
}

fn check_crs(c: &mut Call) -> Result<(), EvalError> {
    if let Some(p) = c.opt("crs") {
        let p = p.into_projection()?;
        if p.crs != "EPSG:4326" {
            return Err(EvalError::new(format!("fake-ee models geometries in EPSG:4326 only, not {}.", p.crs)));
        }
    }
    Ok(())
}

fn ok(shape: Shape, geodesic: bool) -> Result<V, EvalError> {
    Ok(V::Geometry(Arc::new(Geometry { shape, geodesic })))
}

/// `GeometryConstructors.Point{coordinates: [x, y]}`.
fn point_ctor(c: &mut Call) -> Result<V, EvalError> {
    check_crs(c)?;
    let p = point(&c.req("coordinates")?)?;
    ok(Shape::Point(p), geodesic_arg(c)?)
}

fn multipoint_ctor(c: &mut Call) -> Result<V, EvalError> {
    check_crs(c)?;
    let p = points(c.req("coordinates")?)?;
    ok(Shape::MultiPoint(p), geodesic_arg(c)?)
}

fn linestring_ctor(c: &mut Call) -> Result<V, EvalError> {
    check_crs(c)?;
    let p = points(c.req("coordinates")?)?;
    ok(Shape::LineString(p), geodesic_arg(c)?)
}

/// `GeometryConstructors.Polygon{coordinates, evenOdd}`: a list of rings, the first the shell
/// (the fake always uses the even-odd rule; `evenOdd: false` is refused rather than approximated).
fn polygon_ctor(c: &mut Call) -> Result<V, EvalError> {
    check_crs(c)?;
    if c.opt_bool("evenOdd")? == Some(false) {
        return Err(EvalError::new("fake-ee implements only evenOdd: true polygons."));
    }
    let r = rings(c.req("coordinates")?)?;
    ok(Shape::Polygon(r), geodesic_arg(c)?)
}

/// `GeometryConstructors.MultiPolygon{coordinates}`: a list of polygons (or of points for one simple polygon).
fn multipolygon_ctor(c: &mut Call) -> Result<V, EvalError> {
    check_crs(c)?;
    if c.opt_bool("evenOdd")? == Some(false) {
        return Err(EvalError::new("fake-ee implements only evenOdd: true polygons."));
    }
    let coords = c.req("coordinates")?;
    let polys = if depth(&coords) == 2 {
        vec![rings(coords)?]
    } else {
        coords.into_list()?.into_iter().map(rings).collect::<Result<_, _>>()?
    };
    ok(Shape::MultiPolygon(polys), geodesic_arg(c)?)
}

/// `GeometryConstructors.Rectangle{coordinates: [xMin, yMin, xMax, yMax]}` (or two corner points).
fn rectangle_ctor(c: &mut Call) -> Result<V, EvalError> {
    check_crs(c)?;
    let coords = c.req("coordinates")?.into_list()?;
    let v: Vec<f64> = if coords.len() == 2 {
        let (a, b) = (point(&coords[0])?, point(&coords[1])?);
        vec![a[0], a[1], b[0], b[1]]
    } else {
        coords.into_iter().map(V::into_f64).collect::<Result<_, _>>()?
    };
    if v.len() != 4 {
        return Err(EvalError::new("A rectangle needs [xMin, yMin, xMax, yMax]."));
    }
    let geodesic = c.opt_bool("geodesic")?.unwrap_or(false);
    Ok(V::Geometry(Arc::new(Geometry::rectangle(v[0], v[1], v[2], v[3], geodesic))))
}

fn geometry_of(c: &mut Call, name: &str) -> Result<Arc<Geometry>, EvalError> {
    c.req(name)?.into_geometry()
}

/// `Geometry.bounds`: the bounding rectangle.
fn bounds(c: &mut Call) -> Result<V, EvalError> {
    let g = geometry_of(c, "geometry")?;
    let (w, s, e, n) = g.bounds().ok_or_else(|| EvalError::new("The geometry is empty."))?;
    Ok(V::Geometry(Arc::new(Geometry::rectangle(w, s, e, n, false))))
}

/// `Geometry.buffer{geometry, distance}` (metres): the bounding box grown by the distance (module doc).
fn buffer(c: &mut Call) -> Result<V, EvalError> {
    let g = geometry_of(c, "geometry")?;
    let d = c.f64("distance")? / world::DEGREE_METRES;
    let (w, s, e, n) = g.bounds().ok_or_else(|| EvalError::new("The geometry is empty."))?;
    Ok(V::Geometry(Arc::new(Geometry::rectangle(w - d, s - d, e + d, n + d, g.geodesic))))
}

/// `Geometry.centroid`: the area-weighted centroid of a polygon's shell (planar), else the mean point.
fn centroid(c: &mut Call) -> Result<V, EvalError> {
    let g = geometry_of(c, "geometry")?;
    let polys = g.polygons();
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for ring in polys.iter().filter_map(|p| p.first()) {
        for w in ring.windows(2) {
            let cross = w[0][0] * w[1][1] - w[1][0] * w[0][1];
            a += cross;
            cx += (w[0][0] + w[1][0]) * cross;
            cy += (w[0][1] + w[1][1]) * cross;
        }
    }
    let p = if a.abs() > 0.0 {
        [cx / (3.0 * a), cy / (3.0 * a)]
    } else {
        let pts = g.points();
        let n = pts.len().max(1) as f64;
        [pts.iter().map(|p| p[0]).sum::<f64>() / n, pts.iter().map(|p| p[1]).sum::<f64>() / n]
    };
    ok(Shape::Point(p), g.geodesic)
}

/// `Geometry.type`: the GeoJSON type name.
fn type_name(c: &mut Call) -> Result<V, EvalError> {
    let g = geometry_of(c, "geometry")?;
    Ok(V::Str(g.to_geojson()["type"].as_str().unwrap_or_default().to_string()))
}

/// `Geometry.coordinates`: the GeoJSON coordinates as lists.
fn coordinates(c: &mut Call) -> Result<V, EvalError> {
    let g = geometry_of(c, "geometry")?;
    Ok(V::from_json(&g.to_geojson()["coordinates"]))
}

/// `Geometry.edgesAreGeodesics`.
fn geodesic(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Bool(geometry_of(c, "geometry")?.geodesic))
}

pub(super) const ALGORITHMS: &[(&str, Algo)] = &[
    ("GeometryConstructors.Point", point_ctor),
    ("GeometryConstructors.MultiPoint", multipoint_ctor),
    ("GeometryConstructors.LineString", linestring_ctor),
    ("GeometryConstructors.Polygon", polygon_ctor),
    ("GeometryConstructors.MultiPolygon", multipolygon_ctor),
    ("GeometryConstructors.Rectangle", rectangle_ctor),
    ("Geometry.bounds", bounds),
    ("Geometry.buffer", buffer),
    ("Geometry.centroid", centroid),
    ("Geometry.type", type_name),
    ("Geometry.coordinates", coordinates),
    ("Geometry.edgesAreGeodesics", geodesic),
];
