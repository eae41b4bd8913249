//! The fetch step: for every finished chunk, find its export files (Cloud Storage by prefix, or a Drive
//! folder), download them into the run's download folder (verified, resumable), parse them and merge them
//! into the tidy long table's records. Asset and BigQuery exports have no files: fetch reports where the
//! results are. Interactive chunks were stored beside the journal as they arrived ([`super::store`]): their
//! files are read (checked against the SHA-256 the journal recorded) and merged with the batch chunks' rows.
//!
//! Which files belong to a chunk: its target prefix lists them; a name must continue the prefix with `.`
//! (`c00012.csv`) or `-` (`c00012-00001.csv`, a sharded export), or the prefix must end with `/`. So the
//! files of a split chunk's halves (`c00012a.csv`) are never taken for their parent (`c00012`).
//!
//! The table is complete only when every site of the pipeline is accounted for; otherwise [`fetch`] fails
//! with [`FetchError::Incomplete`] naming what is missing, unless [`FetchOptions::partial`] is set, in
//! which case the outcome carries the same list in [`FetchOutcome::missing`].
//!
//! (Over 600 lines: [`fetch`] is one pass — list, download, parse, merge, account for every site — whose
//! steps share the run's bookkeeping of chunks, files and missing sites; the download and parsing rules
//! themselves live in [`super::download`], [`super::eecsv`] and [`super::merge`].)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use url::Url;

use super::download::{self, DownloadError, DownloadOptions, Downloaded, Http, HttpError, RemoteFile, RemoteFileError};
use super::drive::{self, Drive};
use super::eecsv::{self, Format};
use super::gcs::{self, Gcs};
use super::merge::{self, ChunkFile, ExpectedChunk, Missing, SiteProperties};
use super::Record;
use crate::net::Auth;
use crate::pipeline::{Destination, FileFormatName, KindName, Pipeline, SiteLocation};
use crate::plan::Target;

/// A chunk whose export task succeeded, as the journal knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinishedChunk {
    pub chunk_id: String,
    /// The chunk's site ids, in file order.
    pub site_ids: Vec<String>,
    pub target: Target,
    /// Earth Engine operation name.
    pub operation: Option<String>,
    pub attempts: u32,
    pub runtime_secs: Option<f64>,
    pub eecu_secs: Option<f64>,
    /// An interactive chunk's stored result (then `target` is not used).
    pub stored: Option<StoredChunk>,
}

/// Where an interactive chunk's result is and what it took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredChunk {
    pub path: PathBuf,
    /// As the journal names it (relative to the journal's folder).
    pub relative: String,
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
    /// HTTP requests the chunk took (pages and retries).
    pub requests: u32,
}

/// How fetch runs.
#[derive(Clone)]
pub struct FetchOptions {
    /// Where files are downloaded (default `<journal_dir>/downloads/<pipeline name>/`).
    pub download_dir: PathBuf,
    /// Cloud Storage base URL (default from `STORAGE_EMULATOR_HOST`, else `https://storage.googleapis.com`).
    pub storage_base: Url,
    /// Drive API base URL (default `https://www.googleapis.com`).
    pub drive_base: Url,
    /// Files downloaded at once.
    pub parallelism: usize,
    /// Attempts per file when a download is corrupted or cut off.
    pub max_attempts: u32,
    /// How Cloud Storage and Drive calls are authorised (`Auth::None` for emulators).
    pub auth: Auth,
    /// Return what there is even when chunks or sites are missing (listed in the outcome).
    pub partial: bool,
}

impl fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchOptions")
            .field("download_dir", &self.download_dir)
            .field("storage_base", &self.storage_base.as_str())
            .field("drive_base", &self.drive_base.as_str())
            .field("parallelism", &self.parallelism)
            .field("max_attempts", &self.max_attempts)
            .field("auth", &self.auth)
            .field("partial", &self.partial)
            .finish()
    }
}

impl FetchOptions {
    /// Defaults for `pipeline`: download folder under its journal, storage base from
    /// `STORAGE_EMULATOR_HOST`, no tokens (set [`FetchOptions::auth`] for the real services).
    pub fn new(pipeline: &Pipeline) -> Result<FetchOptions, FetchError> {
        let emulator = std::env::var("STORAGE_EMULATOR_HOST").ok();
        Ok(FetchOptions {
            download_dir: default_download_dir(pipeline),
            storage_base: gcs::storage_base(emulator.as_deref()).map_err(|e| FetchError::Setup(e.to_string()))?,
            drive_base: Url::parse(drive::DEFAULT_DRIVE_BASE).expect("valid URL"),
            parallelism: 4,
            max_attempts: 3,
            auth: Auth::None,
            partial: false,
        })
    }
}

/// `<journal_dir>/downloads/<pipeline name>/`.
pub fn default_download_dir(pipeline: &Pipeline) -> PathBuf {
    pipeline.journal_dir.join("downloads").join(&pipeline.name)
}

/// A downloaded file and the chunks it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FetchedFile {
    pub chunk_ids: Vec<String>,
    /// `gs://bucket/object` or `drive:folder/name`.
    pub remote: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// Already on disk and intact: not transferred again.
    pub reused: bool,
}

/// Takes a chunk's listed files: each one that can be downloaded safely goes to `accept`; each refused one,
/// and a chunk with no file at all, is recorded as missing.
fn take_files<E: std::fmt::Display>(
    c: &FinishedChunk,
    location: String,
    candidates: impl Iterator<Item = (String, Result<RemoteFile, E>)>,
    missing: &mut Vec<Missing>,
    mut accept: impl FnMut(RemoteFile),
) {
    let mut found = false;
    for (display, prepared) in candidates {
        found = true;
        match prepared {
            Ok(f) => accept(f),
            Err(reason) => missing.push(Missing::File {
                chunk_id: c.chunk_id.clone(),
                file: display,
                reason: format!("refusing to download it: {reason}"),
            }),
        }
    }
    if !found {
        missing.push(Missing::NoFiles { chunk_id: c.chunk_id.clone(), location });
    }
}

/// Results that live outside files.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "to", rename_all = "lowercase")]
pub enum Elsewhere {
    Asset { chunk_id: String, name: String },
    Bigquery { table: String },
}

impl fmt::Display for Elsewhere {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Elsewhere::Asset { chunk_id, name } => write!(f, "chunk {chunk_id}: Earth Engine asset {name}"),
            Elsewhere::Bigquery { table } => write!(f, "BigQuery table {table}"),
        }
    }
}

/// What fetch produced: the table's rows and everything the report and the manifest need.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FetchOutcome {
    /// Rows of the tidy long table (empty for non-table pipelines and asset/BigQuery exports).
    pub records: Vec<Record>,
    /// Kept properties of every site with records, in record order.
    pub sites: Vec<SiteProperties>,
    pub files: Vec<FetchedFile>,
    /// What keeps the table from being complete (only non-empty with `partial`).
    pub missing: Vec<Missing>,
    pub notes: Vec<String>,
    pub elsewhere: Vec<Elsewhere>,
    /// Files transferred by this call.
    pub downloaded: usize,
    /// Files already on disk intact.
    pub reused: usize,
    pub download_dir: PathBuf,
    /// Interactive chunks read from the result store.
    pub stored: usize,
}

/// Why fetch stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchError {
    /// The options or the pipeline cannot be fetched from (bad URL, unsupported format).
    Setup(String),
    /// The access token lacks an OAuth scope.
    MissingScope { service: &'static str, scope: &'static str, message: String },
    /// A listing failed (bucket missing, access denied, service unreachable).
    Listing { location: String, error: HttpError },
    /// Some chunks or sites are not accounted for (and `partial` is off).
    Incomplete { missing: Vec<Missing>, downloaded: usize, reused: usize },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Setup(m) => f.write_str(m),
            FetchError::MissingScope { service, scope, message } => write!(
                f,
                "{service} refused the access token because it lacks the scope {scope} ({message}).\n\
                 help: sign in again with that scope, e.g. `gcloud auth application-default login \
                 --scopes={scope},https://www.googleapis.com/auth/cloud-platform,\
                 https://www.googleapis.com/auth/earthengine`; a service account needs the scope requested \
                 and, for Drive, the export folder shared with its e-mail address"
            ),
            FetchError::Listing { location, error } => write!(f, "cannot list {location}: {}", error.summary()),
            FetchError::Incomplete { missing, .. } => {
                writeln!(f, "the results are incomplete, so no table was written:")?;
                for m in missing {
                    writeln!(f, "  - {m}")?;
                }
                write!(
                    f,
                    "help: rerun `geepipe run` for the missing chunks, or pass `--partial` to write what there is"
                )
            }
        }
    }
}

impl std::error::Error for FetchError {}

fn scope_error(service: &'static str, scope: &'static str, e: &HttpError) -> Option<FetchError> {
    match e {
        e if e.insufficient_scope => Some(FetchError::MissingScope { service, scope, message: e.message.clone() }),
        _ => None,
    }
}

/// Whether `name` is one of the files of a chunk whose target prefix is `prefix`.
pub fn belongs_to_prefix(name: &str, prefix: &str) -> bool {
    match name.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || prefix.is_empty() || rest.starts_with('.') || rest.starts_with('-'),
        None => false,
    }
}

/// Length in bytes of the longest common prefix of `a` and `b` (on a character boundary).
fn common_prefix_len(a: &str, b: &str) -> usize {
    a.char_indices().zip(b.chars()).find(|((_, x), y)| x != y).map(|((i, _), _)| i).unwrap_or(a.len().min(b.len()))
}

/// One file to fetch and the chunks whose prefix it matched.
struct Planned {
    file: RemoteFile,
    chunks: Vec<String>,
}

/// Downloaded export files, before they are read.
#[derive(Debug, Default)]
pub struct Downloads {
    /// Everything but the records and sites (filled by whoever reads the files).
    pub outcome: FetchOutcome,
    /// Each downloaded file with the chunks it belongs to.
    pub done: Vec<(Vec<String>, Downloaded)>,
    /// What is missing so far (chunks without files, files that could not be downloaded).
    pub missing: Vec<Missing>,
    /// Chunks that had at least one file.
    pub chunks_with_files: BTreeSet<String>,
    /// Whether a file was listed for any chunk.
    pub planned_any: bool,
}

/// Lists and downloads the export files of `chunks` (verified, resumable), without reading them.
pub async fn download(
    pipeline: &Pipeline,
    chunks: &[FinishedChunk],
    opts: &FetchOptions,
) -> Result<Downloads, FetchError> {
    let table_kind = pipeline.kind == KindName::Zonal;
    // Interactive chunks' results are stored beside the journal: nothing to list or download for them.
    let chunks: Vec<&FinishedChunk> = chunks.iter().filter(|c| c.stored.is_none()).collect();
    let exported = chunks.iter().any(|c| matches!(c.target, Target::Gcs { .. } | Target::Drive { .. }));
    if table_kind && exported && !matches!(pipeline.export.format, FileFormatName::Csv | FileFormatName::Geojson) {
        return Err(FetchError::Setup(format!(
            "`geepipe fetch` merges CSV and GeoJSON exports; this pipeline exports `{}`\n\
             help: set `export.format: csv` (or `geojson`) and run again",
            format!("{:?}", pipeline.export.format).to_lowercase()
        )));
    }
    let mut out = FetchOutcome { download_dir: opts.download_dir.clone(), ..FetchOutcome::default() };
    let mut missing: Vec<Missing> = Vec::new();
    let mut planned: Vec<Planned> = Vec::new();
    let mut by_relative: HashMap<PathBuf, usize> = HashMap::new();
    let mut chunks_with_files: BTreeSet<String> = BTreeSet::new();
    let mut add = |planned: &mut Vec<Planned>, file: RemoteFile, chunk: &str| {
        if let Some(&i) = by_relative.get(&file.relative) {
            if !planned[i].chunks.iter().any(|c| c == chunk) {
                planned[i].chunks.push(chunk.to_string());
            }
        } else {
            by_relative.insert(file.relative.clone(), planned.len());
            planned.push(Planned { file, chunks: vec![chunk.to_string()] });
        }
    };

    let gcs_http = Http::new(opts.auth.clone(), gcs::SCOPES).map_err(|p| FetchError::Setup(p.message))?;
    let drive_http = Http::new(opts.auth.clone(), drive::SCOPES).map_err(|p| FetchError::Setup(p.message))?;
    let gcs_client = Gcs::new(gcs_http.clone(), opts.storage_base.clone());
    let drive_client = Drive::new(drive_http.clone(), opts.drive_base.clone());

    // One listing per bucket (and per Drive folder) under the chunks' common prefix, not one per chunk:
    // a run of 800 chunks costs a few pages, not 800 requests.
    let mut gcs_prefixes: BTreeMap<&str, String> = BTreeMap::new();
    let mut drive_prefixes: BTreeMap<&str, String> = BTreeMap::new();
    for c in &chunks {
        let (map, key, prefix) = match &c.target {
            Target::Gcs { bucket, prefix } => (&mut gcs_prefixes, bucket.as_str(), prefix),
            Target::Drive { folder, prefix } => (&mut drive_prefixes, folder.as_str(), prefix),
            _ => continue,
        };
        let common = map.entry(key).or_insert_with(|| prefix.clone());
        let n = common_prefix_len(common, prefix);
        common.truncate(n);
    }
    let mut gcs_listings: BTreeMap<&str, Vec<gcs::ObjectMeta>> = BTreeMap::new();
    for (bucket, prefix) in &gcs_prefixes {
        let objects = gcs_client.list(bucket, prefix).await.map_err(|e| {
            scope_error("Cloud Storage", gcs::READ_SCOPE, &e)
                .unwrap_or(FetchError::Listing { location: format!("gs://{bucket}/{prefix}"), error: e })
        })?;
        gcs_listings.insert(bucket, objects);
    }
    // Folder name → (whether a folder of that name exists, files under the common prefix).
    let mut drive_listings: BTreeMap<&str, (bool, Vec<drive::DriveFile>)> = BTreeMap::new();
    for (folder, prefix) in &drive_prefixes {
        let ids = drive_client.folder_ids(folder).await.map_err(|e| {
            scope_error("Google Drive", drive::READ_SCOPE, &e)
                .unwrap_or(FetchError::Listing { location: format!("Drive folder `{folder}`"), error: e })
        })?;
        let files = if ids.is_empty() {
            Vec::new()
        } else {
            drive_client.files_with_prefix(&ids, prefix).await.map_err(|e| {
                scope_error("Google Drive", drive::READ_SCOPE, &e).unwrap_or(FetchError::Listing {
                    location: format!("Drive folder `{folder}`, files named `{prefix}…`"),
                    error: e,
                })
            })?
        };
        drive_listings.insert(folder, (!ids.is_empty(), files));
    }

    for c in &chunks {
        match &c.target {
            // A chunk without a destination was computed interactively (merged from the result store).
            Target::None => {}
            Target::Asset { name } => {
                out.elsewhere.push(Elsewhere::Asset { chunk_id: c.chunk_id.clone(), name: name.clone() });
            }
            Target::Bigquery { table } => {
                let e = Elsewhere::Bigquery { table: table.clone() };
                if !out.elsewhere.contains(&e) {
                    out.elsewhere.push(e);
                }
            }
            Target::Gcs { bucket, prefix } => {
                let candidates =
                    gcs_listings[bucket.as_str()].iter().filter(|o| belongs_to_prefix(&o.name, prefix)).map(|obj| {
                        let display = format!("gs://{bucket}/{}", obj.name);
                        let prepared = safe_relative_path_in(&["gcs", bucket], &obj.name, true).and_then(|relative| {
                            Ok(RemoteFile {
                                display: display.clone(),
                                url: gcs_client.media_url(bucket, obj)?,
                                relative,
                                expected: obj.expected()?,
                            })
                        });
                        (display, prepared)
                    });
                take_files(c, format!("gs://{bucket}/{prefix}"), candidates, &mut missing, |f| {
                    chunks_with_files.insert(c.chunk_id.clone());
                    add(&mut planned, f, &c.chunk_id);
                });
            }
            Target::Drive { folder, prefix } => {
                let location = format!("Drive folder `{folder}`, files named `{prefix}…`");
                let (exists, files) = &drive_listings[folder.as_str()];
                if !exists {
                    missing.push(Missing::NoFiles {
                        chunk_id: c.chunk_id.clone(),
                        location: format!("{location} (no Drive folder has that name)"),
                    });
                    continue;
                }
                let candidates = files.iter().filter(|f| belongs_to_prefix(&f.name, prefix)).map(|f| {
                    let display = format!("drive:{folder}/{}", f.name);
                    let prepared = safe_relative_path_in(&["drive", folder], &f.name, false).and_then(|relative| {
                        Ok(RemoteFile {
                            display: display.clone(),
                            url: drive_client.media_url(&f.id)?,
                            relative,
                            expected: f.expected()?,
                        })
                    });
                    (display, prepared)
                });
                take_files(c, location, candidates, &mut missing, |f| {
                    chunks_with_files.insert(c.chunk_id.clone());
                    add(&mut planned, f, &c.chunk_id);
                });
            }
        }
    }

    // Download, Cloud Storage and Drive files each with their own token scope.
    let dl_opts = DownloadOptions { parallelism: opts.parallelism.max(1), max_attempts: opts.max_attempts.max(1) };
    let (gcs_files, drive_files): (Vec<&Planned>, Vec<&Planned>) =
        planned.iter().partition(|p| p.file.display.starts_with("gs://"));
    let mut done: Vec<(Vec<String>, Downloaded)> = Vec::new();
    for (http, group, service, scope) in [
        (&gcs_http, gcs_files, "Cloud Storage", gcs::READ_SCOPE),
        (&drive_http, drive_files, "Google Drive", drive::READ_SCOPE),
    ] {
        if group.is_empty() {
            continue;
        }
        let files: Vec<RemoteFile> = group.iter().map(|p| p.file.clone()).collect();
        let (ok, errs) = download::download_all(http, &opts.download_dir, &files, dl_opts).await;
        for e in &errs {
            if let DownloadError::Http { error, .. } = e {
                if let Some(se) = scope_error(service, scope, error) {
                    return Err(se);
                }
            }
        }
        let chunks_of: HashMap<&str, &Vec<String>> =
            group.iter().map(|p| (p.file.display.as_str(), &p.chunks)).collect();
        for e in errs {
            let display = e.display_name().to_string();
            // Every downloaded file belongs to at least one chunk (it was listed for it).
            for chunk_id in chunks_of.get(display.as_str()).map(|v| v.to_vec()).unwrap_or_default() {
                missing.push(Missing::File { chunk_id, file: display.clone(), reason: e.to_string() });
            }
        }
        for d in ok {
            let ids = chunks_of.get(d.display.as_str()).map(|v| v.to_vec()).unwrap_or_default();
            done.push((ids, d));
        }
    }
    for (chunk_ids, d) in &done {
        if d.reused {
            out.reused += 1;
        } else {
            out.downloaded += 1;
        }
        out.files.push(FetchedFile {
            chunk_ids: chunk_ids.clone(),
            remote: d.display.clone(),
            path: d.path.clone(),
            bytes: d.bytes,
            reused: d.reused,
        });
    }
    Ok(Downloads { planned_any: !planned.is_empty(), outcome: out, done, missing, chunks_with_files })
}

/// Fetches and merges the exports of `chunks` (see the module doc), with the stored results of interactive
/// chunks.
pub async fn fetch(
    pipeline: &Pipeline,
    chunks: &[FinishedChunk],
    opts: &FetchOptions,
) -> Result<FetchOutcome, FetchError> {
    let table_kind = pipeline.kind == KindName::Zonal;
    let interactive: Vec<&FinishedChunk> = chunks.iter().filter(|c| c.stored.is_some()).collect();
    let Downloads { outcome: mut out, done, mut missing, mut chunks_with_files, planned_any } =
        download(pipeline, chunks, opts).await?;
    // Interactive chunks: their stored results, read back (and checked) from beside the journal.
    let mut chunk_files: Vec<ChunkFile> = Vec::new();
    for c in &interactive {
        let Some(s) = &c.stored else { continue };
        match super::store::read_file(&s.path, s.sha256.as_deref()) {
            Ok((table, _)) => {
                out.stored += 1;
                chunks_with_files.insert(c.chunk_id.clone());
                chunk_files.push(ChunkFile { chunk_id: c.chunk_id.clone(), file: s.relative.clone(), table });
                out.files.push(FetchedFile {
                    chunk_ids: vec![c.chunk_id.clone()],
                    remote: s.relative.clone(),
                    path: s.path.clone(),
                    bytes: s.bytes.unwrap_or(0),
                    reused: true,
                });
            }
            Err(reason) => missing.push(Missing::File {
                chunk_id: c.chunk_id.clone(),
                file: s.relative.clone(),
                reason: format!("{reason}; rerun `geepipe run` to compute it again"),
            }),
        }
    }

    // Asset and BigQuery results are not merged here; a file destination with no finished chunk still is
    // (then every site is reported as not finished), and so is a run without destination (interactive).
    let file_destination =
        matches!(pipeline.export.destination, Destination::Gcs { .. } | Destination::Drive { .. } | Destination::None);
    if table_kind && out.elsewhere.is_empty() && (file_destination || planned_any || !interactive.is_empty()) {
        for (chunk_ids, d) in &done {
            let Some(format) = Format::from_name(&d.display) else {
                out.notes.push(format!("{}: not a CSV or GeoJSON file; downloaded but not merged", d.display));
                continue;
            };
            let parsed = match tokio::fs::read(&d.path).await {
                Ok(bytes) => eecsv::parse(format, &bytes).map_err(|e| e.to_string()),
                Err(e) => Err(format!("cannot read the downloaded copy {}: {e}", d.path.display())),
            };
            match parsed {
                Ok(table) => {
                    for chunk_id in chunk_ids {
                        chunk_files.push(ChunkFile {
                            chunk_id: chunk_id.clone(),
                            file: d.display.clone(),
                            table: table.clone(),
                        });
                    }
                }
                Err(reason) => {
                    for chunk_id in chunk_ids {
                        missing.push(Missing::File {
                            chunk_id: chunk_id.clone(),
                            file: d.display.clone(),
                            reason: reason.clone(),
                        });
                    }
                }
            }
        }
        // Only chunks that had files are merged; the others are already reported as having none.
        let expected: Vec<ExpectedChunk> = chunks
            .iter()
            .filter(|c| chunks_with_files.contains(&c.chunk_id))
            .map(|c| ExpectedChunk { chunk_id: c.chunk_id.clone(), site_ids: c.site_ids.clone() })
            .collect();
        let (first_years, all_sites) = site_file_facts(pipeline, &mut out.notes);
        let merged = merge::merge(pipeline, &expected, &chunk_files, &first_years);
        out.records = merged.records;
        out.sites = merged.sites;
        out.notes.extend(merged.notes);
        // A chunk whose file failed is already reported; its sites without rows would only repeat that.
        let failed: BTreeSet<String> = missing
            .iter()
            .filter(|m| matches!(m, Missing::File { .. }))
            .filter_map(|m| m.chunk_id().map(str::to_string))
            .collect();
        missing.extend(
            merged
                .missing
                .into_iter()
                .filter(|m| !(matches!(m, Missing::Sites { chunk_id, .. } if failed.contains(chunk_id)))),
        );
        if let Some(all) = all_sites {
            let covered: BTreeSet<&str> = chunks.iter().flat_map(|c| c.site_ids.iter().map(String::as_str)).collect();
            let not_finished: Vec<String> = all.into_iter().filter(|s| !covered.contains(s.as_str())).collect();
            if !not_finished.is_empty() {
                missing.push(Missing::NotFinished { sites: not_finished });
            }
        }
    }
    if !missing.is_empty() && !opts.partial {
        return Err(FetchError::Incomplete { missing, downloaded: out.downloaded, reused: out.reused });
    }
    out.missing = missing;
    Ok(out)
}

/// `prefix…/name` as a safe relative path (see [`download::safe_relative_path`]).
fn safe_relative_path_in(prefix: &[&str], name: &str, split_slashes: bool) -> Result<PathBuf, RemoteFileError> {
    let mut p = PathBuf::new();
    for part in prefix {
        p.push(download::safe_relative_path(part, false)?);
    }
    Ok(p.join(download::safe_relative_path(name, split_slashes)?))
}

/// First years per site and every site id, from the site file when the sites come from a file.
fn site_file_facts(pipeline: &Pipeline, notes: &mut Vec<String>) -> (HashMap<String, i32>, Option<Vec<String>>) {
    if !matches!(pipeline.sites.location, SiteLocation::File(_)) {
        return (HashMap::new(), None);
    }
    match crate::sites::read_all(&pipeline.sites) {
        Ok(sites) => {
            let years = sites.iter().filter_map(|s| s.first_year(&pipeline.sites).map(|y| (s.id.clone(), y))).collect();
            (years, Some(sites.into_iter().map(|s| s.id).collect()))
        }
        Err(diags) => {
            let msg = diags.first().map(|d| d.message.clone()).unwrap_or_default();
            notes.push(format!(
                "the site file could not be read ({msg}); first years come from the export rows and sites in no \
                 finished chunk are not listed"
            ));
            (HashMap::new(), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_takes_only_the_files_that_continue_its_prefix() {
        assert!(belongs_to_prefix("geepipe/t/c00012.csv", "geepipe/t/c00012"));
        assert!(belongs_to_prefix("geepipe/t/c00012-00001-of-00002.csv", "geepipe/t/c00012"));
        assert!(!belongs_to_prefix("geepipe/t/c00012a.csv", "geepipe/t/c00012"));
        assert!(!belongs_to_prefix("geepipe/t/c000121.csv", "geepipe/t/c00012"));
        assert!(!belongs_to_prefix("other/c00012.csv", "geepipe/t/c00012"));
        assert!(belongs_to_prefix("geepipe/t/c00012/part.csv", "geepipe/t/c00012/"));
    }

    #[test]
    fn common_prefixes_respect_character_boundaries() {
        assert_eq!(common_prefix_len("geepipe/t/c00012", "geepipe/t/c00013"), 15);
        assert_eq!(common_prefix_len("abc", "ab"), 2);
        assert_eq!(common_prefix_len("ab", "abc"), 2);
        assert_eq!(common_prefix_len("xé1", "xé2"), 3);
        assert_eq!(common_prefix_len("é", "è"), 0);
        assert_eq!(common_prefix_len("", "a"), 0);
    }
}
