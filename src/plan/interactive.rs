//! Interactive requests: the `table:computeFeatures` body of a chunk, made from its planned export body, so an
//! interactive chunk computes exactly what its export task would (same expression, same column contract).
//!
//! The export's `selectors` choose the file's columns; `computeFeatures` has no such field, so the collection
//! is mapped through `Feature.select{propertySelectors: selectors, retainGeometry: false}`: the response holds
//! the contract's columns and no geometry (the site polygons would only make it bigger). Earth Engine reads
//! property selectors as RE2 patterns, so this is done only when every selector is a plain name
//! (`[A-Za-z0-9_]`, matching only itself); otherwise each feature only loses its geometry
//! (`Feature.setGeometry` without one) and keeps every property, and the parser picks the contract's columns.
//!
//! The body is `{expression, pageSize, workloadTag?}` (the discovery document's `ComputeFeaturesRequest`;
//! `pageToken` is added per page by the client).

use serde_json::{json, Map, Value};

use super::compute::BuildError;

/// Name of the wrapping function's argument (the official clients' `_MAPPING_VAR_<depth>_<index>`).
const ARG: &str = "_MAPPING_VAR_0_0";

/// The `computeFeatures` body for a chunk whose planned (export) body is `export_body`.
pub fn compute_body(export_body: &Value, page_size: u32, workload_tag: Option<&str>) -> Result<Value, BuildError> {
    let expression = export_body.get("expression").ok_or(BuildError::NoExpression)?;
    let selectors: Vec<String> = export_body
        .get("selectors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let expression = select_columns(expression, &selectors)?;
    let mut body = Map::new();
    body.insert("expression".into(), expression);
    body.insert("pageSize".into(), json!(page_size.clamp(1, 1000)));
    if let Some(t) = workload_tag {
        body.insert("workloadTag".into(), json!(t));
    }
    Ok(Value::Object(body))
}

/// Whether Earth Engine reads `s` as a property selector matching exactly the property named `s`.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `expression` (a feature collection) mapped so each feature keeps only `selectors` and no geometry.
fn select_columns(expression: &Value, selectors: &[String]) -> Result<Value, BuildError> {
    let result = expression.get("result").and_then(Value::as_str).ok_or(BuildError::NoResult)?;
    let Some(values) = expression.get("values").and_then(Value::as_object) else {
        return Err(BuildError::NoValues);
    };
    // New value ids after the largest numeric one in use.
    let mut next = values.keys().filter_map(|k| k.parse::<u64>().ok()).max().map_or(0, |m| m + 1);
    let mut id = || {
        let k = next.to_string();
        next += 1;
        k
    };
    let mut values = values.clone();
    let arg = json!({"argumentReference": ARG});
    let body = if !selectors.is_empty() && selectors.iter().all(|s| plain(s)) {
        json!({"functionInvocationValue": {"functionName": "Feature.select", "arguments": {
            "input": arg,
            "propertySelectors": {"constantValue": selectors},
            "retainGeometry": {"constantValue": false},
        }}})
    } else {
        json!({"functionInvocationValue": {"functionName": "Feature.setGeometry", "arguments": {"feature": arg}}})
    };
    let body_id = id();
    values.insert(body_id.clone(), body);
    let map_id = id();
    values.insert(
        map_id.clone(),
        json!({"functionInvocationValue": {"functionName": "Collection.map", "arguments": {
            "collection": {"valueReference": result},
            "baseAlgorithm": {"functionDefinitionValue": {"argumentNames": [ARG], "body": body_id}},
        }}}),
    );
    Ok(json!({"result": map_id, "values": values}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export_body(selectors: &[&str]) -> Value {
        json!({
            "expression": {"result": "0", "values": {"0": {"functionInvocationValue": {
                "functionName": "Collection", "arguments": {"features": {"constantValue": []}}}}}},
            "description": "t_c00000", "requestId": "r", "selectors": selectors,
            "fileExportOptions": {"fileFormat": "CSV"},
        })
    }

    #[test]
    fn plain_selectors_select_columns_without_geometry() {
        let b = compute_body(&export_body(&["site_id", "lulc__2020__ha"]), 500, Some("tag")).unwrap();
        assert_eq!(b["pageSize"], 500);
        assert_eq!(b["workloadTag"], "tag");
        assert!(b.get("selectors").is_none() && b.get("requestId").is_none() && b.get("fileExportOptions").is_none());
        let e = &b["expression"];
        assert_eq!(e["result"], "2");
        let map = &e["values"]["2"]["functionInvocationValue"];
        assert_eq!(map["functionName"], "Collection.map");
        assert_eq!(map["arguments"]["collection"], json!({"valueReference": "0"}));
        assert_eq!(map["arguments"]["baseAlgorithm"]["functionDefinitionValue"]["body"], "1");
        let sel = &e["values"]["1"]["functionInvocationValue"];
        assert_eq!(sel["functionName"], "Feature.select");
        assert_eq!(sel["arguments"]["propertySelectors"]["constantValue"], json!(["site_id", "lulc__2020__ha"]));
        assert_eq!(sel["arguments"]["retainGeometry"]["constantValue"], false);
    }

    #[test]
    fn selectors_that_are_patterns_keep_every_property() {
        let b = compute_body(&export_body(&["site id", "name.x"]), 1000, None).unwrap();
        let f = &b["expression"]["values"]["1"]["functionInvocationValue"];
        assert_eq!(f["functionName"], "Feature.setGeometry");
        assert!(b.get("workloadTag").is_none());
    }
}
