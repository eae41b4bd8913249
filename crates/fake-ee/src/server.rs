//! The HTTP face: Earth Engine v1 paths, authentication, strict request checks, Google error envelopes,
//! and request faults (including closing a connection without an answer).
//!
//! Connections are served by hand (hyper HTTP/1.1) rather than `axum::serve` so a handler can make its
//! connection close without any response: that is what "dropped connection" and "lost response"
//! faults need.
//!
//! This file is a little over 600 lines: every route shares the authentication, strict checks and fault
//! handling written here, and reads best beside them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ee_contract::Contract;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use crate::config::{FaultAction, Route, UserProject};
use crate::eval::{self, EvalError, V};
use crate::sim::{ApiError, Rejection, State};

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub contract: Contract,
    pub shutdown: watch::Sender<bool>,
    /// Synchronous computations in flight.
    pub computing: AtomicUsize,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the simulation up to the current virtual time, uploading files of tasks that finished
    /// (blocking; call from a blocking context).
    pub fn tick_blocking(&self) {
        let jobs = {
            let mut st = self.lock();
            let now = st.now();
            st.simulate(now)
        };
        for job in jobs {
            let result = job.run();
            self.lock().finish_job(job.seq(), job.end(), result);
        }
    }
}

async fn tick(shared: &Arc<Shared>) {
    let has_jobs = {
        let mut st = shared.lock();
        let now = st.now();
        let jobs = st.simulate(now);
        if jobs.is_empty() {
            None
        } else {
            Some(jobs)
        }
    };
    if let Some(jobs) = has_jobs {
        let sh = shared.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for job in jobs {
                let result = job.run();
                sh.lock().finish_job(job.seq(), job.end(), result);
            }
        })
        .await;
    }
}

/// Closes the request's connection when notified.
#[derive(Clone)]
pub(crate) struct Killer(pub Arc<Notify>);

/// Serves connections until shutdown.
pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let router = Router::new().fallback(dispatch).with_state(shared.clone());
    let mut stop = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        let router = router.clone();
        let mut stop = shared.shutdown.subscribe();
        tokio::spawn(async move {
            let killer = Arc::new(Notify::new());
            let k = killer.clone();
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Killer(k.clone()));
                let mut router = router.clone();
                async move {
                    use tower_service::Service;
                    router.call(req.map(Body::new)).await
                }
            });
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = killer.notified() => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// The Google error envelope.
pub(crate) fn error(http: u16, status: &str, message: &str) -> Response {
    let code = StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error": {"code": http, "message": message, "status": status}});
    (code, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body.to_string()).into_response()
}

fn ok(v: &Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], v.to_string()).into_response()
}

fn api_error(e: &ApiError) -> Response {
    error(e.http, e.status, &e.message)
}

/// (route, project, operation id) of a path.
fn route_of(method: &Method, path: &str) -> (Route, String, Option<String>) {
    let unknown = (Route::Unknown, String::new(), None);
    let Some(rest) = path.strip_prefix("/v1/projects/") else { return unknown };
    let (project, tail) = match rest.split_once('/') {
        Some((p, t)) => (p.to_string(), t),
        None => return unknown,
    };
    if project.is_empty() {
        return unknown;
    }
    let route = match (method, tail) {
        (&Method::POST, "table:export") => Route::TableExport,
        (&Method::POST, "image:export") => Route::ImageExport,
        (&Method::POST, "classifier:export") => Route::ClassifierExport,
        (&Method::POST, "table:computeFeatures") => Route::ComputeFeatures,
        (&Method::POST, "value:compute") => Route::ComputeValue,
        (&Method::GET, "operations") => Route::OperationList,
        _ => {
            let Some(op) = tail.strip_prefix("operations/").filter(|o| !o.is_empty()) else { return unknown };
            let (id, verb) = match op.rsplit_once(':') {
                Some((id, verb)) => (id, Some(verb)),
                None => (op, None),
            };
            if id.contains('/') || id.is_empty() {
                return unknown;
            }
            let route = match (method, verb) {
                (&Method::GET, None) => Route::OperationGet,
                (&Method::DELETE, None) => Route::OperationDelete,
                (&Method::POST, Some("cancel")) => Route::OperationCancel,
                (&Method::POST, Some("wait")) => Route::OperationWait,
                _ => return unknown,
            };
            return (route, project, Some(id.to_string()));
        }
    };
    (route, project, None)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

const STANDARD_PARAMS: [&str; 11] = [
    "$.xgafv",
    "access_token",
    "alt",
    "callback",
    "fields",
    "key",
    "oauth_token",
    "prettyPrint",
    "quotaUser",
    "uploadType",
    "upload_protocol",
];

fn method_id(route: Route) -> &'static str {
    match route {
        Route::TableExport => "earthengine.projects.table.export",
        Route::ImageExport => "earthengine.projects.image.export",
        Route::ClassifierExport => "earthengine.projects.classifier.export",
        Route::OperationCancel => "earthengine.projects.operations.cancel",
        Route::OperationWait => "earthengine.projects.operations.wait",
        Route::ComputeFeatures => "earthengine.projects.table.computeFeatures",
        Route::ComputeValue => "earthengine.projects.value.compute",
        _ => "",
    }
}

fn reject(shared: &Shared, route: Route, http: u16, status: &str, message: String) -> Response {
    shared.lock().counters.rejections.push(Rejection { route, status: http, message: message.clone() });
    error(http, status, &message)
}

fn check_auth(shared: &Shared, headers: &HeaderMap, project: &str) -> Result<(), (u16, &'static str, String)> {
    let (expected, user_project) = {
        let st = shared.lock();
        (st.config.token.clone(), st.config.user_project)
    };
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let token = auth.strip_prefix("Bearer ").map(str::trim).unwrap_or_default();
    let valid = !token.is_empty() && expected.as_deref().is_none_or(|e| e == token);
    if !valid {
        return Err((
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or \
             other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
                .into(),
        ));
    }
    let header_project = headers.get("x-goog-user-project").and_then(|v| v.to_str().ok());
    let mismatch = match (user_project, header_project) {
        (UserProject::Ignore, _) => None,
        (UserProject::Required, None) => Some("(none)".to_string()),
        (_, Some(h)) if h != project => Some(h.to_string()),
        _ => None,
    };
    if let Some(h) = mismatch {
        return Err((
            403,
            "PERMISSION_DENIED",
            format!(
                "X-Goog-User-Project `{h}` does not match the project in the path `{project}`: caller does not have \
                 required permission to use project {h}."
            ),
        ));
    }
    Ok(())
}

async fn dispatch(AxumState(shared): AxumState<Arc<Shared>>, req: Request) -> Response {
    let killer = req.extensions().get::<Killer>().cloned();
    let (parts, body) = req.into_parts();
    let (route, project, op_id) = route_of(&parts.method, parts.uri.path());
    *shared.lock().counters.requests.entry(route).or_default() += 1;
    if route == Route::Unknown {
        let msg = format!("Method not found: {} {}", parts.method, parts.uri.path());
        return reject(&shared, route, 404, "NOT_FOUND", msg);
    }
    if let Err((http, status, msg)) = check_auth(&shared, &parts.headers, &project) {
        return reject(&shared, route, http, status, msg);
    }
    let query = query_pairs(parts.uri.query());
    let mut page_size: Option<usize> = None;
    let mut page_token: Option<String> = None;
    for (k, v) in &query {
        let method_param = route == Route::OperationList && matches!(k.as_str(), "pageSize" | "pageToken" | "filter");
        if !STANDARD_PARAMS.contains(&k.as_str()) && !method_param {
            let msg = format!(
                "Invalid JSON payload received. Unknown name \"{k}\": Cannot bind query parameter. Field '{k}' could \
                 not be found in request message."
            );
            return reject(&shared, route, 400, "INVALID_ARGUMENT", msg);
        }
        match k.as_str() {
            "pageSize" => match v.parse::<i64>() {
                Ok(n) if n > 0 => page_size = Some(n as usize),
                Ok(_) => page_size = None,
                Err(_) => {
                    let msg = format!("Invalid value at 'page_size' (TYPE_INT32), \"{v}\"");
                    return reject(&shared, route, 400, "INVALID_ARGUMENT", msg);
                }
            },
            "pageToken" => page_token = Some(v.clone()),
            _ => {}
        }
    }
    let max_body = shared.lock().config.max_body_bytes;
    let bytes = match axum::body::to_bytes(body, max_body.saturating_mul(4).max(1 << 20)).await {
        Ok(b) => b,
        Err(_) => {
            let msg = format!("Request payload size exceeds the limit: {max_body} bytes.");
            return reject(&shared, route, 400, "INVALID_ARGUMENT", msg);
        }
    };
    if bytes.len() > max_body {
        let msg = format!("Request payload size exceeds the limit: {max_body} bytes.");
        return reject(&shared, route, 400, "INVALID_ARGUMENT", msg);
    }
    let body: Option<Value> = if parts.method == Method::POST {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Some(json!({}))
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => Some(v),
                Err(e) => {
                    let msg = format!("Invalid JSON payload received. {e}");
                    return reject(&shared, route, 400, "INVALID_ARGUMENT", msg);
                }
            }
        }
    } else {
        None
    };
    let request_id = body.as_ref().and_then(|b| b.get("requestId")).and_then(Value::as_str).map(str::to_string);

    // Request faults.
    let fault = {
        let mut st = shared.lock();
        let hit = st.request_faults.iter().position(|f| {
            f.times > 0
                && f.route.matches(route)
                && f.request_id.as_ref().is_none_or(|id| Some(id) == request_id.as_ref())
        });
        hit.map(|i| {
            st.request_faults[i].times -= 1;
            st.counters.faults_fired += 1;
            let action = st.request_faults[i].action.clone();
            if st.request_faults[i].times == 0 {
                st.request_faults.remove(i);
            }
            action
        })
    };
    let mut lose_response = false;
    match fault {
        Some(FaultAction::Status { status, retry_after }) => {
            let (name, msg) = match status {
                429 => ("RESOURCE_EXHAUSTED", "Too many concurrent requests; retry later."),
                500 => ("INTERNAL", "Internal error encountered."),
                502 => ("UNAVAILABLE", "Bad gateway."),
                503 => ("UNAVAILABLE", "The service is currently unavailable."),
                504 => ("DEADLINE_EXCEEDED", "Deadline exceeded."),
                403 => ("PERMISSION_DENIED", "Quota exceeded (rateLimitExceeded)."),
                _ => ("UNKNOWN", "Injected failure."),
            };
            let mut resp = error(status, name, msg);
            if let Some(secs) = retry_after {
                if let Ok(v) = secs.to_string().parse() {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            return resp;
        }
        Some(FaultAction::EchoAuthorization { status }) => {
            let header = parts.headers.get(header::AUTHORIZATION).map(|v| String::from_utf8_lossy(v.as_bytes()));
            let header = header.unwrap_or_default();
            let token = header.strip_prefix("Bearer ").unwrap_or(&header).trim();
            let name = match status {
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                500 => "INTERNAL",
                _ => "UNKNOWN",
            };
            let msg = format!(
                "Request had invalid authentication credentials (received `Authorization: {header}`). The token \
                 {token} is not valid here."
            );
            return error(status, name, &msg);
        }
        Some(FaultAction::Drop) => return kill(killer).await,
        Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultAction::Advance(d)) => {
            shared.lock().add_offset(d);
            tick(&shared).await;
        }
        Some(FaultAction::LoseResponse) => lose_response = true,
        None => {}
    }

    // Strict body checks.
    if let Some(b) = &body {
        let mut violations = shared.contract.check_request(method_id(route), b);
        if route.is_compute() {
            match b.get("expression") {
                None => violations.push(ee_contract::Violation {
                    path: "/expression".into(),
                    message: "required field missing".into(),
                }),
                Some(e) => violations.extend(
                    shared
                        .contract
                        .check_expression(e)
                        .into_iter()
                        .map(|v| ee_contract::Violation { path: format!("/expression{}", v.path), message: v.message }),
                ),
            }
        }
        if !violations.is_empty() {
            let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
            let msg = format!("Invalid request body: {}", list.join("; "));
            return reject(&shared, route, 400, "INVALID_ARGUMENT", msg);
        }
        if route.is_export() {
            if let Some(d) = b.pointer("/fileExportOptions/cloudStorageDestination") {
                if d.get("bucket").and_then(Value::as_str).is_none_or(str::is_empty) {
                    let msg =
                        "Invalid request body: /fileExportOptions/cloudStorageDestination/bucket: a bucket is required"
                            .to_string();
                    return reject(&shared, route, 400, "INVALID_ARGUMENT", msg);
                }
            }
        }
    }

    tick(&shared).await;
    let name = op_id.as_ref().map(|id| format!("projects/{project}/operations/{id}"));
    let response = match route {
        Route::TableExport | Route::ImageExport | Route::ClassifierExport => {
            let mut body = body.unwrap_or_default();
            let evaluate = shared.lock().config.evaluate_exports || route != Route::TableExport;
            let evaluated = if evaluate {
                let expression = body.get("expression").cloned().unwrap_or_default();
                tokio::task::spawn_blocking(move || eval::evaluate(&expression, None))
                    .await
                    .unwrap_or_else(|e| Err(EvalError::new(format!("The evaluation crashed: {e}"))))
            } else {
                // Not evaluated (`Config::evaluate_exports`): an export without a result, its expression dropped.
                if let Some(o) = body.as_object_mut() {
                    o.remove("expression");
                }
                Ok(V::Features(Default::default()))
            };
            let mut st = shared.lock();
            match st.submit(&project, route, body, evaluated) {
                Ok((seq, _)) => ok(&st.render(seq)),
                Err(e) => {
                    drop(st);
                    api_error(&e)
                }
            }
        }
        Route::OperationGet | Route::OperationCancel | Route::OperationDelete | Route::OperationWait => {
            let found = shared.lock().find(name.as_deref().unwrap_or_default());
            match found {
                None => error(404, "NOT_FOUND", "Requested entity was not found."),
                Some(seq) => match route {
                    Route::OperationGet => ok(&shared.lock().render(seq)),
                    // Cancelling a finished operation is refused (not a 404: the operation exists).
                    Route::OperationCancel => {
                        let accepted = {
                            let mut st = shared.lock();
                            st.cancel(seq) || !st.is_done(seq)
                        };
                        if accepted {
                            ok(&json!({}))
                        } else {
                            let msg = "Operation has already finished and cannot be cancelled.";
                            reject(&shared, route, 400, "FAILED_PRECONDITION", msg.to_string())
                        }
                    }
                    Route::OperationDelete => {
                        if shared.lock().delete(seq) {
                            ok(&json!({}))
                        } else {
                            error(400, "FAILED_PRECONDITION", "The operation is not done yet.")
                        }
                    }
                    _ => wait(&shared, seq, body.as_ref()).await,
                },
            }
        }
        Route::OperationList => {
            let mut st = shared.lock();
            st.counters.list_calls += 1;
            match st.list(&project, page_size.unwrap_or(100), page_token.as_deref()) {
                Ok(v) => ok(&v),
                Err(e) => api_error(&e),
            }
        }
        Route::ComputeFeatures | Route::ComputeValue => compute(&shared, route, body.unwrap_or_default()).await,
        Route::Unknown => error(404, "NOT_FOUND", "Method not found."),
    };
    if lose_response {
        return kill(killer).await;
    }
    response
}

/// Releases a computation slot when dropped.
struct Slot<'a>(&'a Shared);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.computing.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `table:computeFeatures` and `value:compute`: evaluate now, within the concurrency and time limits.
async fn compute(shared: &Arc<Shared>, route: Route, body: Value) -> Response {
    let (latency, per_feature, limit, max) = {
        let st = shared.lock();
        let c = &st.config;
        (c.compute_latency, c.compute_latency_per_feature, c.compute_time_limit, c.compute_concurrency)
    };
    let in_flight = shared.computing.fetch_add(1, Ordering::SeqCst) + 1;
    let _slot = Slot(shared);
    if in_flight > max {
        return reject(shared, route, 429, "RESOURCE_EXHAUSTED", "Too many concurrent aggregations.".into());
    }
    {
        let mut st = shared.lock();
        st.counters.max_computing = st.counters.max_computing.max(in_flight);
    }
    if latency >= limit {
        tokio::time::sleep(limit).await;
        return reject(shared, route, 400, "INVALID_ARGUMENT", "Computation timed out.".into());
    }
    tokio::time::sleep(latency).await;
    let deadline = Instant::now() + (limit - latency);
    let expression = body.get("expression").cloned().unwrap_or_default();
    let evaluated = tokio::task::spawn_blocking(move || eval::evaluate(&expression, Some(deadline)))
        .await
        .unwrap_or_else(|e| Err(EvalError::new(format!("The evaluation crashed: {e}"))));
    let value = match evaluated {
        Ok(v) => v,
        Err(e) => return reject(shared, route, 400, "INVALID_ARGUMENT", e.message),
    };
    if route == Route::ComputeValue {
        return ok(&json!({"result": value.to_json()}));
    }
    let V::Features(features) = value else {
        let msg = format!("table:computeFeatures needs a FeatureCollection, not a {}.", value.type_name());
        return reject(shared, route, 400, "INVALID_ARGUMENT", msg);
    };
    // The modelled work grows with the features computed: when latency + work reaches the time limit the
    // request times out (decided from the model alone, so the host's speed does not change the answer).
    let work = per_feature.saturating_mul(u32::try_from(features.len()).unwrap_or(u32::MAX));
    if !work.is_zero() {
        if latency + work >= limit {
            tokio::time::sleep(deadline.saturating_duration_since(Instant::now())).await;
            return reject(shared, route, 400, "INVALID_ARGUMENT", "Computation timed out.".into());
        }
        tokio::time::sleep(work).await;
    }
    let page = body.get("pageSize").and_then(Value::as_i64).filter(|n| *n > 0).unwrap_or(1000) as usize;
    let fingerprint = format!("{:016x}", crate::world::hash(&[&body["expression"].to_string()]));
    let start = match body.get("pageToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => match t.strip_prefix(&format!("{fingerprint}-")).and_then(|o| o.parse::<usize>().ok()) {
            Some(o) if o <= features.len() => o,
            _ => {
                let msg = format!("Invalid pageToken `{t}`: it was not issued for this expression.");
                return reject(shared, route, 400, "INVALID_ARGUMENT", msg);
            }
        },
    };
    let end = (start + page).min(features.len());
    shared.lock().computed.push(body.clone());
    let mut items: Vec<Value> = features[start..end]
        .iter()
        .map(|f| {
            let props: serde_json::Map<String, Value> = f
                .props
                .iter()
                .filter(|(k, _)| !k.starts_with("system:"))
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            let geometry = f.geometry.as_ref().map(|g| g.to_geojson()).unwrap_or(Value::Null);
            json!({"type": "Feature", "geometry": geometry, "properties": props})
        })
        .collect();
    shared.lock().damage_answer(&mut items);
    let mut out = json!({"type": "FeatureCollection", "features": items});
    if end < features.len() {
        out["nextPageToken"] = json!(format!("{fingerprint}-{end}"));
    }
    ok(&out)
}

async fn wait(shared: &Arc<Shared>, seq: usize, body: Option<&Value>) -> Response {
    let timeout = body
        .and_then(|b| b.get("timeout"))
        .and_then(Value::as_str)
        .and_then(|t| t.strip_suffix('s'))
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(60.0)
        .clamp(0.0, 600.0);
    let scale = match shared.lock().config.clock {
        crate::config::Clock::Scaled(f) if f > 0.0 => f,
        _ => f64::INFINITY,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64((timeout / scale).min(60.0));
    loop {
        tick(shared).await;
        if shared.lock().is_done(seq) || tokio::time::Instant::now() >= deadline {
            return ok(&shared.lock().render(seq));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn kill(killer: Option<Killer>) -> Response {
    match killer {
        Some(k) => {
            k.0.notify_one();
            std::future::pending::<Response>().await
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, Body::empty()).into_response(),
    }
}
