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

const SEEN: u8 = 1;
const UNINTERESTING: u8 = 2;
/// How many more commits git looks at once everything left is excluded (its `SLOP`).
const SLOP: u32 = 5;

#[derive(Default)]
struct Node {
    time: i64,
    /// `None` until the commit is read.
    parents: Option<Vec<Oid>>,
    flags: u8,
}

type Nodes = rustc_hash::FxHashMap<Oid, Node>;

/// The node of a commit, read (its date and parents) if it was not yet.
fn read<'n>(nodes: &'n mut Nodes, odb: &git2::Odb<'_>, id: Oid) -> Option<&'n mut Node> {
    let node = nodes.entry(id).or_default();
    if node.parents.is_none() {
        let (time, parents) = time_and_parents(odb, id)?;
        (node.time, node.parents) = (time, Some(parents));
    }
    Some(node)
}

/// Marks what a commit's parents reach as excluded, through every commit already read.
fn mark_parents(nodes: &mut Nodes, id: Oid) {
    let mut pending: Vec<Oid> = nodes
        .get(&id)
        .and_then(|n| n.parents.clone())
        .unwrap_or_default();
    while let Some(c) = pending.pop() {
        let node = nodes.entry(c).or_default();
        if node.flags & UNINTERESTING == 0 {
            node.flags |= UNINTERESTING;
            pending.extend(node.parents.iter().flatten());
        }
    }
}

/// `git rev-list include ^hide...` as git computes it (`limit_list` in git's revision.c): commits
/// come out of a queue by committer date, newest first, equal dates in the order they were queued;
/// what the hidden commits reach is marked and passed down; the walk stops a few commits after
/// nothing but excluded commits is left. Each commit's raw object is read once, for its parents and
/// date only, which keeps a long first push as fast as `git rev-list --count` and the order exactly
/// git's (libgit2's walk breaks ties between equal dates its own way). `None` when an object cannot
/// be read (a shallow or damaged repository): the caller then uses libgit2's walk.
fn limited(repo: &Repository, include: Oid, hide: &[Oid], cap: usize) -> Option<Selection> {
    let odb = repo.odb().ok()?;
    let mut nodes = Nodes::default();
    let mut queue = std::collections::BinaryHeap::new();
    let mut queued = 0u64;
    for (id, flags) in
        std::iter::once((include, SEEN)).chain(hide.iter().map(|&h| (h, SEEN | UNINTERESTING)))
    {
        let node = read(&mut nodes, &odb, id)?;
        if node.flags & SEEN == 0 {
            queue.push((node.time, std::cmp::Reverse(queued), id));
            queued += 1;
        }
        node.flags |= flags;
        // As git does when it takes a hidden tip (handle_commit): what its parents reach among the
        // commits read so far is excluded at once. With clock skew, an older hidden tip can reach a
        // newer commit, which must not come out of the queue as interesting first.
        if flags & UNINTERESTING != 0 {
            mark_parents(&mut nodes, id);
        }
    }
    let (mut kept, mut slop, mut date) = (Vec::new(), SLOP, i64::MAX);
    // A queued commit last seen interesting, so that looking for one rarely scans the queue (git's
    // interesting_cache).
    let mut interesting: Option<Oid> = None;
    while let Some((_, _, id)) = queue.pop() {
        if interesting == Some(id) {
            interesting = None;
        }
        let node = nodes.get_mut(&id)?;
        let (excluded, time) = (node.flags & UNINTERESTING != 0, node.time);
        // Taken out while the parents are visited (none of them leads back here), then put back.
        let parents = node.parents.take()?;
        for &p in &parents {
            let parent = read(&mut nodes, &odb, p)?;
            if excluded {
                parent.flags |= UNINTERESTING;
            }
            if parent.flags & SEEN == 0 {
                parent.flags |= SEEN;
                queue.push((parent.time, std::cmp::Reverse(queued), p));
                queued += 1;
            }
            if excluded {
                mark_parents(&mut nodes, p);
            }
        }
        nodes.get_mut(&id)?.parents = Some(parents);
        if !excluded {
            date = time;
            kept.push(id);
            continue;
        }
        mark_parents(&mut nodes, id);
        // git's still_interesting(): go on while something interesting may still come.
        slop = match queue.peek() {
            None => 0,
            Some(&(newest, _, _)) if date <= newest => SLOP,
            Some(_)
                if {
                    let wanted =
                        |q: &Oid| nodes.get(q).is_some_and(|n| n.flags & UNINTERESTING == 0);
                    if !interesting.as_ref().is_some_and(wanted) {
                        interesting = queue.iter().map(|(_, _, q)| *q).find(wanted);
                    }
                    interesting.is_some()
                } =>
            {
                SLOP
            }
            Some(_) => slop - 1,
        };
        if slop == 0 {
            break;
        }
    }
    kept.retain(|id| nodes.get(id).is_some_and(|n| n.flags & UNINTERESTING == 0));
    Some(Selection {
        total: kept.len(),
        newest_first: kept.into_iter().take(cap).collect(),
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
    let result = match limited(repo, include, hide, cap) {
        Some(selection) => Ok(selection),
        None => revwalk(repo, include, hide, cap),
    };
    git2::opts::enable_caching(true);
    result
}

/// The same with libgit2's walk, for repositories whose objects `limited` cannot read.
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
