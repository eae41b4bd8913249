//! Stage: the `reduce` section (scale, projection, tile scale) every Earth Engine computation uses.

use super::Cx;
use crate::diag::Code;
use crate::pipeline::model::*;
use crate::pipeline::raw::*;

impl Cx<'_> {
    pub(super) fn reduce(&mut self, r: RawReduce, kind: KindName, engine: Engine) -> Reduce {
        if r.best_effort == Some(true) && kind == KindName::Zonal && engine == Engine::EarthEngine {
            self.warn(
                "/reduce/best_effort",
                Code::PlanBestEffort,
                "`reduce.best_effort` has no effect: `Image.reduceRegions` has no bestEffort argument",
                "no effect",
                "set `reduce.scale` coarser, or `reduce.max_pixels` (sent as maxPixelsPerRegion)",
            );
        }
        if let Some(s) = r.scale {
            if s <= 0.0 || !s.is_finite() {
                self.error("/reduce/scale", Code::ReduceScale, "scale must be a positive number of metres", "here", "");
            }
        }
        if let Some(t) = r.tile_scale {
            if !(0.1..=16.0).contains(&t) {
                self.error(
                    "/reduce/tile_scale",
                    Code::ReduceTileScale,
                    "tile_scale must be between 0.1 and 16",
                    "here",
                    "Earth Engine accepts 0.1 to 16; try 2 or 4 for memory errors",
                );
            }
        }
        if let Some(crs) = &r.crs {
            if !super::grid::is_crs(crs) {
                self.error(
                    "/reduce/crs",
                    Code::ReduceCrs,
                    format!("`{crs}` is not a projection Earth Engine knows"),
                    "here",
                    "write an EPSG code such as `EPSG:4326`",
                );
            }
        }
        Reduce {
            scale: r.scale,
            crs: r.crs,
            tile_scale: r.tile_scale.unwrap_or(1.0),
            max_pixels: r.max_pixels,
            best_effort: r.best_effort.unwrap_or(false),
        }
    }

    /// `reduce.crs` without `reduce.scale` reduces each layer at its own scale in that projection: every
    /// layer needs one (without it Earth Engine would use one unit of the projection, one degree in EPSG:4326).
    pub(super) fn reduce_grids(&mut self, reduce: &Reduce, layers: &[Layer], engine: Engine) {
        if reduce.crs.is_none() || reduce.scale.is_some() || engine == Engine::Local {
            return;
        }
        for l in layers.iter().filter(|l| l.scale.is_none()) {
            self.error(
                "/reduce/crs",
                Code::ReduceCrsScale,
                format!("`reduce.crs` is set without `reduce.scale`, and layer `{}` has no `scale`", l.name),
                "needs a scale",
                "add `reduce.scale:` in metres (or `scale:` to the layer)",
            );
        }
    }
}
