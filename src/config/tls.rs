//! An endpoint's TLS settings: checking the certificate files it names into a [`Tls`].

use std::path::PathBuf;

use serde::Serialize;
use toml::Spanned;

use super::schema::RawEndpoint;
use super::Located;

/// How an endpoint's TLS connections are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Tls {
    /// `false`: accept any certificate (`tls_verify = false`).
    #[serde(rename = "tls_verify")]
    pub verify: bool,
    /// Extra CA certificates (PEM) to trust besides the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM), for receivers that ask for one, and its key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

/// The file `p` names, if it can be read; else an error naming the `key`.
pub(super) fn readable(p: &Spanned<PathBuf>, key: &str) -> Result<PathBuf, Located> {
    match std::fs::metadata(p.get_ref()) {
        Ok(_) => Ok(p.get_ref().clone()),
        Err(e) => Err((
            p.span().start,
            format!("cannot read {key} {}: {e}", p.get_ref().display()),
        )),
    }
}

/// The TLS keys of an endpoint, each named file readable.
pub(crate) fn check(raw: &RawEndpoint) -> Result<Tls, Located> {
    let (client_cert, client_key) = match (&raw.client_cert, &raw.client_key) {
        (None, None) => (None, None),
        (Some(c), Some(k)) => (
            Some(readable(c, "client_cert")?),
            Some(readable(k, "client_key")?),
        ),
        (Some(c), None) | (None, Some(c)) => {
            return Err((
                c.span().start,
                "client_cert and client_key go together".to_owned(),
            ))
        }
    };
    Ok(Tls {
        verify: raw.tls_verify.unwrap_or(true),
        ca_file: raw
            .ca_file
            .as_ref()
            .map(|p| readable(p, "ca_file"))
            .transpose()?,
        client_cert,
        client_key,
    })
}
