//! The bad-input corpus: `geepipe validate` on every hostile pipeline file in `tests/corpus/pipelines/` and
//! every hostile site file in `tests/corpus/sites/` (checked through a valid pipeline that points at it).
//! Each must end with the exit code and the first reported place that `tests/corpus/manifest.tsv` records,
//! without a panic, quickly, and with a report of bounded size.
//!
//! `tests/corpus/make.py` writes the files; `GEEPIPE_BLESS=1 cargo test --test corpus` records what geepipe
//! says into the manifest (read the diff before committing it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SITE_PIPELINE: &str = "name: corpus
sites:
  file: sites.geojson
  id: site_id
  keep: [name]
years: 2010..2012
layers:
  - catalog: mapbiomas_lulc
export:
  to: drive
  folder: geepipe
";

/// What one file gave: exit code, first place reported (`file:line:col`, or `-`), and the report.
struct Seen {
    code: i32,
    place: String,
    stderr: String,
    took: Duration,
}

fn corpus() -> PathBuf {
    common::repo_root().join("tests/corpus")
}

/// The first place a report names: a snippet header `╭─[file:line:col]` or a `——▶ file` headline.
fn first_place(stderr: &str) -> String {
    for line in stderr.lines() {
        let l = line.trim_start();
        if let Some(rest) = l.strip_prefix("╭─[") {
            return rest.trim_end().trim_end_matches(']').to_string();
        }
        if let Some(rest) = l.strip_prefix("——▶ ") {
            return rest.trim().to_string();
        }
    }
    "-".to_string()
}

fn check(rel: &str) -> Seen {
    let root = corpus();
    let start = Instant::now();
    let out = if let Some(site) = rel.strip_prefix("sites/") {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), SITE_PIPELINE).unwrap();
        std::fs::copy(root.join(rel), dir.path().join("sites.geojson")).unwrap();
        let _ = site;
        Command::new(env!("CARGO_BIN_EXE_geepipe"))
            .args(["validate", "p.yaml"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    } else {
        Command::new(env!("CARGO_BIN_EXE_geepipe"))
            .args(["validate", rel])
            .current_dir(&root)
            .env("NO_COLOR", "1")
            .env_remove("GOOGLE_CLOUD_PROJECT")
            .output()
            .unwrap()
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Seen { code: out.status.code().unwrap_or(-1), place: first_place(&stderr), stderr, took: start.elapsed() }
}

fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| format!("{prefix}/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_hostile_file_is_reported_where_it_goes_wrong() {
    let root = corpus();
    let mut all = files(&root.join("pipelines"), "pipelines");
    all.extend(files(&root.join("sites"), "sites"));
    assert!(all.len() >= 150, "the corpus has only {} files", all.len());
    // Run them a few at a time.
    let queue = std::sync::Mutex::new(all.clone());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let Some(rel) = queue.lock().unwrap().pop() else { break };
                let seen = check(&rel);
                results.lock().unwrap().push((rel, seen));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let manifest_path = root.join("manifest.tsv");
    if std::env::var_os("GEEPIPE_BLESS").is_some() {
        let mut text = String::from(
            "# file\texit code\tfirst place reported (written by GEEPIPE_BLESS=1 cargo test --test corpus)\n",
        );
        for (rel, seen) in &results {
            text.push_str(&format!("{rel}\t{}\t{}\n", seen.code, seen.place));
        }
        std::fs::write(&manifest_path, text).unwrap();
    }
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let expected: Vec<(String, i32, String)> = manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let (a, b, c) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            (a.to_string(), b.parse().unwrap(), c.to_string())
        })
        .collect();
    let listed: Vec<&str> = expected.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(listed, all.iter().map(String::as_str).collect::<Vec<_>>(), "manifest.tsv and the files differ");
    let mut problems = Vec::new();
    for ((rel, seen), (_, code, place)) in results.iter().zip(&expected) {
        if seen.stderr.contains("internal error") || seen.stderr.contains("panicked") || seen.code == 70 {
            problems.push(format!("{rel}: internal error\n{}", seen.stderr));
        }
        if (seen.code, &seen.place) != (*code, place) {
            problems.push(format!("{rel}: want exit {code} at {place}, got exit {} at {}", seen.code, seen.place));
        }
        if *code == 2 && place == "-" {
            problems.push(format!("{rel}: an error without a place"));
        }
        if seen.stderr.len() > 100_000 {
            problems.push(format!("{rel}: {} bytes of report", seen.stderr.len()));
        }
        if seen.took > Duration::from_secs(60) {
            problems.push(format!("{rel}: took {:?}", seen.took));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
