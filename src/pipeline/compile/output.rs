//! Stage: how the work is cut into tasks (`chunks`) and where the one result table goes (`output`).

use crate::diag::Code;
use std::path::Path;

use super::Cx;
use crate::pipeline::model::*;
use crate::pipeline::raw::*;

impl Cx<'_> {
    pub(super) fn chunks(&mut self, c: RawChunks) -> Chunks {
        let sites_per_task = c.sites_per_task.map(|v| v as usize).unwrap_or(Chunks::DEFAULT_SITES_PER_TASK);
        if sites_per_task == 0 {
            self.error(
                "/chunks/sites_per_task",
                Code::ChunksZero,
                "sites_per_task must be at least 1",
                "zero",
                "each export task holds this many sites; the default is 50",
            );
        }
        let max_concurrent = c.max_concurrent.map(|v| v as usize).unwrap_or(Chunks::DEFAULT_MAX_CONCURRENT);
        if max_concurrent == 0 || max_concurrent > 3000 {
            self.error(
                "/chunks/max_concurrent",
                Code::ChunksConcurrency,
                "max_concurrent must be between 1 and 3000",
                "here",
                "Earth Engine queues at most 3,000 tasks per project",
            );
        }
        let max_request_bytes = c.max_request_bytes.map(|v| v as usize).unwrap_or(Chunks::DEFAULT_MAX_REQUEST_BYTES);
        if max_request_bytes > Chunks::EE_MAX_REQUEST_BYTES {
            self.error(
                "/chunks/max_request_bytes",
                Code::ChunksRequestSize,
                "max_request_bytes is above Earth Engine's 10 MB request limit",
                "too large",
                "use at most 10485760; 4000000 (the default) leaves room",
            );
        } else if max_request_bytes < 10_000 {
            self.error(
                "/chunks/max_request_bytes",
                Code::ChunksRequestSize,
                "max_request_bytes is too small to hold a request",
                "too small",
                "use at least 10000",
            );
        }
        Chunks { sites_per_task: sites_per_task.max(1), max_concurrent: max_concurrent.max(1), max_request_bytes }
    }

    pub(super) fn output(&mut self, o: RawOutput, name: &str, base: &Path) -> Output {
        let format = o.format.unwrap_or(OutputFormatName::Csv);
        let default_ext = match format {
            OutputFormatName::Csv => "csv",
            OutputFormatName::Geojson => "geojson",
            OutputFormatName::Parquet => "parquet",
        };
        let path = base.join(o.path.clone().unwrap_or_else(|| format!("results/{name}.{default_ext}")));
        if format == OutputFormatName::Geojson && o.layout == Some(LayoutName::Long) {
            self.warn(
                "/output/layout",
                Code::OutputGeojsonLong,
                "a long GeoJSON repeats each site geometry once per row",
                "long",
                "",
            );
        }
        let geometry = match (format, o.geometry) {
            (OutputFormatName::Csv, Some(g @ (OutputGeometryName::Centroid | OutputGeometryName::Polygon))) => {
                self.error(
                    "/output/geometry",
                    Code::OutputGeometry,
                    format!(
                        "a CSV table cannot hold a {} geometry",
                        if g == OutputGeometryName::Centroid { "centroid" } else { "polygon" }
                    ),
                    "needs parquet or geojson",
                    "write `format: parquet` (GeoParquet) or `format: geojson`, or remove `geometry`",
                );
                OutputGeometryName::None
            }
            (OutputFormatName::Geojson, None) => OutputGeometryName::Polygon,
            (_, g) => g.unwrap_or(OutputGeometryName::None),
        };
        Output {
            path,
            format,
            layout: o.layout.unwrap_or(LayoutName::Long),
            geometry,
            report: o.report.unwrap_or(false),
        }
    }
}
