//! `network`: one task per connection. Frames bytes (4-byte size prefix), decodes the
//! request header and body with `kafka-protocol`, hands the request to `handlers`, and writes
//! responses back in request order (Kafka's model: one request in flight per connection).
//!
//! Two kinds of listener ([`Endpoint`]): a client listener serves the broker's APIs and
//! forwards the controller's (CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs,
//! IncrementalAlterConfigs, DescribeQuorum, ElectLeaders, AlterPartitionReassignments,
//! ListPartitionReassignments, AlterUserScramCredentials, CreateAcls, DeleteAcls,
//! AlterClientQuotas) to the active controller in an Envelope when another node leads; the controller listener serves the metadata quorum's raft RPCs
//! (Ironlog-private API keys, routed before any Kafka decoding), Envelopes and the
//! controller's APIs. The private keys are unknown keys on a client listener.
//!
//! Request metrics (`crate::metrics::requests`) count every Kafka request a connection
//! answers on either kind of listener, timed from its last byte read to its response's last
//! byte written, under its API's name: a forwarded request on the client listener that
//! received it (the forward is part of its local time) and, as Kafka counts it, under the
//! inner request's API on the controller that served the Envelope. The raft RPCs are not
//! counted: they are openraft's messages under Ironlog-private keys, with no Kafka request
//! name a dashboard could know, and they would swamp the controller listener's figures.
//! Nor is anything a SASL listener serves before its client authenticated (the exchange
//! and an ApiVersions before it): Kafka's authenticator answers those outside its request
//! metrics. A connection counts from its TCP accept, authenticated or not.
//!
//! SASL re-authentication (KIP-368): once a session's lifetime (`connections.max.reauth.ms`,
//! a credential's expiry) is over, its next request closes the connection, unless it is the
//! SaslHandshake that begins a re-authentication (then the SASL exchange runs again, within
//! `authentication.timeout.ms`, and must prove the same principal).
//!
//! Client quotas (KIP-219): a Produce or consumer Fetch over its client's byte-rate quota,
//! and any request over its client's `request_percentage` (handler time), is answered at
//! once with its `throttle_time_ms`, then the connection reads nothing more for that long.
//!
//! Invariants: a frame larger than `socket.request.max.bytes`, an unknown API key, an
//! unsupported version (other than ApiVersions, which answers with a v0 error response) or an
//! undecodable body closes *this* connection with one logged reason; nothing else is affected
//! and no handler runs.

use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, EnvelopeRequest, EnvelopeResponse, RequestHeader, RequestKind, ResponseHeader,
    ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::client_quota::{request_quota, QuotaType};
use crate::frame::{Chunk, ChunkedFrame, FileRecords};
use crate::handlers::authorization::Authz;
pub(crate) use crate::handlers::controller_apis::ControllerEndpoint;
use crate::handlers::{self, Broker, RequestContext};
use crate::log::FileSlice;
use crate::metadata::{raft_rpc, MetadataQuorum, ENVELOPE_METADATA_OFFSET_TAG};
use crate::metrics::requests::Observed;
use crate::metrics::topics::TrafficSummary;
use crate::metrics::Metrics;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authorizer;
use crate::security::sasl::{SaslOutcome, SaslReply, SaslSession};
use crate::security::{KafkaPrincipal, ListenerSecurity, ListenerStream};

/// Why a connection was closed by the broker (logged once per connection).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    #[error("frame of {size} bytes exceeds socket.request.max.bytes {max}")]
    FrameTooLarge { size: i64, max: u32 },
    #[error("frame too short to hold a request header ({0} bytes)")]
    FrameTooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of {api:?}")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("cannot decode {api:?} v{version}: {reason}")]
    Undecodable {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("cannot encode {api:?} v{version} response: {reason}")]
    Unencodable {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("handler asked to close the connection: {0}")]
    HandlerClosed(String),
    #[error("metadata quorum RPC: {0}")]
    RaftRpc(String),
    #[error("idle for more than connections.max.idle.ms")]
    Idle,
    #[error("authentication failed: {0}")]
    Authentication(String),
    #[error("authentication did not complete within authentication.timeout.ms")]
    AuthenticationTimeout,
    #[error("a request after the SASL session expired without re-authentication ({0})")]
    SessionExpired(&'static str),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// What a listener serves: the broker's Kafka APIs on a client listener, the raft RPCs and
/// the controller's APIs on the controller listener.
/// A broker-only node's inter-broker listener ([`LearnerEndpoint`]) serves the leader's
/// raft replication to this learner from before the node is started, and the broker's APIs
/// once it is.
#[derive(Clone)]
pub(crate) enum Endpoint {
    Broker(Arc<Broker>),
    Controller(Arc<ControllerEndpoint>),
    Learner(Arc<LearnerEndpoint>),
}

/// What a broker-only node's inter-broker listener serves: raft AppendEntries and
/// InstallSnapshot from the voters (the leader replicates the metadata log to this
/// learner there) from the moment it is bound, and the broker's Kafka APIs, as on any
/// client listener, once [`LearnerEndpoint::set_broker`] was called (before that a Kafka
/// request closes its connection).
pub(crate) struct LearnerEndpoint {
    quorum: Arc<MetadataQuorum>,
    metrics: Arc<Metrics>,
    config: ironlog_config::BrokerConfig,
    /// Who may send raft RPCs here (CLUSTER_ACTION), before the broker exists.
    authorizer: Authorizer,
    broker: std::sync::OnceLock<Arc<Broker>>,
}

impl LearnerEndpoint {
    pub(crate) fn new(
        quorum: Arc<MetadataQuorum>,
        metrics: Arc<Metrics>,
        config: ironlog_config::BrokerConfig,
    ) -> Self {
        Self {
            authorizer: Authorizer::from_config(&config),
            quorum,
            metrics,
            config,
            broker: std::sync::OnceLock::new(),
        }
    }

    /// From now on Kafka requests are served (the node serves clients).
    pub(crate) fn set_broker(&self, broker: Arc<Broker>) {
        if self.broker.set(broker).is_err() {
            tracing::warn!("the inter-broker listener's broker was set twice");
        }
    }
}

impl Endpoint {
    fn quorum(&self) -> &Arc<MetadataQuorum> {
        match self {
            Endpoint::Broker(broker) => &broker.quorum,
            Endpoint::Controller(endpoint) => &endpoint.quorum,
            Endpoint::Learner(endpoint) => &endpoint.quorum,
        }
    }

    /// The process's metrics (the controller listener has them before the broker exists).
    fn metrics(&self) -> &Arc<Metrics> {
        match self {
            Endpoint::Broker(broker) => &broker.metrics,
            Endpoint::Controller(endpoint) => &endpoint.metrics,
            Endpoint::Learner(endpoint) => &endpoint.metrics,
        }
    }

    fn limits(&self) -> (u32, u64) {
        let config = match self {
            Endpoint::Broker(broker) => &broker.config,
            Endpoint::Controller(endpoint) => &endpoint.config,
            Endpoint::Learner(endpoint) => &endpoint.config,
        };
        (
            config.socket_request_max_bytes,
            config.connections_max_idle_ms.max(1) as u64,
        )
    }
}

/// Serves one connection until it closes, errs, or the broker shuts down: the listener's
/// TLS handshake and SASL exchange first (within `authentication.timeout.ms`), then its
/// requests as the principal they proved.
pub(crate) async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    security: Arc<ListenerSecurity>,
    endpoint: Endpoint,
    shutdown: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    // Counted from the TCP accept, authenticated or not (as Kafka's connection count).
    let _open = endpoint
        .metrics()
        .requests
        .connection_opened(&security.name);
    let result = serve(tcp, peer, &security, &endpoint, shutdown).await;
    match result {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(ConnectionError::Io(e)) => tracing::debug!(%peer, error = %e, "connection i/o error"),
        // Routine for clients that do not re-authenticate (Kafka logs it at debug too).
        Err(e @ ConnectionError::SessionExpired(_)) => {
            tracing::debug!(%peer, listener = %security.name, reason = %e, "closing connection")
        }
        Err(e) => {
            tracing::warn!(%peer, listener = %security.name, reason = %e, "closing connection")
        }
    }
}

async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    security: &ListenerSecurity,
    endpoint: &Endpoint,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    let (max_frame_bytes, idle_ms) = endpoint.limits();
    let listener_name = security.name.clone();
    let mut authentication_deadline = tokio::time::Instant::now() + security.authentication_timeout;
    let (mut stream, mut principal) = tokio::select! {
        _ = shutdown.changed() => return Ok(()),
        accepted = tokio::time::timeout_at(authentication_deadline, security.accept(tcp)) => match accepted {
            Err(_) => return Err(ConnectionError::AuthenticationTimeout),
            Ok(Err(e)) => return Err(ConnectionError::Authentication(e.to_string())),
            Ok(Ok(accepted)) => accepted,
        },
    };
    // `Some` until a SASL listener's client has authenticated.
    let mut sasl = security
        .sasl()
        .map(|settings| (settings, SaslSession::new()));
    // KIP-368: the authenticated session's mechanism and end, when it has one; when the
    // last re-authentication began (at most one a second, as Kafka).
    let mut session: Option<(&'static str, tokio::time::Instant)> = None;
    let mut reauthentication_began: Option<tokio::time::Instant> = None;
    let mut frame = BytesMut::with_capacity(64 * 1024);
    let throttle_ms = AtomicU64::new(0);
    loop {
        let authenticating = sasl.is_some();
        let wait = if authenticating {
            authentication_deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_millis(idle_ms))
        } else {
            Duration::from_millis(idle_ms)
        };
        let mut size_buf = [0u8; 4];
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            r = tokio::time::timeout(wait, stream.read_exact(&mut size_buf)) => match r {
                Err(_) if authenticating => return Err(ConnectionError::AuthenticationTimeout),
                Err(_) => return Err(ConnectionError::Idle),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(_)) => {}
            },
        }
        let size = i32::from_be_bytes(size_buf) as i64;
        let max = if authenticating {
            max_frame_bytes.min(security.sasl_max_receive_bytes)
        } else {
            max_frame_bytes
        };
        if size < 0 || size > max as i64 {
            return Err(ConnectionError::FrameTooLarge { size, max });
        }
        frame.clear();
        frame.resize(size as usize, 0);
        let read = stream.read_exact(&mut frame[..]);
        if authenticating {
            tokio::time::timeout_at(authentication_deadline, read)
                .await
                .map_err(|_| ConnectionError::AuthenticationTimeout)??;
        } else {
            read.await?;
        }
        let mut request = frame.split().freeze();
        if let (None, Some((mechanism, expires_at)), Some(settings)) =
            (&sasl, session, security.sasl())
        {
            let now = tokio::time::Instant::now();
            let handshake = request.len() >= 2
                && i16::from_be_bytes([request[0], request[1]]) == ApiKey::SaslHandshake as i16;
            let may_begin = reauthentication_began
                .is_none_or(|began| now.duration_since(began) >= MIN_REAUTHENTICATION_INTERVAL);
            if handshake && may_begin {
                reauthentication_began = Some(now);
                authentication_deadline = now + security.authentication_timeout;
                sasl = Some((
                    settings,
                    SaslSession::reauthenticating(mechanism, principal.clone()),
                ));
            } else if now > expires_at {
                return Err(ConnectionError::SessionExpired(mechanism));
            }
        }
        let reauthenticating = session.is_some() && sasl.is_some();
        if let Some((settings, sasl_session)) = sasl.as_mut() {
            let quorum = endpoint.quorum();
            let credential =
                |user: &str, mechanism| quorum.image().scram_credential(user, mechanism).cloned();
            match sasl_session.on_frame(settings, request, &credential) {
                SaslOutcome::Request(frame) => request = frame,
                SaslOutcome::Continue(reply) => {
                    write_chunks(&mut stream, encode_sasl_reply(reply)?).await?;
                    continue;
                }
                SaslOutcome::Authenticated {
                    reply,
                    principal: authenticated,
                    mechanism,
                    session_lifetime,
                } => {
                    write_chunks(&mut stream, encode_sasl_reply(reply)?).await?;
                    if reauthenticating {
                        tracing::debug!(%peer, listener = %listener_name, principal = %authenticated, session_lifetime_ms = session_lifetime.map(|d| d.as_millis() as u64), "SASL re-authentication succeeded");
                    } else {
                        tracing::debug!(%peer, listener = %listener_name, principal = %authenticated, session_lifetime_ms = session_lifetime.map(|d| d.as_millis() as u64), "SASL authentication succeeded");
                    }
                    principal = authenticated;
                    session = session_lifetime
                        .map(|lifetime| (mechanism, tokio::time::Instant::now() + lifetime));
                    sasl = None;
                    continue;
                }
                SaslOutcome::Failed { reply, reason } => {
                    if let Some(reply) = reply {
                        write_chunks(&mut stream, encode_sasl_reply(reply)?).await?;
                    }
                    // Kafka's delay before closing, which slows down password guessing.
                    tokio::time::sleep(security.failed_authentication_delay).await;
                    return Err(ConnectionError::Authentication(reason));
                }
            }
        }
        let connection = Connection {
            peer,
            listener_name: &listener_name,
            principal: &principal,
            throttle_ms: &throttle_ms,
        };
        let started = Instant::now();
        let (response, observed) = match endpoint {
            Endpoint::Broker(broker) => {
                handle_frame(request, &connection, broker, Forwarding::ToController).await?
            }
            Endpoint::Controller(controller) => {
                handle_controller_frame(request, &connection, controller).await?
            }
            Endpoint::Learner(learner) => {
                handle_learner_frame(request, &connection, learner).await?
            }
        };
        let local = started.elapsed();
        if let Some(response) = response {
            write_chunks(&mut stream, response).await?;
        }
        // Nothing before SASL authentication is counted: Kafka's authenticator answers
        // those requests (ApiVersions included) outside its request metrics.
        if let (Some(observed), false) = (observed, authenticating) {
            observed.record(
                endpoint.metrics(),
                local,
                started.elapsed() - local,
                size as usize,
            );
        }
        // KIP-219: the response went out at once with its throttle time; the channel stays
        // muted (nothing more is read) for that long.
        let throttle = throttle_ms.swap(0, Ordering::Relaxed);
        if throttle > 0 {
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(throttle)) => {}
            }
        }
    }
}

/// Kafka's least time between two re-authentications of a connection: a SaslHandshake
/// sooner is served as any request (and refused).
const MIN_REAUTHENTICATION_INTERVAL: Duration = Duration::from_secs(1);

/// A SASL exchange's answer as frames: a Kafka response, or a bare token (v0 framing).
fn encode_sasl_reply(reply: SaslReply) -> Result<Vec<Chunk>, ConnectionError> {
    match reply {
        SaslReply::Response {
            api,
            version,
            correlation_id,
            body,
        } => encode_response(api, version, correlation_id, &body),
        SaslReply::Token(token) => {
            let size = u32::try_from(token.len())
                .map_err(|_| ConnectionError::Authentication("SASL token too large".into()))?;
            Ok(vec![
                Bytes::copy_from_slice(&size.to_be_bytes()).into(),
                Bytes::from(token).into(),
            ])
        }
    }
}

/// What a request's handling needs of its connection.
#[derive(Clone, Copy)]
struct Connection<'a> {
    peer: SocketAddr,
    listener_name: &'a Arc<str>,
    principal: &'a KafkaPrincipal,
    /// The client quota throttle time of the last response, for which the connection
    /// stops reading once the response is written (KIP-219 muting).
    throttle_ms: &'a AtomicU64,
}

impl Connection<'_> {
    /// The context of a request read from this connection, as its sender sent it (not
    /// forwarded).
    fn request_context(
        &self,
        api: ApiKey,
        version: i16,
        client_id: Option<String>,
        controller_listener: bool,
    ) -> RequestContext {
        RequestContext {
            api,
            version,
            client_id,
            peer: self.peer,
            listener_name: self.listener_name.clone(),
            principal: Arc::new(self.principal.clone()),
            controller_listener,
            forwarded: false,
        }
    }
}

/// Writes a response's chunks in order: bytes with vectored writes, file slices with
/// `sendfile` on a plaintext connection (page cache to socket, nothing copied through the
/// broker); on TLS the slices are read into memory first (on the blocking pool), as TLS
/// must encrypt them.
async fn write_chunks(stream: &mut ListenerStream, chunks: Vec<Chunk>) -> std::io::Result<()> {
    let chunks = match stream {
        ListenerStream::Plain(_) => chunks,
        ListenerStream::Tls(_) => into_memory(chunks)
            .await?
            .into_iter()
            .map(Chunk::Bytes)
            .collect(),
    };
    let mut pending: Vec<Bytes> = Vec::new();
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(bytes) => pending.push(bytes),
            Chunk::File(slice) => {
                write_bytes(stream, std::mem::take(&mut pending)).await?;
                if let ListenerStream::Plain(tcp) = &*stream {
                    send_file(tcp, &slice).await?;
                }
            }
        }
    }
    write_bytes(stream, pending).await?;
    // TLS buffers what it encrypted until flushed; TCP's flush does nothing.
    stream.flush().await
}

/// The chunks as bytes: file slices read on the blocking pool (one task for all of them).
async fn into_memory(chunks: Vec<Chunk>) -> std::io::Result<Vec<Bytes>> {
    if chunks.iter().all(|c| matches!(c, Chunk::Bytes(_))) {
        return Ok(chunks
            .into_iter()
            .filter_map(|c| match c {
                Chunk::Bytes(b) => Some(b),
                Chunk::File(_) => None,
            })
            .collect());
    }
    tokio::task::spawn_blocking(move || {
        chunks
            .into_iter()
            .map(|c| match c {
                Chunk::Bytes(b) => Ok(b),
                Chunk::File(slice) => slice
                    .read()
                    .map_err(|e| std::io::Error::other(e.to_string())),
            })
            .collect()
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Most bytes one `sendfile` call may send (Linux's own limit per call).
const SENDFILE_BYTES_MAX: usize = 0x7fff_f000;

/// Sends `slice` from its file with `sendfile(2)` while the socket is writable. Bounded:
/// each round sends at least one byte or waits for writability; a file that ends before
/// the slice (truncated since the fetch read it) fails the connection, whose frame already
/// announced the slice's length.
async fn send_file(tcp: &tokio::net::TcpStream, slice: &FileSlice) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
    let mut offset =
        libc::off_t::try_from(slice.position()).map_err(|_| invalid("slice position"))?;
    let len = libc::off_t::try_from(slice.len()).map_err(|_| invalid("slice length"))?;
    let end = offset
        .checked_add(len)
        .ok_or_else(|| invalid("slice end"))?;
    while offset < end {
        tcp.writable().await?;
        let count = usize::try_from(end - offset)
            .unwrap_or(SENDFILE_BYTES_MAX)
            .min(SENDFILE_BYTES_MAX);
        let sent = tcp.try_io(tokio::io::Interest::WRITABLE, || {
            // SAFETY: both descriptors stay open for the call (`tcp` and `slice` are
            // borrowed), and `offset` is a valid, exclusively borrowed off_t.
            let n = unsafe {
                libc::sendfile(
                    tcp.as_raw_fd(),
                    slice.file().as_raw_fd(),
                    &mut offset,
                    count,
                )
            };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n)
            }
        });
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} ends before the fetched slice ({} of {} bytes sent)",
                        slice.path().display(),
                        slice.len() as i64 - (end - offset),
                        slice.len()
                    ),
                ))
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes `chunks` in order with vectored writes.
async fn write_bytes(stream: &mut ListenerStream, chunks: Vec<Bytes>) -> std::io::Result<()> {
    let mut chunks: std::collections::VecDeque<Bytes> =
        chunks.into_iter().filter(|c| !c.is_empty()).collect();
    // Bounded: every iteration writes at least one byte or fails.
    while !chunks.is_empty() {
        let slices: Vec<std::io::IoSlice<'_>> = chunks
            .iter()
            .take(64)
            .map(|c| std::io::IoSlice::new(c))
            .collect();
        let mut written = stream.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let Some(front) = chunks.front_mut() else {
                break;
            };
            if written >= front.len() {
                written -= front.len();
                chunks.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
    }
    Ok(())
}

/// What a request's handling returns: the response frame (`None` when Kafka sends none,
/// as for produce with acks=0), and what the metrics record of the request once its
/// response was written (`None` for what is not counted: the raft RPCs).
type Handled = (Option<Vec<Chunk>>, Option<Observed>);

/// Whether a client's admin request may be forwarded to the active controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forwarding {
    /// A client listener: forwarded when another node is the active controller.
    ToController,
    /// Already forwarded (inside an Envelope): handled here, whatever the answer.
    Never,
}

/// The request's API key, version and correlation id (the fixed start of every header).
fn prefix(frame: &[u8]) -> Result<(i16, i16, i32), ConnectionError> {
    if frame.len() < 8 {
        return Err(ConnectionError::FrameTooShort(frame.len()));
    }
    Ok((
        i16::from_be_bytes([frame[0], frame[1]]),
        i16::from_be_bytes([frame[2], frame[3]]),
        i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    ))
}

/// A client listener's request: forwarded to the active controller when it is one of the
/// controller's APIs and another node leads (Kafka's forwarding, in an Envelope), else
/// decoded and handled here. A forwarded response is answered once this node's image is as
/// new as the controller's answer, so the client's next request here sees the change.
async fn handle_frame(
    frame: Bytes,
    connection: &Connection<'_>,
    broker: &Arc<Broker>,
    forwarding: Forwarding,
) -> Result<Handled, ConnectionError> {
    let (api_key_raw, version, _) = prefix(&frame)?;
    let forwarded_api = ApiKey::try_from(api_key_raw)
        .ok()
        .filter(|api| handlers::api_versions::is_forwarded_to_controller(*api));
    if forwarding == Forwarding::ToController
        && forwarded_api.is_some()
        && !broker.quorum.is_active_controller()
    {
        if let Some(forwarded) = broker
            .controller_client
            .forward(frame.clone(), connection.principal, connection.peer.ip())
            .await
        {
            if let Some(offset) = forwarded.metadata_offset {
                broker
                    .controller_client
                    .await_image(|image| image.offset >= offset)
                    .await;
                broker
                    .await_applied(offset.min(broker.image().offset))
                    .await;
            }
            let size = u32::try_from(forwarded.response.len()).map_err(|_| {
                ConnectionError::HandlerClosed("forwarded response too large".into())
            })?;
            let observed = forwarded_api
                .map(|api| Observed::forwarded(api, version, forwarded.response.clone()));
            return Ok((
                Some(vec![
                    Bytes::copy_from_slice(&size.to_be_bytes()).into(),
                    forwarded.response.into(),
                ]),
                observed,
            ));
        }
    }
    handle_locally(frame, connection, broker, forwarding == Forwarding::Never).await
}

/// A decoded request and what its handler needs to know of the connection.
struct Decoded {
    api: ApiKey,
    correlation_id: i32,
    ctx: RequestContext,
    request: RequestKind,
}

/// Checks the API and version against the listener's table and decodes header and body;
/// `Ok(Err(handled))` is an answer without a handler (ApiVersions at a version we do not
/// know, KIP-511).
fn decode_request(
    mut frame: Bytes,
    connection: &Connection<'_>,
    controller_listener: bool,
) -> Result<Result<Decoded, Handled>, ConnectionError> {
    let (api_key_raw, version, correlation_id) = prefix(&frame)?;
    let api =
        ApiKey::try_from(api_key_raw).map_err(|_| ConnectionError::UnknownApiKey(api_key_raw))?;
    let supported = handlers::api_versions::supported_range_on(api, controller_listener);

    if api == ApiKey::ApiVersions
        && !supported.is_some_and(|(min, max)| version >= min && version <= max)
    {
        // KIP-511: answer an unsupported ApiVersions version with a v0 response carrying
        // UNSUPPORTED_VERSION and our ranges, so the client can pick a version it knows.
        let body = handlers::api_versions::unsupported_version_response(controller_listener);
        let response = ResponseKind::ApiVersions(body);
        let observed = Observed::answered(api, version, &TrafficSummary::Other, &response);
        return encode_response(api, 0, correlation_id, &response)
            .map(|frame| Err((Some(frame), Some(observed))));
    }
    let Some((min, max)) = supported else {
        return Err(ConnectionError::UnsupportedVersion { api, version });
    };
    if version < min || version > max {
        return Err(ConnectionError::UnsupportedVersion { api, version });
    }

    let header_version = api.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version).map_err(|e| {
        ConnectionError::Undecodable {
            api,
            version,
            reason: format!("header: {e}"),
        }
    })?;
    let request = RequestKind::decode(api, &mut frame, version).map_err(|e| {
        ConnectionError::Undecodable {
            api,
            version,
            reason: e.to_string(),
        }
    })?;
    if frame.has_remaining() {
        tracing::debug!(peer = %connection.peer, ?api, version, trailing = frame.remaining(), "request has trailing bytes");
    }
    Ok(Ok(Decoded {
        api,
        correlation_id,
        ctx: connection.request_context(
            api,
            version,
            header.client_id.as_ref().map(|s| s.to_string()),
            controller_listener,
        ),
        request,
    }))
}

/// Encodes what a handler decided, and counts it: the request's metrics always, its
/// per-topic traffic when `traffic` names the broker that served it.
fn respond(
    decoded_api: ApiKey,
    ctx: &RequestContext,
    correlation_id: i32,
    outcome: handlers::Outcome,
    traffic: Option<(&TrafficSummary, &Broker)>,
) -> Result<Handled, ConnectionError> {
    let summary = traffic.map_or(&TrafficSummary::Other, |(summary, _)| summary);
    match outcome {
        handlers::Outcome::Respond(response) => respond_with(
            decoded_api,
            ctx,
            correlation_id,
            &response,
            Vec::new(),
            summary,
            traffic,
        ),
        handlers::Outcome::RespondWithFiles(response, files) => respond_with(
            decoded_api,
            ctx,
            correlation_id,
            &response,
            files,
            summary,
            traffic,
        ),
        handlers::Outcome::NoResponse => {
            if let Some((summary, broker)) = traffic {
                broker.metrics.topics.record(summary, None, broker);
            }
            Ok((None, Some(Observed::unanswered(decoded_api, ctx.version))))
        }
        handlers::Outcome::Close(reason) => {
            if let Some((summary, broker)) = traffic {
                broker.metrics.topics.record_failed(summary);
            }
            Err(ConnectionError::HandlerClosed(reason))
        }
    }
}

/// Encodes a response (with the file slices its placeholders stand for) and counts it.
fn respond_with(
    decoded_api: ApiKey,
    ctx: &RequestContext,
    correlation_id: i32,
    response: &ResponseKind,
    files: Vec<FileRecords>,
    summary: &TrafficSummary,
    traffic: Option<(&TrafficSummary, &Broker)>,
) -> Result<Handled, ConnectionError> {
    let observed = Observed::answered(decoded_api, ctx.version, summary, response);
    if let Some((summary, broker)) = traffic {
        broker
            .metrics
            .topics
            .record(summary, Some(response), broker);
    }
    encode_response_with_files(decoded_api, ctx.version, correlation_id, response, files)
        .map(|frame| (Some(frame), Some(observed)))
}

/// Decodes one request frame, runs its handler and returns the encoded response frame as
/// chunks (size prefix first), or `None` when Kafka sends no response (produce with acks=0).
async fn handle_locally(
    frame: Bytes,
    connection: &Connection<'_>,
    broker: &Arc<Broker>,
    forwarded: bool,
) -> Result<Handled, ConnectionError> {
    let request_size = frame.len();
    let mut decoded = match decode_request(frame, connection, false)? {
        Ok(decoded) => decoded,
        Err(answer) => return Ok(answer),
    };
    decoded.ctx.forwarded = forwarded;
    let traffic = TrafficSummary::of_request(&decoded.request, broker);
    let consumer_fetch = match &decoded.request {
        RequestKind::Fetch(r) => handlers::fetch::is_consumer_fetch(decoded.ctx.version, r),
        _ => false,
    };
    let produce = matches!(decoded.request, RequestKind::Produce(_));
    let follower_fetch = matches!(decoded.request, RequestKind::Fetch(_)) && !consumer_fetch;
    let (mut outcome, handler_time) =
        request_quota::handler_time(handlers::handle(broker, &decoded.ctx, decoded.request)).await;
    if !forwarded && (produce || consumer_fetch) {
        let throttle = throttle_for_client_quota(broker, &decoded.ctx, request_size, &mut outcome);
        connection.throttle_ms.store(throttle, Ordering::Relaxed);
    }
    // The controller mutation quota's throttle time (set by the topic handlers) mutes the
    // client's own connection too; a forwarding broker's is left alone, as Kafka's.
    if !forwarded {
        if let handlers::Outcome::Respond(response)
        | handlers::Outcome::RespondWithFiles(response, _) = &outcome
        {
            let throttle = match response.as_ref() {
                ResponseKind::CreateTopics(r) => r.throttle_time_ms,
                ResponseKind::DeleteTopics(r) => r.throttle_time_ms,
                ResponseKind::CreatePartitions(r) => r.throttle_time_ms,
                _ => 0,
            };
            if throttle > 0 {
                connection
                    .throttle_ms
                    .store(u64::try_from(throttle).unwrap_or(0), Ordering::Relaxed);
            }
        }
    }
    // Replication is exempt from the request quota, as Kafka's follower fetches are.
    if !forwarded && !follower_fetch {
        let throttle = throttle_for_request_quota(broker, &decoded.ctx, handler_time, &mut outcome);
        connection
            .throttle_ms
            .fetch_max(throttle, Ordering::Relaxed);
    }
    respond(
        decoded.api,
        &decoded.ctx,
        decoded.correlation_id,
        outcome,
        Some((&traffic, broker)),
    )
}

/// Kafka's request quota (`request_percentage`): the request's handler time is recorded
/// against the client's quota; the throttle time (0 within quota or without one, one quota
/// window at most) goes into the response's `throttle_time_ms` where it has one, and is
/// returned for the connection to mute itself that long.
fn throttle_for_request_quota(
    broker: &Broker,
    ctx: &RequestContext,
    handler_time: Duration,
    outcome: &mut handlers::Outcome,
) -> u64 {
    let image = broker.image();
    if image.client_quotas.is_empty() || matches!(outcome, handlers::Outcome::Close(_)) {
        return 0;
    }
    let user = ctx.principal.name.as_str();
    let client_id = ctx.client_id.as_deref().unwrap_or("");
    let throttle = broker.client_quotas.record_and_get_throttle_time_ms(
        &image,
        QuotaType::Request,
        user,
        client_id,
        request_quota::percentage_seconds(handler_time),
        crate::client_quota::manager::monotonic_ms(),
    );
    if throttle == 0 {
        return 0;
    }
    broker
        .metrics
        .quotas
        .throttled(QuotaType::Request, throttle);
    tracing::debug!(%user, client_id, quota = QuotaType::Request.name(), throttle_ms = throttle, "client quota exceeded");
    if let handlers::Outcome::Respond(response) | handlers::Outcome::RespondWithFiles(response, _) =
        outcome
    {
        handlers::throttle_time::raise_throttle_time_ms(
            response.as_mut(),
            i32::try_from(throttle).unwrap_or(i32::MAX),
        );
    }
    throttle
}

/// Kafka's produce and fetch byte-rate quotas: the Produce request's size, or the consumer
/// Fetch response's, is recorded against the client's quota; the throttle time (0 within
/// quota) goes into the response's `throttle_time_ms` (the larger of it and any the
/// handler set) and is returned for the connection to mute itself that long. A Fetch
/// response is sent as the handler built it (Kafka sends an empty one while throttled).
fn throttle_for_client_quota(
    broker: &Broker,
    ctx: &RequestContext,
    request_size: usize,
    outcome: &mut handlers::Outcome,
) -> u64 {
    let image = broker.image();
    if image.client_quotas.is_empty() {
        return 0;
    }
    let (quota_type, bytes) = match outcome {
        handlers::Outcome::Respond(response) | handlers::Outcome::RespondWithFiles(response, _) => {
            match response.as_ref() {
                ResponseKind::Fetch(fetch) => (
                    QuotaType::Fetch,
                    fetch.compute_size(ctx.version).unwrap_or_else(|_| {
                        fetch
                            .responses
                            .iter()
                            .flat_map(|t| t.partitions.iter())
                            .filter_map(|p| p.records.as_ref().map(|r| r.len()))
                            .sum()
                    }),
                ),
                _ => (QuotaType::Produce, request_size),
            }
        }
        handlers::Outcome::NoResponse => (QuotaType::Produce, request_size),
        handlers::Outcome::Close(_) => return 0,
    };
    let user = ctx.principal.name.as_str();
    let client_id = ctx.client_id.as_deref().unwrap_or("");
    let throttle = broker.client_quotas.record_and_get_throttle_time_ms(
        &image,
        quota_type,
        user,
        client_id,
        bytes as f64,
        crate::client_quota::manager::monotonic_ms(),
    );
    if throttle == 0 {
        return 0;
    }
    broker.metrics.quotas.throttled(quota_type, throttle);
    tracing::debug!(%user, client_id, quota = quota_type.name(), throttle_ms = throttle, "client quota exceeded");
    let throttle_i32 = i32::try_from(throttle).unwrap_or(i32::MAX);
    if let handlers::Outcome::Respond(response) | handlers::Outcome::RespondWithFiles(response, _) =
        outcome
    {
        match response.as_mut() {
            ResponseKind::Produce(r) => r.throttle_time_ms = r.throttle_time_ms.max(throttle_i32),
            ResponseKind::Fetch(r) => r.throttle_time_ms = r.throttle_time_ms.max(throttle_i32),
            _ => {}
        }
    }
    throttle
}

/// A broker-only node's inter-broker listener's request: the leader's replication to this
/// learner (before any Kafka decoding), else a Kafka request for the broker once it serves.
async fn handle_learner_frame(
    frame: Bytes,
    connection: &Connection<'_>,
    endpoint: &Arc<LearnerEndpoint>,
) -> Result<Handled, ConnectionError> {
    let (api_key_raw, _, _) = prefix(&frame)?;
    if raft_rpc::is_raft_api_key(api_key_raw) {
        return endpoint.raft_listener().serve(frame, connection).await;
    }
    if let Some(broker) = endpoint.broker.get() {
        return handle_frame(frame, connection, broker, Forwarding::ToController).await;
    }
    // Before the broker serves, only ApiVersions, which every connection (the leader's
    // raft client's too) begins with.
    if ApiKey::try_from(api_key_raw) != Ok(ApiKey::ApiVersions) {
        return Err(ConnectionError::HandlerClosed(
            "a Kafka request before this broker finished starting".to_string(),
        ));
    }
    let decoded = match decode_request(frame, connection, false)? {
        Ok(decoded) => decoded,
        Err(answer) => return Ok(answer),
    };
    let RequestKind::ApiVersions(request) = decoded.request else {
        return Err(ConnectionError::HandlerClosed(
            "a Kafka request before this broker finished starting".to_string(),
        ));
    };
    let response = handlers::api_versions::handle(
        &decoded.ctx,
        request,
        &endpoint.quorum.image(),
        endpoint.quorum.kraft_version(),
    );
    respond(
        decoded.api,
        &decoded.ctx,
        decoded.correlation_id,
        handlers::Outcome::Respond(Box::new(ResponseKind::ApiVersions(response))),
        None,
    )
}

/// What a listener serving raft RPCs needs: who may send them, and the quorum that
/// serves them — as a learner's listener serves them when `learner`.
struct RaftListener<'a> {
    authorizer: &'a Authorizer,
    metrics: &'a Metrics,
    quorum: &'a MetadataQuorum,
    learner: bool,
}

impl LearnerEndpoint {
    fn raft_listener(&self) -> RaftListener<'_> {
        RaftListener {
            authorizer: &self.authorizer,
            metrics: &self.metrics,
            quorum: &self.quorum,
            learner: true,
        }
    }
}

impl ControllerEndpoint {
    fn raft_listener(&self) -> RaftListener<'_> {
        RaftListener {
            authorizer: &self.authorizer,
            metrics: &self.metrics,
            quorum: &self.quorum,
            learner: false,
        }
    }
}

impl RaftListener<'_> {
    /// One raft RPC frame (Ironlog-private key, request header v1): its sender checked,
    /// then served by the quorum and answered in Kafka framing.
    async fn serve(
        &self,
        mut frame: Bytes,
        connection: &Connection<'_>,
    ) -> Result<Handled, ConnectionError> {
        let (api_key_raw, version, correlation_id) = prefix(&frame)?;
        self.check_sender(api_key_raw, connection)?;
        if version != raft_rpc::RAFT_RPC_VERSION {
            return Err(ConnectionError::UnknownApiKey(api_key_raw));
        }
        // Kafka's request header v1, as the protocol crate frames unknown keys.
        RequestHeader::decode(&mut frame, 1)
            .map_err(|e| ConnectionError::RaftRpc(format!("header: {e}")))?;
        let served = if self.learner {
            self.quorum.serve_learner_rpc(api_key_raw, &frame).await
        } else {
            self.quorum.serve_rpc(api_key_raw, &frame).await
        };
        let body = served.map_err(|e| ConnectionError::RaftRpc(e.to_string()))?;
        let size = u32::try_from(4 + body.len())
            .map_err(|_| ConnectionError::RaftRpc("response too large".into()))?;
        let mut head = BytesMut::with_capacity(8);
        head.extend_from_slice(&size.to_be_bytes());
        head.extend_from_slice(&correlation_id.to_be_bytes());
        Ok((Some(vec![head.freeze().into(), body.into()]), None))
    }

    /// Only a node may speak raft: with an authorizer, the sender's principal (what the
    /// listener's TLS or SASL proved) needs CLUSTER_ACTION on the cluster, as Kafka's KRaft
    /// RPCs do; a refusal closes the connection. For the audit log the RPC is named by its
    /// KRaft counterpart (Vote, Fetch, FetchSnapshot; JoinAsLearner as BrokerRegistration).
    fn check_sender(
        &self,
        api_key_raw: i16,
        connection: &Connection<'_>,
    ) -> Result<(), ConnectionError> {
        let api = match api_key_raw {
            raft_rpc::RAFT_VOTE_API_KEY => ApiKey::Vote,
            raft_rpc::RAFT_INSTALL_SNAPSHOT_API_KEY => ApiKey::FetchSnapshot,
            raft_rpc::RAFT_JOIN_AS_LEARNER_API_KEY => ApiKey::BrokerRegistration,
            _ => ApiKey::Fetch,
        };
        let ctx = connection.request_context(api, raft_rpc::RAFT_RPC_VERSION, None, false);
        let quorum = self.quorum;
        let allowed = Authz::new(
            self.authorizer,
            self.metrics,
            || quorum.image().acls.clone(),
            &ctx,
        )
        .allows_cluster(AclOperation::ClusterAction);
        if allowed {
            Ok(())
        } else {
            Err(ConnectionError::RaftRpc(format!(
                "principal {} has no CLUSTER_ACTION on the cluster: only nodes may send raft RPCs",
                connection.principal
            )))
        }
    }
}

/// A controller listener's request: a raft RPC (Ironlog-private key, before any Kafka
/// decoding), an Envelope (a forwarded client request, handled here as on a client
/// listener but never forwarded again), or one of the controller's Kafka APIs.
async fn handle_controller_frame(
    mut frame: Bytes,
    connection: &Connection<'_>,
    endpoint: &Arc<ControllerEndpoint>,
) -> Result<Handled, ConnectionError> {
    let (api_key_raw, version, correlation_id) = prefix(&frame)?;
    if raft_rpc::is_raft_api_key(api_key_raw) {
        return endpoint.raft_listener().serve(frame, connection).await;
    }
    let api =
        ApiKey::try_from(api_key_raw).map_err(|_| ConnectionError::UnknownApiKey(api_key_raw))?;
    if api != ApiKey::Envelope {
        let decoded = match decode_request(frame, connection, true)? {
            Ok(decoded) => decoded,
            Err(answer) => return Ok(answer),
        };
        // The quorum's and the brokers' lifecycle APIs need only the controller; the admin
        // APIs run the broker's handlers, which exist once this node has started (a peer's
        // registration may well arrive before).
        let outcome = match handlers::controller_apis::handle(
            endpoint,
            &decoded.ctx,
            decoded.request,
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(request) => match endpoint.broker() {
                Some(broker) => handlers::handle(&broker, &decoded.ctx, request).await,
                None => handlers::Outcome::Close(format!(
                    "{api:?} on the controller listener before this node finished starting"
                )),
            },
        };
        return respond(
            decoded.api,
            &decoded.ctx,
            decoded.correlation_id,
            outcome,
            None,
        );
    }
    let Some(broker) = endpoint.broker() else {
        return Err(ConnectionError::HandlerClosed(
            "an Envelope before this node finished starting".to_string(),
        ));
    };
    let supported = handlers::api_versions::supported_range_on(api, true);
    if !supported.is_some_and(|(min, max)| version >= min && version <= max) {
        return Err(ConnectionError::UnsupportedVersion { api, version });
    }
    let header_version = api.request_header_version(version);
    RequestHeader::decode(&mut frame, header_version).map_err(|e| {
        ConnectionError::Undecodable {
            api,
            version,
            reason: format!("header: {e}"),
        }
    })?;
    let envelope =
        EnvelopeRequest::decode(&mut frame, version).map_err(|e| ConnectionError::Undecodable {
            api,
            version,
            reason: e.to_string(),
        })?;
    // Only a broker may speak for a client: the Envelope's sender needs CLUSTER_ACTION
    // before its inner principal is trusted (Kafka's `ControllerApis`).
    let sender = connection.request_context(api, version, None, true);
    let (response, observed) = if broker
        .authz(&sender)
        .allows_cluster(crate::security::acl::AclOperation::ClusterAction)
    {
        serve_envelope(envelope, connection.listener_name, &broker).await
    } else {
        let response = EnvelopeResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
        (response, None)
    };
    // Counted as Kafka counts a forwarded request: under the inner request's API (an
    // Envelope refused before its inner request ran counts as the Envelope).
    let observed = observed.unwrap_or_else(|| {
        let response = ResponseKind::Envelope(response.clone());
        Observed::answered(api, version, &TrafficSummary::Other, &response)
    });
    encode_response(
        api,
        version,
        correlation_id,
        &ResponseKind::Envelope(response),
    )
    .map(|frame| (Some(frame), Some(observed)))
}

/// Handles the request inside an Envelope as the client's own, and wraps its response
/// with the metadata offset it reflects; with what the metrics record of the inner
/// request, when it ran.
async fn serve_envelope(
    envelope: EnvelopeRequest,
    listener_name: &Arc<str>,
    broker: &Arc<Broker>,
) -> (EnvelopeResponse, Option<Observed>) {
    let mut response = EnvelopeResponse::default();
    let inner = envelope.request_data;
    let inner_api = prefix(&inner)
        .ok()
        .and_then(|(key, _, _)| ApiKey::try_from(key).ok());
    if !inner_api.is_some_and(handlers::api_versions::is_forwarded_to_controller) {
        response.error_code = ResponseError::InvalidRequest.code();
        return (response, None);
    }
    let client = match envelope.client_host_address.len() {
        4 => <[u8; 4]>::try_from(envelope.client_host_address.as_ref())
            .map(IpAddr::from)
            .ok(),
        16 => <[u8; 16]>::try_from(envelope.client_host_address.as_ref())
            .map(IpAddr::from)
            .ok(),
        _ => None,
    };
    let peer = SocketAddr::new(client.unwrap_or(IpAddr::from([0, 0, 0, 0])), 0);
    let Some(principal) = envelope
        .request_principal
        .and_then(KafkaPrincipal::deserialize)
    else {
        response.error_code = ResponseError::PrincipalDeserializationFailure.code();
        return (response, None);
    };
    // Client quotas apply where the client's own connection is, not to a forwarded request.
    let throttle_ms = AtomicU64::new(0);
    let connection = Connection {
        peer,
        listener_name,
        principal: &principal,
        throttle_ms: &throttle_ms,
    };
    let mut observed = None;
    match handle_frame(inner, &connection, broker, Forwarding::Never).await {
        Ok((Some(chunks), inner_observed)) => {
            observed = inner_observed;
            let mut data = BytesMut::new();
            match into_memory(chunks).await {
                Ok(chunks) => chunks.iter().for_each(|c| data.extend_from_slice(c)),
                Err(e) => {
                    tracing::warn!(reason = %e, "a forwarded request's response could not be read");
                    response.error_code = ResponseError::UnknownServerError.code();
                    return (response, None);
                }
            }
            // the inner frame's size prefix is the Envelope's business
            response.response_data = Some(data.freeze().slice(4..));
            response.unknown_tagged_fields.insert(
                ENVELOPE_METADATA_OFFSET_TAG,
                Bytes::copy_from_slice(&broker.image().offset.to_be_bytes()),
            );
        }
        Ok((None, _)) => response.error_code = ResponseError::InvalidRequest.code(),
        Err(e) => {
            tracing::warn!(reason = %e, "a forwarded request failed");
            response.error_code = ResponseError::InvalidRequest.code();
        }
    }
    (response, observed)
}

/// Encodes a response frame as chunks: the size prefix, then the header and body. A Fetch
/// response's record batches are spliced in by reference ([`ChunkedFrame`]) rather than
/// copied; every other response is one buffer.
fn encode_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> Result<Vec<Chunk>, ConnectionError> {
    encode_response_with_files(api, version, correlation_id, response, Vec::new())
}

/// [`encode_response`] of a response whose record placeholders stand for `files`.
fn encode_response_with_files(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &ResponseKind,
    files: Vec<FileRecords>,
) -> Result<Vec<Chunk>, ConnectionError> {
    let fail = |reason: String| ConnectionError::Unencodable {
        api,
        version,
        reason,
    };
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let header_version = api.response_header_version(version);
    if let ResponseKind::Fetch(fetch) = response {
        let batches: Vec<Bytes> = fetch
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.records.clone())
            .collect();
        let mut frame = ChunkedFrame::with_files(batches, files);
        header
            .encode(&mut frame, header_version)
            .map_err(|e| fail(e.to_string()))?;
        fetch
            .encode(&mut frame, version)
            .map_err(|e| fail(e.to_string()))?;
        let size = u32::try_from(frame.len())
            .map_err(|_| fail(format!("response of {} bytes", frame.len())))?;
        let mut chunks = vec![Chunk::Bytes(Bytes::copy_from_slice(&size.to_be_bytes()))];
        chunks.extend(frame.into_chunks().map_err(|e| fail(e.to_string()))?);
        return Ok(chunks);
    }
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&[0, 0, 0, 0]);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| fail(e.to_string()))?;
    response
        .encode(&mut buf, version)
        .map_err(|e| fail(e.to_string()))?;
    let size = (buf.len() - 4) as u32;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(vec![buf.freeze().into()])
}
