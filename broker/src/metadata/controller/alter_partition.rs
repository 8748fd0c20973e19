//! AlterPartition on the controller (Kafka's `ReplicationControlManager.alterPartition`): a
//! partition leader proposes a new ISR at the leader and partition epochs it knows; the
//! controller checks the proposing broker's epoch (STALE_BROKER_EPOCH), then the proposal
//! against the current registration, in Kafka's order and with Kafka's errors, and writes a
//! `PartitionChange` record (which bumps the partition epoch) through the
//! `PartitionChangeBuilder`, which also completes a reassignment whose targets the new ISR
//! holds. The new ISR names each
//! member's broker epoch as the leader saw it in that member's fetches (KIP-903): a member
//! whose registration has another epoch (it restarted since) is an ineligible replica. A
//! stale or invalid proposal changes nothing.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::partition_change::PartitionChangeBuilder;
use super::Controller;
use crate::error::{ApiError, ResponseError};
use crate::metadata::image::PartitionRegistration;

/// One partition's proposed ISR (a partition of an AlterPartition request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IsrChange {
    /// The proposing broker (the request's broker id) and its broker epoch.
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
    /// Broker epochs of members of `new_isr` (Kafka's `NewIsrWithEpochs`); a member that
    /// is absent, or -1, is not checked.
    pub new_isr_broker_epochs: BTreeMap<i32, i64>,
}

/// A partition's leadership and ISR after an AlterPartition (the response's partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaderAndIsr {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub partition_epoch: i32,
}

impl From<&PartitionRegistration> for LeaderAndIsr {
    fn from(r: &PartitionRegistration) -> Self {
        Self {
            leader: r.leader,
            leader_epoch: r.leader_epoch,
            isr: r.isr.clone(),
            partition_epoch: r.partition_epoch,
        }
    }
}

impl Controller {
    /// Kafka's `checkBrokerEpoch`: STALE_BROKER_EPOCH unless `broker_id` is registered with
    /// `broker_epoch`.
    pub(crate) fn check_broker_epoch(
        &self,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Result<(), ApiError> {
        match self.quorum.image().brokers.get(&broker_id) {
            None => Err(ApiError::new(
                ResponseError::StaleBrokerEpoch,
                format!("No broker registration found for broker id {broker_id}"),
            )),
            Some(b) if b.epoch != broker_epoch => Err(ApiError::new(
                ResponseError::StaleBrokerEpoch,
                format!(
                    "Expected broker epoch {}, but got broker epoch {broker_epoch}",
                    b.epoch
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Checks and commits one ISR change; returns the partition's leadership and ISR
    /// afterwards. Errors: STALE_BROKER_EPOCH (the proposer's epoch is not its registered
    /// one), NOT_CONTROLLER (not active, or epochs newer than ours: another controller
    /// may be active), UNKNOWN_TOPIC_ID / UNKNOWN_TOPIC_OR_PARTITION, FENCED_LEADER_EPOCH
    /// (an older leader epoch), INVALID_REQUEST (not from the leader; an ISR with replicas
    /// outside the replica set, duplicates, or without the leader), INVALID_UPDATE_VERSION
    /// (an older partition epoch), INELIGIBLE_REPLICA (a fenced or unregistered broker in
    /// the new ISR, or one whose broker epoch is not the one given). An ISR equal to the
    /// current one is answered without a record.
    pub(crate) async fn alter_partition(
        &self,
        change: IsrChange,
    ) -> Result<LeaderAndIsr, ApiError> {
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        self.check_broker_epoch(change.broker_id, change.broker_epoch)?;
        let image = self.quorum.image();
        let Some(topic) = image.topic_by_id(change.topic_id) else {
            return Err(ApiError::new(
                ResponseError::UnknownTopicId,
                format!("no topic with id {}", change.topic_id),
            ));
        };
        let Some(current) = topic.partitions.get(&change.partition) else {
            return Err(ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("{} has no partition {}", topic.name, change.partition),
            ));
        };
        let tp = format!("{}-{}", topic.name, change.partition);
        let refuse = |code: ResponseError, why: String| {
            tracing::info!(partition = %tp, broker = change.broker_id, ?code, why, "refusing AlterPartition");
            Err(ApiError::new(code, why))
        };
        if change.leader_epoch > current.leader_epoch
            || change.partition_epoch > current.partition_epoch
        {
            return refuse(
                ResponseError::NotController,
                format!(
                    "epochs {}/{} are newer than this controller's {}/{}",
                    change.leader_epoch,
                    change.partition_epoch,
                    current.leader_epoch,
                    current.partition_epoch
                ),
            );
        }
        if change.leader_epoch < current.leader_epoch {
            return refuse(
                ResponseError::FencedLeaderEpoch,
                format!(
                    "leader epoch {} is older than the current {}",
                    change.leader_epoch, current.leader_epoch
                ),
            );
        }
        if change.broker_id != current.leader {
            return refuse(
                ResponseError::InvalidRequest,
                format!(
                    "broker {} is not the leader (the leader is {})",
                    change.broker_id, current.leader
                ),
            );
        }
        if change.partition_epoch < current.partition_epoch {
            return refuse(
                ResponseError::InvalidUpdateVersion,
                format!(
                    "partition epoch {} is older than the current {}",
                    change.partition_epoch, current.partition_epoch
                ),
            );
        }
        let mut distinct = change.new_isr.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != change.new_isr.len()
            || change.new_isr.iter().any(|r| !current.replicas.contains(r))
        {
            return refuse(
                ResponseError::InvalidRequest,
                format!(
                    "ISR {:?} is not a set of the replicas {:?}",
                    change.new_isr, current.replicas
                ),
            );
        }
        if !change.new_isr.contains(&current.leader) {
            return refuse(
                ResponseError::InvalidRequest,
                format!("ISR {:?} does not include the leader", change.new_isr),
            );
        }
        let ineligible: Vec<String> = change
            .new_isr
            .iter()
            .filter_map(|r| {
                let given = change.new_isr_broker_epochs.get(r).copied().unwrap_or(-1);
                match image.brokers.get(r) {
                    None => Some(format!("{r} (not registered)")),
                    Some(b) if b.fenced => Some(format!("{r} (fenced)")),
                    Some(b) if given != -1 && given != b.epoch => Some(format!(
                        "{r} (broker epoch mismatch: requested={given} VS expected={})",
                        b.epoch
                    )),
                    Some(_) => None,
                }
            })
            .collect();
        if !ineligible.is_empty() {
            return refuse(
                ResponseError::IneligibleReplica,
                format!(
                    "the new ISR {:?} names ineligible replicas: {}",
                    change.new_isr,
                    ineligible.join(", ")
                ),
            );
        }
        if change.new_isr == current.isr {
            return Ok(current.into());
        }
        // Through the builder, so a reassignment completes once its targets are in sync
        // (and a leader being removed hands over in the same record).
        let acceptable = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
        let min_isr = image
            .topic_by_id(change.topic_id)
            .map_or(1, |t| self.min_insync_replicas(&image, &t.name));
        let record = PartitionChangeBuilder::new(
            change.topic_id,
            change.partition,
            current,
            &acceptable,
            min_isr,
        )
        .target_isr(change.new_isr.clone())
        .build();
        let Some(record) = record else {
            return Ok(current.into());
        };
        self.propose(vec![record]).await?;
        tracing::info!(partition = %tp, from = ?current.isr, to = ?change.new_isr, "ISR changed");
        let image = self.quorum.image();
        image
            .topic_by_id(change.topic_id)
            .and_then(|t| t.partitions.get(&change.partition))
            .map(LeaderAndIsr::from)
            .ok_or_else(|| ApiError::code_only(ResponseError::UnknownTopicOrPartition))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, spec};
    use super::*;
    use crate::metadata::records::MetadataRecord;

    #[tokio::test]
    async fn isr_changes_are_checked_against_the_current_epochs_as_kafka_does() {
        let f = fixture(&[1, 2, 3]).await;
        let created = f
            .controller
            .create_topics(vec![spec("t", 1, 3)], false)
            .await;
        assert!(created[0].is_ok(), "{created:?}");
        let image = f.image();
        let topic = image.topic("t").expect("topic");
        let current = topic.partitions[&0].clone();
        assert_eq!(current.isr.len(), 3);
        let leader = current.leader;
        let follower = *current
            .replicas
            .iter()
            .find(|r| **r != leader)
            .expect("follower");
        let shrunk: Vec<i32> = current
            .isr
            .iter()
            .copied()
            .filter(|r| *r != follower)
            .collect();
        let epoch_of = |id: i32| image.brokers.get(&id).map_or(-1, |b| b.epoch);
        let change = |broker_id, leader_epoch, partition_epoch, new_isr: Vec<i32>| IsrChange {
            broker_id,
            broker_epoch: epoch_of(broker_id),
            topic_id: topic.topic_id,
            partition: 0,
            leader_epoch,
            partition_epoch,
            new_isr_broker_epochs: new_isr.iter().map(|r| (*r, epoch_of(*r))).collect(),
            new_isr,
        };
        let offset = f.image().offset;
        let refusals = [
            (
                change(follower, 0, 0, shrunk.clone()),
                ResponseError::InvalidRequest,
            ),
            (
                change(leader, 1, 0, shrunk.clone()),
                ResponseError::NotController,
            ),
            (
                change(leader, 0, 0, vec![follower]),
                ResponseError::InvalidRequest,
            ),
            (
                change(leader, 0, 0, vec![leader, leader]),
                ResponseError::InvalidRequest,
            ),
            (
                change(leader, 0, 0, vec![leader, 9]),
                ResponseError::InvalidRequest,
            ),
        ];
        let stale_proposer = IsrChange {
            broker_epoch: epoch_of(leader) - 1,
            ..change(leader, 0, 0, shrunk.clone())
        };
        let restarted_member = IsrChange {
            new_isr_broker_epochs: current
                .isr
                .iter()
                .map(|r| (*r, epoch_of(*r) + 100))
                .collect(),
            ..change(leader, 0, 0, current.isr.clone())
        };
        let unregistered = IsrChange {
            broker_id: 9,
            broker_epoch: 0,
            ..change(leader, 0, 0, shrunk.clone())
        };
        let refusals = refusals.into_iter().chain([
            (stale_proposer, ResponseError::StaleBrokerEpoch),
            (unregistered, ResponseError::StaleBrokerEpoch),
            (restarted_member, ResponseError::IneligibleReplica),
        ]);
        for (refused, expected) in refusals {
            let result = f.controller.alter_partition(refused.clone()).await;
            assert_eq!(result.err().map(|e| e.code), Some(expected), "{refused:?}");
        }
        assert_eq!(
            f.image().offset,
            offset,
            "a refused change writes no record"
        );
        // Members without epochs are not checked (AlterPartition v2 carries none).
        let after = f
            .controller
            .alter_partition(IsrChange {
                new_isr_broker_epochs: BTreeMap::new(),
                ..change(leader, 0, 0, shrunk.clone())
            })
            .await
            .expect("shrink");
        assert_eq!(
            (after.isr.clone(), after.partition_epoch, after.leader_epoch),
            (shrunk.clone(), 1, 0)
        );
        // The same proposal again is stale now.
        let stale = f
            .controller
            .alter_partition(change(leader, 0, 0, current.isr.clone()))
            .await;
        assert_eq!(
            stale.err().map(|e| e.code),
            Some(ResponseError::InvalidUpdateVersion)
        );
        // A fenced broker may not rejoin.
        f.controller
            .quorum()
            .propose(vec![MetadataRecord::FenceBroker {
                broker_id: follower,
            }])
            .await
            .expect("fence");
        let fenced = f
            .controller
            .alter_partition(change(leader, 0, 1, current.isr.clone()))
            .await;
        assert_eq!(
            fenced.err().map(|e| e.code),
            Some(ResponseError::IneligibleReplica)
        );
        // A new leader epoch fences the old leader's proposals.
        f.controller
            .quorum()
            .propose(vec![MetadataRecord::leader_change(
                topic.topic_id,
                0,
                leader,
            )])
            .await
            .expect("epoch bump");
        let old_epoch = f
            .controller
            .alter_partition(change(leader, 0, 2, shrunk))
            .await;
        assert_eq!(
            old_epoch.err().map(|e| e.code),
            Some(ResponseError::FencedLeaderEpoch)
        );
        let unknown = f
            .controller
            .alter_partition(IsrChange {
                topic_id: Uuid::new_v4(),
                ..change(leader, 1, 2, vec![leader])
            })
            .await;
        assert_eq!(
            unknown.err().map(|e| e.code),
            Some(ResponseError::UnknownTopicId)
        );
    }
}
