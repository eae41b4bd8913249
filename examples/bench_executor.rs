//! Executor benchmark: N export tasks with random durations against the fake Earth Engine (accelerated
//! clock), with a concurrency limit. Reports makespan against the ideal `max(Σ durations / concurrency,
//! longest task)` and every API call per task (`operations.list` polls included, and shown apart), for
//! geepipe's executor with its shipped settings (poll floor 5 s, ceiling 60 s) and for a model of the
//! peer run in the same process with the settings gee-polygons 0.0.4 ships (see
//! /work/shared/notes/peers.md): `operations.get` on every running task each poll, every 5 s while it is
//! still submitting and every 30 s in `wait()`, and the blocking `getInfo` calls it makes while building
//! each task (one per site and year: 50 sites × 2 years = 100 per task by default), sent to the fake's
//! `value:compute` so they cost what a round trip costs and are counted like every other call.
//!
//! `cargo run --example bench_executor -- [tasks] [concurrency] [clock-scale] [getinfo-per-task]`
//! (or scripts/bench-executor.sh).

#[path = "../tests/executor_support/mod.rs"]
mod executor_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use executor_support::{client, TestPlanner};
use fake_ee::{Clock, Config, Durations, FakeEe, Route, TaskInfo};
use geepipe::executor::{Executor, Settings, Stop};
use geepipe::journal::Journal;

const TOKEN: &str = "bench-token";

struct Result {
    makespan: f64,
    ideal: f64,
    /// List scheduling in submission order with zero latency (what any executor without knowledge of
    /// durations can reach at best).
    list_sched: f64,
    tasks: usize,
    /// Every request the contender sent (list polls included).
    all_calls: u64,
    list_calls: u64,
}

fn durations(seed: u64) -> (Durations, Arc<Mutex<HashMap<String, f64>>>) {
    let seen: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
    let s = seen.clone();
    let hook = move |t: &TaskInfo| {
        // 1..10 minutes, deterministic per description (so both contenders get the same work).
        let mut h: u64 = seed;
        for b in t.description.bytes() {
            h = h.wrapping_mul(1_000_003).wrapping_add(b as u64);
        }
        h ^= h >> 29;
        h = h.wrapping_mul(0xbf58476d1ce4e5b9);
        h ^= h >> 32;
        let secs = 60.0 + (h % 10_000) as f64 / 10_000.0 * 540.0;
        s.lock().unwrap().insert(t.description.clone(), secs);
        Duration::from_secs_f64(secs)
    };
    (Durations::Hook(Arc::new(hook)), seen)
}

fn fake(scale: f64, d: Durations) -> FakeEe {
    FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(scale),
        durations: d,
        max_running: 100_000,
        ..Config::default()
    })
    .expect("fake starts")
}

fn ideal(seen: &HashMap<String, f64>, concurrency: usize) -> f64 {
    let sum: f64 = seen.values().sum();
    let longest = seen.values().cloned().fold(0.0, f64::max);
    (sum / concurrency as f64).max(longest)
}

fn list_scheduling(order: &[String], seen: &HashMap<String, f64>, conc: usize) -> f64 {
    let mut slots = vec![0.0f64; conc];
    for d in order {
        let (k, _) = slots.iter().enumerate().fold((0, f64::INFINITY), |b, (k, v)| if *v < b.1 { (k, *v) } else { b });
        slots[k] += seen.get(d).copied().unwrap_or(0.0);
    }
    slots.into_iter().fold(0.0, f64::max)
}

fn summarize(ee: &FakeEe, seen: &Arc<Mutex<HashMap<String, f64>>>, t0: Duration, n: usize, conc: usize) -> Result {
    let makespan = (ee.now() - t0).as_secs_f64();
    let order: Vec<String> = ee.operations().into_iter().filter(|o| !o.foreign).map(|o| o.description).collect();
    let list_sched = list_scheduling(&order, &seen.lock().unwrap(), conc);
    let c = ee.counters();
    let list = c.requests_to(Route::OperationList);
    let total: u64 = c.requests.values().sum();
    Result {
        makespan,
        ideal: ideal(&seen.lock().unwrap(), conc),
        list_sched,
        tasks: n,
        all_calls: total,
        list_calls: list,
    }
}

fn bench_geepipe(n: usize, conc: usize, scale: f64, rt: &tokio::runtime::Runtime) -> Result {
    let (d, seen) = durations(1);
    let ee = fake(scale, d);
    let dir = tempfile::tempdir().unwrap();
    let planner = TestPlanner::new("bench");
    let tasks = planner.plan(n, 1);
    let t0 = ee.now();
    let outcome = rt.block_on(async {
        let j = Journal::open(&dir.path().join("bench.sqlite"), "bench", "h").unwrap();
        // The shipped poll floor and ceiling (`geepipe run` defaults), on the accelerated clock.
        let shipped = Settings::default();
        let s = Settings {
            max_concurrent: conc,
            poll_min: shipped.poll_min.div_f64(scale),
            poll_max: shipped.poll_max.div_f64(scale),
            ..shipped
        };
        let ex = Executor::new(client(&ee.base_url(), Some(TOKEN)), j, Some(tasks), planner, s).unwrap();
        ex.run(Stop::new()).await.unwrap()
    });
    assert_eq!(outcome.counts.succeeded, n, "{outcome:?}");
    summarize(&ee, &seen, t0, n, conc)
}

/// gee-polygons' poll interval while it is still starting tasks (seconds).
const PEER_SUBMIT_POLL: f64 = 5.0;
/// gee-polygons' `wait()` poll interval once every task is started (seconds).
const PEER_WAIT_POLL: f64 = 30.0;

/// The peer's loop: `getinfo` blocking `value:compute` calls to build each task, submit up to `conc`,
/// then `operations.get` every running task every 5 s (virtual) while tasks remain to submit and every
/// 30 s once all are submitted.
fn bench_naive(n: usize, conc: usize, scale: f64, getinfo: usize, rt: &tokio::runtime::Runtime) -> Result {
    let (d, seen) = durations(1);
    let ee = fake(scale, d);
    let planner = TestPlanner::new("bench");
    let tasks = planner.plan(n, 1);
    let t0 = ee.now();
    rt.block_on(async {
        let c = client(&ee.base_url(), Some(TOKEN));
        let mut next = 0;
        let mut active: Vec<String> = Vec::new();
        let mut done = 0;
        while done < n {
            while active.len() < conc && next < n {
                for k in 0..getinfo {
                    // One site id read back per site and year, as gee-polygons builds a chunk.
                    let e = serde_json::json!({"result": "0", "values": {"0": {"constantValue": k}}});
                    c.compute_value(&e).await.unwrap();
                }
                let op = c.export(tasks[next].endpoint, &tasks[next].body).await.unwrap();
                active.push(op.name);
                next += 1;
            }
            let every = if next < n { PEER_SUBMIT_POLL } else { PEER_WAIT_POLL };
            tokio::time::sleep(Duration::from_secs_f64(every / scale)).await;
            let mut still = Vec::new();
            for name in active.drain(..) {
                let op = c.get_operation(&name).await.unwrap();
                if op.state().is_terminal() {
                    done += 1;
                } else {
                    still.push(name);
                }
            }
            active = still;
        }
    });
    summarize(&ee, &seen, t0, n, conc)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(800);
    let conc: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(40);
    let scale: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200.0);
    let getinfo: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let shipped = Settings::default();
    println!("{n} tasks, 1-10 min each (virtual), concurrency {conc}, clock x{scale}");
    println!(
        "geepipe: shipped settings, polls every {}-{} s (one operations.list per poll)",
        shipped.poll_min.as_secs_f64(),
        shipped.poll_max.as_secs_f64()
    );
    println!(
        "gee-polygons model: operations.get per running task every {PEER_SUBMIT_POLL} s while submitting, \
         every {PEER_WAIT_POLL} s in wait(); {getinfo} getInfo calls per task"
    );
    println!(
        "{:<13} {:>11} {:>9} {:>10} {:>11} {:>11} {:>11} {:>11}",
        "executor", "makespan s", "ideal s", "vs ideal", "LS-0 s", "vs LS-0", "calls/task*", "list polls"
    );
    let mut rows = Vec::new();
    let runs =
        [("geepipe", bench_geepipe(n, conc, scale, &rt)), ("gee-polygons", bench_naive(n, conc, scale, getinfo, &rt))];
    for (name, r) in runs {
        println!(
            "{:<13} {:>11.0} {:>9.0} {:>10.3} {:>11.0} {:>11.3} {:>11.2} {:>11}",
            name,
            r.makespan,
            r.ideal,
            r.makespan / r.ideal,
            r.list_sched,
            r.makespan / r.list_sched,
            r.all_calls as f64 / r.tasks as f64,
            r.list_calls
        );
        rows.push(r);
    }
    println!("* every API call per task: exports, gets, list polls, getInfo, cancels, retries");
    println!("ideal = max(sum of durations / concurrency, longest); LS-0 = list scheduling in submission order, zero latency");
    println!(
        "geepipe/gee-polygons: makespan {:.3}, calls per task {:.3}",
        rows[0].makespan / rows[1].makespan,
        (rows[0].all_calls as f64 / rows[0].tasks as f64) / (rows[1].all_calls as f64 / rows[1].tasks as f64)
    );
}
