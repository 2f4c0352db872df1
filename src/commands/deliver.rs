//! `deliver`: one round over the repository's queue, a `--watch` worker (with a database queue, or
//! `--all DIR`: for every repository, see [`super::worker`]), or the background deliverer the hook
//! starts.

use super::queue::{scope, Scope};
use super::{Context, Repository};
use crate::cli::RepoArgs;
use crate::clock::Clock;
use crate::delivery::admin::{Admin as _, Counts};
use crate::delivery::intake;
use crate::delivery::local::{move_jobs, Local};
use crate::delivery::metrics::{self, Gauges, Metrics};
use crate::delivery::queue::{Filter, Queue, QueueError};
use crate::delivery::shared;
use crate::delivery::spool::Spools;
use crate::delivery::summary::Summary;
use crate::delivery::worker::{self, Run, Worker};
use crate::delivery::Pass;
use crate::env::HookEnv;
use crate::error::{chain, CommandError};
use crate::notice::Notice;

/// The options of `deliver`.
pub struct How {
    pub now: bool,
    pub watch: bool,
    pub background: bool,
    pub metrics: Option<std::net::SocketAddr>,
}

pub(super) fn start_metrics(how: &How, gauges: Gauges) -> Result<Option<Metrics>, CommandError> {
    how.metrics
        .map(|addr| {
            metrics::serve(addr, gauges).map_err(|e| {
                CommandError::user(format!("cannot serve metrics on {addr}: {e}"))
                    .hint("is another worker serving its metrics there?")
            })
        })
        .transpose()
}

/// The spools of a repository, opened for its deliverer.
fn local<'a>(
    found: &'a Repository,
    events: &'a dyn intake::Events,
    env: &HookEnv,
    clock: &'a Clock,
) -> Result<Local<'a>, CommandError> {
    Local::open(
        &found.git_dir,
        &found.id,
        (found.config(), env, clock),
        events,
    )
    .map_err(CommandError::user)
}

/// One round over a repository's spools and a summary line, as `deliver` without options makes
/// it (and `redeliver` after putting jobs back in a spool).
pub(super) fn round_once(found: &Repository, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    let events = found.events(ctx.env);
    let local = local(found, &events, ctx.env, ctx.clock)?;
    let ref_moved = found.ref_moved();
    let round = || local.round(&ref_moved, false, None);
    let counts = || spool_counts(&local);
    let mark = || local.mark();
    let w = Worker {
        round: &round,
        mark: &mark,
        clock: ctx.clock,
    };
    worker::deliver(w, Run::Once, &counts, ctx.out);
    Ok(())
}

/// How many jobs wait in a repository's spools' queues.
fn spool_counts(local: &Local<'_>) -> Result<Counts, QueueError> {
    let mut c = Counts::default();
    for spool in local.spools() {
        c.add(&spool.waiting()?);
    }
    Ok(c)
}

/// `git webhook deliver [--now] [--watch [--metrics ADDR]]`.
pub fn run(at: &RepoArgs, how: How, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    if how.background {
        // Let the push that started it end first, before even the repository is opened: on a small
        // machine the two compete for the CPU.
        std::thread::sleep(crate::delivery::worker::YIELD_TO_PUSH);
    }
    let scope = scope(at, ctx)?;
    let database = scope.config().delivery.queue.database().cloned();
    if let (Some(db), true) = (&database, how.watch) {
        let max_parallel = scope.config().delivery.max_parallel;
        let queue = shared::open_patiently(db, ctx.env, ctx.clock, ctx.out);
        return super::worker::serve_database(at, &queue, &how, max_parallel, ctx);
    }
    let Scope::Repo(found) = scope else {
        return Err(CommandError::user("no repository to deliver for")
            .hint("run inside the repository, or pass --repo DIR"));
    };
    let (env, clock) = (ctx.env, ctx.clock);
    let events = found.events(env);
    let local = local(&found, &events, env, clock)?;
    let ref_moved = found.ref_moved();
    let config = found.config();
    // The database queue as this repository sees it.
    let connect = |db| shared::open(db, env, clock).map(|q| q.scoped(Some(&found.id)));
    let warn = |text: &str| {
        let _ = local.primary.warn(text);
    };
    if let Some(db) = &database {
        if how.background {
            let connect = || connect(db);
            return shared::hand_over(&local, &connect, config.delivery.max_age, &warn)
                .map_err(CommandError::user);
        }
        // One round over this repository's jobs there: its recorded pushes made into jobs there,
        // and the jobs its spools kept while the database was down moved there, first.
        let queue = connect(db).map_err(CommandError::user)?;
        let round = || {
            let mut summary = Summary::default();
            let _ = local.intake(&queue, &mut |n| summary.notices.push(n));
            for spool in local.spools() {
                if let Err(e) = move_jobs(spool, &queue) {
                    summary.notices.push(Notice::QueueProblem(chain(&e)));
                }
            }
            summary.add(
                Pass {
                    queue: &queue,
                    lanes: &queue,
                    config,
                    repo: &found.id,
                    ref_moved: &ref_moved,
                    clock,
                    ignore_schedule: how.now,
                }
                .run(),
            );
            summary
        };
        let counts = || {
            let rows = queue.counts(&Filter::default())?;
            Ok(rows.into_iter().next().map(|(_, c)| c).unwrap_or_default())
        };
        let mark = || queue.mark();
        let w = Worker {
            round: &round,
            mark: &mark,
            clock,
        };
        worker::deliver(w, Run::Once, &counts, ctx.out);
        return Ok(());
    }
    if how.background {
        let lock = local.primary.waiter_lock().map_err(CommandError::user)?;
        let round = || local.round(&ref_moved, how.now, None);
        let mark = || local.mark();
        let w = Worker {
            round: &round,
            mark: &mark,
            clock,
        };
        worker::background(w, &config.delivery, &lock, &warn);
        return Ok(());
    }
    let mut roots = vec![local.primary.root().to_path_buf(), local.fallback.clone()];
    roots.dedup();
    let label = found.git_dir.display().to_string();
    let unique = clock.uuid().simple().to_string();
    let gauges: Gauges = Box::new(move || {
        let spools = roots
            .iter()
            .filter_map(|root| crate::delivery::spool::Spool::existing(root, &unique))
            .collect();
        Spools {
            spools: vec![(label.clone(), spools)],
        }
        .counts(&Filter::default())
    });
    let metrics = if how.watch {
        start_metrics(&how, gauges)?
    } else {
        None
    };
    let round = || local.round(&ref_moved, how.now, metrics.as_ref());
    let counts = || spool_counts(&local);
    let mark = || local.mark();
    let w = Worker {
        round: &round,
        mark: &mark,
        clock,
    };
    let run = if how.watch { Run::Watch } else { Run::Once };
    worker::deliver(w, run, &counts, ctx.out);
    Ok(())
}
