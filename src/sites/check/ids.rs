//! The id of each feature: present in `properties`, a non-empty string or a whole number, and unique in
//! the file. Ids are kept compactly ([`IdSet`], about 50 bytes each) for the duplicate check.
//!
//! Ids that differ but look the same (a zero-width space, a right-to-left override, a trailing space, a
//! Cyrillic `а` for a Latin `a`) get a warning (`sites::id-lookalike`): two ids are look-alikes when their
//! UTS #39 confusable skeletons (the `unicode-security` crate), taken after trimming white space, are
//! equal and one of them is not plain printable ASCII (plain ASCII ids such as `site1` and `sitel` share
//! a skeleton too, but a reader tells them apart). An id with invisible or control characters or
//! surrounding white space is a warning on its own.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::OnceLock;

use serde_json::Value;

use super::{anchor, json_kind, Checker, Place, RawFeature};
use crate::diag::{Code, Diagnostic, Severity};
use crate::sites::reader::Pos;
use crate::sites::source::{Step, Store};
use crate::sites::Site;
use crate::suggest::did_you_mean;

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        // Spread the bits: the table uses the top bits as tags and the low ones as the slot.
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Every id seen, compactly: the ids' text in one arena, a table from a 32-bit hash of the id to its
/// number, and where each id's feature starts (for the second label of a duplicate report). About 40
/// bytes per id.
#[derive(Default)]
pub(super) struct IdSet {
    table: HashMap<u32, u32, BuildHasherDefault<Identity>>,
    /// Ids whose hash collided with a different id (a few hundred in a million).
    overflow: HashMap<String, u32>,
    arena: String,
    ends: Vec<u64>,
    /// Feature start of each id: offset, line, column.
    starts: Vec<(u64, u32, u32)>,
    /// A hash of each id's confusable skeleton → the first id with it; kept from the first id that is not
    /// plain on (until then no two ids can be look-alikes: both would be plain).
    skeletons: HashMap<u64, u32>,
    /// Whether an id that is not plain was seen, so `skeletons` is kept.
    skeletons_kept: bool,
}

impl IdSet {
    fn text(&self, n: u32) -> &str {
        let n = n as usize;
        let start = if n == 0 { 0 } else { self.ends[n - 1] as usize };
        &self.arena[start..self.ends[n] as usize]
    }

    fn start(&self, n: u32) -> Pos {
        let (offset, line, col) = self.starts[n as usize];
        Pos { offset, line: u64::from(line), line_start: offset - u64::from(col) }
    }

    /// Adds an id; when it was seen before, returns where that earlier feature starts.
    pub(super) fn insert(&mut self, id: &str, at: Pos) -> Option<Pos> {
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        let full = h.finish();
        let key = (full >> 32) as u32 ^ full as u32;
        let next = self.ends.len() as u32;
        let existing = match self.table.entry(key) {
            Entry::Vacant(v) => {
                v.insert(next);
                None
            }
            Entry::Occupied(o) => Some(*o.get()),
        };
        if let Some(n) = existing {
            if self.text(n) == id {
                return Some(self.start(n));
            }
            match self.overflow.get(id) {
                Some(&m) => return Some(self.start(m)),
                None => {
                    self.overflow.insert(id.to_string(), next);
                }
            }
        }
        self.arena.push_str(id);
        self.ends.push(self.arena.len() as u64);
        let col = (at.offset - at.line_start).min(u64::from(u32::MAX)) as u32;
        self.starts.push((at.offset, at.line.min(u64::from(u32::MAX)) as u32, col));
        None
    }
}

impl IdSet {
    /// The id added last: an earlier, different id that looks the same (with where its feature starts).
    fn lookalike(&mut self) -> Option<(String, Pos)> {
        let n = (self.ends.len() as u32).checked_sub(1)?;
        if !self.skeletons_kept {
            if plain(self.text(n)) {
                return None;
            }
            // The first id that is not plain: the skeletons of every earlier id, in file order.
            self.skeletons_kept = true;
            for m in 0..n {
                let h = self.skeleton_hash(m);
                self.skeletons.entry(h).or_insert(m);
            }
        }
        let h = self.skeleton_hash(n);
        let other = *self.skeletons.entry(h).or_insert(n);
        let (id, earlier) = (self.text(n), self.text(other));
        (other != n && earlier != id && !(plain(id) && plain(earlier)))
            .then(|| (earlier.to_string(), self.start(other)))
    }
}

impl IdSet {
    /// A hash of the confusable skeleton of id `n` (white space around it trimmed).
    fn skeleton_hash(&self, n: u32) -> u64 {
        let mut h = DefaultHasher::new();
        skeleton(self.text(n).trim(), |c| c.hash(&mut h));
        h.finish()
    }
}

/// Calls `each` with every character of `id`'s UTS #39 confusable skeleton (`unicode_security::skeleton`).
/// Most ids are ASCII: theirs is read from a table of the skeleton of each ASCII character, built once
/// by the same crate. It is the same when every character's skeleton is ASCII (all but `%`'s, `°/₀`):
/// nothing in it then decomposes or reorders across characters. That saves the normalization passes
/// on a million ids.
fn skeleton(id: &str, mut each: impl FnMut(char)) {
    /// The skeleton of each ASCII character, when it is ASCII.
    static ASCII: OnceLock<Vec<Option<String>>> = OnceLock::new();
    let table = ASCII.get_or_init(|| {
        (0..128u8)
            .map(|b| Some(unicode_security::skeleton(&char::from(b).to_string()).collect::<String>()))
            .map(|s| s.filter(|s| s.is_ascii()))
            .collect()
    });
    if id.bytes().all(|b| table.get(usize::from(b)).is_some_and(Option::is_some)) {
        for b in id.bytes() {
            table[usize::from(b)].iter().flat_map(|s| s.chars()).for_each(&mut each);
        }
    } else {
        unicode_security::skeleton(id).for_each(each);
    }
}

/// Printable ASCII without surrounding white space: an id a reader sees exactly.
fn plain(id: &str) -> bool {
    id.bytes().all(|b| b.is_ascii_graphic() || b == b' ') && id.trim() == id
}

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

impl<V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// Warns about an id that is hard to read, or that looks like an earlier, different one.
    fn lookalike_id(&mut self, place: Place, index: usize, id: &str) {
        // The spot is found only for a warning that is shown: finding it walks the feature's bytes.
        let src = self.src;
        let idp = &src.id_property;
        let path = [Step::Key("properties"), Step::Key(idp)];
        let a = {
            let path = path.clone();
            move || anchor(place, &path, false)
        };
        if let Some(what) = hidden(id) {
            let shown = visible(id);
            self.emit(Code::SitesIdLookalike, Severity::Warning, |c| {
                let msg = format!("site id `{shown}` (features[{index}]) has {what}");
                c.at(Diagnostic::warning(Code::SitesIdLookalike, msg), &a(), "hard to read").with_help(
                    "the id is kept exactly as written, so it will not match the same id typed elsewhere: \
                     remove the character from the file",
                )
            });
        }
        let Some((earlier, first)) = self.ids.lookalike() else { return };
        let (shown, shown_earlier) = (visible(id), visible(&earlier));
        self.emit(Code::SitesIdLookalike, Severity::Warning, move |c| {
            let d = Diagnostic::warning(
                Code::SitesIdLookalike,
                format!("site ids `{shown}` and `{shown_earlier}` look the same but differ"),
            )
            .with_help(
                "they are two sites to geepipe and two rows in the table: if they are one site, fix the file; if \
                 not, rename one so people can tell them apart",
            );
            let earlier = match &c.store {
                Store::Records => Some(anchor(Place::Record { index: first.offset as usize, fid: None }, &path, false)),
                store => store.value_at(first).map(|raw0| anchor(Place::Json { raw: &raw0, at: first }, &path, false)),
            };
            match earlier {
                Some(e) => c.at2(d, &a(), format!("features[{index}]"), &e, "looks like this one"),
                None => c.at(d, &a(), "looks like an earlier id"),
            }
        });
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
        // A record's "place" in the id set is its index (records have no byte offsets).
        let key = match place {
            Place::Json { at, .. } => at,
            Place::Record { index, .. } => Pos { offset: index as u64, line: 0, line_start: index as u64 },
        };
        if let Some(first) = self.ids.insert(&id, key) {
            let a = anchor(place, &[Step::Key("properties"), Step::Key(idp)], false);
            let idp2 = idp.clone();
            let id2 = id.clone();
            self.emit(Code::SitesDuplicateId, Severity::Error, move |c| {
                let d = Diagnostic::error(Code::SitesDuplicateId, format!("site id `{id2}` is used twice"))
                    .with_help(format!("every site needs its own `{idp2}`; rename or merge one of them"));
                let path = [Step::Key("properties"), Step::Key(&idp2)];
                let earlier = match &c.store {
                    Store::Records => {
                        Some(anchor(Place::Record { index: first.offset as usize, fid: None }, &path, false))
                    }
                    store => {
                        store.value_at(first).map(|raw0| anchor(Place::Json { raw: &raw0, at: first }, &path, false))
                    }
                };
                match earlier {
                    Some(e) => c.at2(d, &a, format!("features[{index}] repeats it"), &e, "first used here"),
                    None => c.at(d, &a, "used again here"),
                }
            });
            return None;
        }
        self.lookalike_id(place, index, &id);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::{IdSet, Pos};

    #[test]
    fn id_set_is_exact_despite_short_hashes() {
        // 300,000 ids give a handful of 32-bit hash collisions; none may be taken for a duplicate.
        let mut ids = IdSet::default();
        let at = |i: u64| Pos { offset: i * 10 + 3, line: i, line_start: i * 10 };
        for i in 0..300_000u64 {
            assert_eq!(ids.insert(&format!("id{i}"), at(i)), None, "id{i}");
        }
        assert!(!ids.overflow.is_empty(), "expected some hash collisions to exercise the overflow map");
        let collided: Vec<u64> = ids.overflow.values().map(|n| u64::from(*n)).collect();
        for i in (0..300_000u64).step_by(997).chain(collided) {
            assert_eq!(ids.insert(&format!("id{i}"), at(i + 1)), Some(at(i)), "id{i}");
        }
    }

    #[test]
    fn the_ascii_skeleton_is_the_crates_skeleton() {
        let ours = |id: &str| {
            let mut out = String::new();
            super::skeleton(id, |c| out.push(c));
            out
        };
        // Every pair of ASCII characters (so also what a character's skeleton does next to another one),
        // ids as files have them, and ASCII look-alikes (`rn` and `m`, `l`, `1` and `I`).
        let mut ids: Vec<String> =
            (0..128u8).flat_map(|a| (0..128u8).map(move |b| String::from_utf8(vec![a, b]).unwrap())).collect();
        ids.extend(
            ["s0000001", "site-1", "sitel", "SITE_I", "corn", "com", "50%", "A\u{301}", "x\ty", ""].map(String::from),
        );
        for id in &ids {
            assert_eq!(ours(id), unicode_security::skeleton(id).collect::<String>(), "{id:?}");
        }
        // Not ASCII: the crate's own.
        assert_eq!(ours("sitе"), unicode_security::skeleton("sitе").collect::<String>());
        assert_eq!(ours("site1"), ours("sitel"));
    }

    #[test]
    fn look_alikes_of_plain_ids_seen_before_the_first_id_that_is_not_plain_are_found() {
        let mut ids = IdSet::default();
        let at = |i: u64| Pos { offset: i * 10, line: i, line_start: i * 10 };
        let mut found = Vec::new();
        for (i, id) in
            ["site1", "sitel", "rn-7", "m-7", "sitе1", "s\u{200B}ite", "sitel", "m-7 ", "rn-7"].iter().enumerate()
        {
            if ids.insert(id, at(i as u64)).is_none() {
                found.push((*id, ids.lookalike()));
            }
        }
        let earlier = |id: &str, i: u64| Some((id.to_string(), at(i)));
        assert_eq!(
            found,
            [
                ("site1", None),
                ("sitel", None), // plain look-alikes: a reader tells them apart
                ("rn-7", None),
                ("m-7", None),
                ("sitе1", earlier("site1", 0)), // a Cyrillic е: like the first id with its skeleton
                ("s\u{200B}ite", None),
                ("m-7 ", earlier("rn-7", 2)), // white space around it is not plain
            ]
        );
    }
}
