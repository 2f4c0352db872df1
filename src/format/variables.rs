//! The variables of a template, for one ref's push: what chat messages and `custom` requests see
//! (docs/formats.md documents them). Fields are only ever added.

use minijinja::Value;
use serde::Serialize;

use super::neutral;
use crate::model::{Action, Commit as GitCommit, PushEvent, RefKind};

/// The longest commit title a message shows; longer ones end in `…`.
const MAX_TITLE_CHARS: usize = 150;

/// What a ref name's characters are percent-encoded in a URL path: all but letters, digits, `-._~`
/// and `/` (branch names like `feature/login` keep their slash, as forges show them).
const REF_IN_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The variables of a template, for one ref of one push.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub project: Project,
    pub pusher: Pusher,
    #[serde(rename = "ref")]
    pub refname: Ref,
    /// `created`, `updated` or `deleted`.
    pub action: &'static str,
    /// An update whose new value does not contain the old one.
    pub forced: bool,
    pub before: String,
    pub after: String,
    /// The compare page of an update; none for a created or deleted ref.
    pub compare_url: Option<Value>,
    /// How many commits the push brought to this ref, however many `commits` lists.
    pub total_commits: usize,
    /// The newest commits first (at most `[payload] max_commits`).
    pub commits: Vec<Commit>,
    /// A tag push's tag; none for branches and deleted tags.
    pub tag: Option<Tag>,
    pub event_id: String,
    /// RFC 3339.
    pub pushed_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub name: String,
    pub namespace: String,
    /// `acme/demo`.
    pub full_name: String,
    pub url: Value,
    pub default_branch: String,
    /// The http(s) clone URL (`git_http_url`), as CI servers name the repository.
    pub clone_url: String,
    /// The ssh clone URL (`git_ssh_url`).
    pub ssh_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pusher {
    /// The login the server authenticated.
    pub login: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ref {
    /// `main`, `v1.0`.
    pub name: String,
    /// `refs/heads/main`.
    pub full: String,
    /// `branch` or `tag`.
    pub kind: &'static str,
    /// The branch's or tag's page; none when it was deleted.
    pub url: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    pub id: String,
    pub short_id: String,
    /// The message's first line, at most 150 characters.
    pub title: String,
    pub message: String,
    pub url: Value,
    pub author: Author,
    /// The author's date, RFC 3339.
    pub date: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Author {
    pub name: String,
    pub email: String,
    /// The login whose `[users.*]` address this is, if any.
    pub login: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tag {
    pub annotated: bool,
    /// The first line of an annotated tag's message.
    pub title: Option<String>,
    /// The commit it points at.
    pub target: Option<String>,
    pub target_short: Option<String>,
    pub target_url: Option<Value>,
}

fn short(id: &str) -> String {
    id.chars().take(7).collect()
}

fn title(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default().trim_end();
    if first.chars().count() <= MAX_TITLE_CHARS {
        first.to_owned()
    } else {
        let cut: String = first.chars().take(MAX_TITLE_CHARS - 1).collect();
        format!("{cut}…")
    }
}

impl Context {
    /// The context of one event, its URLs made by `link` (ready for a markup's links, or as they are).
    pub fn of(e: &PushEvent, link: &dyn Fn(String) -> Value) -> Context {
        let (p, ch) = (&e.project, &e.change);
        let u = &ch.update;
        let commit_url = |id: &str| link(neutral::commit_url(&p.web_url, id));
        let commit = |c: &GitCommit| Commit {
            id: c.id.clone(),
            short_id: short(&c.id),
            title: title(&c.message),
            message: c.message.trim_end().to_owned(),
            url: commit_url(&c.id),
            author: Author {
                name: c.author.name.clone(),
                email: c.author.email.clone(),
                login: c.author.username.clone(),
            },
            date: c.author.time.to_rfc3339(),
        };
        let (kind, page) = match u.kind() {
            RefKind::Tag(_) => ("tag", "tags"),
            _ => ("branch", "tree"),
        };
        let action = ch.action();
        Context {
            project: Project {
                name: p.name.clone(),
                namespace: p.namespace.clone(),
                full_name: p.path_with_namespace.clone(),
                url: link(p.web_url.clone()),
                default_branch: p.default_branch.clone(),
                clone_url: p.git_http_url.clone(),
                ssh_url: p.git_ssh_url.clone(),
            },
            pusher: Pusher {
                login: e.pusher.username.clone(),
                name: e.pusher.name.clone(),
                email: e.pusher.email.clone(),
            },
            refname: Ref {
                name: ch.short_ref().to_owned(),
                full: u.refname.clone(),
                kind,
                url: (action != Action::Delete).then(|| {
                    let name = percent_encoding::utf8_percent_encode(ch.short_ref(), REF_IN_PATH);
                    link(format!("{}/{page}/{name}", p.web_url))
                }),
            },
            action: neutral::action(action),
            forced: ch.forced,
            before: u.old.clone(),
            after: u.new.clone(),
            compare_url: neutral::compare_url(e).map(link),
            total_commits: ch.total_commits,
            commits: ch.commits.iter().rev().map(commit).collect(),
            tag: ch.tag.as_ref().map(|t| Tag {
                annotated: t.message.is_some(),
                title: t.message.as_deref().map(title).filter(|t| !t.is_empty()),
                target: t.peeled.clone(),
                target_short: t.peeled.as_deref().map(short),
                target_url: t.peeled.as_deref().map(commit_url),
            }),
            event_id: e.id.to_string(),
            pushed_at: e.pushed_at.to_rfc3339(),
        }
    }
}

impl Context {
    /// Made-up pushes to try a template on before any real push: an update of `main` with two
    /// commits, and a new annotated tag.
    pub fn samples() -> [Context; 2] {
        let url = |path: &str| {
            Value::from_safe_string(format!("https://git.example.com/acme/demo{path}"))
        };
        let commit = |id: &str, title: &str| Commit {
            id: id.repeat(40),
            short_id: id.repeat(7),
            title: title.to_owned(),
            message: format!("{title}\n\nMore words."),
            url: url(&format!("/commit/{}", id.repeat(40))),
            author: Author {
                name: "Alice".to_owned(),
                email: "alice@example.com".to_owned(),
                login: Some("alice".to_owned()),
            },
            date: "2026-01-02T03:04:05+00:00".to_owned(),
        };
        let branch = Context {
            project: Project {
                name: "demo".to_owned(),
                namespace: "acme".to_owned(),
                full_name: "acme/demo".to_owned(),
                url: url(""),
                default_branch: "main".to_owned(),
                clone_url: "https://git.example.com/acme/demo.git".to_owned(),
                ssh_url: "git@git.example.com:acme/demo.git".to_owned(),
            },
            pusher: Pusher {
                login: "alice".to_owned(),
                name: "Alice".to_owned(),
                email: "alice@example.com".to_owned(),
            },
            refname: Ref {
                name: "main".to_owned(),
                full: "refs/heads/main".to_owned(),
                kind: "branch",
                url: Some(url("/tree/main")),
            },
            action: "updated",
            forced: false,
            before: "a".repeat(40),
            after: "c".repeat(40),
            compare_url: Some(url("/compare/a...c")),
            total_commits: 2,
            commits: vec![commit("c", "Second change"), commit("b", "First change")],
            tag: None,
            event_id: "00000000-0000-0000-0000-000000000000".to_owned(),
            pushed_at: "2026-01-02T03:04:05+00:00".to_owned(),
        };
        let tag = Context {
            refname: Ref {
                name: "v1.0".to_owned(),
                full: "refs/tags/v1.0".to_owned(),
                kind: "tag",
                url: Some(url("/tags/v1.0")),
            },
            action: "created",
            before: "0".repeat(40),
            compare_url: None,
            total_commits: 0,
            commits: Vec::new(),
            tag: Some(Tag {
                annotated: true,
                title: Some("Release 1.0".to_owned()),
                target: Some("c".repeat(40)),
                target_short: Some("c".repeat(7)),
                target_url: Some(url(&format!("/commit/{}", "c".repeat(40)))),
            }),
            ..branch.clone()
        };
        [branch, tag]
    }
}
