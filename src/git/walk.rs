//! Commit selection: which commits a ref update brought, the newest N of them, and their true count.

use git2::{Oid, Repository, Sort};

use super::{Context, GitError};

/// The newest commits of a range (newest first, at most the cap) and how many the range holds in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub newest_first: Vec<Oid>,
    pub total: usize,
    /// With exactly one hidden commit (an update's old value): whether it is reachable from the
    /// included one, so that `false` means a force push. `false` with several hidden commits.
    pub reaches_hidden: bool,
}

/// A commit in the walk: its position in the commit-graph, or (past the graph's commits) the
/// index of a commit read from the object database.
type Id = u32;

const SEEN: u8 = 1;
const UNINTERESTING: u8 = 2;
/// One of the hidden commits the walk started from.
const HIDDEN: u8 = 4;
/// Its parents are known (git's "parsed"): marks pass through it.
const PARSED: u8 = 8;
/// How many more commits git looks at once everything left is excluded (its `SLOP`).
const SLOP: u32 = 5;
/// Tags pointing at tags are followed this deep.
const MAX_TAG_DEPTH: usize = 16;

/// A commit the graph does not hold (a push's new commits never are; without a graph, none is).
struct Loose {
    oid: Oid,
    time: i64,
    parents: Vec<Id>,
}

/// The commits of one walk and their flags. Commits come from git's commit-graph when the repository
/// has one (date and parents without touching the object; no allocation per commit), else from
/// their raw objects, read once for parents and date only.
struct Commits<'r> {
    odb: git2::Odb<'r>,
    graph: Option<gix_commitgraph::Graph>,
    in_graph: u32,
    /// By id: graph positions first, then `loose`.
    flags: Vec<u8>,
    loose: Vec<Loose>,
    loose_ids: rustc_hash::FxHashMap<Oid, Id>,
}

impl<'r> Commits<'r> {
    fn new(repo: &'r Repository) -> Option<Commits<'r>> {
        let odb = repo.odb().ok()?;
        // `core.commitGraph = false` turns the graph off, as it does for git.
        let enabled = repo
            .config()
            .and_then(|c| c.get_bool("core.commitGraph"))
            .unwrap_or(true);
        let graph = enabled.then(|| graph(repo)).flatten();
        let in_graph = graph
            .as_ref()
            .map_or(0, gix_commitgraph::Graph::num_commits);
        Some(Commits {
            odb,
            graph,
            in_graph,
            flags: vec![0; in_graph as usize],
            loose: Vec::new(),
            loose_ids: rustc_hash::FxHashMap::default(),
        })
    }

    /// The id of a commit, known or not yet read.
    fn id(&mut self, oid: Oid) -> Option<Id> {
        if let Some(graph) = &self.graph {
            let key = gix_hash::oid::try_from_bytes(oid.as_bytes()).ok()?;
            if let Some(pos) = graph.lookup(key) {
                return Some(pos.0);
            }
        }
        if let Some(&id) = self.loose_ids.get(&oid) {
            return Some(id);
        }
        let id = self.in_graph + u32::try_from(self.loose.len()).ok()?;
        self.loose.push(Loose {
            oid,
            time: 0,
            parents: Vec::new(),
        });
        self.loose_ids.insert(oid, id);
        self.flags.push(0);
        Some(id)
    }

    /// The commit an object finally points at, following tags: `Some(None)` for anything else
    /// (a tree, a blob), `None` when an object cannot be read. The graph answers for most commits
    /// without reading them.
    fn peel(&mut self, mut oid: Oid) -> Option<Option<Id>> {
        for _ in 0..MAX_TAG_DEPTH {
            if let Some(graph) = &self.graph {
                let key = gix_hash::oid::try_from_bytes(oid.as_bytes()).ok()?;
                if let Some(pos) = graph.lookup(key) {
                    return Some(Some(pos.0));
                }
            }
            match self.odb.read_header(oid).ok()?.1 {
                git2::ObjectType::Commit => return self.id(oid).map(Some),
                git2::ObjectType::Tag => {
                    let tag = self.odb.read(oid).ok()?;
                    let target = tag.data().strip_prefix(b"object ")?;
                    let hex = target.split(|&b| b == b'\n').next()?;
                    oid = Oid::from_str(std::str::from_utf8(hex).ok()?).ok()?;
                }
                _ => return Some(None),
            }
        }
        Some(None)
    }

    /// Reads a commit's date and parents if they are not known yet.
    fn read(&mut self, id: Id) -> Option<()> {
        if self.flags[id as usize] & PARSED != 0 {
            return Some(());
        }
        if id >= self.in_graph {
            let oid = self.loose[(id - self.in_graph) as usize].oid;
            let (time, parent_oids) = time_and_parents(&self.odb, oid)?;
            let parents = parent_oids
                .into_iter()
                .map(|p| self.id(p))
                .collect::<Option<Vec<Id>>>()?;
            let loose = &mut self.loose[(id - self.in_graph) as usize];
            (loose.time, loose.parents) = (time, parents);
        }
        self.flags[id as usize] |= PARSED;
        Some(())
    }

    fn flags(&mut self, id: Id) -> &mut u8 {
        &mut self.flags[id as usize]
    }

    fn has(&self, id: Id, flag: u8) -> bool {
        self.flags[id as usize] & flag != 0
    }

    fn time(&self, id: Id) -> i64 {
        match &self.graph {
            Some(graph) if id < self.in_graph => graph
                .commit_at(gix_commitgraph::Position(id))
                .committer_timestamp() as i64,
            _ => self.loose[(id - self.in_graph) as usize].time,
        }
    }

    /// A read commit's parents, into `out` (emptied first).
    fn parents(&self, id: Id, out: &mut Vec<Id>) -> Option<()> {
        out.clear();
        match &self.graph {
            Some(graph) if id < self.in_graph => {
                for p in graph
                    .commit_at(gix_commitgraph::Position(id))
                    .iter_parents()
                {
                    out.push(p.ok()?.0);
                }
            }
            _ => out.extend_from_slice(&self.loose[(id - self.in_graph) as usize].parents),
        }
        Some(())
    }

    fn oid(&self, id: Id) -> Option<Oid> {
        match &self.graph {
            Some(graph) if id < self.in_graph => {
                Oid::from_bytes(graph.id_at(gix_commitgraph::Position(id)).as_bytes()).ok()
            }
            _ => Some(self.loose[(id - self.in_graph) as usize].oid),
        }
    }

    /// Marks what a commit's parents reach as excluded, through every commit already read.
    fn mark_parents(&mut self, id: Id, buf: &mut Vec<Id>) -> Option<()> {
        let mut pending = vec![id];
        while let Some(c) = pending.pop() {
            self.parents(c, buf)?;
            for &p in buf.iter() {
                let flags = self.flags(p);
                if *flags & UNINTERESTING == 0 {
                    *flags |= UNINTERESTING;
                    if *flags & PARSED != 0 {
                        pending.push(p);
                    }
                }
            }
        }
        Some(())
    }
}

/// The repository's commit-graph (a single file or a split chain), else one of its alternates'.
fn graph(repo: &Repository) -> Option<gix_commitgraph::Graph> {
    let objects = repo.path().join("objects");
    let alternates =
        std::fs::read_to_string(objects.join("info").join("alternates")).unwrap_or_default();
    std::iter::once(objects.clone())
        .chain(
            alternates
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| objects.join(l)),
        )
        .find_map(|dir| {
            gix_commitgraph::Graph::from_info_dir(&dir.join("info"), gix_hash::Kind::Sha1).ok()
        })
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

/// `git rev-list include ^hide...` as git computes it (`limit_list` in git's revision.c): commits
/// come out of a queue by committer date, newest first, equal dates in the order they were queued;
/// what the hidden commits reach is marked and passed down; the walk stops a few commits after
/// nothing but excluded commits is left. The order is exactly git's (libgit2's walk breaks ties
/// between equal dates its own way). `None` when a commit cannot be read (a shallow or damaged
/// repository): the caller then uses libgit2's walk.
fn limited(repo: &Repository, include: Oid, hide: &[Oid], cap: usize) -> Option<Selection> {
    let mut c = Commits::new(repo)?;
    let mut buf = Vec::new();
    let mut queue = std::collections::BinaryHeap::new();
    let mut queued = 0u64;
    let start = c.id(include)?;
    let mut tips = vec![(start, SEEN)];
    for &h in hide {
        if let Some(id) = c.peel(h)? {
            tips.push((id, SEEN | UNINTERESTING | HIDDEN));
        }
    }
    for &(id, flags) in &tips {
        c.read(id)?;
        if !c.has(id, SEEN) {
            queue.push((c.time(id), std::cmp::Reverse(queued), id));
            queued += 1;
        }
        *c.flags(id) |= flags;
        // As git does when it takes a hidden tip (handle_commit): what its parents reach among the
        // commits read so far is excluded at once. With clock skew, an older hidden tip can reach a
        // newer commit, which must not come out of the queue as interesting first.
        if flags & UNINTERESTING != 0 {
            c.mark_parents(id, &mut buf)?;
        }
    }
    let (mut kept, mut slop, mut date) = (Vec::new(), SLOP, i64::MAX);
    // A queued commit last seen interesting, so that looking for one rarely scans the queue (git's
    // interesting_cache).
    let mut interesting: Option<Id> = None;
    let mut parents = Vec::new();
    while let Some((time, _, id)) = queue.pop() {
        if interesting == Some(id) {
            interesting = None;
        }
        let excluded = c.has(id, UNINTERESTING);
        c.parents(id, &mut parents)?;
        for &p in &parents {
            c.read(p)?;
            if excluded {
                *c.flags(p) |= UNINTERESTING;
            }
            if !c.has(p, SEEN) {
                *c.flags(p) |= SEEN;
                queue.push((c.time(p), std::cmp::Reverse(queued), p));
                queued += 1;
            }
            if excluded {
                c.mark_parents(p, &mut buf)?;
            }
        }
        if !excluded {
            date = time;
            kept.push(id);
            continue;
        }
        c.mark_parents(id, &mut buf)?;
        // git's still_interesting(): go on while something interesting may still come.
        slop = match queue.peek() {
            None => 0,
            Some(&(newest, _, _)) if date <= newest => SLOP,
            Some(_)
                if {
                    let wanted = |q: &Id| !c.has(*q, UNINTERESTING);
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
    kept.retain(|&id| !c.has(id, UNINTERESTING));
    // Every commit between a reachable hidden commit and `include` is selected (only that commit is
    // hidden), so one of them has it as a parent.
    let reaches_hidden = tips.len() == 2
        && (c.has(start, HIDDEN)
            || kept.iter().any(|&id| {
                c.parents(id, &mut buf).is_some() && buf.iter().any(|&p| c.has(p, HIDDEN))
            }));
    Some(Selection {
        total: kept.len(),
        newest_first: kept
            .into_iter()
            .take(cap)
            .map(|id| c.oid(id))
            .collect::<Option<_>>()?,
        reaches_hidden,
    })
}

/// Commits reachable from `include` and from none of `hide` — `git rev-list include ^hide...` —
/// in rev-list's default order, keeping the first `cap` and counting all. `hide` may name tags (they
/// stand for the commits they point at) and other objects (left out).
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
    let hide = commits_of(repo, hide.iter().copied());
    for &h in &hide {
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
    let reaches_hidden = match hide[..] {
        [old] => old == include || repo.graph_descendant_of(include, old).unwrap_or(false),
        _ => false,
    };
    Ok(Selection {
        newest_first,
        total,
        reaches_hidden,
    })
}

/// What every ref but the pushed ones points at (refs the push did not touch point where they did
/// before it). Symbolic refs are left out: what they name is listed itself.
pub fn other_refs(repo: &Repository, pushed: &[&str]) -> Result<Vec<Oid>, GitError> {
    let refs = repo
        .references()
        .context(|| "cannot list the repository's refs".to_owned())?;
    let mut targets: Vec<Oid> = refs
        .flatten()
        .filter(|r| r.name().is_ok_and(|n| !pushed.contains(&n)))
        .filter_map(|r| r.target())
        .collect();
    targets.sort_unstable();
    targets.dedup();
    Ok(targets)
}

/// The commits these objects finally point at (tags followed; others left out), sorted, once each.
fn commits_of(repo: &Repository, objects: impl Iterator<Item = Oid>) -> Vec<Oid> {
    let mut tips: Vec<Oid> = objects.filter_map(|o| peel_to_commit(repo, o)).collect();
    tips.sort_unstable();
    tips.dedup();
    tips
}

/// The commit an object finally points at, following tags; `None` for trees, blobs and missing objects.
pub fn peel_to_commit(repo: &Repository, oid: Oid) -> Option<Oid> {
    repo.find_object(oid, None)
        .ok()?
        .peel_to_commit()
        .ok()
        .map(|c| c.id())
}
