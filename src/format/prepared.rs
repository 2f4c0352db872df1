//! What one attempt's request is made of: its method, headers (and query parameters), body, and
//! the fresh id, time and secret settings a format prepares it with.

use std::borrow::Cow;
use std::time::SystemTime;

use uuid::Uuid;

use super::{RequestTemplate, SecretMode};
use crate::secret::Secret;

/// One request header (or query parameter); `secret` ones are shown as `[REDACTED]` in every output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// A vendor's fixed name, or one the configuration gives (`custom`).
    pub name: Cow<'static, str>,
    pub value: String,
    pub secret: bool,
}

impl Header {
    pub fn new(name: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
            secret: false,
        }
    }

    pub fn secret(name: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
            secret: true,
        }
    }
}

/// The HTTP method of a request: `POST` for every format but a `custom` one that says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Post,
    Put,
    Get,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Get => "GET",
        }
    }
}

/// What is fresh for each attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub id: Uuid,
    pub now: SystemTime,
}

impl Attempt {
    /// The attempt's time as Unix seconds, as signatures and timestamp headers carry it.
    pub fn unix_secs(&self) -> u64 {
        self.unix_millis() / 1000
    }

    /// The attempt's time as Unix milliseconds.
    pub fn unix_millis(&self) -> u64 {
        crate::clock::epoch_ms(self.now)
    }
}

/// The secret settings of an endpoint, as a format sees them.
#[derive(Debug, Clone, Copy)]
pub struct Auth<'a> {
    pub secret: Option<&'a Secret>,
    /// The next secret, while the secret is rotated (formats that sign with several).
    pub next: Option<&'a Secret>,
    /// The Ed25519 key (formats that sign with a key).
    pub signing_key: Option<&'a super::SigningKey>,
    pub mode: SecretMode,
}

impl<'a> Auth<'a> {
    /// The secret when one is set and not empty.
    pub fn secret(&self) -> Option<&'a str> {
        self.secret.map(Secret::expose).filter(|s| !s.is_empty())
    }

    /// The secret and, while it is rotated, the next one: each not empty.
    pub fn secrets(&self) -> impl Iterator<Item = &'a str> {
        [self.secret, self.next]
            .into_iter()
            .flatten()
            .map(Secret::expose)
            .filter(|s| !s.is_empty())
    }
}

/// A request ready for the wire: method, headers in the order sent, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub method: Method,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    /// Top-level keys of the JSON body whose values carry the secret (or are made from it): shown as
    /// `[REDACTED]` wherever a request is printed.
    pub secret_fields: &'static [&'static str],
    /// A path the format appends to the endpoint's URL (Telegram's `bot<token>/sendMessage`): as sent,
    /// and as printouts show it.
    pub url_path: Option<(String, String)>,
    /// Query parameters the format appends to the URL (DingTalk's `timestamp` and `sign`).
    pub url_query: Vec<Header>,
}

impl Prepared {
    /// The usual case: headers, and the body as the queue kept it.
    pub fn new(headers: Vec<Header>, template: &RequestTemplate) -> Prepared {
        Prepared {
            method: Method::Post,
            headers,
            body: template.body.clone(),
            secret_fields: &[],
            url_path: None,
            url_query: Vec::new(),
        }
    }
}
