//! Fault injection: HTTP errors with Retry-After, dropped connections, delays, lost responses, and
//! tasks failing with Earth Engine's messages under rules (chunk size, request id, first attempts).

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_ee::{Failure, RequestFault, Route, RouteMatch, TaskMatch, TaskRule};

#[test]
fn a_429_burst_carries_retry_after_then_clears() {
    let ee = start(manual());
    ee.faults().push(RequestFault::too_many_requests(2, 7).on(RouteMatch::Exports));
    let body = table_body("r429", &["s"], &[]);
    for _ in 0..2 {
        let a = export(&ee, &body);
        assert_eq!(a.status, 429);
        assert_eq!(a.json["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(a.response.header("retry-after"), Some("7"));
    }
    assert_eq!(ee.counters().operations_created, 0, "a 429 does nothing");
    assert_eq!(export(&ee, &body).status, 200);
    let c = ee.counters();
    assert_eq!((c.faults_fired, c.operations_created), (2, 1));
    assert!(ee.faults().remaining().is_empty());
}

#[test]
fn server_errors_on_one_route_only() {
    let ee = start(manual());
    let op = export(&ee, &table_body("r5xx", &["s"], &[])).json["name"].as_str().unwrap().to_string();
    ee.faults().push(RequestFault::status(503, 1).on(RouteMatch::Only(Route::OperationGet)));
    ee.faults().push(RequestFault::status(500, 1).on(RouteMatch::Only(Route::OperationGet)));
    let list = call(&ee, "GET", &format!("/v1/projects/{PROJECT}/operations"), None).unwrap();
    assert_eq!(list.status, 200, "other routes are untouched");
    let a = call(&ee, "GET", &format!("/v1/{op}"), None).unwrap();
    assert_eq!((a.status, a.json["error"]["status"].as_str()), (503, Some("UNAVAILABLE")));
    let b = call(&ee, "GET", &format!("/v1/{op}"), None).unwrap();
    assert_eq!((b.status, b.json["error"]["status"].as_str()), (500, Some("INTERNAL")));
    assert_eq!(call(&ee, "GET", &format!("/v1/{op}"), None).unwrap().status, 200);
}

#[test]
fn a_dropped_connection_gets_no_answer_and_does_nothing() {
    let ee = start(manual());
    ee.faults().push(RequestFault::drop_connection(1));
    let body = table_body("drop", &["s"], &[]);
    let path = format!("/v1/projects/{PROJECT}/table:export");
    assert!(call(&ee, "POST", &path, Some(&body)).is_err(), "the connection closes without a response");
    assert_eq!(ee.counters().operations_created, 0);
    assert_eq!(export(&ee, &body).status, 200);
}

#[test]
fn a_slow_answer_still_answers() {
    let ee = start(manual());
    ee.faults().push(RequestFault::delay(Duration::from_millis(300), 1));
    let t = Instant::now();
    let a = call(&ee, "GET", &format!("/v1/projects/{PROJECT}/operations"), None).unwrap();
    assert_eq!(a.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300), "delayed at least as asked");
    assert_eq!(ee.counters().faults_fired, 1);
}

#[test]
fn a_lost_response_still_created_the_operation_and_a_retry_with_the_id_finds_it() {
    let ee = start(manual());
    ee.faults().push(RequestFault::lose_response(1).on(RouteMatch::Exports).for_request_id("lost-1"));
    let other = export(&ee, &table_body("other", &["s"], &[]));
    assert_eq!(other.status, 200, "the fault waits for its request id");
    let body = table_body("lost-1", &["s1", "s2"], &[]);
    let path = format!("/v1/projects/{PROJECT}/table:export");
    assert!(call(&ee, "POST", &path, Some(&body)).is_err());
    assert_eq!(ee.counters().operations_created, 2, "the lost submission was accepted");
    let retry = export(&ee, &body);
    assert_eq!(retry.status, 200);
    let created = ee.operations().into_iter().find(|o| o.request_id.as_deref() == Some("lost-1")).unwrap();
    assert_eq!(retry.json["name"].as_str(), Some(created.name.as_str()));
    let c = ee.counters();
    assert_eq!(c.created_per_request_id.get("lost-1"), Some(&1), "no duplicate");
    assert_eq!(c.dedup_hits, 1);
}

#[test]
fn each_known_task_failure_ends_failed_with_its_message() {
    let failures = [
        (Failure::MemoryLimit, "User memory limit exceeded."),
        (Failure::TimedOut, "Computation timed out."),
        (Failure::TooManyPixels, "Too many pixels in the region."),
        (Failure::ValueTooLarge, "Computed value is too large."),
        (Failure::AssetNotFound("projects/p/assets/x".into()), "Asset 'projects/p/assets/x' not found."),
        (Failure::PermissionDenied, "Permission denied."),
        (Failure::Internal, "An internal error has occurred."),
    ];
    let ee = start(fake_ee::Config { max_running: 10, ..manual() });
    let mut names = Vec::new();
    for (i, (f, _)) in failures.iter().enumerate() {
        let id = format!("fail-{i}");
        ee.faults().push(TaskRule::fail(TaskMatch::RequestId(id.clone()), f.clone()));
        names.push(export(&ee, &table_body(&id, &["s"], &[])).json["name"].as_str().unwrap().to_string());
    }
    ee.advance(Duration::from_secs(30));
    for (name, (f, message)) in names.iter().zip(&failures) {
        let op = get_op(&ee, name);
        assert_eq!(state(&op), "FAILED");
        assert_eq!(op["error"]["message"], *message);
        assert_eq!(op["error"]["code"], f.code());
        assert!(op["metadata"].get("destinationUris").is_none());
    }
    assert!(ee.files().is_empty(), "failed tasks write nothing");
}

#[test]
fn chunks_above_k_sites_run_out_of_memory_so_halves_succeed() {
    let ee = start(fake_ee::Config { max_running: 4, ..manual() });
    ee.faults().push(TaskRule::memory_limit_above(2));
    let big = export(&ee, &table_body("c1", &["a", "b", "c", "d"], &[]));
    let half1 = export(&ee, &table_body("c1a", &["a", "b"], &[]));
    let half2 = export(&ee, &table_body("c1b", &["c", "d"], &[]));
    ee.advance(Duration::from_secs(30));
    let big = get_op(&ee, big.json["name"].as_str().unwrap());
    assert_eq!((state(&big), big["error"]["message"].as_str()), ("FAILED", Some("User memory limit exceeded.")));
    for h in [half1, half2] {
        assert_eq!(state(&get_op(&ee, h.json["name"].as_str().unwrap())), "SUCCEEDED");
    }
}

#[test]
fn only_the_first_attempt_of_a_chunk_fails() {
    let ee = start(manual());
    ee.faults().push(TaskRule::fail(TaskMatch::RequestIdPrefix("chunk7".into()), Failure::Internal).times(1));
    let first = export(&ee, &table_body("chunk7-try1", &["s"], &[]));
    let second = export(&ee, &table_body("chunk7-try2", &["s"], &[]));
    ee.advance(Duration::from_secs(60));
    assert_eq!(state(&get_op(&ee, first.json["name"].as_str().unwrap())), "FAILED");
    assert_eq!(state(&get_op(&ee, second.json["name"].as_str().unwrap())), "SUCCEEDED");
}

#[test]
fn earth_engine_retries_internally_before_failing() {
    let ee = start(manual());
    ee.faults().push(TaskRule::fail(TaskMatch::HasSite("bad".into()), Failure::Internal).server_attempts(3));
    let a = export(&ee, &table_body("retried", &["ok", "bad"], &[]));
    let name = a.json["name"].as_str().unwrap().to_string();
    assert_eq!(get_op(&ee, &name)["metadata"]["attempt"], 1);
    ee.advance(Duration::from_secs(30));
    let op = get_op(&ee, &name);
    assert_eq!((state(&op), op["metadata"]["attempt"].as_i64()), ("RUNNING", Some(2)));
    ee.advance(Duration::from_secs(60));
    let op = get_op(&ee, &name);
    assert_eq!((state(&op), op["metadata"]["attempt"].as_i64()), ("FAILED", Some(3)));
}

#[test]
fn faults_can_come_from_the_configuration() {
    let ee = start(fake_ee::Config {
        faults: vec![RequestFault::status(503, 1).into(), TaskRule::memory_limit_above(0).into()],
        ..manual()
    });
    let body = table_body("cfg", &["s"], &[]);
    assert_eq!(export(&ee, &body).status, 503);
    let a = export(&ee, &body);
    ee.advance(Duration::from_secs(30));
    assert_eq!(state(&get_op(&ee, a.json["name"].as_str().unwrap())), "FAILED");
}
