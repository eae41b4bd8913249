//! Pipeline files: the raw model that mirrors the file, loading YAML/TOML with positions, the JSON
//! Schema, and compiling into the resolved [`Pipeline`] every later stage uses.

pub mod compile;
pub mod load;
pub mod model;
pub mod raw;
pub mod reference;
pub mod schema;

use std::path::Path;

pub use compile::{compile, Overrides};
pub use load::{Document, Format};
pub use model::*;

use crate::diag::{Code, Diagnostic};

/// Reads, parses and compiles a pipeline file. `Ok` carries warnings; `Err` carries every diagnostic.
/// Site files are not read here beyond hashing; see [`crate::sites::validate`].
pub fn load(path: &Path, overrides: &Overrides) -> Result<(Pipeline, Vec<Diagnostic>), Vec<Diagnostic>> {
    load_with_sites(path, overrides).0
}

/// [`load`], and the site source when the pipeline has errors but its `sites` section was read cleanly, so
/// the site file can be checked in the same round.
pub fn load_with_sites(path: &Path, overrides: &Overrides) -> (compile::Compiled, Option<SiteSource>) {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let d = Diagnostic::error(Code::PipelineRead, format!("cannot read pipeline file `{name}`: {e}"))
                .in_file(name.clone())
                .with_help("check the path; pipeline files are YAML (.yaml, .yml) or TOML (.toml)");
            return (Err(vec![d]), None);
        }
    };
    let (doc, mut diags) = load::parse_lenient(&name, &text, Format::from_path(path));
    let Some(doc) = doc else { return (Err(diags), None) };
    let (compiled, sites) = compile::compile_with_sites(&doc, path, overrides);
    let result = match compiled {
        Ok((pipeline, warnings)) if diags.is_empty() => Ok((pipeline, warnings)),
        Ok((_, mut more)) | Err(mut more) => {
            // A number that is not finite was read as null: its own error says it all.
            let not_finite: Vec<_> = diags
                .iter()
                .filter(|d| d.code == Code::PipelineNotFinite)
                .filter_map(|d| d.labels.first().map(|l| l.span.clone()))
                .collect();
            more.retain(|d| d.labels.iter().find(|l| l.primary).is_none_or(|l| !not_finite.contains(&l.span)));
            diags.extend(more);
            compile::sort_by_place(&mut diags);
            Err(diags)
        }
    };
    (result, sites)
}
