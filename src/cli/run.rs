//! `geepipe run`, `status`, `wait`, `cancel`: driving the executor and reading the journal.
//!
//! `run` plans (or takes the plan frozen in the journal), probes a fresh plan ([`crate::probe`]; a failed
//! probe refuses with exit 4 before any task exists, `--no-probe` skips it), submits, watches and then
//! fetches; `wait` resumes
//! the same journal without re-planning and without fetching; `status` only reads the journal (safe during a
//! run); `cancel` cancels every live task. Ctrl-C leaves submitted tasks running and the journal consistent.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Args;

use super::connect::{client, runtime, ExecArgs};
use super::{Global, RunArgs};
use crate::executor::{self, ExecError, Executor, JsonLines, Outcome, Progress, Settings, Stop, TaskStatus};
use crate::exit;
use crate::journal::{Journal, JournalError};
use crate::pipeline::Pipeline;
use crate::plan::probe::ProbeCall;
use crate::plan::{ChunkPlanner, Task};

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

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Give up after this many seconds (exit code 3).
    #[arg(long)]
    pub timeout: Option<u64>,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Pipeline file.
    pub file: PathBuf,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// The error type of planning, as `build_plan` reports it.
pub type PlanError = String;

/// PLANNER HOOK: plans a pipeline into its tasks and a [`ChunkPlanner`] for splitting chunks.
/// Wired to `plan::Planner` at merge:
/// `let p = Planner::new(pipeline)?; let tasks = p.plan().tasks; Ok((tasks, Arc::new(p)))`.
pub fn build_plan(pipeline: &Pipeline) -> Result<(Vec<Task>, Arc<dyn ChunkPlanner>), PlanError> {
    // The planner's problems (a site too big for one request, …) are located diagnostics: render them.
    let planner = crate::plan::Planner::new(pipeline)
        .map_err(|diags| crate::diag::render_all(&diags, crate::diag::RenderOptions::default()))?;
    let tasks = planner.plan().tasks;
    Ok((tasks, Arc::new(planner)))
}

/// FETCH HOOK: what `run` does after every chunk succeeded (unless `--no-fetch`). Returns an exit code.
fn fetch_results(g: &Global, file: &Path, journal: Option<PathBuf>) -> i32 {
    super::results::fetch(
        g,
        super::results::FetchArgs { file: file.to_path_buf(), output: None, partial: false, journal },
    )
}

/// A planner made on first use (a resume with a frozen plan needs one only to split a chunk).
struct LazyPlanner {
    pipeline: Pipeline,
    inner: OnceLock<Result<Arc<dyn ChunkPlanner>, PlanError>>,
}

impl ChunkPlanner for LazyPlanner {
    fn task(&self, chunk_id: &str, site_ids: &[String]) -> anyhow::Result<Task> {
        match self.inner.get_or_init(|| build_plan(&self.pipeline).map(|(_, p)| p)) {
            Ok(p) => p.task(chunk_id, site_ids),
            Err(e) => Err(anyhow::anyhow!("{e}")),
        }
    }
}

fn journal_path(p: &Pipeline, a: &ExecArgs) -> PathBuf {
    a.journal.clone().unwrap_or_else(|| Journal::default_path(p))
}

fn journal_error(e: &JournalError, file: &Path) -> i32 {
    match e {
        JournalError::Changed { path, .. } => eprintln!(
            "error: {}",
            JournalError::Changed { path: path.clone(), pipeline_file: file.display().to_string() }
        ),
        e => eprintln!("error: {e}"),
    }
    exit::ENVIRONMENT
}

/// Runs the future `make(stop)` builds on a fresh runtime with Ctrl-C wired to `stop`: the first Ctrl-C
/// triggers it (requests in flight are dropped, the command winds down and reports), a second exits at
/// once. Shutdown waits at most a second for stray work (a hung connection or DNS lookup never keeps
/// the process alive after its answer).
fn with_runtime<T, F: std::future::Future<Output = T>>(make: impl FnOnce(Stop) -> F) -> T {
    let rt = runtime();
    let stop = Stop::new();
    let s = stop.clone();
    let out = rt.block_on(async move {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                s.trigger();
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("interrupted again: exiting now (the journal is consistent; rerun to resume)");
                    std::process::exit(exit::INTERRUPTED);
                }
            }
        });
        make(stop).await
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    out
}

/// Journal key a `geepipe cancel` writes (its pid) before it asks the running `geepipe run` to stop.
const CANCEL_REQUEST: &str = "cancel_requested_by";

/// Whether `geepipe cancel` asked the run on this journal to stop (the pid of that cancel).
fn cancel_requested(journal: &Path) -> Option<String> {
    let j = Journal::open_read(journal).ok()?;
    j.meta(CANCEL_REQUEST).ok().flatten().filter(|v| !v.is_empty())
}

/// `geepipe cancel` while a `geepipe run` (or `wait`) holds the journal: records the request in the
/// journal, sends that process an interrupt (its pid is in the lock file) and waits for the lock, so the
/// user need not find the other terminal. The run stops at once, even inside a hanging request.
fn take_over(jpath: &Path, p: &Pipeline, pid: Option<u32>, quiet: bool) -> Result<Journal, i32> {
    const WAIT: Duration = Duration::from_secs(60);
    let Some(pid) = pid else {
        eprintln!("error: the journal {} is in use by another geepipe run of unknown pid", jpath.display());
        return Err(exit::ENVIRONMENT);
    };
    if let Ok(j) = Journal::open_read(jpath) {
        let _ = j.set_meta(CANCEL_REQUEST, &std::process::id().to_string());
    }
    if !quiet {
        eprintln!("a running geepipe (pid {pid}) holds the journal: asking it to stop, then cancelling…");
    }
    #[cfg(unix)]
    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
    let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) } == 0;
    #[cfg(not(unix))]
    let sent = false;
    let start = Instant::now();
    loop {
        match Journal::open(jpath, &p.name, &p.content_hash) {
            Ok(j) => return Ok(j),
            Err(JournalError::Locked { .. }) if sent && start.elapsed() < WAIT => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(JournalError::Locked { .. }) => {
                eprintln!(
                    "error: the geepipe run with pid {pid} did not stop{}; stop it (Ctrl-C in its terminal, or \
                     `kill -INT {pid}`), then run `geepipe cancel` again",
                    if sent { format!(" within {} s", WAIT.as_secs()) } else { String::new() }
                );
                return Err(exit::ENVIRONMENT);
            }
            Err(e) => return Err(journal_error(&e, &p.source)),
        }
    }
}

fn settings(p: &Pipeline, a: &ExecArgs) -> Settings {
    let poll_min = Duration::from_secs_f64(a.poll_min.max(0.001));
    Settings {
        max_concurrent: p.chunks.max_concurrent.max(1),
        poll_min,
        poll_max: Duration::from_secs_f64(a.poll_max.max(a.poll_min).max(0.001)),
        ..Settings::default()
    }
}

/// Drives one executor run to an [`Outcome`]: the probe first (when given; a failed probe refuses with
/// exit 4 before anything is submitted), Ctrl-C handling, observers, error messages.
#[allow(clippy::too_many_arguments)]
fn drive(
    g: &Global,
    p: &Pipeline,
    a: &ExecArgs,
    journal: Journal,
    tasks: Option<Vec<Task>>,
    planner: Arc<dyn ChunkPlanner>,
    settings: Settings,
    probe: Option<ProbeCall>,
) -> Result<Outcome, i32> {
    with_runtime(|stop| async move {
        let client = tokio::select! {
            c = client(p, a) => c?,
            _ = stop.wait() => {
                eprintln!("interrupted before anything was sent");
                return Err(exit::INTERRUPTED);
            }
        };
        if let Some(call) = &probe {
            let probed = tokio::select! {
                r = crate::probe::run(&client, call) => r,
                _ = stop.wait() => {
                    eprintln!("interrupted before anything was sent");
                    return Err(exit::INTERRUPTED);
                }
            };
            match probed {
                Ok(report) if report.passed() => {
                    if g.verbose > 0 {
                        eprint!("{}", report.render());
                    }
                }
                Ok(report) => return Err(super::probe::refusal(&report, true)),
                Err(e) => {
                    eprintln!("error: the probe could not reach Earth Engine: {e}");
                    return Err(exit::ENVIRONMENT);
                }
            }
        }
        let mut ex = Executor::new(client, journal, tasks, planner, settings).map_err(|e| exec_error(&e))?;
        if !g.quiet {
            use std::io::IsTerminal;
            let every = Duration::from_secs(if std::io::stderr().is_terminal() { 1 } else { 30 });
            ex.observe(Box::new(Progress::new(std::io::stderr().is_terminal(), every)));
        }
        if let Some(path) = &a.events {
            match JsonLines::create(path) {
                Ok(j) => ex.observe(Box::new(j)),
                Err(e) => {
                    eprintln!("error: cannot write events to {}: {e}", path.display());
                    return Err(exit::ENVIRONMENT);
                }
            }
        }
        ex.run(stop).await.map_err(|e| exec_error(&e))
    })
}

fn exec_error(e: &ExecError) -> i32 {
    eprintln!("error: {e}");
    exit::ENVIRONMENT
}

/// Prints how a run ended and returns its exit code.
fn report(g: &Global, o: &Outcome, file: &Path, journal: &Path) -> i32 {
    let c = &o.counts;
    let f = file.display();
    if o.interrupted && cancel_requested(journal).is_some() {
        eprintln!(
            "stopped: `geepipe cancel` asked this run to stop and cancels its tasks ({} of {} chunks were done)",
            c.done(),
            c.total
        );
        return o.exit_code();
    }
    if o.interrupted || o.timed_out {
        eprintln!(
            "{}: {} of {} chunks done; {} submitted tasks keep running on Earth Engine.\n\
             Resume with:  geepipe run {f}   (or watch with: geepipe wait {f}; journal: {})",
            if o.interrupted { "interrupted" } else { "timed out" },
            c.done(),
            c.total,
            c.pending + c.running + c.submitting,
            journal.display()
        );
        return o.exit_code();
    }
    if o.detached {
        if !g.quiet {
            eprintln!(
                "submitted: {} tasks on Earth Engine, {} chunks waiting for a slot.\n\
                 Continue with:  geepipe wait {f}   (status: geepipe status {f})",
                c.pending + c.running + c.submitting,
                c.planned
            );
        }
        return o.exit_code();
    }
    if let Some(fatal) = &o.fatal {
        eprintln!("error: stopped submitting after a failure every chunk would share: {fatal}");
    }
    if !g.quiet || o.exit_code() != exit::OK {
        eprintln!(
            "{} chunks: {} succeeded, {} failed{}{} (details: geepipe status {f})",
            c.total,
            c.succeeded,
            c.failed,
            if c.cancelled > 0 { format!(", {} cancelled", c.cancelled) } else { String::new() },
            if o.remaining() > 0 { format!(", {} not done", o.remaining()) } else { String::new() },
        );
    }
    o.exit_code()
}

/// `geepipe run` of an Earth Engine pipeline (see [`super::run_command`] for the engine choice).
pub fn run(g: &Global, p: Pipeline, a: RunArgs) -> i32 {
    let jpath = journal_path(&p, &a.exec);
    if a.restart {
        match Journal::move_aside(&jpath) {
            Ok(Some(to)) => eprintln!("moved the old journal to {}", to.display()),
            Ok(None) => {}
            Err(e) => return journal_error(&e, &a.file),
        }
    }
    let journal = match Journal::open(&jpath, &p.name, &p.content_hash) {
        Ok(j) => j,
        Err(e) => return journal_error(&e, &a.file),
    };
    // A cancel request left by a `geepipe cancel` that died is not meant for this run.
    let _ = journal.set_meta(CANCEL_REQUEST, "");
    let planned = match journal.has_plan() {
        Ok(b) => b,
        Err(e) => return journal_error(&e, &a.file),
    };
    // A fresh plan is probed before any batch task exists; a resumed one was probed when it started.
    let (tasks, planner, probe): (Option<Vec<Task>>, Arc<dyn ChunkPlanner>, Option<ProbeCall>) = if planned {
        (None, Arc::new(LazyPlanner { pipeline: p.clone(), inner: OnceLock::new() }), None)
    } else {
        match crate::plan::Planner::new(&p) {
            Ok(pl) => {
                let probe = if a.no_probe {
                    None
                } else {
                    match pl.probe_call(crate::probe::SITES) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            eprintln!("error: cannot build the probe: {e}");
                            return exit::INVALID_INPUT;
                        }
                    }
                };
                (Some(pl.plan().tasks), Arc::new(pl), probe)
            }
            Err(diags) => {
                eprint!("{}", crate::diag::render_all(&diags, crate::diag::RenderOptions::default()));
                return exit::INVALID_INPUT;
            }
        }
    };
    let settings = Settings { detach: a.detach, ..settings(&p, &a.exec) };
    let outcome = match drive(g, &p, &a.exec, journal, tasks, planner, settings, probe) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let code = report(g, &outcome, &a.file, &jpath);
    if code == exit::OK && !outcome.detached && !a.no_fetch {
        return fetch_results(g, &a.file, a.exec.journal.clone());
    }
    code
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
    if a.json {
        let v = serde_json::json!({
            "pipeline": p.name,
            "journal": jpath,
            "pipeline_changed": stale,
            "counts": counts,
            "chunks": tasks,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return exit::OK;
    }
    if stale {
        eprintln!("warning: the pipeline changed since this journal was written (run with --restart to start anew)");
    }
    let fmt_f = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    let mut lines = vec![["chunk", "sites", "state", "attempts", "runtime", "EECU", "error"].map(String::from)];
    for t in &tasks {
        lines.push([
            t.chunk.clone(),
            t.sites.to_string(),
            t.state.to_string(),
            t.attempts.to_string(),
            fmt_f(t.runtime_s, &|s| format!("{s:.0}s")),
            fmt_f(t.eecu_s, &|s| format!("{s:.1}")),
            t.error.clone().map(|e| e.replace('\n', " ")).unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..7).map(|k| lines.iter().map(|l| l[k].chars().count()).max().unwrap_or(0)).collect();
    for l in &lines {
        let mut s = String::new();
        for k in 0..7 {
            if k == 6 {
                s.push_str(&l[k]);
            } else {
                s.push_str(&format!("{:<w$}  ", l[k], w = widths[k]));
            }
        }
        println!("{}", s.trim_end());
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

pub fn wait(g: &Global, a: WaitArgs) -> i32 {
    let p = match g.load_pipeline(&a.file) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let jpath = journal_path(&p, &a.exec);
    if !jpath.exists() {
        return journal_error(&JournalError::Missing(jpath), &a.file);
    }
    let journal = match Journal::open(&jpath, &p.name, &p.content_hash) {
        Ok(j) => j,
        Err(e) => return journal_error(&e, &a.file),
    };
    // A cancel request left by a `geepipe cancel` that died is not meant for this run.
    let _ = journal.set_meta(CANCEL_REQUEST, "");
    let planner: Arc<dyn ChunkPlanner> = Arc::new(LazyPlanner { pipeline: p.clone(), inner: OnceLock::new() });
    let settings = Settings {
        // A timeout past what a clock can hold is no timeout.
        deadline: a.timeout.and_then(|s| Instant::now().checked_add(Duration::from_secs(s))),
        retry_finished_failures: false,
        ..settings(&p, &a.exec)
    };
    match drive(g, &p, &a.exec, journal, None, planner, settings, None) {
        Ok(o) => report(g, &o, &a.file, &jpath),
        Err(c) => c,
    }
}

pub fn cancel(g: &Global, a: CancelArgs) -> i32 {
    let p = match g.load_pipeline(&a.file) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let jpath = journal_path(&p, &a.exec);
    if !jpath.exists() {
        return journal_error(&JournalError::Missing(jpath), &a.file);
    }
    let mut journal = match Journal::open(&jpath, &p.name, &p.content_hash) {
        Ok(j) => j,
        Err(JournalError::Locked { pid, .. }) => match take_over(&jpath, &p, pid, g.quiet) {
            Ok(j) => j,
            Err(code) => return code,
        },
        Err(e) => return journal_error(&e, &a.file),
    };
    let code = with_runtime(|stop| async move {
        let client = tokio::select! {
            c = client(&p, &a.exec) => match c {
                Ok(c) => c,
                Err(code) => return code,
            },
            _ = stop.wait() => return exit::INTERRUPTED,
        };
        let report = tokio::select! {
            r = executor::cancel_all(&client, &mut journal) => r,
            _ = stop.wait() => {
                eprintln!("interrupted: some tasks may still run; run `geepipe cancel` again");
                return exit::INTERRUPTED;
            }
        };
        match report {
            Ok(r) => {
                if !g.quiet {
                    let mut line = format!(
                        "cancelled {} tasks; {} chunks that were never submitted marked cancelled",
                        r.cancelled, r.unsent
                    );
                    if r.finished > 0 {
                        line.push_str(&format!(
                            "; {} tasks had already finished (kept as succeeded or failed, not run again)",
                            r.finished
                        ));
                    }
                    eprintln!("{line}");
                }
                for e in &r.errors {
                    eprintln!("error: could not cancel {e}");
                }
                let _ = journal.set_meta(CANCEL_REQUEST, "");
                if r.errors.is_empty() {
                    exit::OK
                } else {
                    exit::ENVIRONMENT
                }
            }
            Err(e) => exec_error(&e),
        }
    });
    code
}
