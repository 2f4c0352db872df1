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

#[test]
fn a_database_password_anyone_can_read_warns_as_an_inline_secret_does() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = Server::new(
        "[delivery]\nqueue = \"postgresql://git:hunter2@127.0.0.1:1/webhooks\"\n\n[[endpoint]]\nurl = \"http://127.0.0.1:9/\"\n",
    );
    let file = server.bare.join("webhook.toml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = server.run_hook(&["config", "check"], b"", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "warning: {} holds a secret and every user",
            file.display()
        )),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    let password = server.tmp.path().join("db-password");
    std::fs::write(&password, "hunter2\n").expect("password");
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    server.write_config(&format!(
        "[delivery]\nqueue = \"postgresql://git@127.0.0.1:1/webhooks\"\nqueue_password_file = \"{}\"\n",
        password.display()
    ));
    let out = server.run_hook(&["config", "check"], b"", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "queue_password_file {} can be read by every user of this machine",
            password.display()
        )),
        "{text}"
    );
}

#[test]
fn test_takes_its_sample_from_a_branch_that_exists_when_head_names_none() {
    let server = Server::new(&config_for("http://127.0.0.1:9/hook", ""));
    git(&server.bare, &["symbolic-ref", "HEAD", "refs/heads/trunk"]);
    let work = server.clone_work();
    work.commits(1, "a");
    server.receive(&work, "HEAD:refs/heads/main");
    let out = server.run_hook(&["test", "--dry-run"], b"", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "refs/heads/trunk (the default branch) has no commits yet; the sample comes from refs/heads/main"
        ),
        "{}",
        stderr(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("# endpoint 1 (gitlab), refs/heads/main"));
}
