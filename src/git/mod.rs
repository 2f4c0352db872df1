//! Reading the repository with libgit2: opening it as a hook sees it, and turning ref updates into events.

pub mod commit;
pub mod push;
pub mod refs;
pub mod walk;

use std::path::{Path, PathBuf};

use crate::env::HookEnv;

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

/// Where the repository is: `--repo`, else `GIT_DIR`, else the current directory.
pub fn repo_path(explicit: Option<&Path>, env: &HookEnv) -> PathBuf {
    let base = env.cwd.clone().unwrap_or_default();
    let path = match explicit.or(env.git_dir.as_deref()) {
        Some(p) => base.join(p),
        None => base,
    };
    // `components()` drops the `.` git often passes as GIT_DIR, so messages show a clean path.
    path.components().collect()
}

/// Opens the repository a hook runs in, seeing objects still in git's quarantine directory.
pub fn open(path: &Path, env: &HookEnv) -> Result<git2::Repository, GitError> {
    // Re-hashing every object read would repeat what git verified when it received them.
    git2::opts::strict_hash_verification(false);
    let repo = git2::Repository::open_ext(
        path,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&str>(),
    )
    .or_else(|_| git2::Repository::discover(path))
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
    Ok(repo)
}

/// The branch HEAD names, or `None` when HEAD is detached or missing.
pub fn default_branch(repo: &git2::Repository) -> Option<String> {
    let head = repo.find_reference("HEAD").ok()?;
    head.symbolic_target()
        .ok()
        .flatten()?
        .strip_prefix("refs/heads/")
        .map(str::to_owned)
}
