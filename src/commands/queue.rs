//! `status`, `log` and `redeliver`: looking into the spool, and sending a finished or dead event again.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::clock::Clock;
use crate::spool::{Outcome, Record, Spool};

fn when(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `git webhook status`.
pub fn status(spool: &Spool, clock: &Clock, out: &mut dyn Write) {
    let c = spool.counts();
    let _ = writeln!(out, "spool:     {}", spool.root().display());
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
pub fn log(spool: &Spool, limit: usize, json: bool, out: &mut dyn Write) {
    let records = spool.records();
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
/// back in the queue, with the same idempotency id. Returns how many.
pub fn requeue(
    spool: &Spool,
    id: &str,
    clock: &Clock,
    out: &mut dyn Write,
) -> Result<usize, crate::spool::SpoolError> {
    let now = clock.now_ms();
    let found = spool.find(id);
    for (job, dead) in &found {
        let mut job = job.clone();
        (
            job.created_ms,
            job.next_ms,
            job.attempts,
            job.condition,
            job.last_error,
        ) = (now, now, 0, None, None);
        spool.enqueue(&job)?;
        spool.log(&Record::of(&job, now, Outcome::Requeued));
        let from = if *dead {
            "dead letters"
        } else {
            "delivered jobs"
        };
        let _ = writeln!(
            out,
            "requeued job {} (event {}, {} to {}) from the {from}",
            job.id(),
            job.delivery.event_id,
            job.refname,
            job.endpoint.url
        );
    }
    Ok(found.len())
}
