//! One commit as events carry it: decoded message, both signatures with their offsets, and the files it changed.

use chrono::{DateTime, FixedOffset, TimeZone};

use super::{Context, GitError};
use crate::model::{Commit, Person};

/// Decodes message bytes: by the object's `encoding` header when it names one, as UTF-8 when valid, and
/// otherwise as Windows-1252 (a superset of Latin-1), so no byte is ever dropped.
pub fn decode(bytes: &[u8], encoding: Option<&str>) -> String {
    if let Some(enc) =
        encoding.and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()))
    {
        return enc.decode_without_bom_handling(bytes).0.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// A git time as a date-time in its own offset.
pub fn time(t: git2::Time) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(t.offset_minutes() * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"));
    offset
        .timestamp_opt(t.seconds(), 0)
        .single()
        .unwrap_or_else(|| {
            offset
                .timestamp_opt(0, 0)
                .single()
                .expect("the epoch is representable")
        })
}

fn person(sig: &git2::Signature<'_>, encoding: Option<&str>) -> Person {
    Person {
        name: decode(sig.name_bytes(), encoding),
        email: decode(sig.email_bytes(), encoding),
        time: time(sig.when()),
        username: None,
    }
}

/// Paths added, modified and removed by `commit` against its first parent (the empty tree for a root),
/// renames detected: a renamed file lists only its new path, under `added`.
pub fn changed_files(
    repo: &git2::Repository,
    commit: &git2::Commit<'_>,
) -> Result<[Vec<String>; 3], GitError> {
    // Most commits are read straight from their trees; libgit2 finds renames in the others.
    if let Ok(odb) = repo.odb() {
        let parent_tree = commit.parent(0).ok().map(|p| p.tree_id());
        if let Some(c) = super::tree_diff::changes(&odb, parent_tree, commit.tree_id()) {
            return Ok([c.added, c.modified, c.removed]);
        }
    }
    libgit2_changes(repo, commit)
}

/// The same through libgit2's diff, which finds renames.
pub(super) fn libgit2_changes(
    repo: &git2::Repository,
    commit: &git2::Commit<'_>,
) -> Result<[Vec<String>; 3], GitError> {
    let id = commit.id();
    let tree = commit
        .tree()
        .context(|| format!("cannot read the tree of commit {id}"))?;
    let parent_tree = match commit.parent(0) {
        Ok(parent) => Some(
            parent
                .tree()
                .context(|| format!("cannot read the tree of {}", parent.id()))?,
        ),
        Err(_) => None,
    };
    let mut diff = repo
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)
        .context(|| format!("cannot diff commit {id} against its first parent"))?;
    let mut find = git2::DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find))
        .context(|| format!("cannot detect renames in commit {id}"))?;
    let (mut added, mut modified, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    for delta in diff.deltas() {
        let path = |f: git2::DiffFile<'_>| {
            f.path_bytes()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default()
        };
        match delta.status() {
            git2::Delta::Added | git2::Delta::Renamed | git2::Delta::Copied => {
                added.push(path(delta.new_file()));
            }
            git2::Delta::Deleted => removed.push(path(delta.old_file())),
            _ => modified.push(path(delta.new_file())),
        }
    }
    Ok([added, modified, removed])
}

/// Reads everything an event needs about one commit.
pub fn read(repo: &git2::Repository, commit: &git2::Commit<'_>) -> Result<Commit, GitError> {
    let encoding = commit.message_encoding().ok().flatten();
    let [added, modified, removed] = changed_files(repo, commit)?;
    Ok(Commit {
        id: commit.id().to_string(),
        tree_id: commit.tree_id().to_string(),
        parent_ids: commit.parent_ids().map(|p| p.to_string()).collect(),
        message: decode(commit.message_raw_bytes(), encoding),
        author: person(&commit.author(), encoding),
        committer: person(&commit.committer(), encoding),
        added,
        modified,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_by_header_utf8_or_latin1() {
        assert_eq!(decode(b"caf\xe9\n", Some("ISO-8859-1")), "café\n");
        assert_eq!(decode("café".as_bytes(), None), "café");
        assert_eq!(decode(b"caf\xe9", None), "café");
        assert_eq!(decode(b"\x93quoted\x94", None), "\u{201c}quoted\u{201d}");
        assert_eq!(
            decode("naïve".as_bytes(), Some("no-such-encoding")),
            "naïve"
        );
    }

    #[test]
    fn keeps_the_offset() {
        let t = time(git2::Time::new(1_648_545_453, 8 * 60));
        assert_eq!(t.to_rfc3339(), "2022-03-29T17:17:33+08:00");
        let utc = time(git2::Time::new(1_648_545_453, 0));
        assert_eq!(utc.to_rfc3339(), "2022-03-29T09:17:33+00:00");
        let west = time(git2::Time::new(0, -150));
        assert_eq!(west.to_rfc3339(), "1969-12-31T21:30:00-02:30");
    }
}
