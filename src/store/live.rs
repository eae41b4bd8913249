//! Interactive answers stored as they arrive: a run through the results store writes each
//! `table:computeFeatures` answer's cells here the moment it has it, so `status` and `plan` count them as
//! stored during the run and after it (fetched or not), and a later plan (`run --restart`, a changed
//! pipeline) never asks for them again.
//!
//! The order per answer is: the answer's file, durable ([`crate::results::store`]) → its cells, one store
//! transaction with its origin (the chunk's planned request id) → the journal marks the chunk succeeded.
//! The store and the journal are two SQLite files, and SQLite commits across attached WAL databases are not
//! atomic, so instead of one transaction each step is idempotent and the next run finishes what a kill
//! interrupted: a file without its journal entry is adopted and its cells stored — unless its origin is
//! stored already ([`super::ingest::once`] checks that inside its write transaction). A kill between any two
//! steps therefore neither loses an answer nor stores a cell twice.
//!
//! An answer is stored as far as it is complete: every site with a readable row gets its cells, as the
//! fetch of an export file stores them ([`super::ingest`]). A site without a row, or whose row has a cell
//! that cannot be read, stores nothing: its cells stay missing, the answer is [`Outcome::Partial`] (the
//! executor says what is missing and records it in the journal, so the next run plans those cells again,
//! and the fetch reports the sites as lacking stored results), never stored wrong. Only an answer that
//! cannot be read at all, or in which no site has any value, is left to the fetch, which says what is wrong
//! with it (as it did before answers were stored as they arrived).
//!
//! A `--fresh` run stores its answers as they arrive too, replacing the stored values (what its fetch does
//! with export files): its request ids carry the run's nonce, so they are new origins.

use std::path::Path;
use std::sync::Mutex;

use super::ingest::{self, ChunkRows, Ingested};
use super::{Origin, Store, StoreError};
use crate::pipeline::Pipeline;
use crate::plan::zonal::ChunkCells;
use crate::results::eecsv::ExportTable;

/// The results store of a run, for its interactive answers.
pub struct Answers {
    store: Mutex<Store>,
    pipeline: Pipeline,
    /// A `--fresh` run: answers replace stored values.
    replace: bool,
}

/// One answer, as the executor has it.
pub struct Answer<'a> {
    pub chunk_id: &'a str,
    /// The chunk's planned request id (the origin's key: the same for every attempt).
    pub request_id: &'a str,
    /// Site ids in chunk order.
    pub site_ids: &'a [String],
    pub cells: &'a ChunkCells,
    /// The answer's file, relative to the journal's folder.
    pub file: &'a str,
    /// When it was computed (Unix seconds; the journal's end time of the chunk).
    pub at: f64,
}

/// What became of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored now: this many cells written (cells stored already are not counted).
    Stored(u64),
    /// Stored as far as it is complete: this many cells written; what is missing from it (sites without a
    /// row, cells that cannot be read: those cells stay missing) and what else is odd (rows that differ,
    /// rows of other sites: nothing missing), each said as the fetch says it.
    Partial { written: u64, missing: Vec<String>, notes: Vec<String> },
    /// Its origin was stored already (by an earlier run, or a `fetch` beside this run).
    Already,
    /// Not whole: left to the fetch, which stores what it can and reports the rest.
    Left,
}

impl Answers {
    /// Opens (creating it) the store at `path` for `pipeline`'s answers.
    pub fn open(path: &Path, pipeline: Pipeline, replace: bool) -> Result<Answers, StoreError> {
        Ok(Answers { store: Mutex::new(Store::open(path)?), pipeline, replace })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // A poisoned lock only means another answer's write panicked; its transaction was rolled back.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the answer to `request_id` is stored.
    pub fn has(&self, request_id: &str) -> Result<bool, StoreError> {
        self.store().has_origin(request_id)
    }

    /// Stores an answer's rows (see the module doc); `table` is `None` when its features cannot be read
    /// (left to the fetch, which says why).
    pub fn put(&self, a: &Answer<'_>, table: Option<&ExportTable>) -> Result<Outcome, StoreError> {
        let Some(table) = table else { return Ok(Outcome::Left) };
        let origin = Origin {
            kind: "interactive".into(),
            operation: Some(a.request_id.to_string()),
            chunk: Some(a.chunk_id.to_string()),
            request_id: Some(a.request_id.to_string()),
            // Earth Engine says nothing of an interactive request's EECU.
            eecu: None,
            at: Some(a.at),
        };
        let chunk = ChunkRows { chunk_id: a.chunk_id, site_ids: a.site_ids, cells: a.cells, source: a.file };
        let mut store = self.store();
        if store.has_origin(a.request_id)? {
            return Ok(Outcome::Already);
        }
        let mut left = false;
        // An answer without any value in any layer is the fetch's to warn about.
        let keep = |r: &Ingested| {
            left = r.sites > 0 && r.sites_with_values == 0;
            !left
        };
        Ok(match ingest::once(&mut store, self.replace, &self.pipeline, &chunk, table, &origin, keep)? {
            Some(r) if r.missing.is_empty() && r.notes.is_empty() => Outcome::Stored(r.written),
            Some(r) => Outcome::Partial {
                written: r.written,
                missing: r.missing.iter().map(ToString::to_string).collect(),
                notes: r.notes,
            },
            None if left => Outcome::Left,
            None => Outcome::Already,
        })
    }
}
