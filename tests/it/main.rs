//! Integration tests: real `git push` into real bare repositories with the hook installed, real HTTP to 127.0.0.1.

mod support;

mod chat;
mod cli;
mod custom;
mod damaged;
mod deferred;
mod delivery;
mod destinations;
mod docs;
mod dry_run;
mod durable;
mod echoed;
mod formats;
mod full_disk;
mod gitlab;
mod gitolite;
mod keepalive;
mod kills;
mod operations;
mod ownership;
mod paths;
mod paused;
mod remote;
mod robustness;
mod selection;
mod server;
mod server_worker;
mod shared_queue;
mod signing;

/// Every file in tests/it/ (and in its module folders) is declared as a module, so none silently
/// never runs.
#[test]
fn no_forgotten_test_files() {
    fn check(dir: &std::path::Path, parent: &str) {
        let declared = std::fs::read_to_string(dir.join(parent)).expect("module file");
        for entry in std::fs::read_dir(dir).expect("test folder") {
            let path = entry.expect("entry").path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            // Snapshots and the schemas requests are checked against are data, not modules.
            if matches!(stem, "main" | "mod" | "snapshots" | "schemas") {
                continue;
            }
            assert!(
                declared.contains(&format!("mod {stem};")),
                "{} is not declared in {parent}",
                path.display()
            );
            if path.is_dir() {
                check(&path, "mod.rs");
            }
        }
    }
    check(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it"),
        "main.rs",
    );
}

/// The repository root holds only what the product is made of (a stray experiment fails here).
#[test]
#[allow(clippy::disallowed_methods)]
fn no_stray_root_files() {
    const KNOWN: &[&str] = &[
        ".ci",
        ".git",
        ".gitignore",
        "CONTRIBUTING.md",
        "Cargo.lock",
        "Cargo.toml",
        "README.md",
        "bench",
        "benches",
        "clippy.toml",
        "config.example.toml",
        "docs",
        "hooks",
        "packaging",
        "src",
        "target",
        "tests",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tracked = std::process::Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git ls-files");
    let listing = String::from_utf8_lossy(&tracked.stdout);
    let stray: std::collections::BTreeSet<&str> = listing
        .lines()
        .filter_map(|l| l.split('/').next())
        .filter(|top| !KNOWN.contains(top))
        .collect();
    assert!(
        stray.is_empty(),
        "unknown files at the repository root: {stray:?}"
    );
}
