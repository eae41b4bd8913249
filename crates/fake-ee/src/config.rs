//! How a fake Earth Engine behaves: limits, clock, task durations, storage, and the faults it injects.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// Which kind of export an operation is (`metadata.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExportKind {
    Table,
    Image,
    Classifier,
}

impl ExportKind {
    /// `EXPORT_FEATURES`, `EXPORT_IMAGE`, `EXPORT_CLASSIFIER`.
    pub fn type_name(self) -> &'static str {
        match self {
            ExportKind::Table => "EXPORT_FEATURES",
            ExportKind::Image => "EXPORT_IMAGE",
            ExportKind::Classifier => "EXPORT_CLASSIFIER",
        }
    }
}

/// An HTTP route of the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    TableExport,
    ImageExport,
    ClassifierExport,
    OperationGet,
    OperationList,
    OperationCancel,
    OperationDelete,
    OperationWait,
    /// `table:computeFeatures` (synchronous).
    ComputeFeatures,
    /// `value:compute` (synchronous).
    ComputeValue,
    /// Anything else (answered 404).
    Unknown,
}

impl Route {
    pub fn is_export(self) -> bool {
        matches!(self, Route::TableExport | Route::ImageExport | Route::ClassifierExport)
    }

    /// The synchronous (interactive) computations.
    pub fn is_compute(self) -> bool {
        matches!(self, Route::ComputeFeatures | Route::ComputeValue)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Route::TableExport => "table:export",
            Route::ImageExport => "image:export",
            Route::ClassifierExport => "classifier:export",
            Route::OperationGet => "operations.get",
            Route::OperationList => "operations.list",
            Route::OperationCancel => "operations.cancel",
            Route::OperationDelete => "operations.delete",
            Route::OperationWait => "operations.wait",
            Route::ComputeFeatures => "table:computeFeatures",
            Route::ComputeValue => "value:compute",
            Route::Unknown => "unknown",
        })
    }
}

/// What the fake knows about a submitted export (given to duration hooks and task rules).
#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub project: String,
    pub kind: ExportKind,
    pub request_id: Option<String>,
    pub description: String,
    pub priority: i64,
    /// Site ids of the chunk, in expression order (inline features or `Filter.inList`).
    pub site_ids: Vec<String>,
    /// The request body as received.
    pub body: Value,
}

/// How virtual time passes. Operation timestamps and durations are virtual.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clock {
    /// Virtual time = real time × factor (1.0 = real time; 1000.0 runs a 10-minute task in 0.6 s).
    Scaled(f64),
    /// Virtual time moves only through [`crate::FakeEe::advance`]: fully deterministic tests.
    Manual,
}

/// How long one attempt of a task runs (virtual time).
#[derive(Clone)]
pub enum Durations {
    Fixed(Duration),
    /// Uniform in `[min, max]`, from a seeded generator drawn in submission order.
    Uniform {
        min: Duration,
        max: Duration,
        seed: u64,
    },
    /// Decided per task.
    Hook(Arc<dyn Fn(&TaskInfo) -> Duration + Send + Sync>),
}

impl fmt::Debug for Durations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Durations::Fixed(d) => write!(f, "Fixed({d:?})"),
            Durations::Uniform { min, max, seed } => write!(f, "Uniform({min:?}..={max:?}, seed {seed})"),
            Durations::Hook(_) => f.write_str("Hook"),
        }
    }
}

/// Checks of the `X-Goog-User-Project` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserProject {
    Ignore,
    /// When present it must name the path's project (default).
    MatchWhenPresent,
    /// Must be present and name the path's project.
    Required,
}

/// A task failure Earth Engine reports in `Operation.error` (messages as Earth Engine writes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    MemoryLimit,
    TimedOut,
    TooManyPixels,
    ValueTooLarge,
    AssetNotFound(String),
    PermissionDenied,
    Internal,
    Custom { code: i32, message: String },
}

impl Failure {
    /// The message in `Operation.error.message`.
    pub fn message(&self) -> String {
        match self {
            Failure::MemoryLimit => "User memory limit exceeded.".into(),
            Failure::TimedOut => "Computation timed out.".into(),
            Failure::TooManyPixels => "Too many pixels in the region.".into(),
            Failure::ValueTooLarge => "Computed value is too large.".into(),
            Failure::AssetNotFound(a) => format!("Asset '{a}' not found."),
            Failure::PermissionDenied => "Permission denied.".into(),
            Failure::Internal => "An internal error has occurred.".into(),
            Failure::Custom { message, .. } => message.clone(),
        }
    }

    /// The google.rpc code in `Operation.error.code` (the fake's choice; Earth Engine does not document them).
    pub fn code(&self) -> i32 {
        match self {
            Failure::MemoryLimit | Failure::ValueTooLarge => 8,
            Failure::TimedOut => 4,
            Failure::TooManyPixels => 3,
            Failure::AssetNotFound(_) => 5,
            Failure::PermissionDenied => 7,
            Failure::Internal => 13,
            Failure::Custom { code, .. } => *code,
        }
    }
}

/// Which submitted tasks a [`TaskRule`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskMatch {
    Any,
    /// Chunks with more than K sites.
    MoreSitesThan(usize),
    /// Chunks containing this site id.
    HasSite(String),
    RequestId(String),
    RequestIdPrefix(String),
    Description(String),
    Kind(ExportKind),
}

impl TaskMatch {
    pub fn matches(&self, t: &TaskInfo) -> bool {
        match self {
            TaskMatch::Any => true,
            TaskMatch::MoreSitesThan(k) => t.site_ids.len() > *k,
            TaskMatch::HasSite(s) => t.site_ids.iter().any(|x| x == s),
            TaskMatch::RequestId(id) => t.request_id.as_deref() == Some(id.as_str()),
            TaskMatch::RequestIdPrefix(p) => t.request_id.as_deref().is_some_and(|id| id.starts_with(p.as_str())),
            TaskMatch::Description(d) => &t.description == d,
            TaskMatch::Kind(k) => t.kind == *k,
        }
    }
}

/// Makes matching tasks fail: the first `times` matching operations (all when `None`) end FAILED with
/// `failure` after `server_attempts` attempts (Earth Engine's own retries, visible as `metadata.attempt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRule {
    pub when: TaskMatch,
    pub failure: Failure,
    pub times: Option<u32>,
    pub server_attempts: u32,
}

impl TaskRule {
    /// Every matching task fails, once tried.
    pub fn fail(when: TaskMatch, failure: Failure) -> TaskRule {
        TaskRule { when, failure, times: None, server_attempts: 1 }
    }

    /// Chunks with more than `k` sites fail with "User memory limit exceeded." (tests split-the-chunk).
    pub fn memory_limit_above(k: usize) -> TaskRule {
        TaskRule::fail(TaskMatch::MoreSitesThan(k), Failure::MemoryLimit)
    }

    /// Only the first `n` matching operations fail.
    pub fn times(mut self, n: u32) -> TaskRule {
        self.times = Some(n);
        self
    }

    /// Earth Engine retries the task itself `n` times before failing (`metadata.attempt` counts up).
    pub fn server_attempts(mut self, n: u32) -> TaskRule {
        self.server_attempts = n.max(1);
        self
    }
}

/// Which requests a [`RequestFault`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    Any,
    /// Any of the export routes.
    Exports,
    Only(Route),
}

impl RouteMatch {
    pub fn matches(&self, r: Route) -> bool {
        match self {
            RouteMatch::Any => true,
            RouteMatch::Exports => r.is_export(),
            RouteMatch::Only(x) => *x == r,
        }
    }
}

/// What a [`RequestFault`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with an HTTP error status (429 → RESOURCE_EXHAUSTED with `Retry-After`, 500 INTERNAL,
    /// 503 UNAVAILABLE, …) without doing anything.
    Status { status: u16, retry_after: Option<u64> },
    /// Close the connection without answering, before doing anything.
    Drop,
    /// Wait this long (real time), then answer normally.
    Delay(Duration),
    /// Do the work (an export creates its operation), then close the connection without answering.
    LoseResponse,
    /// Move virtual time forward by this much before handling the request (tasks finish "while" the
    /// request travels: a cancel that arrives after its task succeeded).
    Advance(Duration),
    /// Answer with an HTTP error status whose message repeats the request's own `Authorization` header and
    /// the bare token in it, as a careless server or proxy does (401 UNAUTHENTICATED, 403
    /// PERMISSION_DENIED, 500 INTERNAL, …); the client must never show either.
    EchoAuthorization { status: u16 },
}

/// A fault on HTTP requests: the next `times` matching requests get `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFault {
    pub route: RouteMatch,
    /// Only requests whose body has this `requestId`.
    pub request_id: Option<String>,
    pub times: u32,
    pub action: FaultAction,
}

impl RequestFault {
    fn new(times: u32, action: FaultAction) -> RequestFault {
        RequestFault { route: RouteMatch::Any, request_id: None, times, action }
    }
    /// `times` answers 429 RESOURCE_EXHAUSTED with `Retry-After: retry_after_secs`.
    pub fn too_many_requests(times: u32, retry_after_secs: u64) -> RequestFault {
        RequestFault::new(times, FaultAction::Status { status: 429, retry_after: Some(retry_after_secs) })
    }
    /// `times` answers with `status` (500, 503, …).
    pub fn status(status: u16, times: u32) -> RequestFault {
        RequestFault::new(times, FaultAction::Status { status, retry_after: None })
    }
    /// `times` connections closed without an answer.
    pub fn drop_connection(times: u32) -> RequestFault {
        RequestFault::new(times, FaultAction::Drop)
    }
    /// `times` answers delayed by `delay`.
    pub fn delay(delay: Duration, times: u32) -> RequestFault {
        RequestFault::new(times, FaultAction::Delay(delay))
    }
    /// `times` requests handled only after virtual time moved forward by `by` (races with task ends).
    pub fn advance(by: Duration, times: u32) -> RequestFault {
        RequestFault::new(times, FaultAction::Advance(by))
    }
    /// `times` requests processed whose answer is lost (the connection closes).
    pub fn lose_response(times: u32) -> RequestFault {
        RequestFault::new(times, FaultAction::LoseResponse)
    }
    /// `times` answers with `status` whose error message echoes the request's `Authorization` header.
    pub fn echo_authorization(status: u16, times: u32) -> RequestFault {
        RequestFault::new(times, FaultAction::EchoAuthorization { status })
    }
    /// Restricts the fault to some routes.
    pub fn on(mut self, route: RouteMatch) -> RequestFault {
        self.route = route;
        self
    }
    /// Restricts the fault to requests carrying this `requestId`.
    pub fn for_request_id(mut self, id: &str) -> RequestFault {
        self.request_id = Some(id.to_string());
        self
    }
}

/// A fault on `table:computeFeatures` answers, as a service that loses or garbles part of a result would
/// make: the page is evaluated as always, then its feature whose property `property` is `value` (compared
/// as text) is left out (`column: None`) or has its property `column` replaced by text that is neither a
/// number nor a class dictionary (`Some`). Fires on the next `times` pages that hold such a feature; later
/// pages of the same answer are cut from the undamaged result, so paging stays consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerFault {
    pub property: String,
    pub value: String,
    pub column: Option<String>,
    pub times: u32,
}

impl AnswerFault {
    /// Leaves the feature out of the answer.
    pub fn drop_feature(property: &str, value: &str, times: u32) -> AnswerFault {
        AnswerFault { property: property.into(), value: value.into(), column: None, times }
    }

    /// Replaces the feature's `column` (when its answer has it) with unreadable text.
    pub fn damage(property: &str, value: &str, column: &str, times: u32) -> AnswerFault {
        AnswerFault { property: property.into(), value: value.into(), column: Some(column.into()), times }
    }

    /// Applies the fault to a page's features (GeoJSON); whether it fired.
    pub fn apply(&self, features: &mut Vec<serde_json::Value>) -> bool {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let hit =
            features.iter().position(|f| f["properties"].get(&self.property).map(text).as_deref() == Some(&self.value));
        let Some(i) = hit else { return false };
        match &self.column {
            None => {
                features.remove(i);
                true
            }
            // Only a column the evaluation produced is damaged: the fault never invents one.
            Some(c) => match features[i]["properties"].get_mut(c) {
                Some(v) => {
                    *v = serde_json::Value::from("damaged in transit");
                    true
                }
                None => false,
            },
        }
    }
}

/// Anything that can be injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Request(RequestFault),
    Task(TaskRule),
    Answer(AnswerFault),
}

impl From<AnswerFault> for Fault {
    fn from(f: AnswerFault) -> Fault {
        Fault::Answer(f)
    }
}

impl From<RequestFault> for Fault {
    fn from(f: RequestFault) -> Fault {
        Fault::Request(f)
    }
}

impl From<TaskRule> for Fault {
    fn from(r: TaskRule) -> Fault {
        Fault::Task(r)
    }
}

/// The fake's configuration. `Config::default()` is a strict Earth Engine with 2 concurrent tasks of
/// 10 s each in real time.
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder with the discovery document and algorithm signatures (default: `shared/reference`
    /// found above this crate, or `$EE_REFERENCE_DIR`).
    pub reference_dir: Option<PathBuf>,
    /// The bearer token to expect; `None` accepts any non-empty token.
    pub token: Option<String>,
    pub user_project: UserProject,
    /// Concurrently running tasks per project (Earth Engine's default is 2).
    pub max_running: usize,
    /// Queued (PENDING) tasks per project, all users together (Earth Engine: 3,000).
    pub queue_limit: usize,
    /// Other users' PENDING tasks in the project at start (they run and count against the limits).
    pub foreign_pending: usize,
    /// Other users' finished tasks listed in the project at start.
    pub foreign_succeeded: usize,
    /// The project the foreign tasks belong to.
    pub foreign_project: String,
    pub durations: Durations,
    /// Minimum virtual time between submission and start.
    pub start_delay: Duration,
    /// Virtual time a RUNNING task spends CANCELLING.
    pub cancel_delay: Duration,
    pub clock: Clock,
    /// Earth Engine's requestId deduplication (turn off to prove a test detects duplicates).
    pub dedup_request_ids: bool,
    /// Cloud Storage JSON API base (the value of `STORAGE_EMULATOR_HOST`); `None` keeps files in memory only.
    pub storage_base_url: Option<String>,
    pub faults: Vec<Fault>,
    /// Seed of operation ids.
    pub seed: u64,
    /// Wall-clock time of virtual time zero (default: start time).
    pub epoch: Option<SystemTime>,
    /// Port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Largest request body accepted (Earth Engine: 10 MiB).
    pub max_body_bytes: usize,
    /// Real time every synchronous computation (`table:computeFeatures`, `value:compute`) takes before
    /// it answers, holding its concurrency slot (default 0).
    pub compute_latency: Duration,
    /// Real time each feature of a `table:computeFeatures` answer adds to its latency (default 0): the work
    /// of a request grows with the sites it reduces, so a large chunk runs into the time limit and a smaller
    /// one does not.
    pub compute_latency_per_feature: Duration,
    /// Synchronous computations in flight at once, per fake; one more is answered 429 RESOURCE_EXHAUSTED
    /// "Too many concurrent aggregations." (Earth Engine's default: 40 concurrent requests per project).
    pub compute_concurrency: usize,
    /// Longest a synchronous computation may take (latency included); past it the answer is 400
    /// "Computation timed out." (Earth Engine: interactive requests must finish in about 5 minutes).
    pub compute_time_limit: Duration,
    /// Evaluate every export's expression when it is submitted (default). Off, a table export is checked
    /// against the schema, runs for its duration and succeeds with an empty table (its expression is neither
    /// evaluated nor kept): for benchmarks of a client's own memory and scheduling over tens of thousands of
    /// tasks, where evaluating every computation would take the fake hours and gigabytes.
    pub evaluate_exports: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            reference_dir: None,
            token: None,
            user_project: UserProject::MatchWhenPresent,
            max_running: 2,
            queue_limit: 3000,
            foreign_pending: 0,
            foreign_succeeded: 0,
            foreign_project: "demo-project".into(),
            durations: Durations::Fixed(Duration::from_secs(10)),
            start_delay: Duration::ZERO,
            cancel_delay: Duration::from_secs(1),
            clock: Clock::Scaled(1.0),
            dedup_request_ids: true,
            storage_base_url: None,
            faults: Vec::new(),
            seed: 1,
            epoch: None,
            port: 0,
            evaluate_exports: true,
            max_body_bytes: 10 * 1024 * 1024,
            compute_latency: Duration::ZERO,
            compute_latency_per_feature: Duration::ZERO,
            compute_concurrency: 40,
            compute_time_limit: Duration::from_secs(300),
        }
    }
}

impl Config {
    /// A deterministic test configuration: manual clock, fixed durations.
    pub fn manual(task_duration: Duration) -> Config {
        Config { clock: Clock::Manual, durations: Durations::Fixed(task_duration), ..Config::default() }
    }

    /// Storage base from `STORAGE_EMULATOR_HOST` (adding `http://` when missing).
    pub fn storage_from_env(mut self) -> Config {
        if let Ok(h) = std::env::var("STORAGE_EMULATOR_HOST") {
            let h = h.trim().trim_end_matches('/');
            if !h.is_empty() {
                self.storage_base_url = Some(if h.contains("://") { h.to_string() } else { format!("http://{h}") });
            }
        }
        self
    }

    /// The reference folder to load the contract from.
    pub fn resolved_reference_dir(&self) -> Result<PathBuf, String> {
        if let Some(d) = &self.reference_dir {
            return Ok(d.clone());
        }
        if let Some(d) = std::env::var_os("EE_REFERENCE_DIR") {
            return Ok(PathBuf::from(d));
        }
        default_reference_dir()
    }
}

/// `shared/reference` in the nearest ancestor of this crate that has one.
pub fn default_reference_dir() -> Result<PathBuf, String> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|p| p.join("shared/reference"))
        .find(|p| p.join("earthengine.v1.discovery.reconstructed.json").is_file())
        .ok_or_else(|| format!("no shared/reference folder above {}; set EE_REFERENCE_DIR", here.display()))
}
