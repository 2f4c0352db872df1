//! Turning a push's events into one job per endpoint, and making one attempt to send a job.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::config::{Endpoint, Tls};
use crate::delivery::retry::parse_retry_after;
use crate::event::PushEvent;
use crate::format::{Attempt, Auth, Delivery, Hook, Prepared};
use crate::notice::chain;
use crate::spool::{Condition, EndpointRef, Job, SCHEMA};

/// How much of a response body is read (the rest is dropped), and how much of it a message quotes.
const MAX_RESPONSE_BYTES: u64 = 64 << 10;
const QUOTED_RESPONSE_CHARS: usize = 200;

/// Every (endpoint, event) pair the endpoints' filters let through, as spool jobs due now: for each
/// endpoint, its events in push order. `wait_for_ref` makes each job wait until its ref has moved.
pub fn plan(
    endpoints: &[Endpoint],
    events: &[PushEvent],
    clock: &Clock,
    wait_for_ref: bool,
) -> Vec<Job> {
    let now = clock.now_ms();
    let mut jobs = Vec::new();
    for endpoint in endpoints {
        for e in events.iter().filter(|e| endpoint.wants(&e.change)) {
            let hook = Hook {
                id: endpoint.hook_id(),
                delivery_id: clock.uuid(),
            };
            let update = &e.change.update;
            jobs.push(Job {
                schema: SCHEMA,
                delivery: Delivery {
                    event_id: e.id,
                    hook,
                    kind: e.change.kind(),
                    instance: e.project.instance_url(),
                    project_id: e.project.id,
                    body: endpoint.format.body(e, hook),
                },
                endpoint: EndpointRef {
                    number: endpoint.number,
                    format: endpoint.format.id().to_owned(),
                    url: endpoint.url.to_string(),
                },
                refname: update.refname.clone(),
                // One millisecond apart, so that file names keep this order: endpoints as configured,
                // each endpoint's events in push order.
                created_ms: now + jobs.len() as u64,
                next_ms: now,
                attempts: 0,
                condition: wait_for_ref.then(|| Condition {
                    refname: update.refname.clone(),
                    new: update.new.clone(),
                }),
                last_error: None,
                repo: None,
            });
        }
    }
    jobs
}

/// Headers and body for a new attempt of `delivery` at `endpoint`: fresh attempt id, now, signatures.
pub fn prepare(endpoint: &Endpoint, delivery: &Delivery, clock: &Clock) -> Prepared {
    let auth = Auth {
        secret: endpoint.secret.as_ref(),
        mode: endpoint.secret_mode,
    };
    let attempt = Attempt {
        id: clock.uuid(),
        now: clock.now(),
    };
    endpoint.format.prepare(delivery, auth, attempt)
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    /// The HTTP status, or `None` when no answer came.
    pub status: Option<u16>,
    pub elapsed: Duration,
    /// A redirect's `Location`, credentials masked (redirects are never followed).
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    /// What went wrong, in a few words: the transport error, or the start of the error response.
    pub error: Option<String>,
    /// The start of the response body, on one line.
    pub body: String,
}

impl Attempted {
    /// An attempt that got no answer.
    pub fn failed(error: String) -> Attempted {
        Attempted {
            status: None,
            elapsed: Duration::ZERO,
            location: None,
            retry_after: None,
            error: Some(error),
            body: String::new(),
        }
    }

    /// `200 OK in 12 ms`, `FAILED: 503 Service Unavailable: <body>`, `FAILED: cannot connect: ...`.
    pub fn summary(&self) -> String {
        match (self.status, &self.error) {
            (Some(s @ 200..=299), _) => {
                format!("{s} {} in {} ms", reason(s), self.elapsed.as_millis())
            }
            (Some(s), _) => {
                let mut text = format!("FAILED: {s} {}", reason(s));
                if let Some(l) = &self.location {
                    text.push_str(&format!(" (redirect to {l} not followed)"));
                } else if let Some(body) = self.error.as_deref().filter(|b| !b.is_empty()) {
                    text.push_str(&format!(": {body}"));
                }
                text
            }
            (None, e) => format!("FAILED: {}", e.as_deref().unwrap_or("no answer")),
        }
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// Sends one attempt of `job` to `endpoint`.
pub fn attempt(
    endpoint: &Endpoint,
    job: &Job,
    client: &reqwest::blocking::Client,
    clock: &Clock,
) -> Attempted {
    let prepared = prepare(endpoint, &job.delivery, clock);
    let mut request = client
        .post(endpoint.url.clone())
        .timeout(endpoint.timeout)
        .body(prepared.body);
    // The endpoint's own headers first; the format's headers (and Basic auth) always win: no duplicates.
    for (name, value) in &endpoint.headers {
        let basic = endpoint.basic_auth.is_some() && name.eq_ignore_ascii_case("authorization");
        if !basic
            && !prepared
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name))
        {
            request = request.header(name.as_str(), value.as_str());
        }
    }
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
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            let location = status
                .is_redirection()
                .then(|| header(reqwest::header::LOCATION))
                .flatten()
                .map(|l| crate::config::mask(&l));
            let retry_after =
                header(reqwest::header::RETRY_AFTER).and_then(|v| parse_retry_after(&v));
            // Read a bounded part of the body: enough to quote an error, never an unbounded download.
            let mut body = Vec::new();
            let _ = response.take(MAX_RESPONSE_BYTES).read_to_end(&mut body);
            let quoted: String = String::from_utf8_lossy(&body)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(QUOTED_RESPONSE_CHARS)
                .collect();
            let error = (!status.is_success()).then(|| quoted.clone());
            Attempted {
                status: Some(status.as_u16()),
                elapsed: started.elapsed(),
                location,
                retry_after,
                error,
                body: quoted,
            }
        }
        Err(e) => Attempted {
            elapsed: started.elapsed(),
            ..Attempted::failed(describe(&e, endpoint.timeout))
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

/// The HTTP client for a TLS setting, built once per process and setting (loading CA certificates is not
/// cheap): no redirects, header names in Title-Case, proxies from `http(s)_proxy`/`no_proxy`. Each request
/// sets its endpoint's timeout.
pub fn client(tls: &Tls) -> Result<reqwest::blocking::Client, String> {
    static CLIENTS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<Tls, reqwest::blocking::Client>>,
    > = std::sync::OnceLock::new();
    let cache = CLIENTS.get_or_init(Default::default);
    if let Some(c) = cache.lock().ok().and_then(|m| m.get(tls).cloned()) {
        return Ok(c);
    }
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let mut builder = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .http1_title_case_headers()
        .danger_accept_invalid_certs(!tls.verify);
    if let Some(ca) = &tls.ca_file {
        for cert in reqwest::Certificate::from_pem_bundle(&read(ca)?)
            .map_err(|e| format!("{}: {e}", ca.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some((cert, key)) = &tls.client_cert {
        let pem = [read(cert)?, read(key)?].concat();
        builder = builder.identity(
            reqwest::Identity::from_pem(&pem).map_err(|e| format!("{}: {e}", cert.display()))?,
        );
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot set up HTTP: {}", chain(&e)))?;
    if let Ok(mut m) = cache.lock() {
        m.insert(tls.clone(), client.clone());
    }
    Ok(client)
}
