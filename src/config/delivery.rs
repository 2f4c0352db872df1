//! `[delivery]`: how and when requests go out (mode, timeout, retries, spool limits), checked into [`Delivery`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use toml::Spanned;

use super::queue::{self, QueueKind};
use super::schema::RawDelivery;
use super::{duration, show_duration, show_durations, time, Located};

/// The built-in retry schedule: the delay before each retry.
pub const DEFAULT_SCHEDULE: [Duration; 6] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(6 * 3600),
];
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_PARALLEL: usize = 64;
pub const DEFAULT_MAX_JOBS: usize = 10_000;
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
pub const DEFAULT_UPDATE_WAIT: Duration = Duration::from_secs(60);
pub const DEFAULT_PAUSE_AFTER: usize = 20;
pub const DEFAULT_PAUSE_PERIOD: Duration = Duration::from_secs(30 * 60);
/// The spool, relative to the repository's git directory.
pub const DEFAULT_SPOOL_DIR: &str = "webhook";

/// When the hook sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Spool, start a background deliverer, return at once (the default).
    Async,
    /// Spool and send before returning, results as `remote:` lines; retries go on in the background.
    Sync,
    /// Only spool: `git webhook deliver` (a timer or a `--watch` service) sends.
    Queue,
}

/// The checked `[delivery]` table; its fields are named as the file's keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub mode: Mode,
    #[serde(serialize_with = "show_duration")]
    pub timeout: Duration,
    #[serde(serialize_with = "show_durations")]
    pub retry_schedule: Vec<Duration>,
    /// Each delay is moved by up to this fraction either way (0.2: ±20%).
    pub retry_jitter: f64,
    pub max_parallel: usize,
    /// Where the spool is; relative paths are taken from the repository's git directory.
    pub spool_dir: PathBuf,
    /// Queued jobs beyond this number push out the oldest (logged, with a warning first).
    pub max_jobs: usize,
    /// Jobs older than this are given up (logged).
    #[serde(serialize_with = "show_duration")]
    pub max_age: Duration,
    /// How long an `update`-hook event waits for its push to complete.
    #[serde(serialize_with = "show_duration")]
    pub update_wait: Duration,
    /// An endpoint is paused after this many failed attempts in a row (0: never)...
    pub pause_after: usize,
    /// ... when they span at least this long.
    #[serde(serialize_with = "show_duration")]
    pub pause_period: Duration,
    /// `queue` and the `queue_*` keys.
    #[serde(flatten)]
    pub queue: QueueKind,
}

impl Default for Delivery {
    fn default() -> Delivery {
        Delivery {
            mode: Mode::Async,
            timeout: DEFAULT_TIMEOUT,
            retry_schedule: DEFAULT_SCHEDULE.to_vec(),
            retry_jitter: 0.2,
            max_parallel: DEFAULT_MAX_PARALLEL,
            spool_dir: PathBuf::from(DEFAULT_SPOOL_DIR),
            max_jobs: DEFAULT_MAX_JOBS,
            max_age: DEFAULT_MAX_AGE,
            update_wait: DEFAULT_UPDATE_WAIT,
            pause_after: DEFAULT_PAUSE_AFTER,
            pause_period: DEFAULT_PAUSE_PERIOD,
            queue: QueueKind::Spool,
        }
    }
}

fn positive(n: &Option<Spanned<usize>>, default: usize) -> Result<usize, Located> {
    match n {
        None => Ok(default),
        Some(n) if *n.get_ref() == 0 => Err((n.span().start, "must be at least 1".to_owned())),
        Some(n) => Ok(*n.get_ref()),
    }
}

pub(crate) fn check(
    raw: &RawDelivery,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<Delivery, Located> {
    let d = Delivery::default();
    let mode = match raw.mode.as_ref().map(|m| (m, m.get_ref().as_str())) {
        None | Some((_, "async")) => Mode::Async,
        Some((_, "sync")) => Mode::Sync,
        Some((_, "queue")) => Mode::Queue,
        Some((m, other)) => {
            return Err((
                m.span().start,
                format!("{other:?} is not \"async\", \"sync\" or \"queue\""),
            ))
        }
    };
    let retry_schedule = match &raw.retry_schedule {
        Some(list) => list
            .get_ref()
            .iter()
            .map(|v| {
                duration(&Spanned::new(list.span(), v.clone())).map_err(|m| (list.span().start, m))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => d.retry_schedule,
    };
    let retry_jitter = match &raw.retry_jitter {
        Some(j) if !(0.0..=1.0).contains(j.get_ref()) => {
            return Err((j.span().start, "must be between 0 and 1".to_owned()))
        }
        Some(j) => *j.get_ref(),
        None => d.retry_jitter,
    };
    Ok(Delivery {
        mode,
        timeout: time(&raw.timeout, d.timeout)?,
        retry_schedule,
        retry_jitter,
        max_parallel: positive(&raw.max_parallel, d.max_parallel)?,
        spool_dir: raw.spool_dir.clone().unwrap_or(d.spool_dir),
        max_jobs: positive(&raw.max_jobs, d.max_jobs)?,
        max_age: time(&raw.max_age, d.max_age)?,
        update_wait: time(&raw.update_wait, d.update_wait)?,
        pause_after: raw
            .pause_after
            .as_ref()
            .map_or(d.pause_after, |n| *n.get_ref()),
        pause_period: time(&raw.pause_period, d.pause_period)?,
        queue: queue::check(raw, env)?,
    })
}
