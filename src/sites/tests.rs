//! Property test: the streaming reader yields exactly the sites that a whole-file serde_json parse gives,
//! whatever the formatting (compact, pretty, CRLF), key order and string contents.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{read_all, Site};
use crate::pipeline::{SiteLocation, SiteSource};

const PIECES: &[&str] =
    &["a", "Z", "0", " ", "]", "}", "[", "{", "\"", "\\", ",", ":", "é", "ã", "🌳", "\n", "\t", "\\u"];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..8).prop_map(|v| v.concat())
}

/// A polygon the reader must accept: a star-shaped outer ring around a centre (vertices at evenly spaced
/// angles, radii 1°–10°) and holes around the same centre with radii below 0.4°, so every hole lies inside
/// the outer ring (a ring of n ≥ 3 such vertices holds the disc of radius cos(180°/n) ≥ 0.5 around the
/// centre) and every ring encloses an area. Centres stay within ±79° so no step between vertices exceeds
/// 180° (a longer step crosses the antimeridian) and latitudes stay in range. This test is about reading,
/// not geometry: random rings would wind around the globe, cross or leave their shell, which the reader
/// rightly refuses.
fn polygon() -> impl Strategy<Value = Value> {
    let radii = |lo: f64, hi: f64| prop::collection::vec(lo..hi, 3..6);
    (-79.0f64..79.0, -79.0f64..79.0, radii(1.0, 10.0), prop::collection::vec(radii(0.05, 0.4), 0..2), any::<bool>())
        .prop_map(|(cx, cy, shell, holes, z)| {
            let ring = |radii: &[f64]| {
                let n = radii.len() as f64;
                let mut r: Vec<Value> = radii
                    .iter()
                    .enumerate()
                    .map(|(k, rad)| {
                        let t = std::f64::consts::TAU * k as f64 / n;
                        let (x, y) = (cx + rad * t.cos(), cy + rad * t.sin());
                        if z {
                            json!([x, y, 12.5])
                        } else {
                            json!([x, y])
                        }
                    })
                    .collect();
                r.push(r[0].clone());
                r
            };
            let mut rings = vec![ring(&shell)];
            rings.extend(holes.iter().map(|h| ring(h)));
            json!(rings)
        })
}

fn feature(i: usize) -> impl Strategy<Value = Value> {
    (any::<bool>(), text(), text(), prop::collection::vec(polygon(), 1..3), any::<bool>()).prop_map(
        move |(int_id, name, nested, polys, multi)| {
            let id = if int_id { json!(i as i64 * 7 - 3) } else { json!(format!("{name}#{i}")) };
            let geometry = if multi {
                json!({"type": "MultiPolygon", "coordinates": polys})
            } else {
                json!({"type": "Polygon", "coordinates": polys[0]})
            };
            json!({"type": "Feature", "properties": {"nested": {"features": [nested, {"x": "]"}]}, "site_id": id, "name": name},
                   "geometry": geometry})
        },
    )
}

fn collection() -> impl Strategy<Value = (String, usize)> {
    (1usize..8)
        .prop_flat_map(|n| {
            let feats: Vec<_> = (0..n).map(feature).collect();
            (feats, Just(vec!["type", "name", "features", "crs"]).prop_shuffle(), 0u8..3)
        })
        .prop_map(|(feats, order, style)| {
            let n = feats.len();
            let mut top = Map::new();
            for k in order {
                let v = match k {
                    "type" => json!("FeatureCollection"),
                    "name" => json!("sites ] }"),
                    "features" => Value::Array(feats.clone()),
                    _ => {
                        // A `crs` (which geepipe reads) with a nested `features` key (which it must not take
                        // for the features).
                        json!({"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84",
                                                              "features": [{"name": "x"}]}})
                    }
                };
                top.insert(k.to_string(), v);
            }
            let v = Value::Object(top);
            let text = match style {
                0 => serde_json::to_string(&v).unwrap(),
                1 => serde_json::to_string_pretty(&v).unwrap(),
                // Pretty output has line breaks only between tokens (strings escape theirs).
                _ => serde_json::to_string_pretty(&v).unwrap().replace('\n', "\r\n"),
            };
            (text, n)
        })
}

/// Sites as a whole-file parse gives them.
fn reference(text: &str, source: &SiteSource) -> Vec<Site> {
    let v: Value = serde_json::from_str(text).unwrap();
    let pos = |p: &Value| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()];
    let poly = |p: &Value| -> Vec<Vec<[f64; 2]>> {
        p.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(pos).collect()).collect()
    };
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let props = &f["properties"];
            let id = match &props["site_id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mut properties = Map::new();
            for k in &source.keep {
                properties.insert(k.clone(), props[k].clone());
            }
            let g = &f["geometry"];
            let multi = g["type"] == "MultiPolygon";
            let polygons = if multi {
                g["coordinates"].as_array().unwrap().iter().map(poly).collect()
            } else {
                vec![poly(&g["coordinates"])]
            };
            Site { id, properties, polygons, multi, index }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn streaming_matches_whole_file_parse((text, n) in collection(), limit in prop::sample::select(vec![0u64, u64::MAX])) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sites.geojson");
        std::fs::write(&path, &text).unwrap();
        let source = SiteSource {
            location: SiteLocation::File(path),
            id_property: "site_id".into(),
            keep: vec!["name".into()],
            first_year_property: None,
            label_property: None,
            format: crate::pipeline::SiteFormatName::Geojson,
            layer: None,
            crs: None,
        };
        // Both ways of reading: whole file in memory (limit = MAX) and streamed from disk (limit = 0).
        let mut sites = Vec::new();
        let got = super::scan_with_limit(&source, limit, |s| {
            sites.push(s);
            Ok(())
        });
        prop_assert!(!got.has_errors(), "{:?}", got.diagnostics.iter().map(|d| d.message.clone()).collect::<Vec<_>>());
        prop_assert_eq!(got.summary.sites, n);
        prop_assert_eq!(&sites, &read_all(&source).unwrap());
        prop_assert_eq!(sites, reference(&text, &source));
    }
}

#[test]
fn feature_spans_skip_strings_nesting_and_a_property_named_features() {
    let t = r#"{"type":"FeatureCollection","features":[{"a":"]}"},{"b":[1,{"c":2}]} ]}"#;
    assert_eq!(&t[super::feature_span(t, 0).unwrap()], r#"{"a":"]}"}"#);
    assert_eq!(&t[super::feature_span(t, 1).unwrap()], r#"{"b":[1,{"c":2}]}"#);
    assert_eq!(super::feature_span(t, 2), None);
    // A top-level member before `features` whose text holds "features" (the old textual search took the
    // first `"features"` it saw and placed every location in the wrong object).
    let t = r#"{"name":{"properties":{"features":[{"x":1}]}},"type":"FeatureCollection","features":[{"id":"a"},{"id":"b"}]}"#;
    assert_eq!(&t[super::feature_span(t, 0).unwrap()], r#"{"id":"a"}"#);
    assert_eq!(&t[super::feature_span(t, 1).unwrap()], r#"{"id":"b"}"#);
    assert_eq!(super::feature_span("[1, 2]", 0), None);
}
