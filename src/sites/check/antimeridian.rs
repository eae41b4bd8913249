//! A site whose polygon crosses the antimeridian (a longitude jump of more than 180° between consecutive
//! positions) is split at ±180° by [`crate::sites::antimeridian`], so both engines reduce the polygon the
//! file means instead of a 358°-wide one; a ring that goes around a pole cannot be split and is an error.

use super::geometry::Feature;
use super::{Checker, Severity};
use crate::diag::{Code, Diagnostic};
use crate::sites::antimeridian::{self, SplitError};
use crate::sites::Polygon;

impl<V: FnMut(crate::sites::Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// The site's polygons split at the antimeridian when they cross it, with a warning saying so; `None`
    /// after a ring without area or a hole outside its ring (see [`super::rings`]).
    pub(super) fn across_antimeridian(
        &mut self,
        f: &Feature,
        polygons: Vec<Polygon>,
        multi: bool,
    ) -> Option<(Vec<Polygon>, bool)> {
        if !self.ring_areas(f, &polygons, multi) {
            return None;
        }
        let path = |p: usize, r: usize, k: usize| if multi { vec![p, r, k] } else { vec![r, k] };
        let who = &f.who;
        match antimeridian::split(&polygons) {
            Ok(None) => Some((polygons, multi)),
            Ok(Some(parts)) => {
                // The first jump, for the label.
                let (pi, ri, k) = polygons
                    .iter()
                    .enumerate()
                    .flat_map(|(pi, p)| p.iter().enumerate().map(move |(ri, r)| (pi, ri, r)))
                    .find_map(|(pi, ri, r)| {
                        r.windows(2).position(|w| (w[1][0] - w[0][0]).abs() > 180.0).map(|k| (pi, ri, k + 1))
                    })
                    .unwrap_or((0, 0, 0));
                let a = f.coordinates(&path(pi, ri, k));
                let n = parts.len();
                self.emit(Code::SitesAntimeridian, Severity::Warning, |c| {
                    c.at(
                        Diagnostic::warning(
                            Code::SitesAntimeridian,
                            format!("{who} crosses the antimeridian: it is split at ±180° into {n} parts"),
                        ),
                        &a,
                        "the longitude jumps by more than 180° here",
                    )
                    .with_help(
                        "nothing to do: both engines reduce the parts as one site; if the polygon really goes the \
                         long way round, add positions so consecutive longitudes differ by at most 180°",
                    )
                });
                Some((parts, true))
            }
            Err(SplitError::EnclosesPole { polygon, ring } | SplitError::TooWide { polygon, ring }) => {
                let a = f.coordinates(&path(polygon, ring, 0));
                self.emit(Code::SitesPole, Severity::Error, |c| {
                    c.at(
                        Diagnostic::error(
                            Code::SitesPole,
                            format!("{who} goes once around the globe: it encloses a pole or spans over 360°"),
                        ),
                        &a,
                        "this ring",
                    )
                    .with_help(
                        "split the site into parts that each stay within 180° of longitude (e.g. at 0° and ±180°)",
                    )
                });
                None
            }
        }
    }
}
