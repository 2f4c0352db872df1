//! The queues `status`, `log` and `redeliver` look into: one repository's file spool, those of every
//! repository below a directory (`--all`), or the shared database; and `queue migrate`.

use std::path::{Path, PathBuf};

use super::{load_config, open_repo, Context};
use crate::cli::{RepoArgs, Select};
use crate::config::{self, Config};
use crate::delivery::job::Job;
use crate::delivery::postgres::{schema, Postgres};
use crate::delivery::queue::Filter;
use crate::delivery::spool::{self, Spool};
use crate::delivery::{shared, worker, Outcome, Queue};
use crate::error::CommandError;
use crate::git::Repo;

/// A repository with its configuration and spool.
pub(super) struct Local {
    pub(super) git_dir: PathBuf,
    pub(super) repo: Repo,
    pub(super) config: Config,
    pub(super) spool: Spool,
}

/// The queues a command looks into.
pub(super) enum View {
    /// One repository's spool (`wide`: false), or those of every repository below a directory.
    Spools {
        locals: Vec<Local>,
        wide: bool,
    },
    Database(Postgres),
}

/// The configuration of the repository `--repo` (or the current directory) names, or else, outside
/// any repository, the server-wide one if it names a database queue.
pub(super) fn configuration(
    at: &RepoArgs,
    ctx: &mut Context<'_>,
) -> Result<(Config, Option<(PathBuf, Repo)>), CommandError> {
    match open_repo(at, ctx.env) {
        Ok((git_dir, repo)) => {
            let loaded = load_config(at, ctx.env, &git_dir, &repo, ctx)?;
            Ok((loaded.config, Some((git_dir, repo))))
        }
        Err(e) => match config::load_server(at.config.as_deref(), ctx.env) {
            Ok(Some(l)) if shared::database(&l.config.delivery.queue).is_some() => {
                Ok((l.config, None))
            }
            _ => Err(e),
        },
    }
}

fn every_spool(dir: &Path, at: &RepoArgs, ctx: &Context<'_>) -> Vec<Local> {
    let mut found = Vec::new();
    super::install::find_repos(dir, 0, &mut found);
    let mut roots = std::collections::HashSet::new();
    let mut locals = Vec::new();
    for git_dir in found {
        let Ok(repo) = Repo::open(&git_dir, ctx.env) else {
            continue;
        };
        let Ok(Some(loaded)) = config::load(
            at.config.as_deref(),
            ctx.env,
            &git_dir,
            &repo.webhook_config(),
        ) else {
            continue;
        };
        let root = spool::path_for(&loaded.config, &git_dir);
        // No spool yet: nothing was ever queued there. A spool shared by several: looked at once.
        if !root.is_dir() || !roots.insert(root.canonicalize().unwrap_or_else(|_| root.clone())) {
            continue;
        }
        if let Ok(spool) = worker::open(&loaded.config, &git_dir, ctx.clock) {
            locals.push(Local {
                git_dir,
                repo,
                config: loaded.config,
                spool,
            });
        }
    }
    locals
}

/// Opens what the command looks into, and the filter its options make.
pub(super) fn open_view(
    at: &RepoArgs,
    select: &Select,
    outcome: Option<Outcome>,
    ctx: &mut Context<'_>,
) -> Result<(View, Filter), CommandError> {
    let mut filter = Filter {
        endpoint: select.endpoint.clone(),
        outcome,
        since_ms: select.since.map(|d| {
            ctx.clock
                .now_ms()
                .saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        }),
        ..Filter::default()
    };
    // Server-wide, `--repo` keeps the repositories whose path contains it.
    let repo_filter = at.repo.as_ref().map(|r| {
        r.canonicalize()
            .unwrap_or_else(|_| r.clone())
            .display()
            .to_string()
    });
    if let Some(dir) = &select.all {
        filter.repo = repo_filter;
        let at = RepoArgs {
            repo: None,
            ..at.clone()
        };
        let locals = every_spool(dir, &at, ctx);
        return Ok((View::Spools { locals, wide: true }, filter));
    }
    let (config, found) = configuration(at, ctx)?;
    if let Some(db) = shared::database(&config.delivery.queue) {
        filter.repo = repo_filter;
        let queue =
            shared::open(db, ctx.env, ctx.clock).map_err(|e| CommandError::from_error(&e))?;
        return Ok((View::Database(queue), filter));
    }
    let Some((git_dir, repo)) = found else {
        return Err(CommandError::Failed(
            "no repository to look into".to_owned(),
        ));
    };
    let spool =
        worker::open(&config, &git_dir, ctx.clock).map_err(|e| CommandError::from_error(&e))?;
    let locals = vec![Local {
        git_dir,
        repo,
        config,
        spool,
    }];
    Ok((
        View::Spools {
            locals,
            wide: false,
        },
        filter,
    ))
}

pub(super) fn wanted(filter: &Filter, local: &Local) -> bool {
    let path = local
        .git_dir
        .canonicalize()
        .unwrap_or_else(|_| local.git_dir.clone());
    filter.repo_passes(Some(&path.display().to_string()))
}

pub(super) fn parse_state(state: Option<&str>) -> Option<Outcome> {
    state.and_then(Outcome::parse)
}

pub(super) fn finished(view: &View, filter: &Filter) -> Vec<(Job, bool)> {
    match view {
        View::Database(queue) => queue.finished(filter),
        View::Spools { locals, .. } => locals
            .iter()
            .filter(|l| wanted(filter, l))
            .flat_map(|l| l.spool.finished(filter))
            .collect(),
    }
}

/// `git webhook queue migrate`.
pub fn migrate(at: &RepoArgs, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    let (config, _) = configuration(at, ctx)?;
    let Some(db) = shared::database(&config.delivery.queue) else {
        return Err(CommandError::Failed(
            "the queue is the file spool, which needs no migration; [delivery] queue = \"postgres://...\" names a database".to_owned(),
        ));
    };
    let queue = shared::open(db, ctx.env, ctx.clock).map_err(|e| CommandError::from_error(&e))?;
    let (version, queued) = queue.describe().map_err(|e| CommandError::from_error(&e))?;
    let _ = writeln!(
        ctx.out,
        "queue schema in {}: version {version} (this program's: {}), {queued} job(s) queued",
        db.shown,
        schema::VERSION
    );
    Ok(())
}
