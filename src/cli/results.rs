//! `geepipe fetch`: download finished exports and merge them into the tidy table.

use std::path::PathBuf;

use clap::Args;

use super::Global;
use crate::exit;

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Write the table here instead of the pipeline's `output.path`.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write the table even if some chunks are missing, and say which.
    #[arg(long)]
    pub partial: bool,
}

pub fn fetch(g: &Global, a: FetchArgs) -> i32 {
    match g.load_pipeline(&a.file) {
        Ok(_) => {
            eprintln!("error: `fetch` is not available in this build yet");
            exit::INTERNAL
        }
        Err(c) => c,
    }
}
