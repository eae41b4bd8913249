//! What a failure means: ONE function ([`classify`]) over every outcome of every call (Earth Engine,
//! Cloud Storage, Drive) and every failed task.
//!
//! The HTTP clients retry [`Class::Transient`] failures of a request (see [`super::retry`]); the executor
//! acts on the [`Class`] of a failed call or task:
//! - [`Class::Transient`]: try again (same request id for a request, a new task for a failed task), bounded.
//! - [`Class::TooBig`]: the chunk asked for too much memory/time/pixels: split it in two and run both halves.
//! - [`Class::AlreadyExists`]: a submission with this request id was already accepted: look it up, never
//!   submit again.
//! - [`Class::Fatal`]: retrying cannot help. [`Scope::Run`] failures (missing asset, permission denied,
//!   exhausted quota, bad credentials, wrong project) would fail every other chunk the same way, so the
//!   executor stops submitting and reports the error once; [`Scope::Chunk`] failures (an invalid argument
//!   in one chunk's request) fail that chunk only.
//!
//! Daily EECU quota ("Custom quota exceeded: … daily_eecu_usage_time") is fatal for the run: the quota
//! resets only the next day, so waiting inside a run only burns time. Everything already submitted keeps
//! running; rerunning `geepipe run` later resumes the rest.
//!
//! Synchronous computations (`table:computeFeatures`, interactive mode) answer within Earth Engine's
//! 5-minute limit or not at all: when the client gives up waiting for one ([`Problem::computation`] with a
//! timeout) the request asked for too much, so it is [`Class::TooBig`] (split), not a network hiccup.
//!
//! Order of evaluation: transport errors (timeouts, resets, refused connections) are transient; then the
//! Earth Engine message text (most specific); then the google status string (`RESOURCE_EXHAUSTED` …); then
//! the HTTP status, or the `google.rpc.Code` of a failed task mapped to its HTTP equivalent.

use std::time::Duration;

use super::secret::redact;

/// How the executor should treat a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Transient,
    Fatal(Scope),
    TooBig,
    AlreadyExists,
}

/// How far a fatal failure reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only this chunk is affected.
    Chunk,
    /// Every chunk would fail the same way: stop submitting.
    Run,
}

/// How a request failed below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Timeout,
    Connect,
    /// Connection reset or closed mid-request.
    Reset,
    /// The response body could not be read or decoded (truncated, not JSON).
    Body,
    /// Building the request failed (a bug or a bad base URL).
    Builder,
}

/// Everything known about one failure, gathered by walking the error (HTTP status, google error envelope,
/// Earth Engine message text, transport error kind) or from a failed operation's `error`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Problem {
    pub http_status: Option<u16>,
    /// `google.rpc.Code` (from a failed operation).
    pub rpc_code: Option<i32>,
    /// Google status string, e.g. `RESOURCE_EXHAUSTED`.
    pub status: Option<String>,
    /// `details[].reason` / `errors[].reason`, e.g. `rateLimitExceeded`.
    pub reason: Option<String>,
    pub message: String,
    pub transport: Option<TransportKind>,
    /// `Retry-After` of the response, if any.
    pub retry_after: Option<Duration>,
    /// A 403 because the access token lacks an OAuth scope (signing in again with the scope fixes it).
    pub insufficient_scope: bool,
    /// The failure of a synchronous computation (`table:computeFeatures`): a timeout means too much work.
    pub computation: bool,
}

impl Problem {
    /// A failed task (`Operation.error`); token-shaped text in the server's message is taken out.
    pub fn task(code: i32, message: &str) -> Problem {
        Problem { rpc_code: Some(code), message: redact(message), ..Problem::default() }
    }

    /// An HTTP error response (tokens in the server's text taken out).
    pub fn http(status: u16, google_status: Option<&str>, message: &str) -> Problem {
        Problem {
            http_status: Some(status),
            status: google_status.map(redact),
            message: redact(message),
            ..Problem::default()
        }
    }

    /// A transport failure (tokens in the library's text taken out).
    pub fn transport(kind: TransportKind, message: &str) -> Problem {
        Problem { transport: Some(kind), message: redact(message), ..Problem::default() }
    }

    /// One line for people: `HTTP 403 PERMISSION_DENIED: message` / `task error 3: message`.
    pub fn summary(&self) -> String {
        let mut head = Vec::new();
        if let Some(s) = self.http_status {
            head.push(format!("HTTP {s}"));
        }
        if let Some(c) = self.rpc_code {
            head.push(format!("code {c}"));
        }
        if let Some(s) = &self.status {
            head.push(s.clone());
        }
        if let Some(t) = self.transport {
            head.push(format!("{t:?}").to_lowercase());
        }
        if head.is_empty() {
            self.message.clone()
        } else if self.message.is_empty() {
            head.join(" ")
        } else {
            format!("{}: {}", head.join(" "), self.message)
        }
    }
}

/// Earth Engine messages meaning "this chunk is too much work": split it.
const TOO_BIG: &[&str] = &[
    "user memory limit exceeded",
    "computation timed out",
    "too many pixels in the region",
    "computed value is too large",
    "request payload size exceeds",
    "request entity too large",
];

/// Messages meaning "try again later".
const TRANSIENT: &[&str] = &[
    "too many concurrent aggregations",
    "an internal error has occurred",
    "internal error",
    "rate limit exceeded",
    "ratelimitexceeded",
    "userratelimitexceeded",
    "backend error",
    "service unavailable",
    "please try again",
    "try again later",
];

/// Messages meaning every chunk would fail the same way.
const FATAL_RUN: &[&str] = &[
    "custom quota exceeded",
    "daily_eecu_usage_time",
    "permission denied",
    "does not have permission",
    "caller does not have",
    "not found",
    "does not exist",
    "not registered to use earth engine",
    "api has not been used",
    "is disabled",
];

/// The one classification function.
pub fn classify(p: &Problem) -> Class {
    if let Some(t) = p.transport {
        return match t {
            TransportKind::Builder => Class::Fatal(Scope::Run),
            TransportKind::Timeout if p.computation => Class::TooBig,
            _ => Class::Transient,
        };
    }
    let msg = p.message.to_lowercase();
    let reason = p.reason.as_deref().unwrap_or("").to_lowercase();
    if TOO_BIG.iter().any(|m| msg.contains(m)) {
        return Class::TooBig;
    }
    if FATAL_RUN[..2].iter().any(|m| msg.contains(m)) {
        return Class::Fatal(Scope::Run);
    }
    if TRANSIENT.iter().any(|m| msg.contains(m) || reason.contains(m)) {
        return Class::Transient;
    }
    if FATAL_RUN.iter().any(|m| msg.contains(m)) {
        return Class::Fatal(Scope::Run);
    }
    match p.status.as_deref() {
        Some("ALREADY_EXISTS") => return Class::AlreadyExists,
        Some("ABORTED") | Some("UNAVAILABLE") | Some("DEADLINE_EXCEEDED") | Some("INTERNAL") => {
            return Class::Transient
        }
        Some("RESOURCE_EXHAUSTED") => return Class::Transient,
        Some("PERMISSION_DENIED") | Some("UNAUTHENTICATED") | Some("NOT_FOUND") | Some("UNIMPLEMENTED") => {
            return Class::Fatal(Scope::Run)
        }
        Some("INVALID_ARGUMENT") | Some("FAILED_PRECONDITION") | Some("OUT_OF_RANGE") => {
            return Class::Fatal(Scope::Chunk)
        }
        _ => {}
    }
    let status = p.http_status.or_else(|| p.rpc_code.map(rpc_to_http));
    match status {
        Some(409) => Class::AlreadyExists,
        Some(413) => Class::TooBig,
        Some(408 | 429 | 500 | 502 | 503 | 504) => Class::Transient,
        Some(401 | 403 | 404 | 501 | 505) => Class::Fatal(Scope::Run),
        Some(s) if (500..600).contains(&s) => Class::Transient,
        Some(_) => Class::Fatal(Scope::Chunk),
        None => Class::Fatal(Scope::Chunk),
    }
}

/// `google.rpc.Code` → the HTTP status Google maps it to (ABORTED → 503: a conflict worth retrying).
pub fn rpc_to_http(code: i32) -> u16 {
    match code {
        0 => 200,
        1 => 499,
        2 => 500,
        3 => 400,
        4 => 504,
        5 => 404,
        6 => 409,
        7 => 403,
        8 => 429,
        9 => 400,
        10 => 503,
        11 => 400,
        12 => 501,
        13 => 500,
        14 => 503,
        15 => 500,
        16 => 401,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Class::*;

    #[test]
    fn every_http_status_handled() {
        let cases: &[(u16, Class)] = &[
            (400, Fatal(Scope::Chunk)),
            (401, Fatal(Scope::Run)),
            (402, Fatal(Scope::Chunk)),
            (403, Fatal(Scope::Run)),
            (404, Fatal(Scope::Run)),
            (405, Fatal(Scope::Chunk)),
            (408, Transient),
            (409, AlreadyExists),
            (410, Fatal(Scope::Chunk)),
            (412, Fatal(Scope::Chunk)),
            (413, TooBig),
            (422, Fatal(Scope::Chunk)),
            (429, Transient),
            (499, Fatal(Scope::Chunk)),
            (500, Transient),
            (501, Fatal(Scope::Run)),
            (502, Transient),
            (503, Transient),
            (504, Transient),
            (505, Fatal(Scope::Run)),
            (507, Transient),
            (520, Transient),
            (599, Transient),
        ];
        for &(status, want) in cases {
            assert_eq!(classify(&Problem::http(status, None, "")), want, "HTTP {status}");
        }
        // Every status in 400..600 gets a decision, and only 409 means "already exists".
        for s in 400..600u16 {
            let c = classify(&Problem::http(s, None, "something"));
            assert_eq!(c == AlreadyExists, s == 409, "HTTP {s}");
            if (500..600).contains(&s) && s != 501 && s != 505 {
                assert_eq!(c, Transient, "HTTP {s}");
            }
        }
    }

    #[test]
    fn every_earth_engine_message() {
        let cases: &[(u16, &str, Class)] = &[
            (400, "User memory limit exceeded.", TooBig),
            (400, "Computation timed out.", TooBig),
            (400, "Too many pixels in the region. Specified: 2000000000, maximum allowed: 1e8", TooBig),
            (400, "Computed value is too large.", TooBig),
            (400, "Request payload size exceeds the limit: 10485760 bytes.", TooBig),
            (400, "Too many concurrent aggregations.", Transient),
            (500, "An internal error has occurred (request: 1234).", Transient),
            (
                429,
                "Custom quota exceeded: earthengine.googleapis.com/daily_eecu_usage_time for project p",
                Fatal(Scope::Run),
            ),
            (400, "Image.load: Image asset 'projects/x/assets/missing' not found.", Fatal(Scope::Run)),
            (404, "Requested entity was not found.", Fatal(Scope::Run)),
            (403, "Permission denied on resource project p.", Fatal(Scope::Run)),
            (403, "The caller does not have permission", Fatal(Scope::Run)),
            (400, "Invalid value at 'expression'", Fatal(Scope::Chunk)),
            (429, "Too many requests", Transient),
            (503, "The service is currently unavailable.", Transient),
        ];
        for &(status, msg, want) in cases {
            assert_eq!(classify(&Problem::http(status, None, msg)), want, "HTTP {status} {msg}");
        }
        // The same messages as failed tasks (rpc codes), as Earth Engine reports them in operations.
        let tasks: &[(i32, &str, Class)] = &[
            (3, "User memory limit exceeded.", TooBig),
            (4, "Computation timed out.", TooBig),
            (3, "Too many pixels in the region.", TooBig),
            (3, "Computed value is too large.", TooBig),
            (8, "Too many concurrent aggregations.", Transient),
            (13, "An internal error has occurred.", Transient),
            (8, "Custom quota exceeded: earthengine.googleapis.com/daily_eecu_usage_time", Fatal(Scope::Run)),
            (5, "Collection.loadTable: Table asset not found", Fatal(Scope::Run)),
            (7, "Permission denied.", Fatal(Scope::Run)),
            (3, "Invalid GeoJSON geometry.", Fatal(Scope::Chunk)),
            (14, "", Transient),
            (13, "", Transient),
            (4, "", Transient),
            (6, "", AlreadyExists),
            (16, "", Fatal(Scope::Run)),
        ];
        for &(code, msg, want) in tasks {
            assert_eq!(classify(&Problem::task(code, msg)), want, "task code {code} {msg}");
        }
    }

    #[test]
    fn status_strings_reasons_and_transport() {
        assert_eq!(classify(&Problem::http(409, Some("ALREADY_EXISTS"), "exists")), AlreadyExists);
        assert_eq!(classify(&Problem::http(409, Some("ABORTED"), "conflict")), Transient);
        assert_eq!(classify(&Problem::http(429, Some("RESOURCE_EXHAUSTED"), "Quota exceeded for x")), Transient);
        assert_eq!(classify(&Problem::http(400, Some("FAILED_PRECONDITION"), "")), Fatal(Scope::Chunk));
        let rate = Problem { reason: Some("rateLimitExceeded".into()), ..Problem::http(403, None, "Forbidden") };
        assert_eq!(classify(&rate), Transient);
        for k in [TransportKind::Timeout, TransportKind::Connect, TransportKind::Reset, TransportKind::Body] {
            assert_eq!(classify(&Problem::transport(k, "connection reset by peer")), Transient, "{k:?}");
        }
        assert_eq!(classify(&Problem::transport(TransportKind::Builder, "bad url")), Fatal(Scope::Run));
        // A synchronous computation the client stopped waiting for asked for too much: split it.
        let slow = Problem { computation: true, ..Problem::transport(TransportKind::Timeout, "operation timed out") };
        assert_eq!(classify(&slow), TooBig);
        let reset = Problem { computation: true, ..Problem::transport(TransportKind::Reset, "reset") };
        assert_eq!(classify(&reset), Transient);
        let busy = Problem {
            computation: true,
            ..Problem::http(429, Some("RESOURCE_EXHAUSTED"), "Too many concurrent aggregations.")
        };
        assert_eq!(classify(&busy), Transient);
        let timed_out =
            Problem { computation: true, ..Problem::http(400, Some("INVALID_ARGUMENT"), "Computation timed out.") };
        assert_eq!(classify(&timed_out), TooBig);
    }

    #[test]
    fn summary_is_one_line() {
        assert_eq!(Problem::http(403, Some("PERMISSION_DENIED"), "no").summary(), "HTTP 403 PERMISSION_DENIED: no");
        assert_eq!(Problem::task(3, "User memory limit exceeded.").summary(), "code 3: User memory limit exceeded.");
    }
}
