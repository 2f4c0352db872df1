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
    decoded(r.header("ce-subject").unwrap_or_default())
}

/// A `ce-*` header's value, percent-decoded as the HTTP binding says a receiver must.
fn decoded(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .expect("UTF-8")
        .into_owned()
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
                    ((*k).to_owned(), Value::from(decoded(v)))
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

/// A branch name with quotes, a percent sign and characters beyond ASCII: binary mode's `ce-subject`
/// is percent-encoded as the HTTP binding (3.1.3.2) requires (printable ASCII but space, `"` and `%`
/// kept), and decodes to the ref; the structured body keeps it as it is.
#[test]
fn binary_mode_percent_encodes_header_values() {
    let receiver = crate::support::Receiver::start().expect("receiver");
    let mut config =
        crate::support::config_in_format(&receiver.url("/binary"), "cloudevents-binary", "");
    config.push_str(&format!(
        "\n[[endpoint]]\nurl = \"{}\"\nformat = \"cdevents\"\n",
        receiver.url("/structured")
    ));
    let server = crate::support::Server::new(&config);
    let work = server.clone_work();
    work.commits(1, "a");
    let branch = "x/\"q\"-café-🎉-100%";
    work.push(&["origin", &format!("HEAD:refs/heads/{branch}")]);
    let got = crate::support::expect_requests(&receiver, 2);
    let binary = got.iter().find(|r| r.path == "/binary").expect("binary");
    let raw = binary.header("ce-subject").expect("ce-subject");
    assert_eq!(raw, "refs/heads/x/%22q%22-caf%C3%A9-%F0%9F%8E%89-100%25");
    assert_eq!(decoded(raw), format!("refs/heads/{branch}"));
    assert!(binary
        .header("ce-source")
        .is_some_and(|s| s == "https://git.example.com/acme/demo"));
    let structured = got
        .iter()
        .find(|r| r.path == "/structured")
        .expect("structured");
    assert_eq!(structured.json()["subject"], format!("refs/heads/{branch}"));
}

/// Resolves the CDEvents schemas' references (`links/embeddedlinksarray`) from the copies here.
struct Schemas;

impl jsonschema::Retrieve for Schemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let path = uri.path().as_str();
        let (version, rest) = path
            .trim_start_matches('/')
            .split_once("/schema/")
            .ok_or_else(|| format!("not a CDEvents schema: {uri}"))?;
        Ok(schema(version, rest))
    }
}

/// One of the published CDEvents schemas of `version` (`branchcreated`, `custom`, `links/...`).
fn schema(version: &str, name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/formats/schemas/cdevents")
        .join(version)
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("schema JSON")
}

/// The schema a CDEvent's type is defined by.
fn schema_for(version: &str, kind: &str) -> Value {
    let name = match kind {
        k if k.starts_with("dev.cdevents.branch.created.") => "branchcreated",
        k if k.starts_with("dev.cdevents.branch.deleted.") => "branchdeleted",
        k if k.starts_with("dev.cdevents.change.merged.") => "changemerged",
        k if k.starts_with("dev.cdeventsx.") => "custom",
        other => panic!("no CDEvents schema for {other}"),
    };
    schema(version, name)
}

/// What the `version` schema of `kind` finds wrong with `event`.
fn schema_errors(version: &str, kind: &str, event: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .with_retriever(Schemas)
        .should_validate_formats(true)
        .build(&schema_for(version, kind))
        .expect("schema");
    validator
        .iter_errors(event)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Each `cdevents_version` gives events its own release's schemas accept (formats checked too), in
/// both modes, for a branch created, updated and deleted and a tag created and deleted; and the
/// binary body is the CDEvent alone, as Flux's `cdevents` receiver reads it.
#[test]
fn cdevents_are_valid_against_each_versions_published_schemas() {
    let receiver = crate::support::Receiver::start().expect("receiver");
    let mut config = crate::support::config_in_format(&receiver.url("/0.5.1"), "cdevents", "");
    for (path, format, version) in [
        ("/0.5.1-binary", "cdevents-binary", "0.5.1"),
        ("/0.4.1", "cdevents", "0.4.1"),
        ("/0.4.1-binary", "cdevents-binary", "0.4.1"),
    ] {
        config.push_str(&format!(
            "\n[[endpoint]]\nurl = \"{}\"\nformat = \"{format}\"\ncdevents_version = \"{version}\"\n",
            receiver.url(path)
        ));
    }
    let server = crate::support::Server::new(&config);
    let work = server.clone_work();
    work.commits(2, "a");
    work.push(&["origin", "HEAD:refs/heads/main"]);
    work.commits(1, "b");
    work.push(&["origin", "HEAD:refs/heads/main"]);
    work.git(&["tag", "-a", "v1", "-m", "Release 1"]);
    work.push(&["origin", "v1"]);
    work.push(&["origin", "--delete", "v1"]);
    work.push(&["origin", "HEAD:refs/heads/topic"]);
    work.push(&["origin", "--delete", "topic"]);
    let got = crate::support::expect_requests(&receiver, 6 * 4);
    let mut kinds = std::collections::BTreeSet::new();
    for r in &got {
        let version = r.path.trim_start_matches('/').trim_end_matches("-binary");
        let event = if r.path.ends_with("-binary") {
            r.json()
        } else {
            r.json()["data"].clone()
        };
        let kind = event["context"]["type"].as_str().expect("type").to_owned();
        let errors = schema_errors(version, &kind, &event);
        assert!(errors.is_empty(), "{} {kind}: {errors:#?}", r.path);
        // The releases' schemas tell their events apart: neither is valid as the other.
        let other = if version == "0.4.1" { "0.5.1" } else { "0.4.1" };
        assert!(
            !schema_errors(other, &kind, &event).is_empty(),
            "{} as {other}",
            r.path
        );
        if r.path.ends_with("-binary") {
            assert_eq!(r.header("ce-type"), Some(kind.as_str()), "{}", r.path);
        }
        kinds.insert((version.to_owned(), kind));
    }
    let wanted: std::collections::BTreeSet<(String, String)> = [
        ("0.4.1", "dev.cdevents.branch.created.0.2.0"),
        ("0.4.1", "dev.cdevents.branch.deleted.0.2.0"),
        ("0.4.1", "dev.cdevents.change.merged.0.2.0"),
        ("0.4.1", "dev.cdeventsx.gitwebhook-tag.created.0.1.0"),
        ("0.4.1", "dev.cdeventsx.gitwebhook-tag.deleted.0.1.0"),
        ("0.5.1", "dev.cdevents.branch.created.0.3.0"),
        ("0.5.1", "dev.cdevents.branch.deleted.0.3.0"),
        ("0.5.1", "dev.cdevents.change.merged.0.3.0"),
        ("0.5.1", "dev.cdeventsx.gitwebhook-tag.created.0.1.0"),
        ("0.5.1", "dev.cdeventsx.gitwebhook-tag.deleted.0.1.0"),
    ]
    .into_iter()
    .map(|(v, k)| (v.to_owned(), k.to_owned()))
    .collect();
    assert_eq!(kinds, wanted);
}
