//! The command line: `--help` is a snapshot (README and docs quote it), usage errors exit 2.

use crate::support::*;

/// Runs the binary in a fresh temporary directory (with a hermetic environment).
fn run_in_temp(args: &[&str]) -> std::process::Output {
    let tmp = tempfile::tempdir().expect("tempdir");
    run_bin(tmp.path(), args, b"", &[])
}

fn help(args: &[&str]) -> String {
    let out = run_in_temp(args);
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn help_snapshots() {
    insta::assert_snapshot!("help", help(&["--help"]));
    insta::assert_snapshot!("help_update", help(&["update", "--help"]));
    insta::assert_snapshot!("help_install", help(&["install", "--help"]));
    insta::assert_snapshot!("help_deliver", help(&["deliver", "--help"]));
    insta::assert_snapshot!("help_uninstall", help(&["uninstall", "--help"]));
    insta::assert_snapshot!("help_formats", help(&["help", "formats"]));
}

#[test]
fn formats_and_the_example_configuration_come_from_the_installed_program() {
    let formats = help(&["formats"]);
    assert!(
        formats.starts_with("gitlab\n  event:  `X-Gitlab-Event: Push Hook`"),
        "{formats}"
    );
    assert_eq!(
        formats.matches("\n  secret: ").count(),
        formats.lines().filter(|l| !l.starts_with(' ')).count(),
        "every format says how its secret travels"
    );
    assert_eq!(
        help(&["config", "example"]),
        include_str!("../../config.example.toml")
    );
}

/// Every page the manual names is written, and its formats are a section of their own.
#[test]
fn the_manual_has_a_page_for_every_page_it_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("man1");
    let out = run_bin(
        tmp.path(),
        &["man", "--dir", &dir.to_string_lossy()],
        b"",
        &[],
    );
    assert!(out.status.success());
    let mut named = std::collections::BTreeSet::new();
    for page in std::fs::read_dir(&dir).expect("pages") {
        let text = std::fs::read_to_string(page.expect("page").path()).expect("text");
        let mut rest = text.as_str();
        // References read `git\-webhook\-deliver(1)`.
        while let Some(at) = rest.find("git\\-webhook\\-") {
            let word: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '\\' || *c == '-')
                .collect();
            if rest[at + word.len()..].starts_with("(1)") {
                named.insert(word.replace('\\', ""));
            }
            rest = &rest[at + 1..];
        }
    }
    assert!(named.contains("git-webhook-deliver"), "{named:?}");
    for name in &named {
        assert!(
            dir.join(format!("{name}.1")).is_file(),
            "the manual names {name}(1): no such page"
        );
    }
    let main = std::fs::read_to_string(dir.join("git-webhook.1")).expect("main page");
    assert!(
        main.contains(".SH FORMATS\n.TP\n\\fBgitlab\\fR"),
        "a formats section"
    );
}

/// Completion for `git-webhook ...` and, through git's own completion, `git webhook ...`.
#[test]
#[allow(clippy::disallowed_methods)]
fn bash_completes_commands_options_and_git_webhook() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = tmp.path().join("complete.bash");
    std::fs::write(&script, help(&["completions", "bash"])).expect("script");
    let probe = format!(
        "source {}\n\
         COMP_WORDS=(git-webhook deliver --w); COMP_CWORD=2; _git__webhook git-webhook --w deliver; echo \"1:${{COMPREPLY[*]}}\"\n\
         words=(git webhook del); cword=2; _git_webhook; echo \"2:${{COMPREPLY[*]}}\"\n\
         words=(git webhook log --state d); cword=4; _git_webhook; echo \"3:${{COMPREPLY[*]}}\"\n",
        script.display()
    );
    let Ok(out) = std::process::Command::new("bash")
        .arg("-c")
        .arg(&probe)
        .output()
    else {
        return; // No bash here.
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1:--watch"), "{text}");
    assert!(text.contains("2:deliver"), "{text}");
    assert!(
        text.contains("3:delivered dead dropped discarded"),
        "{text}"
    );
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
    let out = run_in_temp(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand 'frobnicate'"));
    let v = help(&["--version"]);
    assert_eq!(
        v.trim(),
        format!("git-webhook {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Defect: outside a repository, `deliver --watch`, `status` and `log` fell back to the current
/// directory, used default settings and created an empty spool there. Now every command that needs a
/// repository says where it looked, exits 1 and writes nothing.
#[test]
fn commands_outside_a_repository_say_where_they_looked_and_write_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("not-a-repo");
    std::fs::create_dir(&dir).expect("mkdir");
    for args in [
        &["deliver", "--watch"][..],
        &["deliver"],
        &["status"],
        &["log"],
        &["redeliver", "abc"],
        &["test"],
        &["config", "check"],
    ] {
        let mut child = hermetic(std::process::Command::new(bin()), &dir)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // A command that (wrongly) starts watching is stopped after a bounded wait.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while child.try_wait().expect("wait").is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            format!(
                "git-webhook: error: not a git repository: {} (from the current directory)\nhint: run inside the repository, or pass --repo DIR\n",
                dir.display()
            ),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let named = run_bin(&dir, &["status", "--repo", "elsewhere"], b"", &[]);
    assert_eq!(
        String::from_utf8_lossy(&named.stderr),
        format!(
            "git-webhook: error: not a git repository: {} (from --repo)\nhint: run inside the repository, or pass --repo DIR\n",
            dir.join("elsewhere").display()
        )
    );
    let from_env = run_bin(&dir, &["log"], b"", &[("GIT_DIR", "gone.git")]);
    assert!(String::from_utf8_lossy(&from_env.stderr).contains("(from $GIT_DIR)"));
    assert_eq!(
        std::fs::read_dir(&dir).expect("read_dir").count(),
        0,
        "nothing was written"
    );
}

/// Flags belong to the commands they affect: `--dry-run` means nothing to `status`, `log`, `install`
/// or `man`, and they refuse it.
#[test]
fn flags_belong_to_their_commands() {
    for args in [
        &["status", "--dry-run"][..],
        &["log", "--dry-run"],
        &["install", "--dry-run", "x"],
        &["man", "--dry-run"],
        &["man", "--repo", "x"],
        &["--dry-run", "status"],
    ] {
        let out = run_in_temp(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
