//! The checked-in JSON Schema and field reference stay in step with the raw model, document every
//! field, and accept the example pipelines; the list of diagnostic codes stays in step with
//! `geepipe::diag::Code`.
//!
//! Regenerate the files after changing `src/pipeline/raw.rs` or `src/diag/code.rs` with
//! `GEEPIPE_BLESS=1 cargo test --test schema`.

mod common;
use common::{repo_root, Test};

fn blessing() -> bool {
    std::env::var_os("GEEPIPE_BLESS").is_some_and(|v| v == "1")
}

/// Compares a generated file with the checked-in one (or rewrites it when blessing).
fn check_generated(rel: &str, generated: &str, how: &str) {
    let path = repo_root().join(rel);
    if blessing() {
        std::fs::write(&path, generated).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()) + 1);
        panic!(
            "{rel} is stale (first difference at line {line}).\nRegenerate it with `GEEPIPE_BLESS=1 cargo test --test schema` \
             or `{how}`, and commit the result."
        );
    }
}

#[test]
fn checked_in_diagnostic_codes_are_current() {
    check_generated(
        "docs/diagnostics.md",
        &geepipe::diag::Code::markdown(),
        "GEEPIPE_BLESS=1 cargo test --test schema",
    );
}

/// Every code in the enum is reported somewhere in `src/` (a code nothing reports would be listed in the docs
/// for nothing).
#[test]
fn every_diagnostic_code_is_used() {
    fn sources(dir: &std::path::Path, out: &mut String) {
        for e in std::fs::read_dir(dir).expect("src") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("diag/code.rs") {
                out.push_str(&std::fs::read_to_string(&p).expect("read"));
            }
        }
    }
    let mut text = String::new();
    sources(&repo_root().join("src"), &mut text);
    let unused: Vec<String> = geepipe::diag::Code::ALL
        .iter()
        .filter(|c| {
            let v = format!("Code::{c:?}");
            !text.match_indices(&v).any(|(i, _)| !text[i + v.len()..].starts_with(|ch: char| ch.is_alphanumeric()))
        })
        .map(|c| c.to_string())
        .collect();
    assert!(unused.is_empty(), "codes nothing reports (remove them from src/diag/code.rs): {unused:?}");
}

#[test]
fn checked_in_schema_is_current() {
    let out = Test::new().arg("schema").code(0);
    check_generated("schemas/pipeline.schema.json", &out.stdout, "cargo run -- schema > schemas/pipeline.schema.json");
}

#[test]
fn checked_in_reference_is_current() {
    let out = Test::new().args(["schema", "--reference"]).code(0);
    check_generated(
        "docs/pipeline-reference.md",
        &out.stdout,
        "cargo run -- schema --reference > docs/pipeline-reference.md",
    );
}

#[test]
fn schema_is_draft_2020_12_and_every_property_has_a_description() {
    let schema = geepipe::pipeline::schema::schema();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(schema["$defs"].as_object().is_some_and(|d| d.len() > 5), "the schema keeps its types in $defs");
    let missing = geepipe::pipeline::schema::undocumented_properties(&schema);
    assert!(
        missing.is_empty(),
        "these schema properties have no description (add a doc comment in src/pipeline/raw.rs):\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_description_check_finds_an_undocumented_property_in_defs() {
    let schema = serde_json::json!({
        "properties": {"a": {"description": "documented", "type": "string"}},
        "$defs": {"X": {"properties": {"b": {"type": "integer"}, "c": {"description": " "}}}}
    });
    assert_eq!(
        geepipe::pipeline::schema::undocumented_properties(&schema),
        ["/$defs/X/properties/b", "/$defs/X/properties/c"]
    );
}

#[test]
fn reference_lists_every_field_with_type_and_allowed_values() {
    let md = geepipe::pipeline::reference::markdown(&geepipe::pipeline::schema::schema());
    for row in [
        "| `export.to` | text | yes | `drive`, `gcs`, `asset`, `bigquery`, `local` |",
        "| `layers[].legend[].code` | whole number | yes |",
        "| `chunks.sites_per_task` | whole number | no |",
        "| `sites.keep` | list of text | no |",
    ] {
        assert!(md.contains(row), "reference lacks {row:?}:\n{md}");
    }
    for section in ["## `sites`", "## `layers[]`", "## `layers[].legend[]`", "## `export`", "## `output`"] {
        assert!(md.contains(section), "reference lacks section {section}");
    }
}

fn example_pipelines() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("pipelines"))
        .expect("pipelines/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn example_pipelines_validate_and_name_the_schema() {
    let files = example_pipelines();
    assert!(files.len() >= 4, "want at least four example pipelines, found {files:?}");
    assert!(files.iter().any(|f| f.extension().is_some_and(|e| e == "toml")), "want a TOML example");
    let mut expected = String::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read example");
        let first = text.lines().next().unwrap_or("");
        let want = if f.extension().is_some_and(|e| e == "toml") {
            "#:schema ../schemas/pipeline.schema.json"
        } else {
            "# yaml-language-server: $schema=../schemas/pipeline.schema.json"
        };
        assert_eq!(first, want, "{} should start with the schema line", f.display());
        let doc =
            geepipe::pipeline::load::parse(&f.display().to_string(), &text, geepipe::pipeline::Format::from_path(f))
                .expect("example parses");
        let layers = doc.value["layers"].as_array().map(Vec::len).unwrap_or(0);
        expected.push_str(&format!("{}: valid ({layers} layer{})\n", f.display(), if layers == 1 { "" } else { "s" }));
    }
    let args: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Test::new().arg("validate").args(args).expect(0, &expected, "");
}

#[test]
fn example_pipelines_fit_the_checked_in_schema() {
    let text = std::fs::read_to_string(repo_root().join("schemas/pipeline.schema.json")).expect("schema file");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    for f in example_pipelines() {
        let text = std::fs::read_to_string(&f).expect("read");
        let doc = geepipe::pipeline::load::parse("x", &text, geepipe::pipeline::Format::from_path(&f)).expect("parse");
        let errors: Vec<String> = validator.iter_errors(&doc.value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{} does not fit the schema: {errors:?}", f.display());
        // And a broken copy does not: the schema really constrains the file.
        let mut broken = doc.value.clone();
        broken["export"]["to"] = serde_json::json!("dropbox");
        assert!(!validator.is_valid(&broken), "the schema accepted `to: dropbox`");
    }
}
