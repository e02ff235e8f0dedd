//! TLS client configuration: certificate checks against the system roots, Mozilla's roots and an
//! optional `ca_file`. There is no switch to turn verification off; self-hosted servers give
//! their CA instead.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

use crate::error::{Error, Result};

fn base_roots() -> &'static Vec<CertificateDer<'static>> {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        // Mozilla's roots always; the system's too, so corporate CAs installed there work.
        rustls_native_certs::load_native_certs().certs
    })
}

/// Builds the client configuration for one endpoint.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = RootCertStore::empty();
    let mut pinned: Vec<CertificateDer<'static>> = Vec::new();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in base_roots() {
        // A malformed system certificate must not stop the run; it just is not trusted.
        let _ = roots.add(cert.clone());
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| {
                Error::Invalid(format!(
                    "ca_file {}: not a valid PEM certificate: {e}",
                    path.display()
                ))
            })?;
            pinned.push(cert.clone());
            roots.add(cert).map_err(|e| {
                Error::Invalid(format!(
                    "ca_file {}: certificate rejected: {e}",
                    path.display()
                ))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::Invalid(format!(
                "ca_file {}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| Error::Invalid(format!("TLS setup: {e}")))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Invalid(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinningVerifier { webpki, pinned }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A sentence telling the user what to do about a handshake failure.
pub fn hint_for(detail: &str) -> &'static str {
    if detail.contains("UnknownIssuer")
        || detail.contains("unknown issuer")
        || detail.contains("CaUsedAsEndEntity")
    {
        "The server's certificate is not signed by a trusted authority. For a self-hosted server, put its CA certificate in `ca_file`."
    } else if detail.contains("NotValidForName") || detail.contains("not valid for name") {
        "The certificate does not name this host. Use the host name printed on the certificate (e.g. imap.qq.com), not an IP address or alias."
    } else if detail.contains("Expired") || detail.contains("expired") {
        "The server's certificate has expired, or this machine's clock is wrong."
    } else if detail.contains("corrupt message") || detail.contains("InvalidContentType") {
        "The port does not speak TLS. For port 143 use `tls: starttls`; for 993 use `tls: implicit`."
    } else {
        "Check that host, port and tls mode match the server (993 implicit, 143 starttls)."
    }
}

/// The standard WebPKI checks, plus one allowance: a certificate given in `ca_file` that the
/// server presents as its own (a self-signed server certificate, as self-hosted servers often
/// have) is trusted as exactly that certificate. Nothing else is relaxed.
#[derive(Debug)]
struct PinningVerifier {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl rustls::client::danger::ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => Ok(v),
            Err(e) => {
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref())
                {
                    Ok(rustls::client::danger::ServerCertVerified::assertion())
                } else {
                    Err(e)
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
