//! `security`: who a connection is. Each listener speaks the security protocol
//! `listener.security.protocol.map` gives it (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL);
//! [`ListenerSecurity`] holds what that takes — the TLS acceptor (`tls`, reloaded when its
//! files change: `tls_reload`), the SSL
//! principal mapping (`ssl_principal`), the SASL mechanisms (`sasl`) — built once at
//! start, and the connection loop (`network`) asks it to turn an accepted socket into a
//! stream and, on SASL listeners, runs the [`sasl::SaslSession`] before any other request.
//! The result is the connection's [`KafkaPrincipal`].
//!
//! Invariants: a failed handshake or authentication closes only that connection; secrets
//! (passwords, SCRAM proofs and keys) never reach a log line or an error message.

pub(crate) mod acl;
pub(crate) mod authorizer;
mod node_client;
pub(crate) mod principal;
pub(crate) mod sasl;
mod ssl_principal;
mod stream;
mod tls;
mod tls_reload;

use std::sync::Arc;
use std::time::Duration;

use ironlog_config::{BrokerConfig, ConfigValue, Listener, SecurityProtocol};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

pub(crate) use node_client::NodeConnectors;
pub(crate) use principal::KafkaPrincipal;
pub(crate) use sasl::SaslSettings;
use ssl_principal::{SslPrincipalError, SslPrincipalMapper};
pub(crate) use stream::ListenerStream;
use tls_reload::ReloadingTls;

/// Why a listener's security cannot be set up, or a connection's handshake failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecurityError {
    #[error("listener {listener}: {name}: {message}")]
    Config {
        listener: String,
        name: String,
        message: String,
    },
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("client certificate: {0}")]
    Principal(#[from] SslPrincipalError),
}

/// What one listener needs to authenticate its connections.
pub(crate) struct ListenerSecurity {
    pub name: Arc<str>,
    tls: Option<ReloadingTls<TlsAcceptor>>,
    principal_mapper: SslPrincipalMapper,
    sasl: Option<SaslSettings>,
    /// `authentication.timeout.ms`: the TLS handshake and the SASL exchange together.
    pub authentication_timeout: Duration,
    /// `sasl.server.max.receive.size`: the largest frame before SASL authentication.
    pub sasl_max_receive_bytes: u32,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_authentication_delay: Duration,
}

impl ListenerSecurity {
    pub(crate) async fn new(
        config: &BrokerConfig,
        listener: &Listener,
    ) -> Result<Self, SecurityError> {
        let name = listener.name.as_str();
        let protocol = listener.security_protocol;
        let tls = match protocol {
            SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => Some(tls::acceptor(config, name)?),
            _ => None,
        };
        let sasl = match protocol {
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
                Some(SaslSettings::from_config(config, name).await?)
            }
            _ => None,
        };
        let rules = match config.listener_value(name, "ssl.principal.mapping.rules") {
            Some(ConfigValue::String(rules)) => rules,
            _ => "DEFAULT".to_string(),
        };
        let principal_mapper =
            SslPrincipalMapper::parse(&rules).map_err(|e| SecurityError::Config {
                listener: name.to_string(),
                name: "ssl.principal.mapping.rules".to_string(),
                message: e.to_string(),
            })?;
        let int = |key: &str, default: i64| {
            config
                .value(key)
                .and_then(|v| v.as_i64())
                .unwrap_or(default)
                .max(0) as u64
        };
        Ok(Self {
            name: Arc::from(name),
            tls,
            principal_mapper,
            sasl,
            authentication_timeout: Duration::from_millis(
                int("authentication.timeout.ms", 30_000).max(1),
            ),
            sasl_max_receive_bytes: int("sasl.server.max.receive.size", 524_288) as u32,
            failed_authentication_delay: Duration::from_millis(int(
                "connection.failed.authentication.delay.ms",
                100,
            )),
        })
    }

    /// The listener's SASL settings, on SASL_PLAINTEXT and SASL_SSL listeners.
    pub(crate) fn sasl(&self) -> Option<&SaslSettings> {
        self.sasl.as_ref()
    }

    /// The TLS handshake on SSL and SASL_SSL listeners (the caller bounds its time), and the
    /// principal the transport proves: the mapped client certificate subject, else
    /// ANONYMOUS.
    pub(crate) async fn accept(
        &self,
        tcp: TcpStream,
    ) -> Result<(ListenerStream, KafkaPrincipal), SecurityError> {
        let Some(acceptor) = &self.tls else {
            return Ok((ListenerStream::Plain(tcp), KafkaPrincipal::anonymous()));
        };
        let stream = acceptor
            .current()
            .accept(tcp)
            .await
            .map_err(SecurityError::Tls)?;
        let principal = match stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
        {
            Some(leaf) => {
                let dn = ssl_principal::subject_distinguished_name(leaf)?;
                KafkaPrincipal::user(self.principal_mapper.name_for(&dn)?)
            }
            None => KafkaPrincipal::anonymous(),
        };
        Ok((ListenerStream::Tls(Box::new(stream)), principal))
    }
}
