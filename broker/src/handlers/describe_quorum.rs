//! DescribeQuorum (API 55): the metadata quorum as `kafka-metadata-quorum describe --status`
//! and `--replication` show it — leader, epoch (the raft term), high watermark, voters and
//! observers with their log end offsets — answered by the leader from its raft metrics
//! (offsets are raft log indexes + 1: Kafka's next offset), with the directory ids of a
//! dynamic quorum's controllers (KIP-853; static voters have none, as in Kafka). Another
//! node answers
//! NOT_LEADER_OR_FOLLOWER, as Kafka's raft client does; brokers forward the request to the
//! active controller.

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use uuid::Uuid;

use super::str_bytes;
use crate::error::ResponseError;
use crate::metadata::MetadataQuorum;
use crate::types::now_ms;

/// The metadata log's topic name, as DescribeQuorum names it.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// `controller_listener`: the name voters are reached on (their voter entries name none).
pub(crate) fn handle(
    quorum: &MetadataQuorum,
    controller_listener: &str,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let mut response = DescribeQuorumResponse::default();
    for topic in &request.topics {
        let mut data = TopicData::default().with_topic_name(topic.topic_name.clone());
        for partition in &topic.partitions {
            let mut p = PartitionData::default().with_partition_index(partition.partition_index);
            if topic.topic_name.0.as_str() != METADATA_TOPIC || partition.partition_index != 0 {
                p.error_code = ResponseError::UnknownTopicOrPartition.code();
            } else {
                describe_partition(quorum, &mut p);
            }
            data.partitions.push(p);
        }
        response.topics.push(data);
    }
    if response.topics.is_empty() {
        let mut p = PartitionData::default();
        describe_partition(quorum, &mut p);
        response.topics.push(
            TopicData::default()
                .with_topic_name(TopicName(str_bytes(METADATA_TOPIC)))
                .with_partitions(vec![p]),
        );
    }
    response.nodes = voter_nodes(quorum, controller_listener);
    response
}

fn describe_partition(quorum: &MetadataQuorum, p: &mut PartitionData) {
    let metrics = quorum.metrics();
    let leader = metrics.current_leader.and_then(|l| i32::try_from(l).ok());
    p.leader_id = BrokerId(leader.unwrap_or(-1));
    p.leader_epoch = i32::try_from(metrics.current_term).unwrap_or(i32::MAX);
    if !quorum.is_active_controller() {
        p.error_code = ResponseError::NotLeaderOrFollower.code();
        p.error_message = Some(str_bytes("this node is not the metadata quorum leader"));
        return;
    }
    let now = now_ms();
    let leader_end = metrics.last_log_index.map_or(0, |i| i as i64 + 1);
    p.high_watermark = metrics.last_applied.map_or(0, |l| l.index as i64 + 1);
    let matched = metrics.replication.clone().unwrap_or_default();
    let membership = metrics.membership_config.membership();
    // a dynamic quorum's controllers have a directory id; static voters and brokers none
    let directory_id = |id: u64| {
        membership
            .nodes()
            .find(|(n, _)| **n == id)
            .and_then(|(_, node)| node.controller.as_ref())
            .map_or(Uuid::nil(), |c| c.directory_id)
    };
    let state = |id: u64| -> ReplicaState {
        let node = i32::try_from(id).unwrap_or(i32::MAX);
        let mut r = ReplicaState::default()
            .with_replica_id(BrokerId(node))
            .with_replica_directory_id(directory_id(id));
        if leader == Some(node) {
            r.log_end_offset = leader_end;
            r.last_fetch_timestamp = now;
            r.last_caught_up_timestamp = now;
        } else {
            r.log_end_offset = matched
                .get(&id)
                .copied()
                .flatten()
                .map_or(-1, |l| l.index as i64 + 1);
            let contact = quorum.last_contact_ms(node).unwrap_or(-1);
            r.last_fetch_timestamp = contact;
            r.last_caught_up_timestamp = if r.log_end_offset >= leader_end {
                contact
            } else {
                -1
            };
        }
        r
    };
    let voters: Vec<u64> = membership.voter_ids().collect();
    p.current_voters = voters.iter().map(|&id| state(id)).collect();
    p.observers = membership
        .learner_ids()
        .filter(|id| !voters.contains(id))
        .map(state)
        .collect();
    // a controller under a voter's id with another directory id (its data dir replaced):
    // an observer of its own replica key, which the leader does not replicate to yet
    for (id, dir, seen) in quorum.replacing_observers() {
        let known = u64::try_from(id).is_ok_and(|raft_id| directory_id(raft_id) == dir);
        if !known {
            p.observers.push(
                ReplicaState::default()
                    .with_replica_id(BrokerId(id))
                    .with_replica_directory_id(dir)
                    .with_log_end_offset(-1)
                    .with_last_fetch_timestamp(seen)
                    .with_last_caught_up_timestamp(-1),
            );
        }
    }
}

/// The voters' controller endpoints (observers, broker-only nodes, have none).
fn voter_nodes(quorum: &MetadataQuorum, controller_listener: &str) -> Vec<Node> {
    let metrics = quorum.metrics();
    let membership = metrics.membership_config.membership();
    let voters: Vec<u64> = membership.voter_ids().collect();
    membership
        .nodes()
        .filter(|(id, _)| voters.contains(id))
        .filter_map(|(id, node)| {
            let (host, port) = node.addr.rsplit_once(':')?;
            let port: u16 = port.parse().ok()?;
            Some(
                Node::default()
                    .with_node_id(BrokerId(i32::try_from(*id).ok()?))
                    .with_listeners(vec![Listener::default()
                        .with_name(str_bytes(
                            node.controller
                                .as_ref()
                                .map_or(controller_listener, |c| c.listener.as_str()),
                        ))
                        .with_host(str_bytes(
                            host.trim_start_matches('[').trim_end_matches(']'),
                        ))
                        .with_port(port)]),
            )
        })
        .collect()
}
