//! Partition reassignment on the controller (Kafka's `ReplicationControlManager`
//! `alterPartitionReassignments` / `listPartitionReassignments`, with
//! `PartitionReassignmentReplicas` and `PartitionReassignmentRevert`).
//!
//! A reassignment to target replicas `T` of a partition with replicas `C` writes replicas
//! `T` followed by `C \ T`, adding `T \ C` and removing `C \ T`. The brokers act on that
//! image: new replicas create their log and fetch from the leader from its log start, and
//! the leader takes them into the ISR once caught up (AlterPartition). The AlterPartition
//! that brings every target into the ISR completes the reassignment in the same record
//! ([`PartitionChangeBuilder`]): the removed replicas leave replicas and ISR — their brokers
//! stop fetching and delete the log — and a leader being removed hands over to the first
//! target in sync. A reassignment that adds nothing (a reorder, or only removals) completes
//! at once.
//!
//! Cancelling (null replicas) reverts to the original replicas (`replicas` minus adding)
//! and drops the adding replicas from the ISR; when the ISR held only adding replicas that
//! needs an unclean election, refused unless the topic allows it.

use std::collections::{BTreeMap, BTreeSet};

use super::partition_change::{Election, PartitionChangeBuilder};
use super::{invalid_assignment, Controller};
use crate::error::{ApiError, ResponseError};
use crate::metadata::image::{MetadataImage, PartitionRegistration};
use crate::metadata::records::MetadataRecord;

/// One partition of an AlterPartitionReassignments request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReassignmentSpec {
    pub topic: String,
    pub partition: i32,
    /// The target replicas, leader first; `None` cancels the reassignment in progress.
    pub replicas: Option<Vec<i32>>,
}

/// A reassignment in progress (ListPartitionReassignments' partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OngoingReassignment {
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

impl Controller {
    /// AlterPartitionReassignments: one result per partition in request order; every
    /// accepted change is proposed in one batch. A partition named twice is INVALID_REQUEST.
    pub(crate) async fn alter_partition_reassignments(
        &self,
        specs: Vec<ReassignmentSpec>,
        allow_replication_factor_change: bool,
    ) -> Vec<Result<(), ApiError>> {
        let results = self
            .plan_each_and_commit(
                &specs,
                |s| (s.topic.clone(), s.partition),
                "The same partition was named more than once.",
                |image, spec| self.plan_reassignment(image, spec, allow_replication_factor_change),
                false,
            )
            .await;
        let accepted = results.iter().filter(|r| r.is_ok()).count();
        tracing::info!(
            accepted,
            requested = results.len(),
            "altered partition reassignments"
        );
        results
    }

    fn plan_reassignment(
        &self,
        image: &MetadataImage,
        spec: &ReassignmentSpec,
        allow_replication_factor_change: bool,
    ) -> Result<Vec<MetadataRecord>, ApiError> {
        let topic = image.topic(&spec.topic).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("Unable to find a topic named {}.", spec.topic),
            )
        })?;
        let current = topic.partitions.get(&spec.partition).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!(
                    "Unable to find partition {}:{}.",
                    spec.topic, spec.partition
                ),
            )
        })?;
        let acceptable = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
        let min_isr = self.min_insync_replicas(image, &spec.topic);
        let builder = PartitionChangeBuilder::new(
            topic.topic_id,
            spec.partition,
            current,
            &acceptable,
            min_isr,
        );
        let record = match &spec.replicas {
            None => {
                if !current.is_reassigning() {
                    return Err(ApiError::new(
                        ResponseError::NoReassignmentInProgress,
                        ResponseError::NoReassignmentInProgress.to_string(),
                    ));
                }
                let (replicas, isr, unclean) = revert(current)?;
                let unclean_allowed = self.unclean_election_enabled(image, &spec.topic);
                if unclean && !unclean_allowed {
                    return Err(invalid_assignment(format!(
                        "Unable to revert partition assignment for {}:{} because it would require \
                         an unclean leader election.",
                        spec.topic, spec.partition
                    )));
                }
                let election = if unclean_allowed {
                    Election::Unclean
                } else {
                    Election::Online
                };
                builder
                    .election(election)
                    .target_isr(isr)
                    .target_replicas(replicas)
                    .target_adding(Vec::new())
                    .target_removing(Vec::new())
                    .build()
            }
            Some(target) => {
                validate_target(image, target)?;
                if !allow_replication_factor_change {
                    let current_size = reassignment_target_size(current);
                    if current_size != target.len() {
                        return Err(ApiError::new(
                            ResponseError::InvalidReplicationFactor,
                            format!(
                                "The replication factor is changed from {current_size} to {}",
                                target.len()
                            ),
                        ));
                    }
                }
                let removing: BTreeSet<i32> = current
                    .replicas
                    .iter()
                    .copied()
                    .filter(|r| !target.contains(r))
                    .collect();
                let adding: BTreeSet<i32> = target
                    .iter()
                    .copied()
                    .filter(|r| !current.replicas.contains(r))
                    .collect();
                let mut replicas = target.clone();
                replicas.extend(removing.iter().copied());
                builder
                    .target_replicas(replicas)
                    .target_removing(removing.into_iter().collect())
                    .target_adding(adding.into_iter().collect())
                    .build()
            }
        };
        if let Some(MetadataRecord::PartitionChange {
            replicas,
            adding_replicas,
            removing_replicas,
            ..
        }) = &record
        {
            tracing::info!(
                topic = %spec.topic,
                partition = spec.partition,
                from = ?current.replicas,
                ?replicas,
                ?adding_replicas,
                ?removing_replicas,
                "partition reassignment"
            );
        }
        Ok(record.into_iter().collect())
    }

    /// ListPartitionReassignments: the reassignments in progress of the named partitions
    /// (`None`: of every partition), by topic; unknown topics and partitions are left out,
    /// as Kafka does.
    pub(crate) fn list_partition_reassignments(
        &self,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<BTreeMap<String, Vec<OngoingReassignment>>, ApiError> {
        self.ensure_active()?;
        let image = self.quorum.image();
        let ongoing = |reg: &PartitionRegistration, partition: i32| {
            reg.is_reassigning().then(|| OngoingReassignment {
                partition,
                replicas: reg.replicas.clone(),
                adding_replicas: reg.adding_replicas.clone(),
                removing_replicas: reg.removing_replicas.clone(),
            })
        };
        let mut out: BTreeMap<String, Vec<OngoingReassignment>> = BTreeMap::new();
        match topics {
            None => {
                for (name, topic) in &image.topics {
                    let list: Vec<OngoingReassignment> = topic
                        .partitions
                        .iter()
                        .filter_map(|(&p, reg)| ongoing(reg, p))
                        .collect();
                    if !list.is_empty() {
                        out.insert(name.clone(), list);
                    }
                }
            }
            Some(requested) => {
                for (name, partitions) in requested {
                    let Some(topic) = image.topic(&name) else {
                        continue;
                    };
                    let list: Vec<OngoingReassignment> = partitions
                        .iter()
                        .filter_map(|p| ongoing(topic.partitions.get(p)?, *p))
                        .collect();
                    if !list.is_empty() {
                        out.entry(name).or_default().extend(list);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Kafka's `validateManualPartitionAssignment` for a reassignment target.
fn validate_target(image: &MetadataImage, target: &[i32]) -> Result<(), ApiError> {
    if target.is_empty() {
        return Err(invalid_assignment(
            "The manual partition assignment includes an empty replica list.",
        ));
    }
    let mut sorted = target.to_vec();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] {
            return Err(invalid_assignment(format!(
                "The manual partition assignment includes the broker {} more than once.",
                pair[0]
            )));
        }
    }
    if let Some(unknown) = sorted.iter().find(|id| !image.brokers.contains_key(id)) {
        return Err(invalid_assignment(format!(
            "The manual partition assignment includes broker {unknown}, but no such broker is \
             registered."
        )));
    }
    Ok(())
}

/// The replica count the partition is heading for (Kafka's
/// `validatePartitionReplicationFactorUnchanged`).
fn reassignment_target_size(current: &PartitionRegistration) -> usize {
    if !current.is_reassigning() {
        return current.replicas.len();
    }
    let set: BTreeSet<i32> = current
        .replicas
        .iter()
        .chain(&current.adding_replicas)
        .copied()
        .filter(|r| !current.removing_replicas.contains(r))
        .collect();
    set.len()
}

/// Kafka's `PartitionReassignmentRevert`: the original replicas, the ISR without the adding
/// replicas, and whether that needs an unclean election (nobody left in the ISR: the first
/// original replica is put in it).
fn revert(current: &PartitionRegistration) -> Result<(Vec<i32>, Vec<i32>, bool), ApiError> {
    let replicas: Vec<i32> = current
        .replicas
        .iter()
        .copied()
        .filter(|r| !current.adding_replicas.contains(r))
        .collect();
    let mut isr: Vec<i32> = current
        .isr
        .iter()
        .copied()
        .filter(|r| !current.adding_replicas.contains(r))
        .collect();
    if !isr.is_empty() {
        return Ok((replicas, isr, false));
    }
    let Some(&first) = replicas.first() else {
        return Err(invalid_assignment(
            "Invalid replica assignment: addingReplicas contains all replicas.",
        ));
    };
    isr.push(first);
    Ok((replicas, isr, true))
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::{code, fixture, manual_spec, Fixture};
    use super::*;
    use crate::metadata::IsrChange;

    /// Topic `name` with one partition on `replicas` (leader first).
    pub(in crate::metadata::controller) async fn topic(
        f: &Fixture,
        name: &str,
        replicas: Vec<i32>,
    ) {
        let created = f
            .controller
            .create_topics(vec![manual_spec(name, [(0, replicas)])], false)
            .await;
        assert!(created[0].is_ok(), "{created:?}");
    }

    pub(in crate::metadata::controller) fn partition(
        f: &Fixture,
        name: &str,
    ) -> PartitionRegistration {
        f.image().topic(name).expect("topic exists").partitions[&0].clone()
    }

    /// The partition's leader proposes `isr` (AlterPartition, epochs as the image has them).
    pub(in crate::metadata::controller) async fn set_isr(f: &Fixture, name: &str, isr: Vec<i32>) {
        let image = f.image();
        let topic = image.topic(name).expect("topic exists");
        let current = &topic.partitions[&0];
        let epoch_of = |id: i32| image.brokers.get(&id).map_or(-1, |b| b.epoch);
        f.controller
            .alter_partition(IsrChange {
                broker_id: current.leader,
                broker_epoch: epoch_of(current.leader),
                topic_id: topic.topic_id,
                partition: 0,
                leader_epoch: current.leader_epoch,
                partition_epoch: current.partition_epoch,
                new_isr_broker_epochs: isr.iter().map(|r| (*r, epoch_of(*r))).collect(),
                new_isr: isr,
            })
            .await
            .expect("the leader's ISR change is accepted");
    }

    fn reassign(name: &str, replicas: Option<Vec<i32>>) -> ReassignmentSpec {
        ReassignmentSpec {
            topic: name.into(),
            partition: 0,
            replicas,
        }
    }

    #[tokio::test]
    async fn a_reassignment_adds_the_targets_then_drops_the_old_replicas_once_they_are_in_sync() {
        let f = fixture(&[1, 2, 3, 4]).await;
        topic(&f, "t", vec![1, 2]).await;
        let results = f
            .controller
            .alter_partition_reassignments(vec![reassign("t", Some(vec![3, 4]))], false)
            .await;
        assert!(results[0].is_ok(), "{results:?}");
        let moving = partition(&f, "t");
        assert_eq!(
            (
                moving.replicas.clone(),
                moving.adding_replicas.clone(),
                moving.removing_replicas.clone(),
                moving.isr.clone(),
                moving.leader
            ),
            (vec![3, 4, 1, 2], vec![3, 4], vec![1, 2], vec![1, 2], 1),
            "targets first, then the replicas being removed; the leader stays meanwhile"
        );
        let listed = f.controller.list_partition_reassignments(None).unwrap();
        assert_eq!(
            listed.get("t").map(|l| l[0].clone()),
            Some(OngoingReassignment {
                partition: 0,
                replicas: vec![3, 4, 1, 2],
                adding_replicas: vec![3, 4],
                removing_replicas: vec![1, 2],
            })
        );
        set_isr(&f, "t", vec![1, 2, 3]).await;
        assert!(partition(&f, "t").is_reassigning(), "4 is not in sync yet");
        set_isr(&f, "t", vec![1, 2, 3, 4]).await;
        let done = partition(&f, "t");
        assert_eq!(
            (done.replicas.clone(), done.isr.clone(), done.leader),
            (vec![3, 4], vec![3, 4], 3),
            "the reassignment completes: old replicas gone, the first target leads"
        );
        assert!(!done.is_reassigning());
        assert!(done.leader_epoch > moving.leader_epoch);
        assert!(f
            .controller
            .list_partition_reassignments(None)
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn cancelling_reverts_to_the_original_replicas() {
        let f = fixture(&[1, 2, 3]).await;
        topic(&f, "t", vec![1, 2]).await;
        f.controller
            .alter_partition_reassignments(vec![reassign("t", Some(vec![1, 3]))], false)
            .await;
        assert_eq!(partition(&f, "t").replicas, vec![1, 3, 2]);
        let cancelled = f
            .controller
            .alter_partition_reassignments(vec![reassign("t", None)], false)
            .await;
        assert!(cancelled[0].is_ok(), "{cancelled:?}");
        let p = partition(&f, "t");
        assert_eq!(
            (
                p.replicas.clone(),
                p.isr.clone(),
                p.leader,
                p.is_reassigning()
            ),
            (vec![1, 2], vec![1, 2], 1, false)
        );
        let again = f
            .controller
            .alter_partition_reassignments(vec![reassign("t", None)], false)
            .await;
        assert_eq!(code(&again[0]), ResponseError::NoReassignmentInProgress);
    }

    #[tokio::test]
    async fn a_removal_or_reorder_completes_at_once() {
        let f = fixture(&[1, 2, 3]).await;
        topic(&f, "t", vec![1, 2, 3]).await;
        let results = f
            .controller
            .alter_partition_reassignments(vec![reassign("t", Some(vec![2, 1]))], true)
            .await;
        assert!(results[0].is_ok(), "{results:?}");
        let p = partition(&f, "t");
        assert_eq!(
            (
                p.replicas.clone(),
                p.isr.clone(),
                p.leader,
                p.is_reassigning()
            ),
            (vec![2, 1], vec![1, 2], 1, false)
        );
    }

    #[tokio::test]
    async fn bad_reassignments_are_refused_with_kafkas_codes_and_change_nothing() {
        let f = fixture(&[1, 2, 3]).await;
        topic(&f, "t", vec![1, 2]).await;
        let offset = f.image().offset;
        let on = |p: i32, replicas: Option<Vec<i32>>| ReassignmentSpec {
            topic: "t".into(),
            partition: p,
            replicas,
        };
        let cases = vec![
            (
                reassign("missing", Some(vec![1, 2])),
                ResponseError::UnknownTopicOrPartition,
            ),
            (
                on(7, Some(vec![1, 2])),
                ResponseError::UnknownTopicOrPartition,
            ),
            (
                on(0, Some(vec![1, 9])),
                ResponseError::InvalidReplicaAssignment,
            ),
            (
                on(0, Some(vec![2, 2])),
                ResponseError::InvalidReplicaAssignment,
            ),
            (on(0, Some(vec![])), ResponseError::InvalidReplicaAssignment),
            (
                on(0, Some(vec![1, 2, 3])),
                ResponseError::InvalidReplicationFactor,
            ),
            (on(0, None), ResponseError::NoReassignmentInProgress),
        ];
        for (spec, expected) in cases {
            let results = f
                .controller
                .alter_partition_reassignments(vec![spec.clone()], false)
                .await;
            assert_eq!(code(&results[0]), expected, "{spec:?}");
        }
        let twice = f
            .controller
            .alter_partition_reassignments(
                vec![on(0, Some(vec![2, 3])), on(0, Some(vec![3, 1]))],
                false,
            )
            .await;
        assert_eq!(code(&twice[0]), ResponseError::InvalidRequest);
        assert_eq!(code(&twice[1]), ResponseError::InvalidRequest);
        assert_eq!(
            f.image().offset,
            offset,
            "refused reassignments write nothing"
        );
        assert_eq!(partition(&f, "t").replicas, vec![1, 2]);
    }
}
