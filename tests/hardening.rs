//! Hostile input that used to panic, hang or flood the terminal (issue 12, "Panics and hangs" and
//! "Accepted but wrong"): each test feeds the real binary one such input and checks the exit code, the
//! place reported and that the report stays small.

mod common;
use common::{normalize, Test};

const VALID: &str = "name: lulc
sites:
  file: sites.geojson
  id: site_id
years: 2010..2012
layers:
  - catalog: mapbiomas_lulc
export:
  to: drive
  folder: geepipe
";

fn with_sites(t: Test) -> Test {
    t.copy("examples/sites/restoration.geojson", "sites.geojson")
}

/// The `——▶ file:line:col` headlines of a report, in order.
fn places(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("╭─["))
        .map(|l| l.trim_end_matches(']').to_string())
        .collect()
}

/// A minified one-line pipeline with a typo past column 65,535: located, no panic (miette's renderer
/// used to fail formatting a padding that wide), and the snippet is a window, not the whole line.
#[test]
fn a_typo_past_column_65535_is_located_in_a_short_snippet() {
    let line = format!(
        r#"{{"name": "lulc", "vars": {{"pad": "{}"}}, "sites": {{"file": "sites.geojson", "id": "site_id"}}, "years": "2010..2012", "layers": [{{"catalog": "mapbiomas_lulc"}}], "export": {{"to": "drive", "folder": "g"}}, "layres": 1}}"#,
        "x".repeat(70_000)
    );
    let col = line.find("\"layres\"").unwrap() + 1;
    let out = with_sites(Test::new().file("p.yaml", &format!("{line}\n"))).args(["validate", "p.yaml"]).code(2);
    assert_eq!(places(&out.stderr), [format!("p.yaml:1:{col}")], "{}", &out.stderr[..out.stderr.len().min(2000)]);
    assert!(out.stderr.contains("layres"), "{}", out.stderr);
    assert!(out.stderr.len() < 3_000, "the report echoes the long line: {} bytes", out.stderr.len());
    assert!(!out.stderr.contains("internal error"));
}

/// 7,500 levels of block nesting: refused where the limit is passed (no stack overflow, exit 2).
#[test]
fn deep_yaml_nesting_is_refused_not_a_stack_overflow() {
    let mut p = String::from("name: x\nvars:\n");
    for i in 0..7_500 {
        p.push_str(&"  ".repeat(i + 1));
        p.push_str("a:\n");
    }
    p.push_str(&"  ".repeat(7_501));
    p.push_str("1\n");
    let out = Test::new().file("p.yaml", &p).args(["validate", "p.yaml"]).code(2);
    // The root is level 1, the mapping under `vars` level 2 (line 3), so level 129 starts on line 130.
    assert_eq!(places(&out.stderr), ["p.yaml:130:257"], "{}", out.stderr);
    assert!(out.stderr.contains("deeper than 128 levels"), "{}", out.stderr);
}

/// The same in TOML: the parser's own limit stops dotted keys (each a nested table) and nested arrays,
/// and the error is reported, not a crash.
#[test]
fn deep_toml_nesting_is_refused() {
    let keys = vec!["a"; 5_000].join(".");
    let out = Test::new().file("p.toml", &format!("name = \"x\"\n[vars]\n{keys} = 1\n")).args(["validate", "p.toml"]);
    let out = out.code(2);
    assert!(out.stderr.contains("recursion limit"), "{}", out.stderr);
    let p = format!("name = \"x\"\nvars = {}{}\n", "[".repeat(7_500), "]".repeat(7_500));
    let out = Test::new().file("p.toml", &p).args(["validate", "p.toml"]).code(2);
    assert_eq!(places(&out.stderr), ["p.toml:2:88"], "{}", out.stderr);
    assert!(out.stderr.contains("max recursion depth"), "{}", out.stderr);
    assert!(out.stderr.len() < 3_000, "{} bytes of report", out.stderr.len());
}

/// Thousands of repeated years (on one line, and one per line): a bounded report, quickly.
#[test]
fn repeated_problems_are_capped_and_fast() {
    let one_line = VALID.replace("years: 2010..2012", &format!("years: [{}]", vec!["2010"; 8_000].join(", ")));
    let per_line = VALID.replace("years: 2010..2012", &format!("years:\n{}", "  - 2010\n".repeat(100_000)));
    for p in [one_line, per_line] {
        let start = std::time::Instant::now();
        let out = with_sites(Test::new().file("p.yaml", &p)).args(["validate", "p.yaml"]).code(0);
        assert!(start.elapsed().as_secs() < 60, "took {:?}", start.elapsed());
        assert!(out.stderr.len() < 40_000, "{} bytes of report", out.stderr.len());
        assert_eq!(out.stderr.matches("is listed twice").count(), 20, "{}", out.stderr);
        let last = normalize(&out.stderr).lines().last().unwrap_or_default().to_string();
        let n = p.matches("2010").count() - 1;
        assert_eq!(last, format!("0 errors, {n} warnings"));
        assert!(out.stderr.contains(&format!("and {} more `years::repeated` problems", n - 20)), "{}", out.stderr);
    }
}

/// A 10 MB scalar in an error is not echoed whole.
#[test]
fn a_huge_scalar_is_not_echoed() {
    let p = VALID.replace("to: drive", &format!("to: d{}", "r".repeat(10 << 20)));
    let out = with_sites(Test::new().file("p.yaml", &p)).args(["validate", "p.yaml"]).code(2);
    assert_eq!(places(&out.stderr), ["p.yaml:9:7"], "{}", &out.stderr[..out.stderr.len().min(3000)]);
    assert!(out.stderr.len() < 4_000, "{} bytes of report", out.stderr.len());
}

/// Poll intervals and timeouts that a Duration cannot hold are refused as invalid input, not a panic.
#[test]
fn infinite_intervals_are_invalid_input() {
    for (var, value) in [
        ("GEEPIPE_POLL_MIN", "inf"),
        ("GEEPIPE_POLL_MAX", "1e30"),
        ("GEEPIPE_HTTP_TIMEOUT", "inf"),
        ("GEEPIPE_POLL_MIN", "NaN"),
        ("GEEPIPE_HTTP_TIMEOUT", "-1"),
    ] {
        let out = with_sites(Test::new().file("p.yaml", VALID)).env(var, value).args(["status", "p.yaml"]).code(2);
        assert!(out.stderr.contains(&format!("`{value}`")), "{var}={value}: {}", out.stderr);
        assert!(!out.stderr.contains("internal error"), "{}", out.stderr);
    }
    // A `wait --timeout` past what a clock holds is no timeout, not a panic (no journal: exit 4).
    let out =
        with_sites(Test::new().file("p.yaml", VALID)).args(["wait", "p.yaml", "--timeout", "18446744073709551615"]);
    let out = out.code(4);
    assert!(out.stderr.contains("no journal"), "{}", out.stderr);
}

/// A closed stderr (and stdout) does not abort: the command finishes with its own exit code.
#[test]
fn a_closed_stderr_is_not_an_abort() {
    use std::process::{Command, Stdio};
    let t = with_sites(Test::new().file("p.yaml", &VALID.replace("drive", "dirve")));
    for closed in ["stderr", "stdout"] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_geepipe"));
        cmd.args(["validate", "p.yaml"]).current_dir(t.path()).env("NO_COLOR", "1");
        let mut child = if closed == "stderr" {
            cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap()
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap()
        };
        // Close our end at once: every write of the child fails with EPIPE.
        drop(child.stderr.take());
        drop(child.stdout.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(2), "closed {closed}: {status:?}");
    }
}

/// `.nan`, `.inf` (YAML) and `nan`, `inf` (TOML) are located errors, not a silent default.
#[test]
fn non_finite_numbers_are_errors() {
    let yaml = format!("{VALID}reduce:\n  scale: .nan\n");
    let out = with_sites(Test::new().file("p.yaml", &yaml)).args(["validate", "p.yaml"]).code(2);
    assert_eq!(places(&out.stderr), ["p.yaml:12:10"], "{}", out.stderr);
    assert!(out.stderr.contains("NaN and infinity are not allowed"), "{}", out.stderr);
    let yaml = VALID.replace("years: 2010..2012", "years: [2010, -.inf]");
    let out = with_sites(Test::new().file("p.yaml", &yaml)).args(["validate", "p.yaml"]).code(2);
    assert_eq!(places(&out.stderr), ["p.yaml:5:15"], "{}", out.stderr);
    let toml = "name = \"lulc\"\nyears = [2010, inf]\n[sites]\nfile = \"sites.geojson\"\nid = \"site_id\"\n[[layers]]\ncatalog = \"mapbiomas_lulc\"\n[export]\nto = \"drive\"\nfolder = \"g\"\n[reduce]\nscale = nan\n";
    let out = with_sites(Test::new().file("p.toml", toml)).args(["validate", "p.toml"]).code(2);
    assert_eq!(places(&out.stderr), ["p.toml:2:16", "p.toml:12:9"], "{}", out.stderr);
}

/// A project id with a newline (or a space) is refused by `validate`, not by the HTTP layer during `run`.
#[test]
fn a_project_id_with_a_newline_is_invalid() {
    let p = VALID.replace("name: lulc", "name: lulc\nproject: \"my-project\\nX-Evil: 1\"");
    let out = with_sites(Test::new().file("p.yaml", &p)).args(["validate", "p.yaml"]).code(2);
    assert_eq!(places(&out.stderr), ["p.yaml:2:10"], "{}", out.stderr);
    assert!(out.stderr.contains("is not a Cloud project id"), "{}", out.stderr);
    let out = with_sites(Test::new().file("p.yaml", VALID)).args(["--project", "my project", "plan", "p.yaml"]).code(2);
    assert!(out.stderr.contains("`my project` is not a Cloud project id"), "{}", out.stderr);
}

/// `output.path` that cannot hold the table (empty, a folder, a device) is a located error in `validate`,
/// and so is an extension naming another format than `output.format`.
#[test]
fn output_paths_that_are_no_table_file_are_located_errors() {
    for (path, message) in [
        ("\"\"", "output.path is empty"),
        ("\".\"", "output.path `.` is a folder, not a file"),
        ("results/", "output.path `results/` is a folder, not a file"),
        ("sub", "output.path `sub` is a folder, not a file"),
        ("/dev/null", "output.path `/dev/null` exists and is not a regular file"),
        ("out.geojson\n  format: csv", "output.path ends in `.geojson` but output.format is `csv`"),
    ] {
        let p = format!("{VALID}output:\n  path: {path}\n");
        let t = with_sites(Test::new().file("p.yaml", &p).file("sub/keep", "")).args(["validate", "p.yaml"]);
        let out = t.code(2);
        assert!(out.stderr.contains(message), "{path}: {}", out.stderr);
        assert_eq!(places(&out.stderr), ["p.yaml:12:9"], "{path}: {}", out.stderr);
    }
    // A file that exists, or a path whose folder does not exist yet, is fine.
    for path in ["sites.csv", "new/dir/out.csv", "out.parquet"] {
        let p = format!("{VALID}output:\n  path: {path}\n");
        with_sites(Test::new().file("p.yaml", &p).file("sites.csv", "old\n")).args(["validate", "p.yaml"]).code(0);
    }
    // The path's extension chooses the format when `format` is not given: a GeoJSON table may hold
    // polygons, a CSV one may not.
    let geometry = |path: &str| format!("{VALID}output:\n  path: {path}\n  geometry: polygon\n");
    with_sites(Test::new().file("p.yaml", &geometry("out.geojson"))).args(["validate", "p.yaml"]).code(0);
    let out = with_sites(Test::new().file("p.yaml", &geometry("out.csv"))).args(["validate", "p.yaml"]).code(2);
    assert!(out.stderr.contains("a CSV table cannot hold a polygon geometry"), "{}", out.stderr);
}

/// A Drive folder `..` or `.` is refused (an empty one is missing) where it is written.
#[test]
fn a_drive_folder_that_is_no_folder_name_is_an_error() {
    for folder in ["\"..\"", "\".\"", "\" .. \""] {
        let p = VALID.replace("folder: geepipe", &format!("folder: {folder}"));
        let out = with_sites(Test::new().file("p.yaml", &p)).args(["validate", "p.yaml"]).code(2);
        assert!(out.stderr.contains("is not a Drive folder name"), "{folder}: {}", out.stderr);
        assert_eq!(places(&out.stderr), ["p.yaml:10:11"], "{folder}: {}", out.stderr);
    }
}

/// A `vars` mapping used as a placeholder would be sent as `[object]`; an `asset` with `{{…}}` would be
/// sent with its braces. Both are located errors.
#[test]
fn placeholders_that_would_send_object_text_or_braces_are_errors() {
    let custom = |vars: &str, layer: &str| {
        VALID
            .replace("years: 2010..2012\n", &format!("years: 2010..2012\nvars:\n{vars}\n"))
            .replace("  - catalog: mapbiomas_lulc\n", &format!("  - name: custom\n    kind: continuous\n{layer}"))
    };
    let p = custom("  obj: {a: 1}", "    image:\n      call: Image.load\n      id: \"projects/x/{{obj}}\"\n");
    let out = with_sites(Test::new().file("p.yaml", &p)).args(["validate", "p.yaml"]).code(2);
    assert!(out.stderr.contains("`{{obj}}` holds a mapping, not text or a number"), "{}", out.stderr);
    assert_eq!(places(&out.stderr), ["p.yaml:13:11"], "{}", out.stderr);
    // One of its values is fine.
    let p = custom("  obj: {a: x}", "    image:\n      call: Image.load\n      id: \"projects/x/{{obj.a}}\"\n");
    with_sites(Test::new().file("p.yaml", &p)).args(["validate", "p.yaml"]).code(0);
    let p = custom(
        "  x: projects/x/assets/y",
        "    asset: \"{{x}}\"\n    image:\n      call: Image.load\n      id: \"{{asset}}\"\n",
    );
    let out = with_sites(Test::new().file("p.yaml", &p)).args(["validate", "p.yaml"]).code(2);
    assert!(out.stderr.contains("layer `custom`'s `asset` holds a placeholder: `{{x}}`"), "{}", out.stderr);
    assert_eq!(places(&out.stderr), ["p.yaml:11:12"], "{}", out.stderr);
    // `plan` refuses it too: nothing with braces is ever written.
    let out = with_sites(Test::new().file("p.yaml", &p)).args(["plan", "p.yaml", "--out", "bodies"]).code(2);
    assert!(!out.dir.join("bodies").exists());
}
