//! `geepipe report` opened in a real headless Chromium (Debian's `chromium`, driven by playwright-core;
//! both installed by `scripts/test-deps.sh`): the demo's report (written by `geepipe run` with
//! `output.report: true`) and a generated 5,000-site × 14-year Earth Engine run. Checked: no console
//! error, no network request, every chart drawn (its marks counted against numbers computed here from the
//! table, independently of the report code, and its screenshot not blank), the site picker (by selection
//! and by keyboard) switching sites with that site's values, the map's hover details, print layout, and
//! byte-identical output for the same inputs.

mod common;
#[allow(dead_code)]
#[path = "../examples/report-data.rs"]
mod report_data;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::{repo_root, test_venv, Test};
use serde_json::Value;

/// Opens `html` in Chromium and returns what `tests/browser/check-report.cjs` saw.
fn browse(html: &Path, pick: &str) -> Value {
    test_venv();
    let out = Command::new("node")
        .arg(repo_root().join("tests/browser/check-report.cjs"))
        .arg(html)
        .args(["--pick", pick])
        .env("GEEPIPE_NODE_MODULES", repo_root().join(".venv-test/node/node_modules"))
        .output()
        .expect("run node");
    assert!(out.status.success(), "the browser check failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the browser check prints JSON")
}

/// Per site, per year: class code → hectares (categorical rows of a long table), read independently.
type Areas = BTreeMap<String, BTreeMap<i32, BTreeMap<i64, f64>>>;

fn read_areas(table: &Path, layer: &str) -> Areas {
    let mut r = csv::Reader::from_path(table).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (l, y, k, c, a) = (col("layer"), col("year"), col("kind"), col("class_code"), col("area_ha"));
    let mut out = Areas::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        if &rec[l] != layer || &rec[k] != "categorical" {
            continue;
        }
        *out.entry(rec[0].to_string())
            .or_default()
            .entry(rec[y].parse().unwrap())
            .or_default()
            .entry(rec[c].parse().unwrap())
            .or_default() += rec[a].parse::<f64>().unwrap();
    }
    out
}

/// Cells of the net-change matrix that are not zero: diagonal where a class is in both years, a loser's
/// row × a gainer's column, and the "not observed" row or column when the site's totals differ.
fn matrix_cells(areas: &Areas) -> usize {
    let mut cells: BTreeSet<(Option<i64>, Option<i64>)> = BTreeSet::new();
    for years in areas.values() {
        if years.len() < 2 {
            continue;
        }
        let (a, b) = (years.values().next().unwrap(), years.values().next_back().unwrap());
        let codes: BTreeSet<i64> = a.keys().chain(b.keys()).copied().collect();
        let get = |m: &BTreeMap<i64, f64>, c| m.get(&c).copied().unwrap_or(0.0);
        let losers: Vec<i64> = codes.iter().copied().filter(|&c| get(a, c) > get(b, c)).collect();
        let gainers: Vec<i64> = codes.iter().copied().filter(|&c| get(b, c) > get(a, c)).collect();
        for &c in &codes {
            if get(a, c).min(get(b, c)) > 0.0 {
                cells.insert((Some(c), Some(c)));
            }
        }
        for &i in &losers {
            for &j in &gainers {
                cells.insert((Some(i), Some(j)));
            }
        }
        let loss: f64 = losers.iter().map(|&c| get(a, c) - get(b, c)).sum();
        let gain: f64 = gainers.iter().map(|&c| get(b, c) - get(a, c)).sum();
        // Totals equal up to rounding leave nothing unobserved.
        let tolerance = 1e-9 * loss.max(gain);
        if loss > gain + tolerance {
            cells.extend(losers.iter().map(|&c| (Some(c), None)));
        } else if gain > loss + tolerance {
            cells.extend(gainers.iter().map(|&c| (None, Some(c))));
        }
    }
    cells.len()
}

fn chart<'a>(v: &'a Value, id: &str) -> &'a Value {
    let c = &v["charts"][id];
    assert!(
        c.is_object(),
        "chart {id} is missing; charts: {:?}",
        v["charts"].as_object().map(|o| o.keys().collect::<Vec<_>>())
    );
    c
}

fn assert_drawn(v: &Value, id: &str) {
    let c = chart(v, id);
    assert!(c["svg"].as_u64().unwrap() >= 1, "{id} has no SVG: {c}");
    assert!(c["width"].as_u64().unwrap() > 300 && c["height"].as_u64().unwrap() > 100, "{id} is too small: {c}");
    let ink = c["ink"]["share"].as_f64().unwrap();
    assert!(ink > 0.01, "{id} looks blank ({ink} of its pixels are not white)");
    assert!(c["ink"]["colours"].as_u64().unwrap() > 8, "{id} has almost no colours: {c}");
    assert!(c["aria"].as_str().is_some_and(|a| a.len() > 20), "{id} has no text alternative: {c}");
}

fn assert_clean(v: &Value) {
    assert_eq!(v["console_errors"], serde_json::json!([]), "console errors");
    assert_eq!(v["page_errors"], serde_json::json!([]), "page errors");
    assert_eq!(v["requests"], serde_json::json!([]), "the page asked the network for something");
    assert_eq!(v["status"], "All charts drawn.");
    assert!(v["print"]["controls_hidden"].as_bool().unwrap(), "print shows the controls");
    assert!(v["print"]["pdf_bytes"].as_u64().unwrap() > 10_000, "printing gave an empty PDF");
    assert!(v["tabs_to_picker"].as_u64().is_some(), "the site picker cannot be reached with Tab");
}

#[test]
fn demo_report_written_by_run_draws_in_chromium() {
    let demo = repo_root().join("demo");
    let pipeline = std::fs::read_to_string(repo_root().join("pipelines/demo-local.yaml"))
        .unwrap()
        .replace("../demo/", &format!("{}/", demo.display()))
        .replace("../results/", "out/")
        .replace("  path: out/demo-local.csv", "  path: out/demo-local.csv\n  report: true");
    assert!(pipeline.contains("report: true"));
    let t = Test::new().file("demo.yaml", &pipeline).args(["run", "demo.yaml"]);
    let dir = t.path().to_path_buf();
    let out = t.code(0);
    assert!(out.stdout.contains("report:") && out.stdout.contains("demo-local.report.html"), "{}", out.stdout);
    let html = dir.join("out/demo-local.report.html");
    let first = std::fs::read(&html).unwrap();

    // The same inputs give the same bytes (the command reads the same table and manifest).
    let again = Command::new(env!("CARGO_BIN_EXE_geepipe"))
        .args(["report", "demo.yaml", "--output", "again.html"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(again.success());
    assert!(std::fs::read(dir.join("again.html")).unwrap() == first, "the report differs for the same inputs");

    let areas = read_areas(&dir.join("out/demo-local.csv"), "mapbiomas_lulc");
    let classes: BTreeSet<i64> = areas.values().flat_map(|y| y.values().flat_map(|c| c.keys().copied())).collect();
    let v = browse(&html, "b");
    assert_clean(&v);
    for id in ["chart-mapbiomas_lulc-areas", "chart-mapbiomas_lulc-matrix", "chart-map"] {
        assert_drawn(&v, id);
    }
    assert_eq!(chart(&v, "chart-mapbiomas_lulc-areas")["area"], classes.len(), "one area per class");
    assert_eq!(chart(&v, "chart-mapbiomas_lulc-matrix")["rect"], matrix_cells(&areas), "one cell per non-zero pair");
    // Six outlines (site f is outside the rasters but in the site file) and the selected site's outline.
    assert_eq!(chart(&v, "chart-map")["shape"], 7);
    assert_eq!(v["picker_options"], 6);
    assert!(v["tooltip"].as_str().is_some_and(|t| t.contains("name")), "hover shows details: {}", v["tooltip"]);

    // Site b: its class areas in the site table equal the table's (shares rounded to 0.1% of the site).
    let picked = &v["picked"];
    assert_eq!(picked["site"], "b");
    assert_eq!(picked["hash"], "#site=b");
    assert!(picked["title"].as_str().unwrap().contains("Sítio Esperança"));
    assert_eq!(picked["charts"]["site-chart-0"]["area"], areas["b"].values().next().unwrap().len());
    check_site_table(&picked["tables"][0], &areas["b"]);
    assert_ne!(v["keyboard_site"], v["site_view"]["site"], "ArrowDown on the picker opens another site");
}

/// The site view's table (class × year, hectares) against the table's values.
fn check_site_table(table: &Value, site: &BTreeMap<i32, BTreeMap<i64, f64>>) {
    let rows = table.as_array().unwrap();
    let years: Vec<i32> =
        rows[0].as_array().unwrap()[1..].iter().map(|y| y.as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(years, site.keys().copied().collect::<Vec<_>>());
    for row in &rows[1..] {
        let row = row.as_array().unwrap();
        let code: i64 = row[0].as_str().unwrap().split(' ').next().unwrap().parse().unwrap();
        for (k, y) in years.iter().enumerate() {
            let total: f64 = site[y].values().sum();
            let want = site[y].get(&code).copied().unwrap_or(0.0);
            let got: f64 = row[k + 1].as_str().unwrap().parse().unwrap();
            assert!(
                (got - want).abs() <= total * 0.0005 + want * 0.0005 + 1e-9,
                "class {code} in {y}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn five_thousand_sites_draw_in_chromium_with_the_run_section() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = report_data::generate(5000, 14, tmp.path());
    let p = pipeline.display().to_string();
    Test::new().args(["report", &p]).code(0);
    let html = tmp.path().join("table.report.html");
    let first = std::fs::read(&html).unwrap();
    assert!(first.len() < 2_500_000, "5,000 sites take {} bytes", first.len());
    let again = tmp.path().join("again.html");
    Test::new().args(["report", &p, "--output", &again.display().to_string()]).code(0);
    assert!(std::fs::read(&again).unwrap() == first, "the report differs for the same inputs");

    // The run section, from the journal: the failure with its message, the split, the task count.
    let text = String::from_utf8(first).unwrap();
    assert!(text.contains(report_data::FAILURE), "the failure message is shown");
    let journal = geepipe::journal::Journal::open_read(&tmp.path().join(".geepipe/report-bench.sqlite")).unwrap();
    let rows = journal.chunks().unwrap();
    let split = rows.iter().filter(|r| r.state == geepipe::journal::ChunkState::Split).count();
    assert_eq!(split, 1);
    assert!(text.contains(&format!("{} export task(s) (", rows.len() - split)), "task count");
    assert!(text.contains("1 split in two"));

    let table = tmp.path().join("table.csv");
    let areas = read_areas(&table, "mapbiomas_lulc");
    let v = browse(&html, "s000042");
    assert_clean(&v);
    let ids = [
        "chart-mapbiomas_lulc-areas",
        "chart-mapbiomas_lulc-matrix",
        "chart-modis_ndvi-ndvi-mean",
        "chart-modis_ndvi-ndvi-p90",
        "chart-map",
        "chart-run-chunks",
    ];
    for id in ids {
        assert_drawn(&v, id);
    }
    assert_eq!(chart(&v, "chart-mapbiomas_lulc-areas")["area"], 6);
    assert_eq!(chart(&v, "chart-mapbiomas_lulc-matrix")["rect"], matrix_cells(&areas));
    for id in ["chart-modis_ndvi-ndvi-mean", "chart-modis_ndvi-ndvi-p90"] {
        let c = chart(&v, id);
        assert_eq!(c["rect"], 14, "one box per year: {c}");
        assert_eq!(c["rule"], 14, "one whisker per year: {c}");
        assert_eq!(c["line"], 1, "one median line: {c}");
    }
    assert_eq!(chart(&v, "chart-map")["shape"], 5001, "every site's outline and the selected one");
    let timed = rows.iter().filter(|r| r.runtime().is_some() && r.eecu_seconds.is_some()).count();
    assert!(timed > 90);
    assert_eq!(chart(&v, "chart-run-chunks")["symbol"], timed, "one point per task with both figures");
    assert_eq!(v["picker_options"], 5000);
    assert_eq!(v["map_after_metric"]["shape"], 5001);
    let picked = &v["picked"];
    assert_eq!(picked["site"], "s000042");
    check_site_table(&picked["tables"][0], &areas["s000042"]);
    assert_eq!(picked["charts"]["site-chart-1"]["line"].as_u64().unwrap(), 4, "NDVI mean and p90, site and median");
}
