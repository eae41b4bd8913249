//! Located diagnostics: every problem geepipe finds in a user's files, with where it is and what to do.
//!
//! Loaders and checks collect [`Diagnostic`]s instead of stopping at the first problem; the CLI renders
//! them all (miette's graphical report: `file:line:col`, a snippet, labelled spans, help).
//!
//! Hostile input must not turn the report into the problem: a text held in memory is indexed by line
//! ([`Source::text`]), so placing a diagnostic is a binary search, and a snippet of a very long line (a
//! minified file) shows only a window around the span; repeated problems of one code are shown
//! [`SHOWN_PER_CODE`] times, then counted; messages, help and labels are cut to a readable length and
//! control characters in them are shown escaped.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan,
    SpanContents,
};

mod code;
pub use code::Code;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A text a diagnostic points into: a file's name and its contents (or the part of it that matters).
#[derive(Clone)]
pub struct Source {
    /// Name shown to the user (the path as given).
    pub name: String,
    /// The text; for huge files a window implementing [`SourceCode`] with true line numbers.
    pub code: Arc<dyn SourceCode + Send + Sync>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").field("name", &self.name).finish()
    }
}

impl Source {
    /// A whole file held in memory (indexed by line; long lines are shown as a window around a span).
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> Source {
        let name = name.into();
        let text: String = text.into();
        Source { code: Arc::new(TextCode::new(name.clone(), text)), name }
    }
}

/// How far a snippet reaches left and right of its span on one line (a minified file is one line).
const REACH: usize = 120;
/// The longest span a label underlines (a longer one is cut: the snippet stays small).
const MAX_LABEL_SPAN: usize = 240;
/// Diagnostics of one code shown before the rest are counted.
pub const SHOWN_PER_CODE: usize = 20;
/// Longest message or help shown, in characters.
const MAX_TEXT: usize = 400;

/// A text in memory with the byte offset of every line start, so that finding a span's line is a binary
/// search and not a scan from the start of the file (100,000 diagnostics in a 1 MB file stay fast).
struct TextCode {
    name: String,
    text: String,
    /// Byte offset where each line starts (`\n`, `\r\n` and a lone `\r` end a line, as in miette).
    lines: Vec<usize>,
}

impl TextCode {
    fn new(name: String, text: String) -> TextCode {
        let bytes = text.as_bytes();
        let mut lines = vec![0];
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    lines.push(i + 2);
                    i += 2;
                    continue;
                }
                b'\r' | b'\n' => lines.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        TextCode { name, text, lines }
    }

    /// 0-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.lines.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    fn floor(&self, mut i: usize) -> usize {
        while i > 0 && !self.text.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    fn ceil(&self, mut i: usize) -> usize {
        while i < self.text.len() && !self.text.is_char_boundary(i) {
            i += 1;
        }
        i.min(self.text.len())
    }
}

impl SourceCode for TextCode {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let len = self.text.len();
        let start = span.offset();
        if start > len {
            return Err(MietteError::OutOfBounds);
        }
        let end = start.saturating_add(span.len()).min(len);
        let first = self.line_of(start);
        let last = self.line_of(if end > start { end - 1 } else { start });
        let next_line = |l: usize| self.lines.get(l + 1).copied().unwrap_or(len);
        // The window: whole context lines, but never more than REACH bytes beside the span on its own line.
        let (mut from, mut line, mut column) = if before == 0 {
            (start, first, start - self.lines[first])
        } else {
            let l = first.saturating_sub(before);
            (self.lines[l], l, 0)
        };
        if start - from > 4 * REACH {
            // Long context lines before: show the span's own line only, and of it a window.
            (from, line, column) = (self.lines[first], first, 0);
        }
        if start - from > REACH && start - self.lines[first] > REACH {
            from = self.floor(start - REACH);
            line = first;
            column = from - self.lines[first];
        }
        let mut to = if after == 0 && before == 0 { end } else { next_line((last + after).min(self.lines.len() - 1)) };
        let shown_end = end.min(start + MAX_LABEL_SPAN);
        if to > shown_end + REACH {
            to = self.ceil(shown_end + REACH);
        }
        let to = to.max(from);
        let line_count = self.line_of(to.saturating_sub(1).max(from)) - line;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            &self.text.as_bytes()[from..to],
            (from, to - from).into(),
            line,
            column,
            line_count,
        )))
    }
}

/// `s` with control characters (other than line breaks and tabs) written as `\u{..}` escapes, cut to
/// `max` characters: text from files and servers reaches the terminal harmless and readable.
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 8));
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if (c.is_control() && c != '\n' && c != '\t') || is_invisible_format(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that change how text is shown without showing themselves (bidirectional overrides and
/// isolates, zero-width characters): shown escaped so a message cannot be made to read differently.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// One labelled span inside the diagnostic's source.
#[derive(Debug, Clone)]
pub struct Label {
    /// Byte range in the source.
    pub span: Range<usize>,
    /// Short text shown under the span.
    pub text: Option<String>,
    /// Whether this is the main span (its position is the headline location).
    pub primary: bool,
}

/// Line and column (1-based) of a diagnostic's primary span.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// In a file without lines (a Shapefile, GeoPackage, FlatGeobuf or Parquet file): the feature and field,
    /// e.g. "feature 7, field `site_id`".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

/// One problem found in the user's input.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `schema::unknown-field`, `sites::duplicate-id`.
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
    pub source: Option<Source>,
    pub labels: Vec<Label>,
    /// Headline location; set from the primary span by [`Diagnostic::locate`].
    pub location: Option<Location>,
    /// How many problems this diagnostic stands for in the closing count: 1, or N for an
    /// "… and N more" summary of problems not shown one by one.
    pub count: usize,
    /// Further places in a file without lines (e.g. where a duplicate id was first used), each with its label.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            help: None,
            source: None,
            labels: Vec::new(),
            location: None,
            count: 1,
            notes: Vec::new(),
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Points the diagnostic at `span` in `source` (the primary label) and computes its location.
    pub fn at(mut self, source: &Source, span: Range<usize>, label: impl Into<Option<String>>) -> Diagnostic {
        self.source = Some(source.clone());
        self.labels.insert(0, Label { span, text: label.into(), primary: true });
        self.locate();
        self
    }

    /// Adds a secondary label in the same source (e.g. the first of two duplicate ids).
    pub fn also(mut self, span: Range<usize>, label: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, text: Some(label.into()), primary: false });
        self
    }

    /// A diagnostic about a file as a whole (no span), e.g. "file not found".
    pub fn in_file(mut self, file: impl Into<String>) -> Diagnostic {
        self.location = Some(Location { file: file.into(), line: 0, column: 0, record: None });
        self
    }

    /// A diagnostic about one feature (and field) of a file without lines, e.g. a Shapefile record:
    /// `place` says which ("feature 7, field `site_id`"), `label` what is there.
    pub fn in_record(mut self, file: impl Into<String>, place: &str, label: Option<&str>) -> Diagnostic {
        let record = match label {
            Some(l) => format!("{place}: {l}"),
            None => place.to_string(),
        };
        self.location = Some(Location { file: file.into(), line: 0, column: 0, record: Some(record) });
        self
    }

    /// Another place in the same file without lines, with its label (see [`Diagnostic::in_record`]).
    pub fn also_record(mut self, place: &str, label: &str) -> Diagnostic {
        self.notes.push(format!("{place}: {label}"));
        self
    }

    /// Makes this diagnostic stand for `n` problems in the closing count ("… and N more").
    pub fn counting(mut self, n: usize) -> Diagnostic {
        self.count = n;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Recomputes [`Diagnostic::location`] from the primary span.
    pub fn locate(&mut self) {
        let (Some(source), Some(label)) = (&self.source, self.labels.iter().find(|l| l.primary)) else {
            return;
        };
        let span = miette::SourceSpan::from(label.span.clone());
        if let Ok(contents) = source.code.read_span(&span, 0, 0) {
            self.location = Some(Location {
                file: source.name.clone(),
                line: contents.line() + 1,
                column: contents.column() + 1,
                record: None,
            });
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| &*s.code as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() || self.source.is_none() {
            return None;
        }
        Some(Box::new(self.labels.iter().map(|l| {
            if l.primary {
                LabeledSpan::new_primary_with_span(l.text.clone(), l.span.clone())
            } else {
                LabeledSpan::new_with_span(l.text.clone(), l.span.clone())
            }
        })))
    }
}

/// Rendering settings for diagnostics.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { color: false, width: 100 }
    }
}

/// Renders one diagnostic as text: a `——▶ file:line:col` headline (when located), then miette's report.
pub fn render(diag: &Diagnostic, opts: RenderOptions) -> String {
    let shown = Diagnostic {
        message: printable(&diag.message, MAX_TEXT),
        help: diag.help.as_deref().map(|h| printable(h, MAX_TEXT)),
        labels: diag
            .labels
            .iter()
            .map(|l| Label {
                span: l.span.start..l.span.end.min(l.span.start.saturating_add(MAX_LABEL_SPAN)),
                text: l.text.as_deref().map(|t| printable(t, MAX_TEXT / 2)),
                primary: l.primary,
            })
            .collect(),
        ..diag.clone()
    };
    let diag = &shown;
    let theme = if opts.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(opts.width).with_links(false);
    let mut out = String::new();
    if diag.source.is_none() {
        if let Some(loc) = &diag.location {
            match &loc.record {
                Some(r) => out.push_str(&format!("  ——▶ {}, {r}\n", loc.file)),
                None => out.push_str(&format!("  ——▶ {}\n", loc.file)),
            }
            for note in &diag.notes {
                out.push_str(&format!("  ——▶ {}, {note}\n", loc.file));
            }
        }
    }
    // Writing into a String cannot fail.
    let _ = handler.render_report(&mut out, diag);
    out
}

/// Keeps the first [`SHOWN_PER_CODE`] diagnostics of each code (in order) and replaces the rest of each
/// code by one "… and N more" line that counts them. Diagnostics that already stand for several problems
/// (a checker's own summary) are kept as they are.
pub fn cap(diags: &[Diagnostic]) -> Vec<Diagnostic> {
    let mut shown: std::collections::HashMap<Code, usize> = std::collections::HashMap::new();
    let mut hidden: Vec<(Code, usize, Severity)> = Vec::new();
    let mut out = Vec::new();
    for d in diags {
        let n = shown.entry(d.code).or_insert(0);
        if d.count != 1 || *n < SHOWN_PER_CODE {
            *n += usize::from(d.count == 1);
            out.push(d.clone());
            continue;
        }
        match hidden.iter_mut().find(|(c, _, _)| *c == d.code) {
            Some(h) => {
                h.1 += 1;
                h.2 = h.2.max(d.severity);
            }
            None => hidden.push((d.code, 1, d.severity)),
        }
    }
    for (code, n, severity) in hidden {
        let message = format!("… and {n} more `{code}` problems, not shown");
        let mut d = Diagnostic::error(code, message).counting(n);
        d.severity = severity;
        out.push(d);
    }
    out
}

/// Renders every diagnostic, errors and warnings in the order given (at most [`SHOWN_PER_CODE`] of one
/// code), then a one-line count of all of them.
pub fn render_all(diags: &[Diagnostic], opts: RenderOptions) -> String {
    let mut out = String::new();
    for d in &cap(diags) {
        out.push_str(&render(d, opts));
    }
    let errors: usize = diags.iter().filter(|d| d.is_error()).map(|d| d.count).sum();
    let warnings: usize = diags.iter().filter(|d| !d.is_error()).map(|d| d.count).sum();
    if errors + warnings > 0 {
        out.push_str(&format!(
            "{} error{}, {} warning{}\n",
            errors,
            if errors == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines and columns from the line index agree with miette's own scan of the text.
    #[test]
    fn text_code_places_spans_like_miette() {
        let text = "a: 1\r\nbb: 2\n\nc: [x, y]\rd: é\nlast";
        let ours = TextCode::new("f".into(), text.into());
        // (Not between the two bytes of a `\r\n`: no span starts there.)
        let inside_crlf = |i: usize| i > 0 && text.as_bytes()[i - 1] == b'\r' && text.as_bytes().get(i) == Some(&b'\n');
        for start in (0..=text.len()).filter(|&i| text.is_char_boundary(i) && !inside_crlf(i)) {
            for len in (0..4).filter(|&l| start + l <= text.len() && text.is_char_boundary(start + l)) {
                let span = SourceSpan::from((start, len));
                match (ours.read_span(&span, 0, 0), text.read_span(&span, 0, 0)) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!((a.line(), a.column()), (b.line(), b.column()), "{start}+{len}")
                    }
                    (Err(_), Err(_)) => {}
                    (a, b) => panic!("{start}+{len}: {:?} vs {:?}", a.is_ok(), b.is_ok()),
                }
            }
        }
    }

    /// A span far into a long line gets a window around it with its true column.
    #[test]
    fn long_lines_are_windowed() {
        let text = format!("{}TYPO{}\nnext", "x".repeat(100_000), "y".repeat(100_000));
        let code = TextCode::new("f".into(), text.clone());
        let span = SourceSpan::from((100_000, 4));
        let c = code.read_span(&span, 1, 1).unwrap();
        assert!(c.data().len() < 4 * REACH, "{}", c.data().len());
        assert_eq!((c.line(), c.column()), (0, 100_000 - REACH));
        let d =
            Diagnostic::error(Code::SchemaUnknownField, "typo").at(&Source::text("f", text), 100_000..100_004, None);
        assert_eq!(d.location.map(|l| (l.line, l.column)), Some((1, 100_001)));
    }

    #[test]
    fn repeated_codes_are_counted_after_twenty() {
        let diags: Vec<Diagnostic> =
            (0..50).map(|i| Diagnostic::warning(Code::YearsRepeated, format!("w{i}"))).collect();
        let shown = cap(&diags);
        assert_eq!(shown.len(), SHOWN_PER_CODE + 1);
        assert_eq!(shown.last().map(|d| d.count), Some(30));
        let text = render_all(&diags, RenderOptions::default());
        assert!(text.ends_with("0 errors, 50 warnings\n"), "{text}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("a\u{1b}[31mb\u{202e}c\nd", 100), "a\\u{1b}[31mb\\u{202e}c\nd");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
