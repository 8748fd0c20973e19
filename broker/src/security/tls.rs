//! TLS for SSL and SASL_SSL listeners (rustls, ring provider): the server certificate and
//! key from one PEM file (`ssl.keystore.type=PEM`, `ssl.keystore.location`: the private key
//! and the certificate chain, leaf first), the CAs client certificates are checked against
//! from a PEM file (`ssl.truststore.type=PEM`, `ssl.truststore.location`), and
//! `ssl.client.auth` (`required`: no certificate, no connection; `requested`: a
//! certificate is checked when sent; `none`: none is asked for). Every key may carry the
//! listener prefix (`listener.name.<listener>.ssl.*`). The files are checked for a change
//! every `ssl.file.reload.interval.ms` and reloaded when they changed (`tls_reload`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ironlog_config::{BrokerConfig, ConfigValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::tls_reload::ReloadingTls;
use super::SecurityError;

/// `ssl.file.reload.interval.ms`'s default.
const FILE_RELOAD_INTERVAL_MS_DEFAULT: i64 = 5_000;

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    Required,
    Requested,
    None,
}

/// A listener's TLS key and certificate files, roots and versions, read from its
/// `ssl.*` keys (listener-prefixed or not). Shared by the acceptor and by the nodes' own
/// clients of that listener (`node_client`), so that both read the files alike.
pub(crate) struct TlsFiles<'a> {
    config: &'a BrokerConfig,
    listener: &'a str,
}

impl<'a> TlsFiles<'a> {
    pub(crate) fn new(config: &'a BrokerConfig, listener: &'a str) -> Self {
        Self { config, listener }
    }

    pub(crate) fn text(&self, name: &str) -> Option<String> {
        match self.config.listener_value(self.listener, name) {
            Some(ConfigValue::String(s)) | Some(ConfigValue::Password(s)) if !s.is_empty() => {
                Some(s)
            }
            _ => None,
        }
    }

    pub(crate) fn invalid(&self, name: &str, message: String) -> SecurityError {
        SecurityError::Config {
            listener: self.listener.to_string(),
            name: name.to_string(),
            message,
        }
    }

    /// The keystore's certificate chain and private key; `None` when
    /// `ssl.keystore.location` is not set.
    pub(crate) fn keystore(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, SecurityError> {
        let Some(keystore) = self.text("ssl.keystore.location").map(PathBuf::from) else {
            return Ok(None);
        };
        if self.text("ssl.keystore.type").as_deref() != Some("PEM") {
            return Err(self.invalid(
                "ssl.keystore.type",
                "only PEM keystores are supported: set ssl.keystore.type=PEM".into(),
            ));
        }
        if self.text("ssl.key.password").is_some() || self.text("ssl.keystore.password").is_some() {
            return Err(self.invalid(
                "ssl.key.password",
                "encrypted PEM keys are not supported; give the key unencrypted".into(),
            ));
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&keystore)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| {
                self.invalid(
                    "ssl.keystore.location",
                    format!("{}: {e}", keystore.display()),
                )
            })?;
        if chain.is_empty() {
            return Err(self.invalid(
                "ssl.keystore.location",
                format!("{} holds no certificate", keystore.display()),
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&keystore).map_err(|e| {
            self.invalid(
                "ssl.keystore.location",
                format!("{}: no private key: {e}", keystore.display()),
            )
        })?;
        Ok(Some((chain, key)))
    }

    /// The CAs of `ssl.truststore.location` (PEM); `why` says when it is required.
    pub(crate) fn truststore(&self, why: &str) -> Result<RootCertStore, SecurityError> {
        let truststore = self
            .text("ssl.truststore.location")
            .map(PathBuf::from)
            .ok_or_else(|| self.invalid("ssl.truststore.location", format!("is required {why}")))?;
        if self.text("ssl.truststore.type").as_deref() != Some("PEM") {
            return Err(self.invalid(
                "ssl.truststore.type",
                "only PEM truststores are supported: set ssl.truststore.type=PEM".into(),
            ));
        }
        let mut roots = RootCertStore::empty();
        let cas = CertificateDer::pem_file_iter(&truststore)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                self.invalid(
                    "ssl.truststore.location",
                    format!("{}: {e}", truststore.display()),
                )
            })?;
        for ca in cas {
            roots
                .add(ca)
                .map_err(|e| self.invalid("ssl.truststore.location", e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(self.invalid(
                "ssl.truststore.location",
                format!("{} holds no CA certificate", truststore.display()),
            ));
        }
        Ok(roots)
    }

    /// The keystore and truststore files that are set, for [`ReloadingTls`] to watch.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        ["ssl.keystore.location", "ssl.truststore.location"]
            .iter()
            .filter_map(|name| self.text(name).map(PathBuf::from))
            .collect()
    }

    /// `ssl.file.reload.interval.ms`: how often the files are checked for a change; `None`
    /// (0) never.
    pub(crate) fn reload_interval(&self) -> Option<Duration> {
        let ms = self
            .config
            .listener_value(self.listener, "ssl.file.reload.interval.ms")
            .and_then(|v| v.as_i64())
            .unwrap_or(FILE_RELOAD_INTERVAL_MS_DEFAULT);
        (ms > 0).then(|| Duration::from_millis(ms as u64))
    }

    /// `build` (which reads the files through a `TlsFiles` of its own) run now and again
    /// whenever the listener's files change.
    pub(crate) fn reloading<T: Clone>(
        &self,
        role: &str,
        build: impl Fn(&TlsFiles<'_>) -> Result<T, SecurityError> + Send + Sync + 'static,
    ) -> Result<ReloadingTls<T>, SecurityError> {
        let config = self.config.clone();
        let listener = self.listener.to_string();
        ReloadingTls::new(
            format!("listener {} ({role})", self.listener),
            self.files(),
            self.reload_interval(),
            Box::new(move || build(&TlsFiles::new(&config, &listener))),
        )
    }

    /// `ssl.enabled.protocols` (TLSv1.2, TLSv1.3).
    pub(crate) fn versions(
        &self,
    ) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, SecurityError> {
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = match self
            .config
            .listener_value(self.listener, "ssl.enabled.protocols")
        {
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
            return Err(self.invalid("ssl.enabled.protocols", "names no TLS version".into()));
        }
        Ok(versions)
    }
}

/// A listener's TLS acceptor, rebuilt when its files change.
pub(crate) fn acceptor(
    config: &BrokerConfig,
    listener: &str,
) -> Result<ReloadingTls<TlsAcceptor>, SecurityError> {
    TlsFiles::new(config, listener).reloading("server", build_acceptor)
}

fn build_acceptor(files: &TlsFiles<'_>) -> Result<TlsAcceptor, SecurityError> {
    if files.text("ssl.keystore.type").as_deref() != Some("PEM") {
        return Err(files.invalid(
            "ssl.keystore.type",
            "only PEM keystores are supported: set ssl.keystore.type=PEM".into(),
        ));
    }
    let (chain, key) = files.keystore()?.ok_or_else(|| {
        files.invalid(
            "ssl.keystore.location",
            "is required on a TLS listener".into(),
        )
    })?;
    let client_auth = match files.text("ssl.client.auth").as_deref() {
        Some("required") => ClientAuth::Required,
        Some("requested") => ClientAuth::Requested,
        _ => ClientAuth::None,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = files.versions()?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| files.invalid("ssl.enabled.protocols", e.to_string()))?;
    let builder = if client_auth == ClientAuth::None {
        builder.with_no_client_auth()
    } else {
        let roots = files.truststore("when ssl.client.auth is required or requested")?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = match client_auth {
            ClientAuth::Requested => verifier.allow_unauthenticated(),
            _ => verifier,
        }
        .build()
        .map_err(|e| files.invalid("ssl.truststore.location", e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let server = builder
        .with_single_cert(chain, key)
        .map_err(|e| files.invalid("ssl.keystore.location", e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}
