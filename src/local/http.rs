//! Rasters over HTTP(S): a Cloud-Optimized GeoTIFF read with range requests (MapBiomas, ESA WorldCover
//! and Planetary Computer publish them), so a run downloads the header and the strips/tiles its sites
//! touch, never the whole file.
//!
//! - The first request asks for the first header page (`Range: bytes=0-65535`); its `Content-Range`
//!   gives the file's length and its `ETag` (when the server sends one) is sent as `If-Match` with every
//!   later request, so a file replaced during a run is an error, not a mix of two files.
//! - Header reads go through the source's page cache ([`super::source::PAGE`] bytes per request);
//!   strip/tile reads ask for exactly the chunk's bytes, once: decoded chunks are kept by the engine's
//!   chunk cache.
//! - A server that ignores `Range` (answers 200 with the whole file) is refused: reading a large raster
//!   whole per tile would be wrong in a different way. Failures go through the one network layer
//!   ([`crate::net`]): what [`crate::net::classify`] calls transient (connection errors, 408, 429, most
//!   5xx) is retried by its [`RetryPolicy`] (4 attempts, full jitter, `Retry-After`); others are errors
//!   naming the status.
//! - URLs are shown and recorded without their query string, which may hold an access token (a SAS
//!   token, a signed URL).
//!
//! The requests are made by the network layer's client (rustls with ring, as everywhere in geepipe) on a
//! small runtime shared by all HTTP sources; the engine's worker threads wait for their own requests.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_RANGE, ETAG, IF_MATCH, RANGE};
use reqwest::StatusCode;
use url::Url;

use super::source::{ByteSource, PageCache, PAGE};
use crate::net::{http, Problem, RetryPolicy, TransportKind};

/// Whether a `local:` path is a URL read over HTTP.
pub fn is_url(path: &str) -> bool {
    let lower = path.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

static RUNTIME: LazyLock<Result<tokio::runtime::Runtime, String>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("geepipe-http")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))
});

/// Tries per range request.
const ATTEMPTS: u32 = 4;

/// Why a raster URL cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("`{shown}` is not a valid URL: {source}")]
    Url { shown: String, source: url::ParseError },
    /// The HTTP client cannot be built (its TLS setup).
    #[error("{}", .0.message)]
    Client(Problem),
    /// The first request failed (after its retries).
    #[error("{0}")]
    Read(#[from] io::Error),
}

/// A raster file behind an HTTP(S) URL.
pub struct HttpSource {
    url: Url,
    shown: String,
    client: reqwest::Client,
    len: u64,
    etag: Option<HeaderValue>,
    pages: PageCache,
    read: AtomicU64,
    requests: AtomicU64,
}

impl HttpSource {
    /// Opens `url`: one request for the first header page, which also gives the length.
    pub fn open(url: &str) -> Result<HttpSource, OpenError> {
        let shown = crate::net::redact_url(url);
        let parsed = Url::parse(url).map_err(|source| OpenError::Url { shown: shown.clone(), source })?;
        let timeouts =
            http::Timeouts { request: None, connect: Duration::from_secs(20), read: Some(Duration::from_secs(120)) };
        let client = http::client(timeouts).map_err(OpenError::Client)?;
        let mut s = HttpSource {
            url: parsed,
            shown,
            client,
            len: 0,
            etag: None,
            pages: PageCache::default(),
            read: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        };
        let (first, total, etag) = s.get(0, PAGE)?;
        s.len = total;
        s.etag = etag;
        let first = Arc::new(first);
        s.pages.get_or_load(0, || Ok(first.to_vec()))?;
        Ok(s)
    }

    /// The URL as shown (no query string).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Bytes `offset .. offset + len` (fewer at the end of the file), the file's total length and ETag.
    fn get(&self, offset: u64, len: u64) -> io::Result<(Vec<u8>, u64, Option<HeaderValue>)> {
        let rt = RUNTIME.as_ref().map_err(|e| io::Error::other(e.clone()))?;
        let policy = RetryPolicy { max_attempts: ATTEMPTS, base: Duration::from_millis(250), ..RetryPolicy::default() };
        rt.block_on(policy.run(
            || self.request(offset, len),
            |_, p, _| tracing::debug!("retrying {} after: {}", self.shown, p.summary()),
        ))
        .map_err(|p| io::Error::other(format!("{}: {}", self.shown, p.summary())))
    }

    async fn request(&self, offset: u64, len: u64) -> Result<(Vec<u8>, u64, Option<HeaderValue>), Problem> {
        let last = offset + len.max(1) - 1;
        let mut req = self.client.get(self.url.clone()).header(RANGE, format!("bytes={offset}-{last}"));
        if let Some(tag) = &self.etag {
            req = req.header(IF_MATCH, tag.clone());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        // Without the URL: it may carry a token in its query string.
        let resp = req.send().await.map_err(|e| Problem::from_reqwest(e.without_url()))?;
        let status = resp.status();
        if status == StatusCode::PRECONDITION_FAILED {
            return Err(fatal("the file changed on the server during the run (its ETag differs)"));
        }
        if status == StatusCode::OK {
            return Err(fatal(
                "the server does not answer range requests (it sent the whole file); the local engine reads \
                 remote rasters by range, as Cloud-Optimized GeoTIFFs are served",
            ));
        }
        if status != StatusCode::PARTIAL_CONTENT {
            let headers = resp.headers().clone();
            let body = resp.bytes().await.unwrap_or_default();
            return Err(Problem::from_response(status.as_u16(), &headers, &body));
        }
        // `Content-Range: bytes first-last/total`.
        let range = resp.headers().get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let parsed = range.strip_prefix("bytes ").and_then(|r| {
            let (span, total) = r.split_once('/')?;
            let (a, b) = span.split_once('-')?;
            Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?, total.parse::<u64>().ok()?))
        });
        let Some((first, end, total)) = parsed else {
            return Err(fatal(&format!("the server answered a range request with `Content-Range: {range}`")));
        };
        if first != offset {
            return Err(fatal(&format!("asked for bytes from {offset}, the server sent them from {first}")));
        }
        let etag = resp.headers().get(ETAG).cloned();
        let body = resp.bytes().await.map_err(|e| Problem::from_reqwest(e.without_url()))?;
        let want = (end + 1).saturating_sub(first);
        if body.len() as u64 != want {
            return Err(Problem::transport(TransportKind::Body, &format!("received {} bytes of {want}", body.len())));
        }
        self.read.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok((body.to_vec(), total, etag))
    }
}

/// A failure retrying cannot fix (no HTTP status: [`crate::net::classify`] calls it fatal).
fn fatal(message: &str) -> Problem {
    Problem { message: message.to_string(), ..Problem::default() }
}

impl ByteSource for HttpSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let (bytes, _, _) = self.get(offset, buf.len() as u64)?;
        if bytes.len() != buf.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{}: short read", self.shown)));
        }
        buf.copy_from_slice(&bytes);
        Ok(())
    }

    fn read_page(&self, index: u64) -> io::Result<Arc<Vec<u8>>> {
        self.pages.get_or_load(index, || {
            let start = index * PAGE;
            let len = PAGE.min(self.len.saturating_sub(start));
            Ok(self.get(start, len)?.0)
        })
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_and_shown_without_their_query() {
        assert!(is_url("https://example.org/a.tif"));
        assert!(is_url("HTTP://example.org/a.tif"));
        assert!(!is_url("data/https.tif"));
        assert_eq!(
            crate::net::redact_url("https://user:pw@host.example/c/lulc_2020.tif?sv=2024&sig=SECRET"),
            "https://host.example/c/lulc_2020.tif"
        );
    }
}
