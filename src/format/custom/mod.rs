//! `custom`: a request made of templates over the neutral event — method, URL query, headers, body —
//! with the secret in a query parameter, a header, or a signature header (what GitLab calls custom
//! webhook templates). The notify-style endpoints of CI servers and deploy services (Jenkins, GoCD,
//! TeamCity, Concourse, Azure DevOps, Backstage, deploy hooks) are presets of it: a registry line each
//! (`presets.rs`), whose defaults an endpoint's own keys override.
//!
//! The templates are rendered when the push is queued (no secret: the queue keeps the result, as
//! [`Request`] with rendered text); each attempt adds the secret, and signs the body as sent.

mod presets;
pub mod render;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::sign::{base64, hex, hmac_sha1, hmac_sha256};
use super::{
    to_json, Attempt, Auth, Docs, Format, Header, Hook, Method, Options, Prepared, RequestTemplate,
    Sent,
};
use crate::model::PushEvent;

pub use presets::{
    ALL, AZURE_DEVOPS, BACKSTAGE, CONCOURSE, CUSTOM, DEPLOY_HOOK, GOCD, JENKINS, TEAMCITY,
};

/// The endpoint keys the `custom` formats read.
pub const KEYS: &[&str] = &[
    "method",
    "query",
    "body",
    "content_type",
    "secret_query",
    "secret_header",
    "secret_prefix",
    "signature_header",
    "signature",
    "signature_prefix",
];

/// A keyed hash of the body, as a signature header carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signature {
    #[serde(rename = "hmac-sha256-hex")]
    Sha256Hex,
    #[serde(rename = "hmac-sha256-base64")]
    Sha256Base64,
    #[serde(rename = "hmac-sha1-hex")]
    Sha1Hex,
    #[serde(rename = "hmac-sha1-base64")]
    Sha1Base64,
}

impl Signature {
    pub const ALL: [Signature; 4] = [
        Signature::Sha256Hex,
        Signature::Sha256Base64,
        Signature::Sha1Hex,
        Signature::Sha1Base64,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Signature::Sha256Hex => "hmac-sha256-hex",
            Signature::Sha256Base64 => "hmac-sha256-base64",
            Signature::Sha1Hex => "hmac-sha1-hex",
            Signature::Sha1Base64 => "hmac-sha1-base64",
        }
    }

    pub fn parse(text: &str) -> Option<Signature> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    fn sign(self, key: &[u8], body: &[u8]) -> String {
        match self {
            Signature::Sha256Hex => hex(&hmac_sha256(key, body)),
            Signature::Sha256Base64 => base64(&hmac_sha256(key, body)),
            Signature::Sha1Hex => hex(&hmac_sha1(key, body)),
            Signature::Sha1Base64 => base64(&hmac_sha1(key, body)),
        }
    }
}

/// Where the endpoint's secret goes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Secrecy {
    /// Nowhere (the URL is the credential, or there is none).
    #[default]
    None,
    /// A query parameter of this name (`token`, `webhook_token`).
    Query(String),
    /// A header of this name, its value the prefix and the secret (`Authorization: Bearer ...`).
    Header { name: String, prefix: String },
    /// A header of this name carrying the prefix and a keyed hash of the body (the secret never travels).
    Signature {
        header: String,
        signature: Signature,
        prefix: String,
    },
}

/// A `custom` request: templates as the configuration gives them, or their text as rendered for one
/// event (what the queue keeps).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Request {
    pub method: Method,
    /// Query parameters added to the URL, in order; one that renders empty is left out.
    pub query: Vec<(String, String)>,
    /// Fixed headers of the receiver's protocol (GoCD's `Confirm: true`).
    pub headers: Vec<(String, String)>,
    /// The body's `Content-Type` (none without a body).
    pub content_type: Option<String>,
    /// The body; none sends an empty one.
    pub body: Option<String>,
    pub secret: Secrecy,
}

/// A registry line: a format's id, what the docs say, and its request's defaults.
pub struct Custom {
    pub id: &'static str,
    /// What the receiver is, and what its URL looks like, for the docs.
    pub about: &'static str,
    pub docs: Docs,
    pub method: Method,
    pub query: &'static [(&'static str, &'static str)],
    pub headers: &'static [(&'static str, &'static str)],
    pub content_type: Option<&'static str>,
    pub body: Option<&'static str>,
    pub secret: fn() -> Secrecy,
    /// The URL is itself the credential (deploy hooks).
    pub url_is_secret: bool,
}

impl Custom {
    /// The request the registry line gives, before an endpoint's own keys.
    pub fn defaults(&self) -> Request {
        let owned = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        Request {
            method: self.method,
            query: owned(self.query),
            headers: owned(self.headers),
            content_type: self.content_type.map(str::to_owned),
            body: self.body.map(str::to_owned),
            secret: (self.secret)(),
        }
    }
}

impl Custom {
    /// Its request as `custom` keys, in TOML (what docs/formats.md shows): `format = "custom"` with
    /// these is the same endpoint.
    pub fn as_custom_keys(&self) -> String {
        let quoted = |v: &str| toml::Value::String(v.to_owned()).to_string();
        let table = |pairs: &[(&str, &str)]| {
            let items: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{k} = {}", quoted(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        };
        let mut lines = vec![
            "format = \"custom\"".to_owned(),
            format!("method = {}", quoted(self.method.as_str())),
        ];
        if !self.query.is_empty() {
            lines.push(format!("query = {}", table(self.query)));
        }
        if !self.headers.is_empty() {
            lines.push(format!("headers = {}", table(self.headers)));
        }
        if let Some(t) = self.content_type {
            lines.push(format!("content_type = {}", quoted(t)));
        }
        if let Some(b) = self.body {
            lines.push(format!("body = {}", quoted(b)));
        }
        match (self.secret)() {
            Secrecy::None => {}
            Secrecy::Query(name) => lines.push(format!("secret_query = {}", quoted(&name))),
            Secrecy::Header { name, prefix } => {
                lines.push(format!("secret_header = {}", quoted(&name)));
                lines.push(format!("secret_prefix = {}", quoted(&prefix)));
            }
            Secrecy::Signature {
                header,
                signature,
                prefix,
            } => {
                lines.push(format!("signature_header = {}", quoted(&header)));
                lines.push(format!("signature = {}", quoted(signature.as_str())));
                lines.push(format!("signature_prefix = {}", quoted(&prefix)));
            }
        }
        lines.join("\n")
    }

    /// Its section of docs/formats.md: what the receiver is, and its request as `custom` keys.
    pub fn doc_section(&self) -> String {
        format!(
            "## {id}\n\n{}\n\n`format = \"{id}\"` is `format = \"custom\"` with these keys; an endpoint's own \
             keys override any of them:\n\n<!-- custom {id}: made from the format registry -->\n```toml\n{}\n```\n\
             <!-- end custom -->\n",
            self.about,
            self.as_custom_keys(),
            id = self.id,
        )
    }
}

/// The custom request of a format, when it is one of these (config reads its keys through it).
pub fn of(format: &dyn Format) -> Option<&'static Custom> {
    ALL.iter().copied().find(|c| c.id == format.id())
}

impl Format for Custom {
    fn id(&self) -> &'static str {
        self.id
    }

    fn docs(&self) -> Docs {
        self.docs
    }

    fn keys(&self) -> &'static [&'static str] {
        KEYS
    }

    fn url_is_secret(&self) -> bool {
        self.url_is_secret
    }

    fn body(&self, event: &PushEvent, _hook: Hook, _sent: Sent, options: &Options) -> Vec<u8> {
        let request = options.request.clone().unwrap_or_else(|| self.defaults());
        to_json(&render::request(&request, event))
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        let r: Request = serde_json::from_slice(&d.body).unwrap_or_default();
        let body = r.body.unwrap_or_default().into_bytes();
        let mut headers = Vec::new();
        if let (Some(kind), false) = (&r.content_type, body.is_empty()) {
            headers.push(Header::new("Content-Type", kind.clone()));
        }
        headers.push(Header::new("User-Agent", super::USER_AGENT));
        headers.extend(r.headers.into_iter().map(|(k, v)| Header::new(k, v)));
        let mut url_query: Vec<Header> = r
            .query
            .into_iter()
            .map(|(k, v)| Header::new(k, v))
            .collect();
        if let Some(secret) = auth.secret() {
            match r.secret {
                Secrecy::None => {}
                Secrecy::Query(name) => url_query.push(Header::secret(name, secret)),
                Secrecy::Header { name, prefix } => {
                    headers.push(Header::secret(name, format!("{prefix}{secret}")));
                }
                Secrecy::Signature {
                    header,
                    signature,
                    prefix,
                } => {
                    let value = signature.sign(secret.as_bytes(), &body);
                    headers.push(Header::new(Cow::Owned(header), format!("{prefix}{value}")));
                }
            }
        }
        Prepared {
            method: r.method,
            headers,
            body,
            secret_fields: &[],
            url_path: None,
            url_query,
        }
    }
}
