//! Shared helpers for the fake's tests: a blocking client, request bodies that fit the contract, and
//! schema checks of the fake's own answers.
#![allow(dead_code)]

use std::time::Duration;

use ee_contract::Contract;
use fake_ee::{http1, Config, FakeEe};
use serde_json::{json, Value};

pub const TOKEN: &str = "test-token";
pub const PROJECT: &str = "demo-project";

pub fn contract() -> &'static Contract {
    static CONTRACT: std::sync::OnceLock<Contract> = std::sync::OnceLock::new();
    CONTRACT.get_or_init(|| {
        Contract::from_dir(&fake_ee::default_reference_dir().expect("reference folder")).expect("contract loads")
    })
}

/// A fake on its own thread, manual clock, tasks of 30 virtual seconds, expecting [`TOKEN`].
pub fn start(mut config: Config) -> FakeEe {
    if config.token.is_none() {
        config.token = Some(TOKEN.into());
    }
    FakeEe::start_blocking(config).expect("fake starts")
}

pub fn manual() -> Config {
    Config::manual(Duration::from_secs(30))
}

/// An answer: status, JSON body, headers.
pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub response: http1::Response,
}

pub fn call(ee: &FakeEe, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Answer> {
    call_with(
        ee,
        method,
        path,
        body,
        &[("Authorization", &format!("Bearer {TOKEN}")), ("X-Goog-User-Project", PROJECT)],
    )
}

pub fn call_with(
    ee: &FakeEe,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> std::io::Result<Answer> {
    let mut hs: Vec<(&str, &str)> = headers.to_vec();
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    if body.is_some() {
        hs.push(("Content-Type", "application/json"));
    }
    let response = http1::request(method, &format!("{}{path}", ee.base_url()), &hs, bytes.as_bytes())?;
    let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    Ok(Answer { status: response.status, json, response })
}

pub fn export(ee: &FakeEe, body: &Value) -> Answer {
    call(ee, "POST", &format!("/v1/projects/{PROJECT}/table:export"), Some(body)).expect("answer")
}

pub fn get_op(ee: &FakeEe, name: &str) -> Value {
    let a = call(ee, "GET", &format!("/v1/{name}"), None).expect("answer");
    assert_eq!(a.status, 200, "{}", a.json);
    assert_operation(&a.json);
    a.json
}

pub fn state(op: &Value) -> &str {
    op["metadata"]["state"].as_str().unwrap_or_default()
}

/// Checks an Operation against the discovery schema, its metadata against OperationMetadata, and the
/// proto3 JSON conventions (done only when terminal; error xor response).
pub fn assert_operation(op: &Value) {
    let c = contract();
    let v = c.check_schema("Operation", op);
    assert!(v.is_empty(), "{v:?} in {op}");
    let mut meta = op["metadata"].clone();
    assert_eq!(meta["@type"], "type.googleapis.com/google.earthengine.v1.OperationMetadata");
    meta.as_object_mut().unwrap().remove("@type");
    let v = c.check_schema("OperationMetadata", &meta);
    assert!(v.is_empty(), "{v:?} in {op}");
    let terminal = matches!(state(op), "SUCCEEDED" | "FAILED" | "CANCELLED");
    assert_eq!(op.get("done").is_some(), terminal, "done only when terminal: {op}");
    if terminal {
        assert_eq!(op["done"], true);
        assert!(op.get("error").is_some() != op.get("response").is_some(), "{op}");
    }
    let name = op["name"].as_str().unwrap();
    let id = name.strip_prefix(&format!("projects/{PROJECT}/operations/")).expect("name in project");
    assert_eq!(id.len(), 24, "{name}");
    assert!(id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{name}");
}

/// The MapBiomas asset of the official clients' captured zonal expressions.
pub const MAPBIOMAS: &str =
    "projects/mapbiomas-public/assets/brazil/lulc/collection9/mapbiomas_collection90_integration_v1";

/// A table export that fits the contract: inline features with `site_id` and `name` (right triangles of 0.005°
/// at x = −48 + 0.01·i, y = −15), a frequency histogram of MapBiomas 2020 at 30 m (the captured
/// official-client expression), CSV to Cloud Storage.
pub fn table_body(request_id: &str, sites: &[&str], selectors: &[&str]) -> Value {
    let features: Vec<Value> = sites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let x = -48.0 + i as f64 * 0.01;
            json!({"functionInvocationValue": {"functionName": "Feature", "arguments": {
                "geometry": {"functionInvocationValue": {"functionName": "GeometryConstructors.Polygon", "arguments": {
                    "coordinates": {"constantValue": [[[x, -15.0], [x + 0.005, -15.0], [x + 0.005, -15.005], [x, -15.0]]]},
                    "evenOdd": {"constantValue": true}}}},
                "metadata": {"constantValue": {"site_id": s, "name": format!("Site, \"{s}\"")}}}}})
        })
        .collect();
    let mut body = json!({
        "expression": {"result": "0", "values": {"0": {"functionInvocationValue": {
            "functionName": "Image.reduceRegions", "arguments": {
                "collection": {"functionInvocationValue": {"functionName": "Collection", "arguments": {
                    "features": {"arrayValue": {"values": features}}}}},
                "image": {"functionInvocationValue": {"functionName": "Image.select", "arguments": {
                    "input": {"functionInvocationValue": {"functionName": "Image.load", "arguments": {
                        "id": {"constantValue": MAPBIOMAS}}}},
                    "bandSelectors": {"constantValue": ["classification_2020"]}}}},
                "reducer": {"functionInvocationValue": {"functionName": "Reducer.frequencyHistogram", "arguments": {}}},
                "scale": {"constantValue": 30}}}}}},
        "description": format!("chunk {request_id}"),
        "fileExportOptions": {"fileFormat": "CSV", "cloudStorageDestination": {"bucket": "results", "filenamePrefix": format!("run/{request_id}")}},
        "requestId": request_id,
    });
    if !selectors.is_empty() {
        body["selectors"] = json!(selectors);
    }
    body
}

/// A captured body of the official JavaScript client (bare numbers: fits the contract).
pub fn captured_js(name: &str) -> Value {
    let path = fake_ee::default_reference_dir().unwrap().join("captured/js").join(name);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.get("body").cloned().unwrap_or(v)
}
