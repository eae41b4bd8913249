//! Planning: a resolved pipeline becomes the exact Earth Engine requests, one per chunk of sites.
//!
//! Chunk ids and request ids are deterministic (derived from the pipeline's content hash and the chunk),
//! so a rerun recognises work it already submitted.

pub mod columns;
pub mod task;

pub use columns::{columns, Column, ColumnKind};
pub use task::{Endpoint, Target, Task};

/// Builds the task for any subset of sites: what the executor calls when it splits a chunk that was too big.
pub trait ChunkPlanner: Send + Sync {
    fn task(&self, chunk_id: &str, site_ids: &[String]) -> anyhow::Result<Task>;
}

pub mod classifier;
pub mod compute;
pub mod image;
pub mod planner;
pub mod probe;
pub mod request;

pub use planner::{Plan, Planner, Summary};
