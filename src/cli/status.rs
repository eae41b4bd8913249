//! `geepipe status`: every chunk of a pipeline's journal, read without a lock (safe during a run): state,
//! attempts, run time, EECU, and for runs with interactive chunks their mode and request count; the journal's
//! mode and why. `--json` prints the same as JSON. A journal without a plan (a run that stopped before planning)
//! is reported as nothing submitted (exit 4); a local-engine pipeline has no journal: its last run is read from
//! the manifest beside its table ([`super::local::status`]).

use std::path::PathBuf;

use clap::Args;

use super::connect::ExecArgs;
use super::run::{journal_error, journal_path};
use super::Global;
use crate::error::{self, Error};
use crate::executor::{self, TaskStatus};
use crate::exit;
use crate::journal::{Journal, JournalError};
use crate::plan::RunMode;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

pub fn status(g: &Global, a: StatusArgs) -> error::Result {
    let p = g.load_pipeline(&a.file)?;
    if p.engine == crate::pipeline::Engine::Local {
        return super::local::status(g, &p, &a.file, a.json);
    }
    let jpath = journal_path(&p, &a.exec);
    let j = Journal::open_read(&jpath).map_err(|e| journal_error(e, &a.file))?;
    let rows = j.chunks_slim().map_err(|e| journal_error(e, &a.file))?;
    if rows.is_empty() && !j.has_plan().map_err(|e| journal_error(e, &a.file))? {
        // A run holding the journal that has not planned yet, or one that stopped before planning.
        let Some(pid) = Journal::holder(&jpath) else {
            return Err(journal_error(JournalError::NothingSubmitted(jpath), &a.file));
        };
        if a.json {
            let v = serde_json::json!({"pipeline": p.name, "journal": jpath, "starting_run_pid": pid, "chunks": []});
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            println!("a geepipe run (pid {pid}) is starting on {}: nothing is submitted yet", jpath.display());
        }
        return Ok(exit::OK);
    }
    let stale = j.meta("content_hash").ok().flatten().is_some_and(|h| h != p.content_hash);
    let tasks: Vec<TaskStatus> = rows.iter().map(TaskStatus::from_row).collect();
    let counts = executor::Counts::of(tasks.iter().map(|t| t.state));
    // Pipelines run through the results store: what the table needs, stored and to compute, per layer.
    let cells = super::incremental::applies_to(&p, &jpath).then(|| {
        super::incremental::zonal(&p, None)
            .map_err(Error::Diagnostics)
            .and_then(|z| super::incremental::count(&z, &super::incremental::store_path(&jpath)))
    });
    let mode = j.meta("mode").ok().flatten();
    let mode_reason = j.meta("mode_reason").ok().flatten();
    if a.json {
        let mut v = serde_json::json!({
            "pipeline": p.name,
            "journal": jpath,
            "pipeline_changed": stale,
            "mode": mode,
            "mode_reason": mode_reason,
            "counts": counts,
            "chunks": tasks,
        });
        if let Some(Ok((c, why))) = &cells {
            v["cells"] = serde_json::to_value(c).unwrap_or_default();
            v["cells_not_used"] = serde_json::to_value(why).unwrap_or_default();
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(exit::OK);
    }
    if stale && !g.quiet {
        eprintln!("warning: the pipeline changed since this journal was written (run with --restart to start anew)");
    }
    // Runs with interactive chunks show how each chunk is computed and the requests it took.
    let interactive = tasks.iter().any(|t| t.mode == RunMode::Interactive);
    let fmt_f = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    let mut header = vec!["chunk", "sites", "state", "attempts", "runtime", "EECU"];
    if interactive {
        header.extend(["mode", "requests"]);
    }
    header.push("error");
    let mut lines: Vec<Vec<String>> = vec![header.into_iter().map(String::from).collect()];
    for t in &tasks {
        let mut l = vec![
            t.chunk.clone(),
            t.sites.to_string(),
            t.state.to_string(),
            t.attempts.to_string(),
            fmt_f(t.runtime_s, &|s| format!("{s:.0}s")),
            fmt_f(t.eecu_s, &|s| format!("{s:.1}")),
        ];
        if interactive {
            l.push(t.mode.as_str().to_string());
            l.push(if t.mode == RunMode::Interactive { t.requests.to_string() } else { "-".into() });
        }
        l.push(t.error.clone().map(|e| e.replace('\n', " ")).unwrap_or_default());
        lines.push(l);
    }
    let n = lines[0].len();
    let widths: Vec<usize> = (0..n).map(|k| lines.iter().map(|l| l[k].chars().count()).max().unwrap_or(0)).collect();
    for l in &lines {
        let mut s = String::new();
        for k in 0..n {
            if k == n - 1 {
                s.push_str(&l[k]);
            } else {
                s.push_str(&format!("{:<w$}  ", l[k], w = widths[k]));
            }
        }
        println!("{}", s.trim_end());
    }
    if interactive {
        if let Some(m) = &mode {
            println!("mode: {m}{}", mode_reason.map(|r| format!(" ({r})")).unwrap_or_default());
        }
    }
    // The cells before the summary line, which stays last.
    match cells {
        Some(Ok((c, why))) => super::incremental::print_counts(g, &c, why.as_slice(), true),
        Some(Err(Error::Diagnostics(d))) => {
            let first = d.iter().find(|d| d.is_error()).map(|d| d.message.as_str()).unwrap_or_default();
            eprintln!("warning: cannot count the stored cells: {first}")
        }
        Some(Err(e)) => eprintln!("warning: cannot count the stored cells: {e}"),
        None => {}
    }
    println!(
        "{} chunks: {} succeeded, {} failed, {} running, {} pending, {} not submitted{}",
        counts.total,
        counts.succeeded,
        counts.failed,
        counts.running,
        counts.pending + counts.submitting,
        counts.planned,
        if counts.cancelled > 0 { format!(", {} cancelled", counts.cancelled) } else { String::new() }
    );
    Ok(exit::OK)
}
