//! Spill files: an append-only anonymous temporary file of byte records read back by position, and the
//! compact encoding of a [`Site`] in one. The local engine keeps every site of a run in one (memory ~32
//! bytes per site), a streaming zonal run keeps the sites of its chunks in one, to rebuild a request's
//! body when it is sent, and streamed image exports `per: site` keep their sites in one
//! ([`crate::plan::image_stream`]).
//!
//! The file is unlinked as soon as it is created, so nothing is left behind even after `kill -9`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde_json::{Map, Value};

use super::Site;

/// Where one record lies in a spill file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    pub offset: u64,
    pub len: u32,
}

/// An append-only anonymous file of byte records, read back by position.
pub struct Spill {
    out: Option<BufWriter<File>>,
    file: Option<File>,
    end: u64,
}

impl Spill {
    pub fn new(dir: &Path) -> io::Result<Spill> {
        Spill::with_buffer(dir, 1 << 20)
    }

    /// A spill whose writes are buffered `bytes` at a time (0: records written as they come, for callers
    /// that push whole blocks).
    pub fn with_buffer(dir: &Path, bytes: usize) -> io::Result<Spill> {
        let f = tempfile::tempfile_in(dir)?;
        Ok(Spill { out: Some(BufWriter::with_capacity(bytes, f)), file: None, end: 0 })
    }

    pub fn push(&mut self, bytes: &[u8]) -> io::Result<Slot> {
        let out = self.out.as_mut().ok_or_else(|| io::Error::other("spill file closed"))?;
        out.write_all(bytes)?;
        let slot = Slot { offset: self.end, len: bytes.len() as u32 };
        self.end += bytes.len() as u64;
        Ok(slot)
    }

    /// Flushes pending writes so records can be read.
    pub fn seal(&mut self) -> io::Result<()> {
        if let Some(out) = self.out.take() {
            let f = out.into_inner().map_err(|e| e.into_error())?;
            self.file = Some(f);
        }
        Ok(())
    }

    pub fn read(&self, slot: Slot, buf: &mut Vec<u8>) -> io::Result<()> {
        let f = self.file.as_ref().ok_or_else(|| io::Error::other("spill file not sealed"))?;
        buf.clear();
        buf.resize(slot.len as usize, 0);
        f.read_exact_at(buf, slot.offset)
    }
}

/// Sites spilled by their index in the site file (only those pushed can be read).
pub struct SpilledSites {
    spill: Spill,
    /// Each kept site's record length, by slot: in push order while pushing, in file order once sealed.
    lens: Lens,
    /// The file index of each slot, as runs of consecutive indices: (first file index, first slot) where
    /// a run starts. A plan that computes every site is one run, so a site costs the 2 bytes of its length
    /// (and its share of [`Offsets`]) rather than the 8 of an (index, length) pair.
    runs: Vec<(u32, u32)>,
    /// Where the records lie (see [`Offsets`]).
    offsets: Offsets,
    /// Every push so far came in increasing file index order.
    ascending: bool,
}

/// Where each kept site's record starts in the spill file.
enum Offsets {
    /// Sites pushed in file order (a plan's first run): the offset of every [`EVERY`]th slot; the others are
    /// found by adding the lengths since (records are written one after the other). A quarter byte a site.
    Every(Vec<u64>),
    /// Sites pushed in any other order: the offset of each slot once sealed (8 bytes a site).
    Each(Vec<u64>),
}

/// Slots between two kept offsets of [`Offsets::Every`].
const EVERY: usize = 32;

/// The record length of each slot in 2 bytes; the rare record of 65,535 bytes or more (a polygon of over
/// 4,000 vertices) has its length in a list beside, by slot. A million sites take 2 MB, not 4.
#[derive(Debug, Default)]
struct Lens {
    short: Vec<u16>,
    /// (slot, length) of the records whose `short` length is `u16::MAX`, by slot.
    long: Vec<(u32, u32)>,
}

impl Lens {
    /// Adds the length of the next slot.
    fn push(&mut self, len: u32) {
        match u16::try_from(len) {
            Ok(l) if l < u16::MAX => self.short.push(l),
            _ => {
                self.long.push((self.short.len() as u32, len));
                self.short.push(u16::MAX);
            }
        }
    }

    /// The length of slot `slot`.
    fn get(&self, slot: usize) -> u32 {
        match self.short[slot] {
            u16::MAX => {
                let k = self.long.binary_search_by_key(&(slot as u32), |e| e.0);
                k.map_or(u32::from(u16::MAX), |k| self.long[k].1)
            }
            l => u32::from(l),
        }
    }

    /// The lengths of slots `from..to` added up.
    fn sum(&self, from: usize, to: usize) -> u64 {
        (from..to).map(|k| u64::from(self.get(k))).sum()
    }

    fn len(&self) -> usize {
        self.short.len()
    }

    fn shrink_to_fit(&mut self) {
        self.short.shrink_to_fit();
        self.long.shrink_to_fit();
    }
}

impl SpilledSites {
    pub fn new(dir: &Path) -> io::Result<SpilledSites> {
        Ok(SpilledSites {
            spill: Spill::new(dir)?,
            lens: Lens::default(),
            runs: Vec::new(),
            offsets: Offsets::Every(Vec::new()),
            ascending: true,
        })
    }

    /// Keeps `site` (under its file index).
    pub fn push(&mut self, site: &Site, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        encode_site(site, buf);
        let slot = self.spill.push(buf)?;
        let index = site.index as u32;
        let n = self.lens.len() as u32;
        match self.runs.last() {
            // The next index of the last run: the run goes on.
            Some(&(first, at)) if index.checked_sub(first) == Some(n - at) => {}
            last => {
                if last.is_some_and(|&(first, at)| index < first.saturating_add(n - at)) {
                    self.ascending = false;
                }
                self.runs.push((index, n));
            }
        }
        if let Offsets::Every(every) = &mut self.offsets {
            if self.lens.len() % EVERY == 0 {
                every.push(slot.offset);
            }
        }
        self.lens.push(slot.len);
        Ok(())
    }

    /// Makes the sites readable (no more pushes). A site pushed twice is read as pushed last.
    pub fn seal(&mut self) -> io::Result<()> {
        if !self.ascending {
            // Records lie one after the other in push order: each one's index and offset, then sorted by file
            // index (stable: among equal indices the last pushed stays last, and is the one kept).
            let mut at = 0u64;
            let lens = std::mem::take(&mut self.lens);
            let mut all: Vec<(u32, u32, u64)> = Vec::with_capacity(lens.len());
            for (r, &(first, from)) in self.runs.iter().enumerate() {
                let to = self.runs.get(r + 1).map_or(lens.len(), |e| e.1 as usize);
                for (k, slot) in (from as usize..to).enumerate() {
                    let len = lens.get(slot);
                    all.push((first + k as u32, len, at));
                    at += u64::from(len);
                }
            }
            drop(lens);
            all.sort_by_key(|e| e.0);
            all.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    *kept = *later;
                }
                same
            });
            self.runs.clear();
            for (n, &(index, _, _)) in all.iter().enumerate() {
                let n = n as u32;
                if self.runs.last().is_none_or(|&(first, at)| index.checked_sub(first) != Some(n - at)) {
                    self.runs.push((index, n));
                }
            }
            for e in &all {
                self.lens.push(e.1);
            }
            self.offsets = Offsets::Each(all.iter().map(|e| e.2).collect());
        }
        self.lens.shrink_to_fit();
        self.runs.shrink_to_fit();
        let (Offsets::Every(v) | Offsets::Each(v)) = &mut self.offsets;
        v.shrink_to_fit();
        self.spill.seal()
    }

    /// The slot of file index `index`, if it was kept (once sealed).
    fn slot_of(&self, index: u32) -> Option<usize> {
        let r = self.runs.partition_point(|&(first, _)| first <= index).checked_sub(1)?;
        let (first, at) = self.runs[r];
        let end = self.runs.get(r + 1).map_or(self.lens.len(), |e| e.1 as usize);
        let slot = at as usize + (index - first) as usize;
        (slot < end).then_some(slot)
    }

    /// The site in slot `at`.
    fn read(&self, at: usize) -> io::Result<Site> {
        let offset = match &self.offsets {
            Offsets::Each(v) => v[at],
            Offsets::Every(v) => {
                let from = at / EVERY * EVERY;
                v[at / EVERY] + self.lens.sum(from, at)
            }
        };
        let mut buf = Vec::new();
        self.spill.read(Slot { offset, len: self.lens.get(at) }, &mut buf)?;
        decode_site(&buf).ok_or_else(|| io::Error::other("a spilled site could not be read back"))
    }

    /// The site with file index `index`, if it was kept.
    pub fn get(&self, index: u32) -> io::Result<Option<Site>> {
        match self.slot_of(index) {
            Some(at) => self.read(at).map(Some),
            None => Ok(None),
        }
    }

    /// The `n`-th kept site in file order (once sealed).
    pub fn nth(&self, n: usize) -> io::Result<Option<Site>> {
        if n >= self.lens.len() {
            return Ok(None);
        }
        self.read(n).map(Some)
    }

    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.len() == 0
    }
}

/// A little-endian byte writer/reader pair for the spill records.
pub struct Enc<'a>(pub &'a mut Vec<u8>);

impl Enc<'_> {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
}

pub struct Dec<'a>(pub &'a [u8]);

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    pub fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub fn encode_site(site: &Site, out: &mut Vec<u8>) {
    let mut e = Enc(out);
    e.bytes(site.id.as_bytes());
    let props = serde_json::to_vec(&site.properties).unwrap_or_default();
    e.bytes(&props);
    e.u8(u8::from(site.multi));
    e.u64(site.index as u64);
    e.u32(site.polygons.len() as u32);
    for poly in &site.polygons {
        e.u32(poly.len() as u32);
        for ring in poly {
            e.u32(ring.len() as u32);
            for p in ring {
                e.f64(p[0]);
                e.f64(p[1]);
            }
        }
    }
}

pub fn decode_site(b: &[u8]) -> Option<Site> {
    let mut d = Dec(b);
    let id = String::from_utf8(d.bytes()?.to_vec()).ok()?;
    let properties: Map<String, Value> = serde_json::from_slice(d.bytes()?).ok()?;
    let multi = d.u8()? != 0;
    let index = d.u64()? as usize;
    let npoly = d.u32()? as usize;
    let mut polygons = Vec::with_capacity(npoly.min(1 << 16));
    for _ in 0..npoly {
        let nring = d.u32()? as usize;
        let mut poly = Vec::with_capacity(nring.min(1 << 16));
        for _ in 0..nring {
            let n = d.u32()? as usize;
            let mut ring = Vec::with_capacity(n.min(1 << 20));
            for _ in 0..n {
                ring.push([d.f64()?, d.f64()?]);
            }
            poly.push(ring);
        }
        polygons.push(poly);
    }
    Some(Site { id, properties, polygons, multi, index })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_round_trip_through_the_spill_encoding() {
        let mut properties = Map::new();
        properties.insert("name".into(), Value::from("Fazenda São João"));
        properties.insert("planted".into(), Value::from(2015));
        let site = Site {
            id: "a-1".into(),
            properties,
            polygons: vec![
                vec![vec![[1.5, 2.0], [3.0, 2.0], [3.0, 4.25], [1.5, 2.0]]],
                vec![vec![[-10.0, 0.1], [-9.0, 0.1], [-9.0, 0.2], [-10.0, 0.1]], vec![]],
            ],
            multi: true,
            index: 42,
        };
        let mut buf = Vec::new();
        encode_site(&site, &mut buf);
        assert_eq!(decode_site(&buf), Some(site));
        assert_eq!(decode_site(&buf[..buf.len() - 1]), None);
    }

    #[test]
    fn spilled_sites_are_read_back_by_file_index_in_any_push_order() {
        let site = |index: usize, id: &str| Site {
            id: id.into(),
            properties: Map::new(),
            polygons: vec![vec![vec![[index as f64, 0.0], [1.0, 0.0], [1.0, 1.0], [index as f64, 0.0]]]],
            multi: false,
            index,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut spill = SpilledSites::new(dir.path()).unwrap();
        let mut buf = Vec::new();
        for (i, id) in [(7, "g"), (2, "b"), (9, "i"), (2, "b again"), (0, "a")] {
            spill.push(&site(i, id), &mut buf).unwrap();
        }
        spill.seal().unwrap();
        assert_eq!(spill.len(), 4);
        for (i, id) in [(0, "a"), (2, "b again"), (7, "g"), (9, "i")] {
            assert_eq!(spill.get(i as u32).unwrap(), Some(site(i, id)), "site {i}");
        }
        assert_eq!(spill.get(1).unwrap(), None);
        assert_eq!(spill.get(10).unwrap(), None);
        assert_eq!(spill.nth(1).unwrap(), Some(site(2, "b again")));
        assert_eq!(spill.runs, [(0, 0), (2, 1), (7, 2), (9, 3)]);
    }

    #[test]
    fn records_too_long_for_two_bytes_are_read_back_whole() {
        // Sites of 4,100 vertices (65,600 bytes of coordinates) among small ones, in file order and not.
        let site = |index: usize| Site {
            id: format!("s{index}"),
            properties: Map::new(),
            polygons: vec![vec![vec![[index as f64, 0.5]; if index % 3 == 1 { 4100 } else { 4 }]]],
            multi: false,
            index,
        };
        let dir = tempfile::tempdir().unwrap();
        for order in [(0..70).collect::<Vec<usize>>(), (0..70).rev().collect()] {
            let mut spill = SpilledSites::new(dir.path()).unwrap();
            let mut buf = Vec::new();
            for &i in &order {
                spill.push(&site(i), &mut buf).unwrap();
            }
            spill.seal().unwrap();
            assert_eq!(spill.lens.long.len(), (0..70).filter(|i| i % 3 == 1).count());
            for i in 0..70 {
                assert_eq!(spill.get(i as u32).unwrap(), Some(site(i)), "site {i}");
                assert_eq!(spill.nth(i).unwrap(), Some(site(i)), "slot {i}");
            }
        }
    }

    #[test]
    fn sites_pushed_in_file_order_are_found_between_kept_offsets() {
        // More than one stretch of EVERY slots, sites of different lengths, some indices skipped.
        let site = |index: usize| Site {
            id: format!("s{index}"),
            properties: Map::new(),
            polygons: vec![vec![vec![[0.0, 0.0]; 3 + index % 5]]],
            multi: false,
            index,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut spill = SpilledSites::new(dir.path()).unwrap();
        let mut buf = Vec::new();
        let kept: Vec<usize> = (0..200).filter(|i| i % 7 != 3).collect();
        for &i in &kept {
            spill.push(&site(i), &mut buf).unwrap();
        }
        spill.seal().unwrap();
        assert!(matches!(spill.offsets, Offsets::Every(_)), "pushed in file order");
        assert_eq!(spill.len(), kept.len());
        // A run of consecutive indices from the start and after each skipped one (199, the last, is skipped):
        // a site's length alone, no index beside it.
        assert_eq!(spill.runs.len(), 1 + (0..199).filter(|i| i % 7 == 3).count());
        for i in 0..201 {
            let want = kept.contains(&i).then(|| site(i));
            assert_eq!(spill.get(i as u32).unwrap(), want, "site {i}");
        }
        for (n, &i) in kept.iter().enumerate() {
            assert_eq!(spill.nth(n).unwrap(), Some(site(i)), "slot {n}");
        }
        assert_eq!(spill.nth(kept.len()).unwrap(), None);
    }
}
