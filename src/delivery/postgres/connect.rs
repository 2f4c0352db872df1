//! Connecting to the queue's database: the configured URL and password, a one-second connect
//! timeout, TLS checked against the system's roots and `queue_ca_file` (none over a unix socket);
//! each connection prepares a statement once and reuses it.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::str::FromStr as _;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use crate::config::Database;

/// How long connecting may take: a hook whose database is down or slow falls back to its spool.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one statement may take before the server cancels it.
const STATEMENT_TIMEOUT_MS: u32 = 10_000;

/// A connection, with the statements it has prepared: a statement run again costs one round trip
/// instead of two. Its `execute` and `query*` take the SQL text, as the client's do.
pub struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Conn {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.prepared.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params)
    }

    pub fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query(&s, params)
    }

    pub fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_one(&s, params)
    }

    pub fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_opt(&s, params)
    }
}

impl Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl From<Client> for Conn {
    fn from(client: Client) -> Conn {
        Conn {
            client,
            prepared: HashMap::new(),
        }
    }
}

/// A failure to reach or use the database, in words that never hold the password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{url}: {message}")]
    Query { url: String, message: String },
    #[error("cannot read queue_ca_file {path}: {message}")]
    Ca { path: String, message: String },
}

/// The words of a driver error, with the server's own message when it sent one.
pub fn words(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

fn tls(db: &Database) -> Result<tokio_postgres_rustls::MakeRustlsConnect, DbError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(super::super::roots::native().iter().cloned());
    if let Some(path) = &db.ca_file {
        use rustls::pki_types::pem::PemObject as _;
        let ca = |message: String| DbError::Ca {
            path: path.display().to_string(),
            message,
        };
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| ca(e.to_string()))?;
        for cert in certs {
            roots
                .add(cert.map_err(|e| ca(e.to_string()))?)
                .map_err(|e| ca(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Connect {
            url: db.shown.clone(),
            message: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The TLS connector, made once per process (reading the system's roots takes time) and kept in
/// `made`.
fn tls_once(
    db: &Database,
    made: &OnceLock<tokio_postgres_rustls::MakeRustlsConnect>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, DbError> {
    if let Some(t) = made.get() {
        return Ok(t.clone());
    }
    let t = tls(db)?;
    Ok(made.get_or_init(|| t).clone())
}

/// Opens a connection; `user` is the login to use when the URL names none; the TLS connector is
/// kept in `made` for the next connections.
pub fn connect(
    db: &Database,
    user: Option<&str>,
    made: &OnceLock<tokio_postgres_rustls::MakeRustlsConnect>,
) -> Result<Client, DbError> {
    let failed = |message: String| DbError::Connect {
        url: db.shown.clone(),
        message,
    };
    let mut config = postgres::Config::from_str(db.url.expose()).map_err(|e| failed(words(&e)))?;
    if let Some(p) = &db.password {
        config.password(p.expose());
    }
    if config.get_user().is_none() {
        if let Some(u) = user {
            config.user(u);
        }
    }
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .application_name("git-webhook")
        // A claim, a settlement or a log line lost in a database crash means at most one more send
        // (with the same idempotency id): those commit without waiting for the disk. Adding jobs
        // waits for it (see `enqueue`).
        .options(&format!(
            "-c statement_timeout={STATEMENT_TIMEOUT_MS} -c synchronous_commit=off"
        ));
    let local = config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, Host::Unix(_)));
    let client = if local || config.get_ssl_mode() == SslMode::Disable {
        config.connect(NoTls)
    } else {
        config.connect(tls_once(db, made)?)
    };
    client.map_err(|e| failed(words(&e)))
}
