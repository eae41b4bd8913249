//! Zonal requests over site files, cell by cell: which sites a chunk holds, which layer parts it computes,
//! and its `table:export` body.
//!
//! [`Chunker`] takes the sites one at a time, in file order, each with the cells it lacks
//! ([`super::cells`]); sites lacking the same cells are grouped, so a chunk is one request for one set of
//! layer parts and stays full. A group closes as a chunk when it holds `chunks.sites_per_task` sites, or
//! when the next site would make its request larger than `chunks.max_request_bytes`: each site's share is
//! bounded from above without building anything ([`site_bytes_bound`]), and only when the bound says the
//! next site might not fit is the real body built and measured. So planning a million small sites builds no
//! body at all, and a chunk is still closed only when the next site really does not fit. At most
//! [`Chunker::MAX_BUFFERED`] chunks' worth of sites wait in open groups; past that the fullest group is
//! closed early, so memory does not grow with the number of distinct missing sets.
//!
//! Request ids come from the work ([`super::cells::work_key`]: the sites' keys, the parts' expression keys
//! and the export settings), so the same work is never submitted twice, whatever plan it ends up in.
//!
//! The zonal kind's planning for [`super::Planner`] (chunks of a site file or of a table asset, their
//! splits and the probe) is in [`planner`]; the expressions of a file's chunks are written from templates
//! ([`templates`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cells::{self, CellModel, CellSet, Key, Part};
use super::columns::LayerColumns;
use super::compute::PreparedLayer;
use super::request;
use super::{Column, Endpoint, PlanError, Target, Task};
use crate::diag::{Code, Diagnostic};
use crate::pipeline::{Destination, Pipeline, SiteLocation};
use crate::sites::Site;

pub mod planner;
pub mod templates;

/// What a planned zonal chunk computes: its layer parts and, per site (in chunk order), its index in the
/// site file and the digest of its geometry. Kept in the journal, so a body can be rebuilt and its results
/// stored under the right cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkCells {
    pub parts: Vec<Part>,
    /// Index of each site in the site file.
    pub index: Vec<u32>,
    /// Geometry digest of each site, hex.
    pub geoms: Vec<String>,
}

impl ChunkCells {
    /// The cells of a subset of this chunk's sites (a split half), given their positions in the chunk.
    pub fn subset(&self, positions: &[usize]) -> ChunkCells {
        ChunkCells {
            parts: self.parts.clone(),
            index: positions.iter().filter_map(|&p| self.index.get(p).copied()).collect(),
            geoms: positions.iter().filter_map(|&p| self.geoms.get(p).cloned()).collect(),
        }
    }
}

/// The zonal computation of a pipeline: its rendered layers and cell model.
#[derive(Debug, Clone)]
pub struct Zonal {
    pub pipeline: Pipeline,
    pub layers: Vec<PreparedLayer>,
    pub model: CellModel,
    /// Mixed into every request id: the export settings, and a nonce for `--fresh`.
    salt: String,
    /// The layers cut to a set of parts and their selectors, made once per set of parts: every chunk of a
    /// group has the same parts, and cutting clones each layer's rendered templates. (Neither the layers
    /// nor the pipeline's columns change after [`Zonal::new`]; clones share it.)
    cuts: Arc<Mutex<HashMap<Vec<Part>, Arc<Cut>>>>,
    /// The length of the last body built: the next one's buffer is allocated at about that size once.
    last_body: Arc<std::sync::atomic::AtomicUsize>,
    /// The expressions' templates, per shape of chunk.
    templates: Arc<templates::Templates>,
}

/// The layers cut to some parts ([`Zonal::cut_layers`]) and the export's selectors for them.
#[derive(Debug)]
struct Cut {
    layers: Vec<PreparedLayer>,
    selectors: Vec<String>,
}

impl Zonal {
    pub fn new(pipeline: &Pipeline, layers: Vec<PreparedLayer>, fresh_nonce: Option<&str>) -> Zonal {
        let model = CellModel::earth_engine(pipeline, &layers);
        let e = &pipeline.export;
        let salt = serde_json::json!({
            "destination": e.destination,
            "format": request::file_format(e.format),
            "description": e.description_prefix,
            "prefix": e.file_prefix,
            "overwrite": e.overwrite,
            "fresh": fresh_nonce,
        })
        .to_string();
        Zonal {
            pipeline: pipeline.clone(),
            layers,
            model,
            salt,
            cuts: Arc::default(),
            last_body: Arc::default(),
            templates: Arc::default(),
        }
    }

    /// The layers cut to `parts` and their selectors, cut once and kept.
    fn cut(&self, parts: &[Part]) -> Arc<Cut> {
        let mut cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cuts.get(parts) {
            return c.clone();
        }
        let layers = self.cut_layers(parts);
        let selectors = self.columns(&layers).into_iter().map(|c| c.name).collect();
        let c = Arc::new(Cut { layers, selectors });
        // Kept for a few sets of parts at most (a plan has one per distinct set of missing cells).
        if cuts.len() >= 64 {
            cuts.clear();
        }
        cuts.insert(parts.to_vec(), c.clone());
        c
    }

    /// Every part of every layer (what a site with nothing stored lacks).
    pub fn all_parts(&self) -> Vec<Part> {
        self.model.parts(&self.model.needed(None))
    }

    /// The layers cut to `parts`, in part order.
    pub fn cut_layers(&self, parts: &[Part]) -> Vec<PreparedLayer> {
        parts.iter().map(|p| cells::cut(&self.layers[p.layer], p)).collect()
    }

    /// The export's columns for `parts`: the id, the kept properties, then each part's cells.
    pub fn selectors(&self, parts: &[Part]) -> Vec<String> {
        self.cut(parts).selectors.clone()
    }

    /// The column contract of a request over these (cut) layers: the id, the kept properties, then each
    /// layer's cells in year order.
    pub fn columns(&self, layers: &[PreparedLayer]) -> Vec<Column> {
        let layers = layers.iter().map(|l| LayerColumns {
            name: &l.name,
            kind: l.kind,
            years: &l.years,
            bands: &l.bands,
            stats: &l.stats,
        });
        super::columns::columns_for(&self.pipeline, layers)
    }

    /// The layers cut to `parts`, each cut again to its first year (what the probe computes).
    pub fn probe_layers(&self, parts: &[Part]) -> Vec<PreparedLayer> {
        let mut out = Vec::new();
        for mut l in self.cut_layers(parts) {
            l.images.truncate(1);
            l.years = l.images.iter().map(|(y, _)| *y).collect();
            out.push(l);
        }
        out
    }

    /// The request id of a chunk doing this work (`gp-<chunk>-<32 hex>`, at most 60 characters).
    pub fn request_id(&self, chunk_id: &str, sites: &[(String, Key)], parts: &[Part]) -> String {
        let work = hex::encode(cells::work_key(sites, parts, &self.salt));
        let chunk: String = chunk_id.chars().filter(|c| c.is_ascii_alphanumeric()).take(60 - 4 - 32).collect();
        format!("gp-{chunk}-{work}")
    }

    /// The `table:export` task computing `parts` for `sites` (its body as a JSON value; see
    /// [`Zonal::serialized`] for the bytes).
    pub fn task(&self, chunk_id: &str, sites: &[&Site], parts: &[Part]) -> Result<Task, PlanError> {
        let (mut task, bytes) = self.serialized(chunk_id, sites, parts)?;
        task.body = serde_json::from_slice(&bytes).map_err(|e| {
            let d = Diagnostic::error(Code::PlanExpression, format!("a request body does not read back: {e}"));
            PlanError::Diagnostics(vec![d])
        })?;
        Ok(task)
    }

    /// The `table:export` task computing `parts` for `sites`, its body left null and returned apart as the
    /// exact bytes sent (compact JSON; `body_bytes` is their length). The expression is written straight
    /// into the body's text ([`templates::Templates::expression`]), never built as a JSON tree.
    pub fn serialized(&self, chunk_id: &str, sites: &[&Site], parts: &[Part]) -> Result<(Task, Vec<u8>), PlanError> {
        self.serialized_keyed(chunk_id, sites, None, parts)
    }

    /// [`Zonal::serialized`] given the sites' keys ([`cells::site_key`]) when they are known already.
    pub fn serialized_keyed(
        &self,
        chunk_id: &str,
        sites: &[&Site],
        keys: Option<&[Key]>,
        parts: &[Part],
    ) -> Result<(Task, Vec<u8>), PlanError> {
        let keyed: Vec<(String, Key)> = match keys.filter(|k| k.len() == sites.len()) {
            Some(keys) => sites.iter().zip(keys).map(|(s, k)| (s.id.clone(), *k)).collect(),
            None => sites.iter().map(|s| (s.id.clone(), cells::site_key(s))).collect(),
        };
        let request_id = self.request_id(chunk_id, &keyed, parts);
        // The body starts with its expression, written first; the rest of the body follows it.
        const HEAD: &[u8] = b"{\"expression\":";
        let last = self.last_body.load(std::sync::atomic::Ordering::Relaxed);
        let mut bytes = Vec::with_capacity((4096 + sites.len() * 512).max(last + last / 8));
        bytes.extend_from_slice(HEAD);
        self.templates.expression(&self.pipeline, parts, &self.cut(parts).layers, sites, &mut bytes).map_err(|e| {
            let d = Diagnostic::error(Code::PlanExpression, e.to_string())
                .in_file(self.pipeline.source.display().to_string());
            PlanError::Diagnostics(vec![d])
        })?;
        let mut task = self.export_task(chunk_id, Value::Null, keyed.into_iter().map(|(id, _)| id).collect(), parts);
        task.request_id = request_id.clone();
        if let Some(o) = task.body.as_object_mut() {
            o.insert("requestId".into(), Value::String(request_id));
        }
        // The body without its expression, whose `null` (the first member) the expression replaces.
        let rest = serde_json::to_vec(&task.body).unwrap_or_default();
        match rest.strip_prefix(b"{\"expression\":null".as_slice()) {
            Some(tail) => bytes.extend_from_slice(tail),
            None => {
                let expression: Value = serde_json::from_slice(&bytes[HEAD.len()..]).unwrap_or(Value::Null);
                if let Some(o) = task.body.as_object_mut() {
                    o.insert("expression".into(), expression);
                }
                bytes = serde_json::to_vec(&task.body).unwrap_or_default();
            }
        }
        task.body = Value::Null;
        task.body_bytes = bytes.len();
        self.last_body.store(bytes.len(), std::sync::atomic::Ordering::Relaxed);
        Ok((task, bytes))
    }

    /// The description (task name) and destination of a chunk's export.
    pub fn target(&self, chunk_id: &str) -> (String, Target) {
        let t = self.export_task(chunk_id, Value::Null, Vec::new(), &[]);
        (t.description, t.target)
    }

    /// The body and target of an export task (request id left empty: the caller sets it).
    pub fn export_task(&self, chunk_id: &str, expression: Value, site_ids: Vec<String>, parts: &[Part]) -> Task {
        let p = &self.pipeline;
        let description = request::description(p, chunk_id);
        let file_prefix = request::join_prefix(&p.export.file_prefix, chunk_id);
        let mut body = request::base_body(p, expression, &description, "");
        body.insert("selectors".into(), Value::Array(self.selectors(parts).into_iter().map(Value::String).collect()));
        let format = Value::String(request::file_format(p.export.format).to_string());
        let target = match &p.export.destination {
            Destination::Drive { folder } => {
                body.insert(
                    "fileExportOptions".into(),
                    serde_json::json!({"fileFormat": format, "driveDestination": {"folder": folder, "filenamePrefix": file_prefix}}),
                );
                Target::Drive { folder: folder.clone(), prefix: file_prefix }
            }
            Destination::Gcs { bucket } => {
                body.insert(
                    "fileExportOptions".into(),
                    serde_json::json!({"fileFormat": format, "cloudStorageDestination": {"bucket": bucket, "filenamePrefix": file_prefix}}),
                );
                Target::Gcs { bucket: bucket.clone(), prefix: file_prefix }
            }
            Destination::Asset { folder } => {
                let name = format!("{}/{}_{chunk_id}", folder.trim_end_matches('/'), p.name);
                body.insert(
                    "assetExportOptions".into(),
                    serde_json::json!({"earthEngineDestination": {"name": name, "overwrite": p.export.overwrite}}),
                );
                Target::Asset { name }
            }
            Destination::Bigquery { table } => {
                body.insert(
                    "bigqueryExportOptions".into(),
                    serde_json::json!({"bigqueryDestination": {"table": table, "overwrite": false, "append": true}}),
                );
                Target::Bigquery { table: table.clone() }
            }
            Destination::Local { .. } => {
                // The local destination never reaches the planner; keep a file target.
                Target::Drive { folder: String::new(), prefix: file_prefix }
            }
            // No `export` section: the body is never sent as an export; interactive requests are made from
            // its expression and selectors (`crate::plan::interactive`).
            Destination::None => Target::None,
        };
        Task {
            chunk_id: chunk_id.to_string(),
            request_id: String::new(),
            endpoint: Endpoint::TableExport,
            description,
            site_ids,
            body: Value::Object(body),
            body_bytes: 0,
            target,
        }
    }

    /// The size of a request for no site at all with these parts (its fixed part).
    fn fixed_bytes(&self, parts: &[Part]) -> usize {
        self.serialized("c00000", &[], parts).map(|(t, _)| t.body_bytes).unwrap_or(0)
    }
}

/// The most a JSON number written by serde_json can take (`-1.2345678901234567e-308`).
const NUMBER_BYTES: usize = 24;

/// An upper bound of the bytes one site adds to a request: every coordinate at its longest, each point
/// as a reference plus its stored value (what a vertex shared with another site costs), each ring, polygon
/// and the feature with their wrappers, and the metadata twice over (a value shared between sites is
/// stored once and referenced). Tested against real bodies in `tests/plan.rs`.
pub fn site_bytes_bound(pipeline: &Pipeline, site: &Site) -> usize {
    let points: usize = site.polygons.iter().flat_map(|p| p.iter()).map(Vec::len).sum();
    let rings: usize = site.polygons.iter().map(Vec::len).sum();
    let mut meta = 64 + 2 * (pipeline.sites.id_property.len() + site.id.len()) + 64;
    for k in &pipeline.sites.keep {
        let v = site.properties.get(k).map(|v| v.to_string().len()).unwrap_or(4);
        meta += 2 * (k.len() + v) + 96;
    }
    points * (2 * NUMBER_BYTES + 96) + rings * 96 + site.polygons.len() * 96 + 512 + meta
}

/// A chunk as the [`Chunker`] closes it.
#[derive(Debug, Clone)]
pub struct PlannedChunk {
    pub chunk_id: String,
    /// The sites, in file order.
    pub sites: Vec<Site>,
    /// Their keys ([`cells::site_key`]), in the same order.
    pub keys: Vec<Key>,
    pub parts: Vec<Part>,
    /// The cells it computes for each site.
    pub cells: CellSet,
    /// Its task and body bytes ([`Zonal::serialized`]), when the chunker had to build them to check the
    /// byte budget (exactly these sites).
    pub task: Option<(Task, Vec<u8>)>,
}

impl PlannedChunk {
    /// What the journal keeps about it.
    pub fn chunk_cells(&self) -> ChunkCells {
        ChunkCells {
            parts: self.parts.clone(),
            index: self.sites.iter().map(|s| s.index as u32).collect(),
            geoms: self.keys.iter().map(hex::encode).collect(),
        }
    }
}

/// A site whose request alone is larger than the byte budget.
#[derive(Debug, Clone)]
pub struct Oversized {
    pub site: Site,
    pub bytes: usize,
}

struct Group {
    /// Order of the group's first site (groups closed at the end go in this order).
    first: usize,
    sites: Vec<Site>,
    /// The sites' keys.
    keys: Vec<Key>,
    parts: Vec<Part>,
    /// Real size at the last build (or the fixed part), plus the bounds of the sites added since.
    bytes: usize,
    /// The task and body of exactly `sites`, when just built.
    task: Option<(Task, Vec<u8>)>,
}

/// Groups sites by the cells they lack into chunks (see the module doc).
pub struct Chunker<'a> {
    zonal: &'a Zonal,
    groups: HashMap<CellSet, Group>,
    fixed: HashMap<CellSet, usize>,
    next: usize,
    seen: usize,
    buffered: usize,
    pub oversized: Vec<Oversized>,
}

impl<'a> Chunker<'a> {
    /// Sites waiting in open groups at most, in chunks of `sites_per_task`.
    pub const MAX_BUFFERED: usize = 16;

    pub fn new(zonal: &'a Zonal) -> Chunker<'a> {
        Chunker {
            zonal,
            groups: HashMap::new(),
            fixed: HashMap::new(),
            next: 0,
            seen: 0,
            buffered: 0,
            oversized: Vec::new(),
        }
    }

    fn per_task(&self) -> usize {
        self.zonal.pipeline.chunks.sites_per_task.max(1)
    }

    fn budget(&self) -> usize {
        self.zonal.pipeline.chunks.max_request_bytes
    }

    /// Chunks closed so far.
    pub fn closed(&self) -> usize {
        self.next
    }

    /// Adds a site lacking `missing` (nothing happens when it lacks nothing); closed chunks go to `emit`.
    pub fn push<E>(
        &mut self,
        site: Site,
        missing: CellSet,
        emit: &mut impl FnMut(PlannedChunk) -> Result<(), E>,
    ) -> Result<(), E> {
        let key = cells::site_key(&site);
        self.push_keyed(site, key, missing, emit)
    }

    /// [`Chunker::push`] of a site whose key ([`cells::site_key`]) is known already.
    pub fn push_keyed<E>(
        &mut self,
        site: Site,
        key: Key,
        missing: CellSet,
        emit: &mut impl FnMut(PlannedChunk) -> Result<(), E>,
    ) -> Result<(), E> {
        self.seen += 1;
        if missing.is_empty() {
            return Ok(());
        }
        let bound = site_bytes_bound(&self.zonal.pipeline, &site);
        let budget = self.budget();
        if !self.groups.contains_key(&missing) {
            let parts = self.zonal.model.parts(&missing);
            let fixed = *self.fixed.entry(missing.clone()).or_insert_with(|| self.zonal.fixed_bytes(&parts));
            self.groups.insert(
                missing.clone(),
                Group { first: self.seen, sites: Vec::new(), keys: Vec::new(), parts, bytes: fixed, task: None },
            );
        }
        let fits = {
            let g = self.groups.get_mut(&missing).expect("group");
            if g.bytes + bound <= budget {
                g.bytes += bound;
                g.task = None;
                true
            } else {
                // Maybe not: measure the real request with the site.
                let mut with: Vec<&Site> = g.sites.iter().collect();
                with.push(&site);
                let mut keys = g.keys.clone();
                keys.push(key);
                let id = format!("c{:05}", self.next);
                match self.zonal.serialized_keyed(&id, &with, Some(&keys), &g.parts) {
                    Ok(t) if t.0.body_bytes <= budget => {
                        g.bytes = t.0.body_bytes;
                        g.task = Some(t);
                        true
                    }
                    Ok((t, _)) if g.sites.is_empty() => {
                        self.oversized.push(Oversized { site: site.clone(), bytes: t.body_bytes });
                        self.groups.remove(&missing);
                        return Ok(());
                    }
                    _ => false,
                }
            }
        };
        if !fits {
            self.close(&missing, emit)?;
            // Start again with this site alone.
            return self.push_again(site, key, missing, emit);
        }
        let g = self.groups.get_mut(&missing).expect("group");
        g.sites.push(site);
        g.keys.push(key);
        self.buffered += 1;
        if g.sites.len() >= self.per_task() {
            self.close(&missing, emit)?;
        } else if self.buffered > Self::MAX_BUFFERED * self.per_task() {
            let fullest = self.groups.iter().max_by_key(|(_, g)| (g.sites.len(), std::cmp::Reverse(g.first)));
            if let Some(k) = fullest.map(|(k, _)| k.clone()) {
                self.close(&k, emit)?;
            }
        }
        Ok(())
    }

    fn push_again<E>(
        &mut self,
        site: Site,
        key: Key,
        missing: CellSet,
        emit: &mut impl FnMut(PlannedChunk) -> Result<(), E>,
    ) -> Result<(), E> {
        self.seen -= 1;
        self.push_keyed(site, key, missing, emit)
    }

    fn close<E>(&mut self, key: &CellSet, emit: &mut impl FnMut(PlannedChunk) -> Result<(), E>) -> Result<(), E> {
        let Some(g) = self.groups.remove(key) else { return Ok(()) };
        if g.sites.is_empty() {
            return Ok(());
        }
        self.buffered -= g.sites.len();
        let chunk_id = format!("c{:05}", self.next);
        self.next += 1;
        // A task built under another chunk id is rebuilt by whoever needs the body.
        let task = g.task.filter(|(t, _)| t.chunk_id == chunk_id);
        emit(PlannedChunk { chunk_id, sites: g.sites, keys: g.keys, parts: g.parts, cells: key.clone(), task })
    }

    /// Closes every open group, in the order of their first site.
    pub fn finish<E>(mut self, emit: &mut impl FnMut(PlannedChunk) -> Result<(), E>) -> Result<Vec<Oversized>, E> {
        let mut open: Vec<(usize, CellSet)> = self.groups.iter().map(|(k, g)| (g.first, k.clone())).collect();
        open.sort_by_key(|(first, _)| *first);
        for (_, k) in open {
            self.close(&k, emit)?;
        }
        Ok(self.oversized)
    }
}

/// The error for a site whose request alone is larger than the byte budget, at the feature in the file.
pub fn oversized(pipeline: &Pipeline, site: &Site, bytes: usize, budget: usize) -> Diagnostic {
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
