//! `geepipe plan` of a pipeline run through the results store: only the cells the store lacks are planned,
//! as a stream over the site file, in the mode the run would use (decided from those cells; interactive
//! plans write `table:computeFeatures` bodies with `--out`). Bodies are built a batch of chunks at a time
//! (in parallel), measured, written with `--out` and dropped, so memory does not grow with the number of
//! sites. With `--out` the
//! bodies go to a temporary folder beside `DIR` and are moved into it at the end: a problem found late in
//! the site file leaves `DIR` as it was. An earlier plan in `DIR` is replaced as by `geepipe plan --out`
//! ([`super::plan`]): its bodies the new plan lacks are removed, other files kept, a foreign folder refused.

use std::path::Path;

use super::incremental::{store_error, stream_error};
use super::plan::PlanArgs;
use super::plan_out::PlanOut;
use super::Global;
use crate::diag::Diagnostic;
use crate::error::{self, Error};
use crate::exit;
use crate::pipeline::Pipeline;
use crate::plan::stream;
use crate::plan::zonal::{PlannedChunk, Zonal};
use crate::plan::{Plan, RunMode, Summary, Task};
use crate::store::Store;

/// Chunks whose bodies are built together.
const BATCH: usize = 64;

/// Figures gathered while streaming.
#[derive(Default)]
struct Tally {
    tasks: usize,
    sites: usize,
    largest: usize,
    largest_chunk: Option<String>,
    total: usize,
    endpoint: Option<crate::plan::Endpoint>,
}

fn build_batch(
    zonal: &Zonal,
    interactive: bool,
    batch: &mut Vec<PlannedChunk>,
    tally: &mut Tally,
    out: &mut Option<PlanOut>,
) -> error::Result<()> {
    use rayon::prelude::*;
    let p = &zonal.pipeline;
    let built: Vec<error::Result<(Task, Vec<u8>)>> = batch
        .par_iter_mut()
        .map(|c| {
            let (mut t, bytes) = match c.task.take() {
                Some(t) => t,
                None => {
                    let sites: Vec<_> = c.sites.iter().collect();
                    zonal.serialized_keyed(&c.chunk_id, &sites, Some(&c.keys), &c.parts)?
                }
            };
            if !interactive {
                return Ok((t, bytes));
            }
            // The `table:computeFeatures` body made from the export body.
            let internal =
                |e: String| Error::Internal(format!("internal error: cannot make the interactive request: {e}"));
            let export: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| internal(e.to_string()))?;
            let body = crate::plan::interactive::compute_body(
                &export,
                p.interactive.page_size,
                p.export.workload_tag.as_deref(),
            )
            .map_err(|e| internal(e.to_string()))?;
            let bytes = serde_json::to_vec(&body).map_err(|e| internal(e.to_string()))?;
            t.body_bytes = bytes.len();
            Ok((t, bytes))
        })
        .collect();
    batch.clear();
    for b in built {
        let (t, bytes) = b?;
        tally.tasks += 1;
        tally.sites += t.site_ids.len();
        tally.total += t.body_bytes;
        if t.body_bytes > tally.largest {
            tally.largest = t.body_bytes;
            tally.largest_chunk = Some(t.chunk_id.clone());
        }
        tally.endpoint = Some(t.endpoint);
        if let Some(o) = out.as_mut() {
            o.add(&t, &bytes).map_err(|e| Error::Environment(format!("cannot write the plan: {e}")))?;
        }
    }
    Ok(())
}

/// `geepipe plan` through the store (see the module doc).
pub fn run(g: &Global, a: &PlanArgs, p: &Pipeline, warnings: Vec<Diagnostic>) -> error::Result {
    let with_warnings = |d: Vec<Diagnostic>| Error::Diagnostics([warnings.clone(), d].concat());
    let zonal = super::incremental::zonal(p, None).map_err(with_warnings)?;
    let jpath = crate::journal::Journal::default_path(p);
    let spath = super::incremental::store_path(&jpath);
    let store = Store::open_existing(&spath).map_err(store_error)?;
    let binding = match &store {
        Some(s) => Some(s.bind(&zonal.model, false).map_err(store_error)?),
        None => None,
    };
    let out_error = |dir: &Path, e: std::io::Error| {
        Error::Environment(format!("cannot write the plan into `{}`: {e}", dir.display()))
    };
    let (zonal, decision) =
        super::incremental::decide(zonal, store.as_ref(), binding.as_ref()).map_err(|e| match e {
            Error::Diagnostics(d) => with_warnings(d),
            e => e,
        })?;
    let interactive = decision.mode == RunMode::Interactive;
    let mut out = match &a.out {
        Some(dir) => {
            let earlier = super::plan::earlier_plan_files(dir)?;
            Some(PlanOut::new(dir, earlier, decision.mode).map_err(|e| out_error(dir, e))?)
        }
        None => None,
    };
    let mut tally = Tally::default();
    let mut batch = Vec::with_capacity(BATCH);
    let streamed =
        stream::plan_sites(&zonal, super::incremental::lookup(store.as_ref(), binding.as_ref(), &zonal), |c| {
            batch.push(c);
            if batch.len() >= BATCH {
                build_batch(&zonal, interactive, &mut batch, &mut tally, &mut out)?;
            }
            Ok(())
        });
    let (counts, site_warnings) = streamed.map_err(|e| match stream_error(e) {
        Error::Diagnostics(d) => with_warnings(d),
        e => e,
    })?;
    build_batch(&zonal, interactive, &mut batch, &mut tally, &mut out)?;
    let why = super::incremental::explanations(store.as_ref(), binding.as_ref(), &zonal, &counts);
    let mut all_warnings = warnings;
    all_warnings.extend(site_warnings);
    let mut years: Vec<i32> = p.layers.iter().flat_map(|l| l.years.iter().copied()).collect();
    years.sort_unstable();
    years.dedup();
    let columns = crate::plan::columns(p);
    let summary = Summary {
        pipeline: p.name.clone(),
        content_hash: p.content_hash.clone(),
        tasks: tally.tasks,
        sites: Some(counts.sites as usize),
        layers: p.layers.len(),
        years,
        layer_years: p.layers.iter().map(|l| l.years.len()).sum(),
        columns: columns.len(),
        largest_request_bytes: tally.largest,
        largest_request_chunk: tally.largest_chunk.clone(),
        total_request_bytes: tally.total,
        warnings: all_warnings.iter().map(|d| d.count).sum(),
        cells: Some(counts.clone()),
    };
    g.report(&all_warnings);
    if let Some(o) = out {
        let dir = a.out.as_deref().unwrap_or(Path::new("."));
        o.finish(&summary, &decision, &columns).map_err(|e| out_error(dir, e))?;
    }
    if a.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            summary: &'a Summary,
            mode: &'a crate::plan::Decision,
        }
        let s = serde_json::to_string_pretty(&Json { summary: &summary, mode: &decision })
            .map_err(|e| Error::Internal(e.to_string()))?;
        println!("{s}");
        return Ok(exit::OK);
    }
    let plan = Plan { tasks: Vec::new(), columns, warnings: Vec::new(), summary };
    print!("{}", super::plan::render_summary(&plan, p, &decision));
    super::incremental::print_counts(g, &counts, &why, true);
    if let Some(dir) = &a.out {
        println!("wrote {} request bodies and plan.json into {}", tally.tasks, dir.display());
    }
    let _ = tally.sites;
    Ok(exit::OK)
}
