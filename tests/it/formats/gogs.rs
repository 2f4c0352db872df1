//! Gogs: `create`/`push`/`delete` as Gogs sends them and `X-Gogs-Signature` recomputed.

use super::gitea::{full_ref, newest_first};
use super::{commit_ids, hex, hmac256, Expect, Shape, Vendor, SECRET};
use crate::support::Request;

pub const VENDOR: Vendor = Vendor {
    id: "gogs",
    modes: &["password"],
    check,
    shape: Shape {
        per_push: false,
        refname: full_ref,
        kind: |r| r.header("X-Gogs-Event").unwrap_or_default().to_owned(),
        requests: |e| match (e.tag, e.created(), e.deleted()) {
            (_, _, true) => vec!["delete"],
            (true, _, _) => vec!["create"],
            (false, true, _) => vec!["create", "push"],
            (false, _, _) => vec!["push"],
        },
    },
};

fn check(r: &Request, e: &Expect, _mode: &str) {
    let b = r.json();
    let ctx = format!("{} {} {:?}", r.path, e.refname, r.header("X-Gogs-Event"));
    let h = |n: &str| {
        r.header(n)
            .unwrap_or_else(|| panic!("{ctx}: no {n}"))
            .to_owned()
    };
    assert_eq!(h("Content-Type"), "application/json", "{ctx}");
    assert_eq!(h("User-Agent"), "GogsServer", "{ctx}");
    let _: uuid::Uuid = h("X-Gogs-Delivery").parse().expect("uuid");
    assert_eq!(
        h("X-Gogs-Signature"),
        hex(&hmac256(SECRET, &r.body)),
        "{ctx}"
    );
    assert!(r.header("X-Gitea-Event").is_none(), "{ctx}");
    assert_eq!(b["repository"]["full_name"], "acme/demo", "{ctx}");
    assert_eq!(b["sender"]["username"], "alice", "{ctx}");
    match h("X-Gogs-Event").as_str() {
        "create" => {
            let sha = if e.tag { e.after.as_str() } else { "" };
            assert_eq!(b["sha"], sha, "{ctx}");
            assert_eq!(b["default_branch"], "main", "{ctx}");
        }
        "delete" => assert_eq!(b["pusher_type"], "user", "{ctx}"),
        _ => {
            assert_eq!(b["ref"], e.refname.as_str(), "{ctx}");
            assert_eq!(b["before"], e.before.as_str(), "{ctx}");
            assert_eq!(b["after"], e.after.as_str(), "{ctx}");
            assert_eq!(commit_ids(&b["commits"]), newest_first(e), "{ctx}");
            assert!(b.get("total_commits").is_none(), "{ctx}");
        }
    }
}
