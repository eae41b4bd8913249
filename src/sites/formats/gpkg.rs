//! GeoPackage (OGC 12-128r18) through the bundled SQLite geepipe already links (`rusqlite`): the layer is
//! a feature table listed in `gpkg_geometry_columns`; its coordinate system is the row of
//! `gpkg_spatial_ref_sys` its `srs_id` names (by EPSG code when the organization is EPSG, else by the WKT
//! `definition`). Rows are read in table order with one streaming query; each geometry blob is the
//! GeoPackage header (written out here: 8 bytes plus an optional envelope, no crate reads it alone)
//! followed by standard WKB, read with the `wkb` crate.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Value};

use super::{geom_from, ReadError, Records};
use crate::crs::Crs;
use crate::diag::{Code, Diagnostic};
use crate::sites::check::{DeclaredCrs, Geom, Record};
use crate::suggest::did_you_mean;

pub struct GpkgRecords {
    db: Connection,
    layer: String,
    geometry: String,
    fid: Option<String>,
    fields: Vec<String>,
    srs_id: i64,
}

/// Opens the GeoPackage and picks the layer: the named one, else the only one.
pub fn open(path: &Path, name: &str, layer: Option<&str>) -> Result<GpkgRecords, Diagnostic> {
    let fail = |msg: String, help: String| Diagnostic::error(Code::SitesRead, msg).in_file(name).with_help(help);
    let not_gpkg = |e: rusqlite::Error| {
        fail(
            format!("`{name}` is not a GeoPackage geepipe can read: {e}"),
            "check the file (e.g. `ogrinfo FILE`), or export the sites again".into(),
        )
    };
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(not_gpkg)?;
    let mut layers: Vec<(String, String, i64)> = Vec::new();
    {
        let mut stmt = db
            .prepare("SELECT table_name, column_name, srs_id FROM gpkg_geometry_columns ORDER BY table_name")
            .map_err(not_gpkg)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(not_gpkg)?;
        for row in rows {
            layers.push(row.map_err(not_gpkg)?);
        }
    }
    let names: Vec<&str> = layers.iter().map(|l| l.0.as_str()).collect();
    let listed = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    let chosen = match layer {
        Some(wanted) => match layers.iter().find(|l| l.0 == wanted) {
            Some(l) => l.clone(),
            None => {
                let help = match did_you_mean(wanted, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? its layers are {listed}"),
                    None if names.is_empty() => "it has no feature layers".to_string(),
                    None => format!("its layers are {listed}"),
                };
                let d = Diagnostic::error(Code::SitesLayer, format!("`{name}` has no layer `{wanted}`"))
                    .in_record(name, "layers", Some(&listed))
                    .with_help(help);
                return Err(d);
            }
        },
        None => match layers.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(Diagnostic::error(Code::SitesEmpty, format!("`{name}` has no feature layer"))
                    .in_file(name)
                    .with_help("the sites must be a layer of polygons"))
            }
            _ => {
                return Err(Diagnostic::error(
                    Code::SitesLayer,
                    format!("`{name}` has {} layers; which one holds the sites?", layers.len()),
                )
                .in_record(name, "layers", Some(&listed))
                .with_help(format!("set `sites.layer` to one of {listed}")))
            }
        },
    };
    let (table, geometry, srs_id) = chosen;
    let mut columns: Vec<(String, bool)> = Vec::new();
    {
        let mut stmt = db.prepare(&format!("PRAGMA table_info({})", quote(&table))).map_err(not_gpkg)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)? > 0))).map_err(not_gpkg)?;
        for row in rows {
            columns.push(row.map_err(not_gpkg)?);
        }
    }
    let fid = columns.iter().find(|(_, pk)| *pk).map(|(c, _)| c.clone());
    let fields = columns.into_iter().filter(|(c, pk)| !pk && *c != geometry).map(|(c, _)| c).collect();
    Ok(GpkgRecords { db, layer: table, geometry, fid, fields, srs_id })
}

/// An SQL identifier in double quotes.
fn quote(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

impl Records for GpkgRecords {
    fn fields(&self) -> &[String] {
        &self.fields
    }

    fn crs(&mut self) -> Option<DeclaredCrs> {
        // 0 and -1 are GeoPackage's "undefined geographic" and "undefined Cartesian": nothing declared.
        if self.srs_id == 0 || self.srs_id == -1 {
            return None;
        }
        let origin = format!("gpkg_spatial_ref_sys (srs_id {} of layer `{}`)", self.srs_id, self.layer);
        let row: Result<(Option<String>, Option<i64>, Option<String>), _> = self.db.query_row(
            "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
            [self.srs_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        );
        let crs = match row {
            Ok((Some(org), Some(code), _)) if org.eq_ignore_ascii_case("EPSG") => {
                Crs::from_authority(&org, &code.to_string())
            }
            Ok((_, _, Some(definition))) if definition.trim() != "undefined" => Crs::from_wkt(&definition),
            Ok(_) | Err(_) => Err(crate::crs::CrsError::Unreadable {
                text: format!("srs_id {}", self.srs_id),
                reason: "gpkg_spatial_ref_sys has no usable definition for it".into(),
            }),
        };
        Some(DeclaredCrs { crs, origin, span: None })
    }

    fn read(&mut self, wanted: &[String], each: &mut dyn FnMut(Record) -> bool) -> Result<(), ReadError> {
        let fail = |index: Option<usize>, e: rusqlite::Error| ReadError { index, message: e.to_string() };
        let mut select = vec![self.fid.as_deref().map(quote).unwrap_or_else(|| "rowid".into()), quote(&self.geometry)];
        // Wanted fields the table lacks are reported by the field check; they read as null.
        let present: Vec<&String> = wanted.iter().filter(|w| self.fields.contains(w)).collect();
        select.extend(present.iter().map(|f| quote(f)));
        let sql = format!("SELECT {} FROM {}", select.join(", "), quote(&self.layer));
        let mut stmt = self.db.prepare(&sql).map_err(|e| fail(None, e))?;
        let mut rows = stmt.query([]).map_err(|e| fail(None, e))?;
        let mut index = 0usize;
        while let Some(row) = rows.next().map_err(|e| fail(Some(index), e))? {
            let fid = row.get_ref(0).ok().and_then(|v| v.as_i64().ok());
            let geometry = match row.get_ref(1).map_err(|e| fail(Some(index), e))? {
                ValueRef::Null => Geom::Null,
                ValueRef::Blob(b) => blob(b),
                _ => Geom::Unreadable("the geometry column holds no blob".into()),
            };
            let mut properties = Map::new();
            for (i, field) in present.iter().enumerate() {
                let v = row.get_ref(i + 2).map_err(|e| fail(Some(index), e))?;
                properties.insert((*field).clone(), value(v));
            }
            for field in wanted {
                properties.entry(field.clone()).or_insert(Value::Null);
            }
            if !each(Record { index, fid, properties, geometry }) {
                return Ok(());
            }
            index += 1;
        }
        Ok(())
    }
}

fn value(v: ValueRef) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(x) => serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(_) => Value::Null,
    }
}

/// A GeoPackage geometry blob: `GP`, version, flags, srs_id, envelope, then WKB.
fn blob(b: &[u8]) -> Geom {
    if b.len() < 8 || &b[..2] != b"GP" {
        return Geom::Unreadable("not a GeoPackage geometry (no `GP` header)".into());
    }
    let flags = b[3];
    let envelope = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        n => return Geom::Unreadable(format!("unknown envelope code {n} in the geometry header")),
    };
    let Some(wkb) = b.get(8 + envelope..) else {
        return Geom::Unreadable("the geometry blob is shorter than its header".into());
    };
    match wkb::reader::read_wkb(wkb) {
        Ok(g) => geom_from(&g),
        Err(e) => Geom::Unreadable(format!("not a WKB geometry geepipe reads ({e})")),
    }
}
