//! CloudEvents 1.0 over HTTP (cloudevents/spec: spec.md, http-protocol-binding.md,
//! json-format.md), in structured mode (the whole event as `application/cloudevents+json`) or binary
//! mode (attributes as `ce-*` headers, the data as the body), with one of two type vocabularies: ours
//! (`dev.gitwebhook.push`, `dev.gitwebhook.tag_push`, the neutral event as data) or CDEvents 0.5.1 or
//! 0.4.1 (cdevents/spec: source-code-version-control.md, cloudevents-binding.md, custom/), where a
//! branch created or deleted is `dev.cdevents.branch.created/deleted`, commits pushed to a branch are
//! `dev.cdevents.change.merged` (event versions 0.3.0 in CDEvents 0.5.1, 0.2.0 in 0.4.1), and tags,
//! which CDEvents has no events for, are the custom `dev.cdeventsx.gitwebhook-tag.created/deleted.0.1.0`;
//! the neutral event is its `customData`.

use serde::Serialize;
use serde_json::{json, Value};

use super::neutral;
use super::{to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, Sent};
use crate::model::{Action, EventKind, PushEvent};

/// The reverse-DNS prefix of our own event types.
pub const TYPE_PREFIX: &str = "dev.gitwebhook";
/// A CDEvents release the `cdevents` formats speak (`cdevents_version`): its events differ in the
/// name of the context's version key, whether subjects name their type, and event versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum CdEventsVersion {
    /// CDEvents 0.4.1: what Flux's `cdevents` receiver (CDEvents Go SDK 0.4) validates against.
    #[serde(rename = "0.4.1")]
    V0_4_1,
    /// CDEvents 0.5.1, the newest release.
    #[default]
    #[serde(rename = "0.5.1")]
    V0_5_1,
}

impl CdEventsVersion {
    /// Every release, for messages and docs.
    pub const ALL: [CdEventsVersion; 2] = [CdEventsVersion::V0_4_1, CdEventsVersion::V0_5_1];

    pub fn as_str(self) -> &'static str {
        match self {
            CdEventsVersion::V0_4_1 => "0.4.1",
            CdEventsVersion::V0_5_1 => "0.5.1",
        }
    }

    pub fn parse(text: &str) -> Option<CdEventsVersion> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// The version of the branch and change events in this release.
    fn event_version(self) -> &'static str {
        match self {
            CdEventsVersion::V0_4_1 => "0.2.0",
            CdEventsVersion::V0_5_1 => "0.3.0",
        }
    }
}

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

/// The CDEvents type of an event in `version`, its subject's type (CDEvents 0.4.1 names it) and id.
fn cdevent_type(e: &PushEvent, version: CdEventsVersion) -> (String, &'static str, String) {
    let ch = &e.change;
    let v = version.event_version();
    let name = ch.short_ref().to_owned();
    match (ch.kind(), ch.action()) {
        (EventKind::Push, Action::Create) => {
            (format!("dev.cdevents.branch.created.{v}"), "branch", name)
        }
        (EventKind::Push, Action::Delete) => {
            (format!("dev.cdevents.branch.deleted.{v}"), "branch", name)
        }
        (EventKind::Push, Action::Update) => (
            format!("dev.cdevents.change.merged.{v}"),
            "change",
            ch.update.new.clone(),
        ),
        (EventKind::TagPush, Action::Delete) => (
            "dev.cdeventsx.gitwebhook-tag.deleted.0.1.0".to_owned(),
            "gitwebhook-tag",
            name,
        ),
        (EventKind::TagPush, _) => (
            "dev.cdeventsx.gitwebhook-tag.created.0.1.0".to_owned(),
            "gitwebhook-tag",
            name,
        ),
    }
}

/// The CDEvent of a push in `version`: context, subject, and the neutral event as `customData`.
fn cdevent(e: &PushEvent, version: CdEventsVersion, id: &str, time: &str, neutral: Value) -> Value {
    let (kind, subject_type, subject) = cdevent_type(e, version);
    let source = &e.project.web_url;
    let mut context = serde_json::Map::new();
    let version_key = match version {
        CdEventsVersion::V0_4_1 => "version",
        CdEventsVersion::V0_5_1 => "specversion",
    };
    context.insert(version_key.to_owned(), version.as_str().into());
    context.insert("id".to_owned(), id.into());
    context.insert("source".to_owned(), source.as_str().into());
    context.insert("type".to_owned(), kind.into());
    context.insert("timestamp".to_owned(), time.into());
    let mut subject = json!({
        "id": subject,
        "source": source,
        "content": {
            "repository": {
                "id": e.project.path_with_namespace,
                "source": e.project.instance_url(),
            },
        },
    });
    if version == CdEventsVersion::V0_4_1 {
        subject["type"] = subject_type.into();
    }
    json!({
        "context": context,
        "subject": subject,
        "customData": neutral,
        "customDataContentType": "application/json",
    })
}

impl CloudEvents {
    fn envelope(&self, e: &PushEvent, version: CdEventsVersion) -> Envelope {
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
                let data = cdevent(e, version, &id, &time, neutral);
                let kind = data["context"]["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (kind, data)
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

    fn keys(&self) -> &'static [&'static str] {
        match self.vocabulary {
            Vocabulary::Ours => &[],
            Vocabulary::CdEvents => &["cdevents_version"],
        }
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
        options: &super::Options,
    ) -> Vec<u8> {
        to_json(&self.envelope(event, options.cdevents_version))
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
                        headers.push(Header::new(*header, header_value(value)));
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
            method: super::Method::Post,
            headers,
            body,
            secret_fields: &[],
            url_path: None,
            url_query: Vec::new(),
        }
    }
}

/// What an attribute's value percent-encodes in a `ce-*` header (HTTP binding 3.1.3.2): everything
/// outside printable ASCII, and space, `"` and `%`.
const IN_HEADER: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'"').add(b'%');

/// An attribute's value as a `ce-*` header carries it.
fn header_value(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, IN_HEADER).to_string()
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

#[cfg(test)]
mod tests {
    #[test]
    fn header_values_are_percent_encoded_as_the_http_binding_says() {
        assert_eq!(
            super::header_value("a b\"c%d~é\u{7f}!"),
            "a%20b%22c%25d~%C3%A9%7F!"
        );
    }
}
