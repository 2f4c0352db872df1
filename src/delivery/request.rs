//! The request one attempt sends, built in one place: sending, dry-run, `test` and `config check` all
//! take it from [`WireRequest::build`], so what is printed is what is sent.

use std::fmt;

use super::job::Job;
use crate::clock::Clock;
use crate::config::Endpoint;
use crate::format::{Attempt, Auth, Method, RequestTemplate};
use crate::secret::REDACTED;

/// One header as sent, and as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireHeader {
    pub name: String,
    pub value: String,
    /// What printouts show: the value, or `[REDACTED]` (with `Basic ` kept for Basic auth).
    pub shown: String,
}

/// Which attempt of a job a request is: its number (from 1) and when the first one was (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tried {
    pub number: u32,
    pub first_ms: u64,
}

impl Tried {
    /// `X-Webhook-Attempt: <n>` and `X-Webhook-First-Attempt: <RFC 3339>`, which every format sends.
    fn headers(self) -> [WireHeader; 2] {
        let first =
            chrono::DateTime::from_timestamp_millis(i64::try_from(self.first_ms).unwrap_or(0))
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let header = |name: &str, value: String| WireHeader {
            name: name.to_owned(),
            shown: value.clone(),
            value,
        };
        [
            header(ATTEMPT_HEADER, self.number.to_string()),
            header(FIRST_ATTEMPT_HEADER, first),
        ]
    }
}

/// The headers that say which attempt a request is.
pub const ATTEMPT_HEADER: &str = "X-Webhook-Attempt";
pub const FIRST_ATTEMPT_HEADER: &str = "X-Webhook-First-Attempt";

/// An attempt's request: method, URL, headers in the order sent, body.
#[derive(Debug, Clone)]
pub struct WireRequest {
    pub method: Method,
    /// Where it goes, without credentials (they travel as the `Authorization` header).
    pub url: url::Url,
    /// The URL as printouts show it: credentials masked.
    pub shown_url: String,
    pub headers: Vec<WireHeader>,
    pub body: Vec<u8>,
    /// The body's top-level keys whose values carry the secret.
    secret_fields: &'static [&'static str],
    /// The endpoint's own headers that are not sent because the format (or Basic auth) sets them.
    pub overridden: Vec<String>,
    /// Every secret value the request carries (tokens, passwords, header values, the URL when it
    /// is a credential), for taking them out of what the receiver answers.
    pub secrets: Vec<String>,
}

impl WireRequest {
    /// The request for a new attempt of `template` at `endpoint`: fresh attempt id and time, signatures.
    /// Headers: the endpoint's own first, then the format's, then Basic auth from the URL, then which
    /// attempt this is (`tried`: its number and when the first was, by default the first, now); a
    /// header the format or Basic auth sets is never also sent from the endpoint's list.
    pub fn build(
        endpoint: &Endpoint,
        template: &RequestTemplate,
        clock: &Clock,
        tried: Option<Tried>,
    ) -> WireRequest {
        let auth = Auth {
            secret: endpoint.secrets.secret.as_ref(),
            next: endpoint.secrets.next.as_ref(),
            signing_key: endpoint.secrets.signing_key.as_ref(),
            mode: endpoint.secret_mode,
        };
        let attempt = Attempt {
            id: clock.uuid(),
            now: clock.now(),
        };
        let prepared = endpoint.format.prepare(template, auth, attempt);
        let basic = endpoint.basic_auth.as_ref().map(|(user, password)| {
            let token =
                crate::format::sign::base64(format!("{user}:{}", password.expose()).as_bytes());
            WireHeader {
                name: "Authorization".to_owned(),
                value: format!("Basic {token}"),
                shown: format!("Basic {REDACTED}"),
            }
        });
        let taken = |name: &str| {
            prepared
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name))
                || basic
                    .as_ref()
                    .is_some_and(|b| b.name.eq_ignore_ascii_case(name))
        };
        let (mut headers, mut overridden) = (Vec::new(), Vec::new());
        for (name, value) in &endpoint.headers {
            if taken(name) {
                overridden.push(name.clone());
            } else {
                // Custom header values often carry tokens: shown redacted, like every secret.
                headers.push(WireHeader {
                    name: name.clone(),
                    value: value.clone(),
                    shown: REDACTED.to_owned(),
                });
            }
        }
        headers.extend(prepared.headers.into_iter().map(|h| WireHeader {
            name: h.name.into_owned(),
            shown: if h.secret {
                REDACTED.to_owned()
            } else {
                h.value.clone()
            },
            value: h.value,
        }));
        headers.extend(basic);
        let tried = tried.unwrap_or(Tried {
            number: 1,
            first_ms: clock.now_ms(),
        });
        headers.extend(tried.headers());
        let (url, shown_url) = with_additions(endpoint, &prepared.url_path, &prepared.url_query);
        let mut secrets: Vec<String> = headers
            .iter()
            .filter(|h| h.shown != h.value)
            .map(|h| h.value.clone())
            .collect();
        if let Some((user, password)) = &endpoint.basic_auth {
            secrets.extend([user.clone(), password.expose().to_owned()]);
            secrets.extend(
                headers
                    .iter()
                    .filter_map(|h| h.value.strip_prefix("Basic ").map(str::to_owned)),
            );
        }
        secrets.extend(
            [&endpoint.secrets.secret, &endpoint.secrets.next]
                .into_iter()
                .flatten()
                .map(|s| s.expose().to_owned()),
        );
        secrets.extend(
            prepared
                .url_query
                .iter()
                .filter(|q| q.secret)
                .map(|q| q.value.clone()),
        );
        if endpoint.format.url_is_secret() {
            secrets.extend(url_secrets(&url));
        }
        WireRequest {
            method: prepared.method,
            url,
            shown_url,
            headers,
            body: prepared.body,
            secret_fields: prepared.secret_fields,
            overridden,
            secrets,
        }
    }

    /// What dry-run prints for a job: a comment naming the endpoint and ref, then the request.
    pub fn dry_run(endpoint: &Endpoint, job: &Job, clock: &Clock) -> String {
        format!(
            "# endpoint {} ({}), {}\n{}\n",
            endpoint.number,
            endpoint.format.id(),
            job.refname,
            WireRequest::build(endpoint, &job.template, clock, None)
        )
    }

    /// The body as printouts show it: pretty JSON, the format's secret fields (when not empty) redacted,
    /// every other value as sent.
    pub fn shown_body(&self) -> String {
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(mut v) => {
                if let Some(map) = v.as_object_mut() {
                    for key in self.secret_fields {
                        if let Some(value) = map.get_mut(*key) {
                            if value.as_str().is_none_or(|s| !s.is_empty()) {
                                *value = REDACTED.into();
                            }
                        }
                    }
                }
                serde_json::to_string_pretty(&v).unwrap_or_default()
            }
            // Not JSON (a `custom` body, or none): shown as sent, though its template never sees
            // the secret, without any.
            Err(_) => super::redact::Redactor::new(self.secrets.iter().map(String::as_str))
                .redact(&String::from_utf8_lossy(&self.body)),
        }
    }
}

/// What a URL that is itself a credential (a chat robot's) holds: the URL, its path and its longer
/// path segments (the tokens), and its query values.
fn url_secrets(url: &url::Url) -> Vec<String> {
    let mut found = vec![url.to_string(), url.path().to_owned()];
    found.extend(
        url.path_segments()
            .into_iter()
            .flatten()
            .filter(|s| s.len() >= 8)
            .map(str::to_owned),
    );
    found.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    found
}

/// The endpoint's URL with what the format adds for this attempt (a path, query parameters), as sent
/// and as shown.
fn with_additions(
    endpoint: &Endpoint,
    path: &Option<(String, String)>,
    query: &[crate::format::Header],
) -> (url::Url, String) {
    let (mut url, mut shown) = (endpoint.url.clone(), endpoint.shown_url.clone());
    if path.is_none() && query.is_empty() {
        return (url, shown);
    }
    if let Some((sent, seen)) = path {
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/{sent}"));
        if !endpoint.format.url_is_secret() {
            shown = format!("{}/{seen}", shown.trim_end_matches('/'));
        }
    }
    let mut shown_query = Vec::new();
    for h in query {
        url.query_pairs_mut().append_pair(&h.name, &h.value);
        let value = if h.secret {
            REDACTED.to_owned()
        } else {
            url::form_urlencoded::byte_serialize(h.value.as_bytes()).collect()
        };
        shown_query.push(format!("{}={value}", h.name));
    }
    if !query.is_empty() {
        let joiner = if shown.contains('?') { '&' } else { '?' };
        shown = format!("{shown}{joiner}{}", shown_query.join("&"));
    }
    (url, shown)
}

/// The request as dry-run prints it: `POST <url>` (or its method), headers, a blank line, the body.
impl fmt::Display for WireRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.method.as_str(), self.shown_url)?;
        for h in &self.headers {
            writeln!(f, "{}: {}", h.name, h.shown)?;
        }
        writeln!(f)?;
        writeln!(f, "{}", self.shown_body())
    }
}
