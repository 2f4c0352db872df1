//! Standard Webhooks: `webhook-id`, `webhook-timestamp`, the `v1` signature recomputed, the neutral
//! event as `data`.

use base64::Engine as _;

use super::cloudevents::check_neutral;
use super::{hmac256, Expect, Shape, Vendor, SECRET};
use crate::support::Request;

pub const VENDOR: Vendor = Vendor {
    id: "standard-webhooks",
    modes: &["password"],
    check,
    shape: Shape {
        per_push: false,
        refname: |r| {
            r.json()["data"]["ref"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        },
        kind: |_| "push".to_owned(),
        requests: |_| vec!["push"],
    },
};

fn check(r: &Request, e: &Expect, _mode: &str) {
    let ctx = format!("{} {}", r.path, e.refname);
    let h = |n: &str| {
        r.header(n)
            .unwrap_or_else(|| panic!("{ctx}: no {n}"))
            .to_owned()
    };
    let (id, timestamp) = (h("webhook-id"), h("webhook-timestamp"));
    assert!(id.starts_with("msg_"), "{ctx}");
    let seconds: i64 = timestamp.parse().expect("seconds");
    assert!(
        (chrono::Utc::now().timestamp() - seconds).abs() < 300,
        "{ctx}"
    );
    // The secret is not `whsec_...`: it keys the HMAC as written.
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac256(SECRET, &signed));
    assert_eq!(h("webhook-signature"), format!("v1,{expected}"), "{ctx}");
    let b = r.json();
    assert_eq!(
        b["type"],
        if e.tag { "git.tag_push" } else { "git.push" },
        "{ctx}"
    );
    check_neutral(&b["data"], e, &ctx);
}
