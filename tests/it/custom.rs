//! The `custom` format and its presets, from real pushes: each preset's request checked against what
//! its receiver's documentation says it parses, a snapshot of each, and the configuration's checks.

use std::collections::BTreeMap;

use hmac::Mac as _;

use crate::support::*;

const SECRET: &str = "s3cret-token";

/// The formats these tests check (the registry's `custom` formats).
pub const CHECKED: &[&str] = &[
    "custom",
    "jenkins",
    "gocd",
    "teamcity",
    "concourse",
    "azure-devops",
    "backstage",
    "deploy-hook",
];

/// The repository's http clone URL, as the project's `web_url` makes it.
const CLONE: &str = "https://git.example.com/acme/demo.git";

/// The path and the decoded query parameters of a request.
fn split(r: &Request) -> (String, BTreeMap<String, String>) {
    let url = url::Url::parse(&format!("http://x{}", r.path)).expect("request target");
    let query = url.query_pairs().into_owned().collect();
    (url.path().to_owned(), query)
}

fn hmac_sha1_hex(key: &str, body: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("key");
    m.update(body);
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One endpoint per preset at the path its receiver listens on, each with the secret.
fn presets_config(receiver: &Receiver) -> String {
    let mut config = config_in_format(
        &receiver.url("/git/notifyCommit"),
        "jenkins",
        &format!("secret = \"{SECRET}\"\n"),
    );
    for (path, format, secret) in [
        ("/go/api/admin/materials/git/notify", "gocd", true),
        (
            "/app/rest/vcs-root-instances/commitHookNotification",
            "teamcity",
            true,
        ),
        (
            "/api/v1/teams/main/pipelines/app/resources/repo/check/webhook",
            "concourse",
            true,
        ),
        (
            "/acme/_apis/public/distributedtask/webhooks/push?api-version=6.0-preview",
            "azure-devops",
            true,
        ),
        ("/api/events/http/git", "backstage", false),
        (
            "/build_hooks/5c23354f454e1350f8543e78",
            "deploy-hook",
            false,
        ),
    ] {
        let secret = if secret {
            format!("secret = \"{SECRET}\"\n")
        } else {
            String::new()
        };
        config.push_str(&format!(
            "\n[[endpoint]]\nurl = \"{}\"\nformat = \"{format}\"\n{secret}",
            receiver.url(path)
        ));
    }
    config
}

/// Each preset's request for a branch update, a new annotated tag and a deleted branch: the
/// parameters, headers and body its receiver's documentation names.
#[test]
fn each_preset_sends_what_its_receiver_parses() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&presets_config(&receiver));
    let work = server.clone_work();
    let head = work.commits(2, "a")[1].clone();
    work.push(&["origin", "HEAD:refs/heads/main"]);
    let got = expect_requests(&receiver, 7);
    let by = |prefix: &str| {
        got.iter()
            .find(|r| r.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("no request to {prefix}"))
    };

    // Jenkins' git plugin: GET /git/notifyCommit?url=<repository URL>&branches=<b>&sha1=<commit>&token=.
    let r = by("/git/notifyCommit");
    assert_eq!(r.method, "GET");
    let (_, q) = split(r);
    let wanted: BTreeMap<String, String> = [
        ("url", CLONE),
        ("branches", "main"),
        ("sha1", head.as_str()),
        ("token", SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(q, wanted);
    assert!(r.body.is_empty());

    // GoCD: POST {"repository_url": ...}, JSON, with an access token and Confirm: true.
    let r = by("/go/api/admin/materials/git/notify");
    assert_eq!(r.method, "POST");
    assert_eq!(r.json(), serde_json::json!({ "repository_url": CLONE }));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("Confirm"), Some("true"));
    assert_eq!(r.header("Accept"), Some("application/vnd.go.cd+json"));
    assert_eq!(
        r.header("Authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );

    // TeamCity: POST commitHookNotification?locator=... naming the git VCS roots of this URL.
    let r = by("/app/rest/vcs-root-instances/commitHookNotification");
    assert_eq!(r.method, "POST");
    let (_, q) = split(r);
    assert_eq!(
        q.get("locator").map(String::as_str),
        Some(format!("vcsRoot:(type:jetbrains.git,count:99999),property:(name:url,value:{CLONE},matchType:contains,ignoreCase:true),count:99999").as_str())
    );
    assert_eq!(
        r.header("Authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert!(r.body.is_empty());

    // Concourse: POST .../check/webhook?webhook_token=<token>.
    let r = by("/api/v1/teams/main/pipelines/app/resources/repo/check/webhook");
    assert_eq!(r.method, "POST");
    let (_, q) = split(r);
    assert_eq!(q.get("webhook_token").map(String::as_str), Some(SECRET));
    assert_eq!(q.len(), 1);

    // Azure DevOps incoming webhook: the JSON payload, X-Hub-Signature: sha1=<HMAC-SHA1 of the body>.
    let r = by("/acme/_apis/public/distributedtask/webhooks/push");
    assert_eq!(
        split(r).1.get("api-version").map(String::as_str),
        Some("6.0-preview")
    );
    assert_eq!(
        r.header("X-Hub-Signature"),
        Some(format!("sha1={}", hmac_sha1_hex(SECRET, &r.body)).as_str())
    );
    let event = r.json();
    assert_eq!(event["schema"], "git-webhook.push/1");
    assert_eq!(event["ref"], "refs/heads/main");
    assert_eq!(event["after"], head.as_str());
    assert!(!String::from_utf8_lossy(&r.body).contains(SECRET));

    // Backstage's HTTP ingress: the topic in the path, the event as the JSON body.
    let r = by("/api/events/http/git");
    assert_eq!(r.json()["ref"], "refs/heads/main");
    assert_eq!(r.header("Authorization"), None);

    // A Netlify build hook: POST with trigger_branch and trigger_title, body {}.
    let r = by("/build_hooks/5c23354f454e1350f8543e78");
    assert_eq!(r.method, "POST");
    let (_, q) = split(r);
    assert_eq!(q.get("trigger_branch").map(String::as_str), Some("main"));
    assert!(q["trigger_title"].contains("main"), "{q:?}");
    assert_eq!(r.body, b"{}");

    // A new annotated tag: Jenkins is told the tagged commit and no branch; a deleted branch, only
    // the repository (it polls).
    work.git(&["tag", "-a", "v1", "-m", "Release 1"]);
    work.git(&["push", "-q", "origin", "v1", "HEAD:refs/heads/gone"]);
    work.push(&["origin", "--delete", "gone"]);
    let all = receiver.wait_for(7 * 4, std::time::Duration::from_secs(20));
    let jenkins: Vec<BTreeMap<String, String>> = all
        .iter()
        .filter(|r| r.path.starts_with("/git/notifyCommit"))
        .map(|r| split(r).1)
        .collect();
    assert_eq!(jenkins.len(), 4);
    let tag = jenkins
        .iter()
        .find(|q| !q.contains_key("branches") && q.contains_key("sha1"))
        .expect("the tag's request");
    assert_eq!(tag["sha1"], head);
    let deleted = jenkins
        .iter()
        .filter(|q| q.keys().map(String::as_str).collect::<Vec<_>>() == ["token", "url"])
        .count();
    assert_eq!(deleted, 1, "{jenkins:#?}");
}

/// `custom`: the method, the query and a form body from templates, values encoded where they go,
/// and a Base64 HMAC-SHA256 signature of the body as sent.
#[test]
fn custom_requests_come_from_their_templates() {
    let receiver = Receiver::start().expect("receiver");
    let extra = format!(
        "method = \"PUT\"\nquery = {{ ref = \"{{{{ ref.full }}}}\", empty = \"{{{{ tag.title }}}}\" }}\n\
         content_type = \"application/x-www-form-urlencoded\"\n\
         body = \"who={{{{ pusher.name }}}}&n={{{{ total_commits }}}}&title={{{{ commits[0].title if commits else '' }}}}\"\n\
         signature_header = \"X-Signature\"\nsignature = \"hmac-sha256-base64\"\nsecret = \"{SECRET}\"\n"
    );
    let server = Server::new(&config_in_format(&receiver.url("/hook"), "custom", &extra));
    let work = server.clone_work();
    work.commits(1, "a");
    work.write("t.txt", "x");
    work.commit("Fix & \"quote\" = 100%");
    work.push_env(
        &["origin", "HEAD:refs/heads/x/é"],
        &[("GL_USERNAME", "alice")],
    );
    let got = expect_requests(&receiver, 1);
    let r = &got[0];
    assert_eq!(r.method, "PUT");
    let (path, q) = split(r);
    assert_eq!(path, "/hook");
    assert_eq!(q.get("ref").map(String::as_str), Some("refs/heads/x/é"));
    assert!(!q.contains_key("empty"), "an empty parameter is left out");
    assert_eq!(
        r.header("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: BTreeMap<String, String> =
        url::form_urlencoded::parse(&r.body).into_owned().collect();
    assert_eq!(form["who"], "Alice Example");
    assert_eq!(form["n"], "2");
    assert_eq!(form["title"], "Fix & \"quote\" = 100%");
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    m.update(&r.body);
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes());
    assert_eq!(r.header("X-Signature"), Some(sig.as_str()));
}

/// What dry-run shows of each preset's request for one fixed push: the same every run, the secret
/// masked wherever it goes.
#[test]
fn the_request_of_each_preset() {
    let server = Server::new("");
    let work = server.clone_work();
    work.write("README.md", "hello\n");
    let head = work.commit_at("Add README", "@1700000000 +0800", "@1700000000 +0800");
    work.push(&["origin", "main"]);
    let line = format!("{ZERO} {head} refs/heads/main\n");
    let envs = [
        ("GIT_WEBHOOK_SEED", "1"),
        ("GIT_WEBHOOK_NOW", "1700000100000"),
        ("GL_USERNAME", "alice"),
    ];
    for format in CHECKED {
        server.write_config(&format!(
            "[project]\nweb_url = \"https://git.example.com/acme/demo\"\nid = 15\n\n[[endpoint]]\n\
             url = \"https://ci.example.com/{format}\"\nformat = \"{format}\"\n{}",
            match *format {
                "backstage" | "deploy-hook" => String::new(),
                "custom" => format!("secret_header = \"X-Token\"\nsecret = \"{SECRET}\"\n"),
                _ => format!("secret = \"{SECRET}\"\n"),
            }
        ));
        let out = server.run_hook(&["post-receive", "--dry-run"], line.as_bytes(), &envs);
        let text = String::from_utf8(out.stdout).expect("utf8");
        assert!(out.status.success(), "{format}: {text}");
        assert!(!text.contains(SECRET), "{format}: secrets never print");
        let section = text.strip_prefix("# endpoint ").expect("one request");
        insta::assert_snapshot!(format!("custom_{format}"), section);
    }
}

/// `config check` names the key and line of what is wrong with a `custom` endpoint.
#[test]
fn config_check_names_what_is_wrong_with_a_custom_endpoint() {
    let cases = [
        (
            "format = \"custom\"\nsecret = \"x\"\n",
            "endpoint: format \"custom\" sends the secret nowhere: give secret_query, secret_header or signature_header",
        ),
        (
            "format = \"custom\"\nsecret_query = \"t\"\nsecret_header = \"X-T\"\n",
            ":5:17: endpoint.secret_header: give one of secret_query, secret_header and signature_header",
        ),
        (
            "format = \"custom\"\nmethod = \"DELETE\"\n",
            ":4:10: endpoint.method: unknown method \"DELETE\"; known: \"POST\", \"PUT\", \"GET\"",
        ),
        (
            "format = \"azure-devops\"\nsignature = \"md5\"\n",
            ":4:13: endpoint.signature: unknown signature \"md5\"; known: \"hmac-sha256-hex\", \"hmac-sha256-base64\", \"hmac-sha1-hex\", \"hmac-sha1-base64\"",
        ),
        (
            "format = \"gitlab\"\nquery = { a = \"b\" }\n",
            ":4:9: endpoint.query: format \"gitlab\" has no query",
        ),
        (
            "format = \"custom\"\nbody = \"{{ ref.name | nosuch }}\"\n",
            "endpoint: body: line 1: unknown filter",
        ),
        (
            "format = \"jenkins\"\nsecret_prefix = \"Bearer \"\n",
            ":4:17: endpoint.secret_prefix: secret_prefix goes with secret_header",
        ),
    ];
    for (keys, wanted) in cases {
        let server = Server::new(&format!(
            "[[endpoint]]\nurl = \"https://ci.example.com/x\"\n{keys}"
        ));
        let out = server.run_hook(&["config", "check"], b"", &[]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(wanted),
            "{keys}: wanted {wanted:?} in\n{text}"
        );
    }
}
