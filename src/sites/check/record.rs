//! Features of files without lines (Shapefile, GeoPackage, FlatGeobuf, GeoParquet): the file's fields
//! and coordinate system are judged once, before the first record; then each record goes through the same
//! id, property and geometry checks as a GeoJSON feature, located as "feature 7, field `site_id`".

use serde_json::{json, Map, Value};

use super::geometry::{Feature, Who};
use super::{Checker, FileCrs, Mark, Place, RawFeature};
use crate::crs::{Crs, CrsError};
use crate::diag::{Code, Diagnostic, Severity};
use crate::sites::reader::Pos;
use crate::sites::source::Anchor;
use crate::sites::{Polygon, Site};
use crate::suggest::did_you_mean;

/// One feature as a reader of a binary format decodes it, coordinates still in the file's CRS.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 0-based position in the file.
    pub index: usize,
    /// The feature id the format shows users (GeoPackage `fid`), when it has one.
    pub fid: Option<i64>,
    /// The fields the pipeline reads (id, kept, first-year, label): `null` when empty.
    pub properties: Map<String, Value>,
    pub geometry: Geom,
}

/// A record's geometry.
#[derive(Debug, Clone, PartialEq)]
pub enum Geom {
    /// No geometry.
    Null,
    /// Polygons (rings in the file's CRS, outer ring first); `multi` for a MultiPolygon.
    Polygons { polygons: Vec<Polygon>, multi: bool },
    /// Another geometry type, by its name (`Point`, `LineString`, `CurvePolygon`, …).
    Other(String),
    /// Bytes that do not decode as a geometry, and why.
    Unreadable(String),
}

/// The coordinate system a file declares, and where it says so ("sites.prj", "gpkg_spatial_ref_sys").
pub struct DeclaredCrs {
    pub crs: Result<Crs, CrsError>,
    pub origin: String,
    /// Where the declaration is in a GeoJSON file (its start and length), to show it.
    pub span: Option<(Pos, u64)>,
}

impl<V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// Settles the coordinate system: `sites.crs` (overriding a declared one, with a warning), else the
    /// declared one, else WGS 84. A declared CRS geepipe cannot use is an error, unless `sites.crs` replaces it.
    /// Whether the coordinates can be converted (no error about the coordinate system).
    pub fn declare_crs(&mut self, declared: Option<DeclaredCrs>) -> bool {
        let name = self.name.clone();
        if let Some(text) = self.src.crs.clone() {
            // `compile` has checked that it parses.
            let Ok(crs) = Crs::parse(&text) else { return false };
            if let Some(d) = &declared {
                let theirs = match &d.crs {
                    Ok(c) => c.name().to_string(),
                    Err(_) => "one geepipe cannot use".to_string(),
                };
                if d.crs.as_ref().map_or(true, |c| c.definition() != crs.definition() || c.name() != crs.name()) {
                    let w = Diagnostic::warning(
                        Code::SitesCrsOverride,
                        format!("`sites.crs: {text}` overrides the coordinate system `{name}` declares ({theirs})"),
                    );
                    let w = self
                        .at(w, &self.declared_at(d), "declared here")
                        .with_help("remove `sites.crs` to use the file's own coordinate system");
                    self.top(Code::SitesCrsOverride, w);
                }
            }
            self.set_crs(FileCrs { crs, origin: Some("set by `sites.crs`".into()) });
            return true;
        }
        let Some(d) = declared else { return true };
        match &d.crs {
            Ok(crs) => {
                self.set_crs(FileCrs { crs: crs.clone(), origin: Some(format!("declared by {}", d.origin)) });
                true
            }
            Err(e) => {
                let help = format!("{}; or set `sites.crs` to the coordinate system of the coordinates", e.help());
                let err = Diagnostic::error(Code::SitesCrs, format!("the coordinate system `{name}` declares: {e}"));
                let mark = self.declared_at(&d);
                let err = self.at(err, &mark, "declared here").with_help(help);
                self.top(Code::SitesCrs, err);
                self.crs_failed = true;
                false
            }
        }
    }

    /// Where a declaration is: its span in a GeoJSON file, else its origin ("sites.prj").
    fn declared_at(&self, d: &DeclaredCrs) -> Mark {
        match d.span {
            Some((start, len)) => Mark::Span(Anchor { span: start.offset..start.offset + len, start }),
            None => Mark::Record(d.origin.clone()),
        }
    }

    /// Judges the file's fields before the first record: the id field must be one of them (did-you-mean
    /// otherwise), a missing kept / first-year / label field is a warning. Whether to read the records.
    pub fn fields(&mut self, fields: &[String]) -> bool {
        let name = self.name.clone();
        let names = || fields.iter().map(String::as_str);
        let listed = fields.iter().take(12).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let idp = self.src.id_property.clone();
        let mut go_on = true;
        if !fields.contains(&idp) {
            let suggestion = did_you_mean(&idp, names()).map(str::to_string);
            let help = match &suggestion {
                Some(s) => format!("did you mean `{s}`? set `sites.id: {s}` in the pipeline, or rename the field"),
                None => format!("its fields are {listed}; set `sites.id` to the field that names each site"),
            };
            let d = Diagnostic::error(Code::SitesNoId, format!("`{name}` has no `{idp}` field"))
                .in_record(name.clone(), "fields", Some(&listed))
                .with_help(help);
            self.top(Code::SitesNoId, d);
            go_on = false;
        }
        let wanted: Vec<(String, &'static str)> = self
            .src
            .keep
            .iter()
            .filter(|k| **k != idp)
            .map(|k| (k.clone(), "kept property"))
            .chain(self.src.first_year_property.iter().map(|k| (k.clone(), "first-year property")))
            .chain(self.src.label_property.iter().map(|k| (k.clone(), "label property")))
            .collect();
        for (field, what) in wanted {
            if fields.contains(&field) {
                continue;
            }
            let suggestion = did_you_mean(&field, names()).map(str::to_string);
            let mut help = match what {
                "first-year property" => "every year is computed for every site".to_string(),
                _ => format!("the sites get an empty `{field}` in the output"),
            };
            help = match &suggestion {
                Some(s) => format!("did you mean `{s}`? {help}"),
                None => format!("its fields are {listed}; {help}"),
            };
            let d =
                Diagnostic::warning(Code::SitesMissingProperty, format!("{what} `{field}` is not a field of `{name}`"))
                    .in_record(name.clone(), "fields", Some(&listed))
                    .with_help(help);
            self.emit(Code::SitesMissingProperty, Severity::Warning, |_| d);
        }
        go_on
    }

    /// The fields a record must carry for the pipeline: id, kept, first-year and label.
    pub fn wanted_fields(&self) -> Vec<String> {
        let s = self.src;
        let mut out = vec![s.id_property.clone()];
        for k in s.keep.iter().chain(&s.first_year_property).chain(&s.label_property) {
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
        out
    }

    /// Checks one record and hands it to the visitor when all is well. Returns whether to go on.
    pub fn record(&mut self, rec: Record) -> bool {
        let index = rec.index;
        self.index += 1;
        let errors_before = self.errors;
        let place = Place::Record { index, fid: rec.fid };
        let f = RawFeature { ty: None, properties: Some(Value::Object(rec.properties)), geometry: None, id: None };
        let id = self.check_id(place, index, &f);
        let properties = self.check_properties(place, index, f.properties.as_ref().and_then(Value::as_object));
        let geometry = self.record_geometry(place, index, rec.geometry, id.as_deref());
        let site = match (id, geometry) {
            (Some(id), Some((polygons, multi))) => Some(Site { id, properties, polygons, multi, index }),
            _ => None,
        };
        self.hand_over(site, errors_before)
    }

    fn record_geometry(
        &mut self,
        place: Place,
        index: usize,
        g: Geom,
        id: Option<&str>,
    ) -> Option<(Vec<Polygon>, bool)> {
        let f = Feature { place, who: Who { index, id } };
        let (polygons, multi) = match g {
            Geom::Null => {
                self.geometry_present(&f, Some(&Value::Null));
                return None;
            }
            Geom::Other(t) => {
                self.polygon_type(&f, &json!({ "type": t }));
                return None;
            }
            Geom::Unreadable(reason) => {
                let a = f.anchor(&[], false);
                let who = &f.who;
                self.emit(Code::SitesGeometry, Severity::Error, |c| {
                    c.at(
                        Diagnostic::error(Code::SitesGeometry, format!("{who} has a geometry that cannot be read")),
                        &a,
                        reason,
                    )
                    .with_help("the file may be damaged; export it again (e.g. with `ogr2ogr`)")
                });
                return None;
            }
            Geom::Polygons { polygons, multi } => (polygons, multi),
        };
        if polygons.is_empty() {
            self.coordinate_list(&f, &json!({ "coordinates": [] }));
            return None;
        }
        let ok = self.ring_shapes(&f, &polygons, multi);
        let converted = self.in_lonlat(&f, polygons, multi);
        if !ok {
            return None;
        }
        self.across_antimeridian(&f, converted?, multi)
    }

    /// A reader failure: the file cannot be read on (at record `index` when known).
    pub fn read_failed(&mut self, message: String, index: Option<usize>) {
        let name = self.name.clone();
        let d = Diagnostic::error(Code::SitesRead, format!("cannot read site file `{name}`: {message}"));
        let d = match index {
            Some(i) => d.in_record(name, &format!("feature {i}"), None),
            None => d.in_file(name),
        };
        self.top(Code::SitesRead, d.with_help("the file may be damaged or truncated; export it again"));
    }

    /// Reports a file without features (unless an error already explains it).
    pub fn empty(&mut self, message: &str, help: &str) {
        if self.errors == 0 {
            let d = Diagnostic::error(Code::SitesEmpty, message).in_file(self.name.clone()).with_help(help);
            self.top(Code::SitesEmpty, d);
        }
    }

    /// Ends a file of records: an empty file is an error; then the closing counts.
    pub fn finish_records(mut self) -> (crate::sites::Summary, Vec<Diagnostic>) {
        if self.index == 0 && self.errors == 0 {
            let name = self.name.clone();
            let d = Diagnostic::error(Code::SitesEmpty, format!("the site file `{name}` has no features"))
                .in_file(name)
                .with_help("add the site polygons as features");
            self.top(Code::SitesEmpty, d);
        }
        self.close()
    }
}
