//! Expressions: the committed signature table is the reference's, and placeholders fill values, never
//! structure (property test).

mod common;

use std::path::PathBuf;

use geepipe::expr::{build, Graph, Renderer};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn reference_dir() -> PathBuf {
    match std::env::var_os("GEEPIPE_REFERENCE_DIR") {
        Some(d) if !common::repo_root().join("../shared/reference").is_dir() => PathBuf::from(d),
        _ => common::reference_dir(),
    }
}

fn contract() -> &'static ee_contract::Contract {
    static C: std::sync::OnceLock<ee_contract::Contract> = std::sync::OnceLock::new();
    C.get_or_init(|| ee_contract::Contract::from_dir(&reference_dir()).unwrap())
}

#[test]
fn committed_signature_table_is_generated_from_the_reference() {
    let text = std::fs::read_to_string(reference_dir().join("ee-algorithms.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let want = geepipe::expr::check::table_from_reference(&doc);
    if want != geepipe::expr::check::committed_table() {
        if std::env::var_os("GEEPIPE_BLESS").is_some() {
            std::fs::write(common::repo_root().join("src/expr/algorithms.tsv"), &want).unwrap();
        }
        panic!("src/expr/algorithms.tsv differs from ee-algorithms.json; rerun with GEEPIPE_BLESS=1 to regenerate");
    }
    let contract = ee_contract::Contract::from_dir(&reference_dir()).unwrap();
    for sig in contract.algorithms() {
        let ours = geepipe::expr::signature(&sig.name).expect("every reference algorithm is known");
        let args: Vec<(String, bool)> = ours.arguments.iter().map(|(n, o)| (n.to_string(), *o)).collect();
        assert_eq!(args, sig.arguments, "{}", sig.name);
    }
}

fn template() -> Value {
    json!({"call": "Image.select",
        "input": {"call": "Image.load", "id": "{{asset}}"},
        "bandSelectors": ["classification_{{year}}", "{{name}}"],
        "newNames": {"const": ["{{name}}"]}})
}

fn encode(name: &str, asset: &str) -> Value {
    let mut vars = Map::new();
    vars.insert("year".into(), json!(2020));
    vars.insert("name".into(), json!(name));
    vars.insert("asset".into(), json!(asset));
    let rendered = Renderer::new(vars).render(&template()).unwrap();
    let mut g = Graph::new();
    let root = build(&mut g, &rendered).unwrap();
    g.encode(root)
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn variables_fill_values_never_structure(name in "(\\PC|[\"{}\\\\\n<>&'])*", asset in "(\\PC|[\"{}\\[\\]:,])*") {
        let got = encode(&name, &asset);
        // Through JSON text and back: the value is intact and the tree is the template's.
        let back: Value = serde_json::from_str(&serde_json::to_string(&got).unwrap()).unwrap();
        let want = json!({"fn": "Image.select", "args": {
            "bandSelectors": ["classification_2020", name.clone()],
            "input": {"fn": "Image.load", "args": {"id": asset.clone()}},
            "newNames": [name.clone()]}});
        prop_assert_eq!(common::resolve(&back), want);
        prop_assert!(contract().check_expression(&back).is_empty());
    }

    #[test]
    fn a_lone_number_placeholder_is_a_number(year in 1900i64..2100) {
        let mut vars = Map::new();
        vars.insert("year".into(), json!(year));
        let r = Renderer::new(vars);
        prop_assert_eq!(r.render_str("{{year}}").unwrap(), json!(year));
        prop_assert_eq!(r.render_str("y{{year}}").unwrap(), json!(format!("y{year}")));
    }
}
