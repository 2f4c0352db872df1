//! GitCode: token or `X-GitCode-Signature-256`, UTC timestamps and its commit URLs.

use super::{commit_ids, hex, hmac256, Expect, Vendor, SECRET};
use crate::support::Request;

pub const VENDOR: Vendor = Vendor {
    id: "gitcode",
    modes: &["password", "sign"],
    check,
    shape: super::PER_REF,
};

fn check(r: &Request, e: &Expect, mode: &str) {
    let (b, h, ctx, event) = super::basics(r, e);
    assert_eq!(h("User-Agent"), "git-gitcode-hook", "{ctx}");
    assert_eq!(h("X-GitCode-Event"), event, "{ctx}");
    let delivery: uuid::Uuid = h("X-GitCode-Delivery").parse().expect("uuid");
    assert_eq!(b["uuid"], delivery.to_string(), "{ctx}");
    if mode == "password" {
        assert_eq!(h("X-GitCode-Token"), SECRET, "{ctx}");
    } else {
        assert_eq!(
            h("X-GitCode-Signature-256"),
            format!("sha256={}", hex(&hmac256(SECRET, &r.body))),
            "{ctx}"
        );
        assert!(r.header("X-GitCode-Token").is_none(), "{ctx}");
    }
    assert_eq!(commit_ids(&b["commits"]), e.commits, "{ctx}");
    assert_eq!(b["total_commits_count"], e.total, "{ctx}");
    for c in b["commits"].as_array().expect("commits") {
        assert!(c["timestamp"].as_str().expect("ts").ends_with('Z'), "{ctx}");
        assert!(
            c["url"].as_str().expect("url").contains("/commits/detail/"),
            "{ctx}"
        );
    }
}
