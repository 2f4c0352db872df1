//! `[[endpoint]]` tables: checking each one into a typed [`Endpoint`] (URL, credentials, format, filters).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::filters::{path_patterns, ref_filter};
pub use super::filters::{Facts, RefFilter};
use super::schema::RawEndpoint;
pub use super::secrets::Secrets;
pub use super::tls::Tls;
use super::{duration, show_duration, Located};
use crate::format::{self, Format, SecretMode};
use crate::model::{Action, EventKind, PathFilter, RefKind, RefUpdate};
use crate::secret::{Secret, REDACTED};

/// One `[[endpoint]]`, checked and ready to send to. It serializes as the file's keys, secrets redacted.
#[derive(Clone, Serialize)]
pub struct Endpoint {
    /// 1-based position in the configuration, as messages name it.
    #[serde(skip)]
    pub number: usize,
    /// The URL requests go to, without credentials.
    #[serde(skip)]
    pub url: url::Url,
    /// `user:password@` from the configured URL, sent as HTTP Basic auth.
    #[serde(skip)]
    pub basic_auth: Option<(String, Secret)>,
    /// The URL as messages show it: credentials, if any, as `*****:*****@`.
    #[serde(rename = "url")]
    pub shown_url: String,
    #[serde(serialize_with = "format_id")]
    pub format: &'static dyn Format,
    /// The secret, the next one while it is rotated, the signing key.
    #[serde(flatten)]
    pub secrets: Secrets,
    pub secret_mode: SecretMode,
    pub events: Vec<EventKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branches: Option<RefFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<RefFilter>,
    /// `paths` and `paths_ignore`: which changed files make a branch push worth sending.
    #[serde(flatten, serialize_with = "path_patterns")]
    pub paths: Option<PathFilter>,
    #[serde(serialize_with = "show_duration")]
    pub timeout: Duration,
    /// Extra request headers; a format's own headers always win over these. Shown redacted: they often
    /// carry tokens.
    #[serde(serialize_with = "redacted_values")]
    pub headers: Vec<(String, String)>,
    #[serde(flatten)]
    pub tls: Tls,
    /// The message template, chat, pace and people's filters.
    #[serde(flatten)]
    pub chat: super::chat::Chat,
    /// What only some formats read (`cdevents_version`).
    #[serde(flatten)]
    pub dialect: super::dialect::Dialect,
}

fn format_id<S: Serializer>(f: &&'static dyn Format, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(f.id())
}

fn redacted_values<S: Serializer>(headers: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(headers.iter().map(|(name, _)| (name, REDACTED)))
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Endpoint {} {} ({})",
            self.number,
            self.shown_url,
            self.format.id()
        )
    }
}

impl Endpoint {
    /// A stable number for this endpoint, as forges number their webhooks: derived from its URL.
    pub fn hook_id(&self) -> u64 {
        crate::ids::stable_id(self.url.as_str())
    }

    /// The URL as the queue and the log keep it: without credentials, and only scheme and host when
    /// the URL is itself a credential (chat robots).
    pub fn queued_url(&self) -> &str {
        if self.format.url_is_secret() {
            &self.shown_url
        } else {
            self.url.as_str()
        }
    }

    /// Whether one request carries every ref of a push: the format's way, or `one_message = true`.
    pub fn one_per_push(&self) -> bool {
        self.format.one_per_push() || self.chat.one_message
    }

    /// Whether this endpoint sends anything for this ref update: a branch or a tag its filters
    /// let through; with `skip_empty`, not a branch created without new commits (`facts` is asked
    /// only then); with `paths`, a branch pushed or created only when its new commits changed a file
    /// that counts (tags and deletions are not path-filtered).
    pub fn wants_update(&self, update: &RefUpdate, facts: &dyn Facts) -> bool {
        let branch = matches!(update.kind(), RefKind::Branch(_));
        let created_branch = branch && update.action() == Action::Create;
        let path_filtered = branch && update.action() != Action::Delete;
        update.kind() != RefKind::Other
            && self.wants(update)
            && !(self.chat.skip_empty && created_branch && !facts.brings_commits())
            && self
                .paths
                .as_ref()
                .is_none_or(|f| !path_filtered || facts.touches(f))
    }

    /// Whether this endpoint wants the event of this ref update (its `events`, `branches` and `tags` filters).
    pub fn wants(&self, update: &RefUpdate) -> bool {
        if !self.events.contains(&EventKind::of(update)) {
            return false;
        }
        match (update.kind(), &self.branches, &self.tags) {
            (RefKind::Branch(name), Some(filter), _) | (RefKind::Tag(name), _, Some(filter)) => {
                filter.matches(&name)
            }
            _ => true,
        }
    }
}

/// Whether `name` is an HTTP header name (an RFC 9110 token) and `value` a header value.
fn valid_header(name: &str, value: &str) -> bool {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty()
        && name.bytes().all(tchar)
        && value
            .bytes()
            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Checks one `[[endpoint]]` table (`at`: where the table starts, for problems of the whole table).
pub(crate) fn check(
    number: usize,
    raw: RawEndpoint,
    at_table: usize,
    default_timeout: Duration,
    env: &BTreeMap<String, String>,
) -> Result<Endpoint, Located> {
    let at = |s: std::ops::Range<usize>, m: String| (s.start, m);
    let Some(raw_url) = raw.url.as_ref() else {
        return Err((at_table, "missing key url".to_owned()));
    };
    let mut url = url::Url::parse(raw_url.get_ref().trim()).map_err(|e| {
        at(
            raw_url.span(),
            format!("{:?} is not a URL: {e}", mask(raw_url.get_ref())),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(at(
            raw_url.span(),
            format!(
                "{} must be an http:// or https:// URL with a host",
                mask(raw_url.get_ref())
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
        None => format::by_id(format::DEFAULT).expect("the default format is registered"),
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
    let paths = PathFilter::new(
        raw.paths.as_ref().map(|p| &p.get_ref()[..]),
        raw.paths_ignore.as_ref().map(|p| &p.get_ref()[..]),
    )
    .map_err(|m| {
        let at = raw.paths.as_ref().or(raw.paths_ignore.as_ref());
        (at.map_or(at_table, |p| p.span().start), m)
    })?;
    let tags = ref_filter(&raw.tags, "tag", "refs/tags/")?;
    let timeout = match &raw.timeout {
        Some(t) => duration(t).map_err(|m| at(t.span(), m))?,
        None => default_timeout,
    };
    let mut headers = Vec::new();
    if let Some(h) = &raw.headers {
        for (name, value) in h.get_ref() {
            if !valid_header(name, value) {
                return Err(at(
                    h.span(),
                    format!("{name:?} is not a valid header name and value"),
                ));
            }
            headers.push((name.clone(), value.clone()));
        }
    }
    let secrets = super::secrets::check(&raw, format, at_table, env)?;
    let tls = super::tls::check(&raw)?;
    let mut chat = super::chat::check(&raw, format, at_table)?;
    let dialect = super::dialect::check(&raw, format, &mut chat.options, at_table)?;
    format.check(&chat.options).map_err(|m| (at_table, m))?;
    let mut shown = url.clone();
    if format.url_is_secret() {
        shown.set_query(None);
        shown.set_fragment(None);
        shown.set_path(REDACTED);
    }
    if basic_auth.is_some() {
        let _ = shown.set_username("*****");
        let _ = shown.set_password(Some("*****"));
    }
    Ok(Endpoint {
        number,
        shown_url: shown.to_string(),
        url,
        basic_auth,
        format,
        secrets,
        secret_mode,
        events,
        branches,
        tags,
        paths,
        timeout,
        headers,
        tls,
        chat,
        dialect,
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
