//! The [`Planner`]: the flow every pipeline kind shares. It renders the layers, reads the site file, chooses
//! the planning of the pipeline's kind once ([`KindPlanner`]: zonal tables, image exports, classifier
//! training; see [`super::kind`]), has it cut the sites into chunks and build their requests, and keeps the
//! chunk ids, the request bytes, the warnings and the summary. The executor's splits and the probe go to
//! the same kind planner.

use serde::Serialize;
use serde_json::Value;

use super::classifier::ClassifierPlanner;
use super::compute::PreparedLayer;
use super::image::ImagePlanner;
use super::kind::{pipeline_error, Built, Chunk, Inputs, KindPlanner};
use super::probe::ProbeCall;
use super::zonal::{ChunkCells, Zonal};
use super::{Column, PlanError, Task};
use crate::diag::{Code, Diagnostic};
use crate::pipeline::{Engine, Pipeline, SiteLocation};
use crate::sites::Site;

/// Everything `geepipe plan` shows: the tasks, the column contract, warnings and a summary.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub tasks: Vec<Task>,
    pub columns: Vec<Column>,
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
    pub summary: Summary,
}

impl Plan {
    /// Puts the warnings found before planning (compiling the pipeline file) first and counts them in the
    /// summary, so `plan` reports what `validate` reports.
    pub fn with_earlier_warnings(mut self, mut earlier: Vec<Diagnostic>) -> Plan {
        earlier.append(&mut self.warnings);
        self.warnings = earlier;
        self.summary.warnings = self.warnings.iter().map(|d| d.count).sum();
        self
    }
}

/// Figures about a plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub pipeline: String,
    pub content_hash: String,
    pub tasks: usize,
    /// Sites in the plan (`None` when they come from an asset geepipe cannot list offline).
    pub sites: Option<usize>,
    pub layers: usize,
    /// Distinct years over all layers, sorted.
    pub years: Vec<i32>,
    /// Sum over layers of their years.
    pub layer_years: usize,
    pub columns: usize,
    pub largest_request_bytes: usize,
    pub largest_request_chunk: Option<String>,
    pub total_request_bytes: usize,
    pub warnings: usize,
    /// Per layer, the cells the table needs that the results store holds and those to compute (pipelines
    /// run through the store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<crate::plan::cells::CellCounts>,
}

impl Summary {
    /// The summary of a plan of `p` whose requests are `tally`: `sites` planned (`None` for an asset),
    /// `columns` in the table, the `warnings` shown.
    pub fn of(p: &Pipeline, tally: &Tally, sites: Option<usize>, columns: usize, warnings: &[Diagnostic]) -> Summary {
        let mut years: Vec<i32> = p.layers.iter().flat_map(|l| l.years.iter().copied()).collect();
        years.sort_unstable();
        years.dedup();
        Summary {
            pipeline: p.name.clone(),
            content_hash: p.content_hash.clone(),
            tasks: tally.tasks,
            sites,
            layers: p.layers.len(),
            years,
            layer_years: p.layers.iter().map(|l| l.years.len()).sum(),
            columns,
            largest_request_bytes: tally.largest,
            largest_request_chunk: tally.largest_chunk.clone(),
            total_request_bytes: tally.total,
            warnings: warnings.iter().map(|d| d.count).sum(),
            cells: None,
        }
    }
}

/// The requests of a plan counted as they are built (a streamed plan keeps no list of them): how many,
/// their bytes, and the largest (among equal sizes, the one with the first chunk id).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub tasks: usize,
    pub total: usize,
    pub largest: usize,
    pub largest_chunk: Option<String>,
}

impl Tally {
    /// Counts a request of `bytes` bytes for chunk `chunk`.
    pub fn add(&mut self, chunk: &str, bytes: usize) {
        self.tasks += 1;
        self.total += bytes;
        let first_of_equal = bytes == self.largest && self.largest_chunk.as_deref().is_some_and(|c| chunk < c);
        if bytes > self.largest || first_of_equal || self.largest_chunk.is_none() {
            self.largest = bytes;
            self.largest_chunk = Some(chunk.to_string());
        }
    }
}

/// Plans a pipeline: `Planner::new` reads the sites and has its kind's [`KindPlanner`] chunk them and build
/// every request; `plan` hands the requests out.
pub struct Planner {
    inputs: Inputs,
    /// The planning of the pipeline's kind, chosen once ([`kind_planner`]).
    kind: Box<dyn KindPlanner>,
    columns: Vec<Column>,
    chunks: Vec<Chunk>,
    warnings: Vec<Diagnostic>,
    /// The tasks built while chunking, handed out by the first [`Planner::plan`] (later calls rebuild).
    built: std::sync::Mutex<Option<Vec<Built>>>,
    /// The chunk ids, in order.
    chunk_ids: Vec<String>,
}

/// The planning of the pipeline's kind: the one place that looks at the kind.
fn kind_planner(
    pipeline: &Pipeline,
    layers: &[PreparedLayer],
    n_sites: usize,
) -> Result<Box<dyn KindPlanner>, Diagnostic> {
    use crate::pipeline::KindName;
    match pipeline.kind {
        KindName::Zonal => Ok(Box::new(Zonal::new(pipeline, layers.to_vec(), None))),
        KindName::Image => match &pipeline.image {
            Some(opts) => Ok(Box::new(ImagePlanner::new(opts, layers, n_sites))),
            None => Err(pipeline_error(pipeline, Code::PlanImage, "the pipeline has no image settings", "")),
        },
        KindName::Classifier => match &pipeline.classifier {
            Some(spec) => Ok(Box::new(ClassifierPlanner::new(spec))),
            None => Err(pipeline_error(pipeline, Code::PlanClassifier, "the pipeline has no classifier settings", "")),
        },
    }
}

impl Planner {
    /// Prepares the plan: renders the layers, reads the sites, chunks them and builds every request. Every
    /// problem is returned.
    pub fn new(pipeline: &Pipeline) -> Result<Planner, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        if pipeline.engine == Engine::Local {
            errors.push(pipeline_error(
                pipeline,
                Code::PlanLocalEngine,
                "the local engine computes on this machine and sends no requests",
                &format!(
                    "`geepipe run {f}` computes it on this machine; `geepipe plan --engine earthengine {f}` shows the \
                     requests Earth Engine would get for it (a `to: local` export is then not used)",
                    f = pipeline.source.display()
                ),
            ));
        }
        let layers = super::kind::prepare_layers(pipeline).unwrap_or_else(|es| {
            errors.extend(es);
            Vec::new()
        });
        // Problems of the pipeline file itself (asset sites, export settings, …) were reported when it was
        // compiled; here the site file is read, its warnings kept with the plan's.
        let mut sites = Vec::new();
        if let SiteLocation::File(_) = &pipeline.sites.location {
            match crate::sites::read_all_with_warnings(&pipeline.sites) {
                Ok((s, w)) => {
                    sites = s;
                    warnings.extend(w);
                }
                Err(ds) => errors.extend(ds),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let kind = kind_planner(pipeline, &layers, sites.len()).map_err(|d| vec![d])?;
        let inputs = Inputs::new(pipeline.clone(), layers, sites);
        warnings.extend(kind.warnings(&inputs));
        let columns = kind.table_columns(&inputs);
        let (chunks, built): (Vec<Chunk>, Vec<Built>) = kind.chunk(&inputs)?.into_iter().unzip();
        let chunk_ids = built.iter().map(|b| b.task.chunk_id.clone()).collect();
        Ok(Planner { inputs, kind, columns, chunks, warnings, built: std::sync::Mutex::new(Some(built)), chunk_ids })
    }

    /// The pipeline being planned.
    pub fn pipeline(&self) -> &Pipeline {
        &self.inputs.pipeline
    }

    /// The sites of the site file, in file order (empty for sites in an asset).
    pub fn sites(&self) -> &[Site] {
        &self.inputs.sites
    }

    /// The `selectors` every task sends: the column contract's names, in order.
    pub fn selectors(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Why the pipeline's kind runs only as export tasks (none: it may also run interactively).
    pub fn export_only(&self) -> Option<&'static str> {
        self.kind.export_only()
    }

    /// The probe of this plan, with at most `sites` sites (see [`super::probe`]).
    pub fn probe_call(&self, sites: usize) -> Result<ProbeCall, PlanError> {
        self.kind.probe(&self.inputs, self.chunks.first(), sites).map_err(PlanError::Probe)
    }

    /// Builds every chunk's task again (the chunks are fixed; the bodies are deterministic).
    fn rebuild(&self) -> Vec<Built> {
        self.chunks
            .iter()
            .zip(&self.chunk_ids)
            .enumerate()
            .filter_map(|(i, (c, id))| self.kind.rebuild(&self.inputs, i, id, c).ok())
            .collect()
    }

    /// Builds the whole plan (the first call hands over the tasks built while chunking).
    pub fn plan(&self) -> Plan {
        let (mut plan, bodies) = self.plan_serialized();
        for (t, b) in plan.tasks.iter_mut().zip(bodies) {
            t.body = serde_json::from_slice(&b).unwrap_or(Value::Null);
        }
        plan
    }

    /// The plan with every task's `body` left `null` and the bodies returned apart, as the exact bytes
    /// sent (compact JSON): what `geepipe plan --out` writes, without holding every body as a JSON tree.
    pub fn plan_serialized(&self) -> (Plan, Vec<Vec<u8>>) {
        let taken = self.built.lock().ok().and_then(|mut b| b.take());
        let built = match taken {
            Some(t) => t,
            None => self.rebuild(),
        };
        let (tasks, bodies): (Vec<Task>, Vec<Vec<u8>>) = built.into_iter().map(|b| (b.task, b.bytes)).unzip();
        let mut tally = Tally::default();
        for t in &tasks {
            tally.add(&t.chunk_id, t.body_bytes);
        }
        let p = &self.inputs.pipeline;
        let sites = match p.sites.location {
            SiteLocation::File(_) => Some(self.kind.planned_sites(&self.inputs, &self.chunks)),
            SiteLocation::Asset(_) => None,
        };
        let summary = Summary::of(p, &tally, sites, self.columns.len(), &self.warnings);
        (Plan { tasks, columns: self.columns.clone(), warnings: self.warnings.clone(), summary }, bodies)
    }
}

impl super::ChunkPlanner for Planner {
    fn task(&self, chunk_id: &str, site_ids: &[String], cells: Option<&ChunkCells>) -> Result<Task, PlanError> {
        let Built { mut task, bytes } =
            self.kind.split(&self.inputs, chunk_id, site_ids, cells.map(|c| &c.parts[..]))?;
        task.body = serde_json::from_slice(&bytes).map_err(|e| {
            let d = pipeline_error(
                self.pipeline(),
                Code::PlanExpression,
                format!("a request body does not read back: {e}"),
                "",
            );
            PlanError::Diagnostics(vec![d])
        })?;
        Ok(task)
    }

    /// The body as the bytes the kind planner wrote (never parsed back into a JSON tree).
    fn body(&self, chunk_id: &str, site_ids: &[String], cells: Option<&ChunkCells>) -> Result<Vec<u8>, PlanError> {
        Ok(self.kind.split(&self.inputs, chunk_id, site_ids, cells.map(|c| &c.parts[..]))?.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn the_largest_request_is_the_first_chunk_id_among_equal_sizes_whatever_the_order() {
        let requests = [("c", 10), ("b", 30), ("d", 30), ("a", 5), ("a2", 30)];
        let mut orders = vec![requests.to_vec()];
        orders.push(requests.iter().rev().copied().collect());
        for order in orders {
            let mut t = Tally::default();
            for (chunk, bytes) in order {
                t.add(chunk, bytes);
            }
            assert_eq!((t.tasks, t.total, t.largest, t.largest_chunk.as_deref()), (5, 105, 30, Some("a2")));
        }
        assert_eq!(Tally::default().largest_chunk, None);
    }
}
