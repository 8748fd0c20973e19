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
use tokio::time::Instant;
use uuid::Uuid;

use super::api::{
    ConsumerGroupDescription, ConsumerMemberDescription, DescribedTopicPartitions, JoinArgs,
    JoinOutcome, LeavingMember, MemberHeartbeat,
};
use super::classic::ClassicGroup;
use super::consumer::{
    validate_request, Assignment, ConsumerGroup, HeartbeatArgs, HeartbeatOutcome,
    LEAVE_GROUP_MEMBER_EPOCH,
};
use super::consumer_classic::{ClassicJoinArgs, ClassicJoinOutcome, CONSUMER_PROTOCOL_TYPE};
use super::coordinator::{GroupCoordinator, Shard};
use super::migration;
use super::records::CoordinatorRecord;
use crate::error::{ApiError, ResponseError};
use crate::metadata::MetadataImage;
use crate::types::{kafka_uuid_string, now_ms};

/// `assignment` by topic id (topics the image no longer has are left out).
fn assigned_topic_ids(image: &MetadataImage, assignment: &Assignment) -> Vec<(Uuid, Vec<i32>)> {
    assignment
        .iter()
        .filter_map(|(topic, partitions)| {
            let t = image.topic(topic)?;
            Some((t.topic_id, partitions.iter().copied().collect()))
        })
        .collect()
}

/// `assignment` as ConsumerGroupDescribe shows it (topics the image lacks are left out).
fn described_assignment(
    image: &MetadataImage,
    assignment: &Assignment,
) -> Vec<DescribedTopicPartitions> {
    assignment
        .iter()
        .filter_map(|(topic, partitions)| {
            let t = image.topic(topic)?;
            Some(DescribedTopicPartitions {
                topic_id: t.topic_id,
                topic_name: topic.clone(),
                partitions: partitions.iter().copied().collect(),
            })
        })
        .collect()
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
    Done(HeartbeatOutcome, u64, Vec<CoordinatorRecord>, Vec<String>),
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
    /// ConsumerGroupHeartbeat (KIP-848): join, heartbeat, reconcile or leave. `image` is the
    /// metadata the request's topic ids were resolved with; the answer's use it too.
    pub(crate) async fn consumer_group_heartbeat(
        &self,
        image: &MetadataImage,
        group_id: &str,
        args: HeartbeatArgs,
    ) -> Result<MemberHeartbeat, ApiError> {
        if group_id.is_empty() {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                "GroupId can't be empty.",
            ));
        }
        let settings = &self.config().consumer;
        validate_request(&args, settings).map_err(|e| ApiError::new(e.code, e.message))?;
        let shard = self
            .shard_for(group_id)
            .map_err(|code| ApiError::new(code, format!("coordinator for {group_id}: {code}")))?;
        let topics = topic_partition_counts(image);
        let _write = shard.write_lock.lock().await;
        let (outcome, incarnation, records, started) = match self
            .heartbeat_in(&shard, group_id, &args, &topics)?
        {
            HeartbeatStep::Done(outcome, incarnation, records, started) => {
                (outcome, incarnation, records, started)
            }
            HeartbeatStep::Downgraded(records) => {
                if let Err(code) = self.append(&shard, records).await {
                    tracing::warn!(group = %group_id, error = %code, "persisting the downgraded group failed");
                }
                return Ok(MemberHeartbeat {
                    member_id: args.member_id,
                    member_epoch: LEAVE_GROUP_MEMBER_EPOCH,
                    heartbeat_interval_ms: settings.heartbeat_interval_ms,
                    assignment: None,
                });
            }
        };
        for member_id in &started {
            self.spawn_consumer_session_timer(&shard, group_id, incarnation, member_id);
        }
        if !records.is_empty() {
            if let Err(code) = self.append(&shard, records).await {
                forget_persisted(&shard, group_id, incarnation);
                return Err(ApiError::new(code, "persisting the group state failed"));
            }
        }
        Ok(MemberHeartbeat {
            member_id: outcome.member_id,
            member_epoch: outcome.member_epoch,
            heartbeat_interval_ms: settings.heartbeat_interval_ms,
            assignment: outcome.assignment.map(|a| assigned_topic_ids(image, &a)),
        })
    }

    /// The heartbeat under the shard lock: finds the group (a first heartbeat creates it; a
    /// classic group becomes a consumer group), lets `ConsumerGroup::heartbeat` decide, and
    /// returns the records to append — or the records of converting the group back to a
    /// classic group when its last consumer-protocol member leaves.
    fn heartbeat_in(
        &self,
        shard: &Arc<Shard>,
        group_id: &str,
        args: &HeartbeatArgs,
        topics: &BTreeMap<String, i32>,
    ) -> Result<HeartbeatStep, ApiError> {
        let settings = &self.config().consumer;
        let mut st = shard.lock();
        if st.is_closed() {
            return Err(ApiError::new(
                ResponseError::NotCoordinator,
                "shard unloaded",
            ));
        }
        let incarnation = self.next_incarnation();
        let mut created = false;
        let mut records = Vec::new();
        let group = match st.groups.get_mut(group_id) {
            Some(g) => g,
            None if args.member_epoch == 0 => {
                created = true;
                st.groups.entry(group_id.to_owned()).or_insert_with(|| {
                    ClassicGroup::new(group_id.to_owned(), incarnation, now_ms())
                })
            }
            None => {
                return Err(ApiError::new(
                    ResponseError::GroupIdNotFound,
                    format!("Group {group_id} not found."),
                ))
            }
        };
        // Members whose session timers start with this heartbeat.
        let mut started: Vec<String> = Vec::new();
        // An upgraded group, installed only once the heartbeat succeeded in it.
        let mut upgraded: Option<ConsumerGroup> = None;
        if group.consumer.is_none() {
            upgraded = self.upgrade_for_heartbeat(group, args, topics)?;
            if let Some(cg) = &upgraded {
                started.extend(cg.members.keys().cloned());
                records.push(CoordinatorRecord::GroupMetadata {
                    group_id: group_id.to_owned(),
                    value: None,
                });
            }
            created = true;
        }
        let incarnation = group.incarnation;
        let Some(cg) = upgraded.as_mut().or(group.consumer.as_mut()) else {
            return Err(ApiError::new(
                ResponseError::UnknownServerError,
                "no consumer group",
            ));
        };
        if created {
            cg.persisted_epoch = None;
        }
        // The last consumer-protocol member leaving a group of classic members turns it
        // back into a classic group (online downgrade).
        if args.member_epoch == LEAVE_GROUP_MEMBER_EPOCH {
            if let Ok(leaving) = cg.leaving_member(args) {
                let leaving = BTreeSet::from([leaving]);
                if migration::can_downgrade(
                    cg,
                    &leaving,
                    self.config().migration_policy,
                    self.config().max_size,
                ) {
                    return Ok(HeartbeatStep::Downgraded(self.downgrade_group(
                        shard,
                        group,
                        &leaving,
                        "the last consumer-protocol member left",
                    )));
                }
            }
        }
        let known = !args.member_id.is_empty() && cg.members.contains_key(&args.member_id);
        let outcome = cg
            .heartbeat(args, topics, settings, Instant::now(), || {
                kafka_uuid_string(uuid::Uuid::new_v4())
            })
            .map_err(|e| ApiError::new(e.code, e.message))?;
        records.extend(records_to_persist(group_id, cg));
        if !known && cg.members.contains_key(&outcome.member_id) {
            tracing::info!(group = %group_id, member = %outcome.member_id, member_epoch = outcome.member_epoch, "consumer group member joined");
            started.push(outcome.member_id.clone());
        }
        if let Some(cg) = upgraded {
            tracing::info!(group = %group_id, group_epoch = cg.group_epoch, members = cg.members.len(), "classic group converted to a consumer group");
            GroupCoordinator::hand_over_classic_members(group);
            group.consumer = Some(cg);
        }
        Ok(HeartbeatStep::Done(outcome, incarnation, records, started))
    }

    /// A first ConsumerGroupHeartbeat into a classic group: an empty one (only offsets, or
    /// just created) becomes a consumer group in place (`None`); one with members is
    /// converted (online upgrade, the classic members keep their partitions) into the
    /// consumer group returned, to be installed once the heartbeat succeeded in it.
    fn upgrade_for_heartbeat(
        &self,
        group: &mut ClassicGroup,
        args: &HeartbeatArgs,
        topics: &BTreeMap<String, i32>,
    ) -> Result<Option<ConsumerGroup>, ApiError> {
        let group_id = group.group_id.clone();
        if args.member_epoch != 0 {
            return Err(ApiError::new(
                ResponseError::GroupIdNotFound,
                format!("Group {group_id} is not a consumer group."),
            ));
        }
        if group.members.is_empty() {
            // Members that were only handed an id are forgotten.
            tracing::info!(group = %group_id, "group uses the consumer protocol");
            group.pending_members.clear();
            group.consumer = Some(ConsumerGroup::new());
            group.protocol_type = None;
            group.protocol_name = None;
            group.leader_id = None;
            return Ok(None);
        }
        let settings = &self.config().consumer;
        migration::validate_online_upgrade(group, self.config().migration_policy, settings.max_size)
            .and_then(|()| {
                migration::consumer_group_from_classic(
                    group,
                    topics,
                    settings.assignors.first().map_or("uniform", String::as_str),
                    Instant::now(),
                )
            })
            .map(Some)
            .map_err(|message| {
                tracing::info!(group = %group_id, reason = %message, "classic group not upgraded");
                ApiError::new(ResponseError::GroupIdNotFound, message)
            })
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
    ) -> Option<JoinOutcome> {
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
                return Some(JoinOutcome::error(
                    &a.member_id,
                    ResponseError::NotCoordinator,
                ));
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
                Err(code) => return Some(JoinOutcome::error(&a.member_id, code)),
                Ok(ClassicJoinOutcome::MemberIdRequired(id)) => {
                    return Some(JoinOutcome::error(&id, ResponseError::MemberIdRequired))
                }
                Ok(ClassicJoinOutcome::Joined {
                    member_id,
                    generation_id,
                    protocol_name,
                    new_member,
                }) => {
                    let r = JoinOutcome {
                        error: None,
                        member_id: member_id.clone(),
                        generation_id,
                        protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_owned()),
                        protocol_name: Some(protocol_name),
                        leader: String::new(),
                        skip_assignment: false,
                        members: Vec::new(),
                    };
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
                return Some(JoinOutcome::error(&a.member_id, code));
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
        members: &[LeavingMember],
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
                    let id =
                        cg.classic_leaving_member(&m.member_id, m.group_instance_id.as_deref())?;
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
    ) -> Vec<Result<ConsumerGroupDescription, ApiError>> {
        let image = self.quorum.image();
        group_ids
            .iter()
            .map(|group_id| {
                if group_id.is_empty() {
                    return Err(ResponseError::InvalidGroupId.into());
                }
                let shard = self.shard_for(group_id)?;
                let st = shard.lock();
                // Kafka's two messages: the admin client shows the first to the user when
                // DescribeGroups (its fallback) does not find the group either.
                let Some(group) = st.groups.get(group_id) else {
                    return Err(ApiError::new(
                        ResponseError::GroupIdNotFound,
                        format!("Group {group_id} not found."),
                    ));
                };
                let Some(cg) = group.consumer.as_ref() else {
                    return Err(ApiError::new(
                        ResponseError::GroupIdNotFound,
                        format!("Group {group_id} is not a consumer group."),
                    ));
                };
                let no_target = Assignment::new();
                Ok(ConsumerGroupDescription {
                    state: cg.state().name(),
                    group_epoch: cg.group_epoch,
                    assignment_epoch: cg.assignment_epoch,
                    assignor_name: cg.assignor.clone(),
                    members: cg
                        .members
                        .values()
                        .map(|m| ConsumerMemberDescription {
                            member_id: m.member_id.clone(),
                            instance_id: m.instance_id.clone(),
                            rack_id: m.rack_id.clone(),
                            member_epoch: m.member_epoch,
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            subscribed_topic_names: m
                                .subscribed_topic_names
                                .iter()
                                .cloned()
                                .collect(),
                            subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                            assignment: described_assignment(&image, &m.assigned),
                            target_assignment: described_assignment(
                                &image,
                                cg.target.get(&m.member_id).unwrap_or(&no_target),
                            ),
                            uses_classic_protocol: m.uses_classic_protocol(),
                        })
                        .collect(),
                })
            })
            .collect()
    }
}
