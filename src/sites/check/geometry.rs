//! Geometry checks of one feature: a Polygon or MultiPolygon is present, each polygon has rings, each
//! position is `[x, y]`, each ring has 4 positions and is closed, no ring crosses itself (see [`super::rings`]),
//! and each ring encloses an area with its holes inside its outer ring ([`Checker::ring_areas`]); then the
//! conversion to longitude/latitude and its range (see [`super::lonlat`]).

use serde_json::Value;

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::Coord;

use super::regular::Regular;
use super::rings::{line, self_crossing, zero_area, RingName, SelfCrossing, MAX_PAIRS};
use super::{anchor, json_kind, Checker, Mark, Place};
use crate::diag::{Code, Diagnostic, Severity};
use crate::sites::source::Step;
use crate::sites::{Polygon, Ring, Site};

/// The feature whose geometry is checked: where it is, and how messages name it.
pub(super) struct Feature<'a> {
    pub(super) place: Place<'a>,
    pub(super) who: Who<'a>,
}

/// How messages name features[`index`] (with its id once known), written only when a message is.
#[derive(Clone, Copy)]
pub(super) struct Who<'a> {
    pub(super) index: usize,
    pub(super) id: Option<&'a str>,
}

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.id {
            Some(id) => write!(f, "site `{id}` (features[{}])", self.index),
            None => write!(f, "features[{}]", self.index),
        }
    }
}

impl Feature<'_> {
    /// The spot of `geometry` + `rest` in this feature.
    pub(super) fn anchor(&self, rest: &[Step], key: bool) -> Mark {
        let mut p = vec![Step::Key("geometry")];
        p.extend_from_slice(rest);
        anchor(self.place, &p, key)
    }

    /// The spot of the coordinates at `indices` (polygon, ring, position as far as given).
    pub(super) fn coordinates(&self, indices: &[usize]) -> Mark {
        let mut s = vec![Step::Key("coordinates")];
        s.extend(indices.iter().map(|i| Step::Index(*i)));
        self.anchor(&s, false)
    }
}

/// Positions of one feature that are not `[x, y]`: the first (its coordinate path) and how many.
#[derive(Default)]
struct Positions {
    bad: Option<(Vec<usize>, String)>,
    bad_count: usize,
}

impl<V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// Checks the geometry of features[`index`]; its polygons and whether it is a MultiPolygon when valid.
    pub(super) fn check_geometry(
        &mut self,
        place: Place,
        index: usize,
        g: Option<&Value>,
        id: Option<&str>,
    ) -> Option<(Vec<Polygon>, bool)> {
        let f = Feature { place, who: Who { index, id } };
        let g = self.geometry_present(&f, g)?;
        let multi = self.polygon_type(&f, g)?;
        let coords = self.coordinate_list(&f, g)?;
        let polys: Vec<(Option<usize>, &Value)> = if multi {
            coords.iter().enumerate().map(|(i, p)| (Some(i), p)).collect()
        } else {
            vec![(None, g.get("coordinates").unwrap_or(&Value::Null))]
        };
        let mut ok = true;
        let mut polygons = Vec::with_capacity(polys.len());
        let mut positions = Positions::default();
        for (pi, poly) in polys {
            match self.polygon(&f, pi, poly, &mut positions) {
                Some((polygon, polygon_ok)) => {
                    ok &= polygon_ok;
                    polygons.push(polygon);
                }
                None => ok = false,
            }
        }
        ok &= self.report_positions(&f, positions);
        // Converted (and range-checked) even when a ring is bad, so every problem shows at once.
        let polygons = self.in_lonlat(&f, polygons, multi);
        if !ok {
            return None;
        }
        self.across_antimeridian(&f, polygons?, multi)
    }

    /// [`Checker::check_geometry`] of a geometry read as [`Regular`]: every ring is a list of positions.
    pub(super) fn regular_geometry(
        &mut self,
        place: Place,
        index: usize,
        g: Regular,
        id: Option<&str>,
    ) -> Option<(Vec<Polygon>, bool)> {
        let f = Feature { place, who: Who { index, id } };
        let ok = self.ring_shapes(&f, &g.polygons, g.multi);
        let polygons = self.in_lonlat(&f, g.polygons, g.multi);
        if !ok {
            return None;
        }
        self.across_antimeridian(&f, polygons?, g.multi)
    }

    /// The shape of every ring of `polygons` read from the file ([`Checker::ring_shape`]), and a polygon
    /// without rings an error. Whether all are valid.
    pub(super) fn ring_shapes(&mut self, f: &Feature, polygons: &[Polygon], multi: bool) -> bool {
        let mut ok = true;
        for (pi, poly) in polygons.iter().enumerate() {
            let p = multi.then_some(pi);
            if poly.is_empty() {
                ok = false;
                self.no_rings(f, p);
            }
            for (ri, ring) in poly.iter().enumerate() {
                let path = [pi, ri];
                let path = if multi { &path[..] } else { &path[1..] };
                ok &= self.ring_shape(f, RingName { polygon: p, ring: ri }, path, ring);
            }
        }
        ok
    }

    /// The geometry, or an error when it is missing or `null`.
    pub(super) fn geometry_present<'g>(&mut self, f: &Feature, g: Option<&'g Value>) -> Option<&'g Value> {
        let who = &f.who;
        match g {
            None => {
                let a = anchor(f.place, &[], false);
                self.emit(Code::SitesNoGeometry, Severity::Error, |c| {
                    c.at(
                        Diagnostic::error(Code::SitesNoGeometry, format!("{who} has no `geometry`")),
                        &a,
                        "this feature",
                    )
                    .with_help("every site needs a Polygon or MultiPolygon geometry")
                });
                None
            }
            Some(Value::Null) => {
                let a = anchor(f.place, &[Step::Key("geometry")], false);
                self.emit(Code::SitesNullGeometry, Severity::Error, |c| {
                    c.at(
                        Diagnostic::error(Code::SitesNullGeometry, format!("{who} has a null geometry")),
                        &a,
                        "no shape",
                    )
                    .with_help("give this site its polygon, or remove the feature from the file")
                });
                None
            }
            Some(g) => Some(g),
        }
    }

    /// Whether the geometry is a MultiPolygon (`false` for a Polygon); an error for any other type.
    pub(super) fn polygon_type(&mut self, f: &Feature, g: &Value) -> Option<bool> {
        let ty = g.get("type").and_then(Value::as_str);
        match ty {
            Some("Polygon") => return Some(false),
            Some("MultiPolygon") => return Some(true),
            _ => {}
        }
        let a = f.anchor(&[Step::Key("type")], false);
        let (what, help) = match ty {
            Some(t @ ("Point" | "MultiPoint")) => (
                format!("a {t}"),
                "buffer points into polygons first (e.g. QGIS: Vector ▸ Geoprocessing ▸ Buffer), \
                 in a projected CRS, then reproject to EPSG:4326",
            ),
            Some(t @ ("LineString" | "MultiLineString")) => (
                format!("a {t}"),
                "if it outlines an area, make it a Polygon (the ring's last position repeats the first); \
                 otherwise buffer it into a polygon",
            ),
            Some("GeometryCollection") => {
                ("a GeometryCollection".into(), "split it: keep its polygons as a MultiPolygon, drop other parts")
            }
            Some(t) => (format!("of unknown type `{t}`"), "GeoJSON polygon types are `Polygon` and `MultiPolygon`"),
            None => ("a geometry without a `type`".into(), "add \"type\": \"Polygon\" or \"MultiPolygon\""),
        };
        let who = &f.who;
        self.emit(Code::SitesGeometryType, Severity::Error, |c| {
            c.at(
                Diagnostic::error(Code::SitesGeometryType, format!("{who} is {what}; sites must be polygons")),
                &a,
                "needs Polygon or MultiPolygon",
            )
            .with_help(help)
        });
        None
    }

    /// The non-empty `coordinates` list, or an error.
    pub(super) fn coordinate_list<'g>(&mut self, f: &Feature, g: &'g Value) -> Option<&'g Vec<Value>> {
        let other = match g.get("coordinates") {
            Some(Value::Array(a)) if !a.is_empty() => return Some(a),
            other => other,
        };
        let empty = matches!(other, Some(Value::Array(_)));
        let a = if other.is_none() {
            anchor(f.place, &[Step::Key("geometry")], true)
        } else {
            f.anchor(&[Step::Key("coordinates")], false)
        };
        let what = match other {
            None => "no `coordinates`".to_string(),
            Some(_) if empty => "empty coordinates".to_string(),
            Some(v) => format!("coordinates that are {}", json_kind(v)),
        };
        let code = if empty || other.is_none() { Code::SitesEmptyGeometry } else { Code::SitesCoordinates };
        let who = &f.who;
        self.emit(code, Severity::Error, |c| {
            c.at(Diagnostic::error(code, format!("{who} has {what}")), &a, "no rings")
                .with_help("a Polygon's coordinates are a list of rings, each a list of [longitude, latitude]")
        });
        None
    }

    /// Reports a polygon without rings (`pi` is its index in a MultiPolygon).
    pub(super) fn no_rings(&mut self, f: &Feature, pi: Option<usize>) {
        let a = f.coordinates(&pi.into_iter().collect::<Vec<_>>());
        let n = pi.map(|i| format!("polygon {} of ", i + 1)).unwrap_or_default();
        let who = &f.who;
        self.emit(Code::SitesEmptyGeometry, Severity::Error, |c| {
            c.at(
                Diagnostic::error(Code::SitesEmptyGeometry, format!("{n}{who} has no rings")),
                &a,
                "expected a list of rings",
            )
            .with_help("a polygon is a list of rings: the outer boundary, then holes")
        });
    }

    /// One polygon (`pi` is its index in a MultiPolygon): its rings and whether all are valid; `None` when
    /// it has no rings.
    fn polygon(
        &mut self,
        f: &Feature,
        pi: Option<usize>,
        poly: &Value,
        positions: &mut Positions,
    ) -> Option<(Polygon, bool)> {
        let base: Vec<usize> = pi.into_iter().collect();
        let rings = match poly.as_array() {
            Some(r) if !r.is_empty() => r,
            _ => {
                self.no_rings(f, pi);
                return None;
            }
        };
        let mut ok = true;
        let mut polygon: Polygon = Vec::with_capacity(rings.len());
        for (ri, ring) in rings.iter().enumerate() {
            let mut rpath = base.clone();
            rpath.push(ri);
            let (out, ring_ok) = read_ring(ring, &rpath, positions);
            if ring_ok {
                ok &= self.ring_shape(f, RingName { polygon: pi, ring: ri }, &rpath, &out);
            } else {
                ok = false;
            }
            polygon.push(out);
        }
        Some((polygon, ok))
    }

    /// A ring's shape: at least 4 positions, closed, and not crossing itself (a warning). Whether it is valid.
    pub(super) fn ring_shape(&mut self, f: &Feature, ring_name: RingName, rpath: &[usize], out: &Ring) -> bool {
        let who = &f.who;
        let at = |k: usize| {
            let mut p = rpath.to_vec();
            p.push(k);
            f.coordinates(&p)
        };
        if out.len() < 4 {
            let a = f.coordinates(rpath);
            let n = out.len();
            self.emit(Code::SitesRingTooShort, Severity::Error, |c| {
                c.at(
                    Diagnostic::error(
                        Code::SitesRingTooShort,
                        format!("{ring_name} of {who} has {n} position{}", if n == 1 { "" } else { "s" }),
                    ),
                    &a,
                    "fewer than 4 positions",
                )
                .with_help("a ring needs at least 4 positions: 3 corners and the first repeated at the end")
            });
            return false;
        }
        if out.first() != out.last() {
            let (a, b) = (at(out.len() - 1), at(0));
            let (f0, l0) = (out[0], out[out.len() - 1]);
            self.emit(Code::SitesRingNotClosed, Severity::Error, |c| {
                let d = Diagnostic::error(Code::SitesRingNotClosed, format!("{ring_name} of {who} is not closed"));
                c.at2(d, &a, "ends here", &b, "starts here").with_help(format!(
                    "repeat the first position [{}, {}] at the end of the ring (it ends at [{}, {}])",
                    f0[0], f0[1], l0[0], l0[1]
                ))
            });
            return false;
        }
        let (i, j) = match self_crossing(out) {
            SelfCrossing::No => return true,
            SelfCrossing::At(i, j) => (i, j),
            SelfCrossing::Unchecked { pairs } => {
                let a = f.coordinates(rpath);
                let edges = out.len() - 1;
                self.emit(Code::SitesSelfIntersection, Severity::Warning, |c| {
                    let d = Diagnostic::warning(
                        Code::SitesSelfIntersection,
                        format!("{ring_name} of {who} was not checked for self-crossings"),
                    );
                    c.at(d, &a, format!("{edges} edges, most of them overlapping the others along both axes"))
                        .with_help(format!(
                            "checking it would compare {pairs} pairs of edges (more than {MAX_PAIRS}); if it may \
                             cross itself, check it in a GIS (QGIS: Vector ▸ Geometry Tools ▸ Check Validity)"
                        ))
                });
                return true;
            }
        };
        let (a, b) = (at(j), at(i));
        self.emit(Code::SitesSelfIntersection, Severity::Warning, |c| {
            let d = Diagnostic::warning(Code::SitesSelfIntersection, format!("{ring_name} of {who} crosses itself"));
            c.at2(
                d,
                &a,
                format!("the edge from position {} …", j + 1),
                &b,
                format!("… crosses the edge from position {}", i + 1),
            )
            .with_help(
                "both engines fill it by the even-odd rule (`evenOdd: true`): parts it winds around twice \
                 are left out; if that is not what it means, repair it (QGIS: Vector ▸ Geometry Tools ▸ \
                 Fix Geometries, or `ST_MakeValid`)",
            )
        });
        true
    }

    /// Reports the first bad position of the feature (with how many more); whether there was none.
    fn report_positions(&mut self, f: &Feature, p: Positions) -> bool {
        let who = &f.who;
        let mut ok = true;
        if let Some((path, what)) = p.bad {
            ok = false;
            let a = f.coordinates(&path);
            let more = more(p.bad_count);
            self.emit(Code::SitesPosition, Severity::Error, |c| {
                c.at(
                    Diagnostic::error(Code::SitesPosition, format!("{who} has a position with {what}{more}")),
                    &a,
                    "not [longitude, latitude]",
                )
                .with_help("a position is [longitude, latitude] or [longitude, latitude, height]")
            });
        }
        ok
    }
}

/// Reads a ring's positions (a third value, the height, is dropped), noting bad ones in `positions`.
/// Whether every position could be read (a ring that is not a list cannot).
fn read_ring(ring: &Value, rpath: &[usize], positions: &mut Positions) -> (Ring, bool) {
    let Some(list) = ring.as_array() else { return (Vec::new(), false) };
    let mut out: Ring = Vec::with_capacity(list.len());
    let mut ok = true;
    for (k, p) in list.iter().enumerate() {
        let xy = match p.as_array() {
            Some(v) if (2..=3).contains(&v.len()) => match (v[0].as_f64(), v[1].as_f64()) {
                (Some(x), Some(y)) if v.len() == 2 || v[2].is_number() => Some([x, y]),
                _ => None,
            },
            _ => None,
        };
        let path = || {
            let mut pp = rpath.to_vec();
            pp.push(k);
            pp
        };
        let Some([x, y]) = xy else {
            ok = false;
            positions.bad_count += 1;
            if positions.bad.is_none() {
                let what = match p.as_array() {
                    Some(v) if !(2..=3).contains(&v.len()) => {
                        format!("{} value{}", v.len(), if v.len() == 1 { "" } else { "s" })
                    }
                    Some(_) => "a value that is not a number".to_string(),
                    None => json_kind(p),
                };
                positions.bad = Some((path(), what));
            }
            continue;
        };
        out.push([x, y]);
    }
    (out, ok)
}

pub(super) fn more(n: usize) -> String {
    if n > 1 {
        format!(" (and {} more in this feature)", n - 1)
    } else {
        String::new()
    }
}

impl<V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// Zero-area rings (an error for an outer ring, a warning for a hole) and holes not inside their outer
    /// ring (an error: the even-odd fill both engines use would count the part outside as part of the site).
    /// Whether the polygons are usable.
    pub(super) fn ring_areas(&mut self, f: &Feature, polygons: &[Polygon], multi: bool) -> bool {
        let mut ok = true;
        let who = &f.who;
        for (pi, poly) in polygons.iter().enumerate() {
            let crosses = poly.iter().any(|r| r.windows(2).any(|w| (w[1][0] - w[0][0]).abs() > 180.0));
            if crosses || poly.is_empty() {
                continue;
            }
            let p = multi.then_some(pi);
            let path = |ri: usize| p.into_iter().chain([ri]).collect::<Vec<_>>();
            let shell = line(&poly[0]);
            if zero_area(&poly[0]) {
                ok = false;
                let a = f.coordinates(&path(0));
                let name = RingName { polygon: p, ring: 0 };
                self.emit(Code::SitesZeroArea, Severity::Error, |c| {
                    let msg = format!("{name} of {who} encloses no area: its positions lie on one line");
                    c.at(Diagnostic::error(Code::SitesZeroArea, msg), &a, "no area")
                        .with_help("a site without area covers no pixels: fix its outline or remove the feature")
                });
                continue;
            }
            let outline = geo::Polygon::new(shell, Vec::new());
            for (ri, hole) in poly.iter().enumerate().skip(1) {
                let name = RingName { polygon: p, ring: ri };
                if zero_area(hole) {
                    let a = f.coordinates(&path(ri));
                    self.emit(Code::SitesZeroArea, Severity::Warning, |c| {
                        let msg = format!("{name} of {who} encloses no area: its positions lie on one line");
                        c.at(Diagnostic::warning(Code::SitesZeroArea, msg), &a, "no area")
                            .with_help("it removes nothing from the site; drop it from the file")
                    });
                    continue;
                }
                let outside =
                    hole.iter().any(|&[x, y]| outline.coordinate_position(&Coord { x, y }) == CoordPos::Outside);
                if outside {
                    ok = false;
                    let (a, b) = (f.coordinates(&path(ri)), f.coordinates(&path(0)));
                    self.emit(Code::SitesHoleOutside, Severity::Error, |c| {
                        let msg = format!("{name} of {who} is not inside its outer ring");
                        c.at2(Diagnostic::error(Code::SitesHoleOutside, msg), &a, "this hole", &b, "the outer ring")
                            .with_help(
                                "both engines fill polygons by the even-odd rule, so the part of a hole outside \
                                 the outer ring would be counted as part of the site: if it is a separate area, \
                                 make it a polygon of a MultiPolygon; otherwise fix or drop it",
                            )
                    });
                }
            }
        }
        ok
    }
}
