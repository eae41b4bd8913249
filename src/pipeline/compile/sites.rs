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
        SiteSource {
            location,
            id_property: raw.id.clone(),
            keep: raw.keep.clone(),
            first_year_property: raw.first_year.clone(),
            label_property: raw.label.clone(),
        }
    }
}
