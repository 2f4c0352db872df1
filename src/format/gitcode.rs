//! GitCode's push and tag-push webhooks: GitLab-shaped bodies with GitCode's own keys and `X-GitCode-*` headers.

use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use super::gitlab_like::{hook_event, Author, ProjectAttrs, Repository};
use super::sign::{hex, hmac_sha256};
use super::{
    to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, SecretMode, Sent,
};
use crate::model::{Commit, EventKind, PushEvent};

pub struct GitCode;

#[derive(Serialize)]
struct Body<'a> {
    object_kind: &'static str,
    event_name: &'static str,
    before: &'a str,
    after: &'a str,
    #[serde(rename = "ref")]
    refname: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_ref: Option<&'a str>,
    checkout_sha: Option<&'a str>,
    message: &'a str,
    user_id: u64,
    user_name: &'a str,
    user_username: &'a str,
    user_email: &'a str,
    user_avatar: Option<&'a str>,
    project_id: u64,
    project: ProjectAttrs<'a>,
    commits: Vec<GitCodeCommit<'a>>,
    total_commits_count: usize,
    push_options: &'a [String],
    repository: Repository<'a>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    branch: Option<Branch<'a>>,
    manual_build: bool,
    uuid: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    hook: Option<HookInfo>,
}

/// Keys only branch pushes carry.
#[derive(Serialize)]
struct Branch<'a> {
    git_branch: &'a str,
    git_commit_no: &'a str,
}

#[derive(Serialize)]
struct HookInfo {
    hook_id: u64,
    hook_type: &'static str,
}

#[derive(Serialize)]
struct GitCodeCommit<'a> {
    id: &'a str,
    message: &'a str,
    timestamp: String,
    url: String,
    author: Author<'a>,
    added: &'a [String],
    removed: &'a [String],
    modified: &'a [String],
    cooperate_authors: Vec<Author<'a>>,
}

/// `Co-authored-by: Name <email>` trailers of a message.
fn co_authors(message: &str) -> Vec<Author<'_>> {
    message
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            if !key.trim().eq_ignore_ascii_case("co-authored-by") {
                return None;
            }
            let (name, rest) = value.split_once('<')?;
            let email = rest.split_once('>')?.0;
            Some(Author {
                name: name.trim(),
                email: email.trim(),
            })
        })
        .collect()
}

fn commit<'a>(c: &'a Commit, web_url: &str) -> GitCodeCommit<'a> {
    GitCodeCommit {
        id: &c.id,
        message: &c.message,
        timestamp: c
            .committer
            .time
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        url: format!("{web_url}/commits/detail/{}", c.id),
        author: Author {
            name: &c.author.name,
            email: &c.author.email,
        },
        added: &c.added,
        removed: &c.removed,
        modified: &c.modified,
        cooperate_authors: co_authors(&c.message),
    }
}

impl Format for GitCode {
    fn id(&self) -> &'static str {
        "gitcode"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "`X-GitCode-Event: Push Hook` / `Tag Push Hook`",
            secret: "`X-GitCode-Token: <secret>`; with `secret_mode = \"sign\"`,\n\
                     `X-GitCode-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`",
            check: "compares the token, or recomputes the HMAC of the raw body",
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
        let (p, u, ch) = (&event.project, &event.pusher, &event.change);
        let kind = ch.kind();
        let tag = kind == EventKind::TagPush;
        to_json(&Body {
            object_kind: kind.as_str(),
            event_name: kind.as_str(),
            before: &ch.update.old,
            after: &ch.update.new,
            refname: &ch.update.refname,
            base_ref: tag.then_some(p.default_branch.as_str()),
            checkout_sha: ch.checkout_sha(),
            message: ch
                .tag
                .as_ref()
                .and_then(|t| t.message.as_deref())
                .unwrap_or(""),
            user_id: u.id,
            user_name: &u.name,
            user_username: &u.username,
            user_email: &u.email,
            user_avatar: u.avatar_url.as_deref(),
            project_id: p.id,
            project: ProjectAttrs::of(p, false),
            commits: ch.commits.iter().map(|c| commit(c, &p.web_url)).collect(),
            total_commits_count: ch.total_commits,
            push_options: &event.push_options,
            repository: Repository::of(p),
            branch: (!tag).then(|| Branch {
                git_branch: ch.short_ref(),
                git_commit_no: &ch.update.new,
            }),
            manual_build: false,
            uuid: hook.delivery_id.to_string(),
            hook: (!tag).then_some(HookInfo {
                hook_id: hook.id,
                hook_type: "project",
            }),
        })
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        let event = hook_event(d.kind);
        let mut headers = vec![
            Header::new("Content-Type", "application/json"),
            Header::new("User-Agent", "git-gitcode-hook"),
            Header::new("X-GitCode-Event", event),
            Header::new("X-GitCode-Delivery", d.hook.delivery_id.to_string()),
        ];
        match (auth.secret(), auth.mode) {
            (None, _) => {}
            (Some(s), SecretMode::Password) => headers.push(Header::secret("X-GitCode-Token", s)),
            (Some(s), SecretMode::Sign) => {
                headers.push(Header::new(
                    "X-GitCode-Signature-256",
                    format!("sha256={}", hex(&hmac_sha256(s.as_bytes(), &d.body))),
                ));
            }
        }
        Prepared::new(headers, d)
    }
}

#[cfg(test)]
mod tests {
    use super::co_authors;

    #[test]
    fn co_author_trailers() {
        let a = co_authors("Fix it\n\nCo-authored-by: Bea Doe <bea@example.com>\nco-authored-by:Cy <cy@x>\nNot-a: trailer\n");
        let pairs: Vec<(&str, &str)> = a.into_iter().map(|x| (x.name, x.email)).collect();
        assert_eq!(pairs, [("Bea Doe", "bea@example.com"), ("Cy", "cy@x")]);
    }
}
