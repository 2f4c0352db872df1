//! Bitbucket Data Center's (formerly Server's) `repo:refs_changed`: one request per push with every
//! ref in `changes`, as its "Event payload" page documents it (confluence.atlassian.com, Bitbucket
//! Data Center 8.x): headers `X-Event-Key`, `X-Request-Id` and, with a secret, `X-Hub-Signature:
//! sha256=<hex HMAC-SHA256 of the body>`; the user, repository and project objects as its REST API
//! represents them; `date` with a `+hhmm` offset.

use serde_json::{json, Value};

use super::sign::{hex, hmac_sha256};
use super::{to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, Sent};
use crate::ids::stable_id;
use crate::model::{Action, Commit, EventKind, Person, PushEvent, Visibility};

pub struct BitbucketServer;

fn change(e: &PushEvent) -> Value {
    let ch = &e.change;
    json!({
        "ref": {
            "id": ch.update.refname,
            "displayId": ch.short_ref(),
            "type": if ch.kind() == EventKind::TagPush { "TAG" } else { "BRANCH" },
        },
        "refId": ch.update.refname,
        "fromHash": ch.update.old,
        "toHash": ch.update.new,
        "type": match ch.action() {
            Action::Create => "ADD",
            Action::Update => "UPDATE",
            Action::Delete => "DELETE",
        },
    })
}

/// A commit as Bitbucket's REST API represents it, times in milliseconds.
fn commit(c: &Commit) -> Value {
    let person = |p: &Person| json!({"name": p.name, "emailAddress": p.email});
    json!({
        "id": c.id,
        "displayId": display_id(&c.id),
        "author": person(&c.author),
        "authorTimestamp": c.author.time.timestamp_millis(),
        "committer": person(&c.committer),
        "committerTimestamp": c.committer.time.timestamp_millis(),
        "message": c.message.trim_end(),
        "parents": c.parent_ids.iter().map(|p| json!({"id": p, "displayId": display_id(p)})).collect::<Vec<_>>(),
    })
}

/// The short form Bitbucket shows of a commit id.
fn display_id(id: &str) -> &str {
    id.get(..11).unwrap_or(id)
}

/// The ssh clone link as Bitbucket writes it, a URL (`ssh://git@host:7999/proj/repo.git`): an scp-like
/// `user@host:path` becomes `ssh://user@host/path`, which names the same repository for git and
/// which URL parsers (Go's, in Argo CD) accept.
fn ssh_link(clone: &str) -> String {
    if clone.contains("://") {
        return clone.to_owned();
    }
    match clone.split_once(':') {
        Some((host, path)) if !host.contains('/') => {
            format!("ssh://{host}/{}", path.trim_start_matches('/'))
        }
        _ => clone.to_owned(),
    }
}

/// The http clone link as Bitbucket writes it: `<base>/scm/<project>/<repo>.git`, project key and
/// slug in lower case, on the host (and port) of the repository's http clone URL.
fn http_link(clone: &str, key: &str, slug: &str) -> String {
    let base = url::Url::parse(clone)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    format!("{base}/scm/{}/{slug}.git", key.to_lowercase())
}

/// How many of the newest commits Bitbucket lists (its default).
const MAX_COMMITS: usize = 5;

fn body(events: &[&PushEvent]) -> Value {
    let Some(first) = events.first() else {
        return Value::Null;
    };
    let (p, u) = (&first.project, &first.pusher);
    let origin = p.instance_url();
    let key = p.namespace.to_uppercase();
    let slug = p.name.to_lowercase();
    let public = p.visibility == Visibility::Public;
    json!({
        "eventKey": "repo:refs_changed",
        "date": first.pushed_at.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
        "actor": {
            "name": u.username,
            "emailAddress": u.email,
            "id": u.id,
            "displayName": u.name,
            "active": true,
            "slug": u.username.to_lowercase(),
            "type": "NORMAL",
            "links": {"self": [{"href": format!("{origin}/users/{}", u.username.to_lowercase())}]},
        },
        "repository": {
            "slug": slug,
            "id": p.id,
            "name": p.name,
            "hierarchyId": format!("{:020x}", stable_id(&p.path_with_namespace)),
            "scmId": "git",
            "state": "AVAILABLE",
            "statusMessage": "Available",
            "archived": false,
            "forkable": true,
            "project": {
                "key": key,
                "id": stable_id(&p.namespace),
                "name": p.namespace,
                "description": "",
                "public": public,
                "type": "NORMAL",
                "links": {"self": [{"href": format!("{origin}/projects/{key}")}]},
            },
            "public": public,
            "links": {
                "clone": [
                    {"href": ssh_link(&p.git_ssh_url), "name": "ssh"},
                    {"href": http_link(&p.git_http_url, &key, &slug), "name": "http"},
                ],
                "self": [{"href": format!("{origin}/projects/{key}/repos/{slug}/browse")}],
            },
        },
        "changes": events.iter().map(|e| change(e)).collect::<Vec<_>>(),
        // The newest commits of the push (of its first ref that brought any), newest first, and
        // the commit its first ref now points at.
        "commits": events
            .iter()
            .find(|e| !e.change.commits.is_empty() && e.change.kind() == EventKind::Push)
            .map(|e| e.change.commits.iter().rev().take(MAX_COMMITS).map(commit).collect::<Vec<_>>())
            .unwrap_or_default(),
        "toCommit": events.iter().find_map(|e| e.change.head.as_ref()).map(commit),
    })
}

impl Format for BitbucketServer {
    fn id(&self) -> &'static str {
        "bitbucket-server"
    }

    fn docs(&self) -> Docs {
        Docs {
            event:
                "`X-Event-Key: repo:refs_changed` (one request per push, every ref in `changes`)",
            secret: "never sent: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`",
            check: "recomputes the HMAC of the raw body",
        }
    }

    fn one_per_push(&self) -> bool {
        true
    }

    fn push_body(&self, events: &[&PushEvent], _hook: Hook, _options: &super::Options) -> Vec<u8> {
        to_json(&body(events))
    }

    fn body(
        &self,
        event: &PushEvent,
        hook: Hook,
        _sent: Sent,
        options: &super::Options,
    ) -> Vec<u8> {
        self.push_body(&[event], hook, options)
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        let mut headers = vec![
            Header::new("Content-Type", "application/json; charset=utf-8"),
            Header::new("X-Event-Key", "repo:refs_changed"),
            Header::new("X-Request-Id", d.hook.delivery_id.to_string()),
        ];
        if let Some(secret) = auth.secret() {
            headers.push(Header::new(
                "X-Hub-Signature",
                format!("sha256={}", hex(&hmac_sha256(secret.as_bytes(), &d.body))),
            ));
        }
        Prepared::new(headers, d)
    }
}

#[cfg(test)]
mod tests {
    /// Bitbucket's dates carry the offset without a colon, as in its documented example.
    #[test]
    fn dates_as_bitbucket_writes_them() {
        let t = chrono::DateTime::parse_from_rfc3339("2017-09-19T09:45:32+10:00").expect("date");
        assert_eq!(
            t.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
            "2017-09-19T09:45:32+1000"
        );
    }
}
