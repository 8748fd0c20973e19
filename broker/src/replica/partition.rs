//! `Partition`: one partition this broker hosts — its log and the replica-set state the
//! latest applied metadata image gave it (leader, leader epoch, partition epoch, replicas,
//! ISR), and, while this broker leads it, what every follower last fetched (Kafka's
//! `Partition` with its remote `Replica`s).
//!
//! High watermark (leader): the smallest log end offset over the ISR — this broker's own
//! and each in-sync follower's last fetch offset (plus a replica an ISR expansion in flight
//! adds, as Kafka's "maximal ISR") —, so with the leader alone in the ISR it is the log end
//! offset as soon as a batch is written. A follower takes the leader's, capped by its own
//! log end. It only grows (a truncation on a follower aside) and is kept in the log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{watch, Notify};
use uuid::Uuid;

use crate::error::{ApiError, ResponseError};
use crate::log::Log;
use crate::metadata::PartitionRegistration;
use crate::types::TopicPartition;

/// What the leader knows of one follower from its fetches (Kafka's `ReplicaState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FollowerState {
    /// The follower's log end offset: the offset of its last fetch (-1 before the first
    /// fetch in this leader epoch).
    pub log_end_offset: i64,
    /// The follower's log start offset, as its last fetch said (-1 before).
    pub log_start_offset: i64,
    /// Last time the follower was caught up to the leader's log end (ms).
    pub last_caught_up_ms: i64,
    /// The leader's log end offset at the follower's previous fetch.
    last_fetch_leader_log_end_offset: i64,
    /// Time of the previous fetch (ms).
    last_fetch_ms: i64,
    /// The broker epoch the follower's last fetch named (`replica_state.replica_epoch`;
    /// -1 from a follower that does not send one), `None` before its first fetch in this
    /// leader epoch. It joins the ISR only with the epoch of its live registration (KIP-903).
    pub broker_epoch: Option<i64>,
}

impl FollowerState {
    fn new(last_caught_up_ms: i64) -> Self {
        Self {
            log_end_offset: -1,
            log_start_offset: -1,
            last_caught_up_ms,
            last_fetch_leader_log_end_offset: -1,
            last_fetch_ms: 0,
            broker_epoch: None,
        }
    }
}

/// The replica-set state of a partition (from the metadata image, plus the leader's view of
/// its followers and an ISR change in flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplicaSet {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// While this broker leads: followers by replica id (every replica but the leader).
    pub followers: HashMap<i32, FollowerState>,
    /// The ISR an AlterPartition sent by this leader proposes, until the controller's answer
    /// or a newer partition epoch arrives.
    pub pending_isr: Option<Vec<i32>>,
    /// While this broker leads: its log end when it took over in this leader epoch (Kafka's
    /// `leaderEpochStartOffsetOpt`); a follower joins the ISR only once past it.
    pub leader_epoch_start_offset: i64,
}

impl ReplicaSet {
    /// The ISR the high watermark must respect: the committed one, plus whoever a pending
    /// expansion adds (a pending shrink still counts the replica it removes).
    fn maximal_isr(&self) -> Vec<i32> {
        let mut isr = self.isr.clone();
        if let Some(pending) = &self.pending_isr {
            for r in pending {
                if !isr.contains(r) {
                    isr.push(*r);
                }
            }
        }
        isr
    }
}

/// Why a follower-side change of the log was not made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FollowerError {
    /// The partition is no longer followed at the fetcher's leader epoch (led here now, or
    /// a newer epoch arrived): the response is stale and nothing was written.
    #[error("{tp} is not followed at leader epoch {epoch} any more")]
    NotFollowing { tp: TopicPartition, epoch: i32 },
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
}

/// How applying a registration changed this broker's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleChange {
    /// Leader at a new leader epoch (or newly created as leader).
    BecameLeader,
    /// Follower at a new leader epoch (or newly created as follower).
    BecameFollower,
    /// Same leader epoch: ISR, replicas or partition epoch changed.
    Unchanged,
}

/// One hosted partition.
pub(crate) struct Partition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub log: Arc<Log>,
    node_id: i32,
    leader_id: AtomicI32,
    leader_epoch: AtomicI32,
    min_insync_replicas: AtomicI32,
    replica_set: Mutex<ReplicaSet>,
    /// Bumped whenever the high watermark, the ISR or the leadership changes: delayed
    /// produces wait on it.
    changes: watch::Sender<u64>,
    /// The broker-wide wake-up of long-polling fetches (a high watermark that moves makes
    /// data visible to consumers).
    data_arrived: Arc<Notify>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("tp", &self.tp)
            .field("leader_id", &self.leader_id())
            .field("leader_epoch", &self.leader_epoch())
            .field("high_watermark", &self.high_watermark())
            .finish()
    }
}

impl Partition {
    /// A partition with `log`, placed here by `registration`; its high watermark is what
    /// the log restored from `replication-offset-checkpoint` until leadership moves it.
    pub(crate) fn new(
        tp: TopicPartition,
        topic_id: Uuid,
        log: Arc<Log>,
        node_id: i32,
        min_insync_replicas: i32,
        data_arrived: Arc<Notify>,
    ) -> Self {
        Self {
            tp,
            topic_id,
            log,
            node_id,
            leader_id: AtomicI32::new(crate::metadata::records::NO_LEADER),
            leader_epoch: AtomicI32::new(-1),
            min_insync_replicas: AtomicI32::new(min_insync_replicas),
            replica_set: Mutex::new(ReplicaSet {
                leader: crate::metadata::records::NO_LEADER,
                leader_epoch: -1,
                partition_epoch: -1,
                replicas: Vec::new(),
                isr: Vec::new(),
                followers: HashMap::new(),
                pending_isr: None,
                leader_epoch_start_offset: -1,
            }),
            changes: watch::Sender::new(0),
            data_arrived,
        }
    }

    fn state(&self) -> MutexGuard<'_, ReplicaSet> {
        self.replica_set
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub(crate) fn leader_id(&self) -> i32 {
        self.leader_id.load(Ordering::Acquire)
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.leader_id() == self.node_id
    }

    pub(crate) fn high_watermark(&self) -> i64 {
        self.log.high_watermark()
    }

    /// Last stable offset: the high watermark, or the first offset of the earliest ongoing
    /// transaction when lower (never below the log start offset, as in Kafka).
    pub(crate) fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        match self.log.first_unstable_offset() {
            Some(first) => first.max(self.log.log_start_offset()).min(hw),
            None => hw,
        }
    }

    /// Whether broker `replica_id` is in the partition's replica set.
    pub(crate) fn is_replica(&self, replica_id: i32) -> bool {
        self.state().replicas.contains(&replica_id)
    }

    pub(crate) fn isr_len(&self) -> i32 {
        self.state().isr.len() as i32
    }

    /// A copy of the replica-set state.
    pub(crate) fn replica_set(&self) -> ReplicaSet {
        self.state().clone()
    }

    pub(crate) fn min_insync_replicas(&self) -> i32 {
        self.min_insync_replicas.load(Ordering::Acquire)
    }

    pub(crate) fn set_min_insync_replicas(&self, min_isr: i32) {
        if self.min_insync_replicas.swap(min_isr, Ordering::AcqRel) != min_isr {
            // A lower min ISR may let a frozen high watermark move.
            self.maybe_increment_high_watermark();
            self.notify_changed();
        }
    }

    /// A receiver that sees every change of high watermark, ISR or leadership.
    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn notify_changed(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Installs the registration of a newer image (leader epochs only grow). At a new
    /// leader epoch a leader starts its followers afresh (unknown log end offsets; those in
    /// the ISR counted as caught up now, so they get `replica.lag.time.max.ms` to fetch) and
    /// notes where its epoch starts; a follower forgets them. (The leader-epoch cache gets
    /// the new epoch with its first batch, at that same offset: OffsetForLeaderEpoch of the
    /// previous epoch answers the log end until then, so nothing is written here — creating
    /// thousands of partitions costs no checkpoint fsync each.)
    pub(crate) fn apply_registration(
        &self,
        registration: &PartitionRegistration,
        now_ms: i64,
    ) -> RoleChange {
        let leads = registration.leader == self.node_id;
        let change = {
            let mut state = self.state();
            if registration.leader_epoch < state.leader_epoch
                || (registration.leader_epoch == state.leader_epoch
                    && registration.partition_epoch < state.partition_epoch)
            {
                tracing::warn!(partition = %self.tp, epoch = registration.leader_epoch, current = state.leader_epoch, "ignoring an older partition registration");
                return RoleChange::Unchanged;
            }
            let new_epoch = registration.leader_epoch > state.leader_epoch
                || state.partition_epoch < 0
                || registration.leader != state.leader;
            if registration.partition_epoch != state.partition_epoch {
                state.pending_isr = None;
            }
            state.leader = registration.leader;
            state.leader_epoch = registration.leader_epoch;
            state.partition_epoch = registration.partition_epoch;
            state.replicas = registration.replicas.clone();
            state.isr = registration.isr.clone();
            if leads {
                if new_epoch {
                    state.leader_epoch_start_offset = self.log.log_end_offset();
                    state.followers = registration
                        .replicas
                        .iter()
                        .filter(|&&r| r != self.node_id)
                        .map(|&r| {
                            let caught_up = if registration.isr.contains(&r) {
                                now_ms
                            } else {
                                0
                            };
                            (r, FollowerState::new(caught_up))
                        })
                        .collect();
                } else {
                    // A reassignment may add or remove replicas within an epoch.
                    state
                        .followers
                        .retain(|r, _| registration.replicas.contains(r));
                    for &r in &registration.replicas {
                        if r != self.node_id {
                            state
                                .followers
                                .entry(r)
                                .or_insert_with(|| FollowerState::new(0));
                        }
                    }
                }
            } else {
                state.followers.clear();
            }
            self.leader_id.store(registration.leader, Ordering::Release);
            self.leader_epoch
                .store(registration.leader_epoch, Ordering::Release);
            match (new_epoch, leads) {
                (true, true) => RoleChange::BecameLeader,
                (true, false) => RoleChange::BecameFollower,
                (false, _) => RoleChange::Unchanged,
            }
        };
        if leads {
            self.maybe_increment_high_watermark();
        }
        self.notify_changed();
        change
    }

    /// Leader: raises the high watermark to the smallest log end offset over the (maximal)
    /// ISR; `true` when it moved (completing delayed produces and waking consumers). Not
    /// while the committed ISR is below `min.insync.replicas` (capped at the replication
    /// factor), as Kafka 4.x: what left the ISR meanwhile then holds everything below the
    /// high watermark, which is what makes it an eligible leader replica (KIP-966).
    pub(crate) fn maybe_increment_high_watermark(&self) -> bool {
        let candidate = {
            let state = self.state();
            if state.leader != self.node_id {
                return false;
            }
            let min_isr = usize::try_from(self.min_insync_replicas().max(1))
                .unwrap_or(1)
                .min(state.replicas.len().max(1));
            if state.isr.len() < min_isr {
                return false;
            }
            let mut candidate = self.log.log_end_offset();
            for r in state.maximal_isr() {
                if r == self.node_id {
                    continue;
                }
                let leo = state.followers.get(&r).map_or(-1, |f| f.log_end_offset);
                candidate = candidate.min(leo);
            }
            candidate
        };
        let moved = self.log.maybe_increment_high_watermark(candidate);
        if moved {
            self.notify_changed();
            self.data_arrived.notify_waiters();
        }
        moved
    }

    /// Follower: the leader's high watermark from a fetch response, capped by this log's
    /// end (Kafka's `maybeUpdateHighWatermark`).
    pub(crate) fn update_follower_high_watermark(&self, leader_high_watermark: i64) {
        if self
            .log
            .maybe_increment_high_watermark(leader_high_watermark)
        {
            self.notify_changed();
            // Consumers reading from this follower (KIP-392) see the new records.
            self.data_arrived.notify_waiters();
        }
    }

    /// The state lock, if this broker follows the partition at `leader_epoch`: held while a
    /// fetcher changes the log, so a registration making this broker leader waits for it.
    fn following_at(&self, leader_epoch: i32) -> Result<MutexGuard<'_, ReplicaSet>, FollowerError> {
        let state = self.state();
        if state.leader == self.node_id || state.leader_epoch != leader_epoch {
            return Err(FollowerError::NotFollowing {
                tp: self.tp.clone(),
                epoch: leader_epoch,
            });
        }
        Ok(state)
    }

    /// Follower: appends batches fetched from the leader of `leader_epoch` with the leader's
    /// offsets, then takes the leader's high watermark (capped by the local log end) and
    /// log start offset (Kafka's `processPartitionData`).
    pub(crate) fn append_as_follower(
        &self,
        leader_epoch: i32,
        records: &[u8],
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
    ) -> Result<(), FollowerError> {
        {
            let _following = self.following_at(leader_epoch)?;
            self.log
                .append_as_follower(records, crate::types::now_ms())?;
            if leader_log_start_offset > self.log.log_start_offset() {
                let start = leader_log_start_offset.min(self.log.log_end_offset());
                self.log.delete_records_before(start)?;
            }
        }
        self.update_follower_high_watermark(leader_high_watermark);
        Ok(())
    }

    /// Follower: the leader says our log diverged after its epoch `leader_epoch` ended at
    /// `end_offset` (Kafka's `getOffsetTruncationState`): if we know that epoch, truncate to
    /// where the shorter of both ends; otherwise to where our largest epoch below it ends
    /// (the next fetch asks again from there); with nothing to go by, to the high watermark.
    pub(crate) fn truncate_on_divergence(
        &self,
        fetcher_epoch: i32,
        leader_epoch: i32,
        end_offset: i64,
    ) -> Result<(), FollowerError> {
        let _following = self.following_at(fetcher_epoch)?;
        let target = if leader_epoch < 0 || end_offset < 0 {
            self.log.high_watermark()
        } else {
            let (local_epoch, local_end) = self.log.leader_epoch_end_offset(leader_epoch);
            if local_epoch < 0 || local_end < 0 {
                self.log.high_watermark()
            } else if local_epoch == leader_epoch {
                local_end.min(end_offset)
            } else {
                local_end
            }
        };
        let new_end = self.log.truncate_to(target)?;
        tracing::info!(partition = %self.tp, leader_epoch, end_offset, truncated_to = new_end, "truncated a diverging tail");
        Ok(())
    }

    /// Follower: truncates to `offset` (the leader's log ends there, below ours).
    pub(crate) fn truncate_as_follower(
        &self,
        fetcher_epoch: i32,
        offset: i64,
    ) -> Result<(), FollowerError> {
        let _following = self.following_at(fetcher_epoch)?;
        self.log.truncate_to(offset)?;
        Ok(())
    }

    /// Follower: our log ends below the leader's log start: start empty there.
    pub(crate) fn restart_as_follower(
        &self,
        fetcher_epoch: i32,
        offset: i64,
    ) -> Result<(), FollowerError> {
        let _following = self.following_at(fetcher_epoch)?;
        self.log.truncate_fully_and_start_at(offset)?;
        Ok(())
    }

    /// Leader: a follower of broker epoch `broker_epoch` fetched from `fetch_offset` (its
    /// log starting at `follower_log_start_offset`) at `now_ms`, when this log ended at
    /// `leader_log_end_offset` (Kafka's `updateFollowerFetchState`). The follower must be a
    /// replica of the partition (else NOT_LEADER_OR_FOLLOWER, and nothing changes). Caught
    /// up = fetched from the leader's log end, or from where the log ended at its previous
    /// fetch (then caught up as of that fetch). May raise the high watermark.
    pub(crate) fn update_follower_fetch(
        &self,
        replica_id: i32,
        broker_epoch: i64,
        fetch_offset: i64,
        follower_log_start_offset: i64,
        leader_log_end_offset: i64,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        {
            let mut state = self.state();
            if state.leader != self.node_id {
                return Err(ApiError::new(
                    ResponseError::NotLeaderOrFollower,
                    format!("broker {} does not lead {}", self.node_id, self.tp),
                ));
            }
            let Some(follower) = state.followers.get_mut(&replica_id) else {
                return Err(ApiError::new(
                    ResponseError::NotLeaderOrFollower,
                    format!(
                        "broker {replica_id} is not a replica of {} (replicas {:?})",
                        self.tp, state.replicas
                    ),
                ));
            };
            if fetch_offset >= leader_log_end_offset {
                follower.last_caught_up_ms = follower.last_caught_up_ms.max(now_ms);
            } else if fetch_offset >= follower.last_fetch_leader_log_end_offset {
                follower.last_caught_up_ms = follower.last_caught_up_ms.max(follower.last_fetch_ms);
            }
            follower.log_end_offset = fetch_offset;
            follower.log_start_offset = follower_log_start_offset;
            follower.last_fetch_leader_log_end_offset = leader_log_end_offset;
            follower.last_fetch_ms = now_ms;
            follower.broker_epoch = Some(broker_epoch);
        }
        self.maybe_increment_high_watermark();
        Ok(())
    }

    /// Leader: the ISR after dropping followers that have not caught up within
    /// `lag_time_max_ms` (Kafka's `getOutOfSyncReplicas`), or `None` when all are in sync or
    /// an ISR change is already in flight.
    pub(crate) fn shrunk_isr(&self, now_ms: i64, lag_time_max_ms: i64) -> Option<Vec<i32>> {
        let state = self.state();
        if state.leader != self.node_id || state.pending_isr.is_some() {
            return None;
        }
        let isr: Vec<i32> = state
            .isr
            .iter()
            .copied()
            .filter(|r| {
                *r == self.node_id
                    || state
                        .followers
                        .get(r)
                        .is_some_and(|f| now_ms - f.last_caught_up_ms <= lag_time_max_ms)
            })
            .collect();
        (isr.len() < state.isr.len()).then_some(isr)
    }

    /// Leader: the ISR with every follower that caught up added (Kafka's `maybeExpandIsr`:
    /// fetched up to the high watermark, and past the start of this leader's epoch, within
    /// `lag_time_max_ms`) and is eligible (`eligible(replica, broker epoch of its fetches)`:
    /// Kafka's `isReplicaIsrEligible` — not fenced, the epoch of its live registration), or
    /// `None`.
    pub(crate) fn expanded_isr(
        &self,
        now_ms: i64,
        lag_time_max_ms: i64,
        eligible: impl Fn(i32, i64) -> bool,
    ) -> Option<Vec<i32>> {
        let state = self.state();
        if state.leader != self.node_id || state.pending_isr.is_some() {
            return None;
        }
        let high_watermark = self.log.high_watermark();
        let epoch_start = state.leader_epoch_start_offset;
        let mut isr = state.isr.clone();
        let mut followers: Vec<(&i32, &FollowerState)> = state.followers.iter().collect();
        followers.sort_by_key(|(r, _)| **r);
        for (&r, f) in followers {
            let caught_up = f.log_end_offset >= high_watermark
                && f.log_end_offset >= epoch_start
                && now_ms - f.last_caught_up_ms <= lag_time_max_ms;
            if caught_up
                && !isr.contains(&r)
                && state.replicas.contains(&r)
                && f.broker_epoch.is_some_and(|epoch| eligible(r, epoch))
            {
                isr.push(r);
            }
        }
        (isr.len() > state.isr.len()).then_some(isr)
    }

    /// The broker epochs followers in `isr` named in their fetches (-1 for one not heard
    /// from in this leader epoch: the controller does not check it, as in Kafka).
    pub(crate) fn follower_broker_epochs(
        &self,
        isr: &[i32],
    ) -> std::collections::BTreeMap<i32, i64> {
        let state = self.state();
        isr.iter()
            .filter(|r| **r != self.node_id)
            .map(|r| {
                let epoch = state.followers.get(r).and_then(|f| f.broker_epoch);
                (*r, epoch.unwrap_or(-1))
            })
            .collect()
    }

    /// Marks `isr` as proposed to the controller at the current partition epoch; returns
    /// `(leader_epoch, partition_epoch)` to send, or `None` if another change is in flight.
    pub(crate) fn begin_isr_change(&self, isr: &[i32]) -> Option<(i32, i32)> {
        let mut state = self.state();
        if state.leader != self.node_id || state.pending_isr.is_some() {
            return None;
        }
        state.pending_isr = Some(isr.to_vec());
        Some((state.leader_epoch, state.partition_epoch))
    }

    /// The controller answered the ISR change proposed at `partition_epoch` (accepted or
    /// not): the next image carries the outcome; the change is no longer in flight.
    pub(crate) fn end_isr_change(&self, partition_epoch: i32) {
        let mut state = self.state();
        if state.partition_epoch == partition_epoch {
            state.pending_isr = None;
        }
        drop(state);
        self.notify_changed();
    }

    /// Checks a client-supplied leader epoch against ours (-1 = no check).
    pub(crate) fn check_leader_epoch(&self, requested: i32) -> Result<(), ApiError> {
        let ours = self.leader_epoch();
        match requested {
            -1 => Ok(()),
            e if e > ours => Err(ResponseError::UnknownLeaderEpoch.into()),
            e if e < ours => Err(ResponseError::FencedLeaderEpoch.into()),
            _ => Ok(()),
        }
    }
}
