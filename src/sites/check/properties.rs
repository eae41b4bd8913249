//! Kept, first-year and label properties: a first year must be a year, and a property missing on some
//! features is one warning per property with a count.

use serde_json::{Map, Value};

use super::{anchor, json_kind, Checker, Place};
use crate::diag::{Code, Diagnostic, Severity};
use crate::sites::reader::Pos;
use crate::sites::source::Step;
use crate::sites::Site;
use crate::suggest::did_you_mean;

/// A kept property missing on some features.
#[derive(Default)]
pub(super) struct Missing {
    pub(super) count: usize,
    pub(super) first: Option<(Pos, usize)>,
}

impl<V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// The properties a site keeps (kept, first-year and label; `null` when missing), counting the missing
    /// ones and checking the first year.
    pub(super) fn check_properties(
        &mut self,
        place: Place,
        index: usize,
        props: Option<&Map<String, Value>>,
    ) -> Map<String, Value> {
        let mut properties = Map::new();
        let Some(props) = props else { return properties };
        for (name, _, m) in &mut self.missing {
            if !props.contains_key(name.as_str()) {
                m.count += 1;
                if m.first.is_none() {
                    // Only GeoJSON features lack a property; a record's missing field is a schema problem.
                    if let Place::Json { at, .. } = place {
                        m.first = Some((at, index));
                    }
                }
            }
        }
        for k in self.src.keep.iter().chain(&self.src.first_year_property).chain(&self.src.label_property) {
            properties.insert(k.clone(), props.get(k).cloned().unwrap_or(Value::Null));
        }
        if let Some(fy) = &self.src.first_year_property {
            if let Some(v) = props.get(fy) {
                self.check_year(place, index, fy, v);
            }
        }
        properties
    }

    fn check_year(&mut self, place: Place, index: usize, fy: &str, v: &Value) {
        let year = match v {
            Value::Null => return,
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64)),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if year.is_some_and(|y| (1000..=9999).contains(&y)) {
            return;
        }
        let a = anchor(place, &[Step::Key("properties"), Step::Key(fy)], false);
        let date_year = v.as_str().and_then(|s| s.get(..4)).filter(|y| y.bytes().all(|b| b.is_ascii_digit()));
        let what = json_kind(v);
        let help = match date_year {
            Some(y) => format!("this looks like a date; write just the year, e.g. `{y}`"),
            None => "write the first year as a whole number, e.g. 2015".to_string(),
        };
        self.emit(Code::SitesFirstYear, Severity::Error, |c| {
            c.at(
                Diagnostic::error(
                    Code::SitesFirstYear,
                    format!("the first year `{fy}` of features[{index}] is not a year"),
                ),
                &a,
                format!("{what}, not a year"),
            )
            .with_help(help)
        });
    }

    pub(super) fn missing_warnings(&mut self) {
        let total = self.index;
        let missing = std::mem::take(&mut self.missing);
        for (name, what, m) in &missing {
            let Some((first, index)) = m.first else { continue };
            let mut d = Diagnostic::warning(
                Code::SitesMissingProperty,
                format!(
                    "{what} `{name}` is missing on {} of {total} feature{}",
                    m.count,
                    if total == 1 { "" } else { "s" }
                ),
            );
            let mut help = match *what {
                "first-year property" => "every year is computed for those sites".to_string(),
                _ => format!("those sites get an empty `{name}` in the output"),
            };
            if let Some(raw) = self.store.value_at(first) {
                let names: Vec<String> = serde_json::from_slice::<Value>(&raw)
                    .ok()
                    .and_then(|v| v.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()))
                    .unwrap_or_default();
                let suggestion = did_you_mean(name, names.iter().map(String::as_str)).map(str::to_string);
                let place = Place::Json { raw: &raw, at: first };
                let a = match &suggestion {
                    Some(s) => anchor(place, &[Step::Key("properties"), Step::Key(s)], true),
                    None => anchor(place, &[Step::Key("properties")], true),
                };
                let label = match &suggestion {
                    Some(s) => format!("features[{index}] has `{s}`; did you mean it?"),
                    None => format!("features[{index}] has no `{name}`"),
                };
                if let Some(s) = &suggestion {
                    help = format!("did you mean `{s}`? {help}");
                }
                d = self.at(d, &a, label);
            } else {
                d = d.in_file(self.name.clone());
            }
            self.emit(Code::SitesMissingProperty, Severity::Warning, |_| d.with_help(help));
        }
        self.missing = missing;
    }
}
