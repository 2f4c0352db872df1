//! `discord`: a Discord channel webhook (`https://discord.com/api/webhooks/<id>/<token>`). The message
//! is Markdown in `content`, at most 2,000 characters; `allowed_mentions` with no `parse` keeps
//! anything in it from pinging anyone, and flag 4 (`SUPPRESS_EMBEDS`) keeps links from unfolding.
//! Discord answers 204; when too fast, 429 with `Retry-After` and `retry_after` (seconds) in the
//! body. A webhook takes about 30 messages a minute.
//! Source: Discord's "Execute Webhook", "Message Object" (flags, allowed mentions) and "Rate Limits".

use std::time::Duration;

use serde_json::{json, Value};

use super::{Chat, Chatting, Limit, Markup};
use crate::format::{Answer, Docs, Options, Rate};

pub struct Discord;

pub static FORMAT: Chatting = Chatting(&Discord);

/// `SUPPRESS_EMBEDS`: no previews of the links in the message.
const SUPPRESS_EMBEDS: u64 = 1 << 2;

impl Chat for Discord {
    fn id(&self) -> &'static str {
        "discord"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "none: a message, Markdown in `content`",
            secret: "none: the webhook URL is the credential (shown masked)",
            check: "Discord checks the URL's token",
        }
    }

    fn markup(&self) -> Markup {
        Markup::Markdown
    }

    fn limit(&self) -> Limit {
        Limit::Chars(2_000)
    }

    fn rate_limit(&self) -> Option<Rate> {
        Some(Rate {
            count: 30,
            per: Duration::from_secs(60),
        })
    }

    fn body(&self, text: &str, _title: &str, _options: &Options) -> Value {
        json!({
            "content": text,
            "allowed_mentions": { "parse": [] },
            "flags": SUPPRESS_EMBEDS,
        })
    }

    fn judge(&self, status: u16, body: &str) -> Option<Answer> {
        let v: Value = serde_json::from_str(body).ok()?;
        let after = v["retry_after"].as_f64()?;
        (status == 429).then(|| Answer::Later {
            after: Some(Duration::from_secs_f64(after.clamp(0.0, 3600.0).ceil())),
            why: v["message"].as_str().unwrap_or("rate limited").to_owned(),
        })
    }

    fn text(&self, body: &Value) -> Option<String> {
        body["content"].as_str().map(str::to_owned)
    }
}
