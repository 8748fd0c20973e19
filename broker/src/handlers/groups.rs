//! Group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, ListGroups, DescribeGroups, DeleteGroups, OffsetDelete, and KIP-848's
//! ConsumerGroupHeartbeat and ConsumerGroupDescribe. The
//! `GroupCoordinator` does the work; these functions translate versions (single vs batched
//! keys, v0–2 vs batched LeaveGroup, v0–7 vs multi-group OffsetFetch) and fields a version
//! does not carry, and answer offsets of partitions that do not exist (the coordinator knows
//! no topics; see [`RequestedPartitions`]).

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::consumer_group_describe_response::{
    self as consumer_describe, DescribedGroup as DescribedConsumerGroup,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as HeartbeatAssignment, TopicPartitions as HeartbeatTopicPartitions,
};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
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

use super::authorization::Authz;
use super::requested_partitions::RequestedPartitions;
use super::{str_bytes, Broker, RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use crate::error::{ApiError, ResponseError};
use crate::group::consumer::{Assignment, HeartbeatArgs};
use crate::group::records::OffsetCommitValue;
use crate::group::{
    ClassicGroupDescription, CommittedOffset, ConsumerGroupDescription, DescribedTopicPartitions,
    FetchedOffsets, GroupListing, GroupState, JoinArgs, JoinOutcome, LeavingMember,
    MemberHeartbeat, OffsetCommitArgs, OffsetFetchTopics, PartitionResults, SyncArgs, SyncOutcome,
    GROUP_METADATA_TOPIC_NAME,
};
use crate::security::acl::{AclOperation, ResourceType};

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
    // DESCRIBE on the group or transactional id (Kafka's FindCoordinator check).
    let authz = broker.authz(ctx);
    match key_type {
        KEY_TYPE_GROUP => authz.check(AclOperation::Describe, ResourceType::Group, key),
        KEY_TYPE_TRANSACTION => {
            authz.check(AclOperation::Describe, ResourceType::TransactionalId, key)
        }
        _ => Ok(()),
    }
    .map_err(|refused| (refused, refused.to_string()))?;
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

/// The client host as Kafka reports it in group descriptions: `/<ip>`.
fn client_host(ctx: &RequestContext) -> String {
    format!("/{}", ctx.peer.ip())
}

pub(super) async fn handle_join_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let authz = broker.authz(ctx);
    if let Err(refused) = authz.check(AclOperation::Read, ResourceType::Group, &request.group_id.0)
    {
        let mut r = JoinGroupResponse::default()
            .with_error_code(refused.code())
            .with_generation_id(-1);
        if ctx.version < 7 {
            r.protocol_name = Some(str_bytes(""));
        }
        return r;
    }
    let session_timeout_ms = request.session_timeout_ms;
    let join = JoinArgs {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: client_host(ctx),
        session_timeout_ms,
        // v0 carries no rebalance timeout (-1): the session timeout bounds the rebalance.
        rebalance_timeout_ms: if request.rebalance_timeout_ms > 0 {
            request.rebalance_timeout_ms
        } else {
            session_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        version: ctx.version,
    };
    join_group_response(broker.groups.join_group(join).await, ctx.version)
}

fn join_group_response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    let mut r = JoinGroupResponse::default();
    r.error_code = outcome.error.map_or(0, |e| e.code());
    r.generation_id = outcome.generation_id;
    r.member_id = str_bytes(&outcome.member_id);
    r.leader = str_bytes(&outcome.leader);
    r.members = outcome
        .members
        .into_iter()
        .map(|m| {
            let mut jm = JoinGroupResponseMember::default();
            jm.member_id = str_bytes(&m.member_id);
            jm.group_instance_id = m.group_instance_id.as_deref().map(str_bytes);
            jm.metadata = m.metadata;
            jm
        })
        .collect();
    if version >= 7 {
        r.protocol_type = outcome.protocol_type.as_deref().map(str_bytes);
        r.protocol_name = outcome.protocol_name.as_deref().map(str_bytes);
    } else {
        // Before v7 the protocol name is not nullable.
        r.protocol_name = Some(str_bytes(outcome.protocol_name.as_deref().unwrap_or("")));
    }
    if version >= 9 {
        r.skip_assignment = outcome.skip_assignment;
    }
    r
}

pub(super) async fn handle_sync_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let authz = broker.authz(ctx);
    if let Err(refused) = authz.check(AclOperation::Read, ResourceType::Group, &request.group_id.0)
    {
        return SyncGroupResponse::default().with_error_code(refused.code());
    }
    let sync = SyncArgs {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        generation_id: request.generation_id,
        protocol_type: request.protocol_type.as_ref().map(|s| s.to_string()),
        protocol_name: request.protocol_name.as_ref().map(|s| s.to_string()),
        assignments: request
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
            .collect(),
    };
    sync_group_response(broker.groups.sync_group(sync).await, ctx.version)
}

fn sync_group_response(outcome: SyncOutcome, version: i16) -> SyncGroupResponse {
    let mut r = SyncGroupResponse::default();
    match outcome {
        Ok(a) => {
            r.assignment = a.assignment;
            // The protocol fields arrived in v5.
            if version >= 5 {
                r.protocol_type = a.protocol_type.as_deref().map(str_bytes);
                r.protocol_name = a.protocol_name.as_deref().map(str_bytes);
            }
        }
        Err(code) => r.error_code = code.code(),
    }
    r
}

pub(super) fn handle_heartbeat(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let authz = broker.authz(ctx);
    let beat = authz
        .check(AclOperation::Read, ResourceType::Group, &request.group_id.0)
        .and_then(|()| {
            broker.groups.heartbeat(
                &request.group_id.0,
                &request.member_id,
                request.group_instance_id.as_deref(),
                request.generation_id,
            )
        });
    HeartbeatResponse::default().with_error_code(code_of(beat))
}

pub(super) async fn handle_leave_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let authz = broker.authz(ctx);
    if let Err(refused) = authz.check(AclOperation::Read, ResourceType::Group, &request.group_id.0)
    {
        return LeaveGroupResponse::default().with_error_code(refused.code());
    }
    let batched = ctx.version >= 3;
    let members: Vec<LeavingMember> = if batched {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let mut response = LeaveGroupResponse::default();
    match broker
        .groups
        .leave_group(&request.group_id.0, &members)
        .await
    {
        Err(code) => response.error_code = code.code(),
        Ok(codes) if batched => {
            response.members = request
                .members
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

/// The codes a coordinator gave the known partitions of a request, in request order, one per
/// call (a group-level error answers them all).
fn coordinator_codes(
    answered: Result<PartitionResults, ResponseError>,
) -> impl FnMut(&str, i32) -> i16 {
    let mut answered = answered.map(|results| {
        results
            .into_iter()
            .flat_map(|(_, partitions)| partitions.into_iter().map(|(_, result)| result))
    });
    move |_, _| match &mut answered {
        // Every known partition went to the coordinator, which answers each.
        Ok(results) => results
            .next()
            .unwrap_or(Err(ResponseError::UnknownServerError))
            .err()
            .map_or(0, |e| e.code()),
        Err(code) => code.code(),
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
    // As Kafka: READ on the group, else every partition is GROUP_AUTHORIZATION_FAILED;
    // then READ on each topic, checked before whether it exists.
    let authz = broker.authz(ctx);
    let group_refused = authz.check(AclOperation::Read, ResourceType::Group, &request.group_id.0);
    let requested = RequestedPartitions::new(&broker.image(), &request.topics, |topic| {
        group_refused
            .and_then(|()| authz.check(AclOperation::Read, ResourceType::Topic, topic))
            .err()
    });
    let topics: Vec<(String, Vec<CommittedOffset>)> = request
        .topics
        .iter()
        .filter(|t| !requested.is_refused(&t.name.0))
        .map(|t| {
            let name = t.name.0.to_string();
            let offsets = t
                .partitions
                .iter()
                .filter(|p| !requested.is_answered_here(&name, p.partition_index))
                .map(|p| CommittedOffset {
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p
                        .committed_metadata
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                })
                .collect();
            (name, offsets)
        })
        .filter(|(_, offsets): &(String, Vec<CommittedOffset>)| !offsets.is_empty())
        .collect();
    let answered = if topics.is_empty() && requested.answers_any_here() {
        Ok(PartitionResults::new())
    } else {
        let commit = OffsetCommitArgs {
            group_id: request.group_id.0.to_string(),
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
            generation_id_or_member_epoch: request.generation_id_or_member_epoch,
            topics,
            version: ctx.version,
        };
        broker.groups.commit_offsets(&commit).await
    };
    OffsetCommitResponse::default().with_topics(requested.respond(coordinator_codes(answered)))
}

pub(super) fn handle_offset_fetch(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let mut response = OffsetFetchResponse::default();
    // As Kafka: DESCRIBE on the group, then what `answered_offsets` shows of its topics.
    let authz = broker.authz(ctx);
    if ctx.version >= 8 {
        for g in &request.groups {
            let topics: OffsetFetchTopics = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                    .collect()
            });
            let mut rg = OffsetFetchResponseGroup::default();
            rg.group_id = g.group_id.clone();
            if !authz.allows_group(AclOperation::Describe, &g.group_id.0) {
                rg.error_code = ResponseError::GroupAuthorizationFailed.code();
                response.groups.push(rg);
                continue;
            }
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
                    let shown = OffsetsShown {
                        named: g.topics.is_some(),
                        require_stable: request.require_stable,
                    };
                    let answered = answered_offsets(broker, &authz, &g.group_id.0, found, shown);
                    rg.topics = to_topics_v8(answered);
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
    let fetched = if authz.allows_group(AclOperation::Describe, &request.group_id.0) {
        broker
            .groups
            .fetch_offsets(&request.group_id.0, topics.clone())
    } else {
        Err(ResponseError::GroupAuthorizationFailed)
    };
    let answered = match fetched {
        Ok(found) => {
            let shown = OffsetsShown {
                named: request.topics.is_some(),
                // Offsets of an open transaction: a require_stable fetch (v7+) must wait.
                require_stable: ctx.version >= 7 && request.require_stable,
            };
            answered_offsets(broker, &authz, &request.group_id.0, found, shown)
        }
        Err(code) => {
            if ctx.version >= 2 {
                response.error_code = code.code();
            }
            // Before v2 the error travels in every partition.
            let partition = |p| AnsweredOffset {
                error_code: code.code(),
                ..AnsweredOffset::new(p, None)
            };
            topics
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(partition).collect()))
                .collect()
        }
    };
    response.topics = to_topics_v0(answered, ctx.version);
    response
}

/// One partition of an OffsetFetch answer, in either wire layout (v0–7 or v8+).
struct AnsweredOffset {
    partition: i32,
    /// -1 = none (nor a leader epoch, nor metadata).
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error_code: i16,
}

impl AnsweredOffset {
    fn new(partition: i32, committed: Option<OffsetCommitValue>) -> Self {
        let (offset, leader_epoch, metadata) = committed.map_or((-1, -1, String::new()), |v| {
            (v.offset, v.leader_epoch, v.metadata)
        });
        Self {
            partition,
            offset,
            leader_epoch,
            metadata,
            error_code: 0,
        }
    }
}

type AnsweredOffsets = Vec<(String, Vec<AnsweredOffset>)>;

/// Which of a group's offsets an OffsetFetch shows, and how.
#[derive(Clone, Copy)]
struct OffsetsShown {
    /// The request named its topics (else: all the group's topics).
    named: bool,
    /// Offsets of an open transaction are UNSTABLE_OFFSET_COMMIT.
    require_stable: bool,
}

/// What OffsetFetch shows of the offsets `found` for `group_id`: of the topics the request
/// named, those without DESCRIBE are TOPIC_AUTHORIZATION_FAILED (audited); of all the
/// group's topics, those are left out (quietly). Then, with `require_stable`, a partition
/// with offsets of an open transaction is UNSTABLE_OFFSET_COMMIT.
fn answered_offsets(
    broker: &Broker,
    authz: &Authz<'_>,
    group_id: &str,
    found: FetchedOffsets,
    shown: OffsetsShown,
) -> AnsweredOffsets {
    let mut answered: AnsweredOffsets = found
        .into_iter()
        .filter_map(|(topic, partitions)| {
            let refused = if shown.named {
                !authz.allows_topic(AclOperation::Describe, &topic)
            } else if authz.allows_quietly(AclOperation::Describe, ResourceType::Topic, &topic) {
                false
            } else {
                return None;
            };
            let partitions = partitions.into_iter().map(|(p, committed)| {
                if refused {
                    AnsweredOffset {
                        error_code: ResponseError::TopicAuthorizationFailed.code(),
                        ..AnsweredOffset::new(p, None)
                    }
                } else {
                    AnsweredOffset::new(p, committed)
                }
            });
            Some((topic, partitions.collect()))
        })
        .collect();
    if shown.require_stable {
        let pending = broker.groups.pending_txn_offset_partitions(group_id);
        for (topic, partitions) in &mut answered {
            for p in partitions.iter_mut() {
                if pending.contains(&(topic.clone(), p.partition)) {
                    p.error_code = ResponseError::UnstableOffsetCommit.code();
                    p.offset = -1;
                }
            }
        }
    }
    answered
}

fn to_topics_v0(answered: AnsweredOffsets, version: i16) -> Vec<OffsetFetchResponseTopic> {
    answered
        .into_iter()
        .map(|(topic, partitions)| {
            let mut t = OffsetFetchResponseTopic::default();
            t.name = TopicName(str_bytes(&topic));
            t.partitions = partitions
                .into_iter()
                .map(|p| {
                    let mut rp = OffsetFetchResponsePartition::default();
                    rp.partition_index = p.partition;
                    rp.committed_offset = p.offset;
                    // Leader epochs arrived in v5.
                    rp.committed_leader_epoch = if version >= 5 { p.leader_epoch } else { -1 };
                    rp.metadata = Some(str_bytes(&p.metadata));
                    rp.error_code = p.error_code;
                    rp
                })
                .collect();
            t
        })
        .collect()
}

fn to_topics_v8(answered: AnsweredOffsets) -> Vec<OffsetFetchResponseTopics> {
    answered
        .into_iter()
        .map(|(topic, partitions)| {
            let mut t = OffsetFetchResponseTopics::default();
            t.name = TopicName(str_bytes(&topic));
            t.partitions = partitions
                .into_iter()
                .map(|p| {
                    let mut rp = OffsetFetchResponsePartitions::default();
                    rp.partition_index = p.partition;
                    rp.committed_offset = p.offset;
                    rp.committed_leader_epoch = p.leader_epoch;
                    rp.metadata = Some(str_bytes(&p.metadata));
                    rp.error_code = p.error_code;
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
    // As Kafka: DESCRIBE on the cluster lists every group, else those the principal may
    // DESCRIBE (quietly).
    let authz = broker.authz(ctx);
    let all = authz.allows_quietly(
        AclOperation::Describe,
        ResourceType::Cluster,
        crate::security::acl::CLUSTER_NAME,
    );
    match broker.groups.list_groups(&states, &types) {
        Ok(groups) => {
            response.groups = groups
                .iter()
                .filter(|g| {
                    all || authz.allows_quietly(
                        AclOperation::Describe,
                        ResourceType::Group,
                        &g.group_id,
                    )
                })
                .map(|g| listed_group(g, ctx.version))
                .collect()
        }
        Err(code) => response.error_code = code.code(),
    }
    response
}

fn listed_group(g: &GroupListing, version: i16) -> ListedGroup {
    let mut l = ListedGroup::default();
    l.group_id = GroupId(str_bytes(&g.group_id));
    l.protocol_type = str_bytes(&g.protocol_type);
    // The state filter and field arrived in v4, the type in v5.
    if version >= 4 {
        l.group_state = str_bytes(g.state);
    }
    if version >= 5 {
        l.group_type = str_bytes(g.group_type);
    }
    l
}

pub(super) fn handle_describe_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut response = DescribeGroupsResponse::default();
    let authz = broker.authz(ctx);
    response.groups = request
        .groups
        .iter()
        .map(|g| {
            if !authz.allows_group(AclOperation::Describe, &g.0) {
                let mut d = DescribedGroup::default();
                d.group_id = g.clone();
                d.error_code = ResponseError::GroupAuthorizationFailed.code();
                d.authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
                return d;
            }
            let mut d = described_group(&g.0, broker.groups.describe_group(&g.0), ctx.version);
            // Authorized operations arrived in v3.
            if request.include_authorized_operations && ctx.version >= 3 {
                d.authorized_operations = authz.operations(ResourceType::Group, &g.0);
            }
            d
        })
        .collect();
    response
}

fn described_group(
    group_id: &str,
    described: Result<ClassicGroupDescription, ApiError>,
    version: i16,
) -> DescribedGroup {
    let mut d = DescribedGroup::default();
    d.group_id = GroupId(str_bytes(group_id));
    // Filled in by the caller when asked for.
    d.authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
    match described {
        Ok(g) => {
            d.group_state = str_bytes(g.state);
            d.protocol_type = str_bytes(&g.protocol_type);
            d.protocol_data = str_bytes(&g.protocol);
            d.members = g
                .members
                .into_iter()
                .map(|m| {
                    let mut dm = DescribedGroupMember::default();
                    dm.member_id = str_bytes(&m.member_id);
                    // Instance ids arrived in v4.
                    if version >= 4 {
                        dm.group_instance_id = m.group_instance_id.as_deref().map(str_bytes);
                    }
                    dm.client_id = str_bytes(&m.client_id);
                    dm.client_host = str_bytes(&m.client_host);
                    dm.member_metadata = m.metadata;
                    dm.member_assignment = m.assignment;
                    dm
                })
                .collect();
        }
        // Before v6 a group that is not there (or not classic) is just Dead.
        Err(e) if e.code == ResponseError::GroupIdNotFound => {
            d.group_state = str_bytes(GroupState::Dead.name());
            if version >= 6 {
                d.error_code = e.error_code();
                d.error_message = e.error_message();
            }
        }
        Err(e) => {
            d.error_code = e.error_code();
            if version >= 6 {
                d.error_message = e.error_message();
            }
        }
    }
    d
}

pub(super) async fn handle_delete_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    // DELETE on each group; the refused ones never reach the coordinator.
    let authz = broker.authz(ctx);
    let (ids, refused): (Vec<String>, Vec<String>) = request
        .groups_names
        .iter()
        .map(|g| g.0.to_string())
        .partition(|id| authz.allows_group(AclOperation::Delete, id));
    let codes = broker.groups.delete_groups(&ids).await;
    let mut response = DeleteGroupsResponse::default();
    response.results = ids
        .iter()
        .zip(codes)
        .map(|(id, code)| (id, code_of(code)))
        .chain(
            refused
                .iter()
                .map(|id| (id, ResponseError::GroupAuthorizationFailed.code())),
        )
        .map(|(id, code)| {
            let mut r = DeletableGroupResult::default();
            r.group_id = GroupId(str_bytes(id));
            r.error_code = code;
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
    ctx: &RequestContext,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    // As Kafka: DELETE on the group for the whole request, READ on each topic.
    let authz = broker.authz(ctx);
    if let Err(refused) = authz.check(
        AclOperation::Delete,
        ResourceType::Group,
        &request.group_id.0,
    ) {
        return OffsetDeleteResponse::default().with_error_code(refused.code());
    }
    let requested = RequestedPartitions::new(&broker.image(), &request.topics, |topic| {
        authz
            .check(AclOperation::Read, ResourceType::Topic, topic)
            .err()
    });
    let topics: Vec<(String, Vec<i32>)> = requested
        .topics()
        .iter()
        .filter(|(name, _)| !requested.is_refused(&name.0))
        .map(|(name, partitions)| {
            let known = partitions.iter().copied();
            let known = known.filter(|p| !requested.is_answered_here(&name.0, *p));
            (name.0.to_string(), known.collect::<Vec<i32>>())
        })
        .filter(|(_, partitions)| !partitions.is_empty() || !requested.has_unknown())
        .collect();
    let answered = broker
        .groups
        .delete_offsets(&request.group_id.0, &topics)
        .await;
    let mut response = OffsetDeleteResponse::default();
    if let Err(code) = answered {
        response.error_code = code.code();
        return response;
    }
    response.topics = requested.respond(coordinator_codes(answered));
    response
}

pub(super) async fn handle_consumer_group_heartbeat(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    // As Kafka, before any authorization: the consumer protocol needs group.version 1
    // finalized (a cluster at 3.9 has 0), else UNSUPPORTED_VERSION alone.
    if !crate::metadata::features::consumer_protocol_enabled(&broker.image().finalized_features()) {
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code());
    }
    // As Kafka: READ on the group, DESCRIBE on every subscribed topic.
    let authz = broker.authz(ctx);
    let refused = if !authz.allows_group(AclOperation::Read, &request.group_id.0) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else if request
        .subscribed_topic_names
        .as_ref()
        .is_some_and(|names| {
            names
                .iter()
                .map(|n| n.0.as_str())
                .collect::<HashSet<_>>()
                .into_iter()
                .filter(|name| !authz.allows_topic(AclOperation::Describe, name))
                .count()
                > 0
        })
    {
        Some(ResponseError::TopicAuthorizationFailed)
    } else {
        None
    };
    if let Some(code) = refused {
        return ConsumerGroupHeartbeatResponse::default().with_error_code(code.code());
    }
    let image = broker.image();
    // Owned partitions of topics the image lacks (deleted) are simply no longer owned.
    let owned: Option<Assignment> = request.topic_partitions.as_ref().map(|tps| {
        let mut owned = Assignment::new();
        for tp in tps {
            if let Some(t) = image.topic_by_id(tp.topic_id) {
                owned
                    .entry(t.name.clone())
                    .or_default()
                    .extend(tp.partitions.iter().copied());
            }
        }
        owned
    });
    let args = HeartbeatArgs {
        version: ctx.version,
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: request.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .as_ref()
            .map(|ns| ns.iter().map(|n| n.0.to_string()).collect()),
        subscribed_topic_regex: request
            .subscribed_topic_regex
            .as_ref()
            .map(|s| s.to_string()),
        server_assignor: request.server_assignor.as_ref().map(|s| s.to_string()),
        owned,
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: client_host(ctx),
    };
    let outcome = broker
        .groups
        .consumer_group_heartbeat(&image, &request.group_id.0, args)
        .await;
    consumer_group_heartbeat_response(outcome)
}

fn consumer_group_heartbeat_response(
    outcome: Result<MemberHeartbeat, ApiError>,
) -> ConsumerGroupHeartbeatResponse {
    let mut r = ConsumerGroupHeartbeatResponse::default();
    match outcome {
        Ok(m) => {
            r.member_id = Some(str_bytes(&m.member_id));
            r.member_epoch = m.member_epoch;
            r.heartbeat_interval_ms = m.heartbeat_interval_ms;
            r.assignment = m.assignment.map(|topics| {
                let mut a = HeartbeatAssignment::default();
                a.topic_partitions = topics
                    .into_iter()
                    .map(|(topic_id, partitions)| {
                        let mut tp = HeartbeatTopicPartitions::default();
                        tp.topic_id = topic_id;
                        tp.partitions = partitions;
                        tp
                    })
                    .collect();
                a
            });
        }
        Err(e) => {
            r.error_code = e.error_code();
            r.error_message = e.error_message();
        }
    }
    r
}

/// ConsumerGroupDescribe member types (v1).
const MEMBER_TYPE_CLASSIC: i8 = 0;
const MEMBER_TYPE_CONSUMER: i8 = 1;

pub(super) fn handle_consumer_group_describe(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    // As Kafka, before any authorization: without group.version 1 every group is
    // UNSUPPORTED_VERSION alone.
    if !crate::metadata::features::consumer_protocol_enabled(&broker.image().finalized_features()) {
        let mut response = ConsumerGroupDescribeResponse::default();
        response.groups = request
            .group_ids
            .iter()
            .map(|group_id| {
                let mut d = DescribedConsumerGroup::default();
                d.group_id = group_id.clone();
                d.error_code = ResponseError::UnsupportedVersion.code();
                d
            })
            .collect();
        return response;
    }
    // DESCRIBE on each group; the refused ones never reach the coordinator.
    let authz = broker.authz(ctx);
    let ids: Vec<String> = request.group_ids.iter().map(|g| g.0.to_string()).collect();
    let allowed: Vec<bool> = ids
        .iter()
        .map(|id| authz.allows_group(AclOperation::Describe, id))
        .collect();
    let described_ids: Vec<String> = ids
        .iter()
        .zip(&allowed)
        .filter(|(_, allowed)| **allowed)
        .map(|(id, _)| id.clone())
        .collect();
    let mut described = broker
        .groups
        .consumer_group_describe(&described_ids)
        .into_iter();
    let mut response = ConsumerGroupDescribeResponse::default();
    for (group_id, allowed) in ids.iter().zip(allowed) {
        let result = if allowed { described.next() } else { None };
        let d = match result {
            Some(result) => {
                let mut d = described_consumer_group(group_id, result, ctx.version);
                d.authorized_operations = if request.include_authorized_operations {
                    authz.operations(ResourceType::Group, group_id)
                } else {
                    AUTHORIZED_OPERATIONS_OMITTED
                };
                d
            }
            None => {
                let mut d = DescribedConsumerGroup::default();
                d.group_id = GroupId(str_bytes(group_id));
                d.error_code = ResponseError::GroupAuthorizationFailed.code();
                d.authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
                d
            }
        };
        response.groups.push(d);
    }
    response
}

fn described_consumer_group(
    group_id: &str,
    described: Result<ConsumerGroupDescription, ApiError>,
    version: i16,
) -> DescribedConsumerGroup {
    let mut d = DescribedConsumerGroup::default();
    d.group_id = GroupId(str_bytes(group_id));
    let g = match described {
        Ok(g) => g,
        Err(e) => {
            d.error_code = e.error_code();
            d.error_message = e.error_message();
            return d;
        }
    };
    let assignment = |topics: Vec<DescribedTopicPartitions>| {
        let mut a = consumer_describe::Assignment::default();
        a.topic_partitions = topics
            .into_iter()
            .map(|t| {
                let mut tp = consumer_describe::TopicPartitions::default();
                tp.topic_id = t.topic_id;
                tp.topic_name = TopicName(str_bytes(&t.topic_name));
                tp.partitions = t.partitions;
                tp
            })
            .collect();
        a
    };
    d.group_state = str_bytes(g.state);
    d.group_epoch = g.group_epoch;
    d.assignment_epoch = g.assignment_epoch;
    d.assignor_name = str_bytes(&g.assignor_name);
    d.members = g
        .members
        .into_iter()
        .map(|m| {
            let mut dm = consumer_describe::Member::default();
            dm.member_id = str_bytes(&m.member_id);
            dm.instance_id = m.instance_id.as_deref().map(str_bytes);
            dm.rack_id = m.rack_id.as_deref().map(str_bytes);
            dm.member_epoch = m.member_epoch;
            dm.client_id = str_bytes(&m.client_id);
            dm.client_host = str_bytes(&m.client_host);
            dm.subscribed_topic_names = m
                .subscribed_topic_names
                .iter()
                .map(|t| TopicName(str_bytes(t)))
                .collect();
            dm.subscribed_topic_regex = m.subscribed_topic_regex.as_deref().map(str_bytes);
            dm.assignment = assignment(m.assignment);
            dm.target_assignment = assignment(m.target_assignment);
            // memberType arrived in v1.
            dm.member_type = match (version, m.uses_classic_protocol) {
                (0, _) => -1,
                (_, true) => MEMBER_TYPE_CLASSIC,
                (_, false) => MEMBER_TYPE_CONSUMER,
            };
            dm
        })
        .collect();
    d
}
