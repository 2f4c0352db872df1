//! The file spool, the default queue: jobs written with fsync and atomic renames under the repository,
//! each claimed by an OS lock on its file that its worker holds until the job is settled (so that
//! several workers never send one job twice, and a worker killed lets go of its claims as it dies),
//! endpoint lanes as OS locks in `locks/`, and a log line for everything that happens to a job.
//! Files that are not jobs (damaged, truncated, a FIFO) are set aside as `*.bad`, never read twice
//! and never waited on.

mod claim;
mod inspect;
mod lanes;
mod spools;
mod tidy;

pub use spools::Spools;

use std::fs::{self, File, OpenOptions};
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::files::{self, ctx, fsync_dir, json_files, write_synced, Damage, Dir};
use super::job::Job;
use super::queue::{Claim, Claimed, Enqueued, Queue, QueueError, Settle, Settled};
use crate::config::Config;

/// At most this many threads write one batch of jobs.
const MAX_WRITERS: usize = 32;
/// A spool is tidied at most this often by one process.
const TIDY_EVERY: Duration = Duration::from_secs(60);
const DIRS: [&str; 7] = [
    "queue", "inflight", "done", "dead", "tmp", "owners", "locks",
];

/// This process as a worker of the spool: the lock file it holds while it runs (what `workers`
/// lists, and what tells whether a claim in `inflight/`, as earlier versions made them, is still
/// its worker's).
#[derive(Debug)]
struct Owner {
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
    /// Names this process's temporary files and its lock in `owners/` (`<pid>-<random>`), unique
    /// even when process ids are reused.
    owner_name: String,
    owner: OnceLock<Result<Owner, Arc<std::io::Error>>>,
    /// When this process last tidied the spool: a deliverer's batches follow each other quickly.
    tidied: Mutex<Option<Instant>>,
    /// How many claims one listing makes, when set (by tests): else as many as the files this
    /// process may open allow.
    at_once: Option<usize>,
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
            tidied: Mutex::new(None),
            at_once: None,
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

    /// Moves a claim's job out of the queue, or replaces it there, as `how` says, while its file is
    /// still locked (its log record is written by the caller). A job that cannot be written (a full
    /// disk) stays in the queue as it was, to be tried again.
    /// `moves`: the queue and `done/` held open, to move delivered jobs by name.
    fn settle_one(
        &self,
        claim: &Claim,
        how: Settle,
        moves: &Result<(Dir, Dir), QueueError>,
    ) -> Result<(), QueueError> {
        let held = Path::new(claim.token().as_str());
        let name = claim.job.file_name();
        match how {
            Settle::Delivered => {
                let dest = self.dir("done").join(&name);
                let moved = match moves {
                    Ok((queue, done)) => queue.rename(held, done, &name),
                    Err(_) => fs::rename(held, &dest),
                };
                ctx("cannot move finished job to", &dest, moved)
            }
            Settle::Retry => {
                // The job as it now is (schedule, attempts, last error), written in full over the
                // one claimed (unless that had another name).
                self.write_durably("queue", &[&claim.job])?;
                if held != self.dir("queue").join(&name) {
                    Spool::remove_claim(claim)?;
                }
                Ok(())
            }
            Settle::Dead => {
                self.write_durably("dead", &[&claim.job])?;
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
        Some(Spool::read_open(path)?.map(|(job, ino, _)| (job, ino)))
    }

    /// Removes the oldest waiting jobs beyond `max` (but none being sent: its file is locked);
    /// returns how many wait now, and those removed. Counts names only: a push must not read every
    /// queued job.
    fn make_room(&self, max: usize) -> Result<Enqueued, QueueError> {
        let queued = json_files(&self.dir("queue"))?;
        let over = queued.len().saturating_sub(max);
        let mut evicted = Vec::new();
        for path in queued.iter().take(over) {
            if let Some(Ok((job, _, file))) = Spool::read_open(path) {
                if file.try_lock().is_ok() && fs::remove_file(path).is_ok() {
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

    fn claim_each(
        &self,
        pick: &mut dyn FnMut(&Job) -> bool,
        take: &mut dyn FnMut(Claim),
    ) -> Result<Claimed, QueueError> {
        self.claim_listed(pick, take)
    }

    /// The claims' records are logged (in one write), then their jobs moved.
    fn settle(&self, done: Vec<Settled>) -> Result<(), QueueError> {
        let mut first = self.append_all(done.iter().filter_map(|d| d.record.as_ref()));
        let moves =
            Dir::open(&self.dir("queue")).and_then(|q| Ok((q, Dir::open(&self.dir("done"))?)));
        for d in done {
            let settled = self.settle_one(&d.claim, d.how, &moves);
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
        let mut tidied = self.tidied.lock().unwrap_or_else(|e| e.into_inner());
        if tidied.is_none_or(|t| t.elapsed() >= TIDY_EVERY) {
            self.tidy();
            *tidied = Some(Instant::now());
        }
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
    use super::claim::{READ_CHUNK, READ_IN_PARALLEL};
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

    /// The jobs in flight, as the most of a few counts says (the tests running beside this one let
    /// go of locks as it reads the system's list of them, which can make it skip one).
    fn in_flight(spool: &Spool) -> usize {
        (0..5)
            .map(|_| spool.counts().unwrap().in_flight)
            .max()
            .unwrap()
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
        assert_eq!(in_flight(&spool), 1);
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
        assert_eq!(in_flight(&spool), jobs.len() / 2);
    }

    #[test]
    fn a_listing_claims_so_many_at_once_and_says_more_wait() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(tmp.path(), "a").unwrap();
        spool.at_once = Some(3);
        let jobs: Vec<Job> = (0..7).map(|i| job(i, 1000 + i as u64)).collect();
        spool.enqueue(&jobs, None).unwrap();
        let mut sent = Vec::new();
        for more in [true, true, false] {
            let mut offered = 0;
            let claimed = spool
                .claim(&mut |_| {
                    offered += 1;
                    true
                })
                .unwrap();
            assert_eq!(claimed.more, more);
            assert_eq!(
                offered,
                claimed.claims.len(),
                "none offered past the last claim"
            );
            sent.extend(claimed.claims.iter().map(|c| c.job.id()));
            let done = claimed.claims.into_iter();
            spool
                .settle(done.map(|c| settled(c, Settle::Delivered)).collect())
                .unwrap();
        }
        assert_eq!(sent, jobs.iter().map(Job::id).collect::<Vec<_>>());
    }

    #[test]
    fn a_job_file_that_cannot_be_opened_for_want_of_files_is_not_set_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), "a").unwrap();
        let j = job(1, 1000);
        spool.enqueue(std::slice::from_ref(&j), None).unwrap();
        let path = tmp.path().join("queue").join(j.file_name());
        let out_of_files = Damage::Io(std::io::Error::from_raw_os_error(libc::EMFILE));
        let mut found = Claimed::default();
        let dir = Dir::open(&tmp.path().join("queue")).unwrap();
        let read = Spool::pick_one(
            &dir,
            &path,
            Some(Err(out_of_files)),
            &mut |_| true,
            &mut found,
        );
        let error = read.expect_err("a failed read, not damage");
        assert_eq!(error.place, path.display().to_string());
        assert!(found.set_aside.is_empty());
        assert_eq!(waiting(&spool), [j], "still waiting, as it was");
    }

    #[test]
    fn a_claim_ends_with_its_worker_and_older_claims_are_taken_back() {
        let tmp = tempfile::tempdir().unwrap();
        let worker = Spool::open(tmp.path(), "worker").unwrap();
        let other = Spool::open(tmp.path(), "other").unwrap();
        let (j, k) = (job(3, 1000), job(4, 2000));
        worker.enqueue(&[j.clone(), k.clone()], None).unwrap();
        let claimed = take(&worker, &j).unwrap();
        assert!(
            take(&other, &j).is_none(),
            "a live worker's claim is its own"
        );
        assert_eq!((other.counts().unwrap().pending, in_flight(&other)), (1, 1));
        assert_eq!(worker.recover().unwrap(), 0);
        // The worker dies: its lock goes with it (what kill -9 does to an OS lock).
        drop(claimed);
        assert_eq!(waiting(&other), [j.clone(), k.clone()], "back, in order");
        let c = other.counts().unwrap();
        assert_eq!((c.pending, c.in_flight), (2, 0));
        // A claim as earlier versions made it, moved into `inflight/` and named by its worker's
        // process id, has no lock at all: taken back.
        let old = tmp
            .path()
            .join("inflight")
            .join(format!("{}.{}", k.file_name(), u32::MAX - 1));
        fs::rename(tmp.path().join("queue").join(k.file_name()), &old).unwrap();
        assert_eq!(in_flight(&other), 1);
        assert_eq!(other.recover().unwrap(), 1);
        assert_eq!(waiting(&other), [j, k]);
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
