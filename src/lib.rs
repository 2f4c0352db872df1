//! git-webhook: a git hook that turns every push into the push and tag-push webhooks a forge would send.
//!
//! Symlinked into a bare repository as `hooks/post-receive` (or `hooks/update`, or placed in a
//! `post-receive.d/` folder), it reads the pushed ref updates and goes through one pipeline whose
//! layers point one way:
//!
//! ```text
//! invocation, cli ─▶ commands ─▶ git (libgit2: refs, commit walk) ─▶ model (neutral PushEvent)
//!                        │                                                 ▲
//!                        ├─▶ config (layers, schema) ─▶ format (one file per vendor) ─┘
//!                        ├─▶ events (a push's events, from git and config) ──────┘
//!                        └─▶ delivery: intake ─▶ plan ─▶ submit ─▶ queue (spool, database) ─▶
//!                            pass ─▶ request ─▶ http, retry; workers
//! ```
//!
//! Exit status: 0 on success and always when running as a hook (a hook never fails a push); 1 when a
//! command fails or finds a problem; 2 for a wrong command line; 255 for an internal error (a bug;
//! as a hook, still 0).
//!
//! The library's public surface is what embedding it needs: [`run`], the environment it runs in
//! ([`env::HookEnv`]), the neutral event ([`model`]) and the webhook formats that render it ([`mod@format`]).

pub(crate) mod cli;
pub(crate) mod clock;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod delivery;
pub(crate) mod describe;
pub mod env;
pub(crate) mod error;
pub(crate) mod events;
pub mod format;
pub(crate) mod git;
pub(crate) mod ids;
pub mod invocation;
pub mod model;
pub(crate) mod notice;
pub(crate) mod receiver;
pub mod secret;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::ExitCode;

use crate::env::HookEnv;
use crate::error::{CommandError, Kind};

/// Runs the program for an argument vector (`argv[0]` included) with the given environment and
/// streams; a panic inside is caught and ends as an internal error (as a hook: exit status 0).
pub fn run(
    argv: Vec<OsString>,
    env: &HookEnv,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let (args, as_hook) = invocation::normalize(argv);
    let result = match cli::parse(args) {
        Ok(cli) => {
            let clock = clock::Clock::new(env.fixed_now_ms, env.seed);
            let mut ctx = commands::Context {
                env,
                clock: &clock,
                out,
                err: &mut *err,
            };
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                commands::run(cli, stdin, &mut ctx)
            }))
            // The panic hook has said what happened.
            .unwrap_or_else(|_| Err(CommandError::said_as(Kind::Internal)))
        }
        Err(e) if e.exit_code() == 0 => {
            // --help, --version.
            let _ = write!(out, "{e}");
            Ok(())
        }
        Err(e) => {
            let _ = write!(err, "{}", e.render());
            Err(CommandError::said_as(Kind::Cli))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = write!(err, "{}", e.render(notice::PREFIX));
            // A hook never fails a push.
            ExitCode::from(if as_hook { 0 } else { e.exit_code() })
        }
    }
}
