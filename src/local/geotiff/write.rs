//! A small GeoTIFF writer (tests, the demo data, the benchmark): striped or tiled, uncompressed / LZW /
//! Deflate, chunky or planar, with a ModelPixelScale + ModelTiepoint georeference and EPSG GeoKeys.
//! Rasters of real-world layouts (Albers, UTM, COGs) are written by GDAL in the tests instead.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use tiff::tags::Tag;

use super::Transform;

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
/// Why a GeoTIFF cannot be written or patched.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Tiff(#[from] tiff::TiffError),
    #[error("every band must hold {0} values")]
    BandLength(usize),
    #[error("not a little-endian classic TIFF")]
    NotClassicLittleEndian,
    #[error("tag {tag} has type {found}, not SHORT or LONG")]
    TagType { tag: u16, found: u16 },
    #[error("tag {tag} has {count} values, not {given}")]
    TagCount { tag: u16, count: usize, given: usize },
    #[error("tag {0} not found")]
    TagNotFound(u16),
}

pub fn write(path: &Path, spec: &WriteSpec) -> Result<(), WriteError> {
    write_with(path, spec, false)
}

/// Writes a GeoTIFF, chunky or `planar` (band after band).
pub fn write_with(path: &Path, spec: &WriteSpec, planar: bool) -> Result<(), WriteError> {
    use tiff::encoder::compression::{Compression as _, CompressionAlgorithm, Deflate, Lzw, Uncompressed};
    let n = (spec.width as usize) * (spec.height as usize);
    if spec.bands.is_empty() || spec.bands.iter().any(|b| b.len() != n) {
        return Err(WriteError::BandLength(n));
    }
    let (bits, format) = spec.bands[0].kind();
    let nb = spec.bands.len();
    let (cw, ch) = match spec.layout {
        Layout::Strips { rows } => (spec.width, rows.max(1)),
        Layout::Tiles { width, height } => (width, height),
    };
    let (across, down) = (spec.width.div_ceil(cw), spec.height.div_ceil(ch));
    let mut file = std::io::BufWriter::new(File::create(path)?);
    let mut enc = tiff::encoder::TiffEncoder::new(&mut file)?;
    let mut dir = enc.image_directory()?;
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
                }?;
                offsets.push(dir.write_data(&packed[..])? as u32);
                counts.push(packed.len() as u32);
            }
        }
    }
    let e = |r: tiff::TiffResult<()>| r.map_err(WriteError::Tiff);
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
    file.flush()?;
    Ok(())
}

/// Overwrites the values of tag `tag` in the first directory of a little-endian classic TIFF (tests of
/// damaged files: a header claiming more pixels than the file holds, byte counts cut short). `values`
/// must have as many entries as the tag has; SHORT and LONG tags only.
pub fn patch_tag(path: &Path, tag: u16, values: &[u64]) -> Result<(), WriteError> {
    let mut b = std::fs::read(path)?;
    if b.get(..4) != Some(&[b'I', b'I', 42, 0][..]) {
        return Err(WriteError::NotClassicLittleEndian);
    }
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let ifd = u32_at(&b, 4) as usize;
    let n = usize::from(u16_at(&b, ifd));
    for e in (0..n).map(|k| ifd + 2 + 12 * k) {
        if u16_at(&b, e) != tag {
            continue;
        }
        let (typ, count) = (u16_at(&b, e + 2), u32_at(&b, e + 4) as usize);
        let size = match typ {
            3 => 2,
            4 => 4,
            found => return Err(WriteError::TagType { tag, found }),
        };
        if count != values.len() {
            return Err(WriteError::TagCount { tag, count, given: values.len() });
        }
        let at = if count * size <= 4 { e + 8 } else { u32_at(&b, e + 8) as usize };
        for (k, &v) in values.iter().enumerate() {
            let i = at + k * size;
            if size == 2 {
                b[i..i + 2].copy_from_slice(&(v as u16).to_le_bytes());
            } else {
                b[i..i + 4].copy_from_slice(&(v as u32).to_le_bytes());
            }
        }
        return Ok(std::fs::write(path, b)?);
    }
    Err(WriteError::TagNotFound(tag))
}
