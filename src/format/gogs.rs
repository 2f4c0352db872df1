//! Gogs' push, create and delete webhooks, as `internal/database/actions.go` (`CommitRepo`,
//! `PushTag`) sends them (gogs/gogs 0.13):
//! - a branch created: `create`, then `push`; updated: `push`; deleted: `delete`;
//! - a tag created or moved: `create` only; deleted: `delete` only;
//! - a new branch lists its tip and 9 newest ancestors, known or not (`internal/database/update.go`).
//!
//! Bodies follow `internal/route/api/v1/types` (`PushPayload`, `CreatePayload`, `DeletePayload`,
//! `WebhookPayloadCommit`, `Repository`, `User`); commits newest first. Headers `X-Gogs-Delivery`,
//! `X-Gogs-Event`, `X-Gogs-Signature` (hex HMAC-SHA256 of the body; empty without a secret).

use chrono::SecondsFormat;
use serde_json::{json, Value};

use super::gitea::{listed, payload_user};
use super::sign::{hex, hmac_sha256};
use super::{to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, Sent};
use crate::ids::stable_id;
use crate::model::{Action, Commit, EventKind, Project, PushEvent, RefUpdate, Visibility};

/// Go's zero time, which Gogs sends for times it does not have.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub struct Gogs;

fn user(login: &str, id: u64, name: &str, email: &str, p: &Project) -> Value {
    json!({
        "id": id,
        "username": login,
        "login": login,
        "full_name": name,
        "email": email,
        "avatar_url": format!("{}/avatars/{}", p.instance_url(), stable_id(email)),
    })
}

fn repository(p: &Project, updated: &str) -> Value {
    json!({
        "id": p.id,
        "owner": user(&p.namespace, stable_id(&p.namespace), &p.namespace, "", p),
        "name": p.name,
        "full_name": p.path_with_namespace,
        "description": p.description,
        "private": p.visibility != Visibility::Public,
        "fork": false,
        "parent": null,
        "empty": false,
        "mirror": false,
        "size": 0,
        "html_url": p.web_url,
        "ssh_url": p.git_ssh_url,
        "clone_url": p.git_http_url,
        "website": "",
        "stars_count": 0,
        "forks_count": 0,
        "watchers_count": 0,
        "open_issues_count": 0,
        "default_branch": p.default_branch,
        "created_at": ZERO_TIME,
        "updated_at": updated,
    })
}

fn commit(c: &Commit, web_url: &str) -> Value {
    json!({
        "id": c.id,
        "message": c.message,
        "url": format!("{web_url}/commit/{}", c.id),
        "author": payload_user(&c.author),
        "committer": payload_user(&c.committer),
        "added": c.added,
        "removed": c.removed,
        "modified": c.modified,
        "timestamp": c.author.time.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

impl Format for Gogs {
    fn id(&self) -> &'static str {
        "gogs"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "`X-Gogs-Event: push` / `create` / `delete`",
            secret: "never sent: `X-Gogs-Signature: <hex HMAC-SHA256(secret, body)>`",
            check: "recomputes the HMAC of the raw body",
        }
    }

    fn sends(&self, update: &RefUpdate) -> &'static [Sent] {
        match (EventKind::of(update), update.action()) {
            (EventKind::Push, Action::Create) => &[Sent::Create, Sent::Push],
            (EventKind::Push, Action::Update) => &[Sent::Push],
            (_, Action::Delete) => &[Sent::Delete],
            (EventKind::TagPush, _) => &[Sent::Create],
        }
    }

    fn body(&self, e: &PushEvent, _hook: Hook, sent: Sent, _options: &super::Options) -> Vec<u8> {
        let (p, ch) = (&e.project, &e.change);
        let updated = e.pushed_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let u = &e.pusher;
        let sender = user(&u.username, u.id, &u.name, &u.email, p);
        let ref_type = match ch.kind() {
            EventKind::TagPush => "tag",
            EventKind::Push => "branch",
        };
        let body = match sent {
            Sent::Create => json!({
                "ref": ch.short_ref(),
                "ref_type": ref_type,
                // Gogs names the object for a tag only.
                "sha": if ch.kind() == EventKind::TagPush { ch.update.new.as_str() } else { "" },
                "default_branch": p.default_branch,
                "repository": repository(p, &updated),
                "sender": sender,
            }),
            Sent::Delete => json!({
                "ref": ch.short_ref(),
                "ref_type": ref_type,
                "pusher_type": "user",
                "repository": repository(p, &updated),
                "sender": sender,
            }),
            Sent::Push => json!({
                "ref": ch.update.refname,
                "before": ch.update.old,
                "after": ch.update.new,
                "compare_url": if ch.action() == Action::Update {
                    format!("{}/compare/{}...{}", p.web_url, ch.update.old, ch.update.new)
                } else {
                    String::new()
                },
                "commits": listed(ch).0.into_iter().map(|c| commit(c, &p.web_url)).collect::<Vec<_>>(),
                "repository": repository(p, &updated),
                "pusher": sender,
                "sender": sender,
            }),
        };
        to_json(&body)
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        let signature = auth
            .secret()
            .map(|s| hex(&hmac_sha256(s.as_bytes(), &d.body)))
            .unwrap_or_default();
        let headers = vec![
            Header::new("Content-Type", "application/json"),
            Header::new("User-Agent", "GogsServer"),
            Header::new("X-Gogs-Delivery", d.hook.delivery_id.to_string()),
            Header::new("X-Gogs-Signature", signature),
            Header::new("X-Gogs-Event", d.sent.as_str()),
        ];
        Prepared::new(headers, d)
    }
}
