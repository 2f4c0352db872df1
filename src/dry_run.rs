//! Dry-run: the requests that would be sent, printed in full with every secret redacted, and nothing sent.

use std::fmt::Write as _;

use crate::clock::Clock;
use crate::config::Endpoint;
use crate::secret::REDACTED;
use crate::spool::Job;

/// The request a job would send, as text: a comment line, `POST <url>`, headers, a blank line, pretty JSON.
pub fn render(endpoint: &Endpoint, job: &Job, clock: &Clock) -> String {
    let prepared = crate::send::prepare(endpoint, &job.delivery, clock);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# endpoint {} ({}), {}",
        endpoint.number,
        endpoint.format.id(),
        job.refname
    );
    let _ = writeln!(text, "POST {}", endpoint.masked_url());
    // Custom header values often carry tokens: shown redacted, like every secret.
    for (name, _) in &endpoint.headers {
        if !prepared
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
        {
            let _ = writeln!(text, "{name}: {REDACTED}");
        }
    }
    for h in &prepared.headers {
        let _ = writeln!(
            text,
            "{}: {}",
            h.name,
            if h.secret { REDACTED } else { &h.value }
        );
    }
    if endpoint.basic_auth.is_some() {
        let _ = writeln!(text, "Authorization: Basic {REDACTED}");
    }
    text.push('\n');
    let body = match serde_json::from_slice::<serde_json::Value>(&prepared.body) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&prepared.body).into_owned(),
    };
    text.push_str(&redact(&body, endpoint));
    text.push_str("\n\n");
    text
}

/// Replaces every secret of the endpoint that appears in `text` (a body may carry one) with `[REDACTED]`.
fn redact(text: &str, endpoint: &Endpoint) -> String {
    let secrets = endpoint
        .secret
        .iter()
        .chain(endpoint.basic_auth.as_ref().map(|(_, p)| p));
    let mut text = text.to_owned();
    for s in secrets.filter(|s| !s.is_empty()) {
        text = text.replace(s.expose(), REDACTED);
        if let Ok(escaped) = serde_json::to_string(s.expose()) {
            text = text.replace(escaped.trim_matches('"'), REDACTED);
        }
    }
    text
}
