//! Building each endpoint's requests for a push, and sending them: endpoints in parallel, events in order.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::clock::Clock;
use crate::config::Endpoint;
use crate::event::PushEvent;
use crate::format::{Attempt, Auth, Delivery, Hook, Prepared};
use crate::notice::{chain, Notice};

/// One event for one endpoint: what every attempt to send it shares.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    pub endpoint: &'a Endpoint,
    pub refname: String,
    pub delivery: Delivery,
}

impl Job<'_> {
    /// Headers and body for a new attempt: fresh attempt id, now, signatures.
    pub fn prepare(&self, clock: &Clock) -> Prepared {
        let auth = Auth {
            secret: self.endpoint.secret.as_ref(),
            mode: self.endpoint.secret_mode,
        };
        let attempt = Attempt {
            id: clock.uuid(),
            now: clock.now(),
        };
        self.endpoint.format.prepare(&self.delivery, auth, attempt)
    }
}

/// Every (endpoint, event) pair the endpoints' filters let through, grouped by endpoint, events in push order.
pub fn plan<'a>(
    endpoints: &'a [Endpoint],
    events: &[PushEvent],
    clock: &Clock,
) -> Vec<Vec<Job<'a>>> {
    endpoints
        .iter()
        .map(|endpoint| {
            events
                .iter()
                .filter(|e| endpoint.wants(&e.change))
                .map(|e| {
                    let hook = Hook {
                        id: endpoint.hook_id(),
                        delivery_id: clock.uuid(),
                    };
                    Job {
                        endpoint,
                        refname: e.change.update.refname.clone(),
                        delivery: Delivery {
                            event_id: e.id,
                            hook,
                            kind: e.change.kind(),
                            instance: e.project.instance_url(),
                            project_id: e.project.id,
                            body: endpoint.format.body(e, hook),
                        },
                    }
                })
                .collect()
        })
        .filter(|jobs: &Vec<Job<'a>>| !jobs.is_empty())
        .collect()
}

/// Sends one attempt of a job and says how it went.
pub fn send_one(job: &Job<'_>, client: &reqwest::blocking::Client, clock: &Clock) -> Notice {
    let endpoint = job.endpoint;
    let (refname, url, format) = (
        job.refname.clone(),
        endpoint.masked_url(),
        endpoint.format.id(),
    );
    let prepared = job.prepare(clock);
    let mut request = client.post(endpoint.url.clone()).body(prepared.body);
    for h in &prepared.headers {
        request = request.header(h.name, &h.value);
    }
    if let Some((user, password)) = &endpoint.basic_auth {
        request = request.basic_auth(user, Some(password.expose()));
    }
    let started = Instant::now();
    match request.send() {
        Ok(response) => {
            let status = response.status();
            let reason = status.canonical_reason().unwrap_or("").to_owned();
            if status.is_success() {
                return Notice::Delivered {
                    refname,
                    url,
                    format,
                    status: status.as_u16(),
                    reason,
                    elapsed: started.elapsed(),
                };
            }
            let location = status
                .is_redirection()
                .then(|| {
                    response
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .map(|l| crate::config::mask(&String::from_utf8_lossy(l.as_bytes())))
                })
                .flatten();
            Notice::Rejected {
                refname,
                url,
                format,
                status: status.as_u16(),
                reason,
                location,
            }
        }
        Err(e) => Notice::Failed {
            refname,
            url,
            format,
            error: describe(&e, endpoint.timeout),
        },
    }
}

/// A transport error in a few words, without repeating the URL.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}", humantime::format_duration(timeout));
    }
    let cause = std::error::Error::source(e).map_or_else(|| e.to_string(), chain);
    if e.is_connect() {
        format!("cannot connect: {cause}")
    } else {
        cause
    }
}

/// A client for one endpoint: its timeout, no redirects, TLS verified.
pub fn client(endpoint: &Endpoint) -> Result<reqwest::blocking::Client, reqwest::Error> {
    reqwest::blocking::Client::builder()
        .timeout(endpoint.timeout)
        .connect_timeout(endpoint.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .http1_title_case_headers()
        .build()
}

/// Sends every job: endpoints in parallel (at most `parallel` at once), each endpoint's events in order.
/// Results come back in plan order, whatever order they finished in.
pub fn send_all(plan: &[Vec<Job<'_>>], clock: &Clock, parallel: usize) -> Vec<Notice> {
    let run = || {
        plan.par_iter()
            .map(|jobs| {
                let Some(first) = jobs.first() else {
                    return Vec::new();
                };
                match client(first.endpoint) {
                    Ok(client) => jobs
                        .iter()
                        .map(|job| send_one(job, &client, clock))
                        .collect(),
                    Err(e) => jobs
                        .iter()
                        .map(|job| Notice::Failed {
                            refname: job.refname.clone(),
                            url: job.endpoint.masked_url(),
                            format: job.endpoint.format.id(),
                            error: chain(&e),
                        })
                        .collect(),
                }
            })
            .flatten()
            .collect()
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(parallel.clamp(1, plan.len().max(1)))
        .build()
    {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}
