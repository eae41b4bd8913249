//! The ids of a site file, logged for the duplicate and look-alike checks made when the file has been read.
//!
//! Why a log and not a set: a set of every id seen, to find a repeat the moment it comes, costs memory for
//! each id (its text, a table slot, where its feature is: 26 bytes an id, 27 MB at a million sites, most
//! of `plan`'s peak). The log keeps nothing per id in memory: each id goes, with where its feature is, into
//! one of [`BUCKETS`] buckets chosen by a hash of the id, whose bytes are written to an anonymous temporary
//! file ([`crate::sites::spill`]'s kind, unlinked at once) once the bucket's buffer holds [`BUFFER`] bytes
//! (a small file never touches the disk). When the file is read, each bucket is read back on its own, its
//! records sorted by id, and equal ids compared by their text: repeats are found exactly, whatever the
//! hash, with the feature each repeat and its first use are in. Memory is the buffers (1 MiB) and one
//! bucket at a time (about 1/128 of the ids: 0.5 MB at a million sites).
//!
//! Look-alike ids (see [`super::ids`]) are found the same way, bucketed by their confusable skeleton, and
//! only when some id is not plain ASCII (until then no two ids can be look-alikes).
//!
//! The price is that a repeat is reported when the file has been read, not at the feature: the sites after
//! it are still handed over (and discarded with the plan, which an error stops).

use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;

use crate::sites::reader::Pos;

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

/// What the log found.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// In the order of the repeats in the file.
    pub repeats: Vec<Repeat>,
    /// In file order.
    pub look_alikes: Vec<LookAlike>,
}

/// Records keyed by a hash, in buckets, in memory until a bucket's buffer is full and then in a file.
struct Buckets {
    buffers: Vec<Vec<u8>>,
    /// Per bucket, the blocks written to `file` (offset, length), in order.
    blocks: Vec<Vec<(u64, u32)>>,
    file: Option<File>,
    end: u64,
    /// The bits of a key that are used (all; tests keep few, so that different ids share keys).
    mask: u64,
}

/// One record read back: its key, its feature and where its text is in the bucket's bytes.
struct Entry {
    key: u64,
    at: Logged,
    text: Range<usize>,
}

impl Buckets {
    fn new(mask: u64) -> Buckets {
        Buckets { buffers: vec![Vec::new(); BUCKETS], blocks: vec![Vec::new(); BUCKETS], file: None, end: 0, mask }
    }

    /// The bucket of a key: bits the sort within a bucket does not need to be spread (any will do).
    fn bucket(key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as usize % BUCKETS
    }

    fn push(&mut self, key: u64, at: Logged, text: &str) -> io::Result<()> {
        let key = key & self.mask;
        let b = Self::bucket(key);
        let buf = &mut self.buffers[b];
        if buf.capacity() == 0 {
            buf.reserve_exact(BUFFER + 256);
        }
        buf.extend_from_slice(&key.to_le_bytes());
        buf.extend_from_slice(&(at.index as u64).to_le_bytes());
        for v in [at.at.offset, at.at.line, at.at.line_start] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        buf.push(u8::from(at.fid.is_some()));
        buf.extend_from_slice(&at.fid.unwrap_or(0).to_le_bytes());
        buf.extend_from_slice(&(text.len() as u64).to_le_bytes());
        buf.extend_from_slice(text.as_bytes());
        if buf.len() >= BUFFER {
            self.flush(b)?;
        }
        Ok(())
    }

    fn flush(&mut self, b: usize) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(tempfile::tempfile()?);
        }
        let file = self.file.as_mut().expect("created above");
        let buf = &mut self.buffers[b];
        file.write_all(buf)?;
        self.blocks[b].push((self.end, buf.len() as u32));
        self.end += buf.len() as u64;
        buf.clear();
        Ok(())
    }

    /// The bytes of bucket `b` (its buffer emptied) and its records, sorted by key and text, then by
    /// index.
    fn take(&mut self, b: usize) -> io::Result<(Vec<u8>, Vec<Entry>)> {
        let written: usize = self.blocks[b].iter().map(|&(_, len)| len as usize).sum();
        let mut bytes = Vec::with_capacity(written + self.buffers[b].len());
        for &(offset, len) in &self.blocks[b] {
            let start = bytes.len();
            bytes.resize(start + len as usize, 0);
            let file = self.file.as_ref().ok_or_else(|| io::Error::other("log file missing"))?;
            file.read_exact_at(&mut bytes[start..], offset)?;
        }
        bytes.append(&mut self.buffers[b]);
        self.buffers[b] = Vec::new();
        self.blocks[b] = Vec::new();
        let entries = parse(&bytes)?;
        let mut entries = entries;
        entries.sort_unstable_by(|x, y| {
            (x.key.cmp(&y.key))
                .then_with(|| bytes[x.text.clone()].cmp(&bytes[y.text.clone()]))
                .then(x.at.index.cmp(&y.at.index))
        });
        Ok((bytes, entries))
    }
}

/// The records of a bucket's bytes.
fn parse(bytes: &[u8]) -> io::Result<Vec<Entry>> {
    let bad = || io::Error::other("the id log is damaged");
    let mut out = Vec::new();
    let mut at = 0usize;
    let u64_at = |i: usize| -> io::Result<u64> {
        bytes.get(i..i + 8).map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes"))).ok_or_else(bad)
    };
    while at < bytes.len() {
        let key = u64_at(at)?;
        let index = u64_at(at + 8)? as usize;
        let pos = Pos { offset: u64_at(at + 16)?, line: u64_at(at + 24)?, line_start: u64_at(at + 32)? };
        let has_fid = *bytes.get(at + 40).ok_or_else(bad)? == 1;
        let fid = u64_at(at + 41)? as i64;
        let len = u64_at(at + 49)? as usize;
        let start = at + 57;
        let end = start.checked_add(len).filter(|&e| e <= bytes.len()).ok_or_else(bad)?;
        out.push(Entry { key, at: Logged { index, at: pos, fid: has_fid.then_some(fid) }, text: start..end });
        at = end;
    }
    Ok(out)
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
    /// The bits of the keys used (see [`Buckets::mask`]).
    mask: u64,
}

impl Default for IdLog {
    fn default() -> IdLog {
        IdLog::with_mask(u64::MAX)
    }
}

impl IdLog {
    fn with_mask(mask: u64) -> IdLog {
        IdLog { ids: Buckets::new(mask), failed: None, not_plain: false, mask }
    }

    /// Logs the id of a feature.
    pub(super) fn add(&mut self, id: &str, at: Logged) {
        if self.failed.is_some() {
            return;
        }
        self.not_plain |= !super::ids::plain(id);
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
        let mut skeletons = self.not_plain.then(|| Buckets::new(self.mask));
        for b in 0..BUCKETS {
            let (bytes, entries) = self.ids.take(b)?;
            let text = |e: &Entry| std::str::from_utf8(&bytes[e.text.clone()]).map_err(io::Error::other);
            let mut first: Option<&Entry> = None;
            for e in &entries {
                match first {
                    Some(f) if f.key == e.key && bytes[f.text.clone()] == bytes[e.text.clone()] => {
                        found.repeats.push(Repeat { id: text(e)?.to_string(), again: e.at, first: f.at });
                    }
                    _ => {
                        first = Some(e);
                        if let Some(s) = skeletons.as_mut() {
                            let id = text(e)?;
                            s.push(hash_of(|h| super::ids::skeleton(id.trim(), |c| c.hash(h))), e.at, id)?;
                        }
                    }
                }
            }
        }
        if let Some(mut s) = skeletons {
            for b in 0..BUCKETS {
                let (bytes, mut entries) = s.take(b)?;
                let text = |e: &Entry| std::str::from_utf8(&bytes[e.text.clone()]).map_err(io::Error::other);
                // Within one key, by skeleton (keys of different skeletons can be equal), then file order.
                let skeleton = |e: &Entry| -> io::Result<String> {
                    let mut out = String::new();
                    super::ids::skeleton(text(e)?.trim(), |c| out.push(c));
                    Ok(out)
                };
                let mut keyed = Vec::with_capacity(entries.len());
                for e in entries.drain(..) {
                    keyed.push((e.key, skeleton(&e)?, e));
                }
                keyed.sort_unstable_by(|x, y| (x.0, &x.1, x.2.at.index).cmp(&(y.0, &y.1, y.2.at.index)));
                let mut first: Option<&(u64, String, Entry)> = None;
                for k in &keyed {
                    match first {
                        Some(f) if f.0 == k.0 && f.1 == k.1 => {
                            let (id, earlier) = (text(&k.2)?, text(&f.2)?);
                            if !(super::ids::plain(id) && super::ids::plain(earlier)) {
                                found.look_alikes.push(LookAlike {
                                    id: id.to_string(),
                                    at: k.2.at,
                                    earlier: earlier.to_string(),
                                    first: f.2.at,
                                });
                            }
                        }
                        _ => first = Some(k),
                    }
                }
            }
        }
        found.repeats.sort_unstable_by_key(|r| r.again.index);
        found.look_alikes.sort_unstable_by_key(|l| l.at.index);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::{IdLog, Logged, Pos};

    fn at(i: usize) -> Logged {
        Logged { index: i, at: Pos { offset: i as u64 * 10 + 3, line: i as u64, line_start: i as u64 * 10 }, fid: None }
    }

    #[test]
    fn repeats_are_exact_despite_short_hashes_and_found_with_their_first_use() {
        // Keys of 8 bits: every id shares its key with hundreds of others, and the log goes to its file
        // (about 2 MB of records); none may be taken for a repeat, and every repeat is found with the
        // feature it was first used in, in file order.
        let mut log = IdLog::with_mask(0xFF);
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
        let got: Vec<_> = found.repeats.iter().map(|r| (r.id.clone(), r.again.index, r.first.index)).collect();
        assert_eq!(got, want);
        assert_eq!(found.repeats[0].first, at(0));
        assert!(found.look_alikes.is_empty());
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
        let got: Vec<_> =
            found.look_alikes.iter().map(|l| (l.id.as_str(), l.at.index, l.earlier.as_str(), l.first.index)).collect();
        // Plain look-alikes (`site1`, `sitel`) are told apart by a reader; a Cyrillic е is like the first id
        // with its skeleton; white space around an id is not plain. Repeats are not look-alikes.
        assert_eq!(got, [("sitе1", 4, "site1", 0), ("m-7 ", 7, "rn-7", 2)]);
        let repeats: Vec<_> = found.repeats.iter().map(|r| (r.id.as_str(), r.again.index, r.first.index)).collect();
        assert_eq!(repeats, [("sitel", 6, 1), ("rn-7", 8, 2)]);
    }

    #[test]
    fn plain_ids_are_not_looked_at_for_look_alikes() {
        let mut log = IdLog::default();
        for (i, id) in ["site1", "sitel", "rn", "m"].iter().enumerate() {
            log.add(id, at(i));
        }
        assert!(!log.not_plain);
        assert!(log.finish().expect("log").look_alikes.is_empty());
    }
}
