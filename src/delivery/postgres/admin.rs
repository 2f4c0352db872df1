//! [`Admin`] on the database: every repository's counts, the workers alive, finished jobs, the log,
//! finished jobs put back in the queue, and paused endpoints resumed.

use super::{job_of, ms, Postgres};
use crate::delivery::admin::{repos_of, requeued, Admin, Counts, Finished, Worker};
use crate::delivery::health::{lane_parts, Health};
use crate::delivery::job::{Job, Outcome, Record};
use crate::delivery::queue::{Filter, Lanes as _, Log as _, Queue as _, QueueError};

impl Admin for Postgres {
    fn location(&self) -> String {
        self.db.settings.shown.clone()
    }

    fn counts(&self, filter: &Filter) -> Result<Vec<(String, Counts)>, QueueError> {
        self.counts_by_repo(filter)
    }

    fn workers(&self) -> Result<Vec<Worker>, QueueError> {
        Postgres::workers(self)
    }

    fn finished(&self, filter: &Filter) -> Result<Vec<Finished>, QueueError> {
        let state = match filter.outcome {
            Some(Outcome::Dead) => Some("dead"),
            Some(Outcome::Delivered) => Some("delivered"),
            _ => None,
        };
        let rows = self.run("cannot read finished jobs in", |c| {
            c.query(
                "SELECT jsonb_set(job, '{attempts}', to_jsonb(attempts)) AS job, state
                 FROM git_webhook.jobs
                 WHERE state <> 'queued'
                   AND ($1::text IS NULL OR repo = $1)
                   AND ($2::text IS NULL OR strpos(repo, $2) > 0)
                   AND ($3::text IS NULL OR strpos(endpoint, $3) > 0)
                   AND ($4::text IS NULL OR state = $4)
                   AND ($5::bigint IS NULL OR finished_ms >= $5)
                   AND (cardinality($6::text[]) = 0 OR EXISTS (
                        SELECT 1 FROM unnest($6::text[]) p
                        WHERE starts_with(id::text, p) OR starts_with(event::text, p)))
                 ORDER BY finished_ms, seq",
                &[
                    &self.repo,
                    &filter.repo,
                    &filter.endpoint,
                    &state,
                    &filter.since_ms.map(ms),
                    &filter.ids,
                ],
            )
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(Finished {
                    job: job_of(r).ok()?,
                    dead: r.get::<_, &str>(1) == "dead",
                })
            })
            .collect())
    }

    fn records(&self, filter: &Filter, limit: usize) -> Result<Vec<Record>, QueueError> {
        crate::delivery::queue::Log::records(self, filter, limit)
    }

    /// In one transaction, in push order (their `seq` follows it), with a log record each.
    fn requeue(&self, found: &[Finished], now_ms: u64) -> Result<Vec<String>, QueueError> {
        let jobs: Vec<Job> = requeued(found, now_ms)
            .into_iter()
            .map(|(_, job)| job)
            .collect();
        self.enqueue(&jobs, None)?;
        for job in &jobs {
            self.append(&Record::of(job, now_ms, Outcome::Requeued))?;
        }
        Ok(repos_of(&jobs))
    }

    fn failing(&self, filter: &Filter) -> Result<Vec<(String, Health)>, QueueError> {
        let all = self.unhealthy()?;
        Ok(all
            .into_iter()
            .filter(|(k, _)| {
                filter.lane(k) && self.repo.as_ref().is_none_or(|r| lane_parts(k).0 == r)
            })
            .collect())
    }

    fn resume(&self, filter: &Filter) -> Result<Vec<String>, QueueError> {
        let mut resumed = Vec::new();
        for (key, health) in self.failing(filter)? {
            if health.paused.is_some() {
                self.set_health(&key, &Health::default())?;
                resumed.push(key);
            }
        }
        if !resumed.is_empty() {
            // The workers listening wake up and send what waited.
            self.run("cannot wake the workers of", |c| {
                c.batch_execute(&format!("NOTIFY {}", super::CHANNEL))
            })?;
        }
        Ok(resumed)
    }
}
