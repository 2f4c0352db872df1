//! gitolite, end to end, driven by gitolite's own `gitolite setup`: the hook as one of gitolite's
//! common hooks, an endpoint from a `config webhook.*` line of gitolite.conf, the pusher's gitolite
//! name and the repository's path below `repos_root` in the payload, and gitolite-admin left out by
//! `[server] exclude`. Pushes go through gitolite-shell as ssh would run it. Skipped (said) where
//! gitolite3 is not installed; `.ci/run` installs it and requires this to run.
#![allow(clippy::disallowed_methods, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// `GIT_WEBHOOK_REQUIRE_GITOLITE=1` (set by `.ci/run`) turns a missing gitolite into a failure.
const REQUIRE: &str = "GIT_WEBHOOK_REQUIRE_GITOLITE";

/// A gitolite installation whose home (and so `~/repositories`, `~/.gitolite.rc`) is `home`.
struct Gitolite {
    home: PathBuf,
}

impl Gitolite {
    /// A command run as gitolite's user would run it: its home, ssh standing in for `user`.
    fn cmd(&self, program: &str, dir: &Path, user: &str) -> Command {
        let mut c = hermetic(Command::new(program), dir);
        c.env("HOME", &self.home)
            .env("GIT_SSH_COMMAND", self.home.join("ssh.sh"))
            .env("GL_TEST_USER", user)
            .env(
                "GIT_WEBHOOK_GLOBAL_CONFIG",
                self.home.join("git-webhook.toml"),
            );
        c
    }

    fn run(&self, program: &str, dir: &Path, user: &str, args: &[&str]) -> String {
        let out = self
            .cmd(program, dir, user)
            .args(args)
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{program} {args:?}:\n{text}");
        text
    }

    /// A public key for `name`, made with ssh-keygen (gitolite reads keys with it too).
    fn key(&self, name: &str) -> PathBuf {
        let key = self.home.join(name);
        self.run(
            "ssh-keygen",
            &self.home,
            name,
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                name,
                "-f",
                &key.to_string_lossy(),
            ],
        );
        key.with_extension("pub")
    }
}

/// gitolite set up with `admin`'s key, `None` (said) where gitolite3 is not installed.
fn setup() -> Option<(tempfile::TempDir, Gitolite)> {
    let installed = Command::new("gitolite").arg("help").output().is_ok();
    if !installed {
        assert!(
            std::env::var_os(REQUIRE).is_none(),
            "gitolite is not installed, and {REQUIRE} is set"
        );
        eprintln!("skipped: gitolite3 is not installed (.ci/run installs it)");
        return None;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let gl = Gitolite {
        home: tmp.path().canonicalize().expect("home"),
    };
    let admin = gl.key("admin");
    gl.run(
        "gitolite",
        &gl.home,
        "admin",
        &["setup", "-pk", &admin.to_string_lossy()],
    );
    // ssh as gitolite's authorized_keys runs it: gitolite-shell with the key's user name.
    let bindir = gl.run("gitolite", &gl.home, "admin", &["query-rc", "GL_BINDIR"]);
    let ssh = format!(
        "#!/bin/sh\n# $1: the host, $2: the command git runs there\nSSH_CONNECTION='127.0.0.1 1 127.0.0.1 22' SSH_ORIGINAL_COMMAND=\"$2\" exec {}/gitolite-shell \"$GL_TEST_USER\"\n",
        bindir.trim()
    );
    let script = gl.home.join("ssh.sh");
    std::fs::write(&script, ssh).expect("ssh.sh");
    let chmod = Command::new("chmod").arg("755").arg(&script).status();
    assert!(chmod.is_ok_and(|s| s.success()));
    Some((tmp, gl))
}

#[test]
fn gitolite_common_hook_config_lines_and_gitolite_admin_left_out() {
    let Some((_tmp, gl)) = setup() else { return };
    let receiver = Receiver::start().expect("receiver");
    let home = &gl.home;
    // ~/.gitolite.rc lets `config webhook.*` lines through.
    let rc = home.join(".gitolite.rc");
    let text = std::fs::read_to_string(&rc).expect("rc");
    let text = text.replace(
        "GIT_CONFIG_KEYS                 =>  '',",
        "GIT_CONFIG_KEYS                 =>  'webhook\\..*',",
    );
    assert!(text.contains("webhook\\..*"), "{text}");
    std::fs::write(&rc, text).expect("rc");
    // The hook, as one of gitolite's common hooks, into every repository.
    let common = home.join(".gitolite").join("hooks").join("common");
    std::fs::create_dir_all(&common).expect("hooks");
    std::os::unix::fs::symlink(bin(), common.join("post-receive")).expect("symlink");
    gl.run("gitolite", home, "admin", &["setup", "--hooks-only"]);
    // The server-wide file: names from the path below repos_root, gitolite-admin left out.
    std::fs::write(
        home.join("git-webhook.toml"),
        format!(
            "[server]\nbase_url = \"https://git.example.com\"\nrepos_root = \"{}\"\nexclude = [\"gitolite-admin\"]\n\n[delivery]\nmode = \"sync\"\n",
            home.join("repositories").display()
        ),
    )
    .expect("server-wide file");
    // The admin gives alice a repository with an endpoint, through gitolite-admin.
    let alice = gl.key("alice");
    gl.run(
        "git",
        home,
        "admin",
        &["clone", "-q", "git@localhost:gitolite-admin", "admin-work"],
    );
    let admin = home.join("admin-work");
    std::fs::copy(&alice, admin.join("keydir").join("alice.pub")).expect("key");
    let conf = admin.join("conf").join("gitolite.conf");
    let mut text = std::fs::read_to_string(&conf).expect("conf");
    text.push_str(&format!(
        "\nrepo acme/demo\n    RW+ = alice\n    config webhook.ci.url = {}\n",
        receiver.url("/hook")
    ));
    std::fs::write(&conf, text).expect("conf");
    gl.run("git", &admin, "admin", &["add", "-A"]);
    gl.run(
        "git",
        &admin,
        "admin",
        &["commit", "-q", "-m", "alice, and acme/demo"],
    );
    let said = gl.run("git", &admin, "admin", &["push", "-q", "origin", "HEAD"]);
    assert!(
        !said.contains("git-webhook"),
        "gitolite-admin sends nothing: {said}"
    );
    // alice pushes to her repository, through gitolite.
    gl.run(
        "git",
        home,
        "alice",
        &["clone", "-q", "git@localhost:acme/demo", "demo-work"],
    );
    let demo = home.join("demo-work");
    gl.run(
        "git",
        &demo,
        "alice",
        &["commit", "-q", "--allow-empty", "-m", "hello"],
    );
    let said = gl.run(
        "git",
        &demo,
        "alice",
        &["push", "-q", "origin", "HEAD:main"],
    );
    assert!(
        said.contains("remote: git-webhook: refs/heads/main ->"),
        "{said}"
    );
    let got = expect_requests(&receiver, 1);
    let body = got[0].json();
    assert_eq!(body["project"]["path_with_namespace"], "acme/demo");
    assert_eq!(
        body["project"]["web_url"],
        "https://git.example.com/acme/demo"
    );
    assert_eq!(
        body["user_username"], "alice",
        "gitolite's name of the pusher"
    );
}
