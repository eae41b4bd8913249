//! Reducers and the reductions that use them: the `Reducer.*` constructors with Earth Engine's output
//! naming, `Image.reduceRegions` / `Image.reduceRegion` over the pixels of each region
//! ([`crate::world::region_pixels`]), and the per-pixel reductions of image collections.
//!
//! Semantics, from the descriptions in `ee-algorithms.json`:
//! - Inputs and outputs: one input each for the basic reducers; outputs named `sum`, `mean`, `count`,
//!   `min`, `max`, `median`, `mode`, `stdDev`, `variance`, `first`, `last`, `histogram`, `list`,
//!   `product`, `all`, `any`; `percentile([10, 90])` → `p10`, `p90` (or `outputNames`).
//! - `forEach(reducer, names)`: one copy per name, each over its own inputs; "If the reducer has a single
//!   output, the output names are used as-is; otherwise they are prefixed to the original output names"
//!   (with `_`, as `ImageCollection.reduce` documents for its `10_mean`).
//! - `group(reducer, groupField, groupName)`: records grouped by the value of input `groupField`, the
//!   others reduced per group; one output `groups`, a list of dictionaries `{groupName: value, <outputs>}`
//!   in ascending group order (the grouped-reductions guide: "a list of dictionaries").
//! - `combine(r1, r2, outputPrefix, sharedInputs)`: outputs of r1 then r2's prefixed; with shared inputs
//!   both see the same inputs (they must have as many), else r1's inputs then r2's.
//! - Weights: "By default, reducers applied to imagery weight the inputs according to the mask value"
//!   and the fraction of the pixel in the region (weighted-reductions guide). Only the reducers whose
//!   description says "(weighted)" use the weight — `sum`, `mean`, `frequencyHistogram`; the others count
//!   every unmasked pixel of the region once (`unweighted()` forces that for all).
//! - Median and percentiles (exact: the regions of the fake are far below `maxRaw`): linear interpolation
//!   between closest ranks, rank = p/100·(n−1), so p0 = min, p50 = median (the mean of the middle two for
//!   an even count, as Earth Engine's MEDIAN pyramiding documents) and p100 = max. Mode: the most frequent
//!   value, the smallest on ties. stdDev/variance: population. No pixel: `null` (`sum` 0, `count` 0,
//!   `frequencyHistogram` `{}`, `group` `[]`).
//! - Region reductions: "Either the reducer must have the same number of inputs as the input image has
//!   bands, or it must have a single input and will be repeated for each band" (`Image.reduceRegion`),
//!   i.e. `forEach` over the band names.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::image::{Image, Px, S};
use super::value::{float_text, Dict, Feature, V};
use super::{Algo, Call, EvalError};
use crate::world;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basic {
    Sum,
    Mean,
    Count,
    CountEvery,
    Min,
    Max,
    MinMax,
    Median,
    Mode,
    StdDev,
    Variance,
    SampleStdDev,
    SampleVariance,
    First,
    Last,
    FrequencyHistogram,
    ToList,
    Product,
    AllNonZero,
    AnyNonZero,
    CountDistinct,
}

impl Basic {
    fn outputs(self) -> &'static [&'static str] {
        match self {
            Basic::Sum => &["sum"],
            Basic::Mean => &["mean"],
            Basic::Count | Basic::CountEvery | Basic::CountDistinct => &["count"],
            Basic::Min => &["min"],
            Basic::Max => &["max"],
            Basic::MinMax => &["min", "max"],
            Basic::Median => &["median"],
            Basic::Mode => &["mode"],
            Basic::StdDev | Basic::SampleStdDev => &["stdDev"],
            Basic::Variance | Basic::SampleVariance => &["variance"],
            Basic::First => &["first"],
            Basic::Last => &["last"],
            Basic::FrequencyHistogram => &["histogram"],
            Basic::ToList => &["list"],
            Basic::Product => &["product"],
            Basic::AllNonZero => &["all"],
            Basic::AnyNonZero => &["any"],
        }
    }

    /// "(weighted)" in the description.
    fn weighted(self) -> bool {
        matches!(self, Basic::Sum | Basic::Mean | Basic::FrequencyHistogram)
    }
}

/// A reducer.
#[derive(Debug, Clone)]
pub enum Reducer {
    Basic(Basic),
    Percentile { ps: Vec<f64>, names: Vec<String> },
    ForEach { inner: Arc<Reducer>, names: Vec<String> },
    Group { inner: Arc<Reducer>, field: usize, name: String },
    Combine { a: Arc<Reducer>, b: Arc<Reducer>, prefix: String, shared: bool },
    Unweighted(Arc<Reducer>),
}

/// One input value of a record: value, mask weight, integer type.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub v: f64,
    pub m: f64,
    pub int: bool,
}

/// One record: a pixel's inputs and the fraction of it inside the region.
#[derive(Debug, Clone)]
pub struct Record {
    pub inputs: Vec<Input>,
    pub coverage: f64,
}

fn number(v: f64, int: bool) -> V {
    if int && v.fract() == 0.0 && v.abs() < 9.0e15 {
        V::Int(v as i64)
    } else {
        V::Float(v)
    }
}

/// Percentile of sorted values, linear between closest ranks.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

fn percentile_name(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("p{}", p as i64)
    } else {
        format!("p{}", float_text(p))
    }
}

impl Reducer {
    pub fn inputs(&self) -> usize {
        match self {
            Reducer::Basic(_) | Reducer::Percentile { .. } => 1,
            Reducer::ForEach { inner, names } => inner.inputs() * names.len(),
            Reducer::Group { inner, .. } => inner.inputs() + 1,
            Reducer::Combine { a, b, shared, .. } => {
                if *shared {
                    a.inputs()
                } else {
                    a.inputs() + b.inputs()
                }
            }
            Reducer::Unweighted(r) => r.inputs(),
        }
    }

    pub fn outputs(&self) -> Vec<String> {
        match self {
            Reducer::Basic(b) => b.outputs().iter().map(|s| s.to_string()).collect(),
            Reducer::Percentile { names, .. } => names.clone(),
            Reducer::ForEach { inner, names } => {
                let outs = inner.outputs();
                if outs.len() == 1 {
                    names.clone()
                } else {
                    names.iter().flat_map(|n| outs.iter().map(move |o| format!("{n}_{o}"))).collect()
                }
            }
            Reducer::Group { .. } => vec!["groups".to_string()],
            Reducer::Combine { a, b, prefix, .. } => {
                let mut out = a.outputs();
                out.extend(b.outputs().into_iter().map(|o| format!("{prefix}{o}")));
                out
            }
            Reducer::Unweighted(r) => r.outputs(),
        }
    }

    /// Reduces records (each with [`Reducer::inputs`] inputs) to one value per output.
    pub fn reduce(&self, records: &[Record], weighted: bool) -> Vec<V> {
        match self {
            Reducer::Basic(b) => basic(*b, records, weighted && b.weighted()),
            Reducer::Percentile { ps, .. } => {
                let sorted = sorted_values(records);
                ps.iter().map(|p| percentile(&sorted, *p).map(V::Float).unwrap_or(V::Null)).collect()
            }
            Reducer::ForEach { inner, names } => {
                let k = inner.inputs();
                let mut out = Vec::new();
                for c in 0..names.len() {
                    let sub: Vec<Record> = records
                        .iter()
                        .map(|r| Record { inputs: r.inputs[c * k..(c + 1) * k].to_vec(), coverage: r.coverage })
                        .collect();
                    out.extend(inner.reduce(&sub, weighted));
                }
                out
            }
            Reducer::Group { inner, field, name } => {
                let mut groups: Vec<(f64, bool, Vec<Record>)> = Vec::new();
                for r in records {
                    let key = r.inputs[*field];
                    if key.m <= 0.0 || r.coverage <= 0.0 {
                        continue;
                    }
                    let mut rest = r.inputs.clone();
                    rest.remove(*field);
                    let rec = Record { inputs: rest, coverage: r.coverage };
                    match groups.iter_mut().find(|g| g.0 == key.v) {
                        Some(g) => g.2.push(rec),
                        None => groups.push((key.v, key.int, vec![rec])),
                    }
                }
                groups.sort_by(|a, b| a.0.total_cmp(&b.0));
                let outs = inner.outputs();
                let list = groups
                    .into_iter()
                    .map(|(key, int, recs)| {
                        let mut d = Dict::new();
                        d.insert(name.clone(), number(key, int));
                        for (o, v) in outs.iter().zip(inner.reduce(&recs, weighted)) {
                            d.insert(o.clone(), v);
                        }
                        V::Dict(d)
                    })
                    .collect();
                vec![V::List(list)]
            }
            Reducer::Combine { a, b, shared, .. } => {
                let mut out = Vec::new();
                if *shared {
                    out.extend(a.reduce(records, weighted));
                    out.extend(b.reduce(records, weighted));
                } else {
                    let k = a.inputs();
                    let split = |r: &Record, lo: usize, hi: usize| Record {
                        inputs: r.inputs[lo..hi].to_vec(),
                        coverage: r.coverage,
                    };
                    let ra: Vec<Record> = records.iter().map(|r| split(r, 0, k)).collect();
                    let rb: Vec<Record> = records.iter().map(|r| split(r, k, r.inputs.len())).collect();
                    out.extend(a.reduce(&ra, weighted));
                    out.extend(b.reduce(&rb, weighted));
                }
                out
            }
            Reducer::Unweighted(r) => r.reduce(records, false),
        }
    }
}

/// The valid values of input 0 with their weights (coverage × mask) and integer flag.
fn valid(records: &[Record]) -> Vec<(f64, f64, bool)> {
    records
        .iter()
        .filter_map(|r| {
            let i = r.inputs.first()?;
            (i.m > 0.0 && r.coverage > 0.0).then_some((i.v, r.coverage * i.m, i.int))
        })
        .collect()
}

fn sorted_values(records: &[Record]) -> Vec<f64> {
    let mut v: Vec<f64> = valid(records).into_iter().map(|x| x.0).collect();
    v.sort_by(f64::total_cmp);
    v
}

fn basic(kind: Basic, records: &[Record], weighted: bool) -> Vec<V> {
    let vals = valid(records);
    let all_int = vals.iter().all(|x| x.2);
    let w = |x: &(f64, f64, bool)| if weighted { x.1 } else { 1.0 };
    let n = vals.len() as f64;
    let mean = || (n > 0.0).then(|| vals.iter().map(|x| x.0).sum::<f64>() / n);
    let var = |ddof: f64| {
        mean().filter(|_| n > ddof).map(|m| vals.iter().map(|x| (x.0 - m).powi(2)).sum::<f64>() / (n - ddof))
    };
    let pick = |v: Option<f64>| v.map(|v| number(v, all_int)).unwrap_or(V::Null);
    let one = match kind {
        Basic::Sum => {
            let s: f64 = vals.iter().map(|x| w(x) * x.0).sum();
            let int = all_int && vals.iter().all(|x| w(x) == 1.0);
            number(s, int)
        }
        Basic::Mean => {
            let sw: f64 = vals.iter().map(w).sum();
            if sw > 0.0 {
                V::Float(vals.iter().map(|x| w(x) * x.0).sum::<f64>() / sw)
            } else {
                V::Null
            }
        }
        Basic::Count => V::Int(vals.len() as i64),
        Basic::CountEvery => V::Int(records.iter().filter(|r| r.coverage > 0.0).count() as i64),
        Basic::Min => pick(vals.iter().map(|x| x.0).reduce(f64::min)),
        Basic::Max => pick(vals.iter().map(|x| x.0).reduce(f64::max)),
        Basic::MinMax => {
            return vec![
                pick(vals.iter().map(|x| x.0).reduce(f64::min)),
                pick(vals.iter().map(|x| x.0).reduce(f64::max)),
            ]
        }
        Basic::Median => percentile(&sorted_values(records), 50.0).map(V::Float).unwrap_or(V::Null),
        Basic::Mode => {
            let mut counts: Vec<(f64, usize)> = Vec::new();
            for x in &vals {
                match counts.iter_mut().find(|c| c.0 == x.0) {
                    Some(c) => c.1 += 1,
                    None => counts.push((x.0, 1)),
                }
            }
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.total_cmp(&b.0)));
            pick(counts.first().map(|c| c.0))
        }
        Basic::StdDev => var(0.0).map(|v| V::Float(v.sqrt())).unwrap_or(V::Null),
        Basic::Variance => var(0.0).map(V::Float).unwrap_or(V::Null),
        Basic::SampleStdDev => var(1.0).map(|v| V::Float(v.sqrt())).unwrap_or(V::Null),
        Basic::SampleVariance => var(1.0).map(V::Float).unwrap_or(V::Null),
        Basic::First => vals.first().map(|x| number(x.0, x.2)).unwrap_or(V::Null),
        Basic::Last => vals.last().map(|x| number(x.0, x.2)).unwrap_or(V::Null),
        Basic::FrequencyHistogram => {
            let mut h: BTreeMap<String, f64> = BTreeMap::new();
            for x in &vals {
                let key = if x.2 || x.0.fract() == 0.0 { format!("{}", x.0 as i64) } else { float_text(x.0) };
                *h.entry(key).or_default() += w(x);
            }
            V::Dict(h.into_iter().map(|(k, v)| (k, V::Float(v))).collect())
        }
        Basic::ToList => V::List(vals.iter().map(|x| number(x.0, x.2)).collect()),
        Basic::Product => number(vals.iter().map(|x| x.0).product(), all_int),
        Basic::AllNonZero => V::Int(vals.iter().all(|x| x.0 != 0.0) as i64),
        Basic::AnyNonZero => V::Int(vals.iter().any(|x| x.0 != 0.0) as i64),
        Basic::CountDistinct => {
            let mut v: Vec<f64> = vals.iter().map(|x| x.0).collect();
            v.sort_by(f64::total_cmp);
            v.dedup();
            V::Int(v.len() as i64)
        }
    };
    vec![one]
}

fn reducer_arg(c: &mut Call, name: &str) -> Result<Arc<Reducer>, EvalError> {
    c.req(name)?.into_reducer()
}

fn ok(r: Reducer) -> Result<V, EvalError> {
    Ok(V::Reducer(Arc::new(r)))
}

macro_rules! basic_algo {
    ($f:ident, $kind:expr) => {
        fn $f(_: &mut Call) -> Result<V, EvalError> {
            ok(Reducer::Basic($kind))
        }
    };
}
basic_algo!(sum, Basic::Sum);
basic_algo!(mean, Basic::Mean);
basic_algo!(count, Basic::Count);
basic_algo!(count_every, Basic::CountEvery);
basic_algo!(min_max, Basic::MinMax);
basic_algo!(std_dev, Basic::StdDev);
basic_algo!(variance, Basic::Variance);
basic_algo!(sample_std_dev, Basic::SampleStdDev);
basic_algo!(sample_variance, Basic::SampleVariance);
basic_algo!(first, Basic::First);
basic_algo!(last, Basic::Last);
basic_algo!(frequency_histogram, Basic::FrequencyHistogram);
basic_algo!(product, Basic::Product);
basic_algo!(all_non_zero, Basic::AllNonZero);
basic_algo!(any_non_zero, Basic::AnyNonZero);
basic_algo!(count_distinct, Basic::CountDistinct);

/// `Reducer.min/max{numInputs}`: only one input is modelled.
fn min_or_max(c: &mut Call, kind: Basic) -> Result<V, EvalError> {
    if let Some(n) = c.opt("numInputs") {
        if n.into_i64()? != 1 {
            return Err(EvalError::new("fake-ee models numInputs = 1 only."));
        }
    }
    ok(Reducer::Basic(kind))
}
fn min(c: &mut Call) -> Result<V, EvalError> {
    min_or_max(c, Basic::Min)
}
fn max(c: &mut Call) -> Result<V, EvalError> {
    min_or_max(c, Basic::Max)
}

/// Histogram settings do not change exact results on the fake's few pixels (module doc).
fn histogram_options(c: &mut Call) {
    for a in ["maxBuckets", "minBucketWidth", "maxRaw"] {
        c.opt(a);
    }
}

fn median(c: &mut Call) -> Result<V, EvalError> {
    histogram_options(c);
    ok(Reducer::Basic(Basic::Median))
}
fn mode(c: &mut Call) -> Result<V, EvalError> {
    histogram_options(c);
    ok(Reducer::Basic(Basic::Mode))
}

/// `Reducer.toList{tupleSize, numOptional}`: plain lists only.
fn to_list(c: &mut Call) -> Result<V, EvalError> {
    if c.opt("tupleSize").is_some() || c.opt("numOptional").is_some() {
        return Err(EvalError::new("fake-ee models Reducer.toList without tuples only."));
    }
    ok(Reducer::Basic(Basic::ToList))
}

/// `Reducer.percentile{percentiles, outputNames}`: outputs `p<N>` "e.g. given [0, 50, 100] will produce
/// outputs named 'p0', 'p50', and 'p100'".
fn percentile_algo(c: &mut Call) -> Result<V, EvalError> {
    let ps = c.req("percentiles")?.into_numbers()?;
    if ps.iter().any(|p| !(0.0..=100.0).contains(p)) {
        return Err(EvalError::new("Percentiles must be between 0 and 100."));
    }
    let names = match c.opt("outputNames").map(V::into_strings).transpose()? {
        Some(n) if n.len() != ps.len() => {
            return Err(EvalError::new("outputNames must have one name per percentile."));
        }
        Some(n) => n,
        None => ps.iter().map(|p| percentile_name(*p)).collect(),
    };
    histogram_options(c);
    ok(Reducer::Percentile { ps, names })
}

fn for_each(c: &mut Call) -> Result<V, EvalError> {
    let inner = reducer_arg(c, "reducer")?;
    let names = c.strings("outputNames")?;
    ok(Reducer::ForEach { inner, names })
}

fn group(c: &mut Call) -> Result<V, EvalError> {
    let inner = reducer_arg(c, "reducer")?;
    let field = c.opt("groupField").map(V::into_i64).transpose()?.unwrap_or(0);
    let name = c.opt_string("groupName")?.unwrap_or_else(|| "group".to_string());
    let inputs = inner.inputs() + 1;
    let field = usize::try_from(field).ok().filter(|f| *f < inputs).ok_or_else(|| {
        EvalError::new(format!("groupField {field} is out of range: the grouped reducer has {inputs} inputs."))
    })?;
    ok(Reducer::Group { inner, field, name })
}

fn combine(c: &mut Call) -> Result<V, EvalError> {
    let a = reducer_arg(c, "reducer1")?;
    let b = reducer_arg(c, "reducer2")?;
    let prefix = c.opt_string("outputPrefix")?.unwrap_or_default();
    let shared = c.opt_bool("sharedInputs")?.unwrap_or(false);
    if shared && a.inputs() != b.inputs() {
        return Err(EvalError::new(format!(
            "With sharedInputs the reducers must have the same number of inputs ({} and {}).",
            a.inputs(),
            b.inputs()
        )));
    }
    ok(Reducer::Combine { a, b, prefix, shared })
}

fn unweighted(c: &mut Call) -> Result<V, EvalError> {
    let r = reducer_arg(c, "reducer")?;
    ok(Reducer::Unweighted(r))
}

/// `Reducer.getOutputs`.
fn get_outputs(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::List(reducer_arg(c, "reducer")?.outputs().into_iter().map(V::Str).collect()))
}

/// The reducer a region reduction of `image` applies (module doc) and the image's bands.
fn fit(image: &Image, reducer: Arc<Reducer>) -> Result<(Vec<super::image::Band>, Arc<Reducer>), EvalError> {
    let bands = image.listed()?.to_vec();
    let n = reducer.inputs();
    if n == bands.len() {
        return Ok((bands, reducer));
    }
    if n == 1 {
        let names = bands.iter().map(|b| b.name.clone()).collect();
        return Ok((bands, Arc::new(Reducer::ForEach { inner: reducer, names })));
    }
    Err(EvalError::new(format!(
        "Need {n} bands for the reducer's {n} inputs, but the image has {} ({}).",
        bands.len(),
        bands.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
    )))
}

/// The grid of a region reduction: `scale` (metres) or the first band's default projection.
fn grid(c: &mut Call, bands: &[super::image::Band]) -> Result<f64, EvalError> {
    let scale = super::image::grid_scale(c, "crs")?;
    let scale = scale.or_else(|| bands.first().and_then(|b| b.scale)).unwrap_or(world::DEGREE_METRES);
    Ok(world::grid_degrees(scale))
}

fn records(bands: &[super::image::Band], pixels: &[world::RegionPixel]) -> Vec<Record> {
    pixels
        .iter()
        .map(|p| {
            let px = Px::at(p.cell);
            let inputs = bands
                .iter()
                .map(|b| {
                    let S { v, m } = b.sample(&px);
                    Input { v, m, int: b.int }
                })
                .collect();
            Record { inputs, coverage: p.weight }
        })
        .collect()
}

fn max_pixels(c: &mut Call, arg: &str) -> Result<Option<i64>, EvalError> {
    c.opt(arg).map(V::into_i64).transpose()
}

/// `Image.reduceRegions{image, collection, reducer, scale, crs, crsTransform, tileScale,
/// maxPixelsPerRegion}`: "Apply a reducer over the area of each feature in the given collection …
/// Returns the input features, each augmented with the corresponding reducer outputs."
fn reduce_regions(c: &mut Call) -> Result<V, EvalError> {
    let image = c.image("image")?;
    let features = c.req("collection")?.into_features()?;
    let (bands, reducer) = fit(&image, reducer_arg(c, "reducer")?)?;
    let size = grid(c, &bands)?;
    c.opt("tileScale"); // changes memory use, not numbers
    let max = max_pixels(c, "maxPixelsPerRegion")?;
    let outputs = reducer.outputs();
    let mut out = Vec::with_capacity(features.len());
    for f in features.iter() {
        let g = f.geometry.as_ref().ok_or_else(|| EvalError::new("A feature to reduce over has no geometry."))?;
        let pixels = g.pixels(size);
        if max.is_some_and(|m| pixels.len() as i64 > m) {
            return Err(EvalError::new("Too many pixels in the region."));
        }
        let values = reducer.reduce(&records(&bands, &pixels), true);
        let mut nf: Feature = f.clone();
        for (name, v) in outputs.iter().zip(values) {
            nf.props.insert(name.clone(), v);
        }
        out.push(nf);
    }
    Ok(V::Features(Arc::new(out)))
}

/// `Image.reduceRegion{image, reducer, geometry, scale, crs, crsTransform, maxPixels, tileScale}`:
/// "Returns a dictionary of the reducer's outputs."
fn reduce_region(c: &mut Call) -> Result<V, EvalError> {
    let image = c.image("image")?;
    let (bands, reducer) = fit(&image, reducer_arg(c, "reducer")?)?;
    let g = c.req("geometry")?.into_geometry()?;
    let size = grid(c, &bands)?;
    c.opt("tileScale");
    c.opt("bestEffort");
    let max = max_pixels(c, "maxPixels")?.unwrap_or(10_000_000);
    let pixels = g.pixels(size);
    if pixels.len() as i64 > max {
        return Err(EvalError::new("Too many pixels in the region."));
    }
    let values = reducer.reduce(&records(&bands, &pixels), true);
    Ok(V::Dict(reducer.outputs().into_iter().zip(values).collect()))
}

pub(super) const ALGORITHMS: &[(&str, Algo)] = &[
    ("Reducer.sum", sum),
    ("Reducer.mean", mean),
    ("Reducer.count", count),
    ("Reducer.countEvery", count_every),
    ("Reducer.min", min),
    ("Reducer.max", max),
    ("Reducer.minMax", min_max),
    ("Reducer.median", median),
    ("Reducer.mode", mode),
    ("Reducer.stdDev", std_dev),
    ("Reducer.variance", variance),
    ("Reducer.sampleStdDev", sample_std_dev),
    ("Reducer.sampleVariance", sample_variance),
    ("Reducer.first", first),
    ("Reducer.firstNonNull", first),
    ("Reducer.last", last),
    ("Reducer.lastNonNull", last),
    ("Reducer.frequencyHistogram", frequency_histogram),
    ("Reducer.toList", to_list),
    ("Reducer.product", product),
    ("Reducer.allNonZero", all_non_zero),
    ("Reducer.anyNonZero", any_non_zero),
    ("Reducer.countDistinctNonNull", count_distinct),
    ("Reducer.percentile", percentile_algo),
    ("Reducer.forEach", for_each),
    ("Reducer.group", group),
    ("Reducer.combine", combine),
    ("Reducer.unweighted", unweighted),
    ("Reducer.getOutputs", get_outputs),
    ("Image.reduceRegions", reduce_regions),
    ("Image.reduceRegion", reduce_region),
];
