//! Visiting all sites in spatial order with memory bounded by the number of sites, not their geometry.
//!
//! The site file is read once ([`SiteSpill::collect`]): every site is appended, encoded compactly, to an
//! anonymous temporary file beside the output (unlinked as soon as it is created, so nothing is left
//! behind even if the process is killed), and only its position in that file and the centre of its
//! bounding box stay in memory (~32 bytes per site). [`SiteSpill::order`] then sorts all sites along a
//! Hilbert curve over those centres (or by latitude for rasters stored in strips, whose chunks are whole
//! rows), so neighbouring sites are computed one after the other and each strip or tile is decoded about
//! once whatever the order of the file. Results are spilled the same way ([`ResultSpill`]) and the table
//! is written in the site file's order at the end.

use std::io;
use std::path::Path;

use crate::diag::{Code, Diagnostic};
use crate::pipeline::SiteSource;
use crate::sites::spill::{decode_site, encode_site, Slot, Spill};
pub use crate::sites::spill::{Dec, Enc};
use crate::sites::Site;

/// All sites of a run, spilled (module doc).
pub struct SiteSpill {
    spill: Spill,
    slots: Vec<Slot>,
    /// Centre of each site's bounding box (lon, lat); NaN for an empty geometry.
    centres: Vec<[f64; 2]>,
}

/// How sites are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// Hilbert curve over the box of all centres (tiled rasters).
    Hilbert,
    /// North to south (rasters in strips of whole rows).
    Rows,
}

impl SiteSpill {
    /// Reads every site of `source` into a spill file in `dir`, until `stop()` says so. Errors are the
    /// site file's diagnostics, or one about the spill file.
    pub fn collect_until(
        source: &SiteSource,
        dir: &Path,
        stop: impl Fn() -> bool,
    ) -> Result<SiteSpill, Vec<Diagnostic>> {
        let io_error = |e: io::Error| {
            vec![Diagnostic::error(
                Code::LocalSpill,
                format!("cannot write a temporary file in `{}`: {e}", dir.display()),
            )
            .with_help("the local engine keeps the sites it reads in a temporary file beside the output table")]
        };
        let mut s = SiteSpill { spill: Spill::new(dir).map_err(io_error)?, slots: Vec::new(), centres: Vec::new() };
        let mut buf = Vec::new();
        let mut failed: Option<io::Error> = None;
        let read = crate::sites::for_each(source, |site| {
            if stop() {
                return Err(Diagnostic::error(Code::LocalStopped, "the run was interrupted"));
            }
            buf.clear();
            encode_site(&site, &mut buf);
            match s.spill.push(&buf) {
                Ok(slot) => s.slots.push(slot),
                Err(e) => {
                    failed = Some(e);
                    return Err(Diagnostic::error(Code::LocalStopped, "the run stopped"));
                }
            }
            let [x0, y0, x1, y1] = site.bbox();
            s.centres.push([(x0 + x1) / 2.0, (y0 + y1) / 2.0]);
            Ok(())
        });
        if let Some(e) = failed {
            return Err(io_error(e));
        }
        read?;
        s.spill.seal().map_err(io_error)?;
        Ok(s)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Site `i` (in file order).
    pub fn get(&self, i: usize, buf: &mut Vec<u8>) -> io::Result<Site> {
        self.spill.read(self.slots[i], buf)?;
        decode_site(buf).ok_or_else(|| io::Error::other("a spilled site could not be read back"))
    }

    /// Site indices in visiting order.
    pub fn order(&self, curve: Curve) -> Vec<u32> {
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        for c in self.centres.iter().filter(|c| c[0].is_finite() && c[1].is_finite()) {
            for k in 0..2 {
                lo[k] = lo[k].min(c[k]);
                hi[k] = hi[k].max(c[k]);
            }
        }
        const N: u32 = 1 << 16;
        let cell = |c: [f64; 2], k: usize| -> u32 {
            let span = hi[k] - lo[k];
            if span.is_nan() || span <= 0.0 || !c[k].is_finite() {
                return 0;
            }
            (((c[k] - lo[k]) / span) * f64::from(N - 1)).round().clamp(0.0, f64::from(N - 1)) as u32
        };
        let key = |i: usize| -> u64 {
            let c = self.centres[i];
            match curve {
                // North first (larger latitude = earlier), then west to east.
                Curve::Rows => (u64::from(N - 1 - cell(c, 1)) << 16) | u64::from(cell(c, 0)),
                Curve::Hilbert => hilbert(N, cell(c, 0), N - 1 - cell(c, 1)),
            }
        };
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_by_cached_key(|&i| (key(i as usize), i));
        order
    }
}

/// Distance along the Hilbert curve filling an `n × n` grid (`n` a power of two) of cell `(x, y)`.
pub fn hilbert(n: u32, mut x: u32, mut y: u32) -> u64 {
    let mut d = 0u64;
    let mut s = n / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        // Rotate the quadrant so the curve continues.
        if ry == 0 {
            if rx == 1 {
                x = n - 1 - x;
                y = n - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

/// Results of computed sites, spilled in computing order and read back in file order.
pub struct ResultSpill {
    spill: Spill,
    slots: Vec<Slot>,
}

impl ResultSpill {
    pub fn new(dir: &Path, sites: usize) -> io::Result<ResultSpill> {
        Ok(ResultSpill { spill: Spill::new(dir)?, slots: vec![Slot::default(); sites] })
    }

    pub fn put(&mut self, site: usize, bytes: &[u8]) -> io::Result<()> {
        self.slots[site] = self.spill.push(bytes)?;
        Ok(())
    }

    pub fn seal(&mut self) -> io::Result<()> {
        self.spill.seal()
    }

    pub fn get(&self, site: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        self.spill.read(self.slots[site], buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hilbert_visits_every_cell_once_and_steps_to_a_neighbour() {
        let n = 16u32;
        let mut by_d = vec![(0u32, 0u32); (n * n) as usize];
        for x in 0..n {
            for y in 0..n {
                by_d[hilbert(n, x, y) as usize] = (x, y);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for w in by_d.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert_eq!(a.0.abs_diff(b.0) + a.1.abs_diff(b.1), 1, "{a:?} -> {b:?}");
            seen.insert(a);
        }
        seen.insert(by_d[by_d.len() - 1]);
        assert_eq!(seen.len(), (n * n) as usize);
    }
}
