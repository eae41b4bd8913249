//! The results store: every computed cell, kept once, in an SQLite file beside the run journal
//! (`<journal folder>/<pipeline name>.store.sqlite`), so a changed pipeline computes only what it lacks and
//! the table is assembled from here ([`assemble`]).
//!
//! A cell is one site × layer-year × measure ([`crate::plan::cells`]). Tables:
//! - `sites(id, site_id, geom)`: a site as it was computed: its id and the digest of its geometry. An edited
//!   polygon is a new row; the old one's cells stay but are never used for the new geometry.
//! - `exprs(id, hash, layer, year, engine, catalog, geepipe, detail, created_at)`: a layer-year expression
//!   key, with what it covered (`detail`) and the catalog and geepipe versions that first used it, to explain
//!   a stored layer that no longer matches.
//! - `origins(id, kind, operation, chunk, request_id, at, eecu, cells)`: where values came from (a batch
//!   export's operation, an interactive request, the local engine), when, and its EECU seconds; a cell's share
//!   is `eecu / cells` (the view `provenance` shows it per cell).
//! - `cells(site, expr, measure, value, origin)`: the value: a categorical layer-year's classes as a blob of
//!   `(code i64, hectares f64, pixels f64)` little-endian triples (empty: no valid pixel), or a statistic as a
//!   number (NULL: no data).
//!
//! Values are written once: a cell already stored is left as it is (`INSERT OR IGNORE`), except by a
//! `--fresh` run, which replaces what it recomputes. Each chunk's values are written in one transaction
//! with their origin, so a killed run leaves whole chunks or nothing; a chunk whose origin (export
//! operation, interactive request id) is stored already is not stored again ([`ingest::once`]).
//!
//! Writers: a run storing interactive answers as they arrive ([`live`]), `fetch` storing export files
//! (and answers a run did not store), the local engine. Each writes short transactions that take SQLite's
//! write lock at their start, and waits for another's (busy timeout 30 s); no other lock is needed.
//!
//! Versions: `meta.schema_version` is [`SCHEMA_VERSION`]; a store of an older schema is upgraded in place
//! when it can be (there is none yet), and a newer one is refused with an explanation, never misread.

pub mod assemble;
pub mod ingest;
pub mod live;
mod writer;

pub use writer::Writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::plan::cells::{CellModel, CellSet, Key};
use crate::sites::Site;

/// The store's file format version.
pub const SCHEMA_VERSION: u32 = 1;

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("results store {}: {source}{}", path.display(), os.as_ref().map(|o| format!(" ({o})")).unwrap_or_default())]
    Sqlite { path: PathBuf, source: rusqlite::Error, os: Option<String> },
    #[error("cannot create the folder of the results store {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "the results store {} was written by geepipe {by} in format {found}; this geepipe ({ours}) reads formats up \
         to {SCHEMA_VERSION}\nhelp: use geepipe {by} or newer, or move the store aside to start a new one (its \
         cells are then computed again)",
        path.display(),
        ours = env!("CARGO_PKG_VERSION")
    )]
    Newer { path: PathBuf, found: u32, by: String },
    #[error("{} is not a geepipe results store: {reason}\nhelp: move it aside; geepipe creates a new store", path.display())]
    Foreign { path: PathBuf, reason: String },
}

impl StoreError {
    /// An SQLite error of `conn`'s store at `path`; an I/O failure carries the system's reason (SQLite says
    /// "disk I/O error" for a write past a file-size limit, for instance: the reason says "File too large").
    pub(crate) fn sqlite(conn: &Connection, path: &Path, source: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode::{CannotOpen, DiskFull, SystemIoFailure};
        let os = match &source {
            rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, SystemIoFailure | DiskFull | CannotOpen) => {
                // SAFETY: the handle is the live connection's and is only read by sqlite3_system_errno.
                let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
                (errno != 0).then(|| std::io::Error::from_raw_os_error(errno).to_string())
            }
            _ => None,
        };
        StoreError::Sqlite { path: path.to_path_buf(), source, os }
    }
}

/// The store of a journal: `<journal without .sqlite>.store.sqlite`, beside it.
pub fn path_for_journal(journal: &Path) -> PathBuf {
    let name = journal.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".sqlite").unwrap_or(&name);
    journal.with_file_name(format!("{stem}.store.sqlite"))
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// A stored value.
#[derive(Debug, Clone, PartialEq)]
pub enum CellValue {
    /// Classes (code, hectares, pixels), sorted by code; empty: no valid pixel.
    Classes(Vec<(i64, f64, f64)>),
    /// A statistic; `None`: no data.
    Number(Option<f64>),
}

impl CellValue {
    fn to_sql(&self) -> rusqlite::types::Value {
        use rusqlite::types::Value as V;
        match self {
            CellValue::Classes(c) => {
                let mut b = Vec::with_capacity(c.len() * 24);
                for (code, ha, px) in c {
                    b.extend_from_slice(&code.to_le_bytes());
                    b.extend_from_slice(&ha.to_le_bytes());
                    b.extend_from_slice(&px.to_le_bytes());
                }
                V::Blob(b)
            }
            CellValue::Number(Some(x)) => V::Real(*x),
            CellValue::Number(None) => V::Null,
        }
    }

    fn from_sql(v: rusqlite::types::ValueRef<'_>) -> Option<CellValue> {
        use rusqlite::types::ValueRef as V;
        Some(match v {
            V::Blob(b) => {
                if b.len() % 24 != 0 {
                    return None;
                }
                CellValue::Classes(
                    b.chunks_exact(24)
                        .map(|c| {
                            let n = |r: std::ops::Range<usize>| <[u8; 8]>::try_from(&c[r]).unwrap_or_default();
                            (i64::from_le_bytes(n(0..8)), f64::from_le_bytes(n(8..16)), f64::from_le_bytes(n(16..24)))
                        })
                        .collect(),
                )
            }
            V::Real(x) => CellValue::Number(Some(x)),
            V::Integer(i) => CellValue::Number(Some(i as f64)),
            V::Null => CellValue::Number(None),
            V::Text(_) => return None,
        })
    }

    /// Whether the value says "no valid pixel".
    pub fn is_nodata(&self) -> bool {
        matches!(self, CellValue::Classes(c) if c.is_empty()) || matches!(self, CellValue::Number(None))
    }
}

/// Where values came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    /// `batch`, `interactive` or `local`.
    pub kind: String,
    /// Earth Engine operation (batch), or the request id (interactive).
    pub operation: Option<String>,
    pub chunk: Option<String>,
    pub request_id: Option<String>,
    /// EECU seconds of the whole request, when known.
    pub eecu: Option<f64>,
    /// When the values were computed (Unix seconds: the task's or the answer's end); `None`: now.
    pub at: Option<f64>,
}

/// The store's rows for a pipeline's cell model: expression row ids and measure positions.
#[derive(Debug, Clone)]
pub struct Binding {
    /// expr row id → (model layer, slot).
    by_expr: HashMap<i64, (usize, usize)>,
    /// Per model layer: measure text → position.
    measures: Vec<HashMap<String, usize>>,
    /// Per model layer and slot: the expr row id.
    exprs: Vec<Vec<i64>>,
    /// Whether any cell of these expressions is stored (when not, lookups are skipped).
    pub any_stored: bool,
}

impl Binding {
    /// The expression row of a model layer's slot.
    pub fn expr(&self, layer: usize, slot: usize) -> i64 {
        self.exprs[layer][slot]
    }
}

/// What the store holds for one site of the current model.
#[derive(Debug, Default)]
pub struct SiteCells {
    /// Flat cell index → value.
    pub values: Vec<(usize, CellValue)>,
    /// Rows of this site id with another geometry (their cells are not used).
    pub stale: bool,
}

impl Store {
    /// Opens (creating it, and its folder) the store at `path` for reading and writing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: path.to_path_buf(), source })?;
        }
        let s = Store::connect(path)?;
        s.init()?;
        Ok(s)
    }

    /// Opens an existing store for reading; `None` when there is none.
    pub fn open_existing(path: &Path) -> Result<Option<Store>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let s = Store::connect(path)?;
        s.check_version()?;
        Ok(Some(s))
    }

    fn connect(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
            os: None,
        })?;
        let sq = |source| StoreError::sqlite(&conn, path, source);
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(sq)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;").map_err(|e| match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                StoreError::Foreign { path: path.to_path_buf(), reason: "it is not an SQLite database".into() }
            }
            _ => sq(e),
        })?;
        Ok(Store { conn, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sq(&self, source: rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.conn, &self.path, source)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let has_meta: bool = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n > 0)
            .map_err(|e| self.sq(e))?;
        if !has_meta {
            return Ok(None);
        }
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.sq(e))
    }

    /// Refuses a store of a newer format, or a database that is something else.
    fn check_version(&self) -> Result<(), StoreError> {
        let tables: Vec<String> = {
            let mut st =
                self.conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").map_err(|e| self.sq(e))?;
            let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.sq(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.sq(e))?
        };
        if tables.is_empty() {
            return Ok(());
        }
        let Some(v) = self.meta("schema_version")? else {
            return Err(StoreError::Foreign {
                path: self.path.clone(),
                reason: "it has no geepipe store version".into(),
            });
        };
        let found: u32 = v.parse().map_err(|_| StoreError::Foreign {
            path: self.path.clone(),
            reason: format!("its version `{v}` is not a number"),
        })?;
        if found > SCHEMA_VERSION {
            let by = self.meta("written_by")?.unwrap_or_else(|| "?".into());
            return Err(StoreError::Newer { path: self.path.clone(), found, by });
        }
        Ok(())
    }

    fn init(&self) -> Result<(), StoreError> {
        self.check_version()?;
        self.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS sites (id INTEGER PRIMARY KEY, site_id TEXT NOT NULL, geom BLOB NOT NULL,
                    UNIQUE (site_id, geom));
                 CREATE TABLE IF NOT EXISTS exprs (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,
                    layer TEXT NOT NULL, year INTEGER NOT NULL, engine TEXT NOT NULL, catalog TEXT NOT NULL,
                    geepipe TEXT NOT NULL, detail TEXT NOT NULL, created_at REAL NOT NULL);
                 CREATE TABLE IF NOT EXISTS origins (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, operation TEXT,
                    chunk TEXT, request_id TEXT, at REAL NOT NULL, eecu REAL, cells INTEGER NOT NULL DEFAULT 0);
                 CREATE INDEX IF NOT EXISTS origins_operation ON origins (operation);
                 CREATE TABLE IF NOT EXISTS cells (site INTEGER NOT NULL, expr INTEGER NOT NULL,
                    measure TEXT NOT NULL, value, origin INTEGER NOT NULL,
                    PRIMARY KEY (site, expr, measure)) WITHOUT ROWID;
                 CREATE INDEX IF NOT EXISTS cells_expr ON cells (expr);
                 CREATE VIEW IF NOT EXISTS provenance AS
                    SELECT s.site_id, e.layer, e.year, c.measure, o.kind, o.operation, o.chunk, o.at,
                           CASE WHEN o.cells > 0 THEN o.eecu / o.cells END AS eecu_share
                    FROM cells c JOIN sites s ON s.id = c.site JOIN exprs e ON e.id = c.expr
                    JOIN origins o ON o.id = c.origin;",
            )
            .map_err(|e| self.sq(e))?;
        if self.meta("schema_version")?.is_none() {
            self.conn
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('written_by', ?2), ('created_at', ?3)",
                    params![SCHEMA_VERSION.to_string(), env!("CARGO_PKG_VERSION"), now().to_string()],
                )
                .map_err(|e| self.sq(e))?;
        }
        Ok(())
    }

    /// Binds a cell model: registers its expressions (read-only stores only look them up) and says whether
    /// any of their cells is stored.
    pub fn bind(&self, model: &CellModel, register: bool) -> Result<Binding, StoreError> {
        let mut by_expr = HashMap::new();
        let mut exprs = Vec::new();
        for (li, l) in model.layers.iter().enumerate() {
            let mut ids = Vec::new();
            for (si, slot) in l.slots.iter().enumerate() {
                let found: Option<i64> = self
                    .conn
                    .query_row("SELECT id FROM exprs WHERE hash = ?1", [&slot.key[..]], |r| r.get(0))
                    .optional()
                    .map_err(|e| self.sq(e))?;
                let id = match found {
                    Some(id) => id,
                    None if register => {
                        self.conn
                            .execute(
                                "INSERT INTO exprs (hash, layer, year, engine, catalog, geepipe, detail, created_at)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                params![
                                    &slot.key[..],
                                    l.name,
                                    slot.year,
                                    engine_name(model.engine),
                                    crate::catalog::VERSION,
                                    env!("CARGO_PKG_VERSION"),
                                    slot.detail,
                                    now()
                                ],
                            )
                            .map_err(|e| self.sq(e))?;
                        self.conn.last_insert_rowid()
                    }
                    None => -1,
                };
                if id >= 0 {
                    by_expr.insert(id, (li, si));
                }
                ids.push(id);
            }
            exprs.push(ids);
        }
        let measures =
            model.layers.iter().map(|l| l.measures.iter().enumerate().map(|(i, m)| (m.clone(), i)).collect()).collect();
        let mut any_stored = false;
        for id in by_expr.keys() {
            let n: Option<i64> = self
                .conn
                .query_row("SELECT 1 FROM cells WHERE expr = ?1 LIMIT 1", [id], |r| r.get(0))
                .optional()
                .map_err(|e| self.sq(e))?;
            if n.is_some() {
                any_stored = true;
                break;
            }
        }
        Ok(Binding { by_expr, measures, exprs, any_stored })
    }

    /// The stored cells of `site` (with geometry digest `geom`) for the bound model; `with_values` reads
    /// the values too.
    pub fn site_cells(
        &self,
        b: &Binding,
        model: &CellModel,
        site_id: &str,
        geom: &Key,
        with_values: bool,
    ) -> Result<SiteCells, StoreError> {
        let mut out = SiteCells::default();
        let sql = "SELECT s.geom = ?2, c.expr, c.measure, c.value FROM sites s LEFT JOIN cells c ON c.site = s.id \
                   WHERE s.site_id = ?1";
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.sq(e))?;
        let mut rows = st.query(params![site_id, &geom[..]]).map_err(|e| self.sq(e))?;
        while let Some(r) = rows.next().map_err(|e| self.sq(e))? {
            let same: bool = r.get(0).map_err(|e| self.sq(e))?;
            if !same {
                out.stale = true;
                continue;
            }
            let Some(expr) = r.get::<_, Option<i64>>(1).map_err(|e| self.sq(e))? else { continue };
            let Some(&(li, si)) = b.by_expr.get(&expr) else { continue };
            let m = r.get_ref(2).map_err(|e| self.sq(e))?;
            let Some(&mi) = m.as_str().ok().and_then(|m| b.measures[li].get(m)) else { continue };
            let value = if with_values {
                match CellValue::from_sql(r.get_ref(3).map_err(|e| self.sq(e))?) {
                    Some(v) => v,
                    None => continue,
                }
            } else {
                CellValue::Number(None)
            };
            out.values.push((model.index(li, si, mi), value));
        }
        Ok(out)
    }

    /// The flat cells stored for a site (see [`Store::site_cells`]).
    pub fn stored(
        &self,
        b: &Binding,
        model: &CellModel,
        site: &Site,
        geom: &Key,
        have: &mut CellSet,
    ) -> Result<bool, StoreError> {
        let cells = self.site_cells(b, model, &site.id, geom, false)?;
        for (i, _) in cells.values {
            have.insert(i);
        }
        Ok(cells.stale)
    }

    /// Starts writing (one transaction, committed by [`Writer::commit`]). The transaction takes the write lock
    /// at its start (`BEGIN IMMEDIATE`): what it reads (is this origin stored?) stays true until it commits,
    /// whichever process (a run, a `fetch` beside it) writes too.
    pub fn writer(&mut self, replace: bool) -> Result<Writer<'_>, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Sqlite { path: path.clone(), source, os: None })?;
        Ok(Writer::new(tx, path, replace))
    }

    /// Whether values of this operation (a batch task) are stored already.
    pub fn has_origin(&self, operation: &str) -> Result<bool, StoreError> {
        origin_stored(&self.conn, operation).map_err(|e| self.sq(e))
    }

    /// What the store holds for layers of this name that the model's expressions do not match: per layer
    /// name, the cells and the catalog and geepipe versions they were computed with.
    pub fn other_expressions(&self, model: &CellModel, b: &Binding) -> Result<Vec<Mismatch>, StoreError> {
        let mut out = Vec::new();
        for (li, l) in model.layers.iter().enumerate() {
            let ours: Vec<i64> = b.exprs[li].clone();
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT e.id, e.catalog, e.geepipe, e.detail, (SELECT count(*) FROM cells c WHERE c.expr = e.id)
                     FROM exprs e WHERE e.layer = ?1 AND e.engine = ?2 ORDER BY e.id",
                )
                .map_err(|e| self.sq(e))?;
            let rows = st
                .query_map(params![l.name, engine_name(model.engine)], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
                })
                .map_err(|e| self.sq(e))?;
            let mut m = Mismatch { layer: l.name.clone(), ..Mismatch::default() };
            for row in rows {
                let (id, catalog, geepipe, detail, n): (i64, String, String, String, i64) =
                    row.map_err(|e| self.sq(e))?;
                if ours.contains(&id) || n == 0 {
                    continue;
                }
                m.cells += n as u64;
                if !m.catalogs.contains(&catalog) {
                    m.catalogs.push(catalog);
                }
                if !m.versions.contains(&geepipe) {
                    m.versions.push(geepipe);
                }
                if m.example.is_none() {
                    m.example = Some(detail);
                }
            }
            if m.cells > 0 {
                out.push(m);
            }
        }
        Ok(out)
    }
}

/// Stored cells of a layer that the current expressions do not match (never used; explained).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mismatch {
    pub layer: String,
    pub cells: u64,
    pub catalogs: Vec<String>,
    pub versions: Vec<String>,
    /// What one of those expressions covered (JSON text).
    pub example: Option<String>,
}

impl Mismatch {
    /// One line saying why these cells are not used.
    pub fn explain(&self, current: &crate::plan::cells::LayerCells) -> String {
        let mut why = Vec::new();
        let catalog = crate::catalog::VERSION;
        if self.catalogs.iter().any(|c| c != catalog) {
            why.push(format!("catalog {} (now {catalog})", self.catalogs.join(", ")));
        }
        let ours = env!("CARGO_PKG_VERSION");
        if self.versions.iter().any(|v| v != ours) {
            why.push(format!("geepipe {} (now {ours})", self.versions.join(", ")));
        }
        let what = match (&self.example, current.slots.first()) {
            (Some(old), Some(new)) => differing_keys(old, &new.detail),
            _ => Vec::new(),
        };
        let mut line = format!(
            "layer `{}`: {} stored cell(s) were computed with a different expression{} and are not used",
            self.layer,
            self.cells,
            if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) }
        );
        if !what.is_empty() {
            line.push_str(&format!("; it differs in: {}", what.join(", ")));
        }
        line
    }
}

/// The top-level keys whose values differ between two `detail` JSON texts.
fn differing_keys(a: &str, b: &str) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b))
    else {
        return Vec::new();
    };
    let mut keys: Vec<String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).cloned().collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The engine's name as the store records it.
pub fn engine_name(e: crate::pipeline::Engine) -> &'static str {
    match e {
        crate::pipeline::Engine::EarthEngine => "earthengine",
        crate::pipeline::Engine::Local => "local",
    }
}

/// Unix seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Decodes a hex key.
pub fn key_from_hex(s: &str) -> Option<Key> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

/// Whether values of this origin (an export's operation, an interactive request id) are stored, read
/// through `conn` (the store's connection, or a writer's transaction, which sees its own rows).
fn origin_stored(conn: &rusqlite::Connection, operation: &str) -> rusqlite::Result<bool> {
    use rusqlite::OptionalExtension;
    conn.query_row("SELECT 1 FROM origins WHERE operation = ?1 LIMIT 1", [operation], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
}
