//! One delivery pass, in batches of what the queue claims at once: hold the lanes of the
//! repository's endpoints, take back what workers gone left, claim what is due (ending the jobs too
//! old, or whose push did not complete), each claim handed as it is made to its endpoint's sender,
//! every endpoint sent to in parallel, each endpoint's jobs in order ([`super::send`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use super::feed::Group;
use super::handoff::{Fate, Feeds, Router, Senders};
use super::health::Health;
use super::job::{Job, Outcome};
use super::pace::{Lane, Probe};
use super::queue::{Claimed, Lanes, Queue, QueueError};
use super::retry::Policy;
use super::send::Sender;
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

/// The most batches in one pass, each as many claims as the queue holds at once: a bound far beyond
/// any queue's length.
const MAX_BATCHES: usize = 100_000;

/// Each configured endpoint's lane for a batch (`None`: another live worker holds it), and what
/// holds them until the batch's claims are settled.
type HeldLanes = (HashMap<usize, Option<Lane>>, Box<dyn Send>);

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

    /// Holds the endpoints' lanes and takes back the claims of workers gone; returns each configured
    /// endpoint's lane (`None`: another live worker holds it) and the lanes' guard, held until the
    /// batch's claims are settled.
    fn hold_lanes(&self, s: Sender<'_>, summary: &mut Summary) -> Option<HeldLanes> {
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
        Some((lanes, held.guard))
    }

    /// One delivery pass over the queue: a batch of claims sent, then the next, for as long as the
    /// queue stopped short of what is due.
    pub fn run(&self) -> Summary {
        let mut summary = Summary::default();
        let mut taken = HashSet::new();
        for _ in 0..MAX_BATCHES {
            if !self.batch(&mut taken, &mut summary) {
                return summary;
            }
        }
        summary.wait_for(self.clock.now_ms()); // Still more: the next pass goes on at once.
        summary
    }

    /// One batch: lanes held, then the jobs that are due and those to end now claimed, but none this
    /// pass claimed before (in `taken`); the others are left. Each endpoint's jobs go out in order,
    /// one worker at a time: a lane another live worker holds is left for it. Each claim goes to its
    /// endpoint's sender as it is made (one endpoint, the usual push, is sent to here, once claimed:
    /// a pool's threads would only compete with the push). Returns whether more may be due.
    fn batch(&self, taken: &mut HashSet<uuid::Uuid>, summary: &mut Summary) -> bool {
        let s = self.sender();
        let Some((mut lanes, _held)) = self.hold_lanes(s, summary) else {
            return false;
        };
        let health: HashMap<usize, Health> = (lanes.iter())
            .filter_map(|(number, lane)| Some((*number, lane.as_ref()?.health.clone())))
            .collect();
        let fates: RefCell<HashMap<uuid::Uuid, Fate>> = RefCell::default();
        let mut said = Summary::default();
        let mut pick = |job: &Job| {
            if taken.contains(&job.id()) {
                return false; // Sent once in this pass already (and retried).
            }
            let fate = self.decide(s, job, &mut lanes, &mut said);
            if let Some(f) = &fate {
                fates.borrow_mut().insert(job.id(), f.clone());
                taken.insert(job.id());
            }
            fate.is_some()
        };
        let mut router = Router::new(s, &fates);
        let (claimed, sent) = self.send(&mut pick, &mut router, health);
        summary.add(said);
        let more = match claimed {
            Ok(claimed) => {
                (summary.notices).extend(claimed.set_aside.into_iter().map(Notice::from));
                claimed.more
            }
            Err(e) => {
                summary.trouble(&e);
                false
            }
        };
        summary.add(router.summary);
        for r in sent {
            summary.add(r);
        }
        more
    }
}

/// What a batch's claim found, and what its senders did.
type Done = (Result<Claimed, QueueError>, Vec<Summary>);

impl Pass<'_> {
    /// Claims what `pick` takes, each claim handed to its endpoint's sender (started at the
    /// endpoint's first claim) soon after it is made; with one endpoint, the usual push, once all
    /// are claimed: its sender would only compete with the claiming. What the senders end is
    /// settled here, as it comes back, while the claiming goes on.
    fn send(
        &self,
        pick: &mut dyn FnMut(&Job) -> bool,
        router: &mut Router<'_, '_>,
        mut health: HashMap<usize, Health>,
    ) -> Done {
        let s = router.s;
        std::thread::scope(|scope| {
            let mut senders = Senders::new(scope, s, router.settled_to());
            let claimed = if self.config.endpoints.len() <= 1 {
                let mut due = Vec::new();
                let claimed = self
                    .queue
                    .claim_each(pick, &mut |c| due.extend(router.route(c)));
                if !due.is_empty() {
                    let h = health.drain().next().map(|(_, h)| h).unwrap_or_default();
                    senders.start(0, Group::of(due), h);
                }
                claimed
            } else {
                let mut feeds = Feeds::default();
                let claimed = self.queue.claim_each(pick, &mut |c| {
                    let Some(c) = router.route(c) else { return };
                    let number = s.endpoint(&c.job).map(|e| e.number);
                    feeds.hand(number, c, |nth, group| {
                        let h = number.and_then(|n| health.remove(&n)).unwrap_or_default();
                        senders.start(nth, group, h);
                    });
                });
                feeds.close();
                claimed
            };
            (claimed, senders.finish(router))
        })
    }
}
