//! Geodesic area of a latitude/longitude cell on the WGS84 ellipsoid.
//!
//! A cell bounded by two meridians `λ1, λ2` and two parallels `φ1, φ2` has the exact area
//!
//! ```text
//! A = (λ2 − λ1) · (S(φ2) − S(φ1)),
//! S(φ) = (b² / 2) · [ sin φ / (1 − e² sin² φ) + atanh(e sin φ) / e ]
//! ```
//!
//! with `b` the semi-minor axis and `e` the first eccentricity (`S` is the area of the ellipsoid zone
//! between the equator and `φ` per radian of longitude, from integrating the authalic surface element).
//! Summed over the whole globe it gives the ellipsoid's surface area, which the tests check. Earth
//! Engine's `ee.Image.pixelArea()` computes the same quantity for geographic pixels.

/// WGS84 semi-major axis, metres.
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
pub const WGS84_F: f64 = 1.0 / 298.257_223_563;

#[cfg(test)]
fn e2() -> f64 {
    WGS84_F * (2.0 - WGS84_F)
}

/// Area from the equator to latitude `lat_deg` per radian of longitude, in m² (signed: negative south).
pub fn zone_area(lat_deg: f64) -> f64 {
    zone_area_on(WGS84_A, WGS84_F, lat_deg)
}

/// [`zone_area`] on the ellipsoid of semi-major axis `a` and flattening `f` (a sphere when `f` is 0).
pub fn zone_area_on(a: f64, f: f64, lat_deg: f64) -> f64 {
    let e2 = f * (2.0 - f);
    let s = lat_deg.clamp(-90.0, 90.0).to_radians().sin();
    if e2 < 1e-15 {
        return a * a * s;
    }
    let e = e2.sqrt();
    let b2 = a * a * (1.0 - e2);
    (b2 / 2.0) * (s / (1.0 - e2 * s * s) + (e * s).atanh() / e)
}

/// Area in m² of the cell between longitudes `lon1, lon2` and latitudes `lat1, lat2` (degrees, any order).
pub fn cell_area_m2(lon1: f64, lon2: f64, lat1: f64, lat2: f64) -> f64 {
    ((lon2 - lon1).to_radians() * (zone_area(lat2) - zone_area(lat1))).abs()
}

/// [`cell_area_m2`] on another ellipsoid (`a`, `f`).
pub fn cell_area_m2_on(a: f64, f: f64, lon1: f64, lon2: f64, lat1: f64, lat2: f64) -> f64 {
    ((lon2 - lon1).to_radians() * (zone_area_on(a, f, lat2) - zone_area_on(a, f, lat1))).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_globe_is_the_ellipsoid_surface() {
        // Surface of an oblate ellipsoid: 2πa² + π b²/e · ln((1+e)/(1−e)).
        let e2 = e2();
        let e = e2.sqrt();
        let b2 = WGS84_A * WGS84_A * (1.0 - e2);
        let want = 2.0 * std::f64::consts::PI * WGS84_A * WGS84_A
            + std::f64::consts::PI * b2 / e * ((1.0 + e) / (1.0 - e)).ln();
        let got = cell_area_m2(-180.0, 180.0, -90.0, 90.0);
        assert!((got - want).abs() / want < 1e-12, "{got} vs {want}");
        // About 510 million km².
        assert!((got / 1e12 - 510.066).abs() < 0.01, "{}", got / 1e12);
        // A sphere: 4πR².
        let r = 6_371_000.0;
        let sphere = cell_area_m2_on(r, 0.0, -180.0, 180.0, -90.0, 90.0);
        assert!((sphere - 4.0 * std::f64::consts::PI * r * r).abs() / sphere < 1e-14);
        assert_eq!(cell_area_m2_on(WGS84_A, WGS84_F, 1.0, 2.0, 3.0, 4.0), cell_area_m2(1.0, 2.0, 3.0, 4.0));
    }

    #[test]
    fn cells_sum_to_the_zone_and_shrink_poleward() {
        // 1000 cells of 0.001° between 10°S and 9°S add up to the zone of 1°.
        let whole = cell_area_m2(0.0, 1.0, -10.0, -9.0);
        let sum: f64 =
            (0..1000).map(|i| cell_area_m2(0.0, 1.0, -10.0 + i as f64 * 0.001, -10.0 + (i + 1) as f64 * 0.001)).sum();
        assert!((sum - whole).abs() / whole < 1e-9);
        let equator = cell_area_m2(0.0, 0.00025, 0.0, 0.00025);
        let south = cell_area_m2(0.0, 0.00025, -60.0, -59.99975);
        assert!(south < equator * 0.51 && south > equator * 0.49, "{south} {equator}");
        // A 0.00025° cell at the equator is about 27.83 m × 27.64 m.
        assert!((equator - 769.3).abs() < 1.0, "{equator}");
    }
}
