//! Metrics for whoever runs workers as services: `deliver --watch --metrics ADDR` serves them as
//! OpenMetrics text over HTTP. A [`Metered`] queue counts what passes through it (attempts by
//! outcome and status class, attempt latency, time from queued to delivered); the gauges (jobs
//! queued, retrying, in flight, dead, and endpoints paused, by repository) are read from the queue
//! at each scrape.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::admin::Counts;
use super::job::{Job, Outcome, Record};
use super::queue::{Claim, Claimed, Enqueued, Queue, QueueError, Settle, Settled};
use crate::clock::Clock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepoLabel {
    repo: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabel {
    outcome: String,
    /// `2xx` ... `5xx`, or `none` when no answer came.
    status: String,
}

/// The counters and histograms, shared by every queue metered with them.
#[derive(Clone)]
pub struct Metrics {
    attempts: Family<AttemptLabel, Counter>,
    latency: Histogram,
    time_in_queue: Histogram,
}

/// The gauges' source: each repository's counts, read at every scrape (an error: the queue cannot
/// be read, which `git_webhook_queue_up` shows as 0).
pub type Gauges = Box<dyn Fn() -> Result<Vec<(String, Counts)>, QueueError> + Send>;

impl Metrics {
    fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            attempts: Family::default(),
            latency: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            time_in_queue: Histogram::new(exponential_buckets(0.01, 4.0, 12)),
        };
        registry.register(
            "git_webhook_attempts",
            "Requests made, by outcome (delivered, retry, dead) and status class",
            m.attempts.clone(),
        );
        registry.register(
            "git_webhook_attempt_duration_seconds",
            "How long a request took to be answered",
            m.latency.clone(),
        );
        registry.register(
            "git_webhook_time_in_queue_seconds",
            "From a webhook's queueing to its delivery",
            m.time_in_queue.clone(),
        );
        m
    }
}

/// A gauge of job counts: its name, its help, and which count it shows.
type State = (&'static str, &'static str, fn(&Counts) -> usize);

/// Starts serving metrics on `addr` in a thread of its own; the gauges come from `gauges`.
pub fn serve(addr: SocketAddr, gauges: Gauges) -> std::io::Result<Metrics> {
    let listener = TcpListener::bind(addr)?;
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    let states: [State; 5] = [
        (
            "git_webhook_jobs_pending",
            "Jobs queued and never tried",
            |c| c.pending,
        ),
        (
            "git_webhook_jobs_retrying",
            "Jobs waiting for a retry",
            |c| c.retrying,
        ),
        ("git_webhook_jobs_in_flight", "Jobs being sent", |c| {
            c.in_flight
        }),
        ("git_webhook_jobs_dead", "Dead letters", |c| c.dead),
        (
            "git_webhook_endpoints_paused",
            "Endpoints paused after failing again and again: their jobs wait",
            |c| c.paused,
        ),
    ];
    let families: Vec<Family<RepoLabel, Gauge>> = states
        .iter()
        .map(|(name, help, _)| {
            let f = Family::<RepoLabel, Gauge>::default();
            registry.register(*name, *help, f.clone());
            f
        })
        .collect();
    let up = Gauge::<i64>::default();
    registry.register(
        "git_webhook_queue_up",
        "Whether the queue could be read at this scrape (1) or not (0)",
        up.clone(),
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = String::new();
            let mut reader = BufReader::new(&stream);
            let _ = reader.read_line(&mut request);
            // The rest of the request's head is not needed, but read so the client sees an answer.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = if path == "/metrics" {
                for f in &families {
                    f.clear();
                }
                let read = gauges();
                up.set(i64::from(read.is_ok()));
                for (repo, counts) in read.unwrap_or_default() {
                    for (f, (_, _, get)) in families.iter().zip(&states) {
                        let n = i64::try_from(get(&counts)).unwrap_or(i64::MAX);
                        f.get_or_create(&RepoLabel { repo: repo.clone() }).set(n);
                    }
                }
                let mut text = String::new();
                let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
                ("200 OK", text)
            } else {
                ("404 Not Found", "metrics are at /metrics\n".to_owned())
            };
            let _ = write!(
                &stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(metrics)
}

/// A queue that counts what passes through it into [`Metrics`].
pub struct Metered<'a> {
    pub inner: &'a dyn Queue,
    pub metrics: &'a Metrics,
    /// What a delivered job's time in the queue is measured by, as its making was.
    pub clock: &'a Clock,
}

fn class(status: Option<u16>) -> String {
    status.map_or_else(|| "none".to_owned(), |s| format!("{}xx", s / 100))
}

impl Metered<'_> {
    /// Counts a log record that tells of an attempt.
    fn count(&self, r: &Record) {
        if matches!(
            r.outcome,
            Outcome::Delivered | Outcome::Retry | Outcome::Dead
        ) {
            self.metrics
                .attempts
                .get_or_create(&AttemptLabel {
                    outcome: r.outcome.as_str().to_owned(),
                    status: class(r.status),
                })
                .inc();
            if let Some(ms) = r.duration_ms {
                self.metrics
                    .latency
                    .observe(Duration::from_millis(ms).as_secs_f64());
            }
        }
    }
}

impl Queue for Metered<'_> {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn enqueue(&self, jobs: &[Job], max: Option<usize>) -> Result<Enqueued, QueueError> {
        self.inner.enqueue(jobs, max)
    }
    fn claim_each(
        &self,
        pick: &mut dyn FnMut(&Job) -> bool,
        take: &mut dyn FnMut(Claim),
    ) -> Result<Claimed, QueueError> {
        self.inner.claim_each(pick, take)
    }
    fn settle(&self, done: Vec<Settled>) -> Result<(), QueueError> {
        let now = self.clock.now_ms();
        for d in &done {
            if d.how == Settle::Delivered {
                let waited = now.saturating_sub(d.claim.job.created_ms);
                self.metrics
                    .time_in_queue
                    .observe(Duration::from_millis(waited).as_secs_f64());
            }
            if let Some(r) = &d.record {
                self.count(r);
            }
        }
        self.inner.settle(done)
    }
    fn recover(&self) -> Result<usize, QueueError> {
        self.inner.recover()
    }
    fn mark(&self) -> Result<u64, QueueError> {
        self.inner.mark()
    }
}
