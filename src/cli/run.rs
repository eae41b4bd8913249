//! `geepipe run`, `status`, `wait`, `cancel`: driving the executor and reading the journal.
//!
//! `run` plans (or takes the plan frozen in the journal), says which mode it uses and why, computes the
//! interactive chunks and/or submits and watches the batch ones, and then fetches; `wait` resumes the same
//! journal without re-planning and without fetching; `status` only reads the journal (safe during a run);
//! `cancel` cancels every live task, and asks a run in progress to stop sending. Ctrl-C leaves submitted
//! tasks running, drops the interactive requests in flight, and leaves the journal consistent.
//!
//! Endpoints: export tasks go to `GEEPIPE_EE_URL` (default the standard endpoint), interactive requests to
//! `GEEPIPE_EE_HIGHVOLUME_URL`, else `GEEPIPE_EE_URL` (one emulator for both), else the high-volume endpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Args;

use super::Global;
use crate::ee::{self, Auth, Client, ClientConfig};
use crate::executor::{
    self, ExecError, Executor, Interactive, JsonLines, Outcome, Progress, Settings, Stop, TaskStatus,
};
use crate::exit;
use crate::journal::{Journal, JournalError};
use crate::pipeline::model::Engine;
use crate::pipeline::{ModeName, Pipeline};
use crate::plan::{ChunkPlanner, RunMode, Task};
use crate::results::store::Store;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Submit the tasks and exit without waiting.
    #[arg(long)]
    pub detach: bool,
    /// Do not download and merge results at the end.
    #[arg(long)]
    pub no_fetch: bool,
    /// Move the existing journal aside and start anew (needed after the pipeline changed).
    #[arg(long)]
    pub restart: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Longest interval or timeout accepted, in seconds (a week).
const MAX_SECONDS: f64 = 7.0 * 86400.0;

/// Parses a number of seconds for a poll interval or timeout: finite, more than 0, at most a week.
/// (A Duration cannot hold infinity or NaN; `inf` used to panic.)
fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || v <= 0.0 || v > MAX_SECONDS {
        return Err(format!("`{s}` is out of range: give a number of seconds above 0 and at most {MAX_SECONDS}"));
    }
    Ok(v)
}

/// Options shared by `run`, `status`, `wait` and `cancel`.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Journal file (default: `<journal folder>/<pipeline name>.sqlite`).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Earth Engine base URL, for an emulator (then GEEPIPE_EE_TOKEN is the token, if any).
    #[arg(long, env = "GEEPIPE_EE_URL", value_name = "URL")]
    pub ee_url: Option<String>,
    /// Base URL for interactive requests (default: `--ee-url` when set, else the high-volume endpoint).
    #[arg(long, env = "GEEPIPE_EE_HIGHVOLUME_URL", value_name = "URL")]
    pub ee_highvolume_url: Option<String>,
    /// Append every executor event as one JSON line to this file.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Shortest poll interval in seconds.
    #[arg(long, env = "GEEPIPE_POLL_MIN", default_value = "5", value_parser = seconds, hide = true)]
    pub poll_min: f64,
    /// Longest poll interval in seconds.
    #[arg(long, env = "GEEPIPE_POLL_MAX", default_value = "60", value_parser = seconds, hide = true)]
    pub poll_max: f64,
    /// First retry backoff in milliseconds (doubling, full jitter).
    #[arg(long, env = "GEEPIPE_RETRY_BASE_MS", default_value = "500", hide = true)]
    pub retry_base_ms: u64,
    /// HTTP request timeout in seconds.
    #[arg(long, env = "GEEPIPE_HTTP_TIMEOUT", default_value = "60", value_parser = seconds, hide = true)]
    pub http_timeout: f64,
    /// Seconds to wait for one interactive request before splitting its chunk (Earth Engine stops interactive
    /// computations after 5 minutes).
    #[arg(long, env = "GEEPIPE_COMPUTE_TIMEOUT", default_value = "330", value_parser = seconds, hide = true)]
    pub compute_timeout: f64,
}

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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the async runtime: {e}"))
}

/// Which Earth Engine endpoint a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// Export tasks and operations.
    Batch,
    /// `table:computeFeatures`.
    HighVolume,
}

/// Builds an Earth Engine client for `endpoint`: an emulator URL (+ optional static token) or the real service
/// with Google credentials. `auth` caches the credentials between the two endpoints.
async fn client(p: &Pipeline, a: &ExecArgs, endpoint: Endpoint, auth: &mut Option<Auth>) -> Result<Client, i32> {
    let Some(project) = p.project.clone() else {
        eprintln!(
            "error: no Earth Engine Cloud project: set `project:` in the pipeline, pass --project, or set \
             GOOGLE_CLOUD_PROJECT"
        );
        return Err(exit::ENVIRONMENT);
    };
    let given = |u: &Option<String>| u.clone().filter(|u| !u.trim().is_empty());
    let (emulated, flag) = match endpoint {
        Endpoint::Batch => (given(&a.ee_url), "--ee-url / GEEPIPE_EE_URL"),
        Endpoint::HighVolume => match given(&a.ee_highvolume_url) {
            Some(u) => (Some(u), "--ee-highvolume-url / GEEPIPE_EE_HIGHVOLUME_URL"),
            None => (given(&a.ee_url), "--ee-url / GEEPIPE_EE_URL"),
        },
    };
    let (base, auth) = match emulated {
        Some(u) => (u, Auth::emulator(std::env::var("GEEPIPE_EE_TOKEN").ok())),
        None => {
            let google = match auth {
                Some(g) => g.clone(),
                None => match Auth::google().await {
                    Ok(g) => {
                        *auth = Some(g.clone());
                        g
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Err(exit::ENVIRONMENT);
                    }
                },
            };
            let base = match endpoint {
                Endpoint::Batch => ee::DEFAULT_BASE_URL,
                Endpoint::HighVolume => ee::DEFAULT_HIGHVOLUME_URL,
            };
            (base.to_string(), google)
        }
    };
    let Ok(url) = url::Url::parse(&base) else {
        eprintln!("error: {flag} is not a URL: {base}");
        return Err(exit::INVALID_INPUT);
    };
    let mut cfg = ClientConfig::new(url, project, auth);
    cfg.retry.base = Duration::from_millis(a.retry_base_ms.max(1));
    cfg.timeout = Duration::from_secs_f64(a.http_timeout.max(0.1));
    if endpoint == Endpoint::HighVolume {
        cfg.timeout = Duration::from_secs_f64(a.compute_timeout.max(0.1));
        cfg.requests_per_second = Some(p.interactive.requests_per_second.max(1));
    }
    Client::new(cfg).map_err(|e| {
        eprintln!("error: {e}");
        exit::ENVIRONMENT
    })
}

/// Size failures after which a run that may fall back moves its remaining chunks to batch.
const FALLBACK_AFTER: u32 = 10;

/// The `<journal>.cancel` file through which `geepipe cancel` asks a run in progress to stop.
fn cancel_file(journal: &Path) -> PathBuf {
    let mut s = journal.as_os_str().to_os_string();
    s.push(".cancel");
    PathBuf::from(s)
}

fn settings(p: &Pipeline, a: &ExecArgs, journal: &Path) -> Settings {
    let poll_min = Duration::from_secs_f64(a.poll_min.max(0.001));
    Settings {
        max_concurrent: p.chunks.max_concurrent.max(1),
        poll_min,
        poll_max: Duration::from_secs_f64(a.poll_max.max(a.poll_min).max(0.001)),
        cancel_file: Some(cancel_file(journal)),
        ..Settings::default()
    }
}

/// What a run starts from: the plan to record (a new journal) or the journal's, and the mode.
struct Start {
    tasks: Option<Vec<Task>>,
    planner: Arc<dyn ChunkPlanner>,
    mode: RunMode,
    reason: String,
    /// `auto` chose (interactive chunks may then move to batch when there is a destination).
    auto: bool,
}

/// Drives one executor run to an [`Outcome`]: Ctrl-C handling, observers, error messages.
fn drive(
    g: &Global,
    p: &Pipeline,
    a: &ExecArgs,
    journal: Journal,
    start: Start,
    settings: Settings,
) -> Result<Outcome, i32> {
    let jpath = journal.path().to_path_buf();
    runtime().block_on(async {
        let mut auth = None;
        let batch = client(p, a, Endpoint::Batch, &mut auth).await?;
        // A stale request from a `geepipe cancel` that raced the end of an earlier run.
        let _ = std::fs::remove_file(cancel_file(&jpath));
        let mut ex = match start.tasks {
            Some(tasks) => Executor::with_plan_mode(batch, journal, tasks, start.mode, start.planner, settings),
            None => Executor::new(batch, journal, None, start.planner, settings),
        }
        .map_err(|e| exec_error(&e))?;
        if ex.journal().meta("mode").ok().flatten().as_deref() != Some(start.mode.as_str()) {
            let moved = ex.set_unsent_mode(start.mode).map_err(|e| exec_error(&e))?;
            if moved > 0 && !g.quiet {
                eprintln!("{moved} chunk(s) not sent yet now run in {} mode", start.mode.as_str());
            }
            let _ = ex.journal().set_meta("mode", start.mode.as_str());
            let _ = ex.journal().set_meta("mode_reason", &start.reason);
        }
        let interactive_chunks = ex.rows().iter().any(|r| r.mode == RunMode::Interactive && !r.state.is_final());
        if interactive_chunks || start.mode == RunMode::Interactive {
            let hv = client(p, a, Endpoint::HighVolume, &mut auth).await?;
            ex.interactive(Interactive {
                client: hv,
                store: Store::for_journal(&jpath, &p.name),
                max_in_flight: p.interactive.max_in_flight,
                page_size: p.interactive.page_size,
                workload_tag: p.export.workload_tag.clone(),
                fallback_after: (start.auto && p.export.destination.exists()).then_some(FALLBACK_AFTER),
            });
        }
        if !g.quiet {
            eprintln!("mode: {} ({})", start.mode.as_str(), start.reason);
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
        ex.announce_mode(start.mode, &start.reason);
        let stop = Stop::new();
        let s = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                s.trigger();
            }
        });
        ex.run(stop).await.map_err(|e| exec_error(&e))
    })
}

/// How an existing journal runs: its recorded mode unless the pipeline or `--mode` names one.
fn resumed_start(p: &Pipeline, journal: &Journal) -> Start {
    let planner: Arc<dyn ChunkPlanner> = Arc::new(LazyPlanner { pipeline: p.clone(), inner: OnceLock::new() });
    let recorded = journal.meta("mode").ok().flatten();
    let reason = journal.meta("mode_reason").ok().flatten().unwrap_or_default();
    let (mode, reason, auto) = match p.mode {
        ModeName::Interactive => (RunMode::Interactive, "`mode: interactive`".to_string(), false),
        ModeName::Batch => (RunMode::Batch, "`mode: batch`".to_string(), false),
        ModeName::Auto => match recorded.as_deref() {
            Some("interactive") => (RunMode::Interactive, format!("as planned: {reason}"), true),
            _ if recorded.is_none()
                && journal.chunks().is_ok_and(|c| c.iter().any(|r| r.mode == RunMode::Interactive)) =>
            {
                (RunMode::Interactive, "as planned".to_string(), true)
            }
            _ => (
                RunMode::Batch,
                if reason.is_empty() { "as planned".to_string() } else { format!("as planned: {reason}") },
                true,
            ),
        },
    };
    Start { tasks: None, planner, mode, reason, auto }
}

fn exec_error(e: &ExecError) -> i32 {
    eprintln!("error: {e}");
    exit::ENVIRONMENT
}

/// Prints how a run ended and returns its exit code.
fn report(g: &Global, o: &Outcome, file: &Path, journal: &Path, interactive: bool) -> i32 {
    let c = &o.counts;
    let f = file.display();
    if (o.interrupted || o.timed_out) && interactive && c.pending + c.running + c.submitting == 0 {
        eprintln!(
            "{}: {} of {} chunks done; each finished chunk is stored and is not computed again.\n\
             Resume with:  geepipe run {f}   (journal: {})",
            if o.interrupted { "interrupted" } else { "timed out" },
            c.done(),
            c.total,
            journal.display()
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

pub fn run(g: &Global, a: RunArgs) -> i32 {
    let p = match g.load_pipeline(&a.file) {
        Ok(p) => p,
        Err(c) => return c,
    };
    if p.engine == Engine::Local {
        // `engine: local` pipelines are computed on this machine; no journal, no Earth Engine.
        return super::local::run(g, &p, &a);
    }
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
    let planned = match journal.has_plan() {
        Ok(b) => b,
        Err(e) => return journal_error(&e, &a.file),
    };
    let start = if planned {
        resumed_start(&p, &journal)
    } else {
        match crate::plan::estimate::sized_planner(&p) {
            Ok((planner, decision)) => {
                let reason = if decision.auto { format!("auto: {}", decision.reason) } else { decision.reason.clone() };
                let _ = journal.set_meta("mode", decision.mode.as_str());
                let _ = journal.set_meta("mode_reason", &reason);
                let tasks = planner.plan().tasks;
                Start {
                    tasks: Some(tasks),
                    planner: Arc::new(planner),
                    mode: decision.mode,
                    reason,
                    auto: decision.auto,
                }
            }
            Err(diags) => {
                g.report(&diags);
                return exit::INVALID_INPUT;
            }
        }
    };
    if a.detach && start.mode == RunMode::Interactive {
        eprintln!(
            "error: --detach submits export tasks and leaves; interactive requests are answered while geepipe runs.\n\
             help: run without --detach, or use `--mode batch` (with an `export` destination) to submit and leave"
        );
        return exit::INVALID_INPUT;
    }
    let interactive = start.mode == RunMode::Interactive;
    let settings = Settings { detach: a.detach, ..settings(&p, &a.exec, &jpath) };
    let outcome = match drive(g, &p, &a.exec, journal, start, settings) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let code = report(g, &outcome, &a.file, &jpath, interactive);
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
    let start = resumed_start(&p, &journal);
    let interactive = start.mode == RunMode::Interactive;
    let settings = Settings {
        // A timeout past what a clock can hold is no timeout.
        deadline: a.timeout.and_then(|s| Instant::now().checked_add(Duration::from_secs(s))),
        retry_finished_failures: false,
        ..settings(&p, &a.exec, &jpath)
    };
    match drive(g, &p, &a.exec, journal, start, settings) {
        Ok(o) => report(g, &o, &a.file, &jpath, interactive),
        Err(c) => c,
    }
}

/// Longest `geepipe cancel` waits for a run in progress to stop (its interactive requests in flight finish).
const CANCEL_WAIT: Duration = Duration::from_secs(600);

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
        Err(JournalError::Locked { pid, .. }) => return cancel_running(g, &jpath, pid),
        Err(e) => return journal_error(&e, &a.file),
    };
    let rows = match journal.chunks() {
        Ok(r) => r,
        Err(e) => return journal_error(&e, &a.file),
    };
    // Only export tasks need Earth Engine; interactive chunks never sent are just marked.
    let tasks = rows
        .iter()
        .any(|r| !r.state.is_final() && (r.operation.is_some() || r.state == crate::journal::ChunkState::Submitting));
    runtime().block_on(async {
        let client = if tasks {
            match client(&p, &a.exec, Endpoint::Batch, &mut None).await {
                Ok(c) => Some(c),
                Err(code) => return code,
            }
        } else {
            None
        };
        match executor::cancel_all(client.as_ref(), &mut journal).await {
            Ok((ops, unsent)) => {
                if !g.quiet {
                    eprintln!("cancelled {ops} tasks; {unsent} chunks that were never submitted marked cancelled");
                }
                exit::OK
            }
            Err(e) => exec_error(&e),
        }
    })
}

/// `geepipe cancel` while a run holds the journal: asks it to stop (the cancel file) and waits until it has.
fn cancel_running(g: &Global, jpath: &Path, pid: Option<u32>) -> i32 {
    let file = cancel_file(jpath);
    if let Err(e) = crate::results::table::write_atomic(&file, b"cancel\n") {
        eprintln!("error: cannot ask the running geepipe to stop: {e}");
        return exit::ENVIRONMENT;
    }
    if !g.quiet {
        eprintln!(
            "asked the running geepipe{} to stop sending; waiting for it (requests in flight finish and are stored)",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        );
    }
    let until = Instant::now() + CANCEL_WAIT;
    let released = loop {
        match crate::journal::RunLock::acquire(jpath) {
            Ok(_) => break true,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => break false,
        }
    };
    let _ = std::fs::remove_file(&file);
    if !released {
        eprintln!("error: the running geepipe did not stop within {} s; stop it with Ctrl-C", CANCEL_WAIT.as_secs());
        return exit::ENVIRONMENT;
    }
    let cancelled = Journal::open_read(jpath)
        .and_then(|j| j.chunks())
        .map(|rows| rows.iter().filter(|r| r.state == crate::journal::ChunkState::Cancelled).count())
        .unwrap_or(0);
    if !g.quiet {
        eprintln!(
            "the run stopped; {cancelled} chunks not done are marked cancelled (rerun `geepipe run` to compute them)"
        );
    }
    exit::OK
}
