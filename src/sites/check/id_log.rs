//! The ids of a site file, logged for the duplicate and look-alike checks made when the file has been read.
//!
//! Why a log and not a set: a set of every id seen, to find a repeat the moment it comes, costs memory for
//! each id (its text, a table slot, where its feature is: 26 bytes an id, 27 MB at a million sites, most
//! of `plan`'s peak). The log keeps nothing per id in memory: each id goes, with where its feature is, into
//! one of [`BUCKETS`] buckets chosen by a hash of the id, whose bytes go, a block at a time, to a
//! [`Spill`] in `TMPDIR` once the bucket's buffer holds [`BUFFER`] bytes (a small file never touches the
//! disk). A record is the id's text and about 12 bytes of varints (index, offset, line): 20 MB at a million
//! 8-character ids. When the file is read, each bucket is read back on its own, in file order, and its
//! distinct ids kept in a map by their text: repeats are found exactly, whatever the hash, with the feature
//! each repeat and its first use are in. Memory is the buffers (1 MiB) and the distinct ids
//! of one bucket (about 1/128 of them: under 1 MB at a million sites; a file of one id repeated keeps one).
//! Of the repeats, the first [`SHOWN_PER_KIND`] in file order are kept, the others counted.
//!
//! Look-alike ids (see [`super::ids`]; their skeletons are here, [`skeleton`]) are found the same way, from
//! the first use of each id bucketed by its confusable skeleton, only when some id is not plain ASCII (until
//! then no two ids can look alike).
//!
//! The price is that a repeat is reported when the file has been read, not at the feature: the sites after
//! it are still handed over (and dropped with the plan, which an error stops).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::sync::OnceLock;

use super::SHOWN_PER_KIND;
use crate::sites::reader::Pos;
use crate::sites::spill::{Slot, Spill};

/// Buckets of the log.
const BUCKETS: usize = 128;

/// Bytes a bucket keeps in memory before they are written out.
const BUFFER: usize = 8 * 1024;

/// Where a logged id's feature is: its index in the file, its place (for GeoJSON; a record's place is its
/// index) and its `fid` (GeoPackage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Logged {
    pub index: usize,
    pub at: Pos,
    pub fid: Option<i64>,
}

/// A repeated id: where it is used again, where it was first used.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Repeat {
    pub id: String,
    pub again: Logged,
    pub first: Logged,
}

/// Two different ids with the same confusable skeleton: `id` at `at`, and the first id with its skeleton.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct LookAlike {
    pub id: String,
    pub at: Logged,
    pub earlier: String,
    pub first: Logged,
}

/// What the log found: of each kind, the first [`SHOWN_PER_KIND`] in file order and how many in all.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub repeats: Kept<Repeat>,
    pub look_alikes: Kept<LookAlike>,
}

/// The first [`SHOWN_PER_KIND`] of a kind of finding, by the index of their feature, and their number.
#[derive(Debug)]
pub(super) struct Kept<T> {
    items: Vec<(usize, T)>,
    pub total: usize,
}

impl<T> Default for Kept<T> {
    fn default() -> Kept<T> {
        Kept { items: Vec::new(), total: 0 }
    }
}

impl<T> Kept<T> {
    fn add(&mut self, index: usize, item: T) {
        self.total += 1;
        self.items.push((index, item));
        if self.items.len() >= 2 * SHOWN_PER_KIND {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.items.sort_by_key(|(index, _)| *index);
        self.items.truncate(SHOWN_PER_KIND);
    }

    /// The kept findings, in file order.
    pub fn into_first(mut self) -> Vec<T> {
        self.trim();
        self.items.into_iter().map(|(_, item)| item).collect()
    }
}

/// Records in buckets chosen by a hash, in memory until a bucket's buffer is full, then in a [`Spill`].
#[derive(Default)]
struct Buckets {
    buffers: Vec<Vec<u8>>,
    /// Per bucket, the blocks written to `spill`, in order.
    blocks: Vec<Vec<Slot>>,
    /// Made when the first buffer fills.
    spill: Option<Spill>,
}

impl Buckets {
    fn new() -> Buckets {
        Buckets { buffers: vec![Vec::new(); BUCKETS], blocks: vec![Vec::new(); BUCKETS], spill: None }
    }

    fn push(&mut self, hash: u64, at: Logged, text: &str) -> io::Result<()> {
        let b = (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as usize % BUCKETS;
        let buf = &mut self.buffers[b];
        if buf.capacity() == 0 {
            buf.reserve_exact(BUFFER + 256);
        }
        // A record: the feature's index, offset, line and line start (as its distance back from the
        // offset), the id's length, whether there is a fid and the fid (zigzag), then the id's text.
        let back = at.at.offset.saturating_sub(at.at.line_start);
        for v in [at.index as u64, at.at.offset, at.at.line, back, text.len() as u64, u64::from(at.fid.is_some())] {
            put_varint(buf, v);
        }
        if let Some(f) = at.fid {
            put_varint(buf, ((f << 1) ^ (f >> 63)) as u64);
        }
        buf.extend_from_slice(text.as_bytes());
        if buf.len() >= BUFFER {
            let spill = match &mut self.spill {
                Some(s) => s,
                // Blocks are written whole: the spill needs no buffer of its own.
                none => none.insert(Spill::with_buffer(&std::env::temp_dir(), 0)?),
            };
            self.blocks[b].push(spill.push(buf)?);
            buf.clear();
        }
        Ok(())
    }

    /// Calls `each` with every record of bucket `b` (feature, text), in the order they were pushed,
    /// reading its blocks one at a time; the bucket is emptied. Nothing may be pushed after.
    fn drain(&mut self, b: usize, mut each: impl FnMut(Logged, &str) -> io::Result<()>) -> io::Result<()> {
        let mut block = Vec::new();
        for &slot in &self.blocks[b] {
            let spill = self.spill.as_mut().ok_or_else(|| io::Error::other("the id log's file is missing"))?;
            spill.seal()?;
            spill.read(slot, &mut block)?;
            records(&block, &mut each)?;
        }
        records(&self.buffers[b], &mut each)?;
        self.buffers[b] = Vec::new();
        self.blocks[b] = Vec::new();
        Ok(())
    }
}

/// Writes `v` in LEB128 (7 bits a byte, low first): most numbers of a record take one to four bytes
/// instead of eight. Ten lines, not worth a dependency.
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a number [`put_varint`] wrote at `*at`, moving past it.
fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7F) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Calls `each` with the records of a block.
fn records(bytes: &[u8], each: &mut impl FnMut(Logged, &str) -> io::Result<()>) -> io::Result<()> {
    let bad = || io::Error::other("the id log is damaged");
    let mut at = 0usize;
    while at < bytes.len() {
        let mut next = || get_varint(bytes, &mut at).ok_or_else(bad);
        let (index, offset, line, back, len, has_fid) = (next()?, next()?, next()?, next()?, next()?, next()?);
        let fid = match has_fid {
            0 => None,
            _ => next().map(|z| Some(((z >> 1) as i64) ^ -((z & 1) as i64)))?,
        };
        let pos = Pos { offset, line, line_start: offset.saturating_sub(back) };
        let end = at.checked_add(len as usize).filter(|&e| e <= bytes.len()).ok_or_else(bad)?;
        let text = std::str::from_utf8(&bytes[at..end]).map_err(|_| bad())?;
        each(Logged { index: index as usize, at: pos, fid }, text)?;
        at = end;
    }
    Ok(())
}

/// A hash of a text.
fn hash_of(each: impl FnOnce(&mut DefaultHasher)) -> u64 {
    let mut h = DefaultHasher::new();
    each(&mut h);
    h.finish()
}

/// Every id of a file, as it is read ([`IdLog::add`]); its repeats and look-alikes once it is read
/// ([`IdLog::finish`]).
pub(super) struct IdLog {
    ids: Buckets,
    /// The first write error: the checks cannot be made (reported by [`IdLog::finish`]).
    failed: Option<io::Error>,
    /// Whether an id that is not plain ASCII was seen (only then are look-alikes looked for).
    not_plain: bool,
}

impl Default for IdLog {
    fn default() -> IdLog {
        IdLog { ids: Buckets::new(), failed: None, not_plain: false }
    }
}

impl IdLog {
    /// Logs the id of a feature.
    pub(super) fn add(&mut self, id: &str, at: Logged) {
        if self.failed.is_some() {
            return;
        }
        self.not_plain |= !plain(id);
        if let Err(e) = self.ids.push(hash_of(|h| id.hash(h)), at, id) {
            self.failed = Some(e);
        }
    }

    /// The repeated ids and (when some id is not plain) the look-alikes; an error when the log could not
    /// be written or read back.
    pub(super) fn finish(mut self) -> io::Result<Found> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let mut found = Found::default();
        // The first use of each id, by its skeleton, when look-alikes are looked for.
        let mut skeletons = self.not_plain.then(Buckets::new);
        for b in 0..BUCKETS {
            // The first use of each id of the bucket (records come in file order).
            let mut firsts: HashMap<Box<str>, Logged> = HashMap::new();
            self.ids.drain(b, |at, id| {
                if let Some(&first) = firsts.get(id) {
                    found.repeats.add(at.index, Repeat { id: id.to_string(), again: at, first });
                    return Ok(());
                }
                firsts.insert(id.into(), at);
                match skeletons.as_mut() {
                    Some(s) => s.push(hash_of(|h| skeleton(id.trim(), |c| c.hash(h))), at, id),
                    None => Ok(()),
                }
            })?;
        }
        if let Some(mut s) = skeletons {
            for b in 0..BUCKETS {
                // A bucket's first uses come bucket by bucket of the ids, not in file order: the first id
                // of each skeleton is found over the whole bucket, then the ids that look like it.
                let mut records = Vec::new();
                s.drain(b, |at, id| {
                    let mut skel = String::new();
                    skeleton(id.trim(), |c| skel.push(c));
                    records.push((at, Box::<str>::from(id), skel));
                    Ok(())
                })?;
                let mut first: HashMap<&str, usize> = HashMap::new();
                for (i, (at, _, skel)) in records.iter().enumerate() {
                    let f = first.entry(skel).or_insert(i);
                    if at.index < records[*f].0.index {
                        *f = i;
                    }
                }
                for (at, id, skel) in &records {
                    let (f_at, earlier, _) = &records[first[skel.as_str()]];
                    if f_at.index != at.index && !(plain(id) && plain(earlier)) {
                        let l = LookAlike { id: id.to_string(), at: *at, earlier: earlier.to_string(), first: *f_at };
                        found.look_alikes.add(at.index, l);
                    }
                }
            }
        }
        Ok(found)
    }
}

/// Calls `each` with every character of `id`'s UTS #39 confusable skeleton (`unicode_security::skeleton`).
/// Most ids are ASCII: theirs is read from a table of the skeleton of each ASCII character, built once
/// by the same crate. It is the same when every character's skeleton is ASCII (all but `%`'s, `°/₀`):
/// nothing in it then decomposes or reorders across characters. That saves the normalization passes
/// on a million ids.
pub(super) fn skeleton(id: &str, mut each: impl FnMut(char)) {
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
pub(super) fn plain(id: &str) -> bool {
    id.bytes().all(|b| b.is_ascii_graphic() || b == b' ') && id.trim() == id
}

#[cfg(test)]
mod tests {
    use super::{IdLog, Logged, Pos};

    fn at(i: usize) -> Logged {
        Logged { index: i, at: Pos { offset: i as u64 * 10 + 3, line: i as u64, line_start: i as u64 * 10 }, fid: None }
    }

    #[test]
    fn records_read_back_as_written() {
        let mut log = IdLog::default();
        let places = [
            Logged { index: 0, at: Pos { offset: 0, line: 0, line_start: 0 }, fid: None },
            Logged { index: 1, at: Pos { offset: u64::MAX, line: u64::MAX - 1, line_start: 7 }, fid: Some(i64::MIN) },
            Logged { index: usize::MAX, at: Pos { offset: 5, line: 1, line_start: 5 }, fid: Some(i64::MAX) },
            Logged { index: 3, at: Pos { offset: 300, line: 2, line_start: 290 }, fid: Some(-1) },
        ];
        for p in places {
            log.add("x", p);
        }
        log.add("é\u{0}\"", at(9));
        let mut back = Vec::new();
        for b in 0..super::BUCKETS {
            log.ids
                .drain(b, |at, id| {
                    back.push((at, id.to_string()));
                    Ok(())
                })
                .unwrap();
        }
        let mut want: Vec<_> = places.iter().map(|&p| (p, "x".to_string())).collect();
        want.push((at(9), "é\u{0}\"".to_string()));
        back.sort_by_key(|(_, id)| id.clone());
        want.sort_by_key(|(_, id)| id.clone());
        assert_eq!(back, want);
    }

    #[test]
    fn repeats_are_exact_and_found_with_their_first_use_through_the_file() {
        // 30,000 ids share 128 buckets (about 230 each) and the log goes to its file (about 600 KB of
        // records): none may be taken for a repeat, and every repeat is found with the feature it was first
        // used in, in file order.
        let mut log = IdLog::default();
        let n = 30_000;
        for i in 0..n {
            log.add(&format!("id{i}"), at(i));
        }
        let mut want = Vec::new();
        for (k, i) in (0..n).step_by(97).enumerate() {
            log.add(&format!("id{i}"), at(n + k));
            want.push((format!("id{i}"), n + k, i));
        }
        // Three uses of one id: both repeats point at the first.
        log.add("id5", at(n + want.len()));
        want.push(("id5".into(), n + want.len(), 5));
        want.sort_by_key(|w| w.1);
        let found = log.finish().expect("log");
        assert_eq!(found.repeats.total, want.len());
        assert_eq!(found.look_alikes.total, 0);
        let repeats = found.repeats.into_first();
        let got: Vec<_> = repeats.iter().map(|r| (r.id.clone(), r.again.index, r.first.index)).collect();
        assert_eq!(got, want[..super::SHOWN_PER_KIND]);
        assert_eq!(repeats[0].first, at(0));
    }

    #[test]
    fn look_alikes_of_plain_ids_seen_before_the_first_id_that_is_not_plain_are_found() {
        let mut log = IdLog::default();
        for (i, id) in
            ["site1", "sitel", "rn-7", "m-7", "sitе1", "s\u{200B}ite", "sitel", "m-7 ", "rn-7"].iter().enumerate()
        {
            log.add(id, at(i));
        }
        let found = log.finish().expect("log");
        let look_alikes = found.look_alikes.into_first();
        let got: Vec<_> =
            look_alikes.iter().map(|l| (l.id.as_str(), l.at.index, l.earlier.as_str(), l.first.index)).collect();
        // Plain look-alikes (`site1`, `sitel`) are told apart by a reader; a Cyrillic е is like the first id
        // with its skeleton; white space around an id is not plain. Repeats are not look-alikes.
        assert_eq!(got, [("sitе1", 4, "site1", 0), ("m-7 ", 7, "rn-7", 2)]);
        let repeats = found.repeats.into_first();
        let repeats: Vec<_> = repeats.iter().map(|r| (r.id.as_str(), r.again.index, r.first.index)).collect();
        assert_eq!(repeats, [("sitel", 6, 1), ("rn-7", 8, 2)]);
    }

    #[test]
    fn one_id_used_by_every_feature_is_one_id_kept_and_every_repeat_counted() {
        let mut log = IdLog::default();
        let n = 200_000;
        for i in 0..n {
            log.add("same", at(i));
        }
        let found = log.finish().expect("log");
        assert_eq!(found.repeats.total, n - 1);
        let shown: Vec<_> = found.repeats.into_first().iter().map(|r| (r.again.index, r.first.index)).collect();
        assert_eq!(shown, (1..=super::SHOWN_PER_KIND).map(|i| (i, 0)).collect::<Vec<_>>());
    }

    #[test]
    fn plain_ids_are_not_looked_at_for_look_alikes() {
        let mut log = IdLog::default();
        for (i, id) in ["site1", "sitel", "rn", "m"].iter().enumerate() {
            log.add(id, at(i));
        }
        assert!(!log.not_plain);
        assert_eq!(log.finish().expect("log").look_alikes.total, 0);
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
}
