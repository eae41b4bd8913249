//! Image exports (`kind: image`): one `image:export` request per site and layer-year (`per: site`) or per
//! layer-year over the bounding box of all sites (`per: region`).
//!
//! The region, scale and projection are folded into the expression the way the official clients do it
//! (see `docs/computation.md`): `Image.reproject` + `Image.clip` for an exact `crs_transform` grid,
//! otherwise `Image.setDefaultProjection` (when `crs` is set) and `Image.clipToBoundsAndScale` (when a
//! scale is known) or `Image.clip`.
//!
//! [`ImagePlanner`] is the kind's planning for [`super::Planner`]: one chunk per export, never split. What an
//! export covers is a [`Cover`]; the figures of its `maxPixels` estimate are an [`Extent`], gathered a
//! point at a time, so the streamed planning ([`super::image_stream`]) never holds the sites of a
//! `per: region` export.

use serde_json::{json, Map, Value};

use super::cells::Part;
use super::compute::{num, site_geometry, BuildError, PreparedLayer};
use super::kind::{Built, Chunk, Inputs, KindPlanner};
use super::probe::{wrap, ProbeCall, ProbeError, ValueProbe};
use super::request::{self, base_body, join_prefix};
use super::{Endpoint, PlanError, Target, Task};
use crate::diag::{Code, Diagnostic};
use crate::expr::{Graph, Id};
use crate::pipeline::{Destination, FileFormatName, ImageExport, ImagePer, Pipeline, PyramidingName};
use crate::sites::Site;

/// One image export before its request is built.
#[derive(Debug, Clone)]
pub struct ImageUnit {
    /// `{layer}-{year}` (`per: region`) or `{layer}-{year}-s{site index:05}` (`per: site`).
    pub chunk_id: String,
    /// Index into the prepared layers.
    pub layer: usize,
    /// Index into that layer's rendered images.
    pub image: usize,
    /// Indices of the sites the export covers.
    pub sites: Vec<usize>,
}

/// The exports of an image pipeline, in order: layers, then years, then sites.
pub fn units(opts: &ImageExport, layers: &[PreparedLayer], n_sites: usize) -> Vec<ImageUnit> {
    let mut out = Vec::new();
    for (li, layer) in layers.iter().enumerate() {
        for (ii, (year, _)) in layer.images.iter().enumerate() {
            match opts.per {
                ImagePer::Region => out.push(ImageUnit {
                    chunk_id: region_chunk_id(&layer.name, *year),
                    layer: li,
                    image: ii,
                    sites: (0..n_sites).collect(),
                }),
                ImagePer::Site => out.extend((0..n_sites).map(|s| ImageUnit {
                    chunk_id: site_chunk_id(&layer.name, *year, s),
                    layer: li,
                    image: ii,
                    sites: vec![s],
                })),
            }
        }
    }
    out
}

/// Why image pipelines run only as export tasks.
pub const EXPORT_ONLY: &str = "`kind: image` pipelines run as export tasks";

/// The chunk id of the export of site `s` (its place in the site file) for a layer-year (`per: site`).
pub fn site_chunk_id(layer: &str, year: i32, s: usize) -> String {
    format!("{layer}-{year}-s{s:05}")
}

/// The chunk id of the export of a layer-year over the region of all sites (`per: region`).
pub fn region_chunk_id(layer: &str, year: i32) -> String {
    format!("{layer}-{year}")
}

/// What one export covers: one site (`per: site`), or the bounding box of all sites (`per: region`;
/// `None` when there are none).
#[derive(Clone, Copy)]
pub enum Cover<'a> {
    Site(&'a Site),
    Region(Option<[f64; 4]>),
}

impl<'a> Cover<'a> {
    /// The cover of an export of `sites` (one site for `per: site`).
    pub fn of(opts: &ImageExport, sites: &[&'a Site]) -> Cover<'a> {
        match (opts.per, sites) {
            (ImagePer::Site, [site]) => Cover::Site(site),
            _ => Cover::Region(bounds(sites)),
        }
    }
}

/// The `image:export` task of one export: image `image` of `layer` over `cover`, for the sites `site_ids`
/// (its request id and records list them).
pub fn export_task(
    p: &Pipeline,
    opts: &ImageExport,
    layer: &PreparedLayer,
    image: usize,
    chunk_id: &str,
    site_ids: Vec<String>,
    cover: Cover<'_>,
) -> Result<Task, BuildError> {
    let expression = expression(p, opts, layer, image, cover)?;
    Ok(request::task(p, chunk_id, site_ids, |description, request_id| {
        body(p, opts, chunk_id, description, request_id, expression)
    }))
}

/// The warning of an export of `layer` over `extent` larger than `maxPixels`, which Earth Engine would
/// refuse.
pub fn max_pixels_warning(
    p: &Pipeline,
    opts: &ImageExport,
    layer: &PreparedLayer,
    chunk_id: &str,
    extent: &Extent,
) -> Option<Diagnostic> {
    let limit = opts.max_pixels.unwrap_or(ImageExport::EE_DEFAULT_MAX_PIXELS);
    let px = estimated_pixels(opts, layer, extent)?;
    (px > limit as f64).then(|| {
        Diagnostic::warning(
            Code::PlanMaxPixels,
            format!(
                "export `{chunk_id}` covers about {px:.0} pixels per band, more than `maxPixels` ({limit}): Earth \
                 Engine will refuse it"
            ),
        )
        .in_file(p.source.display().to_string())
        .with_help("raise `image.max_pixels`, use a coarser `image.scale`, or export `per: site`")
    })
}

/// An image pipeline's planning: one chunk per export ([`units`]), never split.
#[derive(Debug)]
pub struct ImagePlanner {
    opts: ImageExport,
    units: Vec<ImageUnit>,
}

impl ImagePlanner {
    pub fn new(opts: &ImageExport, layers: &[PreparedLayer], n_sites: usize) -> ImagePlanner {
        ImagePlanner { opts: opts.clone(), units: units(opts, layers, n_sites) }
    }

    /// The `image:export` task of one export.
    fn task(&self, inputs: &Inputs, u: &ImageUnit) -> Result<Task, Vec<Diagnostic>> {
        let sites = inputs.chosen(&u.sites);
        let ids = sites.iter().map(|s| s.id.clone()).collect();
        let cover = Cover::of(&self.opts, &sites);
        export_task(&inputs.pipeline, &self.opts, &inputs.layers[u.layer], u.image, &u.chunk_id, ids, cover)
            .map_err(|e| inputs.expression_error(e))
    }
}

impl KindPlanner for ImagePlanner {
    /// An export larger than `maxPixels`, which Earth Engine would refuse.
    fn warnings(&self, inputs: &Inputs) -> Vec<Diagnostic> {
        let p = &inputs.pipeline;
        let layer = |u: &ImageUnit| &inputs.layers[u.layer];
        let extent = |u: &ImageUnit| Extent::of(&self.opts, std::slice::from_ref(layer(u)), &inputs.chosen(&u.sites));
        self.units.iter().filter_map(|u| max_pixels_warning(p, &self.opts, layer(u), &u.chunk_id, &extent(u))).collect()
    }

    fn export_only(&self) -> Option<&'static str> {
        Some(EXPORT_ONLY)
    }

    fn chunk(&self, inputs: &Inputs) -> Result<Vec<(Chunk, Built)>, Vec<Diagnostic>> {
        let mut out = Vec::with_capacity(self.units.len());
        for u in &self.units {
            let built = Built::from(self.task(inputs, u)?);
            out.push((Chunk { sites: u.sites.clone(), parts: Vec::new() }, built));
        }
        Ok(out)
    }

    /// The chunks are the exports, in order.
    fn rebuild(&self, inputs: &Inputs, index: usize, chunk_id: &str, _chunk: &Chunk) -> Result<Built, PlanError> {
        let u = self.units.get(index).ok_or_else(|| PlanError::UnknownExport(chunk_id.to_string()))?;
        Ok(Built::from(self.task(inputs, u)?))
    }

    /// Image exports are not split: only a planned export is built again.
    fn split(&self, inputs: &Inputs, chunk_id: &str, _: &[String], _: Option<&[Part]>) -> Result<Built, PlanError> {
        let Some(u) = self.units.iter().find(|u| u.chunk_id == chunk_id) else {
            return Err(PlanError::UnknownExport(chunk_id.to_string()));
        };
        Ok(Built::from(self.task(inputs, u)?))
    }

    /// The first export's image wrapped in `Image.bandNames`.
    fn probe(&self, inputs: &Inputs, _first: Option<&Chunk>, _sites: usize) -> Result<ProbeCall, ProbeError> {
        let u = self.units.first().ok_or(ProbeError::NoImageExport)?;
        let task = self.task(inputs, u).map_err(ProbeError::Image)?;
        Ok(ProbeCall::Value {
            expression: wrap(&task.body["expression"], "Image.bandNames", "image"),
            what: ValueProbe::BandNames,
            description: format!("export {}", u.chunk_id),
        })
    }
}

/// Bounding box `[west, south, east, north]` of the sites' coordinates.
pub fn bounds(sites: &[&Site]) -> Option<[f64; 4]> {
    let mut b: Option<[f64; 4]> = None;
    for p in sites.iter().flat_map(|s| s.polygons.iter().flatten().flatten()) {
        grow(&mut b, *p);
    }
    b
}

/// Grows the bounding box `b` to hold the point `[x, y]`.
fn grow(b: &mut Option<[f64; 4]>, [x, y]: [f64; 2]) {
    let e = b.get_or_insert([x, y, x, y]);
    *e = [e[0].min(x), e[1].min(y), e[2].max(x), e[3].max(y)];
}

/// The extent of the sites of an export, gathered a site at a time (so a `per: region` plan streams its
/// sites, holding none): the bounding box of their coordinates (longitude/latitude) and, for each projected
/// CRS in which an export's pixels are counted ([`estimated_pixels`]), the bounding box of their projected
/// coordinates (the box of the projected points, not the projected box). Minima and maxima do not depend on
/// the order the points come in, so the figures are those of the sites taken all at once.
#[derive(Clone)]
pub struct Extent {
    lonlat: Option<[f64; 4]>,
    /// The CRS names pixels are counted in, each with the CRS when it parses (parsed once here, for the
    /// points and for [`estimated_pixels`]), and the bounding box of the points it projects (none for a
    /// geographic CRS, whose box is `lonlat`).
    projected: Vec<(String, Option<crate::crs::Crs>, Option<[f64; 4]>)>,
}

impl Extent {
    /// An empty extent for the exports of `layers`.
    pub fn new(opts: &ImageExport, layers: &[PreparedLayer]) -> Extent {
        let mut projected: Vec<(String, Option<crate::crs::Crs>, Option<[f64; 4]>)> = Vec::new();
        for name in layers.iter().filter_map(|l| pixel_crs(opts, l)) {
            if !projected.iter().any(|(n, _, _)| *n == name) {
                projected.push((name.clone(), crate::crs::Crs::parse(&name).ok(), None));
            }
        }
        Extent { lonlat: None, projected }
    }

    /// The extent of `sites` for the exports of `layers`.
    pub fn of(opts: &ImageExport, layers: &[PreparedLayer], sites: &[&Site]) -> Extent {
        let mut e = Extent::new(opts, layers);
        for s in sites {
            e.add(s);
        }
        e
    }

    /// Adds the points of `site`.
    pub fn add(&mut self, site: &Site) {
        for &[x, y] in site.polygons.iter().flatten().flatten() {
            grow(&mut self.lonlat, [x, y]);
            for (_, crs, b) in &mut self.projected {
                let crs = crs.as_ref().filter(|c| !c.is_geographic());
                if let Some(p) = crs.and_then(|c| c.from_lonlat(x, y).ok()) {
                    grow(b, p);
                }
            }
        }
    }

    /// The bounding box of the coordinates (longitude/latitude).
    pub fn bounds(&self) -> Option<[f64; 4]> {
        self.lonlat
    }

    /// The bounding box in the projected CRS named `name` (registered by [`Extent::new`]).
    fn projected(&self, name: &str) -> Option<[f64; 4]> {
        self.projected.iter().find(|(n, _, _)| n == name).and_then(|(_, _, b)| *b)
    }

    /// The CRS named `name` as [`Extent::new`] parsed it (`None`: not registered, or it does not parse).
    fn crs(&self, name: &str) -> Option<&crate::crs::Crs> {
        self.projected.iter().find(|(n, _, _)| n == name).and_then(|(_, c, _)| c.as_ref())
    }
}

/// A rectangle as the official client sends `ee.Geometry.Polygon` (closed ring, `evenOdd: true`).
fn rectangle(g: &mut Graph, [w, s, e, n]: [f64; 4]) -> Id {
    let ring: Vec<Id> = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        .iter()
        .map(|[x, y]| {
            let (x, y) = (g.float(*x), g.float(*y));
            g.array(vec![x, y])
        })
        .collect();
    let ring = g.array(ring);
    let coords = g.array(vec![ring]);
    let t = g.bool(true);
    let straight = g.bool(false);
    g.call("GeometryConstructors.Polygon", vec![("coordinates", coords), ("evenOdd", t), ("geodesic", straight)])
}

/// The pixel size in metres an export uses: `image.scale` (which already falls back to `reduce.scale`),
/// then the layer's nominal scale.
pub fn scale(opts: &ImageExport, layer: &PreparedLayer) -> Option<f64> {
    if opts.crs_transform.is_some() {
        None
    } else {
        opts.scale.or(layer.scale)
    }
}

/// Folds region, scale and projection into the image, as `Export.image.*` of the official clients does.
pub fn fold(g: &mut Graph, image: Id, opts: &ImageExport, geometry: Id, scale: Option<f64>) -> Id {
    let projection = |g: &mut Graph, crs: &str| {
        let c = g.str(crs);
        g.call("Projection", vec![("crs", c)])
    };
    if let (Some(t), Some(crs)) = (opts.crs_transform, &opts.crs) {
        let crs = projection(g, crs);
        let t: Vec<Id> = t.iter().map(|x| num(g, *x)).collect();
        let t = g.array(t);
        let img = g.call("Image.reproject", vec![("image", image), ("crs", crs), ("crsTransform", t)]);
        return g.call("Image.clip", vec![("input", img), ("geometry", geometry)]);
    }
    let mut img = image;
    if let Some(crs) = &opts.crs {
        let crs = projection(g, crs);
        let identity: Vec<Id> = [1, 0, 0, 0, -1, 0].iter().map(|x| g.int(*x)).collect();
        let identity = g.array(identity);
        img = g.call("Image.setDefaultProjection", vec![("image", img), ("crs", crs), ("crsTransform", identity)]);
    }
    match scale {
        Some(s) => {
            // A chip is the site's bounding box with the pixels outside the (buffered) polygon masked, as
            // with `crs_transform`; a region export is its rectangle, nothing to mask.
            if opts.per == ImagePer::Site {
                img = g.call("Image.clip", vec![("input", img), ("geometry", geometry)]);
            }
            let s = num(g, s);
            g.call("Image.clipToBoundsAndScale", vec![("input", img), ("geometry", geometry), ("scale", s)])
        }
        None => g.call("Image.clip", vec![("input", img), ("geometry", geometry)]),
    }
}

/// The expression of one export.
pub fn expression(
    pipeline: &Pipeline,
    opts: &ImageExport,
    layer: &PreparedLayer,
    image: usize,
    cover: Cover<'_>,
) -> Result<Value, BuildError> {
    let mut g = Graph::new();
    let (_, tpl) = layer.images.get(image).ok_or(BuildError::NoImage)?;
    let img = super::compute::layer_image(&mut g, layer, tpl)?;
    let geometry = match cover {
        Cover::Site(site) => {
            let geom = site_geometry(&mut g, site);
            if opts.buffer > 0.0 {
                let d = num(&mut g, opts.buffer);
                g.call("Geometry.buffer", vec![("geometry", geom), ("distance", d)])
            } else {
                geom
            }
        }
        Cover::Region(b) => {
            let b = b.ok_or_else(|| BuildError::PipelineWithoutSites(pipeline.name.clone()))?;
            rectangle(&mut g, b)
        }
    };
    let root = fold(&mut g, img, opts, geometry, scale(opts, layer));
    Ok(g.encode(root))
}

/// The REST name of a pyramiding policy.
fn pyramiding(p: PyramidingName) -> &'static str {
    match p {
        PyramidingName::Mean => "MEAN",
        PyramidingName::Sample => "SAMPLE",
        PyramidingName::Min => "MIN",
        PyramidingName::Max => "MAX",
        PyramidingName::Mode => "MODE",
        PyramidingName::Median => "MEDIAN",
    }
}

/// The `image:export` body around an expression, and where its output goes.
pub fn body(
    pipeline: &Pipeline,
    opts: &ImageExport,
    chunk_id: &str,
    description: &str,
    request_id: &str,
    expression: Value,
) -> (Value, Target, Endpoint) {
    let p = pipeline;
    let file_prefix = join_prefix(&p.export.file_prefix, chunk_id);
    let mut body = base_body(p, expression, description, request_id);
    if let Some(m) = opts.max_pixels {
        // int64 travels as a decimal string.
        body.insert("maxPixels".into(), Value::String(m.to_string()));
    }
    let file_options = |destination: (&str, Value)| {
        let mut o = Map::new();
        let tfrecord = p.export.format == FileFormatName::Tfrecord;
        o.insert("fileFormat".into(), json!(if tfrecord { "TF_RECORD_IMAGE" } else { "GEO_TIFF" }));
        o.insert(destination.0.into(), destination.1);
        if !tfrecord {
            let mut t = Map::new();
            t.insert("cloudOptimized".into(), json!(opts.cloud_optimized));
            if opts.skip_empty {
                t.insert("skipEmptyFiles".into(), json!(true));
            }
            if let Some([w, h]) = opts.file_dimensions {
                t.insert("tileDimensions".into(), json!({"width": w, "height": h}));
            }
            if let Some(n) = opts.no_data {
                t.insert("noData".into(), json!({"floatValue": n}));
            }
            o.insert("geoTiffOptions".into(), Value::Object(t));
        }
        Value::Object(o)
    };
    let target = match &p.export.destination {
        Destination::Gcs { bucket } => {
            let dest = json!({"bucket": bucket, "filenamePrefix": file_prefix});
            body.insert("fileExportOptions".into(), file_options(("cloudStorageDestination", dest)));
            Target::Gcs { bucket: bucket.clone(), prefix: file_prefix }
        }
        Destination::Asset { folder } => {
            let name = format!("{}/{}_{chunk_id}", folder.trim_end_matches('/'), p.name);
            let mut dest = Map::new();
            dest.insert("name".into(), json!(name));
            if p.export.overwrite {
                dest.insert("overwrite".into(), json!(true));
            }
            let mut o = Map::new();
            o.insert("earthEngineDestination".into(), Value::Object(dest));
            if let Some(pp) = opts.pyramiding {
                o.insert("pyramidingPolicy".into(), json!(pyramiding(pp)));
            }
            if !opts.pyramiding_bands.is_empty() {
                let m: Map<String, Value> =
                    opts.pyramiding_bands.iter().map(|(b, pp)| (b.clone(), json!(pyramiding(*pp)))).collect();
                o.insert("pyramidingPolicyOverrides".into(), Value::Object(m));
            }
            body.insert("assetExportOptions".into(), Value::Object(o));
            Target::Asset { name }
        }
        // Drive, and the destinations compile refuses for images (kept as a Drive target).
        Destination::Drive { folder } => {
            let dest = json!({"folder": folder, "filenamePrefix": file_prefix});
            body.insert("fileExportOptions".into(), file_options(("driveDestination", dest)));
            Target::Drive { folder: folder.clone(), prefix: file_prefix }
        }
        Destination::Bigquery { .. } | Destination::Local { .. } => {
            Target::Drive { folder: String::new(), prefix: file_prefix }
        }
        // Compile refuses image pipelines without a destination.
        Destination::None => Target::None,
    };
    (Value::Object(body), target, Endpoint::ImageExport)
}

/// Metres per degree of longitude at the equator: how Earth Engine turns a scale in metres into degrees
/// for a geographic CRS (2π · 6378137 / 360).
pub const DEGREE_METRES: f64 = 111_319.490_793_273_57;

/// Pixels (one band) of the grid Earth Engine makes for an export over `extent`'s bounding box, when
/// its pixel size is known. The grid is in the export's CRS units: with a geographic CRS (EPSG:4326) a
/// pixel is `scale / 111319.49` degrees on both axes, so a site at latitude φ has `1/cos φ` times the
/// pixels that metres / scale² suggests (twice at 60°); with a projected CRS the region's vertices are
/// projected and a pixel is `scale` units. Cells are counted where the bounding box touches them on a grid
/// aligned to the CRS origin (or to `crs_transform`'s). When the export keeps the layer's own projection,
/// which geepipe cannot know offline, the larger of the EPSG:4326 and the metric counts is taken, so the
/// warning never comes after the failure.
pub fn estimated_pixels(opts: &ImageExport, layer: &PreparedLayer, extent: &Extent) -> Option<f64> {
    let buffer = if opts.per == ImagePer::Site { opts.buffer } else { 0.0 };
    let crs = pixel_crs(opts, layer);
    // Pixel size and grid origin in CRS units, or a scale in metres still to convert.
    let (size, origin) = match opts.crs_transform {
        Some(t) if t[0] != 0.0 && t[4] != 0.0 => (Size::Units(t[0].abs(), t[4].abs()), [t[2], t[5]]),
        Some(_) => return None,
        None => (Size::Metres(scale(opts, layer)?), [0.0, 0.0]),
    };
    let lonlat = extent.lonlat?;
    match crs {
        Some(name) => {
            let parsed;
            let crs = match extent.crs(&name) {
                Some(c) => c,
                None => {
                    parsed = crate::crs::Crs::parse(&name).ok()?;
                    &parsed
                }
            };
            let b = if crs.is_geographic() { lonlat } else { extent.projected(&name)? };
            grid_cells(crs, b, buffer, size, origin)
        }
        None => {
            let geographic = grid_cells(&crate::crs::Crs::wgs84(), lonlat, buffer, size, origin)?;
            let metric = metric_cells(lonlat, buffer, size)?;
            Some(geographic.max(metric))
        }
    }
}

/// The CRS an export's pixels are counted in: `image.crs`, else the layer's explicit grid's (none: the
/// layer's own projection, unknown offline).
fn pixel_crs(opts: &ImageExport, layer: &PreparedLayer) -> Option<String> {
    opts.crs.clone().or_else(|| match &layer.grid {
        crate::pipeline::Grid::Explicit { crs, .. } => Some(crs.clone()),
        _ => None,
    })
}

/// A pixel size: in CRS units (from `crs_transform`), or a scale in metres.
#[derive(Debug, Clone, Copy)]
enum Size {
    Units(f64, f64),
    Metres(f64),
}

/// Cells of the grid of `size` in `crs` touched by the bounding box `[w, s, e, n]` of the points (in
/// `crs`'s units: longitude/latitude for a geographic CRS) grown by `buffer` metres.
fn grid_cells(crs: &crate::crs::Crs, [w, s, e, n]: [f64; 4], buffer: f64, size: Size, origin: [f64; 2]) -> Option<f64> {
    let (box_, px, py) = if crs.is_geographic() {
        let max_lat = s.abs().max(n.abs()).min(89.0).to_radians();
        let (bx, by) = (buffer / (DEGREE_METRES * max_lat.cos()), buffer / DEGREE_METRES);
        let (px, py) = match size {
            Size::Units(x, y) => (x, y),
            Size::Metres(m) => (m / DEGREE_METRES, m / DEGREE_METRES),
        };
        ([w - bx, s - by, e + bx, n + by], px, py)
    } else {
        let (px, py) = match size {
            Size::Units(x, y) => (x, y),
            Size::Metres(m) => (m, m),
        };
        ([w - buffer, s - buffer, e + buffer, n + buffer], px, py)
    };
    let count = |lo: f64, hi: f64, o: f64, p: f64| ((hi - o) / p).floor() - ((lo - o) / p).floor() + 1.0;
    Some(count(box_[0], box_[2], origin[0], px) * count(box_[1], box_[3], origin[1], py))
}

/// Cells of `size` metres over the bounding box `[w, s, e, n]` (longitude/latitude) measured on the ground
/// (an equal-area view).
fn metric_cells([w, s, e, n]: [f64; 4], buffer: f64, size: Size) -> Option<f64> {
    let Size::Metres(scale) = size else { return None };
    let mid = ((s + n) / 2.0).to_radians();
    let width = (e - w) * DEGREE_METRES * mid.cos().abs() + 2.0 * buffer;
    let height = (n - s) * 110_574.0 + 2.0 * buffer;
    Some((width / scale).ceil().max(1.0) * (height / scale).ceil().max(1.0))
}
