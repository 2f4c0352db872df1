//! Test fixtures: real bare repositories with the hook installed, work clones, real `git push`, and the oracle `git rev-list`.
#![allow(clippy::disallowed_methods, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

pub mod pg;

#[path = "../../../src/receiver.rs"]
mod receiver;
pub use receiver::{Receiver, Reply, Request, Stream};
use serde_json::Value;

pub const ZERO: &str = "0000000000000000000000000000000000000000";

/// Set (by `.ci/run`), the tests that need root (a tmpfs to fill, a repository given to another
/// user) fail where they cannot run instead of being skipped.
pub const REQUIRE_ROOT: &str = "GIT_WEBHOOK_REQUIRE_ROOT";

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_git-webhook"))
}

/// `cmd` isolated from the machine's and the user's configuration, run in `dir`.
pub fn hermetic(mut cmd: Command, dir: &Path) -> Command {
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Charles Babbage")
        .env("GIT_COMMITTER_EMAIL", "charles@example.com")
        .env("GL_USERNAME", "alice")
        .env("GIT_WEBHOOK_GLOBAL_CONFIG", "/nonexistent/git-webhook.toml");
    cmd
}

/// A git command isolated from the machine's and the user's configuration.
pub fn git_cmd(dir: &Path) -> Command {
    hermetic(Command::new("git"), dir)
}

/// Runs git, panicking with its stderr if it fails; returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare repository `dir/<name>.git` with the hook and `webhook.toml`, and its clone
/// `dir/<name>.work`: one of many below a directory a worker serves.
pub fn repository_below(dir: &Path, name: &str, config: &str) -> Work {
    let bare = dir.join(format!("{name}.git"));
    let work = dir.join(format!("{name}.work"));
    git(
        dir,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &bare.to_string_lossy(),
        ],
    );
    std::os::unix::fs::symlink(bin(), bare.join("hooks").join("post-receive")).expect("hook");
    std::fs::write(bare.join("webhook.toml"), config).expect("config");
    git(
        dir,
        &[
            "clone",
            "-q",
            &bare.to_string_lossy(),
            &work.to_string_lossy(),
        ],
    );
    Work::at(work)
}

/// A temporary "server": one bare repository (`<tmp>/srv/acme/demo.git`) with the hook installed.
pub struct Server {
    pub tmp: tempfile::TempDir,
    pub bare: PathBuf,
}

impl Server {
    /// A bare repository with the binary symlinked as `hooks/<hook>` and `webhook.toml` written.
    pub fn new(config: &str) -> Server {
        Server::with_hook("post-receive", config)
    }

    pub fn with_hook(hook: &str, config: &str) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bare = tmp.path().join("srv").join("acme").join("demo.git");
        std::fs::create_dir_all(&bare).expect("mkdir");
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        let server = Server { tmp, bare };
        server.install(hook);
        server.write_config(config);
        server
    }

    /// Symlinks the binary as `hooks/<hook>` (a path like `post-receive.d/webhook` makes the folder).
    pub fn install(&self, hook: &str) {
        let path = self.bare.join("hooks").join(hook);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(bin(), path).expect("symlink");
    }

    pub fn write_config(&self, config: &str) {
        std::fs::write(self.bare.join("webhook.toml"), config).expect("write config");
    }

    /// A work clone of the bare repository.
    pub fn clone_work(&self) -> Work {
        git(
            self.tmp.path(),
            &["clone", "-q", &self.bare.to_string_lossy(), "work"],
        );
        Work {
            dir: self.tmp.path().join("work"),
            tick: AtomicI64::new(1_700_000_000),
        }
    }

    /// Pushes `refspec` from `work` into the bare repository without running the hook (the hook is
    /// then run by hand).
    pub fn receive(&self, work: &Work, refspec: &str) {
        git(
            &work.dir,
            &[
                "push",
                "-q",
                "--no-verify",
                &self.bare.to_string_lossy(),
                refspec,
            ],
        );
    }

    /// `git rev-list` in the bare repository: the oracle for commit selection.
    pub fn rev_list(&self, args: &[&str]) -> Vec<String> {
        let mut full = vec!["rev-list"];
        full.extend_from_slice(args);
        git(&self.bare, &full).lines().map(str::to_owned).collect()
    }

    /// Runs the binary directly, in the repository as a hook would, with `stdin`.
    pub fn run_hook(&self, args: &[&str], stdin: &[u8], envs: &[(&str, &str)]) -> Output {
        run_bin(
            &self.bare,
            args,
            stdin,
            &[&[("GIT_DIR", ".")], envs].concat(),
        )
    }
}

/// Runs the binary in `dir` with a hermetic environment.
pub fn run_bin(dir: &Path, args: &[&str], stdin: &[u8], envs: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let mut cmd = hermetic(Command::new(bin()), dir);
    cmd.args(args).envs(envs.iter().copied());
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// A work clone whose commits get increasing, pinned dates.
pub struct Work {
    pub dir: PathBuf,
    tick: AtomicI64,
}

impl Work {
    /// A work clone already at `dir`.
    pub fn at(dir: PathBuf) -> Work {
        Work {
            dir,
            tick: AtomicI64::new(1_700_000_000),
        }
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    pub fn write(&self, path: &str, text: &str) {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// Commits everything with the next pinned date (committer offset +02:00); returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        let t = self.tick.fetch_add(60, Ordering::SeqCst);
        self.commit_at(
            message,
            &format!("@{t} +0200"),
            &format!("@{} +0200", t - 3600),
        )
    }

    pub fn commit_at(&self, message: &str, committer_date: &str, author_date: &str) -> String {
        self.git(&["add", "-A"]);
        self.git_at(
            &["commit", "-q", "--allow-empty", "-m", message],
            committer_date,
            author_date,
        );
        self.git(&["rev-parse", "HEAD"])
    }

    /// `git merge --no-ff <branch>` with this message, dated `date` (`None`: now); returns the merge's id.
    pub fn merge(&self, branch: &str, message: &str, date: Option<&str>) -> String {
        let args = ["merge", "-q", "--no-ff", branch, "-m", message];
        match date {
            Some(d) => self.git_at(&args, d, d),
            None => {
                self.git(&args);
            }
        }
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs git with pinned committer and author dates, panicking with its stderr if it fails.
    fn git_at(&self, args: &[&str], committer_date: &str, author_date: &str) {
        let out = git_cmd(&self.dir)
            .args(args)
            .env("GIT_COMMITTER_DATE", committer_date)
            .env("GIT_AUTHOR_DATE", author_date)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `n` commits, each adding one file; returns their ids, oldest first.
    pub fn commits(&self, n: usize, prefix: &str) -> Vec<String> {
        (0..n)
            .map(|i| {
                self.write(&format!("{prefix}/{i}.txt"), &format!("{prefix} {i}\n"));
                self.commit(&format!("{prefix} commit {i}"))
            })
            .collect()
    }

    /// A real `git push`; returns its stderr (where the hook's `remote:` lines are). Panics if the push fails.
    pub fn push(&self, args: &[&str]) -> String {
        self.push_env(args, &[])
    }

    pub fn push_env(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let mut cmd = git_cmd(&self.dir);
        cmd.arg("push").args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("git push");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "git push {args:?} failed:\n{stderr}");
        stderr
    }
}

/// `[delivery] mode = "sync"`: results as `remote:` lines, for tests that read them.
pub const SYNC: &str = "[delivery]\nmode = \"sync\"\n\n";

/// A `webhook.toml` (sync delivery) with one gitlab endpoint at `url` and the given extra endpoint keys.
pub fn config_for(url: &str, extra: &str) -> String {
    config_in_format(url, "gitlab", extra)
}

/// The same with an endpoint of another format.
pub fn config_in_format(url: &str, format: &str, extra: &str) -> String {
    format!(
        "{SYNC}[project]\nweb_url = \"https://git.example.com/acme/demo\"\n\n\
         [users.alice]\nname = \"Alice Example\"\nemail = \"alice@example.com\"\nid = 4\n\n\
         [[endpoint]]\nurl = \"{url}\"\nformat = \"{format}\"\n{extra}\n"
    )
}

/// A receiver that answers 503 while the flag is set (as it starts), 200 once it is cleared.
pub fn down_until_cleared() -> (Receiver, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let down = std::sync::Arc::new(AtomicBool::new(true));
    let d = std::sync::Arc::clone(&down);
    let receiver = Receiver::start_with(move |_| Reply {
        status: if d.load(Ordering::SeqCst) { 503 } else { 200 },
        ..Reply::default()
    })
    .expect("receiver");
    (receiver, down)
}

/// Waits for exactly `n` requests (and a moment more, to catch extras).
pub fn expect_requests(receiver: &Receiver, n: usize) -> Vec<Request> {
    let got = receiver.wait_for(n, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(100));
    let got_now = receiver.requests();
    assert_eq!(
        got_now.len(),
        n,
        "expected {n} requests, got {}: {:#?}",
        got_now.len(),
        got.iter()
            .map(|r| r.json()["ref"].clone())
            .collect::<Vec<_>>()
    );
    got_now
}

/// The commit ids of a payload's `commits`, in order.
pub fn ids(body: &Value) -> Vec<String> {
    body["commits"]
        .as_array()
        .expect("commits array")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

/// `rev-list` output (newest first) as a payload would list its newest `cap`: oldest first.
pub fn newest_oldest_first(newest_first: &[String], cap: usize) -> Vec<String> {
    let mut v: Vec<String> = newest_first.iter().take(cap).cloned().collect();
    v.reverse();
    v
}

/// The metrics page a worker serves, fetched with a plain HTTP request.
pub fn scrape_metrics(port: u16) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = std::io::Write::write_all(&mut s, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut text);
    text
}

/// A port of 127.0.0.1 free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A self-signed certificate for 127.0.0.1 (its own CA), made in-process, and its key.
pub fn self_signed_localhost() -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("certificate parameters");
    params.subject_alt_names = vec![rcgen::SanType::IpAddress(
        std::net::Ipv4Addr::LOCALHOST.into(),
    )];
    let cert = params.self_signed(&key).expect("self-signed certificate");
    (cert, key)
}
