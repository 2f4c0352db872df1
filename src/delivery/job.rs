//! What a queue keeps: a job (one event for one endpoint, never a secret) and a log record per attempt.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::format::RequestTemplate;

/// The job format's version.
pub const SCHEMA: u32 = 1;

/// Which configured endpoint a job is for, named without credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EndpointRef {
    /// Position in the configuration when the job was made (1-based).
    pub number: usize,
    pub format: String,
    /// The URL without any `user:password@`.
    pub url: String,
}

/// An `update`-hook job waits until the ref really points at the new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub refname: String,
    pub new: String,
}

/// One event for one endpoint, waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub schema: u32,
    /// What every attempt sends (kept under its first name, so queued jobs stay readable).
    #[serde(rename = "delivery")]
    pub template: RequestTemplate,
    pub endpoint: EndpointRef,
    pub refname: String,
    /// When the job was made, and when it is next due (Unix milliseconds).
    pub created_ms: u64,
    pub next_ms: u64,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was first tried (Unix milliseconds), as each later attempt says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The repository the job is from: a spool shared by several repositories (an absolute
    /// `spool_dir`) has each repository's deliverer send only its own jobs, with its own configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<std::path::PathBuf>,
}

impl Job {
    /// The job's id: the delivery id receivers see as their idempotency key.
    pub fn id(&self) -> Uuid {
        self.template.hook.delivery_id
    }

    /// The file name it is kept under: creation time first, so names sort in creation order.
    pub fn file_name(&self) -> String {
        format!("{:013}-{}.json", self.created_ms, self.id())
    }

    /// When it is due, at `now`: its next time, unless that lies further ahead than any schedule
    /// puts a job (`longest_wait`), which no job of ours does: such a job (a damaged time) is due now
    /// rather than never.
    pub fn due_ms(&self, now: u64, longest_wait: std::time::Duration) -> u64 {
        let wait = crate::clock::millis(longest_wait);
        if self.next_ms > now.saturating_add(wait) {
            now
        } else {
            self.next_ms
        }
    }
}

/// What happened to a job at one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered with a 2xx.
    Delivered,
    /// Failed in a way worth retrying; scheduled again.
    Retry,
    /// Failed for good (or out of retries): moved to the dead letters.
    Dead,
    /// An `update`-hook event whose push never completed.
    Dropped,
    /// Older than the spool's age limit.
    Expired,
    /// Pushed out by the spool's size limit.
    Discarded,
    /// Put back in the queue by `redeliver`.
    Requeued,
}

/// Every outcome, for parsing and help.
pub const OUTCOMES: [Outcome; 7] = [
    Outcome::Delivered,
    Outcome::Retry,
    Outcome::Dead,
    Outcome::Dropped,
    Outcome::Expired,
    Outcome::Discarded,
    Outcome::Requeued,
];

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
            Outcome::Dropped => "dropped",
            Outcome::Expired => "expired",
            Outcome::Discarded => "discarded",
            Outcome::Requeued => "requeued",
        }
    }

    /// Parses an outcome's name.
    pub fn parse(name: &str) -> Option<Outcome> {
        OUTCOMES.into_iter().find(|o| o.as_str() == name)
    }
}

/// One line of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub time_ms: u64,
    /// The repository the job is from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    pub job: Uuid,
    pub event: Uuid,
    pub refname: String,
    /// The endpoint's URL, credentials masked.
    pub endpoint: String,
    pub format: String,
    pub attempt: u32,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_ms: Option<u64>,
}

impl Record {
    /// A record about `job` with no attempt details yet.
    pub fn of(job: &Job, time_ms: u64, outcome: Outcome) -> Record {
        Record {
            time_ms,
            repo: job.repo.as_ref().map(|r| r.display().to_string()),
            job: job.id(),
            event: job.template.event_id,
            refname: job.refname.clone(),
            endpoint: job.endpoint.url.clone(),
            format: job.endpoint.format.clone(),
            attempt: job.attempts,
            outcome,
            status: None,
            duration_ms: None,
            error: None,
            next_ms: None,
        }
    }
}
