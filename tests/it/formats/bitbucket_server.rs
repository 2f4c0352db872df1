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
    // Clone links are URLs, as Bitbucket writes them (Argo CD parses each with Go's url.Parse).
    let link = |name: &str| {
        let links = b["repository"]["links"]["clone"]
            .as_array()
            .expect("clone links");
        let href = links
            .iter()
            .find(|l| l["name"] == name)
            .and_then(|l| l["href"].as_str())
            .unwrap_or_else(|| panic!("{ctx}: no {name} clone link"));
        url::Url::parse(href).unwrap_or_else(|e| panic!("{ctx}: {href}: {e}"))
    };
    assert_eq!(
        link("ssh").as_str(),
        "ssh://git@git.example.com/acme/demo.git",
        "{ctx}"
    );
    assert_eq!(
        link("http").as_str(),
        "https://git.example.com/scm/acme/demo.git",
        "{ctx}"
    );
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
