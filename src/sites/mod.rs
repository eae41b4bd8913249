//! Site polygons: reading GeoJSON FeatureCollections as a stream, checking every feature, and handing
//! each site (id, kept properties, 2D polygon rings) to the stage that needs it.
//!
//! Problems point into the GeoJSON file itself (line, column and a snippet of the feature, property or
//! coordinate), all of them at once; repeated problems of one kind are shown 20 times, then counted.
//!
//! - `reader`: a byte scanner that finds the top-level `features` array (wherever it sits among the
//!   other keys) and yields each feature's raw bytes with its place; only one feature is in memory.
//! - `check`: each feature parsed with serde_json and checked (ids, duplicates, geometry type, rings,
//!   coordinate ranges, kept properties, first year). Ids are kept compactly for the duplicate check.
//! - `source`: snippets for diagnostics that hold only the lines around each span (read back from
//!   memory for files up to [`MEMORY_LIMIT`], from disk for larger ones), with true line numbers.
//!
//! Accepted: a FeatureCollection (its `type` may be missing); a single `Feature` (a collection of one);
//! string or whole-number ids (`3107.0` is id `3107`); a third coordinate (dropped). Plain files only
//! (no gzip).

use std::path::Path;

mod check;
mod reader;
mod source;
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

use crate::diag::{Code, Diagnostic};
use crate::pipeline::{Pipeline, SiteLocation, SiteSource};

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
        Err(e) => {
            return fail(
                Diagnostic::error(Code::SitesRead, format!("cannot read site file `{name}`: {e}"))
                    .in_file(name.clone()),
            )
        }
    };
    let read_error = |e: std::io::Error| {
        fail(Diagnostic::error(Code::SitesRead, format!("cannot read site file `{name}`: {e}")).in_file(name.clone()))
    };
    if meta.len() <= limit {
        let bytes: std::sync::Arc<[u8]> = match std::fs::read(&path) {
            Ok(b) => b.into(),
            Err(e) => return read_error(e),
        };
        let mut checker = check::Checker::new(source, name.clone(), source::Store::Memory(bytes.clone()), visit);
        let scanned = reader::Scanner::new(&bytes[..]).scan(|raw, at| checker.feature(raw, at));
        let (summary, diagnostics) = checker.finish(scanned);
        Report { summary, diagnostics }
    } else {
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => return read_error(e),
        };
        let mut checker = check::Checker::new(source, name.clone(), source::Store::Disk(path.clone()), visit);
        let scanned = reader::Scanner::new(file).scan(|raw, at| checker.feature(raw, at));
        let (summary, diagnostics) = checker.finish(scanned);
        Report { summary, diagnostics }
    }
}

/// Validates the pipeline's site file (streaming; geometries are not kept): every error and warning at
/// once. Empty when all is well or when the sites are an asset. (A missing file is reported by
/// [`crate::pipeline::compile`], at `sites.file` in the pipeline file.)
pub fn validate(pipeline: &Pipeline) -> Vec<Diagnostic> {
    let SiteLocation::File(_) = &pipeline.sites.location else {
        return Vec::new();
    };
    scan(&pipeline.sites, |_| Ok(())).diagnostics
}

/// Help for a site file that does not exist: where relative paths are resolved from, and the closest
/// GeoJSON file name in the folder it was looked for in.
pub fn missing_file_help(pipeline_folder: &Path, path: &Path) -> String {
    let folder = if pipeline_folder.as_os_str().is_empty() { Path::new(".") } else { pipeline_folder };
    let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    let mut help = format!("`sites.file` is resolved relative to the pipeline file's folder, `{}`", folder.display());
    if let Some(parent) = path.parent() {
        if let Ok(entries) = std::fs::read_dir(if parent.as_os_str().is_empty() { Path::new(".") } else { parent }) {
            let names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| is_geojson_path(Path::new(n)))
                .collect();
            let wanted = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            if let Some(s) = crate::suggest::did_you_mean(&wanted, names.iter().map(String::as_str)) {
                help = format!("did you mean `{s}`? {help}");
            }
        }
    }
    help
}

/// Whether a path looks like a GeoJSON file by extension.
pub fn is_geojson_path(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("geojson" | "json"))
}
