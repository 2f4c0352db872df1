//! `[[endpoint]]` tables: checking each one into a typed [`Endpoint`] (URL, credentials, format, filters).

use std::fmt;
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
    secret: Option<Secret>,
    secret_mode: Option<Spanned<String>>,
    events: Option<Spanned<Vec<String>>>,
    branches: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<DurationValue>>,
}

/// A glob filter on branch names; a pattern matches the short name (`release/*`) or the full ref (`refs/heads/*`).
#[derive(Debug, Clone)]
pub struct BranchFilter {
    pub patterns: Vec<String>,
    set: GlobSet,
}

impl BranchFilter {
    pub fn matches(&self, branch: &str) -> bool {
        self.set.is_match(branch) || self.set.is_match(format!("refs/heads/{branch}"))
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
    pub branches: Option<BranchFilter>,
    pub timeout: Duration,
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
        match (&self.branches, event.update.kind()) {
            (Some(filter), RefKind::Branch(name)) => filter.matches(&name),
            _ => true,
        }
    }
}

type Located = (usize, String);

pub(crate) fn check(
    number: usize,
    raw: RawEndpoint,
    default_timeout: Duration,
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
    let branches = match &raw.branches {
        None => None,
        Some(list) => {
            let mut set = GlobSetBuilder::new();
            for p in list.get_ref() {
                let glob = globset::GlobBuilder::new(p).literal_separator(true).build();
                set.add(
                    glob.map_err(|e| at(list.span(), format!("bad branch pattern {p:?}: {e}")))?,
                );
            }
            let set = set.build().map_err(|e| at(list.span(), e.to_string()))?;
            Some(BranchFilter {
                patterns: list.get_ref().clone(),
                set,
            })
        }
    };
    let timeout = match &raw.timeout {
        Some(t) => duration(t).map_err(|m| at(t.span(), m))?,
        None => default_timeout,
    };
    Ok(Endpoint {
        number,
        url,
        basic_auth,
        format,
        secret: raw.secret,
        secret_mode,
        events,
        branches,
        timeout,
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
