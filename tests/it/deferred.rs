//! The push never waits for the walk: in `async` mode the hook records the push and the background
//! deliverer makes its events afterwards, with the same result as making them in the hook, even when
//! other pushes move refs in between.

use std::fs::File;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// The body and the stable ids (the event's and the delivery's; not the attempt's) of the one
/// request a dry-run printed, as header lines.
fn dry_run_request(out: &[u8]) -> (Value, Vec<String>) {
    let text = String::from_utf8_lossy(out);
    let (head, body) = text.split_once("\n\n").expect("headers then body");
    let ids = head
        .lines()
        .filter(|l| l.starts_with("X-Gitlab-Event-UUID") || l.starts_with("Idempotency-Key"))
        .map(str::to_owned)
        .collect();
    (serde_json::from_str(body.trim()).expect("json body"), ids)
}

/// Now, in Unix milliseconds: a pinned time that is now's (a job from long ago would have expired).
fn now_ms() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string()
}

#[test]
fn a_recorded_push_makes_the_same_webhook_as_the_hook_would_even_after_refs_moved() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&format!(
        "[project]\nweb_url = \"https://git.example.com/acme/demo\"\n\n\
         [[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/hook")
    ));
    let work = server.clone_work();
    work.commits(2, "base");
    work.push(&["origin", "main"]);
    expect_requests(&receiver, 1);

    // Hold the lock deliverers take to turn recorded pushes into jobs: the next pushes stay recorded.
    let spool = spool_of(&server);
    let pushes = spool.join("pushes");
    std::fs::create_dir_all(&pushes).expect("mkdir");
    let lock = File::create(pushes.join(".lock")).expect("lock file");
    lock.lock().expect("lock");

    // A new branch with three commits of its own: its event lists what no other ref reached.
    work.git(&["checkout", "-q", "-b", "topic"]);
    let brought = work.commits(3, "topic");
    // Pinned ids and time.
    let now = now_ms();
    let seeded = [
        ("GIT_WEBHOOK_SEED", "11"),
        ("GIT_WEBHOOK_NOW", now.as_str()),
    ];
    let said = work.push_env(&["origin", "topic"], &seeded);
    assert!(
        said.contains("1 webhook(s) queued, sending in the background"),
        "{said}"
    );
    assert_eq!(
        server.run_hook(&["status"], b"", &[]).stdout,
        format!("spool:     {}\nrecorded:  1 push(es), made into webhooks by the next deliverer\npending:   0\nretrying:  0\nin flight: 0\ndead:      0\n", spool.display()).into_bytes(),
    );

    // What the hook itself would have sent, asked while the refs are as the push left them.
    let line = format!("{ZERO} {} refs/heads/topic\n", brought[2]);
    let dry = server.run_hook(&["post-receive", "--dry-run"], line.as_bytes(), &seeded);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let (expected, expected_ids) = dry_run_request(&dry.stdout);
    assert_eq!(expected["total_commits_count"], 3);

    // Another push moves refs before the deliverer runs: main now contains the topic's commits, so
    // walking only now would find nothing new on topic.
    work.git(&["checkout", "-q", "main"]);
    work.git(&["merge", "-q", "--ff-only", "topic"]);
    work.push(&["origin", "main"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        receiver.requests().len(),
        1,
        "nothing sent while the lock is held"
    );

    lock.unlock().expect("unlock");
    drop(lock);
    // The two background deliverers, waiting for the lock, take the recorded pushes, oldest first.
    // (Whichever takes the endpoint's lock sends both, in order; each request is found by its ref.)
    let got = expect_requests(&receiver, 3);
    let find = |name: &str| {
        got[1..]
            .iter()
            .find(|r| r.json()["ref"] == name)
            .expect("a request for the ref")
    };
    let topic = find("refs/heads/topic");
    assert_eq!(
        topic.json(),
        expected,
        "the same body as the hook would have sent"
    );
    assert_eq!(expected_ids.len(), 2, "{expected_ids:?}");
    for id in &expected_ids {
        let (name, value) = id.split_once(": ").expect("header line");
        assert_eq!(topic.header(name), Some(value), "{name}");
    }
    assert_eq!(ids(&topic.json()), brought);
    assert_eq!(find("refs/heads/main").json()["total_commits_count"], 3);
    assert!(
        std::fs::read_dir(&pushes)
            .expect("pushes dir")
            .flatten()
            .all(|e| e.file_name().to_string_lossy().starts_with('.')),
        "every recorded push was taken"
    );
}

#[test]
fn the_queued_count_is_the_number_of_requests_whatever_the_formats_shape() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&format!(
        "[[endpoint]]\nurl = \"{}\"\nformat = \"gitea\"\n\n[[endpoint]]\nurl = \"{}\"\nformat = \"bitbucket-server\"\n",
        receiver.url("/gitea"),
        receiver.url("/bitbucket")
    ));
    let work = server.clone_work();
    work.commits(2, "a");
    work.git(&["tag", "v1"]);
    // A new branch (gitea: create and push) and a new tag (gitea: push and create): four requests
    // for gitea, one for the whole push for bitbucket-server.
    let said = work.push(&["origin", "main", "v1"]);
    assert!(said.contains("git-webhook: 5 webhook(s) queued"), "{said}");
    let got = expect_requests(&receiver, 5);
    let events: Vec<String> = got
        .iter()
        .filter(|r| r.path == "/gitea")
        .map(|r| r.header("X-Gitea-Event").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(events, ["create", "push", "push", "create"]);
    assert_eq!(got.iter().filter(|r| r.path == "/bitbucket").count(), 1);
}

#[test]
fn the_queued_count_leaves_out_what_skip_empty_skips() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&format!(
        "[[endpoint]]\nurl = \"{}\"\n\n[[endpoint]]\nurl = \"{}\"\nformat = \"slack\"\nskip_empty = true\n",
        receiver.url("/gitlab"),
        receiver.url("/services/T0/B0/x")
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    let said = work.push(&["origin", "main"]);
    assert!(said.contains("git-webhook: 2 webhook(s) queued"), "{said}");
    expect_requests(&receiver, 2);
    // A branch made at a commit another ref has: no new commits, so the chat room hears nothing.
    let said = work.push(&["origin", "HEAD:refs/heads/copy"]);
    assert!(said.contains("git-webhook: 1 webhook(s) queued"), "{said}");
    let got = expect_requests(&receiver, 3);
    assert_eq!(got[2].path, "/gitlab");
}

#[test]
fn a_push_with_a_pinned_clock_leaves_its_deliverer_on_real_time() {
    // The receiver is down for the first try; the retry is due a second later.
    let (receiver, down) = down_until_cleared();
    let server = Server::new(&format!(
        "[delivery]\nretry_schedule = [\"1s\"]\nretry_jitter = 0.0\n\n[[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/hook")
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    // The push's time and ids are pinned (as tests pin them); the deliverer it starts makes its
    // job with them, and still sees the retry come due: its own clock runs.
    let now = now_ms();
    let said = work.push_env(
        &["origin", "main"],
        &[("GIT_WEBHOOK_SEED", "5"), ("GIT_WEBHOOK_NOW", now.as_str())],
    );
    assert!(said.contains("sending in the background"), "{said}");
    receiver.wait_for(1, Duration::from_secs(20));
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    let got = expect_requests(&receiver, 2);
    assert_eq!(got[0].body, got[1].body, "the same job, tried again");
}

/// What `status` says of the server's repository.
fn status_of(server: &Server) -> String {
    String::from_utf8(server.run_hook(&["status"], b"", &[]).stdout).expect("utf8")
}

/// `deliver --now` in the server's repository, which must succeed.
fn deliver_now(server: &Server) {
    let delivered = server.run_hook(&["deliver", "--now"], b"", &[]);
    assert!(
        delivered.status.success(),
        "{}",
        String::from_utf8_lossy(&delivered.stderr)
    );
}

/// The spool a server's repository uses, as `status` names it.
fn spool_of(server: &Server) -> std::path::PathBuf {
    let status = status_of(server);
    let spool = status
        .lines()
        .find_map(|l| l.strip_prefix("spool:"))
        .expect("spool line");
    std::path::PathBuf::from(spool.trim())
}

/// Damages the loose object `oid` (a failing disk, a file being restored from backup, leaves one
/// that is there but cannot be read); returns what puts it back.
fn damage(server: &Server, oid: &str) -> impl FnOnce() {
    let object = server.bare.join("objects").join(&oid[..2]).join(&oid[2..]);
    let aside = object.with_extension("aside");
    std::fs::rename(&object, &aside).expect("a loose object");
    std::fs::write(&object, b"not an object").expect("write");
    move || std::fs::rename(&aside, &object).expect("put back")
}

#[test]
fn a_recorded_push_whose_objects_cannot_be_read_yet_waits_for_them_and_is_not_lost() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&format!(
        "[[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/hook")
    ));
    let work = server.clone_work();
    work.commits(1, "base");
    work.push(&["origin", "main"]);
    expect_requests(&receiver, 1);

    // Deliverers wait for this lock to take recorded pushes: the next push stays recorded.
    let pushes = spool_of(&server).join("pushes");
    std::fs::create_dir_all(&pushes).expect("mkdir");
    let lock = File::create(pushes.join(".lock")).expect("lock file");
    lock.lock().expect("lock");
    let pushed = work.commits(1, "next").remove(0);
    assert!(work.push(&["origin", "main"]).contains("queued"));

    let put_back = damage(&server, &pushed);
    lock.unlock().expect("unlock");
    drop(lock);

    let tried = server.run_hook(&["deliver", "--now"], b"", &[]);
    let said = String::from_utf8_lossy(&tried.stdout);
    assert!(
        said.contains("cannot make yet the webhooks of a push recorded for")
            && said.contains(&format!("refs/heads/main: cannot walk from {pushed}")),
        "{said}"
    );
    let status = status_of(&server);
    assert!(
        status.contains("recorded:  1 push(es)"),
        "kept for a later try: {status}"
    );
    assert_eq!(receiver.requests().len(), 1, "nothing sent of it meanwhile");

    // Once it can be read, the next deliverer makes its webhook, as the push made it.
    put_back();
    deliver_now(&server);
    let got = expect_requests(&receiver, 2);
    let body = got[1].json();
    assert_eq!(body["after"], pushed.as_str());
    assert_eq!(body["total_commits_count"], 1);
    assert_eq!(body["commits"][0]["id"], pushed.as_str());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.requests().len(), 2, "sent once");
}

/// A `sync` server whose hook is run by hand only (git runs no hook of that name), and the push of
/// one commit whose object is damaged before the hook runs: what the hook said, the commit, and what
/// puts its object back.
fn damaged_push(receiver: &Receiver) -> (Server, String, String, impl FnOnce()) {
    let server = Server::with_hook(
        "by-hand/post-receive",
        &format!(
            "[delivery]\nmode = \"sync\"\n\n[[endpoint]]\nurl = \"{}\"\n",
            receiver.url("/hook")
        ),
    );
    let work = server.clone_work();
    let pushed = work.commits(1, "base").remove(0);
    server.receive(&work, "HEAD:refs/heads/main");
    let put_back = damage(&server, &pushed);
    let line = format!("{ZERO} {pushed} refs/heads/main\n");
    let hook = server.run_hook(&["post-receive"], line.as_bytes(), &[]);
    assert!(hook.status.success(), "a push never fails");
    let said = String::from_utf8_lossy(&hook.stderr).into_owned();
    (server, pushed, said, put_back)
}

#[test]
fn a_hook_that_cannot_read_the_pushed_objects_leaves_the_push_to_a_deliverer() {
    let receiver = Receiver::start().expect("receiver");
    let (server, pushed, said, put_back) = damaged_push(&receiver);
    assert!(
        said.contains(&format!("refs/heads/main: cannot walk from {pushed}"))
            && said.contains("the push is kept, its webhooks made once it can be read"),
        "{said}"
    );
    let status = status_of(&server);
    assert!(status.contains("recorded:  1 push(es)"), "{status}");

    put_back();
    deliver_now(&server);
    let got = expect_requests(&receiver, 1);
    assert_eq!(got[0].json()["after"], pushed.as_str());
    assert_eq!(got[0].json()["commits"][0]["id"], pushed.as_str());
}

#[test]
fn a_push_whose_objects_stay_unreadable_past_max_age_is_given_up_and_said() {
    let receiver = Receiver::start().expect("receiver");
    let (server, pushed, _, put_back) = damaged_push(&receiver);
    let later = std::time::SystemTime::now() + Duration::from_secs(8 * 24 * 3600);
    let later = later
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string();
    let tried = server.run_hook(
        &["deliver", "--now"],
        b"",
        &[("GIT_WEBHOOK_NOW", later.as_str())],
    );
    let said = String::from_utf8_lossy(&tried.stdout);
    assert!(
        said.contains(&format!("refs/heads/main: cannot walk from {pushed}"))
            && said.contains("its push's webhooks could not be made within 7days, given up"),
        "{said}"
    );
    let status = status_of(&server);
    assert!(!status.contains("recorded:"), "{status}");
    put_back();
    let _ = server.run_hook(&["deliver", "--now"], b"", &[]);
    assert!(receiver.requests().is_empty());
}
