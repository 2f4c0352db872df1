//! Chat formats against a receiver that answers as each vendor's API does (its paths, its signature
//! checks, its error and rate-limit answers): the messages of every kind of push, escaping, cutting,
//! templates, and what the deliverer makes of the vendors' verdicts and limits.

mod answers;
mod messages;

use base64::Engine as _;
use hmac::Mac as _;
use serde_json::Value;

use crate::support::*;

/// The chat formats these tests check (the formats harness checks the others).
pub const CHECKED: &[&str] = &[
    "slack", "discord", "teams", "dingtalk", "feishu", "lark", "wecom", "telegram",
];

pub const DINGTALK_SECRET: &str = "SECdemo";
pub const FEISHU_SECRET: &str = "feishu-demo";
pub const TELEGRAM_TOKEN: &str = "123456:ABC-token";
pub const TELEGRAM_CHAT: i64 = -1_001_234;

/// Where each vendor's endpoint is, on the receiver: the path with the credential in it.
pub fn path_of(format: &str) -> &'static str {
    match format {
        "slack" => "/services/T000/B000/slacktoken",
        "discord" => "/api/webhooks/42/discordtoken",
        "teams" => "/workflows/run?sig=teamssig",
        "dingtalk" => "/robot/send?access_token=dingtoken",
        "feishu" | "lark" => "/open-apis/bot/v2/hook/feishuhook",
        "wecom" => "/cgi-bin/webhook/send?key=wecomkey",
        "telegram" => "",
        other => panic!("no chat format {other}"),
    }
}

/// The `[[endpoint]]` of a chat format on `receiver`, with its secret and `extra` keys.
pub fn endpoint(receiver: &Receiver, format: &str, extra: &str) -> String {
    let secret = match format {
        "dingtalk" => format!("secret = \"{DINGTALK_SECRET}\"\n"),
        "feishu" | "lark" => format!("secret = \"{FEISHU_SECRET}\"\n"),
        "telegram" => format!("secret = \"{TELEGRAM_TOKEN}\"\nchat_id = \"{TELEGRAM_CHAT}\"\n"),
        _ => String::new(),
    };
    format!(
        "[[endpoint]]\nurl = \"{}\"\nformat = \"{format}\"\n{secret}{extra}\n",
        receiver.url(path_of(format))
    )
}

/// A configuration: sync delivery, the project, and these endpoint tables.
pub fn config(endpoints: &str) -> String {
    format!(
        "{SYNC}[project]\nweb_url = \"https://git.example.com/acme/demo\"\n\n\
         [users.alice]\nname = \"Alice Example\"\nemail = \"alice@example.com\"\n\n{endpoints}"
    )
}

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn query(path: &str, name: &str) -> Option<String> {
    let (_, q) = path.split_once('?')?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Which vendor a request went to, by its path.
pub fn vendor_of(r: &Request) -> &'static str {
    let p = r.path.as_str();
    CHECKED
        .iter()
        .copied()
        .filter(|f| *f != "telegram" && *f != "lark")
        .find(|f| p.starts_with(path_of(f).split('?').next().unwrap_or_default()))
        .unwrap_or(if p.contains("/sendMessage") {
            "telegram"
        } else {
            "unknown"
        })
}

/// The problem a vendor would find with a request, as its error answer; `None`: accepted.
pub fn vendor_problem(r: &Request) -> Option<String> {
    let body = r.json();
    if r.header("Content-Type") != Some("application/json") {
        return Some("not JSON".to_owned());
    }
    match vendor_of(r) {
        "dingtalk" => {
            let ts = query(&r.path, "timestamp")?;
            let sign = query(&r.path, "sign")?;
            let want = hmac_base64(
                DINGTALK_SECRET.as_bytes(),
                format!("{ts}\n{DINGTALK_SECRET}").as_bytes(),
            );
            (sign != want || body["msgtype"] != "markdown").then(|| "sign not match".to_owned())
        }
        "feishu" => {
            let ts = body["timestamp"].as_str().unwrap_or_default();
            let want = hmac_base64(format!("{ts}\n{FEISHU_SECRET}").as_bytes(), b"");
            (body["sign"] != want.as_str() || body["msg_type"] != "interactive")
                .then(|| "sign match fail".to_owned())
        }
        "telegram" => {
            let ok = r.path == format!("/bot{TELEGRAM_TOKEN}/sendMessage")
                && body["chat_id"] == TELEGRAM_CHAT
                && body["parse_mode"] == "HTML"
                && well_formed_html(body["text"].as_str().unwrap_or_default());
            (!ok).then(|| "Bad Request: can't parse entities".to_owned())
        }
        "unknown" => Some("no such path".to_owned()),
        _ => None,
    }
}

/// Telegram's HTML: only its tags, each closed in order, entities complete.
fn well_formed_html(text: &str) -> bool {
    let mut open = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['<', '&']) {
        let tail = &rest[i..];
        if tail.starts_with('&') {
            let Some(end) = tail.find(';') else {
                return false;
            };
            if !["&lt;", "&gt;", "&amp;", "&quot;"].contains(&&tail[..=end]) {
                return false;
            }
            rest = &tail[end + 1..];
            continue;
        }
        let Some(end) = tail.find('>') else {
            return false;
        };
        let tag = &tail[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop() != Some(name.to_owned()) {
                return false;
            }
        } else {
            let name = tag.split_whitespace().next().unwrap_or_default();
            if !["b", "i", "a", "code"].contains(&name) {
                return false;
            }
            open.push(name.to_owned());
        }
        rest = &tail[end + 1..];
    }
    open.is_empty()
}

/// The vendor's answer to an accepted request, or to `problem`.
pub fn vendor_answer(vendor: &str, problem: Option<&str>) -> Reply {
    let json = |status: u16, body: Value| Reply {
        status,
        body: body.to_string(),
        ..Reply::default()
    };
    match (vendor, problem) {
        ("dingtalk", None) => json(200, serde_json::json!({"errcode": 0, "errmsg": "ok"})),
        ("dingtalk", Some(p)) => json(200, serde_json::json!({"errcode": 310000, "errmsg": p})),
        ("feishu", None) => json(
            200,
            serde_json::json!({"code": 0, "msg": "success", "data": {}}),
        ),
        ("feishu", Some(p)) => json(200, serde_json::json!({"code": 19021, "msg": p})),
        ("wecom", None) => json(200, serde_json::json!({"errcode": 0, "errmsg": "ok"})),
        ("telegram", None) => json(
            200,
            serde_json::json!({"ok": true, "result": {"message_id": 1}}),
        ),
        ("telegram", Some(p)) => json(
            400,
            serde_json::json!({"ok": false, "error_code": 400, "description": p}),
        ),
        ("discord", None) => Reply {
            status: 204,
            body: String::new(),
            ..Reply::default()
        },
        ("teams", None) => Reply {
            status: 202,
            body: String::new(),
            ..Reply::default()
        },
        (_, None) => Reply::default(),
        (_, Some(p)) => Reply {
            status: 400,
            body: p.to_owned(),
            ..Reply::default()
        },
    }
}

/// A receiver answering as every vendor does.
pub fn vendors() -> Receiver {
    Receiver::start_with(|r| vendor_answer(vendor_of(r), vendor_problem(r).as_deref()))
        .expect("receiver")
}

/// The message text of a request, read back the way its vendor shows it.
pub fn text_of(r: &Request) -> String {
    let b = r.json();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match vendor_of(r) {
        "slack" | "telegram" => s(&b["text"]),
        "discord" => s(&b["content"]),
        "dingtalk" => s(&b["markdown"]["text"]),
        "wecom" => s(&b["markdown"]["content"]),
        "feishu" => s(&b["card"]["elements"][0]["content"]),
        "teams" => b["attachments"][0]["content"]["body"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| s(&t["text"]))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
