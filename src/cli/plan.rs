//! `geepipe plan`: the requests a pipeline would send, summarised or written out, and which mode (interactive
//! or batch) a run would use and why. Nothing is sent. In interactive mode `--out` writes each chunk's
//! `table:computeFeatures` body, made from its export body ([`crate::plan::interactive`]). `--out` into the folder
//! of an earlier plan replaces it (bodies the new plan does not have are removed); a folder holding other files
//! and no `plan.json` is refused, and files geepipe did not write are never touched.

use std::path::PathBuf;

use clap::Args;

use super::plan_out::PlanOut;
use super::Global;
use crate::diag::Diagnostic;
use crate::error::{self, Error};
use crate::exit;
use crate::pipeline::Pipeline;
use crate::plan::{Decision, Plan, RunMode};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Write every request body as JSON into this folder (`<chunk_id>.json`, plus `plan.json`): export bodies
    /// in batch mode, `table:computeFeatures` bodies in interactive mode. An earlier plan there is replaced; a
    /// folder with other files and no `plan.json` is refused.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the plan summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `geepipe plan` of a pipeline not run through the results store (see [`super::plan_command`]);
/// `warnings` are the pipeline file's.
pub fn run(g: &Global, a: PlanArgs, pipeline: Pipeline, warnings: Vec<Diagnostic>) -> error::Result {
    if streams_image(&pipeline) {
        return image_exports(g, &a, &pipeline, warnings);
    }
    let (planner, decision) = crate::plan::estimate::sized_planner(&pipeline)
        .map_err(|diags| Error::Diagnostics([warnings.clone(), diags].concat()))?;
    let (plan, mut bodies) = planner.plan_serialized();
    let plan = plan.with_earlier_warnings(warnings);
    g.report(&plan.warnings);
    if decision.mode == RunMode::Interactive {
        for b in bodies.iter_mut() {
            let export: serde_json::Value = serde_json::from_slice(b).unwrap_or_default();
            let body = crate::plan::interactive::compute_body(
                &export,
                pipeline.interactive.page_size,
                pipeline.export.workload_tag.as_deref(),
            );
            *b = body
                .map_err(|e| e.to_string())
                .and_then(|v| serde_json::to_vec(&v).map_err(|e| e.to_string()))
                .map_err(|e| Error::Internal(format!("internal error: cannot make the interactive request: {e}")))?;
        }
    }
    if let Some(dir) = &a.out {
        let mut out = PlanOut::open(dir, decision.mode)?;
        for (t, body) in plan.tasks.iter().zip(&bodies) {
            out.add(t, body)?;
        }
        out.finish(&plan.summary, &decision, &plan.columns)?;
    }
    print_plan(&a, &plan, &pipeline, &decision)
}

/// Prints the plan's summary (as JSON with `--json`).
fn print_plan(a: &PlanArgs, plan: &Plan, pipeline: &Pipeline, decision: &Decision) -> error::Result {
    if a.json {
        print_json(&plan.summary, decision)?;
    } else {
        print!("{}", render_summary(plan, pipeline, decision));
        if let Some(dir) = &a.out {
            println!("wrote {} request bodies and plan.json into {}", plan.summary.tasks, dir.display());
        }
    }
    Ok(exit::OK)
}

/// Prints `--json`'s document: the summary and the mode.
pub(super) fn print_json(summary: &crate::plan::Summary, decision: &Decision) -> error::Result<()> {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        summary: &'a crate::plan::Summary,
        mode: &'a Decision,
    }
    let s = serde_json::to_string_pretty(&Out { summary, mode: decision })
        .map_err(|e| Error::Internal(format!("internal error: {e}")))?;
    println!("{s}");
    Ok(())
}

pub(super) fn render_summary(plan: &Plan, pipeline: &crate::pipeline::Pipeline, decision: &Decision) -> String {
    let s = &plan.summary;
    let mut out = String::new();
    out.push_str(&format!("plan for `{}` (nothing is sent)\n", s.pipeline));
    let why = if decision.auto { format!("auto: {}", decision.reason) } else { decision.reason.clone() };
    out.push_str(&format!("  mode:             {} ({why})\n", decision.mode.as_str()));
    if decision.mode == RunMode::Interactive {
        out.push_str(&format!("  requests:         {} (table:computeFeatures, high-volume endpoint)\n", s.tasks));
    } else {
        let endpoint = plan.tasks.first().map(|t| t.endpoint.path()).unwrap_or("table:export");
        out.push_str(&format!("  tasks:            {} ({endpoint})\n", s.tasks));
    }
    match s.sites {
        Some(n) => out.push_str(&format!("  sites:            {n}\n")),
        None => out.push_str("  sites:            all sites of the table asset\n"),
    }
    let layer_list: Vec<String> =
        pipeline.layers.iter().map(|l| format!("{} ({})", l.name, crate::cli::catalog::years_text(&l.years))).collect();
    out.push_str(&format!("  layers:           {} — {}\n", s.layers, layer_list.join(", ")));
    out.push_str(&format!("  years:            {}\n", crate::cli::catalog::years_text(&s.years)));
    out.push_str(&format!("  layer-years:      {}\n", s.layer_years));
    if pipeline.kind == crate::pipeline::KindName::Zonal {
        out.push_str(&format!("  columns:          {}\n", s.columns));
    }
    match &s.largest_request_chunk {
        Some(c) => out.push_str(&format!("  largest request:  {} bytes ({c})\n", s.largest_request_bytes)),
        None => out.push_str("  largest request:  -\n"),
    }
    out.push_str(&format!("  total requests:   {} bytes\n", s.total_request_bytes));
    out.push_str(&format!("  warnings:         {}\n", s.warnings));
    out
}

/// Whether `p`'s exports are planned as a stream ([`crate::plan::image_stream`]): image exports of a site
/// file on Earth Engine (`per: site`, whose number grows with the sites; `per: region`, whose extent is
/// gathered without holding the sites).
pub(super) fn streams_image(p: &Pipeline) -> bool {
    use crate::pipeline::{Engine, KindName, SiteLocation};
    p.kind == KindName::Image
        && p.engine == Engine::EarthEngine
        && matches!(p.sites.location, SiteLocation::File(_))
        && p.image.is_some()
}

/// `geepipe plan` of image exports, streamed ([`crate::plan::image_stream`]): each body is built,
/// measured, written with `--out` and dropped.
fn image_exports(g: &Global, a: &PlanArgs, p: &Pipeline, warnings: Vec<Diagnostic>) -> error::Result {
    use crate::plan::image_stream::ImageExports;
    let (exports, site_warnings) =
        ImageExports::new(p, &std::env::temp_dir()).map_err(|d| Error::Diagnostics([warnings.clone(), d].concat()))?;
    let decision = crate::plan::estimate::decide(p, None, Some(crate::plan::image::EXPORT_ONLY));
    let mut out = a.out.as_deref().map(|dir| PlanOut::open(dir, decision.mode)).transpose()?;
    let mut all_warnings = [warnings, site_warnings].concat();
    let mut tally = crate::plan::Tally::default();
    let mut first: Option<crate::plan::Task> = None;
    exports.for_each(|(task, bytes, warning)| -> error::Result<()> {
        all_warnings.extend(warning);
        tally.add(&task.chunk_id, task.body_bytes);
        if let Some(o) = out.as_mut() {
            o.add(&task, &bytes)?;
        }
        if first.is_none() {
            first = Some(task);
        }
        Ok(())
    })?;
    let summary = crate::plan::Summary::of(p, &tally, Some(exports.sites()), 0, &all_warnings);
    g.report(&all_warnings);
    if let Some(o) = out {
        o.finish(&summary, &decision, &[])?;
    }
    let plan = Plan { tasks: first.into_iter().collect(), columns: Vec::new(), warnings: Vec::new(), summary };
    print_plan(a, &plan, p, &decision)
}
