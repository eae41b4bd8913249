//! `geepipe probe FILE`: the probe (see [`crate::probe`]) on its own: one synchronous computation of the
//! first chunk, cut to a couple of sites and one year per layer, and what came back per column. Sends no
//! batch task. Exit 0 when every column came back with a value of the expected shape, 4 when not (the
//! same refusal `geepipe run` makes before submitting).

use std::path::PathBuf;

use clap::Args;

use super::connect::{client, runtime, ExecArgs};
use super::Global;
use crate::error::{self, Error};
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

pub fn probe(g: &Global, a: ProbeArgs) -> error::Result {
    let p = g.load_pipeline(&a.file)?;
    if p.engine == Engine::Local {
        return Err(Error::Input(
            "the local engine computes on this machine: there is nothing to probe on Earth Engine\n\
             help: run `geepipe run` for the local engine, or probe with `--engine earthengine`"
                .into(),
        ));
    }
    let call = probe_call(&p, a.sites as usize)?;
    runtime().block_on(async {
        let client = client(&p, &a.exec).await?;
        let report = probe::run(&client, &call).await.map_err(unreachable)?;
        print!("{}", report.render());
        refusal(&report, false)
    })
}

/// Why a probe that could not reach Earth Engine stops the command.
pub fn unreachable(e: impl std::fmt::Display) -> Error {
    Error::Environment(format!("the probe could not reach Earth Engine: {e}"))
}

/// The probe request of a pipeline. Image exports of a site file are probed from their streamed planning,
/// which builds the first export only (the kind's planner would build every export first).
pub fn probe_call(p: &crate::pipeline::Pipeline, sites: usize) -> error::Result<ProbeCall> {
    if super::plan::streams_image(p) {
        let (exports, _) =
            crate::plan::image_stream::ImageExports::new(p, &std::env::temp_dir()).map_err(Error::Diagnostics)?;
        return Ok(exports.probe().map_err(crate::plan::PlanError::Probe)?);
    }
    Ok(Planner::new(p).map_err(Error::Diagnostics)?.probe_call(sites)?)
}

/// Why a failed probe refuses the run (`Ok(0)` when it passed; the report itself is printed first when
/// `print_report`).
pub fn refusal(report: &Report, print_report: bool) -> error::Result {
    if report.passed() {
        return Ok(exit::OK);
    }
    if print_report {
        eprint!("{}", report.render());
    }
    let mut m = String::from("the probe failed: the batch tasks would not give the table's columns");
    for line in report.problems() {
        m.push_str(&format!("\n  - {line}"));
    }
    m.push_str(
        "\nhelp: likely causes: the sites lie outside the dataset's footprint, the years are outside its \
         availability, or the expression does not produce the column (a band or reducer output named \
         differently). Check with `geepipe probe FILE --sites 10`; `geepipe run --no-probe` skips the probe.",
    );
    Err(Error::Environment(m))
}
