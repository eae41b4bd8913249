//! Turning a parsed document into the resolved [`Pipeline`], or into every problem it has.
//!
//! Order: JSON Schema shape checks (see [`super::schema`], which words each violation for the user),
//! reading each section of the file on its own (each layer too) with the rejected values taken out,
//! then semantic checks that need more than the shape (years, destinations, names Earth Engine
//! accepts, catalog references) on everything that could be read. Each problem becomes a located
//! [`Diagnostic`]; none stops the others, and none is reported twice.
//!
//! The stages, each in its own file: [`parts`] (read each section on its own), [`name`] (pipeline name and
//! project), [`sites`], [`years`], [`layers`] (with [`grid`]: each layer's grid and no-data), [`reduce`],
//! [`export`], [`image`], [`classifier`], [`output`] (chunks and the result table), [`mode`] (run mode and
//! interactive settings); [`context`] holds what they share.

mod classifier;
mod context;
mod export;
mod grid;
mod image;
mod layers;
mod mode;
mod name;
mod output;
mod parts;
mod reduce;
mod sites;
mod years;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::load::Document;
use super::model::*;
use super::raw::*;
use crate::diag::{Code, Diagnostic};
use context::Cx;
use parts::Parts;

pub use grid::{layer_grid, GridProblem};
pub use layers::{canonical_stat, STATS};

/// Settings from outside the file that change the resolved pipeline.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--project`; beats `GOOGLE_CLOUD_PROJECT`, which beats the file.
    pub project: Option<String>,
    /// Value of `GOOGLE_CLOUD_PROJECT`.
    pub env_project: Option<String>,
    /// `--engine`.
    pub engine: Option<EngineName>,
    /// `--mode`.
    pub mode: Option<ModeName>,
}

/// A compiled pipeline with its warnings, or every diagnostic.
pub type Compiled = Result<(Pipeline, Vec<Diagnostic>), Vec<Diagnostic>>;

/// Compiles a parsed document. Warnings are returned with the pipeline; any error returns all diagnostics.
///
/// Schema violations do not stop the semantic checks: unknown keys and values that do not fit are taken
/// out of a copy of the document, each section that can still be read is read on its own (each layer
/// too), and the semantic checks run on what was read. Semantic findings about a value the schema
/// already rejected are dropped, so every problem is reported once.
pub fn compile(
    doc: &Document,
    path: &Path,
    overrides: &Overrides,
) -> Result<(Pipeline, Vec<Diagnostic>), Vec<Diagnostic>> {
    compile_with_sites(doc, path, overrides).0
}

/// [`compile`], and the `sites` section when it was read without a problem even though the pipeline has
/// errors, so the site file's own problems can be reported in the same round (`geepipe validate`).
pub fn compile_with_sites(doc: &Document, path: &Path, overrides: &Overrides) -> (Compiled, Option<SiteSource>) {
    let (mut cx, parts) = parts::read(doc);
    let (pipeline, sites) = cx.resolve(&parts, path, overrides);
    let mut diags = cx.diags;
    sort_by_place(&mut diags);
    let result = match pipeline {
        Some(p) if !diags.iter().any(Diagnostic::is_error) => Ok((p, diags)),
        _ => {
            if !diags.iter().any(Diagnostic::is_error) {
                // Cannot happen (a missing section is always reported), but never return nothing.
                diags.push(Diagnostic::error(Code::PipelineIncomplete, "the pipeline could not be read").at(
                    &doc.source,
                    doc.label_span(""),
                    None,
                ));
            }
            Err(diags)
        }
    };
    (result, sites)
}

/// Orders diagnostics as they appear in the file (unlocated ones first), errors and warnings mixed.
pub fn sort_by_place(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| d.labels.iter().find(|l| l.primary).map(|l| (l.span.start, l.span.end)));
}

impl Cx<'_> {
    /// The stages, in order; each reports its own problems and returns what it could resolve.
    /// Also returns the site source when the `sites` section had no problem of its own.
    fn resolve(&mut self, raw: &Parts, path: &Path, ov: &Overrides) -> (Option<Pipeline>, Option<SiteSource>) {
        let errors = |cx: &Cx| cx.diags.iter().filter(|d| d.is_error()).count();
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        let name = self.name(raw.name.as_deref(), path);
        let project =
            self.project(ov.project.clone().or_else(|| ov.env_project.clone()).or_else(|| raw.project.clone()));
        let engine = match ov.engine.or(raw.engine) {
            Some(EngineName::Local) => Engine::Local,
            _ => Engine::EarthEngine,
        };
        // `--engine` naming another engine than the file: what only fits the file's engine is set aside.
        let file_engine = if raw.engine == Some(EngineName::Local) { Engine::Local } else { Engine::EarthEngine };
        let switched = ov.engine.is_some() && engine != file_engine;
        let kind = raw.kind.unwrap_or(KindName::Zonal);
        let before = errors(self);
        let sites = raw.sites.as_ref().map(|s| self.sites(s, &base, engine, kind));
        let sites_clean = errors(self) == before && !self.suppressed.iter().any(|p| p.starts_with("/sites"));
        let clean_sites = sites.clone().filter(|_| sites_clean);
        let pipeline_years = raw.years.as_ref().map(|y| self.years(y, "/years")).unwrap_or_default();
        let vars = raw.vars.clone().unwrap_or_default();
        let layers = self.layers(raw, &pipeline_years, &vars, &base, engine, sites.as_ref());
        let reduce = self.reduce(raw.reduce.as_ref().cloned().unwrap_or_default(), kind, engine);
        self.reduce_grids(&reduce, &layers, engine);
        let mode_name = ov.mode.or(raw.mode).unwrap_or(ModeName::Auto);
        let export = match &raw.export {
            Some(e) => Some(self.export(e, &name, &base, (engine, switched), (kind, mode_name))),
            // No `export` section: nowhere for tasks to write (checked against the mode below).
            None if !raw.export_present => Some(Export::nowhere(&name)),
            None => None,
        };
        // A `to: local` set aside by `--engine earthengine` was reported where it stands (an error in batch).
        let set_aside = switched && raw.export.as_ref().is_some_and(|e| e.to == DestinationName::Local);
        let mode = self.mode(
            mode_name,
            ov.mode.is_some(),
            kind,
            engine,
            set_aside || export.as_ref().is_none_or(|e| e.destination.exists()),
        );
        let interactive = self.interactive(raw.interactive.as_ref());
        let image = self.image(raw.image.as_ref(), kind, raw.export.as_ref(), &reduce);
        if let Some(opts) = &image {
            self.image_scales(opts, &layers);
        }
        let classifier = self.classifier(raw, kind, &layers, sites.as_ref(), &reduce);
        let chunks = self.chunks(raw.chunks.as_ref().cloned().unwrap_or_default());
        let output = self.output(raw.output.as_ref().cloned().unwrap_or_default(), &name, &base);
        let journal_dir = match &raw.journal {
            Some(j) => base.join(j),
            None => output.path.parent().map(|p| p.join(".geepipe")).unwrap_or_else(|| base.join(".geepipe")),
        };
        let (Some(sites), Some(export), Some(full)) = (sites, export, raw.raw()) else {
            return (None, clean_sites);
        };
        let content_hash = content_hash(&full, &sites);
        let pipeline = Pipeline {
            name,
            source: path.to_path_buf(),
            content_hash,
            project,
            engine,
            kind,
            mode,
            sites,
            layers,
            reduce,
            export,
            image,
            classifier,
            chunks,
            interactive,
            output,
            journal_dir,
            vars,
        };
        (Some(pipeline), clean_sites)
    }
}

/// SHA-256 over the canonical JSON of the raw model plus the site file's bytes (when it is a file).
/// `mode` and `interactive` are left out: they say how to run, not what to compute, so a journal
/// survives switching modes (its unsent chunks follow the new mode).
fn content_hash(raw: &RawPipeline, sites: &SiteSource) -> String {
    let mut h = Sha256::new();
    h.update(b"geepipe-pipeline-v1\0");
    let what = RawPipeline { mode: None, interactive: None, ..raw.clone() };
    h.update(serde_json::to_vec(&what).unwrap_or_default());
    h.update(b"\0catalog:");
    h.update(crate::catalog::VERSION.as_bytes());
    if let SiteLocation::File(p) = &sites.location {
        // The site file, then a shapefile's side files (attributes, CRS, code page), each after its name.
        for (i, path) in std::iter::once(p.clone()).chain(crate::sites::side_files(sites)).enumerate() {
            if i > 0 {
                h.update(b"\0side:");
                h.update(path.extension().map(|e| e.as_encoded_bytes()).unwrap_or_default());
            }
            // Only a regular file: a path like `/dev/zero` or a FIFO would never end.
            if let Ok(mut f) = std::fs::File::open(&path).and_then(|f| match f.metadata()?.is_file() {
                true => Ok(f),
                false => Err(std::io::Error::other("not a regular file")),
            }) {
                // In large reads (`io::copy` from the file alone would read 8 KiB at a time).
                let _ = std::io::copy(&mut std::io::BufReader::with_capacity(1 << 18, &mut f), &mut h);
            }
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests;
