//! One delivery pass: claim what is due, send to every endpoint in parallel (each endpoint's jobs in
//! order), then settle each job as delivered, scheduled for a retry, or dead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::http::{self, Attempted};
use super::job::{EndpointRef, Job, Outcome, Record};
use super::pace::{self, Lane};
use super::queue::{Claim, Held, Queue, Settle, Settled};
use super::request::WireRequest;
use super::retry::{Policy, Verdict};
use crate::clock::Clock;
use crate::config::{Config, Endpoint};
use crate::error::chain;
use crate::notice::Notice;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
    pub dropped: usize,
    /// One line per request made, in job order, and any queue problem.
    pub notices: Vec<Notice>,
    /// When the earliest job left waiting for its schedule is due (jobs waiting for their ref to move
    /// count as due now); `None` when none waits.
    pub next_due_ms: Option<u64>,
}

impl Summary {
    /// Notes a job that becomes due at `due_ms`.
    fn wait_for(&mut self, due_ms: u64) {
        self.next_due_ms = Some(self.next_due_ms.map_or(due_ms, |d| d.min(due_ms)));
    }

    fn add(&mut self, other: Summary) {
        self.delivered += other.delivered;
        self.retrying += other.retrying;
        self.dead += other.dead;
        self.dropped += other.dropped;
        self.notices.extend(other.notices);
        if let Some(due) = other.next_due_ms {
            self.wait_for(due);
        }
    }
}

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

/// What the parallel part of a pass needs: the queue, the configuration, the clock, and the
/// repository (its canonical path) whose jobs it sends.
#[derive(Clone, Copy)]
struct Sender<'a> {
    queue: &'a dyn Queue,
    config: &'a Config,
    clock: &'a Clock,
    repo: &'a Path,
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
        let work = || {
            groups
                .into_par_iter()
                .map(|g| sender.send_group(g))
                .collect::<Vec<_>>()
        };
        let results = match pool(self.config.delivery.max_parallel.max(1)) {
            Some(pool) => pool.install(work),
            None => work(),
        };
        for r in results {
            summary.add(r);
        }
        self.queue.prune();
        summary
    }
}

/// The longest a settled claim waits to be handed to the queue with the ones after it (so that a
/// database takes them in one statement), and the most handed over at once. A worker killed
/// meanwhile leaves these jobs to be sent again, once.
const SETTLE_WAIT: Duration = Duration::from_millis(50);
const SETTLE_BATCH: usize = 64;

/// Claims ended and not yet handed to the queue.
struct Settling {
    done: Vec<Settled>,
    since: Instant,
}

impl Settling {
    fn new() -> Settling {
        Settling {
            done: Vec::new(),
            since: Instant::now(),
        }
    }

    /// Adds an ended claim; hands them all over when the batch is full or has waited long enough.
    fn add(&mut self, settled: Settled, queue: &dyn Queue, summary: &mut Summary) {
        if self.done.is_empty() {
            self.since = Instant::now();
        }
        self.done.push(settled);
        if self.done.len() >= SETTLE_BATCH || self.since.elapsed() >= SETTLE_WAIT {
            self.flush(queue, summary);
        }
    }

    fn flush(&mut self, queue: &dyn Queue, summary: &mut Summary) {
        if self.done.is_empty() {
            return;
        }
        if let Err(e) = queue.settle(std::mem::take(&mut self.done)) {
            summary.notices.push(Notice::QueueProblem(chain(&e)));
        }
    }
}

impl Sender<'_> {
    /// A claim ended without an attempt, logged with its outcome and error.
    fn ended(&self, claim: Claim, how: Settle, outcome: Outcome, error: String) -> Settled {
        let record = Record {
            error: Some(error),
            ..Record::of(&claim.job, self.clock.now_ms(), outcome)
        };
        Settled {
            claim,
            how,
            record: Some(record),
        }
    }

    fn endpoint(&self, job: &Job) -> Option<&Endpoint> {
        let r = &job.endpoint;
        // A URL that is a credential is kept masked: the hook id (a hash of the whole URL) tells apart
        // two such endpoints on one host.
        let same = |e: &&Endpoint| {
            e.format.id() == r.format
                && e.queued_url() == r.url
                && (!e.format.url_is_secret() || e.hook_id() == job.template.hook.id)
        };
        let endpoints = &self.config.endpoints;
        endpoints
            .iter()
            .filter(same)
            .find(|e| e.number == r.number)
            .or_else(|| endpoints.iter().find(same))
    }

    /// The key of an endpoint's lock and pacing record: this repository and the endpoint.
    fn lane_key(&self, job: &Job) -> String {
        format!(
            "{}\n{}\n{}",
            self.repo.display(),
            job.endpoint.number,
            job.endpoint.url
        )
    }

    fn send_group(&self, group: Vec<Claim>) -> Summary {
        let mut summary = Summary::default();
        let endpoint = self.endpoint(&group[0].job);
        let key = self.lane_key(&group[0].job);
        let client = endpoint.map(|e| http::client(&e.tls));
        let mut sent = Vec::new();
        let mut settling = Settling::new();
        // Set when the receiver said "too fast": the rest of the group waits until then, in order.
        let mut held_until: Option<u64> = None;
        for mut claim in group {
            if let Some(until) = held_until {
                claim.job.next_ms = claim.job.next_ms.max(until);
                summary.wait_for(claim.job.next_ms);
                let retry = Settled {
                    claim,
                    how: Settle::Retry,
                    record: None,
                };
                settling.add(retry, self.queue, &mut summary);
                continue;
            }
            claim.job.attempts += 1;
            let attempted = match (endpoint, &client) {
                (Some(e), Some(Ok(client))) => {
                    let wire = WireRequest::build(e, &claim.job.template, self.clock);
                    sent.push(self.clock.now_ms());
                    http::send(&wire, e.timeout, client)
                }
                (Some(_), Some(Err(err))) => Attempted::failed(err.clone()),
                _ => {
                    let r = &claim.job.endpoint;
                    let error = format!(
                        "endpoint {} ({} {}) is no longer in the configuration",
                        r.number, r.format, r.url
                    );
                    claim.job.last_error = Some(error.clone());
                    summary.dead += 1;
                    let dead = self.ended(claim, Settle::Dead, Outcome::Dead, error);
                    settling.add(dead, self.queue, &mut summary);
                    continue;
                }
            };
            let settled;
            (settled, held_until) = self.conclude(claim, &attempted, endpoint, &mut summary);
            settling.add(settled, self.queue, &mut summary);
        }
        settling.flush(self.queue, &mut summary);
        if let Some(rate) = endpoint.and_then(|e| e.chat.rate_limit) {
            pace::record(self.queue, &key, &sent, rate);
        }
        summary
    }

    /// Judges an attempt by its answer (the vendor's verdict from the body, when its format reads
    /// one, or else the status): how its claim ends, with its log record, and when the job is due
    /// again if the receiver said it was sent too fast.
    fn conclude(
        &self,
        mut claim: Claim,
        attempted: &Attempted,
        endpoint: Option<&Endpoint>,
        summary: &mut Summary,
    ) -> (Settled, Option<u64>) {
        let job = &mut claim.job;
        let (verdict, failure, too_fast) = attempted.judged(endpoint.map(|e| e.format));
        let policy = Policy::of(&self.config.delivery);
        let next = match verdict {
            Verdict::Retryable { retry_after } => {
                policy.next_delay(job.attempts, retry_after, self.clock.unit())
            }
            _ => None,
        };
        let url = endpoint.map_or_else(|| job.endpoint.url.clone(), |e| e.shown_url.clone());
        let (refname, format) = (job.refname.clone(), job.endpoint.format.clone());
        let mut text = match &failure {
            Some(f) => format!("FAILED: {f}"),
            None => attempted.summary(),
        };
        let mut held = None;
        let (how, outcome) = match (verdict, next) {
            (Verdict::Delivered, _) => {
                summary.delivered += 1;
                (Settle::Delivered, Outcome::Delivered)
            }
            (Verdict::Retryable { .. }, Some(delay)) => {
                job.next_ms =
                    self.clock.now_ms() + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                job.last_error = Some(text.clone());
                held = too_fast.then_some(job.next_ms);
                text.push_str(&format!(
                    "; retry {} of {} in {}",
                    job.attempts,
                    policy.schedule.len(),
                    humantime::format_duration(Duration::from_secs(delay.as_secs()))
                ));
                summary.retrying += 1;
                summary.wait_for(job.next_ms);
                (Settle::Retry, Outcome::Retry)
            }
            _ => {
                job.last_error = Some(text.clone());
                text.push_str(if matches!(verdict, Verdict::Permanent) {
                    "; not retried, kept as a dead letter"
                } else {
                    "; retries used up, kept as a dead letter"
                });
                summary.dead += 1;
                (Settle::Dead, Outcome::Dead)
            }
        };
        let record = Record {
            status: attempted.status,
            duration_ms: u64::try_from(attempted.elapsed.as_millis()).ok(),
            error: failure,
            next_ms: (how == Settle::Retry).then_some(job.next_ms),
            ..Record::of(job, self.clock.now_ms(), outcome)
        };
        summary.notices.push(Notice::Sent {
            refname,
            url,
            format,
            summary: text,
        });
        let settled = Settled {
            claim,
            how,
            record: Some(record),
        };
        (settled, held)
    }
}
