//! Image exports planned as a stream, so the sites are never all held.
//!
//! `per: site`: their number is the sites times the layer-years (100,000 sites and two years are 200,000
//! exports), so they are never all built at once, and the sites are not all kept: one pass over the site
//! file checks every feature (the same diagnostics as `validate`) and spills the sites to a temporary file
//! (about 2 bytes a site in memory, [`SpilledSites`]); then each export is built in plan order — layers,
//! years, sites, as [`super::image::units`] — a batch at a time (in parallel), handed to the caller
//! (`plan --out` writes it, `run` records it in the journal) and dropped.
//!
//! `per: region`: one export per layer-year over the bounding box of every site. The same one pass gathers
//! that box and the figures of the `maxPixels` estimate ([`Extent`]) and keeps only the sites' ids (in one
//! string: each export's request id and record list them all); each export is then built, handed over
//! and dropped.
//!
//! The chunk ids, bodies, warnings and probe are the [`super::image::ImagePlanner`]'s, byte for byte (a
//! test compares them); that planner rebuilds a planned export when asked. The commands choose this path
//! (`cli::plan::streams_image`).

use std::path::Path;

use rayon::prelude::*;

use super::compute::PreparedLayer;
use super::image::{export_task, max_pixels_warning, region_chunk_id, site_chunk_id, Cover, Extent};
use super::kind::{expression_error, pipeline_error, prepare_layers, Built};
use super::probe::{wrap, ProbeCall, ProbeError, ValueProbe};
use super::{PlanError, Task};
use crate::diag::{Code, Diagnostic};
use crate::pipeline::{ImageExport, ImagePer, Pipeline};
use crate::sites::spill::SpilledSites;

/// Exports built together (in parallel) before they are handed over in order.
const BATCH: usize = 256;

/// One export: its task (body `null`), its body as sent, and its `maxPixels` warning.
pub type Export = (Task, Vec<u8>, Option<Diagnostic>);

/// The exports of an image pipeline, built on demand from what one pass over its site file kept.
pub struct ImageExports {
    pipeline: Pipeline,
    opts: ImageExport,
    layers: Vec<PreparedLayer>,
    sites: Kept,
}

/// What the pass over the site file kept.
enum Kept {
    /// `per: site`: every site, spilled.
    Sites(SpilledSites),
    /// `per: region`: the sites' extent and their ids.
    Region { extent: Extent, ids: Ids },
}

/// Site ids in file order, in one string.
#[derive(Default)]
struct Ids {
    text: String,
    ends: Vec<usize>,
}

impl Ids {
    fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    /// Every id, as a task lists them.
    fn to_vec(&self) -> Vec<String> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| self.text[a..b].to_string()).collect()
    }
}

impl ImageExports {
    /// Renders the layers and reads the site file: into a spill in `dir` (`per: site`), or into the extent
    /// of the sites (`per: region`). Returns the site file's warnings; every problem of the layers and the
    /// site file is returned together.
    pub fn new(p: &Pipeline, dir: &Path) -> Result<(ImageExports, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let layers = prepare_layers(p).unwrap_or_else(|es| {
            errors.extend(es);
            Vec::new()
        });
        let temp_error = |e: std::io::Error| {
            vec![Diagnostic::error(
                Code::SitesRead,
                format!("cannot write a temporary file in `{}`: {e}", dir.display()),
            )]
        };
        let Some(opts) = p.image.clone() else {
            errors.push(pipeline_error(p, Code::PlanImage, "the pipeline has no image settings", ""));
            return Err(errors);
        };
        let mut failed = None;
        let (report, mut sites) = match opts.per {
            ImagePer::Site => {
                std::fs::create_dir_all(dir).map_err(temp_error)?;
                let mut sites = SpilledSites::new(dir).map_err(temp_error)?;
                let mut buf = Vec::new();
                let report = crate::sites::scan(&p.sites, |s| {
                    sites.push(&s, &mut buf).map_err(|e| {
                        failed = Some(e);
                        Diagnostic::error(Code::SitesRead, "stopped")
                    })
                });
                (report, Kept::Sites(sites))
            }
            ImagePer::Region => {
                let (mut extent, mut ids) = (Extent::new(&opts, &layers), Ids::default());
                let report = crate::sites::scan(&p.sites, |s| {
                    extent.add(&s);
                    ids.push(&s.id);
                    Ok(())
                });
                (report, Kept::Region { extent, ids })
            }
        };
        if let Some(e) = failed {
            return Err(temp_error(e));
        }
        let warnings = if report.has_errors() {
            errors.extend(report.diagnostics);
            Vec::new()
        } else {
            report.diagnostics
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        if let Kept::Sites(s) = &mut sites {
            s.seal().map_err(temp_error)?;
        }
        Ok((ImageExports { pipeline: p.clone(), opts, layers, sites }, warnings))
    }

    /// Sites of the site file.
    pub fn sites(&self) -> usize {
        match &self.sites {
            Kept::Sites(s) => s.len(),
            Kept::Region { ids, .. } => ids.ends.len(),
        }
    }

    /// The export of image `image` (year `year`) of `layer` over every site (`per: region`).
    fn region_export(&self, layer: &PreparedLayer, image: usize, year: i32) -> Result<Export, PlanError> {
        let Kept::Region { extent, ids } = &self.sites else {
            return Err(PlanError::UnknownExport(region_chunk_id(&layer.name, year)));
        };
        let chunk_id = region_chunk_id(&layer.name, year);
        let p = &self.pipeline;
        let warning = max_pixels_warning(p, &self.opts, layer, &chunk_id, extent);
        let cover = Cover::Region(extent.bounds());
        let task = export_task(p, &self.opts, layer, image, &chunk_id, ids.to_vec(), cover)
            .map_err(|e| PlanError::Diagnostics(expression_error(p, e)))?;
        let Built { task, bytes } = Built::from(task);
        Ok((task, bytes, warning))
    }

    /// The export of site `s` for image `image` (year `year`) of `layer`; `empty` is the layer's empty
    /// [`Extent`] (its CRS parsed once for every site).
    fn export(
        &self,
        layer: &PreparedLayer,
        empty: &Extent,
        image: usize,
        year: i32,
        s: usize,
    ) -> Result<Export, PlanError> {
        let Kept::Sites(sites) = &self.sites else {
            return Err(PlanError::UnknownExport(site_chunk_id(&layer.name, year, s)));
        };
        let site = sites
            .nth(s)
            .map_err(|e| PlanError::SitesUnreadable(e.to_string()))?
            .ok_or_else(|| PlanError::UnknownSite(format!("#{s}")))?;
        let chunk_id = site_chunk_id(&layer.name, year, s);
        let p = &self.pipeline;
        let mut extent = empty.clone();
        extent.add(&site);
        let warning = max_pixels_warning(p, &self.opts, layer, &chunk_id, &extent);
        let task = export_task(p, &self.opts, layer, image, &chunk_id, vec![site.id.clone()], Cover::Site(&site))
            .map_err(|e| PlanError::Diagnostics(expression_error(p, e)))?;
        let Built { task, bytes } = Built::from(task);
        Ok((task, bytes, warning))
    }

    /// Hands every export to `each`, in plan order (see the module doc); stops at the first error.
    pub fn for_each<E: From<PlanError>>(&self, mut each: impl FnMut(Export) -> Result<(), E>) -> Result<(), E> {
        let n = self.sites();
        let region = matches!(self.sites, Kept::Region { .. });
        for layer in &self.layers {
            let empty = Extent::new(&self.opts, std::slice::from_ref(layer));
            for (image, (year, _)) in layer.images.iter().enumerate() {
                if region {
                    each(self.region_export(layer, image, *year)?)?;
                    continue;
                }
                for start in (0..n).step_by(BATCH) {
                    let built: Vec<Result<Export, PlanError>> = (start..(start + BATCH).min(n))
                        .into_par_iter()
                        .map(|s| self.export(layer, &empty, image, *year, s))
                        .collect();
                    for b in built {
                        each(b?)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The probe: the first export's image wrapped in `Image.bandNames` (as the kind planner's).
    pub fn probe(&self) -> Result<ProbeCall, ProbeError> {
        let Some((layer, (year, _))) = self.layers.iter().find_map(|l| l.images.first().map(|i| (l, i))) else {
            return Err(ProbeError::NoImageExport);
        };
        if matches!(self.sites, Kept::Sites(_)) && self.sites() == 0 {
            return Err(ProbeError::NoImageExport);
        }
        let first = match self.sites {
            Kept::Sites(_) => self.export(layer, &Extent::new(&self.opts, std::slice::from_ref(layer)), 0, *year, 0),
            Kept::Region { .. } => self.region_export(layer, 0, *year),
        };
        let (task, bytes, _) = first.map_err(|e| {
            ProbeError::Image(match e {
                PlanError::Diagnostics(d) => d,
                e => expression_error(&self.pipeline, e),
            })
        })?;
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        Ok(ProbeCall::Value {
            expression: wrap(&body["expression"], "Image.bandNames", "image"),
            what: ValueProbe::BandNames,
            description: format!("export {}", task.chunk_id),
        })
    }
}
