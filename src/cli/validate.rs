//! `geepipe validate` and `geepipe schema`.

use std::path::PathBuf;

use clap::Args;

use super::Global;
use crate::exit;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Pipeline files (YAML or TOML).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print the field reference as Markdown (docs/pipeline-reference.md) instead of the JSON Schema.
    #[arg(long)]
    pub reference: bool,
}

pub fn validate(g: &Global, a: ValidateArgs) -> i32 {
    let mut code = exit::OK;
    for file in &a.files {
        match g.load_pipeline_showing(file, super::Warnings::Every) {
            Ok(p) => {
                if !g.quiet {
                    println!(
                        "{}: valid ({} layer{})",
                        file.display(),
                        p.layers.len(),
                        if p.layers.len() == 1 { "" } else { "s" }
                    );
                }
            }
            Err(e) => code = code.max(g.fail(&e)),
        }
    }
    code
}

pub fn schema(_g: &Global, a: SchemaArgs) -> i32 {
    if a.reference {
        print!("{}", crate::pipeline::reference::markdown(&crate::pipeline::schema::schema()));
    } else {
        print!("{}", crate::pipeline::schema::schema_text());
    }
    exit::OK
}
