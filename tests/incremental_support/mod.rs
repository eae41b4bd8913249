//! Shared by the incremental tests of export tasks and of interactive requests: the site files they change,
//! and what a request body asks Earth Engine to compute, read from its expression alone (not from geepipe's
//! plan): the sites of its `Feature`s times the outputs of its reducers.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use fake_ee::gcs_emulator::GcsEmulator;
use fake_ee::FakeEe;
use serde_json::Value;

/// A cell: (site, layer, year, stat), stat "" for a categorical layer-year.
pub type Cell = (String, String, i32, String);

/// Resolves `valueReference`s so a body's expression can be walked as a tree.
fn resolve(v: &Value, values: &serde_json::Map<String, Value>) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("valueReference") {
                return resolve(&values[r], values);
            }
            Value::Object(m.iter().map(|(k, x)| (k.clone(), resolve(x, values))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, values)).collect()),
        other => other.clone(),
    }
}

fn walk<'a>(v: &'a Value, f: &mut impl FnMut(&'a Value)) {
    f(v);
    match v {
        Value::Object(m) => m.values().for_each(|x| walk(x, f)),
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// The cells one export body asks Earth Engine to compute, read from its expression: the sites of its
/// `Feature`s times what its reducers output — `(site, layer, year, stat)`, stat "" for a categorical
/// layer-year (the names given to `Reducer.forEach`).
pub fn cells_of(body: &Value) -> BTreeSet<Cell> {
    let expr = &body["expression"];
    let values = expr["values"].as_object().unwrap();
    let root = resolve(&values[expr["result"].as_str().unwrap()], values);
    let mut sites = BTreeSet::new();
    let mut outputs = BTreeSet::new();
    walk(&root, &mut |v| {
        let Some(call) = v.get("functionInvocationValue") else { return };
        let args = &call["arguments"];
        match call["functionName"].as_str() {
            Some("Feature") => {
                if let Some(id) = args["metadata"]["constantValue"]["site_id"].as_str() {
                    sites.insert(id.to_string());
                }
            }
            Some("Reducer.forEach") => {
                // A constant list of names, or a list of (resolved) constant names.
                let names = &args["outputNames"];
                let listed: Vec<&Value> = match names["constantValue"].as_array() {
                    Some(a) => a.iter().collect(),
                    None => names["arrayValue"]["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| &v["constantValue"])
                        .collect(),
                };
                for name in listed {
                    let parts: Vec<&str> = name.as_str().expect("a constant output name").split("__").collect();
                    // `ha`/`px` name the sums inside a categorical layer-year's group reducer.
                    if parts.len() < 2 {
                        continue;
                    }
                    let year: i32 = parts[1].parse().unwrap();
                    match parts.len() {
                        2 => outputs.insert((parts[0].to_string(), year, String::new())),
                        4 => outputs.insert((parts[0].to_string(), year, parts[3].to_string())),
                        _ => false,
                    };
                }
            }
            _ => {}
        }
    });
    let mut out = BTreeSet::new();
    for s in &sites {
        for (l, y, st) in &outputs {
            out.insert((s.clone(), l.clone(), *y, st.clone()));
        }
    }
    out
}

/// Site `i`: a 0.004° square near Brasília (its corner moved by `dx` when edited).
pub fn feature(i: usize, dx: f64, name_key: &str) -> String {
    let (x, y) = (-48.0 + i as f64 * 0.01 + dx, -15.8);
    let ring = [[x, y], [x + 0.004, y], [x + 0.004, y + 0.004], [x, y + 0.004], [x, y]];
    format!(
        r#"{{"type":"Feature","properties":{{"site_id":"s{i:02}","{name_key}":"Farm {i}"}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}}"#,
        serde_json::to_string(&ring).unwrap()
    )
}

/// The site file: these sites in this order, `edited` moved a little, the kept property named `name_key`.
pub fn sites(order: &[usize], edited: Option<usize>, name_key: &str) -> String {
    let f: Vec<String> =
        order.iter().map(|&i| feature(i, if edited == Some(i) { 0.001 } else { 0.0 }, name_key)).collect();
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, f.join(",\n"))
}

/// Every cell sent in export bodies from submission `from` on (deduplicated submissions sent no work),
/// counting repeats.
pub fn sent(ee: &FakeEe, from: usize) -> BTreeMap<Cell, usize> {
    let mut out = BTreeMap::new();
    for s in ee.submissions().into_iter().skip(from).filter(|s| !s.deduplicated && s.operation.is_some()) {
        if s.body.get("expression").is_none() {
            continue;
        }
        for c in cells_of(&s.body) {
            *out.entry(c).or_insert(0) += 1;
        }
    }
    out
}

/// The cells of these sites × layer-years × stats.
pub fn cells(sites: &[usize], years: &[i32], ndvi_stats: &[&str]) -> BTreeSet<Cell> {
    let mut out = BTreeSet::new();
    for &i in sites {
        for &y in years {
            out.insert((format!("s{i:02}"), "mapbiomas_lulc".into(), y, String::new()));
            for st in ndvi_stats {
                out.insert((format!("s{i:02}"), "modis_ndvi".into(), y, st.to_string()));
            }
        }
    }
    out
}

pub fn exactly_once(got: &BTreeMap<Cell, usize>) -> BTreeSet<Cell> {
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "cells sent more than once: {twice:?}");
    got.keys().cloned().collect()
}

/// Every cell the fake computed for `table:computeFeatures` bodies from answer `from` on (a page after the
/// first repeats its request: not counted), with how many times.
pub fn asked(ee: &FakeEe, from: usize) -> BTreeMap<Cell, usize> {
    let mut out = BTreeMap::new();
    for body in ee.computed().into_iter().skip(from).filter(|b| b.get("pageToken").is_none()) {
        for c in cells_of(&body) {
            *out.entry(c).or_insert(0) += 1;
        }
    }
    out
}

/// Starts `geepipe run` and kills it with SIGKILL once `ready()` says so (or after `limit`).
pub fn kill_when(mut child: Child, limit: Duration, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() && start.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // `Child::kill` is SIGKILL on Unix: no handler runs, nothing is flushed.
    let _ = child.kill();
    let _ = child.wait();
}

/// `geepipe args` in `dir`, talking to the fake Earth Engine with `token` and to the Cloud Storage emulator.
pub fn command(dir: &Path, ee: &FakeEe, gcs: &GcsEmulator, token: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_geepipe"));
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("GEEPIPE_EE_URL", ee.base_url())
        .env("GEEPIPE_EE_TOKEN", token)
        .env("STORAGE_EMULATOR_HOST", gcs.base_url())
        .env("GEEPIPE_RETRY_BASE_MS", "20")
        .env("GEEPIPE_POLL_MIN", "0.05");
    c
}

/// Runs `c` (`geepipe args`), which must succeed.
pub fn succeed(mut c: Command, args: &[&str]) -> Output {
    let out = c.output().expect("run geepipe");
    assert_eq!(
        out.status.code(),
        Some(0),
        "geepipe {args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One change of the incremental scenario: the pipeline and site file after it, and the cells it must
/// compute, exactly.
pub struct Step {
    pub what: &'static str,
    pub pipeline: String,
    pub sites: String,
    pub expect: BTreeSet<Cell>,
}

/// The six changes of issue 15 after a first run, over `n` sites growing to `n + 2`: add a year, add
/// sites, edit site `edited`, reorder the file (`reordered`, a permutation of `0..n + 2`), rename a kept
/// property, add a statistic. `pipeline(years, stats, kept property)` writes the pipeline.
pub fn six_changes(
    pipeline: impl Fn(&str, &str, &str) -> String,
    n: usize,
    edited: usize,
    reordered: &[usize],
) -> Vec<Step> {
    let base: Vec<usize> = (0..n).collect();
    let grown: Vec<usize> = (0..n + 2).collect();
    let (y2, y3) = ([2020, 2021], [2020, 2021, 2022]);
    let step = |what, years, stats, keep, sites: String, expect| Step {
        what,
        pipeline: pipeline(years, stats, keep),
        sites,
        expect,
    };
    vec![
        step("first run", "2020..2021", "mean", "name", sites(&base, None, "name"), cells(&base, &y2, &["mean"])),
        step("add a year", "2020..2022", "mean", "name", sites(&base, None, "name"), cells(&base, &[2022], &["mean"])),
        step(
            "add sites",
            "2020..2022",
            "mean",
            "name",
            sites(&grown, None, "name"),
            cells(&[n, n + 1], &y3, &["mean"]),
        ),
        step(
            "edit one polygon",
            "2020..2022",
            "mean",
            "name",
            sites(&grown, Some(edited), "name"),
            cells(&[edited], &y3, &["mean"]),
        ),
        step("reorder the file", "2020..2022", "mean", "name", sites(reordered, Some(edited), "name"), BTreeSet::new()),
        step(
            "rename a kept property",
            "2020..2022",
            "mean",
            "farm",
            sites(reordered, Some(edited), "farm"),
            BTreeSet::new(),
        ),
        step(
            "add a statistic",
            "2020..2022",
            "mean, max",
            "farm",
            sites(reordered, Some(edited), "farm"),
            cells(&grown, &y3, &["max"]).into_iter().filter(|c| c.1 == "modis_ndvi").collect(),
        ),
    ]
}
