//! Conversions checked against closed-form projections and properties that hold by definition; files
//! written by GDAL/PROJ check the same code end to end in `tests/formats.rs`.

use serde_json::json;

use super::*;

const R: f64 = 6_378_137.0;

/// Web Mercator's inverse, written out (EPSG:3857 is spherical Mercator on the WGS 84 semi-major axis).
fn mercator_inverse(x: f64, y: f64) -> [f64; 2] {
    [(x / R).to_degrees(), (2.0 * (y / R).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees()]
}

fn close(a: [f64; 2], b: [f64; 2], tol: f64) -> bool {
    (a[0] - b[0]).abs() <= tol && (a[1] - b[1]).abs() <= tol
}

#[test]
fn web_mercator_matches_the_closed_form() {
    let crs = Crs::from_epsg(3857).unwrap();
    for (x, y) in [(0.0, 0.0), (-5_009_377.085, -1_689_200.14), (1_000_000.5, 5_000_000.25), (-20_000_000.0, 1.0)] {
        let got = crs.to_lonlat(x, y).unwrap();
        let want = mercator_inverse(x, y);
        assert!(close(got, want, 1e-9), "{x} {y}: {got:?} vs {want:?}");
        let back = crs.from_lonlat(got[0], got[1]).unwrap();
        assert!(close(back, [x, y], 1e-6), "{back:?}");
    }
}

#[test]
fn utm_south_central_meridian_and_round_trips() {
    let crs = Crs::from_epsg(32723).unwrap();
    assert_eq!(crs.name(), "EPSG:32723");
    assert!(!crs.is_geographic());
    // Zone 23S: central meridian 45°W, false easting 500 km, false northing 10,000 km.
    assert!(close(crs.to_lonlat(500_000.0, 10_000_000.0).unwrap(), [-45.0, 0.0], 1e-12));
    let on_meridian = crs.to_lonlat(500_000.0, 8_000_000.0).unwrap();
    assert!((on_meridian[0] + 45.0).abs() < 1e-12);
    for (lon, lat) in [(-47.93, -15.78), (-44.1, -2.5), (-48.0, -20.0)] {
        let xy = crs.from_lonlat(lon, lat).unwrap();
        let back = crs.to_lonlat(xy[0], xy[1]).unwrap();
        assert!(close(back, [lon, lat], 1e-10), "{lon} {lat}: {back:?}");
    }
}

#[test]
fn wkt_with_an_epsg_authority_uses_the_table() {
    let wkt = r#"PROJCS["WGS 84 / UTM zone 23S",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",-45],PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],PARAMETER["false_northing",10000000],UNIT["metre",1],AUTHORITY["EPSG","32723"]]"#;
    let crs = Crs::from_wkt(wkt).unwrap();
    assert_eq!(crs.epsg(), Some(32723));
}

#[test]
fn esri_prj_without_authority_converts_like_the_epsg_code() {
    // What GDAL writes into a shapefile's .prj for EPSG:32723.
    let prj = r#"PROJCS["WGS_1984_UTM_Zone_23S",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",10000000.0],PARAMETER["Central_Meridian",-45.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
    let esri = Crs::from_wkt(prj).unwrap();
    assert_eq!(esri.name(), "WGS_1984_UTM_Zone_23S");
    let epsg = Crs::from_epsg(32723).unwrap();
    for (x, y) in [(500_000.0, 8_255_000.0), (190_000.5, 9_700_000.25), (812_345.0, 7_500_000.0)] {
        let (a, b) = (esri.to_lonlat(x, y).unwrap(), epsg.to_lonlat(x, y).unwrap());
        assert!(close(a, b, 1e-11), "{a:?} vs {b:?}");
    }
    let wgs = r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
    assert!(Crs::from_wkt(wgs).unwrap().is_wgs84());
}

#[test]
fn a_datum_without_a_shift_is_refused_but_its_epsg_code_works() {
    // SAD69 (GRS 1967 Modified ellipsoid) without TOWGS84: the shift (~50 m) is unknown.
    let prj = r#"PROJCS["SAD_1969_UTM_Zone_23S",GEOGCS["GCS_South_American_1969",DATUM["D_South_American_1969",SPHEROID["GRS_1967_Truncated",6378160.0,298.25]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",10000000.0],PARAMETER["Central_Meridian",-45.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
    let err = Crs::from_wkt(prj).unwrap_err();
    assert!(matches!(&err, CrsError::NoDatumShift { crs, grid: None } if crs == "SAD_1969_UTM_Zone_23S"), "{err:?}");
    assert!(err.help().contains("EPSG code"));
    // EPSG:29193 (SAD69 / UTM 23S) carries its Helmert shift: the same numbers land tens of metres away.
    let sad = Crs::from_epsg(29193).unwrap();
    let wgs = Crs::from_epsg(32723).unwrap();
    let (a, b) = (sad.to_lonlat(300_000.0, 8_000_000.0).unwrap(), wgs.to_lonlat(300_000.0, 8_000_000.0).unwrap());
    let metres = cross_track_m(a, a, b);
    assert!((20.0..200.0).contains(&metres), "{metres}");
    let grid = Crs::from_proj_string("+proj=longlat +ellps=clrk66 +nadgrids=conus").unwrap_err();
    assert!(matches!(grid, CrsError::NoDatumShift { grid: Some(ref g), .. } if g == "conus"), "{grid:?}");
    let nad27 = Crs::from_epsg(26717).unwrap_err();
    assert!(matches!(&nad27, CrsError::NoDatumShift { crs, grid: Some(_) } if crs == "EPSG:26717"), "{nad27:?}");
}

#[test]
fn unknown_and_unsupported_crs_name_themselves() {
    assert_eq!(Crs::from_epsg(99_999).unwrap_err(), CrsError::UnknownEpsg(99_999));
    assert_eq!(Crs::from_epsg(1_000_000).unwrap_err(), CrsError::UnknownEpsg(1_000_000));
    let e = Crs::parse("ESRI:102033").unwrap_err();
    assert!(matches!(&e, CrsError::UnknownAuthority { authority, code } if authority == "ESRI" && code == "102033"));
    let e = Crs::from_proj_string("+proj=bonne +lat_1=10 +ellps=WGS84").unwrap_err();
    assert!(matches!(&e, CrsError::UnsupportedProjection { method, .. } if method == "bonne"), "{e:?}");
    assert!(e.to_string().contains("bonne"));
    let e = Crs::parse("not a crs").unwrap_err();
    assert!(matches!(e, CrsError::Unreadable { .. }), "{e:?}");
}

#[test]
fn names_files_and_users_write() {
    for text in [
        "EPSG:3857",
        "epsg:3857",
        "urn:ogc:def:crs:EPSG::3857",
        "urn:ogc:def:crs:EPSG:9.8.15:3857",
        "http://www.opengis.net/def/crs/EPSG/0/3857",
    ] {
        assert_eq!(Crs::parse(text).unwrap().epsg(), Some(3857), "{text}");
    }
    for text in ["urn:ogc:def:crs:OGC:1.3:CRS84", "OGC:CRS84", "EPSG:4326", "WGS84", "CRS84"] {
        assert!(Crs::parse(text).unwrap().is_wgs84(), "{text}");
    }
    let utm = Crs::parse("+proj=utm +zone=23 +south +datum=WGS84 +units=m +no_defs").unwrap();
    let epsg = Crs::from_epsg(32723).unwrap();
    assert_eq!(utm.to_lonlat(400_000.0, 8_000_000.0).unwrap(), epsg.to_lonlat(400_000.0, 8_000_000.0).unwrap());
}

#[test]
fn projjson_by_id() {
    let v = json!({"$schema": "https://proj.org/schemas/v0.7/projjson.schema.json", "type": "ProjectedCRS",
                   "name": "WGS 84 / UTM zone 23S", "id": {"authority": "EPSG", "code": 32723}});
    assert_eq!(Crs::from_projjson(&v).unwrap().epsg(), Some(32723));
    let bound =
        json!({"type": "BoundCRS", "source_crs": {"type": "ProjectedCRS", "id": {"authority": "EPSG", "code": 3857}}});
    assert_eq!(Crs::from_projjson(&bound).unwrap().epsg(), Some(3857));
    let crs84 = json!({"type": "GeographicCRS", "name": "WGS 84 (CRS84)", "id": {"authority": "OGC", "code": "CRS84"}});
    assert!(Crs::from_projjson(&crs84).unwrap().is_wgs84());
    let no_id = json!({"type": "ProjectedCRS", "name": "custom"});
    assert!(matches!(Crs::from_projjson(&no_id).unwrap_err(), CrsError::Unreadable { .. }));
}

#[test]
fn positions_outside_the_domain_are_errors_naming_the_crs() {
    let crs = Crs::from_epsg(3857).unwrap();
    let e = crs.to_lonlat(f64::NAN, 0.0).unwrap_err();
    assert!(matches!(&e, CrsError::Transform { crs, .. } if crs == "EPSG:3857"), "{e:?}");
}

#[test]
fn densification_keeps_long_edges_within_tolerance_and_short_ones_untouched() {
    let crs = Crs::from_epsg(3857).unwrap();
    // A field-sized square (300 m): the converted vertices alone are within tolerance.
    let (x0, y0) = (-5_300_000.0, -1_800_000.0);
    let small = [[x0, y0], [x0 + 300.0, y0], [x0 + 300.0, y0 + 300.0], [x0, y0 + 300.0], [x0, y0]];
    let out = crs.ring_to_lonlat(&small).unwrap();
    assert_eq!(out.len(), 5);
    for (p, q) in small.iter().zip(&out) {
        assert_eq!(*q, crs.to_lonlat(p[0], p[1]).unwrap());
    }
    // A 200 km edge along a Mercator parallel at ~45°N bows away from the geodesic by kilometres.
    let (x, y) = (1_000_000.0, 5_600_000.0);
    let long = [[x, y], [x + 200_000.0, y], [x + 200_000.0, y + 1000.0], [x, y]];
    let out = crs.ring_to_lonlat(&long).unwrap();
    assert!(out.len() > 100, "{}", out.len());
    assert_eq!(out.first(), out.last());
    // Every piece's source-CRS midpoint is within the tolerance of the geodesic between its converted ends.
    for w in out.windows(2) {
        let a = crs.from_lonlat(w[0][0], w[0][1]).unwrap();
        let b = crs.from_lonlat(w[1][0], w[1][1]).unwrap();
        let mid = crs.to_lonlat((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0).unwrap();
        assert!(cross_track_m(w[0], w[1], mid) <= DENSIFY_TOLERANCE_M * 1.01, "{w:?}");
    }
    // WGS 84 input passes unchanged.
    let ring = [[-45.0, -15.0], [-44.0, -15.0], [-44.0, -14.0], [-45.0, -15.0]];
    assert_eq!(Crs::wgs84().ring_to_lonlat(&ring).unwrap(), ring.to_vec());
}

#[test]
fn cross_track_distance_of_known_offsets() {
    // One arc-second of latitude off the equator is 30.9 m on the mean sphere.
    let d = cross_track_m([0.0, 0.0], [1.0, 0.0], [0.5, 1.0 / 3600.0]);
    assert!((d - 30.887).abs() < 0.01, "{d}");
    assert!(cross_track_m([0.0, 0.0], [1.0, 0.0], [0.5, 0.0]) < 1e-6);
}
