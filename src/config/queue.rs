//! `[delivery] queue` and its `queue_*` keys: the file spool, or a shared PostgreSQL database, checked
//! into a [`QueueKind`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use serde::Serialize;

use super::schema::RawDelivery;
use super::tls::readable;
use super::{time, Located};
use crate::secret::Secret;

pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where jobs wait.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum QueueKind {
    /// Files under each repository (`spool_dir`).
    #[default]
    Spool,
    Postgres(Database),
}

impl QueueKind {
    /// The database, if the queue is one.
    pub fn database(&self) -> Option<&Database> {
        match self {
            QueueKind::Postgres(db) => Some(db),
            QueueKind::Spool => None,
        }
    }
}

/// A PostgreSQL database to queue in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// The URL as configured (it may hold the password).
    pub url: Secret,
    /// The URL without its password, for messages.
    pub shown: String,
    /// From `queue_password_file` or `queue_password_env`, which are kept to be shown.
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// How long a claim outlives its worker's last sign of life.
    pub lease: Duration,
    /// How long the delivery log and finished jobs are kept.
    pub retention: Duration,
}

/// Written as the keys it came from (flattened into `[delivery]`), the password never.
impl Serialize for QueueKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(None)?;
        match self {
            QueueKind::Spool => map.serialize_entry("queue", "spool")?,
            QueueKind::Postgres(db) => {
                map.serialize_entry("queue", &db.shown)?;
                if let Some(f) = &db.password_file {
                    map.serialize_entry("queue_password_file", f)?;
                }
                if let Some(v) = &db.password_env {
                    map.serialize_entry("queue_password_env", v)?;
                }
                if let Some(f) = &db.ca_file {
                    map.serialize_entry("queue_ca_file", f)?;
                }
                let d = |d: Duration| humantime::format_duration(d).to_string();
                map.serialize_entry("queue_lease", &d(db.lease))?;
                map.serialize_entry("queue_retention", &d(db.retention))?;
            }
        }
        map.end()
    }
}

/// The URL with any password (in its user part, or a `password=` parameter) replaced.
fn without_password(url: &str) -> String {
    let redacted = crate::secret::REDACTED;
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = main.split_at(main.find('/').unwrap_or(main.len()));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:{redacted}@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    let mut shown = format!("{scheme}://{authority}{path}");
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => format!("password={redacted}"),
                _ => pair.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    shown
}

fn password(raw: &RawDelivery, env: &BTreeMap<String, String>) -> Result<Option<Secret>, Located> {
    match (&raw.queue_password_file, &raw.queue_password_env) {
        (None, None) => Ok(None),
        (Some(f), None) => Secret::from_file(f.get_ref()).map(Some).map_err(|e| {
            (
                f.span().start,
                format!(
                    "cannot read queue_password_file {}: {e}",
                    f.get_ref().display()
                ),
            )
        }),
        (None, Some(v)) => match Secret::from_env(env, v.get_ref()) {
            Some(secret) => Ok(Some(secret)),
            None => Err((
                v.span().start,
                format!(
                    "queue_password_env names ${}, which is not set",
                    v.get_ref()
                ),
            )),
        },
        (Some(f), Some(_)) => Err((
            f.span().start,
            "give queue_password_file or queue_password_env, not both".to_owned(),
        )),
    }
}

/// Checks `queue` and, for a database, the `queue_*` keys.
pub(crate) fn check(
    raw: &RawDelivery,
    env: &BTreeMap<String, String>,
) -> Result<QueueKind, Located> {
    let url = match &raw.queue {
        None => None,
        Some(q) if q.get_ref() == "spool" => None,
        Some(q) => Some(q),
    };
    // The queue_* keys are read with a database only.
    let Some(url) = url else {
        return Ok(QueueKind::Spool);
    };
    let text = url.get_ref();
    let at = url.span().start;
    if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
        return Err((
            at,
            format!(
                "{:?} is neither \"spool\" nor a postgres:// or postgresql:// URL",
                without_password(text)
            ),
        ));
    }
    if let Err(e) = postgres::Config::from_str(text) {
        return Err((at, format!("{}: {e}", without_password(text))));
    }
    let ca_file = raw
        .queue_ca_file
        .as_ref()
        .map(|f| readable(f, "queue_ca_file"))
        .transpose()?;
    Ok(QueueKind::Postgres(Database {
        url: Secret::new(text.clone()),
        shown: without_password(text),
        password: password(raw, env)?,
        password_file: raw
            .queue_password_file
            .as_ref()
            .map(|f| f.get_ref().clone()),
        password_env: raw.queue_password_env.as_ref().map(|v| v.get_ref().clone()),
        ca_file,
        lease: time(&raw.queue_lease, DEFAULT_LEASE)?,
        retention: time(&raw.queue_retention, DEFAULT_RETENTION)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            without_password("postgres://hook:hunter2@db.example:5432/webhooks"),
            "postgres://hook:[REDACTED]@db.example:5432/webhooks"
        );
        let shown =
            without_password("postgresql:///webhooks?host=/run/postgresql&password=hunter2");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(
            shown,
            "postgresql:///webhooks?host=/run/postgresql&password=[REDACTED]"
        );
    }
}
