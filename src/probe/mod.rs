//! The probe: before any batch task exists, one small synchronous computation proves that the pipeline's
//! expression evaluates on Earth Engine and yields every column the table will be merged from.
//!
//! Batch exports hide a wrong expression for hours: a reducer whose outputs are named differently from
//! what the cells read gives a table of empty cells, and a wrong band fails every task only after it ran.
//! The probe sends the request [`crate::plan::probe`] builds (the first chunk cut to a couple of sites and
//! one year per layer) through `table:computeFeatures` and checks each column as `geepipe fetch` will
//! read it ([`crate::results::eecsv::Cell`]): present in the rows, readable (a number, a class dictionary),
//! and holding a value for at least one site. Image and classifier pipelines get a `value:compute` of
//! their expression's band names / input schema. `geepipe probe FILE` prints the report; `geepipe run`
//! probes a fresh plan unless `--no-probe` and refuses (exit 4) when the probe fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::ee::{Client, EeError};
use crate::plan::probe::{ProbeCall, ValueProbe};
use crate::plan::{Column, ColumnKind};
use crate::results::eecsv::{Cell, CellError};

/// Sites a zonal probe asks for.
pub const SITES: usize = 2;

/// What the probe found for one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// At least one site has a value of the expected shape (or, for a kept property, the site file has none).
    Ok,
    /// No row has the column at all.
    Missing,
    /// A row's value cannot be read as the column's kind; the reason.
    Malformed(CellError),
    /// Rows carry the column, but no site has a value in it.
    NoValue,
}

/// One column's result.
#[derive(Debug, Clone)]
pub struct ColumnReport {
    pub column: Column,
    pub finding: Finding,
    /// Sites with a value.
    pub with_value: usize,
    /// A value that came back (the first non-empty one), as text.
    pub sample: Option<String>,
}

impl ColumnReport {
    /// The layer the column belongs to (`None` for the id and kept properties).
    pub fn layer(&self) -> Option<&str> {
        match &self.column.kind {
            ColumnKind::Area { layer, .. } | ColumnKind::Pixels { layer, .. } | ColumnKind::Stat { layer, .. } => {
                Some(layer)
            }
            _ => None,
        }
    }
}

/// The whole probe.
#[derive(Debug, Clone)]
pub struct Report {
    /// `table:computeFeatures` or `value:compute`.
    pub endpoint: &'static str,
    /// What was probed, for people: sites and years, or the export.
    pub scope: String,
    /// Rows returned (zonal).
    pub rows: usize,
    pub columns: Vec<ColumnReport>,
    /// A value probe's result, or why it is wrong.
    pub value: Option<Result<String, ValueProblem>>,
    /// Earth Engine refused the computation (400: an invalid expression): its message.
    pub refused: Option<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.refused.is_none()
            && self.columns.iter().all(|c| c.finding == Finding::Ok)
            && self.value.as_ref().is_none_or(Result::is_ok)
    }

    /// One line per problem: the column, its layer and what is wrong.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(m) = &self.refused {
            out.push(format!("Earth Engine refused the computation: {m}"));
        }
        if let Some(Err(e)) = &self.value {
            out.push(e.to_string());
        }
        for c in &self.columns {
            let layer = c.layer().map(|l| format!(" (layer `{l}`)")).unwrap_or_default();
            let what = match &c.finding {
                Finding::Ok => continue,
                Finding::Missing => "missing: no row has it".to_string(),
                Finding::Malformed(why) => format!("malformed: {why}"),
                Finding::NoValue => "no value for any probed site".to_string(),
            };
            out.push(format!("column `{}`{layer}: {what}", c.column.name));
        }
        out
    }

    /// The report as a table (column, layer, result, a value that came back).
    pub fn render(&self) -> String {
        let mut s = format!("probe via {}: {}\n", self.endpoint, self.scope);
        if let Some(m) = &self.refused {
            let _ = writeln!(s, "refused: {m}");
        }
        if let Some(v) = &self.value {
            match v {
                Ok(v) => {
                    let _ = writeln!(s, "result: {v}");
                }
                Err(e) => {
                    let _ = writeln!(s, "wrong result: {e}");
                }
            }
        }
        if !self.columns.is_empty() {
            let _ = writeln!(s, "{} row(s) came back", self.rows);
            let mut lines: Vec<[String; 4]> = vec![["column", "layer", "result", "value"].map(String::from)];
            for c in &self.columns {
                let result = match &c.finding {
                    Finding::Ok => format!("ok ({} site(s))", c.with_value),
                    Finding::Missing => "MISSING".into(),
                    Finding::Malformed(why) => format!("MALFORMED: {why}"),
                    Finding::NoValue => "NO VALUE".into(),
                };
                let sample = c.sample.clone().unwrap_or_else(|| "-".into());
                let sample = if sample.chars().count() > 60 {
                    format!("{}…", sample.chars().take(59).collect::<String>())
                } else {
                    sample
                };
                lines.push([c.column.name.clone(), c.layer().unwrap_or("-").to_string(), result, sample]);
            }
            let widths: Vec<usize> =
                (0..3).map(|k| lines.iter().map(|l| l[k].chars().count()).max().unwrap_or(0)).collect();
            for l in &lines {
                let _ = writeln!(
                    s,
                    "{:<w0$}  {:<w1$}  {:<w2$}  {}",
                    l[0],
                    l[1],
                    l[2],
                    l[3],
                    w0 = widths[0],
                    w1 = widths[1],
                    w2 = widths[2]
                );
            }
        }
        s
    }
}

/// Checks the rows (`features` of a computeFeatures answer) against the columns (module doc).
pub fn check_features(
    columns: &[Column],
    rows: &[Value],
    keep_has_value: &BTreeMap<String, bool>,
) -> Vec<ColumnReport> {
    let props: Vec<&serde_json::Map<String, Value>> =
        rows.iter().filter_map(|f| f.get("properties").and_then(Value::as_object)).collect();
    columns
        .iter()
        .map(|column| {
            let values: Vec<&Value> = props.iter().filter_map(|p| p.get(&column.name)).collect();
            let mut with_value = 0;
            let mut sample = None;
            let mut malformed = None;
            for v in &values {
                let cell = if v.is_null() { Cell::Empty } else { Cell::Json((*v).clone()) };
                let has = match &column.kind {
                    ColumnKind::Area { .. } | ColumnKind::Pixels { .. } => cell.class_map().map(|m| m.is_some()),
                    ColumnKind::Stat { .. } => cell.number().map(|n| n.is_some()),
                    ColumnKind::SiteId | ColumnKind::Keep { .. } => Ok(cell.text().is_some_and(|t| !t.is_empty())),
                    ColumnKind::FirstYear { .. } => match cell.number() {
                        Ok(Some(n)) if n.fract() == 0.0 => Ok(true),
                        Ok(None) => Ok(false),
                        _ => Err(CellError::NotYear((*v).clone())),
                    },
                };
                match has {
                    Ok(true) => {
                        with_value += 1;
                        sample.get_or_insert_with(|| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        });
                    }
                    Ok(false) => {}
                    Err(why) => {
                        malformed.get_or_insert(why);
                    }
                }
            }
            let finding = if let Some(why) = malformed {
                Finding::Malformed(why)
            } else if with_value > 0 {
                Finding::Ok
            } else if values.is_empty()
                && !props.is_empty()
                && !matches!(column.kind, ColumnKind::Keep { .. } | ColumnKind::FirstYear { .. })
            {
                Finding::Missing
            } else {
                match &column.kind {
                    // A first year is optional per site: sites without one have no value.
                    ColumnKind::FirstYear { .. } => Finding::Ok,
                    // An empty kept property is fine when the site file has no value for it either.
                    ColumnKind::Keep { property } if !keep_has_value.get(property).copied().unwrap_or(true) => {
                        Finding::Ok
                    }
                    ColumnKind::Keep { .. } if values.is_empty() => Finding::Missing,
                    _ => Finding::NoValue,
                }
            };
            ColumnReport { column: column.clone(), finding, with_value, sample }
        })
        .collect()
}

/// Why a `value:compute` result is not what the pipeline needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueProblem {
    #[error("expected a list of names, got {0}")]
    NotNames(Value),
    #[error("the image has no bands")]
    NoBands,
    #[error("the classifier's inputs are [{}], expected [{}]", .got.join(", "), .want.join(", "))]
    ClassifierInputs { got: Vec<String>, want: Vec<String> },
}

/// Checks a `value:compute` result: a non-empty list of names (and the classifier's expected inputs).
/// `Ok` says what it is.
pub fn check_value(what: &ValueProbe, result: &Value) -> Result<String, ValueProblem> {
    let names: Vec<String> = result
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .ok_or_else(|| ValueProblem::NotNames(result.clone()))?;
    match what {
        ValueProbe::BandNames if names.is_empty() => Err(ValueProblem::NoBands),
        ValueProbe::BandNames => Ok(format!("bands {}", names.join(", "))),
        ValueProbe::ClassifierSchema(want) if &names != want => {
            Err(ValueProblem::ClassifierInputs { got: names, want: want.clone() })
        }
        ValueProbe::ClassifierSchema(_) => Ok(format!("classifier inputs {}", names.join(", "))),
    }
}

/// Sends the probe and checks the answer. `Err` only for failures that say nothing about the expression
/// (network, credentials, quota): a refused computation is a failed [`Report`].
pub async fn run(client: &Client, call: &ProbeCall) -> Result<Report, EeError> {
    let refused = |e: &EeError| e.problem.http_status == Some(400);
    match call {
        ProbeCall::Features { expression, columns, site_ids, years, keep_has_value } => {
            let years: Vec<String> = years.iter().map(|(l, y)| format!("{l} {y}")).collect();
            let scope = format!(
                "{} ({}), {}",
                if site_ids.is_empty() {
                    format!("the first {SITES} features of the table")
                } else {
                    format!("{} site(s)", site_ids.len())
                },
                site_ids.join(", "),
                years.join(", ")
            );
            let mut report =
                Report { endpoint: call.endpoint(), scope, rows: 0, columns: Vec::new(), value: None, refused: None };
            match client.compute_features(expression, 1000).await {
                Ok(rows) => {
                    report.rows = rows.len();
                    report.columns = check_features(columns, &rows, keep_has_value);
                }
                Err(e) if refused(&e) => report.refused = Some(e.problem.message.clone()),
                Err(e) => return Err(e),
            }
            Ok(report)
        }
        ProbeCall::Value { expression, what, description } => {
            let mut report = Report {
                endpoint: call.endpoint(),
                scope: description.clone(),
                rows: 0,
                columns: Vec::new(),
                value: None,
                refused: None,
            };
            match client.compute_value(expression).await {
                Ok(v) => report.value = Some(check_value(what, &v)),
                Err(e) if refused(&e) => report.refused = Some(e.problem.message.clone()),
                Err(e) => return Err(e),
            }
            Ok(report)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(name: &str, kind: ColumnKind) -> Column {
        Column { name: name.into(), kind }
    }

    #[test]
    fn columns_are_found_missing_malformed_or_empty() {
        let area = |l: &str| ColumnKind::Area { layer: l.into(), year: 2020 };
        let stat = ColumnKind::Stat { layer: "n".into(), year: 2020, band: "b".into(), stat: "mean".into() };
        let cols = vec![
            col("site_id", ColumnKind::SiteId),
            col("name", ColumnKind::Keep { property: "name".into() }),
            col("l__2020__ha", area("l")),
            col("m__2020__ha", area("m")),
            col("k__2020__ha", area("k")),
            col("n__2020__b__mean", stat.clone()),
            col("absent", stat),
        ];
        let rows = vec![
            json!({"type": "Feature", "properties": {"site_id": "a", "name": null, "l__2020__ha": "{\"3\":1.5}", "m__2020__ha": "{}", "k__2020__ha": "oops", "n__2020__b__mean": null}}),
            json!({"type": "Feature", "properties": {"site_id": "b", "l__2020__ha": "{}", "m__2020__ha": "{}", "k__2020__ha": "{}", "n__2020__b__mean": 0.5}}),
        ];
        let keep: BTreeMap<String, bool> = [("name".to_string(), false)].into();
        let r = check_features(&cols, &rows, &keep);
        let f: Vec<&Finding> = r.iter().map(|c| &c.finding).collect();
        assert_eq!(f[0], &Finding::Ok);
        assert_eq!(f[1], &Finding::Ok, "the site file has no name either");
        assert_eq!((f[2], r[2].with_value, r[2].sample.as_deref()), (&Finding::Ok, 1, Some("{\"3\":1.5}")));
        assert_eq!(f[3], &Finding::NoValue);
        assert!(matches!(f[4], Finding::Malformed(_)));
        assert_eq!(f[5], &Finding::Ok);
        assert_eq!(f[6], &Finding::Missing);
        let report = Report { endpoint: "x", scope: String::new(), rows: 2, columns: r, value: None, refused: None };
        assert!(!report.passed());
        let p = report.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("column `m__2020__ha` (layer `m`): no value"));
        let keep: BTreeMap<String, bool> = [("name".to_string(), true)].into();
        assert_eq!(check_features(&cols[1..2], &rows, &keep)[0].finding, Finding::NoValue);
    }

    #[test]
    fn a_first_year_column_may_be_empty_but_not_malformed() {
        let cols = vec![col("planted", ColumnKind::FirstYear { property: "planted".into() })];
        let keep = BTreeMap::new();
        let rows = |v: Value| vec![json!({"type": "Feature", "properties": {"site_id": "a", "planted": v}})];
        let finding = |rows: &[Value]| check_features(&cols, rows, &keep)[0].finding.clone();
        assert_eq!(finding(&rows(json!(2021))), Finding::Ok);
        assert_eq!(finding(&rows(json!("2021"))), Finding::Ok);
        assert_eq!(finding(&rows(Value::Null)), Finding::Ok, "a site need not have a first year");
        assert_eq!(finding(&[json!({"type": "Feature", "properties": {"site_id": "a"}})]), Finding::Ok);
        assert!(matches!(finding(&rows(json!("spring"))), Finding::Malformed(_)));
        assert!(matches!(finding(&rows(json!(2021.5))), Finding::Malformed(_)));
    }

    #[test]
    fn value_probes() {
        assert!(check_value(&ValueProbe::BandNames, &json!(["a"])).is_ok());
        assert!(check_value(&ValueProbe::BandNames, &json!([])).is_err());
        assert!(check_value(&ValueProbe::BandNames, &json!({"type": "Image"})).is_err());
        let want = ValueProbe::ClassifierSchema(vec!["x".into()]);
        assert!(check_value(&want, &json!(["x"])).is_ok());
        assert!(check_value(&want, &json!(["y"])).is_err());
    }
}
