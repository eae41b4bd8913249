//! Newline-delimited GeoJSON (GeoJSONSeq): one Feature per line (`.geojsonl`, GDAL's default), or each
//! Feature after an ASCII record separator (RFC 8142, `.geojsons`). Features are found with the GeoJSON
//! scanner's value capture, so a feature may even span lines, and every diagnostic has its true line and
//! column. Coordinates are WGS 84 longitude/latitude (RFC 8142 follows RFC 7946), unless `sites.crs` says
//! otherwise.

use std::path::Path;

use crate::diag::Diagnostic;
use crate::pipeline::SiteSource;
use crate::sites::check::Checker;
use crate::sites::reader::Scanner;
use crate::sites::{json_store, json_stream, unreadable, Report, Site};

/// ASCII record separator, which RFC 8142 puts before each text.
const RS: u8 = 0x1E;

pub fn scan(
    source: &SiteSource,
    path: &Path,
    name: String,
    len: u64,
    limit: u64,
    visit: impl FnMut(Site) -> Result<(), Diagnostic>,
) -> Report {
    let read_error = |e| unreadable(&name, e);
    let store = match json_store(path, len, limit) {
        Ok(s) => s,
        Err(e) => return read_error(e),
    };
    let stream = match json_stream(&store, path) {
        Ok(s) => s,
        Err(e) => return read_error(e),
    };
    let mut checker = Checker::new(source, name.clone(), store.clone(), visit);
    checker.declare_crs(None);
    let mut scanner = Scanner::new(stream);
    let mut raw = Vec::with_capacity(4096);
    let mut count = 0usize;
    loop {
        // White space and record separators between features.
        let next = loop {
            match scanner.peek() {
                Ok(Some(b)) if b == RS || b.is_ascii_whitespace() => scanner.bump(),
                other => break other,
            }
        };
        match next {
            Ok(None) => break,
            Ok(Some(_)) => {}
            Err(e) => {
                checker.scan_error(crate::sites::reader::ScanError::Io(e));
                break;
            }
        }
        raw.clear();
        match scanner.capture_value(&mut raw) {
            Ok(at) => {
                count += 1;
                if !checker.feature(&raw, at) {
                    break;
                }
            }
            Err(e) => {
                checker.scan_error(e);
                break;
            }
        }
        if raw.capacity() > 1 << 20 {
            raw = Vec::with_capacity(4096);
        }
    }
    if count == 0 {
        checker.empty(&format!("the site file `{name}` has no features"), "write one GeoJSON Feature per line");
    }
    let (summary, diagnostics) = checker.close();
    Report { summary, diagnostics }
}
