//! The pipeline JSON Schema: generated from the raw types (one source of truth), checked in as
//! `schemas/pipeline.schema.json`, and used to check every file before deserialising it.

use serde_json::Value;

use super::load::Document;
use super::raw::RawPipeline;
use crate::diag::Diagnostic;

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

/// Checks a document against the schema; one diagnostic per violation, located by JSON pointer.
pub fn check(doc: &Document) -> Vec<Diagnostic> {
    let schema = schema();
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => return vec![Diagnostic::error("internal::schema", format!("the built-in schema is invalid: {e}"))],
    };
    let mut out = Vec::new();
    for err in validator.iter_errors(&doc.value) {
        let ptr = err.instance_path().to_string();
        out.push(Diagnostic::error("schema", err.to_string()).at(
            &doc.source,
            doc.span(&ptr),
            Some("here".to_string()),
        ));
    }
    out
}
