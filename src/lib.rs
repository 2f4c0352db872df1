//! git-webhook: a git hook that turns every push into the push and tag-push webhooks a forge would send.
//!
//! Symlinked into a bare repository as `hooks/post-receive` (or `hooks/update`, or placed in a
//! `post-receive.d/` folder), it reads the pushed ref updates, walks the new commits with libgit2,
//! renders one webhook per branch or tag for every configured endpoint in that endpoint's format
//! (GitLab, Gitee, AtomGit, GitCode, GitHub), spools them durably, and leaves them to a background
//! deliverer that sends to all endpoints in parallel, with retries. Commands (`deliver`, `status`,
//! `log`, `redeliver`, `install`, `test`, `config check`, ...) manage the rest.
//!
//! Exit status: 0 on success and always when running as a hook (a hook never fails a push);
//! 1 when a command fails; 2 for a wrong command line.

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod delivery;
pub mod dry_run;
pub mod env;
pub mod event;
pub mod format;
pub mod git;
pub mod invocation;
pub mod notice;
pub mod project;
pub mod receiver;
pub mod secret;
pub mod send;
pub mod spool;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::env::HookEnv;

/// Runs the program for an argument vector (argv[0] included) with the given environment and streams.
pub fn run(
    argv: Vec<OsString>,
    env: &HookEnv,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let (args, as_hook) = invocation::normalize(argv);
    let cli = match Cli::try_parse_from(args) {
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
    commands::run(cli, env, stdin, out, err)
}
