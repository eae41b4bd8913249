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
    let to_gcs = format!("e.yaml:{}", place(&text, "to: gcs", 4));
    assert!(out.stderr.contains("export::ignored") && out.stderr.contains(&to_gcs), "{to_gcs}\n{}", out.stderr);
    assert_eq!(std::fs::read(out.dir.join("out/demo-local.csv")).unwrap(), want_table);
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
        .env("HOME", home.path().to_str().unwrap())
        .env("CLOUDSDK_CONFIG", home.path().join("gcloud").to_str().unwrap())
        .env("PATH", "/nonexistent")
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .env("GCE_METADATA_IP", "127.0.0.1:9")
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
