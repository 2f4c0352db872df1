//! Putting a push's jobs in a queue, and the workers that send them: one pass (`deliver`), a
//! `--watch` worker, and the background deliverer the hook starts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::job::{Job, Outcome, Record};
use super::pass::{Pass, RefMoved};
use super::pushes::{self, RecordedPush};
use super::queue::{Queue, QueueError};
use super::spool::{self, Spool};
use super::summary::Summary;
use crate::clock::Clock;
use crate::config::Config;
use crate::env::HookEnv;
use crate::error::chain;
use crate::notice::Notice;

/// How long a background deliverer waits before its first pass, so the push that started it ends first.
pub const YIELD_TO_PUSH: Duration = Duration::from_millis(20);

/// How often a watching or background deliverer looks for new or due jobs.
pub const POLL: Duration = Duration::from_millis(250);

/// Opens the spool of the repository at `git_dir`.
pub fn open(config: &Config, git_dir: &Path, clock: &Clock) -> Result<Spool, QueueError> {
    Spool::open(
        &spool::path_for(config, git_dir),
        &clock.uuid().simple().to_string(),
    )
}

/// What a push hands over besides its jobs.
pub struct Submit<'a> {
    pub config: &'a Config,
    pub git_dir: &'a Path,
    /// The `--config` file, for the background deliverer.
    pub config_path: Option<&'a Path>,
    pub env: &'a HookEnv,
    pub clock: &'a Clock,
    pub ref_moved: RefMoved<'a>,
}

/// Makes room under `[delivery] max_jobs`, oldest first, saying so; warns from 80% full on.
pub(super) fn enforce_limit(
    queue: &dyn Queue,
    config: &Config,
    clock: &Clock,
    incoming: usize,
    say: &mut dyn FnMut(Notice),
) {
    let max = config.delivery.max_jobs;
    let (after, removed) = queue.make_room(incoming, max);
    if after * 5 >= max * 4 {
        say(Notice::NearlyFull { queued: after, max });
    }
    for old in removed {
        let mut r = Record::of(&old, clock.now_ms(), Outcome::Discarded);
        r.error = Some(format!("the spool was over [delivery] max_jobs = {max}"));
        queue.log(&r);
        say(Notice::Discarded {
            job: old.id(),
            refname: old.refname,
            url: old.endpoint.url,
            max,
        });
    }
}

/// The jobs, marked as the repository's at `git_dir` (its canonical path).
pub(super) fn of_repo(jobs: Vec<Job>, git_dir: &Path) -> Vec<Job> {
    let repo = git_dir
        .canonicalize()
        .unwrap_or_else(|_| git_dir.to_path_buf());
    jobs.into_iter()
        .map(|j| Job {
            repo: Some(repo.clone()),
            ..j
        })
        .collect()
}

/// Adds a push's jobs to `queue`, as jobs of the repository at `git_dir`, within `[delivery]
/// max_jobs`; returns how many were queued. All at once (one directory sync); should that fail, one
/// by one, so that a bad write loses only its job (and says so).
pub fn enqueue(
    queue: &dyn Queue,
    jobs: Vec<Job>,
    (config, git_dir, clock): (&Config, &Path, &Clock),
    say: &mut dyn FnMut(Notice),
) -> usize {
    let jobs = of_repo(jobs, git_dir);
    enforce_limit(queue, config, clock, jobs.len(), say);
    if queue.enqueue(&jobs).is_ok() {
        return jobs.len();
    }
    let mut queued = 0;
    for job in &jobs {
        match queue.enqueue(std::slice::from_ref(job)) {
            Ok(()) => queued += 1,
            Err(e) => say(Notice::Lost {
                error: chain(&e),
                refname: job.refname.clone(),
                url: job.endpoint.url.clone(),
            }),
        }
    }
    queued
}

/// Records a push for the background deliverer to turn into jobs after the push has ended, and
/// starts it; `count` is how many webhooks the push makes. `Err` when the repository's spool cannot
/// keep it: the caller then makes the jobs itself.
pub fn record(
    push: &RecordedPush,
    count: usize,
    s: &Submit<'_>,
    say: &mut dyn FnMut(Notice),
) -> Result<(), QueueError> {
    let spool = open(s.config, s.git_dir, s.clock)?;
    pushes::record(spool.root(), push)?;
    if let Err(e) = spawn_background(spool.root(), s) {
        say(Notice::NoBackground(e.to_string()));
    }
    say(Notice::Queued {
        count,
        mode: s.config.delivery.mode,
    });
    Ok(())
}

/// `sync` mode: one pass over `queue` for the pushed repository before the hook returns, each result
/// said.
pub(super) fn send_now(queue: &dyn Queue, s: &Submit<'_>, say: &mut dyn FnMut(Notice)) {
    let summary = Pass {
        queue,
        config: s.config,
        repo: s.git_dir,
        ref_moved: s.ref_moved,
        intake: &Vec::new,
        clock: s.clock,
        ignore_schedule: false,
    }
    .run();
    summary.notices.into_iter().for_each(say);
}

/// Starts `git-webhook deliver --background` detached: its own process group, no stdio (so git does
/// not wait for it), and no quarantine directory (which is gone once the push completes).
pub(super) fn spawn_background(spool: &Path, s: &Submit<'_>) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let exe: &PathBuf = s
        .env
        .exe
        .as_ref()
        .ok_or_else(|| std::io::Error::other("this program's own path is unknown"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("deliver")
        .arg("--background")
        .arg("--repo")
        .arg(s.git_dir);
    if let Some(c) = s.config_path {
        cmd.arg("--config").arg(c);
    }
    cmd.current_dir(spool)
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .env_remove("GIT_QUARANTINE_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(|_| ())
}

/// How `deliver` runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Run {
    /// One pass over what is due, then a summary line.
    #[default]
    Once,
    /// Keep running, picking up new jobs as they come (a service).
    Watch,
}

/// `git webhook deliver`: runs `pass` as `run` says, writing what happens to `out`.
pub fn deliver(pass: Pass<'_>, run: Run, out: &mut dyn Write) {
    loop {
        let mark = pass.queue.mark();
        let summary = pass.run();
        for n in &summary.notices {
            let _ = writeln!(out, "{n}");
        }
        if run == Run::Once {
            let c = pass.queue.counts();
            let _ = writeln!(
                out,
                "delivered {}, retrying {}, dead {}, dropped {}; queued now: {} pending, {} retrying",
                summary.delivered, summary.retrying, summary.dead, summary.dropped, c.pending, c.retrying
            );
            return;
        }
        let _ = out.flush();
        wait_for_work(pass.queue, mark, &summary, pass.clock, None);
    }
}

/// Sleeps until a job of the last pass (`summary`) is due, jobs were added since `mark`, or `until`
/// passes. Reading the mark is cheap; reading every waiting job four times a second is not.
fn wait_for_work(
    queue: &dyn Queue,
    mark: u64,
    summary: &Summary,
    clock: &Clock,
    until: Option<Instant>,
) {
    loop {
        std::thread::sleep(POLL);
        let due = summary.next_due_ms.is_some_and(|d| d <= clock.now_ms());
        if due || queue.mark() != mark || until.is_some_and(|u| Instant::now() >= u) {
            return;
        }
    }
}

/// The background deliverer: sends what is due at once (whatever other deliverers are busy with: claims
/// keep them from sending a job twice), then, if jobs wait for a retry or for their ref, stays to send
/// them, one such waiter per spool (`lock`, the spool's waiter lock), until nothing of its
/// repository waits.
pub fn background(pass: Pass<'_>, lock: &std::fs::File) {
    // Let the push that started us finish first: on a small machine the two compete for the CPU.
    std::thread::sleep(YIELD_TO_PUSH);
    let mut summary = pass.run();
    if lock.try_lock().is_err() {
        return; // Another deliverer is waiting; it picks up what is left.
    }
    // Every job ends within max_age; the bound only guards against a clock that does not move.
    let settings = &pass.config.delivery;
    let deadline = Instant::now() + settings.max_age + settings.update_wait;
    while Instant::now() < deadline {
        if summary.next_due_ms.is_none() {
            // Nothing of this repository waits. A job queued just before the unlock whose own
            // deliverer found the lock taken: one more pass sees it, and stays if it must wait.
            let _ = lock.unlock();
            summary = pass.run();
            if summary.next_due_ms.is_none() || lock.try_lock().is_err() {
                return;
            }
        }
        let mark = pass.queue.mark();
        wait_for_work(pass.queue, mark, &summary, pass.clock, Some(deadline));
        summary = pass.run();
    }
}
