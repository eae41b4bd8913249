//! Pixel-wise image algorithms: algebra with Earth Engine's band matching, casts, masks,
//! `normalizedDifference` and `remap`. Semantics quoted from the descriptions in `ee-algorithms.json`;
//! a pixel's mask is a weight in [0, 1] (0 = masked) and binary operations keep the smaller of the two.

use std::sync::Arc;

use super::image::{ok, promote, Band, Image, Resolver, S};
use super::value::{Dict, V};
use super::{Algo, Call, EvalError};

/// Pairs the bands of two images as Earth Engine's binary operations document: "If either image1 or
/// image2 has only 1 band, then it is used against all the bands in the other image. If the images have
/// the same number of bands, but not the same names, they're used pairwise in the natural order. The
/// output bands are named for the longer of the two inputs, or if they're equal in length, in image1's
/// order."
pub fn pair(a: &Image, b: &Image) -> Result<Vec<(String, Band, Band)>, EvalError> {
    let (x, y) = (a.listed()?, b.listed()?);
    if x.len() == y.len() {
        return Ok(x.iter().zip(y).map(|(p, q)| (p.name.clone(), p.clone(), q.clone())).collect());
    }
    if x.len() == 1 {
        return Ok(y.iter().map(|q| (q.name.clone(), x[0].clone(), q.clone())).collect());
    }
    if y.len() == 1 {
        return Ok(x.iter().map(|p| (p.name.clone(), p.clone(), y[0].clone())).collect());
    }
    Err(EvalError::new(format!(
        "Images must contain the same number of bands or only 1 band. Got {} and {}.",
        x.len(),
        y.len()
    )))
}

#[derive(Clone, Copy)]
enum Out {
    /// "The type of the output pixels is the union of the input types."
    Union,
    /// "The type of the output pixels is boolean."
    Boolean,
    Double,
}

fn binary(c: &mut Call, out: Out, op: fn(f64, f64, bool) -> Option<f64>) -> Result<V, EvalError> {
    let a = c.image("image1")?;
    let b = c.image("image2")?;
    let mut bands = Vec::new();
    for (name, p, q) in pair(&a, &b)? {
        let int = match out {
            Out::Union => p.int && q.int,
            Out::Boolean => true,
            Out::Double => false,
        };
        let scale = p.scale.or(q.scale);
        bands.push(Band::new(&name, int, scale, move |px| {
            let (s, t) = (p.sample(px), q.sample(px));
            let m = s.m.min(t.m);
            if m <= 0.0 {
                return S::MASKED;
            }
            match op(s.v, t.v, int) {
                Some(v) => S { v, m },
                None => S::MASKED,
            }
        }));
    }
    ok(Image { bands, props: Dict::new(), open: None })
}

fn int_or(int: bool, v: f64) -> f64 {
    if int {
        v.trunc()
    } else {
        v
    }
}

fn add(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Union, |a, b, _| Some(a + b))
}
fn subtract(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Union, |a, b, _| Some(a - b))
}
fn multiply(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Union, |a, b, _| Some(a * b))
}
/// "Divides the first value by the second, returning 0 for division by 0"; integer inputs give an
/// integer (truncated) result, the union of the input types.
fn divide(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Union, |a, b, int| Some(if b == 0.0 { 0.0 } else { int_or(int, a / b) }))
}
fn pow(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Double, |a, b, _| Some(a.powf(b)))
}
fn max(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Union, |a, b, _| Some(a.max(b)))
}
fn min(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Union, |a, b, _| Some(a.min(b)))
}
fn flag(b: bool) -> Option<f64> {
    Some(if b { 1.0 } else { 0.0 })
}
fn eq(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Boolean, |a, b, _| flag(a == b))
}
fn neq(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Boolean, |a, b, _| flag(a != b))
}
fn lt(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Boolean, |a, b, _| flag(a < b))
}
fn lte(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Boolean, |a, b, _| flag(a <= b))
}
fn gt(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Boolean, |a, b, _| flag(a > b))
}
fn gte(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Boolean, |a, b, _| flag(a >= b))
}
fn and(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Boolean, |a, b, _| flag(a != 0.0 && b != 0.0))
}
fn or(c: &mut Call) -> Result<V, EvalError> {
    binary(c, Out::Boolean, |a, b, _| flag(a != 0.0 || b != 0.0))
}

/// A per-band unary operation on the argument `arg`.
fn unary(c: &mut Call, arg: &str, int: Option<bool>, op: fn(f64) -> f64) -> Result<V, EvalError> {
    let img = c.image(arg)?;
    let bands = img
        .listed()?
        .iter()
        .map(|b| {
            let (b2, int) = (b.clone(), int.unwrap_or(b.int));
            Band::new(&b.name, int, b.scale, move |px| {
                let s = b2.sample(px);
                if s.valid() {
                    S { v: op(s.v), m: s.m }
                } else {
                    S::MASKED
                }
            })
        })
        .collect();
    ok(img.with_bands(bands))
}

/// `Image.toFloat`/`float`: "Casts the input value to a 32-bit float."
fn to_float(c: &mut Call) -> Result<V, EvalError> {
    unary(c, "value", Some(false), |v| v as f32 as f64)
}
/// `Image.toInt`/`int`: "Casts the input value to a signed 32-bit integer."
fn to_int(c: &mut Call) -> Result<V, EvalError> {
    unary(c, "value", Some(true), |v| v.trunc().clamp(i32::MIN as f64, i32::MAX as f64))
}
fn abs(c: &mut Call) -> Result<V, EvalError> {
    unary(c, "value", None, f64::abs)
}
fn not(c: &mut Call) -> Result<V, EvalError> {
    unary(c, "value", Some(true), |v| if v == 0.0 { 1.0 } else { 0.0 })
}

/// The mask image applied band-wise: "If this image has a single band, it is used for all bands in the
/// input image; otherwise, must have the same number of bands as the input image."
fn mask_pairs(img: &Image, mask: &Image) -> Result<Vec<(Band, Band)>, EvalError> {
    let m = mask.listed()?;
    let bands = img.listed()?;
    if m.len() == 1 {
        return Ok(bands.iter().map(|b| (b.clone(), m[0].clone())).collect());
    }
    if m.len() != bands.len() {
        return Err(EvalError::new(format!(
            "The mask must have 1 band or as many bands as the image: got {} for {}.",
            m.len(),
            bands.len()
        )));
    }
    Ok(bands.iter().cloned().zip(m.iter().cloned()).collect())
}

/// A mask image's weight at a pixel: its value clamped to [0, 1], 0 where the mask image is masked.
fn weight(s: S) -> f64 {
    if s.valid() {
        s.v.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// `Image.updateMask{image, mask}`: "Updates an image's mask at all positions where the existing mask is
/// not zero … New mask for the image, as a floating-point value in the range [0, 1]". The new mask is the
/// smaller of the two. An image whose bands are not listed keeps resolving by name, each band masked.
fn update_mask(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("image")?;
    let mask = c.image("mask")?;
    let apply = |b: Band, m: Band| {
        let b2 = b.clone();
        Band::new(&b.name, b.int, b.scale, move |px| {
            let s = b2.sample(px);
            let w = s.m.min(weight(m.sample(px)));
            if w > 0.0 {
                S { v: s.v, m: w }
            } else {
                S::MASKED
            }
        })
    };
    if let Some((what, r)) = &img.open {
        let m = mask.listed()?;
        if m.len() != 1 {
            return Err(EvalError::new("A mask for an image whose bands are not listed must have 1 band."));
        }
        let (m, r) = (m[0].clone(), r.clone());
        let resolver: Resolver = Arc::new(move |name| r(name).map(|b| apply(b, m.clone())));
        return ok(Image { bands: Vec::new(), props: img.props.clone(), open: Some((what.clone(), resolver)) });
    }
    let bands = mask_pairs(&img, &mask)?.into_iter().map(|(b, m)| apply(b, m)).collect();
    ok(img.with_bands(bands))
}

/// `Image.mask{image, mask?}`: without `mask`, "returns an image created from the mask of the input image,
/// scaled to the range [0:1] (invalid = 0, valid = 1.0)" (valid everywhere itself); with `mask`, the input
/// "given the mask by the values of this image" (pixels unmasked this way read 0).
fn mask(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("image")?;
    match c.opt("mask") {
        None => {
            let bands = img
                .listed()?
                .iter()
                .map(|b| {
                    let b2 = b.clone();
                    Band::new(&b.name, false, b.scale, move |px| S::of(b2.sample(px).m))
                })
                .collect();
            ok(img.with_bands(bands))
        }
        Some(m) => {
            let m = promote(m)?;
            let bands = mask_pairs(&img, &m)?
                .into_iter()
                .map(|(b, m)| {
                    let b2 = b.clone();
                    Band::new(&b.name, b.int, b.scale, move |px| {
                        let s = b2.sample(px);
                        let w = weight(m.sample(px));
                        S { v: if s.valid() { s.v } else { 0.0 }, m: w }
                    })
                })
                .collect();
            ok(img.with_bands(bands))
        }
    }
}

/// `Image.selfMask`: "Updates an image's mask … using the value of the image as the new mask value."
fn self_mask(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("image")?;
    let bands = img
        .listed()?
        .iter()
        .map(|b| {
            let b2 = b.clone();
            Band::new(&b.name, b.int, b.scale, move |px| {
                let s = b2.sample(px);
                let w = s.m.min(weight(S::of(s.v)));
                if w > 0.0 {
                    S { v: s.v, m: w }
                } else {
                    S::MASKED
                }
            })
        })
        .collect();
    ok(img.with_bands(bands))
}

/// `Image.unmask{input, value}`: masked pixels take the value (default: constant 0, valid everywhere).
fn unmask(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("input")?;
    let value = match c.opt("value") {
        Some(v) => promote(v)?,
        None => promote(V::Int(0))?,
    };
    c.opt("sameFootprint");
    let bands = mask_pairs(&img, &value)?
        .into_iter()
        .map(|(b, v)| {
            let b2 = b.clone();
            Band::new(&b.name, b.int && v.int, b.scale, move |px| {
                let s = b2.sample(px);
                if s.valid() {
                    s
                } else {
                    v.sample(px)
                }
            })
        })
        .collect();
    ok(img.with_bands(bands))
}

/// `Image.normalizedDifference{input, bandNames}`: "(first − second) / (first + second) … the returned
/// image band name is 'nd', the input image properties are not retained … a negative pixel value in
/// either input band will cause the output pixel to be masked." A zero sum is masked too.
fn normalized_difference(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("input")?;
    let (first, second) = match c.opt("bandNames").map(V::into_strings).transpose()? {
        Some(n) if n.len() == 2 => {
            let get =
                |n: &str| img.band(n).ok_or_else(|| EvalError::new(format!("Pattern '{n}' did not match any bands.")));
            (get(&n[0])?, get(&n[1])?)
        }
        Some(n) => return Err(EvalError::new(format!("Need exactly 2 band names, got {}.", n.len()))),
        None => {
            let b = img.listed()?;
            if b.len() < 2 {
                return Err(EvalError::new("The image needs at least 2 bands."));
            }
            (b[0].clone(), b[1].clone())
        }
    };
    let scale = first.scale;
    let band = Band::new("nd", false, scale, move |px| {
        let (a, b) = (first.sample(px), second.sample(px));
        let m = a.m.min(b.m);
        if m <= 0.0 || a.v < 0.0 || b.v < 0.0 || a.v + b.v == 0.0 {
            return S::MASKED;
        }
        S { v: (a.v - b.v) / (a.v + b.v), m }
    });
    ok(Image { bands: vec![band], ..Image::default() })
}

/// `Image.remap{image, from, to, defaultValue, bandName}`: values in `from` become the matching `to`,
/// others `defaultValue` or masked; "only the remapped band will be returned. The returned band name is
/// 'remapped'. Input image properties are retained" (apidocs example of ee.Image.remap).
fn remap(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("image")?;
    let from = c.req("from")?.into_numbers()?;
    let to_values = c.req("to")?.into_list()?;
    if from.len() != to_values.len() {
        return Err(EvalError::new("'from' and 'to' must have the same number of values."));
    }
    let int = to_values.iter().all(|v| matches!(v, V::Int(_)));
    let to: Vec<f64> = to_values.into_iter().map(V::into_f64).collect::<Result<_, _>>()?;
    let default = c.opt_f64("defaultValue")?;
    let band = match c.opt_string("bandName")? {
        Some(n) => img.band(&n).ok_or_else(|| EvalError::new(format!("Pattern '{n}' did not match any bands.")))?,
        None => img.listed()?.first().cloned().ok_or_else(|| EvalError::new("The image has no bands."))?,
    };
    let scale = band.scale;
    let out = Band::new("remapped", int && default.is_none_or(|d| d.fract() == 0.0), scale, move |px| {
        let s = band.sample(px);
        if !s.valid() {
            return S::MASKED;
        }
        match from.iter().position(|f| *f == s.v).map(|i| to[i]).or(default) {
            Some(v) => S { v, m: s.m },
            None => S::MASKED,
        }
    });
    ok(Image { bands: vec![out], props: img.props.clone(), open: None })
}

pub(super) const ALGORITHMS: &[(&str, Algo)] = &[
    ("Image.add", add),
    ("Image.subtract", subtract),
    ("Image.multiply", multiply),
    ("Image.divide", divide),
    ("Image.pow", pow),
    ("Image.max", max),
    ("Image.min", min),
    ("Image.eq", eq),
    ("Image.neq", neq),
    ("Image.lt", lt),
    ("Image.lte", lte),
    ("Image.gt", gt),
    ("Image.gte", gte),
    ("Image.and", and),
    ("Image.or", or),
    ("Image.not", not),
    ("Image.abs", abs),
    ("Image.toFloat", to_float),
    ("Image.float", to_float),
    ("Image.toInt", to_int),
    ("Image.int", to_int),
    ("Image.updateMask", update_mask),
    ("Image.mask", mask),
    ("Image.selfMask", self_mask),
    ("Image.unmask", unmask),
    ("Image.normalizedDifference", normalized_difference),
    ("Image.remap", remap),
];
