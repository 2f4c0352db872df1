//! `feishu` and `lark`: a Feishu (or Lark) group's custom bot
//! (`https://open.feishu.cn/open-apis/bot/v2/hook/…`, `https://open.larksuite.com/…`). The message is
//! an `interactive` card: a plain-text header and one `markdown` element (Feishu's card Markdown,
//! special characters written as HTML entities, so `<at id=all>` in a commit message stays text);
//! requests stay under Feishu's 20 KB. A bot takes 100 messages a minute and 5 a second: we send one
//! a second. With a secret (the bot's "签名校验" key) each attempt adds `timestamp` (seconds) and
//! `sign` to the body: the Base64 HMAC-SHA256 keyed with `"<timestamp>\n<secret>"` of nothing. Feishu
//! answers with `code` (older answers: `StatusCode`): 0 delivered; 11232 and 99991400 (too fast)
//! retried after a minute; any other (19021 bad signature or old timestamp, 19022 IP, 19024 keyword,
//! 9499 bad request, ...) kept as a dead letter with Feishu's `msg`.
//! Source: Feishu's "Custom bot usage guide" (自定义机器人使用指南) and its card Markdown reference.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{json_header, judge_code, Chat, Chatting, Limit, Markup};
use crate::format::{
    sign, to_json, Answer, Attempt, Auth, Docs, Options, Prepared, Rate, RequestTemplate,
};

/// Feishu, or Lark (the same bot API under another name and host).
pub struct Feishu {
    id: &'static str,
}

pub static FEISHU: Chatting = Chatting(&Feishu { id: "feishu" });
pub static LARK: Chatting = Chatting(&Feishu { id: "lark" });

/// The `sign` of a timestamp (seconds).
pub fn signature(timestamp: u64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    sign::base64(&sign::hmac_sha256(key.as_bytes(), b""))
}

impl Chat for Feishu {
    fn id(&self) -> &'static str {
        self.id
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "none: an `interactive` card message",
            secret: "`timestamp` and `sign` (HMAC-SHA256) added to the body;\nthe URL's hook id is a credential too (shown masked)",
            check: "Feishu checks the sign (within an hour)",
        }
    }

    fn markup(&self) -> Markup {
        Markup::LarkMarkdown
    }

    fn limit(&self) -> Limit {
        Limit::Bytes(18_000)
    }

    fn rate_limit(&self) -> Option<Rate> {
        Some(Rate {
            count: 1,
            per: Duration::from_secs(1),
        })
    }

    fn body(&self, text: &str, title: &str, _options: &Options) -> Value {
        json!({
            "msg_type": "interactive",
            "card": {
                "header": { "title": { "tag": "plain_text", "content": title } },
                "elements": [{ "tag": "markdown", "content": text }],
            },
        })
    }

    fn prepare(&self, template: &RequestTemplate, auth: Auth<'_>, attempt: Attempt) -> Prepared {
        let mut prepared = Prepared::new(json_header(), template);
        let Some(secret) = auth.secret() else {
            return prepared;
        };
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&template.body) else {
            return prepared;
        };
        let now = attempt.unix_secs();
        let mut signed = Map::new();
        signed.insert("timestamp".to_owned(), now.to_string().into());
        signed.insert("sign".to_owned(), signature(now, secret).into());
        signed.extend(body);
        prepared.body = to_json(&signed);
        prepared.secret_fields = &["sign"];
        prepared
    }

    fn judge(&self, _status: u16, body: &str) -> Option<Answer> {
        let rate_limited = [11232, 99991400];
        let window = Duration::from_secs(60);
        judge_code(body, ("code", "msg"), &rate_limited, &[], window).or_else(|| {
            judge_code(
                body,
                ("StatusCode", "StatusMessage"),
                &rate_limited,
                &[],
                window,
            )
        })
    }

    fn text(&self, body: &Value) -> Option<String> {
        body["card"]["elements"][0]["content"]
            .as_str()
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feishu's published sample code (Python 3, "签名校验"), run with its documented example
    /// timestamp 1599360473 and secret `demo`, prints this sign.
    #[test]
    fn reproduces_the_published_signature() {
        assert_eq!(
            signature(1_599_360_473, "demo"),
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
    }

    #[test]
    fn judges_codes() {
        let j = |b: &str| FEISHU.chat().judge(200, b);
        assert_eq!(
            j(r#"{"code":0,"msg":"success","data":{}}"#),
            Some(Answer::Accepted)
        );
        assert_eq!(
            j(r#"{"StatusCode":0,"StatusMessage":"success"}"#),
            Some(Answer::Accepted)
        );
        assert_eq!(
            j(r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#),
            Some(Answer::Refused {
                why: "code 19021: sign match fail or timestamp is not within one hour from current time".to_owned()
            })
        );
        assert!(matches!(
            j(r#"{"code":11232,"msg":"frequency limited"}"#),
            Some(Answer::Later { .. })
        ));
    }
}
