//! A streaming scanner for GeoJSON FeatureCollections: it walks the top-level object byte by byte,
//! finds the `features` array wherever it sits among the other keys, and hands out each feature's raw
//! bytes with the byte offset, line and column where it starts. Nothing but the current feature is held,
//! so a million-feature file is read in constant memory.
//!
//! The scanner checks the JSON *structure* (strings, escapes, matching brackets, commas); the tokens
//! inside a feature are checked when the feature is parsed with serde_json. Line numbers count `\n`,
//! `\r\n` and a lone `\r` as one line break each, exactly like miette does when it renders snippets.
//!
//! (Over 600 lines: the scanner is one byte-level state machine whose states share the position
//! bookkeeping; its tests, about a fifth of the file, follow it.)

use std::io::{self, Read};

/// A place in the file: byte offset, 0-based line, and the byte offset where that line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub offset: u64,
    pub line: u64,
    pub line_start: u64,
}

/// Why the structure scan stopped.
#[derive(Debug)]
pub enum ScanError {
    Io(io::Error),
    /// Malformed structure at `pos`: what was expected.
    Syntax {
        pos: Pos,
        expected: String,
        found: Option<u8>,
    },
    /// The file ended inside a value that started at `open` (or at top level when `None`).
    Eof {
        pos: Pos,
        open: Option<Pos>,
    },
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Io(e)
    }
}

/// What the top level of the file turned out to be.
#[derive(Debug, Default)]
pub struct TopLevel {
    /// Where the top-level value starts.
    pub start: Pos,
    /// The first byte of the top-level value (`{` for an object).
    pub first: Option<u8>,
    /// The top-level `type` value, raw (e.g. `"FeatureCollection"` with quotes), and where it is.
    pub type_value: Option<(Vec<u8>, Pos)>,
    /// The top-level `crs` value (GeoJSON 2008's coordinate system), raw, where it is, and whether it came
    /// after the `features` array.
    pub crs: Option<(Vec<u8>, Pos, bool)>,
    /// Where the `features` key's value starts, and its first byte.
    pub features: Option<(Pos, u8)>,
    /// Raw text of top-level values other than `features` and `type` that are not valid JSON (with place).
    pub bad_values: Vec<(String, Pos, serde_json::Error)>,
    /// Number of elements of the `features` array.
    pub count: usize,
    /// Top-level keys given twice: the key, where it first was, and where it came again (first repeat only).
    pub duplicates: Vec<(String, Pos, Pos)>,
}

const BUF: usize = 256 * 1024;

/// The bytes [`Scanner::capture_value`] acts on inside a string (its end, an escape, a line break) …
const IN_STRING: [bool; 256] = stops(b"\"\\\n\r");
/// … and between the values of an object or array, after its first byte (a string, a bracket, a line
/// break): every other byte there (digits, signs, commas, colons, spaces) only moves the position on.
const IN_CONTAINER: [bool; 256] = stops(b"\"{}[]\n\r");

const fn stops(bytes: &[u8]) -> [bool; 256] {
    let mut out = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        out[bytes[i] as usize] = true;
        i += 1;
    }
    out
}

/// Byte scanner over any reader, tracking the position of the next byte.
pub struct Scanner<R: Read> {
    r: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    line: u64,
    line_start: u64,
    prev_cr: bool,
    eof: bool,
}

impl<R: Read> Scanner<R> {
    pub fn new(r: R) -> Scanner<R> {
        Scanner::at(r, Pos::default())
    }

    /// A scanner whose first byte is at `start` in the file (for re-reading one feature).
    pub fn at(r: R, start: Pos) -> Scanner<R> {
        Scanner::with_buffer(r, start, BUF)
    }

    /// A scanner with a buffer of `size` bytes (small for re-reading slices already in memory).
    pub fn with_buffer(r: R, start: Pos, size: usize) -> Scanner<R> {
        Scanner {
            r,
            buf: vec![0; size.max(16)].into_boxed_slice(),
            pos: 0,
            len: 0,
            base: start.offset,
            line: start.line,
            line_start: start.line_start,
            prev_cr: false,
            eof: false,
        }
    }

    /// Where the next byte is.
    pub fn here(&self) -> Pos {
        Pos { offset: self.base + self.pos as u64, line: self.line, line_start: self.line_start }
    }

    fn fill(&mut self) -> io::Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.r.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn peek(&mut self) -> io::Result<Option<u8>> {
        Ok(if self.fill()? { Some(self.buf[self.pos]) } else { None })
    }

    #[inline]
    fn track(&mut self, b: u8, abs: u64) {
        match b {
            b'\n' => {
                if !self.prev_cr {
                    self.line += 1;
                }
                self.line_start = abs + 1;
                self.prev_cr = false;
            }
            b'\r' => {
                self.line += 1;
                self.line_start = abs + 1;
                self.prev_cr = true;
            }
            _ => self.prev_cr = false,
        }
    }

    /// Consumes the byte `peek` returned.
    pub fn bump(&mut self) {
        let b = self.buf[self.pos];
        let abs = self.base + self.pos as u64;
        self.track(b, abs);
        self.pos += 1;
    }

    pub fn skip_ws(&mut self) -> io::Result<()> {
        while let Some(b) = self.peek()? {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.bump();
            } else {
                break;
            }
        }
        Ok(())
    }

    /// Skips a UTF-8 byte order mark at the very start.
    pub fn skip_bom(&mut self) -> io::Result<()> {
        if self.peek()? == Some(0xEF) {
            let rest = &self.buf[self.pos..self.len];
            if rest.starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.bump();
                self.bump();
                self.bump();
            }
        }
        Ok(())
    }

    fn syntax(&mut self, expected: &str) -> ScanError {
        let found = self.peek().ok().flatten();
        ScanError::Syntax { pos: self.here(), expected: expected.to_string(), found }
    }

    /// Expects one byte (after white space).
    fn expect(&mut self, b: u8, what: &str) -> Result<(), ScanError> {
        self.skip_ws()?;
        match self.peek()? {
            Some(c) if c == b => {
                self.bump();
                Ok(())
            }
            None => Err(ScanError::Eof { pos: self.here(), open: None }),
            _ => Err(self.syntax(what)),
        }
    }

    /// Copies one complete JSON value (starting at the next non-space byte) into `out`, checking that
    /// strings end and brackets match. Scalars end at white space, `,`, `]` or `}`.
    pub fn capture_value(&mut self, out: &mut Vec<u8>) -> Result<Pos, ScanError> {
        self.skip_ws()?;
        let start = self.here();
        let mut stack: Vec<u8> = Vec::new();
        let mut in_str = false;
        let mut esc = false;
        let mut scalar = false;
        let mut first = true;
        loop {
            if !self.fill()? {
                if scalar && stack.is_empty() && !in_str {
                    return Ok(start);
                }
                return Err(ScanError::Eof { pos: self.here(), open: Some(start) });
            }
            let chunk_start = self.pos;
            let mut done = false;
            let mut bad: Option<&'static str> = None;
            while self.pos < self.len {
                // Runs of bytes that change nothing but the position (most of a feature: digits, commas,
                // spaces, the text of strings) are stepped over at once.
                let quiet = if in_str && !esc {
                    Some(&IN_STRING)
                } else if !in_str && !scalar && !first {
                    Some(&IN_CONTAINER)
                } else {
                    None
                };
                if let Some(stops) = quiet {
                    let run = self.buf[self.pos..self.len].iter().take_while(|b| !stops[usize::from(**b)]).count();
                    if run > 0 {
                        self.pos += run;
                        self.prev_cr = false;
                        continue;
                    }
                }
                let b = self.buf[self.pos];
                if in_str {
                    if esc {
                        esc = false;
                    } else if b == b'\\' {
                        esc = true;
                    } else if b == b'"' {
                        in_str = false;
                        if stack.is_empty() {
                            self.bump();
                            done = true;
                            break;
                        }
                    } else if b == b'\n' || b == b'\r' {
                        let abs = self.base + self.pos as u64;
                        self.track(b, abs);
                        self.pos += 1;
                        continue;
                    }
                    self.prev_cr = false;
                    self.pos += 1;
                    continue;
                }
                if scalar {
                    if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}' | b'"' | b'{' | b'[') {
                        done = true;
                        break;
                    }
                    self.prev_cr = false;
                    self.pos += 1;
                    continue;
                }
                match b {
                    b'"' => in_str = true,
                    b'{' => stack.push(b'}'),
                    b'[' => stack.push(b']'),
                    b'}' | b']' => {
                        if first {
                            bad = Some("a value");
                            break;
                        }
                        if stack.last() != Some(&b) {
                            bad = Some(if stack.last() == Some(&b'}') { "`}` or `,`" } else { "`]` or `,`" });
                            break;
                        }
                        stack.pop();
                        if stack.is_empty() {
                            self.bump();
                            done = true;
                            break;
                        }
                    }
                    b' ' | b'\t' | b'\n' | b'\r' => {
                        let abs = self.base + self.pos as u64;
                        self.track(b, abs);
                        self.pos += 1;
                        first = false;
                        continue;
                    }
                    b',' if first => {
                        bad = Some("a value");
                        break;
                    }
                    _ => {
                        if first {
                            scalar = true;
                        }
                    }
                }
                first = false;
                self.prev_cr = false;
                self.pos += 1;
            }
            out.extend_from_slice(&self.buf[chunk_start..self.pos]);
            if let Some(what) = bad {
                return Err(self.syntax(what));
            }
            if done {
                return Ok(start);
            }
        }
    }

    /// Reads a string key at the next non-space byte; returns its decoded text and where it starts.
    fn key(&mut self) -> Result<(String, Pos), ScanError> {
        self.skip_ws()?;
        match self.peek()? {
            Some(b'"') => {}
            None => return Err(ScanError::Eof { pos: self.here(), open: None }),
            _ => return Err(self.syntax("a key in double quotes")),
        }
        let mut raw = Vec::new();
        let at = self.capture_value(&mut raw)?;
        let key = serde_json::from_slice::<String>(&raw).map_err(|_| ScanError::Syntax {
            pos: at,
            expected: "a valid key string".into(),
            found: Some(b'"'),
        })?;
        Ok((key, at))
    }

    /// Scans the whole file: calls `feature(raw, start)` for each element of the top-level `features`
    /// array. The top-level value may be any JSON value; what it was is returned for the caller to judge.
    pub fn scan(
        &mut self,
        mut feature: impl FnMut(&[u8], Pos) -> bool,
    ) -> Result<TopLevel, Box<(ScanError, TopLevel)>> {
        let mut top = TopLevel::default();
        match self.scan_inner(&mut top, &mut feature) {
            Ok(()) => Ok(top),
            Err(e) => Err(Box::new((e, top))),
        }
    }

    fn scan_inner(
        &mut self,
        top: &mut TopLevel,
        feature: &mut impl FnMut(&[u8], Pos) -> bool,
    ) -> Result<(), ScanError> {
        self.skip_bom()?;
        self.skip_ws()?;
        top.start = self.here();
        top.first = self.peek()?;
        match top.first {
            None => return Ok(()),
            Some(b'{') => self.bump(),
            Some(_) => {
                // Not an object: check it is at least one JSON value, then stop.
                let mut sink = Vec::new();
                self.capture_value(&mut sink)?;
                return self.end();
            }
        }
        self.skip_ws()?;
        if self.peek()? == Some(b'}') {
            self.bump();
            return self.end();
        }
        let mut raw = Vec::new();
        let mut seen: Vec<(String, Pos)> = Vec::new();
        loop {
            let (key, kpos) = self.key()?;
            match seen.iter().find(|(k, _)| *k == key) {
                Some((_, first)) if !top.duplicates.iter().any(|(k, _, _)| *k == key) => {
                    top.duplicates.push((key.clone(), *first, kpos));
                }
                Some(_) => {}
                None if seen.len() < 1000 => seen.push((key.clone(), kpos)),
                None => {}
            }
            self.expect(b':', "`:` after the key")?;
            self.skip_ws()?;
            let vpos = self.here();
            match (key.as_str(), self.peek()?) {
                ("features", Some(b'[')) if top.features.is_none() => {
                    top.features = Some((vpos, b'['));
                    self.bump();
                    self.features(top, feature)?;
                }
                (_, None) => return Err(ScanError::Eof { pos: self.here(), open: Some(top.start) }),
                (k, Some(first)) => {
                    raw.clear();
                    self.capture_value(&mut raw)?;
                    if k == "features" && top.features.is_none() {
                        top.features = Some((vpos, first));
                    }
                    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&raw) {
                        top.bad_values.push((k.to_string(), vpos, e));
                    } else if k == "type" {
                        top.type_value = Some((raw.clone(), vpos));
                    } else if k == "crs" {
                        top.crs = Some((raw.clone(), vpos, top.features.is_some()));
                    }
                }
            }
            self.skip_ws()?;
            match self.peek()? {
                Some(b',') => self.bump(),
                Some(b'}') => {
                    self.bump();
                    break;
                }
                None => return Err(ScanError::Eof { pos: self.here(), open: Some(top.start) }),
                _ => return Err(self.syntax("`,` or `}`")),
            }
        }
        self.end()
    }

    fn features(&mut self, top: &mut TopLevel, feature: &mut impl FnMut(&[u8], Pos) -> bool) -> Result<(), ScanError> {
        let open = self.here();
        self.skip_ws()?;
        if self.peek()? == Some(b']') {
            self.bump();
            return Ok(());
        }
        let mut raw = Vec::with_capacity(4096);
        let mut go_on = true;
        loop {
            raw.clear();
            let at = self.capture_value(&mut raw)?;
            top.count += 1;
            if go_on {
                go_on = feature(&raw, at);
            }
            if raw.capacity() > 1 << 20 {
                raw = Vec::with_capacity(4096);
            }
            self.skip_ws()?;
            match self.peek()? {
                Some(b',') => self.bump(),
                Some(b']') => {
                    self.bump();
                    return Ok(());
                }
                None => return Err(ScanError::Eof { pos: self.here(), open: Some(open) }),
                _ => return Err(self.syntax("`,` or `]` between features")),
            }
        }
    }

    fn end(&mut self) -> Result<(), ScanError> {
        self.skip_ws()?;
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(self.syntax("the end of the file")),
        }
    }
}

/// Line and line start of byte `rel` inside `raw`, which starts at `start`.
pub fn pos_in(raw: &[u8], start: Pos, rel: usize) -> Pos {
    let mut line = start.line;
    let mut line_start = start.line_start;
    let rel = rel.min(raw.len());
    let mut i = 0;
    while i < rel {
        match raw[i] {
            b'\n' => {
                line += 1;
                line_start = start.offset + i as u64 + 1;
            }
            b'\r' => {
                line += 1;
                if raw.get(i + 1) == Some(&b'\n') && i + 1 < rel {
                    i += 1;
                }
                line_start = start.offset + i as u64 + 1;
            }
            _ => {}
        }
        i += 1;
    }
    Pos { offset: start.offset + rel as u64, line, line_start }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(text: &str) -> Result<(Vec<(String, Pos)>, TopLevel), String> {
        let mut out = Vec::new();
        let mut s = Scanner::new(text.as_bytes());
        match s.scan(|raw, at| {
            out.push((String::from_utf8(raw.to_vec()).unwrap(), at));
            true
        }) {
            Ok(top) => Ok((out, top)),
            Err(e) => Err(format!("{:?}", e.0)),
        }
    }

    #[test]
    fn strings_with_brackets_quotes_and_escapes() {
        let text = r#"{"type":"FeatureCollection","features":[{"p":"a ] } [ { \" \\"},{"q":"\\\"]"}]}"#;
        let (f, top) = features(text).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].0, r#"{"p":"a ] } [ { \" \\"}"#);
        assert_eq!(f[1].0, r#"{"q":"\\\"]"}"#);
        assert_eq!(top.type_value.unwrap().0, br#""FeatureCollection""#);
    }

    #[test]
    fn unicode_and_crlf_lines() {
        let text = "{\r\n\"features\": [\r\n  {\"name\": \"São Félix 🌳\"},\r\n  {\"b\": 1}\r\n]\r\n}\r\n";
        let (f, _) = features(text).unwrap();
        assert_eq!(f[0].0, "{\"name\": \"São Félix 🌳\"}");
        assert_eq!((f[0].1.line, f[0].1.offset - f[0].1.line_start), (2, 2));
        assert_eq!((f[1].1.line, f[1].1.offset - f[1].1.line_start), (3, 2));
        assert_eq!(&text[f[1].1.offset as usize..][..8], "{\"b\": 1}");
    }

    #[test]
    fn features_after_other_keys_and_nested_properties() {
        let text = r#"{"name":"x","crs":{"type":"name","properties":{"features":[1]}},"bbox":[1,2,3,4],
"features":[{"properties":{"a":{"b":[{"c":"]"}]}},"geometry":null}],"type":"FeatureCollection"}"#;
        let (f, top) = features(text).unwrap();
        assert_eq!(f.len(), 1);
        assert!(f[0].0.starts_with(r#"{"properties":{"a""#));
        assert_eq!(f[0].1.line, 1);
        assert!(top.type_value.is_some());
        assert_eq!(top.count, 1);
    }

    #[test]
    fn top_level_keys_given_twice_are_noted_with_both_places() {
        let text =
            "{\"type\":\"FeatureCollection\",\"features\":[{\"a\":1}],\n \"features\":[{\"b\":2}],\"features\":[]}";
        let (f, top) = features(text).unwrap();
        // Only the first array is read as features.
        assert_eq!(f.len(), 1);
        assert_eq!(top.count, 1);
        assert_eq!(top.duplicates.len(), 1, "{:?}", top.duplicates);
        let (key, first, again) = &top.duplicates[0];
        assert_eq!(key, "features");
        assert_eq!(&text[first.offset as usize..][..10], "\"features\"");
        assert_eq!((again.line, again.offset - again.line_start), (1, 1));
        assert_eq!(&text[again.offset as usize..][..10], "\"features\"");
        let (_, top) = features(r#"{"type":"FeatureCollection","features":[]}"#).unwrap();
        assert!(top.duplicates.is_empty());
    }

    #[test]
    fn buffer_boundaries_do_not_matter() {
        // A reader that hands out one byte at a time.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let text = "{\"features\":[ {\"a\":\"x\\\"y\"} ,\n{\"b\":[1,2.5e3,true,null]}\r\n] }";
        let mut got = Vec::new();
        Scanner::new(OneByte(text.as_bytes()))
            .scan(|raw, at| {
                got.push((raw.to_vec(), at));
                true
            })
            .unwrap();
        let (want, _) = features(text).unwrap();
        assert_eq!(got.len(), 2);
        for ((g, gp), (w, wp)) in got.iter().zip(&want) {
            assert_eq!(g, w.as_bytes());
            assert_eq!(gp, wp);
        }
    }

    #[test]
    fn structure_errors() {
        assert!(features(r#"{"features":[{"a":[1}]}"#).unwrap_err().contains("Syntax"));
        assert!(features(r#"{"features":[{"a":1}"#).unwrap_err().contains("Eof"));
        assert!(features(r#"{"features":[{"a":"1}]}"#).unwrap_err().contains("Eof"));
        assert!(features(r#"{"features":[{"a":1} {"b":2}]}"#).unwrap_err().contains("Syntax"));
        assert!(features(r#"{"features":[]} x"#).unwrap_err().contains("Syntax"));
        assert!(features(r#"{"features":[,]}"#).unwrap_err().contains("Syntax"));
        let (f, top) = features("  [1, 2]").unwrap();
        assert!(f.is_empty());
        assert_eq!(top.first, Some(b'['));
    }

    #[test]
    fn pos_in_counts_like_miette() {
        let raw = b"{\r\n\"a\"\r: 1\n}";
        let start = Pos { offset: 10, line: 3, line_start: 8 };
        let p = pos_in(raw, start, 3);
        assert_eq!(p, Pos { offset: 13, line: 4, line_start: 13 });
        let p = pos_in(raw, start, 7);
        assert_eq!(p, Pos { offset: 17, line: 5, line_start: 17 });
    }
}
