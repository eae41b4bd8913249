//! `geepipe run` of a pipeline run through the results store ([`super::incremental`]): plans what the store
//! lacks into the journal (or resumes that plan), drives the executor, and assembles the table from the store.
//! When the pipeline or its site file changed since the journal was written, the previous journal's finished
//! chunks are stored first and a new plan computes only what is still missing; chunks still running on Earth
//! Engine stop the run instead (their work would be lost or repeated). The same happens when every chunk of
//! the journal succeeded but some interactive answers lacked cells ([`crate::executor::interactive::INCOMPLETE`]):
//! a new plan computes exactly those cells, once (cells that plan's answers lack too are left for the fetch to
//! report).

use std::path::Path;
use std::sync::Arc;

use super::incremental::{decide, open_store, plan_into_journal, print_counts, zonal, SitePlanner, FRESH};
use super::Global;
use crate::diag::Diagnostic;
use crate::error::{self, Error};
use crate::journal::Journal;
use crate::pipeline::Pipeline;
use crate::plan::probe::ProbeCall;
use crate::plan::{ChunkPlanner, RunMode};

/// `geepipe run` of a pipeline run through the store (see the module doc). `warnings` are the pipeline
/// file's, reported with the site file's when it is read.
pub fn run(g: &Global, p: Pipeline, warnings: Vec<Diagnostic>, a: super::RunArgs) -> error::Result {
    use super::run::{drive, fetch_results, journal_error, journal_path, report, settings};
    use crate::executor::Settings;
    use crate::exit;
    use crate::journal::JournalError;
    let jpath = journal_path(&p, &a.exec);
    let spath = super::incremental::store_path(&jpath);
    let jerr = |e| journal_error(e, &a.file);
    if a.restart || a.fresh {
        if let Some(to) = Journal::move_aside(&jpath).map_err(jerr)? {
            eprintln!("moved the old journal to {}", to.display());
        }
    }
    // The last run's journal, its results stored, moved aside for a new one.
    let set_aside = |jpath: &Path| {
        Journal::move_aside(jpath).and_then(|_| Journal::open(jpath, &p.name, &p.content_hash)).map_err(jerr)
    };
    let mut journal = match Journal::open(&jpath, &p.name, &p.content_hash) {
        Ok(j) => j,
        Err(JournalError::Changed { .. }) => {
            // The pipeline or its sites changed: the last run's results are kept in the store, so a new plan
            // computes what the store lacks. Chunks still running on Earth Engine are not abandoned.
            settle_previous(g, &p, &a, &jpath, &spath, "the pipeline changed since the last run")?;
            set_aside(&jpath)?
        }
        Err(e) => return Err(jerr(e)),
    };
    let _ = journal.set_meta(super::run::CANCEL_REQUEST, "");
    if let Some(chunks) = incomplete(&journal)? {
        // Every chunk finished, but answers lacked cells: what the journal's chunks hold is stored, and a new
        // plan computes what the store still lacks.
        drop(journal);
        let why = format!("the answers of {chunks} chunk(s) of the last run lacked cells");
        settle_previous(g, &p, &a, &jpath, &spath, &why)?;
        journal = set_aside(&jpath)?;
        // Asked once more: cells its answers lack too are left to the fetch to report, not asked for again.
        journal.set_meta(REPLANNED, "1").map_err(jerr)?;
    }
    let planned = journal.has_plan().map_err(jerr)?;
    let Ready { start, probe } = if planned {
        g.summarize(&warnings, &a.file);
        // Every planned chunk already succeeded (a rerun of an unchanged pipeline): the table is assembled
        // from the store (the fetch stores any chunk not stored yet).
        if journal.finished().map_err(jerr)? {
            if !g.quiet {
                eprintln!("nothing to compute: every planned chunk succeeded");
            }
            drop(journal);
            return if a.no_fetch { Ok(exit::OK) } else { fetch_results(g, &a.file, a.exec.journal.clone()) };
        }
        let fresh = journal.meta(FRESH).ok().flatten();
        let z = zonal(&p, fresh.as_deref()).map_err(Error::Diagnostics)?;
        let mut start = super::run::resumed_start(&p, &journal);
        start.planner = Arc::new(SitePlanner::lazy(z));
        Ready { start, probe: None }
    } else {
        let planned = plan(g, &p, warnings, &a, &mut journal, &spath);
        if let Err(e) = planned {
            // Refused before anything was planned (a site file with errors, `--detach` of an interactive run):
            // no journal is left behind.
            drop(journal);
            let _ = Journal::discard_unplanned(&jpath);
            return Err(e);
        }
        match planned? {
            Some(ready) => ready,
            None => {
                if !g.quiet {
                    eprintln!("nothing to compute: every cell the table needs is stored");
                }
                drop(journal);
                return if a.no_fetch { Ok(exit::OK) } else { fetch_results(g, &a.file, a.exec.journal.clone()) };
            }
        }
    };
    if a.detach && start.mode == RunMode::Interactive {
        return Err(super::run::detach_interactive());
    }
    let interactive = start.mode == RunMode::Interactive;
    let settings = Settings { detach: a.detach, ..settings(&p, &a.exec) };
    let outcome = drive(g, &p, &a.exec, journal, start, settings, probe).inspect_err(|_| {
        // A plan whose probe failed, or that never started (no credentials, Ctrl-C), is made (and probed)
        // again by the next run; a journal with nothing in it is removed, so `status` and `fetch` say nothing
        // was run rather than "0 chunks".
        if let Ok(mut j) = Journal::open(&jpath, &p.name, &p.content_hash) {
            let _ = j.drop_unsent_plan();
        }
        let _ = Journal::discard_unplanned(&jpath);
    })?;
    let code = report(g, &outcome, &a.file, &jpath, interactive);
    if code == exit::OK && !outcome.detached && !a.no_fetch {
        return fetch_results(g, &a.file, a.exec.journal.clone());
    }
    Ok(code)
}

/// A journal planned for the cells the answers of the one before lacked (see [`incomplete`]).
const REPLANNED: &str = "replanned_incomplete";

/// How many chunks of the journal's finished plan had answers that lacked cells, when every chunk of it
/// finished (`None`: the plan is not finished, nothing was lacking, or the plan already asked again for
/// cells answers lacked: what Earth Engine leaves out twice is reported by the fetch, not asked for at every
/// run).
fn incomplete(journal: &Journal) -> error::Result<Option<usize>> {
    let listed = journal.meta(crate::executor::interactive::INCOMPLETE)?.unwrap_or_default();
    let n = listed.split(' ').filter(|c| !c.is_empty()).count();
    if n == 0 || journal.meta(REPLANNED)?.is_some() || !journal.has_plan()? {
        return Ok(None);
    }
    Ok(journal.finished()?.then_some(n))
}

/// What a run starts from: how it runs, and the probe of a new batch plan.
struct Ready {
    start: super::run::Start,
    probe: Option<ProbeCall>,
}

/// Plans what the store lacks into the new journal: decides the mode from that work (batch for `mode:
/// batch`), records it, and says what is stored and what will be computed. `None`: nothing is to compute (the run then fetches).
fn plan(
    g: &Global,
    p: &Pipeline,
    warnings: Vec<Diagnostic>,
    a: &super::RunArgs,
    journal: &mut Journal,
    spath: &Path,
) -> error::Result<Option<Ready>> {
    let with_warnings = |e: Error| match e {
        Error::Diagnostics(d) => Error::Diagnostics([warnings.clone(), d].concat()),
        e => e,
    };
    let jerr = |e| super::run::journal_error(e, &a.file);
    let store = open_store(spath)?;
    let nonce = a.fresh.then(|| format!("{:.6}", crate::store::now()));
    let z = zonal(p, nonce.as_deref()).map_err(|d| with_warnings(Error::Diagnostics(d)))?;
    let binding = store.bind(&z.model, true).map_err(super::incremental::store_error)?;
    let (z, decision) = decide(z, (!a.fresh).then_some(&store), Some(&binding)).map_err(with_warnings)?;
    if a.detach && decision.mode == RunMode::Interactive {
        return Err(super::run::detach_interactive());
    }
    if let Some(n) = &nonce {
        journal.set_meta(FRESH, n).map_err(jerr)?;
    }
    let probe_sites = (decision.mode == RunMode::Batch && !a.no_probe).then_some(crate::probe::SITES);
    let planned = plan_into_journal(z, &store, a.fresh, journal, probe_sites, decision.mode).map_err(with_warnings)?;
    let reason = if decision.auto { format!("auto: {}", decision.reason) } else { decision.reason.clone() };
    let _ = journal.set_meta("mode", decision.mode.as_str());
    let _ = journal.set_meta("mode_reason", &reason);
    g.summarize(&[warnings, planned.warnings].concat(), &a.file);
    // A first run (nothing stored) has nothing to say about the store.
    if planned.counts.stored() > 0 || !planned.explanations.is_empty() {
        print_counts(g, &planned.counts, &planned.explanations, false);
    }
    if planned.chunks == 0 {
        return Ok(None);
    }
    let start = super::run::Start {
        tasks: None,
        planner: planned.planner as Arc<dyn ChunkPlanner>,
        mode: decision.mode,
        reason,
        auto: decision.auto,
    };
    Ok(Some(Ready { start, probe: planned.probe }))
}

/// Before a new plan replaces the journal (`why`: the pipeline changed, or answers lacked cells): the
/// previous journal's finished chunks are stored, and its chunks still on Earth Engine stop the run (their
/// work would be lost or repeated).
fn settle_previous(
    g: &Global,
    p: &Pipeline,
    a: &super::RunArgs,
    jpath: &Path,
    spath: &Path,
    why: &str,
) -> error::Result<()> {
    let j = Journal::open_read(jpath)?;
    // An interactive chunk left `running` by a killed run has no work on Earth Engine: its answer is lost.
    let active: Vec<String> = j
        .chunks_slim()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.state.is_active() && r.mode == RunMode::Batch)
        .map(|r| r.chunk_id)
        .collect();
    if !active.is_empty() {
        let shown: Vec<&str> = active.iter().take(10).map(String::as_str).collect();
        return Err(Error::Environment(format!(
            "the journal {} was made by a different version of this pipeline (pipeline or site file changed \
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
        )));
    }
    let mut store = open_store(spath)?;
    let fa = super::results::FetchArgs {
        file: a.file.clone(),
        output: None,
        partial: true,
        journal: a.exec.journal.clone(),
    };
    super::fetch_store::store_previous(g, &fa, p, &j, &mut store)?;
    if !g.quiet {
        eprintln!("{why}: planning what the results store lacks");
    }
    Ok(())
}
