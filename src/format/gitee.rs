//! Gitee's push and tag-push webhooks (`push_hooks` / `tag_push_hooks`), with its password and sign modes.

use serde::Serialize;
use serde_json::Value;

use super::gitlab_like::hook_event;
use super::sign::{base64, hmac_sha256};
use super::{
    to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, SecretMode, Sent,
};
use crate::ids::stable_id;
use crate::model::{Action, Commit, EventKind, Person, Project, PushEvent, Pusher, Visibility};

pub struct Gitee;

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "ref")]
    refname: &'a str,
    before: &'a str,
    after: &'a str,
    total_commits_count: usize,
    commits_more_than_ten: bool,
    created: bool,
    deleted: bool,
    compare: String,
    commits: Vec<GiteeCommit<'a>>,
    head_commit: Option<GiteeCommit<'a>>,
    repository: &'a GiteeProject<'a>,
    project: &'a GiteeProject<'a>,
    user_id: u64,
    user_name: &'a str,
    user: User<'a>,
    pusher: User<'a>,
    sender: User<'a>,
    enterprise: Option<()>,
    hook_name: &'static str,
    hook_id: u64,
    hook_url: String,
    // Filled in for each attempt: the secret (password mode), the time, the signature (sign mode).
    password: &'static str,
    timestamp: Option<()>,
    sign: &'static str,
}

/// A Gitee user object; the last five keys only in `sender` and `owner`.
#[derive(Serialize)]
struct User<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    name: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    profile: Option<Profile<'a>>,
}

#[derive(Serialize)]
struct Profile<'a> {
    login: &'a str,
    avatar_url: Option<&'a str>,
    html_url: String,
    #[serde(rename = "type")]
    kind: &'static str,
    site_admin: bool,
}

#[derive(Serialize)]
struct GiteeCommit<'a> {
    id: &'a str,
    tree_id: &'a str,
    parent_ids: &'a [String],
    message: &'a str,
    timestamp: String,
    url: String,
    author: User<'a>,
    committer: User<'a>,
    distinct: bool,
    added: &'a [String],
    removed: &'a [String],
    modified: &'a [String],
}

#[derive(Serialize)]
struct GiteeProject<'a> {
    id: u64,
    name: &'a str,
    path: &'a str,
    full_name: &'a str,
    owner: User<'a>,
    private: bool,
    html_url: &'a str,
    url: &'a str,
    description: &'a str,
    fork: bool,
    created_at: String,
    updated_at: String,
    pushed_at: String,
    git_url: String,
    ssh_url: &'a str,
    clone_url: &'a str,
    svn_url: String,
    git_http_url: &'a str,
    git_ssh_url: &'a str,
    git_svn_url: String,
    homepage: Option<()>,
    stargazers_count: u32,
    watchers_count: u32,
    forks_count: u32,
    language: Option<()>,
    has_issues: bool,
    has_wiki: bool,
    has_pages: bool,
    license: Option<()>,
    open_issues_count: u32,
    default_branch: &'a str,
    namespace: &'a str,
    name_with_namespace: &'a str,
    path_with_namespace: &'a str,
}

fn pusher<'a>(p: &'a Pusher, origin: &str, profile: bool) -> User<'a> {
    User {
        time: None,
        id: Some(p.id),
        name: &p.name,
        email: &p.email,
        username: Some(&p.username),
        user_name: Some(&p.username),
        url: Some(format!("{origin}/{}", p.username)),
        profile: profile.then(|| Profile {
            login: &p.username,
            avatar_url: p.avatar_url.as_deref(),
            html_url: format!("{origin}/{}", p.username),
            kind: "User",
            site_admin: false,
        }),
    }
}

fn person<'a>(p: &'a Person, origin: &str, with_time: bool) -> User<'a> {
    User {
        time: with_time.then(|| p.time.to_rfc3339()),
        id: p.username.as_deref().map(stable_id),
        name: &p.name,
        email: &p.email,
        username: p.username.as_deref(),
        user_name: p.username.as_deref(),
        url: p.username.as_ref().map(|u| format!("{origin}/{u}")),
        profile: None,
    }
}

fn commit<'a>(c: &'a Commit, p: &Project, origin: &str) -> GiteeCommit<'a> {
    GiteeCommit {
        id: &c.id,
        tree_id: &c.tree_id,
        parent_ids: &c.parent_ids,
        message: &c.message,
        timestamp: c.committer.time.to_rfc3339(),
        url: format!("{}/commit/{}", p.web_url, c.id),
        author: person(&c.author, origin, true),
        committer: person(&c.committer, origin, false),
        distinct: true,
        added: &c.added,
        removed: &c.removed,
        modified: &c.modified,
    }
}

fn project<'a>(p: &'a Project, pushed_at: &str, origin: &str) -> GiteeProject<'a> {
    let (host, full) = (p.host(), &p.path_with_namespace);
    GiteeProject {
        id: p.id,
        name: &p.name,
        path: &p.name,
        full_name: full,
        owner: User {
            time: None,
            id: Some(stable_id(&p.namespace)),
            name: &p.namespace,
            email: "",
            username: Some(&p.namespace),
            user_name: Some(&p.namespace),
            url: Some(format!("{origin}/{}", p.namespace)),
            profile: Some(Profile {
                login: &p.namespace,
                avatar_url: None,
                html_url: format!("{origin}/{}", p.namespace),
                kind: "User",
                site_admin: false,
            }),
        },
        private: p.visibility != Visibility::Public,
        html_url: &p.web_url,
        url: &p.web_url,
        description: &p.description,
        fork: false,
        created_at: pushed_at.to_owned(),
        updated_at: pushed_at.to_owned(),
        pushed_at: pushed_at.to_owned(),
        git_url: format!("git://{host}/{full}.git"),
        ssh_url: &p.git_ssh_url,
        clone_url: &p.git_http_url,
        svn_url: format!("svn://{host}/{full}"),
        git_http_url: &p.git_http_url,
        git_ssh_url: &p.git_ssh_url,
        git_svn_url: format!("svn://{host}/{full}"),
        homepage: None,
        stargazers_count: 0,
        watchers_count: 0,
        forks_count: 0,
        language: None,
        has_issues: true,
        has_wiki: true,
        has_pages: false,
        license: None,
        open_issues_count: 0,
        default_branch: &p.default_branch,
        namespace: &p.namespace,
        name_with_namespace: full,
        path_with_namespace: full,
    }
}

/// Gitee's signature: `Base64(HMAC-SHA256(key = secret, message = "<timestamp>\n<secret>"))`, not URL-encoded.
pub fn signature(timestamp_ms: &str, secret: &str) -> String {
    base64(&hmac_sha256(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    ))
}

impl Format for Gitee {
    fn id(&self) -> &'static str {
        "gitee"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "`X-Gitee-Event` and `X-Git-Oschina-Event`: `Push Hook` / `Tag Push Hook`",
            secret:
                "`X-Gitee-Token` and body `password`: <secret>; with `secret_mode = \"sign\"`,\n\
                     `X-Gitee-Token` and body `sign`:\n\
                     Base64(HMAC-SHA256(secret, `\"<X-Gitee-Timestamp>\\n<secret>\"`))",
            check: "compares the token, or recomputes the signature from the timestamp header",
        }
    }

    fn supports_sign(&self) -> bool {
        true
    }

    fn body(
        &self,
        event: &PushEvent,
        hook: Hook,
        _sent: Sent,
        _options: &super::Options,
    ) -> Vec<u8> {
        let (p, ch) = (&event.project, &event.change);
        let origin = p.instance_url();
        let pushed_at = event.pushed_at.to_rfc3339();
        let gitee_project = project(p, &pushed_at, &origin);
        let commits: Vec<GiteeCommit<'_>> =
            ch.commits.iter().map(|c| commit(c, p, &origin)).collect();
        let head_commit = ch.head.as_ref().map(|c| commit(c, p, &origin));
        to_json(&Body {
            refname: &ch.update.refname,
            before: &ch.update.old,
            after: &ch.update.new,
            total_commits_count: ch.total_commits,
            commits_more_than_ten: ch.total_commits > 10,
            created: ch.action() == Action::Create,
            deleted: ch.action() == Action::Delete,
            compare: format!(
                "{}/compare/{}...{}",
                p.web_url, ch.update.old, ch.update.new
            ),
            commits,
            head_commit,
            repository: &gitee_project,
            project: &gitee_project,
            user_id: event.pusher.id,
            user_name: &event.pusher.username,
            user: pusher(&event.pusher, &origin, false),
            pusher: pusher(&event.pusher, &origin, false),
            sender: pusher(&event.pusher, &origin, true),
            enterprise: None,
            hook_name: match ch.kind() {
                EventKind::Push => "push_hooks",
                EventKind::TagPush => "tag_push_hooks",
            },
            hook_id: hook.id,
            hook_url: format!("{}/hooks/{}/edit", p.web_url, hook.id),
            password: "",
            timestamp: None,
            sign: "",
        })
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, attempt: Attempt) -> Prepared {
        let event = hook_event(d.kind);
        let timestamp = attempt.unix_millis().to_string();
        let secret = auth.secret();
        let (token, password, sign) = match (secret, auth.mode) {
            (None, _) => (String::new(), String::new(), String::new()),
            (Some(s), SecretMode::Password) => (s.to_owned(), s.to_owned(), String::new()),
            (Some(s), SecretMode::Sign) => {
                let sig = signature(&timestamp, s);
                (sig.clone(), String::new(), sig)
            }
        };
        let mut body: Value = serde_json::from_slice(&d.body).unwrap_or(Value::Null);
        if let Some(map) = body.as_object_mut() {
            map.insert("password".into(), Value::String(password));
            map.insert("timestamp".into(), Value::String(timestamp.clone()));
            map.insert("sign".into(), Value::String(sign));
        }
        let headers = vec![
            Header::new("Content-Type", "application/json"),
            Header::new("User-Agent", "git-oschina-hook"),
            Header {
                name: "X-Gitee-Token".into(),
                secret: auth.mode == SecretMode::Password && secret.is_some(),
                value: token,
            },
            Header::new("X-Gitee-Timestamp", timestamp),
            Header::new("X-Gitee-Ping", "false"),
            Header::new("X-Gitee-Event", event),
            Header::new("X-Git-Oschina-Event", event),
        ];
        Prepared {
            method: super::Method::Post,
            headers,
            body: to_json(&body),
            secret_fields: &["password"],
            url_path: None,
            url_query: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn published_signature_vectors() {
        assert_eq!(
            signature("1672135206524", "123654"),
            "AbEvusCKxqRkBtTr4fD47SGVP/mRwlt48iuUYMFRloI="
        );
        assert_eq!(
            signature("1576754827988", "this is secret"),
            "2D978FIy4DMMTbiN80zQkNH1Eq/kMBt3gL6OnWfGzzY="
        );
    }
}
