//! Turning a parsed document into the resolved [`Pipeline`], or into every problem it has.
//!
//! Order: JSON Schema shape checks (see [`super::schema`], which words each violation for the user),
//! reading each section of the file on its own (each layer too) with the rejected values taken out,
//! then semantic checks that need more than the shape (years, destinations, names Earth Engine
//! accepts, catalog references) on everything that could be read. Each problem becomes a located
//! [`Diagnostic`]; none stops the others, and none is reported twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::load::Document;
use super::model::*;
use super::raw::*;
use crate::catalog;
use crate::diag::Diagnostic;

/// Settings from outside the file that change the resolved pipeline.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--project`; beats `GOOGLE_CLOUD_PROJECT`, which beats the file.
    pub project: Option<String>,
    /// Value of `GOOGLE_CLOUD_PROJECT`.
    pub env_project: Option<String>,
    /// `--engine`.
    pub engine: Option<EngineName>,
}

/// Statistics a continuous layer may ask for (besides percentiles `p0`..`p100`).
pub const STATS: &[&str] = &["mean", "median", "min", "max", "stdDev", "count", "sum", "variance"];

/// Compiles a parsed document. Warnings are returned with the pipeline; any error returns all diagnostics.
///
/// Schema violations do not stop the semantic checks: unknown keys and values that do not fit are taken
/// out of a copy of the document, each section that can still be read is read on its own (each layer
/// too), and the semantic checks run on what was read. Semantic findings about a value the schema
/// already rejected are dropped, so every problem is reported once.
pub fn compile(
    doc: &Document,
    path: &Path,
    overrides: &Overrides,
) -> Result<(Pipeline, Vec<Diagnostic>), Vec<Diagnostic>> {
    let report = super::schema::check(doc);
    let mut value = doc.value.clone();
    for p in &report.unknown {
        remove(&mut value, p);
    }
    // A misspelled key (`bukcet` for `bucket`) already says the field is missing: findings that the
    // field is missing would only repeat it.
    let mut suppressed = report.misspelled.clone();
    let mut bad_layers = BTreeSet::new();
    for p in &report.invalid {
        let target = removal_target(&doc.value, p, &mut bad_layers);
        if let Some(t) = target {
            remove(&mut value, &t);
            suppressed.push(t);
        }
        suppressed.push(p.clone());
    }
    let mut cx = Cx { doc, diags: report.diags, suppressed };
    let parts = Parts::read(&mut cx, &value, &bad_layers, &report.flagged);
    let pipeline = cx.resolve(&parts, path, overrides);
    let mut diags = cx.diags;
    sort_by_place(&mut diags);
    match pipeline {
        Some(p) if !diags.iter().any(Diagnostic::is_error) => Ok((p, diags)),
        _ => {
            if !diags.iter().any(Diagnostic::is_error) {
                // Cannot happen (a missing section is always reported), but never return nothing.
                diags.push(Diagnostic::error("pipeline::incomplete", "the pipeline could not be read").at(
                    &doc.source,
                    doc.label_span(""),
                    None,
                ));
            }
            Err(diags)
        }
    }
}

/// Orders diagnostics as they appear in the file (unlocated ones first), errors and warnings mixed.
pub fn sort_by_place(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| d.labels.iter().find(|l| l.primary).map(|l| (l.span.start, l.span.end)));
}

/// Removes the value at `pointer` from its parent mapping (a list element is left alone).
fn remove(value: &mut serde_json::Value, pointer: &str) {
    let Some(i) = pointer.rfind('/') else { return };
    let key = super::schema::segments(&pointer[i..]).pop().unwrap_or_default();
    if let Some(serde_json::Value::Object(map)) = value.pointer_mut(&pointer[..i]) {
        map.shift_remove(&key);
    }
}

/// What to drop for a bad value at `pointer`: the value itself when it sits in a mapping; for a list
/// element, the whole list (a list with a hole would shift the later elements) — except a layer, which
/// is set aside on its own so the other layers are still checked.
fn removal_target(root: &serde_json::Value, pointer: &str, bad_layers: &mut BTreeSet<usize>) -> Option<String> {
    let mut p = pointer.to_string();
    loop {
        if p.is_empty() {
            return None;
        }
        let segs = super::schema::segments(&p);
        if segs.len() == 2 && segs[0] == "layers" {
            if let Ok(i) = segs[1].parse::<usize>() {
                bad_layers.insert(i);
                return None;
            }
        }
        let parent = &p[..p.rfind('/').unwrap_or(0)];
        match root.pointer(parent) {
            Some(serde_json::Value::Array(_)) => p = parent.to_string(),
            _ => return Some(p),
        }
    }
}

/// The sections of a pipeline that could be read. Required sections are `None` when absent or unreadable.
struct Parts {
    name: Option<String>,
    project: Option<String>,
    engine: Option<EngineName>,
    kind: Option<KindName>,
    sites: Option<RawSites>,
    years: Option<RawYears>,
    /// Whether the file sets pipeline-wide `years` (even ones that could not be read).
    years_present: bool,
    /// Layers with their index in the file; `None` when `layers` is absent or not a list.
    layers: Option<Vec<(usize, RawLayer)>>,
    /// Whether every layer could be read (so the raw pipeline is complete).
    all_layers: bool,
    reduce: Option<RawReduce>,
    export: Option<RawExport>,
    image: Option<RawImage>,
    classifier: Option<RawClassifier>,
    chunks: Option<RawChunks>,
    output: Option<RawOutput>,
    journal: Option<String>,
    vars: Option<BTreeMap<String, serde_json::Value>>,
}

impl Parts {
    fn read(cx: &mut Cx, value: &serde_json::Value, bad_layers: &BTreeSet<usize>, flagged: &[String]) -> Parts {
        let section = |ptr: &str| -> Option<serde_json::Value> {
            let v = value.pointer(ptr)?;
            (!v.is_null()).then(|| v.clone())
        };
        fn read_as<T: serde::de::DeserializeOwned>(
            cx: &mut Cx,
            v: Option<serde_json::Value>,
            ptr: &str,
            flagged: &[String],
        ) -> Option<T> {
            let mut v = v?;
            // A value the schema allows but the model cannot hold (a number too large for its field):
            // find the entry that is in the way, report it, and read the rest without it.
            for _ in 0..8 {
                let Err(e) = serde_json::from_value::<T>(v.clone()) else { break };
                let serde_json::Value::Object(map) = &v else { break };
                let culprit = map.keys().find(|k| {
                    let mut without = map.clone();
                    without.shift_remove(*k);
                    serde_json::from_value::<T>(serde_json::Value::Object(without)).is_ok()
                });
                let Some(k) = culprit.cloned() else { break };
                let child = format!("{ptr}/{}", super::load::pointer_segment(&k));
                if !flagged.iter().any(|f| f == &child || f.starts_with(&format!("{child}/"))) {
                    cx.error(
                        &child,
                        "schema::shape",
                        format!("`{}` cannot be read: {e}", super::schema::field_name(&child)),
                        "here",
                        "see `geepipe schema` or docs/pipeline-reference.md for this field",
                    );
                }
                cx.suppressed.push(child);
                if let serde_json::Value::Object(map) = &mut v {
                    map.shift_remove(&k);
                }
            }
            match serde_json::from_value::<T>(v) {
                Ok(t) => Some(t),
                Err(e) => {
                    let reported = flagged.iter().any(|f| f == ptr || f.starts_with(&format!("{ptr}/")));
                    if !reported {
                        cx.error(
                            ptr,
                            "schema::shape",
                            format!("`{}` cannot be read: {e}", super::schema::field_name(ptr)),
                            "here",
                            "see `geepipe schema` or docs/pipeline-reference.md for this field",
                        );
                    }
                    None
                }
            }
        }
        macro_rules! get {
            ($ptr:expr) => {{
                let v = section($ptr);
                read_as(cx, v, $ptr, flagged)
            }};
        }
        let mut all_layers = true;
        let layers = match value.get("layers") {
            Some(serde_json::Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    if bad_layers.contains(&i) {
                        all_layers = false;
                        continue;
                    }
                    let ptr = format!("/layers/{i}");
                    match read_as::<RawLayer>(cx, Some(item.clone()), &ptr, flagged) {
                        Some(l) => out.push((i, l)),
                        None => all_layers = false,
                    }
                }
                Some(out)
            }
            _ => None,
        };
        Parts {
            name: get!("/name"),
            project: get!("/project"),
            engine: get!("/engine"),
            kind: get!("/kind"),
            sites: get!("/sites"),
            years: get!("/years"),
            years_present: cx.doc.value.get("years").is_some_and(|y| !y.is_null()),
            layers,
            all_layers,
            reduce: get!("/reduce"),
            export: get!("/export"),
            image: get!("/image"),
            classifier: get!("/classifier"),
            chunks: get!("/chunks"),
            output: get!("/output"),
            journal: get!("/journal"),
            vars: get!("/vars"),
        }
    }

    /// The raw pipeline, when every required section was read.
    fn raw(&self) -> Option<RawPipeline> {
        if !self.all_layers {
            return None;
        }
        Some(RawPipeline {
            name: self.name.clone(),
            project: self.project.clone(),
            engine: self.engine,
            kind: self.kind,
            sites: self.sites.clone()?,
            years: self.years.clone(),
            layers: self.layers.as_ref()?.iter().map(|(_, l)| l.clone()).collect(),
            reduce: self.reduce.clone(),
            export: self.export.clone()?,
            image: self.image.clone(),
            classifier: self.classifier.clone(),
            chunks: self.chunks.clone(),
            output: self.output.clone(),
            journal: self.journal.clone(),
            vars: self.vars.clone(),
        })
    }
}

struct Cx<'a> {
    doc: &'a Document,
    diags: Vec<Diagnostic>,
    /// Pointers of values the schema rejected: findings at them, under them or at their parent mapping
    /// would only repeat the schema error.
    suppressed: Vec<String>,
}

fn is_ee_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_layer_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.contains("__")
}

/// Characters Earth Engine accepts in a file name prefix: letters, digits, `_ - . /`.
fn is_file_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !s.starts_with('/')
        && !s.split('/').any(|seg| seg == "..")
}

impl Cx<'_> {
    /// Whether a finding at `ptr` with message `msg` would only repeat a schema error: it is about a
    /// rejected value (or something inside it), or it is a mapping-level finding that names a rejected
    /// field of that mapping ("`to: gcs` needs `bucket`" after `bucket: 5` was rejected).
    fn is_suppressed(&self, ptr: &str, msg: &str) -> bool {
        self.suppressed.iter().any(|s| {
            if s == ptr || ptr.starts_with(&format!("{s}/")) {
                return true;
            }
            let Some(child) = s.strip_prefix(&format!("{ptr}/")) else { return false };
            !child.contains('/')
                && msg
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|w| w == super::schema::segments(&format!("/{child}"))[0])
        })
    }

    fn error(&mut self, ptr: &str, code: &str, msg: impl Into<String>, label: &str, help: &str) {
        let msg = msg.into();
        if self.is_suppressed(ptr, &msg) {
            return;
        }
        let mut d =
            Diagnostic::error(code, msg).at(&self.doc.source, self.doc.label_span(ptr), Some(label.to_string()));
        if !help.is_empty() {
            d = d.with_help(help);
        }
        self.diags.push(d);
    }

    fn warn(&mut self, ptr: &str, code: &str, msg: impl Into<String>, label: &str) {
        let msg = msg.into();
        if self.is_suppressed(ptr, &msg) {
            return;
        }
        let d = Diagnostic::warning(code, msg).at(&self.doc.source, self.doc.label_span(ptr), Some(label.to_string()));
        self.diags.push(d);
    }

    fn resolve(&mut self, raw: &Parts, path: &Path, ov: &Overrides) -> Option<Pipeline> {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        let name = match &raw.name {
            Some(n) => {
                if !is_ee_name(n) {
                    self.error(
                        "/name",
                        "pipeline::name",
                        format!("pipeline name `{n}` has characters Earth Engine does not accept in task names"),
                        "not allowed",
                        "use letters, digits, `_` and `-` only",
                    );
                }
                n.clone()
            }
            None => {
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("pipeline");
                let cleaned: String =
                    stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
                cleaned
            }
        };
        let project = ov.project.clone().or_else(|| ov.env_project.clone()).or_else(|| raw.project.clone());
        if let Some(p) = &project {
            if p.starts_with("projects/") {
                self.error(
                    "/project",
                    "pipeline::project",
                    format!("project `{p}` should be the bare project id"),
                    "not a bare project id",
                    &format!("write `{}`", p.trim_start_matches("projects/")),
                );
            }
        }
        let engine = match ov.engine.or(raw.engine) {
            Some(EngineName::Local) => Engine::Local,
            _ => Engine::EarthEngine,
        };
        let kind = raw.kind.unwrap_or(KindName::Zonal);
        let sites = raw.sites.as_ref().map(|s| self.sites(s, &base, engine));
        let pipeline_years = raw.years.as_ref().map(|y| self.years(y, "/years")).unwrap_or_default();
        let vars = raw.vars.clone().unwrap_or_default();
        let mut layers = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        if raw.layers.as_ref().is_some_and(|l| l.is_empty()) {
            self.error(
                "/layers",
                "pipeline::no-layers",
                "the pipeline has no layers",
                "empty",
                "add at least one layer, e.g. `- catalog: mapbiomas_lulc`",
            );
        }
        for (i, l) in raw.layers.iter().flatten() {
            let (i, ptr) = (*i, format!("/layers/{i}"));
            if let Some(layer) = self.layer(l, &ptr, &pipeline_years, raw.years_present, &vars, &base, engine) {
                if let Some(first) = seen.insert(layer.name.clone(), i) {
                    let d = Diagnostic::error(
                        "pipeline::duplicate-layer",
                        format!("two layers are named `{}`", layer.name),
                    )
                    .at(&self.doc.source, self.doc.label_span(&ptr), Some("second".to_string()))
                    .also(self.doc.label_span(&format!("/layers/{first}")), "first")
                    .with_help("give one of them another `name`");
                    self.diags.push(d);
                }
                for k in sites.iter().flat_map(|s| &s.keep) {
                    if sites.as_ref().is_some_and(|s| k == &s.id_property) {
                        continue;
                    }
                    if k.starts_with(&format!("{}__", layer.name)) {
                        self.error(
                            "/sites/keep",
                            "pipeline::column-clash",
                            format!("kept property `{k}` clashes with layer `{}`'s columns", layer.name),
                            "clashes",
                            "rename the layer",
                        );
                    }
                }
                layers.push(layer);
            }
        }
        let reduce = self.reduce(raw.reduce.as_ref().cloned().unwrap_or_default());
        let export = raw.export.as_ref().map(|e| self.export(e, &name, &base, engine, kind));
        let image = self.image(raw.image.as_ref(), kind, raw.export.as_ref(), &reduce);
        let classifier = self.classifier(raw, kind, &layers, sites.as_ref(), &reduce);
        let chunks = self.chunks(raw.chunks.as_ref().cloned().unwrap_or_default());
        let output = self.output(raw.output.as_ref().cloned().unwrap_or_default(), &name, &base);
        let journal_dir = match &raw.journal {
            Some(j) => base.join(j),
            None => output.path.parent().map(|p| p.join(".geepipe")).unwrap_or_else(|| base.join(".geepipe")),
        };
        let (sites, export, full) = (sites?, export?, raw.raw()?);
        let content_hash = content_hash(&full, &sites);
        Some(Pipeline {
            name,
            source: path.to_path_buf(),
            content_hash,
            project,
            engine,
            kind,
            sites,
            layers,
            reduce,
            export,
            image,
            classifier,
            chunks,
            output,
            journal_dir,
            vars,
        })
    }

    fn sites(&mut self, raw: &RawSites, base: &Path, engine: Engine) -> SiteSource {
        let location = match (&raw.file, &raw.asset) {
            (Some(f), None) => {
                // Reported here, with the pipeline's other problems; the site file's own checks need the file.
                let path = base.join(f);
                if !path.exists() {
                    let help = crate::sites::missing_file_help(base, &path);
                    self.error(
                        "/sites/file",
                        "sites::missing-file",
                        format!("site file `{f}` does not exist"),
                        "no file here",
                        &help,
                    );
                }
                SiteLocation::File(path)
            }
            (None, Some(a)) => {
                if engine == Engine::Local {
                    self.error(
                        "/sites/asset",
                        "sites::asset-local",
                        "the local engine cannot read sites from an Earth Engine asset",
                        "asset",
                        "export the table to GeoJSON and use `file`",
                    );
                }
                if !a.starts_with("projects/") && !a.starts_with("users/") {
                    self.error(
                        "/sites/asset",
                        "sites::asset-id",
                        format!("`{a}` is not an Earth Engine asset id"),
                        "not an asset id",
                        "write the full id, e.g. `projects/my-project/assets/sites`",
                    );
                }
                SiteLocation::Asset(a.clone())
            }
            (Some(_), Some(_)) => {
                self.error(
                    "/sites/asset",
                    "sites::file-and-asset",
                    "`sites` names both a `file` and an `asset`",
                    "choose one",
                    "remove either `file` or `asset`",
                );
                SiteLocation::File(PathBuf::new())
            }
            (None, None) => {
                self.error(
                    "/sites",
                    "sites::no-source",
                    "`sites` names neither a `file` nor an `asset`",
                    "here",
                    "add `file: sites.geojson` (GeoJSON) or `asset: projects/…/assets/…`",
                );
                SiteLocation::File(PathBuf::new())
            }
        };
        let mut seen = BTreeSet::new();
        for (i, k) in raw.keep.iter().enumerate() {
            if !seen.insert(k) {
                self.error(
                    &format!("/sites/keep/{i}"),
                    "sites::keep-twice",
                    format!("property `{k}` is kept twice"),
                    "again",
                    "remove the repeat",
                );
            }
        }
        SiteSource {
            location,
            id_property: raw.id.clone(),
            keep: raw.keep.clone(),
            first_year_property: raw.first_year.clone(),
            label_property: raw.label.clone(),
        }
    }

    /// Resolves a years value; reports problems at `ptr`.
    fn years(&mut self, y: &RawYears, ptr: &str) -> Vec<i32> {
        let check = |cx: &mut Cx, v: i64, p: &str| -> Option<i32> {
            if (1900..=2100).contains(&v) {
                Some(v as i32)
            } else {
                cx.error(
                    p,
                    "years::out-of-range",
                    format!("year {v} is outside 1900..2100"),
                    "not a plausible year",
                    "years are written in full, between 1900 and 2100 (e.g. `2015`)",
                );
                None
            }
        };
        let span = |cx: &mut Cx, from: i64, to: i64, p: &str| -> Vec<i32> {
            if from > to {
                cx.error(
                    p,
                    "years::empty-range",
                    format!("year range {from}..{to} is empty: it ends before it starts"),
                    "empty range",
                    &format!("did you mean {to}..{from}?"),
                );
                return Vec::new();
            }
            match (check(cx, from, p), check(cx, to, p)) {
                (Some(a), Some(b)) => (a..=b).collect(),
                _ => Vec::new(),
            }
        };
        match y {
            RawYears::Single(v) => check(self, *v, ptr).into_iter().collect(),
            RawYears::Range(s) => {
                let t = s.trim();
                if let Some((a, b)) = t.split_once("..") {
                    let b = b.trim_start_matches('=');
                    match (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
                        (Ok(a), Ok(b)) => span(self, a, b, ptr),
                        _ => {
                            self.error(
                                ptr,
                                "years::syntax",
                                format!("`{s}` is not a year range"),
                                "not a year range",
                                "write an inclusive range like `2010..2023`",
                            );
                            Vec::new()
                        }
                    }
                } else if let Ok(v) = t.parse::<i64>() {
                    check(self, v, ptr).into_iter().collect()
                } else {
                    self.error(
                        ptr,
                        "years::syntax",
                        format!("`{s}` is not a year or a year range"),
                        "not a year range",
                        "write `2020`, `2010..2023`, `[2015, 2020]` or `{from: 2010, to: 2023}`",
                    );
                    Vec::new()
                }
            }
            RawYears::List(list) => {
                if list.is_empty() {
                    self.error(
                        ptr,
                        "years::empty-list",
                        "the list of years is empty",
                        "empty",
                        "list at least one year",
                    );
                }
                let mut out = BTreeSet::new();
                for (i, v) in list.iter().enumerate() {
                    let p = format!("{ptr}/{i}");
                    if let Some(y) = check(self, *v, &p) {
                        if !out.insert(y) {
                            self.warn(&p, "years::repeated", format!("year {y} is listed twice"), "repeated");
                        }
                    }
                }
                out.into_iter().collect()
            }
            RawYears::FromTo(RawYearSpan { from, to }) => span(self, *from, *to, ptr),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn layer(
        &mut self,
        l: &RawLayer,
        ptr: &str,
        pipeline_years: &[i32],
        has_pipeline_years: bool,
        vars: &BTreeMap<String, serde_json::Value>,
        base: &Path,
        engine: Engine,
    ) -> Option<Layer> {
        // Start from the catalog entry, then let the pipeline's fields override it.
        let merged = match &l.catalog {
            Some(c) => match catalog::get(c) {
                Some(entry) => overlay(entry, l),
                None => {
                    let mut help = String::from("`geepipe catalog` lists the built-in layers");
                    if let Some(s) = crate::suggest::did_you_mean(c, catalog::names()) {
                        help = format!("did you mean `{s}`? ({help})");
                    }
                    self.error(
                        &format!("{ptr}/catalog"),
                        "layers::unknown-catalog",
                        format!("no catalog layer is named `{c}`"),
                        "unknown layer",
                        &help,
                    );
                    return None;
                }
            },
            None => l.clone(),
        };
        let name = merged.name.clone().or_else(|| l.catalog.clone());
        let Some(name) = name else {
            self.error(
                ptr,
                "layers::no-name",
                "a custom layer needs a `name`",
                "this layer",
                "add `name: my_layer` (lowercase letters, digits, `_`)",
            );
            return None;
        };
        if !is_layer_name(&name) {
            self.error(
                &format!("{ptr}/name"),
                "layers::name",
                format!("layer name `{name}` is not allowed"),
                "not a layer name",
                "use lowercase letters, digits and single `_`, starting with a letter",
            );
        }
        let Some(kind) = merged.kind else {
            self.error(
                ptr,
                "layers::no-kind",
                format!("layer `{name}` needs a `kind`"),
                "this layer",
                "add `kind: categorical` or `kind: continuous`",
            );
            return None;
        };
        let years = match &l.years {
            Some(y) => self.years(y, &format!("{ptr}/years")),
            None if has_pipeline_years => pipeline_years.to_vec(),
            None => match &merged.years {
                Some(y) => self.years(y, &format!("{ptr}/years")),
                None => {
                    self.error(
                        ptr,
                        "layers::no-years",
                        format!("layer `{name}` has no years"),
                        "this layer",
                        "add `years: 2010..2023` to the pipeline or to the layer",
                    );
                    Vec::new()
                }
            },
        };
        if let (Some(avail), false) = (&merged.available, years.is_empty()) {
            let mut tmp = Cx { doc: self.doc, diags: Vec::new(), suppressed: Vec::new() };
            let avail = tmp.years(avail, ptr);
            let missing: Vec<i32> = years.iter().copied().filter(|y| !avail.contains(y)).collect();
            if !missing.is_empty() && !avail.is_empty() {
                let at = if l.years.is_some() {
                    format!("{ptr}/years")
                } else if has_pipeline_years {
                    "/years".to_string()
                } else {
                    ptr.to_string()
                };
                self.error(
                    &at,
                    "layers::year-unavailable",
                    format!("layer `{name}` has no data for {}", list_years(&missing)),
                    "not available",
                    &format!("`{name}` covers {}", list_years(&avail)),
                );
            }
        }
        if merged.image.is_none() && engine == Engine::EarthEngine {
            self.error(
                ptr,
                "layers::no-image",
                format!("layer `{name}` has no `image` expression"),
                "this layer",
                "add `image:` with a `call:` expression, or use a catalog layer",
            );
        }
        // The layer's own expression (not a catalog entry's, which the catalog tests check) is type-checked
        // against Earth Engine's algorithm signatures, each problem located in the pipeline file.
        let mut shape_ok = true;
        if let Some(image) = &l.image {
            for problem in crate::expr::check_layer_image(image) {
                shape_ok = false;
                let at = format!("{ptr}/image{}", problem.pointer);
                let help = problem.help.clone().unwrap_or_default();
                self.error(&at, "layers::expression", problem.message, "here", &help);
            }
        }
        let mut layer_vars = vars.clone();
        if let Some(v) = &merged.vars {
            layer_vars.extend(v.clone());
        }
        // Placeholders rendered and types inferred for every year (see `crate::expr::types`); problems in
        // the file's own expression are located there, in a catalog entry's at the layer.
        if let (Some(image), true) = (&merged.image, shape_ok) {
            let checked = crate::expr::types::check_layer(image, &layer_vars, merged.asset.as_deref(), &years);
            for (code, problem) in checked.problems {
                let at = if l.image.is_some() { format!("{ptr}/image{}", problem.pointer) } else { ptr.to_string() };
                let help = problem.help.clone().unwrap_or_default();
                self.error(&at, code, problem.message, "here", &help);
            }
        }
        let bands = match (&merged.bands, kind) {
            (Some(b), LayerKind::Categorical) if b.len() != 1 => {
                self.error(
                    &format!("{ptr}/bands"),
                    "layers::categorical-bands",
                    "a categorical layer has exactly one band",
                    "here",
                    "a categorical layer gives area per class of one band; use `kind: continuous` for several bands",
                );
                b.clone()
            }
            (Some(b), _) => b.clone(),
            (None, _) => vec![name.clone()],
        };
        let mut stats = Vec::new();
        if kind == LayerKind::Continuous {
            let raw_stats = merged.stats.clone().unwrap_or_else(|| vec!["mean".to_string()]);
            for (i, s) in raw_stats.iter().enumerate() {
                match canonical_stat(s) {
                    Some(c) => stats.push(c),
                    None => {
                        let mut help =
                            "use mean, median, min, max, stdDev, variance, count, sum or a percentile p0..p100"
                                .to_string();
                        if let Some(sug) = crate::suggest::did_you_mean(s, STATS.iter().copied()) {
                            help = format!("did you mean `{sug}`? ({help})");
                        }
                        self.error(
                            &format!("{ptr}/stats/{i}"),
                            "layers::stat",
                            format!("unknown statistic `{s}`"),
                            "unknown",
                            &help,
                        );
                    }
                }
            }
        } else if l.stats.is_some() {
            self.error(
                &format!("{ptr}/stats"),
                "layers::stats-categorical",
                "`stats` only applies to continuous layers",
                "here",
                "categorical layers always give area (ha) and pixel count per class",
            );
        }
        let mut legend: Vec<LegendEntry> = merged
            .legend
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|e| LegendEntry { code: e.code, name: e.name, color: e.color })
            .collect();
        legend.sort_by_key(|e| e.code);
        for w in legend.windows(2) {
            if w[0].code == w[1].code {
                self.error(
                    &format!("{ptr}/legend"),
                    "layers::legend-duplicate",
                    format!("legend code {} appears twice", w[0].code),
                    "here",
                    "give each class its own code",
                );
            }
        }
        if let Some(s) = merged.scale {
            if s <= 0.0 || !s.is_finite() {
                self.error(
                    &format!("{ptr}/scale"),
                    "layers::scale",
                    "scale must be a positive number of metres",
                    "here",
                    "write the pixel size in metres, e.g. `30`",
                );
            }
        }
        let local = merged.local.as_ref().map(|p| {
            let pb = Path::new(p);
            if pb.is_absolute() {
                p.clone()
            } else {
                base.join(pb).to_string_lossy().into_owned()
            }
        });
        if engine == Engine::Local && local.is_none() {
            self.error(
                ptr,
                "layers::no-local",
                format!("layer `{name}` has no `local` raster path for the local engine"),
                "this layer",
                "add `local: data/{{year}}.tif` (a path template)",
            );
        }
        Some(Layer {
            name,
            title: merged.title.clone(),
            catalog: l.catalog.clone(),
            kind,
            years,
            image: merged.image.clone(),
            asset: merged.asset.clone(),
            bands,
            stats,
            legend,
            scale: merged.scale,
            units: merged.units.clone(),
            local,
            vars: layer_vars,
        })
    }

    /// Resolves the `image` section: present only for `kind: image` (defaults when the section is absent).
    fn image(
        &mut self,
        raw: Option<&RawImage>,
        kind: KindName,
        export: Option<&RawExport>,
        reduce: &Reduce,
    ) -> Option<ImageExport> {
        if kind != KindName::Image {
            if raw.is_some() {
                self.error(
                    "/image",
                    "image::kind",
                    "the `image` section only applies to `kind: image`",
                    "not used",
                    "add `kind: image`, or remove the section",
                );
            }
            return None;
        }
        let r = raw.cloned().unwrap_or_default();
        let to = export.map(|e| e.to);
        if matches!(to, Some(DestinationName::Bigquery)) {
            self.error(
                "/export/to",
                "export::kind",
                "images cannot be exported to BigQuery",
                "not for images",
                "export images to `drive`, `gcs` or `asset`",
            );
        }
        let per = r.per.unwrap_or(ImagePer::Site);
        if let Some(b) = r.buffer {
            if per == ImagePer::Region {
                self.error("/image/buffer", "image::buffer", "`buffer` applies to `per: site` only", "not used", "");
            } else if b < 0.0 || !b.is_finite() {
                self.error("/image/buffer", "image::buffer", "buffer must be zero or more metres", "here", "");
            }
        }
        if let Some(s) = r.scale {
            if s <= 0.0 || !s.is_finite() {
                self.error("/image/scale", "image::scale", "scale must be a positive number of metres", "here", "");
            }
        }
        let crs_transform = match &r.crs_transform {
            Some(t) if t.len() == 6 && t.iter().all(|x| x.is_finite()) => Some([t[0], t[1], t[2], t[3], t[4], t[5]]),
            Some(_) => {
                self.error(
                    "/image/crs_transform",
                    "image::crs-transform",
                    "crs_transform needs six numbers",
                    "here",
                    "write `[xScale, xShear, xTranslation, yShear, yScale, yTranslation]`",
                );
                None
            }
            None => None,
        };
        if crs_transform.is_some() {
            if r.scale.is_some() {
                self.error(
                    "/image/scale",
                    "image::scale-and-transform",
                    "`scale` and `crs_transform` both set the pixel size",
                    "remove one",
                    "keep `crs_transform` for an exact grid, or `scale` alone",
                );
            }
            if r.crs.is_none() {
                self.error(
                    "/image/crs_transform",
                    "image::transform-crs",
                    "`crs_transform` needs `crs`",
                    "here",
                    "add `crs: EPSG:4326` (the transform is in its units)",
                );
            }
        }
        if let Some(crs) = &r.crs {
            if !crs.starts_with("EPSG:") && !crs.starts_with("SR-ORG:") && !crs.starts_with("PROJCS") {
                self.error(
                    "/image/crs",
                    "image::crs",
                    format!("`{crs}` is not a projection Earth Engine knows"),
                    "here",
                    "write an EPSG code such as `EPSG:4326`",
                );
            }
        }
        if r.max_pixels == Some(0) {
            self.error("/image/max_pixels", "image::max-pixels", "max_pixels must be positive", "here", "");
        }
        let file_dimensions = match r.file_dimensions.as_deref() {
            None => None,
            Some([n]) if *n > 0 => Some([*n, *n]),
            Some([w, h]) if *w > 0 && *h > 0 => Some([*w, *h]),
            Some(_) => {
                self.error(
                    "/image/file_dimensions",
                    "image::file-dimensions",
                    "file_dimensions is `[n]` or `[width, height]`, positive",
                    "here",
                    "e.g. `file_dimensions: [4096]`",
                );
                None
            }
        };
        let is_asset = matches!(to, Some(DestinationName::Asset));
        let file_only = [
            ("cloud_optimized", r.cloud_optimized.is_some()),
            ("file_dimensions", r.file_dimensions.is_some()),
            ("skip_empty", r.skip_empty.is_some()),
            ("no_data", r.no_data.is_some()),
        ];
        let asset_only = [("pyramiding", r.pyramiding.is_some()), ("pyramiding_bands", r.pyramiding_bands.is_some())];
        let (wrong, help) = if is_asset {
            (&file_only[..], "file options apply to `to: drive` and `to: gcs`")
        } else {
            (&asset_only[..], "pyramiding applies to image assets (`to: asset`)")
        };
        for (field, present) in wrong {
            if *present {
                self.error(
                    &format!("/image/{field}"),
                    "image::destination",
                    format!(
                        "`{field}` does not apply to `to: {}`",
                        format!("{:?}", to.unwrap_or(DestinationName::Drive)).to_lowercase()
                    ),
                    "not used here",
                    help,
                );
            }
        }
        let geotiff = export.and_then(|e| e.format).unwrap_or(FileFormatName::Geotiff) == FileFormatName::Geotiff;
        if !geotiff && !is_asset {
            for (field, present) in &file_only[..] {
                if *present {
                    self.error(
                        &format!("/image/{field}"),
                        "image::format",
                        format!("`{field}` applies to GeoTIFF exports only"),
                        "not used for tfrecord",
                        "use `format: geotiff`, or remove it",
                    );
                }
            }
        }
        Some(ImageExport {
            per,
            buffer: r.buffer.unwrap_or(0.0).max(0.0),
            scale: if crs_transform.is_some() { None } else { r.scale.or(reduce.scale) },
            crs: r.crs.or_else(|| reduce.crs.clone()),
            crs_transform,
            max_pixels: r.max_pixels,
            cloud_optimized: r.cloud_optimized.unwrap_or(true),
            file_dimensions,
            skip_empty: r.skip_empty.unwrap_or(false),
            no_data: r.no_data,
            pyramiding: r.pyramiding,
            pyramiding_bands: r.pyramiding_bands.unwrap_or_default(),
        })
    }

    /// Resolves the `classifier` section: required for `kind: classifier`, refused for other kinds.
    fn classifier(
        &mut self,
        raw: &Parts,
        kind: KindName,
        layers: &[Layer],
        sites: Option<&SiteSource>,
        reduce: &Reduce,
    ) -> Option<ClassifierSpec> {
        let section = raw.classifier.as_ref();
        if kind != KindName::Classifier {
            if section.is_some() {
                self.error(
                    "/classifier",
                    "classifier::kind",
                    "the `classifier` section only applies to `kind: classifier`",
                    "not used",
                    "add `kind: classifier`, or remove the section",
                );
            }
            return None;
        }
        if let Some(e) = &raw.export {
            if e.to != DestinationName::Asset {
                self.error(
                    "/export/to",
                    "export::kind",
                    "a trained classifier can only be exported to an Earth Engine asset",
                    "not for classifiers",
                    "use `to: asset` with `asset: projects/<project>/assets/<folder>`",
                );
            }
        }
        let label = sites.and_then(|s| s.label_property.clone());
        if sites.is_some() && label.is_none() {
            self.error(
                "/sites",
                "classifier::label",
                "`kind: classifier` needs `sites.label`, the property holding each site's class",
                "needs `label`",
                "add `label: class` (an integer class property of every site)",
            );
        }
        let Some(c) = section else {
            self.error(
                "",
                "classifier::missing",
                "`kind: classifier` needs a `classifier` section",
                "here",
                "add `classifier: {algorithm: smileRandomForest, parameters: {numberOfTrees: 100}}`",
            );
            return None;
        };
        let short = c.algorithm.trim_start_matches("Classifier.");
        let algorithm = format!("Classifier.{short}");
        let constructors: Vec<&str> = crate::expr::check::algorithm_names()
            .filter(|n| n.starts_with("Classifier."))
            .filter(|n| crate::expr::check::signature(n).is_some_and(|s| s.returns == "Classifier"))
            .collect();
        let mut ok = true;
        let sig = crate::expr::check::signature(&algorithm).filter(|s| s.returns == "Classifier");
        if sig.is_none()
            || ["Classifier.load", "Classifier.train", "Classifier.setOutputMode"].contains(&algorithm.as_str())
        {
            ok = false;
            let names: Vec<&str> = constructors.iter().map(|n| n.trim_start_matches("Classifier.")).collect();
            let help = match crate::suggest::did_you_mean(short, names.iter().copied()) {
                Some(m) => format!("did you mean `{m}`?"),
                None => "e.g. `smileRandomForest`, `smileCart`, `smileGradientTreeBoost`, `libsvm`".to_string(),
            };
            self.error(
                "/classifier/algorithm",
                "classifier::algorithm",
                format!("`{}` is not an Earth Engine classifier", c.algorithm),
                "unknown classifier",
                &help,
            );
        }
        let parameters = c.parameters.clone().unwrap_or_default();
        if let (Some(sig), true) = (sig, ok) {
            for (name, value) in &parameters {
                if let Some(ty) = sig.argument_type(name) {
                    if let Some((message, help)) = crate::expr::types::check_value(ty, value) {
                        self.error(
                            &format!("/classifier/parameters/{}", super::load::pointer_segment(name)),
                            "classifier::parameter-type",
                            format!("`{short}` parameter `{name}`: {message}"),
                            "wrong type",
                            &help,
                        );
                    }
                }
                if !sig.arguments.iter().any(|(a, _)| a == name) {
                    let args: Vec<&str> = sig.arguments.iter().map(|(a, _)| *a).collect();
                    let help = match crate::suggest::did_you_mean(name, args.iter().copied()) {
                        Some(m) => format!("did you mean `{m}`?"),
                        None => format!("`{short}` takes {}", args.join(", ")),
                    };
                    self.error(
                        &format!("/classifier/parameters/{}", super::load::pointer_segment(name)),
                        "classifier::parameter",
                        format!("`{short}` has no parameter `{name}`"),
                        "unknown parameter",
                        &help,
                    );
                }
            }
            for (a, optional) in &sig.arguments {
                if !optional && !parameters.contains_key(*a) {
                    self.error(
                        "/classifier",
                        "classifier::parameter",
                        format!("`{short}` needs the parameter `{a}`"),
                        &format!("needs `{a}`"),
                        &format!("add `parameters: {{{a}: ...}}`"),
                    );
                }
            }
        }
        let features = match &c.features {
            Some(f) => {
                for (i, name) in f.iter().enumerate() {
                    if !layers.iter().any(|l| &l.name == name) {
                        let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
                        let help = match crate::suggest::did_you_mean(name, names.iter().copied()) {
                            Some(m) => format!("did you mean `{m}`?"),
                            None => format!("layers are {}", names.join(", ")),
                        };
                        self.error(
                            &format!("/classifier/features/{i}"),
                            "classifier::features",
                            format!("no layer named `{name}`"),
                            "unknown layer",
                            &help,
                        );
                    }
                }
                f.clone()
            }
            None => layers.iter().map(|l| l.name.clone()).collect(),
        };
        if let Some(s) = c.scale {
            if s <= 0.0 || !s.is_finite() {
                self.error(
                    "/classifier/scale",
                    "classifier::scale",
                    "scale must be a positive number of metres",
                    "here",
                    "",
                );
            }
        }
        Some(ClassifierSpec {
            algorithm,
            parameters,
            features,
            scale: c.scale.or(reduce.scale),
            label: label.unwrap_or_default(),
        })
    }

    fn reduce(&mut self, r: RawReduce) -> Reduce {
        if let Some(s) = r.scale {
            if s <= 0.0 || !s.is_finite() {
                self.error("/reduce/scale", "reduce::scale", "scale must be a positive number of metres", "here", "");
            }
        }
        if let Some(t) = r.tile_scale {
            if !(0.1..=16.0).contains(&t) {
                self.error(
                    "/reduce/tile_scale",
                    "reduce::tile-scale",
                    "tile_scale must be between 0.1 and 16",
                    "here",
                    "Earth Engine accepts 0.1 to 16; try 2 or 4 for memory errors",
                );
            }
        }
        if let Some(crs) = &r.crs {
            if !crs.starts_with("EPSG:")
                && !crs.starts_with("SR-ORG:")
                && !crs.starts_with("PROJCS")
                && !crs.starts_with("GEOGCS")
            {
                self.error(
                    "/reduce/crs",
                    "reduce::crs",
                    format!("`{crs}` is not a projection Earth Engine knows"),
                    "here",
                    "write an EPSG code such as `EPSG:4326`",
                );
            }
        }
        Reduce {
            scale: r.scale,
            crs: r.crs,
            tile_scale: r.tile_scale.unwrap_or(1.0),
            max_pixels: r.max_pixels,
            best_effort: r.best_effort.unwrap_or(false),
        }
    }

    fn export(&mut self, e: &RawExport, name: &str, base: &Path, engine: Engine, kind: KindName) -> Export {
        let dest_name = format!("{:?}", e.to).to_lowercase();
        let unused = |cx: &mut Cx, field: &str, present: bool, fits: &str| {
            if present {
                cx.error(
                    &format!("/export/{field}"),
                    "export::field",
                    format!("`{field}` does not apply to `to: {dest_name}`"),
                    "not used here",
                    fits,
                );
            }
        };
        let need = |cx: &mut Cx, field: &str, value: &Option<String>, help: &str| -> String {
            match value {
                Some(v) if !v.trim().is_empty() => v.clone(),
                _ => {
                    cx.error(
                        "/export",
                        "export::missing",
                        format!("`to: {dest_name}` needs `{field}`"),
                        &format!("needs `{field}`"),
                        help,
                    );
                    String::new()
                }
            }
        };
        let destination = match e.to {
            DestinationName::Drive => {
                unused(self, "bucket", e.bucket.is_some(), "`bucket` is for `to: gcs`");
                unused(self, "asset", e.asset.is_some(), "`asset` is for `to: asset`");
                unused(self, "table", e.table.is_some(), "`table` is for `to: bigquery`");
                let folder = need(self, "folder", &e.folder, "add `folder: geepipe` (a Drive folder name)");
                if folder.contains('/') {
                    self.error(
                        "/export/folder",
                        "export::drive-folder",
                        "a Drive folder is a single folder name, not a path",
                        "has `/`",
                        "Earth Engine creates the folder at the top of your Drive",
                    );
                }
                Destination::Drive { folder }
            }
            DestinationName::Gcs => {
                unused(self, "folder", e.folder.is_some(), "for Cloud Storage use `bucket` and `prefix`");
                unused(self, "asset", e.asset.is_some(), "`asset` is for `to: asset`");
                unused(self, "table", e.table.is_some(), "`table` is for `to: bigquery`");
                let bucket = need(self, "bucket", &e.bucket, "add `bucket: my-bucket`");
                if !bucket.is_empty() && !valid_bucket(&bucket) {
                    let help = if bucket.starts_with("gs://") {
                        format!("write `{}` without `gs://`", bucket.trim_start_matches("gs://"))
                    } else {
                        "bucket names are 3-63 lowercase letters, digits, `-`, `_` and `.`".to_string()
                    };
                    self.error(
                        "/export/bucket",
                        "export::bucket",
                        format!("`{bucket}` is not a valid bucket name"),
                        "not a bucket name",
                        &help,
                    );
                }
                Destination::Gcs { bucket }
            }
            DestinationName::Asset => {
                unused(self, "folder", e.folder.is_some(), "`folder` is for `to: drive`");
                unused(self, "bucket", e.bucket.is_some(), "`bucket` is for `to: gcs`");
                unused(self, "table", e.table.is_some(), "`table` is for `to: bigquery`");
                unused(self, "format", e.format.is_some(), "assets have no file format");
                let folder = need(self, "asset", &e.asset, "add `asset: projects/my-project/assets/folder`");
                if !folder.is_empty() && !folder.starts_with("projects/") {
                    self.error(
                        "/export/asset",
                        "export::asset",
                        format!("`{folder}` is not an asset folder id"),
                        "not an asset folder",
                        "write `projects/<project>/assets/<folder>`",
                    );
                }
                Destination::Asset { folder }
            }
            DestinationName::Bigquery => {
                unused(self, "folder", e.folder.is_some(), "`folder` is for `to: drive`");
                unused(self, "bucket", e.bucket.is_some(), "`bucket` is for `to: gcs`");
                unused(self, "asset", e.asset.is_some(), "`asset` is for `to: asset`");
                unused(self, "format", e.format.is_some(), "BigQuery tables have no file format");
                let table = need(self, "table", &e.table, "add `table: project.dataset.table`");
                if !table.is_empty() && table.split('.').count() != 3 {
                    self.error(
                        "/export/table",
                        "export::table",
                        format!("`{table}` is not `project.dataset.table`"),
                        "not project.dataset.table",
                        "name the project, dataset and table, separated by dots",
                    );
                }
                Destination::Bigquery { table }
            }
            DestinationName::Local => {
                unused(self, "bucket", e.bucket.is_some(), "`bucket` is for `to: gcs`");
                unused(self, "asset", e.asset.is_some(), "`asset` is for `to: asset`");
                unused(self, "table", e.table.is_some(), "`table` is for `to: bigquery`");
                if engine != Engine::Local {
                    self.error(
                        "/export/to",
                        "export::local",
                        "`to: local` needs `engine: local`",
                        "here",
                        "add `engine: local`, or export to drive, gcs, asset or bigquery",
                    );
                }
                Destination::Local { folder: base.join(e.folder.clone().unwrap_or_else(|| "results".into())) }
            }
        };
        if engine == Engine::Local && e.to != DestinationName::Local {
            self.error(
                "/export/to",
                "export::engine",
                "the local engine writes files on this machine",
                "here",
                "use `to: local`",
            );
        }
        let default_format = if kind == KindName::Image { FileFormatName::Geotiff } else { FileFormatName::Csv };
        let format = e.format.unwrap_or(default_format);
        let table_formats = [
            FileFormatName::Csv,
            FileFormatName::Geojson,
            FileFormatName::Shp,
            FileFormatName::Kml,
            FileFormatName::Kmz,
            FileFormatName::Tfrecord,
        ];
        let image_formats = [FileFormatName::Geotiff, FileFormatName::Tfrecord];
        if kind == KindName::Image && !image_formats.contains(&format) {
            self.error(
                "/export/format",
                "export::format",
                format!("images cannot be exported as {format:?}"),
                "here",
                "use `geotiff` or `tfrecord`",
            );
        } else if kind != KindName::Image && !table_formats.contains(&format) {
            self.error(
                "/export/format",
                "export::format",
                format!("tables cannot be exported as {format:?}"),
                "here",
                "use csv, geojson, shp, kml, kmz or tfrecord",
            );
        }
        let description_prefix = e.description.clone().unwrap_or_else(|| name.to_string());
        if !is_ee_name(&description_prefix) || description_prefix.len() > 80 {
            self.error("/export/description", "export::description", format!("description prefix `{description_prefix}` has characters Earth Engine does not accept in task names"), "not allowed in task names", "use at most 80 letters, digits, `_` and `-`");
        }
        let file_prefix = e.prefix.clone().unwrap_or_else(|| format!("geepipe/{name}/"));
        if !is_file_prefix(&file_prefix) {
            self.error(
                "/export/prefix",
                "export::prefix",
                format!("file prefix `{file_prefix}` has characters Earth Engine does not accept in file names"),
                "not allowed in file names",
                "use letters, digits, `_`, `-`, `.` and `/` (not leading, no `..`)",
            );
        }
        if e.to == DestinationName::Drive && file_prefix.contains('/') && e.prefix.is_some() {
            self.error(
                "/export/prefix",
                "export::drive-prefix",
                "Drive file names cannot contain `/`",
                "here",
                "put folders in `folder`, not in `prefix`",
            );
        }
        if let Some(p) = e.priority {
            if p > 9999 {
                self.error(
                    "/export/priority",
                    "export::priority",
                    "priority must be between 0 and 9999",
                    "too high",
                    "Earth Engine task priorities run from 0 to 9999 (default 100)",
                );
            }
        }
        if let Some(t) = &e.workload_tag {
            let ok = !t.is_empty()
                && t.len() <= 63
                && t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
                && t.starts_with(|c: char| c.is_ascii_lowercase());
            if !ok {
                self.error(
                    "/export/workload_tag",
                    "export::workload-tag",
                    format!("workload tag `{t}` is not allowed"),
                    "not a valid tag",
                    "use 1-63 lowercase letters, digits, `_` and `-`, starting with a letter",
                );
            }
        }
        Export {
            destination,
            format,
            description_prefix,
            file_prefix: if e.to == DestinationName::Drive && e.prefix.is_none() {
                name.to_string()
            } else {
                file_prefix
            },
            priority: e.priority,
            workload_tag: e.workload_tag.clone(),
            overwrite: e.overwrite.unwrap_or(false),
        }
    }

    fn chunks(&mut self, c: RawChunks) -> Chunks {
        let sites_per_task = c.sites_per_task.map(|v| v as usize).unwrap_or(Chunks::DEFAULT_SITES_PER_TASK);
        if sites_per_task == 0 {
            self.error(
                "/chunks/sites_per_task",
                "chunks::zero",
                "sites_per_task must be at least 1",
                "zero",
                "each export task holds this many sites; the default is 50",
            );
        }
        let max_concurrent = c.max_concurrent.map(|v| v as usize).unwrap_or(Chunks::DEFAULT_MAX_CONCURRENT);
        if max_concurrent == 0 || max_concurrent > 3000 {
            self.error(
                "/chunks/max_concurrent",
                "chunks::concurrency",
                "max_concurrent must be between 1 and 3000",
                "here",
                "Earth Engine queues at most 3,000 tasks per project",
            );
        }
        let max_request_bytes = c.max_request_bytes.map(|v| v as usize).unwrap_or(Chunks::DEFAULT_MAX_REQUEST_BYTES);
        if max_request_bytes > Chunks::EE_MAX_REQUEST_BYTES {
            self.error(
                "/chunks/max_request_bytes",
                "chunks::request-size",
                "max_request_bytes is above Earth Engine's 10 MB request limit",
                "too large",
                "use at most 10485760; 4000000 (the default) leaves room",
            );
        } else if max_request_bytes < 10_000 {
            self.error(
                "/chunks/max_request_bytes",
                "chunks::request-size",
                "max_request_bytes is too small to hold a request",
                "too small",
                "use at least 10000",
            );
        }
        Chunks { sites_per_task: sites_per_task.max(1), max_concurrent: max_concurrent.max(1), max_request_bytes }
    }

    fn output(&mut self, o: RawOutput, name: &str, base: &Path) -> Output {
        let format = o.format.unwrap_or(OutputFormatName::Csv);
        let default_ext = if format == OutputFormatName::Geojson { "geojson" } else { "csv" };
        let path = base.join(o.path.clone().unwrap_or_else(|| format!("results/{name}.{default_ext}")));
        if format == OutputFormatName::Geojson && o.layout == Some(LayoutName::Long) {
            self.warn(
                "/output/layout",
                "output::geojson-long",
                "a long GeoJSON repeats each site geometry once per row",
                "long",
            );
        }
        Output { path, format, layout: o.layout.unwrap_or(LayoutName::Long) }
    }
}

fn valid_bucket(b: &str) -> bool {
    (3..=222).contains(&b.len())
        && b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Canonical spelling of a statistic name, or `None` if unknown.
pub fn canonical_stat(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let known = match lower.as_str() {
        "mean" | "avg" => Some("mean"),
        "median" => Some("median"),
        "min" => Some("min"),
        "max" => Some("max"),
        "stddev" | "std" | "sd" => Some("stdDev"),
        "variance" | "var" => Some("variance"),
        "count" => Some("count"),
        "sum" => Some("sum"),
        _ => None,
    };
    if let Some(k) = known {
        return Some(k.to_string());
    }
    let p = lower.strip_prefix('p')?;
    let n: u32 = p.parse().ok()?;
    (n <= 100).then(|| format!("p{n}"))
}

fn list_years(years: &[i32]) -> String {
    if years.is_empty() {
        return "no years".into();
    }
    let contiguous = years.windows(2).all(|w| w[1] == w[0] + 1);
    if contiguous && years.len() > 2 {
        format!("{}..{}", years[0], years[years.len() - 1])
    } else {
        years.iter().map(|y| y.to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// Applies a pipeline's layer fields over a catalog entry.
fn overlay(mut entry: RawLayer, l: &RawLayer) -> RawLayer {
    macro_rules! take {
        ($($f:ident),*) => { $( if l.$f.is_some() { entry.$f = l.$f.clone(); } )* };
    }
    take!(name, title, years, kind, image, asset, bands, stats, legend, scale, units, available, local, vars);
    entry.catalog = l.catalog.clone();
    entry
}

/// SHA-256 over the canonical JSON of the raw model plus the site file's bytes (when it is a file).
fn content_hash(raw: &RawPipeline, sites: &SiteSource) -> String {
    let mut h = Sha256::new();
    h.update(b"geepipe-pipeline-v1\0");
    h.update(serde_json::to_vec(raw).unwrap_or_default());
    h.update(b"\0catalog:");
    h.update(crate::catalog::VERSION.as_bytes());
    if let SiteLocation::File(p) = &sites.location {
        // Only a regular file: a path like `/dev/zero` or a FIFO would never end.
        if let Ok(mut f) = std::fs::File::open(p).and_then(|f| match f.metadata()?.is_file() {
            true => Ok(f),
            false => Err(std::io::Error::other("not a regular file")),
        }) {
            let _ = std::io::copy(&mut f, &mut h);
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::load::{parse_lenient, Format};

    fn run(text: &str, format: Format) -> Result<(Pipeline, Vec<Diagnostic>), Vec<Diagnostic>> {
        let name = if format == Format::Toml { "p.toml" } else { "p.yaml" };
        let (doc, diags) = parse_lenient(name, text, format);
        assert!(diags.is_empty(), "{diags:?}");
        // The site file the tests name exists (compile checks that much; its content is the sites module's).
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("s.geojson"), "{}").expect("site file");
        compile(&doc.expect("document"), &dir.path().join(name), &Overrides::default())
    }

    fn codes(r: Result<(Pipeline, Vec<Diagnostic>), Vec<Diagnostic>>) -> Vec<(String, usize, usize)> {
        let diags = match r {
            Ok((_, w)) => w,
            Err(d) => d,
        };
        diags
            .iter()
            .map(|d| {
                let loc = d.location.clone().expect("located");
                (d.code.clone(), loc.line, loc.column)
            })
            .collect()
    }

    const SITES: &str = "sites: {file: s.geojson, id: id}\n";

    #[test]
    fn valid_pipeline_compiles_with_defaults() {
        let text = format!(
            "{SITES}years: 2010..2012\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: drive, folder: g}}\n"
        );
        let (p, warnings) = run(&text, Format::Yaml).expect("valid");
        assert!(warnings.is_empty());
        assert_eq!(p.layers[0].name, "mapbiomas_lulc");
        assert_eq!(p.chunks.sites_per_task, Chunks::DEFAULT_SITES_PER_TASK);
        assert_eq!(p.name, "p");
    }

    #[test]
    fn schema_and_semantic_errors_come_together_in_file_order() {
        let text = format!("{SITES}years: 2012..2010\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: drive, folder: g, foldr: x}}\n");
        assert_eq!(
            codes(run(&text, Format::Yaml)),
            [("years::empty-range".to_string(), 2, 8), ("schema::unknown-field".to_string(), 4, 32)]
        );
    }

    #[test]
    fn a_rejected_value_is_reported_once() {
        // `bucket: 5` is a type error; "`to: gcs` needs `bucket`" would only repeat it.
        let text =
            format!("{SITES}years: 2010\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: gcs, bucket: 5}}\n");
        assert_eq!(codes(run(&text, Format::Yaml)), [("schema::type".to_string(), 4, 27)]);
    }

    #[test]
    fn one_unreadable_layer_does_not_hide_the_others() {
        let text = format!(
            "{SITES}years: 2010\nlayers:\n  - oops\n  - catalog: mapbiomas_lulcc\nexport: {{to: drive, folder: g}}\n"
        );
        assert_eq!(
            codes(run(&text, Format::Yaml)),
            [("schema::type".to_string(), 4, 5), ("layers::unknown-catalog".to_string(), 5, 14)]
        );
    }

    #[test]
    fn missing_section_still_checks_the_others() {
        let text =
            "years: 2010\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: drive, folder: g, priority: 10000}\n";
        assert_eq!(
            codes(run(text, Format::Yaml)),
            [("schema::missing-field".to_string(), 1, 1), ("export::priority".to_string(), 3, 42)]
        );
    }

    #[test]
    fn toml_positions_are_lines_and_columns_of_the_toml_file() {
        let text = "years = 2010\n\n[sites]\nfile = \"s.geojson\"\nid = \"id\"\n\n[[layers]]\ncatalog = \"mapbiomas_lulc\"\n\n[[layers]]\ncatalog = \"mapbiomas_lulc\"\nname = \"Bad Name\"\n\n[export]\nto = \"gcs\"\nbucket = \"gs://b\"\n";
        assert_eq!(
            codes(run(text, Format::Toml)),
            [("layers::name".to_string(), 12, 8), ("export::bucket".to_string(), 16, 10)]
        );
    }

    #[test]
    fn overflowing_number_is_reported_and_the_rest_read() {
        let text = format!(
            "{SITES}years: 2010\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: drive, folder: g, priority: 99999999999, workload_tag: Bad}}\n"
        );
        assert_eq!(
            codes(run(&text, Format::Yaml)),
            [("schema::shape".to_string(), 4, 42), ("export::workload-tag".to_string(), 4, 69)]
        );
    }

    proptest::proptest! {
        /// Small random edits of real pipelines (the fuzz target does this at scale): parse, compile and
        /// render never panic, and every diagnostic has a place in the file.
        #[test]
        fn edited_pipelines_never_panic(
            which in 0usize..3,
            pos in 0usize..2000,
            insert in "[ -~\n\t]{0,6}",
            delete in 0usize..6,
        ) {
            let (text, format) = [
                (include_str!("../../pipelines/ndvi_lulc.yaml"), Format::Yaml),
                (include_str!("../../pipelines/lulc_drive.toml"), Format::Toml),
                (include_str!("../../pipelines/elevation.yaml"), Format::Yaml),
            ][which];
            let mut t = text.to_string();
            let mut at = pos % (t.len() + 1);
            while !t.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + delete).min(t.len());
            while !t.is_char_boundary(end) {
                end += 1;
            }
            t.replace_range(at..end, &insert);
            let (doc, mut diags) = parse_lenient("p", &t, format);
            if let Some(doc) = doc {
                match compile(&doc, Path::new("p"), &Overrides::default()) {
                    Ok((_, more)) | Err(more) => diags.extend(more),
                }
            }
            for d in &diags {
                proptest::prop_assert!(d.location.is_some(), "unlocated: {d:?}");
            }
            let _ = crate::diag::render_all(&diags, crate::diag::RenderOptions::default());
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_site_path_that_is_not_a_regular_file_is_not_read_for_the_hash() {
        // Reading /dev/zero would never end.
        let text = "sites: {file: /dev/zero, id: id}\nyears: 2010\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: drive, folder: g}\n";
        assert!(run(text, Format::Yaml).is_ok());
    }
}
