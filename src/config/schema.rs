//! The configuration schema, stated once: every table and key with its type and doc line. The serde
//! structs below are what files are parsed into; their key lists drive the git-config names
//! (`webhook.<endpoint>.secretFile`), `config check`'s listing and the check of `config.example.toml`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::secret::Secret;

/// The shape of a key's value, which says how a git-config string becomes a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Float,
    Bool,
    /// Repeated entries or comma-separated values.
    List,
    /// `Name: value` entries (headers).
    Map,
}

/// One key of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// The first line of its documentation.
    pub doc: &'static str,
}

/// The value shape of a Rust type used in the schema.
pub trait Typed {
    const KIND: Kind;
}

macro_rules! typed {
    ($kind:ident: $($t:ty),*) => { $(impl Typed for $t { const KIND: Kind = Kind::$kind; })* };
}
typed!(Text: String, PathBuf, Secret, DurationValue);
typed!(Int: u8, u64, usize);
typed!(Float: f64);
typed!(Bool: bool);
typed!(List: Vec<String>, Vec<DurationValue>);
typed!(Map: BTreeMap<String, String>);

impl<T: Typed> Typed for Spanned<T> {
    const KIND: Kind = T::KIND;
}

/// Declares a table: its struct (every key optional, unknown keys refused) and its key list.
macro_rules! table {
    ($(#[doc = $tdoc:literal])* $name:ident { $( #[doc = $doc:literal] $(#[doc = $more:literal])* $field:ident: $ty:ty ),* $(,)? }) => {
        $(#[doc = $tdoc])*
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( #[doc = $doc] $(#[doc = $more])* #[serde(skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>, )*
        }

        impl $name {
            /// Every key of the table, in documentation order.
            pub const KEYS: &'static [Key] = &[
                $( Key { name: stringify!($field), kind: <$ty as Typed>::KIND, doc: $doc.trim_ascii() }, )*
            ];
        }
    };
}

/// A duration: seconds, or text like `"10s"`, `"1m 30s"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DurationValue {
    Seconds(u64),
    Text(String),
}

table! {
    /// `[server]`: what a server-wide file says about every repository on the machine.
    Server {
        /// The web address repositories are served under: `https://git.example.com`.
        base_url: String,
        /// The directory holding the repositories: `<root>/acme/demo.git` is `acme/demo`.
        repos_root: PathBuf,
        /// Repositories that send nothing, as globs over their path (`gitolite-admin`, `private/**`).
        exclude: Spanned<Vec<String>>,
        /// Only these destinations (address ranges, hosts, `*.domain`, named sets); read from the
        /// server-wide file only.
        allow_destinations: Spanned<Vec<String>>,
        /// Never these destinations; read from the server-wide file only.
        deny_destinations: Spanned<Vec<String>>,
    }
}

table! {
    /// `[project]`: how the repository is described in payloads. Missing keys are derived.
    Project {
        /// The project's name (default: the repository directory without `.git`).
        name: String,
        /// Its namespace: `acme` in `acme/demo` (default: the parent directory).
        namespace: String,
        /// Its web page (default: `[server] base_url` + path, or `http://<host name>/<path>`).
        web_url: String,
        /// The HTTP clone URL (default: `web_url` + `.git`).
        git_http_url: String,
        /// The SSH clone URL (default: `git@<host>:<path>.git`).
        git_ssh_url: String,
        /// The numeric project id (default: a stable hash of the path).
        id: u64,
        /// A description (default: the repository's `description` file).
        description: String,
        /// 0 private, 10 internal, 20 public (default 0).
        visibility_level: Spanned<u8>,
        /// The default branch (default: the branch HEAD names).
        default_branch: String,
        /// An avatar image URL.
        avatar_url: String,
    }
}

table! {
    /// `[users.<login>]`: the identity payloads give a pusher who logged in as `<login>`.
    User {
        /// Display name.
        name: String,
        /// E-mail address; commits by this address are attributed to the login.
        email: String,
        /// Numeric user id (default: a stable hash of the login).
        id: u64,
        /// The username payloads show (default: the login).
        username: String,
        /// An avatar image URL.
        avatar_url: String,
    }
}

table! {
    /// `[payload]`: what bodies carry.
    Payload {
        /// The newest commits listed per event (default 20); `total_commits_count` stays the true count.
        max_commits: Spanned<usize>,
        /// How many new commits of a branch update endpoints' `paths` look at (default 10000); past them, they get it.
        paths_max_commits: Spanned<usize>,
    }
}

table! {
    /// `[delivery]`: how and when requests go out.
    RawDelivery {
        /// `async` (queue, send in the background), `sync` (send before the push returns) or `queue`.
        mode: Spanned<String>,
        /// Time allowed for one request (default 10s); an endpoint's `timeout` overrides it.
        timeout: Spanned<DurationValue>,
        /// The delays before each retry (default 10s, 1m, 5m, 30m, 2h, 6h).
        retry_schedule: Spanned<Vec<DurationValue>>,
        /// Each delay moves by up to this fraction either way (default 0.2).
        retry_jitter: Spanned<f64>,
        /// Endpoints sent to at once (default 64).
        max_parallel: Spanned<usize>,
        /// The spool directory, relative to the repository's git directory (default `webhook`).
        spool_dir: PathBuf,
        /// Queued jobs beyond this push out the oldest (default 10000).
        max_jobs: Spanned<usize>,
        /// Jobs older than this are given up (default 7 days).
        max_age: Spanned<DurationValue>,
        /// How long an `update`-hook event waits for its push to complete (default 1m).
        update_wait: Spanned<DurationValue>,
        /// An endpoint is paused after this many failed attempts in a row (default 20; 0: never).
        pause_after: Spanned<usize>,
        /// ... when they span at least this long (default 30m).
        pause_period: Spanned<DurationValue>,
        /// Where jobs wait: `spool` (files under each repository, the default) or a shared PostgreSQL
        /// database, `postgres://user@host:5432/db` (`?host=/run/postgresql` for a unix socket).
        queue: Spanned<String>,
        /// A file holding the database password.
        queue_password_file: Spanned<PathBuf>,
        /// An environment variable holding the database password.
        queue_password_env: Spanned<String>,
        /// CA certificates (PEM) to trust for the database's TLS, besides the system's.
        queue_ca_file: Spanned<PathBuf>,
        /// How long a database worker's claims outlive it (default 30s): then another takes them.
        queue_lease: Spanned<DurationValue>,
        /// How long the database keeps the delivery log and finished jobs (default 30 days).
        queue_retention: Spanned<DurationValue>,
    }
}

table! {
    /// `[[endpoint]]`: one receiver.
    RawEndpoint {
        /// Where requests go; `user:password@` becomes HTTP Basic auth.
        url: Spanned<String>,
        /// The webhook format (default `gitlab`).
        format: Spanned<String>,
        /// The secret, carried the way the format's forge does it.
        secret: Spanned<Secret>,
        /// A file holding the secret (trailing newline dropped).
        secret_file: Spanned<PathBuf>,
        /// An environment variable holding the secret.
        secret_env: Spanned<String>,
        /// `password` (default) or `sign`, for formats that sign.
        secret_mode: Spanned<String>,
        /// The next secret while the secret is rotated: each request is signed with both
        /// (standard-webhooks).
        secret_next: Spanned<Secret>,
        /// A file holding the next secret.
        secret_next_file: Spanned<PathBuf>,
        /// An environment variable holding the next secret.
        secret_next_env: Spanned<String>,
        /// An Ed25519 key (`git-webhook key new FILE`) that also signs each request, verified with its
        /// public key (standard-webhooks `v1a`).
        signing_key_file: Spanned<PathBuf>,
        /// Which events to send: `push`, `tag_push` (default both).
        events: Spanned<Vec<String>>,
        /// Glob filter on branch names (default: all).
        branches: Spanned<Vec<String>>,
        /// Glob filter on tag names (default: all).
        tags: Spanned<Vec<String>>,
        /// Branch pushes only when a new commit changed a file matching one of these globs.
        paths: Spanned<Vec<String>>,
        /// Branch pushes only when a new commit changed a file matching none of these globs.
        paths_ignore: Spanned<Vec<String>>,
        /// Time allowed for one request (default `[delivery] timeout`).
        timeout: Spanned<DurationValue>,
        /// Extra request headers; a format's own headers win over these.
        headers: Spanned<BTreeMap<String, String>>,
        /// `false` accepts any TLS certificate (default true).
        tls_verify: bool,
        /// Extra CA certificates (PEM) to trust.
        ca_file: Spanned<PathBuf>,
        /// A client certificate (PEM), with `client_key`.
        client_cert: Spanned<PathBuf>,
        /// The client certificate's key (PEM).
        client_key: Spanned<PathBuf>,
        /// At most this many requests: `20/min`, `1/s`, `off` (default: the format's vendor limit).
        rate_limit: Spanned<String>,
        /// `true`: nothing for a branch created without new commits (default false).
        skip_empty: bool,
        /// Chat formats: all refs of one push in one message (default: a message per ref).
        one_message: bool,
        /// Chat formats: the message template (minijinja), instead of the built-in one.
        template: Spanned<String>,
        /// Chat formats: a file holding the message template.
        template_file: Spanned<PathBuf>,
        /// Telegram: the chat to post to (its id, or `@channelname`).
        chat_id: Spanned<String>,
        /// `cdevents` formats: the CDEvents release, `0.5.1` (default) or `0.4.1` (Flux).
        cdevents_version: Spanned<String>,
        /// `custom` formats: the HTTP method, `POST` (default), `PUT` or `GET`.
        method: Spanned<String>,
        /// `custom` formats: query parameters, each a template; one that renders empty is left out.
        query: Spanned<BTreeMap<String, String>>,
        /// `custom` formats: the body, a template (in a JSON body every value prints as JSON).
        body: Spanned<String>,
        /// `custom` formats: the body's `Content-Type`.
        content_type: Spanned<String>,
        /// `custom` formats: the query parameter that carries the secret.
        secret_query: Spanned<String>,
        /// `custom` formats: the header that carries the secret, after `secret_prefix`.
        secret_header: Spanned<String>,
        /// `custom` formats: what comes before the secret in `secret_header` (`Bearer `).
        secret_prefix: Spanned<String>,
        /// `custom` formats: the header that carries a signature of the body instead of the secret.
        signature_header: Spanned<String>,
        /// `custom` formats: `hmac-sha256-hex` (default), `hmac-sha256-base64`, `hmac-sha1-hex`, `hmac-sha1-base64`.
        signature: Spanned<String>,
        /// `custom` formats: what comes before the signature (`sha256=`).
        signature_prefix: Spanned<String>,
    }
}

impl RawEndpoint {
    /// Whether the secret (or a URL password) is written in the file itself.
    pub(crate) fn has_inline_secret(&self) -> bool {
        self.secret.is_some()
            || self.secret_next.is_some()
            || self
                .url
                .as_ref()
                .and_then(|u| url::Url::parse(u.get_ref()).ok())
                .is_some_and(|u| u.password().is_some())
    }
}

impl RawDelivery {
    /// Whether the queue's URL holds its password.
    pub(crate) fn has_inline_secret(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| {
            let url = q.get_ref();
            let authority = url.split_once("://").map_or("", |(_, rest)| rest);
            let authority = authority.split(['/', '?']).next().unwrap_or("");
            authority
                .rsplit_once('@')
                .is_some_and(|(user, _)| user.contains(':'))
                || url.contains("password=")
        })
    }
}

/// A whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub project: Project,
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    #[serde(default)]
    pub payload: Payload,
    #[serde(default)]
    pub delivery: RawDelivery,
    #[serde(default, rename = "endpoint")]
    pub endpoints: Vec<RawEndpoint>,
}

/// The tables git config can set as `webhook.<table>.<key>`; any other `webhook.<name>.<key>` is an endpoint.
pub const GIT_CONFIG_TABLES: &[(&str, &[Key])] = &[
    ("server", Server::KEYS),
    ("project", Project::KEYS),
    ("payload", Payload::KEYS),
    ("delivery", RawDelivery::KEYS),
];

/// A key as git config spells it: case-insensitive, without `_` (`secretfile` for `secret_file`).
pub fn git_config_name(key: &str) -> String {
    key.to_ascii_lowercase().replace(['-', '_'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_structs() {
        let names: Vec<&str> = RawEndpoint::KEYS.iter().map(|k| k.name).collect();
        assert_eq!(names[..3], ["url", "format", "secret"]);
        let find = |n: &str| RawEndpoint::KEYS.iter().find(|k| k.name == n).unwrap();
        assert_eq!(find("branches").kind, Kind::List);
        assert_eq!(find("headers").kind, Kind::Map);
        assert_eq!(find("tls_verify").kind, Kind::Bool);
        assert_eq!(find("timeout").kind, Kind::Text);
        assert_eq!(
            find("url").doc,
            "Where requests go; `user:password@` becomes HTTP Basic auth."
        );
        assert_eq!(git_config_name("secret_file"), "secretfile");
        assert_eq!(git_config_name("Web-Url"), "weburl");
    }
}
