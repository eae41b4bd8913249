//! The journal's side of planning and running at any scale: a plan recorded chunk by chunk as it is made
//! (one transaction, so a plan is complete or absent), the executor's compact copy of every chunk
//! ([`RunChunk`]: a million sites are 20,000 chunks of 48 bytes plus their ids), and one chunk's row or
//! details read when it is sent, observed to change, retried or split.
//!
//! Journals made before zonal chunks kept their cells get the `cells` and `sites` columns on open.

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::{put_row, put_row_encoded, read_row, ChunkRow, ChunkState, Journal, JournalError};
use crate::plan::zonal::ChunkCells;
use crate::plan::{Endpoint, RunMode};

/// Which columns of a chunk a row reader loads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Load {
    /// Everything.
    Full,
    /// Without site ids, body and cells ([`Journal::chunks_slim`]).
    Slim,
    /// Slim and without the export target ([`Journal::row`]).
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

/// A chunk's site ids, cells and stored body (null when it is rebuilt from the site file), and the request ids
/// its body is sent with.
#[derive(Debug, Clone)]
pub struct Detail {
    pub site_ids: Vec<String>,
    pub cells: Option<ChunkCells>,
    pub body: Value,
    /// The planned request id (the one a rebuilt body carries).
    pub base_request_id: String,
    /// The request id of the current attempt.
    pub request_id: String,
}

/// A chunk as the executor holds it for the whole run: what it schedules, polls and counts by. The rest of
/// the chunk's row (description, request ids, times, errors, results) stays in the journal and is read, a
/// row at a time ([`Journal::row`]), when the chunk is sent, observed to change, retried or split. About 48
/// bytes plus its id (and its operation name while it may still be watched or adopted), where a
/// [`ChunkRow`] without site ids or body takes about 770.
#[derive(Debug, Clone, PartialEq)]
pub struct RunChunk {
    pub chunk_id: Box<str>,
    /// The operation of its current attempt, kept while the chunk has not succeeded (a succeeded chunk's
    /// operation is never looked at again in a run; the journal keeps it).
    pub operation: Option<Box<str>>,
    /// How many sites it holds.
    pub sites: u32,
    /// Attempts started (0 = never sent).
    pub attempt: u32,
    pub state: ChunkState,
    pub mode: RunMode,
    pub endpoint: Endpoint,
}

impl RunChunk {
    /// The executor's copy of `row`.
    pub fn of(row: &ChunkRow) -> RunChunk {
        let mut c = RunChunk {
            chunk_id: row.chunk_id.as_str().into(),
            operation: None,
            sites: u32::try_from(row.sites).unwrap_or(u32::MAX),
            attempt: 0,
            state: ChunkState::Planned,
            mode: row.mode,
            endpoint: row.endpoint,
        };
        c.follow(row);
        c
    }

    /// Takes the changes of the chunk's row (state, attempt, mode, operation).
    pub fn follow(&mut self, row: &ChunkRow) {
        self.state = row.state;
        self.attempt = row.attempt;
        self.mode = row.mode;
        let operation = row.operation.as_deref().filter(|_| row.state != ChunkState::Succeeded);
        if self.operation.as_deref() != operation {
            self.operation = operation.map(Box::from);
        }
    }
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

    /// Whether every chunk finished well: succeeded, or split into halves (which are chunks too).
    pub fn finished(&self) -> Result<bool, JournalError> {
        self.conn
            .query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM chunks WHERE state NOT IN (?1, ?2))",
                params![ChunkState::Succeeded.as_str(), ChunkState::Split.as_str()],
                |r| r.get(0),
            )
            .map_err(|e| self.sq(e))
    }

    /// Every chunk, in plan order, without site ids, bodies and cells (`sites` says how many).
    pub fn chunks_slim(&self) -> Result<Vec<ChunkRow>, JournalError> {
        self.chunk_rows(Load::Slim)
    }

    /// Every chunk, in plan order, as the executor holds it ([`RunChunk`]): each row read as
    /// [`Journal::row`] reads one and kept as its compact copy.
    pub fn run_chunks(&self) -> Result<Vec<RunChunk>, JournalError> {
        self.chunk_rows_as(Load::Run, |row| RunChunk::of(&row))
    }

    /// One chunk's row without site ids, body, cells and export target (as [`Journal::chunks_slim`] reads
    /// it, less the target: null, written once with the plan and never updated). Writing it back with
    /// [`Journal::put`] updates what changed and leaves those alone.
    pub fn row(&self, chunk_id: &str) -> Result<ChunkRow, JournalError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {} FROM chunks WHERE chunk_id = ?1", columns(Load::Run)))
            .map_err(|e| self.sq(e))?;
        stmt.query_row(params![chunk_id], read_row).map_err(|e| self.sq(e))
    }

    /// The last sequence number given (halves of a split chunk come after it).
    pub fn max_seq(&self) -> Result<i64, JournalError> {
        self.conn.query_row("SELECT coalesce(max(seq), 0) FROM chunks", [], |r| r.get(0)).map_err(|e| self.sq(e))
    }

    /// One chunk's site ids, cells and body, and its request ids.
    pub fn detail(&self, chunk_id: &str) -> Result<Option<Detail>, JournalError> {
        self.conn
            .prepare_cached("SELECT site_ids, cells, body, base_request_id, request_id FROM chunks WHERE chunk_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row(params![chunk_id], |r| {
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
                        base_request_id: r.get(3)?,
                        request_id: r.get(4)?,
                    })
                })
                .optional()
            })
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

#[cfg(test)]
mod tests {
    use super::super::tests::task;
    use super::*;

    #[test]
    fn a_row_read_changed_and_written_back_keeps_what_it_was_read_without() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("p.sqlite"), "p", "h").unwrap();
        j.record_plan(&[task("c00000"), task("c00001")]).unwrap();
        let mut row = j.row("c00001").unwrap();
        assert!(row.site_ids.is_empty() && row.body.is_null() && row.target.is_null());
        assert_eq!((row.sites, row.description.as_str()), (2, "d_c00001"));
        row.attempt = 1;
        row.state = ChunkState::Submitting;
        j.put(&[&row]).unwrap();
        row.state = ChunkState::Succeeded;
        row.operation = Some("projects/x/operations/OP1".into());
        j.put(&[&row]).unwrap();
        let full = j.chunks().unwrap();
        assert_eq!(full[1].state, ChunkState::Succeeded);
        assert_eq!(full[1].operation.as_deref(), Some("projects/x/operations/OP1"));
        let t = full[1].task();
        assert_eq!(
            (t.body, t.target, t.site_ids),
            (task("c00001").body, task("c00001").target, task("c00001").site_ids)
        );
        assert_eq!(full[0].state, ChunkState::Planned);
        assert_eq!(
            j.attempts().unwrap(),
            vec![("c00001".into(), 1, "req-c00001".into(), Some("projects/x/operations/OP1".into()))]
        );
        // The executor's copy: a succeeded chunk's operation is not kept.
        let run = j.run_chunks().unwrap();
        assert_eq!(run, vec![RunChunk::of(&full[0]), RunChunk::of(&full[1])]);
        assert_eq!(
            (&*run[1].chunk_id, run[1].operation.as_deref(), run[1].attempt, run[1].sites),
            ("c00001", None, 1, 2)
        );
        assert!(std::mem::size_of::<RunChunk>() <= 48, "{}", std::mem::size_of::<RunChunk>());
        let d = j.detail("c00001").unwrap().unwrap();
        assert_eq!((d.base_request_id.as_str(), d.request_id.as_str()), ("req-c00001", "req-c00001"));
        assert_eq!(j.max_seq().unwrap(), 1);
        assert!(matches!(j.row("c00002"), Err(JournalError::Sqlite { .. })));
    }
}
