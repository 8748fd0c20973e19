//! Classic-protocol members of a KIP-848 consumer group (the online migration's middle):
//! a consumer that still speaks JoinGroup/SyncGroup/Heartbeat/LeaveGroup is a member of the
//! consumer group like any other — the server-side assignor decides its partitions, and it
//! only receives partitions no other member still owns — but it learns of a new target
//! assignment through REBALANCE_IN_PROGRESS and reconciles by rejoining: a JoinGroup
//! reports what it owns (revoking what it no longer has), SyncGroup hands it its current
//! assignment. Kafka's `classicGroupJoinToConsumerGroup`, `classicGroupSyncToConsumerGroup`
//! and `classicGroupHeartbeatToConsumerGroup`. Also the embedded ConsumerProtocol codec
//! (subscription and assignment bytes) these members speak.
//!
//! Pure decisions over `ConsumerGroup`; the coordinator glue is in `consumer_coordinator`.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::time::Instant;

use super::consumer::{
    Assignment, ClassicMemberMetadata, ConsumerGroup, ConsumerMember, ConsumerSettings, MemberState,
};
use crate::error::ResponseError;

/// The classic protocol type of consumers (the only one a consumer group takes).
pub(super) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Highest ConsumerProtocolSubscription/Assignment version we decode (newer ones are read
/// as this, as Kafka's `ConsumerProtocol` does).
const CONSUMER_PROTOCOL_VERSION_MAX: i16 = 3;

// ----------------------------------------------------------------------- embedded protocol

/// A decoded ConsumerProtocolSubscription (JoinGroup protocol metadata).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Subscription {
    pub topics: Vec<String>,
    /// Partitions the member owns (v1+; empty before).
    pub owned: Assignment,
    pub rack_id: Option<String>,
}

/// The version prefix of embedded protocol bytes (0 when too short).
pub(super) fn embedded_version(bytes: &[u8]) -> i16 {
    match bytes {
        [a, b, ..] => i16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

fn split_version(bytes: &[u8]) -> Result<(i16, &[u8]), String> {
    if bytes.len() < 2 {
        return Err("shorter than its version".into());
    }
    let version = embedded_version(bytes);
    if version < 0 {
        return Err(format!("version {version}"));
    }
    Ok((version.min(CONSUMER_PROTOCOL_VERSION_MAX), &bytes[2..]))
}

pub(super) fn decode_subscription(metadata: &[u8]) -> Result<Subscription, String> {
    let (version, mut body) = split_version(metadata)?;
    let s = ConsumerProtocolSubscription::decode(&mut body, version).map_err(|e| e.to_string())?;
    let mut owned = Assignment::new();
    for tp in &s.owned_partitions {
        owned
            .entry(tp.topic.0.to_string())
            .or_default()
            .extend(tp.partitions.iter().copied());
    }
    owned.retain(|_, ps| !ps.is_empty());
    Ok(Subscription {
        topics: s.topics.iter().map(|t| t.to_string()).collect(),
        owned,
        rack_id: s.rack_id.as_ref().map(|r| r.to_string()),
    })
}

/// A decoded ConsumerProtocolAssignment (SyncGroup bytes): the partitions, and whether it
/// carries user data (a custom assignor's, which a consumer group would lose).
pub(super) fn decode_assignment(bytes: &[u8]) -> Result<(Assignment, bool), String> {
    let (version, mut body) = split_version(bytes)?;
    let a = ConsumerProtocolAssignment::decode(&mut body, version).map_err(|e| e.to_string())?;
    let mut out = Assignment::new();
    for tp in &a.assigned_partitions {
        out.entry(tp.topic.0.to_string())
            .or_default()
            .extend(tp.partitions.iter().copied());
    }
    out.retain(|_, ps| !ps.is_empty());
    let user_data = a.user_data.as_ref().is_some_and(|d| !d.is_empty());
    Ok((out, user_data))
}

/// Encodes `assignment` as ConsumerProtocolAssignment `version` (clamped to what we speak).
pub(super) fn encode_assignment(assignment: &Assignment, version: i16) -> Bytes {
    let version = version.clamp(0, CONSUMER_PROTOCOL_VERSION_MAX);
    let mut a = ConsumerProtocolAssignment::default();
    a.assigned_partitions = assignment
        .iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(topic, ps)| {
            let mut tp = AssignedPartitions::default();
            tp.topic = TopicName(StrBytes::from_string(topic.clone()));
            tp.partitions = ps.iter().copied().collect();
            tp
        })
        .collect();
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    // Encoding a message we built cannot fail for a version it supports.
    if let Err(e) = a.encode(&mut buf, version) {
        tracing::error!(error = %e, "encoding a ConsumerProtocolAssignment failed");
        return Bytes::new();
    }
    buf.freeze()
}

// ----------------------------------------------------------------------------- decisions

/// One JoinGroup of a classic member into a consumer group.
#[derive(Debug, Clone)]
pub(crate) struct ClassicJoinArgs<'a> {
    /// Empty for a member without id yet.
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub client_id: &'a str,
    pub client_host: &'a str,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: &'a str,
    /// (name, ConsumerProtocolSubscription bytes) in preference order.
    pub protocols: &'a [(String, Bytes)],
    /// JoinGroup v4+: a dynamic member without id first gets one (MEMBER_ID_REQUIRED).
    pub requires_known_member_id: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClassicJoinOutcome {
    /// Answer MEMBER_ID_REQUIRED with this member id; nothing changed.
    MemberIdRequired(String),
    Joined {
        member_id: String,
        /// The member epoch (its generation in the classic protocol).
        generation_id: i32,
        /// The member's first protocol, which its answers carry.
        protocol_name: String,
        /// The member was not in the group before.
        new_member: bool,
    },
}

/// A SyncGroup's answer: the protocol and the member's current assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClassicSyncOutcome {
    pub protocol_name: String,
    pub assignment: Bytes,
}

fn duration_ms(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

impl ConsumerGroup {
    /// Kafka's `supportsClassicProtocols`: a classic member must use the "consumer" protocol
    /// type and share a protocol with every classic member already in the group.
    pub(crate) fn supports_classic_protocols(&self, protocol_type: &str, names: &[&str]) -> bool {
        if protocol_type != CONSUMER_PROTOCOL_TYPE {
            return false;
        }
        if self.members.is_empty() {
            return !names.is_empty();
        }
        let classic: Vec<BTreeSet<&str>> = self
            .members
            .values()
            .filter_map(|m| m.classic.as_ref())
            .map(|c| c.protocols.iter().map(|(n, _)| n.as_str()).collect())
            .collect();
        names
            .iter()
            .any(|name| classic.iter().all(|supported| supported.contains(name)))
    }

    /// The member a classic request names (Kafka's `validateConsumerGroupMember`): by
    /// instance id for a static member (FENCED_INSTANCE_ID when it is another member), else
    /// by member id.
    pub(crate) fn classic_member_id(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<String, ResponseError> {
        match instance_id {
            None => self
                .members
                .contains_key(member_id)
                .then(|| member_id.to_owned())
                .ok_or(ResponseError::UnknownMemberId),
            Some(instance) => {
                let existing = self
                    .static_members
                    .get(instance)
                    .ok_or(ResponseError::UnknownMemberId)?;
                if existing != member_id {
                    return Err(ResponseError::FencedInstanceId);
                }
                Ok(existing.clone())
            }
        }
    }

    /// The member a classic SyncGroup/Heartbeat is for: it must use the classic protocol and
    /// send its member epoch as generation.
    fn classic_member_mut(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<&mut ConsumerMember, ResponseError> {
        let id = self.classic_member_id(member_id, instance_id)?;
        let m = self
            .members
            .get_mut(&id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if !m.uses_classic_protocol() {
            return Err(ResponseError::UnknownMemberId);
        }
        if m.member_epoch != generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(m)
    }

    /// Kafka's `waitingOnUnreleasedPartition`: the member waits for a partition of its
    /// target another member still owns.
    fn waiting_on_unreleased_partition(&self, member_id: &str) -> bool {
        let Some(m) = self.members.get(member_id) else {
            return false;
        };
        if m.state != MemberState::UnreleasedPartitions {
            return false;
        }
        let others = self.owned_by_others(member_id);
        self.target.get(member_id).is_some_and(|target| {
            target.iter().any(|(topic, ps)| {
                ps.iter().any(|p| {
                    !m.assigned.get(topic).is_some_and(|a| a.contains(p))
                        && others.get(topic).is_some_and(|o| o.contains(p))
                })
            })
        })
    }

    /// JoinGroup of a classic member (Kafka's `classicGroupJoinToConsumerGroup`): creates or
    /// updates the member from its subscription, moves the group epoch when the
    /// subscription changed, and reconciles the member against the target with the
    /// partitions it reports owning. Answered at once with the member epoch as generation.
    pub(crate) fn classic_join(
        &mut self,
        a: &ClassicJoinArgs<'_>,
        topics: &std::collections::BTreeMap<String, i32>,
        settings: &ConsumerSettings,
        now: Instant,
        new_member_id: impl FnOnce() -> String,
    ) -> Result<ClassicJoinOutcome, ResponseError> {
        let unknown_member = a.member_id.is_empty();
        let member_id = if unknown_member {
            new_member_id()
        } else {
            a.member_id.to_owned()
        };
        if self.members.len() >= settings.max_size && !self.members.contains_key(&member_id) {
            return Err(ResponseError::GroupMaxSizeReached);
        }
        let names: Vec<&str> = a.protocols.iter().map(|(n, _)| n.as_str()).collect();
        if !self.supports_classic_protocols(a.protocol_type, &names) {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        if a.requires_known_member_id {
            return Ok(ClassicJoinOutcome::MemberIdRequired(member_id));
        }
        // Every protocol carries the same subscription; an unreadable one cannot be
        // assigned.
        let Some((protocol_name, metadata)) = a.protocols.first() else {
            return Err(ResponseError::InconsistentGroupProtocol);
        };
        let subscription =
            decode_subscription(metadata).map_err(|_| ResponseError::InconsistentGroupProtocol)?;

        let new_member = match a.instance_id {
            Some(instance) => match self.static_members.get(instance).cloned() {
                Some(existing) if unknown_member => {
                    // A new incarnation of the static member takes over its place and
                    // assignment (Kafka's static member replacement).
                    self.replace_static_member(&existing, &member_id);
                    false
                }
                Some(_) => {
                    self.classic_member_id(&member_id, Some(instance))?;
                    false
                }
                None if unknown_member => {
                    self.insert_new_member(&member_id, now);
                    self.static_members
                        .insert(instance.to_owned(), member_id.clone());
                    true
                }
                None => return Err(ResponseError::UnknownMemberId),
            },
            None => {
                let new = !self.members.contains_key(&member_id);
                if new {
                    self.insert_new_member(&member_id, now);
                }
                new
            }
        };
        let Some(m) = self.members.get_mut(&member_id) else {
            return Err(ResponseError::UnknownServerError);
        };
        let names: BTreeSet<String> = subscription.topics.iter().cloned().collect();
        let subscription_changed = names != m.subscribed_topic_names;
        m.subscribed_topic_names = names;
        m.instance_id = a.instance_id.map(str::to_owned);
        if subscription.rack_id.is_some() {
            m.rack_id = subscription.rack_id.clone();
        }
        if a.rebalance_timeout_ms > 0 {
            m.rebalance_timeout_ms = a.rebalance_timeout_ms;
        }
        m.client_id = a.client_id.to_owned();
        m.client_host = a.client_host.to_owned();
        m.classic = Some(ClassicMemberMetadata {
            session_timeout_ms: a.session_timeout_ms,
            protocols: a.protocols.to_vec(),
        });
        m.session_deadline = now + duration_ms(a.session_timeout_ms);
        m.classic_join_deadline = None;
        m.classic_sync_deadline = Some(now + duration_ms(m.rebalance_timeout_ms));
        self.dirty = true;
        if subscription_changed || new_member {
            self.bump_group_epoch();
        }
        self.update_target(topics, settings);
        self.reconcile(&member_id, Some(&subscription.owned), now);
        let generation_id = self.members.get(&member_id).map_or(-1, |m| m.member_epoch);
        Ok(ClassicJoinOutcome::Joined {
            member_id,
            generation_id,
            protocol_name: protocol_name.clone(),
            new_member,
        })
    }

    fn insert_new_member(&mut self, member_id: &str, now: Instant) {
        self.members.insert(
            member_id.to_owned(),
            ConsumerMember::new(member_id.to_owned(), now),
        );
    }

    /// A static member's new incarnation (`new_id`) takes over `old_id`'s assignment and
    /// target; it starts at epoch 0 and reconciles from there (Kafka's `replaceMember`).
    fn replace_static_member(&mut self, old_id: &str, new_id: &str) {
        let Some(mut m) = self.members.remove(old_id) else {
            return;
        };
        m.member_id = new_id.to_owned();
        m.member_epoch = 0;
        m.previous_member_epoch = 0;
        m.pending_revocation.clear();
        m.revocation_deadline = None;
        m.state = MemberState::Stable;
        if let Some(t) = self.target.remove(old_id) {
            self.target.insert(new_id.to_owned(), t);
        }
        if let Some(instance) = &m.instance_id {
            self.static_members
                .insert(instance.clone(), new_id.to_owned());
        }
        self.members.insert(new_id.to_owned(), m);
        self.dirty = true;
    }

    /// Whether the classic member must rejoin first (a newer group epoch it has not
    /// reached); starts its join timer then.
    fn classic_rebalance_in_progress(&mut self, member_id: &str, now: Instant) -> bool {
        let group_epoch = self.group_epoch;
        let Some(m) = self.members.get_mut(member_id) else {
            return false;
        };
        if group_epoch > m.member_epoch && m.state != MemberState::UnrevokedPartitions {
            m.classic_join_deadline
                .get_or_insert(now + duration_ms(m.rebalance_timeout_ms));
            return true;
        }
        false
    }

    /// SyncGroup of a classic member (Kafka's `classicGroupSyncToConsumerGroup`): its
    /// current assignment, encoded in its subscription's version — or
    /// REBALANCE_IN_PROGRESS when the group moved on and the member must rejoin first.
    pub(crate) fn classic_sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        now: Instant,
    ) -> Result<ClassicSyncOutcome, ResponseError> {
        let m = self.classic_member_mut(member_id, instance_id, generation_id)?;
        let id = m.member_id.clone();
        let (name, version) = m
            .classic
            .as_ref()
            .and_then(|c| c.protocols.first())
            .map(|(n, metadata)| (n.clone(), embedded_version(metadata)))
            .unwrap_or_default();
        if protocol_type.is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
            || protocol_name.is_some_and(|n| n != name)
        {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        if self.classic_rebalance_in_progress(&id, now) {
            return Err(ResponseError::RebalanceInProgress);
        }
        let Some(m) = self.members.get_mut(&id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        m.classic_sync_deadline = None;
        if let Some(c) = &m.classic {
            m.session_deadline = now + duration_ms(c.session_timeout_ms);
        }
        Ok(ClassicSyncOutcome {
            protocol_name: name,
            assignment: encode_assignment(&m.assigned, version),
        })
    }

    /// Heartbeat of a classic member (Kafka's `classicGroupHeartbeatToConsumerGroup`):
    /// extends its session; REBALANCE_IN_PROGRESS when it must rejoin — the group epoch
    /// moved past it, it has partitions to revoke, or partitions it waited for are free.
    pub(crate) fn classic_heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        let m = self.classic_member_mut(member_id, instance_id, generation_id)?;
        if let Some(c) = &m.classic {
            m.session_deadline = now + duration_ms(c.session_timeout_ms);
        }
        let id = m.member_id.clone();
        let (state, member_epoch) = (m.state, m.member_epoch);
        let rejoin = self.group_epoch > member_epoch
            || state == MemberState::UnrevokedPartitions
            || (state == MemberState::UnreleasedPartitions
                && !self.waiting_on_unreleased_partition(&id));
        if rejoin {
            if let Some(m) = self.members.get_mut(&id) {
                m.classic_join_deadline
                    .get_or_insert(now + duration_ms(m.rebalance_timeout_ms));
            }
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// The member a classic LeaveGroup identity names (any member, whatever its protocol):
    /// by instance id (FENCED_INSTANCE_ID when a member id names another member) or by
    /// member id.
    pub(crate) fn classic_leaving_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<String, ResponseError> {
        match instance_id {
            Some(instance) if member_id.is_empty() => self
                .static_members
                .get(instance)
                .cloned()
                .ok_or(ResponseError::UnknownMemberId),
            _ => self.classic_member_id(member_id, instance_id),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedPartitions;

    use super::*;
    use crate::group::consumer::{ConsumerGroupState, HeartbeatArgs};

    fn settings() -> ConsumerSettings {
        ConsumerSettings {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: 10,
            assignors: vec!["uniform".into(), "range".into()],
        }
    }

    pub(crate) fn subscription(topics: &[&str], owned: &[(&str, &[i32])], version: i16) -> Bytes {
        let mut s = ConsumerProtocolSubscription::default();
        s.topics = topics
            .iter()
            .map(|t| StrBytes::from_string(t.to_string()))
            .collect();
        s.owned_partitions = owned
            .iter()
            .map(|(t, ps)| {
                let mut tp = OwnedPartitions::default();
                tp.topic = TopicName(StrBytes::from_string(t.to_string()));
                tp.partitions = ps.to_vec();
                tp
            })
            .collect();
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        s.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    fn join_args<'a>(member_id: &'a str, protocols: &'a [(String, Bytes)]) -> ClassicJoinArgs<'a> {
        ClassicJoinArgs {
            member_id,
            instance_id: None,
            client_id: "c",
            client_host: "/h",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 20_000,
            protocol_type: CONSUMER_PROTOCOL_TYPE,
            protocols,
            requires_known_member_id: false,
        }
    }

    fn assignment(list: &[(&str, &[i32])]) -> Assignment {
        list.iter()
            .map(|(t, ps)| (t.to_string(), ps.iter().copied().collect()))
            .collect()
    }

    #[test]
    fn assignment_codec_round_trips_and_flags_user_data() {
        let a = assignment(&[("a", &[0, 2]), ("b", &[1])]);
        for version in 0..=3 {
            let bytes = encode_assignment(&a, version);
            assert_eq!(embedded_version(&bytes), version);
            assert_eq!(decode_assignment(&bytes), Ok((a.clone(), false)));
        }
        let mut with_data = ConsumerProtocolAssignment::default();
        with_data.user_data = Some(Bytes::from_static(b"x"));
        let mut buf = BytesMut::new();
        buf.put_i16(1);
        with_data.encode(&mut buf, 1).unwrap();
        assert_eq!(decode_assignment(&buf), Ok((Assignment::new(), true)));
        assert!(decode_assignment(b"\x00").is_err());
        let s = decode_subscription(&subscription(&["a"], &[("a", &[3])], 1)).unwrap();
        assert_eq!(s.topics, ["a"]);
        assert_eq!(s.owned, assignment(&[("a", &[3])]));
    }

    /// A consumer-protocol member and a classic member share a group: the classic member
    /// learns of the new target by REBALANCE_IN_PROGRESS, revokes by rejoining and gets
    /// its partitions through SyncGroup; the other member only receives partitions the
    /// classic member gave up.
    #[test]
    fn classic_member_reconciles_through_rejoins() {
        let t: BTreeMap<String, i32> = [("a".to_string(), 4)].into();
        let s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        let protocols = vec![("range".to_string(), subscription(&["a"], &[], 1))];
        let r = g
            .classic_join(&join_args("c1", &protocols), &t, &s, now, || unreachable!())
            .unwrap();
        let ClassicJoinOutcome::Joined { generation_id, .. } = r else {
            panic!("{r:?}")
        };
        let sync = g
            .classic_sync(
                "c1",
                None,
                generation_id,
                Some("consumer"),
                Some("range"),
                now,
            )
            .unwrap();
        assert_eq!(
            decode_assignment(&sync.assignment).unwrap().0,
            assignment(&[("a", &[0, 1, 2, 3])])
        );
        assert_eq!(g.classic_heartbeat("c1", None, generation_id, now), Ok(()));
        assert_eq!(
            g.classic_heartbeat("c1", None, generation_id + 1, now),
            Err(ResponseError::IllegalGeneration)
        );
        assert!(g.members["c1"].classic_sync_deadline.is_none());

        // A consumer-protocol member joins: epoch bumped, nothing free for it yet.
        let join = HeartbeatArgs {
            version: 1,
            member_id: "n1".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["a".into()]),
            owned: Some(Assignment::new()),
            ..Default::default()
        };
        let o = g.heartbeat(&join, &t, &s, now, || unreachable!()).unwrap();
        assert_eq!(o.assignment, Some(Assignment::new()));
        assert_eq!(
            g.classic_heartbeat("c1", None, generation_id, now),
            Err(ResponseError::RebalanceInProgress)
        );
        assert!(g.members["c1"].classic_join_deadline.is_some());
        // A sync in the old generation is told to rejoin as well.
        assert_eq!(
            g.classic_sync("c1", None, generation_id, None, None, now),
            Err(ResponseError::RebalanceInProgress)
        );

        // Cooperative rejoin, still owning all four: two are to be revoked; the epoch
        // stays and SyncGroup hands out the two kept.
        let owning_all = vec![(
            "range".to_string(),
            subscription(&["a"], &[("a", &[0, 1, 2, 3])], 1),
        )];
        let r = g
            .classic_join(
                &join_args("c1", &owning_all),
                &t,
                &s,
                now,
                || unreachable!(),
            )
            .unwrap();
        let ClassicJoinOutcome::Joined {
            generation_id: g2, ..
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(g2, generation_id, "revoking keeps the member epoch");
        assert!(g.members["c1"].classic_join_deadline.is_none());
        let kept = decode_assignment(
            &g.classic_sync("c1", None, g2, None, None, now)
                .unwrap()
                .assignment,
        )
        .unwrap()
        .0;
        assert_eq!(kept.values().map(BTreeSet::len).sum::<usize>(), 2);
        assert_eq!(
            g.classic_heartbeat("c1", None, g2, now),
            Err(ResponseError::RebalanceInProgress),
            "the member must rejoin to acknowledge the revocation"
        );
        let n1_epoch = g.members["n1"].member_epoch;
        let hb = HeartbeatArgs {
            version: 1,
            member_id: "n1".into(),
            member_epoch: n1_epoch,
            rebalance_timeout_ms: -1,
            owned: Some(Assignment::new()),
            ..Default::default()
        };
        let o = g.heartbeat(&hb, &t, &s, now, || unreachable!()).unwrap();
        assert_eq!(o.assignment, None, "nothing released yet");

        // Rejoin owning only the kept two: revocation done, at the group's epoch.
        let kept_list: Vec<i32> = kept["a"].iter().copied().collect();
        let owning_kept = vec![(
            "range".to_string(),
            subscription(&["a"], &[("a", &kept_list)], 1),
        )];
        let r = g
            .classic_join(
                &join_args("c1", &owning_kept),
                &t,
                &s,
                now,
                || unreachable!(),
            )
            .unwrap();
        let ClassicJoinOutcome::Joined {
            generation_id: g3, ..
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(g3, g.group_epoch);
        g.classic_sync("c1", None, g3, None, None, now).unwrap();
        assert_eq!(g.classic_heartbeat("c1", None, g3, now), Ok(()));
        let o = g.heartbeat(&hb, &t, &s, now, || unreachable!()).unwrap();
        let got = o.assignment.expect("released partitions");
        assert_eq!(got.values().map(BTreeSet::len).sum::<usize>(), 2);
        assert!(got["a"].is_disjoint(&kept["a"]));
        assert_eq!(g.state(), ConsumerGroupState::Stable);
    }

    #[test]
    fn classic_join_checks_protocols_members_and_size() {
        let t: BTreeMap<String, i32> = [("a".to_string(), 2)].into();
        let mut s = settings();
        let now = Instant::now();
        let mut g = ConsumerGroup::new();
        let range = vec![("range".to_string(), subscription(&["a"], &[], 0))];
        let mut a = join_args("", &range);
        a.requires_known_member_id = true;
        let r = g.classic_join(&a, &t, &s, now, || "given".into()).unwrap();
        assert_eq!(r, ClassicJoinOutcome::MemberIdRequired("given".into()));
        assert!(g.members.is_empty(), "nothing joined yet");
        g.classic_join(&join_args("given", &range), &t, &s, now, || unreachable!())
            .unwrap();
        // Protocols must be shared with the classic members; the type must be "consumer".
        let rr = vec![("roundrobin".to_string(), subscription(&["a"], &[], 0))];
        assert_eq!(
            g.classic_join(&join_args("other", &rr), &t, &s, now, || unreachable!()),
            Err(ResponseError::InconsistentGroupProtocol)
        );
        let mut connect = join_args("other", &range);
        connect.protocol_type = "connect";
        assert_eq!(
            g.classic_join(&connect, &t, &s, now, || unreachable!()),
            Err(ResponseError::InconsistentGroupProtocol)
        );
        let garbage = vec![("range".to_string(), Bytes::from_static(b"\x00\x01\xff"))];
        assert_eq!(
            g.classic_join(
                &join_args("other", &garbage),
                &t,
                &s,
                now,
                || unreachable!()
            ),
            Err(ResponseError::InconsistentGroupProtocol)
        );
        s.max_size = 1;
        assert_eq!(
            g.classic_join(&join_args("other", &range), &t, &s, now, || unreachable!()),
            Err(ResponseError::GroupMaxSizeReached)
        );
        // Sync/Heartbeat/Leave identities.
        assert_eq!(
            g.classic_heartbeat("nobody", None, 1, now),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            g.classic_leaving_member("nobody", None),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(g.classic_leaving_member("given", None), Ok("given".into()));

        // Static members: a new incarnation (no member id) replaces the old one.
        s.max_size = 10;
        let mut st = join_args("", &range);
        st.instance_id = Some("i");
        let r = g.classic_join(&st, &t, &s, now, || "s1".into()).unwrap();
        assert!(matches!(
            r,
            ClassicJoinOutcome::Joined {
                new_member: true,
                ..
            }
        ));
        let r = g.classic_join(&st, &t, &s, now, || "s2".into()).unwrap();
        assert!(matches!(
            r,
            ClassicJoinOutcome::Joined {
                new_member: false,
                ..
            }
        ));
        assert!(!g.members.contains_key("s1") && g.members.contains_key("s2"));
        assert_eq!(
            g.classic_member_id("s1", Some("i")),
            Err(ResponseError::FencedInstanceId)
        );
        assert_eq!(g.classic_leaving_member("", Some("i")), Ok("s2".into()));

        // The instance restarts with the consumer protocol: it replaces the classic member
        // (which never announced leaving) and keeps its partitions.
        let owned_before = g.members["s2"].assigned.clone();
        let join = HeartbeatArgs {
            version: 1,
            member_id: "n1".into(),
            member_epoch: 0,
            instance_id: Some("i".into()),
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["a".into()]),
            owned: Some(Assignment::new()),
            ..Default::default()
        };
        let o = g.heartbeat(&join, &t, &s, now, || unreachable!()).unwrap();
        assert_eq!(o.member_id, "n1");
        assert!(!g.members.contains_key("s2"));
        assert!(!g.members["n1"].uses_classic_protocol());
        assert_eq!(o.assignment, Some(owned_before));
    }
}
