//! Layered configuration: the server-wide file, the repository's file and the repository's git config
//! (`webhook.*`, as gitolite sets it), merged key by key, each layer adding its endpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::locate::{line_column, Index};
use super::schema::{self, git_config_name, Kind, RawConfig, RawEndpoint};
use super::{check_settings, endpoint, Config, ConfigError, GitConfig, Loaded, Problem};
use crate::env::HookEnv;

/// One layer of configuration, as TOML text.
pub(crate) struct Source {
    path: PathBuf,
    text: String,
    index: Index,
    /// For git config: the git key of each TOML key path (`endpoint.0.url` -> `webhook.ci.url`),
    /// with where it was set.
    git_keys: Option<BTreeMap<String, (String, PathBuf)>>,
    /// The server-wide file (or the one `--config` names): only it says where requests may go.
    server_wide: bool,
}

/// The keys only the server-wide file sets: a repository's own configuration may be written by
/// people who are not the server's admin.
const SERVER_WIDE_ONLY: &[&str] = &["allow_destinations", "deny_destinations"];

impl Source {
    pub(crate) fn file(path: PathBuf, text: String) -> Source {
        Source {
            index: Index::new(&text),
            path,
            text,
            git_keys: None,
            server_wide: true,
        }
    }

    /// The same, for a file in the repository.
    pub(crate) fn in_repository(self) -> Source {
        Source {
            server_wide: false,
            ..self
        }
    }

    /// The `webhook.*` entries of the repository's git config, as TOML: `webhook.<table>.<key>` for the
    /// tables of [`schema::GIT_CONFIG_TABLES`] and `webhook.<name>.<key>` for endpoint `<name>`, keys
    /// spelled as git config does (`secretFile`, `secret-file`). Unknown keys are kept under their own
    /// name, so the checks report them. `None` when there are none.
    pub(crate) fn git_config(config: &GitConfig) -> Option<Source> {
        let mut tables: BTreeMap<&str, toml::Table> = BTreeMap::new();
        let mut endpoints: Vec<(String, toml::Table)> = Vec::new();
        let mut git_keys = BTreeMap::new();
        for entry in &config.entries {
            let (name, value) = (&entry.name, &entry.value);
            let Some((sub, key)) = name
                .strip_prefix("webhook.")
                .and_then(|r| r.rsplit_once('.'))
            else {
                continue;
            };
            let wanted = git_config_name(key);
            let (keys, table, path) = match schema::GIT_CONFIG_TABLES
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(sub))
            {
                Some((t, keys)) => (*keys, tables.entry(t).or_default(), t.to_string()),
                None => {
                    let i = match endpoints.iter().position(|(n, _)| n == sub) {
                        Some(i) => i,
                        None => {
                            endpoints.push((sub.to_owned(), toml::Table::new()));
                            // The endpoint as a whole: where its first entry was set.
                            let i = endpoints.len() - 1;
                            let whole = (format!("webhook.{sub}"), entry.from.clone());
                            git_keys.insert(format!("endpoint.{i}"), whole);
                            i
                        }
                    };
                    (
                        RawEndpoint::KEYS,
                        &mut endpoints[i].1,
                        format!("endpoint.{i}"),
                    )
                }
            };
            // A map is given one entry at a time: `header = Name: value` for `headers`.
            let (field, kind) = keys
                .iter()
                .find(|k| {
                    git_config_name(k.name) == wanted
                        || (k.kind == Kind::Map
                            && git_config_name(k.name.trim_end_matches('s')) == wanted)
                })
                .map_or((wanted.as_str(), Kind::Text), |k| (k.name, k.kind));
            put(table, field, kind, value);
            git_keys.insert(
                format!("{path}.{field}"),
                (name.clone(), entry.from.clone()),
            );
        }
        if tables.is_empty() && endpoints.is_empty() {
            return None;
        }
        let mut root: toml::Table = tables
            .into_iter()
            .map(|(name, t)| (name.to_owned(), toml::Value::Table(t)))
            .collect();
        root.insert(
            "endpoint".into(),
            toml::Value::Array(
                endpoints
                    .into_iter()
                    .map(|(_, t)| toml::Value::Table(t))
                    .collect(),
            ),
        );
        let text = toml::to_string(&root).unwrap_or_default();
        Some(Source {
            index: Index::new(&text),
            path: config.path.clone(),
            text,
            git_keys: Some(git_keys),
            server_wide: false,
        })
    }

    /// A problem at `offset` of this layer's text.
    fn problem(&self, offset: usize, message: String) -> Problem {
        match &self.git_keys {
            None => Problem {
                file: self.path.clone(),
                at: Some(line_column(&self.text, offset)),
                key: self.index.key_at(&self.text, offset),
                message,
            },
            Some(keys) => {
                let path = self.index.path_at(&self.text, offset);
                let (key, file) = keys
                    .get(&path)
                    .or_else(|| keys.get(path.rsplit_once('.').map_or("", |(t, _)| t)))
                    .cloned()
                    .unwrap_or_else(|| ("webhook".to_owned(), self.path.clone()));
                Problem {
                    file,
                    at: None,
                    key,
                    message,
                }
            }
        }
    }

    /// Where this layer sets `path` (`endpoint.0.url`), as `config check` names it.
    fn origin(&self, path: &str, offset: usize) -> String {
        match &self.git_keys {
            None => format!(
                "{}:{}",
                self.path.display(),
                line_column(&self.text, offset).0
            ),
            Some(keys) => format!(
                "git config {}",
                keys.get(path).map_or(path, |(key, _)| key.as_str())
            ),
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

/// A type error as a person reads it: `expected usize` is `expected a whole number`.
fn plain(message: &str) -> String {
    let mut text = message.to_owned();
    for (rust, words) in [
        ("expected usize", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected u8", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
    ] {
        text = text.replace(rust, words);
    }
    text
}

fn world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

/// Takes out of a repository's layer the keys only the server-wide file sets, saying so for each.
fn drop_server_wide_keys(
    source: &Source,
    table: &mut toml::Table,
    raw: &mut RawConfig,
) -> Vec<String> {
    raw.server.allow_destinations = None;
    raw.server.deny_destinations = None;
    let Some(toml::Value::Table(server)) = table.get_mut("server") else {
        return Vec::new();
    };
    SERVER_WIDE_ONLY
        .iter()
        .filter(|key| server.remove(**key).is_some())
        .map(|key| {
            let at = match &source.git_keys {
                Some(_) => format!("{} (git config)", source.path.display()),
                None => source.path.display().to_string(),
            };
            format!(
                "{at}: [server] {key} is read from the server-wide file only, never from a repository's own configuration: ignored"
            )
        })
        .collect()
}

/// Checks every layer on its own (so problems name their file and line), then merges them.
pub(crate) fn assemble(sources: Vec<Source>, env: &HookEnv) -> Result<Loaded, ConfigError> {
    let mut merged = toml::Table::new();
    let mut layers = Vec::new();
    let mut warnings = Vec::new();
    let mut origins = BTreeMap::new();
    let mut endpoints_before = 0;
    for source in sources {
        let located = |e: toml::de::Error| {
            source.problem(
                e.span().map_or(0, |s| s.start),
                plain(&e.message().trim().replace('\n', "; ")),
            )
        };
        let mut table: toml::Table = toml::from_str(&source.text).map_err(located)?;
        let mut raw: RawConfig = toml::from_str(&source.text).map_err(located)?;
        if !source.server_wide {
            warnings.extend(drop_server_wide_keys(&source, &mut table, &mut raw));
        }
        check_settings(&raw, &env.vars, &|offset, m| source.problem(offset, m))?;
        let inline = raw.endpoints.iter().any(RawEndpoint::has_inline_secret)
            || raw.delivery.has_inline_secret();
        if source.git_keys.is_none() && inline && world_readable(&source.path) {
            warnings.push(format!(
                "{} holds a secret and every user of this machine can read it: `chmod o-r` it, or use secret_file or secret_env (queue_password_file or queue_password_env for the queue's password)",
                source.path.display()
            ));
        }
        let secret_files = raw
            .endpoints
            .iter()
            .flat_map(|e| {
                [
                    ("secret_file", &e.secret_file),
                    ("client_key", &e.client_key),
                ]
            })
            .chain([("queue_password_file", &raw.delivery.queue_password_file)]);
        for (key, file) in secret_files {
            if let Some(f) = file.as_ref().filter(|f| world_readable(f.get_ref())) {
                warnings.push(format!(
                    "{}: {key} {} can be read by every user of this machine: `chmod o-r` it",
                    source.path.display(),
                    f.get_ref().display()
                ));
            }
        }
        for (path, offset) in source.index.keys() {
            // Endpoints are numbered across layers, from 1.
            let global = match path.strip_prefix("endpoint.").map(|r| r.split_once('.')) {
                Some(Some((i, key))) => match i.parse::<usize>() {
                    Ok(i) => format!("endpoint.{}.{key}", endpoints_before + i + 1),
                    Err(_) => path.to_owned(),
                },
                _ => path.to_owned(),
            };
            origins.insert(global, source.origin(path, offset));
        }
        endpoints_before += raw.endpoints.len();
        table.remove("endpoint");
        merge(&mut merged, table);
        layers.push((source, raw));
    }
    let text = toml::to_string(&merged).unwrap_or_default();
    let last = layers
        .last()
        .map(|(s, _)| s.path.clone())
        .unwrap_or_default();
    let whole = |m: String| Problem {
        file: last.clone(),
        at: None,
        key: "(merged configuration)".to_owned(),
        message: m,
    };
    let base: RawConfig = toml::from_str(&text).map_err(|e| whole(e.message().to_owned()))?;
    let settings = check_settings(&base, &env.vars, &|_, m| whole(m))?;
    let delivery = settings.delivery;
    let (mut endpoints, mut problems) = (Vec::new(), Vec::new());
    for (source, raw) in &mut layers {
        for (i, e) in std::mem::take(&mut raw.endpoints).into_iter().enumerate() {
            let at_table = source.index.header(&format!("endpoint.{i}")).unwrap_or(0);
            let number = endpoints.len() + problems.len() + 1;
            match endpoint::check(number, e, at_table, delivery.timeout, &env.vars) {
                Ok(e) => endpoints.push(e),
                Err((offset, m)) => problems.push(source.problem(offset, m)),
            }
        }
    }
    let config = Config {
        sources: layers.iter().map(|(s, _)| s.path.clone()).collect(),
        server: base.server,
        project: base.project,
        users: base.users,
        endpoints,
        max_commits: settings.max_commits,
        paths_max_commits: settings.paths_max_commits,
        delivery,
        exclude: settings.exclude,
        destinations: settings.destinations,
    };
    Ok(Loaded {
        config,
        problems,
        warnings,
        origins,
    })
}

/// Sets `key` of `table` from a git-config string, as the TOML type `kind` says.
fn put(table: &mut toml::Table, key: &str, kind: Kind, value: &str) {
    let v = value.trim();
    let parsed = match kind {
        Kind::Text => None,
        Kind::Int => v.parse::<i64>().ok().map(toml::Value::from),
        Kind::Float => v.parse::<f64>().ok().map(toml::Value::from),
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true.into()),
            "false" | "no" | "off" | "0" => Some(false.into()),
            _ => None,
        },
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
            return;
        }
        Kind::Map => {
            let map = table
                .entry(key)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let (toml::Value::Table(m), Some((name, value))) = (map, v.split_once(':')) {
                m.insert(name.trim().to_owned(), value.trim().into());
            }
            return;
        }
    };
    // A value of the wrong shape stays text, so the check names the key and what is wrong with it.
    table.insert(key.to_owned(), parsed.unwrap_or_else(|| v.into()));
}
