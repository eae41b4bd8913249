//! `geepipe run` with the local engine: compute on GeoTIFFs, write the table and manifest, print where
//! they are. `status` and `fetch` of a local pipeline read that manifest (the local engine keeps no journal).

use crate::diag::Code;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Global, RunArgs};
use crate::error::{self, Error};
use crate::executor::{JsonLines, Observer, Progress};
use crate::exit;
use crate::local::{self, LocalError, Options, Watch};
use crate::pipeline::Pipeline;
use crate::results::manifest::Manifest;

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
        o.cache_bytes = Some(mb.max(1) << 20);
    }
    o
}

/// A flag set on Ctrl-C or SIGTERM (the run then stops between sites and removes its temporary files).
fn stop_on_signals() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    static WATCHING: std::sync::Once = std::sync::Once::new();
    WATCHING.call_once(|| {
        let spawned = std::thread::Builder::new().name("signals".into()).spawn(|| {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                    return;
                };
                loop {
                    tokio::select! {
                        r = tokio::signal::ctrl_c() => if r.is_err() { return; },
                        _ = term.recv() => {}
                    }
                    STOP.store(true, Ordering::SeqCst);
                }
            });
        });
        drop(spawned);
    });
    &STOP
}

/// Runs `pipeline` locally. `--detach` and `--no-fetch` have no meaning here: the table is written at once.
pub fn run(g: &Global, pipeline: &Pipeline, args: &RunArgs) -> error::Result {
    if args.detach && !g.quiet {
        eprintln!("note: `--detach` is ignored by the local engine (it runs to the end)");
    }
    let layer_years: usize = pipeline.layers.iter().map(|l| l.years.len()).sum();
    let mut observers: Vec<Box<dyn Observer>> = Vec::new();
    if !g.quiet {
        observers.push(Box::new(Progress::stderr()));
    }
    if let Some(path) = &args.exec.events {
        let j = JsonLines::create(path).map_err(|e| super::run::events_error(path, e))?;
        observers.push(Box::new(j));
    }
    let watch = Watch { observers, stop: stop_on_signals() };
    let opts = Options { fresh: args.fresh, ..options() };
    let out = local::run(pipeline, &opts, watch).map_err(local_error)?;
    g.report(&out.warnings);
    if !g.quiet {
        let t = &out.totals;
        println!(
            "local run `{}`: {} sites × {} layer-years on {} threads in {:.2} s",
            pipeline.name, t.sites, layer_years, out.threads, out.seconds
        );
        println!(
            "  {} site-years in the table, {} without valid pixels; {} rows",
            t.site_years, t.nodata_site_years, out.table.rows
        );
        let r = out.reuse;
        println!(
            "  this run computed {} site(s) ({} cells); {} site(s) came whole from the results store{}",
            r.sites_computed,
            r.cells_computed,
            r.sites_stored,
            if r.sites_stored > 0 { " (`--fresh` recomputes them)" } else { "" }
        );
        for l in &t.layers {
            println!("  {}", l.line());
        }
        println!("  table:    {}", show(&out.table.path));
        println!("  manifest: {}", show(&out.manifest));
    }
    // No silent empty tables (crate::results::coverage).
    let empty: Vec<_> = out.totals.layers.iter().filter(|l| l.is_empty()).collect();
    for l in &empty {
        eprintln!("error: {}", crate::results::coverage::Coverage::empty_layer_error(l, true));
    }
    super::report::after_run(g, pipeline, &out.table.path, None)?;
    Ok(if empty.is_empty() { exit::OK } else { exit::SOME_FAILED })
}

/// What stopped a local run, as the command line reports it (nothing was written in each case).
fn local_error(e: LocalError) -> Error {
    const UNCHANGED: &str = "nothing was written; the previous table (if any) is unchanged";
    match e {
        LocalError::Input(diags) => Error::Diagnostics(diags),
        LocalError::Read(e) => {
            let mut d = crate::diag::Diagnostic::error(Code::LocalRead, e.to_string());
            if let Some(h) = e.help() {
                d = d.with_help(h);
            }
            Error::Refused { diags: vec![d], outcome: UNCHANGED }
        }
        LocalError::Interrupted => Error::Interrupted(format!("interrupted: {UNCHANGED}")),
        LocalError::Store(e) => Error::Environment(e.to_string()),
        LocalError::Output(e) => Error::Refused {
            diags: vec![crate::diag::Diagnostic::error(Code::LocalWrite, e.to_string())],
            outcome: "the previous table (if any) is unchanged",
        },
    }
}

/// The manifest of the last local run of `pipeline` (beside its table), or why there is none.
fn last_run(pipeline: &Pipeline, file: &Path) -> error::Result<(std::path::PathBuf, Manifest)> {
    let table = &pipeline.output.path;
    let path = crate::results::manifest::path_for(table);
    if !path.exists() || !table.exists() {
        return Err(Error::Environment(format!(
            "no local run of `{}` yet: {} has no table and manifest (the local engine keeps no journal; its \
             table is its record)\nhelp: `geepipe run {}` computes the table on this machine",
            pipeline.name,
            show(table),
            file.display()
        )));
    }
    let m = Manifest::read(&path).map_err(|e| Error::Environment(e.to_string()))?;
    Ok((path, m))
}

/// `geepipe status` of a local-engine pipeline: what its last run wrote (read from the manifest beside the
/// table), and whether the pipeline changed since.
pub fn status(g: &Global, pipeline: &Pipeline, file: &Path, json: bool) -> error::Result {
    let (path, m) = last_run(pipeline, file)?;
    let changed = m.pipeline.content_hash != pipeline.content_hash;
    if json {
        let v = serde_json::json!({
            "pipeline": pipeline.name,
            "engine": "local",
            "pipeline_changed": changed,
            "finished_at": m.finished_at,
            "table": m.table,
            "manifest": path,
            "totals": m.totals,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(exit::OK);
    }
    if changed && !g.quiet {
        eprintln!("warning: the pipeline changed since this table was computed (`geepipe run` computes it anew)");
    }
    println!("local run `{}` finished at {} in {:.2} s", pipeline.name, m.finished_at, m.timings.total_seconds);
    println!(
        "  {} sites, {} site-years computed, {} without valid pixels; {} rows",
        m.totals.sites, m.totals.site_years, m.totals.nodata_site_years, m.table.rows
    );
    for l in &m.totals.layers {
        println!("  {}", l.line());
    }
    println!("  table:    {}", show(&m.table.path));
    println!("  manifest: {}", show(&path));
    Ok(exit::OK)
}

/// `geepipe fetch` of a local-engine pipeline: nothing to download; says where the last run's table is.
pub fn fetch(g: &Global, pipeline: &Pipeline, file: &Path) -> error::Result {
    let (path, m) = last_run(pipeline, file)?;
    if m.pipeline.content_hash != pipeline.content_hash && !g.quiet {
        eprintln!("warning: the pipeline changed since this table was computed (`geepipe run` computes it anew)");
    }
    if !g.quiet {
        println!("nothing to download: the local engine wrote the table when it ran ({})", m.finished_at);
        println!("  table:    {} ({} rows)", show(&m.table.path), m.table.rows);
        println!("  manifest: {}", show(&path));
    }
    Ok(exit::OK)
}
