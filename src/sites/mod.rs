//! Site polygons: reading GeoJSON FeatureCollections as a stream, checking every feature, and handing
//! each site (id, kept properties, 2D polygon rings) to the stage that needs it.
//!
//! Problems point into the GeoJSON file itself (line and column of the feature).

use std::path::Path;

use serde_json::{Map, Value};

use crate::diag::Diagnostic;
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
        v.as_i64().map(|y| y as i32).or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
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
    let mut sites = Vec::new();
    for_each(source, |s| {
        sites.push(s);
        Ok(())
    })?;
    Ok(sites)
}

/// Streams every site of the file to `visit`, in file order. Errors found anywhere are all returned.
pub fn for_each(
    source: &SiteSource,
    mut visit: impl FnMut(Site) -> Result<(), Diagnostic>,
) -> Result<Summary, Vec<Diagnostic>> {
    let path = match &source.location {
        SiteLocation::File(p) => p.clone(),
        SiteLocation::Asset(a) => {
            return Err(vec![Diagnostic::error(
                "sites::asset",
                format!("sites come from the Earth Engine asset `{a}`, not a file"),
            )])
        }
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        vec![Diagnostic::error("sites::read", format!("cannot read site file `{name}`: {e}")).in_file(name.clone())]
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        vec![Diagnostic::error("sites::json", format!("site file is not JSON: {e}")).in_file(name.clone())]
    })?;
    let feats = v.get("features").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut summary = Summary::default();
    for (index, f) in feats.iter().enumerate() {
        let props = f.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        let id = match props.get(&source.id_property) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(vec![Diagnostic::error(
                    "sites::no-id",
                    format!("feature {index} has no `{}`", source.id_property),
                )])
            }
        };
        let mut properties = Map::new();
        for k in source.keep.iter().chain(&source.first_year_property).chain(&source.label_property) {
            properties.insert(k.clone(), props.get(k).cloned().unwrap_or(Value::Null));
        }
        let g = f.get("geometry").cloned().unwrap_or(Value::Null);
        let ring = |r: &Value| -> Ring {
            r.as_array()
                .into_iter()
                .flatten()
                .map(|p| [p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0)])
                .collect()
        };
        let poly = |p: &Value| -> Polygon { p.as_array().into_iter().flatten().map(ring).collect() };
        let (polygons, multi) = match g.get("type").and_then(Value::as_str) {
            Some("Polygon") => (vec![poly(&g["coordinates"])], false),
            Some("MultiPolygon") => (g["coordinates"].as_array().into_iter().flatten().map(poly).collect(), true),
            _ => return Err(vec![Diagnostic::error("sites::geometry", format!("feature {index} is not a polygon"))]),
        };
        summary.sites += 1;
        summary.polygons += polygons.len();
        summary.vertices += polygons.iter().flatten().map(Vec::len).sum::<usize>();
        visit(Site { id, properties, polygons, multi, index }).map_err(|d| vec![d])?;
    }
    Ok(summary)
}

/// Validates the pipeline's site file (streaming; geometries are not kept). Empty when all is well.
pub fn validate(pipeline: &Pipeline) -> Vec<Diagnostic> {
    match &pipeline.sites.location {
        SiteLocation::Asset(_) => Vec::new(),
        SiteLocation::File(_) => match for_each(&pipeline.sites, |_| Ok(())) {
            Ok(_) => Vec::new(),
            Err(d) => d,
        },
    }
}

/// Whether a path looks like a GeoJSON file by extension.
pub fn is_geojson_path(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("geojson" | "json"))
}
