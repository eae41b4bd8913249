//! `geepipe run`, `status`, `wait`, `cancel`: driving the executor and reading the journal.
//!
//! `run` plans (or takes the plan frozen in the journal), submits, watches and then fetches; `wait` resumes
//! the same journal without re-planning and without fetching; `status` only reads the journal (safe during a
//! run); `cancel` cancels every live task. Ctrl-C leaves submitted tasks running and the journal consistent.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Args;

use super::{Global, RunArgs};
use crate::ee::{self, Auth, Client, ClientConfig};
use crate::executor::{self, ExecError, Executor, JsonLines, Outcome, Progress, Settings, Stop, TaskStatus};
use crate::exit;
use crate::journal::{Journal, JournalError};
use crate::pipeline::Pipeline;
use crate::plan::{ChunkPlanner, Task};

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

/// Builds the Earth Engine client: emulator URL (+ optional static token) or Google credentials.
async fn client(p: &Pipeline, a: &ExecArgs) -> Result<Client, i32> {
    let Some(project) = p.project.clone() else {
        eprintln!(
            "error: no Earth Engine Cloud project: set `project:` in the pipeline, pass --project, or set \
             GOOGLE_CLOUD_PROJECT"
        );
        return Err(exit::ENVIRONMENT);
    };
    let (base, auth) = match a.ee_url.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => (u.to_string(), Auth::emulator(std::env::var("GEEPIPE_EE_TOKEN").ok())),
        None => match Auth::google().await {
            Ok(auth) => (ee::DEFAULT_BASE_URL.to_string(), auth),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(exit::ENVIRONMENT);
            }
        },
    };
    let Ok(url) = url::Url::parse(&base) else {
        eprintln!("error: --ee-url / GEEPIPE_EE_URL is not a URL: {base}");
        return Err(exit::INVALID_INPUT);
    };
    let mut cfg = ClientConfig::new(url, project, auth);
    cfg.retry.base = Duration::from_millis(a.retry_base_ms.max(1));
    cfg.timeout = Duration::from_secs_f64(a.http_timeout.max(0.1));
    Client::new(cfg).map_err(|e| {
        eprintln!("error: {e}");
        exit::ENVIRONMENT
    })
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

/// Drives one executor run to an [`Outcome`]: Ctrl-C handling, observers, error messages.
fn drive(
    g: &Global,
    p: &Pipeline,
    a: &ExecArgs,
    journal: Journal,
    tasks: Option<Vec<Task>>,
    planner: Arc<dyn ChunkPlanner>,
    settings: Settings,
) -> Result<Outcome, i32> {
    runtime().block_on(async {
        let client = client(p, a).await?;
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

fn exec_error(e: &ExecError) -> i32 {
    eprintln!("error: {e}");
    exit::ENVIRONMENT
}

/// Prints how a run ended and returns its exit code.
fn report(g: &Global, o: &Outcome, file: &Path, journal: &Path) -> i32 {
    let c = &o.counts;
    let f = file.display();
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
    let planned = match journal.has_plan() {
        Ok(b) => b,
        Err(e) => return journal_error(&e, &a.file),
    };
    let (tasks, planner): (Option<Vec<Task>>, Arc<dyn ChunkPlanner>) = if planned {
        (None, Arc::new(LazyPlanner { pipeline: p.clone(), inner: OnceLock::new() }))
    } else {
        match build_plan(&p) {
            Ok((t, pl)) => (Some(t), pl),
            Err(e) => {
                eprint!("{e}");
                return exit::INVALID_INPUT;
            }
        }
    };
    let settings = Settings { detach: a.detach, ..settings(&p, &a.exec) };
    let outcome = match drive(g, &p, &a.exec, journal, tasks, planner, settings) {
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
    let planner: Arc<dyn ChunkPlanner> = Arc::new(LazyPlanner { pipeline: p.clone(), inner: OnceLock::new() });
    let settings = Settings {
        // A timeout past what a clock can hold is no timeout.
        deadline: a.timeout.and_then(|s| Instant::now().checked_add(Duration::from_secs(s))),
        retry_finished_failures: false,
        ..settings(&p, &a.exec)
    };
    match drive(g, &p, &a.exec, journal, None, planner, settings) {
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
        Err(e) => return journal_error(&e, &a.file),
    };
    runtime().block_on(async {
        let client = match client(&p, &a.exec).await {
            Ok(c) => c,
            Err(code) => return code,
        };
        match executor::cancel_all(&client, &mut journal).await {
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
