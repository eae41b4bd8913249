//! The built-in dataset catalog: layer definitions kept as YAML data files embedded in the binary.
//!
//! A catalog entry has exactly the form of a custom layer in a pipeline ([`RawLayer`]), so a user can
//! copy one into a pipeline and change it, plus a `sources` mapping that says where each fact (`id`,
//! `bands`, `years`, `legend`, `scale`, `nodata`) was checked; `geepipe catalog show` prints it.

use std::sync::OnceLock;

use crate::pipeline::raw::RawLayer;

/// Version of the catalog content; part of every pipeline's content hash and of the run manifest.
pub const VERSION: &str = "2026.11.2";

const SOURCES: &[(&str, &str)] = &[
    ("mapbiomas_lulc", include_str!("data/mapbiomas_lulc.yaml")),
    ("mapbiomas_deforestation", include_str!("data/mapbiomas_deforestation.yaml")),
    ("dynamic_world", include_str!("data/dynamic_world.yaml")),
    ("esa_worldcover", include_str!("data/esa_worldcover.yaml")),
    ("hansen_treecover2000", include_str!("data/hansen_treecover2000.yaml")),
    ("hansen_loss", include_str!("data/hansen_loss.yaml")),
    ("modis_landcover", include_str!("data/modis_landcover.yaml")),
    ("jrc_water_history", include_str!("data/jrc_water_history.yaml")),
    ("s2_ndvi", include_str!("data/s2_ndvi.yaml")),
    ("s2_evi", include_str!("data/s2_evi.yaml")),
    ("modis_ndvi", include_str!("data/modis_ndvi.yaml")),
    ("chirps_precipitation", include_str!("data/chirps_precipitation.yaml")),
    ("srtm_elevation", include_str!("data/srtm_elevation.yaml")),
];

/// One entry: its layer and where each of its facts was checked.
struct Entry {
    name: String,
    layer: RawLayer,
    sources: Vec<(String, String)>,
}

fn entries() -> &'static Vec<Entry> {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(name, text)| {
                let doc = crate::pipeline::load::parse(name, text, crate::pipeline::Format::Yaml)
                    .unwrap_or_else(|_| panic!("catalog entry {name} is valid YAML"));
                let mut value = doc.value;
                let sources = match value.as_object_mut().and_then(|m| m.shift_remove("sources")) {
                    Some(serde_json::Value::Object(m)) => m
                        .into_iter()
                        .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                        .collect(),
                    _ => Vec::new(),
                };
                let layer: RawLayer = serde_json::from_value(value)
                    .unwrap_or_else(|e| panic!("catalog entry {name} fits the layer model: {e}"));
                Entry { name: name.to_string(), layer, sources }
            })
            .collect()
    })
}

/// The catalog entry named `name`.
pub fn get(name: &str) -> Option<RawLayer> {
    entries().iter().find(|e| e.name == name).map(|e| e.layer.clone())
}

/// Where each fact of entry `name` was checked: `(fact, citation)` in the entry's order.
pub fn sources(name: &str) -> Vec<(String, String)> {
    entries().iter().find(|e| e.name == name).map(|e| e.sources.clone()).unwrap_or_default()
}

/// Names of all catalog entries, in catalog order.
pub fn names() -> impl Iterator<Item = &'static str> {
    entries().iter().map(|e| e.name.as_str())
}

/// The grid entry `name` is reduced on when a pipeline uses it as it is (docs/computation.md, "Which
/// grid"): its `crs` and `scale`, or the image's own grid, from the type of its expression.
pub fn grid(name: &str) -> Option<crate::pipeline::Grid> {
    let l = get(name)?;
    let image_grid = l.image.as_ref().and_then(|image| {
        let years = match l.available.as_ref().or(l.years.as_ref()) {
            Some(crate::pipeline::raw::RawYears::Single(y)) => vec![*y as i32],
            Some(crate::pipeline::raw::RawYears::Range(r)) => {
                r.split("..").next().and_then(|y| y.trim().parse().ok()).into_iter().collect()
            }
            Some(crate::pipeline::raw::RawYears::List(v)) => v.iter().take(1).map(|y| *y as i32).collect(),
            Some(crate::pipeline::raw::RawYears::FromTo(s)) => vec![s.from as i32],
            None => vec![2000],
        };
        let vars = l.vars.clone().unwrap_or_default();
        let checked = crate::expr::types::check_layer(image, &vars, l.asset.as_deref(), &years);
        checked.ty.and_then(|t| t.grid())
    });
    crate::pipeline::compile::layer_grid(None, &l, image_grid, crate::pipeline::Engine::EarthEngine).ok()
}
