//! A damaged spool holds nothing up: files in `queue/` that are no job (a FIFO, truncated JSON,
//! random bytes, a directory, a dangling link, a job of an unknown version) are set aside as
//! `*.bad` once, said, and counted by `status`, while every real job goes out; a job whose next
//! time is absurd does not wait forever; a recorded push with a bad line is named as such.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn config(url: &str) -> String {
    format!("[delivery]\nmode = \"queue\"\n\n[[endpoint]]\nurl = \"{url}\"\n")
}

/// Runs the binary in the repository, killed if it takes longer than 20 s (a read that blocks).
fn bounded(server: &Server, args: &[&str]) -> Output {
    let mut child = hermetic(Command::new(bin()), &server.bare)
        .args(args)
        .env("GIT_DIR", ".")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`git-webhook {}` still runs after 20 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A repository with one push's webhook queued (queue mode), and its receiver.
fn one_queued() -> (Receiver, Server) {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&config(&receiver.url("/hook")));
    let work = server.clone_work();
    work.commits(1, "a");
    work.push(&["origin", "main"]);
    (receiver, server)
}

/// A repository in `async` mode (its pushes recorded for a background deliverer), and its receiver.
fn in_async_mode() -> (Receiver, Server) {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&format!(
        "[delivery]\nmode = \"async\"\n\n[[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/hook")
    ));
    (receiver, server)
}

fn queue_dir(server: &Server) -> PathBuf {
    server.bare.join("webhook").join("queue")
}

/// The one job file a push queued.
fn the_job(server: &Server) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(queue_dir(server))
        .expect("queue")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.remove(0)
}

fn names(dir: &Path, ext: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    found.sort();
    found
}

#[test]
fn a_fifo_named_like_a_job_neither_hangs_status_nor_deliver() {
    let (receiver, server) = one_queued();
    let fifo = queue_dir(&server).join("0000000000001-fifo.json");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let (status, _) = text(&bounded(&server, &["status"]));
    assert!(status.contains("pending:   1"), "{status}");
    assert!(status.contains("damaged:   1"), "{status}");
    let (out, _) = text(&bounded(&server, &["deliver"]));
    assert!(
        out.contains(&format!(
            "{}: not a regular file but a FIFO; set aside as {}",
            fifo.display(),
            fifo.with_extension("bad").display()
        )),
        "{out}"
    );
    assert!(out.contains("delivered 1"), "{out}");
    expect_requests(&receiver, 1);
    // Said once: the next deliverer does not see it again.
    let (again, _) = text(&bounded(&server, &["deliver"]));
    assert!(!again.contains("FIFO"), "{again}");
}

#[test]
fn damaged_job_files_are_set_aside_once_and_counted_and_the_good_one_goes_out() {
    let (receiver, server) = one_queued();
    let job = the_job(&server);
    let good = std::fs::read_to_string(&job).expect("job");
    let queue = queue_dir(&server);
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good.as_bytes()[..good.len() / 2].to_vec()),
        ("random", vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x13]),
        ("empty", Vec::new()),
        ("null", b"null".to_vec()),
        (
            "types",
            br#"{"schema":1,"delivery":7,"endpoint":[],"created_ms":"soon"}"#.to_vec(),
        ),
        (
            "newer",
            good.replacen("\"schema\":1", "\"schema\":2", 1)
                .into_bytes(),
        ),
    ];
    for (name, bytes) in &damaged {
        std::fs::write(queue.join(format!("0000000000001-{name}.json")), bytes).expect("write");
    }
    std::fs::create_dir(queue.join("0000000000002-directory.json")).expect("mkdir");
    std::os::unix::fs::symlink("/nonexistent", queue.join("0000000000003-dangling.json"))
        .expect("symlink");
    let (status, _) = text(&bounded(&server, &["status"]));
    assert!(status.contains("pending:   1"), "{status}");
    assert!(status.contains("damaged:   8"), "{status}");
    let (out, _) = text(&bounded(&server, &["deliver"]));
    assert!(out.contains("delivered 1"), "{out}");
    expect_requests(&receiver, 1);
    for why in [
        "not a job: EOF while parsing",
        "not a job: expected value",
        "not a job: invalid type: null",
        "not a job: invalid type: integer `7`",
        "a job of version 2, which this version of git-webhook (reading version 1) does not know",
        "not a regular file but a directory",
        "not a regular file but a symbolic link",
    ] {
        assert!(out.contains(why), "{why}: {out}");
    }
    assert_eq!(out.matches("; set aside as ").count(), 8, "{out}");
    assert_eq!(names(&queue, ".bad").len(), 8);
    assert!(
        names(&queue, ".json").is_empty(),
        "nothing damaged left to read"
    );
    let (status, _) = text(&bounded(&server, &["status"]));
    assert!(status.contains("damaged:   8"), "{status}");
    let (again, _) = text(&bounded(&server, &["deliver"]));
    assert!(!again.contains("set aside"), "said once: {again}");
}

#[test]
fn a_job_whose_next_time_is_absurd_is_sent_rather_than_kept_forever() {
    let (receiver, server) = one_queued();
    let job = the_job(&server);
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&job).expect("job")).expect("json");
    value["next_ms"] = u64::MAX.into();
    value["attempts"] = 1.into();
    std::fs::write(&job, value.to_string()).expect("write");
    let (out, _) = text(&bounded(&server, &["deliver"]));
    assert!(out.contains("delivered 1"), "{out}");
    expect_requests(&receiver, 1);
}

#[test]
fn a_recorded_push_with_a_bad_line_is_named_as_a_record_and_set_aside() {
    let (_receiver, server) = in_async_mode();
    std::fs::create_dir_all(server.bare.join("webhook").join("pushes")).expect("mkdir");
    let record = server
        .bare
        .join("webhook")
        .join("pushes")
        .join("0000000000001-0000000000000001.json");
    let repo = server.bare.canonicalize().expect("canonical");
    std::fs::write(
        &record,
        serde_json::json!({
            "schema": 1, "repo": repo, "updates": ["not a ref update"],
            "at_ms": 1, "seed": 1, "push_options": [],
        })
        .to_string(),
    )
    .expect("record");
    let (out, _) = text(&bounded(&server, &["deliver"]));
    assert!(
        out.contains(&format!(
            "{}: ref update 1: expected \"<old> <new> <ref>\", got \"not a ref update\"; set aside as {}",
            record.display(),
            record.with_extension("bad").display()
        )),
        "{out}"
    );
    assert!(!out.contains("stdin line"), "{out}");
    let (status, _) = text(&bounded(&server, &["status"]));
    assert!(status.contains("damaged:   1"), "{status}");
}

#[test]
fn what_a_background_deliverer_sets_aside_is_said_in_the_spools_warnings() {
    let (receiver, server) = in_async_mode();
    let spool = server.bare.join("webhook");
    std::fs::create_dir_all(spool.join("pushes")).expect("mkdir");
    let record = spool
        .join("pushes")
        .join("0000000000001-0000000000000001.json");
    std::fs::write(&record, "{\"schema\": 1, \"repo\": ").expect("record");
    // The push's own deliverer, in the background, comes across the damaged record first.
    let work = server.clone_work();
    work.commits(1, "a");
    work.push(&["origin", "main"]);
    expect_requests(&receiver, 1);
    let warnings = spool.join("warnings.log");
    let mut said = String::new();
    for _ in 0..100 {
        said = std::fs::read_to_string(&warnings).unwrap_or_default();
        if !said.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 1, "{said}");
    let (when, what) = lines[0].split_once(' ').expect("a dated line");
    assert!(chrono::DateTime::parse_from_rfc3339(when).is_ok(), "{when}");
    assert!(
        what.starts_with(&format!("git-webhook: warning: {}: ", record.display()))
            && what.ends_with(&format!(
                "; set aside as {}",
                record.with_extension("bad").display()
            )),
        "{what}"
    );
    let (status, _) = text(&bounded(&server, &["status"]));
    assert!(
        status.contains(
            "set aside as *.bad (why: the deliverer's output, or the spool's warnings.log)"
        ),
        "{status}"
    );
}
