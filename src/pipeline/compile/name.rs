//! Stage: the pipeline's `name` (or the file's stem) and its Earth Engine `project`, plus the name rules
//! Earth Engine applies to task names, layer names and file prefixes.

use crate::diag::Code;
use std::path::Path;

use super::Cx;

pub(super) fn is_ee_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn is_layer_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.contains("__")
}

/// Characters Earth Engine accepts in a file name prefix: letters, digits, `_ - . /`.
pub(super) fn is_file_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !s.starts_with('/')
        && !s.split('/').any(|seg| seg == "..")
}

impl Cx<'_> {
    /// The pipeline's name: `name`, else the file's stem with other characters made `_`.
    pub(super) fn name(&mut self, name: Option<&str>, path: &Path) -> String {
        match name {
            Some(n) => {
                if !is_ee_name(n) {
                    self.error(
                        "/name",
                        Code::PipelineName,
                        format!("pipeline name `{n}` has characters Earth Engine does not accept in task names"),
                        "not allowed",
                        "use letters, digits, `_` and `-` only",
                    );
                }
                n.to_string()
            }
            None => {
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("pipeline");
                stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
            }
        }
    }

    /// The project (from the flag, the environment or the file), which must be a bare id.
    pub(super) fn project(&mut self, project: Option<String>) -> Option<String> {
        if let Some(p) = &project {
            if p.starts_with("projects/") {
                self.error(
                    "/project",
                    Code::PipelineProject,
                    format!("project `{p}` should be the bare project id"),
                    "not a bare project id",
                    &format!("write `{}`", p.trim_start_matches("projects/")),
                );
            } else if p.is_empty()
                || !p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.:".contains(c))
            {
                // A newline or space here used to pass `validate` and `plan`, then break the HTTP request.
                let shown = crate::diag::printable(p, 80);
                self.error(
                    "/project",
                    Code::PipelineProject,
                    format!("project `{shown}` is not a Cloud project id"),
                    "not a project id",
                    "project ids have lowercase letters, digits and hyphens (e.g. `my-ee-project`)",
                );
            }
        }
        project
    }
}
