//! The deterministic numbers the fake writes into export files, as pure functions of (site, layer, year…).
//!
//! Tests compute their expectations from these functions, never from geepipe, so a results test can
//! check what geepipe reads against an independent source. The rules (stable; change them only together
//! with the tests that depend on them):
//!
//! - A site-year has data unless `hash(site, layer, year) % 7 == 0` ([`has_data`]).
//! - Categorical ([`categorical`]): 1–4 distinct class codes from [`CLASS_CODES`], ascending; each with
//!   a pixel count that is a multiple of 1/16 in (0, 1250] (fractionally weighted pixels, as
//!   `frequencyHistogram` reports) and hectares = pixels × [`PIXEL_HECTARES`] (a 30 m pixel) rounded
//!   to 4 decimals.
//! - Cells of `{layer}__{year}__ha` / `__px` ([`categorical_cells`]): JSON object text, code → value,
//!   codes ascending, numbers in Rust's shortest round-trip form (`12.5`, `3`); a site-year without
//!   data is an empty cell or `{}` (both forms occur, chosen by another hash bit), as the column
//!   contract allows.
//! - Continuous ([`stat`]): `None` without data; otherwise a base value `b` in [0, 100) (multiple of
//!   0.001), a spread `d` in [0, 5), a count `n` in [1, 5000]: `mean` = b, `median` = b + d/4,
//!   `min` = b − d, `max` = b + d, `stdDev` = d/2, `variance` = (d/2)², `count` = n, `sum` = b·n,
//!   `pNN` = b − d + 2d·NN/100; any other statistic name: a hash-derived number in [0, 1000); all
//!   rounded to 6 decimals (short texts, so any parser reads back the exact same double).
//! - Kept properties of sites that come from a table (`Filter.inList`, no inline metadata):
//!   [`property`] = `"{name}-{site}"`.

/// Class codes the synthetic categorical layers use (MapBiomas-like).
pub const CLASS_CODES: [i64; 10] = [3, 4, 9, 11, 12, 15, 21, 24, 25, 33];

/// Hectares of one 30 m pixel.
pub const PIXEL_HECTARES: f64 = 0.09;

/// FNV-1a over the parts (separated by 0x1f), finished with splitmix64.
fn hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    splitmix(h)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether a site has valid pixels for a layer-year.
pub fn has_data(site_id: &str, layer: &str, year: i32) -> bool {
    hash(&[site_id, layer, &year.to_string(), "data"]) % 7 != 0
}

/// Classes of a categorical layer-year over a site: `(code, hectares, pixels)`, codes ascending;
/// empty when the site-year has no data.
pub fn categorical(site_id: &str, layer: &str, year: i32) -> Vec<(i64, f64, f64)> {
    if !has_data(site_id, layer, year) {
        return Vec::new();
    }
    let y = year.to_string();
    let mut state = hash(&[site_id, layer, &y, "classes"]);
    let n = 1 + (state % 4) as usize;
    let mut codes: Vec<i64> = Vec::new();
    while codes.len() < n {
        state = splitmix(state);
        let code = CLASS_CODES[(state % CLASS_CODES.len() as u64) as usize];
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes.sort_unstable();
    codes
        .into_iter()
        .map(|code| {
            let pixels = (1 + hash(&[site_id, layer, &y, &code.to_string(), "px"]) % 20_000) as f64 / 16.0;
            (code, round_to(pixels * PIXEL_HECTARES, 4), pixels)
        })
        .collect()
}

/// The `__ha` and `__px` cell texts of a categorical layer-year (see the module doc).
pub fn categorical_cells(site_id: &str, layer: &str, year: i32) -> (String, String) {
    let classes = categorical(site_id, layer, year);
    if classes.is_empty() {
        let text = if hash(&[site_id, layer, &year.to_string(), "empty"]) % 2 == 0 { "" } else { "{}" };
        return (text.to_string(), text.to_string());
    }
    let render = |pick: &dyn Fn(&(i64, f64, f64)) -> f64| {
        let inner: Vec<String> = classes.iter().map(|c| format!("\"{}\":{}", c.0, number(pick(c)))).collect();
        format!("{{{}}}", inner.join(","))
    };
    (render(&|c| c.1), render(&|c| c.2))
}

/// A statistic of a continuous layer-year-band over a site; `None` when the site-year has no data.
pub fn stat(site_id: &str, layer: &str, year: i32, band: &str, stat: &str) -> Option<f64> {
    if !has_data(site_id, layer, year) {
        return None;
    }
    let y = year.to_string();
    let b = (hash(&[site_id, layer, &y, band, "base"]) % 100_000) as f64 / 1000.0;
    let d = (hash(&[site_id, layer, &y, band, "spread"]) % 5000) as f64 / 1000.0;
    let n = 1 + hash(&[site_id, layer, &y, band, "count"]) % 5000;
    Some(round_to(
        match stat {
            "mean" => b,
            "median" => b + d / 4.0,
            "min" => b - d,
            "max" => b + d,
            "stdDev" => d / 2.0,
            "variance" => (d / 2.0) * (d / 2.0),
            "count" => n as f64,
            "sum" => b * n as f64,
            p if p.len() > 1 && p.starts_with('p') && p[1..].parse::<u32>().is_ok_and(|v| v <= 100) => {
                let q: f64 = p[1..].parse::<u32>().map(f64::from).unwrap_or(0.0);
                b - d + 2.0 * d * q / 100.0
            }
            other => (hash(&[site_id, layer, &y, band, other]) % 1_000_000) as f64 / 1000.0,
        },
        6,
    ))
}

/// `v` rounded to `decimals` places: its shortest text has at most that many decimals, so every
/// JSON/CSV number parser reads it back exactly.
fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// The value of a kept property for a site that came from a table rather than inline metadata.
pub fn property(site_id: &str, name: &str) -> String {
    format!("{name}-{site_id}")
}

/// A finite number in Rust's shortest round-trip form (`12.5`, `3`), as the fake writes numbers.
pub fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        assert_eq!(categorical("a", "lulc", 2020), categorical("a", "lulc", 2020));
        let sites: Vec<String> = (0..200).map(|i| format!("s{i}")).collect();
        let empty = sites.iter().filter(|s| categorical(s, "lulc", 2020).is_empty()).count();
        assert!(empty > 5 && empty < 60, "about 1 in 7 site-years lack data, got {empty}/200");
        let distinct: std::collections::BTreeSet<String> =
            sites.iter().map(|s| categorical_cells(s, "lulc", 2020).0).collect();
        assert!(distinct.len() > 150);
        assert!(distinct.contains("") && distinct.contains("{}"), "both no-data forms occur");
    }

    #[test]
    fn cells_are_json_objects_matching_the_classes() {
        for i in 0..50 {
            let site = format!("site-{i}");
            let classes = categorical(&site, "lulc", 2019);
            let (ha, px) = categorical_cells(&site, "lulc", 2019);
            if classes.is_empty() {
                assert!(ha.is_empty() || ha == "{}");
                continue;
            }
            let ha: serde_json::Value = serde_json::from_str(&ha).unwrap();
            let px: serde_json::Value = serde_json::from_str(&px).unwrap();
            for (code, hectares, pixels) in classes {
                assert_eq!(ha[code.to_string()].as_f64(), Some(hectares));
                assert_eq!(px[code.to_string()].as_f64(), Some(pixels));
                assert!((hectares - pixels * PIXEL_HECTARES).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn stats_are_consistent() {
        let s = (0..30).map(|i| format!("x{i}")).find(|s| has_data(s, "ndvi", 2021)).unwrap();
        let get = |st: &str| stat(&s, "ndvi", 2021, "NDVI", st).unwrap();
        assert!(get("min") <= get("mean") && get("mean") <= get("max"));
        assert!(get("min") <= get("p50") && get("p50") <= get("max"));
        assert_eq!(get("count").fract(), 0.0);
        let none = (0..100).map(|i| format!("x{i}")).find(|s| !has_data(s, "ndvi", 2021)).unwrap();
        assert_eq!(stat(&none, "ndvi", 2021, "NDVI", "mean"), None);
    }
}
