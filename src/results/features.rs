//! Features as Earth Engine returns them — a GeoJSON export file's `features`, or the pages of a
//! `table:computeFeatures` response — read into the same rows ([`ExportTable`]) the CSV parser produces, so
//! every source of results reaches the merge (and anything else that ingests rows) in one form.
//!
//! The columns are the feature properties, in order of first appearance; geometries are ignored. A `null`
//! property or an empty string is an empty cell ([`Cell::Empty`]), anything else keeps its JSON value.

use serde_json::Value;

use super::rows::{Cell, ExportTable, ParseError};

/// Rows of `features` (each a GeoJSON `Feature`); row numbers are 1-based feature numbers.
pub fn table(features: &[Value]) -> Result<ExportTable, ParseError> {
    let mut columns: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut props = Vec::with_capacity(features.len());
    for (i, f) in features.iter().enumerate() {
        let p = match f.get("properties") {
            Some(Value::Object(m)) => m,
            None | Some(Value::Null) => {
                props.push(None);
                continue;
            }
            Some(_) => {
                return Err(ParseError { line: i + 1, message: "the feature's `properties` is not an object".into() })
            }
        };
        for k in p.keys() {
            if !index.contains_key(k) {
                index.insert(k.clone(), columns.len());
                columns.push(k.clone());
            }
        }
        props.push(Some(p));
    }
    let rows = props
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let cells = columns
                .iter()
                .map(|c| match p.and_then(|p| p.get(c)) {
                    None | Some(Value::Null) => Cell::Empty,
                    Some(Value::String(s)) if s.is_empty() => Cell::Empty,
                    Some(v) => Cell::Json(v.clone()),
                })
                .collect();
            (i + 1, cells)
        })
        .collect();
    Ok(ExportTable { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn properties_become_cells_in_order_of_first_appearance() {
        let feats = vec![
            json!({"type": "Feature", "geometry": null, "properties": {"site_id": "a", "x__2020__ha": "{\"3\":1.5}"}}),
            json!({"type": "Feature", "geometry": null, "properties": {"site_id": "b", "m": 2.5, "x__2020__ha": null}}),
            json!({"type": "Feature", "geometry": null}),
        ];
        let t = table(&feats).unwrap();
        assert_eq!(t.columns, ["site_id", "x__2020__ha", "m"]);
        assert_eq!(t.rows[0].1, [Cell::Json(json!("a")), Cell::Json(json!("{\"3\":1.5}")), Cell::Empty]);
        assert_eq!(t.rows[1].1, [Cell::Json(json!("b")), Cell::Empty, Cell::Json(json!(2.5))]);
        assert_eq!(t.rows[2], (3, vec![Cell::Empty, Cell::Empty, Cell::Empty]));
        assert_eq!(t.rows[1].1[2].number().unwrap(), Some(2.5));
        let bad = table(&[json!({"properties": 3})]).unwrap_err();
        assert_eq!(bad.line, 1);
    }
}
