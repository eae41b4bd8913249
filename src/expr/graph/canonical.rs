//! A canonical form of encoded expressions, for comparing two that differ only in the names of their
//! value keys (geepipe's bodies against the official clients' in tests, where the clients number keys in
//! their own order).

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Renumbers the value keys of an expression in a canonical order (depth-first from the result, arguments
/// in sorted order), so two expressions that differ only in key names compare equal.
pub fn canonicalize(expr: &Value) -> Value {
    let values = expr.get("values").and_then(Value::as_object).cloned().unwrap_or_default();
    let result = expr.get("result").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    fn walk(key: &str, values: &Map<String, Value>, names: &mut HashMap<String, String>, order: &mut Vec<String>) {
        if names.contains_key(key) {
            return;
        }
        names.insert(key.to_string(), format!("v{}", names.len()));
        order.push(key.to_string());
        if let Some(v) = values.get(key) {
            let mut refs = Vec::new();
            collect_refs(v, &mut refs);
            for r in refs {
                walk(&r, values, names, order);
            }
        }
    }
    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    let child = &m[k];
                    match (k.as_str(), child) {
                        ("valueReference" | "functionReference" | "body", Value::String(s)) => out.push(s.clone()),
                        ("constantValue", _) => {}
                        _ => collect_refs(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
            _ => {}
        }
    }
    fn rename(v: &Value, names: &HashMap<String, String>) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    let child = &m[k];
                    let new = match (k.as_str(), child) {
                        ("valueReference" | "functionReference" | "body", Value::String(s)) => {
                            Value::String(names.get(s).cloned().unwrap_or_else(|| s.clone()))
                        }
                        ("constantValue", c) => c.clone(),
                        _ => rename(child, names),
                    };
                    out.insert(k.clone(), new);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| rename(i, names)).collect()),
            other => other.clone(),
        }
    }
    walk(&result, &values, &mut names, &mut order);
    let mut new_values = Map::new();
    for k in &order {
        if let Some(v) = values.get(k) {
            new_values.insert(names[k].clone(), rename(v, &names));
        }
    }
    serde_json::json!({"result": names.get(&result).cloned().unwrap_or_default(), "values": new_values})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_names() {
        let a = json!({"result": "0", "values": {"1": {"constantValue": "s"}, "0": {"arrayValue": {"values": [{"valueReference": "1"}, {"valueReference": "1"}]}}}});
        let b = json!({"result": "x", "values": {"x": {"arrayValue": {"values": [{"valueReference": "y"}, {"valueReference": "y"}]}}, "y": {"constantValue": "s"}}});
        assert_eq!(canonicalize(&a), canonicalize(&b));
    }
}
