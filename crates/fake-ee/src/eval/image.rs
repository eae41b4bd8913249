//! Images: bands as pure functions of a pixel (value and mask), so an image is composed lazily and
//! only the pixels a reduction asks for are ever computed. The image algorithms of the table live here
//! (loading, selecting and renaming bands, constants, `pixelArea`, projections and clipping) and in
//! [`super::pixelwise`] (algebra with Earth Engine's band matching, masks, `normalizedDifference`, `remap`).
//!
//! Semantics follow the descriptions in `ee-algorithms.json` (quoted at each row). A pixel's mask is a
//! weight in [0, 1] (0 = masked); binary operations keep the smaller mask of the two operands.
//!
//! **Images whose bands are not listed.** The synthetic world does not say which bands an asset has: an
//! `Image.load` (or an image of `ImageCollection.load`) reads any band by name, so its bands are
//! resolved when selected by name. Operations that need the band list (index selectors, `rename`, `cat`,
//! algebra, reductions) refuse such an image with an error saying to select bands first.

use std::fmt;
use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::value::{Dict, V};
use super::{Algo, Call, EvalError};
use crate::world::{self, Cell};

/// A pixel sample: value and mask weight (0 = masked).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct S {
    pub v: f64,
    pub m: f64,
}

impl S {
    pub const MASKED: S = S { v: 0.0, m: 0.0 };
    pub fn valid(&self) -> bool {
        self.m > 0.0
    }
    pub fn of(v: f64) -> S {
        S { v, m: 1.0 }
    }
}

/// Where a band is evaluated: the centre of a cell of the computation grid.
#[derive(Clone, Copy, Debug)]
pub struct Px {
    pub lon: f64,
    pub lat: f64,
    pub cell: Cell,
}

impl Px {
    pub fn at(cell: Cell) -> Px {
        let (lon, lat) = cell.centre();
        Px { lon, lat, cell }
    }
}

pub type PixFn = Arc<dyn Fn(&Px) -> S + Send + Sync>;

/// One band.
#[derive(Clone)]
pub struct Band {
    pub name: String,
    /// Integer pixel type (else double).
    pub int: bool,
    pub f: PixFn,
    /// Nominal scale of the band's default projection in metres (`None`: WGS84 at 1°, Earth Engine's
    /// default for computed images).
    pub scale: Option<f64>,
}

impl fmt::Debug for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Band({}{})", self.name, if self.int { ", int" } else { "" })
    }
}

impl Band {
    pub fn new(name: &str, int: bool, scale: Option<f64>, f: impl Fn(&Px) -> S + Send + Sync + 'static) -> Band {
        Band { name: name.to_string(), int, f: Arc::new(f), scale }
    }
    pub fn renamed(&self, name: &str) -> Band {
        Band { name: name.to_string(), ..self.clone() }
    }
    pub fn sample(&self, px: &Px) -> S {
        (self.f)(px)
    }
}

/// Resolves a band of an image whose bands are not listed, by name.
pub type Resolver = Arc<dyn Fn(&str) -> Option<Band> + Send + Sync>;

/// An image.
#[derive(Clone, Default)]
pub struct Image {
    pub bands: Vec<Band>,
    pub props: Dict,
    /// Set for images whose bands are not listed (see the module doc), with a description.
    pub open: Option<(String, Resolver)>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.open {
            Some((what, _)) => write!(f, "Image(open: {what})"),
            None => write!(f, "Image({:?})", self.bands),
        }
    }
}

/// Native scale of every asset band of the synthetic world (metres).
pub fn native_scale() -> f64 {
    world::NATIVE_DEG * world::DEGREE_METRES
}

impl Image {
    /// An image of `asset` (at `time` for collection images) whose bands read the synthetic world.
    pub fn from_world(asset: &str, time: Option<i64>, props: Dict) -> Image {
        let a = asset.to_string();
        let resolver: Resolver = Arc::new(move |band: &str| {
            let (a, b) = (a.clone(), band.to_string());
            Some(Band::new(band, true, Some(native_scale()), move |px| {
                world::band_value(&a, &b, time, px.lon, px.lat).map(|v| S::of(v as f64)).unwrap_or(S::MASKED)
            }))
        });
        Image { bands: Vec::new(), props, open: Some((format!("asset `{asset}`"), resolver)) }
    }

    /// The listed bands, or an error for an image whose bands are not listed.
    pub fn listed(&self) -> Result<&[Band], EvalError> {
        match &self.open {
            Some((what, _)) => Err(EvalError::new(format!(
                "fake-ee cannot list the bands of {what}: the synthetic world reads bands by name, so select \
                 the bands you need (Image.select with names) first."
            ))),
            None => Ok(&self.bands),
        }
    }

    /// A band by exact name (listed or resolved).
    pub fn band(&self, name: &str) -> Option<Band> {
        match &self.open {
            Some((_, r)) => r(name),
            None => self.bands.iter().find(|b| b.name == name).cloned(),
        }
    }

    pub fn names(&self) -> Result<Vec<String>, EvalError> {
        Ok(self.listed()?.iter().map(|b| b.name.clone()).collect())
    }

    pub(super) fn with_bands(&self, bands: Vec<Band>) -> Image {
        Image { bands, props: self.props.clone(), open: None }
    }

    /// The image as `value:compute` describes it (`type`, `bands` with `id` and `data_type`, `properties`).
    pub fn info(&self) -> Json {
        let bands: Vec<Json> = self
            .bands
            .iter()
            .map(|b| json!({"id": b.name, "data_type": {"type": "PixelType", "precision": if b.int { "int" } else { "double" }}}))
            .collect();
        let props: serde_json::Map<String, Json> = self.props.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        json!({"type": "Image", "bands": bands, "properties": props})
    }
}

/// Earth Engine's promotion: a number (or list of numbers) where an image is expected is a constant image.
pub fn promote(v: V) -> Result<Arc<Image>, EvalError> {
    match v {
        V::Image(i) => Ok(i),
        V::Int(_) | V::Float(_) | V::List(_) => Ok(Arc::new(constant(v)?)),
        other => Err(EvalError::new(format!("Expected an Image, got a {}.", other.type_name()))),
    }
}

/// `Image.constant`: "Generates an image containing a constant value everywhere." One band `constant`
/// (a list gives `constant_0`, `constant_1`, …), unmasked.
fn constant(v: V) -> Result<Image, EvalError> {
    let values: Vec<V> = match v {
        V::List(l) => l,
        other => vec![other],
    };
    let n = values.len();
    let mut bands = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let int = matches!(v, V::Int(_));
        let x = v.into_f64()?;
        let name = if n == 1 { "constant".to_string() } else { format!("constant_{i}") };
        bands.push(Band::new(&name, int, None, move |_| S::of(x)));
    }
    Ok(Image { bands, props: Dict::new(), open: None })
}

pub(super) fn ok(img: Image) -> Result<V, EvalError> {
    Ok(V::Image(Arc::new(img)))
}

fn load(c: &mut Call) -> Result<V, EvalError> {
    let id = c.string("id")?;
    c.opt("version");
    let mut props = Dict::new();
    props.insert("system:id".into(), V::Str(id.clone()));
    ok(Image::from_world(&id, None, props))
}

fn constant_algo(c: &mut Call) -> Result<V, EvalError> {
    ok(constant(c.req("value")?)?)
}

/// `Image.pixelArea`: "the value of each pixel is the area of that pixel in square meters … a single
/// band called 'area'", the cell of the computation grid ([`world::cell_area`]).
fn pixel_area(_: &mut Call) -> Result<V, EvalError> {
    ok(Image {
        bands: vec![Band::new("area", false, None, |px| S::of(world::cell_area(&px.cell)))],
        ..Image::default()
    })
}

const REGEX_CHARS: &[char] = &['.', '*', '+', '?', '[', ']', '(', ')', '{', '}', '|', '^', '$', '\\'];

/// `Image.select{input, bandSelectors, newNames}`: "Selects bands from an image by name, RE2-compatible
/// regex, or index and optionally renames them." A pattern matches whole band names; no match is an error.
fn select(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("input")?;
    let selectors = c.req("bandSelectors")?.into_list()?;
    let new_names = c.opt("newNames").map(V::into_strings).transpose()?;
    let mut out: Vec<Band> = Vec::new();
    for s in selectors {
        match s {
            V::Int(i) => {
                let bands = img.listed()?;
                let b = usize::try_from(i).ok().and_then(|i| bands.get(i)).ok_or_else(|| {
                    EvalError::new(format!("Band index {i} out of range: the image has {} bands.", bands.len()))
                })?;
                out.push(b.clone());
            }
            V::Str(p) if img.open.is_some() => {
                if p.contains(REGEX_CHARS) {
                    img.listed()?;
                }
                out.push(
                    img.band(&p).ok_or_else(|| EvalError::new(format!("Pattern '{p}' did not match any bands.")))?,
                );
            }
            V::Str(p) => {
                let re = regex::Regex::new(&format!("^(?:{p})$"))
                    .map_err(|e| EvalError::new(format!("Invalid band pattern '{p}': {e}")))?;
                let hits: Vec<Band> = img.bands.iter().filter(|b| re.is_match(&b.name)).cloned().collect();
                if hits.is_empty() {
                    return Err(EvalError::new(format!("Pattern '{p}' did not match any bands.")));
                }
                out.extend(hits);
            }
            other => return Err(EvalError::new(format!("Invalid band selector: {}.", other.type_name()))),
        }
    }
    if let Some(names) = new_names {
        if names.len() != out.len() {
            return Err(EvalError::new(format!(
                "The number of new names ({}) must match the number of selected bands ({}).",
                names.len(),
                out.len()
            )));
        }
        out = out.iter().zip(&names).map(|(b, n)| b.renamed(n)).collect();
    }
    ok(img.with_bands(out))
}

/// `Image.rename{input, names}`: "Must exactly match the number of bands in input."
fn rename(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("input")?;
    let names = c.strings("names")?;
    let bands = img.listed()?;
    if names.len() != bands.len() {
        return Err(EvalError::new(format!(
            "The number of names ({}) must match the number of bands ({}).",
            names.len(),
            bands.len()
        )));
    }
    ok(img.with_bands(bands.iter().zip(&names).map(|(b, n)| b.renamed(n)).collect()))
}

/// A name not yet used: `foo`, else `foo_1`, `foo_2`, … (as `Image.addBands` documents).
fn unique_name(name: &str, taken: &[Band]) -> String {
    if !taken.iter().any(|b| b.name == name) {
        return name.to_string();
    }
    (1..).map(|i| format!("{name}_{i}")).find(|n| !taken.iter().any(|b| &b.name == n)).unwrap_or_default()
}

/// `Image.cat{images}`: "all bands from all of the images. If two or more bands share a name, they are
/// suffixed with an incrementing index. The resulting image will have the metadata from the first input
/// image, only. This function will promote constant values into constant images."
fn cat(c: &mut Call) -> Result<V, EvalError> {
    let images = c.req("images")?.into_list()?;
    let mut bands: Vec<Band> = Vec::new();
    let mut props = None;
    for v in images {
        let img = promote(v)?;
        props.get_or_insert_with(|| img.props.clone());
        for b in img.listed()? {
            let name = unique_name(&b.name, &bands);
            bands.push(b.renamed(&name));
        }
    }
    ok(Image { bands, props: props.unwrap_or_default(), open: None })
}

/// `Image.addBands{dstImg, srcImg, names, overwrite}`: bands of the first, then the (named) bands of the
/// second, replacing same-named bands when `overwrite`, else renamed `foo_1`, `foo_2`, …
fn add_bands(c: &mut Call) -> Result<V, EvalError> {
    let dst = c.image("dstImg")?;
    let src = c.image("srcImg")?;
    let names = c.opt("names").map(V::into_strings).transpose()?;
    let overwrite = c.opt_bool("overwrite")?.unwrap_or(false);
    let mut bands: Vec<Band> = dst.listed()?.to_vec();
    let src_bands: Vec<Band> = match names {
        Some(n) => n
            .iter()
            .map(|n| src.band(n).ok_or_else(|| EvalError::new(format!("Pattern '{n}' did not match any bands."))))
            .collect::<Result<_, _>>()?,
        None => src.listed()?.to_vec(),
    };
    for b in src_bands {
        if overwrite {
            if let Some(slot) = bands.iter_mut().find(|x| x.name == b.name) {
                *slot = b;
                continue;
            }
            bands.push(b);
        } else {
            let name = unique_name(&b.name, &bands);
            bands.push(b.renamed(&name));
        }
    }
    ok(dst.with_bands(bands))
}

/// `Image.bandNames`.
fn band_names(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::List(c.image("image")?.names()?.into_iter().map(V::Str).collect()))
}

/// The scale (metres) a projection argument with an optional transform and scale sets, EPSG:4326 only.
pub fn grid_scale(c: &mut Call, crs_arg: &str) -> Result<Option<f64>, EvalError> {
    let crs = c.opt(crs_arg).map(V::into_projection).transpose()?;
    let transform = c.opt("crsTransform").map(V::into_numbers).transpose()?;
    let scale = c.opt_f64("scale")?;
    if let Some(p) = &crs {
        if p.crs != "EPSG:4326" {
            return Err(EvalError::new(format!("fake-ee computes on EPSG:4326 grids only, not {}.", p.crs)));
        }
    }
    let from_transform = transform.or_else(|| crs.as_ref().and_then(|p| p.transform.clone()));
    Ok(scale
        .or_else(|| crs.as_ref().and_then(|p| p.scale))
        .or_else(|| from_transform.and_then(|t| t.first().map(|x| x.abs() * world::DEGREE_METRES))))
}

/// `Image.projection{image}`: "Returns the default projection of an Image. Throws an error if the bands of
/// the image don't all have the same projection." Every grid here is EPSG:4326; a band without a
/// projection of its own has Earth Engine's default, WGS84 at 1°.
fn projection(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("image")?;
    let scales: Vec<Option<f64>> = img.listed()?.iter().map(|b| b.scale).collect();
    if scales.windows(2).any(|w| w[0] != w[1]) {
        return Err(EvalError::new(
            "Image.projection: The bands of the specified image contains different projections. Use Image.select \
             to pick a single band.",
        ));
    }
    let scale = scales.first().copied().flatten().unwrap_or(world::DEGREE_METRES);
    Ok(V::Projection(Arc::new(super::value::Projection {
        crs: "EPSG:4326".into(),
        transform: None,
        scale: Some(scale),
    })))
}

/// `Image.setDefaultProjection{image, crs, crsTransform, scale}`: sets the bands' default projection.
fn set_default_projection(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("image")?;
    let scale = grid_scale(c, "crs")?;
    let bands = img.listed()?.iter().map(|b| Band { scale, ..b.clone() }).collect();
    ok(img.with_bands(bands))
}

/// `Image.reproject{image, crs, crsTransform, scale}`: "Force an image to be computed in a given
/// projection and resolution": each band is computed at the centre of the cell of that grid containing
/// the pixel asked for (nearest neighbour), `pixelArea` included.
fn reproject(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("image")?;
    let scale =
        grid_scale(c, "crs")?.ok_or_else(|| EvalError::new("Image.reproject needs a scale or crsTransform."))?;
    let size = world::grid_degrees(scale);
    let bands = img
        .listed()?
        .iter()
        .map(|b| {
            let b2 = b.clone();
            Band::new(&b.name, b.int, Some(scale), move |px| b2.sample(&Px::at(Cell::containing(px.lon, px.lat, size))))
        })
        .collect();
    ok(img.with_bands(bands))
}

fn clip_to(img: &Image, g: Arc<super::geometry::Geometry>, bbox: bool) -> Result<Image, EvalError> {
    let bounds = g.bounds();
    let inside = move |x: f64, y: f64| {
        if bbox {
            bounds.is_some_and(|(w, s, e, n)| x >= w && x <= e && y >= s && y <= n)
        } else {
            g.contains_point(x, y)
        }
    };
    let inside = Arc::new(inside);
    let bands = img
        .listed()?
        .iter()
        .map(|b| {
            let (b2, inside) = (b.clone(), inside.clone());
            Band::new(&b.name, b.int, b.scale, move |px| if inside(px.lon, px.lat) { b2.sample(px) } else { S::MASKED })
        })
        .collect();
    Ok(img.with_bands(bands))
}

/// `Image.clip{input, geometry}`: "data not covered by the geometry is masked" (a pixel is covered when
/// its centre is inside).
fn clip(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("input")?;
    let g = c.req("geometry")?.into_geometry()?;
    ok(clip_to(&img, g, false)?)
}

/// `Image.clipToBoundsAndScale{input, geometry, scale}`: clipped to the geometry's bounding box, at `scale`.
fn clip_to_bounds_and_scale(c: &mut Call) -> Result<V, EvalError> {
    let img = c.image("input")?;
    let g = c.req("geometry")?.into_geometry()?;
    for dim in ["width", "height", "maxDimension"] {
        if c.opt(dim).is_some() {
            return Err(EvalError::new(format!("fake-ee does not model `{dim}`; give `scale`.")));
        }
    }
    let scale = c.opt_f64("scale")?;
    let mut out = clip_to(&img, g, true)?;
    if scale.is_some() {
        out.bands.iter_mut().for_each(|b| b.scale = scale);
    }
    ok(out)
}

pub(super) const ALGORITHMS: &[(&str, Algo)] = &[
    ("Image.load", load),
    ("Image.constant", constant_algo),
    ("Image.pixelArea", pixel_area),
    ("Image.select", select),
    ("Image.rename", rename),
    ("Image.cat", cat),
    ("Image.addBands", add_bands),
    ("Image.bandNames", band_names),
    ("Image.projection", projection),
    ("Image.setDefaultProjection", set_default_projection),
    ("Image.reproject", reproject),
    ("Image.clip", clip),
    ("Image.clipToBoundsAndScale", clip_to_bounds_and_scale),
];
