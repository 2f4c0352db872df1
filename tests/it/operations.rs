//! What an admin runs over file spools: `status`, `log` and `redeliver` across every repository below
//! a directory (`--all DIR`) with filters, and the metrics a `deliver --watch --metrics` worker serves.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    bin, free_port, git, hermetic, run_bin, scrape_metrics, Receiver, Reply, Server, Work,
};

/// A receiver that takes `/ok` and refuses `/gone` for good (410: a dead letter at once).
fn ok_and_gone() -> Receiver {
    Receiver::start_with(|r| Reply {
        status: if r.path.starts_with("/gone") {
            410
        } else {
            200
        },
        ..Reply::default()
    })
    .expect("receiver")
}

/// `queue` mode (the hook only queues) with endpoints `/ok` and `/gone`.
fn queued_config(receiver: &Receiver) -> String {
    format!(
        "[delivery]\nmode = \"queue\"\n[[endpoint]]\nurl = \"{}\"\n[[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/ok"),
        receiver.url("/gone")
    )
}

fn push_one(server: &Server, message: &str) -> Work {
    let work = server.clone_work();
    work.commit(message);
    work.push(&["origin", "HEAD:main"]);
    work
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = run_bin(dir, args, b"", &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn status_log_and_redeliver_cover_every_repository_below_a_directory() {
    let receiver = ok_and_gone();
    let a = Server::new(&queued_config(&receiver));
    // A second repository below the same directory (`srv/`) as the first.
    let root = a.tmp.path().join("srv");
    let b = Server {
        tmp: tempfile::tempdir().expect("tempdir"),
        bare: root.join("sub").join("b.git"),
    };
    std::fs::create_dir_all(&b.bare).expect("mkdir");
    git(&b.bare, &["init", "-q", "--bare", "-b", "main"]);
    b.install("post-receive");
    b.write_config(&queued_config(&receiver));
    push_one(&a, "to a");
    push_one(&b, "to b");
    for s in [&a, &b] {
        run(&s.bare, &["deliver"]);
    }
    assert_eq!(receiver.wait_for(4, Duration::from_secs(20)).len(), 4);
    let all = root.to_string_lossy().into_owned();

    let counts = run(&root, &["status", "--all", &all, "--json"]);
    let rows: Vec<serde_json::Value> = counts
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 2, "one line per repository: {counts}");
    for row in &rows {
        assert_eq!(row["dead"], 1, "{row}");
        assert_eq!(row["pending"], 0, "{row}");
    }

    let dead = run(&root, &["status", "--all", &all, "--state", "dead"]);
    assert_eq!(dead.matches("/gone").count(), 2, "{dead}");
    assert!(!dead.contains("/ok"), "{dead}");
    let only_b = run(
        &root,
        &[
            "status", "--all", &all, "--state", "dead", "--repo", "sub/b",
        ],
    );
    assert_eq!(only_b.matches("/gone").count(), 1, "{only_b}");

    let log = run(
        &root,
        &["log", "--all", &all, "--endpoint", "/ok", "--json"],
    );
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 2, "{log}");
    assert!(
        records
            .iter()
            .all(|r| r["outcome"] == "delivered" && r["status"] == 200),
        "{log}"
    );
    // As text, each line names its repository.
    let text = run(&root, &["log", "--all", &all, "--endpoint", "/ok"]);
    assert_eq!(text.lines().count(), 2, "{text}");
    for line in text.lines() {
        assert!(line.contains(" delivered #1 200 "), "{line}");
        assert!(
            line.contains(".git refs/heads/main -> "),
            "the repository, then the ref: {line}"
        );
    }
    let within = |since: &str| run(&root, &["log", "--all", &all, "--since", since, "--json"]);
    assert_eq!(within("1h").lines().count(), 4, "every attempt of the hour");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(within("1s"), "", "none within the last second");

    // Every dead letter below the directory, sent again in one command.
    let resent = run(&root, &["redeliver", "--all", &all, "--state", "dead"]);
    let requeued: Vec<&str> = resent
        .lines()
        .filter(|l| l.starts_with("requeued job"))
        .collect();
    assert_eq!(requeued.len(), 2, "{resent}");
    assert!(requeued
        .iter()
        .all(|l| l.ends_with("/gone) from the dead letters")));
    let requests = receiver.wait_for(6, Duration::from_secs(20));
    assert_eq!(
        requests.iter().filter(|r| r.path == "/gone").count(),
        4,
        "each dead letter once more"
    );
}

#[test]
fn a_watching_worker_serves_counts_attempts_and_latencies_as_metrics() {
    let receiver = ok_and_gone();
    let server = Server::new(&queued_config(&receiver));
    push_one(&server, "metered");
    let port = free_port();
    // The worker's clock an hour ahead: a job's time in the queue is by the worker's clock.
    let pushed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let hour_later = (pushed + Duration::from_secs(3600)).as_millis().to_string();
    let mut worker: Child = hermetic(Command::new(bin()), &server.bare)
        .args([
            "deliver",
            "--watch",
            "--metrics",
            &format!("127.0.0.1:{port}"),
        ])
        .env("GIT_WEBHOOK_NOW", &hour_later)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start worker");
    let repo = server
        .bare
        .canonicalize()
        .expect("canonical")
        .display()
        .to_string();
    let dead = format!("git_webhook_jobs_dead{{repo=\"{repo}\"}} 1\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = scrape_metrics(port);
        if text.contains(&dead) && text.contains("git_webhook_attempt_duration_seconds_count 2") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    for line in [
        "git_webhook_attempts_total{outcome=\"delivered\",status=\"2xx\"} 1".to_owned(),
        "git_webhook_attempts_total{outcome=\"dead\",status=\"4xx\"} 1".to_owned(),
        format!("git_webhook_jobs_dead{{repo=\"{repo}\"}} 1"),
        format!("git_webhook_jobs_pending{{repo=\"{repo}\"}} 0"),
        format!("git_webhook_jobs_in_flight{{repo=\"{repo}\"}} 0"),
        "git_webhook_attempt_duration_seconds_count 2".to_owned(),
        "git_webhook_time_in_queue_seconds_count 1".to_owned(),
    ] {
        assert!(text.contains(&line), "no {line:?} in:\n{text}");
    }
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends so"
    );
    let in_queue: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("git_webhook_time_in_queue_seconds_sum "))
        .and_then(|v| v.parse().ok())
        .expect("time in queue");
    assert!(
        (3600.0..=3610.0).contains(&in_queue),
        "an hour by the worker's clock: {in_queue}"
    );
}
