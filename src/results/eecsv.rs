//! Reading Earth Engine's table export formats (CSV and GeoJSON) into plain rows of cells, and reading the
//! cells the column contract ([`crate::plan::columns`]) defines.
//!
//! Earth Engine's CSV writer quotes a value only when it must (it holds a comma, a quote or a line break),
//! but it writes dictionary-valued properties *unquoted* in Java's map form, `{3=12.5, 15=0.25}`, whose
//! commas then look like cell separators. geepipe's own exports JSON-encode dictionaries (so they arrive
//! quoted), yet files written by other scripts, or by an expression that forgot to encode, still do this. The
//! reader therefore tokenises quote-aware, and when a row has more cells than the header it joins the
//! unquoted cells of each unbalanced `{…}` / `[…]` group back together, then checks the count again: the
//! header's column count is the ground truth.

use serde_json::Value;

pub use super::rows::{Cell, ExportTable, ParseError};

/// Export file formats the results step reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    GeoJson,
}

impl Format {
    /// The format of a file by its name's extension (`.csv`, `.geojson`, `.json`).
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(".geojson") || lower.ends_with(".json") {
            Some(Format::GeoJson)
        } else {
            None
        }
    }
}

/// Parses an export file of the given format.
pub fn parse(format: Format, bytes: &[u8]) -> Result<ExportTable, ParseError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ParseError { line: 0, message: format!("the file is not UTF-8 text ({e})") })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Csv => parse_csv(text),
        Format::GeoJson => parse_geojson(text),
    }
}

/// One raw CSV field: its text and whether it was quoted.
#[derive(Debug, Clone, PartialEq)]
struct Field {
    text: String,
    quoted: bool,
}

/// Splits CSV text into records of fields (RFC 4180, lenient: a stray quote inside an unquoted field is
/// kept as text). Each record comes with its 1-based starting line.
fn records(text: &str) -> Result<Vec<(usize, Vec<Field>)>, ParseError> {
    let mut out = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut line = 1usize;
    let mut record_line = 1usize;
    let mut quote_line = 0usize;
    let mut chars = text.chars().peekable();
    // Whether anything (a character or a separator) was seen in the current record.
    let mut started = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    cur.push('\n');
                }
                _ => cur.push(c),
            }
            continue;
        }
        match c {
            '"' if cur.is_empty() && !quoted => {
                in_quotes = true;
                quoted = true;
                started = true;
                quote_line = line;
            }
            ',' => {
                fields.push(Field { text: std::mem::take(&mut cur), quoted });
                quoted = false;
                started = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if started || !cur.is_empty() {
                    fields.push(Field { text: std::mem::take(&mut cur), quoted });
                    out.push((record_line, std::mem::take(&mut fields)));
                }
                quoted = false;
                started = false;
                line += 1;
                record_line = line;
            }
            _ => {
                cur.push(c);
                started = true;
            }
        }
    }
    if in_quotes {
        return Err(ParseError { line: quote_line, message: "a quoted cell is never closed".into() });
    }
    if started || !cur.is_empty() {
        fields.push(Field { text: cur, quoted });
        out.push((record_line, fields));
    }
    Ok(out)
}

/// Bracket depth change of an unquoted field: `{`/`[` open, `}`/`]` close.
fn depth_change(s: &str) -> i64 {
    s.chars().fold(0, |d, c| match c {
        '{' | '[' => d + 1,
        '}' | ']' => d - 1,
        _ => d,
    })
}

/// Joins the pieces of unquoted `{…}`/`[…]` values that the tokenizer split at their commas.
fn rejoin_groups(fields: Vec<Field>) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::with_capacity(fields.len());
    let mut depth = 0i64;
    for f in fields {
        if depth > 0 {
            let last = out.last_mut().expect("an open group has a first piece");
            if f.quoted {
                // A quoted piece cannot be part of an unquoted group: the group was not one.
                depth = 0;
                out.push(f);
                continue;
            }
            last.text.push(',');
            last.text.push_str(&f.text);
            depth += depth_change(&f.text);
            continue;
        }
        if !f.quoted {
            let d = depth_change(&f.text);
            if d > 0 {
                depth = d;
            }
        }
        out.push(f);
    }
    out
}

/// Parses Earth Engine CSV: a header row naming the columns, then one row per feature.
pub fn parse_csv(text: &str) -> Result<ExportTable, ParseError> {
    let mut recs = records(text)?.into_iter();
    let Some((_, header)) = recs.next() else {
        return Ok(ExportTable::default());
    };
    let columns: Vec<String> = header.into_iter().map(|f| f.text).collect();
    let n = columns.len();
    let mut rows = Vec::new();
    for (line, fields) in recs {
        let fields = if fields.len() > n { rejoin_groups(fields) } else { fields };
        if fields.len() != n {
            return Err(ParseError {
                line,
                message: format!("the row has {} cells but the header names {n} columns", fields.len()),
            });
        }
        let cells =
            fields.into_iter().map(|f| if f.text.is_empty() { Cell::Empty } else { Cell::Text(f.text) }).collect();
        rows.push((line, cells));
    }
    Ok(ExportTable { columns, rows })
}

/// Parses a GeoJSON FeatureCollection export: the columns are the feature properties (in order of first
/// appearance); geometries are ignored.
pub fn parse_geojson(text: &str) -> Result<ExportTable, ParseError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| ParseError { line: e.line(), message: format!("not valid JSON: {e}") })?;
    if v.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(ParseError { line: 0, message: "not a GeoJSON FeatureCollection".into() });
    }
    let feats = match v.get("features") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => return Ok(ExportTable::default()),
        Some(_) => return Err(ParseError { line: 0, message: "`features` is not a list".into() }),
    };
    super::features::table(feats)
}

impl Cell {
    /// The cell as text (ids, kept properties), `None` when empty.
    pub fn text(&self) -> Option<String> {
        match self {
            Cell::Empty => None,
            Cell::Text(s) => Some(s.clone()),
            Cell::Json(Value::String(s)) => Some(s.clone()),
            Cell::Json(v) => Some(v.to_string()),
        }
    }

    /// The cell as a JSON value for a kept site property (CSV cells stay text: CSV has no types).
    pub fn to_value(&self) -> Value {
        match self {
            Cell::Empty => Value::Null,
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Json(v) => v.clone(),
        }
    }

    /// A statistic: a number, or `None` for no data (empty, `NaN`).
    pub fn number(&self) -> Result<Option<f64>, CellError> {
        let n = match self {
            Cell::Empty => return Ok(None),
            Cell::Text(s) => parse_number(s)?,
            Cell::Json(Value::Number(n)) => n.as_f64().ok_or_else(|| CellError::NotNumber(n.to_string()))?,
            Cell::Json(Value::String(s)) => parse_number(s)?,
            Cell::Json(v) => return Err(CellError::NotNumber(v.to_string())),
        };
        Ok(if n.is_nan() { None } else { Some(n) })
    }

    /// A class dictionary (`__ha` / `__px` cells): class code → value, sorted by code; `None` when the cell
    /// says "no data" (empty or `{}`). Accepts JSON object text, Java map text `{3=12.5, 15=0.25}`, and a
    /// GeoJSON object.
    pub fn class_map(&self) -> Result<Option<Vec<(i64, f64)>>, CellError> {
        let pairs: Vec<(String, f64)> = match self {
            Cell::Empty => return Ok(None),
            Cell::Text(s) => parse_map_text(s)?,
            Cell::Json(Value::String(s)) => parse_map_text(s)?,
            Cell::Json(Value::Object(m)) => json_pairs(m)?,
            Cell::Json(v) => return Err(CellError::NotClassDictionary(v.to_string())),
        };
        if pairs.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            out.push((class_code(&k)?, v));
        }
        out.sort_by_key(|p| p.0);
        if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(CellError::ClassTwice(w[0].0));
        }
        Ok(Some(out))
    }
}

/// Why a cell does not hold what its column needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CellError {
    #[error("`{0}` is not a number")]
    NotNumber(String),
    #[error("`{0}` is not a dictionary of class codes")]
    NotClassDictionary(String),
    /// Dictionary text that is neither JSON nor Java's map form (abbreviated).
    #[error("`{0}` is not a dictionary")]
    NotDictionary(String),
    #[error("`{entry}` in `{text}` is not `code=value`")]
    NotPair { entry: String, text: String },
    #[error("`{value}` is not a number (class `{class}`)")]
    PairValue { class: String, value: String },
    #[error("the value of class `{class}` is not a number: `{value}`")]
    ClassValue { class: String, value: String },
    #[error("class code `{0}` is not an integer")]
    ClassCode(String),
    #[error("class {0} appears twice")]
    ClassTwice(i64),
    /// A first-year cell that is not a whole number.
    #[error("a first year must be a whole number, found {0}")]
    NotYear(Value),
}

/// Parses a number as Earth Engine (Java) writes it: `12`, `12.5`, `1.0E-4`, `NaN`, `Infinity`.
pub fn parse_number(s: &str) -> Result<f64, CellError> {
    let t = s.trim();
    t.parse::<f64>().map_err(|_| CellError::NotNumber(s.to_string()))
}

/// A class code key: an integer, possibly written as `3.0`.
fn class_code(k: &str) -> Result<i64, CellError> {
    let t = k.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Ok(i);
    }
    match t.parse::<f64>() {
        Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(CellError::ClassCode(k.to_string())),
    }
}

fn json_pairs(m: &serde_json::Map<String, Value>) -> Result<Vec<(String, f64)>, CellError> {
    m.iter()
        .map(|(k, v)| {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => parse_number(s).ok(),
                _ => None,
            };
            n.map(|n| (k.clone(), n)).ok_or_else(|| CellError::ClassValue { class: k.clone(), value: v.to_string() })
        })
        .collect()
}

/// Dictionary text: JSON (`{"3":12.5}`) or Java's map form (`{3=12.5, 15=0.25}`).
fn parse_map_text(s: &str) -> Result<Vec<(String, f64)>, CellError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(Vec::new());
    }
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(t) {
        return json_pairs(&m);
    }
    let inner =
        t.strip_prefix('{').and_then(|r| r.strip_suffix('}')).ok_or_else(|| CellError::NotDictionary(abbreviate(s)))?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .map(|entry| {
            let (k, v) = entry
                .split_once('=')
                .ok_or_else(|| CellError::NotPair { entry: entry.trim().to_string(), text: abbreviate(s) })?;
            let v = parse_number(v)
                .map_err(|_| CellError::PairValue { class: k.trim().to_string(), value: v.to_string() })?;
            Ok((k.trim().to_string(), v))
        })
        .collect()
}

fn abbreviate(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    fn t(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn quoted_json_dictionary_and_plain_cells() {
        let csv = "site_id,name,lulc__2020__ha\r\na,\"Fazenda, A\",\"{\"\"3\"\":12.5,\"\"15\"\":0.25}\"\r\nb,B,\r\n";
        let tab = parse_csv(csv).unwrap();
        assert_eq!(tab.columns, ["site_id", "name", "lulc__2020__ha"]);
        assert_eq!(tab.rows.len(), 2);
        assert_eq!(tab.rows[0].1, vec![t("a"), t("Fazenda, A"), t("{\"3\":12.5,\"15\":0.25}")]);
        assert_eq!(tab.rows[0].1[2].class_map().unwrap(), Some(vec![(3, 12.5), (15, 0.25)]));
        assert_eq!(tab.rows[1], (3, vec![t("b"), t("B"), Cell::Empty]));
    }

    #[test]
    fn unquoted_java_map_with_commas_is_rejoined() {
        let csv = "site_id,lulc__2020__ha,lulc__2020__px,name\nx,{3=12.5, 15=0.25, 21=1.0E-4},{3=139, 15=2.8, 21=0.001},Farm\n";
        let tab = parse_csv(csv).unwrap();
        assert_eq!(tab.rows[0].1[0], t("x"));
        assert_eq!(tab.rows[0].1[1].class_map().unwrap(), Some(vec![(3, 12.5), (15, 0.25), (21, 1.0e-4)]));
        assert_eq!(tab.rows[0].1[2].class_map().unwrap(), Some(vec![(3, 139.0), (15, 2.8), (21, 0.001)]));
        assert_eq!(tab.rows[0].1[3], t("Farm"));
    }

    #[test]
    fn nested_groups_and_single_entry_maps() {
        let csv = "a,b,c\n{1={2=3, 4=5}, 6=7},{9=1},[1, 2, 3]\n";
        let tab = parse_csv(csv).unwrap();
        assert_eq!(tab.rows[0].1, vec![t("{1={2=3, 4=5}, 6=7}"), t("{9=1}"), t("[1, 2, 3]")]);
    }

    #[test]
    fn a_row_that_cannot_be_recovered_names_its_line() {
        let err = parse_csv("a,b\n1,2\n1,2,3\n").unwrap_err();
        assert_eq!(err, ParseError { line: 3, message: "the row has 3 cells but the header names 2 columns".into() });
        let err = parse_csv("a,b\n1\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse_csv("a,b\n1,\"open\n\n").unwrap_err();
        assert_eq!(err.message, "a quoted cell is never closed");
        assert_eq!(err.line, 2);
    }

    #[test]
    fn multiline_quoted_cells_keep_line_numbers() {
        let tab = parse_csv("a,b\n\"x\ny\",1\nz,2").unwrap();
        assert_eq!(tab.rows, vec![(2, vec![t("x\ny"), t("1")]), (4, vec![t("z"), t("2")])]);
    }

    #[test]
    fn empty_file_header_only_and_bom() {
        assert_eq!(parse(Format::Csv, b"").unwrap(), ExportTable::default());
        let tab = parse(Format::Csv, "\u{feff}site_id,x\n".as_bytes()).unwrap();
        assert_eq!(tab.columns, ["site_id", "x"]);
        assert!(tab.rows.is_empty());
    }

    #[test]
    fn quoted_brace_text_is_not_merged() {
        // A quoted cell is never part of an unquoted group, even when an unbalanced brace precedes it.
        let tab = parse_csv("a,b\n{x,\"{y\",z}\n").unwrap_err();
        assert_eq!(tab.line, 2);
        let tab = parse_csv("a,b\n\"{1=2, 3=4}\",\"{\"\"k\"\":1}\"\n").unwrap();
        assert_eq!(tab.rows[0].1, vec![t("{1=2, 3=4}"), t("{\"k\":1}")]);
    }

    #[test]
    fn numbers_as_java_writes_them() {
        assert_eq!(t("12").number().unwrap(), Some(12.0));
        assert_eq!(t("1.0E-4").number().unwrap(), Some(1.0e-4));
        assert_eq!(t("-3.5e2").number().unwrap(), Some(-350.0));
        assert_eq!(t("NaN").number().unwrap(), None);
        assert_eq!(t("Infinity").number().unwrap(), Some(f64::INFINITY));
        assert_eq!(Cell::Empty.number().unwrap(), None);
        assert_eq!(Cell::Json(serde_json::json!(0.5)).number().unwrap(), Some(0.5));
        assert!(t("abc").number().unwrap_err().to_string().contains("`abc` is not a number"));
        assert!(Cell::Json(serde_json::json!([1])).number().is_err());
    }

    #[test]
    fn class_maps_in_every_form() {
        assert_eq!(t("{}").class_map().unwrap(), None);
        assert_eq!(t("{ }").class_map().unwrap(), None);
        assert_eq!(Cell::Empty.class_map().unwrap(), None);
        assert_eq!(t("{15=0.25, 3=12.5}").class_map().unwrap(), Some(vec![(3, 12.5), (15, 0.25)]));
        assert_eq!(t("{\"3.0\":1,\"-1\":2}").class_map().unwrap(), Some(vec![(-1, 2.0), (3, 1.0)]));
        let j = Cell::Json(serde_json::json!({"3": 12.5, "15": "0.25"}));
        assert_eq!(j.class_map().unwrap(), Some(vec![(3, 12.5), (15, 0.25)]));
        let js = Cell::Json(serde_json::json!("{\"4\":1.5}"));
        assert_eq!(js.class_map().unwrap(), Some(vec![(4, 1.5)]));
        assert!(t("{3.5=1}").class_map().unwrap_err().to_string().contains("class code `3.5` is not an integer"));
        assert!(t("{3=x}").class_map().unwrap_err().to_string().contains("`x` is not a number"));
        assert!(t("12").class_map().unwrap_err().to_string().contains("is not a dictionary"));
        assert!(t("{3=1, 3.0=2}").class_map().unwrap_err().to_string().contains("class 3 appears twice"));
        assert!(t("{3}").class_map().unwrap_err().to_string().contains("not `code=value`"));
    }

    #[test]
    fn geojson_feature_collection() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":null,"id":"0","properties":{"site_id":"a","v":1.5,"m":{"3":2}}},
            {"type":"Feature","geometry":null,"properties":{"site_id":7,"v":null,"extra":""}}]}"#;
        let tab = parse(Format::GeoJson, text.as_bytes()).unwrap();
        assert_eq!(tab.columns, ["site_id", "v", "m", "extra"]);
        assert_eq!(tab.rows[0].1[2].class_map().unwrap(), Some(vec![(3, 2.0)]));
        assert_eq!(tab.rows[1].1[0].text().as_deref(), Some("7"));
        assert_eq!(tab.rows[1].1[1], Cell::Empty);
        assert_eq!(tab.rows[1].1[2], Cell::Empty);
        assert_eq!(tab.rows[1].1[3], Cell::Empty);
        assert!(parse_geojson("{\"type\":\"Feature\"}").unwrap_err().message.contains("not a GeoJSON"));
        assert!(parse_geojson("{").is_err());
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::from_name("a/b.CSV"), Some(Format::Csv));
        assert_eq!(Format::from_name("x.geojson"), Some(Format::GeoJson));
        assert_eq!(Format::from_name("x.tif"), None);
    }

    proptest::proptest! {
        /// Any table of plain and Java-map cells survives writing as Earth Engine does and reading back.
        #[test]
        fn ee_style_rows_round_trip(rows in proptest::collection::vec(
            proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-z0-9 ]{0,6}".prop_map(|s| (s, false)),
                    "[a-z,\"]{1,6}".prop_map(|s| (s, true)),
                    proptest::collection::vec((0i64..40, 0u32..1000), 1..4).prop_map(|m| {
                        let body: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        (format!("{{{}}}", body.join(", ")), false)
                    }),
                ],
                3,
            ),
            1..5,
        )) {
            let mut csv = String::from("a,b,c\n");
            for row in &rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|(s, q)| if *q { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.clone() })
                    .collect();
                csv.push_str(&cells.join(","));
                csv.push('\n');
            }
            let tab = parse_csv(&csv).unwrap();
            proptest::prop_assert_eq!(tab.rows.len(), rows.len());
            for (got, want) in tab.rows.iter().zip(&rows) {
                for (g, (w, _)) in got.1.iter().zip(want) {
                    let w = if w.is_empty() { Cell::Empty } else { Cell::Text(w.clone()) };
                    proptest::prop_assert_eq!(g, &w);
                }
            }
        }
    }
}
