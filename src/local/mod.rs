//! The local engine: the same zonal statistics computed on GeoTIFFs on this machine, with exact pixel coverage.
//!
//! Stages:
//! 1. [`open`] every layer-year raster named by the layers' `local:` templates (files or `http(s)://`
//!    URLs; all problems are reported together, before any computation);
//! 2. read the whole site file once into an anonymous spill file, keeping ~32 bytes per site in memory,
//!    and order all sites along a space-filling curve ([`order`]);
//! 3. compute the sites in that order, in batches, in parallel on all cores ([`rayon`]), each site
//!    reading only the strips/tiles its window touches through a shared [`cache::ChunkCache`] sized
//!    from the rasters' block layout and the available memory ([`compute`]); results are spilled;
//! 4. write the table in the site file's order with the shared [`crate::results::table::TableWriter`]
//!    (a temporary file renamed at the end), then the manifest.
//!
//! Progress is reported through the executor's [`Observer`]s (a bar or periodic lines, `--events`
//! JSON lines): `local_started`, `sites_done` about twice a second, `finished`. A stop flag (set on
//! Ctrl-C / SIGTERM by the CLI) ends the run between sites with [`LocalError::Interrupted`]; nothing
//! is left behind (spill files are unlinked at creation, the table's temporary file is removed).
//!
//! Memory is bounded by the number of sites (a few dozen bytes each), the cache budget and the largest
//! site window (processed in blocks of [`BLOCK`] × [`BLOCK`] cells), not by the rasters or the site
//! geometries. Exception: the wide table layout keeps one row per site until the end, and percentiles
//! keep a site's pixel values.
//!
//! Coverage is shared between layer-years whose rasters have the same grid (the usual case: one file
//! per year of the same product), so each site's polygon is rasterised once per grid, not per year.

pub mod area;
pub mod cache;
pub mod cells;
pub mod compute;
pub mod coverage;
pub mod evenodd;
pub mod geokeys;
pub mod geotiff;
pub mod grid;
pub mod http;
pub mod open;
pub mod order;
mod paths;
pub mod project;
pub mod rastercrs;
pub mod source;
pub mod zonal;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::diag::{Code, Diagnostic};
use crate::executor::{Counts, Event, Observer};
use crate::pipeline::Pipeline;
use crate::results::assemble::Assembled;
use crate::results::manifest::{self, Input, Manifest, Timings, Totals};
use crate::results::table::{TableError, TableSpec, TableSummary};
use crate::sites::Site;
use compute::{Ctx, Out};
use geotiff::RasterError;
pub use open::render_path;
pub use paths::clean_path;

/// Cells per side of the coverage blocks a site window is processed in.
pub const BLOCK: usize = 512;

/// Tuning knobs (defaults suit a laptop).
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
    /// Budget of the decoded-chunk cache in bytes (default: [`cache::default_budget`]).
    pub cache_bytes: Option<usize>,
    /// Sites computed in parallel between two progress checks.
    pub batch: usize,
    /// How often progress events are sent.
    pub progress_every: Duration,
    /// Compute every site again, ignoring (and replacing) what the results store holds (`--fresh`).
    pub fresh: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: None,
            cache_bytes: None,
            batch: 1024,
            progress_every: Duration::from_millis(500),
            fresh: false,
        }
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
    /// Stopped by the stop flag (Ctrl-C); exit code 3.
    Interrupted,
    /// The results store cannot be used (exit code 4).
    Store(crate::store::StoreError),
}

/// What a successful run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What this run computed and what the results store already had.
    pub reuse: Reuse,
    pub table: TableSummary,
    pub manifest: PathBuf,
    pub totals: Totals,
    pub threads: usize,
    pub seconds: f64,
    pub warnings: Vec<Diagnostic>,
    pub cache: cache::CacheStats,
    pub cache_budget: usize,
}

/// How much of a run the results store spared: sites whose every cell was stored, sites computed (wholly
/// or only their missing layer-years) and the cells this run wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    pub sites_stored: usize,
    pub sites_computed: usize,
    pub cells_computed: u64,
}

/// Observers and the stop flag of a run.
pub struct Watch<'a> {
    pub observers: Vec<Box<dyn Observer>>,
    pub stop: &'a AtomicBool,
}

impl Watch<'_> {
    fn send(&mut self, e: &Event, c: &Counts) {
        for o in &mut self.observers {
            o.event(e, c);
        }
    }
}

fn counts(total: usize, done: usize) -> Counts {
    Counts { total, succeeded: done, planned: total - done.min(total), ..Counts::default() }
}

/// The folder the spill files go to: the output's folder, or its nearest existing ancestor (nothing is
/// created before the table is written).
fn spill_dir(output: &Path) -> PathBuf {
    let mut d = output.parent().map(Path::to_path_buf).unwrap_or_default();
    loop {
        if d.as_os_str().is_empty() {
            return PathBuf::from(".");
        }
        if d.is_dir() {
            return d;
        }
        if !d.pop() {
            return PathBuf::from(".");
        }
    }
}

/// Runs the pipeline with the local engine; writes the table and manifest.
pub fn run(pipeline: &Pipeline, opts: &Options, mut watch: Watch) -> Result<Outcome, LocalError> {
    let t0 = Instant::now();
    let started_at = manifest::now();
    let stop = watch.stop;
    let (sources, warnings) = open::open_sources(pipeline).map_err(LocalError::Input)?;
    let spec = TableSpec::from_pipeline(pipeline);
    spec.check().map_err(LocalError::Output)?;
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        match groups.iter_mut().find(|g| sources[g[0]].raster.same_grid(&s.raster)) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    let grids =
        groups.iter().map(|g| grid::Grid::for_raster(&sources[g[0]].raster)).collect::<Result<Vec<_>, _>>().map_err(
            |e| {
                let mut d =
                    Diagnostic::error(Code::LocalRaster, e.to_string()).in_file(pipeline.source.display().to_string());
                if let Some(h) = e.help() {
                    d = d.with_help(h);
                }
                LocalError::Input(vec![d])
            },
        )?;
    let budget = opts.cache_bytes.unwrap_or_else(|| {
        let mut seen = std::collections::BTreeMap::new();
        for s in &sources {
            let l = &pipeline.layers[s.layer];
            let bands = if l.kind == crate::pipeline::LayerKind::Continuous { l.bands.len() as u16 } else { 1 };
            seen.insert(s.raster.id, (s.raster.as_ref(), bands));
        }
        cache::default_budget(seen.into_values(), cache::available_memory())
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or(0))
        .build()
        .map_err(|e| LocalError::Input(vec![Diagnostic::error(Code::LocalThreads, e.to_string())]))?;
    let threads = pool.current_num_threads();

    // Read every site once, in file order, into the spill.
    let dir = spill_dir(&pipeline.output.path);
    let spill = {
        let stopped = AtomicBool::new(false);
        let s = order::SiteSpill::collect_until(&pipeline.sites, &dir, || {
            let now = stop.load(Ordering::Relaxed);
            stopped.store(now, Ordering::Relaxed);
            now
        });
        if stopped.load(Ordering::Relaxed) {
            return Err(LocalError::Interrupted);
        }
        s.map_err(LocalError::Input)?
    };
    let n = spill.len();
    // The results store: layer-years of a site stored already are not computed again.
    let store_path = crate::store::path_for_journal(&crate::journal::Journal::default_path(pipeline));
    let mut store = crate::store::Store::open(&store_path).map_err(LocalError::Store)?;
    let (model, place) = cells::model(pipeline, &sources);
    let binding = store.bind(&model, true).map_err(LocalError::Store)?;
    let curve = match sources.first() {
        Some(s) if !s.raster.tiled => order::Curve::Rows,
        _ => order::Curve::Hilbert,
    };
    let visit = spill.order(curve);
    let ctx = Ctx {
        pipeline,
        sources: &sources,
        groups,
        grids,
        cache: cache::ChunkCache::new(budget),
        done: AtomicUsize::new(0),
        stop,
    };
    let layer_years: usize = pipeline.layers.iter().map(|l| l.years.len()).sum();
    watch.send(&Event::LocalStarted { sites: n, layer_years, threads, cache_mb: (budget >> 20) as u64 }, &counts(n, 0));

    // Compute along the curve; a ticker thread reports progress meanwhile.
    let tc = Instant::now();
    let finished = AtomicBool::new(false);
    let stored = Stored { model: &model, place: &place, binding: &binding, fresh: opts.fresh };
    let computed: Result<Reuse, LocalError> = std::thread::scope(|sc| {
        let observers = &mut watch.observers;
        let (done, fin, every) = (&ctx.done, &finished, opts.progress_every);
        sc.spawn(move || {
            let mut last = usize::MAX;
            let mut next = Instant::now() + every;
            while !fin.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20).min(every));
                if Instant::now() < next {
                    continue;
                }
                next = Instant::now() + every;
                let d = done.load(Ordering::Relaxed);
                if d != last {
                    last = d;
                    for o in observers.iter_mut() {
                        o.event(&Event::SitesDone { done: d, total: n }, &counts(n, d));
                    }
                }
            }
        });
        let r = compute_all(&ctx, &pool, &spill, &visit, opts.batch, &mut store, &stored);
        finished.store(true, Ordering::Relaxed);
        r
    });
    let done = ctx.done.load(Ordering::Relaxed);
    let stats = ctx.cache.stats();
    let finish_event = |ok: bool| Event::Finished {
        succeeded: done,
        failed: usize::from(!ok),
        cancelled: 0,
        remaining: n.saturating_sub(done),
    };
    let reuse = match computed {
        Ok(r) => r,
        Err(e) => {
            watch.send(&finish_event(false), &counts(n, done));
            for o in &mut watch.observers {
                o.finish(&counts(n, done));
            }
            return Err(e);
        }
    };
    watch.send(&Event::SitesDone { done, total: n }, &counts(n, done));
    watch.send(&finish_event(true), &counts(n, done));
    for o in &mut watch.observers {
        o.finish(&counts(n, done));
    }
    let compute_time = tc.elapsed().as_secs_f64();

    // The table, in site-file order, from the store.
    let tw = Instant::now();
    if stop.load(Ordering::Relaxed) {
        return Err(LocalError::Interrupted);
    }
    let from_store =
        crate::store::assemble::table(&store, &binding, &model, pipeline, spec, &pipeline.output.path, false).map_err(
            |e| match e {
                crate::store::assemble::AssembleError::Store(e) => LocalError::Store(e),
                crate::store::assemble::AssembleError::Table(e) => LocalError::Output(e),
                crate::store::assemble::AssembleError::Sites(m) => {
                    LocalError::Input(vec![Diagnostic::error(Code::SitesRead, m)])
                }
            },
        )?;
    let Some(mut assembled) = from_store.assembled else {
        return Err(LocalError::Output(TableError::Io {
            path: pipeline.output.path.clone(),
            source: std::io::Error::other(format!(
                "{} site(s) have no stored results after computing them (first: {})",
                from_store.missing_count,
                from_store.missing.first().map(String::as_str).unwrap_or("?")
            )),
        }));
    };
    assembled.table.path = clean_path(&assembled.table.path);
    let mut m = manifest(pipeline, started_at, &assembled, &sources, stats, budget);
    let seconds = t0.elapsed().as_secs_f64();
    m.timings = Timings {
        total_seconds: seconds,
        compute_seconds: Some(compute_time),
        write_seconds: Some(tw.elapsed().as_secs_f64()),
        threads: Some(threads),
    };
    let manifest_path = assembled.place(&m).map_err(LocalError::Output)?;
    let manifest_path = clean_path(&manifest_path);
    Ok(Outcome {
        table: assembled.table,
        manifest: manifest_path,
        totals: assembled.totals,
        threads,
        seconds,
        warnings,
        cache: stats,
        cache_budget: budget,
        reuse,
    })
}

/// The store and what a run needs to use it.
struct Stored<'a> {
    model: &'a crate::plan::cells::CellModel,
    place: &'a [(usize, usize)],
    binding: &'a crate::store::Binding,
    fresh: bool,
}

/// Computes every site in `visit` order, batch by batch: what each site lacks in the store, computed in
/// parallel and stored (one transaction per batch). Returns what was computed and what the store had.
fn compute_all(
    ctx: &Ctx,
    pool: &rayon::ThreadPool,
    spill: &order::SiteSpill,
    visit: &[u32],
    batch: usize,
    store: &mut crate::store::Store,
    st: &Stored,
) -> Result<Reuse, LocalError> {
    let io_error = |e: std::io::Error| {
        LocalError::Input(vec![Diagnostic::error(Code::LocalSpill, format!("cannot read a temporary file: {e}"))])
    };
    let exprs = cells::expr_rows(st.model, st.binding);
    let mut buf = Vec::new();
    let mut origin: Option<i64> = None;
    let mut written = 0u64;
    let mut reuse = Reuse::default();
    for part in visit.chunks(batch.max(1)) {
        if ctx.stop.load(Ordering::Relaxed) {
            return Err(LocalError::Interrupted);
        }
        let sites: Vec<Site> =
            part.iter().map(|&i| spill.get(i as usize, &mut buf)).collect::<Result<_, _>>().map_err(io_error)?;
        // What each site lacks (everything with `--fresh`).
        let mut todo: Vec<(Site, crate::plan::cells::Key, crate::plan::cells::CellSet, Vec<bool>)> = Vec::new();
        for s in sites {
            let key = crate::plan::cells::site_key(&s);
            let needed = st.model.needed(s.first_year(&ctx.pipeline.sites));
            let mut have = crate::plan::cells::CellSet::new(st.model.cells_per_site());
            if !st.fresh && st.binding.any_stored {
                store.stored(st.binding, st.model, &s, &key, &mut have).map_err(LocalError::Store)?;
            }
            let missing = needed.minus(&have);
            if missing.is_empty() {
                ctx.done.fetch_add(1, Ordering::Relaxed);
                reuse.sites_stored += 1;
                continue;
            }
            let only = cells::sources_for(st.model, st.place, &missing);
            todo.push((s, key, missing, only));
        }
        let computed: Vec<Option<Result<Vec<Out>, RasterError>>> = pool.install(|| {
            todo.par_iter()
                .map(|(s, _, _, only)| {
                    (!ctx.stop.load(Ordering::Relaxed)).then(|| compute::compute_site(ctx, s, Some(only)))
                })
                .collect()
        });
        let mut w = store.writer(st.fresh).map_err(LocalError::Store)?;
        let o = match origin {
            Some(o) => o,
            None => {
                let o = w
                    .origin(&crate::store::Origin { kind: "local".into(), ..Default::default() })
                    .map_err(LocalError::Store)?;
                origin = Some(o);
                o
            }
        };
        for ((s, key, missing, _), r) in todo.iter().zip(computed) {
            let outs = r.ok_or(LocalError::Interrupted)?.map_err(LocalError::Read)?;
            written += cells::store_site(&mut w, st.model, st.place, &exprs, &s.id, key, missing, &outs, o)
                .map_err(LocalError::Store)?;
        }
        w.finish_origin(o, written).map_err(LocalError::Store)?;
        w.commit().map_err(LocalError::Store)?;
        reuse.sites_computed += todo.len();
    }
    reuse.cells_computed = written;
    Ok(reuse)
}

fn manifest(
    pipeline: &Pipeline,
    started_at: String,
    assembled: &Assembled,
    sources: &[open::Source],
    stats: cache::CacheStats,
    budget: usize,
) -> Manifest {
    let mut m = assembled.manifest(pipeline, started_at);
    m.pipeline.source = clean_path(&pipeline.source);
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
    for s in sources {
        let r = &s.raster;
        let mut details = Map::new();
        details.insert("width".into(), r.width.into());
        details.insert("height".into(), r.height.into());
        details.insert("bands".into(), r.bands.into());
        details.insert("dtype".into(), r.dtype.clone().into());
        details.insert("crs".into(), r.crs.name().into());
        if !r.crs.is_wgs84() {
            details.insert("crs_definition".into(), r.crs.definition().into());
        }
        details.insert("tiled".into(), r.tiled.into());
        details.insert("compression".into(), r.compression.clone().into());
        let size = if r.crs.is_geographic() { "pixel_size_deg" } else { "pixel_size" };
        details.insert(size.into(), serde_json::json!([r.transform.dx, r.transform.dy.abs()]));
        details.insert("bytes_read".into(), r.bytes_read().into());
        if r.requests() > 0 {
            details.insert("http_requests".into(), r.requests().into());
        }
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
    m.extra.insert(
        "chunk_cache".into(),
        serde_json::json!({
            "hits": stats.hits,
            "decoded": stats.decoded,
            "distinct_decoded": stats.distinct,
            "decodes_per_chunk": stats.decodes_per_chunk(),
            "budget_bytes": budget,
        }),
    );
    m
}
