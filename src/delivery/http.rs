//! The HTTP transport: one attempt of a [`WireRequest`] with reqwest, and what came of it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::destination;
use super::redact::Redactor;
use super::request::WireRequest;
use super::retry::{classify, parse_retry_after, Verdict};
use crate::config::{Destinations, Refusal, Tls};
use crate::error::chain;
use crate::format::{Answer, Format, Method};

/// How much of a response body is read (the rest is dropped), and how much of it a message quotes.
const MAX_RESPONSE_BYTES: usize = 64 << 10;
const QUOTED_RESPONSE_CHARS: usize = 200;

/// How long an idle connection is kept for the next request to the same receiver: long enough for
/// the next job of a queue being drained, shorter than any receiver's keep-alive.
const IDLE: Duration = Duration::from_millis(500);

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
    /// Whether the destination policy refused it: no request was made, and none will be.
    pub refused: bool,
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
            refused: false,
        }
    }

    /// An attempt the destination policy stopped before any request.
    pub fn refused(refusal: Refusal) -> Attempted {
        Attempted {
            refused: true,
            ..Attempted::failed(refusal.to_string())
        }
    }

    /// `200 OK in 12 ms`, `FAILED: 503 Service Unavailable (it answered: <body>)`, `FAILED: cannot
    /// connect: ...`.
    pub fn summary(&self) -> String {
        match (self.status, self.failure()) {
            (Some(s), None) => format!("{s} {} in {} ms", reason(s), self.elapsed.as_millis()),
            (_, failure) => format!("FAILED: {}", failure.unwrap_or_default()),
        }
    }

    /// How the attempt ended, as the endpoint's format judges the answer (chat APIs put their errors
    /// in a 200's body) or else as its status says, with what went wrong: `200 OK: errcode 310000:
    /// sign not match`. The second value is whether the receiver said it was sent too fast.
    pub fn judged(&self, format: Option<&dyn Format>) -> (Verdict, Option<String>, bool) {
        if self.refused {
            return (Verdict::Permanent, self.failure(), false);
        }
        let answer = self
            .status
            .zip(format)
            .and_then(|(s, f)| f.judge(s, &self.body));
        let refused = |why: &str| match self.status {
            Some(s) => format!("{s} {}: {why}", reason(s)),
            None => why.to_owned(),
        };
        let too_fast = self.status == Some(429) || matches!(answer, Some(Answer::Later { .. }));
        let (verdict, failure) = match &answer {
            Some(Answer::Accepted) => (Verdict::Delivered, None),
            Some(Answer::Later { after, why }) => (
                Verdict::Retryable {
                    retry_after: (*after).max(self.retry_after),
                },
                Some(refused(why)),
            ),
            Some(Answer::Refused { why }) => (Verdict::Permanent, Some(refused(why))),
            None => (classify(self.status, self.retry_after), self.failure()),
        };
        (verdict, failure, too_fast)
    }

    /// What went wrong, as the log and the pusher read it (status, redirect target, body or error);
    /// `None` for a 2xx answer.
    pub fn failure(&self) -> Option<String> {
        match (self.status, &self.error) {
            (Some(200..=299), _) => None,
            (Some(s), _) => {
                let mut text = format!("{s} {}", reason(s));
                if let Some(l) = &self.location {
                    text.push_str(&format!(" (redirect to {l} not followed)"));
                } else if let Some(body) = self.error.as_deref().filter(|b| !b.is_empty()) {
                    text.push_str(&format!(" (it answered: {body})"));
                }
                Some(text)
            }
            (None, e) => Some(e.as_deref().unwrap_or("no answer").to_owned()),
        }
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// [`send`], on this thread's runtime, for a caller outside any runtime.
pub fn send_blocking(
    wire: &WireRequest,
    timeout: Duration,
    client: &Client,
    now: std::time::SystemTime,
) -> Attempted {
    client.runtime.block_on(send(wire, timeout, client, now))
}

/// Sends one request, waiting at most `timeout` for its answer; `now` dates a `Retry-After` given as
/// a time. What the answer says is kept without any secret the request carried. To be awaited on
/// the runtime of this thread, which drives the client's connections.
pub async fn send(
    wire: &WireRequest,
    timeout: Duration,
    client: &Client,
    now: std::time::SystemTime,
) -> Attempted {
    if let Err(refusal) = destination::check_url(&client.policy, &wire.url) {
        return Attempted::refused(refusal);
    }
    let redactor = Redactor::new(wire.secrets.iter().map(String::as_str));
    let mut attempted = attempt(wire, timeout, client, now).await;
    attempted.body = redactor.redact(&attempted.body);
    attempted.error = attempted.error.map(|e| redactor.redact(&e));
    attempted.location = attempted.location.map(|l| redactor.redact(&l));
    attempted
}

async fn attempt(
    wire: &WireRequest,
    timeout: Duration,
    client: &Client,
    now: std::time::SystemTime,
) -> Attempted {
    let method = match wire.method {
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Get => reqwest::Method::GET,
    };
    let mut request = client
        .http
        .request(method, wire.url.clone())
        .timeout(timeout);
    if wire.method != Method::Get {
        request = request.body(wire.body.clone());
    }
    for h in &wire.headers {
        request = request.header(h.name.as_str(), h.value.as_str());
    }
    let started = Instant::now();
    let answered = async {
        let mut response = request.send().await?;
        // Read a bounded part of the body: enough to quote an error, never an unbounded download.
        let mut body = Vec::new();
        while body.len() < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(MAX_RESPONSE_BYTES);
        Ok::<_, reqwest::Error>((response, body))
    }
    .await;
    match answered {
        Ok((response, body)) => {
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
                header(reqwest::header::RETRY_AFTER).and_then(|v| parse_retry_after(&v, now));
            // Secrets go before the text is cut, so that no part of one is left.
            let redactor = Redactor::new(wire.secrets.iter().map(String::as_str));
            let quoted: String = redactor
                .redact(&String::from_utf8_lossy(&body))
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
                refused: false,
            }
        }
        Err(e) => match destination::refusal_in(&e) {
            Some(refusal) => Attempted::refused(refusal),
            None => Attempted {
                elapsed: started.elapsed(),
                ..Attempted::failed(describe(&e, timeout))
            },
        },
    }
}

/// A transport error in a few words, without repeating the URL.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}", humantime::format_duration(timeout));
    }
    if e.is_connect() {
        // The client's layers ("client error (Connect)", "tcp connect error") say nothing the
        // root cause does not: `Connection refused (os error 111)`, a certificate refused.
        let mut root: &dyn std::error::Error = e;
        while let Some(cause) = root.source() {
            root = cause;
        }
        return format!("cannot connect: {root}");
    }
    std::error::Error::source(e).map_or_else(|| e.to_string(), chain)
}

/// Why no HTTP client could be made for an endpoint's TLS settings.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {}: {message}", path.display())]
    Read {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Pem {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("cannot set up HTTP: {0}")]
    Build(String),
}

/// An HTTP client, the destination policy it connects within, and the runtime it runs on: this
/// thread's (a client's connections are driven by the runtime that made them, so each thread has
/// its own clients).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    runtime: Rc<tokio::runtime::Runtime>,
    policy: Arc<Destinations>,
}

thread_local! {
    static RUNTIME: RefCell<Option<Rc<tokio::runtime::Runtime>>> = const { RefCell::new(None) };
    static CLIENTS: RefCell<HashMap<(Tls, Destinations), Client>> = RefCell::new(HashMap::new());
}

/// Lets go of this thread's clients and runtime (their connections close): before the thread ends,
/// rather than in its thread-local destructors.
pub(super) fn let_go() {
    CLIENTS.with(|m| m.borrow_mut().clear());
    RUNTIME.with(|r| r.borrow_mut().take());
}

/// This thread's runtime, made when first needed.
pub(super) fn runtime() -> Result<Rc<tokio::runtime::Runtime>, ClientError> {
    RUNTIME.with(|r| {
        if let Some(rt) = r.borrow().as_ref() {
            return Ok(Rc::clone(rt));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        let rt = Rc::new(rt);
        *r.borrow_mut() = Some(Rc::clone(&rt));
        Ok(rt)
    })
}

/// The HTTP client for a TLS setting and destination policy, built once per thread and setting
/// (its TLS as [`super::tls`] sets it up): no redirects, header names in Title-Case, proxies from
/// `http(s)_proxy`/`no_proxy`, names resolved by the policy's resolver. Each request sets its
/// endpoint's timeout.
pub fn client(tls: &Tls, policy: &Destinations) -> Result<Client, ClientError> {
    let key = (tls.clone(), policy.clone());
    if let Some(c) = CLIENTS.with(|m| m.borrow().get(&key).cloned()) {
        return Ok(c);
    }
    let policy = Arc::new(policy.clone());
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(destination::Resolver(Arc::clone(&policy))))
        .http1_title_case_headers()
        // The runtime runs only while a request is sent, so a kept-alive connection the receiver
        // closed meanwhile would be noticed only once reused, and the request on it would fail:
        // one is reused only within a burst of requests, never after a pause.
        .pool_idle_timeout(IDLE)
        .use_preconfigured_tls(super::tls::config(tls)?);
    let http = builder.build().map_err(|e| ClientError::Build(chain(&e)))?;
    let client = Client {
        http,
        runtime: runtime()?,
        policy,
    };
    CLIENTS.with(|m| m.borrow_mut().insert(key, client.clone()));
    Ok(client)
}
