//! A repository owned by another user (root looking into the `git` user's): git's ownership check
//! is named as what it is, with what to run, and commands over many repositories never leave
//! one out in silence. Needs root (to give a repository away); said and skipped otherwise.
#![allow(clippy::disallowed_methods, clippy::print_stderr)]

use std::process::Command;

use crate::support::*;

/// Gives `dir` (and all below it) to the user `nobody`; `false` (said) where this process cannot.
fn give_away(dir: &std::path::Path) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let given = root
        && Command::new("chown")
            .args(["-R", "nobody"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
    if !given {
        assert!(
            std::env::var_os(crate::support::REQUIRE_ROOT).is_none(),
            "cannot give a repository away, and {} is set",
            crate::support::REQUIRE_ROOT
        );
        eprintln!("skipped: giving a repository to another user needs root");
    }
    given
}

#[test]
fn a_repository_of_another_user_is_named_so_with_the_fix_and_never_left_out_in_silence() {
    let receiver = Receiver::start().expect("receiver");
    let ours = Server::new(&config_for(&receiver.url("/hook"), ""));
    let work = ours.clone_work();
    work.commits(1, "a");
    work.push(&["origin", "main"]);
    // Another user's repository beside ours, with webhooks of its own.
    let srv = ours.tmp.path().join("srv");
    let theirs = srv.join("acme").join("theirs.git");
    git(&srv, &["init", "-q", "--bare", &theirs.to_string_lossy()]);
    std::fs::copy(ours.bare.join("webhook.toml"), theirs.join("webhook.toml")).expect("config");
    std::fs::create_dir_all(theirs.join("webhook").join("queue")).expect("spool");
    if !give_away(&theirs) {
        return;
    }
    let out = run_bin(&theirs, &["status"], b"", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let path = theirs.display();
    assert!(
        err.contains(&format!(
            "git-webhook: error: {path} is owned by nobody, not by root who runs this"
        )),
        "{err}"
    );
    assert!(!err.contains("not a git repository"), "{err}");
    assert!(
        err.contains("hint: run the command as its owner: sudo -u nobody git-webhook"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "hint: or trust the repository: git config --global --add safe.directory {path}"
        )),
        "{err}"
    );
    // Over every repository below a directory: the other user's is said, ours still listed.
    for (what, args) in [("status", "status"), ("log", "log")] {
        let all = run_bin(&srv, &[args, "--all", &srv.to_string_lossy()], b"", &[]);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&all.stdout),
            String::from_utf8_lossy(&all.stderr),
        );
        assert_eq!(all.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("{path} is owned by nobody")) && stderr.contains("left out"),
            "{what}: {stderr}"
        );
        if what == "status" {
            let mine = ours.bare.canonicalize().expect("path");
            assert!(stdout.contains(&mine.display().to_string()), "{stdout}");
        }
    }
}
