//! What the deliverer makes of the vendors' answers: errors in a 200's body, rate limits, pacing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// The delivery log as JSON lines.
fn log(server: &Server) -> Vec<Value> {
    let out = server.run_hook(&["log", "--json"], b"", &[]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn errors_in_a_200_body_are_retried_or_dead_lettered_as_the_vendor_says() {
    // DingTalk: the first answer says "too fast" (130101), the next ones say ok; WeCom: a bad key.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let receiver = Receiver::start_with(move |r| match vendor_of(r) {
        "dingtalk" if seen.fetch_add(1, Ordering::SeqCst) == 0 => Reply {
            body: r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#
                .to_owned(),
            ..Reply::default()
        },
        "wecom" => Reply {
            body: r#"{"errcode":93000,"errmsg":"invalid webhook url, hint: [1700000000_1_abc]"}"#
                .to_owned(),
            ..Reply::default()
        },
        vendor => vendor_answer(vendor, vendor_problem(r).as_deref()),
    })
    .expect("receiver");
    let endpoints = [
        endpoint(&receiver, "dingtalk", "rate_limit = \"off\"\n"),
        endpoint(&receiver, "wecom", "rate_limit = \"off\"\n"),
    ]
    .concat();
    let server = Server::new(&config(&endpoints));
    let work = server.clone_work();
    work.commits(1, "base");
    let said = work.push(&["origin", "main"]);
    expect_requests(&receiver, 2);
    assert!(
        said.contains("FAILED: 200 OK: errcode 130101: send too fast"),
        "{said}"
    );
    assert!(said.contains("retry 1 of 6 in 1m"), "{said}");
    assert!(
        said.contains("FAILED: 200 OK: errcode 93000: invalid webhook url")
            && said.contains("not retried, kept as a dead letter"),
        "{said}"
    );
    // The retry is due in a minute (DingTalk's window); sent now on request, it is delivered.
    let out = server.run_hook(&["deliver", "--now"], b"", &[]);
    assert!(out.status.success());
    expect_requests(&receiver, 3);
    let outcomes: Vec<(String, String)> = log(&server)
        .iter()
        .map(|r| {
            (
                r["format"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let of = |f: &str| -> Vec<&str> {
        outcomes
            .iter()
            .filter(|(format, _)| format == f)
            .map(|(_, o)| o.as_str())
            .collect()
    };
    assert_eq!(of("dingtalk"), ["retry", "delivered"]);
    assert_eq!(of("wecom"), ["dead"]);
    let dead = log(&server)
        .into_iter()
        .find(|r| r["outcome"] == "dead")
        .expect("dead");
    assert!(dead["error"]
        .as_str()
        .is_some_and(|e| e.contains("errcode 93000: invalid webhook url")));
}

/// The texts a receiver accepted, with when.
type Accepted = Arc<Mutex<Vec<(Instant, String)>>>;

/// A Telegram that takes `per_second` messages a second per chat and answers 429 with
/// `retry_after: 1` beyond: the accepted texts in order, and how many it refused.
fn strict_telegram(per_second: usize) -> (Receiver, Accepted, Arc<AtomicUsize>) {
    let accepted: Accepted = Arc::default();
    let refused = Arc::new(AtomicUsize::new(0));
    let (a, n) = (Arc::clone(&accepted), Arc::clone(&refused));
    let receiver = Receiver::start_with(move |r| {
        let mut a = a.lock().expect("lock");
        let now = Instant::now();
        let recent = a
            .iter()
            .filter(|(t, _)| now.duration_since(*t) < Duration::from_secs(1))
            .count();
        if recent >= per_second {
            n.fetch_add(1, Ordering::SeqCst);
            return Reply {
                status: 429,
                body: r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#.to_owned(),
                ..Reply::default()
            };
        }
        a.push((now, text_of(r)));
        vendor_answer("telegram", vendor_problem(r).as_deref())
    })
    .expect("receiver");
    (receiver, accepted, refused)
}

/// Pushes 12 new branches (`b01`..`b12`) at once.
fn push_branches(server: &Server) -> Vec<String> {
    let work = server.clone_work();
    work.commits(1, "base");
    let names: Vec<String> = (1..=12).map(|i| format!("b{i:02}")).collect();
    for name in &names {
        work.git(&["checkout", "-q", "-b", name, "main"]);
        work.commits(1, name);
    }
    let mut args = vec!["origin"];
    args.extend(names.iter().map(String::as_str));
    work.push(&args);
    names
}

/// The branch each accepted message is about, in the order accepted.
fn branches(accepted: &Mutex<Vec<(Instant, String)>>) -> Vec<String> {
    accepted
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|(_, t)| t.split("created branch <a href=\"").nth(1))
        .filter_map(|t| t.split('>').nth(1))
        .map(|t| t.trim_end_matches("</a").to_owned())
        .collect()
}

fn wait_for(accepted: &Mutex<Vec<(Instant, String)>>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.lock().expect("lock").len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_paced_endpoint_delivers_a_many_branch_push_whole_and_in_order_without_a_refusal() {
    let (receiver, accepted, refused) = strict_telegram(4);
    let server = Server::new(&config(&endpoint(
        &receiver,
        "telegram",
        "rate_limit = \"4/s\"\n",
    )));
    let names = push_branches(&server);
    wait_for(&accepted, names.len());
    assert_eq!(branches(&accepted), names, "every branch, in push order");
    assert_eq!(refused.load(Ordering::SeqCst), 0, "never over the limit");
    let times: Vec<Instant> = accepted
        .lock()
        .expect("lock")
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert!(
        times[names.len() - 1].duration_since(times[0]) >= Duration::from_secs(2),
        "12 messages at 4/s take at least two seconds"
    );
}

#[test]
fn an_unpaced_endpoint_told_too_fast_waits_and_keeps_its_order() {
    let (receiver, accepted, refused) = strict_telegram(4);
    let server = Server::new(&format!(
        "{}\n[delivery]\nretry_schedule = [\"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\"]\n",
        config(&endpoint(&receiver, "telegram", "rate_limit = \"off\"\n")).replace(SYNC, "")
    ));
    let names = push_branches(&server);
    wait_for(&accepted, names.len());
    assert!(
        refused.load(Ordering::SeqCst) >= 1,
        "the receiver said too fast"
    );
    assert_eq!(branches(&accepted), names, "every branch, in push order");
}
