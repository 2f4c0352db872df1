//! Never break a push: bad input, bad configuration and bad endpoints each give one clear line, and exit 0.

use crate::support::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn garbage_and_short_stdin_lines_are_named_and_skipped() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&config_for(&receiver.url("/hook"), ""));
    let work = server.clone_work();
    let id = work.commits(1, "a")[0].clone();
    // Put the commit into the bare repository without running the hook.
    server.receive(&work, "HEAD:refs/heads/main");
    receiver.wait_for(1, std::time::Duration::from_secs(10));
    let before = receiver.requests().len();
    let input = format!(
        "garbage\n{ZERO} {id}\n{ZERO} {id} refs/heads/main\n{ZERO} {} refs/heads/ghost\n",
        "f".repeat(40)
    );
    let out = server.run_hook(&["post-receive"], input.as_bytes(), &[]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("git-webhook: warning: stdin line 1: expected \"<old> <new> <ref>\", got \"garbage\"; line ignored"), "{err}");
    assert!(err.contains("stdin line 2: expected"), "{err}");
    assert!(
        err.contains(&format!(
            "refs/heads/ghost: new object {} is not in the repository; no webhook for this ref",
            "f".repeat(40)
        )),
        "{err}"
    );
    let got = expect_requests(&receiver, before + 1);
    assert_eq!(got.last().expect("one").json()["ref"], "refs/heads/main");
}

#[test]
fn a_broken_config_names_file_line_and_key_and_the_push_succeeds() {
    let server = Server::new("[project]\nname = \"x\"\n\n[[endpoint]]\nurl = \"http://127.0.0.1:1/\"\nsecrte = \"typo\"\n");
    let work = server.clone_work();
    work.commits(1, "a");
    let err = work.push(&["origin", "main"]);
    let file = server.bare.join("webhook.toml");
    assert!(
        err.contains(&format!(
            "remote: git-webhook: warning: {}:6:1: endpoint.secrte: unknown field `secrte`",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("nothing sent"), "{err}");

    server.write_config("[project\nname = 1\n");
    work.commits(1, "b");
    let err = work.push(&["origin", "main"]);
    assert!(err.contains(&format!("{}:1:", file.display())), "{err}");
}

#[test]
fn a_bad_endpoint_is_skipped_and_the_good_ones_still_get_the_event() {
    let receiver = Receiver::start().expect("receiver");
    let config = format!(
        "[[endpoint]]\nurl = \"{}\"\nformat = \"bitbucket\"\n\n[[endpoint]]\nurl = \"ftp://user:hunter2@example.com/\"\n\n[[endpoint]]\nurl = \"{}\"\nevents = [\"push\", \"merge\"]\n\n[[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/a"),
        receiver.url("/b"),
        receiver.url("/ok")
    );
    let server = Server::new(&config);
    let work = server.clone_work();
    work.commits(1, "a");
    let err = work.push(&["origin", "main"]);
    let file = server.bare.join("webhook.toml").display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:3:10: endpoint.format: unknown format \"bitbucket\"; known formats: \"gitlab\""
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{file}:6:7: endpoint.url: ftp://*****:*****@example.com/ must be an http:// or https:// URL")), "{err}");
    assert!(
        err.contains(&format!(
            "{file}:10:10: endpoint.events: unknown event \"merge\""
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let got = expect_requests(&receiver, 1);
    assert_eq!(got[0].path, "/ok");
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("[project]\nvisibility_level = 5\n", "webhook.toml:2:20: project.visibility_level: 5 is not 0 (private), 10 (internal) or 20 (public)"),
        ("[delivery]\ntimeout = \"soon\"\n", "webhook.toml:2:11: delivery.timeout: \"soon\" is not a duration"),
        ("[payload]\nmax_commits = 0\n", "webhook.toml:2:15: payload.max_commits: must be at least 1"),
        ("[users.bob]\nid = \"x\"\n", "webhook.toml:2:6: users.bob.id: invalid type: string \"x\", expected a whole number"),
        ("colour = 1\n", "webhook.toml:1:1: colour: unknown field `colour`"),
    ];
    for (config, expected) in cases {
        let server = Server::new(config);
        let out = server.run_hook(
            &["post-receive"],
            format!("{ZERO} {} refs/heads/main\n", "a".repeat(40)).as_bytes(),
            &[],
        );
        assert!(out.status.success());
        let err = stderr(&out);
        assert!(err.contains(expected), "config {config:?}:\n{err}");
    }
}

#[test]
fn missing_configuration_and_bad_arguments_never_fail() {
    let server = Server::new("");
    std::fs::remove_file(server.bare.join("webhook.toml")).expect("rm");
    let line = format!("{ZERO} {} refs/heads/main\n", "a".repeat(40));
    let out = server.run_hook(&["post-receive"], line.as_bytes(), &[]);
    assert!(out.status.success());
    let expected = format!(
        "git-webhook: no configuration found (looked for /nonexistent/git-webhook.toml, {} and webhook.* in git config); nothing sent",
        server.bare.join("webhook.toml").display()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    let out = server.run_hook(
        &["post-receive", "--config", "/nonexistent/x.toml"],
        line.as_bytes(),
        &[],
    );
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("cannot read configuration file /nonexistent/x.toml: No such file"),
        "{}",
        stderr(&out)
    );

    let out = server.run_hook(&["update", "refs/heads/main", "nope"], b"", &[]);
    assert!(
        out.status.success(),
        "a hook call with wrong arguments still exits 0"
    );
    let out = server.run_hook(&["update", "refs/heads/main", "nope", "x"], b"", &[]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("update hook arguments: old object name \"nope\" is not 40 or 64 hex digits; nothing sent"), "{}", stderr(&out));
}

#[test]
fn a_symlinked_hook_with_extra_arguments_still_exits_zero() {
    let server = Server::new("");
    let hook = server.bare.join("hooks").join("post-receive");
    let out = hermetic(std::process::Command::new(&hook), &server.bare)
        .arg("--no-such-flag")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(stderr(&out).contains("--no-such-flag"), "{}", stderr(&out));
}
