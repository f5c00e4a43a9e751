//! HTTPS for the push clients (feature `tls`): rustls over ring, with the
//! Mozilla roots of `webpki-roots` unless the caller gives its own CA
//! (which then is the only one trusted, as Prometheus' `tls_config.ca_file`
//! does), and an optional client certificate for receivers that ask for
//! one (mutual TLS).
#![forbid(unsafe_code)]

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::PushError;

/// What a builder was given: PEM text, parsed when the client is built.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsSettings {
    pub(crate) ca_pem: Option<Vec<u8>>,
    pub(crate) client_pem: Option<(Vec<u8>, Vec<u8>)>,
}

/// A client configuration made from [`TlsSettings`].
#[derive(Clone)]
pub(crate) struct Tls(Arc<rustls::ClientConfig>);

impl Tls {
    /// Parses the certificates and keys and builds the client's
    /// configuration.
    pub(crate) fn new(settings: &TlsSettings) -> Result<Tls, PushError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| PushError::InvalidTls {
            reason: format!("{what}: {e}"),
        };
        // ring builds with a plain C compiler everywhere; rustls 0.23.48
        // deprecates its provider only for lacking post-quantum key
        // exchange, which no remote-write receiver requires.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        match &settings.ca_pem {
            Some(pem) => {
                let mut n = 0;
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| bad("the CA certificate PEM", &e))?;
                    roots.add(cert).map_err(|e| bad("the CA certificate", &e))?;
                    n += 1;
                }
                if n == 0 {
                    return Err(PushError::InvalidTls {
                        reason: "the CA PEM holds no CERTIFICATE block".into(),
                    });
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("the TLS versions", &e))?
            .with_root_certificates(roots);
        let mut config = match &settings.client_pem {
            None => builder.with_no_client_auth(),
            Some((cert_pem, key_pem)) => {
                let chain = CertificateDer::pem_slice_iter(cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad("the client certificate PEM", &e))?;
                if chain.is_empty() {
                    return Err(PushError::InvalidTls {
                        reason: "the client certificate PEM holds no CERTIFICATE block".into(),
                    });
                }
                let key = PrivateKeyDer::from_pem_slice(key_pem)
                    .map_err(|e| bad("the client key PEM (PKCS#8, PKCS#1 or SEC1)", &e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad("the client certificate and key", &e))?
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls(Arc::new(config)))
    }

    /// A client connection to `host`, before its handshake (which the
    /// caller drives over its socket).
    pub(crate) fn client(&self, host: &str) -> Result<rustls::ClientConnection, PushError> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| PushError::InvalidTls {
            reason: format!("{host:?} is no TLS server name: {e}"),
        })?;
        rustls::ClientConnection::new(Arc::clone(&self.0), name).map_err(|e| PushError::Tls {
            host: host.to_string(),
            source: std::io::Error::other(e),
        })
    }
}
