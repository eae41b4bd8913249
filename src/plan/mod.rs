//! Planning: a resolved pipeline becomes the exact Earth Engine requests, one per chunk of sites.
//!
//! Chunk ids and request ids are deterministic (derived from the pipeline's content hash and the chunk),
//! so a rerun recognises work it already submitted.

pub mod columns;

use serde::Serialize;
use serde_json::Value;

pub use columns::{columns, Column, ColumnKind};

/// Which export endpoint a task goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /v1/projects/{p}/table:export`
    TableExport,
    /// `POST /v1/projects/{p}/image:export`
    ImageExport,
    /// `POST /v1/projects/{p}/classifier:export`
    ClassifierExport,
}

impl Endpoint {
    /// The path suffix after `/v1/projects/{project}/`.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::TableExport => "table:export",
            Endpoint::ImageExport => "image:export",
            Endpoint::ClassifierExport => "classifier:export",
        }
    }
}

/// Where a task's output ends up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "to", rename_all = "lowercase")]
pub enum Target {
    /// Objects in a bucket whose names start with `prefix`.
    Gcs { bucket: String, prefix: String },
    /// Files in a Drive folder whose names start with `prefix`.
    Drive { folder: String, prefix: String },
    /// An Earth Engine asset.
    Asset { name: String },
    /// A BigQuery table.
    Bigquery { table: String },
    /// Nowhere: the pipeline has no `export` section, so the chunk can only be computed interactively.
    None,
}

/// One export task: a chunk of sites and the request that computes it.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// Deterministic chunk id, e.g. `c00012`; halves of a split chunk append `a`/`b`.
    pub chunk_id: String,
    /// Deterministic request id (`[a-zA-Z0-9-]`, ≤ 60 chars): Earth Engine starts at most one task per id.
    pub request_id: String,
    pub endpoint: Endpoint,
    /// Task description (Earth Engine task name).
    pub description: String,
    /// Ids of the sites in this chunk, in file order.
    pub site_ids: Vec<String>,
    /// The request body, exactly as sent.
    pub body: Value,
    /// Size of the serialised body in bytes.
    pub body_bytes: usize,
    pub target: Target,
}

/// Builds the task for any subset of sites: what the executor calls when it splits a chunk that was too big.
pub trait ChunkPlanner: Send + Sync {
    fn task(&self, chunk_id: &str, site_ids: &[String]) -> anyhow::Result<Task>;
}

pub mod classifier;
pub mod compute;
pub mod estimate;
pub mod image;
pub mod interactive;
pub mod planner;
pub mod probe;

pub use estimate::{Decision, Estimate, RunMode};
pub use planner::{Plan, Planner, Summary};
