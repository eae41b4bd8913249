//! The files a succeeded export leaves in Cloud Storage, rendered the way Earth Engine writes them.
//!
//! Table exports: one row per site of the chunk; columns = the request's `selectors` in order (then
//! `system:index` and `.geo` are not written), or `system:index`, the features' properties (sorted)
//! and `.geo` without selectors. CSV: header row, `\n` line ends, fields quoted only when they need it
//! (comma, quote, line break), quotes doubled. GeoJSON: a `FeatureCollection` of features with `id`
//! (the row index), `geometry` (or null) and `properties` (empty cells left out). Cell values follow
//! geepipe's column contract (`src/plan/columns.rs`) using [`crate::synthetic`].
//! Image exports: a small valid GeoTIFF named `{prefix}.tif`.

use serde_json::{json, Map, Value};

use crate::expr::{self, Chunk, Site};
use crate::synthetic;

/// One file an export produced.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputFile {
    pub bucket: String,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A table cell before rendering.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    /// A property value kept as JSON (GeoJSON keeps its type; CSV writes its text).
    Json(Value),
}

impl Cell {
    fn csv(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(t) => t.clone(),
            Cell::Number(n) => synthetic::number(*n),
            Cell::Json(v) => expr::text(v),
        }
    }

    fn json(&self) -> Option<Value> {
        match self {
            Cell::Empty => None,
            Cell::Text(t) => Some(Value::String(t.clone())),
            Cell::Number(n) => serde_json::Number::from_f64(*n).map(Value::Number),
            Cell::Json(v) => Some(v.clone()),
        }
    }
}

/// What a column means, read from its name (see `src/plan/columns.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnMeaning {
    Area { layer: String, year: i32 },
    Pixels { layer: String, year: i32 },
    Stat { layer: String, year: i32, band: String, stat: String },
    Other,
}

fn is_year(s: &str) -> Option<i32> {
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// Parses `{layer}__{year}__ha|px` and `{layer}__{year}__{band}__{stat}`.
pub fn meaning(column: &str) -> ColumnMeaning {
    let segs: Vec<&str> = column.split("__").collect();
    let n = segs.len();
    if n >= 3 && (segs[n - 1] == "ha" || segs[n - 1] == "px") {
        if let Some(year) = is_year(segs[n - 2]) {
            let layer = segs[..n - 2].join("__");
            return if segs[n - 1] == "ha" {
                ColumnMeaning::Area { layer, year }
            } else {
                ColumnMeaning::Pixels { layer, year }
            };
        }
    }
    if n >= 4 {
        for i in 1..=n - 3 {
            if let Some(year) = is_year(segs[i]) {
                return ColumnMeaning::Stat {
                    layer: segs[..i].join("__"),
                    year,
                    band: segs[i + 1..n - 1].join("__"),
                    stat: segs[n - 1].to_string(),
                };
            }
        }
    }
    ColumnMeaning::Other
}

/// The cell of `column` for `site` (row `index`).
pub fn cell(chunk: &Chunk, site: &Site, index: usize, column: &str) -> Cell {
    if column == chunk.id_property {
        return match site.properties.get(column) {
            Some(v) if !site.from_table => Cell::Json(v.clone()),
            _ => Cell::Text(site.id.clone()),
        };
    }
    if let Some(v) = site.properties.get(column) {
        return if v.is_null() { Cell::Empty } else { Cell::Json(v.clone()) };
    }
    match column {
        "system:index" => return Cell::Text(index.to_string()),
        ".geo" => {
            return site.geometry.as_ref().map(|g| Cell::Text(g.to_string())).unwrap_or(Cell::Empty);
        }
        _ => {}
    }
    match meaning(column) {
        ColumnMeaning::Area { layer, year } => Cell::Text(synthetic::categorical_cells(&site.id, &layer, year).0),
        ColumnMeaning::Pixels { layer, year } => Cell::Text(synthetic::categorical_cells(&site.id, &layer, year).1),
        ColumnMeaning::Stat { layer, year, band, stat } => {
            synthetic::stat(&site.id, &layer, year, &band, &stat).map(Cell::Number).unwrap_or(Cell::Empty)
        }
        ColumnMeaning::Other if site.from_table => Cell::Text(synthetic::property(&site.id, column)),
        ColumnMeaning::Other => Cell::Empty,
    }
}

/// The columns of a table export: the selectors, or `system:index`, sorted properties, `.geo`.
pub fn columns(chunk: &Chunk, selectors: Option<&[String]>) -> Vec<String> {
    if let Some(s) = selectors.filter(|s| !s.is_empty()) {
        return s.to_vec();
    }
    let mut props: Vec<String> = chunk.sites.iter().flat_map(|s| s.properties.keys().cloned()).collect();
    props.sort();
    props.dedup();
    let mut out = vec!["system:index".to_string()];
    out.extend(props);
    out.push(".geo".to_string());
    out
}

/// A CSV table as Earth Engine writes it.
pub fn csv(chunk: &Chunk, selectors: Option<&[String]>) -> Vec<u8> {
    let cols = columns(chunk, selectors);
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = w.write_record(&cols);
    for (i, site) in chunk.sites.iter().enumerate() {
        let _ = w.write_record(cols.iter().map(|c| cell(chunk, site, i, c).csv()));
    }
    w.into_inner().unwrap_or_default()
}

/// A GeoJSON FeatureCollection as Earth Engine writes it.
pub fn geojson(chunk: &Chunk, selectors: Option<&[String]>) -> Vec<u8> {
    let cols: Vec<String> =
        columns(chunk, selectors).into_iter().filter(|c| c != "system:index" && c != ".geo").collect();
    let features: Vec<Value> = chunk
        .sites
        .iter()
        .enumerate()
        .map(|(i, site)| {
            let mut props = Map::new();
            for c in &cols {
                if let Some(v) = cell(chunk, site, i, c).json() {
                    props.insert(c.clone(), v);
                }
            }
            json!({"type": "Feature", "geometry": site.geometry.clone().unwrap_or(Value::Null), "id": i.to_string(), "properties": props})
        })
        .collect();
    serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features})).unwrap_or_default()
}

/// A 4×4 single-band GeoTIFF (EPSG:4326, 0.00025° pixels) with a deterministic pattern.
pub fn geotiff(seed: &str) -> Vec<u8> {
    use tiff::encoder::{colortype::Gray8, TiffEncoder};
    use tiff::tags::Tag;
    let base = seed.bytes().fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    let data: Vec<u8> = (0..16u8).map(|i| base.wrapping_add(i)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    let result = (|| -> tiff::TiffResult<()> {
        let mut enc = TiffEncoder::new(&mut out)?;
        let mut img = enc.new_image::<Gray8>(4, 4)?;
        img.encoder().write_tag(Tag::Unknown(33550), &[0.00025f64, 0.00025, 0.0][..])?;
        img.encoder().write_tag(Tag::Unknown(33922), &[0.0f64, 0.0, 0.0, -48.2, -15.7, 0.0][..])?;
        // GeoKeyDirectory: version 1.1.0, 3 keys: GTModelType=2 (geographic), GTRasterType=1 (area),
        // GeographicType=4326.
        img.encoder()
            .write_tag(Tag::Unknown(34735), &[1u16, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326][..])?;
        img.write_data(&data)
    })();
    match result {
        Ok(()) => out.into_inner(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_meanings() {
        assert_eq!(meaning("lulc__2020__ha"), ColumnMeaning::Area { layer: "lulc".into(), year: 2020 });
        assert_eq!(meaning("a__b__1999__px"), ColumnMeaning::Pixels { layer: "a__b".into(), year: 1999 });
        assert_eq!(
            meaning("s2__2021__NDVI__mean"),
            ColumnMeaning::Stat { layer: "s2".into(), year: 2021, band: "NDVI".into(), stat: "mean".into() }
        );
        assert_eq!(meaning("site_id"), ColumnMeaning::Other);
        assert_eq!(meaning("x__20201__ha"), ColumnMeaning::Other);
    }

    #[test]
    fn geotiff_is_readable() {
        let bytes = geotiff("x");
        let mut d = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(d.dimensions().unwrap(), (4, 4));
        assert!(d.get_tag(tiff::tags::Tag::Unknown(34735)).is_ok());
    }
}
