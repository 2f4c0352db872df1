//! `status`, `log` and `redeliver`: looking into the queue, and sending a finished or dead event again.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{load_config, open_repo, Context};
use crate::cli::RepoArgs;
use crate::delivery::spool::Spool;
use crate::delivery::worker::{self, Run};
use crate::delivery::{pushes, Outcome, Pass, Queue, Record};
use crate::error::CommandError;

fn when(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Opens the repository's queue with its configuration, and runs `f` on them.
fn with_queue<T>(
    at: &RepoArgs,
    ctx: &mut Context<'_>,
    f: impl FnOnce(
        &Spool,
        &crate::config::Config,
        &crate::git::Repo,
        &std::path::Path,
        &mut Context<'_>,
    ) -> T,
) -> Result<T, CommandError> {
    let (git_dir, repo) = open_repo(at, ctx.env)?;
    let loaded = load_config(at, ctx.env, &git_dir, &repo, ctx)?;
    let queue = worker::open(&loaded.config, &git_dir, ctx.clock)
        .map_err(|e| CommandError::from_error(&e))?;
    Ok(f(&queue, &loaded.config, &repo, &git_dir, ctx))
}

/// `git webhook status`.
pub fn status(at: &RepoArgs, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    with_queue(at, ctx, |queue, _, _, _, ctx| show_status(queue, ctx))
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

/// `git webhook log`: the last `limit` records, as a table or as JSON lines.
pub fn log(
    at: &RepoArgs,
    limit: usize,
    json: bool,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    with_queue(at, ctx, |queue, _, _, _, ctx| {
        show_log(queue, limit, json, ctx.out);
    })
}

/// The last `limit` records of `queue`'s log.
pub fn show_log(queue: &dyn Queue, limit: usize, json: bool, out: &mut dyn Write) {
    let records = queue.records();
    let shown = &records[records.len().saturating_sub(limit)..];
    for r in shown {
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

/// `git webhook redeliver ID`: puts the delivered or dead jobs whose job or event id starts with `id`
/// back in the queue, with the same idempotency id, and sends what is due.
pub fn redeliver(at: &RepoArgs, id: &str, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    with_queue(at, ctx, |queue, config, repo, git_dir, ctx| {
        let requeued = requeue(queue, id, ctx)?;
        if requeued == 0 {
            return Err(CommandError::Failed(format!(
                "no delivered or dead webhook has a job or event id starting with {id:?} (see `git webhook log`)"
            )));
        }
        let ref_moved = |refname: &str, new: &str| repo.ref_moved(refname, new);
        let (env, clock) = (ctx.env, ctx.clock);
        let intake = || super::hook::take_recorded(queue, repo, git_dir, config, (env, clock));
        let pass = Pass {
            queue,
            config,
            repo: git_dir,
            ref_moved: &ref_moved,
            intake: &intake,
            clock: ctx.clock,
            ignore_schedule: false,
        };
        worker::deliver(pass, Run::Once, ctx.out).map_err(|e| CommandError::from_error(&e))
    })?
}

fn requeue(queue: &dyn Queue, id: &str, ctx: &mut Context<'_>) -> Result<usize, CommandError> {
    let now = ctx.clock.now_ms();
    let found = queue.finished(id);
    for (job, dead) in &found {
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
