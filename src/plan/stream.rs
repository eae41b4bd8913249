//! Planning a zonal site file as a stream: one pass over the sites checks every feature (the same
//! diagnostics as `validate`), asks which of each site's cells are stored, and hands the sites that lack
//! some to the [`Chunker`], whose closed chunks go straight to the caller (written to the journal, or as
//! request bodies to `plan --out`). Only the chunks being filled are in memory, never all sites or bodies.
//!
//! The file is read and checked on a thread of its own, handing sites over a bounded channel, so reading
//! and planning use two cores.
//!
//! It also counts, per layer, the cells the table needs that are stored and those to compute, and the sites
//! whose id is stored with another geometry (edited polygons: their old cells are not used).

use super::cells::{self, CellCounts, CellSet, Key, LayerCount};
use super::zonal::{Chunker, PlannedChunk, Zonal};
use crate::diag::{Code, Diagnostic};
use crate::sites::Site;

/// Sites handed from the reading thread to the planner at once: one channel message (and at most one
/// wake-up of the other thread) per batch rather than per site.
const SITES_PER_BATCH: usize = 256;
/// Batches read but not planned yet, at most (with the one being filled: about 1,300 sites in memory).
const BATCHES_IN_FLIGHT: usize = 4;

/// Why streaming stopped.
#[derive(Debug)]
pub enum StreamError<E> {
    /// The site file (or a site too large for one request) has problems: every one of them.
    Input(Vec<Diagnostic>),
    /// The caller's `lookup` or `emit` failed (the store could not be read, a chunk could not be written).
    Stopped(E),
}

/// Plans the pipeline's site file (see the module doc). `lookup` marks the cells stored for a site and
/// says whether its id is stored with another geometry; `emit` takes each closed chunk. Returns the counts
/// and the site file's warnings.
pub fn plan_sites<E: std::fmt::Display>(
    zonal: &Zonal,
    mut lookup: impl FnMut(&Site, &Key, &mut CellSet) -> Result<bool, E>,
    mut emit: impl FnMut(PlannedChunk) -> Result<(), E>,
) -> Result<(CellCounts, Vec<Diagnostic>), StreamError<E>> {
    let model = &zonal.model;
    let n = model.cells_per_site();
    let layer_of: Vec<usize> = (0..n).map(|i| model.locate(i).0).collect();
    let mut counts = CellCounts {
        layers: model.layers.iter().map(|l| LayerCount { layer: l.name.clone(), ..LayerCount::default() }).collect(),
        ..CellCounts::default()
    };
    let mut chunker = Chunker::new(zonal);
    let mut have = CellSet::new(n);
    let mut stopped: Option<E> = None;
    let p = &zonal.pipeline;
    // The site file is read and checked on its own thread while this one plans what it hands over (the
    // caller's store and journal stay on this thread): reading is most of the work, so on two cores the
    // plan is ready about when the file is read. A bounded channel keeps memory to a few chunks.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Site>>(BATCHES_IN_FLIGHT);
    let report = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut batch = Vec::with_capacity(SITES_PER_BATCH);
            let report = crate::sites::scan(&p.sites, |site| {
                batch.push(site);
                if batch.len() < SITES_PER_BATCH {
                    return Ok(());
                }
                let full = std::mem::replace(&mut batch, Vec::with_capacity(SITES_PER_BATCH));
                // The planner stopped (its store or journal failed): stop reading.
                tx.send(full).map_err(|_| Diagnostic::error(Code::SitesRead, "planning stopped"))
            });
            if !batch.is_empty() {
                // A planner that stopped has its own error to report.
                let _ = tx.send(batch);
            }
            report
        });
        let mut step = |site: Site, counts: &mut CellCounts, have: &mut CellSet| -> Result<(), E> {
            let key = cells::site_key(&site);
            let needed = model.needed(site.first_year(&p.sites));
            have.clear();
            if lookup(&site, &key, have)? {
                counts.changed_geometry += 1;
            }
            let missing = needed.minus(have);
            counts.sites += 1;
            for (i, &l) in layer_of.iter().enumerate() {
                if needed.contains(i) {
                    if have.contains(i) {
                        counts.layers[l].stored += 1;
                    } else {
                        counts.layers[l].to_compute += 1;
                    }
                }
            }
            if !missing.is_empty() {
                counts.sites_to_compute += 1;
            }
            chunker.push_keyed(site, key, missing, &mut emit)
        };
        'batches: for batch in rx.iter() {
            for site in batch {
                if let Err(e) = step(site, &mut counts, &mut have) {
                    stopped = Some(e);
                    break 'batches;
                }
            }
        }
        // Dropping the receiver ends the reader at its next site.
        drop(rx);
        reader.join().unwrap_or_else(|_| crate::sites::Report {
            summary: Default::default(),
            diagnostics: vec![Diagnostic::error(Code::SitesRead, "reading the site file failed unexpectedly")],
        })
    });
    if let Some(e) = stopped {
        return Err(StreamError::Stopped(e));
    }
    if report.has_errors() {
        return Err(StreamError::Input(report.diagnostics));
    }
    let oversized = chunker.finish(&mut emit).map_err(StreamError::Stopped)?;
    if !oversized.is_empty() {
        let budget = p.chunks.max_request_bytes;
        return Err(StreamError::Input(
            oversized.iter().map(|o| super::zonal::oversized(p, &o.site, o.bytes, budget)).collect(),
        ));
    }
    Ok((counts, report.diagnostics))
}
