//! rustls configuration: the ring provider, webpki roots, and (behind the
//! `danger-skip-tls-verify` feature) a verifier that accepts any certificate.

use std::sync::Arc;

use futures_rustls::TlsConnector;
use rustls::client::WantsClientCert;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore};

/// The crypto provider every config here uses: ring (no aws-lc, no C toolchain).
pub(super) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Mozilla's root CAs as shipped by webpki-roots.
pub(super) fn default_root_store() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A config builder on the ring provider, TLS 1.2 and 1.3, trusting `roots`.
pub(super) fn config_builder(roots: RootCertStore) -> ConfigBuilder<ClientConfig, WantsClientCert> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        // The ring provider's defaults support both safe protocol versions; this
        // only fails for a provider without cipher suites, which we never build.
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
}

pub(super) fn default_config() -> ClientConfig {
    config_builder(default_root_store()).with_no_client_auth()
}

pub(super) fn default_connector() -> TlsConnector {
    TlsConnector::from(Arc::new(default_config()))
}

#[cfg(feature = "danger-skip-tls-verify")]
pub(super) use danger::insecure_connector;

#[cfg(feature = "danger-skip-tls-verify")]
mod danger {
    use std::sync::Arc;

    use futures_rustls::TlsConnector;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{
        WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
    };
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

    /// Accepts any server certificate, for any name, at any time. The handshake
    /// signatures are still checked, so the peer must hold the key of the
    /// certificate it shows — but anyone can make such a certificate.
    #[derive(Debug)]
    struct AcceptAnyCertificate {
        algorithms: WebPkiSupportedAlgorithms,
    }

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    }

    pub(in crate::transport) fn insecure_connector() -> TlsConnector {
        let provider = super::provider();
        let verifier = AcceptAnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}
