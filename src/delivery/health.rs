//! Failing endpoints paused, then healed: an endpoint whose attempts fail again and again (the
//! receiver is gone, or refuses everything) is paused instead of burning every job's retries. Its
//! jobs wait in the queue, untouched and in order; one probe goes out after a minute, then after
//! twice as long each time it fails (at most an hour); the first success, or `endpoint resume`,
//! releases them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::Attempted;
use super::queue::Lanes;
use super::retry::Verdict;
use super::summary::Summary;
use crate::clock::millis;
use crate::format::Format;
use crate::notice::Notice;

/// The first probe's delay after a pause, and the longest.
pub const FIRST_PROBE: Duration = Duration::from_secs(60);
pub const LONGEST_PROBE: Duration = Duration::from_secs(3600);

/// How an endpoint's lane has been doing: its failures in a row, and its pause.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Failed attempts in a row, and when the first of them was (Unix ms).
    pub failures: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since_ms: Option<u64>,
    /// The last failure, as the log says it (secrets already taken out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<Paused>,
}

/// A pause: since when, and when the next probe goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    pub since_ms: u64,
    pub probe_ms: u64,
    /// The wait before that probe: the next one waits twice as long.
    pub delay_ms: u64,
}

/// The key of an endpoint's lane (its lock, pacing and health): the repository (its canonical
/// path), the endpoint's number in the configuration, and its URL as the queue keeps it.
pub fn lane_key(repo: &std::path::Path, number: usize, url: &str) -> String {
    format!("{}\n{number}\n{url}", repo.display())
}

/// A lane key's repository, endpoint number and URL.
pub fn lane_parts(key: &str) -> (&str, &str, &str) {
    let mut parts = key.splitn(3, '\n');
    let mut next = || parts.next().unwrap_or_default();
    (next(), next(), next())
}

/// When an endpoint is paused: after `after` failures in a row (0: never) over at least `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub after: usize,
    pub period: Duration,
}

impl Health {
    /// Whether there is anything to keep: a lane that never failed has no record.
    pub fn is_clear(&self) -> bool {
        *self == Health::default()
    }

    /// Until when the lane's jobs wait (a pause whose probe is not due yet).
    pub fn waits_until(&self, now: u64) -> Option<u64> {
        self.paused.map(|p| p.probe_ms).filter(|&t| t > now)
    }

    /// A delivery: the endpoint is well again.
    pub fn delivered(&mut self) {
        *self = Health::default();
    }

    /// A failed attempt at `now`. Returns whether the endpoint is paused now: it just reached the
    /// rule, or it was paused and this was its probe (the next one waits twice as long).
    pub fn failed(&mut self, now: u64, error: &str, rule: Rule) -> bool {
        self.failures += 1;
        let since = *self.failing_since_ms.get_or_insert(now);
        self.last_error = Some(error.to_owned());
        let delay = match self.paused {
            Some(p) => p.delay_ms.saturating_mul(2).min(millis(LONGEST_PROBE)),
            None if rule.after > 0
                && self.failures >= rule.after
                && now.saturating_sub(since) >= millis(rule.period) =>
            {
                millis(FIRST_PROBE)
            }
            None => return false,
        };
        self.paused = Some(Paused {
            since_ms: self.paused.map_or(now, |p| p.since_ms),
            probe_ms: now.saturating_add(delay),
            delay_ms: delay,
        });
        true
    }
}

/// What an answer means for the group it is in.
pub enum Judged {
    /// Judge it as usual (delivered, retried or dead).
    Go,
    /// The endpoint is paused now (this answer paused it, or it was the probe of a pause and
    /// failed in a way worth retrying), with what to log: the job waits as it is, due behind the
    /// pause and before the lane's later jobs, none of its retries used.
    Held(String),
}

/// One endpoint's health over the group of jobs a pass sends it: as its lane was held, changed by
/// each answer, kept after the last.
pub struct Watch {
    health: Health,
    read: Health,
    rule: Rule,
    /// No configured endpoint: nothing to watch.
    on: bool,
    /// Paused by an answer of this group: the rest of the group waits.
    stopped: bool,
}

impl Watch {
    /// Watches from `health`, the endpoint's as its lane was held (`on`: the endpoint is still
    /// configured).
    pub fn open(health: Health, on: bool, rule: Rule) -> Watch {
        Watch {
            read: health.clone(),
            health,
            rule,
            on,
            stopped: false,
        }
    }

    /// Whether an answer of this group paused the endpoint.
    pub fn paused(&self) -> bool {
        self.stopped
    }

    /// Takes in the answer of an attempt at `now` to the endpoint `url` names (its format's
    /// verdict); a destination refused says nothing of the endpoint's health.
    pub fn judge(
        &mut self,
        now: u64,
        attempted: &Attempted,
        format: Option<&dyn Format>,
        url: &str,
        summary: &mut Summary,
    ) -> Judged {
        if !self.on || attempted.refused {
            return Judged::Go;
        }
        let probing = self.health.paused.is_some();
        let (verdict, failure, _) = attempted.judged(format);
        if verdict == Verdict::Delivered {
            if probing {
                summary.notices.push(Notice::Resumed {
                    url: url.to_owned(),
                });
            }
            self.health.delivered();
            return Judged::Go;
        }
        let why = failure.unwrap_or_default();
        if !self.health.failed(now, &why, self.rule) {
            return Judged::Go;
        }
        self.stopped = true;
        let pause = self.health.paused.expect("just paused");
        summary.wait_for(pause.probe_ms);
        let probe_in = Duration::from_millis(pause.delay_ms);
        if !probing {
            summary.notices.push(Notice::Paused {
                url: url.to_owned(),
                failures: self.health.failures,
                probe_in,
            });
        }
        if verdict == Verdict::Permanent {
            // Refused for good: a dead letter as ever, so that one job the receiver will never take
            // cannot stand in front of the others as the probe each time.
            return Judged::Go;
        }
        Judged::Held(format!(
            "{why}; the endpoint {} paused, tried again in {}",
            if probing { "stays" } else { "is" },
            humantime::format_duration(probe_in)
        ))
    }

    /// Keeps the health when it changed.
    pub fn keep(self, lanes: &dyn Lanes, key: &str, summary: &mut Summary) {
        if self.on && self.health != self.read {
            if let Err(e) = lanes.set_health(key, &self.health) {
                summary.trouble(&e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_after_enough_failures_over_the_period_then_probes_back_off_and_heal() {
        let rule = Rule {
            after: 3,
            period: Duration::from_secs(600),
        };
        let mut h = Health::default();
        assert!(!h.failed(0, "500", rule));
        assert!(!h.failed(1_000, "500", rule));
        assert!(!h.failed(2_000, "500", rule), "3 failures, but within 2 s");
        assert!(h.failed(600_000, "503", rule), "4 over 10 minutes");
        assert_eq!(
            h.paused,
            Some(Paused {
                since_ms: 600_000,
                probe_ms: 660_000,
                delay_ms: 60_000
            })
        );
        assert_eq!(h.waits_until(659_999), Some(660_000));
        assert_eq!(h.waits_until(660_000), None, "the probe is due");
        assert!(h.failed(660_000, "503", rule));
        assert_eq!(h.paused.unwrap().probe_ms, 660_000 + 120_000);
        for _ in 0..10 {
            h.failed(0, "503", rule);
        }
        assert_eq!(h.paused.unwrap().delay_ms, 3_600_000, "at most an hour");
        assert_eq!(h.paused.unwrap().since_ms, 600_000);
        h.delivered();
        assert!(h.is_clear());
        let never = Rule { after: 0, ..rule };
        let mut h = Health::default();
        for t in 0..100 {
            assert!(!h.failed(t * 1_000_000, "x", never));
        }
    }
}
