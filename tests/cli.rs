//! The command line as a user meets it: help, version, schema, completions.

mod common;
use common::Test;

#[test]
fn version_prints_name_and_version() {
    Test::new().arg("--version").expect(0, &format!("geepipe {}", env!("CARGO_PKG_VERSION")), "");
}

#[test]
fn every_command_has_help() {
    for cmd in ["validate", "schema", "catalog", "plan", "run", "status", "wait", "cancel", "fetch", "completions"] {
        let out = Test::new().args([cmd, "--help"]).code(0);
        assert!(out.stdout.contains("Usage: geepipe"), "{cmd} --help:\n{}", out.stdout);
    }
}

#[test]
fn completions_for_bash_name_the_commands() {
    let out = Test::new().args(["completions", "bash"]).code(0);
    for cmd in ["validate", "plan", "run", "fetch"] {
        assert!(out.stdout.contains(cmd), "completion script lacks {cmd}");
    }
}

#[test]
fn top_level_help_lists_every_command_and_the_global_options() {
    let out = Test::new().arg("--help").code(0);
    for word in ["validate", "schema", "catalog", "plan", "run", "status", "wait", "cancel", "fetch", "completions"] {
        assert!(out.stdout.contains(word), "--help lacks {word}:\n{}", out.stdout);
    }
    for opt in ["--verbose", "--quiet", "--color", "--project", "--engine", "--version"] {
        assert!(out.stdout.contains(opt), "--help lacks {opt}:\n{}", out.stdout);
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Test::new().args(["completions", shell]).code(0);
        assert!(out.stdout.contains("geepipe"), "{shell} completions do not name geepipe");
    }
    Test::new().args(["completions", "tcsh"]).code(2);
}

#[test]
fn quiet_and_verbose_conflict() {
    let out = Test::new().args(["-q", "-v", "schema"]).code(2);
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
}

const BAD: &str =
    "sites: {file: s.geojson, id: id}\nyears: 2020\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: dirve}\n";

#[test]
fn no_colour_when_no_color_is_set_or_output_is_not_a_terminal() {
    // The test harness sets NO_COLOR and pipes stderr.
    let out = Test::new().file("p.yaml", BAD).args(["validate", "p.yaml"]).code(2);
    assert!(out.stderr.contains("unknown value `dirve`"), "{}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "escape codes with NO_COLOR:\n{:?}", out.stderr);
    // Without NO_COLOR, a pipe is still not a terminal: no colour either.
    let out = Test::new().file("p.yaml", BAD).env("NO_COLOR", "").args(["validate", "p.yaml"]).code(2);
    assert!(!out.stderr.contains('\u{1b}'), "escape codes on a pipe:\n{:?}", out.stderr);
}

#[test]
fn color_always_colours_diagnostics() {
    let out = Test::new().file("p.yaml", BAD).args(["--color", "always", "validate", "p.yaml"]).code(2);
    assert!(out.stderr.contains("\u{1b}["), "no escape codes with --color always:\n{}", out.stderr);
    let out = Test::new().file("p.yaml", BAD).args(["--color", "never", "validate", "p.yaml"]).code(2);
    assert!(!out.stderr.contains('\u{1b}'));
}

#[test]
fn schema_command_prints_the_generated_schema() {
    let out = Test::new().arg("schema").code(0);
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).expect("schema output is JSON");
    assert_eq!(printed, geepipe::pipeline::schema::schema());
    assert_eq!(printed["$schema"], "https://json-schema.org/draft/2020-12/schema");
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = Test::new().arg("valdate").code(2);
    assert!(out.stderr.contains("validate"), "clap should suggest `validate`:\n{}", out.stderr);
}

#[test]
fn only_run_and_wait_watch_tasks() {
    use clap::Parser;
    let watches = |args: &[&str]| geepipe::cli::Cli::try_parse_from(args).map(|c| c.watches_tasks()).unwrap();
    assert!(watches(&["geepipe", "run", "p.yaml"]));
    assert!(watches(&["geepipe", "-q", "wait", "p.yaml"]));
    assert!(!watches(&["geepipe", "plan", "p.yaml", "--out", "x"]));
    assert!(!watches(&["geepipe", "validate", "p.yaml"]));
}
