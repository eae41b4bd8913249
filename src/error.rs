//! The one runtime error type of the commands: what stopped a command and the exit code that says so
//! (see [`crate::exit`]). Each library layer keeps its own typed error (journal, executor, planning,
//! fetch, local engine); [`Error`] wraps them (or says in words what the environment refused) so the
//! command line prints every error the same way — `error: …` on stderr, located diagnostics rendered
//! with their places — and maps it to its exit code in one place ([`Error::exit_code`]).

use crate::diag::Diagnostic;
use crate::executor::ExecError;
use crate::exit;
use crate::journal::JournalError;
use crate::plan::PlanError;

/// Why a command stopped (every variant has its exit code).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input has located problems (pipeline, site file, planner checks): shown as diagnostics.
    #[error("{} error(s) in the input", .0.iter().filter(|d| d.is_error()).count())]
    Diagnostics(Vec<Diagnostic>),
    /// The environment refused, said by located diagnostics (a raster that cannot be read, a table that
    /// cannot be written), and what became of the output.
    #[error("{}; {outcome}", diags.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; "))]
    Refused { diags: Vec<Diagnostic>, outcome: &'static str },
    /// The input is wrong in a way with no place in a file (an option's value, a URL).
    #[error("{0}")]
    Input(String),
    /// Planning refused (a chunk that cannot be built).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The run journal is locked, missing, made by another pipeline or unreadable.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The executor could not go on (journal or Earth Engine).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The environment refused: no credentials or project, a service unreachable, a file not writable.
    #[error("{0}")]
    Environment(String),
    /// The work is not all done (chunks missing or failed); what exists is kept, rerun to finish.
    #[error("{0}")]
    Incomplete(String),
    /// Ctrl-C or a timeout stopped the command; the message says what was kept.
    #[error("{0}")]
    Interrupted(String),
    /// A bug in geepipe (or a machine too broken to start a runtime).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Diagnostics(_) | Error::Input(_) => exit::INVALID_INPUT,
            Error::Plan(e) => e.exit_code(),
            Error::Journal(_) | Error::Exec(_) | Error::Environment(_) | Error::Refused { .. } => exit::ENVIRONMENT,
            Error::Incomplete(_) => exit::SOME_FAILED,
            Error::Interrupted(_) => exit::INTERRUPTED,
            Error::Internal(_) => exit::INTERNAL,
        }
    }

    /// The error as the command line shows it: diagnostics rendered with their places and help, anything
    /// else as `error: <message>` (an interruption says what happened without the `error:` prefix).
    pub fn render(&self, options: crate::diag::RenderOptions) -> String {
        match self {
            Error::Diagnostics(d) | Error::Plan(PlanError::Diagnostics(d)) => crate::diag::render_all(d, options),
            Error::Refused { diags, outcome } => format!("{}{outcome}\n", crate::diag::render_all(diags, options)),
            Error::Interrupted(m) => format!("{m}\n"),
            e => format!("error: {e}\n"),
        }
    }
}

/// The result of a command: its exit code when it ran to an answer (which may still be "some chunks
/// failed"), or the error that stopped it.
pub type Result<T = i32> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_error_has_its_exit_code() {
        let d = Diagnostic::error(crate::diag::Code::LocalRead, "x");
        assert_eq!(Error::Diagnostics(vec![d]).exit_code(), exit::INVALID_INPUT);
        assert_eq!(Error::Input("x".into()).exit_code(), exit::INVALID_INPUT);
        let refused =
            Error::Refused { diags: vec![Diagnostic::error(crate::diag::Code::LocalRead, "x")], outcome: "o" };
        assert_eq!(refused.exit_code(), exit::ENVIRONMENT);
        assert_eq!(Error::Environment("x".into()).exit_code(), exit::ENVIRONMENT);
        assert_eq!(Error::Journal(JournalError::Missing("j".into())).exit_code(), exit::ENVIRONMENT);
        assert_eq!(Error::Exec(ExecError::NoPlan("j".into())).exit_code(), exit::ENVIRONMENT);
        assert_eq!(Error::Incomplete("x".into()).exit_code(), exit::SOME_FAILED);
        assert_eq!(Error::Interrupted("x".into()).exit_code(), exit::INTERRUPTED);
        assert_eq!(Error::Internal("x".into()).exit_code(), exit::INTERNAL);
        assert_eq!(Error::Plan(PlanError::UnknownSite("s".into())).exit_code(), exit::INVALID_INPUT);
    }

    #[test]
    fn rendering_prefixes_errors_and_renders_diagnostics_with_their_place() {
        let e = Error::Environment("no project".into());
        assert_eq!(e.render(Default::default()), "error: no project\n");
        let i = Error::Interrupted("interrupted: nothing was written".into());
        assert_eq!(i.render(Default::default()), "interrupted: nothing was written\n");
        let d = Diagnostic::error(crate::diag::Code::LocalRead, "cannot read r.tif");
        let shown = Error::Diagnostics(vec![d.clone()]).render(Default::default());
        assert_eq!(shown, crate::diag::render_all(&[d], Default::default()));
        assert!(shown.contains("cannot read r.tif"), "{shown}");
    }
}
