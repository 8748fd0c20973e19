//! Placement, leader election and partition reassignment on real clusters (the test kit's
//! `TestCluster`), with rdkafka producers and consumers and the wire protocol
//! (ElectLeaders, AlterPartitionReassignments, ListPartitionReassignments through
//! `RawClient`, which rdkafka lacks):
//!
//! - a partition moves to a new replica set, its leader included, under an acks=all load:
//!   every acknowledged record is readable afterwards, the new replicas hold the same bytes,
//!   the old replica's log is gone from its disk;
//! - a reassignment that cannot finish (its new replica's broker is down) is listed, shown
//!   in Metadata with every replica, and cancelled back to the original replicas;
//! - bad reassignments and elections are answered with Kafka's codes and change nothing;
//! - a broker's own dynamic config change reaches the controller from that broker;
//! - after a broker restart, leadership goes back to the preferred replica: by the
//!   controller's periodic check, and by ElectLeaders PREFERRED where that check is off;
//! - unclean election happens only where allowed (topic config, or ElectLeaders UNCLEAN);
//! - a replication throttle on the follower side, then on the leader side, holds a new
//!   replica back until it is lifted;
//! - six brokers in three racks get every partition's replicas in all three racks, and
//!   Metadata shows each broker's rack.
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ElectLeadersRequest, ElectLeadersResponse, IncrementalAlterConfigsRequest,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, MetadataRequest,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::Consumer;

const WAIT: Duration = Duration::from_secs(90);

// Kafka's error codes.
const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
const ELECTION_NOT_NEEDED: i16 = 84;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

/// Combined nodes with a short broker session, so a stopped broker is fenced in seconds.
fn cluster(nodes: i32) -> ClusterSpec {
    cluster_spec(nodes)
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "300")
        .set("replica.lag.time.max.ms", "3000")
}

/// One partition as Metadata (through node `via`) shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    leader: i32,
    replicas: Vec<i32>,
    isr: BTreeSet<i32>,
}

fn view(cluster: &TestCluster, via: i32, topic: &str, partition: i32) -> Option<View> {
    let md = cluster
        .node(via)
        .consumer()
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    let p = t.partitions().iter().find(|p| p.id() == partition)?;
    Some(View {
        leader: p.leader(),
        replicas: p.replicas().to_vec(),
        isr: p.isr().iter().copied().collect(),
    })
}

/// Waits until node `via` shows `topic`/`partition` as `check` wants it; returns that view.
fn await_view(
    cluster: &TestCluster,
    via: i32,
    topic: &str,
    partition: i32,
    what: &str,
    check: impl Fn(&View) -> bool,
) -> View {
    let mut seen = None;
    wait_until(
        WAIT,
        &format!("{topic}/{partition} {what} (via node {via})"),
        || {
            seen = view(cluster, via, topic, partition);
            seen.as_ref().is_some_and(&check)
        },
    );
    seen.expect("seen when the wait succeeded")
}

fn set_topic_config(cluster: &TestCluster, topic: &str, key: &str, value: &str) {
    let results = block_on(cluster.admin().alter_configs(
        &[AlterConfig::new(ResourceSpecifier::Topic(topic)).set(key, value)],
        &admin_options(),
    ))
    .expect("AlterConfigs round trip");
    for result in results {
        if let Err((resource, code)) = result {
            panic!("setting {key}={value} on {resource:?} failed: {code:?}");
        }
    }
}

/// IncrementalAlterConfigs of one resource (2 = topic, 4 = broker) sent to node `via`:
/// `(key, Some(value))` sets, `(key, None)` deletes. Panics unless accepted.
fn alter_configs(
    cluster: &TestCluster,
    via: i32,
    resource_type: i8,
    name: &str,
    changes: &[(&str, Option<&str>)],
) {
    let configs = changes
        .iter()
        .map(|(key, value)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(key.to_string()))
                .with_config_operation(if value.is_some() { 0 } else { 1 })
                .with_value(value.map(|v| StrBytes::from_string(v.to_string())))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(name.to_string().into())
            .with_configs(configs),
    ]);
    let response = RawClient::connect(cluster.node(via).bootstrap()).expect_call(
        1,
        &request,
        "IncrementalAlterConfigs",
    );
    let r = &response.responses[0];
    assert_eq!(
        (
            r.error_code,
            r.error_message.as_ref().map(|m| m.to_string())
        ),
        (NONE, None),
        "IncrementalAlterConfigs of {name} (type {resource_type}) {changes:?}"
    );
}

/// For `window`, the reassignment of `topic`/0 stays listed and node `new`'s copy stays
/// smaller than node `leader`'s: the throttle holds the new replica back.
fn assert_held_back(cluster: &TestCluster, topic: &str, leader: i32, new: i32, window: Duration) {
    let until = std::time::Instant::now() + window;
    while std::time::Instant::now() < until {
        let listed = list_reassignments(cluster, leader);
        assert!(
            listed.topics.iter().any(|t| t.name.0.as_str() == topic),
            "the throttled reassignment of {topic} finished within {window:?}"
        );
        let (copied, full) = (
            cluster.node(new).partition_log_bytes(topic, 0),
            cluster.node(leader).partition_log_bytes(topic, 0),
        );
        assert!(
            copied < full,
            "node {new} copied all {full} bytes of {topic}/0 despite the throttle"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn reassign(
    cluster: &TestCluster,
    via: i32,
    moves: &[(&str, i32, Option<&[i32]>)],
) -> AlterPartitionReassignmentsResponse {
    reassign_with(cluster, via, moves, true)
}

/// AlterPartitionReassignments v1, which can refuse replication factor changes (v0 allows
/// them, as Kafka's default).
fn reassign_with(
    cluster: &TestCluster,
    via: i32,
    moves: &[(&str, i32, Option<&[i32]>)],
    allow_replication_factor_change: bool,
) -> AlterPartitionReassignmentsResponse {
    let mut topics: Vec<ReassignableTopic> = Vec::new();
    for (topic, partition, replicas) in moves {
        let partition = ReassignablePartition::default()
            .with_partition_index(*partition)
            .with_replicas(replicas.map(|r| r.iter().copied().map(BrokerId).collect()));
        match topics.iter_mut().find(|t| t.name.0.as_str() == *topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                ReassignableTopic::default()
                    .with_name(topic_name_of(topic))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_allow_replication_factor_change(allow_replication_factor_change)
        .with_topics(topics);
    RawClient::connect(cluster.node(via).bootstrap()).expect_call(
        1,
        &request,
        "AlterPartitionReassignments",
    )
}

/// Per partition of the response, in request order: (topic, partition, error code).
fn reassign_codes(response: &AlterPartitionReassignmentsResponse) -> Vec<(String, i32, i16)> {
    response
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

fn list_reassignments(cluster: &TestCluster, via: i32) -> ListPartitionReassignmentsResponse {
    let request = ListPartitionReassignmentsRequest::default().with_timeout_ms(30_000);
    RawClient::connect(cluster.node(via).bootstrap()).expect_call(
        0,
        &request,
        "ListPartitionReassignments",
    )
}

fn elect(
    cluster: &TestCluster,
    via: i32,
    election_type: i8,
    partitions: &[(&str, i32)],
) -> ElectLeadersResponse {
    let mut topics: Vec<TopicPartitions> = Vec::new();
    for (topic, partition) in partitions {
        match topics.iter_mut().find(|t| t.topic.0.as_str() == *topic) {
            Some(t) => t.partitions.push(*partition),
            None => topics.push(
                TopicPartitions::default()
                    .with_topic(topic_name_of(topic))
                    .with_partitions(vec![*partition]),
            ),
        }
    }
    let request = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_topic_partitions(Some(topics))
        .with_timeout_ms(30_000);
    RawClient::connect(cluster.node(via).bootstrap()).expect_call(2, &request, "ElectLeaders")
}

fn elect_codes(response: &ElectLeadersResponse) -> Vec<(String, i32, i16)> {
    response
        .replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(|p| (t.topic.0.to_string(), p.partition_id, p.error_code))
        })
        .collect()
}

/// A listed reassignment: topic, partition, replicas, adding, removing.
type Ongoing = (String, i32, Vec<i32>, Vec<i32>, Vec<i32>);

fn stored_log(node: &TestBroker, topic: &str, partition: i32) -> Vec<u8> {
    let dir = node.data_dir().join(format!("{topic}-{partition}"));
    let mut segments: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    segments
        .iter()
        .flat_map(|s| std::fs::read(s).unwrap_or_else(|e| panic!("reading {}: {e}", s.display())))
        .collect()
}

#[test]
fn a_partition_moves_to_new_replicas_leader_included_under_acks_all_load_and_loses_nothing() {
    let cluster = cluster(4).set("min.insync.replicas", "2").start();
    let topic = topic_name("moved");
    cluster.create_assigned_topic(&topic, &[&[1, 2, 3]]);
    await_view(&cluster, 2, &topic, 0, "led by 1 with a full ISR", |v| {
        v.leader == 1 && v.isr == BTreeSet::from([1, 2, 3])
    });
    let load = ProduceLoad::start(
        &cluster,
        &topic,
        &[
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "120000"),
        ],
        Duration::from_secs(600),
    );
    wait_until(
        WAIT,
        "300 acks=all acknowledgements before the move",
        || load.acked_count() >= 300,
    );

    // 1 (the leader) leaves, 4 joins and is to lead.
    let response = reassign(&cluster, 2, &[(&topic, 0, Some(&[4, 3, 2]))]);
    assert_eq!(
        (response.error_code, reassign_codes(&response)),
        (NONE, vec![(topic.clone(), 0, NONE)]),
        "the reassignment is accepted"
    );
    let moved = await_view(
        &cluster,
        3,
        &topic,
        0,
        "on replicas 4, 3, 2, all in sync",
        |v| v.replicas == [4, 3, 2] && v.isr == BTreeSet::from([2, 3, 4]) && v.leader > 0,
    );
    assert_ne!(moved.leader, 1, "the removed replica does not lead");
    wait_until(WAIT, "ListPartitionReassignments to list nothing", || {
        list_reassignments(&cluster, 1).topics.is_empty()
    });
    let before = load.acked_count();
    wait_until(WAIT, "200 more acknowledgements after the move", || {
        load.acked_count() >= before + 200
    });
    let outcome = load.stop();
    check_acknowledged(
        &cluster,
        &topic,
        1,
        &outcome.acked_values(),
        "after moving the partition from 1,2,3 to 4,3,2",
    );

    let old_dir = cluster.node(1).data_dir().join(format!("{topic}-0"));
    wait_until(WAIT, "node 1 to delete the log it no longer hosts", || {
        !old_dir.exists()
    });
    let end = outcome
        .acked
        .iter()
        .map(|r| r.offset + 1)
        .max()
        .expect("acknowledged records");
    wait_until(
        WAIT,
        "the three new replicas to hold the same bytes",
        || {
            let logs: Vec<Vec<u8>> = [4, 3, 2]
                .iter()
                .map(|id| stored_log(cluster.node(*id), &topic, 0))
                .collect();
            logs.iter().all(|l| !l.is_empty() && *l == logs[0])
        },
    );
    let records = cluster.consume_all(&topic, 0, 0);
    assert!(
        records.len() as i64 >= end,
        "node 4 joined from the log start: {} records readable, the last acknowledged at {}",
        records.len(),
        end - 1
    );
}

#[test]
fn an_unfinished_reassignment_is_listed_shown_in_metadata_and_cancelled_and_bad_input_is_refused() {
    let mut cluster = cluster(3).start();
    let topic = topic_name("cancelled");
    cluster.create_assigned_topic(&topic, &[&[1, 2]]);
    await_view(&cluster, 1, &topic, 0, "in sync on 1, 2", |v| {
        v.isr == BTreeSet::from([1, 2])
    });
    send_all(
        &cluster.producer(),
        &topic,
        &["a".to_string(), "b".to_string()],
    );

    // A broker's own dynamic config, sent to that broker (as the Java AdminClient routes
    // it), is forwarded to the active controller and accepted there for whichever broker
    // it names.
    for id in 1..=3 {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(id.to_string().into())
                .with_configs(vec![AlterableConfig::default()
                    .with_name("log.retention.ms".into())
                    .with_config_operation(0)
                    .with_value(Some("86400000".into()))]),
        ]);
        let response = RawClient::connect(cluster.node(id).bootstrap()).expect_call(
            1,
            &request,
            "IncrementalAlterConfigs",
        );
        let r = &response.responses[0];
        assert_eq!(
            (
                r.error_code,
                r.error_message.as_ref().map(|m| m.to_string())
            ),
            (NONE, None),
            "broker {id}'s own config change, sent to it, is accepted wherever the controller runs"
        );
    }

    // Bad input first: Kafka's codes, nothing changes.
    let bad = reassign(
        &cluster,
        2,
        &[
            ("no-such-topic", 0, Some(&[1, 2])),
            (&topic, 7, Some(&[1, 2])),
            (&topic, 0, Some(&[1, 9])),
        ],
    );
    assert_eq!(
        reassign_codes(&bad),
        vec![
            ("no-such-topic".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION),
            (topic.clone(), 7, UNKNOWN_TOPIC_OR_PARTITION),
            (topic.clone(), 0, INVALID_REPLICA_ASSIGNMENT),
        ],
        "unknown topic, unknown partition, unknown broker"
    );
    for (replicas, expected, what) in [
        (
            &[2, 2][..],
            INVALID_REPLICA_ASSIGNMENT,
            "a duplicate replica",
        ),
        (&[][..], INVALID_REPLICA_ASSIGNMENT, "an empty replica list"),
        (
            &[1, 2, 3][..],
            INVALID_REPLICATION_FACTOR,
            "a replication factor change",
        ),
    ] {
        let response = reassign_with(&cluster, 3, &[(&topic, 0, Some(replicas))], false);
        assert_eq!(
            reassign_codes(&response),
            vec![(topic.clone(), 0, expected)],
            "{what} is refused"
        );
    }
    let not_moving = reassign(&cluster, 1, &[(&topic, 0, None)]);
    assert_eq!(
        reassign_codes(&not_moving),
        vec![(topic.clone(), 0, NO_REASSIGNMENT_IN_PROGRESS)]
    );
    let unknown = elect(&cluster, 2, 0, &[(&topic, 5), ("no-such-topic", 0)]);
    assert_eq!(
        elect_codes(&unknown),
        vec![
            (topic.clone(), 5, UNKNOWN_TOPIC_OR_PARTITION),
            ("no-such-topic".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    assert_eq!(
        view(&cluster, 1, &topic, 0).map(|v| v.replicas),
        Some(vec![1, 2]),
        "refused requests changed nothing"
    );

    // Broker 3 is down: a move to 1, 3 cannot finish.
    cluster.stop_node(3);
    wait_until(WAIT, "node 3 to be gone from Metadata", || {
        cluster
            .node(1)
            .consumer()
            .fetch_metadata(None, Duration::from_secs(5))
            .is_ok_and(|md| md.brokers().iter().all(|b| b.id() != 3))
    });
    let response = reassign(&cluster, 2, &[(&topic, 0, Some(&[1, 3]))]);
    assert_eq!(reassign_codes(&response), vec![(topic.clone(), 0, NONE)]);
    let listed = list_reassignments(&cluster, 1);
    let ongoing: Vec<Ongoing> = listed
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                )
            })
        })
        .collect();
    assert_eq!(
        ongoing,
        vec![(topic.clone(), 0, vec![1, 3, 2], vec![3], vec![2])],
        "the move is listed: target first, then the replica being removed"
    );
    let during = view(&cluster, 2, &topic, 0).expect("metadata during the move");
    assert_eq!(
        (during.replicas, during.isr),
        (vec![1, 3, 2], BTreeSet::from([1, 2])),
        "Metadata shows every replica during the move, the new one out of sync"
    );

    let cancelled = reassign(&cluster, 1, &[(&topic, 0, None)]);
    assert_eq!(reassign_codes(&cancelled), vec![(topic.clone(), 0, NONE)]);
    await_view(&cluster, 2, &topic, 0, "back on 1, 2", |v| {
        v.replicas == [1, 2] && v.isr == BTreeSet::from([1, 2])
    });
    assert!(
        list_reassignments(&cluster, 2).topics.is_empty(),
        "nothing is moving after the cancel"
    );
    // Node 3 is still down: read through node 1 alone.
    let values: Vec<String> = cluster
        .node(1)
        .consume_all(&topic, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    assert_eq!(values, ["a", "b"], "the records stayed where they were");
}

#[test]
fn a_replication_throttle_on_either_side_holds_a_new_replica_back_until_it_is_lifted() {
    let cluster = cluster(3).start();
    let topic = topic_name("throttled");
    cluster.create_assigned_topic(&topic, &[&[1, 2]]);
    await_view(&cluster, 1, &topic, 0, "in sync on 1, 2", |v| {
        v.isr.len() == 2
    });
    // 3 MB: a new replica needs at least three fetches of replica.fetch.max.bytes (1 MiB).
    let value = "x".repeat(10_000);
    let values: Vec<String> = (0..300).map(|i| format!("{i:04}{value}")).collect();
    send_all(&cluster.producer(), &topic, &values);
    let leader = view(&cluster, 1, &topic, 0).expect("metadata").leader;

    // Follower side first: node 3 limits itself to 1 kB/s for partition 0 (both set
    // through node 3, which answers once it applied them).
    alter_configs(
        &cluster,
        3,
        4,
        "3",
        &[("follower.replication.throttled.rate", Some("1000"))],
    );
    alter_configs(
        &cluster,
        3,
        2,
        &topic,
        &[("follower.replication.throttled.replicas", Some("0:3"))],
    );
    let response = reassign(&cluster, 2, &[(&topic, 0, Some(&[1, 2, 3]))]);
    assert_eq!(reassign_codes(&response), vec![(topic.clone(), 0, NONE)]);
    wait_until(WAIT, "node 3 to copy a first part of the partition", || {
        cluster.node(3).partition_log_bytes(&topic, 0) > 0
    });
    assert_held_back(&cluster, &topic, leader, 3, Duration::from_secs(3));

    // Leader side only: 1 kB/s for partition 0's replicas on 1 and 2, as
    // `kafka-reassign-partitions --throttle` sets it (in place on the leader before the
    // follower throttle goes, so that nothing copies freely in between).
    for id in [1, 2] {
        alter_configs(
            &cluster,
            id,
            4,
            &id.to_string(),
            &[("leader.replication.throttled.rate", Some("1000"))],
        );
    }
    alter_configs(
        &cluster,
        leader,
        2,
        &topic,
        &[("leader.replication.throttled.replicas", Some("0:1,0:2"))],
    );
    alter_configs(
        &cluster,
        leader,
        2,
        &topic,
        &[("follower.replication.throttled.replicas", None)],
    );
    alter_configs(
        &cluster,
        leader,
        4,
        "3",
        &[("follower.replication.throttled.rate", None)],
    );
    let before = cluster.node(3).partition_log_bytes(&topic, 0);
    wait_until(
        WAIT,
        "node 3 to copy more once its own throttle is gone",
        || cluster.node(3).partition_log_bytes(&topic, 0) > before,
    );
    assert_held_back(&cluster, &topic, leader, 3, Duration::from_secs(3));

    // Lifted (as `--verify` does): the move completes and node 3 holds every byte.
    for id in [1, 2] {
        alter_configs(
            &cluster,
            id,
            4,
            &id.to_string(),
            &[("leader.replication.throttled.rate", None)],
        );
    }
    await_view(&cluster, 1, &topic, 0, "on 1, 2, 3, all in sync", |v| {
        v.replicas == [1, 2, 3] && v.isr.len() == 3
    });
    wait_until(WAIT, "node 3 to hold the leader's bytes", || {
        stored_log(cluster.node(3), &topic, 0) == stored_log(cluster.node(leader), &topic, 0)
    });
}

#[test]
fn leadership_returns_to_the_preferred_replica_after_a_restart_automatically_and_by_request() {
    let mut cluster = cluster(3)
        .set("leader.imbalance.check.interval.seconds", "1")
        .start();
    let auto = topic_name("auto");
    cluster.create_assigned_topic(&auto, &[&[1, 2, 3]]);
    await_view(&cluster, 2, &auto, 0, "led by 1 with a full ISR", |v| {
        v.leader == 1 && v.isr.len() == 3
    });
    let values: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    send_all(&cluster.producer(), &auto, &values);

    cluster.stop_node(1);
    await_view(&cluster, 2, &auto, 0, "led by another broker", |v| {
        v.leader > 1
    });
    cluster.restart_node(1);
    await_view(&cluster, 2, &auto, 0, "led by 1 again", |v| {
        v.leader == 1 && v.isr.len() == 3
    });
    let stored: Vec<String> = cluster
        .consume_all(&auto, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    assert_eq!(stored, values);

    let election = elect(&cluster, 3, 0, &[(&auto, 0)]);
    assert_eq!(
        (election.error_code, elect_codes(&election)),
        (NONE, vec![(auto.clone(), 0, ELECTION_NOT_NEEDED)]),
        "the preferred replica leads already"
    );
}

#[test]
fn elect_leaders_preferred_moves_leadership_back_when_auto_rebalance_is_off() {
    let mut cluster = cluster(3)
        .set("auto.leader.rebalance.enable", "false")
        .start();
    let topic = topic_name("manual");
    cluster.create_assigned_topic(&topic, &[&[1, 2, 3]]);
    await_view(&cluster, 2, &topic, 0, "led by 1 with a full ISR", |v| {
        v.leader == 1 && v.isr.len() == 3
    });
    cluster.stop_node(1);
    let failed_over = await_view(&cluster, 2, &topic, 0, "led by another broker", |v| {
        v.leader > 1
    });
    let election = elect(&cluster, 2, 0, &[(&topic, 0)]);
    assert_eq!(
        elect_codes(&election),
        vec![(topic.clone(), 0, PREFERRED_LEADER_NOT_AVAILABLE)],
        "broker 1 is down"
    );
    cluster.restart_node(1);
    await_view(&cluster, 2, &topic, 0, "with 1 back in the ISR", |v| {
        v.isr.len() == 3
    });
    assert_eq!(
        view(&cluster, 2, &topic, 0).map(|v| v.leader),
        Some(failed_over.leader),
        "without auto rebalance the leader stays where it failed over to"
    );
    let election = elect(&cluster, 3, 0, &[(&topic, 0)]);
    assert_eq!(elect_codes(&election), vec![(topic.clone(), 0, NONE)]);
    await_view(&cluster, 1, &topic, 0, "led by 1 after the election", |v| {
        v.leader == 1
    });
}

#[test]
fn unclean_election_happens_only_where_the_topic_allows_it_or_an_admin_asks() {
    // Five voters keep a quorum while the two nodes holding the topics are down.
    let mut cluster = cluster(5).set("min.insync.replicas", "1").start();
    let allowed = topic_name("allowed");
    let asked = topic_name("asked");
    for topic in [&allowed, &asked] {
        cluster.create_assigned_topic(topic, &[&[4, 5]]);
        await_view(&cluster, 1, topic, 0, "in sync on 4, 5", |v| {
            v.leader == 4 && v.isr.len() == 2
        });
    }
    // 5 stops and leaves the ISRs; records go to 4 alone; then 4 stops too.
    cluster.stop_node(5);
    for topic in [&allowed, &asked] {
        await_view(&cluster, 1, topic, 0, "with ISR 4 alone", |v| {
            v.isr == BTreeSet::from([4])
        });
        send_all(&cluster.producer(), topic, &["only-on-4".to_string()]);
    }
    cluster.stop_node(4);
    // 4 is fenced — by its controlled shutdown, or by its session's expiry when that did
    // not finish on a loaded machine — before anything is asked of it.
    for topic in [&allowed, &asked] {
        await_view(&cluster, 1, topic, 0, "without a live leader", |v| {
            v.leader == -1
        });
    }
    cluster.restart_node(5);
    wait_until(WAIT, "node 5 to be back in Metadata", || {
        cluster
            .node(1)
            .consumer()
            .fetch_metadata(None, Duration::from_secs(5))
            .is_ok_and(|md| md.brokers().iter().any(|b| b.id() == 5))
    });
    // unclean.leader.election.enable is false by default: the out-of-sync 5 does not lead.
    for topic in [&allowed, &asked] {
        let v = view(&cluster, 1, topic, 0).expect("metadata");
        assert_ne!(
            v.leader, 5,
            "{topic}: the out-of-sync replica must not lead: {v:?}"
        );
        let election = elect(&cluster, 2, 0, &[(topic, 0)]);
        assert_eq!(
            elect_codes(&election),
            vec![(topic.clone(), 0, PREFERRED_LEADER_NOT_AVAILABLE)]
        );
    }

    set_topic_config(&cluster, &allowed, "unclean.leader.election.enable", "true");
    let elected = await_view(&cluster, 1, &allowed, 0, "led uncleanly by 5", |v| {
        v.leader == 5
    });
    assert_eq!(elected.isr, BTreeSet::from([5]));
    assert!(
        view(&cluster, 1, &asked, 0).is_some_and(|v| v.leader != 5),
        "the other topic does not allow unclean election"
    );
    let election = elect(&cluster, 2, 1, &[(&asked, 0)]);
    assert_eq!(elect_codes(&election), vec![(asked.clone(), 0, NONE)]);
    await_view(
        &cluster,
        1,
        &asked,
        0,
        "led by 5 after ElectLeaders UNCLEAN",
        |v| v.leader == 5,
    );
    let again = elect(&cluster, 2, 1, &[(&asked, 0)]);
    assert_eq!(
        elect_codes(&again),
        vec![(asked.clone(), 0, ELECTION_NOT_NEEDED)]
    );
}

#[test]
fn six_brokers_in_three_racks_get_every_partition_in_three_racks() {
    let mut spec = cluster_spec(6);
    let rack_of = |id: i32| format!("rack-{}", (id - 1) % 3);
    for id in 1..=6 {
        spec = spec.node_override(id, "broker.rack", &rack_of(id));
    }
    let cluster = spec.start();
    let topic = topic_name("racks");
    let results = block_on(cluster.admin().create_topics(
        &[NewTopic::new(&topic, 12, TopicReplication::Fixed(3))],
        &admin_options().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .expect("CreateTopics round trip");
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let mut raw = RawClient::connect(cluster.node(4).bootstrap());
    let md = raw.expect_call(
        12,
        &MetadataRequest::default().with_topics(None),
        "Metadata",
    );
    let racks: Vec<(i32, Option<String>)> = md
        .brokers
        .iter()
        .map(|b| (b.node_id.0, b.rack.as_ref().map(|r| r.to_string())))
        .collect();
    for id in 1..=6 {
        assert!(
            racks.contains(&(id, Some(rack_of(id)))),
            "Metadata shows broker {id} in {}: {racks:?}",
            rack_of(id)
        );
    }
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
        .expect("the topic in Metadata");
    assert_eq!(t.partitions.len(), 12);
    let mut leaders = BTreeSet::new();
    for p in &t.partitions {
        let replica_racks: BTreeSet<String> =
            p.replica_nodes.iter().map(|b| rack_of(b.0)).collect();
        assert_eq!(
            replica_racks.len(),
            3,
            "partition {} has replicas {:?}, not one in each rack",
            p.partition_index,
            p.replica_nodes
        );
        leaders.insert(p.leader_id.0);
    }
    assert_eq!(
        leaders.len(),
        6,
        "12 partitions over 6 brokers: every broker leads some ({leaders:?})"
    );
}
