//! `geepipe fetch`: download finished exports and merge them into the tidy table.
//!
//! The list of finished chunks comes from the run journal ([`finished_chunks`]); everything after it is
//! [`crate::results::fetch`]. The table is written only when every site is accounted for, or with
//! `--partial` (then the missing ones are listed and the exit code is 1). Every fetch reports how many
//! site-years of each layer hold values; a layer with none at all is an error (exit 1, see
//! [`crate::results::coverage`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::Global;
use crate::error::{self, Error};
use crate::exit;
use crate::journal::{ChunkState, Journal};
use crate::net::{Auth, GoogleTokens};
use crate::pipeline::SiteLocation;
use crate::pipeline::{KindName, OutputFormatName, OutputGeometryName, Pipeline};
use crate::plan::RunMode;
use crate::plan::Target;
use crate::results::assemble::{site_geometry, Assembler};
use crate::results::coverage::{self, Coverage};
use crate::results::fetch::{self, FetchError, FetchOptions, FetchOutcome, FetchedFile, FinishedChunk, StoredChunk};
use crate::results::lock::{self, FetchLock};
use crate::results::manifest;
use crate::results::table::{SiteResult, TableError, TableSpec};
use crate::results::Record;
use std::collections::HashMap;

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
    /// Journal file of the run (default: `<journal folder>/<pipeline name>.sqlite`).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
}

/// `fetch` of a loaded Earth Engine pipeline whose results are in its journal's export files (see
/// [`super::fetch_store::fetch_pipeline`] for the choice; a local one is [`super::local::fetch`]).
pub fn fetch_pipeline(g: &Global, a: FetchArgs, pipeline: Pipeline) -> error::Result {
    let path = a.journal.clone().unwrap_or_else(|| Journal::default_path(&pipeline));
    let chunks = finished_chunks(&path)?;
    fetch_chunks(g, &a, &pipeline, chunks)
}

/// The chunks whose export tasks succeeded, or whose interactive results were stored, from the run journal at
/// `path`. Split parents are left out: their halves hold the results.
pub fn finished_chunks(path: &Path) -> error::Result<Vec<FinishedChunk>> {
    if !path.exists() {
        return Err(Error::Environment(format!(
            "no run journal at {}: nothing has been run yet\nhelp: `geepipe run FILE` submits the tasks and fetches \
             the results when they finish",
            path.display()
        )));
    }
    let journal = Journal::open_read(path)?;
    let rows = journal.chunks()?;
    if rows.is_empty() && !journal.has_plan()? {
        return Err(Error::Journal(crate::journal::JournalError::NothingSubmitted(path.to_path_buf())));
    }
    let folder = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(rows
        .into_iter()
        .filter(|r| r.state == ChunkState::Succeeded)
        .map(|r| {
            let runtime_secs = match (r.started_at, r.ended_at) {
                (Some(s), Some(e)) if e >= s => Some(e - s),
                _ => None,
            };
            let stored = match (r.mode, &r.result) {
                (RunMode::Interactive, Some(rel)) => Some(StoredChunk {
                    path: folder.join(rel),
                    relative: rel.clone(),
                    sha256: r.result_sha256.clone(),
                    bytes: r.result_bytes,
                    requests: r.requests,
                }),
                _ => None,
            };
            FinishedChunk {
                stored,
                target: r.task().target,
                chunk_id: r.chunk_id,
                site_ids: r.site_ids,
                operation: r.operation,
                attempts: r.attempt,
                runtime_secs,
                eecu_secs: r.eecu_seconds,
            }
        })
        .collect())
}

/// Everything `geepipe fetch` does once the finished chunks are known.
pub fn fetch_chunks(g: &Global, a: &FetchArgs, pipeline: &Pipeline, chunks: Vec<FinishedChunk>) -> error::Result {
    let rt = runtime()?;
    let opts = fetch_options(&rt, pipeline, &chunks, a.partial)?;
    let _lock = fetch_lock(g, pipeline, &opts)?;
    let outcome = match rt.block_on(fetch::fetch(pipeline, &chunks, &opts)) {
        Ok(o) => o,
        Err(e @ FetchError::Setup(_)) => return Err(Error::Input(e.to_string())),
        Err(e @ (FetchError::MissingScope { .. } | FetchError::Listing { .. })) => {
            return Err(Error::Environment(e.to_string()))
        }
        Err(e @ FetchError::Incomplete { .. }) => return Err(Error::Incomplete(e.to_string())),
    };
    for n in &outcome.notes {
        if !g.quiet {
            eprintln!("note: {n}");
        }
    }
    let mut out = std::io::stdout().lock();
    if !outcome.elsewhere.is_empty() {
        let _ = writeln!(out, "The results are not files; they are in:");
        for e in &outcome.elsewhere {
            let _ = writeln!(out, "  {e}");
        }
    }
    let downloads = outcome.files.len() - outcome.stored;
    if downloads > 0 && !g.quiet {
        let _ = writeln!(
            out,
            "{} file(s) in {} ({} downloaded, {} already there)",
            downloads,
            outcome.download_dir.display(),
            outcome.downloaded,
            outcome.reused
        );
    }
    if outcome.stored > 0 && !g.quiet {
        let _ = writeln!(out, "{} interactive result(s) stored beside the journal", outcome.stored);
    }
    let mut code = exit::OK;
    if pipeline.kind == KindName::Zonal && outcome.elsewhere.is_empty() {
        let path = a.output.clone().unwrap_or_else(|| pipeline.output.path.clone());
        let (rows, coverage) = write_table(pipeline, &chunks, &outcome, &path, g.quiet)
            .map_err(|e| Error::Environment(format!("cannot write {}: {e}", path.display())))?;
        if !g.quiet {
            let _ = writeln!(out, "wrote {rows} row(s) for {} site(s) to {}", outcome.sites.len(), path.display());
        }
        code = report_coverage(g, &coverage, &chunks, &outcome.records);
        super::report::after_run(g, pipeline, &path, a.journal.as_deref())?;
    }
    if !outcome.missing.is_empty() {
        // With -q the exit code (1) says the table is partial.
        if !g.quiet {
            eprintln!("warning: the table is partial; missing:");
            for m in &outcome.missing {
                eprintln!("  - {m}");
            }
        }
        return Ok(exit::SOME_FAILED);
    }
    Ok(code)
}

/// The runtime downloads run on.
pub(super) fn runtime() -> error::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
}

/// One fetch of this pipeline at a time: the second waits for the first (its files are then reused).
pub(super) fn fetch_lock(g: &Global, pipeline: &Pipeline, opts: &FetchOptions) -> error::Result<FetchLock> {
    let lock_path = lock::path_for(&opts.download_dir);
    FetchLock::acquire(&lock_path, |pid| {
        let who = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        if g.quiet {
            return;
        }
        eprintln!(
            "waiting: another fetch of `{}`{who} is downloading into {}; this one continues when it ends",
            pipeline.name,
            opts.download_dir.display()
        );
    })
    .map_err(|e| Error::Environment(format!("cannot lock {}: {e}", lock_path.display())))
}

/// Download settings for `chunks`: emulator or Google credentials as their destinations need.
pub(super) fn fetch_options(
    rt: &tokio::runtime::Runtime,
    pipeline: &Pipeline,
    chunks: &[FinishedChunk],
    partial: bool,
) -> error::Result<FetchOptions> {
    let mut opts = FetchOptions::new(pipeline).map_err(|e| Error::Environment(e.to_string()))?;
    opts.partial = partial;
    // Chunks answered interactively are stored by the journal: nothing to download for them.
    let exported = || chunks.iter().filter(|c| c.stored.is_none());
    let needs_gcs = exported().any(|c| matches!(c.target, Target::Gcs { .. }));
    let needs_drive = exported().any(|c| matches!(c.target, Target::Drive { .. }));
    let emulated = std::env::var("STORAGE_EMULATOR_HOST").is_ok_and(|v| !v.trim().is_empty());
    if needs_drive || (needs_gcs && !emulated) {
        let p = rt.block_on(gcp_auth::provider()).map_err(|e| {
            Error::Environment(format!(
                "no Google credentials to download the exports: {e}
help: run `gcloud auth \
                 application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key"
            ))
        })?;
        opts.auth = Auth::Source(Arc::new(GoogleTokens(p)));
    }
    Ok(opts)
}

/// The manifest's input entry of a file read by `fetch`.
pub(super) fn file_input(f: &FetchedFile) -> manifest::Input {
    manifest::Input {
        // Export files are `gs://…` or `drive:…`; interactive results are stored beside the journal.
        kind: if f.remote.starts_with("gs://") || f.remote.starts_with("drive:") {
            "export".into()
        } else {
            "interactive".into()
        },
        layer: None,
        year: None,
        location: f.remote.clone(),
        bytes: Some(f.bytes),
        details: Default::default(),
    }
}

/// The manifest's entry of a finished chunk of `sites` sites, with the files it came from.
pub(super) fn chunk_entry(c: &FinishedChunk, sites: u64, files: &[FetchedFile]) -> manifest::ChunkEntry {
    manifest::ChunkEntry {
        chunk: c.chunk_id.clone(),
        sites,
        operation: c.operation.clone(),
        state: "SUCCEEDED".into(),
        attempts: c.attempts,
        runtime_seconds: c.runtime_secs,
        eecu_seconds: c.eecu_secs,
        mode: Some(if c.stored.is_some() { "interactive" } else { "batch" }.into()),
        requests: c.stored.as_ref().map(|s| s.requests),
        files: files.iter().filter(|f| f.chunk_ids.contains(&c.chunk_id)).map(|f| f.remote.clone()).collect(),
    }
}

/// Prints how many site-years of each layer hold values, warns about chunks that came back without any
/// value, and fails (exit 1) when a layer has no value in the whole table (see
/// [`crate::results::coverage`]).
pub fn report_coverage(g: &Global, coverage: &Coverage, chunks: &[FinishedChunk], records: &[Record]) -> i32 {
    if !g.quiet {
        let mut out = std::io::stdout().lock();
        for line in coverage.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    let listed = chunks.iter().map(|c| (c.chunk_id.as_str(), c.site_ids.as_slice()));
    for (chunk, sites) in coverage::empty_chunks(listed, records).into_iter().filter(|_| !g.quiet) {
        eprintln!("warning: chunk {chunk} ({sites} site(s)) came back without any value in any layer");
    }
    let empty = coverage.empty_layers();
    for l in &empty {
        eprintln!("error: {}", Coverage::empty_layer_error(l, false));
    }
    if empty.is_empty() {
        exit::OK
    } else {
        exit::SOME_FAILED
    }
}

/// Why the table of a fetch could not be written.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("cannot read the site geometries: {0}")]
    Sites(String),
}

/// Writes the tidy table through the shared [`Assembler`] (long/wide CSV or GeoJSON, atomic) and the run
/// manifest beside it, adding what only a fetch knows (the exported files, the chunks); returns the
/// number of data rows and the coverage.
fn write_table(
    pipeline: &Pipeline,
    chunks: &[FinishedChunk],
    outcome: &FetchOutcome,
    path: &Path,
    quiet: bool,
) -> Result<(u64, Coverage), WriteError> {
    let started = manifest::now();
    let clock = std::time::Instant::now();
    let mut spec = TableSpec::from_pipeline(pipeline);
    spec.check()?;
    // A table with geometries (GeoJSON, GeoParquet) joins the rows to the site geometries, read again
    // from the site file.
    let mut geometries: HashMap<String, serde_json::Value> = HashMap::new();
    if pipeline.output.geometry != OutputGeometryName::None {
        if let SiteLocation::File(_) = pipeline.sites.location {
            crate::sites::for_each(&pipeline.sites, |site| {
                geometries.insert(site.id.clone(), site_geometry(&site));
                Ok(())
            })
            .map_err(|d| WriteError::Sites(d.first().map(|d| d.message.clone()).unwrap_or_default()))?;
        } else {
            if spec.format == OutputFormatName::Geojson {
                spec.format = OutputFormatName::Csv;
            }
            spec.geometry = OutputGeometryName::None;
            if !quiet {
                eprintln!("note: sites come from an Earth Engine asset, so the table is written without geometries");
            }
        }
    }
    let mut by_site: HashMap<&str, Vec<Record>> = HashMap::new();
    for r in &outcome.records {
        by_site.entry(r.site.as_str()).or_default().push(r.clone());
    }
    let mut writer = Assembler::create(pipeline, spec, path)?;
    for site in &outcome.sites {
        writer.push(SiteResult {
            id: site.id.clone(),
            properties: site.properties.clone(),
            geometry: geometries.remove(&site.id),
            records: by_site.remove(site.id.as_str()).unwrap_or_default(),
        })?;
    }
    let mut assembled = writer.finish()?;
    let mut m = assembled.manifest(pipeline, started);
    m.timings.total_seconds = clock.elapsed().as_secs_f64();
    m.inputs = outcome.files.iter().map(file_input).collect();
    m.chunks = chunks.iter().map(|c| chunk_entry(c, c.site_ids.len() as u64, &outcome.files)).collect();
    assembled.place(&m)?;
    Ok((assembled.table.rows, assembled.coverage))
}
