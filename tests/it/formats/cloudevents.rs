//! CloudEvents (structured and binary) with our types or CDEvents', and the neutral event inside.

use serde_json::Value;

use super::{commit_ids, Expect, Shape, Vendor, SECRET};
use crate::support::Request;

const fn vendor(id: &'static str, refname: fn(&Request) -> String) -> Vendor {
    Vendor {
        id,
        modes: &["password"],
        check,
        shape: Shape {
            per_push: false,
            refname,
            kind: |_| "push".to_owned(),
            requests: |_| vec!["push"],
        },
    }
}

fn structured_subject(r: &Request) -> String {
    r.json()["subject"].as_str().unwrap_or_default().to_owned()
}

fn binary_subject(r: &Request) -> String {
    r.header("ce-subject").unwrap_or_default().to_owned()
}

pub const STRUCTURED: Vendor = vendor("cloudevents", structured_subject);
pub const BINARY: Vendor = vendor("cloudevents-binary", binary_subject);
pub const CDEVENTS: Vendor = vendor("cdevents", structured_subject);
pub const CDEVENTS_BINARY: Vendor = vendor("cdevents-binary", binary_subject);

/// The neutral event (`git-webhook.push/1`) of one ref update.
pub fn check_neutral(d: &Value, e: &Expect, ctx: &str) {
    assert_eq!(d["schema"], "git-webhook.push/1", "{ctx}");
    assert_eq!(d["ref"], e.refname.as_str(), "{ctx}");
    assert_eq!(d["ref_type"], if e.tag { "tag" } else { "branch" }, "{ctx}");
    assert_eq!(d["before"], e.before.as_str(), "{ctx}");
    assert_eq!(d["after"], e.after.as_str(), "{ctx}");
    let action = match (e.created(), e.deleted()) {
        (true, _) => "created",
        (_, true) => "deleted",
        _ => "updated",
    };
    assert_eq!(d["action"], action, "{ctx}");
    assert_eq!(d["forced"], e.forced, "{ctx}");
    assert_eq!(commit_ids(&d["commits"]), e.commits, "{ctx}");
    assert_eq!(d["total_commits"], e.total, "{ctx}");
    match &e.head {
        Some(head) => {
            assert_eq!(d["checkout_sha"], head.as_str(), "{ctx}");
            assert_eq!(d["head_commit"]["id"], head.as_str(), "{ctx}");
        }
        None => assert!(d["checkout_sha"].is_null(), "{ctx}"),
    }
    assert_eq!(d["repository"]["full_name"], "acme/demo", "{ctx}");
    assert_eq!(d["pusher"]["username"], "alice", "{ctx}");
    assert_eq!(d["pusher"]["name"], "Alice Example", "{ctx}");
}

fn check(r: &Request, e: &Expect, _mode: &str) {
    let ctx = format!("{} {}", r.path, e.refname);
    let binary = r.path.ends_with("-binary");
    let cdevents = r.path.starts_with("/cdevents");
    assert_eq!(
        r.header("Authorization"),
        Some(format!("Bearer {SECRET}").as_str()),
        "{ctx}"
    );
    // The attributes, from the body (structured) or the ce-* headers (binary).
    let (attributes, data) = if binary {
        assert_eq!(r.header("Content-Type"), Some("application/json"), "{ctx}");
        let a: serde_json::Map<String, Value> =
            ["specversion", "id", "source", "type", "subject", "time"]
                .iter()
                .map(|k| {
                    let v = r
                        .header(&format!("ce-{k}"))
                        .unwrap_or_else(|| panic!("{ctx}: ce-{k}"));
                    ((*k).to_owned(), Value::from(v))
                })
                .collect();
        (Value::Object(a), r.json())
    } else {
        assert_eq!(
            r.header("Content-Type"),
            Some("application/cloudevents+json; charset=utf-8"),
            "{ctx}"
        );
        let b = r.json();
        assert_eq!(b["datacontenttype"], "application/json", "{ctx}");
        (b.clone(), b["data"].clone())
    };
    assert_eq!(attributes["specversion"], "1.0", "{ctx}");
    assert_eq!(
        attributes["source"], "https://git.example.com/acme/demo",
        "{ctx}"
    );
    assert_eq!(attributes["subject"], e.refname.as_str(), "{ctx}");
    let id: uuid::Uuid = attributes["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    assert!(
        chrono::DateTime::parse_from_rfc3339(attributes["time"].as_str().expect("time")).is_ok(),
        "{ctx}"
    );
    if !cdevents {
        let kind = if e.tag {
            "dev.gitwebhook.tag_push"
        } else {
            "dev.gitwebhook.push"
        };
        assert_eq!(attributes["type"], kind, "{ctx}");
        assert_eq!(data["id"], id.to_string(), "{ctx}");
        return check_neutral(&data, e, &ctx);
    }
    let kind = match (e.tag, e.created(), e.deleted()) {
        (false, true, _) => "dev.cdevents.branch.created.0.3.0",
        (false, _, true) => "dev.cdevents.branch.deleted.0.3.0",
        (false, _, _) => "dev.cdevents.change.merged.0.3.0",
        (true, _, true) => "dev.cdeventsx.gitwebhook-tag.deleted.0.1.0",
        (true, _, _) => "dev.cdeventsx.gitwebhook-tag.created.0.1.0",
    };
    assert_eq!(attributes["type"], kind, "{ctx}");
    let c = &data["context"];
    assert_eq!(c["specversion"], "0.5.1", "{ctx}");
    assert_eq!(c["type"], kind, "{ctx}");
    assert_eq!(c["id"], id.to_string(), "{ctx}");
    assert_eq!(c["timestamp"], attributes["time"], "{ctx}");
    assert_eq!(
        data["subject"]["content"]["repository"]["id"], "acme/demo",
        "{ctx}"
    );
    assert_eq!(data["customDataContentType"], "application/json", "{ctx}");
    check_neutral(&data["customData"], e, &ctx);
}
