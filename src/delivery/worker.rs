//! The loops that run delivery rounds: one round (`deliver`), a `--watch` worker, and the
//! background deliverer the hook starts. What a round does (which queue, which repository) is the
//! caller's; these decide only when to run the next.

use std::io::Write;
use std::time::{Duration, Instant};

use super::admin::Counts;
use super::backoff::Backoff;
use super::queue::QueueError;
use super::summary::Summary;
use crate::clock::Clock;
use crate::config::Delivery;
use crate::error::chain;
use crate::notice::Notice;

/// How long a background deliverer waits before it starts, and a worker after a hook told it
/// of a push, so that the push ends first.
pub const YIELD_TO_PUSH: Duration = Duration::from_millis(20);

/// How often a watching or background deliverer looks for new or due jobs.
pub const POLL: Duration = Duration::from_millis(250);

/// A deliverer: its round, and what tells it that jobs were added (see
/// [`super::queue::Queue::mark`]).
#[derive(Clone, Copy)]
pub struct Worker<'a> {
    pub round: &'a dyn Fn() -> Summary,
    pub mark: &'a dyn Fn() -> Result<u64, QueueError>,
    pub clock: &'a Clock,
}

/// How `deliver` runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Run {
    /// One round over what is due, then a summary line.
    #[default]
    Once,
    /// Keep running, picking up new jobs as they come (a service).
    Watch,
}

/// `git webhook deliver`: runs rounds as `run` says, writing what happens to `out`; `counts` says
/// how many jobs wait after a single round.
pub fn deliver(
    w: Worker<'_>,
    run: Run,
    counts: &dyn Fn() -> Result<Counts, QueueError>,
    out: &mut dyn Write,
) {
    let mut backoff = Backoff::default();
    loop {
        // Only a watching deliverer waits for jobs added during its round.
        let mark = (run == Run::Watch).then(|| (w.mark)().ok()).flatten();
        let summary = (w.round)();
        summary.write_notices(out);
        if run == Run::Once {
            let left = match counts() {
                Ok(c) => format!("queued now: {} pending, {} retrying", c.pending, c.retrying),
                Err(e) => format!("cannot count what is queued now: {}", chain(&e)),
            };
            let _ = writeln!(
                out,
                "delivered {}, retrying {}, dead {}, dropped {}; {left}",
                summary.delivered, summary.retrying, summary.dead, summary.dropped
            );
            return;
        }
        let _ = out.flush();
        if summary.troubled {
            backoff.wait(); // The queue failed: give it time.
        } else {
            backoff.reset();
        }
        wait_for_work(w, mark, &summary, None);
    }
}

/// Sleeps until a job of the last round (`summary`) is due, jobs were added since `mark` (`None`:
/// it could not be read), or `until` passes. Reading the mark is cheap; reading every waiting job
/// four times a second is not.
fn wait_for_work(w: Worker<'_>, mark: Option<u64>, summary: &Summary, until: Option<Instant>) {
    let waiting = Instant::now();
    loop {
        std::thread::sleep(POLL);
        if waiting.elapsed() >= super::http::IDLE {
            // Waiting longer than a connection is reused: none is held open meanwhile.
            super::http::forget_kept();
        }
        let due = summary.next_due_ms.is_some_and(|d| d <= w.clock.now_ms());
        let moved = mark.is_none() || (w.mark)().ok() != mark;
        if due || moved || until.is_some_and(|u| Instant::now() >= u) {
            return;
        }
    }
}

/// Gives `warn` what a background deliverer says, each line dated; attempts are left out (each is in
/// the delivery log already).
pub fn warn_of(notices: &[Notice], clock: &Clock, warn: &dyn Fn(&str)) {
    let when = clock.now_seconds().to_rfc3339();
    let lines: String = notices
        .iter()
        .filter(|n| !matches!(n, Notice::Sent { .. }))
        .map(|n| format!("{when} {n}\n"))
        .collect();
    if !lines.is_empty() {
        warn(&lines);
    }
}

/// The background deliverer: sends what is due at once (whatever other deliverers are busy with:
/// claims keep them from sending a job twice), then, if jobs wait for a retry or for their ref,
/// stays to send them, one such waiter per spool (`lock`, the spool's waiter lock), until nothing of
/// its repository waits.
/// `warn`: where the warnings of each round go (a file: no one watches a background deliverer).
pub fn background(w: Worker<'_>, settings: &Delivery, lock: &std::fs::File, warn: &dyn Fn(&str)) {
    let round = || {
        let summary = (w.round)();
        warn_of(&summary.notices, w.clock, warn);
        summary
    };
    let mut summary = round();
    if lock.try_lock().is_err() {
        return; // Another deliverer is waiting; it picks up what is left.
    }
    // Every job ends within max_age; the bound only guards against a clock that does not move.
    let deadline = Instant::now() + settings.max_age + settings.update_wait;
    let mut backoff = Backoff::default();
    while Instant::now() < deadline {
        if summary.next_due_ms.is_none() && !summary.troubled {
            // Nothing of this repository waits. A job queued just before the unlock whose own
            // deliverer found the lock taken: one more round sees it, and stays if it must wait.
            let _ = lock.unlock();
            summary = round();
            if (summary.next_due_ms.is_none() && !summary.troubled) || lock.try_lock().is_err() {
                return;
            }
        }
        if summary.troubled {
            backoff.wait();
        } else {
            backoff.reset();
        }
        let mark = (w.mark)().ok();
        wait_for_work(w, mark, &summary, Some(deadline));
        summary = round();
    }
}
