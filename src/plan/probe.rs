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

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::cells::Part;
use super::compute::{self, Features};
use super::planner::Planner;
use super::zonal::Zonal;
use super::{classifier, Column, ColumnKind};
use crate::expr::Graph;
use crate::pipeline::{KindName, SiteLocation};
use crate::sites::Site;

/// Sites a classifier probe trains on (a classifier needs more than a couple).
pub const CLASSIFIER_SITES: usize = 10;

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

impl Planner {
    /// The probe of this plan, with at most `sites` sites (see the module doc).
    pub fn probe_call(&self, sites: usize) -> Result<ProbeCall, super::PlanError> {
        self.build_probe(sites).map_err(super::PlanError::Probe)
    }

    fn build_probe(&self, sites: usize) -> Result<ProbeCall, ProbeError> {
        let p = &self.pipeline;
        match p.kind {
            KindName::Image => {
                let u = self.image_units.first().ok_or(ProbeError::NoImageExport)?;
                let task = self.image_task(u).map_err(ProbeError::Image)?;
                Ok(ProbeCall::Value {
                    expression: wrap(&task.body["expression"], "Image.bandNames", "image"),
                    what: ValueProbe::BandNames,
                    description: format!("export {}", u.chunk_id),
                })
            }
            KindName::Classifier => {
                let spec = p.classifier.as_ref().ok_or(ProbeError::NoClassifier)?;
                let labelled: Vec<&Site> = self
                    .sites
                    .iter()
                    .filter(|s| s.properties.get(&spec.label).is_some_and(Value::is_number))
                    .take(CLASSIFIER_SITES)
                    .collect();
                let expression = classifier::expression(p, spec, &self.layers, &labelled)?;
                let inputs = classifier::feature_bands(spec, &self.layers);
                Ok(ProbeCall::Value {
                    expression: wrap(&expression, "Classifier.schema", "classifier"),
                    what: ValueProbe::ClassifierSchema(inputs),
                    description: format!("training on {} labelled site(s)", labelled.len()),
                })
            }
            KindName::Zonal => {
                let zonal = self.zonal.as_ref().ok_or(ProbeError::NoZonal)?;
                let first = self.chunks.first();
                let parts = first.map(|c| c.parts.clone()).unwrap_or_else(|| zonal.all_parts());
                match &p.sites.location {
                    SiteLocation::File(_) => {
                        let chosen: Vec<&Site> = first
                            .map(|c| c.sites.iter().take(sites.max(1)).map(|&i| &self.sites[i]).collect())
                            .unwrap_or_default();
                        zonal_probe(zonal, &parts, &chosen, None)
                    }
                    SiteLocation::Asset(_) => zonal_probe(zonal, &parts, &[], Some((self.asset(), sites.max(1)))),
                }
            }
        }
    }
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
    #[error("the pipeline has no classifier settings")]
    NoClassifier,
    #[error("the plan has no zonal computation")]
    NoZonal,
}

/// The probe of a zonal chunk: its first sites (or the first features of a table asset), each of its layer
/// parts cut to its first year, through `table:computeFeatures`.
pub fn zonal_probe(
    zonal: &Zonal,
    parts: &[Part],
    chosen: &[&Site],
    asset: Option<(&str, usize)>,
) -> Result<ProbeCall, ProbeError> {
    let layers = zonal.probe_layers(parts);
    let which = match asset {
        Some((a, n)) => Features::AssetFirst(a, n),
        None => Features::Inline(chosen),
    };
    // The probed year may come before the probed sites' first years: reduce it for them anyway (the tasks
    // skip it), so each column shows a value.
    let mut pipeline = zonal.pipeline.clone();
    if asset.is_none() {
        pipeline.sites.first_year_property = None;
    }
    let mut g = Graph::new();
    let root = compute::computation(&mut g, &pipeline, &layers, which)?;
    let cols = zonal.columns(&layers);
    let keep_has_value = cols
        .iter()
        .filter_map(|c| match &c.kind {
            ColumnKind::Keep { property } => Some((
                property.clone(),
                chosen.is_empty() || chosen.iter().any(|s| s.properties.get(property).is_some_and(|v| !v.is_null())),
            )),
            _ => None,
        })
        .collect();
    Ok(ProbeCall::Features {
        expression: g.encode(root),
        columns: cols,
        site_ids: chosen.iter().map(|s| s.id.clone()).collect(),
        years: layers.iter().flat_map(|l| l.years.iter().map(|y| (l.name.clone(), *y))).collect(),
        keep_has_value,
    })
}
