//! Gitee: password and sign modes, the timestamp in header and body, Gitee's own keys.

use super::{commit_ids, hmac256, Expect, Vendor, SECRET};
use crate::support::Request;

pub const VENDOR: Vendor = Vendor {
    id: "gitee",
    modes: &["password", "sign"],
    check,
    shape: super::PER_REF,
};

fn check(r: &Request, e: &Expect, mode: &str) {
    let (b, h, ctx, event) = super::basics(r, e);
    assert_eq!(h("User-Agent"), "git-oschina-hook", "{ctx}");
    assert_eq!(h("X-Gitee-Event"), event, "{ctx}");
    assert_eq!(h("X-Git-Oschina-Event"), event, "{ctx}");
    assert_eq!(h("X-Gitee-Ping"), "false", "{ctx}");
    let ts = h("X-Gitee-Timestamp");
    assert!(
        ts.len() == 13 && ts.bytes().all(|c| c.is_ascii_digit()),
        "{ctx}: {ts}"
    );
    assert_eq!(
        b["timestamp"],
        ts.as_str(),
        "{ctx}: body timestamp is the header's, as a string"
    );
    if mode == "password" {
        assert_eq!(h("X-Gitee-Token"), SECRET, "{ctx}");
        assert_eq!(
            (b["password"].as_str(), b["sign"].as_str()),
            (Some(SECRET), Some("")),
            "{ctx}"
        );
    } else {
        use base64::Engine as _;
        let sig = base64::engine::general_purpose::STANDARD
            .encode(hmac256(SECRET, format!("{ts}\n{SECRET}").as_bytes()));
        assert_eq!(h("X-Gitee-Token"), sig, "{ctx}");
        assert_eq!(
            (b["password"].as_str(), b["sign"].as_str()),
            (Some(""), Some(sig.as_str())),
            "{ctx}"
        );
    }
    assert_eq!(commit_ids(&b["commits"]), e.commits, "{ctx}");
    assert_eq!(b["total_commits_count"], e.total, "{ctx}");
    assert_eq!(b["commits_more_than_ten"], e.total > 10, "{ctx}");
    assert_eq!(
        (b["created"].as_bool(), b["deleted"].as_bool()),
        (Some(e.created()), Some(e.deleted())),
        "{ctx}"
    );
    assert_eq!(
        b["head_commit"]["id"].as_str().map(str::to_owned),
        e.head,
        "{ctx}"
    );
    assert_eq!(
        b["hook_name"],
        if e.tag {
            "tag_push_hooks"
        } else {
            "push_hooks"
        },
        "{ctx}"
    );
    assert_eq!(
        b["compare"],
        format!(
            "https://git.example.com/acme/demo/compare/{}...{}",
            e.before, e.after
        ),
        "{ctx}"
    );
    assert_eq!(b["repository"], b["project"], "{ctx}");
    assert_eq!(b["repository"]["full_name"], "acme/demo", "{ctx}");
    assert!(
        b["hook_id"].is_u64() && b["license"].is_null() && b["repository"]["license"].is_null(),
        "{ctx}"
    );
    assert_eq!(b["sender"]["login"], "alice", "{ctx}");
}
