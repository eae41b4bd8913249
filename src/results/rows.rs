//! The rows every source of results is read into — export files (CSV, GeoJSON: [`super::eecsv`]) and the
//! features of interactive answers ([`super::features`]) — so the merge reads one form. A leaf module: both
//! readers use it, neither uses the other's types.

use std::fmt;

use serde_json::Value;

/// One cell of an export row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// An empty CSV cell, a JSON `null`, or a column the row does not have: no data.
    Empty,
    /// A CSV cell's text (unquoted).
    Text(String),
    /// A GeoJSON property value (never `null`).
    Json(Value),
}

/// A parsed export file: its columns and rows (every row has one cell per column).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportTable {
    pub columns: Vec<String>,
    /// Rows with the 1-based line (CSV) or feature number (GeoJSON) they came from.
    pub rows: Vec<(usize, Vec<Cell>)>,
}

impl ExportTable {
    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// Why an export file could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// 1-based line (CSV) or feature number (GeoJSON); 0 for the whole file.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for ParseError {}
