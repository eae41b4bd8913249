//! The probe request of a plan: one small synchronous computation that proves the expression evaluates
//! and yields what the batch tasks promise, before any batch task exists (run and checked by
//! [`crate::probe`]).
//!
//! - Zonal pipelines: the first chunk cut to its first few sites (or the first few features of a table
//!   asset, `Collection.limit`), every layer cut to its first year (reduced for every probed site, whatever
//!   its `first_year`), sent to `table:computeFeatures`. The rows must carry the columns of that cut
//!   pipeline ([`crate::plan::columns`]).
//! - Image pipelines: the first export's image wrapped in `Image.bandNames`, through `value:compute`:
//!   band names are metadata, the cheapest call that still makes Earth Engine build the image.
//! - Classifier pipelines: the training on the first few labelled sites wrapped in `Classifier.schema`
//!   (the trained classifier's input names), through `value:compute`.
//!
//! Each kind builds its own probe ([`super::kind::KindPlanner::probe`]); this module holds what they send
//! and what may go wrong.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Column;

/// What a probe sends and what its answer must show.
#[derive(Debug, Clone)]
pub enum ProbeCall {
    /// `table:computeFeatures`: the rows must carry `columns`.
    Features {
        expression: Value,
        columns: Vec<Column>,
        /// The sites asked for (empty for sites of a table asset).
        site_ids: Vec<String>,
        /// The year probed of each layer.
        years: Vec<(String, i32)>,
        /// Per kept property: whether any probed site has a value for it in the site file (else an empty
        /// column is expected).
        keep_has_value: BTreeMap<String, bool>,
    },
    /// `value:compute`: the result must be a non-empty list of names.
    Value { expression: Value, what: ValueProbe, description: String },
}

/// What a `value:compute` probe asks.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueProbe {
    /// `Image.bandNames` of an image export.
    BandNames,
    /// `Classifier.schema` of the trained classifier: must list these inputs.
    ClassifierSchema(Vec<String>),
}

impl ProbeCall {
    /// The endpoint it goes to.
    pub fn endpoint(&self) -> &'static str {
        match self {
            ProbeCall::Features { .. } => "table:computeFeatures",
            ProbeCall::Value { .. } => "value:compute",
        }
    }
}

/// Wraps an encoded expression's result in a one-argument call (a new node; the graph stays valid).
pub fn wrap(expression: &Value, function: &str, argument: &str) -> Value {
    let mut e = expression.clone();
    let result = e.get("result").and_then(Value::as_str).unwrap_or("0").to_string();
    let values = e.get("values").and_then(Value::as_object).cloned().unwrap_or_default();
    let key = (values.len()..).map(|k| k.to_string()).find(|k| !values.contains_key(k)).unwrap_or_default();
    let mut values = values;
    values.insert(
        key.clone(),
        json!({"functionInvocationValue": {"functionName": function, "arguments": {argument: {"valueReference": result}}}}),
    );
    e["values"] = Value::Object(values);
    e["result"] = Value::String(key);
    e
}

/// Why the probe request cannot be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Build(#[from] super::compute::BuildError),
    #[error("the plan has no image export")]
    NoImageExport,
    /// The first image export's task cannot be built (its diagnostics).
    #[error("{}", .0.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; "))]
    Image(Vec<crate::diag::Diagnostic>),
}
