//! Fetching from Google Drive against a small fake Drive API v3 (axum on 127.0.0.1; no Drive emulator
//! exists): folder lookup by name, `files.list` by parent and name with paging, `alt=media` downloads,
//! md5 verification, the newest of same-named files, and a clear message for a token without the scope.

mod common;
mod support_gcs;

use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use md5::Digest as _;
use serde_json::{json, Value};

use geepipe::net::{Auth, Secret, TokenFuture, TokenSource};
use geepipe::pipeline::Pipeline;
use geepipe::plan::Target;
use geepipe::results::fetch::{fetch, FetchError, FetchOptions, FinishedChunk};
use geepipe::results::merge::Missing;
use support_gcs::truth::{self, DictStyle, SiteTruth};

const TOKEN: &str = "drive-test-token";
const FOLDER_MIME: &str = "application/vnd.google-apps.folder";

#[derive(Clone)]
struct FakeFile {
    id: String,
    name: String,
    parent: String,
    mime: String,
    bytes: Vec<u8>,
    /// What the fake reports as `md5Checksum` (normally the true one).
    md5: String,
    modified: String,
}

#[derive(Default)]
struct FakeDrive {
    files: Mutex<Vec<FakeFile>>,
    queries: Mutex<Vec<String>>,
    downloads: Mutex<Vec<String>>,
    insufficient_scope: Mutex<bool>,
}

impl FakeDrive {
    fn folder(&self, id: &str, name: &str) {
        self.files.lock().unwrap().push(FakeFile {
            id: id.into(),
            name: name.into(),
            parent: "root".into(),
            mime: FOLDER_MIME.into(),
            bytes: Vec::new(),
            md5: String::new(),
            modified: "2026-01-01T00:00:00.000Z".into(),
        });
    }
    fn file(&self, id: &str, parent: &str, name: &str, bytes: &[u8], modified: &str) {
        self.files.lock().unwrap().push(FakeFile {
            id: id.into(),
            name: name.into(),
            parent: parent.into(),
            mime: "text/csv".into(),
            bytes: bytes.to_vec(),
            md5: hex::encode(md5::Md5::digest(bytes)),
            modified: modified.into(),
        });
    }
}

/// The quoted string after `marker` in a Drive query (`\'` and `\\` unescaped).
fn quoted_after(q: &str, marker: &str) -> Option<String> {
    let rest = &q[q.find(marker)? + marker.len()..];
    let rest = rest.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '\'' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

fn authorized(headers: &HeaderMap, st: &FakeDrive) -> Result<(), Response> {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return Err(
            (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": 401, "message": "no token"}}))).into_response()
        );
    }
    if *st.insufficient_scope.lock().unwrap() {
        let body = json!({"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
            "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}],
            "status": "PERMISSION_DENIED",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                         "domain": "googleapis.com", "metadata": {"service": "drive.googleapis.com"}}]}});
        return Err((
            StatusCode::FORBIDDEN,
            [("www-authenticate", "Bearer realm=\"https://accounts.google.com/\", error=\"insufficient_scope\"")],
            Json(body),
        )
            .into_response());
    }
    Ok(())
}

/// `files.list`: a folder lookup (`name = … and mimeType = folder`) or a listing (`'id' in parents and
/// name contains …`), two files per page.
async fn list(
    State(st): State<Arc<FakeDrive>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = authorized(&headers, &st) {
        return r;
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let q = get("q").unwrap_or_default();
    st.queries.lock().unwrap().push(q.clone());
    let files = st.files.lock().unwrap().clone();
    let mut hits: Vec<FakeFile> = if q.contains(&format!("mimeType = '{FOLDER_MIME}'")) {
        let name = quoted_after(&q, "name = ").unwrap();
        files.into_iter().filter(|f| f.mime == FOLDER_MIME && f.name == name).collect()
    } else {
        let parent = quoted_after(&q, "").unwrap();
        assert!(q.contains(&format!("'{parent}' in parents")), "{q}");
        let part = quoted_after(&q, "name contains ").unwrap();
        files.into_iter().filter(|f| f.parent == parent && f.name.contains(&part) && f.mime != FOLDER_MIME).collect()
    };
    hits.sort_by(|a, b| a.id.cmp(&b.id));
    let start: usize = get("pageToken").map(|t| t.parse().unwrap()).unwrap_or(0);
    let page: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(2)
        .map(|f| {
            json!({"id": f.id, "name": f.name, "mimeType": f.mime, "modifiedTime": f.modified,
                   "md5Checksum": if f.mime == FOLDER_MIME { Value::Null } else { json!(f.md5) },
                   "size": if f.mime == FOLDER_MIME { Value::Null } else { json!(f.bytes.len().to_string()) }})
        })
        .collect();
    let mut body = json!({"kind": "drive#fileList", "files": page});
    if start + 2 < hits.len() {
        body["nextPageToken"] = json!((start + 2).to_string());
    }
    Json(body).into_response()
}

async fn media(
    State(st): State<Arc<FakeDrive>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = authorized(&headers, &st) {
        return r;
    }
    assert!(params.iter().any(|(k, v)| k == "alt" && v == "media"));
    st.downloads.lock().unwrap().push(id.clone());
    match st.files.lock().unwrap().iter().find(|f| f.id == id) {
        Some(f) => f.bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_drive() -> (String, Arc<FakeDrive>) {
    support_gcs::install_crypto();
    let st = Arc::new(FakeDrive::default());
    let app = axum::Router::new()
        .route("/drive/v3/files", axum::routing::get(list))
        .route("/drive/v3/files/{id}", axum::routing::get(media))
        .with_state(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, st)
}

/// A token source that records the scopes it was asked for.
#[derive(Default)]
struct FakeTokens {
    scopes: Mutex<Vec<String>>,
}

impl TokenSource for FakeTokens {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(async move {
            self.scopes.lock().unwrap().extend(scopes.iter().map(|s| s.to_string()));
            Ok(Secret::new(TOKEN))
        })
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    pipeline: Pipeline,
    sites: Vec<SiteTruth>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let yaml = truth::PIPELINE
        .replace("FORMAT", "csv")
        .replace("to: gcs\n  bucket: bkt\n  prefix: geepipe/t/", "to: drive\n  folder: geepipe-exports");
    support_gcs::write_files(dir.path(), &[("p.yaml", &yaml), ("sites.geojson", &truth::site_file())]);
    let (pipeline, _) = geepipe::pipeline::load(&dir.path().join("p.yaml"), &Default::default()).expect("valid");
    Fixture { _dir: dir, pipeline, sites: truth::sites() }
}

impl Fixture {
    fn pick(&self, ids: &[&str]) -> Vec<&SiteTruth> {
        ids.iter().map(|i| self.sites.iter().find(|s| s.id == *i).unwrap()).collect()
    }
    fn opts(&self, base: &str, tokens: Arc<FakeTokens>) -> FetchOptions {
        let mut o = FetchOptions::new(&self.pipeline).unwrap();
        o.drive_base = url::Url::parse(base).unwrap();
        o.auth = Auth::Source(tokens);
        o
    }
}

fn chunk(id: &str, sites: &[&str]) -> FinishedChunk {
    FinishedChunk {
        chunk_id: id.into(),
        site_ids: sites.iter().map(|s| s.to_string()).collect(),
        target: Target::Drive { folder: "geepipe-exports".into(), prefix: format!("t_{id}") },
        operation: None,
        attempts: 1,
        runtime_secs: None,
        eecu_secs: None,
        stored: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_exports_are_found_by_folder_name_and_prefix_and_merged() {
    let (url, drive) = start_drive().await;
    let fx = fixture();
    let p = &fx.pipeline;
    // Two folders share the name (Earth Engine creates one when it finds none; users make more).
    drive.folder("F1", "geepipe-exports");
    drive.folder("F2", "geepipe-exports");
    drive.folder("F3", "other");
    let first = truth::csv(p, &fx.pick(&["a", "b"]), DictStyle::JavaMap);
    let second = truth::csv(p, &fx.pick(&["c", "d", "e"]), DictStyle::Json);
    // An older export of the same name with other values: the newest file wins.
    drive.file(
        "x0",
        "F1",
        "t_c00000.csv",
        truth::csv(p, &fx.pick(&["a"]), DictStyle::Json).as_bytes(),
        "2026-01-01T00:00:00.000Z",
    );
    drive.file("x1", "F1", "t_c00000.csv", first.as_bytes(), "2026-02-01T00:00:00.000Z");
    drive.file("x2", "F2", "t_c00001.csv", second.as_bytes(), "2026-02-01T00:00:00.000Z");
    // A Drive name with slashes is one file name: it lands inside the folder, percent-encoded.
    drive.file("x3", "F2", "t_c00001-/../../escape.csv", second.as_bytes(), "2026-02-01T00:00:00.000Z");
    // Not c00000's: a split half, and a file in another folder.
    drive.file("x4", "F1", "t_c00000a.csv", b"junk", "2026-02-01T00:00:00.000Z");
    drive.file("x5", "F3", "t_c00000.csv", b"junk", "2026-03-01T00:00:00.000Z");
    let tokens = Arc::new(FakeTokens::default());
    let chunks = [chunk("c00000", &["a", "b"]), chunk("c00001", &["c", "d", "e"])];

    let out = fetch(p, &chunks, &fx.opts(&url, tokens.clone())).await.expect("fetch");
    assert_eq!(out.records, truth::records(p, &fx.pick(&["a", "b", "c", "d", "e"])));
    assert!(out.missing.is_empty(), "{:?}", out.missing);
    let remotes: Vec<&str> = out.files.iter().map(|f| f.remote.as_str()).collect();
    assert_eq!(
        remotes,
        [
            "drive:geepipe-exports/t_c00000.csv",
            "drive:geepipe-exports/t_c00001-/../../escape.csv",
            "drive:geepipe-exports/t_c00001.csv"
        ]
    );
    let mut downloaded = drive.downloads.lock().unwrap().clone();
    downloaded.sort();
    assert_eq!(downloaded, ["x1", "x2", "x3"]);
    let dl = fx.pipeline.journal_dir.join("downloads/t/files/drive/geepipe-exports");
    assert_eq!(std::fs::read_to_string(dl.join("t_c00000.csv")).unwrap(), first);
    assert_eq!(std::fs::read_to_string(dl.join("t_c00001-%2F..%2F..%2Fescape.csv")).unwrap(), second);
    // Only the read-only Drive scope is asked for.
    let scopes: std::collections::BTreeSet<String> = tokens.scopes.lock().unwrap().iter().cloned().collect();
    assert_eq!(scopes.into_iter().collect::<Vec<_>>(), ["https://www.googleapis.com/auth/drive.readonly"]);
    let queries = drive.queries.lock().unwrap().clone();
    assert_eq!(
        queries[0],
        "name = 'geepipe-exports' and mimeType = 'application/vnd.google-apps.folder' and trashed = false"
    );
    // One listing per folder under the chunks' common prefix (paged: two files per page here).
    assert_eq!(
        queries[1..],
        [
            format!("'F1' in parents and name contains 't_c0000' and trashed = false and mimeType != '{FOLDER_MIME}'"),
            format!("'F1' in parents and name contains 't_c0000' and trashed = false and mimeType != '{FOLDER_MIME}'"),
            format!("'F2' in parents and name contains 't_c0000' and trashed = false and mimeType != '{FOLDER_MIME}'"),
        ]
    );

    // Rerun: nothing is downloaded again.
    drive.downloads.lock().unwrap().clear();
    let again = fetch(p, &chunks, &fx.opts(&url, tokens)).await.expect("again");
    assert_eq!((again.downloaded, again.reused), (0, 3));
    assert!(drive.downloads.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_file_whose_md5_differs_is_an_error_naming_both_checksums() {
    let (url, drive) = start_drive().await;
    let fx = fixture();
    let p = &fx.pipeline;
    drive.folder("F1", "geepipe-exports");
    drive.file(
        "x1",
        "F1",
        "t_c00000.csv",
        truth::csv(p, &fx.pick(&["a", "b"]), DictStyle::Json).as_bytes(),
        "2026-02-01T00:00:00.000Z",
    );
    let wrong = "0123456789abcdef0123456789abcdef";
    let real = {
        let mut files = drive.files.lock().unwrap();
        let f = files.iter_mut().find(|f| f.id == "x1").unwrap();
        std::mem::replace(&mut f.md5, wrong.to_string())
    };
    let err =
        fetch(p, &[chunk("c00000", &["a", "b"])], &fx.opts(&url, Arc::new(FakeTokens::default()))).await.unwrap_err();
    let FetchError::Incomplete { missing, .. } = &err else { panic!("{err}") };
    let Missing::File { file, reason, .. } = &missing[0] else { panic!("{missing:?}") };
    assert_eq!(file, "drive:geepipe-exports/t_c00000.csv");
    assert!(reason.contains(&format!("have md5 {real} (")), "{reason}");
    assert!(reason.contains(&format!("the service reports md5 {wrong}")), "{reason}");
    assert_eq!(drive.downloads.lock().unwrap().len(), 3, "bounded retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_drive_scope_says_which_scope_and_how_to_add_it() {
    let (url, drive) = start_drive().await;
    let fx = fixture();
    drive.folder("F1", "geepipe-exports");
    *drive.insufficient_scope.lock().unwrap() = true;
    let err = fetch(&fx.pipeline, &[chunk("c00000", &["a"])], &fx.opts(&url, Arc::new(FakeTokens::default())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::MissingScope {
                service: "Google Drive",
                scope: "https://www.googleapis.com/auth/drive.readonly",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.starts_with("Google Drive refused the access token because it lacks the scope https://www.googleapis.com/auth/drive.readonly"), "{text}");
    assert!(
        text.contains("gcloud auth application-default login --scopes=https://www.googleapis.com/auth/drive.readonly,"),
        "{text}"
    );
    assert!(!text.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_drive_folder_means_no_files_for_its_chunks() {
    let (url, _drive) = start_drive().await;
    let fx = fixture();
    let mut opts = fx.opts(&url, Arc::new(FakeTokens::default()));
    opts.partial = true;
    let out = fetch(&fx.pipeline, &[chunk("c00000", &["a"])], &opts).await.expect("partial");
    assert_eq!(
        out.missing[0],
        Missing::NoFiles {
            chunk_id: "c00000".into(),
            location: "Drive folder `geepipe-exports`, files named `t_c00000…` (no Drive folder has that name)".into()
        }
    );
    assert!(out.records.is_empty());
}
