//! Errors as the user reads them: a command's failure with its exit status, and an error chain on one line.

/// A command that failed: what is printed (once, by [`crate::run`]) and the exit status it gives.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The command could not do its work (exit status 1).
    #[error("{0}")]
    Failed(String),
    /// The command did its work, and what it found is bad (exit status 1, nothing more printed):
    /// `config check` with problems, `test` with a failing endpoint, `install` with a skipped repository.
    #[error("")]
    Unhappy,
}

impl CommandError {
    /// An error and its causes, as a failure.
    pub fn from_error(e: &dyn std::error::Error) -> CommandError {
        CommandError::Failed(chain(e))
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
    use super::chain;

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
