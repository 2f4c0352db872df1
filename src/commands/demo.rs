//! `git-webhook demo`: a throw-away bare repository with the hook installed, a receiver on 127.0.0.1,
//! three real pushes (commits, a branch, a tag), and what the receiver got.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::delivery::queue::{Filter, Log as _};
use std::process::Command;
use std::time::Duration;

use crate::env::HookEnv;
use crate::format::Format;
use crate::receiver::{Receiver, Request};

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`git {args}` failed: {stderr}")]
    Git { args: String, stderr: String },
    #[error("the receiver got {got} webhook(s), expected {expected}; see the remote: lines above")]
    Missing { got: usize, expected: usize },
}

fn io<T>(what: impl Into<String>, r: std::io::Result<T>) -> Result<T, DemoError> {
    r.map_err(|source| DemoError::Io {
        what: what.into(),
        source,
    })
}

/// Runs git in `dir` with a cleared environment: nothing of the user's git or git-webhook settings (an
/// exported `GIT_DIR`, a global config) reaches it, and it writes nowhere but the demo's directory.
fn git(dir: &Path, args: &[&str], env: &HookEnv) -> Result<(), DemoError> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            env.vars.get("PATH").map_or("/usr/bin:/bin", String::as_str),
        )
        .env("HOME", dir)
        .env("GIT_WEBHOOK_GLOBAL_CONFIG", "/nonexistent/git-webhook.toml")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Demo User")
        .env("GIT_AUTHOR_EMAIL", "demo@example.com")
        .env("GIT_COMMITTER_NAME", "Demo User")
        .env("GIT_COMMITTER_EMAIL", "demo@example.com")
        .env("GL_USERNAME", "demo")
        .stdout(std::process::Stdio::null())
        .stderr(if args.first() == Some(&"push") {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::piped()
        })
        .output();
    let output = io("cannot run git (is it installed and on PATH?)", output)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(DemoError::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

fn write(path: PathBuf, text: &str) -> Result<(), DemoError> {
    io(
        format!("cannot write {}", path.display()),
        std::fs::write(&path, text),
    )
}

/// Writes a file only its owner can read (the demo's configuration holds a secret).
fn write_private(path: PathBuf, text: &str) -> Result<(), DemoError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path);
    io(
        format!("cannot write {}", path.display()),
        file.and_then(|mut f| f.write_all(text.as_bytes())),
    )
}

fn summary(n: usize, r: &Request) -> String {
    let body = r.json();
    let mut text =
        format!(
        "#{n} {} {}  ({}: {} commit(s) in payload, total_commits_count {}, X-Gitlab-Token {})\n",
        r.header("X-Gitlab-Event").unwrap_or("?"),
        body["ref"].as_str().unwrap_or("?"),
        body["project"]["path_with_namespace"].as_str().unwrap_or("?"),
        body["commits"].as_array().map_or(0, Vec::len),
        body["total_commits_count"],
        if r.header("X-Gitlab-Token") == Some("demo-secret") { "matches" } else { "MISSING" },
    );
    for c in body["commits"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "     {} {:<22} added {} modified {} removed {}\n",
            &c["id"].as_str().unwrap_or("?")[..8.min(c["id"].as_str().unwrap_or("?").len())],
            c["title"].as_str().unwrap_or("?"),
            c["added"],
            c["modified"],
            c["removed"],
        ));
    }
    text
}

/// What the receiver got, in a format other than the default: each request's message (chat formats)
/// or its event header (else its method and URL) and ref, then the first body in full.
fn show_other(out: &mut dyn Write, format: &dyn Format, got: &[Request]) {
    for (i, r) in got.iter().enumerate() {
        match format.message_text(&r.body) {
            Some(text) => {
                let _ = writeln!(out, "#{} message:\n{text}\n", i + 1);
            }
            None => {
                let body = r.json();
                let event = r
                    .headers
                    .iter()
                    .find(|(n, _)| n.to_ascii_lowercase().contains("event"));
                let about = body["ref"]
                    .as_str()
                    .or_else(|| body["subject"].as_str())
                    .unwrap_or("");
                let _ = match event {
                    Some((_, v)) => writeln!(out, "#{} {v} {about}", i + 1),
                    // A notify-style request (`custom`): what it asks is in its method and URL.
                    None => writeln!(out, "#{} {} {} {about}", i + 1, r.method, r.path),
                };
            }
        }
    }
}

/// The requests the demo's endpoints (its configuration file `config`) make for its three pushes
/// (two new branches that bring commits, and a new tag), counted as the hook counts them.
fn expected(config: &Path, bare: &Path, env: &HookEnv) -> Result<usize, DemoError> {
    let loaded = crate::config::load(Some(config), env, bare, &Default::default())
        .ok()
        .flatten()
        .ok_or(DemoError::Missing {
            got: 0,
            expected: 1,
        })?;
    let zero = "0".repeat(40);
    let one = "1".repeat(40);
    Ok(["refs/heads/main", "refs/heads/feature", "refs/tags/v1.0"]
        .iter()
        .filter_map(|r| crate::model::RefUpdate::new(&zero, &one, r).ok())
        .map(|u| {
            let asked = crate::delivery::plan::Asked {
                brings_commits: &|_| true,
                touches: &|_, _| true,
            };
            crate::delivery::plan::count(&loaded.config.endpoints, &[u], &asked)
        })
        .sum())
}

/// Runs the demo with an endpoint of format `format_id`, writing what happens to `out`.
pub fn run(out: &mut dyn Write, env: &HookEnv, format_id: &str) -> Result<(), DemoError> {
    let format = crate::format::by_id(format_id)
        .or_else(|| crate::format::by_id(crate::format::DEFAULT))
        .ok_or(DemoError::Missing {
            got: 0,
            expected: 1,
        })?;
    let chat_id = if format.keys().contains(&"chat_id") {
        "chat_id = \"-1001234567890\"\n"
    } else {
        ""
    };
    let receiver = io("cannot listen on 127.0.0.1", Receiver::start())?;
    let tmp = io(
        "cannot create a temporary directory",
        tempfile::Builder::new()
            .prefix("git-webhook-demo")
            .tempdir_in(&env.temp_dir),
    )?;
    let bare = tmp.path().join("srv").join("acme").join("demo.git");
    let work = tmp.path().join("work");
    io(
        "cannot create the demo directories",
        std::fs::create_dir_all(&bare),
    )?;
    git(&bare, &["init", "-q", "--bare", "-b", "main"], env)?;
    let config = format!(
        "[project]\nweb_url = \"https://git.example.com/acme/demo\"\ndescription = \"git-webhook demo\"\n\n\
         [users.demo]\nname = \"Demo User\"\nemail = \"demo@example.com\"\n\n\
         [[endpoint]]\nurl = \"{}\"\nformat = \"{}\"\nsecret = \"demo-secret\"\n{chat_id}",
        receiver.url("/hook"),
        format.id()
    );
    write_private(bare.join("webhook.toml"), &config)?;
    let exe = env.exe.clone().ok_or_else(|| DemoError::Io {
        what: "cannot find this program's own path".to_owned(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    io(
        "cannot install the hook",
        std::os::unix::fs::symlink(&exe, bare.join("hooks").join("post-receive")),
    )?;
    let _ = writeln!(
        out,
        "Bare repository {} with hooks/post-receive -> {}",
        bare.display(),
        exe.display()
    );
    let _ = writeln!(out, "Receiver listening on {}\n", receiver.url("/hook"));

    git(
        tmp.path(),
        &["clone", "-q", &bare.to_string_lossy(), "work"],
        env,
    )?;
    write(work.join("README.md"), "# demo\n")?;
    git(&work, &["add", "."], env)?;
    git(&work, &["commit", "-q", "-m", "Add README"], env)?;
    write(work.join("app.txt"), "version 1\n")?;
    git(&work, &["add", "."], env)?;
    git(&work, &["commit", "-q", "-m", "Add the app"], env)?;
    git(&work, &["mv", "app.txt", "main.txt"], env)?;
    write(work.join("README.md"), "# demo\n\nNow with an app.\n")?;
    git(
        &work,
        &[
            "commit",
            "-q",
            "-a",
            "-m",
            "Rename the app and describe it\n\nA longer body.",
        ],
        env,
    )?;
    let _ = writeln!(out, "$ git push origin main            # 3 new commits");
    let _ = out.flush();
    git(&work, &["push", "-q", "origin", "main"], env)?;
    git(&work, &["checkout", "-q", "-b", "feature"], env)?;
    write(work.join("feature.txt"), "wip\n")?;
    git(&work, &["add", "."], env)?;
    git(&work, &["commit", "-q", "-m", "Start a feature"], env)?;
    let _ = writeln!(
        out,
        "$ git push origin feature         # a new branch with 1 new commit"
    );
    let _ = out.flush();
    git(&work, &["push", "-q", "origin", "feature"], env)?;
    git(
        &work,
        &["tag", "-a", "v1.0", "-m", "Release 1.0", "main"],
        env,
    )?;
    let _ = writeln!(out, "$ git push origin v1.0            # an annotated tag");
    let _ = out.flush();
    git(&work, &["push", "-q", "origin", "v1.0"], env)?;

    let expected = expected(&bare.join("webhook.toml"), &bare, env)?;
    let got = receiver.wait_for(expected, Duration::from_secs(15));
    let _ = writeln!(out, "\nThe receiver got {} webhook(s):", got.len());
    if format.id() == crate::format::DEFAULT {
        for (i, r) in got.iter().enumerate() {
            let _ = write!(out, "{}", summary(i + 1, r));
        }
    } else {
        show_other(out, format, &got);
    }
    if let Some(first) = got.first() {
        let _ = writeln!(
            out,
            "\nThe first one in full ({} {}):",
            first.method,
            // A chat format's path holds its credential (Telegram's bot token).
            if format.url_is_secret() {
                crate::secret::REDACTED
            } else {
                &first.path
            }
        );
        for (name, value) in &first.headers {
            let _ = writeln!(out, "{name}: {value}");
        }
        let _ = writeln!(
            out,
            "\n{}",
            serde_json::to_string_pretty(&first.json()).unwrap_or_default()
        );
    }
    // The background deliverer logs each delivery once its answer is in.
    let spool = crate::delivery::spool::Spool::open(
        &bare.join(crate::config::Delivery::default().spool_dir),
        "demo",
    );
    if let Ok(spool) = spool {
        let logged = || {
            spool
                .records(&Filter::default(), usize::MAX)
                .unwrap_or_default()
        };
        for _ in 0..150 {
            if logged().len() >= got.len() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = writeln!(out, "The delivery log (`git webhook log`):");
        let last: Vec<_> = logged().into_iter().rev().take(10).rev().collect();
        super::status::show_log(&last, false, false, out);
    }
    if got.len() < expected {
        return Err(DemoError::Missing {
            got: got.len(),
            expected,
        });
    }
    let _ = writeln!(out, "\nDemo finished: 3 pushes, {expected} webhooks. Try `git-webhook --help` and config.example.toml next.");
    Ok(())
}
