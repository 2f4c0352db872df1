//! What a pusher reads: the `remote:` lines of the main situations, as snapshots.

use crate::support::*;

/// The `remote:` lines of a push's output, with what changes between runs replaced: the temporary
/// directory, the receiver's port and request times.
fn remote_lines(stderr: &str, server: &Server, receiver: Option<&Receiver>) -> String {
    let tmp = server.tmp.path().to_string_lossy().into_owned();
    let mut text = String::new();
    for line in stderr.lines().filter(|l| l.starts_with("remote:")) {
        let mut line = line.trim_end().replace(&tmp, "[TMP]");
        if let Some(r) = receiver {
            line = line.replace(&format!(":{}/", r.port()), ":[PORT]/");
        }
        let words: Vec<String> = line
            .split(' ')
            .scan(false, |after_in, w| {
                let shown = if *after_in && w.bytes().all(|b| b.is_ascii_digit()) {
                    "[N]".to_owned()
                } else {
                    w.to_owned()
                };
                *after_in = w == "in";
                Some(shown)
            })
            .collect();
        text.push_str(&words.join(" "));
        text.push('\n');
    }
    text
}

fn push_one(server: &Server) -> String {
    let work = server.clone_work();
    work.commits(1, "a");
    work.push(&["origin", "main"])
}

#[test]
fn queued_in_the_background() {
    let server = Server::new(
        "[[endpoint]]\nurl = \"http://127.0.0.1:9/a\"\n\n[[endpoint]]\nurl = \"http://127.0.0.1:9/b\"\n",
    );
    insta::assert_snapshot!(remote_lines(&push_one(&server), &server, None));
}

#[test]
fn queued_for_a_deliver_service() {
    let server = Server::new(
        "[delivery]\nmode = \"queue\"\n\n[[endpoint]]\nurl = \"http://127.0.0.1:9/a\"\n",
    );
    insta::assert_snapshot!(remote_lines(&push_one(&server), &server, None));
}

#[test]
fn sent_while_the_push_waits() {
    let ok = Receiver::start().expect("receiver");
    let failing = Receiver::start_with(|_| Reply {
        status: 503,
        ..Reply::default()
    })
    .expect("receiver");
    let refusing = Receiver::start_with(|_| Reply {
        status: 404,
        ..Reply::default()
    })
    .expect("receiver");
    let server = Server::new(&format!(
        "[delivery]\nmode = \"sync\"\nretry_jitter = 0\n\n[[endpoint]]\nurl = \"{}\"\n\n[[endpoint]]\nurl = \"{}\"\nformat = \"github\"\n\n[[endpoint]]\nurl = \"{}\"\n",
        ok.url("/ok"),
        failing.url("/down"),
        refusing.url("/gone")
    ));
    let stderr = push_one(&server);
    let mut text = remote_lines(&stderr, &server, Some(&ok));
    for r in [&failing, &refusing] {
        text = text.replace(&format!(":{}/", r.port()), ":[PORT]/");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn configuration_problems() {
    let server = Server::new(
        "[delivery]\nmode = \"later\"\n\n[[endpoint]]\nurl = \"http://127.0.0.1:9/a\"\n",
    );
    let broken = push_one(&server);
    server.write_config("[[endpoint]]\nurl = \"ftp://nowhere/\"\n\n[[endpoint]]\nurl = \"http://127.0.0.1:9/a\"\nformat = \"gitlab\"\n");
    let work = crate::support::Work::at(server.tmp.path().join("work"));
    work.commits(1, "b");
    let one_bad = work.push(&["origin", "main"]);
    std::fs::remove_file(server.bare.join("webhook.toml")).expect("remove");
    work.commits(1, "c");
    let none = work.push(&["origin", "main"]);
    insta::assert_snapshot!(format!(
        "{}---\n{}---\n{}",
        remote_lines(&broken, &server, None),
        remote_lines(&one_bad, &server, None),
        remote_lines(&none, &server, None)
    ));
}
