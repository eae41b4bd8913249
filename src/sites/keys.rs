//! Keys given twice in one object of a GeoJSON feature (`sites::duplicate-key`): serde_json and most
//! readers silently keep one of the two values, so the check walks the feature's raw bytes itself. A
//! quick pass ([`KeyScan::any`]) clears the features serde_json has read; the full walk
//! ([`KeyScan::duplicate`]) says where both keys are.

use std::ops::Range;

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
mod tests {
    use super::*;

    fn duplicate_key(raw: &[u8]) -> Option<DuplicateKey> {
        KeyScan::default().duplicate(raw)
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
}
