//! The journal's side of planning and running at any scale: a plan recorded chunk by chunk as it is made
//! (one transaction, so a plan is complete or absent), rows loaded without their site ids and bodies for
//! the executor (a million sites are 20,000 small rows), and one chunk's details read when it is sent or
//! split.
//!
//! Journals made before zonal chunks kept their cells get the `cells` and `sites` columns on open.

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::{put_row, put_row_encoded, ChunkRow, ChunkState, Journal, JournalError};
use crate::plan::zonal::ChunkCells;

/// Which columns of a chunk a row reader loads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Load {
    /// Everything.
    Full,
    /// Without site ids, body and cells ([`Journal::chunks_slim`]).
    Slim,
    /// Slim and without the export target ([`Journal::chunks_to_run`]).
    Run,
}

/// The chunk columns in the order the row readers expect.
pub(super) fn columns(load: Load) -> &'static str {
    match load {
        Load::Full => {
            "chunk_id, parent, seq, site_ids, endpoint, description, body, target, base_request_id, request_id, \
             attempt, state, operation, submitted_at, started_at, ended_at, eecu_seconds, error, error_class, \
             updated_at, mode, requests, result, result_bytes, result_sha256, cells, sites"
        }
        Load::Slim => {
            "chunk_id, parent, seq, '[]', endpoint, description, 'null', target, base_request_id, request_id, \
             attempt, state, operation, submitted_at, started_at, ended_at, eecu_seconds, error, error_class, \
             updated_at, mode, requests, result, result_bytes, result_sha256, NULL, \
             coalesce(sites, json_array_length(site_ids))"
        }
        Load::Run => {
            "chunk_id, parent, seq, '[]', endpoint, description, 'null', 'null', base_request_id, request_id, \
             attempt, state, operation, submitted_at, started_at, ended_at, eecu_seconds, error, error_class, \
             updated_at, mode, requests, result, result_bytes, result_sha256, NULL, \
             coalesce(sites, json_array_length(site_ids))"
        }
    }
}

/// A chunk's site ids, cells and stored body (null when it is rebuilt from the site file).
#[derive(Debug, Clone)]
pub struct Detail {
    pub site_ids: Vec<String>,
    pub cells: Option<ChunkCells>,
    pub body: Value,
}

/// Records a plan chunk by chunk; nothing is visible until [`PlanWriter::finish`].
pub struct PlanWriter<'j> {
    tx: rusqlite::Transaction<'j>,
    path: std::path::PathBuf,
    seq: i64,
}

impl PlanWriter<'_> {
    /// Adds the next chunk (in plan order).
    pub fn add(&mut self, mut row: ChunkRow) -> Result<(), JournalError> {
        row.seq = self.seq;
        self.seq += 1;
        put_row(&self.tx, &row).map_err(|source| JournalError::Sqlite { path: self.path.clone(), source })
    }

    /// Adds the next chunk with its body already encoded (as it is sent): `row.body` is not read.
    pub fn add_encoded(&mut self, mut row: ChunkRow, body: &str) -> Result<(), JournalError> {
        row.seq = self.seq;
        self.seq += 1;
        put_row_encoded(&self.tx, &row, Some(body))
            .map_err(|source| JournalError::Sqlite { path: self.path.clone(), source })
    }

    /// Marks the plan complete and commits it.
    pub fn finish(self) -> Result<(), JournalError> {
        let path = self.path.clone();
        let sq = |source| JournalError::Sqlite { path: path.clone(), source };
        self.tx
            .execute(
                "INSERT INTO meta (key, value) VALUES ('plan_complete', '1') ON CONFLICT(key) DO UPDATE SET value = '1'",
                [],
            )
            .map_err(sq)?;
        self.tx.commit().map_err(sq)
    }
}

impl Journal {
    /// Adds the `cells` and `sites` columns to a journal made before them.
    pub(super) fn add_cell_columns(&self) -> Result<(), JournalError> {
        let mut st = self.conn.prepare("SELECT name FROM pragma_table_info('chunks')").map_err(|e| self.sq(e))?;
        let names: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(|e| self.sq(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sq(e))?;
        for (col, ty) in [("cells", "TEXT"), ("sites", "INTEGER")] {
            if !names.iter().any(|n| n == col) {
                self.conn
                    .execute_batch(&format!("ALTER TABLE chunks ADD COLUMN {col} {ty}"))
                    .map_err(|e| self.sq(e))?;
            }
        }
        Ok(())
    }

    /// Starts recording a plan (see [`PlanWriter`]); chunks of an earlier, unfinished plan are dropped.
    pub fn plan_writer(&mut self) -> Result<PlanWriter<'_>, JournalError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| JournalError::Sqlite { path: path.clone(), source })?;
        tx.execute("DELETE FROM chunks", []).map_err(|source| JournalError::Sqlite { path: path.clone(), source })?;
        Ok(PlanWriter { tx, path, seq: 0 })
    }

    /// Drops a plan nothing of which was sent (a plan whose probe failed is made again, and probed again).
    /// Returns whether it was dropped.
    pub fn drop_unsent_plan(&mut self) -> Result<bool, JournalError> {
        let sent: i64 = self
            .conn
            .query_row("SELECT count(*) FROM chunks WHERE attempt > 0", [], |r| r.get(0))
            .map_err(|e| self.sq(e))?;
        if sent > 0 {
            return Ok(false);
        }
        self.conn
            .execute_batch("DELETE FROM chunks; DELETE FROM meta WHERE key = 'plan_complete';")
            .map_err(|e| self.sq(e))?;
        Ok(true)
    }

    /// Whether the plan's bodies are rebuilt from the site file when sent (zonal chunks that keep their cells).
    pub fn rebuilds_bodies(&self) -> Result<bool, JournalError> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM chunks WHERE cells IS NOT NULL)", [], |r| r.get(0))
            .map_err(|e| self.sq(e))
    }

    /// Every chunk, in plan order, without site ids, bodies and cells (`sites` says how many).
    pub fn chunks_slim(&self) -> Result<Vec<ChunkRow>, JournalError> {
        self.chunk_rows(Load::Slim)
    }

    /// Every chunk as the executor of a plan rebuilt from the site file holds it: slim, and without its export
    /// target (null: written once with the plan, never updated). A million sites make 20,000 chunks; the
    /// target alone took about 450 bytes of each.
    pub fn chunks_to_run(&self) -> Result<Vec<ChunkRow>, JournalError> {
        self.chunk_rows(Load::Run)
    }

    /// One chunk's site ids, cells and body.
    pub fn detail(&self, chunk_id: &str) -> Result<Option<Detail>, JournalError> {
        self.conn
            .query_row("SELECT site_ids, cells, body FROM chunks WHERE chunk_id = ?1", params![chunk_id], |r| {
                let ids: String = r.get(0)?;
                let cells: Option<String> = r.get(1)?;
                let body: String = r.get(2)?;
                Ok(Detail {
                    site_ids: serde_json::from_str(&ids).unwrap_or_default(),
                    cells: cells.and_then(|c| serde_json::from_str(&c).ok()),
                    body: if body.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_str(&body).unwrap_or(Value::Null)
                    },
                })
            })
            .optional()
            .map_err(|e| self.sq(e))
    }

    /// Whether any chunk is active (submitted and not finished) or finished without its results stored
    /// (`stored(operation)` says whether a succeeded chunk's results are in the results store).
    pub fn unsettled(&self, mut stored: impl FnMut(&str) -> bool) -> Result<Vec<String>, JournalError> {
        let rows = self.chunks_slim()?;
        Ok(rows
            .into_iter()
            .filter(|r| {
                r.state.is_active()
                    || (r.state == ChunkState::Succeeded && r.operation.as_deref().is_some_and(|o| !stored(o)))
            })
            .map(|r| r.chunk_id)
            .collect())
    }
}
