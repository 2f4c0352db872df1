//! Handing a push's jobs over: to the shared database when one is configured (the repository's spool
//! when it cannot take them), else to the spool; then sending them as `[delivery] mode` says.

use super::job::Job;
use super::queue::Queue as _;
use super::shared;
use super::spool::{self, Spool};
use super::worker::{self, Submit};
use crate::config::Mode;
use crate::error::chain;
use crate::notice::Notice;

/// Queues a push's jobs, then sends them as `[delivery] mode` says. Never fails: problems are said.
/// A database queue that cannot take them leaves them in the spool, for the background deliverer to
/// move there.
pub fn submit(jobs: Vec<Job>, s: &Submit<'_>, say: &mut dyn FnMut(Notice)) {
    let (jobs, shared) = match shared::database(&s.config.delivery.queue) {
        Some(db) => match shared::submit(db, jobs, s, say) {
            Ok(()) => return,
            Err(jobs) => (jobs, true),
        },
        None => (jobs, false),
    };
    // A repository that cannot be written still never loses an event: its spool moves to the temp dir.
    let opened = worker::open(s.config, s.git_dir, s.clock).or_else(|e| {
        let fallback = spool::fallback_for(s.git_dir, &s.env.temp_dir);
        say(Notice::SpoolFallback {
            error: chain(&e),
            fallback: fallback.clone(),
        });
        Spool::open(&fallback, &s.clock.uuid().simple().to_string())
    });
    let spool = match opened {
        Ok(spool) => spool,
        Err(e) => {
            say(Notice::NotQueued {
                error: chain(&e),
                count: jobs.len(),
            });
            return;
        }
    };
    let queued = worker::enqueue(&spool, jobs, (s.config, s.git_dir, s.clock), say);
    let background = |say: &mut dyn FnMut(Notice)| {
        if let Err(e) = worker::spawn_background(spool.root(), s) {
            say(Notice::NoBackground(e.to_string()));
        }
    };
    let mode = match s.config.delivery.mode {
        _ if shared => Mode::Async,
        mode => mode,
    };
    match mode {
        Mode::Queue => say(Notice::Queued {
            count: queued,
            mode,
        }),
        Mode::Async => {
            background(say);
            if !shared {
                say(Notice::Queued {
                    count: queued,
                    mode,
                });
            }
        }
        Mode::Sync => {
            worker::send_now(&spool, s, say);
            if !spool.waiting().is_empty() {
                background(say);
            }
        }
    }
}
