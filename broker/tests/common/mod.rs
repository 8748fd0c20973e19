//! Shared setup for Ironlog's integration tests: the test kit (`ironlog-testkit`), bound to
//! the `ironlog` binary cargo built for these tests.
//!
//! Every test starts its own `ironlog` process ([`TestBroker`], or a [`TestCluster`]) in a
//! temp dir with port-0 listeners, talks to it with real clients (rdkafka = librdkafka, the
//! most common Kafka client library) and, for APIs rdkafka lacks or for deliberately bad
//! input, with [`RawClient`] which frames `kafka-protocol` messages by hand over a plain TCP socket.
//!
//! Everything waits with a deadline and fails with a sentence that says what did not
//! happen; a failing test prints the tail of the broker's log and keeps its data dir.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, BrokerId, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

pub use ironlog_testkit::*;

/// The broker binary under test.
pub const IRONLOG_BINARY: &str = env!("CARGO_BIN_EXE_ironlog");

/// `TestBroker::start()` and friends for the binary under test: the kit takes the binary
/// from its caller, and these name this crate's.
pub trait StartBroker {
    /// A single-node broker with default settings.
    fn start() -> Self;
    /// A single-node broker with extra `--override key=value` settings.
    fn start_with(overrides: &[(&str, &str)]) -> Self;
    /// Like [`StartBroker::start_with`], with the process's open-files limit (soft and hard,
    /// set in the child before exec) at `open_files_limit` — for this and every restart.
    fn start_with_open_files_limit(overrides: &[(&str, &str)], open_files_limit: u64) -> Self;
}

impl StartBroker for TestBroker {
    fn start() -> Self {
        broker_spec().start()
    }

    fn start_with(overrides: &[(&str, &str)]) -> Self {
        broker_spec().overrides(overrides).start()
    }

    fn start_with_open_files_limit(overrides: &[(&str, &str)], open_files_limit: u64) -> Self {
        broker_spec()
            .overrides(overrides)
            .open_files_limit(open_files_limit)
            .start()
    }
}

/// A raw protocol connection to a broker's bootstrap address.
pub trait RawConnect {
    fn raw(&self) -> RawClient;
}

impl RawConnect for TestBroker {
    fn raw(&self) -> RawClient {
        RawClient::connect(self.bootstrap())
    }
}

/// A broker of the binary under test, to configure further before `start()`.
pub fn broker_spec() -> BrokerSpec {
    BrokerSpec::new(IRONLOG_BINARY)
}

/// A cluster of `nodes` combined nodes of the binary under test.
pub fn cluster_spec(nodes: i32) -> ClusterSpec {
    ClusterSpec::new(IRONLOG_BINARY, nodes)
}

// ------------------------------------------------------------------------------ raw client

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
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    pub const INVALID_CONFIG: i16 = 40;
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
    pub const INVALID_RECORD: i16 = 87;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const INVALID_TXN_STATE: i16 = 48;
    pub const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
    pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
    pub const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
}

/// A blocking Kafka protocol connection: length-prefixed frames, `kafka-protocol` codecs.
pub struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl RawClient {
    pub fn connect(addr: &str) -> Self {
        let stream = TcpStream::connect(addr)
            .unwrap_or_else(|e| panic!("raw client cannot connect to {addr}: {e}"));
        stream
            .set_read_timeout(Some(CLIENT_TIMEOUT))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(CLIENT_TIMEOUT))
            .expect("set write timeout");
        stream.set_nodelay(true).expect("set nodelay");
        RawClient {
            stream,
            correlation_id: 0,
        }
    }

    /// Send `request` as `version` and decode the matching response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> anyhow::Result<R::Response> {
        let api_key =
            ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("unknown api key {}", R::KEY))?;
        let correlation_id = self.next_correlation_id();
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("ironlog-raw-test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, api_key.request_header_version(version))?;
        request.encode(&mut body, version)?;
        self.send_frame(&body)?;
        let mut response = Bytes::from(self.read_frame()?);
        let response_header =
            ResponseHeader::decode(&mut response, api_key.response_header_version(version))?;
        anyhow::ensure!(
            response_header.correlation_id == correlation_id,
            "response correlation id {} does not match request {}",
            response_header.correlation_id,
            correlation_id
        );
        let decoded = R::Response::decode(&mut response, version)?;
        anyhow::ensure!(
            !response.has_remaining(),
            "{} bytes left over after decoding {api_key:?} v{version} response",
            response.remaining()
        );
        Ok(decoded)
    }

    /// Send a request whose header is written by hand (any api key / version, even ones
    /// `kafka-protocol` does not know), body as given. Returns the correlation id.
    pub fn send_raw_request(&mut self, api_key: i16, version: i16, body: &[u8]) -> i32 {
        let correlation_id = self.next_correlation_id();
        let mut frame = BytesMut::new();
        frame.put_i16(api_key);
        frame.put_i16(version);
        frame.put_i32(correlation_id);
        frame.put_i16(-1); // null client id (request header v1)
        frame.put_slice(body);
        self.send_frame(&frame).expect("write raw request");
        correlation_id
    }

    /// Write a 4-byte big-endian length then `payload`.
    pub fn send_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 4);
        frame.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame)
    }

    /// Write bytes exactly as given (no framing).
    pub fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Read one length-prefixed response frame (without the length).
    pub fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if !(0..=256 * 1024 * 1024).contains(&len) {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                format!("response frame length {len} out of range"),
            ));
        }
        let mut payload = vec![0u8; len as usize];
        self.stream.read_exact(&mut payload)?;
        Ok(payload)
    }

    /// True when the broker closes this connection within `timeout` (EOF or reset);
    /// false if it stays open that long. Panics if the broker sends data instead.
    pub fn closed_by_broker_within(&mut self, timeout: Duration) -> bool {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
        let mut buf = [0u8; 1024];
        let result = self.stream.read(&mut buf);
        self.stream
            .set_read_timeout(Some(CLIENT_TIMEOUT))
            .expect("set read timeout");
        match result {
            Ok(0) => true,
            Ok(n) => panic!(
                "expected the broker to close the connection, it answered {n} bytes: {:?}",
                &buf[..n.min(64)]
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => true,
        }
    }

    fn next_correlation_id(&mut self) -> i32 {
        self.correlation_id += 1;
        self.correlation_id
    }

    // ------------------------------------------------------------ typed conveniences

    /// Produce one encoded batch to topic/partition; returns the partition response.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
        self.produce_as(None, topic, partition, batch, acks)
    }

    /// [`RawClient::produce`] with the request's transactional id (as transactional
    /// producers send it).
    pub fn produce_as(
        &mut self,
        transactional_id: Option<&str>,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use kafka_protocol::messages::{ProduceRequest, TransactionalId};
        let request = ProduceRequest::default()
            .with_transactional_id(transactional_id.map(|id| {
                TransactionalId(kafka_protocol::protocol::StrBytes::from_string(
                    id.to_owned(),
                ))
            }))
            .with_acks(acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name_of(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])]);
        let response = self
            .call(versions::PRODUCE, &request)
            .unwrap_or_else(|e| panic!("raw Produce to {topic}/{partition} failed: {e:#}"));
        response
            .responses
            .into_iter()
            .flat_map(|t| t.partition_responses)
            .find(|p| p.index == partition)
            .unwrap_or_else(|| panic!("Produce response has no entry for partition {partition}"))
    }

    /// ListOffsets for one partition at `timestamp` (-1 latest, -2 earliest, -3 max
    /// timestamp, or a time in ms); returns (error code, offset, timestamp).
    pub fn list_offset(&mut self, topic: &str, partition: i32, timestamp: i64) -> (i16, i64, i64) {
        self.list_offset_isolated(topic, partition, timestamp, 0)
    }

    /// [`RawClient::list_offset`] with an isolation level (0 read_uncommitted, 1
    /// read_committed: "latest" is then the last stable offset).
    pub fn list_offset_isolated(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        isolation_level: i8,
    ) -> (i16, i64, i64) {
        use kafka_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use kafka_protocol::messages::ListOffsetsRequest;
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation_level)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name_of(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(timestamp)])]);
        let response = self
            .call(versions::LIST_OFFSETS, &request)
            .unwrap_or_else(|e| panic!("raw ListOffsets {topic}/{partition} failed: {e:#}"));
        let p = response
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .unwrap_or_else(|| panic!("ListOffsets response has no partition {partition}"));
        (p.error_code, p.offset, p.timestamp)
    }

    /// Fetch v12 of one partition (sessionless unless `session_id`/`epoch` say otherwise).
    pub fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        session_id: i32,
        session_epoch: i32,
        max_wait_ms: i32,
    ) -> kafka_protocol::messages::FetchResponse {
        self.fetch_isolated(
            topic,
            partition,
            offset,
            session_id,
            session_epoch,
            max_wait_ms,
            0,
        )
    }

    /// [`RawClient::fetch`] with an isolation level (0 read_uncommitted, 1 read_committed).
    #[allow(clippy::too_many_arguments)]
    pub fn fetch_isolated(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        session_id: i32,
        session_epoch: i32,
        max_wait_ms: i32,
        isolation_level: i8,
    ) -> kafka_protocol::messages::FetchResponse {
        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
        use kafka_protocol::messages::FetchRequest;
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(8 * 1024 * 1024)
            .with_isolation_level(isolation_level)
            .with_session_id(session_id)
            .with_session_epoch(session_epoch)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name_of(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)
                    .with_last_fetched_epoch(-1)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(4 * 1024 * 1024)])]);
        self.call(versions::FETCH, &request)
            .unwrap_or_else(|e| panic!("raw Fetch {topic}/{partition} failed: {e:#}"))
    }
}

impl RawClient {
    /// WriteTxnMarkers v1 for one producer's transaction on `partitions` of `topic`, as the
    /// transaction coordinator sends it; returns the error code per partition.
    pub fn write_txn_marker(
        &mut self,
        topic: &str,
        partitions: &[i32],
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Vec<(i32, i16)> {
        use kafka_protocol::messages::write_txn_markers_request::{
            WritableTxnMarker, WritableTxnMarkerTopic,
        };
        use kafka_protocol::messages::{ProducerId, WriteTxnMarkersRequest};
        let request =
            WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_transaction_result(commit)
                .with_coordinator_epoch(coordinator_epoch)
                .with_topics(vec![WritableTxnMarkerTopic::default()
                    .with_name(topic_name_of(topic))
                    .with_partition_indexes(partitions.to_vec())])]);
        let response = self
            .call(versions::WRITE_TXN_MARKERS, &request)
            .unwrap_or_else(|e| panic!("raw WriteTxnMarkers for {topic} failed: {e:#}"));
        response
            .markers
            .into_iter()
            .flat_map(|m| m.topics)
            .flat_map(|t| t.partitions)
            .map(|p| (p.partition_index, p.error_code))
            .collect()
    }
}
