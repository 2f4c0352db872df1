//! GitLab's push and tag-push webhooks, key for key and header for header as GitLab sends them.

use serde::Serialize;
use serde_json::{Map, Value};

use super::gitlab_like::{hook_event, Author, ProjectAttrs, Repository};
use super::{to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, Sent};
use crate::model::{Commit, EventKind, PushEvent};

/// The GitLab release our `User-Agent` claims to be.
pub const GITLAB_VERSION: &str = "18.6.0";

pub struct GitLab;

#[derive(Serialize)]
struct Body<'a> {
    object_kind: &'static str,
    event_name: &'static str,
    before: &'a str,
    after: &'a str,
    #[serde(rename = "ref")]
    refname: &'a str,
    ref_protected: bool,
    checkout_sha: Option<&'a str>,
    message: Option<&'a str>,
    user_id: u64,
    user_name: &'a str,
    user_username: &'a str,
    user_email: &'a str,
    user_avatar: Option<&'a str>,
    project_id: u64,
    project: ProjectAttrs<'a>,
    commits: Vec<CommitAttrs<'a>>,
    total_commits_count: usize,
    push_options: Map<String, Value>,
    repository: Repository<'a>,
}

#[derive(Serialize)]
struct CommitAttrs<'a> {
    id: &'a str,
    message: &'a str,
    title: String,
    timestamp: String,
    url: String,
    author: Author<'a>,
    added: &'a [String],
    modified: &'a [String],
    removed: &'a [String],
}

/// A commit's title as GitLab shows it: the first line; from 100 characters on, cut at the last space
/// within 78 characters and ended with `...`; `No commit message` for a blank message.
pub fn title(message: &str) -> String {
    if message.trim().is_empty() {
        return "No commit message".to_owned();
    }
    let full = message.split(['\r', '\n']).next().unwrap_or_default();
    if full.chars().count() < 100 {
        return full.to_owned();
    }
    // Rails' `truncate(81, separator: ' ', omission: '...')`: keep at most 78 characters, ending at a space when there is one.
    let byte_at = |n: usize| full.char_indices().nth(n).map_or(full.len(), |(i, _)| i);
    let cut = full[..byte_at(79)]
        .rfind(' ')
        .unwrap_or_else(|| byte_at(78));
    format!("{}...", &full[..cut])
}

/// `git push -o a.b` and `-o a.b=v` as GitLab nests them: `{"a":{"b":true}}`, `{"a":{"b":"v"}}`.
fn push_options(options: &[String]) -> Map<String, Value> {
    let mut root = Map::new();
    for option in options {
        let (key, value) = match option.split_once('=') {
            Some((k, v)) => (k, Value::String(v.to_owned())),
            None => (option.as_str(), Value::Bool(true)),
        };
        let mut parts = key.split('.').filter(|p| !p.is_empty()).peekable();
        let mut map = &mut root;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                map.insert(part.to_owned(), value.clone());
                break;
            }
            let entry = map
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(inner) = entry else {
                unreachable!("just made an object")
            };
            map = inner;
        }
    }
    root
}

fn commit<'a>(c: &'a Commit, web_url: &str) -> CommitAttrs<'a> {
    CommitAttrs {
        id: &c.id,
        message: &c.message,
        title: title(&c.message),
        timestamp: c.committer.time.to_rfc3339(),
        url: format!("{web_url}/-/commit/{}", c.id),
        author: Author {
            name: &c.author.name,
            email: &c.author.email,
        },
        added: &c.added,
        modified: &c.modified,
        removed: &c.removed,
    }
}

impl Format for GitLab {
    fn id(&self) -> &'static str {
        "gitlab"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "`X-Gitlab-Event: Push Hook` / `Tag Push Hook`",
            secret: "`X-Gitlab-Token: <secret>`",
            check: "compares the token with its secret",
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
        let kind = ch.kind().as_str();
        let message = match ch.kind() {
            EventKind::Push => None,
            EventKind::TagPush => ch.tag.as_ref().map(|t| t.message.as_deref().unwrap_or("")),
        };
        to_json(&Body {
            object_kind: kind,
            event_name: kind,
            before: &ch.update.old,
            after: &ch.update.new,
            refname: &ch.update.refname,
            ref_protected: false,
            checkout_sha: ch.checkout_sha(),
            message,
            user_id: u.id,
            user_name: &u.name,
            user_username: &u.username,
            user_email: &u.email,
            user_avatar: u.avatar_url.as_deref(),
            project_id: p.id,
            project: ProjectAttrs::of(p, true),
            commits: ch.commits.iter().map(|c| commit(c, &p.web_url)).collect(),
            total_commits_count: ch.total_commits,
            push_options: push_options(&event.push_options),
            repository: Repository::of(p),
        })
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, attempt: Attempt) -> Prepared {
        let event = hook_event(d.kind);
        let mut headers = vec![
            Header::new("Content-Type", "application/json"),
            Header::new("User-Agent", format!("GitLab/{GITLAB_VERSION}")),
            Header::new("Idempotency-Key", d.hook.delivery_id.to_string()),
            Header::new("X-Gitlab-Event", event),
            Header::new("X-Gitlab-Webhook-UUID", attempt.id.to_string()),
            Header::new("X-Gitlab-Instance", d.instance.clone()),
        ];
        if let Some(secret) = auth.secret() {
            headers.push(Header::secret(
                "X-Gitlab-Token",
                secret.replace(['\r', '\n'], ""),
            ));
        }
        headers.push(Header::new("X-Gitlab-Event-UUID", d.event_id.to_string()));
        Prepared::new(headers, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_truncated_like_gitlab() {
        assert_eq!(title("px\n"), "px");
        assert_eq!(title("first\r\nsecond"), "first");
        assert_eq!(title("  \n\n"), "No commit message");
        assert_eq!(title(""), "No commit message");
        assert_eq!(title("\nbody only"), "");
        let short = "a".repeat(99);
        assert_eq!(title(&short), short);
        // 100 characters: truncated at the last space within the first 78 characters.
        let words = "word ".repeat(21);
        let t = title(words.trim_end());
        assert_eq!(t, format!("{}...", "word ".repeat(15).trim_end()));
        assert!(t.chars().count() <= 81);
        // No space: a hard cut at 78 characters.
        assert_eq!(title(&"x".repeat(120)), format!("{}...", "x".repeat(78)));
        // A space exactly at position 78 is where the cut goes.
        let edge = format!("{} {}", "y".repeat(78), "z".repeat(30));
        assert_eq!(title(&edge), format!("{}...", "y".repeat(78)));
        // Characters, not bytes.
        assert_eq!(title(&"é".repeat(120)), format!("{}...", "é".repeat(78)));
    }

    #[test]
    fn push_options_nest_like_gitlab() {
        let opts = [
            "ci.skip".to_owned(),
            "ci.variable=A=1".to_owned(),
            "merge_request.create".to_owned(),
        ];
        let v = Value::Object(push_options(&opts));
        assert_eq!(
            v.to_string(),
            r#"{"ci":{"skip":true,"variable":"A=1"},"merge_request":{"create":true}}"#
        );
        assert!(push_options(&[]).is_empty());
    }
}
