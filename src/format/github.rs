//! GitHub's push event, complete enough for strict receivers (octokit schemas, githubkit, go-github), signed with
//! `X-Hub-Signature-256`.

use serde_json::{json, Map, Value};

use super::sign::{base64, hex, hmac_sha1, hmac_sha256};
use super::{to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, Sent};
use crate::ids::stable_id;
use crate::model::{Action, Commit, Person, Project, PushEvent, Visibility};

/// What our `User-Agent` says: `GitHub-Hookshot/<build>`.
const HOOKSHOT: &str = "GitHub-Hookshot/8f6c5a1";

/// The API resource URLs of a repository, after `<api>/repos/<owner>/<name>`, in GitHub's order.
const REPO_URLS: &[(&str, &str)] = &[
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
];

/// The API resource URLs of a user, after `<api>/users/<login>`.
const USER_URLS: &[(&str, &str)] = &[
    ("followers_url", "/followers"),
    ("following_url", "/following{/other_user}"),
    ("gists_url", "/gists{/gist_id}"),
    ("starred_url", "/starred{/owner}{/repo}"),
    ("subscriptions_url", "/subscriptions"),
    ("organizations_url", "/orgs"),
    ("repos_url", "/repos"),
    ("events_url", "/events{/privacy}"),
    ("received_events_url", "/received_events"),
];

pub struct GitHub;

/// The REST API root for a web origin: `api.github.com` for github.com, `<origin>/api/v3` elsewhere (as GHES).
fn api_root(p: &Project) -> String {
    if p.host() == "github.com" {
        "https://api.github.com".to_owned()
    } else {
        format!("{}/api/v3", p.instance_url())
    }
}

/// A GitHub user object; `identity` (name, email) leads it where GitHub puts them (repository owners).
fn user(
    login: &str,
    id: u64,
    avatar: Option<&str>,
    p: &Project,
    identity: Option<(&str, &str)>,
) -> Value {
    let (api, origin) = (api_root(p), p.instance_url());
    let mut m = Map::new();
    if let Some((name, email)) = identity {
        m.insert("name".into(), json!(name));
        m.insert("email".into(), json!(email));
    }
    m.insert("login".into(), json!(login));
    m.insert("id".into(), json!(id));
    m.insert(
        "node_id".into(),
        json!(base64(format!("04:User{id}").as_bytes())),
    );
    m.insert(
        "avatar_url".into(),
        json!(avatar.map_or_else(|| format!("{origin}/{login}.png"), str::to_owned)),
    );
    m.insert("gravatar_id".into(), json!(""));
    m.insert("url".into(), json!(format!("{api}/users/{login}")));
    m.insert("html_url".into(), json!(format!("{origin}/{login}")));
    for (key, suffix) in USER_URLS {
        m.insert((*key).into(), json!(format!("{api}/users/{login}{suffix}")));
    }
    m.insert("type".into(), json!("User"));
    m.insert("site_admin".into(), json!(false));
    Value::Object(m)
}

fn repository(p: &Project, pushed_at: i64) -> Value {
    let (api, full) = (api_root(p), &p.path_with_namespace);
    let host = p.host();
    let public = p.visibility == Visibility::Public;
    let mut m = Map::new();
    for (k, v) in [
        ("id", json!(p.id)),
        (
            "node_id",
            json!(base64(format!("010:Repository{}", p.id).as_bytes())),
        ),
        ("name", json!(p.name)),
        ("full_name", json!(full)),
        ("private", json!(!public)),
        (
            "owner",
            user(
                &p.namespace,
                stable_id(&p.namespace),
                None,
                p,
                Some((&p.namespace, "")),
            ),
        ),
        ("html_url", json!(p.web_url)),
        (
            "description",
            if p.description.is_empty() {
                Value::Null
            } else {
                json!(p.description)
            },
        ),
        ("fork", json!(false)),
        ("url", json!(p.web_url)),
    ] {
        m.insert(k.into(), v);
    }
    for (key, suffix) in REPO_URLS {
        m.insert((*key).into(), json!(format!("{api}/repos/{full}{suffix}")));
    }
    let visibility = p.visibility.as_str();
    let rest = json!({
        "created_at": pushed_at, "updated_at": chrono::DateTime::from_timestamp(pushed_at, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "pushed_at": pushed_at, "git_url": format!("git://{host}/{full}.git"), "ssh_url": p.git_ssh_url, "clone_url": p.git_http_url,
        "svn_url": p.web_url, "homepage": null, "size": 0, "stargazers_count": 0, "watchers_count": 0, "language": null,
        "has_issues": true, "has_projects": false, "has_downloads": true, "has_wiki": false, "has_pages": false, "has_discussions": false,
        "forks_count": 0, "mirror_url": null, "archived": false, "disabled": false, "open_issues_count": 0, "license": null,
        "allow_forking": true, "is_template": false, "web_commit_signoff_required": false, "topics": [], "visibility": visibility,
        "forks": 0, "open_issues": 0, "watchers": 0, "default_branch": p.default_branch, "stargazers": 0,
        "master_branch": p.default_branch, "custom_properties": {}
    });
    if let Value::Object(rest) = rest {
        m.extend(rest);
    }
    Value::Object(m)
}

fn person(p: &Person) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(p.name));
    m.insert("email".into(), json!(p.email));
    if let Some(u) = &p.username {
        m.insert("username".into(), json!(u));
    }
    Value::Object(m)
}

fn commit(c: &Commit, web_url: &str) -> Value {
    json!({
        "id": c.id, "tree_id": c.tree_id, "distinct": true, "message": c.message, "timestamp": c.committer.time.to_rfc3339(),
        "url": format!("{web_url}/commit/{}", c.id), "author": person(&c.author), "committer": person(&c.committer),
        "added": c.added, "removed": c.removed, "modified": c.modified
    })
}

impl Format for GitHub {
    fn id(&self) -> &'static str {
        "github"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "`X-GitHub-Event: push`",
            secret: "`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`\n\
                     (and the legacy `X-Hub-Signature: sha1=...`)",
            check: "recomputes the HMAC of the raw body",
        }
    }

    fn body(
        &self,
        event: &PushEvent,
        _hook: Hook,
        _sent: Sent,
        _options: &super::Options,
    ) -> Vec<u8> {
        let (p, u, ch) = (&event.project, &event.pusher, &event.change);
        let short = |sha: &str| sha.chars().take(12).collect::<String>();
        let compare = match ch.action() {
            Action::Create => format!("{}/compare/{}", p.web_url, ch.short_ref()),
            _ => format!(
                "{}/compare/{}...{}",
                p.web_url,
                short(&ch.update.old),
                short(&ch.update.new)
            ),
        };
        let commits: Vec<Value> = if ch.tag.is_some() {
            Vec::new()
        } else {
            ch.commits.iter().map(|c| commit(c, &p.web_url)).collect()
        };
        let body = json!({
            "ref": ch.update.refname, "before": ch.update.old, "after": ch.update.new,
            "repository": repository(p, event.pushed_at.timestamp()),
            "pusher": { "name": u.username, "email": if u.email.is_empty() { Value::Null } else { json!(u.email) } },
            "sender": user(&u.username, u.id, u.avatar_url.as_deref(), p, None),
            "created": ch.action() == Action::Create, "deleted": ch.action() == Action::Delete, "forced": ch.forced,
            "base_ref": null, "compare": compare, "commits": commits,
            "head_commit": ch.head.as_ref().map(|c| commit(c, &p.web_url)),
        });
        to_json(&body)
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        let mut headers = vec![
            Header::new("Content-Type", "application/json"),
            Header::new("User-Agent", HOOKSHOT),
            Header::new("X-GitHub-Delivery", d.hook.delivery_id.to_string()),
            Header::new("X-GitHub-Event", "push"),
            Header::new("X-GitHub-Hook-ID", d.hook.id.to_string()),
            Header::new(
                "X-GitHub-Hook-Installation-Target-ID",
                d.project_id.to_string(),
            ),
            Header::new("X-GitHub-Hook-Installation-Target-Type", "repository"),
        ];
        if let Some(secret) = auth.secret() {
            headers.push(Header::new(
                "X-Hub-Signature",
                format!("sha1={}", hex(&hmac_sha1(secret.as_bytes(), &d.body))),
            ));
            headers.push(Header::new(
                "X-Hub-Signature-256",
                format!("sha256={}", hex(&hmac_sha256(secret.as_bytes(), &d.body))),
            ));
        }
        Prepared::new(headers, d)
    }
}
