//! `geepipe report`: the HTML report of a pipeline's table (see [`crate::report`]), on demand or after a
//! run when the pipeline says `output.report: true`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::Global;
use crate::error::{self, Error};
use crate::exit;
use crate::journal::Journal;
use crate::pipeline::Pipeline;
use crate::report::{self, Inputs};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Pipeline file (its table, manifest, journal and site file are read).
    pub file: PathBuf,
    /// Write the report here (default: beside the table, `<table stem>.report.html`).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Read this table instead of the pipeline's `output.path` (e.g. one written by `fetch --output`).
    #[arg(long, value_name = "PATH")]
    pub table: Option<PathBuf>,
    /// Another table of the same pipeline to compare with, site by site (e.g. the Earth Engine run's
    /// table when this is a local run).
    #[arg(long, value_name = "OTHER_TABLE")]
    pub compare: Option<PathBuf>,
    /// Journal file of the run (default: `<journal folder>/<pipeline name>.sqlite`).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
}

pub fn run(g: &Global, a: ReportArgs) -> error::Result {
    let pipeline = g.load_pipeline(&a.file)?;
    let table = a.table.clone().unwrap_or_else(|| pipeline.output.path.clone());
    if !table.exists() {
        return Err(Error::Input(format!(
            "no table at {}\nhelp: `geepipe run {}` writes it (or pass --table PATH)",
            table.display(),
            a.file.display()
        )));
    }
    let journal = a.journal.clone().unwrap_or_else(|| Journal::default_path(&pipeline));
    let out = a.output.clone().unwrap_or_else(|| report::path_for(&table));
    write(g, &pipeline, &table, Some(&journal), a.compare.as_deref(), &out)
}

/// After a run: writes the report when the pipeline asks for it; returns `exit::OK` otherwise.
pub fn after_run(g: &Global, pipeline: &Pipeline, table: &Path, journal: Option<&Path>) -> error::Result {
    if !pipeline.output.report {
        return Ok(exit::OK);
    }
    let default_journal = Journal::default_path(pipeline);
    let journal = journal.unwrap_or(&default_journal);
    write(g, pipeline, table, Some(journal), None, &report::path_for(table))
}

fn write(
    g: &Global,
    pipeline: &Pipeline,
    table: &Path,
    journal: Option<&Path>,
    compare: Option<&Path>,
    out: &Path,
) -> error::Result {
    let inputs = Inputs {
        pipeline,
        table: table.to_path_buf(),
        journal: journal.map(Path::to_path_buf),
        compare: compare.map(Path::to_path_buf),
    };
    match report::write(&inputs, out) {
        Ok(bytes) => {
            if !g.quiet {
                println!("  report:   {} ({:.1} MB)", out.display(), bytes as f64 / 1e6);
            }
            Ok(exit::OK)
        }
        Err(e) if e.is_input() => Err(Error::Input(format!("no report written: {e}"))),
        Err(e) => Err(Error::Environment(format!("no report written: {e}"))),
    }
}
