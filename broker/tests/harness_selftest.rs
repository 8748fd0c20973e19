//! Checks of the test harness itself: `RawClient` (the protocol crate's `Connection`) and
//! `RawSocket` framing against a scripted in-process peer, the batch helpers,
//! `TestBroker::restart_on_same_port` when the port was taken while the broker was down,
//! and a one-node `TestCluster`. If these fail, the other integration tests' failures say
//! nothing about the broker.
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Encodable, StrBytes};
use kafka_protocol::records::Compression;

/// The next frame the peer reads, `None` once the other side closed.
fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(Bytes::from(body))
}

/// A peer that answers every ApiVersions request the way a Kafka broker frames it (listing
/// ApiVersions 0..=4 only), and hangs up at the first frame that is not one; returns the
/// (version, client software name) of each request it answered.
fn scripted_peer() -> (String, JoinHandle<Vec<(i16, String)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut answered = Vec::new();
        while let Some(mut frame) = read_frame(&mut stream) {
            let Ok(header) = decode_request_header_from_buffer(&mut frame) else {
                break; // garbage: hang up, as a broker would
            };
            let api_key = ApiKey::try_from(header.request_api_key).expect("known key");
            let version = header.request_api_version;
            let request = RequestKind::decode(api_key, &mut frame, version).expect("decode body");
            assert!(!frame.has_remaining(), "request has trailing bytes");
            let RequestKind::ApiVersions(request) = request else {
                panic!("expected ApiVersions, got {api_key:?}")
            };
            let response =
                ApiVersionsResponse::default().with_api_keys(vec![ApiVersion::default()
                    .with_api_key(ApiKey::ApiVersions as i16)
                    .with_min_version(0)
                    .with_max_version(4)]);
            let mut out = BytesMut::new();
            ResponseHeader::default()
                .with_correlation_id(header.correlation_id)
                .encode(&mut out, api_key.response_header_version(version))
                .expect("encode response header");
            ResponseKind::ApiVersions(response)
                .encode(&mut out, version)
                .expect("encode response");
            stream
                .write_all(&(out.len() as i32).to_be_bytes())
                .expect("write length");
            stream.write_all(&out).expect("write response");
            answered.push((version, request.client_software_name.to_string()));
        }
        drop(stream);
        answered
    });
    (addr, handle)
}

fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("ironlog-tests"))
        .with_client_software_version(StrBytes::from_static_str("1"))
}

#[test]
fn raw_client_frames_requests_and_decodes_responses() {
    // RawClient: the protocol crate's Connection (ApiVersions at connect), then a request at
    // exactly the version asked for
    let (addr, peer) = scripted_peer();
    let mut raw = RawClient::connect(&addr);
    let response = raw
        .call(versions::API_VERSIONS, &api_versions_request())
        .expect("ApiVersions round trip");
    assert_eq!(response.error_code, 0);
    assert_eq!(response.api_keys.len(), 1);
    assert_eq!(response.api_keys[0].max_version, 4);
    drop(raw);
    let answered = peer.join().expect("peer thread");
    assert_eq!(
        answered.len(),
        2,
        "the connect's ApiVersions and ours: {answered:?}"
    );
    assert_eq!(
        answered[1],
        (versions::API_VERSIONS, "ironlog-tests".to_string()),
        "our request went out at the version asked for"
    );

    // RawSocket: a hand-framed request, its response frame, then garbage and the hang-up
    let (addr, peer) = scripted_peer();
    let mut socket = RawSocket::connect(&addr);
    let mut body = BytesMut::new();
    api_versions_request()
        .encode(&mut body, versions::API_VERSIONS)
        .expect("encode ApiVersions");
    let correlation_id =
        socket.send_raw_request(ApiKey::ApiVersions as i16, versions::API_VERSIONS, &body);
    let frame = socket.read_frame().expect("a response frame");
    assert_eq!(
        i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]),
        correlation_id,
        "the response carries our correlation id"
    );
    socket.send_frame(b"garbage").expect("send garbage");
    assert!(
        socket.closed_by_broker_within(Duration::from_secs(10)),
        "peer hang-up must be seen as a close"
    );
    let answered = peer.join().expect("peer thread");
    assert_eq!(
        answered,
        [(versions::API_VERSIONS, "ironlog-tests".to_string())]
    );
}

#[test]
fn closed_by_broker_within_reports_an_open_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut raw = RawSocket::connect(&addr);
    let (_held, _) = listener.accept().expect("accept");
    assert!(
        !raw.closed_by_broker_within(Duration::from_millis(200)),
        "an idle open connection is not closed"
    );
}

#[test]
fn encoded_batches_decode_and_a_flipped_crc_is_detected() {
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let batch = encode_batch(&[(b"k1", b"v1"), (b"k2", b"v2")], 2, compression, 42);
        assert_eq!(batch[16], 2, "magic byte position in a v2 batch");
        let records = decode_records(batch.clone());
        assert_eq!(records.len(), 2, "{compression:?}");
        assert_eq!(records[1].value.as_deref(), Some(&b"v2"[..]));
        let mut bad = batch.to_vec();
        bad[BATCH_V2_CRC_OFFSET] ^= 1;
        let mut bad = Bytes::from(bad);
        assert!(
            kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bad).is_err(),
            "{compression:?}: a flipped CRC byte must make the batch invalid"
        );
    }
    let legacy = encode_legacy_magic1(b"k", b"v", 42);
    assert_eq!(legacy[16], 1, "magic byte of a v1 message set");
    assert_eq!(
        legacy.len(),
        8 + 4 + 4 + 1 + 1 + 8 + 4 + 1 + 4 + 1,
        "v1 entry size"
    );
}

#[test]
fn client_builders_accept_their_settings_and_assign_works() {
    // a port nobody listens on: building clients and assigning must not need a broker
    let bootstrap = "127.0.0.1:1";
    let _producer = producer_for(bootstrap, &[("compression.type", "zstd")]);
    let consumer = consumer_for(bootstrap, &[]);
    assign(&consumer, "any-topic", 0, rdkafka::Offset::Offset(5));
    let _admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        client_config(bootstrap).create().expect("admin client");
}

/// A restart on the same port waits out a port another process took while the broker was
/// down, and comes back on that port with its data.
#[test]
fn restart_on_same_port_retries_while_the_port_is_taken() {
    let mut broker = TestBroker::start();
    let topic = broker.new_topic("same-port", 1);
    let producer = broker.producer();
    broker.produce_one(&producer, &topic, 0, b"k", b"before");
    let bootstrap = broker.bootstrap().to_string();
    broker.kill9();
    let squatter = TcpListener::bind(&bootstrap).expect("take the broker's port while it is down");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        drop(squatter);
    });
    broker.restart_on_same_port();
    release.join().expect("release thread");
    assert_eq!(
        broker.bootstrap(),
        bootstrap,
        "the broker is back on its port"
    );
    assert!(
        broker.log_text().contains("taken meanwhile: retrying"),
        "the first restart attempt must have found the port taken"
    );
    let records = broker.consume_all(&topic, 0, 0);
    assert_eq!(records.len(), 1, "the record from before the restart");
    assert_eq!(records[0].value_str(), "before");
}

/// A one-node cluster started by the cluster launcher with the multi-node command line
/// (combined roles, a CONTROLLER listener on a fixed port named in the voters, a fixed
/// client port): it serves clients on the bootstrap address, and after kill -9 and a
/// restart it is back on the same port with the acknowledged record.
#[test]
fn a_one_node_cluster_starts_with_the_cluster_command_line() {
    let mut cluster = cluster_spec(1).set("num.partitions", "2").start();
    let ports = cluster.ports(1);
    let (client, controller) = (
        ports.client.expect("a client port"),
        ports.controller.expect("a controller port"),
    );
    assert_eq!(cluster.bootstrap(), format!("127.0.0.1:{client}"));
    assert_eq!(cluster.voters(), format!("1@127.0.0.1:{controller}"));
    let command = cluster.node(1).command();
    for (key, value) in [
        ("node.id", "1".to_string()),
        ("process.roles", "broker,controller".to_string()),
        ("controller.quorum.voters", cluster.voters()),
        ("controller.listener.names", "CONTROLLER".to_string()),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string(),
        ),
        (
            "listeners",
            format!("PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}"),
        ),
        (
            "advertised.listeners",
            format!("PLAINTEXT://127.0.0.1:{client}"),
        ),
        ("num.partitions", "2".to_string()),
    ] {
        assert_eq!(command.get(key), Some(value.as_str()), "{key} of node 1");
    }
    assert_eq!(
        cluster.node(1).bootstrap(),
        cluster.bootstrap(),
        "the node serves clients on its fixed port"
    );

    let topic = cluster.new_topic("cluster-of-one", 2);
    let producer = cluster.producer();
    let (_, offset) = cluster.produce_one(&producer, &topic, 1, b"k", b"acked before the crash");
    cluster.kill9_node(1);
    cluster.restart_node(1);
    assert_eq!(
        cluster.ports(1),
        ports,
        "the restarted node keeps its ports"
    );
    cluster.wait_ready(CLUSTER_READY_TIMEOUT);
    let records = cluster.consume_all(&topic, 1, 0);
    assert_eq!(
        records.len(),
        1,
        "the acknowledged record after kill -9 and restart"
    );
    assert_eq!(records[0].offset, offset);
    assert_eq!(records[0].value_str(), "acked before the crash");
}
