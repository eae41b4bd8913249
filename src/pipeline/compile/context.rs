//! The compile context: the document being compiled, the diagnostics found so far, and the values the
//! schema already rejected (a finding about one of those would only repeat the schema's error).

use crate::diag::{Code, Diagnostic};
use crate::pipeline::load::Document;

pub(super) struct Cx<'a> {
    pub(super) doc: &'a Document,
    pub(super) diags: Vec<Diagnostic>,
    /// Pointers of values the schema rejected: findings at them, under them or at their parent mapping
    /// would only repeat the schema error.
    pub(super) suppressed: Vec<String>,
}

impl Cx<'_> {
    /// Whether a finding at `ptr` with message `msg` would only repeat a schema error: it is about a
    /// rejected value (or something inside it), or it is a mapping-level finding that names a rejected
    /// field of that mapping ("`to: gcs` needs `bucket`" after `bucket: 5` was rejected).
    pub(super) fn is_suppressed(&self, ptr: &str, msg: &str) -> bool {
        self.suppressed.iter().any(|s| {
            if s == ptr || ptr.starts_with(&format!("{s}/")) {
                return true;
            }
            let Some(child) = s.strip_prefix(&format!("{ptr}/")) else { return false };
            !child.contains('/')
                && msg
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|w| w == crate::pipeline::schema::segments(&format!("/{child}"))[0])
        })
    }

    pub(super) fn error(&mut self, ptr: &str, code: Code, msg: impl Into<String>, label: &str, help: &str) {
        let msg = msg.into();
        if self.is_suppressed(ptr, &msg) {
            return;
        }
        let mut d =
            Diagnostic::error(code, msg).at(&self.doc.source, self.doc.label_span(ptr), Some(label.to_string()));
        if !help.is_empty() {
            d = d.with_help(help);
        }
        self.diags.push(d);
    }

    pub(super) fn warn(&mut self, ptr: &str, code: Code, msg: impl Into<String>, label: &str, help: &str) {
        let msg = msg.into();
        if self.is_suppressed(ptr, &msg) {
            return;
        }
        let mut d =
            Diagnostic::warning(code, msg).at(&self.doc.source, self.doc.label_span(ptr), Some(label.to_string()));
        if !help.is_empty() {
            d = d.with_help(help);
        }
        self.diags.push(d);
    }
}
