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
use rdkafka::producer::Producer;

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

/// The leader of every partition of `topic` as node `via` lists it, by partition.
fn leaders_of(cluster: &TestCluster, via: i32, topic: &str) -> Vec<i32> {
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
    partitions.iter().map(|p| p.leader()).collect()
}

/// A key of `key_type` (`prefix-N`) whose coordinator is not on any of `avoid`; returns
/// the key and its coordinator.
fn key_coordinated_away_from(
    cluster: &TestCluster,
    key_type: i8,
    prefix: &str,
    avoid: &[i32],
) -> (String, i32) {
    for n in 0..64 {
        let key = format!("{prefix}-{n}");
        let node = await_coordinator(cluster, 1, key_type, &key);
        if !avoid.contains(&node) {
            return (key, node);
        }
    }
    panic!("no {prefix}-N among 64 keys is coordinated away from {avoid:?}");
}

/// Creates `topic` at the cluster's default replication factor (3; min.insync.replicas is
/// 2, so replication factor 1 would refuse acks=all writes) and waits for its leaders.
fn create_replicated_topic(cluster: &TestCluster, topic: &str, partitions: i32) {
    use rdkafka::admin::{NewTopic, TopicReplication};
    let results = block_on(cluster.admin().create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(3))],
        &admin_options(),
    ))
    .expect("CreateTopics round trip");
    for r in results {
        r.unwrap_or_else(|(name, code)| panic!("creating {name} failed: {code:?}"));
    }
    cluster.wait_for_topic(topic, partitions);
}

/// Sends `value` to `topic`/`partition` with `producer` and waits for the acknowledgement.
fn send_to(producer: &rdkafka::producer::FutureProducer, topic: &str, partition: i32, value: &str) {
    block_on(
        producer.send(
            rdkafka::producer::FutureRecord::<(), str>::to(topic)
                .partition(partition)
                .payload(value),
            Duration::from_secs(30),
        ),
    )
    .unwrap_or_else(|(e, _)| panic!("send to {topic}-{partition} was not acknowledged: {e}"));
}

/// A transactional producer whose only bootstrap broker is not its transaction
/// coordinator writes transactions over three partitions led by three brokers: the
/// coordinator writes the markers on the two partitions it does not lead with
/// WriteTxnMarkers, and the leaders verify each partition's first transactional batch with
/// the coordinator's broker (AddPartitionsToTxn verify-only). A read_committed consumer
/// sees the committed transactions' records and none of the aborted one's.
#[test]
fn transactions_span_partitions_led_by_different_brokers() {
    let cluster = three_nodes().start();
    let topic = topic_name("txn-spread");
    create_replicated_topic(&cluster, &topic, 3);
    let mut leaders = leaders_of(&cluster, 1, &topic);
    leaders.sort();
    assert_eq!(
        leaders,
        [1, 2, 3],
        "round-robin placement gives each broker one partition"
    );
    let (transactional_id, coordinator) =
        key_coordinated_away_from(&cluster, KEY_TYPE_TRANSACTION, "spread", &[]);
    let bootstrap = [1, 2, 3]
        .into_iter()
        .find(|n| *n != coordinator)
        .expect("a broker other than the coordinator");
    let producer = BootstrapServers(cluster.node(bootstrap).bootstrap().to_string())
        .transactional_producer(&transactional_id);
    for (round, end) in [
        ("c1", TxnEnd::Commit),
        ("a1", TxnEnd::Abort),
        ("c2", TxnEnd::Commit),
    ] {
        producer.begin_transaction().expect("begin_transaction");
        for p in 0..3 {
            send_to(&producer, &topic, p, &format!("{round}-p{p}"));
        }
        let ended = match end {
            TxnEnd::Commit => producer.commit_transaction(Duration::from_secs(30)),
            TxnEnd::Abort => producer.abort_transaction(Duration::from_secs(30)),
        };
        ended.unwrap_or_else(|e| {
            panic!("{end:?} of transaction {round} (coordinator {coordinator}) failed: {e}")
        });
    }
    for p in 0..3 {
        assert_eq!(
            cluster.committed_values(&topic, p),
            [format!("c1-p{p}"), format!("c2-p{p}")],
            "partition {p} read_committed: the committed transactions' records only \
             (coordinator {coordinator}, bootstrap {bootstrap})"
        );
    }
}

/// A consumer bootstrapped at one broker finds its group's coordinator on another, joins,
/// consumes and commits there; a transactional producer whose coordinator is a third
/// broker (or at least not the group's) commits the group's offsets in its transaction
/// (TxnOffsetCommit at the group coordinator, verified with the transaction coordinator's
/// broker), and the group sees them once the transaction commits.
#[test]
fn groups_and_transactional_offsets_with_coordinators_on_other_brokers() {
    use rdkafka::consumer::{BaseConsumer, CommitMode};
    use rdkafka::{Offset, TopicPartitionList};

    let cluster = three_nodes().start();
    let topic = topic_name("grp-remote");
    create_replicated_topic(&cluster, &topic, 1);
    for i in 0..3 {
        send_to(&cluster.producer(), &topic, 0, &format!("v{i}"));
    }
    let (group, group_coordinator) =
        key_coordinated_away_from(&cluster, KEY_TYPE_GROUP, "remote-group", &[1]);
    let consumer: BaseConsumer = client_config(cluster.node(1).bootstrap())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .create()
        .expect("group consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut seen = Vec::new();
    wait_until(
        WAIT,
        &format!("group {group} (coordinator {group_coordinator}) to deliver 3 records"),
        || {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
                seen.push(rdkafka::Message::offset(&m));
            }
            seen.len() >= 3
        },
    );
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit through the remote coordinator");
    let committed = consumer
        .committed(Duration::from_secs(10))
        .expect("OffsetFetch through the remote coordinator");
    assert_eq!(
        committed.find_partition(&topic, 0).map(|e| e.offset()),
        Some(Offset::Offset(3)),
        "the group's commit is stored by its coordinator {group_coordinator}"
    );

    let (transactional_id, txn_coordinator) = key_coordinated_away_from(
        &cluster,
        KEY_TYPE_TRANSACTION,
        "offsets-txn",
        &[group_coordinator],
    );
    let producer = BootstrapServers(cluster.node(1).bootstrap().to_string())
        .transactional_producer(&transactional_id);
    producer.begin_transaction().expect("begin_transaction");
    send_to(&producer, &topic, 0, "in-txn");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(4))
        .expect("offset list");
    let metadata = consumer
        .group_metadata()
        .expect("group metadata of a subscribed consumer");
    producer
        .send_offsets_to_transaction(&offsets, &metadata, Duration::from_secs(30))
        .unwrap_or_else(|e| {
            panic!(
                "send_offsets_to_transaction (group coordinator {group_coordinator}, \
                 transaction coordinator {txn_coordinator}) failed: {e}"
            )
        });
    producer
        .commit_transaction(Duration::from_secs(30))
        .expect("commit of the transaction with the group's offsets");
    let mut committed = None;
    wait_until(
        WAIT,
        "the transactional offset to be committed for the group",
        || {
            committed = consumer
                .committed(Duration::from_secs(10))
                .ok()
                .and_then(|c| c.find_partition(&topic, 0).map(|e| e.offset()));
            committed == Some(Offset::Offset(4))
        },
    );
}

const NOT_ENOUGH_REPLICAS: i16 = 19;

/// A partition leader that cannot reach the transaction coordinator to verify a
/// transactional batch (KIP-890) answers the producer NOT_ENOUGH_REPLICAS — retriable, as
/// Kafka maps a coordinator it cannot reach — never a fatal UNKNOWN_SERVER_ERROR (which
/// made Kafka Streams under exactly_once_v2 kill a stream thread when a broker died), and
/// appends nothing: once the coordinator is back, the same batch (sequence 0) is taken.
#[test]
fn transactional_produce_while_the_coordinator_is_unreachable_is_retriable() {
    // The killed coordinator stays registered and unfenced for 15 s, so the leader keeps
    // asking it (and failing to connect) rather than a successor; its restart registers
    // again once that session ran out (a live node id is refused, as in Kafka).
    let mut cluster = three_nodes()
        .set("broker.session.timeout.ms", "15000")
        .start();
    let topic = topic_name("txn-unreachable");
    create_replicated_topic(&cluster, &topic, 1);
    let leader = leaders_of(&cluster, 1, &topic)[0];
    let (transactional_id, coordinator) =
        key_coordinated_away_from(&cluster, KEY_TYPE_TRANSACTION, "unreachable", &[leader]);
    let (pid, epoch) = {
        let mut at_coordinator = RawClient::connect(cluster.node(coordinator).bootstrap());
        let (pid, epoch) = at_coordinator.init_txn_ok(&transactional_id);
        assert_eq!(
            at_coordinator.add_partition(&transactional_id, pid, epoch, &topic),
            codes::NONE,
            "AddPartitionsToTxn at the coordinator"
        );
        (pid, epoch)
    };
    cluster.kill9_node(coordinator);

    let mut at_leader = RawClient::connect(cluster.node(leader).bootstrap());
    let refused = at_leader.produce_txn(&transactional_id, &topic, &[b"first"], pid, epoch, 0);
    assert_eq!(
        refused.error_code, NOT_ENOUGH_REPLICAS,
        "a transactional batch whose coordinator (node {coordinator}) is down: retriable \
         NOT_ENOUGH_REPLICAS, got {} ({:?})",
        refused.error_code, refused.error_message
    );
    assert_eq!(
        at_leader.list_offset(&topic, 0, -1).1,
        0,
        "nothing was appended by the refused batch"
    );

    cluster.restart_node(coordinator);
    let mut taken = None;
    wait_until(WAIT, "the batch taken once the coordinator is back", || {
        let r = at_leader.produce_txn(&transactional_id, &topic, &[b"first"], pid, epoch, 0);
        match r.error_code {
            codes::NONE => {
                taken = Some(r.base_offset);
                true
            }
            NOT_ENOUGH_REPLICAS | codes::COORDINATOR_LOAD_IN_PROGRESS => false,
            other => panic!(
                "after the coordinator's restart the batch got {other} ({:?})",
                r.error_message
            ),
        }
    });
    assert_eq!(taken, Some(0), "the batch is the partition's first record");
}
