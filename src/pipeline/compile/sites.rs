//! Stage: the `sites` section — where the sites come from (a file that must exist, or an asset id) and
//! which properties are kept. The site file's own content is checked by [`crate::sites`].

use crate::diag::Code;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Cx;
use crate::pipeline::model::*;
use crate::pipeline::raw::*;

impl Cx<'_> {
    pub(super) fn sites(&mut self, raw: &RawSites, base: &Path, engine: Engine, kind: KindName) -> SiteSource {
        let location = match (&raw.file, &raw.asset) {
            (Some(f), None) => {
                // Reported here, with the pipeline's other problems; the site file's own checks need the file.
                let path = base.join(f);
                if !path.exists() {
                    let help = crate::sites::missing_file_help(base, &path);
                    self.error(
                        "/sites/file",
                        Code::SitesMissingFile,
                        format!("site file `{f}` does not exist"),
                        "no file here",
                        &help,
                    );
                }
                SiteLocation::File(path)
            }
            (None, Some(a)) => {
                if engine == Engine::Local {
                    self.error(
                        "/sites/asset",
                        Code::SitesAssetLocal,
                        "the local engine cannot read sites from an Earth Engine asset",
                        "asset",
                        "export the table to GeoJSON and use `file`",
                    );
                }
                if !a.starts_with("projects/") && !a.starts_with("users/") {
                    self.error(
                        "/sites/asset",
                        Code::SitesAssetId,
                        format!("`{a}` is not an Earth Engine asset id"),
                        "not an asset id",
                        "write the full id, e.g. `projects/my-project/assets/sites`",
                    );
                }
                if engine == Engine::EarthEngine && kind != KindName::Zonal {
                    self.error(
                        "/sites/asset",
                        Code::PlanKindAssetSites,
                        format!(
                            "`kind: {}` needs the sites in a file: geepipe sends their geometries itself",
                            format!("{kind:?}").to_lowercase()
                        ),
                        "asset",
                        "export the table to GeoJSON and use `sites.file`",
                    );
                } else if engine == Engine::EarthEngine {
                    self.warn(
                        "/sites/asset",
                        Code::PlanAssetSites,
                        "the sites are in an Earth Engine table asset that geepipe cannot list without contacting \
                         Earth Engine: the plan is one task over the whole table",
                        "one task",
                        "a chunk that runs out of memory is split in halves by a deterministic random column \
                         (`geepipe_r`), or by site ids when they are known",
                    );
                }
                SiteLocation::Asset(a.clone())
            }
            (Some(_), Some(_)) => {
                self.error(
                    "/sites/asset",
                    Code::SitesFileAndAsset,
                    "`sites` names both a `file` and an `asset`",
                    "choose one",
                    "remove either `file` or `asset`",
                );
                SiteLocation::File(PathBuf::new())
            }
            (None, None) => {
                self.error(
                    "/sites",
                    Code::SitesNoSource,
                    "`sites` names neither a `file` nor an `asset`",
                    "here",
                    "add `file: sites.geojson` (GeoJSON) or `asset: projects/…/assets/…`",
                );
                SiteLocation::File(PathBuf::new())
            }
        };
        let mut seen = BTreeSet::new();
        for (i, k) in raw.keep.iter().enumerate() {
            if !seen.insert(k) {
                self.error(
                    &format!("/sites/keep/{i}"),
                    Code::SitesKeepTwice,
                    format!("property `{k}` is kept twice"),
                    "again",
                    "remove the repeat",
                );
            }
        }
        let format = self.site_format(raw, &location);
        if raw.layer.is_some() && format != SiteFormatName::Geopackage {
            self.error(
                "/sites/layer",
                Code::SitesLayer,
                "`layer` is only for GeoPackage site files",
                "not a GeoPackage",
                "remove `layer`, or point `file` at the `.gpkg`",
            );
        }
        if let Some(text) = &raw.crs {
            if let SiteLocation::Asset(_) = location {
                self.error(
                    "/sites/crs",
                    Code::SitesCrs,
                    "`crs` is for site files; an Earth Engine asset carries its own coordinate system",
                    "asset",
                    "remove `crs`",
                );
            } else if let Err(e) = crate::crs::Crs::parse(text) {
                self.error("/sites/crs", Code::SitesCrs, e.to_string(), "this CRS", &e.help());
            }
        }
        SiteSource {
            location,
            id_property: raw.id.clone(),
            keep: raw.keep.clone(),
            first_year_property: raw.first_year.clone(),
            label_property: raw.label.clone(),
            format,
            layer: raw.layer.clone(),
            crs: raw.crs.clone(),
        }
    }

    /// The site file's format: `sites.format`, else the extension. Other extensions are read as GeoJSON,
    /// except those of formats geepipe does not read (or of a shapefile's side files), and files whose first
    /// bytes show another format geepipe reads ([`crate::sites::sniff_format`]), which are errors.
    fn site_format(&mut self, raw: &RawSites, location: &SiteLocation) -> SiteFormatName {
        if let Some(f) = raw.format {
            return f;
        }
        let SiteLocation::File(path) = location else { return SiteFormatName::Geojson };
        if let Some(f) = crate::sites::format_of(path) {
            return f;
        }
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let help = match ext.as_str() {
            "zip" => "unzip it and point `file` at the `.shp`, `.gpkg` or `.geojson` inside".to_string(),
            "dbf" | "shx" | "prj" | "cpg" | "sbn" | "sbx" => {
                "this is one of a shapefile's side files: point `file` at the `.shp` beside it".to_string()
            }
            "kml" | "kmz" | "gml" | "gdb" | "tab" | "mif" | "dxf" | "csv" | "xls" | "xlsx" | "sqlite" | "topojson" => {
                format!(
                    "geepipe reads {}; convert it, e.g. `ogr2ogr sites.gpkg input.{ext}`",
                    crate::sites::FORMATS_TEXT
                )
            }
            _ => {
                // Read as GeoJSON, unless its first bytes show another format: then say which, rather than
                // report a JSON syntax error in a binary file.
                let Some(found) = crate::sites::sniff_format(path) else { return SiteFormatName::Geojson };
                let (name, setting, usual) = crate::sites::format_names(found);
                let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                let what = if ext.is_empty() { "no extension".to_string() } else { format!("the extension `.{ext}`") };
                self.error(
                    "/sites/file",
                    Code::SitesFormat,
                    format!("`{file}` looks like a {name} file, but {what} does not say so"),
                    "which format?",
                    &format!("set `sites.format: {setting}`, or rename the file to `.{usual}`"),
                );
                return found;
            }
        };
        self.error(
            "/sites/file",
            Code::SitesFormat,
            format!("geepipe does not read `.{ext}` site files"),
            "unsupported format",
            &help,
        );
        SiteFormatName::Geojson
    }
}
