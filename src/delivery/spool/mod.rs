//! The file spool, the default queue: jobs written with fsync and atomic renames under the repository,
//! claimed by rename so that several workers never send one job twice, each claim backed by an OS file
//! lock its worker holds while it lives, endpoint lanes as OS locks in `locks/`, and a log line for
//! everything that happens to a job. Files that are not jobs (damaged, truncated, a FIFO) are set
//! aside as `*.bad`, never read twice and never waited on.

mod inspect;
mod lanes;
mod spools;
mod tidy;

pub use spools::Spools;

use std::fs::{self, File, OpenOptions};
use std::hash::{Hash as _, Hasher as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::files::{self, ctx, fsync_dir, json_files, write_synced, Damage};
use super::job::Job;
use super::queue::{Claim, Claimed, Enqueued, Queue, QueueError, Settle, Settled, Token};
use crate::config::Config;

/// At most this many threads write one batch of jobs.
const MAX_WRITERS: usize = 32;
/// Job files are read this many at a time while claiming (what a pass holds in memory besides its
/// claims), by up to [`MAX_READERS`] threads once a queue holds [`READ_IN_PARALLEL`].
const READ_CHUNK: usize = 512;
const MAX_READERS: usize = 4;
const READ_IN_PARALLEL: usize = 64;
const DIRS: [&str; 7] = [
    "queue", "inflight", "done", "dead", "tmp", "owners", "locks",
];

/// This process as the owner of its claims: a name, and the lock file it holds while it runs.
#[derive(Debug)]
struct Owner {
    name: String,
    path: PathBuf,
    _lock: File,
}

/// A worker that ends cleanly takes its lock file with it (one killed leaves it, for the next
/// deliverer to clear).
impl Drop for Owner {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A spool directory: `queue/`, `inflight/`, `done/`, `dead/`, `tmp/`, `owners/`, `locks/` (one per
/// endpoint lane) and `log.jsonl`, and `pushes/` (see [`super::pushes`]).
#[derive(Debug)]
pub struct Spool {
    root: PathBuf,
    /// Names this process's claims (`<pid>-<random>`), unique even when process ids are reused.
    owner_name: String,
    owner: OnceLock<Result<Owner, Arc<std::io::Error>>>,
}

/// The latest creation time a job can have: the year 3000 (a later one is a damaged file).
const LATEST_MS: u64 = 32_503_680_000_000;

impl files::Versioned for Job {
    const SCHEMA: u32 = super::job::SCHEMA;
    const WHAT: &'static str = "job";
    fn schema(&self) -> u32 {
        self.schema
    }
    fn check(&self) -> Result<(), String> {
        if self.created_ms > LATEST_MS {
            return Err(format!(
                "its creation time {} is not a real time",
                self.created_ms
            ));
        }
        Ok(())
    }
}

/// The spool directory of a repository: `[delivery] spool_dir`, relative to its git directory.
pub fn path_for(config: &Config, git_dir: &Path) -> PathBuf {
    git_dir.join(&config.delivery.spool_dir)
}

/// Where a repository's webhooks wait when its own spool cannot take them (a full or read-only
/// disk): one spool per repository (`repo`, its canonical path) in the temporary directory, which its
/// deliverers empty into the repository's spool once that takes them again.
pub fn fallback_for(repo: &Path, temp_dir: &Path) -> PathBuf {
    let key = crate::ids::stable_id(&repo.to_string_lossy());
    temp_dir.join(format!("git-webhook-spool-{key:016x}"))
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
        Ok(Spool::at(root, unique))
    }

    /// The spool at `root` if there is one (a fallback spool is made only when needed, and may
    /// hold only a recorded push so far).
    pub fn existing(root: &Path, unique: &str) -> Option<Spool> {
        root.is_dir()
            .then(|| Spool::open(root, unique).ok())
            .flatten()
    }

    fn at(root: &Path, unique: &str) -> Spool {
        Spool {
            root: root.to_path_buf(),
            owner_name: format!("{}-{unique}", std::process::id()),
            owner: OnceLock::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, sub: &str) -> PathBuf {
        self.root.join(sub)
    }

    /// This process's owner lock, taken at its first claim and held until it exits.
    fn owner(&self) -> Result<&Owner, QueueError> {
        let path = self.dir("owners").join(format!("{}.lock", self.owner_name));
        self.owner
            .get_or_init(|| {
                let file = File::create(&path)?;
                file.try_lock().map_err(std::io::Error::from)?;
                Ok(Owner {
                    name: self.owner_name.clone(),
                    path: path.clone(),
                    _lock: file,
                })
            })
            .as_ref()
            .map_err(|e| QueueError {
                what: "cannot take this worker's lock",
                place: path.display().to_string(),
                source: Box::new(Arc::clone(e)),
            })
    }

    /// Writes jobs into `dir` durably: each to a temporary file, fsync'd, atomically renamed into
    /// place, then one fsync of the directory. All or none: should one fail, those already written
    /// are taken away again. A crash at any point leaves each job whole or absent.
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
        let written = in_shares(jobs, MAX_WRITERS, |job| write(job));
        let (mut moves, mut failed) = (Vec::new(), None);
        for w in written {
            match w {
                Ok(m) => moves.push(m),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        let undo = |moves: &[(PathBuf, PathBuf)], placed: usize| {
            for (i, (tmp, dest)) in moves.iter().enumerate() {
                let _ = fs::remove_file(if i < placed { dest } else { tmp });
            }
        };
        if let Some(e) = failed {
            undo(&moves, 0);
            return Err(e);
        }
        for (i, (tmp, dest)) in moves.iter().enumerate() {
            if let Err(e) = ctx("cannot move job into", dest, fs::rename(tmp, dest)) {
                undo(&moves, i);
                return Err(e);
            }
        }
        fsync_dir(&self.dir(dir))
    }

    fn remove_claim(claim: &Claim) -> Result<(), QueueError> {
        let path = Path::new(claim.token().as_str());
        ctx("cannot remove", path, fs::remove_file(path))
    }

    /// Moves a claim's job where `how` says (its log record is written by the caller).
    fn settle_one(&self, claim: &Claim, how: Settle) -> Result<(), QueueError> {
        let held = Path::new(claim.token().as_str());
        let name = claim.job.file_name();
        match how {
            Settle::Delivered => {
                let dest = self.dir("done").join(&name);
                ctx(
                    "cannot move finished job to",
                    &dest,
                    fs::rename(held, &dest),
                )
            }
            Settle::Retry | Settle::Dead => {
                // Both keep the job as it now is (schedule, attempts, last error), written in full.
                let dir = if how == Settle::Retry {
                    "queue"
                } else {
                    "dead"
                };
                if let Err(e) = self.write_durably(dir, &[&claim.job]) {
                    // Not written (a full disk): the job goes back as it was, to be tried again,
                    // rather than stay in flight for as long as this worker lives.
                    let _ = fs::rename(held, self.dir("queue").join(&name));
                    return Err(e);
                }
                Spool::remove_claim(claim)
            }
            Settle::Forget => Spool::remove_claim(claim),
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

    /// Reads a job file; `None` when it is gone (another worker took it meanwhile).
    fn read(path: &Path) -> Option<Result<(Job, u64), Damage>> {
        match files::read::<Job>(path) {
            Err(Damage::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
            read => Some(read),
        }
    }

    /// Takes the waiting job at `path` (read as `job` from inode `ino`) for this worker: renamed into
    /// `inflight/`. `Ok(None)`: another worker took it first.
    fn take(
        &self,
        path: &Path,
        (job, ino): (Job, u64),
        owner: &Owner,
        found: &mut Claimed,
    ) -> Result<Option<Claim>, QueueError> {
        let name = job.file_name();
        let to = self.dir("inflight").join(format!("{name}.{}", owner.name));
        match fs::rename(path, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return ctx("cannot claim", path, Err(e)),
        }
        // The file taken is the one read, unless it was replaced in between: then it is read again.
        let job = if fs::symlink_metadata(&to).is_ok_and(|m| m.ino() == ino) {
            job
        } else {
            match Spool::read(&to) {
                Some(Ok((job, _))) => job,
                Some(Err(damage)) => {
                    found.set_aside.push(files::set_aside(&to, &damage));
                    return Ok(None);
                }
                None => return Ok(None),
            }
        };
        Ok(Some(Claim::new(job, Token::new(to.to_string_lossy()))))
    }

    /// Reads job files in order, several threads at once when there are many: listing a long queue
    /// is mostly reading it, and a pass waits for the listing before it sends.
    fn read_all(paths: &[PathBuf]) -> Vec<Option<Result<(Job, u64), Damage>>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_READERS));
        let shares = if paths.len() < READ_IN_PARALLEL {
            1
        } else {
            threads
        };
        in_shares(paths, shares, |p| Spool::read(p))
    }

    /// Offers the waiting job read from `path` to `pick`, and claims it if taken; sets it aside if
    /// it is damaged.
    fn pick_one(
        &self,
        path: &Path,
        read: Option<Result<(Job, u64), Damage>>,
        pick: &mut dyn FnMut(&Job) -> bool,
        owner: &Owner,
        found: &mut Claimed,
    ) -> Result<(), QueueError> {
        match read {
            None => {}
            Some(Err(damage)) => found.set_aside.push(files::set_aside(path, &damage)),
            Some(Ok((job, ino))) if pick(&job) => {
                if let Some(claim) = self.take(path, (job, ino), owner, found)? {
                    found.claims.push(claim);
                }
            }
            Some(Ok(_)) => {}
        }
        Ok(())
    }

    /// Removes the oldest waiting jobs beyond `max`; returns how many wait now, and those removed.
    /// Counts names only: a push must not read every queued job.
    fn make_room(&self, max: usize) -> Result<Enqueued, QueueError> {
        let queued = json_files(&self.dir("queue"))?;
        let over = queued.len().saturating_sub(max);
        let mut evicted = Vec::new();
        for path in queued.iter().take(over) {
            if let Some(Ok((job, _))) = Spool::read(path) {
                if fs::remove_file(path).is_ok() {
                    evicted.push(job);
                }
            }
        }
        Ok(Enqueued {
            waiting: queued.len() - evicted.len(),
            evicted,
        })
    }
}

/// `f` over `items` on up to `shares` threads, each taking a run of them in turn; the results in
/// the items' order. One share (or one item) runs here, without a thread.
fn in_shares<T: Sync, R: Send>(items: &[T], shares: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if shares < 2 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(items.len().div_ceil(shares))
            .map(|run| s.spawn(move || run.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

impl Queue for Spool {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn enqueue(&self, jobs: &[Job], max_waiting: Option<usize>) -> Result<Enqueued, QueueError> {
        if jobs.is_empty() {
            return Ok(Enqueued::default());
        }
        self.write_durably("queue", &jobs.iter().collect::<Vec<_>>())?;
        match max_waiting {
            Some(max) => self.make_room(max),
            None => Ok(Enqueued::default()),
        }
    }

    fn claim(&self, pick: &mut dyn FnMut(&Job) -> bool) -> Result<Claimed, QueueError> {
        let owner = self.owner()?;
        let mut found = Claimed::default();
        let queued = json_files(&self.dir("queue"))?;
        for chunk in queued.chunks(READ_CHUNK) {
            for (path, read) in chunk.iter().zip(Spool::read_all(chunk)) {
                self.pick_one(path, read, pick, owner, &mut found)?;
            }
        }
        Ok(found)
    }

    /// The claims' records are logged (in one write), then their jobs moved.
    fn settle(&self, done: Vec<Settled>) -> Result<(), QueueError> {
        let mut first = self.append_all(done.iter().filter_map(|d| d.record.as_ref()));
        for d in done {
            let settled = self.settle_one(&d.claim, d.how);
            if first.is_ok() {
                first = settled;
            }
        }
        first
    }

    fn recover(&self) -> Result<usize, QueueError> {
        let inflight = self.dir("inflight");
        let entries = ctx("cannot list", &inflight, fs::read_dir(&inflight))?;
        let mut recovered = 0;
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
        self.tidy();
        Ok(recovered)
    }

    fn mark(&self) -> Result<u64, QueueError> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        json_files(&self.dir("queue"))?.hash(&mut hasher);
        super::pushes::files(&self.root)?.hash(&mut hasher);
        Ok(hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::admin::Finished;
    use crate::delivery::job::{EndpointRef, Outcome, Record, SCHEMA};
    use crate::delivery::queue::{Filter, Log as _};
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
            first_attempt_ms: None,
            condition: None,
            last_error: None,
            repo: None,
        }
    }

    fn waiting(spool: &Spool) -> Vec<Job> {
        let mut seen = Vec::new();
        spool
            .claim(&mut |j| {
                seen.push(j.clone());
                false
            })
            .expect("list");
        seen
    }

    fn settled(claim: Claim, how: Settle) -> Settled {
        Settled {
            claim,
            how,
            record: None,
        }
    }

    fn take(spool: &Spool, j: &Job) -> Option<Claim> {
        spool
            .claim(&mut |w| w.id() == j.id())
            .expect("claim")
            .claims
            .pop()
    }

    #[test]
    fn jobs_round_trip_and_are_claimed_once() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), "a").unwrap();
        let (a, b) = (job(1, 2000), job(2, 1000));
        spool.enqueue(std::slice::from_ref(&a), None).unwrap();
        spool.enqueue(std::slice::from_ref(&b), None).unwrap();
        assert_eq!(
            waiting(&spool),
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
        let claimed = take(&spool, &a).expect("first claim");
        assert!(take(&spool, &a).is_none(), "a job is claimed once");
        assert_eq!(spool.counts().unwrap().in_flight, 1);
        spool
            .settle(vec![settled(claimed, Settle::Delivered)])
            .unwrap();
        let mut dead = take(&spool, &b).unwrap();
        dead.job.last_error = Some("400".into());
        spool.settle(vec![settled(dead, Settle::Dead)]).unwrap();
        let c = spool.counts().unwrap();
        assert_eq!((c.pending, c.in_flight, c.dead), (0, 0, 1));
        let by_id = |id: String| Filter {
            ids: vec![id],
            ..Filter::default()
        };
        let found = spool.finished(&by_id(b.id().to_string())).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].job.last_error.as_deref(), Some("400"));
        assert_eq!(
            spool
                .finished(&by_id(a.template.event_id.to_string()))
                .unwrap()
                .len(),
            1,
            "found by event id too"
        );
    }

    #[test]
    fn a_long_queue_is_read_in_parallel_and_offered_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), "a").unwrap();
        let n = (READ_CHUNK + READ_IN_PARALLEL) as u128;
        let jobs: Vec<Job> = (0..n).map(|i| job(i, 1000 + i as u64)).collect();
        spool.enqueue(&jobs, None).unwrap();
        let damaged = tmp.path().join("queue").join(jobs[7].file_name());
        fs::write(&damaged, b"{\"schema\":1,").unwrap();
        let mut offered = Vec::new();
        let claimed = spool
            .claim(&mut |j| {
                offered.push(j.id());
                j.created_ms % 2 == 0
            })
            .unwrap();
        let expected: Vec<uuid::Uuid> = jobs
            .iter()
            .map(Job::id)
            .filter(|id| *id != jobs[7].id())
            .collect();
        assert_eq!(offered, expected, "every job offered once, oldest first");
        assert_eq!(claimed.claims.len(), jobs.len() / 2);
        assert_eq!(claimed.set_aside.len(), 1);
        assert_eq!(claimed.set_aside[0].place, damaged.display().to_string());
        assert_eq!(spool.counts().unwrap().in_flight, jobs.len() / 2);
    }

    #[test]
    fn claims_are_taken_back_when_their_workers_lock_is_free() {
        let tmp = tempfile::tempdir().unwrap();
        let worker = Spool::open(tmp.path(), "worker").unwrap();
        let other = Spool::open(tmp.path(), "other").unwrap();
        let (j, k) = (job(3, 1000), job(4, 2000));
        worker.enqueue(&[j.clone(), k.clone()], None).unwrap();
        let claimed = take(&worker, &j).unwrap();
        assert_eq!(other.recover().unwrap(), 0, "a live worker's claim stays");
        assert_eq!(worker.recover().unwrap(), 0, "a worker's own claims stay");
        // The worker dies: its lock goes with it (what kill -9 does to an OS lock).
        drop(worker);
        std::mem::forget(claimed);
        assert_eq!(other.recover().unwrap(), 1);
        assert_eq!(waiting(&other), [j, k.clone()]);
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
        assert_eq!(other.recover().unwrap(), 1);
        assert_eq!(other.counts().unwrap().pending, 2);
    }

    #[test]
    fn the_log_appends_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), "a").unwrap();
        let j = job(4, 1000);
        spool.append(&Record::of(&j, 5, Outcome::Retry)).unwrap();
        spool
            .append(&Record::of(&j, 6, Outcome::Delivered))
            .unwrap();
        let r = spool.records(&Filter::default(), 10).unwrap();
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
            .enqueue(&[job(1, 1000), job(2, 2000), job(3, 3000)], None)
            .unwrap();
        let done = spool
            .enqueue(&[job(4, 4000), job(5, 5000)], Some(4))
            .unwrap();
        assert_eq!(done.waiting, 4);
        assert_eq!(done.evicted, [job(1, 1000)]);
        assert_eq!(waiting(&spool).len(), 4);
    }

    #[test]
    fn a_batch_is_written_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), "a").unwrap();
        // The second job's file name is taken by a directory: its write fails, and the first one
        // written goes again.
        let (a, b) = (job(1, 1000), job(2, 2000));
        fs::create_dir(tmp.path().join("tmp").join(format!(
            "{}.{}",
            b.file_name(),
            spool.owner_name
        )))
        .unwrap();
        assert!(spool.enqueue(&[a, b], None).is_err());
        assert!(waiting(&spool).is_empty(), "nothing half-queued");
    }

    #[test]
    fn requeued_jobs_leave_the_dead_letters_in_push_order() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), "a").unwrap();
        let (first, second) = (job(1, 1000), job(2, 2000));
        spool
            .enqueue(&[first.clone(), second.clone()], None)
            .unwrap();
        // The later one dies first.
        for j in [&second, &first] {
            let c = take(&spool, j).unwrap();
            spool.settle(vec![settled(c, Settle::Dead)]).unwrap();
        }
        let found: Vec<Finished> = spool.finished(&Filter::default()).unwrap();
        let found: Vec<Finished> = found.into_iter().rev().collect();
        spool.requeue(&found, 9000).unwrap();
        assert_eq!(spool.counts().unwrap().dead, 0, "no longer dead letters");
        let ids: Vec<uuid::Uuid> = waiting(&spool).iter().map(Job::id).collect();
        assert_eq!(
            ids,
            [first.id(), second.id()],
            "in the order they were made"
        );
    }
}
