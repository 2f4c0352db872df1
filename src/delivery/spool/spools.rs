//! The file spools of several repositories (or of one, with its fallback) as one admin view.

use super::Spool;
use crate::delivery::admin::{Admin, Counts, Finished, Worker};
use crate::delivery::health::Health;
use crate::delivery::job::Record;
use crate::delivery::queue::{Filter, Lanes as _, Log as _, QueueError};

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

    fn failing(&self, filter: &Filter) -> Result<Vec<(String, Health)>, QueueError> {
        let all = self.each(filter, |spool| spool.unhealthy())?;
        Ok(all.into_iter().filter(|(k, _)| filter.lane(k)).collect())
    }

    fn resume(&self, filter: &Filter) -> Result<Vec<String>, QueueError> {
        let mut resumed = Vec::new();
        for (_, spools) in self.wanted(filter) {
            for spool in spools {
                for (key, health) in spool.unhealthy()? {
                    if health.paused.is_some() && filter.lane(&key) {
                        spool.set_health(&key, &Health::default())?;
                        resumed.push(key);
                    }
                }
            }
        }
        Ok(resumed)
    }
}
