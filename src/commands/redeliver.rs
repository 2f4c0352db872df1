//! `redeliver`: delivered or dead webhooks, picked by id or by the filters, moved back into their
//! queue in push order with the same idempotency ids (a file spool's then sent at once).

use super::deliver::round_once;
use super::queue::{open_view, parse_state};
use super::Context;
use crate::cli::{RepoArgs, Select};
use crate::error::CommandError;

/// `git webhook redeliver`: puts the delivered or dead jobs selected (by id, or by state and the
/// other options) back in their queue, with the same idempotency ids; a file spool's are then sent.
pub fn redeliver(
    at: &RepoArgs,
    select: &Select,
    ids: &[String],
    state: Option<&str>,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let (mut view, _) = open_view(at, select, parse_state(state), ctx)?;
    view.filter.ids = ids.to_vec();
    let admin = view.admin.map_err(|e| {
        e.hint("nothing was requeued or sent: run this again once the queue can be reached")
    })?;
    let found = admin.finished(&view.filter).map_err(CommandError::user)?;
    if found.is_empty() {
        let what = match ids {
            [] => "matches the options".to_owned(),
            [id] => format!("has a job or event id starting with {id:?}"),
            _ => format!(
                "has a job or event id starting with any of {}",
                ids.join(", ")
            ),
        };
        return Err(
            CommandError::user(format!("no delivered or dead webhook {what}"))
                .hint("`git webhook log` and `git webhook status --state dead` list them"),
        );
    }
    let repos = admin
        .requeue(&found, ctx.clock.now_ms())
        .map_err(|e| CommandError::user(e).hint("nothing was sent"))?;
    for f in &found {
        let from = if f.dead {
            "dead letters"
        } else {
            "delivered jobs"
        };
        let _ = writeln!(
            ctx.out,
            "requeued job {} (event {}, {} to {}) from the {from}",
            f.job.id(),
            f.job.template.event_id,
            f.job.refname,
            f.job.endpoint.url
        );
    }
    if view.shared {
        let _ = writeln!(
            ctx.out,
            "requeued {} webhook(s) in {}; its workers send them",
            found.len(),
            admin.location()
        );
        return Ok(());
    }
    // A file spool has no worker of its own: they are sent now.
    for local in view
        .locals
        .iter()
        .filter(|r| repos.contains(&r.id.display().to_string()))
    {
        round_once(local, ctx)?;
    }
    Ok(())
}
