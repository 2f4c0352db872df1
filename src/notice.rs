//! Every line the program says to the person pushing (git shows them as `remote: ...`), worded in one place.

use std::fmt;

/// Prefix of every line, so the pusher knows who speaks.
pub const PREFIX: &str = "git-webhook";

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
    /// Something was wrong but the push itself is fine.
    Problem(String),
    /// A plain statement.
    Info(String),
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Sent {
                refname,
                url,
                format,
                summary,
            } => write!(f, "{PREFIX}: {refname} -> {url} ({format}): {summary}"),
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
            Notice::Problem("x".into()).to_string(),
            "git-webhook: warning: x"
        );
        assert_eq!(Notice::Info("y".into()).to_string(), "git-webhook: y");
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
