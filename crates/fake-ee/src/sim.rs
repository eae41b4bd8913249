//! The batch service being simulated: operations, the per-project queue, concurrency, virtual time.
//!
//! Time is an event simulation: `simulate(now)` replays every start, retry, end and cancel up to `now`
//! in virtual-time order, so timestamps and the observed concurrency are exact however rarely it runs.
//! A succeeded export's files are uploaded before the operation shows SUCCEEDED (as with Earth Engine,
//! where the file exists once the task says so).
//!
//! This file is over 600 lines because `State`'s methods (submit, simulate, cancel, list) all change one
//! state replayed in virtual-time order; split over files, the order they rely on would be harder to see.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};

use crate::config::{Clock, Config, Durations, ExportKind, Failure, RequestFault, Route, TaskInfo, TaskRule};
use crate::eval::{EvalError, V};
use crate::expr;
use crate::files::{self, OutputFile};

/// An operation's `metadata.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpState {
    Pending,
    Running,
    Cancelling,
    Succeeded,
    Failed,
    Cancelled,
}

impl OpState {
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Pending => "PENDING",
            OpState::Running => "RUNNING",
            OpState::Cancelling => "CANCELLING",
            OpState::Succeeded => "SUCCEEDED",
            OpState::Failed => "FAILED",
            OpState::Cancelled => "CANCELLED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, OpState::Succeeded | OpState::Failed | OpState::Cancelled)
    }
}

/// A 4xx answer and why (for tests that prove a body was refused).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub route: Route,
    pub status: u16,
    pub message: String,
}

/// One export request as received (also deduplicated ones).
#[derive(Debug, Clone)]
pub struct Submission {
    pub route: Route,
    pub request_id: Option<String>,
    pub body: Value,
    /// The operation answered, when the request was accepted.
    pub operation: Option<String>,
    /// True when an existing operation was returned for a repeated requestId.
    pub deduplicated: bool,
}

/// What happened so far.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Requests per route (all of them, including refused and faulted ones).
    pub requests: BTreeMap<Route, u64>,
    /// Operations created by submissions (foreign seeded ones not counted).
    pub operations_created: u64,
    /// Largest number of tasks RUNNING (or CANCELLING) at once in one project.
    pub max_running: usize,
    pub list_calls: u64,
    /// Requests answered with an existing operation because of a repeated requestId.
    pub dedup_hits: u64,
    /// Request faults that fired.
    pub faults_fired: u64,
    /// 4xx answers with their reasons.
    pub rejections: Vec<Rejection>,
    /// Distinct operations created per requestId (>1 only when deduplication is off).
    pub created_per_request_id: BTreeMap<String, u32>,
    /// Most synchronous computations (`table:computeFeatures`, `value:compute`) in flight at once.
    pub max_computing: usize,
}

impl Counters {
    pub fn requests_to(&self, route: Route) -> u64 {
        self.requests.get(&route).copied().unwrap_or(0)
    }
}

/// A snapshot of one operation for tests.
#[derive(Debug, Clone)]
pub struct OpView {
    pub name: String,
    pub project: String,
    pub kind: ExportKind,
    pub request_id: Option<String>,
    pub description: String,
    pub priority: i64,
    pub state: OpState,
    pub site_ids: Vec<String>,
    pub attempt: u32,
    pub error: Option<(i32, String)>,
    /// True for the seeded tasks of "other users".
    pub foreign: bool,
}

pub(crate) struct Op {
    name: String,
    project: String,
    info: TaskInfo,
    /// What the export's expression evaluated to (files are rendered from it).
    value: Option<V>,
    foreign: bool,
    state: OpState,
    create: Duration,
    update: Duration,
    start: Option<Duration>,
    end: Option<Duration>,
    duration: Duration,
    attempt: u32,
    attempts_total: u32,
    failure: Option<Failure>,
    attempt_start: Duration,
    cancel_at: Option<Duration>,
    /// Uploading its files; the slot is free, the state still RUNNING.
    finishing: bool,
    error: Option<(i32, String)>,
    work: Duration,
    deleted: bool,
    /// A finished operation seeded as history: created this long before the epoch (its times are rendered
    /// before the fake started, and it sorts older than everything submitted).
    before_epoch: Option<Duration>,
}

/// Uploads to do outside the lock, then finish the operation.
pub(crate) struct Job {
    seq: usize,
    end: Duration,
    base: String,
    files: Vec<OutputFile>,
}

/// An API error: HTTP status, google.rpc status name, message.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub http: u16,
    pub status: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(http: u16, status: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { http, status, message: message.into() }
    }
}

pub(crate) struct State {
    pub config: Config,
    ops: Vec<Op>,
    by_name: HashMap<String, usize>,
    by_request: HashMap<(String, String), usize>,
    pending: BTreeSet<(Reverse<i64>, usize)>,
    /// Ops holding a slot (RUNNING not finishing, CANCELLING).
    running: Vec<usize>,
    sim_time: Duration,
    real_start: Instant,
    offset: Duration,
    epoch: SystemTime,
    id_rng: u64,
    dur_rng: u64,
    ids: std::collections::HashSet<String>,
    projects: BTreeSet<String>,
    pub counters: Counters,
    pub request_faults: Vec<RequestFault>,
    pub answer_faults: Vec<crate::config::AnswerFault>,
    pub task_rules: Vec<(TaskRule, u32)>,
    pub files: Vec<OutputFile>,
    pub submissions: Vec<Submission>,
    /// Every `table:computeFeatures` page answered (its request body), in order.
    pub computed: Vec<Value>,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl State {
    pub fn new(config: Config) -> State {
        let dur_seed = match config.durations {
            Durations::Uniform { seed, .. } => seed,
            _ => 0,
        };
        let mut st = State {
            id_rng: config.seed,
            dur_rng: dur_seed,
            ids: Default::default(),
            projects: BTreeSet::new(),
            epoch: config.epoch.unwrap_or_else(SystemTime::now),
            ops: Vec::new(),
            by_name: HashMap::new(),
            by_request: HashMap::new(),
            pending: BTreeSet::new(),
            running: Vec::new(),
            sim_time: Duration::ZERO,
            real_start: Instant::now(),
            offset: Duration::ZERO,
            counters: Counters::default(),
            request_faults: Vec::new(),
            answer_faults: Vec::new(),
            task_rules: Vec::new(),
            files: Vec::new(),
            submissions: Vec::new(),
            computed: Vec::new(),
            config,
        };
        for f in std::mem::take(&mut st.config.faults) {
            st.push_fault(f);
        }
        let project = st.config.foreign_project.clone();
        // The project's history: one finished task a minute, the last one a minute before the epoch.
        let n = st.config.foreign_succeeded;
        for i in 0..n {
            let seq = st.new_op(foreign_info(&project, i, "finished"), None, true, Duration::ZERO);
            let op = &mut st.ops[seq];
            op.state = OpState::Succeeded;
            op.start = Some(Duration::ZERO);
            op.end = Some(Duration::ZERO);
            op.attempt = 1;
            op.before_epoch = Some(Duration::from_secs(60 * (n - i) as u64));
        }
        for i in 0..st.config.foreign_pending {
            let seq = st.new_op(foreign_info(&project, i, "queued"), None, true, Duration::ZERO);
            st.pending.insert((Reverse(100), seq));
        }
        st
    }

    pub fn push_fault(&mut self, f: crate::config::Fault) {
        match f {
            crate::config::Fault::Request(r) => self.request_faults.push(r),
            crate::config::Fault::Task(t) => self.task_rules.push((t, 0)),
            crate::config::Fault::Answer(a) => self.answer_faults.push(a),
        }
    }

    /// Applies the first answer fault that matches a feature of this page (see [`crate::config::AnswerFault`]).
    pub fn damage_answer(&mut self, features: &mut Vec<Value>) {
        let Some(i) = self.answer_faults.iter().position(|f| f.apply(features)) else { return };
        self.counters.faults_fired += 1;
        self.answer_faults[i].times -= 1;
        if self.answer_faults[i].times == 0 {
            self.answer_faults.remove(i);
        }
    }

    /// Current virtual time.
    pub fn now(&self) -> Duration {
        match self.config.clock {
            Clock::Scaled(f) => self.real_start.elapsed().mul_f64(f.max(0.0)) + self.offset,
            Clock::Manual => self.offset,
        }
    }

    pub fn add_offset(&mut self, d: Duration) {
        self.offset += d;
    }

    fn next_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        loop {
            let mut id = String::with_capacity(24);
            for _ in 0..24 {
                id.push(ALPHABET[(splitmix(&mut self.id_rng) % 36) as usize] as char);
            }
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn new_op(&mut self, info: TaskInfo, value: Option<V>, foreign: bool, now: Duration) -> usize {
        let seq = self.ops.len();
        let name = format!("projects/{}/operations/{}", info.project, self.next_id());
        let duration = match &self.config.durations {
            Durations::Fixed(d) => *d,
            Durations::Uniform { min, max, .. } => {
                let span = max.saturating_sub(*min).as_nanos() as u64;
                let r = splitmix(&mut self.dur_rng);
                *min + Duration::from_nanos(if span == 0 { 0 } else { r % (span + 1) })
            }
            Durations::Hook(f) => f(&info),
        };
        self.by_name.insert(name.clone(), seq);
        self.projects.insert(info.project.clone());
        self.ops.push(Op {
            name,
            project: info.project.clone(),
            info,
            value,
            foreign,
            state: OpState::Pending,
            create: now,
            update: now,
            start: None,
            end: None,
            duration,
            attempt: 0,
            attempts_total: 1,
            failure: None,
            attempt_start: now,
            cancel_at: None,
            finishing: false,
            error: None,
            work: Duration::ZERO,
            deleted: false,
            before_epoch: None,
        });
        seq
    }

    /// Creates (or, for a repeated requestId, finds) the operation of an export request, given what its
    /// expression evaluated to (an evaluation error makes the task fail with INVALID_ARGUMENT once it
    /// runs, as Earth Engine fails a task whose computation is invalid).
    /// The operation is created at the simulation's current time (the caller has just brought it up to
    /// date), so the scheduler never sees a task from its future.
    pub fn submit(
        &mut self,
        project: &str,
        route: Route,
        body: Value,
        evaluated: Result<V, EvalError>,
    ) -> Result<(usize, bool), ApiError> {
        let now = self.sim_time;
        let request_id = body.get("requestId").and_then(Value::as_str).map(str::to_string);
        let mut submission = Submission {
            route,
            request_id: request_id.clone(),
            body: body.clone(),
            operation: None,
            deduplicated: false,
        };
        if let Some(rid) = &request_id {
            if self.config.dedup_request_ids {
                if let Some(&seq) = self.by_request.get(&(project.to_string(), rid.clone())) {
                    self.counters.dedup_hits += 1;
                    submission.operation = Some(self.ops[seq].name.clone());
                    submission.deduplicated = true;
                    self.submissions.push(submission);
                    return Ok((seq, true));
                }
            }
        }
        let queued = self.pending.iter().filter(|(_, s)| self.ops[*s].project == project).count();
        if queued >= self.config.queue_limit {
            self.submissions.push(submission);
            return Err(ApiError::new(
                429,
                "RESOURCE_EXHAUSTED",
                format!(
                    "Too many tasks already in the queue ({}/{}). Please wait for some of them to complete.",
                    queued, self.config.queue_limit
                ),
            ));
        }
        let kind = match route {
            Route::ImageExport => ExportKind::Image,
            Route::ClassifierExport => ExportKind::Classifier,
            _ => ExportKind::Table,
        };
        let selectors: Option<Vec<String>> = body
            .get("selectors")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
        let chunk = expr::chunk(
            body.get("expression").unwrap_or(&Value::Null),
            selectors.as_ref().and_then(|s| s.first()).map(String::as_str),
        );
        let info = TaskInfo {
            project: project.to_string(),
            kind,
            request_id: request_id.clone(),
            description: body.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
            priority: body.get("priority").and_then(Value::as_i64).unwrap_or(100),
            site_ids: chunk.sites.iter().map(|s| s.id.clone()).collect(),
            body,
        };
        let mut decided: Option<(Failure, u32)> = None;
        for (rule, used) in self.task_rules.iter_mut() {
            if rule.when.matches(&info) && rule.times.is_none_or(|n| *used < n) {
                *used += 1;
                decided = Some((rule.failure.clone(), rule.server_attempts.max(1)));
                break;
            }
        }
        let priority = info.priority;
        let (value, invalid) = match evaluated.and_then(|v| expect_kind(kind, v)) {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e.message)),
        };
        if decided.is_none() {
            decided = invalid.map(|message| (Failure::Custom { code: 3, message }, 1));
        }
        let seq = self.new_op(info, value, false, now);
        if let Some((failure, attempts)) = decided {
            self.ops[seq].failure = Some(failure);
            self.ops[seq].attempts_total = attempts;
        }
        self.pending.insert((Reverse(priority), seq));
        self.counters.operations_created += 1;
        if let Some(rid) = request_id {
            self.by_request.insert((project.to_string(), rid.clone()), seq);
            *self.counters.created_per_request_id.entry(rid).or_default() += 1;
        }
        submission.operation = Some(self.ops[seq].name.clone());
        self.submissions.push(submission);
        Ok((seq, false))
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied().filter(|&s| !self.ops[s].deleted)
    }

    fn running_in(&self, project: &str) -> usize {
        self.running.iter().filter(|&&s| self.ops[s].project == project).count()
    }

    /// Starts queued tasks into free slots at virtual time `t`.
    fn fill(&mut self, t: Duration) {
        let mut per_project: HashMap<String, usize> = HashMap::new();
        for &s in &self.running {
            *per_project.entry(self.ops[s].project.clone()).or_default() += 1;
        }
        let mut started = Vec::new();
        for &(_, seq) in &self.pending {
            let op = &self.ops[seq];
            let busy = per_project.get(&op.project).copied().unwrap_or(0);
            if busy >= self.config.max_running || op.create + self.config.start_delay > t {
                continue;
            }
            *per_project.entry(op.project.clone()).or_default() += 1;
            started.push(seq);
            if self.projects.len() == 1 && busy + 1 >= self.config.max_running {
                break;
            }
        }
        for seq in started {
            let key = (Reverse(self.ops[seq].info.priority), seq);
            self.pending.remove(&key);
            let op = &mut self.ops[seq];
            op.state = OpState::Running;
            op.start = Some(t);
            op.attempt = 1;
            op.attempt_start = t;
            op.update = t;
            self.running.push(seq);
            let n = self.running_in(&self.ops[seq].project.clone());
            self.counters.max_running = self.counters.max_running.max(n);
        }
    }

    fn next_event(&self, t: Duration) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut consider = |e: Duration| next = Some(next.map_or(e, |n: Duration| n.min(e)));
        for &s in &self.running {
            let op = &self.ops[s];
            consider(match (op.state, op.cancel_at) {
                (OpState::Cancelling, Some(c)) => c,
                _ => op.attempt_start + op.duration,
            });
        }
        if !self.config.start_delay.is_zero() {
            for &(_, s) in &self.pending {
                let e = self.ops[s].create + self.config.start_delay;
                if e > t {
                    consider(e);
                }
            }
        }
        next
    }

    /// Replays everything up to `now`; returns the uploads to do before some operations can succeed.
    pub fn simulate(&mut self, now: Duration) -> Vec<Job> {
        let mut jobs = Vec::new();
        let mut t = self.sim_time;
        loop {
            self.fill(t);
            match self.next_event(t) {
                Some(e) if e <= now => {
                    t = e.max(t);
                    self.events_at(t, &mut jobs);
                }
                _ => break,
            }
        }
        self.sim_time = self.sim_time.max(now);
        jobs
    }

    fn events_at(&mut self, t: Duration, jobs: &mut Vec<Job>) {
        let due: Vec<usize> = self
            .running
            .iter()
            .copied()
            .filter(|&s| {
                let op = &self.ops[s];
                match (op.state, op.cancel_at) {
                    (OpState::Cancelling, Some(c)) => c <= t,
                    _ => op.attempt_start + op.duration <= t,
                }
            })
            .collect();
        for seq in due {
            let storage = self.config.storage_base_url.clone();
            let op = &mut self.ops[seq];
            if op.state == OpState::Cancelling {
                op.work += t.saturating_sub(op.attempt_start);
                op.state = OpState::Cancelled;
                op.end = Some(t);
                op.update = t;
                op.error = Some((1, "Cancelled.".into()));
                self.running.retain(|&s| s != seq);
                continue;
            }
            op.work += op.duration;
            op.update = t;
            if let Some(f) = op.failure.clone() {
                if op.attempt < op.attempts_total {
                    op.attempt += 1;
                    op.attempt_start = t;
                    continue;
                }
                op.state = OpState::Failed;
                op.end = Some(t);
                op.error = Some((f.code(), f.message()));
                self.running.retain(|&s| s != seq);
                continue;
            }
            let produced = outputs(op);
            self.running.retain(|&s| s != seq);
            self.files.extend(produced.iter().cloned());
            match storage {
                Some(base) if !produced.is_empty() => {
                    let op = &mut self.ops[seq];
                    op.finishing = true;
                    jobs.push(Job { seq, end: t, base, files: produced });
                }
                _ => {
                    let op = &mut self.ops[seq];
                    op.state = OpState::Succeeded;
                    op.end = Some(t);
                }
            }
        }
    }

    /// Finishes an operation after its uploads (`result` is the first upload error, if any).
    pub fn finish_job(&mut self, seq: usize, end: Duration, result: Result<(), String>) {
        let op = &mut self.ops[seq];
        op.finishing = false;
        op.end = Some(end);
        op.update = end;
        match result {
            Ok(()) => op.state = OpState::Succeeded,
            Err(e) => {
                op.state = OpState::Failed;
                op.error = Some((3, format!("Unable to write the export to Cloud Storage: {e}")));
            }
        }
    }

    /// Requests cancellation; returns false when the operation was already finished.
    pub fn cancel(&mut self, seq: usize) -> bool {
        let now = self.sim_time;
        let cancel_delay = self.config.cancel_delay;
        let op = &mut self.ops[seq];
        match op.state {
            OpState::Pending => {
                let key = (Reverse(op.info.priority), seq);
                op.state = OpState::Cancelled;
                op.end = Some(now);
                op.update = now;
                op.error = Some((1, "Cancelled.".into()));
                self.pending.remove(&key);
                true
            }
            OpState::Running if !op.finishing => {
                op.state = OpState::Cancelling;
                op.cancel_at = Some(now + cancel_delay);
                op.update = now;
                true
            }
            _ => false,
        }
    }

    /// Deletes a finished operation; false when it is still running.
    pub fn delete(&mut self, seq: usize) -> bool {
        let op = &mut self.ops[seq];
        if !op.state.is_terminal() {
            return false;
        }
        op.deleted = true;
        true
    }

    pub fn is_done(&self, seq: usize) -> bool {
        self.ops[seq].state.is_terminal()
    }

    fn stamp(&self, t: Duration) -> String {
        rfc3339(self.epoch + t)
    }

    /// The operation as Earth Engine returns it.
    pub fn render(&self, seq: usize) -> Value {
        let op = &self.ops[seq];
        let now = self.sim_time;
        let mut m = Map::new();
        m.insert("@type".into(), json!("type.googleapis.com/google.earthengine.v1.OperationMetadata"));
        m.insert("state".into(), json!(op.state.as_str()));
        if !op.info.description.is_empty() {
            m.insert("description".into(), json!(op.info.description));
        }
        m.insert("priority".into(), json!(op.info.priority));
        if let Some(b) = op.before_epoch {
            // Seeded history: created, run and finished before the fake started.
            let at = rfc3339(self.epoch - b);
            for k in ["createTime", "updateTime", "startTime", "endTime"] {
                m.insert(k.into(), json!(at));
            }
        } else {
            m.insert("createTime".into(), json!(self.stamp(op.create)));
            m.insert("updateTime".into(), json!(self.stamp(op.update)));
        }
        m.insert("type".into(), json!(op.info.kind.type_name()));
        if let (Some(s), None) = (op.start, op.before_epoch) {
            m.insert("startTime".into(), json!(self.stamp(s)));
        }
        if let (Some(e), None) = (op.end, op.before_epoch) {
            m.insert("endTime".into(), json!(self.stamp(e)));
        }
        let running_now = matches!(op.state, OpState::Running | OpState::Cancelling) && !op.finishing;
        let progress = match op.state {
            OpState::Succeeded => 1.0,
            _ if running_now && !op.duration.is_zero() => {
                (now.saturating_sub(op.attempt_start).as_secs_f64() / op.duration.as_secs_f64()).min(0.99)
            }
            _ if op.finishing => 0.99,
            _ => 0.0,
        };
        if progress > 0.0 {
            m.insert("progress".into(), json!(progress));
        }
        if op.attempt > 0 {
            m.insert("attempt".into(), json!(op.attempt));
        }
        let work = op.work + if running_now { now.saturating_sub(op.attempt_start) } else { Duration::ZERO };
        let eecu = work.as_secs_f64() * 2.0;
        if eecu > 0.0 {
            m.insert("batchEecuUsageSeconds".into(), json!(eecu));
        }
        if op.state == OpState::Succeeded {
            if let Some(uri) = destination_uri(&op.info.body) {
                m.insert("destinationUris".into(), json!([uri]));
            }
        }
        let mut out = Map::new();
        out.insert("name".into(), json!(op.name));
        out.insert("metadata".into(), Value::Object(m));
        if op.state.is_terminal() {
            out.insert("done".into(), json!(true));
            match &op.error {
                Some((code, message)) => {
                    out.insert("error".into(), json!({"code": code, "message": message}));
                }
                None => {
                    out.insert("response".into(), json!({"@type": "type.googleapis.com/google.protobuf.Empty"}));
                }
            }
        }
        Value::Object(out)
    }

    /// When an operation was created, in nanoseconds from the epoch (negative for seeded history), with its
    /// sequence number to break ties: the order of `operations.list`.
    fn created_key(&self, seq: usize) -> (i128, usize) {
        let op = &self.ops[seq];
        let t = match op.before_epoch {
            Some(b) => -(b.as_nanos() as i128),
            None => op.create.as_nanos() as i128,
        };
        (t, seq)
    }

    /// One page of `operations.list`: the project's operations sorted newest first by `createTime` (ties: the
    /// later submission first); the token names the sort key of the page's last operation, so operations
    /// created between two pages never shift what the next page holds.
    pub fn list(&self, project: &str, page_size: usize, token: Option<&str>) -> Result<Value, ApiError> {
        let bad = |t: &str| ApiError::new(400, "INVALID_ARGUMENT", format!("Invalid page token: {t}"));
        let after: Option<(i128, usize)> = match token {
            None | Some("") => None,
            Some(t) => {
                let (time, seq) = t.strip_prefix("after-").and_then(|r| r.rsplit_once('-')).ok_or_else(|| bad(t))?;
                Some((time.parse().map_err(|_| bad(t))?, seq.parse().map_err(|_| bad(t))?))
            }
        };
        let mut visible: Vec<usize> = (0..self.ops.len())
            .filter(|&s| !self.ops[s].deleted && self.ops[s].project == project)
            .filter(|&s| after.is_none_or(|a| self.created_key(s) < a))
            .collect();
        visible.sort_unstable_by_key(|&s| std::cmp::Reverse(self.created_key(s)));
        visible.truncate(page_size + 1);
        let mut out = Map::new();
        let page: Vec<Value> = visible.iter().take(page_size).map(|&s| self.render(s)).collect();
        if !page.is_empty() {
            out.insert("operations".into(), Value::Array(page));
        }
        if visible.len() > page_size {
            let (time, seq) = self.created_key(visible[page_size - 1]);
            out.insert("nextPageToken".into(), json!(format!("after-{time}-{seq}")));
        }
        Ok(Value::Object(out))
    }

    pub fn view(&self, seq: usize) -> OpView {
        let op = &self.ops[seq];
        OpView {
            name: op.name.clone(),
            project: op.project.clone(),
            kind: op.info.kind,
            request_id: op.info.request_id.clone(),
            description: op.info.description.clone(),
            priority: op.info.priority,
            state: op.state,
            site_ids: op.info.site_ids.clone(),
            attempt: op.attempt,
            error: op.error.clone(),
            foreign: op.foreign,
        }
    }

    pub fn views(&self) -> Vec<OpView> {
        (0..self.ops.len()).filter(|&s| !self.ops[s].deleted).map(|s| self.view(s)).collect()
    }
}

impl Job {
    /// Uploads the files (blocking); the first error, if any.
    pub fn run(&self) -> Result<(), String> {
        for f in &self.files {
            crate::gcs_emulator::upload(&self.base, &f.bucket, &f.name, &f.content_type, &f.bytes)
                .map_err(|e| format!("gs://{}/{}: {e}", f.bucket, f.name))?;
        }
        Ok(())
    }

    pub fn seq(&self) -> usize {
        self.seq
    }

    pub fn end(&self) -> Duration {
        self.end
    }
}

fn foreign_info(project: &str, i: usize, what: &str) -> TaskInfo {
    TaskInfo {
        project: project.to_string(),
        kind: ExportKind::Table,
        request_id: None,
        description: format!("other-user-{what}-{i}"),
        priority: 100,
        site_ids: Vec::new(),
        body: Value::Null,
    }
}

/// Checks that an export's expression gave the kind of value the export takes.
fn expect_kind(kind: ExportKind, v: V) -> Result<V, EvalError> {
    let want = match (kind, &v) {
        (ExportKind::Table, V::Features(_)) | (ExportKind::Image, V::Image(_)) => return Ok(v),
        (ExportKind::Classifier, V::Classifier(c)) if c.trained.is_some() => return Ok(v),
        (ExportKind::Table, _) => "FeatureCollection",
        (ExportKind::Image, _) => "Image",
        (ExportKind::Classifier, _) => "trained Classifier",
    };
    Err(EvalError::new(format!("The exported expression must be a {want}, not a {}.", v.type_name())))
}

/// The files a succeeded export writes to Cloud Storage.
fn outputs(op: &Op) -> Vec<OutputFile> {
    let body = &op.info.body;
    let Some(dest) = body.pointer("/fileExportOptions/cloudStorageDestination") else {
        return Vec::new();
    };
    let bucket = dest.get("bucket").and_then(Value::as_str).unwrap_or_default().to_string();
    let prefix = dest
        .get("filenamePrefix")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or(&op.info.description)
        .to_string();
    let format = body.pointer("/fileExportOptions/fileFormat").and_then(Value::as_str).unwrap_or("CSV");
    let selectors: Option<Vec<String>> = body
        .get("selectors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
    let file = |ext: &str, content_type: &str, bytes: Vec<u8>| OutputFile {
        bucket: bucket.clone(),
        name: format!("{prefix}.{ext}"),
        content_type: content_type.into(),
        bytes,
    };
    let features = match &op.value {
        Some(V::Features(f)) => f.as_slice(),
        _ => &[],
    };
    match (op.info.kind, format) {
        (ExportKind::Table, "CSV" | "TABLE_FILE_FORMAT_UNSPECIFIED") => {
            vec![file("csv", "text/csv", files::csv(features, selectors.as_deref()))]
        }
        (ExportKind::Table, "GEO_JSON") => {
            vec![file("geojson", "application/json", files::geojson(features, selectors.as_deref()))]
        }
        (ExportKind::Image, "GEO_TIFF" | "IMAGE_FILE_FORMAT_UNSPECIFIED") => {
            vec![file("tif", "image/tiff", files::geotiff(&op.name))]
        }
        _ => Vec::new(),
    }
}

fn destination_uri(body: &Value) -> Option<String> {
    if let Some(d) = body.pointer("/fileExportOptions/cloudStorageDestination") {
        let bucket = d.get("bucket").and_then(Value::as_str).unwrap_or_default();
        let prefix = d.get("filenamePrefix").and_then(Value::as_str).unwrap_or_default();
        let dir = prefix.rsplit_once('/').map(|(d, _)| format!("/{d}")).unwrap_or_default();
        return Some(format!("https://console.developers.google.com/storage/browser/{bucket}{dir}/"));
    }
    if body.pointer("/fileExportOptions/driveDestination").is_some() {
        return Some("https://drive.google.com/#folders/FAKEFOLDERID".into());
    }
    body.pointer("/assetExportOptions/earthEngineDestination/name")
        .and_then(Value::as_str)
        .map(|n| format!("https://code.earthengine.google.com/?asset={n}"))
}

/// RFC 3339 with microseconds, UTC (`2026-01-01T00:00:00.000000Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    dt.format(&fmt).unwrap_or_default()
}
