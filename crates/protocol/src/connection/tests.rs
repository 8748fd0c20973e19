//! Connection behaviour a real broker cannot be made to show: an in-process peer on the
//! other end of a `tokio::io::duplex` stream sends garbage, wrong correlation ids, oversized
//! claims, half frames, or nothing at all. (Against a real broker: the integration tests in
//! `broker/tests/protocol_client.rs`.)

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DescribeAclsRequest, MetadataRequest, MetadataResponse, ProduceRequest, RequestHeader,
    TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::*;
use crate::frame::{FrameReader, RequestPrefix};
use crate::versions::api_versions_response;
use crate::{CodecError, FrameError};

/// Long enough never to fire on a loaded machine; tests that wait for a condition poll it.
const LONG: Duration = Duration::from_secs(30);

const PEER_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::Produce, 3, 12),
];

/// The far end of a connection, driven by the test.
struct Peer {
    stream: DuplexStream,
    frames: FrameReader,
}

struct Received {
    prefix: RequestPrefix,
    header: RequestHeader,
    body: Bytes,
}

impl Peer {
    /// The next request, `None` when the connection closed.
    async fn read(&mut self) -> Option<Received> {
        let mut frame = self
            .frames
            .next_frame(&mut self.stream)
            .await
            .expect("peer reads a frame")?;
        let prefix = frame::peek_request_prefix(&frame).expect("request prefix");
        let api = frame::api_key(prefix.api_key).expect("known API");
        let header =
            frame::decode_request_header(&mut frame, api, prefix.api_version).expect("header");
        Some(Received {
            prefix,
            header,
            body: frame,
        })
    }

    async fn expect(&mut self, api: ApiKey) -> Received {
        let received = tokio::time::timeout(LONG, self.read())
            .await
            .expect("peer waited too long for a request")
            .expect("connection closed before the request came");
        assert_eq!(
            received.prefix.api_key, api as i16,
            "peer expected {api:?}, got API key {}",
            received.prefix.api_key
        );
        received
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("peer writes");
    }

    async fn respond<M: Encodable>(&mut self, to: &Received, body: &M) {
        self.respond_as(to, to.prefix.correlation_id, body).await
    }

    async fn respond_as<M: Encodable>(&mut self, to: &Received, correlation_id: i32, body: &M) {
        let api = frame::api_key(to.prefix.api_key).expect("known API");
        let frame = frame::encode_response(api, to.prefix.api_version, correlation_id, body)
            .expect("encode response");
        self.write(&frame).await;
    }

    /// Answers the metadata request `to` with a cluster id naming its first topic (so each
    /// caller can tell its own response).
    async fn echo_metadata(&mut self, to: &Received) {
        let request: MetadataRequest = frame::decode_body(
            &mut to.body.clone(),
            to.prefix.api_key,
            to.prefix.api_version,
            "request",
        )
        .expect("decode metadata request");
        let name = request
            .topics
            .and_then(|t| t.into_iter().next())
            .and_then(|t| t.name)
            .map(|n| n.0.to_string())
            .unwrap_or_default();
        let response = MetadataResponse::default().with_cluster_id(Some(name.into()));
        self.respond(to, &response).await;
    }

    async fn answer_api_versions_response(&mut self, apis: &[(ApiKey, i16, i16)]) {
        let request = self.expect(ApiKey::ApiVersions).await;
        self.respond(&request, &api_versions_response(apis, 0))
            .await;
    }
}

fn config() -> ConnectionConfig {
    ConnectionConfig {
        request_timeout: LONG,
        ..ConnectionConfig::default()
    }
}

/// A started connection and its peer (which answered ApiVersions with `PEER_APIS`).
async fn pair(config: ConnectionConfig) -> (Connection, Peer) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let mut peer = Peer {
        stream: theirs,
        frames: FrameReader::new(1024 * 1024),
    };
    let (connection, ()) = tokio::join!(
        Connection::start(ours, "test-peer", config),
        peer.answer_api_versions_response(PEER_APIS)
    );
    (connection.expect("connection starts"), peer)
}

fn metadata_for(topic: &str) -> MetadataRequest {
    MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.to_string()))))]))
}

fn spawn_metadata(
    connection: &Connection,
    topic: &str,
) -> tokio::task::JoinHandle<Result<MetadataResponse, Error>> {
    let connection = connection.clone();
    let request = metadata_for(topic);
    tokio::spawn(async move { connection.send(&request).await })
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn failure_of(result: Result<MetadataResponse, Error>) -> ConnectionFailure {
    match result {
        Err(Error::Connection { failure, .. }) => failure,
        other => panic!("expected a connection failure, got {other:?}"),
    }
}

async fn joined<T>(handle: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(LONG, handle)
        .await
        .expect("request did not finish")
        .expect("request task panicked")
}

#[tokio::test]
async fn versions_follow_the_peer_and_unsupported_apis_never_leave() {
    let (connection, mut peer) = pair(config()).await;
    assert_eq!(
        connection
            .version_for(ApiKey::Produce, VersionChoice::Highest)
            .ok(),
        Some(12)
    );
    let refused = connection.send(&DescribeAclsRequest::default()).await;
    assert!(
        matches!(
            refused,
            Err(Error::UnsupportedApi {
                api: ApiKey::DescribeAcls
            })
        ),
        "an API the peer did not advertise: {refused:?}"
    );
    let pinned = connection
        .send_with(
            &metadata_for("x"),
            SendOptions::default().version(VersionChoice::Exactly(13)),
        )
        .await;
    assert!(
        matches!(pinned, Err(Error::UnsupportedVersion { .. })),
        "Metadata v13 is beyond the peer's v12: {pinned:?}"
    );
    let call = spawn_metadata(&connection, "after");
    let next = peer.expect(ApiKey::Metadata).await;
    assert_eq!(
        next.prefix.api_version, 12,
        "the first request the peer sees is this Metadata, at the highest common version"
    );
    assert_eq!(next.header.client_id.as_deref(), Some("ironlog"));
    peer.echo_metadata(&next).await;
    let response = joined(call).await.expect("metadata answered");
    assert_eq!(response.cluster_id.as_deref(), Some("after"));
}

#[tokio::test]
async fn api_versions_falls_back_to_the_version_the_peer_names() {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let mut peer = Peer {
        stream: theirs,
        frames: FrameReader::new(1024 * 1024),
    };
    let peer_side = async {
        let first = peer.expect(ApiKey::ApiVersions).await;
        assert_eq!(first.prefix.api_version, 4, "we ask at the codec's highest");
        // KIP-511: a v0 body (header v0 as always for ApiVersions) saying what it serves
        let refusal = api_versions_response(&[(ApiKey::ApiVersions, 0, 2)], 35);
        let frame = frame::encode_response(
            ApiKey::ApiVersions,
            0,
            first.prefix.correlation_id,
            &refusal,
        )
        .expect("encode v0 refusal");
        peer.write(&frame).await;
        let second = peer.expect(ApiKey::ApiVersions).await;
        assert_eq!(
            second.prefix.api_version, 2,
            "we ask again at the peer's highest"
        );
        peer.respond(&second, &api_versions_response(PEER_APIS, 0))
            .await;
    };
    let (connection, ()) = tokio::join!(Connection::start(ours, "old-peer", config()), peer_side);
    let connection = connection.expect("negotiated at v2");
    assert_eq!(
        connection
            .version_for(ApiKey::Metadata, VersionChoice::Highest)
            .ok(),
        Some(12)
    );
}

#[tokio::test]
async fn pipelined_responses_reach_their_own_callers() {
    let (connection, mut peer) = pair(config()).await;
    let calls: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|t| (t.to_string(), spawn_metadata(&connection, t)))
        .collect();
    let mut received = Vec::new();
    for _ in 0..3 {
        received.push(peer.expect(ApiKey::Metadata).await);
    }
    assert_eq!(
        connection.in_flight(),
        3,
        "three requests written before any answer"
    );
    for r in &received {
        peer.echo_metadata(r).await;
    }
    for (topic, call) in calls {
        let response = joined(call).await.expect("answered");
        assert_eq!(response.cluster_id.as_deref(), Some(topic.as_str()));
    }
    assert_eq!(connection.in_flight(), 0);
}

#[tokio::test]
async fn requests_in_flight_never_exceed_the_limit() {
    let (connection, mut peer) = pair(ConnectionConfig {
        max_in_flight: 2,
        ..config()
    })
    .await;
    let calls: Vec<_> = (0..5)
        .map(|i| spawn_metadata(&connection, &format!("t{i}")))
        .collect();
    let mut answered = 0;
    while answered < 5 {
        let batch = 2.min(5 - answered);
        let mut received = Vec::new();
        for _ in 0..batch {
            received.push(peer.expect(ApiKey::Metadata).await);
        }
        assert!(
            connection.in_flight() <= 2,
            "in flight: {}",
            connection.in_flight()
        );
        if answered + batch < 5 {
            // the others wait for a slot: nothing more may arrive until we answer
            let more = tokio::time::timeout(Duration::from_millis(100), peer.read()).await;
            assert!(
                more.is_err(),
                "a third request was written with two in flight"
            );
        }
        for r in &received {
            peer.echo_metadata(r).await;
        }
        answered += batch;
    }
    for call in calls {
        joined(call).await.expect("every request answered");
    }
}

#[tokio::test]
async fn a_wrong_correlation_id_fails_every_waiter() {
    let (connection, mut peer) = pair(config()).await;
    let first = spawn_metadata(&connection, "first");
    let second = spawn_metadata(&connection, "second");
    let a = peer.expect(ApiKey::Metadata).await;
    let _b = peer.expect(ApiKey::Metadata).await;
    let wrong = a.prefix.correlation_id + 100;
    peer.respond_as(&a, wrong, &MetadataResponse::default())
        .await;
    for call in [first, second] {
        match failure_of(joined(call).await) {
            ConnectionFailure::CorrelationMismatch { expected, received } => {
                assert_eq!((expected, received), (a.prefix.correlation_id, wrong));
            }
            other => panic!("expected a correlation mismatch, got {other}"),
        }
    }
    let later = connection.send(&metadata_for("later")).await;
    assert!(
        matches!(
            failure_of(later),
            ConnectionFailure::CorrelationMismatch { .. }
        ),
        "a failed connection answers later requests with its failure"
    );
    assert!(
        peer.read().await.is_none(),
        "the failed connection is closed towards the peer"
    );
}

#[tokio::test]
async fn an_oversized_response_claim_fails_the_connection() {
    let (connection, mut peer) = pair(ConnectionConfig {
        max_frame_bytes: 4096,
        ..config()
    })
    .await;
    let call = spawn_metadata(&connection, "big");
    peer.expect(ApiKey::Metadata).await;
    peer.write(&(1i32 << 30).to_be_bytes()).await;
    match failure_of(joined(call).await) {
        ConnectionFailure::Read(FrameError::TooLarge { size, max }) => {
            assert_eq!((size, max), (1 << 30, 4096));
        }
        other => panic!("expected TooLarge, got {other}"),
    }
}

#[tokio::test]
async fn garbage_frames_fail_the_connection_with_their_reason() {
    // a frame too short for a response header
    let (connection, mut peer) = pair(config()).await;
    let call = spawn_metadata(&connection, "g");
    peer.expect(ApiKey::Metadata).await;
    peer.write(&[0, 0, 0, 2, 0xde, 0xad]).await;
    assert!(
        matches!(
            failure_of(joined(call).await),
            ConnectionFailure::BadHeader(CodecError::TooShort { len: 2, .. })
        ),
        "a 2-byte response frame"
    );

    // a negative size
    let (connection, mut peer) = pair(config()).await;
    let call = spawn_metadata(&connection, "n");
    peer.expect(ApiKey::Metadata).await;
    peer.write(&(-1i32).to_be_bytes()).await;
    assert!(matches!(
        failure_of(joined(call).await),
        ConnectionFailure::Read(FrameError::NegativeSize { size: -1 })
    ));

    // a response nobody asked for
    let (connection, mut peer) = pair(config()).await;
    let frame = frame::encode_response(ApiKey::Metadata, 12, 77, &MetadataResponse::default())
        .expect("encode");
    peer.write(&frame).await;
    wait_for("the connection to fail", || !connection.is_open()).await;
    assert!(matches!(
        connection.failure(),
        Some(ConnectionFailure::UnexpectedResponse)
    ));
}

#[tokio::test]
async fn a_peer_that_never_answers_times_out_and_closes_the_connection() {
    let (connection, mut peer) = pair(config()).await;
    let patient = spawn_metadata(&connection, "patient");
    peer.expect(ApiKey::Metadata).await;
    let hasty = connection
        .send_with(
            &metadata_for("hasty"),
            SendOptions::default().timeout(Duration::from_millis(50)),
        )
        .await;
    match hasty {
        Err(Error::RequestTimeout {
            api_key,
            timeout_ms,
            ..
        }) => assert_eq!((api_key, timeout_ms), (ApiKey::Metadata as i16, 50)),
        other => panic!("expected a request timeout, got {other:?}"),
    }
    // the unanswered request ahead of it can never be answered in order now
    assert!(matches!(
        failure_of(joined(patient).await),
        ConnectionFailure::RequestTimedOut { timeout_ms: 50, .. }
    ));
    assert!(!connection.is_open());
}

#[tokio::test]
async fn a_peer_closing_mid_response_or_between_frames_is_reported() {
    let (connection, mut peer) = pair(config()).await;
    let call = spawn_metadata(&connection, "half");
    peer.expect(ApiKey::Metadata).await;
    peer.write(&100i32.to_be_bytes()).await;
    peer.write(&[0u8; 10]).await;
    drop(peer);
    match failure_of(joined(call).await) {
        ConnectionFailure::Read(FrameError::Truncated { expected, received }) => {
            assert_eq!((expected, received), (104, 14));
        }
        other => panic!("expected a truncated frame, got {other}"),
    }

    let (connection, mut peer) = pair(config()).await;
    let call = spawn_metadata(&connection, "gone");
    peer.expect(ApiKey::Metadata).await;
    drop(peer);
    assert!(matches!(
        failure_of(joined(call).await),
        ConnectionFailure::PeerClosed
    ));
}

#[tokio::test]
async fn produce_with_acks_0_expects_no_response() {
    let (connection, mut peer) = pair(config()).await;
    let acks0 = ProduceRequest::default().with_acks(0).with_timeout_ms(1000);
    assert!(matches!(
        connection.send(&acks0).await,
        Err(Error::NoResponseExpected {
            api: ApiKey::Produce
        })
    ));
    assert!(matches!(
        connection
            .send_without_response(&metadata_for("m"), SendOptions::default())
            .await,
        Err(Error::ResponseExpected {
            api: ApiKey::Metadata
        })
    ));
    connection
        .send_without_response(&acks0, SendOptions::default())
        .await
        .expect("acks=0 produce written");
    assert_eq!(
        connection.in_flight(),
        0,
        "nothing waits for an acks=0 produce"
    );
    let call = spawn_metadata(&connection, "after-acks0");
    let produce = peer.expect(ApiKey::Produce).await;
    assert_eq!(produce.prefix.api_version, 12);
    let metadata = peer.expect(ApiKey::Metadata).await;
    peer.echo_metadata(&metadata).await;
    let response = joined(call)
        .await
        .expect("the next response matches the next request");
    assert_eq!(response.cluster_id.as_deref(), Some("after-acks0"));
}

#[tokio::test]
async fn a_caller_that_stops_waiting_leaves_the_connection_in_step() {
    let (connection, mut peer) = pair(config()).await;
    let abandoned = spawn_metadata(&connection, "abandoned");
    let first = peer.expect(ApiKey::Metadata).await;
    abandoned.abort();
    assert!(abandoned.await.is_err(), "the caller was cancelled");
    peer.echo_metadata(&first).await;
    let call = spawn_metadata(&connection, "next");
    let second = peer.expect(ApiKey::Metadata).await;
    peer.echo_metadata(&second).await;
    let response = joined(call).await.expect("answered after the dropped one");
    assert_eq!(response.cluster_id.as_deref(), Some("next"));
    assert!(connection.is_open());
}

#[tokio::test]
async fn close_and_the_last_drop_end_the_connection() {
    let (connection, mut peer) = pair(config()).await;
    let call = spawn_metadata(&connection, "closing");
    peer.expect(ApiKey::Metadata).await;
    connection.close();
    assert!(matches!(
        failure_of(joined(call).await),
        ConnectionFailure::Closed
    ));

    let (connection, mut peer) = pair(config()).await;
    drop(connection);
    let end = tokio::time::timeout(LONG, peer.read())
        .await
        .expect("peer saw the end");
    assert!(end.is_none(), "dropping the last handle closes the stream");
}

#[tokio::test]
async fn raw_requests_go_out_as_given() {
    let (connection, mut peer) = pair(config()).await;
    let mut body = bytes::BytesMut::new();
    metadata_for("raw")
        .encode(&mut body, 12)
        .expect("encode body");
    let raw = RawRequest {
        api_key: ApiKey::Metadata as i16,
        api_version: 12,
        body: body.freeze(),
        expect_response: true,
    };
    let call = {
        let connection = connection.clone();
        tokio::spawn(async move { connection.send_raw(raw, None).await })
    };
    let received = peer.expect(ApiKey::Metadata).await;
    peer.echo_metadata(&received).await;
    let response = joined(call)
        .await
        .expect("raw exchange")
        .expect("a response");
    assert_eq!(
        response.header.correlation_id,
        received.prefix.correlation_id
    );
    let decoded: MetadataResponse =
        frame::decode_body(&mut response.body.clone(), 3, 12, "response").expect("decode");
    assert_eq!(decoded.cluster_id.as_deref(), Some("raw"));
}

#[tokio::test]
async fn limits_outside_their_ranges_are_refused() {
    for (max_in_flight, max_frame_bytes) in
        [(0, 1024), (MAX_IN_FLIGHT_LIMIT + 1, 1024), (1, usize::MAX)]
    {
        let (ours, _theirs) = tokio::io::duplex(64);
        let config = ConnectionConfig {
            max_in_flight,
            max_frame_bytes,
            ..config()
        };
        let result = Connection::start(ours, "limits", config).await;
        assert!(
            matches!(result, Err(Error::Config(_))),
            "max_in_flight {max_in_flight}, max_frame_bytes {max_frame_bytes}: {result:?}"
        );
    }
}
