//! `geepipe fetch`: download finished exports and merge them into the tidy table.
//!
//! The list of finished chunks comes from the run journal ([`finished_chunks`]); everything after it is
//! [`crate::results::fetch`]. The table is written only when every site is accounted for, or with
//! `--partial` (then the missing ones are listed and the exit code is 1).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::Global;
use crate::exit;
use crate::pipeline::{KindName, LayoutName, OutputFormatName, Pipeline};
use crate::plan::Target;
use crate::results::download::{GcpAuthTokens, TokenSource};
use crate::results::fetch::{self, FetchError, FetchOptions, FetchOutcome, FinishedChunk};
use crate::results::Measure;

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Write the table here instead of the pipeline's `output.path`.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write the table even if some chunks are missing, and say which.
    #[arg(long)]
    pub partial: bool,
}

pub fn fetch(g: &Global, a: FetchArgs) -> i32 {
    let pipeline = match g.load_pipeline(&a.file) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let chunks = match finished_chunks(&pipeline) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    fetch_chunks(g, &a, &pipeline, chunks)
}

/// The chunks of `pipeline` whose export tasks succeeded, from the run journal.
pub fn finished_chunks(pipeline: &Pipeline) -> Result<Vec<FinishedChunk>, String> {
    Err(format!(
        "`fetch` needs the run journal to know which chunks of `{}` finished, and the journal is not part of this \
         build yet",
        pipeline.name
    ))
}

/// Everything `geepipe fetch` does once the finished chunks are known; returns the exit code.
pub fn fetch_chunks(g: &Global, a: &FetchArgs, pipeline: &Pipeline, chunks: Vec<FinishedChunk>) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    let mut opts = match FetchOptions::new(pipeline) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ENVIRONMENT;
        }
    };
    opts.partial = a.partial;
    let needs_gcs = chunks.iter().any(|c| matches!(c.target, Target::Gcs { .. }));
    let needs_drive = chunks.iter().any(|c| matches!(c.target, Target::Drive { .. }));
    let emulated = std::env::var("STORAGE_EMULATOR_HOST").is_ok_and(|v| !v.trim().is_empty());
    if needs_drive || (needs_gcs && !emulated) {
        match rt.block_on(gcp_auth::provider()) {
            Ok(p) => opts.tokens = Some(Arc::new(GcpAuthTokens(p)) as Arc<dyn TokenSource>),
            Err(e) => {
                eprintln!(
                    "error: no Google credentials to download the exports: {e}\nhelp: run `gcloud auth \
                     application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key"
                );
                return exit::ENVIRONMENT;
            }
        }
    }
    let outcome = match rt.block_on(fetch::fetch(pipeline, &chunks, &opts)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                FetchError::Setup(_) => exit::INVALID_INPUT,
                FetchError::MissingScope { .. } | FetchError::Listing { .. } => exit::ENVIRONMENT,
                FetchError::Incomplete { .. } => exit::SOME_FAILED,
            };
        }
    };
    for n in &outcome.notes {
        if !g.quiet {
            eprintln!("note: {n}");
        }
    }
    let mut out = std::io::stdout().lock();
    if !outcome.elsewhere.is_empty() {
        let _ = writeln!(out, "The results are not files; they are in:");
        for e in &outcome.elsewhere {
            let _ = writeln!(out, "  {e}");
        }
    }
    if !outcome.files.is_empty() && !g.quiet {
        let _ = writeln!(
            out,
            "{} file(s) in {} ({} downloaded, {} already there)",
            outcome.files.len(),
            outcome.download_dir.display(),
            outcome.downloaded,
            outcome.reused
        );
    }
    if pipeline.kind == KindName::Zonal && outcome.elsewhere.is_empty() {
        let path = a.output.clone().unwrap_or_else(|| pipeline.output.path.clone());
        match write_table(pipeline, &outcome, &path) {
            Ok(rows) => {
                let _ = writeln!(out, "wrote {rows} row(s) for {} site(s) to {}", outcome.sites.len(), path.display());
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                return exit::ENVIRONMENT;
            }
        }
    }
    if !outcome.missing.is_empty() {
        eprintln!("warning: the table is partial; missing:");
        for m in &outcome.missing {
            eprintln!("  - {m}");
        }
        return exit::SOME_FAILED;
    }
    exit::OK
}

/// Writes the tidy table; returns the number of data rows. The one call that becomes
/// `crate::results::table` (long/wide CSV, GeoJSON) at integration; until then the long CSV layout.
fn write_table(pipeline: &Pipeline, outcome: &FetchOutcome, path: &Path) -> anyhow::Result<usize> {
    if pipeline.output.format != OutputFormatName::Csv || pipeline.output.layout != LayoutName::Long {
        anyhow::bail!("this build writes the long CSV table only");
    }
    write_long_csv(pipeline, outcome, path)
}

/// Long CSV: one row per record, the site's kept properties after its id. Written to a temporary file
/// beside `path`, then renamed, so a reader never sees half a table.
fn write_long_csv(pipeline: &Pipeline, outcome: &FetchOutcome, path: &Path) -> anyhow::Result<usize> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    let keep: Vec<&String> = pipeline.sites.keep.iter().filter(|k| **k != pipeline.sites.id_property).collect();
    let props: std::collections::HashMap<&str, &serde_json::Map<String, serde_json::Value>> =
        outcome.sites.iter().map(|s| (s.id.as_str(), &s.properties)).collect();
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(tmp.as_file()));
    let mut header: Vec<&str> = vec![pipeline.sites.id_property.as_str()];
    header.extend(keep.iter().map(|k| k.as_str()));
    header.extend(["layer", "year", "class", "class_name", "area_ha", "pixels", "band", "stat", "value"]);
    w.write_record(&header)?;
    let num = |v: f64| format!("{v}");
    for r in &outcome.records {
        let mut row: Vec<String> = vec![r.site.clone()];
        for k in &keep {
            row.push(match props.get(r.site.as_str()).and_then(|p| p.get(k.as_str())) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            });
        }
        row.push(r.layer.clone());
        row.push(r.year.to_string());
        let tail: [String; 7] = match &r.measure {
            Measure::Class { code, name, area_ha, pixels } => [
                code.to_string(),
                name.clone().unwrap_or_default(),
                num(*area_ha),
                num(*pixels),
                String::new(),
                String::new(),
                String::new(),
            ],
            Measure::Stat { band, stat, value } => [
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                band.clone(),
                stat.clone(),
                value.map(num).unwrap_or_default(),
            ],
            Measure::NoData => Default::default(),
        };
        row.extend(tail);
        w.write_record(&row)?;
    }
    w.flush()?;
    drop(w);
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    Ok(outcome.records.len())
}
