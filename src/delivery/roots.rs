//! The system's CA certificates (those `SSL_CERT_FILE` or `SSL_CERT_DIR` name, else the
//! distribution's store), read once per process for every TLS client it makes: reading and decoding
//! a few hundred certificate files was most of what making an HTTP client took, and each sending
//! thread makes its own.

use std::sync::OnceLock;

use rustls::pki_types::CertificateDer;

/// The system's certificates, as read the first time; a store often holds a few that rustls
/// cannot use as trust anchors, which its users leave out (`add_parsable_certificates`).
pub fn native() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}
