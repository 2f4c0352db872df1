//! Failing endpoints paused, then healed: after `pause_after` failed attempts in a row over at
//! least `pause_period` an endpoint's jobs wait (none used up, none given up, none reordered),
//! `status` and the metrics say so, a probe or `endpoint resume` releases them in order.

use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::support::*;

/// Now, as the runs are told it: the jobs are queued at the real time, a moment before.
fn t0() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    u64::try_from(now.expect("after 1970").as_millis()).expect("ms") + 1_000
}

fn run(server: &Server, args: &[&str], now: u64) -> String {
    let now = now.to_string();
    let out = server.run_hook(args, b"", &[("GIT_WEBHOOK_NOW", &now)]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

fn accepted(receiver: &Receiver, since: usize) -> Vec<String> {
    receiver.requests()[since..]
        .iter()
        .map(|r| r.json()["ref"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Five branches pushed (five jobs, in order), tried and failed twice, 61 s apart: paused.
fn paused_server(receiver: &Receiver) -> (Server, Vec<String>, u64) {
    let server = Server::new(&format!(
        "[delivery]\nmode = \"queue\"\npause_after = 6\npause_period = \"1m\"\n\n[[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/hook")
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    let refs: Vec<String> = (1..=5).map(|i| format!("refs/heads/b{i}")).collect();
    let mut args = vec!["origin".to_owned()];
    args.extend(refs.iter().map(|r| format!("HEAD:{r}")));
    work.push(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let t0 = t0();
    let first = run(&server, &["deliver", "--now"], t0);
    assert!(first.contains("retrying 5, dead 0"), "{first}");
    assert!(
        !first.contains("paused"),
        "5 failures within a second: {first}"
    );
    let second = run(&server, &["deliver", "--now"], t0 + 61_000);
    assert!(
        second.contains("is paused after 6 failed attempts in a row: its webhooks wait, in order; it is tried again in 1m (`git-webhook endpoint resume` sends them now)"),
        "{second}"
    );
    assert_eq!(
        receiver.requests().len(),
        6,
        "one attempt, then the rest held"
    );
    (server, refs, t0)
}

#[test]
fn a_paused_endpoint_is_probed_and_its_jobs_go_out_in_order_when_it_answers() {
    let (receiver, down) = down_until_cleared();
    let (server, refs, t0) = paused_server(&receiver);
    let status = run(&server, &["status"], t0 + 62_000);
    assert!(
        status.contains("paused:    endpoint 1 ")
            && status.contains("after 6 failed attempts in a row since 20") && status.contains("(last: 503 Service Unavailable (it answered: ok)); its webhooks wait, tried again in 59s"),
        "{status}"
    );
    assert!(
        status.contains("pending:   0\nretrying:  5\n"),
        "none given up: {status}"
    );
    // Before the probe is due nothing goes, even with --now.
    run(&server, &["deliver", "--now"], t0 + 62_000);
    assert_eq!(receiver.requests().len(), 6);
    // The probe fails: none of the job's retries is used, the next probe waits twice as long.
    let probe = run(&server, &["deliver", "--now"], t0 + 121_000);
    assert!(
        probe.contains("the endpoint stays paused, tried again in 2m"),
        "{probe}"
    );
    assert_eq!(receiver.requests().len(), 7, "one probe");
    // The receiver is back: the next probe resumes it, then the rest go, in push order.
    down.store(false, Ordering::SeqCst);
    let healed = run(&server, &["deliver", "--now"], t0 + 242_000);
    assert!(healed.contains("answered again: resumed"), "{healed}");
    run(&server, &["deliver", "--now"], t0 + 243_000);
    assert_eq!(accepted(&receiver, 7), refs, "every job, in push order");
    let status = run(&server, &["status", "--json"], t0 + 244_000);
    let row: Value = serde_json::from_str(status.lines().next().expect("a row")).expect("json");
    assert_eq!(row["paused"], 0, "{status}");
    assert!(!run(&server, &["status"], t0 + 244_000).contains("paused:"));
    let log = run(&server, &["log", "--json", "-n", "100"], t0 + 244_000);
    let attempts: Vec<u64> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["outcome"] == "delivered")
        .map(|r| r["attempt"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(attempts.len(), 5, "{log}");
    assert!(
        attempts.iter().all(|&a| a <= 3),
        "probes use no retries: {attempts:?}"
    );
}

#[test]
fn endpoint_resume_sends_what_waited_at_once() {
    let (receiver, down) = down_until_cleared();
    let (server, refs, t0) = paused_server(&receiver);
    down.store(false, Ordering::SeqCst);
    let resumed = run(&server, &["endpoint", "resume"], t0 + 62_000);
    assert!(
        resumed.contains("resumed endpoint 1 http://127.0.0.1:")
            && resumed.contains(": its waiting webhooks go out, in order"),
        "{resumed}"
    );
    assert_eq!(accepted(&receiver, 6), refs, "{resumed}");
    assert!(run(&server, &["endpoint", "resume"], t0 + 63_000).contains("no endpoint is paused"));
}

#[test]
fn a_probe_refused_for_good_is_a_dead_letter_and_the_next_job_is_the_next_probe() {
    use std::sync::atomic::AtomicU8;
    use std::sync::Arc;
    // 0: every request 503; 1: the first branch's refused with 400 (its payload, say), others 503;
    // 2: the first branch's 400, others 200.
    let mode = Arc::new(AtomicU8::new(0));
    let m = Arc::clone(&mode);
    let receiver = Receiver::start_with(move |r| Reply {
        status: match (m.load(Ordering::SeqCst), r.json()["ref"] == "refs/heads/b1") {
            (0, _) | (1, false) => 503,
            (_, true) => 400,
            (_, false) => 200,
        },
        ..Reply::default()
    })
    .expect("receiver");
    let (server, refs, t0) = paused_server(&receiver);
    mode.store(1, Ordering::SeqCst);
    let probe = run(&server, &["deliver", "--now"], t0 + 121_000);
    assert!(
        probe.contains("400 Bad Request") && probe.contains("not retried, kept as a dead letter"),
        "{probe}"
    );
    assert!(
        run(&server, &["status"], t0 + 122_000).contains("paused:"),
        "still paused"
    );
    // The next probe is the next job; it is delivered, and the rest follow in order.
    mode.store(2, Ordering::SeqCst);
    let healed = run(&server, &["deliver", "--now"], t0 + 242_000);
    assert!(healed.contains("answered again: resumed"), "{healed}");
    run(&server, &["deliver", "--now"], t0 + 243_000);
    assert_eq!(accepted(&receiver, 7), refs[1..], "b2 probed, then b3..b5");
    assert!(run(&server, &["status"], t0 + 244_000).contains("dead:      1"));
}
