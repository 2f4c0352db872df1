//! The vendor-neutral push event: what happened to one ref, in terms no webhook format owns.

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::paths::{PathFilter, Touch};
use super::refs::{Action, RefKind, RefUpdate};

/// A name, an e-mail address and the moment with its original time-zone offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
    pub time: DateTime<FixedOffset>,
    /// The server login whose configured e-mail address this is, when one is.
    pub username: Option<String>,
}

/// One commit carried by an event, with the files it touched relative to its first parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    pub tree_id: String,
    pub parent_ids: Vec<String>,
    /// The full message, decoded to UTF-8, trailing newline kept.
    pub message: String,
    pub author: Person,
    pub committer: Person,
    /// Added files and the new paths of renamed files.
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
}

/// The tag side of a tag push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    /// The commit the tag finally points at, if it points at a commit at all.
    pub peeled: Option<String>,
    /// `Some` for an annotated tag (its message, decoded); `None` for a lightweight one.
    pub message: Option<String>,
}

/// What happened to one ref and the commits that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefEvent {
    pub update: RefUpdate,
    /// The newest commits (at most the configured cap), oldest first: the last is the head.
    pub commits: Vec<Commit>,
    /// How many commits the push really brought, however many `commits` holds.
    pub total_commits: usize,
    /// The commit the ref now points at (through tags): `None` on delete or for a tag on a non-commit.
    pub head: Option<Commit>,
    /// For a tag push: the tag; `None` for branches and for a deleted tag.
    pub tag: Option<TagInfo>,
    /// The new value does not contain the old one (a force push).
    pub forced: bool,
    /// For a created branch: its tip and newest ancestors, at most [`RECENT`], oldest first, whether
    /// or not other refs had them (what Gitea and Gogs list for a new branch); empty otherwise.
    pub recent: Vec<Commit>,
    /// For a branch created or updated: what its new commits' changed files say to each path filter
    /// the event was made for (an endpoint's `paths` / `paths_ignore`).
    pub touches: Vec<(PathFilter, Touch)>,
}

/// How many of a new branch's newest commits [`RefEvent::recent`] holds: Gitea's
/// `CommitsBeforeLimit(10)`, Gogs' tip and its 9 ancestors.
pub const RECENT: usize = 10;

/// Whether an event is a branch push or a tag push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Push,
    TagPush,
}

impl EventKind {
    /// A tag's update makes a tag push; any other ref's a push.
    pub fn of(update: &RefUpdate) -> EventKind {
        match update.kind() {
            RefKind::Tag(_) => EventKind::TagPush,
            _ => EventKind::Push,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Push => "push",
            EventKind::TagPush => "tag_push",
        }
    }
}

impl RefEvent {
    /// What the update's changed files say to `filter`; `None` when it was not asked (a tag, a
    /// deletion, or an event made without filters).
    pub fn touch(&self, filter: &PathFilter) -> Option<Touch> {
        self.touches
            .iter()
            .find(|(f, _)| f == filter)
            .map(|(_, t)| *t)
    }

    pub fn kind(&self) -> EventKind {
        EventKind::of(&self.update)
    }

    pub fn action(&self) -> Action {
        self.update.action()
    }

    /// The branch or tag name without its `refs/heads/` or `refs/tags/` prefix.
    pub fn short_ref(&self) -> &str {
        let r = &self.update.refname;
        r.strip_prefix("refs/heads/")
            .or_else(|| r.strip_prefix("refs/tags/"))
            .unwrap_or(r)
    }

    /// The commit a checkout of the new ref value gives: `None` on delete or for a tag on a non-commit.
    pub fn checkout_sha(&self) -> Option<&str> {
        match (&self.tag, self.action()) {
            (_, Action::Delete) => None,
            (Some(tag), _) => tag.peeled.as_deref(),
            (None, _) => Some(&self.update.new),
        }
    }
}

/// Who may see the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    #[default]
    Private,
    Internal,
    Public,
}

impl Visibility {
    /// GitLab's numbering, which configuration files use too: 0, 10 or 20.
    pub fn level(self) -> u8 {
        match self {
            Visibility::Private => 0,
            Visibility::Internal => 10,
            Visibility::Public => 20,
        }
    }

    /// The visibility of a GitLab level; `None` for any other number.
    pub fn from_level(level: u8) -> Option<Visibility> {
        match level {
            0 => Some(Visibility::Private),
            10 => Some(Visibility::Internal),
            20 => Some(Visibility::Public),
            _ => None,
        }
    }

    /// `private`, `internal` or `public`.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }
}

/// How the repository is described in payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: u64,
    pub name: String,
    /// The namespace's path (`acme` in `acme/demo`).
    pub namespace: String,
    pub path_with_namespace: String,
    pub description: String,
    pub web_url: String,
    pub git_http_url: String,
    pub git_ssh_url: String,
    pub visibility: Visibility,
    pub default_branch: String,
    pub avatar_url: Option<String>,
}

impl Project {
    /// Scheme, host and port of `web_url`: the "instance" a forge would name.
    pub fn instance_url(&self) -> String {
        match url::Url::parse(&self.web_url) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => self.web_url.clone(),
        }
    }

    /// The host of `web_url` (`localhost` when it has none).
    pub fn host(&self) -> String {
        url::Url::parse(&self.web_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".to_owned())
    }
}

/// Who pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pusher {
    pub id: u64,
    /// The login the server authenticated.
    pub username: String,
    pub name: String,
    /// `""` when unknown, as forges send for users without a public address.
    pub email: String,
    pub avatar_url: Option<String>,
}

/// Everything a format needs to render one webhook for one ref update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// Unique per event; shared by every endpoint the event goes to.
    pub id: Uuid,
    pub change: RefEvent,
    pub project: Project,
    pub pusher: Pusher,
    /// `git push -o` options, in order.
    pub push_options: Vec<String>,
    /// When the push was received.
    pub pushed_at: DateTime<FixedOffset>,
}
