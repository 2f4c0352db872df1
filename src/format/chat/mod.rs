//! Chat formats: a push as a message people read, posted to a chat room's robot or bot. The message
//! is a template (built in, or the endpoint's own) rendered over [`Context`] with every
//! value escaped for the vendor's markup, cut to the vendor's size; each vendor's file says how the
//! message travels, how its secret signs it, how fast it may be sent and how it answers.

pub mod dingtalk;
pub mod discord;
pub mod feishu;
mod markup;
pub mod message;
pub mod slack;
pub mod teams;
pub mod telegram;
pub mod wecom;

pub use markup::Markup;

use serde_json::Value;

use super::{
    to_json, Answer, Attempt, Auth, Docs, Format, Header, Hook, Options, Prepared, Rate,
    RequestTemplate, Sent,
};
use crate::model::PushEvent;
use message::Context;

/// The endpoint keys every chat format reads.
pub const KEYS: &[&str] = &["template", "template_file", "one_message"];

/// An endpoint's own message template, as its configuration gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Where it comes from, for messages: `template` or `template_file /etc/…`.
    pub origin: String,
    pub source: String,
}

/// How long a message may be, counted as the vendor counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Chars(usize),
    Bytes(usize),
    /// UTF-16 code units (Telegram).
    Utf16(usize),
}

impl Limit {
    pub fn fits(self, text: &str) -> bool {
        match self {
            Limit::Chars(n) => text.chars().count() <= n,
            Limit::Bytes(n) => text.len() <= n,
            Limit::Utf16(n) => text.encode_utf16().count() <= n,
        }
    }
}

/// What one chat vendor does its own way.
pub trait Chat: Sync {
    fn id(&self) -> &'static str;
    fn docs(&self) -> Docs;
    fn markup(&self) -> Markup;
    /// The longest message the vendor takes.
    fn limit(&self) -> Limit;
    /// What the vendor accepts from one robot, as documented.
    fn rate_limit(&self) -> Option<Rate>;
    fn keys(&self) -> &'static [&'static str] {
        KEYS
    }
    fn check(&self, _options: &Options) -> Result<(), String> {
        Ok(())
    }
    /// The request body carrying `text`; `title` is a one-line plain summary (notifications show it).
    fn body(&self, text: &str, title: &str, options: &Options) -> Value;
    /// What one attempt adds: the JSON content type, and whatever the secret makes.
    fn prepare(&self, template: &RequestTemplate, _auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        Prepared::new(json_header(), template)
    }
    /// The vendor's verdict from the answer's body.
    fn judge(&self, _status: u16, _body: &str) -> Option<Answer> {
        None
    }
    /// The message text of a body (what `demo` shows).
    fn text(&self, body: &Value) -> Option<String>;
}

/// The headers every chat request has.
pub fn json_header() -> Vec<Header> {
    vec![
        Header::new("Content-Type", "application/json"),
        Header::new("User-Agent", super::USER_AGENT),
    ]
}

/// A chat vendor as a [`Format`]: what the registry lists.
pub struct Chatting(pub &'static dyn Chat);

impl Chatting {
    /// The vendor behind it.
    pub fn chat(&self) -> &'static dyn Chat {
        self.0
    }

    /// The message for these events (one part per ref, a blank line between), in the vendor's markup
    /// and size. A template that fails gives the built-in message, which then says so.
    pub fn message(&self, events: &[&PushEvent], options: &Options) -> String {
        let markup = self.0.markup();
        let parts: Vec<String> = events
            .iter()
            .map(|e| {
                let context = Context::of(e, &|url| {
                    minijinja::Value::from_safe_string(markup.url(&url))
                });
                let builtin = || {
                    message::render(markup.template(), &context, markup).unwrap_or_else(|err| {
                        markup.escape(&format!(
                            "{} pushed {} ({err})",
                            e.pusher.username, e.change.update.refname
                        ))
                    })
                };
                match &options.template {
                    None => builtin(),
                    Some(t) => message::render(&t.source, &context, markup).unwrap_or_else(|err| {
                        let note = format!(
                            "(the endpoint's {} failed: {}; this is the built-in message)",
                            t.origin,
                            describe(&err)
                        );
                        format!("{}\n{}", builtin(), markup.escape(&note))
                    }),
                }
            })
            .collect();
        let limit = self.0.limit();
        markup.cut(&parts.join("\n\n"), &|t| limit.fits(t))
    }
}

/// A template error in one line, with the template's line when known.
pub fn describe(err: &minijinja::Error) -> String {
    let what = err.detail().map_or_else(
        || err.kind().to_string(),
        |d| format!("{}: {d}", err.kind()),
    );
    match err.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

/// The plain one-line summary of a message: `acme/demo main`, `acme/demo: 3 refs`, made
/// [`markup::plain`] (a branch name makes no mention or link there either).
fn title(events: &[&PushEvent]) -> String {
    markup::plain(&match events {
        [one] => format!(
            "{} {}",
            one.project.path_with_namespace,
            one.change.short_ref()
        ),
        [first, ..] => format!(
            "{}: {} refs",
            first.project.path_with_namespace,
            events.len()
        ),
        [] => String::new(),
    })
}

impl Format for Chatting {
    fn id(&self) -> &'static str {
        self.0.id()
    }

    fn docs(&self) -> Docs {
        self.0.docs()
    }

    fn keys(&self) -> &'static [&'static str] {
        self.0.keys()
    }

    fn check(&self, options: &Options) -> Result<(), String> {
        self.0.check(options)
    }

    fn url_is_secret(&self) -> bool {
        true
    }

    fn rate_limit(&self) -> Option<Rate> {
        self.0.rate_limit()
    }

    fn judge(&self, status: u16, body: &str) -> Option<Answer> {
        self.0.judge(status, body)
    }

    fn body(&self, event: &PushEvent, hook: Hook, _sent: Sent, options: &Options) -> Vec<u8> {
        self.push_body(&[event], hook, options)
    }

    fn push_body(&self, events: &[&PushEvent], _hook: Hook, options: &Options) -> Vec<u8> {
        let text = self.message(events, options);
        to_json(&self.0.body(&text, &title(events), options))
    }

    fn message_text(&self, body: &[u8]) -> Option<String> {
        self.0.text(&serde_json::from_slice(body).ok()?)
    }

    fn prepare(&self, template: &RequestTemplate, auth: Auth<'_>, attempt: Attempt) -> Prepared {
        self.0.prepare(template, auth, attempt)
    }
}

/// A JSON answer's field as a number (`errcode`, `code`).
fn code(body: &Value, key: &str) -> Option<i64> {
    body.get(key).and_then(Value::as_i64)
}

/// The verdict of the robots that answer `{"<code>": 0, "<message>": "ok"}` (DingTalk, WeCom,
/// Feishu): 0 accepted, a rate-limit code retried after `window`, a busy code retried, any other
/// refused with the vendor's words.
fn judge_code(
    body: &str,
    (code_key, message_key): (&str, &str),
    rate_limited: &[i64],
    busy: &[i64],
    window: std::time::Duration,
) -> Option<Answer> {
    let v: Value = serde_json::from_str(body).ok()?;
    let c = code(&v, code_key)?;
    let why = || {
        format!(
            "{code_key} {c}: {}",
            v.get(message_key).and_then(Value::as_str).unwrap_or("")
        )
    };
    Some(if c == 0 {
        Answer::Accepted
    } else if rate_limited.contains(&c) {
        Answer::Later {
            after: Some(window),
            why: why(),
        }
    } else if busy.contains(&c) {
        Answer::Later {
            after: None,
            why: why(),
        }
    } else {
        Answer::Refused { why: why() }
    })
}
