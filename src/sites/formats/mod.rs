//! Readers of the site formats other than GeoJSON, one file each, all feeding the same checks
//! ([`super::check`]) record by record, so memory holds one record (or one batch) at a time:
//!
//! | format | crate | coordinate system from |
//! |---|---|---|
//! | GeoJSONSeq (`.geojsonl`, `.geojsons`) | the GeoJSON scanner of [`super::reader`] | WGS 84 (RFC 8142) |
//! | Shapefile (`.shp` + `.shx`, `.dbf`, `.prj`, `.cpg`) | `shapefile` (with `dbase` and `encoding_rs` for `.cpg` code pages) | `.prj` WKT |
//! | GeoPackage (`.gpkg`) | `rusqlite` (the bundled SQLite geepipe already has) + `wkb` | `gpkg_spatial_ref_sys` (EPSG code, else WKT) |
//! | FlatGeobuf (`.fgb`) | `flatgeobuf` (no HTTP) | the header's CRS (EPSG code, else WKT) |
//! | GeoParquet 1.0/1.1 (`.parquet`) | `parquet` (Arrow reader, only the needed columns) + `wkb` | the `geo` metadata's PROJJSON (absent: OGC:CRS84) |
//!
//! The binary formats' geometries go through `geo-traits` (which both `wkb` and `flatgeobuf` implement)
//! into the one [`Geom`] type; a format's own quirks (shapefile ring grouping and orientation, the
//! GeoPackage blob header) stay in its file.

mod fgb;
pub mod geojsonseq;
mod gpkg;
mod parquet;
mod shp;

use std::path::Path;

use geo_traits::{CoordTrait, GeometryTrait, GeometryType, LineStringTrait, MultiPolygonTrait, PolygonTrait};

use super::check::{Checker, DeclaredCrs, Geom, Record};
use super::source::Store;
use super::{Polygon, Report, Ring, Site};
use crate::diag::{Code, Diagnostic};
use crate::pipeline::{SiteFormatName, SiteSource};

/// A reader failure while going through the records, at record `index` when known.
#[derive(Debug)]
pub struct ReadError {
    pub index: Option<usize>,
    pub message: String,
}

impl ReadError {
    pub fn at(index: usize, message: impl std::fmt::Display) -> ReadError {
        ReadError { index: Some(index), message: message.to_string() }
    }
}

/// A binary site file opened for reading, record by record.
pub trait Records {
    /// The names of the file's fields (attribute columns).
    fn fields(&self) -> &[String];
    /// The coordinate system the file declares, if any.
    fn crs(&mut self) -> Option<DeclaredCrs>;
    /// Hands every record, in file order and carrying the `wanted` fields, to `each` until it returns
    /// `false`; an error ends the reading.
    fn read(&mut self, wanted: &[String], each: &mut dyn FnMut(Record) -> bool) -> Result<(), ReadError>;
}

/// Scans a binary site file: opens it (an error there is located at the file, with help), settles its
/// coordinate system, judges its fields, then checks every record.
pub fn scan_records(
    source: &SiteSource,
    path: &Path,
    name: String,
    visit: impl FnMut(Site) -> Result<(), Diagnostic>,
) -> Report {
    let opened: Result<Box<dyn Records>, Diagnostic> = match source.format {
        SiteFormatName::Shapefile => shp::open(path, &name).map(|r| Box::new(r) as Box<dyn Records>),
        SiteFormatName::Geopackage => {
            gpkg::open(path, &name, source.layer.as_deref()).map(|r| Box::new(r) as Box<dyn Records>)
        }
        SiteFormatName::Flatgeobuf => fgb::open(path, &name).map(|r| Box::new(r) as Box<dyn Records>),
        SiteFormatName::Geoparquet => parquet::open(path, &name).map(|r| Box::new(r) as Box<dyn Records>),
        SiteFormatName::Geojson | SiteFormatName::Geojsonseq => {
            Err(Diagnostic::error(Code::SitesFormat, "not a binary format").in_file(name.clone()))
        }
    };
    let mut reader = match opened {
        Ok(r) => r,
        Err(d) => return Report { summary: Default::default(), diagnostics: vec![d] },
    };
    let mut checker = Checker::new(source, name, Store::Records, visit);
    if checker.declare_crs(reader.crs()) && checker.fields(reader.fields()) {
        let wanted = checker.wanted_fields();
        if let Err(e) = reader.read(&wanted, &mut |record| checker.record(record)) {
            checker.read_failed(e.message, e.index);
        }
    }
    let (summary, diagnostics) = checker.finish_records();
    Report { summary, diagnostics }
}

/// A geometry read through `geo-traits` (WKB, FlatGeobuf) as a [`Geom`]; a third and fourth coordinate
/// (height, measure) are dropped.
pub fn geom_from<G: GeometryTrait<T = f64>>(g: &G) -> Geom {
    let name = match g.as_type() {
        GeometryType::Polygon(p) => {
            let polygon = polygon_from(p);
            let polygons = if polygon.is_empty() { Vec::new() } else { vec![polygon] };
            return Geom::Polygons { polygons, multi: false };
        }
        GeometryType::MultiPolygon(mp) => {
            return Geom::Polygons { polygons: mp.polygons().map(|p| polygon_from(&p)).collect(), multi: true }
        }
        GeometryType::Point(_) => "Point",
        GeometryType::LineString(_) | GeometryType::Line(_) => "LineString",
        GeometryType::MultiPoint(_) => "MultiPoint",
        GeometryType::MultiLineString(_) => "MultiLineString",
        GeometryType::GeometryCollection(_) => "GeometryCollection",
        GeometryType::Rect(_) => "Rect",
        GeometryType::Triangle(_) => "Triangle",
    };
    Geom::Other(name.to_string())
}

fn polygon_from<P: PolygonTrait<T = f64>>(p: &P) -> Polygon {
    let Some(exterior) = p.exterior() else { return Vec::new() };
    let mut out = Vec::with_capacity(1 + p.num_interiors());
    out.push(ring_from(&exterior));
    out.extend(p.interiors().map(|r| ring_from(&r)));
    out
}

fn ring_from<L: LineStringTrait<T = f64>>(l: &L) -> Ring {
    l.coords().map(|c| [c.x(), c.y()]).collect()
}

/// The JSON value of a field for the checks: numbers stay numbers (whole ones integers), text stays text.
pub fn number_value(x: f64, whole: bool) -> serde_json::Value {
    if whole && x.fract() == 0.0 && x.abs() < 9.0e15 {
        serde_json::Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
    }
}
