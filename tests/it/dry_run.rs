//! Dry-run prints every request in full with secrets redacted, and sends nothing.

use crate::support::*;

#[test]
fn dry_run_from_a_hook_prints_and_sends_nothing() {
    let receiver = Receiver::start().expect("receiver");
    let url = receiver
        .url("/hook")
        .replace("http://", "http://deploy:pa55word@");
    let server = Server::new(&config_for(&url, "secret = \"s3cret-token\""));
    let work = server.clone_work();
    let id = work.commits(1, "a")[0].clone();
    let out = work.push_env(&["origin", "main"], &[("GIT_WEBHOOK_DRY_RUN", "1")]);
    assert!(
        out.contains("remote: # endpoint 1 (gitlab), refs/heads/main"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "remote: POST {}",
            receiver
                .url("/hook")
                .replace("http://", "http://*****:*****@")
        )),
        "{out}"
    );
    assert!(out.contains("remote: X-Gitlab-Token: [REDACTED]"), "{out}");
    assert!(
        out.contains("remote: Authorization: Basic [REDACTED]"),
        "{out}"
    );
    assert!(out.contains("remote: X-Gitlab-Event: Push Hook"), "{out}");
    assert!(
        out.contains(&format!("remote:   \"after\": \"{id}\",")),
        "{out}"
    );
    assert!(
        out.contains("dry run: 1 request(s) shown above, nothing sent"),
        "{out}"
    );
    assert!(
        !out.contains("s3cret-token") && !out.contains("pa55word"),
        "{out}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(receiver.requests().is_empty());
}

#[test]
fn dry_run_flag_on_the_command_line_is_reproducible_with_a_seed() {
    let server = Server::new(&config_for("http://127.0.0.1:9/hook", "secret = \"abc\""));
    let work = server.clone_work();
    let id = work.commits(1, "a")[0].clone();
    git(
        &work.dir,
        &[
            "push",
            "-q",
            "--no-verify",
            &server.bare.to_string_lossy(),
            "HEAD:refs/heads/main",
        ],
    );
    let input = format!("{ZERO} {id} refs/heads/main\n");
    let run = || {
        server.run_hook(
            &["post-receive", "--dry-run"],
            input.as_bytes(),
            &[("GIT_WEBHOOK_SEED", "7")],
        )
    };
    let (a, b) = (run(), run());
    assert!(a.status.success());
    let text = String::from_utf8(a.stdout.clone()).expect("utf8");
    assert_eq!(a.stdout, b.stdout, "same seed, same ids");
    let (head, body) = text.split_once("\n\n").expect("headers then body");
    let header_names: Vec<&str> = head
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().expect("name"))
        .collect();
    assert_eq!(
        header_names,
        [
            "Content-Type",
            "User-Agent",
            "Idempotency-Key",
            "X-Gitlab-Event",
            "X-Gitlab-Webhook-UUID",
            "X-Gitlab-Instance",
            "X-Gitlab-Token",
            "X-Gitlab-Event-UUID"
        ]
    );
    let json: serde_json::Value = serde_json::from_str(body.trim()).expect("pretty JSON body");
    assert_eq!(json["after"], id.as_str());
    assert!(!text.contains("abc\""), "{text}");
}
