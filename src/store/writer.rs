//! Writing to the results store: one transaction per chunk (or per batch of local sites), with the origin
//! of its values; sites and expression keys are created when first seen and their row ids kept for the
//! transaction.

use std::collections::HashMap;
use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};

use super::{now, CellValue, Origin, StoreError};
use crate::plan::cells::Key;

/// Writes values in one transaction.
pub struct Writer<'s> {
    tx: rusqlite::Transaction<'s>,
    path: PathBuf,
    replace: bool,
    sites: HashMap<(String, Key), i64>,
    exprs: HashMap<Key, i64>,
}

impl<'s> Writer<'s> {
    pub(super) fn new(tx: rusqlite::Transaction<'s>, path: PathBuf, replace: bool) -> Writer<'s> {
        Writer { tx, path, replace, sites: HashMap::new(), exprs: HashMap::new() }
    }

    fn sq(&self, source: rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.tx, &self.path, source)
    }

    /// Records an origin; returns its row id.
    pub fn origin(&mut self, o: &Origin) -> Result<i64, StoreError> {
        self.tx
            .execute(
                "INSERT INTO origins (kind, operation, chunk, request_id, at, eecu) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![o.kind, o.operation, o.chunk, o.request_id, o.at.unwrap_or_else(now), o.eecu],
            )
            .map_err(|e| self.sq(e))?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Whether values of this origin (an export's operation, an interactive request id) are stored.
    pub fn has_origin(&self, operation: &str) -> Result<bool, StoreError> {
        super::origin_stored(&self.tx, operation).map_err(|e| self.sq(e))
    }

    /// The row of a site, created when new.
    pub fn site(&mut self, site_id: &str, geom: &Key) -> Result<i64, StoreError> {
        if let Some(id) = self.sites.get(&(site_id.to_string(), *geom)) {
            return Ok(*id);
        }
        self.tx
            .execute("INSERT OR IGNORE INTO sites (site_id, geom) VALUES (?1, ?2)", params![site_id, &geom[..]])
            .map_err(|e| self.sq(e))?;
        let id: i64 = self
            .tx
            .query_row("SELECT id FROM sites WHERE site_id = ?1 AND geom = ?2", params![site_id, &geom[..]], |r| {
                r.get(0)
            })
            .map_err(|e| self.sq(e))?;
        self.sites.insert((site_id.to_string(), *geom), id);
        Ok(id)
    }

    /// The row of an expression key (created with what is known when new).
    pub fn expr(&mut self, key: &Key, layer: &str, year: i32, engine: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.exprs.get(key) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .tx
            .query_row("SELECT id FROM exprs WHERE hash = ?1", [&key[..]], |r| r.get(0))
            .optional()
            .map_err(|e| self.sq(e))?;
        let id = match found {
            Some(id) => id,
            None => {
                self.tx
                    .execute(
                        "INSERT INTO exprs (hash, layer, year, engine, catalog, geepipe, detail, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, '{}', ?7)",
                        params![
                            &key[..],
                            layer,
                            year,
                            engine,
                            crate::catalog::VERSION,
                            env!("CARGO_PKG_VERSION"),
                            now()
                        ],
                    )
                    .map_err(|e| self.sq(e))?;
                self.tx.last_insert_rowid()
            }
        };
        self.exprs.insert(*key, id);
        Ok(id)
    }

    /// Stores one value (kept as it is when already stored, unless replacing). Returns whether it was written.
    pub fn cell(
        &mut self,
        site: i64,
        expr: i64,
        measure: &str,
        value: &CellValue,
        origin: i64,
    ) -> Result<bool, StoreError> {
        let sql = if self.replace {
            "INSERT OR REPLACE INTO cells (site, expr, measure, value, origin) VALUES (?1, ?2, ?3, ?4, ?5)"
        } else {
            "INSERT OR IGNORE INTO cells (site, expr, measure, value, origin) VALUES (?1, ?2, ?3, ?4, ?5)"
        };
        let mut st = self.tx.prepare_cached(sql).map_err(|e| self.sq(e))?;
        let n = st.execute(params![site, expr, measure, value.to_sql(), origin]).map_err(|e| self.sq(e))?;
        Ok(n > 0)
    }

    /// Sets how many cells an origin wrote.
    pub fn finish_origin(&mut self, origin: i64, cells: u64) -> Result<(), StoreError> {
        self.tx
            .execute("UPDATE origins SET cells = ?2 WHERE id = ?1", params![origin, cells as i64])
            .map(|_| ())
            .map_err(|e| self.sq(e))
    }

    pub fn commit(self) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.tx.commit().map_err(|source| StoreError::Sqlite { path, source, os: None })
    }
}
