//! Keeping a spool tidy: what writers killed mid-write left behind (temporary files, half-written
//! push records, the lock files of workers gone), and finished jobs beyond what is kept.

use std::fs;
use std::time::{Duration, SystemTime};

use super::Spool;
use crate::delivery::files::{json_files, sweep};

/// Finished jobs and dead letters kept: the most recent this many of each.
pub const KEEP_FINISHED: usize = 1000;

/// How old a temporary file or a worker's lock must be before it counts as left behind: far longer
/// than any write takes.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(5 * 60);

impl Spool {
    /// Removes leftovers and old finished jobs. Failures only mean less tidiness: a later pass
    /// tries again. Ages are by the file system's clock, as the files' times are.
    pub(super) fn tidy(&self) {
        let now = SystemTime::now();
        sweep(&self.dir("tmp"), LEFTOVER_AGE, now, |_| true);
        sweep(&self.root.join("pushes"), LEFTOVER_AGE, now, |name| {
            name.ends_with(".tmp")
        });
        if let Ok(owners) = fs::read_dir(self.dir("owners")) {
            for entry in owners.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d > LEFTOVER_AGE));
                let name = entry.file_name();
                let owner = name.to_str().and_then(|n| n.strip_suffix(".lock"));
                if let (true, Some(owner)) = (old, owner) {
                    if owner != self.owner_name {
                        self.owner_alive(owner); // Removes the file of an owner gone.
                    }
                }
            }
        }
        for dir in ["done", "dead"] {
            let Ok(files) = json_files(&self.dir(dir)) else {
                continue;
            };
            for old in files.iter().take(files.len().saturating_sub(KEEP_FINISHED)) {
                let _ = fs::remove_file(old);
            }
        }
    }
}
