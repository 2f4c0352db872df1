//! The command line: every flag and command, documented here (this is what `--help` prints).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

const LONG_ABOUT: &str = "\
Sends the push and tag-push webhooks GitLab, Gitee, AtomGit, GitCode or GitHub would send, from a
plain bare repository.

Install it as a hook: symlink it as hooks/post-receive (or hooks/update) of a bare repository,
or put it in a hooks/post-receive.d/ folder. Git then runs it after every push; it reads the
pushed refs, walks the new commits and POSTs one webhook per branch or tag to every endpoint in
the configuration. As a hook it never fails a push: problems are reported as `remote:` lines.

Configuration is looked up in this order, first found wins: --config FILE, $GIT_WEBHOOK_CONFIG,
$GIT_DIR/webhook.toml, /etc/git-webhook/config.toml ($GIT_WEBHOOK_GLOBAL_CONFIG overrides that
path). config.example.toml documents every key.

Formats ([[endpoint]] format = ...): gitlab (default), gitee, atomgit, gitcode, github. Each sends
that forge's body and headers, and carries the endpoint's secret the way that forge does.

Run `git-webhook demo` to watch it work against a throw-away repository.";

const AFTER_HELP: &str = "\
Environment:
  GIT_WEBHOOK_CONFIG         configuration file to use (like --config)
  GIT_WEBHOOK_GLOBAL_CONFIG  server-wide file (default /etc/git-webhook/config.toml)
  GIT_WEBHOOK_DRY_RUN=1      dry-run from inside a hook (like --dry-run)
  GL_USERNAME, GL_USER, REMOTE_USER, USER
                             the pusher's login, first one set wins

Exit status:
  0  success; always, when running as a hook
  1  the command failed (the message says why)
  2  the command line was wrong";

/// git-webhook: push and tag-push webhooks from plain git repositories.
#[derive(Debug, Parser)]
#[command(name = "git-webhook", version, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// Use this configuration file instead of looking one up
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print every request that would be sent (URL, headers, body), secrets redacted, and send nothing
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// The repository's git directory [default: $GIT_DIR, else the current directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as git's post-receive hook: read "<old> <new> <ref>" lines on stdin and send the webhooks
    PostReceive,

    /// Run as git's update hook for one ref (never rejects it)
    Update {
        /// Full name of the ref being updated, e.g. refs/heads/main
        #[arg(value_name = "REF")]
        refname: String,
        /// Object name before the push (all zeros: the ref is created)
        old: String,
        /// Object name after the push (all zeros: the ref is deleted)
        new: String,
    },

    /// Send the queued webhooks that are due (each endpoint in parallel), then exit
    Deliver {
        /// Send every queued webhook now, whatever its retry schedule
        #[arg(long)]
        now: bool,
        /// Keep running and send new webhooks as they are queued (for a service manager)
        #[arg(long, conflicts_with = "background")]
        watch: bool,
        /// Run until the queue is empty, one deliverer per spool (the hook starts this)
        #[arg(long, hide = true)]
        background: bool,
    },

    /// Count the queued, retrying, in-flight and dead webhooks
    Status,

    /// Show the delivery log: every attempt, with its status, duration and error
    Log {
        /// How many of the most recent records to show
        #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
        limit: usize,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },

    /// Send a delivered or dead webhook again, with the same idempotency id
    Redeliver {
        /// A job id or an event id (as `log` shows them), or the start of one
        #[arg(value_name = "ID")]
        id: String,
    },

    /// Show it working: a temporary bare repository with the hook, a receiver on 127.0.0.1, a few pushes
    Demo,
}
