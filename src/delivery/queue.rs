//! The queue interface every delivery path goes through: the hook enqueues, workers claim what is due
//! and settle each claim, commands look into it. [`super::spool::Spool`] (files under the repository)
//! is the default; [`super::postgres::Postgres`] is the shared one.

use std::path::PathBuf;

use super::job::{Job, Outcome, Record};

/// A queue operation that failed, with where it failed (a path, or the database).
#[derive(Debug, thiserror::Error)]
#[error("{what} {place}")]
pub struct QueueError {
    pub what: &'static str,
    pub place: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Something held until dropped: a lock.
pub type Held = Box<dyn Send>;

/// Which jobs or log records a command looks at; every field left empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Repositories whose path contains this text.
    pub repo: Option<String>,
    /// Endpoints whose URL (as shown, credentials masked) contains this text.
    pub endpoint: Option<String>,
    /// Log records with this outcome; finished jobs: `Delivered` or `Dead` picks one kind.
    pub outcome: Option<Outcome>,
    /// Records and finished jobs from this time on (Unix milliseconds).
    pub since_ms: Option<u64>,
    /// Finished jobs whose job or event id starts with one of these.
    pub ids: Vec<String>,
}

impl Filter {
    fn text(want: Option<&String>, have: Option<&str>) -> bool {
        want.is_none_or(|w| have.is_some_and(|h| h.contains(w.as_str())))
    }

    /// Whether a repository's path passes.
    pub fn repo_passes(&self, path: Option<&str>) -> bool {
        Filter::text(self.repo.as_ref(), path)
    }

    /// Whether a log record passes.
    pub fn record(&self, r: &Record) -> bool {
        self.repo_passes(r.repo.as_deref())
            && Filter::text(self.endpoint.as_ref(), Some(&r.endpoint))
            && self.outcome.is_none_or(|o| o == r.outcome)
            && self.since_ms.is_none_or(|s| r.time_ms >= s)
    }

    /// Whether a finished job (`dead`: a dead letter), finished at `finished_ms`, passes.
    pub fn finished(&self, job: &Job, dead: bool, finished_ms: u64) -> bool {
        let repo = job.repo.as_ref().map(|r| r.to_string_lossy());
        let (id, event) = (job.id().to_string(), job.template.event_id.to_string());
        self.repo_passes(repo.as_deref())
            && Filter::text(self.endpoint.as_ref(), Some(&job.endpoint.url))
            && match self.outcome {
                Some(Outcome::Dead) => dead,
                Some(Outcome::Delivered) => !dead,
                _ => true,
            }
            && self.since_ms.is_none_or(|s| finished_ms >= s)
            && (self.ids.is_empty()
                || self
                    .ids
                    .iter()
                    .any(|p| id.starts_with(p.as_str()) || event.starts_with(p.as_str())))
    }
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

/// A claim ended: how, and what the delivery log tells of it (if anything).
#[derive(Debug)]
pub struct Settled {
    pub claim: Claim,
    pub how: Settle,
    pub record: Option<Record>,
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
    /// Takes waiting jobs for this worker, in the order given; a job another worker took first is
    /// left out.
    fn claim(&self, jobs: &[Job]) -> Vec<Claim>;
    /// Ends claims, appending each one's record to the delivery log with it, all in one go where the
    /// queue can; the first failure is returned once every claim was tried.
    fn settle(&self, done: Vec<Settled>) -> Result<(), QueueError>;
    /// Puts back in the queue the claims of workers that are gone; returns how many.
    fn recover(&self) -> usize;
    /// Appends a record to the delivery log (failures to log are not fatal).
    fn log(&self, record: &Record);
    /// The last `limit` records of the delivery log that pass `filter`, oldest first.
    fn records(&self, filter: &Filter, limit: usize) -> Vec<Record>;
    fn counts(&self) -> Counts;
    /// The delivered and dead jobs that pass `filter`; `true`: a dead letter.
    fn finished(&self, filter: &Filter) -> Vec<(Job, bool)>;
    /// Removes the oldest waiting jobs so that `incoming` more stay within `max`; returns how many
    /// jobs wait once they are added, and the removed jobs (for the caller to log).
    fn make_room(&self, incoming: usize, max: usize) -> (usize, Vec<Job>);
    /// A number that changes when jobs (or pushes to make jobs of) are added, cheap to read: workers
    /// wait for it to move.
    fn mark(&self) -> u64;
    /// Forgets old delivered jobs and dead letters beyond what is kept.
    fn prune(&self);
    /// Takes the lock that lets one worker at a time send to the endpoint `key` names (so that its
    /// jobs go out in order whatever the number of workers); `None` while another worker holds it.
    /// Held until the returned value is dropped.
    fn lock_endpoint(&self, key: &str) -> Option<Held>;
    /// When requests went to the endpoint `key` names lately (Unix milliseconds, oldest first), for
    /// pacing: adds the times in `sent`, forgets those more than `window_ms` older than the newest.
    /// Called by the holder of the endpoint's lock.
    fn paced(&self, key: &str, sent: &[u64], window_ms: u64) -> Vec<u64>;
}
