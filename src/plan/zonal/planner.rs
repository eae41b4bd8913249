//! The zonal kind's planning ([`KindPlanner`] for [`Zonal`]): the sites of a table asset are one chunk,
//! split by halves of a random column (chunk id suffixes `a`/`b`, [`split_range`]); the sites of a file are
//! grouped by the [`Chunker`], each chunk computing every layer part, and split by site. Also the request
//! for features of a table asset and the probe of a chunk.

use serde_json::Value;

use super::{oversized, Chunker, Zonal};
use crate::diag::{Code, Diagnostic};
use crate::expr::Graph;
use crate::pipeline::SiteLocation;
use crate::plan::cells::Part;
use crate::plan::compute::{self, Features};
use crate::plan::kind::{Built, Chunk, Inputs, KindPlanner};
use crate::plan::probe::{ProbeCall, ProbeError};
use crate::plan::request;
use crate::plan::{Column, ColumnKind, PlanError, Task};
use crate::sites::Site;

impl Zonal {
    /// The task of sites of a table asset (`which` of its features), computing every layer part; its
    /// request id comes from the pipeline's content hash, as the sites cannot be known offline.
    pub fn asset_task(&self, chunk_id: &str, which: Features, site_ids: Vec<String>) -> Result<Task, PlanError> {
        let mut g = Graph::new();
        let root = compute::computation(&mut g, &self.pipeline, &self.layers, which).map_err(|e| {
            let d = Diagnostic::error(Code::PlanExpression, e.to_string())
                .in_file(self.pipeline.source.display().to_string());
            PlanError::Diagnostics(vec![d])
        })?;
        let mut task = self.export_task(chunk_id, g.encode(root), site_ids, &self.all_parts());
        task.request_id = request::request_id(&self.pipeline.content_hash, chunk_id, &task.site_ids);
        if let Some(o) = task.body.as_object_mut() {
            o.insert("requestId".into(), Value::String(task.request_id.clone()));
        }
        task.body_bytes = serde_json::to_vec(&task.body).map(|v| v.len()).unwrap_or(0);
        Ok(task)
    }

    /// The probe of a chunk computing `parts`: its first sites `chosen` (or the first `n` features of a
    /// table asset), each part cut to its first year, through `table:computeFeatures` (see
    /// [`crate::plan::probe`]).
    pub fn probe_call(
        &self,
        parts: &[Part],
        chosen: &[&Site],
        asset: Option<(&str, usize)>,
    ) -> Result<ProbeCall, ProbeError> {
        let layers = self.probe_layers(parts);
        let which = match asset {
            Some((a, n)) => Features::AssetFirst(a, n),
            None => Features::Inline(chosen),
        };
        // The probed year may come before the probed sites' first years: reduce it for them anyway (the
        // tasks skip it), so each column shows a value.
        let mut pipeline = self.pipeline.clone();
        if asset.is_none() {
            pipeline.sites.first_year_property = None;
        }
        let mut g = Graph::new();
        let root = compute::computation(&mut g, &pipeline, &layers, which)?;
        let cols = self.columns(&layers);
        let has_value = |property: &str| {
            chosen.is_empty() || chosen.iter().any(|s| s.properties.get(property).is_some_and(|v| !v.is_null()))
        };
        let keep_has_value = cols
            .iter()
            .filter_map(|c| match &c.kind {
                ColumnKind::Keep { property } => Some((property.clone(), has_value(property))),
                _ => None,
            })
            .collect();
        Ok(ProbeCall::Features {
            expression: g.encode(root),
            columns: cols,
            site_ids: chosen.iter().map(|s| s.id.clone()).collect(),
            years: layers.iter().flat_map(|l| l.years.iter().map(|y| (l.name.clone(), *y))).collect(),
            keep_has_value,
        })
    }
}

impl KindPlanner for Zonal {
    fn table_columns(&self, inputs: &Inputs) -> Vec<Column> {
        crate::plan::columns(&inputs.pipeline)
    }

    fn chunk(&self, inputs: &Inputs) -> Result<Vec<(Chunk, Built)>, Vec<Diagnostic>> {
        if !matches!(inputs.pipeline.sites.location, SiteLocation::File(_)) {
            let which = Features::AssetRange(inputs.asset(), 0.0, 1.0);
            let task = self.asset_task("c00000", which, Vec::new()).map_err(|e| inputs.diagnostics(e))?;
            return Ok(vec![(Chunk { sites: Vec::new(), parts: self.all_parts() }, Built::from(task))]);
        }
        // Every cell: sites of different first years share chunks, each first-year group reduced from its
        // year on inside the request (`compute::computation`). Runs through the results store chunk by
        // what each site lacks instead (`crate::plan::stream`).
        let mut chunker = Chunker::new(self);
        let mut planned = Vec::new();
        let mut emit = |c| {
            planned.push(c);
            Ok::<(), ()>(())
        };
        for site in &inputs.sites {
            chunker.push(site.clone(), self.model.needed(None), &mut emit).ok();
        }
        let oversized = chunker.finish(&mut emit).unwrap_or_default();
        if !oversized.is_empty() {
            let budget = self.pipeline.chunks.max_request_bytes;
            return Err(oversized
                .iter()
                .map(|o| self::oversized(&inputs.pipeline, &o.site, o.bytes, budget))
                .collect());
        }
        // The bodies the chunker did not build (to check the byte budget), built and serialised in parallel.
        let built: Vec<Result<Built, PlanError>> = {
            use rayon::prelude::*;
            planned
                .par_iter_mut()
                .map(|c| {
                    let (task, bytes) = match c.task.take() {
                        Some(t) => t,
                        None => {
                            let sites: Vec<_> = c.sites.iter().collect();
                            self.serialized_keyed(&c.chunk_id, &sites, Some(&c.keys), &c.parts)?
                        }
                    };
                    Ok(Built { task, bytes })
                })
                .collect()
        };
        let mut out = Vec::with_capacity(planned.len());
        for (c, b) in planned.into_iter().zip(built) {
            let b = b.map_err(|e| inputs.diagnostics(e))?;
            out.push((Chunk { sites: c.sites.iter().map(|s| s.index).collect(), parts: c.parts }, b));
        }
        Ok(out)
    }

    fn rebuild(&self, inputs: &Inputs, _: usize, chunk_id: &str, chunk: &Chunk) -> Result<Built, PlanError> {
        match &inputs.pipeline.sites.location {
            SiteLocation::File(_) => {
                let (task, bytes) = self.serialized(chunk_id, &inputs.chosen(&chunk.sites), &chunk.parts)?;
                Ok(Built { task, bytes })
            }
            SiteLocation::Asset(a) => {
                Ok(Built::from(self.asset_task(chunk_id, Features::AssetRange(a, 0.0, 1.0), Vec::new())?))
            }
        }
    }

    /// Sites of the site file by id (computing the journal's `parts`, else every part); of a table asset,
    /// the features with these ids, or without ids the part of the random column the chunk id stands for.
    fn split(
        &self,
        inputs: &Inputs,
        chunk_id: &str,
        site_ids: &[String],
        parts: Option<&[Part]>,
    ) -> Result<Built, PlanError> {
        let built = match &inputs.pipeline.sites.location {
            SiteLocation::File(_) => {
                let mut idx = Vec::with_capacity(site_ids.len());
                for id in site_ids {
                    idx.push(inputs.index_of(id).ok_or_else(|| PlanError::UnknownSite(id.clone()))?);
                }
                if idx.is_empty() {
                    return Err(PlanError::EmptyChunk(chunk_id.to_string()));
                }
                let parts = parts.map(<[Part]>::to_vec).unwrap_or_else(|| self.all_parts());
                let (task, bytes) = self.serialized(chunk_id, &inputs.chosen(&idx), &parts)?;
                Built { task, bytes }
            }
            SiteLocation::Asset(a) if !site_ids.is_empty() => {
                Built::from(self.asset_task(chunk_id, Features::AssetIds(a, site_ids), site_ids.to_vec())?)
            }
            SiteLocation::Asset(a) => {
                let (lo, hi) = split_range(chunk_id);
                Built::from(self.asset_task(chunk_id, Features::AssetRange(a, lo, hi), Vec::new())?)
            }
        };
        if built.task.body_bytes > crate::pipeline::Chunks::EE_MAX_REQUEST_BYTES {
            return Err(PlanError::TooBig { chunk: chunk_id.to_string(), bytes: built.task.body_bytes });
        }
        Ok(built)
    }

    /// The first chunk's first sites (or the asset's first features).
    fn probe(&self, inputs: &Inputs, first: Option<&Chunk>, sites: usize) -> Result<ProbeCall, ProbeError> {
        let parts = first.map(|c| c.parts.clone()).unwrap_or_else(|| self.all_parts());
        match &inputs.pipeline.sites.location {
            SiteLocation::File(_) => {
                let chosen = first.map(|c| inputs.chosen(&c.sites[..c.sites.len().min(sites.max(1))]));
                self.probe_call(&parts, &chosen.unwrap_or_default(), None)
            }
            SiteLocation::Asset(_) => self.probe_call(&parts, &[], Some((inputs.asset(), sites.max(1)))),
        }
    }

    /// The sites in the chunks.
    fn planned_sites(&self, _inputs: &Inputs, chunks: &[Chunk]) -> usize {
        chunks.iter().map(|c| c.sites.len()).sum()
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
    use super::split_range;

    #[test]
    fn split_ranges_halve() {
        assert_eq!(split_range("c00000"), (0.0, 1.0));
        assert_eq!(split_range("c00000a"), (0.0, 0.5));
        assert_eq!(split_range("c00000ab"), (0.25, 0.5));
    }
}
