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
    let verifier: Arc<dyn ServerCertVerifier> = if tls.verify {
        let extra = match &tls.ca_file {
            Some(path) => anchors(path)?,
            None => Vec::new(),
        };
        Arc::new(Checked {
            extra,
            provider: Arc::clone(&provider),
            made: OnceLock::new(),
        })
    } else {
        Arc::new(Unchecked(Arc::clone(&provider)))
    };
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
fn anchors(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem(path))?;
    if certs.is_empty() {
        return Err(pem(path)("no certificate in it (PEM, BEGIN CERTIFICATE)"));
    }
    let mut check = RootCertStore::empty();
    for cert in &certs {
        check.add(cert.clone()).map_err(pem(path))?;
    }
    Ok(certs)
}

/// Checks a receiver's certificate chain against the system's CA certificates and `extra`, made
/// into a verifier at the first check (the signatures of a handshake need no CA certificates).
#[derive(Debug)]
struct Checked {
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    made: OnceLock<Option<Arc<WebPkiServerVerifier>>>,
}

impl Checked {
    /// `None` when no CA certificate at all is trusted: then no certificate is.
    fn verifier(&self) -> Option<&Arc<WebPkiServerVerifier>> {
        self.made
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(super::roots::native().iter().cloned());
                roots.add_parsable_certificates(self.extra.iter().cloned());
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&self.provider),
                )
                .build()
                .ok()
            })
            .as_ref()
    }
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verifier = self.verifier().ok_or(rustls::Error::InvalidCertificate(
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
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `tls_verify = false`: any certificate, and any signature, is taken.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
