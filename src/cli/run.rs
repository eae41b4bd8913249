//! `geepipe run`, `status`, `wait`, `cancel`: driving the executor and reading the journal.

use std::path::PathBuf;

use clap::Args;

use super::Global;
use crate::exit;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Submit the tasks and exit without waiting.
    #[arg(long)]
    pub detach: bool,
    /// Do not download and merge results at the end.
    #[arg(long)]
    pub no_fetch: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Give up after this many seconds (exit code 3).
    #[arg(long)]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Pipeline file.
    pub file: PathBuf,
}

fn unavailable(g: &Global, file: &std::path::Path, what: &str) -> i32 {
    match g.load_pipeline(file) {
        Ok(_) => {
            eprintln!("error: `{what}` is not available in this build yet");
            exit::INTERNAL
        }
        Err(c) => c,
    }
}

pub fn run(g: &Global, a: RunArgs) -> i32 {
    let pipeline = match g.load_pipeline(&a.file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if pipeline.engine == crate::pipeline::Engine::Local {
        return super::local::run(g, &pipeline, &a);
    }
    eprintln!("error: `run` is not available in this build yet");
    exit::INTERNAL
}

pub fn status(g: &Global, a: StatusArgs) -> i32 {
    unavailable(g, &a.file, "status")
}

pub fn wait(g: &Global, a: WaitArgs) -> i32 {
    unavailable(g, &a.file, "wait")
}

pub fn cancel(g: &Global, a: CancelArgs) -> i32 {
    unavailable(g, &a.file, "cancel")
}
