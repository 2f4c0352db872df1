//! What `status`, `log` and `redeliver` look into: one repository's file spools, those of every
//! repository below a directory (`--all`), or the shared database (with this repository's spools
//! beside it, where webhooks wait while it cannot be reached); and `queue migrate`.

use std::path::Path;

use super::{Context, Repository, Unusable};
use crate::cli::{RepoArgs, Select};
use crate::config::{self, Config};
use crate::delivery::admin::Admin;
use crate::delivery::postgres::schema;
use crate::delivery::queue::Filter;
use crate::delivery::spool::Spools;
use crate::delivery::spool::{self, Spool};
use crate::delivery::{shared, Outcome};
use crate::error::{chain, CommandError};
use crate::git::OpenError;
use crate::notice::Notice;

/// What a command works on: a repository, or (outside any) the server-wide configuration, when it
/// names a database queue.
pub(super) enum Scope {
    Repo(Box<Repository>),
    Server(Box<Config>),
}

impl Scope {
    pub(super) fn config(&self) -> &Config {
        match self {
            Scope::Repo(r) => r.config(),
            Scope::Server(c) => c,
        }
    }
}

/// The repository `--repo` (or the current directory) names, or else, outside any repository, the
/// server-wide configuration if it names a database queue.
pub(super) fn scope(at: &RepoArgs, ctx: &mut Context<'_>) -> Result<Scope, CommandError> {
    match Repository::find(at, ctx.env) {
        Ok(found) => {
            for p in &found.loaded.problems {
                ctx.say(Notice::EndpointSkipped(p.clone()));
            }
            Ok(Scope::Repo(Box::new(found)))
        }
        Err(e @ Unusable::Open(OpenError::NotARepository { .. })) => {
            let server = config::load_server(at.config.as_deref(), ctx.env);
            match server {
                Ok(Some(l)) if l.config.delivery.queue.database().is_some() => {
                    Ok(Scope::Server(Box::new(l.config)))
                }
                _ => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// A repository's own spools: the one under it, and its fallback if one was made.
fn own_spools(found: &Repository, ctx: &Context<'_>) -> Vec<Spool> {
    let unique = ctx.clock.uuid().simple().to_string();
    let primary = spool::path_for(found.config(), &found.git_dir);
    let fallback = spool::fallback_for(&found.id, &ctx.env.temp_dir);
    [primary, fallback]
        .iter()
        .filter_map(|root| Spool::existing(root, &unique))
        .collect()
}

/// What a command looks into.
pub(super) struct View {
    /// Where the jobs are (`Err`: the database cannot be reached).
    pub(super) admin: Result<Box<dyn Admin>, CommandError>,
    /// Beside a database: this repository's spools, where webhooks wait to move into it.
    pub(super) beside: Option<Spools>,
    /// The repositories whose spools `admin` looks into (`redeliver` sends theirs at once).
    pub(super) locals: Vec<Repository>,
    /// One repository (false), or many.
    pub(super) wide: bool,
    /// The shared database (whose workers `status` lists).
    pub(super) shared: bool,
    /// What its options select.
    pub(super) filter: Filter,
}

/// Every repository below `dir` with a spool; those that cannot be read are said, never left
/// out in silence. Returns them, and whether one was left out.
fn every_repo(dir: &Path, config: Option<&Path>, ctx: &mut Context<'_>) -> (Vec<Repository>, bool) {
    let mut found = Vec::new();
    super::install::find_repos(dir, 0, &mut found);
    let mut roots = std::collections::HashSet::new();
    let (mut repos, mut left_out) = (Vec::new(), false);
    for git_dir in found {
        match Repository::at(&git_dir, config, ctx.env) {
            Ok(r) => {
                let root = spool::path_for(r.config(), &git_dir);
                // No spool yet: nothing was ever queued there. A spool shared by several
                // repositories is looked at once.
                let key = root.canonicalize().unwrap_or_else(|_| root.clone());
                if root.is_dir() && roots.insert(key) {
                    repos.push(r);
                }
            }
            // Nothing configured: nothing was ever queued there.
            Err(Unusable::NotConfigured(_)) => {}
            Err(e) => {
                left_out = true;
                ctx.say(Notice::LeftOut(chain(&e)));
            }
        }
    }
    (repos, left_out)
}

/// The filter the options make; `--repo` keeps the repositories whose path contains it, where
/// several are looked into.
fn filter_of(
    at: &RepoArgs,
    select: &Select,
    outcome: Option<Outcome>,
    ctx: &Context<'_>,
) -> Filter {
    Filter {
        endpoint: select.endpoint.clone(),
        outcome,
        since_ms: select
            .since
            .map(|d| ctx.clock.now_ms().saturating_sub(crate::clock::millis(d))),
        repo: at.repo.as_ref().map(|r| {
            r.canonicalize()
                .unwrap_or_else(|_| r.clone())
                .display()
                .to_string()
        }),
        ..Filter::default()
    }
}

/// Opens what the command looks into, and the filter its options make. `Ok` with `left_out`
/// repositories said; an unreachable database is in `admin`.
pub(super) fn open_view(
    at: &RepoArgs,
    select: &Select,
    outcome: Option<Outcome>,
    ctx: &mut Context<'_>,
) -> Result<(View, bool), CommandError> {
    let mut filter = filter_of(at, select, outcome, ctx);
    if let Some(dir) = &select.all {
        let (locals, left_out) = every_repo(dir, at.config.as_deref(), ctx);
        let spools = Spools {
            spools: locals
                .iter()
                .map(|r| (r.id.display().to_string(), own_spools(r, ctx)))
                .collect(),
        };
        let view = View {
            admin: Ok(Box::new(spools)),
            beside: None,
            locals,
            wide: true,
            shared: false,
            filter,
        };
        return Ok((view, left_out));
    }
    let scope = scope(at, ctx)?;
    if let Some(db) = scope.config().delivery.queue.database() {
        let admin = shared::open(db, ctx.env, ctx.clock)
            .map(|q| Box::new(q) as Box<dyn Admin>)
            .map_err(CommandError::user);
        let beside = match &scope {
            Scope::Repo(r) => Some(Spools {
                spools: vec![(r.id.display().to_string(), own_spools(r, ctx))],
            }),
            Scope::Server(_) => None,
        };
        let view = View {
            admin,
            beside,
            locals: Vec::new(),
            wide: true,
            shared: true,
            filter,
        };
        return Ok((view, false));
    }
    let Scope::Repo(found) = scope else {
        return Err(CommandError::user("no repository to look into"));
    };
    // One repository: `--repo` named it, and filters nothing.
    filter.repo = None;
    let spools = Spools {
        spools: vec![(found.id.display().to_string(), own_spools(&found, ctx))],
    };
    let view = View {
        admin: Ok(Box::new(spools)),
        beside: None,
        locals: vec![*found],
        wide: false,
        shared: false,
        filter,
    };
    Ok((view, false))
}

pub(super) fn parse_state(state: Option<&str>) -> Option<Outcome> {
    state.and_then(Outcome::parse)
}

/// `git webhook queue migrate`.
pub fn migrate(at: &RepoArgs, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    let scope = scope(at, ctx)?;
    let Some(db) = scope.config().delivery.queue.database() else {
        return Err(
            CommandError::user("the queue is the file spool, which needs no migration")
                .hint("[delivery] queue = \"postgres://...\" names a database"),
        );
    };
    let queue = shared::open(db, ctx.env, ctx.clock).map_err(CommandError::user)?;
    let (version, queued) = queue.describe().map_err(CommandError::user)?;
    let _ = writeln!(
        ctx.out,
        "queue schema in {}: version {version} (this program's: {}), {queued} job(s) queued",
        db.shown,
        schema::VERSION
    );
    Ok(())
}
