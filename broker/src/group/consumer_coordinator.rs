//! The coordinator side of KIP-848 consumer groups: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe over the shards, member session timers, and persistence (Kafka's
//! `ConsumerGroupMetadata` record with the group epoch, plus Ironlog's group snapshot
//! record with members and assignments). The decisions are `consumer`'s.
//!
//! Like the classic protocol: the shard's write lock is taken before its mutex, the mutex is
//! never held across an `.await`, and a timer sleeps until the member's session deadline
//! and re-checks it under the mutex (a heartbeat only moves the deadline).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member as DescribedMember,
    TopicPartitions as DescribedTopicPartitions,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as HeartbeatAssignment, TopicPartitions as HeartbeatTopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, GroupId, TopicName,
};
use tokio::time::Instant;

use super::classic::ClassicGroup;
use super::consumer::{validate_request, Assignment, ConsumerGroup, HeartbeatArgs};
use super::coordinator::{GroupCoordinator, Shard};
use super::records::CoordinatorRecord;
use crate::error::ResponseError;
use crate::handlers::str_bytes;
use crate::metadata::MetadataImage;
use crate::types::now_ms;

/// Consumer-group member type in ConsumerGroupDescribe v1 (Kafka: 0 classic, 1 consumer).
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn heartbeat_error(code: ResponseError, message: String) -> ConsumerGroupHeartbeatResponse {
    let mut r = ConsumerGroupHeartbeatResponse::default();
    r.error_code = code.code();
    r.error_message = Some(str_bytes(&message));
    r
}

/// Topic name → partition count of every topic in the image.
fn topic_partition_counts(image: &MetadataImage) -> BTreeMap<String, i32> {
    image
        .topics
        .iter()
        .map(|(name, t)| (name.clone(), t.partitions.len() as i32))
        .collect()
}

/// The records making `cg`'s current state durable: the group epoch (Kafka's
/// ConsumerGroupMetadata) when it moved, and the group snapshot when anything changed.
/// Marks them persisted; the caller appends them (and calls `forget_persisted` on failure).
fn records_to_persist(group_id: &str, cg: &mut ConsumerGroup) -> Vec<CoordinatorRecord> {
    let mut records = Vec::new();
    if !cg.dirty && cg.persisted_epoch == Some(cg.group_epoch) && cg.persisted_snapshot.is_some() {
        return records;
    }
    cg.dirty = false;
    if cg.persisted_epoch != Some(cg.group_epoch) {
        cg.persisted_epoch = Some(cg.group_epoch);
        records.push(CoordinatorRecord::ConsumerGroupMetadata {
            group_id: group_id.to_owned(),
            epoch: Some(cg.group_epoch),
        });
    }
    match cg.snapshot() {
        Ok(snapshot) if cg.persisted_snapshot.as_ref() != Some(&snapshot) => {
            records.push(CoordinatorRecord::ConsumerGroupSnapshot {
                group_id: group_id.to_owned(),
                snapshot: Some(Bytes::from(snapshot.clone())),
            });
            cg.persisted_snapshot = Some(snapshot);
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(group = %group_id, error = %e, "encoding a consumer group snapshot failed")
        }
    }
    records
}

/// After a failed append: the next change writes everything again.
fn forget_persisted(shard: &Shard, group_id: &str, incarnation: u64) {
    let mut st = shard.lock();
    if let Some(cg) = st
        .group(group_id, incarnation)
        .and_then(|g| g.consumer.as_mut())
    {
        cg.persisted_epoch = None;
        cg.persisted_snapshot = None;
        cg.dirty = true;
    }
}

impl GroupCoordinator {
    /// ConsumerGroupHeartbeat (KIP-848): join, heartbeat, reconcile or leave.
    pub async fn consumer_group_heartbeat(
        &self,
        request: ConsumerGroupHeartbeatRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> ConsumerGroupHeartbeatResponse {
        let group_id = request.group_id.0.to_string();
        if group_id.is_empty() {
            return heartbeat_error(
                ResponseError::InvalidRequest,
                "GroupId can't be empty.".into(),
            );
        }
        let image = self.quorum.image();
        let topics = topic_partition_counts(&image);
        let owned: Option<Assignment> = request.topic_partitions.as_ref().map(|tps| {
            let mut owned = Assignment::new();
            for tp in tps {
                // Partitions of deleted topics are simply no longer owned.
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
            version,
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
            client_id: client_id.to_owned(),
            client_host: client_host.to_owned(),
        };
        let settings = &self.config().consumer;
        if let Err(e) = validate_request(&args, settings) {
            return heartbeat_error(e.code, e.message);
        }
        let shard = match self.shard_for(&group_id) {
            Ok(s) => s,
            Err(code) => {
                return heartbeat_error(code, format!("coordinator for {group_id}: {code}"))
            }
        };
        let _write = shard.write_lock.lock().await;
        let (outcome, incarnation, record, new_member) = {
            let mut st = shard.lock();
            if st.is_closed() {
                return heartbeat_error(ResponseError::NotCoordinator, "shard unloaded".into());
            }
            let incarnation = self.next_incarnation();
            let mut created = false;
            let group = match st.groups.get_mut(&group_id) {
                Some(g) => g,
                None if args.member_epoch == 0 => {
                    created = true;
                    st.groups.entry(group_id.clone()).or_insert_with(|| {
                        ClassicGroup::new(group_id.clone(), incarnation, now_ms())
                    })
                }
                None => {
                    return heartbeat_error(
                        ResponseError::GroupIdNotFound,
                        format!("Group {group_id} not found."),
                    )
                }
            };
            if group.consumer.is_none() {
                // An empty classic group (only offsets, or just created) becomes a consumer
                // group; one with classic members stays classic.
                if group.is_empty() && args.member_epoch == 0 {
                    tracing::info!(group = %group_id, "group uses the consumer protocol");
                    group.consumer = Some(ConsumerGroup::new());
                    group.protocol_type = None;
                    group.protocol_name = None;
                    group.leader_id = None;
                    created = true;
                } else {
                    return heartbeat_error(
                        ResponseError::GroupIdNotFound,
                        format!("Group {group_id} is not a consumer group."),
                    );
                }
            }
            let incarnation = group.incarnation;
            let Some(cg) = group.consumer.as_mut() else {
                return heartbeat_error(
                    ResponseError::UnknownServerError,
                    "no consumer group".into(),
                );
            };
            let new_member = args.member_id.is_empty() || !cg.members.contains_key(&args.member_id);
            let outcome = match cg.heartbeat(&args, &topics, settings, Instant::now(), || {
                crate::server::base64_url_uuid(uuid::Uuid::new_v4())
            }) {
                Ok(o) => o,
                Err(e) => return heartbeat_error(e.code, e.message),
            };
            if created {
                cg.persisted_epoch = None;
            }
            let record = records_to_persist(&group_id, cg);
            let new_member = new_member && cg.members.contains_key(&outcome.member_id);
            (outcome, incarnation, record, new_member)
        };
        if new_member {
            tracing::info!(group = %group_id, member = %outcome.member_id, member_epoch = outcome.member_epoch, "consumer group member joined");
            self.spawn_consumer_session_timer(&shard, &group_id, incarnation, &outcome.member_id);
        }
        if !record.is_empty() {
            if let Err(code) = self.append(&shard, record).await {
                forget_persisted(&shard, &group_id, incarnation);
                return heartbeat_error(code, "persisting the group state failed".into());
            }
        }
        let mut r = ConsumerGroupHeartbeatResponse::default();
        r.member_id = Some(str_bytes(&outcome.member_id));
        r.member_epoch = outcome.member_epoch;
        r.heartbeat_interval_ms = settings.heartbeat_interval_ms;
        r.assignment = outcome.assignment.map(|a| {
            let mut ha = HeartbeatAssignment::default();
            ha.topic_partitions = a
                .iter()
                .filter_map(|(topic, ps)| {
                    let t = image.topic(topic)?;
                    let mut tp = HeartbeatTopicPartitions::default();
                    tp.topic_id = t.topic_id;
                    tp.partitions = ps.iter().copied().collect();
                    Some(tp)
                })
                .collect();
            ha
        });
        r
    }

    /// Removes `member_id` when its session expires (no heartbeat within
    /// `group.consumer.session.timeout.ms`) or it did not revoke partitions within its
    /// rebalance timeout; ends when the member or the shard is gone.
    pub(super) fn spawn_consumer_session_timer(
        &self,
        shard: &Arc<Shard>,
        group_id: &str,
        incarnation: u64,
        member_id: &str,
    ) {
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let shard = Arc::clone(shard);
        let group_id = group_id.to_owned();
        let member_id = member_id.to_owned();
        tokio::spawn(async move {
            loop {
                let deadline = {
                    let mut st = shard.lock();
                    let Some(m) = st
                        .group(&group_id, incarnation)
                        .and_then(|g| g.consumer.as_ref())
                        .and_then(|c| c.members.get(&member_id))
                    else {
                        return;
                    };
                    m.expiry()
                };
                if deadline > Instant::now() {
                    tokio::time::sleep_until(deadline).await;
                    continue;
                }
                let _write = shard.write_lock.lock().await;
                let record = {
                    let mut st = shard.lock();
                    let Some(cg) = st
                        .group(&group_id, incarnation)
                        .and_then(|g| g.consumer.as_mut())
                    else {
                        return;
                    };
                    if cg
                        .members
                        .get(&member_id)
                        .is_none_or(|m| m.expiry() > Instant::now())
                    {
                        continue;
                    }
                    cg.remove_member(&member_id);
                    let topics = topic_partition_counts(&this.quorum.image());
                    cg.update_target(&topics, &this.config().consumer);
                    tracing::info!(group = %group_id, member = %member_id, group_epoch = cg.group_epoch, "consumer group member expired (session or revocation timeout)");
                    records_to_persist(&group_id, cg)
                };
                if record.is_empty() {
                    return;
                }
                if let Err(code) = this.append(&shard, record).await {
                    forget_persisted(&shard, &group_id, incarnation);
                    tracing::warn!(group = %group_id, error = %code, "persisting the group state failed");
                }
                return;
            }
        });
    }

    /// OffsetFetch v9+'s member check (Kafka's `validateOffsetFetch`): only a consumer group
    /// checks the member (`ConsumerGroup::validate_offset_fetch`); classic and unknown groups
    /// answer any fetch.
    pub fn validate_consumer_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), ResponseError> {
        let Ok(shard) = self.shard_for(group_id) else {
            // fetch_offsets answers the coordinator error.
            return Ok(());
        };
        let st = shard.lock();
        match st.groups.get(group_id).and_then(|g| g.consumer.as_ref()) {
            Some(cg) => cg.validate_offset_fetch(member_id, member_epoch),
            None => Ok(()),
        }
    }

    /// ConsumerGroupDescribe for each group id.
    pub fn consumer_group_describe(
        &self,
        group_ids: &[String],
        include_authorized_operations: bool,
    ) -> Vec<DescribedGroup> {
        let image = self.quorum.image();
        group_ids
            .iter()
            .map(|group_id| {
                let mut d = DescribedGroup::default();
                d.group_id = GroupId(str_bytes(group_id));
                d.authorized_operations = if include_authorized_operations {
                    // No ACLs: every group operation is allowed (READ, DESCRIBE, DELETE).
                    (1 << 3) | (1 << 8) | (1 << 6)
                } else {
                    crate::handlers::AUTHORIZED_OPERATIONS_OMITTED
                };
                if group_id.is_empty() {
                    d.error_code = ResponseError::InvalidGroupId.code();
                    return d;
                }
                let shard = match self.shard_for(group_id) {
                    Ok(s) => s,
                    Err(code) => {
                        d.error_code = code.code();
                        return d;
                    }
                };
                let st = shard.lock();
                let Some(cg) = st.groups.get(group_id).and_then(|g| g.consumer.as_ref()) else {
                    d.error_code = ResponseError::GroupIdNotFound.code();
                    d.error_message = Some(str_bytes(&format!(
                        "Group {group_id} not found or not a consumer group."
                    )));
                    return d;
                };
                d.group_state = str_bytes(cg.state().name());
                d.group_epoch = cg.group_epoch;
                d.assignment_epoch = cg.assignment_epoch;
                d.assignor_name = str_bytes(&cg.assignor);
                let describe = |a: &Assignment| {
                    let mut da = DescribedAssignment::default();
                    da.topic_partitions = a
                        .iter()
                        .filter_map(|(topic, ps)| {
                            let t = image.topic(topic)?;
                            let mut tp = DescribedTopicPartitions::default();
                            tp.topic_id = t.topic_id;
                            tp.topic_name = TopicName(str_bytes(topic));
                            tp.partitions = ps.iter().copied().collect();
                            Some(tp)
                        })
                        .collect();
                    da
                };
                d.members = cg
                    .members
                    .values()
                    .map(|m| {
                        let mut dm = DescribedMember::default();
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
                        dm.subscribed_topic_regex =
                            m.subscribed_topic_regex.as_deref().map(str_bytes);
                        dm.assignment = describe(&m.assigned);
                        dm.target_assignment =
                            describe(cg.target.get(&m.member_id).unwrap_or(&Assignment::new()));
                        dm.member_type = MEMBER_TYPE_CONSUMER;
                        dm
                    })
                    .collect();
                d
            })
            .collect()
    }
}
