//! Every diagnostic code geepipe reports, in one enum: the stable, machine-readable name of a kind of
//! problem (`sites::duplicate-id`), with the one-line meaning that docs/diagnostics.md lists.
//!
//! Add a code here (the doc comment is its meaning), then regenerate the docs with
//! `GEEPIPE_BLESS=1 cargo test --test schema`; the test fails while the docs are stale.

use std::fmt;

macro_rules! codes {
    ($( #[doc = $doc:literal] $variant:ident = $text:literal, )*) => {
        /// A kind of problem, shown as `section::name` (see docs/diagnostics.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( #[doc = $doc] $variant, )*
        }

        impl Code {
            /// Every code, in the order of docs/diagnostics.md.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as users see it, e.g. `sites::duplicate-id`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }

            /// What the code means, in one line.
            pub fn meaning(self) -> &'static str {
                match self { $(Code::$variant => $doc.trim(),)* }
            }
        }
    };
}

codes! {
    /// The pipeline file is not valid YAML.
    YamlSyntax = "yaml::syntax",
    /// The YAML file holds more than one document (`---`).
    YamlMultipleDocuments = "yaml::multiple-documents",
    /// A YAML alias (`*name`) is used; pipeline files do not support them.
    YamlAlias = "yaml::alias",
    /// A mapping key is not plain text.
    YamlComplexKey = "yaml::complex-key",
    /// A key appears twice in one mapping.
    YamlDuplicateKey = "yaml::duplicate-key",
    /// A YAML value cannot be read.
    YamlBadValue = "yaml::bad-value",
    /// The pipeline file is not valid TOML.
    TomlSyntax = "toml::syntax",
    /// The pipeline file cannot be read.
    PipelineRead = "pipeline::read",
    /// The pipeline could not be read as a whole (shown only when no other error explains why).
    PipelineIncomplete = "pipeline::incomplete",
    /// The pipeline `name` has characters Earth Engine does not accept in task names.
    PipelineName = "pipeline::name",
    /// The file nests mappings and lists deeper than geepipe reads (128 levels).
    PipelineTooDeep = "pipeline::too-deep",
    /// A number is NaN or infinite (`.nan`, `.inf`, TOML `nan`, `inf`).
    PipelineNotFinite = "pipeline::not-finite",
    /// `project` is written as `projects/…` instead of the bare project id.
    PipelineProject = "pipeline::project",
    /// `layers` is an empty list.
    PipelineNoLayers = "pipeline::no-layers",
    /// Two layers have the same name.
    PipelineDuplicateLayer = "pipeline::duplicate-layer",
    /// A kept site property would clash with a layer's output columns.
    PipelineColumnClash = "pipeline::column-clash",
    /// A field the pipeline format does not have (with the closest known name).
    SchemaUnknownField = "schema::unknown-field",
    /// A required field is missing.
    SchemaMissingField = "schema::missing-field",
    /// A value has the wrong type (text for a number, a list for a mapping, …).
    SchemaType = "schema::type",
    /// A value is not one of the allowed ones, or out of its range.
    SchemaValue = "schema::value",
    /// A `years` value is none of the year forms.
    SchemaYears = "schema::years",
    /// A value fits the schema but cannot be held by geepipe (e.g. a number too large).
    SchemaShape = "schema::shape",
    /// geepipe's built-in schema is broken (a bug; please report it).
    InternalSchema = "internal::schema",
    /// A year outside 1900..2100.
    YearsOutOfRange = "years::out-of-range",
    /// A year range that ends before it starts.
    YearsEmptyRange = "years::empty-range",
    /// Text that is not a year or a year range.
    YearsSyntax = "years::syntax",
    /// An empty list of years.
    YearsEmptyList = "years::empty-list",
    /// A year listed twice (warning).
    YearsRepeated = "years::repeated",
    /// `sites` names neither a `file` nor an `asset`.
    SitesNoSource = "sites::no-source",
    /// `sites` names both a `file` and an `asset`.
    SitesFileAndAsset = "sites::file-and-asset",
    /// `sites.asset` is not a full Earth Engine asset id.
    SitesAssetId = "sites::asset-id",
    /// The local engine cannot read sites from an Earth Engine asset.
    SitesAssetLocal = "sites::asset-local",
    /// A property is listed twice in `sites.keep`.
    SitesKeepTwice = "sites::keep-twice",
    /// The site file does not exist (with the closest file name in its folder).
    SitesMissingFile = "sites::missing-file",
    /// Sites come from an asset where a file was needed.
    SitesAsset = "sites::asset",
    /// The site file cannot be read (or is a folder).
    SitesRead = "sites::read",
    /// The site file, or its `features` list, is empty.
    SitesEmpty = "sites::empty",
    /// The site file is not a GeoJSON FeatureCollection (a bare geometry, TopoJSON, no `features`, …).
    SitesNotCollection = "sites::not-collection",
    /// The file has `features` but a `type` other than `FeatureCollection` (warning).
    SitesCollectionType = "sites::collection-type",
    /// The site file, or one feature, is not valid JSON.
    SitesJson = "sites::json",
    /// The site file ends too early (an interrupted download or copy).
    SitesTruncated = "sites::truncated",
    /// An element of `features` is not a Feature.
    SitesNotAFeature = "sites::not-a-feature",
    /// A number is `NaN`, `Infinity` or out of range.
    SitesNonFinite = "sites::non-finite",
    /// A feature has no id property (with the closest property name).
    SitesNoId = "sites::no-id",
    /// A feature's id is not a non-empty string or a whole number.
    SitesBadId = "sites::bad-id",
    /// Two features have the same id.
    SitesDuplicateId = "sites::duplicate-id",
    /// A site id looks like another, different one (invisible characters, white space, look-alike letters), or has invisible or control characters (warning).
    SitesIdLookalike = "sites::id-lookalike",
    /// A feature's first-year property is not a year.
    SitesFirstYear = "sites::first-year",
    /// A kept, first-year or label property is missing on some features (warning, with a count).
    SitesMissingProperty = "sites::missing-property",
    /// A feature has no `geometry`.
    SitesNoGeometry = "sites::no-geometry",
    /// A feature's geometry is `null`.
    SitesNullGeometry = "sites::null-geometry",
    /// A geometry is not a Polygon or MultiPolygon.
    SitesGeometryType = "sites::geometry-type",
    /// A geometry's `coordinates` is not a list.
    SitesCoordinates = "sites::coordinates",
    /// A geometry, or one of its polygons, has no rings.
    SitesEmptyGeometry = "sites::empty-geometry",
    /// A position is not `[longitude, latitude]` (or `[longitude, latitude, height]`).
    SitesPosition = "sites::position",
    /// A position is outside longitude/latitude range (projected metres? swapped axes?).
    SitesCoordinateRange = "sites::coordinate-range",
    /// A ring has fewer than 4 positions.
    SitesRingTooShort = "sites::ring-too-short",
    /// A ring's last position is not its first.
    SitesRingNotClosed = "sites::ring-not-closed",
    /// A ring crosses itself, or is too tangled to check in the sweep's budget (warning).
    SitesSelfIntersection = "sites::self-intersection",
    /// A key appears twice in the same object of a site file (JSON readers silently keep only one of them).
    SitesDuplicateKey = "sites::duplicate-key",
    /// A ring encloses no area: its positions lie on one line (an error for an outer ring, a warning for a hole).
    SitesZeroArea = "sites::zero-area",
    /// A hole is not inside the outer ring of its polygon (the even-odd fill would count it as part of the site).
    SitesHoleOutside = "sites::hole-outside",
    /// A site crosses the antimeridian and is split at ±180° (warning).
    SitesAntimeridian = "sites::antimeridian",
    /// A ring goes once around the globe (it encloses a pole) and cannot be split at the antimeridian.
    SitesPole = "sites::pole",
    /// The site file's extension names a format geepipe does not read (or a shapefile's side file), or a file with another extension looks like a format geepipe reads (set `sites.format`).
    SitesFormat = "sites::format",
    /// A GeoPackage layer is unknown or not chosen among several, or `layer` is set for another format.
    SitesLayer = "sites::layer",
    /// The coordinate system a site file declares (or `sites.crs` names) cannot be used: unknown, not supported, or without a shift to WGS 84.
    SitesCrs = "sites::crs",
    /// `sites.crs` replaces the coordinate system the site file declares (warning).
    SitesCrsOverride = "sites::crs-override",
    /// A position does not convert from the file's coordinate system to longitude/latitude.
    SitesCrsTransform = "sites::crs-transform",
    /// A geometry of a binary site file cannot be decoded.
    SitesGeometry = "sites::geometry",
    /// No catalog layer has this name (with the closest one).
    LayersUnknownCatalog = "layers::unknown-catalog",
    /// A custom layer has no `name`.
    LayersNoName = "layers::no-name",
    /// A layer name is not lowercase letters, digits and single `_`.
    LayersName = "layers::name",
    /// A custom layer has no `kind`.
    LayersNoKind = "layers::no-kind",
    /// A layer has no years (neither its own nor the pipeline's).
    LayersNoYears = "layers::no-years",
    /// A layer asks for years its dataset does not cover.
    LayersYearUnavailable = "layers::year-unavailable",
    /// A custom layer has no `image` expression.
    LayersNoImage = "layers::no-image",
    /// A layer's expression does not fit Earth Engine's algorithm signatures.
    LayersExpression = "layers::expression",
    /// A layer's expression uses a placeholder that has no value.
    LayersTemplate = "layers::template",
    /// A layer's `asset` holds a placeholder (`{{…}}`): the id is used as written, braces and all.
    LayersAsset = "layers::asset",
    /// A placeholder in a layer's expression has no value, or one of the wrong kind, for some year.
    LayersPlaceholder = "layers::placeholder",
    /// A layer's expression passes a value of the wrong type to an algorithm (after its placeholders are filled).
    LayersType = "layers::type",
    /// A categorical layer names more than one band.
    LayersCategoricalBands = "layers::categorical-bands",
    /// An unknown statistic (with the closest one).
    LayersStat = "layers::stat",
    /// `stats` on a categorical layer.
    LayersStatsCategorical = "layers::stats-categorical",
    /// A legend code appears twice.
    LayersLegendDuplicate = "layers::legend-duplicate",
    /// A layer's `scale` is not a positive number of metres.
    LayersScale = "layers::scale",
    /// The local engine needs a layer's `local` raster path.
    LayersNoLocal = "layers::no-local",
    /// A layer cannot be reduced on a known grid: its image has no grid of its own and it has no `scale`.
    LayersGrid = "layers::grid",
    /// A layer's `crs` is not a projection Earth Engine knows.
    LayersCrs = "layers::crs",
    /// A layer sets `crs` without `scale`.
    LayersCrsScale = "layers::crs-scale",
    /// A layer's `nodata` cannot be used (a value that is not a number, a mask without valid values or without `asset`).
    LayersNodata = "layers::nodata",
    /// The local engine needs the raster of a layer's no-data mask band (`local_mask`).
    LayersLocalMask = "layers::local-mask",
    /// `reduce.scale` is not a positive number of metres.
    ReduceScale = "reduce::scale",
    /// `reduce.tile_scale` is outside 0.1..16.
    ReduceTileScale = "reduce::tile-scale",
    /// `reduce.crs` is not a projection Earth Engine knows.
    ReduceCrs = "reduce::crs",
    /// `reduce.crs` without `reduce.scale`, and a layer without a `scale` of its own.
    ReduceCrsScale = "reduce::crs-scale",
    /// The destination needs a field that is missing (`folder`, `bucket`, `asset`, `table`).
    ExportMissing = "export::missing",
    /// A field that does not apply to the destination.
    ExportField = "export::field",
    /// A Drive folder is written as a path, or is `.` or `..`.
    ExportDriveFolder = "export::drive-folder",
    /// Not a valid Cloud Storage bucket name.
    ExportBucket = "export::bucket",
    /// Not an Earth Engine asset folder id.
    ExportAsset = "export::asset",
    /// Not a `project.dataset.table` BigQuery table.
    ExportTable = "export::table",
    /// `to: local` without `engine: local`.
    ExportLocal = "export::local",
    /// The local engine exports to an Earth Engine destination.
    ExportEngine = "export::engine",
    /// `--engine` switched the engine and the file's export destination does not apply to it (not used).
    ExportIgnored = "export::ignored",
    /// A file format the pipeline kind cannot be exported as.
    ExportFormat = "export::format",
    /// A destination the pipeline kind cannot be exported to.
    ExportKind = "export::kind",
    /// The task description prefix has characters Earth Engine does not accept.
    ExportDescription = "export::description",
    /// The file prefix has characters Earth Engine does not accept in file names.
    ExportPrefix = "export::prefix",
    /// A Drive file prefix contains `/`.
    ExportDrivePrefix = "export::drive-prefix",
    /// `priority` is above 9999.
    ExportPriority = "export::priority",
    /// Not a valid workload tag.
    ExportWorkloadTag = "export::workload-tag",
    /// An `image` section in a pipeline that is not `kind: image`.
    ImageKind = "image::kind",
    /// `image.buffer` is negative, or set for `per: region`.
    ImageBuffer = "image::buffer",
    /// `image.scale` is not a positive number of metres.
    ImageScale = "image::scale",
    /// An image export has no pixel size: no `image.scale`, `reduce.scale`, layer `scale` or `crs_transform`.
    ImageScaleMissing = "image::scale-missing",
    /// `image.crs_transform` is not six finite numbers.
    ImageCrsTransform = "image::crs-transform",
    /// Both `image.scale` and `image.crs_transform` are set.
    ImageScaleAndTransform = "image::scale-and-transform",
    /// `image.crs_transform` without `image.crs`.
    ImageTransformCrs = "image::transform-crs",
    /// `image.crs` is not a projection Earth Engine knows.
    ImageCrs = "image::crs",
    /// `image.max_pixels` is zero.
    ImageMaxPixels = "image::max-pixels",
    /// `image.file_dimensions` is not `[n]` or `[width, height]`, positive.
    ImageFileDimensions = "image::file-dimensions",
    /// An image option that does not apply to the destination (file options for assets, pyramiding for files).
    ImageDestination = "image::destination",
    /// A GeoTIFF-only option with another file format.
    ImageFormat = "image::format",
    /// A `classifier` section in a pipeline that is not `kind: classifier`.
    ClassifierKind = "classifier::kind",
    /// `kind: classifier` without a `classifier` section.
    ClassifierMissing = "classifier::missing",
    /// `kind: classifier` without `sites.label`.
    ClassifierLabel = "classifier::label",
    /// Not an Earth Engine classifier (with the closest one).
    ClassifierAlgorithm = "classifier::algorithm",
    /// A parameter the classifier does not have, or a required one missing.
    ClassifierParameter = "classifier::parameter",
    /// A classifier parameter's value has the wrong type for its argument.
    ClassifierParameterType = "classifier::parameter-type",
    /// A feature layer that is not in `layers`.
    ClassifierFeatures = "classifier::features",
    /// `classifier.scale` is not a positive number of metres.
    ClassifierScale = "classifier::scale",
    /// `chunks.sites_per_task` is zero.
    ChunksZero = "chunks::zero",
    /// `chunks.max_concurrent` is outside 1..3000.
    ChunksConcurrency = "chunks::concurrency",
    /// `chunks.max_request_bytes` is above Earth Engine's 10 MB limit or too small.
    ChunksRequestSize = "chunks::request-size",
    /// Batch mode (or an image or classifier pipeline) without an `export` section to write the tasks' results to.
    ModeNeedsExport = "mode::needs-export",
    /// `mode: interactive` for an image or classifier pipeline (only zonal statistics are computed interactively).
    ModeKind = "mode::kind",
    /// An `interactive` setting is out of range (requests in flight, rate, sites per request, page size, minutes).
    InteractiveRange = "interactive::range",
    /// A long GeoJSON output repeats each geometry once per row (warning).
    OutputGeojsonLong = "output::geojson-long",
    /// `output.geometry` asks for a geometry the output format cannot hold.
    OutputGeometry = "output::geometry",
    /// `output.path` cannot hold the table: empty, a folder, or an existing file that is not a regular file (a device, a pipe).
    OutputPath = "output::path",
    /// `output.path` ends in the extension of another format than `output.format`.
    OutputExtension = "output::extension",
    /// `geepipe plan` on a local-engine pipeline (it sends no requests).
    PlanLocalEngine = "plan::local-engine",
    /// `kind: image` or `kind: classifier` with sites in an asset (geepipe sends the geometries itself).
    PlanKindAssetSites = "plan::kind-asset-sites",
    /// Sites in a table asset: the plan is one task over the whole table (warning).
    PlanAssetSites = "plan::asset-sites",
    /// `reduce.best_effort` has no effect on zonal statistics (warning).
    PlanBestEffort = "plan::best-effort",
    /// Shapefile exports cut column names to 10 characters (warning).
    PlanShpColumns = "plan::shp-columns",
    /// `overwrite` is not sent for BigQuery: every chunk appends (warning).
    PlanBigqueryOverwrite = "plan::bigquery-overwrite",
    /// `mode: auto` chose batch (the work is too large for interactive requests) but there is no `export` section.
    PlanNeedsExport = "plan::needs-export",
    /// An image export covers more pixels than `maxPixels` (warning).
    PlanMaxPixels = "plan::max-pixels",
    /// One site alone needs a request larger than `chunks.max_request_bytes`.
    PlanSiteTooLarge = "plan::site-too-large",
    /// A request expression cannot be built.
    PlanExpression = "plan::expression",
    /// An image pipeline without its image settings (a bug).
    PlanImage = "plan::image",
    /// A classifier pipeline without its classifier settings (a bug).
    PlanClassifier = "plan::classifier",
    /// Sites without a numeric class label in a classifier pipeline.
    PlanClassifierLabel = "plan::classifier-label",
    /// A layer has no `local` raster path.
    LocalNoPath = "local::no-path",
    /// A layer's `local` path template cannot be filled.
    LocalTemplate = "local::template",
    /// A local raster cannot be used (missing, damaged, unsupported layout or coordinate system).
    LocalRaster = "local::raster",
    /// A local raster has fewer bands than the layer needs.
    LocalBands = "local::bands",
    /// A layer's no-data mask raster (`local_mask`) cannot be read or is not on the layer raster's grid.
    LocalMask = "local::mask",
    /// The local engine cannot read its input.
    LocalRead = "local::read",
    /// The local engine cannot write its output.
    LocalWrite = "local::write",
    /// The local engine cannot use its temporary files (sites and results spilled beside the output table).
    LocalSpill = "local::spill",
    /// The local engine cannot start its worker threads.
    LocalThreads = "local::threads",
    /// The local run was stopped.
    LocalStopped = "local::stopped",
}

impl Code {
    /// The section a code belongs to (`sites` for `sites::duplicate-id`).
    pub fn section(self) -> &'static str {
        self.as_str().split("::").next().unwrap_or_default()
    }

    /// docs/diagnostics.md: every code with its meaning, by section.
    pub fn markdown() -> String {
        let mut out = String::from(
            "# Diagnostic codes\n\n\
             Every problem geepipe reports in a pipeline file, a site file or a local raster carries one of \
             these codes\n(shown after `error:`/`warning:`). Generated from `src/diag/code.rs` by \
             `GEEPIPE_BLESS=1 cargo test --test schema`.\n",
        );
        let mut section = "";
        for c in Code::ALL {
            if c.section() != section {
                section = c.section();
                out.push_str(&format!("\n## `{section}`\n\n| Code | Meaning |\n|---|---|\n"));
            }
            out.push_str(&format!("| `{}` | {} |\n", c.as_str(), c.meaning().replace('|', "\\|")));
        }
        out
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            let (section, name) = c.as_str().split_once("::").expect("section::name");
            assert!(section.chars().all(|ch| ch.is_ascii_lowercase()), "{c}");
            assert!(!name.is_empty() && name.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'), "{c}");
            assert!(c.meaning().ends_with('.') || c.meaning().ends_with(')'), "{c}: {}", c.meaning());
        }
    }
}
