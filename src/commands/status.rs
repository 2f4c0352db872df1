//! `status` and `log`: how many webhooks wait where, the dead and delivered ones, and the delivery
//! log, for one repository, every repository below a directory, or the shared database.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};

use super::queue::{open_view, parse_state, View};
use super::Context;
use crate::cli::{RepoArgs, Select};
use crate::delivery::admin::{Admin, Counts};
use crate::delivery::health::{lane_parts, Health};
use crate::delivery::Record;
use crate::error::CommandError;

fn when(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A command that did its work but left a repository out (said): exit status 1.
fn done(left_out: bool) -> Result<(), CommandError> {
    if left_out {
        Err(CommandError::said())
    } else {
        Ok(())
    }
}

/// `git webhook status`.
pub fn status(
    at: &RepoArgs,
    select: &Select,
    state: Option<&str>,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let (view, left_out) = open_view(at, select, parse_state(state), ctx)?;
    if state.is_some() {
        let admin = view.admin?;
        for f in admin.finished(&view.filter).map_err(CommandError::user)? {
            let (job, dead) = (f.job, f.dead);
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
        return done(left_out);
    }
    // Beside a database: what waits in this repository's spools to move into it, shown even while
    // the database cannot be reached.
    if let (Some(beside), false) = (&view.beside, select.json) {
        if let Ok([(_, c)]) = beside.counts(&view.filter).as_deref() {
            let waiting = c.pending + c.retrying + c.recorded;
            if waiting > 0 || view.admin.is_err() {
                let _ = writeln!(
                    ctx.out,
                    "spool:     {}: {} webhook(s) and {} recorded push(es) wait to move into the database",
                    beside.location(),
                    c.pending + c.retrying,
                    c.recorded
                );
            }
        }
    }
    let View {
        admin,
        wide,
        shared,
        filter,
        ..
    } = view;
    let admin = admin?;
    let rows = admin.counts(&filter).map_err(CommandError::user)?;
    let failing = admin.failing(&filter).map_err(CommandError::user)?;
    if !wide && !select.json {
        let counts = rows.into_iter().next().map(|(_, c)| c).unwrap_or_default();
        show_status(admin.location(), &counts, ctx);
        show_failing(&failing, false, ctx);
        return done(left_out);
    }
    show_table(&rows, select.json, ctx);
    if !select.json {
        show_failing(&failing, true, ctx);
    }
    if shared && !select.json {
        let workers = admin.workers().map_err(CommandError::user)?;
        let _ = writeln!(ctx.out, "workers:   {} alive", workers.len());
        for (name, secs) in workers {
            let _ = writeln!(ctx.out, "  {name} (seen {secs:.0}s ago)");
        }
    }
    done(left_out)
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
                    "in_flight": c.in_flight, "dead": c.dead, "recorded": c.recorded,
                    "damaged": c.damaged, "oldest_ms": c.oldest_ms, "paused": c.paused,
                })
            );
        }
        return;
    }
    let _ = writeln!(
        out,
        "{:>8} {:>9} {:>10} {:>6} {:>8}  repository",
        "pending", "retrying", "in flight", "dead", "damaged"
    );
    let mut total = Counts::default();
    for (repo, c) in rows {
        let _ = writeln!(
            out,
            "{:>8} {:>9} {:>10} {:>6} {:>8}  {repo}",
            c.pending, c.retrying, c.in_flight, c.dead, c.damaged
        );
        total.add(c);
    }
    let _ = writeln!(
        out,
        "{:>8} {:>9} {:>10} {:>6} {:>8}  in all, {} repositor{}",
        total.pending,
        total.retrying,
        total.in_flight,
        total.dead,
        total.damaged,
        rows.len(),
        if rows.len() == 1 { "y" } else { "ies" }
    );
}

fn show_status(location: String, c: &Counts, ctx: &mut Context<'_>) {
    let (clock, out) = (ctx.clock, &mut *ctx.out);
    let _ = writeln!(out, "spool:     {location}");
    if c.recorded > 0 {
        let _ = writeln!(
            out,
            "recorded:  {} push(es), made into webhooks by the next deliverer",
            c.recorded
        );
    }
    let _ = writeln!(out, "pending:   {}", c.pending);
    let _ = writeln!(out, "retrying:  {}", c.retrying);
    let _ = writeln!(out, "in flight: {}", c.in_flight);
    let _ = writeln!(out, "dead:      {}", c.dead);
    if c.damaged > 0 {
        let _ = writeln!(
            out,
            "damaged:   {} file(s) that are no job or push record, set aside as *.bad (why: the deliverer's output, or the spool's warnings.log)",
            c.damaged
        );
    }
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

/// The endpoints paused, or failing lately, and why (`wide`: naming their repository).
fn show_failing(failing: &[(String, Health)], wide: bool, ctx: &mut Context<'_>) {
    let (now, out) = (ctx.clock.now_ms(), &mut *ctx.out);
    for (key, h) in failing {
        let (repo, number, url) = lane_parts(key);
        let of = if wide {
            format!(" of {repo}")
        } else {
            String::new()
        };
        let since = h.failing_since_ms.map(when).unwrap_or_default();
        let last = h.last_error.as_deref().unwrap_or("");
        let _ = match h.paused {
            Some(p) => writeln!(
                out,
                "paused:    endpoint {number} {url}{of}, since {}, after {} failed attempts in a row since {since} (last: {last}); its webhooks wait, tried again {}, or now with `git-webhook endpoint resume`",
                when(p.since_ms),
                h.failures,
                match p.probe_ms.checked_sub(now) {
                    Some(wait) if wait > 0 => format!(
                        "in {}",
                        humantime::format_duration(std::time::Duration::from_secs(wait.div_ceil(1000)))
                    ),
                    _ => "with the next delivery".to_owned(),
                }
            ),
            None => writeln!(
                out,
                "failing:   endpoint {number} {url}{of}: {} failed attempts in a row since {since} (last: {last})",
                h.failures
            ),
        };
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
    let (view, left_out) = open_view(at, select, parse_state(state), ctx)?;
    let records = view
        .admin?
        .records(&view.filter, limit)
        .map_err(CommandError::user)?;
    show_log(&records, select.json, view.wide, ctx.out);
    done(left_out)
}

/// Log records, one per line; `wide`: each names its repository.
pub fn show_log(records: &[Record], json: bool, wide: bool, out: &mut dyn Write) {
    for r in records {
        let _ = if json {
            writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default())
        } else {
            writeln!(out, "{}", line(r, wide))
        };
    }
}

fn line(r: &Record, wide: bool) -> String {
    let status = r.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let duration = r
        .duration_ms
        .map_or_else(String::new, |d| format!(" {d}ms"));
    let repo = match (&r.repo, wide) {
        (Some(repo), true) => format!("{repo} "),
        _ => String::new(),
    };
    let mut text = format!(
        "{} {:<9} #{} {status}{duration} {repo}{} -> {} ({}) event {} job {}",
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
