//! Tokens never leave geepipe (issue 12, "Secrets and files"): a server that echoes the request's own
//! `Authorization` header (and the bare token in it) into its error text, as a careless proxy does, is
//! met by every command that talks to Earth Engine: `probe`, `run` (probe, submissions, polling, fetch,
//! report), `status`, `fetch`, `cancel`. The token, which has no recognisable shape, must appear in no
//! output and no file: stdout, stderr (with `-vv` logs), the events file, the journal's bytes, the table,
//! the manifest, the report.
//!
//! Each test also checks that the echo really happened and was shown redacted (`***`), so it fails if the
//! fault stops firing or its text stops reaching the user.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Test;
use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::{Clock, Config, Durations, FakeEe, RequestFault, Route, RouteMatch};

/// An opaque static token: no `ya29.`/JWT shape, so only knowing the exact value can take it out.
const TOKEN: &str = "opaque-4e9c1b7a-SESAME-d25f";

const PIPELINE: &str = "\
name: sec
project: demo-project
mode: batch
sites:
  file: sites.geojson
  id: site_id
years: 2020
layers:
  - catalog: mapbiomas_lulc
export:
  to: gcs
  bucket: sec-bucket
  prefix: runs/sec/
chunks:
  sites_per_task: 2
output:
  path: out/sec.csv
  report: true
";

fn sites_geojson() -> String {
    let features: Vec<String> = (0..4)
        .map(|i| {
            let (x, y) = (-48.0 + i as f64 * 0.01, -15.8);
            format!(
                r#"{{"type":"Feature","properties":{{"site_id":"s{i}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]}}}}"#,
                x + 0.005,
                x + 0.005,
                y + 0.005,
                y + 0.005
            )
        })
        .collect();
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",\n"))
}

fn environment(durations: Durations, scale: f64) -> (GcsEmulator, FakeEe) {
    let gcs = GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket("sec-bucket").unwrap();
    let ee = FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(scale),
        durations,
        max_running: 4,
        storage_base_url: Some(gcs.base_url().to_string()),
        ..Config::default()
    })
    .expect("fake Earth Engine starts");
    (gcs, ee)
}

/// `geepipe ARGS` in `dir` against the fakes.
fn geepipe(dir: &Path, ee: &FakeEe, gcs: &GcsEmulator, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_geepipe"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("GEEPIPE_EE_URL", ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("STORAGE_EMULATOR_HOST", gcs.base_url())
        .env("GEEPIPE_POLL_MIN", "0.05")
        .env("GEEPIPE_POLL_MAX", "0.2")
        .env("GEEPIPE_RETRY_BASE_MS", "5")
        .output()
        .expect("run geepipe");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Asserts the token is in none of `texts` (named for the message).
fn clean(what: &str, texts: &[&str]) {
    for t in texts {
        assert!(!t.contains(TOKEN), "the token reached {what}:\n{t}");
    }
}

/// Every file below `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// No file below `dir` holds the token; returns the file names seen (to check the ones that must exist).
fn no_file_holds_the_token(dir: &Path) -> Vec<String> {
    let all = files(dir);
    for (p, bytes) in &all {
        assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the token is in {}", p.display());
    }
    all.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

#[test]
fn a_server_echoing_the_authorization_header_never_shows_the_token() {
    let (gcs, ee) =
        environment(Durations::Uniform { min: Duration::from_secs(30), max: Duration::from_secs(90), seed: 5 }, 1000.0);
    let t = Test::new().file("sites.geojson", &sites_geojson()).file("p.yaml", PIPELINE);
    let dir = t.path();

    // probe: the computation is refused with the header echoed (401 is final: shown to the user).
    ee.faults().push(RequestFault::echo_authorization(401, 1).on(RouteMatch::Only(Route::ComputeFeatures)));
    let (code, out, err) = geepipe(dir, &ee, &gcs, &["probe", "p.yaml"]);
    assert_ne!(code, 0, "{err}");
    clean("probe's output", &[&out, &err]);
    assert!(err.contains("received `Authorization: Bearer ***`). The token *** is not valid"), "{err}");
    assert_eq!(ee.counters().faults_fired, 1);

    // run: every kind of call gets an echoing 500 first (retried, logged with -vv), then the run ends with
    // its table, manifest and report.
    for route in [Route::ComputeFeatures, Route::TableExport, Route::OperationGet, Route::OperationList] {
        ee.faults().push(RequestFault::echo_authorization(500, 1).on(RouteMatch::Only(route)));
    }
    let (code, out, err) = geepipe(dir, &ee, &gcs, &["-vv", "run", "p.yaml", "--events", "events.jsonl"]);
    assert_eq!(code, 0, "{err}");
    clean("run's output", &[&out, &err]);
    let fired = ee.counters().faults_fired;
    assert!(fired >= 3, "only {fired} echoing answers were sent");
    assert!(err.contains("The token *** is not valid"), "the echoed text is not in the -vv log:\n{err}");
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert!(events.lines().count() > 4, "{events}");

    // status (table and JSON), fetch again, report: all from what the run kept.
    let (code, table, err) = geepipe(dir, &ee, &gcs, &["status", "p.yaml"]);
    assert_eq!(code, 0, "{err}");
    let (_, json, err2) = geepipe(dir, &ee, &gcs, &["status", "p.yaml", "--json"]);
    clean("status", &[&table, &err, &json, &err2]);
    let (code, out, err) = geepipe(dir, &ee, &gcs, &["-vv", "fetch", "p.yaml"]);
    assert_eq!(code, 0, "{err}");
    clean("fetch", &[&out, &err]);
    let (code, out, err) = geepipe(dir, &ee, &gcs, &["report", "p.yaml"]);
    assert_eq!(code, 0, "{err}");
    clean("report", &[&out, &err]);

    let names = no_file_holds_the_token(dir);
    for must in ["sec.csv", "sec.manifest.json", "sec.report.html", "sec.sqlite", "events.jsonl"] {
        assert!(names.iter().any(|n| n == must), "no {must} among {names:?}");
    }
}

/// `cancel` meets an echoing refusal of its cancel calls, and a later `run` a fatal echoing 401 while it
/// polls: the errors are shown and recorded (journal), the token is not.
#[test]
fn cancel_and_a_failing_run_never_record_the_token() {
    let (gcs, ee) = environment(Durations::Fixed(Duration::from_secs(86_400)), 1.0);
    let t = Test::new().file("sites.geojson", &sites_geojson()).file("p.yaml", PIPELINE);
    let dir = t.path();
    let (code, _, err) = geepipe(dir, &ee, &gcs, &["run", "p.yaml", "--detach"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ee.counters().operations_created, 2);

    ee.faults().push(RequestFault::echo_authorization(403, 100).on(RouteMatch::Only(Route::OperationCancel)));
    let (_, out, err) = geepipe(dir, &ee, &gcs, &["-vv", "cancel", "p.yaml"]);
    clean("cancel's output", &[&out, &err]);
    assert!(ee.counters().faults_fired >= 1, "no cancel call was answered: {err}");
    assert!(err.contains("The token *** is not valid"), "the refusal is not shown:\n{err}");

    ee.faults().push(RequestFault::echo_authorization(401, 100).on(RouteMatch::Any));
    let (code, out, err) = geepipe(dir, &ee, &gcs, &["-vv", "run", "p.yaml", "--events", "events.jsonl"]);
    assert_ne!(code, 0, "{err}");
    clean("the failed run's output", &[&out, &err]);
    assert!(err.contains("Bearer ***"), "{err}");
    let (_, table, err) = geepipe(dir, &ee, &gcs, &["status", "p.yaml", "--json"]);
    clean("status", &[&table, &err]);
    let names = no_file_holds_the_token(dir);
    assert!(names.iter().any(|n| n == "sec.sqlite"), "{names:?}");
}
