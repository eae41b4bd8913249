//! Interactive mode end to end, as a user runs it: `geepipe run` sends `table:computeFeatures` requests to the
//! strict fake Earth Engine (every body checked against the reference contract, every expression evaluated on
//! its synthetic world), stores each chunk's answer beside the journal and merges them into the table.
//!
//! The expected tables are computed here from the synthetic world's definition (`expected`, over
//! `fake_ee::world`), independently of geepipe's planner. Faults: 429 and 503 answers, requests that take too
//! long for the fake's time limit (so chunks are split), `kill -9` in the middle of a run (counted at the fake:
//! nothing stored is asked again), `geepipe cancel` during a run (then the rest as export tasks: one table and
//! manifest from both kinds of chunk), `auto` choosing each way, and `auto` moving a run to batch when
//! interactive requests keep failing for size.

mod common;
mod expected;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Test;
use expected::{Ring, Row};
use fake_ee::{Clock, Config, FakeEe, RequestFault, Route, RouteMatch};

const TOKEN: &str = "interactive-static-token-51c2";

/// Site `i` of `n`: a 0.005° square near Brasília, except the last one of 12, south of every asset's footprint.
fn ring(i: usize, n: usize) -> Ring {
    let (x, y) = if n == 12 && i == 11 {
        (-48.0, -65.0)
    } else {
        (-48.0 + (i % 40) as f64 * 0.01, -15.8 - (i / 40) as f64 * 0.01)
    };
    vec![[x, y], [x + 0.005, y], [x + 0.005, y + 0.005], [x, y + 0.005], [x, y]]
}

fn sites_geojson(n: usize) -> String {
    let features: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"type":"Feature","properties":{{"site_id":"s{i:02}","name":"Farm {i}"}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}}"#,
                serde_json::to_string(&ring(i, n)).unwrap()
            )
        })
        .collect();
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",\n"))
}

/// A pipeline of MapBiomas (categorical, two years) and SRTM (continuous, static), with `extra` appended.
fn pipeline(extra: &str) -> String {
    format!(
        "\
name: inter
project: demo-project
sites:
  file: sites.geojson
  id: site_id
  keep: [name]
years: 2020..2021
layers:
  - catalog: mapbiomas_lulc
  - catalog: srtm_elevation
    stats: [mean, p90]
output:
  path: out/inter.csv
{extra}"
    )
}

/// The asset of a catalog layer (catalog data, not the planner).
fn asset(layer: &str) -> String {
    geepipe::catalog::get(layer).expect("catalog entry").asset.expect("asset")
}

/// The table the pipeline above should produce for `n` sites, from the synthetic world: every layer is
/// reduced on its own grid (no scale is sent), the native 0.00025° cells; MapBiomas is band `classification`
/// of the year's image of its collection (the first image whose `year` is the year), hectares and pixels per
/// class; SRTM one static image, its statistics repeated in every year.
fn expected_rows(n: usize) -> Vec<Row> {
    let legend: BTreeMap<i64, String> = geepipe::catalog::get("mapbiomas_lulc")
        .and_then(|l| l.legend)
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.code, e.name))
        .collect();
    let native = expected::native_scale();
    let lulc = asset("mapbiomas_lulc");
    let srtm = asset("srtm_elevation");
    let mut rows = Vec::new();
    for i in 0..n {
        let (site, name) = (format!("s{i:02}"), format!("Farm {i}"));
        let r = ring(i, n);
        let elevation = expected::single(&srtm, "elevation", &r, native, 1.0);
        for year in [2020, 2021] {
            let t = expected::first_image_of_year(&lulc, year).expect("an image in the year");
            let classes = expected::classes_at(&lulc, "classification", t, &r, native);
            if classes.is_empty() {
                rows.push(Row::new(&site, &[&name], "mapbiomas_lulc", year, "nodata"));
            }
            for (code, (ha, px)) in classes {
                rows.push(Row {
                    class_code: Some(code),
                    class_name: legend.get(&code).cloned().unwrap_or_default(),
                    area_ha: Some(ha),
                    pixels: Some(px),
                    ..Row::new(&site, &[&name], "mapbiomas_lulc", year, "categorical")
                });
            }
            if elevation.is_empty() {
                rows.push(Row::new(&site, &[&name], "srtm_elevation", year, "nodata"));
                continue;
            }
            for stat in ["mean", "p90"] {
                rows.push(Row {
                    band: "elevation".into(),
                    stat: stat.into(),
                    value: expected::stat(&elevation, stat),
                    ..Row::new(&site, &[&name], "srtm_elevation", year, "continuous")
                });
            }
        }
    }
    rows
}

fn fake(cfg: Config) -> FakeEe {
    FakeEe::start_blocking(Config { token: Some(TOKEN.into()), clock: Clock::Scaled(1000.0), ..cfg })
        .expect("fake starts")
}

/// A test folder with `n` sites and the pipeline, talking to `ee` for both endpoints.
fn setup(ee: &FakeEe, n: usize, extra: &str) -> Test {
    Test::new()
        .file("sites.geojson", &sites_geojson(n))
        .file("p.yaml", &pipeline(extra))
        .env("GEEPIPE_EE_URL", &ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("GEEPIPE_RETRY_BASE_MS", "20")
        .env("GEEPIPE_POLL_MIN", "0.05")
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn journal(dir: &Path) -> Vec<geepipe::journal::ChunkRow> {
    geepipe::journal::Journal::open_read(&dir.join("out/.geepipe/inter.sqlite")).unwrap().chunks().unwrap()
}

fn store_dir(dir: &Path) -> PathBuf {
    dir.join("out/.geepipe/downloads/inter/interactive")
}

fn stored_files(dir: &Path) -> usize {
    std::fs::read_dir(store_dir(dir))
        .map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".json")).count())
        .unwrap_or(0)
}

#[test]
fn interactive_run_without_export_survives_429_503_and_timeouts_and_matches_the_world() {
    // Each site adds 600 ms to a request; the time limit is 2 s: chunks of 4 sites time out, halves do not.
    let ee = fake(Config {
        compute_latency_per_feature: Duration::from_millis(600),
        compute_time_limit: Duration::from_secs(2),
        ..Config::default()
    });
    ee.faults().push(RequestFault::too_many_requests(2, 0).on(RouteMatch::Only(Route::ComputeFeatures)));
    ee.faults().push(RequestFault::status(503, 1).on(RouteMatch::Only(Route::ComputeFeatures)));
    let t = setup(&ee, 12, "mode: interactive\ninteractive:\n  sites_per_request: 4\n  max_in_flight: 3\n").args([
        "run",
        "p.yaml",
        "--events",
        "events.jsonl",
    ]);
    let out = t.code(0);
    assert!(out.stderr.contains("mode: interactive (`mode: interactive`"), "{}", out.stderr);

    // Only interactive requests: nothing exported, no operation listed.
    let c = ee.counters();
    assert_eq!(c.operations_created, 0, "{c:?}");
    assert_eq!(c.requests_to(Route::OperationList), 0);
    // 3 chunks of 4 time out, their 6 halves succeed; the 3 injected faults are retried.
    assert_eq!(c.requests_to(Route::ComputeFeatures), 3 + 6 + 3, "{c:?}");
    assert!(c.max_computing <= 3, "{c:?}");
    let refused: Vec<&str> = c.rejections.iter().map(|r| r.message.as_str()).collect();
    assert!(refused.iter().all(|m| *m == "Computation timed out."), "{refused:?}");
    assert_eq!(refused.len(), 3);

    expected::assert_same_rows(
        expected::read_table(&out.dir.join("out/inter.csv"), "site_id", &["name"]),
        expected_rows(12),
    );

    // The journal: three split parents, six stored halves with their files and request counts.
    let rows = journal(&out.dir);
    let split: Vec<&str> =
        rows.iter().filter(|r| r.state == geepipe::journal::ChunkState::Split).map(|r| r.chunk_id.as_str()).collect();
    assert_eq!(split, ["c00000", "c00001", "c00002"]);
    let done: Vec<_> = rows.iter().filter(|r| r.state == geepipe::journal::ChunkState::Succeeded).collect();
    assert_eq!(done.len(), 6);
    assert!(done
        .iter()
        .all(|r| r.mode == geepipe::plan::RunMode::Interactive && r.result.is_some() && r.site_ids.len() == 2));
    let requests: u32 = rows.iter().map(|r| r.requests).sum();
    assert_eq!(requests as u64, c.requests_to(Route::ComputeFeatures));
    assert_eq!(stored_files(&out.dir), 6);

    // Events: the mode first, then requests, splits and stored results.
    let ev = events(&out.dir.join("events.jsonl"));
    let kinds: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds[..2], ["mode", "started"]);
    assert_eq!(ev[0]["mode"], "interactive");
    assert_eq!(kinds.iter().filter(|k| **k == "split").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "stored").count(), 6);
    assert_eq!(kinds.iter().filter(|k| **k == "requested").count(), 9);
    assert_eq!(kinds.last(), Some(&"finished"));

    // The manifest lists every chunk with its mode, requests and stored file.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/inter.manifest.json")).unwrap()).unwrap();
    let chunks = m["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 6);
    assert!(chunks.iter().all(|c| c["mode"] == "interactive" && c["requests"].as_u64().unwrap() >= 1));
    assert!(chunks.iter().all(|c| c["files"][0].as_str().unwrap().starts_with("downloads/inter/interactive/c0000")));

    // status shows the mode and requests; a rerun sends nothing and writes the same table.
    let before = std::fs::read(out.dir.join("out/inter.csv")).unwrap();
    let again = t.code(0);
    assert_eq!(ee.counters().requests_to(Route::ComputeFeatures), c.requests_to(Route::ComputeFeatures));
    assert_eq!(std::fs::read(again.dir.join("out/inter.csv")).unwrap(), before);
    let status = Command::new(env!("CARGO_BIN_EXE_geepipe"))
        .args(["status", "p.yaml"])
        .current_dir(&out.dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["chunk", "sites", "state", "attempts", "runtime", "EECU", "mode", "requests", "error"]);
    assert!(text.contains("mode: interactive"), "{text}");

    // The token is nowhere on disk.
    for entry in walk(&out.dir) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "token in {}", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn kill_9_loses_only_the_requests_in_flight_and_a_rerun_recomputes_nothing_stored() {
    const N: usize = 24;
    let ee = fake(Config { compute_latency: Duration::from_millis(150), ..Config::default() });
    let t = setup(&ee, N, "interactive:\n  sites_per_request: 1\n  max_in_flight: 2\n").args(["run", "p.yaml"]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_geepipe"));
    cmd.args(["run", "p.yaml"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("GEEPIPE_EE_URL", ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("GEEPIPE_RETRY_BASE_MS", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    while stored_files(t.path()) < 6 {
        assert!(started.elapsed() < Duration::from_secs(60), "no results stored");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let first = ee.counters().requests_to(Route::ComputeFeatures);
    let stored = stored_files(t.path());
    assert!((6..N).contains(&stored), "{stored}");
    // At most the requests in flight (2) were lost.
    assert!(first as usize <= stored + 2, "{first} requests for {stored} stored");

    let out = t.code(0);
    let second = ee.counters().requests_to(Route::ComputeFeatures) - first;
    assert_eq!(second as usize, N - stored, "the rerun asked again for a stored chunk");
    assert_eq!(stored_files(&out.dir), N);
    expected::assert_same_rows(
        expected::read_table(&out.dir.join("out/inter.csv"), "site_id", &["name"]),
        expected_rows(N),
    );
}

/// `geepipe plan` with `extra` appended to the pipeline (sites from `sites`): its stdout.
fn plan(sites: &str, extra: &str) -> String {
    let out =
        Test::new().file("sites.geojson", sites).file("p.yaml", &pipeline(extra)).args(["plan", "p.yaml"]).code(0);
    out.stdout
}

#[test]
fn auto_runs_a_small_job_interactively_and_a_long_one_or_a_huge_site_as_batch_tasks() {
    let export = "export:\n  to: gcs\n  bucket: inter-bucket\nchunks:\n  sites_per_task: 4\n";

    // Small: 12 sites of ~30 ha, two years — interactive, said by `plan` and first by `run`.
    let small = plan(&sites_geojson(12), export);
    assert!(small.contains("  mode:             interactive (auto: 12 sites × 3 layer-years"), "{small}");
    assert!(small.contains("(table:computeFeatures, high-volume endpoint)"), "{small}");
    let ee = fake(Config::default());
    let t = setup(&ee, 12, export).args(["run", "p.yaml", "--events", "events.jsonl"]);
    let out = t.code(0);
    assert!(out.stderr.starts_with("mode: interactive (auto: 12 sites"), "{}", out.stderr);
    let c = ee.counters();
    assert_eq!(c.operations_created, 0, "{c:?}");
    assert!(c.requests_to(Route::ComputeFeatures) >= 1);
    let ev = events(&out.dir.join("events.jsonl"));
    assert_eq!((ev[0]["event"].as_str(), ev[0]["mode"].as_str()), (Some("mode"), Some("interactive")));
    expected::assert_same_rows(
        expected::read_table(&out.dir.join("out/inter.csv"), "site_id", &["name"]),
        expected_rows(12),
    );

    // The same job with at most 0.6 s for an interactive run: batch, with the reason, and export tasks.
    let long = format!("{export}interactive:\n  auto_max_minutes: 0.01\n");
    let said = plan(&sites_geojson(12), &long);
    assert!(
        said.contains("  mode:             batch (auto: 12 sites")
            && said.contains("longer than `interactive.auto_max_minutes` (0.6 s)"),
        "{said}"
    );
    let ee = fake(Config::default());
    let t = setup(&ee, 12, &long).args(["run", "p.yaml", "--detach", "--no-probe"]);
    let out = t.code(0);
    assert!(out.stderr.starts_with("mode: batch (auto: 12 sites"), "{}", out.stderr);
    let c = ee.counters();
    assert_eq!(c.operations_created, 3, "one export task per chunk of 4: {c:?}");
    assert_eq!(c.requests_to(Route::ComputeFeatures), 0, "{c:?}");
    assert!(journal(&out.dir).iter().all(|r| r.mode == geepipe::plan::RunMode::Batch));

    // One site of 3° × 3° reads more pixels than one request should: batch, naming the site.
    let huge = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"big","name":"Big"},"geometry":{"type":"Polygon","coordinates":[[[-50,-18],[-47,-18],[-47,-15],[-50,-15],[-50,-18]]]}}]}"#;
    let said = plan(huge, export);
    assert!(said.contains("  mode:             batch (auto: site `big` alone reads ≈"), "{said}");
    // …and without a destination that is an error, before anything is sent.
    let err = Test::new().file("sites.geojson", huge).file("p.yaml", &pipeline("")).args(["plan", "p.yaml"]).code(2);
    assert!(err.stderr.contains("plan::needs-export"), "{}", err.stderr);
}

#[test]
fn auto_moves_the_remaining_chunks_to_batch_when_interactive_requests_keep_failing_for_size() {
    // Every interactive request runs into the fake's time limit; export tasks have none.
    let gcs = fake_ee::gcs_emulator::GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket("inter-bucket").unwrap();
    let ee = fake(Config {
        compute_latency: Duration::from_millis(200),
        compute_time_limit: Duration::from_millis(200),
        storage_base_url: Some(gcs.base_url().to_string()),
        ..Config::default()
    });
    let extra = "export:\n  to: gcs\n  bucket: inter-bucket\n  prefix: inter/\n\
                 interactive:\n  sites_per_request: 4\n  max_in_flight: 3\n";
    let t = setup(&ee, 12, extra).env("STORAGE_EMULATOR_HOST", gcs.base_url()).args([
        "run",
        "p.yaml",
        "--events",
        "events.jsonl",
    ]);
    let out = t.code(0);
    assert!(out.stderr.starts_with("mode: interactive (auto: 12 sites"), "{}", out.stderr);
    assert!(
        out.stderr.contains("chunk(s) to batch: 10 interactive requests failed for size (last: HTTP 400")
            && out.stderr.contains("the remaining chunks run as batch export tasks"),
        "{}",
        out.stderr
    );

    // Ten size failures (chunks of 4, their halves, a single site), then everything left went to batch.
    let ev = events(&out.dir.join("events.jsonl"));
    let moved: Vec<&serde_json::Value> = ev.iter().filter(|e| e["event"] == "moved_to_batch").collect();
    assert!(!moved.is_empty());
    let c = ee.counters();
    let timeouts = c.rejections.iter().filter(|r| r.message == "Computation timed out.").count();
    assert_eq!(timeouts as u64, c.requests_to(Route::ComputeFeatures), "every interactive request timed out");
    assert!((10..=3 + 6 + 12).contains(&timeouts), "{timeouts}");
    let rows = journal(&out.dir);
    let done: Vec<_> = rows.iter().filter(|r| r.state == geepipe::journal::ChunkState::Succeeded).collect();
    assert!(done.iter().all(|r| r.mode == geepipe::plan::RunMode::Batch && r.operation.is_some()));
    assert_eq!(c.operations_created as usize, done.len(), "one export task per chunk computed");
    let sites: usize = done.iter().map(|r| r.site_ids.len()).sum();
    assert_eq!(sites, 12);
    let j = geepipe::journal::Journal::open_read(&out.dir.join("out/.geepipe/inter.sqlite")).unwrap();
    assert_eq!(j.meta("mode").unwrap().as_deref(), Some("batch"));

    // The table is the same as an interactive run's would be.
    expected::assert_same_rows(
        expected::read_table(&out.dir.join("out/inter.csv"), "site_id", &["name"]),
        expected_rows(12),
    );
}

#[test]
fn cancel_during_an_interactive_run_stops_sending_and_a_batch_run_merges_the_rest_into_one_table() {
    const N: usize = 24;
    let gcs = fake_ee::gcs_emulator::GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket("inter-bucket").unwrap();
    let ee = fake(Config {
        compute_latency: Duration::from_millis(200),
        storage_base_url: Some(gcs.base_url().to_string()),
        ..Config::default()
    });
    let extra = "mode: interactive\ninteractive:\n  sites_per_request: 1\n  max_in_flight: 2\n\
                 export:\n  to: gcs\n  bucket: inter-bucket\n  prefix: inter/\n";
    let t = setup(&ee, N, extra).args(["run", "p.yaml"]);
    let geepipe = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_geepipe"));
        c.args(args)
            .current_dir(t.path())
            .env("NO_COLOR", "1")
            .env("GEEPIPE_EE_URL", ee.base_url())
            .env("GEEPIPE_EE_TOKEN", TOKEN)
            .env("GEEPIPE_RETRY_BASE_MS", "20")
            .env("GEEPIPE_POLL_MIN", "0.05")
            .env("STORAGE_EMULATOR_HOST", gcs.base_url());
        c
    };
    let run = geepipe(&["run", "p.yaml"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while stored_files(t.path()) < 4 {
        assert!(started.elapsed() < Duration::from_secs(60), "no results stored");
        std::thread::sleep(Duration::from_millis(5));
    }
    let cancel = geepipe(&["cancel", "p.yaml"]).output().unwrap();
    let said = String::from_utf8_lossy(&cancel.stderr);
    assert_eq!(cancel.status.code(), Some(0), "{said}");
    assert!(said.contains("asking it to stop, then cancelling"), "{said}");
    let run_out = run.wait_with_output().unwrap();
    assert_eq!(run_out.status.code(), Some(3), "{}", String::from_utf8_lossy(&run_out.stderr));

    // Nothing is sent after the cancel; every chunk is either stored or cancelled.
    let sent = ee.counters().requests_to(Route::ComputeFeatures);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(ee.counters().requests_to(Route::ComputeFeatures), sent, "a request after the cancel");
    let rows = journal(t.path());
    let stored = stored_files(t.path());
    let succeeded = rows.iter().filter(|r| r.state == geepipe::journal::ChunkState::Succeeded).count();
    let cancelled = rows.iter().filter(|r| r.state == geepipe::journal::ChunkState::Cancelled).count();
    assert_eq!(succeeded, stored);
    assert_eq!(succeeded + cancelled, N, "{rows:?}");
    assert!(cancelled > 0 && said.contains(&format!("{cancelled} chunks that were never submitted marked cancelled")));
    assert!(sent as usize <= stored + 2, "{sent} requests for {stored} stored (2 in flight at most)");

    // A later run in batch mode exports exactly the cancelled chunks; the table merges both kinds.
    let last = geepipe(&["run", "p.yaml", "--mode", "batch"]).output().unwrap();
    let said = String::from_utf8_lossy(&last.stderr);
    assert_eq!(last.status.code(), Some(0), "{said}");
    assert!(said.contains(&format!("{cancelled} chunk(s) not sent yet now run in batch mode")), "{said}");
    assert_eq!(ee.counters().requests_to(Route::ComputeFeatures), sent, "nothing stored is asked again");
    assert_eq!(ee.counters().operations_created as usize, cancelled);
    expected::assert_same_rows(
        expected::read_table(&t.path().join("out/inter.csv"), "site_id", &["name"]),
        expected_rows(N),
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("out/inter.manifest.json")).unwrap()).unwrap();
    let chunks = m["chunks"].as_array().unwrap();
    let of = |mode: &str| chunks.iter().filter(|c| c["mode"] == mode).collect::<Vec<_>>();
    assert_eq!((of("interactive").len(), of("batch").len()), (stored, cancelled), "{m}");
    assert!(of("interactive")
        .iter()
        .all(|c| c["files"][0].as_str().unwrap().starts_with("downloads/inter/interactive/")));
    assert!(of("batch").iter().all(|c| c["files"][0].as_str().unwrap().starts_with("gs://inter-bucket/inter/")));
}

#[test]
fn plan_out_writes_compute_features_bodies_that_fit_the_contract() {
    let t = Test::new()
        .file("sites.geojson", &sites_geojson(12))
        .file("p.yaml", &pipeline("mode: interactive\ninteractive:\n  sites_per_request: 5\n  page_size: 500\n"))
        .args(["plan", "p.yaml", "--out", "requests"]);
    let out = t.code(0);
    assert!(
        out.stdout.contains("  requests:         3 (table:computeFeatures, high-volume endpoint)"),
        "{}",
        out.stdout
    );
    let contract = ee_contract::Contract::from_dir(&common::reference_dir()).unwrap();
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("requests/plan.json")).unwrap()).unwrap();
    let tasks = index["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    for task in tasks {
        assert_eq!(task["endpoint"], "table:computeFeatures");
        let text = std::fs::read_to_string(out.dir.join("requests").join(task["file"].as_str().unwrap())).unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        let violations = contract.check_request("earthengine.projects.table.computeFeatures", &body);
        assert!(violations.is_empty(), "{violations:?}");
        assert!(contract.check_expression(&body["expression"]).is_empty());
        assert_eq!(body["pageSize"], 500);
        assert!(body.get("fileExportOptions").is_none() && body.get("requestId").is_none(), "{body}");
    }
}
