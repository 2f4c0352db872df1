//! The gitlab format, field by field and header by header, from real pushes.

use serde_json::{json, Value};

use crate::support::*;

fn setup(extra: &str) -> (Receiver, Server, Work) {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&config_for(&receiver.url("/hook"), extra));
    let work = server.clone_work();
    (receiver, server, work)
}

#[test]
fn a_push_has_gitlabs_keys_in_gitlabs_order_and_values() {
    let (receiver, _server, work) = setup("secret = \"tok\\nen\"");
    work.write("README.md", "hi\n");
    let id = work.commit_at(
        "Add README\n\nWith a body.",
        "@1700000000 +0200",
        "@1690000000 -0500",
    );
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 1);
    let body = got[0].json();
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "object_kind",
            "event_name",
            "before",
            "after",
            "ref",
            "ref_protected",
            "checkout_sha",
            "message",
            "user_id",
            "user_name",
            "user_username",
            "user_email",
            "user_avatar",
            "project_id",
            "project",
            "commits",
            "total_commits_count",
            "push_options",
            "repository"
        ]
    );
    let project = json!({
        "id": body["project_id"], "name": "demo", "description": "", "web_url": "https://git.example.com/acme/demo", "avatar_url": null,
        "git_ssh_url": "git@git.example.com:acme/demo.git", "git_http_url": "https://git.example.com/acme/demo.git", "namespace": "acme",
        "visibility_level": 0, "path_with_namespace": "acme/demo", "default_branch": "main", "ci_config_path": null,
        "homepage": "https://git.example.com/acme/demo", "url": "git@git.example.com:acme/demo.git",
        "ssh_url": "git@git.example.com:acme/demo.git", "http_url": "https://git.example.com/acme/demo.git"
    });
    let expected = json!({
        "object_kind": "push", "event_name": "push", "before": ZERO, "after": id, "ref": "refs/heads/main", "ref_protected": false,
        "checkout_sha": id, "message": null, "user_id": 4, "user_name": "Alice Example", "user_username": "alice",
        "user_email": "alice@example.com", "user_avatar": null, "project_id": body["project_id"], "project": project,
        "commits": [{
            "id": id, "message": "Add README\n\nWith a body.\n", "title": "Add README", "timestamp": "2023-11-15T00:13:20+02:00",
            "url": format!("https://git.example.com/acme/demo/-/commit/{id}"),
            "author": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "added": ["README.md"], "modified": [], "removed": []
        }],
        "total_commits_count": 1, "push_options": {},
        "repository": {
            "name": "demo", "url": "git@git.example.com:acme/demo.git", "description": "", "homepage": "https://git.example.com/acme/demo",
            "git_http_url": "https://git.example.com/acme/demo.git", "git_ssh_url": "git@git.example.com:acme/demo.git", "visibility_level": 0
        }
    });
    assert_eq!(body, expected);
    let project_keys: Vec<&str> = body["project"]
        .as_object()
        .expect("project")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        project_keys,
        project
            .as_object()
            .expect("p")
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    let commit_keys: Vec<&str> = body["commits"][0]
        .as_object()
        .expect("c")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        commit_keys,
        [
            "id",
            "message",
            "title",
            "timestamp",
            "url",
            "author",
            "added",
            "modified",
            "removed"
        ]
    );
    let raw = String::from_utf8(got[0].body.clone()).expect("utf8");
    assert!(!raw.contains(": ") && !raw.contains('\n'), "compact JSON");
}

#[test]
fn headers_are_gitlabs_in_gitlabs_order() {
    let (receiver, _server, work) = setup("secret = \"tok\\nen\"");
    work.commits(1, "a");
    work.push(&["origin", "main"]);
    work.commits(1, "b");
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 2);
    let names: Vec<&str> = got[0].headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..8],
        [
            "Content-Type",
            "User-Agent",
            "Idempotency-Key",
            "X-Gitlab-Event",
            "X-Gitlab-Webhook-Uuid",
            "X-Gitlab-Instance",
            "X-Gitlab-Token",
            "X-Gitlab-Event-Uuid"
        ]
    );
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert!(r.header("User-Agent").expect("ua").starts_with("GitLab/"));
    assert_eq!(r.header("X-Gitlab-Event"), Some("Push Hook"));
    assert_eq!(
        r.header("X-Gitlab-Instance"),
        Some("https://git.example.com")
    );
    assert_eq!(
        r.header("X-Gitlab-Token"),
        Some("token"),
        "line breaks are removed from the token"
    );
    let uuids: Vec<uuid::Uuid> = [
        "Idempotency-Key",
        "X-Gitlab-Webhook-UUID",
        "X-Gitlab-Event-UUID",
    ]
    .iter()
    .map(|h| r.header(h).expect(h).parse().expect("uuid"))
    .collect();
    assert!(uuids.iter().all(|u| u.get_version_num() == 4));
    assert_ne!(uuids[0], uuids[1]);
    assert_ne!(
        got[1].header("Idempotency-Key"),
        r.header("Idempotency-Key"),
        "one idempotency key per event"
    );
}

#[test]
fn file_lists_follow_the_first_parent_diff_with_renames() {
    let (receiver, _server, work) = setup("");
    work.write("keep.txt", "keep\n");
    work.write("change.txt", "v1\n");
    work.write("drop.txt", "drop\n");
    work.write(
        "old-name.txt",
        "a fairly long file that will be renamed\nwith several lines\nof content\n",
    );
    work.commit("Initial");
    work.write("change.txt", "v2\n");
    std::fs::remove_file(work.dir.join("drop.txt")).expect("rm");
    work.git(&["mv", "old-name.txt", "new-name.txt"]);
    work.write("brand-new.txt", "new\n");
    work.commit("Change things");
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 1);
    let commits = got[0].json()["commits"].clone();
    assert_eq!(
        commits[0]["added"],
        json!(["change.txt", "drop.txt", "keep.txt", "old-name.txt"])
    );
    assert_eq!(
        commits[1]["added"],
        json!(["brand-new.txt", "new-name.txt"])
    );
    assert_eq!(commits[1]["modified"], json!(["change.txt"]));
    assert_eq!(commits[1]["removed"], json!(["drop.txt"]));
}

#[test]
fn lightweight_and_annotated_tags() {
    let (receiver, _server, work) = setup("");
    let head = work.commits(2, "a")[1].clone();
    work.push(&["origin", "main"]);
    work.git(&["tag", "light"]);
    work.push(&["origin", "light"]);
    let out = git_cmd(&work.dir)
        .args(["tag", "-a", "v1.0", "-m", "Release 1.0\n\nNotes."])
        .env("GIT_COMMITTER_DATE", "@1700000000 +0200")
        .output()
        .expect("tag");
    assert!(out.status.success());
    let tag_object = work.git(&["rev-parse", "v1.0"]);
    work.push(&["origin", "v1.0"]);
    let got = expect_requests(&receiver, 3);
    for (r, after, message) in [
        (&got[1], head.as_str(), ""),
        (&got[2], tag_object.as_str(), "Release 1.0\n\nNotes.\n"),
    ] {
        let body = r.json();
        assert_eq!(r.header("X-Gitlab-Event"), Some("Tag Push Hook"));
        assert_eq!(body["object_kind"], "tag_push");
        assert_eq!(body["event_name"], "tag_push");
        assert_eq!(body["before"], ZERO);
        assert_eq!(body["after"], after);
        assert_eq!(body["checkout_sha"], head.as_str());
        assert_eq!(body["message"], message);
        assert_eq!(crate::support::ids(&body), std::slice::from_ref(&head));
        assert_eq!(body["total_commits_count"], 1);
    }
    assert_ne!(tag_object, head);
}

#[test]
fn latin1_messages_are_decoded_with_and_without_an_encoding_header() {
    let (receiver, _server, work) = setup("");
    // With the header: git records `encoding ISO-8859-1` and stores the bytes as given.
    let msg = work.dir.join("msg.txt");
    std::fs::write(&msg, b"Caf\xe9 cr\xe8me\n").expect("write");
    for extra in [vec!["-c", "i18n.commitEncoding=ISO-8859-1"], vec![]] {
        let mut args = extra.clone();
        args.extend([
            "commit",
            "-q",
            "--allow-empty",
            "--cleanup=verbatim",
            "-F",
            msg.to_str().expect("path"),
        ]);
        let out = git_cmd(&work.dir).args(&args).output().expect("commit");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let raw = work.git(&["cat-file", "commit", "HEAD~1"]);
    assert!(raw.contains("encoding ISO-8859-1"), "{raw}");
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 1);
    let body = got[0].json();
    for c in body["commits"].as_array().expect("commits") {
        assert_eq!(c["message"], "Café crème\n");
        assert_eq!(c["title"], "Café crème");
    }
    assert!(
        String::from_utf8(got[0].body.clone())
            .expect("utf8")
            .contains("Café"),
        "raw UTF-8, not \\u escapes"
    );
}

#[test]
fn long_titles_are_cut_like_gitlab_and_timestamps_keep_the_committer_offset() {
    let (receiver, _server, work) = setup("");
    let long = format!("{} tail", "word ".repeat(22).trim_end());
    work.commit_at(&long, "@1700000000 -0330", "@1600000000 +0900");
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 1);
    let c = &got[0].json()["commits"][0];
    assert_eq!(c["title"], format!("{}...", "word ".repeat(15).trim_end()));
    assert_eq!(c["timestamp"], "2023-11-14T18:43:20-03:30");
}

#[test]
fn pusher_identity_and_push_options() {
    let (receiver, server, work) = setup("");
    git(
        &server.bare,
        &["config", "receive.advertisePushOptions", "true"],
    );
    work.commits(1, "a");
    work.push_env(
        &[
            "-o",
            "merge_request.create",
            "-o",
            "ci.variable=A=1",
            "origin",
            "main",
        ],
        &[("GL_USERNAME", "bob")],
    );
    let body = expect_requests(&receiver, 1)[0].json();
    assert_eq!(body["user_username"], "bob");
    assert_eq!(
        body["user_name"], "bob",
        "an unmapped login is its own name"
    );
    assert_eq!(body["user_email"], "");
    assert_eq!(
        body["push_options"],
        json!({"merge_request": {"create": true}, "ci": {"variable": "A=1"}})
    );
    // `-o ci.skip` and `-o webhook.skip` skip the webhooks of that push.
    for skip in ["ci.skip", "webhook.skip"] {
        work.commits(1, skip);
        let stderr = work.push(&["-o", skip, "origin", "main"]);
        assert!(
            stderr.contains(&format!(
                "git-webhook: push option {skip}: no webhooks for this push"
            )),
            "{stderr}"
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        receiver.requests().len(),
        1,
        "nothing sent for the skipped pushes"
    );
}

#[test]
fn basic_auth_from_the_url_and_masked_in_messages() {
    let receiver = Receiver::start().expect("receiver");
    let url = receiver
        .url("/hook")
        .replace("http://", "http://user%40corp:p%40ss@");
    let server = Server::new(&config_for(&url, ""));
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    let r = &expect_requests(&receiver, 1)[0];
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode("user@corp:p@ss");
    assert_eq!(
        r.header("Authorization"),
        Some(format!("Basic {expected}").as_str())
    );
    assert!(stderr.contains("http://*****:*****@127.0.0.1:"), "{stderr}");
    assert!(
        !stderr.contains("p%40ss") && !stderr.contains("p@ss"),
        "{stderr}"
    );
    let _: Value = r.json();
}
