//! HTTP calls to the Earth Engine REST API v1, with timeouts, retries and (for interactive requests) a rate.
//!
//! Retries follow the one [`RetryPolicy`] of [`crate::net`] on every failure [`classify`] calls transient
//! (429, 5xx, resets, timeouts). A submission is retried only when its body carries a `requestId`: Earth
//! Engine starts at most one task per request id, so a retry can never create a second task.
//! `table:computeFeatures` has no side effects and is always retried; its failures are marked
//! [`Problem::computation`], so a request the client stopped waiting for is too big rather than transient. A
//! client configured with [`ClientConfig::requests_per_second`] sends every HTTP attempt (retries and pages
//! included) through a token bucket (`governor`'s GCRA).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::{Operation, EE_SCOPE};

/// A request body: a JSON value, or JSON text as it is to be sent (shared with each attempt: cloning
/// [`Bytes`] counts a reference, so retries and the request in flight never copy the body).
#[derive(Clone, Copy)]
enum Payload<'a> {
    Json(&'a Value),
    Text(&'a Bytes),
}
use crate::net::{classify, http, Auth, Class, Problem, RetryPolicy, TransportKind};
use crate::plan::Endpoint;

/// Everything a [`Client`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://earthengine.googleapis.com` or an emulator.
    pub base_url: Url,
    /// Cloud project id (sent in paths and as `X-Goog-User-Project`).
    pub project: String,
    pub auth: Auth,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// `operations.list` page size (the Python client uses 500).
    pub page_size: u32,
    /// At most this many HTTP requests per second (a token bucket; interactive requests), or unlimited.
    pub requests_per_second: Option<u32>,
}

impl ClientConfig {
    pub fn new(base_url: Url, project: impl Into<String>, auth: Auth) -> ClientConfig {
        ClientConfig {
            base_url,
            project: project.into(),
            auth,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            page_size: 500,
            requests_per_second: None,
        }
    }
}

/// Calls made, by kind (for benchmarks and tests).
#[derive(Debug, Default)]
pub struct CallCounts {
    pub export: AtomicU64,
    pub get: AtomicU64,
    pub list_pages: AtomicU64,
    pub cancel: AtomicU64,
    /// HTTP attempts beyond the first of each call.
    pub retries: AtomicU64,
    /// Synchronous computations (`table:computeFeatures` pages, `value:compute`).
    pub compute: AtomicU64,
}

impl CallCounts {
    pub fn snapshot(&self) -> [u64; 5] {
        [&self.export, &self.get, &self.list_pages, &self.cancel, &self.retries].map(|c| c.load(Ordering::Relaxed))
    }
}

/// A failed call: which call, and the [`Problem`] (never holds a token).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{call}: {}", problem.summary())]
pub struct EeError {
    pub call: &'static str,
    pub problem: Problem,
}

impl EeError {
    pub fn class(&self) -> Class {
        classify(&self.problem)
    }
}

/// The Earth Engine REST client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `operations.list` pages go through their own connection: a connection's read buffer grows to the
    /// largest answer it carried (a page of 500 operations, about 400 KB) and keeps that size, so pages
    /// spread over the export connections (100 at once) would leave each of them that big.
    list_http: reqwest::Client,
    cfg: Arc<ClientConfig>,
    counts: Arc<CallCounts>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

/// What one `operations.list` round read: the operations, and whether it read every page.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub operations: Vec<Operation>,
    /// Every page was read (else it stopped at operations older than asked for).
    pub complete: bool,
}

/// What one `operations.list` round read when its operations were handed out one by one
/// ([`Client::list_operations_each`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Paged {
    /// Operations listed (every page read).
    pub listed: usize,
    /// Every page was read (else it stopped at operations older than asked for).
    pub complete: bool,
}

/// One `table:computeFeatures` request as geepipe sends it (the body without `pageToken`).
#[derive(Debug, Clone)]
pub struct ComputeRequest {
    /// `{expression, pageSize, workloadTag?}`.
    pub body: Value,
}

/// Every page of one computation, and what it took.
#[derive(Debug, Clone, Default)]
pub struct ComputedFeatures {
    /// The features of every page, in order.
    pub features: Vec<Value>,
    pub pages: u32,
    /// Bytes of the response bodies.
    pub bytes: u64,
}

/// The call name of `operations.list` (its pages go through [`Client`]'s own connection for them).
const LIST: &str = "operations.list";

/// Pages followed for one computation before giving up (1,000 features each: far more than a chunk holds).
const MAX_PAGES: u32 = 10_000;

/// The bucket of a rate: `rate` tokens per second, bursts of a tenth of a second's worth (at least 1), so no
/// second ever sees much more than `rate` requests.
fn rate_limiter(rate: u32) -> Option<DefaultDirectRateLimiter> {
    let per_second = std::num::NonZeroU32::new(rate)?;
    let burst = std::num::NonZeroU32::new((rate / 10).max(1))?;
    Some(RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)))
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client, EeError> {
        let timeouts = http::Timeouts { request: Some(cfg.timeout), connect: cfg.connect_timeout, read: None };
        let http = http::client(timeouts).map_err(|problem| EeError { call: "client", problem })?;
        let list_http =
            http::client_keeping(timeouts, Some(1)).map_err(|problem| EeError { call: "client", problem })?;
        let limiter = cfg.requests_per_second.and_then(rate_limiter).map(Arc::new);
        Ok(Client { http, list_http, cfg: Arc::new(cfg), counts: Arc::new(CallCounts::default()), limiter })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    pub fn counts(&self) -> &CallCounts {
        &self.counts
    }

    fn url(&self, path: &str) -> Url {
        let mut base = self.cfg.base_url.as_str().trim_end_matches('/').to_string();
        base.push_str("/v1/");
        base.push_str(path);
        Url::parse(&base).unwrap_or_else(|_| self.cfg.base_url.clone())
    }

    /// `projects/<id>`.
    pub fn project_path(&self) -> String {
        format!("projects/{}", self.cfg.project)
    }

    /// Submits an export. Retried (transient failures) only when `body.requestId` is set.
    pub async fn export(&self, endpoint: Endpoint, body: &Value) -> Result<Operation, EeError> {
        self.counts.export.fetch_add(1, Ordering::Relaxed);
        let has_id = body.get("requestId").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        let url = self.url(&format!("{}/{}", self.project_path(), endpoint.path()));
        let v = self.send("export", Method::POST, url, Some(Payload::Json(body)), has_id).await?;
        self.decode("export", v)
    }

    /// Submits an export whose body is JSON text already (sent as it is, never parsed: a request body of
    /// a large chunk is a tree of tens of thousands of values; never copied either, every attempt sends the
    /// same buffer). `has_request_id` says whether it carries a `requestId` (retried on transient failures
    /// only then).
    pub async fn export_text(
        &self,
        endpoint: Endpoint,
        body: &Bytes,
        has_request_id: bool,
    ) -> Result<Operation, EeError> {
        self.counts.export.fetch_add(1, Ordering::Relaxed);
        let url = self.url(&format!("{}/{}", self.project_path(), endpoint.path()));
        let v = self.send("export", Method::POST, url, Some(Payload::Text(body)), has_request_id).await?;
        self.decode("export", v)
    }

    /// `operations.get`.
    pub async fn get_operation(&self, name: &str) -> Result<Operation, EeError> {
        self.counts.get.fetch_add(1, Ordering::Relaxed);
        let v = self.send("operations.get", Method::GET, self.url(name), None, true).await?;
        self.decode("operations.get", v)
    }

    /// `operations.list`, every page (`pageSize` from the config).
    pub async fn list_operations(&self) -> Result<Vec<Operation>, EeError> {
        Ok(self.list_operations_since(None).await?.operations)
    }

    /// `operations.list`, paged until the operations get older than `since` (seconds since the Unix epoch,
    /// by `createTime`), or every page when `since` is `None`. Every operation read is kept: see
    /// [`Client::list_operations_each`] to keep only some.
    pub async fn list_operations_since(&self, since: Option<f64>) -> Result<Listing, EeError> {
        let mut operations = Vec::new();
        let paged = self.list_operations_each(since, |op| operations.push(op)).await?;
        Ok(Listing { operations, complete: paged.complete })
    }

    /// `operations.list` as [`Client::list_operations_since`], handing each operation to `each` as its page is
    /// decoded: only one page is held at a time (a project's list holds its whole history, tens of thousands
    /// of operations for a large run), and the caller keeps what it needs.
    ///
    /// Earth Engine lists a project's operations newest first (the fake does the same, from its operation set);
    /// this is observed, not documented, so paging stops early only while every operation so far has a
    /// `createTime` and they do come newest first: a listing in any other order is read to the end. The
    /// `filter` parameter is not used: its syntax is not documented (see the reference notes).
    pub async fn list_operations_each(
        &self,
        since: Option<f64>,
        mut each: impl FnMut(Operation),
    ) -> Result<Paged, EeError> {
        let mut listed = 0;
        let mut token: Option<String> = None;
        // The createTime of the last operation seen while the order still holds (None once it does not).
        let mut newest_first = Some(f64::INFINITY);
        loop {
            self.counts.list_pages.fetch_add(1, Ordering::Relaxed);
            let mut url = self.url(&format!("{}/operations", self.project_path()));
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("pageSize", &self.cfg.page_size.to_string());
                if let Some(t) = &token {
                    q.append_pair("pageToken", t);
                }
            }
            // Pages of about 400 KB go through a connection of their own: the export connections' read
            // buffers would grow to their size.
            let mut v = self.send_on(&self.list_http, LIST, Method::GET, url, None, true).await?;
            if let Some(ops) = v.get_mut("operations").map(Value::take) {
                let page: Vec<Operation> = serde_json::from_value(ops).map_err(|e| EeError {
                    call: LIST,
                    problem: Problem::transport(TransportKind::Body, &format!("unexpected response: {e}")),
                })?;
                listed += page.len();
                for op in page {
                    let created =
                        op.metadata.as_ref().and_then(|m| m.create_time.as_deref()).and_then(super::parse_time);
                    newest_first = match (newest_first, created) {
                        (Some(last), Some(c)) if c <= last => Some(c),
                        _ => None,
                    };
                    each(op);
                }
            }
            let next = v.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty());
            let Some(t) = next else {
                return Ok(Paged { listed, complete: true });
            };
            if let (Some(since), Some(oldest)) = (since, newest_first) {
                if oldest < since {
                    return Ok(Paged { listed, complete: false });
                }
            }
            token = Some(t.to_string());
        }
    }

    /// `table:computeFeatures`: the features an expression evaluates to, every page (`pageSize` per page).
    /// Synchronous and without side effects, so transient failures are retried.
    pub async fn compute_features(&self, expression: &Value, page_size: u32) -> Result<Vec<Value>, EeError> {
        let req = ComputeRequest { body: serde_json::json!({"expression": expression, "pageSize": page_size}) };
        let mut requests = 0;
        self.compute_features_paged(&req, &mut requests).await.map(|c| c.features)
    }

    /// `table:computeFeatures` for `req`, following `nextPageToken` to the last page. `requests` counts every
    /// HTTP attempt (pages and retries), also when the call fails. A timeout is [`Class::TooBig`] (see
    /// [`Problem::computation`]).
    pub async fn compute_features_paged(
        &self,
        req: &ComputeRequest,
        requests: &mut u32,
    ) -> Result<ComputedFeatures, EeError> {
        const CALL: &str = "table.computeFeatures";
        let url = self.url(&format!("{}/table:computeFeatures", self.project_path()));
        let mut out = ComputedFeatures::default();
        let mut body = req.body.clone();
        let unexpected = |what: &str| EeError {
            call: CALL,
            problem: Problem::transport(TransportKind::Body, &format!("unexpected response: {what}")),
        };
        loop {
            self.counts.compute.fetch_add(1, Ordering::Relaxed);
            let attempts = std::sync::atomic::AtomicU32::new(0);
            let answer = self
                .cfg
                .retry
                .run(
                    || async {
                        if let Some(l) = &self.limiter {
                            l.until_ready().await;
                        }
                        attempts.fetch_add(1, Ordering::Relaxed);
                        let sent = self.send_bytes(&self.http, Method::POST, url.clone(), Some(Payload::Json(&body)));
                        sent.await.map_err(|mut p| {
                            p.computation = true;
                            p
                        })
                    },
                    |attempt, problem, delay| self.retrying(CALL, attempt, problem, delay),
                )
                .await;
            *requests += attempts.load(Ordering::Relaxed);
            let (v, bytes) = answer.map_err(|problem| EeError { call: CALL, problem })?;
            out.pages += 1;
            out.bytes += bytes;
            match v.get("features") {
                Some(Value::Array(f)) => out.features.extend(f.iter().cloned()),
                None | Some(Value::Null) => {}
                Some(_) => return Err(unexpected("`features` is not a list")),
            }
            match v.get("nextPageToken").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => {
                    if out.pages >= MAX_PAGES {
                        return Err(unexpected(&format!("more than {MAX_PAGES} pages")));
                    }
                    body["pageToken"] = Value::String(t.to_string());
                }
                _ => return Ok(out),
            }
        }
    }

    /// `value:compute`: the `result` an expression evaluates to.
    pub async fn compute_value(&self, expression: &Value) -> Result<Value, EeError> {
        self.counts.compute.fetch_add(1, Ordering::Relaxed);
        let url = self.url(&format!("{}/value:compute", self.project_path()));
        let body = serde_json::json!({ "expression": expression });
        let v = self.send("value.compute", Method::POST, url, Some(Payload::Json(&body)), true).await?;
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    /// `operations.cancel` (asynchronous: the state becomes CANCELLING).
    pub async fn cancel_operation(&self, name: &str) -> Result<(), EeError> {
        self.counts.cancel.fetch_add(1, Ordering::Relaxed);
        let url = self.url(&format!("{name}:cancel"));
        let empty = Value::Object(Default::default());
        self.send("operations.cancel", Method::POST, url, Some(Payload::Json(&empty)), true).await.map(|_| ())
    }

    fn decode(&self, call: &'static str, v: Value) -> Result<Operation, EeError> {
        serde_json::from_value(v).map_err(|e| EeError {
            call,
            problem: Problem::transport(TransportKind::Body, &format!("unexpected response: {e}")),
        })
    }

    async fn send(
        &self,
        call: &'static str,
        method: Method,
        url: Url,
        body: Option<Payload<'_>>,
        retry: bool,
    ) -> Result<Value, EeError> {
        self.send_on(&self.http, call, method, url, body, retry).await
    }

    /// [`Client::send`] through the connections of `http`.
    async fn send_on(
        &self,
        http: &reqwest::Client,
        call: &'static str,
        method: Method,
        url: Url,
        body: Option<Payload<'_>>,
        retry: bool,
    ) -> Result<Value, EeError> {
        let policy =
            if retry { self.cfg.retry.clone() } else { RetryPolicy { max_attempts: 1, ..self.cfg.retry.clone() } };
        policy
            .run(
                || async {
                    if let Some(l) = &self.limiter {
                        l.until_ready().await;
                    }
                    self.send_bytes(http, method.clone(), url.clone(), body).await.map(|(v, _)| v)
                },
                |attempt, problem, delay| self.retrying(call, attempt, problem, delay),
            )
            .await
            .map_err(|problem| EeError { call, problem })
    }

    /// Counts and logs a retry.
    fn retrying(&self, call: &'static str, attempt: u32, problem: &Problem, delay: Duration) {
        self.counts.retries.fetch_add(1, Ordering::Relaxed);
        let ms = delay.as_millis() as u64;
        tracing::debug!(call, attempt, delay_ms = ms, error = %problem.summary(), "retrying");
    }

    /// One HTTP attempt: the response as JSON and its size in bytes.
    async fn send_bytes(
        &self,
        http: &reqwest::Client,
        method: Method,
        url: Url,
        body: Option<Payload<'_>>,
    ) -> Result<(Value, u64), Problem> {
        let mut req = http
            .request(method, url)
            .header("X-Goog-User-Project", &self.cfg.project)
            .header("x-goog-api-client", http::USER_AGENT);
        if let Some(tok) = self.cfg.auth.token(&[EE_SCOPE]).await.map_err(|e| Problem::auth(&e))? {
            req = req.bearer_auth(tok.expose());
        }
        match body {
            Some(Payload::Json(b)) => req = req.json(b),
            Some(Payload::Text(b)) => {
                req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(b.clone());
            }
            None => {}
        }
        let resp = req.send().await.map_err(Problem::from_reqwest)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(Problem::from_reqwest)?;
        if !status.is_success() {
            return Err(Problem::from_response(status.as_u16(), &headers, &bytes));
        }
        if bytes.is_empty() {
            return Ok((Value::Object(Default::default()), 0));
        }
        let v = serde_json::from_slice(&bytes)
            .map_err(|e| Problem::transport(TransportKind::Body, &format!("response is not JSON: {e}")))?;
        Ok((v, bytes.len() as u64))
    }
}
