//! The interactive result store: one file per finished interactive chunk, beside the journal
//! (`<journal folder>/downloads/<pipeline>/interactive/<chunk>.json`), written as it arrives.
//!
//! A file is a GeoJSON FeatureCollection of the features Earth Engine returned (all pages, in order, geometries
//! dropped by the request) with a `geepipe` member saying which chunk it is (chunk id, planned request id — which
//! hashes the pipeline, the chunk and its sites — and site ids) and what it took (pages, HTTP requests, seconds,
//! bytes received). It is written atomically (temporary file, fsync, rename, fsync of the folder) *before* the
//! journal marks the chunk succeeded, so a kill at any moment leaves either no file or a whole one; a file whose
//! chunk the journal did not mark yet is taken as it is by the next run ([`Store::adopt`]) when its request id
//! matches. `fetch` reads the files back through the GeoJSON parser ([`super::features`]) into the same rows as
//! batch exports.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::eecsv::ExportTable;

/// What a stored file says about itself (its `geepipe` member).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub chunk: String,
    /// The chunk's planned request id (pipeline hash, chunk id and site ids): a stale file never matches.
    pub request_id: String,
    pub sites: Vec<String>,
    pub pages: u32,
    pub requests: u32,
    pub seconds: f64,
    /// Bytes of the responses as received.
    pub response_bytes: u64,
    /// RFC 3339.
    pub computed_at: String,
}

/// A stored file: where (relative to the journal's folder), its size and SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub relative: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The result files of one journal.
#[derive(Debug, Clone)]
pub struct Store {
    /// The journal's folder (stored paths are relative to it).
    root: PathBuf,
    /// `downloads/<pipeline>/interactive`, relative to `root`.
    dir: PathBuf,
}

impl Store {
    /// The store of the journal at `journal` for pipeline `name`.
    pub fn for_journal(journal: &Path, name: &str) -> Store {
        let root = match journal.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Store { root, dir: Path::new("downloads").join(name).join("interactive") }
    }

    /// The folder holding the files.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.dir)
    }

    /// The file of `chunk`, relative to the journal's folder.
    pub fn relative(&self, chunk: &str) -> String {
        self.dir.join(format!("{chunk}.json")).to_string_lossy().into_owned()
    }

    /// The absolute path of a stored file given relative to the journal's folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Writes the result of `meta.chunk` durably (see the module doc) and returns where.
    pub fn write(&self, meta: &Meta, features: &[Value]) -> std::io::Result<Stored> {
        let doc = serde_json::json!({"type": "FeatureCollection", "geepipe": meta, "features": features});
        let bytes = serde_json::to_vec(&doc).map_err(std::io::Error::other)?;
        let relative = self.relative(&meta.chunk);
        let path = self.path(&relative);
        super::atomic::write_atomic(&path, &bytes).map_err(|e| e.source)?;
        Ok(Stored { relative, bytes: bytes.len() as u64, sha256: hex::encode(Sha256::digest(&bytes)) })
    }

    /// Reads a stored file: its rows and what it says about itself. With `sha256`, the file must still be the
    /// one that was stored.
    pub fn read(&self, relative: &str, sha256: Option<&str>) -> Result<(ExportTable, Meta), StoredError> {
        read_file(&self.path(relative), sha256)
    }

    /// A whole file for `chunk` stored by a run that was killed before its journal said so: taken when it is
    /// the result of the same request (same request id and sites).
    pub fn adopt(&self, chunk: &str, request_id: &str, sites: &[String]) -> Option<(Stored, Meta)> {
        let relative = self.relative(chunk);
        let bytes = std::fs::read(self.path(&relative)).ok()?;
        let (_, meta) = self.read(&relative, None).ok()?;
        (meta.chunk == chunk && meta.request_id == request_id && meta.sites == sites).then(|| {
            let stored = Stored { relative, bytes: bytes.len() as u64, sha256: hex::encode(Sha256::digest(&bytes)) };
            (stored, meta)
        })
    }
}

/// Why a stored result cannot be used (it is then computed again, or fetch reports it).
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error("cannot read the stored result {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the stored result {} changed since it was written (SHA-256 {got}, journal {want})", path.display())]
    Changed { path: PathBuf, got: String, want: String },
    #[error("the stored result {} is not JSON: {source}", path.display())]
    NotJson { path: PathBuf, source: serde_json::Error },
    #[error("the stored result {} is not a geepipe result: {source}", path.display())]
    NotResult { path: PathBuf, source: serde_json::Error },
    #[error("{}: feature {source}", path.display())]
    Feature { path: PathBuf, source: super::rows::ParseError },
}

/// Reads the stored file at `path` (see [`Store::read`]).
pub fn read_file(path: &Path, sha256: Option<&str>) -> Result<(ExportTable, Meta), StoredError> {
    let path_buf = || path.to_path_buf();
    let bytes = std::fs::read(path).map_err(|source| StoredError::Read { path: path_buf(), source })?;
    if let Some(want) = sha256 {
        let got = hex::encode(Sha256::digest(&bytes));
        if got != want {
            return Err(StoredError::Changed { path: path_buf(), got, want: want.to_string() });
        }
    }
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|source| StoredError::NotJson { path: path_buf(), source })?;
    let meta: Meta = serde_json::from_value(v.get("geepipe").cloned().unwrap_or(Value::Null))
        .map_err(|source| StoredError::NotResult { path: path_buf(), source })?;
    let features = v.get("features").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let table = super::features::table(features).map_err(|source| StoredError::Feature { path: path_buf(), source })?;
    Ok((table, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(chunk: &str) -> Meta {
        Meta {
            chunk: chunk.into(),
            request_id: format!("gp-x-{chunk}"),
            sites: vec!["a".into(), "b".into()],
            pages: 1,
            requests: 2,
            seconds: 0.5,
            response_bytes: 100,
            computed_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn writes_whole_files_reads_them_back_and_adopts_only_the_same_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::for_journal(&dir.path().join(".geepipe/p.sqlite"), "p");
        let feats = vec![
            json!({"type": "Feature", "geometry": null, "properties": {"site_id": "a", "v": 1.5}}),
            json!({"type": "Feature", "geometry": null, "properties": {"site_id": "b", "v": null}}),
        ];
        let s = store.write(&meta("c00001"), &feats).unwrap();
        assert_eq!(s.relative, "downloads/p/interactive/c00001.json");
        assert!(dir.path().join(".geepipe").join(&s.relative).is_file());
        let (table, m) = store.read(&s.relative, Some(&s.sha256)).unwrap();
        assert_eq!(m, meta("c00001"));
        assert_eq!(table.columns, ["site_id", "v"]);
        assert_eq!(table.rows.len(), 2);
        // No temporary file is left beside it.
        let names: Vec<String> =
            std::fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, ["c00001.json"]);
        assert!(store.adopt("c00001", "gp-x-c00001", &["a".into(), "b".into()]).is_some());
        assert!(store.adopt("c00001", "gp-y-c00001", &["a".into(), "b".into()]).is_none());
        assert!(store.adopt("c00001", "gp-x-c00001", &["a".into()]).is_none());
        assert!(store.adopt("c00002", "gp-x-c00002", &["a".into(), "b".into()]).is_none());
        std::fs::write(store.path(&s.relative), b"{}").unwrap();
        assert!(store.read(&s.relative, Some(&s.sha256)).unwrap_err().to_string().contains("changed since"));
    }
}
