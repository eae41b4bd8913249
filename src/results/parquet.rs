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

use std::io::Write;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
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
