//! The file spools of every repository below a directory, as one worker's source
//! (`deliver --watch --all DIR`): the repositories are found by a scan (again now and then, so new
//! ones are picked up), and a hook tells the worker of its push through a socket in the directory
//! (`DIR/.git-webhook.sock`). That socket is also how a hook knows a worker is there: a hook that
//! can tell one leaves its push to it instead of starting a background deliverer.

use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::queue::{Queue as _, QueueError};
use super::serve::Repos;
use super::spool::Spool;
use super::summary::Summary;

/// The socket's name in the directory the worker serves.
pub const SOCKET: &str = ".git-webhook.sock";
/// How often the directory is scanned for repositories, and every spool looked at for work no
/// hook told of (a hook that could not reach the socket).
const RESCAN: Duration = Duration::from_secs(60);
const SWEEP: Duration = Duration::from_secs(10);

/// Who finds the repositories and their spools (what their configuration says).
pub trait Roster: Sync {
    /// Every repository below `root` to serve (canonical paths), each with its spools' places.
    fn scan(&self, root: &Path) -> Vec<(PathBuf, Vec<PathBuf>)>;
    /// One repository's spools' places, if it is one to serve.
    fn spools(&self, repo: &Path) -> Option<Vec<PathBuf>>;
}

/// Why the worker cannot serve the directory.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("cannot listen on {}", path.display())]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another worker already serves {} (it listens on {})", dir.display(), path.display())]
    Taken { dir: PathBuf, path: PathBuf },
}

/// What the tree knows of one repository.
#[derive(Debug, Default)]
struct Entry {
    spools: Vec<PathBuf>,
    /// Its spools' marks when last looked at.
    mark: Option<u64>,
    /// A hook told of it, or its spools changed, since its last round.
    dirty: bool,
    /// Counts what made it dirty, so that a round's end clears only what came before the round.
    told: u64,
    /// `told` when its round began.
    began: u64,
    /// When its last round's earliest waiting job is due.
    next_due: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    repos: HashMap<PathBuf, Entry>,
    scanned: Option<Instant>,
    swept: Option<Instant>,
}

/// Every repository below a directory, served by this process.
pub struct Tree<'a> {
    root: PathBuf,
    socket: UnixDatagram,
    path: PathBuf,
    roster: &'a dyn Roster,
    state: Mutex<State>,
}

/// What changes when jobs, or pushes to make jobs of, are added to any of these spools.
fn mark_of(spools: &[PathBuf]) -> u64 {
    spools
        .iter()
        .filter_map(|root| Spool::existing(root, "mark"))
        .filter_map(|s| s.mark().ok())
        .fold(0, |all, m| all.rotate_left(1) ^ m)
}

impl<'a> Tree<'a> {
    /// Listens on `root`'s socket (one left by a worker killed is taken over); `Err` when another
    /// worker listens there.
    pub fn bind(root: &Path, roster: &'a dyn Roster) -> Result<Tree<'a>, TreeError> {
        use std::os::unix::fs::PermissionsExt as _;
        let path = root.join(SOCKET);
        let bind = |e| TreeError::Bind {
            path: path.clone(),
            source: e,
        };
        let socket = match UnixDatagram::bind(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                if UnixDatagram::unbound()
                    .and_then(|probe| probe.send_to(b"", &path))
                    .is_ok()
                {
                    return Err(TreeError::Taken {
                        dir: root.to_path_buf(),
                        path,
                    });
                }
                let _ = std::fs::remove_file(&path);
                UnixDatagram::bind(&path).map_err(bind)?
            }
            Err(e) => return Err(bind(e)),
        };
        // Hooks run as whoever pushes (an ssh user, the web server): any of them may tell.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).map_err(bind)?;
        Ok(Tree {
            root: root.to_path_buf(),
            socket,
            path,
            roster,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A hook told of `repo`: served at the next turn (found now if it is new).
    fn told(&self, repo: &Path) {
        if !repo.starts_with(&self.root) {
            return;
        }
        let known = self.state().repos.contains_key(repo);
        let spools = if known {
            None
        } else {
            match self.roster.spools(repo) {
                Some(spools) => Some(spools),
                None => return,
            }
        };
        let mut state = self.state();
        let entry = state.repos.entry(repo.to_path_buf()).or_default();
        if let Some(spools) = spools {
            entry.spools = spools;
        }
        entry.dirty = true;
        entry.told += 1;
    }
}

impl Repos for Tree<'_> {
    /// Scans for new repositories every minute, and looks at every spool every ten seconds for
    /// work no hook told of.
    fn waiting(&self) -> Result<Vec<(PathBuf, u64)>, QueueError> {
        let rescan = self.state().scanned.is_none_or(|t| t.elapsed() >= RESCAN);
        if rescan {
            let found = self.roster.scan(&self.root);
            let mut state = self.state();
            state.scanned = Some(Instant::now());
            let before = std::mem::take(&mut state.repos);
            for (repo, spools) in found {
                let old = before.get(&repo);
                let entry = Entry {
                    spools,
                    mark: old.and_then(|e| e.mark),
                    dirty: old.is_none_or(|e| e.dirty),
                    told: old.map_or(0, |e| e.told),
                    began: old.map_or(0, |e| e.began),
                    next_due: old.and_then(|e| e.next_due),
                };
                state.repos.insert(repo, entry);
            }
        }
        let mut state = self.state();
        if state.swept.is_none_or(|t| t.elapsed() >= SWEEP) {
            state.swept = Some(Instant::now());
            for entry in state.repos.values_mut() {
                let mark = Some(mark_of(&entry.spools));
                if mark != entry.mark {
                    entry.dirty = true;
                    entry.told += 1;
                }
            }
        }
        let mut due = Vec::new();
        for (repo, entry) in state.repos.iter_mut() {
            if entry.dirty {
                // What it holds now: a change from here on shows at the next sweep.
                entry.mark = Some(mark_of(&entry.spools));
                entry.began = entry.told;
                due.push((repo.clone(), 0));
            } else if let Some(next) = entry.next_due {
                due.push((repo.clone(), next));
            }
        }
        Ok(due)
    }

    /// Each datagram names a repository a hook queued webhooks for.
    fn listen(&self, wake: &dyn Fn() -> bool) {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok(n) = self.socket.recv(&mut buf) else {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            };
            if n == 0 {
                continue; // A probe.
            }
            let repo = PathBuf::from(String::from_utf8_lossy(&buf[..n]).into_owned());
            self.told(&repo);
            if !wake() {
                return;
            }
        }
    }

    /// Clean again, unless a hook told of it while the round ran.
    fn done(&self, repo: &Path, summary: Option<&Summary>) {
        if let Some(entry) = self.state().repos.get_mut(repo) {
            entry.dirty = entry.told != entry.began;
            entry.next_due = summary.and_then(|s| s.next_due_ms);
        }
    }

    fn back(&self) -> String {
        format!("the spools below {} can be read again", self.root.display())
    }
}

impl Drop for Tree<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Tells the worker serving a directory above `repo` (its canonical path) that `repo` has new
/// work; returns that directory, or `None` when no worker listens above it.
pub fn tell(repo: &Path) -> Option<PathBuf> {
    let socket = UnixDatagram::unbound().ok()?;
    let text = repo.to_string_lossy();
    repo.ancestors().skip(1).find_map(|dir| {
        let path = dir.join(SOCKET);
        (path.exists() && socket.send_to(text.as_bytes(), &path).is_ok()).then(|| dir.to_path_buf())
    })
}
