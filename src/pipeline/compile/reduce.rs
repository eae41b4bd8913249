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
            if !crs.starts_with("EPSG:")
                && !crs.starts_with("SR-ORG:")
                && !crs.starts_with("PROJCS")
                && !crs.starts_with("GEOGCS")
            {
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
}
