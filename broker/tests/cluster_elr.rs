//! Eligible leader replicas (KIP-966) on a real cluster: one controller and three brokers
//! (the test kit's split cluster, so the metadata quorum outlives every broker), RF=3,
//! min.insync.replicas=2, acks=all writes with real rdkafka clients. A follower that leaves
//! an ISR already at min.insync.replicas is not eligible; the one that leaves it below is,
//! and DescribeTopicPartitions shows it (raw protocol client). Then the last ISR member is
//! killed with SIGKILL and the eligible replica restarted: it leads, cleanly (the ISR is
//! just it, the killed leader becomes eligible — an unclean election would have cleared
//! the ELR — with unclean election disabled), and once the first follower is back every
//! acknowledged record is read from it exactly once.
mod common;

use std::time::Duration;

use common::*;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use kafka_protocol::messages::DescribeTopicPartitionsRequest;

const WAIT: Duration = Duration::from_secs(90);

/// One partition as DescribeTopicPartitions answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ElrView {
    leader: i32,
    isr: Vec<i32>,
    elr: Vec<i32>,
    last_known_elr: Vec<i32>,
}

/// Partition 0 of `topic` as broker `via` answers DescribeTopicPartitions; `None` when it
/// does not answer or names an error.
fn describe(cluster: &TestCluster, via: i32, topic: &str) -> Option<ElrView> {
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(vec![TopicRequest::default().with_name(topic_name_of(topic))])
        .with_response_partition_limit(100);
    let response = cluster.node(via).raw().call(0, &request).ok()?;
    let t = response.topics.first()?;
    if t.error_code != 0 {
        return None;
    }
    let p = t.partitions.iter().find(|p| p.partition_index == 0)?;
    let ids = |ids: &[kafka_protocol::messages::BrokerId]| {
        let mut v: Vec<i32> = ids.iter().map(|b| b.0).collect();
        v.sort();
        v
    };
    Some(ElrView {
        leader: p.leader_id.0,
        isr: ids(&p.isr_nodes),
        elr: ids(p.eligible_leader_replicas.as_deref().unwrap_or_default()),
        last_known_elr: ids(p.last_known_elr.as_deref().unwrap_or_default()),
    })
}

/// Waits until broker `via` answers a view of `topic` that `want` accepts; returns it.
fn await_view(
    cluster: &TestCluster,
    via: i32,
    topic: &str,
    what: &str,
    want: impl Fn(&ElrView) -> bool,
) -> ElrView {
    let mut seen = None;
    wait_until(WAIT, &format!("broker {via}: {what}"), || {
        seen = describe(cluster, via, topic);
        seen.as_ref().is_some_and(&want)
    });
    let view = seen.expect("the wait ended with a view");
    eprintln!("broker {via}: {what}: {view:?}");
    view
}

#[test]
fn an_eligible_replica_leads_cleanly_after_the_last_isr_member_dies_and_loses_nothing() {
    let mut cluster = ClusterSpec::split(IRONLOG_BINARY, 1, 3)
        .set("default.replication.factor", "3")
        .set("min.insync.replicas", "2")
        .set("unclean.leader.election.enable", "false")
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "300")
        .set("offsets.topic.replication.factor", "3")
        .start();
    let topic = topic_name("elr");
    cluster.create_replicated_topic(&topic, 1, 3, WAIT);
    let start = await_view(&cluster, 2, &topic, "a leader and a full ISR", |v| {
        v.leader > 0 && v.isr == [2, 3, 4]
    });
    assert!(
        start.elr.is_empty() && start.last_known_elr.is_empty(),
        "a full ISR has no eligible replicas: {start:?}"
    );
    let leader = start.leader;
    let followers: Vec<i32> = [2, 3, 4].into_iter().filter(|&b| b != leader).collect();
    let (first, second) = (followers[0], followers[1]);

    let producer = cluster.producer_with(&[("enable.idempotence", "true")]);
    let mut acked: Vec<String> = (0..30).map(|i| format!("all-three-{i}")).collect();
    send_all(&producer, &topic, &acked);

    // The first follower leaves an ISR of three: two remain, min.insync.replicas holds,
    // nobody needs to be eligible.
    cluster.stop_node(first);
    let two = await_view(
        &cluster,
        leader,
        &topic,
        &format!("the ISR without {first}"),
        |v| v.isr.len() == 2 && !v.isr.contains(&first),
    );
    assert!(
        two.elr.is_empty(),
        "a replica leaving an ISR at min.insync.replicas is not eligible: {two:?}"
    );
    let more: Vec<String> = (0..30).map(|i| format!("two-of-three-{i}")).collect();
    send_all(&producer, &topic, &more);
    acked.extend(more);

    // The second one leaves an ISR at min.insync.replicas: it becomes eligible.
    cluster.stop_node(second);
    let alone = await_view(
        &cluster,
        leader,
        &topic,
        &format!("ISR [{leader}] and ELR [{second}]"),
        |v| v.isr == [leader] && v.elr == [second],
    );
    assert_eq!(
        (alone.leader, alone.last_known_elr.clone()),
        (leader, vec![]),
        "the leader still serves: {alone:?}"
    );

    // The last ISR member dies; the eligible replica comes back and leads, cleanly.
    cluster.kill9_node(leader);
    cluster.restart_node(second);
    let elected = await_view(
        &cluster,
        second,
        &topic,
        &format!("{second} leading from the ELR"),
        |v| v.leader == second,
    );
    assert_eq!(
        elected,
        ElrView {
            leader: second,
            isr: vec![second],
            elr: vec![leader],
            last_known_elr: vec![],
        },
        "a clean election from the ELR: the ISR is the new leader, the dead last ISR member \
         is eligible (an unclean election would have cleared the ELR)"
    );

    // With the first follower back the ISR reaches min.insync.replicas again: the high
    // watermark moves, the ELR is cleared, and every acknowledged record is there.
    cluster.restart_node(first);
    let healed = await_view(
        &cluster,
        second,
        &topic,
        &format!("{first} back in the ISR"),
        |v| v.isr.contains(&first) && v.isr.contains(&second),
    );
    assert!(
        healed.elr.is_empty(),
        "an ISR back at min.insync.replicas clears the ELR: {healed:?}"
    );
    let read: Vec<String> = cluster
        .node(second)
        .consume_all(&topic, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    assert_eq!(
        read, acked,
        "every acknowledged record, once and in order, from the leader the ELR gave"
    );
}
