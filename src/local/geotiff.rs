//! GeoTIFF and Cloud-Optimized GeoTIFF reading for the local engine (a small writer for tests, the demo and
//! the benchmark is in [`write`]).
//!
//! (Over 600 lines: opening a raster is one sequence of checks against the file — georeferencing, sample
//! type, every strip or tile's bounds and expansion — that must all pass before any pixel is read.)
//!
//! The header is parsed by the pure-Rust `tiff` crate, and pixels are decoded by it one strip or tile
//! ("chunk") at a time: the engine only asks for the chunks a site's window touches, and a bounded
//! [`super::cache::ChunkCache`] keeps decoded chunks for neighbouring sites. Bytes come from a
//! [`ByteSource`] (a file, or an `http(s)://` URL read with range requests). Georeferencing is read here:
//!
//! - ModelPixelScale (33550) + ModelTiepoint (33922), or ModelTransformation (34264) without rotation;
//! - the GeoKeys (34735/34736/34737, see [`super::geokeys`]); PixelIsPoint shifts the origin by half a
//!   pixel, as GDAL does;
//! - GDAL_NODATA (42113), an ASCII number (or `nan`), compared with pixels **in the raster's own sample
//!   type** (a float32 raster's nodata `-9999.9` is the float32 nearest to it; an integer raster's
//!   non-integer or out-of-range nodata matches no pixel), as GDAL does.
//!
//! Every raster is read correctly or refused: before any pixel is read, [`GeoTiff::open`] checks each
//! strip or tile against the file: it must lie inside the file, an uncompressed one must hold all its
//! pixels' bytes, and a compressed one cannot claim more pixels than its bytes can expand to (Deflate
//! expands at most 1032:1, LZW ~4096:1, PackBits 64:1). So a header claiming 10⁶ × 10⁶ pixels in a
//! 100-byte strip is refused instead of allocating a terabyte. A decoder reading past a chunk's last
//! byte meets the end of the stream (see [`super::source`]) and the read fails. Strips and tiles of
//! byte count 0 are "sparse" (GDAL's `SPARSE_OK`) and read as nodata (0 without nodata), as GDAL does.
//!
//! Supported: striped and tiled, uncompressed / LZW / Deflate / PackBits (with or without predictor),
//! 8/16/32/64-bit integers and 32/64-bit floats, chunky or planar multi-band; any coordinate system
//! [`super::rastercrs`] can read from the GeoKeys.

mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tiff::decoder::{ChunkType, Decoder, DecodingResult, Limits};
use tiff::tags::Tag;

pub use super::geokeys::GeoKeys;
use super::source::{ByteSource, FileSource, SourceReader};
use crate::crs::Crs;
pub use write::{patch_tag, write, write_with, Compress, Layout, Samples, WriteError, WriteSpec};

/// Why a raster cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    #[error("cannot open raster `{path}`: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("`{path}` is not a TIFF the local engine can read: {message}")]
    Tiff { path: PathBuf, message: String },
    #[error("`{path}` has no georeferencing (no ModelPixelScale + ModelTiepoint or ModelTransformation tags)")]
    NoGeoreference { path: PathBuf },
    #[error("`{path}` has no coordinate reference system (no GeoKeyDirectory tag)")]
    NoCrs { path: PathBuf },
    /// Its coordinate system cannot be used.
    #[error("`{path}`: {message}")]
    Crs { path: PathBuf, message: String, help: String },
    /// A site that overlaps the raster cannot be projected into its coordinate system.
    #[error("site `{site}` cannot be placed in `{path}`: {message}")]
    Project { path: PathBuf, site: String, message: String },
    #[error("`{path}`: {message}")]
    Unsupported { path: PathBuf, message: String },
    /// The file contradicts itself or is cut short: refused rather than read wrongly.
    #[error("`{path}` is damaged: {message}")]
    Damaged { path: PathBuf, message: String },
    /// Reading failed in the middle of a run (disk or network).
    #[error("reading `{path}` failed: {message}")]
    Read { path: PathBuf, message: String },
}

impl RasterError {
    /// What the user can do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            RasterError::Open { path, .. } if super::http::is_url(&path.to_string_lossy()) => {
                Some("check the URL and that the server answers range requests (`curl -r 0-99 URL`)".into())
            }
            RasterError::Open { .. } => {
                Some("check the layer's `local:` path template (it is relative to the pipeline file)".into())
            }
            RasterError::Crs { help, .. } if !help.is_empty() => Some(help.clone()),
            RasterError::Project { .. } => {
                Some("check the site's coordinates: they are WGS 84 longitude/latitude in degrees".into())
            }
            RasterError::NoGeoreference { .. } | RasterError::NoCrs { .. } => Some(
                "write the raster with GDAL (`gdal_translate -a_srs EPSG:4326 ...`) so it carries its georeferencing"
                    .into(),
            ),
            RasterError::Damaged { .. } => Some(
                "download or export the raster again; `gdalinfo -checksum file.tif` shows whether GDAL can read it"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Pixel grid: `x = x0 + col · dx`, `y = y0 + row · dy` at the cell's top-left corner (dy < 0 for north-up
/// rasters), in the raster's coordinate system (degrees or metres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub x0: f64,
    pub dx: f64,
    pub y0: f64,
    pub dy: f64,
}

impl Transform {
    /// Continuous cell coordinates `[col, row]` of an `[x, y]` point.
    pub fn to_cell(&self, p: [f64; 2]) -> [f64; 2] {
        [(p[0] - self.x0) / self.dx, (p[1] - self.y0) / self.dy]
    }
}

/// The raster's sample type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl SampleType {
    fn from_tags(format: u16, bits: u16) -> Option<SampleType> {
        use SampleType::*;
        Some(match (format, bits) {
            (1, 8) => U8,
            (2, 8) => I8,
            (1, 16) => U16,
            (2, 16) => I16,
            (1, 32) => U32,
            (2, 32) => I32,
            (1, 64) => U64,
            (2, 64) => I64,
            (3, 32) => F32,
            (3, 64) => F64,
            _ => return None,
        })
    }

    /// `uint8`, `float32`, ... (GDAL's names in lower case).
    pub fn name(self) -> &'static str {
        use SampleType::*;
        match self {
            U8 => "uint8",
            I8 => "int8",
            U16 => "uint16",
            I16 => "int16",
            U32 => "uint32",
            I32 => "int32",
            U64 => "uint64",
            I64 => "int64",
            F32 => "float32",
            F64 => "float64",
        }
    }

    pub fn bytes(self) -> usize {
        use SampleType::*;
        match self {
            U8 | I8 => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 => 8,
        }
    }

    /// The value pixels equal when they hold the nodata value `nd`, as decoded samples widened to `f64`:
    /// `nd` converted to this type (GDAL's rule). `None` when no sample of this type can equal it (a
    /// fractional or out-of-range nodata on an integer raster). NaN stays NaN (NaN is never valid anyway).
    pub fn nodata_match(self, nd: f64) -> Option<f64> {
        use SampleType::*;
        let int_range = |lo: f64, hi: f64| (nd.fract() == 0.0 && nd >= lo && nd <= hi).then_some(nd);
        match self {
            F64 => Some(nd),
            F32 => Some(f64::from(nd as f32)),
            U8 => int_range(0.0, 255.0),
            I8 => int_range(-128.0, 127.0),
            U16 => int_range(0.0, 65535.0),
            I16 => int_range(-32768.0, 32767.0),
            U32 => int_range(0.0, 4294967295.0),
            I32 => int_range(-2147483648.0, 2147483647.0),
            U64 => int_range(0.0, 18446744073709551615.0),
            I64 => int_range(-9223372036854775808.0, 9223372036854775807.0),
        }
    }
}

/// An open GeoTIFF: its header, georeferencing, chunk table and a pool of decoders (one per thread using it).
pub struct GeoTiff {
    /// The path (or URL) as given, for messages and the manifest.
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub bands: u16,
    pub sample: SampleType,
    /// Sample type name, e.g. `uint8`, `float32`.
    pub dtype: String,
    pub tiled: bool,
    pub compression: String,
    /// Chunk (tile or strip) size in pixels.
    pub chunk_width: u32,
    pub chunk_height: u32,
    pub planar: bool,
    pub transform: Transform,
    /// The GeoKeys as read.
    pub geokeys: GeoKeys,
    /// Its coordinate system (from the GeoKeys, see [`super::rastercrs`]).
    pub crs: Crs,
    /// GDAL_NODATA as written.
    pub nodata: Option<f64>,
    /// What a nodata pixel equals once widened to `f64` (see [`SampleType::nodata_match`]).
    nodata_match: Option<f64>,
    /// Unique id of this raster within a run (cache key).
    pub id: usize,
    /// Byte offset and length of every chunk (planes after each other for planar files).
    offsets: Vec<u64>,
    counts: Vec<u64>,
    /// Largest decoded chunk in bytes.
    pub max_chunk_bytes: u64,
    source: Arc<dyn ByteSource>,
    decoders: Mutex<Vec<Decoder<SourceReader>>>,
}

impl std::fmt::Debug for GeoTiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoTiff")
            .field("path", &self.path)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// One decoded chunk of one band (row-major, `width × height`).
#[derive(Debug)]
pub struct Chunk {
    pub width: usize,
    pub height: usize,
    pub values: Values,
}

/// Decoded samples in the narrowest type that holds them exactly (keeps the cache small: a uint8 class
/// map costs one byte per pixel).
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    U8(Vec<u8>),
    /// int8, (u)int16 and float32 samples.
    F32(Vec<f32>),
    /// 32/64-bit integers and float64 samples.
    F64(Vec<f64>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::U8(v) => v.len(),
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match self {
            Values::U8(v) => v.len(),
            Values::F32(v) => v.len() * 4,
            Values::F64(v) => v.len() * 8,
        }
    }

    /// Value `i` as `f64`.
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Values::U8(v) => f64::from(v[i]),
            Values::F32(v) => f64::from(v[i]),
            Values::F64(v) => v[i],
        }
    }

    /// `n` copies of `v` in the representation used for samples of type `t`.
    fn filled(t: SampleType, n: usize, v: f64) -> Values {
        match t {
            SampleType::U8 => Values::U8(vec![v as u8; n]),
            SampleType::I8 | SampleType::U16 | SampleType::I16 | SampleType::F32 => Values::F32(vec![v as f32; n]),
            _ => Values::F64(vec![v; n]),
        }
    }

    /// Keeps the first `w` of every `stride` values (drops tile padding).
    fn crop(self, stride: usize, w: usize) -> Values {
        fn c<T: Copy>(v: Vec<T>, stride: usize, w: usize) -> Vec<T> {
            if stride == w {
                v
            } else {
                v.chunks(stride).flat_map(|r| &r[..w.min(r.len())]).copied().collect()
            }
        }
        match self {
            Values::U8(v) => Values::U8(c(v, stride, w)),
            Values::F32(v) => Values::F32(c(v, stride, w)),
            Values::F64(v) => Values::F64(c(v, stride, w)),
        }
    }
}

fn tiff_err(path: &Path, e: impl std::fmt::Display) -> RasterError {
    RasterError::Tiff { path: path.to_path_buf(), message: e.to_string() }
}

fn new_decoder(source: &Arc<dyn ByteSource>, path: &Path) -> Result<Decoder<SourceReader>, RasterError> {
    let d = Decoder::new(SourceReader::new(source.clone())).map_err(|e| tiff_err(path, e))?;
    // Chunk sizes are checked against the file in `open`; tag arrays are bounded by the crate's default.
    let mut limits = Limits::default();
    limits.decoding_buffer_size = usize::MAX;
    limits.intermediate_buffer_size = usize::MAX;
    Ok(d.with_limits(limits))
}

fn find_f64s(d: &mut Decoder<SourceReader>, tag: u16, path: &Path) -> Result<Option<Vec<f64>>, RasterError> {
    match d.find_tag(Tag::Unknown(tag)).map_err(|e| tiff_err(path, e))? {
        None => Ok(None),
        Some(v) => v.into_f64_vec().map(Some).map_err(|e| tiff_err(path, e)),
    }
}

/// Most decoded bytes one stored byte can give, per TIFF compression code (`None`: not supported).
/// Deflate's format caps expansion at 1032:1; an LZW code of at least 9 bits yields at most 4096 bytes;
/// a PackBits pair yields at most 128 bytes.
fn max_expansion(compression: u16) -> Option<u64> {
    match compression {
        1 => Some(1),
        5 => Some(4096 * 8 / 9 + 1),
        8 | 32946 => Some(1032),
        32773 => Some(64),
        _ => None,
    }
}

/// Largest decoded chunk accepted (a bigger strip is refused with a hint to rewrite the file tiled).
const MAX_CHUNK_BYTES: u64 = 2 << 30;

impl GeoTiff {
    /// Opens a raster file and reads its header and georeferencing (no pixels).
    pub fn open(path: &Path, id: usize) -> Result<GeoTiff, RasterError> {
        let source = FileSource::open(path).map_err(|source| RasterError::Open { path: path.to_path_buf(), source })?;
        GeoTiff::from_source(Arc::new(source), path, id)
    }

    /// Opens a `local:` location: an `http(s)://` URL (read with range requests, see [`super::http`]) or
    /// a file path.
    pub fn open_location(location: &str, id: usize) -> Result<GeoTiff, RasterError> {
        if !super::http::is_url(location) {
            return GeoTiff::open(&super::paths::clean_path(Path::new(location)), id);
        }
        let shown = PathBuf::from(crate::net::redact_url(location));
        let source = super::http::HttpSource::open(location)
            .map_err(|m| RasterError::Open { path: shown.clone(), source: std::io::Error::other(m) })?;
        GeoTiff::from_source(Arc::new(source), &shown, id)
    }

    /// Reads the header and georeferencing of the raster in `source` (`path` names it in messages).
    pub fn from_source(source: Arc<dyn ByteSource>, path: &Path, id: usize) -> Result<GeoTiff, RasterError> {
        let bytes = source.len();
        let unsupported = |message: String| RasterError::Unsupported { path: path.to_path_buf(), message };
        let damaged = |message: String| RasterError::Damaged { path: path.to_path_buf(), message };
        let mut d = new_decoder(&source, path)?;
        let (width, height) = d.dimensions().map_err(|e| tiff_err(path, e))?;
        let bands: u16 = d.find_tag_unsigned(Tag::SamplesPerPixel).map_err(|e| tiff_err(path, e))?.unwrap_or(1);
        let bits: Vec<u16> =
            d.find_tag_unsigned_vec(Tag::BitsPerSample).map_err(|e| tiff_err(path, e))?.unwrap_or(vec![1]);
        let format: Vec<u16> =
            d.find_tag_unsigned_vec(Tag::SampleFormat).map_err(|e| tiff_err(path, e))?.unwrap_or(vec![1]);
        let (format0, bits0) = (format.first().copied().unwrap_or(1), bits.first().copied().unwrap_or(1));
        if bits.iter().any(|&b| b != bits0) || format.iter().any(|&f| f != format0) {
            return Err(unsupported("bands of different sample types are not supported".into()));
        }
        let sample = SampleType::from_tags(format0, bits0).ok_or_else(|| {
            let kind = match format0 {
                1 => "unsigned integer",
                2 => "signed integer",
                3 => "floating-point",
                _ => "other",
            };
            unsupported(format!(
                "{bits0}-bit {kind} samples are not supported (8/16/32/64-bit integers, 32/64-bit floats)"
            ))
        })?;
        if width == 0 || height == 0 || bands == 0 {
            return Err(damaged(format!("it declares {width} × {height} pixels in {bands} bands")));
        }
        let compression_code = d.find_tag_unsigned::<u16>(Tag::Compression).map_err(|e| tiff_err(path, e))?;
        let compression_code = compression_code.unwrap_or(1);
        let compression = match compression_code {
            1 => "none",
            5 => "lzw",
            8 | 32946 => "deflate",
            32773 => "packbits",
            other => {
                return Err(unsupported(format!(
                    "compression {other} is not supported (uncompressed, LZW, Deflate or PackBits); \
                     rewrite it with `gdal_translate -co COMPRESS=DEFLATE`"
                )))
            }
        }
        .to_string();
        let planar = d.find_tag_unsigned::<u16>(Tag::PlanarConfiguration).map_err(|e| tiff_err(path, e))? == Some(2);
        let tiled = d.get_chunk_type() == ChunkType::Tile;
        let (chunk_width, chunk_height) = d.chunk_dimensions();
        if chunk_width == 0 || chunk_height == 0 {
            return Err(damaged(format!("its strips or tiles are {chunk_width} × {chunk_height} pixels")));
        }
        // A strip may declare more rows than the image has (one strip for the whole image).
        let chunk_height = if tiled { chunk_height } else { chunk_height.min(height) };
        let (offsets, counts) = if tiled {
            (d.find_tag_unsigned_vec(Tag::TileOffsets), d.find_tag_unsigned_vec(Tag::TileByteCounts))
        } else {
            (d.find_tag_unsigned_vec(Tag::StripOffsets), d.find_tag_unsigned_vec(Tag::StripByteCounts))
        };
        let offsets: Vec<u64> = offsets.map_err(|e| tiff_err(path, e))?.unwrap_or_default();
        let counts: Vec<u64> = counts.map_err(|e| tiff_err(path, e))?.unwrap_or_default();

        let mut r = GeoTiff {
            path: path.to_path_buf(),
            bytes,
            width,
            height,
            bands,
            sample,
            dtype: sample.name().to_string(),
            tiled,
            compression,
            chunk_width,
            chunk_height,
            planar,
            transform: Transform { x0: 0.0, dx: 1.0, y0: 0.0, dy: -1.0 },
            geokeys: GeoKeys::default(),
            crs: Crs::wgs84(),
            nodata: None,
            nodata_match: None,
            id,
            offsets,
            counts,
            max_chunk_bytes: 0,
            source: source.clone(),
            decoders: Mutex::new(Vec::new()),
        };
        r.check_chunks(compression_code)?;
        r.read_georeference(&mut d)?;
        r.nodata = read_nodata(&mut d, path)?;
        r.nodata_match = r.nodata.and_then(|nd| sample.nodata_match(nd));
        r.decoders.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        Ok(r)
    }

    /// Checks every strip or tile against the file before anything is allocated for it (module doc).
    fn check_chunks(&mut self, compression: u16) -> Result<(), RasterError> {
        let damaged = |message: String| RasterError::Damaged { path: self.path.clone(), message };
        let kind = if self.tiled { "tile" } else { "strip" };
        let planes = if self.planar { u64::from(self.bands) } else { 1 };
        let per_plane = u64::from(self.chunks_across()) * u64::from(self.chunks_down());
        let want = per_plane * planes;
        if self.offsets.len() as u64 != want || self.counts.len() as u64 != want {
            return Err(damaged(format!(
                "it lists {} {kind} offsets and {} byte counts for {want} {kind}s",
                self.offsets.len(),
                self.counts.len()
            )));
        }
        let samples = if self.planar { 1 } else { u64::from(self.bands) };
        let row_bytes = u64::from(self.chunk_width) * samples * self.sample.bytes() as u64;
        let ratio = max_expansion(compression).unwrap_or(1);
        let mut max_chunk = 0;
        for (i, (&off, &count)) in self.offsets.iter().zip(&self.counts).enumerate() {
            if count == 0 {
                continue; // sparse: read as nodata
            }
            let cy = (i as u64 % per_plane) / u64::from(self.chunks_across());
            let rows = if self.tiled {
                u64::from(self.chunk_height)
            } else {
                u64::from(self.chunk_height).min(u64::from(self.height) - cy * u64::from(self.chunk_height))
            };
            let need = row_bytes * rows;
            let end = off.checked_add(count).filter(|&e| e <= self.bytes);
            if end.is_none() {
                return Err(damaged(format!(
                    "{kind} {i} (bytes {off}..{}) runs past the end of the file ({} bytes): it is truncated",
                    off.saturating_add(count),
                    self.bytes
                )));
            }
            if compression == 1 && count < need {
                return Err(damaged(format!(
                    "uncompressed {kind} {i} holds {count} bytes but its {} × {rows} pixels need {need}",
                    self.chunk_width
                )));
            }
            if count.saturating_mul(ratio).saturating_add(64) < need {
                return Err(damaged(format!(
                    "{kind} {i} claims {} × {rows} pixels ({need} bytes), more than its {count} bytes of {} \
                     data can expand to",
                    self.chunk_width, self.compression
                )));
            }
            max_chunk = max_chunk.max(need);
        }
        if max_chunk > MAX_CHUNK_BYTES {
            return Err(RasterError::Unsupported {
                path: self.path.clone(),
                message: format!(
                    "its {kind}s hold up to {} MB each, too much to decode at once; rewrite it tiled with \
                     `gdal_translate -co TILED=YES -co COMPRESS=DEFLATE in.tif out.tif`",
                    max_chunk >> 20
                ),
            });
        }
        self.max_chunk_bytes = max_chunk;
        Ok(())
    }

    fn read_georeference(&mut self, d: &mut Decoder<SourceReader>) -> Result<(), RasterError> {
        let path = self.path.clone();
        let path = path.as_path();
        let scale = find_f64s(d, 33550, path)?;
        let tie = find_f64s(d, 33922, path)?;
        let matrix = find_f64s(d, 34264, path)?;
        let mut transform = match (scale, tie, matrix) {
            (Some(s), Some(t), _) if s.len() >= 2 && t.len() >= 6 => {
                let (i, j, x, y) = (t[0], t[1], t[3], t[4]);
                Transform { x0: x - i * s[0], dx: s[0], y0: y + j * s[1], dy: -s[1] }
            }
            (_, _, Some(m)) if m.len() >= 8 => {
                if m[1] != 0.0 || m[4] != 0.0 {
                    return Err(RasterError::Unsupported {
                        path: path.to_path_buf(),
                        message: "rotated rasters are not supported; warp it to a north-up grid with `gdalwarp`".into(),
                    });
                }
                Transform { x0: m[3], dx: m[0], y0: m[7], dy: m[5] }
            }
            _ => return Err(RasterError::NoGeoreference { path: path.to_path_buf() }),
        };
        if !(transform.dx.is_finite()
            && transform.dy.is_finite()
            && transform.x0.is_finite()
            && transform.y0.is_finite())
            || transform.dx == 0.0
            || transform.dy == 0.0
        {
            return Err(RasterError::NoGeoreference { path: path.to_path_buf() });
        }
        let directory: Vec<u16> = match d.find_tag_unsigned_vec(Tag::Unknown(34735)).map_err(|e| tiff_err(path, e))? {
            Some(k) => k,
            None => return Err(RasterError::NoCrs { path: path.to_path_buf() }),
        };
        let doubles = find_f64s(d, 34736, path)?.unwrap_or_default();
        let ascii = match d.find_tag(Tag::Unknown(34737)).map_err(|e| tiff_err(path, e))? {
            Some(v) => v.into_string().map_err(|e| tiff_err(path, e))?,
            None => String::new(),
        };
        let keys = GeoKeys::parse(&directory, &doubles, &ascii)
            .map_err(|e| RasterError::Damaged { path: path.to_path_buf(), message: e.to_string() })?;
        use super::geokeys::key;
        self.crs = super::rastercrs::from_geokeys(&keys).map_err(|p| RasterError::Crs {
            path: path.to_path_buf(),
            message: p.message,
            help: p.help,
        })?;
        if keys.short(key::GT_RASTER_TYPE) == Some(2) {
            // PixelIsPoint: the tie point is the centre of the first pixel.
            transform.x0 -= transform.dx / 2.0;
            transform.y0 -= transform.dy / 2.0;
        }
        self.transform = transform;
        self.geokeys = keys;
        Ok(())
    }

    /// Chunks across one row of chunks.
    pub fn chunks_across(&self) -> u32 {
        self.width.div_ceil(self.chunk_width)
    }

    /// Chunks down the image.
    pub fn chunks_down(&self) -> u32 {
        self.height.div_ceil(self.chunk_height)
    }

    /// The same grid (size and georeferencing) as `other`: coverage can be shared.
    pub fn same_grid(&self, other: &GeoTiff) -> bool {
        self.width == other.width
            && self.height == other.height
            && self.transform == other.transform
            && self.geokeys == other.geokeys
    }

    /// Bytes per sample.
    pub fn sample_bytes(&self) -> usize {
        self.sample.bytes()
    }

    /// Bytes requested from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.source.bytes_read()
    }

    /// Requests made to the source so far (HTTP; 0 for files).
    pub fn requests(&self) -> u64 {
        self.source.requests()
    }

    /// Byte range `(offset, length)` of chunk `(cx, cy)` of band `band` in the file.
    pub fn chunk_range(&self, cx: u32, cy: u32, band: u16) -> (u64, u64) {
        let i = self.chunk_index(cx, cy, band);
        (self.offsets[i], self.counts[i])
    }

    fn chunk_index(&self, cx: u32, cy: u32, band: u16) -> usize {
        let per_plane = self.chunks_across() as usize * self.chunks_down() as usize;
        let plane = if self.planar { usize::from(band) } else { 0 };
        cy as usize * self.chunks_across() as usize + cx as usize + plane * per_plane
    }

    /// Whether `v` is a valid value (not nodata, not NaN); `v` is a sample widened to `f64`.
    #[inline]
    pub fn is_valid(&self, v: f64) -> bool {
        !v.is_nan() && self.nodata_match != Some(v)
    }

    /// Decodes chunk `(cx, cy)` of band `band` (0-based) from the file.
    pub fn decode_chunk(&self, cx: u32, cy: u32, band: u16) -> Result<Chunk, RasterError> {
        let index = self.chunk_index(cx, cy, band);
        let kind = if self.tiled { "tile" } else { "strip" };
        // Data size of the chunk (edge chunks are cropped), from the grid itself.
        let w = self.chunk_width.min(self.width - cx * self.chunk_width) as usize;
        let h = self.chunk_height.min(self.height - cy * self.chunk_height) as usize;
        let (offset, count) = (self.offsets[index], self.counts[index]);
        if count == 0 {
            // Sparse (never written): nodata, or 0 without nodata, as GDAL reads it.
            return Ok(Chunk {
                width: w,
                height: h,
                values: Values::filled(self.sample, w * h, self.nodata.unwrap_or(0.0)),
            });
        }
        let mut d = match self.decoders.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            Some(d) => d,
            None => new_decoder(&self.source, &self.path)?,
        };
        // Decode whole padded rows (the output stride is the chunk's full width): the `tiff` crate's
        // row-by-row path for right-edge tiles fails on LZW streams of 16-bit samples.
        let samples = if self.planar { 1 } else { usize::from(self.bands) };
        let stride = self.chunk_width as usize;
        let stride_bytes = stride * samples * self.sample_bytes();
        let mut result = DecodingResult::U8(Vec::new());
        let loaded = d.inner().load_chunk(offset, count);
        let decoded = match loaded {
            Err(e) => Err(RasterError::Read { path: self.path.clone(), message: format!("{kind} {index}: {e}") }),
            Ok(()) => d.read_chunk_to_buffer(&mut result, index as u32, stride_bytes).map_err(|e| {
                let eof = matches!(&e, tiff::TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof);
                if eof {
                    RasterError::Damaged {
                        path: self.path.clone(),
                        message: format!(
                            "{kind} {index} ends (after {count} bytes at offset {offset}) before its {w} × {h} pixels do"
                        ),
                    }
                } else {
                    RasterError::Damaged { path: self.path.clone(), message: format!("{kind} {index}: {e}") }
                }
            }),
        };
        d.inner().end_chunk();
        self.decoders.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        decoded?;
        let pick = if self.planar { 0 } else { usize::from(band) };
        let all = to_values(&result, samples, pick);
        if all.len() < stride * (h - 1) + w {
            return Err(RasterError::Damaged {
                path: self.path.clone(),
                message: format!("{kind} {index} holds {} values, expected {}", all.len(), w * h),
            });
        }
        Ok(Chunk { width: w, height: h, values: all.crop(stride, w) })
    }
}

fn read_nodata(d: &mut Decoder<SourceReader>, path: &Path) -> Result<Option<f64>, RasterError> {
    let Some(v) = d.find_tag(Tag::Unknown(42113)).map_err(|e| tiff_err(path, e))? else {
        return Ok(None);
    };
    let text = v.into_string().map_err(|e| tiff_err(path, e))?;
    let t = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<f64>().map(Some).map_err(|_| RasterError::Unsupported {
        path: path.to_path_buf(),
        message: format!("GDAL_NODATA `{t}` is not a number"),
    })
}

fn to_values(r: &DecodingResult, samples: usize, band: usize) -> Values {
    macro_rules! pick {
        ($v:expr, $t:ty) => {
            $v.iter().skip(band).step_by(samples).map(|&x| x as $t).collect()
        };
    }
    match r {
        DecodingResult::U8(v) if samples == 1 => Values::U8(v.clone()),
        DecodingResult::U8(v) => Values::U8(pick!(v, u8)),
        DecodingResult::I8(v) => Values::F32(pick!(v, f32)),
        DecodingResult::U16(v) => Values::F32(pick!(v, f32)),
        DecodingResult::I16(v) => Values::F32(pick!(v, f32)),
        DecodingResult::F32(v) => Values::F32(pick!(v, f32)),
        DecodingResult::U32(v) => Values::F64(pick!(v, f64)),
        DecodingResult::I32(v) => Values::F64(pick!(v, f64)),
        DecodingResult::U64(v) => Values::F64(pick!(v, f64)),
        DecodingResult::I64(v) => Values::F64(pick!(v, f64)),
        DecodingResult::F64(v) => Values::F64(pick!(v, f64)),
        DecodingResult::F16(v) => Values::F32(v.iter().skip(band).step_by(samples).map(|x| x.to_f32()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Transform {
        Transform { x0: -48.0, dx: 0.001, y0: -15.0, dy: -0.001 }
    }

    fn values(w: u32, h: u32) -> Vec<f64> {
        (0..w * h).map(|i| ((i * 7 + i / w * 3) % 251) as f64).collect()
    }

    fn read_all(r: &GeoTiff, band: u16) -> Vec<f64> {
        let mut out = vec![f64::NAN; (r.width * r.height) as usize];
        for cy in 0..r.chunks_down() {
            for cx in 0..r.chunks_across() {
                let c = r.decode_chunk(cx, cy, band).unwrap();
                for y in 0..c.height {
                    for x in 0..c.width {
                        let (gx, gy) = (cx * r.chunk_width + x as u32, cy * r.chunk_height + y as u32);
                        out[(gy * r.width + gx) as usize] = c.values.get(y * c.width + x);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_layout_compression_and_type_reads_back() {
        let (w, h) = (37u32, 29u32);
        let v = values(w, h);
        let types: Vec<(&str, Samples)> = vec![
            ("uint8", Samples::U8(v.iter().map(|&x| x as u8).collect())),
            ("uint16", Samples::U16(v.iter().map(|&x| x as u16 * 200).collect())),
            ("int16", Samples::I16(v.iter().map(|&x| x as i16 - 100).collect())),
            ("uint32", Samples::U32(v.iter().map(|&x| x as u32 * 100_000).collect())),
            ("int32", Samples::I32(v.iter().map(|&x| -(x as i32) * 100_000).collect())),
            ("float32", Samples::F32(v.iter().map(|&x| x as f32 * 0.5).collect())),
            ("float64", Samples::F64(v.iter().map(|&x| x * 0.001).collect())),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (name, samples) in types {
            for layout in
                [Layout::Strips { rows: 1 }, Layout::Strips { rows: 8 }, Layout::Tiles { width: 16, height: 16 }]
            {
                for compress in [Compress::None, Compress::Lzw, Compress::Deflate] {
                    let p = dir.path().join(format!("{name}-{layout:?}-{compress:?}.tif"));
                    let spec = WriteSpec {
                        width: w,
                        height: h,
                        bands: vec![samples.clone()],
                        layout,
                        compress,
                        transform: grid(),
                        nodata: Some(-1.0),
                        epsg: 4326,
                    };
                    write(&p, &spec).unwrap();
                    let r = GeoTiff::open(&p, 0).unwrap();
                    assert_eq!((r.width, r.height, r.bands), (w, h, 1));
                    assert_eq!(r.dtype, name);
                    assert_eq!(r.tiled, matches!(layout, Layout::Tiles { .. }));
                    assert_eq!(r.transform, grid());
                    assert!(r.crs.is_wgs84());
                    assert_eq!(r.nodata, Some(-1.0));
                    let want: Vec<f64> = match &samples {
                        Samples::U8(x) => x.iter().map(|&v| v as f64).collect(),
                        Samples::U16(x) => x.iter().map(|&v| v as f64).collect(),
                        Samples::I16(x) => x.iter().map(|&v| v as f64).collect(),
                        Samples::U32(x) => x.iter().map(|&v| v as f64).collect(),
                        Samples::I32(x) => x.iter().map(|&v| v as f64).collect(),
                        Samples::F32(x) => x.iter().map(|&v| v as f64).collect(),
                        Samples::F64(x) => x.clone(),
                    };
                    assert_eq!(read_all(&r, 0), want, "{name} {layout:?} {compress:?}");
                }
            }
        }
    }

    #[test]
    fn multiband_chunky_and_planar_pick_the_requested_band() {
        let (w, h) = (20u32, 10u32);
        let a: Vec<u16> = (0..w * h).map(|i| i as u16).collect();
        let b: Vec<u16> = (0..w * h).map(|i| 1000 + i as u16).collect();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("two.tif");
        let spec = WriteSpec {
            width: w,
            height: h,
            bands: vec![Samples::U16(a.clone()), Samples::U16(b.clone())],
            layout: Layout::Tiles { width: 16, height: 16 },
            compress: Compress::Deflate,
            transform: grid(),
            nodata: None,
            epsg: 4326,
        };
        for layout in [Layout::Tiles { width: 16, height: 16 }, Layout::Strips { rows: 3 }] {
            for planar in [false, true] {
                let spec = WriteSpec { layout, ..spec.clone() };
                write_with(&p, &spec, planar).unwrap();
                let r = GeoTiff::open(&p, 0).unwrap();
                assert_eq!((r.bands, r.planar), (2, planar));
                assert_eq!(read_all(&r, 0), a.iter().map(|&x| x as f64).collect::<Vec<_>>(), "{layout:?} {planar}");
                assert_eq!(read_all(&r, 1), b.iter().map(|&x| x as f64).collect::<Vec<_>>(), "{layout:?} {planar}");
            }
        }
    }

    #[test]
    fn projected_rasters_carry_their_coordinate_system() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("utm.tif");
        let spec = WriteSpec {
            width: 4,
            height: 4,
            bands: vec![Samples::U8(vec![1; 16])],
            layout: Layout::Strips { rows: 4 },
            compress: Compress::None,
            transform: Transform { x0: 500000.0, dx: 30.0, y0: 8200000.0, dy: -30.0 },
            nodata: None,
            epsg: 32723,
        };
        write(&p, &spec).unwrap();
        let r = GeoTiff::open(&p, 0).unwrap();
        assert_eq!(r.crs.name(), "EPSG:32723");
        assert!(!r.crs.is_geographic());
    }
}
