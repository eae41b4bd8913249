//! Incremental interactive runs against the fake Earth Engine, whose `table:computeFeatures` evaluates every
//! expression on its synthetic world: each change to the pipeline or the site file asks exactly for the cells
//! the results store lacks — counted from the request bodies the fake answered, read from their expressions,
//! not from geepipe's report — and the table equals, byte for byte, a fresh full run's of the changed pipeline
//! in a new folder. An interactive run after a batch run (and the other way round) uses the cells the other
//! stored; a `kill -9` in the middle of an incremental interactive run loses nothing and stores nothing twice.
//! Answers reach the store as they arrive: `status` during a run, after a kill and after a run not fetched
//! counts them as stored, and a new plan never asks for them again.

mod incremental_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::{Clock, Config, Durations, FakeEe};
use incremental_support::{asked, cells, exactly_once, kill_when, sent as exported, sites, six_changes, Cell};
use serde_json::Value;

const TOKEN: &str = "incremental-interactive-token-7d31";
const BUCKET: &str = "incr-inter-bucket";

/// The pipeline in `mode` (`interactive`, `batch` or `auto`), with an export destination for batch.
fn pipeline(mode: &str, years: &str, stats: &str, keep: &str) -> String {
    format!(
        "name: incr\nproject: demo-project\nmode: {mode}\nsites:\n  file: sites.geojson\n  id: site_id\n  keep: [{keep}]\n\
         years: {years}\nlayers:\n  - catalog: mapbiomas_lulc\n  - catalog: modis_ndvi\n    stats: [{stats}]\n\
         interactive:\n  sites_per_request: 2\n  max_in_flight: 2\n\
         export:\n  to: gcs\n  bucket: {BUCKET}\n  prefix: runs/incr/\nchunks:\n  sites_per_task: 3\n  max_concurrent: 4\n\
         output:\n  path: out/incr.csv\n"
    )
}

/// A fake Earth Engine (exports written into a Cloud Storage emulator); `latency` is the real time each
/// interactive request takes.
fn environment(latency: Duration) -> (GcsEmulator, FakeEe) {
    let gcs = GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket(BUCKET).unwrap();
    let ee = FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(1000.0),
        durations: Durations::Uniform { min: Duration::from_secs(30), max: Duration::from_secs(120), seed: 7 },
        compute_latency: latency,
        storage_base_url: Some(gcs.base_url().to_string()),
        ..Config::default()
    })
    .expect("fake Earth Engine starts");
    (gcs, ee)
}

fn command(dir: &Path, ee: &FakeEe, gcs: &GcsEmulator, args: &[&str]) -> Command {
    incremental_support::command(dir, ee, gcs, TOKEN, args)
}

fn run(dir: &Path, ee: &FakeEe, gcs: &GcsEmulator, args: &[&str]) -> Output {
    incremental_support::succeed(command(dir, ee, gcs, args), args)
}

/// The table of a fresh full run of this pipeline and site file in a new folder, on a new fake.
fn fresh_table(pipeline_yaml: &str, sites_geojson: &str) -> Vec<u8> {
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), pipeline_yaml).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites_geojson).unwrap();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    std::fs::read(dir.path().join("out/incr.csv")).unwrap()
}

fn store(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("out/.geepipe/incr.store.sqlite")).unwrap()
}

#[test]
fn each_change_asks_exactly_for_the_missing_cells_and_gives_the_fresh_table() {
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let p = |years: &str, stats: &str, keep: &str| pipeline("interactive", years, stats, keep);
    let steps = six_changes(p, 5, 3, &[6, 3, 0, 5, 1, 4, 2]);
    for step in steps {
        std::fs::write(dir.path().join("p.yaml"), &step.pipeline).unwrap();
        std::fs::write(dir.path().join("sites.geojson"), &step.sites).unwrap();
        let before = ee.computed().len();
        let out = run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let got = exactly_once(&asked(&ee, before));
        assert_eq!(
            got,
            step.expect,
            "{}: the cells asked for differ (asked {}, expected {})\nstderr:\n{stderr}",
            step.what,
            got.len(),
            step.expect.len(),
        );
        if !step.expect.is_empty() {
            assert!(stderr.contains("mode: interactive"), "{}: {stderr}", step.what);
        }
        assert!(ee.submissions().is_empty(), "{}: an export task was submitted", step.what);
        let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&table),
            String::from_utf8_lossy(&fresh_table(&step.pipeline, &step.sites)),
            "{}: the table differs from a fresh full run's",
            step.what
        );
        // Nothing changed: a rerun asks for nothing and writes the same bytes.
        let before = ee.computed().len();
        let again = run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
        assert_eq!(ee.computed().len(), before, "{}: a rerun asked again", step.what);
        assert_eq!(
            std::fs::read(dir.path().join("out/incr.csv")).unwrap(),
            table,
            "{}: a rerun changed the table",
            step.what
        );
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(stderr.contains("nothing to compute"), "{}: {stderr}", step.what);
    }
    // Every stored cell came from an interactive answer, with its request id and time.
    let (cells_n, interactive, with_request): (i64, i64, i64) = store(dir.path())
        .query_row(
            "SELECT count(*), coalesce(sum(o.kind = 'interactive'), 0), coalesce(sum(o.request_id IS NOT NULL AND o.at > 0), 0)
             FROM cells c JOIN origins o ON o.id = c.origin",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(cells_n > 0);
    assert_eq!((interactive, with_request), (cells_n, cells_n));
}

#[test]
fn plan_and_status_count_the_cells_of_an_interactive_pipeline() {
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<usize> = (0..4).collect();
    std::fs::write(dir.path().join("p.yaml"), pipeline("interactive", "2020..2021", "mean", "name")).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites(&base, None, "name")).unwrap();
    // `--detach` cannot leave interactive requests behind: refused, nothing asked, no journal left.
    let detached = command(dir.path(), &ee, &gcs, &["run", "p.yaml", "--detach"]).output().unwrap();
    let said = String::from_utf8_lossy(&detached.stderr);
    assert_ne!(detached.status.code(), Some(0), "{said}");
    assert!(said.contains("--detach submits export tasks"), "{said}");
    assert!(ee.computed().is_empty() && !dir.path().join("out/.geepipe/incr.sqlite").exists());
    let plan = run(dir.path(), &ee, &gcs, &["plan", "p.yaml"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("mapbiomas_lulc: 0 cells stored, 8 to compute"), "{text}");
    assert!(text.contains("requests:         2 (table:computeFeatures"), "{text}");
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    std::fs::write(dir.path().join("p.yaml"), pipeline("interactive", "2020..2022", "mean", "name")).unwrap();
    let plan = run(dir.path(), &ee, &gcs, &["plan", "p.yaml", "--json"]);
    let v: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(v["tasks"], 2, "4 sites lacking 2022, 2 per request: {v}");
    assert_eq!(v["mode"]["mode"], "interactive", "{v}");
    assert_eq!(v["cells"]["layers"][0], serde_json::json!({"layer": "mapbiomas_lulc", "stored": 8, "to_compute": 4}));
    assert_eq!(v["cells"]["layers"][1], serde_json::json!({"layer": "modis_ndvi", "stored": 8, "to_compute": 4}));
    let status = run(dir.path(), &ee, &gcs, &["status", "p.yaml"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("modis_ndvi: 8 cells stored, 4 to compute"), "{text}");
}

/// An interactive run after a batch run asks only for what the batch run did not store, and a batch run after
/// an interactive one exports only what that one did not store; the table is a fresh full run's each time.
#[test]
fn interactive_and_batch_runs_use_each_others_stored_cells() {
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<usize> = (0..4).collect();
    let grown: Vec<usize> = (0..6).collect();
    let write = |yaml: &str, geo: &str| {
        std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
        std::fs::write(dir.path().join("sites.geojson"), geo).unwrap();
    };
    let geo = sites(&base, None, "name");
    write(&pipeline("batch", "2020..2021", "mean", "name"), &geo);
    // Batch runs without their probe (a `computeFeatures` check of a few sites, not stored), so every
    // interactive answer counted here is work.
    run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--no-probe"]);
    assert_eq!(exactly_once(&exported(&ee, 0)), cells(&base, &[2020, 2021], &["mean"]));
    assert!(ee.computed().is_empty());

    // Interactive, one year more: only that year is asked for, nothing is exported.
    let yaml = pipeline("interactive", "2020..2022", "mean", "name");
    write(&yaml, &geo);
    let (tasks, answers) = (ee.submissions().len(), ee.computed().len());
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    assert_eq!(exactly_once(&asked(&ee, answers)), cells(&base, &[2022], &["mean"]));
    assert_eq!(ee.submissions().len(), tasks, "nothing exported");
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));

    // Batch again, two sites more: only they are exported, nothing is asked interactively.
    let geo = sites(&grown, None, "name");
    let yaml = pipeline("batch", "2020..2022", "mean", "name");
    write(&yaml, &geo);
    let (tasks, answers) = (ee.submissions().len(), ee.computed().len());
    run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--no-probe"]);
    assert_eq!(exactly_once(&exported(&ee, tasks)), cells(&[4, 5], &[2020, 2021, 2022], &["mean"]));
    assert_eq!(ee.computed().len(), answers, "nothing asked interactively");
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));

    // The store says where each cell came from.
    let kinds: Vec<(String, i64)> = {
        let c = store(dir.path());
        let mut st = c
            .prepare("SELECT o.kind, count(*) FROM cells c JOIN origins o ON o.id = c.origin GROUP BY o.kind ORDER BY o.kind")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    let n = |s: &[usize], y: &[i32]| cells(s, y, &["mean"]).len() as i64;
    assert_eq!(
        kinds,
        [
            ("batch".to_string(), n(&base, &[2020, 2021]) + n(&[4, 5], &[2020, 2021, 2022])),
            ("interactive".to_string(), n(&base, &[2022]))
        ]
    );
}

/// The cells an interactive answer file holds: its sites times its value columns
/// (`layer__year__ha|px`, `layer__year__band__stat`).
fn answered_cells(file: &Path) -> BTreeSet<Cell> {
    let doc: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    for f in doc["features"].as_array().unwrap() {
        let props = f["properties"].as_object().unwrap();
        let site = props["site_id"].as_str().unwrap().to_string();
        for k in props.keys() {
            let parts: Vec<&str> = k.split("__").collect();
            let (Some(layer), Some(Ok(year))) = (parts.first(), parts.get(1).map(|y| y.parse::<i32>())) else {
                continue;
            };
            let stat = if parts.len() == 4 { parts[3].to_string() } else { String::new() };
            out.insert((site.clone(), layer.to_string(), year, stat));
        }
    }
    out
}

fn answer_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("out/.geepipe/downloads/incr/interactive"))
        .map(|d| {
            d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect()
        })
        .unwrap_or_default()
}

#[test]
fn kill_9_during_an_incremental_interactive_run_loses_and_stores_nothing_twice() {
    // Each answer takes 150 ms: the kills land mid-run.
    let (gcs, ee) = environment(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<usize> = (0..6).collect();
    std::fs::write(dir.path().join("p.yaml"), pipeline("interactive", "2020..2021", "mean", "name")).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites(&all, None, "name")).unwrap();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    // Add a year and sites, then kill the run after its first answers, several times.
    let grown: Vec<usize> = (0..16).collect();
    let yaml = pipeline("interactive", "2020..2022", "mean", "name");
    let geo = sites(&grown, None, "name");
    std::fs::write(dir.path().join("p.yaml"), &yaml).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), &geo).unwrap();
    let start = ee.computed().len();
    let mut kills = 0;
    // 8 requests (3 for the new year of 6 sites, 5 for 10 new sites); a kill comes after 1 or 2 answers.
    for k in [1usize, 1] {
        let before = ee.computed().len();
        // What was answered and stored before this run: never asked again.
        let kept: BTreeSet<Cell> = answer_files(dir.path()).iter().flat_map(|f| answered_cells(f)).collect();
        let child = command(dir.path(), &ee, &gcs, &["run", "p.yaml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let ee_ref = &ee;
        kill_when(child, Duration::from_secs(60), move || ee_ref.computed().len() >= before + k);
        kills += 1;
        let again: BTreeSet<Cell> = asked(&ee, before).into_keys().collect();
        let repeated: Vec<&Cell> = again.intersection(&kept).collect();
        assert!(repeated.is_empty(), "stored answers asked again after kill {kills}: {repeated:?}");
    }
    let before = ee.computed().len();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    assert!(ee.computed().len() > before, "the kills stopped the runs before their end");
    let mut want = cells(&all, &[2022], &["mean"]);
    want.extend(cells(&(6..16).collect::<Vec<_>>(), &[2020, 2021, 2022], &["mean"]));
    let got = asked(&ee, start);
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), want, "every missing cell asked for, nothing else");
    // A cell is asked twice only when its answer came while the run was being killed: at most the requests in
    // flight (2, of 2 sites × 3 years × 2 cells at most) per kill.
    let again: usize = got.values().map(|n| n - 1).sum();
    let per_request = 2 * 3 * 2;
    assert!(again <= kills * 2 * per_request, "{again} cells asked again after {kills} kills");
    // Each cell is stored once, and the table is a fresh full run's.
    let stored: i64 = store(dir.path()).query_row("SELECT count(*) FROM cells", [], |r| r.get(0)).unwrap();
    assert_eq!(stored as usize, cells(&grown, &[2020, 2021, 2022], &["mean"]).len());
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));
}

/// `run --fresh` of an interactive pipeline asks for every cell again (once), its answers replace the stored
/// values, and the table is the same; the next run asks for nothing.
#[test]
fn fresh_asks_for_every_cell_again_and_replaces_the_stored_ones() {
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<usize> = (0..4).collect();
    std::fs::write(dir.path().join("p.yaml"), pipeline("interactive", "2020..2021", "mean", "name")).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites(&base, None, "name")).unwrap();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    let last_origin: i64 = store(dir.path()).query_row("SELECT max(id) FROM origins", [], |r| r.get(0)).unwrap();
    let before = ee.computed().len();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--fresh"]);
    let all = cells(&base, &[2020, 2021], &["mean"]);
    assert_eq!(exactly_once(&asked(&ee, before)), all, "--fresh asks for every cell");
    assert_eq!(std::fs::read(dir.path().join("out/incr.csv")).unwrap(), table);
    let (n, older): (i64, i64) = store(dir.path())
        .query_row("SELECT count(*), coalesce(sum(origin <= ?1), 0) FROM cells", [last_origin], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((n, older), (all.len() as i64, 0), "every cell replaced");
    let before = ee.computed().len();
    let again = run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    assert_eq!(ee.computed().len(), before, "the run after --fresh asks for nothing");
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to compute"));
}

/// `auto` decides from the cells still to compute: a first run too long for interactive requests runs as
/// export tasks; adding one site then is a short job, asked for interactively; the table is a fresh run's.
#[test]
fn auto_decides_from_the_missing_cells() {
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    // At most 3 s interactive: 6 sites in 3 requests of 2, two at a time, are about 4 s; one site about 2 s.
    let yaml = pipeline("auto", "2020..2021", "mean", "name")
        .replace("interactive:\n", "interactive:\n  auto_max_minutes: 0.05\n");
    let base: Vec<usize> = (0..6).collect();
    std::fs::write(dir.path().join("p.yaml"), &yaml).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites(&base, None, "name")).unwrap();
    let out = run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--no-probe"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("mode: batch (auto: 6 sites"), "{said}");
    assert_eq!(exactly_once(&exported(&ee, 0)), cells(&base, &[2020, 2021], &["mean"]));
    assert!(ee.computed().is_empty());

    let grown: Vec<usize> = (0..7).collect();
    let geo = sites(&grown, None, "name");
    std::fs::write(dir.path().join("sites.geojson"), &geo).unwrap();
    let tasks = ee.submissions().len();
    let out = run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--no-probe"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("mode: interactive (auto: 1 site ×"), "{said}");
    assert_eq!(exactly_once(&asked(&ee, 0)), cells(&[6], &[2020, 2021], &["mean"]));
    assert_eq!(ee.submissions().len(), tasks, "nothing exported");
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));
}

/// An interactive pipeline over sites `0..n`, years 2020..2021, written into `dir`: (sites, pipeline, site file).
fn interactive_files(dir: &Path, n: usize) -> (Vec<usize>, String, String) {
    let all: Vec<usize> = (0..n).collect();
    let yaml = pipeline("interactive", "2020..2021", "mean", "name");
    let geo = sites(&all, None, "name");
    std::fs::write(dir.join("p.yaml"), &yaml).unwrap();
    std::fs::write(dir.join("sites.geojson"), &geo).unwrap();
    (all, yaml, geo)
}

/// The stored cells per layer that `geepipe status --json` reports: (stored, to compute), summed over layers.
fn status_cells(dir: &Path, ee: &FakeEe, gcs: &GcsEmulator) -> (u64, u64) {
    let out = run(dir, ee, gcs, &["status", "p.yaml", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["cells"]["layers"].as_array().unwrap_or_else(|| panic!("no cells in {v}"));
    let sum = |k: &str| layers.iter().map(|l| l[k].as_u64().unwrap()).sum();
    (sum("stored"), sum("to_compute"))
}

/// Each stored origin (one per answered request) and the cells it wrote.
fn origins(dir: &Path) -> Vec<(String, i64)> {
    let c = store(dir);
    let mut st = c.prepare("SELECT operation, cells FROM origins ORDER BY operation").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// Answers reach the results store as they arrive: while a run waits for its last request, `status` counts
/// the cells already answered as stored; after a kill -9 they stay stored, and a new plan (`run --restart`
/// moves the journal aside) asks only for what was not answered. Made certain by construction: the fake
/// answers the first two requests at once and holds every later one for ten minutes.
#[test]
fn answers_are_stored_as_they_arrive_so_status_counts_them_and_a_restart_does_not_ask_them_again() {
    use fake_ee::{RequestFault, Route, RouteMatch};
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let (all, yaml, geo) = interactive_files(dir.path(), 6);
    let compute = RouteMatch::Only(Route::ComputeFeatures);
    ee.faults().push(RequestFault::delay(Duration::ZERO, 2).on(compute.clone()));
    ee.faults().push(RequestFault::delay(Duration::from_secs(600), 100).on(compute));
    // 3 requests of 2 sites, 2 at once: two answered, the third held.
    let mut child =
        command(dir.path(), &ee, &gcs, &["run", "p.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let answered = 2 * 2 * 2 * 2; // 2 requests × 2 sites × 2 years × 2 layers
    let start = std::time::Instant::now();
    let mut seen = (0, 0);
    while start.elapsed() < Duration::from_secs(120) {
        if ee.computed().len() >= 2 {
            seen = status_cells(dir.path(), &ee, &gcs);
            if seen.0 as usize >= answered {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(child.try_wait().unwrap().is_none(), "the run ended while its last request was held");
    let got = asked(&ee, 0);
    assert_eq!(got.len(), answered, "two requests answered");
    assert_eq!(seen, (answered as u64, 24 - answered as u64), "status during the run counts the answered cells");
    let stored = origins(dir.path());
    assert_eq!(stored.len(), 2, "one origin per answer: {stored:?}");
    assert!(stored.iter().all(|(_, n)| *n == 8), "{stored:?}");
    // kill -9 while the third request is in flight: what was answered stays stored.
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status_cells(dir.path(), &ee, &gcs), (answered as u64, 24 - answered as u64));
    assert!(!dir.path().join("out/incr.csv").exists(), "nothing fetched yet");
    // A new plan asks only for what was not answered.
    ee.faults().clear();
    let before = ee.computed().len();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--restart"]);
    let again = exactly_once(&asked(&ee, before));
    let want: BTreeSet<Cell> =
        cells(&all, &[2020, 2021], &["mean"]).difference(&got.keys().cloned().collect()).cloned().collect();
    assert_eq!(again, want, "the restart asked for answered cells");
    // Each cell stored once, by one origin per answer, and the table is a fresh full run's.
    let stored = origins(dir.path());
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert_eq!(stored.iter().map(|o| o.1).sum::<i64>(), 24, "{stored:?}");
    let n: i64 = store(dir.path()).query_row("SELECT count(*) FROM cells", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 24);
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));
}

/// A run that is not fetched (`--no-fetch`) leaves every answered cell stored: `status` and `plan` say so,
/// a rerun asks for nothing, and the fetch stores nothing again and writes a fresh full run's table.
#[test]
fn an_unfetched_interactive_run_leaves_its_cells_stored() {
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let (all, yaml, geo) = interactive_files(dir.path(), 5);
    run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--no-fetch"]);
    assert!(!dir.path().join("out/incr.csv").exists());
    assert_eq!(exactly_once(&asked(&ee, 0)), cells(&all, &[2020, 2021], &["mean"]));
    assert_eq!(status_cells(dir.path(), &ee, &gcs), (20, 0));
    let plan = run(dir.path(), &ee, &gcs, &["plan", "p.yaml"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("modis_ndvi: 10 cells stored, 0 to compute"), "{text}");
    let stored = origins(dir.path());
    assert_eq!(stored.len(), 3, "one origin per answer: {stored:?}");
    // A new plan before the fetch asks for nothing; the fetch stores nothing twice.
    let before = ee.computed().len();
    let again = run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--restart", "--no-fetch"]);
    assert_eq!(ee.computed().len(), before, "a rerun asked again");
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to compute"));
    run(dir.path(), &ee, &gcs, &["fetch", "p.yaml"]);
    assert_eq!(origins(dir.path()), stored, "the fetch stored the answers again");
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));
}

/// The two moments a kill can fall between an answer's steps (file → store → journal), made by hand from a
/// finished run: a chunk whose cells are stored but whose journal entry still says `running`, and one whose
/// file is written but whose cells and journal entry are not. The next run asks for neither, stores the
/// second once, never the first again, and the table is a fresh full run's.
#[test]
fn a_kill_between_the_answer_file_the_store_and_the_journal_loses_and_repeats_nothing() {
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let (_, yaml, geo) = interactive_files(dir.path(), 6);
    run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--no-fetch"]);
    let stored = origins(dir.path());
    assert_eq!(stored.len(), 3, "{stored:?}");
    let journal = rusqlite::Connection::open(dir.path().join("out/.geepipe/incr.sqlite")).unwrap();
    let chunks: Vec<(String, String)> = {
        let mut st = journal.prepare("SELECT chunk_id, base_request_id FROM chunks ORDER BY seq").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(chunks.len(), 3);
    for (chunk, _) in &chunks[..2] {
        journal
            .execute(
                "UPDATE chunks SET state = 'running', result = NULL, result_bytes = NULL, result_sha256 = NULL, \
                 ended_at = NULL WHERE chunk_id = ?1",
                [chunk],
            )
            .unwrap();
    }
    drop(journal);
    // The second chunk's cells never reached the store.
    {
        let s = store(dir.path());
        let origin: i64 =
            s.query_row("SELECT id FROM origins WHERE operation = ?1", [&chunks[1].1], |r| r.get(0)).unwrap();
        s.execute("DELETE FROM cells WHERE origin = ?1", [origin]).unwrap();
        s.execute("DELETE FROM origins WHERE id = ?1", [origin]).unwrap();
    }
    assert_eq!(status_cells(dir.path(), &ee, &gcs), (16, 8));
    let before = ee.computed().len();
    let out = run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    assert_eq!(ee.computed().len(), before, "an answer was asked again: {}", String::from_utf8_lossy(&out.stderr));
    let now = origins(dir.path());
    assert_eq!(now.len(), 3, "{now:?}");
    assert_eq!(now.iter().map(|o| o.1).sum::<i64>(), 24, "each cell stored once: {now:?}");
    let n: i64 = store(dir.path()).query_row("SELECT count(*) FROM cells", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 24);
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));
}

/// An answer that lacks a site (left out by the fake after evaluating it) or has a cell that cannot be read
/// (garbled after evaluating it) has its other cells stored at once: `status` counts them, the run says what
/// is missing and the fetch that ends it writes no table (the results are incomplete). The next run finds
/// every chunk succeeded yet asks for exactly the missing cells, and the table is then a fresh full run's.
#[test]
fn an_incomplete_answer_stores_its_other_cells_and_the_next_run_computes_the_missing_ones() {
    use fake_ee::AnswerFault;
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let (_, yaml, geo) = interactive_files(dir.path(), 6);
    ee.faults().push(AnswerFault::drop_feature("site_id", "s01", 1));
    ee.faults().push(AnswerFault::damage("site_id", "s04", "mapbiomas_lulc__2021__ha", 1));
    let out = command(dir.path(), &ee, &gcs, &["run", "p.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(ee.counters().faults_fired, 2, "{stderr}");
    assert!(stderr.contains("1 site(s) have no row in its files: s01"), "{stderr}");
    assert!(stderr.contains("site s04, column `mapbiomas_lulc__2021__ha`"), "{stderr}");
    assert!(stderr.contains("2 site(s) lack stored results"), "{stderr}");
    assert!(!dir.path().join("out/incr.csv").exists(), "an incomplete table was written");
    // 6 sites × 2 years × 2 layers: the 4 cells of s01 and of s04 are missing, the others stored.
    assert_eq!(status_cells(dir.path(), &ee, &gcs), (16, 8));
    let stored = origins(dir.path());
    assert_eq!(stored.iter().map(|o| o.1).collect::<Vec<_>>(), [4, 8, 4].map(i64::from).to_vec(), "{stored:?}");
    // The next run asks for exactly the missing cells; the table is then a fresh full run's.
    let before = ee.computed().len();
    let again = run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("lacked cells: planning what the results store lacks"), "{said}");
    assert_eq!(exactly_once(&asked(&ee, before)), cells(&[1, 4], &[2020, 2021], &["mean"]), "{said}");
    assert_eq!(status_cells(dir.path(), &ee, &gcs), (24, 0));
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));
    // Complete now: a rerun asks for nothing.
    let before = ee.computed().len();
    let last = run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    assert_eq!(ee.computed().len(), before);
    assert!(String::from_utf8_lossy(&last.stderr).contains("nothing to compute"));
}

/// A site Earth Engine leaves out of every answer is asked for once more by the next run, not at every run
/// after: the third run asks for nothing and its fetch says what is missing.
#[test]
fn cells_every_answer_lacks_are_asked_for_once_more_not_at_every_run() {
    use fake_ee::AnswerFault;
    let (gcs, ee) = environment(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    interactive_files(dir.path(), 6);
    ee.faults().push(AnswerFault::drop_feature("site_id", "s01", 1000));
    let first = command(dir.path(), &ee, &gcs, &["run", "p.yaml"]).output().unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(status_cells(dir.path(), &ee, &gcs), (20, 4));
    // Asked once more: only s01's cells, left out again.
    let before = ee.computed().len();
    let again = command(dir.path(), &ee, &gcs, &["run", "p.yaml"]).output().unwrap();
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("lacked cells: planning what the results store lacks"), "{said}");
    assert_eq!(exactly_once(&asked(&ee, before)), cells(&[1], &[2020, 2021], &["mean"]), "{said}");
    assert_eq!(again.status.code(), Some(1), "{said}");
    // Not again: nothing is asked for, and the fetch says what is missing.
    let before = ee.computed().len();
    let third = command(dir.path(), &ee, &gcs, &["run", "p.yaml"]).output().unwrap();
    let said = String::from_utf8_lossy(&third.stderr);
    assert_eq!(ee.computed().len(), before, "{said}");
    assert!(said.contains("nothing to compute"), "{said}");
    assert!(said.contains("1 site(s) lack stored results"), "{said}");
    assert_eq!(third.status.code(), Some(1), "{said}");
    assert_eq!(status_cells(dir.path(), &ee, &gcs), (20, 4));
}
