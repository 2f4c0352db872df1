//! `status`, `log`, `redeliver` and `queue migrate`: looking into the queue of one repository, of every
//! repository below a directory (`--all`, their file spools), or of the shared database, and sending
//! finished webhooks again.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use super::{load_config, open_repo, Context};
use crate::cli::{RepoArgs, Select};
use crate::config::{self, Config};
use crate::delivery::postgres::{schema, Postgres};
use crate::delivery::queue::{Counts, Filter};
use crate::delivery::spool::{self, Spool};
use crate::delivery::worker::{self, Run};
use crate::delivery::{pushes, shared, Outcome, Pass, Queue, Record};
use crate::error::CommandError;
use crate::git::Repo;

fn when(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A repository with its configuration and spool.
struct Local {
    git_dir: PathBuf,
    repo: Repo,
    config: Config,
    spool: Spool,
}

/// The queues a command looks into.
enum View {
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
fn open_view(
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

fn wanted(filter: &Filter, local: &Local) -> bool {
    let path = local
        .git_dir
        .canonicalize()
        .unwrap_or_else(|_| local.git_dir.clone());
    filter.repo_passes(Some(&path.display().to_string()))
}

fn parse_state(state: Option<&str>) -> Option<Outcome> {
    state.and_then(Outcome::parse)
}

/// `git webhook status`.
pub fn status(
    at: &RepoArgs,
    select: &Select,
    state: Option<&str>,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let (view, filter) = open_view(at, select, parse_state(state), ctx)?;
    if state.is_some() {
        for (job, dead) in finished(&view, &filter) {
            let _ = if select.json {
                writeln!(
                    ctx.out,
                    "{}",
                    serde_json::json!({ "dead": dead, "job": job })
                )
            } else {
                writeln!(
                    ctx.out,
                    "{} job {} event {} {} {} -> {} ({}){}",
                    if dead { "dead     " } else { "delivered" },
                    job.id(),
                    job.template.event_id,
                    job.repo
                        .as_deref()
                        .map(Path::display)
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    job.refname,
                    job.endpoint.url,
                    job.endpoint.format,
                    job.last_error.map(|e| format!(": {e}")).unwrap_or_default()
                )
            };
        }
        return Ok(());
    }
    let rows: Vec<(String, Counts)> = match &view {
        View::Spools {
            locals,
            wide: false,
        } if !select.json => {
            show_status(&locals[0].spool, ctx);
            return Ok(());
        }
        View::Spools { locals, .. } => locals
            .iter()
            .filter(|l| wanted(&filter, l))
            .map(|l| (l.git_dir.display().to_string(), l.spool.counts()))
            .collect(),
        View::Database(queue) => queue
            .counts_by_repo(&filter)
            .map_err(|e| CommandError::from_error(&e))?,
    };
    show_table(&rows, select.json, ctx);
    if let (View::Database(queue), false) = (&view, select.json) {
        let workers = queue.workers().map_err(|e| CommandError::from_error(&e))?;
        let _ = writeln!(ctx.out, "workers:   {} alive", workers.len());
        for (name, secs) in workers {
            let _ = writeln!(ctx.out, "  {name} (seen {secs:.0}s ago)");
        }
    }
    Ok(())
}

fn show_table(rows: &[(String, Counts)], json: bool, ctx: &mut Context<'_>) {
    let out = &mut *ctx.out;
    if json {
        for (repo, c) in rows {
            let _ = writeln!(
                out,
                "{}",
                serde_json::json!({
                    "repo": repo, "pending": c.pending, "retrying": c.retrying,
                    "in_flight": c.in_flight, "dead": c.dead, "oldest_ms": c.oldest_ms,
                })
            );
        }
        return;
    }
    let _ = writeln!(
        out,
        "{:>8} {:>9} {:>10} {:>6}  repository",
        "pending", "retrying", "in flight", "dead"
    );
    let mut total = Counts::default();
    for (repo, c) in rows {
        let _ = writeln!(
            out,
            "{:>8} {:>9} {:>10} {:>6}  {repo}",
            c.pending, c.retrying, c.in_flight, c.dead
        );
        total.pending += c.pending;
        total.retrying += c.retrying;
        total.in_flight += c.in_flight;
        total.dead += c.dead;
    }
    let _ = writeln!(
        out,
        "{:>8} {:>9} {:>10} {:>6}  in all, {} repositor{}",
        total.pending,
        total.retrying,
        total.in_flight,
        total.dead,
        rows.len(),
        if rows.len() == 1 { "y" } else { "ies" }
    );
}

fn show_status(queue: &Spool, ctx: &mut Context<'_>) {
    let (clock, out) = (ctx.clock, &mut *ctx.out);
    let c = queue.counts();
    let _ = writeln!(out, "spool:     {}", queue.location());
    let recorded = pushes::files(queue.root()).len();
    if recorded > 0 {
        let _ = writeln!(
            out,
            "recorded:  {recorded} push(es), made into webhooks by the next deliverer"
        );
    }
    let _ = writeln!(out, "pending:   {}", c.pending);
    let _ = writeln!(out, "retrying:  {}", c.retrying);
    let _ = writeln!(out, "in flight: {}", c.in_flight);
    let _ = writeln!(out, "dead:      {}", c.dead);
    if let Some(oldest) = c.oldest_ms {
        let age = std::time::Duration::from_secs(clock.now_ms().saturating_sub(oldest) / 1000);
        let _ = writeln!(
            out,
            "oldest:    queued {} ago ({})",
            humantime::format_duration(age),
            when(oldest)
        );
    }
}

/// `git webhook log`: the last `limit` records that pass the filters, as a table or as JSON lines.
pub fn log(
    at: &RepoArgs,
    select: &Select,
    state: Option<&str>,
    limit: usize,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let (view, filter) = open_view(at, select, parse_state(state), ctx)?;
    let records = match &view {
        View::Database(queue) => queue.records(&filter, limit),
        View::Spools { locals, .. } => {
            let mut all: Vec<Record> = locals
                .iter()
                .filter(|l| wanted(&filter, l))
                .flat_map(|l| l.spool.records(&filter, limit))
                .collect();
            all.sort_by_key(|r| r.time_ms);
            all.drain(..all.len().saturating_sub(limit));
            all
        }
    };
    show_log(&records, select.json, ctx.out);
    Ok(())
}

/// Log records, one per line.
pub fn show_log(records: &[Record], json: bool, out: &mut dyn Write) {
    for r in records {
        let _ = if json {
            writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default())
        } else {
            writeln!(out, "{}", line(r))
        };
    }
}

fn line(r: &Record) -> String {
    let status = r.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let duration = r
        .duration_ms
        .map_or_else(String::new, |d| format!(" {d}ms"));
    let mut text = format!(
        "{} {:<9} #{} {status}{duration} {} -> {} ({}) event {} job {}",
        when(r.time_ms),
        r.outcome.as_str(),
        r.attempt,
        r.refname,
        r.endpoint,
        r.format,
        r.event,
        r.job
    );
    if let Some(e) = r.error.as_deref().filter(|e| !e.is_empty()) {
        text.push_str(&format!(": {e}"));
    }
    if let Some(next) = r.next_ms {
        text.push_str(&format!(" (next try {})", when(next)));
    }
    text
}

fn finished(view: &View, filter: &Filter) -> Vec<(crate::delivery::job::Job, bool)> {
    match view {
        View::Database(queue) => queue.finished(filter),
        View::Spools { locals, .. } => locals
            .iter()
            .filter(|l| wanted(filter, l))
            .flat_map(|l| l.spool.finished(filter))
            .collect(),
    }
}

/// `git webhook redeliver`: puts the delivered or dead jobs selected (by id, or by state and the
/// other options) back in their queue, with the same idempotency ids; a file spool's are then sent.
pub fn redeliver(
    at: &RepoArgs,
    select: &Select,
    ids: &[String],
    state: Option<&str>,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let (view, mut filter) = open_view(at, select, parse_state(state), ctx)?;
    filter.ids = ids.to_vec();
    let mut requeued = 0;
    match &view {
        View::Database(queue) => {
            requeued += requeue(queue, &queue.finished(&filter), ctx)?;
            if requeued > 0 {
                let _ = writeln!(
                    ctx.out,
                    "requeued {requeued} webhook(s) in {}; its workers send them",
                    queue.location()
                );
            }
        }
        View::Spools { locals, .. } => {
            for l in locals.iter().filter(|l| wanted(&filter, l)) {
                let n = requeue(&l.spool, &l.spool.finished(&filter), ctx)?;
                if n > 0 {
                    send_now(l, ctx);
                }
                requeued += n;
            }
        }
    }
    if requeued == 0 {
        let what = match ids {
            [] => "matches the options".to_owned(),
            [id] => format!("has a job or event id starting with {id:?}"),
            _ => format!(
                "has a job or event id starting with any of {}",
                ids.join(", ")
            ),
        };
        return Err(CommandError::Failed(format!(
            "no delivered or dead webhook {what} (see `git webhook log`)"
        )));
    }
    Ok(())
}

/// A pass over a repository's spool, as `deliver` makes one.
fn send_now(l: &Local, ctx: &mut Context<'_>) {
    let ref_moved = |refname: &str, new: &str| l.repo.ref_moved(refname, new);
    let (env, clock) = (ctx.env, ctx.clock);
    let intake = || {
        super::hook::take_recorded(
            &l.spool,
            &l.spool,
            &l.repo,
            &l.git_dir,
            &l.config,
            (env, clock),
        )
    };
    let pass = Pass {
        queue: &l.spool,
        config: &l.config,
        repo: &l.git_dir,
        ref_moved: &ref_moved,
        intake: &intake,
        clock: ctx.clock,
        ignore_schedule: false,
    };
    worker::deliver(pass, Run::Once, ctx.out);
}

fn requeue(
    queue: &dyn Queue,
    found: &[(crate::delivery::job::Job, bool)],
    ctx: &mut Context<'_>,
) -> Result<usize, CommandError> {
    let now = ctx.clock.now_ms();
    for (job, dead) in found {
        let mut job = job.clone();
        (
            job.created_ms,
            job.next_ms,
            job.attempts,
            job.condition,
            job.last_error,
        ) = (now, now, 0, None, None);
        queue
            .enqueue(std::slice::from_ref(&job))
            .map_err(|e| CommandError::from_error(&e))?;
        queue.log(&Record::of(&job, now, Outcome::Requeued));
        let from = if *dead {
            "dead letters"
        } else {
            "delivered jobs"
        };
        let _ = writeln!(
            ctx.out,
            "requeued job {} (event {}, {} to {}) from the {from}",
            job.id(),
            job.template.event_id,
            job.refname,
            job.endpoint.url
        );
    }
    Ok(found.len())
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
