//! A hostile or broken client: garbage, oversized frames, unknown APIs and versions,
//! corrupt or legacy batches, records over the size limit. Each case is followed by a
//! second, well-behaved client on another connection that must still produce and consume,
//! and the records stored before the bad input must be intact.
mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::{ApiKey, MetadataRequest};
use kafka_protocol::protocol::Decodable;
use kafka_protocol::records::Compression;

/// How long the broker may take to close a connection after bad input.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker with one topic holding 10 known records.
struct Fixture {
    broker: TestBroker,
    topic: String,
    before: Vec<ConsumedRecord>,
}

impl Fixture {
    fn new(topic_configs: &[(&str, &str)]) -> Self {
        let broker = TestBroker::start();
        let topic = topic_name("victim");
        broker.create_topic(&topic, 1, topic_configs);
        let producer = broker.producer();
        for i in 0..10 {
            broker.produce_one(
                &producer,
                &topic,
                0,
                format!("k{i}").as_bytes(),
                format!("stored before {i}").as_bytes(),
            );
        }
        let before = broker.consume_all(&topic, 0, 0);
        assert_eq!(before.len(), 10, "fixture records");
        Fixture {
            broker,
            topic,
            before,
        }
    }

    /// A fresh client on a new connection still works and old records are unchanged.
    fn assert_still_serving(&self, after: &str) {
        let producer = self.broker.producer();
        let value = format!("produced after {after}");
        let (_, offset) =
            self.broker
                .produce_one(&producer, &self.topic, 0, b"after", value.as_bytes());
        let all = self.broker.consume_all(&self.topic, 0, 0);
        assert!(
            all.len() > self.before.len(),
            "after {after}: only {} records in the log",
            all.len()
        );
        assert_eq!(
            &all[..self.before.len()],
            &self.before[..],
            "after {after}: records stored before must be intact"
        );
        let last = all
            .iter()
            .find(|r| r.offset == offset)
            .unwrap_or_else(|| panic!("after {after}: new record at {offset} missing"));
        assert_eq!(last.value_str(), value, "after {after}: new record content");
    }
}

#[test]
fn garbage_bytes_close_the_connection() {
    let f = Fixture::new(&[]);
    let mut raw = f.broker.raw_socket();
    // a plausible length followed by noise: header api key 0x9f3a is no Kafka API
    let noise: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(97) ^ 0x9f) as u8)
        .collect();
    raw.send_frame(&noise).expect("write garbage");
    assert!(
        raw.closed_by_broker_within(CLOSE_TIMEOUT),
        "garbage frame: the broker must close the connection"
    );
    f.assert_still_serving("a garbage frame");

    // an HTTP request on the Kafka port: "GET " read as a length is > any frame limit
    let mut raw = f.broker.raw_socket();
    raw.send_bytes(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write http");
    assert!(
        raw.closed_by_broker_within(CLOSE_TIMEOUT),
        "HTTP request: the broker must close the connection"
    );
    f.assert_still_serving("an HTTP request");
}

#[test]
fn oversized_or_negative_frame_length_closes_the_connection() {
    let f = Fixture::new(&[]);
    for (what, length) in [
        ("2 GiB frame length", i32::MAX),
        ("101 MiB frame length", 101 * 1024 * 1024),
        ("negative frame length", -1),
    ] {
        let mut raw = f.broker.raw_socket();
        raw.send_bytes(&length.to_be_bytes()).expect("write length");
        assert!(
            raw.closed_by_broker_within(CLOSE_TIMEOUT),
            "{what}: the broker must close the connection without reading the body"
        );
        f.assert_still_serving(what);
    }
}

#[test]
fn half_a_frame_then_disconnect_is_harmless() {
    let f = Fixture::new(&[]);
    {
        let mut raw = f.broker.raw_socket();
        raw.send_bytes(&1000i32.to_be_bytes())
            .expect("write length");
        raw.send_bytes(&[0, 3, 0, 12, 0, 0])
            .expect("write partial header");
    } // dropped: connection closed mid-frame
    f.assert_still_serving("a half-sent frame");
}

#[test]
fn unknown_api_key_closes_the_connection() {
    let f = Fixture::new(&[]);
    let mut raw = f.broker.raw_socket();
    raw.send_raw_request(9999, 0, &[]);
    assert!(
        raw.closed_by_broker_within(CLOSE_TIMEOUT),
        "unknown api key 9999: the broker must close the connection"
    );
    f.assert_still_serving("an unknown api key");
}

#[test]
fn unsupported_api_versions_version_gets_an_error_and_the_supported_list() {
    let f = Fixture::new(&[]);
    let mut raw = f.broker.raw_socket();
    // Kafka answers ApiVersions of an unknown version with a v0 response carrying
    // UNSUPPORTED_VERSION and its own version ranges, so the client can downgrade.
    let correlation_id = raw.send_raw_request(ApiKey::ApiVersions as i16, 99, &[0, 0, 0]);
    let frame = raw
        .read_frame()
        .expect("ApiVersions v99 must get a response");
    let mut body = Bytes::from(frame);
    assert!(body.len() >= 4, "response too short");
    let got_id = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    assert_eq!(got_id, correlation_id, "correlation id");
    let _ = bytes::Buf::copy_to_bytes(&mut body, 4);
    let response = ApiVersionsResponse::decode(&mut body, 0).expect("decode ApiVersions v0 body");
    assert_eq!(
        response.error_code,
        codes::UNSUPPORTED_VERSION,
        "error code"
    );
    let api_versions = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
        .expect("ApiVersions itself must be listed");
    assert!(
        api_versions.max_version >= 3,
        "ApiVersions max version {}",
        api_versions.max_version
    );
    f.assert_still_serving("ApiVersions v99");
}

#[test]
fn unsupported_version_of_another_api_closes_the_connection() {
    let f = Fixture::new(&[]);
    let mut raw = f.broker.raw_socket();
    raw.send_raw_request(ApiKey::Metadata as i16, 99, &[0, 0, 0, 0]);
    assert!(
        raw.closed_by_broker_within(CLOSE_TIMEOUT),
        "Metadata v99: the broker must close the connection"
    );
    f.assert_still_serving("Metadata v99");
    // sanity: the same connection type works with a supported version
    let mut raw = f.broker.raw();
    raw.call(
        versions::METADATA,
        &MetadataRequest::default().with_topics(Some(vec![])),
    )
    .expect("Metadata at a supported version");
}

#[test]
fn a_batch_with_a_flipped_crc_byte_is_rejected_as_corrupt() {
    let f = Fixture::new(&[]);
    let mut raw = f.broker.raw();
    let good = encode_batch(
        &[(b"ck", b"crc victim"), (b"ck2", b"second")],
        2,
        Compression::None,
        1_700_000_000_000,
    );
    let mut bad = good.to_vec();
    bad[BATCH_V2_CRC_OFFSET] ^= 0x01;
    let response = raw.produce(&f.topic, 0, Bytes::from(bad), -1);
    assert_eq!(
        response.error_code,
        codes::CORRUPT_MESSAGE,
        "batch with a flipped CRC byte"
    );
    // a flipped payload byte (CRC intact) is just as corrupt
    let mut bad = good.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    let response = raw.produce(&f.topic, 0, Bytes::from(bad), -1);
    assert_eq!(
        response.error_code,
        codes::CORRUPT_MESSAGE,
        "batch with a flipped payload byte"
    );
    // the connection stays usable: the intact batch is accepted on it
    let response = raw.produce(&f.topic, 0, good, -1);
    assert_eq!(
        response.error_code,
        codes::NONE,
        "the intact batch on the same connection"
    );
    assert_eq!(
        response.base_offset, 10,
        "the intact batch lands after the fixture records"
    );
    f.assert_still_serving("corrupt batches");
}

#[test]
fn a_magic_1_batch_is_rejected() {
    let f = Fixture::new(&[]);
    let mut raw = f.broker.raw();
    let legacy = encode_legacy_magic1(b"old", b"format", 1_700_000_000_000);
    let response = raw.produce(&f.topic, 0, legacy, -1);
    assert_eq!(
        response.error_code,
        codes::INVALID_RECORD,
        "Produce v3+ with a magic 1 message set must fail with INVALID_RECORD"
    );
    assert_eq!(
        f.broker.watermarks(&f.topic, 0).1,
        10,
        "nothing of the legacy batch may be stored"
    );
    f.assert_still_serving("a magic 1 batch");
}

#[test]
fn a_record_over_max_message_bytes_is_rejected() {
    let f = Fixture::new(&[("max.message.bytes", "1000")]);
    let mut raw = f.broker.raw();
    let value = vec![b'z'; 5000];
    let batch = encode_batch(&[(b"big", &value)], 2, Compression::None, 1_700_000_000_000);
    let response = raw.produce(&f.topic, 0, batch, -1);
    assert_eq!(
        response.error_code,
        codes::MESSAGE_TOO_LARGE,
        "a 5000-byte batch over max.message.bytes=1000"
    );
    assert_eq!(
        f.broker.watermarks(&f.topic, 0).1,
        10,
        "nothing of the oversized batch may be stored"
    );
    let small = encode_batch(
        &[(b"small", b"fits")],
        2,
        Compression::None,
        1_700_000_000_000,
    );
    let response = raw.produce(&f.topic, 0, small, -1);
    assert_eq!(
        response.error_code,
        codes::NONE,
        "a small batch on the same connection"
    );
    assert_eq!(
        response.base_offset, 10,
        "the small batch lands right after the fixture records"
    );
    let stored = f.broker.consume_all(&f.topic, 0, 0);
    assert!(
        stored.iter().all(|r| r.key_str() != "big"),
        "the oversized record was stored"
    );
    f.assert_still_serving("an oversized record");
}

#[test]
fn produce_to_an_unknown_topic_or_partition_is_an_error_not_a_crash() {
    let f = Fixture::new(&[]);
    let mut raw = f.broker.raw();
    let batch = encode_batch(&[(b"k", b"v")], 2, Compression::None, 1_700_000_000_000);
    let response = raw.produce(&f.topic, 7, batch.clone(), -1);
    assert_eq!(
        response.error_code,
        codes::UNKNOWN_TOPIC_OR_PARTITION,
        "partition 7 of a 1-partition topic"
    );
    let response = raw.produce(&topic_name("nope"), 0, batch, -1);
    assert_eq!(
        response.error_code,
        codes::UNKNOWN_TOPIC_OR_PARTITION,
        "a topic that does not exist"
    );
    f.assert_still_serving("produce to unknown partitions");
}

#[test]
fn clients_cannot_produce_to_internal_topics() {
    let f = Fixture::new(&[]);
    let mut raw = f.broker.raw();
    // A group lookup creates __consumer_offsets.
    let lookup = kafka_protocol::messages::FindCoordinatorRequest::default().with_key(
        kafka_protocol::protocol::StrBytes::from_static_str("internal-writes"),
    );
    raw.call(3, &lookup)
        .expect("FindCoordinator must be answered");
    f.broker.wait_for_topic("__consumer_offsets", 50);
    let batch = encode_batch(&[(b"k", b"v")], 2, Compression::None, 1_700_000_000_000);
    for topic in ["__consumer_offsets", "__transaction_state"] {
        let response = raw.produce(topic, 0, batch.clone(), -1);
        assert_eq!(
            response.error_code,
            codes::INVALID_TOPIC_EXCEPTION,
            "a client batch for {topic} (only its coordinator writes it)"
        );
    }
    assert_eq!(
        f.broker.watermarks("__consumer_offsets", 0),
        (0, 0),
        "nothing was written to __consumer_offsets"
    );
    f.assert_still_serving("produce to internal topics");
}
