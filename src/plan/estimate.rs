//! The plan's work estimate, and what follows from it: how many sites go into one interactive request, and
//! which mode `auto` picks (and why).
//!
//! **The estimate** (no request is sent): for each site its area (equirectangular shoelace, holes taken out)
//! over each layer's pixel size gives the pixels it reads per image (at least 1); times the images per
//! layer-year (a layer built from an image collection — a yearly composite — counts
//! [`COMPOSITE_IMAGES_PER_YEAR`]), times the bands reduced, times the layer-years reduced (a static layer
//! once). Response bytes per site come from the column contract ([`super::columns`]): each column's name
//! plus its expected value (a class dictionary holds a few classes, a statistic one number).
//!
//! **Interactive limits** (developers.google.com/earth-engine/guides/processing_environments): a request
//! must finish within five minutes and its response stays within tens of megabytes. Earth Engine publishes no
//! throughput, so geepipe assumes [`PIXELS_PER_SECOND`] pixel reads per second per request, [`SITE_SECONDS`]
//! per site and [`REQUEST_OVERHEAD_SECONDS`] of latency per request on the high-volume endpoint, and keeps every
//! request
//! well inside the limits: at most [`MAX_PIXELS_PER_REQUEST`] pixel reads (about 30 s at the assumed rate, a
//! tenth of the limit) and [`MAX_RESPONSE_BYTES`] of response. A request that still times out, runs out of
//! memory or returns too much is split by the executor, as batch chunks are. Within those bounds the sites are
//! spread over the requests in flight, so every slot has work.
//!
//! **`auto`** picks interactive when the sites come from a file (their number is known), no single site needs
//! more than one request can do, and the estimated interactive run takes at most `interactive.auto_max_minutes`
//! (default 15): interactive requests need this machine until the last answer, while batch tasks keep running
//! on Earth Engine. Otherwise batch, which needs an `export` destination.

use serde::Serialize;

use crate::pipeline::{LayerKind, ModeName, Pipeline};
use crate::sites::Site;

/// Assumed pixel reads per second of one interactive request (Earth Engine publishes no figure).
pub const PIXELS_PER_SECOND: f64 = 1.0e6;
/// Assumed latency of one request on the high-volume endpoint ("higher average latency", same page).
pub const REQUEST_OVERHEAD_SECONDS: f64 = 2.0;
/// Assumed work per site besides its pixels (its geometry, the grouped reducers' output).
pub const SITE_SECONDS: f64 = 0.005;
/// Pixel reads one interactive request is given at most (≈ 30 s at [`PIXELS_PER_SECOND`]).
pub const MAX_PIXELS_PER_REQUEST: f64 = 3.0e7;
/// Response bytes one interactive request is given at most (Earth Engine: "tens of megabytes").
pub const MAX_RESPONSE_BYTES: f64 = 8.0e6;
/// Images per year counted for a layer that reduces an image collection (a composite): about two a month.
pub const COMPOSITE_IMAGES_PER_YEAR: f64 = 24.0;
/// Pixel size assumed for a layer with neither `scale` nor `reduce.scale`.
pub const DEFAULT_SCALE_M: f64 = 30.0;
/// Classes expected in one categorical cell (the legend's size when smaller).
const CLASSES_PER_SITE: f64 = 6.0;
/// Metres per degree of latitude (mean Earth radius 6,371,008.8 m).
const M_PER_DEGREE: f64 = 111_195.08;

/// What the plan's sites ask of Earth Engine.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Estimate {
    pub sites: usize,
    /// Layer-years (sum over layers of their years, as the plan summary counts them).
    pub layer_years: usize,
    /// Pixel reads for every site, layer, image and band.
    pub pixel_reads: f64,
    /// The largest pixel reads of one site.
    pub max_site_pixel_reads: f64,
    /// The site with the largest pixel reads.
    pub max_site: Option<String>,
    /// Expected bytes of one site's feature in a `computeFeatures` response.
    pub response_bytes_per_site: f64,
}

impl Estimate {
    /// Mean pixel reads per site.
    pub fn pixel_reads_per_site(&self) -> f64 {
        if self.sites == 0 {
            0.0
        } else {
            self.pixel_reads / self.sites as f64
        }
    }
}

/// How a run is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    Interactive,
    Batch,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Interactive => "interactive",
            RunMode::Batch => "batch",
        }
    }
}

/// The mode a run uses, why, and (interactive) how its requests are sized.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Decision {
    pub mode: RunMode,
    /// Whether `auto` chose (rather than the pipeline or `--mode`).
    pub auto: bool,
    /// One sentence for people: why this mode.
    pub reason: String,
    /// Sites per interactive request (interactive only).
    pub sites_per_request: Option<usize>,
    /// Interactive requests (interactive only; splits add more).
    pub requests: Option<usize>,
    /// Estimated interactive run time in seconds, from the assumptions above.
    pub interactive_seconds: Option<f64>,
    pub estimate: Option<Estimate>,
}

/// The work estimate of `sites` for `pipeline` (see the module doc).
pub fn estimate(pipeline: &Pipeline, sites: &[Site]) -> Estimate {
    let mut acc = Accumulator::new(pipeline);
    for s in sites {
        acc.add(s, 1.0);
    }
    acc.finish(pipeline)
}

/// The estimate built one site at a time (planning streams over the site file), each site weighted by the
/// share of its work still to do (a site lacking one layer-year of fifteen counts a fifteenth of its reads).
pub struct Accumulator {
    /// Per layer: (pixel area in m², images × bands × layer-years per site).
    layers: Vec<(f64, f64)>,
    sites: usize,
    total: f64,
    max: f64,
    max_site: Option<String>,
}

impl Accumulator {
    pub fn new(pipeline: &Pipeline) -> Accumulator {
        let layers = pipeline
            .layers
            .iter()
            .map(|l| {
                let scale = pipeline.reduce.scale.or(l.scale).filter(|s| *s > 0.0).unwrap_or(DEFAULT_SCALE_M);
                let is_static =
                    l.image.as_ref().is_some_and(|i| !crate::expr::template::mentions(i, &["year", "next_year"]));
                let years = if is_static { 1.0 } else { l.years.len() as f64 };
                let images =
                    if l.image.as_ref().is_some_and(reads_collection) { COMPOSITE_IMAGES_PER_YEAR } else { 1.0 };
                let bands = match l.kind {
                    LayerKind::Categorical => 1.0,
                    LayerKind::Continuous => l.bands.len().max(1) as f64,
                };
                (scale * scale, years * images * bands)
            })
            .collect();
        Accumulator { layers, sites: 0, total: 0.0, max: 0.0, max_site: None }
    }

    /// Adds a site with `share` (0..=1) of its work to do.
    pub fn add(&mut self, s: &Site, share: f64) {
        let area = site_area_m2(s);
        let reads: f64 = self.layers.iter().map(|(cell, factor)| (area / cell).max(1.0) * factor).sum::<f64>() * share;
        self.sites += 1;
        self.total += reads;
        if reads > self.max {
            self.max = reads;
            self.max_site = Some(s.id.clone());
        }
    }

    pub fn finish(self, pipeline: &Pipeline) -> Estimate {
        let layer_years = pipeline
            .layers
            .iter()
            .map(|l| {
                let is_static =
                    l.image.as_ref().is_some_and(|i| !crate::expr::template::mentions(i, &["year", "next_year"]));
                if is_static {
                    1
                } else {
                    l.years.len()
                }
            })
            .sum();
        Estimate {
            sites: self.sites,
            layer_years,
            pixel_reads: self.total,
            max_site_pixel_reads: self.max,
            max_site: self.max_site,
            response_bytes_per_site: response_bytes_per_site(pipeline),
        }
    }
}

/// Whether an expression (nested `call` form) reduces or mosaics an image collection.
fn reads_collection(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            m.get("call").and_then(|c| c.as_str()).is_some_and(|c| c.starts_with("ImageCollection.load"))
                || m.values().any(reads_collection)
        }
        serde_json::Value::Array(a) => a.iter().any(reads_collection),
        _ => false,
    }
}

/// Area of a site in square metres: the shoelace formula on longitude/latitude scaled to metres at the
/// ring's mean latitude; holes are subtracted. Good to a few percent for sites up to a few degrees.
pub fn site_area_m2(site: &Site) -> f64 {
    let ring_area = |ring: &[[f64; 2]]| -> f64 {
        if ring.len() < 3 {
            return 0.0;
        }
        let mean_lat = ring.iter().map(|p| p[1]).sum::<f64>() / ring.len() as f64;
        let kx = M_PER_DEGREE * mean_lat.to_radians().cos();
        let mut twice = 0.0;
        for w in ring.windows(2) {
            twice += w[0][0] * kx * w[1][1] * M_PER_DEGREE - w[1][0] * kx * w[0][1] * M_PER_DEGREE;
        }
        (twice / 2.0).abs()
    };
    site.polygons
        .iter()
        .map(|poly| {
            let mut rings = poly.iter();
            let outer = rings.next().map(|r| ring_area(r)).unwrap_or(0.0);
            let holes: f64 = rings.map(|r| ring_area(r)).sum();
            (outer - holes).max(0.0)
        })
        .sum()
}

/// Expected bytes of one site's feature in a `computeFeatures` response: an envelope plus, for each column of
/// the contract, its name and a value.
fn response_bytes_per_site(pipeline: &Pipeline) -> f64 {
    use super::columns::ColumnKind;
    let mut bytes = 80.0;
    for c in super::columns(pipeline) {
        let value = match &c.kind {
            ColumnKind::SiteId | ColumnKind::Keep { .. } => 30.0,
            ColumnKind::FirstYear { .. } => 6.0,
            ColumnKind::Area { layer, .. } | ColumnKind::Pixels { layer, .. } => {
                let legend = pipeline.layers.iter().find(|l| &l.name == layer).map(|l| l.legend.len()).unwrap_or(0);
                let classes = if legend == 0 { CLASSES_PER_SITE } else { CLASSES_PER_SITE.min(legend as f64) };
                // `"{\"3\":12.345678901,…}"`: an escaped code and a number per class.
                8.0 + classes * 30.0
            }
            ColumnKind::Stat { .. } => 22.0,
        };
        bytes += c.name.len() as f64 + 4.0 + value;
    }
    bytes
}

/// Sites per interactive request for `e`, within the limits above, spread over `in_flight` requests.
pub fn sites_per_request(pipeline: &Pipeline, e: &Estimate) -> usize {
    if let Some(n) = pipeline.interactive.sites_per_request {
        return n.max(1);
    }
    let per_site = e.pixel_reads_per_site().max(1.0);
    let by_pixels = (MAX_PIXELS_PER_REQUEST / per_site).floor();
    let by_bytes = (MAX_RESPONSE_BYTES / e.response_bytes_per_site.max(1.0)).floor();
    let page = pipeline.interactive.page_size as f64;
    let spread = (e.sites as f64 / pipeline.interactive.max_in_flight.max(1) as f64).ceil();
    by_pixels.min(by_bytes).min(page).min(spread).max(1.0) as usize
}

/// Estimated seconds an interactive run of `e` takes with `per_request` sites per request.
pub fn interactive_seconds(pipeline: &Pipeline, e: &Estimate, per_request: usize) -> (usize, f64) {
    let per_request = per_request.max(1);
    let requests = e.sites.div_ceil(per_request).max(1);
    let one =
        REQUEST_OVERHEAD_SECONDS + per_request as f64 * (e.pixel_reads_per_site() / PIXELS_PER_SECOND + SITE_SECONDS);
    let waves = requests.div_ceil(pipeline.interactive.max_in_flight.max(1)) as f64;
    let by_rate = requests as f64 / pipeline.interactive.requests_per_second.max(1) as f64;
    (requests, (waves * one).max(by_rate))
}

/// The mode of a run of `pipeline` over `sites` (`None`: sites in an asset, their number unknown).
/// `export_only` says why the pipeline's kind runs only as export tasks, when it does
/// ([`super::Planner::export_only`]).
pub fn decide(pipeline: &Pipeline, sites: Option<&[Site]>, export_only: Option<&str>) -> Decision {
    let batch = |auto: bool, reason: String, estimate: Option<Estimate>| Decision {
        mode: RunMode::Batch,
        auto,
        reason,
        sites_per_request: None,
        requests: None,
        interactive_seconds: None,
        estimate,
    };
    if let Some(reason) = export_only {
        return batch(false, reason.to_string(), None);
    }
    if pipeline.mode == ModeName::Batch {
        return batch(false, "`mode: batch`".into(), sites.map(|s| estimate(pipeline, s)));
    }
    let auto = pipeline.mode == ModeName::Auto;
    let Some(sites) = sites else {
        if auto {
            return batch(
                true,
                "the sites are in an Earth Engine table asset, so their number is unknown before the run".into(),
                None,
            );
        }
        return Decision {
            mode: RunMode::Interactive,
            auto,
            reason: "`mode: interactive` (sites in a table asset: one request, split when too big)".into(),
            sites_per_request: None,
            requests: Some(1),
            interactive_seconds: None,
            estimate: None,
        };
    };
    decide_estimate(pipeline, estimate(pipeline, sites))
}

/// The mode of a run of `pipeline` whose sites (in a file) have the estimate `e` (see [`decide`]).
pub fn decide_estimate(pipeline: &Pipeline, e: Estimate) -> Decision {
    let batch = |reason: String, estimate: Estimate| Decision {
        mode: RunMode::Batch,
        auto: true,
        reason,
        sites_per_request: None,
        requests: None,
        interactive_seconds: None,
        estimate: Some(estimate),
    };
    let auto = pipeline.mode == ModeName::Auto;
    let per_request = sites_per_request(pipeline, &e);
    let (requests, seconds) = interactive_seconds(pipeline, &e, per_request);
    let limit = pipeline.interactive.auto_max_minutes * 60.0;
    let work = format!(
        "{} site{} × {} layer-years ≈ {} pixel reads, about {} in {requests} request{} of up to {per_request} site{}",
        e.sites,
        if e.sites == 1 { "" } else { "s" },
        e.layer_years,
        si(e.pixel_reads),
        duration(seconds),
        if requests == 1 { "" } else { "s" },
        if per_request == 1 { "" } else { "s" },
    );
    let reason = if !auto {
        format!("`mode: interactive`: {work}")
    } else if e.max_site_pixel_reads > MAX_PIXELS_PER_REQUEST {
        return batch(
            format!(
                "site `{}` alone reads ≈ {} pixels, more than one interactive request should ({}): batch tasks have no \
                 5-minute limit",
                e.max_site.clone().unwrap_or_default(),
                si(e.max_site_pixel_reads),
                si(MAX_PIXELS_PER_REQUEST)
            ),
            e,
        );
    } else if seconds > limit {
        return batch(
            format!(
                "{work}: longer than `interactive.auto_max_minutes` ({}), so batch tasks, which run on without this \
                 machine",
                duration(limit)
            ),
            e,
        );
    } else {
        format!("{work} (at most {})", duration(limit))
    };
    Decision {
        mode: RunMode::Interactive,
        auto,
        reason,
        sites_per_request: Some(per_request),
        requests: Some(requests),
        interactive_seconds: Some(seconds),
        estimate: Some(e),
    }
}

/// Plans `pipeline` for the mode it runs in: the planner (its chunks sized for interactive requests when the
/// run is interactive) and the decision. `auto` choosing batch without an `export` section is an error.
pub fn sized_planner(pipeline: &Pipeline) -> Result<(super::Planner, Decision), Vec<crate::diag::Diagnostic>> {
    let planner = super::Planner::new(pipeline)?;
    let sites = matches!(pipeline.sites.location, crate::pipeline::SiteLocation::File(_)).then(|| planner.sites());
    let decision = decide(pipeline, sites, planner.export_only());
    if let Some(d) = needs_export(pipeline, &decision) {
        return Err(vec![d]);
    }
    match decision.sites_per_request {
        Some(n) if decision.mode == RunMode::Interactive && n != pipeline.chunks.sites_per_task => {
            let mut sized = pipeline.clone();
            sized.chunks.sites_per_task = n;
            Ok((super::Planner::new(&sized)?, decision))
        }
        _ => Ok((planner, decision)),
    }
}

/// The error of `auto` choosing batch export tasks for a pipeline without an `export` section.
pub fn needs_export(pipeline: &Pipeline, decision: &Decision) -> Option<crate::diag::Diagnostic> {
    use crate::diag::{Code, Diagnostic};
    if decision.mode == RunMode::Batch && !pipeline.export.destination.exists() {
        let d = Diagnostic::error(
            Code::PlanNeedsExport,
            format!("`mode: auto` chose batch export tasks ({}), but the pipeline has no `export` section", decision.reason),
        )
        .in_file(pipeline.source.display().to_string())
        .with_help(
            "add `export:` with `to: gcs` and `bucket: …` (or `to: drive` and `folder: …`), or set `mode: interactive` \
             (or `--mode interactive`) to compute interactively anyway",
        );
        return Some(d);
    }
    None
}

/// `9.3 M`, `120 k`, `3.1 G`.
fn si(x: f64) -> String {
    let (v, unit) = if x >= 1e9 {
        (x / 1e9, " G")
    } else if x >= 1e6 {
        (x / 1e6, " M")
    } else if x >= 1e3 {
        (x / 1e3, " k")
    } else {
        (x, "")
    };
    if v >= 100.0 || unit.is_empty() {
        format!("{v:.0}{unit}")
    } else {
        format!("{v:.1}{unit}")
    }
}

/// `45 s`, `12 min`, `2.5 h`.
fn duration(s: f64) -> String {
    if s < 9.95 {
        format!("{:.1} s", s.max(0.1))
    } else if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(id: &str, lon: f64, lat: f64, side: f64) -> Site {
        let ring = vec![[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]];
        Site { id: id.into(), properties: Default::default(), polygons: vec![vec![ring]], multi: false, index: 0 }
    }

    #[test]
    fn areas_follow_latitude_and_holes() {
        // 0.01° × 0.01° at the equator: (1111.95 m)² ≈ 123.6 ha.
        let a = site_area_m2(&square("a", 10.0, 0.0, 0.01));
        assert!((a / 1.236_43e6 - 1.0).abs() < 1e-3, "{a}");
        // At 60° the east-west side halves.
        let b = site_area_m2(&square("b", 10.0, 60.0, 0.01));
        assert!((b / a - 0.5).abs() < 0.01, "{b} vs {a}");
        let mut holed = square("c", 0.0, 0.0, 0.02);
        holed.polygons[0].push(square("h", 0.005, 0.005, 0.01).polygons[0][0].clone());
        let c = site_area_m2(&holed);
        assert!((c / (3.0 * a) - 1.0).abs() < 1e-3, "{c}");
    }

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(si(9_312_000.0), "9.3 M");
        assert_eq!(si(120_000.0), "120 k");
        assert_eq!(si(512.0), "512");
        assert_eq!(duration(3.24), "3.2 s");
        assert_eq!(duration(0.01), "0.1 s");
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(720.0), "12 min");
        assert_eq!(duration(9000.0), "2.5 h");
    }

    #[test]
    fn the_accumulator_weights_each_site_by_the_share_of_its_work_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "name: e\nproject: p\nsites: {asset: projects/p/assets/s, id: id}\nyears: 2020..2022\n\
                    layers:\n  - {name: lc, kind: categorical, image: {call: Image.load, id: \"x_{{year}}\"}, scale: 30}\n";
        std::fs::write(dir.path().join("e.yaml"), yaml).unwrap();
        let (p, _) = crate::pipeline::load(&dir.path().join("e.yaml"), &Default::default()).unwrap();
        let sites = [square("a", 0.0, 0.0, 0.01), square("b", 0.0, 0.0, 0.02)];
        let whole = estimate(&p, &sites);
        // 0.01° at the equator over 30 m pixels, three years.
        assert!((whole.pixel_reads / (5.0 * 1.236_43e6 / 900.0 * 3.0) - 1.0).abs() < 1e-3, "{whole:?}");
        let mut acc = Accumulator::new(&p);
        acc.add(&sites[0], 1.0);
        acc.add(&sites[1], 1.0);
        assert_eq!(acc.finish(&p), whole);
        // `b` (four times `a`'s area) has a fifth of its work to do, `a` all of it: `a` is now the largest.
        let mut acc = Accumulator::new(&p);
        acc.add(&sites[0], 1.0);
        acc.add(&sites[1], 1.0 / 5.0);
        let part = acc.finish(&p);
        assert_eq!((part.sites, part.layer_years), (2, 3));
        assert!((part.pixel_reads / (whole.pixel_reads * (1.0 + 4.0 / 5.0) / 5.0) - 1.0).abs() < 1e-6);
        assert_eq!(part.max_site.as_deref(), Some("a"));
    }
}
