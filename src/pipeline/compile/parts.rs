//! Stage 1: after the schema check, take the rejected values out of a copy of the document and read each
//! section on its own (each layer too), so one unreadable section does not hide the others' problems.

use crate::diag::Code;
use std::collections::{BTreeMap, BTreeSet};

use super::Cx;
use crate::pipeline::load::Document;
use crate::pipeline::raw::*;

/// Checks the document against the schema, takes out what it rejected and reads each section that is left.
/// The context starts with the schema's diagnostics and knows which values were rejected.
pub(super) fn read(doc: &Document) -> (Cx<'_>, Parts) {
    let report = crate::pipeline::schema::check(doc);
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
    let parts = Parts::read_sections(&mut cx, &value, &bad_layers, &report.flagged);
    (cx, parts)
}

/// Removes the value at `pointer` from its parent mapping (a list element is left alone).
fn remove(value: &mut serde_json::Value, pointer: &str) {
    let Some(i) = pointer.rfind('/') else { return };
    let key = crate::pipeline::schema::segments(&pointer[i..]).pop().unwrap_or_default();
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
        let segs = crate::pipeline::schema::segments(&p);
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
pub(super) struct Parts {
    pub(super) name: Option<String>,
    pub(super) project: Option<String>,
    pub(super) engine: Option<EngineName>,
    pub(super) kind: Option<KindName>,
    pub(super) mode: Option<ModeName>,
    pub(super) sites: Option<RawSites>,
    pub(super) years: Option<RawYears>,
    /// Whether the file sets pipeline-wide `years` (even ones that could not be read).
    pub(super) years_present: bool,
    /// Layers with their index in the file; `None` when `layers` is absent or not a list.
    pub(super) layers: Option<Vec<(usize, RawLayer)>>,
    /// Whether every layer could be read (so the raw pipeline is complete).
    pub(super) all_layers: bool,
    pub(super) reduce: Option<RawReduce>,
    pub(super) export: Option<RawExport>,
    /// Whether the file has an `export` section (even one that could not be read).
    pub(super) export_present: bool,
    pub(super) image: Option<RawImage>,
    pub(super) classifier: Option<RawClassifier>,
    pub(super) chunks: Option<RawChunks>,
    pub(super) interactive: Option<RawInteractive>,
    pub(super) output: Option<RawOutput>,
    pub(super) journal: Option<String>,
    pub(super) vars: Option<BTreeMap<String, serde_json::Value>>,
}

impl Parts {
    fn read_sections(
        cx: &mut Cx,
        value: &serde_json::Value,
        bad_layers: &BTreeSet<usize>,
        flagged: &[String],
    ) -> Parts {
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
                let child = format!("{ptr}/{}", crate::pipeline::load::pointer_segment(&k));
                if !flagged.iter().any(|f| f == &child || f.starts_with(&format!("{child}/"))) {
                    cx.error(
                        &child,
                        Code::SchemaShape,
                        format!("`{}` cannot be read: {e}", crate::pipeline::schema::field_name(&child)),
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
                            Code::SchemaShape,
                            format!("`{}` cannot be read: {e}", crate::pipeline::schema::field_name(ptr)),
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
            mode: get!("/mode"),
            sites: get!("/sites"),
            years: get!("/years"),
            years_present: cx.doc.value.get("years").is_some_and(|y| !y.is_null()),
            layers,
            all_layers,
            reduce: get!("/reduce"),
            export: get!("/export"),
            export_present: cx.doc.value.get("export").is_some_and(|e| !e.is_null()),
            image: get!("/image"),
            classifier: get!("/classifier"),
            chunks: get!("/chunks"),
            interactive: get!("/interactive"),
            output: get!("/output"),
            journal: get!("/journal"),
            vars: get!("/vars"),
        }
    }

    /// The raw pipeline, when every required section was read (`export` is optional: interactive mode does
    /// without it; a present but unreadable `export` section makes the raw pipeline incomplete).
    pub(super) fn raw(&self) -> Option<RawPipeline> {
        if !self.all_layers {
            return None;
        }
        Some(RawPipeline {
            name: self.name.clone(),
            project: self.project.clone(),
            engine: self.engine,
            kind: self.kind,
            mode: self.mode,
            sites: self.sites.clone()?,
            years: self.years.clone(),
            layers: self.layers.as_ref()?.iter().map(|(_, l)| l.clone()).collect(),
            reduce: self.reduce.clone(),
            export: match (&self.export, self.export_present) {
                (None, true) => return None,
                (e, _) => e.clone(),
            },
            image: self.image.clone(),
            classifier: self.classifier.clone(),
            chunks: self.chunks.clone(),
            interactive: self.interactive.clone(),
            output: self.output.clone(),
            journal: self.journal.clone(),
            vars: self.vars.clone(),
        })
    }
}
