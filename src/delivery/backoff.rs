//! Waiting for something that is down (the database, a spool's disk) to come back: 1 s, doubling to
//! at most 30 s between tries; written once for every loop that waits so.

use std::time::Duration;

/// The first wait, and the longest.
const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(30);

/// The waits between tries at something that is down.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// How long to wait before the next try; each call doubles the one after.
    pub fn delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(LONGEST);
        d
    }

    /// Waits before the next try.
    pub fn wait(&mut self) {
        std::thread::sleep(self.delay());
    }

    /// It is back: the next outage starts from the first wait again.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_longest_and_starts_over() {
        let mut b = Backoff::default();
        let secs: Vec<u64> = (0..7).map(|_| b.delay().as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.delay(), FIRST);
    }
}
