//! The decoded-chunk cache shared by all threads, and how big it should be.
//!
//! A bounded least-recently-used map from (raster, chunk column, chunk row, band) to the decoded chunk.
//! Two threads asking for the same missing chunk do not both decode it: the first decodes while the
//! second waits on that entry's lock. The cache counts decodes and the distinct chunks decoded, so a
//! run reports how many times each chunk was decoded on average (1.0 is ideal).
//!
//! Size ([`default_budget`]): sites are visited along a space-filling curve (see [`super::order`]), so
//! the chunks in use at any time are those around a moving point; the budget holds a band of chunks
//! ([`WORKING_SET_CHUNKS`] per raster read together) when the machine has that memory available,
//! at least [`MIN_BUDGET`], at most half the available memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::geotiff::{Chunk, GeoTiff, RasterError};

/// (raster id, chunk column, chunk row, band).
type ChunkKey = (usize, u32, u32, u16);

/// One entry: filled once decoded; its own lock makes a second reader wait for the first decode.
type Slot = Arc<Mutex<Option<Arc<Chunk>>>>;

/// A bounded least-recently-used cache of decoded chunks, shared by all threads.
pub struct ChunkCache {
    inner: Mutex<CacheInner>,
    capacity_bytes: usize,
}

struct CacheInner {
    /// Slot, its size in bytes once filled, and the tick of its last use.
    map: HashMap<ChunkKey, (Slot, usize, u64)>,
    bytes: usize,
    tick: u64,
    hits: u64,
    misses: u64,
    distinct: HashSet<ChunkKey>,
}

/// What the cache did in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CacheStats {
    pub hits: u64,
    /// Chunk decodes.
    pub decoded: u64,
    /// Distinct chunks decoded at least once.
    pub distinct: u64,
}

impl CacheStats {
    /// Decodes per distinct chunk (1.0 when every chunk was decoded once).
    pub fn decodes_per_chunk(&self) -> f64 {
        if self.distinct == 0 {
            0.0
        } else {
            self.decoded as f64 / self.distinct as f64
        }
    }
}

impl ChunkCache {
    pub fn new(capacity_bytes: usize) -> ChunkCache {
        ChunkCache {
            inner: Mutex::new(CacheInner {
                map: HashMap::new(),
                bytes: 0,
                tick: 0,
                hits: 0,
                misses: 0,
                distinct: HashSet::new(),
            }),
            capacity_bytes,
        }
    }

    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The chunk, from the cache or decoded now.
    pub fn get(&self, r: &GeoTiff, cx: u32, cy: u32, band: u16) -> Result<Arc<Chunk>, RasterError> {
        let key = (r.id, cx, cy, band);
        let slot = {
            let mut c = self.lock();
            c.tick += 1;
            let tick = c.tick;
            let slot = c.map.entry(key).or_insert_with(|| (Arc::new(Mutex::new(None)), 0, tick));
            slot.2 = tick;
            slot.0.clone()
        };
        let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(chunk) = guard.as_ref() {
            let chunk = chunk.clone();
            drop(guard);
            self.lock().hits += 1;
            return Ok(chunk);
        }
        let decoded = r.decode_chunk(cx, cy, band);
        let mut c = self.lock();
        let chunk = match decoded {
            Ok(chunk) => Arc::new(chunk),
            Err(e) => {
                // Forget the empty slot (if it is still this one) so a later call tries again.
                if c.map.get(&key).is_some_and(|s| Arc::ptr_eq(&s.0, &slot)) {
                    c.map.remove(&key);
                }
                return Err(e);
            }
        };
        *guard = Some(chunk.clone());
        drop(guard);
        c.misses += 1;
        c.distinct.insert(key);
        let size = chunk.values.bytes();
        match c.map.get_mut(&key) {
            Some(s) if Arc::ptr_eq(&s.0, &slot) => {
                s.1 = size;
                c.bytes += size;
            }
            // Evicted while decoding: keep it, it is the freshest chunk.
            _ => {
                let tick = c.tick;
                c.map.insert(key, (slot.clone(), size, tick));
                c.bytes += size;
            }
        }
        while c.bytes > self.capacity_bytes && c.map.len() > 1 {
            // Evict the least recently used filled entry (empty ones are being decoded right now).
            let oldest = c.map.iter().filter(|(k, v)| **k != key && v.1 > 0).min_by_key(|(_, v)| v.2).map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    if let Some((_, size, _)) = c.map.remove(&k) {
                        c.bytes -= size;
                    }
                }
                None => break,
            }
        }
        Ok(chunk)
    }

    pub fn stats(&self) -> CacheStats {
        let c = self.lock();
        CacheStats { hits: c.hits, decoded: c.misses, distinct: c.distinct.len() as u64 }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Chunks per raster the default budget aims to hold.
pub const WORKING_SET_CHUNKS: u64 = 1024;
/// The smallest default budget.
pub const MIN_BUDGET: u64 = 256 << 20;

/// Memory available to this process (Linux `MemAvailable`, bounded by a cgroup limit when there is one).
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let mut avail = kb * 1024;
    for limit in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
        if let Some(l) = std::fs::read_to_string(limit).ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            avail = avail.min(l);
        }
    }
    Some(avail)
}

/// The default cache budget for these rasters (module doc): per raster read in the run, the smaller
/// of the whole decoded raster and [`WORKING_SET_CHUNKS`] of its largest chunks; at least
/// [`MIN_BUDGET`], at most half of `available` memory.
pub fn default_budget<'a>(rasters: impl IntoIterator<Item = (&'a GeoTiff, u16)>, available: Option<u64>) -> usize {
    let mut want = 0u64;
    for (r, bands) in rasters {
        let planes = u64::from(bands.max(1));
        let chunks = u64::from(r.chunks_across()) * u64::from(r.chunks_down());
        let chunk_bytes = u64::from(r.chunk_width) * u64::from(r.chunk_height) * cached_bytes(r);
        want += chunks.min(WORKING_SET_CHUNKS) * chunk_bytes * planes;
    }
    let want = want.max(MIN_BUDGET);
    let cap = available.map(|a| a / 2).unwrap_or(u64::MAX).max(64 << 20);
    want.min(cap).min(usize::MAX as u64) as usize
}

/// Bytes a cached sample takes (see [`super::geotiff::Values`]).
fn cached_bytes(r: &GeoTiff) -> u64 {
    use super::geotiff::SampleType::*;
    match r.sample {
        U8 => 1,
        I8 | U16 | I16 | F32 => 4,
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::geotiff::{write, Compress, Layout, Samples, Transform, WriteSpec};

    fn raster(dir: &std::path::Path) -> GeoTiff {
        let (w, h) = (64u32, 64u32);
        let p = dir.join("c.tif");
        let spec = WriteSpec {
            width: w,
            height: h,
            bands: vec![Samples::U8(vec![3; (w * h) as usize])],
            layout: Layout::Tiles { width: 16, height: 16 },
            compress: Compress::Deflate,
            transform: Transform { x0: -48.0, dx: 0.001, y0: -15.0, dy: -0.001 },
            nodata: None,
            epsg: 4326,
        };
        write(&p, &spec).unwrap();
        GeoTiff::open(&p, 0).unwrap()
    }

    #[test]
    fn cache_stays_within_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let r = raster(dir.path());
        let cache = ChunkCache::new(3 * 16 * 16);
        for cy in 0..4 {
            for cx in 0..4 {
                cache.get(&r, cx, cy, 0).unwrap();
            }
        }
        cache.get(&r, 3, 3, 0).unwrap();
        cache.get(&r, 0, 0, 0).unwrap();
        let s = cache.stats();
        assert_eq!((s.hits, s.decoded, s.distinct), (1, 17, 16));
        assert!(cache.bytes() <= 3 * 16 * 16);
    }

    #[test]
    fn threads_asking_for_the_same_chunk_decode_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let r = raster(dir.path());
        let cache = ChunkCache::new(1 << 20);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for cx in 0..4 {
                        cache.get(&r, cx, 1, 0).unwrap();
                    }
                });
            }
        });
        let s = cache.stats();
        assert_eq!((s.decoded, s.distinct, s.hits), (4, 4, 28));
        assert_eq!(s.decodes_per_chunk(), 1.0);
    }

    #[test]
    fn the_default_budget_follows_the_layout_and_the_memory() {
        let dir = tempfile::tempdir().unwrap();
        let r = raster(dir.path());
        // A small raster: the floor.
        assert_eq!(default_budget([(&r, 1)], Some(64 << 30)), MIN_BUDGET as usize);
        // Little memory: half of it.
        assert_eq!(default_budget([(&r, 1)], Some(300 << 20)), 150 << 20);
    }
}
