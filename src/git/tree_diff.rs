//! The files a commit changed, read straight from tree objects: trees whose id did not change (a
//! commit's whole tree, when it changed no file) are skipped without reading them, which keeps
//! merges of large trees cheap. Renames are libgit2's to
//! find: when a commit both adds and removes files, the caller asks libgit2 instead.

use git2::{Odb, Oid};

/// Paths added, modified and removed, each sorted as git sorts paths.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
}

/// An entry of a tree: its mode (as written: `40000` for a tree) and object.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry<'t> {
    mode: &'t [u8],
    id: Oid,
}

impl Entry<'_> {
    fn is_tree(self) -> bool {
        self.mode == b"40000"
    }
}

/// The entries of a raw tree object, by name.
fn entries(raw: &[u8]) -> Option<Vec<(&[u8], Entry<'_>)>> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let nul = space + rest[space..].iter().position(|&b| b == 0)?;
        let id = Oid::from_bytes(rest.get(nul + 1..nul + 21)?).ok()?;
        out.push((
            &rest[space + 1..nul],
            Entry {
                mode: &rest[..space],
                id,
            },
        ));
        rest = &rest[nul + 21..];
    }
    Some(out)
}

fn join(prefix: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if prefix.is_empty() {
        name.into_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Every file below a tree (or the entry itself), into `out`.
fn all_files(odb: &Odb<'_>, path: String, entry: Entry<'_>, out: &mut Vec<String>) -> Option<()> {
    if !entry.is_tree() {
        out.push(path);
        return Some(());
    }
    let object = odb.read(entry.id).ok()?;
    for (name, e) in entries(object.data())? {
        all_files(odb, join(&path, name), e, out)?;
    }
    Some(())
}

/// git's order of tree entries: by name, a tree's name read as if it ended in `/`.
fn order(a: (&[u8], Entry<'_>), b: (&[u8], Entry<'_>)) -> std::cmp::Ordering {
    let end = |name: &[u8], e: Entry<'_>, i: usize| {
        name.get(i)
            .copied()
            .unwrap_or(if e.is_tree() { b'/' } else { 0 })
    };
    let common = a.0.len().min(b.0.len());
    a.0[..common].cmp(&b.0[..common]).then_with(|| {
        end(a.0, a.1, common)
            .cmp(&end(b.0, b.1, common))
            .then(a.0.len().cmp(&b.0.len()))
    })
}

/// Both trees' entries side by side, in git's order (a merge of two sorted lists).
fn compare(
    odb: &Odb<'_>,
    prefix: &str,
    old: Option<Oid>,
    new: Oid,
    changes: &mut Changes,
) -> Option<()> {
    if old == Some(new) {
        return Some(());
    }
    let new_object = odb.read(new).ok()?;
    let old_object = match old {
        Some(old) => Some(odb.read(old).ok()?),
        None => None,
    };
    let new_entries = entries(new_object.data())?;
    let old_entries = match &old_object {
        Some(o) => entries(o.data())?,
        None => Vec::new(),
    };
    let (mut olds, mut news) = (
        old_entries.into_iter().peekable(),
        new_entries.into_iter().peekable(),
    );
    loop {
        let side = match (olds.peek(), news.peek()) {
            (None, None) => return Some(()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(&a), Some(&b)) => order(a, b),
        };
        match side {
            std::cmp::Ordering::Less => {
                let (name, before) = olds.next()?;
                all_files(odb, join(prefix, name), before, &mut changes.removed)?;
            }
            std::cmp::Ordering::Greater => {
                let (name, now) = news.next()?;
                all_files(odb, join(prefix, name), now, &mut changes.added)?;
            }
            std::cmp::Ordering::Equal => {
                let ((name, before), (_, now)) = (olds.next()?, news.next()?);
                if before == now {
                    continue;
                }
                let path = join(prefix, name);
                if before.is_tree() {
                    compare(odb, &path, Some(before.id), now.id, changes)?;
                } else if same_kind(before, now) {
                    // A file stays a file (or a link, or a submodule): new content or mode.
                    changes.modified.push(path);
                } else {
                    all_files(odb, path.clone(), before, &mut changes.removed)?;
                    all_files(odb, path, now, &mut changes.added)?;
                }
            }
        }
    }
}

/// Whether a change between two non-tree entries is a modification (a file's mode may change
/// between 644 and 755) rather than a change of kind (file, link, submodule), which git and libgit2
/// show as a removal and an addition.
fn same_kind(a: Entry<'_>, b: Entry<'_>) -> bool {
    let kind = |e: Entry<'_>| match e.mode {
        b"120000" => 1,
        b"160000" => 2,
        _ => 0,
    };
    kind(a) == kind(b)
}

/// What changed from tree `old` (none for a root commit) to tree `new`; `None` when an object cannot
/// be read, or when files were both added and removed (renames to find: the caller asks libgit2).
pub fn changes(odb: &Odb<'_>, old: Option<Oid>, new: Oid) -> Option<Changes> {
    let mut changes = Changes::default();
    compare(odb, "", old, new, &mut changes)?;
    if !changes.added.is_empty() && !changes.removed.is_empty() {
        return None;
    }
    for list in [
        &mut changes.added,
        &mut changes.modified,
        &mut changes.removed,
    ] {
        list.sort_unstable();
    }
    Some(changes)
}

/// Every path that changed from tree `old` (none for a root commit) to tree `new`, in no particular
/// order, a moved file as its old and its new path: what a path filter asks. `None` when an object
/// cannot be read.
pub fn changed_paths(odb: &Odb<'_>, old: Option<Oid>, new: Oid) -> Option<Vec<String>> {
    let mut c = Changes::default();
    compare(odb, "", old, new, &mut c)?;
    Some(
        c.added
            .into_iter()
            .chain(c.modified)
            .chain(c.removed)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    use super::*;

    /// A small generator, so the histories are the same on every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// 400 commits of random changes (nested files added, changed, removed, made executable, turned
    /// into links, into directories and back, moved): the tree walk agrees with libgit2's diff on
    /// every commit it answers for, and answers for most.
    #[test]
    fn a_tree_compared_with_itself_is_not_read() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init_bare(tmp.path()).expect("init");
        let odb = repo.odb().expect("odb");
        // Not in the repository at all: reading it would fail.
        let absent = Oid::from_str("1234567890123456789012345678901234567890").expect("oid");
        assert_eq!(
            changes(&odb, Some(absent), absent),
            Some(Changes::default())
        );
        assert_eq!(changed_paths(&odb, Some(absent), absent), Some(Vec::new()));
        assert_eq!(
            changes(&odb, None, absent),
            None,
            "a tree that must be read is"
        );
    }

    #[test]
    fn the_tree_walk_matches_libgit2() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let git = || super::super::walk_oracle::git(dir);
        assert!(git()
            .args(["init", "-q", "--bare"])
            .status()
            .expect("git")
            .success());
        let paths = [
            "a", "b.txt", "d", "d/x", "d/y.rs", "d/e/z", "d-e", "d.txt", "f/g", "f/g/h/i", "f/j",
        ];
        let mut rng = Rng(0x5eed);
        let mut present: Vec<&str> = Vec::new();
        let mut stream = String::new();
        for i in 1..=400 {
            stream.push_str(&format!(
                "commit refs/heads/main\ncommitter T <t@example.com> {} +0000\ndata 2\nc\n",
                1_600_000_000 + i
            ));
            for _ in 0..1 + rng.below(3) {
                let path = paths[rng.below(paths.len())];
                let blocked = |p: &str| {
                    present
                        .iter()
                        .any(|q| q.starts_with(&format!("{p}/")) || p.starts_with(&format!("{q}/")))
                };
                match rng.below(6) {
                    0 | 1 if !blocked(path) => {
                        let mode = ["100644", "100755", "120000"][rng.below(3)];
                        let text = format!("{}", rng.below(4));
                        stream.push_str(&format!(
                            "M {mode} inline {path}\ndata {}\n{text}\n",
                            text.len()
                        ));
                        if !present.contains(&path) {
                            present.push(path);
                        }
                    }
                    2 if present.contains(&path) => {
                        stream.push_str(&format!("D {path}\n"));
                        present.retain(|p| *p != path);
                    }
                    3 if !present.is_empty() => {
                        // A move: the same content under another name (a rename to find).
                        let from = present[rng.below(present.len())];
                        let to = paths[rng.below(paths.len())];
                        if from != to && !present.contains(&to) && !blocked(to) {
                            stream.push_str(&format!("R {from} {to}\n"));
                            present.retain(|p| *p != from);
                            present.push(to);
                        }
                    }
                    _ => {}
                }
            }
            stream.push('\n');
        }
        let mut import = git()
            .args(["fast-import", "--quiet"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("fast-import");
        std::io::Write::write_all(import.stdin.as_mut().expect("stdin"), stream.as_bytes())
            .expect("write");
        assert!(import.wait().expect("wait").success());

        let repo = git2::Repository::open(dir).expect("open");
        let odb = repo.odb().expect("odb");
        let mut walk = repo.revwalk().expect("walk");
        walk.push_ref("refs/heads/main").expect("main");
        let (mut answered, mut commits) = (0, 0);
        for id in walk {
            let commit = repo.find_commit(id.expect("id")).expect("commit");
            commits += 1;
            let parent = commit.parent(0).ok().map(|p| p.tree_id());
            if let Some(c) = changes(&odb, parent, commit.tree_id()) {
                answered += 1;
                let expected =
                    super::super::commit::libgit2_changes(&repo, &commit).expect("libgit2 diff");
                assert_eq!(
                    [c.added, c.modified, c.removed],
                    expected,
                    "commit {}",
                    commit.id()
                );
            }
        }
        assert_eq!(commits, 400);
        assert!(
            answered > 200,
            "the tree walk answered for {answered} commits only"
        );
        assert!(
            answered < commits - 20,
            "renames and changes of kind left to libgit2"
        );
    }
}
