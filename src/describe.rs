//! Who pushed to what: the project and pusher descriptions, from `[project]` / `[users.*]` or derived from the repository.

use std::path::Path;

use crate::config::Config;
use crate::env::HookEnv;
use crate::ids::stable_id;
use crate::model::{Person, Project, Pusher, RefEvent};

/// git's placeholder text in a new repository's `description` file, which describes nothing.
const PLACEHOLDER_DESCRIPTION: &str =
    "Unnamed repository; edit this file 'description' to name the repository.";

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The SSH clone URL GitLab would show for a web URL: `git@host:ns/name.git`, or `ssh://git@host:port/...` off port 22.
fn ssh_url(web_url: &str, path_with_namespace: &str) -> String {
    match url::Url::parse(web_url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("localhost");
            let path = u.path().trim_matches('/');
            let path = if path.is_empty() {
                path_with_namespace
            } else {
                path
            };
            format!("git@{host}:{path}.git")
        }
        Err(_) => format!("git@localhost:{path_with_namespace}.git"),
    }
}

/// Describes the repository whose git directory is `git_dir` (its canonical path): configured
/// values first, then what its path and files say (`head_branch`: the branch its HEAD names).
pub fn describe(
    config: &Config,
    git_dir: &Path,
    head_branch: Option<String>,
    env: &HookEnv,
) -> Project {
    let p = &config.project;
    let dir = git_dir.to_path_buf();
    // A non-bare repository's git dir is `<work>/.git`: the work tree names it.
    let dir = if file_name(&dir) == ".git" {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    };
    // Below `[server] repos_root`, the path names the project: `<root>/acme/tools/demo.git` is
    // `acme/tools/demo`; elsewhere the directory and its parent do.
    let below_root = config.server.repos_root.as_ref().and_then(|root| {
        let root = root.canonicalize().unwrap_or_else(|_| root.clone());
        let rel = dir.strip_prefix(&root).ok()?.to_string_lossy().into_owned();
        let rel = rel.strip_suffix(".git").unwrap_or(&rel).to_owned();
        (!rel.is_empty()).then_some(rel)
    });
    let (derived_ns, derived_name) = match &below_root {
        Some(rel) => match rel.rsplit_once('/') {
            Some((ns, name)) => (ns.to_owned(), name.to_owned()),
            None => (String::new(), rel.clone()),
        },
        None => {
            let n = file_name(&dir);
            (
                dir.parent().map(file_name).unwrap_or_default(),
                n.strip_suffix(".git").map(str::to_owned).unwrap_or(n),
            )
        }
    };
    let name = p.name.clone().unwrap_or(derived_name);
    let namespace = p.namespace.clone().unwrap_or(derived_ns);
    let path_with_namespace = if namespace.is_empty() {
        name.clone()
    } else {
        format!("{namespace}/{name}")
    };
    let base = config.server.base_url.as_deref().map_or_else(
        || format!("http://{}", env.hostname),
        |b| b.trim_end_matches('/').to_owned(),
    );
    let web_url = p.web_url.clone().map_or_else(
        || format!("{base}/{path_with_namespace}"),
        |u| u.trim_end_matches('/').to_owned(),
    );
    let description = p.description.clone().unwrap_or_else(|| {
        std::fs::read_to_string(git_dir.join("description"))
            .map(|d| d.trim().to_owned())
            .ok()
            .filter(|d| d != PLACEHOLDER_DESCRIPTION)
            .unwrap_or_default()
    });
    Project {
        id: p.id.unwrap_or_else(|| stable_id(&path_with_namespace)),
        git_http_url: p
            .git_http_url
            .clone()
            .unwrap_or_else(|| format!("{web_url}.git")),
        git_ssh_url: p
            .git_ssh_url
            .clone()
            .unwrap_or_else(|| ssh_url(&web_url, &path_with_namespace)),
        default_branch: p
            .default_branch
            .clone()
            .or(head_branch)
            .unwrap_or_else(|| "main".to_owned()),
        visibility: p.visibility(),
        avatar_url: p.avatar_url.clone(),
        name,
        namespace,
        path_with_namespace,
        description,
        web_url,
    }
}

/// The project as `[project]` keys, every one set: what `config check` shows as effective.
pub fn as_config(p: &Project) -> crate::config::schema::Project {
    crate::config::schema::Project {
        name: Some(p.name.clone()),
        namespace: Some(p.namespace.clone()),
        web_url: Some(p.web_url.clone()),
        git_http_url: Some(p.git_http_url.clone()),
        git_ssh_url: Some(p.git_ssh_url.clone()),
        id: Some(p.id),
        description: Some(p.description.clone()),
        visibility_level: Some(toml::Spanned::new(0..0, p.visibility.level())),
        default_branch: Some(p.default_branch.clone()),
        avatar_url: p.avatar_url.clone(),
    }
}

/// The pusher: the server's login (see [`HookEnv::login`]) mapped through `[users.<login>]`.
pub fn pusher(config: &Config, env: &HookEnv) -> Pusher {
    let login = env.login.clone().unwrap_or_else(|| "unknown".to_owned());
    let user = config.users.get(&login).cloned().unwrap_or_default();
    Pusher {
        id: user.id.unwrap_or_else(|| stable_id(&login)),
        name: user.name.unwrap_or_else(|| login.clone()),
        email: user.email.unwrap_or_default(),
        avatar_url: user.avatar_url,
        username: user.username.unwrap_or(login),
    }
}

/// Gives commit authors and committers whose e-mail address a `[users.<login>]` table names that login.
pub fn name_authors(config: &Config, event: &mut RefEvent) {
    if config.users.is_empty() {
        return;
    }
    let login = |p: &mut Person| {
        p.username = config
            .users
            .iter()
            .find(|(_, u)| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&p.email))
            })
            .map(|(login, u)| u.username.clone().unwrap_or_else(|| login.clone()));
    };
    for c in event.commits.iter_mut().chain(event.head.iter_mut()) {
        login(&mut c.author);
        login(&mut c.committer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_names_and_urls_from_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let git_dir = tmp.path().join("acme").join("demo.git");
        std::fs::create_dir_all(&git_dir).unwrap();
        std::fs::write(
            git_dir.join("description"),
            format!("{PLACEHOLDER_DESCRIPTION}\n"),
        )
        .unwrap();
        let env = HookEnv {
            hostname: "git.local".into(),
            ..HookEnv::default()
        };
        let p = describe(&Config::default(), &git_dir, None, &env);
        assert_eq!(
            (
                p.name.as_str(),
                p.namespace.as_str(),
                p.path_with_namespace.as_str()
            ),
            ("demo", "acme", "acme/demo")
        );
        assert_eq!(p.web_url, "http://git.local/acme/demo");
        assert_eq!(p.git_http_url, "http://git.local/acme/demo.git");
        assert_eq!(p.git_ssh_url, "git@git.local:acme/demo.git");
        assert_eq!(p.description, "");
        assert_eq!(p.id, stable_id("acme/demo"));
        // A server-wide base URL and repository root name nested groups too.
        let nested = tmp
            .path()
            .join("srv")
            .join("acme")
            .join("tools")
            .join("demo.git");
        std::fs::create_dir_all(&nested).unwrap();
        let mut config = Config::default();
        config.server.base_url = Some("https://git.example.com/".into());
        config.server.repos_root = Some(tmp.path().join("srv"));
        let q = describe(&config, &nested, None, &env);
        assert_eq!(
            (
                q.name.as_str(),
                q.namespace.as_str(),
                q.path_with_namespace.as_str()
            ),
            ("demo", "acme/tools", "acme/tools/demo")
        );
        assert_eq!(q.web_url, "https://git.example.com/acme/tools/demo");
        assert_eq!(q.git_ssh_url, "git@git.example.com:acme/tools/demo.git");
        assert_eq!(p.instance_url(), "http://git.local");
        std::fs::write(git_dir.join("description"), "Demo things\n").unwrap();
        assert_eq!(
            describe(&Config::default(), &git_dir, None, &env).description,
            "Demo things"
        );
    }

    #[test]
    fn pusher_from_login_and_users_table() {
        let mut config = Config::default();
        config.users.insert(
            "alice".into(),
            crate::config::schema::User {
                name: Some("Alice Example".into()),
                email: Some("alice@example.com".into()),
                id: Some(4),
                ..Default::default()
            },
        );
        let env = HookEnv {
            login: Some("alice".into()),
            ..HookEnv::default()
        };
        let u = pusher(&config, &env);
        assert_eq!(
            (u.id, u.name.as_str(), u.username.as_str(), u.email.as_str()),
            (4, "Alice Example", "alice", "alice@example.com")
        );
        let bob = pusher(
            &config,
            &HookEnv {
                login: Some("bob".into()),
                ..HookEnv::default()
            },
        );
        assert_eq!(
            (bob.name.as_str(), bob.email.as_str(), bob.id),
            ("bob", "", stable_id("bob"))
        );
    }
}
