//! `geepipe plan`: the requests a pipeline would send, summarised or written out, and which mode (interactive
//! or batch) a run would use and why. Nothing is sent. In interactive mode `--out` writes each chunk's
//! `table:computeFeatures` body, made from its export body ([`crate::plan::interactive`]). `--out` into the folder
//! of an earlier plan replaces it (bodies the new plan does not have are removed); a folder holding other files
//! and no `plan.json` is refused, and files geepipe did not write are never touched.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

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
        let earlier = earlier_plan_files(dir)?;
        write_out(dir, &plan, &bodies, &decision, &earlier)
            .map_err(|e| Error::Environment(format!("cannot write the plan into `{}`: {e}", dir.display())))?;
    }
    if a.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            summary: &'a crate::plan::Summary,
            mode: &'a Decision,
        }
        let s = serde_json::to_string_pretty(&Out { summary: &plan.summary, mode: &decision })
            .map_err(|e| Error::Internal(format!("internal error: {e}")))?;
        println!("{s}");
    } else {
        print!("{}", render_summary(&plan, &pipeline, &decision));
        if let Some(dir) = &a.out {
            println!("wrote {} request bodies and plan.json into {}", plan.tasks.len(), dir.display());
        }
    }
    Ok(exit::OK)
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

/// The files an earlier `geepipe plan --out` wrote into `dir` (`plan.json` and the bodies it lists), or an
/// error when `dir` is not empty and holds no geepipe plan: files geepipe did not write are never replaced
/// or removed.
pub(super) fn earlier_plan_files(dir: &Path) -> error::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e.filter_map(|e| e.ok()).count(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Environment(format!("cannot read `{}`: {e}", dir.display()))),
    };
    if entries == 0 {
        return Ok(Vec::new());
    }
    let index =
        std::fs::read(dir.join("plan.json")).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(tasks) = index.as_ref().and_then(|v| v.get("tasks")).and_then(|t| t.as_array()) else {
        return Err(Error::Input(format!(
            "`{}` is not empty and holds no geepipe plan (`plan.json`): refusing to write request bodies among \
             other files\nhelp: pass a new or empty folder to --out (or the folder of an earlier `geepipe plan \
             --out`, which is replaced)",
            dir.display()
        )));
    };
    // Only plain `<name>.json` file names: an index edited by hand never makes geepipe touch other paths.
    let own = |f: &str| {
        f.ends_with(".json")
            && f != "plan.json"
            && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            && !f.starts_with('.')
    };
    Ok(tasks.iter().filter_map(|t| t.get("file")?.as_str()).filter(|f| own(f)).map(str::to_string).collect())
}

/// Writes `<chunk_id>.json` for every task and then `plan.json`, each through a temporary file renamed into
/// place, so no file is ever half written; then removes the bodies of an earlier plan (`earlier`) that this
/// one does not have, so the folder holds exactly this plan (and any file geepipe did not write).
fn write_out(
    dir: &Path,
    plan: &Plan,
    bodies: &[Vec<u8>],
    decision: &Decision,
    earlier: &[String],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut tmp = crate::results::atomic::temp_file_in(dir, ".plan.")?;
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
            "endpoint": if decision.mode == RunMode::Interactive { "table:computeFeatures" } else { t.endpoint.path() },
            "description": t.description,
            "site_ids": t.site_ids,
            "body_bytes": body.len(),
            "target": t.target,
        }));
    }
    let doc = serde_json::json!({
        "summary": plan.summary,
        "mode": decision,
        "columns": plan.columns,
        "tasks": index,
    });
    write("plan.json", &serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?)?;
    let current: std::collections::HashSet<&str> = plan.tasks.iter().map(|t| t.chunk_id.as_str()).collect();
    for stale in earlier.iter().filter(|f| !current.contains(f.trim_end_matches(".json"))) {
        match std::fs::remove_file(dir.join(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
