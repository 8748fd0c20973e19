//! Leader elections asked for by an admin (ElectLeaders, Kafka's
//! `ReplicationControlManager.electLeaders`) and the controller's periodic ones: moving
//! leadership back to preferred replicas (`auto.leader.rebalance.enable`, every
//! `leader.imbalance.check.interval.seconds`, for the brokers whose share of partitions led
//! by someone else exceeds `leader.imbalance.per.broker.percentage`) and, with every session
//! expiry check, electing a leader for partitions without a live one where the topic allows
//! unclean election (`unclean.leader.election.enable`).
//!
//! PREFERRED: ELECTION_NOT_NEEDED when the first replica leads, PREFERRED_LEADER_NOT_AVAILABLE
//! when it is fenced or out of the ISR. UNCLEAN: ELECTION_NOT_NEEDED while the partition has a
//! live leader, else a live ISR member leads or, failing that, any live replica —
//! ELIGIBLE_LEADERS_NOT_AVAILABLE when none is live. An admin's unclean election does not
//! need the topic to allow it (as Kafka: asking is the permission).

use std::collections::BTreeMap;

use super::partition_change::{Election, PartitionChangeBuilder};
use super::Controller;
use crate::error::{ApiError, ResponseError};
use crate::metadata::image::{MetadataImage, PartitionRegistration};
use crate::metadata::records::{ConfigResource, MetadataRecord, NO_LEADER};

/// ElectLeaders' election type (Kafka's `ElectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElectionType {
    Preferred,
    Unclean,
}

impl ElectionType {
    /// The wire value (0 = PREFERRED, 1 = UNCLEAN).
    pub(crate) fn from_wire(value: i8) -> Option<Self> {
        match value {
            0 => Some(Self::Preferred),
            1 => Some(Self::Unclean),
            _ => None,
        }
    }
}

/// Elections over `topic → partitions`; `None` names every partition.
pub(crate) type ElectionTargets = Option<Vec<(String, Vec<i32>)>>;

/// Per topic, per partition: the election's outcome.
pub(crate) type ElectionResults = Vec<(String, Vec<(i32, Result<(), ApiError>)>)>;

/// A broker's count of partitions it is the preferred leader of, and those of them led
/// elsewhere (topic id, partition, registration).
type PreferredPartitions<'a> = (usize, Vec<(uuid::Uuid, i32, &'a PartitionRegistration)>);

/// Upper bound on the elections of one periodic pass (Kafka's `maxElectionsPerImbalance`).
const ELECTIONS_PER_PASS_MAX: usize = 1000;

impl Controller {
    /// `name`'s value for `topic`: its own config, else this controller's dynamic broker
    /// config, the cluster default; `None` when none of them sets it.
    fn topic_config<'i>(
        &self,
        image: &'i MetadataImage,
        topic: &str,
        name: &str,
    ) -> Option<&'i String> {
        [
            ConfigResource::Topic(topic.to_string()),
            ConfigResource::Broker(Some(self.defaults.node_id)),
            ConfigResource::Broker(None),
        ]
        .iter()
        .find_map(|resource| image.configs.get(resource)?.get(name))
    }

    /// Whether `topic` allows unclean leader election: its own config, else this
    /// controller's dynamic broker config, the cluster default, the static config.
    pub(crate) fn unclean_election_enabled(&self, image: &MetadataImage, topic: &str) -> bool {
        self.topic_config(image, topic, "unclean.leader.election.enable")
            .map_or(self.defaults.unclean_leader_election_enable, |v| {
                v.trim().eq_ignore_ascii_case("true")
            })
    }

    /// `topic`'s `min.insync.replicas` as the controller tracks ELR with it (Kafka's
    /// `getTopicEffectiveMinIsr` before the cap at the replication factor, which the
    /// partition change builder applies): as [`Self::unclean_election_enabled`] resolves.
    pub(crate) fn min_insync_replicas(&self, image: &MetadataImage, topic: &str) -> i32 {
        self.topic_config(image, topic, "min.insync.replicas")
            .and_then(|v| v.trim().parse::<i32>().ok())
            .unwrap_or(self.defaults.min_insync_replicas)
    }

    /// ElectLeaders. With `targets: None` every partition is tried and only those that
    /// needed an election are answered (Kafka's rule). All elections are one batch.
    pub(crate) async fn elect_leaders(
        &self,
        election: ElectionType,
        targets: ElectionTargets,
    ) -> Result<ElectionResults, ApiError> {
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        let image = self.quorum.image();
        let all = targets.is_none();
        let targets = targets.unwrap_or_else(|| {
            image
                .topics
                .iter()
                .map(|(name, t)| (name.clone(), t.partitions.keys().copied().collect()))
                .collect()
        });
        let mut records = Vec::new();
        let mut results: ElectionResults = Vec::with_capacity(targets.len());
        for (topic, partitions) in targets {
            let mut outcomes = Vec::with_capacity(partitions.len());
            for partition in partitions {
                let min_isr = self.min_insync_replicas(&image, &topic);
                let outcome = elect_one(&image, &topic, partition, election, min_isr);
                let outcome = match outcome {
                    Ok(record) => {
                        records.push(record);
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                let not_needed = outcome
                    .as_ref()
                    .is_err_and(|e| e.code == ResponseError::ElectionNotNeeded);
                if !(all && not_needed) {
                    outcomes.push((partition, outcome));
                }
            }
            results.push((topic, outcomes));
        }
        if !records.is_empty() {
            let elected = records.len();
            if let Err(e) = self.propose(records).await {
                for (_, outcomes) in &mut results {
                    for (_, outcome) in outcomes.iter_mut() {
                        if outcome.is_ok() {
                            *outcome = Err(e.clone());
                        }
                    }
                }
            } else {
                tracing::info!(?election, elected, "elected leaders on request");
            }
        }
        Ok(results)
    }

    /// Kafka's periodic `electUnclean` (on the active controller; a no-op elsewhere):
    /// partitions without a live leader whose topic allows unclean election get one, a
    /// live ISR member if any, else any live replica. Returns the partitions elected.
    pub(crate) async fn elect_unclean_leaders(&self) -> Result<usize, ApiError> {
        if !self.quorum.is_active_controller() {
            return Ok(0);
        }
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        let image = self.quorum.image();
        let live = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
        let mut records = Vec::new();
        for (name, topic) in &image.topics {
            let mut leaderless = topic
                .partitions
                .iter()
                .filter(|(_, reg)| reg.leader == NO_LEADER || !live(reg.leader))
                .peekable();
            if leaderless.peek().is_none() || !self.unclean_election_enabled(&image, name) {
                continue;
            }
            let min_isr = self.min_insync_replicas(&image, name);
            for (&partition, reg) in leaderless {
                if records.len() >= ELECTIONS_PER_PASS_MAX {
                    break;
                }
                let record =
                    PartitionChangeBuilder::new(topic.topic_id, partition, reg, &live, min_isr)
                        .election(Election::Unclean)
                        .build();
                records.extend(record);
            }
        }
        self.propose_elections(records, "periodic unclean leader election")
            .await
    }

    /// Kafka's periodic `electPreferred` (on the active controller, with
    /// `auto.leader.rebalance.enable`; a no-op otherwise): preferred elections for the
    /// brokers above `leader.imbalance.per.broker.percentage`. Returns the partitions whose
    /// leader moved.
    pub(crate) async fn balance_leaders(&self) -> Result<usize, ApiError> {
        if !self.defaults.auto_leader_rebalance_enable || !self.quorum.is_active_controller() {
            return Ok(0);
        }
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        let image = self.quorum.image();
        let records = self.preferred_elections_for_imbalance(&image, ELECTIONS_PER_PASS_MAX);
        self.propose_elections(records, "moving leadership back to preferred replicas")
            .await
    }

    async fn propose_elections(
        &self,
        records: Vec<MetadataRecord>,
        what: &'static str,
    ) -> Result<usize, ApiError> {
        if records.is_empty() {
            return Ok(0);
        }
        let changed = records.len();
        tracing::info!(partitions = changed, "{what}");
        self.propose(records).await?;
        Ok(changed)
    }

    /// Preferred elections for the partitions of every broker whose imbalance ratio (its
    /// preferred partitions led by another broker, over all its preferred partitions)
    /// exceeds `leader.imbalance.per.broker.percentage`, where the preferred replica can lead.
    fn preferred_elections_for_imbalance(
        &self,
        image: &MetadataImage,
        budget: usize,
    ) -> Vec<MetadataRecord> {
        let live = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
        // preferred broker → (its partitions, those it does not lead)
        let mut per_broker: BTreeMap<i32, PreferredPartitions<'_>> = BTreeMap::new();
        for topic in image.topics.values() {
            for (&partition, reg) in &topic.partitions {
                let Some(preferred) = reg.preferred_leader() else {
                    continue;
                };
                let entry = per_broker.entry(preferred).or_default();
                entry.0 += 1;
                if !reg.has_preferred_leader() && !reg.is_reassigning() {
                    entry.1.push((topic.topic_id, partition, reg));
                }
            }
        }
        let threshold = f64::from(self.defaults.leader_imbalance_per_broker_percentage) / 100.0;
        let mut records = Vec::new();
        for (broker, (total, imbalanced)) in per_broker {
            if imbalanced.is_empty() || !live(broker) {
                continue;
            }
            let ratio = imbalanced.len() as f64 / total.max(1) as f64;
            if ratio <= threshold {
                continue;
            }
            for (topic_id, partition, reg) in imbalanced {
                if records.len() >= budget {
                    return records;
                }
                let min_isr = image
                    .topic_by_id(topic_id)
                    .map_or(1, |t| self.min_insync_replicas(image, &t.name));
                let record = PartitionChangeBuilder::new(topic_id, partition, reg, &live, min_isr)
                    .election(Election::Preferred)
                    .build();
                records.extend(record);
            }
        }
        records
    }
}

/// One partition's election for ElectLeaders: its record, or why there is none.
fn elect_one(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    election: ElectionType,
    min_isr: i32,
) -> Result<MetadataRecord, ApiError> {
    let Some(t) = image.topic(topic) else {
        return Err(ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("No such topic as {topic}"),
        ));
    };
    let Some(reg) = t.partitions.get(&partition) else {
        return Err(ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("No such partition as {topic}-{partition}"),
        ));
    };
    let live = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
    let has_live_leader = reg.leader != NO_LEADER && live(reg.leader);
    let not_needed = match election {
        // A fenced preferred leader "leads" in the image but serves nobody: not preferred.
        ElectionType::Preferred => reg.has_preferred_leader() && has_live_leader,
        ElectionType::Unclean => has_live_leader,
    };
    if not_needed {
        return Err(ApiError::new(
            ResponseError::ElectionNotNeeded,
            ResponseError::ElectionNotNeeded.to_string(),
        ));
    }
    let builder = PartitionChangeBuilder::new(t.topic_id, partition, reg, &live, min_isr);
    let record = match election {
        ElectionType::Preferred => builder.election(Election::Preferred).build(),
        ElectionType::Unclean => builder.election(Election::Unclean).build(),
    };
    // Only a record that gives the partition a live leader is an election (one that
    // merely notes the last known leader is not).
    let elects = |record: &MetadataRecord| matches!(record, MetadataRecord::PartitionChange { leader: Some(l), .. } if live(*l));
    // Kafka answers the code's own message.
    record.filter(elects).ok_or_else(|| {
        let code = match election {
            ElectionType::Preferred => ResponseError::PreferredLeaderNotAvailable,
            ElectionType::Unclean => ResponseError::EligibleLeadersNotAvailable,
        };
        ApiError::new(code, code.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::super::reassignment::tests::{partition, set_isr, topic};
    use super::super::tests::{fixture, fixture_with, Fixture};
    use super::*;
    use crate::metadata::controller::{AlterOp, ConfigChangeSpec};
    use crate::metadata::BrokerHeartbeat;

    async fn heartbeat(f: &Fixture, id: i32, want_fence: bool) {
        let epoch = f.image().brokers[&id].epoch;
        f.controller
            .heartbeat(BrokerHeartbeat {
                broker_id: id,
                broker_epoch: epoch,
                current_metadata_offset: i64::MAX,
                want_fence,
                want_shut_down: false,
            })
            .await
            .expect("heartbeat");
    }

    fn codes(results: &ElectionResults) -> Vec<(String, i32, Option<ResponseError>)> {
        results
            .iter()
            .flat_map(|(t, ps)| {
                ps.iter()
                    .map(|(p, r)| (t.clone(), *p, r.as_ref().err().map(|e| e.code)))
            })
            .collect()
    }

    /// Broker 1 leads `t` and fails over to 2, comes back and rejoins the ISR.
    async fn failed_over(f: &Fixture) {
        topic(f, "t", vec![1, 2]).await;
        heartbeat(f, 1, true).await;
        assert_eq!(partition(f, "t").leader, 2, "2 took over");
        heartbeat(f, 1, false).await;
    }

    #[tokio::test]
    async fn preferred_election_moves_leadership_back_once_the_preferred_replica_is_in_sync() {
        let f = fixture(&[1, 2]).await;
        failed_over(&f).await;
        let named = Some(vec![("t".to_string(), vec![0])]);
        let refused = f
            .controller
            .elect_leaders(ElectionType::Preferred, named.clone())
            .await
            .unwrap();
        assert_eq!(
            codes(&refused),
            vec![(
                "t".into(),
                0,
                Some(ResponseError::PreferredLeaderNotAvailable)
            )],
            "1 is not back in the ISR yet"
        );
        set_isr(&f, "t", vec![2, 1]).await;
        let elected = f
            .controller
            .elect_leaders(ElectionType::Preferred, named.clone())
            .await
            .unwrap();
        assert_eq!(codes(&elected), vec![("t".into(), 0, None)]);
        assert_eq!(partition(&f, "t").leader, 1);
        let again = f
            .controller
            .elect_leaders(ElectionType::Preferred, named)
            .await
            .unwrap();
        assert_eq!(
            codes(&again),
            vec![("t".into(), 0, Some(ResponseError::ElectionNotNeeded))]
        );
        let all = f
            .controller
            .elect_leaders(ElectionType::Preferred, None)
            .await
            .unwrap();
        assert!(
            codes(&all).is_empty(),
            "electing all partitions leaves out those that needed nothing: {all:?}"
        );
        let unknown = f
            .controller
            .elect_leaders(
                ElectionType::Preferred,
                Some(vec![("t".into(), vec![5]), ("nope".into(), vec![0])]),
            )
            .await
            .unwrap();
        assert_eq!(
            codes(&unknown),
            vec![
                ("t".into(), 5, Some(ResponseError::UnknownTopicOrPartition)),
                (
                    "nope".into(),
                    0,
                    Some(ResponseError::UnknownTopicOrPartition)
                ),
            ]
        );
    }

    #[tokio::test]
    async fn the_periodic_pass_rebalances_only_when_enabled_and_imbalanced() {
        let f = fixture_with(&[1, 2], |d| d.auto_leader_rebalance_enable = false).await;
        failed_over(&f).await;
        set_isr(&f, "t", vec![2, 1]).await;
        assert_eq!(f.controller.balance_leaders().await.unwrap(), 0);
        assert_eq!(partition(&f, "t").leader, 2, "auto rebalance is off");

        let f = fixture_with(&[1, 2], |d| d.leader_imbalance_per_broker_percentage = 100).await;
        failed_over(&f).await;
        set_isr(&f, "t", vec![2, 1]).await;
        assert_eq!(f.controller.balance_leaders().await.unwrap(), 0);
        assert_eq!(partition(&f, "t").leader, 2, "100% imbalance is tolerated");

        let f = fixture(&[1, 2]).await;
        failed_over(&f).await;
        assert_eq!(
            f.controller.balance_leaders().await.unwrap(),
            0,
            "1 is out of the ISR: it cannot lead yet"
        );
        set_isr(&f, "t", vec![2, 1]).await;
        assert_eq!(f.controller.balance_leaders().await.unwrap(), 1);
        assert_eq!(
            partition(&f, "t").leader,
            1,
            "leadership is back on the preferred replica"
        );
    }

    #[tokio::test]
    async fn unclean_election_only_by_request_or_where_the_topic_allows_it() {
        let f = fixture(&[1, 2]).await;
        topic(&f, "t", vec![1, 2]).await;
        set_isr(&f, "t", vec![1]).await;
        heartbeat(&f, 1, true).await;
        assert_eq!(
            (partition(&f, "t").leader, partition(&f, "t").isr),
            (1, vec![1]),
            "unclean election is off: the partition waits for its only in-sync replica"
        );
        assert_eq!(f.controller.elect_unclean_leaders().await.unwrap(), 0);
        assert_eq!(partition(&f, "t").leader, 1);
        let refused = f
            .controller
            .elect_leaders(ElectionType::Preferred, Some(vec![("t".into(), vec![0])]))
            .await
            .unwrap();
        assert_eq!(
            codes(&refused),
            vec![(
                "t".into(),
                0,
                Some(ResponseError::PreferredLeaderNotAvailable)
            )]
        );
        // The topic allows it now: the periodic pass elects 2.
        let set = f
            .controller
            .alter_configs(
                vec![ConfigChangeSpec {
                    resource: ConfigResource::Topic("t".into()),
                    ops: vec![(
                        "unclean.leader.election.enable".into(),
                        AlterOp::Set("true".into()),
                    )],
                }],
                false,
            )
            .await;
        assert!(set[0].is_ok(), "{set:?}");
        assert_eq!(f.controller.elect_unclean_leaders().await.unwrap(), 1);
        let p = partition(&f, "t");
        assert_eq!(
            (p.leader, p.isr),
            (2, vec![2]),
            "the out-of-sync replica leads"
        );
        let not_needed = f
            .controller
            .elect_leaders(ElectionType::Unclean, Some(vec![("t".into(), vec![0])]))
            .await
            .unwrap();
        assert_eq!(
            codes(&not_needed),
            vec![("t".into(), 0, Some(ResponseError::ElectionNotNeeded))]
        );
    }

    #[tokio::test]
    async fn an_admin_unclean_election_needs_no_topic_permission_but_a_live_replica() {
        let f = fixture(&[1, 2]).await;
        topic(&f, "t", vec![1, 2]).await;
        set_isr(&f, "t", vec![1]).await;
        heartbeat(&f, 1, true).await;
        let elected = f
            .controller
            .elect_leaders(ElectionType::Unclean, Some(vec![("t".into(), vec![0])]))
            .await
            .unwrap();
        assert_eq!(codes(&elected), vec![("t".into(), 0, None)]);
        assert_eq!(
            (partition(&f, "t").leader, partition(&f, "t").isr),
            (2, vec![2])
        );
        heartbeat(&f, 2, true).await;
        let nobody = f
            .controller
            .elect_leaders(ElectionType::Unclean, Some(vec![("t".into(), vec![0])]))
            .await
            .unwrap();
        assert_eq!(
            codes(&nobody),
            vec![(
                "t".into(),
                0,
                Some(ResponseError::EligibleLeadersNotAvailable)
            )],
            "no replica is live"
        );
    }
}
