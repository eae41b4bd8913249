//! The Cloud Storage JSON API, the two calls fetching needs: list objects by prefix (paged) and the media
//! URL of one object. Talks to an emulator when `STORAGE_EMULATOR_HOST` is set, like the official clients.

use serde::Deserialize;
use url::Url;

use super::checksum::ChecksumError;
use super::download::{Expected, Http, HttpError};

/// Where Cloud Storage lives.
pub const DEFAULT_STORAGE_BASE: &str = "https://storage.googleapis.com";
/// Read-only Cloud Storage scope (cloud-platform also works).
pub const READ_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";
pub const SCOPES: &[&str] = &[READ_SCOPE];

/// Why `STORAGE_EMULATOR_HOST` cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageBaseError {
    #[error("STORAGE_EMULATOR_HOST `{raw}` is not a host:port or URL ({source})")]
    NotUrl { raw: String, source: url::ParseError },
    #[error("STORAGE_EMULATOR_HOST `{raw}` names no host")]
    NoHost { raw: String },
}

/// The storage base URL: `STORAGE_EMULATOR_HOST` (`http://host:port` or `host:port`, as the official clients
/// accept it) when set and not empty, else [`DEFAULT_STORAGE_BASE`].
pub fn storage_base(emulator_host: Option<&str>) -> Result<Url, StorageBaseError> {
    let raw = match emulator_host.map(str::trim).filter(|s| !s.is_empty()) {
        None => DEFAULT_STORAGE_BASE.to_string(),
        Some(h) if h.starts_with("http://") || h.starts_with("https://") => h.to_string(),
        Some(h) => format!("http://{h}"),
    };
    let url = Url::parse(&raw).map_err(|source| StorageBaseError::NotUrl { raw: raw.clone(), source })?;
    if url.host_str().is_none() {
        return Err(StorageBaseError::NoHost { raw });
    }
    Ok(url)
}

/// Percent-encodes everything but RFC 3986 unreserved characters (so `/` becomes `%2F`).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The object metadata fetching uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    /// int64 as a string.
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub md5_hash: Option<String>,
    #[serde(default)]
    pub crc32c: Option<String>,
    #[serde(default)]
    pub generation: Option<String>,
}

impl ObjectMeta {
    pub fn size(&self) -> Option<u64> {
        self.size.as_deref().and_then(|s| s.parse().ok())
    }

    /// The checksums to verify a download against.
    pub fn expected(&self) -> Result<Expected, ChecksumError> {
        Expected::from_gcs(self.crc32c.as_deref(), self.md5_hash.as_deref(), self.size())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    #[serde(default)]
    items: Vec<ObjectMeta>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// A Cloud Storage JSON API client.
#[derive(Clone)]
pub struct Gcs {
    http: Http,
    base: Url,
    page_size: Option<u32>,
}

impl Gcs {
    pub fn new(http: Http, base: Url) -> Gcs {
        Gcs { http, base, page_size: None }
    }

    /// Asks for at most `n` objects per listing page (`maxResults`; the service default is 1,000).
    pub fn with_page_size(mut self, n: u32) -> Gcs {
        self.page_size = Some(n);
        self
    }

    fn root(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    /// Every object of `bucket` whose name starts with `prefix`, following `nextPageToken`.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, HttpError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = Url::parse(&format!("{}/storage/v1/b/{}/o", self.root(), encode_segment(bucket)))
                .map_err(|e| super::download::decode_problem(&e.to_string()))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("prefix", prefix);
                q.append_pair("fields", "items(name,size,md5Hash,crc32c,generation),nextPageToken");
                if let Some(n) = self.page_size {
                    q.append_pair("maxResults", &n.to_string());
                }
                if let Some(t) = &token {
                    q.append_pair("pageToken", t);
                }
            }
            let page: ListPage = self.http.get_json(&url).await?;
            out.extend(page.items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// `GET …/o/{object}?alt=media`, pinned to the listed generation when known.
    pub fn media_url(&self, bucket: &str, obj: &ObjectMeta) -> Result<Url, url::ParseError> {
        let mut url = Url::parse(&format!(
            "{}/storage/v1/b/{}/o/{}",
            self.root(),
            encode_segment(bucket),
            encode_segment(&obj.name)
        ))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("alt", "media");
            if let Some(g) = &obj.generation {
                q.append_pair("generation", g);
            }
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_host_like_the_official_clients() {
        assert_eq!(storage_base(None).unwrap().as_str(), "https://storage.googleapis.com/");
        assert_eq!(storage_base(Some("")).unwrap().as_str(), "https://storage.googleapis.com/");
        assert_eq!(storage_base(Some("127.0.0.1:4443")).unwrap().as_str(), "http://127.0.0.1:4443/");
        assert_eq!(storage_base(Some("http://localhost:9000")).unwrap().as_str(), "http://localhost:9000/");
        assert_eq!(storage_base(Some("https://gcs.test")).unwrap().as_str(), "https://gcs.test/");
        assert!(storage_base(Some("http://")).is_err());
    }

    #[test]
    fn object_names_are_one_path_segment() {
        assert_eq!(encode_segment("geepipe/lulc/c1.csv"), "geepipe%2Flulc%2Fc1.csv");
        assert_eq!(encode_segment("a b#?%~"), "a%20b%23%3F%25~");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
