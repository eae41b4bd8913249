//! How far back each poll reads `operations.list`: a project's list holds its whole history (every user's tasks
//! of the last days), so reading it all on every poll costs one page per 500 old operations, every poll.
//!
//! A poll needs the state of this run's tasks in flight and how many other tasks are queued (for the queue
//! limit). The list comes newest first ([`crate::ee::Client::list_operations_since`]), so a poll reads only down
//! to the oldest task this run still watches (by its `createTime`, known from its submission or an earlier
//! listing). Other users' tasks older than that do not appear then: the active ones among them are taken from
//! the last complete listing and still counted (they can only finish, so the count errs on the safe side). A
//! complete listing is read on the first poll, every [`FULL_EVERY`] polls, and whenever a watched task's
//! creation time is not known yet.
//!
//! A listing is taken in one operation at a time ([`Window::begin`], [`Window::see`], [`Window::end`]), as
//! its pages are decoded: the window keeps the creation times of this run's operations and the names of
//! other users' active ones, never the listing itself (tens of thousands of operations at a million sites).

use std::collections::{HashMap, HashSet};

use crate::ee::{Listing, Operation};

/// Polls between two complete listings.
pub const FULL_EVERY: u32 = 30;

/// What the polls of a run know about the list.
#[derive(Debug)]
pub struct Window {
    /// Polls since the last complete listing.
    since_full: u32,
    /// `createTime` of this run's operations (seconds since the Unix epoch), by operation name.
    created: HashMap<String, f64>,
    /// Other users' tasks that were active at the last complete listing.
    old_foreign: HashSet<String>,
    /// What the listing being read showed so far.
    reading: Reading,
}

/// What a listing showed, one operation at a time.
#[derive(Debug, Default)]
struct Reading {
    /// Other users' tasks listed active.
    foreign_active: HashSet<String>,
    /// Tasks of `old_foreign` that were listed (in any state).
    old_listed: HashSet<String>,
}

impl Default for Window {
    fn default() -> Window {
        Window {
            since_full: FULL_EVERY,
            created: HashMap::new(),
            old_foreign: HashSet::new(),
            reading: Reading::default(),
        }
    }
}

fn created(op: &Operation) -> Option<f64> {
    op.metadata.as_ref().and_then(|m| m.create_time.as_deref()).and_then(crate::ee::parse_time)
}

impl Window {
    pub fn new() -> Window {
        Window::default()
    }

    /// Notes an operation of this run (a submission's answer, or one adopted).
    pub fn learn(&mut self, op: &Operation) {
        if let Some(t) = created(op) {
            self.created.insert(op.name.clone(), t);
        }
    }

    /// Forgets a finished operation of this run (only those in flight are looked up).
    pub fn forget(&mut self, name: &str) {
        self.created.remove(name);
    }

    /// How far back the next poll reads: `None` for every page, else the creation time of the oldest operation
    /// in `watched` (the names of this run's operations in flight).
    pub fn since<'a>(&self, watched: impl IntoIterator<Item = &'a str>) -> Option<f64> {
        if self.since_full >= FULL_EVERY {
            return None;
        }
        let mut oldest = f64::INFINITY;
        for name in watched {
            oldest = oldest.min(*self.created.get(name)?);
        }
        oldest.is_finite().then_some(oldest)
    }

    /// Takes in what a poll read; `ours` are this run's operation names. Returns how many other tasks are
    /// active in the project (see [`Window::end`]).
    pub fn read(&mut self, listing: &Listing, ours: &HashSet<&str>) -> usize {
        self.begin();
        for op in &listing.operations {
            self.see(op, ours.contains(op.name.as_str()));
        }
        self.end(listing.complete)
    }

    /// Starts taking in a listing (what an earlier one left unfinished, by a failed page, is forgotten).
    pub fn begin(&mut self) {
        self.reading = Reading::default();
    }

    /// Takes in one listed operation; `ours` says whether it is one of this run's (only the creation times of
    /// those still in flight are kept: a complete listing shows every finished one too).
    pub fn see(&mut self, op: &Operation, ours: bool) {
        if ours {
            if op.state().is_active() {
                self.learn(op);
            }
        } else if op.state().is_active() && !self.reading.foreign_active.contains(&op.name) {
            self.reading.foreign_active.insert(op.name.clone());
        }
        if self.old_foreign.contains(&op.name) && !self.reading.old_listed.contains(&op.name) {
            self.reading.old_listed.insert(op.name.clone());
        }
    }

    /// Ends a listing (`complete`: every page was read). Returns how many other tasks are active in the
    /// project: those listed, plus those active at the last complete listing that this one did not reach.
    pub fn end(&mut self, complete: bool) -> usize {
        let Reading { foreign_active, old_listed } = std::mem::take(&mut self.reading);
        let listed_active = foreign_active.len();
        if complete {
            self.since_full = 0;
            self.old_foreign = foreign_active;
            return listed_active;
        }
        self.since_full += 1;
        listed_active + self.old_foreign.len() - old_listed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ee::{OperationMetadata, State};

    fn op(name: &str, minute: u32, state: State) -> Operation {
        Operation {
            name: name.into(),
            metadata: Some(OperationMetadata {
                state,
                create_time: Some(format!("2026-11-26T08:{minute:02}:00Z")),
                ..OperationMetadata::default()
            }),
            ..Operation::default()
        }
    }

    #[test]
    fn only_operations_of_ours_in_flight_are_remembered() {
        // A complete listing shows every finished task of the run: their creation times are never needed.
        let mut w = Window::new();
        let ours: HashSet<&str> = ["a", "b"].into();
        let all = vec![op("b", 30, State::Running), op("a", 20, State::Succeeded), op("x", 10, State::Failed)];
        assert_eq!(w.read(&Listing { operations: all, complete: true }, &ours), 0);
        assert_eq!(w.created.keys().collect::<Vec<_>>(), vec!["b"]);
    }

    #[test]
    fn reads_down_to_the_oldest_watched_task_and_keeps_counting_old_queued_ones() {
        let mut w = Window::new();
        let ours: HashSet<&str> = ["a", "b"].into();
        // First poll: everything.
        assert_eq!(w.since(["a", "b"]), None);
        let all = vec![
            op("b", 30, State::Running),
            op("a", 20, State::Pending),
            op("x", 10, State::Pending),
            op("y", 5, State::Succeeded),
        ];
        assert_eq!(w.read(&Listing { operations: all, complete: true }, &ours), 1);
        // Then down to `a`, the oldest watched (08:20).
        let since = w.since(["a", "b"]).unwrap();
        assert_eq!(Some(since), crate::ee::parse_time("2026-11-26T08:20:00Z"));
        // A partial listing that did not reach `x`: still counted; a new foreign task too.
        let partial = vec![op("z", 40, State::Pending), op("b", 30, State::Running), op("a", 20, State::Succeeded)];
        assert_eq!(w.read(&Listing { operations: partial.clone(), complete: false }, &ours), 2);
        // `a` done: only `b` watched, read down to 08:30.
        assert_eq!(w.since(["b"]), crate::ee::parse_time("2026-11-26T08:30:00Z"));
        // An operation whose creation time is unknown: everything.
        assert_eq!(w.since(["b", "new"]), None);
        // Every FULL_EVERY polls a complete listing.
        for _ in 1..FULL_EVERY {
            w.read(&Listing { operations: partial.clone(), complete: false }, &ours);
        }
        assert_eq!(w.since(["b"]), None);
        // `x` finished by then: no longer counted.
        let all = vec![op("z", 40, State::Pending), op("b", 30, State::Running), op("x", 10, State::Succeeded)];
        assert_eq!(w.read(&Listing { operations: all, complete: true }, &ours), 1);
    }
}
