//! GitHub: both signatures, `head_commit` and the created/deleted/forced flags.

use hmac::{Hmac, Mac};

use super::{commit_ids, hex, hmac256, Expect, Vendor, SECRET};
use crate::support::Request;

pub const VENDOR: Vendor = Vendor {
    id: "github",
    modes: &["password"],
    check,
    shape: super::PER_REF,
};

fn check(r: &Request, e: &Expect, _mode: &str) {
    let (b, h, ctx, _) = super::basics(r, e);
    assert_eq!(h("X-GitHub-Event"), "push", "{ctx}");
    assert!(h("User-Agent").starts_with("GitHub-Hookshot/"), "{ctx}");
    let _: uuid::Uuid = h("X-GitHub-Delivery").parse().expect("uuid");
    assert_eq!(
        h("X-Hub-Signature-256"),
        format!("sha256={}", hex(&hmac256(SECRET, &r.body))),
        "{ctx}"
    );
    let mut sha1 = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).expect("key");
    sha1.update(&r.body);
    assert_eq!(
        h("X-Hub-Signature"),
        format!("sha1={}", hex(&sha1.finalize().into_bytes())),
        "{ctx}"
    );
    let commits = if e.tag { Vec::new() } else { e.commits.clone() };
    assert_eq!(commit_ids(&b["commits"]), commits, "{ctx}");
    assert_eq!(
        b["head_commit"]["id"].as_str().map(str::to_owned),
        e.head,
        "{ctx}"
    );
    assert_eq!(
        (
            b["created"].as_bool(),
            b["deleted"].as_bool(),
            b["forced"].as_bool()
        ),
        (Some(e.created()), Some(e.deleted()), Some(e.forced)),
        "{ctx}"
    );
    assert_eq!(b["repository"]["full_name"], "acme/demo", "{ctx}");
    assert_eq!(b["pusher"]["name"], "alice", "{ctx}");
}
