//! A repository's own spools as its deliverers serve them: the one under the repository
//! (`spool_dir`) and its fallback in the temporary directory, where a hook that could not write the
//! first (a full disk) left its webhooks. A round over them makes recorded pushes into jobs, brings
//! what waits in the fallback home once the spool takes it again, and sends.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::intake::{self, Events};
use super::job::Job;
use super::limits::Limits;
use super::metrics::{Metered, Metrics};
use super::pass::{Pass, RefMoved};
use super::queue::{Queue as _, QueueError, Settle, Settled, Store};
use super::spool::{self, Spool};
use super::summary::Summary;
use crate::clock::Clock;
use crate::config::Config;
use crate::env::HookEnv;
use crate::notice::Notice;

/// One repository's spools, and what a deliverer needs to serve them.
pub struct Local<'a> {
    /// The spool under the repository.
    pub primary: Spool,
    /// Where its fallback is, if it is ever made.
    pub fallback: PathBuf,
    /// The fallback spool, once there is one.
    made: OnceLock<Spool>,
    /// The repository's canonical path.
    pub repo: &'a Path,
    pub config: &'a Config,
    pub clock: &'a Clock,
    /// What makes a recorded push's events.
    pub events: &'a dyn Events,
}

/// The most turns [`move_jobs`] takes (each moves as many jobs as the spool claims at once).
const MAX_TURNS: usize = 100_000;

/// Moves every job waiting in `from` into `into`, as many at a time as `from` claims at once;
/// returns how many.
pub fn move_jobs(from: &Spool, into: &dyn Store) -> Result<usize, QueueError> {
    let mut total = 0;
    for _ in 0..MAX_TURNS {
        let claimed = super::queue::Queue::claim(from, &mut |_| true)?;
        if claimed.claims.is_empty() {
            break;
        }
        let jobs: Vec<Job> = claimed.claims.iter().map(|c| c.job.clone()).collect();
        let moved = into.enqueue(&jobs, None);
        let how = if moved.is_ok() {
            Settle::Forget
        } else {
            Settle::Retry
        };
        let settled = claimed.claims.into_iter().map(|claim| Settled {
            claim,
            how,
            record: None,
        });
        super::queue::Queue::settle(from, settled.collect())?;
        moved?;
        total += jobs.len();
        if !claimed.more {
            break;
        }
    }
    Ok(total)
}

impl<'a> Local<'a> {
    /// The spools of the repository at `git_dir` (canonical path `repo`). When its own cannot be
    /// opened (a read-only disk) but a fallback was made, the fallback serves alone.
    pub fn open(
        git_dir: &Path,
        repo: &'a Path,
        (config, env, clock): (&'a Config, &HookEnv, &'a Clock),
        events: &'a dyn Events,
    ) -> Result<Local<'a>, QueueError> {
        let unique = clock.uuid().simple().to_string();
        let fallback = spool::fallback_for(repo, &env.temp_dir);
        let primary = match Spool::open(&spool::path_for(config, git_dir), &unique) {
            Ok(spool) => spool,
            Err(e) => Spool::existing(&fallback, &unique).ok_or(e)?,
        };
        Ok(Local {
            primary,
            fallback,
            made: OnceLock::new(),
            repo,
            config,
            clock,
            events,
        })
    }

    /// The fallback spool, when one was made (and the repository's own spool serves too).
    pub fn fallback(&self) -> Option<&Spool> {
        if let Some(made) = self.made.get() {
            return Some(made);
        }
        if self.primary.root() == self.fallback {
            return None;
        }
        let spool = Spool::existing(&self.fallback, &self.clock.uuid().simple().to_string())?;
        Some(self.made.get_or_init(|| spool))
    }

    /// Whether the spool was removed (with the repository, deleted or moved) and no fallback holds
    /// its jobs: a deliverer then has nothing left to wait for.
    pub fn gone(&self) -> bool {
        !self.primary.exists() && self.fallback().is_none()
    }

    /// The repository's spool, and its fallback when there is one.
    pub fn spools(&self) -> impl Iterator<Item = &Spool> {
        std::iter::once(&self.primary).chain(self.fallback())
    }

    /// What changes when jobs, or pushes to make jobs of, are added to either spool.
    pub fn mark(&self) -> Result<u64, QueueError> {
        if self.gone() {
            // Never a value: one that did not change would keep a waiting deliverer waiting.
            return Err(QueueError {
                what: "no spool at",
                place: self.primary.root().display().to_string(),
                source: "it was removed".into(),
            });
        }
        let fallback = self.fallback().map(|f| f.mark()).transpose()?;
        Ok(self.primary.mark()? ^ fallback.unwrap_or(0).rotate_left(1))
    }

    fn limits(&self) -> Limits<'a> {
        Limits {
            config: self.config,
            clock: self.clock,
        }
    }

    /// Makes the pushes recorded in either spool into jobs, queued in `into` (or, when it cannot
    /// take them, where they were recorded); `Err`: some stay recorded, for a later try.
    pub fn intake(&self, into: &dyn Store, say: &mut dyn FnMut(Notice)) -> Result<(), QueueError> {
        let make = |push: &super::pushes::RecordedPush, say: &mut dyn FnMut(Notice)| {
            intake::jobs(push, self.events, &self.config.endpoints, false, say)
        };
        let mut first = Ok(());
        for from in self.spools() {
            let taken = intake::take(from, self.repo, into, &self.limits(), &make, say);
            if first.is_ok() {
                first = taken;
            }
        }
        first
    }

    /// One round over the repository's spools: recorded pushes made into jobs, what waits in the
    /// fallback moved into the spool (when it takes it), then a pass over the spool, and over the
    /// fallback if jobs are still there; lanes are the spool's for both, so that one deliverer at a
    /// time sends to each endpoint.
    /// `metrics`: what the passes count.
    pub fn round(
        &self,
        ref_moved: RefMoved<'_>,
        ignore_schedule: bool,
        metrics: Option<&Metrics>,
    ) -> Summary {
        let mut summary = Summary::default();
        if self.gone() {
            return summary; // Nothing can wait where no spool is left.
        }
        let mut said = Vec::new();
        if let Err(e) = self.intake(&self.primary, &mut |n| said.push(n)) {
            summary.trouble(&e);
        }
        summary.notices.extend(said);
        let fallback = self.fallback();
        let pass = |queue: &dyn super::queue::Queue| {
            let metered = metrics.map(|metrics| Metered {
                inner: queue,
                metrics,
                clock: self.clock,
            });
            Pass {
                queue: match &metered {
                    Some(m) => m,
                    None => queue,
                },
                lanes: &self.primary,
                config: self.config,
                repo: self.repo,
                ref_moved,
                clock: self.clock,
                ignore_schedule,
            }
            .run()
        };
        let mut stranded = false;
        if let Some(fallback) = fallback {
            if let Err(e) = move_jobs(fallback, &self.primary) {
                stranded = true;
                summary.trouble(&e);
            }
        }
        summary.add(pass(&self.primary));
        if let (Some(fallback), true) = (fallback, stranded) {
            summary.add(pass(fallback));
        }
        summary
    }
}
