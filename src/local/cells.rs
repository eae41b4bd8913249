//! The local engine's cells ([`crate::plan::cells`]): each layer-year is one raster, so its expression key
//! covers the raster (its path, size and modification time: a replaced file is a new expression), the mask
//! raster, the no-data values, the bands and [`COMPUTE_VERSION`]. Values computed here are stored with a
//! `local` origin, and a site's layer-years that are stored already are not computed again.

use sha2::{Digest, Sha256};

use super::compute::Out;
use super::geotiff::GeoTiff;
use super::open::Source;
use crate::pipeline::{Engine, LayerKind, Pipeline};
use crate::plan::cells::{self, CellModel, CellSet, Key, LayerCells, Slot, COMPUTE_VERSION};
use crate::store::{CellValue, StoreError, Writer};

/// What identifies a raster's contents without reading it: its path, size and modification time.
fn identity(r: &GeoTiff) -> serde_json::Value {
    let modified = std::fs::metadata(&r.path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().to_string());
    serde_json::json!({"path": r.path.display().to_string(), "bytes": r.bytes, "modified": modified})
}

/// The cell model of a local run, and for each source its (model layer, slot).
pub fn model(p: &Pipeline, sources: &[Source]) -> (CellModel, Vec<(usize, usize)>) {
    let mut layers = Vec::new();
    let mut place = vec![(0, 0); sources.len()];
    for (li, l) in p.layers.iter().enumerate() {
        let mut slots = Vec::new();
        let mut mine: Vec<usize> = (0..sources.len()).filter(|&i| sources[i].layer == li).collect();
        mine.sort_by_key(|&i| sources[i].year);
        for &i in &mine {
            let s = &sources[i];
            let detail = cells::canonical_json(&serde_json::json!({
                "engine": "local",
                "compute_version": COMPUTE_VERSION,
                "kind": format!("{:?}", l.kind).to_lowercase(),
                "raster": identity(&s.raster),
                "mask": s.mask.as_ref().map(|m| identity(m)),
                "mask_valid": l.nodata.mask.as_ref().map(|m| m.valid.clone()),
                "nodata": l.nodata.values,
                "bands": l.bands,
            }));
            let mut h = Sha256::new();
            h.update(b"geepipe cell\0");
            h.update(detail.as_bytes());
            let full = h.finalize();
            let mut key: Key = [0; 16];
            key.copy_from_slice(&full[..16]);
            place[i] = (layers.len(), slots.len());
            slots.push(Slot { year: s.year, key, detail });
        }
        layers.push(LayerCells {
            layer: li,
            name: l.name.clone(),
            kind: l.kind,
            is_static: false,
            years: l.years.clone(),
            slots,
            measures: cells::measures(l.kind, &l.bands, &l.stats),
        });
    }
    (CellModel::new(Engine::Local, layers), place)
}

/// Which sources a site lacking `missing` must compute.
pub fn sources_for(model: &CellModel, place: &[(usize, usize)], missing: &CellSet) -> Vec<bool> {
    place
        .iter()
        .map(|&(l, s)| (0..model.layers[l].measures.len()).any(|m| missing.contains(model.index(l, s, m))))
        .collect()
}

/// Stores a site's results (only the cells in `missing`); returns the cells written.
#[allow(clippy::too_many_arguments)]
pub fn store_site(
    w: &mut Writer<'_>,
    model: &CellModel,
    place: &[(usize, usize)],
    exprs: &[i64],
    site_id: &str,
    geom: &Key,
    missing: &CellSet,
    outs: &[Out],
    origin: i64,
) -> Result<u64, StoreError> {
    let mut classes: std::collections::BTreeMap<u32, Vec<(i64, f64, f64)>> = Default::default();
    let mut values: Vec<(usize, CellValue)> = Vec::new();
    for o in outs {
        match *o {
            Out::NoData { source } => {
                let (l, s) = place[source as usize];
                match model.layers[l].kind {
                    LayerKind::Categorical => {
                        classes.entry(source).or_default();
                    }
                    LayerKind::Continuous => {
                        for m in 0..model.layers[l].measures.len() {
                            values.push((model.index(l, s, m), CellValue::Number(None)));
                        }
                    }
                }
            }
            Out::Class { source, code, area_ha, pixels } => {
                classes.entry(source).or_default().push((code, area_ha, pixels))
            }
            Out::Stat { source, band, stat, value } => {
                let (l, s) = place[source as usize];
                // Measures are band-major: band × statistics + statistic.
                let per_band = count_stats(&model.layers[l]);
                let m = usize::from(band) * per_band + usize::from(stat);
                values.push((model.index(l, s, m), CellValue::Number(value)));
            }
        }
    }
    for (source, mut c) in classes {
        let (l, s) = place[source as usize];
        c.sort_by_key(|x| x.0);
        values.push((model.index(l, s, 0), CellValue::Classes(c)));
    }
    let site = w.site(site_id, geom)?;
    let mut written = 0;
    for (i, v) in values {
        if !missing.contains(i) {
            continue;
        }
        let (l, s, m) = model.locate(i);
        let expr = exprs[slot_base(model, l) + s];
        if w.cell(site, expr, &model.layers[l].measures[m], &v, origin)? {
            written += 1;
        }
    }
    Ok(written)
}

/// Statistics per band of a continuous layer (its measures are band × statistic).
fn count_stats(l: &LayerCells) -> usize {
    let bands: std::collections::BTreeSet<&str> =
        l.measures.iter().filter_map(|m| cells::split_measure(m).map(|(b, _)| b)).collect();
    (l.measures.len() / bands.len().max(1)).max(1)
}

/// Index of a layer's first slot in the flat list of expression rows.
fn slot_base(model: &CellModel, layer: usize) -> usize {
    model.layers[..layer].iter().map(|l| l.slots.len()).sum()
}

/// The expression rows of every (layer, slot), flat in layer then slot order.
pub fn expr_rows(model: &CellModel, b: &crate::store::Binding) -> Vec<i64> {
    let mut out = Vec::new();
    for (l, lc) in model.layers.iter().enumerate() {
        for s in 0..lc.slots.len() {
            out.push(b.expr(l, s));
        }
    }
    out
}
