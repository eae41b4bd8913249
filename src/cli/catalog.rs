//! `geepipe catalog`: list the built-in layers, or show one.

use clap::{Args, Subcommand};

use super::Global;
use crate::exit;

#[derive(Debug, Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    pub command: Option<CatalogCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Explain one catalog layer: asset, years, scale, legend, expression.
    Show {
        /// Catalog layer name.
        name: String,
    },
}

pub fn run(_g: &Global, a: CatalogArgs) -> i32 {
    match a.command {
        None => {
            for name in crate::catalog::names() {
                println!("{name}");
            }
            exit::OK
        }
        Some(CatalogCommand::Show { name }) => match crate::catalog::get(&name) {
            Some(l) => {
                println!("{}", serde_json::to_string_pretty(&l).unwrap_or_default());
                exit::OK
            }
            None => {
                eprintln!("error: no catalog layer is named `{name}`");
                exit::INVALID_INPUT
            }
        },
    }
}
