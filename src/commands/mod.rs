//! One module per command, each `run(…, &mut Context) -> Result<(), CommandError>`; this one dispatches
//! and holds what they share: the context, and opening the repository and its configuration.

mod config_check;
mod deliver;
mod demo;
mod hook;
mod install;
mod queue;
mod redeliver;
mod status;
mod test;

use std::io::{Read, Write};
use std::path::PathBuf;

use crate::cli::{Cli, Command, ConfigCommand, QueueCommand, RepoArgs};
use crate::clock::Clock;
use crate::config::{self, Loaded};
use crate::env::HookEnv;
use crate::error::{chain, CommandError};
use crate::git::{self, Repo};
use crate::notice::Notice;

/// What every command gets: the environment, the clock, and where to write.
pub struct Context<'a> {
    pub env: &'a HookEnv,
    pub clock: &'a Clock,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl Context<'_> {
    /// Writes a notice as one line on stderr; a closed pipe is never fatal.
    pub fn say(&mut self, notice: Notice) {
        let _ = writeln!(self.err, "{notice}");
    }
}

/// The repository a command works on, opened; `None` of its own accord is an error that names
/// where it looked.
fn open_repo(at: &RepoArgs, env: &HookEnv) -> Result<(PathBuf, Repo), CommandError> {
    let git_dir = git::locate(at.repo.as_deref(), env).map_err(|e| CommandError::from_error(&e))?;
    let repo = Repo::open(&git_dir, env).map_err(|e| CommandError::from_error(&e))?;
    Ok((git_dir, repo))
}

/// The configuration of the repository; the endpoints that have problems are said and skipped.
fn load_config(
    at: &RepoArgs,
    env: &HookEnv,
    git_dir: &std::path::Path,
    repo: &Repo,
    ctx: &mut Context<'_>,
) -> Result<Loaded, CommandError> {
    match config::load(at.config.as_deref(), env, git_dir, &repo.webhook_config()) {
        Ok(Some(loaded)) => {
            for p in &loaded.problems {
                ctx.say(Notice::EndpointSkipped(p.clone()));
            }
            Ok(loaded)
        }
        Ok(None) => Err(CommandError::from_error(&config::NotConfigured::new(
            at.config.as_deref(),
            env,
            git_dir,
        ))),
        Err(e) => Err(CommandError::Failed(chain(&e))),
    }
}

/// Runs a parsed command line: the hooks, and every command.
pub fn run(cli: Cli, stdin: &mut dyn Read, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    match cli.command {
        Command::PostReceive { at, dry_run } => {
            hook::post_receive(stdin, &at, dry_run, ctx);
            Ok(())
        }
        Command::Update {
            refname,
            old,
            new,
            at,
            dry_run,
        } => {
            hook::update(&refname, &old, &new, &at, dry_run, ctx);
            Ok(())
        }
        Command::Deliver {
            at,
            now,
            watch,
            background,
            metrics,
        } => deliver::run(
            &at,
            deliver::How {
                now,
                watch,
                background,
                metrics,
            },
            ctx,
        ),
        Command::Status { at, select, state } => {
            status::status(&at, &select, state.as_deref(), ctx)
        }
        Command::Log {
            at,
            select,
            state,
            limit,
        } => status::log(&at, &select, state.as_deref(), limit, ctx),
        Command::Redeliver {
            at,
            select,
            ids,
            state,
        } => redeliver::redeliver(&at, &select, &ids, state.as_deref(), ctx),
        Command::Queue(QueueCommand::Migrate { at }) => queue::migrate(&at, ctx),
        Command::Install(args) => install::run(&args, false, ctx),
        Command::Uninstall(args) => install::run(&args, true, ctx),
        Command::Test {
            at,
            refname,
            endpoint,
            dry_run,
        } => test::run(&at, refname.as_deref(), endpoint, dry_run, ctx),
        Command::Config(ConfigCommand::Check { at }) => config_check::run(&at, ctx),
        Command::Man => {
            let _ = clap_mangen::Man::new(crate::cli::command()).render(ctx.out);
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut crate::cli::command(), "git-webhook", ctx.out);
            Ok(())
        }
        Command::Demo { format } => demo::run(ctx.out, ctx.env, &format)
            .map_err(|e| CommandError::Failed(format!("demo failed: {}", chain(&e)))),
    }
}
