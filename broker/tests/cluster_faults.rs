//! A 3-node cluster under network faults: every node in its own network namespace (the
//! test kit's `NetworkLab`: a bridge, a veth per node, a private /24 the test process
//! reaches through its own veth), links cut with iptables DROP and healed, lossy and slow
//! links. Each test keeps an idempotent acks=all rdkafka producer writing through the
//! faults and checks afterwards that every acknowledged record is stored where its
//! acknowledgement said, once, in send order per partition:
//! - the leader of a partition cut from the other nodes loses leadership; what it is sent
//!   meanwhile is not acknowledged, and after healing it truncates that tail and rejoins;
//! - the active controller cut off: the others elect a new one, brokers keep serving and
//!   admin requests succeed, the old one follows again once healed;
//! - a minority node cut off under load and healed, a flapping link, a lossy and a slow
//!   link.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use kafka_protocol::records::Compression;
use rdkafka::admin::{NewTopic, TopicReplication};

/// Bound on every wait: generous, as a loaded machine slows elections, fencing and the
/// producer's retries alike.
const WAIT: Duration = Duration::from_secs(180);
const PARTITIONS: usize = 3;

/// Three combined nodes, each in its own namespace of `lab`: RF=3 and min.insync=2, a
/// short broker session (a cut-off node is fenced within seconds), replicated internal
/// topics.
fn cluster_in(lab: &Arc<NetworkLab>) -> TestCluster {
    replicated_cluster_spec()
        .network(lab)
        .set("replica.lag.time.max.ms", "3000")
        .start()
}

fn lab() -> Arc<NetworkLab> {
    Arc::new(NetworkLab::new(&[1, 2, 3]))
}

/// A partition of `topic` led by a node other than `not`, as node `via` shows it:
/// (partition, leader).
fn partition_led_by_other_than(
    cluster: &TestCluster,
    via: i32,
    topic: &str,
    not: i32,
) -> (usize, i32) {
    let partitions = cluster
        .partitions_via(via, topic)
        .expect("the topic's partitions");
    partitions
        .iter()
        .enumerate()
        .find(|(_, p)| p.leader > 0 && p.leader != not)
        .map(|(i, p)| (i, p.leader))
        .unwrap_or_else(|| panic!("no partition of {topic} led by a node other than {not}"))
}

/// Waits until node `via` shows `partition` of `topic` led by a node other than `old`,
/// with `old` out of its ISR.
fn await_leader_moved_from(
    cluster: &TestCluster,
    via: i32,
    topic: &str,
    partition: usize,
    old: i32,
) {
    wait_until(
        WAIT,
        &format!("node {via} to show {topic}/{partition} led elsewhere than node {old}, {old} out of the ISR"),
        || {
            cluster.partitions_via(via, topic).is_some_and(|p| {
                p.get(partition).is_some_and(|p| {
                    p.leader > 0 && p.leader != old && !p.isr.contains(&old)
                })
            })
        },
    );
}

#[test]
fn an_isolated_partition_leader_loses_leadership_acknowledges_nothing_and_truncates_on_healing() {
    let lab = lab();
    let cluster = cluster_in(&lab);
    let topic = topic_name("isolated-leader");
    cluster.create_replicated_topic(&topic, PARTITIONS as i32, 3, WAIT);
    let load = ProduceLoad::start_idempotent(&cluster, &topic, Duration::from_secs(600));
    load.await_acks(200, WAIT, "the load to get its first acknowledgements");
    // chosen under load, just before the cut: the leader every node names right now
    let controller = cluster.active_controller(1, WAIT);
    let (partition, leader) = partition_led_by_other_than(&cluster, controller, &topic, controller);
    let majority: Vec<i32> = cluster
        .node_ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    // A connection to the leader-to-be-isolated alone: its write can reach no follower. (A
    // client library would learn the other brokers from the metadata and could send the
    // write to a new leader once the majority elected one; the raw connection cannot.)
    let leader_address = cluster.node(leader).bootstrap().to_string();
    let mut stranded = RawClient::connect(&leader_address);
    for via in cluster.node_ids() {
        let named = cluster
            .partitions_via(via, &topic)
            .and_then(|p| p.get(partition).map(|p| p.leader));
        assert_eq!(
            named,
            Some(leader),
            "node {via} names another leader of {topic}/{partition} just before the cut"
        );
    }
    lab.isolate(leader);

    let stranded_value = "written-to-the-isolated-leader";
    let batch = encode_batch(
        &[(b"stranded".as_slice(), stranded_value.as_bytes())],
        2,
        Compression::None,
        now_ms(),
    );
    let mut request =
        ironlog_testkit::requests::produce_request(&topic, partition as i32, batch, -1);
    request.timeout_ms = 8_000;
    // acknowledged = answered without an error; a refusal or no answer at all is not
    let stranded_result = stranded
        .call(9, &request)
        .map(|response| response.responses[0].partition_responses[0].error_code);
    assert!(
        !matches!(stranded_result, Ok(0)),
        "an acks=all write to node {leader}, cut from every follower, was acknowledged: {stranded_result:?}"
    );
    // it did take the write into its log, beyond what any follower has
    wait_until(
        WAIT,
        &format!("node {leader} to append the write it cannot replicate"),
        || {
            contains(
                &cluster.node(leader).partition_log(&topic, partition as i32),
                stranded_value,
            )
        },
    );
    for via in &majority {
        await_leader_moved_from(&cluster, *via, &topic, partition, leader);
    }
    load.await_acks(
        300,
        WAIT,
        &format!("acknowledgements to continue while node {leader} is isolated"),
    );

    lab.heal();
    cluster.await_full_isr_on_running(&topic, PARTITIONS, WAIT);
    load.await_acks(
        200,
        WAIT,
        &format!("acknowledgements after node {leader} rejoined"),
    );
    check_load_outcome(
        &cluster,
        &topic,
        PARTITIONS as i32,
        &load.stop(),
        "after the partition leader was isolated and healed",
    );

    // The isolated leader truncated what only it had: no replica holds the stranded write.
    for node in cluster.node_ids() {
        assert!(
            !contains(
                &cluster.node(node).partition_log(&topic, partition as i32),
                stranded_value
            ),
            "node {node} still stores the write the isolated leader {leader} never replicated"
        );
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn an_isolated_active_controller_is_replaced_brokers_keep_serving_and_it_rejoins() {
    let lab = lab();
    let cluster = cluster_in(&lab);
    let topic = topic_name("isolated-controller");
    cluster.create_replicated_topic(&topic, PARTITIONS as i32, 3, WAIT);
    let old = cluster.active_controller(1, WAIT);
    let majority: Vec<i32> = cluster
        .node_ids()
        .into_iter()
        .filter(|id| *id != old)
        .collect();

    let load = ProduceLoad::start_idempotent(&cluster, &topic, Duration::from_secs(600));
    load.await_acks(200, WAIT, "the load to get its first acknowledgements");
    lab.isolate(old);
    let mut new = -1;
    wait_until(
        WAIT,
        &format!("nodes {majority:?} to elect an active controller other than node {old}"),
        || {
            new = cluster.active_controller(majority[0], WAIT);
            new != old
        },
    );
    assert!(
        majority.contains(&new),
        "node {new} became the active controller"
    );
    load.await_acks(
        300,
        WAIT,
        &format!("acknowledgements to continue while the old controller {old} is isolated"),
    );
    // admin requests through a node of the majority reach the new controller
    let during = topic_name("created-while-split");
    let admin: rdkafka::admin::AdminClient<_> =
        client_config(cluster.node(majority[1]).bootstrap())
            .create()
            .expect("admin client");
    let results = block_on(admin.create_topics(
        &[NewTopic::new(&during, 2, TopicReplication::Fixed(2))],
        &admin_options().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .expect("CreateTopics round trip");
    for result in results {
        if let Err((name, code)) = result {
            panic!(
                "creating {name} through node {} failed while node {old} was cut off: {code:?}",
                majority[1]
            );
        }
    }

    lab.heal();
    // the old controller follows again: it learns of the topic created without it
    wait_until(
        WAIT,
        &format!("node {old} to know {during}, created while it was cut off"),
        || {
            cluster
                .partitions_via(old, &during)
                .is_some_and(|p| p.len() == 2)
        },
    );
    let now = cluster.active_controller(old, WAIT);
    assert_ne!(
        now, -1,
        "the quorum names an active controller after healing"
    );
    cluster.await_full_isr_on_running(&topic, PARTITIONS, WAIT);
    load.await_acks(
        200,
        WAIT,
        &format!("acknowledgements after node {old} rejoined"),
    );
    check_load_outcome(
        &cluster,
        &topic,
        PARTITIONS as i32,
        &load.stop(),
        "after the active controller was isolated and healed",
    );
}

#[test]
fn a_minority_cut_a_flapping_link_and_lossy_slow_links_lose_no_acknowledged_write() {
    let lab = lab();
    let cluster = cluster_in(&lab);
    let topic = topic_name("flaky-network");
    cluster.create_replicated_topic(&topic, PARTITIONS as i32, 3, WAIT);
    let load = ProduceLoad::start_idempotent(&cluster, &topic, Duration::from_secs(600));
    load.await_acks(200, WAIT, "the load to get its first acknowledgements");

    // a minority node cut off under load, then healed
    lab.isolate(3);
    for via in [1, 2] {
        wait_until(
            WAIT,
            &format!("node {via} to show node 3 out of every ISR of {topic}"),
            || {
                cluster.partitions_via(via, &topic).is_some_and(|p| {
                    p.len() == PARTITIONS && p.iter().all(|p| p.leader > 0 && !p.isr.contains(&3))
                })
            },
        );
    }
    load.await_acks(300, WAIT, "acknowledgements while node 3 is cut off");
    lab.heal();
    cluster.await_full_isr_on_running(&topic, PARTITIONS, WAIT);

    // a flapping link between nodes 1 and 2: down and up again, five times
    for round in 0..5 {
        lab.cut(1, 2);
        // the fault's duration is the test's input, not a wait for a condition
        std::thread::sleep(Duration::from_millis(1500));
        lab.heal();
        load.await_acks(
            50,
            WAIT,
            &format!("acknowledgements after the link between nodes 1 and 2 came back ({round})"),
        );
    }
    cluster.await_full_isr_on_running(&topic, PARTITIONS, WAIT);

    // every node loses 10 % of what it receives, and node 2 sends through a slow link
    for id in cluster.node_ids() {
        lab.lose(id, 10);
    }
    lab.throttle(2, 2_000, 200);
    load.await_acks(
        300,
        WAIT,
        "acknowledgements over lossy links and a slow one",
    );
    lab.heal();
    cluster.await_full_isr_on_running(&topic, PARTITIONS, WAIT);
    load.await_acks(
        200,
        WAIT,
        "acknowledgements once the links are healthy again",
    );
    check_load_outcome(
        &cluster,
        &topic,
        PARTITIONS as i32,
        &load.stop(),
        "after a cut, a flapping link and lossy links",
    );
}
