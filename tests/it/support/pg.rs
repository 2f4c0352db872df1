//! A throw-away PostgreSQL cluster for the database queue's tests: `initdb` into a temp dir, the
//! server on a unix socket there (no TCP port, so nothing conflicts; the TLS test's cluster also
//! listens on a free port of 127.0.0.1), stopped when dropped. As
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
    /// Also listening on 127.0.0.1 at this port, with TLS only.
    pub tls_port: Option<u16>,
}

impl Cluster {
    /// Starts a cluster; `None` (said on stderr) when PostgreSQL is not installed, unless it is
    /// required.
    pub fn start() -> Option<Cluster> {
        Cluster::start_with(None)
    }

    /// A cluster that also takes TLS connections on 127.0.0.1, with this certificate and key (PEM).
    pub fn start_tls(cert: &str, key: &str) -> Option<Cluster> {
        Cluster::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Option<Cluster> {
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
        let mut cluster = Cluster {
            dir,
            bin,
            as_user,
            tls_port: None,
        };
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
        if let Some((cert, key)) = tls {
            cluster.tls_port = Some(cluster.tls_files(cert, key));
        }
        cluster.start_again();
        Some(cluster)
    }

    /// Writes the server's certificate and key where the server reads them (the key readable by its
    /// owner only, as PostgreSQL demands); returns a free port to listen on.
    fn tls_files(&self, cert: &str, key: &str) -> u16 {
        use std::os::unix::fs::PermissionsExt as _;
        let data = PathBuf::from(self.data());
        for (name, text) in [("server.crt", cert), ("server.key", key)] {
            let path = data.join(name);
            std::fs::write(&path, text).expect("write TLS file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if let Some(user) = self.as_user {
                let ok = Command::new("chown")
                    .args([user, &path.to_string_lossy()])
                    .status()
                    .expect("chown");
                assert!(ok.success(), "chown {user}");
            }
        }
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
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

    /// The queue URL of database `postgres`, over the unix socket.
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@/postgres?host={}&port={}",
            self.socket_dir().display(),
            self.port()
        )
    }

    /// The port: the TLS one's number also names the unix socket.
    fn port(&self) -> u16 {
        self.tls_port.unwrap_or(5432)
    }

    /// Where the server logs.
    fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    pub fn start_again(&self) {
        let listen = match self.tls_port {
            Some(port) => format!("-c listen_addresses=127.0.0.1 -p {port} -c ssl=on"),
            None => "-c listen_addresses=''".to_owned(),
        };
        let options = format!(
            "-k {} {listen} -c fsync=off -c max_connections=200",
            self.socket_dir().display()
        );
        let log = self.log_path().to_string_lossy().into_owned();
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
                "-p",
                &self.port().to_string(),
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
