//! Adding jobs to a queue within `[delivery] max_jobs`: a warning from 80% full on, and the oldest
//! jobs pushed out at the limit, each logged and said. Every place that adds a push's jobs (the
//! hook, a deliverer's intake, the move into the database) adds them here.

use super::job::{Job, Outcome, Record};
use super::queue::{QueueError, Store};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::chain;
use crate::notice::Notice;

/// What bounds a queue: `[delivery] max_jobs`, and the clock that dates what it pushes out.
pub struct Limits<'a> {
    pub config: &'a Config,
    pub clock: &'a Clock,
}

/// Adds jobs to `store` within `[delivery] max_jobs`: from 80% full on it warns, and the oldest
/// jobs it pushes out are logged and said. Returns how many were added.
pub fn enqueue(
    store: &dyn Store,
    jobs: &[Job],
    limits: &Limits<'_>,
    say: &mut dyn FnMut(Notice),
) -> Result<usize, QueueError> {
    let max = limits.config.delivery.max_jobs;
    let done = store.enqueue(jobs, Some(max))?;
    if done.waiting * 5 >= max * 4 {
        say(Notice::NearlyFull {
            queued: done.waiting,
            max,
        });
    }
    for old in done.evicted {
        let mut r = Record::of(&old, limits.clock.now_ms(), Outcome::Discarded);
        r.error = Some(format!("the spool was over [delivery] max_jobs = {max}"));
        if let Err(e) = store.append(&r) {
            say(Notice::QueueProblem(chain(&e)));
        }
        say(Notice::Discarded {
            job: old.id(),
            refname: old.refname,
            url: old.endpoint.url,
            max,
        });
    }
    Ok(jobs.len())
}
