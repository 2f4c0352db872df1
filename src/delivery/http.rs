//! The HTTP transport: one attempt of a [`WireRequest`] with reqwest, and what came of it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

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
pub(super) const IDLE: Duration = Duration::from_millis(500);

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
/// its own clients, handed on with the runtime when it ends).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    runtime: Arc<Runtime>,
    policy: Arc<Destinations>,
}

type Clients = HashMap<(Tls, Destinations), Client>;

thread_local! {
    static RUNTIME: RefCell<Option<Arc<Runtime>>> = const { RefCell::new(None) };
    static CLIENTS: RefCell<Clients> = RefCell::new(HashMap::new());
}

/// A runtime a thread let go of, with the clients made on it and their idle connections, and when.
struct Kept {
    runtime: Arc<Runtime>,
    clients: Clients,
    at: Instant,
}

/// What threads that ended left, newest last, for the next threads to take up within [`IDLE`]: a
/// worker starts a thread for each repository it serves, and each would otherwise build a runtime
/// and connect to every receiver anew. At most [`KEPT_AT_MOST`].
static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());
const KEPT_AT_MOST: usize = 8;

fn kept() -> std::sync::MutexGuard<'static, Vec<Kept>> {
    KEPT.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lets go of this thread's clients and runtime before the thread ends, rather than in its
/// thread-local destructors: kept, with their idle connections, for another thread to take up.
pub(super) fn let_go() {
    let clients = CLIENTS.with(|m| std::mem::take(&mut *m.borrow_mut()));
    let Some(runtime) = RUNTIME.with(|r| r.borrow_mut().take()) else {
        return;
    };
    let gone = {
        let mut kept = kept();
        let now = Instant::now();
        kept.push(Kept {
            runtime,
            clients,
            at: now,
        });
        let mut gone = stale(&mut kept, now);
        let over = kept.len().saturating_sub(KEPT_AT_MOST);
        gone.extend(kept.drain(..over));
        gone
    };
    drop(gone); // Their connections close, outside the lock.
}

/// Closes what threads left (a worker with nothing to do keeps no connection open).
pub(super) fn forget_kept() {
    let gone = std::mem::take(&mut *kept());
    drop(gone);
}

/// Takes out what was kept longer than [`IDLE`]: its connections are no longer reused.
fn stale(kept: &mut Vec<Kept>, now: Instant) -> Vec<Kept> {
    let fresh = kept.partition_point(|k| now.duration_since(k.at) >= IDLE);
    kept.drain(..fresh).collect()
}

/// This thread's runtime: one another thread left within [`IDLE`] (with its clients), else a new one.
pub(super) fn runtime() -> Result<Arc<Runtime>, ClientError> {
    if let Some(rt) = RUNTIME.with(|r| r.borrow().clone()) {
        return Ok(rt);
    }
    let (taken, gone) = {
        let mut kept = kept();
        let gone = stale(&mut kept, Instant::now());
        (kept.pop(), gone)
    };
    drop(gone);
    let rt = match taken {
        Some(k) => {
            CLIENTS.with(|m| *m.borrow_mut() = k.clients);
            k.runtime
        }
        None => Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ClientError::Build(e.to_string()))?,
        ),
    };
    RUNTIME.with(|r| *r.borrow_mut() = Some(Arc::clone(&rt)));
    Ok(rt)
}

/// The HTTP client for a TLS setting and destination policy, built once per thread and setting
/// (its TLS as [`super::tls`] sets it up): no redirects, header names in Title-Case, proxies from
/// `http(s)_proxy`/`no_proxy`, names resolved by the policy's resolver. Each request sets its
/// endpoint's timeout.
pub fn client(tls: &Tls, policy: &Destinations) -> Result<Client, ClientError> {
    let runtime = runtime()?;
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
        runtime,
        policy,
    };
    CLIENTS.with(|m| m.borrow_mut().insert(key, client.clone()));
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A receiver on 127.0.0.1 that keeps connections open and answers 200 to each request: its
    /// URL, and the count of connections it took.
    fn keeping_connections() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let taken = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&taken);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut reader = BufReader::new(&stream);
                    for _ in 0..100 {
                        let mut length = 0;
                        let mut line = String::new();
                        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                            let lower = line.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            line.clear();
                        }
                        let mut body = vec![0; length];
                        if line.is_empty() || reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let _ =
                            (&stream).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    }
                });
            }
        });
        (url, taken)
    }

    /// What a thread that sends one request and ends gets: the answer's status.
    fn one_request_in_a_thread(url: &str) -> u16 {
        let url = url.to_owned();
        std::thread::spawn(move || {
            let client = client(&Tls::default(), &Destinations::default()).expect("client");
            let status = client.runtime.block_on(async {
                let answer = client.http.post(url).body("{}").send().await.expect("sent");
                let status = answer.status().as_u16();
                answer.bytes().await.expect("body");
                status
            });
            let_go();
            status
        })
        .join()
        .expect("thread")
    }

    #[test]
    fn a_thread_takes_up_the_runtime_and_connection_one_that_ended_left() {
        let (url, connections) = keeping_connections();
        assert_eq!(one_request_in_a_thread(&url), 200);
        assert_eq!(one_request_in_a_thread(&url), 200);
        assert_eq!(
            connections.load(Ordering::SeqCst),
            1,
            "one connection for both"
        );
        // Once forgotten, the next thread connects anew; what is kept longer than IDLE goes.
        forget_kept();
        assert_eq!(one_request_in_a_thread(&url), 200);
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        assert_eq!(kept().len(), 1);
        std::thread::sleep(IDLE);
        assert_eq!(stale(&mut kept(), Instant::now()).len(), 1);
        assert!(kept().is_empty());
    }
}
