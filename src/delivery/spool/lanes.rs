//! A spool's endpoint lanes: an OS lock file per lane in `locks/` (held while a worker sends to
//! the endpoint, and gone with the worker when it dies), and beside each the times of the lane's
//! recent requests, for pacing.

use std::collections::HashSet;
use std::fs;

use super::Spool;
use crate::delivery::files::{self, ctx};
use crate::delivery::queue::{Held, Lanes, QueueError};

impl Lanes for Spool {
    fn hold(&self, keys: &[String]) -> Result<Held, QueueError> {
        let mut held = HashSet::new();
        let mut locks = Vec::new();
        for key in keys {
            let path = self
                .dir("locks")
                .join(format!("{:016x}.lock", crate::ids::stable_id(key)));
            let file = files::lock_file(&path)?;
            match file.try_lock() {
                Ok(()) => {
                    held.insert(key.clone());
                    locks.push(file);
                }
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => return ctx("cannot lock", &path, Err(e)),
            }
        }
        Ok(Held {
            keys: held,
            guard: Box::new(locks),
        })
    }

    fn paced(&self, key: &str, sent: &[u64], window_ms: u64) -> Result<Vec<u64>, QueueError> {
        let path = self
            .dir("locks")
            .join(format!("{:016x}.sent", crate::ids::stable_id(key)));
        let stored = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return ctx("cannot read", &path, Err(e)),
        };
        let times = crate::delivery::pace::window(
            stored.split_whitespace().filter_map(|t| t.parse().ok()),
            sent,
            window_ms,
        );
        if !sent.is_empty() {
            let text: String = times.iter().map(|t| format!("{t}\n")).collect();
            // Pacing is a courtesy to the receiver: a failed write only means less of it.
            let _ = fs::write(&path, text);
        }
        Ok(times)
    }
}
