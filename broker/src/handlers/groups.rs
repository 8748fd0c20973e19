//! Group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, ListGroups, DescribeGroups, DeleteGroups, OffsetDelete, and KIP-848's
//! ConsumerGroupHeartbeat and ConsumerGroupDescribe. The
//! `GroupCoordinator` does the work; these functions translate versions (single vs batched
//! keys, v0–2 vs batched LeaveGroup, v0–7 vs multi-group OffsetFetch) and fields a version
//! does not carry, and answer offsets of partitions that do not exist (the coordinator knows
//! no topics; see [`unknown_partitions`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    BrokerId, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, DeleteGroupsRequest,
    DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};

use super::{str_bytes, Broker, RequestContext};
use crate::error::ResponseError;
use crate::group::{FetchedOffsets, OffsetFetchTopics, GROUP_METADATA_TOPIC_NAME};
use crate::metadata::MetadataImage;

fn code_of(result: Result<(), ResponseError>) -> i16 {
    result.err().map_or(0, |e| e.code())
}

/// FindCoordinator key types.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub(super) async fn handle_find_coordinator(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let keys: Vec<String> = if ctx.version >= 4 {
        request
            .coordinator_keys
            .iter()
            .map(|k| k.to_string())
            .collect()
    } else {
        vec![request.key.to_string()]
    };
    let mut coordinators = Vec::with_capacity(keys.len());
    for key in keys {
        let mut c = Coordinator::default();
        c.key = str_bytes(&key);
        match find_one(broker, ctx, request.key_type, &key).await {
            Ok((node_id, host, port)) => {
                c.node_id = BrokerId(node_id);
                c.host = str_bytes(&host);
                c.port = i32::from(port);
            }
            Err((code, message)) => {
                c.node_id = BrokerId(-1);
                c.port = -1;
                c.error_code = code.code();
                c.error_message = Some(str_bytes(&message));
            }
        }
        coordinators.push(c);
    }
    let mut response = FindCoordinatorResponse::default();
    if ctx.version >= 4 {
        response.coordinators = coordinators;
    } else if let Some(c) = coordinators.pop() {
        response.error_code = c.error_code;
        if ctx.version >= 1 {
            response.error_message = c.error_message;
        }
        response.node_id = c.node_id;
        response.host = c.host;
        response.port = c.port;
    }
    response
}

async fn find_one(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    key_type: i8,
    key: &str,
) -> Result<(i32, String, u16), (ResponseError, String)> {
    let (topic, partition) = match key_type {
        KEY_TYPE_GROUP => {
            broker
                .groups
                .ensure_offsets_topic()
                .await
                .map_err(|e| (e.code, e.message.unwrap_or_default()))?;
            (
                GROUP_METADATA_TOPIC_NAME,
                broker.groups.partition_for_group(key),
            )
        }
        KEY_TYPE_TRANSACTION => {
            broker
                .txn
                .ensure_state_topic()
                .await
                .map_err(|e| (e.code, e.message.unwrap_or_default()))?;
            (
                crate::txn::TRANSACTION_STATE_TOPIC_NAME,
                broker.txn.partition_for_txn(key),
            )
        }
        other => {
            return Err((
                ResponseError::InvalidRequest,
                format!("unknown coordinator key type {other}"),
            ))
        }
    };
    let image = broker.image();
    let leader = image
        .topic(topic)
        .and_then(|t| t.partitions.get(&partition))
        .map(|p| p.leader)
        .filter(|l| *l >= 0)
        .ok_or((
            ResponseError::CoordinatorNotAvailable,
            format!("{topic}-{partition} has no leader"),
        ))?;
    let endpoint = image
        .brokers
        .get(&leader)
        .filter(|b| !b.fenced)
        .and_then(|b| b.listeners.iter().find(|l| l.name == *ctx.listener_name))
        .ok_or((
            ResponseError::CoordinatorNotAvailable,
            format!("coordinator {leader} has no listener {}", ctx.listener_name),
        ))?;
    Ok((leader, endpoint.host.clone(), endpoint.port))
}

pub(super) async fn handle_join_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let client_id = ctx.client_id.clone().unwrap_or_default();
    let client_host = format!("/{}", ctx.peer.ip());
    let mut r = broker
        .groups
        .join_group(request, ctx.version, &client_id, &client_host)
        .await;
    if ctx.version < 7 {
        r.protocol_type = None;
        if r.protocol_name.is_none() {
            r.protocol_name = Some(str_bytes(""));
        }
    }
    if ctx.version < 9 {
        r.skip_assignment = false;
    }
    r
}

pub(super) async fn handle_sync_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let mut r = broker.groups.sync_group(request).await;
    if ctx.version < 5 {
        r.protocol_type = None;
        r.protocol_name = None;
    }
    r
}

pub(super) fn handle_heartbeat(
    broker: &Arc<Broker>,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let mut r = HeartbeatResponse::default();
    r.error_code = code_of(broker.groups.heartbeat(&request));
    r
}

pub(super) async fn handle_leave_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let batched = ctx.version >= 3;
    let members: Vec<MemberIdentity> = if batched {
        request.members.clone()
    } else {
        let mut m = MemberIdentity::default();
        m.member_id = request.member_id.clone();
        vec![m]
    };
    let mut response = LeaveGroupResponse::default();
    match broker
        .groups
        .leave_group(&request.group_id.0, &members)
        .await
    {
        Err(code) => response.error_code = code.code(),
        Ok(codes) if batched => {
            response.members = members
                .iter()
                .zip(codes)
                .map(|(m, code)| {
                    let mut r = MemberResponse::default();
                    r.member_id = m.member_id.clone();
                    r.group_instance_id = m.group_instance_id.clone();
                    r.error_code = code_of(code);
                    r
                })
                .collect();
        }
        Ok(codes) => response.error_code = codes.into_iter().next().map_or(0, code_of),
    }
    response
}

/// The (topic, partition) pairs among `partitions` that `image` does not have. Kafka's
/// request handlers answer these UNKNOWN_TOPIC_OR_PARTITION in OffsetCommit,
/// TxnOffsetCommit and OffsetDelete before the group coordinator sees the request, so no
/// offset is ever stored (or looked for) under a topic that does not exist.
pub(super) fn unknown_partitions<'a>(
    image: &MetadataImage,
    partitions: impl Iterator<Item = (&'a str, i32)>,
) -> HashSet<(String, i32)> {
    partitions
        .filter(|(topic, partition)| !image.has_partition(topic, *partition))
        .map(|(topic, partition)| (topic.to_owned(), partition))
        .collect()
}

/// Per-partition error codes of a request whose unknown partitions the handler answered and
/// whose other partitions the coordinator answered.
struct PartitionAnswers {
    unknown: HashSet<(String, i32)>,
    answered: HashMap<(String, i32), i16>,
}

impl PartitionAnswers {
    fn code(&self, topic: &str, partition: i32) -> i16 {
        let key = (topic.to_owned(), partition);
        if self.unknown.contains(&key) {
            ResponseError::UnknownTopicOrPartition.code()
        } else {
            // Every known partition went to the coordinator, which answers each.
            self.answered
                .get(&key)
                .copied()
                .unwrap_or(ResponseError::UnknownServerError.code())
        }
    }
}

/// OffsetCommit. Partitions of unknown topics (or beyond a topic's partitions) are answered
/// UNKNOWN_TOPIC_OR_PARTITION and left out of what the coordinator stores; when nothing is
/// left the group is not consulted at all (as Kafka). Answers follow the request's order.
pub(super) async fn handle_offset_commit(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let unknown = unknown_partitions(
        &broker.image(),
        request.topics.iter().flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.as_str(), p.partition_index))
        }),
    );
    if unknown.is_empty() {
        return broker.groups.commit_offsets(&request, ctx.version).await;
    }
    let mut known = request.clone();
    for t in &mut known.topics {
        let name = t.name.0.to_string();
        t.partitions
            .retain(|p| !unknown.contains(&(name.clone(), p.partition_index)));
    }
    known.topics.retain(|t| !t.partitions.is_empty());
    let mut answers = PartitionAnswers {
        unknown,
        answered: HashMap::new(),
    };
    if !known.topics.is_empty() {
        let r = broker.groups.commit_offsets(&known, ctx.version).await;
        answers.answered = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| ((t.name.0.to_string(), p.partition_index), p.error_code))
            })
            .collect();
    }
    let mut response = OffsetCommitResponse::default();
    response.topics = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let mut rt = OffsetCommitResponseTopic::default();
            rt.name = t.name.clone();
            rt.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut rp = OffsetCommitResponsePartition::default();
                    rp.partition_index = p.partition_index;
                    rp.error_code = answers.code(&name, p.partition_index);
                    rp
                })
                .collect();
            rt
        })
        .collect();
    response
}

pub(super) fn handle_offset_fetch(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let mut response = OffsetFetchResponse::default();
    if ctx.version >= 8 {
        for g in &request.groups {
            let topics: OffsetFetchTopics = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                    .collect()
            });
            let mut rg = OffsetFetchResponseGroup::default();
            rg.group_id = g.group_id.clone();
            if ctx.version >= 9 {
                if let Err(code) = broker.groups.validate_consumer_offset_fetch(
                    &g.group_id.0,
                    g.member_id.as_ref().map(|m| m.as_str()),
                    g.member_epoch,
                ) {
                    rg.error_code = code.code();
                    response.groups.push(rg);
                    continue;
                }
            }
            match broker.groups.fetch_offsets(&g.group_id.0, topics) {
                Ok(found) => {
                    rg.topics = to_topics_v8(found);
                    if request.require_stable {
                        let pending = broker.groups.pending_txn_offset_partitions(&g.group_id.0);
                        for t in &mut rg.topics {
                            for p in &mut t.partitions {
                                if pending.contains(&(t.name.0.to_string(), p.partition_index)) {
                                    p.error_code = ResponseError::UnstableOffsetCommit.code();
                                    p.committed_offset = -1;
                                }
                            }
                        }
                    }
                }
                Err(code) => rg.error_code = code.code(),
            }
            response.groups.push(rg);
        }
        return response;
    }
    let topics: OffsetFetchTopics = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    match broker
        .groups
        .fetch_offsets(&request.group_id.0, topics.clone())
    {
        Ok(found) => {
            response.topics = to_topics_v0(found, ctx.version);
            // Offsets of an open transaction: a require_stable fetch (v7+) must wait for it.
            if ctx.version >= 7 && request.require_stable {
                let pending = broker
                    .groups
                    .pending_txn_offset_partitions(&request.group_id.0);
                for t in &mut response.topics {
                    for p in &mut t.partitions {
                        if pending.contains(&(t.name.0.to_string(), p.partition_index)) {
                            p.error_code = ResponseError::UnstableOffsetCommit.code();
                            p.committed_offset = -1;
                        }
                    }
                }
            }
        }
        Err(code) => {
            if ctx.version >= 2 {
                response.error_code = code.code();
            }
            // Before v2 the error travels in every partition.
            let failed: FetchedOffsets = topics
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, None)).collect()))
                .collect();
            response.topics = to_topics_v0(failed, ctx.version);
            for t in &mut response.topics {
                for p in &mut t.partitions {
                    p.error_code = code.code();
                }
            }
        }
    }
    response
}

fn to_topics_v0(found: FetchedOffsets, version: i16) -> Vec<OffsetFetchResponseTopic> {
    found
        .into_iter()
        .map(|(topic, partitions)| {
            let mut t = OffsetFetchResponseTopic::default();
            t.name = TopicName(str_bytes(&topic));
            t.partitions = partitions
                .into_iter()
                .map(|(p, v)| {
                    let mut rp = OffsetFetchResponsePartition::default();
                    rp.partition_index = p;
                    rp.committed_offset = v.as_ref().map(|v| v.offset).unwrap_or(-1);
                    rp.committed_leader_epoch = if version >= 5 {
                        v.as_ref().map(|v| v.leader_epoch).unwrap_or(-1)
                    } else {
                        -1
                    };
                    rp.metadata = Some(str_bytes(
                        v.as_ref().map(|v| v.metadata.as_str()).unwrap_or(""),
                    ));
                    rp
                })
                .collect();
            t
        })
        .collect()
}

fn to_topics_v8(found: FetchedOffsets) -> Vec<OffsetFetchResponseTopics> {
    found
        .into_iter()
        .map(|(topic, partitions)| {
            let mut t = OffsetFetchResponseTopics::default();
            t.name = TopicName(str_bytes(&topic));
            t.partitions = partitions
                .into_iter()
                .map(|(p, v)| {
                    let mut rp = OffsetFetchResponsePartitions::default();
                    rp.partition_index = p;
                    rp.committed_offset = v.as_ref().map(|v| v.offset).unwrap_or(-1);
                    rp.committed_leader_epoch = v.as_ref().map(|v| v.leader_epoch).unwrap_or(-1);
                    rp.metadata = Some(str_bytes(
                        v.as_ref().map(|v| v.metadata.as_str()).unwrap_or(""),
                    ));
                    rp
                })
                .collect();
            t
        })
        .collect()
}

pub(super) fn handle_list_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_string())
        .collect();
    let types: Vec<String> = request.types_filter.iter().map(|s| s.to_string()).collect();
    let mut response = ListGroupsResponse::default();
    match broker.groups.list_groups(&states, &types) {
        Ok(mut groups) => {
            for g in &mut groups {
                if ctx.version < 4 {
                    g.group_state = Default::default();
                }
                if ctx.version < 5 {
                    g.group_type = Default::default();
                }
            }
            response.groups = groups;
        }
        Err(code) => response.error_code = code.code(),
    }
    response
}

pub(super) fn handle_describe_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut response = DescribeGroupsResponse::default();
    response.groups = request
        .groups
        .iter()
        .map(|g| {
            let mut d = broker.groups.describe_group(&g.0);
            if ctx.version < 3 {
                d.authorized_operations = super::AUTHORIZED_OPERATIONS_OMITTED;
            }
            if ctx.version < 6 {
                d.error_message = None;
                // Before v6 a group that is not there (or not classic) is just Dead.
                if d.error_code == ResponseError::GroupIdNotFound.code() {
                    d.error_code = 0;
                }
            }
            if ctx.version < 4 {
                for m in &mut d.members {
                    m.group_instance_id = None;
                }
            }
            d
        })
        .collect();
    response
}

pub(super) async fn handle_delete_groups(
    broker: &Arc<Broker>,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ids: Vec<String> = request
        .groups_names
        .iter()
        .map(|g| g.0.to_string())
        .collect();
    let codes = broker.groups.delete_groups(&ids).await;
    let mut response = DeleteGroupsResponse::default();
    response.results = ids
        .iter()
        .zip(codes)
        .map(|(id, code)| {
            let mut r = DeletableGroupResult::default();
            r.group_id = GroupId(str_bytes(id));
            r.error_code = code_of(code);
            r
        })
        .collect();
    response
}

/// OffsetDelete. Partitions of unknown topics are answered UNKNOWN_TOPIC_OR_PARTITION; the
/// coordinator still checks the group (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP), and a group
/// error replaces the partition answers (as Kafka).
pub(super) async fn handle_offset_delete(
    broker: &Arc<Broker>,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let unknown = unknown_partitions(
        &broker.image(),
        request.topics.iter().flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.as_str(), p.partition_index))
        }),
    );
    if unknown.is_empty() {
        return broker.groups.delete_offsets(&request).await;
    }
    let mut known = request.clone();
    for t in &mut known.topics {
        let name = t.name.0.to_string();
        t.partitions
            .retain(|p| !unknown.contains(&(name.clone(), p.partition_index)));
    }
    known.topics.retain(|t| !t.partitions.is_empty());
    let r = broker.groups.delete_offsets(&known).await;
    if r.error_code != 0 {
        return r;
    }
    let answers = PartitionAnswers {
        unknown,
        answered: r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| ((t.name.0.to_string(), p.partition_index), p.error_code))
            })
            .collect(),
    };
    let mut response = OffsetDeleteResponse::default();
    response.topics = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let mut rt = OffsetDeleteResponseTopic::default();
            rt.name = t.name.clone();
            rt.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut rp = OffsetDeleteResponsePartition::default();
                    rp.partition_index = p.partition_index;
                    rp.error_code = answers.code(&name, p.partition_index);
                    rp
                })
                .collect();
            rt
        })
        .collect();
    response
}

pub(super) async fn handle_consumer_group_heartbeat(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let client_id = ctx.client_id.clone().unwrap_or_default();
    let client_host = format!("/{}", ctx.peer.ip());
    broker
        .groups
        .consumer_group_heartbeat(request, ctx.version, &client_id, &client_host)
        .await
}

pub(super) fn handle_consumer_group_describe(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let ids: Vec<String> = request.group_ids.iter().map(|g| g.0.to_string()).collect();
    let mut response = ConsumerGroupDescribeResponse::default();
    response.groups = broker
        .groups
        .consumer_group_describe(&ids, request.include_authorized_operations);
    if ctx.version < 1 {
        // memberType arrived in v1.
        for g in &mut response.groups {
            for m in &mut g.members {
                m.member_type = -1;
            }
        }
    }
    response
}
