//! Delivery through the shared database queue: connecting to it, the background mover that brings
//! the jobs a hook had to leave in the repository's spools into the database once it is back, and
//! the database as the server-wide worker's source ([`super::serve`]).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::local::{move_jobs, Local};
use super::postgres::Postgres;
use super::queue::{Queue as _, QueueError};
use super::serve::Repos;
use super::worker;
use crate::clock::Clock;
use crate::config::Database;
use crate::env::HookEnv;
use crate::error::chain;
use crate::notice::Notice;

/// Connects to the database queue as this process (a worker name from the host and `clock`).
pub fn open(db: &Database, env: &HookEnv, clock: &Clock) -> Result<Postgres, QueueError> {
    let user = env.vars.get("USER").or_else(|| env.vars.get("LOGNAME"));
    Postgres::open(
        db,
        user.map(String::as_str),
        &env.hostname,
        &clock.uuid().simple().to_string()[..8],
    )
}

/// Says, once, that the database cannot be used for now.
fn trying_again(out: &mut dyn Write, e: &QueueError) {
    let _ = writeln!(out, "{}: {}; trying again", crate::notice::PREFIX, chain(e));
    let _ = out.flush();
}

/// Connects as a long-running worker: while the database cannot be reached, says so once and keeps
/// trying.
pub fn open_patiently(
    db: &Database,
    env: &HookEnv,
    clock: &Clock,
    out: &mut dyn Write,
) -> Postgres {
    let mut backoff = Backoff::default();
    let mut said = false;
    loop {
        match open(db, env, clock) {
            Ok(q) => return q,
            Err(e) if !said => {
                trying_again(out, &e);
                said = true;
            }
            Err(_) => {}
        }
        backoff.wait();
    }
}

/// The background deliverer of a repository whose queue is a database: makes recorded pushes into
/// jobs (in the database, or in the spool while it cannot be reached) and moves them, with any jobs
/// the hook had to leave in the spools, into the database; while the database cannot be reached,
/// keeps trying (one such waiter per spool) until `give_up` passes or the spool is gone. What goes
/// wrong goes to `warn` (an outage once, not at every try).
pub fn hand_over(
    local: &Local<'_>,
    connect: &dyn Fn() -> Result<Postgres, QueueError>,
    give_up: Duration,
    warn: &dyn Fn(&str),
) -> Result<(), QueueError> {
    let lock = local.primary.waiter_lock()?;
    if lock.try_lock().is_err() {
        return Ok(()); // Another deliverer of this spool is at it; it takes these too.
    }
    let deadline = Instant::now() + give_up;
    let mut backoff = Backoff::default();
    let mut down = false;
    loop {
        let mut said = Vec::new();
        let mut home = false;
        match connect() {
            Ok(db) => {
                down = false;
                let _ = local.intake(&db, &mut |n| said.push(n));
                home = true;
                for spool in local.spools() {
                    let moved = move_jobs(spool, &db);
                    if let Err(e) = &moved {
                        said.push(Notice::QueueProblem(chain(e)));
                    }
                    home &= moved.is_ok() && spool.is_empty().unwrap_or(false);
                }
            }
            // The walk is done now all the same: the jobs wait in the spool, whole.
            Err(e) => {
                if !std::mem::replace(&mut down, true) {
                    said.push(Notice::QueueProblem(format!(
                        "{}; the webhooks wait in the spool, and move to the database when it is back",
                        chain(&e)
                    )));
                }
                let _ = local.intake(&local.primary, &mut |n| said.push(n));
            }
        }
        worker::warn_of(&said, local.clock, warn);
        // A spool removed with its repository holds nothing more to move.
        if home || local.gone() || Instant::now() >= deadline {
            return Ok(());
        }
        backoff.wait();
    }
}

/// The database as the server-wide worker's source: every repository with jobs waiting there that
/// no other worker is serving (claims of workers gone taken back first), woken by its
/// notifications.
pub struct Everyone<'a>(pub &'a Postgres);

impl Repos for Everyone<'_> {
    fn waiting(&self) -> Result<Vec<(PathBuf, u64)>, QueueError> {
        self.0.recover()?;
        Ok(self
            .0
            .repos_waiting()?
            .into_iter()
            .map(|(repo, due)| (PathBuf::from(repo), due))
            .collect())
    }

    /// On a connection of its own, reconnecting after a database restart.
    fn listen(&self, wake: &dyn Fn() -> bool) {
        use postgres::fallible_iterator::FallibleIterator as _;
        let mut backoff = Backoff::default();
        loop {
            if let Ok(mut client) = self.0.listen() {
                backoff.reset();
                let mut notes = client.notifications();
                let mut heard = notes.blocking_iter();
                while let Ok(Some(_)) = heard.next() {
                    if !wake() {
                        return;
                    }
                }
            }
            backoff.wait();
        }
    }

    fn back(&self) -> String {
        "the database is back".to_owned()
    }
}
