//! GitLab: `X-Gitlab-Event`, the token as it is, GitLab's commit list and `checkout_sha`.

use serde_json::json;

use super::{commit_ids, Expect, Vendor, SECRET};
use crate::support::Request;

pub const VENDOR: Vendor = Vendor {
    id: "gitlab",
    modes: &["password"],
    check,
    shape: super::PER_REF,
};

fn check(r: &Request, e: &Expect, _mode: &str) {
    let (b, h, ctx, event) = super::basics(r, e);
    assert_eq!(h("X-Gitlab-Event"), event, "{ctx}");
    assert_eq!(h("X-Gitlab-Token"), SECRET, "{ctx}");
    assert_eq!(commit_ids(&b["commits"]), e.commits, "{ctx}");
    assert_eq!(b["total_commits_count"], e.total, "{ctx}");
    assert_eq!(b["checkout_sha"], json!(e.head), "{ctx}");
}
