//! The repository, through libgit2: opened one way (no search upward), seeing a push's quarantined
//! objects, and answering every git question the program asks.

pub mod commit;
pub mod push;
mod tree_diff;
pub mod walk;
#[cfg(test)]
mod walk_oracle;

use std::path::{Path, PathBuf};

use crate::config::GitConfig;
use crate::env::HookEnv;
use crate::model::{RefEvent, RefUpdate};

/// A libgit2 failure with what we were doing when it happened.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct GitError {
    pub context: String,
    #[source]
    pub source: git2::Error,
}

/// Adds context to a libgit2 result.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, GitError>;
}

impl<T> Context<T> for Result<T, git2::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, GitError> {
        self.map_err(|source| GitError {
            context: what(),
            source,
        })
    }
}

/// No repository where one was looked for.
#[derive(Debug, thiserror::Error)]
#[error("not a git repository: {} (from {from}); run inside the repository, or pass --repo DIR", path.display())]
pub struct NotARepository {
    pub path: PathBuf,
    /// What named the place: `--repo`, `$GIT_DIR` or `the current directory`.
    pub from: &'static str,
}

/// Where the repository is: `--repo`, else `$GIT_DIR`, else the current directory; it must be one.
pub fn locate(explicit: Option<&Path>, env: &HookEnv) -> Result<PathBuf, NotARepository> {
    let base = env.cwd.clone().unwrap_or_default();
    let (path, from) = match (explicit, env.git_dir.as_deref()) {
        (Some(p), _) => (base.join(p), "--repo"),
        (None, Some(p)) => (base.join(p), "$GIT_DIR"),
        (None, None) => (base, "the current directory"),
    };
    // `components()` drops the `.` git often passes as GIT_DIR, so messages show a clean path.
    let path: PathBuf = path.components().collect();
    match open_plain(&path) {
        Ok(_) => Ok(path),
        Err(_) => Err(NotARepository { path, from }),
    }
}

/// The one way a repository is opened: exactly at `path` (a git directory, or a work tree's top).
fn open_plain(path: &Path) -> Result<git2::Repository, git2::Error> {
    git2::Repository::open_ext(
        path,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&str>(),
    )
}

/// An open repository.
pub struct Repo {
    repo: git2::Repository,
}

impl Repo {
    /// Opens the repository at `path` as a hook sees it: with the objects still in git's quarantine
    /// directory (`$GIT_OBJECT_DIRECTORY` and alternates) during `update`.
    pub fn open(path: &Path, env: &HookEnv) -> Result<Repo, GitError> {
        // Re-hashing every object read would repeat what git verified when it received them.
        git2::opts::strict_hash_verification(false);
        let repo = open_plain(path)
            .context(|| format!("cannot open a git repository at {}", path.display()))?;
        let extra: Vec<&PathBuf> = env
            .object_directory
            .iter()
            .chain(&env.alternate_object_directories)
            .collect();
        if !extra.is_empty() {
            let odb = repo
                .odb()
                .context(|| format!("cannot read the object database of {}", path.display()))?;
            let base = env.cwd.clone().unwrap_or_default();
            for dir in extra {
                let dir = base.join(dir);
                if dir.is_dir() {
                    odb.add_disk_alternate(&dir.to_string_lossy())
                        .context(|| format!("cannot add object directory {}", dir.display()))?;
                }
            }
        }
        Ok(Repo { repo })
    }

    /// The branch HEAD names, or `None` when HEAD is detached or missing.
    pub fn default_branch(&self) -> Option<String> {
        let head = self.repo.find_reference("HEAD").ok()?;
        head.symbolic_target()
            .ok()
            .flatten()?
            .strip_prefix("refs/heads/")
            .map(str::to_owned)
    }

    /// The `webhook.*` entries of the repository's git config (its own, the user's and the system's).
    pub fn webhook_config(&self) -> GitConfig {
        let mut entries = Vec::new();
        if let Ok(config) = self.repo.config().and_then(|mut c| c.snapshot()) {
            if let Ok(mut all) = config.entries(Some("^webhook\\.")) {
                while let Some(Ok(entry)) = all.next() {
                    if let (Ok(name), Ok(value)) = (entry.name(), entry.value()) {
                        entries.push((name.to_owned(), value.to_owned()));
                    }
                }
            }
        }
        GitConfig {
            path: self.repo.path().join("config"),
            entries,
        }
    }

    /// The events of one push: see [`push::events`].
    pub fn events(
        &self,
        updates: &[RefUpdate],
        others: Option<&[git2::Oid]>,
        cap: usize,
    ) -> Vec<Result<RefEvent, push::RefError>> {
        push::events(&self.repo, updates, others, cap)
    }

    /// What the events of a push that creates a branch need to know of the refs before it: what every
    /// ref but the pushed ones points at. `Ok(None)` when the push creates no branch.
    pub fn others_before(&self, updates: &[RefUpdate]) -> Result<Option<Vec<git2::Oid>>, GitError> {
        if !push::creates_branch(updates) {
            return Ok(None);
        }
        let pushed: Vec<&str> = updates.iter().map(|u| u.refname.as_str()).collect();
        walk::other_refs(&self.repo, &pushed).map(Some)
    }

    /// The sample event GitLab's "Test" button sends: the newest `n` commits of `refname`, oldest first,
    /// `before` the oldest of them and `after` the newest.
    pub fn sample(&self, refname: &str, n: usize) -> Result<RefEvent, push::RefError> {
        push::sample(&self.repo, refname, n)
    }

    /// Whether `refname` now points at `new` (or at a descendant of it): an `update`-hook event's push
    /// completed. A deleted ref has moved when `new` is all zeros.
    pub fn ref_moved(&self, refname: &str, new: &str) -> bool {
        let current = self
            .repo
            .find_reference(refname)
            .ok()
            .and_then(|r| r.target());
        match (current, git2::Oid::from_str(new)) {
            (None, Ok(n)) => n.is_zero(),
            (Some(c), Ok(n)) => c == n || self.repo.graph_descendant_of(c, n).unwrap_or(false),
            (_, Err(_)) => false,
        }
    }
}
