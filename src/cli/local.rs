//! `geepipe run` with the local engine: compute on GeoTIFFs, write the table and manifest, print where
//! they are.

use crate::diag::Code;
use std::path::Path;

use super::run::RunArgs;
use super::Global;
use crate::exit;
use crate::local::{self, LocalError, Options};
use crate::pipeline::Pipeline;

/// Shows `p` relative to the current folder when it is inside it.
fn show(p: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = cwd.as_deref().and_then(|c| p.strip_prefix(c).ok()).unwrap_or(p);
    let text = rel.display().to_string();
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}

/// Tuning from the environment: `GEEPIPE_THREADS`, `GEEPIPE_CACHE_MB`.
fn options() -> Options {
    let mut o = Options::default();
    if let Some(t) = std::env::var("GEEPIPE_THREADS").ok().and_then(|v| v.parse().ok()) {
        o.threads = Some(t);
    }
    if let Some(mb) = std::env::var("GEEPIPE_CACHE_MB").ok().and_then(|v| v.parse::<usize>().ok()) {
        o.cache_bytes = mb.max(1) << 20;
    }
    o
}

/// Runs `pipeline` locally. `--detach` and `--no-fetch` have no meaning here: the table is written at once.
pub fn run(g: &Global, pipeline: &Pipeline, args: &RunArgs) -> i32 {
    if args.detach && !g.quiet {
        eprintln!("note: `--detach` is ignored by the local engine (it runs to the end)");
    }
    let layer_years: usize = pipeline.layers.iter().map(|l| l.years.len()).sum();
    match local::run(pipeline, &options()) {
        Ok(out) => {
            g.report(&out.warnings);
            if !g.quiet {
                let t = &out.totals;
                println!(
                    "local run `{}`: {} sites × {} layer-years on {} threads in {:.2} s",
                    pipeline.name, t.sites, layer_years, out.threads, out.seconds
                );
                println!(
                    "  {} site-years computed, {} without valid pixels; {} rows",
                    t.site_years, t.nodata_site_years, out.table.rows
                );
                println!("  table:    {}", show(&out.table.path));
                println!("  manifest: {}", show(&out.manifest));
            }
            exit::OK
        }
        Err(LocalError::Input(diags)) => {
            g.report(&diags);
            exit::INVALID_INPUT
        }
        Err(LocalError::Read(e)) => {
            let mut d = crate::diag::Diagnostic::error(Code::LocalRead, e.to_string());
            if let Some(h) = e.help() {
                d = d.with_help(h);
            }
            g.report(&[d]);
            eprintln!("nothing was written; the previous table (if any) is unchanged");
            exit::ENVIRONMENT
        }
        Err(LocalError::Output(e)) => {
            g.report(&[crate::diag::Diagnostic::error(Code::LocalWrite, e.to_string())]);
            exit::ENVIRONMENT
        }
    }
}
