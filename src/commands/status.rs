//! `status` and `log`: how many webhooks wait where, the dead and delivered ones, and the delivery
//! log, for one repository, every repository below a directory, or the shared database.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};

use super::queue::{finished, open_view, parse_state, wanted, View};
use super::Context;
use crate::cli::{RepoArgs, Select};
use crate::delivery::queue::Counts;
use crate::delivery::spool::Spool;
use crate::delivery::{pushes, Queue, Record};
use crate::error::CommandError;

fn when(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
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
