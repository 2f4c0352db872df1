//! The seam between delivery and the places jobs wait: what a worker needs of a queue ([`Queue`]:
//! enqueue, claim, settle, recover), the delivery log ([`Log`]), and endpoint lanes with their
//! pacing ([`Lanes`]). The file spool ([`super::spool::Spool`]), the shared database
//! ([`super::postgres::Postgres`]) and the in-memory queue of last resort
//! ([`super::memory::Memory`]) implement all three; what admins look into across repositories is
//! [`super::admin::Admin`]. Every call that reads or writes can fail, and says so: an unreachable
//! queue is never mistaken for an empty one.

use std::collections::{HashMap, HashSet};

use super::health::Health;

use super::job::{Job, Outcome, Record};

/// A queue operation that failed, with where it failed (a path, or the database; empty: nowhere in
/// particular).
#[derive(Debug, thiserror::Error)]
#[error("{what}{}{place}", if place.is_empty() { "" } else { " " })]
pub struct QueueError {
    pub what: &'static str,
    pub place: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// What a queue knows one of its claims by: opaque to everyone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub(super) fn new(text: impl Into<String>) -> Token {
        Token(text.into())
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A job taken out of the queue by this worker: it must be settled one way or another.
#[must_use = "a claimed job stays in flight until it is settled"]
#[derive(Debug)]
pub struct Claim {
    pub job: Job,
    token: Token,
    /// The job's file, open and locked for as long as the claim lives (the spool's claims).
    _held: Option<std::fs::File>,
}

impl Claim {
    pub(super) fn new(job: Job, token: Token) -> Claim {
        Claim {
            job,
            token,
            _held: None,
        }
    }

    /// A claim that is the lock on `file`: it ends when the claim is dropped, or its process dies.
    pub(super) fn holding(job: Job, token: Token, file: std::fs::File) -> Claim {
        Claim {
            job,
            token,
            _held: Some(file),
        }
    }

    pub(super) fn token(&self) -> &Token {
        &self.token
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
    /// Removed without a trace but the log's (dropped, expired into the log, moved elsewhere).
    Forget,
}

/// A claim ended: how, and what the delivery log tells of it (if anything).
#[derive(Debug)]
pub struct Settled {
    pub claim: Claim,
    pub how: Settle,
    pub record: Option<Record>,
}

/// Something a queue found damaged (a truncated job file, a FIFO named like a job) and set aside,
/// so that it is reported once and holds nothing up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// Where it was.
    pub place: String,
    /// What is wrong with it.
    pub why: String,
    /// Where it is now (`None`: left where it was, and not read).
    pub to: Option<String>,
}

impl From<SetAside> for crate::notice::Notice {
    fn from(s: SetAside) -> crate::notice::Notice {
        crate::notice::Notice::SetAside {
            place: s.place,
            why: s.why,
            to: s.to,
        }
    }
}

/// What a claim took (when collected: see [`Queue::claim`]), and what it found damaged on the way.
#[derive(Debug, Default)]
pub struct Claimed {
    pub claims: Vec<Claim>,
    pub set_aside: Vec<SetAside>,
    /// It stopped at as many claims as the queue holds at once: more may be waiting, to be claimed
    /// once these are settled.
    pub more: bool,
}

/// What an enqueue did: how many jobs wait now, and the oldest ones it pushed out to stay within
/// the limit it was given.
#[derive(Debug, Default)]
pub struct Enqueued {
    pub waiting: usize,
    pub evicted: Vec<Job>,
}

/// What a worker needs of a durable queue of jobs.
pub trait Queue: Sync {
    /// Where the jobs are, for messages.
    fn location(&self) -> String;
    /// Adds jobs durably: all of them or none, on disk (or committed) before this returns. With
    /// `max_waiting`, first pushes out the oldest waiting jobs so that at most that many wait once
    /// these are added.
    fn enqueue(&self, jobs: &[Job], max_waiting: Option<usize>) -> Result<Enqueued, QueueError>;
    /// Lists the waiting jobs (never tried, or waiting for a retry), oldest first, and claims those
    /// `pick` takes, in that order, handing each to `take` as it is made (a queue that claims them
    /// all in one go hands them over then); a job another worker took first is not claimed (and may
    /// not be listed). A queue that holds only so many claims at once stops there, before offering
    /// the next job, and says `more`.
    fn claim_each(
        &self,
        pick: &mut dyn FnMut(&Job) -> bool,
        take: &mut dyn FnMut(Claim),
    ) -> Result<Claimed, QueueError>;
    /// [`Queue::claim_each`], the claims collected.
    fn claim(&self, pick: &mut dyn FnMut(&Job) -> bool) -> Result<Claimed, QueueError> {
        let mut claims = Vec::new();
        let found = self.claim_each(pick, &mut |c| claims.push(c))?;
        Ok(Claimed { claims, ..found })
    }
    /// Ends claims, appending each one's record to the delivery log with it, all in one go where the
    /// queue can; the first failure is returned once every claim was tried.
    fn settle(&self, done: Vec<Settled>) -> Result<(), QueueError>;
    /// Puts back in the queue the claims of workers that are gone, clears what killed writers left
    /// behind, and forgets finished jobs beyond what is kept; returns how many claims came back.
    fn recover(&self) -> Result<usize, QueueError>;
    /// A number that changes when jobs (or pushes to make jobs of) are added, cheap to read:
    /// workers wait for it to move.
    fn mark(&self) -> Result<u64, QueueError>;
}

/// The delivery log: one record per attempt, and per requeue, expiry, drop or discard.
pub trait Log: Sync {
    fn append(&self, record: &Record) -> Result<(), QueueError>;
    /// The last `limit` records that pass `filter`, oldest first.
    fn records(&self, filter: &Filter, limit: usize) -> Result<Vec<Record>, QueueError>;
}

/// Lanes held by this worker until dropped: each endpoint's jobs of one repository are sent by one
/// worker at a time, so that they go out in order however many workers run.
pub struct Held {
    /// The lanes this worker holds now (the others are another live worker's).
    pub keys: HashSet<String>,
    /// The health of the held lanes that have a record (failures in a row, a pause).
    pub health: HashMap<String, Health>,
    /// Gives them back when dropped.
    pub guard: Box<dyn Send>,
}

/// Endpoint lanes and the pacing kept beside them.
pub trait Lanes: Sync {
    /// Takes the lanes that `keys` name and that no live worker holds, with their health. A lane
    /// whose holder is gone is taken only with that holder's claims put back in the queue, so that
    /// no job of the lane is left in flight behind the new holder's.
    fn hold(&self, keys: &[String]) -> Result<Held, QueueError>;
    /// When requests went to the endpoint of lane `key` lately (Unix milliseconds, oldest first),
    /// for pacing: adds the times in `sent`, forgets those more than `window_ms` older than the
    /// newest. Called by the lane's holder.
    fn paced(&self, key: &str, sent: &[u64], window_ms: u64) -> Result<Vec<u64>, QueueError>;
    /// Keeps the health of lane `key` (a clear one removes the record). Called by the lane's holder, and by `endpoint
    /// resume`.
    fn set_health(&self, key: &str, health: &Health) -> Result<(), QueueError>;
    /// Every lane with a record, by key, for `status` and the metrics.
    fn unhealthy(&self) -> Result<Vec<(String, Health)>, QueueError>;
}

/// A place jobs live in full: a queue with its log and lanes (the spool, the database, memory).
pub trait Store: Queue + Log + Lanes {}

impl<T: Queue + Log + Lanes> Store for T {}

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

    /// Whether an endpoint's lane (by its key) passes.
    pub fn lane(&self, key: &str) -> bool {
        let (repo, _, url) = super::health::lane_parts(key);
        self.repo_passes(Some(repo)) && Filter::text(self.endpoint.as_ref(), Some(url))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_where_it_failed_and_nothing_after_when_it_was_nowhere() {
        let at = |place: &str| QueueError {
            what: "cannot list",
            place: place.to_owned(),
            source: "gone".into(),
        };
        assert_eq!(
            at("/srv/a.git/webhook/queue").to_string(),
            "cannot list /srv/a.git/webhook/queue"
        );
        assert_eq!(at("").to_string(), "cannot list");
    }
}
