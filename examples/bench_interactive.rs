//! Time to table, batch against interactive: `geepipe run` (the release binary, as a user runs it) on 2,000
//! sites × 1 categorical layer (MapBiomas) × 14 years, against the fake Earth Engine configured with the batch
//! queue and task times and the interactive latencies stated in `scripts/bench-interactive.sh` (which also
//! cites them); then the size at which `mode: auto` switches from interactive to batch.
//!
//! Batch runs on the fake's accelerated clock (×`scale`): its time to table is modelled as the run's wall time
//! plus the virtual time the tasks spent queued and running beyond the wall time they took (the fake reports
//! each operation's create and end times on its virtual clock). Interactive runs in real time.
//!
//! `target/release/examples/bench_interactive GEEPIPE_BINARY` with the settings in the environment (see the
//! script).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::{Clock, Config, Durations, FakeEe, Route, TaskInfo};

const TOKEN: &str = "bench-token";

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Site `i`: a square of `side` degrees near Brasília, on a grid of 50 columns.
fn ring(i: usize, side: f64) -> Vec<[f64; 2]> {
    let (x, y) = (-48.0 + (i % 50) as f64 * 0.01, -15.8 - (i / 50) as f64 * 0.01);
    vec![[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
}

fn sites_geojson(n: usize, side: f64) -> String {
    let features: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"type":"Feature","properties":{{"site_id":"s{i:05}"}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}}"#,
                serde_json::to_string(&ring(i, side)).unwrap()
            )
        })
        .collect();
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",\n"))
}

const PIPELINE: &str = "\
name: bench
project: bench-project
sites: {file: sites.geojson, id: site_id}
years: 2010..2023
layers:
  - catalog: mapbiomas_lulc
export: {to: gcs, bucket: bench-bucket, prefix: bench/}
chunks: {sites_per_task: 50, max_concurrent: 10}
output: {path: out/bench.csv}
";

struct Run {
    seconds: f64,
    wall: f64,
    units: usize,
    table: PathBuf,
}

fn geepipe(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, String)]) -> f64 {
    let start = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("geepipe runs");
    let wall = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "geepipe {args:?} failed ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    wall
}

fn folder(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites_geojson(n, 0.005)).unwrap();
    std::fs::write(dir.path().join("p.yaml"), PIPELINE).unwrap();
    dir
}

fn rfc3339(s: &str) -> f64 {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    t.unix_timestamp_nanos() as f64 / 1e9
}

fn batch(bin: &Path, dir: &Path, n: usize) -> Run {
    let scale = env_f64("SCALE", 200.0);
    let queue = env_f64("BATCH_QUEUE_S", 10.0);
    let (base, per_site) = (env_f64("BATCH_TASK_S", 30.0), env_f64("BATCH_TASK_PER_SITE_S", 0.5));
    let gcs = GcsEmulator::start().expect("fake-gcs-server starts (scripts/test-deps.sh installs it)");
    gcs.create_bucket("bench-bucket").unwrap();
    let hook = move |t: &TaskInfo| Duration::from_secs_f64(base + per_site * t.site_ids.len() as f64);
    let ee = FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(scale),
        max_running: env_f64("BATCH_CONCURRENT", 2.0) as usize,
        start_delay: Duration::from_secs_f64(queue),
        durations: Durations::Hook(Arc::new(hook)),
        storage_base_url: Some(gcs.base_url().to_string()),
        compute_latency: Duration::from_secs_f64(env_f64("INTERACTIVE_LATENCY_S", 2.0)),
        ..Config::default()
    })
    .expect("fake starts");
    let env = [
        ("GEEPIPE_EE_URL", ee.base_url()),
        ("GEEPIPE_EE_TOKEN", TOKEN.to_string()),
        ("STORAGE_EMULATOR_HOST", gcs.base_url().to_string()),
        // The executor's own poll intervals (5 s .. 60 s), on the fake's clock.
        ("GEEPIPE_POLL_MIN", format!("{}", 5.0 / scale)),
        ("GEEPIPE_POLL_MAX", format!("{}", 60.0 / scale)),
    ];
    let wall = geepipe(bin, dir, &["-q", "run", "p.yaml", "--mode", "batch"], &env);
    let ops: Vec<_> = ee.operations().into_iter().filter(|o| !o.foreign).collect();
    assert_eq!(ops.len(), n.div_ceil(50), "one task per chunk");
    let (mut first, mut last) = (f64::INFINITY, 0.0f64);
    for o in &ops {
        let v = ee.operation_json(&o.name).expect("operation");
        first = first.min(rfc3339(v["metadata"]["createTime"].as_str().unwrap()));
        last = last.max(rfc3339(v["metadata"]["endTime"].as_str().unwrap()));
    }
    let span = last - first;
    Run { seconds: wall + span - span / scale, wall, units: ops.len(), table: dir.join("out/bench.csv") }
}

fn interactive(bin: &Path, dir: &Path) -> Run {
    let ee = FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(1.0),
        compute_latency: Duration::from_secs_f64(env_f64("INTERACTIVE_LATENCY_S", 2.0)),
        compute_latency_per_feature: Duration::from_secs_f64(env_f64("INTERACTIVE_PER_SITE_S", 0.02)),
        compute_concurrency: 40,
        ..Config::default()
    })
    .expect("fake starts");
    let env = [("GEEPIPE_EE_URL", ee.base_url()), ("GEEPIPE_EE_TOKEN", TOKEN.to_string())];
    let wall = geepipe(bin, dir, &["-q", "run", "p.yaml", "--mode", "interactive"], &env);
    let c = ee.counters();
    assert_eq!(c.operations_created, 0);
    assert!(c.max_computing <= 40, "{c:?}");
    Run { seconds: wall, wall, units: c.requests_to(Route::ComputeFeatures) as usize, table: dir.join("out/bench.csv") }
}

fn sorted_lines(p: &Path) -> Vec<String> {
    let mut l: Vec<String> = std::fs::read_to_string(p).unwrap().lines().map(str::to_string).collect();
    l.sort();
    l
}

/// The smallest number of sites of `side`° squares at which `auto` chooses batch for the bench pipeline.
fn crossover(dir: &Path, side: f64) -> Option<usize> {
    use geepipe::plan::{estimate, RunMode};
    let (p, _) = geepipe::pipeline::load(&dir.join("p.yaml"), &Default::default()).expect("pipeline loads");
    let site = geepipe::sites::Site {
        id: "s".into(),
        properties: Default::default(),
        polygons: vec![vec![ring(0, side)]],
        multi: false,
        index: 0,
    };
    let one = estimate::estimate(&p, std::slice::from_ref(&site));
    let at = |n: usize| {
        let e = estimate::Estimate { sites: n, pixel_reads: one.pixel_reads * n as f64, ..one.clone() };
        estimate::decide_estimate(&p, e)
    };
    if at(1).mode == RunMode::Batch {
        return Some(1);
    }
    let (mut lo, mut hi) = (1usize, 1usize << 40);
    if at(hi).mode == RunMode::Interactive {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if at(mid).mode == RunMode::Batch {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

fn human(s: f64) -> String {
    if s >= 3600.0 {
        format!("{}h{:02}m", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    } else if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1} s")
    }
}

fn main() {
    let bin = PathBuf::from(std::env::args().nth(1).expect("usage: bench_interactive GEEPIPE_BINARY"));
    // The runs happen in temporary folders: an absolute path.
    let bin = std::fs::canonicalize(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let n = env_f64("SITES", 2000.0) as usize;
    println!("time to table: {n} sites × 1 categorical layer (MapBiomas) × 14 years, fake Earth Engine");
    let (bd, id) = (folder(n), folder(n));
    let b = batch(&bin, bd.path(), n);
    let i = interactive(&bin, id.path());
    assert_eq!(sorted_lines(&b.table), sorted_lines(&i.table), "both modes give the same table");
    println!("{:<12} {:>18} {:>15}  notes", "mode", "tasks / requests", "time to table");
    println!(
        "{:<12} {:>18} {:>15}  modelled: {:.1} s wall on a ×{} clock",
        "batch",
        format!("{} tasks", b.units),
        human(b.seconds),
        b.wall,
        env_f64("SCALE", 200.0)
    );
    // The least batch can take with the stated figures alone (no machine time): the queue, then rounds of
    // `BATCH_CONCURRENT` tasks of 50 sites.
    let concurrent = env_f64("BATCH_CONCURRENT", 2.0).max(1.0);
    let task = env_f64("BATCH_TASK_S", 30.0) + env_f64("BATCH_TASK_PER_SITE_S", 0.5) * 50.0;
    let floor = env_f64("BATCH_QUEUE_S", 10.0) + (b.units as f64 / concurrent).ceil() * task;
    println!(
        "{:<12} {:>18} {:>15}  the stated queue and task times alone",
        "batch floor",
        format!("{} tasks", b.units),
        human(floor)
    );
    println!("{:<12} {:>18} {:>15}  real time", "interactive", format!("{} requests", i.units), human(i.seconds));
    println!(
        "interactive is {:.0}× faster to the table than batch ({:.1}× than the batch floor; goal: ≥ 10×); the two \
         tables are identical",
        b.seconds / i.seconds,
        floor / i.seconds
    );
    println!("auto switches to batch at (same pipeline, squares of the given side):");
    for (side, label) in
        [(0.005, "0.005° (~30 ha, the sites above)"), (0.02, "0.02° (~4.8 km²)"), (0.1, "0.1° (~120 km²)")]
    {
        match crossover(bd.path(), side) {
            Some(k) => println!("  {label:<36} {k} sites"),
            None => println!("  {label:<36} never"),
        }
    }
}
