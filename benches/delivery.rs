//! Delivery benchmark (not a test): prints, with the baseline measured in the same run,
//!  1. `git push` wall time with the hook and 4 endpoints that each answer after 3 s, against the same
//!     push into a repository without the hook (target: ratio < 1.5);
//!  2. the time until 50 endpoints that each answer after 1 s have all received a push (target: <= 2 s);
//!  3. events per second when `git-webhook deliver` drains 10,000 queued jobs (one push of 1,000 new
//!     branches to 10 endpoints, queued by the hook itself) to a receiver on 127.0.0.1, one request at
//!     a time (target: >= 1,000/s).
//!
//! Run with `cargo bench --bench delivery`. Everything listens on 127.0.0.1; every loop is bounded;
//! git runs with a cleared environment in temporary directories only.
#![allow(clippy::print_stdout, clippy::disallowed_methods, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../src/receiver.rs"]
mod receiver;
use receiver::{Receiver, Reply};

const RUNS: usize = 9;

/// `cmd` with a cleared environment: nothing of the caller's git (an exported `GIT_DIR`) or
/// git-webhook settings reaches it.
fn hermetic(mut cmd: Command, dir: &Path) -> Command {
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_WEBHOOK_GLOBAL_CONFIG", "/nonexistent");
    cmd
}

fn git(dir: &Path, args: &[&str]) {
    let out = hermetic(Command::new("git"), dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("cargo")
        .args(["build", "--release", "--quiet"])
        .current_dir(&root)
        .env_remove("GIT_DIR")
        .status()
        .unwrap();
    assert!(status.success());
    root.join("target/release/git-webhook")
}

/// A bare repository (with the hook and `config` when given) and a work clone with one commit.
fn repo(tmp: &Path, name: &str, bin: &Path, config: Option<&str>) -> (PathBuf, PathBuf) {
    let bare = tmp.join(format!("{name}.git"));
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    if let Some(config) = config {
        std::os::unix::fs::symlink(bin, bare.join("hooks/post-receive")).unwrap();
        std::fs::write(bare.join("webhook.toml"), config).unwrap();
    }
    let work = tmp.join(format!("{name}-work"));
    git(
        tmp,
        &[
            "clone",
            "-q",
            &bare.to_string_lossy(),
            &work.to_string_lossy(),
        ],
    );
    std::fs::write(work.join("f.txt"), "0\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "start"]);
    (bare, work)
}

/// Commits once more and pushes; returns the push's wall time.
fn push(work: &Path, n: usize) -> Duration {
    std::fs::write(work.join("f.txt"), format!("change {n}\n")).unwrap();
    git(work, &["commit", "-q", "-a", "-m", &format!("change {n}")]);
    let t = Instant::now();
    git(work, &["push", "-q", "origin", "main"]);
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn endpoints(urls: impl Iterator<Item = String>) -> String {
    urls.map(|u| format!("[[endpoint]]\nurl = \"{u}\"\n\n"))
        .collect()
}

fn push_time(tmp: &Path, bin: &Path) {
    let receiver = Receiver::start_with(|_| Reply {
        delay: Duration::from_secs(3),
        ..Reply::default()
    })
    .unwrap();
    let config = endpoints((0..4).map(|i| receiver.url(&format!("/slow{i}"))));
    let (_, hooked) = repo(tmp, "hooked", bin, Some(&config));
    let (_, plain) = repo(tmp, "plain", bin, None);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for n in 0..RUNS {
        without.push(push(&plain, n));
        with.push(push(&hooked, n));
    }
    let got = receiver.wait_for(4 * RUNS, Duration::from_secs(60)).len();
    let (w, wo) = (median(with), median(without));
    println!("push, 4 endpoints x 3 s:   {:>7.1} ms with the hook, {:>7.1} ms without; ratio {:.2} (target < 1.5); {got} of {} requests arrived", w.as_secs_f64() * 1e3, wo.as_secs_f64() * 1e3, w.as_secs_f64() / wo.as_secs_f64(), 4 * RUNS);
}

fn fan_out(tmp: &Path, bin: &Path) {
    let receiver = Receiver::start_with(|_| Reply {
        delay: Duration::from_secs(1),
        ..Reply::default()
    })
    .unwrap();
    let config = endpoints((0..50).map(|i| receiver.url(&format!("/e{i}"))));
    let (_, work) = repo(tmp, "fanout", bin, Some(&config));
    let mut times = Vec::new();
    for n in 0..RUNS {
        let before = receiver.requests().len();
        let t = Instant::now();
        push(&work, n);
        // All 50 answered: the receiver records a request before its 1 s reply, so wait for the replies too.
        let got = receiver.wait_for(before + 50, Duration::from_secs(30));
        let arrivals: Vec<Instant> = got.iter().skip(before).map(|r| r.received_at).collect();
        let (first, last) = (
            *arrivals.iter().min().unwrap(),
            *arrivals.iter().max().unwrap(),
        );
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            println!(
                "  first request {:?} after the push began, last {:?}",
                first.duration_since(t),
                last.duration_since(t)
            );
        }
        times.push(last.duration_since(t) + Duration::from_secs(1));
    }
    println!("50 endpoints x 1 s:        {:>7.1} ms from push to every endpoint answered (median of {RUNS}; target <= 2000 ms)", median(times).as_secs_f64() * 1e3);
}

fn drain(tmp: &Path, bin: &Path) {
    const BRANCHES: usize = 1_000;
    const ENDPOINTS: usize = 10;
    const JOBS: usize = BRANCHES * ENDPOINTS;
    let receiver = Receiver::start().unwrap();
    let config = format!(
        "[delivery]\nmode = \"queue\"\nmax_parallel = 1\n\n{}",
        endpoints((0..ENDPOINTS).map(|i| receiver.url(&format!("/drain{i}"))))
    );
    let (bare, work) = repo(tmp, "drain", bin, Some(&config));
    let refs: String = (0..BRANCHES)
        .map(|i| format!("create refs/heads/b{i} HEAD\n"))
        .collect();
    let mut update = hermetic(Command::new("git"), &work)
        .args(["update-ref", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(update.stdin.as_mut().unwrap(), refs.as_bytes()).unwrap();
    assert!(update.wait().unwrap().success());
    let setup = Instant::now();
    git(&work, &["push", "-q", "origin", "--all"]);
    let setup = setup.elapsed();
    let t = Instant::now();
    let out = hermetic(Command::new(bin), tmp)
        .args(["deliver", "--repo"])
        .arg(&bare)
        .output()
        .unwrap();
    let took = t.elapsed();
    let delivered = receiver.wait_for(JOBS, Duration::from_secs(5)).len();
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    println!(
        "drain {JOBS} queued jobs:    {:>7.1} ms, {:.0} events/s (target >= 1000/s); {delivered} received; the push that queued them took {:.1} s; deliver said: {last}",
        took.as_secs_f64() * 1e3,
        JOBS as f64 / took.as_secs_f64(),
        setup.as_secs_f64(),
    );
}

fn main() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    push_time(tmp.path(), &bin);
    fan_out(tmp.path(), &bin);
    drain(tmp.path(), &bin);
}
