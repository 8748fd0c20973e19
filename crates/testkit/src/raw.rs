//! `raw`: the Kafka protocol at the level tests need it, on the shared protocol crate.
//!
//! - [`RawClient`]: a blocking facade over `ironlog_protocol::Connection` for the sync tests:
//!   requests at the version the test names (`VersionChoice::Exactly`), framing, correlation
//!   ids, ApiVersions at connect and timeouts are the protocol crate's. Typed conveniences
//!   for the requests tests send most are in [`crate::requests`].
//! - [`RawSocket`]: bytes on a plain TCP connection, for what no client may send — garbage,
//!   oversized or negative sizes, half frames, unknown API keys and versions. It writes a
//!   request header only through `ironlog_protocol::frame` and reads frames with its
//!   `FrameReader`; typed requests go out the same way, for the SASL exchange a connection
//!   makes before it may negotiate versions.
//!
//! Both own a current-thread tokio runtime: call them from plain (non-async) test code.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ironlog_protocol::frame::{
    decode_body, decode_response_header, encode_raw_request, FrameReader,
};
use ironlog_protocol::{Connection, ConnectionConfig, SendOptions, VersionChoice};
use kafka_protocol::messages::{
    MetadataRequest, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use crate::clients::CLIENT_TIMEOUT;

/// The client id raw requests carry.
const RAW_CLIENT_ID: &str = "ironlog-raw-test";
/// Largest frame a [`RawSocket`] reads.
const RAW_FRAME_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Request versions the raw client uses (all within Kafka 4.0's accepted ranges).
pub mod versions {
    pub const API_VERSIONS: i16 = 3;
    pub const PRODUCE: i16 = 9;
    pub const FETCH: i16 = 12;
    pub const LIST_OFFSETS: i16 = 8;
    pub const METADATA: i16 = 12;
    pub const CREATE_TOPICS: i16 = 7;
    pub const DESCRIBE_CONFIGS: i16 = 4;
    pub const INCREMENTAL_ALTER_CONFIGS: i16 = 1;
    pub const DELETE_RECORDS: i16 = 2;
    pub const DESCRIBE_LOG_DIRS: i16 = 4;
    pub const DESCRIBE_CLUSTER: i16 = 1;
    pub const INIT_PRODUCER_ID: i16 = 5;
    pub const WRITE_TXN_MARKERS: i16 = 1;
}

/// Kafka error codes the tests assert on (numeric, as they appear on the wire).
pub mod codes {
    pub const NONE: i16 = 0;
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const MESSAGE_TOO_LARGE: i16 = 10;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    pub const INVALID_GROUP_ID: i16 = 24;
    pub const INVALID_TIMESTAMP: i16 = 32;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    pub const INVALID_CONFIG: i16 = 40;
    pub const INVALID_REQUEST: i16 = 42;
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
    pub const INVALID_RECORD: i16 = 87;
    pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
    pub const PRODUCER_FENCED: i16 = 90;
    pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const INVALID_TXN_STATE: i16 = 48;
    pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
    pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
    pub const CONCURRENT_TRANSACTIONS: i16 = 51;
    pub const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
    pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
    pub const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
}

/// Config resource types (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs).
pub mod resource {
    pub const TOPIC: i8 = 2;
    pub const BROKER: i8 = 4;
    pub const BROKER_LOGGER: i8 = 8;
}

/// IncrementalAlterConfigs operations.
pub mod config_op {
    pub const SET: i8 = 0;
    pub const DELETE: i8 = 1;
    pub const APPEND: i8 = 2;
    pub const SUBTRACT: i8 = 3;
}

fn current_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime")
}

/// A blocking Kafka protocol connection: `ironlog_protocol::Connection` driven by its own
/// runtime. It asked the peer for its API versions when it connected; every request goes
/// out at exactly the version the caller names.
pub struct RawClient {
    connection: Connection,
    // declared last: dropped after the connection, whose tasks it runs
    runtime: Runtime,
}

impl RawClient {
    /// Connects to `addr` (`host:port`) and negotiates API versions; panics if it cannot.
    pub fn connect(addr: &str) -> Self {
        let runtime = current_thread_runtime();
        let config = ConnectionConfig {
            client_id: Some(RAW_CLIENT_ID.to_string()),
            connect_timeout: CLIENT_TIMEOUT,
            request_timeout: CLIENT_TIMEOUT,
            ..ConnectionConfig::default()
        };
        let connection = runtime
            .block_on(Connection::connect(addr, config))
            .unwrap_or_else(|e| panic!("raw client cannot connect to {addr}: {e}"));
        RawClient {
            connection,
            runtime,
        }
    }

    /// Send `request` as `version` and decode the matching response.
    pub fn call<R: Request + 'static>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, ironlog_protocol::Error> {
        let options = SendOptions::default().version(VersionChoice::Exactly(version));
        self.runtime
            .block_on(self.connection.send_with(request, options))
    }

    /// The protocol crate's connection underneath (e.g. for its negotiated versions).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// [`RawClient::call`] for a request the broker must answer: panics, naming `what`,
    /// when it does not (the connection failed or the answer did not decode).
    pub fn expect_call<R: Request + 'static>(
        &mut self,
        version: i16,
        request: &R,
        what: &str,
    ) -> R::Response {
        self.call(version, request)
            .unwrap_or_else(|e| panic!("raw {what} failed: {e:#}"))
    }
}

/// A plain TCP connection for byte-level input: nothing is sent unless the test writes it.
pub struct RawSocket {
    stream: TcpStream,
    reader: FrameReader,
    next_correlation_id: i32,
    // declared last: dropped after the stream registered with it
    runtime: Runtime,
}

impl RawSocket {
    /// Connects to `addr` (`host:port`); panics if it cannot.
    pub fn connect(addr: &str) -> Self {
        let runtime = current_thread_runtime();
        let stream = runtime
            .block_on(async {
                tokio::time::timeout(CLIENT_TIMEOUT, TcpStream::connect(addr)).await
            })
            .unwrap_or_else(|_| {
                panic!("raw socket: no connection to {addr} within {CLIENT_TIMEOUT:?}")
            })
            .unwrap_or_else(|e| panic!("raw socket cannot connect to {addr}: {e}"));
        stream.set_nodelay(true).expect("set nodelay");
        RawSocket {
            stream,
            reader: FrameReader::new(RAW_FRAME_BYTES_MAX),
            next_correlation_id: 0,
            runtime,
        }
    }

    /// Send a request whose header is written by hand (any api key / version, even ones
    /// `kafka-protocol` does not know; null client id), body as given. Returns the
    /// correlation id.
    pub fn send_raw_request(&mut self, api_key: i16, version: i16, body: &[u8]) -> i32 {
        self.next_correlation_id += 1;
        let correlation_id = self.next_correlation_id;
        let frame = encode_raw_request(api_key, version, correlation_id, None, body)
            .unwrap_or_else(|e| panic!("encode raw request header: {e}"));
        self.send_bytes(&frame).expect("write raw request");
        correlation_id
    }

    /// Sends `request` at `version` as [`RawSocket::send_raw_request`] does (a hand-written
    /// header, null client id): what a connection may send before, or instead of,
    /// negotiating versions. Returns the correlation id.
    pub fn send_request<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        let mut body = BytesMut::new();
        request
            .encode(&mut body, version)
            .unwrap_or_else(|e| panic!("encode api key {} v{version}: {e}", R::KEY));
        self.send_raw_request(R::KEY, version, &body)
    }

    /// Reads the response to the request of `R`'s API at `version` sent last; panics when
    /// none comes or it does not decode.
    pub fn read_response<R: Request>(&mut self, version: i16) -> R::Response {
        let frame = self
            .read_frame()
            .unwrap_or_else(|e| panic!("no response to api key {} v{version}: {e}", R::KEY));
        let mut frame = Bytes::from(frame);
        decode_response_header(&mut frame, R::KEY, version)
            .unwrap_or_else(|e| panic!("a response header: {e}"));
        decode_body(&mut frame, R::KEY, version, "response")
            .unwrap_or_else(|e| panic!("a response body: {e}"))
    }

    /// SaslHandshake at `version` for `mechanism`, and its answer.
    pub fn sasl_handshake(&mut self, mechanism: &str, version: i16) -> SaslHandshakeResponse {
        let request = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(mechanism.to_string()));
        self.send_request(version, &request);
        self.read_response::<SaslHandshakeRequest>(version)
    }

    /// SaslAuthenticate v2 carrying `auth_bytes`, and its answer.
    pub fn sasl_authenticate(&mut self, auth_bytes: &[u8]) -> SaslAuthenticateResponse {
        let request =
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(auth_bytes));
        self.send_request(2, &request);
        self.read_response::<SaslAuthenticateRequest>(2)
    }

    /// Sends Metadata v12 for every topic (its answer is left to read).
    pub fn send_metadata(&mut self) {
        self.send_request(12, &MetadataRequest::default());
    }

    /// True when a Metadata request gets an answer; false once the broker closed the
    /// connection.
    pub fn metadata_answers(&mut self) -> bool {
        self.send_metadata();
        self.read_frame().is_ok_and(|frame| frame.len() > 8)
    }

    /// Write a 4-byte big-endian length then `payload`.
    pub fn send_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 4);
        frame.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        frame.extend_from_slice(payload);
        self.send_bytes(&frame)
    }

    /// Write bytes exactly as given (no framing).
    pub fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let stream = &mut self.stream;
        self.runtime.block_on(async {
            tokio::time::timeout(CLIENT_TIMEOUT, stream.write_all(bytes))
                .await
                .map_err(|_| timed_out("write"))?
        })
    }

    /// Read one length-prefixed response frame (without the length).
    pub fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let (stream, reader) = (&mut self.stream, &mut self.reader);
        let frame = self.runtime.block_on(async {
            tokio::time::timeout(CLIENT_TIMEOUT, reader.next_frame(stream))
                .await
                .map_err(|_| timed_out("read a frame"))
        })?;
        match frame {
            Ok(Some(frame)) => Ok(frame.to_vec()),
            Ok(None) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the peer closed the connection before a frame",
            )),
            Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
    }

    /// Reads until the broker closes the connection: `Some(bytes it sent first)` when that
    /// happens within `timeout` (a TLS server's alert, say), `None` if it stays open.
    pub fn read_until_closed_within(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let stream = &mut self.stream;
        self.runtime.block_on(async {
            let mut received = Vec::new();
            let deadline = tokio::time::Instant::now() + timeout;
            let mut buf = [0u8; 1024];
            loop {
                match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                    Err(_elapsed) => return None,
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
                    Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
                }
            }
        })
    }

    /// True when the broker closes this connection within `timeout` (EOF or reset);
    /// false if it stays open that long. Panics if the broker sends data instead.
    pub fn closed_by_broker_within(&mut self, timeout: Duration) -> bool {
        let mut buf = [0u8; 1024];
        let stream = &mut self.stream;
        let read = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, stream.read(&mut buf)).await });
        match read {
            Err(_elapsed) => false,
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(n)) => panic!(
                "expected the broker to close the connection, it answered {n} bytes: {:?}",
                &buf[..n.min(64)]
            ),
        }
    }
}

fn timed_out(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("raw socket: could not {what} within {CLIENT_TIMEOUT:?}"),
    )
}
