//! Planning a zonal site file as a stream: one pass over the sites checks every feature (the same
//! diagnostics as `validate`), asks which of each site's cells are stored, and hands the sites that lack
//! some to the [`Chunker`], whose closed chunks go straight to the caller (written to the journal, or as
//! request bodies to `plan --out`). Only the chunks being filled are in memory, never all sites or bodies.
//!
//! It also counts, per layer, the cells the table needs that are stored and those to compute, and the sites
//! whose id is stored with another geometry (edited polygons: their old cells are not used).

use serde::Serialize;

use super::cells::{self, CellSet, Key};
use super::zonal::{Chunker, PlannedChunk, Zonal};
use crate::diag::{Code, Diagnostic};
use crate::sites::Site;

/// The cells of one layer the table needs: stored, and to compute.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LayerCells {
    pub layer: String,
    pub stored: u64,
    pub to_compute: u64,
}

/// What the table needs and what is stored.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CellCounts {
    pub sites: u64,
    /// Sites lacking at least one cell.
    pub sites_to_compute: u64,
    /// Sites whose id is stored with another geometry.
    pub changed_geometry: u64,
    pub layers: Vec<LayerCells>,
}

impl CellCounts {
    pub fn stored(&self) -> u64 {
        self.layers.iter().map(|l| l.stored).sum()
    }
    pub fn to_compute(&self) -> u64 {
        self.layers.iter().map(|l| l.to_compute).sum()
    }

    /// One line per layer: `name: N stored, M to compute`.
    pub fn lines(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|l| format!("{}: {} cells stored, {} to compute", l.layer, l.stored, l.to_compute))
            .collect()
    }
}

/// Why streaming stopped.
#[derive(Debug)]
pub enum StreamError {
    /// The site file (or a site too large for one request) has problems: every one of them.
    Input(Vec<Diagnostic>),
    /// The store could not be read, or a chunk could not be written.
    Stopped(String),
}

/// Plans the pipeline's site file (see the module doc). `lookup` marks the cells stored for a site and
/// says whether its id is stored with another geometry; `emit` takes each closed chunk. Returns the counts
/// and the site file's warnings.
pub fn plan_sites(
    zonal: &Zonal,
    mut lookup: impl FnMut(&Site, &Key, &mut CellSet) -> Result<bool, String>,
    mut emit: impl FnMut(PlannedChunk) -> Result<(), String>,
) -> Result<(CellCounts, Vec<Diagnostic>), StreamError> {
    let model = &zonal.model;
    let n = model.cells_per_site();
    let layer_of: Vec<usize> = (0..n).map(|i| model.locate(i).0).collect();
    let mut counts = CellCounts {
        layers: model.layers.iter().map(|l| LayerCells { layer: l.name.clone(), ..LayerCells::default() }).collect(),
        ..CellCounts::default()
    };
    let mut chunker = Chunker::new(zonal);
    let mut have = CellSet::new(n);
    let mut stopped: Option<String> = None;
    let p = &zonal.pipeline;
    let report = crate::sites::scan(&p.sites, |site| {
        let mut step = |site: Site, counts: &mut CellCounts, have: &mut CellSet| -> Result<(), String> {
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
            chunker.push(site, missing, &mut emit)
        };
        step(site, &mut counts, &mut have).map_err(|e| {
            stopped = Some(e.clone());
            Diagnostic::error(Code::SitesRead, e)
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
            oversized.iter().map(|o| super::planner::oversized(p, &o.site, o.bytes, budget)).collect(),
        ));
    }
    Ok((counts, report.diagnostics))
}
