//! The run journal: an embedded SQLite database recording intent before and outcome after every request.
//!
//! One file per pipeline (`<journal_dir>/<name>.sqlite`, or `--journal`). It holds the frozen plan (every
//! chunk's request body, so a resume sends byte-identical requests even after an upgrade), and for every
//! chunk its state, request id, operation name, attempts, error, EECU seconds and timestamps.
//!
//! Crash safety: the executor writes a chunk as `submitting` (with the request id it is about to use) in a
//! committed transaction BEFORE sending, and the operation name after. After `kill -9` at any moment a rerun
//! finds either nothing (never sent), `submitting` (maybe sent: resubmit with the SAME request id, which
//! Earth Engine deduplicates), or an operation name (adopt it). WAL mode keeps `status` readable during a run.
//!
//! Interactive chunks (`mode = interactive`) have no operation: a chunk is `running` while its request is in
//! flight, and `succeeded` only after its result file (`result`, relative to the journal's folder, with its size
//! and SHA-256) is durable on disk ([`crate::results::store`]). After `kill -9` a rerun recomputes at most the
//! requests that were in flight; a result file whose chunk the journal had not yet marked is taken as it is.
//!
//! One run at a time: [`Journal::open`] takes an exclusive lock on `<journal>.lock` (an SQLite exclusive
//! lock, released by the OS when the process dies, even by SIGKILL), writing the holder's pid beside it for
//! the message. A journal made by a different pipeline (other `content_hash`) is refused, never mixed.
//!
//! This file is a little over 600 lines because the schema, its migration and every statement that reads or
//! writes it stay together: the crash-safety argument above rests on each of them (the tests are at the end).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::plan::zonal::ChunkCells;
use crate::plan::{Endpoint, RunMode, Target, Task};

mod plan;

pub use plan::{Detail, RunChunk};

/// Version 2 added the interactive columns (`mode`, `requests`, `result`, `result_bytes`, `result_sha256`),
/// version 3 the cells of a zonal chunk rebuilt from the site file (`cells`, `sites`); an older journal gains
/// them when opened.
const SCHEMA_VERSION: &str = "3";

/// A chunk's state as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkState {
    /// Never sent.
    Planned,
    /// About to be sent with `request_id`; the response may never have arrived.
    Submitting,
    Pending,
    Running,
    Cancelling,
    Succeeded,
    Failed,
    Cancelled,
    /// Too big: replaced by its two halves.
    Split,
}

impl ChunkState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkState::Planned => "planned",
            ChunkState::Submitting => "submitting",
            ChunkState::Pending => "pending",
            ChunkState::Running => "running",
            ChunkState::Cancelling => "cancelling",
            ChunkState::Succeeded => "succeeded",
            ChunkState::Failed => "failed",
            ChunkState::Cancelled => "cancelled",
            ChunkState::Split => "split",
        }
    }

    pub fn parse(s: &str) -> Option<ChunkState> {
        Some(match s {
            "planned" => ChunkState::Planned,
            "submitting" => ChunkState::Submitting,
            "pending" => ChunkState::Pending,
            "running" => ChunkState::Running,
            "cancelling" => ChunkState::Cancelling,
            "succeeded" => ChunkState::Succeeded,
            "failed" => ChunkState::Failed,
            "cancelled" => ChunkState::Cancelled,
            "split" => ChunkState::Split,
            _ => return None,
        })
    }

    /// Nothing more will happen to it in this run.
    pub fn is_final(self) -> bool {
        matches!(self, ChunkState::Succeeded | ChunkState::Failed | ChunkState::Cancelled | ChunkState::Split)
    }

    /// Occupies an Earth Engine queue slot (or may).
    pub fn is_active(self) -> bool {
        matches!(self, ChunkState::Submitting | ChunkState::Pending | ChunkState::Running | ChunkState::Cancelling)
    }
}

impl std::fmt::Display for ChunkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One chunk: its planned task and everything that happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkRow {
    pub chunk_id: String,
    /// The chunk this one is a half of.
    pub parent: Option<String>,
    /// Order of insertion (plan order, halves after).
    pub seq: i64,
    /// The chunk's site ids (empty in rows loaded by [`Journal::chunks_slim`] and [`Journal::row`]: see
    /// [`Journal::detail`]).
    pub site_ids: Vec<String>,
    /// How many sites it holds.
    pub sites: usize,
    /// A zonal chunk of a site file: its layer parts and its sites' places in the file. Its body is not kept
    /// (`body` is null): it is rebuilt from the site file when sent.
    #[serde(skip)]
    pub cells: Option<ChunkCells>,
    #[serde(skip)]
    pub endpoint: Endpoint,
    pub description: String,
    #[serde(skip)]
    pub body: Value,
    pub target: Value,
    /// The planned request id (attempt 1).
    pub base_request_id: String,
    /// The request id of the current attempt.
    pub request_id: String,
    /// Attempts started (0 = never sent).
    pub attempt: u32,
    pub state: ChunkState,
    pub operation: Option<String>,
    /// Unix seconds.
    pub submitted_at: Option<f64>,
    pub started_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub eecu_seconds: Option<f64>,
    pub error: Option<String>,
    /// `transient`, `too_big`, `fatal`, `fatal_run`, `cancelled`.
    pub error_class: Option<String>,
    pub updated_at: f64,
    /// How the chunk is computed: an export task, or interactive requests.
    pub mode: RunMode,
    /// HTTP requests of the chunk's interactive attempts (pages and retries included).
    pub requests: u32,
    /// An interactive chunk's stored result, relative to the journal's folder.
    pub result: Option<String>,
    pub result_bytes: Option<u64>,
    pub result_sha256: Option<String>,
}

impl ChunkRow {
    pub fn from_task(t: &Task, seq: i64, parent: Option<&str>) -> ChunkRow {
        ChunkRow {
            chunk_id: t.chunk_id.clone(),
            parent: parent.map(str::to_string),
            seq,
            site_ids: t.site_ids.clone(),
            sites: t.site_ids.len(),
            cells: None,
            endpoint: t.endpoint,
            description: t.description.clone(),
            body: t.body.clone(),
            target: serde_json::to_value(&t.target).unwrap_or(Value::Null),
            base_request_id: t.request_id.clone(),
            request_id: t.request_id.clone(),
            attempt: 0,
            state: ChunkState::Planned,
            operation: None,
            submitted_at: None,
            started_at: None,
            ended_at: None,
            eecu_seconds: None,
            error: None,
            error_class: None,
            updated_at: now(),
            mode: RunMode::Batch,
            requests: 0,
            result: None,
            result_bytes: None,
            result_sha256: None,
        }
    }

    /// The planned task back (with the planned request id).
    pub fn task(&self) -> Task {
        Task {
            chunk_id: self.chunk_id.clone(),
            request_id: self.base_request_id.clone(),
            endpoint: self.endpoint,
            description: self.description.clone(),
            site_ids: self.site_ids.clone(),
            body: self.body.clone(),
            body_bytes: serde_json::to_vec(&self.body).map(|b| b.len()).unwrap_or(0),
            target: target_from_json(&self.target).unwrap_or(Target::Asset { name: String::new() }),
        }
    }

    /// Run time in seconds (start to end, or to now while running).
    pub fn runtime(&self) -> Option<f64> {
        let start = self.started_at?;
        Some(self.ended_at.unwrap_or_else(now) - start)
    }
}

/// A chunk without its request: see [`Journal::summaries`].
#[derive(Debug, Clone)]
pub struct ChunkSummary {
    pub chunk_id: String,
    pub parent: Option<String>,
    pub sites: u64,
    pub attempt: u32,
    pub state: ChunkState,
    pub started_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub eecu_seconds: Option<f64>,
    pub error: Option<String>,
    pub error_class: Option<String>,
    pub mode: RunMode,
}

impl ChunkSummary {
    /// Run time in seconds (start to end, or to now while running).
    pub fn runtime(&self) -> Option<f64> {
        let start = self.started_at?;
        Some(self.ended_at.unwrap_or_else(now) - start)
    }
}

/// Rebuilds a [`Target`] from its serialised form.
pub fn target_from_json(v: &Value) -> Option<Target> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(match v.get("to")?.as_str()? {
        "gcs" => Target::Gcs { bucket: s("bucket")?, prefix: s("prefix")? },
        "drive" => Target::Drive { folder: s("folder")?, prefix: s("prefix")? },
        "asset" => Target::Asset { name: s("name")? },
        "bigquery" => Target::Bigquery { table: s("table")? },
        "none" => Target::None,
        _ => return None,
    })
}

fn endpoint_from_str(s: &str) -> Endpoint {
    match s {
        "image:export" => Endpoint::ImageExport,
        "classifier:export" => Endpoint::ClassifierExport,
        _ => Endpoint::TableExport,
    }
}

/// One row of the `attempts` table: (chunk, attempt, request id, operation).
pub type Attempt = (String, u32, String, Option<String>);

/// Unix seconds now.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Why a journal could not be opened (all exit code 4 except `Sqlite`/`Io`, which are too).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "the journal {} is in use by another geepipe run{}; wait for it to finish or stop it (Ctrl-C) first",
        path.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked { path: PathBuf, pid: Option<u32> },
    #[error(
        "the journal {} was made by a different version of this pipeline (pipeline or site file changed since \
         the last run); refusing to mix runs.\n  To start anew (the old journal is moved aside), run:  \
         geepipe run --restart {}",
        path.display(), pipeline_file
    )]
    Changed { path: PathBuf, pipeline_file: String },
    #[error("the journal {} belongs to pipeline `{found}`, not `{wanted}`", path.display())]
    OtherPipeline { path: PathBuf, found: String, wanted: String },
    #[error("no journal at {}: nothing was submitted for this pipeline yet (run `geepipe run` first)", .0.display())]
    Missing(PathBuf),
    #[error(
        "the journal {} has no plan yet: no run of this pipeline got as far as submitting anything (the last one \
         stopped before it planned); run `geepipe run` first",
        .0.display()
    )]
    NothingSubmitted(PathBuf),
    #[error("journal {}: {source}", path.display())]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("journal {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// The exclusive run lock (held while the value lives).
pub struct RunLock {
    _conn: Connection,
    pid_path: PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pid_path);
    }
}

impl RunLock {
    /// Takes the lock for `journal` or says who holds it.
    pub fn acquire(journal: &Path) -> Result<RunLock, JournalError> {
        let lock_path = suffixed(journal, ".lock");
        let pid_path = suffixed(journal, ".lock.pid");
        let sq = |source| JournalError::Sqlite { path: lock_path.clone(), source };
        let conn = Connection::open(&lock_path).map_err(sq)?;
        conn.busy_timeout(std::time::Duration::from_millis(0)).map_err(sq)?;
        let taken = conn
            .execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE;
                 BEGIN EXCLUSIVE;
                 CREATE TABLE IF NOT EXISTS holder (pid INTEGER);
                 DELETE FROM holder;
                 COMMIT;",
            )
            .and_then(|_| conn.execute("INSERT INTO holder VALUES (?1)", [std::process::id()]).map(|_| ()));
        match taken {
            Ok(()) => {
                let _ = std::fs::write(&pid_path, std::process::id().to_string());
                Ok(RunLock { _conn: conn, pid_path })
            }
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
            {
                let pid = std::fs::read_to_string(&pid_path).ok().and_then(|s| s.trim().parse().ok());
                Err(JournalError::Locked { path: journal.to_path_buf(), pid })
            }
            Err(e) => Err(sq(e)),
        }
    }
}

fn suffixed(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// An open journal.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
    _lock: Option<RunLock>,
}

impl Journal {
    /// The default journal path of a pipeline.
    pub fn default_path(p: &crate::pipeline::Pipeline) -> PathBuf {
        p.journal_dir.join(format!("{}.sqlite", p.name))
    }

    /// Opens (creating if needed) the journal for a run: takes the run lock, checks the pipeline.
    pub fn open(path: &Path, pipeline_name: &str, content_hash: &str) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| JournalError::Io { path: path.to_path_buf(), source })?;
        }
        let lock = RunLock::acquire(path)?;
        let mut j = Journal::connect(path)?;
        j._lock = Some(lock);
        j.init()?;
        match j.meta("content_hash")? {
            None => {
                j.set_meta("content_hash", content_hash)?;
                j.set_meta("pipeline", pipeline_name)?;
                j.set_meta("created_at", &now().to_string())?;
            }
            Some(h) => {
                let found = j.meta("pipeline")?.unwrap_or_default();
                if found != pipeline_name {
                    return Err(JournalError::OtherPipeline {
                        path: path.to_path_buf(),
                        found,
                        wanted: pipeline_name.to_string(),
                    });
                }
                if h != content_hash {
                    return Err(JournalError::Changed { path: path.to_path_buf(), pipeline_file: String::new() });
                }
            }
        }
        Ok(j)
    }

    /// Opens an existing journal for reading (no lock; `status`).
    pub fn open_read(path: &Path) -> Result<Journal, JournalError> {
        if !path.exists() {
            return Err(JournalError::Missing(path.to_path_buf()));
        }
        let j = Journal::connect(path)?;
        j.init()?;
        Ok(j)
    }

    fn connect(path: &Path) -> Result<Journal, JournalError> {
        let sq = |source| JournalError::Sqlite { path: path.to_path_buf(), source };
        let conn = Connection::open(path).map_err(sq)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sq)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(sq)?;
        Ok(Journal { conn, path: path.to_path_buf(), _lock: None })
    }

    fn sq(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sqlite { path: self.path.clone(), source }
    }

    fn init(&self) -> Result<(), JournalError> {
        self.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS chunks (
                    chunk_id TEXT PRIMARY KEY, parent TEXT, seq INTEGER NOT NULL, site_ids TEXT NOT NULL,
                    endpoint TEXT NOT NULL, description TEXT NOT NULL, body TEXT NOT NULL, target TEXT NOT NULL,
                    base_request_id TEXT NOT NULL, request_id TEXT NOT NULL, attempt INTEGER NOT NULL,
                    state TEXT NOT NULL, operation TEXT, submitted_at REAL, started_at REAL, ended_at REAL,
                    eecu_seconds REAL, error TEXT, error_class TEXT, updated_at REAL NOT NULL);
                 CREATE TABLE IF NOT EXISTS attempts (
                    chunk_id TEXT NOT NULL, attempt INTEGER NOT NULL, request_id TEXT NOT NULL, operation TEXT,
                    outcome TEXT, error TEXT, at REAL NOT NULL, PRIMARY KEY (chunk_id, attempt));
                 CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, at REAL NOT NULL, chunk_id TEXT,
                    kind TEXT NOT NULL, detail TEXT NOT NULL);",
            )
            .map_err(|e| self.sq(e))?;
        // Version 2: the interactive columns, added to a version-1 journal.
        let have: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT name FROM pragma_table_info('chunks')").map_err(|e| self.sq(e))?;
            let names = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.sq(e))?;
            names.collect::<Result<_, _>>().map_err(|e| self.sq(e))?
        };
        for (column, decl) in [
            ("mode", "TEXT NOT NULL DEFAULT 'batch'"),
            ("requests", "INTEGER NOT NULL DEFAULT 0"),
            ("result", "TEXT"),
            ("result_bytes", "INTEGER"),
            ("result_sha256", "TEXT"),
        ] {
            if !have.iter().any(|h| h == column) {
                self.conn
                    .execute_batch(&format!("ALTER TABLE chunks ADD COLUMN {column} {decl};"))
                    .map_err(|e| self.sq(e))?;
            }
        }
        // Version 3: the cells columns.
        self.add_cell_columns()?;
        if self.meta("schema_version")?.as_deref() != Some(SCHEMA_VERSION) {
            self.set_meta("schema_version", SCHEMA_VERSION)?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, JournalError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.sq(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), JournalError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                [key, value],
            )
            .map(|_| ())
            .map_err(|e| self.sq(e))
    }

    /// Whether a plan was recorded (complete) before.
    pub fn has_plan(&self) -> Result<bool, JournalError> {
        Ok(self.meta("plan_complete")?.as_deref() == Some("1"))
    }

    /// Records the plan in one transaction (then `has_plan` is true), every chunk a batch chunk.
    pub fn record_plan(&mut self, tasks: &[Task]) -> Result<(), JournalError> {
        self.record_plan_as(tasks, RunMode::Batch)
    }

    /// Records the plan with every chunk computed in `mode`.
    pub fn record_plan_as(&mut self, tasks: &[Task], mode: RunMode) -> Result<(), JournalError> {
        let rows: Vec<ChunkRow> = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| ChunkRow { mode, ..ChunkRow::from_task(t, i as i64, None) })
            .collect();
        let tx = self.conn.savepoint().map_err(|e| JournalError::Sqlite { path: self.path.clone(), source: e })?;
        for r in &rows {
            put_row(&tx, r).map_err(|e| JournalError::Sqlite { path: self.path.clone(), source: e })?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('plan_complete', '1') ON CONFLICT(key) DO UPDATE SET value = '1'",
            [],
        )
        .map_err(|e| JournalError::Sqlite { path: self.path.clone(), source: e })?;
        tx.commit().map_err(|e| JournalError::Sqlite { path: self.path.clone(), source: e })
    }

    /// Writes chunk rows (and their current attempt) in one transaction (committed at once, or with the
    /// batch that is open).
    pub fn put(&mut self, rows: &[&ChunkRow]) -> Result<(), JournalError> {
        let path = self.path.clone();
        let sq = |source| JournalError::Sqlite { path: path.clone(), source };
        let tx = self.conn.savepoint().map_err(sq)?;
        for r in rows {
            put_row(&tx, r).map_err(sq)?;
        }
        tx.commit().map_err(sq)
    }

    /// Starts a batch: later writes commit together at [`Journal::commit_batch`] (the observations of one
    /// poll, the outcomes of one round of submissions, the intents of one round, committed before they are
    /// sent). Opened and committed within one step, never across a request.
    pub fn begin_batch(&self) -> Result<(), JournalError> {
        if self.conn.is_autocommit() {
            self.conn.execute_batch("BEGIN").map_err(|e| self.sq(e))?;
        }
        Ok(())
    }

    /// Commits a batch started by [`Journal::begin_batch`].
    pub fn commit_batch(&self) -> Result<(), JournalError> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("COMMIT").map_err(|e| self.sq(e))?;
        }
        Ok(())
    }

    /// Every chunk, in plan order.
    pub fn chunks(&self) -> Result<Vec<ChunkRow>, JournalError> {
        self.chunk_rows(plan::Load::Full)
    }

    /// Every chunk, in plan order, with the columns `load` says (see [`plan::columns`]).
    fn chunk_rows(&self, load: plan::Load) -> Result<Vec<ChunkRow>, JournalError> {
        self.chunk_rows_as(load, |row| row)
    }

    /// Every chunk, in plan order, read with the columns `load` says and turned into a `T` one at a time.
    fn chunk_rows_as<T>(&self, load: plan::Load, mut into: impl FnMut(ChunkRow) -> T) -> Result<Vec<T>, JournalError> {
        let count: i64 =
            self.conn.query_row("SELECT count(*) FROM chunks", [], |r| r.get(0)).map_err(|e| self.sq(e))?;
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {} FROM chunks ORDER BY seq", plan::columns(load)))
            .map_err(|e| self.sq(e))?;
        let rows = stmt.query_map([], read_row).map_err(|e| self.sq(e))?;
        // Sized once: a vector grown by doubling holds up to twice the rows' room (20,000 chunks of over 500
        // bytes each at a million sites).
        let mut out = Vec::with_capacity(count.max(0) as usize);
        for row in rows {
            out.push(into(row.map_err(|e| self.sq(e))?));
        }
        Ok(out)
    }

    /// Every chunk in plan order, without its request body, target and site ids (only their count): what
    /// the report needs. The bodies hold the site geometries, so [`Journal::chunks`] of a 40,000-site run
    /// takes about a gigabyte; this takes a few hundred bytes per chunk.
    pub fn summaries(&self) -> Result<Vec<ChunkSummary>, JournalError> {
        self.chunk_rows_as(plan::Load::Run, |r| ChunkSummary {
            chunk_id: r.chunk_id,
            parent: r.parent,
            sites: r.sites as u64,
            attempt: r.attempt,
            state: r.state,
            started_at: r.started_at,
            ended_at: r.ended_at,
            eecu_seconds: r.eecu_seconds,
            error: r.error,
            error_class: r.error_class,
            mode: r.mode,
        })
    }

    /// Appends an event (the audit log).
    pub fn log_event(&self, chunk_id: Option<&str>, kind: &str, detail: &Value) -> Result<(), JournalError> {
        self.conn
            .execute(
                "INSERT INTO events (at, chunk_id, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                params![now(), chunk_id, kind, detail.to_string()],
            )
            .map(|_| ())
            .map_err(|e| self.sq(e))
    }

    /// Every attempt: (chunk, attempt, request id, operation), by chunk then attempt.
    pub fn attempts(&self) -> Result<Vec<Attempt>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT chunk_id, attempt, request_id, operation FROM attempts ORDER BY chunk_id, attempt")
            .map_err(|e| self.sq(e))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).map_err(|e| self.sq(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.sq(e))
    }

    /// The pid of a live process holding the run lock of the journal at `path` (from the pid file written
    /// beside the lock, checked to be alive), without touching the lock itself (so a run starting at the
    /// same moment is never refused because of a reader).
    pub fn holder(path: &Path) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(suffixed(path, ".lock.pid")).ok()?.trim().parse().ok()?;
        #[cfg(unix)]
        {
            // SAFETY: kill(2) with signal 0 only checks that the process exists.
            let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
            alive.then_some(pid)
        }
        #[cfg(not(unix))]
        Some(pid)
    }

    /// Removes the journal at `path` when it holds no plan (a run that stopped before planning or submitting:
    /// no credentials, a failed probe, Ctrl-C), so `status` and `fetch` do not mistake it for a run of zero
    /// chunks. Takes the run lock first (a live run's journal is never touched) and returns whether it removed
    /// it; a locked journal is left alone.
    pub fn discard_unplanned(path: &Path) -> Result<bool, JournalError> {
        if !path.exists() {
            return Ok(false);
        }
        let _lock = match RunLock::acquire(path) {
            Ok(l) => l,
            Err(JournalError::Locked { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let empty = {
            let j = Journal::connect(path)?;
            j.init()?;
            !j.has_plan()? && j.chunks()?.is_empty()
        };
        if !empty {
            return Ok(false);
        }
        std::fs::remove_file(path).map_err(|source| JournalError::Io { path: path.to_path_buf(), source })?;
        for s in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(suffixed(path, s));
        }
        Ok(true)
    }

    /// Moves a journal aside (`<path>.<unix time>.old`) so the next run starts anew; returns the new path.
    /// Takes the run lock first, so a live run's journal is never moved.
    pub fn move_aside(path: &Path) -> Result<Option<PathBuf>, JournalError> {
        if !path.exists() {
            return Ok(None);
        }
        let _lock = RunLock::acquire(path)?;
        {
            // Fold the WAL into the main file so one file carries everything.
            let j = Journal::connect(path)?;
            j.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(|e| j.sq(e))?;
            j.conn.execute_batch("PRAGMA journal_mode = DELETE;").map_err(|e| j.sq(e))?;
        }
        let to = suffixed(path, &format!(".{}.old", now() as u64));
        std::fs::rename(path, &to).map_err(|source| JournalError::Io { path: path.to_path_buf(), source })?;
        for s in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(suffixed(path, s));
        }
        Ok(Some(to))
    }
}

/// A chunk row from the columns of [`plan::columns`], in that order.
fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChunkRow> {
    let site_ids: String = r.get(3)?;
    let body: String = r.get(6)?;
    let target: String = r.get(7)?;
    let state: String = r.get(11)?;
    let site_ids: Vec<String> = serde_json::from_str(&site_ids).unwrap_or_default();
    Ok(ChunkRow {
        chunk_id: r.get(0)?,
        parent: r.get(1)?,
        seq: r.get(2)?,
        sites: r.get::<_, Option<i64>>(26)?.map(|n| n as usize).unwrap_or(site_ids.len()),
        cells: r.get::<_, Option<String>>(25)?.and_then(|c| serde_json::from_str(&c).ok()),
        site_ids,
        endpoint: endpoint_from_str(&r.get::<_, String>(4)?),
        description: r.get(5)?,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        target: serde_json::from_str(&target).unwrap_or(Value::Null),
        base_request_id: r.get(8)?,
        request_id: r.get(9)?,
        attempt: r.get(10)?,
        state: ChunkState::parse(&state).unwrap_or(ChunkState::Planned),
        operation: r.get(12)?,
        submitted_at: r.get(13)?,
        started_at: r.get(14)?,
        ended_at: r.get(15)?,
        eecu_seconds: r.get(16)?,
        error: r.get(17)?,
        error_class: r.get(18)?,
        updated_at: r.get(19)?,
        mode: mode_from_str(&r.get::<_, String>(20)?),
        requests: r.get(21)?,
        result: r.get(22)?,
        result_bytes: r.get::<_, Option<i64>>(23)?.map(|b| b.max(0) as u64),
        result_sha256: r.get(24)?,
    })
}

/// A chunk's recorded mode (`batch` unless it says `interactive`).
fn mode_from_str(s: &str) -> RunMode {
    match s {
        "interactive" => RunMode::Interactive,
        _ => RunMode::Batch,
    }
}

pub(crate) fn put_row(tx: &rusqlite::Connection, r: &ChunkRow) -> rusqlite::Result<()> {
    put_row_encoded(tx, r, None)
}

/// [`put_row`] with the row's body given already encoded (`r.body` is then not read).
pub(crate) fn put_row_encoded(tx: &rusqlite::Connection, r: &ChunkRow, body: Option<&str>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO chunks (chunk_id, parent, seq, site_ids, endpoint, description, body, target, base_request_id,
            request_id, attempt, state, operation, submitted_at, started_at, ended_at, eecu_seconds, error,
            error_class, updated_at, mode, requests, result, result_bytes, result_sha256, cells, sites)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
            ?23, ?24, ?25, ?26, ?27)
         ON CONFLICT(chunk_id) DO UPDATE SET request_id = ?10, attempt = ?11, state = ?12, operation = ?13,
            submitted_at = ?14, started_at = ?15, ended_at = ?16, eecu_seconds = ?17, error = ?18,
            error_class = ?19, updated_at = ?20, mode = ?21, requests = ?22, result = ?23, result_bytes = ?24,
            result_sha256 = ?25",
        params![
            r.chunk_id,
            r.parent,
            r.seq,
            serde_json::to_string(&r.site_ids).unwrap_or_default(),
            r.endpoint.path(),
            r.description,
            match body {
                Some(text) => text.to_string(),
                None if r.body.is_null() && r.cells.is_some() => String::new(),
                None => r.body.to_string(),
            },
            r.target.to_string(),
            r.base_request_id,
            r.request_id,
            r.attempt,
            r.state.as_str(),
            r.operation,
            r.submitted_at,
            r.started_at,
            r.ended_at,
            r.eecu_seconds,
            r.error,
            r.error_class,
            now(),
            r.mode.as_str(),
            r.requests,
            r.result,
            r.result_bytes.map(|b| b as i64),
            r.result_sha256,
            r.cells.as_ref().and_then(|c| serde_json::to_string(c).ok()),
            r.sites as i64,
        ],
    )?;
    if r.attempt > 0 {
        let outcome: Option<&str> = if r.state == ChunkState::Submitting { None } else { Some(r.state.as_str()) };
        tx.execute(
            "INSERT INTO attempts (chunk_id, attempt, request_id, operation, outcome, error, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(chunk_id, attempt) DO UPDATE SET operation = ?4, outcome = ?5, error = ?6",
            params![r.chunk_id, r.attempt, r.request_id, r.operation, outcome, r.error, now()],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A planned task of chunk `id` (the journal's tests and its submodules').
    pub(super) fn task(id: &str) -> Task {
        Task {
            chunk_id: id.into(),
            request_id: format!("req-{id}"),
            endpoint: Endpoint::TableExport,
            description: format!("d_{id}"),
            site_ids: vec!["s1".into(), "s2".into()],
            body: json!({"requestId": format!("req-{id}"), "expression": {"result": "0", "values": {}}}),
            body_bytes: 10,
            target: Target::Gcs { bucket: "b".into(), prefix: format!("p/{id}") },
        }
    }

    #[test]
    fn plan_roundtrips_and_updates_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j/p.sqlite");
        {
            let mut j = Journal::open(&path, "p", "h1").unwrap();
            assert!(!j.has_plan().unwrap());
            j.record_plan(&[task("c00000"), task("c00001")]).unwrap();
            let mut rows = j.chunks().unwrap();
            rows[0].state = ChunkState::Submitting;
            rows[0].attempt = 1;
            j.put(&[&rows[0]]).unwrap();
            rows[0].state = ChunkState::Pending;
            rows[0].operation = Some("projects/x/operations/OP1".into());
            j.put(&[&rows[0]]).unwrap();
        }
        let j = Journal::open(&path, "p", "h1").unwrap();
        assert!(j.has_plan().unwrap());
        let rows = j.chunks().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].state, ChunkState::Pending);
        assert_eq!(rows[0].operation.as_deref(), Some("projects/x/operations/OP1"));
        let t = rows[1].task();
        assert_eq!(t.request_id, "req-c00001");
        assert_eq!(t.target, Target::Gcs { bucket: "b".into(), prefix: "p/c00001".into() });
        assert_eq!(t.body, task("c00001").body);
        let attempts = j.attempts().unwrap();
        assert_eq!(attempts, vec![("c00000".into(), 1, "req-c00000".into(), Some("projects/x/operations/OP1".into()))]);
    }

    #[test]
    fn second_open_is_locked_and_changed_pipeline_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sqlite");
        let j = Journal::open(&path, "p", "h1").unwrap();
        match Journal::open(&path, "p", "h1") {
            Err(JournalError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Locked, got {:?}", other.err()),
        }
        // Reading while locked works (status during a run).
        assert_eq!(Journal::open_read(&path).unwrap().chunks().unwrap().len(), 0);
        drop(j);
        assert!(matches!(Journal::open(&path, "p", "h2"), Err(JournalError::Changed { .. })));
        assert!(matches!(Journal::open(&path, "q", "h1"), Err(JournalError::OtherPipeline { .. })));
        let moved = Journal::move_aside(&path).unwrap().unwrap();
        assert!(moved.exists() && !path.exists());
        assert!(Journal::open(&path, "p", "h2").is_ok());
    }

    #[test]
    fn only_a_journal_without_plan_is_discarded_and_never_while_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sqlite");
        assert!(!Journal::discard_unplanned(&path).unwrap(), "nothing there");
        let held = Journal::open(&path, "p", "h1").unwrap();
        assert!(!Journal::discard_unplanned(&path).unwrap(), "a live run's journal stays");
        assert!(path.exists());
        drop(held);
        assert!(Journal::discard_unplanned(&path).unwrap());
        assert!(!path.exists());
        let mut j = Journal::open(&path, "p", "h1").unwrap();
        j.record_plan(&[task("c00000")]).unwrap();
        drop(j);
        assert!(!Journal::discard_unplanned(&path).unwrap(), "a planned journal stays");
        assert_eq!(Journal::open_read(&path).unwrap().chunks().unwrap().len(), 1);
    }
}
