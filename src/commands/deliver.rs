//! `deliver`: one pass over the repository's queue, a `--watch` worker (with a database queue: for
//! every repository), or the background deliverer the hook starts.

use std::path::Path;

use super::{queue::configuration, Context};
use crate::cli::RepoArgs;
use crate::config::{self, Config};
use crate::delivery::metrics::{self, Gauges, Metered, Metrics};
use crate::delivery::pass::{Intake, RefMoved};
use crate::delivery::postgres::Postgres;
use crate::delivery::spool::Spool;
use crate::delivery::summary::Summary;
use crate::delivery::worker::{self, Run};
use crate::delivery::{shared, Pass, Queue};
use crate::error::{chain, CommandError};
use crate::git::Repo;
use crate::notice::Notice;

/// The options of `deliver`.
pub struct How {
    pub now: bool,
    pub watch: bool,
    pub background: bool,
    pub metrics: Option<std::net::SocketAddr>,
}

fn start_metrics(how: &How, gauges: Gauges) -> Result<Option<Metrics>, CommandError> {
    how.metrics
        .map(|addr| {
            metrics::serve(addr, gauges)
                .map_err(|e| CommandError::Failed(format!("cannot serve metrics on {addr}: {e}")))
        })
        .transpose()
}

/// `git webhook deliver [--now] [--watch [--metrics ADDR]]`.
pub fn run(at: &RepoArgs, how: How, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    let (config, found) = configuration(at, ctx)?;
    let database = shared::database(&config.delivery.queue);
    if let (Some(db), true) = (database, how.watch) {
        let queue = shared::open_patiently(db, ctx.env, ctx.clock, ctx.out);
        return serve(at, &queue, &how, config.delivery.max_parallel, ctx);
    }
    let Some((git_dir, repo)) = found else {
        return Err(CommandError::Failed(
            "no repository to deliver for".to_owned(),
        ));
    };
    let spool =
        worker::open(&config, &git_dir, ctx.clock).map_err(|e| CommandError::from_error(&e))?;
    let (env, clock) = (ctx.env, ctx.clock);
    let ref_moved = |refname: &str, new: &str| repo.ref_moved(refname, new);
    let canonical = git_dir.canonicalize().unwrap_or_else(|_| git_dir.clone());
    // The database queue as this repository sees it.
    let connect = |db| shared::open(db, env, clock).map(|q| q.scoped(Some(&canonical)));
    if how.background {
        if let Some(db) = database {
            let intake = |q: &dyn Queue| {
                super::hook::take_recorded(&spool, q, &repo, &git_dir, &config, (env, clock))
            };
            let connect = || connect(db);
            let give_up = config.delivery.max_age;
            return shared::hand_over(&spool, &connect, &intake, give_up)
                .map_err(|e| CommandError::from_error(&e));
        }
        let lock = spool
            .waiter_lock()
            .map_err(|e| CommandError::from_error(&e))?;
        let intake =
            || super::hook::take_recorded(&spool, &spool, &repo, &git_dir, &config, (env, clock));
        worker::background(
            pass_of(
                &spool, &config, &git_dir, &ref_moved, &intake, how.now, clock,
            ),
            &lock,
        );
        return Ok(());
    }
    // With a database queue: this repository's jobs there (its recorded pushes become jobs there).
    let db_queue: Option<Postgres> = database
        .map(connect)
        .transpose()
        .map_err(|e| CommandError::from_error(&e))?;
    let queue: &dyn Queue = match &db_queue {
        Some(q) => q,
        None => &spool,
    };
    let intake =
        || super::hook::take_recorded(&spool, queue, &repo, &git_dir, &config, (env, clock));
    let pass = pass_of(
        queue, &config, &git_dir, &ref_moved, &intake, how.now, clock,
    );
    if !how.watch {
        worker::deliver(pass, Run::Once, ctx.out);
        return Ok(());
    }
    let root = spool.root().to_path_buf();
    let (unique, label) = (
        clock.uuid().simple().to_string(),
        git_dir.display().to_string(),
    );
    let gauges: Gauges = Box::new(move || {
        Spool::open(&root, &unique)
            .map(|s| vec![(label.clone(), s.counts())])
            .unwrap_or_default()
    });
    match start_metrics(&how, gauges)? {
        Some(m) => {
            let metered = Metered {
                inner: queue,
                metrics: &m,
            };
            worker::deliver(
                Pass {
                    queue: &metered,
                    ..pass
                },
                Run::Watch,
                ctx.out,
            );
        }
        None => worker::deliver(pass, Run::Watch, ctx.out),
    }
    Ok(())
}

/// A pass over `queue` with this repository's configuration.
#[allow(clippy::too_many_arguments)]
fn pass_of<'a>(
    queue: &'a dyn Queue,
    config: &'a Config,
    git_dir: &'a Path,
    ref_moved: RefMoved<'a>,
    intake: Intake<'a>,
    now: bool,
    clock: &'a crate::clock::Clock,
) -> Pass<'a> {
    Pass {
        queue,
        config,
        repo: git_dir,
        ref_moved,
        intake,
        clock,
        ignore_schedule: now,
    }
}

/// The server-wide worker: every repository's jobs, each sent with that repository's own
/// configuration (or `--config`'s), from any host that can read the repository; `max_parallel`
/// (the server-wide configuration's) requests at once in all.
fn serve(
    at: &RepoArgs,
    queue: &Postgres,
    how: &How,
    max_parallel: usize,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let scrape = queue.clone();
    let gauges: Gauges = Box::new(move || {
        scrape
            .counts_by_repo(&Default::default())
            .unwrap_or_default()
    });
    let metrics = start_metrics(how, gauges)?;
    let (env, clock) = (ctx.env, ctx.clock);
    // A repository this host cannot read is said once.
    let said = std::sync::Mutex::new(std::collections::HashSet::new());
    let pass = |git_dir: &Path, scoped: &Postgres| -> Option<Summary> {
        let loaded = Repo::open(git_dir, env)
            .map_err(|e| chain(&e))
            .and_then(|repo| {
                match config::load(at.config.as_deref(), env, git_dir, &repo.webhook_config()) {
                    Ok(Some(l)) => Ok((repo, l.config)),
                    Ok(None) => Err("it has no configuration".to_owned()),
                    Err(e) => Err(chain(&e)),
                }
            });
        let (repo, config) = match loaded {
            Ok(found) => found,
            Err(e) => {
                let first = said
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(git_dir.to_path_buf());
                return first.then(|| Summary {
                    notices: vec![Notice::RepositoryUnusable(format!(
                        "{}: {e}; its webhooks wait for a worker that can read it",
                        git_dir.display()
                    ))],
                    ..Summary::default()
                });
            }
        };
        let intake = Vec::new;
        let metered;
        let queue: &dyn Queue = match &metrics {
            Some(m) => {
                metered = Metered {
                    inner: scoped,
                    metrics: m,
                };
                &metered
            }
            None => scoped,
        };
        let ref_moved = |refname: &str, new: &str| repo.ref_moved(refname, new);
        Some(pass_of(queue, &config, git_dir, &ref_moved, &intake, how.now, clock).run())
    };
    shared::serve(queue, &pass, max_parallel, clock, ctx.out);
    Ok(())
}
