//! git-webhook: a git hook that turns every push into the push and tag-push webhooks a forge would send.
//!
//! Symlinked into a bare repository as `hooks/post-receive` (or `hooks/update`, or placed in a
//! `post-receive.d/` folder), it reads the pushed ref updates, walks the new commits with libgit2 and
//! POSTs one webhook per branch or tag to every configured endpoint, all endpoints in parallel.
//!
//! Exit status: 0 on success and always when running as a hook (a hook never fails a push);
//! 1 when a command fails; 2 for a wrong command line.

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
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

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::clock::Clock;
use crate::commands::{hook, say};
use crate::env::HookEnv;
use crate::git::refs::{self, RefUpdate};
use crate::notice::{chain, Notice};

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
    let clock = Clock::new(env.fixed_now_ms, env.seed);
    let opts = hook::Options {
        config: cli.config.as_deref(),
        repo: cli.repo.as_deref(),
        dry_run: cli.dry_run,
    };
    match cli.command {
        Command::PostReceive => {
            let mut input = Vec::new();
            if let Err(e) = stdin.read_to_end(&mut input) {
                say(
                    err,
                    Notice::Problem(format!("cannot read the pushed refs from stdin: {e}")),
                );
            }
            let (updates, bad) = refs::parse_stdin(&input);
            for e in bad {
                say(err, Notice::Problem(format!("{e}; line ignored")));
            }
            hook::run(&updates, opts, env, &clock, out, err);
            ExitCode::SUCCESS
        }
        Command::Update { refname, old, new } => {
            match RefUpdate::from_update_args(&refname, &old, &new) {
                Ok(update) => hook::run(&[update], opts, env, &clock, out, err),
                Err(e) => say(
                    err,
                    Notice::Problem(format!("update hook {e}; nothing sent")),
                ),
            }
            ExitCode::SUCCESS
        }
        Command::Demo => match commands::demo::run(out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(err, "git-webhook: demo failed: {}", chain(&e));
                ExitCode::FAILURE
            }
        },
    }
}
