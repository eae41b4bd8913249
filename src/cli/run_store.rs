//! `geepipe run` of a pipeline run through the results store ([`super::incremental`]): plans what the store
//! lacks into the journal (or resumes that plan), drives the executor, and assembles the table from the store.
//! When the pipeline or its site file changed since the journal was written, the previous journal's finished
//! chunks are stored first and a new plan computes only what is still missing; chunks still running on Earth
//! Engine stop the run instead (their work would be lost or repeated).

use std::path::Path;
use std::sync::Arc;

use super::incremental::{batch_decision, open_store, plan_into_journal, print_counts, zonal, SitePlanner, FRESH};
use super::Global;
use crate::diag::Diagnostic;
use crate::error::{self, Error};
use crate::journal::{ChunkState, Journal};
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
    let mut journal = match Journal::open(&jpath, &p.name, &p.content_hash) {
        Ok(j) => j,
        Err(JournalError::Changed { .. }) => {
            // The pipeline or its sites changed: the last run's results are kept in the store, so a new plan
            // computes what the store lacks. Chunks still running on Earth Engine are not abandoned.
            settle_previous(g, &p, &a, &jpath, &spath)?;
            Journal::move_aside(&jpath).and_then(|_| Journal::open(&jpath, &p.name, &p.content_hash)).map_err(jerr)?
        }
        Err(e) => return Err(jerr(e)),
    };
    let _ = journal.set_meta(super::run::CANCEL_REQUEST, "");
    let planned = journal.has_plan().map_err(jerr)?;
    let (planner, probe): (Arc<dyn ChunkPlanner>, Option<ProbeCall>) = if planned {
        g.summarize(&warnings, &a.file);
        // Every planned chunk already succeeded (a rerun of an unchanged pipeline): the table is assembled
        // from the store (the fetch stores any chunk not stored yet).
        let rows = journal.chunks_slim().map_err(jerr)?;
        if rows.iter().all(|r| r.state == ChunkState::Succeeded || r.state == ChunkState::Split) {
            if !g.quiet {
                eprintln!("nothing to compute: every planned chunk succeeded");
            }
            drop(journal);
            return if a.no_fetch { Ok(exit::OK) } else { fetch_results(g, &a.file, a.exec.journal.clone()) };
        }
        let fresh = journal.meta(FRESH).ok().flatten();
        let z = zonal(&p, fresh.as_deref()).map_err(Error::Diagnostics)?;
        (Arc::new(SitePlanner::lazy(z)), None)
    } else {
        let store = open_store(&spath)?;
        let nonce = a.fresh.then(|| format!("{:.6}", crate::store::now()));
        if let Some(n) = &nonce {
            journal.set_meta(FRESH, n).map_err(jerr)?;
        }
        let z = zonal(&p, nonce.as_deref()).map_err(|d| Error::Diagnostics([warnings.clone(), d].concat()))?;
        let probe_sites = (!a.no_probe).then_some(crate::probe::SITES);
        let planned = plan_into_journal(z, &store, a.fresh, &mut journal, probe_sites).map_err(|e| match e {
            Error::Diagnostics(d) => Error::Diagnostics([warnings.clone(), d].concat()),
            e => e,
        })?;
        g.summarize(&[warnings, planned.warnings].concat(), &a.file);
        print_counts(g, &planned.counts, &planned.explanations, false);
        if planned.chunks == 0 {
            if !g.quiet {
                eprintln!("nothing to compute: every cell the table needs is stored");
            }
            drop(journal);
            return if a.no_fetch { Ok(exit::OK) } else { fetch_results(g, &a.file, a.exec.journal.clone()) };
        }
        (planned.planner as Arc<dyn ChunkPlanner>, planned.probe)
    };
    let settings = Settings { detach: a.detach, ..settings(&p, &a.exec) };
    let probed = probe.is_some();
    let start =
        super::run::Start { tasks: None, planner, mode: RunMode::Batch, reason: batch_decision().reason, auto: false };
    let outcome = drive(g, &p, &a.exec, journal, start, settings, probe).inspect_err(|_| {
        // A plan whose probe failed (or that never started) is made and probed again by the next run.
        if probed {
            if let Ok(mut j) = Journal::open(&jpath, &p.name, &p.content_hash) {
                let _ = j.drop_unsent_plan();
            }
        }
    })?;
    let code = report(g, &outcome, &a.file, &jpath, false);
    if code == exit::OK && !outcome.detached && !a.no_fetch {
        return fetch_results(g, &a.file, a.exec.journal.clone());
    }
    Ok(code)
}

/// Before a changed pipeline is planned: the previous journal's finished chunks are stored, and its chunks
/// still on Earth Engine stop the run (their work would be lost or repeated).
fn settle_previous(g: &Global, p: &Pipeline, a: &super::RunArgs, jpath: &Path, spath: &Path) -> error::Result<()> {
    let j = Journal::open_read(jpath)?;
    let active: Vec<String> =
        j.chunks_slim().unwrap_or_default().into_iter().filter(|r| r.state.is_active()).map(|r| r.chunk_id).collect();
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
        eprintln!("the pipeline changed since the last run: planning what the results store lacks");
    }
    Ok(())
}
