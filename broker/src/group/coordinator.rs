//! `GroupCoordinator`: Kafka's classic group protocol and committed offsets over shards of
//! `__consumer_offsets`.
//!
//! Each partition of `__consumer_offsets` this broker leads is a `Shard`
//! (`crate::coordinator_shards`, which loads and unloads it): a mutex over the in-memory
//! groups (never held across an `.await`) and an async write lock that serializes appends to
//! the partition (taken before the mutex, held across the append). Requests that
//! must wait — a JoinGroup until the rebalance completes, a SyncGroup until the leader's
//! assignment — park a `oneshot` sender in the member and await it with a bounded timeout.
//! Timers (session expiry, delayed join, pending sync) are tokio tasks that sleep until a
//! deadline stored in the group and re-check it under the mutex, so a heartbeat only moves a
//! deadline and never needs to cancel a task.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::api::{
    ClassicGroupDescription, ClassicMemberDescription, CommittedOffset, GroupListing, JoinArgs,
    JoinOutcome, JoinedMember, LeavingMember, OffsetCommitArgs, PartitionResults, SyncArgs,
    SyncAssignment, SyncOutcome,
};
use super::classic::{ClassicGroup, GroupState, InitialDelay, JoinWaiter, Member};
use super::consumer::ConsumerGroup;
use super::consumer_classic::CONSUMER_PROTOCOL_TYPE;
use super::migration;
use super::records::{self, CoordinatorRecord, LogEntry, OffsetCommitValue};
use super::{GroupConfig, GROUP_METADATA_TOPIC_NAME};
use crate::coordinator_shards::{
    self, append_error_to_coordinator_error, read_partition, CoordinatorShards, InternalTopicSpec,
};
use crate::error::{ApiError, ResponseError};
use crate::log::TxnVerification;
use crate::metadata::{ControllerClient, MetadataQuorum};
use crate::replica::ReplicaManager;
use crate::types::{now_ms, TopicPartition};

#[path = "txn_offsets.rs"]
mod txn_offsets;

#[path = "deleted_topics.rs"]
mod deleted_topics;

/// Longest a JoinGroup/SyncGroup waits beyond its rebalance timeout before giving up.
const WAIT_SLACK: Duration = Duration::from_secs(10);
/// One `__consumer_offsets` partition's groups; its write lock serializes appends to the
/// partition.
pub(super) type Shard = coordinator_shards::Shard<GroupShardState>;
pub(super) type ShardState = coordinator_shards::ShardState<GroupShardState>;

/// What a group shard holds (cleared when the shard is unloaded).
#[derive(Default)]
pub(super) struct GroupShardState {
    pub(super) groups: HashMap<String, ClassicGroup>,
    /// TxnOffsetCommit offsets awaiting their transaction's marker.
    pub(super) pending_txn_offsets: txn_offsets::PendingTxnOffsets,
}

impl ShardState {
    /// The group if it is still this incarnation and the shard was not unloaded (timers
    /// then stop).
    pub(super) fn group(&mut self, group_id: &str, incarnation: u64) -> Option<&mut ClassicGroup> {
        if self.is_closed() {
            return None;
        }
        self.groups
            .get_mut(group_id)
            .filter(|g| g.incarnation == incarnation)
    }
}

pub(crate) struct GroupCoordinator {
    config: GroupConfig,
    replicas: Arc<ReplicaManager>,
    controller: Arc<ControllerClient>,
    pub(super) quorum: Arc<MetadataQuorum>,
    pub(super) shards: CoordinatorShards<GroupShardState>,
    incarnations: AtomicU64,
    pub(super) this: Weak<GroupCoordinator>,
}

/// What a timer or transition needs to schedule follow-up work.
#[derive(Clone)]
struct Ctx {
    coordinator: Arc<GroupCoordinator>,
    shard: Arc<Shard>,
}

/// One group's offsets to fetch: every committed one (`None`) or the listed partitions.
pub(crate) type OffsetFetchTopics = Option<Vec<(String, Vec<i32>)>>;
/// Fetched offsets: per topic, per partition the committed offset if any.
pub(crate) type FetchedOffsets = Vec<(String, Vec<(i32, Option<OffsetCommitValue>)>)>;

/// The JoinGroup answer for `member_id` in the group's current generation.
fn join_response(group: &ClassicGroup, member_id: &str, include_members: bool) -> JoinOutcome {
    let members = if include_members {
        let protocol = group.protocol_name.as_deref().unwrap_or("");
        group
            .members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(protocol).cloned().unwrap_or_default(),
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinOutcome {
        error: None,
        member_id: member_id.to_owned(),
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader_id.clone().unwrap_or_default(),
        skip_assignment: false,
        members,
    }
}

/// What SyncGroup hands a member of the classic group `group`.
fn sync_assignment(group: &ClassicGroup, assignment: Bytes) -> SyncAssignment {
    SyncAssignment {
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        assignment,
    }
}

/// Kafka's mapping of append errors to OffsetCommit/group errors
/// (`CoordinatorRuntime`/`GroupMetadataManager` error translation).
fn append_error_to_group_error(code: ResponseError) -> ResponseError {
    append_error_to_coordinator_error(code).unwrap_or(match code {
        ResponseError::MessageTooLarge
        | ResponseError::RecordListTooLarge
        | ResponseError::InvalidFetchSize => ResponseError::InvalidCommitOffsetSize,
        other => other,
    })
}

impl GroupCoordinator {
    pub(crate) fn new(
        node_id: i32,
        config: GroupConfig,
        replicas: Arc<ReplicaManager>,
        controller: Arc<ControllerClient>,
        quorum: Arc<MetadataQuorum>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            config,
            replicas,
            controller,
            quorum,
            shards: CoordinatorShards::new(GROUP_METADATA_TOPIC_NAME, "group coordinator", node_id),
            incarnations: AtomicU64::new(1),
            this: this.clone(),
        })
    }

    pub(crate) fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Starts the background work: loading/unloading shards as leadership of
    /// `__consumer_offsets` partitions changes, offset retention, and deleting the offsets
    /// of deleted topics. Ends at shutdown.
    pub(crate) fn start(
        self: &Arc<Self>,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let leadership = this.shards.follow_leadership(
                &this.replicas,
                this.quorum.subscribe(),
                shutdown.clone(),
                |shard| drop(tokio::spawn(Arc::clone(&this).load_shard(shard))),
            );
            tokio::join!(
                leadership,
                Arc::clone(&this).expire_offsets_periodically(shutdown.clone()),
                Arc::clone(&this).delete_offsets_of_deleted_topics(shutdown),
            );
        })
    }

    // ------------------------------------------------------------------ shard lifecycle

    /// Replays the shard's partition into groups and pending transactional offsets, then
    /// starts the members' session timers. The loader holds the shard's write lock from its
    /// read until the shard is marked loaded: a transaction marker written meanwhile is
    /// either in what was read or completed after the load (`complete_txn_offsets` takes
    /// this lock).
    async fn load_shard(self: Arc<Self>, shard: Arc<Shard>) {
        let tp = shard.tp();
        let started = std::time::Instant::now();
        let ctx = Ctx {
            coordinator: Arc::clone(&self),
            shard: Arc::clone(&shard),
        };
        let read = || read_partition(&self.replicas, &tp, records::decode_batches);
        let install = |st: &mut GroupShardState, entries: Vec<LogEntry>| {
            let count = entries.len();
            let (groups, pending) = self.rebuild_groups(entries);
            st.groups = groups;
            st.pending_txn_offsets = pending;
            for group in st.groups.values() {
                for member_id in group.members.keys() {
                    ctx.spawn_session_timer(&group.group_id, group.incarnation, member_id);
                }
                for member_id in group.consumer.iter().flat_map(|c| c.members.keys()) {
                    self.spawn_consumer_session_timer(
                        &shard,
                        &group.group_id,
                        group.incarnation,
                        member_id,
                    );
                }
            }
            if count > 0 {
                tracing::info!(
                    partition = %tp,
                    records = count,
                    groups = st.groups.len(),
                    open_transactions = st.pending_txn_offsets.producer_count(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "loaded group coordinator shard"
                );
            } else {
                tracing::debug!(partition = %tp, "loaded empty group coordinator shard");
            }
        };
        self.shards.load(&shard, read, install).await;
    }

    /// Replays a shard's records (in offset order) into groups, and the transactional
    /// offsets whose transaction has no marker yet.
    fn rebuild_groups(
        &self,
        entries: Vec<LogEntry>,
    ) -> (
        HashMap<String, ClassicGroup>,
        txn_offsets::PendingTxnOffsets,
    ) {
        let (loaded, pending) = replay_entries(entries);
        let now = Instant::now();
        let groups = loaded
            .into_iter()
            .filter(|(group_id, l)| {
                l.metadata.is_some()
                    || !l.offsets.is_empty()
                    || l.consumer_epoch.is_some()
                    || !pending.partitions_of(group_id).is_empty()
            })
            .map(|(group_id, l)| {
                let group = self.group_from_loaded(group_id.clone(), l, now);
                (group_id, group)
            })
            .collect();
        (groups, pending)
    }

    /// The group a shard load found: offsets, a consumer group with its members (sessions
    /// restart now) or a classic group with its members (Stable, as Kafka loads them).
    fn group_from_loaded(&self, group_id: String, l: LoadedGroup, now: Instant) -> ClassicGroup {
        let mut g = ClassicGroup::new(group_id, self.next_incarnation(), -1);
        g.offsets = l.offsets;
        // Without a readable snapshot only a consumer group's epoch survives; members rejoin.
        g.consumer = l.consumer_epoch.map(|epoch| {
            l.consumer_snapshot
                .as_ref()
                .and_then(|snap| {
                    ConsumerGroup::from_snapshot(snap, now, self.config.consumer.session_timeout_ms)
                        .map_err(|e| {
                            tracing::warn!(group = %g.group_id, error = %e, "unreadable consumer group snapshot; members will rejoin");
                        })
                        .ok()
                })
                .filter(|cg| cg.group_epoch == epoch)
                .unwrap_or_else(|| ConsumerGroup::at_epoch(epoch))
        });
        let Some(m) = l.metadata else {
            return g;
        };
        g.generation_id = m.generation;
        g.protocol_type = Some(m.protocol_type).filter(|t| !t.is_empty());
        g.protocol_name = m.protocol.clone();
        g.leader_id = m.leader;
        g.state_timestamp_ms = m.current_state_timestamp_ms;
        for mm in m.members {
            g.add_member(Member {
                member_id: mm.member_id,
                group_instance_id: mm.group_instance_id,
                client_id: mm.client_id,
                client_host: mm.client_host,
                rebalance_timeout_ms: mm.rebalance_timeout_ms,
                session_timeout_ms: mm.session_timeout_ms,
                protocols: vec![(m.protocol.clone().unwrap_or_default(), mm.subscription)],
                assignment: mm.assignment,
                join_waiter: None,
                sync_waiter: None,
                session_deadline: now + Duration::from_millis(mm.session_timeout_ms.max(0) as u64),
                is_new: false,
            });
        }
        if !g.members.is_empty() && g.protocol_name.is_some() {
            g.state = GroupState::Stable;
        } else {
            g.members.clear();
            g.static_members.clear();
            g.leader_id = None;
        }
        g
    }

    pub(super) fn next_incarnation(&self) -> u64 {
        self.incarnations.fetch_add(1, Ordering::Relaxed)
    }

    /// The `__consumer_offsets` partition of `group_id` (the topic's partition count, or
    /// `offsets.topic.num.partitions` before it exists).
    pub(crate) fn partition_for_group(&self, group_id: &str) -> i32 {
        self.shards.partition_for_key(
            &self.quorum.image(),
            group_id,
            self.config.offsets_topic_num_partitions,
        )
    }

    /// The loaded shard owning `group_id`, or the coordinator error to answer.
    pub(super) fn shard_for(&self, group_id: &str) -> Result<Arc<Shard>, ResponseError> {
        self.shards.shard_for(&self.quorum.image(), group_id)
    }

    fn ctx(&self, shard: &Arc<Shard>) -> Option<Ctx> {
        Some(Ctx {
            coordinator: self.this.upgrade()?,
            shard: Arc::clone(shard),
        })
    }

    /// Creates `__consumer_offsets` through the Controller if it does not exist yet
    /// (FindCoordinator does this on first use, as Kafka does).
    pub(crate) async fn ensure_offsets_topic(&self) -> Result<(), ApiError> {
        self.shards
            .ensure_topic(&self.quorum, &self.controller, &self.replicas, || {
                InternalTopicSpec {
                    num_partitions: self.config.offsets_topic_num_partitions,
                    replication_factor: self.config.offsets_topic_replication_factor,
                    segment_bytes: self.config.offsets_topic_segment_bytes,
                    configs: vec![("compression.type", "producer".to_owned())],
                }
            })
            .await
    }

    // ------------------------------------------------------------------ JoinGroup

    /// JoinGroup (classic protocol). Waits for the rebalance to complete.
    pub(crate) async fn join_group(&self, join: JoinArgs) -> JoinOutcome {
        let fail = |code| JoinOutcome::error(&join.member_id, code);
        if join.group_id.is_empty() {
            return fail(ResponseError::InvalidGroupId);
        }
        if join.session_timeout_ms < self.config.min_session_timeout_ms
            || join.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return fail(ResponseError::InvalidSessionTimeout);
        }
        if join.protocol_type.is_empty() || join.protocols.is_empty() {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        let shard = match self.shard_for(&join.group_id) {
            Ok(s) => s,
            Err(code) => return fail(code),
        };
        let Some(ctx) = self.ctx(&shard) else {
            return fail(ResponseError::CoordinatorNotAvailable);
        };
        // A consumer group with members serves classic members itself (KIP-848 migration).
        if let Some(r) = self.classic_join_to_consumer_group(&shard, &join).await {
            return r;
        }
        let receiver = {
            let mut st = shard.lock();
            match ctx.join(&mut st, &join) {
                Ok(JoinStep::Now(r)) => return r,
                Ok(JoinStep::Wait(rx)) => rx,
                Err(code) => return fail(code),
            }
        };
        let wait = Duration::from_millis(
            (join.rebalance_timeout_ms.max(0) as u64)
                .saturating_add(self.config.initial_rebalance_delay_ms.max(0) as u64),
        ) + WAIT_SLACK;
        match tokio::time::timeout(wait, receiver).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => fail(ResponseError::NotCoordinator),
            Err(_) => fail(ResponseError::RebalanceInProgress),
        }
    }

    // ------------------------------------------------------------ protocol migration

    /// The classic half of an upgrade: answers the members' parked JoinGroup/SyncGroup
    /// with REBALANCE_IN_PROGRESS (they rejoin the consumer group) and clears the classic
    /// state; the caller installs the consumer group.
    pub(super) fn hand_over_classic_members(group: &mut ClassicGroup) {
        for m in group.members.values_mut() {
            let member_id = m.member_id.clone();
            m.fail_waiters(&member_id, ResponseError::RebalanceInProgress);
        }
        group.members.clear();
        group.static_members.clear();
        group.pending_members.clear();
        group.pending_sync.clear();
        group.leader_id = None;
        group.protocol_type = None;
        group.protocol_name = None;
        group.initial_delay = None;
        group.transition(GroupState::Empty, now_ms());
    }

    /// Converts the consumer group `group` to a classic group without `leaving`
    /// (`migration::downgrade_to_classic`), starts its members' session timers and a
    /// rebalance, and returns the records that make the change durable: tombstones of the
    /// consumer group's records and the classic group's metadata.
    pub(super) fn downgrade_group(
        &self,
        shard: &Arc<Shard>,
        group: &mut ClassicGroup,
        leaving: &BTreeSet<String>,
        reason: &str,
    ) -> Vec<CoordinatorRecord> {
        if !migration::downgrade_to_classic(group, leaving, Instant::now(), now_ms()) {
            return Vec::new();
        }
        tracing::info!(group = %group.group_id, generation = group.generation_id, members = group.members.len(), reason, "consumer group converted to a classic group");
        let group_id = group.group_id.clone();
        let records = vec![
            CoordinatorRecord::ConsumerGroupMetadata {
                group_id: group_id.clone(),
                epoch: None,
            },
            CoordinatorRecord::ConsumerGroupSnapshot {
                group_id: group_id.clone(),
                snapshot: None,
            },
            CoordinatorRecord::GroupMetadata {
                group_id,
                value: Some(group.to_record_value()),
            },
        ];
        if let Some(ctx) = self.ctx(shard) {
            for member_id in group.members.keys() {
                ctx.spawn_session_timer(&group.group_id, group.incarnation, member_id);
            }
            ctx.prepare_rebalance(group, reason);
        }
        records
    }

    // ------------------------------------------------------------------ SyncGroup

    /// SyncGroup: a follower waits for the leader's assignment; the leader's is appended
    /// before anyone is answered.
    pub(crate) async fn sync_group(&self, sync: SyncArgs) -> SyncOutcome {
        if sync.group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let shard = self.shard_for(&sync.group_id)?;
        let ctx = self
            .ctx(&shard)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        // The leader's assignment is appended before anyone gets it: hold the write lock.
        let write = shard.write_lock.lock().await;
        let step = sync_in(&mut shard.lock(), &sync)?;
        let (receiver, wait) = match step {
            SyncStep::Now(assignment) => return Ok(assignment),
            SyncStep::Wait {
                receiver,
                wait,
                store,
            } => {
                if let Some(store) = store {
                    self.store_assignment(&ctx, &sync.group_id, store).await;
                }
                (receiver, wait)
            }
        };
        drop(write);
        match tokio::time::timeout(wait, receiver).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(ResponseError::NotCoordinator),
            Err(_) => Err(ResponseError::RebalanceInProgress),
        }
    }

    /// Appends the leader's assignment, then answers every waiting SyncGroup of the
    /// generation (the group becomes Stable), or on failure fails them and rebalances.
    async fn store_assignment(&self, ctx: &Ctx, group_id: &str, store: AssignmentRecord) {
        let result = self.append(&ctx.shard, vec![store.record]).await;
        let mut st = ctx.shard.lock();
        let Some(group) = st.group(group_id, store.incarnation) else {
            return;
        };
        if group.generation_id != store.generation || group.state != GroupState::CompletingRebalance
        {
            return;
        }
        match result {
            Ok(_) => {
                group.transition(GroupState::Stable, now_ms());
                tracing::info!(group = %group_id, generation = store.generation, members = group.members.len(), "group stable");
                let answers: Vec<_> = group
                    .members
                    .values_mut()
                    .filter_map(|m| Some((m.sync_waiter.take()?, m.assignment.clone())))
                    .collect();
                for (tx, assignment) in answers {
                    let _ = tx.send(Ok(sync_assignment(group, assignment)));
                }
            }
            Err(code) => {
                tracing::warn!(group = %group_id, error = %code, "storing the group assignment failed");
                for m in group.members.values_mut() {
                    m.assignment = Bytes::new();
                    if let Some(tx) = m.sync_waiter.take() {
                        let _ = tx.send(Err(code));
                    }
                }
                ctx.prepare_rebalance(group, "storing the assignment failed");
            }
        }
    }

    // ------------------------------------------------------------------ Heartbeat

    /// Heartbeat (classic protocol): keeps the member's session; tells it to rejoin while a
    /// rebalance is prepared.
    pub(crate) fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        let mut st = shard.lock();
        let Some(group) = st.groups.get_mut(group_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        if let Some(cg) = group.consumer.as_mut() {
            // A classic member of a consumer group (KIP-848 migration).
            return cg.classic_heartbeat(member_id, instance, generation_id, Instant::now());
        }
        validate_member(group, member_id, instance)?;
        if generation_id != group.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        let state = group.state;
        if let Some(m) = group.members.get_mut(member_id) {
            m.session_deadline =
                Instant::now() + Duration::from_millis(m.session_timeout_ms.max(0) as u64);
        }
        match state {
            GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
        }
    }

    // ------------------------------------------------------------------ LeaveGroup

    /// LeaveGroup: removes each listed member; per-member error codes in input order.
    pub(crate) async fn leave_group(
        &self,
        group_id: &str,
        members: &[LeavingMember],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        // Bounded: a second pass only if the group changed its type between the two checks.
        let mut result = Err(ResponseError::RebalanceInProgress);
        for _ in 0..2 {
            if let Some(r) = self
                .classic_leave_consumer_group(&shard, group_id, members)
                .await
            {
                return r;
            }
            result = self.leave_classic_group(&shard, group_id, members);
            if result != Err(ResponseError::RebalanceInProgress) {
                break;
            }
        }
        result
    }

    /// LeaveGroup of a classic group (the caller checked it is not a consumer group).
    pub(super) fn leave_classic_group(
        &self,
        shard: &Arc<Shard>,
        group_id: &str,
        members: &[LeavingMember],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        let ctx = self
            .ctx(shard)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        let mut st = shard.lock();
        let Some(group) = st.groups.get_mut(group_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        if group.is_consumer_group() {
            // It became a consumer group since the caller checked (`leave_group` retries).
            return Err(ResponseError::RebalanceInProgress);
        }
        let mut results = Vec::with_capacity(members.len());
        let mut removed_any = false;
        for identity in members {
            // Kafka's order: an admin's removal by instance id alone, a pending member, then
            // a member validated as Sync/Heartbeat are (a replaced static member's old id is
            // FENCED_INSTANCE_ID).
            let member_id = identity.member_id.as_str();
            let instance = identity.group_instance_id.as_deref();
            let code = if member_id.is_empty() {
                match instance
                    .and_then(|i| group.static_member_id(i))
                    .map(str::to_owned)
                {
                    Some(existing) => {
                        ctx.remove_member(group, &existing, "static member removed by instance id");
                        Ok(())
                    }
                    None => Err(ResponseError::UnknownMemberId),
                }
            } else if group.pending_members.remove(member_id) {
                Ok(())
            } else {
                validate_member(group, member_id, instance).map(|()| {
                    ctx.remove_member(group, member_id, "member left");
                })
            };
            removed_any |= code.is_ok();
            results.push(code);
        }
        if removed_any {
            ctx.rebalance_after_removal(group, "members left the group");
        }
        Ok(results)
    }

    // ------------------------------------------------------------------ offsets

    /// OffsetCommit: validated against the group, appended, then visible to OffsetFetch.
    /// A group-level error (`Err`) answers every partition.
    pub(crate) async fn commit_offsets(
        &self,
        commit: &OffsetCommitArgs,
    ) -> Result<PartitionResults, ResponseError> {
        let group_id = &commit.group_id;
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        let _write = shard.write_lock.lock().await;
        let now = now_ms();
        let mut results: PartitionResults = commit
            .topics
            .iter()
            .map(|(topic, offsets)| {
                let partitions = offsets.iter().map(|o| (o.partition, Ok(()))).collect();
                (topic.clone(), partitions)
            })
            .collect();
        let accepted = self.accept_commit(&shard, commit, now, &mut results)?;
        if accepted.is_empty() {
            return Ok(results);
        }
        let records = accepted
            .iter()
            .map(|a| CoordinatorRecord::OffsetCommit {
                group_id: group_id.clone(),
                topic: a.tp.topic.clone(),
                partition: a.tp.partition,
                value: Some(a.value.clone()),
            })
            .collect();
        match self.append(&shard, records).await {
            Ok(base_offset) => {
                let mut st = shard.lock();
                if !st.is_closed() {
                    for (i, a) in accepted.iter().enumerate() {
                        st.pending_txn_offsets
                            .supersede(group_id, &a.tp, base_offset + i as i64);
                    }
                    let incarnation = self.next_incarnation();
                    let group = st
                        .groups
                        .entry(group_id.clone())
                        .or_insert_with(|| ClassicGroup::new(group_id.clone(), incarnation, now));
                    for a in accepted {
                        group.offsets.insert(a.tp, a.value);
                    }
                }
            }
            Err(code) => {
                for a in &accepted {
                    results[a.topic_index].1[a.partition_index].1 = Err(code);
                }
            }
        }
        Ok(results)
    }

    /// OffsetCommit's checks under the shard lock: the group (created for a commit from
    /// outside any group, generation -1) and its member, then each offset's metadata size
    /// (refused ones get their error in `results`). Returns the offsets to append.
    fn accept_commit(
        &self,
        shard: &Shard,
        commit: &OffsetCommitArgs,
        now: i64,
        results: &mut PartitionResults,
    ) -> Result<Vec<AcceptedOffset>, ResponseError> {
        let group_id = &commit.group_id;
        let member_id = commit.member_id.as_str();
        let instance = commit.group_instance_id.as_deref();
        let generation = commit.generation_id_or_member_epoch;
        let mut st = shard.lock();
        let group = match st.groups.get_mut(group_id) {
            Some(g) => g,
            None if generation < 0 => {
                let g = ClassicGroup::new(group_id.clone(), self.next_incarnation(), now);
                st.groups.entry(group_id.clone()).or_insert(g)
            }
            None if commit.version >= 9 => return Err(ResponseError::GroupIdNotFound),
            None => return Err(ResponseError::IllegalGeneration),
        };
        match group.consumer.as_ref() {
            Some(cg) => {
                cg.validate_offset_commit(member_id, instance, generation, false, commit.version)
            }
            None => group.validate_offset_commit(member_id, instance, generation, false),
        }?;
        if let Some(m) = group.members.get_mut(member_id) {
            m.session_deadline =
                Instant::now() + Duration::from_millis(m.session_timeout_ms.max(0) as u64);
        }
        let mut accepted = Vec::new();
        for (topic_index, (topic, offsets)) in commit.topics.iter().enumerate() {
            for (partition_index, o) in offsets.iter().enumerate() {
                if o.metadata.len() > self.config.offset_metadata_max_bytes {
                    results[topic_index].1[partition_index].1 =
                        Err(ResponseError::OffsetMetadataTooLarge);
                    continue;
                }
                accepted.push(AcceptedOffset {
                    topic_index,
                    partition_index,
                    tp: TopicPartition::new(topic.clone(), o.partition),
                    value: committed_value(o, now),
                });
            }
        }
        Ok(accepted)
    }

    /// OffsetFetch for one group.
    pub(crate) fn fetch_offsets(
        &self,
        group_id: &str,
        topics: OffsetFetchTopics,
    ) -> Result<FetchedOffsets, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        let st = shard.lock();
        let offsets = st.groups.get(group_id).map(|g| &g.offsets);
        Ok(match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let found = partitions
                        .into_iter()
                        .map(|p| {
                            let tp = TopicPartition::new(topic.clone(), p);
                            (p, offsets.and_then(|o| o.get(&tp)).cloned())
                        })
                        .collect();
                    (topic, found)
                })
                .collect(),
            None => {
                let mut by_topic: std::collections::BTreeMap<
                    String,
                    Vec<(i32, Option<OffsetCommitValue>)>,
                > = Default::default();
                for (tp, v) in offsets.into_iter().flatten() {
                    by_topic
                        .entry(tp.topic.clone())
                        .or_default()
                        .push((tp.partition, Some(v.clone())));
                }
                by_topic
                    .into_iter()
                    .map(|(t, mut ps)| {
                        ps.sort_by_key(|(p, _)| *p);
                        (t, ps)
                    })
                    .collect()
            }
        })
    }

    /// Every group's committed offsets in the loaded shards, for the consumer lag metrics:
    /// (group, partition, offset) with each shard locked only while its offsets are copied.
    pub(crate) fn committed_offsets(&self) -> Vec<(String, TopicPartition, i64)> {
        let mut out = Vec::new();
        for shard in self.shards.all() {
            let st = shard.lock();
            if !st.is_loaded() {
                continue;
            }
            for g in st.groups.values() {
                out.extend(
                    g.offsets
                        .iter()
                        .map(|(tp, v)| (g.group_id.clone(), tp.clone(), v.offset)),
                );
            }
        }
        out
    }

    // ------------------------------------------------------------------ admin APIs

    /// ListGroups over every loaded shard; `states`/`types` filter case-insensitively.
    pub(crate) fn list_groups(
        &self,
        states: &[String],
        types: &[String],
    ) -> Result<Vec<GroupListing>, ResponseError> {
        let shards = self.shards.all();
        let mut out = Vec::new();
        let mut loading = false;
        let type_wanted =
            |t: &str| types.is_empty() || types.iter().any(|x| x.eq_ignore_ascii_case(t));
        for shard in shards {
            let st = shard.lock();
            if !st.is_loaded() {
                loading = true;
                continue;
            }
            for g in st.groups.values() {
                let (group_type, state, protocol_type) = match &g.consumer {
                    Some(cg) => ("consumer", cg.state().name(), "consumer"),
                    None => (
                        "classic",
                        g.state.name(),
                        g.protocol_type.as_deref().unwrap_or(""),
                    ),
                };
                if !type_wanted(group_type)
                    || (!states.is_empty() && !states.iter().any(|s| s.eq_ignore_ascii_case(state)))
                {
                    continue;
                }
                out.push(GroupListing {
                    group_id: g.group_id.clone(),
                    protocol_type: protocol_type.to_owned(),
                    state,
                    group_type,
                });
            }
        }
        if loading {
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// DescribeGroups for one group. Kafka 4 describes only classic groups: an unknown group
    /// or one of another type is GROUP_ID_NOT_FOUND (which older versions show as Dead).
    pub(crate) fn describe_group(
        &self,
        group_id: &str,
    ) -> Result<ClassicGroupDescription, ApiError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId.into());
        }
        let shard = self.shard_for(group_id)?;
        let st = shard.lock();
        let not_found = |message: String| ApiError::new(ResponseError::GroupIdNotFound, message);
        let Some(g) = st.groups.get(group_id) else {
            return Err(not_found(format!("Group {group_id} not found.")));
        };
        if g.is_consumer_group() {
            return Err(not_found(format!(
                "Group {group_id} is not a classic group."
            )));
        }
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.as_deref().filter(|_| stable);
        Ok(ClassicGroupDescription {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.unwrap_or("").to_owned(),
            members: g
                .members
                .values()
                .map(|m| ClassicMemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: protocol
                        .and_then(|p| m.metadata_for(p).cloned())
                        .unwrap_or_default(),
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    /// DeleteGroups: only Empty groups; writes tombstones for the group and its offsets.
    pub(crate) async fn delete_groups(
        &self,
        group_ids: &[String],
    ) -> Vec<Result<(), ResponseError>> {
        let mut results = Vec::with_capacity(group_ids.len());
        for group_id in group_ids {
            results.push(self.delete_group(group_id).await);
        }
        results
    }

    async fn delete_group(&self, group_id: &str) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        let _write = shard.write_lock.lock().await;
        let (records, incarnation) = {
            let st = shard.lock();
            let Some(g) = st.groups.get(group_id) else {
                return Err(ResponseError::GroupIdNotFound);
            };
            if g.state != GroupState::Empty || !g.is_empty() {
                return Err(ResponseError::NonEmptyGroup);
            }
            let mut records = group_tombstones(g);
            // Offsets still pending in a transaction get tombstones too (as Kafka): a
            // later COMMIT marker must not bring the deleted group's offsets back.
            let mut pending: Vec<(String, i32)> = st
                .pending_txn_offsets
                .partitions_of(group_id)
                .into_iter()
                .filter(|(t, p)| !g.offsets.contains_key(&TopicPartition::new(t.clone(), *p)))
                .collect();
            pending.sort();
            records.extend(pending.into_iter().map(|(topic, partition)| {
                CoordinatorRecord::OffsetCommit {
                    group_id: group_id.to_owned(),
                    topic,
                    partition,
                    value: None,
                }
            }));
            (records, g.incarnation)
        };
        let base_offset = self.append(&shard, records.clone()).await?;
        let mut st = shard.lock();
        for (i, record) in records.iter().enumerate() {
            if let CoordinatorRecord::OffsetCommit {
                topic, partition, ..
            } = record
            {
                st.pending_txn_offsets.supersede(
                    group_id,
                    &TopicPartition::new(topic.clone(), *partition),
                    base_offset + i as i64,
                );
            }
        }
        if st.group(group_id, incarnation).is_some() {
            st.groups.remove(group_id);
        }
        tracing::info!(group = %group_id, "group deleted");
        Ok(())
    }

    /// OffsetDelete: removes committed offsets of partitions the group does not consume.
    /// A group-level error (`Err`) replaces the partition results.
    pub(crate) async fn delete_offsets(
        &self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<PartitionResults, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        let _write = shard.write_lock.lock().await;
        let mut results = PartitionResults::new();
        let mut deleted = Vec::new();
        let incarnation;
        {
            let st = shard.lock();
            let g = st
                .groups
                .get(group_id)
                .ok_or(ResponseError::GroupIdNotFound)?;
            incarnation = g.incarnation;
            let subscribed = self
                .offset_delete_protected_topics(g)
                .ok_or(ResponseError::NonEmptyGroup)?;
            let pending = st.pending_txn_offsets.partitions_of(group_id);
            for (topic, partitions) in topics {
                let mut answers = Vec::with_capacity(partitions.len());
                for &partition in partitions {
                    if subscribed.contains(topic) {
                        answers.push((partition, Err(ResponseError::GroupSubscribedToTopic)));
                        continue;
                    }
                    let tp = TopicPartition::new(topic.clone(), partition);
                    // Pending transactional offsets are deleted too (as Kafka).
                    if g.offsets.contains_key(&tp) || pending.contains(&(topic.clone(), partition))
                    {
                        deleted.push(tp);
                    }
                    answers.push((partition, Ok(())));
                }
                results.push((topic.clone(), answers));
            }
        }
        if deleted.is_empty() {
            return Ok(results);
        }
        let records = deleted
            .iter()
            .map(|tp| CoordinatorRecord::OffsetCommit {
                group_id: group_id.to_owned(),
                topic: tp.topic.clone(),
                partition: tp.partition,
                value: None,
            })
            .collect();
        let base_offset = self.append(&shard, records).await?;
        let mut st = shard.lock();
        for (i, tp) in deleted.iter().enumerate() {
            st.pending_txn_offsets
                .supersede(group_id, tp, base_offset + i as i64);
        }
        if let Some(g) = st.group(group_id, incarnation) {
            for tp in &deleted {
                g.offsets.remove(tp);
            }
        }
        Ok(results)
    }

    /// The topics whose offsets OffsetDelete must keep because the group consumes them, or
    /// `None` when the group's offsets cannot be deleted at all (a non-empty group that is
    /// not a consumer group).
    fn offset_delete_protected_topics(&self, g: &ClassicGroup) -> Option<HashSet<String>> {
        if let Some(cg) = &g.consumer {
            let image = self.quorum.image();
            let topics = image
                .topics
                .iter()
                .map(|(n, t)| (n.clone(), t.partitions.len() as i32))
                .collect();
            Some(cg.subscribed_topics(&topics).into_iter().collect())
        } else if g.state == GroupState::Empty {
            Some(HashSet::new())
        } else if g.protocol_type.as_deref() == Some("consumer") {
            // Kafka's `isSubscribedToTopic`: topics of an unreadable subscription count as
            // not subscribed.
            Some(g.subscribed_topics().unwrap_or_default())
        } else {
            None
        }
    }

    // ------------------------------------------------------------------ retention

    async fn expire_offsets_periodically(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(
            self.config.offsets_retention_check_interval_ms.max(10) as u64,
        ));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => {}
            }
            for shard in self.shards.all() {
                self.expire_offsets(&shard, now_ms()).await;
            }
        }
    }

    /// Kafka's offset expiration: offsets of Empty groups expire `offsets.retention.minutes`
    /// after the group became Empty (groups without protocol: after the commit); offsets of
    /// Stable consumer groups for topics nobody subscribes to expire after the commit. Empty
    /// groups left without offsets are deleted.
    async fn expire_offsets(&self, shard: &Arc<Shard>, now: i64) {
        let _write = shard.write_lock.lock().await;
        let retention = self.config.offsets_retention_ms;
        let mut records = Vec::new();
        let mut expired: Vec<(String, u64, Vec<TopicPartition>, bool)> = Vec::new();
        {
            let st = shard.lock();
            if !st.is_loaded() {
                return;
            }
            for g in st.groups.values() {
                let (gone, delete_group) = g.expired_offsets(now, retention);
                if gone.is_empty() && !delete_group {
                    continue;
                }
                for tp in &gone {
                    records.push(CoordinatorRecord::OffsetCommit {
                        group_id: g.group_id.clone(),
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        value: None,
                    });
                }
                if delete_group {
                    records.extend(group_metadata_tombstones(g));
                }
                expired.push((g.group_id.clone(), g.incarnation, gone, delete_group));
            }
        }
        if records.is_empty() {
            return;
        }
        if let Err(code) = self.append(shard, records).await {
            tracing::warn!(partition = shard.partition(), error = %code, "writing expired-offset tombstones failed");
            return;
        }
        let mut st = shard.lock();
        for (group_id, incarnation, gone, delete_group) in expired {
            let Some(g) = st.group(&group_id, incarnation) else {
                continue;
            };
            for tp in &gone {
                g.offsets.remove(tp);
            }
            tracing::info!(group = %group_id, offsets = gone.len(), group_deleted = delete_group, "expired committed offsets");
            if delete_group && g.state == GroupState::Empty && g.is_empty() && g.offsets.is_empty()
            {
                st.groups.remove(&group_id);
            }
        }
    }

    // ------------------------------------------------------------------ appends

    /// Appends records to the shard's partition (acks=all); returns the first record's
    /// offset. Callers hold the write lock.
    pub(super) async fn append(
        &self,
        shard: &Shard,
        records: Vec<CoordinatorRecord>,
    ) -> Result<i64, ResponseError> {
        let batch =
            records::encode_batch(&records, self.config.offsets_topic_compression, now_ms())
                .map_err(|e| {
                    tracing::error!(error = %e, "encoding coordinator records failed");
                    ResponseError::UnknownServerError
                })?;
        self.append_batch(shard, batch).await
    }

    /// Appends one encoded batch to the shard's partition (acks=all); returns its base
    /// offset. Callers hold the write lock.
    pub(super) async fn append_batch(
        &self,
        shard: &Shard,
        batch: Bytes,
    ) -> Result<i64, ResponseError> {
        self.append_batch_verified(shard, batch, TxnVerification::Off)
            .await
    }

    /// [`Self::append_batch`] of a transactional batch under a KIP-890 verification.
    pub(super) async fn append_batch_verified(
        &self,
        shard: &Shard,
        batch: Bytes,
        verification: TxnVerification,
    ) -> Result<i64, ResponseError> {
        shard
            .append(
                &self.replicas,
                batch,
                verification,
                self.config.offsets_commit_timeout_ms,
            )
            .await
            .map(|info| info.base_offset)
            .map_err(|e| append_error_to_group_error(e.code))
    }
}

/// What replaying a shard's records found about one group (the last group record decides
/// its type).
#[derive(Default)]
struct LoadedGroup {
    metadata: Option<records::GroupMetadataValue>,
    offsets: HashMap<TopicPartition, OffsetCommitValue>,
    /// A KIP-848 group's epoch.
    consumer_epoch: Option<i32>,
    consumer_snapshot: Option<Bytes>,
}

/// Replays a shard's records in offset order: each group's last metadata and committed
/// offsets, and the transactional offsets still pending (a marker completes them into
/// the committed ones, in log order).
fn replay_entries(
    entries: Vec<LogEntry>,
) -> (HashMap<String, LoadedGroup>, txn_offsets::PendingTxnOffsets) {
    let mut loaded: HashMap<String, LoadedGroup> = HashMap::new();
    let mut pending = txn_offsets::PendingTxnOffsets::default();
    for entry in entries {
        let (offset, producer_id, record) = match entry {
            LogEntry::Record {
                offset,
                producer_id,
                record,
            } => (offset, producer_id, record),
            LogEntry::TxnMarker {
                producer_id,
                commit,
                ..
            } => {
                for (group_id, tp, value) in pending.complete(producer_id, commit) {
                    loaded
                        .entry(group_id)
                        .or_default()
                        .offsets
                        .insert(tp, value);
                }
                continue;
            }
        };
        match record {
            CoordinatorRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                value: Some(value),
            } if producer_id.is_some() => {
                let tp = TopicPartition::new(topic, partition);
                if let Some(producer_id) = producer_id {
                    pending.add(producer_id, &group_id, tp, value, offset);
                }
                // A transactional commit creates the group, as a plain one does.
                loaded.entry(group_id).or_default();
            }
            CoordinatorRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                value,
            } => {
                let tp = TopicPartition::new(topic, partition);
                pending.supersede(&group_id, &tp, offset);
                let entry = loaded.entry(group_id).or_default();
                match value {
                    Some(v) => {
                        entry.offsets.insert(tp, v);
                    }
                    None => {
                        entry.offsets.remove(&tp);
                    }
                }
            }
            CoordinatorRecord::GroupMetadata { group_id, value } => {
                let entry = loaded.entry(group_id).or_default();
                if value.is_some() {
                    entry.consumer_epoch = None;
                    entry.consumer_snapshot = None;
                }
                entry.metadata = value;
            }
            CoordinatorRecord::ConsumerGroupMetadata { group_id, epoch } => {
                let entry = loaded.entry(group_id).or_default();
                if epoch.is_some() {
                    entry.metadata = None;
                }
                entry.consumer_epoch = epoch;
            }
            CoordinatorRecord::ConsumerGroupSnapshot { group_id, snapshot } => {
                loaded.entry(group_id).or_default().consumer_snapshot = snapshot;
            }
        }
    }
    (loaded, pending)
}

/// Tombstones for a group's metadata and all its offsets.
fn group_tombstones(g: &ClassicGroup) -> Vec<CoordinatorRecord> {
    let mut records: Vec<CoordinatorRecord> = g
        .offsets
        .keys()
        .map(|tp| CoordinatorRecord::OffsetCommit {
            group_id: g.group_id.clone(),
            topic: tp.topic.clone(),
            partition: tp.partition,
            value: None,
        })
        .collect();
    records.extend(group_metadata_tombstones(g));
    records
}

/// Tombstones for a group's metadata records (a consumer group's too), not its offsets.
fn group_metadata_tombstones(g: &ClassicGroup) -> Vec<CoordinatorRecord> {
    let group_id = || g.group_id.clone();
    let mut records = vec![CoordinatorRecord::GroupMetadata {
        group_id: group_id(),
        value: None,
    }];
    if g.is_consumer_group() {
        records.push(CoordinatorRecord::ConsumerGroupMetadata {
            group_id: group_id(),
            epoch: None,
        });
        records.push(CoordinatorRecord::ConsumerGroupSnapshot {
            group_id: group_id(),
            snapshot: None,
        });
    }
    records
}

/// Kafka's member validation for Sync/Heartbeat/Commit: unknown member, fenced instance.
fn validate_member(
    group: &ClassicGroup,
    member_id: &str,
    instance: Option<&str>,
) -> Result<(), ResponseError> {
    group.validate_member(member_id, instance)
}

/// One offset of an OffsetCommit that passed the checks: where it sits in the request, and
/// its record.
struct AcceptedOffset {
    topic_index: usize,
    partition_index: usize,
    tp: TopicPartition,
    value: OffsetCommitValue,
}

/// The stored value of a committed offset.
fn committed_value(o: &CommittedOffset, now_ms: i64) -> OffsetCommitValue {
    OffsetCommitValue {
        offset: o.offset,
        leader_epoch: o.leader_epoch,
        metadata: o.metadata.clone(),
        commit_timestamp_ms: now_ms,
        expire_timestamp_ms: None,
    }
}

/// The leader's assignment as a group record, appended before SyncGroup answers.
struct AssignmentRecord {
    record: CoordinatorRecord,
    incarnation: u64,
    generation: i32,
}

/// How a SyncGroup goes under the shard lock.
enum SyncStep {
    /// Answered at once (a Stable group, a classic member of a consumer group).
    Now(SyncAssignment),
    /// Parked until the generation's assignment is stored; `store` is that assignment
    /// when this member leads.
    Wait {
        receiver: oneshot::Receiver<SyncOutcome>,
        wait: Duration,
        store: Option<AssignmentRecord>,
    },
}

/// The synchronous part of SyncGroup, under the shard lock: Kafka's checks, then the
/// member's assignment at once (Stable) or a parked waiter (CompletingRebalance). The
/// leader's assignment is installed in the members and returned as the record to store.
fn sync_in(st: &mut ShardState, sync: &SyncArgs) -> Result<SyncStep, ResponseError> {
    let member_id = sync.member_id.as_str();
    let instance = sync.group_instance_id.as_deref();
    let group = st
        .groups
        .get_mut(&sync.group_id)
        .ok_or(ResponseError::UnknownMemberId)?;
    if let Some(cg) = group.consumer.as_mut() {
        // A classic member of a consumer group (KIP-848 migration).
        let o = cg.classic_sync(
            member_id,
            instance,
            sync.generation_id,
            sync.protocol_type.as_deref(),
            sync.protocol_name.as_deref(),
            Instant::now(),
        )?;
        return Ok(SyncStep::Now(SyncAssignment {
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_owned()),
            protocol_name: Some(o.protocol_name),
            assignment: o.assignment,
        }));
    }
    validate_member(group, member_id, instance)?;
    if sync.generation_id != group.generation_id {
        return Err(ResponseError::IllegalGeneration);
    }
    if sync
        .protocol_type
        .as_ref()
        .is_some_and(|t| Some(t.as_str()) != group.protocol_type.as_deref())
        || sync
            .protocol_name
            .as_ref()
            .is_some_and(|n| Some(n.as_str()) != group.protocol_name.as_deref())
    {
        return Err(ResponseError::InconsistentGroupProtocol);
    }
    match group.state {
        GroupState::Empty | GroupState::Dead => return Err(ResponseError::UnknownMemberId),
        GroupState::PreparingRebalance => return Err(ResponseError::RebalanceInProgress),
        GroupState::Stable => {
            group.pending_sync.remove(member_id);
            let assignment = group
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default();
            return Ok(SyncStep::Now(sync_assignment(group, assignment)));
        }
        GroupState::CompletingRebalance => {}
    }
    group.pending_sync.remove(member_id);
    let (tx, receiver) = oneshot::channel();
    let member = group
        .members
        .get_mut(member_id)
        .ok_or(ResponseError::UnknownMemberId)?;
    member.sync_waiter = Some(tx);
    let wait = Duration::from_millis(member.rebalance_timeout_ms.max(0) as u64) + WAIT_SLACK;
    let store = (group.leader_id.as_deref() == Some(member_id)).then(|| {
        let assignments: HashMap<&str, &Bytes> = sync
            .assignments
            .iter()
            .map(|(member, assignment)| (member.as_str(), assignment))
            .collect();
        for m in group.members.values_mut() {
            m.assignment = assignments
                .get(m.member_id.as_str())
                .map(|a| Bytes::clone(a))
                .unwrap_or_default();
        }
        AssignmentRecord {
            record: CoordinatorRecord::GroupMetadata {
                group_id: sync.group_id.clone(),
                value: Some(group.to_record_value()),
            },
            incarnation: group.incarnation,
            generation: group.generation_id,
        }
    });
    Ok(SyncStep::Wait {
        receiver,
        wait,
        store,
    })
}

/// What a static member replacement changed, to undo it if storing it fails.
struct PreviousStaticMember {
    member_id: String,
    protocols: Vec<(String, Bytes)>,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
    /// The group's leader before the replacement (what JoinGroup < v9 answers).
    previous_leader: Option<String>,
}

/// How a JoinGroup goes under the shard lock: answered at once, or parked until the join
/// phase completes.
enum JoinStep {
    Now(JoinOutcome),
    Wait(oneshot::Receiver<JoinOutcome>),
}

impl Ctx {
    fn config(&self) -> &GroupConfig {
        &self.coordinator.config
    }

    /// The synchronous part of JoinGroup, under the shard lock.
    fn join(&self, st: &mut ShardState, a: &JoinArgs) -> Result<JoinStep, ResponseError> {
        let unknown_member = a.member_id.is_empty();
        let created = if !st.groups.contains_key(&a.group_id) {
            if !unknown_member {
                return Err(ResponseError::UnknownMemberId);
            }
            let g = ClassicGroup::new(
                a.group_id.clone(),
                self.coordinator.next_incarnation(),
                now_ms(),
            );
            st.groups.insert(a.group_id.clone(), g);
            true
        } else {
            false
        };
        let Some(group) = st.groups.get_mut(&a.group_id) else {
            return Err(ResponseError::UnknownServerError);
        };
        if let Some(cg) = &group.consumer {
            // A consumer-protocol group: an empty one becomes classic again (Kafka's
            // downgrade); one with members takes classic members through
            // `classic_join_to_consumer_group`, so it only gets here if it gained members
            // meanwhile: the member retries.
            if !cg.members.is_empty() {
                return Err(ResponseError::RebalanceInProgress);
            }
            tracing::info!(group = %a.group_id, "empty consumer group converted to a classic group");
            group.consumer = None;
        }
        let result = self.join_group_in(group, a);
        if result.is_err() && created && group.is_empty() && group.offsets.is_empty() {
            st.groups.remove(&a.group_id);
        }
        result
    }

    fn join_group_in(
        &self,
        group: &mut ClassicGroup,
        a: &JoinArgs,
    ) -> Result<JoinStep, ResponseError> {
        let known = !a.member_id.is_empty()
            && (group.members.contains_key(&a.member_id)
                || group.pending_members.contains(&a.member_id));
        let known_static = a
            .group_instance_id
            .as_deref()
            .is_some_and(|i| group.static_member_id(i).is_some());
        if !known && !known_static && group.size() >= self.config().max_size {
            return Err(ResponseError::GroupMaxSizeReached);
        }
        if !group.supports_protocols(&a.protocol_type, &a.protocols) {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        if a.member_id.is_empty() {
            let prefix = a.group_instance_id.as_deref().unwrap_or(&a.client_id);
            let new_member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
            if let Some(instance) = &a.group_instance_id {
                if let Some(old) = group.static_member_id(instance).map(str::to_owned) {
                    return Ok(self.replace_static_member(group, &old, new_member_id, a));
                }
                return Ok(self.add_member_and_rebalance(group, new_member_id, a));
            }
            if a.version >= 4 {
                group.pending_members.insert(new_member_id.clone());
                self.spawn_pending_member_timer(group, &new_member_id, a.session_timeout_ms);
                return Ok(JoinStep::Now(JoinOutcome::error(
                    &new_member_id,
                    ResponseError::MemberIdRequired,
                )));
            }
            return Ok(self.add_member_and_rebalance(group, new_member_id, a));
        }
        if group.pending_members.contains(&a.member_id) {
            return Ok(self.add_member_and_rebalance(group, a.member_id.clone(), a));
        }
        validate_member(group, &a.member_id, a.group_instance_id.as_deref())?;
        let Some(member) = group.members.get(&a.member_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        let same_protocols = member.protocols == a.protocols;
        let is_leader = group.leader_id.as_deref() == Some(a.member_id.as_str());
        match group.state {
            GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
            GroupState::CompletingRebalance if same_protocols => {
                Ok(JoinStep::Now(join_response(group, &a.member_id, is_leader)))
            }
            GroupState::Stable if same_protocols && !is_leader => {
                Ok(JoinStep::Now(join_response(group, &a.member_id, false)))
            }
            _ => Ok(self.update_member_and_rebalance(group, a)),
        }
    }

    fn new_waiter() -> (JoinWaiter, oneshot::Receiver<JoinOutcome>) {
        let (sender, rx) = oneshot::channel();
        (JoinWaiter { sender }, rx)
    }

    fn add_member_and_rebalance(
        &self,
        group: &mut ClassicGroup,
        member_id: String,
        a: &JoinArgs,
    ) -> JoinStep {
        let (waiter, rx) = Self::new_waiter();
        if group.members.is_empty() {
            group.protocol_type = Some(a.protocol_type.clone());
        }
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: a.group_instance_id.clone(),
            client_id: a.client_id.clone(),
            client_host: a.client_host.clone(),
            rebalance_timeout_ms: a.rebalance_timeout_ms,
            session_timeout_ms: a.session_timeout_ms,
            protocols: a.protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: Some(waiter),
            sync_waiter: None,
            session_deadline: Instant::now()
                + Duration::from_millis(a.session_timeout_ms.max(0) as u64),
            is_new: true,
        };
        if let Some(d) = group.initial_delay.as_mut() {
            d.new_member_added = true;
        }
        group.add_member(member);
        tracing::info!(group = %group.group_id, member = %member_id, instance = ?a.group_instance_id, "member joined");
        self.spawn_session_timer(&group.group_id, group.incarnation, &member_id);
        if group.state == GroupState::PreparingRebalance {
            self.try_complete_join(group);
        } else {
            self.prepare_rebalance(group, "new member joined");
        }
        JoinStep::Wait(rx)
    }

    fn update_member_and_rebalance(&self, group: &mut ClassicGroup, a: &JoinArgs) -> JoinStep {
        let (waiter, rx) = Self::new_waiter();
        if let Some(m) = group.members.get_mut(&a.member_id) {
            m.rebalance_timeout_ms = a.rebalance_timeout_ms;
            m.session_timeout_ms = a.session_timeout_ms;
            m.protocols = a.protocols.clone();
            if let Some(old) = m.join_waiter.replace(waiter) {
                let _ = old.sender.send(JoinOutcome::error(
                    &a.member_id,
                    ResponseError::RebalanceInProgress,
                ));
            }
        }
        if group.state == GroupState::PreparingRebalance {
            self.try_complete_join(group);
        } else {
            self.prepare_rebalance(group, "member rejoined with new metadata or as leader");
        }
        JoinStep::Wait(rx)
    }

    /// A static member rejoined with an unknown member id (a restarted client): it takes the
    /// old member's place and assignment under the new id, and the old id is fenced
    /// (Kafka's `updateStaticMemberThenRebalanceOrCompleteJoin`). A Stable group keeps its
    /// generation unless the rejoin changes the protocol the members would select — also
    /// when the member leads: it is answered once the group record naming the new id is
    /// stored (see [`Ctx::spawn_store_replaced_static_member`]). CompletingRebalance
    /// rebalances (the leader may be assigning to the old id); PreparingRebalance counts the
    /// member as joined.
    fn replace_static_member(
        &self,
        group: &mut ClassicGroup,
        old_member_id: &str,
        new_member_id: String,
        a: &JoinArgs,
    ) -> JoinStep {
        let Some(instance) = a.group_instance_id.as_deref() else {
            return self.add_member_and_rebalance(group, new_member_id, a);
        };
        let previous_leader = group.leader_id.clone();
        let (waiter, rx) = Self::new_waiter();
        let Some(member) = group.replace_static_member(instance, old_member_id, &new_member_id)
        else {
            return self.add_member_and_rebalance(group, new_member_id, a);
        };
        member.fail_waiters(old_member_id, ResponseError::FencedInstanceId);
        let previous = PreviousStaticMember {
            member_id: old_member_id.to_owned(),
            protocols: std::mem::replace(&mut member.protocols, a.protocols.clone()),
            rebalance_timeout_ms: std::mem::replace(
                &mut member.rebalance_timeout_ms,
                a.rebalance_timeout_ms,
            ),
            session_timeout_ms: std::mem::replace(
                &mut member.session_timeout_ms,
                a.session_timeout_ms,
            ),
            previous_leader,
        };
        member.session_deadline =
            Instant::now() + Duration::from_millis(a.session_timeout_ms.max(0) as u64);
        member.join_waiter = Some(waiter);
        tracing::info!(group = %group.group_id, instance, old_member = %old_member_id, member = %new_member_id, state = %group.state, "static member rejoined");
        self.spawn_session_timer(&group.group_id, group.incarnation, &new_member_id);
        match group.state {
            GroupState::Stable if group.select_protocol() == group.protocol_name => {
                self.spawn_store_replaced_static_member(group, new_member_id, previous, a.version);
            }
            GroupState::PreparingRebalance => self.try_complete_join(group),
            GroupState::Stable => {
                self.prepare_rebalance(group, "static member rejoined with a different protocol")
            }
            GroupState::CompletingRebalance | GroupState::Empty | GroupState::Dead => self
                .prepare_rebalance(
                    group,
                    "static member rejoined while the assignment was being computed",
                ),
        }
        JoinStep::Wait(rx)
    }

    /// Stores the group with a replaced static member, then answers its JoinGroup with the
    /// current generation: from v9 a leader gets the members and `skip_assignment` (it
    /// keeps the assignment the group has); below v9 the member is told the leader *before*
    /// the replacement — for a rejoining leader its old id — and no members, so it acts as a
    /// follower and SyncGroup hands it its old assignment. If the append fails the
    /// replacement is undone (the old id is the member again) and the JoinGroup fails with
    /// the append's error. If the group moved on meanwhile (a rebalance started), the
    /// rebalance answers the parked JoinGroup instead.
    fn spawn_store_replaced_static_member(
        &self,
        group: &ClassicGroup,
        member_id: String,
        previous: PreviousStaticMember,
        version: i16,
    ) {
        let ctx = self.clone();
        let group_id = group.group_id.clone();
        let incarnation = group.incarnation;
        let generation = group.generation_id;
        tokio::spawn(async move {
            let Some(result) = ctx.append_group_metadata(&group_id, incarnation).await else {
                return;
            };
            let mut st = ctx.shard.lock();
            let Some(g) = st.group(&group_id, incarnation) else {
                return;
            };
            let still_waiting = g.state == GroupState::Stable
                && g.generation_id == generation
                && g.members
                    .get(&member_id)
                    .is_some_and(Member::is_awaiting_join);
            if !still_waiting {
                if let Err(code) = result {
                    tracing::warn!(group = %group_id, member = %member_id, error = %code, "storing the replaced static member failed after the group moved on");
                }
                return;
            }
            match result {
                Ok(_) => {
                    let is_leader = g.leader_id.as_deref() == Some(member_id.as_str());
                    let response = if version >= 9 {
                        let mut r = join_response(g, &member_id, is_leader);
                        r.skip_assignment = is_leader;
                        r
                    } else {
                        let mut r = join_response(g, &member_id, false);
                        r.leader = previous.previous_leader.clone().unwrap_or_default();
                        r
                    };
                    if let Some(w) = g
                        .members
                        .get_mut(&member_id)
                        .and_then(|m| m.join_waiter.take())
                    {
                        let _ = w.sender.send(response);
                    }
                }
                Err(code) => {
                    tracing::warn!(group = %group_id, member = %member_id, old_member = %previous.member_id, error = %code, "storing the replaced static member failed; reverting to the old member id");
                    let Some(instance) = g
                        .members
                        .get(&member_id)
                        .and_then(|m| m.group_instance_id.clone())
                    else {
                        return;
                    };
                    let mut r = join_response(g, "", false);
                    r.leader = previous.previous_leader.clone().unwrap_or_default();
                    r.error = Some(code);
                    let Some(m) =
                        g.replace_static_member(&instance, &member_id, &previous.member_id)
                    else {
                        return;
                    };
                    m.protocols = previous.protocols;
                    m.rebalance_timeout_ms = previous.rebalance_timeout_ms;
                    m.session_timeout_ms = previous.session_timeout_ms;
                    m.session_deadline = Instant::now()
                        + Duration::from_millis(previous.session_timeout_ms.max(0) as u64);
                    if let Some(w) = m.join_waiter.take() {
                        let _ = w.sender.send(r);
                    }
                    ctx.spawn_session_timer(&group_id, incarnation, &previous.member_id);
                }
            }
        });
    }

    /// Removes a member, answering its parked requests. The caller decides on rebalancing.
    fn remove_member(&self, group: &mut ClassicGroup, member_id: &str, reason: &str) {
        if let Some(mut m) = group.remove_member(member_id) {
            tracing::info!(group = %group.group_id, member = %member_id, reason, "member removed");
            m.fail_waiters(member_id, ResponseError::UnknownMemberId);
        }
        group.pending_sync.remove(member_id);
    }

    fn rebalance_after_removal(&self, group: &mut ClassicGroup, reason: &str) {
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(group, reason)
            }
            GroupState::PreparingRebalance => self.try_complete_join(group),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    fn prepare_rebalance(&self, group: &mut ClassicGroup, reason: &str) {
        if group.state == GroupState::CompletingRebalance {
            for m in group.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(Err(ResponseError::RebalanceInProgress));
                }
            }
        }
        group.pending_sync.clear();
        let rebalance_timeout_ms = group.max_rebalance_timeout_ms();
        let initial = self.config().initial_rebalance_delay_ms;
        group.rebalance_seq += 1;
        if group.state == GroupState::Empty && initial > 0 {
            let delay = initial.min(rebalance_timeout_ms);
            group.initial_delay = Some(InitialDelay {
                new_member_added: false,
                remaining_ms: rebalance_timeout_ms - delay,
            });
            group.join_deadline = Instant::now() + Duration::from_millis(delay.max(0) as u64);
        } else {
            group.initial_delay = None;
            group.join_deadline =
                Instant::now() + Duration::from_millis(rebalance_timeout_ms.max(0) as u64);
        }
        tracing::info!(group = %group.group_id, generation = group.generation_id, reason, "preparing rebalance");
        group.transition(GroupState::PreparingRebalance, now_ms());
        self.spawn_join_timer(group);
        self.try_complete_join(group);
    }

    fn try_complete_join(&self, group: &mut ClassicGroup) {
        if group.state == GroupState::PreparingRebalance
            && group.initial_delay.is_none()
            && group.all_members_joined()
        {
            self.complete_join(group);
        }
    }

    /// Ends the join phase: members that did not rejoin (dynamic ones) are removed, the
    /// next generation starts and every waiting JoinGroup is answered.
    fn complete_join(&self, group: &mut ClassicGroup) {
        let not_rejoined: Vec<String> = group
            .members
            .values()
            .filter(|m| !m.is_awaiting_join() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in not_rejoined {
            self.remove_member(group, &id, "did not rejoin in time");
        }
        group.initial_delay = None;
        group.generation_id += 1;
        if group.members.is_empty() {
            group.protocol_name = None;
            group.leader_id = None;
            group.transition(GroupState::Empty, now_ms());
            tracing::info!(group = %group.group_id, generation = group.generation_id, "group empty");
            self.spawn_store_group(group);
            return;
        }
        let leader_joined = group
            .leader_id
            .as_ref()
            .and_then(|l| group.members.get(l))
            .is_some_and(Member::is_awaiting_join);
        if !leader_joined {
            if let Some(new_leader) = group
                .members
                .values()
                .find(|m| m.is_awaiting_join())
                .map(|m| m.member_id.clone())
            {
                group.leader_id = Some(new_leader);
            }
        }
        group.protocol_name = group.select_protocol();
        group.transition(GroupState::CompletingRebalance, now_ms());
        tracing::info!(
            group = %group.group_id,
            generation = group.generation_id,
            protocol = ?group.protocol_name,
            members = group.members.len(),
            "join phase complete"
        );
        let leader = group.leader_id.clone().unwrap_or_default();
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in &ids {
            let response = join_response(group, id, *id == leader);
            if let Some(m) = group.members.get_mut(id) {
                m.is_new = false;
                m.session_deadline =
                    Instant::now() + Duration::from_millis(m.session_timeout_ms.max(0) as u64);
                if let Some(w) = m.join_waiter.take() {
                    let _ = w.sender.send(response);
                }
            }
        }
        group.pending_sync = ids.into_iter().collect();
        self.spawn_sync_timer(group);
    }

    // -------------------------------------------------------------- timers

    fn spawn_session_timer(&self, group_id: &str, incarnation: u64, member_id: &str) {
        let member_id = member_id.to_owned();
        let watched = member_id.clone();
        // Bounded by the member's life: each pass either expires it or sleeps until a
        // deadline a heartbeat pushed out.
        self.spawn_deadline_timer(
            group_id.to_owned(),
            incarnation,
            move |g| g.members.get(&watched).map(|m| m.session_deadline),
            move |ctx, g, now| {
                let Some(m) = g.members.get_mut(&member_id) else {
                    return true;
                };
                if m.is_awaiting_join() {
                    // A member waiting in JoinGroup is alive; the rebalance timeout bounds it.
                    m.session_deadline =
                        now + Duration::from_millis(m.session_timeout_ms.max(0) as u64);
                    return false;
                }
                ctx.remove_member(g, &member_id, "session timeout expired");
                ctx.rebalance_after_removal(g, "member session expired");
                true
            },
        );
    }

    fn spawn_pending_member_timer(
        &self,
        group: &ClassicGroup,
        member_id: &str,
        session_timeout_ms: i32,
    ) {
        let ctx = self.clone();
        let group_id = group.group_id.clone();
        let incarnation = group.incarnation;
        let member_id = member_id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(session_timeout_ms.max(0) as u64)).await;
            let mut st = ctx.shard.lock();
            let Some(g) = st.group(&group_id, incarnation) else {
                return;
            };
            if g.pending_members.remove(&member_id) {
                tracing::info!(group = %group_id, member = %member_id, "pending member did not join in time");
                ctx.try_complete_join(g);
                if g.state == GroupState::Empty
                    && g.members.is_empty()
                    && g.offsets.is_empty()
                    && g.generation_id == 0
                {
                    st.groups.remove(&group_id);
                }
            }
        });
    }

    fn spawn_join_timer(&self, group: &ClassicGroup) {
        let seq = group.rebalance_seq;
        // Bounded: deadlines only move within the rebalance timeout.
        self.spawn_deadline_timer(
            group.group_id.clone(),
            group.incarnation,
            move |g| {
                (g.rebalance_seq == seq && g.state == GroupState::PreparingRebalance)
                    .then_some(g.join_deadline)
            },
            |ctx, g, now| {
                if let Some(d) = g.initial_delay {
                    if d.new_member_added && d.remaining_ms > 0 {
                        let delay = ctx.config().initial_rebalance_delay_ms.min(d.remaining_ms);
                        g.initial_delay = Some(InitialDelay {
                            new_member_added: false,
                            remaining_ms: d.remaining_ms - delay,
                        });
                        g.join_deadline = now + Duration::from_millis(delay.max(0) as u64);
                        return false;
                    }
                }
                ctx.complete_join(g);
                true
            },
        );
    }

    /// A timer on group `group_id` (this incarnation of it): sleeps until the `deadline`
    /// the group has (`None`: the group is gone or no longer waits, and the timer ends);
    /// once it has passed, under the shard's lock, `expired` acts on the group and says
    /// whether the timer is done (`false`: it moved the deadline, wait again).
    fn spawn_deadline_timer(
        &self,
        group_id: String,
        incarnation: u64,
        deadline: impl Fn(&mut ClassicGroup) -> Option<Instant> + Send + 'static,
        mut expired: impl FnMut(&Ctx, &mut ClassicGroup, Instant) -> bool + Send + 'static,
    ) {
        let ctx = self.clone();
        tokio::spawn(async move {
            loop {
                let due = {
                    let mut st = ctx.shard.lock();
                    let Some(due) = st.group(&group_id, incarnation).and_then(&deadline) else {
                        return;
                    };
                    due
                };
                tokio::time::sleep_until(due).await;
                let mut st = ctx.shard.lock();
                let Some(g) = st.group(&group_id, incarnation) else {
                    return;
                };
                let Some(due) = deadline(g) else {
                    return;
                };
                let now = Instant::now();
                if due > now {
                    continue;
                }
                if expired(&ctx, g, now) {
                    return;
                }
            }
        });
    }

    fn spawn_sync_timer(&self, group: &ClassicGroup) {
        let ctx = self.clone();
        let group_id = group.group_id.clone();
        let incarnation = group.incarnation;
        let generation = group.generation_id;
        let timeout = Duration::from_millis(group.max_rebalance_timeout_ms().max(0) as u64);
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let mut st = ctx.shard.lock();
            let Some(g) = st.group(&group_id, incarnation) else {
                return;
            };
            if g.generation_id != generation
                || !matches!(
                    g.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                )
                || g.pending_sync.is_empty()
            {
                return;
            }
            let missing: Vec<String> = g.pending_sync.drain().collect();
            for id in &missing {
                ctx.remove_member(g, id, "did not send SyncGroup in time");
            }
            ctx.rebalance_after_removal(g, "members did not sync in time");
        });
    }

    /// Appends the group's metadata as it is once the shard's earlier writes are done;
    /// `None` if the group is gone by then.
    async fn append_group_metadata(
        &self,
        group_id: &str,
        incarnation: u64,
    ) -> Option<Result<i64, ResponseError>> {
        let _write = self.shard.write_lock.lock().await;
        let record = {
            let mut st = self.shard.lock();
            let g = st.group(group_id, incarnation)?;
            CoordinatorRecord::GroupMetadata {
                group_id: group_id.to_owned(),
                value: Some(g.to_record_value()),
            }
        };
        Some(self.coordinator.append(&self.shard, vec![record]).await)
    }

    /// Appends the group's current metadata (after the current writes).
    fn spawn_store_group(&self, group: &ClassicGroup) {
        let ctx = self.clone();
        let group_id = group.group_id.clone();
        let incarnation = group.incarnation;
        tokio::spawn(async move {
            if let Some(Err(code)) = ctx.append_group_metadata(&group_id, incarnation).await {
                tracing::warn!(group = %group_id, error = %code, "storing group metadata failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_errors_map_to_kafka_group_errors() {
        assert_eq!(
            append_error_to_group_error(ResponseError::NotLeaderOrFollower),
            ResponseError::NotCoordinator
        );
        assert_eq!(
            append_error_to_group_error(ResponseError::MessageTooLarge),
            ResponseError::InvalidCommitOffsetSize
        );
        assert_eq!(
            append_error_to_group_error(ResponseError::NotEnoughReplicas),
            ResponseError::CoordinatorNotAvailable
        );
    }
}
