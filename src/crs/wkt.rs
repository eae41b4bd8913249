//! The two facts geepipe reads from a WKT text before handing it to `proj4wkt`: the top-level authority code
//! (`AUTHORITY["EPSG","32723"]` in WKT1, `ID["EPSG",32723]` in WKT2) and the CRS's name.
//!
//! Written by hand because `proj4wkt`'s syntax tree drops the projected CRS's own authority, and an EPSG code,
//! when present, is the better source: the EPSG table carries the datum shift to WGS 84 that a WKT without
//! `TOWGS84` leaves out. Only bracket depth and quoting matter here; the WKT grammar is `proj4wkt`'s job.

/// What the top level of a WKT CRS says about itself.
#[derive(Debug, Default, PartialEq)]
pub struct Root {
    /// The root keyword (`PROJCS`, `GEOGCRS`, …), upper case.
    pub keyword: String,
    /// The CRS name (the root's first quoted value).
    pub name: Option<String>,
    /// The root's authority and code, e.g. `("EPSG", "32723")` (the last one at the top level).
    pub authority: Option<(String, String)>,
}

/// Reads the root keyword, name and authority of a WKT CRS; `None` when the text does not start like WKT.
pub fn root(wkt: &str) -> Option<Root> {
    let text = wkt.trim_start_matches('\u{feff}').trim();
    let open = text.find(['[', '('])?;
    let keyword = text[..open].trim();
    if keyword.is_empty() || !keyword.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let mut out = Root { keyword: keyword.to_ascii_uppercase(), ..Root::default() };
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    // Start of the identifier before the next bracket at depth 1.
    let mut word_start = None;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                let (value, end) = quoted(text, i);
                if depth == 1 && out.name.is_none() {
                    out.name = Some(value);
                }
                i = end;
                word_start = None;
                continue;
            }
            b'[' | b'(' => {
                depth += 1;
                if depth == 2 {
                    if let Some(s) = word_start {
                        let word = text[s..i].trim();
                        if word.eq_ignore_ascii_case("AUTHORITY") || word.eq_ignore_ascii_case("ID") {
                            if let Some(pair) = authority(text, i + 1) {
                                out.authority = Some(pair);
                            }
                        }
                    }
                }
                word_start = None;
            }
            b']' | b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
                word_start = None;
            }
            b',' => word_start = None,
            _ if depth == 1 && word_start.is_none() && b.is_ascii_alphabetic() => word_start = Some(i),
            _ => {}
        }
        i += 1;
    }
    Some(out)
}

/// The quoted string starting at `start` (`""` is an escaped quote) and the index after it.
fn quoted(text: &str, start: usize) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut value = String::new();
    let mut i = start + 1;
    let mut from = i;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            value.push_str(&text[from..i]);
            if bytes.get(i + 1) == Some(&b'"') {
                value.push('"');
                i += 2;
                from = i;
                continue;
            }
            return (value, i + 1);
        }
        i += 1;
    }
    value.push_str(&text[from..]);
    (value, bytes.len())
}

/// The first two values of an `AUTHORITY[…]` / `ID[…]` whose contents start at `start`.
fn authority(text: &str, start: usize) -> Option<(String, String)> {
    let bytes = text.as_bytes();
    let mut values = Vec::new();
    let mut i = start;
    let mut from = start;
    while i < bytes.len() && values.len() < 2 {
        match bytes[i] {
            b'"' => {
                let (v, end) = quoted(text, i);
                values.push(v);
                i = end;
                // Skip to the separator.
                while i < bytes.len() && !matches!(bytes[i], b',' | b']' | b')') {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b',' {
                    i += 1;
                }
                from = i;
                continue;
            }
            b',' | b']' | b')' => {
                let v = text[from..i].trim();
                if !v.is_empty() {
                    values.push(v.to_string());
                }
                if bytes[i] != b',' {
                    break;
                }
                from = i + 1;
            }
            b'[' | b'(' => break,
            _ => {}
        }
        i += 1;
    }
    let mut it = values.into_iter();
    Some((it.next()?, it.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_root_authority_not_the_nested_ones() {
        let wkt = r#"PROJCS["WGS 84 / UTM zone 23S",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],AUTHORITY["EPSG","4326"]],PROJECTION["Transverse_Mercator"],PARAMETER["central_meridian",-45],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AUTHORITY["EPSG","32723"]]"#;
        let r = root(wkt).unwrap();
        assert_eq!(r.keyword, "PROJCS");
        assert_eq!(r.name.as_deref(), Some("WGS 84 / UTM zone 23S"));
        assert_eq!(r.authority, Some(("EPSG".into(), "32723".into())));
    }

    #[test]
    fn wkt2_ids_and_esri_without_authority() {
        let wkt2 = r#"PROJCRS["WGS 84 / Pseudo-Mercator",BASEGEOGCRS["WGS 84",ID["EPSG",4326]],CONVERSION["Popular Visualisation Pseudo-Mercator",ID["EPSG",3856]],ID["EPSG",3857]]"#;
        assert_eq!(root(wkt2).unwrap().authority, Some(("EPSG".into(), "3857".into())));
        let esri = r#"PROJCS["WGS_1984_UTM_Zone_23S",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],UNIT["Meter",1.0]]"#;
        let r = root(esri).unwrap();
        assert_eq!(r.name.as_deref(), Some("WGS_1984_UTM_Zone_23S"));
        assert_eq!(r.authority, None);
        assert_eq!(root("not wkt at all"), None);
        assert_eq!(root(r#"GEOGCS["a ""quoted"" name"]"#).unwrap().name.as_deref(), Some(r#"a "quoted" name"#));
    }
}
