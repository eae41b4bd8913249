//! ESRI Shapefiles: the `.shp` geometries with the `.dbf` attributes beside them (read together, record by
//! record, by the `shapefile` crate; `.cpg` code pages through `dbase`'s `encoding_rs` support), the `.prj`
//! WKT for the coordinate system.
//!
//! A shapefile polygon is a flat list of rings: outer rings clockwise, holes counter-clockwise. Each outer
//! ring starts a polygon and the holes after it belong to it (the order GDAL and ArcGIS write); a record
//! with several outer rings is a MultiPolygon. Every ring is reversed into RFC 7946's orientation (outer
//! rings counter-clockwise), which gives back the vertex order of the GeoJSON a shapefile was made from.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use shapefile::dbase::{self, FieldValue};
use shapefile::{PolygonRing, Shape, ShapeReader};

use super::{number_value, ReadError, Records};
use crate::crs::Crs;
use crate::diag::{Code, Diagnostic};
use crate::sites::check::{DeclaredCrs, Geom, Record};
use crate::sites::Polygon;

pub struct ShpRecords {
    shapes: ShapeReader<BufReader<File>>,
    table: dbase::Reader<BufReader<File>>,
    fields: Vec<String>,
    prj: PathBuf,
}

/// Opens the `.shp`, `.shx` and `.dbf` (and `.cpg`); a missing `.dbf` is an error with help.
pub fn open(path: &Path, name: &str) -> Result<ShpRecords, Diagnostic> {
    let fail = |msg: String, help: &str| Err(Diagnostic::error(Code::SitesRead, msg).in_file(name).with_help(help));
    let sidecar = |ext: &str| crate::sites::side_file(path, ext);
    let shapes = match ShapeReader::from_path(path) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot read the shapefile `{name}`: {e}"), "export the shapefile again"),
    };
    let dbf = sidecar("dbf");
    let file = match File::open(&dbf) {
        Ok(f) => BufReader::new(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(
                format!("the shapefile `{name}` has no `{}` beside it (its attribute table)", file_name(&dbf)),
                "a shapefile is several files: copy the .shp, .shx, .dbf, .prj and .cpg together",
            )
        }
        Err(e) => return fail(format!("cannot read `{}`: {e}", file_name(&dbf)), ""),
    };
    let mut builder = dbase::ReaderBuilder::new();
    if let Some(encoding) = code_page(&sidecar("cpg")) {
        builder = builder.with_encoding(encoding);
    }
    let table = match builder.build(file) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read the attribute table `{}`: {e}", file_name(&dbf)), ""),
    };
    let fields = table.fields().iter().map(|f| f.name().to_string()).collect();
    Ok(ShpRecords { shapes, table, fields, prj: sidecar("prj") })
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The `.cpg` code page (`UTF-8`, `1252`, `ISO-8859-1`, …) when the file is there and names one.
fn code_page(cpg: &Path) -> Option<dbase::encoding::DynEncoding> {
    let mut label = String::new();
    File::open(cpg).ok()?.take(1024).read_to_string(&mut label).ok()?;
    dbase::encoding::DynEncoding::from_name(label.trim().trim_start_matches('\u{feff}'))
}

impl Records for ShpRecords {
    fn fields(&self) -> &[String] {
        &self.fields
    }

    fn crs(&mut self) -> Option<DeclaredCrs> {
        let wkt = std::fs::read_to_string(&self.prj).ok()?;
        Some(DeclaredCrs { crs: Crs::from_wkt(&wkt), origin: file_name(&self.prj), span: None })
    }

    fn read(&mut self, wanted: &[String], each: &mut dyn FnMut(Record) -> bool) -> Result<(), ReadError> {
        let mut shapes = self.shapes.iter_shapes();
        let mut rows = self.table.iter_records();
        let mut index = 0usize;
        loop {
            let (shape, row) = match (shapes.next(), rows.next()) {
                (None, None) => return Ok(()),
                (Some(s), Some(r)) => (s, r),
                (Some(_), None) | (None, Some(_)) => {
                    return Err(ReadError::at(index, "the .shp and the .dbf hold different numbers of records"))
                }
            };
            let shape = shape.map_err(|e| ReadError::at(index, e))?;
            let row = row.map_err(|e| ReadError::at(index, e))?;
            let mut properties = Map::new();
            for field in wanted {
                properties.insert(field.clone(), row.get(field).map(value).unwrap_or(Value::Null));
            }
            let record = Record { index, fid: None, properties, geometry: geometry(shape) };
            if !each(record) {
                return Ok(());
            }
            index += 1;
        }
    }
}

/// A `.dbf` value as JSON (whole `N` numbers as integers, dates as `YYYY-MM-DD`).
fn value(v: &FieldValue) -> Value {
    match v {
        FieldValue::Character(Some(s)) | FieldValue::Memo(s) => Value::String(s.clone()),
        FieldValue::Numeric(Some(x)) => number_value(*x, true),
        FieldValue::Float(Some(x)) => number_value(f64::from(*x), false),
        FieldValue::Double(x) | FieldValue::Currency(x) => number_value(*x, false),
        FieldValue::Integer(i) => Value::from(*i),
        FieldValue::Logical(Some(b)) => Value::Bool(*b),
        FieldValue::Date(Some(d)) => Value::String(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())),
        FieldValue::DateTime(dt) => {
            Value::String(format!("{:04}-{:02}-{:02}", dt.date().year(), dt.date().month(), dt.date().day()))
        }
        _ => Value::Null,
    }
}

fn geometry(shape: Shape) -> Geom {
    let rings: Vec<(bool, Vec<[f64; 2]>)> = match shape {
        Shape::NullShape => return Geom::Null,
        Shape::Polygon(p) => p.rings().iter().map(|r| ring(r, |pt| [pt.x, pt.y])).collect(),
        Shape::PolygonM(p) => p.rings().iter().map(|r| ring(r, |pt| [pt.x, pt.y])).collect(),
        Shape::PolygonZ(p) => p.rings().iter().map(|r| ring(r, |pt| [pt.x, pt.y])).collect(),
        Shape::Point(_) | Shape::PointM(_) | Shape::PointZ(_) => return Geom::Other("Point".into()),
        Shape::Polyline(_) | Shape::PolylineM(_) | Shape::PolylineZ(_) => return Geom::Other("MultiLineString".into()),
        Shape::Multipoint(_) | Shape::MultipointM(_) | Shape::MultipointZ(_) => {
            return Geom::Other("MultiPoint".into())
        }
        Shape::Multipatch(_) => return Geom::Other("MultiPatch".into()),
    };
    let mut polygons: Vec<Polygon> = Vec::new();
    for (outer, mut points) in rings {
        points.reverse();
        match polygons.last_mut() {
            Some(p) if !outer => p.push(points),
            _ => polygons.push(vec![points]),
        }
    }
    let multi = polygons.len() > 1;
    Geom::Polygons { polygons, multi }
}

/// A ring's positions and whether it is an outer ring.
fn ring<P>(r: &PolygonRing<P>, xy: impl Fn(&P) -> [f64; 2]) -> (bool, Vec<[f64; 2]>) {
    (matches!(r, PolygonRing::Outer(_)), r.points().iter().map(xy).collect())
}
