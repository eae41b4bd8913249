//! GeoTIFF and Cloud-Optimized GeoTIFF reading for the local engine (and a small writer for tests, the
//! demo and the benchmark).
//!
//! Pixels are decoded by the pure-Rust `tiff` crate, one strip or tile ("chunk") at a time: the engine
//! only ever asks for the chunks a site's window touches, and a bounded LRU [`ChunkCache`] keeps recently
//! decoded chunks for neighbouring sites. Georeferencing is read here from the GeoTIFF tags:
//!
//! - ModelPixelScale (33550) + ModelTiepoint (33922), or ModelTransformation (34264) without rotation;
//! - GeoKeyDirectory (34735): GTModelType (1024), GTRasterType (1025; PixelIsPoint shifts the origin by
//!   half a pixel, as GDAL does), GeographicType (2048), ProjectedCSType (3072);
//! - GDAL_NODATA (42113), an ASCII number (or `nan`).
//!
//! Supported: striped and tiled, uncompressed / LZW / Deflate (with or without predictor), 8/16/32/64-bit
//! integers and 32/64-bit floats, chunky or planar multi-band. Geographic coordinates only: a raster in
//! a projected CRS is refused with its EPSG code and a `gdalwarp` hint (see docs/local-engine.md).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tiff::decoder::{ChunkType, Decoder, DecodingResult, Limits};
use tiff::tags::Tag;

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
    #[error(
        "`{path}` is in {crs}, a projected coordinate system; the local engine reads rasters in geographic \
         coordinates (EPSG:4326) only"
    )]
    Projected { path: PathBuf, crs: String },
    #[error("`{path}`: {message}")]
    Unsupported { path: PathBuf, message: String },
}

impl RasterError {
    /// What the user can do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            RasterError::Open { .. } => {
                Some("check the layer's `local:` path template (it is relative to the pipeline file)".into())
            }
            RasterError::Projected { .. } => Some(
                "reproject it to latitude/longitude first, e.g. `gdalwarp -t_srs EPSG:4326 -r near in.tif out.tif` \
                 (nearest neighbour keeps class codes intact)"
                    .into(),
            ),
            RasterError::NoGeoreference { .. } | RasterError::NoCrs { .. } => Some(
                "write the raster with GDAL (`gdal_translate -a_srs EPSG:4326 ...`) so it carries its georeferencing"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Pixel grid: `lon = x0 + col · dx`, `lat = y0 + row · dy` at the cell's top-left corner (dy < 0 for
/// north-up rasters).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub x0: f64,
    pub dx: f64,
    pub y0: f64,
    pub dy: f64,
}

impl Transform {
    /// Continuous cell coordinates `[col, row]` of a `[lon, lat]` point.
    pub fn to_cell(&self, p: [f64; 2]) -> [f64; 2] {
        [(p[0] - self.x0) / self.dx, (p[1] - self.y0) / self.dy]
    }
}

/// An open GeoTIFF: its header, georeferencing and a pool of decoders (one per thread using it).
pub struct GeoTiff {
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub bands: u16,
    /// Sample type, e.g. `uint8`, `float32`.
    pub dtype: String,
    pub tiled: bool,
    pub compression: String,
    /// Chunk (tile or strip) size in pixels.
    pub chunk_width: u32,
    pub chunk_height: u32,
    pub planar: bool,
    pub transform: Transform,
    /// `EPSG:4326` or the geographic CRS code found.
    pub crs: String,
    pub nodata: Option<f64>,
    /// Unique id of this raster within a run (cache key).
    pub id: usize,
    decoders: Mutex<Vec<Decoder<BufReader<File>>>>,
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

fn open_decoder(path: &Path) -> Result<Decoder<BufReader<File>>, RasterError> {
    let f = File::open(path).map_err(|source| RasterError::Open { path: path.to_path_buf(), source })?;
    let d = Decoder::new(BufReader::with_capacity(64 * 1024, f)).map_err(|e| tiff_err(path, e))?;
    Ok(d.with_limits(Limits::unlimited()))
}

fn find_f64s(d: &mut Decoder<BufReader<File>>, tag: u16, path: &Path) -> Result<Option<Vec<f64>>, RasterError> {
    match d.find_tag(Tag::Unknown(tag)).map_err(|e| tiff_err(path, e))? {
        None => Ok(None),
        Some(v) => v.into_f64_vec().map(Some).map_err(|e| tiff_err(path, e)),
    }
}

impl GeoTiff {
    /// Opens a raster and reads its header and georeferencing (no pixels).
    pub fn open(path: &Path, id: usize) -> Result<GeoTiff, RasterError> {
        let bytes =
            std::fs::metadata(path).map_err(|source| RasterError::Open { path: path.to_path_buf(), source })?.len();
        let mut d = open_decoder(path)?;
        let (width, height) = d.dimensions().map_err(|e| tiff_err(path, e))?;
        let bands: u16 = d.find_tag_unsigned(Tag::SamplesPerPixel).map_err(|e| tiff_err(path, e))?.unwrap_or(1);
        let bits: Vec<u16> =
            d.find_tag_unsigned_vec(Tag::BitsPerSample).map_err(|e| tiff_err(path, e))?.unwrap_or(vec![1]);
        let format: Vec<u16> =
            d.find_tag_unsigned_vec(Tag::SampleFormat).map_err(|e| tiff_err(path, e))?.unwrap_or(vec![1]);
        let kind = match format.first().copied().unwrap_or(1) {
            1 => "uint",
            2 => "int",
            3 => "float",
            other => {
                return Err(RasterError::Unsupported {
                    path: path.to_path_buf(),
                    message: format!("sample format {other} is not supported (integers or floats only)"),
                })
            }
        };
        let bits0 = bits.first().copied().unwrap_or(1);
        if !matches!(bits0, 8 | 16 | 32 | 64) || (kind == "float" && bits0 < 32) {
            return Err(RasterError::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "{bits0}-bit {kind} samples are not supported (8/16/32/64-bit integers, 32/64-bit floats)"
                ),
            });
        }
        let dtype = format!("{kind}{bits0}");
        let compression = match d.find_tag_unsigned::<u16>(Tag::Compression).map_err(|e| tiff_err(path, e))? {
            None | Some(1) => "none".to_string(),
            Some(5) => "lzw".to_string(),
            Some(8) | Some(32946) => "deflate".to_string(),
            Some(32773) => "packbits".to_string(),
            Some(other) => {
                return Err(RasterError::Unsupported {
                    path: path.to_path_buf(),
                    message: format!(
                        "compression {other} is not supported (uncompressed, LZW, Deflate or PackBits); \
                         rewrite it with `gdal_translate -co COMPRESS=DEFLATE`"
                    ),
                })
            }
        };
        let planar = d.find_tag_unsigned::<u16>(Tag::PlanarConfiguration).map_err(|e| tiff_err(path, e))? == Some(2);
        let tiled = d.get_chunk_type() == ChunkType::Tile;
        let (chunk_width, chunk_height) = d.chunk_dimensions();

        // Georeferencing.
        let scale = find_f64s(&mut d, 33550, path)?;
        let tie = find_f64s(&mut d, 33922, path)?;
        let matrix = find_f64s(&mut d, 34264, path)?;
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
        if !(transform.dx.is_finite() && transform.dy.is_finite()) || transform.dx == 0.0 || transform.dy == 0.0 {
            return Err(RasterError::NoGeoreference { path: path.to_path_buf() });
        }
        let keys: Vec<u16> = match d.find_tag_unsigned_vec(Tag::Unknown(34735)).map_err(|e| tiff_err(path, e))? {
            Some(k) => k,
            None => return Err(RasterError::NoCrs { path: path.to_path_buf() }),
        };
        let key =
            |id: u16| -> Option<u16> { keys.get(4..)?.chunks_exact(4).find(|e| e[0] == id && e[1] == 0).map(|e| e[3]) };
        let model = key(1024);
        let projected = key(3072);
        if model == Some(1) || (model.is_none() && projected.is_some()) {
            let crs = match projected {
                Some(c) if c != 32767 => format!("EPSG:{c}"),
                _ => "a user-defined projected coordinate system".to_string(),
            };
            return Err(RasterError::Projected { path: path.to_path_buf(), crs });
        }
        if model == Some(3) {
            return Err(RasterError::Unsupported {
                path: path.to_path_buf(),
                message: "geocentric coordinates are not supported".into(),
            });
        }
        let crs = match key(2048) {
            Some(c) if c != 32767 => format!("EPSG:{c}"),
            _ => "EPSG:4326".to_string(),
        };
        if key(1025) == Some(2) {
            // PixelIsPoint: the tie point is the centre of the first pixel.
            transform.x0 -= transform.dx / 2.0;
            transform.y0 -= transform.dy / 2.0;
        }
        let nodata = match d.find_tag(Tag::Unknown(42113)).map_err(|e| tiff_err(path, e))? {
            Some(v) => {
                let text = v.into_string().map_err(|e| tiff_err(path, e))?;
                let t = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
                if t.is_empty() {
                    None
                } else {
                    Some(t.parse::<f64>().map_err(|_| RasterError::Unsupported {
                        path: path.to_path_buf(),
                        message: format!("GDAL_NODATA `{t}` is not a number"),
                    })?)
                }
            }
            None => None,
        };
        Ok(GeoTiff {
            path: path.to_path_buf(),
            bytes,
            width,
            height,
            bands,
            dtype,
            tiled,
            compression,
            chunk_width,
            chunk_height,
            planar,
            transform,
            crs,
            nodata,
            id,
            decoders: Mutex::new(vec![d]),
        })
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
        self.width == other.width && self.height == other.height && self.transform == other.transform
    }

    /// Bytes per sample.
    pub fn sample_bytes(&self) -> usize {
        self.dtype.trim_start_matches(|c: char| c.is_ascii_alphabetic()).parse::<usize>().unwrap_or(8) / 8
    }

    /// Whether `v` is a valid value (not nodata, not NaN).
    pub fn is_valid(&self, v: f64) -> bool {
        !v.is_nan() && self.nodata.is_none_or(|nd| v != nd)
    }

    /// Decodes chunk `(cx, cy)` of band `band` (0-based) from the file.
    pub fn decode_chunk(&self, cx: u32, cy: u32, band: u16) -> Result<Chunk, RasterError> {
        let mut d = match self.decoders.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            Some(d) => d,
            None => open_decoder(&self.path)?,
        };
        let per_plane = self.chunks_across() * self.chunks_down();
        let index = cy * self.chunks_across() + cx + if self.planar { u32::from(band) * per_plane } else { 0 };
        // Data size of the chunk (edge chunks are cropped), from the grid itself: the `tiff` crate's
        // answer is wrong for tiles of planes after the first.
        let w = self.chunk_width.min(self.width - cx * self.chunk_width);
        let h = self.chunk_height.min(self.height - cy * self.chunk_height);
        // Decode whole padded rows (the output stride is the chunk's full width): the `tiff` crate's
        // row-by-row path for right-edge tiles fails on LZW streams of 16-bit samples.
        let samples = if self.planar { 1 } else { usize::from(self.bands) };
        let stride = self.chunk_width as usize;
        let stride_bytes = stride * samples * self.sample_bytes();
        let mut result = DecodingResult::U8(Vec::new());
        let result = d
            .read_chunk_to_buffer(&mut result, index, stride_bytes)
            .map(|_| result)
            .map_err(|e| tiff_err(&self.path, e));
        self.decoders.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        let result = result?;
        let (w, h) = (w as usize, h as usize);
        let pick = if self.planar { 0 } else { usize::from(band) };
        let all = to_values(&result, samples, pick);
        if all.len() < stride * (h - 1) + w {
            return Err(tiff_err(&self.path, format!("chunk {index} holds {} values, expected {}", all.len(), w * h)));
        }
        Ok(Chunk { width: w, height: h, values: all.crop(stride, w) })
    }
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

/// A bounded least-recently-used cache of decoded chunks, shared by all threads.
pub struct ChunkCache {
    inner: Mutex<CacheInner>,
    capacity_bytes: usize,
}

/// (raster id, chunk column, chunk row, band).
type ChunkKey = (usize, u32, u32, u16);

struct CacheInner {
    /// Chunk and the tick of its last use.
    map: HashMap<ChunkKey, (Arc<Chunk>, u64)>,
    bytes: usize,
    tick: u64,
    hits: u64,
    misses: u64,
}

impl ChunkCache {
    pub fn new(capacity_bytes: usize) -> ChunkCache {
        ChunkCache {
            inner: Mutex::new(CacheInner { map: HashMap::new(), bytes: 0, tick: 0, hits: 0, misses: 0 }),
            capacity_bytes,
        }
    }

    /// The chunk, from the cache or decoded now.
    pub fn get(&self, r: &GeoTiff, cx: u32, cy: u32, band: u16) -> Result<Arc<Chunk>, RasterError> {
        let key = (r.id, cx, cy, band);
        {
            let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            c.tick += 1;
            let tick = c.tick;
            if let Some(entry) = c.map.get_mut(&key) {
                entry.1 = tick;
                let chunk = entry.0.clone();
                c.hits += 1;
                return Ok(chunk);
            }
            c.misses += 1;
        }
        let chunk = Arc::new(r.decode_chunk(cx, cy, band)?);
        let size = chunk.values.bytes();
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.tick += 1;
        let tick = c.tick;
        if c.map.insert(key, (chunk.clone(), tick)).is_none() {
            c.bytes += size;
        }
        while c.bytes > self.capacity_bytes && c.map.len() > 1 {
            let oldest = c.map.iter().filter(|(k, _)| **k != key).min_by_key(|(_, v)| v.1).map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    if let Some((old, _)) = c.map.remove(&k) {
                        c.bytes -= old.values.bytes();
                    }
                }
                None => break,
            }
        }
        Ok(chunk)
    }

    /// `(hits, misses)` so far.
    pub fn stats(&self) -> (u64, u64) {
        let c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (c.hits, c.misses)
    }
}

// ---------------------------------------------------------------------------------------------------
// Writing (tests, demo data, benchmark).

/// Pixel values to write, one band.
#[derive(Debug, Clone)]
pub enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Samples {
    fn len(&self) -> usize {
        match self {
            Samples::U8(v) => v.len(),
            Samples::U16(v) => v.len(),
            Samples::I16(v) => v.len(),
            Samples::U32(v) => v.len(),
            Samples::I32(v) => v.len(),
            Samples::F32(v) => v.len(),
            Samples::F64(v) => v.len(),
        }
    }

    /// (bits per sample, sample format code).
    fn kind(&self) -> (u16, u16) {
        match self {
            Samples::U8(_) => (8, 1),
            Samples::U16(_) => (16, 1),
            Samples::I16(_) => (16, 2),
            Samples::U32(_) => (32, 1),
            Samples::I32(_) => (32, 2),
            Samples::F32(_) => (32, 3),
            Samples::F64(_) => (64, 3),
        }
    }

    /// Native-endian bytes of pixel `i`.
    fn push_bytes(&self, i: usize, out: &mut Vec<u8>) {
        match self {
            Samples::U8(v) => out.push(v[i]),
            Samples::U16(v) => out.extend_from_slice(&v[i].to_ne_bytes()),
            Samples::I16(v) => out.extend_from_slice(&v[i].to_ne_bytes()),
            Samples::U32(v) => out.extend_from_slice(&v[i].to_ne_bytes()),
            Samples::I32(v) => out.extend_from_slice(&v[i].to_ne_bytes()),
            Samples::F32(v) => out.extend_from_slice(&v[i].to_ne_bytes()),
            Samples::F64(v) => out.extend_from_slice(&v[i].to_ne_bytes()),
        }
    }
}

/// How pixels are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Strips { rows: u32 },
    Tiles { width: u32, height: u32 },
}

/// Compression of written chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compress {
    None,
    Lzw,
    Deflate,
}

/// A GeoTIFF to write: bands of equal size, EPSG:4326 (or another EPSG code, for tests of refusal).
#[derive(Debug, Clone)]
pub struct WriteSpec {
    pub width: u32,
    pub height: u32,
    /// One entry per band, all of the same type.
    pub bands: Vec<Samples>,
    pub layout: Layout,
    pub compress: Compress,
    pub transform: Transform,
    pub nodata: Option<f64>,
    /// EPSG code; a code in 32601..=32760 or 3857 is written as projected.
    pub epsg: u16,
}

/// Writes a chunky (pixel-interleaved) GeoTIFF with the `tiff` crate's directory encoder.
pub fn write(path: &Path, spec: &WriteSpec) -> Result<(), String> {
    write_with(path, spec, false)
}

/// Writes a GeoTIFF, chunky or `planar` (band after band).
pub fn write_with(path: &Path, spec: &WriteSpec, planar: bool) -> Result<(), String> {
    use tiff::encoder::compression::{Compression as _, CompressionAlgorithm, Deflate, Lzw, Uncompressed};
    let n = (spec.width as usize) * (spec.height as usize);
    if spec.bands.is_empty() || spec.bands.iter().any(|b| b.len() != n) {
        return Err(format!("every band must hold {n} values"));
    }
    let (bits, format) = spec.bands[0].kind();
    let nb = spec.bands.len();
    let (cw, ch) = match spec.layout {
        Layout::Strips { rows } => (spec.width, rows.max(1)),
        Layout::Tiles { width, height } => (width, height),
    };
    let (across, down) = (spec.width.div_ceil(cw), spec.height.div_ceil(ch));
    let mut file = std::io::BufWriter::new(File::create(path).map_err(|e| e.to_string())?);
    let mut enc = tiff::encoder::TiffEncoder::new(&mut file).map_err(|e| e.to_string())?;
    let mut dir = enc.image_directory().map_err(|e| e.to_string())?;
    let mut offsets = Vec::new();
    let mut counts = Vec::new();
    let planes: Vec<Vec<&Samples>> =
        if planar { spec.bands.iter().map(|b| vec![b]).collect() } else { vec![spec.bands.iter().collect()] };
    for plane in &planes {
        for cy in 0..down {
            for cx in 0..across {
                // Tiles are padded to full size; the last strip is not.
                let rows = match spec.layout {
                    Layout::Strips { .. } => ch.min(spec.height - cy * ch),
                    Layout::Tiles { .. } => ch,
                };
                let mut raw = Vec::new();
                for r in 0..rows {
                    for c in 0..cw {
                        let (x, y) = (cx * cw + c, cy * ch + r);
                        for band in plane {
                            if x < spec.width && y < spec.height {
                                band.push_bytes((y * spec.width + x) as usize, &mut raw);
                            } else {
                                raw.extend(std::iter::repeat_n(0u8, usize::from(bits / 8)));
                            }
                        }
                    }
                }
                let mut packed = Vec::new();
                match spec.compress {
                    Compress::None => Uncompressed.get_algorithm().write_to(&mut packed, &raw),
                    Compress::Lzw => Lzw.get_algorithm().write_to(&mut packed, &raw),
                    Compress::Deflate => Deflate::default().get_algorithm().write_to(&mut packed, &raw),
                }
                .map_err(|e| e.to_string())?;
                offsets.push(dir.write_data(&packed[..]).map_err(|e| e.to_string())? as u32);
                counts.push(packed.len() as u32);
            }
        }
    }
    let e = |r: tiff::TiffResult<()>| r.map_err(|e| e.to_string());
    e(dir.write_tag(Tag::ImageWidth, spec.width))?;
    e(dir.write_tag(Tag::ImageLength, spec.height))?;
    e(dir.write_tag(Tag::BitsPerSample, &vec![bits; nb][..]))?;
    let comp: u16 = match spec.compress {
        Compress::None => 1,
        Compress::Lzw => 5,
        Compress::Deflate => 8,
    };
    e(dir.write_tag(Tag::Compression, comp))?;
    e(dir.write_tag(Tag::PhotometricInterpretation, 1u16))?;
    e(dir.write_tag(Tag::SamplesPerPixel, nb as u16))?;
    e(dir.write_tag(Tag::PlanarConfiguration, if planar { 2u16 } else { 1u16 }))?;
    e(dir.write_tag(Tag::SampleFormat, &vec![format; nb][..]))?;
    match spec.layout {
        Layout::Strips { .. } => {
            e(dir.write_tag(Tag::RowsPerStrip, ch))?;
            e(dir.write_tag(Tag::StripOffsets, &offsets[..]))?;
            e(dir.write_tag(Tag::StripByteCounts, &counts[..]))?;
        }
        Layout::Tiles { .. } => {
            e(dir.write_tag(Tag::TileWidth, cw))?;
            e(dir.write_tag(Tag::TileLength, ch))?;
            e(dir.write_tag(Tag::TileOffsets, &offsets[..]))?;
            e(dir.write_tag(Tag::TileByteCounts, &counts[..]))?;
        }
    }
    let t = spec.transform;
    e(dir.write_tag(Tag::Unknown(33550), &[t.dx, -t.dy, 0.0][..]))?;
    e(dir.write_tag(Tag::Unknown(33922), &[0.0, 0.0, 0.0, t.x0, t.y0, 0.0][..]))?;
    let projected = (32601..=32760).contains(&spec.epsg) || spec.epsg == 3857;
    let keys: Vec<u16> = if projected {
        vec![1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, spec.epsg]
    } else {
        vec![1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, spec.epsg]
    };
    e(dir.write_tag(Tag::Unknown(34735), &keys[..]))?;
    if let Some(nd) = spec.nodata {
        e(dir.write_tag(Tag::Unknown(42113), &*format!("{nd}")))?;
    }
    e(dir.finish())?;
    file.flush().map_err(|e| e.to_string())?;
    Ok(())
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
                    assert_eq!(r.crs, "EPSG:4326");
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
    fn projected_rasters_are_refused_with_their_code() {
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
        let e = GeoTiff::open(&p, 0).unwrap_err();
        assert!(e.to_string().contains("EPSG:32723"), "{e}");
        assert!(e.help().unwrap().contains("gdalwarp"));
    }

    #[test]
    fn cache_stays_within_its_budget() {
        let (w, h) = (64u32, 64u32);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.tif");
        let spec = WriteSpec {
            width: w,
            height: h,
            bands: vec![Samples::U8(vec![3; (w * h) as usize])],
            layout: Layout::Tiles { width: 16, height: 16 },
            compress: Compress::Deflate,
            transform: grid(),
            nodata: None,
            epsg: 4326,
        };
        write(&p, &spec).unwrap();
        let r = GeoTiff::open(&p, 0).unwrap();
        let cache = ChunkCache::new(3 * 16 * 16);
        for cy in 0..4 {
            for cx in 0..4 {
                cache.get(&r, cx, cy, 0).unwrap();
            }
        }
        cache.get(&r, 3, 3, 0).unwrap();
        assert_eq!(cache.stats(), (1, 16));
        assert!(cache.inner.lock().unwrap().bytes <= 3 * 16 * 16);
    }
}
