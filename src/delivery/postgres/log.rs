//! The delivery log in the database (`git_webhook.attempts`): records added, in one statement with
//! the settling of their jobs or alone, and read back through a filter.

use postgres::types::ToSql;

use super::{ms, unms, Postgres};
use crate::delivery::job::{Outcome, Record};
use crate::delivery::queue::{Filter, Log, QueueError};

/// The statement that adds records to the delivery log, from the arrays of [`LogRows::params`]
/// numbered from `from` on.
pub(super) fn insert_attempts(from: usize) -> String {
    let types = [
        "int8", "text", "uuid", "uuid", "text", "text", "text", "int4", "text", "int4", "int8",
        "text", "int8",
    ];
    let arrays: Vec<String> = (from..)
        .zip(types)
        .map(|(n, t)| format!("${n}::{t}[]"))
        .collect();
    format!(
        "INSERT INTO git_webhook.attempts (time_ms, repo, job, event, refname, endpoint, format,
           attempt, outcome, status, duration_ms, error, next_ms)
         SELECT * FROM unnest({})",
        arrays.join(", ")
    )
}

/// Log records as the database keeps them, one array per column.
#[derive(Default)]
pub(super) struct LogRows<'a> {
    time_ms: Vec<i64>,
    repo: Vec<Option<&'a str>>,
    job: Vec<uuid::Uuid>,
    event: Vec<uuid::Uuid>,
    refname: Vec<&'a str>,
    endpoint: Vec<&'a str>,
    format: Vec<&'a str>,
    attempt: Vec<i32>,
    outcome: Vec<&'static str>,
    status: Vec<Option<i32>>,
    duration_ms: Vec<Option<i64>>,
    error: Vec<Option<&'a str>>,
    next_ms: Vec<Option<i64>>,
}

impl<'a> LogRows<'a> {
    pub(super) fn of(records: impl IntoIterator<Item = &'a Record>) -> LogRows<'a> {
        let mut rows = LogRows::default();
        for r in records {
            rows.time_ms.push(ms(r.time_ms));
            rows.repo.push(r.repo.as_deref());
            rows.job.push(r.job);
            rows.event.push(r.event);
            rows.refname.push(&r.refname);
            rows.endpoint.push(&r.endpoint);
            rows.format.push(&r.format);
            rows.attempt
                .push(i32::try_from(r.attempt).unwrap_or(i32::MAX));
            rows.outcome.push(r.outcome.as_str());
            rows.status.push(r.status.map(i32::from));
            rows.duration_ms.push(r.duration_ms.map(ms));
            rows.error.push(r.error.as_deref());
            rows.next_ms.push(r.next_ms.map(ms));
        }
        rows
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.time_ms,
            &self.repo,
            &self.job,
            &self.event,
            &self.refname,
            &self.endpoint,
            &self.format,
            &self.attempt,
            &self.outcome,
            &self.status,
            &self.duration_ms,
            &self.error,
            &self.next_ms,
        ]
    }
}

impl Log for Postgres {
    fn append(&self, r: &Record) -> Result<(), QueueError> {
        let rows = LogRows::of([r]);
        let sql = insert_attempts(1);
        self.run("cannot log in", |c| c.execute(&sql, &rows.params()))
            .map(drop)
    }

    fn records(&self, filter: &Filter, limit: usize) -> Result<Vec<Record>, QueueError> {
        let outcome = filter.outcome.map(Outcome::as_str);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.run("cannot read the log in", |c| {
            c.query(
                "SELECT time_ms, repo, job, event, refname, endpoint, format, attempt, outcome,
                        status, duration_ms, error, next_ms
                 FROM git_webhook.attempts
                 WHERE ($1::text IS NULL OR repo = $1)
                   AND ($2::text IS NULL OR strpos(repo, $2) > 0)
                   AND ($3::text IS NULL OR strpos(endpoint, $3) > 0)
                   AND ($4::text IS NULL OR outcome = $4)
                   AND ($5::bigint IS NULL OR time_ms >= $5)
                 ORDER BY seq DESC LIMIT $6",
                &[
                    &self.repo,
                    &filter.repo,
                    &filter.endpoint,
                    &outcome,
                    &filter.since_ms.map(ms),
                    &limit,
                ],
            )
        });
        let mut records: Vec<Record> = rows?
            .iter()
            .filter_map(|r| {
                Some(Record {
                    time_ms: unms(r.get(0)),
                    repo: r.get(1),
                    job: r.get(2),
                    event: r.get(3),
                    refname: r.get(4),
                    endpoint: r.get(5),
                    format: r.get(6),
                    attempt: u32::try_from(r.get::<_, i32>(7)).unwrap_or(0),
                    outcome: Outcome::parse(r.get(8))?,
                    status: r
                        .get::<_, Option<i32>>(9)
                        .and_then(|s| u16::try_from(s).ok()),
                    duration_ms: r.get::<_, Option<i64>>(10).map(unms),
                    error: r.get(11),
                    next_ms: r.get::<_, Option<i64>>(12).map(unms),
                })
            })
            .collect();
        records.reverse();
        Ok(records)
    }
}
