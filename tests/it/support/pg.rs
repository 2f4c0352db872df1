//! A throw-away PostgreSQL cluster for the database queue's tests: `initdb` into a temp dir, the
//! server on a unix socket there (no TCP port, so nothing conflicts), stopped when dropped. As
//! root (PostgreSQL refuses to run as root) the server runs as the `postgres` user.
#![allow(clippy::disallowed_methods, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `GIT_WEBHOOK_REQUIRE_POSTGRES=1` (set by `.ci/run`) turns a missing PostgreSQL into a failure.
const REQUIRE: &str = "GIT_WEBHOOK_REQUIRE_POSTGRES";

fn find(tool: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(tool));
    on_path.chain(debian).find(|p| p.is_file())
}

/// A running cluster.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    as_user: Option<&'static str>,
}

impl Cluster {
    /// Starts a cluster; `None` (said on stderr) when PostgreSQL is not installed, unless it is
    /// required.
    pub fn start() -> Option<Cluster> {
        let Some(initdb) = find("initdb") else {
            assert!(
                std::env::var_os(REQUIRE).is_none(),
                "PostgreSQL's initdb is not installed, and {REQUIRE} is set"
            );
            eprintln!("skipped: PostgreSQL's initdb is not installed (.ci/run installs it)");
            return None;
        };
        let bin = initdb.parent().expect("bin dir").to_path_buf();
        // Short: a unix socket's path has a length limit.
        let dir = tempfile::Builder::new()
            .prefix("pg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let root = Command::new("id").arg("-u").output().expect("id").stdout == b"0\n";
        let as_user = root.then_some("postgres");
        if let Some(user) = as_user {
            let ok = Command::new("chown")
                .args([user, &dir.path().to_string_lossy()])
                .status()
                .expect("chown");
            assert!(ok.success(), "chown {user}");
        }
        let cluster = Cluster { dir, bin, as_user };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster.start_again();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    /// A PostgreSQL tool, run as the cluster's owner.
    fn tool(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .tool(tool)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The socket's directory.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The queue URL of database `postgres`.
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@/postgres?host={}",
            self.socket_dir().display()
        )
    }

    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    pub fn start_again(&self) {
        let options = format!(
            "-k {} -c listen_addresses='' -c fsync=off -c max_connections=200",
            self.socket_dir().display()
        );
        let log = self.dir.path().join("log").to_string_lossy().into_owned();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// Runs SQL with psql (next to initdb, or on PATH); returns its unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        let psql = self
            .bin
            .join("psql")
            .is_file()
            .then(|| self.bin.join("psql"))
            .or_else(|| find("psql"))
            .expect("psql");
        let out = Command::new(psql)
            .args([
                "-h",
                &self.socket_dir().to_string_lossy(),
                "-U",
                "postgres",
                "-Atc",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .tool("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}
