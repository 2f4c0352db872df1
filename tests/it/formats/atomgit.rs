//! AtomGit: its seed document's shape (tag pushes carry no commits).

use super::{commit_ids, Expect, Vendor, SECRET};
use crate::support::Request;

pub const VENDOR: Vendor = Vendor {
    id: "atomgit",
    modes: &["password"],
    check,
    shape: super::PER_REF,
};

fn check(r: &Request, e: &Expect, _mode: &str) {
    let (b, h, ctx, event) = super::basics(r, e);
    assert_eq!(h("X-AtomGit-Event"), event, "{ctx}");
    assert_eq!(h("X-AtomGit-Token"), SECRET, "{ctx}");
    assert_eq!(
        b["object_kind"],
        if e.tag { "tag_push" } else { "push" },
        "{ctx}"
    );
    let (commits, total) = if e.tag {
        (Vec::new(), 0)
    } else {
        (e.commits.clone(), e.total)
    };
    assert_eq!(commit_ids(&b["commits"]), commits, "{ctx}");
    assert_eq!(b["total_commits_count"], total, "{ctx}");
    assert_eq!(
        b["repository"]["homepage"], "https://git.example.com/acme/demo",
        "{ctx}"
    );
}
