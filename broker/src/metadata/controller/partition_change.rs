//! `PartitionChangeBuilder`: the one place a partition's next replicas, ISR, eligible
//! leader replicas (KIP-966), reassignment state and leader are worked out from targets
//! (Kafka's `PartitionChangeBuilder`). Reassignment, leader elections, fencing and
//! AlterPartition describe what they want; [`PartitionChangeBuilder::build`] then
//!
//! 1. completes a reassignment in progress once the target ISR holds every replica that
//!    stays (the removing replicas leave replicas and ISR, adding/removing are cleared);
//! 2. works out the ELR: while the target ISR is below the topic's (effective)
//!    `min.insync.replicas`, the members of the current ISR and ELR outside the target ISR
//!    (the high watermark does not advance below min ISR, so every one of them holds all
//!    committed records); at or above it the ELR is empty;
//! 3. elects a leader: the current one while it is in the target ISR and unfenced, else
//!    the first such replica in replica order; when no ISR member is unfenced, the first
//!    unfenced ELR member (a clean election: it becomes the ISR, the old ISR members join
//!    the ELR); PREFERRED tries the first replica before that; UNCLEAN falls back to any
//!    unfenced replica outside ISR and ELR (its ISR becomes just that replica, the ELR is
//!    cleared). Where nobody can lead, a leader still in the replica set keeps leading
//!    (Ironlog's convention: clients see no leader while it is fenced, and the ISR keeps
//!    its last member), one leaving it leaves `-1`;
//! 4. bumps the leader epoch when a replica leaves the replica set, so the leader's
//!    followers restart at an epoch that knows the new set;
//! 5. keeps the last known ELR: the leader a partition is left with while nobody can
//!    lead (Kafka's last-known-leader form of it), cleared once a live replica leads;
//! 6. writes only what differs, and nothing when nothing does.

use uuid::Uuid;

use crate::metadata::image::PartitionRegistration;
use crate::metadata::records::{MetadataRecord, NO_LEADER};

/// How a leader is chosen (Kafka's `PartitionChangeBuilder.Election`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Election {
    /// Keep a valid leader, else the first valid replica.
    Online,
    /// The first replica if it is valid, else as `Online`.
    Preferred,
    /// As `Online`, then any unfenced replica even outside the ISR.
    Unclean,
}

/// A leader election's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Elected {
    leader: i32,
    unclean: bool,
}

pub(crate) struct PartitionChangeBuilder<'a> {
    topic_id: Uuid,
    partition: i32,
    current: &'a PartitionRegistration,
    is_acceptable_leader: &'a dyn Fn(i32) -> bool,
    election: Election,
    target_isr: Vec<i32>,
    target_replicas: Vec<i32>,
    target_adding: Vec<i32>,
    target_removing: Vec<i32>,
    target_elr: Vec<i32>,
    /// The topic's `min.insync.replicas`, capped at the replication factor.
    min_isr: usize,
}

impl<'a> PartitionChangeBuilder<'a> {
    /// A builder whose targets are the partition as it is; `is_acceptable_leader` says
    /// which brokers may lead (registered and unfenced); `min_isr` is the topic's
    /// `min.insync.replicas` (capped at the replication factor here).
    pub(crate) fn new(
        topic_id: Uuid,
        partition: i32,
        current: &'a PartitionRegistration,
        is_acceptable_leader: &'a dyn Fn(i32) -> bool,
        min_isr: i32,
    ) -> Self {
        let min_isr = usize::try_from(min_isr.max(1))
            .unwrap_or(1)
            .min(current.replicas.len().max(1));
        Self {
            topic_id,
            partition,
            current,
            is_acceptable_leader,
            election: Election::Online,
            target_isr: current.isr.clone(),
            target_replicas: current.replicas.clone(),
            target_adding: current.adding_replicas.clone(),
            target_removing: current.removing_replicas.clone(),
            target_elr: current.elr.clone(),
            min_isr,
        }
    }

    pub(crate) fn election(mut self, election: Election) -> Self {
        self.election = election;
        self
    }

    pub(crate) fn target_isr(mut self, isr: Vec<i32>) -> Self {
        self.target_isr = isr;
        self
    }

    pub(crate) fn target_replicas(mut self, replicas: Vec<i32>) -> Self {
        self.target_replicas = replicas;
        self
    }

    pub(crate) fn target_adding(mut self, adding: Vec<i32>) -> Self {
        self.target_adding = adding;
        self
    }

    pub(crate) fn target_removing(mut self, removing: Vec<i32>) -> Self {
        self.target_removing = removing;
        self
    }

    /// Kafka's `maybeCompleteReassignment`.
    fn complete_reassignment_if_needed(&mut self) {
        if self.target_adding.is_empty() && self.target_removing.is_empty() {
            return;
        }
        let removing = &self.target_removing;
        let isr: Vec<i32> = self
            .target_isr
            .iter()
            .copied()
            .filter(|r| !removing.contains(r))
            .collect();
        let replicas: Vec<i32> = self
            .target_replicas
            .iter()
            .copied()
            .filter(|r| !removing.contains(r))
            .collect();
        if isr.is_empty() || replicas.is_empty() || !replicas.iter().all(|r| isr.contains(r)) {
            return;
        }
        self.target_isr = isr;
        self.target_replicas = replicas;
        self.target_adding.clear();
        self.target_removing.clear();
    }

    /// Kafka's `maybePopulateTargetElr`: below min ISR, whoever leaves the ISR (or was in
    /// the ELR and does not rejoin the ISR) is eligible; at or above it, nobody needs to be.
    fn populate_target_elr(&mut self) {
        if self.target_isr.len() >= self.min_isr {
            self.target_elr.clear();
            return;
        }
        let candidates: Vec<i32> = self
            .target_replicas
            .iter()
            .copied()
            .filter(|r| self.target_elr.contains(r) || self.current.isr.contains(r))
            .filter(|r| !self.target_isr.contains(r))
            .collect();
        self.target_elr = candidates;
    }

    /// Whether the target ISR has no member that may lead: then the ELR may.
    fn isr_is_unavailable(&self) -> bool {
        !self
            .target_isr
            .iter()
            .any(|&r| (self.is_acceptable_leader)(r))
    }

    fn is_valid_leader(&self, replica: i32) -> bool {
        (self.is_acceptable_leader)(replica)
            && (self.target_isr.contains(&replica)
                || (self.target_elr.contains(&replica) && self.isr_is_unavailable()))
    }

    fn elect(&self) -> Option<Elected> {
        let clean = |leader| {
            Some(Elected {
                leader,
                unclean: false,
            })
        };
        if self.election == Election::Preferred {
            if let Some(&preferred) = self.target_replicas.first() {
                if self.is_valid_leader(preferred) {
                    return clean(preferred);
                }
            }
        }
        if self.is_valid_leader(self.current.leader) {
            return clean(self.current.leader);
        }
        if let Some(&leader) = self
            .target_replicas
            .iter()
            .find(|&&r| self.is_valid_leader(r))
        {
            return clean(leader);
        }
        if self.election == Election::Unclean {
            // Every ISR and ELR member is fenced here (else one was valid above).
            if let Some(&leader) = self
                .target_replicas
                .iter()
                .find(|&&r| (self.is_acceptable_leader)(r))
            {
                return Some(Elected {
                    leader,
                    unclean: true,
                });
            }
        }
        None
    }

    /// The `PartitionChange` record, or `None` when nothing changes.
    pub(crate) fn build(mut self) -> Option<MetadataRecord> {
        self.complete_reassignment_if_needed();
        self.populate_target_elr();
        let mut leader = None;
        let mut isr = None;
        match self.elect() {
            Some(elected) if elected.leader != self.current.leader => {
                leader = Some(elected.leader);
                if elected.unclean {
                    tracing::warn!(
                        topic_id = %self.topic_id,
                        partition = self.partition,
                        new_leader = elected.leader,
                        "unclean leader election: an out-of-sync replica leads"
                    );
                    isr = Some(vec![elected.leader]);
                    // Nothing is known to be caught up with an unclean leader.
                    self.target_elr.clear();
                } else if !self.target_isr.contains(&elected.leader) {
                    // Elected from the ELR: it alone is in sync now; the (fenced) ISR
                    // members it replaces held every committed record too.
                    tracing::info!(
                        topic_id = %self.topic_id,
                        partition = self.partition,
                        new_leader = elected.leader,
                        elr = ?self.target_elr,
                        "electing a leader from the eligible leader replicas"
                    );
                    let previous_isr =
                        std::mem::replace(&mut self.target_isr, vec![elected.leader]);
                    let elr: Vec<i32> = self
                        .target_replicas
                        .iter()
                        .copied()
                        .filter(|&r| r != elected.leader)
                        .filter(|r| self.target_elr.contains(r) || previous_isr.contains(r))
                        .collect();
                    self.target_elr = elr;
                }
            }
            Some(_) => {}
            None if !self.target_replicas.contains(&self.current.leader)
                && self.current.leader != NO_LEADER =>
            {
                leader = Some(NO_LEADER);
            }
            None => {}
        }
        if leader.is_none()
            && !self
                .current
                .replicas
                .iter()
                .all(|r| self.target_replicas.contains(r))
        {
            leader = Some(self.current.leader);
        }
        if isr.is_none() && !self.target_isr.is_empty() && self.target_isr != self.current.isr {
            isr = Some(self.target_isr.clone());
        }
        let next_leader = leader.unwrap_or(self.current.leader);
        let leader_available = next_leader != NO_LEADER && (self.is_acceptable_leader)(next_leader);
        let target_last_known_elr = if leader_available {
            Vec::new()
        } else if self.current.last_known_elr.is_empty() && next_leader != NO_LEADER {
            vec![next_leader]
        } else if self.current.last_known_elr.is_empty() && self.current.leader != NO_LEADER {
            vec![self.current.leader]
        } else {
            self.current.last_known_elr.clone()
        };
        let replicas =
            (self.target_replicas != self.current.replicas).then(|| self.target_replicas.clone());
        let adding_replicas = (self.target_adding != self.current.adding_replicas)
            .then(|| self.target_adding.clone());
        let removing_replicas = (self.target_removing != self.current.removing_replicas)
            .then(|| self.target_removing.clone());
        let eligible_leader_replicas =
            (self.target_elr != self.current.elr).then(|| self.target_elr.clone());
        let last_known_elr =
            (target_last_known_elr != self.current.last_known_elr).then_some(target_last_known_elr);
        if leader.is_none()
            && isr.is_none()
            && replicas.is_none()
            && adding_replicas.is_none()
            && removing_replicas.is_none()
            && eligible_leader_replicas.is_none()
            && last_known_elr.is_none()
        {
            return None;
        }
        Some(MetadataRecord::PartitionChange {
            topic_id: self.topic_id,
            partition: self.partition,
            leader,
            isr,
            replicas,
            adding_replicas,
            removing_replicas,
            eligible_leader_replicas,
            last_known_elr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionRegistration {
        PartitionRegistration {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 3,
            partition_epoch: 5,
            adding_replicas: vec![],
            removing_replicas: vec![],
            elr: vec![],
            last_known_elr: vec![],
        }
    }

    fn applied(
        current: &PartitionRegistration,
        record: Option<MetadataRecord>,
    ) -> PartitionRegistration {
        let Some(MetadataRecord::PartitionChange {
            leader,
            isr,
            replicas,
            adding_replicas,
            removing_replicas,
            eligible_leader_replicas,
            last_known_elr,
            ..
        }) = record
        else {
            return current.clone();
        };
        let mut next = current.clone();
        if let Some(l) = leader {
            next.leader = l;
            next.leader_epoch += 1;
        }
        next.isr = isr.unwrap_or(next.isr);
        next.replicas = replicas.unwrap_or(next.replicas);
        next.adding_replicas = adding_replicas.unwrap_or(next.adding_replicas);
        next.removing_replicas = removing_replicas.unwrap_or(next.removing_replicas);
        next.elr = eligible_leader_replicas.unwrap_or(next.elr);
        next.last_known_elr = last_known_elr.unwrap_or(next.last_known_elr);
        next.partition_epoch += 1;
        next
    }

    const ALL: &dyn Fn(i32) -> bool = &|_| true;

    #[test]
    fn preferred_election_moves_leadership_to_the_first_replica_in_the_isr() {
        let current = registration(&[1, 2, 3], &[1, 2, 3], 2);
        let record = PartitionChangeBuilder::new(Uuid::nil(), 0, &current, ALL, 1)
            .election(Election::Preferred)
            .build();
        let next = applied(&current, record);
        assert_eq!((next.leader, next.leader_epoch), (1, 4));
        let not_in_isr = registration(&[1, 2, 3], &[2, 3], 2);
        assert_eq!(
            PartitionChangeBuilder::new(Uuid::nil(), 0, &not_in_isr, ALL, 1)
                .election(Election::Preferred)
                .build(),
            None,
            "a preferred replica outside the ISR cannot lead: nothing changes"
        );
        let fenced = |id| id != 1;
        assert_eq!(
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, &fenced, 1)
                .election(Election::Preferred)
                .build(),
            None,
            "a fenced preferred replica cannot lead"
        );
    }

    #[test]
    fn unclean_election_picks_a_live_replica_outside_the_isr_only_when_asked() {
        let mut current = registration(&[1, 2, 3], &[1], 1);
        current.last_known_elr = vec![1];
        let live = |id| id != 1;
        assert_eq!(
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, &live, 1).build(),
            None,
            "online election: nobody in the ISR is live, the leader stays"
        );
        let next = applied(
            &current,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, &live, 1)
                .election(Election::Unclean)
                .build(),
        );
        assert_eq!((next.leader, next.isr), (2, vec![2]));
    }

    /// 1,2,3 → 3,4,5: the replicas become 3,4,5,1,2 with 4,5 adding and 1,2 removing; once
    /// 4 and 5 joined the ISR the reassignment completes, 1 and 2 leave, the leader (1) is
    /// replaced by the first target replica in the ISR.
    #[test]
    fn a_reassignment_adds_then_completes_once_the_targets_are_in_sync() {
        let current = registration(&[1, 2, 3], &[1, 2, 3], 1);
        let started = applied(
            &current,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, ALL, 1)
                .target_replicas(vec![3, 4, 5, 1, 2])
                .target_adding(vec![4, 5])
                .target_removing(vec![1, 2])
                .build(),
        );
        assert_eq!(started.replicas, vec![3, 4, 5, 1, 2]);
        assert_eq!(
            (
                started.adding_replicas.clone(),
                started.removing_replicas.clone()
            ),
            (vec![4, 5], vec![1, 2])
        );
        assert_eq!(
            started.leader, 1,
            "the leader stays while the new replicas catch up"
        );
        let half = applied(
            &started,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &started, ALL, 1)
                .target_isr(vec![1, 2, 3, 4])
                .build(),
        );
        assert!(half.is_reassigning(), "5 is not in sync yet");
        let done = applied(
            &half,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &half, ALL, 1)
                .target_isr(vec![1, 2, 3, 4, 5])
                .build(),
        );
        assert!(!done.is_reassigning());
        assert_eq!(done.replicas, vec![3, 4, 5]);
        assert_eq!(done.isr, vec![3, 4, 5]);
        assert_eq!(
            done.leader, 3,
            "the removed leader hands over to the first target in sync"
        );
        assert!(done.leader_epoch > half.leader_epoch);
    }

    #[test]
    fn removing_a_follower_bumps_the_leader_epoch_and_a_reorder_completes_at_once() {
        let current = registration(&[1, 2, 3], &[1, 2, 3], 1);
        let shrunk = applied(
            &current,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, ALL, 1)
                .target_replicas(vec![1, 2, 3])
                .target_removing(vec![3])
                .build(),
        );
        assert_eq!(
            (shrunk.replicas.clone(), shrunk.isr.clone(), shrunk.leader),
            (vec![1, 2], vec![1, 2], 1)
        );
        assert_eq!(shrunk.leader_epoch, current.leader_epoch + 1);
        let reordered = applied(
            &current,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, ALL, 1)
                .target_replicas(vec![3, 2, 1])
                .build(),
        );
        assert_eq!(
            (reordered.replicas, reordered.leader, reordered.leader_epoch),
            (vec![3, 2, 1], 1, current.leader_epoch),
            "a reorder changes the replica list only"
        );
    }

    #[test]
    fn replicas_leaving_an_isr_below_min_isr_become_eligible_and_rejoining_clears_them() {
        let current = registration(&[1, 2, 3], &[1, 2, 3], 1);
        let two = applied(
            &current,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, ALL, 2)
                .target_isr(vec![1, 2])
                .build(),
        );
        assert_eq!(
            two.elr,
            Vec::<i32>::new(),
            "an ISR at min.insync.replicas needs no eligible replicas"
        );
        let one = applied(
            &two,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &two, ALL, 2)
                .target_isr(vec![1])
                .build(),
        );
        assert_eq!(
            (one.isr.clone(), one.elr.clone()),
            (vec![1], vec![2]),
            "the replica that left an ISR below min.insync.replicas is eligible; 3 left \
             above it and is not"
        );
        let back = applied(
            &one,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &one, ALL, 2)
                .target_isr(vec![1, 3])
                .build(),
        );
        assert_eq!(
            (back.isr, back.elr),
            (vec![1, 3], vec![]),
            "an ISR back at min.insync.replicas clears the ELR"
        );
        let capped = registration(&[1, 2], &[1, 2], 1);
        let shrunk = applied(
            &capped,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &capped, ALL, 3)
                .target_isr(vec![1])
                .build(),
        );
        assert_eq!(
            shrunk.elr,
            vec![2],
            "min.insync.replicas 3 of an RF 2 partition counts as 2"
        );
    }

    #[test]
    fn an_eligible_replica_leads_cleanly_once_no_isr_member_is_live() {
        let mut current = registration(&[1, 2, 3], &[1], 1);
        current.elr = vec![2];
        let only_3 = |id| id == 3;
        let record = PartitionChangeBuilder::new(Uuid::nil(), 0, &current, &only_3, 2).build();
        let stays = applied(&current, record);
        assert_eq!(
            (stays.leader, stays.isr.clone(), stays.elr.clone()),
            (1, vec![1], vec![2]),
            "3 is neither in the ISR nor eligible: without unclean election nobody else leads"
        );
        assert_eq!(
            stays.last_known_elr,
            vec![1],
            "the partition remembers its last leader"
        );
        let unclean = applied(
            &stays,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &stays, &only_3, 2)
                .election(Election::Unclean)
                .build(),
        );
        assert_eq!(
            (
                unclean.leader,
                unclean.isr,
                unclean.elr,
                unclean.last_known_elr
            ),
            (3, vec![3], vec![], vec![]),
            "an unclean election, with ISR and ELR both fenced, clears the ELR"
        );

        let live_2 = |id| id == 2 || id == 3;
        for election in [Election::Online, Election::Unclean, Election::Preferred] {
            let next = applied(
                &stays,
                PartitionChangeBuilder::new(Uuid::nil(), 0, &stays, &live_2, 2)
                    .election(election)
                    .build(),
            );
            assert_eq!(
                (next.leader, next.isr, next.elr, next.last_known_elr),
                (2, vec![2], vec![1], vec![]),
                "{election:?}: the eligible replica leads before anyone out of sync; the \
                 fenced last ISR member becomes eligible"
            );
            assert_eq!(next.leader_epoch, stays.leader_epoch + 1);
        }

        let both = |id| id == 1 || id == 2;
        let next = applied(
            &stays,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &stays, &both, 2).build(),
        );
        assert_eq!(
            (next.leader, next.isr, next.elr, next.last_known_elr),
            (1, vec![1], vec![2], vec![]),
            "with a live ISR member the ELR does not lead"
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// What a three-broker cluster does to one RF=3 partition, min.insync.replicas 2.
        #[derive(Debug, Clone)]
        enum Step {
            /// The leader appends a record.
            Append,
            /// Every live follower catches up with the leader.
            Replicate,
            /// The leader drops a follower from the ISR (AlterPartition).
            Shrink(i32),
            /// The leader adds a caught-up live follower to the ISR (AlterPartition).
            Expand(i32),
            /// A broker is fenced (as `leave_leaderships` asks the builder).
            Fence(i32),
            /// A broker is unfenced (as `take_leaderless` asks the builder).
            Unfence(i32),
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                Just(Step::Append),
                Just(Step::Replicate),
                (1..=3i32).prop_map(Step::Shrink),
                (1..=3i32).prop_map(Step::Expand),
                (1..=3i32).prop_map(Step::Fence),
                (1..=3i32).prop_map(Step::Unfence),
            ]
        }

        struct Cluster {
            reg: PartitionRegistration,
            live: [bool; 4],
            log_end: [i64; 4],
            high_watermark: i64,
            unclean: bool,
        }

        impl Cluster {
            fn change(&mut self, record: Option<MetadataRecord>) {
                let before = self.reg.leader_epoch;
                self.reg = applied(&self.reg, record);
                if self.reg.leader_epoch != before && self.reg.leader != NO_LEADER {
                    // Followers of a new leader truncate to its log.
                    let leader_end = self.log_end[self.reg.leader as usize];
                    for r in 1..=3 {
                        self.log_end[r] = self.log_end[r].min(leader_end);
                    }
                }
            }

            fn leader_serves(&self) -> bool {
                self.reg.leader != NO_LEADER && self.live[self.reg.leader as usize]
            }

            fn advance_high_watermark(&mut self) {
                if !self.leader_serves() || self.reg.isr.len() < 2 {
                    return;
                }
                let min = self.reg.isr.iter().map(|&r| self.log_end[r as usize]).min();
                if let Some(min) = min {
                    self.high_watermark = self.high_watermark.max(min);
                }
            }

            fn apply(&mut self, step: &Step) {
                let live = self.live;
                let is_live = move |id: i32| live[id as usize];
                match *step {
                    Step::Append if self.leader_serves() => {
                        self.log_end[self.reg.leader as usize] += 1;
                    }
                    Step::Replicate if self.leader_serves() => {
                        let end = self.log_end[self.reg.leader as usize];
                        for r in 1..=3 {
                            if self.live[r] {
                                self.log_end[r] = end;
                            }
                        }
                    }
                    Step::Shrink(r)
                        if self.leader_serves()
                            && r != self.reg.leader
                            && self.reg.isr.contains(&r) =>
                    {
                        let isr = self.reg.isr.iter().copied().filter(|&x| x != r).collect();
                        let record =
                            PartitionChangeBuilder::new(Uuid::nil(), 0, &self.reg, &is_live, 2)
                                .target_isr(isr)
                                .build();
                        self.change(record);
                    }
                    Step::Expand(r)
                        if self.leader_serves()
                            && self.live[r as usize]
                            && !self.reg.isr.contains(&r)
                            && self.log_end[r as usize]
                                == self.log_end[self.reg.leader as usize] =>
                    {
                        let mut isr = self.reg.isr.clone();
                        isr.push(r);
                        let record =
                            PartitionChangeBuilder::new(Uuid::nil(), 0, &self.reg, &is_live, 2)
                                .target_isr(isr)
                                .build();
                        self.change(record);
                    }
                    Step::Fence(b) if self.live[b as usize] => {
                        self.live[b as usize] = false;
                        let live = self.live;
                        let is_live = move |id: i32| live[id as usize];
                        let leads = self.reg.leader == b;
                        if leads || self.reg.isr.contains(&b) {
                            let others: Vec<i32> =
                                self.reg.isr.iter().copied().filter(|&r| r != b).collect();
                            let target = if others.is_empty()
                                || (leads && !others.iter().any(|&r| is_live(r)))
                            {
                                self.reg.isr.clone()
                            } else {
                                others
                            };
                            let election = if self.unclean {
                                Election::Unclean
                            } else {
                                Election::Online
                            };
                            let record =
                                PartitionChangeBuilder::new(Uuid::nil(), 0, &self.reg, &is_live, 2)
                                    .election(election)
                                    .target_isr(target)
                                    .build();
                            self.change(record);
                        }
                    }
                    Step::Unfence(b) if !self.live[b as usize] => {
                        self.live[b as usize] = true;
                        let live = self.live;
                        let is_live = move |id: i32| live[id as usize];
                        let record =
                            PartitionChangeBuilder::new(Uuid::nil(), 0, &self.reg, &is_live, 2)
                                .build();
                        self.change(record);
                    }
                    _ => {}
                }
                self.advance_high_watermark();
            }
        }

        proptest! {
            /// KIP-966's promise, without unclean elections: whoever leads holds every
            /// committed record, ISR and ELR never overlap, and every eligible replica
            /// holds every committed record too.
            #[test]
            fn a_clean_leader_always_holds_every_committed_record(
                steps in proptest::collection::vec(step(), 1..80),
            ) {
                let mut cluster = Cluster {
                    reg: registration(&[1, 2, 3], &[1, 2, 3], 1),
                    live: [false, true, true, true],
                    log_end: [0; 4],
                    high_watermark: 0,
                    unclean: false,
                };
                for step in &steps {
                    cluster.apply(step);
                    let reg = &cluster.reg;
                    prop_assert!(!reg.isr.is_empty(), "the ISR keeps a member: {reg:?}");
                    prop_assert!(
                        reg.elr.iter().all(|r| !reg.isr.contains(r)),
                        "ISR and ELR overlap: {reg:?}"
                    );
                    if cluster.leader_serves() {
                        prop_assert!(
                            cluster.log_end[reg.leader as usize] >= cluster.high_watermark,
                            "leader {} ends at {} below the high watermark {}: {reg:?} after {step:?}",
                            reg.leader, cluster.log_end[reg.leader as usize], cluster.high_watermark
                        );
                        prop_assert!(reg.last_known_elr.is_empty(), "a served partition keeps no last known leader: {reg:?}");
                    }
                    for &r in reg.elr.iter().chain(&reg.isr) {
                        prop_assert!(
                            cluster.log_end[r as usize] >= cluster.high_watermark,
                            "replica {r} of ISR/ELR ends at {} below the high watermark {}: {reg:?} after {step:?}",
                            cluster.log_end[r as usize], cluster.high_watermark
                        );
                    }
                }
            }
        }
    }
}
