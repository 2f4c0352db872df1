//! The queue interface every delivery path goes through: the hook enqueues, workers claim what is due
//! and settle each claim, commands look into it. [`super::spool::Spool`] (files under the repository)
//! is the one implementation; another store is one more file implementing [`Queue`].

use std::fs::File;
use std::path::PathBuf;

use super::job::{Job, Record};

/// A queue operation that failed, with where it failed.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}", path.display())]
pub struct QueueError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A job taken out of the queue by this worker: it must be settled one way or another.
#[must_use = "a claimed job stays in flight until it is settled"]
#[derive(Debug)]
pub struct Claim {
    pub job: Job,
    /// What the queue knows the claim by (the spool: the in-flight file).
    key: PathBuf,
}

impl Claim {
    pub(crate) fn new(job: Job, key: PathBuf) -> Claim {
        Claim { job, key }
    }

    pub(crate) fn key(&self) -> &std::path::Path {
        &self.key
    }
}

/// How a claim ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Sent: kept among the delivered jobs (for `redeliver`).
    Delivered,
    /// Back in the queue with the schedule, attempts and error the claim's job now has.
    Retry,
    /// Kept as a dead letter, with its last error.
    Dead,
    /// Removed without a trace but the log's (dropped, expired, discarded).
    Forget,
}

/// How many jobs are where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Queued and never tried.
    pub pending: usize,
    /// Queued after at least one failed attempt.
    pub retrying: usize,
    pub in_flight: usize,
    pub dead: usize,
    /// Creation time of the oldest queued job.
    pub oldest_ms: Option<u64>,
}

/// A durable queue of jobs with a delivery log.
pub trait Queue: Sync {
    /// Where the jobs are, for messages.
    fn location(&self) -> String;
    /// Adds jobs durably: each one whole or not at all, and all of them before this returns.
    fn enqueue(&self, jobs: &[Job]) -> Result<(), QueueError>;
    /// The waiting jobs (never tried, or waiting for a retry), oldest first.
    fn waiting(&self) -> Vec<Job>;
    /// Takes a waiting job for this worker; `None` if another worker took it first.
    fn claim(&self, job: &Job) -> Option<Claim>;
    /// Ends a claim.
    fn settle(&self, claim: Claim, how: Settle) -> Result<(), QueueError>;
    /// Puts back in the queue the claims of workers that are gone; returns how many.
    fn recover(&self) -> usize;
    /// Appends a record to the delivery log (failures to log are not fatal).
    fn log(&self, record: &Record);
    /// The delivery log, oldest first.
    fn records(&self) -> Vec<Record>;
    fn counts(&self) -> Counts;
    /// Delivered and dead jobs whose job or event id starts with `prefix`; `true`: a dead letter.
    fn finished(&self, prefix: &str) -> Vec<(Job, bool)>;
    /// Removes the oldest waiting jobs so that `incoming` more stay within `max`; returns how many
    /// jobs wait once they are added, and the removed jobs (for the caller to log).
    fn make_room(&self, incoming: usize, max: usize) -> (usize, Vec<Job>);
    /// A number that changes when jobs (or pushes to make jobs of) are added, cheap to read: workers
    /// wait for it to move.
    fn mark(&self) -> u64;
    /// Forgets old delivered jobs and dead letters beyond what is kept.
    fn prune(&self);
    /// The lock a waiting background worker holds, so that one waits per queue.
    fn waiter_lock(&self) -> Result<File, QueueError>;
    /// Takes the lock that lets one worker at a time send to the endpoint `key` names (so that its
    /// jobs go out in order whatever the number of workers); `None` while another worker holds it.
    /// Held until the returned file is dropped.
    fn lock_endpoint(&self, key: &str) -> Option<File>;
    /// When requests went to the endpoint `key` names lately (Unix milliseconds, oldest first), for
    /// pacing: adds the times in `sent`, forgets those more than `window_ms` older than the newest.
    /// Called by the holder of the endpoint's lock.
    fn paced(&self, key: &str, sent: &[u64], window_ms: u64) -> Vec<u64>;
}
