//! Every line the program says to the person pushing (git shows them as `remote: ...`), worded in one place.

use std::fmt;
use std::path::PathBuf;

use crate::config::{Mode, NotConfigured, Problem};

/// Prefix of every line, so the pusher knows who speaks.
pub const PREFIX: &str = "git-webhook";

fn paths(list: &[PathBuf]) -> String {
    list.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One user-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// What became of one request: `summary` says how it went and what happens next.
    Sent {
        refname: String,
        url: String,
        format: String,
        summary: String,
    },
    /// Nothing is configured.
    NoConfig(NotConfigured),
    /// The configuration names no endpoint.
    NoEndpoint { files: Vec<PathBuf> },
    /// The configuration cannot be used at all (the error, with its file and line).
    ConfigUnusable(String),
    /// One endpoint's table is wrong; the others still work.
    EndpointSkipped(Problem),
    /// The configuration works but should be fixed.
    ConfigWarning(String),
    /// A line of the hook's input that is not a ref update.
    BadLine(String),
    /// The update hook's arguments are not a ref update.
    BadUpdateArguments(String),
    /// The hook's input could not be read.
    NoInput(String),
    /// `git push -o ci.skip` (or `webhook.skip`).
    Skipped { option: String },
    /// The repository cannot be read.
    RepositoryUnusable(String),
    /// One ref of the push gives no webhook.
    RefSkipped(String),
    /// The push's objects could not be read now: it is left to a deliverer, to be made later.
    MadeLater(String),
    /// A recorded push whose objects stayed unreadable longer than `max_age`: no webhooks.
    PushGivenUp {
        error: String,
        max_age: std::time::Duration,
    },
    /// A branch update has more new commits than path filters look at: endpoints with `paths` get it.
    PathsUnchecked { refname: String, max: usize },
    /// Dry-run printed this many requests.
    DryRun { requests: usize },
    /// A push's webhooks are queued.
    Queued { count: usize, mode: Mode },
    /// A push's webhooks are queued for the worker that serves every repository below `dir`.
    QueuedForWorker { count: usize, dir: PathBuf },
    /// A push's webhooks are in the shared database queue, for its workers.
    QueuedShared { count: usize, location: String },
    /// The database queue cannot be reached: the webhooks wait in the repository's spool.
    DatabaseFallback { error: String, count: usize },
    /// The repository's spool cannot take the push (a full disk): its webhooks wait in another place.
    Fallback {
        error: String,
        count: usize,
        place: PathBuf,
    },
    /// No queue at all can keep the push's webhooks: they are sent now, from memory.
    Unqueued { error: String, count: usize },
    /// Webhooks sent from memory that failed: nothing can keep them for a retry.
    Lost { count: usize },
    /// The spool nears `max_jobs`.
    NearlyFull { queued: usize, max: usize },
    /// A queued job was pushed out by `max_jobs`.
    Discarded {
        job: uuid::Uuid,
        refname: String,
        url: String,
        max: usize,
    },
    /// The background deliverer did not start.
    NoBackground(String),
    /// The queue failed to record what became of a job.
    QueueProblem(String),
    /// A push could not be recorded for a deliverer (its webhooks are made at once instead), or
    /// recorded pushes could not be taken.
    NotRecorded(String),
    /// A damaged file (a job, a recorded push) or row at `place`, and why; set aside `to` there
    /// (`None`: left alone, and not read).
    SetAside {
        place: String,
        why: String,
        to: Option<String>,
    },
    /// `test` takes its sample from another branch than the default, which does not exist.
    SampleBranch { head: String, used: String },
    /// A repository a command over many cannot look into (the reason), left out.
    LeftOut(String),
    /// An endpoint failed again and again: it is paused, its webhooks wait for a probe.
    Paused {
        url: String,
        failures: usize,
        probe_in: std::time::Duration,
    },
    /// A paused endpoint answered its probe: its waiting webhooks go out again.
    Resumed { url: String },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = PREFIX;
        match self {
            Notice::Sent {
                refname,
                url,
                format,
                summary,
            } => write!(f, "{p}: {refname} -> {url} ({format}): {summary}"),
            Notice::NoConfig(none) => write!(f, "{p}: {none}; nothing sent"),
            Notice::NoEndpoint { files } => {
                write!(f, "{p}: no endpoint in {}; nothing sent", paths(files))
            }
            Notice::ConfigUnusable(e) => write!(f, "{p}: warning: {e}; nothing sent"),
            Notice::EndpointSkipped(problem) => {
                write!(f, "{p}: warning: {problem}; this endpoint is skipped")
            }
            Notice::ConfigWarning(w) => write!(f, "{p}: warning: {w}"),
            Notice::BadLine(e) => write!(f, "{p}: warning: {e}; line ignored"),
            Notice::BadUpdateArguments(e) => {
                write!(f, "{p}: warning: update hook {e}; nothing sent")
            }
            Notice::NoInput(e) => write!(
                f,
                "{p}: warning: cannot read the pushed refs from stdin: {e}"
            ),
            Notice::Skipped { option } => {
                write!(f, "{p}: push option {option}: no webhooks for this push")
            }
            Notice::RepositoryUnusable(e) => write!(f, "{p}: warning: {e}; nothing sent"),
            Notice::RefSkipped(e) => write!(f, "{p}: warning: {e}; no webhook for this ref"),
            Notice::MadeLater(e) => write!(
                f,
                "{p}: warning: {e}; the push is kept, its webhooks made once it can be read"
            ),
            Notice::PushGivenUp { error, max_age } => write!(
                f,
                "{p}: warning: {error}; its push's webhooks could not be made within {}, given up",
                humantime::format_duration(*max_age)
            ),
            Notice::PathsUnchecked { refname, max } => write!(
                f,
                "{p}: {refname} brings more than {max} new commits, more than paths filters look at: endpoints with paths get it"
            ),
            Notice::DryRun { requests } => write!(
                f,
                "{p}: dry run: {requests} request(s) shown above, nothing sent"
            ),
            Notice::Queued { count, mode } => match mode {
                Mode::Queue => write!(
                    f,
                    "{p}: {count} webhook(s) queued; `git webhook deliver` sends them"
                ),
                _ => write!(
                    f,
                    "{p}: {count} webhook(s) queued, sending in the background (`git webhook status`)"
                ),
            },
            Notice::QueuedForWorker { count, dir } => write!(
                f,
                "{p}: {count} webhook(s) queued for the worker serving {} (`git webhook status`)",
                dir.display()
            ),
            Notice::QueuedShared { count, location } => write!(
                f,
                "{p}: {count} webhook(s) queued in {location} for its workers (`git webhook status`)"
            ),
            Notice::DatabaseFallback { error, count } => write!(
                f,
                "{p}: warning: {error}; {count} webhook(s) wait in the repository's spool and move to the database when it is back"
            ),
            Notice::Fallback {
                error,
                count,
                place,
            } => write!(
                f,
                "{p}: warning: {error}; {count} webhook(s) wait in {} instead, and are delivered from there",
                place.display()
            ),
            Notice::Unqueued { error, count } => write!(
                f,
                "{p}: warning: {error}; no spool can keep {count} webhook(s): sending them now"
            ),
            Notice::Lost { count } => write!(
                f,
                "{p}: warning: {count} webhook(s) failed and no spool can keep them for a retry: lost"
            ),
            Notice::NearlyFull { queued, max } => write!(
                f,
                "{p}: warning: the spool holds {queued} of at most {max} jobs (is an endpoint down? see `git webhook status`)"
            ),
            Notice::Discarded {
                job,
                refname,
                url,
                max,
            } => write!(
                f,
                "{p}: warning: discarded the oldest queued job {job} ({refname} to {url}) to stay under max_jobs = {max}"
            ),
            Notice::NoBackground(e) => write!(
                f,
                "{p}: warning: cannot start the background deliverer: {e}; run `git webhook deliver`"
            ),
            Notice::QueueProblem(e) => write!(f, "{p}: warning: {e}"),
            Notice::NotRecorded(e) => write!(f, "{p}: warning: cannot record the push: {e}"),
            Notice::LeftOut(e) => write!(f, "{p}: warning: {e}; left out"),
            Notice::Paused {
                url,
                failures,
                probe_in,
            } => write!(
                f,
                "{p}: warning: {url} is paused after {failures} failed attempts in a row: its webhooks wait, in order; it is tried again in {} (`git-webhook endpoint resume` sends them now)",
                humantime::format_duration(*probe_in)
            ),
            Notice::Resumed { url } => write!(
                f,
                "{p}: {url} answered again: resumed, its waiting webhooks go out in order"
            ),
            Notice::SampleBranch { head, used } => write!(
                f,
                "{p}: {head} (the default branch) has no commits yet; the sample comes from {used}"
            ),
            Notice::SetAside { place, why, to } => match to {
                Some(to) => write!(f, "{p}: warning: {place}: {why}; set aside as {to}"),
                None => write!(f, "{p}: warning: {place}: {why}; left alone"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_well() {
        let d = Notice::Sent {
            refname: "refs/heads/main".into(),
            url: "http://127.0.0.1:9/hook".into(),
            format: "gitlab".into(),
            summary: "200 OK in 12 ms".into(),
        };
        assert_eq!(
            d.to_string(),
            "git-webhook: refs/heads/main -> http://127.0.0.1:9/hook (gitlab): 200 OK in 12 ms"
        );
        assert_eq!(
            Notice::Queued {
                count: 2,
                mode: Mode::Queue
            }
            .to_string(),
            "git-webhook: 2 webhook(s) queued; `git webhook deliver` sends them"
        );
    }
}
