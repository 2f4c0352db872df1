//! Handing a push over, never losing it: its jobs go to the shared database when one is
//! configured, else (or when it cannot take them) to the repository's spool, else to the
//! repository's fallback spool in the temporary directory, and when nothing at all can keep them
//! they are sent at once from memory. Each fallback is said in one line. Then they are sent as
//! `[delivery] mode` says; a push recorded for the background deliverer falls back the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::intake;
use super::job::Job;
use super::limits::{enqueue, Limits};
use super::memory::Memory;
use super::pass::{Pass, RefMoved};
use super::postgres::Postgres;
use super::pushes::RecordedPush;
use super::queue::{Queue as _, QueueError, Store};
use super::shared;
use super::spool::{self, Spool};
use super::tree;
use crate::clock::Clock;
use crate::config::{Config, Database, Mode};
use crate::env::HookEnv;
use crate::error::chain;
use crate::notice::Notice;

/// What a push hands over besides its jobs: where it is from, and how to send.
pub struct Submit<'a> {
    pub config: &'a Config,
    /// The repository's git directory, as found.
    pub git_dir: &'a Path,
    /// Its canonical path: what its jobs and spools are known by.
    pub repo: &'a Path,
    /// The `--config` file, for the background deliverer.
    pub config_path: Option<&'a Path>,
    pub env: &'a HookEnv,
    pub clock: &'a Clock,
    pub ref_moved: RefMoved<'a>,
}

impl Submit<'_> {
    /// The repository's spool, and its fallback.
    fn spools(&self) -> [PathBuf; 2] {
        [
            spool::path_for(self.config, self.git_dir),
            spool::fallback_for(self.repo, &self.env.temp_dir),
        ]
    }

    fn limits(&self) -> Limits<'_> {
        Limits {
            config: self.config,
            clock: self.clock,
        }
    }

    fn pass<'p>(&'p self, store: &'p dyn Store) -> Pass<'p> {
        Pass {
            queue: store,
            lanes: store,
            config: self.config,
            repo: self.repo,
            ref_moved: self.ref_moved,
            clock: self.clock,
            ignore_schedule: false,
        }
    }
}

/// Queues a push's jobs, then sends them as `[delivery] mode` says. Never fails: problems are said.
pub fn submit(jobs: Vec<Job>, s: &Submit<'_>, say: &mut dyn FnMut(Notice)) {
    let count = jobs.len();
    let shared = match s.config.delivery.queue.database() {
        Some(db) => match to_database(db, &jobs, s, say) {
            Ok(()) => return,
            // Said; the jobs wait in the spool, for the background process to move them there.
            Err(()) => true,
        },
        None => false,
    };
    let Some(spool) = into_spool(&jobs, s, say) else {
        return send_unqueued(jobs, s, say);
    };
    let mode = if shared {
        Mode::Async
    } else {
        s.config.delivery.mode
    };
    match mode {
        Mode::Queue => match tree::tell(s.repo) {
            Some(dir) => say(Notice::QueuedForWorker { count, dir }),
            None => say(Notice::Queued { count, mode }),
        },
        Mode::Async => {
            let worker = background(s, say);
            if !shared {
                say(queued(count, mode, worker));
            }
        }
        Mode::Sync => {
            s.pass(&spool).run().notices.into_iter().for_each(&mut *say);
            if !spool.is_empty().unwrap_or(false) {
                background(s, say);
            }
        }
    }
}

/// What the pusher is told of queued webhooks: who sends them.
fn queued(count: usize, mode: Mode, worker: Option<PathBuf>) -> Notice {
    match worker {
        Some(dir) => Notice::QueuedForWorker { count, dir },
        None => Notice::Queued { count, mode },
    }
}

/// Queues a push's jobs in the database in one transaction; in `sync` mode sends this repository's
/// due jobs before returning. `Err`: the database cannot take them (said), for the spool.
fn to_database(
    db: &Database,
    jobs: &[Job],
    s: &Submit<'_>,
    say: &mut dyn FnMut(Notice),
) -> Result<(), ()> {
    let count = jobs.len();
    let queued = shared::open(db, s.env, s.clock)
        .map(|q| q.scoped(Some(s.repo)))
        .and_then(|q| enqueue(&q, jobs, &s.limits(), say).map(|_| q));
    let queue: Postgres = match queued {
        Ok(q) => q,
        Err(e) => {
            say(Notice::DatabaseFallback {
                error: chain(&e),
                count,
            });
            return Err(());
        }
    };
    say(Notice::QueuedShared {
        count,
        location: queue.location(),
    });
    if s.config.delivery.mode == Mode::Sync {
        s.pass(&queue).run().notices.into_iter().for_each(say);
    }
    Ok(())
}

/// Puts jobs in the repository's spool, or else in its fallback (said); `None` when neither can
/// keep them.
fn into_spool(jobs: &[Job], s: &Submit<'_>, say: &mut dyn FnMut(Notice)) -> Option<Spool> {
    let unique = s.clock.uuid().simple().to_string();
    let mut first: Option<QueueError> = None;
    for root in s.spools() {
        let placed = Spool::open(&root, &unique)
            .and_then(|spool| enqueue(&spool, jobs, &s.limits(), say).map(|_| spool));
        match placed {
            Ok(spool) => {
                if let Some(e) = first {
                    say(Notice::Fallback {
                        error: chain(&e),
                        count: jobs.len(),
                        place: root,
                    });
                }
                return Some(spool);
            }
            Err(e) => first = first.or(Some(e)),
        }
    }
    say(Notice::Unqueued {
        error: first.map(|e| chain(&e)).unwrap_or_default(),
        count: jobs.len(),
    });
    None
}

/// The last resort, when nothing can keep the jobs: sent now, from memory; what fails is lost (said).
fn send_unqueued(jobs: Vec<Job>, s: &Submit<'_>, say: &mut dyn FnMut(Notice)) {
    let memory = Memory::default();
    if enqueue(&memory, &jobs, &s.limits(), say).is_err() {
        return;
    }
    s.pass(&memory)
        .run()
        .notices
        .into_iter()
        .for_each(&mut *say);
    let failed = memory.failed();
    if failed > 0 {
        say(Notice::Lost { count: failed });
    }
}

/// Records a push for the background deliverer (which makes its jobs after the push has ended),
/// in the repository's spool or else its fallback, and starts the deliverer; `count` is how many
/// webhooks the push makes. `Err` when no spool can keep it: the caller then makes the jobs itself.
pub fn record(
    push: &RecordedPush,
    count: usize,
    s: &Submit<'_>,
    say: &mut dyn FnMut(Notice),
) -> Result<(), QueueError> {
    let roots = s.spools();
    let (root, fell_back) = intake::record(push, &[&roots[0], &roots[1]])?;
    if let Some(e) = fell_back {
        say(Notice::Fallback {
            error: chain(&e),
            count,
            place: root.to_path_buf(),
        });
    }
    let worker = background(s, say);
    say(queued(count, s.config.delivery.mode, worker));
    Ok(())
}

/// Leaves the push to the worker serving a directory above the repository, when one listens
/// (returns that directory), else starts the background deliverer, saying so if it cannot be.
fn background(s: &Submit<'_>, say: &mut dyn FnMut(Notice)) -> Option<PathBuf> {
    if let Some(dir) = tree::tell(s.repo) {
        return Some(dir);
    }
    if let Err(e) = spawn_background(s) {
        say(Notice::NoBackground(e.to_string()));
    }
    None
}

/// Starts `git-webhook deliver --background` detached: its own process group, no stdio (so git does
/// not wait for it), no quarantine directory (which is gone once the push completes), and its own
/// clock: what it makes of a recorded push takes the push's time and seed from the record, and a
/// clock pinned to the push's moment would never see a later job or a retry come due.
fn spawn_background(s: &Submit<'_>) -> std::io::Result<()> {
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
    // The child keeps this process's directory, so --repo and --config name the same files to
    // both (and std under a static glibc spawns with vfork, where a directory change makes it fork).
    cmd.env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .env_remove("GIT_QUARANTINE_PATH");
    for pin in crate::env::CLOCK_PINS {
        cmd.env_remove(pin);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(|_| ())
}
