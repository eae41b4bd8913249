//! A raster's coordinate system from its GeoKeys, read the way GDAL reads them (its GeoTIFF driver and
//! libgeotiff's normalisation), as a [`Crs`] of the shared [`crate::crs`] module.
//!
//! - An EPSG code (ProjectedCSTypeGeoKey, or GeographicTypeGeoKey for a geographic raster) is looked
//!   up in the EPSG table, which carries the projection, the datum and its shift to WGS 84.
//! - A user-defined projection (code 32767) is rebuilt from its keys: the method
//!   (ProjCoordTransGeoKey), its parameters (the natural-origin, false-origin and centre keys stand in
//!   for one another as libgeotiff lets them, each in the file's angular and linear units), the
//!   geographic system (an EPSG code; or a datum code; or an ellipsoid code or axes with an optional
//!   TOWGS84 shift), the prime meridian and the linear unit (kept as `+to_meter`, so the CRS's
//!   coordinates are the raster's). An ESRI "PE String" citation holding WKT is used when present.
//! - Whatever cannot be represented exactly (a method `proj4rs` lacks, an angular unit in
//!   sexagesimal DMS, a datum without a known shift to WGS 84) is an error naming it, never a guess.

use super::geokeys::{key, GeoKeyValue, GeoKeys, USER_DEFINED};
use crate::crs::Crs;

/// Projection methods of ProjCoordTransGeoKey (GeoTIFF 1.0 names) and their PROJ names.
fn method_name(code: u16) -> &'static str {
    match code {
        1 => "Transverse Mercator",
        2 => "Transverse Mercator (modified Alaska)",
        3 => "Oblique Mercator (Hotine)",
        4 => "Oblique Mercator (Laborde)",
        5 => "Oblique Mercator (Rosenmund)",
        6 => "Oblique Mercator (spherical)",
        7 => "Mercator",
        8 => "Lambert Conformal Conic (2SP)",
        9 => "Lambert Conformal Conic (1SP)",
        10 => "Lambert Azimuthal Equal Area",
        11 => "Albers Equal Area",
        12 => "Azimuthal Equidistant",
        13 => "Equidistant Conic",
        14 => "Stereographic",
        15 => "Polar Stereographic",
        16 => "Oblique Stereographic",
        17 => "Equirectangular",
        18 => "Cassini-Soldner",
        19 => "Gnomonic",
        20 => "Miller Cylindrical",
        21 => "Orthographic",
        22 => "Polyconic",
        23 => "Robinson",
        24 => "Sinusoidal",
        25 => "Van der Grinten",
        26 => "New Zealand Map Grid",
        27 => "Transverse Mercator (south oriented)",
        28 => "Cylindrical Equal Area",
        9815 => "Oblique Mercator (Hotine, azimuth at centre)",
        _ => "an unknown method",
    }
}

/// Why a raster's coordinate system cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct CrsProblem {
    pub message: String,
    pub help: String,
}

fn problem(message: impl Into<String>) -> CrsProblem {
    CrsProblem {
        message: message.into(),
        help: "reproject the raster with GDAL to a supported coordinate system, e.g. \
               `gdalwarp -t_srs EPSG:4326 -r near in.tif out.tif` (nearest neighbour keeps class codes)"
            .into(),
    }
}

fn crs_problem(e: crate::crs::CrsError) -> CrsProblem {
    CrsProblem { message: e.to_string(), help: e.help() }
}

/// The coordinate system of a raster, from its GeoKeys.
pub fn from_geokeys(keys: &GeoKeys) -> Result<Crs, CrsProblem> {
    let model = keys.short(key::GT_MODEL_TYPE);
    let pcs = keys.short(key::PROJECTED_CS_TYPE);
    // GDAL treats a file with a projected code but no model type as projected.
    let projected = model == Some(1) || (model.is_none() && pcs.is_some());
    if model == Some(3) {
        return Err(problem("geocentric coordinates (GTModelTypeGeoKey 3) are not supported"));
    }
    if let Some(wkt) = pe_string(keys) {
        return Crs::from_wkt(wkt).map_err(crs_problem);
    }
    if projected {
        if let Some(code) = pcs.filter(|&c| c != USER_DEFINED && c != 0) {
            return Crs::from_epsg(u32::from(code)).map_err(crs_problem);
        }
        let (geog, angle) = geographic_part(keys)?;
        let projection = projection_part(keys, angle)?;
        let name = keys
            .ascii(key::PCS_CITATION)
            .or_else(|| keys.ascii(key::GT_CITATION))
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("unknown") && !c.eq_ignore_ascii_case("unnamed"))
            .map(str::to_string)
            .unwrap_or_else(|| format!("a user-defined {} projection", projection.method));
        let definition = format!("{} {geog} +no_defs", projection.proj);
        return named(Crs::from_proj_string(&definition), name);
    }
    // Geographic (or no model given): an EPSG code, else the user-defined parts.
    match keys.short(key::GEOGRAPHIC_TYPE) {
        Some(code) if code != USER_DEFINED && code != 0 => Crs::from_epsg(u32::from(code)).map_err(crs_problem),
        None if keys.keys.keys().all(|&k| k < key::GEOGRAPHIC_TYPE) => Ok(Crs::wgs84()),
        _ => {
            let (geog, angle) = geographic_part(keys)?;
            if (angle - 1.0).abs() > 1e-12 {
                return Err(problem("a geographic raster whose coordinates are not in degrees is not supported"));
            }
            if geog == "+datum=WGS84" {
                // Nothing but the default datum: WGS 84 longitude/latitude itself.
                return Ok(Crs::wgs84());
            }
            let name = keys
                .ascii(key::GEOG_CITATION)
                .or_else(|| keys.ascii(key::GT_CITATION))
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("unknown") && !c.contains('='))
                .map(str::to_string)
                .unwrap_or_else(|| "a user-defined geographic coordinate system".into());
            named(Crs::from_proj_string(&format!("+proj=longlat {geog} +no_defs")), name)
        }
    }
}

/// Gives a built CRS the raster's name for messages (errors keep naming the definition).
fn named(crs: Result<Crs, crate::crs::CrsError>, name: String) -> Result<Crs, CrsProblem> {
    let crs = crs.map_err(|e| {
        let mut p = crs_problem(e);
        p.message = format!("{name}: {}", p.message);
        p
    })?;
    Ok(crs.with_name(name))
}

/// WKT that ESRI software stores in a citation key (`ESRI PE String = PROJCS[...]`).
fn pe_string(keys: &GeoKeys) -> Option<&str> {
    [key::PCS_CITATION, key::GT_CITATION, key::GEOG_CITATION]
        .into_iter()
        .filter_map(|k| keys.ascii(k))
        .find_map(|c| c.split_once("ESRI PE String = ").map(|(_, w)| w.trim()))
        .filter(|w| w.contains('['))
}

/// The datum/ellipsoid/prime-meridian part of a PROJ string, and the angular unit in degrees.
fn geographic_part(keys: &GeoKeys) -> Result<(String, f64), CrsProblem> {
    let angle = angular_unit(keys)?;
    let pm = match keys.short(key::GEOG_PRIME_MERIDIAN) {
        None | Some(8901) => keys
            .double(key::GEOG_PRIME_MERIDIAN_LONG)
            .filter(|&l| l != 0.0)
            .map(|l| format!(" +pm={}", l * angle))
            .unwrap_or_default(),
        Some(USER_DEFINED) => {
            keys.double(key::GEOG_PRIME_MERIDIAN_LONG).map(|l| format!(" +pm={}", l * angle)).unwrap_or_default()
        }
        Some(8903) => " +pm=paris".into(),
        Some(other) => return Err(problem(format!("the prime meridian EPSG:{other} is not supported"))),
    };
    // A geographic CRS code carries the whole datum.
    if let Some(code) = keys.short(key::GEOGRAPHIC_TYPE).filter(|&c| c != USER_DEFINED && c != 0) {
        let gcs = Crs::from_epsg(u32::from(code)).map_err(crs_problem)?;
        return Ok((datum_tokens(gcs.definition(), "+datum=WGS84") + &pm, angle));
    }
    // A datum code: EPSG numbers geographic systems 4xxx after their datums 6xxx.
    if let Some(datum) = keys.short(key::GEOG_GEODETIC_DATUM).filter(|&c| c != USER_DEFINED && c != 0) {
        if (6001..=6999).contains(&datum) {
            if let Ok(gcs) = Crs::from_epsg(u32::from(datum) - 2000) {
                return Ok((datum_tokens(gcs.definition(), "+datum=WGS84") + &pm, angle));
            }
        }
        return Err(problem(format!("the datum EPSG:{datum} is not supported")));
    }
    let mut out = ellipsoid(keys)?;
    if let Some(t) = keys.doubles(key::GEOG_TOWGS84) {
        if matches!(t.len(), 3 | 7) {
            let values: Vec<String> = t.iter().map(|v| v.to_string()).collect();
            out.push_str(&format!(" +towgs84={}", values.join(",")));
        }
    }
    Ok((out + &pm, angle))
}

/// `+datum`, `+ellps`, axes, `+towgs84` and `+nadgrids` tokens of a PROJ string (`fallback` when none).
fn datum_tokens(definition: &str, fallback: &str) -> String {
    let keep = ["+datum=", "+ellps=", "+a=", "+b=", "+rf=", "+f=", "+R=", "+towgs84=", "+nadgrids="];
    let tokens: Vec<&str> = definition.split_whitespace().filter(|t| keep.iter().any(|k| t.starts_with(k))).collect();
    if tokens.is_empty() {
        fallback.to_string()
    } else {
        tokens.join(" ")
    }
}

/// The ellipsoid of a user-defined datum: an EPSG ellipsoid code, or its axes.
fn ellipsoid(keys: &GeoKeys) -> Result<String, CrsProblem> {
    let named = |n: &str| format!("+ellps={n}");
    match keys.short(key::GEOG_ELLIPSOID) {
        Some(7030) => return Ok(named("WGS84")),
        Some(7019) => return Ok(named("GRS80")),
        Some(7043) => return Ok(named("WGS72")),
        Some(7008) => return Ok(named("clrk66")),
        Some(7012) => return Ok(named("clrk80")),
        Some(7022) => return Ok(named("intl")),
        Some(7004) => return Ok(named("bessel")),
        Some(7001) => return Ok(named("airy")),
        Some(7002) => return Ok(named("mod_airy")),
        Some(7024) => return Ok(named("krass")),
        Some(7003) | Some(7050) => return Ok(named("aust_SA")),
        Some(7036) => return Ok(named("GRS67")),
        Some(7048) => return Ok("+R=6371007".into()),
        None | Some(USER_DEFINED) | Some(0) => {}
        Some(other) => return Err(problem(format!("the ellipsoid EPSG:{other} is not supported"))),
    }
    let a = keys.double(key::GEOG_SEMI_MAJOR_AXIS);
    let b = keys.double(key::GEOG_SEMI_MINOR_AXIS);
    let rf = keys.double(key::GEOG_INV_FLATTENING);
    match (a, b, rf) {
        (Some(a), _, Some(rf)) if rf > 0.0 => Ok(format!("+a={a} +rf={rf}")),
        (Some(a), Some(b), _) if b > 0.0 && b != a => Ok(format!("+a={a} +b={b}")),
        (Some(a), _, _) => Ok(format!("+R={a}")),
        // No datum, ellipsoid or axes at all: GDAL falls back to WGS 84.
        _ => Ok("+datum=WGS84".into()),
    }
}

/// Degrees per unit of the file's angles (GeogAngularUnitsGeoKey).
fn angular_unit(keys: &GeoKeys) -> Result<f64, CrsProblem> {
    Ok(match keys.short(key::GEOG_ANGULAR_UNITS) {
        None | Some(9102) | Some(9122) => 1.0,
        Some(9101) => 180.0 / std::f64::consts::PI,
        Some(9103) => 1.0 / 60.0,
        Some(9104) => 1.0 / 3600.0,
        Some(9105) | Some(9106) => 0.9,
        Some(9109) => 180.0 / std::f64::consts::PI * 1e-6,
        Some(USER_DEFINED) => match keys.double(key::GEOG_ANGULAR_UNIT_SIZE) {
            Some(rad) if rad > 0.0 => rad.to_degrees(),
            _ => return Err(problem("a user-defined angular unit without its size is not supported")),
        },
        Some(other) => return Err(problem(format!("the angular unit EPSG:{other} is not supported"))),
    })
}

/// Metres per unit of the projected coordinates (ProjLinearUnitsGeoKey).
fn linear_unit(keys: &GeoKeys) -> Result<f64, CrsProblem> {
    Ok(match keys.short(key::PROJ_LINEAR_UNITS) {
        None | Some(9001) => 1.0,
        Some(9002) => 0.3048,
        Some(9003) => 1200.0 / 3937.0,
        Some(9005) => 0.3047972654,
        Some(9014) => 1.8288,
        Some(9030) => 1852.0,
        Some(9036) => 1000.0,
        Some(9037) => 0.9143917962,
        Some(9040) => 0.914398414616029,
        Some(9042) => 20.1166195164,
        Some(9096) => 0.9144,
        Some(USER_DEFINED) => match keys.double(key::PROJ_LINEAR_UNIT_SIZE) {
            Some(m) if m > 0.0 => m,
            _ => return Err(problem("a user-defined linear unit without its size is not supported")),
        },
        Some(other) => return Err(problem(format!("the linear unit EPSG:{other} is not supported"))),
    })
}

struct Projection {
    method: &'static str,
    /// The projection part of a PROJ string (method, parameters, `+to_meter`).
    proj: String,
}

/// The projection part of a user-defined projected CRS.
fn projection_part(keys: &GeoKeys, angle: f64) -> Result<Projection, CrsProblem> {
    let unit = linear_unit(keys)?;
    let Some(method) = keys.short(key::PROJ_COORD_TRANS).filter(|&m| m != USER_DEFINED && m != 0) else {
        // Only a conversion code (ProjectionGeoKey): the UTM zones are the ones written in practice.
        return match keys.short(key::PROJECTION) {
            Some(c @ 16001..=16060) => Ok(utm(u32::from(c - 16000), false, unit)),
            Some(c @ 16101..=16160) => Ok(utm(u32::from(c - 16100), true, unit)),
            Some(c) if c != USER_DEFINED => Err(problem(format!(
                "the projection EPSG:{c} (ProjectionGeoKey) is not supported without its method and parameters"
            ))),
            _ => Err(problem("the raster's projection has no method (no ProjCoordTransGeoKey)")),
        };
    };
    // Parameters, each looked for under the keys libgeotiff accepts for it, in the file's units.
    let first = |ids: &[u16]| ids.iter().find_map(|&k| value(keys, k));
    let deg = |ids: &[u16], default: f64| first(ids).map(|v| v * angle).unwrap_or(default);
    let lin = |ids: &[u16]| first(ids).map(|v| v * unit).unwrap_or(0.0);
    let fe = lin(&[key::PROJ_FALSE_EASTING, key::PROJ_CENTER_EASTING, key::PROJ_FALSE_ORIGIN_EASTING]);
    let fn_ = lin(&[key::PROJ_FALSE_NORTHING, key::PROJ_CENTER_NORTHING, key::PROJ_FALSE_ORIGIN_NORTHING]);
    let origin_lon = [key::PROJ_NAT_ORIGIN_LONG, key::PROJ_FALSE_ORIGIN_LONG, key::PROJ_CENTER_LONG];
    let origin_lat = [key::PROJ_NAT_ORIGIN_LAT, key::PROJ_FALSE_ORIGIN_LAT, key::PROJ_CENTER_LAT];
    let lon0 = deg(&origin_lon, 0.0);
    let lat0 = deg(&origin_lat, 0.0);
    let k = first(&[key::PROJ_SCALE_AT_NAT_ORIGIN, key::PROJ_SCALE_AT_CENTER]).unwrap_or(1.0);
    let sp1 = deg(&[key::PROJ_STD_PARALLEL1], 0.0);
    let sp2 = deg(&[key::PROJ_STD_PARALLEL2], 0.0);
    let offsets = format!("+x_0={fe} +y_0={fn_}");
    let name = method_name(method);
    let proj = match method {
        1 => format!("+proj=tmerc +lat_0={lat0} +lon_0={lon0} +k={k} {offsets}"),
        7 => match (value(keys, key::PROJ_STD_PARALLEL1), value(keys, key::PROJ_SCALE_AT_NAT_ORIGIN)) {
            (Some(ts), None) => format!("+proj=merc +lat_ts={} +lon_0={lon0} {offsets}", ts * angle),
            _ => format!("+proj=merc +lon_0={lon0} +k={k} {offsets}"),
        },
        8 => format!("+proj=lcc +lat_1={sp1} +lat_2={sp2} +lat_0={lat0} +lon_0={lon0} {offsets}"),
        9 => format!("+proj=lcc +lat_1={lat0} +lat_0={lat0} +lon_0={lon0} +k_0={k} {offsets}"),
        10 => format!("+proj=laea +lat_0={lat0} +lon_0={lon0} {offsets}"),
        11 => format!("+proj=aea +lat_1={sp1} +lat_2={sp2} +lat_0={lat0} +lon_0={lon0} {offsets}"),
        12 => format!("+proj=aeqd +lat_0={lat0} +lon_0={lon0} {offsets}"),
        13 => format!("+proj=eqdc +lat_1={sp1} +lat_2={sp2} +lat_0={lat0} +lon_0={lon0} {offsets}"),
        // GDAL reads both as the oblique (double) stereographic.
        14 | 16 => format!("+proj=sterea +lat_0={lat0} +lon_0={lon0} +k={k} {offsets}"),
        15 => {
            let lon = deg(
                &[
                    key::PROJ_STRAIGHT_VERT_POLE_LONG,
                    key::PROJ_NAT_ORIGIN_LONG,
                    key::PROJ_FALSE_ORIGIN_LONG,
                    key::PROJ_CENTER_LONG,
                ],
                0.0,
            );
            let pole = if lat0 < 0.0 { -90.0 } else { 90.0 };
            if lat0.abs() == 90.0 {
                format!("+proj=stere +lat_0={pole} +lat_ts={pole} +lon_0={lon} +k={k} {offsets}")
            } else {
                format!("+proj=stere +lat_0={pole} +lat_ts={lat0} +lon_0={lon} {offsets}")
            }
        }
        17 => format!("+proj=eqc +lat_ts={sp1} +lat_0={lat0} +lon_0={lon0} {offsets}"),
        18 => format!("+proj=cass +lat_0={lat0} +lon_0={lon0} {offsets}"),
        19 => format!("+proj=gnom +lat_0={lat0} +lon_0={lon0} {offsets}"),
        20 => format!("+proj=mill +lat_0={lat0} +lon_0={lon0} {offsets}"),
        21 => format!("+proj=ortho +lat_0={lat0} +lon_0={lon0} {offsets}"),
        22 => format!("+proj=poly +lat_0={lat0} +lon_0={lon0} {offsets}"),
        23 => format!("+proj=robin +lon_0={lon0} {offsets}"),
        24 => format!("+proj=sinu +lon_0={lon0} {offsets}"),
        28 => format!("+proj=cea +lat_ts={sp1} +lon_0={lon0} {offsets}"),
        3 | 9815 => {
            let alpha = deg(&[key::PROJ_AZIMUTH_ANGLE], 0.0);
            let gamma = deg(&[key::PROJ_RECTIFIED_GRID_ANGLE], alpha);
            let variant = if method == 3 { " +no_uoff" } else { "" };
            format!("+proj=omerc +lat_0={lat0} +lonc={lon0} +alpha={alpha} +gamma={gamma} +k={k}{variant} {offsets}")
        }
        _ => {
            return Err(problem(format!(
                "the projection method {name} (ProjCoordTransGeoKey {method}) is not supported"
            )))
        }
    };
    let proj = if unit == 1.0 { proj } else { format!("{proj} +to_meter={unit}") };
    Ok(Projection { method: name, proj })
}

fn utm(zone: u32, south: bool, unit: f64) -> Projection {
    let s = if south { " +south" } else { "" };
    let to_meter = if unit == 1.0 { String::new() } else { format!(" +to_meter={unit}") };
    Projection { method: "Transverse Mercator", proj: format!("+proj=utm +zone={zone}{s}{to_meter}") }
}

/// A double key's value (or a short holding it, as some writers store whole numbers).
fn value(keys: &GeoKeys, id: u16) -> Option<f64> {
    match keys.keys.get(&id)? {
        GeoKeyValue::Doubles(v) => v.first().copied(),
        GeoKeyValue::Short(v) => Some(f64::from(*v)),
        GeoKeyValue::Ascii(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(shorts: &[(u16, u16)], doubles: &[(u16, f64)], ascii: &[(u16, &str)]) -> GeoKeys {
        let mut k = GeoKeys::default();
        for &(id, v) in shorts {
            k.keys.insert(id, GeoKeyValue::Short(v));
        }
        for &(id, v) in doubles {
            k.keys.insert(id, GeoKeyValue::Doubles(vec![v]));
        }
        for &(id, v) in ascii {
            k.keys.insert(id, GeoKeyValue::Ascii(v.to_string()));
        }
        k
    }

    fn close(a: [f64; 2], b: [f64; 2], tol: f64) -> bool {
        (a[0] - b[0]).abs() < tol && (a[1] - b[1]).abs() < tol
    }

    #[test]
    fn epsg_codes_come_from_the_table() {
        let k = keys(&[(key::GT_MODEL_TYPE, 1), (key::PROJECTED_CS_TYPE, 32723)], &[], &[]);
        let crs = from_geokeys(&k).unwrap();
        assert_eq!(crs.name(), "EPSG:32723");
        let k = keys(&[(key::GT_MODEL_TYPE, 2), (key::GEOGRAPHIC_TYPE, 4326)], &[], &[]);
        assert!(from_geokeys(&k).unwrap().is_wgs84());
        let k = keys(&[(key::GT_MODEL_TYPE, 2), (key::GEOGRAPHIC_TYPE, 4674)], &[], &[]);
        assert_eq!(from_geokeys(&k).unwrap().name(), "EPSG:4674");
        // Angular units only (no datum at all): WGS 84, as GDAL falls back to it.
        let k = keys(&[(key::GT_MODEL_TYPE, 2), (key::GEOG_ANGULAR_UNITS, 9102)], &[], &[]);
        assert!(from_geokeys(&k).unwrap().is_wgs84());
    }

    #[test]
    fn a_user_defined_albers_equals_its_epsg_twin() {
        // EPSG:5070 (NAD83 / Conus Albers) written as user-defined keys, as GDAL writes a PROJ-string CRS.
        let k = keys(
            &[
                (key::GT_MODEL_TYPE, 1),
                (key::PROJECTED_CS_TYPE, USER_DEFINED),
                (key::PROJECTION, USER_DEFINED),
                (key::PROJ_COORD_TRANS, 11),
                (key::GEOGRAPHIC_TYPE, 4269),
                (key::PROJ_LINEAR_UNITS, 9001),
            ],
            &[
                (key::PROJ_STD_PARALLEL1, 29.5),
                (key::PROJ_STD_PARALLEL2, 45.5),
                (key::PROJ_FALSE_ORIGIN_LAT, 23.0),
                (key::PROJ_FALSE_ORIGIN_LONG, -96.0),
                (key::PROJ_FALSE_EASTING, 0.0),
                (key::PROJ_FALSE_NORTHING, 0.0),
            ],
            &[(key::PCS_CITATION, "Conus Albers")],
        );
        let crs = from_geokeys(&k).unwrap();
        assert_eq!(crs.name(), "Conus Albers");
        let twin = Crs::from_epsg(5070).unwrap();
        for (lon, lat) in [(-100.0, 40.0), (-80.5, 27.25), (-122.0, 47.5)] {
            let (a, b) = (crs.from_lonlat(lon, lat).unwrap(), twin.from_lonlat(lon, lat).unwrap());
            assert!(close(a, b, 1e-6), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn user_defined_tm_in_feet_with_an_ellipsoid_and_shift() {
        // A TM in US survey feet on GRS 1980 with a zero shift: coordinates come out in feet.
        let k = keys(
            &[
                (key::GT_MODEL_TYPE, 1),
                (key::PROJECTED_CS_TYPE, USER_DEFINED),
                (key::PROJ_COORD_TRANS, 1),
                (key::GEOGRAPHIC_TYPE, USER_DEFINED),
                (key::GEOG_GEODETIC_DATUM, USER_DEFINED),
                (key::GEOG_ELLIPSOID, 7019),
                (key::PROJ_LINEAR_UNITS, 9003),
            ],
            &[
                (key::PROJ_NAT_ORIGIN_LAT, 0.0),
                (key::PROJ_NAT_ORIGIN_LONG, -45.0),
                (key::PROJ_SCALE_AT_NAT_ORIGIN, 0.9996),
                (key::PROJ_FALSE_EASTING, 500000.0 / 0.3048006096012192),
                (key::PROJ_FALSE_NORTHING, 10000000.0 / 0.3048006096012192),
            ],
            &[],
        );
        let crs = from_geokeys(&k).unwrap();
        let metres = Crs::from_proj_string("+proj=utm +zone=23 +south +ellps=GRS80 +towgs84=0,0,0 +no_defs").unwrap();
        let (a, b) = (crs.from_lonlat(-44.3, -12.7).unwrap(), metres.from_lonlat(-44.3, -12.7).unwrap());
        let ft = 1200.0 / 3937.0;
        assert!(close([a[0] * ft, a[1] * ft], b, 1e-5), "{a:?} ft vs {b:?} m");
    }

    #[test]
    fn unsupported_methods_and_units_are_named() {
        let k = keys(
            &[(key::GT_MODEL_TYPE, 1), (key::PROJECTED_CS_TYPE, USER_DEFINED), (key::PROJ_COORD_TRANS, 25)],
            &[],
            &[],
        );
        let e = from_geokeys(&k).unwrap_err();
        assert!(e.message.contains("Van der Grinten (ProjCoordTransGeoKey 25) is not supported"), "{}", e.message);
        let k = keys(
            &[(key::GT_MODEL_TYPE, 2), (key::GEOGRAPHIC_TYPE, USER_DEFINED), (key::GEOG_ANGULAR_UNITS, 9110)],
            &[],
            &[],
        );
        assert!(from_geokeys(&k).unwrap_err().message.contains("angular unit EPSG:9110"));
        // A datum without a shift to WGS 84: refused by the CRS module, naming the raster's CRS.
        let k = keys(
            &[(key::GT_MODEL_TYPE, 2), (key::GEOGRAPHIC_TYPE, USER_DEFINED), (key::GEOG_ELLIPSOID, 7022)],
            &[],
            &[(key::GEOG_CITATION, "Local datum")],
        );
        let e = from_geokeys(&k).unwrap_err();
        assert!(e.message.starts_with("Local datum: the datum of"), "{}", e.message);
    }
}
