//! The run section: what produced the table. From the manifest beside the table (engine, versions,
//! pipeline file and hash, times, inputs, one entry per merged export task) and, when the run journal
//! is there, from the journal (every chunk with its state, attempts, split parent and error message, so
//! failed and split chunks show even though the manifest only lists merged ones).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::journal::Journal;
use crate::pipeline::{Destination, Pipeline};
use crate::results::manifest::Manifest;

/// One export task (chunk) as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub id: String,
    pub parent: Option<String>,
    pub sites: u64,
    pub state: String,
    pub attempts: u32,
    pub runtime: Option<f64>,
    pub eecu: Option<f64>,
    pub error: Option<String>,
    pub error_class: Option<String>,
}

/// Everything the run section shows.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub manifest: Option<Manifest>,
    /// Where the chunk list came from: `journal`, `manifest` or nothing.
    pub chunk_source: Option<&'static str>,
    pub chunks: Vec<Chunk>,
    /// Key facts, in display order.
    pub facts: Vec<(String, String)>,
}

impl RunInfo {
    pub fn failed(&self) -> Vec<&Chunk> {
        self.chunks.iter().filter(|c| c.state == "failed" || c.state == "cancelled").collect()
    }

    pub fn count(&self, state: &str) -> usize {
        self.chunks.iter().filter(|c| c.state == state).count()
    }

    /// Chunks for the per-chunk chart (those with both a run time and an EECU figure; the task table
    /// lists every chunk).
    pub fn chart_values(&self) -> Value {
        Value::Array(
            self.chunks
                .iter()
                .filter(|c| c.runtime.is_some() && c.eecu.is_some())
                .map(|c| {
                    json!({"chunk": c.id, "state": c.state, "sites": c.sites, "attempts": c.attempts,
                           "runtime_s": c.runtime, "eecu_s": c.eecu})
                })
                .collect(),
        )
    }
}

/// How the chunks were computed: `interactive` and `batch` say whether any chunk ran that way (from the
/// journal; both false when there is no journal, then the pipeline's `mode` says).
fn mode(p: &Pipeline, interactive: bool, batch: bool) -> String {
    let kind = format!("{:?}", p.kind).to_lowercase();
    let table = format!(
        "{} {}",
        format!("{:?}", p.output.layout).to_lowercase(),
        format!("{:?}", p.output.format).to_lowercase()
    );
    match p.engine {
        crate::pipeline::Engine::Local => format!("{kind}, computed on this machine from GeoTIFFs; {table} table"),
        crate::pipeline::Engine::EarthEngine => {
            let to = match &p.export.destination {
                Destination::Drive { folder } => format!("Google Drive folder `{folder}`"),
                Destination::Gcs { bucket } => format!("Cloud Storage bucket `{bucket}`"),
                Destination::Asset { folder } => format!("assets under `{folder}`"),
                Destination::Bigquery { table } => format!("BigQuery table `{table}`"),
                Destination::Local { folder } => format!("local folder `{}`", folder.display()),
                Destination::None => String::new(),
            };
            let exports = format!(
                "Earth Engine batch exports ({} format) to {to}, {} sites per task, at most {} at once",
                format!("{:?}", p.export.format).to_lowercase(),
                p.chunks.sites_per_task,
                p.chunks.max_concurrent
            );
            let requests = format!(
                "Earth Engine interactive requests (table:computeFeatures), at most {} in flight",
                p.interactive.max_in_flight
            );
            let how = match (interactive, batch) {
                (true, true) => format!("{requests}, then {exports}"),
                (true, false) => requests,
                (false, true) => exports,
                (false, false) => match (p.mode, p.export.destination.exists()) {
                    (crate::pipeline::ModeName::Interactive, _) | (_, false) => requests,
                    (crate::pipeline::ModeName::Batch, _) => exports,
                    _ => format!("{requests} or {exports} (mode: auto)"),
                },
            };
            format!("{kind}, {how}; {table} table")
        }
    }
}

fn secs(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.2} s")
    }
}

/// Collects the run facts for `pipeline` whose table is at `table` (manifest beside it) and journal at
/// `journal` (if it exists).
/// Why the run facts cannot be collected.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Manifest(#[from] crate::results::manifest::ManifestError),
    #[error("cannot read the run journal `{}`: {source}", path.display())]
    Journal { path: std::path::PathBuf, source: crate::journal::JournalError },
}

pub fn collect(p: &Pipeline, table: &Path, journal: Option<&Path>) -> Result<RunInfo, RunError> {
    let mpath = crate::results::manifest::path_for(table);
    let manifest = if mpath.exists() { Some(Manifest::read(&mpath)?) } else { None };
    let mut chunks: BTreeMap<String, Chunk> = BTreeMap::new();
    let mut chunk_source = None;
    if let Some(m) = &manifest {
        for c in &m.chunks {
            chunks.insert(
                c.chunk.clone(),
                Chunk {
                    id: c.chunk.clone(),
                    parent: None,
                    sites: c.sites,
                    state: c.state.to_lowercase(),
                    attempts: c.attempts,
                    runtime: c.runtime_seconds,
                    eecu: c.eecu_seconds,
                    error: None,
                    error_class: None,
                },
            );
        }
        if !m.chunks.is_empty() {
            chunk_source = Some("manifest");
        }
    }
    // Chunk summaries only: the full rows carry every request body (the site geometries).
    let rows = match journal.filter(|j| j.exists()) {
        Some(j) => Some(
            Journal::open_read(j)
                .and_then(|j| j.summaries())
                .map_err(|source| RunError::Journal { path: j.to_path_buf(), source })?,
        ),
        None => None,
    };
    if let Some(rows) = &rows {
        for r in rows {
            let prev = chunks.remove(&r.chunk_id);
            chunks.insert(
                r.chunk_id.clone(),
                Chunk {
                    id: r.chunk_id.clone(),
                    parent: r.parent.clone(),
                    sites: r.sites,
                    state: r.state.as_str().to_string(),
                    attempts: r.attempt,
                    runtime: r.runtime().or(prev.as_ref().and_then(|c| c.runtime)),
                    eecu: r.eecu_seconds.or(prev.as_ref().and_then(|c| c.eecu)),
                    error: r.error.clone(),
                    error_class: r.error_class.clone(),
                },
            );
            chunk_source = Some("journal");
        }
    }
    let chunks: Vec<Chunk> = chunks.into_values().collect();
    let (interactive, batch) = match &rows {
        Some(rows) => {
            let done = |m| rows.iter().any(|r| r.mode == m && r.state != crate::journal::ChunkState::Split);
            (done(crate::plan::RunMode::Interactive), done(crate::plan::RunMode::Batch))
        }
        None => (false, false),
    };
    let mut facts: Vec<(String, String)> = Vec::new();
    let mut fact = |k: &str, v: String| facts.push((k.to_string(), v));
    fact("pipeline", format!("{} ({})", p.name, p.source.display()));
    fact("pipeline hash", p.content_hash.clone());
    fact("mode", mode(p, interactive, batch));
    match &manifest {
        Some(m) => {
            fact("engine", m.engine.clone());
            fact("geepipe version", m.geepipe_version.clone());
            fact("catalog version", m.catalog_version.clone());
            if m.pipeline.content_hash != p.content_hash {
                fact(
                    "warning",
                    format!(
                        "the table was made by pipeline hash {}, not by the current file: the file or its site \
                         file changed since the run",
                        m.pipeline.content_hash
                    ),
                );
            }
            fact("started", m.started_at.clone());
            fact("finished", m.finished_at.clone());
            let mut t = secs(m.timings.total_seconds);
            if let Some(c) = m.timings.compute_seconds {
                t.push_str(&format!(" (compute {})", secs(c)));
            }
            if let Some(n) = m.timings.threads {
                t.push_str(&format!(" on {n} threads"));
            }
            fact("run time", t);
            fact(
                "table",
                format!(
                    "{} ({} {}, {} rows, {} bytes, SHA-256 {})",
                    m.table.path.display(),
                    m.table.layout,
                    m.table.format,
                    m.table.rows,
                    m.table.bytes,
                    m.table.sha256
                ),
            );
            fact(
                "sites",
                format!(
                    "{} sites, {} site-layer-years, {} of them without valid pixels",
                    m.totals.sites, m.totals.site_years, m.totals.nodata_site_years
                ),
            );
            let rasters = m.inputs.iter().filter(|i| i.kind == "raster").count();
            let exports = m.inputs.iter().filter(|i| i.kind == "export").count();
            if rasters > 0 {
                fact("inputs", format!("{rasters} raster file(s)"));
            }
            if exports > 0 {
                let bytes: u64 = m.inputs.iter().filter_map(|i| i.bytes).sum();
                fact("inputs", format!("{exports} export file(s), {bytes} bytes"));
            }
        }
        None => fact("manifest", format!("none at {} (run facts below come from the pipeline only)", mpath.display())),
    }
    if !chunks.is_empty() {
        let attempts: u64 = chunks.iter().map(|c| c.attempts as u64).sum();
        let splits = chunks.iter().filter(|c| c.state == "split").count();
        let eecu: f64 = chunks.iter().filter_map(|c| c.eecu).sum();
        let tasks = chunks.iter().filter(|c| c.state != "split").count();
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &chunks {
            *states.entry(c.state.as_str()).or_default() += 1;
        }
        let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        fact("tasks", format!("{tasks} export task(s) ({}), {splits} split in two", states.join(", ")));
        fact(
            "attempts",
            format!("{attempts} in all, {} task(s) retried", chunks.iter().filter(|c| c.attempts > 1).count()),
        );
        fact("EECU", format!("{eecu:.1} EECU-seconds in all"));
    }
    Ok(RunInfo { manifest, chunk_source, chunks, facts })
}
