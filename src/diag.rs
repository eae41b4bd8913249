//! Located diagnostics: every problem geepipe finds in a user's files, with where it is and what to do.
//!
//! Loaders and checks collect [`Diagnostic`]s instead of stopping at the first problem; the CLI renders
//! them all (miette's graphical report: `file:line:col`, a snippet, labelled spans, help).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};

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
    /// A whole file held in memory.
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> Source {
        let name = name.into();
        let text: String = text.into();
        Source { code: Arc::new(NamedSource::new(name.clone(), text)), name }
    }
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
    pub code: String,
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
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code: code.into(),
            message: message.into(),
            help: None,
            source: None,
            labels: Vec::new(),
            location: None,
            count: 1,
            notes: Vec::new(),
        }
    }

    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Diagnostic {
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

/// Renders every diagnostic, errors and warnings in the order given, then a one-line count.
pub fn render_all(diags: &[Diagnostic], opts: RenderOptions) -> String {
    let mut out = String::new();
    for d in diags {
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
