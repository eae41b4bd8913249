//! The rough edges a new user hits, each through the real binary: `--engine` switching a pipeline in both
//! directions (and the help of `plan` agreeing with what `--engine` does), what `status` and `fetch` say
//! after a run that stopped before submitting and after a local run.

mod common;

use common::{repo_root, Test};

/// The shipped offline demo, reading the repository's demo rasters and writing into `out/`.
fn demo_local() -> String {
    let text = std::fs::read_to_string(repo_root().join("pipelines/demo-local.yaml")).unwrap();
    let demo = repo_root().join("demo");
    text.replace("../demo/", &format!("{}/", demo.display())).replace("../results", "out")
}

/// The same pipeline written for Earth Engine: no `engine:` line, exporting to Cloud Storage.
fn demo_earthengine() -> String {
    let text = demo_local();
    assert!(text.contains("engine: local\n") && text.contains("export:\n  to: local\n  folder: out\n"));
    text.replace("engine: local\n", "")
        .replace("export:\n  to: local\n  folder: out\n", "export:\n  to: gcs\n  bucket: my-bucket\n")
}

/// 1-based line and column of the first `needle` in `text`, `skip` bytes into it.
fn place(text: &str, needle: &str, skip: usize) -> String {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the pipeline")) + skip;
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    format!("{line}:{col}")
}

/// Text with every run of white space (the renderer's line wrapping) as one space.
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn plan_of_a_local_pipeline_points_to_an_engine_flag_that_works() {
    let text = demo_local();
    let t = Test::new().file("d.yaml", &text).args(["plan", "d.yaml"]);
    let out = t.code(2);
    assert!(out.stderr.contains("plan::local-engine"), "{}", out.stderr);
    assert!(flat(&out.stderr).contains("geepipe plan --engine earthengine d.yaml"), "{}", out.stderr);
    // Following that help works: the `to: local` export is set aside (a located warning), interactive mode.
    let t = t.then(["plan", "--engine", "earthengine", "d.yaml"]);
    let out = t.code(0);
    assert!(out.stdout.contains("mode:             interactive"), "{}", out.stdout);
    assert!(out.stdout.contains("requests:         6 (table:computeFeatures"), "{}", out.stdout);
    let to_local = format!("d.yaml:{}", place(&text, "to: local\n  folder", 4));
    assert!(out.stderr.contains("export::ignored") && out.stderr.contains(&to_local), "{to_local}\n{}", out.stderr);
    assert!(!out.stderr.contains("add `engine: local`"), "no circle back:\n{}", out.stderr);
    // Batch needs a destination Earth Engine writes to: the error says where and what to write.
    let t = Test::new().file("d.yaml", &text).args(["plan", "--engine", "earthengine", "--mode", "batch", "d.yaml"]);
    let out = t.code(2);
    assert!(out.stderr.contains(&to_local) && flat(&out.stderr).contains("write `to: gcs`"), "{}", out.stderr);
    assert!(out.stderr.contains("1 error, 0 warnings"), "{}", out.stderr);
}

#[test]
fn engine_local_runs_an_earthengine_pipeline_with_local_rasters() {
    // The reference: the demo as shipped (tests/local_demo.rs checks its values independently).
    let local = Test::new().file("d.yaml", &demo_local()).args(["run", "d.yaml"]);
    let want = local.code(0);
    let want_table = std::fs::read(want.dir.join("out/demo-local.csv")).unwrap();
    // Without the flag the Earth Engine pipeline is valid as it is; `--engine local` runs it here.
    let text = demo_earthengine();
    let t = Test::new().file("e.yaml", &text).args(["validate", "e.yaml"]);
    assert!(t.code(0).stderr.is_empty());
    let t = t.then(["run", "--engine", "local", "e.yaml"]);
    let out = t.code(0);
    assert_eq!(std::fs::read(out.dir.join("out/demo-local.csv")).unwrap(), want_table);
    // The run sums the warning up and points to the command that shows it with its place.
    let summary = "1 in e.yaml (export::ignored); `geepipe validate --engine local e.yaml` shows each";
    assert!(out.stderr.contains(summary), "{}", out.stderr);
    let t = t.then(["validate", "--engine", "local", "e.yaml"]);
    let shown = t.code(0);
    let to_gcs = format!("e.yaml:{}", place(&text, "to: gcs", 4));
    assert!(shown.stderr.contains("export::ignored") && shown.stderr.contains(&to_gcs), "{to_gcs}\n{}", shown.stderr);
    // A layer without a `local:` raster cannot be switched: the error names the layer's place.
    let bare = text.replace(&format!("    local: {}/lulc_{{{{year}}}}.tif\n", repo_root().join("demo").display()), "");
    assert_ne!(bare, text);
    let out = Test::new().file("e.yaml", &bare).args(["run", "--engine", "local", "e.yaml"]).code(2);
    let layer = format!("e.yaml:{}", place(&bare, "catalog: mapbiomas_lulc", 0));
    assert!(out.stderr.contains("layers::no-local") && out.stderr.contains(&layer), "{layer}\n{}", out.stderr);
    assert!(!out.dir.join("out").exists(), "nothing written");
}

const SITES_PIPELINE: &str = "name: demo\nproject: demo-project\nsites: {file: sites.geojson, id: site_id}\nyears: \
                              2020\nlayers: [{catalog: mapbiomas_lulc}]\n";

#[test]
fn a_run_that_stops_before_submitting_leaves_no_journal() {
    let home = tempfile::tempdir().unwrap();
    let t = Test::new()
        .file("p.yaml", SITES_PIPELINE)
        .copy("examples/sites/restoration.geojson", "sites.geojson")
        .without_credentials(home.path())
        .args(["run", "p.yaml"]);
    let out = t.code(4);
    assert!(out.stderr.contains("no Google credentials"), "{}", out.stderr);
    let journal = out.dir.join("results/.geepipe/demo.sqlite");
    assert!(!journal.exists(), "no journal of a run that submitted nothing");
    let t = t.then(["status", "p.yaml"]);
    let status = t.code(4);
    assert!(status.stderr.contains("nothing was submitted"), "{}", status.stderr);
    assert!(!status.stdout.contains("0 chunks"), "{}", status.stdout);
    let t = t.then(["fetch", "p.yaml"]);
    let fetch = t.code(4);
    assert!(fetch.stderr.contains("nothing has been run yet"), "{}", fetch.stderr);
    assert!(!fetch.stderr.contains("no finished chunk"), "{}", fetch.stderr);

    // A journal such a run left behind (earlier versions did) is recognised as holding nothing.
    let (p, _) = geepipe::pipeline::load(&out.dir.join("p.yaml"), &Default::default()).unwrap();
    drop(geepipe::journal::Journal::open(&journal, &p.name, &p.content_hash).unwrap());
    assert!(journal.exists());
    let t = t.then(["status", "p.yaml"]);
    let status = t.code(4);
    assert!(
        status.stderr.contains("has no plan yet") && status.stderr.contains("submitting anything"),
        "{}",
        status.stderr
    );
    assert!(!status.stdout.contains("0 chunks"), "{}", status.stdout);
    let t = t.then(["fetch", "p.yaml"]);
    let fetch = t.code(4);
    assert!(fetch.stderr.contains("has no plan yet"), "{}", fetch.stderr);
    assert!(!fetch.stderr.contains("no finished chunk"), "{}", fetch.stderr);
    // The next failed run removes it.
    let t = t.then(["run", "p.yaml"]);
    t.code(4);
    assert!(!journal.exists());
}

#[test]
fn status_and_fetch_report_a_local_run() {
    let t = Test::new().file("d.yaml", &demo_local()).args(["status", "d.yaml"]);
    let before = t.code(4);
    assert!(before.stderr.contains("no local run of `demo-local` yet"), "{}", before.stderr);
    assert!(before.stderr.contains("geepipe run d.yaml"), "{}", before.stderr);
    let t = t.then(["fetch", "d.yaml"]);
    assert!(t.code(4).stderr.contains("no local run"));
    let t = t.then(["run", "d.yaml"]);
    t.code(0);
    let table = std::fs::read_to_string(before.dir.join("out/demo-local.csv")).unwrap();
    let rows = table.lines().count() - 1;
    let t = t.then(["status", "d.yaml"]);
    let status = t.code(0);
    assert!(!status.stderr.contains("nothing has been run"), "{}", status.stderr);
    for want in [
        "local run `demo-local` finished at ".to_string(),
        format!("; {rows} rows"),
        "6 sites".into(),
        "table:    out/demo-local.csv".into(),
        "manifest: out/demo-local.manifest.json".into(),
    ] {
        assert!(status.stdout.contains(&want), "missing {want:?} in\n{}", status.stdout);
    }
    let t = t.then(["status", "d.yaml", "--json"]);
    let json = t.code(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["engine"], "local");
    assert_eq!(v["table"]["rows"], rows as u64);
    assert_eq!(v["pipeline_changed"], false);
    let t = t.then(["fetch", "d.yaml"]);
    let fetch = t.code(0);
    assert!(fetch.stdout.contains("nothing to download"), "{}", fetch.stdout);
    assert!(fetch.stdout.contains(&format!("out/demo-local.csv ({rows} rows)")), "{}", fetch.stdout);
    assert_eq!(std::fs::read_to_string(before.dir.join("out/demo-local.csv")).unwrap(), table, "table untouched");
}

/// Two sites; `a` crosses itself (a warning), `dup` set twice when `duplicate` (an error).
fn sites(duplicate: bool) -> String {
    let mut f = vec![
        r#"{"type":"Feature","properties":{"site_id":"a"},"geometry":{"type":"Polygon","coordinates":[[[-47.95,-15.8],[-47.9,-15.8],[-47.95,-15.75],[-47.9,-15.75],[-47.95,-15.8]]]}}"#.to_string(),
        r#"{"type":"Feature","properties":{"site_id":"b"},"geometry":{"type":"Polygon","coordinates":[[[-48.1,-15.9],[-48.05,-15.9],[-48.05,-15.85],[-48.1,-15.9]]]}}"#.to_string(),
    ];
    if duplicate {
        f.push(f[1].clone());
    }
    format!("{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}\n", f.join(",\n"))
}

#[test]
fn validate_reports_the_pipeline_and_the_site_file_in_one_round() {
    let bad = SITES_PIPELINE.replace("mapbiomas_lulc", "mapbiomas_lulk");
    let t = Test::new().file("p.yaml", &bad).file("sites.geojson", &sites(true)).args(["validate", "p.yaml"]);
    let out = t.code(2);
    for want in
        ["layers::unknown-catalog", "p.yaml:5:", "sites::duplicate-id", "sites::self-intersection", "sites.geojson:2:"]
    {
        assert!(out.stderr.contains(want), "missing {want:?} in\n{}", out.stderr);
    }
    assert!(out.stderr.trim_end().ends_with("2 errors, 1 warning"), "{}", out.stderr);
    // A `sites` section with its own problem is not read further (its file is not the one meant).
    let worse = bad.replace("id: site_id", "id: site_id, layer: x");
    let out =
        Test::new().file("p.yaml", &worse).file("sites.geojson", &sites(true)).args(["validate", "p.yaml"]).code(2);
    assert!(out.stderr.contains("sites::layer") && !out.stderr.contains("sites::duplicate-id"), "{}", out.stderr);
}

/// The lines of `stderr` that show a diagnostic snippet (a source line with its gutter).
fn snippet_lines(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.contains("╭─[") || l.contains(" │ {")).count()
}

#[test]
fn plan_shows_site_warnings_and_other_commands_one_line() {
    let t = Test::new().file("p.yaml", SITES_PIPELINE).file("sites.geojson", &sites(false)).args(["plan", "p.yaml"]);
    let out = t.code(0);
    assert!(out.stdout.contains("warnings:         1\n"), "{}", out.stdout);
    assert!(
        out.stderr.contains("sites::self-intersection") && out.stderr.contains("sites.geojson:2:"),
        "{}",
        out.stderr
    );
    assert!(snippet_lines(&out.stderr) > 0, "plan shows the warning in full:\n{}", out.stderr);
    let t = t.then(["validate", "p.yaml"]);
    let out = t.code(0);
    assert!(snippet_lines(&out.stderr) > 0, "validate shows the warning in full:\n{}", out.stderr);
    let summary =
        "warning: 1 warning — 1 in sites.geojson (sites::self-intersection); `geepipe validate p.yaml` shows \
                   each with its place";
    for (cmd, code) in [("status", 4), ("fetch", 4), ("wait", 4), ("probe", 4)] {
        let t2 = Test::new()
            .file("p.yaml", SITES_PIPELINE)
            .file("sites.geojson", &sites(false))
            .env("GEEPIPE_EE_URL", "http://127.0.0.1:9")
            .args([cmd, "p.yaml"]);
        let out = t2.code(code);
        assert_eq!(snippet_lines(&out.stderr), 0, "{cmd}: no snippet\n{}", out.stderr);
        let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(lines, [summary], "{cmd}:\n{}", out.stderr);
        // -q: errors only.
        let out = t2.then(["-q", cmd, "p.yaml"]).code(code);
        assert!(!out.stderr.contains("warning"), "{cmd} -q:\n{}", out.stderr);
    }
}

#[test]
fn a_local_run_summarizes_site_warnings_in_one_line() {
    let text = demo_local().replace(&format!("{}/sites.geojson", repo_root().join("demo").display()), "sites.geojson");
    let demo_sites = std::fs::read_to_string(repo_root().join("demo/sites.geojson")).unwrap();
    // Site `a` as a bow tie: its last two corners swapped.
    let bowtie = demo_sites.replace("[-47.938,-15.788],[-47.95,-15.788]", "[-47.95,-15.788],[-47.938,-15.788]");
    assert_ne!(bowtie, demo_sites);
    let t = Test::new().file("d.yaml", &text).file("sites.geojson", &bowtie).args(["run", "d.yaml"]);
    let out = t.code(0);
    assert_eq!(snippet_lines(&out.stderr), 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("warning: 1 warning — 1 in sites.geojson (sites::self-intersection)"),
        "{}",
        out.stderr
    );
    for cmd in ["status", "fetch"] {
        let t = Test::new().file("d.yaml", &text).file("sites.geojson", &bowtie).args(["run", "d.yaml"]);
        t.code(0);
        let t = t.then([cmd, "d.yaml"]);
        let out = t.code(0);
        assert_eq!(snippet_lines(&out.stderr), 0, "{cmd}:\n{}", out.stderr);
        assert_eq!(out.stderr.lines().filter(|l| l.contains("warning")).count(), 1, "{cmd}:\n{}", out.stderr);
    }
}

#[test]
fn quiet_means_errors_only_in_every_command() {
    let help = Test::new().args(["--help"]).code(0);
    assert!(flat(&help.stdout).contains("-q, --quiet Only errors: no warnings, notes, progress"), "{}", help.stdout);
    // Earth Engine pipeline with a warning in its site file: validate, plan.
    let t = Test::new()
        .file("p.yaml", SITES_PIPELINE)
        .file("sites.geojson", &sites(false))
        .args(["-q", "validate", "p.yaml"]);
    let out = t.code(0);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    let t = t.then(["-q", "plan", "p.yaml"]);
    let out = t.code(0);
    assert!(out.stdout.contains("plan for `demo`"), "the plan is the answer:\n{}", out.stdout);
    assert_eq!(out.stderr, "");
    // Errors are still shown, without the warnings beside them.
    let bad = SITES_PIPELINE.replace("mapbiomas_lulc", "mapbiomas_lulk");
    let t = Test::new().file("p.yaml", &bad).file("sites.geojson", &sites(true)).args(["-q", "validate", "p.yaml"]);
    let out = t.code(2);
    assert!(out.stderr.contains("layers::unknown-catalog") && out.stderr.contains("sites::duplicate-id"));
    assert!(!out.stderr.contains("sites::self-intersection") && !out.stderr.contains('⚠'), "{}", out.stderr);
    // A local run with a warning, then status and fetch, and status of a changed pipeline.
    let text = demo_local().replace(&format!("{}/sites.geojson", repo_root().join("demo").display()), "sites.geojson");
    let demo_sites = std::fs::read_to_string(repo_root().join("demo/sites.geojson")).unwrap();
    let bowtie = demo_sites.replace("[-47.938,-15.788],[-47.95,-15.788]", "[-47.95,-15.788],[-47.938,-15.788]");
    let t = Test::new().file("d.yaml", &text).file("sites.geojson", &bowtie).args(["-q", "run", "d.yaml"]);
    let out = t.code(0);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    assert!(out.dir.join("out/demo-local.csv").exists());
    let t = t.then(["-q", "fetch", "d.yaml"]);
    let out = t.code(0);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    std::fs::write(out.dir.join("d.yaml"), text.replace("years: 2020..2022", "years: 2020..2021")).unwrap();
    let t = t.then(["status", "d.yaml"]);
    assert!(t.code(0).stderr.contains("warning: the pipeline changed"));
    let t = t.then(["-q", "status", "d.yaml"]);
    let out = t.code(0);
    assert!(out.stdout.contains("local run `demo-local`"), "the status is the answer:\n{}", out.stdout);
    assert_eq!(out.stderr, "");
}

/// The sorted file names in `dir`.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut n: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    n.sort();
    n
}

#[test]
fn plan_out_replaces_an_earlier_plan_and_refuses_a_foreign_folder() {
    let three = format!(
        "{}chunks: {{sites_per_task: 1}}\nmode: batch\nexport: {{to: gcs, bucket: my-bucket}}\n",
        SITES_PIPELINE
    );
    let sites3 = sites(false).replace(
        "\n]}",
        ",\n{\"type\":\"Feature\",\"properties\":{\"site_id\":\"c\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[-48.2,-15.9],[-48.15,-15.9],[-48.15,-15.85],[-48.2,-15.9]]]}}\n]}",
    );
    let t = Test::new().file("p.yaml", &three).file("sites.geojson", &sites3).args(["plan", "p.yaml", "--out", "req"]);
    let out = t.code(0);
    let dir = out.dir.join("req");
    assert_eq!(names(&dir), ["c00000.json", "c00001.json", "c00002.json", "plan.json"]);
    // A file the user put there is not geepipe's: kept.
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    // Two sites per task: two bodies; the third body of the earlier plan goes.
    std::fs::write(out.dir.join("p.yaml"), three.replace("sites_per_task: 1", "sites_per_task: 2")).unwrap();
    let t = t.then(["plan", "p.yaml", "--out", "req"]);
    t.code(0);
    assert_eq!(names(&dir), ["c00000.json", "c00001.json", "notes.txt", "plan.json"]);
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("plan.json")).unwrap()).unwrap();
    let listed: Vec<&str> = index["tasks"].as_array().unwrap().iter().map(|t| t["file"].as_str().unwrap()).collect();
    assert_eq!(listed, ["c00000.json", "c00001.json"]);
    let c1: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("c00001.json")).unwrap()).unwrap();
    assert_eq!(c1["requestId"], index["tasks"][1]["request_id"], "the body on disk is the new plan's");
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    // A folder with other files and no plan.json is refused, and nothing in it changes.
    std::fs::create_dir(out.dir.join("mine")).unwrap();
    std::fs::write(out.dir.join("mine/c00000.json"), "{\"my\": \"data\"}").unwrap();
    let t = t.then(["plan", "p.yaml", "--out", "mine"]);
    let refused = t.code(2);
    assert!(refused.stderr.contains("holds no geepipe plan"), "{}", refused.stderr);
    assert_eq!(names(&out.dir.join("mine")), ["c00000.json"]);
    assert_eq!(std::fs::read_to_string(out.dir.join("mine/c00000.json")).unwrap(), "{\"my\": \"data\"}");
    // An empty folder is fine.
    std::fs::create_dir(out.dir.join("empty")).unwrap();
    let t = t.then(["plan", "p.yaml", "--out", "empty"]);
    t.code(0);
    assert_eq!(names(&out.dir.join("empty")), ["c00000.json", "c00001.json", "plan.json"]);
}

/// Four sites, one per chunk, exported in batch.
fn four_site_pipeline() -> (String, String) {
    let sites = sites(false).replace(
        "\n]}",
        ",\n{\"type\":\"Feature\",\"properties\":{\"site_id\":\"c\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[-48.2,-15.9],[-48.15,-15.9],[-48.15,-15.85],[-48.2,-15.9]]]}},\n{\"type\":\"Feature\",\"properties\":{\"site_id\":\"d\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[-48.3,-15.9],[-48.25,-15.9],[-48.25,-15.85],[-48.3,-15.9]]]}}\n]}",
    );
    let pipeline = format!(
        "{SITES_PIPELINE}mode: batch\nchunks: {{sites_per_task: 1, max_concurrent: 4}}\nexport: {{to: gcs, bucket: my-bucket}}\n"
    );
    (pipeline, sites)
}

/// A test folder with the four-site pipeline, talking to `ee`.
fn on_fake(ee: &fake_ee::FakeEe) -> Test {
    let (pipeline, sites) = four_site_pipeline();
    Test::new()
        .file("p.yaml", &pipeline)
        .file("sites.geojson", &sites)
        .env("GEEPIPE_EE_URL", &ee.base_url())
        .env("GEEPIPE_EE_TOKEN", "t")
        .env("GEEPIPE_POLL_MIN", "0.05")
        .env("GEEPIPE_POLL_MAX", "0.1")
        .env("GEEPIPE_RETRY_BASE_MS", "5")
}

#[test]
fn progress_shows_no_eta_before_a_chunk_finished_and_never_zero_while_work_remains() {
    use fake_ee::{Clock, Config, Durations, FakeEe};
    // Four tasks of 200 s (virtual) side by side, at 100× (2 s each).
    let ee = FakeEe::start_blocking(Config {
        clock: Clock::Scaled(100.0),
        durations: Durations::Fixed(std::time::Duration::from_secs(200)),
        max_running: 4,
        ..Config::default()
    })
    .unwrap();
    let t = on_fake(&ee).env("GEEPIPE_PROGRESS_EVERY", "0").args(["run", "p.yaml", "--no-probe", "--no-fetch"]);
    let out = t.code(0);
    let lines: Vec<(usize, usize, &str)> = out
        .stderr
        .lines()
        .filter_map(|l| {
            let (count, _) = l.strip_prefix('[')?.split_once(']')?;
            let (done, total) = count.split_once('/')?;
            Some((done.parse().ok()?, total.parse().ok()?, l))
        })
        .collect();
    assert!(lines.iter().any(|(d, _, _)| *d == 0), "{}", out.stderr);
    for (done, total, line) in &lines {
        assert_eq!(*total, 4, "{line}");
        if *done == 0 {
            assert!(!line.contains("ETA"), "no estimate before a chunk finished: {line}");
        }
        if *done < *total {
            assert!(!line.contains("ETA 0s"), "never 0 while work remains: {line}");
        }
    }
    let first_done = lines.iter().find(|(d, _, _)| *d == 1).expect("a line at 1/4");
    assert!(first_done.2.contains("ETA "), "an estimate once a chunk finished: {}", first_done.2);
    // The other three were submitted with it and are as old: about to end, not "3 × the time so far" (≥ 6 s).
    let secs: u64 = first_done.2.rsplit("ETA ").next().unwrap().trim_end_matches('s').parse().expect("seconds");
    assert!((1..=5).contains(&secs), "{}", first_done.2);
}

#[test]
fn polls_read_the_operation_list_only_down_to_the_runs_own_tasks() {
    use fake_ee::{Clock, Config, Durations, FakeEe};
    // A project with 5,000 finished tasks of other runs (10 pages of 500 on every poll when read whole).
    let ee = FakeEe::start_blocking(Config {
        clock: Clock::Scaled(100.0),
        durations: Durations::Fixed(std::time::Duration::from_secs(400)),
        max_running: 4,
        foreign_succeeded: 5000,
        ..Config::default()
    })
    .unwrap();
    let t = on_fake(&ee).args(["run", "p.yaml", "--no-probe", "--no-fetch", "--events", "ev.jsonl"]);
    let out = t.code(0);
    assert!(out.stderr.contains("4 chunks: 4 succeeded"), "{}", out.stderr);
    let events = std::fs::read_to_string(out.dir.join("ev.jsonl")).unwrap();
    let polls = events.lines().filter(|l| l.contains("\"event\":\"poll\"")).count() as u64;
    let pages = ee.counters().list_calls;
    assert!(polls >= 5, "a run long enough to poll several times: {polls}");
    // The first poll (before submitting) reads everything: 10 pages of history; a complete read again every 30
    // polls (10 or 11 pages); every other poll one page, down to the run's own tasks.
    let complete = 1 + polls.saturating_sub(1) / 30;
    assert!(pages <= polls + 10 * complete, "{pages} pages in {polls} polls");
    assert!(pages >= polls + 9, "the first poll read everything: {pages} pages in {polls} polls");
    eprintln!("operations.list: {pages} pages in {polls} polls ({:.2} per poll)", pages as f64 / polls as f64);
}
