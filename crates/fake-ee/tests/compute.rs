//! The synchronous endpoints: `table:computeFeatures` (pages of evaluated features, answers that fit the
//! discovery schema) and `value:compute`, with the fake's concurrency limit (429), time limit and latency.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_ee::{world, Config, Route};
use serde_json::{json, Value};

fn compute_features(ee: &fake_ee::FakeEe, body: &Value) -> Answer {
    call(ee, "POST", &format!("/v1/projects/{PROJECT}/table:computeFeatures"), Some(body)).expect("answer")
}

fn captured(name: &str) -> Value {
    let path = fake_ee::default_reference_dir().unwrap().join("captured").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The mean of MapBiomas 2020 over a captured site, from the world's definition.
fn mean_of(ring: Vec<[f64; 2]>) -> f64 {
    let (mut sw, mut s) = (0.0, 0.0);
    for p in world::region_pixels(&[vec![ring]], world::grid_degrees(30.0)) {
        let (x, y) = p.cell.centre();
        if let Some(v) = world::band_value(MAPBIOMAS, "classification_2020", None, x, y) {
            sw += p.weight;
            s += p.weight * v as f64;
        }
    }
    s / sw
}

#[test]
fn the_captured_compute_features_request_returns_evaluated_features() {
    let ee = start(manual());
    let a = compute_features(&ee, &captured("table_compute_features.json"));
    assert_eq!(a.status, 200, "{}", a.json);
    let v = contract().check_schema("ComputeFeaturesResponse", &a.json);
    assert!(v.is_empty(), "{v:?}");
    assert_eq!(a.json["type"], "FeatureCollection");
    let f = a.json["features"].as_array().unwrap();
    assert_eq!(f.len(), 2);
    assert!(a.json.get("nextPageToken").is_none());
    assert_eq!(f[0]["type"], "Feature");
    assert_eq!(f[0]["geometry"]["type"], "Polygon");
    assert_eq!(f[0]["properties"]["site_id"], "a");
    let ring = vec![[-47.95, -15.8], [-47.9, -15.8], [-47.9, -15.75], [-47.95, -15.75], [-47.95, -15.8]];
    assert!((f[0]["properties"]["mean"].as_f64().unwrap() - mean_of(ring)).abs() < 1e-9);
    assert_eq!(ee.counters().requests_to(Route::ComputeFeatures), 1);
    assert_eq!(ee.counters().operations_created, 0, "nothing is queued");
}

#[test]
fn pages_follow_page_size_and_tokens() {
    let ee = start(manual());
    let ids: Vec<String> = (0..7).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let expression = table_body("x", &refs, &[])["expression"].clone();
    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let mut body = json!({"expression": expression, "pageSize": 3});
        if let Some(t) = &token {
            body["pageToken"] = json!(t);
        }
        let a = compute_features(&ee, &body);
        assert_eq!(a.status, 200, "{}", a.json);
        pages += 1;
        for f in a.json["features"].as_array().unwrap() {
            seen.push(f["properties"]["site_id"].as_str().unwrap().to_string());
        }
        match a.json["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
    // A token from another expression is refused.
    let other = table_body("y", &["z"], &[])["expression"].clone();
    let a = compute_features(&ee, &json!({"expression": other, "pageToken": token.unwrap_or_default()}));
    assert_eq!(a.status, 400, "{}", a.json);
}

#[test]
fn value_compute_answers_the_result() {
    let ee = start(manual());
    let a = call(&ee, "POST", &format!("/v1/projects/{PROJECT}/value:compute"), Some(&captured("value_compute.json")))
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json, json!({"result": 2}));
}

#[test]
fn evaluation_errors_and_bad_bodies_are_400() {
    let ee = start(manual());
    let mut body = json!({"expression": table_body("x", &["a"], &[])["expression"].clone()});
    body["expression"]["values"]["0"]["functionInvocationValue"]["arguments"]["reducer"] =
        json!({"functionInvocationValue": {"functionName": "Reducer.kendallsCorrelation", "arguments": {}}});
    let a = compute_features(&ee, &body);
    assert_eq!(a.status, 400, "{}", a.json);
    assert_eq!(a.json["error"]["status"], "INVALID_ARGUMENT");
    assert!(a.json["error"]["message"].as_str().unwrap().contains("`Reducer.kendallsCorrelation`"), "{}", a.json);
    let a = compute_features(
        &ee,
        &json!({"expression": {"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "No.such", "arguments": {}}}}}}),
    );
    assert_eq!(a.status, 400, "the contract refuses unknown algorithms: {}", a.json);
    let a = compute_features(&ee, &json!({"pageSize": 10}));
    assert_eq!(a.status, 400, "{}", a.json);
    let a = compute_features(&ee, &json!({"expression": body["expression"], "bogus": 1}));
    assert_eq!(a.status, 400, "{}", a.json);
}

#[test]
fn concurrency_over_the_limit_is_429_and_latency_is_real() {
    let ee = std::sync::Arc::new(start(Config {
        compute_latency: Duration::from_millis(400),
        compute_concurrency: 2,
        ..manual()
    }));
    let body = json!({"expression": table_body("x", &["a"], &[])["expression"].clone()});
    let t = Instant::now();
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let (ee, body) = (ee.clone(), body.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100 * i));
                compute_features(&ee, &body).status
            })
        })
        .collect();
    let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 429]);
    assert!(t.elapsed() >= Duration::from_millis(400));
    let c = ee.counters();
    assert_eq!(c.max_computing, 2);
    assert!(c.rejections.iter().any(|r| r.status == 429 && r.message == "Too many concurrent aggregations."));
    // Slots are released: the next request gets through.
    assert_eq!(compute_features(&ee, &body).status, 200);
}

#[test]
fn a_computation_longer_than_the_time_limit_times_out() {
    let ee = start(Config {
        compute_latency: Duration::from_millis(300),
        compute_time_limit: Duration::from_millis(100),
        ..manual()
    });
    let body = json!({"expression": table_body("x", &["a"], &[])["expression"].clone()});
    let t = Instant::now();
    let a = compute_features(&ee, &body);
    assert_eq!(a.status, 400, "{}", a.json);
    assert_eq!(a.json["error"]["message"], "Computation timed out.");
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(100) && e < Duration::from_millis(300), "answers at the limit: {e:?}");
}
