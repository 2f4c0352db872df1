//! Recorded pushes: what a post-receive hook keeps of a push so that its events can be made after the
//! push has ended (the walk over its commits can be long; the pusher should not wait for it). They live
//! in the repository's spool, under `pushes/`, written durably; a deliverer turns each into jobs, in the
//! order the pushes came, then removes it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::{ctx, fsync_dir, json_files, set_aside, write_synced, Damage};
use super::queue::{QueueError, SetAside};
use crate::model::refs::{ParseError, Place};
use crate::model::RefUpdate;

/// The record format's version.
const SCHEMA: u32 = 1;

/// A push as the hook saw it: everything its events are made from that could change after the push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedPush {
    pub schema: u32,
    /// The repository (its git directory, absolute): a spool may be shared by several.
    pub repo: PathBuf,
    /// The ref updates, as `<old> <new> <ref>` lines.
    pub updates: Vec<String>,
    /// For a push that creates a branch: what every other ref pointed at before the push (a new
    /// branch brings the commits none of them reached). `None` when no branch is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Vec<String>>,
    /// The branch HEAD named at push time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The pusher's login and `git push -o` options, from the hook's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(default)]
    pub push_options: Vec<String>,
    /// When the push was received (Unix milliseconds), and the seed of its ids: making the jobs
    /// from the record gives the same payloads, ids and times whenever it happens.
    pub at_ms: u64,
    pub seed: u64,
}

impl RecordedPush {
    pub fn new(repo: PathBuf, at_ms: u64, seed: u64) -> RecordedPush {
        RecordedPush {
            schema: SCHEMA,
            repo,
            updates: Vec::new(),
            before: None,
            head: None,
            login: None,
            push_options: Vec::new(),
            at_ms,
            seed,
        }
    }

    fn file_name(&self) -> String {
        format!("{:013}-{:016x}.json", self.at_ms, self.seed)
    }

    /// The clock its jobs are made with: the push's own time and the seed of its ids.
    pub fn clock(&self) -> crate::clock::Clock {
        crate::clock::Clock::new(i64::try_from(self.at_ms).ok(), Some(self.seed))
    }
}

impl super::files::Versioned for RecordedPush {
    const SCHEMA: u32 = SCHEMA;
    const WHAT: &'static str = "recorded push";
    fn schema(&self) -> u32 {
        self.schema
    }
    /// Every ref update a line git could have given, every `before` an object name.
    fn check(&self) -> Result<(), String> {
        if let Some(e) = self.ref_updates().1.first() {
            return Err(e.to_string());
        }
        let bad = self.before.iter().flatten().find(|h| {
            !(h.len() == 40 || h.len() == 64) || !h.bytes().all(|b| b.is_ascii_hexdigit())
        });
        match bad {
            Some(h) => Err(format!("{h:?} in `before` is not an object name")),
            None => Ok(()),
        }
    }
}

impl RecordedPush {
    /// Its ref updates, and the lines that are not one (named by their place in the record).
    pub fn ref_updates(&self) -> (Vec<RefUpdate>, Vec<ParseError>) {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for (i, line) in self.updates.iter().enumerate() {
            match RefUpdate::parse_at(line, Place::Recorded(i + 1)) {
                Ok(u) => ok.push(u),
                Err(e) => bad.push(e),
            }
        }
        (ok, bad)
    }
}

/// The `pushes/` directory of the spool at `root`.
fn dir(root: &Path) -> PathBuf {
    root.join("pushes")
}

/// Keeps `push` under the spool at `root`: whole or not at all, and on disk before this returns.
pub fn record(root: &Path, push: &RecordedPush) -> Result<(), QueueError> {
    let dir = dir(root);
    ctx("cannot create", &dir, fs::create_dir_all(&dir))?;
    let dest = dir.join(push.file_name());
    let tmp = dir.join(format!("{}.tmp", push.file_name()));
    write_synced(&tmp, push, &dest)?;
    if let Err(e) = ctx("cannot move into place", &dest, fs::rename(&tmp, &dest)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsync_dir(&dir)
}

/// The recorded pushes' files, oldest first.
pub fn files(root: &Path) -> Result<Vec<PathBuf>, QueueError> {
    json_files(&dir(root))
}

/// Hands every push of the repository `repo` recorded under `root` to `make`, oldest first, removing
/// each once `make` has returned `true` (its jobs are queued). One caller at a time (a lock), so
/// pushes turn into jobs in the order they came. A record that cannot be read is set aside as
/// `<name>.bad`; returns those.
pub fn take(
    root: &Path,
    repo: &Path,
    make: &mut dyn FnMut(&RecordedPush) -> bool,
) -> Result<Vec<SetAside>, QueueError> {
    let dir = dir(root);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let lock_path = dir.join(".lock");
    let lock = ctx("cannot open", &lock_path, File::create(&lock_path))?;
    ctx("cannot lock", &lock_path, lock.lock())?;
    let mut bad = Vec::new();
    for path in files(root)? {
        match super::files::read::<RecordedPush>(&path) {
            Ok((push, _)) if push.repo != repo => {} // Another repository's, for its own deliverer.
            Ok((push, _)) => {
                if !make(&push) {
                    break; // Kept, with every later push, for the next deliverer.
                }
                ctx("cannot remove", &path, fs::remove_file(&path))?;
            }
            Err(Damage::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(damage) => bad.push(set_aside(&path, &damage)),
        }
    }
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_taken_in_order_and_kept_when_not_queued() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = Path::new("/srv/git/a.git");
        for (at, seed) in [(2, 1), (1, 7), (3, 2), (0, 5)] {
            let owner = if seed == 5 {
                "/srv/git/b.git"
            } else {
                "/srv/git/a.git"
            };
            let mut p = RecordedPush::new(owner.into(), at, seed);
            p.updates.push(format!(
                "{} {} refs/heads/b{at}",
                "0".repeat(40),
                "1".repeat(40)
            ));
            record(tmp.path(), &p).expect("record");
        }
        fs::write(dir(tmp.path()).join("0000000000000-junk.json"), "{").expect("junk");
        let mut seen = Vec::new();
        let bad = take(tmp.path(), repo, &mut |p| {
            seen.push(p.at_ms);
            p.at_ms < 2
        })
        .expect("take");
        assert_eq!(
            seen,
            [1, 2],
            "oldest first; stops at the first one not queued"
        );
        assert_eq!(bad.len(), 1);
        assert_eq!(
            files(tmp.path()).expect("files").len(),
            3,
            "the push not queued, the later one and the other repository's stay"
        );
        let mut rest = Vec::new();
        take(tmp.path(), repo, &mut |p| {
            rest.push(p.updates[0].clone());
            true
        })
        .expect("take");
        assert_eq!(rest.len(), 2);
        assert!(rest[0].ends_with("refs/heads/b2"));
        assert_eq!(
            files(tmp.path()).expect("files").len(),
            1,
            "b's push stays for b's deliverer"
        );
    }
}
