//! A spool on a full disk never loses a push's webhooks: as root, the spool sits on a small tmpfs
//! filled to the last byte; anywhere, a file-size limit (`ulimit -f`) makes every write of the
//! hook fail. Pushes stay green, say in one line where their webhooks went instead, and every
//! webhook arrives (once space is back, or at once).
#![allow(clippy::disallowed_methods, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounted at `dir`; `None` (said) where this process may not mount.
    fn mount(dir: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!(
                "skipped: cannot mount a tmpfs here (needs root); the file-size test still runs"
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    /// Fills it to the last byte.
    fn fill(&self) {
        use std::io::Write as _;
        let mut f = std::fs::File::create(self.0.join("filler")).expect("filler");
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0u8; 1]);
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).expect("free the space");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

fn config(url: &str, mode: &str, spool: &Path) -> String {
    format!(
        "[delivery]\nmode = \"{mode}\"\nspool_dir = \"{}\"\n\n[[endpoint]]\nurl = \"{url}\"\n",
        spool.display()
    )
}

/// Pushes `n` commits one push each, the temporary directory (where a fallback spool goes) being
/// `tmp`; every push must succeed. Returns what the pusher saw.
fn push_each(work: &Work, n: usize, tmp: &Path) -> Vec<String> {
    let tmp = tmp.to_string_lossy();
    (0..n)
        .map(|i| {
            work.commit(&format!("change {i}"));
            work.push_env(&["origin", "HEAD:main"], &[("TMPDIR", &tmp)])
        })
        .collect()
}

fn full_spool_loses_nothing(mode: &str) {
    let receiver = Receiver::start().expect("receiver");
    let probe = tempfile::tempdir().expect("tempdir");
    let Some(disk) = Tmpfs::mount(&probe.path().join("disk")) else {
        return;
    };
    let spool = disk.0.join("spool");
    let server = Server::new(&config(&receiver.url("/hook"), mode, &spool));
    let work = server.clone_work();
    // The spool exists (a push has been queued there), then the disk fills up.
    work.commit("first");
    work.push(&["origin", "HEAD:main"]);
    disk.fill();
    let said = push_each(&work, 10, probe.path());
    for s in &said {
        assert!(!s.contains("lost"), "{s}");
    }
    eprintln!("{mode} mode on a full spool disk said:\n{}", said[0]);
    disk.free();
    // `deliver` (a timer's, say) sends what waits, wherever it waits; a deliverer still at work
    // may hold an endpoint for a moment, so it runs until every webhook is in (bounded).
    for _ in 0..30 {
        let out = server.run_hook(
            &["deliver"],
            b"",
            &[("TMPDIR", &probe.path().to_string_lossy())],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if receiver.wait_for(11, Duration::from_secs(1)).len() >= 11 {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        receiver.requests().len(),
        11,
        "every push's webhook arrived once ({mode} mode)"
    );
}

#[test]
fn queue_mode_on_a_full_spool_disk_loses_nothing() {
    full_spool_loses_nothing("queue");
}

#[test]
fn async_mode_on_a_full_spool_disk_loses_nothing() {
    full_spool_loses_nothing("async");
}

/// Anywhere (no root needed): the hook may write nothing at all (`ulimit -f 0`), so no spool can
/// keep the push: its webhook is sent from memory before the hook returns, and said so.
#[test]
fn a_hook_that_can_write_nothing_sends_from_memory() {
    use std::os::unix::fs::PermissionsExt as _;
    let receiver = Receiver::start().expect("receiver");
    let probe = tempfile::tempdir().expect("tempdir");
    let server = Server::new(&format!(
        "[[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/hook")
    ));
    let hook = server.bare.join("hooks").join("post-receive");
    std::fs::remove_file(&hook).expect("remove the symlink");
    // SIGXFSZ ignored: a write past the limit then fails with EFBIG instead of killing the hook.
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ntrap '' XFSZ\nulimit -f 0\nexec {} post-receive\n",
            bin().display()
        ),
    )
    .expect("hook script");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let work = server.clone_work();
    work.commits(1, "a");
    let said = work.push_env(
        &["origin", "main"],
        &[("TMPDIR", &probe.path().to_string_lossy())],
    );
    assert!(said.contains("File too large"), "{said}");
    assert!(
        said.contains("no spool can keep 1 webhook(s): sending them now"),
        "{said}"
    );
    assert!(said.contains("refs/heads/main -> "), "{said}");
    assert!(said.contains("200 OK"), "{said}");
    assert!(!said.contains("lost"), "{said}");
    expect_requests(&receiver, 1);
}

#[test]
fn a_watching_worker_sends_what_waits_in_the_fallback_while_the_disk_stays_full() {
    let receiver = Receiver::start().expect("receiver");
    let probe = tempfile::tempdir().expect("tempdir");
    let Some(disk) = Tmpfs::mount(&probe.path().join("disk")) else {
        return;
    };
    let server = Server::new(&config(
        &receiver.url("/hook"),
        "queue",
        &disk.0.join("spool"),
    ));
    let work = server.clone_work();
    work.commit("first");
    let tmp = probe.path().to_string_lossy().into_owned();
    work.push_env(&["origin", "HEAD:main"], &[("TMPDIR", &tmp)]);
    let mut watching = hermetic(std::process::Command::new(bin()), &server.bare)
        .args(["deliver", "--watch"])
        .env("GIT_DIR", ".")
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("worker");
    receiver.wait_for(1, Duration::from_secs(20));
    // The worker is idle, waiting for jobs, when the disk fills and pushes go to the fallback.
    std::thread::sleep(Duration::from_secs(1));
    disk.fill();
    push_each(&work, 3, probe.path());
    let got = receiver.wait_for(4, Duration::from_secs(20));
    let _ = watching.kill();
    let _ = watching.wait();
    assert_eq!(got.len(), 4, "sent from the fallback, the disk still full");
}

#[test]
fn a_spool_that_cannot_even_be_made_falls_back_and_is_delivered_from_there() {
    let receiver = Receiver::start().expect("receiver");
    let probe = tempfile::tempdir().expect("tempdir");
    let server = Server::new(&format!(
        "[[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/hook")
    ));
    // Where the spool should be, a file: no spool can be made there.
    std::fs::write(server.bare.join("webhook"), "not a directory").expect("file");
    let work = server.clone_work();
    work.commits(1, "a");
    let said = work.push_env(
        &["origin", "main"],
        &[("TMPDIR", &probe.path().to_string_lossy())],
    );
    assert!(
        said.contains("instead, and are delivered from there"),
        "{said}"
    );
    // The background deliverer the push started sends it from the fallback.
    expect_requests(&receiver, 1);
}
