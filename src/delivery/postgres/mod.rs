//! The shared queue: a PostgreSQL database ([`crate::config::Database`]) that hooks on any host add
//! jobs to and workers on any host claim from. A claim is a row naming its worker; a worker shows it
//! lives by a heartbeat in `git_webhook.workers`, and the claims and endpoint lanes of a worker not
//! seen for `queue_lease` are taken back. Jobs are added in one transaction per push, with a
//! `NOTIFY git_webhook` that wakes the workers listening.

mod admin;
mod connect;
mod lanes;
mod log;
pub mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use postgres::Client;

use super::admin::Counts;
use super::job::Job;
use super::queue::{Filter, QueueError};
use crate::config::Database;
use connect::Conn;
pub use connect::{words, DbError};

/// The channel workers listen on.
pub const CHANNEL: &str = "git_webhook";
/// How often the delivery log and finished jobs are pruned, at most.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Milliseconds as the database keeps them.
fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn unms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The connection and this process as a worker, shared by every repository's view.
struct Db {
    settings: Database,
    user: Option<String>,
    /// Idle connections: each operation takes one (or opens one), so that threads sending to
    /// different endpoints do not wait for each other's statements.
    idle: Mutex<Vec<Conn>>,
    /// This process's name as a worker: `<host>-<pid>-<random>`.
    name: String,
    host: String,
    registered: OnceLock<()>,
    /// Made at the first TLS connection.
    tls: OnceLock<tokio_postgres_rustls::MakeRustlsConnect>,
    pruned: Mutex<Option<Instant>>,
    recovered: Mutex<Option<Instant>>,
}

/// The database queue, seen from one repository (`repo`), or from all of them.
#[derive(Clone)]
pub struct Postgres {
    db: Arc<Db>,
    repo: Option<String>,
}

/// Given back when dropped: the endpoint lanes this worker holds.
struct HeldLanes {
    db: Arc<Db>,
    keys: Vec<String>,
}

impl Drop for HeldLanes {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let _ = self.db.run(|c| {
            c.execute(
                "UPDATE git_webhook.lanes SET holder = NULL WHERE key = ANY($1) AND holder = $2",
                &[&self.keys, &self.db.name],
            )
        });
    }
}

impl Drop for Db {
    /// A worker that ends cleanly gives its lanes back at once (its claims are all settled).
    fn drop(&mut self) {
        if self.registered.get().is_some() {
            let _ = self.run(|c| {
                c.execute(
                    "UPDATE git_webhook.lanes SET holder = NULL WHERE holder = $1",
                    &[&self.name],
                )?;
                c.execute(
                    "DELETE FROM git_webhook.workers WHERE name = $1",
                    &[&self.name],
                )
            });
        }
    }
}

impl Db {
    fn connect(&self) -> Result<Client, DbError> {
        connect::connect(&self.settings, self.user.as_deref(), &self.tls)
    }

    /// Runs `f` on an idle connection, or a new one; a connection found broken is dropped (and `f`
    /// tried once more on a new one).
    fn run<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, DbError> {
        let idle = || self.idle.lock().unwrap_or_else(|p| p.into_inner());
        for fresh in [false, true] {
            let reused = if fresh { None } else { idle().pop() };
            let mut client = match reused {
                Some(c) if !c.is_closed() => c,
                _ => self.connect()?.into(),
            };
            match f(&mut client) {
                Ok(v) => {
                    idle().push(client);
                    return Ok(v);
                }
                Err(e) if !fresh && (e.is_closed() || client.is_closed()) => {
                    idle().clear(); // The others are likely broken too (a restart).
                }
                Err(e) => {
                    if !client.is_closed() {
                        idle().push(client);
                    }
                    return Err(DbError::Query {
                        url: self.settings.shown.clone(),
                        message: words(&e),
                    });
                }
            }
        }
        Err(DbError::Query {
            url: self.settings.shown.clone(),
            message: "the connection keeps closing".to_owned(),
        })
    }

    /// Makes this process a worker (before its first claim), and keeps it alive with a heartbeat
    /// while the queue is in use.
    fn register(self: &Arc<Db>) -> Result<(), DbError> {
        if self.registered.get().is_some() {
            return Ok(());
        }
        self.run(|c| {
            c.execute(
                "INSERT INTO git_webhook.workers (name, host, pid) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET seen = now()",
                &[
                    &self.name,
                    &self.host,
                    &i32::try_from(std::process::id()).unwrap_or(0),
                ],
            )
        })?;
        if self.registered.set(()).is_ok() {
            let weak: Weak<Db> = Arc::downgrade(self);
            let every = self.settings.lease / 3;
            std::thread::spawn(move || heartbeat(&weak, every));
        }
        Ok(())
    }

    fn lease_secs(&self) -> f64 {
        self.settings.lease.as_secs_f64()
    }
}

fn heartbeat(db: &Weak<Db>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(db) = db.upgrade() else { return };
        let _ = db.run(|c| {
            c.execute(
                "UPDATE git_webhook.workers SET seen = now() WHERE name = $1",
                &[&db.name],
            )
        });
    }
}

fn failed(what: &'static str) -> impl Fn(DbError) -> QueueError {
    move |e| QueueError {
        what,
        place: "the database".to_owned(),
        source: Box::new(e),
    }
}

/// The job a row holds, or what is wrong with it.
fn job_of(row: &postgres::Row) -> Result<Job, String> {
    // Straight from the stored bytes, with no `serde_json::Value` in between; the error is the
    // decoder's (what is wrong with the job), not the column's.
    use postgres::types::Json;
    row.try_get::<_, Json<Job>>("job")
        .map(|Json(job)| job)
        .map_err(|e| std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string()))
}

fn json(job: &Job) -> serde_json::Value {
    serde_json::to_value(job).unwrap_or_default()
}

impl Postgres {
    /// Connects, and creates or migrates the schema when it is behind; `user`: the login to use
    /// when the URL names none; `unique` makes this process's worker name.
    pub fn open(
        settings: &Database,
        user: Option<&str>,
        host: &str,
        unique: &str,
    ) -> Result<Postgres, QueueError> {
        let db = Arc::new(Db {
            settings: settings.clone(),
            user: user.map(str::to_owned),
            idle: Mutex::new(Vec::new()),
            name: format!("{host}-{}-{unique}", std::process::id()),
            host: host.to_owned(),
            registered: OnceLock::new(),
            tls: OnceLock::new(),
            pruned: Mutex::new(None),
            recovered: Mutex::new(None),
        });
        let behind = db
            .run(|c| schema::version(c).map(|v| v < schema::VERSION))
            .map_err(failed("cannot open the queue in"))?;
        if behind {
            let mut client = db.connect().map_err(failed("cannot migrate"))?;
            schema::migrate(&mut client).map_err(|e| QueueError {
                what: "cannot migrate the queue schema in",
                place: settings.shown.clone(),
                source: Box::new(e),
            })?;
        }
        Ok(Postgres { db, repo: None })
    }

    /// The same queue seen from one repository (its canonical git directory), or from all.
    pub fn scoped(&self, repo: Option<&Path>) -> Postgres {
        Postgres {
            db: Arc::clone(&self.db),
            repo: repo.map(|r| r.display().to_string()),
        }
    }

    fn run<T>(
        &self,
        what: &'static str,
        f: impl FnMut(&mut Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, QueueError> {
        self.db.run(f).map_err(failed(what))
    }

    /// The schema's version and how many jobs wait, for `config check`.
    pub fn describe(&self) -> Result<(i32, i64), QueueError> {
        self.run("cannot read the queue in", |c| {
            let v = schema::version(c)?;
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM git_webhook.jobs WHERE state = 'queued'",
                    &[],
                )?
                .get(0);
            Ok((v, n))
        })
    }

    /// The repositories with waiting jobs that no other live worker is serving now (holding one of
    /// their lanes), each with when its first one is due; in an order of this worker's own, so that
    /// workers starting together begin with different repositories. Through `jobs_due`: one probe
    /// for the next repository, and one for its first job due, however many jobs wait.
    pub fn repos_waiting(&self) -> Result<Vec<(String, u64)>, QueueError> {
        let lease = self.db.lease_secs();
        self.run("cannot list the repositories in", |c| {
            let rows = c.query(
                &format!(
                    "WITH RECURSIVE busy AS (
                       SELECT DISTINCT split_part(key, E'\\n', 1) AS repo FROM git_webhook.lanes
                       WHERE holder IS NOT NULL AND holder <> $2 AND NOT {}),
                     repos AS (
                       (SELECT repo FROM git_webhook.jobs WHERE state = 'queued'
                        ORDER BY repo LIMIT 1)
                       UNION ALL
                       SELECT (SELECT j.repo FROM git_webhook.jobs j
                               WHERE j.state = 'queued' AND j.repo > r.repo
                               ORDER BY j.repo LIMIT 1)
                       FROM repos r WHERE r.repo IS NOT NULL)
                     SELECT r.repo, due.next_ms FROM repos r
                     CROSS JOIN LATERAL (
                       SELECT next_ms FROM git_webhook.jobs j
                       WHERE j.state = 'queued' AND j.repo = r.repo AND j.claimed_by IS NULL
                         AND {OURS}
                       ORDER BY next_ms LIMIT 1) due
                     WHERE r.repo NOT IN (SELECT repo FROM busy)
                     ORDER BY md5(r.repo || $2)",
                    queue_impl::gone("holder")
                ),
                &[&lease, &self.db.name],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), unms(r.get(1)))).collect())
        })
    }

    /// The counts of every repository with jobs that pass `filter`'s repository and endpoint
    /// (seen from one repository: of that one).
    pub fn counts_by_repo(&self, filter: &Filter) -> Result<Vec<(String, Counts)>, QueueError> {
        let mut rows = self.run("cannot count the jobs in", |c| {
            let rows = c.query(
                &format!(
                    "SELECT repo, {COUNTS} FROM git_webhook.jobs
                     WHERE ($1::text IS NULL OR strpos(repo, $1) > 0)
                       AND ($2::text IS NULL OR strpos(endpoint, $2) > 0)
                       AND ($3::text IS NULL OR repo = $3)
                     GROUP BY repo ORDER BY repo"
                ),
                &[&filter.repo, &filter.endpoint, &self.repo],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), counts(r, 1))).collect())
        })?;
        let failing = crate::delivery::admin::Admin::failing(self, filter)?;
        crate::delivery::admin::add_paused(&mut rows, &failing);
        Ok(rows)
    }

    /// The workers seen within a lease: name and seconds since their last sign of life.
    pub fn workers(&self) -> Result<Vec<(String, f64)>, QueueError> {
        let lease = self.db.lease_secs();
        self.run("cannot list the workers in", |c| {
            let rows = c.query(
                "SELECT name, extract(epoch FROM now() - seen)::float8 FROM git_webhook.workers
                 WHERE seen > now() - make_interval(secs => $1) ORDER BY name",
                &[&lease],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// A connection of its own that listens for new jobs.
    pub fn listen(&self) -> Result<Client, QueueError> {
        let mut client = self.db.connect().map_err(failed("cannot listen on"))?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| QueueError {
                what: "cannot listen on",
                place: self.db.settings.shown.clone(),
                source: words(&e).into(),
            })?;
        Ok(client)
    }
}

/// A job of the version this program reads (those of another are left for the program that
/// wrote them, and counted as damaged here).
const OURS: &str = "schema = 1";
const _: () = assert!(
    super::job::SCHEMA == 1,
    "OURS and COUNTS name the job schema"
);

/// The counts of [`Counts`], as SQL over `git_webhook.jobs`.
const COUNTS: &str = "
    count(*) FILTER (WHERE state = 'queued' AND claimed_by IS NULL AND attempts = 0
                     AND schema = 1),
    count(*) FILTER (WHERE state = 'queued' AND claimed_by IS NULL AND attempts > 0
                     AND schema = 1),
    count(*) FILTER (WHERE state = 'queued' AND claimed_by IS NOT NULL),
    count(*) FILTER (WHERE state = 'dead'),
    count(*) FILTER (WHERE state = 'queued' AND schema <> 1),
    min(created_ms) FILTER (WHERE state = 'queued')";

fn counts(row: &postgres::Row, from: usize) -> Counts {
    let n = |i: usize| usize::try_from(row.get::<_, i64>(from + i)).unwrap_or(0);
    Counts {
        pending: n(0),
        retrying: n(1),
        in_flight: n(2),
        dead: n(3),
        recorded: 0,
        damaged: n(4),
        paused: 0,
        oldest_ms: row.get::<_, Option<i64>>(from + 5).map(unms),
    }
}

mod queue_impl;
