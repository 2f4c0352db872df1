//! `teams`: a Microsoft Teams channel's Workflows webhook (Power Automate's "Post to a channel when a
//! webhook request is received"), which takes a message with an Adaptive Card attachment. Each line
//! of the message is a `TextBlock` (Teams' card Markdown: `**bold**`, `[text](url)`); the card stays
//! well under Teams' 28 KB message limit. The flow answers 202 Accepted.
//! Source: Microsoft's "Create incoming webhooks with Workflows for Microsoft Teams" and the Adaptive
//! Cards schema (TextBlock, version 1.4).

use serde_json::{json, Value};

use super::{Chat, Chatting, Limit, Markup};
use crate::format::{Docs, Options, Rate};

pub struct Teams;

pub static FORMAT: Chatting = Chatting(&Teams);

impl Chat for Teams {
    fn id(&self) -> &'static str {
        "teams"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "none: a message with an Adaptive Card",
            secret: "none: the Workflows URL (with its `sig`) is the credential (shown masked)",
            check: "Power Automate checks the URL's signature",
        }
    }

    fn markup(&self) -> Markup {
        Markup::Markdown
    }

    fn limit(&self) -> Limit {
        Limit::Bytes(20_000)
    }

    fn rate_limit(&self) -> Option<Rate> {
        None
    }

    fn body(&self, text: &str, _title: &str, _options: &Options) -> Value {
        let blocks: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, line)| {
                let mut block = json!({ "type": "TextBlock", "text": line, "wrap": true });
                if i > 0 {
                    block["spacing"] = "None".into();
                }
                block
            })
            .collect();
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": blocks,
                },
            }],
        })
    }

    fn text(&self, body: &Value) -> Option<String> {
        let blocks = body["attachments"][0]["content"]["body"].as_array()?;
        Some(
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
}
