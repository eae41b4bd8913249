//! Reads a tidy table back (long or wide, CSV, GeoJSON or Parquet, as [`crate::results::table`] writes
//! it) into per-site values the report aggregates.
//!
//! CSV and Parquet rows are streamed (Parquet through [`crate::results::parquet::RowReader`], one record
//! batch at a time): memory holds one compact entry per site, layer and year, never the text of the table. The layers, their kinds,
//! years, bands and statistics come from the pipeline; a table row naming a layer the pipeline does not
//! have is an error (the table belongs to another pipeline).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::pipeline::{LayerKind, Pipeline};
use crate::results::parquet::RowReader;
use crate::results::table::LONG_COLUMNS;

/// One site-layer-year of the table.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Cell {
    /// No row: before the site's first year, or a missing chunk.
    #[default]
    Missing,
    /// The site has no valid pixel that year.
    NoData,
    /// Categorical: (class code, hectares), sorted by code.
    Classes(Vec<(i64, f64)>),
    /// Continuous: one value per series of the layer (bands × statistics, in that order).
    Values(Vec<Option<f64>>),
}

/// A layer as the report needs it.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    pub name: String,
    pub title: Option<String>,
    pub kind: LayerKind,
    pub years: Vec<i32>,
    /// (band, statistic) per series (continuous layers).
    pub series: Vec<(String, String)>,
    pub units: Option<String>,
    /// code → (name, colour) from the pipeline legend.
    pub legend: BTreeMap<i64, (String, Option<String>)>,
}

/// The whole table, by site.
#[derive(Debug, Clone)]
pub struct Table {
    pub id_column: String,
    /// Kept property names, in table order.
    pub keep: Vec<String>,
    pub layers: Vec<LayerInfo>,
    /// Site ids in table order.
    pub sites: Vec<String>,
    /// Kept property values per site (text, as in the table).
    pub props: Vec<Vec<String>>,
    /// `cells[site][layer][year index]`.
    pub cells: Vec<Vec<Vec<Cell>>>,
    /// Class names seen in the table: (layer, code) → name.
    pub class_names: BTreeMap<(usize, i64), String>,
    pub rows: u64,
    /// `long` or `wide`.
    pub layout: &'static str,
}

impl Table {
    pub fn cell(&self, site: usize, layer: usize, year: usize) -> &Cell {
        &self.cells[site][layer][year]
    }
}

/// What went wrong reading the table (the message names the file and, where known, the line).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReadError(pub String);

fn layer_infos(p: &Pipeline) -> Vec<LayerInfo> {
    p.layers
        .iter()
        .map(|l| LayerInfo {
            name: l.name.clone(),
            title: l.title.clone(),
            kind: l.kind,
            years: l.years.clone(),
            series: l.bands.iter().flat_map(|b| l.stats.iter().map(move |s| (b.clone(), s.clone()))).collect(),
            units: l.units.clone(),
            legend: l.legend.iter().map(|e| (e.code, (e.name.clone(), e.color.clone()))).collect(),
        })
        .collect()
}

/// Builds the table while rows arrive.
struct Builder {
    t: Table,
    index: HashMap<String, usize>,
    layer_index: HashMap<String, usize>,
    file: String,
    place: Place,
}

/// How a table names the place of a row: CSV and GeoJSON by line (the header is line 1), Parquet by row
/// number (the header, its schema, is row 0).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Lines,
    Rows,
}

impl Builder {
    fn new(
        p: &Pipeline,
        file: &Path,
        place: Place,
        id_column: String,
        keep: Vec<String>,
        layout: &'static str,
    ) -> Builder {
        let layers = layer_infos(p);
        let layer_index = layers.iter().enumerate().map(|(i, l)| (l.name.clone(), i)).collect();
        Builder {
            t: Table {
                id_column,
                keep,
                layers,
                sites: Vec::new(),
                props: Vec::new(),
                cells: Vec::new(),
                class_names: BTreeMap::new(),
                rows: 0,
                layout,
            },
            index: HashMap::new(),
            layer_index,
            file: file.display().to_string(),
            place,
        }
    }

    /// Where the header is: line 1, or row 0 (see [`Place`]).
    fn header(&self) -> u64 {
        match self.place {
            Place::Lines => 1,
            Place::Rows => 0,
        }
    }

    fn err(&self, line: u64, msg: impl std::fmt::Display) -> ReadError {
        match self.place {
            Place::Lines => ReadError(format!("{}:{line}: {msg}", self.file)),
            Place::Rows if line == 0 => ReadError(format!("{}: {msg}", self.file)),
            Place::Rows => ReadError(format!("{}: row {line}: {msg}", self.file)),
        }
    }

    fn site(&mut self, id: &str, props: Vec<String>) -> usize {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.t.sites.len();
        self.index.insert(id.to_string(), i);
        self.t.sites.push(id.to_string());
        self.t.props.push(props);
        self.t.cells.push(self.t.layers.iter().map(|l| vec![Cell::Missing; l.years.len()]).collect());
        i
    }

    fn layer_year(&self, line: u64, layer: &str, year: &str) -> Result<(usize, usize), ReadError> {
        let li = *self.layer_index.get(layer).ok_or_else(|| {
            let known: Vec<&str> = self.t.layers.iter().map(|l| l.name.as_str()).collect();
            let mut m = format!("layer `{layer}` is not in the pipeline (its layers: {})", known.join(", "));
            if let Some(s) = crate::suggest::did_you_mean(layer, known.iter().copied()) {
                m.push_str(&format!("; did you mean `{s}`?"));
            }
            self.err(line, m + "; is this the table of another pipeline?")
        })?;
        let y: i32 = year.trim().parse().map_err(|_| self.err(line, format!("year `{year}` is not a number")))?;
        let yi = self.t.layers[li]
            .years
            .binary_search(&y)
            .map_err(|_| self.err(line, format!("layer `{layer}` has no year {y} in the pipeline")))?;
        Ok((li, yi))
    }

    fn number(&self, line: u64, what: &str, s: &str) -> Result<Option<f64>, ReadError> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<f64>().map(Some).map_err(|_| self.err(line, format!("{what} `{s}` is not a number")))
    }

    fn class(&mut self, site: usize, li: usize, yi: usize, code: i64, area: f64) {
        let cell = &mut self.t.cells[site][li][yi];
        if !matches!(cell, Cell::Classes(_)) {
            *cell = Cell::Classes(Vec::new());
        }
        if let Cell::Classes(v) = cell {
            match v.binary_search_by_key(&code, |e| e.0) {
                Ok(i) => v[i].1 += area,
                Err(i) => v.insert(i, (code, area)),
            }
        }
    }

    fn value(&mut self, site: usize, li: usize, yi: usize, series: usize, value: Option<f64>) {
        let n = self.t.layers[li].series.len();
        let cell = &mut self.t.cells[site][li][yi];
        if !matches!(cell, Cell::Values(_)) {
            *cell = Cell::Values(vec![None; n]);
        }
        if let Cell::Values(v) = cell {
            v[series] = value;
        }
    }

    fn nodata(&mut self, site: usize, li: usize, yi: usize) {
        let cell = &mut self.t.cells[site][li][yi];
        if *cell == Cell::Missing {
            *cell = Cell::NoData;
        }
    }

    /// One long-layout row: `get` returns a column's text.
    fn long_row(
        &mut self,
        line: u64,
        get: &dyn Fn(&str) -> String,
        id: String,
        props: Vec<String>,
    ) -> Result<(), ReadError> {
        let (li, yi) = self.layer_year(line, &get("layer"), &get("year"))?;
        let site = self.site(&id, props);
        let kind = get("kind");
        match kind.as_str() {
            "nodata" => self.nodata(site, li, yi),
            "categorical" => {
                let code_text = get("class_code");
                let code: i64 = code_text
                    .trim()
                    .parse()
                    .map_err(|_| self.err(line, format!("class_code `{code_text}` is not an integer")))?;
                let area = self.number(line, "area_ha", &get("area_ha"))?.unwrap_or(0.0);
                let name = get("class_name");
                if !name.is_empty() {
                    self.t.class_names.entry((li, code)).or_insert(name);
                }
                self.class(site, li, yi, code, area);
            }
            "continuous" => {
                let (band, stat) = (get("band"), get("stat"));
                let series = self.t.layers[li].series.iter().position(|(b, s)| *b == band && *s == stat);
                let Some(series) = series else {
                    return Err(self.err(
                        line,
                        format!(
                            "layer `{}` has no band `{band}` with statistic `{stat}` in the pipeline",
                            get("layer")
                        ),
                    ));
                };
                let v = self.number(line, "value", &get("value"))?;
                self.value(site, li, yi, series, v);
            }
            other => {
                return Err(self.err(line, format!("kind `{other}` is not categorical, continuous or nodata")));
            }
        }
        self.t.rows += 1;
        Ok(())
    }

    /// One wide-layout row: `cells` are (column, text) after the id and kept columns.
    fn wide_row(
        &mut self,
        line: u64,
        id: String,
        props: Vec<String>,
        cells: &[(&WideColumn, String)],
    ) -> Result<(), ReadError> {
        let site = self.site(&id, props);
        for (col, text) in cells {
            let Some(v) = self.number(line, &col.name, text)? else { continue };
            match &col.what {
                WideWhat::Area(code) => self.class(site, col.layer, col.year, *code, v),
                WideWhat::Pixels(code) => {
                    // A class with pixels but no area is still present.
                    self.class(site, col.layer, col.year, *code, 0.0);
                }
                WideWhat::Stat(series) => self.value(site, col.layer, col.year, *series, Some(v)),
            }
        }
        // Classes present with zero area in every column are dropped (the wide layout writes 0 for absent).
        for cells in &mut self.t.cells[site] {
            for c in cells.iter_mut() {
                if let Cell::Classes(v) = c {
                    v.retain(|e| e.1 != 0.0);
                }
            }
        }
        self.t.rows += 1;
        Ok(())
    }
}

#[derive(Debug)]
enum WideWhat {
    Area(i64),
    Pixels(i64),
    Stat(usize),
}

#[derive(Debug)]
struct WideColumn {
    name: String,
    layer: usize,
    year: usize,
    what: WideWhat,
}

fn wide_column(b: &Builder, name: &str) -> Result<WideColumn, ReadError> {
    let bad = || b.err(b.header(), format!("column `{name}` is neither a kept property nor `layer__year__...`"));
    let (layer, rest) = name.split_once("__").ok_or_else(bad)?;
    let (year, rest) = rest.split_once("__").ok_or_else(bad)?;
    let (li, yi) = b.layer_year(b.header(), layer, year)?;
    let (a, c) = rest.rsplit_once("__").ok_or_else(bad)?;
    let what = match b.t.layers[li].kind {
        LayerKind::Categorical => {
            let code: i64 = a.parse().map_err(|_| bad())?;
            match c {
                "ha" => WideWhat::Area(code),
                "px" => WideWhat::Pixels(code),
                _ => return Err(bad()),
            }
        }
        LayerKind::Continuous => {
            WideWhat::Stat(b.t.layers[li].series.iter().position(|(bd, st)| bd == a && st == c).ok_or_else(|| {
                b.err(b.header(), format!("column `{name}`: layer `{layer}` has no band `{a}` with statistic `{c}`"))
            })?)
        }
    };
    Ok(WideColumn { name: name.to_string(), layer: li, year: yi, what })
}

/// Reads the table at `path` (CSV, GeoJSON or Parquet; long or wide) for `pipeline`.
pub fn read(pipeline: &Pipeline, path: &Path) -> Result<Table, ReadError> {
    let open =
        || std::fs::File::open(path).map_err(|e| ReadError(format!("cannot read the table `{}`: {e}", path.display())));
    let file = open()?;
    let mut magic = [0u8; 4];
    if std::io::Read::read_exact(&mut &file, &mut magic).is_ok() && &magic == b"PAR1" {
        return read_parquet(pipeline, path, open()?);
    }
    let mut head = [0u8; 1];
    let is_json = {
        use std::io::Read;
        let mut f = std::io::BufReader::new(open()?);
        loop {
            match f.read(&mut head) {
                Ok(0) => break false,
                Ok(_) if head[0].is_ascii_whitespace() => continue,
                Ok(_) => break head[0] == b'{',
                Err(e) => return Err(ReadError(format!("cannot read the table `{}`: {e}", path.display()))),
            }
        }
    };
    if is_json {
        read_geojson(pipeline, path, open()?)
    } else {
        read_csv(pipeline, path, open()?)
    }
}

/// Why the next row cannot be read (what, not where).
#[derive(Debug, thiserror::Error)]
enum RowError {
    #[error("not a CSV row: {0}")]
    Csv(#[from] csv::Error),
    #[error("not a readable Parquet row group: {0}")]
    Parquet(#[from] arrow_schema::ArrowError),
}

/// A table's rows with their cells as text, one row at a time: CSV records or Parquet record batches.
trait Rows {
    /// Moves to the next row; `Ok(false)` at the end.
    fn advance(&mut self) -> Result<bool, RowError>;
    /// The current row's line (CSV) or row number (Parquet).
    fn place(&self) -> u64;
    /// Cell `i` of the current row (empty when missing).
    fn get(&self, i: usize) -> String;
}

struct CsvRows<R: std::io::Read> {
    reader: csv::Reader<R>,
    record: csv::StringRecord,
    line: u64,
}

impl<R: std::io::Read> Rows for CsvRows<R> {
    fn advance(&mut self) -> Result<bool, RowError> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => Ok(false),
            Ok(true) => {
                self.line = self.record.position().map(|p| p.line()).unwrap_or(self.line + 1);
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn place(&self) -> u64 {
        self.line
    }

    fn get(&self, i: usize) -> String {
        self.record.get(i).unwrap_or("").to_string()
    }
}

impl Rows for RowReader {
    fn advance(&mut self) -> Result<bool, RowError> {
        Ok(self.next_row()?)
    }

    fn place(&self) -> u64 {
        self.row_number()
    }

    fn get(&self, i: usize) -> String {
        self.text(i)
    }
}

fn read_csv(pipeline: &Pipeline, path: &Path, file: std::fs::File) -> Result<Table, ReadError> {
    let mut r =
        csv::ReaderBuilder::new().has_headers(true).from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let header: Vec<String> = r
        .headers()
        .map_err(|e| ReadError(format!("{}: not a CSV table: {e}", path.display())))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = CsvRows { reader: r, record: csv::StringRecord::new(), line: 1 };
    read_rows(pipeline, path, Place::Lines, header, &mut rows)
}

/// Parquet, as written by geepipe (`output.format: parquet`) or by any other Parquet writer with the
/// same columns; read one record batch at a time ([`RowReader`]).
fn read_parquet(pipeline: &Pipeline, path: &Path, file: std::fs::File) -> Result<Table, ReadError> {
    let mut rows = RowReader::open(file)
        .map_err(|e| ReadError(format!("{}: not a readable Parquet table: {e}", path.display())))?;
    let header = rows.names().to_vec();
    read_rows(pipeline, path, Place::Rows, header, &mut rows)
}

/// Reads the rows of a CSV or Parquet table with this header: long when it has every long-layout
/// column, else wide.
fn read_rows(
    pipeline: &Pipeline,
    path: &Path,
    place: Place,
    header: Vec<String>,
    rows: &mut dyn Rows,
) -> Result<Table, ReadError> {
    if header.is_empty() || header.len() == 1 && header[0].is_empty() {
        return Err(ReadError(format!("{}: the table is empty (no header)", path.display())));
    }
    let long = LONG_COLUMNS.iter().all(|c| header.iter().any(|h| h == c));
    let id_column = header[0].clone();
    let next = |b: &Builder, rows: &mut dyn Rows| rows.advance().map_err(|e| b.err(rows.place() + 1, e));
    if long {
        let at = |name: &str| header.iter().position(|h| h == name).unwrap_or(0);
        let first_fixed = at("layer");
        let keep: Vec<String> = header[1..first_fixed].to_vec();
        let cols: HashMap<&str, usize> = LONG_COLUMNS.iter().map(|c| (*c, at(c))).collect();
        let mut b = Builder::new(pipeline, path, place, id_column, keep, "long");
        while next(&b, rows)? {
            let get = |name: &str| rows.get(cols.get(name).copied().unwrap_or(usize::MAX));
            let props = (1..first_fixed).map(|i| rows.get(i)).collect();
            b.long_row(rows.place(), &get, rows.get(0), props)?;
        }
        Ok(b.t)
    } else {
        let probe = Builder::new(pipeline, path, place, id_column.clone(), Vec::new(), "wide");
        let first_data = header.iter().position(|h| h.contains("__")).unwrap_or(header.len());
        let keep: Vec<String> = header[1..first_data].to_vec();
        let columns: Vec<WideColumn> =
            header[first_data..].iter().map(|h| wide_column(&probe, h)).collect::<Result<_, _>>()?;
        let mut b = Builder::new(pipeline, path, place, id_column, keep, "wide");
        while next(&b, rows)? {
            let props = (1..first_data).map(|i| rows.get(i)).collect();
            let cells: Vec<(&WideColumn, String)> =
                columns.iter().enumerate().map(|(i, c)| (c, rows.get(first_data + i))).collect();
            b.wide_row(rows.place(), rows.get(0), props, &cells)?;
        }
        Ok(b.t)
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    }
}

fn read_geojson(pipeline: &Pipeline, path: &Path, file: std::fs::File) -> Result<Table, ReadError> {
    #[derive(serde::Deserialize)]
    struct Fc {
        features: Vec<Feature>,
    }
    #[derive(serde::Deserialize)]
    struct Feature {
        properties: serde_json::Map<String, Value>,
    }
    let fc: Fc = serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| ReadError(format!("{}: not a GeoJSON table: {e}", path.display())))?;
    let id_column = pipeline.sites.id_property.clone();
    let Some(first) = fc.features.first() else {
        let b = Builder::new(pipeline, path, Place::Lines, id_column, Vec::new(), "long");
        return Ok(b.t);
    };
    let long = first.properties.contains_key("layer") && first.properties.contains_key("kind");
    let names: Vec<String> = first.properties.keys().cloned().collect();
    let keep: Vec<String> = names
        .iter()
        .filter(|k| **k != id_column && !LONG_COLUMNS.contains(&k.as_str()) && !k.contains("__"))
        .cloned()
        .collect();
    let mut b =
        Builder::new(pipeline, path, Place::Lines, id_column.clone(), keep.clone(), if long { "long" } else { "wide" });
    let columns: Vec<WideColumn> = if long {
        Vec::new()
    } else {
        names.iter().filter(|k| k.contains("__")).map(|h| wide_column(&b, h)).collect::<Result<_, _>>()?
    };
    for (i, f) in fc.features.iter().enumerate() {
        let line = i as u64 + 1;
        let p = &f.properties;
        let id = text(p.get(&id_column));
        let props = keep.iter().map(|k| text(p.get(k))).collect();
        if long {
            let get = |name: &str| text(p.get(name));
            b.long_row(line, &get, id, props)?;
        } else {
            let cells: Vec<(&WideColumn, String)> = columns.iter().map(|c| (c, text(p.get(&c.name)))).collect();
            b.wide_row(line, id, props, &cells)?;
        }
    }
    Ok(b.t)
}
