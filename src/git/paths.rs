//! Path filters against the real diff: the files each new commit of a branch update changed (against
//! its first parent), every new commit and not only those an event lists, stopping as soon as every
//! filter has its answer, and after at most `[payload] paths_max_commits` commits.

use git2::{Oid, Repository};

use super::{tree_diff, Context, GitError};
use crate::model::{PathFilter, Touch};

/// What `commits` (an update's newest new commits, newest first, of `total` in all) changed, said to
/// each of `filters`, in order. Past `cap` commits, a filter without a match yet is
/// [`Touch::Unchecked`], which sends (a build too many rather than one missed).
pub fn touches(
    repo: &Repository,
    commits: &[Oid],
    total: usize,
    filters: &[&PathFilter],
    cap: usize,
) -> Result<Vec<Touch>, GitError> {
    let mut answers = vec![Touch::No; filters.len()];
    if filters.is_empty() {
        return Ok(answers);
    }
    let odb = repo
        .odb()
        .context(|| "cannot open the object database".to_owned())?;
    let mut open = filters.len();
    for &oid in commits.iter().take(cap) {
        for path in changed(repo, &odb, oid)? {
            for (f, a) in filters.iter().zip(answers.iter_mut()) {
                if *a == Touch::No && f.counts(&path) {
                    *a = Touch::Yes;
                    open -= 1;
                }
            }
            if open == 0 {
                return Ok(answers);
            }
        }
    }
    if total > cap {
        for a in answers.iter_mut().filter(|a| **a == Touch::No) {
            *a = Touch::Unchecked;
        }
    }
    Ok(answers)
}

/// The paths commit `oid` changed against its first parent (the empty tree for a root).
fn changed(repo: &Repository, odb: &git2::Odb<'_>, oid: Oid) -> Result<Vec<String>, GitError> {
    let commit = repo
        .find_commit(oid)
        .context(|| format!("cannot read commit {oid}"))?;
    let parent_tree = commit.parent(0).ok().map(|p| p.tree_id());
    if let Some(paths) = tree_diff::changed_paths(odb, parent_tree, commit.tree_id()) {
        return Ok(paths);
    }
    let [added, modified, removed] = super::commit::libgit2_changes(repo, &commit)?;
    Ok(added.into_iter().chain(modified).chain(removed).collect())
}
