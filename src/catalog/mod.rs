//! The built-in dataset catalog: layer definitions kept as YAML data files embedded in the binary.
//!
//! A catalog entry has exactly the form of a custom layer in a pipeline ([`RawLayer`]), so a user can
//! copy one into a pipeline and change it.

use std::sync::OnceLock;

use crate::pipeline::raw::RawLayer;

/// Version of the catalog content; part of every pipeline's content hash and of the run manifest.
pub const VERSION: &str = "2026.11.1";

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

fn entries() -> &'static Vec<(String, RawLayer)> {
    static ENTRIES: OnceLock<Vec<(String, RawLayer)>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(name, text)| {
                let doc = crate::pipeline::load::parse(name, text, crate::pipeline::Format::Yaml)
                    .unwrap_or_else(|_| panic!("catalog entry {name} is valid YAML"));
                let layer: RawLayer = serde_json::from_value(doc.value)
                    .unwrap_or_else(|e| panic!("catalog entry {name} fits the layer model: {e}"));
                (name.to_string(), layer)
            })
            .collect()
    })
}

/// The catalog entry named `name`.
pub fn get(name: &str) -> Option<RawLayer> {
    entries().iter().find(|(n, _)| n == name).map(|(_, l)| l.clone())
}

/// Names of all catalog entries, in catalog order.
pub fn names() -> impl Iterator<Item = &'static str> {
    entries().iter().map(|(n, _)| n.as_str())
}
