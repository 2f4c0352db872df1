//! CloudEvents 1.0 over HTTP (cloudevents/spec: spec.md, http-protocol-binding.md,
//! json-format.md), in structured mode (the whole event as `application/cloudevents+json`) or binary
//! mode (attributes as `ce-*` headers, the data as the body), with one of two type vocabularies: ours
//! (`dev.gitwebhook.push`, `dev.gitwebhook.tag_push`, the neutral event as data) or CDEvents 0.5.1
//! (cdevents/spec: source-code-version-control.md, cloudevents-binding.md), where a branch created or
//! deleted is `dev.cdevents.branch.created/deleted.0.3.0`, commits pushed to a branch are
//! `dev.cdevents.change.merged.0.3.0`, and tags, which CDEvents has no events for, are the custom
//! `dev.cdeventsx.gitwebhook-tag.created/deleted.0.1.0`; the neutral event is its `customData`.

use serde::Serialize;
use serde_json::{json, Value};

use super::neutral;
use super::{to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, Sent};
use crate::model::{Action, EventKind, PushEvent};

/// The reverse-DNS prefix of our own event types.
pub const TYPE_PREFIX: &str = "dev.gitwebhook";
/// The CDEvents release whose vocabulary the `cdevents` formats speak.
const CDEVENTS_VERSION: &str = "0.5.1";

/// How the event travels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One JSON document with attributes and data: `application/cloudevents+json`.
    Structured,
    /// Attributes in `ce-*` headers, the data as the body.
    Binary,
}

/// Which event types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Vocabulary {
    Ours,
    CdEvents,
}

pub struct CloudEvents {
    id: &'static str,
    mode: Mode,
    vocabulary: Vocabulary,
}

pub static STRUCTURED: CloudEvents = CloudEvents {
    id: "cloudevents",
    mode: Mode::Structured,
    vocabulary: Vocabulary::Ours,
};
pub static BINARY: CloudEvents = CloudEvents {
    id: "cloudevents-binary",
    mode: Mode::Binary,
    vocabulary: Vocabulary::Ours,
};
pub static CDEVENTS: CloudEvents = CloudEvents {
    id: "cdevents",
    mode: Mode::Structured,
    vocabulary: Vocabulary::CdEvents,
};
pub static CDEVENTS_BINARY: CloudEvents = CloudEvents {
    id: "cdevents-binary",
    mode: Mode::Binary,
    vocabulary: Vocabulary::CdEvents,
};

/// A CloudEvent: its context attributes, in the order they are sent, and its data.
#[derive(Serialize)]
struct Envelope {
    specversion: &'static str,
    id: String,
    source: String,
    #[serde(rename = "type")]
    kind: String,
    subject: String,
    time: String,
    datacontenttype: &'static str,
    data: Value,
}

/// The CDEvents type of an event, and its subject's id.
fn cdevent_type(e: &PushEvent) -> (&'static str, String) {
    let ch = &e.change;
    match (ch.kind(), ch.action()) {
        (EventKind::Push, Action::Create) => (
            "dev.cdevents.branch.created.0.3.0",
            ch.short_ref().to_owned(),
        ),
        (EventKind::Push, Action::Delete) => (
            "dev.cdevents.branch.deleted.0.3.0",
            ch.short_ref().to_owned(),
        ),
        (EventKind::Push, Action::Update) => {
            ("dev.cdevents.change.merged.0.3.0", ch.update.new.clone())
        }
        (EventKind::TagPush, Action::Delete) => (
            "dev.cdeventsx.gitwebhook-tag.deleted.0.1.0",
            ch.short_ref().to_owned(),
        ),
        (EventKind::TagPush, _) => (
            "dev.cdeventsx.gitwebhook-tag.created.0.1.0",
            ch.short_ref().to_owned(),
        ),
    }
}

impl CloudEvents {
    fn envelope(&self, e: &PushEvent) -> Envelope {
        let time = e
            .pushed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let source = e.project.web_url.clone();
        let id = e.id.to_string();
        let neutral = serde_json::to_value(neutral::event(e)).unwrap_or(Value::Null);
        let (kind, data) = match self.vocabulary {
            Vocabulary::Ours => (
                format!("{TYPE_PREFIX}.{}", e.change.kind().as_str()),
                neutral,
            ),
            Vocabulary::CdEvents => {
                let (kind, subject) = cdevent_type(e);
                let data = json!({
                    "context": {
                        "specversion": CDEVENTS_VERSION,
                        "id": id,
                        "source": source,
                        "type": kind,
                        "timestamp": time,
                    },
                    "subject": {
                        "id": subject,
                        "source": source,
                        "content": {
                            "repository": {
                                "id": e.project.path_with_namespace,
                                "source": e.project.instance_url(),
                            },
                        },
                    },
                    "customData": neutral,
                    "customDataContentType": "application/json",
                });
                (kind.to_owned(), data)
            }
        };
        Envelope {
            specversion: "1.0",
            id,
            source,
            kind,
            subject: e.change.update.refname.clone(),
            time,
            datacontenttype: "application/json",
            data,
        }
    }
}

impl Format for CloudEvents {
    fn id(&self) -> &'static str {
        self.id
    }

    fn docs(&self) -> Docs {
        match (self.vocabulary, self.mode) {
            (Vocabulary::Ours, Mode::Structured) => Docs {
                event: "`type` in the body: `dev.gitwebhook.push` / `dev.gitwebhook.tag_push`",
                secret: "`Authorization: Bearer <secret>`",
                check: "any CloudEvents SDK (structured mode); compare the token",
            },
            (Vocabulary::Ours, Mode::Binary) => Docs {
                event: "`ce-type: dev.gitwebhook.push` / `dev.gitwebhook.tag_push`",
                secret: "`Authorization: Bearer <secret>`",
                check: "any CloudEvents SDK (binary mode); compare the token",
            },
            (Vocabulary::CdEvents, Mode::Structured) => Docs {
                event: "`type` in the body: `dev.cdevents.branch.created.0.3.0`, ...",
                secret: "`Authorization: Bearer <secret>`",
                check: "any CloudEvents or CDEvents SDK (structured mode); compare the token",
            },
            (Vocabulary::CdEvents, Mode::Binary) => Docs {
                event: "`ce-type: dev.cdevents.branch.created.0.3.0`, ...",
                secret: "`Authorization: Bearer <secret>`",
                check: "any CloudEvents or CDEvents SDK (binary mode); compare the token",
            },
        }
    }

    /// The whole event, in either mode: binary mode moves the attributes to headers per attempt.
    fn body(
        &self,
        event: &PushEvent,
        _hook: Hook,
        _sent: Sent,
        _options: &super::Options,
    ) -> Vec<u8> {
        to_json(&self.envelope(event))
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        let mut headers = Vec::new();
        let body = match self.mode {
            Mode::Structured => {
                headers.push(Header::new(
                    "Content-Type",
                    "application/cloudevents+json; charset=utf-8",
                ));
                d.body.clone()
            }
            Mode::Binary => {
                let mut envelope: serde_json::Map<String, Value> =
                    serde_json::from_slice(&d.body).unwrap_or_default();
                let data = envelope.remove("data").unwrap_or(Value::Null);
                let content_type = envelope.remove("datacontenttype");
                headers.push(Header::new(
                    "Content-Type",
                    content_type
                        .as_ref()
                        .and_then(Value::as_str)
                        .unwrap_or("application/json")
                        .to_owned(),
                ));
                for (name, header) in BINARY_HEADERS {
                    if let Some(value) = envelope.get(*name).and_then(Value::as_str) {
                        headers.push(Header::new(header, value.to_owned()));
                    }
                }
                to_json(&data)
            }
        };
        headers.push(Header::new("User-Agent", super::USER_AGENT));
        if let Some(secret) = auth.secret() {
            headers.push(Header::secret("Authorization", format!("Bearer {secret}")));
        }
        Prepared {
            headers,
            body,
            secret_fields: &[],
            url_path: None,
            url_query: Vec::new(),
        }
    }
}

/// The context attributes binary mode sends as headers, and their header names.
const BINARY_HEADERS: &[(&str, &str)] = &[
    ("specversion", "ce-specversion"),
    ("id", "ce-id"),
    ("source", "ce-source"),
    ("type", "ce-type"),
    ("subject", "ce-subject"),
    ("time", "ce-time"),
];
