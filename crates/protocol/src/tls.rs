//! `tls`: the client side of TLS to Kafka listeners (rustls, ring provider), shared by the
//! broker's own connections to the other nodes and by the operator's admin client.
//!
//! - [`TlsClient`]: a rustls client config — the CAs trusted, an optional client
//!   certificate (for `ssl.client.auth=required` on the other side), the TLS versions, and
//!   whether the server's name is checked against the host dialled (Kafka's `https`
//!   endpoint identification) or only its chain ([`ChainOnlyVerifier`], Kafka's behaviour
//!   with `ssl.endpoint.identification.algorithm` empty). Built from parsed certificates
//!   ([`TlsClient::new`]) or from PEM text ([`TlsClient::from_pem`]).
//! - [`TlsConnector`]: a [`Connector`] that opens TCP and runs the TLS handshake within
//!   the connect timeout; what a [`crate::Client`] takes to speak to an SSL listener.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    SupportedProtocolVersion,
};

use crate::connector::{ConnectFuture, Connector, Stream, TcpConnector};
use crate::error::Error;

/// Why a TLS client could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    #[error("the trusted CAs: {0}")]
    Trust(String),
    #[error("the client certificate: {0}")]
    Identity(String),
    #[error("the TLS versions: {0}")]
    Versions(String),
}

/// A certificate chain (leaf first) and its private key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A rustls client config for Kafka listeners.
#[derive(Clone)]
pub struct TlsClient {
    connector: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient").finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Trusting `roots` (which must not be empty), presenting `identity` when given,
    /// speaking `versions`; `verify_hostname` checks the server's certificate names the
    /// host dialled, otherwise only its chain is checked.
    pub fn new(
        roots: RootCertStore,
        identity: Option<Identity>,
        versions: &[&'static SupportedProtocolVersion],
        verify_hostname: bool,
    ) -> Result<TlsClient, TlsError> {
        if roots.is_empty() {
            return Err(TlsError::Trust("no CA certificate".to_string()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::Versions(e.to_string()))?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError::Trust(e.to_string()))?;
        let builder = if verify_hostname {
            builder.with_webpki_verifier(webpki)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier(webpki)))
        };
        let config = match identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Identity(e.to_string()))?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// From PEM text: the CA bundle `trust_pem`, and optionally a certificate chain and its
    /// key; TLS 1.2 and 1.3, the server's name checked.
    pub fn from_pem(
        trust_pem: &str,
        identity_pem: Option<(&str, &str)>,
    ) -> Result<TlsClient, TlsError> {
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(trust_pem.as_bytes()) {
            let ca = ca.map_err(|e| TlsError::Trust(e.to_string()))?;
            roots.add(ca).map_err(|e| TlsError::Trust(e.to_string()))?;
        }
        let identity = match identity_pem {
            None => None,
            Some((chain_pem, key_pem)) => {
                let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| TlsError::Identity(e.to_string()))?;
                if chain.is_empty() {
                    return Err(TlsError::Identity("no certificate".to_string()));
                }
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                    .map_err(|e| TlsError::Identity(format!("no private key: {e}")))?;
                Some((chain, key))
            }
        };
        TlsClient::new(
            roots,
            identity,
            &[&rustls::version::TLS12, &rustls::version::TLS13],
            true,
        )
    }

    /// Its rustls configuration: one per build, so a rebuilt client has another.
    pub fn config(&self) -> &Arc<rustls::ClientConfig> {
        self.connector.config()
    }

    /// The TLS handshake over `tcp` with the server at `addr` (`host:port`; the host is the
    /// server name sent and checked). The error says why, in words.
    pub async fn handshake(
        &self,
        addr: &str,
        tcp: Box<dyn Stream>,
    ) -> Result<Box<dyn Stream>, String> {
        let host = host_of(addr);
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host} is no TLS server name: {e}"))?;
        let stream = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        Ok(Box::new(stream))
    }
}

/// TCP, then TLS (an SSL listener), both within the connect timeout.
#[derive(Debug, Clone)]
pub struct TlsConnector {
    tls: TlsClient,
}

impl TlsConnector {
    pub fn new(tls: TlsClient) -> TlsConnector {
        TlsConnector { tls }
    }

    pub fn shared(tls: TlsClient) -> Arc<dyn Connector> {
        Arc::new(TlsConnector::new(tls))
    }
}

impl Connector for TlsConnector {
    fn connect<'a>(&'a self, addr: &'a str, timeout: Duration) -> ConnectFuture<'a> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let tcp = TcpConnector.connect(addr, timeout).await?;
            match tokio::time::timeout_at(deadline, self.tls.handshake(addr, tcp)).await {
                Err(_) => Err(Error::ConnectTimeout {
                    addr: addr.to_string(),
                    timeout_ms: timeout.as_millis().min(u64::MAX as u128) as u64,
                }),
                Ok(Err(reason)) => Err(Error::Connect {
                    addr: addr.to_string(),
                    source: Arc::new(std::io::Error::other(reason)),
                }),
                Ok(Ok(stream)) => Ok(stream),
            }
        })
    }
}

/// The host of `host:port` (`[v6]:port` without its brackets).
pub fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The chain must lead to a trusted CA; the name in it is not checked (Kafka's behaviour
/// without endpoint identification).
#[derive(Debug)]
struct ChainOnlyVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name error means the chain is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_dialled_is_the_tls_server_name() {
        assert_eq!(host_of("broker-1.kafka.svc:9093"), "broker-1.kafka.svc");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
    }

    #[test]
    fn pem_without_a_ca_or_a_key_is_refused_in_words() {
        let empty = TlsClient::from_pem("", None).expect_err("no CA is refused");
        assert!(matches!(empty, TlsError::Trust(_)), "{empty}");
        let garbage = TlsClient::from_pem("-----BEGIN CERTIFICATE-----\nnot base64\n", None)
            .expect_err("garbage is refused");
        assert!(matches!(garbage, TlsError::Trust(_)), "{garbage}");
    }
}
