//! `plan`: the roller's decision, pure. Given what the API server and the brokers say
//! ([`RollModel`]), the next step of a roll ([`RollAction`]): restart one pod (and why),
//! wait (a restart is still under way), blocked (a restart now would cost availability;
//! the reason names what), or done.
//!
//! The rules (issue 15), in the order they are applied:
//! 1. one at a time: while a pod is terminating, missing (its StatefulSet has not made it
//!    again yet) or the last restarted node has not rejoined — ready, registered, every
//!    partition it holds back in its ISR, caught up in the quorum — nothing else restarts
//!    (unless that node itself still needs a restart: a bad config is fixed by another one).
//!    Nor does a ready pod restart while any other node has not rejoined, whoever
//!    restarted it: the last restart the roller remembers may be stale;
//! 2. unready and stuck pods go first (they serve nothing now), the active controller
//!    goes last (only once no other pod needs a restart: its restart moves the quorum's
//!    leadership, once);
//! 3. a broker is never restarted while it is in an ISR of exactly `min.insync.replicas`
//!    (or fewer) of a partition: acks=all writes to it would fail. A partition whose
//!    replication factor is at most its `min.insync.replicas` cannot stay writable through
//!    any restart and does not block (otherwise no roll could ever finish);
//! 4. a controller is restarted only while the quorum keeps a caught-up majority of its
//!    voters without it (a quorum of one or two voters cannot, and does not block).
//!
//! When every candidate is blocked the action carries the first one's reason (in the
//! order of rule 2); the executor reports it in the `Rolling` condition and retries.

use std::collections::BTreeSet;
use std::fmt;

/// A node's pod as the roller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodState {
    pub name: String,
    pub pool: String,
    pub ordinal: i32,
    pub node_id: i32,
    pub is_broker: bool,
    pub is_controller: bool,
    /// The pod object exists (the StatefulSet made it).
    pub exists: bool,
    /// The pod is being deleted.
    pub terminating: bool,
    pub ready: bool,
    /// Crash-looping or failing to start: it serves nothing, restarting it costs nothing.
    pub stuck: bool,
    /// Why the pod runs something other than what it should (`None`: up to date).
    pub restart: Option<RestartReason>,
}

/// Why a pod needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartReason {
    /// Its pod template (image, resources, the static config's hash) changed.
    TemplateChanged { from: String, to: String },
    /// The `ironlog.dev/roll=true` annotation on the pod (or, stamped from it, on the
    /// KafkaCluster).
    Annotated,
}

impl fmt::Display for RestartReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartReason::TemplateChanged { from, to } => {
                write!(f, "its pod template changed (revision {from} → {to})")
            }
            RestartReason::Annotated => write!(f, "a restart was requested by annotation"),
        }
    }
}

/// A partition as the brokers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The topic's effective `min.insync.replicas`.
    pub min_isr: i32,
}

impl PartitionState {
    fn name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

/// One voter of the metadata quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voter {
    pub node_id: i32,
    pub caught_up: bool,
}

/// The metadata quorum as DescribeQuorum describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumState {
    pub voters: Vec<Voter>,
    /// The active controller (the quorum's leader), when there is one.
    pub leader: Option<i32>,
}

impl QuorumState {
    /// Voters needed for a majority.
    pub fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Caught-up voters other than `node_id`.
    pub fn caught_up_without(&self, node_id: i32) -> usize {
        self.voters
            .iter()
            .filter(|v| v.caught_up && v.node_id != node_id)
            .count()
    }

    /// Whether any voter's restart can keep a majority (not with one or two voters: such
    /// a quorum pauses through every restart, and refusing would make no roll finish).
    pub fn survives_a_restart(&self) -> bool {
        self.voters.len() > self.majority()
    }

    fn is_caught_up(&self, node_id: i32) -> bool {
        self.voters
            .iter()
            .any(|v| v.node_id == node_id && v.caught_up)
    }
}

/// What the roller knows about a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollModel {
    pub pods: Vec<PodState>,
    pub partitions: Vec<PartitionState>,
    pub quorum: QuorumState,
    /// The brokers registered and unfenced (Metadata's broker list).
    pub live_brokers: BTreeSet<i32>,
    /// The pod the roller restarted last, until it has rejoined.
    pub last_restarted: Option<String>,
}

/// The roller's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollAction {
    /// Delete this pod (its StatefulSet makes it again from the current template).
    Restart { pod: String, reason: String },
    /// A restart is under way; look again soon.
    Wait { reason: String },
    /// Every pod that needs a restart would cost availability now.
    Blocked { reason: String },
    /// Every pod runs what it should.
    Done,
}

impl RollModel {
    fn pod(&self, name: &str) -> Option<&PodState> {
        self.pods.iter().find(|p| p.name == name)
    }

    /// Pods that still need a restart.
    pub fn pending(&self) -> Vec<&PodState> {
        self.pods.iter().filter(|p| p.restart.is_some()).collect()
    }

    /// Why `pod` has not rejoined yet (`None`: it has).
    fn not_rejoined(&self, pod: &PodState) -> Option<String> {
        let who = describe(pod);
        if !pod.exists || pod.terminating {
            return Some(format!("{who} is restarting"));
        }
        if !pod.ready {
            return Some(format!("{who} is not ready yet"));
        }
        if pod.is_broker {
            if !self.live_brokers.contains(&pod.node_id) {
                return Some(format!("{who} has not registered with the controller yet"));
            }
            let behind: Vec<String> = self
                .partitions
                .iter()
                .filter(|p| p.replicas.contains(&pod.node_id) && !p.isr.contains(&pod.node_id))
                .map(PartitionState::name)
                .collect();
            if !behind.is_empty() {
                return Some(format!(
                    "{who} is not back in the ISR of {}",
                    list(&behind, 5)
                ));
            }
        }
        if pod.is_controller && !self.quorum.is_caught_up(pod.node_id) {
            return Some(format!("{who} has not caught up with the metadata quorum"));
        }
        None
    }

    /// Why restarting `pod` now would cost availability (`None`: it would not).
    pub fn unsafe_to_restart(&self, pod: &PodState) -> Option<String> {
        let who = describe(pod);
        if pod.is_broker {
            for p in &self.partitions {
                if !p.isr.contains(&pod.node_id) {
                    continue;
                }
                // a partition no restart can keep writable does not block the roll
                if p.replicas.len() <= p.min_isr.max(0) as usize {
                    continue;
                }
                if p.isr.len() <= p.min_isr.max(0) as usize {
                    return Some(format!(
                        "partition {} has ISR {:?} {} min.insync.replicas {}; restarting {who} would make it unavailable",
                        p.name(),
                        p.isr,
                        if p.isr.len() as i32 == p.min_isr { "=" } else { "<" },
                        p.min_isr
                    ));
                }
            }
        }
        if pod.is_controller
            && self.quorum.survives_a_restart()
            && self.quorum.voters.iter().any(|v| v.node_id == pod.node_id)
        {
            let left = self.quorum.caught_up_without(pod.node_id);
            let majority = self.quorum.majority();
            if left < majority {
                return Some(format!(
                    "the metadata quorum would keep {left} caught-up voter(s) of {} without {who}, fewer than the majority of {majority}",
                    self.quorum.voters.len()
                ));
            }
        }
        None
    }

    /// The order candidates are tried in: unready and stuck first, the active controller
    /// last, then by pool and ordinal.
    fn ordered_candidates(&self) -> Vec<&PodState> {
        let mut candidates = self.pending();
        let leader = self.quorum.leader;
        candidates.sort_by_key(|p| {
            (
                p.ready && !p.stuck,
                p.is_controller && Some(p.node_id) == leader,
                p.pool.clone(),
                p.ordinal,
            )
        });
        candidates
    }
}

fn describe(pod: &PodState) -> String {
    let role = if pod.is_broker {
        "broker"
    } else {
        "controller"
    };
    format!("{role} {} (pod {})", pod.node_id, pod.name)
}

fn list(items: &[String], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!("{} and {} more", items[..max].join(", "), items.len() - max)
    }
}

/// The next step of the roll of `model`.
pub fn next_action(model: &RollModel) -> RollAction {
    // one at a time: a restart under way finishes first
    if let Some(pod) = model.pods.iter().find(|p| p.terminating || !p.exists) {
        return RollAction::Wait {
            reason: format!("{} is restarting", describe(pod)),
        };
    }
    if let Some(pod) = model
        .last_restarted
        .as_deref()
        .and_then(|name| model.pod(name))
        .filter(|p| p.restart.is_none())
    {
        if let Some(reason) = model.not_rejoined(pod) {
            return RollAction::Wait {
                reason: format!("waiting for the last restart: {reason}"),
            };
        }
    }
    let candidates = model.ordered_candidates();
    if candidates.is_empty() {
        return RollAction::Done;
    }
    let leader = model.quorum.leader;
    let others_pending = candidates
        .iter()
        .any(|p| !(p.is_controller && Some(p.node_id) == leader));
    let mut first_refusal = None;
    let mut waiting_for = None;
    for pod in &candidates {
        // the active controller goes last: its restart moves the quorum's leadership
        if others_pending && pod.is_controller && Some(pod.node_id) == leader {
            continue;
        }
        let reason = pod
            .restart
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let state = if pod.stuck {
            " (stuck)"
        } else if !pod.ready {
            " (not ready)"
        } else {
            ""
        };
        if let Some(refusal) = model.unsafe_to_restart(pod) {
            first_refusal.get_or_insert(refusal);
            continue;
        }
        // a pod that serves now restarts only while every other node serves too: the
        // roller's memory of its last restart may be stale (or lost with the operator),
        // the brokers' and the API server's view is not
        if pod.ready && !pod.stuck {
            if let Some(reason) = model
                .pods
                .iter()
                .filter(|other| other.name != pod.name)
                .find_map(|other| model.not_rejoined(other))
            {
                waiting_for.get_or_insert(reason);
                continue;
            }
        }
        return RollAction::Restart {
            pod: pod.name.clone(),
            reason: format!("{}{state}: {reason}", describe(pod)),
        };
    }
    match (first_refusal, waiting_for) {
        (None, Some(reason)) => RollAction::Wait {
            reason: format!("waiting for every node to serve: {reason}"),
        },
        (refusal, _) => RollAction::Blocked {
            reason: refusal.unwrap_or_default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pod(node_id: i32) -> PodState {
        PodState {
            name: format!("c-combined-{node_id}"),
            pool: "combined".to_string(),
            ordinal: node_id,
            node_id,
            is_broker: true,
            is_controller: true,
            exists: true,
            terminating: false,
            ready: true,
            stuck: false,
            restart: Some(RestartReason::TemplateChanged {
                from: "a".into(),
                to: "b".into(),
            }),
        }
    }

    fn partition(topic: &str, replicas: &[i32], isr: &[i32], min_isr: i32) -> PartitionState {
        PartitionState {
            topic: topic.to_string(),
            partition: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            min_isr,
        }
    }

    /// Three combined nodes, all in sync, node 0 the active controller, all to restart.
    fn three() -> RollModel {
        RollModel {
            pods: (0..3).map(pod).collect(),
            partitions: vec![partition("t", &[0, 1, 2], &[0, 1, 2], 2)],
            quorum: QuorumState {
                voters: (0..3)
                    .map(|node_id| Voter {
                        node_id,
                        caught_up: true,
                    })
                    .collect(),
                leader: Some(0),
            },
            live_brokers: BTreeSet::from([0, 1, 2]),
            last_restarted: None,
        }
    }

    fn restarted(action: &RollAction) -> &str {
        match action {
            RollAction::Restart { pod, .. } => pod,
            other => panic!("expected a restart, got {other:?}"),
        }
    }

    #[test]
    fn nothing_to_restart_is_done() {
        let mut m = three();
        for p in &mut m.pods {
            p.restart = None;
        }
        assert_eq!(next_action(&m), RollAction::Done);
    }

    #[test]
    fn the_active_controller_goes_last() {
        let m = three();
        assert_eq!(restarted(&next_action(&m)), "c-combined-1");
        let mut m = three();
        m.pods[1].restart = None;
        m.pods[2].restart = None;
        assert_eq!(
            restarted(&next_action(&m)),
            "c-combined-0",
            "alone, the leader is restarted"
        );
    }

    #[test]
    fn the_active_controller_waits_even_when_the_others_are_blocked() {
        let mut m = three();
        // 1 and 2 are each in an ISR of exactly min.isr; 0 is not in that ISR
        m.partitions = vec![partition("t", &[0, 1, 2], &[1, 2], 2)];
        match next_action(&m) {
            RollAction::Blocked { reason } => assert_eq!(
                reason,
                "partition t-0 has ISR [1, 2] = min.insync.replicas 2; restarting broker 1 (pod c-combined-1) would make it unavailable"
            ),
            other => panic!("expected blocked, got {other:?}"),
        }
    }

    #[test]
    fn unready_and_stuck_pods_go_first() {
        let mut m = three();
        m.pods[2].ready = false;
        m.partitions = vec![partition("t", &[0, 1, 2], &[0, 1], 2)];
        m.quorum.voters[2].caught_up = false;
        let action = next_action(&m);
        assert_eq!(restarted(&action), "c-combined-2");
        let RollAction::Restart { reason, .. } = action else {
            unreachable!()
        };
        assert!(reason.contains("not ready"), "{reason}");

        let mut m = three();
        m.pods[2].stuck = true;
        assert_eq!(restarted(&next_action(&m)), "c-combined-2");
    }

    #[test]
    fn a_broker_in_an_isr_of_exactly_min_isr_is_not_restarted() {
        let mut m = three();
        m.pods[0].restart = None;
        m.pods[2].restart = None;
        m.partitions = vec![
            partition("ok", &[0, 1, 2], &[0, 1, 2], 2),
            partition("t", &[0, 1, 2], &[1, 2], 2),
        ];
        assert!(matches!(next_action(&m), RollAction::Blocked { .. }));
        // below min.isr blocks too
        m.partitions = vec![partition("t", &[0, 1, 2], &[1], 2)];
        match next_action(&m) {
            RollAction::Blocked { reason } => {
                assert!(
                    reason.contains("ISR [1] < min.insync.replicas 2"),
                    "{reason}"
                )
            }
            other => panic!("expected blocked, got {other:?}"),
        }
        // not in the ISR: restarting it changes nothing for that partition
        m.partitions = vec![partition("t", &[0, 1, 2], &[0, 2], 2)];
        assert_eq!(restarted(&next_action(&m)), "c-combined-1");
    }

    #[test]
    fn a_partition_no_restart_can_keep_writable_does_not_block() {
        let mut m = three();
        m.partitions = vec![partition("single", &[1], &[1], 1)];
        assert_eq!(restarted(&next_action(&m)), "c-combined-1");
    }

    #[test]
    fn the_quorum_keeps_a_caught_up_majority() {
        let mut m = three();
        m.pods[0].restart = None;
        m.quorum.voters[2].caught_up = false;
        // 1 is the only other caught-up follower: without it, 1 of 3 is left
        m.pods[2].restart = None;
        match next_action(&m) {
            RollAction::Blocked { reason } => assert!(
                reason.contains("metadata quorum would keep 1 caught-up voter(s) of 3"),
                "{reason}"
            ),
            other => panic!("expected blocked, got {other:?}"),
        }
        // a broker-only node is no voter: the quorum does not hold it back (voters 3 and 4
        // lag, but are no pods of this model: a lagging pod would be waited for)
        m.pods[1].is_controller = false;
        m.quorum.voters = vec![
            Voter {
                node_id: 0,
                caught_up: true,
            },
            Voter {
                node_id: 3,
                caught_up: false,
            },
            Voter {
                node_id: 4,
                caught_up: false,
            },
        ];
        m.pods[2].is_controller = false;
        assert_eq!(restarted(&next_action(&m)), "c-combined-1");
    }

    #[test]
    fn one_at_a_time_and_the_last_one_rejoins_first() {
        let mut m = three();
        m.pods[1].terminating = true;
        assert!(matches!(next_action(&m), RollAction::Wait { .. }));
        m.pods[1].terminating = false;
        m.pods[1].exists = false;
        assert!(matches!(next_action(&m), RollAction::Wait { .. }));

        // 1 came back with the new template but is not back in the ISR
        let mut m = three();
        m.pods[1].restart = None;
        m.last_restarted = Some("c-combined-1".into());
        m.partitions = vec![partition("t", &[0, 1, 2], &[0, 2], 2)];
        match next_action(&m) {
            RollAction::Wait { reason } => {
                assert!(reason.contains("not back in the ISR of t-0"), "{reason}")
            }
            other => panic!("expected a wait, got {other:?}"),
        }
        m.partitions = vec![partition("t", &[0, 1, 2], &[0, 1, 2], 2)];
        m.live_brokers.remove(&1);
        assert!(matches!(next_action(&m), RollAction::Wait { .. }));
        m.live_brokers.insert(1);
        m.quorum.voters[1].caught_up = false;
        assert!(matches!(next_action(&m), RollAction::Wait { .. }));
        m.quorum.voters[1].caught_up = true;
        assert_eq!(restarted(&next_action(&m)), "c-combined-2");
    }

    #[test]
    fn a_last_restarted_pod_that_still_needs_a_restart_is_not_waited_for() {
        // its new config was bad and was fixed again: waiting for it would wait forever
        let mut m = three();
        m.last_restarted = Some("c-combined-1".into());
        m.pods[1].ready = false;
        m.pods[1].stuck = true;
        m.quorum.voters[1].caught_up = false;
        m.partitions = vec![partition("t", &[0, 1, 2], &[0, 2], 2)];
        assert_eq!(restarted(&next_action(&m)), "c-combined-1");
    }

    #[test]
    fn a_serving_pod_waits_while_another_node_has_not_rejoined() {
        // the roller's memory names an older restart (a stale status): the API server
        // and the brokers still show node 1 coming back
        let mut m = three();
        m.last_restarted = Some("c-combined-0".into());
        m.pods[0].restart = None;
        m.pods[1].restart = None;
        m.pods[1].ready = false;
        match next_action(&m) {
            RollAction::Wait { reason } => {
                assert!(reason.contains("c-combined-1"), "{reason}")
            }
            other => panic!("expected a wait, got {other:?}"),
        }
        // ready again but not yet back in an ISR
        m.pods[1].ready = true;
        m.partitions = vec![partition("t", &[0, 1, 2], &[0, 2], 1)];
        assert!(matches!(next_action(&m), RollAction::Wait { .. }));
        m.partitions = vec![partition("t", &[0, 1, 2], &[0, 1, 2], 1)];
        assert_eq!(restarted(&next_action(&m)), "c-combined-2");
        // an unready pod that needs a restart still goes, whatever else is down
        m.pods[1].ready = false;
        m.pods[2].ready = false;
        assert_eq!(restarted(&next_action(&m)), "c-combined-2");
    }

    /// A random cluster: 1–7 combined or broker-only nodes, some to restart, some unready,
    /// partitions with random ISRs and min.isr, a quorum with random caught-up voters.
    fn cluster() -> impl Strategy<Value = RollModel> {
        (1usize..8)
            .prop_flat_map(|nodes| {
                let pods = prop::collection::vec(
                    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
                    nodes,
                );
                let partitions = prop::collection::vec(
                    (
                        prop::sample::subsequence((0..nodes as i32).collect::<Vec<_>>(), 1..=nodes),
                        prop::collection::vec(any::<bool>(), nodes),
                        1i32..4,
                    ),
                    0..12,
                );
                (pods, partitions, 0..nodes as i32, any::<bool>())
            })
            .prop_map(|(pods, partitions, leader, has_leader)| {
                let caught_up: Vec<bool> = pods.iter().map(|p| p.3).collect();
                let pods: Vec<PodState> = pods
                    .into_iter()
                    .enumerate()
                    .map(|(i, (controller, ready, restart, _))| {
                        let mut p = pod(i as i32);
                        p.is_controller = controller || i == 0;
                        p.ready = ready;
                        if !restart {
                            p.restart = None;
                        }
                        p
                    })
                    .collect();
                let voters = pods
                    .iter()
                    .filter(|p| p.is_controller)
                    .map(|p| Voter {
                        node_id: p.node_id,
                        caught_up: caught_up[p.node_id as usize],
                    })
                    .collect();
                let partitions = partitions
                    .into_iter()
                    .enumerate()
                    .map(|(i, (replicas, in_isr, min_isr))| {
                        let isr = replicas
                            .iter()
                            .copied()
                            .filter(|r| in_isr[*r as usize])
                            .collect();
                        PartitionState {
                            topic: format!("t{i}"),
                            partition: 0,
                            replicas,
                            isr,
                            min_isr,
                        }
                    })
                    .collect();
                RollModel {
                    live_brokers: pods.iter().map(|p| p.node_id).collect(),
                    pods,
                    partitions,
                    quorum: QuorumState {
                        voters,
                        leader: has_leader.then_some(leader),
                    },
                    last_restarted: None,
                }
            })
    }

    proptest! {
        #[test]
        fn a_planned_restart_never_takes_a_partition_below_min_isr_nor_the_quorum_below_majority(
            m in cluster()
        ) {
            if let RollAction::Restart { pod, .. } = next_action(&m) {
                let node = m.pod(&pod).expect("the pod is in the model");
                prop_assert!(node.restart.is_some(), "only pods that need it restart");
                for p in &m.partitions {
                    let writable_through_a_restart = p.replicas.len() as i32 > p.min_isr;
                    let left = p.isr.iter().filter(|&&r| r != node.node_id).count() as i32;
                    if writable_through_a_restart && p.isr.contains(&node.node_id) {
                        prop_assert!(
                            left >= p.min_isr,
                            "restarting {} leaves {:?} with {} in sync, min.isr {}",
                            node.node_id, p, left, p.min_isr
                        );
                    }
                }
                if m.quorum.survives_a_restart()
                    && m.quorum.voters.iter().any(|v| v.node_id == node.node_id)
                {
                    prop_assert!(
                        m.quorum.caught_up_without(node.node_id) >= m.quorum.majority(),
                        "restarting voter {} leaves no caught-up majority: {:?}",
                        node.node_id, m.quorum
                    );
                }
                let leader_pending_with_others = m.quorum.leader == Some(node.node_id)
                    && node.is_controller
                    && m.pending().iter().any(|p| p.node_id != node.node_id);
                prop_assert!(!leader_pending_with_others, "the active controller goes last");
                if node.ready && !node.stuck {
                    for other in m.pods.iter().filter(|o| o.name != node.name) {
                        prop_assert!(
                            m.not_rejoined(other).is_none(),
                            "restarted serving {} while {:?} had not rejoined", node.name, other
                        );
                    }
                }
            }
        }

        #[test]
        fn a_roll_in_progress_never_restarts_a_second_pod(m in cluster(), busy in 0usize..8) {
            let mut m = m;
            let busy = busy % m.pods.len();
            m.pods[busy].terminating = true;
            let action = next_action(&m);
            prop_assert!(matches!(action, RollAction::Wait { .. }), "got {:?}", action);
        }
    }
}
