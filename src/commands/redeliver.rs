//! `redeliver`: delivered or dead webhooks, picked by id or by the filters, put back in their queue
//! with the same idempotency ids (a file spool's then sent at once).

use super::queue::{open_view, parse_state, wanted, Local, View};
use super::Context;
use crate::cli::{RepoArgs, Select};
use crate::delivery::job::Job;
use crate::delivery::worker::{self, Run};
use crate::delivery::{Outcome, Pass, Queue, Record};
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
    found: &[(Job, bool)],
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
