//! How a spool claims: its queue listed in order, the job files read a chunk at a time (several
//! threads at once for a long queue), and each job picked claimed by an OS lock on its file, held
//! open until the claim is settled; as many claims at once as this process may hold files open.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{in_shares, Spool};
use crate::delivery::files::{self, ctx, json_files, Damage, Dir};
use crate::delivery::job::Job;
use crate::delivery::queue::{Claim, Claimed, QueueError, Token};

/// Job files are read this many at a time while claiming (the first [`READ_IN_PARALLEL`] alone), or
/// as many as a listing claims if fewer (what a pass holds open besides its claims), by up to
/// [`MAX_READERS`] threads once a chunk holds [`READ_IN_PARALLEL`].
pub(super) const READ_CHUNK: usize = 512;
const MAX_READERS: usize = 4;
pub(super) const READ_IN_PARALLEL: usize = 64;
/// The most claims one listing makes, however many files this process may open (see
/// [`claims_at_once`]), and the fewest.
const MAX_CLAIMS: usize = 16_384;
const MIN_CLAIMS: usize = 16;
/// How many files this process may open besides its claims and the chunk being read (sockets,
/// lanes).
const OTHER_FILES: usize = 128;
/// A job file read: the job, its inode and the file, still open; or what is wrong with it.
type Read = Result<(Job, u64, File), Damage>;

/// How many claims one listing makes: each holds its job's file open until it is settled, so a
/// third of the files this process may open, once that limit is raised as far as the system lets
/// it (as servers do: 1024 by default, of a far higher hard limit), within
/// [`MIN_CLAIMS`]..[`MAX_CLAIMS`].
fn claims_at_once() -> usize {
    static AT_ONCE: OnceLock<usize> = OnceLock::new();
    *AT_ONCE.get_or_init(|| {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        if let (Some(soft), Some(hard)) = (limit.current, limit.maximum) {
            if soft < hard {
                let raised = Rlimit {
                    current: Some(hard),
                    maximum: Some(hard),
                };
                let _ = setrlimit(Resource::Nofile, raised);
            }
        }
        // A third each for the claims and for the files of a chunk being read (at most as many),
        // and some for everything else (sockets, lanes).
        let open = getrlimit(Resource::Nofile).current.map(|n| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .saturating_sub(OTHER_FILES)
                / 3
        });
        open.unwrap_or(MAX_CLAIMS).clamp(MIN_CLAIMS, MAX_CLAIMS)
    })
}

/// Grows this process's table of open files to hold `n` (as far as its limit lets it), in one step
/// before the files are opened: the kernel grows it by doubling when a file is opened past its end,
/// and while other threads run (the readers, the senders) each growth waits until every CPU has
/// passed a quiescent point, several milliseconds on a virtual machine: seven times on the way from
/// 64 files to 8,192. Best effort: a table that cannot grow now grows as the files are opened.
fn room_for(dir: &Dir, n: usize) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let n = limit.map_or(n, |l| n.min(usize::try_from(l).unwrap_or(usize::MAX)));
    if let Some(last) = n.checked_sub(1).and_then(|l| i32::try_from(l).ok()) {
        // The lowest free number at `last` or above: the table holds `n` from now on.
        let _ = rustix::io::fcntl_dupfd_cloexec(dir, last);
    }
}

/// A file read, unless it was gone (settled by another worker since it was listed).
fn there(read: Read) -> Option<Read> {
    match read {
        Err(Damage::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        read => Some(read),
    }
}

impl Spool {
    /// [`crate::delivery::queue::Queue::claim_each`] for a spool.
    pub(super) fn claim_listed(
        &self,
        pick: &mut dyn FnMut(&Job) -> bool,
        take: &mut dyn FnMut(Claim),
    ) -> Result<Claimed, QueueError> {
        self.owner()?;
        let mut found = Claimed::default();
        let queued = json_files(&self.dir("queue"))?;
        if queued.is_empty() {
            return Ok(found);
        }
        let dir = Dir::open(&self.dir("queue"))?;
        let (mut made, at_once) = (0, self.at_once.unwrap_or_else(claims_at_once));
        let claims = queued.len().min(at_once);
        room_for(&dir, OTHER_FILES + claims + claims.min(READ_CHUNK));
        // A short first chunk: the first claims go out to be sent while the rest is read.
        let first = queued.len().min(READ_IN_PARALLEL.min(at_once));
        let (head, tail) = queued.split_at(first);
        let chunks = std::iter::once(head).chain(tail.chunks(READ_CHUNK.min(at_once)));
        for chunk in chunks {
            found.more = made >= at_once;
            if found.more {
                break;
            }
            for (path, read) in chunk.iter().zip(Spool::read_all(&dir, chunk)) {
                found.more = made >= at_once;
                if found.more {
                    return Ok(found);
                }
                if let Some(claim) = Spool::pick_one(&dir, path, read, pick, &mut found)? {
                    made += 1;
                    take(claim);
                }
            }
        }
        Ok(found)
    }

    /// [`Spool::read`], and the file still open.
    pub(super) fn read_open(path: &Path) -> Option<Read> {
        there(files::read_open::<Job>(path))
    }

    /// [`Spool::read_open`] of a file in `dir`.
    fn read_open_in(dir: &Dir, path: &Path) -> Option<Read> {
        there(dir.read_open::<Job>(path))
    }

    /// Takes the waiting job at `path`, read as `job` from `file` (inode `ino`), for this worker:
    /// the file locked, and held open until the claim ends. `Ok(None)`: another worker holds it, or
    /// settled it since it was read.
    fn take(
        dir: &Dir,
        path: &Path,
        (job, ino, file): (Job, u64, File),
    ) -> Result<Option<Claim>, QueueError> {
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return ctx("cannot lock", path, Err(e)),
        }
        // Locked: the queue must still name this very file, since a worker moves or replaces a job
        // it settles before it lets go of it.
        match dir.inode(path) {
            Ok(found) if found == ino => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return ctx("cannot claim", path, Err(e)),
        }
        let token = Token::new(path.to_string_lossy());
        Ok(Some(Claim::holding(job, token, file)))
    }

    /// Reads job files in order, several threads at once when there are many (listing a long queue
    /// is mostly reading it), each left open to be locked if it is claimed.
    fn read_all(dir: &Dir, paths: &[PathBuf]) -> Vec<Option<Read>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_READERS));
        let shares = if paths.len() < READ_IN_PARALLEL {
            1
        } else {
            threads
        };
        in_shares(paths, shares, |p| Spool::read_open_in(dir, p))
    }

    /// Offers the waiting job read from `path` to `pick`, and claims it if taken; sets it aside if
    /// it is damaged.
    pub(super) fn pick_one(
        dir: &Dir,
        path: &Path,
        read: Option<Read>,
        pick: &mut dyn FnMut(&Job) -> bool,
        found: &mut Claimed,
    ) -> Result<Option<Claim>, QueueError> {
        match read {
            Some(Err(damage)) if damage.is_passing() => {
                return ctx("cannot read", path, Err(std::io::Error::other(damage)))
            }
            Some(Err(damage)) => found.set_aside.push(files::set_aside(path, &damage)),
            Some(Ok(read)) if pick(&read.0) => return Spool::take(dir, path, read),
            None | Some(Ok(_)) => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of this process's table of open files, as the kernel says.
    fn table_size() -> usize {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("FDSize:")).unwrap();
        line["FDSize:".len()..].trim().parse().unwrap()
    }

    #[test]
    fn room_is_made_for_the_files_a_claim_holds_before_they_are_opened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let n = limit.map_or(8192, |l| usize::try_from(l).unwrap().min(8192));
        room_for(&dir, n);
        assert!(table_size() >= n, "{} < {n}", table_size());
        // Nothing is left open for it.
        assert!(!Path::new(&format!("/proc/self/fd/{}", n - 1)).exists());
        // A limit beyond what may be opened is no error: the table grows as far as it may.
        room_for(&dir, usize::MAX);
    }
}
