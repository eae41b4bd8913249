//! The column contract between what an export task writes and what the results step reads.
//!
//! Every zonal table export carries exactly these columns (as the request's `selectors`, in this
//! order), so the results step never guesses:
//!
//! | column | cell |
//! |---|---|
//! | the site id property (e.g. `site_id`) | the site id |
//! | each kept property | its value |
//! | the first-year property, for sites from a table asset | its value (the results step drops the years before it) |
//! | `{layer}__{year}__ha` (categorical) | JSON object text, class code → hectares, e.g. `{"3":12.5,"15":0.25}` |
//! | `{layer}__{year}__px` (categorical) | JSON object text, class code → (fractionally weighted) pixel count |
//! | `{layer}__{year}__{band}__{stat}` (continuous) | a number |
//!
//! Earth Engine writes dictionary-valued properties into CSV as unquoted `{3=12.5, 15=0.25}`; geepipe's
//! expressions turn each dictionary into JSON text (`String.encodeJSON`) first, which the CSV writer
//! quotes like any string. An empty cell, `{}` or a missing column means "no data" for that site-year.

use serde::Serialize;

use crate::pipeline::{LayerKind, Pipeline};

/// What a column holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnKind {
    SiteId,
    Keep {
        property: String,
    },
    /// The sites' first-year property (sites from a table asset, whose first years geepipe cannot read).
    FirstYear {
        property: String,
    },
    Area {
        layer: String,
        year: i32,
    },
    Pixels {
        layer: String,
        year: i32,
    },
    Stat {
        layer: String,
        year: i32,
        band: String,
        stat: String,
    },
}

/// One output column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(flatten)]
    pub kind: ColumnKind,
}

/// Name of the hectares column of a categorical layer-year.
pub fn area_column(layer: &str, year: i32) -> String {
    format!("{layer}__{year}__ha")
}

/// Name of the pixel-count column of a categorical layer-year.
pub fn pixels_column(layer: &str, year: i32) -> String {
    format!("{layer}__{year}__px")
}

/// Name of a statistic column of a continuous layer-year-band.
pub fn stat_column(layer: &str, year: i32, band: &str, stat: &str) -> String {
    format!("{layer}__{year}__{band}__{stat}")
}

/// A layer as far as its columns go (a pipeline layer, or a prepared layer cut to some years).
#[derive(Debug, Clone, Copy)]
pub struct LayerColumns<'a> {
    pub name: &'a str,
    pub kind: LayerKind,
    pub years: &'a [i32],
    pub bands: &'a [String],
    pub stats: &'a [String],
}

/// The columns of every zonal export of `pipeline`, in order.
pub fn columns(pipeline: &Pipeline) -> Vec<Column> {
    columns_for(
        pipeline,
        pipeline.layers.iter().map(|l| LayerColumns {
            name: &l.name,
            kind: l.kind,
            years: &l.years,
            bands: &l.bands,
            stats: &l.stats,
        }),
    )
}

/// The columns of a zonal export of `layers` for `pipeline`'s sites: the id, the kept properties (and the
/// first-year property of asset sites), then each layer's cells in year order.
pub fn columns_for<'a>(pipeline: &Pipeline, layers: impl IntoIterator<Item = LayerColumns<'a>>) -> Vec<Column> {
    let mut out = vec![Column { name: pipeline.sites.id_property.clone(), kind: ColumnKind::SiteId }];
    for k in &pipeline.sites.keep {
        if k != &pipeline.sites.id_property {
            out.push(Column { name: k.clone(), kind: ColumnKind::Keep { property: k.clone() } });
        }
    }
    if let (crate::pipeline::SiteLocation::Asset(_), Some(fy)) =
        (&pipeline.sites.location, &pipeline.sites.first_year_property)
    {
        if !out.iter().any(|c| &c.name == fy) {
            out.push(Column { name: fy.clone(), kind: ColumnKind::FirstYear { property: fy.clone() } });
        }
    }
    for layer in layers {
        for &year in layer.years {
            match layer.kind {
                LayerKind::Categorical => {
                    out.push(Column {
                        name: area_column(layer.name, year),
                        kind: ColumnKind::Area { layer: layer.name.to_string(), year },
                    });
                    out.push(Column {
                        name: pixels_column(layer.name, year),
                        kind: ColumnKind::Pixels { layer: layer.name.to_string(), year },
                    });
                }
                LayerKind::Continuous => {
                    for band in layer.bands {
                        for stat in layer.stats {
                            out.push(Column {
                                name: stat_column(layer.name, year, band, stat),
                                kind: ColumnKind::Stat {
                                    layer: layer.name.to_string(),
                                    year,
                                    band: band.clone(),
                                    stat: stat.clone(),
                                },
                            });
                        }
                    }
                }
            }
        }
    }
    out
}
