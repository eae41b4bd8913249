//! The tidy table every engine ends with, written atomically.
//!
//! (Over 600 lines: the long and wide layouts and the four formats share one writer, its row order and
//! its atomic rename; splitting them would spread one file format's rules over several files.)
//!
//! # Long layout (default): one row per site, layer, year and class or statistic
//!
//! Columns, in this fixed order:
//!
//! | column | meaning |
//! |---|---|
//! | *id property* (e.g. `site_id`) | the site id |
//! | each kept property, in `keep` order | its value (text; JSON text for objects/arrays; empty for null) |
//! | `layer` | layer name |
//! | `year` | year |
//! | `kind` | `categorical`, `continuous`, or `nodata` when the site has no valid pixel for that layer-year |
//! | `class_code`, `class_name` | categorical: the class code and its legend name (empty when unnamed) |
//! | `area_ha` | categorical: hectares of the class (geodesic pixel area × coverage) |
//! | `pixels` | categorical: pixel count weighted by coverage fraction |
//! | `band`, `stat`, `value` | continuous: band name, statistic (`mean`, `p90`, ...) and its value |
//!
//! Rows are ordered by site (site file order), then layer (pipeline order), year (ascending), then class
//! code (ascending) or band (layer order) and statistic (layer order). Years before a site's first year
//! have no rows at all. Numbers are written in the shortest form that reads back to the same `f64`.
//!
//! # Wide layout: one row per site
//!
//! The id and kept columns, then for each layer and year: categorical `{layer}__{year}__{code}__ha` and
//! `{layer}__{year}__{code}__px` for every legend code and every code seen (ascending; 0 when the site
//! has data but not that class); continuous `{layer}__{year}__{band}__{stat}` (as in
//! [`crate::plan::columns`]). A layer-year without data (or before the site's first year) has empty
//! cells. The writer keeps one compact row per site in memory until the end, because the class columns
//! are only known then.
//!
//! # GeoJSON
//!
//! The same rows as features with the site geometry (or its centroid, `output.geometry: centroid`): wide
//! gives one feature per site, long one feature per row (the geometry repeated).
//!
//! # Parquet
//!
//! The same rows and columns with real types, and GeoParquet when `output.geometry` is `centroid` or
//! `polygon` (see [`super::parquet`]).
//!
//! # Atomic writing
//!
//! Everything goes to a temporary file in the target's folder; [`TableWriter::finish`] flushes, fsyncs
//! and renames it over the target. Dropping a writer without `finish` (an error on the way) removes the
//! temporary file and leaves any previous table untouched: a Makefile never sees a half-written target.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::parquet::{Cell, ParquetTable};
use super::{geometry as geom, Measure, Record};
use crate::pipeline::{Engine, LayerKind, LayoutName, OutputFormatName, OutputGeometryName, Pipeline};

/// Long-layout columns after the id and kept properties.
pub const LONG_COLUMNS: &[&str] =
    &["layer", "year", "kind", "class_code", "class_name", "area_ha", "pixels", "band", "stat", "value"];

/// What the table holds, independent of the engine.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Name of the id column (the pipeline's id property).
    pub id_column: String,
    /// Kept properties, in order.
    pub keep: Vec<String>,
    pub layers: Vec<LayerSpec>,
    pub format: OutputFormatName,
    pub layout: LayoutName,
    /// Site geometry written with each row (GeoJSON and Parquet).
    pub geometry: OutputGeometryName,
    /// Key facts of the run written into the file where the format has room for them (Parquet).
    pub metadata: Vec<(String, String)>,
}

/// The run's key facts for a table's own metadata: geepipe version, pipeline, its hash, catalog version,
/// engine and layout.
pub fn run_facts(p: &Pipeline) -> Vec<(String, String)> {
    let engine = match p.engine {
        Engine::Local => "local",
        Engine::EarthEngine => "earthengine",
    };
    vec![
        ("geepipe:version".into(), env!("CARGO_PKG_VERSION").into()),
        ("geepipe:pipeline".into(), p.name.clone()),
        ("geepipe:pipeline_hash".into(), p.content_hash.clone()),
        ("geepipe:catalog_version".into(), crate::catalog::VERSION.into()),
        ("geepipe:engine".into(), engine.into()),
        ("geepipe:layout".into(), format!("{:?}", p.output.layout).to_lowercase()),
    ]
}

/// One layer as the table needs it.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    pub name: String,
    pub kind: LayerKind,
    pub years: Vec<i32>,
    /// code → name.
    pub legend: BTreeMap<i64, String>,
    pub bands: Vec<String>,
    pub stats: Vec<String>,
}

impl TableSpec {
    pub fn from_pipeline(p: &Pipeline) -> TableSpec {
        TableSpec {
            id_column: p.sites.id_property.clone(),
            keep: p.sites.keep.iter().filter(|k| **k != p.sites.id_property).cloned().collect(),
            layers: p
                .layers
                .iter()
                .map(|l| LayerSpec {
                    name: l.name.clone(),
                    kind: l.kind,
                    years: l.years.clone(),
                    legend: l.legend.iter().map(|e| (e.code, e.name.clone())).collect(),
                    bands: l.bands.clone(),
                    stats: l.stats.clone(),
                })
                .collect(),
            format: p.output.format,
            layout: p.output.layout,
            geometry: p.output.geometry,
            metadata: run_facts(p),
        }
    }

    /// Header of the long layout.
    pub fn long_header(&self) -> Vec<String> {
        let mut h = vec![self.id_column.clone()];
        h.extend(self.keep.iter().cloned());
        h.extend(LONG_COLUMNS.iter().map(|s| s.to_string()));
        h
    }

    /// Problems with the column names (a kept property named like a fixed column).
    pub fn check(&self) -> Result<(), TableError> {
        let header = self.long_header();
        let mut seen = BTreeSet::new();
        for h in &header {
            if !seen.insert(h) {
                return Err(TableError::Columns(format!(
                    "column `{h}` appears twice: a kept site property has the name of a table column; \
                     rename the property in the site file or drop it from `keep`"
                )));
            }
        }
        Ok(())
    }

    fn layer_index(&self, name: &str) -> usize {
        self.layers.iter().position(|l| l.name == name).unwrap_or(usize::MAX)
    }
}

/// One site's results, as any engine produces them.
#[derive(Debug, Clone)]
pub struct SiteResult {
    pub id: String,
    /// Site properties (at least the kept ones).
    pub properties: Map<String, Value>,
    /// The site's GeoJSON geometry (needed when the table holds geometries).
    pub geometry: Option<Value>,
    pub records: Vec<Record>,
}

/// Why the table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot write `{path}`: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Columns(String),
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableSummary {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
}

/// Writes the counted bytes through and hashes them.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

enum Sink {
    Csv(Box<csv::Writer<Hashing<BufWriter<std::fs::File>>>>),
    Json(Hashing<BufWriter<std::fs::File>>),
    /// Rows collected as typed columns, written on [`TableWriter::finish`].
    Parquet(Box<ParquetTable>, Hashing<BufWriter<std::fs::File>>),
}

/// Streams rows into a temporary file and renames it over the target on [`TableWriter::finish`].
pub struct TableWriter {
    spec: TableSpec,
    path: PathBuf,
    tmp: tempfile::TempPath,
    sink: Option<Sink>,
    rows: u64,
    features: u64,
    /// Wide layout: sites kept until the end.
    wide: Vec<SiteResult>,
}

pub use super::atomic::write_atomic;
use super::atomic::{temp_beside, Unplaced, WriteError};

impl From<WriteError> for TableError {
    fn from(e: WriteError) -> TableError {
        TableError::Io { path: e.path, source: e.source }
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

/// Shortest text that reads back to the same number.
pub fn number(x: f64) -> String {
    if x == 0.0 {
        "0".to_string()
    } else {
        format!("{x}")
    }
}

fn json_number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
}

impl TableWriter {
    /// Starts a table at `path` (the file appears only on [`finish`](Self::finish)).
    pub fn create(spec: TableSpec, path: &Path) -> Result<TableWriter, TableError> {
        spec.check()?;
        let (file, tmp) = temp_beside(path)?;
        let inner = Hashing { inner: BufWriter::with_capacity(256 * 1024, file), hash: Sha256::new(), bytes: 0 };
        let mut w =
            TableWriter { sink: None, spec, path: path.to_path_buf(), tmp, rows: 0, features: 0, wide: Vec::new() };
        w.sink = Some(match w.spec.format {
            OutputFormatName::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(inner))),
            OutputFormatName::Geojson => Sink::Json(inner),
            OutputFormatName::Parquet => {
                let with_geometry = w.spec.geometry != OutputGeometryName::None;
                Sink::Parquet(Box::new(ParquetTable::new(w.spec.long_header(), with_geometry)), inner)
            }
        });
        if w.spec.layout == LayoutName::Long {
            w.start()?;
            if let Some(Sink::Csv(c)) = &mut w.sink {
                let header = w.spec.long_header();
                c.write_record(&header).map_err(|e| csv_err(&w.path, e))?;
            }
        }
        Ok(w)
    }

    fn io(&self) -> impl Fn(std::io::Error) -> TableError + '_ {
        move |source| TableError::Io { path: self.path.clone(), source }
    }

    fn start(&mut self) -> Result<(), TableError> {
        let path = self.path.clone();
        if let Some(Sink::Json(j)) = &mut self.sink {
            j.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")
                .map_err(|source| TableError::Io { path, source })?;
        }
        Ok(())
    }

    /// Adds one site's rows (records in any order; they are sorted here).
    pub fn push(&mut self, mut site: SiteResult) -> Result<(), TableError> {
        self.sort(&mut site.records);
        if self.spec.layout == LayoutName::Wide {
            self.wide.push(site);
            return Ok(());
        }
        let prefix: Vec<String> = self.prefix(&site);
        let wkb = self.geometry_wkb(&site);
        for r in &site.records {
            let row = self.long_row(r);
            if let Some(Sink::Parquet(..)) = &self.sink {
                let cells = self.long_cells(&site, r);
                if let Some(Sink::Parquet(t, _)) = self.sink.as_mut() {
                    t.push(cells, wkb.clone());
                }
                self.rows += 1;
                continue;
            }
            match self.sink.as_mut() {
                Some(Sink::Csv(c)) => {
                    c.write_record(prefix.iter().chain(row.iter())).map_err(|e| csv_err(&self.path, e))?;
                }
                Some(Sink::Json(_)) => {
                    let mut props = Map::new();
                    props.insert(self.spec.id_column.clone(), Value::String(site.id.clone()));
                    for k in &self.spec.keep {
                        props.insert(k.clone(), site.properties.get(k).cloned().unwrap_or(Value::Null));
                    }
                    for (name, v) in LONG_COLUMNS.iter().zip(self.long_json(r)) {
                        props.insert(name.to_string(), v);
                    }
                    self.feature(&site, props)?;
                }
                Some(Sink::Parquet(..)) | None => {}
            }
            self.rows += 1;
        }
        Ok(())
    }

    /// The id and kept cells of a site, typed for Parquet.
    fn prefix_cells(&self, site: &SiteResult) -> Vec<Cell> {
        let mut cells = vec![Cell::Text(Some(site.id.clone()))];
        cells.extend(
            self.spec.keep.iter().map(|k| Cell::Property(site.properties.get(k).cloned().unwrap_or(Value::Null))),
        );
        cells
    }

    /// A long row's cells, typed for Parquet.
    fn long_cells(&self, site: &SiteResult, r: &Record) -> Vec<Cell> {
        let mut cells = self.prefix_cells(site);
        let text = |s: &str| Cell::Text(Some(s.to_string()));
        cells.extend([text(&r.layer), Cell::Int32(Some(r.year)), text(self.kind_text(r))]);
        match &r.measure {
            Measure::NoData => {
                cells.extend([Cell::Int(None), Cell::Text(None), Cell::Float(None), Cell::Float(None)]);
                cells.extend([Cell::Text(None), Cell::Text(None), Cell::Float(None)]);
            }
            Measure::Class { code, name, area_ha, pixels } => {
                cells.push(Cell::Int(Some(*code)));
                cells.push(Cell::Text(self.class_name(r, *code, name)));
                cells.extend([Cell::Float(Some(*area_ha)), Cell::Float(Some(*pixels))]);
                cells.extend([Cell::Text(None), Cell::Text(None), Cell::Float(None)]);
            }
            Measure::Stat { band, stat, value } => {
                cells.extend([Cell::Int(None), Cell::Text(None), Cell::Float(None), Cell::Float(None)]);
                cells.extend([text(band), text(stat), Cell::Float(*value)]);
            }
        }
        cells
    }

    /// The GeoJSON geometry a feature carries: the site polygon, its centroid, or none.
    fn geometry_json(&self, site: &SiteResult) -> Value {
        match (self.spec.geometry, &site.geometry) {
            (OutputGeometryName::Polygon, Some(g)) => g.clone(),
            (OutputGeometryName::Centroid, Some(g)) => geom::centroid_json(g),
            _ => Value::Null,
        }
    }

    /// The site geometry as WKB for GeoParquet, with its type and bounding box.
    fn geometry_wkb(&self, site: &SiteResult) -> Option<(Vec<u8>, &'static str, [f64; 4])> {
        let g = site.geometry.as_ref()?;
        match self.spec.geometry {
            OutputGeometryName::None => None,
            OutputGeometryName::Polygon => {
                let ty = if g.get("type").and_then(Value::as_str) == Some("MultiPolygon") {
                    "MultiPolygon"
                } else {
                    "Polygon"
                };
                Some((geom::polygon_wkb(g)?, ty, geom::bbox(g)?))
            }
            OutputGeometryName::Centroid => {
                let [x, y] = geom::centroid(g)?;
                Some((geom::centroid_wkb(g)?, "Point", [x, y, x, y]))
            }
        }
    }

    fn prefix(&self, site: &SiteResult) -> Vec<String> {
        let mut p = vec![site.id.clone()];
        p.extend(self.spec.keep.iter().map(|k| cell(site.properties.get(k))));
        p
    }

    fn sort(&self, records: &mut [Record]) {
        let spec = &self.spec;
        let key = |r: &Record| {
            let li = spec.layer_index(&r.layer);
            let l = spec.layers.get(li);
            let (a, b, c) = match &r.measure {
                Measure::NoData => (0usize, 0i64, 0usize),
                Measure::Class { code, .. } => (1, *code, 0),
                Measure::Stat { band, stat, .. } => {
                    let bi = l.and_then(|l| l.bands.iter().position(|x| x == band)).unwrap_or(usize::MAX);
                    let si = l.and_then(|l| l.stats.iter().position(|x| x == stat)).unwrap_or(usize::MAX);
                    (1, bi as i64, si)
                }
            };
            (li, r.layer.clone(), r.year, a, b, c)
        };
        records.sort_by_key(key);
    }

    fn kind_text(&self, r: &Record) -> &'static str {
        match &r.measure {
            Measure::NoData => "nodata",
            Measure::Class { .. } => "categorical",
            Measure::Stat { .. } => "continuous",
        }
    }

    fn class_name(&self, r: &Record, code: i64, name: &Option<String>) -> Option<String> {
        name.clone().or_else(|| {
            self.spec.layers.get(self.spec.layer_index(&r.layer)).and_then(|l| l.legend.get(&code).cloned())
        })
    }

    fn long_row(&self, r: &Record) -> [String; 10] {
        let (mut code, mut cname, mut ha, mut px, mut band, mut stat, mut value) =
            (String::new(), String::new(), String::new(), String::new(), String::new(), String::new(), String::new());
        match &r.measure {
            Measure::NoData => {}
            Measure::Class { code: c, name, area_ha, pixels } => {
                code = c.to_string();
                cname = self.class_name(r, *c, name).unwrap_or_default();
                ha = number(*area_ha);
                px = number(*pixels);
            }
            Measure::Stat { band: b, stat: s, value: v } => {
                band = b.clone();
                stat = s.clone();
                value = v.map(number).unwrap_or_default();
            }
        }
        [r.layer.clone(), r.year.to_string(), self.kind_text(r).to_string(), code, cname, ha, px, band, stat, value]
    }

    fn long_json(&self, r: &Record) -> Vec<Value> {
        let mut v = vec![Value::String(r.layer.clone()), Value::from(r.year), Value::from(self.kind_text(r))];
        match &r.measure {
            Measure::NoData => v.extend(std::iter::repeat_n(Value::Null, 7)),
            Measure::Class { code, name, area_ha, pixels } => {
                v.push(Value::from(*code));
                v.push(self.class_name(r, *code, name).map(Value::String).unwrap_or(Value::Null));
                v.push(json_number(*area_ha));
                v.push(json_number(*pixels));
                v.extend(std::iter::repeat_n(Value::Null, 3));
            }
            Measure::Stat { band, stat, value } => {
                v.extend(std::iter::repeat_n(Value::Null, 4));
                v.push(Value::String(band.clone()));
                v.push(Value::String(stat.clone()));
                v.push(value.map(json_number).unwrap_or(Value::Null));
            }
        }
        v
    }

    fn feature(&mut self, site: &SiteResult, props: Map<String, Value>) -> Result<(), TableError> {
        let f = serde_json::json!({
            "type": "Feature",
            "id": site.id,
            "geometry": self.geometry_json(site),
            "properties": props,
        });
        let sep = if self.features == 0 { "" } else { ",\n" };
        self.features += 1;
        let path = self.path.clone();
        if let Some(Sink::Json(j)) = &mut self.sink {
            let text = serde_json::to_string(&f).unwrap_or_default();
            j.write_all(sep.as_bytes())
                .and_then(|_| j.write_all(text.as_bytes()))
                .map_err(|source| TableError::Io { path, source })?;
        }
        Ok(())
    }

    /// Columns of the wide layout (after the id and kept ones), with what each holds.
    fn wide_columns(&self) -> Vec<(String, WideCell)> {
        let mut seen: BTreeMap<(usize, i32), BTreeSet<i64>> = BTreeMap::new();
        for s in &self.wide {
            for r in &s.records {
                if let Measure::Class { code, .. } = r.measure {
                    seen.entry((self.spec.layer_index(&r.layer), r.year)).or_default().insert(code);
                }
            }
        }
        let mut cols = Vec::new();
        for (li, l) in self.spec.layers.iter().enumerate() {
            for &y in &l.years {
                match l.kind {
                    LayerKind::Categorical => {
                        let mut codes: BTreeSet<i64> = l.legend.keys().copied().collect();
                        codes.extend(seen.get(&(li, y)).into_iter().flatten().copied());
                        for c in codes {
                            cols.push((format!("{}__{y}__{c}__ha", l.name), WideCell::Area(li, y, c)));
                            cols.push((format!("{}__{y}__{c}__px", l.name), WideCell::Pixels(li, y, c)));
                        }
                    }
                    LayerKind::Continuous => {
                        for b in &l.bands {
                            for s in &l.stats {
                                cols.push((
                                    crate::plan::columns::stat_column(&l.name, y, b, s),
                                    WideCell::Stat(li, y, b.clone(), s.clone()),
                                ));
                            }
                        }
                    }
                }
            }
        }
        cols
    }

    fn wide_values(&self, site: &SiteResult, cols: &[(String, WideCell)]) -> Vec<Option<f64>> {
        let mut with_data: BTreeSet<(usize, i32)> = BTreeSet::new();
        let mut class: BTreeMap<(usize, i32, i64), (f64, f64)> = BTreeMap::new();
        let mut stat: BTreeMap<(usize, i32, &str, &str), Option<f64>> = BTreeMap::new();
        for r in &site.records {
            let li = self.spec.layer_index(&r.layer);
            match &r.measure {
                Measure::NoData => {}
                Measure::Class { code, area_ha, pixels, .. } => {
                    with_data.insert((li, r.year));
                    class.insert((li, r.year, *code), (*area_ha, *pixels));
                }
                Measure::Stat { band, stat: s, value } => {
                    with_data.insert((li, r.year));
                    stat.insert((li, r.year, band.as_str(), s.as_str()), *value);
                }
            }
        }
        cols.iter()
            .map(|(_, c)| match c {
                WideCell::Area(li, y, code) | WideCell::Pixels(li, y, code) => {
                    if !with_data.contains(&(*li, *y)) {
                        return None;
                    }
                    let (ha, px) = class.get(&(*li, *y, *code)).copied().unwrap_or((0.0, 0.0));
                    Some(if matches!(c, WideCell::Area(..)) { ha } else { px })
                }
                WideCell::Stat(li, y, b, s) => stat.get(&(*li, *y, b.as_str(), s.as_str())).copied().flatten(),
            })
            .collect()
    }

    /// Writes what is buffered, flushes and fsyncs the temporary file, without replacing the target yet
    /// (see [`super::atomic::place_pair`]).
    pub fn finish_unplaced(mut self) -> Result<(TableSummary, Unplaced), TableError> {
        if self.spec.layout == LayoutName::Wide {
            self.start()?;
            let cols = self.wide_columns();
            let sites = std::mem::take(&mut self.wide);
            let mut header = self.spec.long_header();
            header.truncate(1 + self.spec.keep.len());
            header.extend(cols.iter().map(|(n, _)| n.clone()));
            match &mut self.sink {
                Some(Sink::Csv(c)) => c.write_record(&header).map_err(|e| csv_err(&self.path, e))?,
                Some(Sink::Parquet(t, _)) => {
                    **t = ParquetTable::new(header, self.spec.geometry != OutputGeometryName::None);
                }
                _ => {}
            }
            for site in &sites {
                let values = self.wide_values(site, &cols);
                match self.sink.as_mut() {
                    Some(Sink::Csv(c)) => {
                        let mut row = vec![site.id.clone()];
                        row.extend(self.spec.keep.iter().map(|k| cell(site.properties.get(k))));
                        row.extend(values.iter().map(|v| v.map(number).unwrap_or_default()));
                        c.write_record(&row).map_err(|e| csv_err(&self.path, e))?;
                    }
                    Some(Sink::Json(_)) => {
                        let mut props = Map::new();
                        props.insert(self.spec.id_column.clone(), Value::String(site.id.clone()));
                        for k in &self.spec.keep {
                            props.insert(k.clone(), site.properties.get(k).cloned().unwrap_or(Value::Null));
                        }
                        for ((name, _), v) in cols.iter().zip(&values) {
                            props.insert(name.clone(), v.map(json_number).unwrap_or(Value::Null));
                        }
                        self.feature(site, props)?;
                    }
                    Some(Sink::Parquet(..)) => {
                        let mut cells = self.prefix_cells(site);
                        cells.extend(values.iter().map(|v| Cell::Float(*v)));
                        let wkb = self.geometry_wkb(site);
                        if let Some(Sink::Parquet(t, _)) = self.sink.as_mut() {
                            t.push(cells, wkb);
                        }
                    }
                    None => {}
                }
                self.rows += 1;
            }
        }
        let inner = match self.sink.take() {
            Some(Sink::Csv(c)) => c.into_inner().map_err(|e| TableError::Io {
                path: self.path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?,
            Some(Sink::Json(mut j)) => {
                j.write_all(b"\n]}\n").map_err(self.io())?;
                j
            }
            Some(Sink::Parquet(t, inner)) => t.write(inner, self.spec.metadata.clone()).map_err(|e| {
                TableError::Io { path: self.path.clone(), source: std::io::Error::other(e.to_string()) }
            })?,
            None => unreachable_sink(&self.path)?,
        };
        let Hashing { inner, hash, bytes } = inner;
        let file =
            inner.into_inner().map_err(|e| TableError::Io { path: self.path.clone(), source: e.into_error() })?;
        file.sync_all().map_err(self.io())?;
        drop(file);
        let TableWriter { tmp, path, rows, .. } = self;
        let unplaced = Unplaced::new(tmp, &path);
        Ok((TableSummary { path, rows, bytes, sha256: hex::encode(hash.finalize()) }, unplaced))
    }

    /// Finishes the table and renames it into place.
    pub fn finish(self) -> Result<TableSummary, TableError> {
        let (summary, unplaced) = self.finish_unplaced()?;
        unplaced.place()?;
        Ok(summary)
    }
}

fn unreachable_sink(path: &Path) -> Result<Hashing<BufWriter<std::fs::File>>, TableError> {
    Err(TableError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other("the table writer was already closed"),
    })
}

fn csv_err(path: &Path, e: csv::Error) -> TableError {
    TableError::Io { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) }
}

#[derive(Debug, Clone)]
enum WideCell {
    Area(usize, i32, i64),
    Pixels(usize, i32, i64),
    Stat(usize, i32, String, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(layout: LayoutName, format: OutputFormatName) -> TableSpec {
        TableSpec {
            id_column: "site_id".into(),
            keep: vec!["name".into()],
            layers: vec![
                LayerSpec {
                    name: "lulc".into(),
                    kind: LayerKind::Categorical,
                    years: vec![2020, 2021],
                    legend: [(3, "Forest".to_string())].into_iter().collect(),
                    bands: vec!["lulc".into()],
                    stats: vec![],
                },
                LayerSpec {
                    name: "ndvi".into(),
                    kind: LayerKind::Continuous,
                    years: vec![2020],
                    legend: BTreeMap::new(),
                    bands: vec!["ndvi".into()],
                    stats: vec!["mean".into(), "p90".into()],
                },
            ],
            format,
            layout,
            geometry: if format == OutputFormatName::Geojson {
                OutputGeometryName::Polygon
            } else {
                OutputGeometryName::None
            },
            metadata: Vec::new(),
        }
    }

    fn site(id: &str, name: Value, records: Vec<Record>) -> SiteResult {
        let mut properties = Map::new();
        properties.insert("name".into(), name);
        SiteResult {
            id: id.into(),
            properties,
            geometry: Some(serde_json::json!({"type":"Point","coordinates":[0,0]})),
            records,
        }
    }

    fn rec(layer: &str, year: i32, measure: Measure) -> Record {
        Record { site: String::new(), layer: layer.into(), year, measure }
    }

    fn sites() -> Vec<SiteResult> {
        vec![
            site(
                "b",
                Value::from("Fazenda, B"),
                vec![
                    rec("ndvi", 2020, Measure::Stat { band: "ndvi".into(), stat: "p90".into(), value: Some(0.9) }),
                    rec("lulc", 2021, Measure::NoData),
                    rec("lulc", 2020, Measure::Class { code: 15, name: None, area_ha: 0.5, pixels: 6.25 }),
                    rec("lulc", 2020, Measure::Class { code: 3, name: None, area_ha: 1.25, pixels: 15.0 }),
                    rec("ndvi", 2020, Measure::Stat { band: "ndvi".into(), stat: "mean".into(), value: Some(0.5) }),
                ],
            ),
            site(
                "a",
                Value::Null,
                vec![rec("lulc", 2021, Measure::Class { code: 3, name: None, area_ha: 2.0, pixels: 24.0 })],
            ),
        ]
    }

    fn write(layout: LayoutName, format: OutputFormatName) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/t.csv");
        let mut w = TableWriter::create(spec(layout, format), &path).unwrap();
        for s in sites() {
            w.push(s).unwrap();
        }
        assert!(!path.exists(), "the table appears only when finished");
        let summary = w.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(summary.bytes as usize, text.len());
        assert_eq!(summary.sha256, hex::encode(Sha256::digest(text.as_bytes())));
        let leftovers = std::fs::read_dir(dir.path().join("out")).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        text
    }

    #[test]
    fn long_csv_has_fixed_columns_and_sorted_rows() {
        let text = write(LayoutName::Long, OutputFormatName::Csv);
        let want = "\
site_id,name,layer,year,kind,class_code,class_name,area_ha,pixels,band,stat,value
b,\"Fazenda, B\",lulc,2020,categorical,3,Forest,1.25,15,,,
b,\"Fazenda, B\",lulc,2020,categorical,15,,0.5,6.25,,,
b,\"Fazenda, B\",lulc,2021,nodata,,,,,,,
b,\"Fazenda, B\",ndvi,2020,continuous,,,,,ndvi,mean,0.5
b,\"Fazenda, B\",ndvi,2020,continuous,,,,,ndvi,p90,0.9
a,,lulc,2021,categorical,3,Forest,2,24,,,
";
        assert_eq!(text, want);
    }

    #[test]
    fn wide_csv_has_one_row_per_site() {
        let text = write(LayoutName::Wide, OutputFormatName::Csv);
        let want = "\
site_id,name,lulc__2020__3__ha,lulc__2020__3__px,lulc__2020__15__ha,lulc__2020__15__px,lulc__2021__3__ha,lulc__2021__3__px,ndvi__2020__ndvi__mean,ndvi__2020__ndvi__p90
b,\"Fazenda, B\",1.25,15,0.5,6.25,,,0.5,0.9
a,,,,,,2,24,,
";
        assert_eq!(text, want);
    }

    #[test]
    fn geojson_joins_geometries() {
        let text = write(LayoutName::Wide, OutputFormatName::Geojson);
        let v: Value = serde_json::from_str(&text).unwrap();
        let f = v["features"].as_array().unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0]["properties"]["lulc__2020__15__ha"], 0.5);
        assert_eq!(f[1]["properties"]["lulc__2020__15__ha"], Value::Null);
        assert_eq!(f[0]["geometry"]["type"], "Point");
        let long: Value = serde_json::from_str(&write(LayoutName::Long, OutputFormatName::Geojson)).unwrap();
        assert_eq!(long["features"].as_array().unwrap().len(), 6);
        assert_eq!(long["features"][2]["properties"]["kind"], "nodata");
    }

    #[test]
    fn an_unfinished_writer_leaves_the_old_table_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "old").unwrap();
        let mut w = TableWriter::create(spec(LayoutName::Long, OutputFormatName::Csv), &path).unwrap();
        w.push(sites().remove(0)).unwrap();
        drop(w);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_kept_property_named_like_a_column_is_refused() {
        let mut s = spec(LayoutName::Long, OutputFormatName::Csv);
        s.keep.push("year".into());
        assert!(matches!(s.check(), Err(TableError::Columns(m)) if m.contains("`year`")));
    }
}
