//! A man in the middle for tests that need a *wrong* request on the wire without a backdoor in geepipe:
//! an axum proxy on 127.0.0.1 that forwards every request to the fake Earth Engine after rewriting the
//! JSON body's expression with a mutation (e.g. a renamed `groupName`), standing in for a planner bug.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

/// Rewrites an expression's `values` in place.
pub type Mutation = Arc<dyn Fn(&mut Map<String, Value>) + Send + Sync>;

/// A running proxy; stops when dropped (its thread's runtime ends with the test process).
pub struct Proxy {
    pub url: String,
}

struct Ctx {
    target: String,
    mutation: Mutation,
    client: reqwest::Client,
}

async fn forward(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let bytes = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut v) => {
            if let Some(values) = v.pointer_mut("/expression/values").and_then(Value::as_object_mut) {
                (ctx.mutation)(values);
            }
            serde_json::to_vec(&v).unwrap_or_default()
        }
        Err(_) => bytes.to_vec(),
    };
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut out = ctx.client.request(parts.method.clone(), format!("{}{path}", ctx.target));
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    match out.body(bytes).send().await {
        Ok(r) => {
            let status = r.status();
            let ct = r.headers().get("content-type").cloned();
            let body = r.bytes().await.unwrap_or_default();
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = status;
            if let Some(ct) = ct {
                resp.headers_mut().insert("content-type", ct);
            }
            resp
        }
        Err(_) => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            resp
        }
    }
}

impl Proxy {
    /// Starts a proxy to `target` (a base URL) applying `mutation` to every request's expression.
    pub fn start(target: &str, mutation: Mutation) -> Proxy {
        geepipe::net::install_crypto();
        let ctx = Arc::new(Ctx {
            target: target.trim_end_matches('/').to_string(),
            mutation,
            client: reqwest::Client::new(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(forward).with_state(ctx);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Proxy { url: format!("http://{addr}") }
    }
}

/// Follows `valueReference`s to the node they name.
fn resolve<'a>(values: &'a Map<String, Value>, mut node: &'a Value) -> &'a Value {
    while let Some(k) = node.get("valueReference").and_then(Value::as_str) {
        match values.get(k) {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}

/// A visit of one call's arguments, given the graph's values as they were before the mutation.
type Visit<'a> = &'a mut dyn FnMut(&Map<String, Value>, &mut Map<String, Value>);

/// Calls `f` on the arguments of every `functionInvocationValue` of `function` in the graph.
fn visit(values: &mut Map<String, Value>, function: &str, f: Visit<'_>) {
    let snapshot = values.clone();
    fn walk(node: &mut Value, function: &str, snapshot: &Map<String, Value>, f: Visit<'_>) {
        match node {
            Value::Object(o) => {
                if let Some(inv) = o.get_mut("functionInvocationValue") {
                    if inv.get("functionName").and_then(Value::as_str) == Some(function) {
                        if let Some(args) = inv.get_mut("arguments").and_then(Value::as_object_mut) {
                            f(snapshot, args);
                        }
                    }
                }
                for (k, v) in o.iter_mut() {
                    if k != "constantValue" {
                        walk(v, function, snapshot, f);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| walk(v, function, snapshot, f)),
            _ => {}
        }
    }
    for v in values.values_mut() {
        walk(v, function, &snapshot, f);
    }
}

/// The planner bug "a renamed `groupName`": every `Reducer.group` names its key `klass` while the cells
/// still read `class`.
pub fn rename_group_name() -> Mutation {
    Arc::new(|values| {
        visit(values, "Reducer.group", &mut |_, args| {
            args.insert("groupName".into(), json!({"constantValue": "klass"}));
        })
    })
}

/// The planner bug "the reducer's outputs are named differently from what the cells read": every
/// `Reducer.forEach` over a `Reducer.group` appends `_x` to its output names, so the map finds no groups
/// and writes `{}` everywhere — the silent empty table.
pub fn rename_group_outputs() -> Mutation {
    Arc::new(|values| {
        visit(values, "Reducer.forEach", &mut |snapshot, args| {
            let Some(inner) = args.get("reducer") else { return };
            let inner = resolve(snapshot, inner);
            let is_group =
                inner.pointer("/functionInvocationValue/functionName").and_then(Value::as_str) == Some("Reducer.group");
            let Some(names) = args.get("outputNames") else { return };
            let names: Vec<String> = match resolve(snapshot, names) {
                Value::Object(o) if o.contains_key("constantValue") => o["constantValue"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                Value::Object(o) => o
                    .get("arrayValue")
                    .and_then(|a| a.get("values"))
                    .and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| {
                                resolve(snapshot, i).get("constantValue").and_then(Value::as_str).map(String::from)
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            if is_group && !names.is_empty() {
                let renamed: Vec<String> = names.iter().map(|n| format!("{n}_x")).collect();
                args.insert("outputNames".into(), json!({ "constantValue": renamed }));
            }
        })
    })
}
