//! `geepipe run`, `status`, `wait`, `cancel`: driving the executor and reading the journal.
//!
//! `run` plans (or takes the plan frozen in the journal) and says which mode it uses and why
//! ([`crate::plan::estimate`]). Interactive chunks are computed with `table:computeFeatures` and stored as they
//! arrive; a fresh batch plan is probed first ([`crate::probe`]; a failed probe refuses with exit 4 before any
//! task exists, `--no-probe` skips it), then submitted and watched; then `run` fetches. `wait` resumes the same
//! journal without re-planning and without fetching; `status` only reads the journal (safe during a run);
//! `cancel` cancels every live task and stops a run in progress (no request is sent after it). Ctrl-C leaves
//! submitted tasks running, drops the interactive requests in flight, and leaves the journal consistent.
//!
//! Endpoints ([`super::connect`]): export tasks go to `GEEPIPE_EE_URL` (default the standard endpoint),
//! interactive requests to `GEEPIPE_EE_HIGHVOLUME_URL`, else `GEEPIPE_EE_URL` (one emulator for both), else
//! the high-volume endpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Args;

use super::connect::{endpoint_client, runtime, Endpoint, ExecArgs};
use super::{Global, RunArgs};
use crate::error::{self, Error};
use crate::executor::{Executor, Interactive, JsonLines, Outcome, Progress, Settings, Stop};
use crate::exit;
use crate::journal::{Journal, JournalError};
use crate::pipeline::{ModeName, Pipeline};
use crate::plan::probe::ProbeCall;
use crate::plan::{ChunkPlanner, PlanError, RunMode, Task};
use crate::results::store::Store;

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

/// Plans a pipeline into its tasks and a [`ChunkPlanner`] for splitting chunks. The planner's problems (a
/// site too big for one request, …) are located diagnostics.
pub fn build_plan(pipeline: &Pipeline) -> Result<(Vec<Task>, Arc<dyn ChunkPlanner>), PlanError> {
    let planner = crate::plan::Planner::new(pipeline)?;
    let tasks = planner.plan().tasks;
    Ok((tasks, Arc::new(planner)))
}

/// What `run` does after every chunk succeeded (unless `--no-fetch`).
pub(super) fn fetch_results(g: &Global, file: &Path, journal: Option<PathBuf>) -> error::Result {
    super::fetch_store::fetch_command(
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
    fn task(
        &self,
        chunk_id: &str,
        site_ids: &[String],
        cells: Option<&crate::plan::zonal::ChunkCells>,
    ) -> Result<Task, PlanError> {
        self.planner()?.task(chunk_id, site_ids, cells)
    }

    fn body(
        &self,
        chunk_id: &str,
        site_ids: &[String],
        cells: Option<&crate::plan::zonal::ChunkCells>,
    ) -> Result<Vec<u8>, PlanError> {
        self.planner()?.body(chunk_id, site_ids, cells)
    }
}

impl LazyPlanner {
    fn planner(&self) -> Result<&Arc<dyn ChunkPlanner>, PlanError> {
        self.inner.get_or_init(|| build_plan(&self.pipeline).map(|(_, p)| p)).as_ref().map_err(Clone::clone)
    }
}

pub(super) fn journal_path(p: &Pipeline, a: &ExecArgs) -> PathBuf {
    a.journal.clone().unwrap_or_else(|| Journal::default_path(p))
}

/// A journal error as the user sees it (a changed pipeline names the pipeline file to restart).
pub(super) fn journal_error(e: JournalError, file: &Path) -> Error {
    Error::Journal(match e {
        JournalError::Changed { path, .. } => JournalError::Changed { path, pipeline_file: file.display().to_string() },
        e => e,
    })
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

/// Journal key a `geepipe cancel` writes (its pid) before it asks the running `geepipe run` to stop.
pub(super) const CANCEL_REQUEST: &str = "cancel_requested_by";

/// Whether `geepipe cancel` asked the run on this journal to stop (the pid of that cancel).
fn cancel_requested(journal: &Path) -> Option<String> {
    let j = Journal::open_read(journal).ok()?;
    j.meta(CANCEL_REQUEST).ok().flatten().filter(|v| !v.is_empty())
}

/// Size failures after which a run that may fall back moves its remaining chunks to batch.
const FALLBACK_AFTER: u32 = 10;

pub(super) fn settings(p: &Pipeline, a: &ExecArgs) -> Settings {
    let poll_min = Duration::from_secs_f64(a.poll_min.max(0.001));
    Settings {
        max_concurrent: p.chunks.max_concurrent.max(1),
        poll_min,
        poll_max: Duration::from_secs_f64(a.poll_max.max(a.poll_min).max(0.001)),
        ..Settings::default()
    }
}

/// What a run starts from: the plan to record (a new journal) or the journal's, and the mode.
pub(super) struct Start {
    pub(super) tasks: Option<Vec<Task>>,
    pub(super) planner: Arc<dyn ChunkPlanner>,
    pub(super) mode: RunMode,
    pub(super) reason: String,
    /// `auto` chose (interactive chunks may then move to batch when there is a destination).
    pub(super) auto: bool,
}

/// How an existing journal runs: its recorded mode unless the pipeline or `--mode` names one.
pub(super) fn resumed_start(p: &Pipeline, journal: &Journal) -> Start {
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

/// Plans image exports straight into the journal, one export at a time
/// ([`crate::plan::image_stream`]): no plan's bodies are ever all in memory (the executor reads each from the
/// journal when it sends it). Returns how the run starts and the probe of the first export.
fn plan_image_exports(p: &Pipeline, a: &RunArgs, journal: &mut Journal) -> error::Result<(Start, Option<ProbeCall>)> {
    use crate::plan::image_stream::ImageExports;
    let dir = journal.path().parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    // The site file was checked (and its warnings shown) before the run; the plan's own warnings are
    // `geepipe plan`'s to show, as for every other kind.
    let (exports, _) = ImageExports::new(p, &dir).map_err(Error::Diagnostics)?;
    let probe = if a.no_probe { None } else { Some(exports.probe().map_err(PlanError::Probe)?) };
    let mut writer = journal.plan_writer()?;
    exports.for_each(|(task, bytes, _)| -> error::Result<()> {
        let text = std::str::from_utf8(&bytes).map_err(|e| Error::Internal(format!("internal error: {e}")))?;
        writer.add_encoded(crate::journal::ChunkRow::from_task(&task, 0, None), text)?;
        Ok(())
    })?;
    writer.finish()?;
    let reason = crate::plan::image::EXPORT_ONLY.to_string();
    let _ = journal.set_meta("mode", RunMode::Batch.as_str());
    let _ = journal.set_meta("mode_reason", &reason);
    let planner: Arc<dyn ChunkPlanner> = Arc::new(LazyPlanner { pipeline: p.clone(), inner: OnceLock::new() });
    Ok((Start { tasks: None, planner, mode: RunMode::Batch, reason, auto: false }, probe))
}

/// Drives one executor run to an [`Outcome`]: the probe first (when given; a failed probe refuses with
/// exit 4 before anything is submitted), the mode said and recorded, Ctrl-C handling, observers, error
/// messages.
pub(super) fn drive(
    g: &Global,
    p: &Pipeline,
    a: &ExecArgs,
    journal: Journal,
    start: Start,
    settings: Settings,
    probe: Option<ProbeCall>,
) -> error::Result<Outcome> {
    let interrupted = || Error::Interrupted("interrupted before anything was sent".into());
    let jpath = journal.path().to_path_buf();
    with_runtime(|stop| async move {
        let mut auth = None;
        let client = tokio::select! {
            c = endpoint_client(p, a, Endpoint::Batch, &mut auth) => c?,
            _ = stop.wait() => return Err(interrupted()),
        };
        if let Some(call) = &probe {
            let report = tokio::select! {
                r = crate::probe::run(&client, call) => r.map_err(super::probe::unreachable)?,
                _ = stop.wait() => return Err(interrupted()),
            };
            if report.passed() && g.verbose > 0 {
                eprint!("{}", report.render());
            }
            super::probe::refusal(&report, true)?;
        }
        let mut ex = match start.tasks {
            Some(tasks) => Executor::with_plan_mode(client, journal, tasks, start.mode, start.planner, settings),
            None => Executor::new(client, journal, None, start.planner, settings),
        }?;
        if ex.journal().meta("mode").ok().flatten().as_deref() != Some(start.mode.as_str()) {
            let moved = ex.set_unsent_mode(start.mode)?;
            if moved > 0 && !g.quiet {
                eprintln!("{moved} chunk(s) not sent yet now run in {} mode", start.mode.as_str());
            }
            let _ = ex.journal().set_meta("mode", start.mode.as_str());
            let _ = ex.journal().set_meta("mode_reason", &start.reason);
        }
        let interactive_chunks = ex.chunks().iter().any(|c| c.mode == RunMode::Interactive && !c.state.is_final());
        if interactive_chunks || start.mode == RunMode::Interactive {
            let cells = answers_store(p, ex.journal())?;
            let hv = tokio::select! {
                c = endpoint_client(p, a, Endpoint::HighVolume, &mut auth) => c?,
                _ = stop.wait() => return Err(interrupted()),
            };
            ex.interactive(Interactive {
                client: hv,
                store: Store::for_journal(&jpath, &p.name),
                max_in_flight: p.interactive.max_in_flight,
                page_size: p.interactive.page_size,
                workload_tag: p.export.workload_tag.clone(),
                fallback_after: (start.auto && p.export.destination.exists()).then_some(FALLBACK_AFTER),
                cells,
            });
        }
        if !g.quiet {
            eprintln!("mode: {} ({})", start.mode.as_str(), start.reason);
            ex.observe(Box::new(Progress::stderr()));
        }
        if let Some(path) = &a.events {
            let j = JsonLines::create(path).map_err(|e| events_error(path, e))?;
            ex.observe(Box::new(j));
        }
        ex.announce_mode(start.mode, &start.reason);
        Ok(ex.run(stop).await?)
    })
}

/// The results store interactive answers go to as they arrive, for a journal planned through it
/// ([`crate::store::live`]; a `--fresh` run's answers replace the stored values).
fn answers_store(p: &Pipeline, journal: &Journal) -> error::Result<Option<Arc<crate::store::live::Answers>>> {
    if !super::incremental::applies(p) || !journal.rebuilds_bodies()? {
        return Ok(None);
    }
    let fresh = journal.meta(super::incremental::FRESH).ok().flatten().is_some();
    let path = super::incremental::store_path(journal.path());
    let answers =
        crate::store::live::Answers::open(&path, p.clone(), fresh).map_err(super::incremental::store_error)?;
    Ok(Some(Arc::new(answers)))
}

/// The events file (`--events`) cannot be written.
pub(super) fn events_error(path: &Path, e: std::io::Error) -> Error {
    Error::Environment(format!("cannot write events to {}: {e}", path.display()))
}

/// Prints how a run ended and returns its exit code.
pub(super) fn report(g: &Global, o: &Outcome, file: &Path, journal: &Path, interactive: bool) -> i32 {
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

/// The refusal of `--detach` for an interactive run.
pub(super) fn detach_interactive() -> Error {
    Error::Input(
        "--detach submits export tasks and leaves; interactive requests are answered while geepipe runs.\n\
         help: run without --detach, or use `--mode batch` (with an `export` destination) to submit and leave"
            .into(),
    )
}

/// `geepipe run` of an Earth Engine pipeline (see [`super::run_command`] for the engine choice).
pub fn run(g: &Global, p: Pipeline, a: RunArgs) -> error::Result {
    let jpath = journal_path(&p, &a.exec);
    let jerr = |e| journal_error(e, &a.file);
    if a.restart {
        if let Some(to) = Journal::move_aside(&jpath).map_err(jerr)? {
            if !g.quiet {
                eprintln!("moved the old journal to {}", to.display());
            }
        }
    }
    let journal = Journal::open(&jpath, &p.name, &p.content_hash).map_err(jerr)?;
    let result = run_journal(g, &p, &a, journal);
    if result.is_err() {
        // A run that stopped before it planned or submitted (no credentials, a failed probe, Ctrl-C) leaves
        // no journal, so `status` and `fetch` say nothing was run rather than "0 chunks".
        let _ = Journal::discard_unplanned(&jpath);
    }
    result
}

/// `run` once its journal is open (and locked).
fn run_journal(g: &Global, p: &Pipeline, a: &RunArgs, mut journal: Journal) -> error::Result {
    let jpath = journal.path().to_path_buf();
    let jerr = |e| journal_error(e, &a.file);
    // A cancel request left by a `geepipe cancel` that died is not meant for this run.
    let _ = journal.set_meta(CANCEL_REQUEST, "");
    let planned = journal.has_plan().map_err(jerr)?;
    // A fresh batch plan is probed before any task exists; a resumed one was probed when it started. An
    // interactive run needs no probe: its first answers are the same computation.
    let mut probe = None;
    // Image exports are recorded before their probe runs (they are planned straight into the
    // journal): a failed probe drops that plan, so the next run plans and probes again.
    let streamed = !planned && super::plan::streams_image(p);
    let start = if planned {
        resumed_start(p, &journal)
    } else if streamed {
        let (start, call) = plan_image_exports(p, a, &mut journal)?;
        probe = call;
        start
    } else {
        let (pl, decision) = crate::plan::estimate::sized_planner(p).map_err(Error::Diagnostics)?;
        if decision.mode == RunMode::Batch && !a.no_probe {
            probe = Some(pl.probe_call(crate::probe::SITES)?);
        }
        let reason = if decision.auto { format!("auto: {}", decision.reason) } else { decision.reason.clone() };
        let _ = journal.set_meta("mode", decision.mode.as_str());
        let _ = journal.set_meta("mode_reason", &reason);
        let tasks = pl.plan().tasks;
        Start { tasks: Some(tasks), planner: Arc::new(pl), mode: decision.mode, reason, auto: decision.auto }
    };
    if a.detach && start.mode == RunMode::Interactive {
        return Err(detach_interactive());
    }
    let interactive = start.mode == RunMode::Interactive;
    let settings = Settings { detach: a.detach, ..settings(p, &a.exec) };
    let outcome = drive(g, p, &a.exec, journal, start, settings, probe).inspect_err(|_| {
        if let (true, Ok(mut j)) = (streamed, Journal::open(&jpath, &p.name, &p.content_hash)) {
            let _ = j.drop_unsent_plan();
        }
    })?;
    let code = report(g, &outcome, &a.file, &jpath, interactive);
    if code == exit::OK && !outcome.detached && !a.no_fetch {
        return fetch_results(g, &a.file, a.exec.journal.clone());
    }
    Ok(code)
}

pub fn wait(g: &Global, a: WaitArgs) -> error::Result {
    let p = g.load_pipeline(&a.file)?;
    let jpath = journal_path(&p, &a.exec);
    if !jpath.exists() {
        return Err(journal_error(JournalError::Missing(jpath), &a.file));
    }
    let journal = Journal::open(&jpath, &p.name, &p.content_hash).map_err(|e| journal_error(e, &a.file))?;
    if !journal.has_plan().map_err(|e| journal_error(e, &a.file))? {
        return Err(journal_error(JournalError::NothingSubmitted(jpath), &a.file));
    }
    // A cancel request left by a `geepipe cancel` that died is not meant for this run.
    let _ = journal.set_meta(CANCEL_REQUEST, "");
    let mut start = resumed_start(&p, &journal);
    if super::incremental::applies(&p) && journal.rebuilds_bodies().unwrap_or(false) {
        let fresh = journal.meta(super::incremental::FRESH).ok().flatten();
        let z = super::incremental::zonal(&p, fresh.as_deref()).map_err(Error::Diagnostics)?;
        start.planner = Arc::new(super::incremental::SitePlanner::lazy(z));
    }
    let interactive = start.mode == RunMode::Interactive;
    let settings = Settings {
        // A timeout past what a clock can hold is no timeout.
        deadline: a.timeout.and_then(|s| Instant::now().checked_add(Duration::from_secs(s))),
        retry_finished_failures: false,
        ..settings(&p, &a.exec)
    };
    let o = drive(g, &p, &a.exec, journal, start, settings, None)?;
    Ok(report(g, &o, &a.file, &jpath, interactive))
}
