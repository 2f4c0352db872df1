//! The one place that reads the process environment and the process's own facts (its path, the current
//! and temporary directories, the host name): everything else gets a [`HookEnv`].
#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::path::PathBuf;

/// What git and the server tell a hook through environment variables, read once at start-up.
#[derive(Debug, Clone, Default)]
pub struct HookEnv {
    /// `GIT_DIR`: the repository git runs the hook in (bare repositories: usually `.`).
    pub git_dir: Option<PathBuf>,
    /// `GIT_OBJECT_DIRECTORY`: where a push's new objects are (git's quarantine during `update`).
    pub object_directory: Option<PathBuf>,
    /// `GIT_ALTERNATE_OBJECT_DIRECTORIES`: further object directories, `:`-separated.
    pub alternate_object_directories: Vec<PathBuf>,
    /// `GIT_PUSH_OPTION_COUNT` and `GIT_PUSH_OPTION_<n>`: the `git push -o` options, in order.
    pub push_options: Vec<String>,
    /// The pusher's login: `GL_USERNAME`, `GL_USER`, `REMOTE_USER`, then `USER` / `LOGNAME`.
    pub login: Option<String>,
    /// `GIT_WEBHOOK_CONFIG`: a configuration file to use instead of the repository's own.
    pub config: Option<PathBuf>,
    /// `GIT_WEBHOOK_GLOBAL_CONFIG`: the server-wide file (default `/etc/git-webhook/config.toml`).
    pub global_config: Option<PathBuf>,
    /// `GIT_WEBHOOK_DRY_RUN`: any value but empty, `0`, `false`, `no` or `off` turns dry-run on.
    pub dry_run: bool,
    /// `GIT_WEBHOOK_NOW` (tests): fixed Unix time in milliseconds for the clock.
    pub fixed_now_ms: Option<i64>,
    /// `GIT_WEBHOOK_SEED` (tests): seed for ids, so payloads are reproducible.
    pub seed: Option<u64>,
    /// The machine's host name, used to derive URLs when the configuration gives none.
    pub hostname: String,
    /// The current directory when the process started.
    pub cwd: Option<PathBuf>,
    /// This program's own path (to start the background deliverer, to install the hook).
    pub exe: Option<PathBuf>,
    /// The system's temporary directory (`$TMPDIR`, else `/tmp`).
    pub temp_dir: PathBuf,
    /// The user this process runs as (its effective user id), when the system tells.
    pub uid: Option<u32>,
    /// `GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_SYSTEM`: the system-wide git config file git reads.
    pub git_config_system: GitConfigFile,
    /// `GIT_CONFIG_GLOBAL`: the user's git config file git reads.
    pub git_config_global: GitConfigFile,
    /// Configuration git takes from its environment, above every file: `GIT_CONFIG_COUNT` with
    /// `GIT_CONFIG_KEY_<n>` and `GIT_CONFIG_VALUE_<n>`, then `GIT_CONFIG_PARAMETERS` (`git -c`), in
    /// that order (a later entry wins); names as git spells them (section and key in lower case).
    pub git_config_parameters: Vec<(String, String)>,
    /// Every variable (with a UTF-8 value), for `secret_env` in the configuration.
    pub vars: std::collections::BTreeMap<String, String>,
}

/// The variables that pin a process's clock and ids (tests): `GIT_WEBHOOK_NOW`, `GIT_WEBHOOK_SEED`.
pub const CLOCK_PINS: [&str; 2] = ["GIT_WEBHOOK_NOW", "GIT_WEBHOOK_SEED"];

/// Which file of a level of the git configuration git reads, as its environment says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum GitConfigFile {
    /// Git's own: `/etc/gitconfig`; `~/.gitconfig` and `$XDG_CONFIG_HOME/git/config`.
    #[default]
    Usual,
    /// None (`GIT_CONFIG_NOSYSTEM`).
    Skipped,
    /// This one (`GIT_CONFIG_SYSTEM`, `GIT_CONFIG_GLOBAL`).
    File(PathBuf),
}

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn truthy(value: Option<String>) -> bool {
    value.is_some_and(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        )
    })
}

/// `GIT_CONFIG_COUNT` pairs, then the `GIT_CONFIG_PARAMETERS` list, as git reads them.
fn git_config_parameters() -> Vec<(String, String)> {
    let count = non_empty("GIT_CONFIG_COUNT").and_then(|n| n.trim().parse::<usize>().ok());
    // The bound keeps a hostile count harmless; git itself stops at the first missing pair.
    let counted = (0..count.unwrap_or(0).min(10_000)).map_while(|i| {
        let key = std::env::var(format!("GIT_CONFIG_KEY_{i}")).ok()?;
        Some((key, std::env::var(format!("GIT_CONFIG_VALUE_{i}")).ok()?))
    });
    let listed = std::env::var("GIT_CONFIG_PARAMETERS").unwrap_or_default();
    counted
        .chain(parameter_list(&listed))
        .filter_map(|(key, value)| Some((git_key(&key)?, value)))
        .collect()
}

/// `GIT_CONFIG_PARAMETERS`: shell-quoted words, `'key'='value'`, `'key'=` (true) or the older
/// `'key=value'`, separated by spaces; a word git would reject ends the list.
fn parameter_list(text: &str) -> Vec<(String, String)> {
    let mut rest = text.trim_start();
    let mut pairs = Vec::new();
    while let Some((key, after)) = quoted(rest) {
        let pair = match after.strip_prefix('=') {
            Some(v) if v.is_empty() || v.starts_with(char::is_whitespace) => {
                rest = v;
                (key, "true".to_owned())
            }
            Some(v) => {
                let Some((value, after)) = quoted(v) else {
                    break;
                };
                rest = after;
                (key, value)
            }
            None => {
                rest = after;
                match key.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (key, "true".to_owned()),
                }
            }
        };
        pairs.push(pair);
        if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
            break;
        }
        rest = rest.trim_start();
    }
    pairs
}

/// One shell-quoted word at the start of `text` (`'it'\''s'`: git quotes `'` and `!` so), and what
/// follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut word = String::new();
    let mut rest = text.strip_prefix('\'')?;
    loop {
        let (part, after) = rest.split_once('\'')?;
        word.push_str(part);
        let mut chars = after.chars();
        match (chars.next(), chars.next(), chars.next()) {
            (Some('\\'), Some(c), Some('\'')) => {
                word.push(c);
                rest = chars.as_str();
            }
            _ => return Some((word, after)),
        }
    }
}

/// A key as git names it: `section[.subsection].key`, section and key in lower case.
fn git_key(key: &str) -> Option<String> {
    let (section, rest) = key.split_once('.')?;
    let (sub, name) = rest.rsplit_once('.').unwrap_or(("", rest));
    let sub = if sub.is_empty() {
        String::new()
    } else {
        format!("{sub}.")
    };
    Some(format!(
        "{}.{sub}{}",
        section.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    ))
}

/// This process's effective user id: the owner of `/proc/self` (one `stat`, where reading
/// `/proc/self/status` would make the kernel write out the whole of it).
fn effective_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The login name of user `uid` (from `/etc/passwd`), or `uid <n>` when it has none.
pub fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let mut fields = l.split(':');
            let name = fields.next()?;
            (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

impl HookEnv {
    /// Reads the real process environment.
    pub fn from_process() -> HookEnv {
        let push_options =
            match non_empty("GIT_PUSH_OPTION_COUNT").and_then(|n| n.parse::<usize>().ok()) {
                // git caps push options well below this; the bound keeps a hostile value harmless.
                Some(count) => (0..count.min(1000))
                    .filter_map(|i| std::env::var(format!("GIT_PUSH_OPTION_{i}")).ok())
                    .collect(),
                None => Vec::new(),
            };
        let alternate_object_directories = std::env::var_os("GIT_ALTERNATE_OBJECT_DIRECTORIES")
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        HookEnv {
            git_dir: path("GIT_DIR"),
            object_directory: path("GIT_OBJECT_DIRECTORY"),
            alternate_object_directories,
            push_options,
            login: ["GL_USERNAME", "GL_USER", "REMOTE_USER", "USER", "LOGNAME"]
                .into_iter()
                .find_map(non_empty),
            config: path("GIT_WEBHOOK_CONFIG"),
            global_config: path("GIT_WEBHOOK_GLOBAL_CONFIG"),
            dry_run: truthy(non_empty("GIT_WEBHOOK_DRY_RUN")),
            fixed_now_ms: non_empty(CLOCK_PINS[0]).and_then(|v| v.trim().parse().ok()),
            seed: non_empty(CLOCK_PINS[1]).and_then(|v| v.trim().parse().ok()),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .or_else(|_| std::fs::read_to_string("/etc/hostname"))
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_owned()),
            cwd: std::env::current_dir().ok(),
            exe: std::env::current_exe().ok(),
            temp_dir: std::env::temp_dir(),
            uid: effective_uid(),
            git_config_system: match (
                truthy(non_empty("GIT_CONFIG_NOSYSTEM")),
                path("GIT_CONFIG_SYSTEM"),
            ) {
                (true, _) => GitConfigFile::Skipped,
                (false, Some(file)) => GitConfigFile::File(file),
                (false, None) => GitConfigFile::Usual,
            },
            git_config_global: path("GIT_CONFIG_GLOBAL")
                .map_or(GitConfigFile::Usual, GitConfigFile::File),
            git_config_parameters: git_config_parameters(),
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// The argument vector of this process.
    pub fn args() -> Vec<OsString> {
        std::env::args_os().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{git_key, parameter_list, truthy};

    #[test]
    fn git_c_parameters_as_git_quotes_them() {
        // What `git -c webhook.ci.url=http://a -c 'webhook.Ci.secret=it'"'"'s!' -c webhook.x.on`
        // puts in GIT_CONFIG_PARAMETERS, and the older `'key=value'` form.
        let listed = r"'webhook.ci.url'='http://a' 'webhook.Ci.secret'='it'\''s'\!'' 'webhook.x.on'= 'core.bare=true'";
        let pairs: Vec<(String, String)> = parameter_list(listed);
        let strs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            strs,
            [
                ("webhook.ci.url", "http://a"),
                ("webhook.Ci.secret", "it's!"),
                ("webhook.x.on", "true"),
                ("core.bare", "true"),
            ]
        );
        assert_eq!(parameter_list("'a.b'='c'garbage 'd.e'='f'").len(), 1);
        assert_eq!(git_key("WebHook.Ci.Url").as_deref(), Some("webhook.Ci.url"));
        assert_eq!(git_key("Core.Bare").as_deref(), Some("core.bare"));
        assert_eq!(git_key("nodot"), None);
    }

    #[test]
    fn dry_run_values() {
        for yes in ["1", "true", "yes", "on"] {
            assert!(truthy(Some(yes.into())), "{yes}");
        }
        for no in ["0", "false", "No", "off"] {
            assert!(!truthy(Some(no.into())), "{no}");
        }
        assert!(!truthy(None));
    }
}
