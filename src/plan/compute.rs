//! The computation one export task runs, as an expression graph: sites → one `Image.reduceRegions` per
//! layer (all its years at once) → a `Collection.map` that writes the column contract's cells.
//!
//! See `docs/computation.md` for why it is built this way.

use serde_json::Value;

use crate::expr::template::{self, Renderer};
use crate::expr::types;
use crate::expr::{Graph, Id};
use crate::pipeline::{Grid, LayerKind, NoData, Pipeline};
use crate::plan::columns::{area_column, pixels_column, stat_column};
use crate::sites::Site;

/// Why a request's expression cannot be built. Validation refuses these pipelines first, so each is a
/// pipeline that skipped it or a bug; the message says which part is missing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildError {
    /// A layer's rendered image template is not a well-formed expression.
    #[error(transparent)]
    Node(#[from] crate::expr::template::NodeError),
    #[error("layer `{0}` has no statistics")]
    NoStatistics(String),
    #[error("a task with no sites")]
    NoSites,
    #[error("no such image")]
    NoImage,
    #[error("pipeline `{0}` has no sites")]
    PipelineWithoutSites(String),
    #[error("the classifier has no feature bands")]
    NoFeatureBands,
    #[error("the planned request has no expression")]
    NoExpression,
    #[error("the expression has no result")]
    NoResult,
    #[error("the expression has no values")]
    NoValues,
}

/// A layer ready to be reduced: its per-year images rendered (placeholders filled in).
#[derive(Debug, Clone)]
pub struct PreparedLayer {
    pub name: String,
    pub kind: LayerKind,
    /// All years the columns cover.
    pub years: Vec<i32>,
    /// Whether the image does not depend on the year: reduced once, copied to every year's columns.
    pub is_static: bool,
    /// (year, rendered image template) for each year that is reduced.
    pub images: Vec<(i32, Value)>,
    pub bands: Vec<String>,
    pub stats: Vec<String>,
    /// Nominal scale in metres.
    pub scale: Option<f64>,
    /// The grid the layer is reduced on.
    pub grid: Grid,
    /// What is not data (masked in every image built from the layer).
    pub nodata: NoData,
    /// The layer's asset (where a no-data mask band is read from).
    pub asset: Option<String>,
}

/// Renders every layer of the pipeline; `Err` lists (layer name, message) for each placeholder problem.
pub fn prepare(pipeline: &Pipeline) -> Result<Vec<PreparedLayer>, Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for layer in &pipeline.layers {
        let Some(image) = &layer.image else {
            errors.push((layer.name.clone(), "the layer has no `image` expression".to_string()));
            continue;
        };
        let is_static = !template::mentions(image, &["year", "next_year"]);
        let reduced: Vec<i32> =
            if is_static { layer.years.iter().take(1).copied().collect() } else { layer.years.clone() };
        let mut images = Vec::new();
        for &year in &reduced {
            let vars = template::layer_vars(&layer.vars, layer.asset.as_deref(), year);
            match Renderer::new(vars).render(image) {
                // The official client's promotions (a number where an image is needed becomes
                // `Image.constant`, …); validation has reported every mismatch already.
                Ok(v) => match types::infer(&v, Some(image), Some(&types::Ty::Image(types::Grid::Unknown))) {
                    typed if typed.problems.is_empty() => images.push((year, typed.promoted)),
                    typed => {
                        let p = &typed.problems[0];
                        errors.push((layer.name.clone(), format!("year {year}: {} (at `{}`)", p.message, p.pointer)));
                    }
                },
                Err(e) => errors.push((layer.name.clone(), format!("year {year}: {e}"))),
            }
        }
        out.push(PreparedLayer {
            name: layer.name.clone(),
            kind: layer.kind,
            years: layer.years.clone(),
            is_static,
            images,
            bands: layer.bands.clone(),
            stats: layer.stats.clone(),
            scale: layer.scale,
            grid: layer.grid.clone(),
            nodata: layer.nodata.clone(),
            asset: layer.asset.clone(),
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Which features a task reduces.
#[derive(Debug, Clone, Copy)]
pub enum Features<'a> {
    /// Sites from the site file, sent inline.
    Inline(&'a [&'a Site]),
    /// Sites of a table asset whose id property is one of these ids.
    AssetIds(&'a str, &'a [String]),
    /// Sites of a table asset whose deterministic random column falls in `[lo, hi)`.
    AssetRange(&'a str, f64, f64),
    /// The first `n` sites of a table asset (`Collection.limit`): the probe's few sites.
    AssetFirst(&'a str, usize),
}

/// A number as the official client sends it: integral values as integers.
pub fn num(g: &mut Graph, x: f64) -> Id {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        g.int(x as i64)
    } else {
        g.float(x)
    }
}

/// The feature of one site: `Feature{geometry: Polygon|MultiPolygon{coordinates, evenOdd: true,
/// geodesic: false}, metadata}`.
pub fn site_feature(g: &mut Graph, pipeline: &Pipeline, site: &Site) -> Id {
    let geometry = site_geometry(g, site);
    let mut meta = vec![(pipeline.sites.id_property.clone(), g.str(&site.id))];
    for k in &pipeline.sites.keep {
        if k == &pipeline.sites.id_property {
            continue;
        }
        let v = site.properties.get(k).cloned().unwrap_or(Value::Null);
        meta.push((k.clone(), g.data(&v)));
    }
    let metadata = g.dict(meta);
    g.call("Feature", vec![("geometry", geometry), ("metadata", metadata)])
}

/// The geometry of one site: `Polygon|MultiPolygon{coordinates, evenOdd: true, geodesic: false}`: edges
/// are straight lines in longitude/latitude as GeoJSON means them (Earth Engine's default for
/// coordinates given as numbers is geodesic edges), and rings are filled by the even-odd rule, as the
/// local engine fills them.
pub fn site_geometry(g: &mut Graph, site: &Site) -> Id {
    let mut polys = Vec::with_capacity(site.polygons.len());
    for poly in &site.polygons {
        let mut rings = Vec::with_capacity(poly.len());
        for ring in poly {
            let pts: Vec<Id> = ring
                .iter()
                .map(|[x, y]| {
                    let (x, y) = (g.float(*x), g.float(*y));
                    g.array(vec![x, y])
                })
                .collect();
            rings.push(g.array(pts));
        }
        polys.push(g.array(rings));
    }
    let (ctor, coords) = if site.multi {
        ("GeometryConstructors.MultiPolygon", g.array(polys))
    } else {
        ("GeometryConstructors.Polygon", polys.pop().unwrap_or_else(|| g.array(Vec::new())))
    };
    let t = g.bool(true);
    let straight = g.bool(false);
    g.call(ctor, vec![("coordinates", coords), ("evenOdd", t), ("geodesic", straight)])
}

/// The collection of the features a task reduces.
pub fn features(g: &mut Graph, pipeline: &Pipeline, which: Features) -> Id {
    match which {
        Features::Inline(sites) => {
            let feats: Vec<Id> = sites.iter().map(|s| site_feature(g, pipeline, s)).collect();
            let arr = g.array(feats);
            g.call("Collection", vec![("features", arr)])
        }
        Features::AssetIds(asset, ids) => {
            let id = g.str(asset);
            let table = g.call("Collection.loadTable", vec![("tableId", id)]);
            let field = g.str(&pipeline.sites.id_property);
            let list = g.strings(ids);
            // `ee.Filter.inList(field, ids)` as the official clients send it: on the server `Filter.inList`
            // and `Filter.listContains` pass when the LEFT operand is a list containing the right one.
            let filter = g.call("Filter.listContains", vec![("leftValue", list), ("rightField", field)]);
            g.call("Collection.filter", vec![("collection", table), ("filter", filter)])
        }
        Features::AssetFirst(asset, n) => {
            let id = g.str(asset);
            let table = g.call("Collection.loadTable", vec![("tableId", id)]);
            let n = g.int(n as i64);
            g.call("Collection.limit", vec![("collection", table), ("limit", n)])
        }
        Features::AssetRange(asset, lo, hi) => {
            let id = g.str(asset);
            let table = g.call("Collection.loadTable", vec![("tableId", id)]);
            if lo <= 0.0 && hi >= 1.0 {
                return table;
            }
            let col = g.str(RANDOM_COLUMN);
            let seed = g.int(0);
            let with_r =
                g.call("Collection.randomColumn", vec![("collection", table), ("columnName", col), ("seed", seed)]);
            let (lo, hi) = (g.float(lo), g.float(hi));
            let ge = g.call("Filter.greaterThanOrEquals", vec![("leftField", col), ("rightValue", lo)]);
            let lt = g.call("Filter.lessThan", vec![("leftField", col), ("rightValue", hi)]);
            let both = g.array(vec![ge, lt]);
            let filter = g.call("Filter.and", vec![("filters", both)]);
            g.call("Collection.filter", vec![("collection", with_r), ("filter", filter)])
        }
    }
}

/// Name of the random column used to split asset sites without knowing their ids.
pub const RANDOM_COLUMN: &str = "geepipe_r";

fn stat_reducer(g: &mut Graph, stat: &str) -> Id {
    match stat {
        "mean" => g.call("Reducer.mean", vec![]),
        "median" => g.call("Reducer.median", vec![]),
        "min" => g.call("Reducer.min", vec![]),
        "max" => g.call("Reducer.max", vec![]),
        "stdDev" => g.call("Reducer.stdDev", vec![]),
        "variance" => g.call("Reducer.variance", vec![]),
        "count" => g.call("Reducer.count", vec![]),
        "sum" => g.call("Reducer.sum", vec![]),
        p => {
            let n: i64 = p.trim_start_matches('p').parse().unwrap_or(50);
            let n = g.int(n);
            let list = g.array(vec![n]);
            g.call("Reducer.percentile", vec![("percentiles", list)])
        }
    }
}

/// Name of the intermediate property holding a categorical layer-year's groups.
fn groups_property(layer: &str, year: i32) -> String {
    format!("{layer}__{year}")
}

/// Builds one year's image of a layer with what is not data masked: every band where it equals one of the
/// no-data values (`Image.neq`), and, with a mask band, wherever the asset's mask band is none of its
/// valid values (`Image.eq`, `Image.or`); the masks are combined with `Image.and` and applied with
/// `Image.updateMask`, so no-data pixels are never a class nor part of a statistic.
pub fn layer_image(g: &mut Graph, layer: &PreparedLayer, tpl: &Value) -> Result<Id, BuildError> {
    let img = template::build(g, tpl)?;
    let combine = |g: &mut Graph, op: &str, acc: Option<Id>, next: Id| match acc {
        None => next,
        Some(a) => g.call(op, vec![("image1", a), ("image2", next)]),
    };
    let mut mask: Option<Id> = None;
    for v in &layer.nodata.values {
        let c = num(g, *v);
        let c = g.call("Image.constant", vec![("value", c)]);
        let ne = g.call("Image.neq", vec![("image1", img), ("image2", c)]);
        mask = Some(combine(g, "Image.and", mask, ne));
    }
    if let (Some(m), Some(asset)) = (&layer.nodata.mask, &layer.asset) {
        let id = g.str(asset);
        let load = g.call("Image.load", vec![("id", id)]);
        let sel = g.strings(std::slice::from_ref(&m.band));
        let band = g.call("Image.select", vec![("input", load), ("bandSelectors", sel)]);
        let mut valid: Option<Id> = None;
        for v in &m.valid {
            let c = num(g, *v);
            let c = g.call("Image.constant", vec![("value", c)]);
            let eq = g.call("Image.eq", vec![("image1", band), ("image2", c)]);
            valid = Some(combine(g, "Image.or", valid, eq));
        }
        if let Some(v) = valid {
            mask = Some(combine(g, "Image.and", mask, v));
        }
    }
    Ok(match mask {
        None => img,
        Some(m) => g.call("Image.updateMask", vec![("image", img), ("mask", m)]),
    })
}

/// The `crs` and `scale` a layer's `reduceRegions` is given (docs/computation.md, "Which grid"): the
/// pipeline's `reduce.crs`/`reduce.scale` when set, else the layer's grid.
pub fn reduction_grid(pipeline: &Pipeline, layer: &PreparedLayer) -> (Option<String>, Option<f64>) {
    let r = &pipeline.reduce;
    match (&r.crs, r.scale, &layer.grid) {
        (Some(c), Some(s), _) => (Some(c.clone()), Some(s)),
        (Some(c), None, Grid::Explicit { scale, .. } | Grid::Scale { scale }) => (Some(c.clone()), Some(*scale)),
        (Some(c), None, Grid::Native) => (Some(c.clone()), layer.scale),
        (None, Some(s), Grid::Explicit { crs, .. }) => (Some(crs.clone()), Some(s)),
        (None, Some(s), _) => (None, Some(s)),
        (None, None, Grid::Explicit { crs, scale }) => (Some(crs.clone()), Some(*scale)),
        (None, None, Grid::Scale { scale }) => (None, Some(*scale)),
        (None, None, Grid::Native) => (None, None),
    }
}

/// Builds the image and reducer of one layer; returns (image, reducer).
///
/// The first band of the image is the layer's own first band (a categorical layer's class band), so a
/// reduction without `crs`/`scale` runs on the layer's native grid, as the official client's zonal
/// expressions do (`captured/expression_zonal_histogram.json` reduces the class band itself).
fn layer_reduction(g: &mut Graph, layer: &PreparedLayer, images: &[&(i32, Value)]) -> Result<(Id, Id), BuildError> {
    let mut parts = Vec::new();
    let mut names = Vec::new();
    for (year, tpl) in images.iter().map(|x| (&x.0, &x.1)) {
        let img = layer_image(g, layer, tpl)?;
        match layer.kind {
            LayerKind::Categorical => {
                let zero = g.int(0);
                let sel = g.array(vec![zero]);
                let cls_name = g.strings(&[format!("{}__{year}__class", layer.name)]);
                let cls = g.call("Image.select", vec![("input", img), ("bandSelectors", sel), ("newNames", cls_name)]);
                let mask = g.call("Image.mask", vec![("image", cls)]);
                let area = g.call("Image.pixelArea", vec![]);
                let factor = g.float(0.0001);
                let factor = g.call("Image.constant", vec![("value", factor)]);
                let ha = g.call("Image.multiply", vec![("image1", area), ("image2", factor)]);
                let ha = g.call("Image.updateMask", vec![("image", ha), ("mask", mask)]);
                let ha_name = g.strings(&[format!("{}__{year}__area", layer.name)]);
                let ha = g.call("Image.rename", vec![("input", ha), ("names", ha_name)]);
                let one = g.int(1);
                let one = g.call("Image.constant", vec![("value", one)]);
                let px = g.call("Image.updateMask", vec![("image", one), ("mask", mask)]);
                let px_name = g.strings(&[format!("{}__{year}__pixels", layer.name)]);
                let px = g.call("Image.rename", vec![("input", px), ("names", px_name)]);
                parts.extend([cls, ha, px]);
                names.push(groups_property(&layer.name, *year));
            }
            LayerKind::Continuous => {
                let idx: Vec<Id> = (0..layer.bands.len()).map(|i| g.int(i as i64)).collect();
                let sel = g.array(idx);
                let new: Vec<String> = layer.bands.iter().map(|b| format!("{}__{year}__{b}", layer.name)).collect();
                let new = g.strings(&new);
                let img = g.call("Image.select", vec![("input", img), ("bandSelectors", sel), ("newNames", new)]);
                parts.push(img);
            }
        }
    }
    let image = if parts.len() == 1 {
        parts[0]
    } else {
        let arr = g.array(parts);
        g.call("Image.cat", vec![("images", arr)])
    };
    let reducer = match layer.kind {
        LayerKind::Categorical => {
            let sum = g.call("Reducer.sum", vec![]);
            let ha_px = g.strings(&["ha", "px"]);
            let inner = g.call("Reducer.forEach", vec![("reducer", sum), ("outputNames", ha_px)]);
            let field = g.int(0);
            let gname = g.str("class");
            let group = g.call("Reducer.group", vec![("reducer", inner), ("groupField", field), ("groupName", gname)]);
            let outs = g.strings(&names);
            g.call("Reducer.forEach", vec![("reducer", group), ("outputNames", outs)])
        }
        LayerKind::Continuous => {
            let mut combined: Option<Id> = None;
            for stat in &layer.stats {
                let r = stat_reducer(g, stat);
                let outs: Vec<String> = images
                    .iter()
                    .flat_map(|(y, _)| layer.bands.iter().map(move |b| stat_column(&layer.name, *y, b, stat)))
                    .collect();
                let outs = g.strings(&outs);
                let each = g.call("Reducer.forEach", vec![("reducer", r), ("outputNames", outs)]);
                combined = Some(match combined {
                    None => each,
                    Some(prev) => {
                        let t = g.bool(true);
                        g.call("Reducer.combine", vec![("reducer1", prev), ("reducer2", each), ("sharedInputs", t)])
                    }
                });
            }
            match combined {
                Some(r) => r,
                None => return Err(BuildError::NoStatistics(layer.name.clone())),
            }
        }
    };
    Ok((image, reducer))
}

/// The whole computation of one task: the feature collection whose rows are the export's rows.
pub fn computation(
    g: &mut Graph,
    pipeline: &Pipeline,
    layers: &[PreparedLayer],
    which: Features,
) -> Result<Id, BuildError> {
    // Sites grouped by first year: each group is reduced only for the years it reports (a static layer
    // once), and the groups are merged back into one collection.
    let groups: Vec<(Option<i32>, Id)> = match which {
        Features::Inline(sites) => first_year_groups(pipeline, layers, sites)
            .into_iter()
            .map(|(from, group)| (from, features(g, pipeline, Features::Inline(&group))))
            .collect(),
        other => vec![(None, features(g, pipeline, other))],
    };
    reduced(g, pipeline, layers, groups)
}

/// The computation over collections of sites already built, each with the first year it reports
/// ([`first_year_groups`]): what [`computation`] builds around its sites, and what a template of its
/// requests holds (with holes for the collections: `crate::plan::zonal::templates`).
pub fn reduced(
    g: &mut Graph,
    pipeline: &Pipeline,
    layers: &[PreparedLayer],
    groups: Vec<(Option<i32>, Id)>,
) -> Result<Id, BuildError> {
    let mut reduced: Option<Id> = None;
    for (from, coll) in groups {
        let coll = reductions(g, pipeline, layers, coll, from)?;
        reduced = Some(match reduced {
            None => coll,
            Some(prev) => g.call("Collection.merge", vec![("collection1", prev), ("collection2", coll)]),
        });
    }
    let coll = reduced.ok_or(BuildError::NoSites)?;
    cells(g, layers, coll)
}

/// The sites of a task grouped by the first year they report (`None`: every year), groups in order of
/// first appearance, sites in file order within each. A first year at or before every layer's first year
/// is no first year at all.
pub fn first_year_groups<'a>(
    pipeline: &Pipeline,
    layers: &[PreparedLayer],
    sites: &[&'a Site],
) -> Vec<(Option<i32>, Vec<&'a Site>)> {
    let earliest = layers.iter().filter(|l| !l.is_static).filter_map(|l| l.years.first().copied()).min();
    let mut groups: Vec<(Option<i32>, Vec<&'a Site>)> = Vec::new();
    for &s in sites {
        let from = s.first_year(&pipeline.sites).filter(|f| earliest.is_some_and(|e| *f > e));
        match groups.iter_mut().find(|(f, _)| *f == from) {
            Some((_, g)) => g.push(s),
            None => groups.push((from, vec![s])),
        }
    }
    if groups.is_empty() {
        groups.push((None, Vec::new()));
    }
    groups
}

/// One `Image.reduceRegions` per layer over `coll`, for the layer's years from `from` on (all of a static
/// layer's single reduction).
fn reductions(
    g: &mut Graph,
    pipeline: &Pipeline,
    layers: &[PreparedLayer],
    mut coll: Id,
    from: Option<i32>,
) -> Result<Id, BuildError> {
    for layer in layers {
        let images: Vec<&(i32, Value)> =
            layer.images.iter().filter(|(y, _)| layer.is_static || from.is_none_or(|f| *y >= f)).collect();
        if images.is_empty() {
            continue;
        }
        let (image, reducer) = layer_reduction(g, layer, &images)?;
        let mut args = vec![("image", image), ("collection", coll), ("reducer", reducer)];
        let (crs, scale) = reduction_grid(pipeline, layer);
        if let Some(s) = scale {
            args.push(("scale", num(g, s)));
        }
        if let Some(crs) = &crs {
            let c = g.str(crs);
            args.push(("crs", g.call("Projection", vec![("crs", c)])));
        }
        if pipeline.reduce.tile_scale != 1.0 {
            args.push(("tileScale", num(g, pipeline.reduce.tile_scale)));
        }
        if let Some(m) = pipeline.reduce.max_pixels {
            args.push(("maxPixelsPerRegion", g.int(m as i64)));
        }
        coll = g.call("Image.reduceRegions", args);
    }
    Ok(coll)
}

/// The `Collection.map` that writes the cells the reductions do not write themselves: categorical
/// dictionaries as JSON text, and the repeated years of static layers. A year a site's group did not
/// reduce gets `{}` (or no cell), which the results step never reads (it is before the site's first year).
fn cells(g: &mut Graph, layers: &[PreparedLayer], coll: Id) -> Result<Id, BuildError> {
    let needs_map = layers.iter().any(|l| l.kind == LayerKind::Categorical || (l.is_static && l.years.len() > 1));
    if !needs_map {
        return Ok(coll);
    }
    let has_inner = layers.iter().any(|l| l.kind == LayerKind::Categorical);
    let fname = if has_inner { "_MAPPING_VAR_1_0" } else { "_MAPPING_VAR_0_0" };
    let f = g.arg(fname);
    let mut entries: Vec<(String, Id)> = Vec::new();
    for layer in layers {
        let Some((first, _)) = layer.images.first() else { continue };
        match layer.kind {
            LayerKind::Categorical => {
                let inner = "_MAPPING_VAR_0_0";
                let gr = g.arg(inner);
                let field = |g: &mut Graph, key: &str| {
                    let k = g.str(key);
                    g.call("Dictionary.get", vec![("dictionary", gr), ("key", k)])
                };
                let class = field(g, "class");
                let class = g.call("Number.toInt", vec![("input", class)]);
                let pat = g.str("%d");
                let key_body = g.call("Number.format", vec![("number", class), ("pattern", pat)]);
                let key_fn = g.function(vec![inner.into()], key_body);
                let ha_body = field(g, "ha");
                let ha_fn = g.function(vec![inner.into()], ha_body);
                let px_body = field(g, "px");
                let px_fn = g.function(vec![inner.into()], px_body);
                let dict = g.call("Element.toDictionary", vec![("element", f)]);
                for &year in &layer.years {
                    let source_year = if layer.is_static { *first } else { year };
                    let prop = g.str(&groups_property(&layer.name, source_year));
                    let empty = g.array(Vec::new());
                    let groups =
                        g.call("Dictionary.get", vec![("dictionary", dict), ("key", prop), ("defaultValue", empty)]);
                    let keys = g.call("List.map", vec![("list", groups), ("baseAlgorithm", key_fn)]);
                    for (col, vf) in
                        [(area_column(&layer.name, year), ha_fn), (pixels_column(&layer.name, year), px_fn)]
                    {
                        let vals = g.call("List.map", vec![("list", groups), ("baseAlgorithm", vf)]);
                        let d = g.call("Dictionary.fromLists", vec![("keys", keys), ("values", vals)]);
                        let text = g.call("String.encodeJSON", vec![("object", d)]);
                        entries.push((col, text));
                    }
                }
            }
            LayerKind::Continuous if layer.is_static => {
                for &year in layer.years.iter().filter(|y| **y != *first) {
                    for b in &layer.bands {
                        for s in &layer.stats {
                            let p = g.str(&stat_column(&layer.name, *first, b, s));
                            let v = g.call("Element.get", vec![("object", f), ("property", p)]);
                            entries.push((stat_column(&layer.name, year, b, s), v));
                        }
                    }
                }
            }
            LayerKind::Continuous => {}
        }
    }
    let props = g.dict(entries);
    let body = g.call("Element.setMulti", vec![("object", f), ("properties", props)]);
    let func = g.function(vec![fname.into()], body);
    Ok(g.call("Collection.map", vec![("collection", coll), ("baseAlgorithm", func)]))
}
