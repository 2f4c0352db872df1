//! The server-wide workers, one process for every repository: `deliver --watch` on a database
//! queue (every repository in the database), and `deliver --watch --all DIR` on file spools (every
//! repository below DIR, found by a scan and told of pushes by their hooks). Each repository's
//! round uses that repository's own configuration (or `--config`'s); a repository this host cannot
//! read is said once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::deliver::{start_metrics, How};
use super::{Context, Repository, Unusable};
use crate::cli::RepoArgs;
use crate::delivery::admin::Admin as _;
use crate::delivery::local::{move_jobs, Local};
use crate::delivery::metrics::{Gauges, Metered};
use crate::delivery::postgres::Postgres;
use crate::delivery::queue::{Filter, Queue};
use crate::delivery::shared::{self, Everyone};
use crate::delivery::spool::{self, Spool, Spools};
use crate::delivery::summary::Summary;
use crate::delivery::tree::{Roster, Tree};
use crate::delivery::{serve, Pass};
use crate::env::HookEnv;
use crate::error::{chain, CommandError};
use crate::notice::Notice;

/// Repositories this worker could not read, said once each.
#[derive(Default)]
struct Said(Mutex<HashSet<PathBuf>>);

impl Said {
    /// The round of a repository that cannot be opened: its reason the first time, then nothing.
    fn unusable(&self, git_dir: &Path, e: &Unusable) -> Option<Summary> {
        let first = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(git_dir.to_path_buf());
        first.then(|| Summary {
            notices: vec![Notice::RepositoryUnusable(format!(
                "{}: {}; its webhooks wait for a worker that can read it",
                git_dir.display(),
                chain(e)
            ))],
            ..Summary::default()
        })
    }
}

/// `deliver --watch` with a database queue: every repository's jobs there, from any host that can
/// read the repository; `max_parallel` (the server-wide configuration's) repositories at once.
pub(super) fn serve_database(
    at: &RepoArgs,
    queue: &Postgres,
    how: &How,
    max_parallel: usize,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let scrape = queue.clone();
    let gauges: Gauges = Box::new(move || scrape.counts_by_repo(&Filter::default()));
    let metrics = start_metrics(how, gauges)?;
    let (env, clock) = (ctx.env, ctx.clock);
    let said = Said::default();
    let round = |git_dir: &Path| -> Option<Summary> {
        let scoped = &queue.scoped(Some(git_dir));
        let found = match Repository::at(git_dir, at.config.as_deref(), env) {
            Ok(found) => found,
            Err(e) => return said.unusable(git_dir, &e),
        };
        let ref_moved = found.ref_moved();
        let metered;
        let queue: &dyn Queue = match &metrics {
            Some(m) => {
                metered = Metered {
                    inner: scoped,
                    metrics: m,
                    clock,
                };
                &metered
            }
            None => scoped,
        };
        let pass = Pass {
            queue,
            lanes: scoped,
            config: found.config(),
            repo: git_dir,
            ref_moved: &ref_moved,
            clock,
            ignore_schedule: how.now,
        };
        Some(pass.run())
    };
    serve::serve(&Everyone(queue), &round, max_parallel, clock, ctx.out);
    Ok(())
}

/// Repositories with their spools' places, as the last scan found them.
type Seen = Arc<Mutex<Vec<(String, Vec<PathBuf>)>>>;

/// Finds the repositories below a directory and their spools, as their configuration says.
struct Finder<'a> {
    config: Option<&'a Path>,
    env: &'a HookEnv,
    /// The last scan's repositories and spools, for the metrics' gauges.
    seen: Seen,
}

impl Finder<'_> {
    /// A repository's spools (`Some(vec![])` when it cannot be opened, so that its round says why),
    /// or `None` when it has no configuration (it sends nothing).
    fn spools_of(&self, git_dir: &Path) -> Option<(PathBuf, Vec<PathBuf>)> {
        match Repository::at(git_dir, self.config, self.env) {
            Ok(found) => {
                let spools = vec![
                    spool::path_for(found.config(), git_dir),
                    spool::fallback_for(&found.id, &self.env.temp_dir),
                ];
                Some((found.id, spools))
            }
            Err(Unusable::NotConfigured(_)) => None,
            Err(_) => Some((
                git_dir.canonicalize().unwrap_or_else(|_| git_dir.into()),
                Vec::new(),
            )),
        }
    }
}

impl Roster for Finder<'_> {
    fn scan(&self, root: &Path) -> Vec<(PathBuf, Vec<PathBuf>)> {
        let mut found = Vec::new();
        super::install::find_repos(root, 0, &mut found);
        let repos: Vec<(PathBuf, Vec<PathBuf>)> =
            found.iter().filter_map(|g| self.spools_of(g)).collect();
        if let Ok(mut seen) = self.seen.lock() {
            *seen = repos
                .iter()
                .map(|(r, s)| (r.display().to_string(), s.clone()))
                .collect();
        }
        repos
    }

    fn spools(&self, repo: &Path) -> Option<Vec<PathBuf>> {
        self.spools_of(repo).map(|(_, spools)| spools)
    }
}

/// `deliver --watch --all DIR`: one worker for every repository below DIR on file spools (a
/// repository whose queue is a database has what its spools kept moved there), picking up new ones,
/// told of pushes by the hooks through `DIR/.git-webhook.sock`.
pub fn serve_all(
    dir: &Path,
    at: &RepoArgs,
    how: &How,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let (env, clock) = (ctx.env, ctx.clock);
    let dir = dir
        .canonicalize()
        .map_err(|e| CommandError::user(format!("cannot serve {}: {e}", dir.display())))?;
    let seen: Seen = Arc::default();
    let finder = Finder {
        config: at.config.as_deref(),
        env,
        seen: Arc::clone(&seen),
    };
    let tree = Tree::bind(&dir, &finder).map_err(|e| {
        CommandError::user(e).hint("one worker serves a directory; stop the other first")
    })?;
    let unique = clock.uuid().simple().to_string();
    let gauges: Gauges = Box::new(move || {
        let listed = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let spools = listed
            .into_iter()
            .map(|(repo, roots)| {
                let open = roots
                    .iter()
                    .filter_map(|r| Spool::existing(r, &unique))
                    .collect();
                (repo, open)
            })
            .collect();
        Spools { spools }.counts(&Filter::default())
    });
    let metrics = start_metrics(how, gauges)?;
    let said = Said::default();
    let round = |git_dir: &Path| -> Option<Summary> {
        let found = match Repository::at(git_dir, at.config.as_deref(), env) {
            Ok(found) => found,
            Err(e) => return said.unusable(git_dir, &e),
        };
        let events = found.events(env);
        let opened = Local::open(
            &found.git_dir,
            &found.id,
            (found.config(), env, clock),
            &events,
        );
        let local = match opened {
            Ok(local) => local,
            Err(e) => {
                let mut summary = Summary::default();
                summary.notices.push(Notice::QueueProblem(chain(&e)));
                summary.troubled = true;
                return Some(summary);
            }
        };
        let Some(db) = found.config().delivery.queue.database() else {
            let ref_moved = found.ref_moved();
            return Some(local.round(&ref_moved, how.now, metrics.as_ref()));
        };
        // Its queue is the database: what its spools kept goes there, for the database's workers.
        let mut summary = Summary::default();
        let opened = shared::open(db, env, clock).map(|q| q.scoped(Some(&found.id)));
        match opened {
            Ok(queue) => {
                let _ = local.intake(&queue, &mut |n| summary.notices.push(n));
                for spool in local.spools() {
                    if let Err(e) = move_jobs(spool, &queue) {
                        summary.notices.push(Notice::QueueProblem(chain(&e)));
                        summary.troubled = true;
                    }
                }
            }
            Err(e) => {
                summary.notices.push(Notice::QueueProblem(chain(&e)));
                summary.troubled = true;
            }
        }
        Some(summary)
    };
    // How many repositories at once: the server-wide file's `max_parallel`.
    let server = crate::config::load_server(at.config.as_deref(), env)
        .ok()
        .flatten();
    let max_parallel = server.map_or(crate::config::Delivery::default().max_parallel, |l| {
        l.config.delivery.max_parallel
    });
    serve::serve(&tree, &round, max_parallel, clock, ctx.out);
    Ok(())
}
