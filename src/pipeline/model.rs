//! The resolved pipeline: every default applied, every reference checked, paths absolute.
//!
//! Everything after validation (planning, the executor, the local engine, results) works on these
//! types and never sees YAML or TOML.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

pub use super::raw::{
    DestinationName, FileFormatName, ImagePer, KindName, LayerKind, LayoutName, ModeName, OutputFormatName,
    OutputGeometryName, PyramidingName, SiteFormatName,
};
/// The site source is the sites module's own type; the pipeline holds one.
pub use crate::sites::{SiteLocation, SiteSource};

/// A validated pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    /// Pipeline name (`[A-Za-z0-9_-]+`).
    pub name: String,
    /// The pipeline file it came from.
    pub source: PathBuf,
    /// Hex SHA-256 over the canonical raw model and the site file's bytes: a changed pipeline has a new hash.
    pub content_hash: String,
    /// Earth Engine Cloud project (after `--project` / `GOOGLE_CLOUD_PROJECT` overrides).
    pub project: Option<String>,
    pub engine: Engine,
    pub kind: KindName,
    /// How Earth Engine computes the results (after `--mode`); `auto` is decided when planning.
    pub mode: ModeName,
    pub sites: SiteSource,
    pub layers: Vec<Layer>,
    pub reduce: Reduce,
    pub export: Export,
    /// Raster export settings (`kind: image` only).
    pub image: Option<ImageExport>,
    /// Classifier training settings (`kind: classifier` only).
    pub classifier: Option<ClassifierSpec>,
    pub chunks: Chunks,
    pub interactive: Interactive,
    pub output: Output,
    /// Folder of the run journal.
    pub journal_dir: PathBuf,
    /// Pipeline-wide template variables.
    pub vars: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    EarthEngine,
    Local,
}

/// One resolved layer.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// Output name (`[a-z][a-z0-9_]*`, no `__`).
    pub name: String,
    pub title: Option<String>,
    /// Catalog entry this layer came from, if any.
    pub catalog: Option<String>,
    pub kind: LayerKind,
    /// Years to compute, sorted, unique.
    pub years: Vec<i32>,
    /// Expression template for one year's image (nested `call` form, placeholders unrendered).
    pub image: Option<serde_json::Value>,
    pub asset: Option<String>,
    /// Band names of the image (continuous: one or more; categorical: exactly one).
    pub bands: Vec<String>,
    /// Statistics (continuous layers), canonical spelling (`mean`, `p90`, `stdDev`, ...).
    pub stats: Vec<String>,
    /// Legend (categorical layers), sorted by code.
    pub legend: Vec<LegendEntry>,
    /// Nominal scale in metres.
    pub scale: Option<f64>,
    /// The grid the layer is reduced on (unless `reduce.scale`/`reduce.crs` override it).
    pub grid: Grid,
    /// No-data values and mask, masked before reducing in both engines.
    pub nodata: NoData,
    pub units: Option<String>,
    /// Local engine: absolute path template of the GeoTIFF per year.
    pub local: Option<String>,
    /// Local engine: absolute path template of the raster holding `nodata.mask`'s band.
    pub local_mask: Option<String>,
    /// Template variables (pipeline vars overlaid with the layer's).
    pub vars: BTreeMap<String, serde_json::Value>,
}

/// The grid a layer is reduced on (docs/computation.md, "Which grid").
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "grid", rename_all = "lowercase")]
pub enum Grid {
    /// The image's own grid: the projection of its first band (the class band of a categorical layer).
    /// Neither `crs` nor `scale` is sent.
    Native,
    /// The projection of the image's first band at this scale in metres (`scale` sent).
    Scale { scale: f64 },
    /// This projection at this scale in metres (`crs` and `scale` sent).
    Explicit { crs: String, scale: f64 },
}

/// What is not data in a layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NoData {
    /// Values of the layer's band(s) that mean "no data".
    pub values: Vec<f64>,
    /// A band of the layer's asset that says where data is valid.
    pub mask: Option<NoDataMask>,
}

/// A mask band: pixels are data only where `band` (of the layer's asset) is one of `valid`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoDataMask {
    pub band: String,
    pub valid: Vec<f64>,
}

impl NoData {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.mask.is_none()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LegendEntry {
    pub code: i64,
    pub name: String,
    pub color: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reduce {
    pub scale: Option<f64>,
    pub crs: Option<String>,
    pub tile_scale: f64,
    pub max_pixels: Option<u64>,
    pub best_effort: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub destination: Destination,
    pub format: FileFormatName,
    /// Task description prefix (Earth Engine task name).
    pub description_prefix: String,
    /// File name prefix (for `gcs`, may contain `/`).
    pub file_prefix: String,
    pub priority: Option<u32>,
    pub workload_tag: Option<String>,
    pub overwrite: bool,
}

impl Export {
    /// The settings of a pipeline without an `export` section: no destination, the default names.
    pub fn nowhere(name: &str) -> Export {
        Export {
            destination: Destination::None,
            format: FileFormatName::Csv,
            description_prefix: name.to_string(),
            file_prefix: format!("geepipe/{name}/"),
            priority: None,
            workload_tag: None,
            overwrite: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "to", rename_all = "lowercase")]
pub enum Destination {
    Drive {
        folder: String,
    },
    Gcs {
        bucket: String,
    },
    Asset {
        folder: String,
    },
    Bigquery {
        table: String,
    },
    Local {
        folder: PathBuf,
    },
    /// No `export` section: results come only from interactive requests (batch mode is impossible).
    None,
}

impl Destination {
    /// Whether there is somewhere for export tasks to write (so batch mode is possible).
    pub fn exists(&self) -> bool {
        !matches!(self, Destination::None)
    }
}

/// Resolved raster export settings.
#[derive(Debug, Clone, Serialize)]
pub struct ImageExport {
    pub per: ImagePer,
    /// Metres around each site (`per: site`), 0 for none.
    pub buffer: f64,
    /// Pixel size in metres (`None` with `crs_transform`, or when no layer has a scale).
    pub scale: Option<f64>,
    pub crs: Option<String>,
    pub crs_transform: Option<[f64; 6]>,
    /// Pixel limit sent as `maxPixels` (Earth Engine's default when unset).
    pub max_pixels: Option<u64>,
    pub cloud_optimized: bool,
    /// `[width, height]` of file tiles.
    pub file_dimensions: Option<[u32; 2]>,
    pub skip_empty: bool,
    pub no_data: Option<f64>,
    pub pyramiding: Option<PyramidingName>,
    pub pyramiding_bands: BTreeMap<String, PyramidingName>,
}

/// Resolved classifier training settings.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifierSpec {
    /// Full algorithm name, `Classifier.smileRandomForest`.
    pub algorithm: String,
    /// Named constructor arguments, checked against the signature.
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Names of the layers whose bands are the features, in pipeline order.
    pub features: Vec<String>,
    /// Sampling scale in metres.
    pub scale: Option<f64>,
    /// Site property holding the class label.
    pub label: String,
}

impl ImageExport {
    /// Earth Engine's default `maxPixels` for image exports.
    pub const EE_DEFAULT_MAX_PIXELS: u64 = 100_000_000;
}

#[derive(Debug, Clone, Serialize)]
pub struct Chunks {
    pub sites_per_task: usize,
    pub max_concurrent: usize,
    pub max_request_bytes: usize,
}

/// Resolved interactive mode settings (see [`super::raw::RawInteractive`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Interactive {
    pub max_in_flight: usize,
    pub requests_per_second: u32,
    /// `None`: from the plan's work estimate.
    pub sites_per_request: Option<usize>,
    pub page_size: u32,
    pub auto_max_minutes: f64,
}

impl Interactive {
    /// Earth Engine's default concurrent requests per project (developers.google.com/earth-engine/guides/usage).
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 40;
    /// Earth Engine's default requests per second per project (same page).
    pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 100;
    /// `computeFeatures`' default and largest page.
    pub const DEFAULT_PAGE_SIZE: u32 = 1000;
    pub const DEFAULT_AUTO_MAX_MINUTES: f64 = 15.0;
}

impl Default for Interactive {
    fn default() -> Self {
        Interactive {
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            requests_per_second: Self::DEFAULT_REQUESTS_PER_SECOND,
            sites_per_request: None,
            page_size: Self::DEFAULT_PAGE_SIZE,
            auto_max_minutes: Self::DEFAULT_AUTO_MAX_MINUTES,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    /// Absolute path of the merged table.
    pub path: PathBuf,
    pub format: OutputFormatName,
    pub layout: LayoutName,
    /// Site geometry written with each row.
    pub geometry: OutputGeometryName,
    /// Write the HTML report beside the table after every run.
    pub report: bool,
}

impl Chunks {
    pub const DEFAULT_SITES_PER_TASK: usize = 50;
    pub const DEFAULT_MAX_CONCURRENT: usize = 10;
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4_000_000;
    /// Earth Engine's hard limit on a request payload.
    pub const EE_MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
}
