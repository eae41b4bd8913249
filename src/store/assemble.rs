//! The table, assembled from the store for the pipeline as it is now: its sites (read again from the site
//! file, in file order, with their kept properties and geometry as the file has them today), its layers
//! and its years. The stored values never change, and everything else comes from the pipeline and the site
//! file, so the same inputs give a byte-identical table whatever was computed when, in what chunks.
//!
//! A site is written only when every cell it needs is stored under its current geometry; otherwise it is
//! reported missing (and the table is not written unless `partial`). Records follow the same rules as the
//! merge of export files ([`crate::results::merge`]): classes named from the current legend, no record for
//! years before a site's first year, a layer-year whose values are all empty is one `nodata` record.

use super::{Binding, CellValue, Store, StoreError};
use crate::pipeline::{LayerKind, Pipeline};
use crate::plan::cells::{self, CellModel};
use crate::results::assemble::{site_geometry, Assembled, Assembler};
use crate::results::table::{SiteResult, TableError, TableSpec};
use crate::results::{Measure, Record};
use crate::sites::Site;

/// Sites listed by name in a report, at most.
pub const LISTED: usize = 1000;

/// What assembling found.
#[derive(Default)]
pub struct FromStore {
    /// The table written and what it holds; `None` when it was not written (sites missing and not
    /// `partial`).
    pub assembled: Option<Assembled>,
    /// Sites lacking stored cells (the first [`LISTED`]) and how many in all.
    pub missing: Vec<String>,
    pub missing_count: usize,
}

/// Why the table could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("cannot read the site file: {0}")]
    Sites(String),
}

/// The records of one site from its stored values (`None` when a needed cell is missing).
pub fn records(
    pipeline: &Pipeline,
    model: &CellModel,
    site: &Site,
    values: &[Option<CellValue>],
) -> Option<Vec<Record>> {
    let first = site.first_year(&pipeline.sites);
    let mut out = Vec::new();
    for (li, lc) in model.layers.iter().enumerate() {
        let layer = &pipeline.layers[lc.layer];
        for &year in &lc.years {
            if first.is_some_and(|f| year < f) {
                continue;
            }
            let slot = lc.slot_of(year)?;
            let rec = |measure| Record { site: site.id.clone(), layer: layer.name.clone(), year, measure };
            match layer.kind {
                LayerKind::Categorical => match values[model.index(li, slot, 0)].as_ref()? {
                    CellValue::Classes(c) if c.is_empty() => out.push(rec(Measure::NoData)),
                    CellValue::Classes(c) => {
                        for &(code, area_ha, pixels) in c {
                            let name = layer.legend.iter().find(|e| e.code == code).map(|e| e.name.clone());
                            out.push(rec(Measure::Class { code, name, area_ha, pixels }));
                        }
                    }
                    CellValue::Number(_) => return None,
                },
                LayerKind::Continuous => {
                    let mut stats = Vec::new();
                    for (mi, m) in lc.measures.iter().enumerate() {
                        let Some((band, stat)) = cells::split_measure(m) else { continue };
                        let value = match values[model.index(li, slot, mi)].as_ref()? {
                            CellValue::Number(v) => *v,
                            CellValue::Classes(_) => return None,
                        };
                        stats.push(Measure::Stat { band: band.to_string(), stat: stat.to_string(), value });
                    }
                    if stats.iter().all(|m| matches!(m, Measure::Stat { value: None, .. })) {
                        out.push(rec(Measure::NoData));
                    } else {
                        out.extend(stats.into_iter().map(rec));
                    }
                }
            }
        }
    }
    Some(out)
}

/// Writes the table of `pipeline` at `path` from the store (see the module doc), through the
/// [`Assembler`] that the merge of export files and the local engine use too.
pub fn table(
    store: &Store,
    binding: &Binding,
    model: &CellModel,
    pipeline: &Pipeline,
    spec: TableSpec,
    path: &std::path::Path,
    partial: bool,
) -> Result<FromStore, AssembleError> {
    let mut out = FromStore::default();
    let with_geometry = Assembler::with_geometry(&spec);
    let mut writer = Assembler::create(pipeline, spec, path)?;
    let mut failure: Option<AssembleError> = None;
    let n = model.cells_per_site();
    let mut values: Vec<Option<CellValue>> = vec![None; n];
    let scanned = crate::sites::for_each(&pipeline.sites, |site| {
        let step = || -> Result<(), AssembleError> {
            values.iter_mut().for_each(|v| *v = None);
            let geom = cells::site_key(&site);
            for (i, v) in store.site_cells(binding, model, &site.id, &geom, true)?.values {
                values[i] = Some(v);
            }
            let Some(records) = records(pipeline, model, &site, &values) else {
                if out.missing.len() < LISTED {
                    out.missing.push(site.id.clone());
                }
                out.missing_count += 1;
                return Ok(());
            };
            let geometry = with_geometry.then(|| site_geometry(&site));
            writer.push(SiteResult { id: site.id.clone(), properties: site.properties, geometry, records })?;
            Ok(())
        };
        match step() {
            Ok(()) => Ok(()),
            Err(e) => {
                let d = crate::diag::Diagnostic::error(crate::diag::Code::SitesRead, e.to_string());
                failure = Some(e);
                Err(d)
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if let Err(diags) = scanned {
        let msg = diags.iter().find(|d| d.is_error()).map(|d| d.message.clone()).unwrap_or_default();
        return Err(AssembleError::Sites(msg));
    }
    if out.missing_count > 0 && !partial {
        // Dropping the writer removes its temporary file: the previous table stays.
        drop(writer);
        return Ok(out);
    }
    out.assembled = Some(writer.finish()?);
    Ok(out)
}
