//! Delivering spooled jobs: claim what is due, send to every endpoint in parallel (each endpoint's jobs in
//! order), then mark each job delivered, scheduled for a retry, or dead.

pub mod retry;

use std::path::Path;
use std::time::Duration;

use rayon::prelude::*;

use crate::clock::Clock;
use crate::config::{Config, Endpoint};
use crate::notice::{chain, Notice};
use crate::send;
use crate::spool::{Claimed, Job, Outcome, Record, Spool};
use retry::Verdict;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
    pub dropped: usize,
    /// One line per request made, in job order.
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
}

/// The settings of one pass.
#[derive(Debug, Clone, Copy)]
pub struct Pass<'a> {
    pub spool: &'a Spool,
    pub config: &'a Config,
    /// The repository, to see whether an `update`-hook event's ref has moved.
    pub git_dir: &'a Path,
    pub clock: &'a Clock,
    /// Send every queued job now, whatever its schedule (`deliver --now`).
    pub ignore_schedule: bool,
}

/// Whether an `update`-hook job's ref now points at its new value (or at a descendant of it).
fn ref_moved(repo: &git2::Repository, refname: &str, new: &str) -> bool {
    let current = repo.find_reference(refname).ok().and_then(|r| r.target());
    match (current, git2::Oid::from_str(new)) {
        (None, Ok(n)) => n.is_zero(),
        (Some(c), Ok(n)) => c == n || repo.graph_descendant_of(c, n).unwrap_or(false),
        (_, Err(_)) => false,
    }
}

impl Pass<'_> {
    fn log(&self, job: &Job, outcome: Outcome, fill: impl FnOnce(&mut Record)) {
        let mut record = Record::of(job, self.clock.now_ms(), outcome);
        fill(&mut record);
        self.spool.log(&record);
    }

    /// Claims the jobs that are due; expires, drops or leaves the others.
    fn claim_due(&self, summary: &mut Summary) -> Vec<Claimed> {
        let now = self.clock.now_ms();
        let settings = &self.config.delivery;
        let repo = std::cell::OnceCell::new();
        let mut due = Vec::new();
        let mine = self
            .git_dir
            .canonicalize()
            .unwrap_or_else(|_| self.git_dir.to_path_buf());
        for job in self.spool.queued() {
            if job.repo.as_ref().is_some_and(|r| *r != mine) {
                continue; // Another repository's job, in a shared spool: its own deliverer sends it.
            }
            let age = Duration::from_millis(now.saturating_sub(job.created_ms));
            if age > settings.max_age {
                if let Some(mut c) = self.spool.claim(&job) {
                    c.job.last_error = Some(format!(
                        "not delivered within {}",
                        humantime::format_duration(settings.max_age)
                    ));
                    self.log(&c.job, Outcome::Expired, |r| {
                        r.error.clone_from(&c.job.last_error);
                    });
                    let _ = self.spool.finish(c, false);
                    summary.dead += 1;
                }
                continue;
            }
            if let Some(cond) = &job.condition {
                let repo = repo.get_or_init(|| git2::Repository::open(self.git_dir).ok());
                let moved = repo
                    .as_ref()
                    .is_some_and(|r| ref_moved(r, &cond.refname, &cond.new));
                if !moved {
                    summary.wait_for(now);
                    if age > settings.update_wait {
                        if let Some(c) = self.spool.claim(&job) {
                            self.log(&c.job, Outcome::Dropped, |r| {
                                r.error = Some("push did not complete".to_owned());
                            });
                            let _ = self.spool.forget(c);
                            summary.dropped += 1;
                        }
                    }
                    continue;
                }
            }
            if self.ignore_schedule || job.next_ms <= now {
                due.extend(self.spool.claim(&job));
            } else {
                summary.wait_for(job.next_ms);
            }
        }
        due
    }

    /// One delivery pass over the spool.
    pub fn run(&self) -> Summary {
        self.spool.recover();
        let mut summary = Summary::default();
        let due = self.claim_due(&mut summary);
        // One group per endpoint, jobs in creation order (the queue lists them so).
        let mut groups: Vec<Vec<Claimed>> = Vec::new();
        for c in due {
            match groups
                .iter_mut()
                .find(|g| g[0].job.endpoint == c.job.endpoint)
            {
                Some(g) => g.push(c),
                None => groups.push(vec![c]),
            }
        }
        let parallel = self
            .config
            .delivery
            .max_parallel
            .clamp(1, groups.len().max(1));
        let work = || {
            groups
                .into_par_iter()
                .map(|g| self.send_group(g))
                .collect::<Vec<_>>()
        };
        let results = match rayon::ThreadPoolBuilder::new()
            .num_threads(parallel)
            .build()
        {
            Ok(pool) => pool.install(work),
            Err(_) => work(),
        };
        for r in results {
            summary.delivered += r.delivered;
            summary.retrying += r.retrying;
            summary.dead += r.dead;
            summary.notices.extend(r.notices);
            if let Some(due) = r.next_due_ms {
                summary.wait_for(due);
            }
        }
        self.spool.prune();
        summary
    }

    fn endpoint(&self, job: &Job) -> Option<&Endpoint> {
        let r = &job.endpoint;
        let same = |e: &&Endpoint| e.format.id() == r.format && e.url.as_str() == r.url;
        let endpoints = &self.config.endpoints;
        endpoints
            .iter()
            .filter(same)
            .find(|e| e.number == r.number)
            .or_else(|| endpoints.iter().find(same))
    }

    fn send_group(&self, group: Vec<Claimed>) -> Summary {
        let mut summary = Summary::default();
        let endpoint = self.endpoint(&group[0].job);
        let client = endpoint.map(|e| send::client(&e.tls));
        for mut claimed in group {
            claimed.job.attempts += 1;
            let attempted = match (endpoint, &client) {
                (Some(e), Some(Ok(client))) => send::attempt(e, &claimed.job, client, self.clock),
                (Some(_), Some(Err(err))) => send::Attempted::failed(err.clone()),
                _ => {
                    let r = &claimed.job.endpoint;
                    claimed.job.last_error = Some(format!(
                        "endpoint {} ({} {}) is no longer in the configuration",
                        r.number, r.format, r.url
                    ));
                    self.log(&claimed.job, Outcome::Dead, |rec| {
                        rec.error.clone_from(&claimed.job.last_error);
                    });
                    summary.dead += 1;
                    let _ = self.spool.finish(claimed, false);
                    continue;
                }
            };
            let job = &mut claimed.job;
            let mut text = attempted.summary();
            // A failure is logged as the pusher would read it: status, redirect target, body or error.
            let failure = attempted
                .status
                .is_none_or(|s| !(200..300).contains(&s))
                .then(|| text.trim_start_matches("FAILED: ").to_owned());
            let fill = |r: &mut Record| {
                r.status = attempted.status;
                r.duration_ms = u64::try_from(attempted.elapsed.as_millis()).ok();
                r.error.clone_from(&failure);
            };
            let verdict = retry::classify(attempted.status, attempted.retry_after);
            let next = match verdict {
                Verdict::Retryable { retry_after } => self.config.delivery.policy.next_delay(
                    job.attempts,
                    retry_after,
                    self.clock.unit(),
                ),
                _ => None,
            };
            let url = endpoint.map_or_else(|| job.endpoint.url.clone(), Endpoint::masked_url);
            let (refname, format) = (job.refname.clone(), job.endpoint.format.clone());
            let result = match (verdict, next) {
                (Verdict::Delivered, _) => {
                    self.log(job, Outcome::Delivered, fill);
                    summary.delivered += 1;
                    self.spool.finish(claimed, true)
                }
                (Verdict::Retryable { .. }, Some(delay)) => {
                    job.next_ms =
                        self.clock.now_ms() + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    job.last_error = Some(text.clone());
                    text.push_str(&format!(
                        "; retry {} of {} in {}",
                        job.attempts,
                        self.config.delivery.policy.schedule.len(),
                        humantime::format_duration(Duration::from_secs(delay.as_secs()))
                    ));
                    self.log(job, Outcome::Retry, |r| {
                        fill(r);
                        r.next_ms = Some(job.next_ms);
                    });
                    summary.retrying += 1;
                    summary.wait_for(job.next_ms);
                    self.spool.requeue(claimed)
                }
                _ => {
                    job.last_error = Some(text.clone());
                    text.push_str(if matches!(verdict, Verdict::Permanent) {
                        "; not retried, kept as a dead letter"
                    } else {
                        "; retries used up, kept as a dead letter"
                    });
                    self.log(job, Outcome::Dead, fill);
                    summary.dead += 1;
                    self.spool.finish(claimed, false)
                }
            };
            summary.notices.push(Notice::Sent {
                refname,
                url,
                format,
                summary: text,
            });
            if let Err(e) = result {
                summary.notices.push(Notice::Problem(chain(&e)));
            }
        }
        summary
    }
}
