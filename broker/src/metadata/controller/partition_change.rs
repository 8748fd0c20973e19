//! `PartitionChangeBuilder`: the one place a partition's next replicas, ISR, reassignment
//! state and leader are worked out from targets (Kafka's `PartitionChangeBuilder`, without
//! eligible leader replicas). Reassignment, leader elections and AlterPartition describe what
//! they want; [`PartitionChangeBuilder::build`] then
//!
//! 1. completes a reassignment in progress once the target ISR holds every replica that
//!    stays (the removing replicas leave replicas and ISR, adding/removing are cleared);
//! 2. elects a leader: the current one while it is in the target ISR and unfenced, else
//!    the first such replica in replica order; PREFERRED tries the first replica before
//!    that; UNCLEAN falls back to any unfenced replica (its ISR becomes just that replica).
//!    Where nobody can lead, a leader still in the replica set keeps leading (Ironlog's
//!    convention: clients see no leader while it is fenced), one leaving it leaves `-1`;
//! 3. bumps the leader epoch when a replica leaves the replica set, so the leader's
//!    followers restart at an epoch that knows the new set;
//! 4. writes only what differs, and nothing when nothing does.

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
}

impl<'a> PartitionChangeBuilder<'a> {
    /// A builder whose targets are the partition as it is; `is_acceptable_leader` says
    /// which brokers may lead (registered and unfenced).
    pub(crate) fn new(
        topic_id: Uuid,
        partition: i32,
        current: &'a PartitionRegistration,
        is_acceptable_leader: &'a dyn Fn(i32) -> bool,
    ) -> Self {
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

    fn is_valid_leader(&self, replica: i32) -> bool {
        self.target_isr.contains(&replica) && (self.is_acceptable_leader)(replica)
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
        let replicas =
            (self.target_replicas != self.current.replicas).then(|| self.target_replicas.clone());
        let adding_replicas = (self.target_adding != self.current.adding_replicas)
            .then(|| self.target_adding.clone());
        let removing_replicas = (self.target_removing != self.current.removing_replicas)
            .then(|| self.target_removing.clone());
        if leader.is_none()
            && isr.is_none()
            && replicas.is_none()
            && adding_replicas.is_none()
            && removing_replicas.is_none()
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
        next.partition_epoch += 1;
        next
    }

    const ALL: &dyn Fn(i32) -> bool = &|_| true;

    #[test]
    fn preferred_election_moves_leadership_to_the_first_replica_in_the_isr() {
        let current = registration(&[1, 2, 3], &[1, 2, 3], 2);
        let record = PartitionChangeBuilder::new(Uuid::nil(), 0, &current, ALL)
            .election(Election::Preferred)
            .build();
        let next = applied(&current, record);
        assert_eq!((next.leader, next.leader_epoch), (1, 4));
        let not_in_isr = registration(&[1, 2, 3], &[2, 3], 2);
        assert_eq!(
            PartitionChangeBuilder::new(Uuid::nil(), 0, &not_in_isr, ALL)
                .election(Election::Preferred)
                .build(),
            None,
            "a preferred replica outside the ISR cannot lead: nothing changes"
        );
        let fenced = |id| id != 1;
        assert_eq!(
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, &fenced)
                .election(Election::Preferred)
                .build(),
            None,
            "a fenced preferred replica cannot lead"
        );
    }

    #[test]
    fn unclean_election_picks_a_live_replica_outside_the_isr_only_when_asked() {
        let current = registration(&[1, 2, 3], &[1], 1);
        let live = |id| id != 1;
        assert_eq!(
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, &live).build(),
            None,
            "online election: nobody in the ISR is live, the leader stays"
        );
        let next = applied(
            &current,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, &live)
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
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, ALL)
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
            PartitionChangeBuilder::new(Uuid::nil(), 0, &started, ALL)
                .target_isr(vec![1, 2, 3, 4])
                .build(),
        );
        assert!(half.is_reassigning(), "5 is not in sync yet");
        let done = applied(
            &half,
            PartitionChangeBuilder::new(Uuid::nil(), 0, &half, ALL)
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
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, ALL)
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
            PartitionChangeBuilder::new(Uuid::nil(), 0, &current, ALL)
                .target_replicas(vec![3, 2, 1])
                .build(),
        );
        assert_eq!(
            (reordered.replicas, reordered.leader, reordered.leader_epoch),
            (vec![3, 2, 1], 1, current.leader_epoch),
            "a reorder changes the replica list only"
        );
    }
}
