//! The executor: submits planned tasks, watches them, retries or splits failures, and reports events.
//!
//! One loop, three duties:
//! 1. **Submit** while this run has fewer than `max_concurrent` tasks PENDING/RUNNING and the project's queue
//!    (this run's active tasks plus every other active task `operations.list` shows) stays under
//!    `queue_limit` (Earth Engine allows 3,000). Before each batch the chunks are written to the journal as
//!    `submitting` with the request id about to be used (intent), after it with their operation (outcome).
//! 2. **Watch** all tasks with ONE paged `operations.list` per poll (never one call per task), read only down to
//!    the oldest task in flight (the list holds the project's whole history; [`window`]). The interval
//!    adapts: `poll_min` right after a submission or a change, growing ×1.5 while nothing happens, capped by
//!    `poll_max` and by the predicted end of the soonest task (from the durations seen so far).
//! 3. **React** to failures through [`crate::net::classify`]: transient → a new task with a new request id
//!    derived from (chunk, attempt), at most `max_task_attempts`; too big → split the chunk in two with the
//!    [`ChunkPlanner`] (halves `<chunk>a`/`<chunk>b`) down to single sites, then record that site's error;
//!    fatal for the run (missing asset, permission, quota) → stop submitting and report it once.
//!
//! Resuming (a new run on an existing journal): chunks with an operation are adopted and watched;
//! `submitting` chunks (intent written, response maybe lost) are sent again with the SAME request id, which
//! Earth Engine deduplicates, so no chunk ever gets two tasks; `planned` chunks are submitted normally.
//!
//! Interactive chunks (mode `interactive`) are computed first, by [`interactive`] (synchronous requests,
//! results stored as they arrive); the batch loop above then runs the batch chunks, including any the
//! interactive phase moved to batch. `geepipe cancel` during a run interrupts it (the run stops sending) and
//! then cancels what is left ([`cancel`]).
//!
//! Memory: the executor holds each chunk as a [`RunChunk`] (its id, its operation while that may still be
//! looked at, sites, attempt, state, mode, endpoint: 48 bytes plus its id), and counts them as their states
//! change.
//! The rest of a chunk's row is read from the journal when the chunk is sent, observed to change, retried or
//! split, changed and written back at once (`Executor::update`), so the journal stays the one record and
//! a million sites (20,000 chunks) take about a megabyte here.
//!
//! This file is over 600 lines because the batch loop's duties share the executor's state; the interactive
//! phase, events and progress live in their own files.

pub mod cancel;
pub mod eta;
pub mod events;
pub mod interactive;
pub mod progress;
pub mod window;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::Digest;

pub use cancel::{cancel_all, CancelReport};
pub use events::{Counts, Event, JsonLines, Observer, Recorder};
pub use interactive::Interactive;
pub use progress::Progress;

use crate::ee::{self, Class, Client, EeError, Operation, Problem, Scope, State};
use crate::journal::{self, ChunkRow, ChunkState, Journal, JournalError, RunChunk};
use crate::plan::{ChunkPlanner, RunMode, Task};

/// How the executor behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// At most this many of this run's tasks PENDING or RUNNING.
    pub max_concurrent: usize,
    /// Never push the project's active tasks (all users) past this.
    pub queue_limit: usize,
    /// Tasks per chunk for transient task failures (new request id each).
    pub max_task_attempts: u32,
    pub poll_min: Duration,
    pub poll_max: Duration,
    /// Submit what fits now, then return (`run --detach`).
    pub detach: bool,
    /// Give up waiting at this instant (`wait --timeout`): exit 3, tasks keep running.
    pub deadline: Option<Instant>,
    /// Submit chunks that failed or were cancelled in an earlier run again (`run`: yes; `wait`: no).
    pub retry_finished_failures: bool,
    /// Consecutive rounds in which every call failed transiently before giving up (Earth Engine unreachable).
    pub max_unreachable_rounds: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_concurrent: crate::pipeline::model::Chunks::DEFAULT_MAX_CONCURRENT,
            queue_limit: 3000,
            max_task_attempts: 4,
            poll_min: Duration::from_secs(5),
            poll_max: Duration::from_secs(60),
            detach: false,
            deadline: None,
            retry_finished_failures: true,
            max_unreachable_rounds: 10,
        }
    }
}

/// A shared "stop now" flag (Ctrl-C).
#[derive(Clone, Default)]
pub struct Stop(Arc<(AtomicBool, tokio::sync::Notify)>);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn trigger(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.0 .0.load(Ordering::SeqCst)
    }

    pub async fn wait(&self) {
        loop {
            let notified = self.0 .1.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Outcome {
    pub counts: Counts,
    pub interrupted: bool,
    pub timed_out: bool,
    pub detached: bool,
    /// The run-wide fatal error that stopped submissions, if any.
    pub fatal: Option<String>,
}

impl Outcome {
    /// Chunks neither finished nor failed (still on Earth Engine or never submitted).
    pub fn remaining(&self) -> usize {
        self.counts.total - self.counts.done()
    }

    /// The process exit code for this outcome (see [`crate::exit`]).
    pub fn exit_code(&self) -> i32 {
        if self.interrupted || self.timed_out {
            crate::exit::INTERRUPTED
        } else if self.detached {
            crate::exit::OK
        } else if self.counts.failed > 0 || self.counts.cancelled > 0 || self.fatal.is_some() || self.remaining() > 0 {
            crate::exit::SOME_FAILED
        } else {
            crate::exit::OK
        }
    }
}

/// Why the executor could not go on (exit code 4).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("Earth Engine unreachable or refusing: {0}")]
    Ee(EeError),
    #[error("the journal {} has no plan yet: nothing was submitted for this pipeline (run `geepipe run` first)", .0.display())]
    NoPlan(std::path::PathBuf),
    /// An interactive result could not be written to disk.
    #[error("{0}")]
    Store(String),
}

/// The request id of attempt `attempt` (1-based) of a chunk whose planned id is `base`: the planned id for
/// attempt 1, then `<base>-r<attempt>` (hashed down when that would pass 60 characters). Deterministic, so a
/// crash between intent and response resubmits the same id.
pub fn attempt_request_id(base: &str, attempt: u32) -> String {
    if attempt <= 1 {
        return base.to_string();
    }
    let suffix = format!("-r{attempt}");
    if base.len() + suffix.len() <= 60 {
        return format!("{base}{suffix}");
    }
    let h = hex::encode(&sha2::Sha256::digest(base.as_bytes())[..12]);
    let keep = 60 - suffix.len() - h.len() - 1;
    format!("{}-{h}{suffix}", &base[..keep.min(base.len())])
}

/// A stored body (a JSON value) as the text sent with request id `request_id`.
fn with_request_id_value(mut body: serde_json::Value, request_id: &str) -> Vec<u8> {
    if let Some(o) = body.as_object_mut() {
        o.insert("requestId".into(), serde_json::Value::String(request_id.to_string()));
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A rebuilt body (whose `requestId` is the planned one, `base`) as the text sent with `request_id`: the
/// body's own `"requestId"` member comes after its expression and no later member has that key, so it is
/// the last one in the text, and is replaced in place (a body not shaped so is rewritten as a JSON value).
pub fn with_request_id(text: Vec<u8>, base: &str, request_id: &str) -> Vec<u8> {
    if base == request_id {
        return text;
    }
    const KEY: &[u8] = b"\"requestId\":";
    let found = text.windows(KEY.len()).rposition(|w| w == KEY).and_then(|at| {
        let start = at + KEY.len();
        let old = serde_json::to_vec(base).ok()?;
        text[start..].starts_with(&old).then_some((start, start + old.len()))
    });
    match found {
        Some((start, end)) => {
            let mut out = Vec::with_capacity(text.len() + request_id.len());
            out.extend_from_slice(&text[..start]);
            let _ = serde_json::to_writer(&mut out, request_id);
            out.extend_from_slice(&text[end..]);
            out
        }
        None => match serde_json::from_slice::<serde_json::Value>(&text) {
            Ok(v) => with_request_id_value(v, request_id),
            Err(_) => text,
        },
    }
}

/// A chunk as a task handle: what `status` shows (like Descartes Labs' `ExportTask`).
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    pub chunk: String,
    pub sites: usize,
    pub state: ChunkState,
    /// Nothing more will happen (succeeded, failed, cancelled, or split).
    pub ready: bool,
    pub success: bool,
    /// `transient`, `too_big`, `fatal`, `fatal_run`, `cancelled`, or null.
    pub failure_type: Option<String>,
    pub error: Option<String>,
    pub attempts: u32,
    pub runtime_s: Option<f64>,
    pub eecu_s: Option<f64>,
    pub operation: Option<String>,
    pub request_id: String,
    pub parent: Option<String>,
    /// `batch` (an export task) or `interactive` (requests).
    pub mode: RunMode,
    /// HTTP requests of an interactive chunk (pages and retries).
    pub requests: u32,
    /// An interactive chunk's stored result, relative to the journal's folder.
    pub result: Option<String>,
}

impl TaskStatus {
    pub fn from_row(r: &ChunkRow) -> TaskStatus {
        TaskStatus {
            chunk: r.chunk_id.clone(),
            sites: r.sites,
            state: r.state,
            ready: r.state.is_final(),
            success: r.state == ChunkState::Succeeded,
            failure_type: if r.state == ChunkState::Succeeded { None } else { r.error_class.clone() },
            error: if r.state == ChunkState::Succeeded { None } else { r.error.clone() },
            attempts: r.attempt,
            runtime_s: r.runtime(),
            eecu_s: r.eecu_seconds,
            operation: r.operation.clone(),
            request_id: r.request_id.clone(),
            parent: r.parent.clone(),
            mode: r.mode,
            requests: r.requests,
            result: r.result.clone(),
        }
    }
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Transient => "transient",
        Class::TooBig => "too_big",
        Class::Fatal(Scope::Chunk) => "fatal",
        Class::Fatal(Scope::Run) => "fatal_run",
        Class::AlreadyExists => "already_exists",
    }
}

/// The executor over one journal.
pub struct Executor {
    client: Client,
    journal: Journal,
    planner: Arc<dyn ChunkPlanner>,
    settings: Settings,
    observers: Vec<Box<dyn Observer>>,
    /// Every chunk as the executor holds it (see [`RunChunk`]); the journal has the rest of each row.
    chunks: Vec<RunChunk>,
    /// The counts of `chunks` by state, kept as they change.
    counts: Counts,
    queue: VecDeque<usize>,
    fatal: Option<String>,
    /// Local observation times (clock-independent duration estimates).
    seen_active: HashMap<usize, Instant>,
    /// How long the chunks that succeeded took, in order (seconds).
    durations: Vec<f64>,
    /// Operations not found by the last list (looked up with `operations.get` next round).
    missing_rounds: HashMap<usize, u32>,
    foreign_active: usize,
    /// How far back each poll reads the project's operation list.
    window: window::Window,
    unreachable_rounds: u32,
    /// Chunks whose submission was answered ALREADY_EXISTS: find their task by description.
    conflicts: HashSet<usize>,
    /// Failed resends per `submitting` chunk; after [`MAX_RESENDS`] the chunk is parked for this run
    /// (it stays `submitting` in the journal, so a later run resends the same request id).
    resend_failures: HashMap<usize, u32>,
    /// How interactive chunks are computed (`None`: they are left as they are).
    interactive: Option<Interactive>,
}

/// Resends of one `submitting` chunk per run before it is parked.
const MAX_RESENDS: u32 = 20;

impl Executor {
    /// Loads the journal's chunks; when the journal has no plan yet, records `tasks` as the plan first.
    pub fn new(
        client: Client,
        mut journal: Journal,
        tasks: Option<Vec<Task>>,
        planner: Arc<dyn ChunkPlanner>,
        settings: Settings,
    ) -> Result<Executor, ExecError> {
        if !journal.has_plan()? {
            match tasks {
                Some(t) => journal.record_plan(&t)?,
                None => return Err(ExecError::NoPlan(journal.path().to_path_buf())),
            }
        }
        // Each chunk is held as a compact [`RunChunk`]; its row is read from the journal when the chunk is sent,
        // changes, is retried or split (and its body rebuilt from the site file when sent), so memory grows with
        // the chunks by about 60 bytes each (48 and the id), not with the sites or the bodies.
        let chunks = journal.run_chunks()?;
        let counts = Counts::of(chunks.iter().map(|c| c.state));
        Ok(Executor {
            client,
            journal,
            planner,
            settings,
            observers: Vec::new(),
            chunks,
            counts,
            queue: VecDeque::new(),
            fatal: None,
            seen_active: HashMap::new(),
            durations: Vec::new(),
            missing_rounds: HashMap::new(),
            foreign_active: 0,
            window: window::Window::new(),
            unreachable_rounds: 0,
            conflicts: HashSet::new(),
            resend_failures: HashMap::new(),
            interactive: None,
        })
    }

    /// Like [`Executor::new`], recording a new plan with every chunk computed in `mode`.
    pub fn with_plan_mode(
        client: Client,
        mut journal: Journal,
        tasks: Vec<Task>,
        mode: RunMode,
        planner: Arc<dyn ChunkPlanner>,
        settings: Settings,
    ) -> Result<Executor, ExecError> {
        if !journal.has_plan()? {
            journal.record_plan_as(&tasks, mode)?;
        }
        Executor::new(client, journal, None, planner, settings)
    }

    /// Computes interactive chunks with `i` (without it they are left as they are).
    pub fn interactive(&mut self, i: Interactive) {
        self.interactive = Some(i);
    }

    /// Sets the mode of every chunk not sent yet (a rerun whose mode differs from the journal's plan).
    /// Returns how many changed.
    pub fn set_unsent_mode(&mut self, mode: RunMode) -> Result<usize, ExecError> {
        let changed: Vec<usize> = (0..self.chunks.len())
            .filter(|&i| {
                let c = &self.chunks[i];
                c.mode != mode
                    && matches!(c.state, ChunkState::Planned | ChunkState::Failed | ChunkState::Cancelled)
                    && c.operation.is_none()
            })
            .collect();
        self.update_all(&changed, |r| r.mode = mode)?;
        Ok(changed.len())
    }

    /// Says which mode the run uses and why (the first event observers see after `started`).
    pub fn announce_mode(&mut self, mode: RunMode, reason: &str) {
        self.emit(Event::Mode { mode: mode.as_str().into(), reason: reason.to_string() });
    }

    pub fn observe(&mut self, o: Box<dyn Observer>) {
        self.observers.push(o);
    }

    /// Every chunk as the executor holds it (the journal has their whole rows).
    pub fn chunks(&self) -> &[RunChunk] {
        &self.chunks
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn counts(&self) -> Counts {
        debug_assert_eq!(self.counts, Counts::of(self.chunks.iter().map(|c| c.state)));
        self.counts
    }

    fn emit(&mut self, e: Event) {
        let detail = serde_json::to_value(&e).unwrap_or_default();
        if let Err(err) = self.journal.log_event(e.chunk(), e.kind(), &detail) {
            tracing::warn!("journal: {err}");
        }
        let c = self.counts();
        for o in &mut self.observers {
            o.event(&e, &c);
        }
    }

    /// Chunk `i`'s row, read from the journal.
    fn load(&self, i: usize) -> Result<ChunkRow, ExecError> {
        Ok(self.journal.row(&self.chunks[i].chunk_id)?)
    }

    /// Writes chunk `i`'s row (and its current attempt) and keeps the executor's copy in step.
    fn store(&mut self, i: usize, row: &ChunkRow) -> Result<(), ExecError> {
        self.journal.put(&[row])?;
        self.follow(i, row);
        Ok(())
    }

    /// Takes the changes of chunk `i`'s row into the executor's copy and the counts.
    fn follow(&mut self, i: usize, row: &ChunkRow) {
        let c = &mut self.chunks[i];
        if c.state != row.state {
            self.counts.remove(c.state);
            self.counts.add(row.state);
        }
        c.follow(row);
    }

    /// Reads chunk `i`'s row, lets `f` change it, writes it back: returns what `f` returns.
    fn update<T>(&mut self, i: usize, f: impl FnOnce(&mut ChunkRow) -> T) -> Result<T, ExecError> {
        let mut row = self.load(i)?;
        let out = f(&mut row);
        self.store(i, &row)?;
        Ok(out)
    }

    /// [`Executor::update`] of the chunks `idx`, committed together (one row in memory at a time).
    fn update_all(&mut self, idx: &[usize], mut f: impl FnMut(&mut ChunkRow)) -> Result<(), ExecError> {
        if idx.is_empty() {
            return Ok(());
        }
        // Committed when this returns, whatever was open before: an intent is durable before it is sent.
        self.journal.begin_batch()?;
        for &i in idx {
            self.update(i, &mut f)?;
        }
        self.journal.commit_batch()?;
        Ok(())
    }

    fn active(&self) -> usize {
        let c = self.counts();
        c.submitting + c.pending + c.running
    }

    fn parked(&self) -> usize {
        self.resend_failures
            .iter()
            .filter(|(i, n)| **n >= MAX_RESENDS && self.chunks[**i].state == ChunkState::Submitting)
            .count()
    }

    /// Runs until every chunk is final, or detach / interrupt / timeout / a fatal environment error.
    ///
    /// A stop (Ctrl-C) is honoured at once, even while a request hangs: the run is dropped at its current
    /// await point, which is always between journal transactions (intent is committed before a request
    /// is sent, so an answer that never came is resent with the same request id by the next run; an
    /// interactive request in flight is asked again).
    pub async fn run(mut self, stop: Stop) -> Result<Outcome, ExecError> {
        let finished = tokio::select! {
            r = self.run_until_done(&stop) => Some(r),
            _ = stop.wait() => None,
        };
        let outcome = match finished {
            Some(r) => r?,
            None => {
                self.interrupted_requests()?;
                self.outcome_with(|o| o.interrupted = true)
            }
        };
        let c = outcome.counts;
        self.emit(Event::Finished {
            succeeded: c.succeeded,
            failed: c.failed,
            cancelled: c.cancelled,
            remaining: outcome.remaining(),
        });
        for o in &mut self.observers {
            o.finish(&c);
        }
        Ok(outcome)
    }

    async fn run_until_done(&mut self, stop: &Stop) -> Result<Outcome, ExecError> {
        let resumed = self.chunks.iter().any(|c| c.attempt > 0);
        // Cancelled chunks whose task may have finished after all (a cancel that arrived too late):
        // checked against the first listing before they are submitted again.
        let mut cancelled_ops: Vec<(usize, String)> = Vec::new();
        // Earlier failures and cancellations get another chance in `run` (new attempt, new request id).
        if self.settings.retry_finished_failures {
            let again: Vec<usize> = (0..self.chunks.len())
                .filter(|&i| matches!(self.chunks[i].state, ChunkState::Failed | ChunkState::Cancelled))
                .collect();
            cancelled_ops = again
                .iter()
                .filter(|&&i| self.chunks[i].state == ChunkState::Cancelled)
                .filter_map(|&i| self.chunks[i].operation.as_deref().map(|o| (i, o.to_string())))
                .collect();
            let max_attempts = self.settings.max_task_attempts;
            self.update_all(&again, |r| {
                r.state = ChunkState::Planned;
                r.error = None;
                r.error_class = None;
                r.operation = None;
                r.ended_at = None;
                r.started_at = None;
                if r.attempt >= max_attempts {
                    // One more attempt in this run.
                    r.attempt = r.attempt.saturating_sub(1);
                }
            })?;
        }
        let planned = self.counts().planned;
        let now = Instant::now();
        for (i, c) in self.chunks.iter().enumerate() {
            if c.state.is_active() && c.mode == RunMode::Batch {
                self.seen_active.insert(i, now);
            }
        }
        let c = self.counts();
        self.emit(Event::Started {
            chunks: c.total,
            done: c.done(),
            active: self.active(),
            to_submit: planned,
            resumed,
        });
        self.phases(stop, cancelled_ops).await
    }

    /// Interactive chunks whose request was in flight when the run stopped: asked again by the next run.
    pub(super) fn interrupted_requests(&mut self) -> Result<(), ExecError> {
        let back: Vec<usize> = (0..self.chunks.len())
            .filter(|&i| self.chunks[i].mode == RunMode::Interactive && self.chunks[i].state == ChunkState::Running)
            .collect();
        self.update_all(&back, |r| r.state = ChunkState::Planned)
    }

    /// The interactive chunks, then the batch chunks.
    async fn phases(&mut self, stop: &Stop, cancelled_ops: Vec<(usize, String)>) -> Result<Outcome, ExecError> {
        if let Some(o) = self.run_interactive(stop).await? {
            return Ok(o);
        }
        self.queue = (0..self.chunks.len())
            .filter(|&i| self.chunks[i].state == ChunkState::Planned && self.chunks[i].mode == RunMode::Batch)
            .collect();
        if !self.chunks.iter().any(|c| c.mode == RunMode::Batch && !c.state.is_final()) {
            return Ok(self.outcome_with(|_| {}));
        }
        self.run_batch(stop, cancelled_ops).await
    }

    /// The batch loop (see the module doc).
    async fn run_batch(&mut self, stop: &Stop, cancelled_ops: Vec<(usize, String)>) -> Result<Outcome, ExecError> {
        // Learn the project's queue and adopt live operations before submitting anything.
        let also: HashSet<&str> = cancelled_ops.iter().map(|(_, name)| name.as_str()).collect();
        let mut ops = self.poll(&also).await?;
        drop(also);
        self.adopt_submitting(&ops).await?;
        for (i, name) in cancelled_ops {
            if let Some(op) = ops.iter().find(|o| o.name == name && o.state() == State::Succeeded) {
                // It finished before the cancel reached it: its result exists, never export it twice.
                self.queue.retain(|&q| q != i);
                self.apply(i, &op.clone())?;
            }
        }

        let mut interval = self.settings.poll_min;
        let no_names = HashSet::new();
        let outcome = loop {
            if stop.is_set() {
                break self.outcome_with(|o| o.interrupted = true);
            }
            if self.settings.deadline.is_some_and(|d| Instant::now() >= d) {
                break self.outcome_with(|o| o.timed_out = true);
            }
            let submitted = tokio::select! {
                r = self.submit_round() => r?,
                _ = stop.wait() => { break self.outcome_with(|o| o.interrupted = true); }
            };
            if self.settings.detach {
                break self.outcome_with(|o| o.detached = true);
            }
            let live = self.active() - self.parked();
            if self.chunks.iter().all(|c| c.state.is_final())
                || (self.queue.is_empty() && live == 0)
                || (self.fatal.is_some() && live == 0)
            {
                break self.outcome_with(|_| {});
            }
            interval = if submitted > 0 { self.settings.poll_min } else { interval };
            let sleep = self.next_interval(interval);
            let sleep = match self.settings.deadline {
                Some(d) => sleep.min(d.saturating_duration_since(Instant::now())),
                None => sleep,
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.wait() => { break self.outcome_with(|o| o.interrupted = true); }
            }
            let before = self.state_fingerprint();
            ops = tokio::select! {
                r = self.poll(&no_names) => r?,
                _ = stop.wait() => { break self.outcome_with(|o| o.interrupted = true); }
            };
            self.adopt_submitting(&ops).await?;
            interval = if self.state_fingerprint() != before {
                self.settings.poll_min
            } else {
                (sleep.mul_f64(1.5)).clamp(self.settings.poll_min, self.settings.poll_max)
            };
        };
        Ok(outcome)
    }

    fn outcome_with(&self, f: impl FnOnce(&mut Outcome)) -> Outcome {
        let mut o = Outcome { counts: self.counts(), fatal: self.fatal.clone(), ..Outcome::default() };
        f(&mut o);
        o
    }

    fn state_fingerprint(&self) -> Counts {
        self.counts()
    }

    /// The sleep before the next poll: `base`, but no later than the predicted end of the soonest task.
    fn next_interval(&self, base: Duration) -> Duration {
        let mut next = base.clamp(self.settings.poll_min, self.settings.poll_max);
        if self.durations.len() >= 3 {
            let d = &self.durations;
            let typical = d[d.len() / 4]; // a low quantile: rather poll a bit early than late
            let now = Instant::now();
            let soonest = self
                .seen_active
                .iter()
                .filter(|(i, _)| self.chunks[**i].state.is_active())
                .map(|(_, t)| typical - now.duration_since(*t).as_secs_f64())
                .fold(f64::INFINITY, f64::min);
            if soonest.is_finite() {
                let s = Duration::from_secs_f64(soonest.max(0.0));
                next = next.min(s.max(self.settings.poll_min));
            }
        }
        next
    }

    /// Submits the next batch that fits under both limits. Returns how many were sent.
    async fn submit_round(&mut self) -> Result<usize, ExecError> {
        if self.fatal.is_some() {
            return Ok(0);
        }
        let active = self.active();
        let room_own = self.settings.max_concurrent.saturating_sub(active);
        let room_queue = self.settings.queue_limit.saturating_sub(active + self.foreign_active);
        let n = room_own.min(room_queue).min(self.queue.len());
        if n == 0 {
            return Ok(0);
        }
        let batch: Vec<usize> = self.queue.drain(..n).collect();
        // Intent: every chunk of the batch is `submitting` with its new request id BEFORE anything is sent.
        let now = journal::now();
        self.update_all(&batch, |r| {
            r.attempt += 1;
            r.request_id = attempt_request_id(&r.base_request_id, r.attempt);
            r.state = ChunkState::Submitting;
            r.operation = None;
            r.submitted_at = Some(now);
            r.started_at = None;
            r.ended_at = None;
        })?;
        self.send(&batch, false).await?;
        Ok(batch.len())
    }

    /// The body of chunk `i` as sent, as JSON text: the journal's, or rebuilt from the site file for a zonal
    /// chunk whose body the journal does not keep (bodies are deterministic: the same request id, the same
    /// bytes). Either way it carries the request id of the current attempt.
    fn body(&self, i: usize) -> Result<Vec<u8>, String> {
        let chunk = &self.chunks[i].chunk_id;
        let detail = self
            .journal
            .detail(chunk)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("chunk {chunk} is not in the journal"))?;
        if !detail.body.is_null() {
            return Ok(with_request_id_value(detail.body, &detail.request_id));
        }
        let text = self
            .planner
            .body(chunk, &detail.site_ids, detail.cells.as_ref())
            .map_err(|e| format!("cannot rebuild the request of chunk {chunk}: {e}"))?;
        Ok(with_request_id(text, &detail.base_request_id, &detail.request_id))
    }

    /// Sends the `submitting` chunks `batch` (with their recorded request ids) and records the outcomes.
    async fn send(&mut self, batch: &[usize], adopting: bool) -> Result<(), ExecError> {
        let mut requests = Vec::with_capacity(batch.len());
        let mut unbuildable = Vec::new();
        for &i in batch {
            match self.body(i) {
                Ok(body) => requests.push((i, self.chunks[i].endpoint, bytes::Bytes::from(body))),
                Err(e) => unbuildable.push((i, e)),
            }
        }
        for (i, e) in unbuildable {
            self.failed(i, Class::Fatal(Scope::Chunk), e)?;
        }
        let batch: Vec<usize> = requests.iter().map(|(i, _, _)| *i).collect();
        let requests: Vec<_> = requests.into_iter().map(|(_, ep, body)| (ep, body)).collect();
        let client = self.client.clone();
        // Every planned request carries a request id (retried on transient failures).
        let results =
            futures::future::join_all(requests.iter().map(|(ep, body)| client.export_text(*ep, body, true))).await;
        let mut any_ok = false;
        let mut last_err = None;
        // The intents were committed before sending; the outcomes of the batch commit together.
        self.journal.begin_batch()?;
        for (&i, res) in batch.iter().zip(results) {
            match res {
                Ok(op) => {
                    any_ok = true;
                    self.resend_failures.remove(&i);
                    self.conflicts.remove(&i);
                    self.seen_active.insert(i, Instant::now());
                    self.window.learn(&op);
                    let (chunk, attempt, request_id) = self.update(i, |r| {
                        r.operation = Some(op.name.clone());
                        r.state = ChunkState::Pending;
                        (r.chunk_id.clone(), r.attempt, r.request_id.clone())
                    })?;
                    if adopting {
                        self.emit(Event::Adopted { chunk, operation: op.name.clone() });
                    } else {
                        self.emit(Event::Submitted { chunk, attempt, request_id, operation: op.name.clone() });
                    }
                    self.apply(i, &op)?;
                }
                Err(e) => {
                    let class = e.class();
                    match class {
                        // Maybe created: stays `submitting`, resent with the same id (deduplicated) next round.
                        Class::Transient | Class::AlreadyExists => {
                            tracing::debug!(chunk = %self.chunks[i].chunk_id, error = %e, "submission not confirmed");
                            if class == Class::AlreadyExists {
                                any_ok = true;
                                self.conflicts.insert(i);
                            }
                            *self.resend_failures.entry(i).or_insert(0) += 1;
                            last_err = Some(e);
                        }
                        _ => {
                            any_ok = true; // the service answered
                            self.failed(i, class, e.problem.summary())?;
                        }
                    }
                }
            }
        }
        self.journal.commit_batch()?;
        self.note_reachability(any_ok, last_err)
    }

    fn note_reachability(&mut self, any_ok: bool, err: Option<EeError>) -> Result<(), ExecError> {
        match (any_ok, err) {
            (true, _) | (false, None) => {
                self.unreachable_rounds = 0;
                Ok(())
            }
            (false, Some(e)) => {
                self.unreachable_rounds += 1;
                if self.unreachable_rounds >= self.settings.max_unreachable_rounds {
                    Err(ExecError::Ee(e))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// `submitting` chunks: find their operation (409 / lost response) or resend with the same request id.
    async fn adopt_submitting(&mut self, ops: &[Operation]) -> Result<(), ExecError> {
        let waiting: Vec<usize> = (0..self.chunks.len())
            .filter(|&i| self.chunks[i].state == ChunkState::Submitting)
            .filter(|i| self.resend_failures.get(i).is_none_or(|n| *n < MAX_RESENDS))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        let known: HashSet<&str> = self.chunks.iter().filter_map(|c| c.operation.as_deref()).collect();
        let mut resend = Vec::new();
        let mut found = Vec::new();
        for &i in &waiting {
            // A task created by an earlier attempt of ours carries this chunk's description and no known name.
            let r = self.load(i)?;
            let candidate = ops
                .iter()
                .filter(|o| o.description() == Some(r.description.as_str()) && !known.contains(o.name.as_str()))
                .filter(|o| {
                    let created = o.metadata.as_ref().and_then(|m| m.create_time.as_deref()).and_then(ee::parse_time);
                    // Only tasks created after this attempt's intent (allow clock skew of 10 minutes).
                    match (created, r.submitted_at) {
                        (Some(c), Some(s)) => c >= s - 600.0,
                        _ => true,
                    }
                })
                .max_by(|a, b| {
                    let t = |o: &Operation| o.metadata.as_ref().and_then(|m| m.create_time.clone()).unwrap_or_default();
                    t(a).cmp(&t(b))
                });
            match candidate {
                Some(op) if self.conflicts.contains(&i) => found.push((i, op.clone())),
                _ => resend.push(i),
            }
        }
        for (i, op) in found {
            self.conflicts.remove(&i);
            self.resend_failures.remove(&i);
            self.seen_active.insert(i, Instant::now());
            let chunk = self.update(i, |r| {
                r.operation = Some(op.name.clone());
                r.state = ChunkState::Pending;
                r.chunk_id.clone()
            })?;
            self.emit(Event::Adopted { chunk, operation: op.name.clone() });
            self.apply(i, &op)?;
        }
        if !resend.is_empty() {
            self.send(&resend, true).await?;
        }
        Ok(())
    }

    /// How far back this poll reads the list (see [`window`]): down to the oldest task in flight, and to
    /// 10 minutes (clock skew) before the intent of a chunk whose submission may have been lost.
    fn list_since(&self) -> Result<Option<f64>, ExecError> {
        let watched = self.chunks.iter().filter(|c| c.state.is_active() && c.state != ChunkState::Submitting);
        let Some(mut since) = self.window.since(watched.filter_map(|c| c.operation.as_deref())) else {
            return Ok(None);
        };
        for i in (0..self.chunks.len()).filter(|&i| self.chunks[i].state == ChunkState::Submitting) {
            match self.load(i)?.submitted_at {
                Some(at) => since = since.min(at - 600.0),
                None => return Ok(None),
            }
        }
        Ok(Some(since))
    }

    /// One paged `operations.list` (as far back as [`Executor::list_since`]); updates every watched chunk.
    /// Returns the operations the caller may still need: this run's watched ones, those named in `also`, and
    /// unknown ones carrying the description of a chunk whose submission is unconfirmed (adopted by
    /// [`Executor::adopt_submitting`]). The listing is read page by page and nothing else of it is kept
    /// (a project's list holds its whole history: tens of thousands of operations at a million sites).
    async fn poll(&mut self, also: &HashSet<&str>) -> Result<Vec<Operation>, ExecError> {
        let since = self.list_since()?;
        // The descriptions of the chunks whose submission is unconfirmed (read from the journal: few, if any).
        let descriptions = (0..self.chunks.len())
            .filter(|&i| self.chunks[i].state == ChunkState::Submitting)
            .map(|i| Ok(self.load(i)?.description))
            .collect::<Result<Vec<String>, ExecError>>()?;
        let unconfirmed: HashSet<&str> = descriptions.iter().map(String::as_str).collect();
        let ours: HashSet<&str> = self.chunks.iter().filter_map(|c| c.operation.as_deref()).collect();
        let watched: HashMap<&str, usize> = (0..self.chunks.len())
            .filter(|&i| self.chunks[i].state.is_active())
            .filter_map(|i| Some((self.chunks[i].operation.as_deref()?, i)))
            .collect();
        let mut kept = Vec::new();
        let window = &mut self.window;
        window.begin();
        let read = self
            .client
            .list_operations_each(since, |op| {
                let mine = ours.contains(op.name.as_str());
                window.see(&op, mine);
                let keep = watched.contains_key(op.name.as_str())
                    || also.contains(op.name.as_str())
                    || (!mine && op.description().is_some_and(|d| unconfirmed.contains(d)));
                if keep {
                    kept.push(op);
                }
            })
            .await;
        let paged = match read {
            Ok(paged) => {
                self.unreachable_rounds = 0;
                paged
            }
            Err(e) => {
                return match e.class() {
                    Class::Transient => {
                        self.note_reachability(false, Some(e))?;
                        Ok(Vec::new())
                    }
                    _ => Err(ExecError::Ee(e)),
                };
            }
        };
        self.foreign_active = self.window.end(paged.complete);
        let by_name: HashMap<&str, &Operation> = kept.iter().map(|o| (o.name.as_str(), o)).collect();
        let mut updates = Vec::new();
        let mut missing = Vec::new();
        let mut watched: Vec<(&str, usize)> = watched.into_iter().collect();
        watched.sort_unstable_by_key(|&(_, i)| i);
        for (name, i) in watched {
            match by_name.get(name) {
                Some(op) => {
                    self.missing_rounds.remove(&i);
                    updates.push((i, (*op).clone()));
                }
                None => missing.push(i),
            }
        }
        drop(by_name);
        // One transaction for everything this poll observed.
        self.journal.begin_batch()?;
        for (i, op) in updates {
            self.apply(i, &op)?;
        }
        self.journal.commit_batch()?;
        // Not in the list (eventual consistency, or listing limits): ask for it directly after two rounds.
        for i in missing {
            let n = self.missing_rounds.entry(i).or_insert(0);
            *n += 1;
            if *n < 2 {
                continue;
            }
            let name = self.chunks[i].operation.as_deref().unwrap_or_default().to_string();
            match self.client.get_operation(&name).await {
                Ok(op) => {
                    self.missing_rounds.remove(&i);
                    self.apply(i, &op)?;
                }
                Err(e) if e.problem.http_status == Some(404) => {
                    self.missing_rounds.remove(&i);
                    self.failed(i, Class::Fatal(Scope::Chunk), format!("operation {name} disappeared: {e}"))?;
                }
                Err(e) => tracing::debug!(error = %e, "operations.get"),
            }
        }
        let next = self.next_interval(self.settings.poll_min).as_millis() as u64;
        let foreign_active = self.foreign_active;
        self.emit(Event::Poll { operations: paged.listed, foreign_active, next_ms: next });
        Ok(kept)
    }

    /// Applies an operation's state to its chunk (written to the journal when the state changes: the times
    /// and EECU seconds the operation carries go with it).
    fn apply(&mut self, i: usize, op: &Operation) -> Result<(), ExecError> {
        let state = op.state();
        if state.is_terminal() {
            self.window.forget(&op.name);
        }
        let from = self.chunks[i].state;
        let to = match state {
            State::Pending | State::StateUnspecified => ChunkState::Pending,
            State::Running => ChunkState::Running,
            State::Cancelling => ChunkState::Cancelling,
            State::Succeeded => ChunkState::Succeeded,
            State::Cancelled => ChunkState::Cancelled,
            State::Failed => ChunkState::Failed,
        };
        if from == to && !state.is_terminal() {
            return Ok(());
        }
        let meta = op.metadata.clone().unwrap_or_default();
        let observed = |r: &mut ChunkRow| {
            r.operation = Some(op.name.clone());
            if let Some(t) = meta.start_time.as_deref().and_then(ee::parse_time) {
                r.started_at = Some(t);
            }
            if let Some(t) = meta.end_time.as_deref().and_then(ee::parse_time) {
                r.ended_at = Some(t);
            } else if state.is_terminal() {
                r.ended_at = meta.update_time.as_deref().and_then(ee::parse_time).or(r.ended_at);
            }
            if let Some(e) = meta.batch_eecu_usage_seconds {
                r.eecu_seconds = Some(e);
            }
        };
        let chunk = self.chunks[i].chunk_id.to_string();
        match to {
            ChunkState::Succeeded => {
                if let Some(t) = self.seen_active.remove(&i) {
                    let d = t.elapsed().as_secs_f64();
                    let at = self.durations.partition_point(|&x| x <= d);
                    self.durations.insert(at, d);
                }
                let (runtime_s, eecu_s) = self.update(i, |r| {
                    observed(r);
                    r.state = to;
                    r.error = None;
                    r.error_class = None;
                    (r.runtime(), r.eecu_seconds)
                })?;
                self.emit(Event::StateChanged { chunk: chunk.clone(), from, to });
                self.emit(Event::Succeeded { chunk, runtime_s, eecu_s });
            }
            ChunkState::Cancelled => {
                self.seen_active.remove(&i);
                self.update(i, |r| {
                    observed(r);
                    r.state = to;
                    r.error_class = Some("cancelled".into());
                    r.error = Some("cancelled".into());
                })?;
                self.emit(Event::StateChanged { chunk: chunk.clone(), from, to });
                self.emit(Event::Cancelled { chunk });
            }
            ChunkState::Failed => {
                self.seen_active.remove(&i);
                let problem = op.problem().unwrap_or_else(|| Problem::task(2, "task failed without an error message"));
                let class = ee::classify(&problem);
                self.failed_with(i, class, problem.message.clone(), observed)?;
            }
            _ => {
                self.update(i, |r| {
                    observed(r);
                    r.state = to;
                })?;
                self.emit(Event::StateChanged { chunk, from, to });
            }
        }
        Ok(())
    }

    /// A chunk's attempt failed with `class`: retry, split, or record the failure.
    fn failed(&mut self, i: usize, class: Class, error: String) -> Result<(), ExecError> {
        self.failed_with(i, class, error, |_| {})
    }

    /// [`Executor::failed`], with what else was observed of the attempt (`observed`) written with it.
    fn failed_with(
        &mut self,
        i: usize,
        class: Class,
        error: String,
        observed: impl FnOnce(&mut ChunkRow),
    ) -> Result<(), ExecError> {
        let mut row = self.load(i)?;
        observed(&mut row);
        self.failed_row(i, row, class, error)
    }

    /// [`Executor::failed`] of chunk `i` whose row, read and changed by the caller, is `row`.
    fn failed_row(&mut self, i: usize, mut row: ChunkRow, class: Class, error: String) -> Result<(), ExecError> {
        let chunk = row.chunk_id.clone();
        match class {
            Class::Transient if row.attempt < self.settings.max_task_attempts => {
                row.state = ChunkState::Planned;
                row.error = Some(error.clone());
                row.error_class = Some(class_name(class).into());
                let attempt = row.attempt + 1;
                self.store(i, &row)?;
                self.queue.push_front(i);
                self.emit(Event::Retried { chunk, attempt, error });
            }
            Class::TooBig if row.sites > 1 => self.split(i, row, error)?,
            _ => {
                let single = match class {
                    Class::TooBig => self.journal.detail(&row.chunk_id)?.map(|d| d.site_ids.join(",")),
                    _ => None,
                };
                row.state = ChunkState::Failed;
                row.error = Some(match single {
                    Some(site) => format!("{error} (single site {site})"),
                    None => error.clone(),
                });
                row.error_class = Some(class_name(class).into());
                if row.ended_at.is_none() {
                    row.ended_at = Some(journal::now());
                }
                let shown = row.error.clone().unwrap_or_default();
                self.store(i, &row)?;
                self.emit(Event::Failed { chunk, class: class_name(class).into(), error: shown });
                if class == Class::Fatal(Scope::Run) && self.fatal.is_none() {
                    self.fatal = Some(error.clone());
                    let not_submitted = self.queue.len();
                    self.emit(Event::FatalStop { error, not_submitted });
                }
            }
        }
        Ok(())
    }

    /// Replaces chunk `i` (whose row is `row`) by two halves (planned by the [`ChunkPlanner`]) and queues
    /// them first.
    fn split(&mut self, i: usize, mut row: ChunkRow, error: String) -> Result<(), ExecError> {
        let parent = row.chunk_id.clone();
        let detail = self.journal.detail(&parent)?;
        let (sites, cells) = detail.map(|d| (d.site_ids, d.cells)).unwrap_or_default();
        let mid = sites.len() / 2;
        let positions: [Vec<usize>; 2] = [(0..mid).collect(), (mid..sites.len()).collect()];
        let halves = [
            (format!("{parent}a"), &sites[..mid], &positions[0]),
            (format!("{parent}b"), &sites[mid..], &positions[1]),
        ];
        let mut tasks = Vec::new();
        let mut half_cells = Vec::new();
        for (id, s, pos) in halves {
            let c = cells.as_ref().map(|c| c.subset(pos));
            match self.planner.task(&id, s, c.as_ref()) {
                Ok(t) => {
                    tasks.push(t);
                    half_cells.push(c);
                }
                Err(e) => {
                    return self.failed_row(
                        i,
                        row,
                        Class::Fatal(Scope::Chunk),
                        format!("{error}; could not split it: {e}"),
                    );
                }
            }
        }
        let seq = self.journal.max_seq()?;
        let mut new_idx = Vec::new();
        let mut new_rows = Vec::new();
        for (k, t) in tasks.iter().enumerate() {
            // Halves already made (by an earlier split of this chunk) are kept as they are.
            if let Some(existing) = self.chunks.iter().position(|c| *c.chunk_id == t.chunk_id) {
                new_idx.push(existing);
                continue;
            }
            let mut half = ChunkRow { mode: row.mode, ..ChunkRow::from_task(t, seq + 1 + k as i64, Some(&parent)) };
            if let Some(c) = half_cells[k].take() {
                // Rebuilt from the site file when sent, like its parent.
                half.cells = Some(c);
                half.body = serde_json::Value::Null;
            }
            new_idx.push(self.chunks.len() + new_rows.len());
            new_rows.push(half);
        }
        row.state = ChunkState::Split;
        row.error = Some(error.clone());
        row.error_class = Some("too_big".into());
        let mut all = vec![&row];
        all.extend(&new_rows);
        self.journal.put(&all)?;
        self.follow(i, &row);
        for half in &new_rows {
            self.counts.add(half.state);
            self.chunks.push(RunChunk::of(half));
        }
        drop(new_rows);
        for &n in new_idx.iter().rev() {
            if self.chunks[n].state == ChunkState::Planned {
                self.queue.push_front(n);
            }
        }
        let into = new_idx.iter().map(|&n| self.chunks[n].chunk_id.to_string()).collect();
        self.emit(Event::Split { chunk: parent, into, error });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_request_ids_are_deterministic_and_valid() {
        assert_eq!(attempt_request_id("gp-abc-c00001", 1), "gp-abc-c00001");
        assert_eq!(attempt_request_id("gp-abc-c00001", 2), "gp-abc-c00001-r2");
        let long = "x".repeat(60);
        let a = attempt_request_id(&long, 3);
        assert!(a.len() <= 60, "{a}");
        assert_eq!(a, attempt_request_id(&long, 3));
        assert_ne!(a, attempt_request_id(&long, 4));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn a_rebuilt_body_carries_the_attempts_request_id() {
        let body = serde_json::json!({
            "expression": {"values": {"0": {"constantValue": {"requestId": "gp-c1-x"}}}, "result": "0"},
            "description": "d",
            "requestId": "gp-c1-x",
            "selectors": ["requestId"],
        });
        let text = serde_json::to_vec(&body).unwrap();
        assert_eq!(with_request_id(text.clone(), "gp-c1-x", "gp-c1-x"), text);
        let sent: serde_json::Value =
            serde_json::from_slice(&with_request_id(text.clone(), "gp-c1-x", "gp-c1-x-r2")).unwrap();
        let mut want = body.clone();
        want["requestId"] = "gp-c1-x-r2".into();
        assert_eq!(sent, want, "only the body's own member changes");
        // A body whose member is not where expected is rewritten through its JSON value.
        let other = serde_json::to_vec(&serde_json::json!({"requestId": "elsewhere", "a": 1})).unwrap();
        let sent: serde_json::Value = serde_json::from_slice(&with_request_id(other, "gp-c1-x", "r3")).unwrap();
        assert_eq!(sent["requestId"], "r3");
    }

    #[test]
    fn exit_codes_follow_the_outcome() {
        let mut o = Outcome { counts: Counts { total: 2, succeeded: 2, ..Counts::default() }, ..Outcome::default() };
        assert_eq!(o.exit_code(), crate::exit::OK);
        o.counts.succeeded = 1;
        o.counts.failed = 1;
        assert_eq!(o.exit_code(), crate::exit::SOME_FAILED);
        o.interrupted = true;
        assert_eq!(o.exit_code(), crate::exit::INTERRUPTED);
    }
}
