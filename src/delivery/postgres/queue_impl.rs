//! [`Queue`] on the database: every method one or two statements.

use super::log::{insert_attempts, LogRows};
use super::{counts, job_of, json, ms, unms, Lane, Postgres, CHANNEL, COUNTS, PRUNE_EVERY};
use crate::delivery::job::{Job, Outcome, Record};
use crate::delivery::pace;
use crate::delivery::queue::{Claim, Counts, Filter, Held, Queue, QueueError, Settle, Settled};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::types::ToSql;

/// A worker not seen for a lease (`$1`: the lease in seconds) is gone: SQL over a column naming one.
fn gone(column: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM git_webhook.workers w WHERE w.name = {column}
         AND w.seen > now() - make_interval(secs => $1))"
    )
}

const NOW_MS: &str = "(extract(epoch FROM now()) * 1000)::bigint";

/// Whether something done at most once per `every` (last done at `last`) is due now; if so, it is
/// marked done.
fn once_per(last: &Mutex<Option<Instant>>, every: Duration) -> bool {
    let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
    if last.is_some_and(|t| t.elapsed() < every) {
        return false;
    }
    *last = Some(Instant::now());
    true
}

impl Queue for Postgres {
    fn location(&self) -> String {
        self.db.settings.shown.clone()
    }

    /// One statement for all the jobs, and the notification, in one transaction.
    fn enqueue(&self, jobs: &[Job]) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let ids: Vec<uuid::Uuid> = jobs.iter().map(Job::id).collect();
        let events: Vec<uuid::Uuid> = jobs.iter().map(|j| j.template.event_id).collect();
        let repos: Vec<String> = jobs
            .iter()
            .map(|j| {
                j.repo
                    .as_ref()
                    .map(|r| r.display().to_string())
                    .unwrap_or_default()
            })
            .collect();
        let endpoints: Vec<&str> = jobs.iter().map(|j| j.endpoint.url.as_str()).collect();
        let refnames: Vec<&str> = jobs.iter().map(|j| j.refname.as_str()).collect();
        let attempts: Vec<i32> = jobs
            .iter()
            .map(|j| i32::try_from(j.attempts).unwrap_or(i32::MAX))
            .collect();
        let created: Vec<i64> = jobs.iter().map(|j| ms(j.created_ms)).collect();
        let next: Vec<i64> = jobs.iter().map(|j| ms(j.next_ms)).collect();
        let bodies: Vec<serde_json::Value> = jobs.iter().map(json).collect();
        self.run("cannot add jobs to", |c| {
            let mut tx = c.transaction()?;
            // Durable before the push is told its webhooks are queued.
            tx.batch_execute("SET LOCAL synchronous_commit = on")?;
            tx.execute(
                "INSERT INTO git_webhook.jobs
                   (id, seq, event, repo, endpoint, refname, state, attempts, created_ms, next_ms, job)
                 SELECT id, nextval('git_webhook.job_order'), event, repo, endpoint, refname,
                        'queued', attempts, created_ms, next_ms, job
                 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                             $6::int4[], $7::int8[], $8::int8[], $9::jsonb[])
                      WITH ORDINALITY AS t(id, event, repo, endpoint, refname, attempts,
                                           created_ms, next_ms, job, n)
                 ON CONFLICT (id) DO UPDATE SET
                   seq = excluded.seq, state = 'queued', attempts = excluded.attempts,
                   created_ms = excluded.created_ms, next_ms = excluded.next_ms,
                   finished_ms = NULL, claimed_by = NULL, job = excluded.job",
                &[
                    &ids, &events, &repos, &endpoints, &refnames, &attempts, &created, &next,
                    &bodies,
                ],
            )?;
            tx.execute(&format!("NOTIFY {CHANNEL}"), &[])?;
            tx.commit()
        })
    }

    fn waiting(&self) -> Vec<Job> {
        self.run("cannot read jobs in", |c| {
            c.query(
                "SELECT job FROM git_webhook.jobs
                 WHERE state = 'queued' AND claimed_by IS NULL AND ($1::text IS NULL OR repo = $1)
                 ORDER BY seq",
                &[&self.repo],
            )
        })
        .map(|rows| rows.iter().filter_map(job_of).collect())
        .unwrap_or_default()
    }

    fn claim(&self, jobs: &[Job]) -> Vec<Claim> {
        if jobs.is_empty() || self.db.register().is_err() {
            return Vec::new();
        }
        let ids: Vec<uuid::Uuid> = jobs.iter().map(Job::id).collect();
        let rows = self
            .run("cannot claim jobs in", |c| {
                c.query(
                    "UPDATE git_webhook.jobs SET claimed_by = $2
                     WHERE id = ANY($1) AND state = 'queued' AND claimed_by IS NULL
                     RETURNING id, job",
                    &[&ids, &self.db.name],
                )
            })
            .unwrap_or_default();
        // The rows as they are now, in the order asked for.
        let mut taken: HashMap<uuid::Uuid, Job> = rows
            .iter()
            .filter_map(|r| Some((r.get(0), job_of(r)?)))
            .collect();
        ids.iter()
            .filter_map(|id| taken.remove(id))
            .map(|job| Claim::new(job, std::path::PathBuf::new()))
            .collect()
    }

    /// One statement for every claim: the jobs' new states (a job forgotten is deleted), and the
    /// log records.
    fn settle(&self, done: Vec<Settled>) -> Result<(), QueueError> {
        if done.is_empty() {
            return Ok(());
        }
        let ids: Vec<uuid::Uuid> = done.iter().map(|d| d.claim.job.id()).collect();
        let states: Vec<&str> = done
            .iter()
            .map(|d| match d.how {
                Settle::Forget => "forget",
                Settle::Retry => "queued",
                Settle::Delivered => "delivered",
                Settle::Dead => "dead",
            })
            .collect();
        let attempts: Vec<i32> = done
            .iter()
            .map(|d| i32::try_from(d.claim.job.attempts).unwrap_or(i32::MAX))
            .collect();
        let next: Vec<i64> = done.iter().map(|d| ms(d.claim.job.next_ms)).collect();
        // A delivered job keeps its stored body (only its attempts changed, kept in their column):
        // not rewriting it spares the database most of a settle's work.
        let bodies: Vec<Option<serde_json::Value>> = done
            .iter()
            .map(|d| (d.how != Settle::Delivered).then(|| json(&d.claim.job)))
            .collect();
        let log = LogRows::of(done.iter().filter_map(|d| d.record.as_ref()));
        let mut params: Vec<&(dyn ToSql + Sync)> =
            vec![&self.db.name, &ids, &states, &attempts, &next, &bodies];
        let log_from = params.len() + 1;
        params.extend(log.params());
        let sql = format!(
            "WITH s AS (
               SELECT * FROM unnest($2::uuid[], $3::text[], $4::int4[], $5::int8[], $6::jsonb[])
                 AS s(id, state, attempts, next_ms, job)),
             logged AS ({}),
             forgotten AS (
               DELETE FROM git_webhook.jobs j USING s
               WHERE j.id = s.id AND s.state = 'forget' AND j.claimed_by = $1 RETURNING 1),
             changed AS (
               UPDATE git_webhook.jobs j SET state = s.state, attempts = s.attempts,
                 next_ms = s.next_ms, job = coalesce(s.job, j.job), claimed_by = NULL,
                 finished_ms = CASE WHEN s.state = 'queued' THEN NULL ELSE {NOW_MS} END
               FROM s WHERE j.id = s.id AND s.state <> 'forget' AND j.claimed_by = $1 RETURNING 1)
             SELECT (SELECT count(*) FROM forgotten) + (SELECT count(*) FROM changed)",
            insert_attempts(log_from)
        );
        let row = self.run("cannot settle jobs in", |c| c.query_one(&sql, &params))?;
        let lost = ids.len() - usize::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        if lost > 0 {
            return Err(QueueError {
                what: "claims had expired (another worker took the jobs back) in",
                place: self.location(),
                source: format!("{lost} of {} jobs", ids.len()).into(),
            });
        }
        Ok(())
    }

    /// At most three times a lease per process (a claim is taken back a lease after its worker's
    /// last sign of life in any case).
    fn recover(&self) -> usize {
        if !once_per(&self.db.recovered, self.db.settings.lease / 3) {
            return 0;
        }
        let lease = self.db.lease_secs();
        self.run("cannot take back claims in", |c| {
            c.execute(
                &format!(
                    "UPDATE git_webhook.jobs SET claimed_by = NULL
                     WHERE claimed_by IS NOT NULL AND {}",
                    gone("claimed_by")
                ),
                &[&lease],
            )
        })
        .map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }

    fn log(&self, r: &Record) {
        self.append_log(r);
    }

    fn records(&self, filter: &Filter, limit: usize) -> Vec<Record> {
        self.read_log(filter, limit)
    }

    fn counts(&self) -> Counts {
        self.run("cannot count jobs in", |c| {
            c.query_one(
                &format!(
                    "SELECT {COUNTS} FROM git_webhook.jobs WHERE ($1::text IS NULL OR repo = $1)"
                ),
                &[&self.repo],
            )
        })
        .map(|row| counts(&row, 0))
        .unwrap_or_default()
    }

    fn finished(&self, filter: &Filter) -> Vec<(Job, bool)> {
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
        });
        rows.unwrap_or_default()
            .iter()
            .filter_map(|r| Some((job_of(r)?, r.get::<_, &str>(1) == "dead")))
            .collect()
    }

    fn make_room(&self, incoming: usize, max: usize) -> (usize, Vec<Job>) {
        let result = self.run("cannot make room in", |c| {
            let queued: i64 = c
                .query_one(
                    "SELECT count(*) FROM git_webhook.jobs
                     WHERE state = 'queued' AND ($1::text IS NULL OR repo = $1)",
                    &[&self.repo],
                )?
                .get(0);
            let after = usize::try_from(queued).unwrap_or(0) + incoming;
            let over = i64::try_from(after.saturating_sub(max)).unwrap_or(i64::MAX);
            if over == 0 {
                return Ok((after, Vec::new()));
            }
            let rows = c.query(
                "DELETE FROM git_webhook.jobs WHERE id IN (
                   SELECT id FROM git_webhook.jobs
                   WHERE state = 'queued' AND claimed_by IS NULL AND ($1::text IS NULL OR repo = $1)
                   ORDER BY seq LIMIT $2)
                 RETURNING job",
                &[&self.repo, &over],
            )?;
            Ok((after, rows.iter().filter_map(job_of).collect()))
        });
        result.unwrap_or((incoming, Vec::new()))
    }

    fn mark(&self) -> u64 {
        self.run("cannot read the queue's mark in", |c| {
            c.query_one("SELECT last_value FROM git_webhook.job_order", &[])
        })
        .map_or(0, |r| unms(r.get(0)))
    }

    /// At most once a minute per process: what is older than `queue_retention` goes, and workers
    /// gone for a day.
    fn prune(&self) {
        if !once_per(&self.db.pruned, PRUNE_EVERY) {
            return;
        }
        let keep = ms(u64::try_from(self.db.settings.retention.as_millis()).unwrap_or(u64::MAX));
        let _ = self.run("cannot prune", |c| {
            c.execute(
                &format!("DELETE FROM git_webhook.attempts WHERE time_ms < {NOW_MS} - $1"),
                &[&keep],
            )?;
            c.execute(
                &format!(
                    "DELETE FROM git_webhook.jobs WHERE state <> 'queued' AND finished_ms < {NOW_MS} - $1"
                ),
                &[&keep],
            )?;
            c.execute(
                "DELETE FROM git_webhook.workers WHERE seen < now() - interval '1 day'",
                &[],
            )
        });
    }

    /// Held while no other live worker holds it.
    fn lock_endpoint(&self, key: &str) -> Option<Held> {
        self.db.register().ok()?;
        let lease = self.db.lease_secs();
        let got = self
            .run("cannot take an endpoint's lane in", |c| {
                c.query_opt(
                    &format!(
                        "INSERT INTO git_webhook.lanes (key, holder) VALUES ($2, $3)
                         ON CONFLICT (key) DO UPDATE SET holder = excluded.holder
                         WHERE lanes.holder IS NULL OR lanes.holder = excluded.holder
                            OR {}
                         RETURNING key",
                        gone("lanes.holder")
                    ),
                    &[&lease, &key, &self.db.name],
                )
            })
            .ok()??;
        drop(got);
        Some(Box::new(Lane {
            db: Arc::clone(&self.db),
            key: key.to_owned(),
        }))
    }

    fn paced(&self, key: &str, sent: &[u64], window_ms: u64) -> Vec<u64> {
        let result = self.run("cannot pace in", |c| {
            let row = c.query_opt("SELECT sent FROM git_webhook.lanes WHERE key = $1", &[&key])?;
            let stored = row.map(|r| r.get::<_, Vec<i64>>(0)).unwrap_or_default();
            let times = pace::window(stored.into_iter().map(unms), sent, window_ms);
            if !sent.is_empty() {
                let stored: Vec<i64> = times.iter().copied().map(ms).collect();
                c.execute(
                    "UPDATE git_webhook.lanes SET sent = $2 WHERE key = $1",
                    &[&key, &stored],
                )?;
            }
            Ok(times)
        });
        result.unwrap_or_default()
    }
}
