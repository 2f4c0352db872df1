//! What commands read of a spool, and its delivery log: counts, finished jobs, putting them back in
//! the queue, its delivery log `log.jsonl` and the background deliverers' `warnings.log` (each rotated
//! to `<name>.1` past a size).

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::Spool;
use crate::delivery::admin::{repos_of, requeued, Counts, Finished};
use crate::delivery::files::{self, ctx, json_files};
use crate::delivery::job::{Outcome, Record};
use crate::delivery::queue::{Filter, Log, QueueError};

/// The log is rotated (to `log.jsonl.1`) past this size.
const LOG_ROTATE_BYTES: u64 = 8 << 20;

impl Spool {
    /// How many jobs are where (one whose file a worker holds locked is in flight); a job file that
    /// cannot be read counts as damaged (the next deliverer sets it aside).
    pub fn counts(&self) -> Result<Counts, QueueError> {
        let mut c = self.waiting()?;
        // And the claims of an earlier version's workers, moved into `inflight/`.
        let inflight = self.dir("inflight");
        c.in_flight += ctx("cannot list", &inflight, fs::read_dir(&inflight))?.count();
        c.dead = json_files(&self.dir("dead"))?.len();
        c.recorded = crate::delivery::pushes::files(&self.root)?.len();
        c.paused = (crate::delivery::queue::Lanes::unhealthy(self)?.iter())
            .filter(|(_, h)| h.paused.is_some())
            .count();
        for dir in ["queue", "inflight", "done", "dead", "pushes"] {
            c.damaged += files::count(&self.root.join(dir), "bad")?;
        }
        Ok(c)
    }

    /// The jobs in `queue/` alone (pending, retrying, in flight, and those that cannot be read):
    /// what a round's end says waits, without listing the finished jobs.
    pub fn waiting(&self) -> Result<Counts, QueueError> {
        let mut c = Counts::default();
        let claimed = files::locked_inodes();
        for path in json_files(&self.dir("queue"))? {
            match Spool::read(&path) {
                Some(Ok((_, ino))) if claimed.contains(&ino) => c.in_flight += 1,
                Some(Ok((job, _))) => {
                    if job.attempts == 0 {
                        c.pending += 1;
                    } else {
                        c.retrying += 1;
                    }
                    c.oldest_ms = Some(
                        c.oldest_ms
                            .map_or(job.created_ms, |o| o.min(job.created_ms)),
                    );
                }
                Some(Err(_)) => c.damaged += 1,
                None => {}
            }
        }
        Ok(c)
    }

    /// The delivered jobs (`done/`) and dead letters (`dead/`) that pass `filter`; a job finished
    /// when its file was moved there.
    pub fn finished(&self, filter: &Filter) -> Result<Vec<Finished>, QueueError> {
        let mut found = Vec::new();
        for (dir, dead) in [("done", false), ("dead", true)] {
            for path in json_files(&self.dir(dir))? {
                let at = fs::symlink_metadata(&path)
                    .and_then(|m| m.modified())
                    .map_or(0, crate::clock::epoch_ms);
                if let Some(Ok((job, _))) = Spool::read(&path) {
                    if filter.finished(&job, dead, at) {
                        found.push(Finished { job, dead });
                    }
                }
            }
        }
        Ok(found)
    }

    /// Moves those of `found` that this spool holds back into its queue, due at `now_ms`, in push
    /// order; returns the repositories they are from.
    pub fn requeue(&self, found: &[Finished], now_ms: u64) -> Result<Vec<String>, QueueError> {
        let mut moved = Vec::new();
        for (f, job) in requeued(found, now_ms) {
            let dir = if f.dead { "dead" } else { "done" };
            let from = self.dir(dir).join(f.job.file_name());
            if !from.is_file() {
                continue; // Another spool's.
            }
            self.write_durably("queue", &[&job])?;
            ctx("cannot remove", &from, fs::remove_file(&from))?;
            self.append(&Record::of(&job, now_ms, Outcome::Requeued))?;
            moved.push(job);
        }
        Ok(repos_of(&moved))
    }

    /// The lock a waiting background deliverer holds, so that one waits per spool.
    pub fn waiter_lock(&self) -> Result<File, QueueError> {
        files::lock_file(&self.root.join("deliver.lock"))
    }

    /// Whether the spool is still there: its `queue/`, made when it was opened, was not removed
    /// (with the repository, say).
    pub fn exists(&self) -> bool {
        self.dir("queue").is_dir()
    }

    /// Whether jobs, or pushes to make jobs of, wait here.
    pub fn is_empty(&self) -> Result<bool, QueueError> {
        Ok(json_files(&self.dir("queue"))?.is_empty()
            && crate::delivery::pushes::files(&self.root)?.is_empty())
    }
}

fn log_text(path: PathBuf) -> Result<String, QueueError> {
    match fs::read_to_string(&path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => ctx("cannot read the log", &path, Err(e)),
    }
}

impl Spool {
    /// Appends `records` in one write of whole lines (appends of whole lines do not interleave).
    pub(super) fn append_all<'r>(
        &self,
        records: impl IntoIterator<Item = &'r Record>,
    ) -> Result<(), QueueError> {
        let path = self.root.join("log.jsonl");
        let mut lines = Vec::new();
        for record in records {
            serde_json::to_writer(&mut lines, record).map_err(|e| QueueError {
                what: "cannot encode a log record for",
                place: path.display().to_string(),
                source: e.into(),
            })?;
            lines.push(b'\n');
        }
        if lines.is_empty() {
            return Ok(());
        }
        append_rotated(&path, &lines)
    }

    /// Adds `text` to the spool's `warnings.log`: what a background deliverer, which has no
    /// terminal, says (a file set aside and why, a push whose events could not be made).
    pub fn warn(&self, text: &str) -> Result<(), QueueError> {
        append_rotated(&self.root.join(WARNINGS), text.as_bytes())
    }
}

/// The file background deliverers write their warnings to, in the spool.
pub const WARNINGS: &str = "warnings.log";

/// Appends `bytes` to `path`, first moving it to `<path>.1` once it is past the log's size.
fn append_rotated(path: &Path, bytes: &[u8]) -> Result<(), QueueError> {
    if fs::metadata(path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let mut rotated = path.as_os_str().to_owned();
        rotated.push(".1");
        let _ = fs::rename(path, rotated);
    }
    let mut file = ctx(
        "cannot open",
        path,
        OpenOptions::new().create(true).append(true).open(path),
    )?;
    ctx("cannot write", path, file.write_all(bytes))
}

impl Log for Spool {
    fn append(&self, record: &Record) -> Result<(), QueueError> {
        self.append_all([record])
    }

    fn records(&self, filter: &Filter, limit: usize) -> Result<Vec<Record>, QueueError> {
        let text =
            log_text(self.root.join("log.jsonl.1"))? + &log_text(self.root.join("log.jsonl"))?;
        let mut records: Vec<Record> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|r| filter.record(r))
            .collect();
        records.drain(..records.len().saturating_sub(limit));
        Ok(records)
    }
}
