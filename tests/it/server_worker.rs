//! One worker for a whole server on the file spool (`deliver --watch --all DIR`): twenty
//! repositories with retries, a repository made while it runs, the worker killed with kill -9 and
//! another started; hooks leave their pushes to it (and say so) while it listens, and start their
//! own deliverer while none does. Nothing is lost, and each endpoint's webhooks arrive in push order.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

/// A repository below `dir` (`dir/<name>.git`) with the hook, sending to `url`, and its clone.
fn repository(dir: &Path, name: &str, url: &str) -> Work {
    let config = format!(
        "[delivery]\nretry_schedule = [\"1s\", \"1s\", \"1s\"]\nretry_jitter = 0.0\n\n\
         [[endpoint]]\nurl = \"{url}\"\n"
    );
    repository_below(dir, name, &config)
}

fn worker(dir: &Path, out: &str, args: &[&str]) -> Child {
    hermetic(Command::new(bin()), dir)
        .args(["deliver", "--watch", "--all", &dir.to_string_lossy()])
        .args(args)
        .env("TMPDIR", dir)
        .stdout(std::fs::File::create(dir.join(out)).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("worker")
}

fn push(work: &Work, i: usize) -> String {
    work.commit(&format!("change {i}"));
    work.push(&["origin", "HEAD:main"])
}

#[test]
fn one_worker_serves_every_repository_below_a_directory_through_retries_and_a_kill() {
    // Every webhook is refused once (503), then taken: each goes through a retry.
    let tried: Arc<Mutex<HashSet<String>>> = Arc::default();
    let t = Arc::clone(&tried);
    let receiver = Receiver::start_with(move |r| {
        let key = r.header("Idempotency-Key").unwrap_or_default().to_owned();
        let first = t.lock().map(|mut t| t.insert(key)).unwrap_or(false);
        Reply {
            status: if first { 503 } else { 200 },
            ..Reply::default()
        }
    })
    .expect("receiver");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir: PathBuf = tmp.path().canonicalize().expect("dir").join("srv");
    std::fs::create_dir_all(&dir).expect("srv");
    let works: Vec<Work> = (0..20)
        .map(|n| {
            repository(
                &dir,
                &format!("r{n:02}"),
                &receiver.url(&format!("/r{n:02}")),
            )
        })
        .collect();
    let first = worker(&dir, "worker1.log", &[]);
    std::thread::sleep(Duration::from_millis(500));
    let mut pushed: HashMap<String, Vec<String>> = HashMap::new();
    for (n, work) in works.iter().enumerate() {
        let said = push(work, 0);
        assert!(
            said.contains(&format!("queued for the worker serving {}", dir.display())),
            "the hook leaves its push to the worker: {said}"
        );
        pushed
            .entry(format!("/r{n:02}"))
            .or_default()
            .push(work.git(&["rev-parse", "HEAD"]));
    }
    // A repository made while the worker runs is served too.
    let late = repository(&dir, "late", &receiver.url("/late"));
    let said = push(&late, 0);
    assert!(said.contains("queued for the worker"), "{said}");
    pushed
        .entry("/late".into())
        .or_default()
        .push(late.git(&["rev-parse", "HEAD"]));
    // kill -9 while retries are under way; pushes while no worker listens start their own
    // deliverer; then another worker takes over (the socket the first left behind).
    std::thread::sleep(Duration::from_millis(700));
    let mut first = first;
    let _ = first.kill();
    let _ = first.wait();
    for (n, work) in works.iter().enumerate().take(5) {
        let said = push(work, 1);
        assert!(
            said.contains("sending in the background"),
            "no worker listens: {said}"
        );
        pushed
            .entry(format!("/r{n:02}"))
            .or_default()
            .push(work.git(&["rev-parse", "HEAD"]));
    }
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let mut second = worker(&dir, "worker2.log", &["--metrics", &metrics]);
    for (n, work) in works.iter().enumerate().skip(5).take(5) {
        std::thread::sleep(Duration::from_millis(50));
        let said = push(work, 1);
        pushed
            .entry(format!("/r{n:02}"))
            .or_default()
            .push(work.git(&["rev-parse", "HEAD"]));
        assert!(!said.contains("warning"), "{said}");
    }
    let expected: usize = pushed.values().map(Vec::len).sum();
    let deadline = Instant::now() + Duration::from_secs(60);
    // A key seen twice was refused, then taken.
    let taken = |got: &[Request]| {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for r in got {
            *seen
                .entry(r.header("Idempotency-Key").unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        seen.values().filter(|&&n| n >= 2).count()
    };
    while taken(&receiver.requests()) < expected {
        assert!(
            Instant::now() < deadline,
            "not everything arrived twice (refused, then taken): {} of {expected}\n{}",
            receiver.requests().len(),
            std::fs::read_to_string(dir.join("worker2.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Its metrics count what it sent, and what waits in each repository.
    let page = scrape_metrics(port);
    assert!(
        page.contains("git_webhook_attempts_total{outcome=\"delivered\",status=\"2xx\"}"),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "git_webhook_jobs_pending{{repo=\"{}",
            dir.display()
        )),
        "{page}"
    );
    assert!(page.contains("git_webhook_queue_up 1"), "{page}");
    let _ = second.kill();
    let _ = second.wait();
    // Each endpoint got its pushes in push order (first arrivals), each one refused once and
    // taken once (a kill may add a repeat with the same key, never a loss).
    let got = receiver.requests();
    for (path, shas) in &pushed {
        let mut seen = Vec::new();
        for r in got.iter().filter(|r| &r.path == path) {
            let after = r.json()["after"].as_str().unwrap_or_default().to_owned();
            if !seen.contains(&after) {
                seen.push(after);
            }
        }
        assert_eq!(&seen, shas, "{path}: in push order");
        let taken = got
            .iter()
            .filter(|r| &r.path == path)
            .map(|r| r.header("Idempotency-Key").unwrap_or_default())
            .collect::<HashSet<_>>();
        assert_eq!(taken.len(), shas.len(), "{path}: one key per push");
    }
}
