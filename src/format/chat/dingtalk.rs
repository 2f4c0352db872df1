//! `dingtalk`: a DingTalk group's custom robot (`https://oapi.dingtalk.com/robot/send?access_token=…`).
//! The message is a `markdown` message (`title` shows in notifications), at most 20,000 bytes;
//! `at.isAtAll` is false and no one is named, so nothing in it notifies anyone. With a secret (the
//! robot's "加签" `SEC…` key) each attempt adds `timestamp` (milliseconds) and `sign` to the URL:
//! the Base64 HMAC-SHA256, keyed with the secret, of `"<timestamp>\n<secret>"`, URL-encoded. DingTalk
//! answers 200 with `errcode`: 0 delivered; 130101 and 410100 (more than 20 messages a minute)
//! retried after a minute; -1 (busy) retried; any other (310000 bad signature, keyword or IP, 300001
//! bad token, ...) kept as a dead letter with DingTalk's `errmsg`.
//! Source: DingTalk's "Custom robot access" (自定义机器人接入), "Custom robot security settings"
//! (加签) and its message types and limits.

use std::time::Duration;

use serde_json::{json, Value};

use super::{json_header, judge_code, Chat, Chatting, Limit, Markup};
use crate::format::{
    sign, Answer, Attempt, Auth, Docs, Header, Options, Prepared, Rate, RequestTemplate,
};

pub struct DingTalk;

pub static FORMAT: Chatting = Chatting(&DingTalk);

/// The `sign` of a timestamp (milliseconds), before URL-encoding.
pub fn signature(timestamp_ms: u64, secret: &str) -> String {
    let to_sign = format!("{timestamp_ms}\n{secret}");
    sign::base64(&sign::hmac_sha256(secret.as_bytes(), to_sign.as_bytes()))
}

impl Chat for DingTalk {
    fn id(&self) -> &'static str {
        "dingtalk"
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "none: a `markdown` message",
            secret: "`timestamp` and `sign` (HMAC-SHA256) added to the URL;\nthe URL's `access_token` is a credential too (shown masked)",
            check: "DingTalk checks the sign (within an hour)",
        }
    }

    fn markup(&self) -> Markup {
        Markup::Markdown
    }

    fn limit(&self) -> Limit {
        Limit::Bytes(20_000)
    }

    fn rate_limit(&self) -> Option<Rate> {
        Some(Rate {
            count: 20,
            per: Duration::from_secs(60),
        })
    }

    fn body(&self, text: &str, title: &str, _options: &Options) -> Value {
        json!({
            "msgtype": "markdown",
            "markdown": { "title": title, "text": text },
            "at": { "isAtAll": false },
        })
    }

    fn prepare(&self, template: &RequestTemplate, auth: Auth<'_>, attempt: Attempt) -> Prepared {
        let mut prepared = Prepared::new(json_header(), template);
        if let Some(secret) = auth.secret() {
            let ms = attempt.unix_millis();
            prepared.url_query = vec![
                Header::new("timestamp", ms.to_string()),
                Header::secret("sign", signature(ms, secret)),
            ];
        }
        prepared
    }

    fn judge(&self, _status: u16, body: &str) -> Option<Answer> {
        judge_code(
            body,
            ("errcode", "errmsg"),
            &[130101, 410100],
            &[-1],
            Duration::from_secs(60),
        )
    }

    fn text(&self, body: &Value) -> Option<String> {
        body["markdown"]["text"].as_str().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DingTalk's published sample code (Python, "加签"), run with timestamp 1700000000000 and secret
    /// `secret`, prints this URL-encoded sign.
    #[test]
    fn reproduces_the_published_signature() {
        let sign = signature(1_700_000_000_000, "secret");
        let encoded: String = url::form_urlencoded::byte_serialize(sign.as_bytes()).collect();
        assert_eq!(
            encoded,
            "OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D"
        );
        let encoded: String = url::form_urlencoded::byte_serialize(
            signature(1_577_262_236_757, "this is secret").as_bytes(),
        )
        .collect();
        assert_eq!(
            encoded,
            "hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"
        );
    }

    #[test]
    fn judges_errcodes() {
        let j = |b: &str| DingTalk.judge(200, b);
        assert_eq!(j(r#"{"errcode":0,"errmsg":"ok"}"#), Some(Answer::Accepted));
        assert!(matches!(
            j(r#"{"errcode":130101,"errmsg":"send too fast"}"#),
            Some(Answer::Later { after: Some(d), .. }) if d == Duration::from_secs(60)
        ));
        assert_eq!(
            j(r#"{"errcode":310000,"errmsg":"sign not match"}"#),
            Some(Answer::Refused {
                why: "errcode 310000: sign not match".to_owned()
            })
        );
        assert_eq!(j("ok"), None);
    }
}
