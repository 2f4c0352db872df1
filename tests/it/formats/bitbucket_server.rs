//! Bitbucket Data Center: one `repo:refs_changed` per push, every ref in `changes`, `X-Hub-Signature`.

use super::{body_ref, hex, hmac256, Expect, Shape, Vendor, SECRET};
use crate::support::Request;

pub const VENDOR: Vendor = Vendor {
    id: "bitbucket-server",
    modes: &["password"],
    check,
    shape: Shape {
        per_push: true,
        refname: body_ref,
        kind: |_| "push".to_owned(),
        requests: |_| vec!["push"],
    },
};

fn check(r: &Request, e: &Expect, _mode: &str) {
    let b = r.json();
    let ctx = format!("{} {}", r.path, e.refname);
    let h = |n: &str| {
        r.header(n)
            .unwrap_or_else(|| panic!("{ctx}: no {n}"))
            .to_owned()
    };
    assert_eq!(h("X-Event-Key"), "repo:refs_changed", "{ctx}");
    let _: uuid::Uuid = h("X-Request-Id").parse().expect("uuid");
    assert_eq!(
        h("X-Hub-Signature"),
        format!("sha256={}", hex(&hmac256(SECRET, &r.body))),
        "{ctx}"
    );
    assert_eq!(b["eventKey"], "repo:refs_changed", "{ctx}");
    assert_eq!(b["actor"]["name"], "alice", "{ctx}");
    assert_eq!(b["repository"]["slug"], "demo", "{ctx}");
    assert_eq!(b["repository"]["project"]["key"], "ACME", "{ctx}");
    let date = b["date"].as_str().expect("date");
    assert!(
        chrono::DateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S%z").is_ok(),
        "{ctx}: {date}"
    );
    assert!(
        b["commits"].as_array().expect("commits").len() <= 5,
        "{ctx}"
    );
    if let Some(head) = &e.head {
        // toCommit is the head of the push's first ref with one; each listed head is a commit.
        assert!(
            b["toCommit"]["id"]
                .as_str()
                .is_some_and(|id| id.len() == head.len()),
            "{ctx}"
        );
    }
    let change = b["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["refId"] == e.refname.as_str())
        .unwrap_or_else(|| panic!("{ctx}: not in changes"));
    assert_eq!(change["ref"]["id"], e.refname.as_str(), "{ctx}");
    assert_eq!(
        change["ref"]["type"],
        if e.tag { "TAG" } else { "BRANCH" },
        "{ctx}"
    );
    assert_eq!(change["fromHash"], e.before.as_str(), "{ctx}");
    assert_eq!(change["toHash"], e.after.as_str(), "{ctx}");
    let kind = match (e.created(), e.deleted()) {
        (true, _) => "ADD",
        (_, true) => "DELETE",
        _ => "UPDATE",
    };
    assert_eq!(change["type"], kind, "{ctx}");
}
