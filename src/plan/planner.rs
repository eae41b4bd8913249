//! The [`Planner`]: reads the sites, groups them into chunks (by count and by request size), and builds
//! each chunk's `table:export` request.
//!
//! (Over 600 lines: chunking and request building share the planner's prepared layers, columns and
//! size estimates; the per-kind expressions live in [`super::compute`], [`super::image`] and
//! [`super::classifier`], the request helpers in [`super::request`].)

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::compute::{self, Features, PreparedLayer};
use super::request::{self, request_id};
use super::zonal::ChunkCells;
use super::{classifier, image};
use super::{columns, Column, Task};
use crate::diag::{Code, Diagnostic};
use crate::expr::Graph;
use crate::pipeline::{Engine, KindName, Pipeline, SiteLocation};
use crate::sites::Site;

/// Everything `geepipe plan` shows: the tasks, the column contract, warnings and a summary.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub tasks: Vec<Task>,
    pub columns: Vec<Column>,
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
    pub summary: Summary,
}

impl Plan {
    /// Puts the warnings found before planning (compiling the pipeline file) first and counts them in the
    /// summary, so `plan` reports what `validate` reports.
    pub fn with_earlier_warnings(mut self, mut earlier: Vec<Diagnostic>) -> Plan {
        earlier.append(&mut self.warnings);
        self.warnings = earlier;
        self.summary.warnings = self.warnings.iter().map(|d| d.count).sum();
        self
    }
}

/// Figures about a plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub pipeline: String,
    pub content_hash: String,
    pub tasks: usize,
    /// Sites in the plan (`None` when they come from an asset geepipe cannot list offline).
    pub sites: Option<usize>,
    pub layers: usize,
    /// Distinct years over all layers, sorted.
    pub years: Vec<i32>,
    /// Sum over layers of their years.
    pub layer_years: usize,
    pub columns: usize,
    pub largest_request_bytes: usize,
    pub largest_request_chunk: Option<String>,
    pub total_request_bytes: usize,
    pub warnings: usize,
    /// Per layer, the cells the table needs that the results store holds and those to compute (pipelines
    /// run through the store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<crate::plan::cells::CellCounts>,
}

/// One chunk before its request is built.
#[derive(Debug, Clone)]
pub(super) struct Chunk {
    /// Indices into the planner's sites (file sites).
    pub(super) sites: Vec<usize>,
    /// The layer parts it computes (zonal pipelines).
    pub(super) parts: Vec<super::cells::Part>,
}

/// Plans a zonal pipeline: `Planner::new` reads and chunks the sites, `plan` builds every request.
pub struct Planner {
    pub(super) pipeline: Pipeline,
    pub(super) layers: Vec<PreparedLayer>,
    columns: Vec<Column>,
    pub(super) sites: Vec<Site>,
    by_id: HashMap<String, usize>,
    pub(super) chunks: Vec<Chunk>,
    warnings: Vec<Diagnostic>,
    /// The tasks built while chunking, handed out by the first [`Planner::plan`] (later calls rebuild).
    built: std::sync::Mutex<Option<Vec<Built>>>,
    /// The chunk ids and site ids, in order.
    chunk_ids: Vec<String>,
    /// The exports of an image pipeline (empty for other kinds).
    pub(super) image_units: Vec<image::ImageUnit>,
    /// The cells and requests of a zonal pipeline.
    pub(super) zonal: Option<super::zonal::Zonal>,
}

fn plan_error(pipeline: &Pipeline, code: Code, msg: impl Into<String>, help: &str) -> Diagnostic {
    let mut d = Diagnostic::error(code, msg).in_file(pipeline.source.display().to_string());
    if !help.is_empty() {
        d = d.with_help(help);
    }
    d
}

/// A planning refusal as located diagnostics (those it holds, or one saying it).
fn plan_diagnostics(pipeline: &Pipeline, e: super::PlanError) -> Vec<Diagnostic> {
    match e {
        super::PlanError::Diagnostics(d) => d,
        e => vec![plan_error(pipeline, Code::PlanExpression, e.to_string(), "")],
    }
}

impl Planner {
    /// Prepares the plan: renders the layers, reads the sites and chunks them. Every problem is returned.
    pub fn new(pipeline: &Pipeline) -> Result<Planner, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        if pipeline.engine == Engine::Local {
            errors.push(plan_error(
                pipeline,
                Code::PlanLocalEngine,
                "the local engine computes on this machine and sends no requests",
                &format!(
                    "`geepipe run {f}` computes it on this machine; `geepipe plan --engine earthengine {f}` shows the \
                     requests Earth Engine would get for it (a `to: local` export is then not used)",
                    f = pipeline.source.display()
                ),
            ));
        }
        let layers = match compute::prepare(pipeline) {
            Ok(l) => l,
            Err(es) => {
                for (layer, msg) in es {
                    errors.push(plan_error(
                        pipeline,
                        Code::LayersTemplate,
                        format!("layer `{layer}`: {msg}"),
                        "placeholders are `{{year}}`, `{{next_year}}`, `{{asset}}` and the names in `vars`",
                    ));
                }
                Vec::new()
            }
        };
        // Problems of the pipeline file itself (asset sites, export settings, …) were reported when it was
        // compiled; here the site file is read, its warnings kept with the plan's.
        let mut sites = Vec::new();
        if let SiteLocation::File(_) = &pipeline.sites.location {
            match crate::sites::read_all_with_warnings(&pipeline.sites) {
                Ok((s, w)) => {
                    sites = s;
                    warnings.extend(w);
                }
                Err(ds) => errors.extend(ds),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let by_id = sites.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        let image_units = match &pipeline.image {
            Some(opts) if pipeline.kind == KindName::Image => image::units(opts, &layers, sites.len()),
            _ => Vec::new(),
        };
        if let Some(opts) = pipeline.image.as_ref().filter(|_| pipeline.kind == KindName::Image) {
            let limit = opts.max_pixels.unwrap_or(crate::pipeline::ImageExport::EE_DEFAULT_MAX_PIXELS);
            for u in &image_units {
                let chosen: Vec<&Site> = u.sites.iter().map(|&i| &sites[i]).collect();
                let Some(px) = image::estimated_pixels(opts, &layers[u.layer], &chosen) else { continue };
                if px > limit as f64 {
                    warnings.push(
                        Diagnostic::warning(
                            Code::PlanMaxPixels,
                            format!(
                                "export `{}` covers about {px:.0} pixels per band, more than `maxPixels` ({limit}): \
                                 Earth Engine will refuse it",
                                u.chunk_id
                            ),
                        )
                        .in_file(pipeline.source.display().to_string())
                        .with_help("raise `image.max_pixels`, use a coarser `image.scale`, or export `per: site`"),
                    );
                }
            }
        }
        let zonal =
            (pipeline.kind == KindName::Zonal).then(|| super::zonal::Zonal::new(pipeline, layers.clone(), None));
        let mut planner = Planner {
            zonal,
            image_units,
            columns: if pipeline.kind == KindName::Zonal { columns(pipeline) } else { Vec::new() },
            pipeline: pipeline.clone(),
            layers,
            sites,
            by_id,
            chunks: Vec::new(),
            warnings,
            built: std::sync::Mutex::new(None),
            chunk_ids: Vec::new(),
        };
        planner.chunk()?;
        Ok(planner)
    }

    /// The pipeline being planned.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The sites of the site file, in file order (empty for sites in an asset).
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// The `selectors` every task sends: the column contract's names, in order.
    pub fn selectors(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Groups the file's sites into chunks of at most `sites_per_task`, closing a chunk early when its
    /// request would exceed `max_request_bytes`. A site too large alone is an error naming it.
    fn chunk(&mut self) -> Result<(), Vec<Diagnostic>> {
        let mut built = Vec::new();
        let r = self.chunk_into(&mut built);
        self.chunk_ids = built.iter().map(|b| b.task.chunk_id.clone()).collect();
        self.built = std::sync::Mutex::new(Some(built));
        r
    }

    fn chunk_into(&mut self, built: &mut Vec<Built>) -> Result<(), Vec<Diagnostic>> {
        if self.pipeline.kind == KindName::Classifier {
            built.push(Built::from(self.classifier_task()?));
            self.chunks.push(Chunk { sites: (0..self.sites.len()).collect(), parts: Vec::new() });
            return Ok(());
        }
        if self.pipeline.kind == KindName::Image {
            for u in &self.image_units {
                built.push(Built::from(self.image_task(u)?));
                self.chunks.push(Chunk { sites: u.sites.clone(), parts: Vec::new() });
            }
            return Ok(());
        }
        let budget = self.pipeline.chunks.max_request_bytes;
        let per_task = self.pipeline.chunks.sites_per_task.max(1);
        if !matches!(self.pipeline.sites.location, SiteLocation::File(_)) {
            let task = self.build("c00000", Features::AssetRange(self.asset(), 0.0, 1.0), Vec::new())?;
            self.chunks.push(Chunk { sites: Vec::new(), parts: self.all_parts() });
            built.push(Built::from(task));
            return Ok(());
        }
        // Sites from a file: grouped by the cells they need (all of them, unless a first year cuts some),
        // closed at the site count or the byte budget (`super::zonal`).
        let zonal = self.zonal.clone().expect("a zonal planner");
        let mut chunker = super::zonal::Chunker::new(&zonal);
        let mut planned = Vec::new();
        for site in &self.sites {
            // Every cell: sites of different first years share chunks, each first-year group reduced from
            // its year on inside the request (`compute::computation`). Runs through the results store chunk
            // by what each site lacks instead (`super::stream`).
            let needed = zonal.model.needed(None);
            chunker
                .push(site.clone(), needed, &mut |c| {
                    planned.push(c);
                    Ok::<(), ()>(())
                })
                .ok();
        }
        let oversized = chunker
            .finish(&mut |c| {
                planned.push(c);
                Ok::<(), ()>(())
            })
            .unwrap_or_default();
        if !oversized.is_empty() {
            return Err(oversized.iter().map(|o| oversized_diag(&self.pipeline, &o.site, o.bytes, budget)).collect());
        }
        let tasks: Vec<Result<Built, super::PlanError>> = {
            use rayon::prelude::*;
            planned
                .par_iter_mut()
                .map(|c| {
                    let (task, bytes) = match c.task.take() {
                        Some(t) => t,
                        None => zonal.serialized(&c.chunk_id, &c.sites.iter().collect::<Vec<_>>(), &c.parts)?,
                    };
                    Ok(Built { task, bytes })
                })
                .collect()
        };
        let _ = per_task;
        for (c, t) in planned.into_iter().zip(tasks) {
            let t = t.map_err(|e| plan_diagnostics(&self.pipeline, e))?;
            let sites = c.sites.iter().map(|s| s.index).collect();
            self.chunks.push(Chunk { sites, parts: c.parts });
            built.push(t);
        }
        Ok(())
    }
}

/// The error for a site whose request alone is larger than the byte budget, at the feature in the file.
pub fn oversized(pipeline: &Pipeline, site: &Site, bytes: usize, budget: usize) -> Diagnostic {
    oversized_diag(pipeline, site, bytes, budget)
}

fn oversized_diag(pipeline: &Pipeline, site: &Site, bytes: usize, budget: usize) -> Diagnostic {
    {
        let msg = format!(
            "site `{}` alone needs a request of {bytes} bytes, more than the {budget}-byte budget \
             (`chunks.max_request_bytes`)",
            site.id
        );
        let help = "simplify the polygon (fewer vertices), or upload the sites as an Earth Engine table asset \
                    and use `sites.asset`";
        let mut d = Diagnostic::error(Code::PlanSiteTooLarge, msg).with_help(help);
        if let SiteLocation::File(path) = &pipeline.sites.location {
            let name = path.display().to_string();
            if pipeline.sites.format != crate::pipeline::SiteFormatName::Geojson {
                // A file without a FeatureCollection to point into: name the feature.
                let label = format!("site `{}`: {bytes} bytes", site.id);
                return d.in_record(name, &format!("feature {}", site.index), Some(&label));
            }
            match std::fs::read_to_string(path)
                .ok()
                .and_then(|t| crate::sites::feature_span(&t, site.index).map(|s| (t, s)))
            {
                Some((text, span)) => {
                    let src = crate::diag::Source::text(name, text);
                    d = d.at(&src, span, Some(format!("site `{}`: {bytes} bytes", site.id)));
                }
                None => d = d.in_file(name),
            }
        }
        d
    }
}

impl Planner {
    pub(super) fn asset(&self) -> &str {
        match &self.pipeline.sites.location {
            SiteLocation::Asset(a) => a,
            SiteLocation::File(_) => "",
        }
    }

    /// Every layer part (what a chunk computes when nothing is stored).
    fn all_parts(&self) -> Vec<super::cells::Part> {
        self.zonal.as_ref().map(|z| z.all_parts()).unwrap_or_default()
    }

    /// The task of file sites `indices` computing `parts`.
    fn build_sites(
        &self,
        chunk_id: &str,
        indices: &[usize],
        parts: &[super::cells::Part],
    ) -> Result<Task, Vec<Diagnostic>> {
        let sites: Vec<&Site> = indices.iter().map(|&i| &self.sites[i]).collect();
        let zonal = self
            .zonal
            .as_ref()
            .ok_or_else(|| vec![plan_error(&self.pipeline, Code::PlanExpression, "not a zonal pipeline", "")])?;
        zonal.task(chunk_id, &sites, parts).map_err(|e| plan_diagnostics(&self.pipeline, e))
    }

    /// The task of sites of a table asset (every layer part; ids from the pipeline's content hash, as the
    /// sites cannot be known offline).
    fn build(&self, chunk_id: &str, which: Features, site_ids: Vec<String>) -> Result<Task, Vec<Diagnostic>> {
        let zonal = self
            .zonal
            .as_ref()
            .ok_or_else(|| vec![plan_error(&self.pipeline, Code::PlanExpression, "not a zonal pipeline", "")])?;
        let mut g = Graph::new();
        let root = compute::computation(&mut g, &self.pipeline, &self.layers, which)
            .map_err(|e| vec![plan_error(&self.pipeline, Code::PlanExpression, e.to_string(), "")])?;
        let expression = g.encode(root);
        let mut task = zonal.export_task(chunk_id, expression, site_ids, &zonal.all_parts());
        task.request_id = request_id(&self.pipeline.content_hash, chunk_id, &task.site_ids);
        if let Some(o) = task.body.as_object_mut() {
            o.insert("requestId".into(), Value::String(task.request_id.clone()));
        }
        task.body_bytes = serde_json::to_vec(&task.body).map(|v| v.len()).unwrap_or(0);
        Ok(task)
    }

    /// The `image:export` task of one image export.
    pub(super) fn image_task(&self, u: &image::ImageUnit) -> Result<Task, Vec<Diagnostic>> {
        let p = &self.pipeline;
        let Some(opts) = &p.image else {
            return Err(vec![plan_error(p, Code::PlanImage, "the pipeline has no image settings", "")]);
        };
        let sites: Vec<&Site> = u.sites.iter().map(|&i| &self.sites[i]).collect();
        let site_ids: Vec<String> = sites.iter().map(|s| s.id.clone()).collect();
        let expression = image::expression(p, opts, &self.layers[u.layer], u.image, &sites)
            .map_err(|e| vec![plan_error(p, Code::PlanExpression, e.to_string(), "")])?;
        let description = request::description(p, &u.chunk_id);
        let request_id = request_id(&p.content_hash, &u.chunk_id, &site_ids);
        let (body, target, endpoint) = image::body(p, opts, &u.chunk_id, &description, &request_id, expression);
        let body_bytes = serde_json::to_vec(&body).map(|v| v.len()).unwrap_or(0);
        Ok(Task { chunk_id: u.chunk_id.clone(), request_id, endpoint, description, site_ids, body, body_bytes, target })
    }

    /// The `classifier:export` task: every site, one request.
    fn classifier_task(&self) -> Result<Task, Vec<Diagnostic>> {
        let p = &self.pipeline;
        let Some(spec) = &p.classifier else {
            return Err(vec![plan_error(p, Code::PlanClassifier, "the pipeline has no classifier settings", "")]);
        };
        let sites: Vec<&Site> = self.sites.iter().collect();
        let unlabelled: Vec<&str> = sites
            .iter()
            .filter(|s| !s.properties.get(&spec.label).is_some_and(|v| v.is_number()))
            .map(|s| s.id.as_str())
            .collect();
        if !unlabelled.is_empty() {
            let shown: Vec<&str> = unlabelled.iter().take(5).copied().collect();
            return Err(vec![plan_error(
                p,
                Code::PlanClassifierLabel,
                format!(
                    "{} site(s) have no numeric `{}` label: {}{}",
                    unlabelled.len(),
                    spec.label,
                    shown.join(", "),
                    if unlabelled.len() > shown.len() { ", ..." } else { "" }
                ),
                "Earth Engine classifiers train on integer class codes; give every site one",
            )]);
        }
        let site_ids: Vec<String> = sites.iter().map(|s| s.id.clone()).collect();
        let expression = classifier::expression(p, spec, &self.layers, &sites)
            .map_err(|e| vec![plan_error(p, Code::PlanExpression, e.to_string(), "")])?;
        let chunk_id = classifier::CHUNK_ID.to_string();
        let description = request::description(p, &chunk_id);
        let request_id = request_id(&p.content_hash, &chunk_id, &site_ids);
        let (body, target, endpoint) = classifier::body(p, &description, &request_id, expression);
        let body_bytes = serde_json::to_vec(&body).map(|v| v.len()).unwrap_or(0);
        Ok(Task { chunk_id, request_id, endpoint, description, site_ids, body, body_bytes, target })
    }

    /// Builds every chunk's task again (the chunks are fixed; the bodies are deterministic).
    fn rebuild(&self) -> Vec<Built> {
        if self.pipeline.kind == KindName::Classifier {
            return self.classifier_task().ok().map(Built::from).into_iter().collect();
        }
        if self.pipeline.kind == KindName::Image {
            return self.image_units.iter().filter_map(|u| self.image_task(u).ok()).map(Built::from).collect();
        }
        self.chunks
            .iter()
            .zip(&self.chunk_ids)
            .filter_map(|(c, id)| match &self.pipeline.sites.location {
                SiteLocation::File(_) => self.build_sites(id, &c.sites, &c.parts).ok().map(Built::from),
                SiteLocation::Asset(a) => {
                    self.build(id, Features::AssetRange(a, 0.0, 1.0), Vec::new()).ok().map(Built::from)
                }
            })
            .collect()
    }

    /// Builds the whole plan (the first call hands over the tasks built while chunking).
    pub fn plan(&self) -> Plan {
        let (mut plan, bodies) = self.plan_serialized();
        for (t, b) in plan.tasks.iter_mut().zip(bodies) {
            t.body = serde_json::from_slice(&b).unwrap_or(Value::Null);
        }
        plan
    }

    /// The plan with every task's `body` left `null` and the bodies returned apart, as the exact bytes
    /// sent (compact JSON): what `geepipe plan --out` writes, without holding every body as a JSON tree.
    pub fn plan_serialized(&self) -> (Plan, Vec<Vec<u8>>) {
        let taken = self.built.lock().ok().and_then(|mut b| b.take());
        let built = match taken {
            Some(t) => t,
            None => self.rebuild(),
        };
        let (tasks, bodies): (Vec<Task>, Vec<Vec<u8>>) = built.into_iter().map(|b| (b.task, b.bytes)).unzip();
        let (largest, largest_chunk) = tasks
            .iter()
            .map(|t| (t.body_bytes, Some(t.chunk_id.clone())))
            .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
            .unwrap_or((0, None));
        let mut years: Vec<i32> = self.pipeline.layers.iter().flat_map(|l| l.years.iter().copied()).collect();
        years.sort_unstable();
        years.dedup();
        let summary = Summary {
            pipeline: self.pipeline.name.clone(),
            content_hash: self.pipeline.content_hash.clone(),
            tasks: tasks.len(),
            sites: match self.pipeline.sites.location {
                SiteLocation::File(_) if self.pipeline.kind != KindName::Zonal => Some(self.sites.len()),
                SiteLocation::File(_) => Some(self.chunks.iter().map(|c| c.sites.len()).sum()),
                SiteLocation::Asset(_) => None,
            },
            layers: self.pipeline.layers.len(),
            years,
            layer_years: self.pipeline.layers.iter().map(|l| l.years.len()).sum(),
            columns: self.columns.len(),
            largest_request_bytes: largest,
            largest_request_chunk: largest_chunk,
            total_request_bytes: tasks.iter().map(|t| t.body_bytes).sum(),
            warnings: self.warnings.iter().map(|d| d.count).sum(),
            cells: None,
        };
        (Plan { tasks, columns: self.columns.clone(), warnings: self.warnings.clone(), summary }, bodies)
    }
}

/// A built task whose body is kept as its serialised bytes (a JSON tree is ~20 times larger).
struct Built {
    /// The task, `body` set to null.
    task: Task,
    bytes: Vec<u8>,
}

impl From<Task> for Built {
    fn from(mut task: Task) -> Built {
        let bytes = serde_json::to_vec(&task.body).unwrap_or_default();
        task.body_bytes = bytes.len();
        task.body = Value::Null;
        Built { task, bytes }
    }
}

impl super::ChunkPlanner for Planner {
    fn task(&self, chunk_id: &str, site_ids: &[String], cells: Option<&ChunkCells>) -> Result<Task, super::PlanError> {
        use super::PlanError;
        if self.pipeline.kind == KindName::Classifier {
            if chunk_id != classifier::CHUNK_ID {
                return Err(PlanError::NotSplit { what: "classifier training", chunk: chunk_id.to_string() });
            }
            return Ok(self.classifier_task()?);
        }
        if self.pipeline.kind == KindName::Image {
            let Some(u) = self.image_units.iter().find(|u| u.chunk_id == chunk_id) else {
                return Err(PlanError::UnknownExport(chunk_id.to_string()));
            };
            return Ok(self.image_task(u)?);
        }
        let task = match &self.pipeline.sites.location {
            SiteLocation::File(_) => {
                let mut idx = Vec::with_capacity(site_ids.len());
                for id in site_ids {
                    match self.by_id.get(id) {
                        Some(i) => idx.push(*i),
                        None => return Err(PlanError::UnknownSite(id.clone())),
                    }
                }
                if idx.is_empty() {
                    return Err(PlanError::EmptyChunk(chunk_id.to_string()));
                }
                let parts = match cells {
                    Some(c) => c.parts.clone(),
                    None => self.all_parts(),
                };
                self.build_sites(chunk_id, &idx, &parts)
            }
            SiteLocation::Asset(a) if !site_ids.is_empty() => {
                self.build(chunk_id, Features::AssetIds(a, site_ids), site_ids.to_vec())
            }
            SiteLocation::Asset(a) => {
                let (lo, hi) = split_range(chunk_id);
                self.build(chunk_id, Features::AssetRange(a, lo, hi), Vec::new())
            }
        }?;
        if task.body_bytes > crate::pipeline::Chunks::EE_MAX_REQUEST_BYTES {
            return Err(PlanError::TooBig { chunk: chunk_id.to_string(), bytes: task.body_bytes });
        }
        Ok(task)
    }
}

/// The part `[lo, hi)` of the random column a chunk id stands for: `c00000` is everything, each `a`/`b`
/// suffix takes the lower/upper half.
pub fn split_range(chunk_id: &str) -> (f64, f64) {
    let digits = chunk_id.trim_start_matches('c').trim_start_matches(|c: char| c.is_ascii_digit());
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for c in digits.chars() {
        let mid = (lo + hi) / 2.0;
        match c {
            'a' => hi = mid,
            'b' => lo = mid,
            _ => {}
        }
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::request::join_prefix;

    #[test]
    fn request_ids_are_short_and_plain() {
        let h = "ab".repeat(32);
        let id = request_id(&h, "c00012", &["a".into(), "b".into()]);
        assert!(id.len() <= 60 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{id}");
        assert!(id.contains("c00012"));
        assert_ne!(id, request_id(&h, "c00012", &["a".into()]));
        let long = request_id(&h, &format!("c00012{}", "ab".repeat(20)), &[]);
        assert!(long.len() <= 60, "{long}");
    }

    #[test]
    fn split_ranges_halve() {
        assert_eq!(split_range("c00000"), (0.0, 1.0));
        assert_eq!(split_range("c00000a"), (0.0, 0.5));
        assert_eq!(split_range("c00000ab"), (0.25, 0.5));
    }

    #[test]
    fn prefixes_join_with_a_separator() {
        assert_eq!(join_prefix("geepipe/x/", "c00001"), "geepipe/x/c00001");
        assert_eq!(join_prefix("run", "c00001"), "run_c00001");
    }
}
