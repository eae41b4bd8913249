//! `geepipe plan`: the requests a pipeline would send, summarised or written out.

use std::path::PathBuf;

use clap::Args;

use super::Global;
use crate::exit;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Write every request body as JSON into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the plan summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &Global, a: PlanArgs) -> i32 {
    match g.load_pipeline(&a.file) {
        Ok(_) => {
            eprintln!("error: planning is not available in this build yet");
            exit::INTERNAL
        }
        Err(c) => c,
    }
}
