//! Reading a pipeline file into a JSON value plus a map from JSON pointers to places in the file.
//!
//! YAML goes through saphyr's marked tree and TOML through toml's spanned values, so that every later
//! check (JSON Schema, semantic checks, expression type checks) can report `file:line:col` by pointer.
//!
//! Nesting deeper than [`MAX_DEPTH`] is refused before any tree is built (YAML through saphyr's event
//! parser, which keeps its own stack), so hostile input cannot overflow the stack; numbers that are not
//! finite (`.nan`, `.inf`, TOML `nan`, `inf`) are errors where they stand, never a silent null.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

use crate::diag::{Code, Diagnostic, Source};

/// The syntax a pipeline file is written in, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Toml,
}

impl Format {
    /// `.toml` is TOML; `.yaml`, `.yml` and anything else is YAML.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => Format::Yaml,
        }
    }
}

/// Where a node sits in the file: the span of its key (for mapping entries) and of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpan {
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
}

/// JSON pointer (RFC 6901, `""` is the root) → byte spans in the source.
#[derive(Debug, Clone, Default)]
pub struct SpanMap {
    nodes: HashMap<String, NodeSpan>,
}

impl SpanMap {
    pub fn insert(&mut self, pointer: String, span: NodeSpan) {
        self.nodes.insert(pointer, span);
    }

    pub fn get(&self, pointer: &str) -> Option<&NodeSpan> {
        self.nodes.get(pointer)
    }

    /// The value span at `pointer`, or at its nearest ancestor that has one.
    pub fn value_or_parent(&self, pointer: &str) -> Option<Range<usize>> {
        let mut p = pointer.to_string();
        loop {
            if let Some(n) = self.nodes.get(&p) {
                return Some(n.value.clone());
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => return None,
            }
        }
    }

    /// The key span at `pointer` if it is a mapping entry, else its value span (or an ancestor's).
    pub fn key_or_value(&self, pointer: &str) -> Option<Range<usize>> {
        match self.nodes.get(pointer) {
            Some(NodeSpan { key: Some(k), .. }) => Some(k.clone()),
            _ => self.value_or_parent(pointer),
        }
    }
}

/// Escapes one JSON pointer segment (`~` → `~0`, `/` → `~1`).
pub fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// A parsed pipeline file.
#[derive(Debug, Clone)]
pub struct Document {
    pub source: Source,
    pub format: Format,
    pub value: Value,
    pub spans: SpanMap,
    /// The file's text.
    pub text: std::sync::Arc<str>,
}

impl Document {
    /// Span for a pointer (value, else nearest ancestor), or the whole first line.
    pub fn span(&self, pointer: &str) -> Range<usize> {
        self.spans.value_or_parent(pointer).unwrap_or(0..0)
    }

    /// Span of the key at a pointer (value if it has no key).
    pub fn key_span(&self, pointer: &str) -> Range<usize> {
        self.spans.key_or_value(pointer).unwrap_or(0..0)
    }

    /// A short span to label a problem with the node at `pointer`: the value itself for a scalar, the key
    /// for a mapping or list that has one (a whole section would drown the report), else the first line
    /// of the node. Falls back to the nearest ancestor that is in the file.
    pub fn label_span(&self, pointer: &str) -> Range<usize> {
        let container = matches!(self.value.pointer(pointer), Some(Value::Object(_) | Value::Array(_)));
        match self.spans.get(pointer) {
            Some(NodeSpan { key: Some(k), .. }) if container => k.clone(),
            Some(NodeSpan { value, .. }) if container => self.first_line(value.clone()),
            Some(NodeSpan { value, .. }) => self.first_line(value.clone()),
            None => match pointer.rfind('/') {
                Some(i) => self.label_span(&pointer[..i]),
                None => self.first_line(self.span("")),
            },
        }
    }

    /// `span` cut at its first line break (a label over many lines is hard to read).
    fn first_line(&self, span: Range<usize>) -> Range<usize> {
        let text = &*self.text;
        let start = span.start.min(text.len());
        let end = span.end.min(text.len()).max(start);
        match text.get(start..end).and_then(|t| t.find('\n')) {
            Some(nl) => start..start + nl,
            None => start..end,
        }
    }
}

/// Parses `text` (named `name` in diagnostics) as YAML or TOML. Any problem (even a duplicate key the
/// parser could step over) is an error here; [`parse_lenient`] keeps going where it can.
pub fn parse(name: &str, text: &str, format: Format) -> Result<Document, Vec<Diagnostic>> {
    match parse_lenient(name, text, format) {
        (Some(doc), diags) if diags.is_empty() => Ok(doc),
        (_, diags) => Err(diags),
    }
}

/// Parses `text`, returning the document when one could be read plus every problem found on the way.
/// A syntax error gives no document; a duplicate key, alias or odd key gives a document (first value
/// kept) and an error, so the rest of the file can still be checked in the same run.
pub fn parse_lenient(name: &str, text: &str, format: Format) -> (Option<Document>, Vec<Diagnostic>) {
    let source = Source::text(name, text);
    let result = match format {
        Format::Yaml => yaml_to_json(text, &source),
        Format::Toml => toml_to_json(text, &source),
    };
    match result {
        Ok((value, spans, diags)) => (Some(Document { source, format, value, spans, text: text.into() }), diags),
        Err(diags) => (None, diags),
    }
}

/// Maps saphyr's character indices to byte offsets.
struct CharToByte {
    offsets: Vec<usize>,
}

impl CharToByte {
    fn new(text: &str) -> CharToByte {
        let mut offsets: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        offsets.push(text.len());
        CharToByte { offsets }
    }

    fn byte(&self, char_index: usize) -> usize {
        *self.offsets.get(char_index).unwrap_or_else(|| self.offsets.last().unwrap_or(&0))
    }
}

type Parsed = Result<(Value, SpanMap, Vec<Diagnostic>), Vec<Diagnostic>>;

/// The deepest nesting of mappings and lists a pipeline file may have. Real pipelines nest a few levels
/// (an expression of nested calls a few dozen); deeper input is refused before the tree is built.
pub const MAX_DEPTH: usize = 128;

fn too_deep(source: &Source, at: usize) -> Diagnostic {
    Diagnostic::error(
        Code::PipelineTooDeep,
        format!("the file nests mappings and lists deeper than {MAX_DEPTH} levels"),
    )
    .at(source, at..at, Some(format!("level {} starts here", MAX_DEPTH + 1)))
    .with_help("a pipeline nests a few levels deep; flatten this part of the file")
}

/// Walks the YAML events (no tree) and reports the first place nested deeper than [`MAX_DEPTH`].
/// Syntax errors are left to the loader, which reports them with more context.
fn yaml_depth(text: &str, conv: &CharToByte, source: &Source) -> Option<Diagnostic> {
    use saphyr_parser::{Event, Parser};
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else { return None };
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(too_deep(source, conv.byte(span.start.index())));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn non_finite(source: &Source, span: Range<usize>) -> Diagnostic {
    Diagnostic::error(Code::PipelineNotFinite, "numbers must be finite: NaN and infinity are not allowed")
        .at(source, span, Some("not a finite number".to_string()))
        .with_help("write an ordinary number (e.g. `0.5`), or leave the field out to use its default")
}

fn yaml_to_json(text: &str, source: &Source) -> Parsed {
    let conv = CharToByte::new(text);
    if let Some(d) = yaml_depth(text, &conv, source) {
        return Err(vec![d]);
    }
    let mut diags = Vec::new();
    // saphyr stops at a duplicate key. To still check the rest of the file, the repeated key is renamed
    // (same length, so every position stays put) and parsing starts again; the renamed entry is dropped.
    let mut work = text.to_string();
    let mut hidden: Vec<Range<usize>> = Vec::new();
    let docs = loop {
        match MarkedYaml::load_from_str(&work) {
            Ok(docs) => break docs,
            Err(e) => {
                let at = conv.byte(e.marker().index());
                if e.info().contains("duplicated key") && hidden.len() < 64 {
                    if let Some((key, first)) = duplicate_key_at(&work, at) {
                        if let Some(padded) = placeholder(hidden.len(), key.len()) {
                            let name = work[key.clone()].to_string();
                            let mut d =
                                Diagnostic::error(Code::YamlDuplicateKey, format!("key `{name}` appears twice"))
                                    .at(source, key.clone(), Some("second time here".to_string()))
                                    .with_help("remove one of them; only the first is checked");
                            if let Some(first) = first {
                                d = d.also(first, "first time here");
                            }
                            diags.push(d);
                            work.replace_range(key.clone(), &padded);
                            hidden.push(key);
                            continue;
                        }
                    }
                }
                diags.push(
                    Diagnostic::error(Code::YamlSyntax, format!("YAML syntax error: {}", e.info()))
                        .at(source, at..at, Some("here".to_string()))
                        .with_help("fix the YAML syntax; indentation must use spaces"),
                );
                return Err(diags);
            }
        }
    };
    let mut spans = SpanMap::default();
    let cx = YamlCx { conv: &conv, source, hidden: &hidden };
    let value = match docs.first() {
        None => Value::Null,
        Some(root) => {
            if docs.len() > 1 {
                let s = conv.byte(docs[1].span.start.index());
                diags.push(
                    Diagnostic::error(Code::YamlMultipleDocuments, "a pipeline file holds one YAML document").at(
                        source,
                        s..s + 3,
                        Some("a second document starts here".to_string()),
                    ),
                );
            }
            convert_yaml(root, "", None, &cx, &mut spans, &mut diags)
        }
    };
    Ok((value, spans, diags))
}

fn span_of(node: &MarkedYaml, conv: &CharToByte) -> Range<usize> {
    let s = conv.byte(node.span.start.index());
    let e = conv.byte(node.span.end.index()).max(s);
    s..e
}

/// The `n`th stand-in name of `len` ASCII characters for a renamed duplicate key.
fn placeholder(n: usize, len: usize) -> Option<String> {
    let long = format!("_{n}");
    if long.len() <= len {
        return Some(format!("{long:_<len$}"));
    }
    // Too short for a counter: symbols that no pipeline field uses.
    const SYMBOLS: &[u8] = b"_^$()+=;";
    let c = *SYMBOLS.get(n)? as char;
    Some(std::iter::once(c).chain(std::iter::repeat_n('_', len - 1)).collect())
}

/// The plain key starting at byte `at` (a duplicate saphyr reported) and the earlier key of the same name
/// at the same column, if there is one. Only simple ASCII keys (`name:`) are handled.
fn duplicate_key_at(text: &str, at: usize) -> Option<(Range<usize>, Option<Range<usize>>)> {
    let rest = text.get(at..)?;
    let line = rest.split('\n').next()?;
    let colon = line.find(':')?;
    let key = line[..colon].trim_end();
    let simple = |k: &str| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !simple(key) {
        return None;
    }
    let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = at - line_start;
    let mut first = None;
    let mut offset = 0;
    for l in text[..line_start].split_inclusive('\n') {
        if l.get(col..).is_some_and(|t| t.starts_with(key) && t[key.len()..].trim_start().starts_with(':'))
            && l[..col].trim_start_matches([' ', '-']).is_empty()
        {
            first = Some(offset + col..offset + col + key.len());
        }
        offset += l.len();
    }
    Some((at..at + key.len(), first))
}

struct YamlCx<'a> {
    conv: &'a CharToByte,
    source: &'a Source,
    /// Spans of renamed duplicate keys, whose entries are dropped.
    hidden: &'a [Range<usize>],
}

fn convert_yaml(
    node: &MarkedYaml,
    pointer: &str,
    key: Option<Range<usize>>,
    cx: &YamlCx,
    spans: &mut SpanMap,
    diags: &mut Vec<Diagnostic>,
) -> Value {
    let (conv, source) = (cx.conv, cx.source);
    let span = span_of(node, conv);
    spans.insert(pointer.to_string(), NodeSpan { key: key.clone(), value: span.clone() });
    match &node.data {
        YamlData::Value(Scalar::FloatingPoint(f)) if !f.into_inner().is_finite() => {
            diags.push(non_finite(source, span));
            Value::Null
        }
        YamlData::Value(s) => scalar_to_json(s),
        YamlData::Representation(s, _, _) => Value::String(s.to_string()),
        YamlData::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert_yaml(item, &format!("{pointer}/{i}"), None, cx, spans, diags))
                .collect(),
        ),
        YamlData::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map.iter() {
                let kspan = span_of(k, conv);
                if cx.hidden.contains(&kspan) {
                    continue;
                }
                let kname = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
                    YamlData::Value(Scalar::Null) => "null".to_string(),
                    _ => {
                        diags.push(Diagnostic::error(Code::YamlComplexKey, "mapping keys must be plain text").at(
                            source,
                            kspan,
                            Some("this key".to_string()),
                        ));
                        continue;
                    }
                };
                let child = format!("{pointer}/{}", pointer_segment(&kname));
                if out.contains_key(&kname) {
                    let first = spans.get(&child).and_then(|n| n.key.clone());
                    let mut d = Diagnostic::error(Code::YamlDuplicateKey, format!("key `{kname}` appears twice"))
                        .at(source, kspan.clone(), Some("second time here".to_string()))
                        .with_help("remove one of them");
                    if let Some(first) = first {
                        d = d.also(first, "first time here");
                    }
                    diags.push(d);
                    continue;
                }
                let value = convert_yaml(v, &child, Some(kspan), cx, spans, diags);
                out.insert(kname, value);
            }
            Value::Object(out)
        }
        YamlData::Tagged(_, inner) => convert_yaml(inner, pointer, key, cx, spans, diags),
        YamlData::Alias(_) => {
            diags.push(
                Diagnostic::error(Code::YamlAlias, "YAML aliases (`*name`) are not supported in pipeline files")
                    .at(source, span, Some("alias".to_string()))
                    .with_help("write the value out in full"),
            );
            Value::Null
        }
        YamlData::BadValue => {
            diags.push(Diagnostic::error(Code::YamlBadValue, "this value cannot be read").at(source, span, None));
            Value::Null
        }
    }
}

fn scalar_to_json(s: &Scalar) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner()).map(Value::Number).unwrap_or(Value::Null),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

fn toml_to_json(text: &str, source: &Source) -> Parsed {
    let mut spans = SpanMap::default();
    let (table, errors) = toml::de::DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        let mut seen = std::collections::HashSet::new();
        return Err(errors
            .iter()
            .filter(|e| seen.insert((e.span(), e.message().to_string())))
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                Diagnostic::error(Code::TomlSyntax, format!("TOML syntax error: {}", e.message().trim()))
                    .at(source, span, Some("here".to_string()))
                    .with_help("fix the TOML syntax; strings need quotes, e.g. `to = \"drive\"`")
            })
            .collect());
    }
    spans.insert(String::new(), NodeSpan { key: None, value: 0..text.len() });
    let mut cx = TomlCx { source, spans: &mut spans, diags: Vec::new(), deep: false };
    let value = toml_table(table.get_ref(), "", 0, &mut cx);
    let diags = cx.diags;
    if diags.iter().any(|d| d.code == Code::PipelineTooDeep) {
        return Err(diags);
    }
    Ok((value, spans, diags))
}

struct TomlCx<'a> {
    source: &'a Source,
    spans: &'a mut SpanMap,
    diags: Vec<Diagnostic>,
    /// Set once a too-deep place was reported (one report is enough).
    deep: bool,
}

fn toml_table(table: &toml::de::DeTable, pointer: &str, depth: usize, cx: &mut TomlCx) -> Value {
    let mut out = Map::new();
    for (k, v) in table.iter() {
        let child = format!("{pointer}/{}", pointer_segment(k.get_ref()));
        cx.spans.insert(child.clone(), NodeSpan { key: Some(k.span()), value: v.span() });
        let value = toml_value(v.get_ref(), v.span(), &child, depth + 1, cx);
        out.insert(k.get_ref().to_string(), value);
    }
    Value::Object(out)
}

fn toml_value(v: &toml::de::DeValue, span: Range<usize>, pointer: &str, depth: usize, cx: &mut TomlCx) -> Value {
    use toml::de::DeValue;
    if depth > MAX_DEPTH && matches!(v, DeValue::Array(_) | DeValue::Table(_)) {
        if !cx.deep {
            cx.deep = true;
            cx.diags.push(too_deep(cx.source, span.start));
        }
        return Value::Null;
    }
    match v {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(|n| Value::Number(n.into()))
            .unwrap_or_else(|_| Value::String(i.to_string())),
        DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => {
                cx.diags.push(non_finite(cx.source, span));
                Value::Null
            }
        },
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let child = format!("{pointer}/{i}");
                    cx.spans.insert(child.clone(), NodeSpan { key: None, value: item.span() });
                    toml_value(item.get_ref(), item.span(), &child, depth + 1, cx)
                })
                .collect(),
        ),
        DeValue::Table(t) => toml_table(t, pointer, depth, cx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_reported_and_the_first_value_kept() {
        let text = "a: 1\nb:\n  c: 2\n  c: 3\na: 4\n";
        let (doc, diags) = parse_lenient("p.yaml", text, Format::Yaml);
        let doc = doc.expect("document despite duplicates");
        assert_eq!(doc.value, serde_json::json!({"a": 1, "b": {"c": 2}}));
        let found: Vec<(String, usize, usize)> = diags
            .iter()
            .map(|d| {
                let l = d.location.clone().expect("located");
                (d.message.clone(), l.line, l.column)
            })
            .collect();
        assert_eq!(found, [("key `c` appears twice".to_string(), 4, 3), ("key `a` appears twice".to_string(), 5, 1)]);
        // The first occurrence is labelled too.
        assert_eq!(diags[0].labels[1].span, 10..11);
        assert!(parse("p.yaml", text, Format::Yaml).is_err(), "strict parse refuses duplicates");
    }

    #[test]
    fn spans_map_pointers_to_keys_and_values_in_bytes() {
        let text = "name: é\nexport:\n  to: drive\n";
        let doc = parse("p.yaml", text, Format::Yaml).expect("parse");
        let to = doc.spans.get("/export/to").expect("span");
        assert_eq!(&text[to.key.clone().expect("key")], "to");
        assert_eq!(&text[to.value.clone()], "drive");
        assert_eq!(&text[doc.label_span("/export")], "export");
        let toml = "[export]\nto = \"drive\"\n";
        let doc = parse("p.toml", toml, Format::Toml).expect("parse");
        assert_eq!(&toml[doc.label_span("/export/to")], "\"drive\"");
        assert_eq!(&toml[doc.key_span("/export/to")], "to");
    }

    #[test]
    fn every_toml_syntax_error_is_reported_once() {
        let (doc, diags) = parse_lenient("p.toml", "a = \nb = [1,\n", Format::Toml);
        assert!(doc.is_none());
        assert!(!diags.is_empty());
        let mut places: Vec<_> = diags.iter().map(|d| (d.labels[0].span.clone(), d.message.clone())).collect();
        let n = places.len();
        places.dedup();
        assert_eq!(places.len(), n);
    }
}
