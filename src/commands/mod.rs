//! One module per command, each `run(…, &mut Context) -> Result<(), CommandError>`; this one dispatches
//! and holds what they share: the context, and the repository a command works on, opened once.

mod config_check;
mod deliver;
mod demo;
mod endpoint;
mod hook;
mod install;
mod key;
mod man;
mod queue;
mod redeliver;
mod status;
mod test;
mod worker;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::cli::{
    Cli, Command, ConfigCommand, EndpointCommand, KeyCommand, QueueCommand, RepoArgs,
};
use crate::clock::Clock;
use crate::config::{self, ConfigError, Loaded, NotConfigured};
use crate::env::HookEnv;
use crate::error::{chain, CommandError};
use crate::events::RepoEvents;
use crate::git::{self, OpenError, Repo};
use crate::notice::Notice;

/// What every command gets: the environment, the clock, and where to write.
pub struct Context<'a> {
    pub env: &'a HookEnv,
    pub clock: &'a Clock,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl Context<'_> {
    /// Writes a notice as one line on stderr, in a single write: git passes a hook's stderr on to
    /// the pusher as it comes, and a line written in pieces wakes it for each piece (and can be
    /// interleaved with what another process writes there). A closed pipe is never fatal.
    pub fn say(&mut self, notice: Notice) {
        let _ = self.err.write_all(format!("{notice}\n").as_bytes());
    }
}

/// Why a repository cannot be worked on.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    NotConfigured(#[from] NotConfigured),
}

impl From<Unusable> for CommandError {
    fn from(e: Unusable) -> CommandError {
        let hints = match &e {
            Unusable::Open(o) => o.hints(),
            _ => Vec::new(),
        };
        CommandError::user(e).hints(hints)
    }
}

/// The repository a command works on, opened once: where it is, what it is known by, and its
/// configuration.
pub struct Repository {
    /// Its git directory, as found.
    pub git_dir: PathBuf,
    /// Its canonical path: what its jobs, spools and queue rows are known by.
    pub id: PathBuf,
    pub repo: Repo,
    pub loaded: Loaded,
}

impl Repository {
    /// The repository at `git_dir`, with the configuration `--config` (else its own) gives it.
    pub fn at(
        git_dir: &Path,
        config: Option<&Path>,
        env: &HookEnv,
    ) -> Result<Repository, Unusable> {
        Repository::with(git_dir, Repo::open(git_dir, env)?, config, env)
    }

    /// The same, for a repository already open.
    fn with(
        git_dir: &Path,
        repo: Repo,
        config: Option<&Path>,
        env: &HookEnv,
    ) -> Result<Repository, Unusable> {
        let loaded = config::load(config, env, git_dir, &repo.webhook_config(env))?
            .ok_or_else(|| NotConfigured::new(config, env, git_dir))?;
        Ok(Repository {
            git_dir: git_dir.to_path_buf(),
            id: git_dir
                .canonicalize()
                .unwrap_or_else(|_| git_dir.to_path_buf()),
            repo,
            loaded,
        })
    }

    /// The repository `--repo` (else `$GIT_DIR`, else the current directory) names.
    pub fn find(at: &RepoArgs, env: &HookEnv) -> Result<Repository, Unusable> {
        let (git_dir, repo) = git::locate(at.repo.as_deref(), env)?;
        Repository::with(&git_dir, repo, at.config.as_deref(), env)
    }

    /// Opens it for a command, saying the endpoints that have problems (they are skipped).
    fn open(at: &RepoArgs, ctx: &mut Context<'_>) -> Result<Repository, CommandError> {
        let found = Repository::find(at, ctx.env)?;
        for p in &found.loaded.problems {
            ctx.say(Notice::EndpointSkipped(p.clone()));
        }
        Ok(found)
    }

    pub fn config(&self) -> &config::Config {
        &self.loaded.config
    }

    /// What makes its pushes' events.
    pub fn events<'a>(&'a self, env: &'a HookEnv) -> RepoEvents<'a> {
        RepoEvents {
            repo: &self.repo,
            path: &self.id,
            config: self.config(),
            env,
        }
    }

    /// Whether an `update`-hook job's ref has moved.
    pub fn ref_moved(&self) -> impl Fn(&str, &str) -> bool + '_ {
        |refname: &str, new: &str| self.repo.ref_moved(refname, new)
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
            all,
        } => {
            let how = deliver::How {
                now,
                watch,
                background,
                metrics,
            };
            match all {
                Some(dir) => worker::serve_all(&dir, &at, &how, ctx),
                None => deliver::run(&at, how, ctx),
            }
        }
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
        Command::Endpoint(EndpointCommand::Resume { at, all, endpoint }) => {
            endpoint::resume(&at, all, endpoint, ctx)
        }
        Command::Install(args) => install::install(&args, ctx),
        Command::Uninstall(args) => install::uninstall(&args, ctx),
        Command::Test {
            at,
            refname,
            endpoint,
            dry_run,
        } => test::run(&at, refname.as_deref(), endpoint, dry_run, ctx),
        Command::Config(ConfigCommand::Check { at }) => config_check::run(&at, ctx),
        Command::Config(ConfigCommand::Example) => {
            let _ = ctx.out.write_all(config::EXAMPLE.as_bytes());
            Ok(())
        }
        Command::Key(KeyCommand::New { file }) => key::new(&file, ctx),
        Command::Key(KeyCommand::Public { file }) => key::public(&file, ctx),
        Command::Man { dir } => man::run(dir.as_deref(), ctx),
        Command::Formats => {
            let _ = write!(ctx.out, "{}", man::formats_text());
            Ok(())
        }
        Command::Completions { shell } => {
            man::completions(shell, ctx.out);
            Ok(())
        }
        Command::Demo { format } => demo::run(ctx.out, ctx.env, &format)
            .map_err(|e| CommandError::user(format!("demo failed: {}", chain(&e)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each write it is given, as given.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_notice_is_said_in_one_write() {
        let env = HookEnv::default();
        let clock = Clock::new(Some(0), Some(1));
        let (mut out, mut err) = (Writes::default(), Writes::default());
        let mut ctx = Context {
            env: &env,
            clock: &clock,
            out: &mut out,
            err: &mut err,
        };
        ctx.say(Notice::Queued {
            count: 3,
            mode: crate::config::Mode::Async,
        });
        let text =
            "git-webhook: 3 webhook(s) queued, sending in the background (`git webhook status`)\n";
        let writes: Vec<String> = err
            .0
            .iter()
            .map(|w| String::from_utf8_lossy(w).into())
            .collect();
        assert_eq!(writes, [text]);
        assert!(out.0.is_empty());
    }
}
