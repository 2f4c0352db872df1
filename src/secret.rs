//! A secret string that never shows itself in `Debug`, `Display`, logs or dry-run output.

use std::fmt;

/// What dry-run and messages print in place of a secret.
pub const REDACTED: &str = "[REDACTED]";

/// A token, password or signing key from the configuration.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself: only for building a request that goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret a file holds (`secret_file`, `queue_password_file`): its text without the line
    /// end that closes it.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Secret> {
        std::fs::read_to_string(path).map(|t| Secret::new(t.trim_end_matches(['\r', '\n'])))
    }

    /// The secret a variable of `vars` holds (`secret_env`, `queue_password_env`), if it is set and
    /// not empty.
    pub fn from_env(
        vars: &std::collections::BTreeMap<String, String>,
        name: &str,
    ) -> Option<Secret> {
        vars.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| Secret::new(v.clone()))
    }
}

/// Written out (by `config check`) as `[REDACTED]`: serializing never reveals the secret.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "[REDACTED] [REDACTED]");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[REDACTED]\"");
    }
}
