//! What an admin looks into, apart from what workers need: how many jobs wait where (by
//! repository), the workers alive, the finished jobs, the delivery log, and putting finished jobs
//! back in their queue. The shared database answers for every repository;
//! [`super::spool::Spools`] for the file spools of one repository or of every repository below a
//! directory.

use super::health::Health;
use super::job::{Job, Record};
use super::queue::{Filter, QueueError};

/// How many jobs are where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Queued and never tried.
    pub pending: usize,
    /// Queued after at least one failed attempt.
    pub retrying: usize,
    pub in_flight: usize,
    pub dead: usize,
    /// Pushes recorded and not yet made into jobs.
    pub recorded: usize,
    /// Entries set aside as damaged (or, in the database, written by a newer version).
    pub damaged: usize,
    /// Creation time of the oldest queued job.
    pub oldest_ms: Option<u64>,
    /// Endpoints paused.
    pub paused: usize,
}

impl Counts {
    /// Adds another place's counts to these.
    pub fn add(&mut self, other: &Counts) {
        self.pending += other.pending;
        self.retrying += other.retrying;
        self.in_flight += other.in_flight;
        self.dead += other.dead;
        self.recorded += other.recorded;
        self.damaged += other.damaged;
        self.paused += other.paused;
        self.oldest_ms = match (self.oldest_ms, other.oldest_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A delivered job or a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub job: Job,
    pub dead: bool,
}

/// A worker of the shared queue: its name and how long ago it last showed a sign of life.
pub type Worker = (String, f64);

/// The queries and the one change (`requeue`) that `status`, `log` and `redeliver` make.
pub trait Admin {
    /// Where it looks, for messages.
    fn location(&self) -> String;
    /// The counts of every repository with jobs that pass `filter`'s repository and endpoint.
    fn counts(&self, filter: &Filter) -> Result<Vec<(String, Counts)>, QueueError>;
    /// The workers alive (none for file spools, whose deliverers come and go with pushes).
    fn workers(&self) -> Result<Vec<Worker>, QueueError>;
    /// The delivered jobs and dead letters that pass `filter`, oldest first.
    fn finished(&self, filter: &Filter) -> Result<Vec<Finished>, QueueError>;
    /// The last `limit` log records that pass `filter`, oldest first.
    fn records(&self, filter: &Filter, limit: usize) -> Result<Vec<Record>, QueueError>;
    /// Moves finished jobs back into their queue, due at `now_ms`, in the order they were first
    /// made (so each endpoint gets them in push order again), with the same ids; logs each.
    /// Returns the repositories they went back to.
    fn requeue(&self, found: &[Finished], now_ms: u64) -> Result<Vec<String>, QueueError>;
    /// The endpoints that failed lately or are paused, and pass `filter`: each lane's key and health.
    fn failing(&self, filter: &Filter) -> Result<Vec<(String, Health)>, QueueError>;
    /// Ends the pauses of the endpoints that pass `filter`: their waiting jobs are due again as
    /// they were. Returns the lanes resumed.
    fn resume(&self, filter: &Filter) -> Result<Vec<String>, QueueError>;
}

/// Adds to `rows` (each repository's counts) how many of its endpoints `health` says are paused.
pub(super) fn add_paused(rows: &mut Vec<(String, Counts)>, health: &[(String, Health)]) {
    for (key, _) in health.iter().filter(|(_, h)| h.paused.is_some()) {
        let repo = super::health::lane_parts(key).0;
        match rows.iter_mut().find(|(r, _)| r == repo) {
            Some((_, c)) => c.paused += 1,
            None => rows.push((
                repo.to_owned(),
                Counts {
                    paused: 1,
                    ..Counts::default()
                },
            )),
        }
    }
}

/// Finished jobs made due again at `now_ms`, in the order they were first made (by creation time,
/// then as listed), so that each endpoint gets them in push order again: the same ids, no attempts
/// yet, creation times one millisecond apart (a spool's file names keep that order). Each with the
/// finished job it comes from.
pub(super) fn requeued(found: &[Finished], now_ms: u64) -> Vec<(&Finished, Job)> {
    let mut sorted: Vec<&Finished> = found.iter().collect();
    sorted.sort_by_key(|f| f.job.created_ms);
    sorted
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let job = Job {
                created_ms: now_ms + i as u64,
                next_ms: now_ms,
                attempts: 0,
                first_attempt_ms: None,
                condition: None,
                last_error: None,
                ..f.job.clone()
            };
            (f, job)
        })
        .collect()
}

/// The repositories of `jobs`, each once, in order.
pub(super) fn repos_of<'j>(jobs: impl IntoIterator<Item = &'j Job>) -> Vec<String> {
    let mut repos: Vec<String> = Vec::new();
    for repo in jobs.into_iter().filter_map(|j| j.repo.as_ref()) {
        let repo = repo.display().to_string();
        if !repos.contains(&repo) {
            repos.push(repo);
        }
    }
    repos
}
