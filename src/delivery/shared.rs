//! Delivery through the shared database queue: connecting to it, the background mover that brings
//! the jobs a hook had to leave in the repository's spools into the database once it is back, and
//! the server-wide worker loop.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::local::{move_jobs, Local};
use super::postgres::Postgres;
use super::queue::{Queue as _, QueueError};
use super::summary::Summary;
use super::worker::{self, POLL};
use crate::clock::Clock;
use crate::config::Database;
use crate::env::HookEnv;
use crate::error::chain;

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
/// keeps trying (one such waiter per spool) until `give_up` passes.
pub fn hand_over(
    local: &Local<'_>,
    connect: &dyn Fn() -> Result<Postgres, QueueError>,
    give_up: Duration,
) -> Result<(), QueueError> {
    std::thread::sleep(worker::YIELD_TO_PUSH);
    let lock = local.primary.waiter_lock()?;
    if lock.try_lock().is_err() {
        return Ok(()); // Another deliverer of this spool is at it; it takes these too.
    }
    let deadline = Instant::now() + give_up;
    let mut backoff = Backoff::default();
    loop {
        match connect() {
            Ok(db) => {
                let _ = local.intake(&db, &mut drop);
                let mut home = true;
                for spool in local.spools() {
                    home &= move_jobs(spool, &db).is_ok() && spool.is_empty().unwrap_or(false);
                }
                if home {
                    return Ok(());
                }
            }
            // The walk is done now all the same: the jobs wait in the spool, whole.
            Err(_) => {
                let _ = local.intake(&local.primary, &mut drop);
            }
        }
        if Instant::now() >= deadline {
            return Ok(());
        }
        backoff.wait();
    }
}

/// What the server-wide worker does with one repository's jobs: a pass over them (with that
/// repository's configuration), or `None` when this host cannot send them.
pub type RepoPass<'a> = &'a (dyn Fn(&Path, &Postgres) -> Option<Summary> + Sync);

/// What wakes the server-wide worker.
enum Wake {
    /// Jobs were added (a notification from the database).
    Added,
    /// A repository's pass ended, with what it did (`None`: this host cannot send its jobs).
    Done(String, Option<Summary>),
}

/// Listens for new jobs on a connection of its own, reconnecting after a database restart, until
/// the worker's loop is gone.
fn listen(queue: &Postgres, wake: &mpsc::Sender<Wake>) {
    use postgres::fallible_iterator::FallibleIterator as _;
    let mut backoff = Backoff::default();
    loop {
        if let Ok(mut client) = queue.listen() {
            backoff.reset();
            let mut notes = client.notifications();
            let mut heard = notes.blocking_iter();
            while let Ok(Some(_)) = heard.next() {
                if wake.send(Wake::Added).is_err() {
                    return;
                }
            }
        }
        backoff.wait();
    }
}

/// `deliver --watch` on a database queue: a pass over each repository with jobs due, up to
/// `max_parallel` repositories at once, each in a thread of its own (a receiver that hangs for one
/// holds up no other); woken by the database's notifications, a pass's end, the next job due, or
/// once a lease (to take back the claims of workers gone); across database restarts, until the
/// process is stopped.
pub fn serve(
    queue: &Postgres,
    pass: RepoPass<'_>,
    max_parallel: usize,
    clock: &Clock,
    out: &mut dyn Write,
) {
    let tick = Duration::from_secs(5);
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let (poll_ms, tick_ms) = (ms(POLL), ms(tick));
    let (wake, woken) = mpsc::channel::<Wake>();
    std::thread::scope(|scope| {
        let listening = wake.clone();
        scope.spawn(move || listen(queue, &listening));
        // Repositories being sent, and those to leave alone until then (their last pass found jobs
        // it could not send yet: another worker's lane, a ref that has not moved).
        let mut busy: HashSet<String> = HashSet::new();
        let mut rest: HashMap<String, u64> = HashMap::new();
        let mut backoff = Backoff::default();
        let mut down = false;
        loop {
            // Claims of workers gone are taken back first: their repositories then have jobs waiting.
            let repos = queue.recover().and_then(|_| queue.repos_waiting());
            let repos = match repos {
                Ok(r) => r,
                Err(e) => {
                    if !std::mem::replace(&mut down, true) {
                        trying_again(out, &e);
                    }
                    backoff.wait();
                    continue;
                }
            };
            if std::mem::take(&mut down) {
                let _ = writeln!(out, "{}: the database is back", crate::notice::PREFIX);
            }
            backoff.reset();
            let now = clock.now_ms();
            let mut next: Option<u64> = None;
            for (repo, due) in repos {
                let due = due.max(rest.get(&repo).copied().unwrap_or(0));
                if busy.contains(&repo) || busy.len() >= max_parallel.max(1) {
                    continue; // Its pass's end (or another's) wakes this loop.
                }
                if due > now {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                busy.insert(repo.clone());
                let done = wake.clone();
                scope.spawn(move || {
                    let summary = pass(Path::new(&repo), &queue.scoped(Some(Path::new(&repo))));
                    let _ = done.send(Wake::Done(repo, summary));
                });
            }
            let _ = out.flush();
            // Wait for a notification, a pass's end, the next due job, or a tick.
            let wait = next.map_or(tick, |n| {
                Duration::from_millis(n.saturating_sub(clock.now_ms())).clamp(POLL, tick)
            });
            let first = woken.recv_timeout(wait).ok();
            for w in first
                .into_iter()
                .chain(std::iter::from_fn(|| woken.try_recv().ok()))
            {
                let Wake::Done(repo, summary) = w else {
                    continue;
                };
                busy.remove(&repo);
                let now = clock.now_ms();
                let Some(summary) = summary else {
                    // This host cannot send its jobs (said once): looked at again after a tick.
                    rest.insert(repo, now + tick_ms);
                    continue;
                };
                for n in &summary.notices {
                    let _ = writeln!(out, "{n}");
                }
                // Jobs it could not send yet, a pass that got nothing done, or one the queue failed:
                // looked at again after a poll (or a tick), not at once.
                if summary.troubled {
                    rest.insert(repo, now + tick_ms);
                } else if summary.idle() || summary.next_due_ms.is_some_and(|d| d <= now + poll_ms)
                {
                    rest.insert(repo, now + poll_ms);
                } else {
                    rest.remove(&repo);
                }
            }
        }
    });
}
