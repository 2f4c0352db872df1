//! The file spool, the default [`Queue`]: jobs written with fsync and atomic renames under the repository,
//! claimed by rename so that several workers never send one job twice, each claim backed by an OS file
//! lock its worker holds while it lives, and a log line for everything that happens to a job.

use std::fs::{self, File, OpenOptions};
use std::hash::{Hash as _, Hasher as _};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::files::{ctx, fsync_dir, json_files, write_synced};
use super::job::{Job, Record};
use super::queue::{Claim, Counts, Filter, Held, Queue, QueueError, Settle, Settled};
use crate::config::Config;

/// Where finished jobs and dead letters are kept: the most recent this many of each.
pub const KEEP_FINISHED: usize = 1000;
/// The log is rotated (to `log.jsonl.1`) past this size.
const LOG_ROTATE_BYTES: u64 = 8 << 20;
/// At most this many threads write one batch of jobs.
const MAX_WRITERS: usize = 32;
const DIRS: [&str; 7] = [
    "queue", "inflight", "done", "dead", "tmp", "owners", "locks",
];

/// This process as the owner of its claims: a name, and the lock file it holds while it runs.
#[derive(Debug)]
struct Owner {
    name: String,
    _lock: File,
}

/// A spool directory: `queue/`, `inflight/`, `done/`, `dead/`, `tmp/`, `owners/`, `locks/` (one per
/// endpoint being sent to) and `log.jsonl`, and `pushes/` (see [`super::pushes`]).
#[derive(Debug)]
pub struct Spool {
    root: PathBuf,
    /// Names this process's claims (`<pid>-<random>`), unique even when process ids are reused.
    owner_name: String,
    owner: OnceLock<Result<Owner, String>>,
}

fn read_job(path: &Path) -> Option<Job> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// The spool directory of a repository: `[delivery] spool_dir`, relative to its git directory.
pub fn path_for(config: &Config, git_dir: &Path) -> PathBuf {
    git_dir.join(&config.delivery.spool_dir)
}

/// The spool used when the repository's cannot be written: one per repository in the temporary directory.
pub fn fallback_for(git_dir: &Path, temp_dir: &Path) -> PathBuf {
    let key = crate::ids::stable_id(&git_dir.to_string_lossy());
    temp_dir.join(format!("git-webhook-spool-{key}"))
}

impl Spool {
    /// Opens (creating if needed) the spool at `root`; `unique` makes this process's owner name.
    pub fn open(root: &Path, unique: &str) -> Result<Spool, QueueError> {
        for sub in DIRS {
            let dir = root.join(sub);
            ctx(
                "cannot create spool directory",
                &dir,
                fs::create_dir_all(&dir),
            )?;
        }
        Ok(Spool {
            root: root.to_path_buf(),
            owner_name: format!("{}-{unique}", std::process::id()),
            owner: OnceLock::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, sub: &str) -> PathBuf {
        self.root.join(sub)
    }

    /// This process's owner lock, taken at its first claim and held until it exits.
    fn owner(&self) -> Result<&Owner, String> {
        self.owner
            .get_or_init(|| {
                let path = self.dir("owners").join(format!("{}.lock", self.owner_name));
                let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                file.try_lock()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Owner {
                    name: self.owner_name.clone(),
                    _lock: file,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Writes jobs into `dir` durably: each to a temporary file, fsync'd, atomically renamed into place,
    /// then one fsync of the directory. A crash at any point leaves each job whole or absent.
    fn write_durably(&self, dir: &str, jobs: &[&Job]) -> Result<(), QueueError> {
        let write = |job: &Job| -> Result<(PathBuf, PathBuf), QueueError> {
            let name = job.file_name();
            let tmp = self.dir("tmp").join(format!("{name}.{}", self.owner_name));
            let dest = self.dir(dir).join(&name);
            write_synced(&tmp, job, &dest)?;
            Ok((tmp, dest))
        };
        // The fsyncs of several files overlap when made at once (the file system commits them
        // together): a bounded number of writers, each taking its share of the jobs.
        let moves: Vec<(PathBuf, PathBuf)> = match jobs {
            [one] => vec![write(one)?],
            _ => std::thread::scope(|s| {
                let share = jobs.len().div_ceil(MAX_WRITERS);
                let handles: Vec<_> = jobs
                    .chunks(share)
                    .map(|chunk| {
                        s.spawn(move || chunk.iter().map(|job| write(job)).collect::<Vec<_>>())
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| {
                        h.join().unwrap_or_else(|_| {
                            vec![Err(QueueError {
                                what: "cannot write a job into",
                                place: self.dir("tmp").display().to_string(),
                                source: "writer thread panicked".into(),
                            })]
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

    /// The queued jobs' files, oldest first, without reading them.
    fn queued_files(&self) -> Vec<PathBuf> {
        json_files(&self.dir("queue"))
    }

    fn remove_claim(claim: &Claim) -> Result<(), QueueError> {
        ctx("cannot remove", claim.key(), fs::remove_file(claim.key()))
    }

    /// Logs a claim's record, then moves its job where `how` says.
    fn settle_one(&self, Settled { claim, how, record }: Settled) -> Result<(), QueueError> {
        if let Some(r) = &record {
            self.log(r);
        }
        match how {
            Settle::Delivered => {
                let dest = self.dir("done").join(claim.job.file_name());
                ctx(
                    "cannot move finished job to",
                    &dest,
                    fs::rename(claim.key(), &dest),
                )
            }
            Settle::Retry | Settle::Dead => {
                // Both keep the job as it now is (schedule, attempts, last error), written in full.
                let dir = if how == Settle::Retry {
                    "queue"
                } else {
                    "dead"
                };
                self.write_durably(dir, &[&claim.job])?;
                Spool::remove_claim(&claim)
            }
            Settle::Forget => Spool::remove_claim(&claim),
        }
    }

    /// Whether the worker that named itself `owner` still runs: it holds its lock file.
    fn owner_alive(&self, owner: &str) -> bool {
        let path = self.dir("owners").join(format!("{owner}.lock"));
        match OpenOptions::new().write(true).open(&path) {
            Ok(file) => match file.try_lock() {
                Ok(()) => {
                    // Gone: nobody else can take this lock again, so the file can go.
                    let _ = fs::remove_file(&path);
                    false
                }
                Err(_) => true,
            },
            Err(_) => false,
        }
    }
}

impl Queue for Spool {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn enqueue(&self, jobs: &[Job]) -> Result<(), QueueError> {
        self.write_durably("queue", &jobs.iter().collect::<Vec<_>>())
    }

    /// Unreadable files (a foreign or half-written file) are skipped.
    fn waiting(&self) -> Vec<Job> {
        self.queued_files()
            .iter()
            .filter_map(|p| read_job(p))
            .collect()
    }

    fn claim(&self, jobs: &[Job]) -> Vec<Claim> {
        let Ok(owner) = self.owner() else {
            return Vec::new();
        };
        let take = |job: &Job| {
            let from = self.dir("queue").join(job.file_name());
            let path = self
                .dir("inflight")
                .join(format!("{}.{}", job.file_name(), owner.name));
            fs::rename(&from, &path).ok()?;
            // Re-read: the file is now ours, and may be newer than the copy the caller listed.
            let job = read_job(&path).unwrap_or_else(|| job.clone());
            Some(Claim::new(job, path))
        };
        jobs.iter().filter_map(take).collect()
    }

    fn settle(&self, done: Vec<Settled>) -> Result<(), QueueError> {
        let mut first = Ok(());
        for d in done {
            let settled = self.settle_one(d);
            if first.is_ok() {
                first = settled;
            }
        }
        first
    }

    fn recover(&self) -> usize {
        let mut recovered = 0;
        let Ok(entries) = fs::read_dir(self.dir("inflight")) else {
            return 0;
        };
        let mut alive = std::collections::HashMap::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some((job_name, owner)) = name.rsplit_once('.') else {
                continue;
            };
            if owner == self.owner_name {
                continue;
            }
            let owner_alive = *alive
                .entry(owner.to_owned())
                .or_insert_with(|| self.owner_alive(owner));
            if !owner_alive && fs::rename(&path, self.dir("queue").join(job_name)).is_ok() {
                recovered += 1;
            }
        }
        recovered
    }

    fn log(&self, record: &Record) {
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

    fn records(&self, filter: &Filter, limit: usize) -> Vec<Record> {
        let read = |p: PathBuf| fs::read_to_string(p).unwrap_or_default();
        let text = read(self.root.join("log.jsonl.1")) + &read(self.root.join("log.jsonl"));
        let mut records: Vec<Record> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|r| filter.record(r))
            .collect();
        records.drain(..records.len().saturating_sub(limit));
        records
    }

    fn counts(&self) -> Counts {
        let queued = self.waiting();
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

    /// A job finished when its file was moved into `done/` or `dead/`.
    fn finished(&self, filter: &Filter) -> Vec<(Job, bool)> {
        let mut found = Vec::new();
        for (dir, dead) in [("done", false), ("dead", true)] {
            for path in json_files(&self.dir(dir)) {
                let at = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                if let Some(job) = read_job(&path).filter(|j| filter.finished(j, dead, at)) {
                    found.push((job, dead));
                }
            }
        }
        found
    }

    /// Counts names only: a push must not read every queued job.
    fn make_room(&self, incoming: usize, max: usize) -> (usize, Vec<Job>) {
        let queued = self.queued_files();
        let after = queued.len() + incoming;
        let removed = queued
            .iter()
            .take(after.saturating_sub(max))
            .filter_map(|p| {
                let job = read_job(p);
                fs::remove_file(p).ok()?;
                job
            })
            .collect();
        (after, removed)
    }

    fn mark(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.queued_files().hash(&mut hasher);
        json_files(&self.dir("pushes")).hash(&mut hasher);
        hasher.finish()
    }

    fn prune(&self) {
        for dir in ["done", "dead"] {
            let files = json_files(&self.dir(dir));
            for old in files.iter().take(files.len().saturating_sub(KEEP_FINISHED)) {
                let _ = fs::remove_file(old);
            }
        }
    }

    fn paced(&self, key: &str, sent: &[u64], window_ms: u64) -> Vec<u64> {
        let path = self
            .dir("locks")
            .join(format!("{:016x}.sent", crate::ids::stable_id(key)));
        let stored = fs::read_to_string(&path).unwrap_or_default();
        let times = super::pace::window(
            stored.split_whitespace().filter_map(|t| t.parse().ok()),
            sent,
            window_ms,
        );
        if !sent.is_empty() {
            let text: String = times.iter().map(|t| format!("{t}\n")).collect();
            // Pacing is a courtesy to the receiver: a failed write only means less of it.
            let _ = fs::write(&path, text);
        }
        times
    }

    fn lock_endpoint(&self, key: &str) -> Option<Held> {
        let path = self
            .dir("locks")
            .join(format!("{:016x}.lock", crate::ids::stable_id(key)));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ok()?;
        file.try_lock().ok()?;
        Some(Box::new(file))
    }
}

impl Spool {
    /// The lock a waiting background deliverer holds, so that one waits per spool.
    pub fn waiter_lock(&self) -> Result<File, QueueError> {
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
    use crate::delivery::job::{EndpointRef, Outcome, SCHEMA};
    use crate::format::{Hook, RequestTemplate};
    use crate::model::EventKind;

    fn job(n: u128, created_ms: u64) -> Job {
        Job {
            schema: SCHEMA,
            template: RequestTemplate {
                event_id: uuid::Uuid::from_u128(n),
                hook: Hook {
                    id: 1,
                    delivery_id: uuid::Uuid::from_u128(n + 100),
                },
                kind: EventKind::Push,
                sent: Default::default(),
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
        let spool = Spool::open(tmp.path(), "a").unwrap();
        let (a, b) = (job(1, 2000), job(2, 1000));
        spool.enqueue(std::slice::from_ref(&a)).unwrap();
        spool.enqueue(std::slice::from_ref(&b)).unwrap();
        assert_eq!(
            spool.waiting(),
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
        let claimed = spool
            .claim(std::slice::from_ref(&a))
            .pop()
            .expect("first claim");
        assert!(
            spool.claim(std::slice::from_ref(&a)).is_empty(),
            "a job is claimed once"
        );
        assert_eq!(spool.counts().in_flight, 1);
        let settled = |claim, how| Settled {
            claim,
            how,
            record: None,
        };
        spool
            .settle(vec![settled(claimed, Settle::Delivered)])
            .unwrap();
        let mut dead = spool.claim(std::slice::from_ref(&b)).pop().unwrap();
        dead.job.last_error = Some("400".into());
        spool.settle(vec![settled(dead, Settle::Dead)]).unwrap();
        let c = spool.counts();
        assert_eq!((c.pending, c.in_flight, c.dead), (0, 0, 1));
        let by_id = |id: String| Filter {
            ids: vec![id],
            ..Filter::default()
        };
        let found = spool.finished(&by_id(b.id().to_string()));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.last_error.as_deref(), Some("400"));
        assert_eq!(
            spool
                .finished(&by_id(a.template.event_id.to_string()))
                .len(),
            1,
            "found by event id too"
        );
    }

    #[test]
    fn claims_are_taken_back_when_their_workers_lock_is_free() {
        let tmp = tempfile::tempdir().unwrap();
        let worker = Spool::open(tmp.path(), "worker").unwrap();
        let other = Spool::open(tmp.path(), "other").unwrap();
        let (j, k) = (job(3, 1000), job(4, 2000));
        worker.enqueue(&[j.clone(), k.clone()]).unwrap();
        let claimed = worker.claim(std::slice::from_ref(&j)).pop().unwrap();
        assert_eq!(other.recover(), 0, "a live worker's claim stays");
        assert_eq!(worker.recover(), 0, "a worker's own claims stay");
        // The worker dies: its lock goes with it (what kill -9 does to an OS lock).
        drop(worker);
        std::mem::forget(claimed);
        assert_eq!(other.recover(), 1);
        assert_eq!(other.waiting(), [j, k.clone()]);
        assert!(
            fs::read_dir(tmp.path().join("owners")).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("worker")),
            "the dead worker's lock file is gone"
        );
        // A claim named the old way, by process id, has no lock at all: taken back too.
        let old = tmp
            .path()
            .join("inflight")
            .join(format!("{}.{}", k.file_name(), u32::MAX - 1));
        fs::rename(tmp.path().join("queue").join(k.file_name()), &old).unwrap();
        assert_eq!(other.recover(), 1);
        assert_eq!(other.counts().pending, 2);
    }

    #[test]
    fn the_log_appends_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), "a").unwrap();
        let j = job(4, 1000);
        spool.log(&Record::of(&j, 5, Outcome::Retry));
        spool.log(&Record::of(&j, 6, Outcome::Delivered));
        let r = spool.records(&Filter::default(), 10);
        assert_eq!(
            r.iter().map(|r| (r.time_ms, r.outcome)).collect::<Vec<_>>(),
            [(5, Outcome::Retry), (6, Outcome::Delivered)]
        );
        let text = fs::read_to_string(tmp.path().join("log.jsonl")).unwrap();
        assert!(!text.contains("body"), "the log holds no bodies");
    }

    #[test]
    fn room_is_made_oldest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), "a").unwrap();
        spool
            .enqueue(&[job(1, 1000), job(2, 2000), job(3, 3000)])
            .unwrap();
        let (after, removed) = spool.make_room(2, 4);
        assert_eq!(after, 5);
        assert_eq!(removed, [job(1, 1000)]);
        assert_eq!(spool.waiting().len(), 2);
    }
}
