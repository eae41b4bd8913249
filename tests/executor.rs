//! The executor against the strict fake Earth Engine (crates/fake-ee) on 127.0.0.1, through the library API:
//! happy path, every request fault, every task failure, splitting, fatal stop, cancel, the queue limit with
//! other users' tasks, resuming after lost responses.

mod executor_support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use executor_support::{client, settings, TestPlanner};
use fake_ee::{Clock, Config, Durations, Failure, FakeEe, OpState, RequestFault, RouteMatch, TaskMatch, TaskRule};
use geepipe::executor::{self, Event, Executor, Outcome, Recorder, Settings, Stop};
use geepipe::journal::{ChunkRow, ChunkState, Journal};
use geepipe::plan::Task;

fn fast_fake(max_running: usize) -> Config {
    Config {
        clock: Clock::Scaled(1000.0),
        durations: Durations::Uniform { min: Duration::from_secs(5), max: Duration::from_secs(40), seed: 7 },
        max_running,
        ..Config::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

struct Run {
    outcome: Outcome,
    events: Vec<Event>,
    rows: Vec<ChunkRow>,
}

fn run(ee: &FakeEe, journal: &Path, planner: Arc<TestPlanner>, tasks: Option<Vec<Task>>, s: Settings) -> Run {
    let rec = Recorder::default();
    let outcome = rt().block_on(async {
        let j = Journal::open(journal, "test", "hash").unwrap();
        let mut ex = Executor::new(client(&ee.base_url(), Some("test-token")), j, tasks, planner, s).unwrap();
        ex.observe(Box::new(rec.clone()));
        tokio::time::timeout(Duration::from_secs(120), ex.run(Stop::new())).await.expect("run finishes").unwrap()
    });
    let rows = Journal::open_read(journal).unwrap().chunks().unwrap();
    Run { outcome, events: rec.events(), rows }
}

/// Largest number of this run's chunks submitted and not yet finished at any moment, from the events.
fn max_active(events: &[Event]) -> usize {
    let mut active = HashSet::new();
    let mut max = 0;
    for e in events {
        match e {
            Event::Submitted { chunk, .. } | Event::Adopted { chunk, .. } => {
                active.insert(chunk.clone());
            }
            Event::Succeeded { chunk, .. }
            | Event::Failed { chunk, .. }
            | Event::Cancelled { chunk }
            | Event::Retried { chunk, .. }
            | Event::Split { chunk, .. } => {
                active.remove(chunk);
            }
            _ => {}
        }
        max = max.max(active.len());
    }
    max
}

/// Operations the fake created per task description (one description per chunk), foreign tasks excluded.
fn ops_per_chunk(ee: &FakeEe) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for op in ee.operations().into_iter().filter(|o| !o.foreign) {
        *m.entry(op.description).or_insert(0) += 1;
    }
    m
}

fn assert_one_task_per_request_id(ee: &FakeEe) {
    let c = ee.counters();
    for (id, n) in &c.created_per_request_id {
        assert_eq!(*n, 1, "request id {id} created {n} operations");
    }
}

#[test]
fn happy_path_200_tasks_within_the_concurrency_limit() {
    let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let planner = TestPlanner::new("happy");
    let tasks = planner.plan(200, 2);
    let r = run(&ee, &dir.path().join("j.sqlite"), planner, Some(tasks), settings(20));
    assert_eq!(r.outcome.exit_code(), 0, "{:?}", r.outcome);
    assert_eq!(r.outcome.counts.succeeded, 200);
    assert!(r.rows.iter().all(|row| row.state == ChunkState::Succeeded && row.attempt == 1));
    assert!(r.rows.iter().all(|row| row.operation.is_some() && row.started_at.is_some()));
    let c = ee.counters();
    assert_eq!(c.operations_created, 200);
    assert!(c.max_running <= 20, "fake saw {} running", c.max_running);
    assert!(max_active(&r.events) <= 20 && max_active(&r.events) >= 15, "max active {}", max_active(&r.events));
    assert_eq!(c.requests_to(fake_ee::Route::OperationGet), 0, "watching must use operations.list only");
    assert!(c.rejections.is_empty(), "fake refused: {:?}", c.rejections);
    assert!(ops_per_chunk(&ee).values().all(|n| *n == 1));
    assert_one_task_per_request_id(&ee);
    // Every chunk's file is there.
    assert_eq!(ee.files().len(), 200);
}

#[test]
fn request_faults_are_retried_without_duplicate_tasks() {
    let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
    ee.faults().push(RequestFault::too_many_requests(6, 0).on(RouteMatch::Exports));
    ee.faults().push(RequestFault::status(500, 3).on(RouteMatch::Exports));
    ee.faults().push(RequestFault::status(502, 2));
    ee.faults().push(RequestFault::status(503, 3));
    ee.faults().push(RequestFault::status(504, 2));
    ee.faults().push(RequestFault::drop_connection(4));
    ee.faults().push(RequestFault::lose_response(5).on(RouteMatch::Exports));
    ee.faults().push(RequestFault::delay(Duration::from_secs(3), 2).on(RouteMatch::Exports));
    ee.faults().push(RequestFault::too_many_requests(3, 0).on(RouteMatch::Only(fake_ee::Route::OperationList)));
    let dir = tempfile::tempdir().unwrap();
    let planner = TestPlanner::new("faults");
    let r = run(&ee, &dir.path().join("j.sqlite"), planner.clone(), Some(planner.plan(40, 2)), settings(10));
    assert_eq!(r.outcome.exit_code(), 0, "{:?}", r.outcome);
    assert!(ee.faults().remaining().is_empty(), "faults left: {:?}", ee.faults().remaining());
    let c = ee.counters();
    assert_eq!(c.operations_created, 40);
    assert!(c.dedup_hits >= 5, "lost responses must be resent with the same request id ({} hits)", c.dedup_hits);
    assert!(ops_per_chunk(&ee).values().all(|n| *n == 1), "{:?}", ops_per_chunk(&ee));
    assert_one_task_per_request_id(&ee);
    // Retries of a submission reuse its request id: attempt stays 1.
    assert!(r.rows.iter().all(|row| row.attempt == 1 && row.state == ChunkState::Succeeded));
}

#[test]
fn transient_task_failures_resubmit_with_new_request_ids() {
    let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
    ee.faults().push(TaskRule::fail(TaskMatch::Any, Failure::Internal).times(3));
    ee.faults().push(
        TaskRule::fail(
            TaskMatch::Any,
            Failure::Custom { code: 8, message: "Too many concurrent aggregations.".into() },
        )
        .times(2),
    );
    let dir = tempfile::tempdir().unwrap();
    let planner = TestPlanner::new("transient");
    let r = run(&ee, &dir.path().join("j.sqlite"), planner.clone(), Some(planner.plan(10, 2)), settings(5));
    assert_eq!(r.outcome.exit_code(), 0, "{:?}", r.outcome);
    let retried: Vec<&ChunkRow> = r.rows.iter().filter(|row| row.attempt > 1).collect();
    assert!(!retried.is_empty());
    let total_retries: u32 = r.rows.iter().map(|row| row.attempt - 1).sum();
    assert_eq!(total_retries, 5);
    for row in &retried {
        assert_eq!(row.request_id, format!("{}-r{}", row.base_request_id, row.attempt));
    }
    assert_one_task_per_request_id(&ee);
    assert_eq!(ee.counters().operations_created, 15);
    assert_eq!(r.events.iter().filter(|e| matches!(e, Event::Retried { .. })).count(), 5);
}

#[test]
fn transient_failures_are_bounded() {
    let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
    ee.faults().push(TaskRule::fail(TaskMatch::Description("bounded_c00001".into()), Failure::Internal));
    let dir = tempfile::tempdir().unwrap();
    let planner = TestPlanner::new("bounded");
    let s = Settings { max_task_attempts: 3, ..settings(5) };
    let r = run(&ee, &dir.path().join("j.sqlite"), planner.clone(), Some(planner.plan(3, 2)), s);
    assert_eq!(r.outcome.exit_code(), 1);
    let bad = r.rows.iter().find(|row| row.chunk_id == "c00001").unwrap();
    assert_eq!((bad.state, bad.attempt), (ChunkState::Failed, 3));
    assert_eq!(bad.error.as_deref(), Some("An internal error has occurred."));
    assert_eq!(bad.error_class.as_deref(), Some("transient"));
    assert_eq!(r.outcome.counts.succeeded, 2);
}

#[test]
fn memory_errors_split_chunks_down_to_single_sites() {
    let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
    ee.faults().push(TaskRule::memory_limit_above(2));
    ee.faults().push(TaskRule::fail(TaskMatch::HasSite("s00005".into()), Failure::MemoryLimit));
    let dir = tempfile::tempdir().unwrap();
    let planner = TestPlanner::new("split");
    let r = run(&ee, &dir.path().join("j.sqlite"), planner.clone(), Some(planner.plan(2, 8)), settings(10));
    assert_eq!(r.outcome.exit_code(), 1, "one site cannot be computed");
    let state = |id: &str| r.rows.iter().find(|row| row.chunk_id == id).map(|row| row.state);
    // c00000 (s0..s7) → c00000a (s0..s3), c00000b (s4..s7) → quarters of 2 sites succeed, except s5's.
    assert_eq!(state("c00000"), Some(ChunkState::Split));
    assert_eq!(state("c00000a"), Some(ChunkState::Split));
    assert_eq!(state("c00000aa"), Some(ChunkState::Succeeded));
    assert_eq!(state("c00000ab"), Some(ChunkState::Succeeded));
    assert_eq!(state("c00000ba"), Some(ChunkState::Split));
    assert_eq!(state("c00000baa"), Some(ChunkState::Succeeded)); // s4
    assert_eq!(state("c00000bab"), Some(ChunkState::Failed)); // s5
    assert_eq!(state("c00000bb"), Some(ChunkState::Succeeded));
    let bad = r.rows.iter().find(|row| row.chunk_id == "c00000bab").unwrap();
    assert_eq!(bad.site_ids, vec!["s00005"]);
    assert_eq!(bad.error_class.as_deref(), Some("too_big"));
    assert!(bad.error.as_deref().unwrap().contains("User memory limit exceeded"), "{:?}", bad.error);
    assert_eq!(bad.parent.as_deref(), Some("c00000ba"));
    // Every site is covered by exactly one succeeded chunk, except s00005.
    let mut covered: Vec<String> =
        r.rows.iter().filter(|row| row.state == ChunkState::Succeeded).flat_map(|row| row.site_ids.clone()).collect();
    covered.sort();
    let want: Vec<String> = (0..16).filter(|i| *i != 5).map(|i| format!("s{i:05}")).collect();
    assert_eq!(covered, want);
    assert_eq!(r.outcome.counts.failed, 1);
    assert!(r.events.iter().any(|e| matches!(e, Event::Split { chunk, .. } if chunk == "c00001")));
    assert_one_task_per_request_id(&ee);
}

#[test]
fn every_too_big_message_splits() {
    for (i, f) in [Failure::TimedOut, Failure::TooManyPixels, Failure::ValueTooLarge].into_iter().enumerate() {
        let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
        ee.faults().push(TaskRule::fail(TaskMatch::MoreSitesThan(2), f.clone()));
        let dir = tempfile::tempdir().unwrap();
        let planner = TestPlanner::new(&format!("big{i}"));
        let r = run(&ee, &dir.path().join("j.sqlite"), planner.clone(), Some(planner.plan(1, 4)), settings(4));
        assert_eq!(r.outcome.exit_code(), 0, "{f:?}: {:?}", r.outcome);
        let ok: Vec<&str> =
            r.rows.iter().filter(|row| row.state == ChunkState::Succeeded).map(|row| row.chunk_id.as_str()).collect();
        assert_eq!(ok, ["c00000a", "c00000b"], "{f:?}");
    }
}

#[test]
fn fatal_failures_stop_submitting_and_are_reported_once() {
    for (i, f) in [
        Failure::AssetNotFound("projects/x/assets/missing".into()),
        Failure::PermissionDenied,
        Failure::Custom {
            code: 8,
            message: "Custom quota exceeded: earthengine.googleapis.com/daily_eecu_usage_time".into(),
        },
    ]
    .into_iter()
    .enumerate()
    {
        let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
        ee.faults().push(TaskRule::fail(TaskMatch::Any, f.clone()));
        let dir = tempfile::tempdir().unwrap();
        let planner = TestPlanner::new(&format!("fatal{i}"));
        let r = run(&ee, &dir.path().join("j.sqlite"), planner.clone(), Some(planner.plan(30, 2)), settings(3));
        assert_eq!(r.outcome.exit_code(), 1, "{f:?}");
        assert!(r.outcome.fatal.as_deref().unwrap().contains(&f.message()), "{:?}", r.outcome.fatal);
        // Only the first batch was ever sent; nothing was retried.
        assert_eq!(ee.counters().operations_created, 3, "{f:?}");
        assert_eq!(r.events.iter().filter(|e| matches!(e, Event::FatalStop { .. })).count(), 1);
        assert_eq!(r.outcome.counts.planned, 27);
        assert_eq!(r.outcome.counts.failed, 3);
        assert!(r
            .rows
            .iter()
            .filter(|row| row.state == ChunkState::Failed)
            .all(|row| { row.error_class.as_deref() == Some("fatal_run") }));
    }
}

#[test]
fn invalid_request_fails_only_its_chunk() {
    let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let planner = TestPlanner::new("invalid");
    let mut tasks = planner.plan(4, 2);
    tasks[2].body["fileExportOptions"]["fileFormat"] = serde_json::json!("NOT_A_FORMAT");
    let r = run(&ee, &dir.path().join("j.sqlite"), planner, Some(tasks), settings(4));
    assert_eq!(r.outcome.exit_code(), 1);
    assert_eq!(r.outcome.counts.succeeded, 3);
    let bad = r.rows.iter().find(|row| row.chunk_id == "c00002").unwrap();
    assert_eq!((bad.state, bad.error_class.as_deref()), (ChunkState::Failed, Some("fatal")));
    assert!(bad.error.as_deref().unwrap().contains("HTTP 400"), "{:?}", bad.error);
}

#[test]
fn queue_limit_counts_other_users_tasks() {
    // 2,990 foreign PENDING tasks that never get to run: only 10 queue slots are left for this run.
    let mut cfg = fast_fake(0);
    cfg.foreign_pending = 2990;
    let ee = FakeEe::start_blocking(cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let planner = TestPlanner::new("queue");
    let rec = Recorder::default();
    let journal = dir.path().join("j.sqlite");
    let outcome = rt().block_on(async {
        let j = Journal::open(&journal, "test", "hash").unwrap();
        let s = Settings { detach: true, ..settings(50) };
        let mut ex =
            Executor::new(client(&ee.base_url(), Some("test-token")), j, Some(planner.plan(40, 1)), planner.clone(), s)
                .unwrap();
        ex.observe(Box::new(rec.clone()));
        ex.run(Stop::new()).await.unwrap()
    });
    assert!(outcome.detached);
    let c = ee.counters();
    assert_eq!(c.operations_created, 10, "3,000 - 2,990 foreign");
    assert!(c.rejections.is_empty(), "{:?}", c.rejections);
    assert!(rec.events().iter().any(|e| matches!(e, Event::Poll { foreign_active: 2990, .. })));
    // Let the queue drain: the rest is submitted only as room appears, never past 3,000.
    ee.set_max_running(3000);
    let r = run(&ee, &journal, planner, None, settings(50));
    assert_eq!(r.outcome.exit_code(), 0, "{:?}", r.outcome);
    assert_eq!(ee.counters().operations_created, 40);
    assert!(ee.counters().rejections.is_empty());
}

#[test]
fn cancel_cancels_every_live_task() {
    let mut cfg = fast_fake(2);
    cfg.durations = Durations::Fixed(Duration::from_secs(3600));
    let ee = FakeEe::start_blocking(cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.sqlite");
    let planner = TestPlanner::new("cancel");
    let r = run(&ee, &journal, planner.clone(), Some(planner.plan(8, 1)), Settings { detach: true, ..settings(5) });
    assert!(r.outcome.detached);
    assert_eq!(r.rows.iter().filter(|row| row.operation.is_some()).count(), 5);
    let report = rt().block_on(async {
        let mut j = Journal::open(&journal, "test", "hash").unwrap();
        executor::cancel_all(&client(&ee.base_url(), Some("test-token")), &mut j).await.unwrap()
    });
    assert_eq!((report.cancelled, report.unsent, report.finished), (5, 3, 0));
    ee.advance(Duration::from_secs(5));
    let live: Vec<_> = ee.operations().into_iter().filter(|o| !matches!(o.state, OpState::Cancelled)).collect();
    assert!(live.is_empty(), "{live:?}");
    let rows = Journal::open_read(&journal).unwrap().chunks().unwrap();
    assert!(rows.iter().all(|row| row.state == ChunkState::Cancelled));
    // `wait` semantics (no retry of finished failures): nothing is resubmitted.
    let r = run(&ee, &journal, planner, None, Settings { retry_finished_failures: false, ..settings(5) });
    assert_eq!(r.outcome.counts.cancelled, 8);
    assert_eq!(ee.counters().operations_created, 5);
}

#[test]
fn resume_adopts_live_tasks_and_resends_lost_submissions_with_the_same_id() {
    let mut cfg = fast_fake(1000);
    cfg.durations = Durations::Fixed(Duration::from_secs(20));
    let ee = FakeEe::start_blocking(cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.sqlite");
    let planner = TestPlanner::new("resume");
    // First run: every export is processed but its answer is lost, and the "process" stops right there.
    ee.faults().push(RequestFault::lose_response(1000).on(RouteMatch::Exports));
    let s = Settings { detach: true, max_unreachable_rounds: 1, ..settings(6) };
    let first = rt().block_on(async {
        let j = Journal::open(&journal, "test", "hash").unwrap();
        let mut c = client(&ee.base_url(), Some("test-token"));
        let _ = &mut c;
        let ex = Executor::new(c, j, Some(planner.plan(10, 1)), planner.clone(), s).unwrap();
        ex.run(Stop::new()).await
    });
    assert!(first.is_err(), "every submission lost: the run gives up as unreachable");
    let rows = Journal::open_read(&journal).unwrap().chunks().unwrap();
    assert_eq!(rows.iter().filter(|row| row.state == ChunkState::Submitting).count(), 6);
    assert_eq!(ee.counters().operations_created, 6, "the server did create them");
    ee.faults().clear();
    let r = run(&ee, &journal, planner, None, settings(6));
    assert_eq!(r.outcome.exit_code(), 0, "{:?}", r.outcome);
    let c = ee.counters();
    assert_eq!(c.operations_created, 10);
    assert!(c.dedup_hits >= 6);
    assert_one_task_per_request_id(&ee);
    assert!(ops_per_chunk(&ee).values().all(|n| *n == 1));
    assert_eq!(r.events.iter().filter(|e| matches!(e, Event::Adopted { .. })).count(), 6);
}

#[test]
fn unreachable_service_is_an_environment_error() {
    let dir = tempfile::tempdir().unwrap();
    let planner = TestPlanner::new("down");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = rt().block_on(async {
        let j = Journal::open(&dir.path().join("j.sqlite"), "test", "hash").unwrap();
        let s = Settings { max_unreachable_rounds: 2, ..settings(2) };
        let ex = Executor::new(
            client(&format!("http://127.0.0.1:{port}"), None),
            j,
            Some(planner.plan(2, 1)),
            planner.clone(),
            s,
        )
        .unwrap();
        ex.run(Stop::new()).await.unwrap_err()
    });
    let msg = err.to_string();
    assert!(msg.contains("unreachable") && msg.contains("connect"), "{msg}");
    let rows = Journal::open_read(&dir.path().join("j.sqlite")).unwrap().chunks().unwrap();
    assert!(rows.iter().all(|row| row.operation.is_none()), "no task exists");
    assert!(rows.iter().all(|row| matches!(row.state, ChunkState::Planned | ChunkState::Submitting)));
}

#[test]
fn a_submission_without_request_id_is_never_retried() {
    let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
    ee.faults().push(RequestFault::status(503, 1).on(RouteMatch::Exports));
    let planner = TestPlanner::new("noid");
    let mut task = planner.plan(1, 1).remove(0);
    task.body.as_object_mut().unwrap().remove("requestId");
    let c = client(&ee.base_url(), Some("test-token"));
    let err = rt().block_on(c.export(task.endpoint, &task.body)).unwrap_err();
    assert_eq!(err.problem.http_status, Some(503));
    assert_eq!(ee.counters().requests_to(fake_ee::Route::TableExport), 1);
    assert_eq!(ee.counters().operations_created, 0);
    // With its request id the same failure is retried (and creates exactly one task).
    ee.faults().push(RequestFault::status(503, 2).on(RouteMatch::Exports));
    let task = planner.plan(1, 1).remove(0);
    let op = rt().block_on(c.export(task.endpoint, &task.body)).unwrap();
    assert!(op.name.starts_with("projects/demo-project/operations/"));
    assert_eq!(ee.counters().requests_to(fake_ee::Route::TableExport), 4);
    assert_eq!(ee.counters().operations_created, 1);
    assert_eq!(c.counts().snapshot()[4], 2, "two retries");
}

#[test]
fn retry_after_is_honoured() {
    let ee = FakeEe::start_blocking(fast_fake(1000)).unwrap();
    ee.faults().push(RequestFault::too_many_requests(1, 1).on(RouteMatch::Exports));
    let planner = TestPlanner::new("retryafter");
    let task = planner.plan(1, 1).remove(0);
    let mut cfg = geepipe::ee::ClientConfig::new(
        url::Url::parse(&ee.base_url()).unwrap(),
        executor_support::PROJECT,
        geepipe::ee::Auth::emulator(Some("test-token".into())),
    );
    cfg.retry.base = Duration::from_millis(1);
    let c = geepipe::ee::Client::new(cfg).unwrap();
    let t = std::time::Instant::now();
    rt().block_on(c.export(task.endpoint, &task.body)).unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "waited {:?} despite Retry-After: 1", t.elapsed());
}
