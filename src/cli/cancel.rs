//! `geepipe cancel`: cancels every live task of a pipeline's journal and marks the chunks never sent
//! cancelled ([`crate::executor::cancel_all`]). When a `geepipe run` (or `wait`) holds the journal, cancel
//! records its request in the journal, interrupts that process (its pid is in the lock file) and takes the
//! journal over once it has stopped, so no request is sent after the cancel; the run then says it was
//! cancelled rather than interrupted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use super::run::{client, exec_error, journal_error, journal_path, with_runtime, ExecArgs};
use super::Global;
use crate::executor;
use crate::exit;
use crate::journal::{Journal, JournalError};
use crate::pipeline::Pipeline;

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Pipeline file.
    pub file: PathBuf,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Journal key a `geepipe cancel` writes (its pid) before it asks the running `geepipe run` to stop.
pub(super) const CANCEL_REQUEST: &str = "cancel_requested_by";

/// Whether `geepipe cancel` asked the run on this journal to stop (the pid of that cancel).
pub(super) fn cancel_requested(journal: &Path) -> Option<String> {
    let j = Journal::open_read(journal).ok()?;
    j.meta(CANCEL_REQUEST).ok().flatten().filter(|v| !v.is_empty())
}

/// `geepipe cancel` while a `geepipe run` (or `wait`) holds the journal: records the request in the
/// journal, sends that process an interrupt (its pid is in the lock file) and waits for the lock, so the
/// user need not find the other terminal. The run stops at once, even inside a hanging request.
fn take_over(jpath: &Path, p: &Pipeline, pid: Option<u32>, quiet: bool) -> Result<Journal, i32> {
    const WAIT: Duration = Duration::from_secs(60);
    let Some(pid) = pid else {
        eprintln!("error: the journal {} is in use by another geepipe run of unknown pid", jpath.display());
        return Err(exit::ENVIRONMENT);
    };
    if let Ok(j) = Journal::open_read(jpath) {
        let _ = j.set_meta(CANCEL_REQUEST, &std::process::id().to_string());
    }
    if !quiet {
        eprintln!("a running geepipe (pid {pid}) holds the journal: asking it to stop, then cancelling…");
    }
    #[cfg(unix)]
    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
    let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) } == 0;
    #[cfg(not(unix))]
    let sent = false;
    let start = Instant::now();
    loop {
        match Journal::open(jpath, &p.name, &p.content_hash) {
            Ok(j) => return Ok(j),
            Err(JournalError::Locked { .. }) if sent && start.elapsed() < WAIT => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(JournalError::Locked { .. }) => {
                eprintln!(
                    "error: the geepipe run with pid {pid} did not stop{}; stop it (Ctrl-C in its terminal, or \
                     `kill -INT {pid}`), then run `geepipe cancel` again",
                    if sent { format!(" within {} s", WAIT.as_secs()) } else { String::new() }
                );
                return Err(exit::ENVIRONMENT);
            }
            Err(e) => return Err(journal_error(&e, &p.source)),
        }
    }
}

pub fn cancel(g: &Global, a: CancelArgs) -> i32 {
    let p = match g.load_pipeline(&a.file) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let jpath = journal_path(&p, &a.exec);
    if !jpath.exists() {
        return journal_error(&JournalError::Missing(jpath), &a.file);
    }
    let mut journal = match Journal::open(&jpath, &p.name, &p.content_hash) {
        Ok(j) => j,
        Err(JournalError::Locked { pid, .. }) => match take_over(&jpath, &p, pid, g.quiet) {
            Ok(j) => j,
            Err(code) => return code,
        },
        Err(e) => return journal_error(&e, &a.file),
    };
    let code = with_runtime(|stop| async move {
        let client = tokio::select! {
            c = client(&p, &a.exec) => match c {
                Ok(c) => c,
                Err(code) => return code,
            },
            _ = stop.wait() => return exit::INTERRUPTED,
        };
        let report = tokio::select! {
            r = executor::cancel_all(&client, &mut journal) => r,
            _ = stop.wait() => {
                eprintln!("interrupted: some tasks may still run; run `geepipe cancel` again");
                return exit::INTERRUPTED;
            }
        };
        match report {
            Ok(r) => {
                if !g.quiet {
                    let mut line = format!(
                        "cancelled {} tasks; {} chunks that were never submitted marked cancelled",
                        r.cancelled, r.unsent
                    );
                    if r.finished > 0 {
                        line.push_str(&format!(
                            "; {} tasks had already finished (kept as succeeded or failed, not run again)",
                            r.finished
                        ));
                    }
                    eprintln!("{line}");
                }
                for e in &r.errors {
                    eprintln!("error: could not cancel {e}");
                }
                let _ = journal.set_meta(CANCEL_REQUEST, "");
                if r.errors.is_empty() {
                    exit::OK
                } else {
                    exit::ENVIRONMENT
                }
            }
            Err(e) => exec_error(&e),
        }
    });
    code
}
