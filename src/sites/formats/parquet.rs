//! GeoParquet 1.0 and 1.1 through the `parquet` crate's Arrow reader: the `geo` key-value metadata names
//! the primary geometry column, its encoding (WKB is read; GeoArrow's native encodings are refused with
//! help) and its coordinate system (PROJJSON; absent means OGC:CRS84, `null` unknown). Only the geometry
//! and the wanted columns are decoded, in batches of [`BATCH_ROWS`] rows: memory holds one batch.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use serde_json::{Map, Value};

use super::{geom_from, number_value, ReadError, Records};
use crate::crs::Crs;
use crate::diag::{Code, Diagnostic};
use crate::sites::check::{DeclaredCrs, Geom, Record};

/// Rows decoded at a time.
pub const BATCH_ROWS: usize = 4096;

pub struct ParquetRecords {
    builder: Option<ParquetRecordBatchReaderBuilder<File>>,
    geometry: String,
    fields: Vec<String>,
    crs: Option<DeclaredCrs>,
}

pub fn open(path: &Path, name: &str) -> Result<ParquetRecords, Diagnostic> {
    let fail = |msg: String, help: &str| Diagnostic::error(Code::SitesRead, msg).in_file(name).with_help(help);
    let write_it = "write it as GeoParquet, e.g. GeoPandas `gdf.to_parquet(…)` or `ogr2ogr -f Parquet …`";
    let file = File::open(path).map_err(|e| fail(format!("cannot read site file `{name}`: {e}"), ""))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| fail(format!("`{name}` is not a Parquet file geepipe can read: {e}"), write_it))?;
    let geo = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "geo").and_then(|k| k.value.clone()))
        .ok_or_else(|| fail(format!("`{name}` is a Parquet file without GeoParquet's `geo` metadata"), write_it))?;
    let geo: Value = serde_json::from_str(&geo)
        .map_err(|e| fail(format!("the `geo` metadata of `{name}` is not valid JSON: {e}"), write_it))?;
    let geometry = geo.get("primary_column").and_then(Value::as_str).unwrap_or("geometry").to_string();
    let column = geo.get("columns").and_then(|c| c.get(&geometry)).cloned().unwrap_or(Value::Null);
    let encoding = column.get("encoding").and_then(Value::as_str).unwrap_or("WKB");
    if !encoding.eq_ignore_ascii_case("WKB") {
        return Err(Diagnostic::error(
            Code::SitesFormat,
            format!("the geometry column `{geometry}` of `{name}` is encoded as `{encoding}`; geepipe reads WKB"),
        )
        .in_file(name)
        .with_help(
            "write the GeoParquet with WKB geometries (GeoPandas: `to_parquet(…, geometry_encoding=\"WKB\")`)",
        ));
    }
    let schema = builder.schema().clone();
    if schema.field_with_name(&geometry).is_err() {
        return Err(fail(
            format!("`{name}` has no geometry column `{geometry}` (named by its `geo` metadata)"),
            write_it,
        ));
    }
    // Other geometry columns and GeoParquet 1.1 bounding-box coverings are not attributes.
    let mut skip: Vec<String> =
        geo.get("columns").and_then(Value::as_object).map(|cols| cols.keys().cloned().collect()).unwrap_or_default();
    if let Some(bbox) = column.pointer("/covering/bbox/xmin/0").and_then(Value::as_str) {
        skip.push(bbox.to_string());
    }
    let fields = schema.fields().iter().map(|f| f.name().clone()).filter(|f| !skip.contains(f)).collect();
    let origin = format!("the `geo` metadata of `{name}` (column `{geometry}`)");
    let crs = match column.get("crs") {
        // Absent: OGC:CRS84 by the GeoParquet specification. `null`: unknown, nothing declared.
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(DeclaredCrs { crs: Crs::parse(s), origin, span: None }),
        Some(v) => Some(DeclaredCrs { crs: Crs::from_projjson(v), origin, span: None }),
    };
    Ok(ParquetRecords { builder: Some(builder), geometry, fields, crs })
}

impl Records for ParquetRecords {
    fn fields(&self) -> &[String] {
        &self.fields
    }

    fn crs(&mut self) -> Option<DeclaredCrs> {
        self.crs.take()
    }

    fn read(&mut self, wanted: &[String], each: &mut dyn FnMut(Record) -> bool) -> Result<(), ReadError> {
        let Some(builder) = self.builder.take() else { return Ok(()) };
        let fail = |index: Option<usize>, e: &dyn std::fmt::Display| ReadError { index, message: e.to_string() };
        let schema = builder.schema().clone();
        let mut names = vec![self.geometry.clone()];
        names.extend(wanted.iter().filter(|w| self.fields.contains(w)).cloned());
        let roots: Vec<usize> = names.iter().filter_map(|n| schema.index_of(n).ok()).collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader: ParquetRecordBatchReader =
            builder.with_projection(mask).with_batch_size(BATCH_ROWS).build().map_err(|e| fail(None, &e))?;
        let mut index = 0usize;
        for batch in reader {
            let batch = batch.map_err(|e| fail(Some(index), &e))?;
            let geometry = batch
                .column_by_name(&self.geometry)
                .cloned()
                .ok_or_else(|| fail(Some(index), &"no geometry column"))?;
            let columns: Vec<(&String, Option<ArrayRef>)> =
                wanted.iter().map(|w| (w, batch.column_by_name(w).cloned())).collect();
            for row in 0..batch.num_rows() {
                let mut properties = Map::new();
                for (name, column) in &columns {
                    let v = column.as_ref().map(|c| cell(c.as_ref(), row)).unwrap_or(Value::Null);
                    properties.insert((*name).clone(), v);
                }
                let record = Record { index, fid: None, properties, geometry: wkb_cell(geometry.as_ref(), row) };
                if !each(record) {
                    return Ok(());
                }
                index += 1;
            }
        }
        Ok(())
    }
}

/// The geometry in row `row` of a binary column (WKB).
fn wkb_cell(column: &dyn Array, row: usize) -> Geom {
    if column.is_null(row) {
        return Geom::Null;
    }
    let bytes = match column.data_type() {
        DataType::Binary => column.as_binary::<i32>().value(row),
        DataType::LargeBinary => column.as_binary::<i64>().value(row),
        DataType::BinaryView => column.as_binary_view().value(row),
        other => return Geom::Unreadable(format!("the geometry column holds {other}, not WKB bytes")),
    };
    match wkb::reader::read_wkb(bytes) {
        Ok(g) => geom_from(&g),
        Err(e) => Geom::Unreadable(format!("not a WKB geometry geepipe reads ({e})")),
    }
}

/// One cell as JSON: integers, floats, booleans and text; dates and other types as their text.
fn cell(column: &dyn Array, row: usize) -> Value {
    if column.is_null(row) {
        return Value::Null;
    }
    match column.data_type() {
        DataType::Utf8 => Value::from(column.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Value::from(column.as_string::<i64>().value(row)),
        DataType::Utf8View => Value::from(column.as_string_view().value(row)),
        DataType::Boolean => Value::from(column.as_boolean().value(row)),
        DataType::Int8 => Value::from(column.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => Value::from(column.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Value::from(column.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::from(column.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::from(column.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => Value::from(column.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => Value::from(column.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => Value::from(column.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => number_value(f64::from(column.as_primitive::<Float32Type>().value(row)), false),
        DataType::Float64 => number_value(column.as_primitive::<Float64Type>().value(row), false),
        DataType::Dictionary(_, _) => {
            let dict = column.as_any_dictionary();
            let key = dict.normalized_keys()[row];
            cell(dict.values().as_ref(), key)
        }
        _ => match arrow_array::temporal_conversions::as_date::<arrow_array::types::Date32Type>(i64::from(
            column.as_primitive_opt::<arrow_array::types::Date32Type>().map(|a| a.value(row)).unwrap_or(0),
        )) {
            Some(d) if matches!(column.data_type(), DataType::Date32) => Value::from(d.to_string()),
            _ => Value::Null,
        },
    }
}
