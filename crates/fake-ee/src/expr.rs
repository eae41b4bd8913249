//! Reads the sites of a chunk from an export's expression, for [`crate::TaskInfo::site_ids`] (what task
//! rules such as "chunks with more than K sites" match on). The exported values themselves come from
//! evaluating the expression ([`crate::eval`]), not from here.
//!
//! Sites come from inline feature collections (`Collection{features: [Feature{geometry, metadata}]}`,
//! as the official clients encode `ee.FeatureCollection([...])`) or from a table filtered by id
//! (`Filter.inList{leftField, rightValue: [ids]}`). Both may appear; then the inline features are
//! restricted to the listed ids. References (`valueReference`) are followed; shared values are read once.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// One site of a chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub id: String,
    /// The Feature's metadata (inline features), or `{leftField: id}` for listed ids.
    pub properties: Map<String, Value>,
    /// GeoJSON geometry when the feature carried one the fake can read.
    pub geometry: Option<Value>,
    /// True when the site came from `Filter.inList` without inline metadata.
    pub from_table: bool,
}

/// The sites found in an expression.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    /// The property holding the site id.
    pub id_property: String,
    pub sites: Vec<Site>,
}

struct Found {
    features: Vec<(Map<String, Value>, Option<Value>)>,
    in_list: Option<(String, Vec<Value>)>,
}

/// Finds the sites of `expression`. `id_hint` is the preferred id property (the first selector).
pub fn chunk(expression: &Value, id_hint: Option<&str>) -> Chunk {
    let empty = Map::new();
    let values = expression.get("values").and_then(Value::as_object).unwrap_or(&empty);
    let mut found = Found { features: Vec::new(), in_list: None };
    let mut seen = BTreeSet::new();
    if let Some(root) = expression.get("result").and_then(Value::as_str) {
        walk_ref(values, root, &mut seen, &mut found);
    }
    let id_property = id_hint
        .map(str::to_string)
        .or_else(|| found.in_list.as_ref().map(|(f, _)| f.clone()))
        .or_else(|| {
            found.features.first().and_then(|(m, _)| {
                if m.contains_key("site_id") {
                    Some("site_id".to_string())
                } else {
                    m.keys().next().cloned()
                }
            })
        })
        .unwrap_or_else(|| "site_id".to_string());
    let listed: Option<Vec<String>> = found.in_list.as_ref().map(|(_, ids)| ids.iter().map(text).collect());
    let mut sites = Vec::new();
    let mut ids = BTreeSet::new();
    if !found.features.is_empty() {
        for (i, (meta, geometry)) in found.features.into_iter().enumerate() {
            let id = meta.get(&id_property).map(text).unwrap_or_else(|| i.to_string());
            if listed.as_ref().is_some_and(|l| !l.contains(&id)) || !ids.insert(id.clone()) {
                continue;
            }
            sites.push(Site { id, properties: meta, geometry, from_table: false });
        }
    } else if let (Some((field, raw)), Some(listed)) = (found.in_list, listed) {
        for (id, raw) in listed.into_iter().zip(raw) {
            if ids.insert(id.clone()) {
                let mut properties = Map::new();
                properties.insert(field.clone(), raw);
                sites.push(Site { id, properties, geometry: None, from_table: true });
            }
        }
    }
    Chunk { id_property, sites }
}

/// A plain JSON value as a cell/id text (strings unquoted).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn walk_ref(values: &Map<String, Value>, key: &str, seen: &mut BTreeSet<String>, found: &mut Found) {
    if !seen.insert(key.to_string()) {
        return;
    }
    if let Some(node) = values.get(key) {
        walk(values, node, seen, found);
    }
}

fn walk(values: &Map<String, Value>, node: &Value, seen: &mut BTreeSet<String>, found: &mut Found) {
    let Some(obj) = node.as_object() else { return };
    if let Some(r) = obj.get("valueReference").and_then(Value::as_str) {
        walk_ref(values, r, seen, found);
    } else if let Some(a) = obj.get("arrayValue") {
        for v in a.get("values").and_then(Value::as_array).into_iter().flatten() {
            walk(values, v, seen, found);
        }
    } else if let Some(d) = obj.get("dictionaryValue") {
        for v in d.get("values").and_then(Value::as_object).into_iter().flatten().map(|(_, v)| v) {
            walk(values, v, seen, found);
        }
    } else if let Some(f) = obj.get("functionDefinitionValue") {
        if let Some(body) = f.get("body").and_then(Value::as_str) {
            walk_ref(values, body, seen, found);
        }
    } else if let Some(inv) = obj.get("functionInvocationValue") {
        let args = inv.get("arguments").and_then(Value::as_object);
        let arg = |name: &str| args.and_then(|a| a.get(name));
        match inv.get("functionName").and_then(Value::as_str) {
            Some("Collection") => {
                if let Some(list) = arg("features").and_then(|f| plain_list(values, f)) {
                    for item in list {
                        if let Some(feature) = feature(values, item) {
                            found.features.push(feature);
                        }
                    }
                    return;
                }
            }
            Some("Filter.inList" | "Filter.listContains") => {
                // The official clients' ee.Filter.inList(field, ids) is {leftValue: ids, rightField: field};
                // the older {leftField, rightValue} form is read too.
                let text = |k: &str| arg(k).and_then(|v| plain(values, v)).and_then(|v| v.as_str().map(String::from));
                let list = |k: &str| arg(k).and_then(|v| plain(values, v)).and_then(|v| v.as_array().cloned());
                let (field, list) = match text("rightField") {
                    Some(f) => (Some(f), list("leftValue")),
                    None => (text("leftField"), list("rightValue")),
                };
                if let (Some(field), Some(list)) = (field, list) {
                    if found.in_list.is_none() {
                        found.in_list = Some((field, list));
                    }
                }
            }
            _ => {}
        }
        for v in args.into_iter().flatten().map(|(_, v)| v) {
            walk(values, v, seen, found);
        }
        if let Some(r) = inv.get("functionReference").and_then(Value::as_str) {
            walk_ref(values, r, seen, found);
        }
    }
}

/// Follows references to the node they name.
fn resolve<'a>(values: &'a Map<String, Value>, mut node: &'a Value) -> Option<&'a Value> {
    for _ in 0..64 {
        match node.get("valueReference").and_then(Value::as_str) {
            Some(k) => node = values.get(k)?,
            None => return Some(node),
        }
    }
    None
}

/// The items of an `arrayValue` (as nodes) or of a constant list (as constant nodes).
fn plain_list<'a>(values: &'a Map<String, Value>, node: &'a Value) -> Option<Vec<&'a Value>> {
    let node = resolve(values, node)?;
    node.get("arrayValue").and_then(|a| a.get("values")).and_then(Value::as_array).map(|v| v.iter().collect())
}

/// A value node as plain JSON, when it is made of constants only.
pub fn plain(values: &Map<String, Value>, node: &Value) -> Option<Value> {
    let node = resolve(values, node)?;
    let obj = node.as_object()?;
    if let Some(c) = obj.get("constantValue") {
        return Some(c.clone());
    }
    if let Some(i) = obj.get("integerValue").and_then(Value::as_str) {
        return i.parse::<i64>().ok().map(Value::from);
    }
    if let Some(a) = obj.get("arrayValue") {
        let items = a.get("values").and_then(Value::as_array)?;
        return items.iter().map(|v| plain(values, v)).collect::<Option<Vec<_>>>().map(Value::Array);
    }
    if let Some(d) = obj.get("dictionaryValue") {
        let items = d.get("values").and_then(Value::as_object)?;
        let mut out = Map::new();
        for (k, v) in items {
            out.insert(k.clone(), plain(values, v)?);
        }
        return Some(Value::Object(out));
    }
    None
}

fn feature(values: &Map<String, Value>, node: &Value) -> Option<(Map<String, Value>, Option<Value>)> {
    let node = resolve(values, node)?;
    let inv = node.get("functionInvocationValue")?;
    if inv.get("functionName").and_then(Value::as_str) != Some("Feature") {
        return None;
    }
    let args = inv.get("arguments").and_then(Value::as_object);
    let metadata = args
        .and_then(|a| a.get("metadata"))
        .and_then(|m| plain(values, m))
        .and_then(|m| m.as_object().cloned())
        .unwrap_or_default();
    let geometry = args.and_then(|a| a.get("geometry")).and_then(|g| geometry(values, g));
    Some((metadata, geometry))
}

fn geometry(values: &Map<String, Value>, node: &Value) -> Option<Value> {
    let node = resolve(values, node)?;
    if let Some(c) = node.get("constantValue") {
        return c.get("type").is_some().then(|| c.clone());
    }
    let inv = node.get("functionInvocationValue")?;
    let name = inv.get("functionName").and_then(Value::as_str)?;
    let kind = name.strip_prefix("GeometryConstructors.")?;
    let coordinates = inv.get("arguments").and_then(|a| a.get("coordinates")).and_then(|c| plain(values, c))?;
    Some(serde_json::json!({"type": kind, "coordinates": coordinates}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inline_features_with_references() {
        let e = json!({"result": "0", "values": {
            "1": {"constantValue": [0.0, 0.0]},
            "2": {"functionInvocationValue": {"functionName": "Collection", "arguments": {"features": {"arrayValue": {"values": [
                {"functionInvocationValue": {"functionName": "Feature", "arguments": {
                    "geometry": {"functionInvocationValue": {"functionName": "GeometryConstructors.Polygon", "arguments": {
                        "coordinates": {"arrayValue": {"values": [{"arrayValue": {"values": [{"valueReference": "1"}, {"constantValue": [1, 0]}, {"constantValue": [1, 1]}, {"valueReference": "1"}]}}]}}}}},
                    "metadata": {"constantValue": {"site_id": "a", "name": "Alpha"}}}}},
                {"functionInvocationValue": {"functionName": "Feature", "arguments": {
                    "metadata": {"dictionaryValue": {"values": {"site_id": {"constantValue": 7}}}}}}}
            ]}}}}},
            "0": {"functionInvocationValue": {"functionName": "Image.reduceRegions", "arguments": {
                "collection": {"valueReference": "2"}, "image": {"constantValue": null}, "reducer": {"constantValue": null}}}}
        }});
        let c = chunk(&e, None);
        assert_eq!(c.id_property, "site_id");
        let ids: Vec<&str> = c.sites.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "7"]);
        assert_eq!(c.sites[0].properties["name"], "Alpha");
        assert_eq!(c.sites[0].geometry.as_ref().unwrap()["coordinates"][0][0], json!([0.0, 0.0]));
        assert!(c.sites[1].geometry.is_none());
    }

    #[test]
    fn listed_ids() {
        let e = json!({"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "Collection.filter", "arguments": {
            "collection": {"functionInvocationValue": {"functionName": "Collection.loadTable", "arguments": {"tableId": {"constantValue": "projects/p/assets/t"}}}},
            "filter": {"functionInvocationValue": {"functionName": "Filter.inList", "arguments": {
                "leftField": {"constantValue": "plot"}, "rightValue": {"constantValue": ["x", "y", "x"]}}}}}}}}});
        let c = chunk(&e, None);
        assert_eq!(c.id_property, "plot");
        assert_eq!(c.sites.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["x", "y"]);
        assert!(c.sites[0].from_table);
    }
}
