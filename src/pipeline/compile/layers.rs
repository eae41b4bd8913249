//! Stage: each layer — the catalog entry with the pipeline's fields over it, its name, kind, years (and
//! whether the dataset has them), expression (names, placeholders and types), bands, statistics, legend,
//! local raster, and (through [`super::grid`]) its grid and no-data.

use std::collections::BTreeMap;
use std::path::Path;

use super::name::is_layer_name;
use super::years::list_years;
use super::{Cx, Parts};
use crate::catalog;
use crate::diag::{Code, Diagnostic};
use crate::pipeline::model::*;
use crate::pipeline::raw::*;

/// Statistics a continuous layer may ask for (besides percentiles `p0`..`p100`).
pub const STATS: &[&str] = &["mean", "median", "min", "max", "stdDev", "count", "sum", "variance"];

impl Cx<'_> {
    /// Resolves every layer that could be read; reports an empty list, two layers with one name, and
    /// kept site properties that would clash with a layer's columns.
    pub(super) fn layers(
        &mut self,
        raw: &Parts,
        pipeline_years: &[i32],
        vars: &BTreeMap<String, serde_json::Value>,
        base: &Path,
        engine: Engine,
        sites: Option<&SiteSource>,
    ) -> Vec<Layer> {
        let mut layers = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        if raw.layers.as_ref().is_some_and(|l| l.is_empty()) {
            self.error(
                "/layers",
                Code::PipelineNoLayers,
                "the pipeline has no layers",
                "empty",
                "add at least one layer, e.g. `- catalog: mapbiomas_lulc`",
            );
        }
        for (i, l) in raw.layers.iter().flatten() {
            let (i, ptr) = (*i, format!("/layers/{i}"));
            if let Some(layer) = self.layer(l, &ptr, pipeline_years, raw.years_present, vars, base, engine) {
                if let Some(first) = seen.insert(layer.name.clone(), i) {
                    let d = Diagnostic::error(
                        Code::PipelineDuplicateLayer,
                        format!("two layers are named `{}`", layer.name),
                    )
                    .at(&self.doc.source, self.doc.label_span(&ptr), Some("second".to_string()))
                    .also(self.doc.label_span(&format!("/layers/{first}")), "first")
                    .with_help("give one of them another `name`");
                    self.diags.push(d);
                }
                for k in sites.iter().flat_map(|s| &s.keep) {
                    if sites.is_some_and(|s| k == &s.id_property) {
                        continue;
                    }
                    if k.starts_with(&format!("{}__", layer.name)) {
                        self.error(
                            "/sites/keep",
                            Code::PipelineColumnClash,
                            format!("kept property `{k}` clashes with layer `{}`'s columns", layer.name),
                            "clashes",
                            "rename the layer",
                        );
                    }
                }
                layers.push(layer);
            }
        }
        layers
    }

    #[allow(clippy::too_many_arguments)]
    fn layer(
        &mut self,
        l: &RawLayer,
        ptr: &str,
        pipeline_years: &[i32],
        has_pipeline_years: bool,
        vars: &BTreeMap<String, serde_json::Value>,
        base: &Path,
        engine: Engine,
    ) -> Option<Layer> {
        // Start from the catalog entry, then let the pipeline's fields override it.
        let merged = match &l.catalog {
            Some(c) => match catalog::get(c) {
                Some(entry) => overlay(entry, l),
                None => {
                    let mut help = String::from("`geepipe catalog` lists the built-in layers");
                    if let Some(s) = crate::suggest::did_you_mean(c, catalog::names()) {
                        help = format!("did you mean `{s}`? ({help})");
                    }
                    self.error(
                        &format!("{ptr}/catalog"),
                        Code::LayersUnknownCatalog,
                        format!("no catalog layer is named `{c}`"),
                        "unknown layer",
                        &help,
                    );
                    return None;
                }
            },
            None => l.clone(),
        };
        let name = merged.name.clone().or_else(|| l.catalog.clone());
        let Some(name) = name else {
            self.error(
                ptr,
                Code::LayersNoName,
                "a custom layer needs a `name`",
                "this layer",
                "add `name: my_layer` (lowercase letters, digits, `_`)",
            );
            return None;
        };
        if !is_layer_name(&name) {
            self.error(
                &format!("{ptr}/name"),
                Code::LayersName,
                format!("layer name `{name}` is not allowed"),
                "not a layer name",
                "use lowercase letters, digits and single `_`, starting with a letter",
            );
        }
        let Some(kind) = merged.kind else {
            self.error(
                ptr,
                Code::LayersNoKind,
                format!("layer `{name}` needs a `kind`"),
                "this layer",
                "add `kind: categorical` or `kind: continuous`",
            );
            return None;
        };
        let years = match &l.years {
            Some(y) => self.years(y, &format!("{ptr}/years")),
            None if has_pipeline_years => pipeline_years.to_vec(),
            None => match &merged.years {
                Some(y) => self.years(y, &format!("{ptr}/years")),
                None => {
                    self.error(
                        ptr,
                        Code::LayersNoYears,
                        format!("layer `{name}` has no years"),
                        "this layer",
                        "add `years: 2010..2023` to the pipeline or to the layer",
                    );
                    Vec::new()
                }
            },
        };
        if let (Some(avail), false) = (&merged.available, years.is_empty()) {
            let mut tmp = Cx { doc: self.doc, diags: Vec::new(), suppressed: Vec::new() };
            let avail = tmp.years(avail, ptr);
            let missing: Vec<i32> = years.iter().copied().filter(|y| !avail.contains(y)).collect();
            if !missing.is_empty() && !avail.is_empty() {
                let at = if l.years.is_some() {
                    format!("{ptr}/years")
                } else if has_pipeline_years {
                    "/years".to_string()
                } else {
                    ptr.to_string()
                };
                self.error(
                    &at,
                    Code::LayersYearUnavailable,
                    format!("layer `{name}` has no data for {}", list_years(&missing)),
                    "not available",
                    &format!("`{name}` covers {}", list_years(&avail)),
                );
            }
        }
        if merged.image.is_none() && engine == Engine::EarthEngine {
            self.error(
                ptr,
                Code::LayersNoImage,
                format!("layer `{name}` has no `image` expression"),
                "this layer",
                "add `image:` with a `call:` expression, or use a catalog layer",
            );
        }
        // The layer's own expression (not a catalog entry's, which the catalog tests check) is type-checked
        // against Earth Engine's algorithm signatures, each problem located in the pipeline file.
        let mut shape_ok = true;
        if let Some(image) = &l.image {
            for problem in crate::expr::check_layer_image(image) {
                shape_ok = false;
                let at = format!("{ptr}/image{}", problem.pointer);
                let help = problem.help.clone().unwrap_or_default();
                self.error(&at, Code::LayersExpression, problem.message, "here", &help);
            }
        }
        // `asset` is an id, not a template: `{{…}}` in it would reach Earth Engine as braces.
        if let Some(asset) = l.asset.as_deref().filter(|a| a.contains("{{") || a.contains("}}")) {
            self.error(
                &format!("{ptr}/asset"),
                Code::LayersAsset,
                format!("layer `{name}`'s `asset` holds a placeholder: `{asset}`"),
                "not filled in",
                "`asset` is the asset id as written; put placeholders in `image` instead, e.g. \
                 `id: \"{{asset}}_{{year}}\"` with `asset` naming the fixed part, or write the id in `image`",
            );
        }
        let mut layer_vars = vars.clone();
        if let Some(v) = &merged.vars {
            layer_vars.extend(v.clone());
        }
        // Placeholders rendered and types inferred for every year (see `crate::expr::types`); problems in
        // the file's own expression are located there, in a catalog entry's at the layer.
        let mut image_grid = None;
        if let (Some(image), true) = (&merged.image, shape_ok) {
            let checked = crate::expr::types::check_layer(image, &layer_vars, merged.asset.as_deref(), &years);
            if checked.problems.is_empty() {
                image_grid = checked.ty.as_ref().and_then(|t| t.grid());
            }
            for (code, problem) in checked.problems {
                let at = if l.image.is_some() { format!("{ptr}/image{}", problem.pointer) } else { ptr.to_string() };
                let help = problem.help.clone().unwrap_or_default();
                self.error(&at, code, problem.message, "here", &help);
            }
        }
        let bands = match (&merged.bands, kind) {
            (Some(b), LayerKind::Categorical) if b.len() != 1 => {
                self.error(
                    &format!("{ptr}/bands"),
                    Code::LayersCategoricalBands,
                    "a categorical layer has exactly one band",
                    "here",
                    "a categorical layer gives area per class of one band; use `kind: continuous` for several bands",
                );
                b.clone()
            }
            (Some(b), _) => b.clone(),
            (None, _) => vec![name.clone()],
        };
        let mut stats = Vec::new();
        if kind == LayerKind::Continuous {
            let raw_stats = merged.stats.clone().unwrap_or_else(|| vec!["mean".to_string()]);
            for (i, s) in raw_stats.iter().enumerate() {
                match canonical_stat(s) {
                    Some(c) => stats.push(c),
                    None => {
                        let mut help =
                            "use mean, median, min, max, stdDev, variance, count, sum or a percentile p0..p100"
                                .to_string();
                        if let Some(sug) = crate::suggest::did_you_mean(s, STATS.iter().copied()) {
                            help = format!("did you mean `{sug}`? ({help})");
                        }
                        self.error(
                            &format!("{ptr}/stats/{i}"),
                            Code::LayersStat,
                            format!("unknown statistic `{s}`"),
                            "unknown",
                            &help,
                        );
                    }
                }
            }
        } else if l.stats.is_some() {
            self.error(
                &format!("{ptr}/stats"),
                Code::LayersStatsCategorical,
                "`stats` only applies to continuous layers",
                "here",
                "categorical layers always give area (ha) and pixel count per class",
            );
        }
        let mut legend: Vec<LegendEntry> = merged
            .legend
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|e| LegendEntry { code: e.code, name: e.name, color: e.color })
            .collect();
        legend.sort_by_key(|e| e.code);
        for w in legend.windows(2) {
            if w[0].code == w[1].code {
                self.error(
                    &format!("{ptr}/legend"),
                    Code::LayersLegendDuplicate,
                    format!("legend code {} appears twice", w[0].code),
                    "here",
                    "give each class its own code",
                );
            }
        }
        if let Some(s) = merged.scale {
            if s <= 0.0 || !s.is_finite() {
                self.error(
                    &format!("{ptr}/scale"),
                    Code::LayersScale,
                    "scale must be a positive number of metres",
                    "here",
                    "write the pixel size in metres, e.g. `30`",
                );
            }
        }
        let absolute = |p: &String| {
            let pb = Path::new(p);
            // A URL (read over HTTP by the local engine) is not a path.
            if pb.is_absolute() || crate::local::http::is_url(p) {
                p.clone()
            } else {
                base.join(pb).to_string_lossy().into_owned()
            }
        };
        let local = merged.local.as_ref().map(absolute);
        let local_mask = merged.local_mask.as_ref().map(absolute);
        let grid = self.grid(l, &merged, ptr, &name, image_grid, engine);
        let nodata = self.nodata(l, &merged, ptr, &name, engine);
        if engine == Engine::Local && local.is_none() {
            self.error(
                ptr,
                Code::LayersNoLocal,
                format!("layer `{name}` has no `local` raster path for the local engine"),
                "this layer",
                "add `local: data/{{year}}.tif` (a path template)",
            );
        }
        Some(Layer {
            name,
            title: merged.title.clone(),
            catalog: l.catalog.clone(),
            kind,
            years,
            image: merged.image.clone(),
            asset: merged.asset.clone(),
            bands,
            stats,
            legend,
            scale: merged.scale,
            grid,
            nodata,
            units: merged.units.clone(),
            local,
            local_mask,
            vars: layer_vars,
        })
    }
}

/// Canonical spelling of a statistic name, or `None` if unknown.
pub fn canonical_stat(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let known = match lower.as_str() {
        "mean" | "avg" => Some("mean"),
        "median" => Some("median"),
        "min" => Some("min"),
        "max" => Some("max"),
        "stddev" | "std" | "sd" => Some("stdDev"),
        "variance" | "var" => Some("variance"),
        "count" => Some("count"),
        "sum" => Some("sum"),
        _ => None,
    };
    if let Some(k) = known {
        return Some(k.to_string());
    }
    let p = lower.strip_prefix('p')?;
    let n: u32 = p.parse().ok()?;
    (n <= 100).then(|| format!("p{n}"))
}

/// Applies a pipeline's layer fields over a catalog entry.
fn overlay(mut entry: RawLayer, l: &RawLayer) -> RawLayer {
    macro_rules! take {
        ($($f:ident),*) => { $( if l.$f.is_some() { entry.$f = l.$f.clone(); } )* };
    }
    take!(
        name, title, years, kind, image, asset, bands, stats, legend, scale, crs, nodata, units, available, local,
        local_mask, vars
    );
    entry.catalog = l.catalog.clone();
    entry
}
