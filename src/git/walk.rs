//! Commit selection: which commits a ref update brought, the newest N of them, and their true count.

use git2::{Oid, Repository, Sort};

use super::{Context, GitError};

/// The newest commits of a range (newest first, at most the cap) and how many the range holds in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub newest_first: Vec<Oid>,
    pub total: usize,
}

/// Commits reachable from `include` and from none of `hide` — `git rev-list include ^hide...` —
/// in rev-list's default order, keeping the first `cap` and counting all.
pub fn select(
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
    // A walk reads each commit once: libgit2's object cache would only cost time and memory (a third
    // of the walk's time on a long history). It is a process-wide setting, back on after the walk.
    git2::opts::enable_caching(false);
    let result = walk.into_iter().try_for_each(|oid| {
        let oid = oid.context(|| format!("cannot walk the history of {include}"))?;
        if newest_first.len() < cap {
            newest_first.push(oid);
        }
        total += 1;
        Ok(())
    });
    git2::opts::enable_caching(true);
    result.map(|()| Selection {
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
