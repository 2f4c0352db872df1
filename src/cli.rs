//! The command line: every flag and command, documented here (this is what `--help` prints). The list of
//! formats comes from the format registry.
// The doc comments below are --help text, written for a terminal, not for rustdoc.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use crate::format;

const LONG_ABOUT: &str = "\
Sends the push and tag-push webhooks a forge would send, from a plain bare repository.

Install it as a hook (`git-webhook install REPO`, or `--all /srv/git`): a symlink named
hooks/post-receive (or hooks/update), or a program in a hooks/post-receive.d/ folder. Git then runs
it after every push; it reads the pushed refs, walks the new commits, and queues one webhook per
branch or tag for every endpoint, which a background deliverer sends (with retries) while the push
returns. As a hook it never fails a push: problems are reported as `remote:` lines.

Configuration comes in layers, each overriding the keys it sets and adding its endpoints:
/etc/git-webhook/config.toml ($GIT_WEBHOOK_GLOBAL_CONFIG names another path), then
$GIT_DIR/webhook.toml, then the repository's git config (webhook.<name>.url, ...). --config FILE or
$GIT_WEBHOOK_CONFIG replaces the two files. config.example.toml documents every key;
`git-webhook config check` shows what a repository gets.

Formats ([[endpoint]] format = ...), each sending that forge's body and headers and carrying the
endpoint's secret the way that forge does (see the list below):
  {formats}

Run `git-webhook demo` to watch it work against a throw-away repository.";

const AFTER_HELP: &str = "\
How each format carries the endpoint's secret: `git-webhook formats` (also in the manual).

Environment:
  GIT_WEBHOOK_CONFIG         configuration file to use (like --config)
  GIT_WEBHOOK_GLOBAL_CONFIG  server-wide file (default /etc/git-webhook/config.toml)
  GIT_WEBHOOK_DRY_RUN=1      dry-run from inside a hook (like --dry-run)
  GL_USERNAME, GL_USER, REMOTE_USER, USER
                             the pusher's login, first one set wins

Exit status:
  0    success; always, when running as a hook
  1    the command failed, or found a problem (the message says which)
  2    the command line was wrong
  255  an internal error (a bug; as a hook, still 0)";

/// git-webhook: push and tag-push webhooks from plain git repositories.
#[derive(Debug, Parser)]
#[command(name = "git-webhook", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// A registered format's id, or an error listing them.
fn format_id(id: &str) -> Result<String, String> {
    format::by_id(id)
        .map(|f| f.id().to_owned())
        .ok_or_else(|| format!("unknown format; known formats: {}", format::known_ids()))
}

/// The whole command line, with the format registry's list in its help.
pub fn command() -> clap::Command {
    let ids: Vec<String> = format::FORMATS
        .iter()
        .map(|f| match f.id() {
            id if id == format::DEFAULT => format!("{id} (default)"),
            id => id.to_owned(),
        })
        .collect();
    Cli::command()
        .long_about(LONG_ABOUT.replace("{formats}", &ids.join(", ")))
        .after_help(AFTER_HELP)
        .mut_subcommand("formats", |f| f.after_help(format::table("  ")))
}

/// Parses an argument list (`argv[0]` included).
pub fn parse(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    if let Some(cli) = plain_hook(&args) {
        return Ok(cli);
    }
    let matches = command().try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// The calls git makes of a hook (`post-receive`, `update REF OLD NEW`), without an option: read
/// as the parser would read them, without building the whole command line (and its help) first,
/// which would be most of a small push's start-up.
fn plain_hook(args: &[std::ffi::OsString]) -> Option<Cli> {
    let args: Vec<&str> = args.iter().map(|a| a.to_str()).collect::<Option<_>>()?;
    let command = match args[..] {
        [_, "post-receive"] => Command::PostReceive {
            at: RepoArgs::default(),
            dry_run: false,
        },
        [_, "update", refname, old, new]
            if ![refname, old, new].iter().any(|a| a.starts_with('-')) =>
        {
            Command::Update {
                refname: refname.to_owned(),
                old: old.to_owned(),
                new: new.to_owned(),
                at: RepoArgs::default(),
                dry_run: false,
            }
        }
        _ => return None,
    };
    Some(Cli { command })
}

/// Where the repository and its configuration are: for every command that works on one.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RepoArgs {
    /// Use this configuration file instead of looking one up
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The repository's git directory [default: $GIT_DIR, else the current directory]
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as git's post-receive hook: read "<old> <new> <ref>" lines on stdin and send the webhooks
    PostReceive {
        #[command(flatten)]
        at: RepoArgs,
        /// Print every request that would be sent (URL, headers, body), secrets redacted, and send nothing
        #[arg(long)]
        dry_run: bool,
    },

    /// Run as git's update hook for one ref (never rejects it)
    Update {
        /// Full name of the ref being updated, e.g. refs/heads/main
        #[arg(value_name = "REF")]
        refname: String,
        /// Object name before the push (all zeros: the ref is created)
        old: String,
        /// Object name after the push (all zeros: the ref is deleted)
        new: String,
        #[command(flatten)]
        at: RepoArgs,
        /// Print every request that would be sent (URL, headers, body), secrets redacted, and send nothing
        #[arg(long)]
        dry_run: bool,
    },

    /// Send the queued webhooks that are due (each endpoint in parallel), then exit
    Deliver {
        #[command(flatten)]
        at: RepoArgs,
        /// Send every queued webhook now, whatever its retry schedule
        #[arg(long)]
        now: bool,
        /// Keep running and send new webhooks as they are queued (for a service manager); with a
        /// database queue, for every repository
        #[arg(long, conflicts_with = "background")]
        watch: bool,
        /// Run until the queue is empty, one deliverer per spool (the hook starts this)
        #[arg(long, hide = true)]
        background: bool,
        /// Serve Prometheus metrics over HTTP on this address while watching, e.g. 127.0.0.1:9464
        #[arg(long, value_name = "ADDR", requires = "watch")]
        metrics: Option<std::net::SocketAddr>,
        /// With --watch: one worker for every repository below DIR (each with its own
        /// configuration and file spool; new ones are picked up), to which hooks leave their pushes
        #[arg(long, value_name = "DIR", requires = "watch")]
        all: Option<PathBuf>,
    },

    /// Count the queued, retrying, in-flight and dead webhooks (by repository, with a database queue
    /// or --all), or list the dead or delivered ones (--state)
    #[command(long_about = None, after_help = SCOPE_HELP)]
    Status {
        #[command(flatten)]
        at: RepoArgs,
        #[command(flatten)]
        select: Select,
        /// List these webhooks instead of counting: dead (the dead letters) or delivered
        #[arg(long, value_name = "STATE", value_parser = ["dead", "delivered"])]
        state: Option<String>,
    },

    /// Show the delivery log: every attempt, with its status, duration and error
    #[command(after_help = SCOPE_HELP)]
    Log {
        #[command(flatten)]
        at: RepoArgs,
        #[command(flatten)]
        select: Select,
        /// Only records with this outcome: delivered, retry, dead, dropped, expired, discarded, requeued
        #[arg(long, value_name = "OUTCOME", value_parser = crate::delivery::job::OUTCOMES.map(|o| o.as_str()))]
        state: Option<String>,
        /// How many of the most recent records to show
        #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
        limit: usize,
    },

    /// Send delivered or dead webhooks again, with the same idempotency ids: by id, or a batch
    /// (`--state dead --since 1d` after a receiver's outage)
    #[command(after_help = SCOPE_HELP)]
    Redeliver {
        #[command(flatten)]
        at: RepoArgs,
        #[command(flatten)]
        select: Select,
        /// Job or event ids (as `log` shows them), or the start of one
        #[arg(value_name = "ID", required_unless_present = "state")]
        ids: Vec<String>,
        /// Every webhook in this state that the other options select: dead or delivered
        #[arg(long, value_name = "STATE", value_parser = ["dead", "delivered"])]
        state: Option<String>,
    },

    /// Look after the shared database queue
    #[command(subcommand)]
    Queue(QueueCommand),

    /// Look after endpoints that failed so often that they were paused
    #[command(subcommand)]
    Endpoint(EndpointCommand),

    /// Install the hook (a symlink to this program) into repositories, idempotently
    Install(InstallArgs),

    /// Remove the hook that `install` put in place (and restore a chained previous hook)
    Uninstall(UninstallArgs),

    /// Send a sample push (the newest three commits of a branch) to the endpoints now, and show the answers
    Test {
        #[command(flatten)]
        at: RepoArgs,
        /// The branch (or full ref) to take the commits from [default: the default branch]
        #[arg(long = "ref", value_name = "REF")]
        refname: Option<String>,
        /// Only this endpoint (numbered in configuration order, as `config check` shows)
        #[arg(long, value_name = "N")]
        endpoint: Option<usize>,
        /// Print the requests (secrets redacted) instead of sending them
        #[arg(long)]
        dry_run: bool,
    },

    /// Look into the configuration
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Make the Ed25519 key that signs standard-webhooks requests (`signing_key_file`), or print
    /// its public key for receivers to verify with
    #[command(subcommand)]
    Key(KeyCommand),

    /// Print the manual page (roff), e.g. `git-webhook man | man -l -`; with --dir, write it and one
    /// page per command there, e.g. `git-webhook man --dir /usr/local/share/man/man1`
    Man {
        /// Write every page (git-webhook.1, git-webhook-deliver.1, ...) into this directory
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },

    /// List the formats: the header that names the event, and how each carries the endpoint's secret
    Formats,

    /// Print a shell completion script, e.g. `git-webhook completions bash > /etc/bash_completion.d/git-webhook`
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Show it working: a temporary bare repository with the hook, a receiver on 127.0.0.1, a few pushes
    Demo {
        /// The format the demo's endpoint sends (`demo --format slack` shows a chat message)
        #[arg(long, value_name = "FORMAT", default_value = format::DEFAULT, value_parser = format_id)]
        format: String,
    },
}

const SCOPE_HELP: &str = "\
With a database queue ([delivery] queue = \"postgres://...\"), this covers every repository in the
database; with --all DIR, every repository below DIR, each with its own spool. --repo then keeps the
repositories whose path contains it.";

/// What `status`, `log` and `redeliver` look at besides one repository.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Select {
    /// Every repository below DIR (e.g. /srv/git), each with its own file spool
    #[arg(long, value_name = "DIR")]
    pub all: Option<PathBuf>,
    /// Only endpoints whose URL (as shown, credentials masked) contains TEXT
    #[arg(long, value_name = "TEXT")]
    pub endpoint: Option<String>,
    /// Only what happened within this time before now, e.g. 30m, 1h, 2d
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// One JSON object per line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Create or bring up to date the database queue's tables (also done on first use)
    Migrate {
        #[command(flatten)]
        at: RepoArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the example configuration: every key, commented, with its default (what
    /// config.example.toml holds), e.g. `git-webhook config example > /etc/git-webhook/config.toml`
    Example,
    /// Print every key of the effective configuration with its value and where it came from (a file and
    /// line, a git config key, or the default), secrets redacted, and every problem; exit status 1 when
    /// there is a problem
    Check {
        #[command(flatten)]
        at: RepoArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Resume paused endpoints now, instead of at their next probe: their waiting webhooks go out,
    /// in order (with one repository's spool, at once; `status` shows which are paused)
    #[command(after_help = SCOPE_HELP)]
    Resume {
        #[command(flatten)]
        at: RepoArgs,
        /// Every repository below DIR (e.g. /srv/git), each with its own file spool
        #[arg(long, value_name = "DIR")]
        all: Option<PathBuf>,
        /// Only endpoints whose URL (as shown, credentials masked) contains TEXT
        #[arg(long, value_name = "TEXT")]
        endpoint: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new key to FILE (readable by its owner only; never overwritten) and print its
    /// public key, e.g. `git-webhook key new /etc/git-webhook/signing.key`
    New {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the public key (`whpk_...`) of the key in FILE, to hand to receivers
    Public {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Where to remove the hook from.
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Repositories (bare, or work trees) to remove the hook from
    #[arg(value_name = "REPO")]
    pub repos: Vec<PathBuf>,
    /// Every repository below this directory (e.g. /srv/git)
    #[arg(long, value_name = "DIR")]
    pub all: Option<PathBuf>,
    /// A directory that `core.hooksPath` points at, instead of repositories' own hooks
    #[arg(long, value_name = "DIR")]
    pub hooks_path: Option<PathBuf>,
    /// Which hook to remove: only a hook that is this program (or the dispatcher `install --chain`
    /// made) is removed, and a hook it had moved aside is put back
    #[arg(long, value_name = "HOOK", default_value = "post-receive", value_parser = ["post-receive", "update"])]
    pub hook: String,
}

/// Where to install the hook.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Repositories (bare, or work trees) to install into
    #[arg(value_name = "REPO")]
    pub repos: Vec<PathBuf>,
    /// Every repository below this directory (e.g. /srv/git)
    #[arg(long, value_name = "DIR")]
    pub all: Option<PathBuf>,
    /// A directory that `core.hooksPath` points at, instead of repositories' own hooks
    #[arg(long, value_name = "DIR")]
    pub hooks_path: Option<PathBuf>,
    /// Which hook to install as
    #[arg(long, value_name = "HOOK", default_value = "post-receive", value_parser = ["post-receive", "update"])]
    pub hook: String,
    /// Keep a hook that is already there: move it and this program into <HOOK>.d/, run by a small dispatcher
    #[arg(long)]
    pub chain: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hook calls read without the parser are read as the parser reads them.
    #[test]
    fn plain_hook_calls_parse_as_the_parser_parses_them() {
        let os = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        for call in [
            &["git-webhook", "post-receive"][..],
            &["git-webhook", "update", "refs/heads/main", "0000", "1111"],
        ] {
            let fast = plain_hook(&os(call)).expect("a plain hook call");
            let matches = command().try_get_matches_from(os(call)).expect("parses");
            let parsed = Cli::from_arg_matches(&matches).expect("parses");
            assert_eq!(format!("{fast:?}"), format!("{parsed:?}"), "{call:?}");
        }
        for other in [
            &["git-webhook", "post-receive", "--dry-run"][..],
            &["git-webhook", "update", "--dry-run", "a", "b"],
            &["git-webhook", "update", "refs/heads/main", "0000"],
            &["git-webhook", "status"],
        ] {
            assert!(plain_hook(&os(other)).is_none(), "{other:?}");
        }
    }
}
