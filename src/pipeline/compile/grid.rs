//! Stage: the grid each layer is reduced on, and what in it is not data.
//!
//! The grid (docs/computation.md, "Which grid"): a layer's own `crs` with its `scale`; else a `scale` the
//! pipeline sets for the layer (in the projection of the image's first band); else the image's own grid
//! when its expression has one (`crate::expr::types::Grid::Native`: derived pixel by pixel from a stored
//! image, or given one with `setDefaultProjection`/`reproject`); else the catalog's nominal scale. An
//! image with no grid of its own (a composite, a constant) and no scale would be reduced by Earth Engine
//! at its default of 1° in WGS84: that is an error, never a silent 1° reduction.

use super::Cx;
use crate::diag::Code;
use crate::expr::types::Grid as ImageGrid;
use crate::pipeline::model::*;
use crate::pipeline::raw::*;

/// Whether Earth Engine knows a projection written this way.
pub(super) fn is_crs(crs: &str) -> bool {
    ["EPSG:", "SR-ORG:", "PROJCS", "GEOGCS"].iter().any(|p| crs.starts_with(p))
}

/// Why a layer has no grid.
#[derive(Debug, Clone, PartialEq)]
pub enum GridProblem {
    /// `crs` without `scale`.
    CrsWithoutScale,
    /// No scale, and an image without a grid of its own (or one that cannot be told).
    Unknown(ImageGrid),
}

/// The grid of a layer: `user_scale` is a `scale` the pipeline file sets for the layer, `merged` the layer
/// with its catalog entry under it, `image_grid` what the expression's type says (`None` when unknown
/// because the expression has problems of its own).
pub fn layer_grid(
    user_scale: Option<f64>,
    merged: &RawLayer,
    image_grid: Option<ImageGrid>,
    engine: Engine,
) -> Result<Grid, GridProblem> {
    if let Some(crs) = &merged.crs {
        return match merged.scale {
            Some(scale) => Ok(Grid::Explicit { crs: crs.clone(), scale }),
            None => Err(GridProblem::CrsWithoutScale),
        };
    }
    if let Some(scale) = user_scale {
        return Ok(Grid::Scale { scale });
    }
    if image_grid == Some(ImageGrid::Native) || engine == Engine::Local {
        return Ok(Grid::Native);
    }
    if let Some(scale) = merged.scale {
        return Ok(Grid::Scale { scale });
    }
    match image_grid {
        Some(g) => Err(GridProblem::Unknown(g)),
        None => Ok(Grid::Native),
    }
}

impl Cx<'_> {
    /// The grid of a layer, with its problems reported. `l` is the layer as written in the pipeline.
    pub(super) fn grid(
        &mut self,
        l: &RawLayer,
        merged: &RawLayer,
        ptr: &str,
        name: &str,
        image_grid: Option<ImageGrid>,
        engine: Engine,
    ) -> Grid {
        let crs_at = if l.crs.is_some() { format!("{ptr}/crs") } else { ptr.to_string() };
        if let Some(crs) = merged.crs.as_deref().filter(|c| !is_crs(c)) {
            self.error(
                &crs_at,
                Code::LayersCrs,
                format!("`{crs}` is not a projection Earth Engine knows"),
                "here",
                "write an EPSG code such as `EPSG:4326`",
            );
        }
        match layer_grid(l.scale, merged, image_grid, engine) {
            Ok(g) => g,
            Err(GridProblem::CrsWithoutScale) => {
                self.error(
                    &crs_at,
                    Code::LayersCrsScale,
                    format!("layer `{name}` sets `crs` without `scale`"),
                    "needs `scale`",
                    "add `scale:` in metres (e.g. `scale: 30`); Earth Engine would otherwise use one unit of the \
                     projection (one degree in EPSG:4326)",
                );
                Grid::Native
            }
            Err(GridProblem::Unknown(g)) => {
                let why = match g {
                    ImageGrid::Default => {
                        "its image has no grid of its own (a composite such as `ImageCollection.mosaic` or \
                         `reduce.*`, or a constant)"
                    }
                    _ => "its grid cannot be told from its expression",
                };
                self.error(
                    ptr,
                    Code::LayersGrid,
                    format!("layer `{name}` cannot be reduced on a known grid: {why}, and it has no `scale`"),
                    "this layer",
                    "Earth Engine would reduce it at its default of 1° (WGS84): add `scale:` in metres and `crs:` \
                     (e.g. `scale: 30` and `crs: EPSG:4326`), or give the image a projection with \
                     `Image.setDefaultProjection`",
                );
                Grid::Native
            }
        }
    }

    /// The no-data declaration of a layer, checked: a mask band needs the layer's `asset`; the local engine
    /// needs the mask's raster.
    pub(super) fn nodata(&mut self, l: &RawLayer, merged: &RawLayer, ptr: &str, name: &str, engine: Engine) -> NoData {
        let Some(raw) = &merged.nodata else { return NoData::default() };
        let at = if l.nodata.is_some() { format!("{ptr}/nodata") } else { ptr.to_string() };
        let values = raw.values.clone().unwrap_or_default();
        if values.iter().any(|v| !v.is_finite()) {
            self.error(&at, Code::LayersNodata, "no-data values must be numbers", "here", "e.g. `values: [0]`");
        }
        let mask = raw.mask.as_ref().map(|m| NoDataMask { band: m.band.clone(), valid: m.valid.clone() });
        if let Some(m) = &mask {
            if m.valid.is_empty() {
                self.error(
                    &at,
                    Code::LayersNodata,
                    format!("the no-data mask of `{name}` lists no valid values"),
                    "here",
                    "list the values of the mask band where the layer has data, e.g. `valid: [1]`",
                );
            }
            if merged.asset.is_none() && engine == Engine::EarthEngine {
                self.error(
                    &at,
                    Code::LayersNodata,
                    format!("layer `{name}` reads its no-data mask band `{}` from its `asset`, but has none", m.band),
                    "needs `asset`",
                    "add `asset:` (the image holding the band)",
                );
            }
            if engine == Engine::Local && merged.local_mask.is_none() {
                let valid: Vec<String> = m.valid.iter().map(|v| v.to_string()).collect();
                self.error(
                    ptr,
                    Code::LayersLocalMask,
                    format!(
                        "layer `{name}` is data only where its band `{}` is {}, but has no `local_mask` raster",
                        m.band,
                        valid.join(" or ")
                    ),
                    "this layer",
                    &format!(
                        "add `local_mask: data/{}.tif` (the `{}` raster, on the same grid as `local`), or set \
                         `nodata: {{}}` if your raster is already masked",
                        m.band, m.band
                    ),
                );
            }
        }
        NoData { values, mask }
    }
}
