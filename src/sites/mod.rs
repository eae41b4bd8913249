//! Site polygons: reading a site file as a stream, checking every feature, and handing each site (id,
//! kept properties, 2D polygon rings in WGS 84 longitude/latitude) to the stage that needs it.
//!
//! Formats (chosen by the file's extension, or `sites.format`): GeoJSON, newline-delimited GeoJSON
//! (GeoJSONSeq), Shapefile, GeoPackage, FlatGeobuf and GeoParquet (see [`formats`]). Coordinates in another
//! coordinate system (a `.prj`, a GeoPackage `srs_id`, GeoParquet's PROJJSON, GeoJSON's legacy `crs`, or
//! `sites.crs`) are converted to longitude/latitude with [`crate::crs`].
//!
//! Problems point into the file itself, all of them at once; repeated problems of one kind are shown 20
//! times, then counted. In GeoJSON (and GeoJSONSeq) that is a line, column and a snippet of the feature,
//! property or coordinate; in the binary formats the feature index and field.
//!
//! - `reader`: a byte scanner that finds the top-level `features` array (wherever it sits among the
//!   other keys) and yields each feature's raw bytes with its place; only one feature is in memory.
//! - `check`: each feature checked (ids, duplicates, geometry type, rings, coordinate ranges, kept
//!   properties, first year), whatever format it came from. Ids are kept compactly for the duplicate check.
//! - `source`: snippets for diagnostics that hold only the lines around each span (read back from
//!   memory for files up to [`MEMORY_LIMIT`], from disk for larger ones), with true line numbers.
//! - `formats`: the readers of the other formats, one file each, feeding `check` record by record.
//!
//! Accepted: a FeatureCollection (its `type` may be missing); a single `Feature` (a collection of one);
//! string or whole-number ids (`3107.0` is id `3107`); a third coordinate (dropped). Plain files only
//! (no gzip, no zip).

use std::path::Path;

pub mod antimeridian;
mod check;
mod formats;
mod keys;
mod model;
mod reader;
mod source;
pub mod spill;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod first_year_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn first_year_reads_numbers_and_text() {
        let source = SiteSource {
            location: SiteLocation::Asset("projects/p/assets/a".into()),
            id_property: "id".into(),
            keep: vec![],
            first_year_property: Some("planted".into()),
            label_property: None,
            format: crate::pipeline::SiteFormatName::Geojson,
            layer: None,
            crs: None,
        };
        let site = |v: serde_json::Value| Site {
            id: "a".into(),
            properties: [("planted".to_string(), v)].into_iter().collect(),
            polygons: vec![],
            multi: false,
            index: 0,
        };
        assert_eq!(site(json!(2015)).first_year(&source), Some(2015));
        assert_eq!(site(json!(2015.0)).first_year(&source), Some(2015));
        assert_eq!(site(json!(" 2016 ")).first_year(&source), Some(2016));
        assert_eq!(site(json!(null)).first_year(&source), None);
    }
}

use serde_json::{Map, Value};

use crate::crs::{Crs, CrsError};
use crate::diag::{Code, Diagnostic};
use crate::pipeline::SiteFormatName;
pub use model::{SiteLocation, SiteSource};

/// A ring of `[lon, lat]` positions, closed (first == last).
pub type Ring = Vec<[f64; 2]>;
/// A polygon: the outer ring, then holes.
pub type Polygon = Vec<Ring>;

/// One site, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// The id, as text (integer ids are written in decimal).
    pub id: String,
    /// Kept properties (in `keep` order), plus the first-year and label properties when configured.
    pub properties: Map<String, Value>,
    /// Polygons (one for a Polygon feature).
    pub polygons: Vec<Polygon>,
    /// Whether the feature was a MultiPolygon (kept so Earth Engine receives the same geometry type).
    pub multi: bool,
    /// Index of the feature in the file (0-based).
    pub index: usize,
}

impl Site {
    /// Bounding box `[min_lon, min_lat, max_lon, max_lat]`.
    pub fn bbox(&self) -> [f64; 4] {
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for p in &self.polygons {
            for ring in p {
                for [x, y] in ring {
                    b[0] = b[0].min(*x);
                    b[1] = b[1].min(*y);
                    b[2] = b[2].max(*x);
                    b[3] = b[3].max(*y);
                }
            }
        }
        b
    }

    /// The first year to compute for this site, if the pipeline names a first-year property.
    pub fn first_year(&self, source: &SiteSource) -> Option<i32> {
        let v = self.properties.get(source.first_year_property.as_ref()?)?;
        // Whole numbers (also `2015.0`) or text holding one, as validation accepts them.
        v.as_i64()
            .or_else(|| v.as_f64().filter(|y| y.fract() == 0.0 && y.abs() < 1e9).map(|y| y as i64))
            .map(|y| y as i32)
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    }
}

/// Summary of a validated site file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub sites: usize,
    pub polygons: usize,
    pub vertices: usize,
}

/// Reads every site of a file into memory, or returns every problem found.
pub fn read_all(source: &SiteSource) -> Result<Vec<Site>, Vec<Diagnostic>> {
    read_all_with_warnings(source).map(|(sites, _)| sites)
}

/// Reads every site of a file into memory with the file's warnings, or returns every problem found
/// (errors and warnings).
pub fn read_all_with_warnings(source: &SiteSource) -> Result<(Vec<Site>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut sites = Vec::new();
    let report = scan(source, |s| {
        sites.push(s);
        Ok(())
    });
    if report.has_errors() {
        Err(report.diagnostics)
    } else {
        Ok((sites, report.diagnostics))
    }
}

/// What a scan of a site file found: counts of the valid sites, and every diagnostic (errors and warnings).
#[derive(Debug, Default)]
pub struct Report {
    pub summary: Summary,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Streams every site of the file to `visit`, in file order. Errors found anywhere are all returned
/// (with the warnings); `visit` only sees sites while no error has been found.
pub fn for_each(
    source: &SiteSource,
    visit: impl FnMut(Site) -> Result<(), Diagnostic>,
) -> Result<Summary, Vec<Diagnostic>> {
    let report = scan(source, visit);
    if report.has_errors() {
        Err(report.diagnostics)
    } else {
        Ok(report.summary)
    }
}

/// Files up to this size are read into memory once (snippets come from there); larger files are streamed
/// and snippets are read back from disk. `GEEPIPE_SITES_MEMORY_LIMIT` (bytes) overrides it.
pub const MEMORY_LIMIT: u64 = 8 * 1024 * 1024;

fn memory_limit() -> u64 {
    std::env::var("GEEPIPE_SITES_MEMORY_LIMIT").ok().and_then(|v| v.parse().ok()).unwrap_or(MEMORY_LIMIT)
}

/// The name shown for a site file (`./x` shown as `x`).
fn display_name(path: &Path) -> String {
    let s = path.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Scans the whole file, checking every feature and handing valid sites to `visit` (until the first error).
/// Memory: the current feature, plus the ids seen so far (for the duplicate check).
pub fn scan(source: &SiteSource, visit: impl FnMut(Site) -> Result<(), Diagnostic>) -> Report {
    scan_with_limit(source, memory_limit(), visit)
}

/// [`scan`], reading files up to `limit` bytes into memory and streaming larger ones.
pub fn scan_with_limit(source: &SiteSource, limit: u64, visit: impl FnMut(Site) -> Result<(), Diagnostic>) -> Report {
    let path = match &source.location {
        SiteLocation::File(p) => p.clone(),
        SiteLocation::Asset(a) => {
            return Report {
                summary: Summary::default(),
                diagnostics: vec![Diagnostic::error(
                    Code::SitesAsset,
                    format!("sites come from the Earth Engine asset `{a}`, not a file"),
                )],
            }
        }
    };
    let name = display_name(&path);
    let fail = |d: Diagnostic| Report { summary: Summary::default(), diagnostics: vec![d] };
    let meta = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            return fail(
                Diagnostic::error(Code::SitesRead, format!("site file `{name}` is a folder, not a file"))
                    .in_file(name.clone()),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(
                Diagnostic::error(Code::SitesMissingFile, format!("site file `{name}` does not exist"))
                    .in_file(name.clone())
                    .with_help("`sites.file` is resolved relative to the pipeline file's folder"),
            )
        }
        Err(e) => return unreadable(&name, e),
    };
    match source.format {
        SiteFormatName::Geojson => geojson(source, &path, name, meta.len(), limit, visit),
        SiteFormatName::Geojsonseq => formats::geojsonseq::scan(source, &path, name, meta.len(), limit, visit),
        _ => formats::scan_records(source, &path, name, visit),
    }
}

/// The report of a site file that cannot be read (nothing in it was checked).
fn unreadable(name: &str, e: std::io::Error) -> Report {
    Report {
        summary: Summary::default(),
        diagnostics: vec![Diagnostic::error(Code::SitesRead, format!("cannot read site file `{name}`: {e}"))
            .in_file(name.to_string())],
    }
}

/// Where the bytes of a JSON site file are kept for snippets: in memory up to `limit`, else on disk.
fn json_store(path: &Path, len: u64, limit: u64) -> std::io::Result<source::Store> {
    Ok(if len <= limit {
        source::Store::Memory(std::fs::read(path)?.into())
    } else {
        source::Store::Disk(path.to_path_buf())
    })
}

/// A stream of the file's bytes: from memory when they are there, else from disk.
fn json_stream<'a>(store: &'a source::Store, path: &Path) -> std::io::Result<Box<dyn std::io::Read + 'a>> {
    Ok(match store {
        source::Store::Memory(bytes) => Box::new(&bytes[..]),
        _ => Box::new(std::fs::File::open(path)?),
    })
}

/// A GeoJSON FeatureCollection (or one Feature), with its legacy `crs` honoured.
fn geojson(
    source: &SiteSource,
    path: &Path,
    name: String,
    len: u64,
    limit: u64,
    visit: impl FnMut(Site) -> Result<(), Diagnostic>,
) -> Report {
    let read_error = |e| unreadable(&name, e);
    let store = match json_store(path, len, limit) {
        Ok(s) => s,
        Err(e) => return read_error(e),
    };
    let declared = match json_stream(&store, path) {
        Ok(stream) => declared_geojson_crs(stream, &name),
        Err(e) => return read_error(e),
    };
    let stream = match json_stream(&store, path) {
        Ok(s) => s,
        Err(e) => return read_error(e),
    };
    let mut checker = check::Checker::new(source, name.clone(), store.clone(), visit);
    checker.declare_crs(declared);
    let scanned = reader::Scanner::new(stream).scan(|raw, at| checker.feature(raw, at));
    let (summary, diagnostics) = checker.finish(scanned);
    Report { summary, diagnostics }
}

/// The byte range of feature `index` (0-based, in file order) of a GeoJSON FeatureCollection `text`,
/// found by the same scanner that reads site files: the top-level `features` array wherever it sits
/// among the other keys (a property called "features" inside a feature is not mistaken for it). `None`
/// when the text is not a FeatureCollection or has fewer features.
pub fn feature_span(text: &str, index: usize) -> Option<std::ops::Range<usize>> {
    let mut n = 0usize;
    let mut found = None;
    let _ = reader::Scanner::new(text.as_bytes()).scan(|raw, at| {
        if n == index {
            let start = at.offset as usize;
            found = Some(start..start + raw.len());
            return false;
        }
        n += 1;
        true
    });
    found
}

/// How much of a GeoJSON file is read to find a `crs` member before `features`.
const CRS_LOOKAHEAD: u64 = 64 * 1024;

/// The GeoJSON 2008 `crs` member, when it comes before `features` (as GDAL writes it).
fn declared_geojson_crs(stream: impl std::io::Read, name: &str) -> Option<check::DeclaredCrs> {
    let head = stream.take(CRS_LOOKAHEAD);
    // The scan stops early (the lookahead ends mid-file); whatever top level it saw is enough.
    let top = match reader::Scanner::new(head).scan(|_, _| false) {
        Ok(top) => top,
        Err(failed) => failed.1,
    };
    let (raw, pos, after) = top.crs?;
    if after {
        return None;
    }
    Some(check::DeclaredCrs {
        crs: geojson_crs(&raw),
        origin: format!("the `crs` member of {name}"),
        span: Some((pos, raw.len() as u64)),
    })
}

/// Reads a GeoJSON 2008 `crs` value: `{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}`
/// or the older `{"type": "EPSG", "properties": {"code": 3857}}`; linked CRSs are not supported.
pub(crate) fn geojson_crs(raw: &[u8]) -> Result<Crs, CrsError> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let unreadable = |reason: &str| CrsError::Unreadable { text: text.clone(), reason: reason.to_string() };
    let v: serde_json::Value = serde_json::from_slice(raw).map_err(|_| unreadable("not valid JSON"))?;
    if v.is_null() {
        return Ok(Crs::wgs84());
    }
    let props = v.get("properties");
    match v.get("type").and_then(serde_json::Value::as_str) {
        Some("name") => match props.and_then(|p| p.get("name")).and_then(serde_json::Value::as_str) {
            Some(n) => Crs::parse(n),
            None => Err(unreadable("a named `crs` needs `properties.name`")),
        },
        Some("EPSG") => match props.and_then(|p| p.get("code")) {
            Some(serde_json::Value::Number(n)) => Crs::from_authority("EPSG", &n.to_string()),
            Some(serde_json::Value::String(c)) => Crs::from_authority("EPSG", c),
            _ => Err(unreadable("an EPSG `crs` needs `properties.code`")),
        },
        Some("link") => Err(unreadable("a linked `crs` (a URL) is not supported")),
        _ => Err(unreadable("expected {\"type\": \"name\", \"properties\": {\"name\": \"EPSG:…\"}}")),
    }
}

/// Validates a pipeline's site file (streaming; geometries are not kept): every error and warning at
/// once. Empty when all is well or when the sites are an asset. (A missing file is reported by
/// [`crate::pipeline::compile`], at `sites.file` in the pipeline file.)
pub fn validate(sites: &SiteSource) -> Vec<Diagnostic> {
    let SiteLocation::File(_) = &sites.location else {
        return Vec::new();
    };
    scan(sites, |_| Ok(())).diagnostics
}

/// Help for a site file that does not exist: where relative paths are resolved from, and the closest
/// site file name in the folder it was looked for in.
pub fn missing_file_help(pipeline_folder: &Path, path: &Path) -> String {
    let folder = if pipeline_folder.as_os_str().is_empty() { Path::new(".") } else { pipeline_folder };
    let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    let mut help = format!("`sites.file` is resolved relative to the pipeline file's folder, `{}`", folder.display());
    if let Some(parent) = path.parent() {
        if let Ok(entries) = std::fs::read_dir(if parent.as_os_str().is_empty() { Path::new(".") } else { parent }) {
            let names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| format_of(Path::new(n)).is_some())
                .collect();
            let wanted = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            if let Some(s) = crate::suggest::did_you_mean(&wanted, names.iter().map(String::as_str)) {
                help = format!("did you mean `{s}`? {help}");
            }
        }
    }
    help
}

/// The files besides the site file that hold part of the sites (a shapefile's `.shx`, `.dbf`, `.prj` and
/// `.cpg`), those that exist.
pub fn side_files(source: &SiteSource) -> Vec<std::path::PathBuf> {
    let SiteLocation::File(path) = &source.location else { return Vec::new() };
    if source.format != SiteFormatName::Shapefile {
        return Vec::new();
    }
    ["shx", "dbf", "prj", "cpg"].iter().map(|ext| side_file(path, ext)).filter(|p| p.is_file()).collect()
}

/// The side file of a shapefile with extension `ext`, in the case of the `.shp`'s (`SITES.SHP` goes with
/// `SITES.DBF`).
pub fn side_file(shp: &Path, ext: &str) -> std::path::PathBuf {
    let upper = shp.extension().and_then(|e| e.to_str()).is_some_and(|e| e == "SHP");
    shp.with_extension(if upper { ext.to_ascii_uppercase() } else { ext.to_string() })
}

/// The site formats, for messages.
pub const FORMATS_TEXT: &str = "GeoJSON (`.geojson`, `.json`), GeoJSON lines (`.geojsonl`, `.geojsons`), Shapefile \
                                (`.shp`), GeoPackage (`.gpkg`), FlatGeobuf (`.fgb`) and GeoParquet (`.parquet`)";

/// A site file's format by its extension (case-insensitive), if it is one geepipe reads.
pub fn format_of(p: &Path) -> Option<SiteFormatName> {
    let ext = p.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "geojson" | "json" => SiteFormatName::Geojson,
        "geojsonl" | "geojsons" | "geojsonseq" | "ndjson" | "jsonl" => SiteFormatName::Geojsonseq,
        "shp" => SiteFormatName::Shapefile,
        "gpkg" => SiteFormatName::Geopackage,
        "fgb" => SiteFormatName::Flatgeobuf,
        "parquet" | "geoparquet" => SiteFormatName::Geoparquet,
        _ => return None,
    })
}

/// The format a file's first bytes show, for a file whose extension does not tell: the binary formats by
/// their magic numbers (SQLite's header for GeoPackage, FlatGeobuf's `fgb` 3, Parquet's `PAR1`, the
/// shapefile code 9994), GeoJSONSeq by a record separator or by a first line that is a whole Feature with
/// another record after it. `None` for anything else (read as GeoJSON).
pub fn sniff_format(path: &Path) -> Option<SiteFormatName> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path).ok()?.take(64 * 1024).read_to_end(&mut head).ok()?;
    if head.starts_with(b"SQLite format 3\0") {
        return Some(SiteFormatName::Geopackage);
    }
    if head.starts_with(b"fgb\x03") {
        return Some(SiteFormatName::Flatgeobuf);
    }
    if head.starts_with(b"PAR1") {
        return Some(SiteFormatName::Geoparquet);
    }
    if head.len() >= 100 && head.starts_with(&[0, 0, 0x27, 0x0a]) {
        return Some(SiteFormatName::Shapefile);
    }
    let text = head.trim_ascii_start();
    if text.first() == Some(&0x1e) {
        return Some(SiteFormatName::Geojsonseq);
    }
    let end = text.iter().position(|&b| b == b'\n')?;
    let rest = text[end..].trim_ascii_start();
    let first: serde_json::Value = serde_json::from_slice(&text[..end]).ok()?;
    let feature = first.get("type").and_then(|t| t.as_str()) == Some("Feature");
    (feature && rest.first().is_some_and(|&b| b == b'{' || b == 0x1e)).then_some(SiteFormatName::Geojsonseq)
}

/// The `sites.format` name and the usual extension of a format, for help text.
pub fn format_names(f: SiteFormatName) -> (&'static str, &'static str, &'static str) {
    match f {
        SiteFormatName::Geojson => ("GeoJSON", "geojson", "geojson"),
        SiteFormatName::Geojsonseq => ("newline-delimited GeoJSON (GeoJSONSeq)", "geojsonseq", "geojsonl"),
        SiteFormatName::Shapefile => ("Shapefile", "shapefile", "shp"),
        SiteFormatName::Geopackage => ("GeoPackage", "geopackage", "gpkg"),
        SiteFormatName::Flatgeobuf => ("FlatGeobuf", "flatgeobuf", "fgb"),
        SiteFormatName::Geoparquet => ("GeoParquet", "geoparquet", "parquet"),
    }
}
