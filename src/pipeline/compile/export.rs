//! Stage: the `export` section — the destination and the fields it needs (and those it does not use),
//! file formats per pipeline kind, and the names Earth Engine accepts for tasks and files.

use crate::diag::Code;
use std::path::Path;

use super::Cx;
use crate::pipeline::model::*;
use crate::pipeline::raw::*;

use super::name::{is_ee_name, is_file_prefix};

impl Cx<'_> {
    /// `switched`: `--engine` named another engine than the file, so a destination that only fits the file's
    /// engine is not used (a warning says so) instead of being an error.
    pub(super) fn export(
        &mut self,
        e: &RawExport,
        name: &str,
        base: &Path,
        (engine, switched): (Engine, bool),
        (kind, mode): (KindName, ModeName),
    ) -> Export {
        let dest_name = format!("{:?}", e.to).to_lowercase();
        let unused = |cx: &mut Cx, field: &str, present: bool, fits: &str| {
            if present {
                cx.error(
                    &format!("/export/{field}"),
                    Code::ExportField,
                    format!("`{field}` does not apply to `to: {dest_name}`"),
                    "not used here",
                    fits,
                );
            }
        };
        let need = |cx: &mut Cx, field: &str, value: &Option<String>, help: &str| -> String {
            match value {
                Some(v) if !v.trim().is_empty() => v.clone(),
                _ => {
                    cx.error(
                        "/export",
                        Code::ExportMissing,
                        format!("`to: {dest_name}` needs `{field}`"),
                        &format!("needs `{field}`"),
                        help,
                    );
                    String::new()
                }
            }
        };
        let destination = match e.to {
            DestinationName::Drive => {
                unused(self, "bucket", e.bucket.is_some(), "`bucket` is for `to: gcs`");
                unused(self, "asset", e.asset.is_some(), "`asset` is for `to: asset`");
                unused(self, "table", e.table.is_some(), "`table` is for `to: bigquery`");
                let folder = need(self, "folder", &e.folder, "add `folder: geepipe` (a Drive folder name)");
                if folder.contains('/') {
                    self.error(
                        "/export/folder",
                        Code::ExportDriveFolder,
                        "a Drive folder is a single folder name, not a path",
                        "has `/`",
                        "Earth Engine creates the folder at the top of your Drive",
                    );
                } else if matches!(folder.trim(), "." | "..") {
                    // Earth Engine would make a folder literally named `..`: never what is meant.
                    self.error(
                        "/export/folder",
                        Code::ExportDriveFolder,
                        format!("`{folder}` is not a Drive folder name"),
                        "not a folder name",
                        "name the folder the tables go to, e.g. `folder: geepipe`; Earth Engine creates it at the \
                         top of your Drive",
                    );
                }
                Destination::Drive { folder }
            }
            DestinationName::Gcs => {
                unused(self, "folder", e.folder.is_some(), "for Cloud Storage use `bucket` and `prefix`");
                unused(self, "asset", e.asset.is_some(), "`asset` is for `to: asset`");
                unused(self, "table", e.table.is_some(), "`table` is for `to: bigquery`");
                let bucket = need(self, "bucket", &e.bucket, "add `bucket: my-bucket`");
                if !bucket.is_empty() && !valid_bucket(&bucket) {
                    let help = if bucket.starts_with("gs://") {
                        format!("write `{}` without `gs://`", bucket.trim_start_matches("gs://"))
                    } else {
                        "bucket names are 3-63 lowercase letters, digits, `-`, `_` and `.`".to_string()
                    };
                    self.error(
                        "/export/bucket",
                        Code::ExportBucket,
                        format!("`{bucket}` is not a valid bucket name"),
                        "not a bucket name",
                        &help,
                    );
                }
                Destination::Gcs { bucket }
            }
            DestinationName::Asset => {
                unused(self, "folder", e.folder.is_some(), "`folder` is for `to: drive`");
                unused(self, "bucket", e.bucket.is_some(), "`bucket` is for `to: gcs`");
                unused(self, "table", e.table.is_some(), "`table` is for `to: bigquery`");
                unused(self, "format", e.format.is_some(), "assets have no file format");
                let folder = need(self, "asset", &e.asset, "add `asset: projects/my-project/assets/folder`");
                if !folder.is_empty() && !folder.starts_with("projects/") {
                    self.error(
                        "/export/asset",
                        Code::ExportAsset,
                        format!("`{folder}` is not an asset folder id"),
                        "not an asset folder",
                        "write `projects/<project>/assets/<folder>`",
                    );
                }
                Destination::Asset { folder }
            }
            DestinationName::Bigquery => {
                unused(self, "folder", e.folder.is_some(), "`folder` is for `to: drive`");
                unused(self, "bucket", e.bucket.is_some(), "`bucket` is for `to: gcs`");
                unused(self, "asset", e.asset.is_some(), "`asset` is for `to: asset`");
                unused(self, "format", e.format.is_some(), "BigQuery tables have no file format");
                let table = need(self, "table", &e.table, "add `table: project.dataset.table`");
                if !table.is_empty() && table.split('.').count() != 3 {
                    self.error(
                        "/export/table",
                        Code::ExportTable,
                        format!("`{table}` is not `project.dataset.table`"),
                        "not project.dataset.table",
                        "name the project, dataset and table, separated by dots",
                    );
                }
                Destination::Bigquery { table }
            }
            DestinationName::Local => {
                unused(self, "bucket", e.bucket.is_some(), "`bucket` is for `to: gcs`");
                unused(self, "asset", e.asset.is_some(), "`asset` is for `to: asset`");
                unused(self, "table", e.table.is_some(), "`table` is for `to: bigquery`");
                let batch = mode == ModeName::Batch || kind != KindName::Zonal;
                if engine != Engine::Local && switched && batch {
                    self.error(
                        "/export/to",
                        Code::ExportLocal,
                        "`--engine earthengine` in batch mode needs a destination Earth Engine writes to; `to: local` \
                         is for the local engine",
                        "not an Earth Engine destination",
                        "write `to: gcs` with `bucket: …` (or `to: drive` with `folder: …`) here, or run in \
                         interactive mode, which needs no destination",
                    );
                    Destination::None
                } else if engine != Engine::Local && switched {
                    // `--engine earthengine` on a local pipeline: interactive requests need no destination.
                    self.warn(
                        "/export/to",
                        Code::ExportIgnored,
                        "`--engine earthengine` does not use `to: local`: Earth Engine computes this pipeline with \
                         interactive requests, which need no export destination",
                        "not used with --engine earthengine",
                        "for batch export tasks, write `to: gcs` with `bucket: …` (or `to: drive` with `folder: …`) \
                         here",
                    );
                    Destination::None
                } else {
                    if engine != Engine::Local {
                        self.error(
                            "/export/to",
                            Code::ExportLocal,
                            "`to: local` needs `engine: local`",
                            "here",
                            "add `engine: local` at the top of the file (or pass `--engine local`), or export to \
                             drive, gcs, asset or bigquery",
                        );
                    }
                    Destination::Local { folder: base.join(e.folder.clone().unwrap_or_else(|| "results".into())) }
                }
            }
        };
        if engine == Engine::Local && e.to != DestinationName::Local && switched {
            // `--engine local` on an Earth Engine pipeline: the local engine writes `output.path` only.
            self.warn(
                "/export/to",
                Code::ExportIgnored,
                format!("`--engine local` does not use `to: {dest_name}`: the local engine writes `output.path` on this machine"),
                "not used with --engine local",
                "nothing to change for a local run; each layer needs a `local:` raster path",
            );
        } else if engine == Engine::Local && e.to != DestinationName::Local {
            self.error(
                "/export/to",
                Code::ExportEngine,
                "the local engine writes files on this machine",
                "here",
                "use `to: local`",
            );
        }
        let default_format = if kind == KindName::Image { FileFormatName::Geotiff } else { FileFormatName::Csv };
        let format = e.format.unwrap_or(default_format);
        let table_formats = [
            FileFormatName::Csv,
            FileFormatName::Geojson,
            FileFormatName::Shp,
            FileFormatName::Kml,
            FileFormatName::Kmz,
            FileFormatName::Tfrecord,
        ];
        let image_formats = [FileFormatName::Geotiff, FileFormatName::Tfrecord];
        if kind == KindName::Image && !image_formats.contains(&format) {
            self.error(
                "/export/format",
                Code::ExportFormat,
                format!("images cannot be exported as {format:?}"),
                "here",
                "use `geotiff` or `tfrecord`",
            );
        } else if kind != KindName::Image && !table_formats.contains(&format) {
            self.error(
                "/export/format",
                Code::ExportFormat,
                format!("tables cannot be exported as {format:?}"),
                "here",
                "use csv, geojson, shp, kml, kmz or tfrecord",
            );
        }
        if format == FileFormatName::Shp && engine == Engine::EarthEngine {
            self.warn(
                "/export/format",
                Code::PlanShpColumns,
                "Shapefile exports cut column names to 10 characters, so `geepipe fetch` cannot read them back",
                "shp",
                "use `format: csv` or `geojson` for results geepipe merges",
            );
        }
        if e.to == DestinationName::Bigquery && e.overwrite == Some(true) {
            self.warn(
                "/export/overwrite",
                Code::PlanBigqueryOverwrite,
                "every chunk appends its rows to the BigQuery table; `overwrite` would let each chunk erase the \
                 others, so it is not sent",
                "not sent",
                "empty or drop the table before the run",
            );
        }
        let description_prefix = e.description.clone().unwrap_or_else(|| name.to_string());
        if !is_ee_name(&description_prefix) || description_prefix.len() > 80 {
            self.error("/export/description", Code::ExportDescription, format!("description prefix `{description_prefix}` has characters Earth Engine does not accept in task names"), "not allowed in task names", "use at most 80 letters, digits, `_` and `-`");
        }
        let file_prefix = e.prefix.clone().unwrap_or_else(|| format!("geepipe/{name}/"));
        if !is_file_prefix(&file_prefix) {
            self.error(
                "/export/prefix",
                Code::ExportPrefix,
                format!("file prefix `{file_prefix}` has characters Earth Engine does not accept in file names"),
                "not allowed in file names",
                "use letters, digits, `_`, `-`, `.` and `/` (not leading, no `..`)",
            );
        }
        if e.to == DestinationName::Drive && file_prefix.contains('/') && e.prefix.is_some() {
            self.error(
                "/export/prefix",
                Code::ExportDrivePrefix,
                "Drive file names cannot contain `/`",
                "here",
                "put folders in `folder`, not in `prefix`",
            );
        }
        if let Some(p) = e.priority {
            if p > 9999 {
                self.error(
                    "/export/priority",
                    Code::ExportPriority,
                    "priority must be between 0 and 9999",
                    "too high",
                    "Earth Engine task priorities run from 0 to 9999 (default 100)",
                );
            }
        }
        if let Some(t) = &e.workload_tag {
            let ok = !t.is_empty()
                && t.len() <= 63
                && t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
                && t.starts_with(|c: char| c.is_ascii_lowercase());
            if !ok {
                self.error(
                    "/export/workload_tag",
                    Code::ExportWorkloadTag,
                    format!("workload tag `{t}` is not allowed"),
                    "not a valid tag",
                    "use 1-63 lowercase letters, digits, `_` and `-`, starting with a letter",
                );
            }
        }
        Export {
            destination,
            format,
            description_prefix,
            file_prefix: if e.to == DestinationName::Drive && e.prefix.is_none() {
                name.to_string()
            } else {
                file_prefix
            },
            priority: e.priority,
            workload_tag: e.workload_tag.clone(),
            overwrite: e.overwrite.unwrap_or(false),
        }
    }
}

fn valid_bucket(b: &str) -> bool {
    (3..=222).contains(&b.len())
        && b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}
