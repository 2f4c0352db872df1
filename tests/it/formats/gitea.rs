//! Gitea and Forgejo: `create`/`push`/`delete` as Gitea sends them, newest-first commits, and every
//! signature header recomputed.

use hmac::{Hmac, Mac};

use super::{commit_ids, hex, hmac256, Expect, Shape, Vendor, SECRET};
use crate::support::{Request, ZERO};

pub const VENDOR: Vendor = Vendor {
    id: "gitea",
    modes: &["password"],
    check,
    shape: SHAPE,
};

pub const FORGEJO: Vendor = Vendor {
    id: "forgejo",
    modes: &["password"],
    check,
    shape: SHAPE,
};

pub const SHAPE: Shape = Shape {
    per_push: false,
    refname: full_ref,
    kind: |r| r.header("X-Gitea-Event").unwrap_or_default().to_owned(),
    requests: gitea_requests,
};

/// `create` and `delete` bodies name the ref by its short name and type.
pub fn full_ref(r: &Request) -> String {
    let b = r.json();
    let name = b["ref"].as_str().unwrap_or_default();
    match b["ref_type"].as_str() {
        Some("tag") => format!("refs/tags/{name}"),
        Some(_) => format!("refs/heads/{name}"),
        None => name.to_owned(),
    }
}

fn gitea_requests(e: &Expect) -> Vec<&'static str> {
    match (e.tag, e.created(), e.deleted()) {
        (false, true, _) => vec!["create", "push"],
        (false, _, true) => vec!["delete"],
        (false, _, _) => vec!["push"],
        (true, _, true) => vec!["push", "delete"],
        (true, _, _) => vec!["push", "create"],
    }
}

/// The commits Gitea and Gogs list, newest first: a new branch's 10 newest, known or not; an
/// update's new ones.
pub fn newest_first(e: &Expect) -> Vec<String> {
    if e.created() {
        return e.recent.clone();
    }
    e.commits.iter().rev().cloned().collect()
}

fn check(r: &Request, e: &Expect, _mode: &str) {
    let b = r.json();
    let ctx = format!("{} {} {:?}", r.path, e.refname, r.header("X-Gitea-Event"));
    let h = |n: &str| {
        r.header(n)
            .unwrap_or_else(|| panic!("{ctx}: no {n}"))
            .to_owned()
    };
    let event = h("X-Gitea-Event");
    assert_eq!(h("Content-Type"), "application/json", "{ctx}");
    let delivery: uuid::Uuid = h("X-Gitea-Delivery").parse().expect("uuid");
    let signature = hex(&hmac256(SECRET, &r.body));
    let mut sha1 = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).expect("key");
    sha1.update(&r.body);
    let mut prefixes = vec!["Gitea", "Gogs"];
    if r.path.starts_with("/forgejo") {
        prefixes.push("Forgejo");
    } else {
        assert!(r.header("X-Forgejo-Event").is_none(), "{ctx}");
    }
    for p in prefixes {
        assert_eq!(h(&format!("X-{p}-Delivery")), delivery.to_string(), "{ctx}");
        assert_eq!(h(&format!("X-{p}-Event")), event, "{ctx}");
        assert_eq!(h(&format!("X-{p}-Event-Type")), event, "{ctx}");
        assert_eq!(h(&format!("X-{p}-Signature")), signature, "{ctx}");
    }
    assert_eq!(
        h("X-Hub-Signature-256"),
        format!("sha256={signature}"),
        "{ctx}"
    );
    assert_eq!(
        h("X-Hub-Signature"),
        format!("sha1={}", hex(&sha1.finalize().into_bytes())),
        "{ctx}"
    );
    assert_eq!(h("X-GitHub-Delivery"), delivery.to_string(), "{ctx}");
    assert_eq!(h("X-GitHub-Event"), event, "{ctx}");
    assert_eq!(b["repository"]["full_name"], "acme/demo", "{ctx}");
    assert_eq!(b["repository"]["owner"]["login"], "acme", "{ctx}");
    assert_eq!(b["sender"]["login"], "alice", "{ctx}");
    let short = e.refname.rsplit_once('/').map_or("", |(_, s)| s);
    match event.as_str() {
        "create" => {
            assert_eq!(b["ref"], short, "{ctx}");
            assert_eq!(b["sha"], e.after.as_str(), "{ctx}");
            assert_eq!(b["ref_type"], if e.tag { "tag" } else { "branch" }, "{ctx}");
        }
        "delete" => {
            assert_eq!(b["ref"], short, "{ctx}");
            assert_eq!(b["pusher_type"], "user", "{ctx}");
        }
        _ => {
            assert_eq!(b["ref"], e.refname.as_str(), "{ctx}");
            assert_eq!(b["after"], e.after.as_str(), "{ctx}");
            assert_eq!(b["pusher"]["username"], "alice", "{ctx}");
            if e.tag {
                let before = if e.deleted() { e.before.as_str() } else { ZERO };
                assert_eq!(b["before"], before, "{ctx}");
                assert_eq!(b["commits"], serde_json::json!([]), "{ctx}");
                assert_eq!(b["total_commits"], 0, "{ctx}");
            } else {
                assert_eq!(b["before"], e.before.as_str(), "{ctx}");
                assert_eq!(commit_ids(&b["commits"]), newest_first(e), "{ctx}");
                let total = if e.created() { e.recent.len() } else { e.total };
                assert_eq!(b["total_commits"], total, "{ctx}");
            }
            match &e.head {
                Some(head) => assert_eq!(b["head_commit"]["id"], head.as_str(), "{ctx}"),
                None => assert!(b["head_commit"].is_null(), "{ctx}"),
            }
            // Gitea's `setting.AppURL` + the compare path, which a tag deletion has none of.
            let compare = match (e.tag, e.created(), e.deleted()) {
                (_, _, true) => "https://git.example.com/".to_owned(),
                (true, _, _) => format!(
                    "https://git.example.com/acme/demo/compare/{ZERO}...{}",
                    e.after
                ),
                // A new branch: from the parent of its oldest listed commit, else the default branch.
                (false, true, _) => match (&e.recent_base, short) {
                    (Some(base), _) => format!(
                        "https://git.example.com/acme/demo/compare/{base}...{}",
                        e.after
                    ),
                    (None, "main") => "https://git.example.com/".to_owned(),
                    (None, _) => format!(
                        "https://git.example.com/acme/demo/compare/main...{}",
                        e.after
                    ),
                },
                (false, false, _) => format!(
                    "https://git.example.com/acme/demo/compare/{}...{}",
                    e.before, e.after
                ),
            };
            assert_eq!(b["compare_url"], compare.as_str(), "{ctx}");
        }
    }
}
