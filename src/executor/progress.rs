//! Progress for people: an indicatif bar with counts and ETA on a terminal, plain periodic lines otherwise
//! (logs, CI). Both go to stderr. The same observer shows the local engine's runs, which count sites
//! (it switches to sites on `local_started`). The time left of a chunk run comes from [`super::eta`]: none until
//! a chunk of this run has succeeded, never zero while work remains.

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::eta::{Eta, FLOOR};
use super::events::{Counts, Event, Observer};

/// The progress observer.
pub struct Progress {
    bar: Option<ProgressBar>,
    every: Duration,
    last: Option<Instant>,
    eta: Eta,
    /// When a local run started computing (its sites stream steadily: the rate so far gives the time left).
    local_start: Option<Instant>,
    /// Counting sites of a local run rather than chunks.
    sites: bool,
    /// A line was printed.
    printed: bool,
}

impl Progress {
    /// `terminal`: draw a bar; otherwise print a line at most every `every`.
    pub fn new(terminal: bool, every: Duration) -> Progress {
        let bar = terminal.then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} chunks  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        Progress { bar, every, last: None, eta: Eta::new(), local_start: None, sites: false, printed: false }
    }

    /// Progress on stderr: a bar on a terminal, else a line every 30 s (`GEEPIPE_PROGRESS_EVERY` seconds
    /// when set, for tests and logs).
    pub fn stderr() -> Progress {
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal();
        let plain = std::env::var("GEEPIPE_PROGRESS_EVERY").ok().and_then(|v| v.parse::<f64>().ok());
        let every = if terminal { 1.0 } else { plain.filter(|s| s.is_finite()).unwrap_or(30.0).clamp(0.0, 86400.0) };
        Progress::new(terminal, Duration::from_secs_f64(every))
    }

    fn line(&self, c: &Counts) -> String {
        if self.sites {
            return format!("{} of {} sites computed", c.succeeded, c.total);
        }
        format!(
            "{} running, {} pending, {} waiting, {} succeeded, {} failed{}",
            c.running,
            c.pending + c.submitting,
            c.planned,
            c.succeeded,
            c.failed,
            if c.cancelled > 0 { format!(", {} cancelled", c.cancelled) } else { String::new() }
        )
    }

    /// `, ETA 2m05s` once there is an estimate, else nothing.
    fn eta_text(&self, c: &Counts) -> String {
        let left = c.total.saturating_sub(c.done());
        let estimate = match self.local_start {
            Some(t) if c.done() > 0 && left > 0 => Some(t.elapsed().mul_f64(left as f64 / c.done() as f64).max(FLOOR)),
            Some(_) => None,
            None => self.eta.estimate(c, Instant::now()),
        };
        estimate.map(|d| format!(", ETA {}", human(d))).unwrap_or_default()
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Observer for Progress {
    fn event(&mut self, event: &Event, c: &Counts) {
        self.eta.observe(event, c, Instant::now());
        if let Event::LocalStarted { sites, layer_years, threads, cache_mb } = event {
            // A local run: count sites; lines only once a period has passed (short runs stay quiet).
            self.sites = true;
            self.local_start = Some(Instant::now());
            self.last = Some(Instant::now());
            if let Some(b) = &self.bar {
                b.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} sites  {per_sec}{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.reset_eta();
                b.println(format!(
                    "computing {sites} sites × {layer_years} layer-years on {threads} threads ({cache_mb} MB chunk cache)"
                ));
            }
        }
        if let Some(b) = &self.bar {
            b.set_length(c.total as u64);
            b.set_position(c.done() as u64);
            if self.sites {
                b.set_message(self.eta_text(c));
            } else {
                b.set_message(format!("{}{}", self.line(c), self.eta_text(c)));
            }
            match event {
                Event::Failed { chunk, error, .. } => b.println(format!("chunk {chunk} failed: {error}")),
                Event::Incomplete { chunk, missing } => b.println(incomplete(chunk, missing)),
                Event::FatalStop { error, .. } => b.println(format!("stopping: {error}")),
                Event::MovedToBatch { chunks, reason } => {
                    b.println(format!("moving {} chunk(s) to batch: {reason}", chunks.len()))
                }
                _ => {}
            }
            return;
        }
        let important = matches!(
            event,
            Event::Failed { .. }
                | Event::Incomplete { .. }
                | Event::FatalStop { .. }
                | Event::Split { .. }
                | Event::MovedToBatch { .. }
        );
        let due = self.last.is_none_or(|t| t.elapsed() >= self.every);
        let finished = matches!(event, Event::Finished { .. }) && (!self.sites || self.printed);
        if important || due || finished {
            self.last = Some(Instant::now());
            self.printed = true;
            let mut err = std::io::stderr().lock();
            match event {
                Event::Failed { chunk, error, .. } => {
                    let _ = writeln!(err, "chunk {chunk} failed: {error}");
                }
                Event::Incomplete { chunk, missing } => {
                    let _ = writeln!(err, "{}", incomplete(chunk, missing));
                }
                Event::FatalStop { error, not_submitted } => {
                    let _ = writeln!(err, "stopping: {error} ({not_submitted} chunks not submitted)");
                }
                Event::Split { chunk, into, .. } => {
                    let _ = writeln!(err, "chunk {chunk} too big, split into {}", into.join(" and "));
                }
                Event::MovedToBatch { chunks, reason } => {
                    let _ = writeln!(err, "moving {} chunk(s) to batch: {reason}", chunks.len());
                }
                _ => {}
            }
            let _ = writeln!(err, "[{}/{}] {}{}", c.done(), c.total, self.line(c), self.eta_text(c));
        }
    }

    fn finish(&mut self, _c: &Counts) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// The lines of an [`Event::Incomplete`].
fn incomplete(chunk: &str, missing: &[String]) -> String {
    let mut out = format!("warning: the answer of chunk {chunk} is incomplete; its other cells are stored, these stay missing (the next run computes them again):");
    for m in missing {
        out.push_str(&format!("\n  - {m}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(5)), "5s");
        assert_eq!(human(Duration::from_secs(125)), "2m05s");
        assert_eq!(human(Duration::from_secs(7260)), "2h01m");
    }
}
