//! The tidy table as Apache Parquet (and GeoParquet 1.1 when a geometry is asked for), written with the
//! `parquet` crate's Arrow writer (Snappy-compressed, row groups of [`ROW_GROUP`] rows).
//!
//! Columns have real types: the id, names and labels are strings; `year` a 32-bit integer; `class_code` a
//! 64-bit integer; areas, pixel counts and statistic values 64-bit floats; empty cells are nulls. A kept
//! site property takes the narrowest type all its values fit: integer, float, boolean, else string
//! (objects and arrays as JSON text). The geometry column holds WKB (the site polygon, or its centroid)
//! and the file's `geo` metadata says so, with the geometry types and the bounding box (the coordinate
//! system is left out, which GeoParquet reads as OGC:CRS84, WGS 84 longitude/latitude).
//!
//! The run's key facts go into the file's key-value metadata under `geepipe:*` keys (version, pipeline,
//! pipeline hash, catalog version, engine, layout), so a table read on its own still says where it came
//! from. Rows are collected in memory (as typed columns) and written at the end, because a kept
//! property's type is known only after its last value.
//!
//! [`RowReader`] reads such a table back (ours, or one written by pyarrow, pandas, DuckDB, ...) one row at
//! a time with every cell as text, the way the CSV reader gives it, so `geepipe report` reads all formats
//! through one path. It holds one record batch ([`READ_BATCH`] rows) at a time, never the whole table, and
//! skips the geometry (binary) columns and pandas' `__index_level_N__` index columns.

use std::io::Write;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde_json::{json, Value};

/// Rows per row group.
pub const ROW_GROUP: usize = 65_536;

/// One cell as the table writer hands it over.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(Option<String>),
    Int32(Option<i32>),
    Int(Option<i64>),
    Float(Option<f64>),
    /// A site property: typed once all its values are known.
    Property(Value),
}

/// One column's values.
#[derive(Debug)]
enum Cells {
    Text(Vec<Option<String>>),
    Int32(Vec<Option<i32>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Property(Vec<Value>),
}

impl Cells {
    fn like(c: &Cell) -> Cells {
        match c {
            Cell::Text(_) => Cells::Text(Vec::new()),
            Cell::Int32(_) => Cells::Int32(Vec::new()),
            Cell::Int(_) => Cells::Int(Vec::new()),
            Cell::Float(_) => Cells::Float(Vec::new()),
            Cell::Property(_) => Cells::Property(Vec::new()),
        }
    }

    fn push(&mut self, c: Cell) {
        match (self, c) {
            (Cells::Text(v), Cell::Text(x)) => v.push(x),
            (Cells::Int32(v), Cell::Int32(x)) => v.push(x),
            (Cells::Int(v), Cell::Int(x)) => v.push(x),
            (Cells::Float(v), Cell::Float(x)) => v.push(x),
            (Cells::Property(v), Cell::Property(x)) => v.push(x),
            // A cell of another kind than its column's first: keep the row count right.
            (Cells::Text(v), _) => v.push(None),
            (Cells::Int32(v), _) => v.push(None),
            (Cells::Int(v), _) => v.push(None),
            (Cells::Float(v), _) => v.push(None),
            (Cells::Property(v), _) => v.push(Value::Null),
        }
    }

    /// The Arrow array of rows `range`.
    fn array(&self, range: std::ops::Range<usize>) -> ArrayRef {
        match self {
            Cells::Text(v) => Arc::new(StringArray::from(v[range].to_vec())),
            Cells::Int32(v) => Arc::new(Int32Array::from(v[range].to_vec())),
            Cells::Int(v) => Arc::new(Int64Array::from(v[range].to_vec())),
            Cells::Float(v) => Arc::new(Float64Array::from(v[range].to_vec())),
            Cells::Property(v) => match property_type(v) {
                DataType::Int64 => Arc::new(Int64Array::from(v[range].iter().map(Value::as_i64).collect::<Vec<_>>())),
                DataType::Float64 => {
                    Arc::new(Float64Array::from(v[range].iter().map(Value::as_f64).collect::<Vec<_>>()))
                }
                DataType::Boolean => {
                    Arc::new(BooleanArray::from(v[range].iter().map(Value::as_bool).collect::<Vec<_>>()))
                }
                _ => Arc::new(StringArray::from(v[range].iter().map(text).collect::<Vec<_>>())),
            },
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Cells::Text(_) => DataType::Utf8,
            Cells::Int32(_) => DataType::Int32,
            Cells::Int(_) => DataType::Int64,
            Cells::Float(_) => DataType::Float64,
            Cells::Property(v) => property_type(v),
        }
    }
}

/// The narrowest type every value of a property fits (nulls fit all); strings when nothing else does.
fn property_type(values: &[Value]) -> DataType {
    let present = || values.iter().filter(|v| !v.is_null());
    if present().next().is_none() {
        DataType::Utf8
    } else if present().all(|v| v.is_i64()) {
        DataType::Int64
    } else if present().all(Value::is_number) {
        DataType::Float64
    } else if present().all(Value::is_boolean) {
        DataType::Boolean
    } else {
        DataType::Utf8
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The geometry column: WKB per row, and what the `geo` metadata says about it.
#[derive(Debug, Default)]
struct Geometry {
    wkb: Vec<Option<Vec<u8>>>,
    types: std::collections::BTreeSet<&'static str>,
    bbox: Option<[f64; 4]>,
}

/// A table being collected for Parquet output.
#[derive(Debug)]
pub struct ParquetTable {
    names: Vec<String>,
    columns: Vec<Cells>,
    geometry: Option<Geometry>,
    rows: usize,
}

/// The name of the geometry column.
pub const GEOMETRY_COLUMN: &str = "geometry";

impl ParquetTable {
    /// A table with these column names (types follow the first row), with a geometry column when asked.
    pub fn new(names: Vec<String>, with_geometry: bool) -> ParquetTable {
        ParquetTable { names, columns: Vec::new(), geometry: with_geometry.then(Geometry::default), rows: 0 }
    }

    /// Adds a row; `geometry` is the row's WKB with its type name and bounding box.
    pub fn push(&mut self, cells: Vec<Cell>, geometry: Option<(Vec<u8>, &'static str, [f64; 4])>) {
        if self.columns.is_empty() {
            self.columns = cells.iter().map(Cells::like).collect();
        }
        for (col, c) in self.columns.iter_mut().zip(cells) {
            col.push(c);
        }
        if let Some(g) = &mut self.geometry {
            match geometry {
                Some((wkb, ty, b)) => {
                    g.wkb.push(Some(wkb));
                    g.types.insert(ty);
                    g.bbox = Some(match g.bbox {
                        None => b,
                        Some(a) => [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])],
                    });
                }
                None => g.wkb.push(None),
            }
        }
        self.rows += 1;
    }

    /// Writes the table with `metadata` (key-value pairs) into `w`, and gives `w` back.
    pub fn write<W: Write + Send>(self, w: W, metadata: Vec<(String, String)>) -> parquet::errors::Result<W> {
        let mut fields: Vec<Field> = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            let ty = self.columns.get(i).map(Cells::data_type).unwrap_or(DataType::Utf8);
            fields.push(Field::new(name, ty, true));
        }
        if self.geometry.is_some() {
            fields.push(Field::new(GEOMETRY_COLUMN, DataType::Binary, true));
        }
        let mut kv: std::collections::HashMap<String, String> = metadata.into_iter().collect();
        if let Some(g) = &self.geometry {
            let mut column = json!({"encoding": "WKB", "geometry_types": g.types.iter().collect::<Vec<_>>()});
            if let Some(b) = g.bbox {
                column["bbox"] = json!(b);
            }
            let geo =
                json!({"version": "1.1.0", "primary_column": GEOMETRY_COLUMN, "columns": {GEOMETRY_COLUMN: column}});
            kv.insert("geo".to_string(), geo.to_string());
        }
        // Twice: in the Parquet footer, which every Parquet reader reads (e.g. DuckDB's
        // `parquet_kv_metadata`), and in the Arrow schema stored beside it, which pyarrow and GeoPandas
        // read instead (the writer does not copy one into the other).
        let mut footer: Vec<KeyValue> = kv.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect();
        footer.sort_by(|a, b| a.key.cmp(&b.key));
        let schema = Arc::new(Schema::new_with_metadata(fields, kv));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by(format!("geepipe {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(footer))
            .build();
        let mut writer = ArrowWriter::try_new(w, schema.clone(), Some(props))?;
        let mut start = 0;
        while start < self.rows || (start == 0 && self.rows == 0) {
            let end = (start + ROW_GROUP).min(self.rows);
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
            for (i, f) in self.names.iter().enumerate() {
                arrays.push(match self.columns.get(i) {
                    Some(c) => c.array(start..end),
                    None => Arc::new(StringArray::from(vec![None::<String>; end - start])) as ArrayRef,
                });
                let _ = f;
            }
            if let Some(g) = &self.geometry {
                let values: Vec<Option<&[u8]>> = g.wkb[start..end].iter().map(|w| w.as_deref()).collect();
                arrays.push(Arc::new(BinaryArray::from(values)));
            }
            let batch = RecordBatch::try_new(schema.clone(), arrays)?;
            writer.write(&batch)?;
            if self.rows == 0 {
                break;
            }
            start = end;
        }
        writer.into_inner()
    }
}

/// Rows per record batch when reading.
pub const READ_BATCH: usize = 8_192;

/// One column of the current batch; dictionary columns keep their keys resolved to value indexes.
enum ReadColumn {
    Plain(ArrayRef),
    Dictionary { keys: Vec<usize>, nulls: ArrayRef, values: ArrayRef },
}

/// A Parquet table read row by row, every cell as text (see the module doc).
pub struct RowReader {
    names: Vec<String>,
    batches: ParquetRecordBatchReader,
    columns: Vec<ReadColumn>,
    len: usize,
    /// Index of the current row in the batch (`len` before the first row).
    row: usize,
    /// Rows read so far, the current one included.
    rows: u64,
}

/// Whether a column holds something a table cell can be read from as text.
fn readable(field: &Field) -> bool {
    let name = field.name();
    if name.starts_with("__index_level_") && name.ends_with("__") {
        return false;
    }
    match field.data_type() {
        DataType::Dictionary(_, v) => !matches!(**v, DataType::Binary | DataType::LargeBinary | DataType::BinaryView),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => false,
        _ => true,
    }
}

impl RowReader {
    /// Opens a Parquet file: reads its footer and schema (the rows come with [`RowReader::next_row`]).
    pub fn open(file: std::fs::File) -> parquet::errors::Result<RowReader> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let fields = builder.schema().fields().clone();
        let keep: Vec<usize> = (0..fields.len()).filter(|&i| readable(&fields[i])).collect();
        let names = keep.iter().map(|&i| fields[i].name().clone()).collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), keep);
        let batches = builder.with_batch_size(READ_BATCH).with_projection(mask).build()?;
        Ok(RowReader { names, batches, columns: Vec::new(), len: 0, row: 0, rows: 0 })
    }

    /// The column names, in file order (geometry and pandas index columns left out).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Moves to the next row; `false` at the end of the table.
    pub fn next_row(&mut self) -> Result<bool, arrow_schema::ArrowError> {
        self.row += 1;
        while self.row >= self.len {
            let Some(batch) = self.batches.next() else {
                self.columns.clear();
                self.len = 0;
                self.row = 0;
                return Ok(false);
            };
            let batch = batch?;
            self.columns = batch
                .columns()
                .iter()
                .map(|a| match a.as_any_dictionary_opt() {
                    Some(d) => ReadColumn::Dictionary {
                        keys: d.normalized_keys(),
                        nulls: a.clone(),
                        values: d.values().clone(),
                    },
                    None => ReadColumn::Plain(a.clone()),
                })
                .collect();
            self.len = batch.num_rows();
            self.row = 0;
        }
        self.rows += 1;
        Ok(true)
    }

    /// The current row's number, from 1.
    pub fn row_number(&self) -> u64 {
        self.rows
    }

    /// Column `i` of the current row as text: empty for a null, numbers in the shortest form that reads
    /// back to the same value, booleans as `true`/`false`; empty too for a type a table cell never has
    /// (lists, structs, dates).
    pub fn text(&self, i: usize) -> String {
        match self.columns.get(i) {
            None => String::new(),
            Some(ReadColumn::Plain(a)) => cell_text(a.as_ref(), self.row),
            Some(ReadColumn::Dictionary { keys, nulls, values }) => {
                if nulls.is_null(self.row) {
                    String::new()
                } else {
                    cell_text(values.as_ref(), keys[self.row])
                }
            }
        }
    }
}

fn cell_text(a: &dyn Array, i: usize) -> String {
    if a.is_null(i) {
        return String::new();
    }
    macro_rules! number {
        ($t:ty) => {
            a.as_primitive::<$t>().value(i).to_string()
        };
    }
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => a.as_string_view().value(i).to_string(),
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Int8 => number!(Int8Type),
        DataType::Int16 => number!(Int16Type),
        DataType::Int32 => number!(Int32Type),
        DataType::Int64 => number!(Int64Type),
        DataType::UInt8 => number!(UInt8Type),
        DataType::UInt16 => number!(UInt16Type),
        DataType::UInt32 => number!(UInt32Type),
        DataType::UInt64 => number!(UInt64Type),
        DataType::Float32 => number!(Float32Type),
        DataType::Float64 => number!(Float64Type),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `batch` to a temporary Parquet file and reads it back as text rows.
    fn read_back(batch: RecordBatch, row_group: usize) -> (Vec<String>, Vec<Vec<String>>) {
        let mut file = tempfile::tempfile().unwrap();
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(row_group)).build();
        let mut w = ArrowWriter::try_new(&mut file, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let mut r = RowReader::open(file).unwrap();
        let names = r.names().to_vec();
        let mut rows = Vec::new();
        while r.next_row().unwrap() {
            assert_eq!(r.row_number(), rows.len() as u64 + 1);
            rows.push((0..names.len()).map(|i| r.text(i)).collect());
        }
        (names, rows)
    }

    #[test]
    fn cells_read_back_as_text_and_binary_columns_are_left_out() {
        let dict: arrow_array::DictionaryArray<Int32Type> =
            vec![Some("forest"), None, Some("pasture"), Some("forest")].into_iter().collect();
        let batch = RecordBatch::try_from_iter([
            ("site_id", Arc::new(StringArray::from(vec!["a", "b", "c", "d"])) as ArrayRef),
            ("year", Arc::new(arrow_array::Int16Array::from(vec![2020, 2021, 2022, 2023])) as ArrayRef),
            ("area_ha", Arc::new(Float64Array::from(vec![Some(0.1), None, Some(1e-7), Some(3.0)])) as ArrayRef),
            ("class", Arc::new(dict) as ArrayRef),
            ("ok", Arc::new(BooleanArray::from(vec![true, false, true, false])) as ArrayRef),
            ("geometry", Arc::new(BinaryArray::from(vec![&b"\x01"[..]; 4])) as ArrayRef),
            ("__index_level_0__", Arc::new(Int64Array::from(vec![7, 8, 9, 10])) as ArrayRef),
        ])
        .unwrap();
        let (names, rows) = read_back(batch, 3);
        assert_eq!(names, ["site_id", "year", "area_ha", "class", "ok"]);
        assert_eq!(
            rows,
            vec![
                vec!["a", "2020", "0.1", "forest", "true"],
                vec!["b", "2021", "", "", "false"],
                vec!["c", "2022", "0.0000001", "pasture", "true"],
                vec!["d", "2023", "3", "forest", "false"],
            ]
        );
        assert_eq!("0.0000001".parse::<f64>().unwrap(), 1e-7);
    }

    #[test]
    fn rows_cross_row_groups_and_batches_in_order() {
        let n = READ_BATCH * 2 + 5;
        let ids: Vec<i64> = (0..n as i64).collect();
        let batch = RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(ids.clone())) as ArrayRef)]).unwrap();
        let (_, rows) = read_back(batch, 1000);
        let got: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        assert_eq!(got, ids);
    }

    #[test]
    fn an_empty_table_has_its_names_and_no_rows() {
        let batch =
            RecordBatch::try_from_iter([("id", Arc::new(StringArray::from(Vec::<&str>::new())) as ArrayRef)]).unwrap();
        let (names, rows) = read_back(batch, 10);
        assert_eq!(names, ["id"]);
        assert!(rows.is_empty());
    }
}
