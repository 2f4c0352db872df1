//! A receiver that keeps connections alive and closes them when idle (as Apache and Node do after 5
//! s): a request after a pause goes on a fresh connection, never on one the receiver has closed; a
//! worker serving repository after repository sends on one connection, and closes it once idle.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

/// What a receiver counted: requests answered, connections taken, and connections the sender
/// closed.
#[derive(Default)]
struct Counted {
    answered: AtomicUsize,
    connections: AtomicUsize,
    closed: AtomicUsize,
}

/// Serves each connection's requests in turn, 200 to each, and closes it after `idle` without one;
/// returns its port and what it counted.
fn closes_when_idle(idle: Duration) -> (u16, Arc<Counted>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let counted = Arc::new(Counted::default());
    let count = Arc::clone(&counted);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.connections.fetch_add(1, Ordering::SeqCst);
            let count = Arc::clone(&count);
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(idle));
                let mut reader = BufReader::new(&stream);
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    // The request line and headers; a timeout or the peer's close ends the connection.
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(n) if n > 0 => {}
                            Ok(_) => {
                                count.closed.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            Err(_) => return,
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    count.answered.fetch_add(1, Ordering::SeqCst);
                    let _ = (&stream).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            });
        }
    });
    (port, counted)
}

#[test]
fn a_request_after_a_pause_does_not_go_on_a_connection_the_receiver_closed() {
    let (port, counted) = closes_when_idle(Duration::from_millis(1_000));
    let answered = &counted.answered;
    let server = Server::new(&format!(
        "[delivery]\nmode = \"queue\"\n\n[[endpoint]]\nurl = \"http://127.0.0.1:{port}/hook\"\n"
    ));
    let mut worker = hermetic(std::process::Command::new(bin()), &server.bare)
        .args(["deliver", "--watch"])
        .env("GIT_DIR", ".")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("worker");
    let work = server.clone_work();
    for i in 1..=3 {
        work.commits(1, &format!("c{i}"));
        work.push(&["origin", "main"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while answered.load(Ordering::SeqCst) < i && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(answered.load(Ordering::SeqCst), i, "push {i} delivered");
        // Longer than the receiver keeps an idle connection.
        std::thread::sleep(Duration::from_millis(1_500));
    }
    let _ = worker.kill();
    let mut said = String::new();
    let _ = worker
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut said);
    let _ = worker.wait();
    assert!(
        !said.contains("FAILED"),
        "every push delivered on its first attempt: {said}"
    );
    // Each connection was closed by the waiting worker, before the receiver would have.
    assert_eq!(counted.closed.load(Ordering::SeqCst), 3);
}

#[test]
fn a_worker_sends_repository_after_repository_on_one_connection_and_closes_it_once_idle() {
    let (port, counted) = closes_when_idle(Duration::from_secs(30));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().canonicalize().expect("dir").join("srv");
    std::fs::create_dir_all(&dir).expect("srv");
    for n in 0..4 {
        // Left by the hook to a worker.
        let config = format!(
            "[delivery]\nmode = \"queue\"\n\n[[endpoint]]\nurl = \"http://127.0.0.1:{port}/r{n}\"\n"
        );
        let work = repository_below(&dir, &format!("r{n}"), &config);
        work.commits(1, "change");
        work.push(&["origin", "HEAD:main"]);
    }
    // The server-wide file has the worker serve one repository at a time: each round starts
    // as the one before ends.
    let global = tmp.path().join("git-webhook.toml");
    std::fs::write(&global, "[delivery]\nmax_parallel = 1\n").expect("global");
    let mut worker = hermetic(std::process::Command::new(bin()), &dir)
        .args(["deliver", "--watch", "--all", &dir.to_string_lossy()])
        .env("GIT_WEBHOOK_GLOBAL_CONFIG", &global)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("worker");
    let until = |what: &AtomicUsize, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while what.load(Ordering::SeqCst) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        what.load(Ordering::SeqCst)
    };
    let answered = until(&counted.answered, 4);
    // Then, with nothing left to send, the worker closes the connection it kept.
    let closed = until(&counted.closed, 1);
    let _ = worker.kill();
    let _ = worker.wait();
    assert_eq!(answered, 4, "every repository's webhook");
    assert_eq!(closed, 1, "closed by the idle worker");
    assert_eq!(
        counted.connections.load(Ordering::SeqCst),
        1,
        "the four rounds took one connection"
    );
}
