//! The one intake, from a push to its jobs. Every mode goes through it: the hook records the push
//! ([`RecordedPush`]) and either makes its jobs at once (`sync` and `queue` modes, the `update`
//! hook, dry-run) or leaves the record for a deliverer, which makes them the same way later
//! ([`take`]); so a push makes the same jobs (payloads, ids, times) wherever and whenever it is made.

use std::path::Path;

use super::job::Job;
use super::limits::{self, Limits};
use super::plan;
use super::pushes::{self, RecordedPush};
use super::queue::{QueueError, Store};
use super::spool::Spool;
use crate::clock::Clock;
use crate::config::Endpoint;
use crate::model::PushEvent;
use crate::notice::Notice;

/// Why a push's events cannot be made now although its objects are there (a read failed, an object
/// is damaged): the push is kept, to be made later, and nothing of it is sent meanwhile.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// What makes a recorded push's events (the commit walk, described): the repository's side.
pub trait Events {
    /// The events of `push`, one per branch or tag it updated, with ids and times from `clock` (the
    /// push's own); a ref that gives none (its object is missing) is said, and the others still
    /// come. `Err` when a ref's objects could not be read: none of the push's events, for now.
    fn events(
        &self,
        push: &RecordedPush,
        clock: &Clock,
        say: &mut dyn FnMut(Notice),
    ) -> Result<Vec<PushEvent>, Unreadable>;
}

/// What makes a recorded push's jobs, saying what goes wrong.
pub type Make<'a> =
    &'a dyn Fn(&RecordedPush, &mut dyn FnMut(Notice)) -> Result<Vec<Job>, Unreadable>;

/// The jobs of a push for `endpoints`: its events, planned. `wait_for_ref`: each job waits until
/// its ref has moved (the `update` hook).
pub fn jobs(
    push: &RecordedPush,
    events: &dyn Events,
    endpoints: &[Endpoint],
    wait_for_ref: bool,
    say: &mut dyn FnMut(Notice),
) -> Result<Vec<Job>, Unreadable> {
    let clock = push.clock();
    let events = events.events(push, &clock, say)?;
    Ok(plan::plan(endpoints, &events, &clock, wait_for_ref)
        .into_iter()
        .map(|job| Job {
            repo: Some(push.repo.clone()),
            ..job
        })
        .collect())
}

/// Records `push` for a deliverer in the first spool of `roots` that takes it (the repository's,
/// then its fallback); returns which, with the error that made it fall back, if one did.
pub fn record<'r>(
    push: &RecordedPush,
    roots: &[&'r Path],
) -> Result<(&'r Path, Option<QueueError>), QueueError> {
    let mut first: Option<QueueError> = None;
    for root in roots {
        match pushes::record(root, push) {
            Ok(()) => return Ok((root, first)),
            Err(e) => first = first.or(Some(e)),
        }
    }
    Err(first.unwrap_or_else(|| QueueError {
        what: "no spool to record the push in",
        place: String::new(),
        source: "none given".into(),
    }))
}

/// A deliverer's first step: every push of the repository `repo` recorded in the spool `from`,
/// oldest first, made into jobs (`make`) and queued in `into` within `limits`, or else, when that
/// cannot take them, in `from` itself. A push whose jobs nothing could take, or whose objects could
/// not be read, stays recorded, with every later one, for the next try: `Err` says why (one whose
/// objects stay unreadable is given up, said, once older than `max_age`, as a job would be).
/// Records set aside as damaged are said.
pub fn take(
    from: &Spool,
    repo: &Path,
    into: &dyn Store,
    limits: &Limits<'_>,
    make: Make<'_>,
    say: &mut dyn FnMut(Notice),
) -> Result<(), QueueError> {
    let mut notices = Vec::new();
    let mut kept = None;
    let taken = pushes::take(from.root(), repo, &mut |push| {
        let mut say = |n: Notice| notices.push(n);
        let jobs = match make(push, &mut say) {
            Ok(jobs) => jobs,
            Err(e) => return unmade(push, e, limits, &mut kept, &mut say),
        };
        if jobs.is_empty() {
            return true;
        }
        let queued = limits::enqueue(into, &jobs, limits, &mut say).or_else(|e| {
            if std::ptr::addr_eq(into, from) {
                return Err(e);
            }
            limits::enqueue(from, &jobs, limits, &mut say)
        });
        match queued {
            Ok(_) => true,
            Err(e) => {
                kept = Some(e);
                false
            }
        }
    });
    notices.into_iter().for_each(&mut *say);
    for bad in taken? {
        say(bad.into());
    }
    kept.map_or(Ok(()), Err)
}

/// What becomes of a recorded push whose objects could not be read: kept (`false`, with why in
/// `kept`) or, once older than `max_age`, given up (`true`: the record goes).
fn unmade(
    push: &RecordedPush,
    e: Unreadable,
    limits: &Limits<'_>,
    kept: &mut Option<QueueError>,
    say: &mut dyn FnMut(Notice),
) -> bool {
    let max_age = limits.config.delivery.max_age;
    let age = limits.clock.now_ms().saturating_sub(push.at_ms);
    if u128::from(age) > max_age.as_millis() {
        say(Notice::PushGivenUp {
            error: e.0,
            max_age,
        });
        return true;
    }
    *kept = Some(QueueError {
        what: "cannot make yet the webhooks of a push recorded for",
        place: push.repo.display().to_string(),
        source: Box::new(e),
    });
    false
}
