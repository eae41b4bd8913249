//! One site's statistics on every layer-year: coverage of the site in each raster grid, block by block,
//! fed with the pixels of the chunks it touches into the accumulators of [`super::zonal`].
//!
//! A site's results are a list of compact [`Out`] records (layer-year index, class or band/statistic
//! index, numbers), spilled to disk by the caller and turned into table rows at the end.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::cache::ChunkCache;
use super::geotiff::{self, GeoTiff, RasterError};
use super::grid::Grid;
use super::open::Source;
use super::order::{Dec, Enc};
use super::{coverage, zonal, BLOCK};
use crate::pipeline::{LayerKind, Pipeline};
use crate::sites::Site;

/// Everything the workers share.
pub struct Ctx<'a> {
    pub pipeline: &'a Pipeline,
    pub sources: &'a [Source],
    /// Sources grouped by raster grid: coverage is computed once per group.
    pub groups: Vec<Vec<usize>>,
    /// The grid of each group (coordinate system, cell areas).
    pub grids: Vec<Grid>,
    pub cache: ChunkCache,
    /// Sites finished (for progress).
    pub done: AtomicUsize,
    /// Set on Ctrl-C / SIGTERM: workers stop taking sites.
    pub stop: &'a AtomicBool,
}

/// One result of one site.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// No valid pixel in layer-year `source`.
    NoData {
        source: u32,
    },
    Class {
        source: u32,
        code: i64,
        area_ha: f64,
        pixels: f64,
    },
    /// Statistic `stat` (index into the layer's `stats`) of band `band` (index into its `bands`).
    Stat {
        source: u32,
        band: u16,
        stat: u16,
        value: Option<f64>,
    },
}

/// Encodes a site's results for the result spill.
pub fn encode(outs: &[Out], buf: &mut Vec<u8>) {
    let mut e = Enc(buf);
    for o in outs {
        match *o {
            Out::NoData { source } => {
                e.u8(0);
                e.u32(source);
            }
            Out::Class { source, code, area_ha, pixels } => {
                e.u8(1);
                e.u32(source);
                e.u64(code as u64);
                e.f64(area_ha);
                e.f64(pixels);
            }
            Out::Stat { source, band, stat, value } => {
                e.u8(if value.is_some() { 2 } else { 3 });
                e.u32(source);
                e.u32(u32::from(band) << 16 | u32::from(stat));
                if let Some(v) = value {
                    e.f64(v);
                }
            }
        }
    }
}

/// Decodes what [`encode`] wrote.
pub fn decode(b: &[u8]) -> Option<Vec<Out>> {
    let mut d = Dec(b);
    let mut out = Vec::new();
    while !d.is_empty() {
        let tag = d.u8()?;
        let source = d.u32()?;
        out.push(match tag {
            0 => Out::NoData { source },
            1 => Out::Class { source, code: d.u64()? as i64, area_ha: d.f64()?, pixels: d.f64()? },
            2 | 3 => {
                let bs = d.u32()?;
                let value = if tag == 2 { Some(d.f64()?) } else { None };
                Out::Stat { source, band: (bs >> 16) as u16, stat: (bs & 0xffff) as u16, value }
            }
            _ => return None,
        });
    }
    Some(out)
}

enum Acc {
    Cat(zonal::Categorical),
    Cont(Vec<zonal::Continuous>),
}

/// Computes the layer-years `only` says (indexed by source; all when `None`) of one site.
pub fn compute_site(ctx: &Ctx, site: &Site, only: Option<&[bool]>) -> Result<Vec<Out>, RasterError> {
    let p = ctx.pipeline;
    let first = site.first_year(&p.sites);
    let mut outs = Vec::new();
    let mut scratch = Scratch::default();
    for (group, grid) in ctx.groups.iter().zip(&ctx.grids) {
        let jobs: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| first.is_none_or(|f| ctx.sources[i].year >= f))
            .filter(|&i| only.is_none_or(|o| o.get(i).copied().unwrap_or(true)))
            .collect();
        if jobs.is_empty() {
            continue;
        }
        let mut accs: Vec<Acc> = jobs
            .iter()
            .map(|&i| {
                let l = &p.layers[ctx.sources[i].layer];
                match l.kind {
                    LayerKind::Categorical => Acc::Cat(zonal::Categorical::default()),
                    LayerKind::Continuous => {
                        let keep = l.stats.iter().any(|s| s == "median" || s.starts_with('p'));
                        Acc::Cont(l.bands.iter().map(|_| zonal::Continuous::new(keep)).collect())
                    }
                }
            })
            .collect();
        accumulate(ctx, site, grid, &jobs, &mut accs, &mut scratch)?;
        for (&i, acc) in jobs.iter().zip(accs) {
            let source = i as u32;
            let l = &p.layers[ctx.sources[i].layer];
            match acc {
                Acc::Cat(c) if c.is_empty() => outs.push(Out::NoData { source }),
                Acc::Cat(c) => {
                    for (code, px, m2) in c.into_sorted() {
                        outs.push(Out::Class { source, code, area_ha: m2 / 10_000.0, pixels: px });
                    }
                }
                Acc::Cont(bands) if bands.iter().all(|b| b.is_empty()) => outs.push(Out::NoData { source }),
                Acc::Cont(mut bands) => {
                    for (bi, b) in bands.iter_mut().enumerate() {
                        for (si, st) in l.stats.iter().enumerate() {
                            let value = b.stat(st);
                            outs.push(Out::Stat { source, band: bi as u16, stat: si as u16, value });
                        }
                    }
                }
            }
        }
    }
    ctx.done.fetch_add(1, Ordering::Relaxed);
    Ok(outs)
}

/// Buffers reused within one site.
#[derive(Default)]
struct Scratch {
    cov: Vec<f64>,
    acc: Vec<f64>,
    area: Vec<f64>,
}

/// Walks the site's window on `grid` block by block and feeds every job's accumulators.
fn accumulate(
    ctx: &Ctx,
    site: &Site,
    grid: &Grid,
    jobs: &[usize],
    accs: &mut [Acc],
    s: &mut Scratch,
) -> Result<(), RasterError> {
    let Some(shape) = grid.site_in_cells(site)? else {
        return Ok(());
    };
    let (col0, row0, ww, wh) = shape.window;
    for by in (0..wh).step_by(BLOCK) {
        let bh = BLOCK.min(wh - by);
        for bx in (0..ww).step_by(BLOCK) {
            let bw = BLOCK.min(ww - bx);
            coverage::coverage_block(&shape.rings, bx as f64, by as f64, bw, bh, &mut s.cov, &mut s.acc);
            if s.cov.iter().all(|&c| c == 0.0) {
                continue;
            }
            // Global pixel rectangle of this block.
            let (gc0, gr0) = (col0 + bx, row0 + by);
            let area = grid.cell_areas(gc0, gr0, bw, bh, &mut s.area)?;
            for (&job, acc) in jobs.iter().zip(accs.iter_mut()) {
                let r = &ctx.sources[job].raster;
                let (cw, ch) = (r.chunk_width as usize, r.chunk_height as usize);
                let bands = match acc {
                    Acc::Cat(_) => 1,
                    Acc::Cont(v) => v.len(),
                };
                for band in 0..bands {
                    for cy in gr0 / ch..=(gr0 + bh - 1) / ch {
                        for cx in gc0 / cw..=(gc0 + bw - 1) / cw {
                            // Skip chunks the polygon does not touch within this block.
                            let (ys, ye) = ((cy * ch).max(gr0), ((cy + 1) * ch).min(gr0 + bh));
                            let (xs, xe) = ((cx * cw).max(gc0), ((cx + 1) * cw).min(gc0 + bw));
                            let touched = (ys..ye).any(|gy| {
                                let row = &s.cov[(gy - gr0) * bw..(gy - gr0 + 1) * bw];
                                row[xs - gc0..xe - gc0].iter().any(|&c| c > 0.0)
                            });
                            if !touched {
                                continue;
                            }
                            let chunk = ctx.cache.get(r, cx as u32, cy as u32, band as u16)?;
                            let layer = &ctx.pipeline.layers[ctx.sources[job].layer];
                            let mask = match (&ctx.sources[job].mask, &layer.nodata.mask) {
                                (Some(m), Some(nd)) => Some(mask_window(&ctx.cache, m, &nd.valid, (xs, xe), (ys, ye))?),
                                _ => None,
                            };
                            let cells = Cells {
                                nodata: &layer.nodata.values,
                                mask: mask.as_deref(),
                                cov: &s.cov,
                                area: &s.area,
                                area_per_cell: area.per_cell,
                                block: (gc0, gr0, bw),
                                rows: (ys, ye),
                                cols: (xs, xe),
                                origin: (cx * cw, cy * ch),
                                stride: chunk.width,
                            };
                            match &chunk.values {
                                geotiff::Values::U8(v) => cells.feed(v, r, acc, band),
                                geotiff::Values::F32(v) => cells.feed(v, r, acc, band),
                                geotiff::Values::F64(v) => cells.feed(v, r, acc, band),
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether each pixel of the rectangle `cols × rows` (global, end exclusive) is data by the mask raster:
/// its band 1 holds one of `valid`. Row-major, `cols.1 - cols.0` per row; the mask raster may be tiled
/// differently from the layer's.
fn mask_window(
    cache: &ChunkCache,
    mask: &GeoTiff,
    valid: &[f64],
    cols: (usize, usize),
    rows: (usize, usize),
) -> Result<Vec<bool>, RasterError> {
    let w = cols.1 - cols.0;
    let mut out = vec![false; w * (rows.1 - rows.0)];
    let (cw, ch) = (mask.chunk_width as usize, mask.chunk_height as usize);
    for cy in rows.0 / ch..=(rows.1 - 1) / ch {
        for cx in cols.0 / cw..=(cols.1 - 1) / cw {
            let chunk = cache.get(mask, cx as u32, cy as u32, 0)?;
            for gy in (cy * ch).max(rows.0)..((cy + 1) * ch).min(rows.1) {
                for gx in (cx * cw).max(cols.0)..((cx + 1) * cw).min(cols.1) {
                    let v = chunk.values.get((gy - cy * ch) * chunk.width + (gx - cx * cw));
                    out[(gy - rows.0) * w + (gx - cols.0)] = valid.contains(&v);
                }
            }
        }
    }
    Ok(out)
}

/// The cells of one chunk within one coverage block.
struct Cells<'a> {
    /// The layer's no-data values (never a class nor part of a statistic).
    nodata: &'a [f64],
    /// Whether each cell of `cols × rows` is data by the layer's mask raster.
    mask: Option<&'a [bool]>,
    cov: &'a [f64],
    /// Cell areas in m²: one per row of the block, or one per cell when `area_per_cell`.
    area: &'a [f64],
    area_per_cell: bool,
    /// Global column and row of the block's first cell, and the block's width.
    block: (usize, usize, usize),
    /// Global row and column ranges (end exclusive) to visit.
    rows: (usize, usize),
    cols: (usize, usize),
    /// Global column and row of the chunk's first cell, and its row stride.
    origin: (usize, usize),
    stride: usize,
}

impl Cells<'_> {
    fn feed<T: Copy + Into<f64>>(&self, values: &[T], r: &GeoTiff, acc: &mut Acc, band: usize) {
        let (gc0, gr0, bw) = self.block;
        let (ox, oy) = self.origin;
        for gy in self.rows.0..self.rows.1 {
            let crow = &self.cov[(gy - gr0) * bw..(gy - gr0 + 1) * bw];
            let vrow = &values[(gy - oy) * self.stride..];
            for gx in self.cols.0..self.cols.1 {
                let w = crow[gx - gc0];
                if w == 0.0 {
                    continue;
                }
                let v: f64 = vrow[gx - ox].into();
                if !r.is_valid(v) || self.nodata.contains(&v) {
                    continue;
                }
                if let Some(m) = self.mask {
                    if !m[(gy - self.rows.0) * (self.cols.1 - self.cols.0) + (gx - self.cols.0)] {
                        continue;
                    }
                }
                match acc {
                    Acc::Cat(c) => {
                        let cell_m2 = if self.area_per_cell {
                            self.area[(gy - gr0) * bw + gx - gc0]
                        } else {
                            self.area[gy - gr0]
                        };
                        c.add(v, w, cell_m2)
                    }
                    Acc::Cont(bs) => bs[band].add(v, w),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_through_the_spill_encoding() {
        let outs = vec![
            Out::NoData { source: 3 },
            Out::Class { source: 0, code: -7, area_ha: 1.25, pixels: 0.1 },
            Out::Stat { source: 1, band: 2, stat: 5, value: Some(-0.0) },
            Out::Stat { source: 1, band: 0, stat: 1, value: None },
        ];
        let mut buf = Vec::new();
        encode(&outs, &mut buf);
        assert_eq!(decode(&buf), Some(outs));
        assert_eq!(decode(&buf[..buf.len() - 1]), None);
    }
}
