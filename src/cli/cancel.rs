//! `geepipe cancel`: cancels every live task of a pipeline's journal and marks the chunks never sent
//! cancelled ([`crate::executor::cancel_all`]). When a `geepipe run` (or `wait`) holds the journal, cancel
//! records its request in the journal, interrupts that process (its pid is in the lock file) and takes the
//! journal over once it has stopped, so no request is sent after the cancel; the run then says it was
//! cancelled rather than interrupted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use super::connect::{client, ExecArgs};
use super::run::{journal_error, journal_path, with_runtime, CANCEL_REQUEST};
use super::Global;
use crate::error::{self, Error};
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

/// `geepipe cancel` while a `geepipe run` (or `wait`) holds the journal: records the request in the
/// journal, sends that process an interrupt (its pid is in the lock file) and waits for the lock, so the
/// user need not find the other terminal. The run stops at once, even inside a hanging request.
fn take_over(jpath: &Path, p: &Pipeline, pid: Option<u32>, quiet: bool) -> error::Result<Journal> {
    const WAIT: Duration = Duration::from_secs(60);
    let Some(pid) = pid else {
        return Err(Error::Environment(format!(
            "the journal {} is in use by another geepipe run of unknown pid",
            jpath.display()
        )));
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
                return Err(Error::Environment(format!(
                    "the geepipe run with pid {pid} did not stop{}; stop it (Ctrl-C in its terminal, or \
                     `kill -INT {pid}`), then run `geepipe cancel` again",
                    if sent { format!(" within {} s", WAIT.as_secs()) } else { String::new() }
                )));
            }
            Err(e) => return Err(journal_error(e, &p.source)),
        }
    }
}

pub fn cancel(g: &Global, a: CancelArgs) -> error::Result {
    let p = g.load_pipeline(&a.file)?;
    let jpath = journal_path(&p, &a.exec);
    if !jpath.exists() {
        return Err(journal_error(JournalError::Missing(jpath), &a.file));
    }
    let mut journal = match Journal::open(&jpath, &p.name, &p.content_hash) {
        Ok(j) => j,
        Err(JournalError::Locked { pid, .. }) => take_over(&jpath, &p, pid, g.quiet)?,
        Err(e) => return Err(journal_error(e, &a.file)),
    };
    with_runtime(|stop| async move {
        let client = tokio::select! {
            c = client(&p, &a.exec) => c?,
            _ = stop.wait() => return Err(Error::Interrupted("interrupted before anything was sent".into())),
        };
        let report = tokio::select! {
            r = executor::cancel_all(&client, &mut journal) => r,
            _ = stop.wait() => {
                return Err(Error::Interrupted(
                    "interrupted: some tasks may still run; run `geepipe cancel` again".into(),
                ));
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
                let _ = journal.set_meta(CANCEL_REQUEST, "");
                if r.errors.is_empty() {
                    Ok(exit::OK)
                } else {
                    let each: Vec<String> = r.errors.iter().map(|e| format!("could not cancel {e}")).collect();
                    Err(Error::Environment(each.join("\nerror: ")))
                }
            }
            Err(e) => Err(e.into()),
        }
    })
}
