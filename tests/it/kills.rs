//! kill -9 at random points: spool and database workers killed while they send (each endpoint's
//! webhooks must still arrive in push order, none lost), and hooks killed while they write (the
//! leftovers they leave are cleaned by the next deliverer). Bounded in kills and in time; the seed of
//! the random points is printed, so a failure can be replayed with `GIT_WEBHOOK_TEST_SEED`.
#![allow(clippy::disallowed_methods, clippy::print_stderr)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::support::pg::Cluster;
use crate::support::{bin, hermetic, Receiver, Reply, Request, Server};

fn rng() -> rand::rngs::StdRng {
    let seed = std::env::var("GIT_WEBHOOK_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen::<u64>());
    eprintln!("random points from GIT_WEBHOOK_TEST_SEED={seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

fn worker(dir: &Path, global: &Path, n: usize) -> Child {
    let out = std::fs::File::create(dir.join(format!("worker{n}.log"))).expect("log file");
    hermetic(Command::new(bin()), dir)
        .args(["deliver", "--watch"])
        .env("GIT_WEBHOOK_GLOBAL_CONFIG", global)
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start worker")
}

fn kill(mut w: Child) {
    let _ = w.kill(); // SIGKILL
    let _ = w.wait();
}

/// The refs of `got` in the order of their first arrival, per request path (one per endpoint).
fn first_arrivals(got: &[Request]) -> HashMap<String, Vec<String>> {
    let mut seen = HashSet::new();
    let mut by_path: HashMap<String, Vec<String>> = HashMap::new();
    for r in got {
        let refname = r.json()["ref"].as_str().unwrap_or_default().to_owned();
        if seen.insert((r.path.clone(), refname.clone())) {
            by_path.entry(r.path.clone()).or_default().push(refname);
        }
    }
    by_path
}

/// Webhooks that arrived (for the first time) after a later one of the same endpoint.
fn inversions(order: &[String]) -> usize {
    let mut newest = "";
    let mut n = 0;
    for r in order {
        if r.as_str() < newest {
            n += 1;
        } else {
            newest = r;
        }
    }
    n
}

/// Receivers that take 50-500 ms per answer, so that kills land mid-send.
fn slow_receiver() -> Receiver {
    Receiver::start_with(|r| Reply {
        delay: Duration::from_millis(50 + (r.body.len() as u64 * 7919) % 450),
        ..Reply::default()
    })
    .expect("receiver")
}

fn three_endpoints(receiver: &Receiver) -> String {
    ["/e1", "/e2", "/e3"]
        .iter()
        .map(|p| format!("[[endpoint]]\nurl = \"{}\"\n\n", receiver.url(p)))
        .collect()
}

/// Two workers at a time (`start` starts one); every 0.2-1.5 s one of them is killed and another
/// started, while pushes of two new branches each come every 0.1-0.6 s, the webhooks named in push
/// order. Then each of the three endpoints must have had every webhook, first in push order;
/// `state` tells what is left when they do not come.
fn killed_workers_keep_each_endpoints_order(
    server: &Server,
    receiver: &Receiver,
    push_env: &[(&str, &str)],
    start: &dyn Fn(usize) -> Child,
    state: &dyn Fn() -> String,
) {
    let mut rng = rng();
    let work = server.clone_work();
    work.commit("base");
    let mut workers: Vec<Child> = (0..2).map(start).collect();
    let (pushes, kills) = (16, 12);
    let gaps: Vec<u64> = (0..pushes).map(|_| rng.gen_range(100..600)).collect();
    let pushed = pushes * 2;
    std::thread::scope(|s| {
        s.spawn(|| {
            for (p, gap) in gaps.iter().enumerate() {
                let refspecs: Vec<String> = (0..2)
                    .map(|i| format!("HEAD:refs/heads/b{:02}", p * 2 + i))
                    .collect();
                let mut args = vec!["-q", "origin"];
                args.extend(refspecs.iter().map(String::as_str));
                work.push_env(&args, push_env);
                std::thread::sleep(Duration::from_millis(*gap));
            }
        });
        for started in 2..2 + kills {
            std::thread::sleep(Duration::from_millis(rng.gen_range(200..1500)));
            let victim = rng.gen_range(0..workers.len());
            kill(workers.swap_remove(victim));
            workers.push(start(started));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let everything = |got: &[Request]| first_arrivals(got).values().map(Vec::len).sum::<usize>();
    while everything(&receiver.requests()) < 3 * pushed {
        assert!(
            Instant::now() < deadline,
            "not all delivered: {}\n{}",
            everything(&receiver.requests()),
            state()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    workers.into_iter().for_each(kill);
    let order = first_arrivals(&receiver.requests());
    assert_eq!(order.len(), 3, "three endpoints");
    let counts: Vec<(String, usize)> = order
        .iter()
        .map(|(path, refs)| (path.clone(), inversions(refs)))
        .collect();
    eprintln!("inversions per endpoint after {kills} kills: {counts:?}");
    for (path, refs) in &order {
        assert_eq!(refs.len(), pushed, "{path}: every webhook arrived");
        assert_eq!(
            inversions(refs),
            0,
            "{path} got them out of order: {refs:?}"
        );
    }
}

#[test]
fn database_workers_killed_at_random_points_keep_each_endpoints_order() {
    let Some(db) = Cluster::start() else { return };
    let receiver = slow_receiver();
    let tmp = tempfile::tempdir().expect("tempdir");
    let global: PathBuf = tmp.path().join("server.toml");
    std::fs::write(
        &global,
        format!(
            "[delivery]\nqueue = \"{}\"\nmode = \"queue\"\nqueue_lease = \"1s\"\n",
            db.url()
        ),
    )
    .expect("server.toml");
    let server = Server::new(&three_endpoints(&receiver));
    let gs = global.to_string_lossy().into_owned();
    killed_workers_keep_each_endpoints_order(
        &server,
        &receiver,
        &[("GIT_WEBHOOK_GLOBAL_CONFIG", &gs)],
        &|n| worker(tmp.path(), &global, n),
        &|| {
            db.sql("SELECT refname, endpoint, state, claimed_by FROM git_webhook.jobs ORDER BY seq")
        },
    );
}

#[test]
fn spool_workers_killed_at_random_points_keep_each_endpoints_order() {
    let receiver = slow_receiver();
    let config = format!(
        "[delivery]\nmode = \"queue\"\n\n{}",
        three_endpoints(&receiver)
    );
    let server = Server::new(&config);
    let start = |n: usize| {
        let out = std::fs::File::create(server.bare.join(format!("worker{n}.log"))).expect("log");
        hermetic(Command::new(bin()), &server.bare)
            .args(["deliver", "--watch"])
            .env("GIT_DIR", ".")
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("start worker")
    };
    let queue = server.bare.join("webhook/queue");
    killed_workers_keep_each_endpoints_order(&server, &receiver, &[], &start, &|| {
        format!("{:?}", entries(&queue))
    });
}

fn backdate(path: &Path, ago: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open to backdate");
    file.set_modified(std::time::SystemTime::now() - ago)
        .expect("backdate");
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn what_killed_hooks_leave_behind_is_cleaned_by_the_next_deliverer() {
    let mut rng = rng();
    let receiver = Receiver::start().expect("receiver");
    let endpoints: String = ["/e1", "/e2", "/e3"]
        .iter()
        .map(|p| format!("[[endpoint]]\nurl = \"{}\"\n\n", receiver.url(p)))
        .collect();
    let server = Server::new(&format!("[delivery]\nmode = \"queue\"\n\n{endpoints}"));
    let work = server.clone_work();
    let head = work.commits(1, "a").remove(0);
    // The commit is in the repository; the hook is then run by hand, as git would, and killed.
    server.receive(&work, "HEAD:main");
    let input: String = (0..10)
        .map(|i| format!("{} {head} refs/heads/b{i}\n", crate::support::ZERO))
        .collect();
    for _ in 0..40 {
        let mut hook = hermetic(Command::new(bin()), &server.bare)
            .arg("post-receive")
            .env("GIT_DIR", ".")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hook");
        let _ = std::io::Write::write_all(hook.stdin.as_mut().expect("stdin"), input.as_bytes());
        std::thread::sleep(Duration::from_millis(rng.gen_range(2..25)));
        kill(hook);
    }
    let spool = server.bare.join("webhook");
    std::fs::create_dir_all(spool.join("pushes")).expect("pushes");
    // One leftover of each kind for certain, besides what the kills left.
    let planted = [
        spool.join("tmp").join("0000000000001-left.json.1-x"),
        spool.join("pushes").join("0000000000001-left.json.tmp"),
        spool.join("owners").join("1-gone.lock"),
    ];
    for p in &planted {
        std::fs::write(p, "{").expect("plant");
    }
    let left = |dir: &str, ext: &str| {
        entries(&spool.join(dir))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(ext))
            .collect::<Vec<_>>()
    };
    let leftovers: Vec<PathBuf> = [
        left("tmp", ""),
        left("pushes", ".tmp"),
        left("owners", ".lock"),
    ]
    .concat();
    eprintln!("{} leftovers after 40 kills (3 planted)", leftovers.len());
    for p in &leftovers {
        backdate(p, Duration::from_secs(600));
    }
    // A write under way right now is no leftover.
    let fresh = spool.join("tmp").join("9999999999999-fresh.json.1-y");
    std::fs::write(&fresh, "{").expect("fresh");
    let out = server.run_hook(&["deliver"], b"", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        left("tmp", ""),
        [fresh],
        "only the fresh write is left in tmp/"
    );
    assert!(
        left("pushes", ".tmp").is_empty(),
        "no half-written push record is left"
    );
    assert!(
        left("owners", ".lock").is_empty(),
        "no lock of a worker gone is left"
    );
}
