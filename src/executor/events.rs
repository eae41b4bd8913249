//! What the executor reports, and the [`Observer`] trait its listeners implement (like ripgrep's `Sink`):
//! the progress display, the `--events FILE` JSON lines writer, tests. The journal records every event
//! too (its `events` table), written by the executor itself so that it is ordered with the state changes.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::journal::ChunkState;

/// One thing that happened.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run started (`resumed` when the journal already had work in it).
    Started {
        chunks: usize,
        done: usize,
        active: usize,
        to_submit: usize,
        resumed: bool,
    },
    /// A task was created (or found again by its request id).
    Submitted {
        chunk: String,
        attempt: u32,
        request_id: String,
        operation: String,
    },
    /// A live operation from an earlier run, or a submission whose response was lost, was taken over.
    Adopted {
        chunk: String,
        operation: String,
    },
    StateChanged {
        chunk: String,
        from: ChunkState,
        to: ChunkState,
    },
    Succeeded {
        chunk: String,
        runtime_s: Option<f64>,
        eecu_s: Option<f64>,
    },
    /// A transient failure: the chunk will be submitted again as a new task with a new request id.
    Retried {
        chunk: String,
        attempt: u32,
        error: String,
    },
    /// Too big: replaced by two halves.
    Split {
        chunk: String,
        into: Vec<String>,
        error: String,
    },
    Failed {
        chunk: String,
        class: String,
        error: String,
    },
    Cancelled {
        chunk: String,
    },
    /// An interactive answer lacked cells (a site without a row, a cell that cannot be read): what it held
    /// is stored, these cells stay missing and the next run plans them again. `missing` says what, as the
    /// fetch says it.
    Incomplete {
        chunk: String,
        missing: Vec<String>,
    },
    /// A failure that would repeat for every chunk: nothing more is submitted.
    FatalStop {
        error: String,
        not_submitted: usize,
    },
    /// One `operations.list` round.
    Poll {
        operations: usize,
        foreign_active: usize,
        next_ms: u64,
    },
    Finished {
        succeeded: usize,
        failed: usize,
        cancelled: usize,
        remaining: usize,
    },
    /// Which mode the run uses and why (`interactive` or `batch`).
    Mode {
        mode: String,
        reason: String,
    },
    /// An interactive request for a chunk was sent (`table:computeFeatures`).
    Requested {
        chunk: String,
        attempt: u32,
        sites: usize,
    },
    /// An interactive chunk's result was stored (`adopted`: a file a killed run wrote, taken without a request).
    Stored {
        chunk: String,
        /// Relative to the journal's folder.
        file: String,
        rows: usize,
        /// HTTP requests of the chunk (pages and retries).
        requests: u32,
        pages: u32,
        seconds: f64,
        bytes: u64,
        adopted: bool,
        /// Cells of the answer written to the results store as it arrived (0: stored already); absent for a
        /// run without the store, or an answer left to the fetch (which says what is wrong with it); an answer
        /// stored in part counts the cells written (see [`Event::Incomplete`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        cells: Option<u64>,
    },
    /// Chunks interactive requests cannot compute go to batch export tasks instead.
    MovedToBatch {
        chunks: Vec<String>,
        reason: String,
    },
    /// The local engine starts computing `sites` sites (counts then count sites, not chunks).
    LocalStarted {
        sites: usize,
        layer_years: usize,
        threads: usize,
        cache_mb: u64,
    },
    /// The local engine has computed `done` of `total` sites.
    SitesDone {
        done: usize,
        total: usize,
    },
}

impl Event {
    /// The event's name (`submitted`, `state_changed`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::Submitted { .. } => "submitted",
            Event::Adopted { .. } => "adopted",
            Event::StateChanged { .. } => "state_changed",
            Event::Succeeded { .. } => "succeeded",
            Event::Retried { .. } => "retried",
            Event::Split { .. } => "split",
            Event::Failed { .. } => "failed",
            Event::Cancelled { .. } => "cancelled",
            Event::FatalStop { .. } => "fatal_stop",
            Event::Poll { .. } => "poll",
            Event::Finished { .. } => "finished",
            Event::Mode { .. } => "mode",
            Event::Requested { .. } => "requested",
            Event::Stored { .. } => "stored",
            Event::Incomplete { .. } => "incomplete",
            Event::MovedToBatch { .. } => "moved_to_batch",
            Event::LocalStarted { .. } => "local_started",
            Event::SitesDone { .. } => "sites_done",
        }
    }

    pub fn chunk(&self) -> Option<&str> {
        match self {
            Event::Submitted { chunk, .. }
            | Event::Adopted { chunk, .. }
            | Event::StateChanged { chunk, .. }
            | Event::Succeeded { chunk, .. }
            | Event::Retried { chunk, .. }
            | Event::Split { chunk, .. }
            | Event::Failed { chunk, .. }
            | Event::Requested { chunk, .. }
            | Event::Stored { chunk, .. }
            | Event::Incomplete { chunk, .. }
            | Event::Cancelled { chunk } => Some(chunk),
            _ => None,
        }
    }
}

/// Chunk counts after an event (split chunks are not counted: their halves are).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub planned: usize,
    pub submitting: usize,
    pub pending: usize,
    pub running: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub cancelled: usize,
}

impl Counts {
    pub fn done(&self) -> usize {
        self.succeeded + self.failed + self.cancelled
    }

    /// The counts of chunks in these states: what the executor reports after each event and what
    /// `geepipe status` shows from the journal (split chunks are left out: their halves count).
    pub fn of(states: impl IntoIterator<Item = crate::journal::ChunkState>) -> Counts {
        let mut c = Counts::default();
        for s in states {
            c.add(s);
        }
        c
    }

    /// Counts one more chunk in state `s`.
    pub fn add(&mut self, s: crate::journal::ChunkState) {
        if let Some(n) = self.slot(s) {
            *n += 1;
            self.total += 1;
        }
    }

    /// Counts one chunk fewer in state `s` (a chunk that left it).
    pub fn remove(&mut self, s: crate::journal::ChunkState) {
        if let Some(n) = self.slot(s) {
            *n = n.saturating_sub(1);
            self.total = self.total.saturating_sub(1);
        }
    }

    fn slot(&mut self, s: crate::journal::ChunkState) -> Option<&mut usize> {
        use crate::journal::ChunkState::*;
        Some(match s {
            Split => return None,
            Planned => &mut self.planned,
            Submitting => &mut self.submitting,
            Pending => &mut self.pending,
            Running | Cancelling => &mut self.running,
            Succeeded => &mut self.succeeded,
            Failed => &mut self.failed,
            Cancelled => &mut self.cancelled,
        })
    }
}

/// A listener for executor events (and the local engine's, which count sites instead of chunks).
pub trait Observer: Send {
    fn event(&mut self, event: &Event, counts: &Counts);
    /// Called once at the end (flush, clear the bar).
    fn finish(&mut self, _counts: &Counts) {}
}

/// `--events FILE`: one JSON object per line, with a Unix timestamp `at`.
pub struct JsonLines {
    out: std::io::BufWriter<std::fs::File>,
}

impl JsonLines {
    pub fn create(path: &Path) -> std::io::Result<JsonLines> {
        let f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonLines { out: std::io::BufWriter::new(f) })
    }
}

impl Observer for JsonLines {
    fn event(&mut self, event: &Event, _counts: &Counts) {
        let mut v = serde_json::to_value(event).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("at".into(), serde_json::json!(crate::journal::now()));
        }
        let _ = writeln!(self.out, "{v}");
        let _ = self.out.flush();
    }
}

/// Collects events in memory (tests, library users).
#[derive(Clone, Default)]
pub struct Recorder(pub std::sync::Arc<std::sync::Mutex<Vec<Event>>>);

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Observer for Recorder {
    fn event(&mut self, event: &Event, _counts: &Counts) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_one_object_per_event() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ev.jsonl");
        let mut j = JsonLines::create(&p).unwrap();
        let c = Counts::default();
        j.event(&Event::Cancelled { chunk: "c1".into() }, &c);
        j.event(&Event::Finished { succeeded: 1, failed: 0, cancelled: 1, remaining: 0 }, &c);
        drop(j);
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "cancelled");
        assert_eq!(lines[0]["chunk"], "c1");
        assert!(lines[1]["at"].as_f64().unwrap() > 1.7e9);
    }
}
