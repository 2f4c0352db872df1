//! Delivery through the shared database queue: the hook's hand-over (falling back to the
//! repository's spool when the database cannot be reached), the background mover that brings
//! such jobs into the database once it is back, and the server-wide worker loop.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::job::Job;
use super::postgres::Postgres;
use super::queue::{Queue, QueueError, Settle, Settled};
use super::spool::Spool;
use super::summary::Summary;
use super::worker::{self, Submit, POLL};
use crate::clock::Clock;
use crate::config::{Database, Mode, QueueKind};
use crate::env::HookEnv;
use crate::error::chain;
use crate::notice::Notice;

/// The longest wait between two tries at a database that is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The configuration's database, if its queue is one.
pub fn database(kind: &QueueKind) -> Option<&Database> {
    match kind {
        QueueKind::Postgres(db) => Some(db),
        QueueKind::Spool => None,
    }
}

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

/// Connects as a long-running worker: while the database cannot be reached, says so once and keeps
/// trying.
pub fn open_patiently(
    db: &Database,
    env: &HookEnv,
    clock: &Clock,
    out: &mut dyn Write,
) -> Postgres {
    let mut delay = Duration::from_secs(1);
    let mut said = false;
    loop {
        match open(db, env, clock) {
            Ok(q) => return q,
            Err(e) if !said => {
                let _ = writeln!(
                    out,
                    "{}: {}; trying again",
                    crate::notice::PREFIX,
                    chain(&e)
                );
                let _ = out.flush();
                said = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

/// Queues a push's jobs in the database in one transaction; in `sync` mode sends this repository's
/// due jobs before returning. `Err(jobs)`: the database cannot take them (said), for the spool.
pub fn submit(
    db: &Database,
    jobs: Vec<Job>,
    s: &Submit<'_>,
    say: &mut dyn FnMut(Notice),
) -> Result<(), Vec<Job>> {
    let jobs = worker::of_repo(jobs, s.git_dir);
    let count = jobs.len();
    let repo = s
        .git_dir
        .canonicalize()
        .unwrap_or_else(|_| s.git_dir.to_path_buf());
    let queue = match open(db, s.env, s.clock) {
        Ok(q) => q.scoped(Some(&repo)),
        Err(e) => {
            say(Notice::DatabaseFallback {
                error: chain(&e),
                count,
            });
            return Err(jobs);
        }
    };
    worker::enforce_limit(&queue, s.config, s.clock, count, say);
    if let Err(e) = queue.enqueue(&jobs) {
        say(Notice::DatabaseFallback {
            error: chain(&e),
            count,
        });
        return Err(jobs);
    }
    say(Notice::QueuedShared {
        count,
        location: queue.location(),
    });
    if s.config.delivery.mode == Mode::Sync {
        worker::send_now(&queue, s, say);
    }
    Ok(())
}

/// Moves the jobs waiting in `spool` into `queue`, all in one transaction; returns how many.
fn move_jobs(spool: &Spool, queue: &dyn Queue) -> Result<usize, QueueError> {
    let claims = spool.claim(&spool.waiting());
    let jobs: Vec<Job> = claims.iter().map(|c| c.job.clone()).collect();
    let moved = queue.enqueue(&jobs);
    let how = if moved.is_ok() {
        Settle::Forget
    } else {
        Settle::Retry
    };
    let settled = claims.into_iter().map(|claim| Settled {
        claim,
        how,
        record: None,
    });
    spool.settle(settled.collect())?;
    moved.map(|()| jobs.len())
}

/// The background deliverer of a repository whose queue is a database: turns recorded pushes into
/// jobs (`intake` into the queue it is given) and moves them, with any jobs the hook had to leave
/// in the spool, into the database; while the database cannot be reached, keeps trying (one such
/// waiter per spool) until `give_up` passes.
pub fn hand_over(
    spool: &Spool,
    connect: &dyn Fn() -> Result<Postgres, QueueError>,
    intake: &dyn Fn(&dyn Queue) -> Vec<Notice>,
    give_up: Duration,
) -> Result<(), QueueError> {
    std::thread::sleep(worker::YIELD_TO_PUSH);
    let lock = spool.waiter_lock()?;
    if lock.try_lock().is_err() {
        return Ok(()); // Another deliverer of this spool is at it; it takes these too.
    }
    let deadline = Instant::now() + give_up;
    let mut delay = Duration::from_secs(1);
    loop {
        match connect() {
            Ok(db) => {
                intake(&db);
                if move_jobs(spool, &db).is_ok() && spool.waiting().is_empty() {
                    return Ok(());
                }
            }
            // The walk is done now all the same: the jobs wait here, whole.
            Err(_) => drop(intake(spool)),
        }
        if Instant::now() >= deadline {
            return Ok(());
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

/// What the server-wide worker does with one repository's jobs: a pass over them (with that
/// repository's configuration), or `None` when this host cannot send them.
pub type RepoPass<'a> = &'a dyn Fn(&Path, &Postgres) -> Option<Summary>;

/// `deliver --watch` on a database queue: passes over every repository with jobs due, woken by the
/// database's notifications (or when the next job is due, or once a lease, to take back the claims
/// of workers gone), across database restarts, until the process is stopped.
pub fn serve(queue: &Postgres, pass: RepoPass<'_>, clock: &Clock, out: &mut dyn Write) {
    let tick = Duration::from_secs(5);
    let mut listener: Option<postgres::Client> = None;
    let mut delay = Duration::from_secs(1);
    let mut down = false;
    loop {
        let now = clock.now_ms();
        // Claims of workers gone are taken back first: their repositories then have jobs waiting.
        queue.recover();
        let repos = match queue.repos_waiting() {
            Ok(r) => r,
            Err(e) => {
                if !down {
                    let _ = writeln!(
                        out,
                        "{}: {}; trying again",
                        crate::notice::PREFIX,
                        chain(&e)
                    );
                    down = true;
                }
                listener = None;
                std::thread::sleep(delay);
                delay = (delay * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if std::mem::take(&mut down) {
            let _ = writeln!(out, "{}: the database is back", crate::notice::PREFIX);
        }
        delay = Duration::from_secs(1);
        let mut next: Option<u64> = None;
        let mut wait_for = |due: u64| next = Some(next.map_or(due, |n| n.min(due)));
        for (repo, due) in repos {
            if due > now {
                wait_for(due);
                continue;
            }
            let scoped = queue.scoped(Some(Path::new(&repo)));
            if let Some(summary) = pass(Path::new(&repo), &scoped) {
                for n in &summary.notices {
                    let _ = writeln!(out, "{n}");
                }
                if let Some(d) = summary.next_due_ms {
                    wait_for(d);
                }
            }
        }
        let _ = out.flush();
        // Wait for a notification, the next due job, or a tick; never less than a poll.
        let wait = next.map_or(tick, |n| {
            Duration::from_millis(n.saturating_sub(clock.now_ms())).clamp(POLL, tick)
        });
        if listener.as_ref().is_none_or(postgres::Client::is_closed) {
            listener = queue.listen().ok();
        }
        let broken = match listener.as_mut() {
            Some(l) => {
                use postgres::fallible_iterator::FallibleIterator as _;
                let mut notes = l.notifications();
                let woke = notes.timeout_iter(wait).next();
                // Several pushes' notifications are one wake-up.
                while let Ok(Some(_)) = notes.timeout_iter(Duration::ZERO).next() {}
                woke.is_err()
            }
            None => {
                std::thread::sleep(wait.min(delay));
                false
            }
        };
        if broken {
            listener = None;
        }
    }
}
