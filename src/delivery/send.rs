//! Sending one endpoint's claimed jobs, in order: the request of each, the verdict on its answer
//! (delivered, retried when, or dead), and the claims handed back in batches, to be settled.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use super::feed::{Group, Settling};
use super::health::{Health, Judged, Rule, Watch};
use super::http::{self, Attempted};
use super::job::{Job, Outcome, Record};
use super::pace;
use super::queue::{Claim, Lanes, Queue, Settle, Settled};
use super::request::{Tried, WireRequest};
use super::retry::{Policy, Verdict};
use super::summary::Summary;
use crate::clock::{millis, Clock};
use crate::config::{Config, Endpoint};
use crate::notice::Notice;

/// What the parallel part of a pass needs: the queue, the configuration, the clock, and the
/// repository (its canonical path) whose jobs it sends.
#[derive(Clone, Copy)]
pub(super) struct Sender<'a> {
    pub(super) queue: &'a dyn Queue,
    pub(super) lanes: &'a dyn Lanes,
    pub(super) config: &'a Config,
    pub(super) clock: &'a Clock,
    pub(super) repo: &'a Path,
}

/// What sending a group leaves for the pass's thread to keep in the endpoint's lane once its claims
/// are settled: the endpoint's health, and when requests went (for its rate limit).
pub(super) struct Sent {
    pub(super) summary: Summary,
    key: String,
    health: Watch,
    sent: Vec<u64>,
    rate: Option<crate::format::Rate>,
}

impl Sender<'_> {
    /// A claim ended without an attempt, logged with its outcome and error.
    pub(super) fn ended(
        &self,
        claim: Claim,
        how: Settle,
        outcome: Outcome,
        error: String,
    ) -> Settled {
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

    pub(super) fn endpoint(&self, job: &Job) -> Option<&Endpoint> {
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

    /// The key of an endpoint's lane (its lock and pacing record): this repository and the endpoint.
    pub(super) fn lane_key(&self, endpoint: &Endpoint) -> String {
        super::health::lane_key(self.repo, endpoint.number, endpoint.queued_url())
    }

    /// Sends one endpoint's claims, in order, as they come from `group` until it ends (the pass
    /// ended those of endpoints no longer configured), judging the answers against the endpoint's
    /// `health` as its lane was held; the claims ended go back through `settled`.
    pub(super) async fn send_group(
        &self,
        mut group: Group,
        health: Health,
        settled: mpsc::Sender<Vec<Settled>>,
    ) -> Sent {
        let mut summary = Summary::default();
        let mut settling = Settling::new(settled);
        let rule = Rule {
            after: self.config.delivery.pause_after,
            period: self.config.delivery.pause_period,
        };
        let Some(first) = group.next(&mut settling).await else {
            return Sent {
                summary,
                key: String::new(),
                health: Watch::open(health, false, rule),
                sent: Vec::new(),
                rate: None,
            };
        };
        let endpoint = self.endpoint(&first.job);
        let key = endpoint.map(|e| self.lane_key(e)).unwrap_or_default();
        let client = endpoint.map(|e| http::client(&e.tls, &self.config.destinations));
        let mut health = Watch::open(health, endpoint.is_some(), rule);
        let mut sent = Vec::new();
        // How long the last request took: the next one is expected to take as long.
        let mut last_took = Duration::ZERO;
        // Set when the receiver said "too fast": the rest of the group waits until then, in order.
        let mut held_until: Option<u64> = None;
        let mut first = Some(first);
        loop {
            let next = match first.take() {
                Some(claim) => Some(claim),
                None => group.next(&mut settling).await,
            };
            let Some(mut claim) = next else { break };
            if health.paused() || held_until.is_some() {
                // The rest of the group waits: as it is, for the probe, when an answer before this
                // one paused the endpoint; else until the receiver said it may be sent to again.
                if let (false, Some(until)) = (health.paused(), held_until) {
                    claim.job.next_ms = claim.job.next_ms.max(until);
                    summary.wait_for(claim.job.next_ms);
                }
                let waits = Settled {
                    claim,
                    how: Settle::Retry,
                    record: None,
                };
                settling.add(waits);
                continue;
            }
            claim.job.attempts += 1;
            let tried = Tried {
                number: claim.job.attempts,
                first_ms: *claim
                    .job
                    .first_attempt_ms
                    .get_or_insert(self.clock.now_ms()),
            };
            let attempted = match (endpoint, &client) {
                (Some(e), Some(Ok(client))) => {
                    let wire = WireRequest::build(e, &claim.job.template, self.clock, Some(tried));
                    settling.before(last_took);
                    sent.push(self.clock.now_ms());
                    let attempted = http::send(&wire, e.timeout, client, self.clock.now()).await;
                    last_took = attempted.elapsed;
                    attempted
                }
                (Some(_), Some(Err(err))) => Attempted::failed(err.to_string()),
                _ => {
                    let r = &claim.job.endpoint;
                    let error = format!(
                        "endpoint {} ({} {}) is no longer in the configuration",
                        r.number, r.format, r.url
                    );
                    claim.job.last_error = Some(error.clone());
                    summary.dead += 1;
                    let dead = self.ended(claim, Settle::Dead, Outcome::Dead, error);
                    settling.add(dead);
                    continue;
                }
            };
            let url = endpoint.map_or("", |e| e.shown_url.as_str());
            let format = endpoint.map(|e| e.format);
            let now = self.clock.now_ms();
            let settled = match health.judge(now, &attempted, format, url, &mut summary) {
                Judged::Held(why) => self.held(claim, &attempted, url, why, &mut summary),
                Judged::Go => {
                    let settled;
                    (settled, held_until) =
                        self.conclude(claim, &attempted, endpoint, &mut summary);
                    settled
                }
            };
            settling.add(settled);
        }
        settling.flush();
        Sent {
            summary,
            key,
            health,
            sent,
            rate: endpoint.and_then(|e| e.chat.rate_limit),
        }
    }

    /// Keeps in the endpoint's lane what sending its group left, once its claims are settled.
    pub(super) fn keep(&self, sent: Sent) -> Summary {
        let Sent {
            mut summary,
            key,
            health,
            sent,
            rate,
        } = sent;
        health.keep(self.lanes, &key, &mut summary);
        if let Some(rate) = rate {
            if let Err(e) = pace::record(self.lanes, &key, &sent, rate) {
                summary.trouble(&e);
            }
        }
        summary
    }

    /// An attempt that failed and left the endpoint paused: the job waits as it is, due behind the
    /// pause (so that it goes first when the pause ends), and keeps its retries (the attempt is
    /// logged, not counted).
    fn held(
        &self,
        mut claim: Claim,
        attempted: &Attempted,
        url: &str,
        why: String,
        summary: &mut Summary,
    ) -> Settled {
        let record = Record {
            status: attempted.status,
            duration_ms: Some(millis(attempted.elapsed)),
            error: Some(why.clone()),
            ..Record::of(&claim.job, self.clock.now_ms(), Outcome::Retry)
        };
        let job = &mut claim.job;
        job.attempts = job.attempts.saturating_sub(1);
        job.last_error = Some(why.clone());
        summary.retrying += 1;
        summary.notices.push(Notice::Sent {
            refname: job.refname.clone(),
            url: url.to_owned(),
            format: job.endpoint.format.clone(),
            summary: format!("FAILED: {why}"),
        });
        Settled {
            claim,
            how: Settle::Retry,
            record: Some(record),
        }
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
                job.next_ms = self.clock.now_ms().saturating_add(millis(delay));
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
            duration_ms: Some(millis(attempted.elapsed)),
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
