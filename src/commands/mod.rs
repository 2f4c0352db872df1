//! One module per command; this one holds what they share.

pub mod check;
pub mod deliver;
pub mod demo;
pub mod hook;
pub mod install;
pub mod queue;

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::cli::{self, Cli, Command, ConfigCommand};
use crate::clock::Clock;
use crate::env::HookEnv;
use crate::git::refs::{self, RefUpdate};
use crate::notice::{chain, Notice};
use crate::{config, git, spool};

/// Writes a notice as one line; output that cannot be written (a closed pipe) is dropped, never fatal.
pub fn say(err: &mut dyn Write, notice: Notice) {
    let _ = writeln!(err, "{notice}");
}

/// `install` / `uninstall`: exit 1 when anything was skipped or failed.
fn install(
    args: &cli::InstallArgs,
    remove: bool,
    err: &mut dyn Write,
    out: &mut dyn Write,
) -> ExitCode {
    let targets = install::Targets {
        repos: args.repos.clone(),
        all: args.all.clone(),
        hooks_path: args.hooks_path.clone(),
        hook: args.hook.clone(),
        chain: args.chain,
    };
    let result = std::env::current_exe()
        .map_err(|e| format!("cannot find this program's own path: {e}"))
        .and_then(|exe| install::run(&targets, remove, &exe, out));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            say(err, Notice::Info(format!("error: {e}")));
            ExitCode::FAILURE
        }
    }
}

/// Runs a spool command: loads the configuration (none is fine) and opens the spool. A failure is
/// reported on one line and gives exit status 1.
fn with_spool(
    config_file: Option<&Path>,
    repo: Option<&Path>,
    env: &HookEnv,
    err: &mut dyn Write,
    f: impl FnOnce(&spool::Spool, &config::Config, &Path) -> Result<(), String>,
) -> ExitCode {
    let git_dir = git::repo_path(repo, env);
    let result = config::load(config_file, env, &git_dir)
        .map_err(|e| chain(&e))
        .and_then(|loaded| {
            let config = match loaded {
                Some(l) => {
                    for p in &l.problems {
                        say(
                            err,
                            Notice::Problem(format!("{p}; this endpoint is skipped")),
                        );
                    }
                    l.config
                }
                None => config::Config::default(),
            };
            let spool = spool::Spool::open(&deliver::spool_path(&config, &git_dir))
                .map_err(|e| chain(&e))?;
            f(&spool, &config, &git_dir)
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(err, Notice::Info(format!("error: {e}")));
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line: the hooks, and every command.
pub fn run(
    cli: Cli,
    env: &HookEnv,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let clock = Clock::new(env.fixed_now_ms, env.seed);
    let opts = hook::Options {
        config: cli.config.as_deref(),
        repo: cli.repo.as_deref(),
        dry_run: cli.dry_run,
        wait_for_ref: matches!(cli.command, Command::Update { .. }),
    };
    let (config, repo) = (cli.config.as_deref(), cli.repo.as_deref());
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
        Command::Deliver {
            now,
            watch,
            background,
        } => {
            let opts = deliver::DeliverOptions {
                now,
                watch,
                background,
            };
            with_spool(config, repo, env, err, |spool, config, git_dir| {
                deliver::run(spool, config, git_dir, &clock, opts, out).map_err(|e| chain(&e))
            })
        }
        Command::Status => with_spool(config, repo, env, err, |spool, _, _| {
            queue::status(spool, &clock, out);
            Ok(())
        }),
        Command::Log { limit, json } => with_spool(config, repo, env, err, |spool, _, _| {
            queue::log(spool, limit, json, out);
            Ok(())
        }),
        Command::Redeliver { id } => {
            with_spool(config, repo, env, err, |spool, config, git_dir| {
                match queue::requeue(spool, &id, &clock, out).map_err(|e| chain(&e))? {
                0 => Err(format!("no delivered or dead webhook has a job or event id starting with {id:?} (see `git webhook log`)")),
                _ => deliver::run(spool, config, git_dir, &clock, Default::default(), out).map_err(|e| chain(&e)),
            }
            })
        }
        Command::Install(args) => install(&args, false, err, out),
        Command::Uninstall(args) => install(&args, true, err, out),
        Command::Test { refname, endpoint } => with_spool(
            config,
            repo,
            env,
            err,
            |_, config, git_dir| match check::test(
                config,
                env,
                git_dir,
                refname.as_deref(),
                endpoint,
                cli.dry_run || env.dry_run,
                &clock,
                out,
            )? {
                true => Ok(()),
                false => Err("an endpoint did not answer with 2xx".to_owned()),
            },
        ),
        Command::Config(ConfigCommand::Check) => {
            let git_dir = git::repo_path(repo, env);
            if check::config_check(config, env, &git_dir, out) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Man => {
            let _ = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out);
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "git-webhook",
                out,
            );
            ExitCode::SUCCESS
        }
        Command::Demo => match demo::run(out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(err, "git-webhook: demo failed: {}", chain(&e));
                ExitCode::FAILURE
            }
        },
    }
}
