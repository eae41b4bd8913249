//! What a request body asks Earth Engine to compute, read from its expression alone (not from geepipe's
//! plan): the sites of its `Feature`s times the outputs of its reducers. Shared by the incremental tests of
//! export tasks and of interactive requests.

use std::collections::BTreeSet;

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
