//! `config check`'s listing: every key of every table with its effective value and where it came from,
//! made from the checked configuration's own serialization, secrets redacted.

use std::fmt::Write as _;

use serde::Serialize;

use super::schema::{self, Key};
use super::Loaded;

/// The keys of one table: `key = value  # origin`, or `# key: not set` for keys without a value.
fn table(
    out: &mut String,
    header: &str,
    keys: &[Key],
    values: &impl Serialize,
    origin: &dyn Fn(&str) -> Option<String>,
    unset: &str,
) {
    let values = toml::Table::try_from(values).unwrap_or_default();
    let _ = writeln!(out, "\n{header}");
    for key in keys {
        let origin = origin(key.name);
        match values.get(key.name) {
            Some(v) => {
                let _ = writeln!(
                    out,
                    "{} = {v}  # {}",
                    key.name,
                    origin.as_deref().unwrap_or(unset)
                );
            }
            None => {
                let _ = writeln!(out, "# {}: not set", key.name);
            }
        }
    }
}

/// The effective configuration as TOML with a comment on every line saying where its value came from:
/// a file and line, a git config key, `default`, or (for `[project]`, given in `project` with what the
/// repository says) `derived`.
pub fn effective(loaded: &Loaded, project: &schema::Project) -> String {
    let c = &loaded.config;
    let origin = |path: String| loaded.origins.get(&path).cloned();
    let mut out = String::new();
    let layers: Vec<String> = c.sources.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(out, "# layers, lowest first: {}", layers.join(" < "));
    table(
        &mut out,
        "[server]",
        schema::Server::KEYS,
        &c.server,
        &|k| origin(format!("server.{k}")),
        "default",
    );
    table(
        &mut out,
        "[project]",
        schema::Project::KEYS,
        project,
        &|k| origin(format!("project.{k}")),
        "derived",
    );
    for (login, user) in &c.users {
        table(
            &mut out,
            &format!("[users.{login}]"),
            schema::User::KEYS,
            user,
            &|k| origin(format!("users.{login}.{k}")),
            "default",
        );
    }
    #[derive(Serialize)]
    struct Payload {
        max_commits: usize,
        paths_max_commits: usize,
    }
    table(
        &mut out,
        "[payload]",
        schema::Payload::KEYS,
        &Payload {
            max_commits: c.max_commits,
            paths_max_commits: c.paths_max_commits,
        },
        &|k| origin(format!("payload.{k}")),
        "default",
    );
    table(
        &mut out,
        "[delivery]",
        schema::RawDelivery::KEYS,
        &c.delivery,
        &|k| origin(format!("delivery.{k}")),
        "default",
    );
    for e in &c.endpoints {
        let n = e.number;
        table(
            &mut out,
            &format!("[[endpoint]]  # {n}"),
            schema::RawEndpoint::KEYS,
            e,
            &|k| {
                origin(format!("endpoint.{n}.{k}")).or_else(|| {
                    (k == "timeout")
                        .then(|| origin("delivery.timeout".to_owned()))
                        .flatten()
                        .map(|o| format!("[delivery] timeout, {o}"))
                })
            },
            "default",
        );
    }
    out
}
