//! `geepipe status`: every chunk of a pipeline's journal, read without a lock (safe during a run): state,
//! attempts, run time, EECU, and for runs with interactive chunks their mode and request count; the journal's
//! mode and why. `--json` prints the same as JSON.

use std::path::PathBuf;

use clap::Args;

use super::run::{journal_error, journal_path, ExecArgs};
use super::Global;
use crate::executor::{self, TaskStatus};
use crate::exit;
use crate::journal::Journal;
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

pub fn status(g: &Global, a: StatusArgs) -> i32 {
    let p = match g.load_pipeline(&a.file) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let jpath = journal_path(&p, &a.exec);
    let j = match Journal::open_read(&jpath) {
        Ok(j) => j,
        Err(e) => return journal_error(&e, &a.file),
    };
    let rows = match j.chunks() {
        Ok(r) => r,
        Err(e) => return journal_error(&e, &a.file),
    };
    let stale = j.meta("content_hash").ok().flatten().is_some_and(|h| h != p.content_hash);
    let tasks: Vec<TaskStatus> = rows.iter().map(TaskStatus::from_row).collect();
    let counts = {
        let mut c = executor::Counts::default();
        for t in tasks.iter().filter(|t| t.state != crate::journal::ChunkState::Split) {
            use crate::journal::ChunkState::*;
            c.total += 1;
            match t.state {
                Planned => c.planned += 1,
                Submitting => c.submitting += 1,
                Pending => c.pending += 1,
                Running | Cancelling => c.running += 1,
                Succeeded => c.succeeded += 1,
                Failed => c.failed += 1,
                Cancelled => c.cancelled += 1,
                Split => {}
            }
        }
        c
    };
    let mode = j.meta("mode").ok().flatten();
    let mode_reason = j.meta("mode_reason").ok().flatten();
    if a.json {
        let v = serde_json::json!({
            "pipeline": p.name,
            "journal": jpath,
            "pipeline_changed": stale,
            "mode": mode,
            "mode_reason": mode_reason,
            "counts": counts,
            "chunks": tasks,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return exit::OK;
    }
    if stale {
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
    exit::OK
}
