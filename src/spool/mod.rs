//! The durable spool: jobs written with fsync and atomic renames, claimed by rename so that several
//! deliverers never send one job twice, and a log line for everything that happens to a job.

pub mod job;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use job::{Condition, EndpointRef, Job, Outcome, Record, SCHEMA};

/// Where finished jobs and dead letters are kept: the most recent this many of each.
pub const KEEP_FINISHED: usize = 1000;
/// The log is rotated (to `log.jsonl.1`) past this size.
const LOG_ROTATE_BYTES: u64 = 8 << 20;

/// A spool operation that failed, with the path it failed on.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}", path.display())]
pub struct SpoolError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn ctx<T>(what: &'static str, path: &Path, r: std::io::Result<T>) -> Result<T, SpoolError> {
    r.map_err(|source| SpoolError {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// A spool directory: `queue/`, `inflight/`, `done/`, `dead/`, `tmp/` and `log.jsonl`.
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
}

/// A job taken out of the queue by this process: it must be finished one way or another.
#[must_use = "a claimed job stays in flight until it is completed, retried or dead-lettered"]
#[derive(Debug)]
pub struct Claimed {
    path: PathBuf,
    pub job: Job,
}

/// How many jobs are where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Queued and never tried.
    pub pending: usize,
    /// Queued after at least one failed attempt.
    pub retrying: usize,
    pub in_flight: usize,
    pub dead: usize,
    /// Creation time of the oldest queued job.
    pub oldest_ms: Option<u64>,
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn read_job(path: &Path) -> Option<Job> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

fn fsync_dir(dir: &Path) -> Result<(), SpoolError> {
    ctx(
        "cannot sync directory",
        dir,
        File::open(dir).and_then(|d| d.sync_all()),
    )
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

impl Spool {
    /// Opens (creating if needed) the spool at `root`.
    pub fn open(root: &Path) -> Result<Spool, SpoolError> {
        for sub in ["queue", "inflight", "done", "dead", "tmp"] {
            let dir = root.join(sub);
            ctx(
                "cannot create spool directory",
                &dir,
                fs::create_dir_all(&dir),
            )?;
        }
        Ok(Spool {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, sub: &str) -> PathBuf {
        self.root.join(sub)
    }

    /// Writes jobs into `dir` durably: each to a temporary file, fsync'd, atomically renamed into place,
    /// then one fsync of the directory. A crash at any point leaves each job whole or absent.
    fn write_durably(&self, dir: &str, jobs: &[&Job]) -> Result<(), SpoolError> {
        let write = |job: &Job| -> Result<(PathBuf, PathBuf), SpoolError> {
            let name = job.file_name();
            let tmp = self
                .dir("tmp")
                .join(format!("{name}.{}", std::process::id()));
            let dest = self.dir(dir).join(&name);
            let bytes = serde_json::to_vec(job).map_err(|e| SpoolError {
                what: "cannot encode job",
                path: dest.clone(),
                source: e.into(),
            })?;
            let mut file = ctx("cannot create", &tmp, File::create(&tmp))?;
            ctx(
                "cannot write",
                &tmp,
                file.write_all(&bytes).and_then(|()| file.sync_all()),
            )?;
            Ok((tmp, dest))
        };
        // The fsyncs of several files overlap when made at once (the file system commits them together).
        let moves: Vec<(PathBuf, PathBuf)> = match jobs {
            [one] => vec![write(one)?],
            _ => std::thread::scope(|s| {
                let handles: Vec<_> = jobs.iter().map(|job| s.spawn(move || write(job))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(SpoolError {
                                what: "cannot write a job into",
                                path: self.dir("tmp"),
                                source: std::io::Error::other("writer thread panicked"),
                            })
                        })
                    })
                    .collect::<Result<_, _>>()
            })?,
        };
        for (tmp, dest) in &moves {
            ctx("cannot move job into", dest, fs::rename(tmp, dest))?;
        }
        fsync_dir(&self.dir(dir))
    }

    /// Adds a job to the queue, durably.
    pub fn enqueue(&self, job: &Job) -> Result<(), SpoolError> {
        self.write_durably("queue", &[job])
    }

    /// Adds jobs to the queue, durably, with one directory sync for all.
    pub fn enqueue_all(&self, jobs: &[Job]) -> Result<(), SpoolError> {
        self.write_durably("queue", &jobs.iter().collect::<Vec<_>>())
    }

    /// Every queued job, oldest first; unreadable files (a foreign or half-written file) are skipped.
    pub fn queued(&self) -> Vec<Job> {
        json_files(&self.dir("queue"))
            .iter()
            .filter_map(|p| read_job(p))
            .collect()
    }

    /// Takes a queued job for this process. `None` if another deliverer took it first.
    pub fn claim(&self, job: &Job) -> Option<Claimed> {
        let from = self.dir("queue").join(job.file_name());
        let path = self
            .dir("inflight")
            .join(format!("{}.{}", job.file_name(), std::process::id()));
        fs::rename(&from, &path).ok()?;
        // Re-read: the file is now ours, and may be newer than the copy the caller listed.
        let job = read_job(&path).unwrap_or_else(|| job.clone());
        Some(Claimed { path, job })
    }

    /// Finishes a claimed job: delivered jobs go to `done/`, failed ones to `dead/`.
    pub fn finish(&self, claimed: Claimed, delivered: bool) -> Result<(), SpoolError> {
        let dir = if delivered { "done" } else { "dead" };
        let dest = self.dir(dir).join(claimed.job.file_name());
        if delivered {
            ctx(
                "cannot move finished job to",
                &dest,
                fs::rename(&claimed.path, &dest),
            )
        } else {
            // Dead letters keep their last error: written in full, durably.
            self.write_durably(dir, &[&claimed.job])?;
            ctx(
                "cannot remove",
                &claimed.path,
                fs::remove_file(&claimed.path),
            )
        }
    }

    /// Puts a claimed job back in the queue with its new schedule, durably.
    pub fn requeue(&self, claimed: Claimed) -> Result<(), SpoolError> {
        self.enqueue(&claimed.job)?;
        ctx(
            "cannot remove",
            &claimed.path,
            fs::remove_file(&claimed.path),
        )
    }

    /// Removes a claimed job without keeping it (dropped or discarded; the log says why).
    pub fn forget(&self, claimed: Claimed) -> Result<(), SpoolError> {
        ctx(
            "cannot remove",
            &claimed.path,
            fs::remove_file(&claimed.path),
        )
    }

    /// Puts back in the queue the jobs of deliverers that died mid-send (their process is gone).
    pub fn recover(&self) -> usize {
        let mut recovered = 0;
        let Ok(entries) = fs::read_dir(self.dir("inflight")) else {
            return 0;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some((job_name, pid)) = name.rsplit_once('.') else {
                continue;
            };
            let Ok(pid) = pid.parse::<u32>() else {
                continue;
            };
            if pid == std::process::id() || pid_alive(pid) {
                continue;
            }
            if fs::rename(&path, self.dir("queue").join(job_name)).is_ok() {
                recovered += 1;
            }
        }
        recovered
    }

    /// Appends a record to the delivery log (rotated when large).
    pub fn log(&self, record: &Record) {
        let path = self.root.join("log.jsonl");
        if fs::metadata(&path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
            let _ = fs::rename(&path, self.root.join("log.jsonl.1"));
        }
        if let (Ok(mut line), Ok(mut file)) = (
            serde_json::to_vec(record),
            OpenOptions::new().create(true).append(true).open(&path),
        ) {
            line.push(b'\n');
            // One write per line: appends of whole lines do not interleave.
            let _ = file.write_all(&line);
        }
    }

    /// The log, oldest first.
    pub fn records(&self) -> Vec<Record> {
        let read = |p: PathBuf| fs::read_to_string(p).unwrap_or_default();
        let text = read(self.root.join("log.jsonl.1")) + &read(self.root.join("log.jsonl"));
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn counts(&self) -> Counts {
        let queued = self.queued();
        Counts {
            pending: queued.iter().filter(|j| j.attempts == 0).count(),
            retrying: queued.iter().filter(|j| j.attempts > 0).count(),
            in_flight: fs::read_dir(self.dir("inflight"))
                .map(|d| d.count())
                .unwrap_or(0),
            dead: json_files(&self.dir("dead")).len(),
            oldest_ms: queued.iter().map(|j| j.created_ms).min(),
        }
    }

    /// Finished and dead jobs whose job id or event id starts with `id`.
    pub fn find(&self, id: &str) -> Vec<(Job, bool)> {
        let mut found = Vec::new();
        for (dir, dead) in [("done", false), ("dead", true)] {
            for path in json_files(&self.dir(dir)) {
                if let Some(job) = read_job(&path) {
                    if job.id().to_string().starts_with(id)
                        || job.delivery.event_id.to_string().starts_with(id)
                    {
                        found.push((job, dead));
                    }
                }
            }
        }
        found
    }

    /// Keeps only the newest [`KEEP_FINISHED`] files in `done/` and in `dead/`.
    pub fn prune(&self) {
        for dir in ["done", "dead"] {
            let files = json_files(&self.dir(dir));
            for old in files.iter().take(files.len().saturating_sub(KEEP_FINISHED)) {
                let _ = fs::remove_file(old);
            }
        }
    }

    /// The queued jobs' files, oldest first, without reading them.
    pub fn queued_files(&self) -> Vec<PathBuf> {
        json_files(&self.dir("queue"))
    }

    /// Reads and removes a queued job's file (the size limit); the caller logs it.
    pub fn take(&self, path: &Path) -> Option<Job> {
        let job = read_job(path);
        fs::remove_file(path).ok()?;
        job
    }

    /// The lock a background deliverer holds while it runs, so that one runs per spool.
    pub fn lock_file(&self) -> Result<File, SpoolError> {
        let path = self.root.join("deliver.lock");
        ctx(
            "cannot open lock file",
            &path,
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::format::{Delivery, Hook};

    fn job(n: u128, created_ms: u64) -> Job {
        Job {
            schema: SCHEMA,
            delivery: Delivery {
                event_id: uuid::Uuid::from_u128(n),
                hook: Hook {
                    id: 1,
                    delivery_id: uuid::Uuid::from_u128(n + 100),
                },
                kind: EventKind::Push,
                instance: "https://x".into(),
                project_id: 1,
                body: br#"{"a":"b"}"#.to_vec(),
            },
            endpoint: EndpointRef {
                number: 1,
                format: "gitlab".into(),
                url: "http://127.0.0.1:9/".into(),
            },
            refname: "refs/heads/main".into(),
            created_ms,
            next_ms: created_ms,
            attempts: 0,
            condition: None,
            last_error: None,
            repo: None,
        }
    }

    #[test]
    fn jobs_round_trip_and_are_claimed_once() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path()).unwrap();
        let (a, b) = (job(1, 2000), job(2, 1000));
        spool.enqueue(&a).unwrap();
        spool.enqueue(&b).unwrap();
        assert_eq!(
            spool.queued(),
            [b.clone(), a.clone()],
            "oldest first, bodies intact"
        );
        assert!(
            fs::read_dir(tmp.path().join("tmp"))
                .unwrap()
                .next()
                .is_none(),
            "no temporary files left"
        );
        let claimed = spool.claim(&a).expect("first claim");
        assert!(spool.claim(&a).is_none(), "a job is claimed once");
        assert_eq!(spool.counts().in_flight, 1);
        spool.finish(claimed, true).unwrap();
        let mut dead = spool.claim(&b).unwrap();
        dead.job.last_error = Some("400".into());
        spool.finish(dead, false).unwrap();
        let c = spool.counts();
        assert_eq!((c.pending, c.in_flight, c.dead), (0, 0, 1));
        let found = spool.find(&b.id().to_string());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.last_error.as_deref(), Some("400"));
        assert_eq!(
            spool.find(&a.delivery.event_id.to_string()).len(),
            1,
            "found by event id too"
        );
    }

    #[test]
    fn jobs_of_dead_deliverers_are_recovered() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path()).unwrap();
        let j = job(3, 1000);
        spool.enqueue(&j).unwrap();
        // What a deliverer that died would leave: its claim, named with a process id that no longer runs.
        let gone = tmp
            .path()
            .join("inflight")
            .join(format!("{}.{}", j.file_name(), u32::MAX - 1));
        fs::rename(tmp.path().join("queue").join(j.file_name()), &gone).unwrap();
        assert!(spool.queued().is_empty());
        assert_eq!(spool.recover(), 1);
        assert_eq!(spool.queued(), [j]);
        let mine = spool.claim(&spool.queued()[0]).unwrap();
        assert_eq!(spool.recover(), 0, "this process's own claims stay");
        spool.requeue(mine).unwrap();
        assert_eq!(spool.counts().pending, 1);
    }

    #[test]
    fn the_log_appends_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path()).unwrap();
        let j = job(4, 1000);
        spool.log(&Record::of(&j, 5, Outcome::Retry));
        spool.log(&Record::of(&j, 6, Outcome::Delivered));
        let r = spool.records();
        assert_eq!(
            r.iter().map(|r| (r.time_ms, r.outcome)).collect::<Vec<_>>(),
            [(5, Outcome::Retry), (6, Outcome::Delivered)]
        );
        let text = fs::read_to_string(tmp.path().join("log.jsonl")).unwrap();
        assert!(!text.contains("body"), "the log holds no bodies");
    }
}
