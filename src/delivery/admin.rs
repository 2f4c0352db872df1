//! What an admin looks into, apart from what workers need: how many jobs wait where (by
//! repository), the workers alive, the finished jobs, the delivery log, and putting finished jobs
//! back in their queue. The shared database answers for every repository; [`Spools`] for the file
//! spools of one repository or of every repository below a directory.

use super::job::{Job, Record};
use super::queue::{Filter, Log as _, QueueError};
use super::spool::Spool;

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
}

/// The file spools of some repositories: each repository with its spools (the one under it, and
/// its fallback when there is one); a spool shared by several repositories is listed once.
pub struct Spools {
    pub spools: Vec<(String, Vec<Spool>)>,
}

impl Spools {
    fn each<T>(
        &self,
        filter: &Filter,
        mut f: impl FnMut(&Spool) -> Result<Vec<T>, QueueError>,
    ) -> Result<Vec<T>, QueueError> {
        let mut all = Vec::new();
        for (_, spools) in self.wanted(filter) {
            for spool in spools {
                all.extend(f(spool)?);
            }
        }
        Ok(all)
    }

    fn wanted<'s>(&'s self, filter: &'s Filter) -> impl Iterator<Item = (&'s str, &'s [Spool])> {
        self.spools
            .iter()
            .filter(|(repo, _)| filter.repo_passes(Some(repo)))
            .map(|(repo, spools)| (repo.as_str(), spools.as_slice()))
    }
}

impl Admin for Spools {
    fn location(&self) -> String {
        match &self.spools[..] {
            [(_, one)] => one
                .iter()
                .map(|s| s.root().display().to_string())
                .collect::<Vec<_>>()
                .join(" and "),
            many => format!("the spools of {} repositories", many.len()),
        }
    }

    fn counts(&self, filter: &Filter) -> Result<Vec<(String, Counts)>, QueueError> {
        let mut rows = Vec::new();
        for (repo, spools) in self.wanted(filter) {
            let mut c = Counts::default();
            for spool in spools {
                c.add(&spool.counts()?);
            }
            rows.push((repo.to_owned(), c));
        }
        Ok(rows)
    }

    fn workers(&self) -> Result<Vec<Worker>, QueueError> {
        Ok(Vec::new())
    }

    fn finished(&self, filter: &Filter) -> Result<Vec<Finished>, QueueError> {
        self.each(filter, |spool| spool.finished(filter))
    }

    fn records(&self, filter: &Filter, limit: usize) -> Result<Vec<Record>, QueueError> {
        let mut all = self.each(filter, |spool| spool.records(filter, limit))?;
        all.sort_by_key(|r| r.time_ms);
        all.drain(..all.len().saturating_sub(limit));
        Ok(all)
    }

    /// Each spool takes back the jobs it holds.
    fn requeue(&self, found: &[Finished], now_ms: u64) -> Result<Vec<String>, QueueError> {
        let mut repos = Vec::new();
        for spool in self.spools.iter().flat_map(|(_, s)| s) {
            for repo in spool.requeue(found, now_ms)? {
                if !repos.contains(&repo) {
                    repos.push(repo);
                }
            }
        }
        Ok(repos)
    }
}

/// Finished jobs in the order they were first made: by creation time, then as listed.
pub(super) fn in_push_order(found: &[Finished]) -> Vec<&Finished> {
    let mut sorted: Vec<&Finished> = found.iter().collect();
    sorted.sort_by_key(|f| f.job.created_ms);
    sorted
}
