//! Stage: the `image` section of `kind: image` pipelines (grid, file and asset options per destination).

use super::Cx;
use crate::diag::Code;
use crate::pipeline::model::*;
use crate::pipeline::raw::*;

impl Cx<'_> {
    /// Resolves the `image` section: present only for `kind: image` (defaults when the section is absent).
    pub(super) fn image(
        &mut self,
        raw: Option<&RawImage>,
        kind: KindName,
        export: Option<&RawExport>,
        reduce: &Reduce,
    ) -> Option<ImageExport> {
        if kind != KindName::Image {
            if raw.is_some() {
                self.error(
                    "/image",
                    Code::ImageKind,
                    "the `image` section only applies to `kind: image`",
                    "not used",
                    "add `kind: image`, or remove the section",
                );
            }
            return None;
        }
        let r = raw.cloned().unwrap_or_default();
        let to = export.map(|e| e.to);
        if matches!(to, Some(DestinationName::Bigquery)) {
            self.error(
                "/export/to",
                Code::ExportKind,
                "images cannot be exported to BigQuery",
                "not for images",
                "export images to `drive`, `gcs` or `asset`",
            );
        }
        let per = r.per.unwrap_or(ImagePer::Site);
        if let Some(b) = r.buffer {
            if per == ImagePer::Region {
                self.error("/image/buffer", Code::ImageBuffer, "`buffer` applies to `per: site` only", "not used", "");
            } else if b < 0.0 || !b.is_finite() {
                self.error("/image/buffer", Code::ImageBuffer, "buffer must be zero or more metres", "here", "");
            }
        }
        if let Some(s) = r.scale {
            if s <= 0.0 || !s.is_finite() {
                self.error("/image/scale", Code::ImageScale, "scale must be a positive number of metres", "here", "");
            }
        }
        let crs_transform = match &r.crs_transform {
            Some(t) if t.len() == 6 && t.iter().all(|x| x.is_finite()) => Some([t[0], t[1], t[2], t[3], t[4], t[5]]),
            Some(_) => {
                self.error(
                    "/image/crs_transform",
                    Code::ImageCrsTransform,
                    "crs_transform needs six numbers",
                    "here",
                    "write `[xScale, xShear, xTranslation, yShear, yScale, yTranslation]`",
                );
                None
            }
            None => None,
        };
        if crs_transform.is_some() {
            if r.scale.is_some() {
                self.error(
                    "/image/scale",
                    Code::ImageScaleAndTransform,
                    "`scale` and `crs_transform` both set the pixel size",
                    "remove one",
                    "keep `crs_transform` for an exact grid, or `scale` alone",
                );
            }
            if r.crs.is_none() {
                self.error(
                    "/image/crs_transform",
                    Code::ImageTransformCrs,
                    "`crs_transform` needs `crs`",
                    "here",
                    "add `crs: EPSG:4326` (the transform is in its units)",
                );
            }
        }
        if let Some(crs) = &r.crs {
            if !crs.starts_with("EPSG:") && !crs.starts_with("SR-ORG:") && !crs.starts_with("PROJCS") {
                self.error(
                    "/image/crs",
                    Code::ImageCrs,
                    format!("`{crs}` is not a projection Earth Engine knows"),
                    "here",
                    "write an EPSG code such as `EPSG:4326`",
                );
            }
        }
        if r.max_pixels == Some(0) {
            self.error("/image/max_pixels", Code::ImageMaxPixels, "max_pixels must be positive", "here", "");
        }
        let file_dimensions = match r.file_dimensions.as_deref() {
            None => None,
            Some([n]) if *n > 0 => Some([*n, *n]),
            Some([w, h]) if *w > 0 && *h > 0 => Some([*w, *h]),
            Some(_) => {
                self.error(
                    "/image/file_dimensions",
                    Code::ImageFileDimensions,
                    "file_dimensions is `[n]` or `[width, height]`, positive",
                    "here",
                    "e.g. `file_dimensions: [4096]`",
                );
                None
            }
        };
        let is_asset = matches!(to, Some(DestinationName::Asset));
        let file_only = [
            ("cloud_optimized", r.cloud_optimized.is_some()),
            ("file_dimensions", r.file_dimensions.is_some()),
            ("skip_empty", r.skip_empty.is_some()),
            ("no_data", r.no_data.is_some()),
        ];
        let asset_only = [("pyramiding", r.pyramiding.is_some()), ("pyramiding_bands", r.pyramiding_bands.is_some())];
        let (wrong, help) = if is_asset {
            (&file_only[..], "file options apply to `to: drive` and `to: gcs`")
        } else {
            (&asset_only[..], "pyramiding applies to image assets (`to: asset`)")
        };
        for (field, present) in wrong {
            if *present {
                self.error(
                    &format!("/image/{field}"),
                    Code::ImageDestination,
                    format!(
                        "`{field}` does not apply to `to: {}`",
                        format!("{:?}", to.unwrap_or(DestinationName::Drive)).to_lowercase()
                    ),
                    "not used here",
                    help,
                );
            }
        }
        let geotiff = export.and_then(|e| e.format).unwrap_or(FileFormatName::Geotiff) == FileFormatName::Geotiff;
        if !geotiff && !is_asset {
            for (field, present) in &file_only[..] {
                if *present {
                    self.error(
                        &format!("/image/{field}"),
                        Code::ImageFormat,
                        format!("`{field}` applies to GeoTIFF exports only"),
                        "not used for tfrecord",
                        "use `format: geotiff`, or remove it",
                    );
                }
            }
        }
        Some(ImageExport {
            per,
            buffer: r.buffer.unwrap_or(0.0).max(0.0),
            scale: if crs_transform.is_some() { None } else { r.scale.or(reduce.scale) },
            crs: r.crs.or_else(|| reduce.crs.clone()),
            crs_transform,
            max_pixels: r.max_pixels,
            cloud_optimized: r.cloud_optimized.unwrap_or(true),
            file_dimensions,
            skip_empty: r.skip_empty.unwrap_or(false),
            no_data: r.no_data,
            pyramiding: r.pyramiding,
            pyramiding_bands: r.pyramiding_bands.unwrap_or_default(),
        })
    }

    /// Every export needs a pixel size: `image.scale` (or `reduce.scale`), a layer's `scale`, or
    /// `crs_transform`. Without one Earth Engine exports in the image's default projection: one degree for
    /// a composite, one unit of `crs` (one metre in UTM) when only `crs` is set.
    pub(super) fn image_scales(&mut self, opts: &ImageExport, layers: &[Layer]) {
        if opts.crs_transform.is_some() || opts.scale.is_some() {
            return;
        }
        for l in layers.iter().filter(|l| l.scale.is_none()) {
            let unit = match &opts.crs {
                Some(crs) => format!("one unit of `{crs}` (a metre in UTM)"),
                None => "the image's default projection (one degree for a composite)".to_string(),
            };
            self.error(
                "/image",
                Code::ImageScaleMissing,
                format!("the exports of layer `{}` have no pixel size", l.name),
                "needs `scale`",
                &format!("add `scale:` in metres here (or `crs_transform`); without it Earth Engine exports at {unit}"),
            );
        }
    }
}
