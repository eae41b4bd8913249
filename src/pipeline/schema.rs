//! The pipeline JSON Schema: generated from the raw types (one source of truth), checked in as
//! `schemas/pipeline.schema.json`, and used to check every file before deserialising it.
//!
//! jsonschema's own messages speak JSON Schema ("is not valid under any of the schemas listed in the
//! 'anyOf' keyword"); [`check`] turns each violation into a plain message about the user's field
//! (`unknown field `bukcet` in `export``, "expected a number, found text"), located at the key or value
//! it is about, with the allowed names or values and a "did you mean" where one is close. It also says
//! which parts of the document cannot be trusted, so that [`super::compile`] can still check the rest.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::ValidationError;
use serde_json::Value;

use super::load::{Document, Format};
use super::raw::RawPipeline;
use crate::diag::{Code, Diagnostic};
use crate::suggest::did_you_mean;

/// The JSON Schema (draft 2020-12) of a pipeline file.
pub fn schema() -> Value {
    let schema = schemars::schema_for!(RawPipeline);
    serde_json::to_value(schema).expect("schema serialises")
}

/// The schema as the checked-in file holds it (pretty JSON, trailing newline).
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).expect("schema serialises");
    s.push('\n');
    s
}

fn cached() -> &'static (Value, Result<jsonschema::Validator, String>) {
    static CACHE: OnceLock<(Value, Result<jsonschema::Validator, String>)> = OnceLock::new();
    CACHE.get_or_init(|| {
        let s = schema();
        let v = jsonschema::validator_for(&s).map_err(|e| e.to_string());
        (s, v)
    })
}

/// What the schema check found.
#[derive(Debug, Default)]
pub struct SchemaReport {
    /// One plain, located diagnostic per violation.
    pub diags: Vec<Diagnostic>,
    /// Pointers of keys the schema does not know. They are dropped before deserialising; the rest of
    /// their mapping is still checked.
    pub unknown: Vec<String>,
    /// Pointers of values that do not fit (wrong type or value, missing fields inside). They are dropped
    /// before deserialising, and semantic findings about them would only repeat the problem.
    pub invalid: Vec<String>,
    /// For each unknown key with a close allowed name: the pointer the user probably meant.
    pub misspelled: Vec<String>,
    /// Pointer of every violation, to tell whether a part that fails to deserialise was already reported.
    pub flagged: Vec<String>,
}

/// Checks a document against the schema.
pub fn check(doc: &Document) -> SchemaReport {
    let (schema, validator) = cached();
    let mut report = SchemaReport::default();
    let validator = match validator {
        Ok(v) => v,
        Err(e) => {
            report.diags.push(Diagnostic::error(Code::InternalSchema, format!("the built-in schema is invalid: {e}")));
            return report;
        }
    };
    let mut cx = Explain { doc, schema, report: &mut report, missing: Vec::new() };
    for err in validator.iter_errors(&doc.value) {
        cx.explain(&err);
    }
    // "missing field `layers`" next to "unknown field `layer`, did you mean `layers`?" says it twice.
    let mut repeats: Vec<usize> =
        cx.missing.iter().filter(|(child, _)| cx.report.misspelled.contains(child)).map(|(_, i)| *i).collect();
    repeats.sort_unstable();
    for i in repeats.into_iter().rev() {
        report.diags.remove(i);
    }
    report
}

/// The `properties` names the schema allows at `pointer` (an instance pointer), in schema order.
pub fn property_names(pointer: &str) -> Vec<String> {
    let (schema, _) = cached();
    let mut out: Vec<String> = Vec::new();
    for node in nodes_at(schema, pointer) {
        if let Some(Value::Object(props)) = node.get("properties") {
            for k in props.keys() {
                if !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
    }
    out
}

/// The description of the field at `pointer` (an instance pointer), if the schema has one.
pub fn description(pointer: &str) -> Option<String> {
    let (schema, _) = cached();
    nodes_at(schema, pointer).into_iter().find_map(|n| n.get("description").and_then(Value::as_str).map(str::to_string))
}

/// The constant values (`enum`/`const`) allowed at `pointer`, if the field is a fixed choice.
pub fn allowed_values(pointer: &str) -> Vec<String> {
    let (schema, _) = cached();
    let mut out = Vec::new();
    for node in nodes_at(schema, pointer) {
        if let Some(Value::String(c)) = node.get("const") {
            out.push(c.clone());
        }
        if let Some(Value::Array(e)) = node.get("enum") {
            out.extend(e.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    out.dedup();
    out
}

/// Follows a local `$ref` (`#/$defs/Name`).
pub(crate) fn resolve_ref<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    for _ in 0..16 {
        match node.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
            Some(ptr) => match root.pointer(ptr) {
                Some(target) => node = target,
                None => break,
            },
            None => break,
        }
    }
    node
}

/// `node` (after `$ref`) and, recursively, every branch of its `anyOf`/`oneOf`/`allOf`.
fn expand<'a>(root: &'a Value, node: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
    if depth > 16 {
        return;
    }
    if node.get("$ref").is_some() {
        out.push(node);
    }
    let node = resolve_ref(root, node);
    out.push(node);
    for kw in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = node.get(kw) {
            for b in branches {
                expand(root, b, out, depth + 1);
            }
        }
    }
}

/// Splits an RFC 6901 pointer into unescaped segments.
pub(crate) fn segments(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

/// Every schema node that may describe the instance at `pointer`.
fn nodes_at<'a>(root: &'a Value, pointer: &str) -> Vec<&'a Value> {
    let mut cur = Vec::new();
    expand(root, root, &mut cur, 0);
    for seg in segments(pointer) {
        let mut next = Vec::new();
        for n in &cur {
            if let Some(p) = n.get("properties").and_then(|p| p.get(&seg)) {
                expand(root, p, &mut next, 0);
            } else if seg.parse::<usize>().is_ok() {
                if let Some(items) = n.get("items").filter(|i| i.is_object()) {
                    expand(root, items, &mut next, 0);
                }
            }
        }
        cur = next;
    }
    cur
}

/// A pointer written the way a user reads it: `/layers/0/years` → `layers[0].years`.
pub fn field_name(pointer: &str) -> String {
    let mut out = String::new();
    for seg in segments(pointer) {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

fn last_segment(pointer: &str) -> String {
    segments(pointer).pop().unwrap_or_default()
}

/// The first line of a description, for a help text.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// What a JSON Schema type is called in a message.
fn type_word(t: &str, format: Format) -> &'static str {
    match t {
        "integer" => "a whole number",
        "number" => "a number",
        "string" => "text",
        "boolean" => "true or false",
        "array" => "a list",
        "object" if format == Format::Toml => "a table",
        "object" => "a mapping",
        "null" => "nothing",
        _ => "a value",
    }
}

/// How a found value is described in a message.
pub fn found(v: &Value, format: Format) -> String {
    match v {
        Value::Null => "an empty value".to_string(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) if n.is_f64() => format!("the number {n}"),
        Value::Number(n) => format!("the whole number {n}"),
        Value::String(s) => format!("text \"{}\"", short(s)),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) if format == Format::Toml => "a table".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

/// An example line for a required field, in the file's own syntax.
fn example(field: &str, format: Format) -> Option<String> {
    let yaml = match field {
        "sites" => "sites: {file: sites.geojson, id: site_id}",
        "layers" => "layers: [{catalog: mapbiomas_lulc}]",
        "export" => "export: {to: drive, folder: geepipe}",
        "id" => "id: site_id",
        "to" => "to: 2023",
        "from" => "from: 2010",
        "code" => "code: 3",
        "name" => "name: Forest",
        _ => return None,
    };
    if format == Format::Yaml {
        return Some(yaml.to_string());
    }
    Some(
        match field {
            "sites" => "sites = { file = \"sites.geojson\", id = \"site_id\" }",
            "layers" => "[[layers]] with catalog = \"mapbiomas_lulc\"",
            "export" => "[export] with to = \"drive\" and folder = \"geepipe\"",
            "id" => "id = \"site_id\"",
            "to" => "to = 2023",
            "from" => "from = 2010",
            "code" => "code = 3",
            "name" => "name = \"Forest\"",
            _ => return None,
        }
        .to_string(),
    )
}

struct Explain<'a> {
    doc: &'a Document,
    schema: &'a Value,
    report: &'a mut SchemaReport,
    /// Missing-field diagnostics: pointer of the missing field and index in `report.diags`.
    missing: Vec<(String, usize)>,
}

impl Explain<'_> {
    fn push(&mut self, ptr: &str, d: Diagnostic) {
        self.report.flagged.push(ptr.to_string());
        self.report.diags.push(d);
    }

    fn explain(&mut self, err: &ValidationError) {
        let ptr = err.instance_path().as_str().to_string();
        let inst: &Value = err.instance();
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                for key in unexpected {
                    self.unknown_field(&ptr, key);
                }
            }
            ValidationErrorKind::Type { kind } => {
                let expected: Vec<String> = match kind {
                    TypeKind::Single(t) => vec![t.to_string()],
                    TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
                };
                self.wrong_type(&ptr, &expected, inst);
            }
            ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
                self.union(&ptr, inst, context);
            }
            ValidationErrorKind::Required { property } => {
                self.missing(&ptr, property.as_str().unwrap_or_default());
            }
            ValidationErrorKind::Constant { .. } | ValidationErrorKind::Enum { .. } => {
                self.not_allowed(&ptr, inst);
            }
            ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => {
                self.bad_value(
                    &ptr,
                    format!("`{}` must be at least {limit}, found {inst}", field_name(&ptr)),
                    "too small",
                );
            }
            ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => {
                self.bad_value(
                    &ptr,
                    format!("`{}` must be at most {limit}, found {inst}", field_name(&ptr)),
                    "too large",
                );
            }
            _ => {
                let msg = if ptr.is_empty() { err.to_string() } else { format!("`{}`: {err}", field_name(&ptr)) };
                self.bad_value(&ptr, msg, "here");
            }
        }
    }

    fn bad_value(&mut self, ptr: &str, msg: String, label: &str) {
        let mut d = Diagnostic::error(Code::SchemaValue, msg).at(
            &self.doc.source,
            self.doc.label_span(ptr),
            Some(label.to_string()),
        );
        if let Some(desc) = description(ptr).filter(|_| !ptr.is_empty()) {
            d = d.with_help(format!("`{}`: {}", last_segment(ptr), first_line(&desc)));
        }
        self.report.invalid.push(ptr.to_string());
        self.push(ptr, d);
    }

    fn unknown_field(&mut self, parent_ptr: &str, key: &str) {
        let ptr = format!("{parent_ptr}/{}", super::load::pointer_segment(key));
        let names = property_names(parent_ptr);
        let place = if parent_ptr.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in `{}`", field_name(parent_ptr))
        };
        let takes = if parent_ptr.is_empty() {
            format!("the top level takes: {}", names.join(", "))
        } else {
            format!("`{}` takes: {}", field_name(parent_ptr), names.join(", "))
        };
        let help = match did_you_mean(key, names.iter().map(String::as_str)) {
            Some(s) => {
                self.report.misspelled.push(format!("{parent_ptr}/{}", super::load::pointer_segment(s)));
                format!("did you mean `{s}`? ({takes})")
            }
            None => takes,
        };
        let d = Diagnostic::error(Code::SchemaUnknownField, format!("unknown field `{key}` {place}"))
            .at(&self.doc.source, self.doc.key_span(&ptr), Some("unknown field".to_string()))
            .with_help(help);
        self.report.unknown.push(ptr.clone());
        self.push(&ptr, d);
    }

    fn wrong_type(&mut self, ptr: &str, expected: &[String], inst: &Value) {
        let f = self.doc.format;
        let mut words: Vec<&str> = expected.iter().filter(|t| *t != "null").map(|t| type_word(t, f)).collect();
        if words.is_empty() {
            words.push("nothing");
        }
        // An integer is also a number: say only "a number".
        if words.contains(&"a number") {
            words.retain(|w| *w != "a whole number");
        }
        let expected = words.join(" or ");
        let what = if ptr.is_empty() { "the pipeline".to_string() } else { format!("`{}`", field_name(ptr)) };
        let msg = format!("wrong type for {what}: expected {expected}, found {}", found(inst, f));
        let mut d = Diagnostic::error(Code::SchemaType, msg).at(
            &self.doc.source,
            self.doc.label_span(ptr),
            Some(format!("expected {expected}")),
        );
        if ptr.is_empty() {
            d = d.with_help(
                "a pipeline file is a mapping with at least `sites`, `layers` and `export` at the top level",
            );
        } else if let Some(desc) = description(ptr) {
            d = d.with_help(format!("`{}`: {}", last_segment(ptr), first_line(&desc)));
        }
        self.report.invalid.push(ptr.to_string());
        self.push(ptr, d);
    }

    fn not_allowed(&mut self, ptr: &str, inst: &Value) {
        let options = allowed_values(ptr);
        let field = field_name(ptr);
        let msg = match inst {
            Value::String(s) => format!("unknown value `{s}` for `{field}`"),
            other => format!("`{field}` must be one of the listed values, found {}", found(other, self.doc.format)),
        };
        let list = options.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ");
        let mut help = format!("allowed values: {list}");
        if let Some(s) = inst.as_str().and_then(|s| did_you_mean(s, options.iter().map(String::as_str))) {
            help = format!("did you mean `{s}`? ({help})");
        }
        let d = Diagnostic::error(Code::SchemaValue, msg)
            .at(&self.doc.source, self.doc.label_span(ptr), Some("not an allowed value".to_string()))
            .with_help(help);
        self.report.invalid.push(ptr.to_string());
        self.push(ptr, d);
    }

    fn union(&mut self, ptr: &str, inst: &Value, context: &[Vec<ValidationError<'static>>]) {
        let type_error_here = |e: &ValidationError| {
            e.instance_path().as_str() == ptr && matches!(e.kind(), ValidationErrorKind::Type { .. })
        };
        // The `null` branch of an optional field says nothing useful about a value that is present.
        let is_null_branch = |b: &Vec<ValidationError>| {
            b.len() == 1
                && type_error_here(&b[0])
                && matches!(b[0].kind(), ValidationErrorKind::Type { kind: TypeKind::Single(t) } if t.to_string() == "null")
        };
        let branches: Vec<&Vec<ValidationError>> =
            context.iter().filter(|b| inst.is_null() || !is_null_branch(b)).collect();
        if !allowed_values(ptr).is_empty() && branches.len() > 1 {
            self.not_allowed(ptr, inst);
            return;
        }
        if branches.len() == 1 {
            for e in branches[0] {
                self.explain(e);
            }
            return;
        }
        // The branches that accept this kind of value (a list, a mapping, …): if only one does, the user
        // meant that form, and its own errors are the useful ones.
        let compatible: Vec<&&Vec<ValidationError>> =
            branches.iter().filter(|b| !b.iter().any(type_error_here)).collect();
        if compatible.len() == 1 && !compatible[0].is_empty() {
            for e in compatible[0].iter() {
                self.explain(e);
            }
            return;
        }
        let last = last_segment(ptr);
        if last == "years" || last == "available" {
            self.years_form(ptr, inst);
            return;
        }
        // Otherwise list the accepted types.
        let mut types = Vec::new();
        for n in nodes_at(self.schema, ptr) {
            match n.get("type") {
                Some(Value::String(t)) => types.push(t.clone()),
                Some(Value::Array(ts)) => types.extend(ts.iter().filter_map(Value::as_str).map(str::to_string)),
                _ => {}
            }
        }
        types.dedup();
        if types.is_empty() {
            self.bad_value(ptr, format!("`{}` does not have an accepted form", field_name(ptr)), "here");
        } else {
            self.wrong_type(ptr, &types, inst);
        }
    }

    fn years_form(&mut self, ptr: &str, inst: &Value) {
        let forms = if self.doc.format == Format::Toml {
            "`2020`, `\"2010..2023\"`, `[2015, 2020]` or `{ from = 2010, to = 2023 }`"
        } else {
            "`2020`, `2010..2023`, `[2015, 2020]` or `{from: 2010, to: 2023}`"
        };
        let msg = format!(
            "`{}` must be a year, a range of years, a list of years or a from/to pair; found {}",
            field_name(ptr),
            found(inst, self.doc.format)
        );
        let d = Diagnostic::error(Code::SchemaYears, msg)
            .at(&self.doc.source, self.doc.label_span(ptr), Some("not a year form".to_string()))
            .with_help(format!("write one of {forms}"));
        self.report.invalid.push(ptr.to_string());
        self.push(ptr, d);
    }

    fn missing(&mut self, ptr: &str, field: &str) {
        let (msg, label) = if ptr.is_empty() {
            (format!("missing field `{field}` at the top level"), format!("the pipeline needs `{field}`"))
        } else {
            (format!("missing field `{field}` in `{}`", field_name(ptr)), format!("needs `{field}`"))
        };
        let child = format!("{ptr}/{}", super::load::pointer_segment(field));
        let mut help = match example(field, self.doc.format) {
            Some(ex) => format!("add it, e.g. `{ex}`"),
            None => "add it".to_string(),
        };
        if let Some(desc) = description(&child) {
            help.push_str(&format!("; `{field}`: {}", first_line(&desc)));
        }
        let span = if ptr.is_empty() {
            let s = self.doc.label_span("");
            s.start..s.start
        } else {
            self.doc.label_span(ptr)
        };
        let d =
            Diagnostic::error(Code::SchemaMissingField, msg).at(&self.doc.source, span, Some(label)).with_help(help);
        if !ptr.is_empty() {
            self.report.invalid.push(ptr.to_string());
        }
        self.missing.push((child, self.report.diags.len()));
        self.push(ptr, d);
    }
}

/// Every `properties` entry in the schema (recursively, through `$defs`) that has no description:
/// `(path, property)` pairs. The checked-in schema and the reference are only useful when this is empty.
pub fn undocumented_properties(schema: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    fn walk(v: &Value, path: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    for (k, p) in props {
                        if p.get("description").and_then(Value::as_str).is_none_or(|d| d.trim().is_empty()) {
                            out.insert(format!("{path}/properties/{k}"));
                        }
                    }
                }
                for (k, child) in map {
                    walk(child, &format!("{path}/{k}"), out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    walk(schema, "", &mut out);
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_read_like_paths() {
        assert_eq!(field_name("/layers/0/years"), "layers[0].years");
        assert_eq!(field_name("/export/bucket"), "export.bucket");
        assert_eq!(field_name(""), "");
    }

    #[test]
    fn schema_knows_names_and_values_at_a_path() {
        assert!(property_names("/export").contains(&"bucket".to_string()));
        assert!(property_names("/layers/3").contains(&"catalog".to_string()));
        assert_eq!(allowed_values("/export/to"), ["drive", "gcs", "asset", "bigquery", "local"]);
        assert!(description("/chunks/sites_per_task").is_some_and(|d| d.contains("Sites per export task")));
    }
}
