//! `ClassicGroup`: one group of the classic (JoinGroup/SyncGroup) protocol — its state
//! machine data, members and committed offsets — and the pure decisions over it (protocol
//! selection, compatibility, subscribed topics, its durable record). Transitions with side
//! effects (waking waiting requests, timers, appends) are the coordinator's.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::api::{JoinOutcome, SyncOutcome};
use super::consumer::ConsumerGroup;
use super::records::{GroupMetadataValue, MemberMetadata, OffsetCommitValue};
use crate::error::ResponseError;
use crate::types::TopicPartition;

/// Kafka's classic group states (`ClassicGroupState`); a deleted group is simply removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka shows in ListGroups/DescribeGroups.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One member of a classic group.
#[derive(Debug)]
pub(super) struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// Protocols in the member's preference order: (name, metadata).
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// A JoinGroup waiting for the rebalance to complete.
    pub join_waiter: Option<JoinWaiter>,
    /// A SyncGroup waiting for the leader's assignment.
    pub sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
    /// Session expiry; pushed out by every heartbeat (and while a join/sync is waiting).
    pub session_deadline: Instant,
    /// Added in the current rebalance (Kafka's `isNew`): removed if it does not rejoin.
    pub is_new: bool,
}

/// A waiting JoinGroup.
#[derive(Debug)]
pub(super) struct JoinWaiter {
    pub sender: oneshot::Sender<JoinOutcome>,
}

impl Member {
    /// Answers the member's parked JoinGroup and SyncGroup, if any, with `code` (the
    /// JoinGroup answer names `member_id`).
    pub(super) fn fail_waiters(&mut self, member_id: &str, code: ResponseError) {
        if let Some(w) = self.join_waiter.take() {
            let _ = w.sender.send(JoinOutcome::error(member_id, code));
        }
        if let Some(tx) = self.sync_waiter.take() {
            let _ = tx.send(Err(code));
        }
    }

    pub(super) fn is_awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }

    pub(super) fn metadata_for(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m)
    }

    pub(super) fn protocol_names(&self) -> BTreeSet<&str> {
        self.protocols.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The member's most preferred protocol among `candidates`.
    fn vote(&self, candidates: &BTreeSet<&str>) -> Option<String> {
        self.protocols
            .iter()
            .find(|(name, _)| candidates.contains(name.as_str()))
            .map(|(n, _)| n.clone())
    }
}

/// A committed offset with the commit's time.
pub(super) type CommittedOffset = OffsetCommitValue;

#[derive(Debug)]
pub(super) struct ClassicGroup {
    pub group_id: String,
    /// Distinguishes a re-created group of the same id (timers check it).
    pub incarnation: u64,
    pub state: GroupState,
    pub state_timestamp_ms: i64,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// `group.instance.id` → member id of static members.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED that have not joined yet.
    pub pending_members: HashSet<String>,
    /// Members of the current generation that have not sent SyncGroup yet.
    pub pending_sync: HashSet<String>,
    pub offsets: HashMap<TopicPartition, CommittedOffset>,
    /// Bumped at every PreparingRebalance; the join timer of an older rebalance stops.
    pub rebalance_seq: u64,
    /// When the current PreparingRebalance completes at the latest.
    pub join_deadline: Instant,
    /// Initial delayed join (`group.initial.rebalance.delay.ms`) in progress: the join does
    /// not complete early; `remaining_ms` is what is left of the rebalance timeout.
    pub initial_delay: Option<InitialDelay>,
    /// Set for a KIP-848 consumer-protocol group: its state lives here and the classic
    /// fields stay empty (a group id is of one type; offsets are shared).
    pub consumer: Option<ConsumerGroup>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct InitialDelay {
    pub new_member_added: bool,
    pub remaining_ms: i64,
}

impl ClassicGroup {
    pub(super) fn new(group_id: String, incarnation: u64, now_ms: i64) -> Self {
        Self {
            group_id,
            incarnation,
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashSet::new(),
            pending_sync: HashSet::new(),
            offsets: HashMap::new(),
            rebalance_seq: 0,
            join_deadline: Instant::now(),
            initial_delay: None,
            consumer: None,
        }
    }

    /// Whether this is a KIP-848 consumer-protocol group.
    pub(super) fn is_consumer_group(&self) -> bool {
        self.consumer.is_some()
    }

    pub(super) fn transition(&mut self, state: GroupState, now_ms: i64) {
        tracing::debug!(group = %self.group_id, from = %self.state, to = %state, "group state");
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
            && self.pending_members.is_empty()
            && self.consumer.as_ref().is_none_or(|c| c.members.is_empty())
    }

    pub(super) fn size(&self) -> usize {
        self.members.len() + self.pending_members.len()
    }

    pub(super) fn add_member(&mut self, member: Member) {
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Moves the static member `old_member_id` of `instance` to `new_member_id`, keeping
    /// everything else (assignment, client id and host, leadership, a pending SyncGroup);
    /// Kafka's `ClassicGroup.replaceStaticMember`. Answering the old id's parked requests is
    /// the caller's. Returns the moved member, `None` if `old_member_id` is not a member.
    pub(super) fn replace_static_member(
        &mut self,
        instance: &str,
        old_member_id: &str,
        new_member_id: &str,
    ) -> Option<&mut Member> {
        let mut member = self.members.remove(old_member_id)?;
        member.member_id = new_member_id.to_owned();
        if self.leader_id.as_deref() == Some(old_member_id) {
            self.leader_id = Some(new_member_id.to_owned());
        }
        if self.pending_sync.remove(old_member_id) {
            self.pending_sync.insert(new_member_id.to_owned());
        }
        self.static_members
            .insert(instance.to_owned(), new_member_id.to_owned());
        self.members.insert(new_member_id.to_owned(), member);
        self.members.get_mut(new_member_id)
    }

    /// Removes a member (and its static mapping); elects another leader if it led.
    pub(super) fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        Some(member)
    }

    pub(super) fn static_member_id(&self, instance: &str) -> Option<&str> {
        self.static_members.get(instance).map(String::as_str)
    }

    /// Kafka's member validation for Sync/Heartbeat/Commit: an instance id must map to the
    /// member (FENCED_INSTANCE_ID otherwise), and the member must exist.
    pub(super) fn validate_member(
        &self,
        member_id: &str,
        instance: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = instance {
            match self.static_member_id(instance) {
                None => return Err(ResponseError::UnknownMemberId),
                Some(existing) if existing != member_id => {
                    return Err(ResponseError::FencedInstanceId)
                }
                Some(_) => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    /// Kafka's `ClassicGroup.validateOffsetCommit` (OffsetCommit and TxnOffsetCommit). A
    /// commit with a negative generation into an Empty group is accepted whatever member id
    /// it carries (admin clients, consumers that assign partitions themselves); with a
    /// generation, member id or instance id the member must exist at the group's generation;
    /// with none of them only an Empty group takes a plain commit. A plain commit while the
    /// group completes a rebalance is REBALANCE_IN_PROGRESS.
    pub(super) fn validate_offset_commit(
        &self,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
        transactional: bool,
    ) -> Result<(), ResponseError> {
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || instance.is_some() {
            self.validate_member(member_id, instance)?;
            if generation_id != self.generation_id {
                return Err(ResponseError::IllegalGeneration);
            }
        } else if !transactional && self.state != GroupState::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        if !transactional && self.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Protocols every member supports.
    pub(super) fn supported_protocols(&self) -> BTreeSet<&str> {
        let mut iter = self.members.values();
        let Some(first) = iter.next() else {
            return BTreeSet::new();
        };
        let mut common = first.protocol_names();
        for m in iter {
            let names = m.protocol_names();
            common.retain(|p| names.contains(p));
        }
        common
    }

    /// Whether a member with these protocols may join (Kafka's `supportsProtocols`).
    pub(super) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let supported = self.supported_protocols();
        protocols
            .iter()
            .any(|(n, _)| supported.contains(n.as_str()))
    }

    /// The protocol chosen by the members' votes among those all of them support.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let candidates = self.supported_protocols();
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(v) = m.vote(&candidates) {
                *votes.entry(v).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by_key(|(_, count)| *count)
            .map(|(name, _)| name)
    }

    pub(super) fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(Member::is_awaiting_join)
    }

    pub(super) fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Topics the members subscribe to, when the group uses the "consumer" protocol type and
    /// every subscription decodes; `None` when unknown.
    pub(super) fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            let metadata = m.metadata_for(protocol)?;
            for t in decode_subscription_topics(metadata)? {
                topics.insert(t);
            }
        }
        Some(topics)
    }

    /// Kafka's offset expiration (`ClassicGroup.offsetExpirationCondition`): offsets of an
    /// Empty group expire `retention_ms` after it became Empty; those of a group without
    /// protocol (simple commits only) `retention_ms` after their commit; those of a Stable
    /// "consumer" group only for topics no member subscribes to, after their commit.
    /// Returns the expired partitions and whether the group is then to be deleted (Empty,
    /// no members, no offsets left).
    pub(super) fn expired_offsets(
        &self,
        now_ms: i64,
        retention_ms: i64,
    ) -> (Vec<TopicPartition>, bool) {
        // A consumer-protocol group keeps its offsets while it has members.
        if !self.is_empty() && self.is_consumer_group() {
            return (Vec::new(), false);
        }
        let subscribed = if self.state == GroupState::Stable {
            self.subscribed_topics()
        } else {
            None
        };
        let base_of = |v: &OffsetCommitValue| -> Option<i64> {
            if self.protocol_type.is_none() {
                Some(v.commit_timestamp_ms)
            } else if self.state == GroupState::Empty {
                Some(if self.state_timestamp_ms >= 0 {
                    self.state_timestamp_ms
                } else {
                    v.commit_timestamp_ms
                })
            } else if subscribed.is_some() {
                Some(v.commit_timestamp_ms)
            } else {
                None
            }
        };
        let mut gone: Vec<TopicPartition> = self
            .offsets
            .iter()
            .filter(|(tp, _)| !subscribed.as_ref().is_some_and(|s| s.contains(&tp.topic)))
            .filter(|(_, v)| base_of(v).is_some_and(|base| now_ms - base >= retention_ms))
            .map(|(tp, _)| tp.clone())
            .collect();
        gone.sort();
        let delete_group =
            self.state == GroupState::Empty && self.is_empty() && gone.len() == self.offsets.len();
        (gone, delete_group)
    }

    /// The durable form of this group (GroupMetadataValue).
    pub(super) fn to_record_value(&self) -> GroupMetadataValue {
        let protocol = self.protocol_name.clone();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: protocol.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberMetadata {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: protocol
                        .as_deref()
                        .and_then(|p| m.metadata_for(p).cloned())
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

/// Topic names in a ConsumerProtocolSubscription (int16 version + body).
pub(super) fn decode_subscription_topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16().clamp(0, 3);
    let sub = ConsumerProtocolSubscription::decode(&mut buf, version).ok()?;
    Some(sub.topics.iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1000,
            session_timeout_ms: 1000,
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::new()))
                .collect(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            session_deadline: Instant::now(),
            is_new: false,
        }
    }

    #[test]
    fn protocol_selection_follows_votes_among_common_protocols() {
        let mut g = ClassicGroup::new("g".into(), 1, 0);
        g.protocol_type = Some("consumer".into());
        g.add_member(member("a", &["range", "roundrobin"]));
        g.add_member(member("b", &["roundrobin", "range"]));
        g.add_member(member("c", &["roundrobin", "sticky"]));
        assert_eq!(g.supported_protocols(), BTreeSet::from(["roundrobin"]));
        assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
        assert!(g.supports_protocols("consumer", &[("roundrobin".into(), Bytes::new())]));
        assert!(!g.supports_protocols("consumer", &[("range".into(), Bytes::new())]));
        assert!(!g.supports_protocols("connect", &[("roundrobin".into(), Bytes::new())]));
        assert_eq!(g.leader_id.as_deref(), Some("a"));
        g.remove_member("a");
        assert_eq!(g.leader_id.as_deref(), Some("b"), "a new leader is elected");
    }

    #[test]
    fn offset_commit_checks_follow_kafka() {
        use ResponseError::*;
        let mut g = ClassicGroup::new("g".into(), 1, 0);
        // Empty: a negative generation is accepted with or without a member id.
        for (tx, member) in [(false, ""), (false, "self-made"), (true, ""), (true, "x")] {
            assert_eq!(g.validate_offset_commit(member, None, -1, tx), Ok(()));
        }
        assert_eq!(
            g.validate_offset_commit("x", None, 0, false),
            Err(UnknownMemberId)
        );
        g.add_member(member("a", &["range"]));
        g.generation_id = 4;
        g.state = GroupState::Stable;
        assert_eq!(g.validate_offset_commit("a", None, 4, false), Ok(()));
        assert_eq!(
            g.validate_offset_commit("a", None, 3, false),
            Err(IllegalGeneration)
        );
        assert_eq!(
            g.validate_offset_commit("a", None, -1, false),
            Err(IllegalGeneration)
        );
        assert_eq!(
            g.validate_offset_commit("self-made", None, -1, false),
            Err(UnknownMemberId)
        );
        // No member, generation or instance: plain commits need an Empty group,
        // transactional ones (old TxnOffsetCommit versions carry none of them) do not.
        assert_eq!(
            g.validate_offset_commit("", None, -1, false),
            Err(UnknownMemberId)
        );
        assert_eq!(g.validate_offset_commit("", None, -1, true), Ok(()));
        assert_eq!(
            g.validate_offset_commit("a", Some("other"), 4, false),
            Err(UnknownMemberId)
        );
        g.state = GroupState::CompletingRebalance;
        assert_eq!(
            g.validate_offset_commit("a", None, 4, false),
            Err(RebalanceInProgress)
        );
        assert_eq!(g.validate_offset_commit("a", None, 4, true), Ok(()));
    }

    fn offset(commit_timestamp_ms: i64) -> OffsetCommitValue {
        OffsetCommitValue {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms,
            expire_timestamp_ms: None,
        }
    }

    #[test]
    fn offsets_expire_like_kafka() {
        let tp = |t: &str, p| TopicPartition::new(t, p);
        // Simple-commit group (no protocol): per commit timestamp.
        let mut simple = ClassicGroup::new("s".into(), 1, 0);
        simple.offsets.insert(tp("t", 0), offset(100));
        simple.offsets.insert(tp("t", 1), offset(900));
        assert_eq!(
            simple.expired_offsets(1_000, 500),
            (vec![tp("t", 0)], false)
        );
        assert_eq!(
            simple.expired_offsets(1_400, 500),
            (vec![tp("t", 0), tp("t", 1)], true),
            "all expired: the Empty group goes too"
        );
        // Empty consumer group: counted from when it became Empty, not from the commits.
        let mut empty = ClassicGroup::new("e".into(), 2, 0);
        empty.protocol_type = Some("consumer".into());
        empty.state_timestamp_ms = 5_000;
        empty.offsets.insert(tp("t", 0), offset(100));
        assert_eq!(empty.expired_offsets(5_400, 500), (vec![], false));
        assert_eq!(empty.expired_offsets(5_500, 500), (vec![tp("t", 0)], true));
        // A group with members but no known subscription keeps everything.
        let mut active = ClassicGroup::new("a".into(), 3, 0);
        active.protocol_type = Some("consumer".into());
        active.add_member(member("m", &["range"]));
        active.state = GroupState::Stable;
        active.offsets.insert(tp("t", 0), offset(0));
        assert_eq!(active.expired_offsets(1_000_000, 1), (vec![], false));
    }

    #[test]
    fn replacing_a_static_member_moves_its_place_and_can_be_undone() {
        let mut g = ClassicGroup::new("g".into(), 1, 0);
        let mut a = member("a-1", &["range"]);
        a.group_instance_id = Some("a".into());
        a.assignment = Bytes::from_static(b"a's partitions");
        g.add_member(a);
        g.add_member(member("b", &["range"]));
        g.pending_sync.insert("a-1".into());
        let moved = g
            .replace_static_member("a", "a-1", "a-2")
            .expect("a-1 is a member");
        assert_eq!(moved.member_id, "a-2");
        assert_eq!(moved.assignment, Bytes::from_static(b"a's partitions"));
        assert_eq!(
            g.leader_id.as_deref(),
            Some("a-2"),
            "leadership moves along"
        );
        assert_eq!(g.static_member_id("a"), Some("a-2"));
        assert!(g.pending_sync.contains("a-2") && !g.pending_sync.contains("a-1"));
        assert!(!g.members.contains_key("a-1"), "the old id is no member");
        assert!(g.replace_static_member("a", "a-1", "a-3").is_none());
        // Undoing it (a failed append) restores the old id everywhere.
        g.replace_static_member("a", "a-2", "a-1")
            .expect("a-2 is a member");
        assert_eq!(g.leader_id.as_deref(), Some("a-1"));
        assert_eq!(g.static_member_id("a"), Some("a-1"));
        assert!(g.pending_sync.contains("a-1") && !g.pending_sync.contains("a-2"));
        assert_eq!(g.members.len(), 2);
    }
}
