//! Snippets of a site file for diagnostics without holding the file: a [`Snippet`] keeps only a few lines
//! around each labelled span and reports true line and column numbers to miette. Also a small walker
//! that finds the byte span of a JSON path (`geometry/coordinates/0/3`) inside one feature's raw bytes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use super::reader::{pos_in, Pos, Scanner};

/// Where the file's bytes can be read again: in memory (small files) or from disk.
#[derive(Clone)]
pub enum Store {
    Memory(Arc<[u8]>),
    Disk(PathBuf),
    /// A file without lines (Shapefile, GeoPackage, …): nothing to show, records are named instead.
    Records,
}

impl Store {
    /// Bytes in `range` (clipped to the file).
    pub fn read(&self, range: Range<u64>) -> Vec<u8> {
        match self {
            Store::Memory(m) => {
                let end = (range.end as usize).min(m.len());
                let start = (range.start as usize).min(end);
                m[start..end].to_vec()
            }
            Store::Disk(p) => {
                let mut out = Vec::new();
                if let Ok(mut f) = File::open(p) {
                    if f.seek(SeekFrom::Start(range.start)).is_ok() {
                        let _ = f.take(range.end.saturating_sub(range.start)).read_to_end(&mut out);
                    }
                }
                out
            }
            Store::Records => Vec::new(),
        }
    }

    /// Re-reads the JSON value starting at `at` (e.g. an earlier feature).
    pub fn value_at(&self, at: Pos) -> Option<Vec<u8>> {
        let mut raw = Vec::new();
        let ok = match self {
            Store::Memory(m) => {
                Scanner::with_buffer(m.get(at.offset as usize..)?, at, 64 * 1024).capture_value(&mut raw).is_ok()
            }
            Store::Disk(p) => {
                let mut f = File::open(p).ok()?;
                f.seek(SeekFrom::Start(at.offset)).ok()?;
                Scanner::at(f, at).capture_value(&mut raw).is_ok()
            }
            Store::Records => false,
        };
        ok.then_some(raw)
    }
}

/// Lines before and after a span that a snippet keeps (miette shows one).
const CONTEXT_LINES: usize = 2;
/// How far to look for line breaks around a span before cutting a long line.
const REACH: u64 = 240;
/// Longest span a label underlines; longer spans are cut (the snippet stays small).
const MAX_SPAN: u64 = 1024;

/// One contiguous piece of the file.
#[derive(Debug, Clone)]
struct Segment {
    offset: u64,
    /// 0-based line of `offset`.
    line: u64,
    /// Byte column of `offset` in its line (non-zero when a very long line was cut).
    column: u64,
    bytes: Vec<u8>,
}

/// A [`SourceCode`] holding only windows of the file around the spans it was built for.
#[derive(Debug, Clone)]
pub struct Snippet {
    name: String,
    segments: Vec<Segment>,
}

/// A span to show: its byte range and the place where it starts (line known).
#[derive(Debug, Clone)]
pub struct Anchor {
    pub span: Range<u64>,
    pub start: Pos,
}

impl Anchor {
    /// The span `rel` (relative to `raw`, which starts at `start`) as an anchor.
    pub fn within(raw: &[u8], start: Pos, rel: Range<usize>) -> Anchor {
        let p = pos_in(raw, start, rel.start);
        Anchor { span: p.offset..start.offset + rel.end as u64, start: p }
    }

    /// The span, cut to [`MAX_SPAN`], as `usize` for a label.
    pub fn label_span(&self) -> Range<usize> {
        let end = self.span.end.min(self.span.start + MAX_SPAN);
        self.span.start as usize..end as usize
    }
}

impl Snippet {
    /// Builds windows around every anchor (overlapping windows are joined).
    pub fn new(name: &str, store: &Store, anchors: &[&Anchor]) -> Snippet {
        let mut plans: Vec<(u64, u64, u64, u64)> = anchors.iter().map(|a| plan(store, a)).collect();
        plans.sort_by_key(|p| p.0);
        let mut merged: Vec<(u64, u64, u64, u64)> = Vec::new();
        for p in plans {
            match merged.last_mut() {
                Some(last) if p.0 <= last.1 => last.1 = last.1.max(p.1),
                _ => merged.push(p),
            }
        }
        let segments = merged
            .into_iter()
            .map(|(start, end, line, column)| Segment { offset: start, line, column, bytes: store.read(start..end) })
            .collect();
        Snippet { name: name.to_string(), segments }
    }

    pub fn into_source(self) -> crate::diag::Source {
        crate::diag::Source { name: self.name.clone(), code: Arc::new(self) }
    }
}

fn is_break(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Window `(start, end, line of start, column of start)` around one anchor.
fn plan(store: &Store, a: &Anchor) -> (u64, u64, u64, u64) {
    let span_end = a.span.end.min(a.span.start + MAX_SPAN).max(a.span.start);
    let line_start = a.start.line_start.min(a.span.start);
    let (mut start, mut line, mut column);
    if a.span.start - line_start > REACH {
        // A very long line (minified file): start mid-line, on a character boundary.
        let lo = a.span.start - REACH / 2;
        let bytes = store.read(lo..a.span.start);
        let skip = bytes.iter().take_while(|b| is_continuation(**b)).count() as u64;
        start = lo + skip;
        line = a.start.line;
        column = start - line_start;
    } else {
        start = line_start;
        line = a.start.line;
        column = 0;
        // Earlier lines, as long as they are short enough to find.
        let lo = line_start.saturating_sub(REACH);
        let before = store.read(lo..line_start);
        let mut i = before.len();
        for _ in 0..CONTEXT_LINES {
            if i == 0 {
                break;
            }
            // Step over the previous line's break (`\r\n` counts as one).
            let mut j = i - 1;
            if before[j] == b'\n' && j > 0 && before[j - 1] == b'\r' {
                j -= 1;
            }
            match before[..j].iter().rposition(|b| is_break(*b)) {
                Some(k) => i = k + 1,
                None if lo == 0 => i = 0,
                None => break,
            }
            start = lo + i as u64;
            line = line.saturating_sub(1);
        }
        if start != line_start {
            column = 0;
        }
    }
    // Later lines.
    let after = store.read(span_end..span_end + REACH);
    let mut end = span_end + after.len() as u64;
    let mut breaks = 0;
    let mut k = 0;
    while k < after.len() {
        if is_break(after[k]) {
            if after[k] == b'\r' && after.get(k + 1) == Some(&b'\n') {
                k += 1;
            }
            breaks += 1;
            if breaks > CONTEXT_LINES {
                end = span_end + k as u64 + 1;
                break;
            }
        }
        k += 1;
    }
    if breaks <= CONTEXT_LINES && after.len() as u64 == REACH {
        // Drop a partial multi-byte character at the cut.
        let back = after.iter().rev().take_while(|b| is_continuation(**b)).count();
        if back < after.len() {
            let lead = after[after.len() - back - 1];
            let needed = if lead >= 0xF0 {
                4
            } else if lead >= 0xE0 {
                3
            } else if lead >= 0xC0 {
                2
            } else {
                1
            };
            if back + 1 < needed {
                end -= back as u64 + 1;
            }
        }
    }
    (start, end, line, column)
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let (start, len) = (span.offset() as u64, span.len() as u64);
        let seg = self
            .segments
            .iter()
            .find(|s| s.offset <= start && start + len <= s.offset + s.bytes.len() as u64)
            .ok_or(MietteError::OutOfBounds)?;
        let local = SourceSpan::from(((start - seg.offset) as usize, len as usize));
        let inner = seg.bytes.as_slice().read_span(&local, context_lines_before, context_lines_after)?;
        let data: &'a [u8] = inner.data();
        let line = inner.line();
        let column = if line == 0 { inner.column() + seg.column as usize } else { inner.column() };
        let mut breaks = 0;
        let mut i = 0;
        while i < data.len() {
            if is_break(data[i]) {
                breaks += 1;
                if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            i += 1;
        }
        let abs = SourceSpan::from((inner.span().offset() + seg.offset as usize, inner.span().len()));
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data,
            abs,
            seg.line as usize + line,
            column,
            breaks,
        )))
    }
}

/// One step of a path into a JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Spans (relative to `raw`) of the value at `path` and, when the last step is a key, of that key.
/// With repeated keys the last one wins, as with serde_json.
pub fn find(raw: &[u8], path: &[Step]) -> Option<(Option<Range<usize>>, Range<usize>)> {
    let mut w = Walker { raw, i: 0 };
    w.ws();
    let mut key_span = None;
    for step in path {
        let (k, v) = match step {
            Step::Key(name) => w.member(name)?,
            Step::Index(n) => (None, w.element(*n)?),
        };
        key_span = k;
        w.i = v.start;
    }
    let start = w.i;
    w.skip()?;
    Some((key_span, start..w.i))
}

struct Walker<'a> {
    raw: &'a [u8],
    i: usize,
}

impl Walker<'_> {
    fn ws(&mut self) {
        while self.i < self.raw.len() && matches!(self.raw[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// Skips the value at `i` (structure only).
    fn skip(&mut self) -> Option<()> {
        let mut s = Scanner::with_buffer(&self.raw[self.i..], Pos::default(), 4096);
        let mut sink = Vec::new();
        s.capture_value(&mut sink).ok()?;
        self.i += s.here().offset as usize;
        Some(())
    }

    fn member(&mut self, name: &str) -> Option<(Option<Range<usize>>, Range<usize>)> {
        if self.raw.get(self.i) != Some(&b'{') {
            return None;
        }
        self.i += 1;
        let mut found = None;
        loop {
            self.ws();
            match self.raw.get(self.i)? {
                b'}' => return found,
                b',' => {
                    self.i += 1;
                    continue;
                }
                b'"' => {}
                _ => return found,
            }
            let ks = self.i;
            self.skip()?;
            let key = &self.raw[ks..self.i];
            self.ws();
            if self.raw.get(self.i) != Some(&b':') {
                return found;
            }
            self.i += 1;
            self.ws();
            let vs = self.i;
            self.skip()?;
            let matches = if key.contains(&b'\\') {
                serde_json::from_slice::<String>(key).ok().as_deref() == Some(name)
            } else {
                &key[1..key.len() - 1] == name.as_bytes()
            };
            if matches {
                found = Some((Some(ks..ks + key.len()), vs..self.i));
            }
        }
    }

    fn element(&mut self, n: usize) -> Option<Range<usize>> {
        if self.raw.get(self.i) != Some(&b'[') {
            return None;
        }
        self.i += 1;
        let mut k = 0;
        loop {
            self.ws();
            match self.raw.get(self.i)? {
                b']' => return None,
                b',' => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            let vs = self.i;
            self.skip()?;
            if k == n {
                return Some(vs..self.i);
            }
            k += 1;
        }
    }
}

/// A key given twice in one object of a feature's raw (valid) JSON.
#[derive(Debug, PartialEq)]
pub struct DuplicateKey {
    /// Where the object is, e.g. `properties` or `geometry` (empty for the feature itself).
    pub path: String,
    pub key: String,
    /// Spans of the key's first and second appearance, relative to `raw`.
    pub first: Range<usize>,
    pub again: Range<usize>,
}

/// A key of an open object while [`KeyScan`] walks a feature: its span in the feature (quotes included)
/// and, only when it is written with escapes, its decoded text.
struct Key {
    span: Range<usize>,
    decoded: Option<String>,
}

impl Key {
    /// The key's text: the bytes between its quotes, or the decoded text when it has escapes.
    fn text<'a>(&'a self, raw: &'a [u8]) -> &'a [u8] {
        match &self.decoded {
            Some(d) => d.as_bytes(),
            None => &raw[self.span.start + 1..self.span.end - 1],
        }
    }
}

/// An open object (where its keys start in [`KeyScan::keys`], whether a key comes next) or array (the
/// index of its current element).
#[derive(Clone, Copy)]
enum Frame {
    Object { keys: usize, expect_key: bool },
    Array(usize),
}

/// Finds the first key given twice in one object of a feature's raw JSON, with both places. serde_json and
/// most readers keep the last value silently; a site file with two `site_id`s or two `coordinates` in one
/// feature means two different things at once. Its buffers are kept from one feature to the next: a
/// million features cost no allocation per key (a key is decoded only when written with escapes).
#[derive(Default)]
pub struct KeyScan {
    stack: Vec<Frame>,
    /// The keys of every open object, innermost last.
    keys: Vec<Key>,
    /// [`KeyScan::any`]'s open objects (where their keys start in `spans`) and keys (between the quotes).
    objects: Vec<usize>,
    spans: Vec<Range<usize>>,
}

impl KeyScan {
    /// Whether an object of `raw` may give a key twice, for `raw` that is valid JSON (serde_json has just
    /// read it): a quick pass for the million features that have none. In valid JSON a key is a string
    /// followed by `:`, and belongs to the innermost open `{`, so only strings and braces are looked at
    /// (not the commas and brackets of the coordinates). `true` also for a key written with escapes: then
    /// [`KeyScan::duplicate`] decides, and says where.
    pub fn any(&mut self, raw: &[u8]) -> bool {
        self.objects.clear();
        self.spans.clear();
        let mut i = 0;
        while let Some(k) = memchr::memchr3(b'"', b'{', b'}', &raw[i..]) {
            i += k;
            match raw[i] {
                b'{' => self.objects.push(self.spans.len()),
                b'}' => {
                    if let Some(first) = self.objects.pop() {
                        self.spans.truncate(first);
                    }
                }
                _ => {
                    let start = i + 1;
                    match memchr::memchr2(b'"', b'\\', &raw[start..]) {
                        Some(n) if raw[start + n] == b'"' => i = start + n,
                        _ => return true, // an escape (or no end): the full check decides
                    }
                    let next = raw[i + 1..].iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
                    if next == Some(&b':') {
                        let key = &raw[start..i];
                        let first = self.objects.last().copied().unwrap_or(0);
                        if self.spans[first..].iter().any(|s| &raw[s.clone()] == key) {
                            return true;
                        }
                        self.spans.push(start..i);
                    }
                }
            }
            i += 1;
        }
        false
    }

    /// The first key given twice in one object of `raw` (a valid JSON value).
    pub fn duplicate(&mut self, raw: &[u8]) -> Option<DuplicateKey> {
        self.stack.clear();
        self.keys.clear();
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'"' => {
                    let start = i;
                    i += 1;
                    let mut escaped = false;
                    while i < raw.len() && raw[i] != b'"' {
                        if raw[i] == b'\\' {
                            escaped = true;
                            i += 2;
                        } else {
                            i += 1;
                        }
                    }
                    let span = start..(i + 1).min(raw.len());
                    if let Some(Frame::Object { keys, expect_key: expect @ true }) = self.stack.last_mut() {
                        *expect = false;
                        let first = *keys;
                        let key = Key::read(raw, span, escaped)?;
                        let text = key.text(raw);
                        if let Some(k) = self.keys[first..].iter().position(|k| k.text(raw) == text) {
                            return Some(self.report(raw, first + k, key));
                        }
                        self.keys.push(key);
                    }
                }
                b'{' => self.stack.push(Frame::Object { keys: self.keys.len(), expect_key: true }),
                b'[' => self.stack.push(Frame::Array(0)),
                b'}' | b']' => {
                    if let Some(Frame::Object { keys, .. }) = self.stack.pop() {
                        self.keys.truncate(keys);
                    }
                }
                b',' => match self.stack.last_mut() {
                    Some(Frame::Object { expect_key, .. }) => *expect_key = true,
                    Some(Frame::Array(n)) => *n += 1,
                    None => {}
                },
                _ => {}
            }
            i += 1;
        }
        None
    }

    /// The report of `again`, a repeat of key number `first` of the innermost object: the path to that
    /// object names each enclosing object by its latest key and each array by the element's index.
    fn report(&self, raw: &[u8], first: usize, again: Key) -> DuplicateKey {
        let decode = |k: &Key| String::from_utf8_lossy(k.text(raw)).into_owned();
        let frames = &self.stack[..self.stack.len() - 1];
        let mut path = String::new();
        for (n, f) in frames.iter().enumerate() {
            match f {
                Frame::Object { keys, .. } => {
                    // This object's keys end where the next object's begin.
                    let end = frames[n + 1..]
                        .iter()
                        .chain(self.stack.last())
                        .find_map(|f| match f {
                            Frame::Object { keys, .. } => Some(*keys),
                            Frame::Array(_) => None,
                        })
                        .unwrap_or(self.keys.len());
                    let latest = if end > *keys { decode(&self.keys[end - 1]) } else { String::new() };
                    path.push('.');
                    path.push_str(&latest);
                }
                Frame::Array(i) => path.push_str(&format!("[{i}]")),
            }
        }
        let path = path.strip_prefix('.').unwrap_or(&path).to_string();
        DuplicateKey { path, key: decode(&again), first: self.keys[first].span.clone(), again: again.span }
    }
}

impl Key {
    /// The key at `span` (quotes included), as serde_json reads it: `None` when it is not a valid string
    /// (unterminated, a control character, not UTF-8, a bad escape).
    fn read(raw: &[u8], span: Range<usize>, escaped: bool) -> Option<Key> {
        let bytes = &raw[span.clone()];
        if escaped {
            let decoded = serde_json::from_slice::<String>(bytes).ok()?;
            return Some(Key { span, decoded: Some(decoded) });
        }
        let inner = bytes.strip_prefix(b"\"").and_then(|b| b.strip_suffix(b"\""))?;
        if inner.iter().any(|b| *b < 0x20) {
            return None;
        }
        std::str::from_utf8(inner).ok()?;
        Some(Key { span, decoded: None })
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn duplicate_key(raw: &[u8]) -> Option<DuplicateKey> {
        KeyScan::default().duplicate(raw)
    }

    fn render(code: Arc<dyn SourceCode + Send + Sync>, spans: &[(Range<usize>, bool)]) -> String {
        let mut d = crate::diag::Diagnostic::error(crate::diag::Code::SitesJson, "msg");
        let source = crate::diag::Source { name: "f.geojson".into(), code };
        let (first, rest) = spans.split_first().unwrap();
        d = d.at(&source, first.0.clone(), Some("here".to_string()));
        for (s, _) in rest {
            d = d.also(s.clone(), "there");
        }
        format!("{:?}\n{}", d.location, crate::diag::render(&d, Default::default()))
    }

    fn whole_and_window(text: &str, spans: &[Range<usize>]) -> (String, String) {
        let store = Store::Memory(Arc::from(text.as_bytes()));
        let whole: Arc<dyn SourceCode + Send + Sync> =
            Arc::new(miette::NamedSource::new("f.geojson", text.to_string()));
        let anchors: Vec<Anchor> =
            spans.iter().map(|s| Anchor::within(text.as_bytes(), Pos::default(), s.clone())).collect();
        let refs: Vec<&Anchor> = anchors.iter().collect();
        let snip = Snippet::new("f.geojson", &store, &refs);
        let labelled: Vec<(Range<usize>, bool)> = spans.iter().map(|s| (s.clone(), true)).collect();
        (render(whole, &labelled), render(Arc::new(snip), &labelled))
    }

    #[test]
    fn window_renders_like_the_whole_text() {
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("line {i} with ünïcode \"x\": [1, 2]\r\n"));
        }
        for (a, b) in [(0, 4), (200, 210), (text.len() - 8, text.len() - 3), (5, 6)] {
            let (whole, window) = whole_and_window(&text, &[a..b]);
            assert_eq!(whole, window, "span {a}..{b}");
        }
        // Two spans close together render as one snippet, like the whole text does.
        let (whole, window) = whole_and_window(&text, &[100..104, 140..150]);
        assert_eq!(whole, window);
    }

    #[test]
    fn far_apart_spans_render_as_two_snippets_with_true_lines() {
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!("{{\"n\": {i}}}\n"));
        }
        let second = text.find("{\"n\": 250}").unwrap();
        let (_, window) = whole_and_window(&text, &[2..5, second + 2..second + 5]);
        assert!(window.contains("f.geojson:1:3"), "{window}");
        assert!(window.contains("f.geojson:251:3"), "{window}");
        assert!(window.contains("251 │ {\"n\": 250}"), "{window}");
        assert!(!window.contains("{\"n\": 100}"), "{window}");
    }

    #[test]
    fn long_lines_are_cut_but_columns_stay_true() {
        let text = format!("{{\"features\": [{}{{\"bad\": 1}}]}}", "{\"a\": 1},".repeat(2000));
        let at = text.find("\"bad\"").unwrap();
        let (_, window) = whole_and_window(&text, &[at..at + 5]);
        assert!(window.contains(&format!("f.geojson:1:{}", at + 1)), "{window}");
        assert!(window.len() < 2000, "{window}");
    }

    #[test]
    fn finds_the_first_key_given_twice_and_where() {
        let raw = br#"{"type": "Feature", "properties": {"site_id": "a", "n": {"x": 1, "y": [{"z": 1}, {"z": 2}]},
          "site_id": "b"}, "geometry": {"coordinates": [[[1, 2]]], "coordinates": [[[5, 6]]]}}"#;
        let d = duplicate_key(raw).unwrap();
        assert_eq!((d.path.as_str(), d.key.as_str()), ("properties", "site_id"));
        assert_eq!(&raw[d.first.clone()], br#""site_id""#);
        assert_eq!(&raw[d.again.clone()], br#""site_id""#);
        assert!(d.again.start > d.first.start);
        // Equal keys in different objects, escapes in keys and strings that look like keys are fine.
        let ok = br#"{"a": {"k": 1}, "b": {"k": ""k": 2, \"}, "c": [{"k": 1}, {"k": 2}], "k1": 0, "k1x": 1}"#;
        assert_eq!(duplicate_key(ok), None);
        // The same key spelt with an escape is the same key; the path names arrays by index.
        let esc = br#"{"geometry": {"coordinates": [{"a": 1, "a": 2}]}}"#;
        let d = duplicate_key(esc).unwrap();
        assert_eq!((d.path.as_str(), d.key.as_str()), ("geometry.coordinates[0]", "a"));
        let top = br#"{"type": "Feature", "type": "Feature"}"#;
        assert_eq!(duplicate_key(top).unwrap().path, "");
    }

    #[test]
    fn the_quick_pass_agrees_with_the_full_check_on_valid_json() {
        let mut scan = KeyScan::default();
        let cases: [&[u8]; 9] = [
            br#"{"type": "Feature", "properties": {"site_id": "a", "n": {"x": 1}}, "geometry": {"type": "Polygon"}}"#,
            br#"{"properties": {"site_id": "a", "n": {"x": 1, "y": [{"z": 1}, {"z": 2}]}, "site_id": "b"}}"#,
            br#"{"a": {"k": "k", "v": ["k", "k"]}, "b": {"k": ":"}, "k": {"k": {}}}"#,
            br#"{"a": [{"k": 1}, {"k": 2, "j": [{}, {"k": 3}], "k" : 4}]}"#,
            br#"{"a": "}", "b": "{", "c": "{\"a\": 1}", "a" : 2}"#,
            br#"{"site\u005fid": 1, "site_id": 2}"#,
            br#"{"x":1,"y":2,"z":{"x":1},"x" :3}"#,
            b"{\"x\"\n:\t1, \"y\": [1, 2, {\"x\": 1}], \"w\": {}}",
            br#"[{"a": 1}, {"a": 2}, "a", "a"]"#,
        ];
        for raw in cases {
            let full = scan.duplicate(raw).is_some();
            let quick = scan.any(raw);
            // The quick pass never misses one; it may only send an escaped key to the full check.
            assert!(quick || !full, "{}", String::from_utf8_lossy(raw));
            if !raw.contains(&b'\\') {
                assert_eq!(quick, full, "{}", String::from_utf8_lossy(raw));
            }
        }
    }

    #[test]
    fn a_key_written_with_escapes_is_the_key_it_decodes_to() {
        let mut scan = KeyScan::default();
        let raw = br#"{"properties": {"n": {"a": 1}, "site\u005fid": "a", "\u00e9": 1, "site_id": "b"}}"#;
        let d = scan.duplicate(raw).unwrap();
        assert_eq!((d.path.as_str(), d.key.as_str()), ("properties", "site_id"));
        assert_eq!(&raw[d.first.clone()], br#""site\u005fid""#);
        assert_eq!(&raw[d.again.clone()], br#""site_id""#);
        // The same scan serves the next feature: nothing of the last one is left in it.
        let raw = "{\"properties\": {\"é\": 1, \"\\u00e9\": 2}, \"n\": [{\"p\": [{}, {\"x\": 1, \"x\": 2}]}]}";
        let d = scan.duplicate(raw.as_bytes()).unwrap();
        assert_eq!((d.path.as_str(), d.key.as_str()), ("properties", "é"));
        let d = scan.duplicate(br#"{"n": [{"p": [{}, {"x": 1, "x": 2}]}]}"#).unwrap();
        assert_eq!((d.path.as_str(), d.key.as_str()), ("n[0].p[1]", "x"));
        assert_eq!(scan.duplicate(br#"{"a": {"x": 1}, "b": {"x": 1}, "x": {}}"#), None);
        // A key that is not a valid string (a raw tab, a bad escape) is no key: the JSON error is shown.
        assert_eq!(scan.duplicate(b"{\"a\tb\": 1, \"a\tb\": 2}"), None);
        assert_eq!(scan.duplicate(br#"{"\x": 1, "\x": 2}"#), None);
    }

    #[test]
    fn finds_paths_in_a_feature() {
        let raw = br#"{"type": "Feature", "properties": {"id": 1, "a\"b": [1, {"c": 2}]},
          "geometry": {"coordinates": [[[1, 2], [3, 4]]], "coordinates": [[[5, 6]]]}}"#;
        let (k, v) = find(raw, &[Step::Key("properties"), Step::Key("a\"b"), Step::Index(1)]).unwrap();
        assert_eq!(k, None);
        assert_eq!(&raw[v], br#"{"c": 2}"#);
        let (k, v) = find(raw, &[Step::Key("properties"), Step::Key("id")]).unwrap();
        assert_eq!(&raw[k.unwrap()], br#""id""#);
        assert_eq!(&raw[v], b"1");
        let (_, v) = find(raw, &[Step::Key("geometry"), Step::Key("coordinates"), Step::Index(0)]).unwrap();
        assert_eq!(&raw[v], b"[[5, 6]]");
        assert!(find(raw, &[Step::Key("nope")]).is_none());
    }
}
