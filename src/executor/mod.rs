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
use crate::journal::{self, ChunkRow, ChunkState, Journal, JournalError};
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
    rows: Vec<ChunkRow>,
    index: HashMap<String, usize>,
    queue: VecDeque<usize>,
    fatal: Option<String>,
    /// Local observation times (clock-independent duration estimates).
    seen_active: HashMap<usize, Instant>,
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
        // Chunks are loaded without site ids, bodies and targets (site ids and bodies are read from the journal,
        // or rebuilt from the site file, when a chunk is sent or split), so memory grows with the chunks by a
        // few hundred bytes each, not with the sites or the bodies.
        let rows = journal.chunks_to_run()?;
        let index = rows.iter().enumerate().map(|(i, r)| (r.chunk_id.clone(), i)).collect();
        Ok(Executor {
            client,
            journal,
            planner,
            settings,
            observers: Vec::new(),
            rows,
            index,
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
        let changed: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let r = &self.rows[i];
                r.mode != mode
                    && matches!(r.state, ChunkState::Planned | ChunkState::Failed | ChunkState::Cancelled)
                    && r.operation.is_none()
            })
            .collect();
        for &i in &changed {
            self.rows[i].mode = mode;
        }
        self.save(&changed)?;
        Ok(changed.len())
    }

    /// Says which mode the run uses and why (the first event observers see after `started`).
    pub fn announce_mode(&mut self, mode: RunMode, reason: &str) {
        self.emit(Event::Mode { mode: mode.as_str().into(), reason: reason.to_string() });
    }

    pub fn observe(&mut self, o: Box<dyn Observer>) {
        self.observers.push(o);
    }

    pub fn rows(&self) -> &[ChunkRow] {
        &self.rows
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn counts(&self) -> Counts {
        Counts::of(self.rows.iter().map(|r| r.state))
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

    fn save(&mut self, idx: &[usize]) -> Result<(), ExecError> {
        let rows: Vec<&ChunkRow> = idx.iter().map(|&i| &self.rows[i]).collect();
        self.journal.put(&rows)?;
        Ok(())
    }

    fn active(&self) -> usize {
        self.rows.iter().filter(|r| r.state.is_active()).count()
    }

    fn parked(&self) -> usize {
        self.resend_failures
            .iter()
            .filter(|(i, n)| **n >= MAX_RESENDS && self.rows[**i].state == ChunkState::Submitting)
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
        let resumed = self.rows.iter().any(|r| r.attempt > 0);
        // Cancelled chunks whose task may have finished after all (a cancel that arrived too late):
        // checked against the first listing before they are submitted again.
        let mut cancelled_ops: Vec<(usize, String)> = Vec::new();
        // Earlier failures and cancellations get another chance in `run` (new attempt, new request id).
        if self.settings.retry_finished_failures {
            let again: Vec<usize> = (0..self.rows.len())
                .filter(|&i| matches!(self.rows[i].state, ChunkState::Failed | ChunkState::Cancelled))
                .collect();
            cancelled_ops = again
                .iter()
                .filter(|&&i| self.rows[i].state == ChunkState::Cancelled)
                .filter_map(|&i| self.rows[i].operation.clone().map(|o| (i, o)))
                .collect();
            for &i in &again {
                let r = &mut self.rows[i];
                r.state = ChunkState::Planned;
                r.error = None;
                r.error_class = None;
                r.operation = None;
                r.ended_at = None;
                r.started_at = None;
                if r.attempt >= self.settings.max_task_attempts {
                    // One more attempt in this run.
                    r.attempt = r.attempt.saturating_sub(1);
                }
            }
            self.save(&again)?;
        }
        let planned = self.rows.iter().filter(|r| r.state == ChunkState::Planned).count();
        let now = Instant::now();
        for (i, r) in self.rows.iter().enumerate() {
            if r.state.is_active() && r.mode == RunMode::Batch {
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
        let back: Vec<usize> = (0..self.rows.len())
            .filter(|&i| self.rows[i].mode == RunMode::Interactive && self.rows[i].state == ChunkState::Running)
            .collect();
        for &i in &back {
            self.rows[i].state = ChunkState::Planned;
        }
        self.save(&back)
    }

    /// The interactive chunks, then the batch chunks.
    async fn phases(&mut self, stop: &Stop, cancelled_ops: Vec<(usize, String)>) -> Result<Outcome, ExecError> {
        if let Some(o) = self.run_interactive(stop).await? {
            return Ok(o);
        }
        self.queue = (0..self.rows.len())
            .filter(|&i| self.rows[i].state == ChunkState::Planned && self.rows[i].mode == RunMode::Batch)
            .collect();
        if !self.rows.iter().any(|r| r.mode == RunMode::Batch && !r.state.is_final()) {
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
                self.rows[i].operation = Some(name);
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
            if self.rows.iter().all(|r| r.state.is_final())
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
            let mut d = self.durations.clone();
            d.sort_by(f64::total_cmp);
            let typical = d[d.len() / 4]; // a low quantile: rather poll a bit early than late
            let now = Instant::now();
            let soonest = self
                .seen_active
                .iter()
                .filter(|(i, _)| self.rows[**i].state.is_active())
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
        for &i in &batch {
            let r = &mut self.rows[i];
            r.attempt += 1;
            r.request_id = attempt_request_id(&r.base_request_id, r.attempt);
            r.state = ChunkState::Submitting;
            r.operation = None;
            r.submitted_at = Some(now);
            r.started_at = None;
            r.ended_at = None;
        }
        self.save(&batch)?;
        self.send(&batch, false).await?;
        Ok(batch.len())
    }

    /// The body of chunk `i` as sent, as JSON text: the journal's, or rebuilt from the site file for a zonal
    /// chunk whose body the journal does not keep (bodies are deterministic: the same request id, the same
    /// bytes). Either way it carries the request id of the current attempt.
    fn body(&self, i: usize) -> Result<Vec<u8>, String> {
        let r = &self.rows[i];
        if !r.body.is_null() {
            return Ok(with_request_id_value(r.body.clone(), &r.request_id));
        }
        let detail = self
            .journal
            .detail(&r.chunk_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("chunk {} is not in the journal", r.chunk_id))?;
        if !detail.body.is_null() {
            return Ok(with_request_id_value(detail.body, &r.request_id));
        }
        let text = self
            .planner
            .body(&r.chunk_id, &detail.site_ids, detail.cells.as_ref())
            .map_err(|e| format!("cannot rebuild the request of chunk {}: {e}", r.chunk_id))?;
        Ok(with_request_id(text, &r.base_request_id, &r.request_id))
    }

    /// Sends the `submitting` chunks `batch` (with their recorded request ids) and records the outcomes.
    async fn send(&mut self, batch: &[usize], adopting: bool) -> Result<(), ExecError> {
        let mut requests = Vec::with_capacity(batch.len());
        let mut unbuildable = Vec::new();
        for &i in batch {
            match self.body(i) {
                Ok(body) => requests.push((i, self.rows[i].endpoint, bytes::Bytes::from(body))),
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
                    let r = &mut self.rows[i];
                    r.operation = Some(op.name.clone());
                    r.state = ChunkState::Pending;
                    let (chunk, attempt, request_id) = (r.chunk_id.clone(), r.attempt, r.request_id.clone());
                    self.save(&[i])?;
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
                            tracing::debug!(chunk = %self.rows[i].chunk_id, error = %e, "submission not confirmed");
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
        let waiting: Vec<usize> = (0..self.rows.len())
            .filter(|&i| self.rows[i].state == ChunkState::Submitting)
            .filter(|i| self.resend_failures.get(i).is_none_or(|n| *n < MAX_RESENDS))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        let known: HashSet<&str> = self.rows.iter().filter_map(|r| r.operation.as_deref()).collect();
        let mut resend = Vec::new();
        let mut found = Vec::new();
        for &i in &waiting {
            // A task created by an earlier attempt of ours carries this chunk's description and no known name.
            let r = &self.rows[i];
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
            let r = &mut self.rows[i];
            r.operation = Some(op.name.clone());
            r.state = ChunkState::Pending;
            let chunk = r.chunk_id.clone();
            self.save(&[i])?;
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
    fn list_since(&self) -> Option<f64> {
        let watched = self.rows.iter().filter(|r| r.state.is_active() && r.state != ChunkState::Submitting);
        let since = self.window.since(watched.filter_map(|r| r.operation.as_deref()));
        self.rows
            .iter()
            .filter(|r| r.state == ChunkState::Submitting)
            .try_fold(since?, |s, r| Some(s.min(r.submitted_at? - 600.0)))
    }

    /// One paged `operations.list` (as far back as [`Executor::list_since`]); updates every watched chunk.
    /// Returns the operations the caller may still need: this run's watched ones, those named in `also`, and
    /// unknown ones carrying the description of a chunk whose submission is unconfirmed (adopted by
    /// [`Executor::adopt_submitting`]). The listing is read page by page and nothing else of it is kept
    /// (a project's list holds its whole history: tens of thousands of operations at a million sites).
    async fn poll(&mut self, also: &HashSet<&str>) -> Result<Vec<Operation>, ExecError> {
        let since = self.list_since();
        let ours: HashSet<&str> = self.rows.iter().filter_map(|r| r.operation.as_deref()).collect();
        let watched: HashMap<&str, usize> = (0..self.rows.len())
            .filter(|&i| self.rows[i].state.is_active())
            .filter_map(|i| Some((self.rows[i].operation.as_deref()?, i)))
            .collect();
        let unconfirmed: HashSet<&str> =
            self.rows.iter().filter(|r| r.state == ChunkState::Submitting).map(|r| r.description.as_str()).collect();
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
            let name = self.rows[i].operation.clone().unwrap_or_default();
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

    /// Applies an operation's state to its chunk.
    fn apply(&mut self, i: usize, op: &Operation) -> Result<(), ExecError> {
        let state = op.state();
        if state.is_terminal() {
            self.window.forget(&op.name);
        }
        let meta = op.metadata.clone().unwrap_or_default();
        let from = self.rows[i].state;
        let to = match state {
            State::Pending | State::StateUnspecified => ChunkState::Pending,
            State::Running => ChunkState::Running,
            State::Cancelling => ChunkState::Cancelling,
            State::Succeeded => ChunkState::Succeeded,
            State::Cancelled => ChunkState::Cancelled,
            State::Failed => ChunkState::Failed,
        };
        {
            let r = &mut self.rows[i];
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
        }
        if from == to && !state.is_terminal() {
            return Ok(());
        }
        let chunk = self.rows[i].chunk_id.clone();
        match to {
            ChunkState::Succeeded => {
                if let Some(t) = self.seen_active.remove(&i) {
                    self.durations.push(t.elapsed().as_secs_f64());
                }
                self.rows[i].state = to;
                self.rows[i].error = None;
                self.rows[i].error_class = None;
                self.save(&[i])?;
                self.emit(Event::StateChanged { chunk: chunk.clone(), from, to });
                let (runtime_s, eecu_s) = (self.rows[i].runtime(), self.rows[i].eecu_seconds);
                self.emit(Event::Succeeded { chunk, runtime_s, eecu_s });
            }
            ChunkState::Cancelled => {
                self.seen_active.remove(&i);
                self.rows[i].state = to;
                self.rows[i].error_class = Some("cancelled".into());
                self.rows[i].error = Some("cancelled".into());
                self.save(&[i])?;
                self.emit(Event::StateChanged { chunk: chunk.clone(), from, to });
                self.emit(Event::Cancelled { chunk });
            }
            ChunkState::Failed => {
                self.seen_active.remove(&i);
                let problem = op.problem().unwrap_or_else(|| Problem::task(2, "task failed without an error message"));
                let class = ee::classify(&problem);
                self.failed(i, class, problem.message.clone())?;
            }
            _ => {
                self.rows[i].state = to;
                self.save(&[i])?;
                self.emit(Event::StateChanged { chunk, from, to });
            }
        }
        Ok(())
    }

    /// A chunk's attempt failed with `class`: retry, split, or record the failure.
    fn failed(&mut self, i: usize, class: Class, error: String) -> Result<(), ExecError> {
        let chunk = self.rows[i].chunk_id.clone();
        match class {
            Class::Transient if self.rows[i].attempt < self.settings.max_task_attempts => {
                let r = &mut self.rows[i];
                r.state = ChunkState::Planned;
                r.error = Some(error.clone());
                r.error_class = Some(class_name(class).into());
                let attempt = r.attempt + 1;
                self.save(&[i])?;
                self.queue.push_front(i);
                self.emit(Event::Retried { chunk, attempt, error });
            }
            Class::TooBig if self.rows[i].sites > 1 => self.split(i, error)?,
            _ => {
                let single = match class {
                    Class::TooBig => self.journal.detail(&self.rows[i].chunk_id)?.map(|d| d.site_ids.join(",")),
                    _ => None,
                };
                let r = &mut self.rows[i];
                r.state = ChunkState::Failed;
                r.error = Some(match single {
                    Some(site) => format!("{error} (single site {site})"),
                    None => error.clone(),
                });
                r.error_class = Some(class_name(class).into());
                if r.ended_at.is_none() {
                    r.ended_at = Some(journal::now());
                }
                let shown = r.error.clone().unwrap_or_default();
                self.save(&[i])?;
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

    /// Replaces chunk `i` by two halves (planned by the [`ChunkPlanner`]) and queues them first.
    fn split(&mut self, i: usize, error: String) -> Result<(), ExecError> {
        let parent = self.rows[i].chunk_id.clone();
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
                    return self.failed(i, Class::Fatal(Scope::Chunk), format!("{error}; could not split it: {e}"));
                }
            }
        }
        let seq = self.rows.iter().map(|r| r.seq).max().unwrap_or(0);
        let mut new_idx = Vec::new();
        for (k, t) in tasks.iter().enumerate() {
            if let Some(&existing) = self.index.get(&t.chunk_id) {
                new_idx.push(existing);
                continue;
            }
            let mut row =
                ChunkRow { mode: self.rows[i].mode, ..ChunkRow::from_task(t, seq + 1 + k as i64, Some(&parent)) };
            if let Some(c) = half_cells[k].take() {
                // Rebuilt from the site file when sent, like its parent.
                row.cells = Some(c);
                row.body = serde_json::Value::Null;
            }
            self.index.insert(row.chunk_id.clone(), self.rows.len());
            new_idx.push(self.rows.len());
            self.rows.push(row);
        }
        let r = &mut self.rows[i];
        r.state = ChunkState::Split;
        r.error = Some(error.clone());
        r.error_class = Some("too_big".into());
        let mut all = vec![i];
        all.extend(&new_idx);
        self.save(&all)?;
        for &n in new_idx.iter().rev() {
            if self.rows[n].state == ChunkState::Planned {
                self.queue.push_front(n);
            }
        }
        let into = new_idx.iter().map(|&n| self.rows[n].chunk_id.clone()).collect();
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
