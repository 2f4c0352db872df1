//! The configuration file: where it is looked up, and parsing with file/line/key errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::env::HookEnv;

mod delivery;
mod endpoint;
mod layers;

pub use delivery::{Delivery, Mode};
pub use endpoint::{mask, BranchFilter, Endpoint, RefFilter, Tls};

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

/// `[server]`: what a server-wide file says about every repository on the machine.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The web address repositories are served under: `https://git.example.com`.
    pub base_url: Option<String>,
    /// The directory holding the repositories: `/srv/git/acme/demo.git` is `acme/demo` below `/srv/git`.
    pub repos_root: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
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
    /// The files it came from, lowest layer first (empty: built-in defaults, nothing found).
    pub sources: Vec<PathBuf>,
    pub server: ServerConfig,
    pub project: ProjectConfig,
    pub users: BTreeMap<String, UserConfig>,
    pub endpoints: Vec<Endpoint>,
    pub max_commits: usize,
    pub delivery: Delivery,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sources: Vec::new(),
            server: ServerConfig::default(),
            project: ProjectConfig::default(),
            users: BTreeMap::new(),
            endpoints: Vec::new(),
            max_commits: DEFAULT_MAX_COMMITS,
            delivery: Delivery::default(),
        }
    }
}

/// A problem in a configuration file, located by file, line, column and key (line 0: git config, which
/// has no lines to name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}: {}", self.file.display(), self.key, self.message),
            line => write!(
                f,
                "{}:{line}:{}: {}: {}",
                self.file.display(),
                self.column,
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

/// A configuration, the problems that made parts of it (endpoints) unusable, and warnings.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub problems: Vec<Problem>,
    /// Things that work but should be fixed (a world-readable file holding a secret).
    pub warnings: Vec<String>,
}

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
) -> Result<Option<Loaded>, ConfigError> {
    let mut sources = Vec::new();
    for (path, required) in candidates(explicit, env, git_dir) {
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push(layers::Source::File { path, text }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(source) => return Err(ConfigError::Read { path, source }),
        }
    }
    sources.extend(layers::git_config(git_dir));
    if sources.is_empty() {
        return Ok(None);
    }
    layers::assemble(sources, env).map(Some)
}

/// Parses and checks one configuration file's text on its own (as `--config` would use it).
pub fn parse(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    layers::assemble(
        vec![layers::Source::File {
            path: path.to_path_buf(),
            text: text.to_owned(),
        }],
        &HookEnv::default(),
    )
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

/// Checks the values of the non-endpoint tables (errors located by `problem`).
fn check_settings(
    raw: &RawConfig,
    problem: &dyn Fn(usize, String) -> Problem,
) -> Result<(Delivery, usize), Problem> {
    if let Some(v) = &raw.project.visibility_level {
        if ![0, 10, 20].contains(v.get_ref()) {
            return Err(problem(
                v.span().start,
                format!(
                    "{} is not 0 (private), 10 (internal) or 20 (public)",
                    v.get_ref()
                ),
            ));
        }
    }
    let delivery = delivery::check(&raw.delivery).map_err(|(offset, m)| problem(offset, m))?;
    let max_commits = match &raw.payload.max_commits {
        Some(n) if *n.get_ref() == 0 => {
            return Err(problem(n.span().start, "must be at least 1".to_owned()))
        }
        Some(n) => *n.get_ref(),
        None => DEFAULT_MAX_COMMITS,
    };
    Ok((delivery, max_commits))
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
    use crate::secret::Secret;

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
        assert_eq!(as_is.config.delivery, Delivery::default());
        // Uncomment every `# key = value` and `# [table]` line (pointing its paths at a real file): all
        // keys are known, and the values given for settings that have defaults are those defaults.
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "secret\n").unwrap();
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
            .map(|l| {
                if l.contains("\"/etc/git-webhook/") {
                    format!("{} = {:?}\n", l.split(" = ").next().unwrap(), file)
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let env = HookEnv {
            vars: [("CI_WEBHOOK_SECRET".to_owned(), "x".to_owned())].into(),
            ..HookEnv::default()
        };
        let all = layers::assemble(
            vec![layers::Source::File {
                path: "/x.toml".into(),
                text: uncommented.clone(),
            }],
            &env,
        )
        .expect("every key in the example is valid");
        assert!(all.problems.is_empty(), "{:?}", all.problems);
        assert_eq!(all.config.max_commits, DEFAULT_MAX_COMMITS);
        assert_eq!(
            all.config.delivery,
            Delivery::default(),
            "[delivery] in the example is the defaults"
        );
        assert_eq!(all.config.endpoints.len(), 3);
        let e = &all.config.endpoints[0];
        assert_eq!(e.timeout, delivery::DEFAULT_TIMEOUT);
        assert_eq!(e.format.id(), "gitlab");
        assert_eq!(e.secret_mode, crate::format::SecretMode::Password);
        assert_eq!(
            e.events,
            [
                crate::event::EventKind::Push,
                crate::event::EventKind::TagPush
            ]
        );
        assert!(e.tls.verify);
        assert_eq!(
            all.config.endpoints[1].secret.as_ref().map(Secret::expose),
            Some("secret")
        );
        assert_eq!(
            all.config.endpoints[2].secret.as_ref().map(Secret::expose),
            Some("x")
        );
        assert_eq!(all.config.users["alice"].id, Some(4));
        assert_eq!(
            all.config.server.base_url.as_deref(),
            Some("https://git.example.com")
        );
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
                (PathBuf::from("/g.toml"), false),
                (PathBuf::from("/r.git/webhook.toml"), false)
            ],
            "lowest layer first"
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
            candidates(None, &HookEnv::default(), Path::new("/r.git"))[0].0,
            PathBuf::from(GLOBAL_CONFIG)
        );
    }
}

#[cfg(test)]
mod layering {
    use super::layers::{assemble, Source};
    use super::*;

    #[test]
    fn later_layers_override_keys_and_add_endpoints() {
        let global = "[server]\nbase_url = \"https://git.example.com\"\n\n[project]\nvisibility_level = 20\ndescription = \"from the server\"\n\n[delivery]\nmode = \"sync\"\ntimeout = \"5s\"\n\n[[endpoint]]\nurl = \"http://h/global\"\n";
        let repo = "[project]\ndescription = \"from the repository\"\n\n[delivery]\ntimeout = \"3s\"\n\n[[endpoint]]\nurl = \"http://h/repo\"\nformat = \"github\"\n\n[[endpoint]]\nurl = \"http://h/bad\"\nformat = \"nope\"\n";
        let sources = vec![
            Source::File {
                path: "/etc/g.toml".into(),
                text: global.into(),
            },
            Source::File {
                path: "/r.git/webhook.toml".into(),
                text: repo.into(),
            },
        ];
        let loaded = assemble(sources, &HookEnv::default()).unwrap();
        let c = &loaded.config;
        assert_eq!(
            c.sources,
            [
                PathBuf::from("/etc/g.toml"),
                PathBuf::from("/r.git/webhook.toml")
            ]
        );
        assert_eq!(
            c.project.description.as_deref(),
            Some("from the repository"),
            "the repository's key wins"
        );
        assert_eq!(
            c.project.visibility_level.as_ref().map(|v| *v.get_ref()),
            Some(20),
            "other keys stay"
        );
        assert_eq!(c.delivery.mode, Mode::Sync);
        assert_eq!(c.delivery.timeout, Duration::from_secs(3));
        let urls: Vec<&str> = c.endpoints.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(
            urls,
            ["http://h/global", "http://h/repo"],
            "endpoints add up, in layer order"
        );
        assert!(
            c.endpoints
                .iter()
                .all(|e| e.timeout == Duration::from_secs(3)),
            "the merged default timeout"
        );
        assert_eq!(
            c.endpoints.iter().map(|e| e.number).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(loaded.problems.len(), 1);
        assert!(
            loaded.problems[0]
                .to_string()
                .starts_with("/r.git/webhook.toml:13:10: endpoint.format: unknown format \"nope\""),
            "{}",
            loaded.problems[0]
        );
        let bad = assemble(
            vec![
                Source::File {
                    path: "/etc/g.toml".into(),
                    text: global.into(),
                },
                Source::File {
                    path: "/r.git/webhook.toml".into(),
                    text: "[delivery]\nmode = \"later\"\n".into(),
                },
            ],
            &HookEnv::default(),
        );
        assert_eq!(bad.unwrap_err().to_string(), "/r.git/webhook.toml:2:8: delivery.mode: \"later\" is not \"async\", \"sync\" or \"queue\"");
    }
}
