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
//!   Repeated ids are found when the whole file has been read ([`id_log`]): the sites after a repeat are
//!   handed over, and the error comes at the end.
//!
//! One file per concern: [`ids`] (the id property, duplicates, look-alikes) with [`id_log`] (every id, for
//! the checks of repeats made at the end), [`properties`] (kept, first-year and
//! label properties), [`geometry`] (geometry type, rings, positions, the conversion to longitude/latitude),
//! [`rings`] (a ring's own shape), [`top`] (the file around the features: not a collection, empty,
//! truncated, invalid JSON), [`record`] (features of Shapefile, GeoPackage, FlatGeobuf and GeoParquet files),
//! [`regular`] (the common feature read in one pass, without a JSON value per position).
//!
//! The same checks serve every format: a GeoJSON feature is located by its bytes ([`Place::Json`]: a
//! snippet with line and column), a record of a binary format by its index and field ([`Place::Record`]:
//! "feature 7, field `site_id`"). Messages are the same for both (`features[7] …`), so one mistake reads
//! the same whatever file it is in.

mod antimeridian;
mod geometry;
mod id_log;
mod ids;
mod lonlat;
mod properties;
mod record;
mod regular;
mod rings;
mod top;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::keys::KeyScan;
use super::reader::Pos;
use super::source::{find, Anchor, Snippet, Step, Store};
use super::{Site, Summary};
use crate::crs::Crs;
use crate::diag::{Code, Diagnostic, Severity};
use crate::pipeline::SiteSource;
use id_log::IdLog;
use properties::Missing;
pub use record::{DeclaredCrs, Geom, Record};
use regular::RegularFeature;

/// Where a feature is, for its diagnostics.
#[derive(Clone, Copy)]
pub enum Place<'a> {
    /// A GeoJSON feature: its bytes and where they start in the file.
    Json { raw: &'a [u8], at: Pos },
    /// A record of a file without lines: its 0-based index, and the id the format shows users (a
    /// GeoPackage `fid`) when there is one.
    Record { index: usize, fid: Option<i64> },
}

/// A spot a diagnostic points at: a span of GeoJSON text, or a place in a record.
pub enum Mark {
    Span(Anchor),
    Record(String),
}

/// The coordinate system a site file's coordinates are in, and where that was said.
pub struct FileCrs {
    pub crs: Crs,
    /// "declared by sites.prj", "set by `sites.crs`"; `None` when nothing was declared (WGS 84 assumed).
    pub origin: Option<String>,
}

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

/// Collects diagnostics while the file is scanned.
pub struct Checker<'s, V> {
    src: &'s SiteSource,
    pub name: String,
    store: Store,
    diags: Vec<Diagnostic>,
    /// The feature each of `diags` is about (its index), to put the ones made at the end in file order.
    diag_features: Vec<usize>,
    top_diags: Vec<Diagnostic>,
    counts: BTreeMap<Code, (usize, Severity)>,
    errors: usize,
    ids: IdLog,
    /// Buffers of the duplicate-key check, kept from one feature to the next.
    keys: KeyScan,
    missing: Vec<(String, &'static str, Missing)>,
    pub summary: Summary,
    index: usize,
    visit: V,
    stopped: bool,
    /// The coordinate system of the coordinates (WGS 84 unless the file or `sites.crs` says otherwise).
    crs: std::sync::Arc<FileCrs>,
    /// The declared coordinate system cannot be used (reported once): positions are not judged.
    crs_failed: bool,
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
            diag_features: Vec::new(),
            top_diags: Vec::new(),
            counts: BTreeMap::new(),
            errors: 0,
            ids: IdLog::default(),
            keys: KeyScan::default(),
            missing,
            summary: Summary::default(),
            index: 0,
            visit,
            stopped: false,
            crs: std::sync::Arc::new(FileCrs { crs: Crs::wgs84(), origin: None }),
            crs_failed: false,
        }
    }

    /// Sets the coordinate system of the file's coordinates (before the first feature).
    pub fn set_crs(&mut self, crs: FileCrs) {
        self.crs = std::sync::Arc::new(crs);
    }

    /// Counts a problem; builds and keeps its diagnostic only while fewer than [`SHOWN_PER_KIND`] are shown.
    fn emit(&mut self, code: Code, severity: Severity, make: impl FnOnce(&Self) -> Diagnostic) {
        let entry = self.counts.entry(code).or_insert((0, severity));
        entry.0 += 1;
        let n = entry.0;
        if severity == Severity::Error {
            self.errors += 1;
        }
        if n <= SHOWN_PER_KIND {
            let d = make(self);
            self.push_diag(d);
        }
    }

    /// Counts `n` more problems of a kind, past those shown.
    fn count_more(&mut self, code: Code, severity: Severity, n: usize) {
        if n == 0 {
            return;
        }
        self.counts.entry(code).or_insert((0, severity)).0 += n;
        if severity == Severity::Error {
            self.errors += n;
        }
    }

    /// Keeps a diagnostic about the feature being read.
    fn push_diag(&mut self, d: Diagnostic) {
        self.diags.push(d);
        self.diag_features.push(self.index.saturating_sub(1));
    }

    fn snippet(&self, anchors: &[&Anchor]) -> crate::diag::Source {
        Snippet::new(&self.name, &self.store, anchors).into_source()
    }

    /// A diagnostic at one spot.
    fn at(&self, d: Diagnostic, a: &Mark, label: impl Into<String>) -> Diagnostic {
        match a {
            Mark::Span(a) => self.at_span(d, a, label),
            Mark::Record(place) => d.in_record(self.name.clone(), place, Some(&label.into())),
        }
    }

    /// A diagnostic at one span of the GeoJSON text.
    fn at_span(&self, d: Diagnostic, a: &Anchor, label: impl Into<String>) -> Diagnostic {
        d.at(&self.snippet(&[a]), a.label_span(), Some(label.into()))
    }

    /// A diagnostic at two spots: `a` (the main one) and `b`.
    fn at2(&self, d: Diagnostic, a: &Mark, la: impl Into<String>, b: &Mark, lb: impl Into<String>) -> Diagnostic {
        match (a, b) {
            (Mark::Span(a), Mark::Span(b)) => {
                let source = self.snippet(&[a, b]);
                d.at(&source, a.label_span(), Some(la.into())).also(b.label_span(), lb)
            }
            _ => {
                let place = |m: &Mark| match m {
                    Mark::Record(p) => p.clone(),
                    Mark::Span(_) => String::new(),
                };
                d.in_record(self.name.clone(), &place(a), Some(&la.into())).also_record(&place(b), &lb.into())
            }
        }
    }

    fn top(&mut self, code: Code, d: Diagnostic) {
        self.counts.entry(code).or_insert((0, d.severity)).0 += 1;
        if d.is_error() {
            self.errors += 1;
        }
        self.top_diags.push(d);
    }

    fn top_at(&mut self, code: Code, msg: String, pos: Pos, len: u64, label: &str, help: &str) {
        let a = Anchor { span: pos.offset..pos.offset + len, start: pos };
        let mut d = self.at_span(Diagnostic::error(code, msg), &a, label);
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
        self.hand_over(site, errors_before)
    }

    /// Hands a checked site to the visitor while no error has been found. Returns whether to go on.
    fn hand_over(&mut self, site: Option<Site>, errors_before: usize) -> bool {
        if let Some(site) = site {
            if self.errors == 0 && errors_before == 0 && !self.stopped {
                self.summary.sites += 1;
                self.summary.polygons += site.polygons.len();
                self.summary.vertices += site.polygons.iter().flatten().map(Vec::len).sum::<usize>();
                if let Err(d) = (self.visit)(site) {
                    self.errors += 1;
                    self.push_diag(d);
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
            let a = Mark::Span(Anchor::within(raw, at, start..end.max(start + 1)));
            self.emit(Code::SitesNonFinite, Severity::Error, |c| {
                c.at(
                    Diagnostic::error(
                        Code::SitesNonFinite,
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
        let a = Mark::Span(Anchor::within(raw, at, rel..(rel + 1).min(raw.len())));
        let text = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        self.emit(Code::SitesJson, Severity::Error, |c| {
            c.at(Diagnostic::error(Code::SitesJson, format!("features[{index}] is not valid JSON: {text}")), &a, "here")
                .with_help("fix the JSON syntax of this feature")
        });
    }

    fn check(&mut self, raw: &[u8], at: Pos, index: usize) -> Option<Site> {
        if raw.first() != Some(&b'{') {
            let what = json_kind_of_raw(raw);
            let a = Mark::Span(Anchor::within(raw, at, 0..raw.len().min(40)));
            self.emit(Code::SitesNotAFeature, Severity::Error, |c| {
                c.at(
                    Diagnostic::error(Code::SitesNotAFeature, format!("features[{index}] is {what}, not a Feature")),
                    &a,
                    "expected a Feature object",
                )
                .with_help(
                    r#"each element of `features` is {"type": "Feature", "properties": {...}, "geometry": {...}}"#,
                )
            });
            return None;
        }
        // Most features have a regular polygon geometry, read without a value per position; any other is
        // read as values, for its checks to say what is wrong.
        let (f, regular) = match serde_json::from_slice::<RegularFeature>(raw) {
            Ok(r) => (RawFeature { ty: r.ty, properties: r.properties, geometry: None, id: r.id }, Some(r.geometry)),
            Err(_) => match serde_json::from_slice::<RawFeature>(raw) {
                Ok(f) => (f, None),
                Err(e) => {
                    // serde refuses `type`, `properties`, `geometry` or `id` given twice: say where both are.
                    if !self.duplicate_key(raw, at, index, false) {
                        self.json_error(raw, at, index, e);
                    }
                    return None;
                }
            },
        };
        // A bare geometry (or something else) where a Feature should be.
        if let Some(ty) = &f.ty {
            if ty.as_str() != Some("Feature") {
                let shown = ty.as_str().map(|s| format!("`{s}`")).unwrap_or_else(|| ty.to_string());
                let bare = ty.as_str().is_some_and(|s| GEOMETRY_TYPES.contains(&s));
                let a = anchor(Place::Json { raw, at }, &[Step::Key("type")], false);
                self.emit(Code::SitesNotAFeature, Severity::Error, |c| {
                    let msg = if bare {
                        format!("features[{index}] is a bare {shown} geometry, not a Feature")
                    } else {
                        format!("features[{index}] has type {shown}, not `Feature`")
                    };
                    c.at(Diagnostic::error(Code::SitesNotAFeature, msg), &a, "expected \"Feature\"").with_help(
                        r#"wrap each geometry in a Feature: {"type": "Feature", "properties": {"site_id": …}, "geometry": …}"#,
                    )
                });
                return None;
            }
        }
        if self.duplicate_key(raw, at, index, true) {
            return None;
        }
        let place = Place::Json { raw, at };
        let id = self.check_id(place, index, &f);
        let properties = self.check_properties(place, index, f.properties.as_ref().and_then(Value::as_object));
        let geometry = match regular {
            Some(r) => self.regular_geometry(place, index, r, id.as_deref()),
            None => self.check_geometry(place, index, f.geometry.as_ref(), id.as_deref()),
        };
        match (id, geometry) {
            (Some(id), Some((polygons, multi))) => Some(Site { id, properties, polygons, multi, index }),
            _ => None,
        }
    }
}

impl<V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// Reports the first key given twice in one object of the feature; whether there was one. `valid`:
    /// serde_json has read the feature, so the quick pass can clear it.
    fn duplicate_key(&mut self, raw: &[u8], at: Pos, index: usize, valid: bool) -> bool {
        if valid && !self.keys.any(raw) {
            return false;
        }
        let Some(dup) = self.keys.duplicate(raw) else { return false };
        let a = Mark::Span(Anchor::within(raw, at, dup.again));
        let b = Mark::Span(Anchor::within(raw, at, dup.first));
        let whose = if dup.path.is_empty() { String::new() } else { format!("`{}` of ", dup.path) };
        let key = dup.key;
        self.emit(Code::SitesDuplicateKey, Severity::Error, |c| {
            let msg = format!("{whose}features[{index}] has the key `{key}` twice");
            c.at2(Diagnostic::error(Code::SitesDuplicateKey, msg), &a, "given again here", &b, "first given here")
                .with_help("JSON readers silently keep only one of the two (most the last): remove the wrong one")
        });
        true
    }
}

/// The spot of the value (or key) at `path` in a feature: in GeoJSON its span (the feature's first byte
/// when it is absent), in a record the feature and field it names.
fn anchor(place: Place, path: &[Step], key: bool) -> Mark {
    match place {
        Place::Json { raw, at } => Mark::Span(match find(raw, path) {
            Some((Some(k), _)) if key => Anchor::within(raw, at, k),
            Some((_, v)) if !path.is_empty() => Anchor::within(raw, at, v),
            // The whole feature is shown by its opening brace (a feature may span many lines).
            _ => Anchor::within(raw, at, 0..1.min(raw.len())),
        }),
        Place::Record { index, fid } => Mark::Record(record_place(index, fid, path)),
    }
}

/// "feature 7 (fid 8), field `site_id`", "feature 7, geometry coordinates[0][4]" for a record.
fn record_place(index: usize, fid: Option<i64>, path: &[Step]) -> String {
    let mut out = format!("feature {index}");
    if let Some(fid) = fid {
        out.push_str(&format!(" (fid {fid})"));
    }
    match path {
        [Step::Key("properties"), Step::Key(field), ..] => out.push_str(&format!(", field `{field}`")),
        [Step::Key("geometry"), rest @ ..] => {
            out.push_str(", geometry");
            if let [Step::Key("coordinates"), indices @ ..] = rest {
                if !indices.is_empty() {
                    out.push_str(" coordinates");
                }
                for step in indices {
                    if let Step::Index(i) = step {
                        out.push_str(&format!("[{i}]"));
                    }
                }
            }
        }
        _ => {}
    }
    out
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
