//! Every line the program says to the person pushing (git shows them as `remote: ...`), worded in one place.

use std::fmt;
use std::time::Duration;

/// Prefix of every line, so the pusher knows who speaks.
pub const PREFIX: &str = "git-webhook";

/// One user-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A request was answered with a 2xx status.
    Delivered {
        refname: String,
        url: String,
        format: &'static str,
        status: u16,
        reason: String,
        elapsed: Duration,
    },
    /// A request got an answer that is not a success.
    Rejected {
        refname: String,
        url: String,
        format: &'static str,
        status: u16,
        reason: String,
        location: Option<String>,
    },
    /// A request got no answer.
    Failed {
        refname: String,
        url: String,
        format: &'static str,
        error: String,
    },
    /// Something was wrong but the push itself is fine.
    Problem(String),
    /// A plain statement.
    Info(String),
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Delivered {
                refname,
                url,
                format,
                status,
                reason,
                elapsed,
            } => {
                write!(
                    f,
                    "{PREFIX}: {refname} -> {url} ({format}): {status} {reason} in {} ms",
                    elapsed.as_millis()
                )
            }
            Notice::Rejected {
                refname,
                url,
                format,
                status,
                reason,
                location,
            } => {
                write!(
                    f,
                    "{PREFIX}: {refname} -> {url} ({format}): FAILED: {status} {reason}"
                )?;
                match location {
                    Some(l) => write!(f, " (redirect to {l} not followed)"),
                    None => Ok(()),
                }
            }
            Notice::Failed {
                refname,
                url,
                format,
                error,
            } => write!(
                f,
                "{PREFIX}: {refname} -> {url} ({format}): FAILED: {error}"
            ),
            Notice::Problem(text) => write!(f, "{PREFIX}: warning: {text}"),
            Notice::Info(text) => write!(f, "{PREFIX}: {text}"),
        }
    }
}

/// An error and its causes on one line: `outer: cause: root cause`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_well() {
        let d = Notice::Delivered {
            refname: "refs/heads/main".into(),
            url: "http://127.0.0.1:9/hook".into(),
            format: "gitlab",
            status: 200,
            reason: "OK".into(),
            elapsed: Duration::from_millis(12),
        };
        assert_eq!(
            d.to_string(),
            "git-webhook: refs/heads/main -> http://127.0.0.1:9/hook (gitlab): 200 OK in 12 ms"
        );
        let r = Notice::Rejected {
            refname: "refs/tags/v1".into(),
            url: "https://x/".into(),
            format: "gitlab",
            status: 301,
            reason: "Moved Permanently".into(),
            location: Some("https://y/".into()),
        };
        assert_eq!(r.to_string(), "git-webhook: refs/tags/v1 -> https://x/ (gitlab): FAILED: 301 Moved Permanently (redirect to https://y/ not followed)");
        assert_eq!(
            Notice::Problem("x".into()).to_string(),
            "git-webhook: warning: x"
        );
    }

    #[test]
    fn chain_joins_causes_once() {
        let io = std::io::Error::other("disk on fire");
        let e = crate::config::ConfigError::Read {
            path: "/x/webhook.toml".into(),
            source: io,
        };
        assert_eq!(
            chain(&e),
            "cannot read configuration file /x/webhook.toml: disk on fire"
        );
    }
}
