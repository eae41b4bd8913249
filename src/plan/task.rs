//! The wire types of a plan: a [`Task`] (one export request and where its output goes), as the journal
//! stores it, the executor submits it and fetch finds its files. A leaf: it depends on nothing in geepipe,
//! so the Earth Engine client, the executor, the journal and results can all use it.

use serde::Serialize;
use serde_json::Value;

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
