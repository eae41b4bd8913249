//! The values an expression evaluates to, their conversions (with Earth Engine's promotions: a number
//! where an image is expected is a constant image), and how they leave the fake: JSON (computeFeatures,
//! value:compute, GeoJSON files) and CSV cell text.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use super::geometry::Geometry;
use super::image::Image;
use super::reducer::Reducer;
use super::{EvalError, Function};

/// A property map (Earth Engine dictionaries are ordered by key).
pub type Dict = BTreeMap<String, V>;

/// A feature: geometry (or none) and properties.
#[derive(Clone, Debug, Default)]
pub struct Feature {
    pub geometry: Option<Arc<Geometry>>,
    pub props: Dict,
}

impl Feature {
    /// A property; `None` when absent.
    pub fn get(&self, name: &str) -> Option<V> {
        self.props.get(name).cloned()
    }
}

/// A filter over elements (features or images), by property.
#[derive(Clone, Debug)]
pub enum Filter {
    /// A binary comparison; each side a property of the element or a value.
    Compare {
        op: String,
        left: Operand,
        right: Operand,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

#[derive(Clone, Debug)]
pub enum Operand {
    Field(String),
    Value(V),
}

/// A projection: a CRS code and an optional affine transform, and the scale set on it (metres).
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub crs: String,
    pub transform: Option<Vec<f64>>,
    pub scale: Option<f64>,
}

/// A trained or untrained classifier: the algorithm, its parameters, and what it was trained on.
#[derive(Clone, Debug)]
pub struct Classifier {
    pub algorithm: String,
    pub trained: Option<(String, Vec<String>, usize)>,
}

/// Any value.
#[derive(Clone, Debug)]
pub enum V {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<V>),
    Dict(Dict),
    /// Milliseconds since the epoch.
    Date(i64),
    /// `[start, end)` in ms.
    DateRange(i64, i64),
    Geometry(Arc<Geometry>),
    Feature(Arc<Feature>),
    Features(Arc<Vec<Feature>>),
    Image(Arc<Image>),
    Images(Arc<Vec<Image>>),
    Reducer(Arc<Reducer>),
    Filter(Arc<Filter>),
    Function(Arc<Function>),
    Projection(Arc<Projection>),
    Classifier(Arc<Classifier>),
}

impl V {
    /// Earth Engine's name of the value's type (for error messages).
    pub fn type_name(&self) -> &'static str {
        match self {
            V::Null => "null",
            V::Bool(_) => "Boolean",
            V::Int(_) | V::Float(_) => "Number",
            V::Str(_) => "String",
            V::List(_) => "List",
            V::Dict(_) => "Dictionary",
            V::Date(_) => "Date",
            V::DateRange(..) => "DateRange",
            V::Geometry(_) => "Geometry",
            V::Feature(_) => "Feature",
            V::Features(_) => "FeatureCollection",
            V::Image(_) => "Image",
            V::Images(_) => "ImageCollection",
            V::Reducer(_) => "Reducer",
            V::Filter(_) => "Filter",
            V::Function(_) => "Function",
            V::Projection(_) => "Projection",
            V::Classifier(_) => "Classifier",
        }
    }

    /// A plain JSON constant as a value (integral numbers stay integers).
    pub fn from_json(j: &Json) -> V {
        match j {
            Json::Null => V::Null,
            Json::Bool(b) => V::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => V::Int(i),
                None => V::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => V::Str(s.clone()),
            Json::Array(a) => V::List(a.iter().map(V::from_json).collect()),
            Json::Object(o) => V::Dict(o.iter().map(|(k, v)| (k.clone(), V::from_json(v))).collect()),
        }
    }

    pub fn num(&self) -> Option<f64> {
        match self {
            V::Int(i) => Some(*i as f64),
            V::Float(f) => Some(*f),
            V::Bool(b) => Some(*b as i64 as f64),
            _ => None,
        }
    }

    /// The value as JSON (computeFeatures, value:compute, GeoJSON properties, String.encodeJSON).
    pub fn to_json(&self) -> Json {
        match self {
            V::Null => Json::Null,
            V::Bool(b) => json!(b),
            V::Int(i) => json!(i),
            V::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
            V::Str(s) => json!(s),
            V::List(l) => Json::Array(l.iter().map(V::to_json).collect()),
            V::Dict(d) => Json::Object(d.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            V::Date(ms) => json!({"type": "Date", "value": ms}),
            V::DateRange(a, b) => json!({"type": "DateRange", "dates": [a, b]}),
            V::Geometry(g) => g.to_geojson(),
            V::Feature(f) => feature_json(f),
            V::Features(fs) => {
                json!({"type": "FeatureCollection", "features": fs.iter().map(feature_json).collect::<Vec<_>>()})
            }
            V::Image(img) => img.info(),
            V::Images(imgs) => {
                json!({"type": "ImageCollection", "features": imgs.iter().map(|i| i.info()).collect::<Vec<_>>()})
            }
            V::Projection(p) => json!({"type": "Projection", "crs": p.crs, "transform": p.transform}),
            other => json!({"type": other.type_name()}),
        }
    }

    /// The text of a CSV cell, as Earth Engine's table writer renders a property (dictionaries and lists
    /// in Java's `{k=v, …}` / `[a, b]` form, unquoted; see `ee-rest-notes.md` and geepipe's CSV reader).
    pub fn csv_text(&self) -> String {
        match self {
            V::Null => String::new(),
            V::Bool(b) => b.to_string(),
            V::Int(i) => i.to_string(),
            V::Float(f) => float_text(*f),
            V::Str(s) => s.clone(),
            V::List(l) => format!("[{}]", l.iter().map(V::csv_text).collect::<Vec<_>>().join(", ")),
            V::Dict(d) => {
                format!("{{{}}}", d.iter().map(|(k, v)| format!("{k}={}", v.csv_text())).collect::<Vec<_>>().join(", "))
            }
            V::Geometry(g) => g.to_geojson().to_string(),
            other => other.to_json().to_string(),
        }
    }
}

/// A double as text: the shortest form that reads back exactly (`3.0`, `0.25`, `1e-7`); empty when not finite.
pub fn float_text(f: f64) -> String {
    serde_json::Number::from_f64(f).map(|n| n.to_string()).unwrap_or_default()
}

/// A feature as GeoJSON (computeFeatures' `Feature`: `type`, `geometry`, `properties`).
pub fn feature_json(f: &Feature) -> Json {
    let props: Map<String, Json> = f.props.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
    json!({
        "type": "Feature",
        "geometry": f.geometry.as_ref().map(|g| g.to_geojson()).unwrap_or(Json::Null),
        "properties": props,
    })
}

/// Conversions with Earth Engine's error wording.
impl V {
    fn want(&self, what: &str) -> EvalError {
        EvalError::new(format!("Expected a {what}, got a {} ({}).", self.type_name(), short(self)))
    }

    pub fn into_f64(self) -> Result<f64, EvalError> {
        self.num().ok_or_else(|| self.want("Number"))
    }

    pub fn into_i64(self) -> Result<i64, EvalError> {
        match self {
            V::Int(i) => Ok(i),
            V::Float(f) if f.fract() == 0.0 => Ok(f as i64),
            other => Err(other.want("Integer")),
        }
    }

    pub fn into_bool(self) -> Result<bool, EvalError> {
        match self {
            V::Bool(b) => Ok(b),
            V::Int(i) => Ok(i != 0),
            V::Float(f) => Ok(f != 0.0),
            other => Err(other.want("Boolean")),
        }
    }

    pub fn into_string(self) -> Result<String, EvalError> {
        match self {
            V::Str(s) => Ok(s),
            other => Err(other.want("String")),
        }
    }

    pub fn into_list(self) -> Result<Vec<V>, EvalError> {
        match self {
            V::List(l) => Ok(l),
            other => Err(other.want("List")),
        }
    }

    pub fn into_strings(self) -> Result<Vec<String>, EvalError> {
        self.into_list()?.into_iter().map(V::into_string).collect()
    }

    pub fn into_numbers(self) -> Result<Vec<f64>, EvalError> {
        self.into_list()?.into_iter().map(V::into_f64).collect()
    }

    pub fn into_dict(self) -> Result<Dict, EvalError> {
        match self {
            V::Dict(d) => Ok(d),
            V::Feature(f) => Ok(f.props.clone()),
            other => Err(other.want("Dictionary")),
        }
    }

    pub fn into_geometry(self) -> Result<Arc<Geometry>, EvalError> {
        match self {
            V::Geometry(g) => Ok(g),
            V::Feature(f) => f.geometry.clone().ok_or_else(|| EvalError::new("The feature has no geometry.")),
            other => Err(other.want("Geometry")),
        }
    }

    pub fn into_features(self) -> Result<Arc<Vec<Feature>>, EvalError> {
        match self {
            V::Features(f) => Ok(f),
            other => Err(other.want("FeatureCollection")),
        }
    }

    pub fn into_images(self) -> Result<Arc<Vec<Image>>, EvalError> {
        match self {
            V::Images(i) => Ok(i),
            other => Err(other.want("ImageCollection")),
        }
    }

    pub fn into_reducer(self) -> Result<Arc<Reducer>, EvalError> {
        match self {
            V::Reducer(r) => Ok(r),
            other => Err(other.want("Reducer")),
        }
    }

    pub fn into_filter(self) -> Result<Arc<Filter>, EvalError> {
        match self {
            V::Filter(f) => Ok(f),
            other => Err(other.want("Filter")),
        }
    }

    pub fn into_function(self) -> Result<Arc<Function>, EvalError> {
        match self {
            V::Function(f) => Ok(f),
            other => Err(other.want("Function")),
        }
    }

    pub fn into_date(self) -> Result<i64, EvalError> {
        match self {
            V::Date(ms) => Ok(ms),
            V::Int(ms) => Ok(ms),
            V::Float(ms) => Ok(ms as i64),
            V::Str(s) => super::basic::parse_date(&s),
            other => Err(other.want("Date")),
        }
    }

    pub fn into_projection(self) -> Result<Arc<Projection>, EvalError> {
        match self {
            V::Projection(p) => Ok(p),
            V::Str(crs) => Ok(Arc::new(Projection { crs, transform: None, scale: None })),
            other => Err(other.want("Projection")),
        }
    }
}

/// A short description of a value for messages.
pub fn short(v: &V) -> String {
    let j = v.to_json().to_string();
    if j.chars().count() > 60 {
        format!("{}…", j.chars().take(60).collect::<String>())
    } else {
        j
    }
}
