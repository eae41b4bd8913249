//! The interactive phase of a run: every chunk whose mode is `interactive` is computed with
//! `table:computeFeatures` on the high-volume endpoint, up to `max_in_flight` requests at once (the client's
//! token bucket keeps them under the rate), each result stored durably as it arrives.
//!
//! A chunk's request is made from its export body: the journal's, or rebuilt from the site file for a chunk
//! planned through the results store (whose answers are stored as cells by the fetch that follows).
//!
//! Per chunk: `planned` → `running` (journal written before the request: `status` shows it) → the response's
//! pages → the result file ([`Store::write`], durable) → its cells in the results store, for a run through it
//! ([`crate::store::live`]) → `succeeded` with the file's path, size and SHA-256. An answer that lacks cells
//! (a site without a row, a cell that cannot be read) has the rest stored; what it lacks is said in an
//! [`Event::Incomplete`] and its chunk is listed in the journal ([`INCOMPLETE`]), so the next run plans
//! those cells again rather than finding every chunk succeeded.
//! Failures go through the same [`crate::ee::classify`] and [`Executor::failed`] as export tasks: transient
//! (429, 5xx, after the client's own backoff) → the chunk again; too big ("Computation timed out.", memory, a
//! request the client stopped waiting for) → split in halves, which stay interactive, down to one site;
//! fatal for the run → stop sending. When the run may fall back ([`Interactive::fallback_after`]: `auto` with
//! an export destination), a single site interactive cannot compute goes to batch at once, and after that many
//! size failures every chunk not yet computed goes to batch (said in a [`Event::MovedToBatch`]); the batch
//! phase that follows runs them as export tasks.
//!
//! Stopping: Ctrl-C (or `geepipe cancel`, which interrupts the run and then marks what is left cancelled)
//! sends nothing more and drops the requests in flight: their chunks go back to `planned`, nothing stored is
//! lost.
//!
//! Resuming: a chunk left `running` by a killed run is planned again; a result file written by a killed run
//! whose journal entry was not yet updated is adopted without a request ([`Store::adopt`]) and its cells
//! stored (unless they are already); a succeeded chunk whose file is gone or changed is computed again, unless
//! the results store holds its cells.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

use super::{Event, ExecError, Executor, Outcome, Stop};
use crate::ee::{Class, Client, ComputeRequest, ComputedFeatures, EeError, Scope};
use crate::journal::{self, ChunkState, Detail};
use crate::plan::RunMode;
use crate::results::eecsv::ExportTable;
use crate::results::store::{Meta, Store};
use crate::store::live::{self, Answers};

/// The journal's note of the chunks whose answers lacked cells (ids separated by spaces): the next run
/// through the results store plans the missing cells again (`cli::run_store`).
pub const INCOMPLETE: &str = "incomplete_answers";

/// How the interactive phase runs.
#[derive(Clone)]
pub struct Interactive {
    /// The high-volume client (rate-limited).
    pub client: Client,
    pub store: Store,
    pub max_in_flight: usize,
    pub page_size: u32,
    pub workload_tag: Option<String>,
    /// `Some(n)`: chunks may move to batch (a single site at once, every remaining chunk after `n` size
    /// failures); `None`: never (explicit `mode: interactive`, or no export destination).
    pub fallback_after: Option<u32>,
    /// The results store answers' cells go to as they arrive (a run through the store); `None`: the fetch
    /// reads the answer files.
    pub cells: Option<Arc<Answers>>,
}

/// The answer of one chunk's request.
struct Answer {
    row: usize,
    result: Result<ComputedFeatures, EeError>,
    requests: u32,
    elapsed: Duration,
}

impl Executor {
    /// Whether the run has interactive work to do.
    fn interactive_work(&self) -> bool {
        self.chunks.iter().any(|c| c.mode == RunMode::Interactive && !c.state.is_final())
    }

    /// Chunk `i`'s site ids and cells, read once for an answer (its result file's record and its cells).
    fn detail(&self, i: usize) -> Result<Option<Detail>, ExecError> {
        Ok(self.journal.detail(&self.chunks[i].chunk_id)?)
    }

    /// Stores the cells of chunk `i`'s answer (its rows `table`, `None` when unreadable; its file `file`) in
    /// the results store ([`crate::store::live`]). The cells written (0: stored already), or `None` when the
    /// run has no store or left the answer to the fetch.
    fn store_cells(
        &mut self,
        i: usize,
        cfg: &Interactive,
        detail: Option<&Detail>,
        table: Option<&ExportTable>,
        file: &str,
        at: f64,
    ) -> Result<Option<u64>, ExecError> {
        let Some(answers) = &cfg.cells else { return Ok(None) };
        let chunk_id = &self.chunks[i].chunk_id;
        let Some(detail) = detail else { return Ok(None) };
        // A chunk planned without its cells (by an older geepipe) is stored by the fetch, which says so.
        let Some(cells) = &detail.cells else { return Ok(None) };
        let answer =
            live::Answer { chunk_id, request_id: &detail.base_request_id, site_ids: &detail.site_ids, cells, file, at };
        let outcome = answers.put(&answer, table).map_err(|e| {
            ExecError::Store(format!("cannot store the cells of chunk {chunk_id} in the results store: {e}"))
        })?;
        Ok(match outcome {
            live::Outcome::Stored(n) => Some(n),
            live::Outcome::Partial { written, missing, notes } => {
                let chunk = chunk_id.to_string();
                for n in &notes {
                    tracing::warn!(chunk = %chunk, "{n}");
                }
                if !missing.is_empty() {
                    let mut listed = self.journal.meta(INCOMPLETE)?.unwrap_or_default();
                    if !listed.split(' ').any(|c| c == chunk) {
                        listed = if listed.is_empty() { chunk.clone() } else { format!("{listed} {chunk}") };
                        self.journal.set_meta(INCOMPLETE, &listed)?;
                    }
                    self.emit(Event::Incomplete { chunk, missing });
                }
                Some(written)
            }
            live::Outcome::Already => Some(0),
            live::Outcome::Left => None,
        })
    }

    /// Checks stored results and chunks left in flight by an earlier run (see the module doc).
    fn resume_interactive(&mut self, cfg: &Interactive) -> Result<(), ExecError> {
        let store = &cfg.store;
        for i in 0..self.chunks.len() {
            let c = &self.chunks[i];
            if c.mode != RunMode::Interactive || c.state == ChunkState::Split {
                continue;
            }
            if c.state == ChunkState::Succeeded {
                let mut r = self.load(i)?;
                let Some(rel) = r.result.clone() else { continue };
                if let Err(problem) = store.read(&rel, r.result_sha256.as_deref()) {
                    // Its cells are in the results store: nothing is lost without the file.
                    if let Some(answers) = &cfg.cells {
                        if answers.has(&r.base_request_id).unwrap_or(false) {
                            continue;
                        }
                    }
                    r.state = ChunkState::Planned;
                    r.result = None;
                    r.result_bytes = None;
                    r.result_sha256 = None;
                    let (chunk, attempt) = (r.chunk_id.clone(), r.attempt + 1);
                    self.store(i, &r)?;
                    self.emit(Event::Retried { chunk, attempt, error: format!("{problem}: computing it again") });
                }
                continue;
            }
            if c.state.is_final() {
                continue;
            }
            // A result file of this chunk, written by a run killed before its journal said so.
            let written = store.path(&store.relative(&c.chunk_id)).is_file();
            let in_flight = c.state != ChunkState::Planned;
            let adopted = if written {
                let detail = self.detail(i)?;
                let sites = detail.as_ref().map(|d| d.site_ids.as_slice()).unwrap_or_default();
                let r = self.load(i)?;
                store.adopt(&r.chunk_id, &r.base_request_id, sites).map(|a| (r, a, detail))
            } else {
                None
            };
            if let Some((mut r, (stored, meta), detail)) = adopted {
                r.state = ChunkState::Succeeded;
                r.requests = r.requests.max(meta.requests);
                r.result = Some(stored.relative.clone());
                r.result_bytes = Some(stored.bytes);
                r.result_sha256 = Some(stored.sha256.clone());
                r.error = None;
                r.error_class = None;
                let at = *r.ended_at.get_or_insert_with(journal::now);
                let chunk = r.chunk_id.clone();
                // Its cells, unless the killed run stored them before it was killed.
                let table = store.read(&stored.relative, Some(&stored.sha256)).ok().map(|(t, _)| t);
                let cells = self.store_cells(i, cfg, detail.as_ref(), table.as_ref(), &stored.relative, at)?;
                self.store(i, &r)?;
                self.emit(Event::Stored {
                    chunk,
                    file: stored.relative,
                    rows: 0,
                    requests: meta.requests,
                    pages: meta.pages,
                    seconds: meta.seconds,
                    bytes: stored.bytes,
                    adopted: true,
                    cells,
                });
            } else if in_flight {
                // In flight when the last run stopped: its answer is lost; ask again.
                self.update(i, |r| r.state = ChunkState::Planned)?;
            }
        }
        Ok(())
    }

    /// Runs the interactive chunks. `Some(outcome)`: the run ends here (interrupted); `None`:
    /// go on with the batch chunks, if any.
    pub(super) async fn run_interactive(&mut self, stop: &Stop) -> Result<Option<Outcome>, ExecError> {
        let Some(cfg) = self.interactive.clone() else {
            // No interactive setup (a `wait` on a batch run): interactive chunks stay as they are.
            return Ok(None);
        };
        self.resume_interactive(&cfg)?;
        if !self.interactive_work() {
            return Ok(None);
        }
        self.queue = (0..self.chunks.len())
            .filter(|&i| self.chunks[i].mode == RunMode::Interactive && self.chunks[i].state == ChunkState::Planned)
            .collect();
        let mut inflight = FuturesUnordered::new();
        let mut size_failures = 0u32;
        let mut fell_back = false;
        loop {
            while !fell_back && self.fatal.is_none() && inflight.len() < cfg.max_in_flight.max(1) {
                let Some(i) = self.queue.pop_front() else { break };
                if self.chunks[i].mode != RunMode::Interactive || self.chunks[i].state != ChunkState::Planned {
                    continue;
                }
                if let Some(fut) = self.start_request(i, &cfg)? {
                    inflight.push(fut);
                }
            }
            if inflight.is_empty() {
                break;
            }
            tokio::select! {
                Some(a) = inflight.next() => {
                    if let Some(reason) = self.answered(a, &cfg, &mut size_failures)? {
                        if !fell_back {
                            fell_back = true;
                            self.move_to_batch(reason)?;
                        }
                    }
                }
                _ = stop.wait() => {
                    // Ctrl-C: the requests in flight are dropped; their chunks are asked again next run.
                    drop(inflight);
                    self.interrupted_requests()?;
                    return Ok(Some(self.outcome_with(|o| o.interrupted = true)));
                }
            }
        }
        if fell_back {
            // Halves of chunks split after the move, still marked interactive, go to batch too.
            self.move_to_batch(String::new())?;
        }
        Ok(None)
    }

    /// Marks chunk `i` running and returns its request, or records why it cannot be made.
    fn start_request(
        &mut self,
        i: usize,
        cfg: &Interactive,
    ) -> Result<Option<futures::future::BoxFuture<'static, Answer>>, ExecError> {
        // The journal's body, or rebuilt from the site file for a chunk planned through the results store.
        let made = self.body(i).and_then(|text| {
            let export: serde_json::Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
            crate::plan::interactive::compute_body(&export, cfg.page_size, cfg.workload_tag.as_deref())
                .map_err(|e| e.to_string())
        });
        let body = match made {
            Ok(b) => b,
            Err(e) => {
                self.failed(i, Class::Fatal(Scope::Chunk), format!("cannot make the interactive request: {e}"))?;
                return Ok(None);
            }
        };
        let now = journal::now();
        let (chunk, attempt, sites, from) = self.update(i, |r| {
            let from = r.state;
            r.attempt += 1;
            r.state = ChunkState::Running;
            r.submitted_at = Some(now);
            r.started_at = Some(now);
            r.ended_at = None;
            (r.chunk_id.clone(), r.attempt, r.sites, from)
        })?;
        self.emit(Event::Requested { chunk: chunk.clone(), attempt, sites });
        self.emit(Event::StateChanged { chunk, from, to: ChunkState::Running });
        let client = cfg.client.clone();
        Ok(Some(Box::pin(async move {
            let start = Instant::now();
            let mut requests = 0;
            let result = client.compute_features_paged(&ComputeRequest { body }, &mut requests).await;
            Answer { row: i, result, requests, elapsed: start.elapsed() }
        })))
    }

    /// Records an answer. Returns a reason when the run should move the remaining chunks to batch.
    fn answered(&mut self, a: Answer, cfg: &Interactive, size_failures: &mut u32) -> Result<Option<String>, ExecError> {
        let i = a.row;
        let computed = match a.result {
            Ok(c) => c,
            Err(e) => return self.request_failed(i, e, a.requests, cfg, size_failures),
        };
        let detail = self.detail(i)?;
        let sites = detail.as_ref().map(|d| d.site_ids.clone()).unwrap_or_default();
        let mut r = self.load(i)?;
        r.requests += a.requests;
        let meta = Meta {
            chunk: r.chunk_id.clone(),
            request_id: r.base_request_id.clone(),
            sites,
            pages: computed.pages,
            requests: r.requests,
            seconds: a.elapsed.as_secs_f64(),
            response_bytes: computed.bytes,
            computed_at: crate::results::manifest::now(),
        };
        let stored = cfg.store.write(&meta, &computed.features).map_err(|e| {
            ExecError::Store(format!(
                "cannot store the result of chunk {} in {}: {e}",
                meta.chunk,
                cfg.store.dir().display()
            ))
        })?;
        // The cells before the journal says succeeded (see `crate::store::live`).
        let at = journal::now();
        let table = crate::results::features::table(&computed.features).ok();
        let cells = self.store_cells(i, cfg, detail.as_ref(), table.as_ref(), &stored.relative, at)?;
        r.state = ChunkState::Succeeded;
        r.ended_at = Some(at);
        r.error = None;
        r.error_class = None;
        r.result = Some(stored.relative.clone());
        r.result_bytes = Some(stored.bytes);
        r.result_sha256 = Some(stored.sha256.clone());
        let (chunk, runtime_s) = (r.chunk_id.clone(), r.runtime());
        self.store(i, &r)?;
        self.emit(Event::StateChanged { chunk: chunk.clone(), from: ChunkState::Running, to: ChunkState::Succeeded });
        self.emit(Event::Stored {
            chunk: chunk.clone(),
            file: stored.relative,
            rows: computed.features.len(),
            requests: meta.requests,
            pages: meta.pages,
            seconds: meta.seconds,
            bytes: stored.bytes,
            adopted: false,
            cells,
        });
        self.emit(Event::Succeeded { chunk, runtime_s, eecu_s: None });
        Ok(None)
    }

    /// Records a failed request of chunk `i` (`requests` HTTP requests made).
    fn request_failed(
        &mut self,
        i: usize,
        e: EeError,
        requests: u32,
        cfg: &Interactive,
        size_failures: &mut u32,
    ) -> Result<Option<String>, ExecError> {
        let class = e.class();
        let message = e.problem.summary();
        let ended = journal::now();
        let observed = |r: &mut crate::journal::ChunkRow| {
            r.requests += requests;
            r.ended_at = Some(ended);
            r.state = ChunkState::Planned;
        };
        if class != Class::TooBig {
            self.failed_with(i, class, message, observed)?;
            return Ok(None);
        }
        *size_failures += 1;
        let single = self.chunks[i].sites <= 1;
        match cfg.fallback_after {
            Some(_) if single => {
                // Interactive cannot compute this site at all; a batch task has no 5-minute limit.
                let chunk = self.update(i, |r| {
                    observed(r);
                    r.mode = RunMode::Batch;
                    r.error = Some(message.clone());
                    r.error_class = Some("too_big".into());
                    r.chunk_id.clone()
                })?;
                self.emit(Event::MovedToBatch {
                    chunks: vec![chunk],
                    reason: format!("too big for an interactive request even alone ({message})"),
                });
            }
            _ => self.failed_with(i, class, message.clone(), observed)?,
        }
        Ok(match cfg.fallback_after {
            Some(n) if *size_failures >= n => Some(format!(
                "{size_failures} interactive requests failed for size (last: {message}); the remaining chunks run as \
                 batch export tasks"
            )),
            _ => None,
        })
    }

    /// Moves every interactive chunk not computed yet to batch; `reason` is said in an event (unless empty).
    fn move_to_batch(&mut self, reason: String) -> Result<(), ExecError> {
        let moved: Vec<usize> = (0..self.chunks.len())
            .filter(|&i| self.chunks[i].mode == RunMode::Interactive && self.chunks[i].state == ChunkState::Planned)
            .collect();
        self.update_all(&moved, |r| r.mode = RunMode::Batch)?;
        self.journal.set_meta("mode", RunMode::Batch.as_str())?;
        if !reason.is_empty() || !moved.is_empty() {
            let chunks = moved.iter().map(|&i| self.chunks[i].chunk_id.to_string()).collect();
            let reason =
                if reason.is_empty() { "halves of chunks split after the move to batch".into() } else { reason };
            self.journal.set_meta("mode_reason", &reason)?;
            self.emit(Event::MovedToBatch { chunks, reason });
        }
        Ok(())
    }
}
