//! Opening the rasters a pipeline names: `local:` path templates rendered for every layer-year, each
//! distinct file opened once (headers only), every problem collected before anything is computed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::geotiff::GeoTiff;
use crate::diag::{Code, Diagnostic};
use crate::pipeline::{LayerKind, Pipeline};

/// One layer-year's raster.
pub struct Source {
    pub layer: usize,
    pub year: i32,
    pub raster: Arc<GeoTiff>,
    /// The raster of the layer's no-data mask band (`local_mask`), on the same grid.
    pub mask: Option<Arc<GeoTiff>>,
}

/// Why a `local:` path template cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PathTemplateError {
    #[error("`{template}` has an unclosed `{{{{`")]
    Unclosed { template: String },
    /// A variable holds a mapping or a list (`holds` says which).
    #[error("`{template}` uses `{{{{{name}}}}}`, which holds {holds}, not text or a number")]
    NotText { template: String, name: String, holds: &'static str },
    #[error("`{template}` uses `{{{{{name}}}}}`, which is not defined{}", did_you_mean(.suggestion))]
    Undefined { template: String, name: String, suggestion: Option<String> },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
}

/// Renders a `local:` path template: `{{year}}`, `{{next_year}}`, `{{layer}}` and `vars` entries.
pub fn render_path(
    template: &str,
    year: i32,
    layer: &str,
    vars: &BTreeMap<String, Value>,
) -> Result<String, PathTemplateError> {
    let mut out = String::new();
    let mut rest = template;
    let not_text =
        |name: &str, holds| PathTemplateError::NotText { template: template.into(), name: name.into(), holds };
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| PathTemplateError::Unclosed { template: template.into() })?;
        let name = after[..end].trim();
        let value = match name {
            "year" => year.to_string(),
            "next_year" => (year + 1).to_string(),
            "layer" => layer.to_string(),
            other => match vars.get(other) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Object(_)) => return Err(not_text(other, "a mapping")),
                Some(Value::Array(_)) => return Err(not_text(other, "a list")),
                Some(v) => v.to_string(),
                None => {
                    let known: Vec<&str> =
                        ["year", "next_year", "layer"].into_iter().chain(vars.keys().map(String::as_str)).collect();
                    let suggestion = crate::suggest::did_you_mean(other, known.iter().copied()).map(String::from);
                    return Err(PathTemplateError::Undefined {
                        template: template.into(),
                        name: other.into(),
                        suggestion,
                    });
                }
            },
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

pub fn open_sources(p: &Pipeline) -> Result<(Vec<Source>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    let warnings = Vec::new();
    let mut by_path: BTreeMap<String, Arc<GeoTiff>> = BTreeMap::new();
    let src = p.source.display().to_string();
    for (li, l) in p.layers.iter().enumerate() {
        let Some(template) = &l.local else {
            errors.push(
                Diagnostic::error(Code::LocalNoPath, format!("layer `{}` has no `local` raster path", l.name))
                    .with_help("add `local: data/{{year}}.tif` to the layer")
                    .in_file(src.clone()),
            );
            continue;
        };
        for &year in &l.years {
            let path = match render_path(template, year, &l.name, &l.vars) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(Diagnostic::error(Code::LocalTemplate, e.to_string()).in_file(src.clone()));
                    break;
                }
            };
            let raster = match by_path.get(&path) {
                Some(r) => r.clone(),
                None => match GeoTiff::open_location(&path, by_path.len()) {
                    Ok(r) => {
                        let r = Arc::new(r);
                        by_path.insert(path.clone(), r.clone());
                        r
                    }
                    Err(e) => {
                        let mut d =
                            Diagnostic::error(Code::LocalRaster, format!("layer `{}`, year {year}: {e}", l.name))
                                .in_file(src.clone());
                        if let Some(h) = e.help() {
                            d = d.with_help(h);
                        }
                        errors.push(d);
                        continue;
                    }
                },
            };
            let wanted = if l.kind == LayerKind::Continuous { l.bands.len() } else { 1 };
            if usize::from(raster.bands) < wanted {
                errors.push(
                    Diagnostic::error(
                        Code::LocalBands,
                        format!(
                            "layer `{}` has {wanted} bands ({}) but `{path}` has only {}",
                            l.name,
                            l.bands.join(", "),
                            raster.bands
                        ),
                    )
                    .with_help("the layer's bands are read from the raster's bands in order")
                    .in_file(src.clone()),
                );
                continue;
            }
            let mask = match (&l.nodata.mask, &l.local_mask) {
                (Some(_), Some(t)) => match open_mask(t, year, l, &raster, &mut by_path) {
                    Ok(m) => Some(m),
                    Err(d) => {
                        errors.push(d.in_file(src.clone()));
                        continue;
                    }
                },
                _ => None,
            };
            sources.push(Source { layer: li, year, raster, mask });
        }
    }
    if errors.is_empty() {
        Ok((sources, warnings))
    } else {
        Err(errors)
    }
}

/// Opens the no-data mask raster of a layer-year; it must lie on the layer raster's grid (else a
/// `local::mask` diagnostic).
fn open_mask(
    template: &str,
    year: i32,
    l: &crate::pipeline::Layer,
    raster: &GeoTiff,
    by_path: &mut BTreeMap<String, Arc<GeoTiff>>,
) -> Result<Arc<GeoTiff>, Diagnostic> {
    let mask_error = |message: String| Diagnostic::error(Code::LocalMask, message);
    let path = render_path(template, year, &l.name, &l.vars).map_err(|e| mask_error(e.to_string()))?;
    let mask = match by_path.get(&path) {
        Some(m) => m.clone(),
        None => {
            let m = GeoTiff::open(&super::paths::clean_path(std::path::Path::new(&path)), by_path.len())
                .map_err(|e| mask_error(format!("layer `{}`, year {year}, `local_mask`: {e}", l.name)))?;
            let m = Arc::new(m);
            by_path.insert(path.clone(), m.clone());
            m
        }
    };
    if !mask.same_grid(raster) {
        return Err(mask_error(format!(
            "layer `{}`, year {year}: the mask raster `{path}` is not on the grid of `{}` (size and \
             georeferencing must be the same)",
            l.name,
            raster.path.display()
        )));
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_fill_years_and_vars() {
        let mut vars = BTreeMap::new();
        vars.insert("collection".to_string(), Value::from(10));
        assert_eq!(
            render_path("/d/c{{collection}}/lulc_{{ year }}-{{next_year}}.tif", 2020, "lulc", &vars).unwrap(),
            "/d/c10/lulc_2020-2021.tif"
        );
        let e = render_path("/d/{{yaer}}.tif", 2020, "lulc", &vars).unwrap_err().to_string();
        assert!(e.contains("did you mean `year`"), "{e}");
        let e = render_path("/d/{{year.tif", 2020, "lulc", &vars).unwrap_err().to_string();
        assert_eq!(e, "`/d/{{year.tif` has an unclosed `{{`");
        vars.insert("obj".to_string(), serde_json::json!({"a": 1}));
        vars.insert("list".to_string(), serde_json::json!([1]));
        let e = render_path("/d/{{obj}}.tif", 2020, "lulc", &vars).unwrap_err().to_string();
        assert!(e.contains("holds a mapping, not text or a number"), "{e}");
        let e = render_path("/d/{{list}}.tif", 2020, "lulc", &vars).unwrap_err().to_string();
        assert!(e.contains("holds a list"), "{e}");
    }
}
