//! Storing what comes back: the rows of a chunk's export file (batch), of its `table:computeFeatures`
//! answer (interactive: the same rows, parsed into the same [`ExportTable`]) or the local engine's results
//! become stored cells, with their origin.
//!
//! A row is taken for a site of the chunk it belongs to (ids compared exactly, or numerically: `12` and
//! `12.0` are the same id); a chunk's parts say which columns hold which cells ([`crate::plan::cells::Part`]),
//! so only what the chunk computed is stored. A categorical cell combines the `__ha` and `__px` columns of its
//! year (a class missing from one gets 0 there; both empty or `{}`: no valid pixel); a statistic is a number
//! or empty (no data). A site without a row, or whose row has an unreadable cell, stores nothing and is
//! reported (it stays missing and is computed again by the next run), never stored wrong.

use std::collections::HashMap;

use super::{CellValue, Origin, StoreError, Writer};
use crate::pipeline::{LayerKind, Pipeline};
use crate::plan::cells::{split_measure, Part};
use crate::plan::columns::{area_column, pixels_column, stat_column};
use crate::plan::zonal::ChunkCells;
use crate::results::eecsv::{Cell, CellError, ExportTable};
use crate::results::merge::Missing;

/// A chunk whose results are stored.
#[derive(Debug, Clone)]
pub struct ChunkRows<'a> {
    pub chunk_id: &'a str,
    /// Site ids in chunk order.
    pub site_ids: &'a [String],
    pub cells: &'a ChunkCells,
    /// How the user knows where the rows came from (`gs://…`, a request).
    pub source: &'a str,
}

/// What storing a chunk's rows did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ingested {
    /// Cells written (cells stored already are not counted).
    pub written: u64,
    /// Sites whose cells were all read.
    pub sites: usize,
    /// Sites with at least one value (a class, or a statistic that is not empty).
    pub sites_with_values: usize,
    pub missing: Vec<Missing>,
    pub notes: Vec<String>,
}

/// The numeric form of an id (`12.0` → `12`), for ids that went through a number column.
pub fn numeric_id(s: &str) -> Option<String> {
    let f: f64 = s.trim().parse().ok()?;
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(format!("{}", f as i64))
    } else {
        None
    }
}

/// One cell read from a row: (part, year index, measure, value).
type RowCell = (usize, usize, String, CellValue);

/// The cells a row holds for the chunk's parts, or the first column that cannot be read (its name and why).
fn read_row(parts: &[Part], cell: &dyn Fn(&str) -> Cell) -> Result<Vec<RowCell>, (String, CellError)> {
    let mut out = Vec::new();
    for (pi, part) in parts.iter().enumerate() {
        let kind =
            if part.measures.iter().all(|m| m.is_empty()) { LayerKind::Categorical } else { LayerKind::Continuous };
        let name = &part.name;
        for (yi, &year) in part.years.iter().enumerate() {
            let col_year = part.column_year.unwrap_or(year);
            match kind {
                LayerKind::Categorical => {
                    let (ha_name, px_name) = (area_column(name, col_year), pixels_column(name, col_year));
                    let ha = cell(&ha_name).class_map().map_err(|e| (ha_name.clone(), e))?;
                    let px = cell(&px_name).class_map().map_err(|e| (px_name.clone(), e))?;
                    let mut classes: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
                    for (code, v) in ha.unwrap_or_default() {
                        classes.entry(code).or_default().0 = v;
                    }
                    for (code, v) in px.unwrap_or_default() {
                        classes.entry(code).or_default().1 = v;
                    }
                    let v = CellValue::Classes(classes.into_iter().map(|(c, (h, p))| (c, h, p)).collect());
                    for m in &part.measures {
                        out.push((pi, yi, m.clone(), v.clone()));
                    }
                }
                LayerKind::Continuous => {
                    for m in &part.measures {
                        let Some((band, stat)) = split_measure(m) else { continue };
                        let column = stat_column(name, col_year, band, stat);
                        let v = cell(&column).number().map_err(|e| (column.clone(), e))?;
                        out.push((pi, yi, m.clone(), CellValue::Number(v)));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Stores the rows of one chunk's file(s) (see the module doc) under a new origin.
pub fn rows(
    w: &mut Writer<'_>,
    pipeline: &Pipeline,
    chunk: &ChunkRows<'_>,
    table: &ExportTable,
    origin: &Origin,
) -> Result<Ingested, StoreError> {
    let origin_id = w.origin(origin)?;
    let out = rows_under(w, pipeline, chunk, table, origin_id)?;
    w.finish_origin(origin_id, out.written)?;
    Ok(out)
}

/// Stores one finished chunk's rows once (see the module doc of [`super`]): in one transaction, unless
/// values of its origin (`origin.operation`) are stored already; `keep` sees what the rows held and says
/// whether to commit them. `None`: stored already, or not kept (nothing written).
pub fn once(
    store: &mut super::Store,
    replace: bool,
    pipeline: &Pipeline,
    chunk: &ChunkRows<'_>,
    table: &ExportTable,
    origin: &Origin,
    keep: impl FnOnce(&Ingested) -> bool,
) -> Result<Option<Ingested>, StoreError> {
    let mut w = store.writer(replace)?;
    if let Some(op) = &origin.operation {
        if w.has_origin(op)? {
            return Ok(None);
        }
    }
    let out = rows(&mut w, pipeline, chunk, table, origin)?;
    if !keep(&out) {
        // Dropping the writer rolls its transaction back.
        return Ok(None);
    }
    w.commit()?;
    Ok(Some(out))
}

/// The rows of several files of one export (a sharded export) as one table: the columns of all of them
/// (by name), every row.
pub fn concat(tables: Vec<ExportTable>) -> ExportTable {
    let mut tables = tables.into_iter();
    let Some(mut out) = tables.next() else { return ExportTable::default() };
    for t in tables {
        if t.columns == out.columns {
            out.rows.extend(t.rows);
            continue;
        }
        for c in &t.columns {
            if !out.columns.contains(c) {
                out.columns.push(c.clone());
                for (_, cells) in out.rows.iter_mut() {
                    cells.push(Cell::Empty);
                }
            }
        }
        let map: Vec<Option<usize>> = out.columns.iter().map(|c| t.column(c)).collect();
        for (line, cells) in t.rows {
            out.rows.push((line, map.iter().map(|m| m.map(|i| cells[i].clone()).unwrap_or(Cell::Empty)).collect()));
        }
    }
    out
}

/// [`rows`] under an existing origin (its cell count is left to the caller).
pub fn rows_under(
    w: &mut Writer<'_>,
    pipeline: &Pipeline,
    chunk: &ChunkRows<'_>,
    table: &ExportTable,
    origin_id: i64,
) -> Result<Ingested, StoreError> {
    let mut out = Ingested::default();
    let id_col = &pipeline.sites.id_property;
    let Some(idx) = table.column(id_col) else {
        if !table.rows.is_empty() || !table.columns.is_empty() {
            out.missing.push(Missing::File {
                chunk_id: chunk.chunk_id.to_string(),
                file: chunk.source.to_string(),
                reason: format!("the file has no `{id_col}` column (its columns: {})", table.columns.join(", ")),
            });
        }
        out.missing.push(Missing::Sites { chunk_id: chunk.chunk_id.to_string(), sites: chunk.site_ids.to_vec() });
        return Ok(out);
    };
    let mut lookup: HashMap<String, usize> = HashMap::new();
    for (i, s) in chunk.site_ids.iter().enumerate() {
        lookup.insert(s.clone(), i);
    }
    for (i, s) in chunk.site_ids.iter().enumerate() {
        if let Some(n) = numeric_id(s) {
            lookup.entry(n).or_insert(i);
        }
    }
    let columns: HashMap<&str, usize> = table.columns.iter().enumerate().map(|(i, c)| (c.as_str(), i)).rev().collect();
    // The first row of each site is used; later ones are compared with it.
    let mut chosen: Vec<Option<(usize, &Vec<Cell>)>> = vec![None; chunk.site_ids.len()];
    let mut foreign = 0usize;
    for (line, cells) in &table.rows {
        let Some(text) = cells[idx].text() else {
            out.notes.push(format!("{} line {line}: a row without a `{id_col}`; ignored", chunk.source));
            continue;
        };
        let pos = lookup.get(&text).or_else(|| numeric_id(&text).and_then(|n| lookup.get(&n)));
        match pos {
            Some(&p) => match &chosen[p] {
                None => chosen[p] = Some((*line, cells)),
                Some((first, c)) if *c != cells => out.notes.push(format!(
                    "site {}: {} rows differ; used line {first}, not line {line}",
                    chunk.site_ids[p], chunk.source
                )),
                Some(_) => {}
            },
            None => foreign += 1,
        }
    }
    if foreign > 0 {
        out.notes.push(format!(
            "{}: {foreign} row(s) name sites that are not in chunk {}; ignored",
            chunk.source, chunk.chunk_id
        ));
    }
    let engine = super::engine_name(pipeline.engine);
    let keys: Vec<Vec<Option<i64>>> = {
        let mut ks = Vec::new();
        for p in &chunk.cells.parts {
            let mut row = Vec::new();
            for (y, k) in p.years.iter().zip(&p.keys) {
                row.push(match super::key_from_hex(k) {
                    Some(key) => Some(w.expr(&key, &p.name, *y, engine)?),
                    None => None,
                });
            }
            ks.push(row);
        }
        ks
    };
    let mut without_row = Vec::new();
    let mut written = 0u64;
    for (p, site_id) in chunk.site_ids.iter().enumerate() {
        let Some((line, cells)) = chosen[p] else {
            without_row.push(site_id.clone());
            continue;
        };
        let cell = |name: &str| columns.get(name).map(|&i| cells[i].clone()).unwrap_or(Cell::Empty);
        let values = match read_row(&chunk.cells.parts, &cell) {
            Ok(v) => v,
            Err((column, reason)) => {
                out.missing.push(Missing::Cell {
                    chunk_id: chunk.chunk_id.to_string(),
                    site: site_id.clone(),
                    file: chunk.source.to_string(),
                    line,
                    column,
                    reason: reason.to_string(),
                });
                continue;
            }
        };
        let Some(geom) = chunk.cells.geoms.get(p).and_then(|g| super::key_from_hex(g)) else {
            without_row.push(site_id.clone());
            continue;
        };
        let site = w.site(site_id, &geom)?;
        let mut any_value = false;
        for (pi, yi, measure, value) in values {
            let Some(expr) = keys[pi][yi] else { continue };
            any_value |= !value.is_nodata();
            if w.cell(site, expr, &measure, &value, origin_id)? {
                written += 1;
            }
        }
        out.sites += 1;
        if any_value {
            out.sites_with_values += 1;
        }
    }
    out.written = written;
    if !without_row.is_empty() {
        out.missing.push(Missing::Sites { chunk_id: chunk.chunk_id.to_string(), sites: without_row });
    }
    Ok(out)
}
