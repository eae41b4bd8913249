//! `geepipe probe FILE`: the probe (see [`crate::probe`]) on its own: one synchronous computation of the
//! first chunk, cut to a couple of sites and one year per layer, and what came back per column. Sends no
//! batch task. Exit 0 when every column came back with a value of the expected shape, 4 when not (the
//! same refusal `geepipe run` makes before submitting).

use std::path::PathBuf;

use clap::Args;

use super::connect::{client, runtime, ExecArgs};
use super::Global;
use crate::exit;
use crate::pipeline::model::Engine;
use crate::plan::probe::ProbeCall;
use crate::plan::Planner;
use crate::probe::{self, Report};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Sites of the first chunk to compute (a zonal probe).
    #[arg(long, default_value_t = probe::SITES as u64, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub sites: u64,
    #[command(flatten)]
    pub exec: ExecArgs,
}

pub fn probe(g: &Global, a: ProbeArgs) -> i32 {
    let p = match g.load_pipeline(&a.file) {
        Ok(p) => p,
        Err(c) => return c,
    };
    if p.engine == Engine::Local {
        eprintln!("error: the local engine computes on this machine: there is nothing to probe on Earth Engine");
        eprintln!("help: run `geepipe run` for the local engine, or probe with `--engine earthengine`");
        return exit::INVALID_INPUT;
    }
    let call = match probe_call(g, &p, a.sites as usize) {
        Ok(c) => c,
        Err(code) => return code,
    };
    runtime().block_on(async {
        let client = match client(&p, &a.exec).await {
            Ok(c) => c,
            Err(code) => return code,
        };
        match probe::run(&client, &call).await {
            Ok(report) => {
                print!("{}", report.render());
                refusal(&report, false)
            }
            Err(e) => {
                eprintln!("error: the probe could not reach Earth Engine: {e}");
                exit::ENVIRONMENT
            }
        }
    })
}

/// The probe request of a pipeline (planning problems are printed; `Err` holds the exit code).
pub fn probe_call(g: &Global, p: &crate::pipeline::Pipeline, sites: usize) -> Result<ProbeCall, i32> {
    let planner = Planner::new(p).map_err(|diags| {
        g.report(&diags);
        exit::INVALID_INPUT
    })?;
    planner.probe_call(sites).map_err(|e| {
        eprintln!("error: cannot build the probe: {e}");
        exit::INVALID_INPUT
    })
}

/// Prints why a failed probe refuses the run and returns its exit code (0 when it passed).
pub fn refusal(report: &Report, print_report: bool) -> i32 {
    if report.passed() {
        return exit::OK;
    }
    if print_report {
        eprint!("{}", report.render());
    }
    eprintln!("error: the probe failed: the batch tasks would not give the table's columns");
    for line in report.problems() {
        eprintln!("  - {line}");
    }
    eprintln!(
        "help: likely causes: the sites lie outside the dataset's footprint, the years are outside its \
         availability, or the expression does not produce the column (a band or reducer output named \
         differently). Check with `geepipe probe FILE --sites 10`; `geepipe run --no-probe` skips the probe."
    );
    exit::ENVIRONMENT
}
