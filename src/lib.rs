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
//!                        └─▶ delivery: plan ─▶ queue (file spool) ─▶ request ─▶ http, retry, workers
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
use crate::error::CommandError;

/// Runs the program for an argument vector (`argv[0]` included) with the given environment and streams.
pub fn run(
    argv: Vec<OsString>,
    env: &HookEnv,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let (args, as_hook) = invocation::normalize(argv);
    let cli = match cli::parse(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    write!(out, "{e}")
                }
                _ => write!(err, "{}", e.render()),
            };
            return if as_hook || e.exit_code() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let clock = clock::Clock::new(env.fixed_now_ms, env.seed);
    let mut ctx = commands::Context {
        env,
        clock: &clock,
        out,
        err,
    };
    match commands::run(cli, stdin, &mut ctx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CommandError::Unhappy) => ExitCode::FAILURE,
        Err(CommandError::Failed(message)) => {
            let _ = writeln!(ctx.err, "{}: error: {message}", notice::PREFIX);
            ExitCode::FAILURE
        }
    }
}
