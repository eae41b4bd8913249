//! `geepipe cancel`: cancel every live task of a journal, and record what each task really became.
//!
//! Tasks finish while a cancel is on its way. Earth Engine refuses to cancel a finished operation (an
//! error, not a 404), and a task can succeed between the listing and the cancel call. So a chunk is
//! never marked cancelled on faith: a task the listing shows finished keeps its real end state
//! (SUCCEEDED results exist and must not be exported, and billed, a second time); a refused cancel is
//! followed by `operations.get` to learn that state; after the cancels one more listing settles the
//! tasks that finished just before their cancel arrived. One chunk's failure never stops the others:
//! every problem is collected and reported together.

use std::collections::HashMap;

use crate::ee::{self, Client, Operation, State};
use crate::journal::{self, ChunkRow, ChunkState, Journal};

use super::ExecError;

/// What a cancel did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CancelReport {
    /// Tasks cancelled.
    pub cancelled: usize,
    /// Chunks never submitted (or whose task was never created), marked cancelled.
    pub unsent: usize,
    /// Tasks that had already finished (succeeded or failed): recorded as such, not cancelled.
    pub finished: usize,
    /// Chunks whose task could not be cancelled nor its state learnt: `chunk: error`.
    pub errors: Vec<String>,
}

/// Cancels every live task of a journal; chunks never submitted are marked cancelled.
pub async fn cancel_all(client: &Client, journal: &mut Journal) -> Result<CancelReport, ExecError> {
    // Without site ids, bodies and cells: a cancel reads and writes only states, operations and errors.
    let mut rows = journal.chunks_slim()?;
    let ops = client.list_operations().await.map_err(ExecError::Ee)?;
    let by_name: HashMap<&str, &Operation> = ops.iter().map(|o| (o.name.as_str(), o)).collect();
    let mut report = CancelReport::default();
    let mut asked: Vec<usize> = Vec::new();
    for (i, r) in rows.iter_mut().enumerate() {
        if r.state.is_final() {
            continue;
        }
        // A `submitting` chunk may have a task whose name we never learnt: find it by description.
        let name = r.operation.clone().or_else(|| {
            (r.state == ChunkState::Submitting)
                .then(|| {
                    ops.iter()
                        .find(|o| o.description() == Some(r.description.as_str()) && o.state().is_active())
                        .map(|o| o.name.clone())
                })
                .flatten()
        });
        let Some(name) = name else {
            report.unsent += 1;
            mark_cancelled(journal, r)?;
            continue;
        };
        r.operation = Some(name.clone());
        if let Some(op) = by_name.get(name.as_str()).filter(|o| o.state().is_terminal()) {
            settle(journal, r, op, &mut report)?;
            continue;
        }
        match client.cancel_operation(&name).await {
            Ok(()) => asked.push(i),
            // Refused: most likely the task finished since the listing. Ask what it became.
            Err(e) => match client.get_operation(&name).await {
                Ok(op) if op.state().is_terminal() => settle(journal, r, &op, &mut report)?,
                Ok(op) => report.errors.push(format!("{}: {e} (the task is {:?})", r.chunk_id, op.state())),
                Err(g) if g.problem.http_status == Some(404) => {
                    report.cancelled += 1;
                    mark_cancelled(journal, r)?;
                }
                Err(_) => report.errors.push(format!("{}: {e}", r.chunk_id)),
            },
        }
    }
    if asked.is_empty() {
        return Ok(report);
    }
    // What the cancelled tasks became: one that finished just before its cancel keeps its end state.
    let after = client.list_operations().await.unwrap_or_default();
    let after: HashMap<&str, &Operation> = after.iter().map(|o| (o.name.as_str(), o)).collect();
    for i in asked {
        let r = &mut rows[i];
        let op = r.operation.as_deref().and_then(|n| after.get(n));
        match op.filter(|o| matches!(o.state(), State::Succeeded | State::Failed)) {
            Some(op) => settle(journal, r, op, &mut report)?,
            None => {
                report.cancelled += 1;
                mark_cancelled(journal, r)?;
            }
        }
    }
    Ok(report)
}

/// Records a chunk as cancelled by `geepipe cancel`.
fn mark_cancelled(journal: &mut Journal, r: &mut ChunkRow) -> Result<(), ExecError> {
    r.state = ChunkState::Cancelled;
    r.error = Some("cancelled by `geepipe cancel`".into());
    r.error_class = Some("cancelled".into());
    r.ended_at = Some(journal::now());
    journal.put(&[&*r])?;
    journal.log_event(Some(&r.chunk_id), "cancelled", &serde_json::json!({"operation": r.operation}))?;
    Ok(())
}

/// Records the end state a finished task really has (succeeded, failed or cancelled by someone else).
fn settle(journal: &mut Journal, r: &mut ChunkRow, op: &Operation, report: &mut CancelReport) -> Result<(), ExecError> {
    let meta = op.metadata.clone().unwrap_or_default();
    r.ended_at = meta.end_time.as_deref().and_then(ee::parse_time).or(Some(journal::now()));
    if let Some(t) = meta.start_time.as_deref().and_then(ee::parse_time) {
        r.started_at = Some(t);
    }
    if let Some(e) = meta.batch_eecu_usage_seconds {
        r.eecu_seconds = Some(e);
    }
    match op.state() {
        State::Succeeded => {
            report.finished += 1;
            r.state = ChunkState::Succeeded;
            r.error = None;
            r.error_class = None;
        }
        State::Failed => {
            report.finished += 1;
            let problem = op.problem().unwrap_or_else(|| ee::Problem::task(2, "task failed without an error message"));
            r.state = ChunkState::Failed;
            r.error_class = Some(super::class_name(ee::classify(&problem)).into());
            r.error = Some(problem.message);
        }
        _ => {
            report.cancelled += 1;
            return mark_cancelled(journal, r);
        }
    }
    journal.put(&[&*r])?;
    journal.log_event(Some(&r.chunk_id), r.state.as_str(), &serde_json::json!({"operation": r.operation}))?;
    Ok(())
}
