//! `slack`: a Slack incoming webhook (`https://hooks.slack.com/services/...`); Mattermost and
//! Rocket.Chat incoming webhooks take the same body. The message is mrkdwn in `text`, at most 40,000
//! characters (Slack cuts longer ones); Slack takes one message a second per webhook. Errors come as
//! HTTP statuses with a word in the body (`400 invalid_payload`, `404 no_team`, `410
//! channel_is_archived`), 429 with `Retry-After` when too fast: the status says it all.
//! Source: Slack's "Sending messages using incoming webhooks" and "Rate limits" pages.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Chat, Chatting, Limit, Markup};
use crate::format::{Docs, Options, Rate};

pub struct Slack;

pub static FORMAT: Chatting = Chatting(&Slack);

impl Chat for Slack {
    fn id(&self) -> &'static str {
        "slack"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "none: a message, mrkdwn in `text`",
            secret: "none: the webhook URL is the credential (shown masked);\nalso Mattermost and Rocket.Chat",
            check: "Slack checks the URL's token",
        }
    }

    fn markup(&self) -> Markup {
        Markup::Mrkdwn
    }

    fn limit(&self) -> Limit {
        Limit::Chars(40_000)
    }

    fn rate_limit(&self) -> Option<Rate> {
        Some(Rate {
            count: 1,
            per: Duration::from_secs(1),
        })
    }

    fn body(&self, text: &str, _title: &str, _options: &Options) -> Value {
        json!({ "text": text })
    }

    fn text(&self, body: &Value) -> Option<String> {
        body["text"].as_str().map(str::to_owned)
    }
}
