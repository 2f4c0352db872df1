//! Handing a push's jobs to the spool, and `deliver`: one pass, a `--watch` worker, or the background
//! deliverer the hook starts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::say;
use crate::clock::Clock;
use crate::config::{Config, Mode};
use crate::delivery::{Pass, Summary};
use crate::notice::{chain, Notice};
use crate::spool::{Job, Outcome, Record, Spool, SpoolError};

/// How long a background deliverer waits before its first pass, so the push that started it ends first.
pub const YIELD_TO_PUSH: Duration = Duration::from_millis(20);

/// How often a watching or background deliverer looks for new or due jobs.
pub const POLL: Duration = Duration::from_millis(250);

/// The spool of a repository: `[delivery] spool_dir`, relative to its git directory.
pub fn spool_path(config: &Config, git_dir: &Path) -> PathBuf {
    git_dir.join(&config.delivery.spool_dir)
}

/// Opens the repository's spool, or, if it cannot be written, one in the system's temporary directory
/// (so a read-only repository still never loses an event).
fn open_spool(config: &Config, git_dir: &Path, err: &mut dyn Write) -> Result<Spool, SpoolError> {
    let path = spool_path(config, git_dir);
    Spool::open(&path).or_else(|e| {
        let key = crate::project::stable_id(&git_dir.to_string_lossy());
        let fallback = std::env::temp_dir().join(format!("git-webhook-spool-{key}"));
        say(
            err,
            Notice::Problem(format!(
                "{}; spooling in {} instead",
                chain(&e),
                fallback.display()
            )),
        );
        Spool::open(&fallback)
    })
}

/// Makes room under `[delivery] max_jobs`, oldest first, saying so; warns from 80% full on.
fn enforce_limit(
    spool: &Spool,
    config: &Config,
    incoming: usize,
    clock: &Clock,
    err: &mut dyn Write,
) {
    let max = config.delivery.max_jobs;
    // Names only: a push must not read every queued job.
    let queued = spool.queued_files();
    let after = queued.len() + incoming;
    if after * 5 >= max * 4 {
        say(err, Notice::Problem(format!("the spool holds {after} of at most {max} jobs (is an endpoint down? see `git webhook status`)")));
    }
    for old in queued
        .iter()
        .take(after.saturating_sub(max))
        .filter_map(|p| spool.take(p))
    {
        let mut r = Record::of(&old, clock.now_ms(), Outcome::Discarded);
        r.error = Some(format!("the spool was over [delivery] max_jobs = {max}"));
        spool.log(&r);
        say(
            err,
            Notice::Problem(format!(
                "discarded the oldest queued job {} ({} to {}) to stay under max_jobs = {max}",
                old.id(),
                old.refname,
                old.endpoint.url
            )),
        );
    }
}

/// Spools a push's jobs, then sends them as `[delivery] mode` says. Never fails: problems become lines.
pub fn hand_over(
    jobs: &[Job],
    config: &Config,
    git_dir: &Path,
    config_path: Option<&Path>,
    clock: &Clock,
    err: &mut dyn Write,
) {
    let repo = git_dir
        .canonicalize()
        .unwrap_or_else(|_| git_dir.to_path_buf());
    let jobs: &[Job] = &jobs
        .iter()
        .cloned()
        .map(|j| Job {
            repo: Some(repo.clone()),
            ..j
        })
        .collect::<Vec<_>>();
    let spool = match open_spool(config, git_dir, err) {
        Ok(spool) => spool,
        Err(e) => {
            say(
                err,
                Notice::Problem(format!("{}; {} webhook(s) not sent", chain(&e), jobs.len())),
            );
            return;
        }
    };
    enforce_limit(&spool, config, jobs.len(), clock, err);
    // All at once (one directory sync); should that fail, one by one, so a bad write loses only its job.
    let mut queued = jobs.len();
    if spool.enqueue_all(jobs).is_err() {
        queued = 0;
        for job in jobs {
            match spool.enqueue(job) {
                Ok(()) => queued += 1,
                Err(e) => say(
                    err,
                    Notice::Problem(format!(
                        "{}; the webhook for {} to {} is lost",
                        chain(&e),
                        job.refname,
                        job.endpoint.url
                    )),
                ),
            }
        }
    }
    let background = |err: &mut dyn Write| {
        if let Err(e) = spawn_background(spool.root(), git_dir, config_path) {
            say(
                err,
                Notice::Problem(format!(
                    "cannot start the background deliverer: {e}; run `git webhook deliver`"
                )),
            );
        }
    };
    match config.delivery.mode {
        Mode::Queue => say(
            err,
            Notice::Info(format!(
                "{queued} webhook(s) queued; `git webhook deliver` sends them"
            )),
        ),
        Mode::Async => {
            background(err);
            say(
                err,
                Notice::Info(format!(
                    "{queued} webhook(s) queued, sending in the background (`git webhook status`)"
                )),
            );
        }
        Mode::Sync => {
            let summary = Pass {
                spool: &spool,
                config,
                git_dir,
                clock,
                ignore_schedule: false,
            }
            .run();
            for n in summary.notices {
                say(err, n);
            }
            if !spool.queued().is_empty() {
                background(err);
            }
        }
    }
}

/// Starts `git-webhook deliver --background` detached: its own process group, no stdio (so git does
/// not wait for it), and no quarantine directory (which is gone once the push completes).
fn spawn_background(
    spool: &Path,
    git_dir: &Path,
    config_path: Option<&Path>,
) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("deliver")
        .arg("--background")
        .arg("--repo")
        .arg(git_dir);
    if let Some(c) = config_path {
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
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliverOptions {
    /// Send every queued job now, whatever its schedule.
    pub now: bool,
    /// Keep running, picking up new jobs as they come.
    pub watch: bool,
    /// Run until the spool is empty, one per spool (the hook starts this).
    pub background: bool,
}

/// `git webhook deliver`.
pub fn run(
    spool: &Spool,
    config: &Config,
    git_dir: &Path,
    clock: &Clock,
    opts: DeliverOptions,
    out: &mut dyn Write,
) -> Result<(), SpoolError> {
    let pass = Pass {
        spool,
        config,
        git_dir,
        clock,
        ignore_schedule: opts.now,
    };
    if opts.background {
        return background(spool, pass);
    }
    loop {
        let summary = pass.run();
        for n in &summary.notices {
            let _ = writeln!(out, "{n}");
        }
        if !opts.watch {
            let c = spool.counts();
            let _ = writeln!(
                out,
                "delivered {}, retrying {}, dead {}, dropped {}; queued now: {} pending, {} retrying",
                summary.delivered, summary.retrying, summary.dead, summary.dropped, c.pending, c.retrying
            );
            return Ok(());
        }
        let _ = out.flush();
        wait_for_work(spool, &summary, clock, None);
    }
}

/// Sleeps until a job of the last pass (`summary`) is due, new jobs come, or `until` passes. Listing
/// names is cheap; reading every waiting job four times a second is not (an endpoint down for hours).
fn wait_for_work(spool: &Spool, summary: &Summary, clock: &Clock, until: Option<Instant>) {
    let names = spool.queued_files();
    loop {
        std::thread::sleep(POLL);
        let due = summary.next_due_ms.is_some_and(|d| d <= clock.now_ms());
        if due || spool.queued_files() != names || until.is_some_and(|u| Instant::now() >= u) {
            return;
        }
    }
}

/// The background deliverer: sends what is due at once (whatever other deliverers are busy with: claims
/// keep them from sending a job twice), then, if jobs wait for a retry or for their ref, stays to send
/// them, one such waiter per spool (a lock), until nothing of its repository waits.
fn background(spool: &Spool, pass: Pass<'_>) -> Result<(), SpoolError> {
    // Let the push that started us finish first: on a small machine the two compete for the CPU.
    std::thread::sleep(YIELD_TO_PUSH);
    let mut summary = pass.run();
    let lock = spool.lock_file()?;
    if lock.try_lock().is_err() {
        return Ok(()); // Another deliverer is waiting; it picks up what is left.
    }
    // Every job ends within max_age; the bound only guards against a clock that does not move.
    let deadline = Instant::now() + pass.config.delivery.max_age + pass.config.delivery.update_wait;
    while Instant::now() < deadline {
        if summary.next_due_ms.is_none() {
            // Nothing of this repository waits. A job queued just before the unlock whose own
            // deliverer found the lock taken: one more pass sees it, and stays if it must wait.
            let _ = lock.unlock();
            summary = pass.run();
            if summary.next_due_ms.is_none() || lock.try_lock().is_err() {
                return Ok(());
            }
        }
        wait_for_work(spool, &summary, pass.clock, Some(deadline));
        summary = pass.run();
    }
    Ok(())
}
