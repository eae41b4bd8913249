//! The id of each feature: present in `properties`, a non-empty string or a whole number, and unique in
//! the file. Ids are kept compactly ([`IdSet`], about 26 bytes each) for the duplicate check.
//!
//! Ids that differ but look the same (a zero-width space, a right-to-left override, a trailing space, a
//! Cyrillic `а` for a Latin `a`) get a warning (`sites::id-lookalike`): two ids are look-alikes when their
//! UTS #39 confusable skeletons (the `unicode-security` crate), taken after trimming white space, are
//! equal and one of them is not plain printable ASCII (plain ASCII ids such as `site1` and `sitel` share
//! a skeleton too, but a reader tells them apart). An id with invisible or control characters or
//! surrounding white space is a warning on its own.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use hashbrown::HashTable;
use serde_json::Value;

use super::{anchor, json_kind, Checker, Place, RawFeature};
use crate::diag::{Code, Diagnostic, Severity};
use crate::sites::reader::Pos;
use crate::sites::source::{Step, Store};
use crate::sites::Site;
use crate::suggest::did_you_mean;

/// Every id seen, compactly: the ids' text in one arena ([`Texts`]), a table of id numbers found by the hash
/// of their text (compared with the arena's text, so two different ids are never taken for one), and where
/// each id's feature starts (for the second label of a duplicate report). About 26 bytes per id (at a
/// million ids: 10 MB of table, 8 of text, 4 of ends, 4.4 of starts).
///
/// The table is [`SHARDS`] tables, an id's chosen by bits of its hash that the tables themselves do not
/// use: one table grown by doubling holds its old and its new buckets at once (half as much again as the
/// table, 5 MB at a million ids, just when the set is largest); shards grow one at a time.
pub(super) struct IdSet {
    tables: Vec<HashTable<u32>>,
    texts: Texts,
    /// Feature start of each id ([`Starts`]).
    starts: Starts,
    /// A hash of each id's confusable skeleton → the first id with it; kept from the first id that is not
    /// plain on (until then no two ids can be look-alikes: both would be plain).
    skeletons: HashMap<u64, u32>,
    /// Whether an id that is not plain was seen, so `skeletons` is kept.
    skeletons_kept: bool,
    /// The bits of an id's hash that are used (all; tests keep few, so that different ids collide).
    hash_mask: u64,
}

/// The text of every id, numbered in the order added.
#[derive(Default)]
struct Texts {
    arena: String,
    /// Where each id's text ends in `arena`, modulo 2³² (see `wraps`).
    ends: Vec<u32>,
    /// The ids whose end passed a multiple of 2³² bytes of text (empty below 4 GiB of ids).
    wraps: Vec<u32>,
}

impl Texts {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn end(&self, n: usize) -> usize {
        let high = self.wraps.partition_point(|&w| w as usize <= n);
        (high << 32) | self.ends[n] as usize
    }

    fn get(&self, n: u32) -> &str {
        let n = n as usize;
        let start = if n == 0 { 0 } else { self.end(n - 1) };
        &self.arena[start..self.end(n)]
    }

    fn push(&mut self, id: &str) {
        let n = self.ends.len() as u32;
        self.arena.push_str(id);
        let end = self.arena.len();
        while end >> 32 > self.wraps.len() {
            self.wraps.push(n);
        }
        self.ends.push(end as u32);
    }
}

impl Default for IdSet {
    fn default() -> IdSet {
        IdSet {
            tables: (0..SHARDS).map(|_| HashTable::new()).collect(),
            texts: Texts::default(),
            starts: Starts::default(),
            skeletons: HashMap::new(),
            skeletons_kept: false,
            hash_mask: u64::MAX,
        }
    }
}

/// Where each id's feature starts, about 4.4 bytes an id: the offset's low 32 bits of each (the high bits
/// only where they change from one id to the next, `highs`: empty for files under 4 GiB), and the whole
/// place (offset, line, line start) of every [`MARK_EVERY`]th. The line and column of any other id are
/// found again, only when a report shows them, by reading the bytes from its mark ([`Earlier::place`]):
/// keeping them for every id was 8 more bytes an id, a third of the set.
#[derive(Default)]
struct Starts {
    /// Offset modulo 2³² of each id.
    lows: Vec<u32>,
    /// (first id, offset ÷ 2³²) from each id whose offset's high bits differ from the previous id's.
    highs: Vec<(u32, u32)>,
    /// The place of ids 0, `MARK_EVERY`, 2 × `MARK_EVERY`, …
    marks: Vec<Pos>,
}

/// Ids between two kept whole places in [`Starts`].
const MARK_EVERY: u32 = 64;

/// Where an earlier id's feature starts: its offset and the place of the last mark at or before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Earlier {
    pub offset: u64,
    mark: Pos,
}

impl Earlier {
    /// The feature's place (offset, line, line start). A file with lines is read from the mark to the
    /// feature (at most [`MARK_EVERY`] features) and counted as the reader counts; a file without lines
    /// (records) has none.
    pub(super) fn place(self, store: &Store) -> Pos {
        if matches!(store, Store::Records) {
            return Pos { offset: self.offset, line: 0, line_start: self.offset };
        }
        if self.offset <= self.mark.offset {
            return Pos {
                offset: self.offset,
                line: self.mark.line,
                line_start: self.mark.line_start.min(self.offset),
            };
        }
        let raw = store.read(self.mark.offset..self.offset);
        let mut p = crate::sites::reader::pos_in(&raw, self.mark, raw.len());
        p.offset = self.offset;
        p
    }
}

impl Starts {
    fn push(&mut self, at: Pos) {
        let n = self.lows.len() as u32;
        let high = (at.offset >> 32) as u32;
        if self.highs.last().map_or(0, |&(_, h)| h) != high {
            self.highs.push((n, high));
        }
        if n % MARK_EVERY == 0 {
            self.marks.push(at);
        }
        self.lows.push(at.offset as u32);
    }

    fn get(&self, n: u32) -> Earlier {
        let low = self.lows[n as usize];
        let high = match self.highs.partition_point(|&(first, _)| first <= n) {
            0 => 0,
            i => self.highs[i - 1].1,
        };
        let offset = (u64::from(high) << 32) | u64::from(low);
        Earlier { offset, mark: self.marks[(n / MARK_EVERY) as usize] }
    }
}

/// Tables of [`IdSet`].
const SHARDS: usize = 64;

/// The table of [`IdSet`] an id with this hash is in: bits 32 to 37, which a table uses only past 2³²
/// buckets (it takes the low bits for the bucket and the top 7 for its control byte).
fn shard(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// The hash an id is found by in [`IdSet`]'s table.
fn id_hash(id: &str, mask: u64) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish() & mask
}

impl IdSet {
    fn text(&self, n: u32) -> &str {
        self.texts.get(n)
    }

    fn start(&self, n: u32) -> Earlier {
        self.starts.get(n)
    }

    /// Adds an id; when it was seen before, returns where that earlier feature starts.
    pub(super) fn insert(&mut self, id: &str, at: Pos) -> Option<Earlier> {
        let mask = self.hash_mask;
        let hash = id_hash(id, mask);
        let table = shard(hash);
        if let Some(&n) = self.tables[table].find(hash, |&n| self.texts.get(n) == id) {
            return Some(self.start(n));
        }
        let next = self.texts.len() as u32;
        self.texts.push(id);
        self.starts.push(at);
        // Growing, the table rehashes its ids from their text.
        let texts = &self.texts;
        self.tables[table].insert_unique(hash, next, |&n| id_hash(texts.get(n), mask));
        None
    }
}

impl IdSet {
    /// The id added last: an earlier, different id that looks the same (with where its feature starts).
    fn lookalike(&mut self) -> Option<(String, Earlier)> {
        let n = (self.texts.len() as u32).checked_sub(1)?;
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

/// The spot of `path` in an earlier feature, for a report's second label (none when it cannot be read).
fn earlier_anchor(store: &Store, first: Earlier, path: &[Step]) -> Option<super::Mark> {
    match store {
        Store::Records => Some(anchor(Place::Record { index: first.offset as usize, fid: None }, path, false)),
        store => {
            let at = first.place(store);
            store.value_at(at).map(|raw0| anchor(Place::Json { raw: &raw0, at }, path, false))
        }
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
            let earlier = earlier_anchor(&c.store, first, &path);
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
                let earlier = earlier_anchor(&c.store, first, &path);
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
    use super::{IdSet, Pos, Starts, Store};

    #[test]
    fn id_set_is_exact_despite_short_hashes() {
        // Hashes of 8 bits: every id shares its hash with hundreds of others; none may be taken for a
        // duplicate, and every repeated one is found with the place it was first seen.
        // A file of a feature a line: line i starts at byte 10 i, its feature 3 bytes in (`\r\n` and lone
        // `\r` breaks too, counted as the reader counts them); each place is found again from the bytes.
        let mut ids = IdSet { hash_mask: 0xFF, ..IdSet::default() };
        let at = |i: u64| Pos { offset: i * 10 + 3, line: i, line_start: i * 10 };
        let file: Vec<u8> = (0..30_001u64)
            .flat_map(|i| {
                let end: &[u8] = [b"x\n".as_slice(), b"\r\n", b"x\r"][(i % 3) as usize];
                [b"   {abcd".as_slice(), end].concat()
            })
            .collect();
        let store = Store::Memory(file.into());
        for i in 0..30_000u64 {
            assert_eq!(ids.insert(&format!("id{i}"), at(i)), None, "id{i}");
        }
        for i in (0..30_000u64).step_by(97) {
            let first = ids.insert(&format!("id{i}"), at(i + 1)).expect("a duplicate");
            assert_eq!(first.place(&store), at(i), "id{i}");
            assert_eq!(first.place(&Store::Records).offset, i * 10 + 3);
        }
        assert_eq!(ids.texts.len(), 30_000);
        assert_eq!(ids.text(12_345), "id12345");
    }

    #[test]
    fn feature_offsets_past_four_gibibytes_and_in_any_order_are_kept_exactly() {
        let offsets = [3u64, 5 << 32, (5 << 32) + 7, 9, (1 << 40) + 11, (1 << 40) + 1, 2];
        let mut starts = Starts::default();
        for (i, &offset) in offsets.iter().enumerate() {
            starts.push(Pos { offset, line: i as u64, line_start: offset - (i as u64).min(offset) });
        }
        for (i, &offset) in offsets.iter().enumerate() {
            assert_eq!(starts.get(i as u32).offset, offset);
        }
        assert_eq!(starts.highs.len(), 4);
    }

    #[test]
    fn id_texts_past_four_gibibytes_keep_their_ends() {
        // The ends are kept modulo 2³²; `wraps` says which ids passed each multiple.
        let mut t = super::Texts { arena: String::new(), ends: vec![10, 20], wraps: vec![] };
        t.arena.push_str(&"a".repeat(20));
        assert_eq!((t.end(0), t.end(1)), (10, 20));
        t.wraps = vec![1];
        assert_eq!((t.end(0), t.end(1)), (10, (1 << 32) | 20));
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
        // Records: a place is its index (line 0).
        let at = |i: u64| Pos { offset: i, line: 0, line_start: i };
        let mut found = Vec::new();
        for (i, id) in
            ["site1", "sitel", "rn-7", "m-7", "sitе1", "s\u{200B}ite", "sitel", "m-7 ", "rn-7"].iter().enumerate()
        {
            if ids.insert(id, at(i as u64)).is_none() {
                found.push((*id, ids.lookalike().map(|(e, first)| (e, first.place(&Store::Records)))));
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
