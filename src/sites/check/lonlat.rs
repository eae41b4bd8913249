//! A feature's rings in WGS 84 longitude/latitude: converted from the coordinate system the file declares
//! (edges densified, see [`crate::crs`]), and every position within longitude/latitude range. A range
//! error says what most likely happened: projected metres in a file that declares no coordinate system,
//! or latitude and longitude swapped.

use super::geometry::{more, Feature};
use super::Checker;
use crate::diag::{Code, Diagnostic, Severity};
use crate::pipeline::SiteFormatName;
use crate::sites::{Polygon, Site};

impl<V: FnMut(Site) -> Result<(), Diagnostic>> Checker<'_, V> {
    /// The polygons in longitude/latitude, or `None` after reporting why not.
    pub(super) fn in_lonlat(&mut self, f: &Feature, polygons: Vec<Polygon>, multi: bool) -> Option<Vec<Polygon>> {
        if self.crs_failed {
            return None;
        }
        let crs = self.crs.clone();
        if !crs.crs.is_wgs84() {
            return self.convert(f, polygons, multi);
        }
        let mut range: Option<(Vec<usize>, f64, f64)> = None;
        let mut count = 0usize;
        for (pi, poly) in polygons.iter().enumerate() {
            for (ri, ring) in poly.iter().enumerate() {
                for (k, &[x, y]) in ring.iter().enumerate() {
                    if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
                        count += 1;
                        if range.is_none() {
                            let path = if multi { vec![pi, ri, k] } else { vec![ri, k] };
                            range = Some((path, x, y));
                        }
                    }
                }
            }
        }
        let Some((path, x, y)) = range else { return Some(polygons) };
        let a = f.coordinates(&path);
        let (label, help) = self.range_help(x, y);
        let who = &f.who;
        let more = more(count);
        self.emit(Code::SitesCoordinateRange, Severity::Error, |c| {
            c.at(
                Diagnostic::error(
                    Code::SitesCoordinateRange,
                    format!("{who} has a position [{x}, {y}] outside longitude/latitude range{more}"),
                ),
                &a,
                label,
            )
            .with_help(help)
        });
        None
    }

    /// Converts from the declared coordinate system, densifying edges; a position that does not convert is
    /// an error naming the CRS and where it was declared.
    fn convert(&mut self, f: &Feature, polygons: Vec<Polygon>, multi: bool) -> Option<Vec<Polygon>> {
        let crs = self.crs.clone();
        let mut out = Vec::with_capacity(polygons.len());
        for (pi, poly) in polygons.iter().enumerate() {
            let mut rings = Vec::with_capacity(poly.len());
            for (ri, ring) in poly.iter().enumerate() {
                match crs.crs.ring_to_lonlat(ring) {
                    Ok(r) if r.iter().all(|[x, y]| (-180.0..=180.0).contains(x) && (-90.0..=90.0).contains(y)) => {
                        rings.push(r)
                    }
                    converted => {
                        let path = if multi { vec![pi, ri] } else { vec![ri] };
                        let a = f.coordinates(&path);
                        let who = &f.who;
                        let declared = crs.origin.as_deref().map(|o| format!(" ({o})")).unwrap_or_default();
                        let (msg, help) = match converted {
                            Err(e) => (format!("{who}: {e}"), e.help()),
                            Ok(_) => (
                                format!(
                                    "{who} lies outside longitude/latitude range once converted from {}",
                                    crs.crs.name()
                                ),
                                "the coordinates do not fit the declared CRS: check that it is the right one, or \
                                 set `sites.crs`"
                                    .to_string(),
                            ),
                        };
                        let label = format!("in {}{declared}", crs.crs.name());
                        self.emit(Code::SitesCrsTransform, Severity::Error, |c| {
                            c.at(Diagnostic::error(Code::SitesCrsTransform, msg), &a, label).with_help(help)
                        });
                        return None;
                    }
                }
            }
            out.push(rings);
        }
        Some(out)
    }

    /// The label and help of a position outside longitude/latitude range, by what it most likely is.
    fn range_help(&self, x: f64, y: f64) -> (&'static str, String) {
        let geojson = matches!(self.src.format, SiteFormatName::Geojson | SiteFormatName::Geojsonseq);
        if x.abs() > 1000.0 || y.abs() > 1000.0 {
            let help = match (&self.crs.origin, geojson) {
                (Some(origin), _) => format!(
                    "these look like projected coordinates (metres, e.g. UTM or Web Mercator), but the file says \
                     WGS 84 longitude/latitude ({origin}); set `sites.crs` to the coordinate system they are in, \
                     e.g. `crs: EPSG:31983`"
                ),
                (None, true) => "these look like projected coordinates (metres, e.g. UTM or Web Mercator); GeoJSON \
                                 must be WGS 84 longitude/latitude: reproject to EPSG:4326, e.g. \
                                 `ogr2ogr -t_srs EPSG:4326 sites_wgs84.geojson sites.geojson`, or name the CRS in \
                                 `sites.crs`"
                    .to_string(),
                (None, false) => format!(
                    "these look like projected coordinates (metres, e.g. UTM or Web Mercator), but `{}` declares \
                     no coordinate system{}; set `sites.crs` to the one they are in, e.g. `crs: EPSG:31983`",
                    self.name,
                    if self.src.format == SiteFormatName::Shapefile { " (no .prj beside the .shp)" } else { "" }
                ),
            };
            ("looks like projected metres", help)
        } else if x.abs() <= 90.0 && y.abs() <= 180.0 {
            let what =
                if geojson { "GeoJSON positions are [longitude, latitude]" } else { "x is longitude, y latitude" };
            ("latitude and longitude swapped?", format!("{what}: this may be [{y}, {x}]"))
        } else {
            ("outside the globe", "longitude must be within [-180, 180] and latitude within [-90, 90]".to_string())
        }
    }
}
