//! KIP-848 consumer groups (`group.protocol=consumer`): the group's state — group epoch,
//! target assignment and its epoch, members with their member epochs — and the pure
//! decisions over it: request validation, member join/leave/fencing, subscription
//! resolution (topic names and regular expressions), the server-side assignors `uniform` and
//! `range`, and reconciliation (Kafka's `CurrentAssignmentBuilder`: a member first revokes
//! what its target no longer holds, and only receives partitions no other member still owns).
//!
//! The coordinator glue (locking, timers, appends) lives in `consumer_coordinator`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use regex_automata::meta::Regex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::ResponseError;
use crate::types::is_internal_topic;

/// Partitions per topic name.
pub(crate) type Assignment = BTreeMap<String, BTreeSet<i32>>;

/// Member epoch of a dynamic member leaving the group.
pub(crate) const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// Member epoch of a static member leaving temporarily (it keeps its partitions until its
/// session expires or its instance rejoins).
pub(crate) const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// The assignors we implement (`group.consumer.assignors` may list a subset).
pub(crate) const KNOWN_ASSIGNORS: &[&str] = &["uniform", "range"];

/// Kafka's `ConsumerGroup.ConsumerGroupState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

impl fmt::Display for ConsumerGroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Kafka's `MemberState` of a consumer-group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MemberState {
    /// Owns its target assignment at the target epoch.
    Stable,
    /// Must revoke `pending_revocation` before it advances.
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still own.
    UnreleasedPartitions,
}

#[derive(Debug, Clone)]
pub(crate) struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: BTreeSet<String>,
    pub subscribed_topic_regex: Option<String>,
    /// `subscribed_topic_regex` compiled once (validated before it is stored).
    compiled_regex: Option<Regex>,
    pub server_assignor: Option<String>,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
    pub session_deadline: Instant,
    /// While revoking: the member is removed if it has not acknowledged the revocation by
    /// then (its rebalance timeout, as Kafka's rebalance timer). Consumer-protocol members
    /// only.
    pub revocation_deadline: Option<Instant>,
    /// Set for a member that speaks the classic protocol (JoinGroup/SyncGroup/Heartbeat)
    /// inside this consumer group (KIP-848 online migration).
    pub classic: Option<ClassicMemberMetadata>,
    /// A classic member told to rejoin (REBALANCE_IN_PROGRESS) is removed unless its
    /// JoinGroup arrives by then (its rebalance timeout, Kafka's join timer).
    pub classic_join_deadline: Option<Instant>,
    /// A classic member that joined is removed unless its SyncGroup arrives by then (its
    /// rebalance timeout, Kafka's sync timer).
    pub classic_sync_deadline: Option<Instant>,
}

/// What a consumer group keeps of a member that uses the classic protocol: its session
/// timeout and the protocols of its last JoinGroup (name, ConsumerProtocolSubscription
/// bytes), in its preference order — the first one names its assignment version and the
/// protocol its responses carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClassicMemberMetadata {
    pub session_timeout_ms: i32,
    pub protocols: Vec<(String, bytes::Bytes)>,
}

impl ConsumerMember {
    pub(super) fn new(member_id: String, now: Instant) -> Self {
        Self {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            rebalance_timeout_ms: -1,
            subscribed_topic_names: BTreeSet::new(),
            subscribed_topic_regex: None,
            compiled_regex: None,
            server_assignor: None,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline: now,
            revocation_deadline: None,
            classic: None,
            classic_join_deadline: None,
            classic_sync_deadline: None,
        }
    }

    /// Whether the member speaks the classic protocol (JoinGroup/SyncGroup/Heartbeat).
    pub(crate) fn uses_classic_protocol(&self) -> bool {
        self.classic.is_some()
    }

    /// When the member is removed unless it heartbeats (session) or acknowledges its
    /// revocation (rebalance timeout) first.
    pub(crate) fn expiry(&self) -> Instant {
        [
            self.revocation_deadline,
            self.classic_join_deadline,
            self.classic_sync_deadline,
        ]
        .into_iter()
        .flatten()
        .fold(self.session_deadline, Instant::min)
    }

    /// The epoch an offset commit or fetch of this member must carry (for a classic member
    /// its generation: ILLEGAL_GENERATION instead of STALE_MEMBER_EPOCH).
    fn validate_member_epoch(&self, member_epoch: i32) -> Result<(), ResponseError> {
        if member_epoch != self.member_epoch {
            return Err(if self.uses_classic_protocol() {
                ResponseError::IllegalGeneration
            } else {
                ResponseError::StaleMemberEpoch
            });
        }
        Ok(())
    }

    /// Topics of `topics` this member subscribes to (names that exist, regex matches that
    /// are not internal topics).
    fn subscribed_in(&self, topics: &BTreeMap<String, i32>) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .subscribed_topic_names
            .iter()
            .filter(|t| topics.contains_key(*t))
            .cloned()
            .collect();
        if let Some(re) = &self.compiled_regex {
            out.extend(
                topics
                    .keys()
                    .filter(|t| !is_internal_topic(t) && re.is_match(t.as_str()))
                    .cloned(),
            );
        }
        out
    }
}

/// Compiles a subscription regex with RE2 semantics (linear time, no backreferences) as a
/// whole-name match (Java's `Matcher.matches`).
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())
}

/// A consumer-protocol group. Committed offsets live in the enclosing group entry.
#[derive(Debug, Default)]
pub(crate) struct ConsumerGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// `group.instance.id` → member id.
    pub static_members: HashMap<String, String>,
    /// Target assignment per member id, computed at `assignment_epoch`.
    pub target: BTreeMap<String, Assignment>,
    /// Subscribed topics that exist → partition count; a change bumps the group epoch.
    pub subscription_metadata: BTreeMap<String, i32>,
    /// The assignor that computed `target`.
    pub assignor: String,
    /// The last epoch and snapshot appended to `__consumer_offsets` (not persisted).
    pub persisted_epoch: Option<i32>,
    pub persisted_snapshot: Option<Vec<u8>>,
    /// Something durable changed since the last snapshot was taken (not persisted).
    pub dirty: bool,
}

/// The durable form of a consumer group (value of the snapshot record, JSON): everything
/// but deadlines, which restart at load.
#[derive(Debug, Serialize, Deserialize)]
struct GroupSnapshot {
    group_epoch: i32,
    assignment_epoch: i32,
    assignor: String,
    subscription_metadata: BTreeMap<String, i32>,
    target: BTreeMap<String, Assignment>,
    members: Vec<MemberSnapshot>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MemberSnapshot {
    member_id: String,
    instance_id: Option<String>,
    rack_id: Option<String>,
    client_id: String,
    client_host: String,
    member_epoch: i32,
    previous_member_epoch: i32,
    state: MemberState,
    rebalance_timeout_ms: i32,
    subscribed_topic_names: BTreeSet<String>,
    subscribed_topic_regex: Option<String>,
    server_assignor: Option<String>,
    assigned: Assignment,
    pending_revocation: Assignment,
    /// Classic-protocol members only (absent in snapshots of consumer-only groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    classic: Option<ClassicMemberSnapshot>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ClassicMemberSnapshot {
    session_timeout_ms: i32,
    /// (protocol name, subscription bytes) in the member's preference order.
    protocols: Vec<(String, Vec<u8>)>,
}

/// The settings a heartbeat is decided with (`group.consumer.*`).
#[derive(Debug, Clone)]
pub(crate) struct ConsumerSettings {
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
    pub max_size: usize,
    /// Configured assignors; the first is the default.
    pub assignors: Vec<String>,
}

/// One ConsumerGroupHeartbeat, decoded (topic ids already resolved to names).
#[derive(Debug, Clone, Default)]
pub(crate) struct HeartbeatArgs {
    pub version: i16,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

/// The heartbeat's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeartbeatOutcome {
    pub member_id: String,
    pub member_epoch: i32,
    /// Sent when the member (re)joined, sent a full request, or its assignment changed.
    pub assignment: Option<Assignment>,
    /// The group epoch moved (the coordinator persists it).
    pub group_epoch_bumped: bool,
    /// A member that joined in this heartbeat (the coordinator starts its session timer).
    pub joined: bool,
}

/// A heartbeat error: Kafka's code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeartbeatError {
    pub code: ResponseError,
    pub message: String,
}

fn err(code: ResponseError, message: impl Into<String>) -> HeartbeatError {
    HeartbeatError {
        code,
        message: message.into(),
    }
}

/// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
pub(crate) fn validate_request(
    a: &HeartbeatArgs,
    settings: &ConsumerSettings,
) -> Result<(), HeartbeatError> {
    let invalid = |m: &str| Err(err(ResponseError::InvalidRequest, m));
    if a.version >= 1 && a.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    }
    if a.member_epoch != 0 && a.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    }
    if a.instance_id.as_deref().is_some_and(str::is_empty) {
        return invalid("InstanceId can't be empty.");
    }
    if a.rack_id.as_deref().is_some_and(str::is_empty) {
        return invalid("RackId can't be empty.");
    }
    match a.member_epoch {
        0 => {
            if a.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if a.owned
                .as_ref()
                .is_none_or(|o| o.values().any(|p| !p.is_empty()))
            {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            let no_names = a.subscribed_topic_names.is_none();
            let no_regex = a
                .subscribed_topic_regex
                .as_deref()
                .is_none_or(str::is_empty);
            if no_names && no_regex {
                return invalid(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        }
        LEAVE_GROUP_STATIC_MEMBER_EPOCH if a.instance_id.is_none() => {
            return invalid("InstanceId can't be null.");
        }
        e if e < LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
            return invalid(&format!("MemberEpoch {e} is invalid."));
        }
        _ => {}
    }
    if let Some(assignor) = a.server_assignor.as_deref() {
        if !settings.assignors.iter().any(|x| x == assignor) {
            return Err(err(
                ResponseError::UnsupportedAssignor,
                format!(
                    "ServerAssignor {assignor} is not supported. Supported assignors: {}.",
                    settings.assignors.join(", ")
                ),
            ));
        }
    }
    if let Some(re) = a
        .subscribed_topic_regex
        .as_deref()
        .filter(|r| !r.is_empty())
    {
        compile_regex(re).map_err(|e| {
            err(
                ResponseError::InvalidRegularExpression,
                format!("SubscribedTopicRegex `{re}` is not a valid regular expression: {e}."),
            )
        })?;
    }
    Ok(())
}

fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .all(|(t, ps)| ps.is_empty() || b.get(t).is_some_and(|bs| ps.is_subset(bs)))
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, ps)| b.get(t).is_some_and(|bs| !ps.is_disjoint(bs)))
}

/// `a` minus `b`, empty topics dropped.
fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    a.iter()
        .filter_map(|(t, ps)| {
            let rest: BTreeSet<i32> = match b.get(t) {
                Some(bs) => ps.difference(bs).copied().collect(),
                None => ps.clone(),
            };
            (!rest.is_empty()).then(|| (t.clone(), rest))
        })
        .collect()
}

fn union_into(a: &mut Assignment, b: &Assignment) {
    for (t, ps) in b {
        a.entry(t.clone()).or_default().extend(ps.iter().copied());
    }
}

fn partition_count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

impl ConsumerGroup {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A group reloaded from its `ConsumerGroupMetadata` record: no members (they rejoin),
    /// epochs continue from `epoch`.
    pub(crate) fn at_epoch(epoch: i32) -> Self {
        Self {
            group_epoch: epoch,
            assignment_epoch: epoch,
            ..Self::default()
        }
    }

    pub(crate) fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self.members.values().any(|m| {
            m.member_epoch >= 0
                && (m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        }) {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// Topics any member subscribes to (by name or regex) among `topics`.
    pub(crate) fn subscribed_topics(&self, topics: &BTreeMap<String, i32>) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_in(topics))
            .collect()
    }

    /// Every partition owned (assigned or pending revocation) by a member other than
    /// `member_id`.
    pub(super) fn owned_by_others(&self, member_id: &str) -> Assignment {
        let mut out = Assignment::new();
        for m in self.members.values().filter(|m| m.member_id != member_id) {
            union_into(&mut out, &m.assigned);
            union_into(&mut out, &m.pending_revocation);
        }
        out
    }

    pub(super) fn bump_group_epoch(&mut self) {
        self.dirty = true;
        self.group_epoch = self.group_epoch.max(self.assignment_epoch) + 1;
    }

    /// The group's durable snapshot (JSON).
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>, serde_json::Error> {
        let members = self
            .members
            .values()
            .map(|m| MemberSnapshot {
                member_id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                member_epoch: m.member_epoch,
                previous_member_epoch: m.previous_member_epoch,
                state: m.state,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                subscribed_topic_names: m.subscribed_topic_names.clone(),
                subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                server_assignor: m.server_assignor.clone(),
                assigned: m.assigned.clone(),
                pending_revocation: m.pending_revocation.clone(),
                classic: m.classic.as_ref().map(|c| ClassicMemberSnapshot {
                    session_timeout_ms: c.session_timeout_ms,
                    protocols: c
                        .protocols
                        .iter()
                        .map(|(name, metadata)| (name.clone(), metadata.to_vec()))
                        .collect(),
                }),
            })
            .collect();
        serde_json::to_vec(&GroupSnapshot {
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self.assignor.clone(),
            subscription_metadata: self.subscription_metadata.clone(),
            target: self.target.clone(),
            members,
        })
    }

    /// Rebuilds a group from `snapshot`; every member's session (and a pending revocation's
    /// rebalance timeout) restarts at `now`.
    pub(crate) fn from_snapshot(
        snapshot: &[u8],
        now: Instant,
        session_timeout_ms: i32,
    ) -> Result<Self, serde_json::Error> {
        let s: GroupSnapshot = serde_json::from_slice(snapshot)?;
        let session = std::time::Duration::from_millis(session_timeout_ms.max(0) as u64);
        let mut g = ConsumerGroup {
            group_epoch: s.group_epoch,
            assignment_epoch: s.assignment_epoch,
            assignor: s.assignor,
            subscription_metadata: s.subscription_metadata,
            target: s.target,
            persisted_epoch: Some(s.group_epoch),
            persisted_snapshot: Some(snapshot.to_vec()),
            ..ConsumerGroup::default()
        };
        for ms in s.members {
            let session = match &ms.classic {
                Some(c) => std::time::Duration::from_millis(c.session_timeout_ms.max(0) as u64),
                None => session,
            };
            let mut m = ConsumerMember::new(ms.member_id.clone(), now + session);
            m.instance_id = ms.instance_id;
            m.rack_id = ms.rack_id;
            m.client_id = ms.client_id;
            m.client_host = ms.client_host;
            m.member_epoch = ms.member_epoch;
            m.previous_member_epoch = ms.previous_member_epoch;
            m.state = ms.state;
            m.rebalance_timeout_ms = ms.rebalance_timeout_ms;
            m.subscribed_topic_names = ms.subscribed_topic_names;
            m.compiled_regex = ms
                .subscribed_topic_regex
                .as_deref()
                .and_then(|r| compile_regex(r).ok());
            m.subscribed_topic_regex = ms.subscribed_topic_regex;
            m.server_assignor = ms.server_assignor;
            m.assigned = ms.assigned;
            m.classic = ms.classic.map(|c| ClassicMemberMetadata {
                session_timeout_ms: c.session_timeout_ms,
                protocols: c
                    .protocols
                    .into_iter()
                    .map(|(name, metadata)| (name, bytes::Bytes::from(metadata)))
                    .collect(),
            });
            if !ms.pending_revocation.is_empty() && m.classic.is_none() {
                m.revocation_deadline = Some(
                    now + std::time::Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                );
            }
            m.pending_revocation = ms.pending_revocation;
            if let Some(instance) = &m.instance_id {
                g.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            g.members.insert(m.member_id.clone(), m);
        }
        Ok(g)
    }

    /// Kafka's `ConsumerGroup.validateOffsetCommit` (OffsetCommit and TxnOffsetCommit): the
    /// member epoch is the generation. A commit with a negative epoch (an admin, or a consumer
    /// that assigns partitions itself and never joins — it may still send its member id) is
    /// accepted while the group has no members; a transactional commit without member,
    /// generation and instance always. Otherwise the member must exist and send its current
    /// epoch (STALE_MEMBER_EPOCH), through OffsetCommit v9+ (UNSUPPORTED_VERSION below).
    pub(crate) fn validate_offset_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        member_epoch: i32,
        transactional: bool,
        version: i16,
    ) -> Result<(), ResponseError> {
        if member_epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        if transactional && member_epoch == -1 && member_id.is_empty() && instance_id.is_none() {
            return Ok(());
        }
        let m = self
            .members
            .get(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if !transactional && !m.uses_classic_protocol() && version < 9 {
            return Err(ResponseError::UnsupportedVersion);
        }
        m.validate_member_epoch(member_epoch)
    }

    /// Kafka's `ConsumerGroup.validateOffsetFetch` (OffsetFetch v9+ carries the member):
    /// without member id and epoch any fetch is allowed; otherwise the member must exist and
    /// send its current epoch.
    pub(crate) fn validate_offset_fetch(
        &self,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), ResponseError> {
        if member_id.is_none() && member_epoch < 0 {
            return Ok(());
        }
        member_id
            .and_then(|id| self.members.get(id))
            .ok_or(ResponseError::UnknownMemberId)?
            .validate_member_epoch(member_epoch)
    }

    /// Removes a member (leave, session expiry): bumps the group epoch. Returns whether it
    /// was there.
    pub(crate) fn remove_member(&mut self, member_id: &str) -> bool {
        let Some(m) = self.members.remove(member_id) else {
            return false;
        };
        if let Some(instance) = &m.instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.target.remove(member_id);
        self.bump_group_epoch();
        true
    }

    /// The assignor to run: the one most members ask for, else the configured default.
    fn select_assignor(&self, settings: &ConsumerSettings) -> String {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.server_assignor.as_deref() {
                *votes.entry(a).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(a, _)| a.to_owned())
            .or_else(|| settings.assignors.first().cloned())
            .unwrap_or_else(|| "uniform".to_owned())
    }

    /// Refreshes the subscription metadata against `topics` (bumping the group epoch on a
    /// change) and recomputes the target assignment when the group epoch moved past it.
    pub(crate) fn update_target(
        &mut self,
        topics: &BTreeMap<String, i32>,
        settings: &ConsumerSettings,
    ) {
        let subscribed = self.subscribed_topics(topics);
        let metadata: BTreeMap<String, i32> = subscribed
            .iter()
            .filter_map(|t| topics.get(t).map(|n| (t.clone(), *n)))
            .collect();
        if metadata != self.subscription_metadata {
            self.subscription_metadata = metadata;
            if !self.members.is_empty() && self.group_epoch <= self.assignment_epoch {
                self.bump_group_epoch();
            }
        }
        if self.group_epoch <= self.assignment_epoch {
            return;
        }
        let assignor = self.select_assignor(settings);
        let subscriptions: BTreeMap<String, BTreeSet<String>> = self
            .members
            .values()
            .map(|m| (m.member_id.clone(), m.subscribed_in(topics)))
            .collect();
        self.target = assign(
            &assignor,
            &subscriptions,
            &self.subscription_metadata,
            &self.target,
        );
        self.assignor = assignor;
        self.assignment_epoch = self.group_epoch;
    }

    /// Kafka's `CurrentAssignmentBuilder`: moves `member_id` towards its target. `owned` is
    /// what the member reported owning (None = not reported). Returns whether its assigned
    /// partitions changed.
    pub(crate) fn reconcile(
        &mut self,
        member_id: &str,
        owned: Option<&Assignment>,
        now: Instant,
    ) -> bool {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let others = self.owned_by_others(member_id);
        let target_epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(member_id) else {
            return false;
        };
        if m.member_epoch < 0 {
            return false;
        }
        if !m.pending_revocation.is_empty() {
            match owned {
                Some(o) if !intersects(o, &m.pending_revocation) => {
                    self.dirty = true;
                    m.pending_revocation.clear();
                    m.revocation_deadline = None;
                }
                _ => return false,
            }
        }
        let before = m.assigned.clone();
        let (epoch_before, state_before) = (m.member_epoch, m.state);
        let revoke = minus(&m.assigned, &target);
        // A member that reported owning none of them already gave them up (an eager classic
        // member rejoins owning nothing).
        let still_owned = owned.is_none_or(|o| intersects(o, &revoke));
        if !revoke.is_empty() && still_owned {
            self.dirty = true;
            m.assigned = minus(&m.assigned, &revoke);
            m.pending_revocation = revoke;
            m.state = MemberState::UnrevokedPartitions;
            // Classic members revoke by rejoining, bounded by their join timer instead.
            if m.classic.is_none() {
                m.revocation_deadline = Some(
                    now + std::time::Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                );
            }
            return true;
        }
        m.assigned = minus(&m.assigned, &revoke);
        let wanted = minus(&target, &m.assigned);
        let assignable = minus(&wanted, &others);
        union_into(&mut m.assigned, &assignable);
        if m.member_epoch != target_epoch {
            m.previous_member_epoch = m.member_epoch;
            m.member_epoch = target_epoch;
        }
        m.state = if minus(&target, &m.assigned).is_empty() {
            MemberState::Stable
        } else {
            MemberState::UnreleasedPartitions
        };
        let changed = m.assigned != before;
        if changed || m.member_epoch != epoch_before || m.state != state_before {
            self.dirty = true;
        }
        changed
    }

    /// One ConsumerGroupHeartbeat against this group (Kafka's `consumerGroupHeartbeat`).
    /// `new_member_id` is used when a v0 client joins without a member id.
    pub(crate) fn heartbeat(
        &mut self,
        a: &HeartbeatArgs,
        topics: &BTreeMap<String, i32>,
        settings: &ConsumerSettings,
        now: Instant,
        new_member_id: impl FnOnce() -> String,
    ) -> Result<HeartbeatOutcome, HeartbeatError> {
        let epoch_before = self.group_epoch;
        let session = std::time::Duration::from_millis(settings.session_timeout_ms.max(0) as u64);
        if a.member_epoch == LEAVE_GROUP_MEMBER_EPOCH
            || a.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH
        {
            return self.leave(a, topics, settings, epoch_before);
        }
        let mut joined = false;
        let member_id = if a.member_epoch == 0 {
            let (id, is_new) = self.join_member(a, settings, now, new_member_id)?;
            joined = is_new;
            id
        } else {
            let Some(m) = self.members.get(&a.member_id) else {
                return Err(err(
                    ResponseError::UnknownMemberId,
                    format!("Member {} is not a member of the group.", a.member_id),
                ));
            };
            if a.member_epoch > m.member_epoch
                || (a.member_epoch < m.member_epoch
                    && (a.member_epoch != m.previous_member_epoch
                        || !a.owned.as_ref().is_some_and(|o| is_subset(o, &m.assigned))))
            {
                return Err(err(
                    ResponseError::FencedMemberEpoch,
                    format!(
                        "The member epoch {} is fenced; the current member epoch is {}.",
                        a.member_epoch, m.member_epoch
                    ),
                ));
            }
            a.member_id.clone()
        };
        let Some(m) = self.members.get_mut(&member_id) else {
            return Err(err(ResponseError::UnknownServerError, "member vanished"));
        };
        m.session_deadline = now + session;
        // A ConsumerGroupHeartbeat makes the member a consumer-protocol member (Kafka drops
        // its classic metadata).
        if m.classic.take().is_some() {
            m.classic_join_deadline = None;
            m.classic_sync_deadline = None;
            self.dirty = true;
        }
        let mut subscription_changed = false;
        if let Some(names) = &a.subscribed_topic_names {
            let names: BTreeSet<String> = names.iter().cloned().collect();
            if names != m.subscribed_topic_names {
                m.subscribed_topic_names = names;
                subscription_changed = true;
            }
        }
        if let Some(re) = &a.subscribed_topic_regex {
            let re = Some(re.clone()).filter(|r| !r.is_empty());
            if re != m.subscribed_topic_regex {
                m.compiled_regex = re.as_deref().and_then(|r| compile_regex(r).ok());
                m.subscribed_topic_regex = re;
                subscription_changed = true;
            }
        }
        if a.server_assignor.is_some() && a.server_assignor != m.server_assignor {
            m.server_assignor = a.server_assignor.clone();
            subscription_changed = true;
        }
        if a.rebalance_timeout_ms > 0 {
            m.rebalance_timeout_ms = a.rebalance_timeout_ms;
        }
        if a.rack_id.is_some() {
            m.rack_id = a.rack_id.clone();
        }
        if !a.client_id.is_empty() {
            m.client_id = a.client_id.clone();
        }
        if !a.client_host.is_empty() {
            m.client_host = a.client_host.clone();
        }
        if subscription_changed || joined {
            self.bump_group_epoch();
        }
        self.update_target(topics, settings);
        let assignment_changed = self.reconcile(&member_id, a.owned.as_ref(), now);
        let full_request = a.rebalance_timeout_ms != -1
            && (a.subscribed_topic_names.is_some() || a.subscribed_topic_regex.is_some())
            && a.owned.is_some();
        let Some(m) = self.members.get(&member_id) else {
            return Err(err(ResponseError::UnknownServerError, "member vanished"));
        };
        Ok(HeartbeatOutcome {
            member_id,
            member_epoch: m.member_epoch,
            assignment: (a.member_epoch == 0 || full_request || assignment_changed)
                .then(|| m.assigned.clone()),
            group_epoch_bumped: self.group_epoch != epoch_before,
            joined,
        })
    }

    /// A member with epoch 0: a new member, a rejoin of a known one, or a static member
    /// taking over its instance id. Returns its member id and whether it is new.
    fn join_member(
        &mut self,
        a: &HeartbeatArgs,
        settings: &ConsumerSettings,
        now: Instant,
        new_member_id: impl FnOnce() -> String,
    ) -> Result<(String, bool), HeartbeatError> {
        let member_id = if a.member_id.is_empty() {
            new_member_id()
        } else {
            a.member_id.clone()
        };
        if let Some(instance) = &a.instance_id {
            if let Some(existing) = self.static_members.get(instance).cloned() {
                if existing == member_id {
                    return Ok((member_id, false));
                }
                let Some(old) = self.members.get(&existing) else {
                    self.static_members.remove(instance);
                    return self.add_member(member_id, a, settings, now);
                };
                // A consumer-protocol member must have left (epoch -2) first; a classic one
                // never says so (classic static members send no LeaveGroup) and is replaced
                // (the instance moving to the consumer protocol).
                if old.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH
                    && !old.uses_classic_protocol()
                {
                    return Err(err(
                        ResponseError::UnreleasedInstanceId,
                        format!("Static member {existing} with instance id {instance} is still active; it must leave first."),
                    ));
                }
                // The new incarnation takes over the old one's assignment and epoch.
                let mut m = match self.members.remove(&existing) {
                    Some(m) => m,
                    None => return Err(err(ResponseError::UnknownServerError, "member vanished")),
                };
                m.member_id = member_id.clone();
                if m.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                    m.member_epoch = m.previous_member_epoch;
                }
                if let Some(t) = self.target.remove(&existing) {
                    self.target.insert(member_id.clone(), t);
                }
                self.members.insert(member_id.clone(), m);
                self.static_members
                    .insert(instance.clone(), member_id.clone());
                self.dirty = true;
                return Ok((member_id, false));
            }
        }
        if self.members.contains_key(&member_id) {
            return Ok((member_id, false));
        }
        self.add_member(member_id, a, settings, now)
    }

    fn add_member(
        &mut self,
        member_id: String,
        a: &HeartbeatArgs,
        settings: &ConsumerSettings,
        now: Instant,
    ) -> Result<(String, bool), HeartbeatError> {
        if self.members.len() >= settings.max_size {
            return Err(err(
                ResponseError::GroupMaxSizeReached,
                format!(
                    "The consumer group has reached its maximum capacity of {} members.",
                    settings.max_size
                ),
            ));
        }
        let mut m = ConsumerMember::new(member_id.clone(), now);
        m.instance_id = a.instance_id.clone();
        if let Some(instance) = &a.instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        self.members.insert(member_id.clone(), m);
        self.dirty = true;
        Ok((member_id, true))
    }

    /// The member a leave heartbeat (epoch -1 or -2) names, if the leave is valid.
    pub(crate) fn leaving_member(&self, a: &HeartbeatArgs) -> Result<String, HeartbeatError> {
        let member_id = match &a.instance_id {
            Some(instance) => match self.static_members.get(instance) {
                Some(id) if *id == a.member_id => id.clone(),
                Some(_) => {
                    return Err(err(
                        ResponseError::FencedInstanceId,
                        format!("Instance {instance} belongs to another member."),
                    ))
                }
                None => {
                    return Err(err(
                        ResponseError::UnknownMemberId,
                        format!("Instance {instance} is not in the group."),
                    ))
                }
            },
            None => a.member_id.clone(),
        };
        if !self.members.contains_key(&member_id) {
            return Err(err(
                ResponseError::UnknownMemberId,
                format!("Member {member_id} is not a member of the group."),
            ));
        }
        Ok(member_id)
    }

    fn leave(
        &mut self,
        a: &HeartbeatArgs,
        topics: &BTreeMap<String, i32>,
        settings: &ConsumerSettings,
        epoch_before: i32,
    ) -> Result<HeartbeatOutcome, HeartbeatError> {
        let member_id = self.leaving_member(a)?;
        if a.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            if let Some(m) = self.members.get_mut(&member_id) {
                if m.member_epoch >= 0 {
                    m.previous_member_epoch = m.member_epoch;
                }
                m.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
            }
            self.dirty = true;
        } else {
            self.remove_member(&member_id);
            self.update_target(topics, settings);
        }
        Ok(HeartbeatOutcome {
            member_id,
            member_epoch: a.member_epoch,
            assignment: None,
            group_epoch_bumped: self.group_epoch != epoch_before,
            joined: false,
        })
    }
}

// ---------------------------------------------------------------------------- assignors

/// Runs `assignor` ("uniform" or "range") over members' subscribed (existing) topics.
/// `previous` is the last target assignment (the uniform assignor keeps it where it can).
pub(crate) fn assign(
    assignor: &str,
    subscriptions: &BTreeMap<String, BTreeSet<String>>,
    topics: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    match assignor {
        "range" => assign_range(subscriptions, topics),
        _ => assign_uniform(subscriptions, topics, previous),
    }
}

/// Kafka's range assignor: per topic, its subscribers (by member id) take contiguous
/// ranges, the first `partitions % subscribers` one partition more.
fn assign_range(
    subscriptions: &BTreeMap<String, BTreeSet<String>>,
    topics: &BTreeMap<String, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for (topic, &n) in topics {
        let subs: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, ts)| ts.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if subs.is_empty() || n <= 0 {
            continue;
        }
        let count = subs.len() as i32;
        let (per, extra) = (n / count, n % count);
        for (i, m) in subs.iter().enumerate() {
            let i = i as i32;
            let start = i * per + i.min(extra);
            let len = per + i32::from(i < extra);
            if len > 0 {
                if let Some(a) = out.get_mut(*m) {
                    a.insert(topic.clone(), (start..start + len).collect());
                }
            }
        }
    }
    out
}

/// The uniform assignor: balanced (member loads differ by at most one among members
/// eligible for the same partitions) and sticky (a partition stays with its previous
/// target owner while that keeps the balance).
fn assign_uniform(
    subscriptions: &BTreeMap<String, BTreeSet<String>>,
    topics: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    let eligible = |topic: &str| -> Vec<&String> {
        subscriptions
            .iter()
            .filter(|(_, ts)| ts.contains(topic))
            .map(|(m, _)| m)
            .collect()
    };
    let all: Vec<(String, i32)> = topics
        .iter()
        .filter(|(t, _)| subscriptions.values().any(|ts| ts.contains(*t)))
        .flat_map(|(t, &n)| (0..n.max(0)).map(move |p| (t.clone(), p)))
        .collect();
    // Quota for sticky retention: the balanced share of the partitions a member may take.
    let members = subscriptions.len().max(1);
    let quota = all.len().div_ceil(members);
    let mut unassigned = Vec::new();
    for (topic, p) in &all {
        let keeper = previous.iter().find(|(m, a)| {
            a.get(topic).is_some_and(|ps| ps.contains(p))
                && subscriptions.get(*m).is_some_and(|ts| ts.contains(topic))
        });
        match keeper {
            Some((m, _)) if out.get(m).is_some_and(|a| partition_count(a) < quota) => {
                if let Some(a) = out.get_mut(m) {
                    a.entry(topic.clone()).or_default().insert(*p);
                }
            }
            _ => unassigned.push((topic.clone(), *p)),
        }
    }
    for (topic, p) in unassigned {
        let target = eligible(&topic)
            .into_iter()
            .min_by_key(|m| (out.get(*m).map_or(0, partition_count), (*m).clone()))
            .cloned();
        if let Some(m) = target {
            if let Some(a) = out.get_mut(&m) {
                a.entry(topic).or_default().insert(p);
            }
        }
    }
    // Balance: move partitions from heavier to lighter eligible members (bounded).
    for _ in 0..all.len().saturating_mul(members).max(1) {
        let mut moved = false;
        let mut by_load: Vec<(usize, String)> = out
            .iter()
            .map(|(m, a)| (partition_count(a), m.clone()))
            .collect();
        by_load.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        'find: for (load, heavy) in &by_load {
            let Some(a) = out.get(heavy) else { continue };
            for (topic, ps) in a {
                for p in ps {
                    let light = eligible(topic)
                        .into_iter()
                        .map(|m| (out.get(m).map_or(0, partition_count), m.clone()))
                        .filter(|(l, _)| l + 1 < *load)
                        .min();
                    if let Some((_, light)) = light {
                        let (topic, p) = (topic.clone(), *p);
                        if let Some(h) = out.get_mut(heavy) {
                            if let Some(set) = h.get_mut(&topic) {
                                set.remove(&p);
                                if set.is_empty() {
                                    h.remove(&topic);
                                }
                            }
                        }
                        if let Some(l) = out.get_mut(&light) {
                            l.entry(topic).or_default().insert(p);
                        }
                        moved = true;
                        break 'find;
                    }
                }
            }
        }
        if !moved {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConsumerSettings {
        ConsumerSettings {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: 3,
            assignors: vec!["uniform".into(), "range".into()],
        }
    }

    fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn join(id: &str, names: &[&str]) -> HeartbeatArgs {
        HeartbeatArgs {
            version: 1,
            member_id: id.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(names.iter().map(|s| s.to_string()).collect()),
            owned: Some(Assignment::new()),
            ..Default::default()
        }
    }

    fn hb(id: &str, epoch: i32, owned: Option<Assignment>) -> HeartbeatArgs {
        HeartbeatArgs {
            version: 1,
            member_id: id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned,
            ..Default::default()
        }
    }

    fn count(a: &Option<Assignment>) -> usize {
        a.as_ref().map_or(0, partition_count)
    }

    #[test]
    fn uniform_balances_and_sticks() {
        let t = topics(&[("a", 12)]);
        let subs: BTreeMap<String, BTreeSet<String>> = ["m1", "m2", "m3"]
            .iter()
            .map(|m| (m.to_string(), ["a".to_string()].into()))
            .collect();
        let first = assign("uniform", &subs, &t, &BTreeMap::new());
        assert!(first.values().all(|a| partition_count(a) == 4), "{first:?}");
        let mut fewer = subs.clone();
        fewer.remove("m3");
        let second = assign("uniform", &fewer, &t, &first);
        for m in ["m1", "m2"] {
            assert_eq!(partition_count(&second[m]), 6);
            assert!(is_subset(&first[m], &second[m]), "{m} kept its partitions");
        }
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic() {
        let t = topics(&[("a", 5), ("b", 2)]);
        let subs: BTreeMap<String, BTreeSet<String>> = [
            ("m1".to_string(), ["a".to_string(), "b".to_string()].into()),
            ("m2".to_string(), ["a".to_string()].into()),
        ]
        .into();
        let out = assign("range", &subs, &t, &BTreeMap::new());
        assert_eq!(out["m1"]["a"], [0, 1, 2].into());
        assert_eq!(out["m1"]["b"], [0, 1].into());
        assert_eq!(out["m2"]["a"], [3, 4].into());
    }

    #[test]
    fn revoke_before_assign() {
        let t = topics(&[("a", 4)]);
        let s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        let o1 = g
            .heartbeat(&join("m1", &["a"]), &t, &s, now, || unreachable!())
            .unwrap();
        assert_eq!(o1.member_epoch, 1);
        assert_eq!(count(&o1.assignment), 4);
        let o2 = g
            .heartbeat(&join("m2", &["a"]), &t, &s, now, || unreachable!())
            .unwrap();
        // m2 is at epoch 2 but gets nothing until m1 released its partitions.
        assert_eq!(o2.member_epoch, 2);
        assert_eq!(count(&o2.assignment), 0);
        assert_eq!(g.state(), ConsumerGroupState::Reconciling);
        // m1 learns it must revoke two partitions (epoch unchanged).
        let o1 = g
            .heartbeat(&hb("m1", 1, None), &t, &s, now, || unreachable!())
            .unwrap();
        assert_eq!(o1.member_epoch, 1);
        let kept = o1.assignment.clone().unwrap();
        assert_eq!(partition_count(&kept), 2);
        assert_eq!(
            g.members["m1"].expiry(),
            now + std::time::Duration::from_millis(30_000),
            "revoking within the rebalance timeout"
        );
        // m2 still waits.
        let o2 = g
            .heartbeat(
                &hb("m2", 2, Some(Assignment::new())),
                &t,
                &s,
                now,
                || unreachable!(),
            )
            .unwrap();
        assert_eq!(count(&o2.assignment), 0);
        // m1 acknowledges the revocation and moves to epoch 2.
        let o1 = g
            .heartbeat(
                &hb("m1", 1, Some(kept.clone())),
                &t,
                &s,
                now,
                || unreachable!(),
            )
            .unwrap();
        assert_eq!(o1.member_epoch, 2);
        let o2 = g
            .heartbeat(
                &hb("m2", 2, Some(Assignment::new())),
                &t,
                &s,
                now,
                || unreachable!(),
            )
            .unwrap();
        assert_eq!(count(&o2.assignment), 2);
        assert!(!intersects(o2.assignment.as_ref().unwrap(), &kept));
        assert_eq!(g.state(), ConsumerGroupState::Stable);
    }

    #[test]
    fn fencing_unknown_members_max_size_and_leave() {
        let t = topics(&[("a", 3)]);
        let s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        g.heartbeat(&join("m1", &["a"]), &t, &s, now, || unreachable!())
            .unwrap();
        let e = g
            .heartbeat(&hb("m1", 7, None), &t, &s, now, || unreachable!())
            .unwrap_err();
        assert_eq!(e.code, ResponseError::FencedMemberEpoch);
        let e = g
            .heartbeat(&hb("zz", 1, None), &t, &s, now, || unreachable!())
            .unwrap_err();
        assert_eq!(e.code, ResponseError::UnknownMemberId);
        g.heartbeat(&join("m2", &["a"]), &t, &s, now, || unreachable!())
            .unwrap();
        g.heartbeat(&join("m3", &["a"]), &t, &s, now, || unreachable!())
            .unwrap();
        let e = g
            .heartbeat(&join("m4", &["a"]), &t, &s, now, || unreachable!())
            .unwrap_err();
        assert_eq!(e.code, ResponseError::GroupMaxSizeReached);
        let before = g.group_epoch;
        let o = g
            .heartbeat(&hb("m3", -1, None), &t, &s, now, || unreachable!())
            .unwrap();
        assert_eq!(o.member_epoch, -1);
        assert!(g.group_epoch > before);
        assert!(!g.members.contains_key("m3"));
    }

    #[test]
    fn offset_commit_and_fetch_checks_follow_kafka() {
        use ResponseError::*;
        let t = topics(&[("a", 2)]);
        let s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        // No members: a negative epoch commits with any member id (assign()-only consumers).
        assert_eq!(g.validate_offset_commit("", None, -1, false, 9), Ok(()));
        assert_eq!(
            g.validate_offset_commit("own-id", None, -1, false, 9),
            Ok(())
        );
        assert_eq!(
            g.validate_offset_commit("own-id", None, 0, false, 9),
            Err(UnknownMemberId)
        );
        let o = g
            .heartbeat(&join("m1", &["a"]), &t, &s, now, || unreachable!())
            .unwrap();
        let e = o.member_epoch;
        assert_eq!(g.validate_offset_commit("m1", None, e, false, 9), Ok(()));
        assert_eq!(
            g.validate_offset_commit("m1", None, e + 1, false, 9),
            Err(StaleMemberEpoch)
        );
        assert_eq!(
            g.validate_offset_commit("m1", None, e, false, 8),
            Err(UnsupportedVersion)
        );
        assert_eq!(g.validate_offset_commit("m1", None, e, true, 3), Ok(()));
        assert_eq!(
            g.validate_offset_commit("", None, -1, false, 9),
            Err(UnknownMemberId)
        );
        assert_eq!(
            g.validate_offset_commit("own-id", None, -1, false, 9),
            Err(UnknownMemberId)
        );
        // A transactional commit without member, generation and instance is accepted.
        assert_eq!(g.validate_offset_commit("", None, -1, true, 3), Ok(()));
        assert_eq!(
            g.validate_offset_commit("", Some("i"), -1, true, 3),
            Err(UnknownMemberId)
        );
        // OffsetFetch.
        assert_eq!(g.validate_offset_fetch(None, -1), Ok(()));
        assert_eq!(g.validate_offset_fetch(Some("m1"), e), Ok(()));
        assert_eq!(
            g.validate_offset_fetch(Some("m1"), e - 1),
            Err(StaleMemberEpoch)
        );
        assert_eq!(g.validate_offset_fetch(Some("zz"), e), Err(UnknownMemberId));
        assert_eq!(g.validate_offset_fetch(None, e), Err(UnknownMemberId));
    }

    #[test]
    fn static_member_must_leave_before_its_instance_rejoins() {
        let t = topics(&[("a", 2)]);
        let s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        let mut a = join("m1", &["a"]);
        a.instance_id = Some("i".into());
        g.heartbeat(&a, &t, &s, now, || unreachable!()).unwrap();
        let mut b = join("m2", &["a"]);
        b.instance_id = Some("i".into());
        let e = g.heartbeat(&b, &t, &s, now, || unreachable!()).unwrap_err();
        assert_eq!(e.code, ResponseError::UnreleasedInstanceId);
        let mut leave = hb("m1", -2, None);
        leave.instance_id = Some("i".into());
        g.heartbeat(&leave, &t, &s, now, || unreachable!()).unwrap();
        let o = g.heartbeat(&b, &t, &s, now, || unreachable!()).unwrap();
        assert_eq!(o.member_id, "m2");
        assert_eq!(
            count(&o.assignment),
            2,
            "the new incarnation keeps the partitions"
        );
        assert!(!g.members.contains_key("m1"));
    }

    #[test]
    fn regex_subscription_and_validation() {
        let t = topics(&[
            ("orders-1", 1),
            ("orders-2", 1),
            ("other", 1),
            ("__consumer_offsets", 50),
        ]);
        let s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        let mut a = join("m1", &[]);
        a.subscribed_topic_names = None;
        a.subscribed_topic_regex = Some("orders-.*".into());
        let o = g.heartbeat(&a, &t, &s, now, || unreachable!()).unwrap();
        let got = o.assignment.unwrap();
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            ["orders-1", "orders-2"]
        );
        let mut bad = a.clone();
        bad.subscribed_topic_regex = Some("(".into());
        assert_eq!(
            validate_request(&bad, &s).unwrap_err().code,
            ResponseError::InvalidRegularExpression
        );
        let mut bad = a.clone();
        bad.server_assignor = Some("sticky".into());
        assert_eq!(
            validate_request(&bad, &s).unwrap_err().code,
            ResponseError::UnsupportedAssignor
        );
        let mut bad = a.clone();
        bad.rebalance_timeout_ms = -1;
        assert_eq!(
            validate_request(&bad, &s).unwrap_err().code,
            ResponseError::InvalidRequest
        );
        let mut bad = a;
        bad.member_id.clear();
        assert_eq!(
            validate_request(&bad, &s).unwrap_err().code,
            ResponseError::InvalidRequest
        );
    }

    #[test]
    fn snapshot_round_trips_members_and_assignments() {
        let t = topics(&[("a", 4)]);
        let s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        let mut a = join("m1", &[]);
        a.subscribed_topic_names = None;
        a.subscribed_topic_regex = Some("a|b".into());
        a.instance_id = Some("i1".into());
        g.heartbeat(&a, &t, &s, now, || unreachable!()).unwrap();
        g.heartbeat(&join("m2", &["a"]), &t, &s, now, || unreachable!())
            .unwrap();
        g.heartbeat(&hb("m1", 1, None), &t, &s, now, || unreachable!())
            .unwrap();
        let bytes = g.snapshot().unwrap();
        let r = ConsumerGroup::from_snapshot(&bytes, now, 45_000).unwrap();
        assert_eq!(r.snapshot().unwrap(), bytes);
        assert_eq!(
            (r.group_epoch, r.assignment_epoch),
            (g.group_epoch, g.assignment_epoch)
        );
        assert_eq!(r.static_members.get("i1").map(String::as_str), Some("m1"));
        assert_eq!(
            r.members["m1"].pending_revocation,
            g.members["m1"].pending_revocation
        );
        assert!(r.members["m1"].revocation_deadline.is_some());
        assert_eq!(r.subscribed_topics(&t), g.subscribed_topics(&t));
        assert_eq!(r.state(), g.state());
    }

    #[test]
    fn only_changes_mark_the_group_dirty() {
        let t = topics(&[("a", 2)]);
        let s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        g.heartbeat(&join("m1", &["a"]), &t, &s, now, || unreachable!())
            .unwrap();
        assert!(g.dirty, "a join is durable");
        g.dirty = false;
        g.heartbeat(&hb("m1", 1, None), &t, &s, now, || unreachable!())
            .unwrap();
        assert!(!g.dirty, "a plain heartbeat changes nothing durable");
        g.heartbeat(&join("m2", &["a"]), &t, &s, now, || unreachable!())
            .unwrap();
        assert!(g.dirty);
    }

    #[test]
    fn new_partitions_bump_the_group_epoch() {
        let s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        g.heartbeat(
            &join("m1", &["a"]),
            &topics(&[("a", 1)]),
            &s,
            now,
            || unreachable!(),
        )
        .unwrap();
        let o = g
            .heartbeat(
                &hb("m1", 1, None),
                &topics(&[("a", 3)]),
                &s,
                now,
                || unreachable!(),
            )
            .unwrap();
        assert_eq!(o.member_epoch, 2);
        assert_eq!(count(&o.assignment), 3);
    }
}
