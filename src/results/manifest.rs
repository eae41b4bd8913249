//! The run manifest: a JSON file beside the table saying what produced it, from what, and how long it
//! took, so a table can be traced back to its pipeline, inputs and geepipe version.
//!
//! Written atomically (like the table) to `<table stem>.manifest.json`. Both engines write the same
//! structure: the local engine lists its raster files under `inputs`; the Earth Engine path adds one
//! [`ChunkEntry`] per chunk under `chunks`: an export task (operation name, attempts, runtime, EECU) or an
//! interactive chunk (`mode: interactive`, HTTP requests, time from request to stored answer, its stored file).
//! Readers must ignore fields they do not know (`extra` holds engine-specific additions).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::atomic::{write_unplaced, Unplaced};
use super::table::{TableError, TableSummary};
use crate::pipeline::{Engine, Pipeline};

/// Version of this file's structure.
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub manifest_version: u32,
    pub geepipe_version: String,
    pub catalog_version: String,
    pub engine: String,
    pub pipeline: PipelineInfo,
    /// RFC 3339 times (UTC).
    pub started_at: String,
    pub finished_at: String,
    pub table: TableInfo,
    /// Files or assets read.
    pub inputs: Vec<Input>,
    pub totals: Totals,
    pub timings: Timings,
    /// Earth Engine: one entry per export task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<ChunkEntry>,
    /// Engine-specific additions.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineInfo {
    pub name: String,
    pub source: PathBuf,
    /// The pipeline's content hash (raw model + site file + catalog version).
    pub content_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableInfo {
    pub path: PathBuf,
    pub format: String,
    pub layout: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Input {
    /// `sites`, `raster` or `asset`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// File path or asset id.
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Format details (size, CRS, data type, nodata, ...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    pub sites: u64,
    /// Site × layer × year combinations computed (after per-site first years).
    pub site_years: u64,
    /// Of those, how many had no valid pixel.
    pub nodata_site_years: u64,
    pub rows: u64,
    /// Per layer: site-years, and how many of them hold a value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<super::coverage::LayerCoverage>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub total_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

/// One Earth Engine chunk: an export task or interactive requests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkEntry {
    /// Chunk id (`c00012`; halves of a split chunk append `a`/`b`).
    pub chunk: String,
    /// Number of sites in the chunk.
    pub sites: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub state: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eecu_seconds: Option<f64>,
    /// `batch` (an export task) or `interactive` (`table:computeFeatures` requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// HTTP requests of an interactive chunk (pages and retries included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u32>,
    /// Files of this chunk merged into the table (`gs://bucket/object`, `drive:folder/name`, or an interactive
    /// result relative to the journal's folder).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// Path of the manifest of a table: `results/lulc.csv` → `results/lulc.manifest.json`.
pub fn path_for(table: &Path) -> PathBuf {
    let stem = table.file_stem().and_then(|s| s.to_str()).unwrap_or("table");
    table.with_file_name(format!("{stem}.manifest.json"))
}

/// Current time as RFC 3339.
pub fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Manifest {
    /// A manifest for `pipeline` with its table; inputs, totals and timings are filled by the engine.
    pub fn new(pipeline: &Pipeline, started_at: String, table: &TableSummary) -> Manifest {
        Manifest {
            manifest_version: MANIFEST_VERSION,
            geepipe_version: env!("CARGO_PKG_VERSION").to_string(),
            catalog_version: crate::catalog::VERSION.to_string(),
            engine: match pipeline.engine {
                Engine::Local => "local",
                Engine::EarthEngine => "earthengine",
            }
            .to_string(),
            pipeline: PipelineInfo {
                name: pipeline.name.clone(),
                source: pipeline.source.clone(),
                content_hash: pipeline.content_hash.clone(),
            },
            started_at,
            finished_at: now(),
            table: TableInfo {
                path: table.path.clone(),
                format: format!("{:?}", pipeline.output.format).to_lowercase(),
                layout: format!("{:?}", pipeline.output.layout).to_lowercase(),
                rows: table.rows,
                bytes: table.bytes,
                sha256: table.sha256.clone(),
            },
            inputs: Vec::new(),
            totals: Totals { rows: table.rows, ..Totals::default() },
            timings: Timings::default(),
            chunks: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Writes the manifest atomically to `path`.
    pub fn write(&self, path: &Path) -> Result<(), TableError> {
        Ok(self.write_unplaced(path)?.place()?)
    }

    /// Writes the manifest beside `path` without replacing it yet (see [`super::atomic::place_pair`]).
    pub fn write_unplaced(&self, path: &Path) -> Result<Unplaced, TableError> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        Ok(write_unplaced(path, text.as_bytes())?)
    }

    /// Reads a manifest.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_path_buf(), source })?;
        serde_json::from_str(&text).map_err(|source| ManifestError::Parse { path: path.to_path_buf(), source })
    }
}

/// Why a manifest cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("`{}` is not a geepipe manifest: {source}", path.display())]
    Parse { path: std::path::PathBuf, source: serde_json::Error },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_sits_beside_the_table() {
        assert_eq!(path_for(Path::new("results/lulc.csv")), PathBuf::from("results/lulc.manifest.json"));
        assert_eq!(path_for(Path::new("out.geojson")), PathBuf::from("out.manifest.json"));
    }

    #[test]
    fn round_trips_with_earth_engine_chunks() {
        let m = Manifest {
            manifest_version: 1,
            geepipe_version: "0.1.0".into(),
            catalog_version: "x".into(),
            engine: "earthengine".into(),
            pipeline: PipelineInfo { name: "p".into(), source: "p.yaml".into(), content_hash: "ab".into() },
            started_at: now(),
            finished_at: now(),
            table: TableInfo {
                path: "t.csv".into(),
                format: "csv".into(),
                layout: "long".into(),
                rows: 3,
                bytes: 10,
                sha256: "00".into(),
            },
            inputs: vec![],
            totals: Totals::default(),
            timings: Timings { total_seconds: 1.5, ..Timings::default() },
            chunks: vec![ChunkEntry {
                chunk: "c00000".into(),
                sites: 50,
                operation: Some("projects/p/operations/X".into()),
                state: "SUCCEEDED".into(),
                attempts: 2,
                runtime_seconds: Some(61.0),
                eecu_seconds: Some(12.5),
                mode: Some("batch".into()),
                requests: None,
                files: vec!["gs://b/p/c00000.csv".into()],
            }],
            extra: Map::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.manifest.json");
        m.write(&p).unwrap();
        assert_eq!(Manifest::read(&p).unwrap(), m);
    }
}
