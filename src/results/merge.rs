//! Merging: the rows of every finished chunk's export files become tidy long [`Record`]s, and every site
//! the chunks promised is accounted for.
//!
//! Rules (the column contract is [`crate::plan::columns`]):
//! - Categorical layer-year: one [`Measure::Class`] per class code present in the `__ha` or `__px` cell
//!   (a code missing from one of the two gets 0 there), named from the layer's legend (unknown codes stay
//!   unnamed); both cells empty or `{}` → one [`Measure::NoData`].
//! - Continuous layer-year: one [`Measure::Stat`] per band and statistic (an empty cell is `value: None`);
//!   every cell empty → one [`Measure::NoData`].
//! - Years before a site's first year (the `sites.first_year` property, from the site file or the row) give
//!   no record at all: they were never asked for.
//! - A row is used only for a site of the chunk its file belongs to; a row naming another site is ignored
//!   (with a note). A chunk of asset sites whose ids were never known covers the sites its rows name. Site ids match exactly, or numerically (`12` and `12.0` are the same id).
//! - Several rows for one site (a split chunk whose halves and parent all finished, or a file listed twice):
//!   the row from the greatest chunk id wins (`c00012a` over `c00012`), then the greatest file name, then the
//!   last row. Rows that differ are reported in the notes.
//! - A site with no row, or whose row has an unreadable cell, is reported in [`Merged::missing`] and gets no
//!   records: it is never silently dropped.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::eecsv::{Cell, ExportTable};
use super::{Measure, Record};
use crate::pipeline::{LayerKind, Pipeline};
use crate::plan::columns::{area_column, pixels_column, stat_column};

/// The sites one finished chunk covers.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedChunk {
    pub chunk_id: String,
    pub site_ids: Vec<String>,
}

/// A parsed export file of a chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkFile {
    pub chunk_id: String,
    /// How the user knows the file (`gs://…`, `drive:…`).
    pub file: String,
    pub table: ExportTable,
}

/// The kept properties of one site, in `sites.keep` order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteProperties {
    pub id: String,
    pub properties: Map<String, Value>,
}

/// Something that keeps the table from being complete.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Missing {
    /// A finished chunk has no export file.
    NoFiles { chunk_id: String, location: String },
    /// A chunk's file could not be downloaded or read.
    File { chunk_id: String, file: String, reason: String },
    /// Sites of a finished chunk with no row in the chunk's files.
    Sites { chunk_id: String, sites: Vec<String> },
    /// A site's row has a cell that cannot be read.
    Cell { chunk_id: String, site: String, file: String, line: usize, column: String, reason: String },
    /// Sites of the pipeline that are in no finished chunk (their tasks failed or have not finished).
    NotFinished { sites: Vec<String> },
}

impl Missing {
    /// The chunk concerned (`None` for sites in no finished chunk).
    pub fn chunk_id(&self) -> Option<&str> {
        match self {
            Missing::NoFiles { chunk_id, .. }
            | Missing::File { chunk_id, .. }
            | Missing::Sites { chunk_id, .. }
            | Missing::Cell { chunk_id, .. } => Some(chunk_id),
            Missing::NotFinished { .. } => None,
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::NoFiles { chunk_id, location } => {
                write!(f, "chunk {chunk_id}: no export file found at {location}")
            }
            Missing::File { chunk_id, file, reason } => write!(f, "chunk {chunk_id}: {file}: {reason}"),
            Missing::Sites { chunk_id, sites } => {
                write!(f, "chunk {chunk_id}: {} site(s) have no row in its files: {}", sites.len(), list(sites))
            }
            Missing::NotFinished { sites } => {
                write!(f, "{} site(s) are in no finished chunk (failed or still running): {}", sites.len(), list(sites))
            }
            Missing::Cell { chunk_id, site, file, line, column, reason } => {
                write!(f, "chunk {chunk_id}: {file} line {line}, site {site}, column `{column}`: {reason}")
            }
        }
    }
}

/// The first ten of a list, and how many more.
fn list(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
    let more = if items.len() > 10 { format!(" and {} more", items.len() - 10) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

/// The merge's result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Merged {
    /// Ordered by site (chunk order, then site order within the chunk), layer, year, class code or band and
    /// statistic.
    pub records: Vec<Record>,
    /// Every site with records, in the same order.
    pub sites: Vec<SiteProperties>,
    pub missing: Vec<Missing>,
    /// Things worth knowing that do not make the table incomplete (ignored rows, duplicate rows).
    pub notes: Vec<String>,
}

/// The numeric form of an id (`12.0` → `12`), for ids that went through a number column.
fn numeric_id(s: &str) -> Option<String> {
    let f: f64 = s.trim().parse().ok()?;
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(format!("{}", f as i64))
    } else {
        None
    }
}

struct Candidate<'a> {
    chunk_id: &'a str,
    file: &'a ChunkFile,
    /// Column name → index in `cells` (wide tables have thousands of columns).
    index: &'a HashMap<&'a str, usize>,
    line: usize,
    cells: &'a [Cell],
}

/// Chunks of sites in a table asset whose site ids geepipe never knew (a whole-table task, or a random half
/// of one): their sites are the ids their own files' rows name, in row order. `None` when every chunk's
/// sites are known.
fn rows_name_asset_chunks(
    pipeline: &Pipeline,
    chunks: &[ExpectedChunk],
    files: &[ChunkFile],
) -> Option<Vec<ExpectedChunk>> {
    let asset = matches!(pipeline.sites.location, crate::pipeline::SiteLocation::Asset(_));
    if !asset || chunks.iter().all(|c| !c.site_ids.is_empty()) {
        return None;
    }
    let id_col = &pipeline.sites.id_property;
    let mut filled = chunks.to_vec();
    for c in filled.iter_mut().filter(|c| c.site_ids.is_empty()) {
        for f in files.iter().filter(|f| f.chunk_id == c.chunk_id) {
            let Some(idx) = f.table.column(id_col) else { continue };
            for (_, cells) in &f.table.rows {
                if let Some(id) = cells[idx].text().filter(|t| !t.is_empty()) {
                    if !c.site_ids.contains(&id) {
                        c.site_ids.push(id);
                    }
                }
            }
        }
    }
    Some(filled)
}

/// Merges the files of finished chunks into records (see the module doc for the rules).
pub fn merge(
    pipeline: &Pipeline,
    chunks: &[ExpectedChunk],
    files: &[ChunkFile],
    first_years: &HashMap<String, i32>,
) -> Merged {
    let mut out = Merged::default();
    let filled = rows_name_asset_chunks(pipeline, chunks, files);
    let chunks = filled.as_deref().unwrap_or(chunks);
    // Site ids in output order, and the chunks each belongs to.
    let mut order: Vec<&str> = Vec::new();
    let mut chunks_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in chunks {
        for s in &c.site_ids {
            let e = chunks_of.entry(s.as_str()).or_default();
            if e.is_empty() {
                order.push(s.as_str());
            }
            if !e.contains(&c.chunk_id.as_str()) {
                e.push(c.chunk_id.as_str());
            }
        }
    }
    // Lookup from a row's id text to the canonical site id.
    let mut lookup: HashMap<String, &str> = HashMap::new();
    for &s in &order {
        lookup.insert(s.to_string(), s);
    }
    for &s in &order {
        if let Some(n) = numeric_id(s) {
            lookup.entry(n).or_insert(s);
        }
    }
    let id_col = &pipeline.sites.id_property;
    let indexes: Vec<HashMap<&str, usize>> = files
        .iter()
        .map(|f| f.table.columns.iter().enumerate().map(|(i, c)| (c.as_str(), i)).rev().collect())
        .collect();
    let mut candidates: HashMap<&str, Vec<Candidate>> = HashMap::new();
    for (file, index) in files.iter().zip(&indexes) {
        let Some(idx) = file.table.column(id_col) else {
            if !file.table.rows.is_empty() || !file.table.columns.is_empty() {
                out.missing.push(Missing::File {
                    chunk_id: file.chunk_id.clone(),
                    file: file.file.clone(),
                    reason: format!(
                        "the file has no `{id_col}` column (its columns: {})",
                        file.table.columns.join(", ")
                    ),
                });
            }
            continue;
        };
        let mut foreign = 0usize;
        for (line, cells) in &file.table.rows {
            let Some(text) = cells[idx].text() else {
                out.notes.push(format!("{} line {line}: a row without a `{id_col}`; ignored", file.file));
                continue;
            };
            let site =
                lookup.get(text.as_str()).copied().or_else(|| numeric_id(&text).and_then(|n| lookup.get(&n).copied()));
            match site {
                Some(s) if chunks_of[s].contains(&file.chunk_id.as_str()) => {
                    candidates.entry(s).or_default().push(Candidate {
                        chunk_id: &file.chunk_id,
                        file,
                        index,
                        line: *line,
                        cells,
                    });
                }
                _ => foreign += 1,
            }
        }
        if foreign > 0 {
            out.notes.push(format!(
                "{}: {foreign} row(s) name sites that are not in chunk {}; ignored",
                file.file, file.chunk_id
            ));
        }
    }
    let mut missing_sites: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let first_year_col = pipeline.sites.first_year_property.as_deref();
    for &site in &order {
        let Some(mut cands) = candidates.remove(site) else {
            let chunk = chunks_of[site].last().copied().unwrap_or_default();
            missing_sites.entry(chunk).or_default().push(site.to_string());
            continue;
        };
        cands.sort_by(|a, b| (a.chunk_id, &a.file.file, a.line).cmp(&(b.chunk_id, &b.file.file, b.line)));
        let chosen = cands.pop().expect("at least one candidate");
        if cands.iter().any(|c| !same_row(c, &chosen)) {
            let others: Vec<String> = cands.iter().map(|c| format!("{} line {}", c.file.file, c.line)).collect();
            out.notes.push(format!(
                "site {site}: {} rows differ; used {} line {} (chunk {}), not {}",
                cands.len() + 1,
                chosen.file.file,
                chosen.line,
                chosen.chunk_id,
                others.join(", ")
            ));
        }
        let cell = |name: &str| chosen.index.get(name).map(|&i| &chosen.cells[i]).unwrap_or(&Cell::Empty);
        let first_year = first_years.get(site).copied().or_else(|| {
            let c = cell(first_year_col?);
            let n = c.number().ok()??;
            (n.fract() == 0.0).then_some(n as i32)
        });
        let mut bad: Option<Missing> = None;
        let mut records = Vec::new();
        let mut problem = |column: String, reason: String| {
            if bad.is_none() {
                bad = Some(Missing::Cell {
                    chunk_id: chosen.chunk_id.to_string(),
                    site: site.to_string(),
                    file: chosen.file.file.clone(),
                    line: chosen.line,
                    column,
                    reason,
                });
            }
        };
        for layer in &pipeline.layers {
            for &year in &layer.years {
                if first_year.is_some_and(|f| year < f) {
                    continue;
                }
                let rec = |measure| Record { site: site.to_string(), layer: layer.name.clone(), year, measure };
                match layer.kind {
                    LayerKind::Categorical => {
                        let (ha_name, px_name) = (area_column(&layer.name, year), pixels_column(&layer.name, year));
                        let ha = cell(&ha_name).class_map().unwrap_or_else(|e| {
                            problem(ha_name.clone(), e.to_string());
                            None
                        });
                        let px = cell(&px_name).class_map().unwrap_or_else(|e| {
                            problem(px_name.clone(), e.to_string());
                            None
                        });
                        let mut classes: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
                        for (code, v) in ha.unwrap_or_default() {
                            classes.entry(code).or_default().0 = v;
                        }
                        for (code, v) in px.unwrap_or_default() {
                            classes.entry(code).or_default().1 = v;
                        }
                        if classes.is_empty() {
                            records.push(rec(Measure::NoData));
                        }
                        for (code, (area_ha, pixels)) in classes {
                            let name = layer.legend.iter().find(|e| e.code == code).map(|e| e.name.clone());
                            records.push(rec(Measure::Class { code, name, area_ha, pixels }));
                        }
                    }
                    LayerKind::Continuous => {
                        let mut stats = Vec::new();
                        for band in &layer.bands {
                            for stat in &layer.stats {
                                let name = stat_column(&layer.name, year, band, stat);
                                let value = cell(&name).number().unwrap_or_else(|e| {
                                    problem(name.clone(), e.to_string());
                                    None
                                });
                                stats.push(Measure::Stat { band: band.clone(), stat: stat.clone(), value });
                            }
                        }
                        if stats.iter().all(|m| matches!(m, Measure::Stat { value: None, .. })) {
                            records.push(rec(Measure::NoData));
                        } else {
                            records.extend(stats.into_iter().map(rec));
                        }
                    }
                }
            }
        }
        if let Some(m) = bad {
            out.missing.push(m);
            continue;
        }
        let mut properties = Map::new();
        for k in &pipeline.sites.keep {
            if k != id_col {
                properties.insert(k.clone(), cell(k).to_value());
            }
        }
        out.sites.push(SiteProperties { id: site.to_string(), properties });
        out.records.extend(records);
    }
    // Report missing sites in chunk order.
    for c in chunks {
        if let Some(sites) = missing_sites.remove(c.chunk_id.as_str()) {
            out.missing.push(Missing::Sites { chunk_id: c.chunk_id.clone(), sites });
        }
    }
    out
}

fn same_row(a: &Candidate, b: &Candidate) -> bool {
    if a.file.table.columns == b.file.table.columns {
        return a.cells == b.cells;
    }
    // Different column orders: compare by name.
    a.file.table.columns.len() == b.file.table.columns.len()
        && a.file
            .table
            .columns
            .iter()
            .zip(a.cells)
            .all(|(name, cell)| b.index.get(name.as_str()).is_some_and(|&i| &b.cells[i] == cell))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::eecsv::parse_csv;

    /// A pipeline with one categorical and one continuous layer, sites from an Earth Engine asset (so first
    /// years can only come from the rows).
    fn pipeline() -> (tempfile::TempDir, Pipeline) {
        let dir = tempfile::tempdir().unwrap();
        let yaml = r#"
name: m
project: p
sites: {asset: projects/p/assets/sites, id: id, keep: [owner], first_year: planted}
years: 2020..2021
layers:
  - {name: lc, kind: categorical, image: {call: Image.load, id: x}, legend: [{code: 1, name: Water}]}
  - {name: t, kind: continuous, years: [2021], stats: [mean], image: {call: Image.load, id: y}}
export: {to: gcs, bucket: bkt}
"#;
        std::fs::write(dir.path().join("m.yaml"), yaml).unwrap();
        let (p, _) = crate::pipeline::load(&dir.path().join("m.yaml"), &Default::default()).unwrap();
        (dir, p)
    }

    fn file(chunk: &str, csv: &str) -> ChunkFile {
        ChunkFile { chunk_id: chunk.into(), file: format!("{chunk}.csv"), table: parse_csv(csv).unwrap() }
    }

    fn chunk(id: &str, sites: &[&str]) -> ExpectedChunk {
        ExpectedChunk { chunk_id: id.into(), site_ids: sites.iter().map(|s| s.to_string()).collect() }
    }

    fn class(site: &str, year: i32, code: i64, name: Option<&str>, area_ha: f64, pixels: f64) -> Record {
        Record {
            site: site.into(),
            layer: "lc".into(),
            year,
            measure: Measure::Class { code, name: name.map(str::to_string), area_ha, pixels },
        }
    }

    #[test]
    fn numeric_ids_first_years_from_rows_and_lopsided_class_maps() {
        let (_d, p) = pipeline();
        // Site 7 went through a number column (`7.0`); its first year (2021) is only in the row. Class 2 has
        // pixels but no area entry: 0 ha.
        let csv = "id,owner,planted,lc__2020__ha,lc__2020__px,lc__2021__ha,lc__2021__px,t__2021__t__mean\n\
                   7.0,Ana,2021,{1=0.5},{1=5},{1=0.25},\"{\"\"1\"\":2.5,\"\"2\"\":1}\",0.75\n";
        let m = merge(&p, &[chunk("c0", &["7"])], &[file("c0", csv)], &HashMap::new());
        assert!(m.missing.is_empty(), "{:?}", m.missing);
        assert_eq!(
            m.records,
            vec![
                class("7", 2021, 1, Some("Water"), 0.25, 2.5),
                class("7", 2021, 2, None, 0.0, 1.0),
                Record {
                    site: "7".into(),
                    layer: "t".into(),
                    year: 2021,
                    measure: Measure::Stat { band: "t".into(), stat: "mean".into(), value: Some(0.75) }
                },
            ]
        );
        assert_eq!(
            m.sites,
            vec![SiteProperties { id: "7".into(), properties: Map::from_iter([("owner".into(), "Ana".into())]) }]
        );
    }

    #[test]
    fn an_unreadable_cell_makes_the_site_missing_not_wrong() {
        let (_d, p) = pipeline();
        let csv = "id,owner,lc__2020__ha,lc__2020__px,lc__2021__ha,lc__2021__px,t__2021__t__mean\n\
                   a,,{1=oops},{1=5},,,\n\
                   b,,,,,,\n";
        let m = merge(&p, &[chunk("c0", &["a", "b"])], &[file("c0", csv)], &HashMap::new());
        assert_eq!(
            m.missing,
            vec![Missing::Cell {
                chunk_id: "c0".into(),
                site: "a".into(),
                file: "c0.csv".into(),
                line: 2,
                column: "lc__2020__ha".into(),
                reason: "`oops` is not a number (class `1`)".into()
            }]
        );
        // b has no data anywhere: explicit NoData rows, one per layer-year.
        let nodata: Vec<(&str, i32)> = m
            .records
            .iter()
            .map(|r| {
                assert_eq!((r.site.as_str(), &r.measure), ("b", &Measure::NoData));
                (r.layer.as_str(), r.year)
            })
            .collect();
        assert_eq!(nodata, [("lc", 2020), ("lc", 2021), ("t", 2021)]);
        assert_eq!(m.sites.len(), 1);
        assert_eq!(m.sites[0].properties["owner"], Value::Null);
    }

    #[test]
    fn a_file_without_the_id_column_is_reported() {
        let (_d, p) = pipeline();
        let m = merge(&p, &[chunk("c0", &["a"])], &[file("c0", "x,y\n1,2\n")], &HashMap::new());
        assert_eq!(m.missing.len(), 2);
        assert_eq!(m.missing[0].to_string(), "chunk c0: c0.csv: the file has no `id` column (its columns: x, y)");
        assert_eq!(m.missing[1].to_string(), "chunk c0: 1 site(s) have no row in its files: a");
    }
}
