//! `validate` and `plan` report the same diagnostics: every example pipeline of the repository and every
//! pipeline below (one per check that used to be made by the planner only, plus site-file warnings and
//! errors) is run through both commands, and their reports (stderr, the rendered diagnostics and the
//! closing count) must be identical. A local-engine pipeline is the one exception: `plan` refuses it
//! (`plan::local-engine`, it sends no requests) after the same diagnostics.

mod common;
use common::{repo_root, Output, Test};

const SITES: &str = r#"{"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {"site_id": "a", "name": "A", "class": 1},
   "geometry": {"type": "Polygon", "coordinates": [[[-47.95, -15.8], [-47.9, -15.8], [-47.9, -15.75], [-47.95, -15.75], [-47.95, -15.8]]]}},
  {"type": "Feature", "properties": {"site_id": "b", "class": 2},
   "geometry": {"type": "Polygon", "coordinates": [[[-48.1, -15.9], [-48.05, -15.85], [-48.05, -15.9], [-48.1, -15.85], [-48.1, -15.9]]]}}
]}
"#;

/// The pipelines written for this test: (name, the end of the pipeline); each reads `sites.geojson` (two
/// sites, the second a bow tie without `name`).
const PIPELINES: &[(&str, &str)] = &[
    ("plain", "export: {to: drive, folder: g}\n"),
    ("best_effort", "reduce: {best_effort: true}\nexport: {to: drive, folder: g}\n"),
    ("shapefile", "export: {to: drive, folder: g, format: shp}\n"),
    ("bigquery_overwrite", "export: {to: bigquery, table: p.d.t, overwrite: true}\n"),
    ("kept_property_missing", "export: {to: gcs, bucket: bb-b}\n"),
    ("layer_error", "export: {to: drive, folder: g}\nchunks: {sites_per_task: 0}\n"),
];

fn pipeline(name: &str, tail: &str) -> String {
    let keep = if name == "kept_property_missing" { ", keep: [name]" } else { "" };
    format!(
        "name: {name}\nsites: {{file: sites.geojson, id: site_id{keep}}}\nyears: 2020\n\
         layers: [{{catalog: mapbiomas_lulc}}]\n{tail}"
    )
}

fn run(t: Test, command: &str, file: &str) -> Output {
    t.args([command, file]).output()
}

/// Asserts that both commands report the same (or, for a local pipeline, that `plan` adds only its refusal).
fn compare(what: &str, validate: Output, plan: Output, local: bool) {
    if local {
        assert_eq!(plan.code, 2, "{what}: plan refuses a local pipeline\n{}", plan.stderr);
        assert!(plan.stderr.contains("plan::local-engine"), "{what}:\n{}", plan.stderr);
        let before = plan.stderr.split("plan::local-engine").next().unwrap_or_default();
        let shown = validate.stderr.rsplit_once('\n').map(|(body, _)| body).unwrap_or_default();
        let shown = shown.rsplit_once('\n').map(|(body, _)| body).unwrap_or_default();
        assert!(
            before.starts_with(shown),
            "{what}: validate showed\n{}\nplan showed\n{}",
            validate.stderr,
            plan.stderr
        );
        return;
    }
    assert_eq!(
        validate.stderr, plan.stderr,
        "{what}: validate and plan report differently\n--- validate (exit {}):\n{}\n--- plan (exit {}):\n{}",
        validate.code, validate.stderr, plan.code, plan.stderr
    );
    assert_eq!(validate.code == 0, plan.code == 0, "{what}: one accepts, the other refuses");
}

#[test]
fn validate_and_plan_report_the_same_for_every_example_pipeline() {
    let dir = repo_root().join("pipelines");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("pipelines/").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert!(files.len() >= 5, "the example pipelines are missing");
    for f in files {
        let path = f.display().to_string();
        let local = std::fs::read_to_string(&f).expect("read").contains("engine: local");
        compare(&path, run(Test::new(), "validate", &path), run(Test::new(), "plan", &path), local);
    }
}

#[test]
fn validate_and_plan_report_the_same_for_every_test_pipeline() {
    let mut warned = 0;
    for (name, tail) in PIPELINES {
        let text = pipeline(name, tail);
        let make = || Test::new().file("sites.geojson", SITES).file("p.yaml", &text);
        let (v, p) = (run(make(), "validate", "p.yaml"), run(make(), "plan", "p.yaml"));
        // Every pipeline has the bow tie's warning, so neither command is silent: one with errors too (every
        // problem at once, the site file's with the pipeline file's).
        assert!(v.stderr.contains("sites::self-intersection"), "{name}:\n{}", v.stderr);
        warned += usize::from(v.stderr.contains("plan::"));
        compare(name, v, p, false);
    }
    assert_eq!(warned, 3, "best_effort, shapefile and bigquery_overwrite each warn");
    // A site file with errors: both stop at the same problems.
    let mistakes = repo_root().join("examples/sites/mistakes.geojson");
    let text = pipeline("mistakes", "export: {to: drive, folder: g}\n")
        .replace("file: sites.geojson", &format!("file: {}", mistakes.display()));
    let make = || Test::new().file("p.yaml", &text);
    let (v, p) = (run(make(), "validate", "p.yaml"), run(make(), "plan", "p.yaml"));
    assert_eq!(v.code, 2, "{}", v.stderr);
    compare("mistakes", v, p, false);
}

#[test]
fn plan_counts_every_warning_validate_shows() {
    let text = pipeline("best_effort", "reduce: {best_effort: true}\nexport: {to: drive, folder: g}\n");
    let out = Test::new().file("sites.geojson", SITES).file("p.yaml", &text).args(["plan", "p.yaml"]).code(0);
    // The bow tie and `best_effort`, both located in their files.
    assert!(out.stdout.contains("warnings:         2"), "{}", out.stdout);
    assert!(out.stderr.contains("p.yaml:5:"), "{}", out.stderr);
    assert!(out.stderr.contains("sites.geojson:"), "{}", out.stderr);
}
