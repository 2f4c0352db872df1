//! A spool's endpoint lanes: an OS lock file per lane in `locks/` (held while a worker sends to
//! the endpoint, and gone with the worker when it dies), and beside each the times of the lane's
//! recent requests, for pacing, and its health (`<id>.health`, with the lane's key), for pauses.

use std::collections::{HashMap, HashSet};
use std::fs;

use super::Spool;
use crate::delivery::files::{self, ctx};
use crate::delivery::health::Health;
use crate::delivery::queue::{Held, Lanes, QueueError};

/// A health record as its file holds it: the lane's key (the file is named by its hash) and the
/// health.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    key: String,
    #[serde(flatten)]
    health: Health,
}

impl Spool {
    fn health_path(&self, key: &str) -> std::path::PathBuf {
        self.dir("locks")
            .join(format!("{:016x}.health", crate::ids::stable_id(key)))
    }
}

/// A health file's record; one that cannot be read as one is no record (a pause is a courtesy:
/// losing one only means the endpoint is tried again).
fn read_health(path: &std::path::Path) -> Result<Option<Stored>, QueueError> {
    match fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => ctx("cannot read", path, Err(e)),
    }
}

impl Lanes for Spool {
    fn hold(&self, keys: &[String]) -> Result<Held, QueueError> {
        let (mut held, mut health) = (HashSet::new(), HashMap::new());
        let mut locks = Vec::new();
        for key in keys {
            let path = self
                .dir("locks")
                .join(format!("{:016x}.lock", crate::ids::stable_id(key)));
            let file = files::lock_file(&path)?;
            match file.try_lock() {
                Ok(()) => {
                    let stored = read_health(&self.health_path(key))?;
                    if let Some(s) = stored.filter(|s| s.key == *key) {
                        health.insert(key.clone(), s.health);
                    }
                    held.insert(key.clone());
                    locks.push(file);
                }
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => return ctx("cannot lock", &path, Err(e)),
            }
        }
        Ok(Held {
            keys: held,
            health,
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

    fn set_health(&self, key: &str, health: &Health) -> Result<(), QueueError> {
        let path = self.health_path(key);
        if health.is_clear() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    ctx("cannot remove", &path, Err(e))
                }
                _ => Ok(()),
            };
        }
        let tmp = path.with_extension("health.tmp");
        let stored = Stored {
            key: key.to_owned(),
            health: health.clone(),
        };
        files::write_synced(&tmp, &stored, &path)?;
        ctx("cannot rename into", &path, fs::rename(&tmp, &path))
    }

    fn unhealthy(&self) -> Result<Vec<(String, Health)>, QueueError> {
        let dir = self.dir("locks");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return ctx("cannot list", &dir, Err(e)),
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "health") {
                found.extend(read_health(&path)?.map(|s| (s.key, s.health)));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }
}
