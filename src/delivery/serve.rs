//! The server-wide worker's loop, whatever holds the jobs: a round over each repository with work
//! due, up to `max_parallel` repositories at once, each in a thread of its own (a receiver that
//! hangs for one holds up no other); woken by its source (the database's notifications, a hook's
//! word to a spool tree), a round's end, the next job due, or a tick; across outages of the
//! source, until the process is stopped. [`super::shared`] and [`super::tree`] are its sources.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::backoff::Backoff;
use super::queue::QueueError;
use super::summary::Summary;
use super::worker::POLL;
use crate::clock::Clock;
use crate::error::chain;

/// How often the loop looks again with nothing to wake it.
const TICK: Duration = Duration::from_secs(5);

/// Where a server-wide worker finds its repositories.
pub trait Repos: Sync {
    /// The repositories with work waiting, each with when its first job is due.
    fn waiting(&self) -> Result<Vec<(PathBuf, u64)>, QueueError>;
    /// Runs in a thread of its own: calls `wake` whenever new work may have come, until `wake`
    /// returns `false` (the loop is gone).
    fn listen(&self, wake: &dyn Fn() -> bool);
    /// What a repository's round did (`None`: this host cannot serve it).
    fn done(&self, _repo: &Path, _summary: Option<&Summary>) {}
    /// Said when the source answers again after failing.
    fn back(&self) -> String;
}

/// One repository's round (with that repository's own configuration), or `None` when this host
/// cannot serve it (said once by the round).
pub type Round<'a> = &'a (dyn Fn(&Path) -> Option<Summary> + Sync);

/// What wakes the loop.
enum Wake {
    /// New work may have come.
    Added,
    /// A repository's round ended, with what it did.
    Done(PathBuf, Option<Summary>),
}

/// Serves every repository `source` has work for, writing what happens to `out`.
pub fn serve(
    source: &dyn Repos,
    round: Round<'_>,
    max_parallel: usize,
    clock: &Clock,
    out: &mut dyn Write,
) {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let (poll_ms, tick_ms) = (ms(POLL), ms(TICK));
    let (wake, woken) = mpsc::channel::<Wake>();
    std::thread::scope(|scope| {
        let listening = wake.clone();
        scope.spawn(move || source.listen(&|| listening.send(Wake::Added).is_ok()));
        // Repositories being served, and those to leave alone until then (their last round found
        // jobs it could not send yet: another worker's lane, a ref that has not moved).
        let mut busy: HashSet<PathBuf> = HashSet::new();
        let mut rest: HashMap<PathBuf, u64> = HashMap::new();
        let mut backoff = Backoff::default();
        let mut down = false;
        loop {
            let repos = match source.waiting() {
                Ok(r) => r,
                Err(e) => {
                    if !std::mem::replace(&mut down, true) {
                        let _ = writeln!(
                            out,
                            "{}: {}; trying again",
                            crate::notice::PREFIX,
                            chain(&e)
                        );
                        let _ = out.flush();
                    }
                    backoff.wait();
                    continue;
                }
            };
            if std::mem::take(&mut down) {
                let _ = writeln!(out, "{}: {}", crate::notice::PREFIX, source.back());
            }
            backoff.reset();
            let now = clock.now_ms();
            let mut next: Option<u64> = None;
            for (repo, due) in repos {
                let due = due.max(rest.get(&repo).copied().unwrap_or(0));
                if busy.contains(&repo) || busy.len() >= max_parallel.max(1) {
                    continue; // Its round's end (or another's) wakes this loop.
                }
                if due > now {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                busy.insert(repo.clone());
                let done = wake.clone();
                scope.spawn(move || {
                    let summary = round(&repo);
                    let _ = done.send(Wake::Done(repo, summary));
                });
            }
            let _ = out.flush();
            // Wait for new work, a round's end, the next due job, or a tick.
            let wait = next.map_or(TICK, |n| {
                Duration::from_millis(n.saturating_sub(clock.now_ms())).clamp(POLL, TICK)
            });
            let first = woken.recv_timeout(wait).ok();
            for w in first
                .into_iter()
                .chain(std::iter::from_fn(|| woken.try_recv().ok()))
            {
                let Wake::Done(repo, summary) = w else {
                    continue;
                };
                busy.remove(&repo);
                source.done(&repo, summary.as_ref());
                let now = clock.now_ms();
                let Some(summary) = summary else {
                    // This host cannot serve it (said once): looked at again after a tick.
                    rest.insert(repo, now + tick_ms);
                    continue;
                };
                summary.write_notices(out);
                // Jobs it could not send yet, a round that got nothing done, or one the queue
                // failed: looked at again after a poll (or a tick), not at once.
                if summary.troubled {
                    rest.insert(repo, now + tick_ms);
                } else if summary.idle() || summary.next_due_ms.is_some_and(|d| d <= now + poll_ms)
                {
                    rest.insert(repo, now + poll_ms);
                } else {
                    rest.remove(&repo);
                }
            }
        }
    });
}
