//! Where a raster's bytes come from: a file on this machine or an `http(s)://` URL read with range requests.
//!
//! The GeoTIFF reader sees both through [`ByteSource`] (positioned reads, so threads share one source
//! without seeking) and, for the `tiff` crate's decoder, through [`SourceReader`] (`Read + Seek`). A
//! reader works in two modes:
//!
//! - **header mode**, for the directory and tag values: reads go through the source's page cache
//!   ([`ByteSource::read_page`]), so the many small reads of parsing a TIFF directory cost one request
//!   per 64 KiB page over HTTP (the header of a Cloud-Optimized GeoTIFF sits in its first pages);
//! - **chunk mode** ([`SourceReader::load_chunk`]): exactly the bytes of one strip or tile are read in one
//!   positioned read (one range request), and the reader ends there: a decoder that asks for more bytes
//!   than the strip or tile holds meets the end of the stream and fails, instead of reading the next
//!   chunk's bytes as if they were pixels.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

/// Bytes of a page of the header cache.
pub const PAGE: u64 = 64 * 1024;

/// Random-access bytes of one raster.
pub trait ByteSource: Send + Sync {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads exactly `buf.len()` bytes at `offset` (the caller keeps within [`ByteSource::len`]).
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Page `index` (bytes `index · PAGE ..`, shorter at the end), cached for header reads.
    fn read_page(&self, index: u64) -> io::Result<Arc<Vec<u8>>>;
    /// Bytes requested so far (for the manifest and tests).
    fn bytes_read(&self) -> u64;
    /// Requests made so far (HTTP sources; 0 for files).
    fn requests(&self) -> u64 {
        0
    }
}

/// A small cache of header pages (the directory, tag arrays), shared by all decoders of a source.
#[derive(Default)]
pub struct PageCache {
    pages: Mutex<Vec<(u64, Arc<Vec<u8>>)>>,
}

/// Header pages kept per source (32 MiB: the tile tables of rasters with millions of tiles).
const MAX_PAGES: usize = 512;

impl PageCache {
    pub fn get_or_load(&self, index: u64, load: impl FnOnce() -> io::Result<Vec<u8>>) -> io::Result<Arc<Vec<u8>>> {
        {
            let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, p)) = pages.iter().find(|(i, _)| *i == index) {
                return Ok(p.clone());
            }
        }
        let page = Arc::new(load()?);
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if !pages.iter().any(|(i, _)| *i == index) {
            if pages.len() >= MAX_PAGES {
                pages.remove(0);
            }
            pages.push((index, page.clone()));
        }
        Ok(page)
    }
}

/// A local file, read with positioned reads (`pread`).
pub struct FileSource {
    file: std::fs::File,
    len: u64,
    pages: PageCache,
    read: std::sync::atomic::AtomicU64,
}

impl FileSource {
    pub fn open(path: &std::path::Path) -> io::Result<FileSource> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        Ok(FileSource { file, len, pages: PageCache::default(), read: Default::default() })
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.read.fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.file.read_exact_at(buf, offset)
    }

    fn read_page(&self, index: u64) -> io::Result<Arc<Vec<u8>>> {
        self.pages.get_or_load(index, || {
            let start = index * PAGE;
            let mut v = vec![0; PAGE.min(self.len.saturating_sub(start)) as usize];
            self.read_exact_at(start, &mut v)?;
            Ok(v)
        })
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// `Read + Seek` over a [`ByteSource`] for the `tiff` crate (see the module doc for its two modes).
pub struct SourceReader {
    source: Arc<dyn ByteSource>,
    pos: u64,
    /// Chunk mode: the chunk's first byte and its bytes.
    chunk: Option<(u64, Vec<u8>)>,
}

impl SourceReader {
    pub fn new(source: Arc<dyn ByteSource>) -> SourceReader {
        SourceReader { source, pos: 0, chunk: None }
    }

    /// Reads bytes `offset .. offset + len` in one positioned read and enters chunk mode.
    pub fn load_chunk(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let mut buf = self.chunk.take().map(|(_, b)| b).unwrap_or_default();
        buf.clear();
        buf.resize(len as usize, 0);
        self.source.read_exact_at(offset, &mut buf)?;
        self.chunk = Some((offset, buf));
        self.pos = offset;
        Ok(())
    }

    /// Back to header mode (keeps the chunk buffer's allocation out of the way).
    pub fn end_chunk(&mut self) {
        self.chunk = None;
    }
}

impl Read for SourceReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some((start, bytes)) = &self.chunk {
            // Chunk mode: the stream ends where the chunk does.
            let end = start + bytes.len() as u64;
            if self.pos < *start || self.pos >= end {
                return Ok(0);
            }
            let from = (self.pos - start) as usize;
            let n = out.len().min(bytes.len() - from);
            out[..n].copy_from_slice(&bytes[from..from + n]);
            self.pos += n as u64;
            return Ok(n);
        }
        if self.pos >= self.source.len() || out.is_empty() {
            return Ok(0);
        }
        let page = self.source.read_page(self.pos / PAGE)?;
        let from = (self.pos % PAGE) as usize;
        if from >= page.len() {
            return Ok(0);
        }
        let n = out.len().min(page.len() - from);
        out[..n].copy_from_slice(&page[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SourceReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let next = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.source.len().checked_add_signed(d),
        };
        self.pos = next.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_reads_go_through_pages_and_chunk_reads_stop_at_the_chunk_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.bin");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let src: Arc<dyn ByteSource> = Arc::new(FileSource::open(&p).unwrap());
        let mut r = SourceReader::new(src.clone());
        r.seek(SeekFrom::Start(PAGE - 3)).unwrap();
        let mut b = [0u8; 10];
        r.read_exact(&mut b).unwrap();
        assert_eq!(&b[..], &data[PAGE as usize - 3..PAGE as usize + 7]);
        assert_eq!(src.bytes_read(), 2 * PAGE, "two whole pages");
        r.seek(SeekFrom::Start(5)).unwrap();
        r.read_exact(&mut b).unwrap();
        assert_eq!(src.bytes_read(), 2 * PAGE, "page 0 came from the cache");

        r.load_chunk(1000, 20).unwrap();
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, &data[1000..1020]);
        r.seek(SeekFrom::Start(1010)).unwrap();
        assert!(r.read_exact(&mut [0u8; 11]).is_err(), "reading past the chunk's end fails");
        r.end_chunk();
        r.seek(SeekFrom::Start(1010)).unwrap();
        r.read_exact(&mut [0u8; 11]).unwrap();
    }
}
