//! Injected time and randomness, so that tests can pin both and payloads stay reproducible.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use uuid::Uuid;

/// `d` in whole milliseconds, as the queues keep times and delays (`u64::MAX` past it).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `t` in milliseconds since the Unix epoch (0 before it).
pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// The source of "now" and of random ids for one run of the program.
///
/// Its generator (ChaCha) is built without `rand`'s `std`: it then runs the vector code compiled
/// in, rather than asking the CPU at its first use which extensions it has. Each such question
/// (`cpuid`) leaves a virtual machine for its host, and a hook, which draws only a few ids, spent
/// more on the questions than on the ids.
#[derive(Debug)]
pub struct Clock {
    fixed_now: Option<SystemTime>,
    rng: Mutex<StdRng>,
}

impl Clock {
    /// Real time and OS randomness, unless `fixed_now_ms` / `seed` pin them (tests).
    pub fn new(fixed_now_ms: Option<i64>, seed: Option<u64>) -> Clock {
        let fixed_now = fixed_now_ms.map(|ms| {
            let ms = u64::try_from(ms).unwrap_or(0);
            UNIX_EPOCH + Duration::from_millis(ms)
        });
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Clock {
            fixed_now,
            rng: Mutex::new(rng),
        }
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        self.fixed_now.unwrap_or_else(SystemTime::now)
    }

    /// Now in UTC, to the second: when a push happened, as payloads give it.
    pub fn now_seconds(&self) -> chrono::DateTime<chrono::FixedOffset> {
        chrono::SubsecRound::trunc_subsecs(chrono::DateTime::<chrono::Utc>::from(self.now()), 0)
            .fixed_offset()
    }

    /// A random number in [0, 1), for jitter.
    pub fn unit(&self) -> f64 {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rand::Rng::gen::<f64>(&mut *rng)
    }

    /// Milliseconds since the Unix epoch, as the spool keeps times.
    pub fn now_ms(&self) -> u64 {
        epoch_ms(self.now())
    }

    /// A random number, to seed another clock's ids.
    pub fn seed(&self) -> u64 {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rng.next_u64()
    }

    /// A fresh random (version 4) UUID.
    pub fn uuid(&self) -> Uuid {
        let mut bytes = [0u8; 16];
        // A poisoned lock only means another thread panicked mid-draw; the generator is still usable.
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rng.fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn seeded_ids_repeat_and_differ() {
        let a = Clock::new(Some(1_700_000_000_000), Some(7));
        let b = Clock::new(None, Some(7));
        let first = a.uuid();
        assert_eq!(first, b.uuid());
        assert_ne!(first, a.uuid());
        assert_eq!(first.get_version_num(), 4);
        assert_eq!(a.now_ms(), 1_700_000_000_000);
    }

    #[test]
    fn unpinned_ids_and_jitter_differ() {
        let clock = Clock::new(None, None);
        let ids: std::collections::HashSet<_> = (0..100).map(|_| clock.uuid()).collect();
        assert_eq!(ids.len(), 100);
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        let units: Vec<f64> = (0..100).map(|_| clock.unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(units.windows(2).any(|w| w[0] != w[1]));
        assert_ne!(clock.seed(), clock.seed());
    }
}
