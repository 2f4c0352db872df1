//! Sending: every endpoint, in parallel, each with its filters; failures reported, never fatal to the push.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;

fn endpoint(url: &str, extra: &str) -> String {
    format!("[[endpoint]]\nurl = \"{url}\"\n{extra}\n")
}

/// Sync delivery and these endpoints.
fn sync(endpoints: &[String]) -> String {
    format!("{SYNC}{}", endpoints.concat())
}

/// A port on 127.0.0.1 with nothing listening.
fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}/dead")
}

#[test]
fn endpoints_are_served_in_parallel() {
    // Each receiver holds its answer until all four requests are in (or 5 s pass): only parallel
    // sending lets every one of them see all four.
    let arrived = Arc::new(AtomicUsize::new(0));
    let saw_all = Arc::new(AtomicUsize::new(0));
    let receivers: Vec<Receiver> = (0..4)
        .map(|_| {
            let (arrived, saw_all) = (arrived.clone(), saw_all.clone());
            Receiver::start_with(move |_| {
                arrived.fetch_add(1, Ordering::SeqCst);
                for _ in 0..500 {
                    if arrived.load(Ordering::SeqCst) == 4 {
                        saw_all.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Reply::default()
            })
            .expect("receiver")
        })
        .collect();
    let config: String = receivers
        .iter()
        .map(|r| endpoint(&r.url("/hook"), "timeout = \"20s\""))
        .collect();
    let server = Server::new(&format!("{SYNC}{config}"));
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    assert_eq!(stderr.matches("200 OK").count(), 4, "{stderr}");
    assert_eq!(
        saw_all.load(Ordering::SeqCst),
        4,
        "every request was in flight at the same time"
    );
}

#[test]
fn a_dead_or_failing_endpoint_does_not_stop_the_others_or_the_push() {
    let ok = Receiver::start().expect("receiver");
    let failing = Receiver::start_with(|_| Reply {
        status: 500,
        ..Reply::default()
    })
    .expect("receiver");
    let dead = dead_url();
    let config = [
        endpoint(&dead, ""),
        endpoint(&failing.url("/boom"), ""),
        endpoint(&ok.url("/hook"), ""),
    ]
    .concat();
    let server = Server::new(&format!("{SYNC}{config}"));
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    assert_eq!(expect_requests(&ok, 1).len(), 1);
    assert_eq!(expect_requests(&failing, 1).len(), 1);
    assert!(
        stderr.contains(&format!(
            "remote: git-webhook: refs/heads/main -> {dead} (gitlab): FAILED: cannot connect: Connection refused (os error 111); retry 1 of 6 in"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("/boom (gitlab): FAILED: 500"), "{stderr}");
    assert!(stderr.contains("/hook (gitlab): 200 OK in"), "{stderr}");
}

#[test]
fn redirects_are_not_followed() {
    let target = Receiver::start().expect("receiver");
    let location = target.url("/elsewhere");
    let redirecting = Receiver::start_with(move |_| Reply {
        status: 302,
        headers: vec![("Location".into(), location.clone())],
        ..Reply::default()
    })
    .expect("receiver");
    let server = Server::new(&sync(&[endpoint(&redirecting.url("/hook"), "")]));
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    expect_requests(&redirecting, 1);
    assert!(target.requests().is_empty());
    assert!(
        stderr.contains(&format!(
            "FAILED: 302 Found (redirect to {} not followed)",
            target.url("/elsewhere")
        )),
        "{stderr}"
    );
}

#[test]
fn a_slow_endpoint_times_out_with_a_clear_line() {
    let slow = Receiver::start_with(|_| Reply {
        delay: Duration::from_secs(3),
        ..Reply::default()
    })
    .expect("receiver");
    let server = Server::new(&sync(&[endpoint(&slow.url("/hook"), "timeout = \"1s\"")]));
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    assert!(stderr.contains("FAILED: no answer within 1s"), "{stderr}");
}

#[test]
fn events_and_branches_filters_route_each_event() {
    let all = Receiver::start().expect("receiver");
    let tags = Receiver::start().expect("receiver");
    let releases = Receiver::start().expect("receiver");
    let config = [
        endpoint(&all.url("/all"), ""),
        endpoint(&tags.url("/tags"), "events = [\"tag_push\"]"),
        endpoint(
            &releases.url("/rel"),
            "events = [\"push\"]\nbranches = [\"release/*\", \"refs/heads/hotfix\"]",
        ),
    ]
    .concat();
    let server = Server::new(&config);
    let work = server.clone_work();
    work.commits(1, "a");
    work.git(&["branch", "release/1.0"]);
    work.git(&["branch", "release/2/rc"]);
    work.git(&["branch", "hotfix"]);
    work.git(&["tag", "v1"]);
    work.push(&[
        "origin",
        "main",
        "release/1.0",
        "release/2/rc",
        "hotfix",
        "v1",
    ]);
    let refs = |r: &Receiver, n| {
        let mut v: Vec<String> = expect_requests(r, n)
            .iter()
            .map(|q| q.json()["ref"].as_str().expect("ref").to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(refs(&all, 5).len(), 5);
    assert_eq!(refs(&tags, 1), ["refs/tags/v1"]);
    assert_eq!(
        refs(&releases, 2),
        ["refs/heads/hotfix", "refs/heads/release/1.0"]
    );
}

#[test]
fn the_update_hook_and_the_post_receive_d_layout_send_too() {
    for hook in ["update", "post-receive.d/50-webhook"] {
        let receiver = Receiver::start().expect("receiver");
        let server = Server::with_hook(hook, &config_for(&receiver.url("/hook"), ""));
        if hook.starts_with("post-receive.d/") {
            // What GitLab's custom_hooks does: run every program in post-receive.d with the same stdin.
            let dispatcher = server.bare.join("hooks/post-receive");
            std::fs::write(&dispatcher, "#!/bin/sh\nin=$(cat)\nfor h in \"$(dirname \"$0\")\"/post-receive.d/*; do printf '%s\\n' \"$in\" | \"$h\"; done\n").expect("write");
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dispatcher, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let work = server.clone_work();
        let ids = work.commits(2, "a");
        work.push(&["origin", "main"]);
        let body = expect_requests(&receiver, 1)[0].json();
        assert_eq!(crate::support::ids(&body), ids, "{hook}");
        assert_eq!(body["total_commits_count"], 2, "{hook}");
    }
}

#[test]
fn max_parallel_bounds_how_many_endpoints_are_sent_to_at_once() {
    let arrived = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = arrived.clone();
    let slow = Receiver::start_with(move |r| {
        seen.lock()
            .expect("lock")
            .push((std::time::Instant::now(), r.path.clone()));
        Reply {
            delay: Duration::from_millis(150),
            ..Reply::default()
        }
    })
    .expect("receiver");
    let endpoints: Vec<String> = ["/a", "/b", "/c"]
        .iter()
        .map(|p| endpoint(&slow.url(p), ""))
        .collect();
    let config = format!(
        "[delivery]\nmode = \"sync\"\nmax_parallel = 1\n\n{}",
        endpoints.concat()
    );
    let server = Server::new(&config);
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    assert_eq!(stderr.matches("200 OK").count(), 3, "{stderr}");
    let mut arrived = arrived.lock().expect("lock").clone();
    arrived.sort();
    let paths: std::collections::BTreeSet<_> = arrived.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(paths.len(), 3, "{arrived:?}");
    // One at a time: each request came only once the one before it was answered.
    for pair in arrived.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(140),
            "{gap:?} apart: {arrived:?}"
        );
    }
}
