//! The id of each feature: present in `properties`, a non-empty string or a whole number, and unique in
//! the file. Every id goes into the id log ([`super::id_log`], nothing kept in memory per id), and repeats
//! and look-alikes are reported from it when the file has been read ([`Checker::report_ids`]).
//!
//! Ids that differ but look the same (a zero-width space, a right-to-left override, a trailing space, a
//! Cyrillic `а` for a Latin `a`) get a warning (`sites::id-lookalike`): two ids are look-alikes when their
//! UTS #39 confusable skeletons (the `unicode-security` crate), taken after trimming white space, are
//! equal and one of them is not plain printable ASCII (plain ASCII ids such as `site1` and `sitel` share
//! a skeleton too, but a reader tells them apart). An id with invisible or control characters or
//! surrounding white space is a warning on its own.

use serde_json::Value;

use super::id_log::Logged;
use super::{anchor, json_kind, Checker, Place, RawFeature};
use crate::diag::{Code, Diagnostic, Severity};
use crate::sites::reader::Pos;
use crate::sites::source::{Step, Store};
use crate::sites::Site;
use crate::suggest::did_you_mean;

/// An id with every character that is not printable ASCII written as `\u{…}`, so look-alikes differ.
fn visible(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c.to_string() } else { c.escape_unicode().to_string() })
        .collect()
}

/// What makes an id hard to read: invisible or control characters, or white space around it.
fn hidden(id: &str) -> Option<&'static str> {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
    };
    if id.chars().any(invisible) {
        Some("an invisible or control character")
    } else if id.trim() != id {
        Some("white space at its start or end")
    } else {
        None
    }
}

/// The spot of `path` in a logged feature (none when its bytes cannot be read again).
fn logged_anchor(store: &Store, f: Logged, path: &[Step]) -> Option<super::Mark> {
    match store {
        Store::Records => Some(anchor(Place::Record { index: f.index, fid: f.fid }, path, false)),
        store => store.value_at(f.at).map(|raw| anchor(Place::Json { raw: &raw, at: f.at }, path, false)),
    }
}

impl<V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// Warns about an id that is hard to read (look-alikes of earlier ids are found when the file has been
    /// read: [`Checker::report_ids`]).
    fn hidden_id(&mut self, place: Place, index: usize, id: &str) {
        let Some(what) = hidden(id) else { return };
        // The spot is found only for a warning that is shown: finding it walks the feature's bytes.
        let path = [Step::Key("properties"), Step::Key(&self.src.id_property)];
        let a = anchor(place, &path, false);
        let shown = visible(id);
        self.emit(Code::SitesIdLookalike, Severity::Warning, |c| {
            let msg = format!("site id `{shown}` (features[{index}]) has {what}");
            c.at(Diagnostic::warning(Code::SitesIdLookalike, msg), &a, "hard to read").with_help(
                "the id is kept exactly as written, so it will not match the same id typed elsewhere: \
                 remove the character from the file",
            )
        });
    }

    /// `d` at the id of a logged feature and at the earlier one's, with their labels; at the first alone
    /// (labelled `alone`) when the earlier cannot be read again; in the file when neither can.
    fn at_logged(
        &self,
        d: Diagnostic,
        idp: &str,
        [at, first]: [Logged; 2],
        labels: [String; 2],
        alone: &str,
    ) -> Diagnostic {
        let path = [Step::Key("properties"), Step::Key(idp)];
        let [label, earlier] = labels;
        match (logged_anchor(&self.store, at, &path), logged_anchor(&self.store, first, &path)) {
            (Some(a), Some(e)) => self.at2(d, &a, label, &e, earlier),
            (Some(a), None) => self.at(d, &a, alone),
            (None, _) => d.in_file(self.name.clone()),
        }
    }

    /// Reports the repeated ids and the look-alikes of the whole file, from the id log.
    pub(super) fn report_ids(&mut self) {
        let found = match std::mem::take(&mut self.ids).finish() {
            Ok(found) => found,
            Err(e) => {
                let d = Diagnostic::error(
                    Code::SitesRead,
                    format!("cannot check the site ids of `{}` for repeats: a temporary file failed: {e}", self.name),
                )
                .in_file(self.name.clone())
                .with_help("free some space in the temporary folder, or set TMPDIR to a folder that has some");
                self.top(Code::SitesRead, d);
                return;
            }
        };
        let idp = self.src.id_property.clone();
        // Each diagnostic made here goes before the other diagnostics of its feature (a repeat: where the
        // check used to stop) or after them (a look-alike), in file order.
        let scanned = self.diags.len();
        let mut places = Vec::new();
        // The first of each kind are shown, the others counted.
        let (repeats_in_all, look_alikes_in_all) = (found.repeats.total, found.look_alikes.total);
        let (repeats, look_alikes) = (found.repeats.into_first(), found.look_alikes.into_first());
        let unshown_repeats = repeats_in_all - repeats.len();
        let unshown_look_alikes = look_alikes_in_all - look_alikes.len();
        for r in repeats {
            let idp = idp.clone();
            let shown = self.diags.len();
            self.emit(Code::SitesDuplicateId, Severity::Error, move |c| {
                let d = Diagnostic::error(Code::SitesDuplicateId, format!("site id `{}` is used twice", r.id))
                    .with_help(format!("every site needs its own `{idp}`; rename or merge one of them"));
                let labels = [format!("features[{}] repeats it", r.again.index), "first used here".into()];
                c.at_logged(d, &idp, [r.again, r.first], labels, "used again here")
            });
            places.extend((shown < self.diags.len()).then_some((r.again.index, 0)));
        }
        self.count_more(Code::SitesDuplicateId, Severity::Error, unshown_repeats);
        for l in look_alikes {
            let idp = idp.clone();
            let shown = self.diags.len();
            self.emit(Code::SitesIdLookalike, Severity::Warning, move |c| {
                let (shown, shown_earlier) = (visible(&l.id), visible(&l.earlier));
                let d = Diagnostic::warning(
                    Code::SitesIdLookalike,
                    format!("site ids `{shown}` and `{shown_earlier}` look the same but differ"),
                )
                .with_help(
                    "they are two sites to geepipe and two rows in the table: if they are one site, fix the file; \
                     if not, rename one so people can tell them apart",
                );
                let labels = [format!("features[{}]", l.at.index), "looks like this one".into()];
                c.at_logged(d, &idp, [l.at, l.first], labels, "looks like an earlier id")
            });
            places.extend((shown < self.diags.len()).then_some((l.at.index, 2)));
        }
        self.count_more(Code::SitesIdLookalike, Severity::Warning, unshown_look_alikes);
        if places.is_empty() {
            return;
        }
        let late = self.diags.split_off(scanned);
        self.diag_features.truncate(scanned);
        let early = std::mem::take(&mut self.diags).into_iter().zip(self.diag_features.drain(..).map(|i| (i, 1)));
        let mut all: Vec<(Diagnostic, (usize, u8))> = early.chain(late.into_iter().zip(places)).collect();
        all.sort_by_key(|(_, place)| *place);
        self.diags = all.into_iter().map(|(d, _)| d).collect();
    }

    pub(super) fn check_id(&mut self, place: Place, index: usize, f: &RawFeature) -> Option<String> {
        let src = self.src;
        let idp = &src.id_property;
        let props = match &f.properties {
            Some(Value::Object(p)) => p,
            other => {
                let (a, what) = match other {
                    Some(v) => (anchor(place, &[Step::Key("properties")], false), json_kind(v)),
                    None => (anchor(place, &[], false), "missing".to_string()),
                };
                let feature_id = f.id.is_some();
                self.emit(Code::SitesNoId, Severity::Error, |c| {
                    let label =
                        if other.is_some() { format!("`properties` is {what}") } else { "no `properties`".into() };
                    let mut help = format!(r#"give every feature "properties": {{"{idp}": …}}"#);
                    if feature_id {
                        help.push_str(
                            "; this feature has a top-level `id`, but geepipe reads the id from `properties`",
                        );
                    }
                    c.at(
                        Diagnostic::error(
                            Code::SitesNoId,
                            format!("features[{index}] has no properties, so no `{idp}`"),
                        ),
                        &a,
                        label,
                    )
                    .with_help(help)
                });
                return None;
            }
        };
        let Some(v) = props.get(idp) else {
            let names: Vec<&str> = props.keys().map(String::as_str).collect();
            let suggestion = did_you_mean(idp, names.iter().copied()).map(str::to_string);
            let a = match &suggestion {
                Some(s) => anchor(place, &[Step::Key("properties"), Step::Key(s)], true),
                None => anchor(place, &[Step::Key("properties")], true),
            };
            let listed = names.iter().take(8).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            let feature_id = f.id.is_some();
            self.emit(Code::SitesNoId, Severity::Error, |c| {
                let (label, mut help) = match &suggestion {
                    Some(s) => (
                        format!("did you mean `{s}`?"),
                        format!("set `sites.id: {s}` in the pipeline, or rename the property in the file"),
                    ),
                    None if names.is_empty() => {
                        ("no properties".to_string(), format!("give every feature a `{idp}` property"))
                    }
                    None => (
                        format!("no `{idp}` among these"),
                        format!("this feature has {listed}; set `sites.id` to the property that names each site"),
                    ),
                };
                if feature_id {
                    help.push_str("; this feature has a top-level `id`, but geepipe reads the id from `properties`");
                }
                c.at(
                    Diagnostic::error(Code::SitesNoId, format!("features[{index}] has no `{idp}` property")),
                    &a,
                    label,
                )
                .with_help(help)
            });
            return None;
        };
        let id = match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(i.to_string())
                } else if let Some(u) = n.as_u64() {
                    Some(u.to_string())
                } else {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    (x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0).then(|| format!("{}", x as i64))
                }
            }
            _ => None,
        };
        let Some(id) = id else {
            let a = anchor(place, &[Step::Key("properties"), Step::Key(idp)], false);
            let what = json_kind(v);
            self.emit(Code::SitesBadId, Severity::Error, |c| {
                c.at(
                    Diagnostic::error(Code::SitesBadId, format!("the `{idp}` of features[{index}] is {what}")),
                    &a,
                    "not an id",
                )
                .with_help("ids must be non-empty strings or whole numbers, unique within the file")
            });
            return None;
        };
        // A record's place is its index (records have no byte offsets).
        let logged = match place {
            Place::Json { at, .. } => Logged { index, at, fid: None },
            Place::Record { index, fid } => {
                Logged { index, at: Pos { offset: index as u64, line: 0, line_start: index as u64 }, fid }
            }
        };
        self.ids.add(&id, logged);
        self.hidden_id(place, index, &id);
        Some(id)
    }
}
