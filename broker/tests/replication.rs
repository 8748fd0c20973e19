//! Replication as a single broker shows it on the wire: follower fetches (Fetch with a
//! replica id, v11 and v15+'s `replica_state`) from a broker that is not a replica, or with
//! a leader epoch the partition does not have, are refused with Kafka's errors and change
//! nothing stored; acks=all is refused with NOT_ENOUGH_REPLICAS when the ISR is smaller
//! than `min.insync.replicas`, before anything is written. (Replication between brokers is
//! tested on a cluster, and the follower append path, the purgatory, the high watermark
//! and truncation beside the code.)
mod common;

use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, MetadataRequest};
use kafka_protocol::records::Compression;
use uuid::Uuid;

// Kafka's error codes.
const OFFSET_OUT_OF_RANGE: i16 = 1;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

fn topic_id(raw: &mut RawClient, topic: &str) -> Uuid {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name_of(topic))),
    ]));
    let response = raw
        .call(12, &request)
        .unwrap_or_else(|e| panic!("Metadata for {topic}: {e:#}"));
    response.topics[0].topic_id
}

/// A Fetch of partition 0 of `topic` from offset 0 as broker `replica_id` sends it at
/// `version` (by name before v13, by id from v13; replica id in `replica_state` from v15).
fn replica_fetch(
    version: i16,
    topic: &str,
    id: Uuid,
    replica_id: i32,
    current_leader_epoch: i32,
    last_fetched_epoch: i32,
) -> FetchRequest {
    let partition = FetchPartition::default()
        .with_partition(0)
        .with_current_leader_epoch(current_leader_epoch)
        .with_fetch_offset(0)
        .with_last_fetched_epoch(last_fetched_epoch)
        .with_log_start_offset(0)
        .with_partition_max_bytes(1 << 20);
    let mut request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name_of(topic))
            .with_topic_id(id)
            .with_partitions(vec![partition])]);
    if version >= 15 {
        request = request.with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(replica_id))
                .with_replica_epoch(-1),
        );
    } else {
        request = request.with_replica_id(BrokerId(replica_id));
    }
    request
}

fn partition_error(response: &FetchResponse) -> (i16, usize) {
    let p = &response.responses[0].partitions[0];
    (p.error_code, p.records.as_ref().map_or(0, |r| r.len()))
}

#[test]
fn follower_fetches_from_brokers_outside_the_replica_set_are_refused_and_change_nothing() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("not-a-replica", 1);
    let mut raw = broker.raw();
    let id = topic_id(&mut raw, &topic);
    let batch = encode_batch(
        &[(b"k", b"a"), (b"k", b"b"), (b"k", b"c")],
        2,
        Compression::None,
        now_ms(),
    );
    let produced = raw.produce(&topic, 0, batch, -1);
    assert_eq!(
        produced.error_code, 0,
        "acks=all on a single replica: {produced:?}"
    );

    let cases = [
        // v15+: the replica id travels in replica_state; the epoch matches ours.
        (17, 0, UNKNOWN_LEADER_EPOCH),
        // Without a leader epoch Kafka cannot tell who is stale.
        (17, -1, NOT_LEADER_OR_FOLLOWER),
        (11, -1, NOT_LEADER_OR_FOLLOWER),
        (12, 0, UNKNOWN_LEADER_EPOCH),
    ];
    for (version, epoch, expected) in cases {
        let request = replica_fetch(version, &topic, id, 7, epoch, -1);
        let response = raw.expect_call(version, &request, "follower fetch");
        assert_eq!(
            partition_error(&response),
            (expected, 0),
            "Fetch v{version} from broker 7 (no replica) with leader epoch {epoch} must be refused without records"
        );
    }
    // A leader epoch newer than the partition's is unknown, whoever asks.
    let request = replica_fetch(17, &topic, id, 1, 5, -1);
    let response = raw.expect_call(17, &request, "follower fetch");
    assert_eq!(partition_error(&response), (UNKNOWN_LEADER_EPOCH, 0));
    // An epoch the leader's log cannot place is OFFSET_OUT_OF_RANGE (Kafka's readRecords).
    let request = replica_fetch(17, &topic, id, -1, 0, 9);
    let response = raw.expect_call(17, &request, "consumer fetch with a future last epoch");
    assert_eq!(partition_error(&response).0, OFFSET_OUT_OF_RANGE);

    // Nothing changed: a consumer still reads the three records below the high watermark.
    let consumer = raw.expect_call(
        12,
        &replica_fetch(12, &topic, id, -1, -1, -1),
        "consumer fetch",
    );
    let p = &consumer.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 3, "the refused fetches moved no offset");
    assert!(
        p.records.as_ref().is_some_and(|r| !r.is_empty()),
        "the records are still there"
    );
}

#[test]
fn acks_all_below_min_insync_replicas_is_refused_before_anything_is_written() {
    let broker = TestBroker::start();
    let topic = format!("min-isr-{}", std::process::id());
    broker.create_topic(&topic, 1, &[("min.insync.replicas", "2")]);
    let mut raw = broker.raw();
    let batch = encode_batch(&[(b"k", b"x")], 2, Compression::None, now_ms());
    let refused = raw.produce(&topic, 0, batch.clone(), -1);
    assert_eq!(
        refused.error_code, NOT_ENOUGH_REPLICAS,
        "an ISR of 1 below min.insync.replicas 2 refuses acks=all: {refused:?}"
    );
    // acks=1 does not need the ISR, and the refused batch was not written.
    let accepted = raw.produce(&topic, 0, batch, 1);
    assert_eq!((accepted.error_code, accepted.base_offset), (0, 0));
}
