//! HTTP calls to the Earth Engine REST API v1, with timeouts, retries and (for interactive requests) a rate.
//!
//! Retries: exponential backoff with FULL jitter (sleep a uniform random time in `[0, min(cap, base·2ⁿ)]`),
//! at least as long as a `Retry-After` header asks, on every failure [`classify`] calls transient (429, 5xx,
//! resets, timeouts). A submission is retried only when its body carries a `requestId`: Earth Engine starts at
//! most one task per request id, so a retry can never create a second task. `table:computeFeatures` has no side
//! effects and is always retried; a client configured with [`ClientConfig::requests_per_second`] sends every
//! HTTP attempt (retries and pages included) through a token bucket (`governor`'s GCRA).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::auth::{Auth, AuthError};
use super::classify::{classify, Class, Problem, TransportKind};
use super::Operation;
use crate::plan::Endpoint;

/// Backoff settings for one request.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries per request, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Longest `Retry-After` honoured (a longer one is cut to this).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(32),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in `[0, min(cap, base·2^retry)]`, but never shorter than `retry_after`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(1u32 << retry.min(20));
        let ceiling = exp.min(self.cap);
        let jitter = Duration::from_secs_f64(rand::rng().random_range(0.0..=ceiling.as_secs_f64()));
        match retry_after {
            Some(ra) => jitter.max(ra.min(self.max_retry_after)),
            None => jitter,
        }
    }
}

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
    /// Synchronous computations (`table:computeFeatures` pages).
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

    fn auth(call: &'static str, e: AuthError) -> EeError {
        // Token refresh failures are environment problems; keep them fatal for the run.
        EeError { call, problem: Problem { http_status: Some(401), message: e.to_string(), ..Problem::default() } }
    }
}

/// The Earth Engine REST client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    cfg: Arc<ClientConfig>,
    counts: Arc<CallCounts>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
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

/// The bucket of a rate: `rate` tokens per second, bursts of a tenth of a second's worth (at least 1), so no
/// second ever sees much more than `rate` requests.
fn rate_limiter(rate: u32) -> Option<DefaultDirectRateLimiter> {
    let per_second = std::num::NonZeroU32::new(rate)?;
    let burst = std::num::NonZeroU32::new((rate / 10).max(1))?;
    Some(RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)))
}

/// Pages followed for one computation before giving up (1,000 features each: far more than a chunk holds).
const MAX_PAGES: u32 = 10_000;

/// Installs ring as rustls' crypto provider (once per process; later calls are no-ops).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client, EeError> {
        install_crypto();
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("geepipe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EeError {
                call: "client",
                problem: Problem::transport(TransportKind::Builder, &e.to_string()),
            })?;
        let limiter = cfg.requests_per_second.and_then(rate_limiter).map(Arc::new);
        Ok(Client { http, cfg: Arc::new(cfg), counts: Arc::new(CallCounts::default()), limiter })
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
        let v = self.send("export", Method::POST, url, Some(body), has_id).await?;
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
        let mut out = Vec::new();
        let mut token: Option<String> = None;
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
            let v = self.send("operations.list", Method::GET, url, None, true).await?;
            if let Some(ops) = v.get("operations") {
                let page: Vec<Operation> = serde_json::from_value(ops.clone()).map_err(|e| EeError {
                    call: "operations.list",
                    problem: Problem::transport(TransportKind::Body, &format!("unexpected response: {e}")),
                })?;
                out.extend(page);
            }
            match v.get("nextPageToken").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
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
        loop {
            self.counts.compute.fetch_add(1, Ordering::Relaxed);
            let (v, bytes) =
                self.send_counted(CALL, Method::POST, url.clone(), Some(&body), true, true, requests).await?;
            out.pages += 1;
            out.bytes += bytes;
            let unexpected = |what: &str| EeError {
                call: CALL,
                problem: Problem::transport(TransportKind::Body, &format!("unexpected response: {what}")),
            };
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

    /// `operations.cancel` (asynchronous: the state becomes CANCELLING).
    pub async fn cancel_operation(&self, name: &str) -> Result<(), EeError> {
        self.counts.cancel.fetch_add(1, Ordering::Relaxed);
        let url = self.url(&format!("{name}:cancel"));
        self.send("operations.cancel", Method::POST, url, Some(&Value::Object(Default::default())), true)
            .await
            .map(|_| ())
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
        body: Option<&Value>,
        retry: bool,
    ) -> Result<Value, EeError> {
        let mut attempts = 0;
        self.send_counted(call, method, url, body, retry, false, &mut attempts).await.map(|(v, _)| v)
    }

    /// [`Client::send`] that adds its HTTP attempts to `attempts` and returns the response's size;
    /// `computation` marks failures of a synchronous computation ([`Problem::computation`]).
    #[allow(clippy::too_many_arguments)]
    async fn send_counted(
        &self,
        call: &'static str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        retry: bool,
        computation: bool,
        attempts: &mut u32,
    ) -> Result<(Value, u64), EeError> {
        let mut attempt = 0u32;
        loop {
            if let Some(l) = &self.limiter {
                l.until_ready().await;
            }
            *attempts += 1;
            let result = self.send_once(call, method.clone(), url.clone(), body).await;
            let mut err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            err.problem.computation = computation;
            attempt += 1;
            if !retry || attempt >= self.cfg.retry.max_attempts || err.class() != Class::Transient {
                return Err(err);
            }
            self.counts.retries.fetch_add(1, Ordering::Relaxed);
            let delay = self.cfg.retry.delay(attempt - 1, err.problem.retry_after);
            tracing::debug!(call, attempt, delay_ms = delay.as_millis() as u64, error = %err, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        call: &'static str,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(Value, u64), EeError> {
        let mut req = self
            .http
            .request(method, url)
            .header("X-Goog-User-Project", &self.cfg.project)
            .header("x-goog-api-client", concat!("geepipe/", env!("CARGO_PKG_VERSION")));
        if let Some(tok) = self.cfg.auth.token().await.map_err(|e| EeError::auth(call, e))? {
            req = req.bearer_auth(tok.expose());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| EeError { call, problem: transport_problem(&e) })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let bytes = resp.bytes().await.map_err(|e| EeError { call, problem: transport_problem(&e) })?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok((Value::Object(Default::default()), 0));
            }
            let v = serde_json::from_slice(&bytes).map_err(|e| EeError {
                call,
                problem: Problem::transport(TransportKind::Body, &format!("response is not JSON: {e}")),
            })?;
            return Ok((v, bytes.len() as u64));
        }
        let mut problem = error_problem(status, &bytes);
        problem.retry_after = retry_after;
        Err(EeError { call, problem })
    }
}

/// Reads Google's error envelope `{"error":{code,message,status,details[{reason}],errors[{reason}]}}`.
fn error_problem(status: StatusCode, bytes: &[u8]) -> Problem {
    let v: Option<Value> = serde_json::from_slice(bytes).ok();
    let err = v.as_ref().and_then(|v| v.get("error"));
    let message = match err.and_then(|e| e.get("message")).and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None => {
            let text = String::from_utf8_lossy(bytes);
            let t: String = text.trim().chars().take(300).collect();
            if t.is_empty() {
                status.canonical_reason().unwrap_or("").to_string()
            } else {
                t
            }
        }
    };
    let reason = err.and_then(|e| {
        ["details", "errors"].iter().find_map(|k| {
            e.get(*k)?.as_array()?.iter().find_map(|d| d.get("reason").and_then(Value::as_str).map(str::to_string))
        })
    });
    Problem {
        http_status: Some(status.as_u16()),
        status: err.and_then(|e| e.get("status")).and_then(Value::as_str).map(str::to_string),
        reason,
        message,
        ..Problem::default()
    }
}

/// Walks a reqwest error (and its sources) into a transport [`Problem`].
fn transport_problem(e: &reqwest::Error) -> Problem {
    let mut kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else if e.is_builder() {
        TransportKind::Builder
    } else if e.is_body() || e.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Reset
    };
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => kind = TransportKind::Reset,
                TimedOut => kind = TransportKind::Timeout,
                ConnectionRefused => kind = TransportKind::Connect,
                _ => {}
            }
        }
        src = s.source();
    }
    let mut msg = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Problem::transport(kind, &msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_within_bounds_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
        };
        let mut seen_small = false;
        for retry in 0..8 {
            for _ in 0..200 {
                let d = p.delay(retry, None);
                let ceiling = (100u64 << retry).min(1000);
                assert!(d <= Duration::from_millis(ceiling), "retry {retry}: {d:?}");
                seen_small |= d < Duration::from_millis(ceiling / 4);
            }
        }
        assert!(seen_small, "full jitter must reach below a quarter of the ceiling");
        for _ in 0..50 {
            assert!(p.delay(0, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
            assert_eq!(p.delay(0, Some(Duration::from_secs(50))), Duration::from_secs(5));
        }
    }

    #[test]
    fn error_envelope_is_read() {
        let body = br#"{"error":{"code":403,"message":"Quota","status":"PERMISSION_DENIED",
            "details":[{"@type":"x","reason":"rateLimitExceeded"}]}}"#;
        let p = error_problem(StatusCode::FORBIDDEN, body);
        assert_eq!(p.http_status, Some(403));
        assert_eq!(p.status.as_deref(), Some("PERMISSION_DENIED"));
        assert_eq!(p.reason.as_deref(), Some("rateLimitExceeded"));
        assert_eq!(classify(&p), Class::Transient);
        let p = error_problem(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(p.message, "<html>bad gateway</html>");
        assert_eq!(classify(&p), Class::Transient);
    }
}
