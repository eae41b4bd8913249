//! `geepipe run` and `wait`: driving the executor (`status` reads the journal: [`super::status`]; `cancel`:
//! [`super::cancel`]).
//!
//! `run` plans (or takes the plan frozen in the journal) and says which mode it uses and why
//! ([`crate::plan::estimate`]). Interactive chunks are computed with `table:computeFeatures` and stored as they
//! arrive; a fresh batch plan is probed first ([`crate::probe`]; a failed probe refuses with exit 4 before any
//! task exists, `--no-probe` skips it), then submitted and watched; then `run` fetches. `wait` resumes the same
//! journal without re-planning and without fetching; `status` only reads the journal (safe during a run);
//! `cancel` cancels every live task and stops a run in progress (no request is sent after it). Ctrl-C leaves
//! submitted tasks running, drops the interactive requests in flight, and leaves the journal consistent.
//!
//! Endpoints: export tasks go to `GEEPIPE_EE_URL` (default the standard endpoint), interactive requests to
//! `GEEPIPE_EE_HIGHVOLUME_URL`, else `GEEPIPE_EE_URL` (one emulator for both), else the high-volume endpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Args;

use super::Global;
use crate::ee::{self, Auth, Client, ClientConfig};
use crate::executor::{ExecError, Executor, Interactive, JsonLines, Outcome, Progress, Settings, Stop};
use crate::exit;
use crate::journal::{Journal, JournalError};
use crate::pipeline::model::Engine;
use crate::pipeline::{ModeName, Pipeline};
use crate::plan::probe::ProbeCall;
use crate::plan::{ChunkPlanner, RunMode, Task};
use crate::results::store::Store;

use super::cancel::{cancel_requested, CANCEL_REQUEST};

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
    /// Submit without probing first (see `geepipe probe`).
    #[arg(long)]
    pub no_probe: bool,
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
pub struct WaitArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Give up after this many seconds (exit code 3).
    #[arg(long)]
    pub timeout: Option<u64>,
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

pub(super) fn journal_path(p: &Pipeline, a: &ExecArgs) -> PathBuf {
    a.journal.clone().unwrap_or_else(|| Journal::default_path(p))
}

pub(super) fn journal_error(e: &JournalError, file: &Path) -> i32 {
    match e {
        JournalError::Changed { path, .. } => eprintln!(
            "error: {}",
            JournalError::Changed { path: path.clone(), pipeline_file: file.display().to_string() }
        ),
        e => eprintln!("error: {e}"),
    }
    exit::ENVIRONMENT
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the async runtime: {e}"))
}

/// Runs the future `make(stop)` builds on a fresh runtime with Ctrl-C wired to `stop`: the first Ctrl-C
/// triggers it (requests in flight are dropped, the command winds down and reports), a second exits at
/// once. Shutdown waits at most a second for stray work (a hung connection or DNS lookup never keeps
/// the process alive after its answer).
pub(super) fn with_runtime<T, F: std::future::Future<Output = T>>(make: impl FnOnce(Stop) -> F) -> T {
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

/// Builds the Earth Engine client for export tasks (and the probe): emulator URL (+ optional static token)
/// or Google credentials.
pub(super) async fn client(p: &Pipeline, a: &ExecArgs) -> Result<Client, i32> {
    endpoint_client(p, a, Endpoint::Batch, &mut None).await
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
async fn endpoint_client(
    p: &Pipeline,
    a: &ExecArgs,
    endpoint: Endpoint,
    auth: &mut Option<Auth>,
) -> Result<Client, i32> {
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

fn settings(p: &Pipeline, a: &ExecArgs) -> Settings {
    let poll_min = Duration::from_secs_f64(a.poll_min.max(0.001));
    Settings {
        max_concurrent: p.chunks.max_concurrent.max(1),
        poll_min,
        poll_max: Duration::from_secs_f64(a.poll_max.max(a.poll_min).max(0.001)),
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

/// How an existing journal runs: its recorded mode unless the pipeline or `--mode` names one.
fn resumed_start(p: &Pipeline, journal: &Journal) -> Start {
    let planner: Arc<dyn ChunkPlanner> = Arc::new(LazyPlanner { pipeline: p.clone(), inner: OnceLock::new() });
    let recorded = journal.meta("mode").ok().flatten();
    let reason = journal.meta("mode_reason").ok().flatten().unwrap_or_default();
    let as_planned = if reason.is_empty() { "as planned".to_string() } else { format!("as planned: {reason}") };
    let (mode, reason, auto) = match p.mode {
        ModeName::Interactive => (RunMode::Interactive, "`mode: interactive`".to_string(), false),
        ModeName::Batch => (RunMode::Batch, "`mode: batch`".to_string(), false),
        ModeName::Auto => {
            let interactive = match recorded.as_deref() {
                Some(m) => m == RunMode::Interactive.as_str(),
                // A journal of an earlier version records no mode: its chunks say.
                None => journal.chunks().is_ok_and(|c| c.iter().any(|r| r.mode == RunMode::Interactive)),
            };
            (if interactive { RunMode::Interactive } else { RunMode::Batch }, as_planned, true)
        }
    };
    Start { tasks: None, planner, mode, reason, auto }
}

/// Drives one executor run to an [`Outcome`]: the probe first (when given; a failed probe refuses with
/// exit 4 before anything is submitted), the mode said and recorded, Ctrl-C handling, observers, error
/// messages.
fn drive(
    g: &Global,
    p: &Pipeline,
    a: &ExecArgs,
    journal: Journal,
    start: Start,
    settings: Settings,
    probe: Option<ProbeCall>,
) -> Result<Outcome, i32> {
    let jpath = journal.path().to_path_buf();
    with_runtime(|stop| async move {
        let mut auth = None;
        let client = tokio::select! {
            c = endpoint_client(p, a, Endpoint::Batch, &mut auth) => c?,
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
        let mut ex = match start.tasks {
            Some(tasks) => Executor::with_plan_mode(client, journal, tasks, start.mode, start.planner, settings),
            None => Executor::new(client, journal, None, start.planner, settings),
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
            let hv = tokio::select! {
                c = endpoint_client(p, a, Endpoint::HighVolume, &mut auth) => c?,
                _ = stop.wait() => {
                    eprintln!("interrupted before anything was sent");
                    return Err(exit::INTERRUPTED);
                }
            };
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
        ex.run(stop).await.map_err(|e| exec_error(&e))
    })
}

pub(super) fn exec_error(e: &ExecError) -> i32 {
    eprintln!("error: {e}");
    exit::ENVIRONMENT
}

/// Prints how a run ended and returns its exit code.
fn report(g: &Global, o: &Outcome, file: &Path, journal: &Path, interactive: bool) -> i32 {
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
    // A cancel request left by a `geepipe cancel` that died is not meant for this run.
    let _ = journal.set_meta(CANCEL_REQUEST, "");
    let planned = match journal.has_plan() {
        Ok(b) => b,
        Err(e) => return journal_error(&e, &a.file),
    };
    // A fresh batch plan is probed before any task exists; a resumed one was probed when it started. An
    // interactive run needs no probe: its first answers are the same computation.
    let mut probe = None;
    let start = if planned {
        resumed_start(&p, &journal)
    } else {
        match crate::plan::estimate::sized_planner(&p) {
            Ok((pl, decision)) => {
                if decision.mode == RunMode::Batch && !a.no_probe {
                    match pl.probe_call(crate::probe::SITES) {
                        Ok(c) => probe = Some(c),
                        Err(e) => {
                            eprintln!("error: cannot build the probe: {e}");
                            return exit::INVALID_INPUT;
                        }
                    }
                }
                let reason = if decision.auto { format!("auto: {}", decision.reason) } else { decision.reason.clone() };
                let _ = journal.set_meta("mode", decision.mode.as_str());
                let _ = journal.set_meta("mode_reason", &reason);
                let tasks = pl.plan().tasks;
                Start { tasks: Some(tasks), planner: Arc::new(pl), mode: decision.mode, reason, auto: decision.auto }
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
    let settings = Settings { detach: a.detach, ..settings(&p, &a.exec) };
    let outcome = match drive(g, &p, &a.exec, journal, start, settings, probe) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let code = report(g, &outcome, &a.file, &jpath, interactive);
    if code == exit::OK && !outcome.detached && !a.no_fetch {
        return fetch_results(g, &a.file, a.exec.journal.clone());
    }
    code
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
    let start = resumed_start(&p, &journal);
    let interactive = start.mode == RunMode::Interactive;
    let settings = Settings {
        // A timeout past what a clock can hold is no timeout.
        deadline: a.timeout.and_then(|s| Instant::now().checked_add(Duration::from_secs(s))),
        retry_finished_failures: false,
        ..settings(&p, &a.exec)
    };
    match drive(g, &p, &a.exec, journal, start, settings, None) {
        Ok(o) => report(g, &o, &a.file, &jpath, interactive),
        Err(c) => c,
    }
}
