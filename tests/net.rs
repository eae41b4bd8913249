//! The one network layer, seen from both of its users: for every row of a table of server answers (an HTTP
//! status, Google's error envelope, a `Retry-After`), a small server on 127.0.0.1 gives that answer to
//! every request, and the Earth Engine client (`operations.get`), a Cloud Storage listing (`get_json`) and
//! a file download each try exactly as often as the shared classification says: again while the failure is
//! transient, once when it is not. Both users report the same classified problem.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::IntoResponse;
use geepipe::ee::{Client, ClientConfig};
use geepipe::net::{classify, Auth, Class, Problem, RetryPolicy, Scope};
use geepipe::results::download::{download_all, DownloadOptions, Expected, Http, RemoteFile};

/// One answer: status, body, extra headers.
type Answer = (u16, &'static str, Vec<(&'static str, &'static str)>);

#[derive(Default)]
struct Server {
    answer: Mutex<Option<Answer>>,
    hits: AtomicUsize,
}

async fn serve(state: Arc<Server>) -> String {
    let app = axum::Router::new().fallback(move || {
        let state = state.clone();
        async move {
            state.hits.fetch_add(1, Ordering::SeqCst);
            let (status, body, headers) = state.answer.lock().unwrap().clone().expect("an answer is set");
            let mut h = HeaderMap::new();
            h.insert("content-type", "application/json".parse().unwrap());
            for (k, v) in headers {
                h.insert(HeaderName::from_static(k), v.parse().unwrap());
            }
            (StatusCode::from_u16(status).unwrap(), h, body).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn fast(attempts: u32) -> RetryPolicy {
    let ms = Duration::from_millis;
    RetryPolicy { max_attempts: attempts, base: ms(1), cap: ms(4), max_retry_after: ms(20) }
}

const ATTEMPTS: u32 = 3;

/// The table: answer, and the class the shared `classify` must give it.
fn table() -> Vec<(Answer, Class)> {
    let envelope = |status: &'static str| -> &'static str {
        match status {
            "PERMISSION_DENIED" => {
                r#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#
            }
            "RATE" => r#"{"error":{"code":403,"message":"Rate exceeded","errors":[{"reason":"rateLimitExceeded"}]}}"#,
            "MEMORY" => r#"{"error":{"code":400,"message":"User memory limit exceeded.","status":"INVALID_ARGUMENT"}}"#,
            "INVALID" => {
                r#"{"error":{"code":400,"message":"Invalid value at 'expression'","status":"INVALID_ARGUMENT"}}"#
            }
            "EXISTS" => r#"{"error":{"code":409,"message":"exists","status":"ALREADY_EXISTS"}}"#,
            _ => "{}",
        }
    };
    vec![
        ((400, envelope("INVALID"), vec![]), Class::Fatal(Scope::Chunk)),
        ((400, envelope("MEMORY"), vec![]), Class::TooBig),
        ((401, "{}", vec![]), Class::Fatal(Scope::Run)),
        ((403, envelope("PERMISSION_DENIED"), vec![]), Class::Fatal(Scope::Run)),
        ((403, envelope("RATE"), vec![]), Class::Transient),
        ((404, "not found", vec![]), Class::Fatal(Scope::Run)),
        ((408, "", vec![]), Class::Transient),
        ((409, envelope("EXISTS"), vec![]), Class::AlreadyExists),
        ((413, "", vec![]), Class::TooBig),
        ((429, "", vec![("retry-after", "0")]), Class::Transient),
        ((500, "", vec![]), Class::Transient),
        ((501, "", vec![]), Class::Fatal(Scope::Run)),
        ((502, "<html>bad gateway</html>", vec![]), Class::Transient),
        ((503, "", vec![]), Class::Transient),
        ((505, "", vec![]), Class::Fatal(Scope::Run)),
        ((507, "", vec![]), Class::Transient),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earth_engine_calls_and_downloads_retry_by_the_same_classification() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let mut cfg = ClientConfig::new(url::Url::parse(&base).unwrap(), "p", Auth::None);
    cfg.retry = fast(ATTEMPTS);
    let ee = Client::new(cfg).unwrap();
    let http = Http::new(Auth::None, &["https://www.googleapis.com/auth/devstorage.read_only"])
        .unwrap()
        .with_retry(fast(ATTEMPTS));
    let dir = tempfile::tempdir().unwrap();
    for (answer, want) in table() {
        let row = format!("HTTP {} {}", answer.0, answer.1);
        *server.answer.lock().unwrap() = Some(answer.clone());
        let tries = if want == Class::Transient { ATTEMPTS as usize } else { 1 };

        server.hits.store(0, Ordering::SeqCst);
        let e = ee.get_operation("projects/p/operations/X").await.expect_err(&row);
        assert_eq!(e.class(), want, "Earth Engine: {row}");
        assert_eq!(server.hits.load(Ordering::SeqCst), tries, "Earth Engine tries: {row}");

        server.hits.store(0, Ordering::SeqCst);
        let url = url::Url::parse(&format!("{base}/storage/v1/b/bkt/o")).unwrap();
        let listed: Result<serde_json::Value, Problem> = http.get_json(&url).await;
        let problem = listed.expect_err(&row);
        assert_eq!(classify(&problem), want, "listing: {row}");
        assert_eq!(problem, e.problem, "both users read the answer alike: {row}");
        assert_eq!(server.hits.load(Ordering::SeqCst), tries, "listing tries: {row}");

        server.hits.store(0, Ordering::SeqCst);
        let file = RemoteFile {
            display: "gs://bkt/f.csv".into(),
            url: url::Url::parse(&format!("{base}/download/f.csv?alt=media")).unwrap(),
            relative: "f.csv".into(),
            expected: Expected { size: Some(3), ..Expected::default() },
        };
        let opts = DownloadOptions { parallelism: 1, max_attempts: ATTEMPTS };
        let (ok, errors) = download_all(&http, dir.path(), &[file], opts).await;
        assert!(ok.is_empty() && errors.len() == 1, "download: {row}");
        assert_eq!(server.hits.load(Ordering::SeqCst), tries, "download tries: {row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_server_text_never_reaches_an_error() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    *server.answer.lock().unwrap() = Some((
        401,
        r#"{"error":{"code":401,"message":"Request had invalid credentials: Bearer ya29.a0AfB_byCxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","status":"UNAUTHENTICATED"}}"#,
        vec![],
    ));
    let ee = Client::new(ClientConfig::new(url::Url::parse(&base).unwrap(), "p", Auth::None)).unwrap();
    let e = ee.get_operation("projects/p/operations/X").await.unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("ya29"), "{shown}");
    assert!(shown.contains("Request had invalid credentials: Bearer ***"), "{shown}");
}
