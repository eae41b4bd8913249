//! Downloading exported files: authenticated GETs with bounded parallelism, each file verified against the
//! checksum the service reports, files already downloaded intact skipped, interrupted ones resumed.
//!
//! Layout inside a run's download folder: finished files under `files/`, partial ones under `partial/`
//! (same relative path plus `.part`), so no remote name can collide with a partial file. A partial file is
//! resumed with an HTTP `Range` request; it is renamed into place only after its checksum matches. Remote
//! names only ever choose a path *inside* the folder: [`safe_relative_path`] refuses `..`, absolute names and
//! backslashes, and percent-encodes every other character that is not plainly safe. Symbolic links already
//! in the folder are never followed: a link in the place of a file or of its `.part` is removed (the link, not
//! its target) and a new file created with `O_EXCL`; files are opened with `O_NOFOLLOW`; a linked folder
//! below the download folder is refused.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

pub use super::checksum::Expected;
use super::checksum::{Digest, Hasher};
use crate::net::{classify, Auth, Class, Problem, RetryPolicy, Timeouts, TransportKind};

/// A failed HTTP exchange: the network layer's [`Problem`] (classified by [`crate::net::classify`]).
pub type HttpError = Problem;

/// An HTTP client for Cloud Storage or Drive: a bearer token for `scopes` from the shared [`Auth`], and
/// the shared [`RetryPolicy`] for metadata requests (listings).
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    auth: Auth,
    scopes: &'static [&'static str],
    retry: RetryPolicy,
}

impl Http {
    /// `Err` when the HTTP client cannot be built (its TLS setup).
    pub fn new(auth: Auth, scopes: &'static [&'static str]) -> Result<Http, Problem> {
        let timeouts =
            Timeouts { request: None, connect: Duration::from_secs(20), read: Some(Duration::from_secs(120)) };
        let client = crate::net::http::client(timeouts)?;
        Ok(Http { client, auth, scopes, retry: RetryPolicy::default() })
    }

    /// The retry policy for listings and for downloads cut short (the defaults of [`RetryPolicy`]).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Http {
        self.retry = retry;
        self
    }

    async fn request(&self, url: &Url, range_from: u64) -> Result<reqwest::Response, Problem> {
        let mut req = self.client.get(url.clone());
        if let Some(token) = self.auth.token(self.scopes).await.map_err(|e| Problem::auth(&e))? {
            req = req.bearer_auth(token.expose());
        }
        if range_from > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={range_from}-"));
        }
        let resp = req.send().await.map_err(Problem::from_reqwest)?;
        if resp.status().is_success() || resp.status() == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        Err(Problem::from_response(status, &headers, &body))
    }

    /// GET a JSON document, retrying transient failures.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, Problem> {
        self.retry
            .run(
                || async {
                    let resp = self.request(url, 0).await?;
                    let b = resp.bytes().await.map_err(Problem::from_reqwest)?;
                    serde_json::from_slice(&b).map_err(|e| decode_problem(&e.to_string()))
                },
                |_, p, _| tracing::debug!("retrying {} after: {}", crate::net::redact_url(url.as_str()), p.summary()),
            )
            .await
    }
}

/// An answer that is not the JSON expected (never retried: the same request gets the same answer).
pub fn decode_problem(message: &str) -> Problem {
    Problem { message: crate::net::redact(&format!("unexpected answer: {message}")), ..Problem::default() }
}

async fn hash_file(path: &Path) -> std::io::Result<Digest> {
    let mut f = open_nofollow(path, false).await?;
    let mut h = Hasher::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

/// Why a remote file name cannot be a path inside the download folder.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name has a backslash")]
    Backslash,
    #[error("the name has control characters")]
    Control,
    #[error("the name is absolute (starts with `/`)")]
    Absolute,
    #[error("the name has an empty segment (`//` or a trailing `/`)")]
    EmptySegment,
    #[error("the name has a `{0}` segment")]
    DotSegment(String),
    #[error("a segment of the name is too long for a file name")]
    TooLong,
}

/// Why a listed file cannot be fetched as it is named and described.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteFileError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Checksum(#[from] super::checksum::ChecksumError),
    #[error("{0}")]
    Url(#[from] url::ParseError),
}

/// Maps a remote name to a relative path that stays inside the download folder.
///
/// With `split_slashes` (Cloud Storage object names) `/` separates folders; otherwise (Drive file names)
/// the whole name is one file name. Refused: empty names, absolute names (leading `/`), backslashes,
/// `.`/`..` or empty segments, control characters. Every character outside `A-Za-z0-9._-` is
/// percent-encoded (so the mapping is one-to-one and portable).
pub fn safe_relative_path(name: &str, split_slashes: bool) -> Result<PathBuf, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.contains('\\') {
        return Err(NameError::Backslash);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    if split_slashes && name.starts_with('/') {
        return Err(NameError::Absolute);
    }
    let segments: Vec<&str> = if split_slashes { name.split('/').collect() } else { vec![name] };
    let mut out = PathBuf::new();
    for seg in segments {
        match seg {
            "" => return Err(NameError::EmptySegment),
            "." | ".." => return Err(NameError::DotSegment(seg.to_string())),
            _ => {}
        }
        let mut enc = String::with_capacity(seg.len());
        for b in seg.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                enc.push(b as char);
            } else {
                enc.push_str(&format!("%{b:02X}"));
            }
        }
        if enc.len() > 250 {
            return Err(NameError::TooLong);
        }
        out.push(enc);
    }
    Ok(out)
}

/// One file to download.
#[derive(Debug, Clone)]
pub struct RemoteFile {
    /// How the user knows it: `gs://bucket/object` or `drive:folder/name`.
    pub display: String,
    /// The media URL (`?alt=media`).
    pub url: Url,
    /// Path relative to the download folder's `files/` (from [`safe_relative_path`]).
    pub relative: PathBuf,
    pub expected: Expected,
}

/// A file on disk, verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Downloaded {
    pub display: String,
    /// Absolute local path.
    pub path: PathBuf,
    pub bytes: u64,
    /// Already present and intact: nothing was transferred.
    pub reused: bool,
    /// Bytes of an earlier partial download that were kept (0 when started from scratch).
    pub resumed_from: u64,
}

/// Why a file could not be downloaded.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadError {
    /// Every attempt produced bytes whose checksum differs from what the service reports.
    Corrupt { display: String, got: String, expected: String, attempts: u32 },
    /// The service did not give the file.
    Http { display: String, error: HttpError, attempts: u32 },
    /// The local disk refused (`display` names the remote file, `path` the local one).
    Io { display: String, path: PathBuf, message: String },
}

impl DownloadError {
    /// The remote file concerned, as the user knows it (`gs://bucket/object`, `drive:folder/name`).
    pub fn display_name(&self) -> &str {
        match self {
            DownloadError::Corrupt { display, .. }
            | DownloadError::Http { display, .. }
            | DownloadError::Io { display, .. } => display,
        }
    }
}

impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownloadError::Corrupt { display, got, expected, attempts } => write!(
                f,
                "`{display}` arrived corrupted {attempts} time(s): the downloaded bytes have {got}, the service \
                 reports {expected}"
            ),
            DownloadError::Http { display, error, attempts } => {
                write!(f, "cannot download `{display}` ({attempts} attempt(s)): {}", error.summary())
            }
            DownloadError::Io { display, path, message } => {
                write!(f, "cannot write `{}` (the download of `{display}`): {message}", path.display())
            }
        }
    }
}

/// How downloads run.
#[derive(Debug, Clone, Copy)]
pub struct DownloadOptions {
    /// Files transferred at once (at least 1).
    pub parallelism: usize,
    /// Attempts per file, for corrupted or cut-off transfers (at least 1).
    pub max_attempts: u32,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions { parallelism: 4, max_attempts: 3 }
    }
}

/// Downloads every file into `dir` (`dir/files/<relative>`), at most `parallelism` at once. Returns the
/// files that are now on disk and intact, and the errors, both in input order.
pub async fn download_all(
    http: &Http,
    dir: &Path,
    files: &[RemoteFile],
    opts: DownloadOptions,
) -> (Vec<Downloaded>, Vec<DownloadError>) {
    let mut results: Vec<(usize, Result<Downloaded, DownloadError>)> = futures::stream::iter(files.iter().enumerate())
        .map(|(i, f)| async move { (i, download_one(http, dir, f, opts.max_attempts.max(1)).await) })
        .buffer_unordered(opts.parallelism.max(1))
        .collect()
        .await;
    results.sort_by_key(|r| r.0);
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for (_, r) in results {
        match r {
            Ok(d) => ok.push(d),
            Err(e) => errs.push(e),
        }
    }
    (ok, errs)
}

/// The final path of a remote file inside `dir`.
pub fn final_path(dir: &Path, f: &RemoteFile) -> PathBuf {
    dir.join("files").join(&f.relative)
}

fn partial_path(dir: &Path, f: &RemoteFile) -> PathBuf {
    let mut p = dir.join("partial").join(&f.relative).into_os_string();
    p.push(".part");
    PathBuf::from(p)
}

fn io_err<'a>(f: &'a RemoteFile, path: &'a Path) -> impl Fn(std::io::Error) -> DownloadError + 'a {
    move |e| DownloadError::Io { display: f.display.clone(), path: path.to_path_buf(), message: e.to_string() }
}

/// Opens an existing file for reading or appending without following a symbolic link in its place.
async fn open_nofollow(path: &Path, append: bool) -> std::io::Result<tokio::fs::File> {
    let mut o = tokio::fs::OpenOptions::new();
    if append {
        o.append(true);
    } else {
        o.read(true);
    }
    #[cfg(unix)]
    o.custom_flags(libc::O_NOFOLLOW);
    o.open(path).await
}

/// Whether `path` is a symbolic link (dangling or not).
async fn is_link(path: &Path) -> bool {
    tokio::fs::symlink_metadata(path).await.is_ok_and(|m| m.file_type().is_symlink())
}

/// Removes a symbolic link found where a downloaded file goes (the link itself, never what it points at).
async fn drop_link(f: &RemoteFile, path: &Path) -> Result<(), DownloadError> {
    if is_link(path).await {
        tracing::warn!("{}: `{}` is a symbolic link; removed it (links are never followed)", f.display, path.display());
        tokio::fs::remove_file(path).await.map_err(io_err(f, path))?;
    }
    Ok(())
}

/// Refuses a symbolic link among the folders between the download folder and `path` (`files/…`,
/// `partial/…`): what is written there must stay inside the folder. The download folder itself may be a link.
async fn refuse_linked_folders(f: &RemoteFile, dir: &Path, path: &Path) -> Result<(), DownloadError> {
    let Ok(inside) = path.strip_prefix(dir) else { return Ok(()) };
    let mut at = dir.to_path_buf();
    let parents: Vec<_> = inside.parent().map(|p| p.components().collect()).unwrap_or_default();
    for c in parents {
        at.push(c);
        if is_link(&at).await {
            return Err(DownloadError::Io {
                display: f.display.clone(),
                path: at,
                message: "is a symbolic link; geepipe never follows links inside its download folder (remove it)"
                    .into(),
            });
        }
    }
    Ok(())
}

async fn download_one(http: &Http, dir: &Path, f: &RemoteFile, max_attempts: u32) -> Result<Downloaded, DownloadError> {
    let dest = final_path(dir, f);
    let part = partial_path(dir, f);
    // Defence in depth: `relative` comes from `safe_relative_path`, but never trust a path blindly.
    if f.relative.is_absolute() || f.relative.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        return Err(DownloadError::Io {
            display: f.display.clone(),
            path: dest,
            message: "refusing a path outside the download folder".into(),
        });
    }
    // Symbolic links already in the folder are never followed: a linked folder is refused, a link in the
    // place of the file or of its partial copy is removed (the download then writes a new regular file).
    refuse_linked_folders(f, dir, &dest).await?;
    refuse_linked_folders(f, dir, &part).await?;
    drop_link(f, &dest).await?;
    drop_link(f, &part).await?;
    if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
        let d = hash_file(&dest).await.map_err(io_err(f, &dest))?;
        if f.expected.matches(&d) {
            tracing::debug!("{}: already downloaded intact", f.display);
            return Ok(Downloaded {
                display: f.display.clone(),
                path: dest,
                bytes: d.size,
                reused: true,
                resumed_from: 0,
            });
        }
        tracing::info!("{}: the local copy differs from the remote file; downloading again", f.display);
    }
    for p in [&dest, &part] {
        if let Some(parent) = p.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io_err(f, parent))?;
        }
    }
    let mut last: Option<DownloadError> = None;
    let mut first_resume = 0u64;
    let mut attempt = 0;
    // A resumed transfer that fails its checksum may just be an old partial file: it gets one free retry
    // from scratch before attempts are counted against it.
    let mut free_retry = true;
    while attempt < max_attempts {
        attempt += 1;
        let have = match tokio::fs::symlink_metadata(&part).await {
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        };
        let have = if f.expected.size.is_some_and(|s| have > s) { 0 } else { have };
        match transfer(http, f, &part, have).await {
            Ok((digest, kept)) => {
                if attempt == 1 {
                    first_resume = kept;
                }
                if f.expected.matches(&digest) {
                    tokio::fs::rename(&part, &dest).await.map_err(io_err(f, &dest))?;
                    return Ok(Downloaded {
                        display: f.display.clone(),
                        path: dest,
                        bytes: digest.size,
                        reused: false,
                        resumed_from: first_resume,
                    });
                }
                let (got, expected) = f.expected.describe(&digest);
                tracing::warn!("{}: checksum mismatch (attempt {attempt}): got {got}, expected {expected}", f.display);
                let _ = tokio::fs::remove_file(&part).await;
                if kept > 0 && free_retry {
                    free_retry = false;
                    attempt -= 1;
                    continue;
                }
                last = Some(DownloadError::Corrupt { display: f.display.clone(), got, expected, attempts: attempt });
            }
            Err(TransferError::Io(e)) => {
                return Err(DownloadError::Io { display: f.display.clone(), path: part, message: e })
            }
            Err(TransferError::Http(e)) => {
                tracing::warn!("{}: {} (attempt {attempt})", f.display, e.summary());
                let delay = http.retry.delay(attempt - 1, e.retry_after);
                let transient = classify(&e) == Class::Transient;
                last = Some(DownloadError::Http { display: f.display.clone(), error: e, attempts: attempt });
                if !transient {
                    break;
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
    Err(last.expect("at least one attempt"))
}

enum TransferError {
    Http(HttpError),
    Io(String),
}

/// Fetches the file into `part`, continuing after `have` bytes when the server honours `Range`. Returns the
/// digest of the whole part file and how many earlier bytes were kept.
async fn transfer(http: &Http, f: &RemoteFile, part: &Path, have: u64) -> Result<(Digest, u64), TransferError> {
    let io = |e: std::io::Error| TransferError::Io(e.to_string());
    let mut hasher = Hasher::default();
    if have > 0 && f.expected.size == Some(have) {
        // A complete partial file (the rename was interrupted): just verify it.
        return Ok((hash_file(part).await.map_err(io)?, have));
    }
    let resp = http.request(&f.url, have).await.map_err(TransferError::Http)?;
    let status = resp.status();
    let range_start = resp
        .headers()
        .get(reqwest::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .and_then(|v| v.split('-').next())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if status == reqwest::StatusCode::PARTIAL_CONTENT && range_start != Some(have) {
        // Not the part that was asked for: start over next time.
        let _ = tokio::fs::remove_file(part).await;
        return Err(TransferError::Http(Problem::transport(
            TransportKind::Body,
            &format!("asked for bytes from {have}, the service sent a different range"),
        )));
    }
    let (mut file, kept) = if have > 0 && status == reqwest::StatusCode::PARTIAL_CONTENT {
        // Hash the kept bytes so the final digest covers the whole file.
        let mut fh = open_nofollow(part, false).await.map_err(io)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = fh.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let file = open_nofollow(part, true).await.map_err(io)?;
        (file, have)
    } else if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
        // The partial file is longer than the object: start over.
        let _ = tokio::fs::remove_file(part).await;
        return Err(TransferError::Http(Problem::transport(
            TransportKind::Body,
            "the partial file does not fit the object",
        )));
    } else {
        // A new file, never an existing one (`create_new` does not follow a link put there meanwhile).
        match tokio::fs::remove_file(part).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        (tokio::fs::OpenOptions::new().write(true).create_new(true).open(part).await.map_err(io)?, 0)
    };
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = file.flush().await;
                return Err(TransferError::Http(Problem::from_reqwest(e)));
            }
        };
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    Ok((hasher.finish(), kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused_or_encoded() {
        for (name, why) in [
            ("../evil.csv", "`..` segment"),
            ("a/../../evil", "`..` segment"),
            ("/etc/passwd", "absolute"),
            ("a\\..\\b", "backslash"),
            ("a//b", "empty segment"),
            ("dir/", "empty segment"),
            ("./x", "`.` segment"),
            ("x\u{0}y", "control"),
            ("", "empty"),
        ] {
            let err = safe_relative_path(name, true).unwrap_err().to_string();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        assert_eq!(safe_relative_path("geepipe/lulc/c00001.csv", true).unwrap(), Path::new("geepipe/lulc/c00001.csv"));
        assert_eq!(safe_relative_path("C:x ?#%.csv", true).unwrap(), Path::new("C%3Ax%20%3F%23%25.csv"));
        // Drive names are single file names: a slash is encoded, never a folder.
        assert_eq!(safe_relative_path("a/../b", false).unwrap(), Path::new("a%2F..%2Fb"));
        assert_eq!(safe_relative_path("..", false).unwrap_err().to_string(), "the name has a `..` segment");
        // One-to-one: an encoded-looking name does not collide with the name it looks like.
        assert_ne!(safe_relative_path("a%2Fb", true).unwrap(), safe_relative_path("a/b", false).unwrap());
    }
}
