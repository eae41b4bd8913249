//! `geepipe run / status / wait / cancel` as a user meets them: the real binary against the fake Earth
//! Engine (in this test process, on 127.0.0.1), with the plan frozen into the journal through the library
//! (so these tests do not depend on the planner). Includes killing the binary with SIGKILL many times.

mod common;
mod executor_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Test;
use executor_support::TestPlanner;
use fake_ee::{Clock, Config, Durations, FakeEe, OpState, RequestFault, RouteMatch};
use geepipe::journal::{ChunkState, Journal};

const TOKEN: &str = "tok-4f1d9a7e-SECRET-b0c2";

const PIPELINE: &str = "\
name: demo
project: demo-project
sites:
  file: sites.geojson
  id: site_id
years: 2020
layers:
  - catalog: mapbiomas_lulc
export:
  to: gcs
  bucket: my-bucket
  prefix: zonal/demo
chunks:
  max_concurrent: 8
";

fn fake(durations: Durations, scale: f64) -> FakeEe {
    FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        user_project: fake_ee::UserProject::Required,
        clock: Clock::Scaled(scale),
        durations,
        max_running: 1000,
        ..Config::default()
    })
    .unwrap()
}

/// A test folder with the pipeline and its site file, and the environment pointing at the fake.
fn setup(ee: &FakeEe) -> Test {
    Test::new()
        .file("p.yaml", PIPELINE)
        .copy("examples/sites/restoration.geojson", "sites.geojson")
        .env("GEEPIPE_EE_URL", &ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("GEEPIPE_POLL_MIN", "0.02")
        .env("GEEPIPE_POLL_MAX", "0.2")
        .env("GEEPIPE_RETRY_BASE_MS", "5")
        .env("GEEPIPE_HTTP_TIMEOUT", "3")
}

fn journal_path(t: &Test) -> PathBuf {
    t.path().join("results/.geepipe/demo.sqlite")
}

/// Freezes a plan of `chunks` chunks into the pipeline's journal (what a first `run` does after planning).
fn seed(t: &Test, prefix: &str, chunks: usize, hash: Option<&str>) {
    let (p, _) = geepipe::pipeline::load(&t.path().join("p.yaml"), &Default::default()).expect("pipeline loads");
    let mut j = Journal::open(&journal_path(t), &p.name, hash.unwrap_or(&p.content_hash)).unwrap();
    j.record_plan(&TestPlanner::new(prefix).plan(chunks, 2)).unwrap();
}

fn rows(t: &Test) -> Vec<geepipe::journal::ChunkRow> {
    Journal::open_read(&journal_path(t)).unwrap().chunks().unwrap()
}

fn assert_no_duplicates(ee: &FakeEe, chunks: usize) {
    let mut per_desc = std::collections::BTreeMap::new();
    for op in ee.operations().into_iter().filter(|o| !o.foreign) {
        *per_desc.entry(op.description).or_insert(0) += 1;
    }
    assert_eq!(per_desc.len(), chunks, "{per_desc:?}");
    let dups: Vec<_> = per_desc.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "chunks with more than one task: {dups:?}");
    for (id, n) in ee.counters().created_per_request_id {
        assert_eq!(n, 1, "request id {id}");
    }
}

fn read_all_bytes(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            read_all_bytes(&p, out);
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
}

#[test]
fn run_to_completion_status_and_no_token_anywhere() {
    let ee = fake(Durations::Uniform { min: Duration::from_secs(5), max: Duration::from_secs(30), seed: 3 }, 500.0);
    ee.faults().push(RequestFault::status(503, 2));
    let t = setup(&ee).args(["-vv", "run", "p.yaml", "--no-fetch", "--events", "events.jsonl"]);
    seed(&t, "cli-run", 30, None);
    let out = t.code(0);
    assert!(out.stderr.contains("30 chunks: 30 succeeded, 0 failed"), "{}", out.stderr);
    assert_no_duplicates(&ee, 30);
    assert!(rows(&t).iter().all(|r| r.state == ChunkState::Succeeded));
    let events = std::fs::read_to_string(t.path().join("events.jsonl")).unwrap();
    let kinds: Vec<String> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "submitted").count(), 30);
    assert_eq!(kinds.iter().filter(|k| *k == "succeeded").count(), 30);
    assert_eq!(kinds.last().map(String::as_str), Some("finished"));

    // status: table and JSON, from the journal only.
    let cmd = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_geepipe"));
        c.args(args).current_dir(t.path()).env("NO_COLOR", "1").env_remove("GEEPIPE_EE_URL");
        let o = c.output().unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, table, _) = cmd(&["status", "p.yaml"]);
    assert_eq!(code, 0);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["chunk", "sites", "state", "attempts", "runtime", "EECU", "error"]);
    let first: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&first[..4], ["c00000", "2", "succeeded", "1"]);
    assert!(
        table.trim_end().ends_with("30 chunks: 30 succeeded, 0 failed, 0 running, 0 pending, 0 not submitted"),
        "{table}"
    );
    let (code, json, _) = cmd(&["status", "p.yaml", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["counts"]["succeeded"], 30);
    let c0 = &v["chunks"][0];
    assert_eq!((c0["ready"].as_bool(), c0["success"].as_bool()), (Some(true), Some(true)));
    assert!(c0["runtime_s"].as_f64().unwrap() >= 5.0, "{c0}");
    assert!(c0["operation"].as_str().unwrap().starts_with("projects/demo-project/operations/"));

    // The token appears in no output and no file (journal, WAL, events, lock files).
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
    assert!(!table.contains(TOKEN) && !json.contains(TOKEN));
    let mut files = Vec::new();
    read_all_bytes(t.path(), &mut files);
    assert!(files.iter().any(|(p, _)| p.ends_with("demo.sqlite")));
    for (p, bytes) in files {
        assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "token found in {}", p.display());
    }
}

#[test]
fn wrong_token_is_reported_without_the_token() {
    let ee = fake(Durations::Fixed(Duration::from_secs(5)), 100.0);
    let t = setup(&ee).env("GEEPIPE_EE_TOKEN", "wrong-token-XYZ-123").args(["run", "p.yaml", "--no-fetch"]);
    seed(&t, "cli-wrong", 2, None);
    let out = t.code(4);
    assert!(out.stderr.contains("401") && out.stderr.contains("UNAUTHENTICATED"), "{}", out.stderr);
    assert!(!out.stderr.contains("wrong-token-XYZ-123"));
}

#[test]
fn no_credentials_names_every_way_to_provide_them() {
    let home = tempfile::tempdir().unwrap();
    let t = Test::new()
        .file("p.yaml", PIPELINE)
        .copy("examples/sites/restoration.geojson", "sites.geojson")
        .without_credentials(home.path())
        .args(["run", "p.yaml", "--no-fetch"]);
    seed(&t, "cli-nocred", 1, None);
    let out = t.code(4);
    for w in [
        "no Google credentials",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "gcloud auth application-default login",
        "metadata server",
    ] {
        assert!(out.stderr.contains(w), "missing {w:?} in:\n{}", out.stderr);
    }
    assert_eq!(out.stderr.matches("error:").count(), 1, "one message:\n{}", out.stderr);
}

#[test]
fn a_second_run_on_the_same_journal_is_refused() {
    let ee = fake(Durations::Fixed(Duration::from_secs(5)), 100.0);
    let t = setup(&ee).args(["run", "p.yaml", "--no-fetch"]);
    seed(&t, "cli-lock", 2, None);
    let (p, _) = geepipe::pipeline::load(&t.path().join("p.yaml"), &Default::default()).unwrap();
    let held = Journal::open(&journal_path(&t), "demo", &p.content_hash).unwrap();
    let out = t.code(4);
    assert!(
        out.stderr.contains(&format!("in use by another geepipe run (pid {})", std::process::id())),
        "{}",
        out.stderr
    );
    assert_eq!(ee.counters().operations_created, 0);
    drop(held);
    t.code(0);
}

#[test]
fn a_changed_pipeline_is_refused_until_restart() {
    let ee = fake(Durations::Fixed(Duration::from_secs(5)), 100.0);
    let t = setup(&ee).args(["run", "p.yaml", "--no-fetch"]);
    seed(&t, "cli-changed", 2, Some("an-older-hash"));
    let out = t.code(4);
    assert!(out.stderr.contains("different version of this pipeline"), "{}", out.stderr);
    assert!(out.stderr.contains("geepipe run --restart p.yaml"), "{}", out.stderr);
    assert_eq!(ee.counters().operations_created, 0);
    // --restart moves the old journal aside (planning itself comes from the planner).
    let t = t.arg("--restart");
    let out = t.output();
    assert!(out.stderr.contains("moved the old journal to"), "{}", out.stderr);
    let old: Vec<_> = std::fs::read_dir(t.path().join("results/.geepipe"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".old"))
        .collect();
    assert_eq!(old.len(), 1);
    assert_eq!(Journal::open_read(&old[0].path()).unwrap().chunks().unwrap().len(), 2);
}

#[test]
fn detach_wait_timeout_and_cancel() {
    let ee = fake(Durations::Fixed(Duration::from_secs(3600)), 1.0);
    let t = setup(&ee).args(["run", "p.yaml", "--detach"]);
    seed(&t, "cli-detach", 12, None);
    let out = t.code(0);
    assert!(out.stderr.contains("submitted: 8 tasks on Earth Engine, 4 chunks waiting"), "{}", out.stderr);
    assert!(out.stderr.contains("geepipe wait p.yaml"));
    // `wait` in the same folder: runs out of time, tasks keep running.
    let w = Command::new(env!("CARGO_BIN_EXE_geepipe"))
        .args(["wait", "p.yaml", "--timeout", "1"])
        .current_dir(t.path())
        .env("GEEPIPE_EE_URL", ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("GEEPIPE_POLL_MIN", "0.05")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&w.stderr);
    assert_eq!(w.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("timed out: 0 of 12 chunks done; 8 submitted tasks keep running"), "{stderr}");
    assert!(stderr.contains("Resume with:  geepipe run p.yaml"), "{stderr}");
    let c = Command::new(env!("CARGO_BIN_EXE_geepipe"))
        .args(["cancel", "p.yaml"])
        .current_dir(t.path())
        .env("GEEPIPE_EE_URL", ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&c.stderr);
    assert_eq!(c.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cancelled 8 tasks; 4 chunks that were never submitted marked cancelled"), "{stderr}");
    ee.advance(Duration::from_secs(10));
    assert!(ee.operations().iter().all(|o| o.state == OpState::Cancelled));
    assert!(rows(&t).iter().all(|r| r.state == ChunkState::Cancelled));
}

/// Kills the real binary with SIGKILL at random moments, 20 times, then lets a run finish: every chunk
/// done, and the fake proves no chunk ever got a second task.
#[test]
fn sigkill_at_random_moments_never_duplicates_and_finishes() {
    use rand::Rng;
    // Tasks of 0.2-0.6 s (real): a whole run takes longer than the 20 rounds' random kill delays.
    let ee = fake(Durations::Uniform { min: Duration::from_secs(20), max: Duration::from_secs(60), seed: 11 }, 100.0);
    // Some answers get lost too: the journal then only has the intent.
    ee.faults().push(RequestFault::lose_response(6).on(RouteMatch::Exports));
    let t = setup(&ee);
    let chunks = 100;
    seed(&t, "cli-kill", chunks, None);
    let mut rng = rand::rng();
    let mut killed_with_live_tasks = 0;
    for round in 0..20 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_geepipe"))
            .args(["run", "p.yaml", "--no-fetch", "-q"])
            .current_dir(t.path())
            .env("GEEPIPE_EE_URL", ee.base_url())
            .env("GEEPIPE_EE_TOKEN", TOKEN)
            .env("GEEPIPE_POLL_MIN", "0.02")
            .env("GEEPIPE_POLL_MAX", "0.1")
            .env("GEEPIPE_RETRY_BASE_MS", "5")
            .env("GEEPIPE_HTTP_TIMEOUT", "3")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Every other round waits until this process has created a task (however slow the machine is
        // to start it), so kills certainly land mid-run; the others kill at any moment, start-up included.
        let created = ee.counters().operations_created;
        if round % 2 == 0 && created < chunks as u64 {
            let start = std::time::Instant::now();
            while ee.counters().operations_created == created && start.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(rng.random_range(0..150)));
        } else {
            std::thread::sleep(Duration::from_millis(rng.random_range(40..700)));
        }
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        if out.status.code().is_some_and(|c| c != 0) {
            panic!("round {round}: exited {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
        }
        if rows(&t).iter().any(|r| r.state.is_active()) {
            killed_with_live_tasks += 1;
        }
    }
    assert!(killed_with_live_tasks >= 5, "kills should land mid-run ({killed_with_live_tasks})");
    let fin = Command::new(env!("CARGO_BIN_EXE_geepipe"))
        .args(["run", "p.yaml", "--no-fetch"])
        .current_dir(t.path())
        .env("GEEPIPE_EE_URL", ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("GEEPIPE_POLL_MIN", "0.02")
        .env("GEEPIPE_POLL_MAX", "0.1")
        .env("GEEPIPE_RETRY_BASE_MS", "5")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&fin.stderr);
    assert_eq!(fin.status.code(), Some(0), "{stderr}");
    assert!(rows(&t).iter().all(|r| r.state == ChunkState::Succeeded));
    assert_no_duplicates(&ee, chunks);
    assert_eq!(ee.counters().operations_created, chunks as u64);
}

/// Ctrl-C (SIGINT): submitted tasks keep running, the journal is consistent, the message says how to resume.
#[test]
fn ctrl_c_leaves_tasks_running_and_says_how_to_resume() {
    let ee = fake(Durations::Fixed(Duration::from_secs(3600)), 1.0);
    let t = setup(&ee);
    seed(&t, "cli-int", 10, None);
    let child = Command::new(env!("CARGO_BIN_EXE_geepipe"))
        .args(["run", "p.yaml", "--no-fetch"])
        .current_dir(t.path())
        .env("GEEPIPE_EE_URL", ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("GEEPIPE_POLL_MIN", "0.05")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first batch is on the server and in the journal, then interrupt.
    let start = std::time::Instant::now();
    let recorded = |t: &Test| {
        Journal::open_read(&journal_path(t))
            .and_then(|j| j.chunks())
            .map(|r| r.iter().filter(|r| r.operation.is_some()).count())
            .unwrap_or(0)
    };
    while recorded(&t) < 8 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("interrupted: 0 of 10 chunks done; 8 submitted tasks keep running on Earth Engine"),
        "{stderr}"
    );
    assert!(stderr.contains("Resume with:  geepipe run p.yaml"), "{stderr}");
    let r = rows(&t);
    assert_eq!(r.iter().filter(|r| r.operation.is_some()).count(), 8);
    assert!(ee.operations().iter().all(|o| matches!(o.state, OpState::Pending | OpState::Running)));
}

#[test]
fn status_and_wait_before_any_run_say_so() {
    let ee = fake(Durations::Fixed(Duration::from_secs(5)), 100.0);
    let t = setup(&ee).args(["status", "p.yaml"]);
    let out = t.code(4);
    assert!(out.stderr.contains("nothing was submitted for this pipeline yet"), "{}", out.stderr);
    let out = setup(&ee).args(["wait", "p.yaml"]).code(4);
    assert!(out.stderr.contains("nothing was submitted for this pipeline yet"), "{}", out.stderr);
    // A journal without a plan (a `run` that stopped before planning) is no plan either.
    let t = setup(&ee).args(["wait", "p.yaml"]);
    let (p, _) = geepipe::pipeline::load(&t.path().join("p.yaml"), &Default::default()).unwrap();
    drop(Journal::open(&journal_path(&t), "demo", &p.content_hash).unwrap());
    let out = t.code(4);
    assert!(out.stderr.contains("has no plan yet"), "{}", out.stderr);
    assert!(!Journal::open_read(&journal_path(&t)).unwrap().has_plan().unwrap());
}

fn geepipe(t: &Test, ee: &FakeEe, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_geepipe"));
    c.args(args)
        .current_dir(t.path())
        .env("GEEPIPE_EE_URL", ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("GEEPIPE_POLL_MIN", "0.05")
        .env("GEEPIPE_POLL_MAX", "0.2")
        .env("GEEPIPE_RETRY_BASE_MS", "5")
        .env("NO_COLOR", "1");
    c
}

/// Tasks finish while `cancel` is on its way (every cancel call reaches the fake 300 s of virtual time
/// later, and the fake, like Earth Engine, refuses to cancel a finished task): no chunk whose task
/// succeeded is recorded as cancelled, the refusals do not stop the cancel, and the next `run` exports
/// only what was really cancelled, so no site is exported (and billed) twice.
///
/// The first eight tasks alternate between 600 s and a day, so whatever order `cancel` takes them in,
/// at least three of the four short ones finish before their cancel arrives (the second cancel already
/// lands after 600 s) and the long ones never do; the resubmitted tasks take 30 s. Real time adds
/// 20 virtual seconds per second, so the listing before the first cancel still sees every task running
/// unless starting two processes takes 30 s.
#[test]
fn cancel_races_with_finishing_tasks_and_never_double_exports() {
    let created = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let durations = Durations::Hook(std::sync::Arc::new(move |_: &fake_ee::TaskInfo| {
        match created.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            n if n < 8 && n % 2 == 0 => Duration::from_secs(600),
            n if n < 8 => Duration::from_secs(86_400),
            _ => Duration::from_secs(30),
        }
    }));
    let ee = fake(durations, 20.0);
    let t = setup(&ee);
    seed(&t, "cli-race", 12, None);
    let out = geepipe(&t, &ee, &["run", "p.yaml", "--detach"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    ee.faults().push(
        RequestFault::advance(Duration::from_secs(300), 100).on(RouteMatch::Only(fake_ee::Route::OperationCancel)),
    );
    let out = geepipe(&t, &ee, &["cancel", "p.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("tasks had already finished (kept as succeeded or failed, not run again)"), "{stderr}");
    assert!(ee.counters().rejections.iter().any(|r| r.status == 400), "no cancel of a finished task was refused");
    let ops: std::collections::HashMap<String, OpState> =
        ee.operations().into_iter().map(|o| (o.name, o.state)).collect();
    for r in rows(&t) {
        let op = r.operation.as_ref().and_then(|n| ops.get(n)).copied();
        match r.state {
            ChunkState::Succeeded => assert_eq!(op, Some(OpState::Succeeded), "{}", r.chunk_id),
            ChunkState::Cancelled => assert!(
                matches!(op, None | Some(OpState::Cancelled | OpState::Cancelling)),
                "{} recorded cancelled but its task is {op:?}",
                r.chunk_id
            ),
            s => panic!("{} left {s:?} after cancel", r.chunk_id),
        }
    }
    let succeeded_now = rows(&t).iter().filter(|r| r.state == ChunkState::Succeeded).count();
    assert!((3..=4).contains(&succeeded_now), "{succeeded_now} chunks finished during the cancel");
    // Run again to the end: the cancelled chunks are exported, the succeeded ones are not.
    let out = geepipe(&t, &ee, &["run", "p.yaml", "--no-fetch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut succeeded = std::collections::BTreeMap::new();
    for op in ee.operations().into_iter().filter(|o| o.state == OpState::Succeeded) {
        *succeeded.entry(op.description).or_insert(0) += 1;
    }
    assert_eq!(succeeded.len(), 12, "{succeeded:?}");
    assert!(succeeded.values().all(|n| *n == 1), "chunks exported twice: {succeeded:?}");
}

/// `cancel` while a foreground `run` holds the journal: the run is asked to stop (no need to find its
/// terminal), says why, and the cancel goes through.
#[test]
fn cancel_while_a_run_holds_the_journal() {
    let ee = fake(Durations::Fixed(Duration::from_secs(3600)), 1.0);
    let t = setup(&ee);
    seed(&t, "cli-hold", 10, None);
    let runner =
        geepipe(&t, &ee, &["run", "p.yaml", "--no-fetch"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn();
    let runner = runner.unwrap();
    let start = std::time::Instant::now();
    while ee.counters().operations_created < 8 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = geepipe(&t, &ee, &["cancel", "p.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("a running geepipe (pid {}) holds the journal", runner.id())), "{stderr}");
    assert!(stderr.contains("cancelled 8 tasks; 2 chunks that were never submitted marked cancelled"), "{stderr}");
    let run = runner.wait_with_output().unwrap();
    let run_err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{run_err}");
    assert!(run_err.contains("stopped: `geepipe cancel` asked this run to stop"), "{run_err}");
    ee.advance(Duration::from_secs(10));
    assert!(ee.operations().iter().all(|o| o.state == OpState::Cancelled));
    assert!(rows(&t).iter().all(|r| r.state == ChunkState::Cancelled));
}

/// Ctrl-C is honoured while a request hangs (operations.list answers after 5 minutes): the run stops
/// within seconds with exit code 3.
#[test]
fn ctrl_c_is_honoured_while_a_request_hangs() {
    let ee = fake(Durations::Fixed(Duration::from_secs(3600)), 1.0);
    ee.faults()
        .push(RequestFault::delay(Duration::from_secs(300), 100).on(RouteMatch::Only(fake_ee::Route::OperationList)));
    let t = setup(&ee);
    seed(&t, "cli-hang", 4, None);
    let child = geepipe(&t, &ee, &["run", "p.yaml", "--no-fetch"])
        .env("GEEPIPE_HTTP_TIMEOUT", "600")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while ee.counters().list_calls == 0 && ee.faults().remaining().first().is_some_and(|f| f.times == 100) {
        assert!(start.elapsed() < Duration::from_secs(20), "the run never listed");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = std::time::Instant::now();
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(sent.elapsed() < Duration::from_secs(60), "took {:?} after SIGINT", sent.elapsed());
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
}
