//! Gitea's (and Forgejo's) push, create and delete webhooks, as `services/repository/push.go` sends
//! them since Gitea 1.21 (go-gitea/gitea; Forgejo's copy adds the `X-Forgejo-*` headers):
//! - a branch created: `create`, then `push`; updated: `push`; deleted: `delete` only;
//! - a tag created or moved: `push` (no commits, `before` all zeros, `head_commit` the tagged
//!   commit), then `create`; deleted: `push` (`after` all zeros, `head_commit` null), then `delete`;
//! - a new branch lists its 10 newest commits, known or not (`CommitsBeforeLimit(10)`).
//!
//! Bodies follow `modules/structs` (hook.go `PushPayload`, `CreatePayload`, `DeletePayload`,
//! `PayloadCommit`; repo.go `Repository`; user.go `User`); commits are listed newest first, as Gitea
//! lists them. Headers: `X-Gitea-*`, `X-Gogs-*`, `X-GitHub-*`, signed with hex HMAC-SHA256 (and
//! `X-Hub-Signature` SHA-1) when a secret is set, sent empty otherwise, as Gitea does.

use chrono::SecondsFormat;
use serde_json::{json, Value};

use super::sign::{hex, hmac_sha1, hmac_sha256};
use super::{to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, Sent};
use crate::ids::stable_id;
use crate::model::{
    Action, Commit, EventKind, Person, Project, PushEvent, RefEvent, RefUpdate, Visibility,
};

/// Go's zero time, which Gitea sends for times it does not have.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub struct Gitea {
    id: &'static str,
    /// Forgejo sends its own `X-Forgejo-*` headers first.
    forgejo: bool,
}

pub static GITEA: Gitea = Gitea {
    id: "gitea",
    forgejo: false,
};
pub static FORGEJO: Gitea = Gitea {
    id: "forgejo",
    forgejo: true,
};

/// A Gitea user object (`modules/structs/user.go`), for what we know of a login.
fn user(login: &str, id: u64, name: &str, email: &str, p: &Project) -> Value {
    json!({
        "id": id,
        "login": login,
        "login_name": "",
        "source_id": 0,
        "full_name": name,
        "email": email,
        "avatar_url": format!("{}/avatars/{}", p.instance_url(), stable_id(email)),
        "html_url": format!("{}/{login}", p.instance_url()),
        "language": "",
        "is_admin": false,
        "last_login": ZERO_TIME,
        "created": ZERO_TIME,
        "restricted": false,
        "active": true,
        "prohibit_login": false,
        "location": "",
        "website": "",
        "description": "",
        "visibility": "public",
        "followers_count": 0,
        "following_count": 0,
        "starred_repos_count": 0,
        "username": login,
    })
}

/// A Gitea repository object (`modules/structs/repo.go`), as webhooks send it (owner permissions).
fn repository(p: &Project, updated: &str) -> Value {
    let api = format!(
        "{}/api/v1/repos/{}",
        p.instance_url(),
        p.path_with_namespace
    );
    let mut repo = json!({
        "id": p.id,
        "owner": user(&p.namespace, stable_id(&p.namespace), &p.namespace, "", p),
        "name": p.name,
        "full_name": p.path_with_namespace,
        "description": p.description,
        "empty": false,
        "private": p.visibility != Visibility::Public,
        "fork": false,
        "template": false,
        "mirror": false,
        "size": 0,
        "language": "",
        "languages_url": format!("{api}/languages"),
        "html_url": p.web_url,
        "url": api,
        "link": "",
        "ssh_url": p.git_ssh_url,
        "clone_url": p.git_http_url,
        "original_url": "",
        "website": "",
        "stars_count": 0,
        "forks_count": 0,
        "watchers_count": 0,
        "open_issues_count": 0,
        "open_pr_counter": 0,
        "release_counter": 0,
        "default_branch": p.default_branch,
        "archived": false,
        "created_at": ZERO_TIME,
        "updated_at": updated,
        "archived_at": "1970-01-01T00:00:00Z",
        "permissions": {"admin": true, "push": true, "pull": true},
    });
    let settings = json!({
        "has_issues": true,
        "internal_tracker": {
            "enable_time_tracker": true,
            "allow_only_contributors_to_track_time": true,
            "enable_issue_dependencies": true,
        },
        "has_wiki": true,
        "has_pull_requests": true,
        "has_projects": true,
        "projects_mode": "all",
        "has_releases": true,
        "has_packages": true,
        "has_actions": true,
        "ignore_whitespace_conflicts": false,
        "allow_merge_commits": true,
        "allow_rebase": true,
        "allow_rebase_explicit": true,
        "allow_squash_merge": true,
        "allow_fast_forward_only_merge": true,
        "allow_rebase_update": true,
        "allow_manual_merge": false,
        "autodetect_manual_merge": false,
        "default_delete_branch_after_merge": false,
        "default_merge_style": "merge",
        "default_allow_maintainer_edit": false,
        "avatar_url": p.avatar_url.as_deref().unwrap_or(""),
        "internal": p.visibility == Visibility::Internal,
        "mirror_interval": "",
        "object_format_name": "sha1",
        "mirror_updated": ZERO_TIME,
        "topics": [],
        "licenses": [],
    });
    if let (Value::Object(m), Value::Object(more)) = (&mut repo, settings) {
        m.extend(more);
    }
    repo
}

/// A commit's author or committer (`PayloadUser`; Gogs sends the same).
pub(super) fn payload_user(p: &Person) -> Value {
    json!({
        "name": p.name,
        "email": p.email,
        "username": p.username.as_deref().unwrap_or(""),
    })
}

/// A `PayloadCommit`: the author's time with its own offset, files added, removed, modified.
fn commit(c: &Commit, web_url: &str) -> Value {
    json!({
        "id": c.id,
        "message": c.message,
        "url": format!("{web_url}/commit/{}", c.id),
        "author": payload_user(&c.author),
        "committer": payload_user(&c.committer),
        // What Gitea reports for a commit it cannot verify (`ParseCommitWithSignature`).
        "verification": {
            "verified": false,
            "reason": "gpg.error.not_signed_commit",
            "signature": "",
            "signer": null,
            "payload": "",
        },
        "timestamp": c.author.time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "added": c.added,
        "removed": c.removed,
        "modified": c.modified,
    })
}

/// The pusher as a Gitea user.
fn pusher(e: &PushEvent) -> Value {
    let u = &e.pusher;
    user(&u.username, u.id, &u.name, &u.email, &e.project)
}

/// `compare_url` as Gitea makes it (`setting.AppURL` + the compare path): the old value for an
/// update; for a new branch, the parent of its oldest listed commit, else the default branch; for a
/// new tag, all zeros; without any, the instance's root alone.
fn compare_url(e: &PushEvent) -> String {
    let (p, ch) = (&e.project, &e.change);
    let new = &ch.update.new;
    let from = match (ch.kind(), ch.action()) {
        (_, Action::Delete) => None,
        (EventKind::TagPush, _) => Some("0".repeat(ch.update.old.len())),
        (_, Action::Update) => Some(ch.update.old.clone()),
        (_, Action::Create) => match ch.recent.first().and_then(|c| c.parent_ids.first()) {
            Some(parent) => Some(parent.clone()),
            None if ch.short_ref() != p.default_branch => Some(p.default_branch.clone()),
            None => None,
        },
    };
    match from {
        Some(from) => format!("{}/compare/{from}...{new}", p.web_url),
        None => format!("{}/", p.instance_url()),
    }
}

/// The commits a `push` lists, newest first, and the count it gives: a new branch's newest commits
/// (`CommitsBeforeLimit(10)`, counted as listed), an update's new ones; a tag's none.
pub(super) fn listed(ch: &RefEvent) -> (Vec<&Commit>, usize) {
    match (ch.kind(), ch.action()) {
        (EventKind::TagPush, _) => (Vec::new(), 0),
        (_, Action::Create) => (ch.recent.iter().rev().collect(), ch.recent.len()),
        _ => (ch.commits.iter().rev().collect(), ch.total_commits),
    }
}

/// Gitea's `push` body.
fn push_body(e: &PushEvent) -> Value {
    let (p, ch) = (&e.project, &e.change);
    let tag = ch.kind() == EventKind::TagPush;
    let updated = e.pushed_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let (commits, total) = listed(ch);
    let before = if tag && ch.action() != Action::Delete {
        "0".repeat(ch.update.old.len())
    } else {
        ch.update.old.clone()
    };
    json!({
        "ref": ch.update.refname,
        "before": before,
        "after": ch.update.new,
        "compare_url": compare_url(e),
        "commits": commits.iter().map(|c| commit(c, &p.web_url)).collect::<Vec<_>>(),
        "total_commits": total,
        "head_commit": ch.head.as_ref().map(|c| commit(c, &p.web_url)),
        "repository": repository(p, &updated),
        "pusher": pusher(e),
        "sender": pusher(e),
    })
}

/// Gitea's `create` or `delete` body (the ref by its short name).
fn ref_body(e: &PushEvent, sent: Sent) -> Value {
    let (p, ch) = (&e.project, &e.change);
    let ref_type = match ch.kind() {
        EventKind::TagPush => "tag",
        EventKind::Push => "branch",
    };
    let updated = e.pushed_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    match sent {
        Sent::Delete => json!({
            "ref": ch.short_ref(),
            "ref_type": ref_type,
            "pusher_type": "user",
            "repository": repository(p, &updated),
            "sender": pusher(e),
        }),
        _ => json!({
            "sha": ch.update.new,
            "ref": ch.short_ref(),
            "ref_type": ref_type,
            "repository": repository(p, &updated),
            "sender": pusher(e),
        }),
    }
}

/// The requests Gitea makes of one ref event, in its order.
fn sends(update: &RefUpdate) -> &'static [Sent] {
    match (EventKind::of(update), update.action()) {
        (EventKind::Push, Action::Create) => &[Sent::Create, Sent::Push],
        (EventKind::Push, Action::Update) => &[Sent::Push],
        (EventKind::Push, Action::Delete) => &[Sent::Delete],
        (EventKind::TagPush, Action::Delete) => &[Sent::Push, Sent::Delete],
        (EventKind::TagPush, _) => &[Sent::Push, Sent::Create],
    }
}

impl Format for Gitea {
    fn id(&self) -> &'static str {
        self.id
    }

    fn docs(&self) -> Docs {
        Docs {
            event: if self.forgejo {
                "`X-Forgejo-Event`, `X-Gitea-Event`: `push` / `create` / `delete`"
            } else {
                "`X-Gitea-Event: push` / `create` / `delete`"
            },
            secret:
                "never sent: `X-Gitea-Signature: <hex HMAC-SHA256(secret, body)>`, the same in\n\
                     `X-Gogs-Signature` and `X-Hub-Signature-256`, SHA-1 in `X-Hub-Signature`",
            check: "recomputes the HMAC of the raw body",
        }
    }

    fn sends(&self, update: &RefUpdate) -> &'static [Sent] {
        sends(update)
    }

    fn body(
        &self,
        event: &PushEvent,
        _hook: Hook,
        sent: Sent,
        _options: &super::Options,
    ) -> Vec<u8> {
        match sent {
            Sent::Push => to_json(&push_body(event)),
            _ => to_json(&ref_body(event, sent)),
        }
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        let (sha1, sha256) = match auth.secret() {
            Some(s) => (
                hex(&hmac_sha1(s.as_bytes(), &d.body)),
                hex(&hmac_sha256(s.as_bytes(), &d.body)),
            ),
            None => (String::new(), String::new()),
        };
        let (delivery, event) = (d.hook.delivery_id.to_string(), d.sent.as_str());
        let mut headers = vec![Header::new("Content-Type", "application/json")];
        let vendors: &[(&'static str, &'static str, &'static str, &'static str)] = if self.forgejo {
            &[FORGEJO_HEADERS, GITEA_HEADERS, GOGS_HEADERS]
        } else {
            &[GITEA_HEADERS, GOGS_HEADERS]
        };
        for (d_name, e_name, t_name, s_name) in vendors {
            headers.push(Header::new(*d_name, delivery.clone()));
            headers.push(Header::new(*e_name, event));
            headers.push(Header::new(*t_name, event));
            headers.push(Header::new(*s_name, sha256.clone()));
        }
        headers.push(Header::new("X-Hub-Signature", format!("sha1={sha1}")));
        headers.push(Header::new(
            "X-Hub-Signature-256",
            format!("sha256={sha256}"),
        ));
        headers.push(Header::new("X-GitHub-Delivery", delivery));
        headers.push(Header::new("X-GitHub-Event", event));
        headers.push(Header::new("X-GitHub-Event-Type", event));
        Prepared::new(headers, d)
    }
}

/// Delivery, event, event type and signature headers of one vendor prefix.
const FORGEJO_HEADERS: (&str, &str, &str, &str) = (
    "X-Forgejo-Delivery",
    "X-Forgejo-Event",
    "X-Forgejo-Event-Type",
    "X-Forgejo-Signature",
);
const GITEA_HEADERS: (&str, &str, &str, &str) = (
    "X-Gitea-Delivery",
    "X-Gitea-Event",
    "X-Gitea-Event-Type",
    "X-Gitea-Signature",
);
const GOGS_HEADERS: (&str, &str, &str, &str) = (
    "X-Gogs-Delivery",
    "X-Gogs-Event",
    "X-Gogs-Event-Type",
    "X-Gogs-Signature",
);
