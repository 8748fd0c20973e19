//! TLS for SSL and SASL_SSL listeners (rustls, ring provider): the server certificate and
//! key from one PEM file (`ssl.keystore.type=PEM`, `ssl.keystore.location`: the private key
//! and the certificate chain, leaf first), the CAs client certificates are checked against
//! from a PEM file (`ssl.truststore.type=PEM`, `ssl.truststore.location`), and
//! `ssl.client.auth` (`required`: no certificate, no connection; `requested`: a
//! certificate is checked when sent; `none`: none is asked for). Every key may carry the
//! listener prefix (`listener.name.<listener>.ssl.*`).

use std::path::PathBuf;
use std::sync::Arc;

use ironlog_config::{BrokerConfig, ConfigValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::SecurityError;

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    Required,
    Requested,
    None,
}

/// A listener's TLS acceptor, built once at start.
pub(crate) fn acceptor(
    config: &BrokerConfig,
    listener: &str,
) -> Result<TlsAcceptor, SecurityError> {
    let text = |name: &str| match config.listener_value(listener, name) {
        Some(ConfigValue::String(s)) | Some(ConfigValue::Password(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let invalid = |name: &str, message: String| SecurityError::Config {
        listener: listener.to_string(),
        name: name.to_string(),
        message,
    };
    if text("ssl.keystore.type").as_deref() != Some("PEM") {
        return Err(invalid(
            "ssl.keystore.type",
            "only PEM keystores are supported: set ssl.keystore.type=PEM".into(),
        ));
    }
    if text("ssl.key.password").is_some() || text("ssl.keystore.password").is_some() {
        return Err(invalid(
            "ssl.key.password",
            "encrypted PEM keys are not supported; give the key unencrypted".into(),
        ));
    }
    let keystore = text("ssl.keystore.location")
        .map(PathBuf::from)
        .ok_or_else(|| {
            invalid(
                "ssl.keystore.location",
                "is required on a TLS listener".into(),
            )
        })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&keystore)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| {
            invalid(
                "ssl.keystore.location",
                format!("{}: {e}", keystore.display()),
            )
        })?;
    if chain.is_empty() {
        return Err(invalid(
            "ssl.keystore.location",
            format!("{} holds no certificate", keystore.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&keystore).map_err(|e| {
        invalid(
            "ssl.keystore.location",
            format!("{}: no private key: {e}", keystore.display()),
        )
    })?;

    let client_auth = match text("ssl.client.auth").as_deref() {
        Some("required") => ClientAuth::Required,
        Some("requested") => ClientAuth::Requested,
        _ => ClientAuth::None,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        match config.listener_value(listener, "ssl.enabled.protocols") {
            Some(ConfigValue::List(names)) => names
                .iter()
                .filter_map(|n| match n.as_str() {
                    "TLSv1.2" => Some(&rustls::version::TLS12),
                    "TLSv1.3" => Some(&rustls::version::TLS13),
                    _ => None,
                })
                .collect(),
            _ => vec![&rustls::version::TLS12, &rustls::version::TLS13],
        };
    if versions.is_empty() {
        return Err(invalid(
            "ssl.enabled.protocols",
            "names no TLS version".into(),
        ));
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| invalid("ssl.enabled.protocols", e.to_string()))?;
    let builder = if client_auth == ClientAuth::None {
        builder.with_no_client_auth()
    } else {
        let truststore = text("ssl.truststore.location")
            .map(PathBuf::from)
            .ok_or_else(|| {
                invalid(
                    "ssl.truststore.location",
                    "is required when ssl.client.auth is required or requested".into(),
                )
            })?;
        if text("ssl.truststore.type").as_deref() != Some("PEM") {
            return Err(invalid(
                "ssl.truststore.type",
                "only PEM truststores are supported: set ssl.truststore.type=PEM".into(),
            ));
        }
        let mut roots = RootCertStore::empty();
        let cas = CertificateDer::pem_file_iter(&truststore)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                invalid(
                    "ssl.truststore.location",
                    format!("{}: {e}", truststore.display()),
                )
            })?;
        for ca in cas {
            roots
                .add(ca)
                .map_err(|e| invalid("ssl.truststore.location", e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(invalid(
                "ssl.truststore.location",
                format!("{} holds no CA certificate", truststore.display()),
            ));
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = match client_auth {
            ClientAuth::Requested => verifier.allow_unauthenticated(),
            _ => verifier,
        }
        .build()
        .map_err(|e| invalid("ssl.truststore.location", e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let server = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid("ssl.keystore.location", e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}
