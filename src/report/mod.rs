//! `geepipe report`: one self-contained HTML page about a finished run, to look at and to share.
//!
//! Inputs: the pipeline (layers, legends, site file), its tidy table ([`read`]), the manifest beside the
//! table and, when present, the run journal ([`run`]); optionally a second table of the same pipeline to
//! compare with ([`compare`]). Output: one HTML file that needs no network when opened — the chart
//! libraries, the data and the page script are inline — and is byte-identical for the same inputs
//! (nothing depends on the clock, the machine or hash-map order).
//!
//! # What is computed where
//!
//! Everything exact is computed here, from the table's full-precision values, and written into the page
//! as HTML text (tables that double as the charts' text alternatives and print well): class totals per
//! year, the net-change matrix and the largest changes per class ([`landcover`]), the per-year
//! distribution and median trend of every continuous band and statistic ([`stats`]), the run facts, the
//! comparison. The browser draws the charts from the same numbers, and for the map and the site picker
//! it gets every site's values in a compact form (class shares in ‰ of the site's area, continuous values
//! rounded to about 1/100 of their spread, outlines quantised to the map's resolution,
//! [`sites`]), delta-coded, deflated (zlib, the `flate2` crate) and base64-encoded; the page inflates
//! them with the browser's own `DecompressionStream`. That keeps 40,000 sites × 14 years within a few
//! megabytes.
//!
//! # Charts
//!
//! Vega-Lite 6.5 with Vega 6.4 and vega-embed 7.3 (BSD-3-Clause, vendored in `vendor/` by
//! `scripts/vendor-report-js.sh`, with every bundled package's licence in `THIRD-PARTY-NOTICES.txt`,
//! also embedded in the page). A charting library in the page rather than SVG drawn here, because the
//! map and the per-site charts must change with the picker and show hover details for thousands of
//! sites; Vega-Lite is declarative (the specs are plain JSON built in [`html`]), maintained, draws SVG
//! (crisp in print, countable in tests) and gives charts ARIA labels from their descriptions.

pub mod charts;
pub mod compare;
pub mod html;
pub mod landcover;
pub mod pack;
pub mod read;
pub mod run;
pub mod sites;
pub mod stats;

use std::path::{Path, PathBuf};

use crate::pipeline::Pipeline;

/// What to build a report from.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub pipeline: &'a Pipeline,
    /// The table (default: the pipeline's `output.path`).
    pub table: PathBuf,
    /// The run journal, read when it exists.
    pub journal: Option<PathBuf>,
    /// Another table of the same pipeline to compare with.
    pub compare: Option<PathBuf>,
}

/// Why no report was written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("pipeline `{pipeline}` is a `kind: {kind}` pipeline: a report needs the table of a zonal pipeline")]
    NotZonal { pipeline: String, kind: String },
    /// The table or the other table cannot be read.
    #[error(transparent)]
    Table(#[from] read::ReadError),
    /// The site file cannot be read (its diagnostics; the first error is shown).
    #[error("cannot read the site geometries: {}", first_error(.0))]
    Sites(Vec<crate::diag::Diagnostic>),
    /// The manifest or the journal cannot be read.
    #[error(transparent)]
    Run(#[from] run::RunError),
    #[error(transparent)]
    Write(#[from] crate::results::table::TableError),
}

fn first_error(d: &[crate::diag::Diagnostic]) -> &str {
    d.iter().find(|d| d.is_error()).or(d.first()).map(|d| d.message.as_str()).unwrap_or("unknown error")
}

impl ReportError {
    /// Whether the inputs are at fault (rather than writing the page).
    pub fn is_input(&self) -> bool {
        !matches!(self, ReportError::Write(_))
    }
}

/// Default place of the report: beside the table, `results/lulc.csv` → `results/lulc.report.html`.
pub fn path_for(table: &Path) -> PathBuf {
    let stem = table.file_stem().and_then(|s| s.to_str()).unwrap_or("table");
    table.with_file_name(format!("{stem}.report.html"))
}

/// Builds the page.
pub fn build(inputs: &Inputs) -> Result<String, ReportError> {
    let p = inputs.pipeline;
    if p.kind != crate::pipeline::KindName::Zonal {
        return Err(ReportError::NotZonal { pipeline: p.name.clone(), kind: format!("{:?}", p.kind).to_lowercase() });
    }
    let table = read::read(p, &inputs.table)?;
    let geometry = sites::read(p).map_err(ReportError::Sites)?;
    let run = run::collect(p, &inputs.table, inputs.journal.as_deref())?;
    let comparison = match &inputs.compare {
        Some(other) => {
            let there = read::read(p, other)?;
            Some(compare::compare(&table, &there, &other.display().to_string()))
        }
        None => None,
    };
    // Shown as given but without `./` and `x/..`, so `run` and `report` name the same table the same way.
    let shown = crate::local::clean_path(&inputs.table);
    Ok(html::page(&html::Parts {
        pipeline: p,
        table_path: &shown,
        table: &table,
        geometry: geometry.as_ref(),
        run: &run,
        comparison: comparison.as_ref(),
    }))
}

/// Builds the page and writes it atomically to `out`; returns its size in bytes.
pub fn write(inputs: &Inputs, out: &Path) -> Result<u64, ReportError> {
    let page = build(inputs)?;
    crate::results::atomic::write_atomic(out, page.as_bytes()).map_err(crate::results::table::TableError::from)?;
    Ok(page.len() as u64)
}
