//! `MetadataImage`: the immutable in-memory view of the cluster metadata log (Kafka's
//! `MetadataImage`). Applying a batch of records never mutates an image; it builds the next
//! one, sharing every untouched topic through `Arc`.
//!
//! Apply is deterministic and total: a record that does not fit the image (a partition of an
//! unknown topic, a second topic with an existing name, ...) is logged and skipped. Every
//! replica of the metadata log therefore reaches the same image from the same records.
//!
//! Napkin math: applying one batch clones the outer maps (one `Arc` bump per topic, ~1000
//! topics → a few µs) and deep-clones only the topics the batch touches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::features::{self, FeatureRange};
use super::records::{BrokerEndpoint, ConfigResource, MetadataRecord};
use crate::client_quota::{ClientQuotaEntity, QuotaValue};
use crate::security::acl::StandardAcl;
use crate::security::authorizer::AclCache;
use crate::security::sasl::scram::{ScramCredential, ScramMechanism};

/// A registered broker (Kafka's `BrokerRegistration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BrokerRegistration {
    pub broker_id: i32,
    pub incarnation_id: Uuid,
    pub listeners: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    pub fenced: bool,
    /// Kafka's broker epoch: the offset of the registration record.
    #[serde(default)]
    pub epoch: i64,
    /// The feature levels the broker supports; `None` for a registration of a build before
    /// feature records (see [`BrokerRegistration::supported_features`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<BTreeMap<String, FeatureRange>>,
}

impl BrokerRegistration {
    /// The levels the broker supports: what it registered with, or for a registration
    /// without features (builds before them) this build's ranges, which theirs equalled.
    pub(crate) fn supported_features(&self) -> BTreeMap<String, FeatureRange> {
        self.features.clone().unwrap_or_else(features::supported)
    }
}

/// A partition's replica assignment and leadership (Kafka's `PartitionRegistration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartitionRegistration {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// A reassignment in progress (Kafka's `addingReplicas` / `removingReplicas`): both
    /// are part of `replicas` until the reassignment completes or is cancelled.
    #[serde(default)]
    pub adding_replicas: Vec<i32>,
    #[serde(default)]
    pub removing_replicas: Vec<i32>,
    /// KIP-966 eligible leader replicas: replicas that left the ISR while it was below
    /// `min.insync.replicas` (the high watermark frozen since, so they hold every committed
    /// record); a leader may come from them when no ISR member is live. Snapshots of
    /// images written before ELR existed lack it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elr: Vec<i32>,
    /// KIP-966 last known ELR: the last leader of a partition no live replica can lead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_known_elr: Vec<i32>,
}

impl PartitionRegistration {
    /// Whether a reassignment is in progress (Kafka's `isReassignmentInProgress`).
    pub(crate) fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The first replica, which leads when it can (Kafka's preferred leader).
    pub(crate) fn preferred_leader(&self) -> Option<i32> {
        self.replicas.first().copied()
    }

    /// Kafka's `hasPreferredLeader`: the preferred replica leads.
    pub(crate) fn has_preferred_leader(&self) -> bool {
        self.preferred_leader() == Some(self.leader)
    }
}

/// A topic and its partitions (Kafka's `TopicImage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TopicImage {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: BTreeMap<i32, PartitionRegistration>,
}

/// The cluster metadata as of raft log index `offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MetadataImage {
    /// Index of the last raft entry applied to this image (0 = nothing applied).
    pub offset: u64,
    pub cluster_id: String,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, Arc<TopicImage>>,
    pub topic_names_by_id: HashMap<Uuid, String>,
    pub configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    /// First producer id of the next block the controller hands out (0 before any).
    pub next_producer_id: i64,
    /// SCRAM credentials by user and mechanism.
    pub scram_credentials: BTreeMap<(String, ScramMechanism), ScramCredential>,
    /// The ACL bindings, indexed for the authorizer (shared until an ACL record changes
    /// them).
    pub acls: Arc<AclCache>,
    /// Client quotas by entity, then key (`producer_byte_rate`, ...).
    pub client_quotas: BTreeMap<ClientQuotaEntity, BTreeMap<String, QuotaValue>>,
    /// The `FeatureLevel` records applied: feature → level (above 0, metadata.version at any
    /// level). Empty in a log written before feature records; see
    /// [`MetadataImage::finalized_features`].
    pub feature_levels: BTreeMap<String, i16>,
}

impl MetadataImage {
    /// The image before any record: no cluster id, no brokers, no topics.
    pub(crate) fn empty() -> Self {
        Self::default()
    }

    /// A user's SCRAM credential for `mechanism`.
    pub(crate) fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<&ScramCredential> {
        self.scram_credentials.get(&(user.to_string(), mechanism))
    }

    /// The finalized feature levels the cluster runs at (level-0 features left out): the
    /// feature records', or for a log without a metadata.version record what builds
    /// before feature records ran at ([`features::LEGACY_FINALIZED`]).
    pub(crate) fn finalized_features(&self) -> BTreeMap<String, i16> {
        if self.is_legacy_features() {
            features::LEGACY_FINALIZED
                .iter()
                .map(|(name, level)| (name.to_string(), *level))
                .collect()
        } else {
            self.feature_levels.clone()
        }
    }

    /// Whether the log has no metadata.version record (written before feature records).
    pub(crate) fn is_legacy_features(&self) -> bool {
        !self.feature_levels.contains_key(features::METADATA_VERSION)
    }

    pub(crate) fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    pub(crate) fn topic_by_id(&self, topic_id: Uuid) -> Option<&Arc<TopicImage>> {
        self.topic_names_by_id
            .get(&topic_id)
            .and_then(|name| self.topics.get(name))
    }

    /// Whether `topic` exists and has a partition `partition` (Kafka's
    /// `metadataCache.getLeaderAndIsr(topic, partition).isPresent`).
    pub(crate) fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition))
    }

    #[cfg(test)]
    /// Dynamic config overrides of a topic (empty when none are set).
    pub(crate) fn topic_config(&self, name: &str) -> BTreeMap<String, String> {
        self.configs
            .get(&ConfigResource::Topic(name.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    #[cfg(test)]
    /// Dynamic broker config: `None` = the cluster-wide default, `Some(id)` = one broker's.
    pub(crate) fn broker_config(&self, broker_id: Option<i32>) -> BTreeMap<String, String> {
        self.configs
            .get(&ConfigResource::Broker(broker_id))
            .cloned()
            .unwrap_or_default()
    }

    #[cfg(test)]
    /// Ids of registered brokers that are not fenced, ascending.
    pub(crate) fn unfenced_broker_ids(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.broker_id)
            .collect()
    }

    #[cfg(test)]
    /// The next image: `records` applied in order on top of this one (`offset` is left as
    /// is).
    pub(crate) fn apply(&self, records: &[MetadataRecord]) -> MetadataImage {
        let mut next = self.clone();
        next.apply_in_place(records);
        next
    }

    /// Applies `records` to an image nobody else sees yet (the state machine's next image,
    /// built once per applied raft batch; its `offset` is already the batch's own, which a
    /// registration takes as its broker epoch).
    pub(crate) fn apply_in_place(&mut self, records: &[MetadataRecord]) {
        for record in records {
            self.apply_one(record);
        }
    }

    fn apply_one(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::ClusterId { cluster_id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = cluster_id.clone();
                } else if &self.cluster_id != cluster_id {
                    tracing::warn!(
                        current = %self.cluster_id,
                        record = %cluster_id,
                        "skipping ClusterId record: the cluster id is already set"
                    );
                }
            }
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                listeners,
                rack,
                fenced,
                features,
            } => {
                self.brokers.insert(
                    *broker_id,
                    BrokerRegistration {
                        broker_id: *broker_id,
                        incarnation_id: *incarnation_id,
                        listeners: listeners.clone(),
                        rack: rack.clone(),
                        fenced: *fenced,
                        epoch: i64::try_from(self.offset).unwrap_or(i64::MAX),
                        features: features.clone(),
                    },
                );
            }
            MetadataRecord::FeatureLevel { name, level } => {
                if *level < 0 {
                    tracing::warn!(feature = %name, level, "skipping FeatureLevel record with a negative level");
                } else if name == features::KRAFT_VERSION {
                    // the quorum's, never the log's (as Kafka 4.1 skips such a record)
                    tracing::warn!(level, "skipping FeatureLevel record for kraft.version");
                } else if *level == 0 && name != features::METADATA_VERSION {
                    self.feature_levels.remove(name);
                } else {
                    self.feature_levels.insert(name.clone(), *level);
                }
            }
            MetadataRecord::FenceBroker { broker_id }
            | MetadataRecord::UnfenceBroker { broker_id } => {
                let fenced = matches!(record, MetadataRecord::FenceBroker { .. });
                match self.brokers.get_mut(broker_id) {
                    Some(broker) => broker.fenced = fenced,
                    None => tracing::warn!(
                        broker_id,
                        fenced,
                        "skipping fencing record of an unknown broker"
                    ),
                }
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => match self.brokers.get(broker_id) {
                Some(broker) if broker.epoch == *broker_epoch => {
                    self.brokers.remove(broker_id);
                }
                registered => tracing::warn!(
                    broker_id,
                    broker_epoch,
                    registered_epoch = registered.map(|b| b.epoch),
                    "skipping UnregisterBroker record: no registration at that epoch"
                ),
            },
            MetadataRecord::Topic { name, topic_id } => {
                if self.topics.contains_key(name) || self.topic_names_by_id.contains_key(topic_id) {
                    tracing::warn!(topic = %name, %topic_id, "skipping Topic record: name or id already exists");
                    return;
                }
                self.topic_names_by_id.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    Arc::new(TopicImage {
                        name: name.clone(),
                        topic_id: *topic_id,
                        partitions: BTreeMap::new(),
                    }),
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding_replicas,
                removing_replicas,
            } => {
                let Some(topic) = self.topic_mut(*topic_id) else {
                    tracing::warn!(%topic_id, partition, "skipping Partition record of an unknown topic");
                    return;
                };
                if *partition < 0 {
                    tracing::warn!(%topic_id, partition, "skipping Partition record with a negative index");
                    return;
                }
                topic.partitions.insert(
                    *partition,
                    PartitionRegistration {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                        adding_replicas: adding_replicas.clone(),
                        removing_replicas: removing_replicas.clone(),
                        elr: Vec::new(),
                        last_known_elr: Vec::new(),
                    },
                );
            }
            MetadataRecord::PartitionChange {
                topic_id,
                partition,
                leader,
                isr,
                replicas,
                adding_replicas,
                removing_replicas,
                eligible_leader_replicas,
                last_known_elr,
            } => {
                let Some(topic) = self.topic_mut(*topic_id) else {
                    tracing::warn!(%topic_id, partition, "skipping PartitionChange record of an unknown topic");
                    return;
                };
                let Some(registration) = topic.partitions.get_mut(partition) else {
                    tracing::warn!(%topic_id, partition, "skipping PartitionChange record of an unknown partition");
                    return;
                };
                let (leader_epoch_before, partition_epoch_before) =
                    (registration.leader_epoch, registration.partition_epoch);
                if let Some(replicas) = replicas {
                    registration.replicas = replicas.clone();
                }
                if let Some(isr) = isr {
                    registration.isr = isr.clone();
                }
                if let Some(adding) = adding_replicas {
                    registration.adding_replicas = adding.clone();
                }
                if let Some(removing) = removing_replicas {
                    registration.removing_replicas = removing.clone();
                }
                if let Some(elr) = eligible_leader_replicas {
                    registration.elr = elr.clone();
                }
                if let Some(last_known) = last_known_elr {
                    registration.last_known_elr = last_known.clone();
                }
                if let Some(leader) = leader {
                    registration.leader = *leader;
                    registration.leader_epoch = registration.leader_epoch.saturating_add(1);
                }
                registration.partition_epoch = registration.partition_epoch.saturating_add(1);
                debug_assert!(
                    registration.leader_epoch >= leader_epoch_before
                        && registration.partition_epoch > partition_epoch_before,
                    "partition epochs never go back"
                );
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let Some(name) = self.topic_names_by_id.remove(topic_id) else {
                    tracing::warn!(%topic_id, "skipping RemoveTopic record of an unknown topic");
                    return;
                };
                self.topics.remove(&name);
                // As Kafka: a topic's dynamic configs go with it.
                self.configs.remove(&ConfigResource::Topic(name));
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                credential,
            } => {
                self.scram_credentials
                    .insert((name.clone(), *mechanism), credential.clone());
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                self.scram_credentials.remove(&(name.clone(), *mechanism));
            }
            MetadataRecord::AccessControlEntry { id, acl } => {
                Arc::make_mut(&mut self.acls).insert(*id, acl.clone());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                if !self.acls.contains_id(id) {
                    tracing::warn!(%id, "skipping RemoveAccessControlEntry record of an unknown ACL");
                    return;
                }
                Arc::make_mut(&mut self.acls).remove(id);
            }
            MetadataRecord::ClientQuota { entity, key, value } => match value {
                Some(value) => {
                    self.client_quotas
                        .entry(entity.clone())
                        .or_default()
                        .insert(key.clone(), *value);
                }
                None => {
                    if let Some(quotas) = self.client_quotas.get_mut(entity) {
                        quotas.remove(key);
                        if quotas.is_empty() {
                            self.client_quotas.remove(entity);
                        }
                    }
                }
            },
            MetadataRecord::ProducerIds {
                next_block_start, ..
            } => {
                // Producer ids only grow, even if records were replayed out of order.
                self.next_producer_id = self.next_producer_id.max(*next_block_start);
            }
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => {
                if let ConfigResource::Topic(topic) = resource {
                    if !self.topics.contains_key(topic) {
                        tracing::warn!(%topic, config = %name, "skipping Config record of an unknown topic");
                        return;
                    }
                }
                match value {
                    Some(value) => {
                        self.configs
                            .entry(resource.clone())
                            .or_default()
                            .insert(name.clone(), value.clone());
                    }
                    None => {
                        if let Some(configs) = self.configs.get_mut(resource) {
                            configs.remove(name);
                            if configs.is_empty() {
                                self.configs.remove(resource);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The topic with this id, cloned out of its `Arc` only when shared.
    fn topic_mut(&mut self, topic_id: Uuid) -> Option<&mut TopicImage> {
        let name = self.topic_names_by_id.get(&topic_id)?;
        self.topics.get_mut(name).map(Arc::make_mut)
    }
}

/// The serialized form of an image inside a metadata snapshot (maps with non-string keys
/// become lists so the JSON stays plain).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ImageSnapshot {
    pub(crate) offset: u64,
    pub(crate) cluster_id: String,
    pub(crate) brokers: Vec<BrokerRegistration>,
    pub(crate) topics: Vec<TopicImage>,
    pub(crate) configs: Vec<(ConfigResource, BTreeMap<String, String>)>,
    #[serde(default)]
    pub(crate) next_producer_id: i64,
    #[serde(default)]
    pub(crate) scram_credentials: Vec<(String, ScramMechanism, ScramCredential)>,
    #[serde(default)]
    pub(crate) acls: Vec<(Uuid, StandardAcl)>,
    #[serde(default)]
    pub(crate) client_quotas: Vec<(ClientQuotaEntity, BTreeMap<String, QuotaValue>)>,
    #[serde(default)]
    pub(crate) feature_levels: BTreeMap<String, i16>,
}

impl From<&MetadataImage> for ImageSnapshot {
    fn from(image: &MetadataImage) -> Self {
        Self {
            offset: image.offset,
            cluster_id: image.cluster_id.clone(),
            brokers: image.brokers.values().cloned().collect(),
            topics: image
                .topics
                .values()
                .map(|t| TopicImage::clone(t))
                .collect(),
            configs: image
                .configs
                .iter()
                .map(|(r, c)| (r.clone(), c.clone()))
                .collect(),
            next_producer_id: image.next_producer_id,
            scram_credentials: image
                .scram_credentials
                .iter()
                .map(|((name, mechanism), c)| (name.clone(), *mechanism, c.clone()))
                .collect(),
            acls: image
                .acls
                .iter()
                .map(|(id, acl)| (*id, acl.clone()))
                .collect(),
            client_quotas: image
                .client_quotas
                .iter()
                .map(|(e, q)| (e.clone(), q.clone()))
                .collect(),
            feature_levels: image.feature_levels.clone(),
        }
    }
}

impl From<ImageSnapshot> for MetadataImage {
    fn from(snapshot: ImageSnapshot) -> Self {
        let mut image = MetadataImage {
            offset: snapshot.offset,
            cluster_id: snapshot.cluster_id,
            ..MetadataImage::default()
        };
        for broker in snapshot.brokers {
            image.brokers.insert(broker.broker_id, broker);
        }
        for topic in snapshot.topics {
            image
                .topic_names_by_id
                .insert(topic.topic_id, topic.name.clone());
            image.topics.insert(topic.name.clone(), Arc::new(topic));
        }
        image.configs = snapshot.configs.into_iter().collect();
        image.next_producer_id = snapshot.next_producer_id;
        image.scram_credentials = snapshot
            .scram_credentials
            .into_iter()
            .map(|(name, mechanism, c)| ((name, mechanism), c))
            .collect();
        let mut acls = AclCache::default();
        for (id, acl) in snapshot.acls {
            acls.insert(id, acl);
        }
        image.acls = Arc::new(acls);
        image.client_quotas = snapshot.client_quotas.into_iter().collect();
        image.feature_levels = snapshot.feature_levels;
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, id: u128) -> MetadataRecord {
        MetadataRecord::Topic {
            name: name.into(),
            topic_id: Uuid::from_u128(id),
        }
    }

    fn partition(id: u128, p: i32, replicas: Vec<i32>) -> MetadataRecord {
        MetadataRecord::new_partition(Uuid::from_u128(id), p, replicas.clone(), replicas)
    }

    #[test]
    fn apply_builds_topics_and_leaves_the_old_image_untouched() {
        let empty = MetadataImage::empty();
        let image = empty.apply(&[
            topic("a", 1),
            partition(1, 0, vec![1]),
            partition(1, 1, vec![1]),
        ]);
        assert!(
            empty.topics.is_empty(),
            "apply must not mutate the source image"
        );
        let a = image
            .topic("a")
            .expect("topic a exists after its Topic record");
        assert_eq!(a.partitions.len(), 2);
        assert_eq!(
            image
                .topic_by_id(Uuid::from_u128(1))
                .map(|t| t.name.as_str()),
            Some("a")
        );
    }

    #[test]
    fn untouched_topics_are_shared_between_images() {
        let first =
            MetadataImage::empty().apply(&[topic("a", 1), partition(1, 0, vec![1]), topic("b", 2)]);
        let second = first.apply(&[partition(2, 0, vec![1])]);
        assert!(
            Arc::ptr_eq(&first.topics["a"], &second.topics["a"]),
            "topic a was not touched and must be shared, not copied"
        );
        assert!(!Arc::ptr_eq(&first.topics["b"], &second.topics["b"]));
        assert!(
            first.topics["b"].partitions.is_empty(),
            "the older image keeps its own topic b"
        );
    }

    #[test]
    fn records_that_do_not_fit_are_skipped() {
        let image = MetadataImage::empty().apply(&[
            partition(9, 0, vec![1]),
            topic("a", 1),
            topic("a", 2),
            topic("b", 1),
            MetadataRecord::leader_change(Uuid::from_u128(1), 5, 1),
            MetadataRecord::RemoveTopic {
                topic_id: Uuid::from_u128(42),
            },
            MetadataRecord::FenceBroker { broker_id: 3 },
            MetadataRecord::Config {
                resource: ConfigResource::Topic("nope".into()),
                name: "x".into(),
                value: Some("1".into()),
            },
        ]);
        assert_eq!(image.topics.len(), 1, "only the first topic 'a' fits");
        assert_eq!(image.topics["a"].topic_id, Uuid::from_u128(1));
        assert!(image.topics["a"].partitions.is_empty());
        assert!(image.configs.is_empty());
        assert!(image.brokers.is_empty());
    }

    #[test]
    fn partition_change_bumps_epochs_as_kafka() {
        let base = MetadataImage::empty().apply(&[topic("a", 1), partition(1, 0, vec![1, 2, 3])]);
        let shrink = base.apply(&[MetadataRecord::isr_change(
            Uuid::from_u128(1),
            0,
            vec![1, 2],
        )]);
        let p = &shrink.topics["a"].partitions[&0];
        assert_eq!(
            (p.leader, p.leader_epoch, p.partition_epoch),
            (1, 0, 1),
            "ISR change bumps only the partition epoch"
        );
        assert_eq!(p.isr, vec![1, 2]);
        let elect = shrink.apply(&[MetadataRecord::leader_change(Uuid::from_u128(1), 0, 2)]);
        let p = &elect.topics["a"].partitions[&0];
        assert_eq!(
            (p.leader, p.leader_epoch, p.partition_epoch),
            (2, 1, 2),
            "leader change bumps both epochs"
        );
    }

    #[test]
    fn configs_set_delete_and_go_with_their_topic() {
        let set = |r: ConfigResource, v: Option<&str>| MetadataRecord::Config {
            resource: r,
            name: "retention.ms".into(),
            value: v.map(String::from),
        };
        let image = MetadataImage::empty().apply(&[
            topic("a", 1),
            set(ConfigResource::Topic("a".into()), Some("10")),
            set(ConfigResource::Broker(None), Some("20")),
            set(ConfigResource::Broker(Some(1)), Some("30")),
        ]);
        assert_eq!(
            image
                .topic_config("a")
                .get("retention.ms")
                .map(String::as_str),
            Some("10")
        );
        assert_eq!(
            image
                .broker_config(None)
                .get("retention.ms")
                .map(String::as_str),
            Some("20")
        );
        assert_eq!(
            image
                .broker_config(Some(1))
                .get("retention.ms")
                .map(String::as_str),
            Some("30")
        );
        let image = image.apply(&[
            set(ConfigResource::Broker(None), None),
            MetadataRecord::RemoveTopic {
                topic_id: Uuid::from_u128(1),
            },
        ]);
        assert!(
            image.broker_config(None).is_empty(),
            "a None value deletes the config"
        );
        assert!(
            image.topic_config("a").is_empty(),
            "a removed topic's configs are removed too"
        );
        assert!(image.topic("a").is_none() && image.topic_names_by_id.is_empty());
    }

    #[test]
    fn broker_registration_and_fencing() {
        let register = |fenced| MetadataRecord::RegisterBroker {
            broker_id: 1,
            incarnation_id: Uuid::from_u128(5),
            listeners: vec![],
            rack: None,
            fenced,
            features: None,
        };
        let mut image = MetadataImage::empty();
        image.offset = 7;
        let image = image.apply(&[register(true)]);
        assert!(
            image.unfenced_broker_ids().is_empty(),
            "a new registration is fenced"
        );
        assert_eq!(
            image.brokers[&1].epoch, 7,
            "the broker epoch is the registration record's offset"
        );
        let image = image.apply(&[MetadataRecord::UnfenceBroker { broker_id: 1 }]);
        assert_eq!(image.unfenced_broker_ids(), vec![1]);
        let image = image.apply(&[MetadataRecord::FenceBroker { broker_id: 1 }]);
        assert!(
            image.unfenced_broker_ids().is_empty(),
            "a fenced broker is not available"
        );
        let image = image.apply(&[register(false)]);
        assert_eq!(
            image.unfenced_broker_ids(),
            vec![1],
            "a registration of an older log (no fenced field) is unfenced"
        );
    }

    #[test]
    fn feature_levels_are_finalized_and_a_log_without_them_runs_at_the_legacy_levels() {
        let legacy = MetadataImage::empty();
        assert!(legacy.is_legacy_features());
        assert_eq!(
            legacy.finalized_features(),
            BTreeMap::from([
                ("group.version".to_string(), 1),
                ("metadata.version".to_string(), 27)
            ])
        );
        let level = |name: &str, level| MetadataRecord::FeatureLevel {
            name: name.into(),
            level,
        };
        let image = legacy.apply(&[level("metadata.version", 21)]);
        assert_eq!(
            image.finalized_features(),
            BTreeMap::from([("metadata.version".to_string(), 21)]),
            "a cluster formatted at 3.9 runs without group.version"
        );
        let image = image.apply(&[level("group.version", 1), level("metadata.version", 27)]);
        let image = image.apply(&[level("group.version", 0)]);
        assert_eq!(
            image.finalized_features(),
            BTreeMap::from([("metadata.version".to_string(), 27)]),
            "level 0 removes a feature"
        );
        let restored = MetadataImage::from(ImageSnapshot::from(&image));
        assert_eq!(restored, image, "the levels survive the snapshot form");
    }

    #[test]
    fn cluster_id_is_written_once() {
        let image = MetadataImage::empty().apply(&[
            MetadataRecord::ClusterId {
                cluster_id: "one".into(),
            },
            MetadataRecord::ClusterId {
                cluster_id: "two".into(),
            },
        ]);
        assert_eq!(image.cluster_id, "one");
    }

    #[test]
    fn snapshot_form_round_trips() {
        let image = MetadataImage::empty().apply(&[
            MetadataRecord::ClusterId {
                cluster_id: "c".into(),
            },
            topic("a", 1),
            partition(1, 0, vec![1]),
            MetadataRecord::Config {
                resource: ConfigResource::Broker(Some(1)),
                name: "k".into(),
                value: Some("v".into()),
            },
        ]);
        let json = serde_json::to_vec(&ImageSnapshot::from(&image)).unwrap();
        let back: ImageSnapshot = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            MetadataImage::from(back),
            image,
            "an image must survive its snapshot form"
        );
    }

    #[test]
    fn producer_id_blocks_only_move_forward_and_survive_snapshots() {
        let image = MetadataImage::empty().apply(&[
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_block_start: 2000,
                block_size: 1000,
            },
            MetadataRecord::ProducerIds {
                broker_id: 2,
                next_block_start: 1000,
                block_size: 1000,
            },
        ]);
        assert_eq!(
            image.next_producer_id, 2000,
            "producer ids never go backwards"
        );
        let restored = MetadataImage::from(ImageSnapshot::from(&image));
        assert_eq!(
            restored.next_producer_id, 2000,
            "snapshots keep the next producer id"
        );
    }

    #[test]
    fn acl_records_change_the_bindings_and_survive_snapshots() {
        use crate::security::acl::tests::acl;
        use crate::security::acl::{AclOperation, AclPermissionType, PatternType, ResourceType};
        let binding = |name: &str| {
            acl(
                ResourceType::Topic,
                name,
                PatternType::Prefixed,
                "User:alice",
                AclOperation::Read,
                AclPermissionType::Allow,
            )
        };
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let before = MetadataImage::empty();
        let image = before.apply(&[
            MetadataRecord::AccessControlEntry {
                id: a,
                acl: binding("a-"),
            },
            MetadataRecord::AccessControlEntry {
                id: b,
                acl: binding("b-"),
            },
            MetadataRecord::RemoveAccessControlEntry { id: a },
            // Removing what is not there is skipped, as every node skips it.
            MetadataRecord::RemoveAccessControlEntry { id: a },
        ]);
        assert_eq!(
            before.acls.len(),
            0,
            "the previous image keeps its bindings"
        );
        assert_eq!(image.acls.len(), 1);
        assert!(image.acls.contains(&binding("b-")) && !image.acls.contains(&binding("a-")));
        let json = serde_json::to_vec(&ImageSnapshot::from(&image)).unwrap();
        let back: ImageSnapshot = serde_json::from_slice(&json).unwrap();
        let restored = MetadataImage::from(back);
        assert_eq!(restored, image, "the bindings survive the snapshot form");
        assert!(restored.acls.contains_id(&b), "with their ids");
    }
}
