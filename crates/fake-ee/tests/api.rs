//! The fake's Earth Engine API: lifecycle, queue order, paging, deduplication, the queue limit,
//! authentication, cancellation and strict refusal of bodies that break the contract.

mod common;

use std::time::Duration;

use common::*;
use fake_ee::{Config, Route, UserProject};
use serde_json::json;

#[test]
fn lifecycle_pending_running_succeeded_with_timestamps() {
    let ee = start(Config { max_running: 1, ..manual() });
    let a = export(&ee, &table_body("req-a", &["s1", "s2"], &[]));
    assert_eq!(a.status, 200, "{}", a.json);
    assert_operation(&a.json);
    assert_eq!(state(&a.json), "PENDING");
    assert_eq!(a.json["metadata"]["type"], "EXPORT_FEATURES");
    assert_eq!(a.json["metadata"]["priority"], 100);
    assert_eq!(a.json["metadata"]["description"], "chunk req-a");
    assert!(a.json["metadata"].get("startTime").is_none());
    let b = export(&ee, &table_body("req-b", &["s3"], &[]));
    let (na, nb) = (a.json["name"].as_str().unwrap(), b.json["name"].as_str().unwrap());
    assert_ne!(na, nb);

    let op = get_op(&ee, na);
    assert_eq!(state(&op), "RUNNING");
    assert_eq!(op["metadata"]["attempt"], 1);
    assert!(op["metadata"]["startTime"].is_string());
    assert_eq!(state(&get_op(&ee, nb)), "PENDING", "one slot only");

    ee.advance(Duration::from_secs(10));
    let op = get_op(&ee, na);
    assert_eq!(state(&op), "RUNNING");
    let p = op["metadata"]["progress"].as_f64().unwrap();
    assert!(p > 0.3 && p < 0.4, "a third done: {p}");

    ee.advance(Duration::from_secs(20));
    let op = get_op(&ee, na);
    assert_eq!(state(&op), "SUCCEEDED");
    assert_eq!(op["response"]["@type"], "type.googleapis.com/google.protobuf.Empty");
    assert_eq!(op["metadata"]["progress"], 1.0);
    assert!(op["metadata"]["batchEecuUsageSeconds"].as_f64().unwrap() > 0.0);
    assert_eq!(
        op["metadata"]["destinationUris"][0],
        "https://console.developers.google.com/storage/browser/results/run/"
    );
    let end = op["metadata"]["endTime"].as_str().unwrap();
    assert!(end > op["metadata"]["startTime"].as_str().unwrap());
    assert!(end.ends_with('Z') && end.len() == "2026-01-01T00:00:00.000000Z".len(), "{end}");
    assert_eq!(state(&get_op(&ee, nb)), "RUNNING", "the freed slot goes to the next task");
    assert_eq!(ee.counters().max_running, 1);
}

#[test]
fn at_most_n_run_at_once_and_priority_orders_the_queue() {
    let ee = start(Config { max_running: 2, ..manual() });
    let mut names = Vec::new();
    for (i, prio) in [100, 100, 100, 100, 700].iter().enumerate() {
        let mut body = table_body(&format!("q{i}"), &["s"], &[]);
        body["priority"] = json!(prio);
        let a = export(&ee, &body);
        assert_eq!(a.status, 200, "{}", a.json);
        names.push(a.json["name"].as_str().unwrap().to_string());
    }
    let states = |ee: &fake_ee::FakeEe| names.iter().map(|n| state(&get_op(ee, n)).to_string()).collect::<Vec<_>>();
    assert_eq!(states(&ee), ["RUNNING", "RUNNING", "PENDING", "PENDING", "PENDING"]);
    ee.advance(Duration::from_secs(30));
    assert_eq!(states(&ee), ["SUCCEEDED", "SUCCEEDED", "RUNNING", "PENDING", "RUNNING"], "priority 700 first");
    ee.advance(Duration::from_secs(60));
    assert!(states(&ee).iter().all(|s| s == "SUCCEEDED"));
    assert_eq!(ee.counters().max_running, 2);
}

#[test]
fn operations_list_pages_newest_first() {
    let ee = start(Config { foreign_succeeded: 230, ..manual() });
    let mine = export(&ee, &table_body("mine", &["s"], &[]));
    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let path = match &token {
            Some(t) => format!("/v1/projects/{PROJECT}/operations?pageToken={t}&alt=json"),
            None => format!("/v1/projects/{PROJECT}/operations?alt=json"),
        };
        let a = call(&ee, "GET", &path, None).unwrap();
        assert_eq!(a.status, 200, "{}", a.json);
        assert!(contract().check_schema("ListOperationsResponse", &a.json).is_empty());
        let ops = a.json["operations"].as_array().unwrap();
        pages.push(ops.len());
        for op in ops {
            assert_operation(op);
            seen.push(op["name"].as_str().unwrap().to_string());
        }
        match a.json.get("nextPageToken").and_then(|t| t.as_str()) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, [100, 100, 31]);
    assert_eq!(seen[0], mine.json["name"].as_str().unwrap(), "newest first");
    let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 231);

    let a = call(&ee, "GET", &format!("/v1/projects/{PROJECT}/operations?pageSize=7&filter=x"), None).unwrap();
    assert_eq!(a.json["operations"].as_array().unwrap().len(), 7);
    assert!(a.json["nextPageToken"].is_string());
    let empty = call(&ee, "GET", "/v1/projects/other-project/operations", None).unwrap();
    assert_eq!(empty.status, 403, "the user project header names demo-project");
    let bad = call(&ee, "GET", &format!("/v1/projects/{PROJECT}/operations?pageToken=garbage"), None).unwrap();
    assert_eq!((bad.status, bad.json["error"]["status"].as_str()), (400, Some("INVALID_ARGUMENT")));
    assert_eq!(ee.counters().list_calls, 5);
}

#[test]
fn empty_project_lists_as_empty_object() {
    let ee = start(manual());
    let a = call(&ee, "GET", &format!("/v1/projects/{PROJECT}/operations"), None).unwrap();
    assert_eq!((a.status, a.json.clone()), (200, json!({})));
}

#[test]
fn a_repeated_request_id_returns_the_same_operation() {
    let ee = start(manual());
    let body = table_body("same-id", &["s1"], &[]);
    let first = export(&ee, &body);
    let again = export(&ee, &body);
    assert_eq!(first.json["name"], again.json["name"]);
    let c = ee.counters();
    assert_eq!((c.operations_created, c.dedup_hits), (1, 1));
    assert_eq!(c.created_per_request_id.get("same-id"), Some(&1));
    assert_eq!(c.requests_to(Route::TableExport), 2);
    let subs = ee.submissions();
    assert_eq!(subs.len(), 2);
    assert!(subs[1].deduplicated);
}

#[test]
fn without_deduplication_duplicates_are_counted() {
    let ee = start(Config { dedup_request_ids: false, ..manual() });
    let body = table_body("same-id", &["s1"], &[]);
    let first = export(&ee, &body);
    let again = export(&ee, &body);
    assert_ne!(first.json["name"], again.json["name"]);
    assert_eq!(ee.counters().created_per_request_id.get("same-id"), Some(&2));
}

#[test]
fn the_queue_holds_3000_pending_tasks_including_other_users() {
    let ee = start(Config { foreign_pending: 2999, max_running: 0, ..manual() });
    let ok = export(&ee, &table_body("fits", &["s"], &[]));
    assert_eq!(ok.status, 200, "{}", ok.json);
    let full = export(&ee, &table_body("too-many", &["s"], &[]));
    assert_eq!(full.status, 429);
    assert_eq!(full.json["error"]["status"], "RESOURCE_EXHAUSTED");
    assert!(full.json["error"]["message"].as_str().unwrap().contains("3000"), "{}", full.json);
    assert_eq!(ee.counters().operations_created, 1);
    ee.set_max_running(2);
    ee.advance(Duration::from_secs(30));
    let later = export(&ee, &table_body("too-many", &["s"], &[]));
    assert_eq!(later.status, 200, "room again once tasks ran: {}", later.json);
    assert!(ee.operations().iter().filter(|o| o.foreign).count() == 2999);
}

#[test]
fn authentication_and_user_project_are_checked() {
    let ee = start(Config { user_project: UserProject::Required, ..manual() });
    let path = format!("/v1/projects/{PROJECT}/table:export");
    let body = table_body("auth", &["s"], &[]);
    let none = call_with(&ee, "POST", &path, Some(&body), &[]).unwrap();
    assert_eq!((none.status, none.json["error"]["status"].as_str()), (401, Some("UNAUTHENTICATED")));
    let wrong = call_with(
        &ee,
        "POST",
        &path,
        Some(&body),
        &[("Authorization", "Bearer nope"), ("X-Goog-User-Project", PROJECT)],
    )
    .unwrap();
    assert_eq!(wrong.status, 401);
    let no_project = call_with(&ee, "POST", &path, Some(&body), &[("Authorization", "Bearer test-token")]).unwrap();
    assert_eq!((no_project.status, no_project.json["error"]["status"].as_str()), (403, Some("PERMISSION_DENIED")));
    let other = call_with(
        &ee,
        "POST",
        &path,
        Some(&body),
        &[("Authorization", "Bearer test-token"), ("X-Goog-User-Project", "someone-else")],
    )
    .unwrap();
    assert_eq!(other.status, 403);
    assert_eq!(export(&ee, &body).status, 200);
    assert_eq!(ee.counters().operations_created, 1);
}

#[test]
fn bodies_breaking_the_contract_are_refused_with_the_reasons() {
    let ee = start(manual());
    let good = table_body("good", &["s"], &[]);
    let mut unknown = good.clone();
    unknown["colour"] = json!("red");
    let mut wrapped = good.clone();
    wrapped["priority"] = json!({"value": 200});
    let mut bad_enum = good.clone();
    bad_enum["fileExportOptions"]["fileFormat"] = json!("XLSX");
    let mut bad_alg = good.clone();
    bad_alg["expression"]["values"]["0"]["functionInvocationValue"]["functionName"] = json!("Image.reduceRegionz");
    let mut bad_arg = good.clone();
    bad_arg["expression"]["values"]["0"]["functionInvocationValue"]["arguments"]["scael"] =
        json!({"constantValue": 30});
    let mut bad_id = good.clone();
    bad_id["requestId"] = json!("has spaces");
    for (body, needle) in [
        (&unknown, "colour"),
        (&wrapped, "/priority"),
        (&bad_enum, "XLSX"),
        (&bad_alg, "reduceRegionz"),
        (&bad_arg, "scael"),
        (&bad_id, "requestId"),
    ] {
        let a = export(&ee, body);
        assert_eq!(a.status, 400, "{needle}: {}", a.json);
        assert_eq!(a.json["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(a.json["error"]["code"], 400);
        assert!(a.json["error"]["message"].as_str().unwrap().contains(needle), "{needle}: {}", a.json);
    }
    let not_json = ee.base_url() + &format!("/v1/projects/{PROJECT}/table:export");
    let r = fake_ee::http1::request("POST", &not_json, &[("Authorization", "Bearer test-token")], b"{nope").unwrap();
    assert_eq!(r.status, 400);
    let c = ee.counters();
    assert_eq!(c.operations_created, 0);
    assert_eq!(c.rejections.len(), 7);
    assert!(c.rejections[0].message.contains("colour"));
}

#[test]
fn unknown_query_parameters_and_paths_are_refused() {
    let ee = start(manual());
    let a = call(&ee, "GET", &format!("/v1/projects/{PROJECT}/operations?page_size=5"), None).unwrap();
    assert_eq!(a.status, 400);
    assert!(a.json["error"]["message"].as_str().unwrap().contains("page_size"));
    let b = call(&ee, "POST", &format!("/v1/projects/{PROJECT}/table:exportz"), Some(&json!({}))).unwrap();
    assert_eq!((b.status, b.json["error"]["status"].as_str()), (404, Some("NOT_FOUND")));
    let c = call(&ee, "GET", &format!("/v1/projects/{PROJECT}/operations/NOSUCHOPERATION000000000"), None).unwrap();
    assert_eq!(c.status, 404);
    let too_big = json!({"expression": {"result": "0", "values": {"0": {"constantValue": "x".repeat(11 << 20)}}}});
    let d = export(&ee, &too_big);
    assert_eq!(d.status, 400);
    assert!(d.json["error"]["message"].as_str().unwrap().contains("10485760"));
}

#[test]
fn official_client_bodies_are_accepted_for_each_export_kind() {
    let ee = start(manual());
    for (file, route, kind) in [
        ("js_table_export_gcs_csv_mean_selectors_priority.json", "table:export", "EXPORT_FEATURES"),
        ("js_image_export_gcs_geotiff.json", "image:export", "EXPORT_IMAGE"),
        ("js_classifier_export_asset.json", "classifier:export", "EXPORT_CLASSIFIER"),
    ] {
        let a =
            call(&ee, "POST", &format!("/v1/projects/{PROJECT}/{route}?alt=json"), Some(&captured_js(file))).unwrap();
        assert_eq!(a.status, 200, "{file}: {}", a.json);
        assert_operation(&a.json);
        assert_eq!(a.json["metadata"]["type"], kind);
    }
    let ops = ee.operations();
    assert_eq!(ops[0].site_ids, ["a", "b"], "sites read from the inline features");
    assert_eq!(ops[0].priority, 200);
}

#[test]
fn cancel_pending_at_once_and_running_through_cancelling() {
    let ee = start(Config { max_running: 1, cancel_delay: Duration::from_secs(2), ..manual() });
    let a = export(&ee, &table_body("c1", &["s"], &[]));
    let b = export(&ee, &table_body("c2", &["s"], &[]));
    let (na, nb) = (a.json["name"].as_str().unwrap().to_string(), b.json["name"].as_str().unwrap().to_string());
    assert_eq!(state(&get_op(&ee, &na)), "RUNNING");
    for n in [&na, &nb] {
        let c = call(&ee, "POST", &format!("/v1/{n}:cancel"), Some(&json!({}))).unwrap();
        assert_eq!((c.status, c.json.clone()), (200, json!({})));
    }
    let pending = get_op(&ee, &nb);
    assert_eq!(state(&pending), "CANCELLED");
    assert_eq!(pending["error"]["code"], 1);
    assert_eq!(state(&get_op(&ee, &na)), "CANCELLING");
    ee.advance(Duration::from_secs(2));
    let running = get_op(&ee, &na);
    assert_eq!(state(&running), "CANCELLED");
    assert!(running.get("response").is_none());
    let del = call(&ee, "DELETE", &format!("/v1/{na}"), None).unwrap();
    assert_eq!(del.status, 200);
    assert_eq!(call(&ee, "GET", &format!("/v1/{na}"), None).unwrap().status, 404);
}

#[test]
fn scaled_clock_runs_tasks_without_manual_steps() {
    let ee = start(Config {
        clock: fake_ee::Clock::Scaled(1000.0),
        durations: fake_ee::Durations::Uniform { min: Duration::from_secs(5), max: Duration::from_secs(20), seed: 7 },
        ..Config::default()
    });
    let a = export(&ee, &table_body("fast", &["s"], &[]));
    let name = a.json["name"].as_str().unwrap().to_string();
    let w = call(&ee, "POST", &format!("/v1/{name}:wait"), Some(&json!({"timeout": "60s"}))).unwrap();
    assert_eq!(w.status, 200, "{}", w.json);
    assert_eq!(state(&w.json), "SUCCEEDED", "{}", w.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_inside_an_async_runtime() {
    let ee = fake_ee::FakeEe::start(Config { token: Some(TOKEN.into()), ..manual() }).await.unwrap();
    let url = format!("{}/v1/projects/{PROJECT}/operations", ee.base_url());
    let r = tokio::task::spawn_blocking(move || {
        fake_ee::http1::request("GET", &url, &[("Authorization", "Bearer test-token")], b"").unwrap()
    })
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(ee.counters().list_calls, 1);
}

#[test]
fn with_a_running_clock_a_task_starts_when_submitted() {
    let ee = start(Config {
        clock: fake_ee::Clock::Scaled(1.0),
        durations: fake_ee::Durations::Fixed(Duration::from_secs(10)),
        ..Config::default()
    });
    let a = export(&ee, &table_body("at-once", &["s"], &[]));
    assert_eq!(state(&a.json), "PENDING");
    ee.advance(Duration::from_secs(20));
    let op = get_op(&ee, a.json["name"].as_str().unwrap());
    assert_eq!(state(&op), "SUCCEEDED", "{op}");
    assert_eq!(op["metadata"]["startTime"], op["metadata"]["createTime"]);
}

#[test]
fn a_duration_hook_decides_per_task() {
    let hook = fake_ee::Durations::Hook(std::sync::Arc::new(|t: &fake_ee::TaskInfo| {
        Duration::from_secs(10 * t.site_ids.len() as u64)
    }));
    let ee = start(Config { durations: hook, max_running: 2, ..manual() });
    let small = export(&ee, &table_body("small", &["a"], &[]));
    let big = export(&ee, &table_body("big", &["a", "b", "c"], &[]));
    ee.advance(Duration::from_secs(10));
    assert_eq!(state(&get_op(&ee, small.json["name"].as_str().unwrap())), "SUCCEEDED");
    assert_eq!(state(&get_op(&ee, big.json["name"].as_str().unwrap())), "RUNNING");
    ee.advance(Duration::from_secs(20));
    assert_eq!(state(&get_op(&ee, big.json["name"].as_str().unwrap())), "SUCCEEDED");
}

/// `operations.list` is computed from the operation set: sorted by `createTime`, newest first (the seeded
/// history lies before the fake started), and a page token names a place in that order, so an operation
/// created between two pages neither repeats nor hides any other.
#[test]
fn operations_list_sorts_by_create_time_and_tokens_survive_new_operations() {
    let ee = start(Config { foreign_succeeded: 25, ..manual() });
    let first = export(&ee, &table_body("first", &["s"], &[]));
    ee.advance(Duration::from_secs(5));
    let second = export(&ee, &table_body("second", &["s"], &[]));
    let page = |token: Option<&str>| {
        let path = match token {
            Some(t) => format!("/v1/projects/{PROJECT}/operations?pageSize=10&pageToken={t}"),
            None => format!("/v1/projects/{PROJECT}/operations?pageSize=10"),
        };
        call(&ee, "GET", &path, None).unwrap().json
    };
    let p1 = page(None);
    // A submission between the pages.
    ee.advance(Duration::from_secs(5));
    let third = export(&ee, &table_body("third", &["s"], &[]));
    let mut all: Vec<serde_json::Value> = p1["operations"].as_array().unwrap().clone();
    let mut token = p1["nextPageToken"].as_str().map(str::to_string);
    while let Some(t) = token {
        let p = page(Some(&t));
        all.extend(p["operations"].as_array().unwrap().iter().cloned());
        token = p["nextPageToken"].as_str().map(str::to_string);
    }
    let names: Vec<&str> = all.iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 27, "every operation once (the third came after the first page)");
    assert!(!names.contains(&third.json["name"].as_str().unwrap()));
    assert_eq!(&names[..2], [second.json["name"].as_str().unwrap(), first.json["name"].as_str().unwrap()]);
    let times: Vec<String> = all.iter().map(|o| o["metadata"]["createTime"].as_str().unwrap().to_string()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first by createTime");
    // The history is older than anything submitted, one task a minute.
    assert!(times[2] < times[1] && times[2] > times[3]);
    assert_eq!(all[2]["metadata"]["state"], "SUCCEEDED");
}
