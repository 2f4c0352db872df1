//! AtomGit's push and tag-push webhooks, in the shape of AtomGit's webhook documentation.

use serde::Serialize;

use super::gitlab_like::{hook_event, Author, Repository};
use super::{to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, Sent};
use crate::model::{EventKind, PushEvent};

pub struct AtomGit;

#[derive(Serialize)]
struct PushBody<'a> {
    object_kind: &'static str,
    before: &'a str,
    after: &'a str,
    #[serde(rename = "ref")]
    refname: &'a str,
    user_id: u64,
    user_name: &'a str,
    user_email: &'a str,
    project_id: u64,
    repository: Repository<'a>,
    commits: Vec<Commit<'a>>,
    total_commits_count: usize,
}

/// The documented tag push: no e-mail, and no commits.
#[derive(Serialize)]
struct TagBody<'a> {
    object_kind: &'static str,
    #[serde(rename = "ref")]
    refname: &'a str,
    before: &'a str,
    after: &'a str,
    user_id: u64,
    user_name: &'a str,
    project_id: u64,
    repository: Repository<'a>,
    commits: [(); 0],
    total_commits_count: usize,
}

#[derive(Serialize)]
struct Commit<'a> {
    id: &'a str,
    message: &'a str,
    timestamp: String,
    url: String,
    author: Author<'a>,
}

impl Format for AtomGit {
    fn id(&self) -> &'static str {
        "atomgit"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "`X-AtomGit-Event: Push Hook` / `Tag Push Hook`",
            secret: "`X-AtomGit-Token: <secret>`",
            check: "compares the token",
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
        let repository = Repository::of(p);
        match ch.kind() {
            EventKind::Push => to_json(&PushBody {
                object_kind: "push",
                before: &ch.update.old,
                after: &ch.update.new,
                refname: &ch.update.refname,
                user_id: u.id,
                user_name: &u.name,
                user_email: &u.email,
                project_id: p.id,
                repository,
                commits: ch
                    .commits
                    .iter()
                    .map(|c| Commit {
                        id: &c.id,
                        message: &c.message,
                        timestamp: c.committer.time.to_rfc3339(),
                        url: format!("{}/commits/{}", p.web_url, c.id),
                        author: Author {
                            name: &c.author.name,
                            email: &c.author.email,
                        },
                    })
                    .collect(),
                total_commits_count: ch.total_commits,
            }),
            EventKind::TagPush => to_json(&TagBody {
                object_kind: "tag_push",
                refname: &ch.update.refname,
                before: &ch.update.old,
                after: &ch.update.new,
                user_id: u.id,
                user_name: &u.name,
                project_id: p.id,
                repository,
                commits: [],
                total_commits_count: 0,
            }),
        }
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        let event = hook_event(d.kind);
        let mut headers = vec![
            Header::new("Content-Type", "application/json"),
            Header::new("X-AtomGit-Event", event),
        ];
        if let Some(secret) = auth.secret() {
            headers.push(Header::secret("X-AtomGit-Token", secret));
        }
        Prepared::new(headers, d)
    }
}
