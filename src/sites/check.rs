//! Checking a site file feature by feature: every problem becomes a located diagnostic pointing into the
//! GeoJSON file. Repeated problems of one kind are shown [`SHOWN_PER_KIND`] times, then counted.
//!
//! Decisions (documented for users in `geepipe validate` output and here):
//! - A file holding a single `Feature` is read as a collection of one site.
//! - Ids may be strings (non-empty) or whole numbers; a whole-number float such as `3107.0` (common after
//!   shapefile conversions) is read as the integer id `3107`. Other floats, `null`, booleans, arrays and
//!   objects are errors.
//! - A third coordinate (height) is accepted and dropped; positions with fewer than two or more than
//!   three values are errors.
//! - A missing kept / first-year / label property is a warning, reported once per property with a count.
//! - Once any error is found, no more sites are handed to the visitor, but checking goes on to the end.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::reader::{Pos, ScanError, TopLevel};
use super::source::{find, Anchor, Snippet, Step, Store};
use super::{Polygon, Ring, Site, Summary};
use crate::diag::{Diagnostic, Severity};
use crate::pipeline::SiteSource;
use crate::suggest::did_you_mean;

/// How many diagnostics of one kind are shown before the rest are only counted.
pub const SHOWN_PER_KIND: usize = 20;

const GEOMETRY_TYPES: &[&str] =
    &["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"];

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One feature as serde_json reads it; `None` means the member is absent (`null` is `Some(Null)`).
#[derive(Deserialize)]
struct RawFeature {
    #[serde(rename = "type", default, deserialize_with = "present")]
    ty: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    properties: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    geometry: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        // Spread the bits: the table uses the top bits as tags and the low ones as the slot.
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Every id seen, compactly: the ids' text in one arena, a table from a 32-bit hash of the id to its
/// number, and where each id's feature starts (for the second label of a duplicate report). About 40
/// bytes per id.
#[derive(Default)]
struct IdSet {
    table: HashMap<u32, u32, BuildHasherDefault<Identity>>,
    /// Ids whose hash collided with a different id (a few hundred in a million).
    overflow: HashMap<String, u32>,
    arena: String,
    ends: Vec<u64>,
    /// Feature start of each id: offset, line, column.
    starts: Vec<(u64, u32, u32)>,
}

impl IdSet {
    fn text(&self, n: u32) -> &str {
        let n = n as usize;
        let start = if n == 0 { 0 } else { self.ends[n - 1] as usize };
        &self.arena[start..self.ends[n] as usize]
    }

    fn start(&self, n: u32) -> Pos {
        let (offset, line, col) = self.starts[n as usize];
        Pos { offset, line: u64::from(line), line_start: offset - u64::from(col) }
    }

    /// Adds an id; when it was seen before, returns where that earlier feature starts.
    fn insert(&mut self, id: &str, at: Pos) -> Option<Pos> {
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        let full = h.finish();
        let key = (full >> 32) as u32 ^ full as u32;
        let next = self.ends.len() as u32;
        let existing = match self.table.entry(key) {
            Entry::Vacant(v) => {
                v.insert(next);
                None
            }
            Entry::Occupied(o) => Some(*o.get()),
        };
        if let Some(n) = existing {
            if self.text(n) == id {
                return Some(self.start(n));
            }
            match self.overflow.get(id) {
                Some(&m) => return Some(self.start(m)),
                None => {
                    self.overflow.insert(id.to_string(), next);
                }
            }
        }
        self.arena.push_str(id);
        self.ends.push(self.arena.len() as u64);
        let col = (at.offset - at.line_start).min(u64::from(u32::MAX)) as u32;
        self.starts.push((at.offset, at.line.min(u64::from(u32::MAX)) as u32, col));
        None
    }
}

/// A kept property missing on some features.
#[derive(Default)]
struct Missing {
    count: usize,
    first: Option<(Pos, usize)>,
}

/// Collects diagnostics while the file is scanned.
pub struct Checker<'s, V> {
    src: &'s SiteSource,
    pub name: String,
    store: Store,
    diags: Vec<Diagnostic>,
    top_diags: Vec<Diagnostic>,
    counts: BTreeMap<&'static str, (usize, Severity)>,
    errors: usize,
    ids: IdSet,
    missing: Vec<(String, &'static str, Missing)>,
    pub summary: Summary,
    index: usize,
    visit: V,
    stopped: bool,
}

impl<'s, V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'s, V> {
    pub fn new(src: &'s SiteSource, name: String, store: Store, visit: V) -> Self {
        let mut missing = Vec::new();
        for k in &src.keep {
            missing.push((k.clone(), "kept property", Missing::default()));
        }
        if let Some(k) = &src.first_year_property {
            missing.push((k.clone(), "first-year property", Missing::default()));
        }
        if let Some(k) = &src.label_property {
            missing.push((k.clone(), "label property", Missing::default()));
        }
        Checker {
            src,
            name,
            store,
            diags: Vec::new(),
            top_diags: Vec::new(),
            counts: BTreeMap::new(),
            errors: 0,
            ids: IdSet::default(),
            missing,
            summary: Summary::default(),
            index: 0,
            visit,
            stopped: false,
        }
    }

    /// Counts a problem; builds and keeps its diagnostic only while fewer than [`SHOWN_PER_KIND`] are shown.
    fn emit(&mut self, code: &'static str, severity: Severity, make: impl FnOnce(&Self) -> Diagnostic) {
        let entry = self.counts.entry(code).or_insert((0, severity));
        entry.0 += 1;
        let n = entry.0;
        if severity == Severity::Error {
            self.errors += 1;
        }
        if n <= SHOWN_PER_KIND {
            let d = make(self);
            self.diags.push(d);
        }
    }

    fn snippet(&self, anchors: &[&Anchor]) -> crate::diag::Source {
        Snippet::new(&self.name, &self.store, anchors).into_source()
    }

    /// A diagnostic at one anchor.
    fn at(&self, d: Diagnostic, a: &Anchor, label: impl Into<String>) -> Diagnostic {
        d.at(&self.snippet(&[a]), a.label_span(), Some(label.into()))
    }

    /// The anchor of the value (or key) at `path` in the current feature; the feature's first byte if absent.
    fn anchor(raw: &[u8], at: Pos, path: &[Step], key: bool) -> Anchor {
        // The whole feature is shown by its opening brace (a feature may span many lines).
        match find(raw, path) {
            Some((Some(k), _)) if key => Anchor::within(raw, at, k),
            Some((_, v)) if !path.is_empty() => Anchor::within(raw, at, v),
            _ => Anchor::within(raw, at, 0..1.min(raw.len())),
        }
    }

    fn top(&mut self, code: &'static str, d: Diagnostic) {
        self.counts.entry(code).or_insert((0, d.severity)).0 += 1;
        if d.is_error() {
            self.errors += 1;
        }
        self.top_diags.push(d);
    }

    fn top_at(&mut self, code: &'static str, msg: String, pos: Pos, len: u64, label: &str, help: &str) {
        let a = Anchor { span: pos.offset..pos.offset + len, start: pos };
        let mut d = self.at(Diagnostic::error(code, msg), &a, label);
        if !help.is_empty() {
            d = d.with_help(help);
        }
        self.top(code, d);
    }

    /// Checks one feature and hands it to the visitor when all is well. Returns whether to go on.
    pub fn feature(&mut self, raw: &[u8], at: Pos) -> bool {
        let index = self.index;
        self.index += 1;
        let errors_before = self.errors;
        let site = self.check(raw, at, index);
        if let Some(site) = site {
            if self.errors == 0 && errors_before == 0 && !self.stopped {
                self.summary.sites += 1;
                self.summary.polygons += site.polygons.len();
                self.summary.vertices += site.polygons.iter().flatten().map(Vec::len).sum::<usize>();
                if let Err(d) = (self.visit)(site) {
                    self.errors += 1;
                    self.diags.push(d);
                    self.stopped = true;
                    return false;
                }
            }
        }
        true
    }

    fn json_error(&mut self, raw: &[u8], at: Pos, index: usize, e: serde_json::Error) {
        // serde_json counts lines by `\n` and columns in bytes from 1.
        let mut rel = 0usize;
        let mut line = 1;
        while line < e.line() && rel < raw.len() {
            if raw[rel] == b'\n' {
                line += 1;
            }
            rel += 1;
        }
        rel = (rel + e.column().saturating_sub(1)).min(raw.len().saturating_sub(1));
        let token = &raw[rel..];
        let non_finite = ["NaN", "Infinity", "-Infinity", "inf", "-inf", "nan"]
            .into_iter()
            .find(|t| token.starts_with(t.as_bytes()))
            .map(str::to_string);
        let msg = e.to_string();
        let out_of_range = msg.starts_with("number out of range");
        if non_finite.is_some() || out_of_range {
            // The whole number token around the error position.
            let in_token = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-');
            let start = rel - raw[..rel].iter().rev().take_while(|b| in_token(b)).count();
            let end = rel + raw[rel..].iter().take_while(|b| in_token(b)).count();
            let text = String::from_utf8_lossy(&raw[start..end.max(start + 1)]).into_owned();
            let a = Anchor::within(raw, at, start..end.max(start + 1));
            self.emit("sites::non-finite", Severity::Error, |c| {
                c.at(
                    Diagnostic::error(
                        "sites::non-finite",
                        format!("features[{index}] has a non-finite number `{text}`"),
                    ),
                    &a,
                    "not a finite number",
                )
                .with_help(
                    "coordinates must be finite longitude/latitude numbers; remove or repair this position \
                     (Python's json.dump writes NaN for missing values: pass allow_nan=False to catch it)",
                )
            });
            return;
        }
        let a = Anchor::within(raw, at, rel..(rel + 1).min(raw.len()));
        let text = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        self.emit("sites::json", Severity::Error, |c| {
            c.at(Diagnostic::error("sites::json", format!("features[{index}] is not valid JSON: {text}")), &a, "here")
                .with_help("fix the JSON syntax of this feature")
        });
    }

    fn check(&mut self, raw: &[u8], at: Pos, index: usize) -> Option<Site> {
        if raw.first() != Some(&b'{') {
            let what = json_kind_of_raw(raw);
            let a = Anchor::within(raw, at, 0..raw.len().min(40));
            self.emit("sites::not-a-feature", Severity::Error, |c| {
                c.at(
                    Diagnostic::error("sites::not-a-feature", format!("features[{index}] is {what}, not a Feature")),
                    &a,
                    "expected a Feature object",
                )
                .with_help(
                    r#"each element of `features` is {"type": "Feature", "properties": {...}, "geometry": {...}}"#,
                )
            });
            return None;
        }
        let f: RawFeature = match serde_json::from_slice(raw) {
            Ok(f) => f,
            Err(e) => {
                self.json_error(raw, at, index, e);
                return None;
            }
        };
        // A bare geometry (or something else) where a Feature should be.
        if let Some(ty) = &f.ty {
            if ty.as_str() != Some("Feature") {
                let shown = ty.as_str().map(|s| format!("`{s}`")).unwrap_or_else(|| ty.to_string());
                let bare = ty.as_str().is_some_and(|s| GEOMETRY_TYPES.contains(&s));
                let a = Self::anchor(raw, at, &[Step::Key("type")], false);
                self.emit("sites::not-a-feature", Severity::Error, |c| {
                    let msg = if bare {
                        format!("features[{index}] is a bare {shown} geometry, not a Feature")
                    } else {
                        format!("features[{index}] has type {shown}, not `Feature`")
                    };
                    c.at(Diagnostic::error("sites::not-a-feature", msg), &a, "expected \"Feature\"").with_help(
                        r#"wrap each geometry in a Feature: {"type": "Feature", "properties": {"site_id": …}, "geometry": …}"#,
                    )
                });
                return None;
            }
        }
        let id = self.check_id(raw, at, index, &f);
        let props = f.properties.as_ref().and_then(Value::as_object);
        let mut properties = Map::new();
        if let Some(props) = props {
            for (name, what, m) in &mut self.missing {
                if !props.contains_key(name.as_str()) {
                    m.count += 1;
                    if m.first.is_none() {
                        m.first = Some((at, index));
                    }
                }
                let _ = what;
            }
            for k in self.src.keep.iter().chain(&self.src.first_year_property).chain(&self.src.label_property) {
                properties.insert(k.clone(), props.get(k).cloned().unwrap_or(Value::Null));
            }
            if let Some(fy) = &self.src.first_year_property {
                if let Some(v) = props.get(fy) {
                    self.check_year(raw, at, index, fy, v);
                }
            }
        }
        let geometry = self.check_geometry(raw, at, index, f.geometry.as_ref(), id.as_deref());
        match (id, geometry) {
            (Some(id), Some((polygons, multi))) => Some(Site { id, properties, polygons, multi, index }),
            _ => None,
        }
    }

    fn check_id(&mut self, raw: &[u8], at: Pos, index: usize, f: &RawFeature) -> Option<String> {
        let idp = self.src.id_property.clone();
        let props = match &f.properties {
            Some(Value::Object(p)) => p,
            other => {
                let (a, what) = match other {
                    Some(v) => (Self::anchor(raw, at, &[Step::Key("properties")], false), json_kind(v)),
                    None => (Self::anchor(raw, at, &[], false), "missing".to_string()),
                };
                let feature_id = f.id.is_some();
                self.emit("sites::no-id", Severity::Error, |c| {
                    let label =
                        if other.is_some() { format!("`properties` is {what}") } else { "no `properties`".into() };
                    let mut help = format!(r#"give every feature "properties": {{"{idp}": …}}"#);
                    if feature_id {
                        help.push_str(
                            "; this feature has a top-level `id`, but geepipe reads the id from `properties`",
                        );
                    }
                    c.at(
                        Diagnostic::error(
                            "sites::no-id",
                            format!("features[{index}] has no properties, so no `{idp}`"),
                        ),
                        &a,
                        label,
                    )
                    .with_help(help)
                });
                return None;
            }
        };
        let Some(v) = props.get(&idp) else {
            let names: Vec<&str> = props.keys().map(String::as_str).collect();
            let suggestion = did_you_mean(&idp, names.iter().copied()).map(str::to_string);
            let a = match &suggestion {
                Some(s) => Self::anchor(raw, at, &[Step::Key("properties"), Step::Key(s)], true),
                None => Self::anchor(raw, at, &[Step::Key("properties")], true),
            };
            let listed = names.iter().take(8).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            let feature_id = f.id.is_some();
            self.emit("sites::no-id", Severity::Error, |c| {
                let (label, mut help) = match &suggestion {
                    Some(s) => (
                        format!("did you mean `{s}`?"),
                        format!("set `sites.id: {s}` in the pipeline, or rename the property in the file"),
                    ),
                    None if names.is_empty() => {
                        ("no properties".to_string(), format!("give every feature a `{idp}` property"))
                    }
                    None => (
                        format!("no `{idp}` among these"),
                        format!("this feature has {listed}; set `sites.id` to the property that names each site"),
                    ),
                };
                if feature_id {
                    help.push_str("; this feature has a top-level `id`, but geepipe reads the id from `properties`");
                }
                c.at(Diagnostic::error("sites::no-id", format!("features[{index}] has no `{idp}` property")), &a, label)
                    .with_help(help)
            });
            return None;
        };
        let id = match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(i.to_string())
                } else if let Some(u) = n.as_u64() {
                    Some(u.to_string())
                } else {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    (x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0).then(|| format!("{}", x as i64))
                }
            }
            _ => None,
        };
        let Some(id) = id else {
            let a = Self::anchor(raw, at, &[Step::Key("properties"), Step::Key(&idp)], false);
            let what = json_kind(v);
            self.emit("sites::bad-id", Severity::Error, |c| {
                c.at(
                    Diagnostic::error("sites::bad-id", format!("the `{idp}` of features[{index}] is {what}")),
                    &a,
                    "not an id",
                )
                .with_help("ids must be non-empty strings or whole numbers, unique within the file")
            });
            return None;
        };
        if let Some(first) = self.ids.insert(&id, at) {
            let a = Self::anchor(raw, at, &[Step::Key("properties"), Step::Key(&idp)], false);
            let idp2 = idp.clone();
            let id2 = id.clone();
            self.emit("sites::duplicate-id", Severity::Error, move |c| {
                let d = Diagnostic::error("sites::duplicate-id", format!("site id `{id2}` is used twice"))
                    .with_help(format!("every site needs its own `{idp2}`; rename or merge one of them"));
                let earlier = c
                    .store
                    .value_at(first)
                    .map(|raw0| Self::anchor(&raw0, first, &[Step::Key("properties"), Step::Key(&idp2)], false));
                match earlier {
                    Some(e) => {
                        let source = c.snippet(&[&a, &e]);
                        d.at(&source, a.label_span(), Some(format!("features[{index}] repeats it")))
                            .also(e.label_span(), "first used here")
                    }
                    None => c.at(d, &a, "used again here"),
                }
            });
            return None;
        }
        Some(id)
    }

    fn check_year(&mut self, raw: &[u8], at: Pos, index: usize, fy: &str, v: &Value) {
        let year = match v {
            Value::Null => return,
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64)),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if year.is_some_and(|y| (1000..=9999).contains(&y)) {
            return;
        }
        let a = Self::anchor(raw, at, &[Step::Key("properties"), Step::Key(fy)], false);
        let date_year = v.as_str().and_then(|s| s.get(..4)).filter(|y| y.bytes().all(|b| b.is_ascii_digit()));
        let what = json_kind(v);
        let help = match date_year {
            Some(y) => format!("this looks like a date; write just the year, e.g. `{y}`"),
            None => "write the first year as a whole number, e.g. 2015".to_string(),
        };
        self.emit("sites::first-year", Severity::Error, |c| {
            c.at(
                Diagnostic::error(
                    "sites::first-year",
                    format!("the first year `{fy}` of features[{index}] is not a year"),
                ),
                &a,
                format!("{what}, not a year"),
            )
            .with_help(help)
        });
    }

    fn check_geometry(
        &mut self,
        raw: &[u8],
        at: Pos,
        index: usize,
        g: Option<&Value>,
        id: Option<&str>,
    ) -> Option<(Vec<Polygon>, bool)> {
        let who = match id {
            Some(id) => format!("site `{id}` (features[{index}])"),
            None => format!("features[{index}]"),
        };
        let geometry = |rest: &[Step<'static>]| -> Vec<Step<'static>> {
            let mut p = vec![Step::Key("geometry")];
            p.extend_from_slice(rest);
            p
        };
        let g = match g {
            None => {
                let a = Self::anchor(raw, at, &[], false);
                self.emit("sites::no-geometry", Severity::Error, |c| {
                    c.at(
                        Diagnostic::error("sites::no-geometry", format!("{who} has no `geometry`")),
                        &a,
                        "this feature",
                    )
                    .with_help("every site needs a Polygon or MultiPolygon geometry")
                });
                return None;
            }
            Some(Value::Null) => {
                let a = Self::anchor(raw, at, &[Step::Key("geometry")], false);
                self.emit("sites::null-geometry", Severity::Error, |c| {
                    c.at(
                        Diagnostic::error("sites::null-geometry", format!("{who} has a null geometry")),
                        &a,
                        "no shape",
                    )
                    .with_help("give this site its polygon, or remove the feature from the file")
                });
                return None;
            }
            Some(g) => g,
        };
        let ty = g.get("type").and_then(Value::as_str);
        let multi = match ty {
            Some("Polygon") => false,
            Some("MultiPolygon") => true,
            _ => {
                let a = Self::anchor(raw, at, &geometry(&[Step::Key("type")]), false);
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
                    Some("GeometryCollection") => (
                        "a GeometryCollection".into(),
                        "split it: keep its polygons as a MultiPolygon, drop other parts",
                    ),
                    Some(t) => {
                        (format!("of unknown type `{t}`"), "GeoJSON polygon types are `Polygon` and `MultiPolygon`")
                    }
                    None => ("a geometry without a `type`".into(), "add \"type\": \"Polygon\" or \"MultiPolygon\""),
                };
                self.emit("sites::geometry-type", Severity::Error, |c| {
                    c.at(
                        Diagnostic::error("sites::geometry-type", format!("{who} is {what}; sites must be polygons")),
                        &a,
                        "needs Polygon or MultiPolygon",
                    )
                    .with_help(help)
                });
                return None;
            }
        };
        let coords = match g.get("coordinates") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            other => {
                let empty = matches!(other, Some(Value::Array(_)));
                let a = Self::anchor(raw, at, &geometry(&[Step::Key("coordinates")]), false);
                let a = if other.is_none() { Self::anchor(raw, at, &[Step::Key("geometry")], true) } else { a };
                let what = match other {
                    None => "no `coordinates`".to_string(),
                    Some(_) if empty => "empty coordinates".to_string(),
                    Some(v) => format!("coordinates that are {}", json_kind(v)),
                };
                let code = if empty || other.is_none() { "sites::empty-geometry" } else { "sites::coordinates" };
                self.emit(code, Severity::Error, |c| {
                    c.at(Diagnostic::error(code, format!("{who} has {what}")), &a, "no rings")
                        .with_help("a Polygon's coordinates are a list of rings, each a list of [longitude, latitude]")
                });
                return None;
            }
        };
        let mut ok = true;
        let mut polygons = Vec::with_capacity(if multi { coords.len() } else { 1 });
        let mut bad_pos: Option<(Vec<usize>, String)> = None;
        let mut bad_pos_count = 0usize;
        let mut range: Option<(Vec<usize>, f64, f64)> = None;
        let mut range_count = 0usize;
        let polys: Vec<(Option<usize>, &Value)> = if multi {
            coords.iter().enumerate().map(|(i, p)| (Some(i), p)).collect()
        } else {
            vec![(None, g.get("coordinates").unwrap_or(&Value::Null))]
        };
        for (pi, poly) in polys {
            let base: Vec<usize> = pi.into_iter().collect();
            let rings = match poly.as_array() {
                Some(r) if !r.is_empty() => r,
                _ => {
                    ok = false;
                    let path = coord_path(&base);
                    let a = Self::anchor(raw, at, &geometry(&steps(&path)), false);
                    let n = pi.map(|i| format!("polygon {} of ", i + 1)).unwrap_or_default();
                    self.emit("sites::empty-geometry", Severity::Error, |c| {
                        c.at(
                            Diagnostic::error("sites::empty-geometry", format!("{n}{who} has no rings")),
                            &a,
                            "expected a list of rings",
                        )
                        .with_help("a polygon is a list of rings: the outer boundary, then holes")
                    });
                    continue;
                }
            };
            let mut polygon: Polygon = Vec::with_capacity(rings.len());
            for (ri, ring) in rings.iter().enumerate() {
                let mut rpath = base.clone();
                rpath.push(ri);
                let positions = ring.as_array().map(Vec::as_slice).unwrap_or(&[]);
                let mut out: Ring = Vec::with_capacity(positions.len());
                let mut ring_ok = true;
                for (k, p) in positions.iter().enumerate() {
                    let xy = match p.as_array() {
                        Some(v) if (2..=3).contains(&v.len()) => match (v[0].as_f64(), v[1].as_f64()) {
                            (Some(x), Some(y)) if v.len() == 2 || v[2].is_number() => Some([x, y]),
                            _ => None,
                        },
                        _ => None,
                    };
                    let Some([x, y]) = xy else {
                        ring_ok = false;
                        bad_pos_count += 1;
                        if bad_pos.is_none() {
                            let mut pp = rpath.clone();
                            pp.push(k);
                            let what = match p.as_array() {
                                Some(v) if !(2..=3).contains(&v.len()) => {
                                    format!("{} value{}", v.len(), if v.len() == 1 { "" } else { "s" })
                                }
                                Some(_) => "a value that is not a number".to_string(),
                                None => json_kind(p),
                            };
                            bad_pos = Some((pp, what));
                        }
                        continue;
                    };
                    if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
                        range_count += 1;
                        if range.is_none() {
                            let mut pp = rpath.clone();
                            pp.push(k);
                            range = Some((pp, x, y));
                        }
                    }
                    out.push([x, y]);
                }
                if ring.as_array().is_none() {
                    ring_ok = false;
                }
                let ring_name = ring_name(pi, ri);
                if ring_ok && out.len() < 4 {
                    ok = false;
                    let a = Self::anchor(raw, at, &geometry(&steps(&coord_path(&rpath))), false);
                    let n = out.len();
                    self.emit("sites::ring-too-short", Severity::Error, |c| {
                        c.at(
                            Diagnostic::error(
                                "sites::ring-too-short",
                                format!("{ring_name} of {who} has {n} position{}", if n == 1 { "" } else { "s" }),
                            ),
                            &a,
                            "fewer than 4 positions",
                        )
                        .with_help("a ring needs at least 4 positions: 3 corners and the first repeated at the end")
                    });
                } else if ring_ok && out.first() != out.last() {
                    ok = false;
                    let mut first = rpath.clone();
                    first.push(0);
                    let mut last = rpath.clone();
                    last.push(out.len() - 1);
                    let a = Self::anchor(raw, at, &geometry(&steps(&coord_path(&last))), false);
                    let b = Self::anchor(raw, at, &geometry(&steps(&coord_path(&first))), false);
                    let (f0, l0) = (out[0], out[out.len() - 1]);
                    self.emit("sites::ring-not-closed", Severity::Error, |c| {
                        let source = c.snippet(&[&a, &b]);
                        Diagnostic::error("sites::ring-not-closed", format!("{ring_name} of {who} is not closed"))
                            .at(&source, a.label_span(), Some("ends here".to_string()))
                            .also(b.label_span(), "starts here")
                            .with_help(format!(
                                "repeat the first position [{}, {}] at the end of the ring (it ends at [{}, {}])",
                                f0[0], f0[1], l0[0], l0[1]
                            ))
                    });
                }
                if !ring_ok {
                    ok = false;
                } else if out.len() >= 4 && out.first() == out.last() {
                    if let Some((i, j)) = self_crossing(&out) {
                        let mut pi_ = rpath.clone();
                        pi_.push(i);
                        let mut pj = rpath.clone();
                        pj.push(j);
                        let a = Self::anchor(raw, at, &geometry(&steps(&coord_path(&pj))), false);
                        let b = Self::anchor(raw, at, &geometry(&steps(&coord_path(&pi_))), false);
                        self.emit("sites::self-intersection", Severity::Warning, |c| {
                            let source = c.snippet(&[&a, &b]);
                            Diagnostic::warning(
                                "sites::self-intersection",
                                format!("{ring_name} of {who} crosses itself"),
                            )
                            .at(&source, a.label_span(), Some(format!("the edge from position {} …", j + 1)))
                            .also(b.label_span(), format!("… crosses the edge from position {}", i + 1))
                            .with_help(
                                "Earth Engine may reject or mis-measure a self-intersecting polygon; repair it \
                                 (QGIS: Vector ▸ Geometry Tools ▸ Fix Geometries, or `ST_MakeValid`)",
                            )
                        });
                    }
                }
                polygon.push(out);
            }
            polygons.push(polygon);
        }
        if let Some((path, what)) = bad_pos {
            ok = false;
            let a = Self::anchor(raw, at, &geometry(&steps(&coord_path(&path))), false);
            let more = more(bad_pos_count);
            self.emit("sites::position", Severity::Error, |c| {
                c.at(
                    Diagnostic::error("sites::position", format!("{who} has a position with {what}{more}")),
                    &a,
                    "not [longitude, latitude]",
                )
                .with_help("a position is [longitude, latitude] or [longitude, latitude, height]")
            });
        }
        if let Some((path, x, y)) = range {
            ok = false;
            let a = Self::anchor(raw, at, &geometry(&steps(&coord_path(&path))), false);
            let more = more(range_count);
            let (label, help) = if x.abs() > 1000.0 || y.abs() > 1000.0 {
                (
                    "looks like projected metres",
                    "these look like projected coordinates (metres, e.g. UTM or Web Mercator); GeoJSON must be \
                     WGS 84 longitude/latitude: reproject to EPSG:4326, e.g. \
                     `ogr2ogr -t_srs EPSG:4326 sites_wgs84.geojson sites.geojson`"
                        .to_string(),
                )
            } else if x.abs() <= 90.0 && y.abs() <= 180.0 {
                (
                    "latitude and longitude swapped?",
                    format!("GeoJSON positions are [longitude, latitude]: this may be [{y}, {x}]"),
                )
            } else {
                ("outside the globe", "longitude must be within [-180, 180] and latitude within [-90, 90]".to_string())
            };
            self.emit("sites::coordinate-range", Severity::Error, |c| {
                c.at(
                    Diagnostic::error(
                        "sites::coordinate-range",
                        format!("{who} has a position [{x}, {y}] outside longitude/latitude range{more}"),
                    ),
                    &a,
                    label,
                )
                .with_help(help)
            });
        }
        ok.then_some((polygons, multi))
    }

    /// Judges the top level after the scan and adds the summary diagnostics; returns every diagnostic.
    pub fn finish(mut self, scanned: Result<TopLevel, Box<(ScanError, TopLevel)>>) -> (Summary, Vec<Diagnostic>) {
        let top = match scanned {
            Ok(top) => Some(top),
            Err(failed) => {
                let (e, top) = *failed;
                match e {
                    ScanError::Io(e) => {
                        let d = Diagnostic::error("sites::read", format!("cannot read site file `{}`: {e}", self.name))
                            .in_file(self.name.clone());
                        self.top("sites::read", d);
                    }
                    ScanError::Syntax { pos, expected, found } => {
                        let found = match found {
                            Some(b) if b.is_ascii_graphic() => format!("`{}`", b as char),
                            Some(b) => format!("byte 0x{b:02x}"),
                            None => "the end".into(),
                        };
                        self.top_at(
                            "sites::json",
                            format!("the site file is not valid JSON: expected {expected}, found {found}"),
                            pos,
                            1,
                            "here",
                            "a hand-edited or truncated file? check it with `python3 -m json.tool FILE`",
                        );
                    }
                    ScanError::Eof { pos, open } => {
                        let a = last_byte(&self.store, pos);
                        let opened = open.map(|o| Anchor { span: o.offset..o.offset + 1, start: o });
                        let mut anchors = vec![&a];
                        anchors.extend(opened.as_ref());
                        let source = self.snippet(&anchors);
                        let mut d = Diagnostic::error("sites::truncated", "the site file ends too early")
                            .at(&source, a.label_span(), Some("the file ends here".to_string()))
                            .with_help("the file looks truncated (an interrupted download or copy?); export it again");
                        if let Some(o) = &opened {
                            d = d.also(o.label_span(), "this is never closed");
                        }
                        self.top("sites::truncated", d);
                    }
                }
                if top.count == 0 {
                    None
                } else {
                    Some(top)
                }
            }
        };
        if let Some(top) = top {
            self.judge_top(top);
        }
        self.missing_warnings();
        // "… and N more" for kinds shown only partly.
        let mut notes = Vec::new();
        for (code, (n, sev)) in &self.counts {
            if *n > SHOWN_PER_KIND {
                let msg = format!("… and {} more `{code}` problems ({n} in total)", n - SHOWN_PER_KIND);
                let d = match sev {
                    Severity::Error => Diagnostic::error(*code, msg),
                    Severity::Warning => Diagnostic::warning(*code, msg),
                };
                notes.push(d.in_file(self.name.clone()).counting(n - SHOWN_PER_KIND));
            }
        }
        let mut all = std::mem::take(&mut self.top_diags);
        all.append(&mut self.diags);
        all.extend(notes);
        (self.summary, all)
    }

    fn judge_top(&mut self, top: TopLevel) {
        for (key, pos, e) in &top.bad_values {
            self.top_at(
                "sites::json",
                format!(
                    "the top-level `{key}` is not valid JSON: {}",
                    e.to_string().split(" at line ").next().unwrap_or("")
                ),
                *pos,
                1,
                "in this value",
                "fix the JSON syntax",
            );
        }
        let ty: Option<String> = top
            .type_value
            .as_ref()
            .and_then(|(raw, _)| serde_json::from_slice::<Value>(raw).ok())
            .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
        match top.first {
            None => {
                let d = Diagnostic::error("sites::empty", format!("the site file `{}` is empty", self.name))
                    .in_file(self.name.clone())
                    .with_help("it should be a GeoJSON FeatureCollection of Polygon/MultiPolygon features");
                self.top("sites::empty", d);
                return;
            }
            Some(b'{') => {}
            Some(b) => {
                let what = json_kind_of_raw(&[b]);
                self.top_at(
                    "sites::not-collection",
                    format!("the site file holds {what}, not a GeoJSON FeatureCollection"),
                    top.start,
                    1,
                    "expected `{`",
                    r#"write {"type": "FeatureCollection", "features": [ … ]}"#,
                );
                return;
            }
        }
        match top.features {
            Some((pos, b'[')) => {
                if top.count == 0 {
                    self.top_at(
                        "sites::empty",
                        "the FeatureCollection has no features".into(),
                        pos,
                        1,
                        "empty",
                        "add the site polygons as features",
                    );
                }
                if let Some(t) = ty.as_deref().filter(|t| *t != "FeatureCollection") {
                    let pos = top.type_value.as_ref().map(|(_, p)| *p).unwrap_or(top.start);
                    let len = top.type_value.as_ref().map(|(r, _)| r.len() as u64).unwrap_or(1);
                    let a = Anchor { span: pos.offset..pos.offset + len, start: pos };
                    let d = self.at(
                        Diagnostic::warning(
                            "sites::collection-type",
                            format!("the file has `features` but type `{t}`"),
                        ),
                        &a,
                        "expected \"FeatureCollection\"",
                    );
                    self.top("sites::collection-type", d);
                }
            }
            Some((pos, b)) => {
                let what = json_kind_of_raw(&[b]);
                self.top_at(
                    "sites::not-collection",
                    format!("`features` is {what}, not an array"),
                    pos,
                    1,
                    "expected `[`",
                    "`features` must be a list of Feature objects",
                );
            }
            None => match ty.as_deref() {
                Some("Feature") => {
                    // One Feature: a collection of one site.
                    if let Some(raw) = self.store.value_at(top.start) {
                        self.feature(&raw, top.start);
                    }
                }
                Some(t) => {
                    let (msg, help) = if GEOMETRY_TYPES.contains(&t) {
                        (
                            format!("the site file is a bare {t} geometry, not a FeatureCollection"),
                            "sites need ids: put each polygon in a Feature with properties inside a FeatureCollection",
                        )
                    } else if t == "Topology" {
                        (
                            "the site file is TopoJSON, not GeoJSON".to_string(),
                            "convert it, e.g. `mapshaper in.json -o format=geojson out.geojson`",
                        )
                    } else {
                        (
                            format!("the site file has type `{t}`, not `FeatureCollection`"),
                            r#"write {"type": "FeatureCollection", "features": [ … ]}"#,
                        )
                    };
                    let pos = top.type_value.as_ref().map(|(_, p)| *p).unwrap_or(top.start);
                    let len = top.type_value.as_ref().map(|(r, _)| r.len() as u64).unwrap_or(1);
                    self.top_at("sites::not-collection", msg, pos, len, "expected \"FeatureCollection\"", help);
                }
                None => self.top_at(
                    "sites::not-collection",
                    "the site file has no `features` array".into(),
                    top.start,
                    1,
                    "this object",
                    r#"write {"type": "FeatureCollection", "features": [ … ]}"#,
                ),
            },
        }
    }

    fn missing_warnings(&mut self) {
        let total = self.index;
        let missing = std::mem::take(&mut self.missing);
        for (name, what, m) in &missing {
            let Some((first, index)) = m.first else { continue };
            let mut d = Diagnostic::warning(
                "sites::missing-property",
                format!(
                    "{what} `{name}` is missing on {} of {total} feature{}",
                    m.count,
                    if total == 1 { "" } else { "s" }
                ),
            );
            let mut help = match *what {
                "first-year property" => "every year is computed for those sites".to_string(),
                _ => format!("those sites get an empty `{name}` in the output"),
            };
            if let Some(raw) = self.store.value_at(first) {
                let names: Vec<String> = serde_json::from_slice::<Value>(&raw)
                    .ok()
                    .and_then(|v| v.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()))
                    .unwrap_or_default();
                let suggestion = did_you_mean(name, names.iter().map(String::as_str)).map(str::to_string);
                let a = match &suggestion {
                    Some(s) => Self::anchor(&raw, first, &[Step::Key("properties"), Step::Key(s)], true),
                    None => Self::anchor(&raw, first, &[Step::Key("properties")], true),
                };
                let label = match &suggestion {
                    Some(s) => format!("features[{index}] has `{s}`; did you mean it?"),
                    None => format!("features[{index}] has no `{name}`"),
                };
                if let Some(s) = &suggestion {
                    help = format!("did you mean `{s}`? {help}");
                }
                d = self.at(d, &a, label);
            } else {
                d = d.in_file(self.name.clone());
            }
            self.emit("sites::missing-property", Severity::Warning, |_| d.with_help(help));
        }
        self.missing = missing;
    }
}

/// The last non-space byte before `end` (where the file ends), with its line; `end` itself if none is near.
fn last_byte(store: &Store, end: Pos) -> Anchor {
    let lo = end.offset.saturating_sub(4096);
    let tail = store.read(lo..end.offset);
    let Some(i) = tail.iter().rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) else {
        return Anchor { span: end.offset..end.offset, start: end };
    };
    let at = lo + i as u64;
    // Line breaks between that byte and the end, counted like the scanner counts them.
    let mut line = end.line;
    let mut k = tail.len();
    while k > i + 1 {
        k -= 1;
        if tail[k] == b'\r' || (tail[k] == b'\n' && (k == 0 || tail[k - 1] != b'\r')) {
            line = line.saturating_sub(1);
        }
    }
    let line_start = if line == end.line {
        end.line_start
    } else {
        match tail[..i].iter().rposition(|b| *b == b'\n' || *b == b'\r') {
            Some(j) => lo + j as u64 + 1,
            None if lo == 0 => 0,
            None => return Anchor { span: end.offset..end.offset, start: end },
        }
    };
    Anchor { span: at..at + 1, start: Pos { offset: at, line, line_start } }
}

/// Rings longer than this are not checked for self-crossings (the check is quadratic).
pub const SELF_CROSSING_MAX: usize = 256;

/// The first pair of non-adjacent edges `(i, j)` (edge `k` runs from position `k` to `k + 1`) that cross
/// properly, in a closed ring of at most [`SELF_CROSSING_MAX`] positions. Touching at a point and
/// collinear overlaps are not reported.
fn self_crossing(ring: &[[f64; 2]]) -> Option<(usize, usize)> {
    if ring.len() > SELF_CROSSING_MAX {
        return None;
    }
    let edges = ring.len() - 1;
    let orient = |a: [f64; 2], b: [f64; 2], c: [f64; 2]| {
        let v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        if v > 0.0 {
            1
        } else if v < 0.0 {
            -1
        } else {
            0
        }
    };
    for i in 0..edges {
        let (p, q) = (ring[i], ring[i + 1]);
        for j in i + 2..edges {
            if i == 0 && j == edges - 1 {
                continue;
            }
            let (r, t) = (ring[j], ring[j + 1]);
            if orient(p, q, r) * orient(p, q, t) < 0 && orient(r, t, p) * orient(r, t, q) < 0 {
                return Some((i, j));
            }
        }
    }
    None
}

fn more(n: usize) -> String {
    if n > 1 {
        format!(" (and {} more in this feature)", n - 1)
    } else {
        String::new()
    }
}

fn ring_name(polygon: Option<usize>, ring: usize) -> String {
    let r = if ring == 0 { "the outer ring".to_string() } else { format!("hole {ring}") };
    match polygon {
        Some(p) => format!("{r} of polygon {}", p + 1),
        None => r,
    }
}

fn coord_path(indices: &[usize]) -> Vec<usize> {
    indices.to_vec()
}

fn steps(indices: &[usize]) -> Vec<Step<'static>> {
    let mut s = vec![Step::Key("coordinates")];
    s.extend(indices.iter().map(|i| Step::Index(*i)));
    s
}

/// "a string", "null", "an object" … for messages.
pub fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.trim().is_empty() => "an empty string".into(),
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn json_kind_of_raw(raw: &[u8]) -> String {
    match raw.first() {
        Some(b'[') => "an array".into(),
        Some(b'{') => "an object".into(),
        Some(b'"') => "a string".into(),
        Some(b't' | b'f') => "a boolean".into(),
        Some(b'n') => "null".into(),
        Some(b'-' | b'0'..=b'9') => "a number".into(),
        _ => "not JSON".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::{self_crossing, IdSet, Pos};

    #[test]
    fn id_set_is_exact_despite_short_hashes() {
        // 300,000 ids give a handful of 32-bit hash collisions; none may be taken for a duplicate.
        let mut ids = IdSet::default();
        let at = |i: u64| Pos { offset: i * 10 + 3, line: i, line_start: i * 10 };
        for i in 0..300_000u64 {
            assert_eq!(ids.insert(&format!("id{i}"), at(i)), None, "id{i}");
        }
        assert!(!ids.overflow.is_empty(), "expected some hash collisions to exercise the overflow map");
        let collided: Vec<u64> = ids.overflow.values().map(|n| u64::from(*n)).collect();
        for i in (0..300_000u64).step_by(997).chain(collided) {
            assert_eq!(ids.insert(&format!("id{i}"), at(i + 1)), Some(at(i)), "id{i}");
        }
    }

    #[test]
    fn finds_a_bow_tie_but_not_a_square_or_a_touching_ring() {
        let square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        assert_eq!(self_crossing(&square), None);
        let bow_tie = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]];
        assert_eq!(self_crossing(&bow_tie), Some((0, 2)));
        // Two triangles touching at (1, 1): no proper crossing.
        let touching = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [2.0, 2.0], [1.0, 1.0], [0.0, 2.0], [0.0, 0.0]];
        assert_eq!(self_crossing(&touching), None);
    }
}
