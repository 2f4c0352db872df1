//! Commit selection: which commits a ref update brought, the newest N of them, and their true count.

use git2::{Oid, Repository, Sort};

use super::{Context, GitError};

/// The newest commits of a range (newest first, at most the cap) and how many the range holds in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub newest_first: Vec<Oid>,
    pub total: usize,
}

/// A commit's committer time and parents, read from its raw object without parsing the rest.
fn time_and_parents(odb: &git2::Odb<'_>, id: Oid) -> Option<(i64, Vec<Oid>)> {
    let object = odb.read(id).ok()?;
    if object.kind() != git2::ObjectType::Commit {
        return None;
    }
    let mut parents = Vec::new();
    for line in object.data().split(|&b| b == b'\n') {
        if line.is_empty() {
            break; // The headers end here: the message follows.
        }
        if let Some(hex) = line.strip_prefix(b"parent ") {
            parents.push(Oid::from_str(std::str::from_utf8(hex).ok()?).ok()?);
        } else if let Some(who) = line.strip_prefix(b"committer ") {
            let after_email = &who[who.iter().rposition(|&b| b == b'>')? + 1..];
            let seconds = std::str::from_utf8(after_email)
                .ok()?
                .split_whitespace()
                .next()?;
            return Some((seconds.parse().ok()?, parents));
        }
    }
    None
}

/// Everything `include` reaches, in `git rev-list`'s own order — by committer date, newest first,
/// equal dates in the order they were queued — reading each commit's raw object once and only its
/// parents and date. On a long history this is the whole cost of a first push, and it is as fast as
/// `git rev-list --count`. `None` when an object cannot be read (a shallow or damaged repository):
/// the caller then walks the usual way.
fn select_all(repo: &Repository, include: Oid, cap: usize) -> Option<Selection> {
    let odb = repo.odb().ok()?;
    let mut seen = std::collections::HashSet::from([include]);
    let mut queue = std::collections::BinaryHeap::new();
    let (time, parents) = time_and_parents(&odb, include)?;
    let mut queued = 0u64;
    queue.push((time, std::cmp::Reverse(queued), include, parents));
    let (mut newest_first, mut total) = (Vec::with_capacity(cap.min(64)), 0usize);
    while let Some((_, _, id, parents)) = queue.pop() {
        if newest_first.len() < cap {
            newest_first.push(id);
        }
        total += 1;
        for parent in parents {
            if seen.insert(parent) {
                let (time, grandparents) = time_and_parents(&odb, parent)?;
                queued += 1;
                queue.push((time, std::cmp::Reverse(queued), parent, grandparents));
            }
        }
    }
    Some(Selection {
        newest_first,
        total,
    })
}

/// Commits reachable from `include` and from none of `hide` — `git rev-list include ^hide...` —
/// in rev-list's default order, keeping the first `cap` and counting all.
pub fn select(
    repo: &Repository,
    include: Oid,
    hide: &[Oid],
    cap: usize,
) -> Result<Selection, GitError> {
    // A walk reads each commit once: libgit2's object cache would only cost time and memory (a third
    // of the walk's time on a long history). It is a process-wide setting, back on after the walk.
    git2::opts::enable_caching(false);
    let result = match hide
        .is_empty()
        .then(|| select_all(repo, include, cap))
        .flatten()
    {
        Some(selection) => Ok(selection),
        None => revwalk(repo, include, hide, cap),
    };
    git2::opts::enable_caching(true);
    result
}

/// The same with libgit2's walk, which also knows how to leave out what `hide` reaches.
fn revwalk(
    repo: &Repository,
    include: Oid,
    hide: &[Oid],
    cap: usize,
) -> Result<Selection, GitError> {
    let mut walk = repo
        .revwalk()
        .context(|| "cannot start a commit walk".to_owned())?;
    walk.set_sorting(Sort::TIME)
        .context(|| "cannot sort a commit walk".to_owned())?;
    walk.push(include)
        .context(|| format!("cannot walk from {include}"))?;
    for &h in hide {
        walk.hide(h)
            .context(|| format!("cannot hide {h} from the commit walk"))?;
    }
    let mut newest_first = Vec::with_capacity(cap.min(64));
    let mut total = 0usize;
    for oid in walk {
        let oid = oid.context(|| format!("cannot walk the history of {include}"))?;
        if newest_first.len() < cap {
            newest_first.push(oid);
        }
        total += 1;
    }
    Ok(Selection {
        newest_first,
        total,
    })
}

/// The commits every ref pointed at before the push: today's refs, with the pushed refs put back
/// to their old values (and created refs left out). Non-commit targets are skipped.
pub fn tips_before_push<'a>(
    repo: &Repository,
    pushed: impl Iterator<Item = (&'a str, Option<Oid>)>,
) -> Result<Vec<Oid>, GitError> {
    let mut pushed_names = std::collections::HashSet::new();
    let mut tips = Vec::new();
    for (name, old) in pushed {
        pushed_names.insert(name.to_owned());
        tips.extend(old.and_then(|o| peel_to_commit(repo, o)));
    }
    let refs = repo
        .references()
        .context(|| "cannot list the repository's refs".to_owned())?;
    for r in refs.flatten() {
        let Ok(name) = r.name() else { continue };
        if pushed_names.contains(name) {
            continue;
        }
        if let Some(oid) = r.resolve().ok().and_then(|r| r.target()) {
            tips.extend(peel_to_commit(repo, oid));
        }
    }
    tips.sort_unstable();
    tips.dedup();
    Ok(tips)
}

/// The commit an object finally points at, following tags; `None` for trees, blobs and missing objects.
pub fn peel_to_commit(repo: &Repository, oid: Oid) -> Option<Oid> {
    repo.find_object(oid, None)
        .ok()?
        .peel_to_commit()
        .ok()
        .map(|c| c.id())
}
