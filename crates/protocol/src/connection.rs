//! `connection`: one Kafka connection with pipelined, bounded, timed requests.
//!
//! A [`Connection`] owns one byte stream (TCP through [`Connection::connect`]; anything
//! `AsyncRead + AsyncWrite`, such as a TLS stream, through [`Connection::start`]) and two tasks: the writer sends request
//! frames in the order callers queued them, the reader matches each response frame to the
//! oldest request in flight. Kafka answers in order on a connection, so a response whose
//! correlation id is not the oldest request's means the stream is out of step: the
//! connection fails, and so does every request on it.
//!
//! Limits: at most `max_in_flight` requests are queued or awaiting a response (a caller
//! waits for a slot, within its timeout); response frames over `max_frame_bytes` fail the
//! connection; every request has a timeout covering its wait for a slot, its write and its
//! response. A request that times out after it was queued closes the connection (its late
//! response would hold up everything behind it); the caller gets
//! [`Error::RequestTimeout`], the others [`ConnectionFailure::RequestTimedOut`].
//!
//! A caller that stops waiting (its future dropped) costs nothing: its response, when it
//! comes, is read and dropped, and the connection stays in step.
//!
//! At start the connection asks the peer for its ApiVersions (KIP-511: when the peer does
//! not know our ApiVersions version it answers with v0 naming its own range, and we ask once
//! more at that version); [`Connection::send`] then picks the highest version both sides
//! support.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ProduceRequest, ResponseHeader,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::connector::{Connector, TcpConnector};
use crate::error::{ConnectionFailure, Error};
use crate::frame::{self, FrameReader};
use crate::versions::{ApiVersionTable, VersionChoice};

/// Most requests one connection may have queued or in flight.
pub const MAX_IN_FLIGHT_LIMIT: usize = 1024;

/// Settings of one connection. Timeouts and the in-flight limit default to Kafka's client
/// defaults, the frame limit to the broker's `socket.request.max.bytes` default.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// The request header's client id (brokers log it and quotas use it).
    pub client_id: Option<String>,
    /// Sent in ApiVersions v3+ (KIP-511); letters, digits, `.` and `-`.
    pub client_software_name: String,
    pub client_software_version: String,
    /// TCP connect (Kafka's `socket.connection.setup.timeout.ms`).
    pub connect_timeout: Duration,
    /// Default per-request timeout (Kafka's `request.timeout.ms`); [`SendOptions`] can set
    /// another per request.
    pub request_timeout: Duration,
    /// Requests queued or awaiting a response at once (Kafka's
    /// `max.in.flight.requests.per.connection`); 1 to [`MAX_IN_FLIGHT_LIMIT`].
    pub max_in_flight: usize,
    /// Largest response frame accepted; a larger one fails the connection.
    pub max_frame_bytes: usize,
    /// Opens the stream [`Connection::connect`] runs on: plain TCP by default; TLS and SASL
    /// connectors plug in here.
    pub connector: Arc<dyn Connector>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: Some("ironlog".to_string()),
            client_software_name: "ironlog-protocol".to_string(),
            client_software_version: env!("CARGO_PKG_VERSION").to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 5,
            max_frame_bytes: 100 * 1024 * 1024,
            connector: TcpConnector::shared(),
        }
    }
}

/// Per-request choices: the version and the timeout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    pub version: VersionChoice,
    /// `None`: the connection's `request_timeout`.
    pub timeout: Option<Duration>,
}

impl SendOptions {
    pub fn version(mut self, version: VersionChoice) -> Self {
        self.version = version;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A request whose body was encoded elsewhere (or is deliberately not a valid body). It is
/// sent as given: its version is not checked against what the peer advertised.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub api_key: i16,
    pub api_version: i16,
    pub body: Bytes,
    /// False only for requests that get no response (Produce with acks=0).
    pub expect_response: bool,
}

/// A response to a [`RawRequest`]: its header and undecoded body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub header: ResponseHeader,
    pub body: Bytes,
}

/// One connection to a Kafka peer. Cheap to clone; all clones share the connection, which
/// closes when the last clone is dropped or [`Connection::close`] is called.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.inner.shared.peer)
            .field("in_flight", &self.in_flight())
            .field("failure", &self.failure())
            .finish()
    }
}

struct Inner {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Outgoing>,
    config: ConnectionConfig,
    client_id: Option<StrBytes>,
    next_correlation_id: AtomicI32,
    versions: OnceLock<ApiVersionTable>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.fail(ConnectionFailure::Closed, None);
    }
}

/// What the caller, the writer and the reader share.
struct Shared {
    peer: Arc<str>,
    state: Mutex<State>,
    /// Set once, when the connection fails; both tasks stop on it.
    closed: watch::Sender<bool>,
    /// One permit per request queued or in flight.
    slots: Arc<Semaphore>,
}

struct State {
    /// Requests written (or being written) and not yet answered, oldest first.
    in_flight: VecDeque<Pending>,
    failure: Option<ConnectionFailure>,
}

type Reply = Result<(ResponseHeader, Bytes), Error>;

/// A request that awaits its response.
struct Pending {
    correlation_id: i32,
    api_key: i16,
    version: i16,
    reply: oneshot::Sender<Reply>,
    _slot: OwnedSemaphorePermit,
}

/// A frame for the writer.
struct Outgoing {
    frame: Bytes,
    kind: OutgoingKind,
}

enum OutgoingKind {
    Request(Pending),
    /// No response will come; the caller learns when the frame was written.
    OneWay {
        written: oneshot::Sender<Result<(), Error>>,
        _slot: OwnedSemaphorePermit,
    },
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // the state stays consistent under every panic point, so a poisoned lock is usable
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn error(&self, failure: ConnectionFailure) -> Error {
        Error::Connection {
            peer: self.peer.clone(),
            failure,
        }
    }

    fn failure(&self) -> Option<ConnectionFailure> {
        self.lock().failure.clone()
    }

    /// The error for a caller whose reply never came (the connection went away meanwhile).
    fn gone(&self) -> Error {
        self.error(self.failure().unwrap_or(ConnectionFailure::Closed))
    }

    /// Marks the connection failed (the first failure is the one everybody sees), answers
    /// every request in flight — and `popped`, one just taken off the queue — with it, and
    /// stops both tasks.
    fn fail(&self, failure: ConnectionFailure, popped: Option<Pending>) {
        let (failure, drained) = {
            let mut state = self.lock();
            if state.failure.is_none() {
                match &failure {
                    ConnectionFailure::Closed | ConnectionFailure::PeerClosed => {
                        tracing::debug!(peer = %self.peer, %failure, "connection closed")
                    }
                    ConnectionFailure::Read(crate::FrameError::Io(_))
                    | ConnectionFailure::Write(_) => {
                        tracing::debug!(peer = %self.peer, %failure, "connection broken")
                    }
                    _ => tracing::warn!(peer = %self.peer, %failure, "closing connection"),
                }
                state.failure = Some(failure);
            }
            let failure = state.failure.clone().unwrap_or(ConnectionFailure::Closed);
            (failure, std::mem::take(&mut state.in_flight))
        };
        for pending in popped.into_iter().chain(drained) {
            let _ = pending.reply.send(Err(self.error(failure.clone())));
        }
        self.slots.close();
        self.closed.send_replace(true);
    }

    /// Queues `pending` as the newest request in flight, or hands it back if the
    /// connection already failed.
    fn register(&self, pending: Pending) -> Result<(), (Pending, ConnectionFailure)> {
        let mut state = self.lock();
        match &state.failure {
            Some(failure) => Err((pending, failure.clone())),
            None => {
                state.in_flight.push_back(pending);
                Ok(())
            }
        }
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`) through the configured connector (TCP unless
    /// configured otherwise) within the connect timeout, then negotiates API versions
    /// ([`Connection::start`]).
    pub async fn connect(addr: &str, config: ConnectionConfig) -> Result<Connection, Error> {
        let stream = config
            .connector
            .connect(addr, config.connect_timeout)
            .await?;
        Connection::start(stream, addr, config).await
    }

    /// Starts a connection over an established stream (plain TCP, TLS, ...): spawns its
    /// reader and writer tasks and asks the peer for its API versions. `peer` names the
    /// peer in errors and logs.
    pub async fn start<S>(
        stream: S,
        peer: impl Into<String>,
        config: ConnectionConfig,
    ) -> Result<Connection, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        if !(1..=MAX_IN_FLIGHT_LIMIT).contains(&config.max_in_flight) {
            return Err(Error::Config(format!(
                "max_in_flight {} is not within 1..={MAX_IN_FLIGHT_LIMIT}",
                config.max_in_flight
            )));
        }
        if config.max_frame_bytes > i32::MAX as usize {
            return Err(Error::Config(format!(
                "max_frame_bytes {} exceeds the protocol's {}",
                config.max_frame_bytes,
                i32::MAX
            )));
        }
        let peer: Arc<str> = Arc::from(peer.into());
        let (closed, closed_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            peer: peer.clone(),
            state: Mutex::new(State {
                in_flight: VecDeque::with_capacity(config.max_in_flight),
                failure: None,
            }),
            closed,
            slots: Arc::new(Semaphore::new(config.max_in_flight)),
        });
        let (outgoing, outgoing_rx) = mpsc::channel(config.max_in_flight);
        let (read_half, write_half) = tokio::io::split(stream);
        tokio::spawn(write_loop(
            shared.clone(),
            write_half,
            outgoing_rx,
            closed_rx.clone(),
        ));
        tokio::spawn(read_loop(
            shared.clone(),
            read_half,
            FrameReader::new(config.max_frame_bytes),
            closed_rx,
        ));
        let client_id = config.client_id.clone().map(StrBytes::from_string);
        let connection = Connection {
            inner: Arc::new(Inner {
                shared,
                outgoing,
                config,
                client_id,
                next_correlation_id: AtomicI32::new(0),
                versions: OnceLock::new(),
            }),
        };
        let versions = connection.negotiate().await?;
        tracing::debug!(%peer, apis = versions.api_keys().count(), "connected");
        let _ = connection.inner.versions.set(versions);
        Ok(connection)
    }

    /// The peer's address (or the name given to [`Connection::start`]).
    pub fn peer(&self) -> &str {
        &self.inner.shared.peer
    }

    /// What the peer advertised in ApiVersions.
    pub fn api_versions(&self) -> &ApiVersionTable {
        static EMPTY: OnceLock<ApiVersionTable> = OnceLock::new();
        self.inner
            .versions
            .get()
            .unwrap_or_else(|| EMPTY.get_or_init(ApiVersionTable::default))
    }

    /// The version a request of `api` goes out at under `choice`.
    pub fn version_for(&self, api: ApiKey, choice: VersionChoice) -> Result<i16, Error> {
        self.api_versions().negotiate(api, choice)
    }

    /// Requests queued or awaiting a response now.
    pub fn in_flight(&self) -> usize {
        self.inner
            .config
            .max_in_flight
            .saturating_sub(self.inner.shared.slots.available_permits())
    }

    /// Why the connection stopped, `None` while it serves requests.
    pub fn failure(&self) -> Option<ConnectionFailure> {
        self.inner.shared.failure()
    }

    pub fn is_open(&self) -> bool {
        self.failure().is_none()
    }

    /// Closes the connection: requests in flight fail with [`ConnectionFailure::Closed`].
    pub fn close(&self) {
        self.inner.shared.fail(ConnectionFailure::Closed, None);
    }

    /// Sends `request` at the highest version both sides support and returns its response.
    pub async fn send<R: Request + 'static>(&self, request: &R) -> Result<R::Response, Error> {
        self.send_with(request, SendOptions::default()).await
    }

    /// [`Connection::send`] with a chosen version and/or timeout.
    pub async fn send_with<R: Request + 'static>(
        &self,
        request: &R,
        options: SendOptions,
    ) -> Result<R::Response, Error> {
        let api = frame::api_key(R::KEY)?;
        if !expects_response(request) {
            return Err(Error::NoResponseExpected { api });
        }
        let version = self.version_for(api, options.version)?;
        let timeout = options.timeout.unwrap_or(self.inner.config.request_timeout);
        let client_id = self.inner.client_id.as_ref();
        let (_, mut body) = self
            .exchange(R::KEY, version, timeout, |correlation_id| {
                frame::encode_request(api, version, correlation_id, client_id, request)
            })
            .await?;
        Ok(frame::decode_body(&mut body, R::KEY, version, "response")?)
    }

    /// Sends a request that gets no response — Produce with acks=0 — and returns once it was
    /// written. Any other request is [`Error::ResponseExpected`].
    pub async fn send_without_response<R: Request + 'static>(
        &self,
        request: &R,
        options: SendOptions,
    ) -> Result<(), Error> {
        let api = frame::api_key(R::KEY)?;
        if expects_response(request) {
            return Err(Error::ResponseExpected { api });
        }
        let version = self.version_for(api, options.version)?;
        let timeout = options.timeout.unwrap_or(self.inner.config.request_timeout);
        let correlation_id = self.next_correlation_id();
        let frame = frame::encode_request(
            api,
            version,
            correlation_id,
            self.inner.client_id.as_ref(),
            request,
        )?;
        self.write_one_way(R::KEY, version, correlation_id, frame, timeout)
            .await
    }

    /// Sends a pre-encoded request body; `None` when `expect_response` is false.
    pub async fn send_raw(
        &self,
        request: RawRequest,
        timeout: Option<Duration>,
    ) -> Result<Option<RawResponse>, Error> {
        let timeout = timeout.unwrap_or(self.inner.config.request_timeout);
        let client_id = self.inner.client_id.as_ref();
        let encode = |correlation_id| {
            frame::encode_raw_request(
                request.api_key,
                request.api_version,
                correlation_id,
                client_id,
                &request.body,
            )
        };
        if !request.expect_response {
            let correlation_id = self.next_correlation_id();
            let frame = encode(correlation_id)?;
            self.write_one_way(
                request.api_key,
                request.api_version,
                correlation_id,
                frame,
                timeout,
            )
            .await?;
            return Ok(None);
        }
        let (header, body) = self
            .exchange(request.api_key, request.api_version, timeout, encode)
            .await?;
        Ok(Some(RawResponse { header, body }))
    }

    fn next_correlation_id(&self) -> i32 {
        self.inner
            .next_correlation_id
            .fetch_add(1, Ordering::Relaxed)
    }

    fn timeout_error(&self, api_key: i16, version: i16, timeout: Duration) -> Error {
        Error::RequestTimeout {
            peer: self.inner.shared.peer.clone(),
            api_key,
            version,
            timeout_ms: millis(timeout),
        }
    }

    /// Waits for a slot (within `deadline`), or reports why there will be none.
    async fn slot(
        &self,
        api_key: i16,
        version: i16,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, Error> {
        let shared = &self.inner.shared;
        if let Some(failure) = shared.failure() {
            return Err(shared.error(failure));
        }
        match tokio::time::timeout_at(deadline, shared.slots.clone().acquire_owned()).await {
            Err(_) => Err(self.timeout_error(api_key, version, timeout)),
            Ok(Err(_closed)) => Err(shared.gone()),
            Ok(Ok(slot)) => Ok(slot),
        }
    }

    /// One request/response exchange: a slot, the frame (encoded with the correlation id it
    /// gets here) to the writer, the reply from the reader — all within `timeout`.
    async fn exchange(
        &self,
        api_key: i16,
        version: i16,
        timeout: Duration,
        encode: impl FnOnce(i32) -> Result<Bytes, crate::CodecError>,
    ) -> Result<(ResponseHeader, Bytes), Error> {
        let deadline = Instant::now() + timeout;
        let slot = self.slot(api_key, version, timeout, deadline).await?;
        let correlation_id = self.next_correlation_id();
        let frame = encode(correlation_id)?;
        let (reply, response) = oneshot::channel();
        let pending = Pending {
            correlation_id,
            api_key,
            version,
            reply,
            _slot: slot,
        };
        let outgoing = Outgoing {
            frame,
            kind: OutgoingKind::Request(pending),
        };
        let request = (api_key, version, correlation_id);
        self.enqueue_and_wait(outgoing, response, request, timeout, deadline)
            .await
    }

    async fn write_one_way(
        &self,
        api_key: i16,
        version: i16,
        correlation_id: i32,
        frame: Bytes,
        timeout: Duration,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let slot = self.slot(api_key, version, timeout, deadline).await?;
        let (written, written_rx) = oneshot::channel();
        let outgoing = Outgoing {
            frame,
            kind: OutgoingKind::OneWay {
                written,
                _slot: slot,
            },
        };
        let request = (api_key, version, correlation_id);
        self.enqueue_and_wait(outgoing, written_rx, request, timeout, deadline)
            .await
    }

    /// Hands `outgoing` to the writer and waits until `deadline` for what it promised: the
    /// response, or for a one-way request its write. A request that is not done in time
    /// fails the connection (its answer, or its write, would hold up all behind it).
    async fn enqueue_and_wait<T>(
        &self,
        outgoing: Outgoing,
        done: oneshot::Receiver<Result<T, Error>>,
        (api_key, version, correlation_id): (i16, i16, i32),
        timeout: Duration,
        deadline: Instant,
    ) -> Result<T, Error> {
        // the caller's slot guarantees channel capacity: this does not wait
        if self.inner.outgoing.send(outgoing).await.is_err() {
            return Err(self.inner.shared.gone());
        }
        match tokio::time::timeout_at(deadline, done).await {
            Ok(Ok(result)) => result,
            Ok(Err(_dropped)) => Err(self.inner.shared.gone()),
            Err(_elapsed) => {
                self.inner.shared.fail(
                    ConnectionFailure::RequestTimedOut {
                        api_key,
                        version,
                        correlation_id,
                        timeout_ms: millis(timeout),
                    },
                    None,
                );
                Err(self.timeout_error(api_key, version, timeout))
            }
        }
    }

    /// ApiVersions at the highest version the codec knows; once more at the peer's highest
    /// when it answers UNSUPPORTED_VERSION (KIP-511). Bounded: two requests at most.
    async fn negotiate(&self) -> Result<ApiVersionTable, Error> {
        let config = &self.inner.config;
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_string(config.client_software_name.clone()))
            .with_client_software_version(StrBytes::from_string(
                config.client_software_version.clone(),
            ));
        let api_key = ApiKey::ApiVersions as i16;
        let ours = ApiKey::ApiVersions.valid_versions();
        let mut version = ours.max;
        for _ in 0..2 {
            let client_id = self.inner.client_id.as_ref();
            let (_, body) = self
                .exchange(api_key, version, config.request_timeout, |correlation_id| {
                    frame::encode_request(
                        ApiKey::ApiVersions,
                        version,
                        correlation_id,
                        client_id,
                        &request,
                    )
                })
                .await?;
            let response = decode_api_versions(body, version)?;
            if response.error_code == ResponseError::UnsupportedVersion.code() {
                let peer_max = response
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == api_key)
                    .map(|k| k.max_version);
                match peer_max {
                    Some(max) if max < version && max >= ours.min => {
                        tracing::debug!(peer = %self.peer(), from = version, to = max,
                            "peer does not know our ApiVersions version, asking again");
                        version = max;
                        continue;
                    }
                    _ => {}
                }
            }
            Error::check(response.error_code, None)?;
            return Ok(ApiVersionTable::from_response(&response));
        }
        Err(Error::Kafka {
            error: ResponseError::UnsupportedVersion,
            message: Some(format!(
                "the peer refused ApiVersions v{version} it had advertised"
            )),
        })
    }
}

/// An ApiVersions response body. A peer that does not know the version we sent answers in
/// v0 with UNSUPPORTED_VERSION (the error code leads every version's body, so it can be
/// read first).
fn decode_api_versions(mut body: Bytes, version: i16) -> Result<ApiVersionsResponse, Error> {
    let api_key = ApiKey::ApiVersions as i16;
    let unsupported = body
        .get(..2)
        .map(|b| i16::from_be_bytes([b[0], b[1]]) == ResponseError::UnsupportedVersion.code())
        .unwrap_or(false);
    let version = if unsupported { 0 } else { version };
    Ok(frame::decode_body(&mut body, api_key, version, "response")?)
}

/// Produce with acks=0 is the one request Kafka does not answer.
fn expects_response<R: Request + 'static>(request: &R) -> bool {
    match (request as &dyn Any).downcast_ref::<ProduceRequest>() {
        Some(produce) => produce.acks != 0,
        None => true,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Writes queued frames in order. A request enters the in-flight queue before its first
/// byte is written, so the reader always finds it when the response comes.
async fn write_loop<W: AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut writer: W,
    mut queue: mpsc::Receiver<Outgoing>,
    mut closed: watch::Receiver<bool>,
) {
    loop {
        let outgoing = tokio::select! {
            biased;
            _ = closed.changed() => break,
            next = queue.recv() => match next {
                Some(outgoing) => outgoing,
                None => {
                    shared.fail(ConnectionFailure::Closed, None);
                    break;
                }
            },
        };
        let one_way = match outgoing.kind {
            OutgoingKind::Request(pending) => {
                if let Err((pending, failure)) = shared.register(pending) {
                    let _ = pending.reply.send(Err(shared.error(failure)));
                    continue;
                }
                None
            }
            OutgoingKind::OneWay { written, _slot } => {
                if let Some(failure) = shared.failure() {
                    let _ = written.send(Err(shared.error(failure)));
                    continue;
                }
                Some((written, _slot))
            }
        };
        let result = tokio::select! {
            biased;
            _ = closed.changed() => break,
            r = write_frame(&mut writer, &outgoing.frame) => r,
        };
        match result {
            Ok(()) => {
                if let Some((written, _slot)) = one_way {
                    let _ = written.send(Ok(()));
                }
            }
            Err(e) => {
                let failure = ConnectionFailure::Write(Arc::new(e));
                if let Some((written, _slot)) = one_way {
                    let _ = written.send(Err(shared.error(failure.clone())));
                }
                shared.fail(failure, None);
                break;
            }
        }
    }
    // whatever is still queued will not be written
    queue.close();
    while let Ok(outgoing) = queue.try_recv() {
        let error = shared.gone();
        match outgoing.kind {
            OutgoingKind::Request(pending) => {
                let _ = pending.reply.send(Err(error));
            }
            OutgoingKind::OneWay { written, .. } => {
                let _ = written.send(Err(error));
            }
        }
    }
}

async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> std::io::Result<()> {
    writer.write_all(frame).await?;
    writer.flush().await
}

/// Reads response frames and hands each to the oldest request in flight.
async fn read_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    mut reader: R,
    mut frames: FrameReader,
    mut closed: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            biased;
            _ = closed.changed() => return,
            next = frames.next_frame(&mut reader) => next,
        };
        let mut frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => return shared.fail(ConnectionFailure::PeerClosed, None),
            Err(e) => return shared.fail(ConnectionFailure::Read(e), None),
        };
        let Some(pending) = shared.lock().in_flight.pop_front() else {
            return shared.fail(ConnectionFailure::UnexpectedResponse, None);
        };
        match frame::peek_correlation_id(&frame) {
            Some(received) if received != pending.correlation_id => {
                let failure = ConnectionFailure::CorrelationMismatch {
                    expected: pending.correlation_id,
                    received,
                };
                return shared.fail(failure, Some(pending));
            }
            _ => {}
        }
        match frame::decode_response_header(&mut frame, pending.api_key, pending.version) {
            Ok(header) => {
                // a caller that stopped waiting dropped its receiver: the response is dropped
                let _ = pending.reply.send(Ok((header, frame)));
            }
            Err(e) => return shared.fail(ConnectionFailure::BadHeader(e), Some(pending)),
        }
    }
}

#[cfg(test)]
mod tests;
