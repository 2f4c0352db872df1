//! The shared database queue, against a real PostgreSQL cluster: many repositories and workers,
//! workers killed, the database stopped and restarted, dead letters resent in a batch, metrics, TLS
//! to the database, the log's retention, a pass's reach whatever the table's statistics, claims
//! that touch no index, and what `config check`, `status`, `log` and `queue migrate` say. Skipped
//! (said) where PostgreSQL is not installed; `.ci/run` installs it and requires these to run.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::pg::Cluster;
use crate::support::{
    bin, free_port, hermetic, run_bin, scrape_metrics, self_signed_localhost, Receiver, Reply,
    Request, Server, Work,
};

/// The server-wide file every repository and worker reads: the queue.
fn global(dir: &Path, url: &str, extra: &str) -> PathBuf {
    let path = dir.join("server.toml");
    std::fs::write(
        &path,
        format!("[delivery]\nqueue = \"{url}\"\nmode = \"queue\"\n{extra}\n"),
    )
    .expect("write server.toml");
    path
}

fn endpoint(url: &str) -> String {
    format!("[[endpoint]]\nurl = \"{url}\"\nsecret = \"s3cret-token\"\n")
}

/// A repository whose one endpoint is `receiver`, its file readable by its owner only.
fn server(receiver: &Receiver) -> Server {
    use std::os::unix::fs::PermissionsExt as _;
    let server = Server::new(&endpoint(&receiver.url("/hook")));
    let file = server.bare.join("webhook.toml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    server
}

/// A `deliver --watch` worker serving every repository.
fn worker(dir: &Path, global: &Path, log: &str) -> Child {
    worker_with(dir, global, log, &[])
}

fn worker_with(dir: &Path, global: &Path, log: &str, args: &[&str]) -> Child {
    let out = std::fs::File::create(dir.join(log)).expect("log file");
    hermetic(Command::new(bin()), dir)
        .args(["deliver", "--watch"])
        .args(args)
        .env("GIT_WEBHOOK_GLOBAL_CONFIG", global)
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start worker")
}

/// Pushes the work clone's HEAD to `main`, the hook reading the server-wide file `global`; returns
/// what git printed.
fn push_main(work: &Work, global: &Path) -> String {
    let g = global.to_string_lossy();
    work.push_env(
        &["-q", "origin", "HEAD:main"],
        &[("GIT_WEBHOOK_GLOBAL_CONFIG", &g)],
    )
}

fn stop(mut w: Child) {
    let _ = w.kill();
    let _ = w.wait();
}

/// Runs the binary in `dir` with the server-wide file; returns (status ok, stdout, stderr).
fn cli(dir: &Path, global: &Path, args: &[&str]) -> (bool, String, String) {
    let g = global.to_string_lossy();
    let out = run_bin(dir, args, b"", &[("GIT_WEBHOOK_GLOBAL_CONFIG", &g)]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn after(r: &Request) -> String {
    r.json()["after"].as_str().unwrap_or_default().to_owned()
}

fn delivery_id(r: &Request) -> String {
    r.header("Idempotency-Key").unwrap_or_default().to_owned()
}

/// One repository whose jobs go through the database to a receiver that answers at once: the
/// cluster, the receiver, the server-wide file (`extra`: more `[delivery]` lines), the repository,
/// a clone to push from, and the directory the file is in.
type One = (Cluster, Receiver, PathBuf, Server, Work, tempfile::TempDir);

fn one_repository(extra: &str) -> Option<One> {
    let db = Cluster::start()?;
    let receiver = Receiver::start().expect("receiver");
    let tmp = tempfile::tempdir().expect("tempdir");
    let g = global(tmp.path(), &db.url(), extra);
    let server = server(&receiver);
    let work = server.clone_work();
    Some((db, receiver, g, server, work, tmp))
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn thirty_two_pushes_in_eight_repositories_go_out_once_each_in_order_with_three_workers() {
    let Some(db) = Cluster::start() else { return };
    let receiver = Receiver::start().expect("receiver");
    let tmp = tempfile::tempdir().expect("tempdir");
    let g = global(tmp.path(), &db.url(), "");
    let servers: Vec<Server> = (0..8).map(|_| server(&receiver)).collect();
    let workers: Vec<Child> = (0..3)
        .map(|i| worker(tmp.path(), &g, &format!("worker{i}.log")))
        .collect();
    // 8 repositories pushed to at once, 4 pushes each: 32 pushes, one commit each.
    let pushed: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = servers
            .iter()
            .enumerate()
            .map(|(n, server)| {
                let g = &g;
                s.spawn(move || {
                    let work = server.clone_work();
                    (0..4)
                        .map(|i| {
                            let sha = work.commit(&format!("repository {n}, change {i}"));
                            let said = push_main(&work, g);
                            assert!(
                                said.contains("1 webhook(s) queued in postgresql://"),
                                "{said}"
                            );
                            sha
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("pushes"))
            .collect()
    });
    receiver.wait_for(32, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300)); // To catch a repeat.
    let got = receiver.requests();
    assert_eq!(got.len(), 32, "every event delivered, none twice");
    let ids: HashSet<String> = got.iter().map(delivery_id).collect();
    assert_eq!(ids.len(), 32, "32 distinct idempotency keys");
    let arrived: Vec<String> = got.iter().map(after).collect();
    for shas in &pushed {
        let order: Vec<&String> = arrived.iter().filter(|a| shas.contains(a)).collect();
        assert_eq!(
            order,
            shas.iter().collect::<Vec<_>>(),
            "one repository's events in push order"
        );
    }
    for r in &got {
        assert!(r.header("X-Gitlab-Token") == Some("s3cret-token"));
    }
    // Server-wide views, from anywhere.
    let (ok, status, _) = cli(tmp.path(), &g, &["status"]);
    assert!(ok, "{status}");
    assert!(
        status.contains("       0         0          0      0        0  in all, 8 repositories"),
        "{status}"
    );
    let (_, log, _) = cli(
        tmp.path(),
        &g,
        &["log", "--json", "-n", "100", "--state", "delivered"],
    );
    assert_eq!(log.lines().count(), 32, "{log}");
    let one = servers[3].bare.canonicalize().expect("path");
    let (_, log, _) = cli(tmp.path(), &g, &["log", "--repo", &one.to_string_lossy()]);
    assert_eq!(log.lines().count(), 4, "{log}");
    let stored = db.sql("SELECT string_agg(job::text, '') FROM git_webhook.jobs");
    assert!(
        !stored.contains("s3cret-token"),
        "no secret in the database"
    );
    for w in workers {
        stop(w);
    }
}

#[test]
fn killed_workers_and_a_database_restart_lose_nothing() {
    let Some(db) = Cluster::start() else { return };
    let receiver = Receiver::start_with(|_| Reply {
        delay: Duration::from_millis(100),
        ..Reply::default()
    })
    .expect("receiver");
    let tmp = tempfile::tempdir().expect("tempdir");
    let g = global(tmp.path(), &db.url(), "queue_lease = \"1s\"");
    let gs = g.to_string_lossy().into_owned();
    let server = server(&receiver);
    let work = server.clone_work();
    work.commit("base");
    let branches: Vec<String> = (0..12)
        .map(|i| format!("HEAD:refs/heads/b{i:02}"))
        .collect();
    let mut args = vec!["-q", "origin"];
    args.extend(branches.iter().map(String::as_str));
    work.push_env(&args, &[("GIT_WEBHOOK_GLOBAL_CONFIG", &gs)]);
    // kill -9 at three points within the sends.
    let mut kills = 0;
    for pause in [250, 420, 330] {
        let w = worker(tmp.path(), &g, "killed.log");
        std::thread::sleep(Duration::from_millis(pause));
        stop(w);
        kills += 1;
    }
    // The database restarts under a running worker, with pushes on both sides of it.
    let w = worker(tmp.path(), &g, "survivor.log");
    db.stop();
    std::thread::sleep(Duration::from_millis(500));
    db.start_again();
    let mut more = vec!["-q", "origin"];
    let later: Vec<String> = (0..4).map(|i| format!("HEAD:refs/heads/c{i}")).collect();
    more.extend(later.iter().map(String::as_str));
    work.push_env(&more, &[("GIT_WEBHOOK_GLOBAL_CONFIG", &gs)]);
    let refs = |got: &[Request]| {
        got.iter()
            .map(|r| r.json()["ref"].as_str().unwrap_or_default().to_owned())
            .collect::<HashSet<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while refs(&receiver.requests()).len() < 16 {
        if Instant::now() > deadline {
            let logs = ["killed.log", "survivor.log"]
                .map(|f| std::fs::read_to_string(tmp.path().join(f)).unwrap_or_default());
            panic!(
                "not all delivered: {:?}\n{}\njobs: {}",
                refs(&receiver.requests()),
                logs.join("\n---\n"),
                db.sql("SELECT refname, state, claimed_by, attempts FROM git_webhook.jobs ORDER BY seq")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let got = receiver.requests();
    let (_, status, _) = cli(tmp.path(), &g, &["status", "--json"]);
    assert!(status.contains("\"pending\":0"), "{status}");
    stop(w);
    let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
    for r in &got {
        by_id
            .entry(delivery_id(r))
            .or_default()
            .push(r.json()["ref"].to_string());
    }
    assert_eq!(by_id.len(), 16, "one idempotency key per event");
    let repeats: usize = by_id.values().map(|v| v.len() - 1).sum();
    assert!(
        repeats <= kills,
        "at most one repeat per killed worker, got {repeats}"
    );
    assert!(
        by_id.values().all(|v| v.iter().all(|r| r == &v[0])),
        "a repeat is the same event"
    );
    // Order within the endpoint: the b branches went out in push order.
    let firsts: Vec<String> = {
        let mut seen = HashSet::new();
        got.iter()
            .map(|r| r.json()["ref"].as_str().unwrap_or_default().to_owned())
            .filter(|r| r.starts_with("refs/heads/b") && seen.insert(r.clone()))
            .collect()
    };
    let mut sorted = firsts.clone();
    sorted.sort();
    assert_eq!(firsts, sorted);
}

/// The background deliverers running for the repository at `repo` (their command lines name it).
fn deliverers_of(repo: &Path) -> usize {
    let wanted = format!("--background\0--repo\0{}", repo.display());
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(&wanted))
        .count()
}

#[test]
fn a_deliverer_waiting_out_an_outage_ends_when_its_repository_is_removed() {
    let Some((db, _receiver, g, server, work, _tmp)) = one_repository("") else {
        return;
    };
    db.stop();
    work.commit("while down");
    push_main(&work, &g);
    let repo = server.bare.clone();
    wait_until("its deliverer", Duration::from_secs(10), || {
        deliverers_of(&repo) == 1
    });
    // Past its first tries: it waits between them.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(deliverers_of(&repo), 1, "still waiting for the database");
    std::fs::remove_dir_all(&repo).expect("remove the repository");
    // At its next try it sees the spool gone, rather than waiting out max_age for a database
    // that would take nothing of it.
    wait_until("its deliverer to end", Duration::from_secs(20), || {
        deliverers_of(&repo) == 0
    });
}

#[test]
fn pushes_while_the_database_is_down_wait_in_the_spool_and_arrive_after() {
    let Some((db, receiver, g, server, work, tmp)) = one_repository("") else {
        return;
    };
    db.stop();
    let mut shas = Vec::new();
    for i in 0..3 {
        shas.push(work.commit(&format!("while down {i}")));
        let started = Instant::now();
        let said = push_main(&work, &g);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the push does not hang"
        );
        assert_eq!(said.lines().count(), 1, "one remote: line: {said}");
        assert!(
            said.contains("1 webhook(s) wait in the repository's spool and move to the database when it is back"),
            "{said}"
        );
    }
    let queued = server.bare.join("webhook").join("queue");
    assert!(std::fs::read_dir(&queued).expect("spool").count() >= 1);
    // The deliverer the pushes started says the outage in the spool's warnings: once, whatever the
    // number of pushes and tries, and without the endpoint's secret.
    let warnings = server.bare.join("webhook").join("warnings.log");
    let outage = || {
        let text = std::fs::read_to_string(&warnings).unwrap_or_default();
        assert!(!text.contains("s3cret-token"), "{text}");
        text.matches("cannot connect to postgresql://").count()
    };
    wait_until(
        "the outage in the warnings",
        Duration::from_secs(10),
        || outage() > 0,
    );
    // An outage is said, never taken for an empty queue; what waits in the spool still shows.
    let gs = g.to_string_lossy();
    let status = run_bin(
        &server.bare,
        &["status"],
        b"",
        &[("GIT_WEBHOOK_GLOBAL_CONFIG", &gs)],
    );
    let (out, err) = (
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr),
    );
    assert_eq!(status.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("3 webhook(s) and 0 recorded push(es) wait to move into the database"),
        "{out}"
    );
    assert!(
        err.contains("error: cannot open the queue in the database"),
        "{err}"
    );
    assert!(
        err.contains("caused by: cannot connect to postgresql://"),
        "{err}"
    );
    let deliver = run_bin(
        &server.bare,
        &["deliver"],
        b"",
        &[("GIT_WEBHOOK_GLOBAL_CONFIG", &gs)],
    );
    assert_eq!(deliver.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&deliver.stderr).contains("cannot connect to postgresql://"));
    db.start_again();
    let w = worker(tmp.path(), &g, "worker.log");
    let got = receiver.wait_for(3, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    stop(w);
    assert_eq!(receiver.requests().len(), 3, "each once");
    assert_eq!(outage(), 1, "said once");
    assert_eq!(
        got.iter().map(after).collect::<Vec<_>>(),
        shas,
        "in push order"
    );
    assert_eq!(
        std::fs::read_dir(&queued).expect("spool").count(),
        0,
        "moved out of the spool"
    );
}

#[test]
fn a_receiver_down_for_a_while_gets_its_dead_letters_redelivered_in_one_batch() {
    let Some(db) = Cluster::start() else { return };
    let up = Arc::new(AtomicBool::new(false));
    let flag = up.clone();
    let receiver = Receiver::start_with(move |_| Reply {
        status: if flag.load(Ordering::SeqCst) {
            200
        } else {
            410
        },
        ..Reply::default()
    })
    .expect("receiver");
    let tmp = tempfile::tempdir().expect("tempdir");
    let g = global(tmp.path(), &db.url(), "");
    let server = server(&receiver);
    let work = server.clone_work();
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let w = worker_with(tmp.path(), &g, "worker.log", &["--metrics", &metrics]);
    for i in 0..3 {
        work.commit(&format!("during the outage {i}"));
        push_main(&work, &g);
    }
    let refused = receiver.wait_for(3, Duration::from_secs(30));
    wait_until("3 dead letters", Duration::from_secs(20), || {
        db.sql("SELECT count(*) FROM git_webhook.jobs WHERE state = 'dead'") == "3"
    });
    let repo = server.bare.canonicalize().expect("canonical");
    let gauge = |name: &str| format!("git_webhook_jobs_{name}{{repo=\"{}\"}}", repo.display());
    let page = scrape_metrics(port);
    for line in [
        format!("{} 3", gauge("dead")),
        format!("{} 0", gauge("pending")),
        "git_webhook_attempts_total{outcome=\"dead\",status=\"4xx\"} 3".to_owned(),
        "git_webhook_attempt_duration_seconds_count 3".to_owned(),
    ] {
        assert!(page.contains(&line), "no {line:?} in:\n{page}");
    }
    let (_, dead, _) = cli(tmp.path(), &g, &["status", "--state", "dead"]);
    assert_eq!(
        dead.lines().filter(|l| l.contains("410 Gone")).count(),
        3,
        "{dead}"
    );
    let (_, log, _) = cli(tmp.path(), &g, &["log", "--state", "dead", "--json"]);
    assert_eq!(log.lines().count(), 3, "{log}");
    let (ok, _, err) = cli(
        tmp.path(),
        &g,
        &[
            "redeliver",
            "--state",
            "dead",
            "--endpoint",
            "elsewhere.example",
        ],
    );
    assert!(
        !ok && err.contains("no delivered or dead webhook matches the options"),
        "{err}"
    );
    up.store(true, Ordering::SeqCst);
    let (ok, out, err) = cli(
        tmp.path(),
        &g,
        &["redeliver", "--state", "dead", "--since", "1h"],
    );
    assert!(ok, "{err}");
    assert_eq!(out.matches("requeued job").count(), 3, "{out}");
    let got = receiver.wait_for(6, Duration::from_secs(30));
    let delivered = "git_webhook_attempts_total{outcome=\"delivered\",status=\"2xx\"} 3";
    wait_until("the redelivered count", Duration::from_secs(20), || {
        scrape_metrics(port).contains(delivered)
    });
    stop(w);
    let resent: Vec<String> = got[3..].iter().map(delivery_id).collect();
    let first: Vec<String> = refused.iter().take(3).map(delivery_id).collect();
    assert_eq!(
        resent, first,
        "the same idempotency keys, in the same order"
    );
    let (_, dead, _) = cli(tmp.path(), &g, &["status", "--state", "dead"]);
    assert_eq!(dead, "", "no dead letter left");
}

#[test]
fn config_check_and_queue_migrate_describe_the_database_without_its_password() {
    let Some(db) = Cluster::start() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let g = global(
        tmp.path(),
        &db.url(),
        "queue_password_env = \"QUEUE_PASSWORD\"",
    );
    let server = Server::new(&endpoint("http://127.0.0.1:9/hook"));
    let gs = g.to_string_lossy().into_owned();
    let envs = [
        ("GIT_WEBHOOK_GLOBAL_CONFIG", gs.as_str()),
        ("QUEUE_PASSWORD", "hunter2-pw"),
    ];
    let out = run_bin(&server.bare, &["queue", "migrate"], b"", &envs);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("version 6 (this program's: 6), 0 job(s) queued"),
        "{text}"
    );
    let out = run_bin(&server.bare, &["config", "check"], b"", &envs);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("queue = \"{}\"", db.url())),
        "{text}"
    );
    assert!(
        text.contains("queue_password_env = \"QUEUE_PASSWORD\""),
        "{text}"
    );
    assert!(text.contains("schema version 6, 0 job(s) queued"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(db.sql("SELECT version FROM git_webhook.meta"), "6");
    // A database that is not there: a problem that names it.
    std::fs::write(
        &g,
        "[delivery]\nqueue = \"postgresql://hook:hunter2-pw@/x?host=/nonexistent\"\n",
    )
    .expect("write");
    let out = run_bin(&server.bare, &["config", "check"], b"", &envs);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("problem: [delivery] queue: cannot open the queue in the database: cannot connect to postgresql://hook:[REDACTED]@/x?host=/nonexistent"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    // Not a database URL: the file, line and key.
    std::fs::write(&g, "[delivery]\nqueue = \"mysql://db/x\"\n").expect("write");
    let out = run_bin(&server.bare, &["config", "check"], b"", &envs);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("server.toml:2"), "{text}");
    assert!(
        text.contains(
            "\"mysql://db/x\" is neither \"spool\" nor a postgres:// or postgresql:// URL"
        ),
        "{text}"
    );
}

#[test]
fn a_database_over_tls_is_trusted_through_queue_ca_file() {
    let (cert, key) = self_signed_localhost();
    let Some(db) = Cluster::start_tls(&cert.pem(), &key.serialize_pem()) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = tmp.path().join("db-ca.pem");
    std::fs::write(&ca, cert.pem()).expect("write CA");
    let port = db.tls_port.expect("a TLS port");
    let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=require");
    let server = Server::new(&endpoint("http://127.0.0.1:9/hook"));

    // Signed by no authority the system knows: refused, and said so.
    let g = global(tmp.path(), &url, "");
    let (ok, out, _) = cli(&server.bare, &g, &["config", "check"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("cannot connect to {url}")) && out.contains("UnknownIssuer"),
        "{out}"
    );

    // Its certificate in queue_ca_file: connected over TLS, and a push's job goes in.
    let g = global(
        tmp.path(),
        &url,
        &format!("queue_ca_file = \"{}\"", ca.display()),
    );
    let (ok, out, err) = cli(&server.bare, &g, &["config", "check"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("schema version 6, 0 job(s) queued"), "{out}");
    let work = server.clone_work();
    work.commit("over TLS");
    push_main(&work, &g);
    assert_eq!(db.sql("SELECT count(*) FROM git_webhook.jobs"), "1");
}

#[test]
fn the_delivery_log_and_finished_jobs_are_kept_for_queue_retention() {
    let Some((db, receiver, g, server, work, _tmp)) = one_repository("queue_retention = \"1s\"")
    else {
        return;
    };
    work.commit("kept a second");
    push_main(&work, &g);
    let (ok, out, err) = cli(&server.bare, &g, &["deliver"]);
    assert!(ok && out.contains("delivered 1,"), "{out}{err}");
    assert_eq!(receiver.requests().len(), 1);
    let kept = |what: &str| db.sql(&format!("SELECT count(*) FROM git_webhook.{what}"));
    assert_eq!((kept("attempts"), kept("jobs")), ("1".into(), "1".into()));
    let (_, shown, _) = cli(
        &server.bare,
        &g,
        &["status", "--state", "delivered", "--json"],
    );
    let finished: serde_json::Value = serde_json::from_str(shown.trim()).expect("one JSON line");
    assert_eq!(
        (&finished["dead"], &finished["job"]["attempts"]),
        (&serde_json::json!(false), &serde_json::json!(1)),
        "{shown}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    // The next pass prunes what is older than the retention.
    let (ok, out, err) = cli(&server.bare, &g, &["deliver"]);
    assert!(ok, "{out}{err}");
    assert_eq!((kept("attempts"), kept("jobs")), ("0".into(), "0".into()));
    let (_, log, _) = cli(&server.bare, &g, &["log"]);
    assert_eq!(log, "", "nothing left to show");
}

#[test]
fn a_receiver_that_hangs_for_one_repository_holds_up_no_other() {
    let Some(db) = Cluster::start() else { return };
    let (released, hanging) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (flag, seen) = (released.clone(), hanging.clone());
    // A request is recorded once answered: `hanging` tells the slow one came in.
    let receiver = Receiver::start_with(move |r| {
        if r.path.starts_with("/slow") {
            seen.store(true, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(40);
            while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Reply::default()
    })
    .expect("receiver");
    let tmp = tempfile::tempdir().expect("tempdir");
    let g = global(tmp.path(), &db.url(), "");
    // The slow endpoint's timeout outlasts the test's waits: only sending side by side gets the
    // other repository's webhook out while it hangs.
    let slow = Server::new(&format!(
        "{}timeout = \"60s\"\n",
        endpoint(&receiver.url("/slow"))
    ));
    let fast = server(&receiver);
    let w = worker(tmp.path(), &g, "worker.log");
    let push = |s: &Server, message: &str| {
        let work = s.clone_work();
        work.commit(message);
        push_main(&work, &g);
    };
    let arrived = |path: &str| receiver.requests().iter().any(|r| r.path == path);
    push(&slow, "to the hanging receiver");
    wait_until("the hanging request", Duration::from_secs(20), || {
        hanging.load(Ordering::SeqCst)
    });
    push(&fast, "to the quick one");
    wait_until(
        "the other repository's webhook, while the first hangs",
        Duration::from_secs(20),
        || arrived("/hook"),
    );
    released.store(true, Ordering::SeqCst);
    wait_until("both settled", Duration::from_secs(20), || {
        db.sql("SELECT count(*) FROM git_webhook.jobs WHERE state = 'delivered'") == "2"
    });
    stop(w);
}

#[test]
fn a_paused_endpoint_waits_in_the_database_and_endpoint_resume_wakes_the_workers() {
    let Some(db) = Cluster::start() else { return };
    let (receiver, down) = crate::support::down_until_cleared();
    let tmp = tempfile::tempdir().expect("tempdir");
    let g = global(
        tmp.path(),
        &db.url(),
        "pause_after = 6\npause_period = \"1m\"",
    );
    let gs = g.to_string_lossy().into_owned();
    let server = server(&receiver);
    let work = server.clone_work();
    work.commit("base");
    let refs: Vec<String> = (1..=5).map(|i| format!("refs/heads/b{i}")).collect();
    let mut args = vec!["-q".to_owned(), "origin".to_owned()];
    args.extend(refs.iter().map(|r| format!("HEAD:{r}")));
    work.push_env(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[("GIT_WEBHOOK_GLOBAL_CONFIG", &gs)],
    );
    // Two rounds 61 s apart, as the clock they are given says, ending 39 s ago: six failures over
    // a minute pause the endpoint until its probe, 21 s from now; its jobs are due behind it.
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        - 100_000;
    let mut said = String::new();
    for now in [t0, t0 + 61_000] {
        let now = now.to_string();
        let envs = [
            ("GIT_WEBHOOK_GLOBAL_CONFIG", gs.as_str()),
            ("GIT_WEBHOOK_NOW", &now),
        ];
        let out = server.run_hook(&["deliver", "--now"], b"", &envs);
        said.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert!(
        said.contains("is paused after 6 failed attempts in a row"),
        "{said}"
    );
    assert_eq!(receiver.requests().len(), 6);
    let (_, status, _) = cli(&server.bare, &g, &["status"]);
    assert!(
        status.contains("paused:    endpoint 1 ") && status.contains("(last: 503"),
        "{status}"
    );
    // A worker sees the pause (the metrics show it) and sends nothing until it is resumed.
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let w = worker_with(tmp.path(), &g, "worker.log", &["--metrics", &metrics]);
    wait_until("the paused gauge", Duration::from_secs(20), || {
        scrape_metrics(port).contains("git_webhook_endpoints_paused{repo=")
    });
    assert!(
        scrape_metrics(port).contains("} 1\n"),
        "{}",
        scrape_metrics(port)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.requests().len(), 6, "the worker holds them");
    down.store(false, Ordering::SeqCst);
    let (ok, out, err) = cli(&server.bare, &g, &["endpoint", "resume"]);
    assert!(ok && out.contains("resumed endpoint 1 "), "{out}{err}");
    wait_until("the waiting webhooks", Duration::from_secs(20), || {
        receiver.requests().len() == 11
    });
    stop(w);
    let sent: Vec<String> = receiver.requests()[6..]
        .iter()
        .map(|r| r.json()["ref"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sent, refs, "in push order");
}

#[test]
fn a_version_2_queue_is_migrated_with_its_waiting_jobs_and_leaves_another_programs_alone() {
    let Some((db, receiver, g, server, work, _tmp)) = one_repository("") else {
        return;
    };
    let sha = work.commit("queued under version 2");
    push_main(&work, &g);
    // A job another program wrote (its own format, version 7), then the tables as version 2 had
    // them: no `schema` column, an index on `claimed_by`, none on when jobs are due.
    db.sql(
        "INSERT INTO git_webhook.jobs (id, seq, event, repo, endpoint, refname, state, attempts,
           created_ms, next_ms, schema, job)
         SELECT gen_random_uuid(), nextval('git_webhook.job_order'), event, repo, endpoint,
           refname, state, attempts, created_ms, next_ms, 7, jsonb_set(job, '{schema}', '7')
         FROM git_webhook.jobs;
         ALTER TABLE git_webhook.jobs DROP COLUMN schema;
         CREATE INDEX jobs_claimed ON git_webhook.jobs (claimed_by) WHERE claimed_by IS NOT NULL;
         DROP INDEX git_webhook.jobs_due;
         UPDATE git_webhook.meta SET version = 2;",
    );
    let (ok, out, err) = cli(&server.bare, &g, &["deliver"]);
    assert!(ok && out.contains("delivered 1,"), "{out}{err}");
    let got = receiver.requests();
    assert_eq!(got.iter().map(after).collect::<Vec<_>>(), [sha]);
    assert_eq!(db.sql("SELECT version FROM git_webhook.meta"), "6");
    assert_eq!(
        db.sql(
            "SELECT string_agg(schema || ' ' || state, ', ' ORDER BY seq) FROM git_webhook.jobs"
        ),
        "1 delivered, 7 queued",
        "the other program's job is left for it"
    );
    assert_eq!(
        db.sql(
            "SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes
             WHERE indexname IN ('jobs_claimed', 'jobs_due')"
        ),
        "jobs_due"
    );
    assert_eq!(
        db.sql("SELECT reloptions::text FROM pg_class WHERE oid = 'git_webhook.jobs'::regclass"),
        "{fillfactor=50}"
    );
    // Jobs are stored with lz4 where the server has it (pglz where it has not).
    assert_eq!(
        db.sql(
            "SELECT attcompression = CASE WHEN EXISTS (SELECT 1 FROM pg_settings
                 WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))
               THEN 'l' ELSE '' END
             FROM pg_attribute WHERE attrelid = 'git_webhook.jobs'::regclass AND attname = 'job'"
        ),
        "t"
    );
    let (_, status, _) = cli(&server.bare, &g, &["status"]);
    assert!(status.contains("damaged"), "{status}");
    // A host not upgraded yet adds a job as version 2 did, naming no `schema`: it is sent.
    db.sql(
        "INSERT INTO git_webhook.jobs (id, seq, event, repo, endpoint, refname, state, attempts,
           created_ms, next_ms, job)
         SELECT u, nextval('git_webhook.job_order'), event, repo, endpoint, refname, 'queued', 0,
           created_ms, next_ms,
           jsonb_set(jsonb_set(job, '{delivery,hook,delivery_id}', to_jsonb(u::text)),
                     '{attempts}', '0')
         FROM (SELECT gen_random_uuid() AS u, * FROM git_webhook.jobs WHERE state = 'delivered') j",
    );
    let (ok, out, err) = cli(&server.bare, &g, &["deliver"]);
    assert!(ok && out.contains("delivered 1,"), "{out}{err}");
    assert_eq!(receiver.requests().len(), 2);
}

#[test]
fn a_damaged_job_in_the_database_is_set_aside_saying_why_and_the_next_one_goes_out() {
    let Some((db, receiver, g, server, work, _tmp)) = one_repository("") else {
        return;
    };
    let sha = work.commit("after the damaged one");
    push_main(&work, &g);
    // A job of this version whose endpoint is not one, queued before the good one.
    db.sql(
        "INSERT INTO git_webhook.jobs (id, seq, event, repo, endpoint, refname, state, attempts,
           created_ms, next_ms, job)
         SELECT gen_random_uuid(), 0, event, repo, endpoint, refname, 'queued', 0, created_ms,
           next_ms, jsonb_set(job, '{endpoint}', '\"nowhere\"')
         FROM git_webhook.jobs",
    );
    let (ok, out, err) = cli(&server.bare, &g, &["deliver"]);
    assert!(ok && out.contains("delivered 1,"), "{out}{err}");
    let said = out
        .lines()
        .find(|l| l.contains("warning"))
        .unwrap_or_default();
    assert!(
        said.contains("invalid type: string \"nowhere\", expected struct EndpointRef")
            && said.ends_with("; set aside as its dead letters"),
        "{out}"
    );
    assert_eq!(
        receiver.requests().iter().map(after).collect::<Vec<_>>(),
        [sha]
    );
    assert_eq!(
        db.sql("SELECT string_agg(state, ' ' ORDER BY seq) FROM git_webhook.jobs"),
        "dead delivered"
    );
}

/// The shared buffers (hit or read) of each plan logged by `auto_explain` for a statement whose text
/// holds `text` (the first `Buffers:` line of a plan is its top node's, which counts them all).
fn buffers_of(log: &str, text: &str) -> Vec<u64> {
    log.split("plan:\n")
        .skip(1)
        .filter_map(|plan| {
            let (head, rest) = plan.split_once("Buffers: shared")?;
            let line = rest.lines().next()?;
            let count = |what: &str| {
                let at = line.find(what)? + what.len();
                line[at..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u64>()
                    .ok()
            };
            head.contains(text)
                .then(|| count("hit=").unwrap_or(0) + count("read=").unwrap_or(0))
        })
        .collect()
}

#[test]
fn a_pass_reads_its_own_repositorys_jobs_only_whatever_the_tables_statistics_say() {
    let Some((db, receiver, g, server, work, _tmp)) = one_repository("") else {
        return;
    };
    work.commit("delivered before");
    push_main(&work, &g);
    let (ok, out, err) = cli(&server.bare, &g, &["deliver"]);
    assert!(ok && out.contains("delivered 1,"), "{out}{err}");
    // The statistics of a busy server between bursts (as autovacuum takes them): 3,000 jobs of
    // another repository, all delivered, and 500 of its lanes, all held. Then those jobs wait again
    // and the lanes are free; every plan is logged with the buffers it touched.
    db.sql(
        "INSERT INTO git_webhook.jobs (id, seq, event, repo, endpoint, refname, state, attempts,
           created_ms, next_ms, job)
         SELECT gen_random_uuid(), nextval('git_webhook.job_order'), event, '/elsewhere.git',
           endpoint, refname, 'delivered', 0, created_ms, next_ms, job
         FROM git_webhook.jobs, generate_series(1, 3000);
         INSERT INTO git_webhook.lanes (key, holder)
         SELECT '/elsewhere.git' || E'\\n' || n || E'\\nhttp://x/', 'a-worker'
         FROM generate_series(1, 500) n;
         ALTER TABLE git_webhook.jobs SET (autovacuum_enabled = false);
         ALTER TABLE git_webhook.lanes SET (autovacuum_enabled = false);
         ANALYZE git_webhook.jobs;
         ANALYZE git_webhook.lanes;
         UPDATE git_webhook.jobs SET state = 'queued' WHERE repo = '/elsewhere.git';
         UPDATE git_webhook.lanes SET holder = NULL;
         ALTER DATABASE postgres SET session_preload_libraries = 'auto_explain';
         ALTER DATABASE postgres SET auto_explain.log_min_duration = 0;
         ALTER DATABASE postgres SET auto_explain.log_analyze = on;
         ALTER DATABASE postgres SET auto_explain.log_buffers = on;",
    );
    work.commit("one job among many");
    push_main(&work, &g);
    let (ok, out, err) = cli(&server.bare, &g, &["deliver"]);
    assert!(ok && out.contains("delivered 1,"), "{out}{err}");
    assert_eq!(receiver.requests().len(), 2);
    let log = db.log();
    // The other repository's waiting jobs fill some 600 buffers: the lanes' hold and the claim
    // touch a few of their own.
    for statement in ["released AS", "SET claimed_by = $4"] {
        let touched = buffers_of(&log, statement);
        assert!(
            !touched.is_empty() && touched.iter().all(|&n| n < 100),
            "{statement}: {touched:?} buffers"
        );
    }
}

#[test]
fn a_claim_writes_each_job_beside_itself_touching_no_index() {
    let Some((db, receiver, g, server, work, _tmp)) = one_repository("") else {
        return;
    };
    work.commit("copied forty times");
    push_main(&work, &g);
    // Forty more copies of the push's job, as a busy queue holds them: pages filled by inserts.
    db.sql(
        "INSERT INTO git_webhook.jobs (id, seq, event, repo, endpoint, refname, state, attempts,
           created_ms, next_ms, job)
         SELECT u, nextval('git_webhook.job_order'), event, repo, endpoint, refname, 'queued', 0,
           created_ms, next_ms, jsonb_set(job, '{delivery,hook,delivery_id}', to_jsonb(u::text))
         FROM (SELECT gen_random_uuid() AS u, j.* FROM git_webhook.jobs j, generate_series(1, 40)) j",
    );
    let (ok, out, err) = cli(&server.bare, &g, &["deliver"]);
    assert!(ok && out.contains("delivered 41,"), "{out}{err}");
    assert_eq!(receiver.requests().len(), 41);
    // Each job was written twice, claimed then settled (the worker's counts reach the statistics
    // once its session has ended). A claim changes no indexed column: with room on the job's
    // page its new version stays there, and no index gets an entry for it (a heap-only update).
    let read = || -> Vec<u64> {
        db.sql("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'jobs'")
            .split('|')
            .map(|n| n.parse().expect("a count"))
            .collect()
    };
    wait_until("the worker's statistics", Duration::from_secs(10), || {
        read()[0] >= 82
    });
    let counts = read();
    assert!(counts[1] >= 41, "updates, heap-only: {counts:?}");
}
