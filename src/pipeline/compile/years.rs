//! Stage: year values (a year, a range, a list or `{from, to}`), for the pipeline and for each layer.

use crate::diag::Code;
use std::collections::BTreeSet;

use super::Cx;
use crate::pipeline::raw::*;

impl Cx<'_> {
    /// Resolves a years value; reports problems at `ptr`.
    pub(super) fn years(&mut self, y: &RawYears, ptr: &str) -> Vec<i32> {
        let check = |cx: &mut Cx, v: i64, p: &str| -> Option<i32> {
            if (1900..=2100).contains(&v) {
                Some(v as i32)
            } else {
                cx.error(
                    p,
                    Code::YearsOutOfRange,
                    format!("year {v} is outside 1900..2100"),
                    "not a plausible year",
                    "years are written in full, between 1900 and 2100 (e.g. `2015`)",
                );
                None
            }
        };
        let span = |cx: &mut Cx, from: i64, to: i64, p: &str| -> Vec<i32> {
            if from > to {
                cx.error(
                    p,
                    Code::YearsEmptyRange,
                    format!("year range {from}..{to} is empty: it ends before it starts"),
                    "empty range",
                    &format!("did you mean {to}..{from}?"),
                );
                return Vec::new();
            }
            match (check(cx, from, p), check(cx, to, p)) {
                (Some(a), Some(b)) => (a..=b).collect(),
                _ => Vec::new(),
            }
        };
        match y {
            RawYears::Single(v) => check(self, *v, ptr).into_iter().collect(),
            RawYears::Range(s) => {
                let t = s.trim();
                if let Some((a, b)) = t.split_once("..") {
                    let b = b.trim_start_matches('=');
                    match (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
                        (Ok(a), Ok(b)) => span(self, a, b, ptr),
                        _ => {
                            self.error(
                                ptr,
                                Code::YearsSyntax,
                                format!("`{s}` is not a year range"),
                                "not a year range",
                                "write an inclusive range like `2010..2023`",
                            );
                            Vec::new()
                        }
                    }
                } else if let Ok(v) = t.parse::<i64>() {
                    check(self, v, ptr).into_iter().collect()
                } else {
                    self.error(
                        ptr,
                        Code::YearsSyntax,
                        format!("`{s}` is not a year or a year range"),
                        "not a year range",
                        "write `2020`, `2010..2023`, `[2015, 2020]` or `{from: 2010, to: 2023}`",
                    );
                    Vec::new()
                }
            }
            RawYears::List(list) => {
                if list.is_empty() {
                    self.error(
                        ptr,
                        Code::YearsEmptyList,
                        "the list of years is empty",
                        "empty",
                        "list at least one year",
                    );
                }
                let mut out = BTreeSet::new();
                for (i, v) in list.iter().enumerate() {
                    let p = format!("{ptr}/{i}");
                    if let Some(y) = check(self, *v, &p) {
                        if !out.insert(y) {
                            self.warn(&p, Code::YearsRepeated, format!("year {y} is listed twice"), "repeated", "");
                        }
                    }
                }
                out.into_iter().collect()
            }
            RawYears::FromTo(RawYearSpan { from, to }) => span(self, *from, *to, ptr),
        }
    }
}

pub(super) fn list_years(years: &[i32]) -> String {
    if years.is_empty() {
        return "no years".into();
    }
    let contiguous = years.windows(2).all(|w| w[1] == w[0] + 1);
    if contiguous && years.len() > 2 {
        format!("{}..{}", years[0], years[years.len() - 1])
    } else {
        years.iter().map(|y| y.to_string()).collect::<Vec<_>>().join(", ")
    }
}
