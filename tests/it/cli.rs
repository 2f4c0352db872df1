//! The command line: `--help` is a snapshot (README and docs quote it), usage errors exit 2.

use crate::support::*;

fn help(args: &[&str]) -> String {
    let out = run_bin(std::path::Path::new("/"), args, b"", &[]);
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn help_snapshots() {
    insta::assert_snapshot!("help", help(&["--help"]));
    insta::assert_snapshot!("help_update", help(&["update", "--help"]));
    insta::assert_snapshot!("help_install", help(&["install", "--help"]));
    insta::assert_snapshot!("help_deliver", help(&["deliver", "--help"]));
}

#[test]
fn man_page_and_completions() {
    let man = help(&["man"]);
    assert!(
        man.starts_with(".ie \\n(.g .ds Aq \\(aq") && man.contains("git\\-webhook"),
        "{}",
        &man[..200.min(man.len())]
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = help(&["completions", shell]);
        assert!(
            script.contains("git-webhook") && script.contains("redeliver"),
            "{shell}"
        );
    }
}

#[test]
fn usage_errors_exit_2_and_version_prints() {
    let out = run_bin(std::path::Path::new("/"), &["frobnicate"], b"", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand 'frobnicate'"));
    let v = help(&["--version"]);
    assert_eq!(
        v.trim(),
        format!("git-webhook {}", env!("CARGO_PKG_VERSION"))
    );
}
