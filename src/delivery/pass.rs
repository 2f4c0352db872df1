//! One delivery pass: hold the lanes of the repository's endpoints, take back what workers gone
//! left, claim what is due (ending the jobs too old, or whose push did not complete), then send to
//! every endpoint in parallel, each endpoint's jobs in order ([`super::send`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use rayon::prelude::*;

use super::health::Health;
use super::job::{Job, Outcome};
use super::pace::{Lane, Probe};
use super::queue::{Claim, Lanes, Queue, Settle};
use super::retry::Policy;
use super::send::{Sender, Settling};
use super::summary::Summary;
use crate::clock::Clock;
use crate::config::Config;
use crate::notice::Notice;

/// Whether an `update`-hook job's ref has moved to its new value yet: `(refname, new)`.
pub type RefMoved<'a> = &'a dyn Fn(&str, &str) -> bool;

/// The settings of one pass.
#[derive(Clone, Copy)]
pub struct Pass<'a> {
    pub queue: &'a dyn Queue,
    /// Where the endpoints' lanes are held (the repository's spool, or the database): also for a
    /// pass over a fallback spool, so that one worker at a time sends to each endpoint.
    pub lanes: &'a dyn Lanes,
    pub config: &'a Config,
    /// The repository whose jobs this pass sends (its canonical path; a shared spool holds other
    /// repositories' too).
    pub repo: &'a Path,
    pub ref_moved: RefMoved<'a>,
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

/// The claims a pass sends, each endpoint's health as its lane was held with, and the lanes, held
/// until the claims are settled.
struct Due {
    claims: Vec<Claim>,
    health: HashMap<usize, Health>,
    _lanes: Box<dyn Send>,
}

/// What becomes of a job claimed: sent, or ended at once with this outcome and error.
type Fate = Option<(Outcome, String)>;

impl Pass<'_> {
    fn sender(&self) -> Sender<'_> {
        Sender {
            queue: self.queue,
            lanes: self.lanes,
            config: self.config,
            clock: self.clock,
            repo: self.repo,
        }
    }

    /// Whether to claim `job` now, and what becomes of it; `lanes`: the configured endpoints' lanes
    /// (`None`: held by another worker).
    fn decide(
        &self,
        s: Sender<'_>,
        job: &Job,
        lanes: &mut HashMap<usize, Option<Lane>>,
        summary: &mut Summary,
    ) -> Option<Fate> {
        if job.repo.as_deref().is_some_and(|r| r != self.repo) {
            return None; // Another repository's job, in a shared spool: its own deliverer sends it.
        }
        let now = self.clock.now_ms();
        let settings = &self.config.delivery;
        let Some(endpoint) = s.endpoint(job) else {
            let r = &job.endpoint;
            let why = format!(
                "endpoint {} ({} {}) is no longer in the configuration",
                r.number, r.format, r.url
            );
            return Some(Some((Outcome::Dead, why)));
        };
        let Some(Some(lane)) = lanes.get_mut(&endpoint.number) else {
            summary.wait_for(now); // Another worker sends to this endpoint; look again soon.
            return None;
        };
        // A paused endpoint's jobs wait, however old: they are never given up while it is paused.
        if let Some(until) = lane.paused_until {
            summary.wait_for(until);
            return None;
        }
        if lane.probe == Probe::Taken {
            summary.wait_for(now);
            return None;
        }
        let age = Duration::from_millis(now.saturating_sub(job.created_ms));
        if age > settings.max_age {
            let max_age = humantime::format_duration(settings.max_age);
            return Some(Some((
                Outcome::Expired,
                format!("not delivered within {max_age}"),
            )));
        }
        if job
            .condition
            .as_ref()
            .is_some_and(|c| !(self.ref_moved)(&c.refname, &c.new))
        {
            summary.wait_for(now);
            if age <= settings.update_wait {
                return None;
            }
            return Some(Some((Outcome::Dropped, "push did not complete".to_owned())));
        }
        let due = job.due_ms(now, Policy::of(settings).longest_wait());
        if !(self.ignore_schedule || due <= now) {
            summary.wait_for(due);
            return None;
        }
        if lane.room == Some(0) {
            // The endpoint's rate limit is used up: this job and the ones after it wait.
            summary.wait_for(lane.free_at);
            return None;
        }
        lane.room = lane.room.map(|r| r - 1);
        if lane.probe == Probe::Due {
            lane.probe = Probe::Taken;
        }
        Some(None)
    }

    /// Holds the endpoints' lanes, takes back the claims of workers gone, then claims the jobs that
    /// are due and those to end now (settled here); leaves the others. Each endpoint's jobs go out in
    /// order, one worker at a time: a lane another live worker holds is left for it. Returns the
    /// claims to send, and the lanes, held until they are settled.
    fn claim_due(&self, s: Sender<'_>, summary: &mut Summary) -> Option<Due> {
        let now = self.clock.now_ms();
        let keys: Vec<(usize, String)> = self
            .config
            .endpoints
            .iter()
            .map(|e| (e.number, s.lane_key(e)))
            .collect();
        let all: Vec<String> = keys.iter().map(|(_, k)| k.clone()).collect();
        let held = match self.lanes.hold(&all) {
            Ok(held) => held,
            Err(e) => {
                summary.trouble(&e);
                return None;
            }
        };
        // Only now, lanes held: what a worker gone left in them is back, and listed below.
        if let Err(e) = self.queue.recover() {
            summary.trouble(&e);
        }
        let mut lanes: HashMap<usize, Option<Lane>> = HashMap::new();
        for ((number, key), e) in keys.iter().zip(&self.config.endpoints) {
            let ours = held.keys.contains(key);
            let health = held.health.get(key).cloned().unwrap_or_default();
            let lane = match Lane::open(self.lanes, key, e.chat.rate_limit, now, ours, health) {
                Ok(lane) => Some(lane).filter(|l| l.ours),
                Err(err) => {
                    summary.trouble(&err);
                    None
                }
            };
            lanes.insert(*number, lane);
        }
        let mut fates: HashMap<uuid::Uuid, Fate> = HashMap::new();
        let claimed = self.queue.claim(&mut |job| {
            let fate = self.decide(s, job, &mut lanes, summary);
            if let Some(f) = &fate {
                fates.insert(job.id(), f.clone());
            }
            fate.is_some()
        });
        let claimed = match claimed {
            Ok(c) => c,
            Err(e) => {
                summary.trouble(&e);
                return None;
            }
        };
        summary
            .notices
            .extend(claimed.set_aside.into_iter().map(Notice::from));
        let (mut due, mut ended) = (Vec::new(), Settling::new());
        for mut c in claimed.claims {
            match fates.remove(&c.job.id()).flatten() {
                None => due.push(c),
                Some((outcome, error)) => {
                    let how = if outcome == Outcome::Dropped {
                        summary.dropped += 1;
                        Settle::Forget
                    } else {
                        c.job.last_error = Some(error.clone());
                        summary.dead += 1;
                        Settle::Dead
                    };
                    ended.done.push(s.ended(c, how, outcome, error));
                }
            }
        }
        ended.flush(s.queue, summary);
        let health = lanes
            .into_iter()
            .filter_map(|(number, lane)| Some((number, lane?.health)))
            .collect();
        Some(Due {
            claims: due,
            health,
            _lanes: held.guard,
        })
    }

    /// One delivery pass over the queue.
    pub fn run(&self) -> Summary {
        let mut summary = Summary::default();
        let sender = self.sender();
        let Some(Due {
            claims: due,
            mut health,
            _lanes,
        }) = self.claim_due(sender, &mut summary)
        else {
            return summary;
        };
        // One group per endpoint, jobs in creation order (the queue lists them so), each with the
        // endpoint's health.
        let mut groups: Vec<(Option<usize>, Vec<Claim>)> = Vec::new();
        for c in due {
            let number = sender.endpoint(&c.job).map(|e| e.number);
            match groups.iter_mut().find(|(n, _)| *n == number) {
                Some((_, g)) => g.push(c),
                None => groups.push((number, vec![c])),
            }
        }
        let groups: Vec<(Vec<Claim>, Health)> = groups
            .into_iter()
            .map(|(number, g)| {
                let h = number.and_then(|n| health.remove(&n));
                (g, h.unwrap_or_default())
            })
            .collect();
        // One endpoint (the usual push) needs no pool: its threads would only compete with the push.
        let results = if groups.len() <= 1 {
            groups
                .into_iter()
                .map(|(g, h)| sender.send_group(g, h))
                .collect()
        } else {
            in_pool(self.config.delivery.max_parallel, || {
                groups
                    .into_par_iter()
                    .map(|(g, h)| sender.send_group(g, h))
                    .collect::<Vec<_>>()
            })
        };
        for r in results {
            summary.add(r);
        }
        summary
    }
}
