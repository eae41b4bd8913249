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
