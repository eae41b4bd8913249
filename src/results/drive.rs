//! The Drive API v3, the calls fetching needs: resolve a folder name to folder ids, list the files in those
//! folders whose names start with a prefix, and the media URL of a file.
//!
//! Earth Engine writes Drive exports into a folder *named* by the export (created at the top of My Drive
//! when missing; several folders can share the name). Drive file names are not unique either: rerunning an
//! export adds a second file with the same name. For each name the newest file (`modifiedTime`, then id) is
//! taken, so the choice is deterministic and picks the latest export.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::checksum::ChecksumError;
use super::download::{Expected, Http, HttpError};
use super::gcs::encode_segment;

/// Where the Drive API lives.
pub const DEFAULT_DRIVE_BASE: &str = "https://www.googleapis.com";
/// The scope fetching from Drive needs.
pub const READ_SCOPE: &str = "https://www.googleapis.com/auth/drive.readonly";
pub const SCOPES: &[&str] = &[READ_SCOPE];
const FOLDER_MIME: &str = "application/vnd.google-apps.folder";

/// A Drive file's metadata.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveFile {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub md5_checksum: Option<String>,
    /// int64 as a string.
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub modified_time: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
}

impl DriveFile {
    pub fn expected(&self) -> Result<Expected, ChecksumError> {
        Expected::from_drive(self.md5_checksum.as_deref(), self.size.as_deref().and_then(|s| s.parse().ok()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileList {
    #[serde(default)]
    files: Vec<DriveFile>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Quotes a string for a Drive query: `'…'` with `\` and `'` escaped.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A Drive API v3 client.
#[derive(Clone)]
pub struct Drive {
    http: Http,
    base: Url,
}

impl Drive {
    pub fn new(http: Http, base: Url) -> Drive {
        Drive { http, base }
    }

    fn files_url(&self) -> String {
        format!("{}/drive/v3/files", self.base.as_str().trim_end_matches('/'))
    }

    async fn list(&self, q: &str) -> Result<Vec<DriveFile>, HttpError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = Url::parse(&self.files_url()).map_err(|e| super::download::decode_problem(&e.to_string()))?;
            {
                let mut p = url.query_pairs_mut();
                p.append_pair("q", q);
                p.append_pair("fields", "nextPageToken,files(id,name,md5Checksum,size,modifiedTime,mimeType)");
                p.append_pair("pageSize", "1000");
                p.append_pair("spaces", "drive");
                p.append_pair("supportsAllDrives", "true");
                p.append_pair("includeItemsFromAllDrives", "true");
                if let Some(t) = &token {
                    p.append_pair("pageToken", t);
                }
            }
            let page: FileList = self.http.get_json(&url).await?;
            out.extend(page.files);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Ids of the (not trashed) folders called `name`, sorted.
    pub async fn folder_ids(&self, name: &str) -> Result<Vec<String>, HttpError> {
        let q = format!("name = {} and mimeType = {} and trashed = false", quote(name), quote(FOLDER_MIME));
        let mut ids: Vec<String> = self.list(&q).await?.into_iter().filter(|f| f.name == name).map(|f| f.id).collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The files in any of `folders` whose names start with `prefix`: for each name the newest one, sorted by
    /// name. (`name contains` is only a coarse server-side filter; the prefix is checked here.)
    pub async fn files_with_prefix(&self, folders: &[String], prefix: &str) -> Result<Vec<DriveFile>, HttpError> {
        let mut newest: BTreeMap<String, DriveFile> = BTreeMap::new();
        for folder in folders {
            let q = format!(
                "{} in parents and name contains {} and trashed = false and mimeType != {}",
                quote(folder),
                quote(prefix),
                quote(FOLDER_MIME)
            );
            for f in self.list(&q).await? {
                if !f.name.starts_with(prefix) || f.mime_type.as_deref() == Some(FOLDER_MIME) {
                    continue;
                }
                let key = |f: &DriveFile| (f.modified_time.clone().unwrap_or_default(), f.id.clone());
                match newest.get(&f.name) {
                    Some(old) if key(old) >= key(&f) => {}
                    _ => {
                        newest.insert(f.name.clone(), f);
                    }
                }
            }
        }
        Ok(newest.into_values().collect())
    }

    /// `GET /drive/v3/files/{id}?alt=media`.
    pub fn media_url(&self, id: &str) -> Result<Url, url::ParseError> {
        let mut url = Url::parse(&format!("{}/{}", self.files_url(), encode_segment(id)))?;
        url.query_pairs_mut().append_pair("alt", "media").append_pair("supportsAllDrives", "true");
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_query_strings_escape_quotes_and_backslashes() {
        assert_eq!(quote("geepipe"), "'geepipe'");
        assert_eq!(quote("it's a\\b"), r"'it\'s a\\b'");
    }
}
