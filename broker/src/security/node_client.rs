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

use bytes::Bytes;
use ironlog_config::{BrokerConfig, SecurityProtocol};
use ironlog_protocol::frame::{decode_body, decode_response_header, encode_request};
use ironlog_protocol::kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use ironlog_protocol::kafka_protocol::protocol::StrBytes;
use ironlog_protocol::tls::{TlsClient, TlsError};
use ironlog_protocol::{ConnectFuture, Connector, Error, FrameReader, Stream, TcpConnector};
use tokio::io::AsyncWriteExt;

use super::sasl::jaas;
use super::sasl::scram::{ScramClient, ScramMechanism};
use super::tls::TlsFiles;
use super::tls_reload::ReloadingTls;
use super::SecurityError;

/// Largest SASL response a node accepts from a peer before it is authenticated.
const SASL_FRAME_BYTES_MAX: usize = 64 * 1024;
const SASL_HANDSHAKE_VERSION: i16 = 1;
const SASL_AUTHENTICATE_VERSION: i16 = 1;

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

/// The SASL mechanism and credentials a node authenticates with.
#[derive(Clone)]
enum SaslCredentials {
    Plain {
        username: String,
        password: String,
    },
    Scram {
        mechanism: ScramMechanism,
        username: String,
        password: String,
    },
}

impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaslCredentials::Plain { username, .. } => {
                write!(f, "PLAIN as {username}")
            }
            SaslCredentials::Scram {
                mechanism,
                username,
                ..
            } => write!(f, "{} as {username}", mechanism.name()),
        }
    }
}

impl SaslCredentials {
    fn mechanism(&self) -> &'static str {
        match self {
            SaslCredentials::Plain { .. } => "PLAIN",
            SaslCredentials::Scram { mechanism, .. } => mechanism.name(),
        }
    }
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
                    authenticate(&mut stream, credentials).await.map_err(|e| {
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

/// SaslHandshake v1, then SaslAuthenticate v1 round trips until the mechanism is done.
async fn authenticate(
    stream: &mut Box<dyn Stream>,
    credentials: &SaslCredentials,
) -> Result<(), String> {
    let mut exchange = Exchange {
        stream,
        reader: FrameReader::new(SASL_FRAME_BYTES_MAX),
        correlation_id: 0,
    };
    let mechanism = credentials.mechanism();
    let handshake: SaslHandshakeResponse = exchange
        .round_trip(
            ApiKey::SaslHandshake,
            SASL_HANDSHAKE_VERSION,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
        )
        .await?;
    if handshake.error_code != 0 {
        let enabled: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(format!(
            "the peer refused the mechanism (error {}); it enables {enabled:?}",
            handshake.error_code
        ));
    }
    match credentials {
        SaslCredentials::Plain { username, password } => {
            let token = format!("\0{username}\0{password}").into_bytes();
            exchange.authenticate(token).await?;
        }
        SaslCredentials::Scram {
            mechanism,
            username,
            password,
        } => {
            let mut client = ScramClient::new(*mechanism, username, password);
            let server_first = exchange.authenticate(client.client_first()).await?;
            let client_final = client
                .client_final(&server_first)
                .map_err(|e| e.to_string())?;
            let server_final = exchange.authenticate(client_final).await?;
            client
                .verify_server_final(&server_final)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

struct Exchange<'s> {
    stream: &'s mut Box<dyn Stream>,
    reader: FrameReader,
    correlation_id: i32,
}

impl Exchange<'_> {
    async fn round_trip<Req, Resp>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, String>
    where
        Req: ironlog_protocol::kafka_protocol::protocol::Encodable,
        Resp: ironlog_protocol::kafka_protocol::protocol::Decodable,
    {
        self.correlation_id += 1;
        let client_id = StrBytes::from_static_str("ironlog-node");
        let frame = encode_request(api, version, self.correlation_id, Some(&client_id), request)
            .map_err(|e| e.to_string())?;
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| format!("writing {api:?}: {e}"))?;
        self.stream
            .flush()
            .await
            .map_err(|e| format!("writing {api:?}: {e}"))?;
        let mut response: Bytes = self
            .reader
            .next_frame(self.stream.as_mut())
            .await
            .map_err(|e| format!("reading the {api:?} response: {e}"))?
            .ok_or_else(|| {
                format!("the peer closed the connection instead of answering {api:?}")
            })?;
        let header = decode_response_header(&mut response, api as i16, version)
            .map_err(|e| e.to_string())?;
        if header.correlation_id != self.correlation_id {
            return Err(format!(
                "{api:?} answered with correlation id {}, not {}",
                header.correlation_id, self.correlation_id
            ));
        }
        decode_body(&mut response, api as i16, version, "response").map_err(|e| e.to_string())
    }

    /// One SaslAuthenticate round trip: the server's token, or why it refused.
    async fn authenticate(&mut self, token: Vec<u8>) -> Result<Vec<u8>, String> {
        let response: SaslAuthenticateResponse = self
            .round_trip(
                ApiKey::SaslAuthenticate,
                SASL_AUTHENTICATE_VERSION,
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
            )
            .await?;
        if response.error_code != 0 {
            return Err(format!(
                "the peer refused it (error {}): {}",
                response.error_code,
                response.error_message.as_ref().map_or("", |m| m.as_str())
            ));
        }
        Ok(response.auth_bytes.to_vec())
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
