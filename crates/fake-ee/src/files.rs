//! The files a succeeded export leaves in Cloud Storage, rendered the way Earth Engine writes them, from
//! the features the export's expression evaluated to ([`crate::eval`]).
//!
//! Table exports: one row per feature; columns = the request's `selectors` in order, or
//! `system:index`, the features' other properties (sorted) and `.geo` without selectors. A selector the
//! features do not have is an empty cell, as Earth Engine writes it. CSV: header row, `\n` line ends,
//! fields quoted only when they need it (comma, quote, line break), quotes doubled; numbers in their
//! shortest exact form; dictionaries and lists in Java's `{k=v, …}` / `[a, b]` form. GeoJSON: a
//! `FeatureCollection` of features with `id` (the `system:index`), `geometry` (or null) and `properties`
//! (selected ones, nulls left out). Image exports: a small valid GeoTIFF named `{prefix}.tif` (a 4×4
//! pattern, not the image's pixels).

use serde_json::{json, Map, Value};

use crate::eval::{Feature, V};

/// One file an export produced.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputFile {
    pub bucket: String,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The value of column `column` of a feature (`None`: an empty cell).
pub fn cell(f: &Feature, column: &str) -> Option<V> {
    if column == ".geo" {
        return f.geometry.as_ref().map(|g| V::Str(g.to_geojson().to_string()));
    }
    f.get(column).filter(|v| !matches!(v, V::Null))
}

/// The columns of a table export: the selectors, or `system:index`, sorted properties, `.geo`.
pub fn columns(features: &[Feature], selectors: Option<&[String]>) -> Vec<String> {
    if let Some(s) = selectors.filter(|s| !s.is_empty()) {
        return s.to_vec();
    }
    let mut props: Vec<String> =
        features.iter().flat_map(|f| f.props.keys().filter(|k| !k.starts_with("system:")).cloned()).collect();
    props.sort();
    props.dedup();
    let mut out = vec!["system:index".to_string()];
    out.extend(props);
    out.push(".geo".to_string());
    out
}

/// A CSV field: quoted (quotes doubled) only when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A CSV table as Earth Engine writes it (dictionaries and lists unquoted, see the module doc).
pub fn csv(features: &[Feature], selectors: Option<&[String]>) -> Vec<u8> {
    let cols = columns(features, selectors);
    let mut out = cols.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    out.push('\n');
    for f in features {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match cell(f, c) {
                Some(v @ (V::Dict(_) | V::List(_))) => v.csv_text(),
                Some(v) => field(&v.csv_text()),
                None => String::new(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// A GeoJSON FeatureCollection as Earth Engine writes it.
pub fn geojson(features: &[Feature], selectors: Option<&[String]>) -> Vec<u8> {
    let cols: Vec<String> =
        columns(features, selectors).into_iter().filter(|c| c != "system:index" && c != ".geo").collect();
    let out: Vec<Value> = features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut props = Map::new();
            for c in &cols {
                if let Some(v) = cell(f, c) {
                    props.insert(c.clone(), v.to_json());
                }
            }
            let id = f.get("system:index").map(|v| v.csv_text()).unwrap_or_else(|| i.to_string());
            let geometry = f.geometry.as_ref().map(|g| g.to_geojson()).unwrap_or(Value::Null);
            json!({"type": "Feature", "geometry": geometry, "id": id, "properties": props})
        })
        .collect();
    serde_json::to_vec(&json!({"type": "FeatureCollection", "features": out})).unwrap_or_default()
}

/// A 4×4 single-band GeoTIFF (EPSG:4326, 0.00025° pixels) with a deterministic pattern.
pub fn geotiff(seed: &str) -> Vec<u8> {
    use tiff::encoder::{colortype::Gray8, TiffEncoder};
    use tiff::tags::Tag;
    let base = seed.bytes().fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    let data: Vec<u8> = (0..16u8).map(|i| base.wrapping_add(i)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    let result = (|| -> tiff::TiffResult<()> {
        let mut enc = TiffEncoder::new(&mut out)?;
        let mut img = enc.new_image::<Gray8>(4, 4)?;
        img.encoder().write_tag(Tag::Unknown(33550), &[0.00025f64, 0.00025, 0.0][..])?;
        img.encoder().write_tag(Tag::Unknown(33922), &[0.0f64, 0.0, 0.0, -48.2, -15.7, 0.0][..])?;
        // GeoKeyDirectory: version 1.1.0, 3 keys: GTModelType=2 (geographic), GTRasterType=1 (area),
        // GeographicType=4326.
        img.encoder()
            .write_tag(Tag::Unknown(34735), &[1u16, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326][..])?;
        img.write_data(&data)
    })();
    match result {
        Ok(()) => out.into_inner(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{evaluate, Dict};
    use std::sync::Arc;

    fn feature(props: &[(&str, V)]) -> Feature {
        let props: Dict = props.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Feature { props, ..Feature::default() }
    }

    #[test]
    fn csv_cells_follow_earth_engine_rendering() {
        let mut d = Dict::new();
        d.insert("3".into(), V::Float(12.5));
        d.insert("15".into(), V::Int(2));
        let f = feature(&[
            ("site_id", V::Str("a".into())),
            ("name", V::Str("Farm, \"north\"".into())),
            ("hist", V::Dict(d)),
            ("mean", V::Float(0.25)),
            ("n", V::Int(7)),
            ("none", V::Null),
            ("system:index", V::Str("0".into())),
        ]);
        let sel: Vec<String> = ["site_id", "name", "hist", "mean", "n", "none", "absent"].map(String::from).to_vec();
        let text = String::from_utf8(csv(std::slice::from_ref(&f), Some(&sel))).unwrap();
        assert_eq!(text, "site_id,name,hist,mean,n,none,absent\na,\"Farm, \"\"north\"\"\",{15=2, 3=12.5},0.25,7,,\n");
        let all = String::from_utf8(csv(&[f], None)).unwrap();
        assert!(all.starts_with("system:index,hist,mean,n,name,none,site_id,.geo\n0,"), "{all}");
    }

    #[test]
    fn geojson_ids_and_geometry() {
        let v = evaluate(
            &serde_json::json!({"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "Collection", "arguments": {"features": {"arrayValue": {"values": [
                {"functionInvocationValue": {"functionName": "Feature", "arguments": {
                    "geometry": {"functionInvocationValue": {"functionName": "GeometryConstructors.Point", "arguments": {"coordinates": {"constantValue": [1.5, 2.0]}}}},
                    "metadata": {"constantValue": {"k": 1}}}}}]}}}}}}}),
            None,
        )
        .unwrap();
        let fs: Arc<Vec<Feature>> = v.into_features().unwrap();
        let out: Value = serde_json::from_slice(&geojson(&fs, Some(&["k".into(), "missing".into()]))).unwrap();
        assert_eq!(out["features"][0]["id"], "0");
        assert_eq!(out["features"][0]["geometry"], json!({"type": "Point", "coordinates": [1.5, 2.0]}));
        assert_eq!(out["features"][0]["properties"], json!({"k": 1}));
    }

    #[test]
    fn geotiff_is_readable() {
        let bytes = geotiff("x");
        let mut d = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(d.dimensions().unwrap(), (4, 4));
        assert!(d.get_tag(tiff::tags::Tag::Unknown(34735)).is_ok());
    }
}
