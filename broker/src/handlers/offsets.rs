//! ListOffsets, OffsetForLeaderEpoch and DeleteRecords: offset queries and the one
//! client-driven way to move a log's start offset.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, ListOffsetsRequest, ListOffsetsResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};

use super::{Broker, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::replica::Partition;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::types::TopicPartition;

/// ListOffsets special timestamps.
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
const LATEST_TIERED_TIMESTAMP: i64 = -5;

fn leader_partition(broker: &Broker, tp: &TopicPartition) -> Result<Arc<Partition>, ApiError> {
    broker.replicas.leader_partition(tp)
}

pub(super) async fn handle_list_offsets(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let version = ctx.version;
    let read_committed = request.isolation_level == 1;
    let authz = broker.authz(ctx);
    let mut response = ListOffsetsResponse::default();
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let describable = authz.allows_topic(AclOperation::Describe, &name);
        let mut t = ListOffsetsTopicResponse::default();
        t.name = topic.name.clone();
        for p in topic.partitions {
            let tp = TopicPartition::new(name.clone(), p.partition_index);
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = p.partition_index;
            let listed = if describable {
                list_offset(
                    broker,
                    &tp,
                    p.current_leader_epoch,
                    p.timestamp,
                    read_committed,
                )
                .await
            } else {
                Err(ResponseError::TopicAuthorizationFailed.into())
            };
            match listed {
                Ok((offset, timestamp, leader_epoch)) => {
                    pr.offset = offset;
                    pr.timestamp = timestamp;
                    // The field exists from v4; older encoders refuse a non-default value.
                    if version >= 4 {
                        pr.leader_epoch = leader_epoch;
                    }
                }
                Err(e) => {
                    pr.error_code = e.error_code();
                    pr.offset = -1;
                    pr.timestamp = -1;
                }
            }
            t.partitions.push(pr);
        }
        response.topics.push(t);
    }
    response
}

/// Returns (offset, timestamp, leader epoch) for one ListOffsets query.
async fn list_offset(
    broker: &Broker,
    tp: &TopicPartition,
    current_leader_epoch: i32,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64, i32), ApiError> {
    let p = leader_partition(broker, tp)?;
    p.check_leader_epoch(current_leader_epoch)?;
    let epoch = p.leader_epoch();
    match timestamp {
        LATEST_TIMESTAMP => {
            let end = if read_committed {
                p.last_stable_offset()
            } else {
                p.high_watermark()
            };
            Ok((end, -1, epoch))
        }
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Ok((p.log.log_start_offset(), -1, epoch)),
        LATEST_TIERED_TIMESTAMP => Ok((-1, -1, -1)),
        MAX_TIMESTAMP | 0.. => {
            let log = Arc::clone(&p.log);
            let found = tokio::task::spawn_blocking(move || {
                if timestamp == MAX_TIMESTAMP {
                    log.max_timestamp_offset()
                } else {
                    log.offset_for_timestamp(timestamp)
                }
            })
            .await
            .map_err(|e| ApiError::new(ResponseError::UnknownServerError, e.to_string()))??;
            let bound = if read_committed {
                p.last_stable_offset()
            } else {
                p.high_watermark()
            };
            match found {
                Some(f) if f.offset < bound => {
                    Ok((f.offset, f.timestamp, f.leader_epoch.unwrap_or(-1)))
                }
                _ => Ok((-1, -1, -1)),
            }
        }
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("invalid ListOffsets timestamp {other}"),
        )),
    }
}

pub(super) fn handle_offset_for_leader_epoch(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let mut response = OffsetForLeaderEpochResponse::default();
    // As Kafka: CLUSTER_ACTION (a follower) allows every topic, else DESCRIBE on each.
    let authz = broker.authz(ctx);
    let cluster_action = authz.allows_quietly(
        AclOperation::ClusterAction,
        ResourceType::Cluster,
        CLUSTER_NAME,
    );
    for topic in request.topics {
        let name = topic.topic.0.to_string();
        let describable = cluster_action || authz.allows_topic(AclOperation::Describe, &name);
        let mut t = OffsetForLeaderTopicResult::default();
        t.topic = topic.topic.clone();
        for p in topic.partitions {
            let tp = TopicPartition::new(name.clone(), p.partition);
            let mut r = EpochEndOffset::default();
            r.partition = p.partition;
            let result = if describable {
                leader_partition(broker, &tp).and_then(|part| {
                    part.check_leader_epoch(p.current_leader_epoch)?;
                    Ok(part.log.leader_epoch_end_offset(p.leader_epoch))
                })
            } else {
                Err(ResponseError::TopicAuthorizationFailed.into())
            };
            match result {
                Ok((epoch, end_offset)) => {
                    r.leader_epoch = epoch;
                    r.end_offset = end_offset;
                }
                Err(e) => {
                    r.error_code = e.error_code();
                    r.leader_epoch = -1;
                    r.end_offset = -1;
                }
            }
            t.partitions.push(r);
        }
        response.topics.push(t);
    }
    response
}

pub(super) async fn handle_delete_records(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut response = DeleteRecordsResponse::default();
    let authz = broker.authz(ctx);
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let deletable = authz.allows_topic(AclOperation::Delete, &name);
        let mut t = DeleteRecordsTopicResult::default();
        t.name = topic.name.clone();
        for p in topic.partitions {
            let tp = TopicPartition::new(name.clone(), p.partition_index);
            let mut r = DeleteRecordsPartitionResult::default();
            r.partition_index = p.partition_index;
            let deleted = if deletable {
                delete_records(broker, &tp, p.offset).await
            } else {
                Err(ResponseError::TopicAuthorizationFailed.into())
            };
            match deleted {
                Ok(low_watermark) => r.low_watermark = low_watermark,
                Err(e) => {
                    r.error_code = e.error_code();
                    r.low_watermark = -1;
                }
            }
            t.partitions.push(r);
        }
        response.topics.push(t);
    }
    response
}

/// Moves the log start offset to `offset` (-1 = the high watermark); returns the new low
/// watermark. Offsets above the high watermark are OFFSET_OUT_OF_RANGE, as in Kafka.
async fn delete_records(
    broker: &Broker,
    tp: &TopicPartition,
    offset: i64,
) -> Result<i64, ApiError> {
    let p = leader_partition(broker, tp)?;
    let hw = p.high_watermark();
    let target = if offset == -1 { hw } else { offset };
    if target < 0 || target > hw {
        return Err(ApiError::new(
            ResponseError::OffsetOutOfRange,
            format!("offset {offset} is outside [0, high watermark {hw}]"),
        ));
    }
    let log = Arc::clone(&p.log);
    let logs = Arc::clone(broker.replicas.log_manager());
    // Checkpoint right away so an acknowledged DeleteRecords survives a crash (the periodic
    // checkpoint alone would leave a window in which deleted records reappear).
    let low = tokio::task::spawn_blocking(move || {
        let low = log.delete_records_before(target)?;
        logs.checkpoint()?;
        Ok::<_, crate::log::LogError>(low)
    })
    .await
    .map_err(|e| ApiError::new(ResponseError::UnknownServerError, e.to_string()))??;
    Ok(low)
}
