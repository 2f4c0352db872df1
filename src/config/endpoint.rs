//! `[[endpoint]]` tables: checking each one into a typed [`Endpoint`] (URL, credentials, format, filters).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use globset::{GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;

use super::{duration, DurationValue};
use crate::event::{EventKind, RefEvent};
use crate::format::{self, Format, SecretMode};
use crate::git::refs::RefKind;
use crate::secret::Secret;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEndpoint {
    url: Spanned<String>,
    format: Option<Spanned<String>>,
    pub(crate) secret: Option<Spanned<Secret>>,
    secret_file: Option<Spanned<PathBuf>>,
    secret_env: Option<Spanned<String>>,
    secret_mode: Option<Spanned<String>>,
    events: Option<Spanned<Vec<String>>>,
    branches: Option<Spanned<Vec<String>>>,
    tags: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<DurationValue>>,
    headers: Option<Spanned<BTreeMap<String, String>>>,
    tls_verify: Option<bool>,
    ca_file: Option<Spanned<PathBuf>>,
    client_cert: Option<Spanned<PathBuf>>,
    client_key: Option<Spanned<PathBuf>>,
}

impl RawEndpoint {
    /// Whether the secret (or a URL password) is written in the file itself.
    pub(crate) fn has_inline_secret(&self) -> bool {
        self.secret.is_some()
            || url::Url::parse(self.url.get_ref()).is_ok_and(|u| u.password().is_some())
    }
}

/// How an endpoint's TLS connections are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Tls {
    /// `false`: accept any certificate (`tls_verify = false`).
    pub verify: bool,
    /// Extra CA certificates (PEM) to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key (PEM), for receivers that ask for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// A glob filter on branch or tag names: a pattern matches the short name (`release/*`) or the full
/// ref (`refs/heads/*`, `refs/tags/v*`).
#[derive(Debug, Clone)]
pub struct RefFilter {
    pub patterns: Vec<String>,
    prefix: &'static str,
    set: GlobSet,
}

/// The filter on branch names (kept under its first name).
pub type BranchFilter = RefFilter;

impl RefFilter {
    pub fn matches(&self, name: &str) -> bool {
        self.set.is_match(name) || self.set.is_match(format!("{}{name}", self.prefix))
    }
}

/// One `[[endpoint]]`, checked and ready to send to.
#[derive(Clone)]
pub struct Endpoint {
    /// 1-based position in the file, as messages name it.
    pub number: usize,
    /// The URL requests go to, without credentials.
    pub url: url::Url,
    /// `user:password@` from the configured URL, sent as HTTP Basic auth.
    pub basic_auth: Option<(String, Secret)>,
    pub format: &'static dyn Format,
    pub secret: Option<Secret>,
    pub secret_mode: SecretMode,
    pub events: Vec<EventKind>,
    pub branches: Option<RefFilter>,
    pub tags: Option<RefFilter>,
    pub timeout: Duration,
    /// Extra request headers; a format's own headers always win over these.
    pub headers: Vec<(String, String)>,
    pub tls: Tls,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Endpoint {} {} ({})",
            self.number,
            self.masked_url(),
            self.format.id()
        )
    }
}

impl Endpoint {
    /// The URL as messages show it: credentials, if any, as `*****:*****@`.
    pub fn masked_url(&self) -> String {
        let mut u = self.url.clone();
        if self.basic_auth.is_some() {
            let _ = u.set_username("*****");
            let _ = u.set_password(Some("*****"));
        }
        u.to_string()
    }

    /// A stable number for this endpoint, as forges number their webhooks: derived from its URL.
    pub fn hook_id(&self) -> u64 {
        crate::project::stable_id(self.url.as_str())
    }

    /// Whether this endpoint wants the event (its `events` and `branches` filters).
    pub fn wants(&self, event: &RefEvent) -> bool {
        if !self.events.contains(&event.kind()) {
            return false;
        }
        match (event.update.kind(), &self.branches, &self.tags) {
            (RefKind::Branch(name), Some(filter), _) | (RefKind::Tag(name), _, Some(filter)) => {
                filter.matches(&name)
            }
            _ => true,
        }
    }
}

type Located = (usize, String);

fn ref_filter(
    list: &Option<Spanned<Vec<String>>>,
    what: &str,
    prefix: &'static str,
) -> Result<Option<RefFilter>, Located> {
    let Some(list) = list else { return Ok(None) };
    let at = |m: String| (list.span().start, m);
    let mut set = GlobSetBuilder::new();
    for p in list.get_ref() {
        let glob = globset::GlobBuilder::new(p).literal_separator(true).build();
        set.add(glob.map_err(|e| at(format!("bad {what} pattern {p:?}: {e}")))?);
    }
    let set = set.build().map_err(|e| at(e.to_string()))?;
    Ok(Some(RefFilter {
        patterns: list.get_ref().clone(),
        prefix,
        set,
    }))
}

/// The secret from `secret`, `secret_file` or `secret_env` (at most one of them).
fn secret(raw: &RawEndpoint, env: &BTreeMap<String, String>) -> Result<Option<Secret>, Located> {
    match (&raw.secret, &raw.secret_file, &raw.secret_env) {
        (None, None, None) => Ok(None),
        (Some(s), None, None) => Ok(Some(s.get_ref().clone())),
        (None, Some(f), None) => match std::fs::read_to_string(f.get_ref()) {
            Ok(text) => Ok(Some(Secret::new(text.trim_end_matches(['\r', '\n'])))),
            Err(e) => Err((
                f.span().start,
                format!("cannot read secret_file {}: {e}", f.get_ref().display()),
            )),
        },
        (None, None, Some(v)) => match env.get(v.get_ref()) {
            Some(value) if !value.is_empty() => Ok(Some(Secret::new(value.clone()))),
            _ => Err((
                v.span().start,
                format!("secret_env names ${}, which is not set", v.get_ref()),
            )),
        },
        _ => Err((
            raw.url.span().start,
            "give at most one of secret, secret_file and secret_env".to_owned(),
        )),
    }
}

fn tls(raw: &RawEndpoint) -> Result<Tls, Located> {
    let readable = |p: &Spanned<PathBuf>, key: &str| match std::fs::metadata(p.get_ref()) {
        Ok(_) => Ok(p.get_ref().clone()),
        Err(e) => Err((
            p.span().start,
            format!("cannot read {key} {}: {e}", p.get_ref().display()),
        )),
    };
    let client_cert = match (&raw.client_cert, &raw.client_key) {
        (None, None) => None,
        (Some(c), Some(k)) => Some((readable(c, "client_cert")?, readable(k, "client_key")?)),
        (Some(c), None) | (None, Some(c)) => {
            return Err((
                c.span().start,
                "client_cert and client_key go together".to_owned(),
            ))
        }
    };
    Ok(Tls {
        verify: raw.tls_verify.unwrap_or(true),
        ca_file: raw
            .ca_file
            .as_ref()
            .map(|p| readable(p, "ca_file"))
            .transpose()?,
        client_cert,
    })
}

pub(crate) fn check(
    number: usize,
    raw: RawEndpoint,
    default_timeout: Duration,
    env: &BTreeMap<String, String>,
) -> Result<Endpoint, Located> {
    let at = |s: std::ops::Range<usize>, m: String| (s.start, m);
    let mut url = url::Url::parse(raw.url.get_ref().trim()).map_err(|e| {
        at(
            raw.url.span(),
            format!("{:?} is not a URL: {e}", mask(raw.url.get_ref())),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(at(
            raw.url.span(),
            format!(
                "{} must be an http:// or https:// URL with a host",
                mask(raw.url.get_ref())
            ),
        ));
    }
    let basic_auth = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let auth = (
            decode(url.username()),
            Secret::new(decode(url.password().unwrap_or(""))),
        );
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Some(auth)
    };
    let format = match &raw.format {
        Some(f) => format::by_id(f.get_ref()).ok_or_else(|| {
            at(
                f.span(),
                format!(
                    "unknown format {:?}; known formats: {}",
                    f.get_ref(),
                    format::known_ids()
                ),
            )
        })?,
        None => format::by_id("gitlab").expect("gitlab is always registered"),
    };
    let secret_mode = match raw.secret_mode.as_ref().map(|m| (m, m.get_ref().as_str())) {
        None | Some((_, "password")) => SecretMode::Password,
        Some((_, "sign")) if format.supports_sign() => SecretMode::Sign,
        Some((m, "sign")) => {
            return Err(at(
                m.span(),
                format!("format {:?} has no \"sign\" mode", format.id()),
            ))
        }
        Some((m, other)) => {
            return Err(at(
                m.span(),
                format!("{other:?} is not \"password\" or \"sign\""),
            ))
        }
    };
    let events = match &raw.events {
        None => vec![EventKind::Push, EventKind::TagPush],
        Some(list) => list
            .get_ref()
            .iter()
            .map(|e| match e.as_str() {
                "push" => Ok(EventKind::Push),
                "tag_push" => Ok(EventKind::TagPush),
                other => Err(at(
                    list.span(),
                    format!("unknown event {other:?}; known events: \"push\", \"tag_push\""),
                )),
            })
            .collect::<Result<_, _>>()?,
    };
    let branches = ref_filter(&raw.branches, "branch", "refs/heads/")?;
    let tags = ref_filter(&raw.tags, "tag", "refs/tags/")?;
    let timeout = match &raw.timeout {
        Some(t) => duration(t).map_err(|m| at(t.span(), m))?,
        None => default_timeout,
    };
    let mut headers = Vec::new();
    if let Some(h) = &raw.headers {
        for (name, value) in h.get_ref() {
            let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(value).is_ok();
            if !valid {
                return Err(at(
                    h.span(),
                    format!("{name:?} is not a valid header name and value"),
                ));
            }
            headers.push((name.clone(), value.clone()));
        }
    }
    let secret = secret(&raw, env)?;
    let tls = tls(&raw)?;
    Ok(Endpoint {
        number,
        url,
        basic_auth,
        format,
        secret,
        secret_mode,
        events,
        branches,
        tags,
        timeout,
        headers,
        tls,
    })
}

/// A URL string with any password masked, for messages about URLs that did not parse.
pub fn mask(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() || !u.username().is_empty() => {
            let _ = u.set_username("*****");
            let _ = u.set_password(Some("*****"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => match url.rsplit_once('@') {
            Some((_, host)) => format!("*****:*****@{host}"),
            None => url.to_owned(),
        },
    }
}
