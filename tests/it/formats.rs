//! Every format, from real pushes: field by field and header by header, signatures recomputed here.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::support::*;

const SECRET: &str = "It's a Secret to Everybody";

/// One endpoint per format (and secret mode), each on its own path of one receiver.
const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("/gitlab", "gitlab", "password"),
    ("/gitee", "gitee", "password"),
    ("/gitee-sign", "gitee", "sign"),
    ("/atomgit", "atomgit", "password"),
    ("/gitcode", "gitcode", "password"),
    ("/gitcode-sign", "gitcode", "sign"),
    ("/github", "github", "password"),
];

fn setup() -> (Receiver, Server, Work) {
    let receiver = Receiver::start().expect("receiver");
    let mut config = String::from("[project]\nweb_url = \"https://git.example.com/acme/demo\"\n\n[users.alice]\nname = \"Alice Example\"\nemail = \"alice@example.com\"\nid = 4\n\n[users.ada]\nemail = \"ada@example.com\"\n");
    for (path, format, mode) in ENDPOINTS {
        config.push_str(&format!(
            "\n[[endpoint]]\nurl = \"{}\"\nformat = \"{format}\"\nsecret = \"{SECRET}\"\n",
            receiver.url(path)
        ));
        if *mode == "sign" {
            config.push_str("secret_mode = \"sign\"\n");
        }
    }
    let server = Server::new(&config);
    let work = server.clone_work();
    (receiver, server, work)
}

/// What one ref update should produce, worked out with git itself.
#[derive(Debug)]
struct Expect {
    refname: String,
    before: String,
    after: String,
    /// Newest 20 of the range, oldest first (for a tag: the peeled commit).
    commits: Vec<String>,
    total: usize,
    /// The commit `after` finally points at (`None` on delete).
    head: Option<String>,
    tag: bool,
    forced: bool,
}

impl Expect {
    fn created(&self) -> bool {
        self.before == ZERO
    }
    fn deleted(&self) -> bool {
        self.after == ZERO
    }
}

fn hmac256(key: &str, msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn commit_ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

fn check(path: &str, r: &Request, e: &Expect) {
    let b = r.json();
    let h = |n: &str| {
        r.header(n)
            .unwrap_or_else(|| panic!("{path}: no header {n}"))
            .to_owned()
    };
    let ctx = format!("{path} {}", e.refname);
    assert_eq!(b["ref"], e.refname.as_str(), "{ctx}");
    assert_eq!(b["before"], e.before.as_str(), "{ctx}");
    assert_eq!(b["after"], e.after.as_str(), "{ctx}");
    assert_eq!(h("Content-Type"), "application/json", "{ctx}");
    let event = if e.tag { "Tag Push Hook" } else { "Push Hook" };
    match path {
        "/gitlab" => {
            assert_eq!(h("X-Gitlab-Event"), event, "{ctx}");
            assert_eq!(h("X-Gitlab-Token"), SECRET, "{ctx}");
            assert_eq!(commit_ids(&b["commits"]), e.commits, "{ctx}");
            assert_eq!(b["total_commits_count"], e.total, "{ctx}");
            assert_eq!(b["checkout_sha"], json!(e.head), "{ctx}");
        }
        "/gitee" | "/gitee-sign" => {
            assert_eq!(h("User-Agent"), "git-oschina-hook", "{ctx}");
            assert_eq!(h("X-Gitee-Event"), event, "{ctx}");
            assert_eq!(h("X-Git-Oschina-Event"), event, "{ctx}");
            assert_eq!(h("X-Gitee-Ping"), "false", "{ctx}");
            let ts = h("X-Gitee-Timestamp");
            assert!(
                ts.len() == 13 && ts.bytes().all(|c| c.is_ascii_digit()),
                "{ctx}: {ts}"
            );
            assert_eq!(
                b["timestamp"],
                ts.as_str(),
                "{ctx}: body timestamp is the header's, as a string"
            );
            if path == "/gitee" {
                assert_eq!(h("X-Gitee-Token"), SECRET, "{ctx}");
                assert_eq!(
                    (b["password"].as_str(), b["sign"].as_str()),
                    (Some(SECRET), Some("")),
                    "{ctx}"
                );
            } else {
                use base64::Engine as _;
                let sig = base64::engine::general_purpose::STANDARD
                    .encode(hmac256(SECRET, format!("{ts}\n{SECRET}").as_bytes()));
                assert_eq!(h("X-Gitee-Token"), sig, "{ctx}");
                assert_eq!(
                    (b["password"].as_str(), b["sign"].as_str()),
                    (Some(""), Some(sig.as_str())),
                    "{ctx}"
                );
            }
            assert_eq!(commit_ids(&b["commits"]), e.commits, "{ctx}");
            assert_eq!(b["total_commits_count"], e.total, "{ctx}");
            assert_eq!(b["commits_more_than_ten"], e.total > 10, "{ctx}");
            assert_eq!(
                (b["created"].as_bool(), b["deleted"].as_bool()),
                (Some(e.created()), Some(e.deleted())),
                "{ctx}"
            );
            assert_eq!(
                b["head_commit"]["id"].as_str().map(str::to_owned),
                e.head,
                "{ctx}"
            );
            assert_eq!(
                b["hook_name"],
                if e.tag {
                    "tag_push_hooks"
                } else {
                    "push_hooks"
                },
                "{ctx}"
            );
            assert_eq!(
                b["compare"],
                format!(
                    "https://git.example.com/acme/demo/compare/{}...{}",
                    e.before, e.after
                ),
                "{ctx}"
            );
            assert_eq!(b["repository"], b["project"], "{ctx}");
            assert_eq!(b["repository"]["full_name"], "acme/demo", "{ctx}");
            assert!(
                b["hook_id"].is_u64()
                    && b["license"].is_null()
                    && b["repository"]["license"].is_null(),
                "{ctx}"
            );
            assert_eq!(b["sender"]["login"], "alice", "{ctx}");
        }
        "/atomgit" => {
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
        "/gitcode" | "/gitcode-sign" => {
            assert_eq!(h("User-Agent"), "git-gitcode-hook", "{ctx}");
            assert_eq!(h("X-GitCode-Event"), event, "{ctx}");
            let delivery: uuid::Uuid = h("X-GitCode-Delivery").parse().expect("uuid");
            assert_eq!(b["uuid"], delivery.to_string(), "{ctx}");
            if path == "/gitcode" {
                assert_eq!(h("X-GitCode-Token"), SECRET, "{ctx}");
            } else {
                assert_eq!(
                    h("X-GitCode-Signature-256"),
                    format!("sha256={}", hex(&hmac256(SECRET, &r.body))),
                    "{ctx}"
                );
                assert!(r.header("X-GitCode-Token").is_none(), "{ctx}");
            }
            assert_eq!(commit_ids(&b["commits"]), e.commits, "{ctx}");
            assert_eq!(b["total_commits_count"], e.total, "{ctx}");
            for c in b["commits"].as_array().expect("commits") {
                assert!(c["timestamp"].as_str().expect("ts").ends_with('Z'), "{ctx}");
                assert!(
                    c["url"].as_str().expect("url").contains("/commits/detail/"),
                    "{ctx}"
                );
            }
        }
        "/github" => {
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
        other => panic!("unexpected path {other}"),
    }
}

/// Pushes, then checks every request of that push at every endpoint against `expects` (one per ref).
/// `expects` runs after the push, so git can see the pushed objects.
fn push_and_check(
    receiver: &Receiver,
    work: &Work,
    args: &[&str],
    expects: impl FnOnce() -> Vec<Expect>,
) {
    let before = receiver.requests().len();
    work.push(args);
    let expects = expects();
    let wanted = ENDPOINTS.len() * expects.len();
    let got = receiver.wait_for(before + wanted, std::time::Duration::from_secs(20));
    let got = &got[before..];
    assert_eq!(got.len(), wanted, "requests for push {args:?}");
    for (path, _, _) in ENDPOINTS {
        let mine: Vec<&Request> = got.iter().filter(|r| r.path == *path).collect();
        assert_eq!(mine.len(), expects.len(), "{path} for push {args:?}");
        for e in &expects {
            let r = mine
                .iter()
                .find(|r| r.json()["ref"] == e.refname.as_str())
                .unwrap_or_else(|| panic!("{path}: no request for {}", e.refname));
            check(path, r, e);
        }
    }
}

fn range(server: &Server, new: &str, hide: &[String]) -> (Vec<String>, usize) {
    let mut args = vec![new.to_owned()];
    args.extend(hide.iter().map(|h| format!("^{h}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let all = server.rev_list(&args);
    (newest_oldest_first(&all, 20), all.len())
}

fn branch(
    server: &Server,
    name: &str,
    before: &str,
    after: &str,
    hide: &[String],
    forced: bool,
) -> Expect {
    let (commits, total) = if after == ZERO {
        (Vec::new(), 0)
    } else {
        range(server, after, hide)
    };
    Expect {
        refname: format!("refs/heads/{name}"),
        before: before.into(),
        after: after.into(),
        commits,
        total,
        head: (after != ZERO).then(|| after.to_owned()),
        tag: false,
        forced,
    }
}

fn tag(name: &str, before: &str, after: &str, peeled: Option<&str>) -> Expect {
    Expect {
        refname: format!("refs/tags/{name}"),
        before: before.into(),
        after: after.into(),
        commits: peeled.map(|p| vec![p.to_owned()]).unwrap_or_default(),
        total: usize::from(peeled.is_some()),
        head: peeled.map(str::to_owned),
        tag: true,
        forced: false,
    }
}

#[test]
fn every_format_through_the_core_scenarios() {
    let (receiver, server, work) = setup();
    // A new repository: 25 commits (newest 20 sent, total 25).
    let first = work.commits(25, "a");
    push_and_check(&receiver, &work, &["origin", "main"], || {
        vec![branch(&server, "main", ZERO, &first[24], &[], false)]
    });
    // Added, modified, removed and renamed files.
    work.write("a/0.txt", "changed\n");
    std::fs::remove_file(work.dir.join("a/1.txt")).expect("rm");
    work.git(&["mv", "a/2.txt", "a/two.txt"]);
    work.write("new.txt", "new\n");
    let files = work.commit("Change files");
    push_and_check(&receiver, &work, &["origin", "main"], || {
        vec![branch(
            &server,
            "main",
            &first[24],
            &files,
            &[first[24].clone()],
            false,
        )]
    });
    // A new branch with a commit, and one without.
    work.git(&["checkout", "-q", "-b", "topic"]);
    let topic = work.commits(1, "topic")[0].clone();
    push_and_check(&receiver, &work, &["origin", "topic"], || {
        vec![branch(
            &server,
            "topic",
            ZERO,
            &topic,
            std::slice::from_ref(&files),
            false,
        )]
    });
    work.git(&["branch", "empty", "main"]);
    push_and_check(&receiver, &work, &["origin", "empty"], || {
        vec![branch(
            &server,
            "empty",
            ZERO,
            &files,
            &[files.clone(), topic.clone()],
            false,
        )]
    });
    // A force push.
    work.git(&["reset", "-q", "--hard", "main"]);
    let rewritten = work.commits(2, "rewrite");
    push_and_check(&receiver, &work, &["--force", "origin", "topic"], || {
        vec![branch(
            &server,
            "topic",
            &topic,
            &rewritten[1],
            std::slice::from_ref(&topic),
            true,
        )]
    });
    // Lightweight and annotated tags.
    work.git(&["tag", "light", "main"]);
    push_and_check(&receiver, &work, &["origin", "light"], || {
        vec![tag("light", ZERO, &files, Some(&files))]
    });
    work.git(&["tag", "-a", "v1", "-m", "Release 1", "main"]);
    let tag_object = work.git(&["rev-parse", "v1"]);
    push_and_check(&receiver, &work, &["origin", "v1"], || {
        vec![tag("v1", ZERO, &tag_object, Some(&files))]
    });
    // Deleting a branch and a tag, in one push.
    push_and_check(
        &receiver,
        &work,
        &["origin", "--delete", "empty", "light"],
        || {
            vec![
                branch(&server, "empty", &files, ZERO, &[], false),
                tag("light", &files, ZERO, None),
            ]
        },
    );
    // A merge, pushed with two new branches in one push.
    work.git(&["checkout", "-q", "main"]);
    let merge = work.merge("topic", "Merge topic", None);
    work.git(&["branch", "b1"]);
    work.git(&["branch", "b2"]);
    let hide = vec![files.clone(), rewritten[1].clone(), tag_object.clone()];
    push_and_check(&receiver, &work, &["origin", "main", "b1", "b2"], || {
        vec![
            branch(&server, "b1", ZERO, &merge, &hide, false),
            branch(&server, "b2", ZERO, &merge, &hide, false),
            branch(
                &server,
                "main",
                &files,
                &merge,
                std::slice::from_ref(&files),
                false,
            ),
        ]
    });
}

#[test]
fn the_full_request_of_one_fixed_push_per_format() {
    let server = Server::new("");
    let work = server.clone_work();
    work.write("README.md", "hello\n");
    work.commit_at(
        "Add README\n\nCo-authored-by: Bea <bea@example.com>",
        "@1700000000 +0800",
        "@1699990000 +0800",
    );
    work.write("README.md", "hello again\n");
    let head = work.commit_at("Update README", "@1700000060 +0800", "@1700000060 +0800");
    work.push(&["origin", "main"]);
    let mut config = String::from("[project]\nweb_url = \"https://git.example.com/acme/demo\"\nid = 15\n\n[users.alice]\nname = \"Alice Example\"\nemail = \"alice@example.com\"\nid = 4\n");
    for (path, format, mode) in ENDPOINTS {
        config.push_str(&format!("\n[[endpoint]]\nurl = \"http://127.0.0.1:9{path}\"\nformat = \"{format}\"\nsecret = \"{SECRET}\"\nsecret_mode = \"{mode}\"\n"));
    }
    server.write_config(&config);
    let line = format!("{ZERO} {head} refs/heads/main\n");
    let envs = [
        ("GIT_WEBHOOK_SEED", "1"),
        ("GIT_WEBHOOK_NOW", "1700000100000"),
    ];
    let out = server.run_hook(&["post-receive", "--dry-run"], line.as_bytes(), &envs);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(!text.contains(SECRET), "secrets never print");
    let sections: Vec<&str> = text
        .split("# endpoint ")
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(sections.len(), ENDPOINTS.len());
    for ((path, _, _), section) in ENDPOINTS.iter().zip(sections) {
        insta::assert_snapshot!(format!("request{}", path.replace('/', "_")), section);
    }
}
