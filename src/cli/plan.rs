//! `geepipe plan`: the requests a pipeline would send, summarised or written out. Nothing is sent.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::Global;
use crate::error::{self, Error};
use crate::exit;
use crate::plan::{Plan, Planner};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Write every request body as JSON into this folder (`<chunk_id>.json`, plus `plan.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the plan summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &Global, a: PlanArgs) -> error::Result {
    // The site file is read once, by the planner (which reports its problems like `validate` does),
    // instead of once to validate and once more to plan.
    let (pipeline, warnings) = crate::pipeline::load(&a.file, &g.overrides()).map_err(Error::Diagnostics)?;
    let planner = Planner::new(&pipeline).map_err(|diags| Error::Diagnostics([warnings.clone(), diags].concat()))?;
    let (plan, bodies) = planner.plan_serialized();
    let plan = plan.with_earlier_warnings(warnings);
    g.report(&plan.warnings);
    if let Some(dir) = &a.out {
        write_out(dir, &plan, &bodies)
            .map_err(|e| Error::Environment(format!("cannot write the plan into `{}`: {e}", dir.display())))?;
    }
    if a.json {
        let s =
            serde_json::to_string_pretty(&plan.summary).map_err(|e| Error::Internal(format!("internal error: {e}")))?;
        println!("{s}");
    } else {
        print!("{}", render_summary(&plan, &pipeline));
        if let Some(dir) = &a.out {
            println!("wrote {} request bodies and plan.json into {}", plan.tasks.len(), dir.display());
        }
    }
    Ok(exit::OK)
}

fn render_summary(plan: &Plan, pipeline: &crate::pipeline::Pipeline) -> String {
    let s = &plan.summary;
    let mut out = String::new();
    out.push_str(&format!("plan for `{}` (nothing is sent)\n", s.pipeline));
    let endpoint = plan.tasks.first().map(|t| t.endpoint.path()).unwrap_or("table:export");
    out.push_str(&format!("  tasks:            {} ({endpoint})\n", s.tasks));
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

/// Writes `<chunk_id>.json` for every task and then `plan.json`, each through a temporary file renamed into
/// place, so no file is ever half written.
fn write_out(dir: &Path, plan: &Plan, bodies: &[Vec<u8>]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.write_all(b"\n")?;
        tmp.persist(dir.join(name)).map_err(|e| e.error)?;
        Ok(())
    };
    let mut index = Vec::new();
    for (t, body) in plan.tasks.iter().zip(bodies) {
        let file = format!("{}.json", t.chunk_id);
        write(&file, body)?;
        index.push(serde_json::json!({
            "chunk_id": t.chunk_id,
            "file": file,
            "request_id": t.request_id,
            "endpoint": t.endpoint.path(),
            "description": t.description,
            "site_ids": t.site_ids,
            "body_bytes": t.body_bytes,
            "target": t.target,
        }));
    }
    let doc = serde_json::json!({
        "summary": plan.summary,
        "columns": plan.columns,
        "tasks": index,
    });
    write("plan.json", &serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?)
}
