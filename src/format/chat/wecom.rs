//! `wecom`: a WeCom (企业微信) group robot (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`).
//! The message is a `markdown` message, at most 4,096 bytes of UTF-8; a robot takes 20 messages a
//! minute. WeCom answers 200 with `errcode`: 0 delivered; 45009 (over the limit) retried after a
//! minute; -1 (busy) retried; any other (93000 bad key, 40058 bad content, ...) kept as a dead letter
//! with WeCom's `errmsg`.
//! Source: WeCom's "Group robot configuration" (群机器人配置说明) and its global error codes.

use std::time::Duration;

use serde_json::{json, Value};

use super::{judge_code, Chat, Chatting, Limit, Markup};
use crate::format::{Answer, Docs, Options, Rate};

pub struct WeCom;

pub static FORMAT: Chatting = Chatting(&WeCom);

impl Chat for WeCom {
    fn id(&self) -> &'static str {
        "wecom"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "none: a `markdown` message",
            secret: "none: the URL's `key` is the credential (shown masked)",
            check: "WeCom checks the key",
        }
    }

    fn markup(&self) -> Markup {
        Markup::Markdown
    }

    fn limit(&self) -> Limit {
        Limit::Bytes(4_096)
    }

    fn rate_limit(&self) -> Option<Rate> {
        Some(Rate {
            count: 20,
            per: Duration::from_secs(60),
        })
    }

    fn body(&self, text: &str, _title: &str, _options: &Options) -> Value {
        json!({ "msgtype": "markdown", "markdown": { "content": text } })
    }

    fn judge(&self, _status: u16, body: &str) -> Option<Answer> {
        judge_code(
            body,
            ("errcode", "errmsg"),
            &[45009],
            &[-1],
            Duration::from_secs(60),
        )
    }

    fn text(&self, body: &Value) -> Option<String> {
        body["markdown"]["content"].as_str().map(str::to_owned)
    }
}
