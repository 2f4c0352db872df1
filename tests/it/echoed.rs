//! A receiver that echoes the request back in its answer (a debugging endpoint, an error page
//! quoting the headers) puts no secret into what anyone reads or what is kept: `remote:` lines,
//! `test`, `log` (text and JSON), `status --state dead`, the spool's log and job files.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

use crate::support::*;

const SECRETS: [&str; 5] = [
    "tok3n-in-the-header",
    "k3y-in-a-custom-header",
    "hunter2-password",
    "BASIC-USER-42",
    "T0000/B0000/XXXXsecretpathXXXX",
];

/// Answers every request with an error that quotes it: method, path, headers and body.
fn echoing(status: u16) -> Receiver {
    Receiver::start_with(move |r| {
        let mut body = format!("{} {}\n", r.method, r.path);
        for (n, v) in &r.headers {
            body.push_str(&format!("{n}: {v}\n"));
        }
        body.push_str(&String::from_utf8_lossy(&r.body));
        Reply {
            status,
            body,
            ..Reply::default()
        }
    })
    .expect("receiver")
}

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} holds {s:?}:\n{text}");
    }
    // The Basic credential as sent, base64 of user:password.
    assert!(!text.contains("QkFTSUMtVVNFUi00Mjpod"), "{what}:\n{text}");
}

fn every_file(dir: &Path, into: &mut String) {
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            every_file(&p, into);
        } else {
            into.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
}

#[test]
fn an_echoing_receiver_leaks_no_secret_anywhere() {
    let fails = echoing(500);
    let refuses = echoing(400);
    let with_credentials = fails
        .url("/hook")
        .replace("http://", "http://BASIC-USER-42:hunter2-password@");
    let config = format!(
        "{SYNC}[[endpoint]]\nurl = \"{with_credentials}\"\nsecret = \"tok3n-in-the-header\"\n\
         headers = {{ X-Api-Key = \"k3y-in-a-custom-header\" }}\n\n\
         [[endpoint]]\nurl = \"{}\"\nformat = \"slack\"\n\n\
         [[endpoint]]\nurl = \"{}\"\nformat = \"github\"\nsecret = \"tok3n-in-the-header\"\n",
        refuses.url("/services/T0000/B0000/XXXXsecretpathXXXX"),
        refuses.url("/github")
    );
    let server = Server::new(&config);
    let work = server.clone_work();
    work.commits(1, "a");
    let said = work.push(&["origin", "main"]);
    assert!(said.contains("FAILED: 500"), "{said}");
    assert!(said.contains("FAILED: 400"), "{said}");
    assert!(
        said.contains("[REDACTED]"),
        "the echo is there, cleaned: {said}"
    );
    assert_clean("the remote: lines", &said);
    let run = |args: &[&str]| {
        let out = server.run_hook(args, b"", &[]);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let tested = run(&["test"]);
    assert!(tested.contains("response: "), "{tested}");
    assert_clean("`test`", &tested);
    for args in [
        &["log"][..],
        &["log", "--json"],
        &["status", "--state", "dead"],
        &["status", "--state", "dead", "--json"],
    ] {
        let out = run(args);
        assert!(
            out.contains("FAILED") || out.contains("500") || out.contains("400"),
            "{args:?}: {out}"
        );
        assert_clean(&format!("`{}`", args.join(" ")), &out);
    }
    let mut kept = String::new();
    every_file(&server.bare.join("webhook"), &mut kept);
    assert!(
        kept.contains("last_error"),
        "retries and dead letters are kept"
    );
    assert_clean("the spool", &kept);
}

#[test]
fn an_echoing_receiver_leaks_no_secret_into_the_database() {
    let Some(db) = crate::support::pg::Cluster::start() else {
        return;
    };
    let refuses = echoing(400);
    let tmp = tempfile::tempdir().expect("tempdir");
    let global = tmp.path().join("server.toml");
    std::fs::write(
        &global,
        format!("[delivery]\nqueue = \"{}\"\nmode = \"sync\"\n", db.url()),
    )
    .expect("server.toml");
    let url = refuses
        .url("/hook")
        .replace("http://", "http://BASIC-USER-42:hunter2-password@");
    let server = Server::new(&format!(
        "[[endpoint]]\nurl = \"{url}\"\nsecret = \"tok3n-in-the-header\"\n\
         headers = {{ X-Api-Key = \"k3y-in-a-custom-header\" }}\n"
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    let g = global.to_string_lossy();
    let said = work.push_env(&["origin", "main"], &[("GIT_WEBHOOK_GLOBAL_CONFIG", &g)]);
    assert!(said.contains("FAILED: 400"), "{said}");
    assert_clean("the remote: lines", &said);
    let kept = db.sql(
        "SELECT coalesce(string_agg(error, ' '), '') FROM git_webhook.attempts
         UNION ALL SELECT string_agg(job::text, ' ') FROM git_webhook.jobs",
    );
    assert!(
        kept.contains("[REDACTED]"),
        "the echo is kept, cleaned: {kept}"
    );
    assert_clean("the database", &kept);
}
