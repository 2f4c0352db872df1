//! A small webhook receiver on 127.0.0.1 that records every request: for `demo`. The tests and
//! benchmarks compile this same file into their support code (it uses nothing of the crate), where
//! scripted replies and wrapped (TLS) streams serve them; the program itself uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request body accepted, and longest header block.
const MAX_BODY: usize = 64 << 20;
const MAX_HEADER_LINES: usize = 200;

/// One received request, headers in the order they came.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Instant,
}

impl Request {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How to answer a request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Wait this long before answering (a slow receiver).
    pub delay: Duration,
    pub headers: Vec<(String, String)>,
    /// The answer's body (default `ok`).
    pub body: String,
}

impl Default for Reply {
    fn default() -> Reply {
        Reply {
            status: 200,
            delay: Duration::ZERO,
            headers: Vec::new(),
            body: "ok".to_owned(),
        }
    }
}

type Responder = dyn Fn(&Request) -> Reply + Send + Sync;

/// A connection's byte stream: the TCP stream itself, or a TLS session over it.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// Turns an accepted connection into the stream requests are read from (`None`: drop it).
type Wrap = dyn Fn(TcpStream) -> Option<Box<dyn Stream>> + Send + Sync;

/// A running receiver; it stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// A receiver that answers every request with 200.
    pub fn start() -> std::io::Result<Receiver> {
        Receiver::start_with(|_| Reply::default())
    }

    /// A receiver that answers as `respond` says.
    pub fn start_with(
        respond: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Receiver> {
        Receiver::start_on(0, respond)
    }

    /// A receiver on a given port of 127.0.0.1 (0: any free port).
    pub fn start_on(
        port: u16,
        respond: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Receiver> {
        Receiver::start_wrapped(port, |s| Some(Box::new(s) as Box<dyn Stream>), respond)
    }

    /// A receiver whose connections go through `wrap` first (a TLS server session, in tests).
    pub fn start_wrapped(
        port: u16,
        wrap: impl Fn(TcpStream) -> Option<Box<dyn Stream>> + Send + Sync + 'static,
        respond: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let wrap: Arc<Wrap> = Arc::new(wrap);
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let respond: Arc<Responder> = Arc::new(respond);
        let (reqs, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let (reqs, respond, wrap) = (reqs.clone(), respond.clone(), wrap.clone());
                std::thread::spawn(move || {
                    if let Some(stream) = wrap(stream) {
                        serve(stream, &reqs, &*respond);
                    }
                });
            }
        });
        Ok(Receiver {
            addr,
            requests,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits (at most `timeout`) until `n` requests have arrived, and returns what has.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(stream: &mut dyn Stream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut first = line.split_whitespace();
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let mut headers = Vec::new();
    for _ in 0..MAX_HEADER_LINES {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (name, value) = l.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
        received_at: Instant::now(),
    })
}

fn serve(mut stream: Box<dyn Stream>, requests: &Mutex<Vec<Request>>, respond: &Responder) {
    let Some(request) = read_request(&mut *stream) else {
        return;
    };
    let reply = respond(&request);
    if let Ok(mut r) = requests.lock() {
        r.push(request);
    }
    std::thread::sleep(reply.delay);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&reply.body);
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.flush();
}
