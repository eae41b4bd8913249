//! Zonal pipelines over a site file, run incrementally through the results store ([`crate::store`]), in
//! batch, interactive and `auto` mode: deciding the mode from the cells the store lacks ([`decide`]),
//! planning only those cells straight into the journal (one pass over the site file, no body kept),
//! rebuilding each body from a spill of the planned sites when it is sent ([`SitePlanner`]: an export body,
//! or the `computeFeatures` body made from it), storing what every finished chunk's export file or
//! interactive answer holds, and assembling the table from the store.
//!
//! A store beside the journal (`<name>.store.sqlite`) is used by `run`, `plan`, `status` and `fetch`;
//! `run --fresh` ignores what it holds (and replaces what it recomputes).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::Global;
use crate::diag::Diagnostic;
use crate::error::{self, Error};
use crate::journal::{ChunkRow, ChunkState, Journal};
use crate::pipeline::{Engine, KindName, ModeName, Pipeline, SiteLocation};
use crate::plan::cells;
use crate::plan::cells::CellCounts;
use crate::plan::probe::ProbeCall;
use crate::plan::stream::{self, StreamError};
use crate::plan::zonal::{ChunkCells, PlannedChunk, Zonal};
use crate::plan::{ChunkPlanner, Decision, Endpoint, PlanError, RunMode, Task};
use crate::sites::spill::SpilledSites;
use crate::sites::Site;
use crate::store::{Binding, Store, StoreError};

/// Journal key holding the nonce of a `--fresh` run.
pub const FRESH: &str = "fresh";

/// Whether `p` is run through the results store: a zonal Earth Engine pipeline over a site file, in batch mode
/// with an export destination, or in interactive or `auto` mode (which decides from the work the store lacks,
/// [`decide`]). The sites of a table asset cannot be known offline, so they are computed whole each time.
pub fn applies(p: &Pipeline) -> bool {
    p.kind == KindName::Zonal
        && p.engine == Engine::EarthEngine
        && matches!(p.sites.location, SiteLocation::File(_))
        && match p.mode {
            ModeName::Batch => p.export.destination.exists(),
            ModeName::Interactive | ModeName::Auto => true,
        }
}

/// Whether a run of `p` with the journal at `journal` goes through the store: [`applies`], unless that journal
/// holds a plan made without the store (a journal of an earlier geepipe, or of a pipeline with its sites in
/// a table asset): one of this same pipeline is finished the way it was planned, and one of a changed
/// pipeline is refused until `run --restart` (as without the store: its results cannot be stored, so moving
/// it aside would lose them).
pub fn applies_to(p: &Pipeline, journal: &Path) -> bool {
    if !applies(p) {
        return false;
    }
    let Ok(j) = Journal::open_read(journal) else { return true };
    let planned = j.has_plan().unwrap_or(false) && !j.chunks_slim().map(|r| r.is_empty()).unwrap_or(true);
    !planned || j.rebuilds_bodies().unwrap_or(true)
}

/// The decision of `mode: batch`.
pub fn batch_decision() -> Decision {
    Decision {
        mode: RunMode::Batch,
        auto: false,
        reason: "`mode: batch`".into(),
        sites_per_request: None,
        requests: None,
        interactive_seconds: None,
        estimate: None,
    }
}

/// The mode of a run computing what the store lacks, and the computation with its chunks sized for it.
/// `mode: batch` is batch; otherwise one pass over the site file estimates the work of the cells to compute
/// (each site weighted by the share of its cells it lacks, [`crate::plan::estimate::Accumulator`]), which
/// decides `auto` and sizes interactive requests as for a run without the store. `auto` choosing batch
/// without an `export` section is an error.
/// `store` is `None` for a `--fresh` run (every cell is computed).
pub fn decide(mut zonal: Zonal, store: Option<&Store>, binding: Option<&Binding>) -> error::Result<(Zonal, Decision)> {
    use crate::plan::estimate;
    if zonal.pipeline.mode == ModeName::Batch {
        return Ok((zonal, batch_decision()));
    }
    let p = &zonal.pipeline;
    let mut acc = estimate::Accumulator::new(p);
    let per_site = zonal.model.cells_per_site().max(1) as f64;
    stream::plan_sites(&zonal, lookup(store, binding, &zonal), |c| {
        for s in &c.sites {
            acc.add(s, c.cells.len() as f64 / per_site);
        }
        Ok(())
    })
    .map_err(stream_error)?;
    let p = &zonal.pipeline;
    let decision = estimate::decide_estimate(p, acc.finish(p));
    if let Some(d) = estimate::needs_export(p, &decision) {
        return Err(Error::Diagnostics(vec![d]));
    }
    if let (RunMode::Interactive, Some(n)) = (decision.mode, decision.sites_per_request) {
        // Chunks of `n` sites: the chunker reads the pipeline's chunk size (no key depends on it).
        zonal.pipeline.chunks.sites_per_task = n;
    }
    Ok((zonal, decision))
}

/// The store beside a journal.
pub fn store_path(journal: &Path) -> PathBuf {
    crate::store::path_for_journal(journal)
}

/// The zonal computation of `p` (layers rendered); `fresh` is the nonce of a `--fresh` run.
pub fn zonal(p: &Pipeline, fresh: Option<&str>) -> Result<Zonal, Vec<Diagnostic>> {
    let layers = crate::plan::compute::prepare(p).map_err(|es| {
        es.into_iter()
            .map(|(layer, msg)| {
                Diagnostic::error(crate::diag::Code::LayersTemplate, format!("layer `{layer}`: {msg}"))
                    .in_file(p.source.display().to_string())
            })
            .collect::<Vec<_>>()
    })?;
    Ok(Zonal::new(p, layers, fresh))
}

/// Store lookups for planning: none when the store holds none of these cells (or `--fresh`).
pub fn lookup<'a>(
    store: Option<&'a Store>,
    binding: Option<&'a Binding>,
    zonal: &'a Zonal,
) -> impl FnMut(&Site, &cells::Key, &mut cells::CellSet) -> error::Result<bool> + 'a {
    move |site, key, have| match (store, binding) {
        (Some(s), Some(b)) if b.any_stored => s.stored(b, &zonal.model, site, key, have).map_err(store_error),
        _ => Ok(false),
    }
}

/// A results store that cannot be used stops the command (the environment refused).
pub fn store_error(e: StoreError) -> Error {
    Error::Environment(e.to_string())
}

/// What stopped streaming over the site file, as the command line reports it.
pub fn stream_error(e: StreamError<Error>) -> Error {
    match e {
        StreamError::Input(d) => Error::Diagnostics(d),
        StreamError::Stopped(e) => e,
    }
}

/// The explanations of stored cells that no longer match (other expressions, changed geometries).
pub fn explanations(
    store: Option<&Store>,
    binding: Option<&Binding>,
    zonal: &Zonal,
    counts: &CellCounts,
) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(s), Some(b)) = (store, binding) {
        if let Ok(ms) = s.other_expressions(&zonal.model, b) {
            for m in ms {
                if let Some((_, l)) = zonal.model.layers.iter().enumerate().find(|(_, l)| l.name == m.layer) {
                    out.push(m.explain(l));
                }
            }
        }
    }
    if counts.changed_geometry > 0 {
        out.push(format!(
            "{} site(s) have another geometry than when they were stored: their stored cells are not used",
            counts.changed_geometry
        ));
    }
    out
}

/// A planned chunk as the journal keeps it (no body: rebuilt when sent), computed in `mode`.
pub fn journal_row(zonal: &Zonal, c: &PlannedChunk, mode: RunMode) -> ChunkRow {
    let keyed: Vec<(String, cells::Key)> = c.sites.iter().map(|s| (s.id.clone(), cells::site_key(s))).collect();
    let request_id = zonal.request_id(&c.chunk_id, &keyed, &c.parts);
    let (description, target) = zonal.target(&c.chunk_id);
    let task = Task {
        chunk_id: c.chunk_id.clone(),
        request_id,
        endpoint: Endpoint::TableExport,
        description,
        site_ids: c.sites.iter().map(|s| s.id.clone()).collect(),
        body: serde_json::Value::Null,
        body_bytes: 0,
        target,
    };
    let mut row = ChunkRow::from_task(&task, 0, None);
    row.cells = Some(c.chunk_cells());
    row.mode = mode;
    row
}

/// What planning into the journal did.
pub struct Planned {
    pub counts: CellCounts,
    pub chunks: usize,
    pub warnings: Vec<Diagnostic>,
    /// The probe of the first chunk (none when nothing is to compute).
    pub probe: Option<ProbeCall>,
    pub planner: Arc<SitePlanner>,
    pub explanations: Vec<String>,
}

/// Plans what the store lacks into the journal (one transaction), every chunk computed in `mode`, spilling
/// the planned sites so their bodies can be built when sent.
pub fn plan_into_journal(
    zonal: Zonal,
    store: &Store,
    fresh: bool,
    journal: &mut Journal,
    probe_sites: Option<usize>,
    mode: RunMode,
) -> error::Result<Planned> {
    let binding = store.bind(&zonal.model, true).map_err(store_error)?;
    let dir = journal.path().parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let temp_error =
        |e: std::io::Error| Error::Environment(format!("cannot write a temporary file in `{}`: {e}", dir.display()));
    let mut spill = SpilledSites::new(&dir).map_err(temp_error)?;
    let mut writer = journal.plan_writer()?;
    let mut first: Option<PlannedChunk> = None;
    let mut chunks = 0usize;
    let mut buf = Vec::new();
    let streamed = {
        let lookup = lookup((!fresh).then_some(store), Some(&binding), &zonal);
        stream::plan_sites(&zonal, lookup, |c| {
            for s in &c.sites {
                spill.push(s, &mut buf).map_err(temp_error)?;
            }
            writer.add(journal_row(&zonal, &c, mode))?;
            chunks += 1;
            if first.is_none() {
                first = Some(c);
            }
            Ok(())
        })
    };
    let (counts, warnings) = streamed.map_err(stream_error)?;
    writer.finish()?;
    spill.seal().map_err(temp_error)?;
    let probe = match (probe_sites, &first) {
        (Some(n), Some(c)) => {
            let chosen: Vec<&Site> = c.sites.iter().take(n.max(1)).collect();
            Some(zonal.probe_call(&c.parts, &chosen, None).map_err(PlanError::Probe)?)
        }
        _ => None,
    };
    let explanations = explanations(Some(store), Some(&binding), &zonal, &counts);
    let planner = Arc::new(SitePlanner::with_spill(zonal, spill));
    Ok(Planned { counts, chunks, warnings, probe, planner, explanations })
}

/// Builds the body of a planned zonal chunk from its sites, read back from a spill of the site file (made
/// on first use when the plan came from an earlier run).
pub struct SitePlanner {
    zonal: Zonal,
    spill: OnceLock<Result<SpilledSites, PlanError>>,
    /// Serialises reads of the spill (its file offset is shared).
    lock: Mutex<()>,
}

impl SitePlanner {
    fn with_spill(zonal: Zonal, spill: SpilledSites) -> SitePlanner {
        let s = OnceLock::new();
        let _ = s.set(Ok(spill));
        SitePlanner { zonal, spill: s, lock: Mutex::new(()) }
    }

    /// A planner for a plan made by an earlier run: the site file is read when a body is first needed.
    pub fn lazy(zonal: Zonal) -> SitePlanner {
        SitePlanner { zonal, spill: OnceLock::new(), lock: Mutex::new(()) }
    }

    fn spill(&self) -> Result<&SpilledSites, PlanError> {
        let r = self.spill.get_or_init(|| {
            let p = &self.zonal.pipeline;
            let dir = p.journal_dir.clone();
            let unreadable = |e: String| PlanError::SitesUnreadable(e);
            std::fs::create_dir_all(&dir).map_err(|e| unreadable(format!("cannot create `{}`: {e}", dir.display())))?;
            let mut spill =
                SpilledSites::new(&dir).map_err(|e| unreadable(format!("cannot write a temporary file: {e}")))?;
            let mut buf = Vec::new();
            let mut failed = None;
            crate::sites::for_each(&p.sites, |s| {
                spill.push(&s, &mut buf).map_err(|e| {
                    failed = Some(e.to_string());
                    Diagnostic::error(crate::diag::Code::SitesRead, "stopped")
                })
            })
            .map_err(|d| match failed.clone() {
                Some(e) => unreadable(format!("cannot write a temporary file: {e}")),
                None => PlanError::Diagnostics(d),
            })?;
            spill.seal().map_err(|e| unreadable(e.to_string()))?;
            Ok(spill)
        });
        r.as_ref().map_err(Clone::clone)
    }
}

impl ChunkPlanner for SitePlanner {
    fn task(&self, chunk_id: &str, site_ids: &[String], cells: Option<&ChunkCells>) -> Result<Task, PlanError> {
        let (mut task, bytes) = self.serialized(chunk_id, site_ids, cells)?;
        task.body = serde_json::from_slice(&bytes).map_err(|e| PlanError::SitesUnreadable(e.to_string()))?;
        Ok(task)
    }

    fn body(&self, chunk_id: &str, site_ids: &[String], cells: Option<&ChunkCells>) -> Result<Vec<u8>, PlanError> {
        self.serialized(chunk_id, site_ids, cells).map(|(_, bytes)| bytes)
    }
}

impl SitePlanner {
    /// The task of a planned chunk, its body returned apart as the bytes sent.
    fn serialized(
        &self,
        chunk_id: &str,
        site_ids: &[String],
        cells: Option<&ChunkCells>,
    ) -> Result<(Task, Vec<u8>), PlanError> {
        let Some(cells) = cells else { return Err(PlanError::NoCells(chunk_id.to_string())) };
        let spill = self.spill()?;
        let mut sites = Vec::with_capacity(cells.index.len());
        {
            // A poisoned lock only means another body failed while reading; the spill is read-only.
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            for (k, &i) in cells.index.iter().enumerate() {
                let site = spill
                    .get(i)
                    .map_err(|e| PlanError::SitesUnreadable(e.to_string()))?
                    .ok_or_else(|| PlanError::UnknownSite(format!("#{i}")))?;
                let same_id = site_ids.get(k).is_none_or(|id| *id == site.id);
                let same_geom = cells.geoms.get(k).is_some_and(|g| *g == hex::encode(cells::site_key(&site)));
                if !same_id || !same_geom {
                    return Err(PlanError::SiteChanged { site: site.id, chunk: chunk_id.to_string() });
                }
                sites.push(site);
            }
        }
        if sites.is_empty() {
            return Err(PlanError::EmptyChunk(chunk_id.to_string()));
        }
        let refs: Vec<&Site> = sites.iter().collect();
        let (task, bytes) = self.zonal.serialized(chunk_id, &refs, &cells.parts)?;
        if task.body_bytes > crate::pipeline::Chunks::EE_MAX_REQUEST_BYTES {
            return Err(PlanError::TooBig { chunk: chunk_id.to_string(), bytes: task.body_bytes });
        }
        Ok((task, bytes))
    }
}

/// Whether every chunk of the journal at `path` is settled: none is still running on Earth Engine and every
/// finished one has its results in the store. Returns the unsettled chunks.
pub fn unsettled(journal: &Path, store: &Path) -> error::Result<Vec<String>> {
    let j = Journal::open_read(journal)?;
    let s = Store::open_existing(store).map_err(store_error)?;
    Ok(j.unsettled(|op| s.as_ref().is_some_and(|s| s.has_origin(op).unwrap_or(false)))?)
}

/// Counts what the table needs and what is stored, without writing anything (`plan`, `status`).
pub fn count(zonal: &Zonal, store_file: &Path) -> error::Result<(CellCounts, Vec<String>)> {
    let store = Store::open_existing(store_file).map_err(store_error)?;
    let binding = match &store {
        Some(s) => Some(s.bind(&zonal.model, false).map_err(store_error)?),
        None => None,
    };
    let (counts, _) =
        stream::plan_sites(zonal, lookup(store.as_ref(), binding.as_ref(), zonal), |_| Ok(())).map_err(stream_error)?;
    let why = explanations(store.as_ref(), binding.as_ref(), zonal, &counts);
    Ok((counts, why))
}

/// Prints the per-layer cell counts and explanations (stderr unless `to_stdout`).
pub fn print_counts(g: &Global, counts: &CellCounts, why: &[String], to_stdout: bool) {
    if g.quiet {
        return;
    }
    let mut lines = vec![format!(
        "cells: {} stored, {} to compute ({} of {} sites lack some)",
        counts.stored(),
        counts.to_compute(),
        counts.sites_to_compute,
        counts.sites
    )];
    lines.extend(counts.lines().into_iter().map(|l| format!("  {l}")));
    lines.extend(why.iter().map(|w| format!("note: {w}")));
    for l in lines {
        if to_stdout {
            println!("{l}");
        } else {
            eprintln!("{l}");
        }
    }
}

/// Opens the store of a journal for writing.
pub fn open_store(path: &Path) -> error::Result<Store> {
    Store::open(path).map_err(store_error)
}

/// What the store records as the origin of a chunk's values: the operation of an export task, the request id
/// of an interactive chunk (its answer has no operation).
pub fn origin_key(r: &ChunkRow) -> Option<&str> {
    match r.mode {
        RunMode::Batch => r.operation.as_deref(),
        RunMode::Interactive => r.result.is_some().then_some(r.base_request_id.as_str()),
    }
}

/// The rows of the journal's succeeded chunks that are not stored yet.
pub fn unstored(journal: &Journal, store: &Store) -> error::Result<Vec<ChunkRow>> {
    let rows = journal.chunks()?;
    let mut out = Vec::new();
    for r in rows {
        if r.state != ChunkState::Succeeded {
            continue;
        }
        let stored = match origin_key(&r) {
            Some(key) => store.has_origin(key).map_err(store_error)?,
            None => false,
        };
        if !stored {
            out.push(r);
        }
    }
    Ok(out)
}
