//! Standard Webhooks (standardwebhooks.com; the spec in standard-webhooks/standard-webhooks): our
//! neutral event as `data`, `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64
//! HMAC-SHA256 of "id.timestamp.body">`, keyed with the Base64-decoded part of a `whsec_` secret;
//! while a secret is rotated, one `v1` signature per secret, and with a signing key a `v1a` Ed25519
//! signature of the same text, space-separated as the spec lists them.

use base64::Engine as _;
use serde::Serialize;

use super::neutral;
use super::sign::{base64, hmac_sha256};
use super::{to_json, Attempt, Auth, Docs, Format, Header, Hook, Prepared, RequestTemplate, Sent};
use crate::model::{EventKind, PushEvent};

pub struct StandardWebhooks;

/// The envelope the spec recommends: what happened, when, and the event.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: neutral::Event<'a>,
}

/// The event's `type`: `git.push` or `git.tag_push`.
fn kind(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Push => "git.push",
        EventKind::TagPush => "git.tag_push",
    }
}

/// The HMAC key a secret stands for: the Base64 after `whsec_` (as the spec's libraries read it);
/// any other secret is used as it is written.
fn key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// What is signed: `<id>.<timestamp>.<body>`.
fn signed(id: &str, timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    signed
}

/// `v1,<base64 HMAC-SHA256(key, signed)>`.
fn signature(secret: &str, signed: &[u8]) -> String {
    format!("v1,{}", base64(&hmac_sha256(&key(secret), signed)))
}

impl Format for StandardWebhooks {
    fn id(&self) -> &'static str {
        "standard-webhooks"
    }

    fn signs_with_several(&self) -> bool {
        true
    }

    fn signs_with_key(&self) -> bool {
        true
    }

    fn docs(&self) -> Docs {
        Docs {
            event: "`type` in the body: `git.push` / `git.tag_push`",
            secret: "never sent: `webhook-signature: v1,<base64 HMAC-SHA256>` of\n\
                     `<id>.<timestamp>.<body>`, keyed with the Base64 after `whsec_`;\n\
                     one `v1` per secret while `secret_next` is set,\n\
                     and `v1a,<base64 Ed25519>` with `signing_key_file`",
            check: "any Standard Webhooks library (`Webhook(secret).verify(body, headers)`)",
        }
    }

    fn body(
        &self,
        event: &PushEvent,
        _hook: Hook,
        _sent: Sent,
        _options: &super::Options,
    ) -> Vec<u8> {
        to_json(&Body {
            kind: kind(event.change.kind()),
            timestamp: event
                .pushed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            data: neutral::event(event),
        })
    }

    fn prepare(&self, d: &RequestTemplate, auth: Auth<'_>, attempt: Attempt) -> Prepared {
        let id = format!("msg_{}", d.hook.delivery_id.simple());
        let timestamp = attempt.unix_secs();
        let mut headers = vec![
            Header::new("Content-Type", "application/json"),
            Header::new("User-Agent", super::USER_AGENT),
            Header::new("webhook-id", id.clone()),
            Header::new("webhook-timestamp", timestamp.to_string()),
        ];
        let signed = signed(&id, timestamp, &d.body);
        let mut signatures: Vec<String> = auth.secrets().map(|s| signature(s, &signed)).collect();
        if let Some(key) = auth.signing_key {
            signatures.push(format!("v1a,{}", base64(&key.sign(&signed))));
        }
        if !signatures.is_empty() {
            headers.push(Header::new("webhook-signature", signatures.join(" ")));
        }
        Prepared::new(headers, d)
    }
}

#[cfg(test)]
mod tests {
    use super::{signature, signed};

    /// The spec's published test vector (its reference libraries' tests).
    #[test]
    fn the_specs_test_vector() {
        assert_eq!(
            signature(
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                &signed(
                    "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                    1_649_367_553,
                    br#"{"email":"test@example.com","username":"test_user"}"#,
                ),
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }
}
