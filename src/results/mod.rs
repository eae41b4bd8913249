//! Results: from finished exports, interactive chunks (or the local engine) to one tidy table and a run
//! manifest. Every source is read into the same rows ([`eecsv::ExportTable`]): CSV and GeoJSON export files
//! ([`eecsv`]), `computeFeatures` responses ([`features`]), stored interactive results ([`store`]).

pub mod assemble;
pub mod atomic;
pub mod checksum;
pub mod coverage;
pub mod download;
pub mod drive;
pub mod eecsv;
pub mod features;
pub mod fetch;
pub mod gcs;
pub mod geometry;
pub mod lock;
pub mod manifest;
pub mod merge;
pub mod parquet;
pub mod rows;
pub mod store;
pub mod table;

use serde::Serialize;

/// One measured value of the tidy long table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Measure {
    /// Area and pixel count of one class (categorical layers).
    Class { code: i64, name: Option<String>, area_ha: f64, pixels: f64 },
    /// One statistic of one band (continuous layers).
    Stat { band: String, stat: String, value: Option<f64> },
    /// The site has no valid pixels for this layer and year.
    NoData,
}

/// One row of the tidy long table (site properties are joined when writing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub site: String,
    pub layer: String,
    pub year: i32,
    pub measure: Measure,
}
