//! The coordinator side of KIP-848 consumer groups: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe over the shards, member session timers, and persistence (Kafka's
//! `ConsumerGroupMetadata` record with the group epoch, plus Ironlog's group snapshot
//! record with members and assignments). The decisions are `consumer`'s.
//!
//! Like the classic protocol: the shard's write lock is taken before its mutex, the mutex is
//! never held across an `.await`, and a timer sleeps until the member's session deadline
//! and re-checks it under the mutex (a heartbeat only moves the deadline).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member as DescribedMember,
    TopicPartitions as DescribedTopicPartitions,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as HeartbeatAssignment, TopicPartitions as HeartbeatTopicPartitions,
};
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, GroupId, JoinGroupResponse,
    TopicName,
};
use tokio::time::Instant;

use super::classic::ClassicGroup;
use super::consumer::{
    validate_request, Assignment, ConsumerGroup, HeartbeatArgs, LEAVE_GROUP_MEMBER_EPOCH,
};
use super::consumer_classic::{ClassicJoinArgs, ClassicJoinOutcome, CONSUMER_PROTOCOL_TYPE};
use super::coordinator::{join_error, GroupCoordinator, JoinArgs, Shard};
use super::migration;
use super::records::CoordinatorRecord;
use crate::error::ResponseError;
use crate::handlers::str_bytes;
use crate::metadata::MetadataImage;
use crate::types::now_ms;

/// Consumer-group member types in ConsumerGroupDescribe v1.
const MEMBER_TYPE_CLASSIC: i8 = 0;
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

/// How a ConsumerGroupHeartbeat went under the shard lock: a normal outcome (with the
/// group's incarnation, records to append and members whose session timers start), or the
/// group converted to a classic group (the records of that).
enum HeartbeatStep {
    Done(
        super::consumer::HeartbeatOutcome,
        u64,
        Vec<CoordinatorRecord>,
        Vec<String>,
    ),
    Downgraded(Vec<CoordinatorRecord>),
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
    pub(crate) async fn consumer_group_heartbeat(
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
        let step = 'step: {
            let mut st = shard.lock();
            if st.is_closed() {
                return heartbeat_error(ResponseError::NotCoordinator, "shard unloaded".into());
            }
            let incarnation = self.next_incarnation();
            let mut created = false;
            let mut records = Vec::new();
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
            // Members whose session timers start with this heartbeat.
            let mut started: Vec<String> = Vec::new();
            // An upgraded group, installed only once the heartbeat succeeded in it.
            let mut upgraded: Option<ConsumerGroup> = None;
            if group.consumer.is_none() {
                if args.member_epoch != 0 {
                    return heartbeat_error(
                        ResponseError::GroupIdNotFound,
                        format!("Group {group_id} is not a consumer group."),
                    );
                }
                if group.members.is_empty() {
                    // An empty classic group (only offsets, or just created) becomes a
                    // consumer group (members that were only handed an id are forgotten).
                    tracing::info!(group = %group_id, "group uses the consumer protocol");
                    group.pending_members.clear();
                    group.consumer = Some(ConsumerGroup::new());
                    group.protocol_type = None;
                    group.protocol_name = None;
                    group.leader_id = None;
                } else {
                    // Online upgrade: the classic members become classic members of the
                    // consumer group, keeping their partitions.
                    let converted = migration::validate_online_upgrade(
                        group,
                        self.config().migration_policy,
                        settings.max_size,
                    )
                    .and_then(|()| {
                        migration::consumer_group_from_classic(
                            group,
                            &topics,
                            settings.assignors.first().map_or("uniform", String::as_str),
                            Instant::now(),
                        )
                    });
                    match converted {
                        Ok(cg) => {
                            started.extend(cg.members.keys().cloned());
                            upgraded = Some(cg);
                        }
                        Err(message) => {
                            tracing::info!(group = %group_id, reason = %message, "classic group not upgraded");
                            return heartbeat_error(ResponseError::GroupIdNotFound, message);
                        }
                    }
                    records.push(CoordinatorRecord::GroupMetadata {
                        group_id: group_id.clone(),
                        value: None,
                    });
                }
                created = true;
            }
            let incarnation = group.incarnation;
            let Some(cg) = upgraded.as_mut().or(group.consumer.as_mut()) else {
                return heartbeat_error(
                    ResponseError::UnknownServerError,
                    "no consumer group".into(),
                );
            };
            if created {
                cg.persisted_epoch = None;
            }
            // The last consumer-protocol member leaving a group of classic members turns it
            // back into a classic group (online downgrade).
            if args.member_epoch == LEAVE_GROUP_MEMBER_EPOCH {
                if let Ok(leaving) = cg.leaving_member(&args) {
                    let leaving = BTreeSet::from([leaving]);
                    if migration::can_downgrade(
                        cg,
                        &leaving,
                        self.config().migration_policy,
                        self.config().max_size,
                    ) {
                        break 'step HeartbeatStep::Downgraded(self.downgrade_group(
                            &shard,
                            group,
                            &leaving,
                            "the last consumer-protocol member left",
                        ));
                    }
                }
            }
            let known = !args.member_id.is_empty() && cg.members.contains_key(&args.member_id);
            let outcome = match cg.heartbeat(&args, &topics, settings, Instant::now(), || {
                crate::server::base64_url_uuid(uuid::Uuid::new_v4())
            }) {
                Ok(o) => o,
                Err(e) => return heartbeat_error(e.code, e.message),
            };
            records.extend(records_to_persist(&group_id, cg));
            if !known && cg.members.contains_key(&outcome.member_id) {
                tracing::info!(group = %group_id, member = %outcome.member_id, member_epoch = outcome.member_epoch, "consumer group member joined");
                started.push(outcome.member_id.clone());
            }
            if let Some(cg) = upgraded {
                tracing::info!(group = %group_id, group_epoch = cg.group_epoch, members = cg.members.len(), "classic group converted to a consumer group");
                GroupCoordinator::hand_over_classic_members(group);
                group.consumer = Some(cg);
            }
            HeartbeatStep::Done(outcome, incarnation, records, started)
        };
        let (outcome, incarnation, record, started) = match step {
            HeartbeatStep::Done(outcome, incarnation, records, started) => {
                (outcome, incarnation, records, started)
            }
            HeartbeatStep::Downgraded(records) => {
                if let Err(code) = self.append(&shard, records).await {
                    tracing::warn!(group = %group_id, error = %code, "persisting the downgraded group failed");
                }
                let mut r = ConsumerGroupHeartbeatResponse::default();
                r.member_id = Some(str_bytes(&args.member_id));
                r.member_epoch = LEAVE_GROUP_MEMBER_EPOCH;
                r.heartbeat_interval_ms = settings.heartbeat_interval_ms;
                return r;
            }
        };
        for member_id in &started {
            self.spawn_consumer_session_timer(&shard, &group_id, incarnation, member_id);
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
                    let Some(group) = st
                        .group(&group_id, incarnation)
                        .filter(|g| g.consumer.is_some())
                    else {
                        return;
                    };
                    if group
                        .consumer
                        .as_ref()
                        .and_then(|cg| cg.members.get(&member_id))
                        .is_none_or(|m| m.expiry() > Instant::now())
                    {
                        continue;
                    }
                    tracing::info!(group = %group_id, member = %member_id, "consumer group member expired (session, revocation, join or sync timeout)");
                    this.remove_consumer_members(
                        &shard,
                        group,
                        &BTreeSet::from([member_id.clone()]),
                        "a member's session or rebalance timeout expired",
                    )
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

    /// Removes `leaving` from the consumer group `group` (leave, expiry, a classic
    /// LeaveGroup), or, when only classic members would remain, converts the group to a
    /// classic group without them (`group.consumer.migration.policy`). Returns the records to
    /// append (under the shard's write lock).
    pub(super) fn remove_consumer_members(
        &self,
        shard: &Arc<Shard>,
        group: &mut ClassicGroup,
        leaving: &BTreeSet<String>,
        reason: &str,
    ) -> Vec<CoordinatorRecord> {
        let Some(cg) = group.consumer.as_mut() else {
            return Vec::new();
        };
        if migration::can_downgrade(
            cg,
            leaving,
            self.config().migration_policy,
            self.config().max_size,
        ) {
            return self.downgrade_group(shard, group, leaving, reason);
        }
        for member_id in leaving {
            cg.remove_member(member_id);
        }
        let topics = topic_partition_counts(&self.quorum.image());
        cg.update_target(&topics, &self.config().consumer);
        tracing::info!(group = %group.group_id, members = ?leaving, group_epoch = cg.group_epoch, reason, "consumer group members removed");
        records_to_persist(&group.group_id, cg)
    }

    /// JoinGroup into a consumer group with members (Kafka's
    /// `classicGroupJoinToConsumerGroup`): the classic member joins the consumer group and is
    /// answered at once with its member epoch as generation, after the change was appended.
    /// `None` when the group is not such a group (the classic path serves it). A static
    /// member whose instance belonged to the last consumer-protocol member first converts
    /// the group back to a classic group (`None` then too: it joins that).
    pub(super) async fn classic_join_to_consumer_group(
        &self,
        shard: &Arc<Shard>,
        a: &JoinArgs,
    ) -> Option<JoinGroupResponse> {
        let is_consumer_group = |st: &mut super::coordinator::ShardState| {
            st.groups
                .get(&a.group_id)
                .and_then(|g| g.consumer.as_ref())
                .is_some_and(|cg| !cg.members.is_empty())
        };
        if !is_consumer_group(&mut shard.lock()) {
            return None;
        }
        let _write = shard.write_lock.lock().await;
        let settings = &self.config().consumer;
        let topics = topic_partition_counts(&self.quorum.image());
        let step = 'step: {
            let mut st = shard.lock();
            if st.is_closed() {
                return Some(join_error(&a.member_id, ResponseError::NotCoordinator));
            }
            if !is_consumer_group(&mut st) {
                return None;
            }
            let group = st.groups.get_mut(&a.group_id)?;
            let incarnation = group.incarnation;
            let cg = group.consumer.as_mut()?;
            let replaced = a
                .group_instance_id
                .as_ref()
                .filter(|_| a.member_id.is_empty())
                .and_then(|i| cg.static_members.get(i))
                .filter(|id| {
                    cg.members
                        .get(*id)
                        .is_some_and(|m| !m.uses_classic_protocol())
                })
                .cloned();
            if let Some(replaced) = replaced {
                let leaving = BTreeSet::from([replaced]);
                if migration::can_downgrade(
                    cg,
                    &leaving,
                    self.config().migration_policy,
                    self.config().max_size,
                ) {
                    break 'step Err(self.downgrade_group(
                        shard,
                        group,
                        &leaving,
                        "a static member rejoined with the classic protocol",
                    ));
                }
            }
            let args = ClassicJoinArgs {
                member_id: &a.member_id,
                instance_id: a.group_instance_id.as_deref(),
                client_id: &a.client_id,
                client_host: &a.client_host,
                session_timeout_ms: a.session_timeout_ms,
                rebalance_timeout_ms: a.rebalance_timeout_ms,
                protocol_type: &a.protocol_type,
                protocols: &a.protocols,
                requires_known_member_id: a.version >= 4
                    && a.group_instance_id.is_none()
                    && a.member_id.is_empty(),
            };
            let prefix = a.group_instance_id.as_deref().unwrap_or(&a.client_id);
            let outcome = cg.classic_join(&args, &topics, settings, Instant::now(), || {
                format!("{prefix}-{}", uuid::Uuid::new_v4())
            });
            match outcome {
                Err(code) => return Some(join_error(&a.member_id, code)),
                Ok(ClassicJoinOutcome::MemberIdRequired(id)) => {
                    return Some(join_error(&id, ResponseError::MemberIdRequired))
                }
                Ok(ClassicJoinOutcome::Joined {
                    member_id,
                    generation_id,
                    protocol_name,
                    new_member,
                }) => {
                    let mut r = JoinGroupResponse::default();
                    r.member_id = str_bytes(&member_id);
                    r.generation_id = generation_id;
                    r.protocol_type = Some(str_bytes(CONSUMER_PROTOCOL_TYPE));
                    r.protocol_name = Some(str_bytes(&protocol_name));
                    r.leader = str_bytes("");
                    tracing::info!(group = %a.group_id, member = %member_id, generation = generation_id, new_member, "classic member joined the consumer group");
                    let records = records_to_persist(&a.group_id, cg);
                    Ok((r, records, incarnation, new_member.then_some(member_id)))
                }
            }
        };
        let (response, records, incarnation, new_member) = match step {
            Ok(joined) => joined,
            Err(downgrade_records) => {
                if let Err(code) = self.append(shard, downgrade_records).await {
                    tracing::warn!(group = %a.group_id, error = %code, "persisting the downgraded group failed");
                }
                return None;
            }
        };
        if let Some(member_id) = &new_member {
            self.spawn_consumer_session_timer(shard, &a.group_id, incarnation, member_id);
        }
        if !records.is_empty() {
            if let Err(code) = self.append(shard, records).await {
                forget_persisted(shard, &a.group_id, incarnation);
                return Some(join_error(&a.member_id, code));
            }
        }
        Some(response)
    }

    /// LeaveGroup into a consumer group (Kafka's `classicGroupLeaveToConsumerGroup`): the
    /// named members (of either protocol) are removed — or the group converts back to a
    /// classic group — and the change is appended before the answer. `None` when the group
    /// is not a consumer group.
    pub(super) async fn classic_leave_consumer_group(
        &self,
        shard: &Arc<Shard>,
        group_id: &str,
        members: &[MemberIdentity],
    ) -> Option<Result<Vec<Result<(), ResponseError>>, ResponseError>> {
        let is_consumer_group = |st: &mut super::coordinator::ShardState| {
            st.groups
                .get(group_id)
                .is_some_and(|g| g.consumer.is_some())
        };
        if !is_consumer_group(&mut shard.lock()) {
            return None;
        }
        let _write = shard.write_lock.lock().await;
        let (results, records) = {
            let mut st = shard.lock();
            if st.is_closed() {
                return Some(Err(ResponseError::NotCoordinator));
            }
            if !is_consumer_group(&mut st) {
                drop(st);
                // Converted back meanwhile (no await since the check).
                return Some(self.leave_classic_group(shard, group_id, members));
            }
            let group = st.groups.get_mut(group_id)?;
            let cg = group.consumer.as_ref()?;
            let mut leaving = BTreeSet::new();
            let results: Vec<Result<(), ResponseError>> = members
                .iter()
                .map(|m| {
                    let id = cg.classic_leaving_member(
                        m.member_id.as_str(),
                        m.group_instance_id.as_ref().map(|s| s.as_str()),
                    )?;
                    leaving.insert(id);
                    Ok(())
                })
                .collect();
            let records = if leaving.is_empty() {
                Vec::new()
            } else {
                self.remove_consumer_members(shard, group, &leaving, "members left the group")
            };
            (results, records)
        };
        if !records.is_empty() {
            if let Err(code) = self.append(shard, records).await {
                return Some(Err(code));
            }
        }
        Some(Ok(results))
    }

    /// OffsetFetch v9+'s member check (Kafka's `validateOffsetFetch`): only a consumer group
    /// checks the member (`ConsumerGroup::validate_offset_fetch`); classic and unknown groups
    /// answer any fetch.
    pub(crate) fn validate_consumer_offset_fetch(
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
    pub(crate) fn consumer_group_describe(
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
                        dm.member_type = if m.uses_classic_protocol() {
                            MEMBER_TYPE_CLASSIC
                        } else {
                            MEMBER_TYPE_CONSUMER
                        };
                        dm
                    })
                    .collect();
                d
            })
            .collect()
    }
}
