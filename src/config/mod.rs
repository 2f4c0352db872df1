//! The configuration file: where it is looked up, and parsing with file/line/key errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::env::HookEnv;

mod delivery;
mod endpoint;

pub use delivery::{Delivery, Mode};
pub use endpoint::{mask, BranchFilter, Endpoint};

/// The server-wide file, used when nothing more specific exists.
pub const GLOBAL_CONFIG: &str = "/etc/git-webhook/config.toml";
/// The per-repository file, inside the repository's git directory.
pub const REPO_CONFIG: &str = "webhook.toml";
/// Built-in defaults (also written in `config.example.toml`).
pub const DEFAULT_MAX_COMMITS: usize = 20;

/// `[project]`: how the repository is described in payloads. Missing keys are derived (see `project.rs`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub web_url: Option<String>,
    pub git_http_url: Option<String>,
    pub git_ssh_url: Option<String>,
    pub id: Option<u64>,
    pub description: Option<String>,
    pub visibility_level: Option<Spanned<u8>>,
    pub default_branch: Option<String>,
    pub avatar_url: Option<String>,
}

/// `[users.<login>]`: the identity payloads give a pusher who logged in as `<login>`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: Option<String>,
    pub email: Option<String>,
    pub id: Option<u64>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum DurationValue {
    Seconds(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPayload {
    max_commits: Option<Spanned<usize>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    project: ProjectConfig,
    #[serde(default)]
    users: BTreeMap<String, UserConfig>,
    #[serde(default)]
    delivery: delivery::RawDelivery,
    #[serde(default)]
    payload: RawPayload,
    #[serde(default, rename = "endpoint")]
    endpoints: Vec<endpoint::RawEndpoint>,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (`None`: built-in defaults, no file found).
    pub path: Option<PathBuf>,
    pub project: ProjectConfig,
    pub users: BTreeMap<String, UserConfig>,
    pub endpoints: Vec<Endpoint>,
    pub max_commits: usize,
    pub delivery: Delivery,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            path: None,
            project: ProjectConfig::default(),
            users: BTreeMap::new(),
            endpoints: Vec::new(),
            max_commits: DEFAULT_MAX_COMMITS,
            delivery: Delivery::default(),
        }
    }
}

/// A problem in a configuration file, located by file, line, column and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {key}: {message}", file.display())]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
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

/// A configuration and the problems that made parts of it (endpoints) unusable.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub problems: Vec<Problem>,
}

/// The files looked at, in order; the first that exists is used. An explicit `--config` is always used.
pub fn candidates(explicit: Option<&Path>, env: &HookEnv, git_dir: &Path) -> Vec<(PathBuf, bool)> {
    if let Some(p) = explicit.or(env.config.as_deref()) {
        return vec![(p.to_path_buf(), true)];
    }
    let global = env
        .global_config
        .clone()
        .unwrap_or_else(|| PathBuf::from(GLOBAL_CONFIG));
    vec![(git_dir.join(REPO_CONFIG), false), (global, false)]
}

/// Finds and loads the configuration. `Ok(None)`: no file exists (nothing is configured).
pub fn load(
    explicit: Option<&Path>,
    env: &HookEnv,
    git_dir: &Path,
) -> Result<Option<Loaded>, ConfigError> {
    for (path, required) in candidates(explicit, env, git_dir) {
        match std::fs::read_to_string(&path) {
            Ok(text) => return parse(&text, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(source) => return Err(ConfigError::Read { path, source }),
        }
    }
    Ok(None)
}

/// Locates a byte offset of `text` as 1-based line and column, and names the key written on that line.
fn locate(text: &str, offset: usize) -> (usize, usize, String) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let header = |l: &str| {
        l.trim()
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_owned()
    };
    let this_line = text[line_start..].lines().next().unwrap_or_default();
    if this_line.trim_start().starts_with('[') {
        return (line, column, header(this_line));
    }
    let table = before[..line_start]
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .map(header);
    let key = this_line
        .split_once('=')
        .map(|(k, _)| k.trim().to_owned())
        .unwrap_or_default();
    let full = match (table, key.is_empty()) {
        (Some(t), false) => format!("{t}.{key}"),
        (Some(t), true) => t,
        (None, false) => key,
        (None, true) => "(top level)".to_owned(),
    };
    (line, column, full)
}

/// Parses and checks one configuration file's text. Syntax errors and unknown keys reject the file;
/// a bad value inside one `[[endpoint]]` only drops that endpoint (reported in `problems`).
pub fn parse(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    let problem = |offset: usize, message: String| {
        let (line, column, key) = locate(text, offset);
        Problem {
            file: path.to_path_buf(),
            line,
            column,
            key,
            message,
        }
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        problem(offset, e.message().trim().replace('\n', "; "))
    })?;
    let mut problems = Vec::new();
    if let Some(v) = &raw.project.visibility_level {
        if ![0, 10, 20].contains(v.get_ref()) {
            return Err(problem(
                v.span().start,
                format!(
                    "{} is not 0 (private), 10 (internal) or 20 (public)",
                    v.get_ref()
                ),
            )
            .into());
        }
    }
    let delivery = delivery::check(&raw.delivery).map_err(|(offset, m)| problem(offset, m))?;
    let max_commits = match &raw.payload.max_commits {
        Some(n) if *n.get_ref() == 0 => {
            return Err(problem(n.span().start, "must be at least 1".to_owned()).into())
        }
        Some(n) => *n.get_ref(),
        None => DEFAULT_MAX_COMMITS,
    };
    let mut endpoints = Vec::new();
    for (i, raw) in raw.endpoints.into_iter().enumerate() {
        match endpoint::check(i + 1, raw, delivery.timeout) {
            Ok(e) => endpoints.push(e),
            Err((offset, message)) => problems.push(problem(offset, message)),
        }
    }
    let config = Config {
        path: Some(path.to_path_buf()),
        project: raw.project,
        users: raw.users,
        endpoints,
        max_commits,
        delivery,
    };
    Ok(Loaded { config, problems })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Loaded, ConfigError> {
        parse(text, Path::new("/etc/x.toml"))
    }

    fn error(text: &str) -> String {
        match parse_str(text) {
            Err(e) => e.to_string(),
            Ok(l) => l
                .problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn the_example_file_is_the_defaults_and_names_every_key() {
        let example = include_str!("../../config.example.toml");
        let as_is = parse_str(example).expect("the example parses");
        assert!(as_is.problems.is_empty());
        assert_eq!(as_is.config.max_commits, DEFAULT_MAX_COMMITS);
        assert!(as_is.config.endpoints.is_empty());
        assert_eq!(as_is.config.project, ProjectConfig::default());
        // Uncomment every `# key = value` and `# [table]` line: all keys are known, and the values
        // given for settings that have defaults are those defaults.
        let uncommented: String = example
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.split_once(" = ").is_some_and(|(k, _)| {
                            k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        }) =>
                {
                    rest
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let all = parse_str(&uncommented).expect("every key in the example is valid");
        assert!(all.problems.is_empty(), "{:?}", all.problems);
        assert_eq!(all.config.max_commits, DEFAULT_MAX_COMMITS);
        let e = &all.config.endpoints[0];
        assert_eq!(e.timeout, delivery::DEFAULT_TIMEOUT);
        assert_eq!(
            all.config.delivery,
            Delivery::default(),
            "[delivery] in the example is the defaults"
        );
        assert_eq!(e.format.id(), "gitlab");
        assert_eq!(e.secret_mode, crate::format::SecretMode::Password);
        assert_eq!(
            e.events,
            [
                crate::event::EventKind::Push,
                crate::event::EventKind::TagPush
            ]
        );
        assert_eq!(all.config.users["alice"].id, Some(4));
        for key in [
            "name",
            "namespace",
            "web_url",
            "git_http_url",
            "git_ssh_url",
            "id",
            "description",
            "visibility_level",
            "default_branch",
            "avatar_url",
        ] {
            assert!(
                uncommented.contains(&format!("\n{key} = ")),
                "config.example.toml lacks project key {key}"
            );
        }
    }

    #[test]
    fn syntax_errors_and_unknown_keys_name_file_line_and_key() {
        assert_eq!(
            error("[project]\nname = \"x\"\nnmae = \"y\"\n"),
            "/etc/x.toml:3:1: project.nmae: unknown field `nmae`, expected one of `name`, `namespace`, `web_url`, `git_http_url`, `git_ssh_url`, `id`, `description`, `visibility_level`, `default_branch`, `avatar_url`"
        );
        assert!(
            error("[project\n").starts_with("/etc/x.toml:1:9: project: "),
            "{}",
            error("[project\n")
        );
        assert!(error("[[endpoint]]\nformat = \"gitlab\"\n").contains("missing field `url`"));
        assert_eq!(
            error("[payload]\nmax_commits = -1\n"),
            "/etc/x.toml:2:15: payload.max_commits: invalid value: integer `-1`, expected usize"
        );
    }

    #[test]
    fn endpoint_values_are_checked_one_by_one() {
        let text = "[[endpoint]]\nurl = \"not a url\"\n\n[[endpoint]]\nurl = \"https://h/x\"\nsecret_mode = \"sign\"\n\n[[endpoint]]\nurl = \"https://h/y\"\nbranches = [\"[\"]\n\n[[endpoint]]\nurl = \"https://u:p%2Fw@h/z\"\ntimeout = 0\n\n[[endpoint]]\nurl = \"https://u:p%2Fw@h/ok\"\n";
        let loaded = parse_str(text).expect("file parses");
        let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(
            problems[0].starts_with("/etc/x.toml:2:7: endpoint.url: \"not a url\" is not a URL")
        );
        assert_eq!(
            problems[1],
            "/etc/x.toml:6:15: endpoint.secret_mode: format \"gitlab\" has no \"sign\" mode"
        );
        assert!(problems[2]
            .starts_with("/etc/x.toml:10:12: endpoint.branches: bad branch pattern \"[\""));
        assert_eq!(
            problems[3],
            "/etc/x.toml:14:11: endpoint.timeout: must be longer than zero"
        );
        let ok = &loaded.config.endpoints[0];
        assert_eq!(ok.number, 5);
        assert_eq!(ok.url.as_str(), "https://h/ok");
        let (user, password) = ok.basic_auth.as_ref().expect("basic auth");
        assert_eq!((user.as_str(), password.expose()), ("u", "p/w"));
        assert_eq!(ok.masked_url(), "https://*****:*****@h/ok");
        assert_eq!(
            format!("{ok:?}"),
            "Endpoint 5 https://*****:*****@h/ok (gitlab)"
        );
    }

    #[test]
    fn durations_and_branch_globs() {
        let loaded = parse_str("[delivery]\ntimeout = \"1m 30s\"\n\n[[endpoint]]\nurl = \"http://h/\"\nbranches = [\"release/*\", \"refs/heads/hot*\"]\n\n[[endpoint]]\nurl = \"http://h/\"\ntimeout = 3\n").expect("parses");
        let [a, b] = &loaded.config.endpoints[..] else {
            panic!("two endpoints")
        };
        assert_eq!(a.timeout, Duration::from_secs(90));
        assert_eq!(b.timeout, Duration::from_secs(3));
        let filter = a.branches.as_ref().expect("filter");
        assert!(filter.matches("release/1.0"));
        assert!(!filter.matches("release/1.0/rc"));
        assert!(filter.matches("hotfix"));
        assert!(!filter.matches("main"));
    }

    #[test]
    fn lookup_order() {
        let env = HookEnv {
            global_config: Some("/g.toml".into()),
            ..HookEnv::default()
        };
        let c = candidates(None, &env, Path::new("/r.git"));
        assert_eq!(
            c,
            [
                (PathBuf::from("/r.git/webhook.toml"), false),
                (PathBuf::from("/g.toml"), false)
            ]
        );
        let env = HookEnv {
            config: Some("/e.toml".into()),
            ..HookEnv::default()
        };
        assert_eq!(
            candidates(None, &env, Path::new("/r.git")),
            [(PathBuf::from("/e.toml"), true)]
        );
        assert_eq!(
            candidates(Some(Path::new("/c.toml")), &env, Path::new("/r.git")),
            [(PathBuf::from("/c.toml"), true)]
        );
        assert_eq!(
            candidates(None, &HookEnv::default(), Path::new("/r.git"))[1].0,
            PathBuf::from(GLOBAL_CONFIG)
        );
    }
}
