//! The GeoKey directory of a GeoTIFF (OGC GeoTIFF 1.1, tags 34735/34736/34737), parsed into keys.
//!
//! GeoKeyDirectory (34735) is a list of `u16`: a header `[version, revision, minor, count]`, then
//! `count` entries `[key, location, count, value_or_offset]`. `location` 0 means the value is the
//! short itself; 34736 means `count` doubles from GeoDoubleParams at `value_or_offset`; 34737 means
//! `count` characters of GeoAsciiParams at `value_or_offset` (GDAL ends each string with `|`).

use std::collections::BTreeMap;

/// One key's value.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoKeyValue {
    Short(u16),
    Doubles(Vec<f64>),
    Ascii(String),
}

/// Parsed GeoKeys, by key id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoKeys {
    pub keys: BTreeMap<u16, GeoKeyValue>,
}

/// Key ids used by the local engine (names as in the GeoTIFF specification).
pub mod key {
    pub const GT_MODEL_TYPE: u16 = 1024;
    pub const GT_RASTER_TYPE: u16 = 1025;
    pub const GT_CITATION: u16 = 1026;
    pub const GEOGRAPHIC_TYPE: u16 = 2048;
    pub const GEOG_CITATION: u16 = 2049;
    pub const GEOG_GEODETIC_DATUM: u16 = 2050;
    pub const GEOG_PRIME_MERIDIAN: u16 = 2051;
    pub const GEOG_LINEAR_UNITS: u16 = 2052;
    pub const GEOG_LINEAR_UNIT_SIZE: u16 = 2053;
    pub const GEOG_ANGULAR_UNITS: u16 = 2054;
    pub const GEOG_ANGULAR_UNIT_SIZE: u16 = 2055;
    pub const GEOG_ELLIPSOID: u16 = 2056;
    pub const GEOG_SEMI_MAJOR_AXIS: u16 = 2057;
    pub const GEOG_SEMI_MINOR_AXIS: u16 = 2058;
    pub const GEOG_INV_FLATTENING: u16 = 2059;
    pub const GEOG_AZIMUTH_UNITS: u16 = 2060;
    pub const GEOG_PRIME_MERIDIAN_LONG: u16 = 2061;
    pub const GEOG_TOWGS84: u16 = 2062;
    pub const PROJECTED_CS_TYPE: u16 = 3072;
    pub const PCS_CITATION: u16 = 3073;
    pub const PROJECTION: u16 = 3074;
    pub const PROJ_COORD_TRANS: u16 = 3075;
    pub const PROJ_LINEAR_UNITS: u16 = 3076;
    pub const PROJ_LINEAR_UNIT_SIZE: u16 = 3077;
    pub const PROJ_STD_PARALLEL1: u16 = 3078;
    pub const PROJ_STD_PARALLEL2: u16 = 3079;
    pub const PROJ_NAT_ORIGIN_LONG: u16 = 3080;
    pub const PROJ_NAT_ORIGIN_LAT: u16 = 3081;
    pub const PROJ_FALSE_EASTING: u16 = 3082;
    pub const PROJ_FALSE_NORTHING: u16 = 3083;
    pub const PROJ_FALSE_ORIGIN_LONG: u16 = 3084;
    pub const PROJ_FALSE_ORIGIN_LAT: u16 = 3085;
    pub const PROJ_FALSE_ORIGIN_EASTING: u16 = 3086;
    pub const PROJ_FALSE_ORIGIN_NORTHING: u16 = 3087;
    pub const PROJ_CENTER_LONG: u16 = 3088;
    pub const PROJ_CENTER_LAT: u16 = 3089;
    pub const PROJ_CENTER_EASTING: u16 = 3090;
    pub const PROJ_CENTER_NORTHING: u16 = 3091;
    pub const PROJ_SCALE_AT_NAT_ORIGIN: u16 = 3092;
    pub const PROJ_SCALE_AT_CENTER: u16 = 3093;
    pub const PROJ_AZIMUTH_ANGLE: u16 = 3094;
    pub const PROJ_STRAIGHT_VERT_POLE_LONG: u16 = 3095;
    pub const PROJ_RECTIFIED_GRID_ANGLE: u16 = 3096;
}

/// "User-defined" in every code-valued key.
pub const USER_DEFINED: u16 = 32767;

/// Why the GeoKey tags contradict themselves.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum GeoKeyError {
    #[error("the GeoKeyDirectory tag is shorter than its 4-value header")]
    ShortHeader,
    #[error("the GeoKeyDirectory tag announces {announced} keys but holds {held}")]
    Truncated { announced: usize, held: usize },
    #[error("GeoKey {0} points past the end of GeoDoubleParams")]
    PastDoubles(u16),
    #[error("GeoKey {0} points past the end of GeoAsciiParams")]
    PastAscii(u16),
}

impl GeoKeys {
    /// Parses the three tags; `doubles` and `ascii` may be absent when no key uses them.
    pub fn parse(directory: &[u16], doubles: &[f64], ascii: &str) -> Result<GeoKeys, GeoKeyError> {
        if directory.len() < 4 {
            return Err(GeoKeyError::ShortHeader);
        }
        let count = usize::from(directory[3]);
        let entries = directory
            .get(4..4 + 4 * count)
            .ok_or(GeoKeyError::Truncated { announced: count, held: (directory.len() - 4) / 4 })?;
        let mut keys = BTreeMap::new();
        for e in entries.chunks_exact(4) {
            let (id, location, n, value) = (e[0], e[1], usize::from(e[2]), usize::from(e[3]));
            let v = match location {
                0 => GeoKeyValue::Short(e[3]),
                34736 => {
                    GeoKeyValue::Doubles(doubles.get(value..value + n).ok_or(GeoKeyError::PastDoubles(id))?.to_vec())
                }
                34737 => {
                    let s = ascii.get(value..value + n).ok_or(GeoKeyError::PastAscii(id))?;
                    GeoKeyValue::Ascii(s.trim_end_matches(['|', '\0']).to_string())
                }
                // Values in another tag (34735 itself, for keys holding several shorts): not used here.
                _ => continue,
            };
            keys.insert(id, v);
        }
        Ok(GeoKeys { keys })
    }

    pub fn short(&self, id: u16) -> Option<u16> {
        match self.keys.get(&id) {
            Some(GeoKeyValue::Short(v)) => Some(*v),
            _ => None,
        }
    }

    pub fn double(&self, id: u16) -> Option<f64> {
        match self.keys.get(&id) {
            Some(GeoKeyValue::Doubles(v)) => v.first().copied(),
            // Some writers store a double key's value as a short.
            Some(GeoKeyValue::Short(v)) => Some(f64::from(*v)),
            _ => None,
        }
    }

    pub fn doubles(&self, id: u16) -> Option<&[f64]> {
        match self.keys.get(&id) {
            Some(GeoKeyValue::Doubles(v)) => Some(v),
            _ => None,
        }
    }

    pub fn ascii(&self, id: u16) -> Option<&str> {
        match self.keys.get(&id) {
            Some(GeoKeyValue::Ascii(v)) => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorts_doubles_and_ascii_are_found() {
        let dir = [1, 1, 0, 4, 1024, 0, 1, 1, 1026, 34737, 12, 0, 3072, 0, 1, 32767, 3078, 34736, 1, 1];
        let k = GeoKeys::parse(&dir, &[0.0, 29.5], "NAD83 / Test|").unwrap();
        assert_eq!(k.short(key::GT_MODEL_TYPE), Some(1));
        assert_eq!(k.short(key::PROJECTED_CS_TYPE), Some(USER_DEFINED));
        assert_eq!(k.double(key::PROJ_STD_PARALLEL1), Some(29.5));
        assert_eq!(k.ascii(key::GT_CITATION), Some("NAD83 / Test"));
        assert!(GeoKeys::parse(&[1, 1, 0, 2, 1024, 0, 1, 1], &[], "")
            .unwrap_err()
            .to_string()
            .contains("announces 2 keys"));
        assert!(GeoKeys::parse(&[1, 1, 0, 1, 3078, 34736, 1, 5], &[1.0], "").is_err());
    }
}
