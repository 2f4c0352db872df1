//! [`Queue`] on the database: every method one or two statements (its lanes are in `lanes.rs`).

use super::log::{insert_attempts, LogRows};
use super::{job_of, json, ms, Postgres, CHANNEL, OURS, PRUNE_EVERY};
use crate::delivery::job::Job;
use crate::delivery::queue::{
    Claim, Claimed, Enqueued, Queue, QueueError, SetAside, Settle, Settled, Token,
};

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postgres::types::ToSql;

/// A worker not seen for a lease (`$1`: the lease in seconds) is gone: SQL over a column naming one.
pub(super) fn gone(column: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM git_webhook.workers w WHERE w.name = {column}
         AND w.seen > now() - make_interval(secs => $1))"
    )
}

pub(super) const NOW_MS: &str = "(extract(epoch FROM now()) * 1000)::bigint";

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

impl Postgres {
    /// Forgets, at most once a minute per process, what is older than `queue_retention`, and
    /// workers gone for a day.
    fn prune(&self) -> Result<(), QueueError> {
        if !once_per(&self.db.pruned, PRUNE_EVERY) {
            return Ok(());
        }
        let keep = ms(crate::clock::millis(self.db.settings.retention));
        self.run("cannot prune", |c| {
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
        })
        .map(drop)
    }

    /// Makes jobs that cannot be read dead letters, so that they are reported once and hold
    /// nothing up; says which.
    fn set_aside(&self, bad: Vec<(uuid::Uuid, String)>) -> Result<Vec<SetAside>, QueueError> {
        if bad.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<uuid::Uuid> = bad.iter().map(|(id, _)| *id).collect();
        self.run("cannot set aside damaged jobs in", |c| {
            c.execute(
                &format!(
                    "UPDATE git_webhook.jobs SET state = 'dead', finished_ms = {NOW_MS}
                     WHERE id = ANY($1) AND state = 'queued' AND claimed_by IS NULL"
                ),
                &[&ids],
            )
        })?;
        Ok(bad
            .into_iter()
            .map(|(id, why)| SetAside {
                place: format!("job {id} in {}", self.location()),
                why,
                to: Some("its dead letters".to_owned()),
            })
            .collect())
    }
}

impl Queue for Postgres {
    fn location(&self) -> String {
        self.db.settings.shown.clone()
    }

    /// One statement for all the jobs (after making room), and the notification, in one
    /// transaction.
    fn enqueue(&self, jobs: &[Job], max_waiting: Option<usize>) -> Result<Enqueued, QueueError> {
        if jobs.is_empty() {
            return Ok(Enqueued::default());
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
        let schemas: Vec<i32> = jobs
            .iter()
            .map(|j| i32::try_from(j.schema).unwrap_or(i32::MAX))
            .collect();
        let repo = repos.first().cloned().unwrap_or_default();
        self.run("cannot add jobs to", |c| {
            let mut tx = c.transaction()?;
            // Durable before the push is told its webhooks are queued.
            tx.batch_execute("SET LOCAL synchronous_commit = on")?;
            let mut done = Enqueued::default();
            if let Some(max) = max_waiting {
                done = make_room(&mut tx, &repo, jobs.len(), max)?;
            }
            // In the order given: `seq` follows it.
            tx.execute(
                "INSERT INTO git_webhook.jobs
                   (id, seq, event, repo, endpoint, refname, state, attempts, created_ms, next_ms,
                    job, schema)
                 SELECT id, nextval('git_webhook.job_order'), event, repo, endpoint, refname,
                        'queued', attempts, created_ms, next_ms, job, schema
                 FROM (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],
                                            $5::text[], $6::int4[], $7::int8[], $8::int8[],
                                            $9::jsonb[], $10::int4[])
                         WITH ORDINALITY AS t(id, event, repo, endpoint, refname, attempts,
                                              created_ms, next_ms, job, schema, n)
                       ORDER BY n) AS given
                 ON CONFLICT (id) DO UPDATE SET
                   seq = excluded.seq, state = 'queued', attempts = excluded.attempts,
                   schema = excluded.schema,
                   created_ms = excluded.created_ms, next_ms = excluded.next_ms,
                   finished_ms = NULL, claimed_by = NULL, job = excluded.job",
                &[
                    &ids, &events, &repos, &endpoints, &refnames, &attempts, &created, &next,
                    &bodies, &schemas,
                ],
            )?;
            tx.execute(&format!("NOTIFY {CHANNEL}"), &[])?;
            tx.commit()?;
            Ok(done)
        })
    }

    /// Two statements: the waiting jobs of the repository, oldest first (through `jobs_queued`),
    /// then the claim of those picked, each as it was listed: a job changed since (requeued anew)
    /// or taken by another worker is left out, and no job is sent back over the wire a second time.
    fn claim_each(
        &self,
        pick: &mut dyn FnMut(&Job) -> bool,
        take: &mut dyn FnMut(Claim),
    ) -> Result<Claimed, QueueError> {
        let rows = self.run("cannot read jobs in", |c| {
            c.query(
                &format!(
                    "SELECT id, seq, attempts, repo, job FROM git_webhook.jobs
                     WHERE state = 'queued' AND claimed_by IS NULL AND {OURS}
                       AND ($1::text IS NULL OR repo = $1)
                     ORDER BY seq"
                ),
                &[&self.repo],
            )
        })?;
        let (mut wanted, mut bad) = (Vec::new(), Vec::new());
        for row in &rows {
            match job_of(row) {
                Ok(job) if pick(&job) => wanted.push((job, row.get::<_, i64>(1), row.get(2))),
                Ok(_) => {}
                Err(why) => bad.push((row.get(0), why)),
            }
        }
        let set_aside = self.set_aside(bad)?;
        if wanted.is_empty() {
            return Ok(Claimed {
                set_aside,
                ..Claimed::default()
            });
        }
        self.db
            .register()
            .map_err(|e| super::failed("cannot register as a worker in")(e))?;
        let ids: Vec<uuid::Uuid> = wanted.iter().map(|(job, ..)| job.id()).collect();
        let seqs: Vec<i64> = wanted.iter().map(|(_, seq, _)| *seq).collect();
        let attempts: Vec<i32> = wanted.iter().map(|(.., a)| *a).collect();
        // And the repositories listed: whatever the table's statistics say (analyzed when little
        // waited, they make the waiting jobs look few), the jobs are then looked for among those
        // repositories' waiting ones at worst, never among every repository's.
        let mut repos: Vec<&str> = rows.iter().map(|r| r.get::<_, &str>(3)).collect();
        repos.sort_unstable();
        repos.dedup();
        let rows = self.run("cannot claim jobs in", |c| {
            c.query(
                "UPDATE git_webhook.jobs j SET claimed_by = $4
                 FROM unnest($1::uuid[], $2::int8[], $3::int4[]) AS t(id, seq, attempts)
                 WHERE j.id = t.id AND j.seq = t.seq AND j.attempts = t.attempts
                   AND j.state = 'queued' AND j.claimed_by IS NULL
                   AND j.repo = ANY($5::text[])
                 RETURNING j.id",
                &[&ids, &seqs, &attempts, &self.db.name, &repos],
            )
        })?;
        let taken: HashSet<uuid::Uuid> = rows.iter().map(|r| r.get(0)).collect();
        for (job, ..) in wanted {
            if taken.contains(&job.id()) {
                let token = Token::new(job.id().to_string());
                take(Claim::new(job, token));
            }
        }
        Ok(Claimed {
            set_aside,
            ..Claimed::default()
        })
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
    /// last sign of life in any case): the claims and lanes of workers gone, in one transaction.
    fn recover(&self) -> Result<usize, QueueError> {
        self.prune()?;
        if !once_per(&self.db.recovered, self.db.settings.lease / 3) {
            return Ok(0);
        }
        let lease = self.db.lease_secs();
        let n = self.run("cannot take back claims in", |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                &format!(
                    "UPDATE git_webhook.jobs SET claimed_by = NULL
                     WHERE state = 'queued' AND claimed_by IS NOT NULL AND {}",
                    gone("claimed_by")
                ),
                &[&lease],
            )?;
            tx.execute(
                &format!(
                    "UPDATE git_webhook.lanes SET holder = NULL
                     WHERE holder IS NOT NULL AND {}",
                    gone("holder")
                ),
                &[&lease],
            )?;
            tx.commit()?;
            Ok(n)
        })?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn mark(&self) -> Result<u64, QueueError> {
        self.run("cannot read the queue's mark in", |c| {
            c.query_one("SELECT last_value FROM git_webhook.job_order", &[])
        })
        .map(|r| super::unms(r.get(0)))
    }
}

/// Removes the oldest waiting jobs of `repo` so that `incoming` more stay within `max`.
fn make_room(
    tx: &mut postgres::Transaction<'_>,
    repo: &str,
    incoming: usize,
    max: usize,
) -> Result<Enqueued, postgres::Error> {
    let queued: i64 = tx
        .query_one(
            "SELECT count(*) FROM git_webhook.jobs WHERE state = 'queued' AND repo = $1",
            &[&repo],
        )?
        .get(0);
    let after = usize::try_from(queued).unwrap_or(0) + incoming;
    let over = i64::try_from(after.saturating_sub(max)).unwrap_or(i64::MAX);
    if over == 0 {
        return Ok(Enqueued {
            waiting: after,
            evicted: Vec::new(),
        });
    }
    let rows = tx.query(
        "DELETE FROM git_webhook.jobs WHERE id IN (
           SELECT id FROM git_webhook.jobs
           WHERE state = 'queued' AND claimed_by IS NULL AND repo = $1
           ORDER BY seq LIMIT $2)
         RETURNING job",
        &[&repo, &over],
    )?;
    let evicted: Vec<Job> = rows.iter().filter_map(|r| job_of(r).ok()).collect();
    Ok(Enqueued {
        waiting: after - evicted.len(),
        evicted,
    })
}
