//! Collections: feature collections (literal, table assets), image collections of the synthetic world,
//! filters, `Collection.map`, and the per-pixel reductions of image collections (`reduce.*`,
//! `ImageCollection.reduce`, `ImageCollection.mosaic`).
//!
//! Semantics (descriptions in `ee-algorithms.json` unless said otherwise):
//! - `Collection{features}`: features in order, `system:index` "0", "1", … (as the official clients'
//!   literal collections are numbered).
//! - Filters compare a property of each element (missing → the filter fails) with a value or another
//!   property. `Filter.inList` and `Filter.listContains` both pass "if the left operand, a list, contains
//!   the right operand" (a left operand that is not a list does not pass); `Filter.dateRangeContains`
//!   "if the left operand, a date range, contains the right operand, a date".
//! - `ImageCollection.mosaic`: "Composites all the images in a collection, using the mask"; later images
//!   are on top (the mosaicking guide: images are composited in collection order, the last on top).
//! - `reduce.<r>`: "Reduces an image collection by calculating the <r> … at each pixel across the stack
//!   of all matching bands. Bands are matched by name." Output bands keep their names; masked pixels are
//!   left out; a mean is weighted by mask.
//! - `ImageCollection.reduce`: "If the reducer has a single input, it will be applied separately to each
//!   band of the collection; otherwise it must have the same number of inputs as the collection has
//!   bands. … reducers with multiple inputs will use the output names directly, while reducers with a
//!   single input will prefix the output name with the input band name (e.g., '10_mean')."
//!   Only reducers with number outputs can make bands.

use std::sync::Arc;

use super::image::{Band, Image, Px, Resolver, S};
use super::reducer::{Basic, Input, Record, Reducer};
use super::value::{Dict, Feature, Filter, Operand, V};
use super::{Algo, Call, EvalError};
use crate::world;

fn features(v: V) -> Result<Arc<Vec<Feature>>, EvalError> {
    v.into_features()
}

/// `Collection{features}`.
fn collection(c: &mut Call) -> Result<V, EvalError> {
    let items = c.req("features")?.into_list()?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let mut f = match item {
            V::Feature(f) => (*f).clone(),
            V::Geometry(g) => Feature { geometry: Some(g), ..Feature::default() },
            other => return Err(EvalError::new(format!("A collection holds features, not a {}.", other.type_name()))),
        };
        f.props.entry("system:index".into()).or_insert_with(|| V::Str(i.to_string()));
        out.push(f);
    }
    Ok(V::Features(Arc::new(out)))
}

/// `Collection.loadTable{tableId}`: the table of the synthetic world ([`world::table_size`]).
fn load_table(c: &mut Call) -> Result<V, EvalError> {
    let id = c.string("tableId")?;
    if c.opt("geometryColumn").is_some() {
        return Err(EvalError::new("fake-ee does not model geometryColumn."));
    }
    c.opt("version");
    let out = (0..world::table_size(&id))
        .map(|k| {
            let mut props: Dict =
                world::table_properties(k).into_iter().map(|(p, v)| (p.to_string(), V::from_json(&v))).collect();
            props.insert("system:index".into(), V::Str(k.to_string()));
            let shape = super::geometry::Shape::Polygon(vec![world::table_feature(k)]);
            Feature { geometry: Some(Arc::new(super::geometry::Geometry { shape, geodesic: true })), props }
        })
        .collect();
    Ok(V::Features(Arc::new(out)))
}

/// A property of a feature or image (`None` when absent).
pub fn property(element: &V, name: &str) -> Option<V> {
    match element {
        V::Feature(f) => f.get(name),
        V::Image(i) => i.props.get(name).cloned(),
        _ => None,
    }
}

fn equal(a: &V, b: &V) -> bool {
    match (a.num(), b.num()) {
        (Some(x), Some(y)) if !matches!(a, V::Bool(_)) && !matches!(b, V::Bool(_)) => x == y,
        _ => a.to_json() == b.to_json(),
    }
}

fn order(a: &V, b: &V) -> Option<std::cmp::Ordering> {
    let key = |v: &V| match v {
        V::Date(ms) => Some(*ms as f64),
        other => other.num(),
    };
    match (key(a), key(b), a, b) {
        (Some(x), Some(y), _, _) => x.partial_cmp(&y),
        (_, _, V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn operand(elem: &V, o: &Operand) -> Option<V> {
    match o {
        Operand::Field(f) => property(elem, f),
        Operand::Value(v) => Some(v.clone()),
    }
}

/// Whether an element passes a filter.
pub fn passes(filter: &Filter, elem: &V) -> bool {
    match filter {
        Filter::And(fs) => fs.iter().all(|f| passes(f, elem)),
        Filter::Or(fs) => fs.iter().any(|f| passes(f, elem)),
        Filter::Not(f) => !passes(f, elem),
        Filter::Compare { op, left, right } => {
            if op == "always" {
                return true;
            }
            if op == "never" {
                return false;
            }
            let (Some(l), Some(r)) = (operand(elem, left), operand(elem, right)) else { return false };
            use std::cmp::Ordering::*;
            match op.as_str() {
                "equals" => equal(&l, &r),
                "notEquals" => !equal(&l, &r),
                "lessThan" => order(&l, &r) == Some(Less),
                "lessThanOrEquals" => matches!(order(&l, &r), Some(Less | Equal)),
                "greaterThan" => order(&l, &r) == Some(Greater),
                "greaterThanOrEquals" => matches!(order(&l, &r), Some(Greater | Equal)),
                "listContains" => matches!(&l, V::List(items) if items.iter().any(|x| equal(x, &r))),
                "dateRangeContains" => {
                    let t = match &r {
                        V::Date(ms) => Some(*ms),
                        other => other.num().map(|n| n as i64),
                    };
                    matches!((&l, t), (V::DateRange(a, b), Some(t)) if *a <= t && t < *b)
                }
                "stringContains" => matches!((&l, &r), (V::Str(a), V::Str(b)) if a.contains(b.as_str())),
                "stringStartsWith" => matches!((&l, &r), (V::Str(a), V::Str(b)) if a.starts_with(b.as_str())),
                "stringEndsWith" => matches!((&l, &r), (V::Str(a), V::Str(b)) if a.ends_with(b.as_str())),
                _ => false,
            }
        }
    }
}

/// A binary filter from `leftField|leftValue` and `rightField|rightValue`.
fn compare(c: &mut Call, op: &str) -> Result<V, EvalError> {
    let side = |c: &mut Call, field: &str, value: &str| -> Result<Operand, EvalError> {
        match (c.opt_string(field)?, c.opt(value)) {
            (Some(f), None) => Ok(Operand::Field(f)),
            (None, Some(v)) => Ok(Operand::Value(v)),
            (None, None) => Err(EvalError::new(format!("Either {field} or {value} must be specified."))),
            (Some(_), Some(_)) => Err(EvalError::new(format!("Only one of {field} and {value} may be specified."))),
        }
    };
    let left = side(c, "leftField", "leftValue")?;
    let right = side(c, "rightField", "rightValue")?;
    Ok(V::Filter(Arc::new(Filter::Compare { op: op.to_string(), left, right })))
}

macro_rules! compare_algo {
    ($f:ident, $op:expr) => {
        fn $f(c: &mut Call) -> Result<V, EvalError> {
            compare(c, $op)
        }
    };
}
compare_algo!(f_equals, "equals");
compare_algo!(f_not_equals, "notEquals");
compare_algo!(f_lt, "lessThan");
compare_algo!(f_lte, "lessThanOrEquals");
compare_algo!(f_gt, "greaterThan");
compare_algo!(f_gte, "greaterThanOrEquals");
compare_algo!(f_list_contains, "listContains");
compare_algo!(f_date_range_contains, "dateRangeContains");
compare_algo!(f_string_contains, "stringContains");
compare_algo!(f_string_starts_with, "stringStartsWith");
compare_algo!(f_string_ends_with, "stringEndsWith");

fn filters(c: &mut Call) -> Result<Vec<Filter>, EvalError> {
    c.req("filters")?.into_list()?.into_iter().map(|f| Ok((*f.into_filter()?).clone())).collect()
}
fn f_and(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Filter(Arc::new(Filter::And(filters(c)?))))
}
fn f_or(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Filter(Arc::new(Filter::Or(filters(c)?))))
}
fn f_not(c: &mut Call) -> Result<V, EvalError> {
    let f = c.req("filter")?.into_filter()?;
    Ok(V::Filter(Arc::new(Filter::Not(Box::new((*f).clone())))))
}
fn constant_filter(op: &str) -> Result<V, EvalError> {
    let none = Operand::Value(V::Null);
    Ok(V::Filter(Arc::new(Filter::Compare { op: op.into(), left: none.clone(), right: none })))
}
fn f_always(_: &mut Call) -> Result<V, EvalError> {
    constant_filter("always")
}
fn f_never(_: &mut Call) -> Result<V, EvalError> {
    constant_filter("never")
}

/// `Collection.filter{collection, filter}` on features or images.
fn filter(c: &mut Call) -> Result<V, EvalError> {
    let coll = c.req("collection")?;
    let f = c.req("filter")?.into_filter()?;
    match coll {
        V::Features(fs) => Ok(V::Features(Arc::new(
            fs.iter().filter(|x| passes(&f, &V::Feature(Arc::new((*x).clone())))).cloned().collect(),
        ))),
        V::Images(is) => Ok(V::Images(Arc::new(
            is.iter().filter(|x| passes(&f, &V::Image(Arc::new((*x).clone())))).cloned().collect(),
        ))),
        other => Err(EvalError::new(format!("Expected a collection, got a {}.", other.type_name()))),
    }
}

/// `Collection.map{collection, baseAlgorithm, dropNulls}`: the function applied to each element.
fn map(c: &mut Call) -> Result<V, EvalError> {
    let coll = c.req("collection")?;
    let f = c.function("baseAlgorithm")?;
    let drop_nulls = c.opt_bool("dropNulls")?.unwrap_or(false);
    let items: Vec<V> = match &coll {
        V::Features(fs) => fs.iter().map(|x| V::Feature(Arc::new(x.clone()))).collect(),
        V::Images(is) => is.iter().map(|x| V::Image(Arc::new(x.clone()))).collect(),
        other => return Err(EvalError::new(format!("Expected a collection, got a {}.", other.type_name()))),
    };
    let (mut feats, mut imgs) = (Vec::new(), Vec::new());
    for item in items {
        match c.apply(&f, vec![item])? {
            V::Feature(x) => feats.push((*x).clone()),
            V::Image(x) => imgs.push((*x).clone()),
            V::Null if drop_nulls => {}
            other => {
                return Err(EvalError::new(format!(
                    "A mapped algorithm must return a Feature or Image, not a {}.",
                    other.type_name()
                )))
            }
        }
    }
    match (&coll, feats.is_empty(), imgs.is_empty()) {
        (_, false, false) => Err(EvalError::new("A mapped algorithm returned both features and images.")),
        (_, _, false) => Ok(V::Images(Arc::new(imgs))),
        (_, false, _) => Ok(V::Features(Arc::new(feats))),
        (V::Images(_), true, true) => Ok(V::Images(Arc::new(Vec::new()))),
        _ => Ok(V::Features(Arc::new(Vec::new()))),
    }
}

fn elements(v: V) -> Result<Vec<V>, EvalError> {
    match v {
        V::Features(fs) => Ok(fs.iter().map(|x| V::Feature(Arc::new(x.clone()))).collect()),
        V::Images(is) => Ok(is.iter().map(|x| V::Image(Arc::new(x.clone()))).collect()),
        other => Err(EvalError::new(format!("Expected a collection, got a {}.", other.type_name()))),
    }
}

/// `Collection.size`.
fn size(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Int(elements(c.req("collection")?)?.len() as i64))
}

/// `Collection.first`: the first element (`null` when empty).
fn first(c: &mut Call) -> Result<V, EvalError> {
    Ok(elements(c.req("collection")?)?.into_iter().next().unwrap_or(V::Null))
}

/// `Collection.toList{collection, count, offset}`.
fn to_list(c: &mut Call) -> Result<V, EvalError> {
    let items = elements(c.req("collection")?)?;
    let count = c.req("count")?.into_i64()?.max(0) as usize;
    let offset = c.opt("offset").map(V::into_i64).transpose()?.unwrap_or(0).max(0) as usize;
    Ok(V::List(items.into_iter().skip(offset).take(count).collect()))
}

/// `Collection.limit{collection, limit}` (sorting by `key` is not modelled).
fn limit(c: &mut Call) -> Result<V, EvalError> {
    let coll = c.req("collection")?;
    if c.opt("key").is_some() {
        return Err(EvalError::new("fake-ee does not model sorting (key)."));
    }
    c.opt("ascending");
    let n = c.opt("limit").map(V::into_i64).transpose()?.map(|n| n.max(0) as usize);
    match coll {
        V::Features(fs) => Ok(V::Features(Arc::new(fs.iter().take(n.unwrap_or(usize::MAX)).cloned().collect()))),
        V::Images(is) => Ok(V::Images(Arc::new(is.iter().take(n.unwrap_or(usize::MAX)).cloned().collect()))),
        other => Err(EvalError::new(format!("Expected a collection, got a {}.", other.type_name()))),
    }
}

/// `Collection.merge{collection1, collection2}`.
fn merge(c: &mut Call) -> Result<V, EvalError> {
    let a = features(c.req("collection1")?)?;
    let b = features(c.req("collection2")?)?;
    Ok(V::Features(Arc::new(a.iter().chain(b.iter()).cloned().collect())))
}

/// `Collection.randomColumn{collection, columnName, seed, rowKeys}`: "deterministic pseudorandom numbers
/// … in the range of [0, 1)" from the row keys (default `system:index`) and the seed (the fake's hash).
fn random_column(c: &mut Call) -> Result<V, EvalError> {
    let fs = features(c.req("collection")?)?;
    let column = c.opt_string("columnName")?.unwrap_or_else(|| "random".into());
    let seed = c.opt("seed").map(V::into_i64).transpose()?.unwrap_or(0).to_string();
    if c.opt_string("distribution")?.is_some_and(|d| d != "uniform") {
        return Err(EvalError::new("fake-ee models the uniform distribution only."));
    }
    let keys = c.opt("rowKeys").map(V::into_strings).transpose()?.unwrap_or_else(|| vec!["system:index".into()]);
    let out = fs
        .iter()
        .map(|f| {
            let mut parts = vec![seed.clone()];
            parts.extend(keys.iter().map(|k| f.get(k).map(|v| v.csv_text()).unwrap_or_default()));
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let r = (world::hash(&refs) >> 11) as f64 / (1u64 << 53) as f64;
            let mut f = f.clone();
            f.props.insert(column.clone(), V::Float(r));
            f
        })
        .collect();
    Ok(V::Features(Arc::new(out)))
}

fn yyyymmdd(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|d| format!("{:04}{:02}{:02}", d.year(), d.month() as u8, d.day()))
        .unwrap_or_default()
}

/// `ImageCollection.load{id}`: the images of the synthetic world ([`world::collection_times`]).
fn ic_load(c: &mut Call) -> Result<V, EvalError> {
    let id = c.string("id")?;
    c.opt("version");
    let images = world::collection_times(&id)
        .into_iter()
        .map(|t| {
            let mut props = Dict::new();
            props.insert("system:time_start".into(), V::Int(t));
            props.insert("system:index".into(), V::Str(yyyymmdd(t)));
            for (k, v) in world::image_properties(&id, t) {
                props.insert(k.into(), V::from_json(&v));
            }
            Image::from_world(&id, Some(t), props)
        })
        .collect();
    Ok(V::Images(Arc::new(images)))
}

/// `ImageCollection.fromImages{images}`.
fn ic_from_images(c: &mut Call) -> Result<V, EvalError> {
    let list = c.req("images")?.into_list()?;
    let images = list.into_iter().map(|v| super::image::promote(v).map(|i| (*i).clone())).collect::<Result<_, _>>()?;
    Ok(V::Images(Arc::new(images)))
}

/// Band names of a collection matched by name, in order of first appearance; `None` when some image's
/// bands are not listed (then the result resolves bands by name too).
fn band_union(images: &[Image]) -> Option<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for img in images {
        if img.open.is_some() {
            return None;
        }
        for b in &img.bands {
            if !names.contains(&b.name) {
                names.push(b.name.clone());
            }
        }
    }
    Some(names)
}

/// An image whose band `name` is `make(name)`, listed or resolving by name like its inputs.
fn composite(images: &Arc<Vec<Image>>, what: &str, make: Resolver) -> Image {
    match band_union(images) {
        Some(names) => Image { bands: names.iter().filter_map(|n| make(n)).collect(), ..Image::default() },
        None => Image { open: Some((what.to_string(), make)), ..Image::default() },
    }
}

/// A per-pixel reduction of band `name` across images with a basic reducer.
fn stack_band(images: Arc<Vec<Image>>, name: &str, reducer: Reducer, output: usize, int: Option<bool>) -> Option<Band> {
    let bands: Vec<Band> = images.iter().filter_map(|i| i.band(name)).collect();
    if bands.is_empty() {
        return None;
    }
    let int = int.unwrap_or_else(|| bands.iter().all(|b| b.int));
    Some(Band::new(name, int, None, move |px: &Px| {
        let records: Vec<Record> = bands
            .iter()
            .map(|b| {
                let S { v, m } = b.sample(px);
                Record { inputs: vec![Input { v, m, int: b.int }], coverage: 1.0 }
            })
            .collect();
        match reducer.reduce(&records, true).get(output).and_then(V::num) {
            Some(v) => S::of(v),
            None => S::MASKED,
        }
    }))
}

fn stack(c: &mut Call, kind: Basic, int: Option<bool>) -> Result<V, EvalError> {
    let images = c.req("collection")?.into_images()?;
    let imgs = images.clone();
    let make = Arc::new(move |n: &str| stack_band(imgs.clone(), n, Reducer::Basic(kind), 0, int));
    Ok(V::Image(Arc::new(composite(&images, "a collection composite", make))))
}

macro_rules! stack_algo {
    ($f:ident, $kind:expr, $int:expr) => {
        fn $f(c: &mut Call) -> Result<V, EvalError> {
            stack(c, $kind, $int)
        }
    };
}
stack_algo!(r_mean, Basic::Mean, Some(false));
stack_algo!(r_median, Basic::Median, Some(false));
stack_algo!(r_mode, Basic::Mode, None);
stack_algo!(r_sum, Basic::Sum, None);
stack_algo!(r_min, Basic::Min, None);
stack_algo!(r_max, Basic::Max, None);
stack_algo!(r_count, Basic::Count, Some(true));
stack_algo!(r_product, Basic::Product, None);
stack_algo!(r_and, Basic::AllNonZero, Some(true));
stack_algo!(r_or, Basic::AnyNonZero, Some(true));

/// Whether every output of a reducer is a number (so it can be a band).
fn scalar(r: &Reducer) -> bool {
    match r {
        Reducer::Basic(b) => !matches!(b, Basic::FrequencyHistogram | Basic::ToList),
        Reducer::Percentile { .. } => true,
        Reducer::ForEach { inner, .. } | Reducer::Unweighted(inner) => scalar(inner),
        Reducer::Combine { a, b, .. } => scalar(a) && scalar(b),
        Reducer::Group { .. } => false,
    }
}

/// `ImageCollection.reduce{collection, reducer, parallelScale}` (module doc).
fn ic_reduce(c: &mut Call) -> Result<V, EvalError> {
    let images = c.req("collection")?.into_images()?;
    let reducer = c.req("reducer")?.into_reducer()?;
    c.opt("parallelScale");
    if !scalar(&reducer) {
        return Err(EvalError::new("fake-ee makes bands only from reducers with number outputs."));
    }
    let outputs = reducer.outputs();
    if reducer.inputs() != 1 {
        let names = band_union(&images)
            .ok_or_else(|| EvalError::new("Select the collection's bands by name before a multi-input reducer."))?;
        if names.len() != reducer.inputs() {
            return Err(EvalError::new(format!(
                "The reducer has {} inputs but the collection has {} bands.",
                reducer.inputs(),
                names.len()
            )));
        }
        let mut bands = Vec::new();
        for (k, out) in outputs.iter().enumerate() {
            let (imgs, names, r) = (images.clone(), names.clone(), reducer.clone());
            bands.push(Band::new(out, false, None, move |px: &Px| {
                let records: Vec<Record> = imgs
                    .iter()
                    .map(|i| Record {
                        inputs: names
                            .iter()
                            .map(|n| match i.band(n) {
                                Some(b) => {
                                    let S { v, m } = b.sample(px);
                                    Input { v, m, int: b.int }
                                }
                                None => Input { v: 0.0, m: 0.0, int: false },
                            })
                            .collect(),
                        coverage: 1.0,
                    })
                    .collect();
                r.reduce(&records, true).get(k).and_then(V::num).map(S::of).unwrap_or(S::MASKED)
            }));
        }
        return Ok(V::Image(Arc::new(Image { bands, ..Image::default() })));
    }
    let (imgs, r) = (images.clone(), reducer.clone());
    let make = Arc::new(move |name: &str| {
        let reducer: &Reducer = &r;
        outputs.iter().enumerate().find_map(|(k, out)| {
            let band = name.strip_suffix(&format!("_{out}"))?;
            let mean_like = !matches!(reducer, Reducer::Basic(Basic::Min | Basic::Max | Basic::Sum | Basic::Mode));
            stack_band(imgs.clone(), band, reducer.clone(), k, mean_like.then_some(false)).map(|b| b.renamed(name))
        })
    });
    let image = match band_union(&images) {
        Some(names) => {
            let bands = names
                .iter()
                .flat_map(|n| reducer.outputs().into_iter().map(move |o| format!("{n}_{o}")))
                .filter_map(|n| make(&n))
                .collect();
            Image { bands, ..Image::default() }
        }
        None => Image { open: Some(("a collection reduction".into(), make as Resolver)), ..Image::default() },
    };
    Ok(V::Image(Arc::new(image)))
}

/// `ImageCollection.mosaic{collection}` (module doc).
fn mosaic(c: &mut Call) -> Result<V, EvalError> {
    let images = c.req("collection")?.into_images()?;
    let imgs = images.clone();
    let make = Arc::new(move |name: &str| {
        let bands: Vec<Band> = imgs.iter().filter_map(|i| i.band(name)).collect();
        if bands.is_empty() {
            return None;
        }
        let int = bands.iter().all(|b| b.int);
        Some(Band::new(name, int, None, move |px: &Px| {
            bands.iter().rev().map(|b| b.sample(px)).find(S::valid).unwrap_or(S::MASKED)
        }))
    });
    Ok(V::Image(Arc::new(composite(&images, "a mosaic", make))))
}

pub(super) const ALGORITHMS: &[(&str, Algo)] = &[
    ("Collection", collection),
    ("Collection.loadTable", load_table),
    ("Collection.filter", filter),
    ("Collection.map", map),
    ("Collection.size", size),
    ("Collection.first", first),
    ("Collection.toList", to_list),
    ("Collection.limit", limit),
    ("Collection.merge", merge),
    ("Collection.randomColumn", random_column),
    ("Filter.equals", f_equals),
    ("Filter.eq", f_equals),
    ("Filter.notEquals", f_not_equals),
    ("Filter.neq", f_not_equals),
    ("Filter.lessThan", f_lt),
    ("Filter.lt", f_lt),
    ("Filter.lessThanOrEquals", f_lte),
    ("Filter.lte", f_lte),
    ("Filter.greaterThan", f_gt),
    ("Filter.gt", f_gt),
    ("Filter.greaterThanOrEquals", f_gte),
    ("Filter.gte", f_gte),
    ("Filter.inList", f_list_contains),
    ("Filter.listContains", f_list_contains),
    ("Filter.dateRangeContains", f_date_range_contains),
    ("Filter.stringContains", f_string_contains),
    ("Filter.stringStartsWith", f_string_starts_with),
    ("Filter.stringEndsWith", f_string_ends_with),
    ("Filter.and", f_and),
    ("Filter.or", f_or),
    ("Filter.not", f_not),
    ("Filter.always", f_always),
    ("Filter.never", f_never),
    ("ImageCollection.load", ic_load),
    ("ImageCollection.fromImages", ic_from_images),
    ("ImageCollection.reduce", ic_reduce),
    ("ImageCollection.mosaic", mosaic),
    ("reduce.mean", r_mean),
    ("reduce.median", r_median),
    ("reduce.mode", r_mode),
    ("reduce.sum", r_sum),
    ("reduce.min", r_min),
    ("reduce.max", r_max),
    ("reduce.count", r_count),
    ("reduce.product", r_product),
    ("reduce.and", r_and),
    ("reduce.or", r_or),
];
