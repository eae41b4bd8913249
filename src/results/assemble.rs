//! The tidy table and its manifest, assembled in one place for both engines: `geepipe fetch` (records
//! merged from Earth Engine exports) and the local engine (records computed here) push their sites in
//! order through one [`Assembler`], which writes the table through the shared
//! [`TableWriter`](super::table::TableWriter), counts what the manifest's totals say (sites, site-years,
//! those without valid pixels, per-layer coverage) and writes the manifest beside the table. Each engine
//! only adds what it alone knows to the manifest (inputs, chunks, timings).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::atomic::{place_pair, Unplaced};
use super::coverage::Coverage;
use super::manifest::{self, Manifest, Totals};
use super::table::{SiteResult, TableError, TableSpec, TableSummary, TableWriter};
use super::{Measure, Record};
use crate::pipeline::{OutputGeometryName, Pipeline};
use crate::sites::Site;

/// Writes the table site by site and keeps the totals of what it wrote.
pub struct Assembler {
    writer: TableWriter,
    coverage: Coverage,
    totals: Totals,
}

/// What an assembled table holds. The table is written but not yet in place: [`Assembled::place`] puts it
/// there together with its manifest.
pub struct Assembled {
    pub table: TableSummary,
    pub totals: Totals,
    pub coverage: Coverage,
    unplaced: Option<Unplaced>,
}

impl Assembler {
    /// Starts the table at `path` (written atomically when finished) for `pipeline`'s layers.
    pub fn create(pipeline: &Pipeline, spec: TableSpec, path: &Path) -> Result<Assembler, TableError> {
        spec.check()?;
        Ok(Assembler {
            writer: TableWriter::create(spec, path)?,
            coverage: Coverage::new(pipeline.layers.iter().map(|l| l.name.as_str())),
            totals: Totals::default(),
        })
    }

    /// Whether the table has a geometry column (then each site's [`SiteResult::geometry`] is written).
    pub fn with_geometry(spec: &TableSpec) -> bool {
        spec.geometry != OutputGeometryName::None
    }

    /// Adds one site with its records (the next row(s) of the table).
    pub fn push(&mut self, site: SiteResult) -> Result<(), TableError> {
        let t = &mut self.totals;
        t.sites += 1;
        t.site_years += site_years(&site.records);
        t.nodata_site_years += site.records.iter().filter(|r| r.measure == Measure::NoData).count() as u64;
        self.coverage.add(&site.records);
        self.writer.push(site)
    }

    /// Finishes the table (complete on disk, not yet in place) and returns what it holds.
    pub fn finish(self) -> Result<Assembled, TableError> {
        let (table, unplaced) = self.writer.finish_unplaced()?;
        let mut totals = self.totals;
        totals.rows = table.rows;
        totals.layers = self.coverage.layers.clone();
        Ok(Assembled { table, totals, coverage: self.coverage, unplaced: Some(unplaced) })
    }
}

impl Assembled {
    /// The run manifest of this table (its totals filled in; `started_at` from [`manifest::now`]).
    pub fn manifest(&self, pipeline: &Pipeline, started_at: String) -> Manifest {
        let mut m = Manifest::new(pipeline, started_at, &self.table);
        m.totals = self.totals.clone();
        m
    }
}

impl Assembled {
    /// Writes the manifest `m`, then puts the table and the manifest (beside it, see [`manifest::path_for`])
    /// in place together ([`place_pair`]): a table is never left beside a manifest of another table.
    /// Returns the manifest's path.
    pub fn place(&mut self, m: &Manifest) -> Result<PathBuf, TableError> {
        let Some(table) = self.unplaced.take() else {
            return Err(TableError::Io {
                path: self.table.path.clone(),
                source: std::io::Error::other("the table was already put in place"),
            });
        };
        let path = manifest::path_for(table.path());
        let written = m.write_unplaced(&path)?;
        place_pair(table, written)?;
        Ok(path)
    }
}

/// A site's polygons as a GeoJSON geometry (for tables with geometries).
pub fn site_geometry(site: &Site) -> Value {
    let ring = |r: &Vec<[f64; 2]>| Value::Array(r.iter().map(|p| serde_json::json!([p[0], p[1]])).collect());
    let poly = |p: &Vec<Vec<[f64; 2]>>| Value::Array(p.iter().map(ring).collect());
    if site.multi {
        serde_json::json!({"type": "MultiPolygon", "coordinates": site.polygons.iter().map(poly).collect::<Vec<_>>()})
    } else {
        serde_json::json!({"type": "Polygon", "coordinates": site.polygons.first().map(poly).unwrap_or(Value::Array(vec![]))})
    }
}

/// The layer-years that `records` (of one site) cover.
fn site_years(records: &[Record]) -> u64 {
    let mut seen = HashSet::new();
    records.iter().filter(|r| seen.insert((r.layer.as_str(), r.year))).count() as u64
}
