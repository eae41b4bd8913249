//! The HTTP side shared by the Earth Engine client and the downloads: one way to build the reqwest client
//! (ring for TLS, geepipe's user agent, timeouts), and one way to turn a response or a transport error
//! into a [`Problem`] (Google's error envelope, `Retry-After`, a missing OAuth scope), with any
//! token-shaped text in what the server said taken out.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::classify::{Problem, TransportKind};
use super::secret::redact;

/// geepipe's `User-Agent` (and `x-goog-api-client`).
pub const USER_AGENT: &str = concat!("geepipe/", env!("CARGO_PKG_VERSION"));

/// Installs ring as rustls' crypto provider (once per process; later calls are no-ops). reqwest is built
/// without a default provider; geepipe uses ring everywhere.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Timeouts of a client: the whole request (`None` for downloads of any size), connecting, and the
/// longest wait for the next bytes of a response.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub request: Option<Duration>,
    pub connect: Duration,
    pub read: Option<Duration>,
}

/// A reqwest client with geepipe's settings.
pub fn client(t: Timeouts) -> Result<reqwest::Client, Problem> {
    client_keeping(t, None)
}

/// [`client`] keeping at most `idle` unused connections per host (`None`: every one).
pub fn client_keeping(t: Timeouts, idle: Option<usize>) -> Result<reqwest::Client, Problem> {
    install_crypto();
    let mut b = reqwest::Client::builder().connect_timeout(t.connect).user_agent(USER_AGENT);
    if let Some(n) = idle {
        b = b.pool_max_idle_per_host(n);
    }
    if let Some(r) = t.request {
        b = b.timeout(r);
    }
    if let Some(r) = t.read {
        b = b.read_timeout(r);
    }
    b.build().map_err(|e| Problem::transport(TransportKind::Builder, &format!("cannot start the HTTP client: {e}")))
}

impl Problem {
    /// An error response: Google's envelope `{"error":{code,message,status,details[{reason}],
    /// errors[{reason}]}}` when there is one (else the start of the body), `Retry-After` (seconds), and
    /// whether a 403 is about a missing OAuth scope.
    pub fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> Problem {
        let v: Option<Value> = serde_json::from_slice(body).ok();
        let err = v.as_ref().and_then(|v| v.get("error"));
        let message = match err.and_then(|e| e.get("message")).and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => {
                let text = String::from_utf8_lossy(body);
                let t: String = text.trim().chars().take(300).collect();
                if t.is_empty() {
                    reqwest::StatusCode::from_u16(status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("")
                        .to_string()
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
        let header = |name: reqwest::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let text = v.as_ref().map(Value::to_string).unwrap_or_default();
        let insufficient_scope = status == 403
            && (header(reqwest::header::WWW_AUTHENTICATE).is_some_and(|w| w.contains("insufficient_scope"))
                || text.contains("ACCESS_TOKEN_SCOPE_INSUFFICIENT")
                || text.contains("insufficientPermissions")
                || message.to_ascii_lowercase().contains("insufficient authentication scopes"));
        Problem {
            http_status: Some(status),
            status: err.and_then(|e| e.get("status")).and_then(Value::as_str).map(redact),
            reason: reason.as_deref().map(redact),
            message: redact(&message),
            retry_after,
            insufficient_scope,
            ..Problem::default()
        }
    }

    /// A request that got no (complete) answer, from the reqwest error and its sources (pass
    /// `e.without_url()` when the URL may hold a credential).
    pub fn from_reqwest(e: reqwest::Error) -> Problem {
        let e = &e;
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
        let mut msg = e.to_string();
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
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        Problem::transport(kind, &msg)
    }

    /// No token could be had: an environment problem, fatal for the run (like HTTP 401).
    pub fn auth(e: &super::AuthError) -> Problem {
        Problem { http_status: Some(401), message: e.to_string(), ..Problem::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{classify, Class};

    #[test]
    fn error_envelope_is_read() {
        let body = br#"{"error":{"code":403,"message":"Quota","status":"PERMISSION_DENIED",
            "details":[{"@type":"x","reason":"rateLimitExceeded"}]}}"#;
        let p = Problem::from_response(403, &HeaderMap::new(), body);
        assert_eq!(p.http_status, Some(403));
        assert_eq!(p.status.as_deref(), Some("PERMISSION_DENIED"));
        assert_eq!(p.reason.as_deref(), Some("rateLimitExceeded"));
        assert_eq!(classify(&p), Class::Transient);
        let p = Problem::from_response(502, &HeaderMap::new(), b"<html>bad gateway</html>");
        assert_eq!(p.message, "<html>bad gateway</html>");
        assert_eq!(classify(&p), Class::Transient);
        assert_eq!(Problem::from_response(503, &HeaderMap::new(), b"").message, "Service Unavailable");
    }

    #[test]
    fn retry_after_scope_and_tokens_in_server_text() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        h.insert(reqwest::header::WWW_AUTHENTICATE, "Bearer error=\"insufficient_scope\"".parse().unwrap());
        let token = format!("ya29.{}", "x".repeat(60));
        let body = format!(r#"{{"error":{{"message":"bad token {token}"}}}}"#);
        let p = Problem::from_response(403, &h, body.as_bytes());
        assert_eq!(p.retry_after, Some(Duration::from_secs(7)));
        assert!(p.insufficient_scope);
        assert_eq!(p.message, "bad token ***");
        assert!(!p.summary().contains("ya29"));
    }
}
