//! Durable files, as the spool and recorded pushes keep them: JSON written and synced before it is
//! renamed into place, directories synced, and errors that name the path. Reading is as careful:
//! only regular files are read (a FIFO or a device is opened without blocking and refused by its
//! type, a link is never followed), their size is bounded, their version checked, and what cannot
//! be read is set aside as `<name>.bad`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;

use super::queue::{QueueError, SetAside};

/// The largest file read as a job or a recorded push; anything larger is damaged.
const MAX_FILE: u64 = 64 << 20;

/// `r`, its error naming what failed and at which path.
pub(super) fn ctx<T>(
    what: &'static str,
    path: &Path,
    r: std::io::Result<T>,
) -> Result<T, QueueError> {
    r.map_err(|source| QueueError {
        what,
        place: path.display().to_string(),
        source: source.into(),
    })
}

/// The entries of a directory named `*.json`, sorted by name (whatever their type: reading them
/// tells).
pub(super) fn json_files(dir: &Path) -> Result<Vec<PathBuf>, QueueError> {
    let mut files = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let path = ctx("cannot list", dir, entry)?.path();
                if path.extension().is_some_and(|x| x == "json") {
                    files.push(path);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return ctx("cannot list", dir, Err(e)),
    }
    // All in one directory: ordered by their bytes, which is by name (and quicker than by
    // components).
    files.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    Ok(files)
}

/// How many entries of `dir` end in `.<ext>`.
pub(super) fn count(dir: &Path, ext: &str) -> Result<usize, QueueError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == ext))
            .count()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => ctx("cannot list", dir, Err(e)),
    }
}

/// Writes `value` as JSON to `tmp` and syncs it to disk (`dest` names it in errors): the first half
/// of a durable write, before the rename into place. A failed write leaves no `tmp` behind.
pub(super) fn write_synced(
    tmp: &Path,
    value: &impl serde::Serialize,
    dest: &Path,
) -> Result<(), QueueError> {
    let bytes = serde_json::to_vec(value).map_err(|e| QueueError {
        what: "cannot encode",
        place: dest.display().to_string(),
        source: e.into(),
    })?;
    let mut file = ctx("cannot create", tmp, File::create(tmp))?;
    let written = ctx(
        "cannot write",
        tmp,
        file.write_all(&bytes).and_then(|()| file.sync_all()),
    );
    if written.is_err() {
        let _ = fs::remove_file(tmp);
    }
    written
}

/// Opens (creating it if needed) a file to take an OS lock on; its content is never read.
pub(super) fn lock_file(path: &Path) -> Result<File, QueueError> {
    ctx(
        "cannot open the lock file",
        path,
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path),
    )
}

/// Syncs a directory, so that the renames into it last.
pub(super) fn fsync_dir(dir: &Path) -> Result<(), QueueError> {
    ctx(
        "cannot sync directory",
        dir,
        File::open(dir).and_then(|d| d.sync_all()),
    )
}

/// Something the spool keeps with a version: a job, a recorded push.
pub(super) trait Versioned: DeserializeOwned {
    /// The version this program reads and writes.
    const SCHEMA: u32;
    /// What it is, for messages: `job`, `recorded push`.
    const WHAT: &'static str;
    fn schema(&self) -> u32;
    /// What else makes it unusable, once parsed (a bad ref update line, an impossible time).
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Why a file cannot be read as what it should be.
#[derive(Debug, thiserror::Error)]
pub(super) enum Damage {
    #[error("not a regular file but {0}")]
    NotAFile(&'static str),
    #[error("{0} bytes, too large to read")]
    TooLarge(u64),
    #[error("cannot read it: {0}")]
    Io(#[source] std::io::Error),
    #[error("not a {what}: {error}")]
    NotJson {
        what: &'static str,
        error: serde_json::Error,
    },
    #[error("a {what} of version {found}, which this version of git-webhook (reading version {known}) does not know")]
    Schema {
        what: &'static str,
        found: u64,
        known: u32,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Damage {
    /// Whether it says nothing of the file: this process, or the system, is out of files or memory
    /// for now (the file is fine, and must not be set aside).
    pub(super) fn is_passing(&self) -> bool {
        let passing = [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::EINTR];
        matches!(self, Damage::Io(e) if e.raw_os_error().is_some_and(|n| passing.contains(&n)))
    }
}

fn kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    match () {
        () if t.is_dir() => "a directory",
        () if t.is_symlink() => "a symbolic link",
        () if t.is_fifo() => "a FIFO",
        () if t.is_socket() => "a socket",
        () if t.is_block_device() || t.is_char_device() => "a device",
        () => "something else",
    }
}

/// The inodes of the files some process holds an OS lock on (`flock`), as `/proc/locks` lists them;
/// none where it cannot be read. What it tells is only counted, never acted on: the list is read a
/// page at a time, and a lock let go of meanwhile can make it skip another, so it is read twice.
pub(super) fn locked_inodes() -> std::collections::HashSet<u64> {
    let mut text = fs::read_to_string("/proc/locks").unwrap_or_default();
    text.push_str(&fs::read_to_string("/proc/locks").unwrap_or_default());
    // `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF` (a waiter's has `->` after the number).
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, "FLOCK", _, _, _, file, ..] => file.rsplit(':').next()?.parse().ok(),
                _ => None,
            }
        })
        .collect()
}

/// Reads `path` as a `T`: a regular file (opened without following a link and without blocking,
/// and read only once its type says so), of bounded size, holding JSON of `T`'s version. Returns it
/// with its inode, which tells whether the file at that path is still the one read (files are
/// replaced, never changed in place, so the size it had when opened is all there is to read).
pub(super) fn read<T: Versioned>(path: &Path) -> Result<(T, u64), Damage> {
    read_open(path).map(|(value, ino, _)| (value, ino))
}

/// [`read`], and the file still open (to lock it, say).
pub(super) fn read_open<T: Versioned>(path: &Path) -> Result<(T, u64, File), Damage> {
    let opened = without_atime(|flags| rustix::fs::open(path, flags, rustix::fs::Mode::empty()));
    read_opened(opened, path)
}

/// Opens a file to be read with `open`, given the flags: without updating its access time when the
/// file is ours (a job's first read would otherwise write its inode back, through the journal, on
/// a filesystem mounted `relatime`), else as the flags say.
fn without_atime(
    open: impl Fn(rustix::fs::OFlags) -> rustix::io::Result<rustix::fd::OwnedFd>,
) -> std::io::Result<File> {
    let opened = match open(READ_FLAGS | rustix::fs::OFlags::NOATIME) {
        Err(rustix::io::Errno::PERM) => open(READ_FLAGS),
        opened => opened,
    };
    opened.map(File::from).map_err(std::io::Error::from)
}

/// How a file is opened to be read: never following a link, never blocking (on a fifo), never
/// becoming the process's terminal.
const READ_FLAGS: rustix::fs::OFlags = rustix::fs::OFlags::RDONLY
    .union(rustix::fs::OFlags::NONBLOCK)
    .union(rustix::fs::OFlags::NOFOLLOW)
    .union(rustix::fs::OFlags::NOCTTY)
    .union(rustix::fs::OFlags::CLOEXEC);

/// A directory held open, to open, look up and rename the files in it by name alone: each of those
/// would otherwise walk the whole path again (a spool's queue is gone through thousands of times).
pub(super) struct Dir {
    fd: rustix::fd::OwnedFd,
    path: PathBuf,
}

impl rustix::fd::AsFd for Dir {
    fn as_fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Dir {
    pub(super) fn open(path: &Path) -> Result<Dir, QueueError> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(std::io::Error::from);
        Ok(Dir {
            fd: ctx("cannot open", path, fd)?,
            path: path.to_path_buf(),
        })
    }

    /// Whether `path` is in this directory: its name, if so.
    pub(super) fn name_of<'p>(&self, path: &'p Path) -> Option<&'p std::ffi::OsStr> {
        (path.parent() == Some(self.path.as_path()))
            .then(|| path.file_name())
            .flatten()
    }

    /// [`read_open`] of `path`, in this directory.
    pub(super) fn read_open<T: Versioned>(&self, path: &Path) -> Result<(T, u64, File), Damage> {
        let Some(name) = self.name_of(path) else {
            return read_open(path);
        };
        let mode = rustix::fs::Mode::empty();
        let opened = without_atime(|flags| rustix::fs::openat(&self.fd, name, flags, mode));
        read_opened(opened, path)
    }

    /// The inode of `path`, in this directory, without following a link.
    pub(super) fn inode(&self, path: &Path) -> std::io::Result<u64> {
        match self.name_of(path) {
            Some(name) => {
                let flags = rustix::fs::AtFlags::SYMLINK_NOFOLLOW;
                Ok(rustix::fs::statat(&self.fd, name, flags)?.st_ino)
            }
            None => fs::symlink_metadata(path).map(|m| m.ino()),
        }
    }

    /// Renames `from`, in this directory, to `name` in `to`.
    pub(super) fn rename(&self, from: &Path, to: &Dir, name: &str) -> std::io::Result<()> {
        match self.name_of(from) {
            Some(old) => Ok(rustix::fs::renameat(&self.fd, old, &to.fd, name)?),
            None => fs::rename(from, to.path.join(name)),
        }
    }
}

fn read_opened<T: Versioned>(
    opened: std::io::Result<File>,
    path: &Path,
) -> Result<(T, u64, File), Damage> {
    let file = match opened {
        Ok(file) => file,
        // A link (never followed) or a socket (never opened): said as what it is.
        Err(e) => {
            return Err(match fs::symlink_metadata(path) {
                Ok(meta) if !meta.file_type().is_file() => Damage::NotAFile(kind(&meta)),
                _ => Damage::Io(e),
            })
        }
    };
    let meta = file.metadata().map_err(Damage::Io)?;
    if !meta.file_type().is_file() {
        return Err(Damage::NotAFile(kind(&meta)));
    }
    if meta.len() > MAX_FILE {
        return Err(Damage::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // Bounded by the size: no further read to find the end.
    (&file)
        .take(meta.len())
        .read_to_end(&mut bytes)
        .map_err(Damage::Io)?;
    let value = parse::<T>(&bytes)?;
    Ok((value, meta.ino(), file))
}

/// Parses `bytes` as a `T` of its version.
pub(super) fn parse<T: Versioned>(bytes: &[u8]) -> Result<T, Damage> {
    #[derive(serde::Deserialize)]
    struct Version {
        schema: Option<serde_json::Value>,
    }
    let schema_of = |found: u64| Damage::Schema {
        what: T::WHAT,
        found,
        known: T::SCHEMA,
    };
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) if v.schema() != T::SCHEMA => Err(schema_of(u64::from(v.schema()))),
        Ok(v) => v.check().map(|()| v).map_err(Damage::Invalid),
        Err(error) => match serde_json::from_slice::<Version>(bytes) {
            Ok(Version {
                schema: Some(serde_json::Value::Number(n)),
            }) if n.as_u64().is_some_and(|n| n != u64::from(T::SCHEMA)) => {
                Err(schema_of(n.as_u64().unwrap_or_default()))
            }
            _ => Err(Damage::NotJson {
                what: T::WHAT,
                error,
            }),
        },
    }
}

/// Moves a damaged entry aside as `<name>.bad` beside it, so that it is read no more; says where.
pub(super) fn set_aside(path: &Path, damage: &Damage) -> SetAside {
    let to = path.with_extension("bad");
    let moved = fs::rename(path, &to).is_ok();
    SetAside {
        place: path.display().to_string(),
        why: damage.to_string(),
        to: moved.then(|| to.display().to_string()),
    }
}

/// Removes the entries of `dir` that `leftover` picks by name and that were last changed more than
/// `age` before `now`: what a writer killed mid-write left behind. Returns how many went.
pub(super) fn sweep(
    dir: &Path,
    age: Duration,
    now: SystemTime,
    leftover: impl Fn(&str) -> bool,
) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(&leftover))
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d > age))
        })
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// Fuzzing, bounded: job files and recorded pushes damaged in any way (cut, bytes changed, values
/// replaced, or anything at all) never make the readers panic: each is read, or refused with why.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::delivery::job::Job;
    use crate::delivery::pushes::RecordedPush;
    use proptest::prelude::*;

    pub(super) const JOB: &str = r#"{"schema":1,"delivery":{"event_id":"47efceb0-db88-4beb-bb74-a804bfc6ef2d","hook":{"id":7,"delivery_id":"78ce18ef-96d3-4497-bdd7-681d839bc08a"},"kind":"push","instance":"http://x","project_id":1,"body":"{}"},"endpoint":{"number":1,"format":"gitlab","url":"http://127.0.0.1:9/"},"refname":"refs/heads/main","created_ms":1,"next_ms":2,"attempts":0,"repo":"/srv/a.git"}"#;
    const PUSH: &str = r#"{"schema":1,"repo":"/srv/a.git","updates":["0000000000000000000000000000000000000000 1111111111111111111111111111111111111111 refs/heads/main"],"before":["2222222222222222222222222222222222222222"],"head":"main","login":"alice","push_options":[],"at_ms":1,"seed":2}"#;
    const VALUES: &[&str] = &[
        "null",
        "-1",
        "1e999",
        "18446744073709551616",
        "\"\"",
        "[]",
        "{}",
        "true",
        "\"x\"",
        "0",
        "2",
        "\"\\ud800\"",
    ];

    /// A valid file changed: cut short, a byte replaced, or one value swapped for another type.
    fn damaged(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (0..valid.len()).prop_map(move |n| valid.as_bytes()[..n].to_vec()),
            (0..valid.len(), any::<u8>()).prop_map(move |(i, b)| {
                let mut v = valid.as_bytes().to_vec();
                v[i] = b;
                v
            }),
            (0..valid.len(), prop::sample::select(VALUES)).prop_map(move |(i, value)| {
                // Replace the value after the i-th colon.
                let colons: Vec<usize> = valid.match_indices(':').map(|(at, _)| at).collect();
                let at = colons[i % colons.len()] + 1;
                let end = valid[at..].find([',', '}']).map_or(valid.len(), |e| at + e);
                format!("{}{value}{}", &valid[..at], &valid[end..]).into_bytes()
            }),
            prop::collection::vec(any::<u8>(), 0..300),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn job_files_never_make_the_reader_panic(bytes in damaged(JOB)) {
            let _ = parse::<Job>(&bytes).map_err(|e| e.to_string());
        }

        #[test]
        fn recorded_pushes_never_make_the_reader_panic(bytes in damaged(PUSH)) {
            if let Ok(push) = parse::<RecordedPush>(&bytes) {
                // What reads well is also well-formed: its updates all parse.
                prop_assert!(push.ref_updates().1.is_empty());
            }
        }
    }

    #[test]
    fn the_samples_are_valid() {
        assert!(parse::<Job>(JOB.as_bytes()).is_ok());
        assert!(parse::<RecordedPush>(PUSH.as_bytes()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::job::Job;

    /// Reading a job leaves its access time as it was: a first read would otherwise write the inode
    /// back on a filesystem mounted `relatime` (the usual), for every job a pass claims.
    #[test]
    fn reading_a_job_leaves_its_access_time() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("job.json");
        fs::write(&path, fuzz::JOB).unwrap();
        let long_ago = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let times = fs::FileTimes::new().set_accessed(long_ago);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_times(times)
            .unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        let (job, _, _) = dir.read_open::<Job>(&path).unwrap();
        assert_eq!(job.refname, "refs/heads/main");
        read::<Job>(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().accessed().unwrap(), long_ago);
    }
}
