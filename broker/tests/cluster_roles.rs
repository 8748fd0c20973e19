//! Dedicated controllers and brokers (`process.roles=controller` / `broker`), as a Kafka
//! cluster in KRaft mode runs them, with real processes and real rdkafka clients:
//! - 3 controllers + 3 brokers: Metadata lists only the brokers, DescribeQuorum shows the
//!   controllers as voters and the brokers as observers; an RF 3 topic takes idempotent
//!   acks=all writes while the active controller is killed (-9) — another is elected and
//!   admin requests keep working — and while a broker restarts, which catches up from the
//!   quorum (a topic created while it was down reaches it); nothing acknowledged is lost;
//! - 1 controller + 1 broker, the smallest split cluster: produce, consume, restart both
//!   together and one at a time;
//! - wrong role combinations stop the node at start-up with Kafka's message.
mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::*;
use rdkafka::consumer::Consumer;

const WAIT: Duration = Duration::from_secs(90);
const PARTITIONS: usize = 3;

/// `controllers` controller-only nodes (ids 1..) and `brokers` broker-only nodes after
/// them, with the replicated cluster's settings (RF 3 where there are three brokers).
fn split_cluster_spec(controllers: i32, brokers: i32) -> ClusterSpec {
    let rf = brokers.min(3).to_string();
    let min_isr = (brokers.min(3) - 1).max(1).to_string();
    ClusterSpec::split(IRONLOG_BINARY, controllers, brokers)
        .set("default.replication.factor", &rf)
        .set("min.insync.replicas", &min_isr)
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "300")
        .set("offsets.topic.replication.factor", &rf)
        .set("offsets.topic.num.partitions", "3")
        .set("transaction.state.log.replication.factor", &rf)
        .set("transaction.state.log.min.isr", &min_isr)
        .set("group.initial.rebalance.delay.ms", "0")
}

/// The broker ids node `via` lists in Metadata.
fn metadata_brokers(cluster: &TestCluster, via: i32) -> Vec<i32> {
    let md = cluster
        .node(via)
        .consumer()
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("Metadata through node {via} failed: {e}"));
    let mut ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
    ids.sort();
    ids
}

#[test]
fn three_controllers_and_three_brokers_keep_serving_through_controller_and_broker_failures() {
    let mut cluster = split_cluster_spec(3, 3).start();
    for via in [4, 5, 6] {
        assert_eq!(
            metadata_brokers(&cluster, via),
            [4, 5, 6],
            "Metadata through broker {via} must list the three brokers and never a controller-only node"
        );
    }
    // the brokers follow the log without voting
    await_quorum(&cluster, 4, &[1, 2, 3], &[4, 5, 6]);

    let topic = topic_name("split");
    cluster.create_replicated_topic(&topic, PARTITIONS as i32, 3, WAIT);
    let reader = GroupReader::start(
        cluster.bootstrap(),
        topic_name("split-group"),
        topic.clone(),
    );
    let load = ProduceLoad::start_idempotent(&cluster, &topic, Duration::from_secs(600));
    load.await_acks(200, WAIT, "the load to get its first acknowledgements");

    // kill -9 of the active controller: another controller takes over
    let old = cluster.active_controller(4, WAIT);
    assert!(
        (1..=3).contains(&old),
        "the active controller must be a controller-only node, not {old}"
    );
    cluster.kill9_node(old);
    let mut new = -1;
    wait_until(
        WAIT,
        &format!("an active controller other than the killed node {old}"),
        || {
            new = cluster.active_controller(5, WAIT);
            new != old
        },
    );
    assert!((1..=3).contains(&new), "controller {new} is not a voter");
    load.await_acks(
        200,
        WAIT,
        &format!("acknowledgements after controller {old} was killed"),
    );
    // admin requests reach the new controller (forwarded by a broker)
    let after_failover = topic_name("after-failover");
    cluster.create_replicated_topic(&after_failover, 2, 3, WAIT);

    // a broker restarts and catches up from the quorum: a topic created while it was down
    // reaches it, and it leads and follows again
    cluster.kill9_node(6);
    let while_down = topic_name("while-down");
    let results = block_on(cluster.admin().create_topics(
        &[rdkafka::admin::NewTopic::new(
            &while_down,
            1,
            rdkafka::admin::TopicReplication::Fixed(2),
        )],
        &admin_options().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .expect("CreateTopics while broker 6 is down");
    for result in results {
        result.unwrap_or_else(|(name, code)| panic!("creating {name} failed: {code:?}"));
    }
    load.await_acks(100, WAIT, "acknowledgements while broker 6 is down");
    cluster.restart_node(6);
    cluster.restart_node(old);
    cluster.wait_ready(WAIT);
    cluster.await_full_isr(6, &while_down, 1, WAIT);
    cluster.await_full_isr_on_running(&topic, PARTITIONS, WAIT);
    load.await_acks(
        100,
        WAIT,
        "acknowledgements after broker 6 and the old controller restarted",
    );
    // a restarted broker is an observer again, never a voter
    await_quorum(&cluster, 6, &[1, 2, 3], &[4, 5, 6]);

    let outcome = load.stop();
    check_load_outcome(
        &cluster,
        &topic,
        PARTITIONS as i32,
        &outcome,
        "after a controller kill -9 and a broker restart",
    );
    reader.stop_after_receiving(&outcome.acked_values(), WAIT);
}

#[test]
fn one_controller_and_one_broker_form_the_smallest_split_cluster() {
    let mut cluster = split_cluster_spec(1, 1).start();
    assert_eq!(
        metadata_brokers(&cluster, 2),
        [2],
        "Metadata lists the broker, not the controller"
    );
    await_quorum(&cluster, 2, &[1], &[2]);
    let topic = topic_name("minimal");
    cluster.create_replicated_topic(&topic, 2, 1, WAIT);
    let values: Vec<String> = (0..50).map(|i| format!("minimal-{i}")).collect();
    produce_values(&cluster, &topic, &values);

    // a controller alone is ready while its quorum has a leader
    let url = format!(
        "{}/health/ready",
        cluster
            .node(1)
            .admin_url()
            .expect("the controller's admin listener")
    );
    let (status, body) = http("GET", &url, None);
    assert_eq!(status, 200, "the controller is not ready: {body}");

    // both stop and start side by side, then each restarts alone (the controller first);
    // everything written is still there
    cluster.restart_all();
    cluster.restart_node(1);
    cluster.restart_node(2);
    cluster.wait_ready(WAIT);
    await_quorum(&cluster, 2, &[1], &[2]);
    let consumer = cluster.node(2).consumer();
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in 0..2 {
        partitions
            .add_partition_offset(&topic, partition, rdkafka::Offset::Beginning)
            .expect("partition offset");
    }
    consumer
        .assign(&partitions)
        .expect("assign both partitions");
    let mut read = BTreeSet::new();
    wait_until(WAIT, &format!("every record of {topic} to be read"), || {
        while let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            read.insert(ConsumedRecord::from_message(&m).value_str());
        }
        values.iter().all(|v| read.contains(v))
    });
    let missing: Vec<&String> = values.iter().filter(|v| !read.contains(*v)).collect();
    assert!(
        missing.is_empty(),
        "records written before the restarts are missing: {missing:?}"
    );
}

/// A broker back on an empty data dir under its old id (a lost volume, a reused id) starts
/// over as an observer of the metadata log, which the controller sends it from the start:
/// the controller keeps committing metadata (its raft leader must not take the follower's
/// shorter log for a fault).
#[test]
fn a_broker_back_on_an_empty_data_dir_rejoins_and_the_controller_keeps_serving() {
    let mut cluster = split_cluster_spec(1, 1).start();
    await_quorum(&cluster, 2, &[1], &[2]);
    let before = topic_name("before-wipe");
    cluster.create_replicated_topic(&before, 2, 1, WAIT);
    cluster.stop_node(2);
    let data_dir = cluster.node(2).data_dir();
    std::fs::remove_dir_all(&data_dir)
        .unwrap_or_else(|e| panic!("wiping {}: {e}", data_dir.display()));
    cluster.restart_node(2);
    cluster.wait_ready(WAIT);
    await_quorum(&cluster, 2, &[1], &[2]);
    let after = topic_name("after-wipe");
    cluster.create_replicated_topic(&after, 2, 1, WAIT);
    let controller_log = cluster.node(1).log_text();
    assert!(
        !controller_log.contains("panicked"),
        "the controller panicked after the broker came back empty: {}",
        cluster.node(1).log_tail()
    );
}

#[test]
fn wrong_role_combinations_stop_the_node_with_kafkas_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let voters = "controller.quorum.voters=1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3";
    let run = |overrides: &[&str]| {
        let mut args = vec!["broker".to_string()];
        for o in overrides
            .iter()
            .copied()
            .chain([
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ])
            .map(str::to_string)
            .chain([format!("log.dirs={}", dir.path().display())])
        {
            args.push("--override".to_string());
            args.push(o);
        }
        let out = Command::new(IRONLOG_BINARY)
            .args(&args)
            .output()
            .expect("run ironlog");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let cases: [(&[&str], &str); 5] = [
        (
            &["node.id=1", "process.roles=controller", voters, "listeners=CONTROLLER://127.0.0.1:0,PLAINTEXT://127.0.0.1:0"],
            "The listeners config must only contain KRaft controller listeners from controller.listener.names when process.roles=controller",
        ),
        (
            &["node.id=4", "process.roles=controller", voters, "listeners=CONTROLLER://127.0.0.1:0"],
            "If process.roles contains the 'controller' role, the node id 4 must be included in the set of voters controller.quorum.voters=Set(1, 2, 3)",
        ),
        (
            &["node.id=2", "process.roles=broker", voters, "listeners=PLAINTEXT://127.0.0.1:0"],
            "If process.roles contains just the 'broker' role, the node id 2 must not be included in the set of voters controller.quorum.voters=Set(1, 2, 3)",
        ),
        (
            &["node.id=5", "process.roles=broker", voters, "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"],
            "controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role",
        ),
        (
            &["node.id=1", "process.roles=controller", "listeners=CONTROLLER://127.0.0.1:0"],
            "controller.quorum.voters must contain a parseable set of controllers",
        ),
    ];
    for (overrides, expected) in cases {
        let (started, stderr) = run(overrides);
        assert!(!started, "{overrides:?} must not start");
        assert!(
            stderr.contains(expected),
            "with {overrides:?}: expected Kafka's message '{expected}':\n{stderr}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("read dir").count(),
        0,
        "a refused configuration writes nothing"
    );
}

/// `cluster.id` of a node's `meta.properties`.
fn meta_cluster_id(cluster: &TestCluster, id: i32) -> String {
    let meta = std::fs::read_to_string(cluster.node(id).data_dir().join("meta.properties"))
        .unwrap_or_else(|e| panic!("meta.properties of node {id}: {e}"));
    meta.lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .unwrap_or_else(|| panic!("no cluster.id in node {id}'s meta.properties:\n{meta}"))
        .to_string()
}

#[test]
fn a_broker_on_a_data_dir_of_another_cluster_is_refused_naming_both_ids() {
    let mut other = split_cluster_spec(1, 1).start();
    let theirs = meta_cluster_id(&other, 2);
    let other_dir = other.node(2).data_dir();
    other.stop_node(2);
    let other_meta = std::fs::read_to_string(other_dir.join("meta.properties")).expect("meta");

    let mut cluster = split_cluster_spec(1, 1).start();
    let ours = meta_cluster_id(&cluster, 2);
    assert_ne!(ours, theirs);
    cluster.stop_node(2);
    // broker 2 of this cluster, started on the other cluster's broker data dir
    let command = cluster.node(2).command().clone();
    let mut args = command.args();
    args.push("--override".to_string());
    args.push(format!("log.dirs={}", other_dir.display()));
    let out = Command::new(&command.binary)
        .args(&args)
        .output()
        .expect("run broker 2 on the other cluster's data dir");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a broker must refuse to follow another cluster's quorum with its data"
    );
    assert!(
        stderr.contains(&ours)
            && stderr.contains(&theirs)
            && stderr.contains("INCONSISTENT_CLUSTER_ID"),
        "the refusal names both cluster ids ({ours}, {theirs}):\n{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(other_dir.join("meta.properties")).expect("meta"),
        other_meta,
        "nothing stored changed"
    );
    // the controller was not disturbed: the broker comes back on its own data
    cluster.restart_node(2);
    cluster.wait_ready(WAIT);
    await_quorum(&cluster, 2, &[1], &[2]);
}
