//! Stage: how the work is cut into tasks (`chunks`) and where the one result table goes (`output`): a file
//! path (never a folder or a device), in the format `format` names or, without it, the path's extension.

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
        let by_extension = o.path.as_deref().and_then(format_of_extension);
        let format = match (o.format, by_extension) {
            (Some(f), Some((g, ext))) if f != g => {
                self.error(
                    "/output/path",
                    Code::OutputExtension,
                    format!("output.path ends in `.{ext}` but output.format is `{}`", format_name(f)),
                    "another format",
                    &format!(
                        "the table would be {} in a `.{ext}` file: end the path in `.{}`, or set `format: {}`",
                        format_name(f),
                        default_extension(f),
                        format_name(g)
                    ),
                );
                f
            }
            // Without `format`, the path's extension chooses it (`x.geojson` is GeoJSON, not CSV).
            (None, Some((g, _))) => g,
            (f, _) => f.unwrap_or(OutputFormatName::Csv),
        };
        let default_ext = default_extension(format);
        let path = base.join(o.path.clone().unwrap_or_else(|| format!("results/{name}.{default_ext}")));
        if let Some(given) = &o.path {
            self.output_path(given, &path);
        }
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

impl Cx<'_> {
    /// Errors for an `output.path` that cannot be the table: empty, a folder (`.`, a trailing `/`, an
    /// existing directory), or an existing file that is not a regular file (a device node, a pipe, a
    /// socket), which `fetch` would otherwise replace with a regular file.
    fn output_path(&mut self, given: &str, path: &Path) {
        let help = "name the table's file, e.g. `path: results/sites.csv` (relative to the pipeline file)";
        if given.trim().is_empty() {
            self.error("/output/path", Code::OutputPath, "output.path is empty", "no file name", help);
            return;
        }
        let trailing = given.ends_with('/') || given.ends_with(std::path::MAIN_SEPARATOR);
        let last = Path::new(given).file_name().map(|n| n.to_string_lossy().into_owned());
        if trailing || last.is_none() || path.is_dir() {
            self.error(
                "/output/path",
                Code::OutputPath,
                format!("output.path `{given}` is a folder, not a file"),
                "a folder",
                help,
            );
            return;
        }
        if let Ok(meta) = std::fs::metadata(path) {
            if !meta.is_file() {
                self.error(
                    "/output/path",
                    Code::OutputPath,
                    format!("output.path `{given}` exists and is not a regular file (a device, a pipe or a socket)"),
                    "not a regular file",
                    "geepipe replaces the table file when it writes it: choose a path that is a regular file or \
                     does not exist yet",
                );
            }
        }
    }
}

/// The output format an extension names (`.csv`, `.geojson`/`.json`, `.parquet`), with the extension.
fn format_of_extension(path: &str) -> Option<(OutputFormatName, String)> {
    let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
    let f = match ext.as_str() {
        "csv" => OutputFormatName::Csv,
        "geojson" | "json" => OutputFormatName::Geojson,
        "parquet" | "geoparquet" => OutputFormatName::Parquet,
        _ => return None,
    };
    Some((f, ext))
}

fn default_extension(f: OutputFormatName) -> &'static str {
    match f {
        OutputFormatName::Csv => "csv",
        OutputFormatName::Geojson => "geojson",
        OutputFormatName::Parquet => "parquet",
    }
}

fn format_name(f: OutputFormatName) -> &'static str {
    default_extension(f)
}
