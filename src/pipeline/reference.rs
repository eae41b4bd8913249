//! The human-readable pipeline reference (`docs/pipeline-reference.md`), generated from the JSON Schema so
//! that the documentation can never drift from what `validate` accepts. A test fails when the checked-in
//! file is stale.

use serde_json::Value;

use super::schema::resolve_ref;

/// Renders the reference for a pipeline schema as Markdown.
pub fn markdown(schema: &Value) -> String {
    let mut out = String::new();
    out.push_str("# Pipeline file reference\n\n");
    out.push_str(
        "<!-- Generated from schemas/pipeline.schema.json; do not edit. Regenerate with\n     \
         `GEEPIPE_BLESS=1 cargo test --test schema`. -->\n\n",
    );
    out.push_str(
        "A pipeline file is YAML (`.yaml`, `.yml`) or TOML (`.toml`); both have the same fields. Check one with\n\
         `geepipe validate FILE`; print the JSON Schema with `geepipe schema`. Editors that speak the YAML\n\
         language server pick the schema up from a first line\n\
         `# yaml-language-server: $schema=../schemas/pipeline.schema.json`.\n\n",
    );
    if let Some(d) = schema.get("description").and_then(Value::as_str) {
        out.push_str(&format!("{}\n\n", one_line(d)));
    }
    let mut queue: Vec<(String, &Value)> = vec![(String::new(), schema)];
    let mut done: Vec<String> = Vec::new();
    while !queue.is_empty() {
        let (path, node) = queue.remove(0);
        if done.contains(&path) {
            continue;
        }
        done.push(path.clone());
        let title = if path.is_empty() { "Top level".to_string() } else { format!("`{path}`") };
        out.push_str(&format!("## {title}\n\n"));
        if !path.is_empty() {
            if let Some(d) = node.get("description").and_then(Value::as_str) {
                out.push_str(&format!("{}\n\n", one_line(d)));
            }
        }
        out.push_str("| Field | Type | Required | Allowed values | Description |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(Value::Object(props)) = node.get("properties") else {
            continue;
        };
        for (name, prop) in props {
            let full = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
            let info = describe(schema, prop);
            out.push_str(&format!(
                "| `{full}` | {} | {} | {} | {} |\n",
                info.ty,
                if required.contains(&name.as_str()) { "yes" } else { "no" },
                if info.values.is_empty() {
                    String::new()
                } else {
                    info.values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                },
                cell(prop.get("description").and_then(Value::as_str).unwrap_or("")),
            ));
            if let Some((suffix, sub)) = info.nested {
                queue.push((format!("{full}{suffix}"), sub));
            }
        }
        out.push('\n');
    }
    out
}

struct Info<'a> {
    ty: String,
    values: Vec<String>,
    /// A mapping to document in its own section: path suffix (`[]` for list items) and its schema.
    nested: Option<(&'static str, &'a Value)>,
}

/// The type of a property in words, its allowed values, and any nested mapping.
fn describe<'a>(root: &'a Value, prop: &'a Value) -> Info<'a> {
    let mut branches: Vec<&Value> = Vec::new();
    let node = resolve_ref(root, prop);
    match node.get("anyOf").and_then(Value::as_array) {
        Some(b) => branches.extend(b.iter().map(|b| resolve_ref(root, b))),
        None => branches.push(node),
    }
    let mut words = Vec::new();
    let mut values = Vec::new();
    let mut nested = None;
    for b in branches {
        if let Some(Value::Array(opts)) = b.get("oneOf") {
            words.push("text".to_string());
            values.extend(opts.iter().filter_map(|o| o.get("const")).filter_map(Value::as_str).map(str::to_string));
            continue;
        }
        if let Some(Value::Array(inner)) = b.get("anyOf") {
            for i in inner {
                let i = resolve_ref(root, i);
                words.extend(type_words(i, root));
            }
            continue;
        }
        words.extend(type_words(b, root));
        if b.get("properties").is_some() {
            nested = Some(("", b));
        }
        if let Some(items) = b.get("items") {
            let items = resolve_ref(root, items);
            if items.get("properties").is_some() {
                nested = Some(("[]", items));
            }
        }
    }
    words.retain(|w| w != "null");
    words.dedup();
    let ty = if words.is_empty() { "any value".to_string() } else { words.join(" or ") };
    Info { ty, values, nested }
}

fn type_words(node: &Value, root: &Value) -> Vec<String> {
    let items = node.get("items").map(|i| resolve_ref(root, i));
    let item_word = items
        .map(|i| match i.get("type").and_then(Value::as_str) {
            Some("string") => "list of text",
            Some("integer") => "list of whole numbers",
            Some("object") => "list of mappings",
            _ => "list",
        })
        .unwrap_or("list");
    let word = |t: &str| -> String {
        match t {
            "string" => "text".into(),
            "integer" => "whole number".into(),
            "number" => "number".into(),
            "boolean" => "true/false".into(),
            "array" => item_word.into(),
            "object" => "mapping".into(),
            other => other.into(),
        }
    };
    match node.get("type") {
        Some(Value::String(t)) => vec![word(t)],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(word).collect(),
        // An unconstrained value (a layer's `image` expression).
        _ if node.get("properties").is_none() => vec!["expression".into()],
        _ => vec!["mapping".into()],
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}
