//! Online migration between the classic and the consumer (KIP-848) protocol
//! (`group.consumer.migration.policy`): the first ConsumerGroupHeartbeat into a classic group
//! of consumers converts it to a consumer group that keeps its members (now classic members
//! of the consumer group), their assignments and the generation as group epoch (Kafka's
//! `ConsumerGroup.fromClassicGroup`); when the last consumer-protocol member leaves a group
//! whose other members all speak the classic protocol, it converts back to a classic group
//! holding the target assignment at the group epoch as generation, which then rebalances
//! (Kafka's `ClassicGroup.fromConsumerGroup`). Committed offsets live beside either form and
//! are untouched.
//!
//! Pure decisions and conversions; the coordinators answer parked requests, start timers
//! and append the records.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::classic::{ClassicGroup, GroupState, Member};
use super::consumer::{Assignment, ClassicMemberMetadata, ConsumerGroup, ConsumerMember};
use super::consumer_classic::{
    decode_assignment, decode_subscription, embedded_version, encode_assignment,
    CONSUMER_PROTOCOL_TYPE,
};

/// Kafka's `ConsumerGroupMigrationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MigrationPolicy {
    Bidirectional,
    Upgrade,
    Downgrade,
    Disabled,
}

impl MigrationPolicy {
    /// Case-insensitive; anything else is `Disabled` (as Kafka's `parse`).
    pub(crate) fn parse(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "bidirectional" => Self::Bidirectional,
            "upgrade" => Self::Upgrade,
            "downgrade" => Self::Downgrade,
            _ => Self::Disabled,
        }
    }

    pub(crate) fn upgrade_enabled(self) -> bool {
        matches!(self, Self::Bidirectional | Self::Upgrade)
    }

    pub(crate) fn downgrade_enabled(self) -> bool {
        matches!(self, Self::Bidirectional | Self::Downgrade)
    }
}

impl fmt::Display for MigrationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bidirectional => "bidirectional",
            Self::Upgrade => "upgrade",
            Self::Downgrade => "downgrade",
            Self::Disabled => "disabled",
        })
    }
}

/// Kafka's `validateOnlineUpgrade`: whether a ConsumerGroupHeartbeat may convert this
/// non-empty classic group; the refusal is GROUP_ID_NOT_FOUND with this message.
pub(super) fn validate_online_upgrade(
    group: &ClassicGroup,
    policy: MigrationPolicy,
    consumer_max_size: usize,
) -> Result<(), String> {
    let id = &group.group_id;
    if !policy.upgrade_enabled() {
        return Err(format!(
            "Cannot upgrade classic group {id} to consumer group because online upgrade is disabled."
        ));
    }
    if group.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
        return Err(format!(
            "Cannot upgrade classic group {id} to consumer group because the group does not use the consumer embedded protocol."
        ));
    }
    if group.members.len() > consumer_max_size {
        return Err(format!(
            "Cannot upgrade classic group {id} to consumer group because the group size exceeds the consumer group maximum size."
        ));
    }
    Ok(())
}

/// Client-side assignors every client ships. Their assignment user data is not an assignor's
/// state the server would lose: Java's never set any, and librdkafka's leader copies each
/// member's subscription user data (the sticky assignors' previous assignment) into its
/// assignment; the server-side assignor and, after a downgrade, owned partitions replace it.
const BUILT_IN_ASSIGNORS: &[&str] = &["range", "roundrobin", "sticky", "cooperative-sticky"];

/// Kafka's `ConsumerGroup.fromClassicGroup`: every classic member becomes a classic member
/// of the consumer group at the generation as member epoch, Stable, owning (and targeted
/// at) its last assignment; partitions of topics that no longer exist are dropped. A member
/// whose subscription does not decode, or whose assignment carries user data of an assignor
/// other than the built-in ones, makes the conversion fail (the message explains). Kafka
/// refuses user data of any assignor (KAFKA-18134), which also refuses librdkafka
/// cooperative-sticky groups once they rebalanced; Ironlog converts those.
pub(super) fn consumer_group_from_classic(
    group: &ClassicGroup,
    topics: &BTreeMap<String, i32>,
    default_assignor: &str,
    now: Instant,
) -> Result<ConsumerGroup, String> {
    let id = &group.group_id;
    let generation = group.generation_id;
    let mut cg = ConsumerGroup::at_epoch(generation);
    cg.assignor = default_assignor.to_owned();
    for m in group.members.values() {
        let assigned = if m.assignment.is_empty() {
            Assignment::new()
        } else {
            let (mut assigned, user_data) = decode_assignment(&m.assignment).map_err(|e| {
                format!("Cannot upgrade classic group {id} to consumer group because the embedded consumer protocol is malformed: {e}.")
            })?;
            if user_data
                && !group
                    .protocol_name
                    .as_deref()
                    .is_some_and(|p| BUILT_IN_ASSIGNORS.contains(&p))
            {
                return Err(format!(
                    "Cannot upgrade classic group {id} to consumer group because an unsupported custom assignor is in use. Please refer to the documentation or switch to a default assignor before re-attempting the upgrade."
                ));
            }
            assigned.retain(|topic, ps| {
                let count = topics.get(topic).copied().unwrap_or(0);
                ps.retain(|p| (0..count).contains(p));
                !ps.is_empty()
            });
            assigned
        };
        let metadata = group
            .protocol_name
            .as_deref()
            .and_then(|p| m.metadata_for(p))
            .or_else(|| m.protocols.first().map(|(_, md)| md))
            .cloned()
            .unwrap_or_default();
        let subscription = decode_subscription(&metadata).map_err(|e| {
            format!("Cannot upgrade classic group {id} to consumer group because the embedded consumer protocol is malformed: {e}.")
        })?;
        let mut cm = ConsumerMember::new(
            m.member_id.clone(),
            now + Duration::from_millis(m.session_timeout_ms.max(0) as u64),
        );
        cm.member_epoch = generation;
        cm.previous_member_epoch = generation;
        cm.instance_id = m.group_instance_id.clone();
        cm.rack_id = subscription.rack_id;
        cm.rebalance_timeout_ms = m.rebalance_timeout_ms;
        cm.client_id = m.client_id.clone();
        cm.client_host = m.client_host.clone();
        cm.subscribed_topic_names = subscription.topics.into_iter().collect();
        cm.assigned = assigned.clone();
        cm.classic = Some(ClassicMemberMetadata {
            session_timeout_ms: m.session_timeout_ms,
            protocols: m.protocols.clone(),
        });
        if let Some(instance) = &m.group_instance_id {
            cg.static_members
                .insert(instance.clone(), m.member_id.clone());
        }
        cg.target.insert(m.member_id.clone(), assigned);
        cg.members.insert(m.member_id.clone(), cm);
    }
    // The subscribed topics as they are now, so the next heartbeat does not see a change.
    cg.subscription_metadata = cg
        .subscribed_topics(topics)
        .into_iter()
        .filter_map(|t| topics.get(&t).map(|n| (t, *n)))
        .collect();
    cg.dirty = true;
    Ok(cg)
}

/// Kafka's `validateOnlineDowngrade*`: whether removing `leaving` leaves a non-empty group
/// of classic members only, small enough for a classic group, with downgrades enabled.
pub(super) fn can_downgrade(
    cg: &ConsumerGroup,
    leaving: &BTreeSet<String>,
    policy: MigrationPolicy,
    classic_max_size: usize,
) -> bool {
    let remaining: Vec<&ConsumerMember> = cg
        .members
        .values()
        .filter(|m| !leaving.contains(&m.member_id))
        .collect();
    !remaining.is_empty()
        && remaining.iter().all(|m| m.uses_classic_protocol())
        && policy.downgrade_enabled()
        && remaining.len() <= classic_max_size
}

/// Kafka's `ClassicGroup.fromConsumerGroup`: turns `group` (a consumer group) into a Stable
/// classic group of consumers at the group epoch as generation, with its members but
/// `leaving`, each holding its target assignment encoded in its subscription's version,
/// and the protocol the members vote for. Timers and the rebalance that follows are the
/// coordinator's. Returns false (nothing changed) when `group` is not a consumer group.
pub(super) fn downgrade_to_classic(
    group: &mut ClassicGroup,
    leaving: &BTreeSet<String>,
    now: Instant,
    now_ms: i64,
) -> bool {
    let Some(cg) = group.consumer.take() else {
        return false;
    };
    group.members.clear();
    group.static_members.clear();
    group.pending_members.clear();
    group.pending_sync.clear();
    group.leader_id = None;
    group.initial_delay = None;
    group.generation_id = cg.group_epoch;
    group.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_owned());
    let empty = Assignment::new();
    for m in cg
        .members
        .values()
        .filter(|m| !leaving.contains(&m.member_id))
    {
        let Some(classic) = &m.classic else {
            continue;
        };
        group.add_member(Member {
            member_id: m.member_id.clone(),
            group_instance_id: m.instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            session_timeout_ms: classic.session_timeout_ms,
            protocols: classic.protocols.clone(),
            assignment: bytes::Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            session_deadline: now + Duration::from_millis(classic.session_timeout_ms.max(0) as u64),
            is_new: false,
        });
    }
    group.protocol_name = group.select_protocol();
    let protocol = group.protocol_name.clone().unwrap_or_default();
    for m in group.members.values_mut() {
        let version = m
            .metadata_for(&protocol)
            .map_or(0, |md| embedded_version(md));
        m.assignment = encode_assignment(cg.target.get(&m.member_id).unwrap_or(&empty), version);
    }
    group.transition(GroupState::Stable, now_ms);
    true
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::group::consumer::{ConsumerSettings, HeartbeatArgs, MemberState};
    use crate::group::consumer_classic::tests::subscription;

    fn classic_member(id: &str, protocols: Vec<(String, Bytes)>, assignment: Bytes) -> Member {
        Member {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/h".into(),
            rebalance_timeout_ms: 20_000,
            session_timeout_ms: 10_000,
            protocols,
            assignment,
            join_waiter: None,
            sync_waiter: None,
            session_deadline: Instant::now(),
            is_new: false,
        }
    }

    fn assignment(list: &[(&str, &[i32])]) -> Assignment {
        list.iter()
            .map(|(t, ps)| (t.to_string(), ps.iter().copied().collect()))
            .collect()
    }

    #[test]
    fn policy_parses_like_kafka() {
        assert_eq!(
            MigrationPolicy::parse("BIDIRECTIONAL"),
            MigrationPolicy::Bidirectional
        );
        assert_eq!(MigrationPolicy::parse("upgrade"), MigrationPolicy::Upgrade);
        assert_eq!(
            MigrationPolicy::parse("sideways"),
            MigrationPolicy::Disabled
        );
        assert!(MigrationPolicy::Upgrade.upgrade_enabled());
        assert!(!MigrationPolicy::Upgrade.downgrade_enabled());
        assert!(MigrationPolicy::Downgrade.downgrade_enabled());
        assert!(!MigrationPolicy::Disabled.upgrade_enabled());
    }

    fn stable_classic_group() -> ClassicGroup {
        let mut g = ClassicGroup::new("g".into(), 1, 0);
        g.protocol_type = Some("consumer".into());
        g.protocol_name = Some("roundrobin".into());
        g.generation_id = 7;
        let sub = subscription(&["a"], &[], 1);
        for (id, ps) in [("c1", [0, 2]), ("c2", [1, 3])] {
            g.add_member(classic_member(
                id,
                vec![
                    ("range".into(), sub.clone()),
                    ("roundrobin".into(), sub.clone()),
                ],
                encode_assignment(&assignment(&[("a", &ps), ("gone", &[0])]), 1),
            ));
        }
        g.state = GroupState::Stable;
        g
    }

    #[test]
    fn upgrade_keeps_members_assignments_and_generation_and_downgrade_comes_back() {
        let topics: BTreeMap<String, i32> = [("a".to_string(), 4)].into();
        let mut g = stable_classic_group();
        assert!(validate_online_upgrade(&g, MigrationPolicy::Bidirectional, 10).is_ok());
        assert!(validate_online_upgrade(&g, MigrationPolicy::Downgrade, 10).is_err());
        assert!(validate_online_upgrade(&g, MigrationPolicy::Upgrade, 1).is_err());
        let now = Instant::now();
        let cg = consumer_group_from_classic(&g, &topics, "uniform", now).unwrap();
        assert_eq!((cg.group_epoch, cg.assignment_epoch), (7, 7));
        let c1 = &cg.members["c1"];
        assert_eq!(c1.member_epoch, 7);
        assert_eq!(c1.state, MemberState::Stable);
        assert_eq!(
            c1.assigned,
            assignment(&[("a", &[0, 2])]),
            "unknown topic dropped"
        );
        assert_eq!(cg.target["c2"], assignment(&[("a", &[1, 3])]));
        assert!(c1.uses_classic_protocol());
        assert_eq!(c1.subscribed_topic_names, ["a".to_string()].into());
        assert_eq!(cg.subscription_metadata, topics);
        // Offsets are validated against member epochs now: a classic member's generation.
        assert_eq!(cg.validate_offset_commit("c1", None, 7, false, 8), Ok(()));
        assert_eq!(
            cg.validate_offset_commit("c1", None, 6, false, 8),
            Err(crate::error::ResponseError::IllegalGeneration)
        );

        // A consumer-protocol member joins and leaves again: the classic members remain.
        g.members.clear();
        g.consumer = Some(cg);
        let settings = ConsumerSettings {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: 10,
            assignors: vec!["uniform".into()],
        };
        let cg = g.consumer.as_mut().unwrap();
        let join = HeartbeatArgs {
            version: 1,
            member_id: "n1".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["a".into()]),
            owned: Some(Assignment::new()),
            ..Default::default()
        };
        cg.heartbeat(&join, &topics, &settings, now, || unreachable!())
            .unwrap();
        let leaving: BTreeSet<String> = ["n1".to_string()].into();
        assert!(!can_downgrade(
            cg,
            &BTreeSet::new(),
            MigrationPolicy::Bidirectional,
            10
        ));
        assert!(can_downgrade(
            cg,
            &leaving,
            MigrationPolicy::Bidirectional,
            10
        ));
        assert!(!can_downgrade(cg, &leaving, MigrationPolicy::Upgrade, 10));
        assert!(!can_downgrade(
            cg,
            &leaving,
            MigrationPolicy::Bidirectional,
            1
        ));
        let epoch = cg.group_epoch;
        let targets: BTreeMap<String, Assignment> = cg.target.clone();
        assert!(downgrade_to_classic(&mut g, &leaving, now, 5));
        assert!(g.consumer.is_none());
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.generation_id, epoch);
        assert_eq!(g.protocol_type.as_deref(), Some("consumer"));
        assert_eq!(
            g.members.keys().cloned().collect::<Vec<_>>(),
            ["c1", "c2"],
            "the leaving member is not carried over"
        );
        assert!(g.protocol_name.is_some());
        for (id, m) in &g.members {
            assert_eq!(decode_assignment(&m.assignment).unwrap().0, targets[id]);
        }
        assert!(
            !downgrade_to_classic(&mut g, &leaving, now, 5),
            "already classic"
        );
    }

    #[test]
    fn upgrade_refuses_custom_assignor_state_and_non_consumer_groups() {
        use bytes::BufMut;
        use kafka_protocol::messages::ConsumerProtocolAssignment;
        use kafka_protocol::protocol::Encodable;
        let topics: BTreeMap<String, i32> = [("a".to_string(), 4)].into();
        let mut g = stable_classic_group();
        let mut custom = ConsumerProtocolAssignment::default();
        custom.user_data = Some(Bytes::from_static(b"state"));
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(1);
        custom.encode(&mut buf, 1).unwrap();
        g.members.get_mut("c1").unwrap().assignment = buf.freeze();
        // A built-in assignor's user data (librdkafka's sticky assignors echo it) is not
        // lost state; a custom assignor's is.
        assert!(consumer_group_from_classic(&g, &topics, "uniform", Instant::now()).is_ok());
        g.protocol_name = Some("my-assignor".into());
        for m in g.members.values_mut() {
            m.protocols
                .push(("my-assignor".into(), subscription(&["a"], &[], 1)));
        }
        let e = consumer_group_from_classic(&g, &topics, "uniform", Instant::now()).unwrap_err();
        assert!(e.contains("custom assignor"), "{e}");
        g.protocol_type = Some("connect".into());
        assert!(
            validate_online_upgrade(&g, MigrationPolicy::Bidirectional, 10)
                .unwrap_err()
                .contains("embedded protocol")
        );
    }
}
