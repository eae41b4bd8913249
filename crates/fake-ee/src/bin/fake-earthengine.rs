//! `fake-earthengine`: the fake Earth Engine as a process, for benchmarks and manual runs.
//! Prints its base URL on the first line of standard output, then serves until interrupted.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fake_ee::{Clock, Config, Durations, FakeEe, TaskRule};

#[derive(Parser, Debug)]
#[command(name = "fake-earthengine", about = "A strict fake Earth Engine batch API on 127.0.0.1")]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The bearer token to expect (any non-empty token when absent).
    #[arg(long)]
    token: Option<String>,
    /// Concurrently running tasks per project.
    #[arg(long, default_value_t = 2)]
    max_running: usize,
    /// Queued tasks allowed per project.
    #[arg(long, default_value_t = 3000)]
    queue_limit: usize,
    /// Virtual seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Task duration in virtual seconds (fixed), or MIN..MAX for a seeded uniform draw.
    #[arg(long, default_value = "10")]
    duration: String,
    /// Seed of durations and operation ids.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Other users' PENDING tasks in the project at start.
    #[arg(long, default_value_t = 0)]
    foreign_pending: usize,
    /// Project of the foreign tasks.
    #[arg(long, default_value = "demo-project")]
    foreign_project: String,
    /// Fail chunks with more than K sites with "User memory limit exceeded.".
    #[arg(long)]
    memory_limit_above: Option<usize>,
    /// Cloud Storage emulator base URL for exported files.
    #[arg(long, env = "STORAGE_EMULATOR_HOST")]
    storage: Option<String>,
    /// Earth Engine reference folder (discovery document, algorithms).
    #[arg(long, env = "EE_REFERENCE_DIR")]
    reference: Option<PathBuf>,
    /// Seconds (real time) each table:computeFeatures / value:compute call takes.
    #[arg(long, default_value = "0")]
    compute_latency: String,
    /// Synchronous calls in flight at once (one more is 429 RESOURCE_EXHAUSTED).
    #[arg(long, default_value_t = 40)]
    compute_concurrency: usize,
    /// Seconds a synchronous call may take before "Computation timed out.".
    #[arg(long, default_value = "300")]
    compute_time_limit: String,
    /// Do not evaluate table exports: each runs for its duration and succeeds with an empty table
    /// (benchmarks of a client's memory and scheduling over tens of thousands of tasks).
    #[arg(long)]
    no_evaluate: bool,
}

fn secs(s: &str) -> Result<Duration, String> {
    s.trim().parse::<f64>().map(Duration::from_secs_f64).map_err(|e| format!("bad duration `{s}`: {e}"))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let durations = match args.duration.split_once("..") {
        Some((a, b)) => match (secs(a), secs(b)) {
            (Ok(min), Ok(max)) => Durations::Uniform { min, max, seed: args.seed },
            (Err(e), _) | (_, Err(e)) => exit(&e),
        },
        None => Durations::Fixed(secs(&args.duration).unwrap_or_else(|e| exit(&e))),
    };
    let mut config = Config {
        port: args.port,
        token: args.token,
        max_running: args.max_running,
        queue_limit: args.queue_limit,
        clock: Clock::Scaled(args.time_scale),
        durations,
        seed: args.seed,
        foreign_pending: args.foreign_pending,
        foreign_project: args.foreign_project,
        reference_dir: args.reference,
        compute_latency: secs(&args.compute_latency).unwrap_or_else(|e| exit(&e)),
        compute_concurrency: args.compute_concurrency,
        compute_time_limit: secs(&args.compute_time_limit).unwrap_or_else(|e| exit(&e)),
        evaluate_exports: !args.no_evaluate,
        ..Config::default()
    };
    if let Some(s) = args.storage.filter(|s| !s.is_empty()) {
        config.storage_base_url = Some(if s.contains("://") { s } else { format!("http://{s}") });
    }
    if let Some(k) = args.memory_limit_above {
        config.faults.push(TaskRule::memory_limit_above(k).into());
    }
    let ee = FakeEe::start(config).await.unwrap_or_else(|e| exit(&e));
    println!("{}", ee.base_url());
    let _ = tokio::signal::ctrl_c().await;
    let c = ee.counters();
    eprintln!(
        "fake-earthengine: {} operations created, max {} running, {} list calls, {} computations (max {} at once), {} rejected",
        c.operations_created,
        c.max_running,
        c.list_calls,
        c.requests_to(fake_ee::Route::ComputeFeatures) + c.requests_to(fake_ee::Route::ComputeValue),
        c.max_computing,
        c.rejections.len()
    );
}

fn exit(msg: &str) -> ! {
    eprintln!("fake-earthengine: {msg}");
    std::process::exit(2)
}
