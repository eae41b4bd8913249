//! Incremental runs against the fake Earth Engine (which evaluates every expression on its synthetic world)
//! and a real Cloud Storage emulator: each change to the pipeline or the site file sends exactly the work the
//! results store lacks — counted from the request bodies the fake received, not from geepipe's own report —
//! and the table equals, byte for byte, the table of a fresh full run of the changed pipeline in a new folder.
//! A `kill -9` during an incremental run loses nothing and sends nothing twice.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod incremental_support;

use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::{Clock, Config, Durations, FakeEe};
use incremental_support::{cells, exactly_once, kill_when, sent, sites, six_changes};
use serde_json::Value;

const TOKEN: &str = "incremental-token-51c2";
const BUCKET: &str = "incr-bucket";

fn pipeline(years: &str, stats: &str, keep: &str) -> String {
    format!(
        "name: incr\nproject: demo-project\nmode: batch\nsites:\n  file: sites.geojson\n  id: site_id\n  keep: [{keep}]\n\
         years: {years}\nlayers:\n  - catalog: mapbiomas_lulc\n  - catalog: modis_ndvi\n    stats: [{stats}]\n\
         export:\n  to: gcs\n  bucket: {BUCKET}\n  prefix: runs/incr/\nchunks:\n  sites_per_task: 3\n  max_concurrent: 4\n\
         output:\n  path: out/incr.csv\n"
    )
}

/// A fake Earth Engine writing into a Cloud Storage emulator.
fn environment(clock: f64, durations: (u64, u64)) -> (GcsEmulator, FakeEe) {
    let gcs = GcsEmulator::start().expect("fake-gcs-server starts");
    gcs.create_bucket(BUCKET).unwrap();
    let ee = FakeEe::start_blocking(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(clock),
        durations: Durations::Uniform {
            min: Duration::from_secs(durations.0),
            max: Duration::from_secs(durations.1),
            seed: 7,
        },
        max_running: 2,
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
    let (gcs, ee) = environment(1000.0, (30, 120));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), pipeline_yaml).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites_geojson).unwrap();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    std::fs::read(dir.path().join("out/incr.csv")).unwrap()
}

#[test]
fn each_change_sends_exactly_the_missing_cells_and_gives_the_fresh_table() {
    let (gcs, ee) = environment(1000.0, (30, 120));
    let dir = tempfile::tempdir().unwrap();
    let steps = six_changes(pipeline, 7, 4, &[8, 3, 0, 6, 1, 7, 2, 5, 4]);
    for step in steps {
        std::fs::write(dir.path().join("p.yaml"), &step.pipeline).unwrap();
        std::fs::write(dir.path().join("sites.geojson"), &step.sites).unwrap();
        let before = ee.submissions().len();
        let out = run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
        let got = exactly_once(&sent(&ee, before));
        assert_eq!(
            got,
            step.expect,
            "{}: the cells sent differ (sent {}, expected {})\nstderr:\n{}",
            step.what,
            got.len(),
            step.expect.len(),
            String::from_utf8_lossy(&out.stderr)
        );
        let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&table),
            String::from_utf8_lossy(&fresh_table(&step.pipeline, &step.sites)),
            "{}: the table differs from a fresh full run's",
            step.what
        );
        // Nothing changed: a rerun sends nothing and writes the same bytes.
        let before = ee.submissions().len();
        let again = run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
        assert_eq!(ee.submissions().len(), before, "{}: a rerun submitted work", step.what);
        assert_eq!(
            std::fs::read(dir.path().join("out/incr.csv")).unwrap(),
            table,
            "{}: a rerun changed the table",
            step.what
        );
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(stderr.contains("nothing to compute"), "{}: {stderr}", step.what);
    }
}

#[test]
fn plan_and_status_say_what_is_stored_and_what_will_be_computed() {
    let (gcs, ee) = environment(1000.0, (30, 120));
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<usize> = (0..5).collect();
    std::fs::write(dir.path().join("p.yaml"), pipeline("2020..2021", "mean", "name")).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites(&base, None, "name")).unwrap();
    let plan = run(dir.path(), &ee, &gcs, &["plan", "p.yaml"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("mapbiomas_lulc: 0 cells stored, 10 to compute"), "{text}");
    assert!(text.contains("modis_ndvi: 0 cells stored, 10 to compute"), "{text}");
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    std::fs::write(dir.path().join("p.yaml"), pipeline("2020..2022", "mean", "name")).unwrap();
    let plan = run(dir.path(), &ee, &gcs, &["plan", "p.yaml", "--json"]);
    let v: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(v["tasks"], 2, "5 sites lacking 2022, 3 per task: {v}");
    assert_eq!(v["cells"]["layers"][0], serde_json::json!({"layer": "mapbiomas_lulc", "stored": 10, "to_compute": 5}));
    assert_eq!(v["cells"]["layers"][1], serde_json::json!({"layer": "modis_ndvi", "stored": 10, "to_compute": 5}));
    let status = run(dir.path(), &ee, &gcs, &["status", "p.yaml"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("mapbiomas_lulc: 10 cells stored, 5 to compute"), "{text}");
}

#[test]
fn kill_9_during_an_incremental_run_loses_and_repeats_nothing() {
    // Tasks of 20–60 virtual minutes at ×600: a run takes seconds, so the kills land mid-run.
    let (gcs, ee) = environment(600.0, (1200, 3600));
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<usize> = (0..9).collect();
    std::fs::write(dir.path().join("p.yaml"), pipeline("2020..2021", "mean", "name")).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites(&all, None, "name")).unwrap();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    // Add a year and add sites, then kill the run at several points.
    let grown: Vec<usize> = (0..12).collect();
    let yaml = pipeline("2020..2022", "mean", "name");
    let geo = sites(&grown, None, "name");
    std::fs::write(dir.path().join("p.yaml"), &yaml).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), &geo).unwrap();
    let before = ee.submissions().len();
    let ee_ref = &ee;
    let created = |n: usize| move || ee_ref.submissions().len() >= before + n;
    for (k, wait) in [(1usize, 0u64), (2, 0), (3, 0), (3, 400)] {
        let child = command(dir.path(), &ee, &gcs, &["run", "p.yaml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        kill_when(child, Duration::from_secs(60), created(k));
        std::thread::sleep(Duration::from_millis(wait));
    }
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    let mut want = cells(&all, &[2022], &["mean"]);
    want.extend(cells(&[9, 10, 11], &[2020, 2021, 2022], &["mean"]));
    let got = exactly_once(&sent(&ee, before));
    assert_eq!(got, want, "every missing cell sent exactly once");
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));
}

fn store(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("out/.geepipe/incr.store.sqlite")).unwrap()
}

/// `run --fresh` ignores the store for one run: every cell is sent again (once), the values it brings
/// replace the stored ones (each stored cell then comes from that run), and the table is the same; the next
/// run without `--fresh` sends nothing.
#[test]
fn fresh_sends_every_cell_again_and_replaces_the_stored_ones() {
    let (gcs, ee) = environment(1000.0, (30, 120));
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<usize> = (0..5).collect();
    std::fs::write(dir.path().join("p.yaml"), pipeline("2020..2021", "mean", "name")).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites(&base, None, "name")).unwrap();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    let last_origin: i64 = store(dir.path()).query_row("SELECT max(id) FROM origins", [], |r| r.get(0)).unwrap();
    let before = ee.submissions().len();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--fresh"]);
    assert_eq!(exactly_once(&sent(&ee, before)), cells(&base, &[2020, 2021], &["mean"]), "--fresh sends every cell");
    assert_eq!(std::fs::read(dir.path().join("out/incr.csv")).unwrap(), table);
    let (all, older): (i64, i64) = store(dir.path())
        .query_row("SELECT count(*), coalesce(sum(origin <= ?1), 0) FROM cells", [last_origin], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((all, older), (cells(&base, &[2020, 2021], &["mean"]).len() as i64, 0), "every cell replaced");
    let before = ee.submissions().len();
    let again = run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    assert_eq!(ee.submissions().len(), before, "the run after --fresh sends nothing");
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to compute"));
}

/// A store written by another geepipe or catalog version is read when its expressions are the ones the
/// pipeline computes now, and explained (and recomputed) when they are not; a store of a newer format is
/// refused with an explanation and nothing is sent. The older store is made by rewriting a store's
/// version columns and expression keys the way an older geepipe or catalog would have left them.
#[test]
fn a_store_of_another_version_is_read_when_compatible_and_explained_when_not() {
    let (gcs, ee) = environment(1000.0, (30, 120));
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<usize> = (0..5).collect();
    let yaml = pipeline("2020..2021", "mean", "name");
    let geo = sites(&base, None, "name");
    std::fs::write(dir.path().join("p.yaml"), &yaml).unwrap();
    std::fs::write(dir.path().join("sites.geojson"), &geo).unwrap();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml"]);
    // Written by an older geepipe with an older catalog, the same expressions: every cell is used.
    store(dir.path()).execute_batch("UPDATE exprs SET geepipe = '0.0.1', catalog = '2024-01-01'").unwrap();
    let plan = run(dir.path(), &ee, &gcs, &["plan", "p.yaml", "--json"]);
    let v: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(v["tasks"], 0, "{v}");
    assert_eq!(v["cells"]["layers"][1], serde_json::json!({"layer": "modis_ndvi", "stored": 10, "to_compute": 0}));
    // The NDVI expressions of that catalog differ from today's: those cells are explained and computed again.
    store(dir.path()).execute_batch("UPDATE exprs SET hash = hash || x'00' WHERE layer = 'modis_ndvi'").unwrap();
    let plan = run(dir.path(), &ee, &gcs, &["plan", "p.yaml"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("modis_ndvi: 0 cells stored, 10 to compute"), "{text}");
    assert!(text.contains("mapbiomas_lulc: 10 cells stored, 0 to compute"), "{text}");
    assert!(
        text.contains("layer `modis_ndvi`: 10 stored cell(s) were computed with a different expression")
            && text.contains("catalog 2024-01-01")
            && text.contains("geepipe 0.0.1"),
        "{text}"
    );
    let before = ee.submissions().len();
    run(dir.path(), &ee, &gcs, &["run", "p.yaml", "--restart"]);
    let ndvi: BTreeSet<_> =
        cells(&base, &[2020, 2021], &["mean"]).into_iter().filter(|c| c.1 == "modis_ndvi").collect();
    assert_eq!(exactly_once(&sent(&ee, before)), ndvi, "only the cells of the other expressions are sent");
    let table = std::fs::read(dir.path().join("out/incr.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table), String::from_utf8_lossy(&fresh_table(&yaml, &geo)));
    // A store of a newer format: refused, explained, nothing sent, the table kept.
    store(dir.path()).execute_batch("UPDATE meta SET value = '99' WHERE key = 'schema_version'").unwrap();
    std::fs::write(dir.path().join("p.yaml"), pipeline("2020..2022", "mean", "name")).unwrap();
    let before = ee.submissions().len();
    let out = command(dir.path(), &ee, &gcs, &["run", "p.yaml"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("in format 99") && err.contains("move the store aside"), "{err}");
    assert_eq!(ee.submissions().len(), before, "nothing is sent");
    assert_eq!(std::fs::read(dir.path().join("out/incr.csv")).unwrap(), table);
}
