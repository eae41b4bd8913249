//! No silent empty tables: how many site-years of each layer hold a value, which chunks came back without
//! any value, and the error for a layer with no value at all.
//!
//! A table whose cells are all empty looks like a result. It is what a user gets when the sites lie
//! outside a dataset's footprint, when the years are outside its availability, or when the expression
//! does not produce the columns the table reads (a band or reducer output named differently). `fetch` and
//! the local engine therefore report the coverage per layer, warn about every chunk whose rows carry no
//! value, and fail (exit 1) when a layer has no value in the whole table.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Measure, Record};

/// One layer's coverage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LayerCoverage {
    pub layer: String,
    /// Site-years in the table (after first years).
    pub site_years: u64,
    /// Of those, the ones holding at least one value (a class, or a statistic that is not empty).
    pub with_value: u64,
}

impl LayerCoverage {
    /// `layer: N of M site-years have values`.
    pub fn line(&self) -> String {
        format!("{}: {} of {} site-years have values", self.layer, self.with_value, self.site_years)
    }

    /// Site-years, but no value in any of them.
    pub fn is_empty(&self) -> bool {
        self.site_years > 0 && self.with_value == 0
    }
}

/// Coverage of every layer, in pipeline order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coverage {
    pub layers: Vec<LayerCoverage>,
    seen: HashSet<(String, String, i32)>,
    valued: HashSet<(String, String, i32)>,
}

/// Whether a record carries a value.
pub fn has_value(r: &Record) -> bool {
    match &r.measure {
        Measure::Class { .. } => true,
        Measure::Stat { value, .. } => value.is_some(),
        Measure::NoData => false,
    }
}

impl Coverage {
    /// An empty coverage of these layers (pipeline order).
    pub fn new<'a>(layers: impl IntoIterator<Item = &'a str>) -> Coverage {
        Coverage {
            layers: layers
                .into_iter()
                .map(|l| LayerCoverage { layer: l.to_string(), ..LayerCoverage::default() })
                .collect(),
            ..Coverage::default()
        }
    }

    /// Counts a site's records.
    pub fn add(&mut self, records: &[Record]) {
        for r in records {
            let key = (r.site.clone(), r.layer.clone(), r.year);
            let Some(l) = self.layers.iter_mut().find(|l| l.layer == r.layer) else { continue };
            if self.seen.insert(key.clone()) {
                l.site_years += 1;
            }
            if has_value(r) && self.valued.insert(key) {
                l.with_value += 1;
            }
        }
    }

    /// Layers that have site-years but no value in any of them.
    pub fn empty_layers(&self) -> Vec<&LayerCoverage> {
        self.layers.iter().filter(|l| l.is_empty()).collect()
    }

    /// One line per layer: `layer: N of M site-years have values`.
    pub fn lines(&self) -> Vec<String> {
        self.layers.iter().map(LayerCoverage::line).collect()
    }

    /// The error for a layer with no value at all, with the likely causes (Earth Engine's, or the local
    /// engine's when `local`).
    pub fn empty_layer_error(l: &LayerCoverage, local: bool) -> String {
        let causes = if local {
            "the sites lie outside the rasters' extent, or the rasters hold only nodata there (check the layer's \
             `local:` paths and the years)"
        } else {
            "the sites lie outside the dataset's footprint; the years are outside its availability; or the \
             expression does not produce the columns the table reads (a band or reducer output named \
             differently; `geepipe probe FILE` shows what comes back per column)"
        };
        format!("layer `{}` has no value in any of its {} site-years. Likely causes: {causes}", l.layer, l.site_years)
    }
}

/// Chunks none of whose sites has any value in any layer (chunk id → its site count), in the given order.
pub fn empty_chunks<'a>(
    chunks: impl IntoIterator<Item = (&'a str, &'a [String])>,
    records: &[Record],
) -> Vec<(String, usize)> {
    let valued: HashSet<&str> = records.iter().filter(|r| has_value(r)).map(|r| r.site.as_str()).collect();
    let mut out: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    for (i, (id, sites)) in chunks.into_iter().enumerate() {
        if !sites.is_empty() && !sites.iter().any(|s| valued.contains(s.as_str())) {
            out.insert(i, (id.to_string(), sites.len()));
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(site: &str, layer: &str, year: i32, m: Measure) -> Record {
        Record { site: site.into(), layer: layer.into(), year, measure: m }
    }

    #[test]
    fn counts_site_years_with_values_per_layer() {
        let stat = |v: Option<f64>| Measure::Stat { band: "b".into(), stat: "mean".into(), value: v };
        let class = Measure::Class { code: 3, name: None, area_ha: 1.0, pixels: 2.0 };
        let records = vec![
            rec("a", "lulc", 2020, class.clone()),
            rec("a", "lulc", 2020, class),
            rec("a", "lulc", 2021, Measure::NoData),
            rec("a", "ndvi", 2020, stat(None)),
            rec("a", "ndvi", 2020, stat(None)),
            rec("b", "ndvi", 2020, Measure::NoData),
        ];
        let mut c = Coverage::new(["lulc", "ndvi", "never"]);
        c.add(&records);
        assert_eq!(
            c.lines(),
            [
                "lulc: 1 of 2 site-years have values",
                "ndvi: 0 of 2 site-years have values",
                "never: 0 of 0 site-years have values"
            ]
        );
        let empty: Vec<&str> = c.empty_layers().iter().map(|l| l.layer.as_str()).collect();
        assert_eq!(empty, ["ndvi"]);
        assert!(Coverage::empty_layer_error(c.empty_layers()[0], false).contains("footprint"));
        assert!(Coverage::empty_layer_error(c.empty_layers()[0], true).contains("rasters' extent"));
        let a = ["a".to_string()];
        let b = ["b".to_string(), "z".to_string()];
        assert_eq!(empty_chunks([("c0", &a[..]), ("c1", &b[..])], &records), [("c1".to_string(), 2)]);
    }
}
