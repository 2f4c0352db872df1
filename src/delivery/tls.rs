//! The TLS side of an endpoint's HTTP client, as rustls sets it up from the endpoint's TLS settings:
//! certificates checked against the system's CA certificates (and its `ca_file`), which are read at
//! the first handshake that needs them, so that plain HTTP never reads them; or not checked at all
//! (`tls_verify = false`); and the endpoint's client certificate, if it has one.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::http::ClientError;
use crate::config::Tls;

/// The rustls configuration for an endpoint's TLS settings; its own files (`ca_file`,
/// `client_cert`, `client_key`) are read now, so that what is wrong with them is said at once.
pub fn config(tls: &Tls) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let check = match (tls.verify, &tls.ca_file) {
        (false, _) => None,
        (true, Some(path)) => Some(anchors(path)?),
        (true, None) => Some(RootCertStore::empty()),
    };
    let verifier = Arc::new(Verifier {
        check: check.map(|extra| (extra, OnceLock::new())),
        provider: Arc::clone(&provider),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| ClientError::Build(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(pem(cert))?;
            let key_der = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(pem(key))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(pem(cert))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| ClientError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn pem<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> ClientError + '_ {
    move |e| ClientError::Pem {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The CA certificates of a `ca_file`, each one a trust anchor rustls takes.
fn anchors(path: &Path) -> Result<RootCertStore, ClientError> {
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem(path))?;
    if certs.is_empty() {
        return Err(pem(path)("no certificate in it (PEM, BEGIN CERTIFICATE)"));
    }
    let mut anchors = RootCertStore::empty();
    for cert in certs {
        anchors.add(cert).map_err(pem(path))?;
    }
    Ok(anchors)
}

/// A receiver's certificate chain checked against the system's CA certificates and a `ca_file`'s
/// (`check`: those, and the verifier made of them and the system's at the first check: a
/// handshake's signatures need no CA certificates); or, with `tls_verify = false` (`None`), any
/// certificate and any signature taken.
#[derive(Debug)]
struct Verifier {
    check: Option<(RootCertStore, OnceLock<Option<Arc<WebPkiServerVerifier>>>)>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some((extra, made)) = &self.check else {
            return Ok(ServerCertVerified::assertion());
        };
        // `None` when no CA certificate at all is trusted: then no certificate is.
        let verifier = made.get_or_init(|| {
            let mut roots = extra.clone();
            roots.add_parsable_certificates(super::roots::native().iter().cloned());
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&self.provider))
                .build()
                .ok()
        });
        let verifier = verifier.as_ref().ok_or(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if self.check.is_none() {
            return Ok(HandshakeSignatureValid::assertion());
        }
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if self.check.is_none() {
            return Ok(HandshakeSignatureValid::assertion());
        }
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
