//! The common case read in one pass: a feature whose geometry is a Polygon or MultiPolygon of non-empty
//! lists of `[x, y]` (or `[x, y, height]`) positions is read by serde_json straight into rings, without
//! a `serde_json::Value` per position and per list (building and dropping those took about a third of
//! validating a million sites). Anything else — a missing or `null` geometry, another type, an empty
//! list, a position of one or four values or with a string in it, a `type` written with escapes, a
//! geometry that is not an object — fails this reading, and the feature is read again as values
//! ([`super::RawFeature`]) by the checks that say what is wrong: every diagnostic stays the same.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::present;
use crate::sites::{Polygon, Ring};

/// A feature with a regular polygon geometry; the other members as [`super::RawFeature`] reads them.
#[derive(Deserialize)]
pub(super) struct RegularFeature {
    #[serde(rename = "type", default, deserialize_with = "present")]
    pub ty: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub properties: Option<Value>,
    pub geometry: Regular,
    #[serde(default, deserialize_with = "present")]
    pub id: Option<Value>,
}

/// A Polygon (one polygon, `multi` false) or MultiPolygon whose every list is non-empty and every
/// position two or three numbers (the third, a height, dropped).
pub(super) struct Regular {
    pub polygons: Vec<Polygon>,
    pub multi: bool,
}

impl<'de> Deserialize<'de> for Regular {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(GeometryVisitor)
    }
}

/// The members of a geometry object that matter.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Type,
    Coordinates,
    #[serde(other)]
    Other,
}

struct GeometryVisitor;

impl<'de> Visitor<'de> for GeometryVisitor {
    type Value = Regular;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Polygon or MultiPolygon geometry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Regular, A::Error> {
        let (mut multi, mut coordinates) = (None, None);
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Type if multi.is_none() => {
                    // Borrowed: a type written with escapes is left to the full reading.
                    multi = Some(match map.next_value::<&str>()? {
                        "Polygon" => false,
                        "MultiPolygon" => true,
                        _ => return Err(de::Error::custom("not a polygon type")),
                    });
                }
                Field::Coordinates if coordinates.is_none() => coordinates = Some(map.next_value::<Node>()?),
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => return Err(de::Error::custom("a member given twice")),
            }
        }
        match (multi, coordinates) {
            (Some(false), Some(Node::Polygon(rings))) => Ok(Regular { polygons: vec![rings], multi: false }),
            (Some(true), Some(Node::Multi(polygons))) => Ok(Regular { polygons, multi: true }),
            _ => Err(de::Error::custom("not a regular polygon")),
        }
    }
}

/// A value inside `coordinates`, by how deep its lists go: a number, a position, a ring, a polygon, a
/// list of polygons. Every element of a list must be of one kind.
enum Node {
    Number(f64),
    Position([f64; 2]),
    Ring(Ring),
    Polygon(Polygon),
    Multi(Vec<Polygon>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

/// The rest of a list whose first element was `first`, each element unwrapped by `take`.
fn rest<'de, A: SeqAccess<'de>, T>(mut seq: A, first: T, take: impl Fn(Node) -> Option<T>) -> Result<Vec<T>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4).max(1));
    out.push(first);
    while let Some(node) = seq.next_element::<Node>()? {
        out.push(take(node).ok_or_else(|| de::Error::custom("elements of different kinds"))?);
    }
    Ok(out)
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("coordinates")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Number(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let number = |n| match n {
            Node::Number(v) => Some(v),
            _ => None,
        };
        let kind = || de::Error::custom("elements of different kinds");
        match seq.next_element::<Node>()?.ok_or_else(|| de::Error::custom("an empty list"))? {
            Node::Number(x) => {
                let y = seq.next_element::<Node>()?.and_then(number).ok_or_else(kind)?;
                // A third number (the height) is dropped; a fourth value is not a position.
                if let Some(z) = seq.next_element::<Node>()? {
                    number(z).ok_or_else(kind)?;
                    if seq.next_element::<IgnoredAny>()?.is_some() {
                        return Err(de::Error::custom("more than three values"));
                    }
                }
                Ok(Node::Position([x, y]))
            }
            Node::Position(p) => rest(seq, p, |n| match n {
                Node::Position(p) => Some(p),
                _ => None,
            })
            .map(Node::Ring),
            Node::Ring(r) => rest(seq, r, |n| match n {
                Node::Ring(r) => Some(r),
                _ => None,
            })
            .map(Node::Polygon),
            Node::Polygon(p) => rest(seq, p, |n| match n {
                Node::Polygon(p) => Some(p),
                _ => None,
            })
            .map(Node::Multi),
            Node::Multi(_) => Err(de::Error::custom("lists nested too deep")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RegularFeature;

    fn read(geometry: &str) -> Option<(Vec<crate::sites::Polygon>, bool)> {
        let raw = format!(r#"{{"type": "Feature", "properties": {{"id": 1}}, "geometry": {geometry}}}"#);
        serde_json::from_str::<RegularFeature>(&raw).ok().map(|f| (f.geometry.polygons, f.geometry.multi))
    }

    #[test]
    fn reads_regular_polygons_as_the_value_reading_does() {
        let square = r#"[[0, 0], [1.5, 0], [1.5, 1, 7], [-0.0, 1e-3], [0, 0]]"#;
        let ring = vec![[0.0, 0.0], [1.5, 0.0], [1.5, 1.0], [-0.0, 1e-3], [0.0, 0.0]];
        assert_eq!(
            read(&format!(r#"{{"coordinates": [{square}], "bbox": [0, 0, 1, 1], "type": "Polygon"}}"#)),
            Some((vec![vec![ring.clone()]], false))
        );
        assert_eq!(
            read(&format!(r#"{{"type": "MultiPolygon", "coordinates": [[{square}, {square}], [{square}]]}}"#)),
            Some((vec![vec![ring.clone(), ring.clone()], vec![ring]], true))
        );
        // A big integer and a float beyond f64's digits read as serde_json's Value::as_f64 reads them.
        let big =
            r#"[[18446744073709551615, -9223372036854775808], [0.1000000000000000055511151231257827, 1], [0, 0]]"#;
        let (polygons, _) = read(&format!(r#"{{"type": "Polygon", "coordinates": [{big}]}}"#)).unwrap();
        let value: serde_json::Value = serde_json::from_str(big).unwrap();
        let want: Vec<[f64; 2]> =
            value.as_array().unwrap().iter().map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()]).collect();
        assert_eq!(polygons[0][0], want);
    }

    #[test]
    fn anything_else_is_left_to_the_value_reading() {
        let ring = "[[0, 0], [1, 0], [1, 1], [0, 0]]";
        for g in [
            "null".to_string(),
            r#"{"type": "Point", "coordinates": [0, 0]}"#.to_string(),
            format!(r#"{{"type": "MultiPolygon", "coordinates": [{ring}]}}"#),
            format!(r#"{{"type": "Polygon", "coordinates": [[{ring}]]}}"#),
            r#"{"type": "Polygon", "coordinates": []}"#.to_string(),
            r#"{"type": "Polygon", "coordinates": [[]]}"#.to_string(),
            format!(r#"{{"type": "MultiPolygon", "coordinates": [[{ring}], []]}}"#),
            r#"{"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]}"#.to_string(),
            r#"{"type": "Polygon", "coordinates": [[[0, 0], [1, 0, 0, 0], [1, 1], [0, 0]]]}"#.to_string(),
            r#"{"type": "Polygon", "coordinates": [[[0, 0], [1, "0"], [1, 1], [0, 0]]]}"#.to_string(),
            r#"{"type": "Polygon", "coordinates": [[[0, 0], [1, 0, null], [1, 1], [0, 0]]]}"#.to_string(),
            r#"{"type": "Polygon", "coordinates": [[[0, 0], [[1, 0]], [1, 1], [0, 0]]]}"#.to_string(),
            format!(r#"{{"type": "Poly\u0067on", "coordinates": [{ring}]}}"#),
            format!(r#"{{"type": "Polygon", "type": "Polygon", "coordinates": [{ring}]}}"#),
            r#"{"type": "Polygon"}"#.to_string(),
            format!(r#"{{"coordinates": [{ring}]}}"#),
            format!(r#"["Polygon", [{ring}]]"#),
            format!(r#"{{"type": {{"Polygon": null}}, "coordinates": [{ring}]}}"#),
        ] {
            assert!(read(&g).is_none(), "{g}");
        }
        // No geometry at all.
        assert!(serde_json::from_str::<RegularFeature>(r#"{"type": "Feature", "properties": {}}"#).is_err());
    }
}
