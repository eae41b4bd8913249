//! The file around the features, judged after the scan: not JSON, not a FeatureCollection, empty,
//! truncated; then the counts of problems shown only partly.

use serde_json::Value;

use super::{json_kind_of_raw, Checker, GEOMETRY_TYPES, SHOWN_PER_KIND};
use crate::diag::{Code, Diagnostic, Severity};
use crate::sites::reader::{Pos, ScanError, TopLevel};
use crate::sites::source::{Anchor, Store};
use crate::sites::{Site, Summary};

impl<V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// Judges the top level after the scan and adds the summary diagnostics; returns every diagnostic.
    pub fn finish(mut self, scanned: Result<TopLevel, Box<(ScanError, TopLevel)>>) -> (Summary, Vec<Diagnostic>) {
        let top = match scanned {
            Ok(top) => Some(top),
            Err(failed) => {
                let (e, top) = *failed;
                self.scan_error(e);
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
        self.close()
    }

    /// Reports why the structure scan stopped: unreadable, not JSON, or truncated.
    pub fn scan_error(&mut self, e: ScanError) {
        match e {
            ScanError::Io(e) => {
                let d = Diagnostic::error(Code::SitesRead, format!("cannot read site file `{}`: {e}", self.name))
                    .in_file(self.name.clone());
                self.top(Code::SitesRead, d);
            }
            ScanError::Syntax { pos, expected, found } => {
                let found = match found {
                    Some(b) if b.is_ascii_graphic() => format!("`{}`", b as char),
                    Some(b) => format!("byte 0x{b:02x}"),
                    None => "the end".into(),
                };
                self.top_at(
                    Code::SitesJson,
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
                let mut d = Diagnostic::error(Code::SitesTruncated, "the site file ends too early")
                    .at(&source, a.label_span(), Some("the file ends here".to_string()))
                    .with_help("the file looks truncated (an interrupted download or copy?); export it again");
                if let Some(o) = &opened {
                    d = d.also(o.label_span(), "this is never closed");
                }
                self.top(Code::SitesTruncated, d);
            }
        }
    }

    /// Adds the repeated and look-alike ids, the warnings about missing properties and the "… and N more"
    /// counts; returns every diagnostic.
    pub fn close(mut self) -> (Summary, Vec<Diagnostic>) {
        self.report_ids();
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
        if let Some((raw, pos, true)) = &top.crs {
            // Read before the features only; a `crs` after them came too late to convert them.
            let wgs84 = super::super::geojson_crs(raw).is_ok_and(|c| c.is_wgs84());
            if !wgs84 {
                self.top_at(
                    Code::SitesCrs,
                    "the `crs` member comes after `features`, too late for geepipe to convert them".into(),
                    *pos,
                    raw.len().min(80) as u64,
                    "after the features",
                    "move `crs` before `features` (where GDAL writes it), or set `sites.crs`; better, reproject the \
                     file to WGS 84 longitude/latitude (RFC 7946 GeoJSON has no `crs`)",
                );
            }
        }
        for (key, first, again) in &top.duplicates {
            let a = Anchor { span: again.offset..again.offset + key.len() as u64 + 2, start: *again };
            let b = Anchor { span: first.offset..first.offset + key.len() as u64 + 2, start: *first };
            let source = self.snippet(&[&a, &b]);
            let (what, help) = if key == "features" {
                (
                    "the site file has a second `features` array".to_string(),
                    "geepipe reads only the first `features` array; merge the two lists into one",
                )
            } else {
                (
                    format!("the site file has the top-level key `{key}` twice"),
                    "keep one of them: JSON readers disagree on which one wins",
                )
            };
            let d = Diagnostic::error(Code::SitesDuplicateKey, what)
                .at(&source, a.label_span(), Some("given again here".to_string()))
                .also(b.label_span(), "first given here")
                .with_help(help);
            self.top(Code::SitesDuplicateKey, d);
        }
        for (key, pos, e) in &top.bad_values {
            self.top_at(
                Code::SitesJson,
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
                let d = Diagnostic::error(Code::SitesEmpty, format!("the site file `{}` is empty", self.name))
                    .in_file(self.name.clone())
                    .with_help("it should be a GeoJSON FeatureCollection of Polygon/MultiPolygon features");
                self.top(Code::SitesEmpty, d);
                return;
            }
            Some(b'{') => {}
            Some(b) => {
                let what = json_kind_of_raw(&[b]);
                self.top_at(
                    Code::SitesNotCollection,
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
                        Code::SitesEmpty,
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
                    let d = self.at_span(
                        Diagnostic::warning(
                            Code::SitesCollectionType,
                            format!("the file has `features` but type `{t}`"),
                        ),
                        &a,
                        "expected \"FeatureCollection\"",
                    );
                    self.top(Code::SitesCollectionType, d);
                }
            }
            Some((pos, b)) => {
                let what = json_kind_of_raw(&[b]);
                self.top_at(
                    Code::SitesNotCollection,
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
                    self.top_at(Code::SitesNotCollection, msg, pos, len, "expected \"FeatureCollection\"", help);
                }
                None => self.top_at(
                    Code::SitesNotCollection,
                    "the site file has no `features` array".into(),
                    top.start,
                    1,
                    "this object",
                    r#"write {"type": "FeatureCollection", "features": [ … ]}"#,
                ),
            },
        }
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
