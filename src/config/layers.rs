//! Layered configuration: the server-wide file, the repository's file and the repository's git config
//! (`webhook.*`, as gitolite sets it), merged key by key, each layer adding its endpoints.

use std::path::{Path, PathBuf};

use super::{check_settings, endpoint, locate, Config, ConfigError, Loaded, Problem, RawConfig};
use crate::env::HookEnv;

/// One layer of configuration, as TOML text.
pub(crate) enum Source {
    File {
        path: PathBuf,
        text: String,
    },
    /// `webhook.*` entries of the repository's git config, turned into TOML; `names` are the endpoint
    /// names (`webhook.<name>.url`) in order, for messages.
    GitConfig {
        path: PathBuf,
        text: String,
        names: Vec<String>,
    },
}

impl Source {
    fn path(&self) -> &Path {
        match self {
            Source::File { path, .. } | Source::GitConfig { path, .. } => path,
        }
    }

    fn text(&self) -> &str {
        match self {
            Source::File { text, .. } | Source::GitConfig { text, .. } => text,
        }
    }

    /// A problem at `offset` of this layer's text (for git config: the endpoint's key, as no lines exist).
    fn problem(&self, offset: usize, endpoint: Option<usize>, message: String) -> Problem {
        match self {
            Source::File { path, text } => {
                let (line, column, key) = locate(text, offset);
                Problem {
                    file: path.clone(),
                    line,
                    column,
                    key,
                    message,
                }
            }
            Source::GitConfig { path, names, .. } => {
                let key = endpoint
                    .and_then(|i| names.get(i))
                    .map_or_else(|| "webhook".to_owned(), |n| format!("webhook.{n}"));
                Problem {
                    file: path.clone(),
                    line: 0,
                    column: 0,
                    key,
                    message,
                }
            }
        }
    }
}

/// Values a table of the later layer overrides in the earlier one; tables merge key by key.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

fn world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

/// Checks every layer on its own (so problems name their file and line), then merges them.
pub(crate) fn assemble(sources: Vec<Source>, env: &HookEnv) -> Result<Loaded, ConfigError> {
    let mut merged = toml::Table::new();
    let mut layers = Vec::new();
    let mut warnings = Vec::new();
    for source in sources {
        let located = |e: toml::de::Error| {
            source.problem(
                e.span().map_or(0, |s| s.start),
                None,
                e.message().trim().replace('\n', "; "),
            )
        };
        let mut table: toml::Table = toml::from_str(source.text()).map_err(located)?;
        let raw: RawConfig = toml::from_str(source.text()).map_err(located)?;
        check_settings(&raw, &|offset, m| source.problem(offset, None, m))?;
        if matches!(source, Source::File { .. })
            && raw
                .endpoints
                .iter()
                .any(endpoint::RawEndpoint::has_inline_secret)
            && world_readable(source.path())
        {
            warnings.push(format!(
                "{} holds a secret and every user of this machine can read it: `chmod o-r` it, or use secret_file or secret_env",
                source.path().display()
            ));
        }
        table.remove("endpoint");
        merge(&mut merged, table);
        layers.push((source, raw));
    }
    let text = toml::to_string(&merged).unwrap_or_default();
    let last = layers
        .last()
        .map(|(s, _)| s.path().to_path_buf())
        .unwrap_or_default();
    let whole = |m: String| Problem {
        file: last.clone(),
        line: 0,
        column: 0,
        key: "(merged configuration)".to_owned(),
        message: m,
    };
    let base: RawConfig = toml::from_str(&text).map_err(|e| whole(e.message().to_owned()))?;
    let (delivery, max_commits) = check_settings(&base, &|_, m| whole(m))?;
    let (mut endpoints, mut problems) = (Vec::new(), Vec::new());
    for (source, raw) in &mut layers {
        for (i, e) in std::mem::take(&mut raw.endpoints).into_iter().enumerate() {
            match endpoint::check(
                endpoints.len() + problems.len() + 1,
                e,
                delivery.timeout,
                &env.vars,
            ) {
                Ok(e) => endpoints.push(e),
                Err((offset, m)) => problems.push(source.problem(offset, Some(i), m)),
            }
        }
    }
    let config = Config {
        sources: layers.iter().map(|(s, _)| s.path().to_path_buf()).collect(),
        server: base.server,
        project: base.project,
        users: base.users,
        endpoints,
        max_commits,
        delivery,
    };
    Ok(Loaded {
        config,
        problems,
        warnings,
    })
}

/// Endpoint keys as git config spells them (lower case, no `_`), and whether each takes a list.
const ENDPOINT_KEYS: &[(&str, &str, Kind)] = &[
    ("url", "url", Kind::Text),
    ("format", "format", Kind::Text),
    ("secret", "secret", Kind::Text),
    ("secretfile", "secret_file", Kind::Text),
    ("secretenv", "secret_env", Kind::Text),
    ("secretmode", "secret_mode", Kind::Text),
    ("events", "events", Kind::List),
    ("branches", "branches", Kind::List),
    ("tags", "tags", Kind::List),
    ("timeout", "timeout", Kind::Text),
    ("tlsverify", "tls_verify", Kind::Bool),
    ("cafile", "ca_file", Kind::Text),
    ("clientcert", "client_cert", Kind::Text),
    ("clientkey", "client_key", Kind::Text),
    ("header", "headers", Kind::Header),
];
const PROJECT_KEYS: &[(&str, &str, Kind)] = &[
    ("name", "name", Kind::Text),
    ("namespace", "namespace", Kind::Text),
    ("weburl", "web_url", Kind::Text),
    ("githttpurl", "git_http_url", Kind::Text),
    ("gitsshurl", "git_ssh_url", Kind::Text),
    ("id", "id", Kind::Int),
    ("description", "description", Kind::Text),
    ("visibilitylevel", "visibility_level", Kind::Int),
    ("defaultbranch", "default_branch", Kind::Text),
    ("avatarurl", "avatar_url", Kind::Text),
];

const DELIVERY_KEYS: &[(&str, &str, Kind)] = &[
    ("mode", "mode", Kind::Text),
    ("timeout", "timeout", Kind::Text),
    ("retryschedule", "retry_schedule", Kind::List),
    ("retryjitter", "retry_jitter", Kind::Float),
    ("maxparallel", "max_parallel", Kind::Int),
    ("spooldir", "spool_dir", Kind::Text),
    ("maxjobs", "max_jobs", Kind::Int),
    ("maxage", "max_age", Kind::Text),
    ("updatewait", "update_wait", Kind::Text),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    Float,
    Bool,
    /// Repeated entries or comma-separated values.
    List,
    /// `Name: value`, repeated.
    Header,
}

fn put(table: &mut toml::Table, key: &str, kind: Kind, value: &str) {
    let v = value.trim();
    match kind {
        Kind::Text => {
            table.insert(key.to_owned(), v.into());
        }
        Kind::Int => {
            table.insert(
                key.to_owned(),
                v.parse::<i64>()
                    .map_or_else(|_| toml::Value::from(v), toml::Value::from),
            );
        }
        Kind::Float => {
            table.insert(
                key.to_owned(),
                v.parse::<f64>()
                    .map_or_else(|_| toml::Value::from(v), toml::Value::from),
            );
        }
        Kind::Bool => {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => toml::Value::from(true),
                "false" | "no" | "off" | "0" => toml::Value::from(false),
                _ => toml::Value::from(v),
            };
            table.insert(key.to_owned(), b);
        }
        Kind::List => {
            let list = table
                .entry(key)
                .or_insert_with(|| toml::Value::Array(Vec::new()));
            if let toml::Value::Array(a) = list {
                a.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(toml::Value::from),
                );
            }
        }
        Kind::Header => {
            let headers = table
                .entry(key)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let (toml::Value::Table(h), Some((name, value))) = (headers, v.split_once(':')) {
                h.insert(name.trim().to_owned(), value.trim().into());
            }
        }
    }
}

/// The repository's `webhook.*` git config (its own, the user's and the system's, as git reads them):
/// `webhook.<name>.url` and the other endpoint keys, `webhook.project.<key>` and `webhook.delivery.<key>`
/// for those tables (`webUrl` or `web-url` for `web_url`).
/// Unknown keys are kept under their own name, so the checks report them.
pub(crate) fn git_config(git_dir: &Path) -> Option<Source> {
    let repo = git2::Repository::open_bare(git_dir)
        .or_else(|_| git2::Repository::open(git_dir))
        .ok()?;
    let config = repo.config().ok()?.snapshot().ok()?;
    let mut project = toml::Table::new();
    let mut delivery = toml::Table::new();
    let mut endpoints: Vec<(String, toml::Table)> = Vec::new();
    let mut entries = config.entries(Some("^webhook\\.")).ok()?;
    while let Some(Ok(entry)) = entries.next() {
        let (Ok(name), Ok(value)) = (entry.name(), entry.value()) else {
            continue;
        };
        let Some((sub, key)) = name
            .strip_prefix("webhook.")
            .and_then(|r| r.rsplit_once('.'))
        else {
            continue;
        };
        let key = key.to_ascii_lowercase().replace(['-', '_'], "");
        let (keys, table) = if sub == "project" {
            (PROJECT_KEYS, &mut project)
        } else if sub == "delivery" {
            (DELIVERY_KEYS, &mut delivery)
        } else {
            let i = match endpoints.iter().position(|(n, _)| n == sub) {
                Some(i) => i,
                None => {
                    endpoints.push((sub.to_owned(), toml::Table::new()));
                    endpoints.len() - 1
                }
            };
            (ENDPOINT_KEYS, &mut endpoints[i].1)
        };
        match keys.iter().find(|(k, _, _)| *k == key) {
            Some((_, field, kind)) => put(table, field, *kind, value),
            None => put(table, &key, Kind::Text, value),
        }
    }
    if project.is_empty() && delivery.is_empty() && endpoints.is_empty() {
        return None;
    }
    let mut root = toml::Table::new();
    for (name, table) in [("project", project), ("delivery", delivery)] {
        if !table.is_empty() {
            root.insert(name.into(), toml::Value::Table(table));
        }
    }
    let names = endpoints.iter().map(|(n, _)| n.clone()).collect();
    root.insert(
        "endpoint".into(),
        toml::Value::Array(
            endpoints
                .into_iter()
                .map(|(_, t)| toml::Value::Table(t))
                .collect(),
        ),
    );
    let path = repo.path().join("config");
    Some(Source::GitConfig {
        path,
        text: toml::to_string(&root).unwrap_or_default(),
        names,
    })
}
