//! `install` and `uninstall`: the hook as a symlink in one repository, every repository below a
//! directory, or a `core.hooksPath` directory; idempotent, and never clobbering another hook.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The first line of the dispatcher `--chain` writes, so `uninstall` knows it is ours.
const DISPATCHER_MARK: &str = "# git-webhook chain dispatcher";
/// How deep `--all` looks for repositories.
const MAX_DEPTH: usize = 8;

/// What to install, and where.
#[derive(Debug, Clone, Default)]
struct Targets {
    pub repos: Vec<PathBuf>,
    /// Every repository below this directory.
    pub all: Option<PathBuf>,
    /// A `core.hooksPath` directory.
    pub hooks_path: Option<PathBuf>,
    /// `post-receive` or `update`.
    pub hook: String,
    /// Keep a foreign hook by moving both into a `<hook>.d/` folder run by a small dispatcher.
    pub chain: bool,
}

/// What happened in one hooks directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Done {
    Installed,
    AlreadyInstalled,
    Chained,
    Skipped,
    Removed,
    Restored,
    NotInstalled,
    Failed,
}

impl Done {
    fn word(self) -> &'static str {
        match self {
            Done::Installed => "installed",
            Done::AlreadyInstalled => "already installed",
            Done::Chained => "chained",
            Done::Skipped => "skipped",
            Done::Removed => "removed",
            Done::Restored => "removed, previous hook restored",
            Done::NotInstalled => "not installed",
            Done::Failed => "failed",
        }
    }
}

/// Why installing into a place, or finding the places, failed.
#[derive(Debug, thiserror::Error)]
enum InstallError {
    #[error("cannot {what} {}", path.display())]
    Fs {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no git repositories below {}", .0.display())]
    NoRepositories(PathBuf),
    #[error("{} is not a git repository", .0.display())]
    NotARepository(PathBuf),
    #[error("name repositories, --all DIR or --hooks-path DIR")]
    NothingNamed,
}

/// A file operation's error, naming what was done to which path.
fn fs_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_path_buf();
    move |source| InstallError::Fs { what, path, source }
}

fn is_git_dir(p: &Path) -> bool {
    p.join("HEAD").is_file() && p.join("objects").is_dir() && p.join("refs").is_dir()
}

/// Bare repositories (and work trees' `.git`) below `dir`, without looking inside repositories.
pub(super) fn find_repos(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if is_git_dir(dir) {
        found.push(dir.to_path_buf());
        return;
    }
    if depth == MAX_DEPTH {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    dirs.sort();
    for d in dirs {
        find_repos(&d, depth + 1, found);
    }
}

/// The hooks directories the targets name.
fn hook_dirs(t: &Targets) -> Result<Vec<PathBuf>, InstallError> {
    let mut dirs = Vec::new();
    if let Some(h) = &t.hooks_path {
        dirs.push(h.clone());
    }
    if let Some(root) = &t.all {
        let mut found = Vec::new();
        find_repos(root, 0, &mut found);
        if found.is_empty() {
            return Err(InstallError::NoRepositories(root.clone()));
        }
        dirs.extend(found.into_iter().map(|r| r.join("hooks")));
    }
    for r in &t.repos {
        let git_dir = if is_git_dir(r) {
            r.clone()
        } else {
            r.join(".git")
        };
        if !is_git_dir(&git_dir) {
            return Err(InstallError::NotARepository(r.clone()));
        }
        dirs.push(git_dir.join("hooks"));
    }
    Ok(dirs)
}

fn points_to_us(link: &Path, exe: &Path) -> bool {
    let Ok(target) = fs::read_link(link) else {
        return false;
    };
    let target = if target.is_relative() {
        link.parent().map(|p| p.join(&target)).unwrap_or(target)
    } else {
        target
    };
    target.canonicalize().ok().as_deref() == Some(exe)
        || target.file_name().is_some_and(|n| n == "git-webhook")
}

fn dispatcher(hook: &str) -> String {
    let run = if hook == "post-receive" {
        "  printf '%s\\n' \"$input\" | \"$h\" \"$@\" || status=$?"
    } else {
        "  \"$h\" \"$@\" || exit $?"
    };
    let read = if hook == "post-receive" {
        "input=$(cat)\n"
    } else {
        ""
    };
    format!(
        "#!/bin/sh\n{DISPATCHER_MARK}: runs every program in {hook}.d/, in name order.\n# `git webhook uninstall` undoes it.\n{read}status=0\nfor h in \"$(dirname \"$0\")/{hook}.d\"/*; do\n  [ -x \"$h\" ] || continue\n{run}\ndone\nexit $status\n"
    )
}

fn install_one(dir: &Path, t: &Targets, exe: &Path) -> Result<(Done, String), InstallError> {
    fs::create_dir_all(dir).map_err(fs_error("create", dir))?;
    let hook = dir.join(&t.hook);
    let chain_dir = dir.join(format!("{}.d", t.hook));
    let ours = chain_dir.join("50-git-webhook");
    if !hook.exists() && !hook.is_symlink() {
        std::os::unix::fs::symlink(exe, &hook).map_err(fs_error("link", &hook))?;
        return Ok((Done::Installed, String::new()));
    }
    if points_to_us(&hook, exe) || (ours.is_symlink() && points_to_us(&ours, exe)) {
        return Ok((Done::AlreadyInstalled, String::new()));
    }
    if !t.chain {
        let how = format!(
            "{} is another program; rerun with --chain to keep it and run both from {}/, or add `git-webhook {} \"$@\"` to it{}",
            hook.display(),
            chain_dir.display(),
            t.hook,
            if t.hook == "post-receive" { " (it needs the same stdin)" } else { "" }
        );
        return Ok((Done::Skipped, how));
    }
    fs::create_dir_all(&chain_dir).map_err(fs_error("create", &chain_dir))?;
    let previous = chain_dir.join("10-previous");
    fs::rename(&hook, &previous).map_err(fs_error("move", &hook))?;
    std::os::unix::fs::symlink(exe, &ours).map_err(fs_error("link", &ours))?;
    fs::write(&hook, dispatcher(&t.hook)).map_err(fs_error("write", &hook))?;
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755))
        .map_err(fs_error("chmod", &hook))?;
    Ok((
        Done::Chained,
        format!("the previous hook now runs as {}", previous.display()),
    ))
}

fn uninstall_one(dir: &Path, t: &Targets, exe: &Path) -> Result<(Done, String), InstallError> {
    let hook = dir.join(&t.hook);
    if points_to_us(&hook, exe) {
        fs::remove_file(&hook).map_err(fs_error("remove", &hook))?;
        return Ok((Done::Removed, String::new()));
    }
    let chain_dir = dir.join(format!("{}.d", t.hook));
    let ours = chain_dir.join("50-git-webhook");
    let is_dispatcher = fs::read_to_string(&hook).is_ok_and(|s| s.contains(DISPATCHER_MARK));
    if !(is_dispatcher && ours.is_symlink()) {
        return Ok((Done::NotInstalled, String::new()));
    }
    fs::remove_file(&ours).map_err(fs_error("remove", &ours))?;
    let rest: Vec<PathBuf> = fs::read_dir(&chain_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    if let [only] = rest.as_slice() {
        fs::rename(only, &hook).map_err(fs_error("restore", only))?;
        let _ = fs::remove_dir(&chain_dir);
        return Ok((Done::Restored, String::new()));
    }
    Ok((
        Done::Removed,
        format!("{} still runs the other programs there", hook.display()),
    ))
}

/// `install` / `uninstall`: exit status 1 when anything was skipped or failed.
pub fn install(
    args: &crate::cli::InstallArgs,
    ctx: &mut super::Context<'_>,
) -> Result<(), crate::error::CommandError> {
    let targets = Targets {
        repos: args.repos.clone(),
        all: args.all.clone(),
        hooks_path: args.hooks_path.clone(),
        hook: args.hook.clone(),
        chain: args.chain,
    };
    run(&targets, false, ctx)
}

/// `uninstall`: exit status 1 when anything failed.
pub fn uninstall(
    args: &crate::cli::UninstallArgs,
    ctx: &mut super::Context<'_>,
) -> Result<(), crate::error::CommandError> {
    let targets = Targets {
        repos: args.repos.clone(),
        all: args.all.clone(),
        hooks_path: args.hooks_path.clone(),
        hook: args.hook.clone(),
        chain: false,
    };
    run(&targets, true, ctx)
}

fn run(
    targets: &Targets,
    remove: bool,
    ctx: &mut super::Context<'_>,
) -> Result<(), crate::error::CommandError> {
    use crate::error::CommandError;
    let exe = ctx
        .env
        .exe
        .as_deref()
        .ok_or_else(|| CommandError::user("cannot find this program's own path"))?;
    match install_all(targets, remove, exe, ctx.out) {
        Ok(true) => Ok(()),
        Ok(false) => Err(CommandError::said()),
        Err(e) => Err(CommandError::user(e)),
    }
}

/// Installs (or, with `remove`, uninstalls) into every target, one line each, then a summary.
/// Returns whether everything was done (nothing skipped or failed).
fn install_all(
    t: &Targets,
    remove: bool,
    exe: &Path,
    out: &mut dyn Write,
) -> Result<bool, InstallError> {
    let dirs = hook_dirs(t)?;
    if dirs.is_empty() {
        return Err(InstallError::NothingNamed);
    }
    let exe = exe.canonicalize().unwrap_or_else(|_| exe.to_path_buf());
    let mut tally: std::collections::BTreeMap<Done, usize> = Default::default();
    for (i, dir) in dirs.iter().enumerate() {
        let (done, note) = if remove {
            uninstall_one(dir, t, &exe)
        } else {
            install_one(dir, t, &exe)
        }
        .unwrap_or_else(|e| (Done::Failed, crate::error::chain(&e)));
        *tally.entry(done).or_default() += 1;
        let repo = repo_of(dir);
        let progress = if dirs.len() > 1 {
            format!("[{}/{}] ", i + 1, dirs.len())
        } else {
            String::new()
        };
        let note = if note.is_empty() {
            String::new()
        } else {
            format!(": {note}")
        };
        let _ = writeln!(
            out,
            "{progress}{}: {} {}{note}",
            repo.display(),
            t.hook,
            done.word()
        );
    }
    let summary: Vec<String> = tally
        .iter()
        .map(|(d, n)| format!("{} {n}", d.word()))
        .collect();
    let _ = writeln!(
        out,
        "{} {}: {}",
        if remove { "uninstall" } else { "install" },
        t.hook,
        summary.join(", ")
    );
    Ok(!tally.contains_key(&Done::Skipped) && !tally.contains_key(&Done::Failed))
}

/// The repository a hooks directory belongs to (`repo.git/hooks` → `repo.git`); a hooks path names itself.
fn repo_of(dir: &Path) -> &Path {
    match (dir.file_name(), dir.parent()) {
        (Some(n), Some(parent)) if n == "hooks" && is_git_dir(parent) => parent,
        _ => dir,
    }
}
