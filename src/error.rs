//! Errors as the user reads them. A command that fails returns a [`CommandError`]: its kind gives the
//! exit status, and it is turned into text once, by [`CommandError::render`]: the error, each cause
//! on a `caused by:` line, then what to do on `hint:` lines. Lines the pusher reads (`remote:`) take
//! an error and its causes on one line ([`chain`]).

use std::error::Error;

/// What kind of failure a command had; the kind gives the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The command could not do its work, or found a problem (exit status 1).
    User,
    /// The command line was wrong (exit status 2).
    Cli,
    /// A bug (exit status 255; as a hook, still 0).
    Internal,
}

/// A command that failed.
#[derive(Debug)]
pub struct CommandError {
    kind: Kind,
    /// What went wrong; `None` when the command has said it already (`config check` listing its
    /// problems, `test` showing a refusal).
    error: Option<Box<dyn Error + Send + Sync>>,
    hints: Vec<String>,
}

impl CommandError {
    /// The command could not do its work.
    pub fn user(error: impl Into<Box<dyn Error + Send + Sync>>) -> CommandError {
        CommandError {
            kind: Kind::User,
            error: Some(error.into()),
            hints: Vec::new(),
        }
    }

    /// The command did its work and said what it found, which is bad: exit status 1, nothing more
    /// printed.
    pub fn said() -> CommandError {
        CommandError::said_as(Kind::User)
    }

    /// A failure of this kind that was already said (by clap for a wrong command line, by the
    /// panic hook for a bug).
    pub fn said_as(kind: Kind) -> CommandError {
        CommandError {
            kind,
            error: None,
            hints: Vec::new(),
        }
    }

    /// Adds a line telling what to do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> CommandError {
        self.hints.push(hint.into());
        self
    }

    /// Adds several such lines.
    pub fn hints(mut self, hints: impl IntoIterator<Item = String>) -> CommandError {
        self.hints.extend(hints);
        self
    }

    /// The exit status the process ends with.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::User => 1,
            Kind::Cli => 2,
            Kind::Internal => 255,
        }
    }

    /// The text printed for it (empty when it was said already): `<prefix>: error: <error>`, a
    /// `caused by:` line for each cause not already in the line above it, a `hint:` line each.
    pub fn render(&self, prefix: &str) -> String {
        let Some(error) = &self.error else {
            return String::new();
        };
        let top = match self.kind {
            Kind::Internal => "internal error (a bug, please report it)",
            Kind::User | Kind::Cli => "error",
        };
        let mut text = format!("{prefix}: {top}: {error}\n");
        let mut above = error.to_string();
        let mut cause = error.source();
        while let Some(c) = cause {
            let line = c.to_string();
            if !above.contains(&line) {
                text.push_str(&format!("caused by: {line}\n"));
            }
            above = line;
            cause = c.source();
        }
        for h in &self.hints {
            text.push_str(&format!("hint: {h}\n"));
        }
        text
    }
}

/// An error and its causes on one line: `outer: cause: root cause`.
pub fn chain(error: &dyn Error) -> String {
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

    fn read_error() -> crate::config::ConfigError {
        crate::config::ConfigError::Read {
            path: "/x/webhook.toml".into(),
            source: std::io::Error::other("disk on fire"),
        }
    }

    #[test]
    fn chain_joins_causes_once() {
        assert_eq!(
            chain(&read_error()),
            "cannot read configuration file /x/webhook.toml: disk on fire"
        );
    }

    #[test]
    fn a_command_error_shows_its_causes_and_hints_and_gives_its_status() {
        let e = CommandError::user(read_error()).hint("check the file's permissions");
        assert_eq!(
            e.render("git-webhook"),
            "git-webhook: error: cannot read configuration file /x/webhook.toml\n\
             caused by: disk on fire\n\
             hint: check the file's permissions\n"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(CommandError::said().render("git-webhook"), "");
        assert_eq!(CommandError::said_as(Kind::Cli).exit_code(), 2);
        assert_eq!(CommandError::said_as(Kind::Internal).exit_code(), 255);
    }
}
