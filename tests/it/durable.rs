//! Durable, asynchronous delivery: the push never waits, the spool never loses an event, retries follow
//! the schedule (on an injected clock), and several deliverers never send one job twice.

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const T0: u64 = 1_700_000_000_000;

fn config(url: &str, delivery: &str) -> String {
    format!("[delivery]\n{delivery}\n\n[project]\nweb_url = \"https://git.example.com/acme/demo\"\n\n[[endpoint]]\nurl = \"{url}\"\n")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Runs a spool command in the repository with the clock at `now` (Unix milliseconds).
fn cmd(server: &Server, args: &[&str], now: Option<u64>) -> String {
    let now = now.map(|n| n.to_string());
    let mut envs = Vec::new();
    if let Some(n) = &now {
        envs.push(("GIT_WEBHOOK_NOW", n.as_str()));
    }
    let out = server.run_hook(args, b"", &envs);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn log(server: &Server) -> Vec<Value> {
    cmd(server, &["log", "--json", "-n", "1000"], None)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Waits (at most 5 s) until the delivery log has an attempt with `outcome`.
fn wait_for_outcome(server: &Server, outcome: &str) {
    for _ in 0..100 {
        if log(server).iter().any(|r| r["outcome"] == outcome) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_push_returns_at_once_and_slow_endpoints_are_served_in_parallel() {
    // Each receiver holds its answer until the test says the push has returned (or 10 s pass), and
    // notes whether all four requests were in before it answered. A hook that waited for answers
    // would keep the push from returning: the receivers would then answer unreleased.
    let released = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let unreleased = Arc::new(AtomicUsize::new(0));
    let receivers: Vec<Receiver> = (0..4)
        .map(|_| {
            let (released, arrived, unreleased) =
                (released.clone(), arrived.clone(), unreleased.clone());
            Receiver::start_with(move |_| {
                arrived.fetch_add(1, Ordering::SeqCst);
                for _ in 0..1000 {
                    if released.load(Ordering::SeqCst) == 1 && arrived.load(Ordering::SeqCst) == 4 {
                        return Reply::default();
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                unreleased.fetch_add(1, Ordering::SeqCst);
                Reply::default()
            })
            .expect("receiver")
        })
        .collect();
    let endpoints: String = receivers
        .iter()
        .map(|r| {
            format!(
                "[[endpoint]]\nurl = \"{}\"\ntimeout = \"30s\"\n\n",
                r.url("/hook")
            )
        })
        .collect();
    let server = Server::new(&endpoints);
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    released.store(1, Ordering::SeqCst);
    assert!(
        stderr.contains("git-webhook: 4 webhook(s) queued, sending in the background"),
        "{stderr}"
    );
    // The background deliverer records each delivery (once its answer is in) and empties the queue.
    let delivered = || {
        log(&server)
            .iter()
            .filter(|r| r["outcome"] == "delivered")
            .count()
    };
    for _ in 0..200 {
        if delivered() == 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(delivered(), 4);
    assert_eq!(
        unreleased.load(Ordering::SeqCst),
        0,
        "every answer waited for the push to return, and for all four requests to be in"
    );
    assert!(cmd(&server, &["status"], None).contains("pending:   0"));
}

#[test]
fn an_endpoint_that_was_down_gets_every_event_once_with_its_own_stable_key() {
    let port = free_port();
    let server = Server::new(&config(
        &format!("http://127.0.0.1:{port}/hook"),
        "mode = \"queue\"",
    ));
    let work = server.clone_work();
    for i in 0..3 {
        work.commits(1, &format!("p{i}"));
        let stderr = work.push(&["origin", "main"]);
        assert!(
            stderr.contains("1 webhook(s) queued; `git webhook deliver` sends them"),
            "{stderr}"
        );
    }
    let first = cmd(&server, &["deliver", "--now"], None);
    assert_eq!(
        first.matches("FAILED: cannot connect").count(),
        3,
        "{first}"
    );
    assert!(
        first.contains("queued now: 0 pending, 3 retrying"),
        "{first}"
    );
    let status = cmd(&server, &["status"], None);
    assert!(status.contains("retrying:  3"), "{status}");
    let receiver =
        Receiver::start_on(port, |_| Reply::default()).expect("receiver on the same port");
    let second = cmd(&server, &["deliver", "--now"], None);
    assert!(
        second.contains("delivered 3, retrying 0, dead 0"),
        "{second}"
    );
    let got = expect_requests(&receiver, 3);
    let keys: Vec<&str> = got
        .iter()
        .map(|r| r.header("Idempotency-Key").expect("key"))
        .collect();
    let jobs: Vec<String> = log(&server)
        .iter()
        .filter(|r| r["outcome"] == "delivered")
        .map(|r| r["job"].as_str().expect("job").to_owned())
        .collect();
    assert_eq!(
        keys, jobs,
        "each request carries its job's id, in push order"
    );
    let retried: Vec<String> = log(&server)
        .iter()
        .filter(|r| r["outcome"] == "retry")
        .map(|r| r["job"].as_str().expect("job").to_owned())
        .collect();
    assert_eq!(
        retried, jobs,
        "the same job (and key) as the failed attempts"
    );
    let afters: Vec<Value> = got.iter().map(|r| r.json()["after"].clone()).collect();
    assert_eq!(afters.len(), 3);
    assert!(afters[0] != afters[1] && afters[1] != afters[2]);
}

#[test]
fn retries_follow_the_schedule_on_an_injected_clock() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let receiver = Receiver::start_with(move |_| Reply {
        status: if c.fetch_add(1, Ordering::SeqCst) < 2 {
            503
        } else {
            200
        },
        ..Reply::default()
    })
    .expect("receiver");
    let server = Server::new(&config(
        &receiver.url("/hook"),
        "mode = \"queue\"\nretry_jitter = 0.0",
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    work.push_env(&["origin", "main"], &[("GIT_WEBHOOK_NOW", &T0.to_string())]);
    assert!(cmd(&server, &["deliver"], Some(T0))
        .contains("FAILED: 503 Service Unavailable (it answered: ok); retry 1 of 6 in 10s"));
    assert!(
        cmd(&server, &["deliver"], Some(T0 + 9_999)).contains("delivered 0, retrying 0"),
        "not due yet"
    );
    assert!(cmd(&server, &["deliver"], Some(T0 + 10_000)).contains("retry 2 of 6 in 1m"));
    assert!(cmd(&server, &["deliver"], Some(T0 + 69_999)).contains("delivered 0, retrying 0"));
    assert!(cmd(&server, &["deliver"], Some(T0 + 70_000)).contains("delivered 1"));
    let got = expect_requests(&receiver, 3);
    let key = got[0].header("Idempotency-Key").expect("key");
    assert!(
        got.iter().all(|r| r.header("Idempotency-Key") == Some(key)),
        "one idempotency key for every attempt"
    );
    let uuids: std::collections::HashSet<&str> = got
        .iter()
        .map(|r| r.header("X-Gitlab-Webhook-UUID").expect("uuid"))
        .collect();
    assert_eq!(uuids.len(), 3, "a fresh X-Gitlab-Webhook-UUID per attempt");
    // Each attempt says which it is, and when the first was.
    let first = chrono::DateTime::from_timestamp_millis(T0 as i64)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(
            r.header("X-Webhook-Attempt"),
            Some((i + 1).to_string().as_str())
        );
        assert_eq!(r.header("X-Webhook-First-Attempt"), Some(first.as_str()));
    }
    let records = log(&server);
    let steps: Vec<(&str, Option<u64>, Option<u64>)> = records
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().expect("o"),
                r["time_ms"].as_u64(),
                r["next_ms"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("retry", Some(T0), Some(T0 + 10_000)),
            ("retry", Some(T0 + 10_000), Some(T0 + 70_000)),
            ("delivered", Some(T0 + 70_000), None)
        ]
    );
    assert_eq!(
        records
            .iter()
            .map(|r| r["status"].as_u64())
            .collect::<Vec<_>>(),
        [Some(503), Some(503), Some(200)]
    );
}

#[test]
fn permanent_failures_are_dead_letters_and_redeliver_sends_them_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let receiver = Receiver::start_with(move |_| Reply {
        status: if c.fetch_add(1, Ordering::SeqCst) == 0 {
            400
        } else {
            200
        },
        ..Reply::default()
    })
    .expect("receiver");
    let server = Server::new(&config(&receiver.url("/hook"), "mode = \"queue\""));
    let work = server.clone_work();
    work.commits(1, "a");
    work.push(&["origin", "main"]);
    let out = cmd(&server, &["deliver"], None);
    assert!(
        out.contains(
            "FAILED: 400 Bad Request (it answered: ok); not retried, kept as a dead letter"
        ),
        "{out}"
    );
    assert!(cmd(&server, &["status"], None).contains("dead:      1"));
    let event = log(&server)[0]["event"].as_str().expect("event").to_owned();
    let out = cmd(&server, &["redeliver", &event[..8]], None);
    assert!(
        out.contains("from the dead letters") && out.contains("200 OK"),
        "{out}"
    );
    let got = expect_requests(&receiver, 2);
    assert_eq!(
        got[0].header("Idempotency-Key"),
        got[1].header("Idempotency-Key")
    );
    let missing = server.run_hook(&["redeliver", "ffffffff"], b"", &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("no delivered or dead webhook has a job or event id starting with \"ffffffff\""));
}

#[test]
fn retry_after_is_honoured_and_redirects_are_dead_letters_naming_the_location() {
    let receiver = Receiver::start_with(|r| match r.path.as_str() {
        "/busy" => Reply {
            status: 429,
            headers: vec![("Retry-After".into(), "120".into())],
            ..Reply::default()
        },
        _ => Reply {
            status: 301,
            headers: vec![("Location".into(), "https://elsewhere.example/x".into())],
            ..Reply::default()
        },
    })
    .expect("receiver");
    let server = Server::new(&format!(
        "[delivery]\nmode = \"queue\"\nretry_jitter = 0.0\n\n[[endpoint]]\nurl = \"{}\"\n\n[[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/busy"),
        receiver.url("/moved")
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    work.push_env(&["origin", "main"], &[("GIT_WEBHOOK_NOW", &T0.to_string())]);
    let out = cmd(&server, &["deliver"], Some(T0));
    assert!(
        out.contains("FAILED: 429 Too Many Requests (it answered: ok); retry 1 of 6 in 2m"),
        "{out}"
    );
    assert!(out.contains("FAILED: 301 Moved Permanently (redirect to https://elsewhere.example/x not followed); not retried"), "{out}");
    let retry = log(&server)
        .into_iter()
        .find(|r| r["outcome"] == "retry")
        .expect("retry record");
    assert_eq!(retry["next_ms"].as_u64(), Some(T0 + 120_000));
    let dead = log(&server)
        .into_iter()
        .find(|r| r["outcome"] == "dead")
        .expect("dead record");
    assert_eq!(dead["status"], 301);
    assert!(
        dead["error"]
            .as_str()
            .expect("error")
            .contains("redirect to https://elsewhere.example/x not followed"),
        "{dead}"
    );
}

#[test]
fn a_deliverer_killed_mid_batch_loses_nothing() {
    let receiver = Receiver::start_with(|_| Reply {
        delay: Duration::from_millis(300),
        ..Reply::default()
    })
    .expect("receiver");
    let server = Server::new(&config(&receiver.url("/hook"), "mode = \"queue\""));
    let work = server.clone_work();
    work.commits(1, "a");
    let branches: Vec<String> = (0..8).map(|i| format!("b{i}")).collect();
    for b in &branches {
        work.git(&["branch", b]);
    }
    let mut args = vec!["origin"];
    args.extend(branches.iter().map(String::as_str));
    work.push(&args);
    let mut child = hermetic(std::process::Command::new(bin()), &server.bare)
        .args(["deliver"])
        .env("GIT_DIR", ".")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("deliverer");
    receiver.wait_for(2, Duration::from_secs(20));
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let out = cmd(&server, &["deliver", "--now"], None);
    assert!(out.contains("queued now: 0 pending, 0 retrying"), "{out}");
    std::thread::sleep(Duration::from_millis(200));
    let mut refs: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.json()["ref"].as_str().expect("ref").to_owned())
        .collect();
    refs.sort();
    refs.dedup();
    let expected: Vec<String> = branches.iter().map(|b| format!("refs/heads/{b}")).collect();
    assert_eq!(
        refs, expected,
        "every event arrived (the one in flight at the kill may arrive twice)"
    );
    assert!(cmd(&server, &["status"], None).contains("in flight: 0"));
}

#[test]
fn sixteen_concurrent_pushes_deliver_every_event_exactly_once() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&config(&receiver.url("/hook"), ""));
    let work = server.clone_work();
    work.commits(1, "base");
    work.push(&["origin", "main"]);
    expect_requests(&receiver, 1);
    let clones: Vec<Work> = (0..16)
        .map(|i| {
            let dir = server.tmp.path().join(format!("clone{i}"));
            git(
                server.tmp.path(),
                &[
                    "clone",
                    "-q",
                    &server.bare.to_string_lossy(),
                    &dir.to_string_lossy(),
                ],
            );
            let w = Work::at(dir);
            w.git(&["checkout", "-q", "-b", &format!("c{i}")]);
            w.commits(1, &format!("c{i}"));
            w
        })
        .collect();
    std::thread::scope(|s| {
        for (i, w) in clones.iter().enumerate() {
            s.spawn(move || w.push(&["origin", &format!("c{i}")]));
        }
    });
    let got = expect_requests(&receiver, 17);
    let mut refs: Vec<String> = got[1..]
        .iter()
        .map(|r| r.json()["ref"].as_str().expect("ref").to_owned())
        .collect();
    refs.sort();
    let mut expected: Vec<String> = (0..16).map(|i| format!("refs/heads/c{i}")).collect();
    expected.sort();
    assert_eq!(refs, expected, "each event exactly once");
}

#[test]
fn an_update_hook_event_waits_for_its_ref_and_a_refused_push_sends_nothing() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::with_hook(
        "update.d/webhook",
        &config(&receiver.url("/hook"), "update_wait = \"1s\""),
    );
    // The update hook runs the webhook first, then a policy check that refuses one branch.
    let update = server.bare.join("hooks/update");
    std::fs::write(&update, "#!/bin/sh\n\"$(dirname \"$0\")\"/update.d/webhook \"$@\"\ncase \"$1\" in refs/heads/refused) exit 1;; esac\n").expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&update, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let work = server.clone_work();
    let id = work.commits(1, "a")[0].clone();
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 1);
    assert_eq!(
        got[0].json()["after"],
        id.as_str(),
        "sent once the ref moved (the objects were in quarantine at hook time)"
    );
    work.git(&["branch", "refused"]);
    let out = git_cmd(&work.dir)
        .args(["push", "origin", "refused"])
        .output()
        .expect("push");
    assert!(!out.status.success(), "the policy check refused the push");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        receiver.requests().len(),
        1,
        "nothing sent for the refused push"
    );
    let dropped = log(&server)
        .into_iter()
        .find(|r| r["outcome"] == "dropped")
        .expect("a dropped record");
    assert_eq!(dropped["refname"], "refs/heads/refused");
    assert_eq!(dropped["error"], "push did not complete");
}

#[test]
fn a_spool_shared_by_two_repositories_sends_each_job_with_its_own_repository() {
    let receiver = Receiver::start().expect("receiver");
    let a = Server::new("");
    let b = Server::new("");
    let shared = a.tmp.path().join("shared-spool");
    for (server, path) in [(&a, "/a"), (&b, "/b")] {
        server.write_config(&format!(
            "[delivery]\nmode = \"queue\"\nspool_dir = \"{}\"\n\n[[endpoint]]\nurl = \"{}\"\n",
            shared.display(),
            receiver.url(path)
        ));
        let work = server.clone_work();
        work.commits(1, "x");
        work.push(&["origin", "main"]);
    }
    assert!(
        cmd(&a, &["status"], None).contains("pending:   2"),
        "one spool holds both"
    );
    let out = cmd(&a, &["deliver"], None);
    assert!(
        out.contains("delivered 1,") && out.contains("queued now: 1 pending"),
        "{out}"
    );
    assert_eq!(expect_requests(&receiver, 1)[0].path, "/a");
    assert!(cmd(&b, &["deliver"], None).contains("delivered 1,"));
    let paths: Vec<String> = expect_requests(&receiver, 2)
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, ["/a", "/b"]);
}

#[test]
fn the_spool_limit_warns_first_and_logs_what_it_discards() {
    let server = Server::new(&config(
        "http://127.0.0.1:9/never",
        "mode = \"queue\"\nmax_jobs = 5",
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    let push = |branches: &[&str]| {
        for b in branches {
            work.git(&["branch", "-f", b]);
        }
        let mut args = vec!["origin"];
        args.extend_from_slice(branches);
        work.push(&args)
    };
    let quiet = push(&["b1", "b2", "b3"]);
    assert!(!quiet.contains("the spool holds"), "{quiet}");
    let warned = push(&["b4"]);
    assert!(
        warned.contains("git-webhook: warning: the spool holds 4 of at most 5 jobs"),
        "{warned}"
    );
    let full = push(&["b5", "b6"]);
    assert!(full.contains("discarded the oldest queued job"), "{full}");
    assert!(
        full.contains("refs/heads/b1 to http://127.0.0.1:9/never) to stay under max_jobs = 5"),
        "{full}"
    );
    assert!(cmd(&server, &["status"], None).contains("pending:   5"));
    let discarded: Vec<Value> = log(&server)
        .into_iter()
        .filter(|r| r["outcome"] == "discarded")
        .collect();
    assert_eq!(discarded.len(), 1);
    assert_eq!(discarded[0]["refname"], "refs/heads/b1");
}

#[test]
fn the_background_deliverer_retries_on_its_own_and_then_leaves() {
    let port = free_port();
    let server = Server::new(&config(
        &format!("http://127.0.0.1:{port}/hook"),
        "retry_schedule = [\"1s\", \"1s\"]\nretry_jitter = 0.0",
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    work.push(&["origin", "main"]);
    // The endpoint comes up after the first attempt failed; the waiting deliverer retries by itself.
    wait_for_outcome(&server, "retry");
    let receiver =
        Receiver::start_on(port, |_| Reply::default()).expect("receiver on the same port");
    assert_eq!(
        expect_requests(&receiver, 1)[0].json()["ref"],
        "refs/heads/main"
    );
    let outcomes: Vec<String> = log(&server)
        .iter()
        .map(|r| r["outcome"].as_str().expect("outcome").to_owned())
        .collect();
    assert_eq!(
        outcomes.last().map(String::as_str),
        Some("delivered"),
        "{outcomes:?}"
    );
    assert!(cmd(&server, &["status"], None).contains("pending:   0"));
}

/// The processes running `git-webhook deliver --background --repo <repo>`.
fn deliverers_of(repo: &std::path::Path) -> Vec<String> {
    let want = format!("--background\0--repo\0{}\0", repo.display());
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(|p| {
            let p = p.ok()?.path();
            let cmdline = std::fs::read(p.join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(&want)
                .then(|| p.display().to_string())
        })
        .collect()
}

/// A background deliverer waiting to retry ends once its repository is deleted (or moved), rather
/// than look for the spool that went with it until `max_age` has passed.
#[test]
fn the_background_deliverer_of_a_deleted_repository_leaves() {
    let server = Server::new(&config(
        "http://127.0.0.1:9/never",
        "retry_schedule = [\"1h\"]\nretry_jitter = 0.0",
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    work.push(&["origin", "main"]);
    wait_for_outcome(&server, "retry");
    assert_eq!(deliverers_of(&server.bare).len(), 1, "no deliverer waits");
    std::fs::remove_dir_all(&server.bare).expect("delete the repository");
    // Its next attempt is an hour away, but the spool it watches is gone: nothing is left to send.
    let mut left = deliverers_of(&server.bare);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = deliverers_of(&server.bare);
    }
    assert_eq!(left, Vec::<String>::new(), "still waiting");
}

#[test]
fn two_deliverers_send_one_endpoints_jobs_in_order_one_at_a_time() {
    // The receiver holds its first request until the test releases it, and notes for each request
    // whether it came before that.
    let released = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, bool)>::new()));
    let (r2, s2) = (released.clone(), seen.clone());
    let receiver = Receiver::start_with(move |req| {
        let first = {
            let mut seen = s2.lock().expect("lock");
            let after = req.json()["after"].as_str().unwrap_or_default().to_owned();
            seen.push((after, r2.load(Ordering::SeqCst) == 1));
            seen.len() == 1
        };
        for _ in 0..1000 {
            if !first || r2.load(Ordering::SeqCst) == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Reply::default()
    })
    .expect("receiver");
    let server = Server::new(&config(
        &format!("{}\"\ntimeout = \"30s", receiver.url("/hook")),
        "mode = \"queue\"",
    ));
    let work = server.clone_work();
    let a = work.commits(1, "a")[0].clone();
    work.push(&["origin", "main"]);
    // The first deliverer sends the first job and waits for its answer...
    let first = hermetic(std::process::Command::new(bin()), &server.bare)
        .env("GIT_DIR", ".")
        .arg("deliver")
        .stdout(Stdio::piped())
        .spawn()
        .expect("deliver");
    for _ in 0..2000 {
        if !seen.lock().expect("lock").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // ...when a second push queues another job for the same endpoint: a second deliverer finds the
    // endpoint busy and leaves the job to the first.
    let b = work.commits(1, "b")[0].clone();
    work.push(&["origin", "main"]);
    let second = cmd(&server, &["deliver"], None);
    assert!(second.contains("delivered 0,"), "{second}");
    // The first job is in flight (its file locked by the first deliverer), the second waits.
    let status = cmd(&server, &["status"], None);
    assert!(
        status.contains("pending:   1\n") && status.contains("in flight: 1\n"),
        "{status}"
    );
    released.store(1, Ordering::SeqCst);
    let out = first.wait_with_output().expect("first deliverer");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("delivered 1,"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The first job answered, the next pass sends the second.
    assert!(cmd(&server, &["deliver"], None).contains("delivered 1,"));
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [(a, false), (b, true)],
        "in order, the second after the first's answer"
    );
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(T0 + 300_000);
    let date = httpdate::fmt_http_date(at);
    let receiver = Receiver::start_with(move |_| Reply {
        status: 503,
        headers: vec![("Retry-After".into(), date.clone())],
        ..Reply::default()
    })
    .expect("receiver");
    let server = Server::new(&config(&receiver.url("/hook"), "mode = \"queue\""));
    let work = server.clone_work();
    work.commits(1, "a");
    work.push_env(&["origin", "main"], &[("GIT_WEBHOOK_NOW", &T0.to_string())]);
    let out = cmd(&server, &["deliver"], Some(T0));
    assert!(out.contains("retry 1 of 6 in 5m"), "{out}");
    let retry = log(&server)
        .into_iter()
        .find(|r| r["outcome"] == "retry")
        .expect("retry record");
    assert_eq!(retry["next_ms"].as_u64(), Some(T0 + 300_000));
}

#[test]
fn redelivered_dead_letters_leave_the_dead_letters_and_go_out_in_push_order() {
    let refusing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let r = refusing.clone();
    let receiver = Receiver::start_with(move |_| Reply {
        status: if r.load(Ordering::SeqCst) { 410 } else { 200 },
        ..Reply::default()
    })
    .expect("receiver");
    let server = Server::new(&format!(
        "[delivery]\nmode = \"queue\"\n\n[[endpoint]]\nurl = \"{}\"\nformat = \"gitea\"\n",
        receiver.url("/hook")
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    // Four new branches: gitea sends `create` then `push` for each, eight dead letters.
    let refspecs: Vec<String> = (0..4).map(|i| format!("HEAD:refs/heads/b{i}")).collect();
    let mut args = vec!["origin"];
    args.extend(refspecs.iter().map(String::as_str));
    work.push(&args);
    cmd(&server, &["deliver"], None);
    assert!(cmd(&server, &["status"], None).contains("dead:      8"));
    refusing.store(false, Ordering::SeqCst);
    let out = cmd(&server, &["redeliver", "--state", "dead"], None);
    assert_eq!(out.matches("from the dead letters").count(), 8, "{out}");
    assert!(out.contains("delivered 8"), "{out}");
    let status = cmd(&server, &["status"], None);
    assert!(status.contains("dead:      0"), "{status}");
    let again = server.run_hook(&["redeliver", "--state", "dead"], b"", &[]);
    assert_eq!(again.status.code(), Some(1), "nothing dead is left to send");
    let got = receiver.requests();
    assert_eq!(got.len(), 16, "eight refused, eight redelivered once each");
    let order: Vec<(String, String)> = got[8..]
        .iter()
        .map(|r| {
            (
                r.json()["ref"].as_str().unwrap_or_default().to_owned(),
                r.header("X-Gitea-Event").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let first: Vec<(String, String)> = got[..8]
        .iter()
        .map(|r| {
            (
                r.json()["ref"].as_str().unwrap_or_default().to_owned(),
                r.header("X-Gitea-Event").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(order, first, "the same order as the first time");
    for pair in order.chunks(2) {
        assert_eq!(
            (pair[0].1.as_str(), pair[1].1.as_str()),
            ("create", "push"),
            "{order:?}"
        );
    }
}

#[test]
fn a_deliverer_that_may_open_few_files_sends_a_long_queue_a_share_at_a_time_in_order() {
    // 10 pushes of 4 new branches each, for two endpoints: 80 jobs, for a deliverer whose open-file
    // limit lets one listing claim only a few of them at a time (each claim holds its file open).
    let receiver = Receiver::start().expect("receiver");
    let endpoints: String = ["/a", "/b"]
        .iter()
        .map(|p| format!("[[endpoint]]\nurl = \"{}\"\n\n", receiver.url(p)))
        .collect();
    let server = Server::new(&format!("[delivery]\nmode = \"queue\"\n\n{endpoints}"));
    let work = server.clone_work();
    work.commit("base");
    let branches: Vec<String> = (0..40).map(|i| format!("b{i:02}")).collect();
    for four in branches.chunks(4) {
        let refspecs: Vec<String> = four
            .iter()
            .map(|b| format!("HEAD:refs/heads/{b}"))
            .collect();
        let mut args = vec!["-q", "origin"];
        args.extend(refspecs.iter().map(String::as_str));
        work.push(&args);
    }
    let out = hermetic(std::process::Command::new("sh"), &server.bare)
        .args(["-c", "ulimit -n 100 && exec \"$0\" \"$@\""])
        .arg(bin())
        .args(["deliver", "--now"])
        .env("GIT_DIR", ".")
        .output()
        .expect("deliver");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("delivered 80, retrying 0, dead 0, dropped 0; queued now: 0 pending"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<String> = branches.iter().map(|b| format!("refs/heads/{b}")).collect();
    let got = receiver.requests();
    for path in ["/a", "/b"] {
        let refs: Vec<String> = (got.iter().filter(|r| r.path == path))
            .map(|r| r.json()["ref"].as_str().expect("ref").to_owned())
            .collect();
        assert_eq!(refs, expected, "{path}: each once, in push order");
    }
}
