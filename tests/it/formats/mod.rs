//! Every format, from real pushes: field by field and header by header, signatures recomputed here.
//! The scenarios are shared; what each format must send is in its own file beside this one.

mod atomgit;
mod bitbucket_server;
mod cloudevents;
mod gitcode;
mod gitea;
mod gitee;
mod github;
mod gitlab;
mod gogs;
mod standard_webhooks;

use hmac::{Hmac, Mac};
use serde_json::Value;

use crate::support::*;

const SECRET: &str = "It's a Secret to Everybody";

fn setup() -> (Receiver, Server, Work) {
    let receiver = Receiver::start().expect("receiver");
    let mut config = String::from("[project]\nweb_url = \"https://git.example.com/acme/demo\"\n\n[users.alice]\nname = \"Alice Example\"\nemail = \"alice@example.com\"\nid = 4\n\n[users.ada]\nemail = \"ada@example.com\"\n");
    for (path, vendor, mode) in endpoints() {
        config.push_str(&format!(
            "\n[[endpoint]]\nurl = \"{}\"\nformat = \"{}\"\nsecret = \"{SECRET}\"\nsecret_mode = \"{mode}\"\n",
            receiver.url(&path),
            vendor.id
        ));
    }
    let server = Server::new(&config);
    let work = server.clone_work();
    (receiver, server, work)
}

/// What one ref update should produce, worked out with git itself.
#[derive(Debug)]
pub struct Expect {
    pub refname: String,
    pub before: String,
    pub after: String,
    /// Newest 20 of the range, oldest first (for a tag: the peeled commit).
    pub commits: Vec<String>,
    pub total: usize,
    /// The commit `after` finally points at (`None` on delete).
    pub head: Option<String>,
    pub tag: bool,
    pub forced: bool,
    /// For a created branch: `git rev-list --max-count=10 <after>`, newest first (what Gitea and
    /// Gogs list for a new branch, known or not).
    pub recent: Vec<String>,
    /// The first parent of the oldest of `recent`, if it has one.
    pub recent_base: Option<String>,
}

impl Expect {
    pub fn created(&self) -> bool {
        self.before == ZERO
    }
    pub fn deleted(&self) -> bool {
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

/// One format's checks: its id (as the registry names it), the secret modes to run it in, what
/// each request must hold beyond what every format shares, and how its requests map to ref updates.
pub struct Vendor {
    pub id: &'static str,
    pub modes: &'static [&'static str],
    pub check: fn(&Request, &Expect, &str),
    pub shape: Shape,
}

/// How a format's requests map to a push's ref updates.
pub struct Shape {
    /// One request for the whole push (each ref update then checks that request).
    pub per_push: bool,
    /// The full ref name a request is about.
    pub refname: fn(&Request) -> String,
    /// Which of the forge's events a request is (`push`, `create`, `delete`).
    pub kind: fn(&Request) -> String,
    /// The events one ref update makes, in order.
    pub requests: fn(&Expect) -> Vec<&'static str>,
}

/// One push request per ref update, naming its ref in the body's `ref`.
pub const PER_REF: Shape = Shape {
    per_push: false,
    refname: body_ref,
    kind: |_| "push".to_owned(),
    requests: |_| vec!["push"],
};

/// The body's `ref`.
pub fn body_ref(r: &Request) -> String {
    r.json()["ref"].as_str().unwrap_or_default().to_owned()
}

/// One line per format, as in the format registry; a test holds the two lists equal.
const VENDORS: &[Vendor] = &[
    gitlab::VENDOR,
    gitee::VENDOR,
    atomgit::VENDOR,
    gitcode::VENDOR,
    github::VENDOR,
    gitea::VENDOR,
    gitea::FORGEJO,
    gogs::VENDOR,
    bitbucket_server::VENDOR,
    cloudevents::STRUCTURED,
    cloudevents::BINARY,
    cloudevents::CDEVENTS,
    cloudevents::CDEVENTS_BINARY,
    standard_webhooks::VENDOR,
];

/// Each vendor's endpoints: a path per secret mode (`/gitee`, `/gitee-sign`), and its mode.
fn endpoints() -> Vec<(String, &'static Vendor, &'static str)> {
    VENDORS
        .iter()
        .flat_map(|v| {
            v.modes.iter().map(move |&mode| {
                let path = match mode {
                    "password" => format!("/{}", v.id),
                    _ => format!("/{}-{mode}", v.id),
                };
                (path, v, mode)
            })
        })
        .collect()
}

/// What every format's request has (ref, before, after, JSON), and the parts each check reads.
#[allow(clippy::type_complexity)]
fn basics<'r>(
    r: &'r Request,
    e: &Expect,
) -> (
    Value,
    Box<dyn Fn(&str) -> String + 'r>,
    String,
    &'static str,
) {
    let b = r.json();
    let ctx = format!("{} {}", r.path, e.refname);
    assert_eq!(b["ref"], e.refname.as_str(), "{ctx}");
    assert_eq!(b["before"], e.before.as_str(), "{ctx}");
    assert_eq!(b["after"], e.after.as_str(), "{ctx}");
    let path = r.path.clone();
    let h = Box::new(move |n: &str| {
        r.header(n)
            .unwrap_or_else(|| panic!("{path}: no header {n}"))
            .to_owned()
    });
    assert_eq!(h("Content-Type"), "application/json", "{ctx}");
    let event = if e.tag { "Tag Push Hook" } else { "Push Hook" };
    (b, h, ctx, event)
}

#[test]
fn every_registered_format_has_its_checks() {
    let registered: Vec<&str> = git_webhook::format::FORMATS
        .iter()
        .map(|f| f.id())
        .collect();
    let mut checked: Vec<&str> = VENDORS.iter().map(|v| v.id).collect();
    checked.extend(crate::custom::CHECKED);
    checked.extend(crate::chat::CHECKED);
    assert_eq!(
        checked, registered,
        "a format without checks, or checks without a format"
    );
}

/// Runs the check of the vendor whose endpoint got `r`.
fn check(r: &Request, e: &Expect) {
    let (_, vendor, mode) = endpoints()
        .into_iter()
        .find(|(path, _, _)| *path == r.path)
        .unwrap_or_else(|| panic!("unexpected path {}", r.path));
    (vendor.check)(r, e, mode);
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
    let endpoints = endpoints();
    let wanted: usize = endpoints
        .iter()
        .map(|(_, v, _)| match v.shape.per_push {
            true => 1,
            false => expects.iter().map(|e| (v.shape.requests)(e).len()).sum(),
        })
        .sum();
    let got = receiver.wait_for(before + wanted, std::time::Duration::from_secs(20));
    let got = &got[before..];
    assert_eq!(got.len(), wanted, "requests for push {args:?}");
    for (path, vendor, _) in &endpoints {
        let mine: Vec<&Request> = got.iter().filter(|r| r.path == *path).collect();
        if vendor.shape.per_push {
            assert_eq!(mine.len(), 1, "{path}: one request for push {args:?}");
            for e in &expects {
                check(mine[0], e);
            }
            continue;
        }
        for e in &expects {
            let for_ref: Vec<&&Request> = mine
                .iter()
                .filter(|r| (vendor.shape.refname)(r) == e.refname)
                .collect();
            let kinds: Vec<String> = for_ref.iter().map(|r| (vendor.shape.kind)(r)).collect();
            assert_eq!(kinds, (vendor.shape.requests)(e), "{path}: {}", e.refname);
            for r in for_ref {
                check(r, e);
            }
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
    let recent = if before == ZERO && after != ZERO {
        server.rev_list(&["--max-count=10", after])
    } else {
        Vec::new()
    };
    let recent_base = recent.last().and_then(|oldest| {
        let line = server.rev_list(&["--max-count=1", "--parents", oldest]);
        line.first()?.split(' ').nth(1).map(str::to_owned)
    });
    Expect {
        refname: format!("refs/heads/{name}"),
        before: before.into(),
        after: after.into(),
        commits,
        total,
        head: (after != ZERO).then(|| after.to_owned()),
        tag: false,
        forced,
        recent,
        recent_base,
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
        recent: Vec::new(),
        recent_base: None,
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
    let line = format!("{ZERO} {head} refs/heads/main\n");
    let envs = [
        ("GIT_WEBHOOK_SEED", "1"),
        ("GIT_WEBHOOK_NOW", "1700000100000"),
    ];
    // One run per endpoint, so each format's ids depend on nothing but its own request: adding a
    // format leaves the others' snapshots as they are.
    for (path, vendor, mode) in endpoints() {
        server.write_config(&format!("[project]\nweb_url = \"https://git.example.com/acme/demo\"\nid = 15\n\n[users.alice]\nname = \"Alice Example\"\nemail = \"alice@example.com\"\nid = 4\n\n[[endpoint]]\nurl = \"http://127.0.0.1:9{path}\"\nformat = \"{}\"\nsecret = \"{SECRET}\"\nsecret_mode = \"{mode}\"\n", vendor.id));
        let out = server.run_hook(&["post-receive", "--dry-run"], line.as_bytes(), &envs);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).expect("utf8");
        assert!(!text.contains(SECRET), "secrets never print");
        let section = text.strip_prefix("# endpoint ").expect("one request");
        insta::assert_snapshot!(format!("request{}", path.replace('/', "_")), section);
    }
}
