//! `telegram`: the Telegram Bot API's `sendMessage`. The endpoint's `url` is the API
//! (`https://api.telegram.org`), its secret the bot's token (the request goes to
//! `<url>/bot<token>/sendMessage`, never shown), and `chat_id` the chat (a number, or
//! `@channelname`). The message is HTML (`parse_mode`), at most 4,096 characters, link previews off;
//! a bot should send about one message a second to a chat. Telegram answers `{"ok": true, ...}`;
//! `ok: false` with `error_code` 429 is retried after `parameters.retry_after`, any other (401 bad
//! token, 400 chat not found or bad markup, 403 bot not in the chat) kept as a dead letter with
//! Telegram's `description`.
//! Source: Telegram's "Bot API" (sendMessage, Formatting options, ResponseParameters) and "Bots FAQ"
//! (broadcasting limits).

use std::time::Duration;

use serde_json::{json, Value};

use super::{json_header, Chat, Chatting, Limit, Markup, KEYS};
use crate::format::{Answer, Attempt, Auth, Docs, Options, Prepared, Rate, RequestTemplate};
use crate::secret::REDACTED;

pub struct Telegram;

pub static FORMAT: Chatting = Chatting(&Telegram);

impl Chat for Telegram {
    fn id(&self) -> &'static str {
        "telegram"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "none: `sendMessage` with HTML",
            secret: "the bot token, sent in the URL path `bot<token>/sendMessage`\n(shown masked); `chat_id` names the chat",
            check: "Telegram checks the token",
        }
    }

    fn markup(&self) -> Markup {
        Markup::Html
    }

    fn limit(&self) -> Limit {
        Limit::Utf16(4_096)
    }

    fn rate_limit(&self) -> Option<Rate> {
        Some(Rate {
            count: 1,
            per: Duration::from_secs(1),
        })
    }

    fn keys(&self) -> &'static [&'static str] {
        const TELEGRAM: &[&str] = &["template", "template_file", "one_message", "chat_id"];
        debug_assert!(KEYS.iter().all(|k| TELEGRAM.contains(k)));
        TELEGRAM
    }

    fn check(&self, options: &Options) -> Result<(), String> {
        match &options.chat_id {
            Some(id) if !id.trim().is_empty() => Ok(()),
            _ => Err("format \"telegram\" needs chat_id = \"<the chat's id or @name>\"".to_owned()),
        }
    }

    fn body(&self, text: &str, _title: &str, options: &Options) -> Value {
        let chat = options.chat_id.as_deref().unwrap_or_default().trim();
        let chat_id = chat
            .parse::<i64>()
            .map_or_else(|_| Value::from(chat), Value::from);
        json!({
            "chat_id": chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
        })
    }

    fn prepare(&self, template: &RequestTemplate, auth: Auth<'_>, _attempt: Attempt) -> Prepared {
        let mut prepared = Prepared::new(json_header(), template);
        if let Some(token) = auth.secret() {
            prepared.url_path = Some((
                format!("bot{token}/sendMessage"),
                format!("bot{REDACTED}/sendMessage"),
            ));
        }
        prepared
    }

    fn judge(&self, _status: u16, body: &str) -> Option<Answer> {
        let v: Value = serde_json::from_str(body).ok()?;
        if v["ok"].as_bool()? {
            return Some(Answer::Accepted);
        }
        let why = format!(
            "error_code {}: {}",
            v["error_code"],
            v["description"].as_str().unwrap_or("")
        );
        Some(match v["error_code"].as_u64() {
            Some(429) => Answer::Later {
                after: v["parameters"]["retry_after"]
                    .as_u64()
                    .map(Duration::from_secs),
                why,
            },
            Some(500..=599) => Answer::Later { after: None, why },
            _ => Answer::Refused { why },
        })
    }

    fn text(&self, body: &Value) -> Option<String> {
        body["text"].as_str().map(str::to_owned)
    }
}
