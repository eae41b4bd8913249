//! The command line: argument definitions and dispatch. Each command lives in its own file and returns
//! an exit code (see [`crate::exit`]) or the [`crate::error::Error`] that stopped it, shown here in one
//! way ([`Global::fail`]).

pub mod cancel;
pub mod catalog;
pub mod connect;
pub mod fetch_store;
pub mod incremental;
pub mod local;
pub mod plan;
pub mod plan_cells;
pub mod plan_out;
pub mod probe;
pub mod report;
pub mod results;
pub mod run;
pub mod run_store;
pub mod status;
pub mod validate;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::diag::{Diagnostic, RenderOptions};
use crate::error::{self, Error};
use crate::exit;
use crate::pipeline::raw::{EngineName, ModeName};
use crate::pipeline::{Overrides, Pipeline};

/// geepipe: zonal statistics for thousands of polygons from Google Earth Engine, from one pipeline file.
#[derive(Debug, Parser)]
#[command(name = "geepipe", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command watches tasks for as long as they take (`run`, `wait`): minutes to hours.
    pub fn watches_tasks(&self) -> bool {
        matches!(self.command, Command::Run(_) | Command::Wait(_))
    }
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// More output (repeat for more detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors: no warnings, notes, progress or end-of-run summaries (the exit code still says how it
    /// went); a command's answer on stdout (a plan, the status table, JSON, the catalog) is still printed.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colour: auto (terminal and no NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Earth Engine Cloud project (overrides the pipeline file and GOOGLE_CLOUD_PROJECT).
    #[arg(long, global = true)]
    pub project: Option<String>,
    /// Engine to run with, overriding the pipeline's `engine`.
    #[arg(long, global = true, value_enum)]
    pub engine: Option<EngineArg>,
    /// How Earth Engine computes the results, overriding the pipeline's `mode`: `interactive` requests,
    /// `batch` export tasks, or `auto` (interactive when the estimated work is small enough).
    #[arg(long, global = true, value_enum)]
    pub mode: Option<ModeArg>,
}

/// How a command shows the warnings of a valid pipeline: each in full (`validate`, `plan`) or one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warnings {
    Every,
    Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    Auto,
    Interactive,
    Batch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    Earthengine,
    Local,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check pipeline files and their site files; report every problem with its place.
    Validate(validate::ValidateArgs),
    /// Print the pipeline JSON Schema (draft 2020-12).
    Schema(validate::SchemaArgs),
    /// List the built-in dataset layers, or explain one.
    Catalog(catalog::CatalogArgs),
    /// Show the Earth Engine requests a pipeline would send, without sending anything.
    Plan(plan::PlanArgs),
    /// Compute the first chunk (a couple of sites, one year per layer) synchronously and check its columns.
    Probe(probe::ProbeArgs),
    /// Plan, probe, submit, watch and fetch: run a pipeline to its merged table.
    Run(RunArgs),
    /// Show every chunk's state from the journal.
    Status(status::StatusArgs),
    /// Wait until the pipeline's submitted tasks finish.
    Wait(run::WaitArgs),
    /// Cancel the pipeline's running tasks.
    Cancel(cancel::CancelArgs),
    /// Download finished exports and merge them into one tidy table.
    Fetch(results::FetchArgs),
    /// Write one self-contained HTML page about a pipeline's table: charts, map, each site, the run.
    Report(report::ReportArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

/// `geepipe run`: the engine chosen here, so neither engine's command knows the other.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline file.
    pub file: PathBuf,
    /// Submit the tasks and exit without waiting.
    #[arg(long)]
    pub detach: bool,
    /// Do not download and merge results at the end.
    #[arg(long)]
    pub no_fetch: bool,
    /// Move the existing journal aside and start anew (needed after the pipeline changed).
    #[arg(long)]
    pub restart: bool,
    /// Submit without probing first (see `geepipe probe`).
    #[arg(long)]
    pub no_probe: bool,
    /// Compute everything again, ignoring the results store for this run (what it computes replaces what
    /// the store holds).
    #[arg(long)]
    pub fresh: bool,
    #[command(flatten)]
    pub exec: connect::ExecArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Global {
    /// Whether to colour output: `--color`, then `NO_COLOR`, then whether stderr is a terminal.
    pub fn color(&self) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
            }
        }
    }

    pub fn render_options(&self) -> RenderOptions {
        RenderOptions { color: self.color(), width: 100 }
    }

    pub fn overrides(&self) -> Overrides {
        Overrides {
            project: self.project.clone(),
            env_project: std::env::var("GOOGLE_CLOUD_PROJECT").ok().filter(|s| !s.is_empty()),
            engine: self.engine.map(|e| match e {
                EngineArg::Earthengine => EngineName::Earthengine,
                EngineArg::Local => EngineName::Local,
            }),
            mode: self.mode.map(|m| match m {
                ModeArg::Auto => ModeName::Auto,
                ModeArg::Interactive => ModeName::Interactive,
                ModeArg::Batch => ModeName::Batch,
            }),
        }
    }

    /// Prints diagnostics to stderr (warnings suppressed by `-q`).
    pub fn report(&self, diags: &[Diagnostic]) {
        let shown: Vec<Diagnostic> = diags.iter().filter(|d| d.is_error() || !self.quiet).cloned().collect();
        if !shown.is_empty() {
            eprint!("{}", crate::diag::render_all(&shown, self.render_options()));
        }
    }

    /// Loads and compiles a pipeline without validating its site file. Its warnings are returned, for
    /// commands that read the site file once themselves and report both together; errors come back with
    /// the site file's problems too (when its `sites` section could be read), as [`Global::load_pipeline`].
    pub fn load_pipeline_file(&self, path: &std::path::Path) -> error::Result<(Pipeline, Vec<Diagnostic>)> {
        match crate::pipeline::load_with_sites(path, &self.overrides()) {
            (Ok(loaded), _) => Ok(loaded),
            (Err(mut diags), sites) => {
                if let Some(sites) = sites {
                    diags.extend(crate::sites::validate(&sites));
                }
                Err(Error::Diagnostics(diags))
            }
        }
    }

    /// Validates a pipeline's site file; shows `earlier` warnings with its own as one line (see
    /// [`Global::summarize`]), or returns them all as [`Error::Diagnostics`] when any is an error.
    pub fn check_sites(&self, pipeline: &Pipeline, earlier: Vec<Diagnostic>) -> error::Result<()> {
        let mut diags = earlier;
        diags.extend(crate::sites::validate(&pipeline.sites));
        if diags.iter().any(|d| d.is_error()) {
            return Err(Error::Diagnostics(diags));
        }
        self.summarize(&diags, &pipeline.source);
        Ok(())
    }

    /// Loads and compiles a pipeline and validates its site file; shows its warnings as one line (see
    /// [`Global::summarize`]). Errors come back as [`Error::Diagnostics`] (with the warnings, in file order,
    /// and the site file's problems even when the pipeline file has errors) for [`Global::fail`] to show.
    pub fn load_pipeline(&self, path: &std::path::Path) -> error::Result<Pipeline> {
        self.load_pipeline_showing(path, Warnings::Summary)
    }

    /// [`Global::load_pipeline`], showing the warnings as `show` says.
    pub fn load_pipeline_showing(&self, path: &std::path::Path, show: Warnings) -> error::Result<Pipeline> {
        let (result, sites) = crate::pipeline::load_with_sites(path, &self.overrides());
        match result {
            Ok((pipeline, warnings)) => {
                let mut diags = warnings;
                diags.extend(crate::sites::validate(&pipeline.sites));
                if diags.iter().any(|d| d.is_error()) {
                    return Err(Error::Diagnostics(diags));
                }
                match show {
                    Warnings::Every => self.report(&diags),
                    Warnings::Summary => self.summarize(&diags, path),
                }
                Ok(pipeline)
            }
            Err(mut diags) => {
                // Every problem at once: the site file's too, when the `sites` section could be read.
                if let Some(sites) = sites {
                    diags.extend(crate::sites::validate(&sites));
                }
                Err(Error::Diagnostics(diags))
            }
        }
    }

    /// One line for the warnings of a valid pipeline and its site file, per file with their codes (nothing
    /// with `-q`): commands that run or read a pipeline do not repeat what `geepipe validate` shows in full.
    pub fn summarize(&self, diags: &[Diagnostic], path: &std::path::Path) {
        let warnings: Vec<&Diagnostic> = diags.iter().filter(|d| !d.is_error()).collect();
        if self.quiet || warnings.is_empty() {
            return;
        }
        let pipeline_file = path.display().to_string();
        // Per file, in order of appearance: how many warnings and which codes.
        let mut files: Vec<(String, usize, Vec<&'static str>)> = Vec::new();
        for d in &warnings {
            let file = d
                .location
                .as_ref()
                .map(|l| l.file.clone())
                .or_else(|| d.source.as_ref().map(|s| s.name.clone()))
                .unwrap_or_else(|| pipeline_file.clone());
            let at = match files.iter().position(|f| f.0 == file) {
                Some(i) => i,
                None => {
                    files.push((file, 0, Vec::new()));
                    files.len() - 1
                }
            };
            files[at].1 += d.count;
            if !files[at].2.contains(&d.code.as_str()) {
                files[at].2.push(d.code.as_str());
            }
        }
        let parts: Vec<String> = files
            .iter()
            .map(|(file, n, codes)| {
                let shown: Vec<&str> = codes.iter().take(3).copied().collect();
                let more = if codes.len() > 3 { ", …" } else { "" };
                format!("{n} in {file} ({}{more})", shown.join(", "))
            })
            .collect();
        let total: usize = warnings.iter().map(|d| d.count).sum();
        // The flags that change what the pipeline resolves to, so `validate` shows the same warnings.
        let mut flags = String::new();
        if let Some(e) = self.engine {
            flags.push_str(if e == EngineArg::Local { " --engine local" } else { " --engine earthengine" });
        }
        if let Some(m) = self.mode {
            flags.push_str(&format!(" --mode {}", format!("{m:?}").to_lowercase()));
        }
        eprintln!(
            "warning: {total} warning{} — {}; `geepipe validate{flags} {pipeline_file}` shows each with its place",
            if total == 1 { "" } else { "s" },
            parts.join(", ")
        );
    }

    /// Shows the error that stopped a command (diagnostics with their places; warnings among them
    /// hidden by `-q`) and returns its exit code.
    pub fn fail(&self, e: &Error) -> i32 {
        match e {
            Error::Diagnostics(d) | Error::Plan(crate::plan::PlanError::Diagnostics(d)) => self.report(d),
            Error::Refused { diags, outcome } => {
                self.report(diags);
                eprintln!("{outcome}");
            }
            e => eprint!("{}", e.render(self.render_options())),
        }
        e.exit_code()
    }

    /// The exit code of a command's result, showing its error if it failed.
    pub fn finish(&self, r: error::Result) -> i32 {
        r.unwrap_or_else(|e| self.fail(&e))
    }
}

/// Runs the parsed command line; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    init_tracing(&cli.global);
    let g = &cli.global;
    match cli.command {
        Command::Validate(a) => validate::validate(g, a),
        Command::Schema(a) => validate::schema(g, a),
        Command::Catalog(a) => catalog::run(g, a),
        Command::Plan(a) => g.finish(plan_command(g, a)),
        Command::Probe(a) => g.finish(probe::probe(g, a)),
        Command::Run(a) => g.finish(run_command(g, a)),
        Command::Status(a) => g.finish(status::status(g, a)),
        Command::Wait(a) => g.finish(run::wait(g, a)),
        Command::Cancel(a) => g.finish(cancel::cancel(g, a)),
        Command::Fetch(a) => g.finish(fetch_command(g, a)),
        Command::Report(a) => g.finish(report::run(g, a)),
        Command::Completions(a) => {
            clap_complete::generate(a.shell, &mut Cli::command(), "geepipe", &mut std::io::stdout());
            exit::OK
        }
    }
}

/// Loads the pipeline and runs it with its engine: on this machine (`engine: local`, no journal, no Earth
/// Engine), or on Earth Engine.
fn run_command(g: &Global, a: RunArgs) -> error::Result {
    let (p, warnings) = g.load_pipeline_file(&a.file)?;
    let journal = run::journal_path(&p, &a.exec);
    if incremental::applies(&p) && (a.restart || a.fresh || incremental::applies_to(&p, &journal)) {
        // Zonal pipelines over a site file: only what the results store lacks, the site file read once.
        return run_store::run(g, p, warnings, a);
    }
    g.check_sites(&p, warnings)?;
    match p.engine {
        crate::pipeline::model::Engine::Local => local::run(g, &p, &a),
        crate::pipeline::model::Engine::EarthEngine => run::run(g, p, a),
    }
}

/// Loads the pipeline (its site file is read once, by the planner, which reports its problems like
/// `validate` does) and plans it: only what the results store lacks for the pipelines run through it.
fn plan_command(g: &Global, a: plan::PlanArgs) -> error::Result {
    let (p, warnings) = g.load_pipeline_file(&a.file)?;
    if incremental::applies(&p) {
        return plan_cells::run(g, &a, &p, warnings);
    }
    plan::run(g, a, p, warnings)
}

/// `geepipe fetch`: a local pipeline's table was written by its run (nothing to download).
fn fetch_command(g: &Global, a: results::FetchArgs) -> error::Result {
    let p = g.load_pipeline(&a.file)?;
    match p.engine {
        crate::pipeline::model::Engine::Local => local::fetch(g, &p, &a.file),
        crate::pipeline::model::Engine::EarthEngine => fetch_store::fetch_pipeline(g, a, p),
    }
}

fn init_tracing(g: &Global) {
    let level = if g.quiet {
        "error"
    } else {
        match g.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GEEPIPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("geepipe={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(g.color())
        .without_time()
        .try_init();
}

/// A pipeline file argument.
pub type PipelinePath = PathBuf;
