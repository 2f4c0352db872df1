//! The server-wide worker's loop, whatever holds the jobs: a round over each repository with work
//! due, up to `max_parallel` repositories at once, each in a thread of its own (a receiver that
//! hangs for one holds up no other); woken by its source (the database's notifications, a hook's
//! word to a spool tree), a round's end, the next job due, or a tick; across outages of the
//! source, until the process is stopped. A round's end within a poll of the last listing goes on
//! from that listing rather than asking the source again. [`super::shared`] and [`super::tree`]
//! are its sources.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::queue::QueueError;
use super::summary::Summary;
use super::worker::{POLL, YIELD_TO_PUSH};
use crate::clock::{millis, Clock};
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

/// The source's last listing, used again while rounds end within a poll of it: a database is not
/// asked for every repository's waiting jobs at each round's end (a worker serving 64 repositories
/// asked 64 times a second).
struct Listing {
    repos: Vec<(PathBuf, u64)>,
    at_ms: u64,
    /// Which listing it is: a round begun under this one saw all the listing saw.
    number: u64,
}

impl Listing {
    /// What a round begun under this listing found: its repository's entry becomes when its next
    /// job is due, or goes when nothing waits there.
    fn ended(&mut self, repo: &Path, next_due_ms: Option<u64>) {
        match next_due_ms {
            Some(due) => {
                for entry in self.repos.iter_mut().filter(|(r, _)| r == repo) {
                    entry.1 = due;
                }
            }
            None => self.repos.retain(|(r, _)| r != repo),
        }
    }
}

/// Serves every repository `source` has work for, writing what happens to `out`.
pub fn serve(
    source: &dyn Repos,
    round: Round<'_>,
    max_parallel: usize,
    clock: &Clock,
    out: &mut dyn Write,
) {
    let poll_ms = millis(POLL);
    let (wake, woken) = mpsc::channel::<Wake>();
    std::thread::scope(|scope| {
        let listening = wake.clone();
        scope.spawn(move || {
            // What tells of new work after a quiet spell is mostly a push still under way: it ends
            // first (on a small machine the two compete for the CPU). Within a burst no word waits.
            let last = std::cell::Cell::new(None::<Instant>);
            source.listen(&|| {
                if last.get().is_none_or(|t| t.elapsed() >= YIELD_TO_PUSH) {
                    std::thread::sleep(YIELD_TO_PUSH);
                }
                last.set(Some(Instant::now()));
                listening.send(Wake::Added).is_ok()
            });
        });
        // Repositories being served, each with the listing it was begun under, and those to leave
        // alone until then (their last round found jobs it could not send yet: another worker's
        // lane, a ref that has not moved).
        let mut busy: HashMap<PathBuf, u64> = HashMap::new();
        let mut rest: HashMap<PathBuf, u64> = HashMap::new();
        let mut listing = Listing {
            repos: Vec::new(),
            at_ms: 0,
            number: 0,
        };
        // Listed anew unless only rounds' ends woke the loop, within a poll of the last listing.
        let mut relist = true;
        let mut backoff = Backoff::default();
        let mut down = false;
        loop {
            let now = clock.now_ms();
            let fresh = !relist && now < listing.at_ms + poll_ms;
            if !fresh {
                let Some(repos) = list(source, &mut down, out) else {
                    backoff.wait();
                    continue;
                };
                backoff.reset();
                listing = Listing {
                    repos,
                    at_ms: now,
                    number: listing.number + 1,
                };
            }
            let mut next: Option<u64> = None;
            for (repo, due) in &listing.repos {
                let due = (*due).max(rest.get(repo).copied().unwrap_or(0));
                if busy.contains_key(repo) || busy.len() >= max_parallel.max(1) {
                    continue; // Its round's end (or another's) wakes this loop.
                }
                if due > now {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                busy.insert(repo.clone(), listing.number);
                let (repo, done) = (repo.clone(), wake.clone());
                scope.spawn(move || {
                    let summary = round(&repo);
                    let _ = done.send(Wake::Done(repo, summary));
                });
            }
            let _ = out.flush();
            // Wait for new work, a round's end, the next due job, or a tick; a listing used again
            // is listed anew once a poll old.
            let mut wait = next.map_or(TICK, |n| {
                Duration::from_millis(n.saturating_sub(clock.now_ms())).clamp(POLL, TICK)
            });
            if fresh {
                let expires = (listing.at_ms + poll_ms).saturating_sub(clock.now_ms());
                wait = wait.min(Duration::from_millis(expires));
            }
            if busy.is_empty() {
                // Nothing is being sent: no idle connection is held open meanwhile.
                super::http::forget_kept();
            }
            let first = woken.recv_timeout(wait).ok();
            relist = first.is_none();
            for w in first
                .into_iter()
                .chain(std::iter::from_fn(|| woken.try_recv().ok()))
            {
                let Wake::Done(repo, summary) = w else {
                    relist = true;
                    continue;
                };
                let begun = busy.remove(&repo);
                source.done(&repo, summary.as_ref());
                let l = (begun == Some(listing.number)).then_some(&mut listing);
                ended(repo, summary, l, &mut rest, clock.now_ms(), out);
            }
        }
    });
}

/// What `source` has waiting, or `None` when it cannot tell: said once (`down`), and that it is
/// back once it answers again.
fn list(source: &dyn Repos, down: &mut bool, out: &mut dyn Write) -> Option<Vec<(PathBuf, u64)>> {
    match source.waiting() {
        Ok(repos) => {
            if std::mem::take(down) {
                let _ = writeln!(out, "{}: {}", crate::notice::PREFIX, source.back());
            }
            Some(repos)
        }
        Err(e) => {
            if !std::mem::replace(down, true) {
                let _ = writeln!(
                    out,
                    "{}: {}; trying again",
                    crate::notice::PREFIX,
                    chain(&e)
                );
                let _ = out.flush();
            }
            None
        }
    }
}

/// What a round's end (`summary`, of `repo`) means for when the loop looks at its repository again
/// (`rest`), and for the listing it was begun under, if that is still the last (`listing`).
fn ended(
    repo: PathBuf,
    summary: Option<Summary>,
    listing: Option<&mut Listing>,
    rest: &mut HashMap<PathBuf, u64>,
    now: u64,
    out: &mut dyn Write,
) {
    let Some(summary) = summary else {
        // This host cannot serve it (said once): looked at again after a tick.
        rest.insert(repo, now + millis(TICK));
        return;
    };
    summary.write_notices(out);
    if let Some(l) = listing.filter(|_| !summary.troubled) {
        l.ended(&repo, summary.next_due_ms);
    }
    // Jobs it could not send yet, a round that got nothing done, or one the queue failed: looked
    // at again after a poll (or a tick), not at once.
    if summary.troubled {
        rest.insert(repo, now + millis(TICK));
    } else if summary.idle() || summary.next_due_ms.is_some_and(|d| d <= now + millis(POLL)) {
        rest.insert(repo, now + millis(POLL));
    } else {
        rest.remove(&repo);
    }
}
