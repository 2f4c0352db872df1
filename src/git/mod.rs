//! The repository, through libgit2: opened one way (no search upward), seeing a push's quarantined
//! objects, and answering every git question the program asks.

pub mod commit;
pub mod paths;
pub mod push;
mod tree_diff;
pub mod walk;
#[cfg(test)]
mod walk_oracle;

use std::path::{Path, PathBuf};

use crate::config::{GitConfig, GitEntry, GIT_ENVIRONMENT};
use crate::env::HookEnv;
use crate::model::{PathFilter, RefEvent, RefUpdate, Touch};

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

/// Why no repository could be used where one was looked for.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Nothing there is a git repository.
    #[error("not a git repository: {} (from {from})", path.display())]
    NotARepository {
        path: PathBuf,
        /// What named the place: `--repo`, `$GIT_DIR` or `the current directory`.
        from: &'static str,
    },
    /// A repository owned by another user, which git (and libgit2) refuse to use unless told to
    /// trust it.
    #[error("{} is owned by {owner}, not by {me} who runs this, and git refuses to use a repository of another user (its safe.directory check)", path.display())]
    NotOwned {
        path: PathBuf,
        owner: String,
        me: String,
    },
    /// It is one, and cannot be read.
    #[error(transparent)]
    Git(#[from] GitError),
}

impl OpenError {
    /// What to do about it.
    pub fn hints(&self) -> Vec<String> {
        match self {
            OpenError::NotARepository { .. } => {
                vec!["run inside the repository, or pass --repo DIR".to_owned()]
            }
            OpenError::NotOwned { path, owner, .. } => vec![
                format!("run the command as its owner: sudo -u {owner} git-webhook ..."),
                format!(
                    "or trust the repository: git config --global --add safe.directory {}",
                    path.display()
                ),
            ],
            OpenError::Git(_) => Vec::new(),
        }
    }
}

/// The repository `--repo`, else `$GIT_DIR`, else the current directory names, opened once: where
/// it is, and the repository.
pub fn locate(explicit: Option<&Path>, env: &HookEnv) -> Result<(PathBuf, Repo), OpenError> {
    let base = env.cwd.clone().unwrap_or_default();
    let (path, from) = match (explicit, env.git_dir.as_deref()) {
        (Some(p), _) => (base.join(p), "--repo"),
        (None, Some(p)) => (base.join(p), "$GIT_DIR"),
        (None, None) => (base, "the current directory"),
    };
    // `components()` drops the `.` git often passes as GIT_DIR, so messages show a clean path.
    let path: PathBuf = path.components().collect();
    let repo = open_plain(&path, env).map_err(|e| match e {
        OpenError::Git(_) => OpenError::NotARepository {
            path: path.clone(),
            from,
        },
        other => other,
    })?;
    let repo = Repo::seeing_quarantine(repo, &path, env)?;
    Ok((path, repo))
}

/// The one way a repository is opened: exactly at `path` (a git directory, or a work tree's top).
/// A repository of another user is named as such, with whose it is.
fn open_plain(path: &Path, env: &HookEnv) -> Result<git2::Repository, OpenError> {
    // Re-hashing every object read would repeat what git verified when it received them.
    git2::opts::strict_hash_verification(false);
    let opened = git2::Repository::open_ext(
        path,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&str>(),
    );
    opened.map_err(|source| {
        if source.code() == git2::ErrorCode::Owner {
            use std::os::unix::fs::MetadataExt as _;
            let owner = std::fs::metadata(path).map(|m| m.uid()).ok();
            let name = |uid: Option<u32>| {
                uid.map_or_else(|| "someone else".to_owned(), crate::env::user_name)
            };
            return OpenError::NotOwned {
                path: path.to_path_buf(),
                owner: name(owner),
                me: name(env.uid),
            };
        }
        OpenError::Git(GitError {
            context: format!("cannot open a git repository at {}", path.display()),
            source,
        })
    })
}

/// An open repository.
pub struct Repo {
    repo: git2::Repository,
}

impl Repo {
    /// Opens the repository at `path` as a hook sees it: with the objects still in git's quarantine
    /// directory (`$GIT_OBJECT_DIRECTORY` and alternates) during `update`.
    pub fn open(path: &Path, env: &HookEnv) -> Result<Repo, OpenError> {
        Repo::seeing_quarantine(open_plain(path, env)?, path, env)
    }

    /// The repository opened at `path`, with the quarantined objects added.
    fn seeing_quarantine(
        repo: git2::Repository,
        path: &Path,
        env: &HookEnv,
    ) -> Result<Repo, OpenError> {
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

    /// The `webhook.*` entries of the repository's git config (its own, the user's and the
    /// system's, as git reads them), then those git takes from its environment (`git -c`), each
    /// with where it was set.
    pub fn webhook_config(&self, env: &HookEnv) -> GitConfig {
        let path = self.repo.path().join("config");
        let mut entries = Vec::new();
        if let Ok((config, files)) = self.git_config(env) {
            // Every entry, the section's picked here: a pattern would have libgit2 compile a
            // regular expression at each hook's start.
            if let Ok(mut all) = config.entries(None) {
                while let Some(Ok(entry)) = all.next() {
                    if let (Ok(name), Ok(value)) = (entry.name(), entry.value()) {
                        // Section names come lowercased.
                        if !name.starts_with("webhook.") {
                            continue;
                        }
                        let from = files.iter().find(|(level, _)| *level == entry.level());
                        entries.push(GitEntry {
                            name: name.to_owned(),
                            value: value.to_owned(),
                            from: from.map_or_else(|| path.clone(), |(_, file)| file.clone()),
                        });
                    }
                }
            }
        }
        let given = env.git_config_parameters.iter();
        entries.extend(
            given
                .filter(|(k, _)| k.starts_with("webhook."))
                .map(|(name, value)| GitEntry {
                    name: name.clone(),
                    value: value.clone(),
                    from: PathBuf::from(GIT_ENVIRONMENT),
                }),
        );
        GitConfig { path, entries }
    }

    /// The git configuration as git itself reads it for this repository, with the file read at each
    /// level: libgit2 alone would read the system and user files whatever `GIT_CONFIG_NOSYSTEM`,
    /// `GIT_CONFIG_SYSTEM` and `GIT_CONFIG_GLOBAL` say.
    fn git_config(
        &self,
        env: &HookEnv,
    ) -> Result<(git2::Config, Vec<(git2::ConfigLevel, PathBuf)>), git2::Error> {
        use crate::env::GitConfigFile;
        use git2::{Config, ConfigLevel};
        let mut config = Config::new()?;
        let mut files = Vec::new();
        let mut add = |file: Option<PathBuf>, level| match file {
            Some(file) if file.is_file() => {
                config.add_file(&file, level, false)?;
                files.push((level, file));
                Ok(())
            }
            _ => Ok::<(), git2::Error>(()),
        };
        let chosen = |usual: fn() -> Result<PathBuf, git2::Error>, file: &GitConfigFile| match file
        {
            GitConfigFile::Usual => usual().ok(),
            GitConfigFile::Skipped => None,
            GitConfigFile::File(f) => Some(f.clone()),
        };
        add(
            chosen(Config::find_system, &env.git_config_system),
            ConfigLevel::System,
        )?;
        if env.git_config_global == GitConfigFile::Usual {
            add(Config::find_xdg().ok(), ConfigLevel::XDG)?;
        }
        add(
            chosen(Config::find_global, &env.git_config_global),
            ConfigLevel::Global,
        )?;
        add(
            Some(self.repo.commondir().join("config")),
            ConfigLevel::Local,
        )?;
        Ok((config, files))
    }

    /// The events of one push: see [`push::events`].
    pub fn events(
        &self,
        updates: &[RefUpdate],
        others: Option<&[git2::Oid]>,
        cap: usize,
        filters: &push::Filters<'_>,
    ) -> Vec<Result<RefEvent, push::RefError>> {
        push::events(&self.repo, updates, others, cap, filters)
    }

    /// What the branch `update` (one of `updates`) changed says to `filter`, before its event is
    /// made (`others`: what the other refs pointed at before the push): what the hook asks to count
    /// an endpoint with `paths`. A commit that cannot be read makes it a match.
    pub fn touches(
        &self,
        update: &RefUpdate,
        updates: &[RefUpdate],
        others: &[git2::Oid],
        filter: &PathFilter,
        max_commits: usize,
    ) -> Touch {
        let Ok(new) = git2::Oid::from_str(&update.new) else {
            return Touch::Unchecked;
        };
        let tips = push::tips(updates, others.to_vec());
        let hide = push::hidden(update, &tips);
        walk::select(&self.repo, new, &hide, max_commits)
            .and_then(|s| {
                paths::touches(&self.repo, &s.newest_first, s.total, &[filter], max_commits)
            })
            .ok()
            .and_then(|t| t.first().copied())
            .unwrap_or(Touch::Unchecked)
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

    /// Whether the branch `update` creates brings commits that no other ref reached before the push
    /// (`others`: what they pointed at then): what `skip_empty` asks before the commits are walked.
    /// Cheap when the branch starts at another ref's tip, as new branches mostly do.
    pub fn brings_commits(&self, update: &RefUpdate, others: &[git2::Oid]) -> bool {
        let Some(new) = git2::Oid::from_str(&update.new)
            .ok()
            .and_then(|o| walk::peel_to_commit(&self.repo, o))
        else {
            return true;
        };
        if others.is_empty() {
            return true;
        }
        if others.contains(&new) {
            return false;
        }
        walk::select(&self.repo, new, others, 0).map_or(true, |s| s.total > 0)
    }

    /// The branch to take a sample from: `preferred` when it exists, else the only branch there is,
    /// else the first by name (a repository whose HEAD names a branch never pushed); `None` when
    /// there is no branch at all.
    pub fn branch_for_sample(&self, preferred: &str) -> Option<String> {
        if self.repo.find_reference(preferred).is_ok() {
            return Some(preferred.to_owned());
        }
        let mut names: Vec<String> = self
            .repo
            .references_glob("refs/heads/*")
            .ok()?
            .flatten()
            .filter_map(|r| r.name().ok().map(str::to_owned))
            .collect();
        names.sort();
        names.into_iter().next()
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
