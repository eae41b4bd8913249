//! How long a run has left, from what this run has seen: the time each finished chunk took (from its
//! submission or request to its success) and how long each chunk in flight has been going.
//!
//! No estimate before the first chunk of this run has succeeded (there is nothing to base it on). Then the
//! mean duration `d` of the finished chunks drives a small replay of the rest: each chunk in flight is
//! expected to need `d` minus its age (at least [`FLOOR`]: a chunk older than the mean is still unfinished),
//! and the chunks waiting for a slot go, one after another, to the slot that frees first, each taking `d`;
//! the slots are as many as were ever in flight at once. The estimate is when the last slot is done, never
//! zero while work remains. (A rate over the whole run — "elapsed × left / done" — says 21 s at 2 of 4 for
//! four chunks that run side by side and end together, and indicatif's bar says 0 s at 0 of 4.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::events::{Counts, Event};
use crate::journal::ChunkState;

/// The least time a chunk still in flight is expected to need.
pub const FLOOR: Duration = Duration::from_secs(1);

/// The estimator: fed every event with its time, asked for the time left.
#[derive(Debug, Default)]
pub struct Eta {
    /// When each chunk in flight was submitted (or requested, or adopted) in this run.
    started: HashMap<String, Instant>,
    /// Sum and number of the durations of the chunks that succeeded in this run.
    total: Duration,
    finished: u32,
    /// The most chunks in flight at once (the run's concurrency as seen).
    slots: usize,
}

impl Eta {
    pub fn new() -> Eta {
        Eta::default()
    }

    /// Takes note of `event`, which happened at `now`; `c` are the counts after it.
    pub fn observe(&mut self, event: &Event, c: &Counts, now: Instant) {
        match event {
            Event::Submitted { chunk, .. } | Event::Adopted { chunk, .. } | Event::Requested { chunk, .. } => {
                self.started.entry(chunk.clone()).or_insert(now);
            }
            Event::StateChanged {
                chunk,
                to: ChunkState::Submitting | ChunkState::Pending | ChunkState::Running,
                ..
            } => {
                self.started.entry(chunk.clone()).or_insert(now);
            }
            // The state change comes first (the counts already show the chunk done), then `Succeeded`.
            Event::Succeeded { chunk, .. } | Event::StateChanged { chunk, to: ChunkState::Succeeded, .. } => {
                if let Some(t) = self.started.remove(chunk) {
                    self.total += now.saturating_duration_since(t);
                    self.finished += 1;
                }
            }
            // A retry starts the chunk's clock again at its next submission.
            Event::Retried { chunk, .. }
            | Event::Failed { chunk, .. }
            | Event::Cancelled { chunk }
            | Event::Split { chunk, .. } => {
                self.started.remove(chunk);
            }
            _ => {}
        }
        self.slots = self.slots.max(in_flight(c));
    }

    /// The time left at `now`, or `None` before any chunk of this run succeeded or when nothing is left.
    pub fn estimate(&self, c: &Counts, now: Instant) -> Option<Duration> {
        let left = c.total.saturating_sub(c.done());
        if self.finished == 0 || left == 0 {
            return None;
        }
        let mean = self.total / self.finished;
        let flying = in_flight(c);
        // Ages of the chunks in flight, oldest first (a chunk the counts show but this run did not see start
        // counts as just started).
        let mut ages: Vec<Duration> = self.started.values().map(|t| now.saturating_duration_since(*t)).collect();
        ages.sort_unstable_by(|a, b| b.cmp(a));
        ages.resize(flying, Duration::ZERO);
        // When each slot is free: a chunk in flight frees its slot after its expected remainder.
        let slots = self.slots.max(flying).max(1);
        let mut free: Vec<Duration> = ages.iter().map(|age| mean.saturating_sub(*age).max(FLOOR)).collect();
        free.resize(slots, Duration::ZERO);
        // The waiting chunks (everything neither done nor in flight) go to the slot that frees first.
        for _ in 0..left.saturating_sub(flying) {
            if let Some(first) = free.iter_mut().min() {
                *first += mean.max(FLOOR);
            }
        }
        free.into_iter().max().map(|d| d.max(FLOOR))
    }
}

/// Chunks submitted or being computed.
fn in_flight(c: &Counts) -> usize {
    c.submitting + c.pending + c.running
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(total: usize, running: usize, succeeded: usize) -> Counts {
        Counts { total, running, succeeded, planned: total - running - succeeded, ..Counts::default() }
    }

    fn submitted(chunk: &str) -> Event {
        Event::Submitted { chunk: chunk.into(), attempt: 1, request_id: format!("r-{chunk}"), operation: "op".into() }
    }

    fn succeeded(chunk: &str) -> Event {
        Event::Succeeded { chunk: chunk.into(), runtime_s: None, eecu_s: None }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// The run of the issue: four chunks side by side; two end at 21 s, the other two at 25 s.
    #[test]
    fn four_chunks_side_by_side() {
        let t0 = Instant::now();
        let mut eta = Eta::new();
        for (i, chunk) in ["c0", "c1", "c2", "c3"].iter().enumerate() {
            eta.observe(&submitted(chunk), &counts(4, i + 1, 0), t0);
        }
        assert_eq!(eta.estimate(&counts(4, 4, 0), t0), None, "nothing finished: no estimate");
        assert_eq!(eta.estimate(&counts(4, 4, 0), t0 + S(15)), None);
        eta.observe(&succeeded("c0"), &counts(4, 3, 1), t0 + S(21));
        eta.observe(&succeeded("c1"), &counts(4, 2, 2), t0 + S(21));
        // The other two are as old as the mean: about to finish, not 21 s away.
        let at_2 = eta.estimate(&counts(4, 2, 2), t0 + S(21)).unwrap();
        assert_eq!(at_2, FLOOR);
        // Never zero while two chunks run, however late they are.
        assert_eq!(eta.estimate(&counts(4, 2, 2), t0 + S(40)), Some(FLOOR));
        eta.observe(&succeeded("c2"), &counts(4, 1, 3), t0 + S(25));
        eta.observe(&succeeded("c3"), &counts(4, 0, 4), t0 + S(25));
        assert_eq!(eta.estimate(&counts(4, 0, 4), t0 + S(25)), None, "nothing left");
    }

    /// Ten chunks of 10 s through two slots: five waves, the estimate follows them.
    #[test]
    fn waiting_chunks_go_through_the_slots() {
        let t0 = Instant::now();
        let mut eta = Eta::new();
        eta.observe(&submitted("c0"), &counts(10, 1, 0), t0);
        eta.observe(&submitted("c1"), &counts(10, 2, 0), t0);
        eta.observe(&succeeded("c0"), &counts(10, 1, 1), t0 + S(10));
        eta.observe(&submitted("c2"), &counts(10, 2, 1), t0 + S(10));
        // At 10 s: c1 (age 10 s, floor 1 s) and c2 (new, 10 s) in flight, 7 waiting: c1's slot takes 4 of
        // them (1 + 40 = 41 s), c2's slot 3 (10 + 30 = 40 s).
        assert_eq!(eta.estimate(&counts(10, 2, 1), t0 + S(10)), Some(S(41)));
        eta.observe(&succeeded("c1"), &counts(10, 1, 2), t0 + S(10));
        eta.observe(&submitted("c3"), &counts(10, 2, 2), t0 + S(10));
        // Mean 10 s; two fresh chunks in flight, six waiting: 10 + 3 × 10 on each slot.
        assert_eq!(eta.estimate(&counts(10, 2, 2), t0 + S(10)), Some(S(40)));
        // Five seconds later, five seconds less.
        assert_eq!(eta.estimate(&counts(10, 2, 2), t0 + S(15)), Some(S(35)));
    }

    /// A retried chunk's clock starts again; failed and split chunks give no duration.
    #[test]
    fn retries_and_failures_do_not_count_as_durations() {
        let t0 = Instant::now();
        let mut eta = Eta::new();
        eta.observe(&submitted("c0"), &counts(2, 1, 0), t0);
        eta.observe(&submitted("c1"), &counts(2, 2, 0), t0);
        eta.observe(
            &Event::Retried { chunk: "c0".into(), attempt: 2, error: "x".into() },
            &counts(2, 2, 0),
            t0 + S(50),
        );
        eta.observe(&submitted("c0"), &counts(2, 2, 0), t0 + S(50));
        eta.observe(&succeeded("c0"), &counts(2, 1, 1), t0 + S(54));
        // c0 took 4 s from its resubmission; c1 is 54 s old: the floor.
        assert_eq!(eta.estimate(&counts(2, 1, 1), t0 + S(54)), Some(FLOOR));
        let mut eta = Eta::new();
        eta.observe(&submitted("c0"), &counts(2, 1, 0), t0);
        eta.observe(
            &Event::Failed { chunk: "c0".into(), class: "x".into(), error: "x".into() },
            &counts(2, 0, 0),
            t0 + S(3),
        );
        assert_eq!(eta.estimate(&counts(2, 1, 0), t0 + S(3)), None, "a failure is no duration");
    }
}
