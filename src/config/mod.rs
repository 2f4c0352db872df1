//! The configuration: where it is looked up, its layers, and checking it into typed settings with
//! problems located by file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Serialize, Serializer};
use toml::Spanned;

use crate::env::HookEnv;
use crate::model::Visibility;

mod chat;
mod delivery;
mod destinations;
mod dialect;
mod endpoint;
mod filters;
mod layers;
mod locate;
mod queue;
pub mod schema;
mod secrets;
mod show;
mod tls;

pub use delivery::{Delivery, Mode};
pub use destinations::{Destinations, Refusal};
pub use endpoint::{mask, Endpoint, Facts, Tls};
pub use queue::Database;
pub use schema::DurationValue;
pub use show::effective;

/// The server-wide file, used when nothing more specific exists.
pub const GLOBAL_CONFIG: &str = "/etc/git-webhook/config.toml";
/// The per-repository file, inside the repository's git directory.
pub const REPO_CONFIG: &str = "webhook.toml";
/// The example configuration: every key, commented, at its default (`config example` prints it).
pub const EXAMPLE: &str = include_str!("../../config.example.toml");
/// Built-in defaults (also written in `config.example.toml`).
pub const DEFAULT_MAX_COMMITS: usize = 20;
pub const DEFAULT_PATHS_MAX_COMMITS: usize = 10_000;

/// A problem's byte offset in its layer's text, and its message.
pub(crate) type Located = (usize, String);

impl schema::Project {
    /// `visibility_level` as the model has it (checked when the file was read).
    pub fn visibility(&self) -> Visibility {
        self.visibility_level
            .as_ref()
            .and_then(|v| Visibility::from_level(*v.get_ref()))
            .unwrap_or_default()
    }
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The layers it came from, lowest first (files, and the repository's git config).
    pub sources: Vec<PathBuf>,
    pub server: schema::Server,
    pub project: schema::Project,
    pub users: BTreeMap<String, schema::User>,
    pub endpoints: Vec<Endpoint>,
    pub max_commits: usize,
    /// How many new commits of a branch update path filters look at.
    pub paths_max_commits: usize,
    pub delivery: Delivery,
    /// `[server] exclude`: repositories that send nothing.
    pub exclude: Option<globset::GlobSet>,
    /// `[server] allow_destinations` and `deny_destinations`: where requests may go.
    pub destinations: Destinations,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sources: Vec::new(),
            server: schema::Server::default(),
            project: schema::Project::default(),
            users: BTreeMap::new(),
            endpoints: Vec::new(),
            max_commits: DEFAULT_MAX_COMMITS,
            paths_max_commits: DEFAULT_PATHS_MAX_COMMITS,
            delivery: Delivery::default(),
            exclude: None,
            destinations: Destinations::default(),
        }
    }
}

impl Config {
    /// Whether `[server] exclude` leaves out the repository whose path (`acme/demo`, as payloads
    /// name it) this is.
    pub fn excludes(&self, path_with_namespace: &str) -> bool {
        self.exclude
            .as_ref()
            .is_some_and(|set| set.is_match(path_with_namespace))
    }
}

/// The settings of the tables other than endpoints, checked.
pub(crate) struct Settings {
    pub delivery: Delivery,
    pub max_commits: usize,
    pub paths_max_commits: usize,
    pub exclude: Option<globset::GlobSet>,
    pub destinations: Destinations,
}

/// A problem in a configuration layer, located by file, line, column and key (no line: git config,
/// which has no lines to name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line and column.
    pub at: Option<(usize, usize)>,
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            None => write!(f, "{}: {}: {}", self.file.display(), self.key, self.message),
            Some((line, column)) => write!(
                f,
                "{}:{line}:{column}: {}: {}",
                self.file.display(),
                self.key,
                self.message
            ),
        }
    }
}

/// Why no configuration could be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] Problem),
}

/// Nothing is configured anywhere: the files looked for (and the repository's git config).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no configuration found (looked for {} and webhook.* in git config)", .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
pub struct NotConfigured {
    pub looked: Vec<PathBuf>,
}

impl NotConfigured {
    pub fn new(explicit: Option<&Path>, env: &HookEnv, git_dir: &Path) -> NotConfigured {
        NotConfigured {
            looked: candidates(explicit, env, git_dir)
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
        }
    }
}

/// A configuration, the problems that made parts of it (endpoints) unusable, and warnings.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub problems: Vec<Problem>,
    /// Things that work but should be fixed (a world-readable file holding a secret).
    pub warnings: Vec<String>,
    /// Where each key that some layer sets was set: `delivery.timeout` -> `/etc/x.toml:4`,
    /// `endpoint.2.url` -> `git config webhook.ci.url`. Keys no layer sets have their default.
    pub origins: BTreeMap<String, String>,
}

/// The repository's `webhook.*` git config entries, as git reads them.
#[derive(Debug, Clone, Default)]
pub struct GitConfig {
    /// The repository's config file, for messages.
    pub path: PathBuf,
    pub entries: Vec<GitEntry>,
}

/// One `webhook.*` git config entry (`webhook.ci.url`, its value), and where it was set: the file,
/// or [`GIT_ENVIRONMENT`]; messages about it name that.
#[derive(Debug, Clone)]
pub struct GitEntry {
    pub name: String,
    pub value: String,
    pub from: PathBuf,
}

/// Where a git config entry given by git's environment (`git -c`, `GIT_CONFIG_COUNT`) is said to be.
pub const GIT_ENVIRONMENT: &str = "git's environment (git -c, GIT_CONFIG_COUNT)";

/// The files that make the configuration, lowest layer first, and whether each must exist: an explicit
/// `--config` (or `$GIT_WEBHOOK_CONFIG`) alone; else the server-wide file, then the repository's own.
pub fn candidates(explicit: Option<&Path>, env: &HookEnv, git_dir: &Path) -> Vec<(PathBuf, bool)> {
    if let Some(p) = explicit.or(env.config.as_deref()) {
        return vec![(p.to_path_buf(), true)];
    }
    let global = env
        .global_config
        .clone()
        .unwrap_or_else(|| PathBuf::from(GLOBAL_CONFIG));
    vec![(global, false), (git_dir.join(REPO_CONFIG), false)]
}

/// Finds and loads the configuration: the files of [`candidates`], then the repository's git config
/// (`webhook.*`), each layer overriding the keys of the ones before it and adding its endpoints.
/// `Ok(None)`: nothing is configured anywhere.
pub fn load(
    explicit: Option<&Path>,
    env: &HookEnv,
    git_dir: &Path,
    git_config: &GitConfig,
) -> Result<Option<Loaded>, ConfigError> {
    load_files(candidates(explicit, env, git_dir), Some(git_config), env)
}

/// The configuration outside any repository (a server-wide worker's, or `status` run elsewhere):
/// `--config FILE`, else the server-wide file.
pub fn load_server(explicit: Option<&Path>, env: &HookEnv) -> Result<Option<Loaded>, ConfigError> {
    let mut files = candidates(explicit, env, Path::new(""));
    files.truncate(1);
    load_files(files, None, env)
}

fn load_files(
    files: Vec<(PathBuf, bool)>,
    git_config: Option<&GitConfig>,
    env: &HookEnv,
) -> Result<Option<Loaded>, ConfigError> {
    let mut sources = Vec::new();
    for (i, (path, required)) in files.into_iter().enumerate() {
        match std::fs::read_to_string(&path) {
            // The first is the server-wide file, or the one --config names; then the repository's.
            Ok(text) if i == 0 => sources.push(layers::Source::file(path, text)),
            Ok(text) => sources.push(layers::Source::file(path, text).in_repository()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(source) => return Err(ConfigError::Read { path, source }),
        }
    }
    sources.extend(git_config.and_then(layers::Source::git_config));
    if sources.is_empty() {
        return Ok(None);
    }
    layers::assemble(sources, env).map(Some)
}

/// Parses and checks one configuration file's text on its own (as `--config` would use it).
#[cfg(test)]
pub fn parse(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    layers::assemble(
        vec![layers::Source::file(path.to_path_buf(), text.to_owned())],
        &HookEnv::default(),
    )
}

/// Checks the values of the non-endpoint tables (errors located by `problem`).
fn check_settings(
    raw: &schema::RawConfig,
    env: &BTreeMap<String, String>,
    problem: &dyn Fn(usize, String) -> Problem,
) -> Result<Settings, Problem> {
    if let Some(v) = &raw.project.visibility_level {
        if Visibility::from_level(*v.get_ref()).is_none() {
            return Err(problem(
                v.span().start,
                format!(
                    "{} is not 0 (private), 10 (internal) or 20 (public)",
                    v.get_ref()
                ),
            ));
        }
    }
    let delivery = delivery::check(&raw.delivery, env).map_err(|(offset, m)| problem(offset, m))?;
    let max_commits = match &raw.payload.max_commits {
        Some(n) if *n.get_ref() == 0 => {
            return Err(problem(n.span().start, "must be at least 1".to_owned()))
        }
        Some(n) => *n.get_ref(),
        None => DEFAULT_MAX_COMMITS,
    };
    let paths_max_commits = match &raw.payload.paths_max_commits {
        Some(n) if *n.get_ref() == 0 => {
            return Err(problem(n.span().start, "must be at least 1".to_owned()))
        }
        Some(n) => *n.get_ref(),
        None => DEFAULT_PATHS_MAX_COMMITS,
    };
    let exclude =
        match &raw.server.exclude {
            None => None,
            Some(list) => {
                let mut set = globset::GlobSetBuilder::new();
                for p in list.get_ref() {
                    let glob = globset::GlobBuilder::new(p).literal_separator(true).build();
                    set.add(glob.map_err(|e| {
                        problem(list.span().start, format!("bad pattern {p:?}: {e}"))
                    })?);
                }
                let set = set
                    .build()
                    .map_err(|e| problem(list.span().start, e.to_string()))?;
                Some(set)
            }
        };
    let list = |l: &Option<toml::Spanned<Vec<String>>>| l.as_ref().map(|l| l.get_ref().clone());
    let destinations = Destinations::new(
        list(&raw.server.allow_destinations).as_deref(),
        list(&raw.server.deny_destinations).as_deref(),
    )
    .map_err(|(key, m)| {
        let list = match key {
            "allow_destinations" => &raw.server.allow_destinations,
            _ => &raw.server.deny_destinations,
        };
        problem(list.as_ref().map_or(0, |l| l.span().start), m)
    })?;
    Ok(Settings {
        delivery,
        max_commits,
        paths_max_commits,
        exclude,
        destinations,
    })
}

pub(crate) fn duration(value: &Spanned<DurationValue>) -> Result<Duration, String> {
    let d = match value.get_ref() {
        DurationValue::Seconds(s) => Duration::from_secs(*s),
        DurationValue::Text(t) => humantime::parse_duration(t)
            .map_err(|e| format!("{t:?} is not a duration like \"10s\" or \"1m\": {e}"))?,
    };
    if d.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(d)
}

/// A duration key's value, or `default` when the key is not set.
pub(crate) fn time(
    value: &Option<Spanned<DurationValue>>,
    default: Duration,
) -> Result<Duration, Located> {
    match value {
        Some(v) => duration(v).map_err(|m| (v.span().start, m)),
        None => Ok(default),
    }
}

/// A duration as the configuration writes it: `"10s"`, `"1h 30m"`.
pub(crate) fn show_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    humantime::format_duration(*d).to_string().serialize(s)
}

pub(crate) fn show_durations<S: Serializer>(d: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(d.iter().map(|d| humantime::format_duration(*d).to_string()))
}

#[cfg(test)]
mod tests;
