//! What each chat format posts for every kind of push: wording, escaping, cutting, templates.

use super::*;

/// A commit title that tries every vendor's links, mentions and markup.
const HOSTILE: &str = "Fix <@U123> @everyone [click](http://evil.example) <b>bold</b> <at id=all></at> *star* 😀 see https://bare.example/x or www.bare.example \u{202E}gpj.exe";

/// Pushes every kind of event to one endpoint of each chat format and returns, per push, the
/// requests in the order they came.
fn every_scenario() -> (Vec<(String, Vec<Request>)>, Server) {
    let receiver = vendors();
    let formats = [
        "slack", "discord", "teams", "dingtalk", "feishu", "wecom", "telegram",
    ];
    let endpoints: String = formats
        .iter()
        .map(|f| endpoint(&receiver, f, "rate_limit = \"off\"\n"))
        .collect();
    let server = Server::new(&config(&endpoints));
    let work = server.clone_work();
    let mut pushes = Vec::new();
    let mut push = |what: &str, args: &[&str]| {
        let before = receiver.requests().len();
        work.push(args);
        let got = expect_requests(&receiver, before + formats.len());
        pushes.push((what.to_owned(), got[before..].to_vec()));
    };
    work.commits(1, "start");
    push("first push", &["origin", "main"]);
    work.commits(22, "base");
    work.write("hostile.txt", "x");
    work.commit(HOSTILE);
    work.write("long.txt", "x");
    work.commit(&"A very long title ".repeat(40));
    work.write("last.txt", "x");
    work.commit("Last change of the first push");
    push("25 commits", &["origin", "main"]);
    work.git(&["checkout", "-q", "-b", "feature/login"]);
    work.commits(1, "feature");
    push("new branch with 1 commit", &["origin", "feature/login"]);
    work.git(&["reset", "-q", "--hard", "HEAD~1"]);
    work.commits(2, "rework");
    push("force push", &["-f", "origin", "feature/login"]);
    work.git(&[
        "tag",
        "-a",
        "v1.0",
        "-m",
        "Release 1.0\n\nThe notes.",
        "main",
    ]);
    push("new annotated tag", &["origin", "v1.0"]);
    push("deleted tag", &["origin", ":refs/tags/v1.0"]);
    push("deleted branch", &["origin", ":feature/login"]);
    (pushes, server)
}

#[test]
fn every_push_gives_each_vendor_its_message_signed_escaped_and_accepted() {
    let (pushes, server) = every_scenario();
    let mut shown = String::new();
    for (what, requests) in &pushes {
        shown.push_str(&format!("## {what}\n"));
        // The endpoints are sent to in parallel: shown in a fixed order.
        let mut requests: Vec<&Request> = requests.iter().collect();
        requests.sort_by_key(|r| vendor_of(r));
        for r in requests {
            assert_eq!(vendor_problem(r), None, "{what}: {}", r.path);
            shown.push_str(&format!("### {}\n{}\n", vendor_of(r), text_of(r)));
        }
    }
    insta::assert_snapshot!("chat_messages", shown);

    let find = |what: &str| &pushes.iter().find(|(w, _)| w == what).expect("push").1;
    for r in find("25 commits") {
        let text = text_of(r);
        let vendor = vendor_of(r);
        // Who pushed what where, the newest 5 commits, and how many more.
        assert!(text.contains("pushed"), "{vendor}: {text}");
        assert!(text.contains("25 commits"), "{vendor}: {text}");
        assert!(
            text.contains("to ") && text.contains("main"),
            "{vendor}: {text}"
        );
        assert!(text.contains("and 20 more"), "{vendor}: {text}");
        assert!(text.contains("Last change of the first push"), "{vendor}");
        // Nothing of the hostile title is a link, a mention or markup.
        assert!(
            !text.contains("@everyone"),
            "{vendor}: a mention got through"
        );
        assert!(!text.contains("<@U123>"), "{vendor}");
        // (Telegram reads HTML: there `[x](y)` is text, and a link would be an `href`.)
        let markdown_link = vendor != "telegram" && text.contains("](http://evil");
        assert!(!markdown_link, "{vendor}: a link got through");
        assert!(!text.contains("href=\"http://evil"), "{vendor}");
        assert!(!text.contains("<http://evil"), "{vendor}");
        assert!(!text.contains("<b>bold"), "{vendor}");
        assert!(!text.contains("<at id=all>"), "{vendor}");
        // Bare URLs and host names a pusher writes are no links either, and nothing reorders text.
        assert!(!text.contains("https://bare"), "{vendor}: {text}");
        assert!(!text.contains("www.bare.example"), "{vendor}: {text}");
        assert!(text.contains("bare.\u{2060}example"), "{vendor}: {text}");
        assert!(
            !text.contains('\u{202E}'),
            "{vendor}: a bidi control got through"
        );
        assert!(text.contains('😀'), "{vendor}: emoji kept");
        // A long title ends in an ellipsis within 150 characters.
        assert!(text.contains("A very long title A very"), "{vendor}");
        assert!(!text.contains(&"A very long title ".repeat(9)), "{vendor}");
    }
    let wording = [
        ("first push", "created branch"),
        ("new branch with 1 commit", "created branch"),
        ("force push", "force-pushed"),
        ("new annotated tag", "tagged"),
        ("deleted tag", "deleted tag"),
        ("deleted branch", "deleted branch"),
    ];
    for (what, words) in wording {
        for r in find(what) {
            assert!(
                text_of(r).contains(words),
                "{what} {}: {}",
                vendor_of(r),
                text_of(r)
            );
        }
    }
    let tag = find("new annotated tag");
    assert!(tag.iter().all(|r| text_of(r).contains("Release 1.0")));
    assert!(tag.iter().all(|r| !text_of(r).contains("The notes")));

    // No credential of a chat URL, no secret, in the spool or the log.
    let spool = server.bare.join("webhook");
    let mut stored = String::new();
    for entry in walk(&spool) {
        stored.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry).unwrap_or_default(),
        ));
    }
    assert!(!stored.is_empty());
    for secret in [
        "slacktoken",
        "discordtoken",
        "teamssig",
        "dingtoken",
        "feishuhook",
        "wecomkey",
        TELEGRAM_TOKEN,
        DINGTALK_SECRET,
        FEISHU_SECRET,
    ] {
        assert!(!stored.contains(secret), "{secret} is in the spool");
    }
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

/// The one-line titles DingTalk and Feishu show in notifications carry the branch name guarded as
/// the message is: no mention, no link, no bidirectional control.
#[test]
fn notification_titles_make_no_mention_or_link() {
    let receiver = vendors();
    let endpoints: String = ["dingtalk", "feishu"]
        .iter()
        .map(|f| endpoint(&receiver, f, "rate_limit = \"off\"\n"))
        .collect();
    let server = Server::new(&config(&endpoints));
    let work = server.clone_work();
    work.commits(1, "start");
    let branch = "fix@all/www.evil.example\u{2067}x";
    work.push(&["origin", &format!("HEAD:refs/heads/{branch}")]);
    let got = expect_requests(&receiver, 2);
    for r in &got {
        let b = r.json();
        let title = match vendor_of(r) {
            "dingtalk" => b["markdown"]["title"].clone(),
            _ => b["card"]["header"]["title"]["content"].clone(),
        };
        let title = title
            .as_str()
            .unwrap_or_else(|| panic!("{}: no title", r.path));
        assert_eq!(
            title,
            "acme/demo fix@\u{2060}all/www.\u{2060}evil.\u{2060}examplex",
            "{}",
            vendor_of(r)
        );
    }
}

#[test]
fn dry_run_shows_chat_requests_without_their_credentials() {
    let receiver = vendors();
    let endpoints: String = ["dingtalk", "feishu", "telegram", "slack"]
        .iter()
        .map(|f| endpoint(&receiver, f, ""))
        .collect();
    let server = Server::new(&config(&endpoints));
    let work = server.clone_work();
    let head = work.commit("One change");
    work.push(&["origin", "main"]);
    let stdin = format!("{} {head} refs/heads/main\n", "0".repeat(40));
    let out = server.run_hook(&["post-receive", "--dry-run"], stdin.as_bytes(), &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("POST http://127.0.0.1").count(), 4, "{text}");
    for secret in [
        "dingtoken",
        "feishuhook",
        "slacktoken",
        TELEGRAM_TOKEN,
        DINGTALK_SECRET,
        FEISHU_SECRET,
    ] {
        assert!(!text.contains(secret), "{secret} shown:\n{text}");
    }
    assert!(text.contains("/[REDACTED]?timestamp="), "{text}");
    assert!(text.contains("&sign=[REDACTED]"), "{text}");
    assert!(text.contains("\"sign\": \"[REDACTED]\""), "{text}");
}

#[test]
fn messages_are_cut_to_each_vendors_size_without_breaking_markup() {
    let receiver = vendors();
    // A template that prints whole commit messages: far more than any vendor takes.
    let template = "template = \"{% for c in commits %}<b>{{ c.short_id }}</b> {{ c.message }}\\n{% endfor %}\"\n";
    let plain = "template = \"{% for c in commits %}**{{ c.short_id }}** {{ c.message }}\\n{% endfor %}\"\n";
    let endpoints = [
        endpoint(
            &receiver,
            "telegram",
            &format!("rate_limit = \"off\"\n{template}"),
        ),
        endpoint(
            &receiver,
            "discord",
            &format!("rate_limit = \"off\"\n{plain}"),
        ),
        endpoint(
            &receiver,
            "wecom",
            &format!("rate_limit = \"off\"\n{plain}"),
        ),
    ]
    .concat();
    let server = Server::new(&config(&endpoints));
    let work = server.clone_work();
    for i in 0..8 {
        work.write(&format!("f{i}"), "x");
        work.commit(&format!(
            "Change {i} <&> 😀 {}",
            "long words & more ".repeat(60)
        ));
    }
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 3);
    for r in &got {
        let text = text_of(r);
        assert_eq!(vendor_problem(r), None, "{}: {text}", vendor_of(r));
        assert!(text.ends_with('…'), "{}: {text}", vendor_of(r));
        match vendor_of(r) {
            "telegram" => assert!(text.encode_utf16().count() <= 4096),
            "discord" => {
                assert!(text.chars().count() <= 2000);
                assert_eq!(text.matches("**").count() % 2, 0, "{text}");
            }
            "wecom" => assert!(text.len() <= 4096),
            other => panic!("{other}"),
        }
        assert!(text.contains("Change 7"), "newest first");
    }
}

#[test]
fn templates_skip_empty_and_one_message() {
    let receiver = vendors();
    let endpoints = [
        endpoint(
            &receiver,
            "slack",
            "rate_limit = \"off\"\nskip_empty = true\ntemplate = \"{{ pusher.login }} {{ action }} {{ ref.name }} ({{ total_commits }}){% if ref.name == 'boom' %}{{ 1 // 0 }}{% endif %}\"\n",
        ),
        endpoint(&receiver, "discord", "rate_limit = \"off\"\none_message = true\n"),
    ]
    .concat();
    let server = Server::new(&config(&endpoints));
    let work = server.clone_work();
    work.commits(2, "base");
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 2);
    let slack = got.iter().find(|r| vendor_of(r) == "slack").expect("slack");
    assert_eq!(text_of(slack), "alice created main (2)");

    // Three refs in one push: the Discord endpoint gets one message for all, Slack one per ref,
    // except the branch created without new commits (skip_empty).
    work.git(&["branch", "same"]);
    work.git(&["checkout", "-q", "-b", "boom"]);
    work.commits(1, "boom");
    work.git(&["tag", "v2"]);
    work.push(&["origin", "same", "boom", "v2"]);
    let got = expect_requests(&receiver, 2 + 1 + 2);
    let discord: Vec<_> = got[2..]
        .iter()
        .filter(|r| vendor_of(r) == "discord")
        .collect();
    assert_eq!(discord.len(), 1);
    let text = text_of(discord[0]);
    for part in [
        "created branch [same]",
        "created branch [boom]",
        "tagged [v2]",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let slack: Vec<String> = got[2..]
        .iter()
        .filter(|r| vendor_of(r) == "slack")
        .map(text_of)
        .collect();
    assert_eq!(slack.len(), 2, "{slack:?}");
    // The template fails on `boom`: the built-in message, saying why.
    let boom = slack.iter().find(|t| t.contains("boom")).expect("boom");
    assert!(boom.contains("created branch <"), "{boom}");
    assert!(
        boom.contains("(the endpoint's template failed: line 1: "),
        "{boom}"
    );
    // The tag brought boom's commit too, in this push.
    assert!(
        slack.iter().any(|t| t == "alice created v2 (1)"),
        "{slack:?}"
    );
}

#[test]
fn config_check_names_a_bad_templates_line_and_keys_a_format_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = dir.path().join("message.j2");
    std::fs::write(
        &template,
        "{{ pusher.login }}\n{% for c in commits %}\n{{ c.title | nosuchfilter }}\n{% endfor %}\n",
    )
    .expect("write");
    let cases = [
        (
            format!("[[endpoint]]\nurl = \"https://h/x\"\nformat = \"slack\"\ntemplate_file = {template:?}\n"),
            format!("template_file {}: line 3: unknown filter", template.display()),
        ),
        (
            "[[endpoint]]\nurl = \"https://h/x\"\nformat = \"slack\"\ntemplate = \"\"\"\nok\n{% if %}\n\"\"\"\n".to_owned(),
            "template: line 2: syntax error".to_owned(),
        ),
        (
            "[[endpoint]]\nurl = \"https://h/x\"\nformat = \"gitlab\"\ntemplate = \"x\"\n".to_owned(),
            "format \"gitlab\" has no template".to_owned(),
        ),
        (
            "[[endpoint]]\nurl = \"https://h/x\"\nformat = \"telegram\"\n".to_owned(),
            "format \"telegram\" needs chat_id".to_owned(),
        ),
        (
            "[[endpoint]]\nurl = \"https://h/x\"\nformat = \"slack\"\nrate_limit = \"fast\"\n".to_owned(),
            "rate_limit \"fast\" is not like".to_owned(),
        ),
    ];
    for (config, expected) in cases {
        let server = Server::new(&config);
        let out = server.run_hook(&["config", "check"], b"", &[]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&expected),
            "expected {expected:?} in:\n{text}"
        );
        assert!(
            text.contains("webhook.toml:"),
            "names the file and line:\n{text}"
        );
    }
}

#[test]
fn the_demo_shows_a_chat_formats_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_bin(dir.path(), &["demo", "--format", "telegram"], b"", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("#1 message:\n<b>Demo User</b> created branch <a href="),
        "{text}"
    );
    assert!(
        text.contains("#3 message:\n<b>Demo User</b> tagged"),
        "{text}"
    );
    assert!(text.contains(": Release 1.0"), "{text}");
    assert!(
        text.contains("Demo finished: 3 pushes, 3 webhooks."),
        "{text}"
    );
    assert!(
        !text.contains("demo-secret"),
        "the token is never shown:\n{text}"
    );
}
