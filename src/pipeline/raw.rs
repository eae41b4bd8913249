//! The raw pipeline model: serde types that mirror the file a user writes, field for field.
//!
//! These types are the single source of truth for `schemas/pipeline.schema.json` (generated with
//! schemars; every field's doc comment becomes its description). They hold no defaults and make
//! no judgement: [`crate::pipeline::compile`] turns them into the resolved [`crate::pipeline::Pipeline`]
//! or a list of located diagnostics.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A geepipe pipeline: which sites, which dataset layers and years, where the results go.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "geepipe pipeline")]
pub struct RawPipeline {
    /// Name of the pipeline, used in task descriptions and output names. Letters, digits, `_` and `-`.
    /// Defaults to the pipeline file's name without extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Earth Engine Cloud project that runs and pays for the tasks (`my-project`, not `projects/my-project`).
    /// `--project` and the `GOOGLE_CLOUD_PROJECT` environment variable override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Which engine computes the statistics: `earthengine` (default) or `local` (GeoTIFFs on this machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineName>,
    /// What the pipeline produces: `zonal` statistics per site (default), `image` exports, or a trained `classifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<KindName>,
    /// How Earth Engine computes the results: `interactive` (synchronous `table:computeFeatures` requests on the
    /// high-volume endpoint, no export destination needed), `batch` (export tasks), or `auto` (default:
    /// interactive when the plan's work estimate is small enough, batch otherwise). `--mode` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeName>,
    /// The polygons to compute statistics for.
    pub sites: RawSites,
    /// Years to compute, for every layer that does not set its own: `2010..2023` (inclusive), a single year,
    /// a list `[2015, 2020]`, or `{from: 2010, to: 2023}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<RawYears>,
    /// Dataset layers to reduce over the sites: built-in catalog entries (`catalog: mapbiomas_lulc`) or custom layers.
    pub layers: Vec<RawLayer>,
    /// How pixels are reduced over each site (scale, projection, tiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce: Option<RawReduce>,
    /// Where Earth Engine writes each task's result. Required for batch mode; may be omitted in interactive mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<RawExport>,
    /// Raster export settings (`kind: image`): per site or one region, scale, projection, file options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<RawImage>,
    /// Classifier training settings (`kind: classifier`): algorithm, its parameters, features, sample scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<RawClassifier>,
    /// How sites are grouped into tasks and how many tasks run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<RawChunks>,
    /// Interactive mode settings: requests in flight, request rate, sites per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<RawInteractive>,
    /// The merged tidy table that `geepipe fetch` (and `geepipe run`) writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<RawOutput>,
    /// Folder of the run journal (SQLite). Defaults to `.geepipe/` beside the output table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
    /// User-defined template variables, usable as `{{name}}` in layer expressions and paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vars: Option<BTreeMap<String, serde_json::Value>>,
}

/// Engine that computes the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    /// Google Earth Engine batch exports.
    Earthengine,
    /// The built-in local engine over GeoTIFF files.
    Local,
}

/// What a pipeline produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KindName {
    /// Statistics per site, layer and year (a table).
    Zonal,
    /// Raster exports per site or region.
    Image,
    /// A classifier trained on labelled sites, exported to an asset.
    Classifier,
}

/// How Earth Engine computes the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    /// Interactive when the estimated work is small enough, batch otherwise (the default).
    Auto,
    /// Synchronous `table:computeFeatures` requests on the high-volume endpoint; results stored as they arrive.
    Interactive,
    /// Export tasks (`table:export`) to the `export` destination, then downloaded.
    Batch,
}

/// Where the sites come from: a site file (GeoJSON, GeoJSON lines, Shapefile, GeoPackage, FlatGeobuf,
/// GeoParquet) or an Earth Engine table asset.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSites {
    /// Path of the site file (Polygon/MultiPolygon features), relative to the pipeline file. Its format
    /// comes from the extension: `.geojson`/`.json`, `.geojsonl`/`.geojsons` (one feature per line), `.shp`
    /// (with `.dbf`, `.prj`, `.cpg` beside it), `.gpkg`, `.fgb`, `.parquet` (GeoParquet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The site file's format when its extension does not tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<SiteFormatName>,
    /// GeoPackage layer (table) holding the sites; needed only when the file has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Coordinate system of the site file's coordinates (`EPSG:31983`, WKT or a PROJ string). Only needed
    /// when the file declares none (a shapefile without `.prj`); it overrides a declared one, with a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs: Option<String>,
    /// Earth Engine table asset holding the sites instead of a file (`projects/p/assets/sites`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// Name of the feature property that holds each site's unique id.
    pub id: String,
    /// Feature properties to carry into the output table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep: Vec<String>,
    /// Property holding a per-site first year; years before it are not computed for that site (sites in a table
    /// asset: computed, exported as a column and dropped by `fetch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_year: Option<String>,
    /// Property holding each site's class label (for `kind: classifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Format of a site file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SiteFormatName {
    /// A GeoJSON FeatureCollection (or one Feature).
    Geojson,
    /// Newline-delimited GeoJSON: one Feature per line (GeoJSONSeq, RFC 8142 record separators allowed).
    Geojsonseq,
    /// An ESRI Shapefile (`.shp` with `.shx`, `.dbf`, and `.prj`/`.cpg` when present).
    Shapefile,
    /// An OGC GeoPackage (SQLite).
    Geopackage,
    /// FlatGeobuf.
    Flatgeobuf,
    /// GeoParquet 1.0/1.1 with WKB geometries.
    Geoparquet,
}

/// Years: `"2010..2023"` (inclusive range), a single year, a list, or `{from, to}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawYears {
    /// A single year.
    Single(i64),
    /// An inclusive range written `"2010..2023"`, or a single year as text.
    Range(String),
    /// An explicit list of years.
    List(Vec<i64>),
    /// An inclusive range written as an object.
    FromTo(RawYearSpan),
}

/// An inclusive range of years.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawYearSpan {
    /// First year, inclusive.
    pub from: i64,
    /// Last year, inclusive.
    pub to: i64,
}

/// One dataset layer: a catalog entry (optionally adjusted) or a custom layer with its own expression.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLayer {
    /// Name of a built-in catalog entry (`geepipe catalog` lists them). Omit for a custom layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// Name of the layer in outputs: lowercase letters, digits and `_`. Defaults to the catalog name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Years for this layer; overrides the pipeline's `years`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<RawYears>,
    /// `categorical` (area per class) or `continuous` (statistics of values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<LayerKind>,
    /// Earth Engine expression giving this layer's image for one year, written as nested calls:
    /// a mapping with `call: Algorithm.name` and the algorithm's named arguments. String values may hold
    /// `{{year}}`, `{{next_year}}`, `{{asset}}` and `vars` placeholders; each fills one value, never structure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<serde_json::Value>,
    /// Earth Engine asset id the layer reads (available to `image` as `{{asset}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// Bands the image has, in order (continuous layers). Defaults to one band named after the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bands: Option<Vec<String>>,
    /// Statistics for continuous layers: `mean`, `median`, `min`, `max`, `stdDev`, `count`, `sum`, or a percentile `p0`..`p100`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Vec<String>>,
    /// Classes of a categorical layer (code, name, colour). Codes not listed still appear in results, unnamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legend: Option<Vec<RawLegendEntry>>,
    /// Pixel size in metres. For a custom layer it is the scale the layer is reduced at (in `crs` when set,
    /// else in the projection of the image's first band); for a catalog entry without `crs` it is the
    /// nominal size of the image's own pixels (the layer is reduced on its own grid). See
    /// docs/computation.md, "Which grid".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Projection the layer is reduced in, with `scale` (`EPSG:4326`). Needed for images that have no grid of
    /// their own (composites such as `reduce.median` or `ImageCollection.mosaic`) unless `scale` is set;
    /// omit it to reduce on the image's own grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs: Option<String>,
    /// Units of the values (continuous layers), for documentation and the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<String>,
    /// Years the dataset covers; requested years outside it are an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<RawYears>,
    /// Values that mean "no data" and pixels that are not data: masked before reducing, so they are never a
    /// class or part of a statistic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodata: Option<RawNoData>,
    /// For the local engine: path template of this layer's GeoTIFF per year (`data/lulc_{{year}}.tif`),
    /// relative to the pipeline file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// For the local engine: path template of the raster holding `nodata.mask.band` (same grid as `local`),
    /// relative to the pipeline file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_mask: Option<String>,
    /// Template variables for this layer only; they override the pipeline's `vars`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vars: Option<BTreeMap<String, serde_json::Value>>,
}

/// No-data declarations of a layer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawNoData {
    /// Values of the layer's band(s) that mean "no data" (`[0]`): those pixels are masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    /// A band of the layer's `asset` that says where data is valid: pixels where it is not one of `valid`
    /// are masked (Hansen: `{band: datamask, valid: [1]}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<RawNoDataMask>,
}

/// A mask band of the layer's asset.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawNoDataMask {
    /// Band name in the layer's `asset` (an image).
    pub band: String,
    /// Values of that band where the layer's pixels are data.
    pub valid: Vec<f64>,
}

/// Kind of layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// Integer class codes: results are area (ha) and pixel count per class.
    Categorical,
    /// Continuous values: results are the chosen statistics.
    Continuous,
}

/// One class of a categorical layer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawLegendEntry {
    /// Class code as stored in the raster.
    pub code: i64,
    /// Class name.
    pub name: String,
    /// Display colour, `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// How pixels are reduced over each site.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReduce {
    /// Pixel size in metres for the reduction. Defaults to each layer's native scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Projection for the reduction (`EPSG:4326`). Defaults to the layer's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs: Option<String>,
    /// Earth Engine tile scale (1 to 16): larger uses less memory per tile, more slowly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile_scale: Option<f64>,
    /// Earth Engine's safety limit on pixels per reduction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<u64>,
    /// Let Earth Engine coarsen the scale instead of failing with "Too many pixels".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_effort: Option<bool>,
}

/// Export destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DestinationName {
    /// Google Drive folder (`folder`).
    Drive,
    /// Google Cloud Storage (`bucket`, `prefix`).
    Gcs,
    /// Earth Engine table or image asset (`asset`).
    Asset,
    /// BigQuery table (`table`).
    Bigquery,
    /// Files on this machine, for the local engine (`folder`).
    Local,
}

/// File format of exported tables or images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormatName {
    /// Comma-separated values (tables).
    Csv,
    /// GeoJSON (tables).
    Geojson,
    /// ESRI Shapefile (tables).
    Shp,
    /// KML (tables).
    Kml,
    /// Zipped KML (tables).
    Kmz,
    /// TFRecord (tables or images).
    Tfrecord,
    /// GeoTIFF (images).
    Geotiff,
}

/// Where Earth Engine writes each task's result.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExport {
    /// Destination: `drive`, `gcs`, `asset`, `bigquery` or `local`.
    pub to: DestinationName,
    /// Drive folder name (`drive`), or output folder (`local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Cloud Storage bucket name (`gcs`), without `gs://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Prefix of exported file names; for `gcs` it may contain `/` to act as folders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Asset folder for `asset` exports (`projects/p/assets/folder`); each chunk becomes one asset in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// BigQuery table `project.dataset.table` for `bigquery` exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// File format: `csv` (default for tables), `geojson`, `shp`, `kml`, `kmz`, `tfrecord`, `geotiff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormatName>,
    /// Prefix of task descriptions (Earth Engine task names). Defaults to the pipeline name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Task priority 0..9999 (honoured for paid projects only; default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Workload tag attached to every task, for billing breakdowns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_tag: Option<String>,
    /// Overwrite existing assets or BigQuery tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
}

/// How sites are grouped into tasks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawChunks {
    /// Sites per export task (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites_per_task: Option<u32>,
    /// Tasks of this run pending or running at once (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Largest request body in bytes (default 4,000,000; Earth Engine rejects requests over 10 MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<u64>,
}

/// Interactive mode settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInteractive {
    /// Requests in flight at once (default 40, Earth Engine's default per-project limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Requests sent per second at most (default 100, Earth Engine's default per-project rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// Sites per request. Default: from the plan's work estimate (pixels read and response size per site),
    /// spread so every request slot has work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites_per_request: Option<u32>,
    /// Features per response page (`pageSize`, default 1000, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// `mode: auto` chooses interactive when the estimated interactive run takes at most this many minutes
    /// (default 15); longer runs go to batch, which keeps running on Earth Engine without this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_max_minutes: Option<f64>,
}

/// Layout of the merged table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LayoutName {
    /// One row per site, layer, year and class or statistic.
    Long,
    /// One row per site, one column per layer, year and class or statistic.
    Wide,
}

/// Format of the merged table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormatName {
    /// CSV.
    Csv,
    /// GeoJSON, rows joined to the site geometries.
    Geojson,
    /// Apache Parquet with typed columns; GeoParquet when `geometry` is `centroid` or `polygon`.
    Parquet,
}

/// Which site geometry goes into the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputGeometryName {
    /// No geometry (CSV and Parquet default).
    None,
    /// The site's centroid, a point.
    Centroid,
    /// The site's polygon or multipolygon (GeoJSON default).
    Polygon,
}

/// The merged tidy table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    /// Path of the table file, relative to the pipeline file (default `results/<name>.csv`); never a folder
    /// or a device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `csv`, `geojson` or `parquet`. Without it, the extension of `path` chooses (`.csv`, `.geojson`/`.json`,
    /// `.parquet`), else `csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<OutputFormatName>,
    /// `long` (default) or `wide`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutName>,
    /// Site geometry in the table: `none` (default for CSV and Parquet), `centroid` or `polygon` (default for
    /// GeoJSON). Parquet with a geometry is GeoParquet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometry: Option<OutputGeometryName>,
    /// Also write a self-contained HTML report beside the table (`<table stem>.report.html`) after every
    /// run that writes the table (`geepipe report` makes one on demand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<bool>,
}

/// What one image export covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImagePer {
    /// One export per site and layer-year, clipped to the site (plus `buffer`).
    Site,
    /// One export per layer-year over the bounding box of all sites.
    Region,
}

/// How Earth Engine builds lower-resolution pyramid levels of an image asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PyramidingName {
    /// Average of the pixels below (continuous data; the default).
    Mean,
    /// One pixel of the ones below (categorical data).
    Sample,
    /// Smallest value below.
    Min,
    /// Largest value below.
    Max,
    /// Most frequent value below (categorical data).
    Mode,
    /// Median of the values below.
    Median,
}

/// Raster export settings for `kind: image`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    /// `site` (default): one export per site and layer-year, clipped to the site; `region`: one export per
    /// layer-year over the bounding box of all sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<ImagePer>,
    /// Metres added around each site before clipping (`per: site` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer: Option<f64>,
    /// Pixel size in metres of the exported image. Defaults to `reduce.scale`, then the layer's scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Projection of the exported image (`EPSG:4326`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs: Option<String>,
    /// Affine transform of the output grid `[xScale, xShear, xTranslation, yShear, yScale, yTranslation]`,
    /// in `crs` units; replaces `scale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs_transform: Option<Vec<f64>>,
    /// Earth Engine's limit on pixels per export (default 100,000,000); larger requests fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<u64>,
    /// Write Cloud-Optimized GeoTIFFs (GeoTIFF file exports; default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_optimized: Option<bool>,
    /// Largest file in pixels, `[width, height]` or `[n]` for both; bigger exports are split into several files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_dimensions: Option<Vec<u32>>,
    /// Do not write tiles that are entirely masked (GeoTIFF file exports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_empty: Option<bool>,
    /// Value written for masked pixels (GeoTIFF file exports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data: Option<f64>,
    /// Pyramiding policy of image assets (`to: asset`): `mean`, `sample`, `min`, `max`, `mode`, `median`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pyramiding: Option<PyramidingName>,
    /// Pyramiding policy per band name, overriding `pyramiding` (`to: asset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pyramiding_bands: Option<BTreeMap<String, PyramidingName>>,
}

/// Classifier training settings for `kind: classifier`. Each site is labelled by its `sites.label` property.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClassifier {
    /// Earth Engine classifier: `smileRandomForest`, `smileCart`, `smileGradientTreeBoost`, `libsvm`, ... (any
    /// `Classifier.*` constructor; the `Classifier.` prefix is optional).
    pub algorithm: String,
    /// Named arguments of the classifier constructor (`numberOfTrees: 100`), checked against its signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, serde_json::Value>>,
    /// Layers whose bands (every year of each) are the features. Defaults to all layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// Pixel size in metres at which the sites are sampled. Defaults to `reduce.scale`, then the layers' scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
}
