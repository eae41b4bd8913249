//! HTTP calls to the Earth Engine REST API v1, with timeouts and retries.
//!
//! Retries follow the one [`RetryPolicy`] of [`crate::net`] on every failure [`classify`] calls transient
//! (429, 5xx, resets, timeouts). A submission is retried only when its body carries a `requestId`: Earth
//! Engine starts at most one task per request id, so a retry can never create a second task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::{Operation, EE_SCOPE};
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
    cfg: Arc<ClientConfig>,
    counts: Arc<CallCounts>,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client, EeError> {
        let timeouts = http::Timeouts { request: Some(cfg.timeout), connect: cfg.connect_timeout, read: None };
        let http = http::client(timeouts).map_err(|problem| EeError { call: "client", problem })?;
        Ok(Client { http, cfg: Arc::new(cfg), counts: Arc::new(CallCounts::default()) })
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
        let url = self.url(&format!("{}/table:computeFeatures", self.project_path()));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            self.counts.compute.fetch_add(1, Ordering::Relaxed);
            let mut body = serde_json::json!({"expression": expression, "pageSize": page_size});
            if let Some(t) = &token {
                body["pageToken"] = Value::String(t.clone());
            }
            let v = self.send("table.computeFeatures", Method::POST, url.clone(), Some(&body), true).await?;
            match v.get("features") {
                Some(Value::Array(f)) => out.extend(f.iter().cloned()),
                None | Some(Value::Null) => {}
                Some(_) => {
                    return Err(EeError {
                        call: "table.computeFeatures",
                        problem: Problem::transport(
                            TransportKind::Body,
                            "unexpected response: `features` is not a list",
                        ),
                    })
                }
            }
            match v.get("nextPageToken").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// `value:compute`: the `result` an expression evaluates to.
    pub async fn compute_value(&self, expression: &Value) -> Result<Value, EeError> {
        self.counts.compute.fetch_add(1, Ordering::Relaxed);
        let url = self.url(&format!("{}/value:compute", self.project_path()));
        let body = serde_json::json!({ "expression": expression });
        let v = self.send("value.compute", Method::POST, url, Some(&body), true).await?;
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
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
        let policy =
            if retry { self.cfg.retry.clone() } else { RetryPolicy { max_attempts: 1, ..self.cfg.retry.clone() } };
        policy
            .run(
                || self.send_once(method.clone(), url.clone(), body),
                |attempt, problem, delay| {
                    self.counts.retries.fetch_add(1, Ordering::Relaxed);
                    let ms = delay.as_millis() as u64;
                    tracing::debug!(call, attempt, delay_ms = ms, error = %problem.summary(), "retrying");
                },
            )
            .await
            .map_err(|problem| EeError { call, problem })
    }

    async fn send_once(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Value, Problem> {
        let mut req = self
            .http
            .request(method, url)
            .header("X-Goog-User-Project", &self.cfg.project)
            .header("x-goog-api-client", http::USER_AGENT);
        if let Some(tok) = self.cfg.auth.token(&[EE_SCOPE]).await.map_err(|e| Problem::auth(&e))? {
            req = req.bearer_auth(tok.expose());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(Problem::from_reqwest)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(Problem::from_reqwest)?;
        if !status.is_success() {
            return Err(Problem::from_response(status.as_u16(), &headers, &bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Problem::transport(TransportKind::Body, &format!("response is not JSON: {e}")))
    }
}
