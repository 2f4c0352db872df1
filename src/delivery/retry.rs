//! The retry policy as data and pure functions: which failures are worth retrying, and when.

use std::time::Duration;

/// The longest `Retry-After` we honour.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How one attempt ended, as far as retrying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Worth another try (connect errors, timeouts, 408, 429, 5xx), maybe not before `Retry-After`.
    Retryable {
        retry_after: Option<Duration>,
    },
    /// Will not get better by retrying (other 3xx and 4xx).
    Permanent,
}

/// Classifies an HTTP status (`None`: no answer at all).
pub fn classify(status: Option<u16>, retry_after: Option<Duration>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        None | Some(408 | 429 | 500..=599) => Verdict::Retryable { retry_after },
        Some(_) => Verdict::Permanent,
    }
}

/// `Retry-After` in either of its forms, capped: seconds (`120`), or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, and the two older forms HTTP allows) taken from `now`; a date
/// already past means at once.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The retry policy of `[delivery]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy<'a> {
    /// The delay before each retry.
    pub schedule: &'a [Duration],
    /// Each delay is moved by up to this fraction either way (0.2: ±20%).
    pub jitter: f64,
}

impl<'a> Policy<'a> {
    pub fn of(delivery: &'a crate::config::Delivery) -> Policy<'a> {
        Policy {
            schedule: &delivery.retry_schedule,
            jitter: delivery.retry_jitter,
        }
    }

    /// The longest a job can be made to wait by this policy: its longest delay at the most jitter,
    /// or the longest `Retry-After` honoured, and an hour more for clocks that differ between hosts.
    pub fn longest_wait(&self) -> Duration {
        let longest = self.schedule.iter().max().copied().unwrap_or_default();
        longest.mul_f64(1.0 + self.jitter).max(MAX_RETRY_AFTER) + Duration::from_secs(3600)
    }

    /// The delay before the next try after `attempts` failed attempts, or `None` when retries are used up.
    /// `unit` is a random number in [0, 1) that places the jitter; `Retry-After`, when longer, wins.
    pub fn next_delay(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Option<Duration> {
        let base = *self
            .schedule
            .get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        let delay = base.mul_f64(factor.max(0.0));
        Some(retry_after.map_or(delay, |r| r.max(delay)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        assert_eq!(classify(Some(200), None), Verdict::Delivered);
        assert_eq!(classify(Some(204), None), Verdict::Delivered);
        for s in [None, Some(408), Some(429), Some(500), Some(503)] {
            assert!(
                matches!(classify(s, None), Verdict::Retryable { .. }),
                "{s:?}"
            );
        }
        for s in [301, 302, 400, 401, 404, 410] {
            assert_eq!(classify(Some(s), None), Verdict::Permanent, "{s}");
        }
    }

    #[test]
    fn schedule_jitter_and_retry_after() {
        let d = crate::config::Delivery::default();
        let p = Policy::of(&d);
        assert_eq!(p.next_delay(1, None, 0.5), Some(Duration::from_secs(10)));
        assert_eq!(p.next_delay(2, None, 0.5), Some(Duration::from_secs(60)));
        assert_eq!(p.next_delay(1, None, 0.0), Some(Duration::from_secs(8)));
        assert_eq!(p.next_delay(1, None, 1.0), Some(Duration::from_secs(12)));
        assert_eq!(
            p.next_delay(6, None, 0.5),
            Some(Duration::from_secs(6 * 3600))
        );
        assert_eq!(p.next_delay(7, None, 0.5), None, "six retries, then dead");
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(120)), 0.5),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            p.next_delay(2, Some(Duration::from_secs(1)), 0.5),
            Some(Duration::from_secs(60))
        );
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_000); // 07:20:00 GMT
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        for date in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
        ] {
            assert_eq!(
                parse_retry_after(date, now),
                Some(Duration::from_secs(480)),
                "{date}"
            );
        }
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date past: at once"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
