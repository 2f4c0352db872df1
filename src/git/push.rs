//! From a push's ref updates to neutral [`RefEvent`]s: one per branch or tag, with the commits it brought
//! (`git rev-list new ^old`; for a new branch, `new --not <every ref before the push>`).

use git2::{Oid, Repository};

use super::{commit, paths, walk, Context, GitError};
use crate::model::{Action, PathFilter, RefEvent, RefKind, RefUpdate, TagInfo, RECENT};

/// Why one ref of a push produced no event.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error("{refname}: {what} {oid} is not in the repository")]
    Missing {
        refname: String,
        what: &'static str,
        oid: String,
    },
    #[error("{refname}: {message}")]
    Tips { refname: String, message: String },
    #[error("no ref {refname}")]
    NoRef { refname: String },
    #[error("{refname}: {source}")]
    Git {
        refname: String,
        #[source]
        source: GitError,
    },
}

impl RefError {
    /// Whether the ref's objects are there and could not be read now (a failed read, a damaged
    /// object): asked again later, its event may come. A missing object or ref gives none, ever.
    pub fn is_passing(&self) -> bool {
        match self {
            RefError::Missing { .. } | RefError::NoRef { .. } => false,
            RefError::Tips { .. } => true,
            RefError::Git { source, .. } => source.source.code() != git2::ErrorCode::NotFound,
        }
    }
}

fn oid(
    update: &RefUpdate,
    what: &'static str,
    hex: &str,
    repo: &Repository,
) -> Result<Oid, RefError> {
    let missing = || RefError::Missing {
        refname: update.refname.clone(),
        what,
        oid: hex.to_owned(),
    };
    let oid = Oid::from_str(hex).map_err(|_| missing())?;
    // Whether it is there, from a pack index or a loose object's file name: reading the object
    // here (inflated, then read again by the walk) was nearly half of a small push's event work.
    if repo.odb().is_ok_and(|odb| odb.exists(oid)) {
        Ok(oid)
    } else {
        Err(missing())
    }
}

/// Whether a push creates a branch: its events then need what the other refs pointed at before it.
pub fn creates_branch(updates: &[RefUpdate]) -> bool {
    updates
        .iter()
        .any(|u| matches!(u.kind(), RefKind::Branch(_)) && u.action() == Action::Create)
}

/// The path filters a push's branch updates are checked against, and how many new commits of each
/// they look at.
pub struct Filters<'a> {
    pub list: Vec<&'a PathFilter>,
    pub max_commits: usize,
}

/// Every ref before the push: `others` (what the refs the push did not touch point at) and the
/// pushed refs' old values, once each. A new branch's commits are those none of them reach.
pub fn tips(updates: &[RefUpdate], others: Vec<Oid>) -> Vec<Oid> {
    let olds = updates
        .iter()
        .filter(|u| u.action() != Action::Create)
        .filter_map(|u| Oid::from_str(&u.old).ok());
    let mut tips: Vec<Oid> = others.into_iter().chain(olds).collect();
    tips.sort_unstable();
    tips.dedup();
    tips
}

/// What a branch update's new commits are kept apart from: its old value, or for a new branch every
/// ref before the push (`tips`).
pub fn hidden(update: &RefUpdate, tips: &[Oid]) -> Vec<Oid> {
    match update.action() {
        Action::Create => tips.to_vec(),
        _ => Oid::from_str(&update.old).into_iter().collect(),
    }
}

/// Builds the events of one push. `others` is what every ref but the pushed ones pointed at before
/// the push ([`walk::other_refs`], recorded when the push happened), needed when it creates a branch;
/// `None` reads it now. Branch updates are checked against each of `filters` (the endpoints' path
/// filters). Updates of refs that are neither branches nor tags are left out; a ref that cannot be
/// read gives an error in its place and does not stop the others.
pub fn events(
    repo: &Repository,
    updates: &[RefUpdate],
    others: Option<&[Oid]>,
    cap: usize,
    filters: &Filters<'_>,
) -> Vec<Result<RefEvent, RefError>> {
    let relevant: Vec<&RefUpdate> = updates
        .iter()
        .filter(|u| u.kind() != RefKind::Other)
        .collect();
    let tips = if creates_branch(updates) {
        let others = match others {
            Some(others) => Ok(others.to_vec()),
            None => {
                let pushed: Vec<&str> = updates.iter().map(|u| u.refname.as_str()).collect();
                walk::other_refs(repo, &pushed)
            }
        };
        match others {
            Ok(others) => tips(updates, others),
            Err(e) => {
                let message = crate::error::chain(&e);
                return relevant
                    .into_iter()
                    .map(|u| {
                        Err(RefError::Tips {
                            refname: u.refname.clone(),
                            message: message.clone(),
                        })
                    })
                    .collect();
            }
        }
    } else {
        Vec::new()
    };
    relevant
        .into_iter()
        .map(|u| event(repo, u, &tips, cap, filters))
        .collect()
}

fn event(
    repo: &Repository,
    update: &RefUpdate,
    tips: &[Oid],
    cap: usize,
    filters: &Filters<'_>,
) -> Result<RefEvent, RefError> {
    let git = |source: GitError| RefError::Git {
        refname: update.refname.clone(),
        source,
    };
    let mut ev = RefEvent {
        update: update.clone(),
        commits: Vec::new(),
        total_commits: 0,
        head: None,
        tag: None,
        forced: false,
        recent: Vec::new(),
        touches: Vec::new(),
    };
    let action = update.action();
    if action == Action::Delete {
        return Ok(ev);
    }
    let new = oid(update, "new object", &update.new, repo)?;
    // With path filters, one walk gives both the commits listed and those the filters look at.
    let filtered = matches!(update.kind(), RefKind::Branch(_)) && !filters.list.is_empty();
    let walk_cap = if filtered {
        cap.max(filters.max_commits)
    } else {
        cap
    };
    let selection = match update.kind() {
        RefKind::Tag(_) => {
            let object = repo
                .find_object(new, None)
                .context(|| format!("cannot read {new}"))
                .map_err(git)?;
            let message = object
                .as_tag()
                .map(|t| commit::decode(t.message_bytes().unwrap_or_default(), None));
            let peeled = walk::peel_to_commit(repo, new);
            ev.tag = Some(TagInfo {
                peeled: peeled.map(|p| p.to_string()),
                message,
            });
            walk::Selection {
                newest_first: peeled.into_iter().collect(),
                total: usize::from(peeled.is_some()),
                reaches_hidden: false,
            }
        }
        _ if action == Action::Update => {
            let old = oid(update, "old object", &update.old, repo)?;
            let selection = walk::select(repo, new, &[old], walk_cap).map_err(git)?;
            // The new value does not contain the old one: a force push (the walk tells, reading no
            // more than it already did).
            ev.forced = !selection.reaches_hidden;
            selection
        }
        _ => walk::select(repo, new, tips, walk_cap).map_err(git)?,
    };
    ev.total_commits = selection.total;
    let read = |id: Oid| {
        let c = repo
            .find_commit(id)
            .context(|| format!("cannot read commit {id}"))
            .map_err(git)?;
        commit::read(repo, &c).map_err(git)
    };
    for id in selection.newest_first.iter().take(cap).rev() {
        ev.commits.push(read(*id)?);
    }
    // The head is usually the newest listed commit; a branch created without new commits still has one.
    ev.head = match ev.checkout_sha().and_then(|h| Oid::from_str(h).ok()) {
        Some(h) if ev.commits.last().is_some_and(|c| c.id == h.to_string()) => {
            ev.commits.last().cloned()
        }
        Some(h) if repo.find_commit(h).is_ok() => Some(read(h)?),
        _ => None,
    };
    if filtered {
        let (ids, total) = (&selection.newest_first, selection.total);
        let answers =
            paths::touches(repo, ids, total, &filters.list, filters.max_commits).map_err(git)?;
        ev.touches = filters
            .list
            .iter()
            .map(|f| (*f).clone())
            .zip(answers)
            .collect();
    }
    let new_branch = action == Action::Create && matches!(update.kind(), RefKind::Branch(_));
    if new_branch && repo.find_commit(new).is_ok() {
        for id in newest(repo, new, cap.min(RECENT))
            .map_err(git)?
            .iter()
            .rev()
        {
            let known = ev.commits.iter().find(|c| c.id == id.to_string()).cloned();
            ev.recent.push(match known {
                Some(c) => c,
                None => read(*id)?,
            });
        }
    }
    Ok(ev)
}

/// The newest `n` commits of `tip`'s history, newest first (`git rev-list --max-count=n tip`): as
/// rev-list walks without a limit, newest committer date first (ties in the order they were met,
/// parents in order), reading only the commits it lists and their parents, however long the
/// history.
pub(super) fn newest(repo: &Repository, tip: Oid, n: usize) -> Result<Vec<Oid>, GitError> {
    let read = |id: Oid| {
        let c = repo
            .find_commit(id)
            .context(|| format!("cannot read commit {id}"))?;
        Ok::<_, GitError>(c.time().seconds())
    };
    let mut met = 0u64;
    let mut queue = std::collections::BinaryHeap::new();
    let mut seen = std::collections::HashSet::from([tip]);
    queue.push((read(tip)?, std::cmp::Reverse(met), tip));
    let mut listed = Vec::with_capacity(n);
    while listed.len() < n {
        let Some((_, _, id)) = queue.pop() else { break };
        listed.push(id);
        let parents: Vec<Oid> = repo
            .find_commit(id)
            .context(|| format!("cannot read commit {id}"))?
            .parent_ids()
            .collect();
        for parent in parents.into_iter().filter(|p| seen.insert(*p)) {
            met += 1;
            queue.push((read(parent)?, std::cmp::Reverse(met), parent));
        }
    }
    Ok(listed)
}

/// The newest `n` commits of `refname` as one update from the oldest of them to the tip.
pub fn sample(repo: &Repository, refname: &str, n: usize) -> Result<RefEvent, RefError> {
    let tip = repo.refname_to_id(refname).map_err(|_| RefError::NoRef {
        refname: refname.to_owned(),
    })?;
    let git = |source: GitError| RefError::Git {
        refname: refname.to_owned(),
        source,
    };
    let selection = walk::select(repo, tip, &[], n).map_err(git)?;
    let oldest = selection.newest_first.last().copied().unwrap_or(tip);
    let mut commits = Vec::new();
    for id in selection.newest_first.iter().rev() {
        let c = repo
            .find_commit(*id)
            .context(|| format!("cannot read commit {id}"))
            .map_err(git)?;
        commits.push(commit::read(repo, &c).map_err(git)?);
    }
    Ok(RefEvent {
        update: RefUpdate {
            old: oldest.to_string(),
            new: tip.to_string(),
            refname: refname.to_owned(),
        },
        total_commits: commits.len(),
        head: commits.last().cloned(),
        commits,
        tag: None,
        forced: false,
        recent: Vec::new(),
        touches: Vec::new(),
    })
}
