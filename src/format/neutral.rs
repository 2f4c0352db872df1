//! Our own push event schema, `git-webhook.push/1`: what `cloudevents` carries as its data and
//! `standard-webhooks` as its `data`. Every field is documented in docs/formats.md ("The neutral event");
//! fields are only ever added, so receivers can rely on it.

use chrono::SecondsFormat;
use serde::Serialize;

use crate::model::{Action, Commit, Person, PushEvent, RefKind};

/// The schema's name and version, sent as the event's `schema`.
pub const SCHEMA: &str = "git-webhook.push/1";

#[derive(Serialize)]
pub(crate) struct Event<'a> {
    schema: &'static str,
    /// The event's id: the same for every endpoint and every attempt.
    id: String,
    #[serde(rename = "ref")]
    refname: &'a str,
    ref_type: &'static str,
    ref_name: &'a str,
    /// `created`, `updated` or `deleted`.
    action: &'static str,
    /// An update whose new value does not contain the old one.
    forced: bool,
    before: &'a str,
    after: &'a str,
    /// The commit the ref now points at (through tags); `null` on delete.
    checkout_sha: Option<&'a str>,
    /// Tag pushes: the tag message (`null` for a lightweight tag) and the commit it points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<Tag<'a>>,
    total_commits: usize,
    /// The newest commits (at most `[payload] max_commits`), oldest first.
    commits: Vec<NeutralCommit<'a>>,
    head_commit: Option<NeutralCommit<'a>>,
    compare_url: Option<String>,
    repository: Repository<'a>,
    pusher: Pusher<'a>,
    push_options: &'a [String],
    pushed_at: String,
}

#[derive(Serialize)]
struct Tag<'a> {
    annotated: bool,
    message: Option<&'a str>,
    target: Option<&'a str>,
}

#[derive(Serialize)]
struct NeutralCommit<'a> {
    id: &'a str,
    tree_id: &'a str,
    parents: &'a [String],
    message: &'a str,
    title: &'a str,
    url: String,
    author: NeutralPerson<'a>,
    committer: NeutralPerson<'a>,
    added: &'a [String],
    modified: &'a [String],
    removed: &'a [String],
}

#[derive(Serialize)]
struct NeutralPerson<'a> {
    name: &'a str,
    email: &'a str,
    /// The login of the `[users.*]` entry with this address, if any.
    username: Option<&'a str>,
    /// RFC 3339 with the person's own offset.
    date: String,
}

#[derive(Serialize)]
struct Repository<'a> {
    id: u64,
    name: &'a str,
    namespace: &'a str,
    full_name: &'a str,
    description: &'a str,
    web_url: &'a str,
    git_http_url: &'a str,
    git_ssh_url: &'a str,
    visibility: &'static str,
    default_branch: &'a str,
}

#[derive(Serialize)]
struct Pusher<'a> {
    id: u64,
    username: &'a str,
    name: &'a str,
    email: &'a str,
}

fn person(p: &Person) -> NeutralPerson<'_> {
    NeutralPerson {
        name: &p.name,
        email: &p.email,
        username: p.username.as_deref(),
        date: p.time.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

fn commit<'a>(c: &'a Commit, web_url: &str) -> NeutralCommit<'a> {
    NeutralCommit {
        id: &c.id,
        tree_id: &c.tree_id,
        parents: &c.parent_ids,
        message: &c.message,
        title: c.message.lines().next().unwrap_or(""),
        url: commit_url(web_url, &c.id),
        author: person(&c.author),
        committer: person(&c.committer),
        added: &c.added,
        modified: &c.modified,
        removed: &c.removed,
    }
}

/// `created`, `updated` or `deleted`.
pub(crate) fn action(a: Action) -> &'static str {
    match a {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
    }
}

/// The page of a commit under the project's web URL.
pub(crate) fn commit_url(web_url: &str, id: &str) -> String {
    format!("{web_url}/commit/{id}")
}

/// The compare page of an update (none for a created or deleted ref).
pub(crate) fn compare_url(e: &PushEvent) -> Option<String> {
    let u = &e.change.update;
    (e.change.action() == Action::Update)
        .then(|| format!("{}/compare/{}...{}", e.project.web_url, u.old, u.new))
}

/// The neutral event of one ref update.
pub(crate) fn event(e: &PushEvent) -> Event<'_> {
    let (p, ch) = (&e.project, &e.change);
    let update = &ch.update;
    let compare_url = compare_url(e);
    Event {
        schema: SCHEMA,
        id: e.id.to_string(),
        refname: &update.refname,
        ref_type: match update.kind() {
            RefKind::Tag(_) => "tag",
            _ => "branch",
        },
        ref_name: ch.short_ref(),
        action: action(ch.action()),
        forced: ch.forced,
        before: &update.old,
        after: &update.new,
        checkout_sha: ch.checkout_sha(),
        tag: ch.tag.as_ref().map(|t| Tag {
            annotated: t.message.is_some(),
            message: t.message.as_deref(),
            target: t.peeled.as_deref(),
        }),
        total_commits: ch.total_commits,
        commits: ch.commits.iter().map(|c| commit(c, &p.web_url)).collect(),
        head_commit: ch.head.as_ref().map(|c| commit(c, &p.web_url)),
        compare_url,
        repository: Repository {
            id: p.id,
            name: &p.name,
            namespace: &p.namespace,
            full_name: &p.path_with_namespace,
            description: &p.description,
            web_url: &p.web_url,
            git_http_url: &p.git_http_url,
            git_ssh_url: &p.git_ssh_url,
            visibility: p.visibility.as_str(),
            default_branch: &p.default_branch,
        },
        pusher: Pusher {
            id: e.pusher.id,
            username: &e.pusher.username,
            name: &e.pusher.name,
            email: &e.pusher.email,
        },
        push_options: &e.push_options,
        pushed_at: e.pushed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}
