//! The local engine: the same zonal statistics computed on GeoTIFFs on this machine, with exact pixel coverage.
//!
//! Stages: open every layer-year raster named by the layers' `local:` templates (all problems are
//! reported together, before any computation) → stream the sites from the site file in batches →
//! compute each batch's sites in parallel on all cores ([`rayon`]), each site reading only the
//! strips/tiles its window touches through a bounded LRU [`geotiff::ChunkCache`] → hand each site's
//! records, in site order, to the shared [`crate::results::table::TableWriter`] → write the manifest.
//!
//! Memory is bounded by the batch size, the cache budget and the largest site window (processed in
//! blocks of [`BLOCK`] × [`BLOCK`] cells), not by the raster or the number of sites. Exception: the
//! wide table layout keeps one row per site until the end, and percentiles keep a site's pixel values.
//!
//! Coverage is shared between layer-years whose rasters have the same grid (the usual case: one file
//! per year of the same product), so each site's polygon is rasterised once per grid, not per year.

pub mod area;
pub mod coverage;
pub mod evenodd;
pub mod geotiff;
pub mod zonal;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::diag::Diagnostic;
use crate::pipeline::{LayerKind, Pipeline};
use crate::results::manifest::{self, Input, Manifest, Timings, Totals};
use crate::results::table::{SiteResult, TableError, TableSpec, TableSummary, TableWriter};
use crate::results::{Measure, Record};
use crate::sites::Site;
use geotiff::{ChunkCache, GeoTiff, RasterError};

/// Cells per side of the coverage blocks a site window is processed in.
pub const BLOCK: usize = 512;

/// Tuning knobs (defaults suit a laptop).
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
    /// Budget of the decoded-chunk cache in bytes.
    pub cache_bytes: usize,
    /// Sites read from the site file before computing them in parallel.
    pub batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { threads: None, cache_bytes: 256 << 20, batch: 1024 }
    }
}

/// Why a local run failed (nothing was written).
#[derive(Debug)]
pub enum LocalError {
    /// The pipeline or its inputs cannot be used (exit code 2).
    Input(Vec<Diagnostic>),
    /// Writing the outputs failed (exit code 4).
    Output(TableError),
    /// Reading a raster failed in the middle of the run (exit code 4).
    Read(RasterError),
}

/// What a successful run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub table: TableSummary,
    pub manifest: PathBuf,
    pub totals: Totals,
    pub threads: usize,
    pub seconds: f64,
    pub warnings: Vec<Diagnostic>,
}

/// One layer-year's raster.
struct Source {
    layer: usize,
    year: i32,
    raster: Arc<GeoTiff>,
    /// The raster of the layer's no-data mask band (`local_mask`), on the same grid.
    mask: Option<Arc<GeoTiff>>,
}

/// Removes `.` and `name/..` components without touching the file system (for display and the manifest).
pub fn clean_path(p: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Renders a `local:` path template: `{{year}}`, `{{next_year}}`, `{{layer}}` and `vars` entries.
pub fn render_path(template: &str, year: i32, layer: &str, vars: &BTreeMap<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("`{template}` has an unclosed `{{{{`"))?;
        let name = after[..end].trim();
        let value = match name {
            "year" => year.to_string(),
            "next_year" => (year + 1).to_string(),
            "layer" => layer.to_string(),
            other => match vars.get(other) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(v) => v.to_string(),
                None => {
                    let known: Vec<&str> =
                        ["year", "next_year", "layer"].into_iter().chain(vars.keys().map(String::as_str)).collect();
                    let mut msg = format!("`{template}` uses `{{{{{other}}}}}`, which is not defined");
                    if let Some(s) = crate::suggest::did_you_mean(other, known.iter().copied()) {
                        msg.push_str(&format!(" (did you mean `{s}`?)"));
                    }
                    return Err(msg);
                }
            },
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn open_sources(p: &Pipeline) -> Result<(Vec<Source>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut by_path: BTreeMap<String, Arc<GeoTiff>> = BTreeMap::new();
    let src = p.source.display().to_string();
    for (li, l) in p.layers.iter().enumerate() {
        let Some(template) = &l.local else {
            errors.push(
                Diagnostic::error("local::no-path", format!("layer `{}` has no `local` raster path", l.name))
                    .with_help("add `local: data/{{year}}.tif` to the layer")
                    .in_file(src.clone()),
            );
            continue;
        };
        for &year in &l.years {
            let path = match render_path(template, year, &l.name, &l.vars) {
                Ok(p) => p,
                Err(m) => {
                    errors.push(Diagnostic::error("local::template", m).in_file(src.clone()));
                    break;
                }
            };
            let raster = match by_path.get(&path) {
                Some(r) => r.clone(),
                None => match GeoTiff::open(&clean_path(std::path::Path::new(&path)), by_path.len()) {
                    Ok(r) => {
                        let r = Arc::new(r);
                        if r.crs != "EPSG:4326" {
                            warnings.push(
                                Diagnostic::warning(
                                    "local::datum",
                                    format!(
                                        "`{path}` is in {}, a geographic system other than EPSG:4326; its \
                                         coordinates are used as WGS84 longitude/latitude",
                                        r.crs
                                    ),
                                )
                                .in_file(src.clone()),
                            );
                        }
                        by_path.insert(path.clone(), r.clone());
                        r
                    }
                    Err(e) => {
                        let mut d = Diagnostic::error("local::raster", format!("layer `{}`, year {year}: {e}", l.name))
                            .in_file(src.clone());
                        if let Some(h) = e.help() {
                            d = d.with_help(h);
                        }
                        errors.push(d);
                        continue;
                    }
                },
            };
            let wanted = if l.kind == LayerKind::Continuous { l.bands.len() } else { 1 };
            if usize::from(raster.bands) < wanted {
                errors.push(
                    Diagnostic::error(
                        "local::bands",
                        format!(
                            "layer `{}` has {wanted} bands ({}) but `{path}` has only {}",
                            l.name,
                            l.bands.join(", "),
                            raster.bands
                        ),
                    )
                    .with_help("the layer's bands are read from the raster's bands in order")
                    .in_file(src.clone()),
                );
                continue;
            }
            let mask = match (&l.nodata.mask, &l.local_mask) {
                (Some(_), Some(t)) => match open_mask(t, year, l, &raster, &mut by_path) {
                    Ok(m) => Some(m),
                    Err(m) => {
                        errors.push(Diagnostic::error("local::mask", m).in_file(src.clone()));
                        continue;
                    }
                },
                _ => None,
            };
            sources.push(Source { layer: li, year, raster, mask });
        }
    }
    if errors.is_empty() {
        Ok((sources, warnings))
    } else {
        Err(errors)
    }
}

/// Opens the no-data mask raster of a layer-year; it must lie on the layer raster's grid.
fn open_mask(
    template: &str,
    year: i32,
    l: &crate::pipeline::Layer,
    raster: &GeoTiff,
    by_path: &mut BTreeMap<String, Arc<GeoTiff>>,
) -> Result<Arc<GeoTiff>, String> {
    let path = render_path(template, year, &l.name, &l.vars)?;
    let mask = match by_path.get(&path) {
        Some(m) => m.clone(),
        None => {
            let m = GeoTiff::open(&clean_path(std::path::Path::new(&path)), by_path.len())
                .map_err(|e| format!("layer `{}`, year {year}, `local_mask`: {e}", l.name))?;
            let m = Arc::new(m);
            by_path.insert(path.clone(), m.clone());
            m
        }
    };
    if !mask.same_grid(raster) {
        return Err(format!(
            "layer `{}`, year {year}: the mask raster `{path}` is not on the grid of `{}` (size and \
             georeferencing must be the same)",
            l.name,
            raster.path.display()
        ));
    }
    Ok(mask)
}

/// Whether each pixel of the rectangle `cols × rows` (global, end exclusive) is data by the mask raster:
/// its band 1 holds one of `valid`. Row-major, `cols.1 - cols.0` per row.
fn mask_window(
    cache: &ChunkCache,
    mask: &GeoTiff,
    valid: &[f64],
    cols: (usize, usize),
    rows: (usize, usize),
) -> Result<Vec<bool>, RasterError> {
    let w = cols.1 - cols.0;
    let mut out = vec![false; w * (rows.1 - rows.0)];
    let (cw, ch) = (mask.chunk_width as usize, mask.chunk_height as usize);
    for cy in rows.0 / ch..=(rows.1 - 1) / ch {
        for cx in cols.0 / cw..=(cols.1 - 1) / cw {
            let chunk = cache.get(mask, cx as u32, cy as u32, 0)?;
            for gy in (cy * ch).max(rows.0)..((cy + 1) * ch).min(rows.1) {
                for gx in (cx * cw).max(cols.0)..((cx + 1) * cw).min(cols.1) {
                    let v = chunk.values.get((gy - cy * ch) * chunk.width + (gx - cx * cw));
                    out[(gy - rows.0) * w + (gx - cols.0)] = valid.contains(&v);
                }
            }
        }
    }
    Ok(out)
}

/// Everything the workers share.
struct Ctx<'a> {
    pipeline: &'a Pipeline,
    sources: &'a [Source],
    /// Sources grouped by raster grid: coverage is computed once per group.
    groups: Vec<Vec<usize>>,
    cache: ChunkCache,
    geometry: bool,
}

/// Runs the pipeline with the local engine; writes the table and manifest.
// The site visitor's error type (`Diagnostic`) is fixed by `sites::for_each`.
pub fn run(pipeline: &Pipeline, opts: &Options) -> Result<Outcome, LocalError> {
    let t0 = Instant::now();
    let started_at = manifest::now();
    let (sources, warnings) = open_sources(pipeline).map_err(LocalError::Input)?;
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        match groups.iter_mut().find(|g| sources[g[0]].raster.same_grid(&s.raster)) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    let ctx = Ctx {
        pipeline,
        sources: &sources,
        groups,
        cache: ChunkCache::new(opts.cache_bytes),
        geometry: pipeline.output.format == crate::pipeline::OutputFormatName::Geojson,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or(0))
        .build()
        .map_err(|e| LocalError::Input(vec![Diagnostic::error("local::threads", e.to_string())]))?;
    let threads = pool.current_num_threads();
    let mut writer =
        TableWriter::create(TableSpec::from_pipeline(pipeline), &pipeline.output.path).map_err(LocalError::Output)?;
    let mut totals = Totals::default();
    let mut failure: Option<LocalError> = None;
    let mut batch: Vec<Site> = Vec::with_capacity(opts.batch.max(1));
    let mut compute_time = 0.0;
    let mut flush = |batch: &mut Vec<Site>, writer: &mut TableWriter, totals: &mut Totals| -> Result<(), LocalError> {
        let t = Instant::now();
        // Compute in spatial order (neighbouring sites share chunks in the cache, and each thread takes
        // a contiguous run of that order), then put the results back in site-file order.
        let order = spatial_order(&ctx, batch);
        let mut results: Vec<Option<Result<SiteResult, RasterError>>> = (0..batch.len()).map(|_| None).collect();
        let computed: Vec<(usize, Result<SiteResult, RasterError>)> =
            pool.install(|| order.par_iter().map(|&i| (i, compute_site(&ctx, &batch[i]))).collect());
        for (i, r) in computed {
            results[i] = Some(r);
        }
        compute_time += t.elapsed().as_secs_f64();
        for r in results.into_iter().flatten() {
            let r = r.map_err(LocalError::Read)?;
            totals.sites += 1;
            let pairs: std::collections::BTreeSet<(&str, i32)> =
                r.records.iter().map(|x| (x.layer.as_str(), x.year)).collect();
            totals.site_years += pairs.len() as u64;
            totals.nodata_site_years +=
                r.records.iter().filter(|x| matches!(x.measure, Measure::NoData)).count() as u64;
            writer.push(r).map_err(LocalError::Output)?;
        }
        batch.clear();
        Ok(())
    };
    let streamed = crate::sites::for_each(&pipeline.sites, |site| {
        batch.push(site);
        if batch.len() >= opts.batch.max(1) {
            if let Err(e) = flush(&mut batch, &mut writer, &mut totals) {
                failure = Some(e);
                return Err(Diagnostic::error("local::stopped", "the run stopped"));
            }
        }
        Ok(())
    });
    if let Some(f) = failure {
        return Err(f);
    }
    streamed.map_err(LocalError::Input)?;
    flush(&mut batch, &mut writer, &mut totals)?;
    let tw = Instant::now();
    let mut table = writer.finish().map_err(LocalError::Output)?;
    table.path = clean_path(&table.path);
    totals.rows = table.rows;
    let mut m = Manifest::new(pipeline, started_at, &table);
    m.pipeline.source = clean_path(&pipeline.source);
    m.totals = totals.clone();
    if let crate::pipeline::SiteLocation::File(p) = &pipeline.sites.location {
        m.inputs.push(Input {
            kind: "sites".into(),
            layer: None,
            year: None,
            location: clean_path(p).display().to_string(),
            bytes: std::fs::metadata(p).ok().map(|m| m.len()),
            details: Map::new(),
        });
    }
    for s in &sources {
        let r = &s.raster;
        let mut details = Map::new();
        details.insert("width".into(), r.width.into());
        details.insert("height".into(), r.height.into());
        details.insert("bands".into(), r.bands.into());
        details.insert("dtype".into(), r.dtype.clone().into());
        details.insert("crs".into(), r.crs.clone().into());
        details.insert("tiled".into(), r.tiled.into());
        details.insert("compression".into(), r.compression.clone().into());
        details.insert("pixel_size_deg".into(), serde_json::json!([r.transform.dx, r.transform.dy.abs()]));
        details.insert("nodata".into(), r.nodata.map(Value::from).unwrap_or(Value::Null));
        m.inputs.push(Input {
            kind: "raster".into(),
            layer: Some(pipeline.layers[s.layer].name.clone()),
            year: Some(s.year),
            location: r.path.display().to_string(),
            bytes: Some(r.bytes),
            details,
        });
    }
    let (hits, misses) = ctx.cache.stats();
    m.extra.insert(
        "chunk_cache".into(),
        serde_json::json!({"hits": hits, "decoded": misses, "budget_bytes": opts.cache_bytes}),
    );
    let seconds = t0.elapsed().as_secs_f64();
    m.timings = Timings {
        total_seconds: seconds,
        compute_seconds: Some(compute_time),
        write_seconds: Some(tw.elapsed().as_secs_f64()),
        threads: Some(threads),
    };
    let manifest_path = manifest::path_for(&table.path);
    m.write(&manifest_path).map_err(LocalError::Output)?;
    Ok(Outcome { table, manifest: manifest_path, totals, threads, seconds, warnings })
}

/// Site indices of a batch sorted along a Z-order curve of their centres on the first raster's chunk grid.
fn spatial_order(ctx: &Ctx, batch: &[Site]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    let Some(first) = ctx.sources.first() else {
        return order;
    };
    let r = &first.raster;
    let key = |s: &Site| -> u64 {
        let [x0, y0, x1, y1] = s.bbox();
        let c = r.transform.to_cell([(x0 + x1) / 2.0, (y0 + y1) / 2.0]);
        let cx = (c[0] / f64::from(r.chunk_width)).clamp(0.0, 65535.0) as u64;
        let cy = (c[1] / f64::from(r.chunk_height)).clamp(0.0, 65535.0) as u64;
        (0..16).fold(0u64, |k, b| k | ((cx >> b) & 1) << (2 * b) | ((cy >> b) & 1) << (2 * b + 1))
    };
    order.sort_by_cached_key(|&i| key(&batch[i]));
    order
}

/// GeoJSON geometry of a site (for GeoJSON tables).
fn geometry(site: &Site) -> Value {
    let ring = |r: &Vec<[f64; 2]>| Value::Array(r.iter().map(|p| serde_json::json!([p[0], p[1]])).collect());
    let poly = |p: &Vec<Vec<[f64; 2]>>| Value::Array(p.iter().map(ring).collect());
    if site.multi {
        serde_json::json!({"type": "MultiPolygon", "coordinates": site.polygons.iter().map(poly).collect::<Vec<_>>()})
    } else {
        serde_json::json!({"type": "Polygon", "coordinates": site.polygons.first().map(poly).unwrap_or(Value::Array(vec![]))})
    }
}

enum Acc {
    Cat(zonal::Categorical),
    Cont(Vec<zonal::Continuous>),
}

/// Computes every layer-year of one site.
fn compute_site(ctx: &Ctx, site: &Site) -> Result<SiteResult, RasterError> {
    let p = ctx.pipeline;
    let first = site.first_year(&p.sites);
    let mut records = Vec::new();
    let (mut cov, mut scratch) = (Vec::new(), Vec::new());
    for group in &ctx.groups {
        let jobs: Vec<usize> =
            group.iter().copied().filter(|&i| first.is_none_or(|f| ctx.sources[i].year >= f)).collect();
        if jobs.is_empty() {
            continue;
        }
        let mut accs: Vec<Acc> = jobs
            .iter()
            .map(|&i| {
                let l = &p.layers[ctx.sources[i].layer];
                match l.kind {
                    LayerKind::Categorical => Acc::Cat(zonal::Categorical::default()),
                    LayerKind::Continuous => {
                        let keep = l.stats.iter().any(|s| s == "median" || s.starts_with('p'));
                        Acc::Cont(l.bands.iter().map(|_| zonal::Continuous::new(keep)).collect())
                    }
                }
            })
            .collect();
        let grid = ctx.sources[jobs[0]].raster.clone();
        accumulate(ctx, site, &grid, &jobs, &mut accs, &mut cov, &mut scratch)?;
        for (&i, acc) in jobs.iter().zip(accs) {
            let s = &ctx.sources[i];
            let l = &p.layers[s.layer];
            let rec = |measure| Record { site: site.id.clone(), layer: l.name.clone(), year: s.year, measure };
            match acc {
                Acc::Cat(c) if c.is_empty() => records.push(rec(Measure::NoData)),
                Acc::Cat(c) => {
                    for (code, px, m2) in c.into_sorted() {
                        records.push(rec(Measure::Class { code, name: None, area_ha: m2 / 10_000.0, pixels: px }));
                    }
                }
                Acc::Cont(bands) if bands.iter().all(|b| b.is_empty()) => records.push(rec(Measure::NoData)),
                Acc::Cont(mut bands) => {
                    for (bi, b) in bands.iter_mut().enumerate() {
                        for st in &l.stats {
                            let value = b.stat(st);
                            records.push(rec(Measure::Stat { band: l.bands[bi].clone(), stat: st.clone(), value }));
                        }
                    }
                }
            }
        }
    }
    Ok(SiteResult {
        id: site.id.clone(),
        properties: site.properties.clone(),
        geometry: ctx.geometry.then(|| geometry(site)),
        records,
    })
}

/// Walks the site's window on `grid` block by block and feeds every job's accumulators.
fn accumulate(
    ctx: &Ctx,
    site: &Site,
    grid: &GeoTiff,
    jobs: &[usize],
    accs: &mut [Acc],
    cov: &mut Vec<f64>,
    scratch: &mut Vec<f64>,
) -> Result<(), RasterError> {
    let t = grid.transform;
    let [x0, y0, x1, y1] = site.bbox();
    if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
        return Ok(());
    }
    let a = t.to_cell([x0, y0]);
    let b = t.to_cell([x1, y1]);
    let clamp = |v: f64, hi: u32| v.max(0.0).min(hi as f64);
    let col0 = clamp(a[0].min(b[0]).floor(), grid.width) as usize;
    let col1 = clamp(a[0].max(b[0]).ceil(), grid.width) as usize;
    let row0 = clamp(a[1].min(b[1]).floor(), grid.height) as usize;
    let row1 = clamp(a[1].max(b[1]).ceil(), grid.height) as usize;
    if col1 <= col0 || row1 <= row0 {
        return Ok(());
    }
    // Window-local cell coordinates keep the numbers small (precision).
    let (ox, oy) = (t.x0 + col0 as f64 * t.dx, t.y0 + row0 as f64 * t.dy);
    let rings = coverage::rings_in_cells(&site.polygons, |p| [(p[0] - ox) / t.dx, (p[1] - oy) / t.dy]);
    let (ww, wh) = (col1 - col0, row1 - row0);
    let mut row_area = Vec::with_capacity(BLOCK);
    for by in (0..wh).step_by(BLOCK) {
        let bh = BLOCK.min(wh - by);
        for bx in (0..ww).step_by(BLOCK) {
            let bw = BLOCK.min(ww - bx);
            coverage::coverage_block(&rings, bx as f64, by as f64, bw, bh, cov, scratch);
            if cov.iter().all(|&c| c == 0.0) {
                continue;
            }
            // Global pixel rectangle of this block.
            let (gc0, gr0) = (col0 + bx, row0 + by);
            row_area.clear();
            for r in 0..bh {
                let g = (gr0 + r) as f64;
                row_area.push(area::cell_area_m2(0.0, t.dx, t.y0 + g * t.dy, t.y0 + (g + 1.0) * t.dy));
            }
            for (&job, acc) in jobs.iter().zip(accs.iter_mut()) {
                let r = &ctx.sources[job].raster;
                let (cw, ch) = (r.chunk_width as usize, r.chunk_height as usize);
                let bands = match acc {
                    Acc::Cat(_) => 1,
                    Acc::Cont(v) => v.len(),
                };
                for band in 0..bands {
                    for cy in gr0 / ch..=(gr0 + bh - 1) / ch {
                        for cx in gc0 / cw..=(gc0 + bw - 1) / cw {
                            // Skip chunks the polygon does not touch within this block.
                            let (ys, ye) = ((cy * ch).max(gr0), ((cy + 1) * ch).min(gr0 + bh));
                            let (xs, xe) = ((cx * cw).max(gc0), ((cx + 1) * cw).min(gc0 + bw));
                            let touched = (ys..ye).any(|gy| {
                                let row = &cov[(gy - gr0) * bw..(gy - gr0 + 1) * bw];
                                row[xs - gc0..xe - gc0].iter().any(|&c| c > 0.0)
                            });
                            if !touched {
                                continue;
                            }
                            let chunk = ctx.cache.get(r, cx as u32, cy as u32, band as u16)?;
                            let layer = &ctx.pipeline.layers[ctx.sources[job].layer];
                            let mask = match (&ctx.sources[job].mask, &layer.nodata.mask) {
                                (Some(m), Some(nd)) => Some(mask_window(&ctx.cache, m, &nd.valid, (xs, xe), (ys, ye))?),
                                _ => None,
                            };
                            let cells = Cells {
                                nodata: &layer.nodata.values,
                                mask: mask.as_deref(),
                                cov,
                                row_area: &row_area,
                                block: (gc0, gr0, bw),
                                rows: (ys, ye),
                                cols: (xs, xe),
                                origin: (cx * cw, cy * ch),
                                stride: chunk.width,
                            };
                            match &chunk.values {
                                geotiff::Values::U8(v) => cells.feed(v, r, acc, band),
                                geotiff::Values::F32(v) => cells.feed(v, r, acc, band),
                                geotiff::Values::F64(v) => cells.feed(v, r, acc, band),
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The cells of one chunk within one coverage block.
struct Cells<'a> {
    /// The layer's no-data values (never a class nor part of a statistic).
    nodata: &'a [f64],
    /// Whether each cell of `cols × rows` is data by the layer's mask raster.
    mask: Option<&'a [bool]>,
    cov: &'a [f64],
    row_area: &'a [f64],
    /// Global column and row of the block's first cell, and the block's width.
    block: (usize, usize, usize),
    /// Global row and column ranges (end exclusive) to visit.
    rows: (usize, usize),
    cols: (usize, usize),
    /// Global column and row of the chunk's first cell, and its row stride.
    origin: (usize, usize),
    stride: usize,
}

impl Cells<'_> {
    fn feed<T: Copy + Into<f64>>(&self, values: &[T], r: &GeoTiff, acc: &mut Acc, band: usize) {
        let (gc0, gr0, bw) = self.block;
        let (ox, oy) = self.origin;
        for gy in self.rows.0..self.rows.1 {
            let crow = &self.cov[(gy - gr0) * bw..(gy - gr0 + 1) * bw];
            let vrow = &values[(gy - oy) * self.stride..];
            let cell_m2 = self.row_area[gy - gr0];
            for gx in self.cols.0..self.cols.1 {
                let w = crow[gx - gc0];
                if w == 0.0 {
                    continue;
                }
                let v: f64 = vrow[gx - ox].into();
                if !r.is_valid(v) || self.nodata.contains(&v) {
                    continue;
                }
                if let Some(m) = self.mask {
                    if !m[(gy - self.rows.0) * (self.cols.1 - self.cols.0) + (gx - self.cols.0)] {
                        continue;
                    }
                }
                match acc {
                    Acc::Cat(c) => c.add(v, w, cell_m2),
                    Acc::Cont(bs) => bs[band].add(v, w),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_fill_years_and_vars() {
        let mut vars = BTreeMap::new();
        vars.insert("collection".to_string(), Value::from(10));
        assert_eq!(
            render_path("/d/c{{collection}}/lulc_{{ year }}-{{next_year}}.tif", 2020, "lulc", &vars).unwrap(),
            "/d/c10/lulc_2020-2021.tif"
        );
        let e = render_path("/d/{{yaer}}.tif", 2020, "lulc", &vars).unwrap_err();
        assert!(e.contains("did you mean `year`"), "{e}");
        assert!(render_path("/d/{{year.tif", 2020, "lulc", &vars).is_err());
    }
}
