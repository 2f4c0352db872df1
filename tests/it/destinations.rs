//! `[server] allow_destinations` / `deny_destinations`: a refused destination gets no request, is
//! said in one line and kept as a dead letter, checked on the URL's address and again on the
//! addresses a name resolves to; a repository's own configuration cannot change the policy.

use crate::support::*;

/// The server-wide file with this `[server]` policy, and the environment that points at it.
fn server_wide(server: &Server, policy: &str) -> String {
    let path = server.tmp.path().join("server.toml");
    std::fs::write(&path, format!("[server]\n{policy}\n")).expect("server.toml");
    path.to_string_lossy().into_owned()
}

fn run(server: &Server, args: &[&str], global: &str) -> String {
    let out = server.run_hook(args, b"", &[("GIT_WEBHOOK_GLOBAL_CONFIG", global)]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn queued(urls: &[String]) -> String {
    let mut config = "[delivery]\nmode = \"queue\"\n".to_owned();
    for url in urls {
        config.push_str(&format!("\n[[endpoint]]\nurl = \"{url}\"\n"));
    }
    config
}

#[test]
fn a_denied_address_or_name_gets_no_request_and_waits_as_a_dead_letter() {
    let receiver = Receiver::start().expect("receiver");
    let by_address = receiver.url("/by-address");
    let by_name = by_address
        .replace("127.0.0.1", "localhost")
        .replace("by-address", "by-name");
    // The repository's own file tries to lift the policy: it cannot.
    let server = Server::new(&format!(
        "[server]\ndeny_destinations = []\nallow_destinations = [\"0.0.0.0/0\"]\n\n{}",
        queued(&[by_address, by_name])
    ));
    let global = server_wide(&server, "deny_destinations = [\"127.0.0.0/8\", \"::1\"]");
    let work = server.clone_work();
    work.commits(1, "a");
    let pushed = work.push_env(
        &["origin", "main"],
        &[("GIT_WEBHOOK_GLOBAL_CONFIG", &global)],
    );
    assert!(
        pushed.contains("[server] deny_destinations is read from the server-wide file only, never from a repository's own configuration: ignored"),
        "{pushed}"
    );
    let said = run(&server, &["deliver"], &global);
    assert!(
        said.contains("destination refused: 127.0.0.1 is in [server] deny_destinations (\"127.0.0.0/8\"); not retried, kept as a dead letter"),
        "{said}"
    );
    assert!(
        said.contains("destination refused: localhost (127.0.0.1) is in [server] deny_destinations (\"127.0.0.0/8\")")
            || said.contains("destination refused: localhost (::1) is in [server] deny_destinations (\"::1\")"),
        "the name is refused for what it resolves to: {said}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(receiver.requests().is_empty(), "no request was made");
    assert!(run(&server, &["status"], &global).contains("dead:      2"));

    // The admin allows the name: the dead letters go out when redelivered, nothing was lost.
    let global = server_wide(&server, "allow_destinations = [\"localhost\"]");
    let said = run(&server, &["redeliver", "--state", "dead"], &global);
    assert!(
        said.contains("destination refused: 127.0.0.1 is not in [server] allow_destinations"),
        "{said}"
    );
    let got = expect_requests(&receiver, 1);
    assert_eq!(got[0].path, "/by-name");
}

#[test]
fn a_bad_entry_names_the_file_the_line_and_the_key() {
    let server = Server::new(&queued(&["http://127.0.0.1:9/x".to_owned()]));
    let global = server_wide(
        &server,
        "deny_destinations = [\"loopback\", \"10.0.0.0/33\"]",
    );
    let said = run(&server, &["config", "check"], &global);
    assert!(
        said.contains("server.toml:2:") && said.contains("\"10.0.0.0/33\" is not an address range"),
        "{said}"
    );
}
