//! Elements (features and images as property holders), features, dates and date ranges, projections,
//! and the classifier chain (`Image.sampleRegions`, `Classifier.*`, `Classifier.train`).
//!
//! Semantics from the descriptions in `ee-algorithms.json`. `Element.toDictionary` without a list takes
//! "all non-system properties" (names not starting with `system:`). A classifier is not really trained:
//! `Classifier.train` checks what the description requires ("Each feature must have this property and its
//! value must be numeric", the same for `inputProperties`) and records what it was trained on.

use std::sync::Arc;

use super::collection::property;
use super::image::Px;
use super::value::{Classifier, Dict, Feature, Projection, V};
use super::{Algo, Call, EvalError};
use crate::world;

/// `Feature{geometry, metadata}`.
fn feature(c: &mut Call) -> Result<V, EvalError> {
    let geometry = match c.opt("geometry") {
        None => None,
        Some(V::Feature(f)) => f.geometry.clone(),
        Some(g) => Some(g.into_geometry()?),
    };
    let props = c.opt("metadata").map(V::into_dict).transpose()?.unwrap_or_default();
    c.opt("geometryKey");
    Ok(V::Feature(Arc::new(Feature { geometry, props })))
}

/// An element's properties, for update.
fn with_props(v: V, f: impl FnOnce(&mut Dict)) -> Result<V, EvalError> {
    match v {
        V::Feature(x) => {
            let mut x = (*x).clone();
            f(&mut x.props);
            Ok(V::Feature(Arc::new(x)))
        }
        V::Image(x) => {
            let mut x = (*x).clone();
            f(&mut x.props);
            Ok(V::Image(Arc::new(x)))
        }
        other => Err(EvalError::new(format!("Expected an Element, got a {}.", other.type_name()))),
    }
}

/// `Element.get{object, property}`: the property, `null` when absent.
fn get(c: &mut Call) -> Result<V, EvalError> {
    let obj = c.req("object")?;
    let name = c.string("property")?;
    Ok(property(&obj, &name).unwrap_or(V::Null))
}
fn get_number(c: &mut Call) -> Result<V, EvalError> {
    let v = get(c)?;
    v.num().map(|_| v.clone()).ok_or_else(|| EvalError::new(format!("Expected a Number, got a {}.", v.type_name())))
}
fn get_string(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Str(get(c)?.into_string()?))
}
/// `Element.set{object, key, value}`.
fn set(c: &mut Call) -> Result<V, EvalError> {
    let obj = c.req("object")?;
    let key = c.string("key")?;
    let value = c.req_or_null("value");
    with_props(obj, |p| {
        p.insert(key, value);
    })
}
/// `Element.setMulti{object, properties}`: "Overrides one or more metadata properties".
fn set_multi(c: &mut Call) -> Result<V, EvalError> {
    let obj = c.req("object")?;
    let props = c.req("properties")?.into_dict()?;
    with_props(obj, |p| p.extend(props))
}
/// `Element.toDictionary{element, properties}` (module doc).
fn to_dictionary(c: &mut Call) -> Result<V, EvalError> {
    let obj = c.req("element")?;
    let names = c.opt("properties").map(V::into_strings).transpose()?;
    let all = match &obj {
        V::Feature(f) => f.props.clone(),
        V::Image(i) => i.props.clone(),
        other => return Err(EvalError::new(format!("Expected an Element, got a {}.", other.type_name()))),
    };
    Ok(V::Dict(match names {
        Some(n) => n.into_iter().filter_map(|k| property(&obj, &k).map(|v| (k, v))).collect(),
        None => all.into_iter().filter(|(k, _)| !k.starts_with("system:")).collect(),
    }))
}
fn property_names(c: &mut Call) -> Result<V, EvalError> {
    let obj = c.req("element")?;
    let props = match &obj {
        V::Feature(f) => f.props.keys().cloned().collect::<Vec<_>>(),
        V::Image(i) => i.props.keys().cloned().collect(),
        other => return Err(EvalError::new(format!("Expected an Element, got a {}.", other.type_name()))),
    };
    Ok(V::List(props.into_iter().map(V::Str).collect()))
}
/// `Element.copyProperties{destination, source, properties, exclude}`.
fn copy_properties(c: &mut Call) -> Result<V, EvalError> {
    let dst = c.req("destination")?;
    let src = c.req("source")?;
    let only = c.opt("properties").map(V::into_strings).transpose()?;
    let exclude = c.opt("exclude").map(V::into_strings).transpose()?.unwrap_or_default();
    let from = match &src {
        V::Feature(f) => f.props.clone(),
        V::Image(i) => i.props.clone(),
        other => return Err(EvalError::new(format!("Expected an Element, got a {}.", other.type_name()))),
    };
    let picked: Dict = from
        .into_iter()
        .filter(|(k, _)| match &only {
            Some(o) => o.contains(k),
            None => !k.starts_with("system:"),
        })
        .filter(|(k, _)| !exclude.contains(k))
        .collect();
    with_props(dst, |p| p.extend(picked))
}
/// `Feature.geometry` / `Element.geometry`.
fn geometry(c: &mut Call) -> Result<V, EvalError> {
    let f = c.req("feature")?;
    for a in ["maxError", "proj", "geodesics"] {
        if c.opt(a).is_some() {
            return Err(EvalError::new(format!("fake-ee does not model `{a}`.")));
        }
    }
    match f {
        V::Feature(f) => Ok(f.geometry.clone().map(V::Geometry).unwrap_or(V::Null)),
        other => Err(EvalError::new(format!("Expected a Feature, got a {}.", other.type_name()))),
    }
}
fn set_geometry(c: &mut Call) -> Result<V, EvalError> {
    let f = c.req("feature")?;
    let g = c.opt("geometry").map(V::into_geometry).transpose()?;
    match f {
        V::Feature(f) => Ok(V::Feature(Arc::new(Feature { geometry: g, ..(*f).clone() }))),
        other => Err(EvalError::new(format!("Expected a Feature, got a {}.", other.type_name()))),
    }
}
/// `Feature.id`: the `system:index`.
fn id(c: &mut Call) -> Result<V, EvalError> {
    let f = c.req("element")?;
    Ok(property(&f, "system:index").unwrap_or(V::Null))
}
/// `Feature.select{input, propertySelectors, newProperties, retainGeometry}` (exact names).
fn select(c: &mut Call) -> Result<V, EvalError> {
    let f = c.req("input")?;
    let names = c.strings("propertySelectors")?;
    let new = c.opt("newProperties").map(V::into_strings).transpose()?;
    let keep_geometry = c.opt_bool("retainGeometry")?.unwrap_or(true);
    let V::Feature(f) = f else { return Err(EvalError::new("Expected a Feature.")) };
    if new.as_ref().is_some_and(|n| n.len() != names.len()) {
        return Err(EvalError::new("newProperties must match propertySelectors."));
    }
    let mut props = Dict::new();
    for (i, n) in names.iter().enumerate() {
        if let Some(v) = f.get(n) {
            props.insert(new.as_ref().map(|x| x[i].clone()).unwrap_or_else(|| n.clone()), v);
        }
    }
    let geometry = if keep_geometry { f.geometry.clone() } else { None };
    Ok(V::Feature(Arc::new(Feature { geometry, props })))
}

// ---- Dates ----

fn utc_only(c: &mut Call) -> Result<(), EvalError> {
    match c.opt_string("timeZone")? {
        Some(tz) if tz != "UTC" && tz != "Etc/UTC" => {
            Err(EvalError::new(format!("fake-ee models the UTC time zone only, not {tz}.")))
        }
        _ => Ok(()),
    }
}
/// `Date{value, timeZone}`.
fn date(c: &mut Call) -> Result<V, EvalError> {
    utc_only(c)?;
    Ok(V::Date(c.req("value")?.into_date()?))
}
fn millis(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Int(c.req("date")?.into_date()?))
}
fn from_ymd(c: &mut Call) -> Result<V, EvalError> {
    utc_only(c)?;
    let (y, m, d) = (c.req("year")?.into_i64()?, c.req("month")?.into_i64()?, c.req("day")?.into_i64()?);
    Ok(V::Date(super::basic::parse_date(&format!("{y:04}-{m:02}-{d:02}"))?))
}
/// `Date.advance{date, delta, unit}`: fixed-length units, and months/years on the calendar.
fn advance(c: &mut Call) -> Result<V, EvalError> {
    utc_only(c)?;
    let t = c.req("date")?.into_date()?;
    let delta = c.f64("delta")?;
    let unit = c.string("unit")?;
    let ms = |k: f64| Ok(V::Date(t + (delta * k).round() as i64));
    match unit.as_str() {
        "second" => ms(1e3),
        "minute" => ms(6e4),
        "hour" => ms(3.6e6),
        "day" => ms(8.64e7),
        "week" => ms(6.048e8),
        "month" | "year" => {
            if delta.fract() != 0.0 {
                return Err(EvalError::new("fake-ee advances months and years by whole numbers only."));
            }
            let d = time::OffsetDateTime::from_unix_timestamp(t.div_euclid(1000))
                .map_err(|e| EvalError::new(e.to_string()))?;
            let months = delta as i64 * if unit == "year" { 12 } else { 1 };
            let total = d.year() as i64 * 12 + d.month() as i64 - 1 + months;
            let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
            let day = d.day();
            let base = super::basic::parse_date(&format!("{y:04}-{m:02}-{day:02}"))?;
            Ok(V::Date(base + (t.rem_euclid(86_400_000))))
        }
        other => Err(EvalError::new(format!("Unknown unit '{other}'."))),
    }
}
/// `DateRange{start, end}`: "start (inclusive) and end (exclusive) … If 'end' is not specified, a
/// 1-millisecond range starting at 'start' is created."
fn date_range(c: &mut Call) -> Result<V, EvalError> {
    utc_only(c)?;
    let start = c.req("start")?.into_date()?;
    let end = c.opt("end").map(V::into_date).transpose()?.unwrap_or(start + 1);
    Ok(V::DateRange(start, end))
}
fn range(c: &mut Call) -> Result<(i64, i64), EvalError> {
    match c.req("dateRange")? {
        V::DateRange(a, b) => Ok((a, b)),
        other => Err(EvalError::new(format!("Expected a DateRange, got a {}.", other.type_name()))),
    }
}
fn range_start(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Date(range(c)?.0))
}
fn range_end(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Date(range(c)?.1))
}
fn range_contains(c: &mut Call) -> Result<V, EvalError> {
    let (a, b) = range(c)?;
    let t = c.req("other")?.into_date()?;
    Ok(V::Bool(a <= t && t < b))
}

// ---- Projections ----

/// `Projection{crs, transform}`.
fn projection(c: &mut Call) -> Result<V, EvalError> {
    let crs = match c.req("crs")? {
        V::Str(s) => s,
        other => return Err(EvalError::new(format!("Expected a CRS code, got a {}.", other.type_name()))),
    };
    let transform = c.opt("transform").map(V::into_numbers).transpose()?;
    if c.opt("transformWkt").is_some() {
        return Err(EvalError::new("fake-ee does not model transformWkt."));
    }
    Ok(V::Projection(Arc::new(Projection { crs, transform, scale: None })))
}
fn at_scale(c: &mut Call) -> Result<V, EvalError> {
    let p = c.req("projection")?.into_projection()?;
    let meters = c.f64("meters")?;
    Ok(V::Projection(Arc::new(Projection { scale: Some(meters), ..(*p).clone() })))
}
fn nominal_scale(c: &mut Call) -> Result<V, EvalError> {
    let p = c.req("proj")?.into_projection()?;
    let from_transform = p.transform.as_ref().and_then(|t| t.first()).map(|x| x.abs() * world::DEGREE_METRES);
    Ok(V::Float(p.scale.or(from_transform).unwrap_or(world::DEGREE_METRES)))
}
fn crs(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Str(c.req("projection")?.into_projection()?.crs.clone()))
}

// ---- Sampling and classifiers ----

/// `Image.sampleRegions{image, collection, properties, scale, projection, tileScale, geometries}`: one
/// feature per pixel of each region (those with every band unmasked), with one property per band and the
/// listed properties of the region ("Defaults to all non-system properties").
fn sample_regions(c: &mut Call) -> Result<V, EvalError> {
    let image = c.image("image")?;
    let regions = c.req("collection")?.into_features()?;
    let props = c.opt("properties").map(V::into_strings).transpose()?;
    let scale = super::image::grid_scale(c, "projection")?;
    c.opt("tileScale");
    let geometries = c.opt_bool("geometries")?.unwrap_or(false);
    let bands = image.listed()?.to_vec();
    let size =
        world::grid_degrees(scale.or_else(|| bands.first().and_then(|b| b.scale)).unwrap_or(world::DEGREE_METRES));
    let mut out = Vec::new();
    for r in regions.iter() {
        let g = r.geometry.as_ref().ok_or_else(|| EvalError::new("A region to sample has no geometry."))?;
        for p in g.pixels(size) {
            let px = Px::at(p.cell);
            let samples: Vec<_> = bands.iter().map(|b| (b, b.sample(&px))).collect();
            if samples.iter().any(|(_, s)| !s.valid()) {
                continue;
            }
            let mut f = Feature::default();
            for (b, s) in samples {
                f.props.insert(b.name.clone(), if b.int { V::Int(s.v as i64) } else { V::Float(s.v) });
            }
            let copied: Dict = match &props {
                Some(names) => names.iter().filter_map(|n| r.get(n).map(|v| (n.clone(), v))).collect(),
                None => r
                    .props
                    .iter()
                    .filter(|(k, _)| !k.starts_with("system:"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            f.props.extend(copied);
            f.props.insert("system:index".into(), V::Str(out.len().to_string()));
            if geometries {
                let (x, y) = p.cell.centre();
                f.geometry = Some(Arc::new(super::geometry::Geometry {
                    shape: super::geometry::Shape::Point([x, y]),
                    geodesic: true,
                }));
            }
            out.push(f);
        }
    }
    Ok(V::Features(Arc::new(out)))
}

/// A classifier constructor: every parameter is taken (the fake does not predict).
fn classifier_ctor(c: &mut Call) -> Result<V, EvalError> {
    c.args.clear();
    Ok(V::Classifier(Arc::new(Classifier { algorithm: c.name.to_string(), trained: None })))
}

/// `Classifier.train{classifier, features, classProperty, inputProperties}` (module doc).
fn train(c: &mut Call) -> Result<V, EvalError> {
    let cl = match c.req("classifier")? {
        V::Classifier(x) => x,
        other => return Err(EvalError::new(format!("Expected a Classifier, got a {}.", other.type_name()))),
    };
    let features = c.req("features")?.into_features()?;
    let class = c.string("classProperty")?;
    let inputs =
        c.opt("inputProperties").map(V::into_strings).transpose()?.ok_or_else(|| {
            EvalError::new("inputProperties is required: the collection has no 'band_order' property.")
        })?;
    c.opt("subsampling");
    c.opt("subsamplingSeed");
    if features.is_empty() {
        return Err(EvalError::new("No training data: the collection is empty."));
    }
    for (i, f) in features.iter().enumerate() {
        for p in std::iter::once(&class).chain(&inputs) {
            match f.get(p) {
                Some(v) if v.num().is_some() => {}
                Some(v) => {
                    return Err(EvalError::new(format!(
                        "Property '{p}' of feature {i} must be numeric, not a {}.",
                        v.type_name()
                    )))
                }
                None => return Err(EvalError::new(format!("Property '{p}' of feature {i} is missing."))),
            }
        }
    }
    Ok(V::Classifier(Arc::new(Classifier {
        algorithm: cl.algorithm.clone(),
        trained: Some((class, inputs, features.len())),
    })))
}

/// `Classifier.schema`: the input property names of a trained classifier.
fn schema(c: &mut Call) -> Result<V, EvalError> {
    match c.req("classifier")? {
        V::Classifier(x) => match &x.trained {
            Some((_, inputs, _)) => Ok(V::List(inputs.iter().cloned().map(V::Str).collect())),
            None => Err(EvalError::new("The classifier is not trained.")),
        },
        other => Err(EvalError::new(format!("Expected a Classifier, got a {}.", other.type_name()))),
    }
}

pub(super) const ALGORITHMS: &[(&str, Algo)] = &[
    ("Feature", feature),
    ("Element.get", get),
    ("Element.getNumber", get_number),
    ("Element.getString", get_string),
    ("Element.set", set),
    ("Element.setMulti", set_multi),
    ("Element.toDictionary", to_dictionary),
    ("Element.propertyNames", property_names),
    ("Element.copyProperties", copy_properties),
    ("Element.geometry", geometry),
    ("Feature.geometry", geometry),
    ("Feature.setGeometry", set_geometry),
    ("Feature.id", id),
    ("Feature.select", select),
    ("Date", date),
    ("Date.millis", millis),
    ("Date.fromYMD", from_ymd),
    ("Date.advance", advance),
    ("DateRange", date_range),
    ("DateRange.start", range_start),
    ("DateRange.end", range_end),
    ("DateRange.contains", range_contains),
    ("Projection", projection),
    ("Projection.atScale", at_scale),
    ("Projection.nominalScale", nominal_scale),
    ("Projection.crs", crs),
    ("Image.sampleRegions", sample_regions),
    ("Classifier.train", train),
    ("Classifier.schema", schema),
    ("Classifier.smileRandomForest", classifier_ctor),
    ("Classifier.smileCart", classifier_ctor),
    ("Classifier.smileGradientTreeBoost", classifier_ctor),
    ("Classifier.smileNaiveBayes", classifier_ctor),
    ("Classifier.libsvm", classifier_ctor),
    ("Classifier.minimumDistance", classifier_ctor),
];
