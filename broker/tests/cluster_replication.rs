//! ISR replication end to end on a 3-node cluster of combined nodes (the test kit's
//! `TestCluster`, the command line), with real rdkafka clients: RF=3 and
//! min.insync.replicas=2; an idempotent acks=all producer keeps writing while the leader of
//! every partition in turn is killed with SIGKILL and restarted, and every acknowledged
//! record is read back exactly once, in order per partition, while a consumer group keeps
//! consuming; acks=all with two of three brokers stopped is refused with
//! NOT_ENOUGH_REPLICAS and loses nothing acknowledged; a leader that wrote acks=1 records
//! its followers never fetched, then died, truncates that tail when it rejoins, and all
//! three replicas end byte for byte equal; AlterPartition from a stale broker epoch, or to a
//! controller that is not active, is refused with Kafka's errors and changes nothing.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{AlterPartitionRequest, BrokerId, MetadataRequest};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(90);

// Kafka's error codes.
const NOT_CONTROLLER: i16 = 41;
const STALE_BROKER_EPOCH: i16 = 77;

fn create_topic(cluster: &TestCluster, topic: &str, partitions: i32) {
    let results = block_on(cluster.admin().create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(3))],
        &admin_options().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .expect("CreateTopics round trip");
    for result in results {
        if let Err((name, code)) = result {
            panic!("creating {name} failed: {code:?}");
        }
    }
}

/// Waits until every node in `observers` shows each of `partitions` partitions of `topic`
/// led, with all three replicas in its ISR.
fn await_full_isr(cluster: &TestCluster, observers: &[i32], topic: &str, partitions: usize) {
    let all: BTreeSet<i32> = [1, 2, 3].into();
    for &via in observers {
        let mut seen = None;
        wait_until(
            WAIT,
            &format!("node {via} to show every partition of {topic} with ISR {all:?}"),
            || {
                seen = cluster.partitions_via(via, topic);
                seen.as_ref().is_some_and(|p| {
                    p.len() == partitions && p.iter().all(|p| p.leader > 0 && p.isr == all)
                })
            },
        );
    }
}

/// The leader of `topic`/`partition` as node `via` shows it (waiting until there is one).
fn leader_of(cluster: &TestCluster, via: i32, topic: &str, partition: usize) -> i32 {
    let mut leader = -1;
    wait_until(
        WAIT,
        &format!("node {via} to name a leader of {topic}/{partition}"),
        || {
            leader = cluster
                .partitions_via(via, topic)
                .and_then(|p| p.get(partition).map(|p| p.leader))
                .unwrap_or(-1);
            leader > 0
        },
    );
    leader
}

#[test]
fn acknowledged_writes_survive_kill9_of_every_partition_leader_in_turn() {
    const PARTITIONS: usize = 3;
    let mut cluster = replicated_cluster_spec().start();
    let topic = topic_name("failover");
    create_topic(&cluster, &topic, PARTITIONS as i32);
    await_full_isr(&cluster, &[1, 2, 3], &topic, PARTITIONS);

    let reader = GroupReader::start(
        cluster.bootstrap(),
        topic_name("failover-group"),
        topic.clone(),
    );
    let load = ProduceLoad::start(
        &cluster,
        &topic,
        &[
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "120000"),
        ],
        Duration::from_secs(600),
    );
    let progress = |what: &str, at_least: usize| {
        wait_until(WAIT, what, || load.acked_count() >= at_least);
    };
    progress("the load to get 300 acks=all acknowledgements", 300);

    for partition in 0..PARTITIONS {
        let observer = cluster
            .node_ids()
            .into_iter()
            .find(|id| cluster.node(*id).pid().is_some())
            .expect("a running node");
        let victim = leader_of(&cluster, observer, &topic, partition);
        let before = load.acked_count();
        cluster.kill9_node(victim);
        let survivor = if victim == 1 { 2 } else { 1 };
        wait_until(
            WAIT,
            &format!("a new leader of {topic}/{partition} after node {victim} was killed"),
            || {
                cluster.partitions_via(survivor, &topic).is_some_and(|p| {
                    p.get(partition)
                        .is_some_and(|p| p.leader > 0 && p.leader != victim)
                })
            },
        );
        progress(
            &format!("acks=all acknowledgements to continue after node {victim} was killed"),
            before + 300,
        );
        cluster.restart_node(victim);
        // The restarted broker rejoins every ISR by catching up (AlterPartition expansion).
        await_full_isr(&cluster, &[survivor], &topic, PARTITIONS);
        let before = load.acked_count();
        progress(
            &format!("acks=all acknowledgements after node {victim} rejoined"),
            before + 100,
        );
    }
    let outcome = load.stop();
    eprintln!(
        "{} records acknowledged, {} sends not acknowledged",
        outcome.acked.len(),
        outcome.failed
    );

    let acked = outcome.acked_values();
    check_acknowledged(
        &cluster,
        &topic,
        PARTITIONS as i32,
        &acked,
        "after three leader kills",
    );
    outcome.check_in_send_order("after three leader kills");

    // The group kept consuming through the kills: it gets every acknowledged record, each
    // where it was acknowledged (a record may come twice after a rebalance, as at-least-once
    // delivery allows).
    reader.stop_after_receiving(&acked, WAIT);
}

/// The active controller, as DescribeQuorum (forwarded by node `via`) reports it.
fn active_controller(cluster: &TestCluster, via: i32) -> i32 {
    cluster.active_controller(via, WAIT)
}

fn topic_id(cluster: &TestCluster, via: i32, topic: &str) -> Uuid {
    let mut raw = RawClient::connect(cluster.node(via).bootstrap());
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name_of(topic))),
    ]));
    let response = raw
        .call(12, &request)
        .unwrap_or_else(|e| panic!("Metadata for {topic}: {e:#}"));
    response.topics[0].topic_id
}

/// An AlterPartition shrinking partition 0 of `topic_id` to `isr`, from `broker_id` at
/// `broker_epoch`, to node `to`'s controller listener; returns (top-level, partition) codes.
fn alter_partition(
    cluster: &TestCluster,
    to: i32,
    topic_id: Uuid,
    broker_id: i32,
    broker_epoch: i64,
    isr: &[i32],
) -> (i16, Option<i16>) {
    let address = cluster
        .node(to)
        .listener(CONTROLLER_LISTENER)
        .unwrap_or_else(|| panic!("node {to} has a controller listener"));
    let mut raw = RawClient::connect(&address);
    let request = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(broker_id))
        .with_broker_epoch(broker_epoch)
        .with_topics(vec![TopicData::default()
            .with_topic_id(topic_id)
            .with_partitions(vec![PartitionData::default()
                .with_partition_index(0)
                .with_leader_epoch(0)
                .with_partition_epoch(0)
                .with_new_isr_with_epochs(
                    isr.iter()
                        .map(|r| {
                            BrokerState::default()
                                .with_broker_id(BrokerId(*r))
                                .with_broker_epoch(-1)
                        })
                        .collect(),
                )])]);
    let response = raw
        .call(3, &request)
        .unwrap_or_else(|e| panic!("AlterPartition to node {to}: {e:#}"));
    let partition = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .map(|p| p.error_code);
    (response.error_code, partition)
}

#[test]
fn acks_all_with_two_of_three_brokers_stopped_is_not_enough_replicas_and_loses_nothing() {
    let mut cluster = replicated_cluster_spec().start();
    let topic = topic_name("min-isr");
    create_topic(&cluster, &topic, 1);
    await_full_isr(&cluster, &[1, 2, 3], &topic, 1);
    let values: Vec<String> = (0..20).map(|i| format!("acked-{i}")).collect();
    send_all(&cluster.producer(), &topic, &values);

    let controller = active_controller(&cluster, 1);
    let leader = leader_of(&cluster, controller, &topic, 0);
    // AlterPartition as the leader, but from a broker epoch it is not registered with, and
    // to a controller that is not active: refused, the ISR unchanged.
    let id = topic_id(&cluster, controller, &topic);
    assert_eq!(
        alter_partition(&cluster, controller, id, leader, -5, &[leader]),
        (STALE_BROKER_EPOCH, None),
        "AlterPartition with a stale broker epoch"
    );
    let standby = [1, 2, 3]
        .into_iter()
        .find(|n| *n != controller)
        .expect("a standby controller");
    assert_eq!(
        alter_partition(&cluster, standby, id, leader, -5, &[leader]).0,
        NOT_CONTROLLER,
        "AlterPartition to a controller that is not active"
    );
    assert_eq!(
        cluster
            .partitions_via(controller, &topic)
            .map(|p| p[0].isr.clone()),
        Some([1, 2, 3].into()),
        "refused AlterPartitions changed the ISR"
    );

    // Controlled shutdown of the two other brokers: each leaves the ISR while the quorum
    // still has a majority, so the active controller's own image ends with ISR {itself}.
    let others: Vec<i32> = [1, 2, 3].into_iter().filter(|n| *n != controller).collect();
    for id in &others {
        cluster.stop_node(*id);
    }
    wait_until(
        WAIT,
        &format!("node {controller} to lead {topic}/0 alone in its ISR"),
        || {
            cluster
                .partitions_via(controller, &topic)
                .is_some_and(|p| p[0].leader == controller && p[0].isr == [controller].into())
        },
    );
    let producer = producer_for(
        cluster.node(controller).bootstrap(),
        &[("retries", "0"), ("message.timeout.ms", "20000")],
    );
    let refused = block_on(
        producer
            .send_result(FutureRecord::to(&topic).key("k").payload("refused"))
            .expect("enqueue"),
    )
    .expect("delivery report");
    match refused {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::NotEnoughReplicas), _)) => {}
        other => panic!("acks=all with an ISR of 1 < min.insync.replicas 2: expected NOT_ENOUGH_REPLICAS, got {other:?}"),
    }

    for id in &others {
        cluster.restart_node(*id);
    }
    await_full_isr(&cluster, &[1, 2, 3], &topic, 1);
    let stored: Vec<String> = cluster
        .consume_all(&topic, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    assert_eq!(
        stored, values,
        "every acknowledged record, and nothing refused, after both brokers returned"
    );
}

/// The `.log` segment files of `topic`-`partition` in `node`'s data dir, in offset order,
/// concatenated: the replica's record batches as stored.
fn stored_log(node: &TestBroker, topic: &str, partition: i32) -> Vec<u8> {
    let dir = node.data_dir().join(format!("{topic}-{partition}"));
    let mut segments: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let mut bytes = Vec::new();
    for segment in segments {
        bytes.extend(read(&segment));
    }
    bytes
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn signal(cluster: &TestCluster, id: i32, signal: i32) {
    let pid = cluster.node(id).pid().expect("running") as i32;
    // SAFETY: signalling a child process this test started.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "signal {signal} to node {id}"
    );
}

#[test]
fn a_dead_leaders_unreplicated_tail_is_truncated_when_it_rejoins_and_replicas_agree_byte_for_byte()
{
    let mut cluster = replicated_cluster_spec().start();
    let topic = topic_name("divergence");
    create_topic(&cluster, &topic, 1);
    await_full_isr(&cluster, &[1, 2, 3], &topic, 1);
    let before: Vec<String> = (0..20).map(|i| format!("before-{i}")).collect();
    send_all(&cluster.producer(), &topic, &before);

    let leader = leader_of(&cluster, 1, &topic, 0);
    let followers: Vec<i32> = [1, 2, 3].into_iter().filter(|n| *n != leader).collect();
    // The followers are frozen: acks=1 records reach the leader alone (the quorum has no
    // majority meanwhile, so nothing in metadata changes either).
    for f in &followers {
        signal(&cluster, *f, libc::SIGSTOP);
    }
    let acks1 = producer_for(cluster.node(leader).bootstrap(), &[("acks", "1")]);
    let unreplicated: Vec<String> = (0..20).map(|i| format!("unreplicated-{i}")).collect();
    for value in &unreplicated {
        // One batch per record, each acknowledged before the next.
        send_all(&acks1, &topic, std::slice::from_ref(value));
    }
    cluster.kill9_node(leader);
    for f in &followers {
        signal(&cluster, *f, libc::SIGCONT);
    }
    let old_tail = stored_log(cluster.node(leader), &topic, 0);

    wait_until(
        WAIT,
        &format!("a follower to lead {topic}/0 after node {leader} was killed"),
        || {
            cluster
                .partitions_via(followers[0], &topic)
                .is_some_and(|p| followers.contains(&p[0].leader))
        },
    );
    let after: Vec<String> = (0..20).map(|i| format!("after-{i}")).collect();
    send_all(&cluster.producer(), &topic, &after);

    cluster.restart_node(leader);
    await_full_isr(&cluster, &[1, 2, 3], &topic, 1);
    let mut logs = Vec::new();
    wait_until(WAIT, "the three replicas' logs to be equal", || {
        logs = [1, 2, 3]
            .iter()
            .map(|id| stored_log(cluster.node(*id), &topic, 0))
            .collect();
        logs[0] == logs[1] && logs[1] == logs[2]
    });
    assert!(
        !logs[0].starts_with(&old_tail),
        "node {leader} had no diverging tail when it died ({} bytes stored, {} now): the test \
         did not reach the case it checks",
        old_tail.len(),
        logs[0].len()
    );

    let stored: Vec<String> = cluster
        .consume_all(&topic, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    for value in before.iter().chain(&after) {
        assert!(
            stored.contains(value),
            "acks=all record {value} is missing after the old leader rejoined"
        );
    }
    let kept = unreplicated.iter().filter(|v| stored.contains(v)).count();
    assert!(
        kept < unreplicated.len(),
        "all {kept} acks=1 records only the dead leader had are still there: its tail was not \
         truncated"
    );
}
