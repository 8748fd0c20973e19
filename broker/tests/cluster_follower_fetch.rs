//! Fetch from the closest replica (KIP-392) on a 3-node cluster with one rack per broker
//! (`broker.rack` a, b, c) and the rack-aware `replica.selector.class`: a librdkafka
//! consumer with `client.rack=b` reads every record of an RF=3 topic led in rack a from the
//! rack-b follower (the brokers' per-topic consumer bytes-out counters show who served
//! them), one without `client.rack` reads from the leader; when the rack-b follower is
//! killed the consumer falls back to the leader and reads on, nothing lost or duplicated.
//! On the wire: the leader answers `preferred_read_replica` without records, a follower
//! serves consumers of Fetch v11+ up to its own high watermark (read_committed up to its
//! last stable offset) and refuses older versions and ListOffsets with
//! NOT_LEADER_OR_FOLLOWER.
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use kafka_protocol::messages::FetchResponse;
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::Offset;

const WAIT: Duration = Duration::from_secs(90);
const RACK_AWARE: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

// Kafka's error codes.
const OFFSET_OUT_OF_RANGE: i16 = 1;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;

/// Three combined nodes in racks a, b and c, the rack-aware selector on every broker.
fn racked_cluster() -> TestCluster {
    replicated_cluster_spec()
        .set("replica.selector.class", RACK_AWARE)
        .node_override(1, "broker.rack", "a")
        .node_override(2, "broker.rack", "b")
        .node_override(3, "broker.rack", "c")
        .start()
}

/// Creates `topic` with one partition on replicas 1, 2, 3 (so node 1, rack a, leads it)
/// and waits for the full ISR everywhere.
fn create_topic_led_by_node_1(cluster: &TestCluster, topic: &str) {
    cluster.create_assigned_topic(topic, &[&[1, 2, 3]]);
    cluster.await_full_isr_on_running(topic, 1, WAIT);
    let leader = cluster
        .partitions_via(1, topic)
        .and_then(|p| p.first().map(|p| p.leader));
    assert_eq!(leader, Some(1), "node 1 (rack a) should lead {topic}/0");
}

/// Produces `values` to partition 0 of `topic` (acks=all, all in flight at once).
fn produce(cluster: &TestCluster, topic: &str, values: &[String]) {
    let producer = cluster.producer_with(&[("message.timeout.ms", "60000")]);
    let deliveries: Vec<_> = values
        .iter()
        .map(|v| {
            producer
                .send_result(
                    FutureRecord::<(), String>::to(topic)
                        .partition(0)
                        .payload(v),
                )
                .unwrap_or_else(|(e, _)| panic!("enqueueing {v} failed: {e}"))
        })
        .collect();
    block_on(async {
        for (v, delivery) in values.iter().zip(deliveries) {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => panic!("producing {v} to {topic} failed: {e}"),
                Err(_) => panic!("the producer dropped the delivery of {v}"),
            }
        }
    });
}

fn values(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

/// Bytes of `topic`'s record batches node `id` has sent to consumers (its
/// `kafka_server_brokertopicmetrics_bytesout_total`; followers' fetches are not counted).
fn consumer_bytes_out(cluster: &TestCluster, id: i32, topic: &str) -> u64 {
    let url = cluster
        .node(id)
        .admin_url()
        .unwrap_or_else(|| panic!("node {id} has no admin listener"));
    let (status, text) = http("GET", &format!("{url}/metrics"), None);
    assert_eq!(status, 200, "GET {url}/metrics: {text}");
    let series = format!("kafka_server_brokertopicmetrics_bytesout_total{{topic=\"{topic}\"}}");
    text.lines()
        .filter_map(|line| line.strip_prefix(&series))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Reads from `consumer` until it holds `count` records; checks they are exactly
/// `expected` (each once, at consecutive offsets from `first_offset`).
fn read_exactly(
    consumer: &rdkafka::consumer::BaseConsumer,
    first_offset: i64,
    expected: &[String],
    what: &str,
) {
    let got = poll_until_received(&[consumer], expected.len(), WAIT, what)
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
    let want: Vec<i64> = (first_offset..first_offset + expected.len() as i64).collect();
    assert_eq!(offsets, want, "{what}: offsets read (a gap or a duplicate)");
    let got_values: BTreeSet<String> = got.iter().map(|r| r.value_str()).collect();
    let want_values: BTreeSet<String> = expected.iter().cloned().collect();
    assert_eq!(got_values, want_values, "{what}: values read");
}

#[test]
fn a_consumer_in_rack_b_reads_from_the_rack_b_follower_and_one_without_a_rack_from_the_leader() {
    let cluster = racked_cluster();
    let topic = topic_name("closest-replica");
    create_topic_led_by_node_1(&cluster, &topic);
    let produced = values("r", 0..500);
    produce(&cluster, &topic, &produced);

    let in_rack_b = cluster.consumer_with(&[("client.rack", "b")]);
    assign(&in_rack_b, &topic, 0, Offset::Beginning);
    read_exactly(&in_rack_b, 0, &produced, "the consumer in rack b");
    let served: Vec<u64> = (1..=3)
        .map(|id| consumer_bytes_out(&cluster, id, &topic))
        .collect();
    assert!(
        served[1] > 0,
        "node 2 (rack b) served the rack-b consumer no records: bytes out per node {served:?}"
    );
    assert_eq!(
        (served[0], served[2]),
        (0, 0),
        "only node 2 may have served the rack-b consumer: bytes out per node {served:?}"
    );
    drop(in_rack_b);

    let rackless = cluster.consumer();
    assign(&rackless, &topic, 0, Offset::Beginning);
    read_exactly(&rackless, 0, &produced, "the consumer without a rack");
    let after: Vec<u64> = (1..=3)
        .map(|id| consumer_bytes_out(&cluster, id, &topic))
        .collect();
    assert!(
        after[0] > 0,
        "the leader served the rack-less consumer nothing: bytes out per node {after:?}"
    );
    assert_eq!(
        (after[1], after[2]),
        (served[1], 0),
        "the followers must not serve a consumer without a rack: bytes out per node {after:?}"
    );
}

#[test]
fn when_the_rack_follower_dies_the_consumer_falls_back_to_the_leader_and_loses_nothing() {
    let mut cluster = racked_cluster();
    let topic = topic_name("closest-replica-failover");
    create_topic_led_by_node_1(&cluster, &topic);
    let before = values("before", 0..300);
    produce(&cluster, &topic, &before);

    let consumer = cluster.consumer_with(&[("client.rack", "b")]);
    assign(&consumer, &topic, 0, Offset::Beginning);
    read_exactly(&consumer, 0, &before, "the rack-b consumer before the kill");
    assert!(
        consumer_bytes_out(&cluster, 2, &topic) > 0 && consumer_bytes_out(&cluster, 1, &topic) == 0,
        "the rack-b consumer should have read from node 2 only"
    );

    cluster.kill9_node(2);
    let after = values("after", 0..300);
    produce(&cluster, &topic, &after);
    read_exactly(
        &consumer,
        before.len() as i64,
        &after,
        "the rack-b consumer after its rack's follower was killed",
    );
    assert!(
        consumer_bytes_out(&cluster, 1, &topic) > 0,
        "the records after the kill should have come from the leader"
    );
    assert_eq!(
        consumer_bytes_out(&cluster, 3, &topic),
        0,
        "node 3 (rack c) is no replica of rack b"
    );
}

fn partition(response: &FetchResponse) -> &kafka_protocol::messages::fetch_response::PartitionData {
    &response.responses[0].partitions[0]
}

fn records_len(response: &FetchResponse) -> usize {
    partition(response).records.as_ref().map_or(0, |r| r.len())
}

#[test]
fn on_the_wire_the_leader_names_the_rack_replica_and_a_follower_serves_up_to_its_high_watermark() {
    let cluster = racked_cluster();
    let topic = topic_name("closest-replica-wire");
    create_topic_led_by_node_1(&cluster, &topic);
    produce(&cluster, &topic, &values("w", 0..10));
    let mut leader = cluster.node(1).raw();
    let mut follower = cluster.node(2).raw();
    let consumer_fetch = |offset: i64, rack: &str| {
        fetch_request(&topic, 0, offset, 0).with_rack_id(
            kafka_protocol::protocol::StrBytes::from_string(rack.to_string()),
        )
    };

    let sent_on = leader.expect_call(12, &consumer_fetch(0, "b"), "Fetch v12 in rack b");
    let p = partition(&sent_on);
    assert_eq!(
        (
            p.error_code,
            p.preferred_read_replica.0,
            records_len(&sent_on)
        ),
        (0, 2, 0),
        "the leader sends a rack-b consumer to node 2, without records"
    );
    assert_eq!(p.high_watermark, 10, "with the partition's offsets");
    // In a fetch session (KIP-227) the answer is repeated in every incremental response,
    // though nothing else about the partition changed.
    let opened = leader.expect_call(
        12,
        &consumer_fetch(0, "b").with_session_epoch(0),
        "Fetch v12 in rack b opening a session",
    );
    assert_ne!(opened.session_id, 0, "the leader opened no fetch session");
    assert_eq!(partition(&opened).preferred_read_replica.0, 2);
    let incremental = leader.expect_call(
        12,
        &fetch_request(&topic, 0, 0, 0)
            .with_rack_id(kafka_protocol::protocol::StrBytes::from_string(
                "b".to_string(),
            ))
            .with_session_id(opened.session_id)
            .with_session_epoch(1)
            .with_topics(vec![]),
        "an incremental Fetch of the session",
    );
    let repeated: Vec<i32> = incremental
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.preferred_read_replica.0))
        .collect();
    assert_eq!(
        (incremental.error_code, repeated),
        (0, vec![2]),
        "the incremental response must name the preferred replica again"
    );
    for (version, rack, what) in [
        (12, "a", "in the leader's rack"),
        (12, "", "without a rack"),
        (12, "z", "in a rack without replicas"),
        (10, "b", "of a version before client racks"),
    ] {
        let response = leader.expect_call(version, &consumer_fetch(0, rack), what);
        let p = partition(&response);
        assert_eq!(
            (p.error_code, p.preferred_read_replica.0),
            (0, -1),
            "a consumer {what} reads from the leader"
        );
        assert!(records_len(&response) > 0, "a consumer {what} gets records");
    }

    // The follower serves consumers of v11+ up to the high watermark it learned.
    let mut last = None;
    wait_until(WAIT, "node 2 to serve all 10 records to a consumer", || {
        let response = follower.expect_call(12, &consumer_fetch(0, "b"), "Fetch v12 to node 2");
        let p = partition(&response);
        let ok = p.error_code == 0 && p.high_watermark == 10 && records_len(&response) > 0;
        last = Some((p.error_code, p.high_watermark, p.preferred_read_replica.0));
        ok
    });
    assert_eq!(
        last.map(|l| l.2),
        Some(-1),
        "a follower names no other replica"
    );
    let at_end = follower.expect_call(12, &consumer_fetch(10, "b"), "Fetch at the high watermark");
    assert_eq!(
        (partition(&at_end).error_code, records_len(&at_end)),
        (0, 0),
        "at the follower's high watermark: empty, no error"
    );
    let past_end = follower.expect_call(12, &consumer_fetch(11, "b"), "Fetch past the log end");
    assert_eq!(partition(&past_end).error_code, OFFSET_OUT_OF_RANGE);
    let old = follower.expect_call(10, &consumer_fetch(0, ""), "Fetch v10 to node 2");
    assert_eq!(
        partition(&old).error_code,
        NOT_LEADER_OR_FOLLOWER,
        "before v11 consumers read from the leader only"
    );
    assert_eq!(
        follower.list_offset(&topic, 0, -1).0,
        NOT_LEADER_OR_FOLLOWER,
        "ListOffsets stays with the leader"
    );

    // read_committed on the follower stops at its last stable offset: the first offset of
    // a transaction still open, then past it once committed.
    let txn = cluster.transactional_producer(&topic_name("closest-replica-txn"));
    txn.begin_transaction().expect("begin the transaction");
    send_all(&txn, &topic, &values("open", 0..2));
    let committed_fetch = |offset| consumer_fetch(offset, "b").with_isolation_level(1);
    wait_until(
        WAIT,
        "node 2 to learn the open transaction's high watermark",
        || {
            let response =
                follower.expect_call(12, &committed_fetch(0), "read_committed on node 2");
            let p = partition(&response);
            p.error_code == 0 && p.high_watermark == 12 && p.last_stable_offset == 10
        },
    );
    let open = follower.expect_call(12, &committed_fetch(10), "read_committed at the open txn");
    assert_eq!(
        (partition(&open).error_code, records_len(&open)),
        (0, 0),
        "nothing past the follower's last stable offset"
    );
    txn.commit_transaction(Duration::from_secs(30))
        .expect("commit the transaction");
    wait_until(WAIT, "node 2 to serve the committed transaction", || {
        let response = follower.expect_call(12, &committed_fetch(10), "read_committed on node 2");
        let p = partition(&response);
        p.error_code == 0 && p.last_stable_offset == 13 && records_len(&response) > 0
    });
}
