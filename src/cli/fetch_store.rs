//! `geepipe fetch` of a pipeline run through the results store: the export files of every finished chunk
//! whose results are not stored yet are downloaded and stored (one transaction per chunk, with the
//! operation, time and EECU it cost), then the table is assembled from the store for the pipeline as it is
//! now ([`crate::store::assemble`]). A chunk already stored is not downloaded again, so a rerun with
//! nothing changed reads nothing but the store and writes the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use super::incremental::store_error;
use super::results::{chunk_entry, fetch_lock, fetch_options, file_input, runtime, FetchArgs};
use super::Global;
use crate::error::{self, Error};
use crate::exit;
use crate::journal::{ChunkRow, Journal};
use crate::pipeline::Pipeline;
use crate::plan::RunMode;
use crate::results::eecsv::{self, Format};
use crate::results::fetch::{self, FetchError, FinishedChunk, StoredChunk};
use crate::results::manifest;
use crate::results::merge::Missing;
use crate::results::store::Store as ResultFiles;
use crate::results::table::TableSpec;
use crate::store::{assemble, ingest, Origin};

/// A finished chunk as the fetch and its manifest see it; `results` is the interactive result files of the
/// journal (an interactive chunk's answer is one of them).
fn finished(r: &ChunkRow, results: &ResultFiles) -> FinishedChunk {
    let runtime_secs = match (r.started_at, r.ended_at) {
        (Some(s), Some(e)) if e >= s => Some(e - s),
        _ => None,
    };
    let stored = match (&r.mode, &r.result) {
        (RunMode::Interactive, Some(rel)) => Some(StoredChunk {
            path: results.path(rel),
            relative: rel.clone(),
            sha256: r.result_sha256.clone(),
            bytes: r.result_bytes,
            requests: r.requests,
        }),
        _ => None,
    };
    FinishedChunk {
        target: crate::journal::target_from_json(&r.target)
            .unwrap_or(crate::plan::Target::Asset { name: String::new() }),
        chunk_id: r.chunk_id.clone(),
        site_ids: r.site_ids.clone(),
        operation: r.operation.clone(),
        attempts: r.attempt,
        runtime_secs,
        eecu_secs: r.eecu_seconds,
        stored,
    }
}

/// What storing the downloaded files did.
#[derive(Default)]
pub(super) struct Stored {
    written: u64,
    chunks: usize,
    missing: Vec<Missing>,
    notes: Vec<String>,
    /// Chunks whose rows carry no value at all (sites).
    empty: Vec<(String, usize)>,
    files: Vec<fetch::FetchedFile>,
    downloaded: usize,
    reused: usize,
}

/// The rows of a batch chunk's export files (downloaded first), or `None` when they cannot be read (said in
/// `out`).
fn export_rows(
    chunk_id: &str,
    files: &[(String, std::path::PathBuf)],
    out: &mut Stored,
) -> Option<(eecsv::ExportTable, String)> {
    let mut tables = Vec::new();
    let mut unreadable = false;
    for (display, path) in files {
        let Some(format) = Format::from_name(display) else {
            out.notes.push(format!("{display}: not a CSV or GeoJSON file; downloaded but not read"));
            continue;
        };
        match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| eecsv::parse(format, &b).map_err(|e| e.to_string()))
        {
            Ok(t) => tables.push(t),
            Err(reason) => {
                unreadable = true;
                out.missing.push(Missing::File { chunk_id: chunk_id.to_string(), file: display.clone(), reason });
            }
        }
    }
    if unreadable || tables.is_empty() {
        return None;
    }
    let source = files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>().join(", ");
    Some((ingest::concat(tables), source))
}

/// Downloads and stores the results of the journal's finished chunks that are not stored yet: the export
/// files of batch chunks, the stored answers of interactive ones (read through the same row parser).
pub(super) fn store_previous(
    g: &Global,
    a: &FetchArgs,
    p: &Pipeline,
    journal: &Journal,
    store: &mut crate::store::Store,
) -> error::Result<Stored> {
    let rows = super::incremental::unstored(journal, store)?;
    let mut out = Stored::default();
    if rows.is_empty() {
        return Ok(out);
    }
    let _ = a;
    let fresh = journal.meta(super::incremental::FRESH).ok().flatten().is_some();
    let results = ResultFiles::for_journal(journal.path(), &p.name);
    // Rows per chunk: (display, table).
    let mut tables: BTreeMap<String, (eecsv::ExportTable, String)> = BTreeMap::new();
    let batch: Vec<FinishedChunk> =
        rows.iter().filter(|r| r.mode == RunMode::Batch).map(|r| finished(r, &results)).collect();
    if !batch.is_empty() {
        let rt = runtime()?;
        let opts = fetch_options(&rt, p, &batch, true)?;
        let _lock = fetch_lock(g, p, &opts)?;
        let downloads = rt.block_on(fetch::download(p, &batch, &opts)).map_err(|e| match e {
            FetchError::Setup(_) => Error::Input(e.to_string()),
            FetchError::MissingScope { .. } | FetchError::Listing { .. } | FetchError::Incomplete { .. } => {
                Error::Environment(e.to_string())
            }
        })?;
        out.missing = downloads.missing;
        out.notes = downloads.outcome.notes;
        out.files = downloads.outcome.files;
        out.downloaded = downloads.outcome.downloaded;
        out.reused = downloads.outcome.reused;
        // Files per chunk (a sharded export has several).
        let mut by_chunk: BTreeMap<String, Vec<(String, std::path::PathBuf)>> = BTreeMap::new();
        for (ids, d) in &downloads.done {
            for id in ids {
                by_chunk.entry(id.clone()).or_default().push((d.display.clone(), d.path.clone()));
            }
        }
        for (chunk_id, files) in by_chunk {
            if let Some(t) = export_rows(&chunk_id, &files, &mut out) {
                tables.insert(chunk_id, t);
            }
        }
    }
    for r in rows.iter().filter(|r| r.mode == RunMode::Interactive) {
        let Some(rel) = &r.result else { continue };
        match results.read(rel, r.result_sha256.as_deref()) {
            Ok((table, _)) => {
                tables.insert(r.chunk_id.clone(), (table, rel.clone()));
            }
            Err(e) => out.missing.push(Missing::File {
                chunk_id: r.chunk_id.clone(),
                file: rel.clone(),
                reason: e.to_string(),
            }),
        }
    }
    let by_id: HashMap<&str, &ChunkRow> = rows.iter().map(|r| (r.chunk_id.as_str(), r)).collect();
    for (chunk_id, (table, source)) in tables {
        let Some(row) = by_id.get(chunk_id.as_str()) else { continue };
        let Some(cells) = &row.cells else {
            out.notes.push(format!(
                "chunk {chunk_id} was planned by an older geepipe without its cells; its results are not stored \
                 (rerun `geepipe run` to compute them again)"
            ));
            continue;
        };
        let origin = match row.mode {
            RunMode::Batch => Origin {
                kind: "batch".into(),
                operation: row.operation.clone(),
                chunk: Some(chunk_id.clone()),
                request_id: Some(row.request_id.clone()),
                eecu: row.eecu_seconds,
                at: row.ended_at,
            },
            // Earth Engine says nothing of an interactive request's EECU.
            RunMode::Interactive => Origin {
                kind: "interactive".into(),
                operation: Some(row.base_request_id.clone()),
                chunk: Some(chunk_id.clone()),
                request_id: Some(row.base_request_id.clone()),
                eecu: None,
                at: row.ended_at,
            },
        };
        let chunk = ingest::ChunkRows { chunk_id: &chunk_id, site_ids: &row.site_ids, cells, source: &source };
        // Stored by now (a run storing its answers as they arrive, another fetch): nothing to do.
        let Some(r) = ingest::once(store, fresh, p, &chunk, &table, &origin, |_| true).map_err(store_error)? else {
            continue;
        };
        out.written += r.written;
        out.chunks += 1;
        if r.sites > 0 && r.sites_with_values == 0 {
            out.empty.push((chunk_id.clone(), r.sites));
        }
        out.missing.extend(r.missing);
        out.notes.extend(r.notes);
    }
    if !g.quiet && out.chunks > 0 {
        eprintln!("stored {} cell(s) from {} finished chunk(s)", out.written, out.chunks);
    }
    Ok(out)
}

/// `geepipe fetch` of an Earth Engine pipeline (and the end of `geepipe run`): through the store for the
/// pipelines run through it, else from the export files of the journal's finished chunks.
pub fn fetch_command(g: &Global, a: FetchArgs) -> error::Result {
    let pipeline = g.load_pipeline(&a.file)?;
    fetch_pipeline(g, a, pipeline)
}

/// [`fetch_command`] of a loaded Earth Engine pipeline.
pub fn fetch_pipeline(g: &Global, a: FetchArgs, pipeline: Pipeline) -> error::Result {
    let path = a.journal.clone().unwrap_or_else(|| Journal::default_path(&pipeline));
    if super::incremental::applies_to(&pipeline, &path) {
        fetch(g, &a, &pipeline, &path)
    } else {
        super::results::fetch_pipeline(g, a, pipeline)
    }
}

/// Refuses a fetch when nothing was run and nothing of this pipeline is stored, as a fetch without the store
/// does: no journal, or one without a plan.
fn nothing_run(journal_path: &Path, store_file: &Path, zonal: &crate::plan::zonal::Zonal) -> error::Result<()> {
    let planned = match Journal::open_read(journal_path) {
        Ok(j) => j.has_plan()? || !j.chunks_slim()?.is_empty(),
        Err(_) if !journal_path.exists() => false,
        Err(e) => return Err(e.into()),
    };
    if planned {
        return Ok(());
    }
    if let Some(s) = crate::store::Store::open_existing(store_file).map_err(store_error)? {
        if s.bind(&zonal.model, false).map_err(store_error)?.any_stored {
            return Ok(());
        }
    }
    if journal_path.exists() {
        return Err(Error::Journal(crate::journal::JournalError::NothingSubmitted(journal_path.to_path_buf())));
    }
    Err(Error::Environment(format!(
        "no run journal at {}: nothing has been run yet\nhelp: `geepipe run FILE` submits the tasks and fetches the \
         results when they finish",
        journal_path.display()
    )))
}

/// `geepipe fetch` (and the end of `geepipe run`) through the store.
pub fn fetch(g: &Global, a: &FetchArgs, p: &Pipeline, journal_path: &Path) -> error::Result {
    let started = manifest::now();
    let clock = std::time::Instant::now();
    let store_file = super::incremental::store_path(journal_path);
    let zonal = super::incremental::zonal(p, None).map_err(Error::Diagnostics)?;
    nothing_run(journal_path, &store_file, &zonal)?;
    let mut store = super::incremental::open_store(&store_file)?;
    let journal = if journal_path.exists() { Some(Journal::open_read(journal_path)?) } else { None };
    let stored = match &journal {
        Some(j) => store_previous(g, a, p, j, &mut store)?,
        None => Stored::default(),
    };
    for n in &stored.notes {
        if !g.quiet {
            eprintln!("note: {n}");
        }
    }
    let binding = store.bind(&zonal.model, true).map_err(store_error)?;
    let path = a.output.clone().unwrap_or_else(|| p.output.path.clone());
    let spec = TableSpec::from_pipeline(p);
    let mut from_store = assemble::table(&store, &binding, &zonal.model, p, spec, &path, a.partial)
        .map_err(|e| Error::Environment(format!("cannot write {}: {e}", path.display())))?;
    let mut out = std::io::stdout().lock();
    if !stored.files.is_empty() && !g.quiet {
        let _ = writeln!(
            out,
            "{} file(s) in {} ({} downloaded, {} already there)",
            stored.files.len(),
            fetch::default_download_dir(p).display(),
            stored.downloaded,
            stored.reused
        );
    }
    let missing = {
        let more = from_store.missing_count.saturating_sub(from_store.missing.len().min(10));
        let shown: Vec<&str> = from_store.missing.iter().take(10).map(String::as_str).collect();
        let mut lines: Vec<String> = stored.missing.iter().map(|m| format!("  - {m}")).collect();
        lines.push(format!(
            "  - {} site(s) lack stored results (their chunks failed, are still running, or were not run): {}{}",
            from_store.missing_count,
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        ));
        lines.join("\n")
    };
    let Some(mut assembled) = from_store.assembled.take() else {
        drop(out);
        return Err(Error::Incomplete(format!(
            "the results are incomplete, so no table was written:\n{}\nhelp: rerun `geepipe run` for the missing \
             sites, or pass `--partial` to write what there is",
            missing
        )));
    };
    let table = &assembled.table;
    let _ = writeln!(out, "wrote {} row(s) for {} site(s) to {}", table.rows, assembled.totals.sites, path.display());
    if !g.quiet {
        for line in assembled.coverage.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    drop(out);
    for (chunk, sites) in &stored.empty {
        eprintln!("warning: chunk {chunk} ({sites} site(s)) came back without any value in any layer");
    }
    let empty = assembled.coverage.empty_layers();
    for l in &empty {
        eprintln!("error: {}", crate::results::coverage::Coverage::empty_layer_error(l, false));
    }
    let some_empty = !empty.is_empty();
    // The manifest: the table, the run's chunks, the files read by this fetch.
    let mut m = assembled.manifest(p, started);
    m.timings.total_seconds = clock.elapsed().as_secs_f64();
    m.inputs = stored.files.iter().map(file_input).collect();
    m.inputs.push(manifest::Input {
        kind: "store".into(),
        layer: None,
        year: None,
        location: store_file.display().to_string(),
        bytes: std::fs::metadata(&store_file).ok().map(|m| m.len()),
        details: serde_json::json!({"cells_stored_now": stored.written}).as_object().cloned().unwrap_or_default(),
    });
    if let Some(j) = &journal {
        let results = ResultFiles::for_journal(journal_path, &p.name);
        m.chunks = j
            .chunks_slim()
            .unwrap_or_default()
            .iter()
            .filter(|r| r.state == crate::journal::ChunkState::Succeeded)
            .map(|r| {
                let mut e = chunk_entry(&finished(r, &results), r.sites as u64, &stored.files);
                // An interactive chunk's answer is its file (stored beside the journal, not downloaded).
                if let (RunMode::Interactive, Some(rel), true) = (r.mode, &r.result, e.files.is_empty()) {
                    e.files.push(rel.clone());
                }
                e
            })
            .collect();
    }
    assembled.place(&m).map_err(|e| Error::Environment(format!("cannot write the table and manifest: {e}")))?;
    super::report::after_run(g, p, &path, Some(journal_path))?;
    if from_store.missing_count > 0 {
        eprintln!("warning: the table is partial; missing:");
        eprintln!("{missing}");
        return Ok(exit::SOME_FAILED);
    }
    Ok(if some_empty { exit::SOME_FAILED } else { exit::OK })
}
