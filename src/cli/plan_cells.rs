//! `geepipe plan` of a pipeline run through the results store: only the cells the store lacks are planned,
//! as a stream over the site file, in the mode the run would use (decided from those cells; interactive
//! plans write `table:computeFeatures` bodies with `--out`). Bodies are built a batch of chunks at a time
//! (in parallel), measured, written with `--out` and dropped, so memory does not grow with the number of
//! sites. With `--out` the
//! bodies go to a temporary folder beside `DIR` and are moved into it at the end: a problem found late in
//! the site file leaves `DIR` as it was. An earlier plan in `DIR` is replaced as by `geepipe plan --out`
//! ([`super::plan`]): its bodies the new plan lacks are removed, other files kept, a foreign folder refused.

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
use crate::plan::{Plan, RunMode, Summary, Tally, Task};
use crate::store::Store;

/// Chunks whose bodies are built together.
const BATCH: usize = 64;

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
        tally.add(&t.chunk_id, t.body_bytes);
        if let Some(o) = out.as_mut() {
            o.add(&t, &bytes)?;
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
    let (zonal, decision) =
        super::incremental::decide(zonal, store.as_ref(), binding.as_ref()).map_err(|e| match e {
            Error::Diagnostics(d) => with_warnings(d),
            e => e,
        })?;
    let interactive = decision.mode == RunMode::Interactive;
    let mut out = a.out.as_deref().map(|dir| PlanOut::open(dir, decision.mode)).transpose()?;
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
    let columns = crate::plan::columns(p);
    let summary = Summary {
        cells: Some(counts.clone()),
        ..Summary::of(p, &tally, Some(counts.sites as usize), columns.len(), &all_warnings)
    };
    g.report(&all_warnings);
    if let Some(o) = out {
        o.finish(&summary, &decision, &columns)?;
    }
    if a.json {
        super::plan::print_json(&summary, &decision)?;
        return Ok(exit::OK);
    }
    let plan = Plan { tasks: Vec::new(), columns, warnings: Vec::new(), summary };
    print!("{}", super::plan::render_summary(&plan, p, &decision));
    super::incremental::print_counts(g, &counts, &why, true);
    if let Some(dir) = &a.out {
        println!("wrote {} request bodies and plan.json into {}", tally.tasks, dir.display());
    }
    Ok(exit::OK)
}
