//! What differs between the pipeline kinds when planning, behind one trait: [`KindPlanner`].
//!
//! A zonal pipeline ([`super::zonal::Zonal`]) cuts its sites into chunks by count and request size and
//! exports a table per chunk; an image pipeline ([`super::image::ImagePlanner`]) exports one image per
//! layer-year (and site); a classifier pipeline ([`super::classifier::ClassifierPlanner`]) trains on every
//! site in one request. Each says how its chunks are made, how a chunk's request is built (again, or for
//! part of a chunk when the executor splits one), what its probe asks and which columns its table has.
//! The [`super::Planner`] chooses the implementation once, when it is made, and keeps what every kind
//! shares: reading the sites, the chunk ids, the request bytes, the summary.

use std::collections::HashMap;

use serde_json::Value;

use super::cells::Part;
use super::compute::PreparedLayer;
use super::probe::{ProbeCall, ProbeError};
use super::{Column, PlanError, Task};
use crate::diag::{Code, Diagnostic};
use crate::pipeline::{Pipeline, SiteLocation};
use crate::sites::Site;

/// What every kind plans from: the pipeline, its layers rendered year by year, and the sites of its site
/// file (none for sites in a table asset) with their ids.
#[derive(Debug)]
pub struct Inputs {
    pub pipeline: Pipeline,
    pub layers: Vec<PreparedLayer>,
    /// The sites of the site file, in file order.
    pub sites: Vec<Site>,
    by_id: HashMap<String, usize>,
}

impl Inputs {
    pub fn new(pipeline: Pipeline, layers: Vec<PreparedLayer>, sites: Vec<Site>) -> Inputs {
        let by_id = sites.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        Inputs { pipeline, layers, sites, by_id }
    }

    /// The index in the site file of the site with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The sites at these indices of the site file.
    pub fn chosen(&self, indices: &[usize]) -> Vec<&Site> {
        indices.iter().map(|&i| &self.sites[i]).collect()
    }

    /// The table asset the sites come from (empty for a site file).
    pub fn asset(&self) -> &str {
        match &self.pipeline.sites.location {
            SiteLocation::Asset(a) => a,
            SiteLocation::File(_) => "",
        }
    }

    /// An error about the pipeline file, with help when there is any.
    pub fn error(&self, code: Code, msg: impl Into<String>, help: &str) -> Diagnostic {
        pipeline_error(&self.pipeline, code, msg, help)
    }

    /// An expression that cannot be built, as the error about the pipeline file that says so.
    pub fn expression_error(&self, e: impl std::fmt::Display) -> Vec<Diagnostic> {
        expression_error(&self.pipeline, e)
    }

    /// A planning refusal as located diagnostics (those it holds, or one saying it).
    pub fn diagnostics(&self, e: PlanError) -> Vec<Diagnostic> {
        match e {
            PlanError::Diagnostics(d) => d,
            e => self.expression_error(e),
        }
    }
}

/// An expression of `pipeline` that cannot be built, as the error about the pipeline file that says so.
pub fn expression_error(pipeline: &Pipeline, e: impl std::fmt::Display) -> Vec<Diagnostic> {
    vec![pipeline_error(pipeline, Code::PlanExpression, e.to_string(), "")]
}

/// The pipeline's layers rendered ([`super::compute::prepare`]), or each layer whose templates cannot be
/// rendered as an error about the pipeline file.
pub fn prepare_layers(pipeline: &Pipeline) -> Result<Vec<PreparedLayer>, Vec<Diagnostic>> {
    super::compute::prepare(pipeline).map_err(|es| {
        es.into_iter()
            .map(|(layer, msg)| {
                pipeline_error(
                    pipeline,
                    Code::LayersTemplate,
                    format!("layer `{layer}`: {msg}"),
                    "placeholders are `{{year}}`, `{{next_year}}`, `{{asset}}` and the names in `vars`",
                )
            })
            .collect()
    })
}

/// An error about the pipeline file, with help when there is any.
pub fn pipeline_error(pipeline: &Pipeline, code: Code, msg: impl Into<String>, help: &str) -> Diagnostic {
    let mut d = Diagnostic::error(code, msg).in_file(pipeline.source.display().to_string());
    if !help.is_empty() {
        d = d.with_help(help);
    }
    d
}

/// One planned chunk before (or apart from) its request.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    /// Indices into the site file's sites (file sites).
    pub sites: Vec<usize>,
    /// The layer parts it computes (zonal pipelines).
    pub parts: Vec<Part>,
}

/// A built task whose body is kept as its serialised bytes (a JSON tree is ~20 times larger).
#[derive(Debug)]
pub struct Built {
    /// The task, `body` set to null.
    pub task: Task,
    pub bytes: Vec<u8>,
}

impl From<Task> for Built {
    fn from(mut task: Task) -> Built {
        let bytes = serde_json::to_vec(&task.body).unwrap_or_default();
        task.body_bytes = bytes.len();
        task.body = Value::Null;
        Built { task, bytes }
    }
}

/// The planning of one pipeline kind (see the module doc). Every method is given the [`Inputs`] the
/// planner holds.
pub trait KindPlanner: Send + Sync + std::fmt::Debug {
    /// The column contract of the table the plan exports (none: the kind exports no table).
    fn table_columns(&self, _inputs: &Inputs) -> Vec<Column> {
        Vec::new()
    }

    /// Warnings about the plan found before any request is built.
    fn warnings(&self, _inputs: &Inputs) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// Cuts the sites into chunks and builds each chunk's task, in chunk order. Every problem is returned.
    fn chunk(&self, inputs: &Inputs) -> Result<Vec<(Chunk, Built)>, Vec<Diagnostic>>;

    /// The task of the `index`-th planned chunk, `chunk`, with id `chunk_id`, built again (the bodies are
    /// deterministic).
    fn rebuild(&self, inputs: &Inputs, index: usize, chunk_id: &str, chunk: &Chunk) -> Result<Built, PlanError>;

    /// The task of any chunk id over any of its sites: what the executor asks when it splits a chunk (or
    /// rebuilds a body the journal does not keep). `parts` are the layer parts the journal says the chunk
    /// computes (zonal site files).
    fn split(
        &self,
        inputs: &Inputs,
        chunk_id: &str,
        site_ids: &[String],
        parts: Option<&[Part]>,
    ) -> Result<Built, PlanError>;

    /// The probe of the plan with at most `sites` sites, given the first planned chunk.
    fn probe(&self, inputs: &Inputs, first: Option<&Chunk>, sites: usize) -> Result<ProbeCall, ProbeError>;

    /// Why the kind runs only as export tasks (none: it may also run as interactive requests).
    fn export_only(&self) -> Option<&'static str> {
        None
    }

    /// The sites the plan's summary counts, given the planned chunks (sites of a site file).
    fn planned_sites(&self, inputs: &Inputs, _chunks: &[Chunk]) -> usize {
        inputs.sites.len()
    }
}
