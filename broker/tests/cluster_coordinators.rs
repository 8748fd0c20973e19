//! Group and transaction coordinators on a 3-node cluster started with the cluster issue's
//! command line (`TestCluster`): the internal topics at Kafka's replication factors (3 —
//! refused while fewer brokers are registered), FindCoordinator naming the leader of the
//! key's internal partition on any broker, NOT_COORDINATOR elsewhere, consumer groups
//! coordinated by another broker than the one bootstrapped, transactions whose partitions
//! are led by different brokers (markers through WriteTxnMarkers, verification through
//! AddPartitionsToTxn verify-only) and coordinators moving after kill -9.
//!
//! Until replication lands, a partition's data lives only on its leader: a coordinator that
//! moves to another replica of its internal partition starts from what that replica holds
//! (nothing), so the failover test checks that the group and a new transaction work again,
//! not that the moved coordinator remembers what the dead one stored.
mod common;

use std::time::Duration;

use common::*;
use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;

const WAIT: Duration = Duration::from_secs(60);

const COORDINATOR_NOT_AVAILABLE: i16 = 15;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// The cluster command line with its topic defaults, nothing about internal topics.
fn three_nodes() -> ClusterSpec {
    cluster_spec(3)
        .set("default.replication.factor", "3")
        .set("min.insync.replicas", "2")
}

/// FindCoordinator v4 for one key through node `via`: `(error code, node id)`.
fn find_coordinator(cluster: &TestCluster, via: i32, key_type: i8, key: &str) -> (i16, i32) {
    let mut raw = RawClient::connect(cluster.node(via).bootstrap());
    let request = FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(vec![StrBytes::from_string(key.to_owned())]);
    let response: FindCoordinatorResponse = raw.expect_call(4, &request, "FindCoordinator v4");
    let c = response
        .coordinators
        .first()
        .expect("FindCoordinator v4 answers one coordinator per key");
    (c.error_code, c.node_id.0)
}

/// Waits until FindCoordinator through node `via` names a coordinator for `key`.
fn await_coordinator(cluster: &TestCluster, via: i32, key_type: i8, key: &str) -> i32 {
    let mut found = -1;
    let mut last = (0, -1);
    wait_until(
        WAIT,
        &format!("node {via} to name a coordinator of {key} (last answer {last:?})"),
        || {
            last = find_coordinator(cluster, via, key_type, key);
            found = last.1;
            last.0 == 0 && found > 0
        },
    );
    found
}

/// Node `via`'s Metadata through the raw client (an rdkafka consumer would look up its
/// group's coordinator, and so create `__consumer_offsets`): broker ids and topic names.
fn raw_metadata(cluster: &TestCluster, via: i32) -> Option<(Vec<i32>, Vec<String>)> {
    let mut raw = RawClient::connect(cluster.node(via).bootstrap());
    let response: MetadataResponse = raw.call(12, &MetadataRequest::default()).ok()?;
    let mut brokers: Vec<i32> = response.brokers.iter().map(|b| b.node_id.0).collect();
    brokers.sort();
    let topics = response
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    Some((brokers, topics))
}

/// Waits until node `via` lists exactly `brokers`, through the raw client.
fn await_brokers(cluster: &TestCluster, via: i32, brokers: &[i32]) {
    wait_until(
        WAIT,
        &format!("node {via} to list brokers {brokers:?}"),
        || raw_metadata(cluster, via).is_some_and(|(ids, _)| ids == brokers),
    );
}

/// `topic`'s partitions (replicas by partition) as node `via`'s Metadata lists them.
fn replicas_of(cluster: &TestCluster, via: i32, topic: &str) -> Vec<Vec<i32>> {
    let md = cluster
        .node(via)
        .consumer()
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("metadata");
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("topic in metadata");
    let mut partitions: Vec<_> = t.partitions().iter().collect();
    partitions.sort_by_key(|p| p.id());
    partitions.iter().map(|p| p.replicas().to_vec()).collect()
}

fn topic_config(cluster: &TestCluster, via: i32, topic: &str, name: &str) -> Option<String> {
    let admin: AdminClient<DefaultClientContext> = client_config(cluster.node(via).bootstrap())
        .create()
        .expect("admin client");
    let results =
        block_on(admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &admin_options()))
            .expect("DescribeConfigs round trip");
    let resource = results
        .into_iter()
        .next()
        .expect("one resource")
        .expect("DescribeConfigs of the topic");
    resource.get(name).and_then(|e| e.value.clone())
}

/// The cluster command line carries no internal-topic settings: `__consumer_offsets` and
/// `__transaction_state` get Kafka's replication factor 3 (and the transaction log
/// min.insync.replicas 2), and while only two brokers are registered they cannot be
/// created: FindCoordinator answers COORDINATOR_NOT_AVAILABLE rather than creating them at
/// replication factor 2 or 1. Once the third broker is back, lookups succeed and every
/// partition has three replicas.
#[test]
fn internal_topics_wait_for_their_replication_factor_of_three() {
    // No rdkafka consumer before the check: its group lookup would create the topics.
    let mut cluster = three_nodes().launch();
    for via in [1, 2, 3] {
        await_brokers(&cluster, via, &[1, 2, 3]);
    }
    cluster.stop_node(3);
    // A stopped broker is fenced by its controlled shutdown: Metadata lists the live ones.
    for via in [1, 2] {
        await_brokers(&cluster, via, &[1, 2]);
    }
    for (key_type, key) in [
        (KEY_TYPE_GROUP, "g-early"),
        (KEY_TYPE_TRANSACTION, "t-early"),
    ] {
        for via in [1, 2] {
            let (code, node) = find_coordinator(&cluster, via, key_type, key);
            assert_eq!(
                (code, node),
                (COORDINATOR_NOT_AVAILABLE, -1),
                "with two of three brokers registered, FindCoordinator for {key} through \
                 node {via} must answer COORDINATOR_NOT_AVAILABLE (the internal topic \
                 needs replication factor 3)"
            );
        }
    }
    let (_, topics) = raw_metadata(&cluster, 1).expect("metadata of node 1");
    assert!(
        !topics
            .iter()
            .any(|t| t == "__consumer_offsets" || t == "__transaction_state"),
        "no internal topic may be created below its replication factor: {topics:?}"
    );

    cluster.restart_node(3);
    cluster.wait_ready(WAIT);
    await_coordinator(&cluster, 1, KEY_TYPE_GROUP, "g-late");
    await_coordinator(&cluster, 2, KEY_TYPE_TRANSACTION, "t-late");
    for topic in ["__consumer_offsets", "__transaction_state"] {
        let replicas = replicas_of(&cluster, 3, topic);
        assert!(!replicas.is_empty(), "{topic} has partitions");
        for (p, r) in replicas.iter().enumerate() {
            let mut sorted = r.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                [1, 2, 3],
                "{topic}-{p} must have a replica on every broker"
            );
        }
    }
    assert_eq!(
        topic_config(&cluster, 1, "__transaction_state", "min.insync.replicas").as_deref(),
        Some("2"),
        "__transaction_state takes transaction.state.log.min.isr (Kafka's default 2)"
    );
}
