//! Planning: a resolved pipeline becomes the exact Earth Engine requests, one per chunk of sites.
//!
//! Chunk ids and request ids are deterministic (derived from the pipeline's content hash and the chunk),
//! so a rerun recognises work it already submitted.

pub mod cells;
pub mod columns;
pub mod task;

pub use columns::{columns, Column, ColumnKind};
pub use task::{Endpoint, Target, Task};

/// Builds the task for any subset of sites: what the executor calls when it splits a chunk that was too big.
///
/// `cells` is what the journal keeps about a zonal chunk of a site file (its layer parts and its sites'
/// places in the file): the task computes those parts for those sites. Without it, every layer part.
pub trait ChunkPlanner: Send + Sync {
    fn task(&self, chunk_id: &str, site_ids: &[String], cells: Option<&zonal::ChunkCells>) -> Result<Task, PlanError>;

    /// The body of [`ChunkPlanner::task`] as the exact JSON text sent (what the executor sends: planners
    /// that write bodies as text override it, so a body is never held as a JSON tree).
    fn body(
        &self,
        chunk_id: &str,
        site_ids: &[String],
        cells: Option<&zonal::ChunkCells>,
    ) -> Result<Vec<u8>, PlanError> {
        let task = self.task(chunk_id, site_ids, cells)?;
        Ok(serde_json::to_vec(&task.body).unwrap_or_default())
    }
}

/// Why a pipeline, or one chunk of it, could not be planned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// Located problems found while building requests (a site too big for one request, …). Shown
    /// inline (messages joined by `; `) in a chunk's error; the command line renders them with places.
    #[error("{}", .0.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; "))]
    Diagnostics(Vec<crate::diag::Diagnostic>),
    /// A chunk id the pipeline's kind never splits (classifier training, image exports).
    #[error("{what} `{chunk}` is one request and is not split")]
    NotSplit { what: &'static str, chunk: String },
    /// An image export chunk that the plan does not hold.
    #[error("image export `{0}` is not in the plan (image exports are not split)")]
    UnknownExport(String),
    /// A site id that the site file does not hold (a journal written for another site file).
    #[error("site `{0}` is not in the site file")]
    UnknownSite(String),
    /// The probe request could not be built (see [`probe`]).
    #[error("cannot build the probe: {0}")]
    Probe(probe::ProbeError),
    #[error("chunk `{0}` has no sites")]
    EmptyChunk(String),
    #[error("the request for chunk `{chunk}` has {bytes} bytes, above Earth Engine's 10 MB limit")]
    TooBig { chunk: String, bytes: usize },
    /// A journal chunk of a store-run plan without the cells it computes (planned by an older geepipe).
    #[error("chunk `{0}` does not say which cells it computes (planned by an older geepipe); run `geepipe run --restart` to plan again")]
    NoCells(String),
    /// A planned site that the site file no longer holds as it was when planned.
    #[error(
        "site `{site}` of chunk `{chunk}` is not the site the plan was made for (the site file changed since); run \
         `geepipe run --restart` to plan again"
    )]
    SiteChanged { site: String, chunk: String },
    /// The sites could not be read back (a temporary file beside the journal, or the site file).
    #[error("cannot read the planned sites back: {0}")]
    SitesUnreadable(String),
}

impl PlanError {
    /// Planning refusals are about the input (pipeline, site file or the journal's chunk list), except a
    /// temporary file that cannot be read back.
    pub fn exit_code(&self) -> i32 {
        match self {
            PlanError::SitesUnreadable(_) => crate::exit::ENVIRONMENT,
            _ => crate::exit::INVALID_INPUT,
        }
    }
}

impl From<Vec<crate::diag::Diagnostic>> for PlanError {
    fn from(d: Vec<crate::diag::Diagnostic>) -> PlanError {
        PlanError::Diagnostics(d)
    }
}

pub mod classifier;
pub mod compute;
pub mod estimate;
pub mod image;
pub mod image_stream;
pub mod interactive;
pub mod kind;
pub mod planner;
pub mod probe;
pub mod request;
pub mod stream;
pub mod zonal;

pub use estimate::{Decision, Estimate, RunMode};
pub use planner::{Plan, Planner, Summary, Tally};
