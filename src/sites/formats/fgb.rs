//! FlatGeobuf through the `flatgeobuf` crate (without its HTTP client): the header gives the columns and
//! the coordinate system (an EPSG code, else WKT); features are read in file order without the spatial
//! index, one at a time. Absent values (FlatGeobuf stores only the present ones) read as null.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use flatgeobuf::geozero::{ColumnValue, PropertyProcessor};
use flatgeobuf::{FallibleStreamingIterator, FeatureProperties, FgbReader};
use serde_json::{Map, Value};

use super::{geom_from, number_value, ReadError, Records};
use crate::crs::Crs;
use crate::diag::{Code, Diagnostic};
use crate::sites::check::{DeclaredCrs, Geom, Record};

pub struct FgbRecords {
    reader: Option<FgbReader<BufReader<File>>>,
    fields: Vec<String>,
    crs: Option<DeclaredCrs>,
}

pub fn open(path: &Path, name: &str) -> Result<FgbRecords, Diagnostic> {
    let fail = |e: &dyn std::fmt::Display| {
        Diagnostic::error(Code::SitesRead, format!("`{name}` is not a FlatGeobuf file geepipe can read: {e}"))
            .in_file(name)
            .with_help("check the file (e.g. `ogrinfo FILE`), or export the sites again")
    };
    let file = File::open(path).map_err(|e| fail(&e))?;
    let reader = FgbReader::open(BufReader::new(file)).map_err(|e| fail(&e))?;
    let header = reader.header();
    let fields = header.columns().map(|cols| cols.iter().map(|c| c.name().to_string()).collect()).unwrap_or_default();
    let crs = header.crs().and_then(|c| {
        let origin = "the FlatGeobuf header".to_string();
        let by_code = match (c.org(), c.code()) {
            (org, code) if code > 0 => Some(Crs::from_authority(org.unwrap_or("EPSG"), &code.to_string())),
            _ => None,
        };
        let crs = match (by_code, c.wkt()) {
            (Some(Ok(crs)), _) => Ok(crs),
            (Some(Err(_)), Some(wkt)) | (None, Some(wkt)) => Crs::from_wkt(wkt),
            (Some(Err(e)), None) => Err(e),
            (None, None) => return None,
        };
        Some(DeclaredCrs { crs, origin, span: None })
    });
    Ok(FgbRecords { reader: Some(reader), fields, crs })
}

/// Collects the wanted properties of one feature.
struct Wanted<'a> {
    wanted: &'a [String],
    out: Map<String, Value>,
}

impl PropertyProcessor for Wanted<'_> {
    fn property(&mut self, _idx: usize, name: &str, value: &ColumnValue) -> flatgeobuf::geozero::error::Result<bool> {
        if self.wanted.iter().any(|w| w == name) {
            let v = match value {
                ColumnValue::Byte(x) => Value::from(*x),
                ColumnValue::UByte(x) => Value::from(*x),
                ColumnValue::Bool(x) => Value::from(*x),
                ColumnValue::Short(x) => Value::from(*x),
                ColumnValue::UShort(x) => Value::from(*x),
                ColumnValue::Int(x) => Value::from(*x),
                ColumnValue::UInt(x) => Value::from(*x),
                ColumnValue::Long(x) => Value::from(*x),
                ColumnValue::ULong(x) => Value::from(*x),
                ColumnValue::Float(x) => number_value(f64::from(*x), false),
                ColumnValue::Double(x) => number_value(*x, false),
                ColumnValue::String(s) | ColumnValue::Json(s) | ColumnValue::DateTime(s) => Value::from(*s),
                ColumnValue::Binary(_) => Value::Null,
            };
            self.out.insert(name.to_string(), v);
        }
        // `false`: go on with the next property.
        Ok(false)
    }
}

impl Records for FgbRecords {
    fn fields(&self) -> &[String] {
        &self.fields
    }

    fn crs(&mut self) -> Option<DeclaredCrs> {
        self.crs.take()
    }

    fn read(&mut self, wanted: &[String], each: &mut dyn FnMut(Record) -> bool) -> Result<(), ReadError> {
        let Some(reader) = self.reader.take() else { return Ok(()) };
        let mut features = reader.select_all_seq().map_err(|e| ReadError { index: None, message: e.to_string() })?;
        let mut index = 0usize;
        while let Some(feature) = features.next().map_err(|e| ReadError::at(index, e))? {
            let geometry = match feature.geometry_trait() {
                Ok(Some(g)) => geom_from(&g),
                Ok(None) => Geom::Null,
                Err(e) => Geom::Unreadable(e.to_string()),
            };
            let mut props = Wanted { wanted, out: Map::new() };
            feature.process_properties(&mut props).map_err(|e| ReadError::at(index, e))?;
            let mut properties = props.out;
            for field in wanted {
                properties.entry(field.clone()).or_insert(Value::Null);
            }
            if !each(Record { index, fid: None, properties, geometry }) {
                return Ok(());
            }
            index += 1;
        }
        Ok(())
    }
}
