//! What a pipeline says about its sites: where they are and which properties matter. Owned here, by the
//! module that reads them; the resolved pipeline holds one ([`crate::pipeline::Pipeline::sites`]).

use std::path::PathBuf;

use serde::Serialize;

use crate::pipeline::raw::SiteFormatName;

/// Where sites come from.
#[derive(Debug, Clone, Serialize)]
pub struct SiteSource {
    pub location: SiteLocation,
    /// Property holding the site id.
    pub id_property: String,
    /// Properties carried into outputs, in order.
    pub keep: Vec<String>,
    /// Property holding a per-site first year.
    pub first_year_property: Option<String>,
    /// Property holding the class label (classifier pipelines).
    pub label_property: Option<String>,
    /// The site file's format (from `sites.format` or the extension; GeoJSON for assets).
    pub format: SiteFormatName,
    /// GeoPackage layer, when named.
    pub layer: Option<String>,
    /// `sites.crs` as written (checked by `compile`): the coordinate system of the file's coordinates.
    pub crs: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteLocation {
    /// A site file (absolute path).
    File(PathBuf),
    /// An Earth Engine table asset id.
    Asset(String),
}
