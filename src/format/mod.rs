//! Webhook formats: one file per vendor, registered in [`FORMATS`]; each turns a neutral event into a request.

mod atomgit;
mod gitcode;
mod gitee;
mod github;
mod gitlab;
pub mod sign;

use std::time::SystemTime;

use uuid::Uuid;

use crate::event::{EventKind, PushEvent};
use crate::secret::Secret;

/// Every format the configuration's `format = "..."` can name. Adding a vendor: one file, one line here.
pub static FORMATS: &[&dyn Format] = &[
    &gitlab::GitLab,
    &gitee::Gitee,
    &atomgit::AtomGit,
    &gitcode::GitCode,
    &github::GitHub,
];

/// The format with this configuration id.
pub fn by_id(id: &str) -> Option<&'static dyn Format> {
    FORMATS.iter().copied().find(|f| f.id() == id)
}

/// The known ids, for error messages: `"gitlab"`, ...
pub fn known_ids() -> String {
    FORMATS
        .iter()
        .map(|f| format!("\"{}\"", f.id()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How an endpoint's secret is presented, for formats that offer a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretMode {
    /// The secret itself travels in a token header (and, for some formats, the body).
    #[default]
    Password,
    /// The secret keys a signature; it never travels itself.
    Sign,
}

/// One request header; `secret` ones are shown as `[REDACTED]` in every output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: &'static str,
    pub value: String,
    pub secret: bool,
}

impl Header {
    pub fn new(name: &'static str, value: impl Into<String>) -> Header {
        Header {
            name,
            value: value.into(),
            secret: false,
        }
    }

    pub fn secret(name: &'static str, value: impl Into<String>) -> Header {
        Header {
            name,
            value: value.into(),
            secret: true,
        }
    }
}

/// The endpoint as a forge would number it: the ids a body or header may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hook {
    /// A stable number for the endpoint (forges send their webhook's id).
    pub id: u64,
    /// The idempotency id of this event at this endpoint: stable across attempts.
    pub delivery_id: Uuid,
}

/// What stays the same for every attempt to send one event to one endpoint (what the spool keeps).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The event's id, shared by all endpoints of one event.
    pub event_id: Uuid,
    pub hook: Hook,
    pub kind: EventKind,
    /// Scheme, host and port of the project's web URL.
    pub instance: String,
    pub project_id: u64,
    /// The rendered body, before any per-attempt fields (JSON text, kept as text in the spool).
    #[serde(with = "body_text")]
    pub body: Vec<u8>,
}

/// Bodies are UTF-8 JSON: the spool stores them as a string rather than an array of numbers.
mod body_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(body))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}

/// What is fresh for each attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub id: Uuid,
    pub now: SystemTime,
}

/// The secret settings of an endpoint, as a format sees them.
#[derive(Debug, Clone, Copy)]
pub struct Auth<'a> {
    pub secret: Option<&'a Secret>,
    pub mode: SecretMode,
}

/// A request ready for the wire: headers in the order sent, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// A vendor's webhook format.
pub trait Format: Sync {
    /// The id used in configuration, e.g. `gitlab`.
    fn id(&self) -> &'static str;
    /// Whether `secret_mode = "sign"` means anything for this format.
    fn supports_sign(&self) -> bool {
        false
    }
    /// The JSON body for one event at one endpoint. Pure: no clock, no secret.
    fn body(&self, event: &PushEvent, hook: Hook) -> Vec<u8>;
    /// Headers (and final body) for one attempt: ids, timestamps and signatures are made here.
    fn prepare(&self, delivery: &Delivery, auth: Auth<'_>, attempt: Attempt) -> Prepared;
}

/// Serializes a payload struct as compact JSON; the structs have only string, number and map keys, so this cannot fail.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("payload structs always serialize")
}

/// The event header value GitLab and the forges modelled on it send: `Push Hook` or `Tag Push Hook`.
pub(crate) fn hook_event(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Push => "Push Hook",
        EventKind::TagPush => "Tag Push Hook",
    }
}

/// The deprecated `repository` object GitLab still sends, which AtomGit and GitCode send too.
#[derive(serde::Serialize)]
pub(crate) struct Repository<'a> {
    name: &'a str,
    url: &'a str,
    description: &'a str,
    homepage: &'a str,
    git_http_url: &'a str,
    git_ssh_url: &'a str,
    visibility_level: u8,
}

impl<'a> Repository<'a> {
    pub(crate) fn of(p: &'a crate::event::Project) -> Repository<'a> {
        Repository {
            name: &p.name,
            url: &p.git_ssh_url,
            description: &p.description,
            homepage: &p.web_url,
            git_http_url: &p.git_http_url,
            git_ssh_url: &p.git_ssh_url,
            visibility_level: p.visibility_level,
        }
    }
}

/// The secret when one is set and not empty.
pub(crate) fn secret<'a>(auth: &Auth<'a>) -> Option<&'a str> {
    auth.secret.map(Secret::expose).filter(|s| !s.is_empty())
}
