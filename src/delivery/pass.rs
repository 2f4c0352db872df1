//! One delivery pass: claim what is due (ending the jobs too old, or whose push did not complete),
//! then send to every endpoint in parallel, each endpoint's jobs in order ([`super::send`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use rayon::prelude::*;

use super::job::{EndpointRef, Outcome};
use super::pace::Lane;
use super::queue::{Claim, Held, Queue, Settle};
use super::send::{Sender, Settling};
use super::summary::Summary;
use crate::clock::Clock;
use crate::config::Config;
use crate::notice::Notice;

/// Whether an `update`-hook job's ref has moved to its new value yet: `(refname, new)`.
pub type RefMoved<'a> = &'a dyn Fn(&str, &str) -> bool;

/// Turns what waits to become jobs (recorded pushes) into queued jobs, saying what went wrong.
pub type Intake<'a> = &'a dyn Fn() -> Vec<Notice>;

/// The settings of one pass.
#[derive(Clone, Copy)]
pub struct Pass<'a> {
    pub queue: &'a dyn Queue,
    pub config: &'a Config,
    /// The repository whose jobs this pass sends (a shared spool holds other repositories' too).
    pub repo: &'a Path,
    pub ref_moved: RefMoved<'a>,
    /// Runs first in every pass.
    pub intake: Intake<'a>,
    pub clock: &'a Clock,
    /// Send every queued job now, whatever its schedule (`deliver --now`).
    pub ignore_schedule: bool,
}

/// The pool that sends to endpoints in parallel, built once per process (its size: the first
/// configuration's `max_parallel`).
fn pool(size: usize) -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(size)
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `work` (which fans out with rayon's parallel iterators) in that pool, of `size` threads
/// when this makes it; the passes of several repositories at once share its threads.
fn in_pool<R: Send>(size: usize, work: impl FnOnce() -> R + Send) -> R {
    match pool(size.max(1)) {
        Some(pool) => pool.install(work),
        None => work(),
    }
}

impl Pass<'_> {
    fn sender<'b>(&'b self, repo: &'b Path) -> Sender<'b> {
        Sender {
            queue: self.queue,
            config: self.config,
            clock: self.clock,
            repo,
        }
    }

    /// Claims the jobs that are due, and those to expire or drop (settled here); leaves the others.
    /// Jobs of an endpoint another worker is sending to are left for it (or for a later pass): each
    /// endpoint's jobs go out in order, one worker at a time. The returned locks are held until the
    /// claims are settled.
    fn claim_due(&self, s: Sender<'_>, summary: &mut Summary) -> (Vec<Claim>, Vec<Held>) {
        let now = self.clock.now_ms();
        let settings = &self.config.delivery;
        // What becomes of each job taken: sent, or ended with this outcome and error.
        let mut fates: HashMap<uuid::Uuid, Option<(Outcome, String)>> = HashMap::new();
        let mut take = Vec::new();
        let mut lanes: HashMap<EndpointRef, Lane> = HashMap::new();
        let mut locks = Vec::new();
        for job in self.queue.waiting() {
            if job.repo.as_deref().is_some_and(|r| r != s.repo) {
                continue; // Another repository's job, in a shared spool: its own deliverer sends it.
            }
            let lane = lanes.entry(job.endpoint.clone()).or_insert_with(|| {
                let key = s.lane_key(&job);
                let ours = self
                    .queue
                    .lock_endpoint(&key)
                    .map(|l| locks.push(l))
                    .is_some();
                let rate = s.endpoint(&job).and_then(|e| e.chat.rate_limit);
                Lane::open(self.queue, &key, rate, now, ours)
            });
            if !lane.ours {
                summary.wait_for(now); // Another worker sends to this endpoint; look again soon.
                continue;
            }
            let age = Duration::from_millis(now.saturating_sub(job.created_ms));
            let fate = if age > settings.max_age {
                let max_age = humantime::format_duration(settings.max_age);
                Some((Outcome::Expired, format!("not delivered within {max_age}")))
            } else if job
                .condition
                .as_ref()
                .is_some_and(|c| !(self.ref_moved)(&c.refname, &c.new))
            {
                summary.wait_for(now);
                if age <= settings.update_wait {
                    continue;
                }
                Some((Outcome::Dropped, "push did not complete".to_owned()))
            } else if !(self.ignore_schedule || job.next_ms <= now) {
                summary.wait_for(job.next_ms);
                continue;
            } else if lane.room == Some(0) {
                // The endpoint's rate limit is used up: this job and the ones after it wait.
                summary.wait_for(lane.free_at);
                continue;
            } else {
                lane.room = lane.room.map(|r| r - 1);
                None
            };
            fates.insert(job.id(), fate);
            take.push(job);
        }
        let (mut due, mut ended) = (Vec::new(), Settling::new());
        for mut c in self.queue.claim(&take) {
            match fates.remove(&c.job.id()).flatten() {
                None => due.push(c),
                Some((outcome, error)) => {
                    let how = if outcome == Outcome::Expired {
                        c.job.last_error = Some(error.clone());
                        summary.dead += 1;
                        Settle::Dead
                    } else {
                        summary.dropped += 1;
                        Settle::Forget
                    };
                    ended.done.push(s.ended(c, how, outcome, error));
                }
            }
        }
        ended.flush(s.queue, summary);
        (due, locks)
    }

    /// One delivery pass over the queue.
    pub fn run(&self) -> Summary {
        let mut summary = Summary {
            notices: (self.intake)(),
            ..Summary::default()
        };
        self.queue.recover();
        let mine: PathBuf = self
            .repo
            .canonicalize()
            .unwrap_or_else(|_| self.repo.to_path_buf());
        let sender = self.sender(&mine);
        let (due, _locks) = self.claim_due(sender, &mut summary);
        // One group per endpoint, jobs in creation order (the queue lists them so).
        let mut groups: Vec<Vec<Claim>> = Vec::new();
        for c in due {
            match groups
                .iter_mut()
                .find(|g| g[0].job.endpoint == c.job.endpoint)
            {
                Some(g) => g.push(c),
                None => groups.push(vec![c]),
            }
        }
        let results = in_pool(self.config.delivery.max_parallel, || {
            groups
                .into_par_iter()
                .map(|g| sender.send_group(g))
                .collect::<Vec<_>>()
        });
        for r in results {
            summary.add(r);
        }
        self.queue.prune();
        summary
    }
}
