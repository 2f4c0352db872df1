//! A receiver that keeps connections alive and closes them when idle (as Apache and Node do after 5
//! s): a request after a pause goes on a fresh connection, never on one the receiver has closed.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

/// Serves each connection's requests in turn, 200 to each, and closes it after `idle` without one;
/// returns its port and the count of requests answered.
fn closes_when_idle(idle: Duration) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
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
                            _ => return,
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
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = (&stream).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            });
        }
    });
    (port, answered)
}

#[test]
fn a_request_after_a_pause_does_not_go_on_a_connection_the_receiver_closed() {
    let (port, answered) = closes_when_idle(Duration::from_millis(700));
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
        std::thread::sleep(Duration::from_millis(1_200));
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
}
