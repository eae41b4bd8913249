//! Coordinate reference systems: what a site file (or a raster) declares, and the conversion of its
//! coordinates to WGS 84 longitude/latitude, the only coordinates Earth Engine requests and geepipe's own
//! checks use.
//!
//! A [`Crs`] is built from an EPSG code, a WKT text (WKT1, ESRI's `.prj` flavour, or WKT2), a PROJJSON
//! object (GeoParquet's `crs`), a PROJ string, or a name such as `EPSG:32723`, `urn:ogc:def:crs:EPSG::3857`
//! or `OGC:CRS84`. Coordinates are always in the traditional GIS axis order (x = easting or longitude,
//! y = northing or latitude), which is how GDAL, GeoPackage and GeoParquet store them.
//!
//! Crates, and why:
//! - `proj4rs` (3liz): a pure-Rust port of PROJ's projections and datum shifts (Helmert `towgs84`), kept
//!   in step with PROJ (its tests require agreement with PROJ 9 to 1e-6 m). No C library, no `proj.db`.
//! - `crs-definitions`: the EPSG table (≈6,000 codes) as PROJ strings, generated from PROJ's database.
//! - `proj4wkt` (3liz, `proj4rs`'s companion): WKT1/WKT2 → PROJ string for the projections `proj4rs` has.
//!
//! Rules that keep a wrong answer from passing silently (each is a typed [`CrsError`] with help):
//! - a WKT or PROJJSON naming an EPSG code is built from the EPSG table (which carries the datum shift);
//! - a datum whose ellipsoid is not WGS 84 / GRS 1980 and that has no shift to WGS 84 (`TOWGS84`) is refused,
//!   as is a shift that needs grid files (`+nadgrids`), which geepipe does not ship;
//! - an unknown code or a projection `proj4rs` lacks names itself in the error.
//!
//! [`Crs::ring_to_lonlat`] also densifies edges (see [`densify`]): a straight edge in the source CRS stays
//! within [`DENSIFY_TOLERANCE_M`] of the edge Earth Engine draws between the converted vertices.

mod densify;
mod wkt;

use std::fmt;
use std::sync::{Arc, LazyLock};

use proj4rs::Proj;
use serde_json::Value;

pub use densify::{cross_track_m, densify, DENSIFY_MAX_DEPTH, DENSIFY_TOLERANCE_M};

/// Why a coordinate system cannot be used. Every variant names what it is about.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrsError {
    /// An EPSG code that is not in the EPSG table geepipe carries.
    #[error("EPSG:{0} is not a coordinate reference system geepipe knows")]
    UnknownEpsg(u32),
    /// A code of another authority (ESRI, IAU, …).
    #[error("`{authority}:{code}` is not a coordinate reference system geepipe knows")]
    UnknownAuthority { authority: String, code: String },
    /// The projection method exists but `proj4rs` does not implement it.
    #[error("the projection `{method}` of `{crs}` is not supported")]
    UnsupportedProjection { crs: String, method: String },
    /// A datum that differs from WGS 84 without a known shift (or with a shift that needs grid files).
    #[error("the datum of `{crs}` has no shift to WGS 84 that geepipe can apply{}", grid.as_ref().map(|g| format!(" (it needs the grid file `{g}`)")).unwrap_or_default())]
    NoDatumShift { crs: String, grid: Option<String> },
    /// The text is not a CRS definition geepipe can read.
    #[error("cannot read the coordinate reference system `{text}`: {reason}")]
    Unreadable { text: String, reason: String },
    /// A position outside the projection's domain, or one that does not convert to a finite longitude/latitude.
    #[error("position [{x}, {y}] cannot be converted from {crs} to longitude/latitude ({reason})")]
    Transform { crs: String, x: f64, y: f64, reason: String },
}

impl CrsError {
    /// What the user can do about it.
    pub fn help(&self) -> String {
        let reproject = "or reproject the file to WGS 84 longitude/latitude first, e.g. \
                         `ogr2ogr -t_srs EPSG:4326 sites.gpkg input.shp`";
        match self {
            CrsError::UnknownEpsg(_) | CrsError::UnknownAuthority { .. } => {
                format!("check the code on https://epsg.io; declare the CRS by an EPSG code that exists, {reproject}")
            }
            CrsError::UnsupportedProjection { .. } => format!(
                "geepipe converts the projections of proj4rs (transverse Mercator/UTM, Mercator, Lambert conic and \
                 azimuthal, Albers, polyconic, sinusoidal, stereographic, …); {reproject}"
            ),
            CrsError::NoDatumShift { .. } => format!(
                "declare the CRS by its EPSG code (the EPSG table carries the datum shift), add a TOWGS84[…] \
                 clause to the WKT, {reproject}"
            ),
            CrsError::Unreadable { .. } => format!(
                "write the CRS as an EPSG code (`EPSG:31983`), WKT, PROJJSON or a PROJ string (`+proj=utm …`), \
                 {reproject}"
            ),
            CrsError::Transform { .. } => {
                "the coordinates do not fit the declared CRS: check that the file's CRS is the right one".to_string()
            }
        }
    }
}

/// A coordinate reference system that converts to WGS 84 longitude/latitude.
#[derive(Clone)]
pub struct Crs {
    /// What to call it in messages: `EPSG:32723`, or the WKT's name.
    name: String,
    epsg: Option<u32>,
    /// `None` for WGS 84 longitude/latitude itself (no conversion at all: the numbers pass unchanged).
    proj: Option<Arc<Proj>>,
    /// The PROJ string it was built from (empty for WGS 84).
    definition: String,
}

impl fmt::Debug for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crs").field("name", &self.name).field("definition", &self.definition).finish()
    }
}

impl PartialEq for Crs {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.definition == other.definition
    }
}

/// WGS 84 longitude/latitude as `proj4rs` sees it (radians).
static WGS84: LazyLock<Proj> = LazyLock::new(|| {
    // A fixed, valid definition: it cannot fail.
    Proj::from_proj_string("+proj=longlat +datum=WGS84 +no_defs").expect("WGS 84 definition")
});

impl Crs {
    /// WGS 84 longitude/latitude (EPSG:4326 in GIS axis order, OGC:CRS84).
    pub fn wgs84() -> Crs {
        Crs { name: "EPSG:4326".into(), epsg: Some(4326), proj: None, definition: String::new() }
    }

    /// The CRS's name for messages (`EPSG:32723`, or the name in its WKT).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same CRS under another name for messages (e.g. the citation of a raster's GeoKeys).
    pub fn with_name(mut self, name: impl Into<String>) -> Crs {
        self.name = name.into();
        self
    }

    /// Its EPSG code, when it was declared by one.
    pub fn epsg(&self) -> Option<u32> {
        self.epsg
    }

    /// The PROJ string it converts with (empty for WGS 84 longitude/latitude).
    pub fn definition(&self) -> &str {
        &self.definition
    }

    /// Whether coordinates are WGS 84 longitude/latitude already (nothing to convert).
    pub fn is_wgs84(&self) -> bool {
        self.proj.is_none()
    }

    /// Whether the CRS's coordinates are angles (longitude/latitude in degrees) rather than metres.
    pub fn is_geographic(&self) -> bool {
        self.proj.as_ref().is_none_or(|p| p.is_latlong())
    }

    /// From an EPSG code.
    pub fn from_epsg(code: u32) -> Result<Crs, CrsError> {
        if code == 4326 {
            return Ok(Crs::wgs84());
        }
        let def = u16::try_from(code).ok().and_then(crs_definitions::from_code).ok_or(CrsError::UnknownEpsg(code))?;
        Crs::build(format!("EPSG:{code}"), Some(code), def.proj4)
    }

    /// From an authority and code: `EPSG` codes, and `OGC` `CRS84` (WGS 84 longitude/latitude).
    pub fn from_authority(authority: &str, code: &str) -> Result<Crs, CrsError> {
        let code = code.trim();
        if authority.eq_ignore_ascii_case("EPSG") {
            return match code.parse::<u32>() {
                Ok(c) => Crs::from_epsg(c),
                Err(_) => Err(CrsError::UnknownAuthority { authority: authority.into(), code: code.into() }),
            };
        }
        if authority.eq_ignore_ascii_case("OGC") && (code.eq_ignore_ascii_case("CRS84") || code == "84") {
            return Ok(Crs { name: "OGC:CRS84".into(), ..Crs::wgs84() });
        }
        Err(CrsError::UnknownAuthority { authority: authority.into(), code: code.into() })
    }

    /// From a PROJ string (`+proj=utm +zone=23 +south +datum=WGS84`).
    pub fn from_proj_string(text: &str) -> Result<Crs, CrsError> {
        let text = text.trim();
        Crs::build(text.to_string(), None, text)
    }

    /// From a WKT text (WKT1, ESRI `.prj`, WKT2). A top-level EPSG authority wins over the parameters.
    pub fn from_wkt(text: &str) -> Result<Crs, CrsError> {
        let shown = shorten(text);
        let root = wkt::root(text)
            .ok_or_else(|| CrsError::Unreadable { text: shown.clone(), reason: "this is not WKT".into() })?;
        if let Some((authority, code)) = &root.authority {
            match Crs::from_authority(authority, code) {
                Ok(crs) => return Ok(crs),
                // An unknown code: the parameters may still do.
                Err(CrsError::UnknownEpsg(_) | CrsError::UnknownAuthority { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let name = root.name.clone().unwrap_or_else(|| shown.clone());
        if is_wgs84_name(&name) && root.keyword.starts_with("GEOG") {
            return Ok(Crs { name, ..Crs::wgs84() });
        }
        let proj = proj4wkt::wkt_to_projstring(text).map_err(|e| {
            let reason = e.to_string();
            match method_of(&reason) {
                Some(method) => CrsError::UnsupportedProjection { crs: name.clone(), method },
                None => CrsError::Unreadable { text: shown.clone(), reason },
            }
        })?;
        Crs::build(name, None, &proj)
    }

    /// From a PROJJSON object (GeoParquet's `crs`): by its `id`, or a WGS 84 geographic CRS by name.
    pub fn from_projjson(value: &Value) -> Result<Crs, CrsError> {
        let text = shorten(&value.to_string());
        let obj = value
            .as_object()
            .ok_or_else(|| CrsError::Unreadable { text: text.clone(), reason: "PROJJSON is a JSON object".into() })?;
        // A BoundCRS wraps the CRS and its shift to WGS 84; the EPSG table has the shift for a coded CRS.
        if obj.get("type").and_then(Value::as_str) == Some("BoundCRS") {
            if let Some(source) = obj.get("source_crs") {
                return Crs::from_projjson(source);
            }
        }
        let ids = obj.get("id").into_iter().chain(obj.get("ids").and_then(Value::as_array).into_iter().flatten());
        for id in ids {
            let authority = id.get("authority").and_then(Value::as_str).unwrap_or_default();
            let code = match id.get("code") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            return Crs::from_authority(authority, &code);
        }
        let name = obj.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let geographic = obj.get("type").and_then(Value::as_str).is_some_and(|t| t.starts_with("Geographic"));
        if geographic && is_wgs84_name(&name) {
            return Ok(Crs { name, ..Crs::wgs84() });
        }
        Err(CrsError::Unreadable {
            text,
            reason: "a PROJJSON CRS without an `id` (authority and code) is not supported".into(),
        })
    }

    /// From what a user or a file may write: `EPSG:32723`, `urn:ogc:def:crs:EPSG::3857`,
    /// `http://www.opengis.net/def/crs/EPSG/0/3857`, `OGC:CRS84`, `WGS84`, a PROJ string, WKT or PROJJSON.
    pub fn parse(text: &str) -> Result<Crs, CrsError> {
        let t = text.trim();
        if t.starts_with('+') {
            return Crs::from_proj_string(t);
        }
        if t.starts_with('{') {
            let v: Value = serde_json::from_str(t)
                .map_err(|e| CrsError::Unreadable { text: shorten(t), reason: format!("not valid JSON: {e}") })?;
            return Crs::from_projjson(&v);
        }
        if t.contains('[') || t.contains('(') {
            return Crs::from_wkt(t);
        }
        if t.eq_ignore_ascii_case("WGS84") || t.eq_ignore_ascii_case("CRS84") {
            return Ok(Crs::wgs84());
        }
        // urn:ogc:def:crs:EPSG:[version]:code, and the http form.
        let lower = t.to_ascii_lowercase();
        let parts: Vec<&str> = if let Some(rest) = lower.strip_prefix("urn:ogc:def:crs:") {
            let p: Vec<&str> = rest.split(':').collect();
            match p.as_slice() {
                [auth, _version, code] => vec![auth, code],
                [auth, code] => vec![auth, code],
                _ => Vec::new(),
            }
        } else if let Some(rest) = lower
            .strip_prefix("http://www.opengis.net/def/crs/")
            .or_else(|| lower.strip_prefix("https://www.opengis.net/def/crs/"))
        {
            let p: Vec<&str> = rest.split('/').collect();
            match p.as_slice() {
                [auth, _version, code] => vec![auth, code],
                _ => Vec::new(),
            }
        } else if let Some((auth, code)) = lower.split_once(':') {
            vec![auth, code.trim_start_matches(':')]
        } else {
            Vec::new()
        };
        match parts.as_slice() {
            [auth, code] => {
                // Keep the user's spelling of the code for messages.
                let code_start = t.len() - code.len();
                Crs::from_authority(&auth.to_ascii_uppercase(), &t[code_start..])
            }
            _ => Err(CrsError::Unreadable {
                text: shorten(t),
                reason: "expected an EPSG code (`EPSG:31983`), WKT, PROJJSON or a PROJ string".into(),
            }),
        }
    }

    fn build(name: String, epsg: Option<u32>, definition: &str) -> Result<Crs, CrsError> {
        // Grid shifts (also the one `proj4rs` attaches to `+datum=NAD27`) need files geepipe does not ship.
        let grid = param(definition, "nadgrids")
            .filter(|g| *g != "@null")
            .or_else(|| param(definition, "datum").filter(|d| d.eq_ignore_ascii_case("NAD27")).map(|_| "@conus"));
        if let Some(grid) = grid {
            return Err(CrsError::NoDatumShift { crs: name, grid: Some(grid.to_string()) });
        }
        let proj = Proj::from_proj_string(definition).map_err(|e| match e {
            proj4rs::errors::Error::ProjectionNotFound => CrsError::UnsupportedProjection {
                crs: name.clone(),
                method: param(definition, "proj").unwrap_or("?").to_string(),
            },
            other => CrsError::Unreadable { text: shorten(definition), reason: other.to_string() },
        })?;
        let has_shift = param(definition, "towgs84").is_some() || param(definition, "datum").is_some();
        let (a, b) = proj.ellipse_parameters();
        // WGS 84 and GRS 1980 differ by 0.1 mm in the semi-minor axis; anything else is another datum.
        let wgs84_like = (a - 6_378_137.0).abs() < 1e-3 && (b - 6_356_752.314).abs() < 0.01;
        if !has_shift && !wgs84_like && param(definition, "nadgrids").is_none() {
            return Err(CrsError::NoDatumShift { crs: name, grid: None });
        }
        Ok(Crs { name, epsg, proj: Some(Arc::new(proj)), definition: definition.to_string() })
    }

    /// Converts one position to WGS 84 `[longitude, latitude]` in degrees.
    pub fn to_lonlat(&self, x: f64, y: f64) -> Result<[f64; 2], CrsError> {
        let Some(proj) = &self.proj else { return Ok([x, y]) };
        let mut p = if proj.is_latlong() { (x.to_radians(), y.to_radians(), 0.0) } else { (x, y, 0.0) };
        let fail = |reason: String| CrsError::Transform { crs: self.name.clone(), x, y, reason };
        proj4rs::transform::transform(proj, &WGS84, &mut p).map_err(|e| fail(e.to_string()))?;
        let (lon, lat) = (p.0.to_degrees(), p.1.to_degrees());
        if !lon.is_finite() || !lat.is_finite() {
            return Err(fail("outside the projection's domain".into()));
        }
        Ok([lon, lat])
    }

    /// Converts WGS 84 longitude/latitude (degrees) to this CRS's coordinates.
    pub fn from_lonlat(&self, lon: f64, lat: f64) -> Result<[f64; 2], CrsError> {
        let Some(proj) = &self.proj else { return Ok([lon, lat]) };
        let mut p = (lon.to_radians(), lat.to_radians(), 0.0);
        let fail = |reason: String| CrsError::Transform { crs: "EPSG:4326".into(), x: lon, y: lat, reason };
        proj4rs::transform::transform(&WGS84, proj, &mut p).map_err(|e| fail(e.to_string()))?;
        let (x, y) = if proj.is_latlong() { (p.0.to_degrees(), p.1.to_degrees()) } else { (p.0, p.1) };
        if !x.is_finite() || !y.is_finite() {
            return Err(fail(format!("outside the domain of {}", self.name)));
        }
        Ok([x, y])
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The value of `+key=value` in a PROJ string.
fn param<'a>(definition: &'a str, key: &str) -> Option<&'a str> {
    definition.split_whitespace().find_map(|t| t.strip_prefix('+')?.strip_prefix(key)?.strip_prefix('='))
}

/// Names GDAL, ESRI and PROJ give WGS 84 geographic coordinates.
fn is_wgs84_name(name: &str) -> bool {
    let n: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    matches!(n.as_str(), "wgs84" | "gcswgs1984" | "wgs1984" | "wgs84crs84" | "ogccrs84" | "crs84")
}

/// The projection method named in a `proj4wkt` error about an unsupported method, if it is one.
fn method_of(reason: &str) -> Option<String> {
    let lower = reason.to_ascii_lowercase();
    if !(lower.contains("method") || lower.contains("projection")) || !lower.contains("support") {
        return None;
    }
    let start = reason.find(['"', '`', '\''])?;
    let rest = &reason[start + 1..];
    let end = rest.find(['"', '`', '\''])?;
    Some(rest[..end].to_string())
}

/// A definition cut for messages.
fn shorten(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() <= 80 {
        t.to_string()
    } else {
        format!("{}…", t.chars().take(77).collect::<String>())
    }
}

#[cfg(test)]
mod tests;
