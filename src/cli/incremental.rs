//! Zonal pipelines over a site file, run incrementally through the results store ([`crate::store`]):
//! planning only the cells the store lacks straight into the journal (one pass over the site file, no body
//! kept), rebuilding each body from a spill of the planned sites when it is sent ([`SitePlanner`]), storing
//! what every finished chunk's export file holds, and assembling the table from the store.
//!
//! A store beside the journal (`<name>.store.sqlite`) is used by `run`, `plan`, `status` and `fetch`;
//! `run --fresh` ignores what it holds (and replaces what it recomputes).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::Global;
use crate::diag::Diagnostic;
use crate::journal::{ChunkRow, ChunkState, Journal};
use crate::pipeline::{Engine, KindName, ModeName, Pipeline, SiteLocation};
use crate::plan::cells;
use crate::plan::probe::ProbeCall;
use crate::plan::stream::{self, CellCounts, StreamError};
use crate::plan::zonal::{ChunkCells, PlannedChunk, Zonal};
use crate::plan::{ChunkPlanner, Decision, Endpoint, RunMode, Task};
use crate::sites::spill::SpilledSites;
use crate::sites::Site;
use crate::store::{Binding, Store, StoreError};

/// Journal key holding the nonce of a `--fresh` run.
pub const FRESH: &str = "fresh";

/// Whether `p` is run through the results store: a zonal Earth Engine pipeline over a site file in batch mode
/// (`mode: batch` or `--mode batch`). The sites of a table asset cannot be known offline, so they are computed
/// whole each time; interactive and `auto` runs do not use the store yet.
pub fn applies(p: &Pipeline) -> bool {
    p.kind == KindName::Zonal
        && p.engine == Engine::EarthEngine
        && p.mode == ModeName::Batch
        && p.export.destination.exists()
        && matches!(p.sites.location, SiteLocation::File(_))
}

/// Whether a run of `p` with the journal at `journal` goes through the store: [`applies`], unless that journal
/// holds a plan of this same pipeline made without the store (an interactive run resumed with `--mode batch`,
/// or a journal of an earlier geepipe), which is finished the way it was planned.
pub fn applies_to(p: &Pipeline, journal: &Path) -> bool {
    if !applies(p) {
        return false;
    }
    let Ok(j) = Journal::open_read(journal) else { return true };
    let same = j.meta("content_hash").ok().flatten().is_some_and(|h| h == p.content_hash);
    let planned = j.has_plan().unwrap_or(false) && !j.chunks_slim().map(|r| r.is_empty()).unwrap_or(true);
    !(same && planned && !j.rebuilds_bodies().unwrap_or(true))
}

/// The mode decision of a pipeline run through the store (always batch export tasks).
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
) -> impl FnMut(&Site, &cells::Key, &mut cells::CellSet) -> Result<bool, String> + 'a {
    move |site, key, have| match (store, binding) {
        (Some(s), Some(b)) if b.any_stored => s.stored(b, &zonal.model, site, key, have).map_err(|e| e.to_string()),
        _ => Ok(false),
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

/// A planned chunk as the journal keeps it (no body: rebuilt when sent).
pub fn journal_row(zonal: &Zonal, c: &PlannedChunk) -> ChunkRow {
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

/// Why planning into the journal failed.
pub enum PlanFailure {
    Input(Vec<Diagnostic>),
    Environment(String),
}

/// Plans what the store lacks into the journal (one transaction), spilling the planned sites so their
/// bodies can be built when sent.
pub fn plan_into_journal(
    zonal: Zonal,
    store: &Store,
    fresh: bool,
    journal: &mut Journal,
    probe_sites: Option<usize>,
) -> Result<Planned, PlanFailure> {
    let env = |e: String| PlanFailure::Environment(e);
    let binding = store.bind(&zonal.model, true).map_err(|e| env(e.to_string()))?;
    let dir = journal.path().parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let mut spill = SpilledSites::new(&dir)
        .map_err(|e| env(format!("cannot write a temporary file in `{}`: {e}", dir.display())))?;
    let mut writer = journal.plan_writer().map_err(|e| env(e.to_string()))?;
    let mut first: Option<PlannedChunk> = None;
    let mut chunks = 0usize;
    let mut buf = Vec::new();
    let streamed = {
        let lookup = lookup((!fresh).then_some(store), Some(&binding), &zonal);
        stream::plan_sites(&zonal, lookup, |c| {
            for s in &c.sites {
                spill.push(s, &mut buf).map_err(|e| format!("cannot write a temporary file: {e}"))?;
            }
            writer.add(journal_row(&zonal, &c)).map_err(|e| e.to_string())?;
            chunks += 1;
            if first.is_none() {
                first = Some(c);
            }
            Ok(())
        })
    };
    let (counts, warnings) = match streamed {
        Ok(r) => r,
        Err(StreamError::Input(d)) => return Err(PlanFailure::Input(d)),
        Err(StreamError::Stopped(e)) => return Err(env(e)),
    };
    writer.finish().map_err(|e| env(e.to_string()))?;
    spill.seal().map_err(|e| env(format!("cannot read back a temporary file: {e}")))?;
    let probe = match (probe_sites, &first) {
        (Some(n), Some(c)) => {
            let chosen: Vec<&Site> = c.sites.iter().take(n.max(1)).collect();
            Some(crate::plan::probe::zonal_probe(&zonal, &c.parts, &chosen, None).map_err(env)?)
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
    spill: OnceLock<Result<SpilledSites, String>>,
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

    fn spill(&self) -> Result<&SpilledSites, String> {
        let r = self.spill.get_or_init(|| {
            let p = &self.zonal.pipeline;
            let dir = p.journal_dir.clone();
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
            let mut spill = SpilledSites::new(&dir).map_err(|e| format!("cannot write a temporary file: {e}"))?;
            let mut buf = Vec::new();
            let mut failed = None;
            crate::sites::for_each(&p.sites, |s| {
                spill.push(&s, &mut buf).map_err(|e| {
                    failed = Some(e.to_string());
                    Diagnostic::error(crate::diag::Code::SitesRead, "stopped")
                })
            })
            .map_err(|d| failed.clone().unwrap_or_else(|| d.first().map(|d| d.message.clone()).unwrap_or_default()))?;
            spill.seal().map_err(|e| e.to_string())?;
            Ok(spill)
        });
        r.as_ref().map_err(Clone::clone)
    }
}

impl ChunkPlanner for SitePlanner {
    fn task(&self, chunk_id: &str, site_ids: &[String], cells: Option<&ChunkCells>) -> anyhow::Result<Task> {
        let Some(cells) = cells else {
            anyhow::bail!("chunk `{chunk_id}` does not say which cells it computes (planned by an older geepipe)")
        };
        let spill = self.spill().map_err(|e| anyhow::anyhow!(e))?;
        let mut sites = Vec::with_capacity(cells.index.len());
        {
            let _guard = self.lock.lock().map_err(|_| anyhow::anyhow!("site spill lock poisoned"))?;
            for (k, &i) in cells.index.iter().enumerate() {
                let site =
                    spill.get(i)?.ok_or_else(|| anyhow::anyhow!("site #{i} of chunk `{chunk_id}` was not kept"))?;
                let same_id = site_ids.get(k).is_none_or(|id| *id == site.id);
                let same_geom = cells.geoms.get(k).is_some_and(|g| *g == hex::encode(cells::site_key(&site)));
                if !same_id || !same_geom {
                    anyhow::bail!(
                        "site `{}` of chunk `{chunk_id}` is not the site the plan was made for (the site file changed \
                         since); run `geepipe run --restart` to plan again",
                        site.id
                    );
                }
                sites.push(site);
            }
        }
        if sites.is_empty() {
            anyhow::bail!("chunk `{chunk_id}` has no sites");
        }
        let refs: Vec<&Site> = sites.iter().collect();
        let task = self.zonal.task(chunk_id, &refs, &cells.parts).map_err(|e| anyhow::anyhow!(e))?;
        if task.body_bytes > crate::pipeline::Chunks::EE_MAX_REQUEST_BYTES {
            anyhow::bail!(
                "the request for chunk `{chunk_id}` has {} bytes, above Earth Engine's 10 MB limit",
                task.body_bytes
            );
        }
        Ok(task)
    }
}

/// Whether every chunk of the journal at `path` is settled: none is still running on Earth Engine and every
/// finished one has its results in the store. Returns the unsettled chunks.
pub fn unsettled(journal: &Path, store: &Path) -> Result<Vec<String>, String> {
    let j = Journal::open_read(journal).map_err(|e| e.to_string())?;
    let s = Store::open_existing(store).map_err(|e| e.to_string())?;
    j.unsettled(|op| s.as_ref().is_some_and(|s| s.has_origin(op).unwrap_or(false))).map_err(|e| e.to_string())
}

/// Counts what the table needs and what is stored, without writing anything (`plan`, `status`).
pub fn count(p: &Pipeline, zonal: &Zonal, store_file: &Path) -> Result<(CellCounts, Vec<String>), String> {
    let store = Store::open_existing(store_file).map_err(|e| e.to_string())?;
    let binding = match &store {
        Some(s) => Some(s.bind(&zonal.model, false).map_err(|e| e.to_string())?),
        None => None,
    };
    let (counts, _) = match stream::plan_sites(zonal, lookup(store.as_ref(), binding.as_ref(), zonal), |_| Ok(())) {
        Ok(r) => r,
        Err(StreamError::Input(d)) => return Err(d.first().map(|d| d.message.clone()).unwrap_or_default()),
        Err(StreamError::Stopped(e)) => return Err(e),
    };
    let _ = p;
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

/// Opens the store of a journal for writing, printing why it cannot be used.
pub fn open_store(path: &Path) -> Result<Store, StoreError> {
    Store::open(path)
}

/// The rows of the journal's succeeded chunks that are not stored yet.
pub fn unstored(journal: &Journal, store: &Store) -> Result<Vec<ChunkRow>, String> {
    let rows = journal.chunks().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for r in rows {
        if r.state != ChunkState::Succeeded {
            continue;
        }
        let stored = match &r.operation {
            Some(op) => store.has_origin(op).map_err(|e| e.to_string())?,
            None => false,
        };
        if !stored {
            out.push(r);
        }
    }
    Ok(out)
}

/// `geepipe run` of a pipeline run through the store (see the module doc). `warnings` are the pipeline
/// file's, reported with the site file's when it is read.
pub fn run(g: &Global, p: Pipeline, warnings: Vec<Diagnostic>, a: super::run::RunArgs) -> i32 {
    use super::run::{drive, journal_error, journal_path, report, settings};
    use crate::executor::Settings;
    use crate::exit;
    use crate::journal::JournalError;
    let jpath = journal_path(&p, &a.exec);
    let spath = store_path(&jpath);
    if a.restart || a.fresh {
        match Journal::move_aside(&jpath) {
            Ok(Some(to)) => eprintln!("moved the old journal to {}", to.display()),
            Ok(None) => {}
            Err(e) => return journal_error(&e, &a.file),
        }
    }
    let mut journal = match Journal::open(&jpath, &p.name, &p.content_hash) {
        Ok(j) => j,
        Err(JournalError::Changed { .. }) => {
            // The pipeline or its sites changed: the last run's results are kept in the store, so a new plan
            // computes what the store lacks. Chunks still running on Earth Engine are not abandoned.
            if let Err(code) = settle_previous(g, &p, &a, &jpath, &spath) {
                return code;
            }
            match Journal::move_aside(&jpath).and_then(|_| Journal::open(&jpath, &p.name, &p.content_hash)) {
                Ok(j) => j,
                Err(e) => return journal_error(&e, &a.file),
            }
        }
        Err(e) => return journal_error(&e, &a.file),
    };
    let _ = journal.set_meta("cancel_requested_by", "");
    let planned = match journal.has_plan() {
        Ok(b) => b,
        Err(e) => return journal_error(&e, &a.file),
    };
    let (planner, probe): (Arc<dyn ChunkPlanner>, Option<ProbeCall>) = if planned {
        g.report(&warnings);
        // Every planned chunk already succeeded (a rerun of an unchanged pipeline): the table is assembled
        // from the store (the fetch stores any chunk not stored yet).
        let rows = match journal.chunks_slim() {
            Ok(r) => r,
            Err(e) => return journal_error(&e, &a.file),
        };
        if rows.iter().all(|r| r.state == ChunkState::Succeeded || r.state == ChunkState::Split) {
            if !g.quiet {
                eprintln!("nothing to compute: every planned chunk succeeded");
            }
            drop(journal);
            return if a.no_fetch { exit::OK } else { super::run::fetch_results(g, &a.file, a.exec.journal.clone()) };
        }
        let fresh = journal.meta(FRESH).ok().flatten();
        match zonal(&p, fresh.as_deref()) {
            Ok(z) => (Arc::new(SitePlanner::lazy(z)), None),
            Err(d) => {
                g.report(&d);
                return exit::INVALID_INPUT;
            }
        }
    } else {
        let store = match open_store(&spath) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::ENVIRONMENT;
            }
        };
        let nonce = a.fresh.then(|| format!("{:.6}", crate::store::now()));
        if let Some(n) = &nonce {
            if let Err(e) = journal.set_meta(FRESH, n) {
                return journal_error(&e, &a.file);
            }
        }
        let z = match zonal(&p, nonce.as_deref()) {
            Ok(z) => z,
            Err(d) => {
                g.report(&[warnings, d].concat());
                return exit::INVALID_INPUT;
            }
        };
        let probe_sites = (!a.no_probe).then_some(crate::probe::SITES);
        match plan_into_journal(z, &store, a.fresh, &mut journal, probe_sites) {
            Ok(planned) => {
                g.report(&[warnings, planned.warnings].concat());
                print_counts(g, &planned.counts, &planned.explanations, false);
                if planned.chunks == 0 {
                    if !g.quiet {
                        eprintln!("nothing to compute: every cell the table needs is stored");
                    }
                    drop(journal);
                    return if a.no_fetch {
                        exit::OK
                    } else {
                        super::run::fetch_results(g, &a.file, a.exec.journal.clone())
                    };
                }
                (planned.planner as Arc<dyn ChunkPlanner>, planned.probe)
            }
            Err(PlanFailure::Input(d)) => {
                g.report(&[warnings, d].concat());
                return exit::INVALID_INPUT;
            }
            Err(PlanFailure::Environment(e)) => {
                eprintln!("error: {e}");
                return exit::ENVIRONMENT;
            }
        }
    };
    let settings = Settings { detach: a.detach, ..settings(&p, &a.exec) };
    let probed = probe.is_some();
    let start =
        super::run::Start { tasks: None, planner, mode: RunMode::Batch, reason: batch_decision().reason, auto: false };
    let outcome = match drive(g, &p, &a.exec, journal, start, settings, probe) {
        Ok(o) => o,
        Err(c) => {
            // A plan whose probe failed (or that never started) is made and probed again by the next run.
            if probed {
                if let Ok(mut j) = Journal::open(&jpath, &p.name, &p.content_hash) {
                    let _ = j.drop_unsent_plan();
                }
            }
            return c;
        }
    };
    let code = report(g, &outcome, &a.file, &jpath, false);
    if code == exit::OK && !outcome.detached && !a.no_fetch {
        return super::run::fetch_results(g, &a.file, a.exec.journal.clone());
    }
    code
}

/// Before a changed pipeline is planned: the previous journal's finished chunks are stored, and its chunks
/// still on Earth Engine stop the run (their work would be lost or repeated).
fn settle_previous(g: &Global, p: &Pipeline, a: &super::run::RunArgs, jpath: &Path, spath: &Path) -> Result<(), i32> {
    use crate::exit;
    let j = Journal::open_read(jpath).map_err(|e| {
        eprintln!("error: {e}");
        exit::ENVIRONMENT
    })?;
    let active: Vec<String> =
        j.chunks_slim().unwrap_or_default().into_iter().filter(|r| r.state.is_active()).map(|r| r.chunk_id).collect();
    if !active.is_empty() {
        let shown: Vec<&str> = active.iter().take(10).map(String::as_str).collect();
        eprintln!(
            "error: the journal {} was made by a different version of this pipeline (pipeline or site file changed \
             since the last run) and {} of its chunk(s) are still on Earth Engine ({}{})\n\
             help: let them finish first (restore the previous pipeline and run `geepipe wait {}`), or plan anew \
             without them (their results are then not stored; the old journal is moved aside):  \
             geepipe run --restart {}",
            jpath.display(),
            active.len(),
            shown.join(", "),
            if active.len() > shown.len() { ", ..." } else { "" },
            a.file.display(),
            a.file.display()
        );
        return Err(exit::ENVIRONMENT);
    }
    let mut store = open_store(spath).map_err(|e| {
        eprintln!("error: {e}");
        exit::ENVIRONMENT
    })?;
    let fa = super::results::FetchArgs {
        file: a.file.clone(),
        output: None,
        partial: true,
        journal: a.exec.journal.clone(),
    };
    let stored = super::fetch_store::store_previous(g, &fa, p, &j, &mut store)?;
    if !g.quiet {
        eprintln!("the pipeline changed since the last run: planning what the results store lacks");
    }
    let _ = stored;
    Ok(())
}
