//! `NodeConnectors`: how this node's own clients reach the other nodes — raft and
//! registration/heartbeats on the controller listener, replication, transaction markers and
//! verification on the inter-broker listener. Each is a [`Connector`] for that listener's
//! security protocol, as Kafka's inter-broker channel builder makes one:
//!
//! - TLS (SSL, SASL_SSL): the CAs of the listener's `ssl.truststore.location` (required: a
//!   node trusts only what it is told to), the listener's keystore as the client
//!   certificate (for `ssl.client.auth=required` on the other side), the server name the
//!   host dialled, checked against the certificate unless
//!   `ssl.endpoint.identification.algorithm` is empty (Kafka's `https` default) — the
//!   protocol crate's `tls::TlsClient`, which the operator's admin client uses too.
//! - SASL (SASL_PLAINTEXT, SASL_SSL): `sasl.mechanism.inter.broker.protocol` or
//!   `sasl.mechanism.controller.protocol` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with the
//!   `username` and `password` of the listener's
//!   `listener.name.<listener>.<mechanism>.sasl.jaas.config`, run as SaslHandshake v1 and
//!   SaslAuthenticate v1 before the connection is handed to the protocol crate.
//!
//! The TLS files are reloaded when they change, as the listeners' are (`tls_reload`): a
//! connection dialled after a rotation presents the new certificate and trusts the new CAs.
//!
//! Bounds: the TCP connect, TLS handshake and SASL exchange together within the caller's
//! connect timeout; SASL responses at most [`SASL_FRAME_BYTES_MAX`]. Failures are
//! connection errors naming the peer and the reason (never the secret), so the callers'
//! retries and logs treat them as an unreachable peer.

use std::sync::Arc;
use std::time::Duration;

use ironlog_config::{BrokerConfig, SecurityProtocol};
use ironlog_protocol::sasl::{authenticate, RawExchange, SaslCredentials};
use ironlog_protocol::tls::{TlsClient, TlsError};
use ironlog_protocol::{ConnectFuture, Connector, Error, Stream, TcpConnector};

use super::sasl::jaas;
use super::sasl::scram::ScramMechanism;
use super::tls::TlsFiles;
use super::tls_reload::ReloadingTls;
use super::SecurityError;

/// Largest SASL response a node accepts from a peer before it is authenticated.
const SASL_FRAME_BYTES_MAX: usize = 64 * 1024;

/// The connectors of this node's own clients.
#[derive(Debug, Clone)]
pub(crate) struct NodeConnectors {
    /// To the controllers' listener (`controller.listener.names`): raft between voters,
    /// JoinAsLearner, registration and heartbeats, forwarded requests.
    pub controller: Arc<dyn Connector>,
    /// To other brokers' inter-broker listener: replica fetchers, transaction markers and
    /// verification, and raft from the quorum's leader to broker-only learners.
    pub inter_broker: Arc<dyn Connector>,
}

impl NodeConnectors {
    /// Plain TCP both ways (tests of single components).
    #[cfg(test)]
    pub(crate) fn plaintext() -> Self {
        Self {
            controller: TcpConnector::shared(),
            inter_broker: TcpConnector::shared(),
        }
    }

    pub(crate) fn from_config(config: &BrokerConfig) -> Result<Self, SecurityError> {
        let controller = match config.controller_security_protocol {
            Some(protocol) => connector(
                config,
                &config.controller_listener_name(),
                protocol,
                "sasl.mechanism.controller.protocol",
            )?,
            None => TcpConnector::shared(),
        };
        let inter_broker = match &config.inter_broker_security {
            Some((name, protocol)) => connector(
                config,
                name,
                *protocol,
                "sasl.mechanism.inter.broker.protocol",
            )?,
            None => TcpConnector::shared(),
        };
        Ok(Self {
            controller,
            inter_broker,
        })
    }
}

fn connector(
    config: &BrokerConfig,
    listener: &str,
    protocol: SecurityProtocol,
    mechanism_key: &str,
) -> Result<Arc<dyn Connector>, SecurityError> {
    let tls = match protocol {
        SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => Some(tls_client(config, listener)?),
        _ => None,
    };
    let sasl = match protocol {
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
            Some(sasl_credentials(config, listener, mechanism_key)?)
        }
        _ => None,
    };
    if tls.is_none() && sasl.is_none() {
        return Ok(TcpConnector::shared());
    }
    Ok(Arc::new(SecureConnector {
        listener: listener.to_string(),
        tls,
        sasl,
    }))
}

/// The listener's TLS client, rebuilt when its files change (`tls_reload`).
fn tls_client(
    config: &BrokerConfig,
    listener: &str,
) -> Result<ReloadingTls<TlsClient>, SecurityError> {
    TlsFiles::new(config, listener).reloading("this node's client", build_tls_client)
}

fn build_tls_client(files: &TlsFiles<'_>) -> Result<TlsClient, SecurityError> {
    let roots = files
        .truststore("for this node's own TLS connections to the other nodes on this listener")?;
    let verify_hostname = match files.text("ssl.endpoint.identification.algorithm") {
        // Kafka's only algorithm, and its default: the host dialled must match.
        Some(algorithm) if algorithm.eq_ignore_ascii_case("https") => true,
        Some(other) => {
            return Err(files.invalid(
                "ssl.endpoint.identification.algorithm",
                format!("{other} is not an algorithm: give https, or nothing to turn hostname verification off"),
            ))
        }
        None => false,
    };
    TlsClient::new(
        roots,
        files.keystore()?,
        &files.versions()?,
        verify_hostname,
    )
    .map_err(|e| {
        let key = match e {
            TlsError::Trust(_) => "ssl.truststore.location",
            TlsError::Identity(_) => "ssl.keystore.location",
            TlsError::Versions(_) => "ssl.enabled.protocols",
        };
        files.invalid(key, e.to_string())
    })
}

fn sasl_credentials(
    config: &BrokerConfig,
    listener: &str,
    mechanism_key: &str,
) -> Result<SaslCredentials, SecurityError> {
    let invalid = |name: &str, message: String| SecurityError::Config {
        listener: listener.to_string(),
        name: name.to_string(),
        message,
    };
    let mechanism = config
        .value(mechanism_key)
        .and_then(|v| match v {
            ironlog_config::ConfigValue::String(s) => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| "GSSAPI".to_string());
    let scram = ScramMechanism::from_name(&mechanism);
    if mechanism != "PLAIN" && scram.is_none() {
        return Err(invalid(
            mechanism_key,
            format!("{mechanism} is not implemented for this node's own connections: set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
        ));
    }
    let jaas_key = format!(
        "listener.name.{}.{}.sasl.jaas.config",
        listener.to_ascii_lowercase(),
        mechanism.to_ascii_lowercase()
    );
    let text = config
        .listener_jaas_config(listener, &mechanism)
        .ok_or_else(|| {
            invalid(
                &jaas_key,
                format!("is required: the username and password this node authenticates with ({mechanism_key}={mechanism})"),
            )
        })?;
    let entries = jaas::parse(text).map_err(|m| invalid(&jaas_key, m))?;
    let (username, password) = entries
        .iter()
        .find_map(|e| Some((e.options.get("username")?, e.options.get("password")?)))
        .ok_or_else(|| {
            invalid(
                &jaas_key,
                "has no login module with both username and password options".to_string(),
            )
        })?;
    let (username, password) = (username.clone(), password.clone());
    Ok(match scram {
        Some(mechanism) => SaslCredentials::Scram {
            mechanism,
            username,
            password,
        },
        None => SaslCredentials::Plain { username, password },
    })
}

/// TCP, then TLS and/or SASL, for one listener's security protocol.
struct SecureConnector {
    listener: String,
    tls: Option<ReloadingTls<TlsClient>>,
    sasl: Option<SaslCredentials>,
}

impl std::fmt::Debug for SecureConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureConnector")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

impl Connector for SecureConnector {
    fn connect<'a>(&'a self, addr: &'a str, timeout: Duration) -> ConnectFuture<'a> {
        Box::pin(async move {
            let fail = |reason: String| Error::Connect {
                addr: addr.to_string(),
                source: Arc::new(std::io::Error::other(format!(
                    "listener {}: {reason}",
                    self.listener
                ))),
            };
            let deadline = tokio::time::Instant::now() + timeout;
            let tcp = TcpConnector.connect(addr, timeout).await?;
            let secured = async {
                let mut stream: Box<dyn Stream> = match &self.tls {
                    Some(tls) => tls.current().handshake(addr, tcp).await?,
                    None => tcp,
                };
                if let Some(credentials) = &self.sasl {
                    let mut exchange =
                        RawExchange::new(&mut stream, "ironlog-node", SASL_FRAME_BYTES_MAX);
                    authenticate(&mut exchange, credentials)
                        .await
                        .map_err(|e| {
                            format!("SASL {} authentication: {e}", credentials.mechanism())
                        })?;
                }
                Ok::<_, String>(stream)
            };
            match tokio::time::timeout_at(deadline, secured).await {
                Err(_) => Err(Error::ConnectTimeout {
                    addr: addr.to_string(),
                    timeout_ms: timeout.as_millis().min(u64::MAX as u128) as u64,
                }),
                Ok(Err(reason)) => Err(fail(reason)),
                Ok(Ok(stream)) => Ok(stream),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem(name: &str) -> String {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.self_signed(&key).expect("CA certificate").pem()
    }

    #[test]
    fn the_tls_client_is_rebuilt_when_its_truststore_changes_and_kept_when_it_breaks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let truststore = dir.path().join("ca.pem");
        std::fs::write(&truststore, ca_pem("CA A")).expect("write");
        let properties = format!(
            "{}\nssl.truststore.type=PEM\nssl.truststore.location={}\nssl.file.reload.interval.ms=1\n",
            ironlog_config::EMBEDDED_SERVER_PROPERTIES,
            truststore.display()
        );
        let pairs = ironlog_config::parse_properties(&properties).expect("properties parse");
        let config = BrokerConfig::from_pairs(pairs).expect("a valid config");
        let tls = tls_client(&config, "INTERNAL").expect("a TLS client");
        // Past the 1 ms interval each time: the files are checked at every call below.
        let next_check = || std::thread::sleep(Duration::from_millis(3));
        let first = tls.current();
        next_check();
        assert!(
            Arc::ptr_eq(first.config(), tls.current().config()),
            "unchanged files were rebuilt"
        );
        std::fs::write(&truststore, ca_pem("CA B")).expect("write");
        next_check();
        let rotated = tls.current();
        assert!(
            !Arc::ptr_eq(first.config(), rotated.config()),
            "a new truststore was not loaded"
        );
        std::fs::write(&truststore, "not a certificate").expect("write");
        next_check();
        assert!(
            Arc::ptr_eq(rotated.config(), tls.current().config()),
            "a broken truststore replaced the working one"
        );
    }
}
