//! Webhook formats: one file per vendor, registered in [`FORMATS`]; each turns a neutral event into a request.
//!
//! A format is two pure steps. [`Format::body`] renders the event once, when the push is queued (no clock,
//! no secret: what the queue keeps). [`Format::prepare`] adds, for each attempt, what changes between
//! attempts and what the secret makes: ids, timestamps, tokens, signatures. Everything else a user reads
//! about a format (`formats`, the manual, docs/formats.md, `config.example.toml`, the tests) comes
//! from this registry.

mod atomgit;
mod bitbucket_server;
pub mod chat;
mod cloudevents;
pub mod custom;
mod gitcode;
mod gitea;
mod gitee;
mod github;
mod gitlab;
mod gitlab_like;
mod gogs;
mod neutral;
mod prepared;
pub mod sign;
mod standard_webhooks;
pub mod variables;

use std::time::Duration;

use uuid::Uuid;

use crate::model::{EventKind, PushEvent, RefUpdate};
pub use cloudevents::CdEventsVersion;
pub use prepared::{Attempt, Auth, Header, Method, Prepared};
pub use sign::SigningKey;

/// Every format the configuration's `format = "..."` can name. Adding a vendor: one file, one line here.
pub static FORMATS: &[&dyn Format] = &[
    &gitlab::GitLab,
    &gitee::Gitee,
    &atomgit::AtomGit,
    &gitcode::GitCode,
    &github::GitHub,
    &gitea::GITEA,
    &gitea::FORGEJO,
    &gogs::Gogs,
    &bitbucket_server::BitbucketServer,
    &cloudevents::STRUCTURED,
    &cloudevents::BINARY,
    &cloudevents::CDEVENTS,
    &cloudevents::CDEVENTS_BINARY,
    &standard_webhooks::StandardWebhooks,
    &custom::CUSTOM,
    &custom::JENKINS,
    &custom::GOCD,
    &custom::TEAMCITY,
    &custom::CONCOURSE,
    &custom::AZURE_DEVOPS,
    &custom::BACKSTAGE,
    &custom::DEPLOY_HOOK,
    &chat::slack::FORMAT,
    &chat::discord::FORMAT,
    &chat::teams::FORMAT,
    &chat::dingtalk::FORMAT,
    &chat::feishu::FEISHU,
    &chat::feishu::LARK,
    &chat::wecom::FORMAT,
    &chat::telegram::FORMAT,
];

/// The `User-Agent` of the formats that are our own rather than a forge's.
pub(crate) const USER_AGENT: &str = concat!("git-webhook/", env!("CARGO_PKG_VERSION"));

/// The format an endpoint uses when it names none.
pub const DEFAULT: &str = "gitlab";

/// The format with this configuration id.
pub fn by_id(id: &str) -> Option<&'static dyn Format> {
    FORMATS.iter().copied().find(|f| f.id() == id)
}

/// The known ids, for error messages: `"gitlab", "gitee", ...`.
pub fn known_ids() -> String {
    FORMATS
        .iter()
        .map(|f| format!("\"{}\"", f.id()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The formats and how each carries the secret, as `help formats` and `config.example.toml` list
/// them: one entry per format, its id in a column as wide as the longest, continuation lines
/// indented to match.
pub fn table(prefix: &str) -> String {
    let width = FORMATS.iter().map(|f| f.id().len()).max().unwrap_or(0);
    let mut text = String::new();
    for f in FORMATS {
        let mut lines = f.docs().secret.lines();
        let first = lines.next().unwrap_or_default();
        text.push_str(&format!("{prefix}{:<width$} {first}\n", f.id()));
        for more in lines {
            text.push_str(&format!("{prefix}{:<width$} {more}\n", ""));
        }
    }
    text
}

/// How an endpoint's secret is presented, for formats that offer a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretMode {
    /// The secret itself travels in a token header (and, for some formats, the body).
    #[default]
    Password,
    /// The secret keys a signature; it never travels itself.
    Sign,
}

/// The endpoint as a forge would number it: the ids a body or header may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hook {
    /// A stable number for the endpoint (forges send their webhook's id).
    pub id: u64,
    /// The idempotency id of this event at this endpoint: stable across attempts.
    pub delivery_id: Uuid,
}

/// Which of a forge's events a request is: the push itself, or the `create` / `delete` event some
/// forges send beside it when a branch or tag appears or goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sent {
    #[default]
    Push,
    Create,
    Delete,
}

impl Sent {
    pub fn as_str(self) -> &'static str {
        match self {
            Sent::Push => "push",
            Sent::Create => "create",
            Sent::Delete => "delete",
        }
    }

    fn is_push(&self) -> bool {
        *self == Sent::Push
    }
}

/// What stays the same for every attempt to send one event to one endpoint (what the queue keeps).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestTemplate {
    /// The event's id, shared by all endpoints of one event.
    pub event_id: Uuid,
    pub hook: Hook,
    pub kind: EventKind,
    /// Which of the forge's events this request is.
    #[serde(default, skip_serializing_if = "Sent::is_push")]
    pub sent: Sent,
    /// Scheme, host and port of the project's web URL.
    pub instance: String,
    pub project_id: u64,
    /// The rendered body, before any per-attempt fields (JSON text, kept as text in the queue).
    #[serde(with = "body_text")]
    pub body: Vec<u8>,
}

/// Bodies are UTF-8 JSON: the queue stores them as a string rather than an array of numbers.
mod body_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(body))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}

/// What an endpoint's own settings tell its format beyond the secret: the keys a format lists in
/// [`Format::keys`], checked when the configuration is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The endpoint's own message template (`template` or `template_file`), for chat formats.
    pub template: Option<chat::Template>,
    /// The chat to post to (`chat_id`, Telegram).
    pub chat_id: Option<String>,
    /// The CDEvents release the `cdevents` formats speak (`cdevents_version`).
    pub cdevents_version: CdEventsVersion,
    /// A `custom` format's request: its registry line's, with the endpoint's own keys.
    pub request: Option<custom::Request>,
}

/// At most `count` requests per `per`: what a receiver accepts from one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

/// Shown as the configuration writes it: `20/min`.
impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.per.as_secs() {
            1 => write!(f, "{}/s", self.count),
            60 => write!(f, "{}/min", self.count),
            3600 => write!(f, "{}/h", self.count),
            _ => write!(f, "{}/{}", self.count, humantime::format_duration(self.per)),
        }
    }
}

/// A vendor's verdict on an answer whose body says more than its status (chat APIs answer 200 with
/// an error code in the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    /// Refused for now (a rate limit, a busy server): tried again, not before `after`.
    Later {
        after: Option<Duration>,
        why: String,
    },
    /// Refused for good (a bad token or signature, a malformed message): kept as a dead letter.
    Refused {
        why: String,
    },
}

/// What `formats`, docs/formats.md and `config.example.toml` say of a format (Markdown-ish: backticks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Docs {
    /// The header that names the event.
    pub event: &'static str,
    /// How the endpoint's secret travels, in a line or two (`secret_mode` included).
    pub secret: &'static str,
    /// How a receiver checks it.
    pub check: &'static str,
}

/// A vendor's webhook format.
pub trait Format: Sync {
    /// The id used in configuration, e.g. `gitlab`.
    fn id(&self) -> &'static str;
    /// What the docs say of it.
    fn docs(&self) -> Docs;
    /// Whether `secret_mode = "sign"` means anything for this format.
    fn supports_sign(&self) -> bool {
        false
    }
    /// Whether a request may carry signatures with two secrets at once (`secret_next`, while the
    /// secret is rotated).
    fn signs_with_several(&self) -> bool {
        false
    }
    /// Whether requests are also signed with an Ed25519 key (`signing_key_file`).
    fn signs_with_key(&self) -> bool {
        false
    }
    /// The endpoint keys only this format reads (`template`, `chat_id`, `one_message`, ...); any other
    /// format refuses them.
    fn keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether the endpoint's options are complete for this format (Telegram needs a `chat_id`); the
    /// error says what is missing.
    fn check(&self, _options: &Options) -> Result<(), String> {
        Ok(())
    }
    /// Whether the endpoint's URL is itself a credential (a chat robot's): printouts, the log and the
    /// queue show only its scheme and host.
    fn url_is_secret(&self) -> bool {
        false
    }
    /// How many requests the receiver accepts from one endpoint, when it limits them (`rate_limit`
    /// overrides it): the deliverer paces each endpoint within it.
    fn rate_limit(&self) -> Option<Rate> {
        None
    }
    /// The vendor's verdict on an answer (`status`, the start of its body) when the status alone does
    /// not tell; `None`: judged by the status.
    fn judge(&self, _status: u16, _body: &str) -> Option<Answer> {
        None
    }
    /// The requests one ref update makes at an endpoint, in the order they are sent: the push, and
    /// for some forges a `create` or `delete` event beside it (or instead of it).
    fn sends(&self, _update: &RefUpdate) -> &'static [Sent] {
        &[Sent::Push]
    }
    /// The JSON body of one of them for one event at one endpoint. Pure: no clock, no secret.
    fn body(&self, event: &PushEvent, hook: Hook, sent: Sent, options: &Options) -> Vec<u8>;
    /// Whether one request carries every ref of a push ([`Format::push_body`]) rather than one per ref.
    fn one_per_push(&self) -> bool {
        false
    }
    /// The body of that one request, for the push's events this endpoint wants (never empty); chat
    /// formats make it for an endpoint with `one_message = true` too.
    fn push_body(&self, events: &[&PushEvent], hook: Hook, options: &Options) -> Vec<u8> {
        events
            .first()
            .map(|e| self.body(e, hook, Sent::Push, options))
            .unwrap_or_default()
    }
    /// The message people read in a body of this format, for chat formats (what `demo` shows).
    fn message_text(&self, _body: &[u8]) -> Option<String> {
        None
    }
    /// Headers (and final body) for one attempt: ids, timestamps and signatures are made here.
    fn prepare(&self, template: &RequestTemplate, auth: Auth<'_>, attempt: Attempt) -> Prepared;
}

/// Serializes a payload struct as compact JSON; the structs have only string, number and map keys, so this cannot fail.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("payload structs always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text between `start` and `end` in `text`.
    fn between<'t>(text: &'t str, start: &str, end: &str) -> &'t str {
        let from = text.find(start).map(|i| i + start.len()).expect(start);
        let to = text[from..].find(end).expect(end) + from;
        &text[from..to]
    }

    /// docs/formats.md's table of formats, as the registry says it.
    fn markdown_table() -> String {
        let mut t = String::from(
            "\n| format | event header | secret (`secret_mode`) | how a receiver checks it |\n|---|---|---|---|\n",
        );
        for f in FORMATS {
            let d = f.docs();
            let secret = d.secret.replace('\n', " ");
            t.push_str(&format!(
                "| `{}` | {} | {secret} | {} |\n",
                f.id(),
                d.event,
                d.check
            ));
        }
        t
    }

    /// docs/formats.md and `config.example.toml` list the formats from this registry: a new format
    /// fails here until its docs are in, and the message gives the text to paste.
    #[test]
    fn the_docs_list_every_registered_format() {
        let docs = include_str!("../../docs/formats.md");
        let markdown = markdown_table();
        assert_eq!(
            between(
                docs,
                "<!-- formats: made from the format registry -->",
                "<!-- end formats -->"
            ),
            markdown,
            "docs/formats.md's formats table should read:\n{markdown}"
        );
        for f in FORMATS {
            assert!(
                docs.contains(&format!("\n## {}\n", f.id())),
                "docs/formats.md has no section ## {}",
                f.id()
            );
        }
        for c in custom::ALL.iter().filter(|c| c.id != "custom") {
            let section = c.doc_section();
            assert!(
                docs.contains(&format!("\n{section}")),
                "docs/formats.md's section of {} should read:\n{section}",
                c.id
            );
        }
        let example = include_str!("../../config.example.toml");
        let listed = format!("\n{}", table("#   "));
        assert_eq!(
            between(example, "# secret travels:", "# secret = "),
            listed,
            "config.example.toml's list of formats should read:{listed}"
        );
        let named = between(
            example,
            "# Payload and headers to send, one of:",
            "\n# format = ",
        )
        .split_whitespace()
        .filter(|w| *w != "#")
        .collect::<Vec<_>>()
        .join(" ");
        assert_eq!(
            named,
            format!("{}.", known_ids()),
            "config.example.toml should name the formats"
        );
    }

    #[test]
    fn ids_are_unique_and_the_default_is_registered() {
        let mut ids: Vec<&str> = FORMATS.iter().map(|f| f.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), FORMATS.len());
        assert!(by_id(DEFAULT).is_some());
        assert!(table("  ").starts_with("  gitlab             `X-Gitlab-Token"));
    }
}
