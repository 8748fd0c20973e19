//! What one image changed for one node's replicas since another (Kafka's
//! `TopicsDelta.localChanges`): the partitions this node now leads, now follows, or no
//! longer hosts, and which topics' effective configs may have changed. The replica manager
//! applies only these, instead of rescanning every partition per image.
//!
//! Napkin math: unchanged topics are shared between consecutive images (`Arc`), so a delta
//! costs one pointer comparison per topic plus the partitions of the topics a batch touched;
//! images that share nothing (a snapshot install) fall back to comparing topic contents.

use std::collections::BTreeSet;
use std::sync::Arc;

use uuid::Uuid;

use super::image::{MetadataImage, PartitionRegistration, TopicImage};
use super::records::ConfigResource;
use crate::types::TopicPartition;

/// A partition this node hosts, as the newer image registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalPartition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    /// Leader, leader epoch, partition epoch, replicas and ISR.
    pub registration: PartitionRegistration,
}

/// Topics whose effective config may differ between the two images.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum ConfigChanges {
    #[default]
    None,
    /// A dynamic broker config this node reads changed: every topic.
    All,
    Topics(BTreeSet<String>),
}

impl ConfigChanges {
    pub(crate) fn affects(&self, topic: &str) -> bool {
        match self {
            ConfigChanges::None => false,
            ConfigChanges::All => true,
            ConfigChanges::Topics(topics) => topics.contains(topic),
        }
    }
}

/// The changes of one node's replicas between two images (Kafka's `LocalReplicaChanges`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LocalReplicaChanges {
    /// Partitions this node leads in the newer image whose registration is new or changed
    /// (a new leader epoch, partition epoch, ISR or replica set).
    pub leaders: Vec<LocalPartition>,
    /// Partitions this node hosts but does not lead in the newer image, new or changed.
    pub followers: Vec<LocalPartition>,
    /// Partitions the older image had here that the newer one does not: the topic was
    /// deleted (or re-created under a new id), or this node left the replica set. With the
    /// topic id of the older image.
    pub deletes: Vec<(TopicPartition, Uuid)>,
    pub configs: ConfigChanges,
}

impl LocalReplicaChanges {
    /// The changes of `node_id`'s replicas from `previous` to `next` (pass
    /// `MetadataImage::empty()` as `previous` for everything `next` places here).
    pub(crate) fn between(previous: &MetadataImage, next: &MetadataImage, node_id: i32) -> Self {
        let mut changes = LocalReplicaChanges {
            configs: config_changes(previous, next, node_id),
            ..Default::default()
        };
        for (name, topic) in &next.topics {
            let before = previous.topics.get(name);
            if before.is_some_and(|b| Arc::ptr_eq(b, topic) || **b == **topic) {
                continue;
            }
            // The same name under another id is another topic: the old one is deleted.
            let before = before.filter(|b| b.topic_id == topic.topic_id);
            changes.add_topic_changes(before.map(|b| &**b), topic, node_id);
        }
        for (name, topic) in &previous.topics {
            let gone = next
                .topics
                .get(name)
                .is_none_or(|t| t.topic_id != topic.topic_id);
            if gone {
                changes.deletes.extend(
                    topic
                        .partitions
                        .iter()
                        .filter(|(_, reg)| reg.replicas.contains(&node_id))
                        .map(|(&p, _)| (TopicPartition::new(name.clone(), p), topic.topic_id)),
                );
            }
        }
        changes
    }

    /// Whether nothing changed for this node.
    pub(crate) fn is_empty(&self) -> bool {
        self.leaders.is_empty()
            && self.followers.is_empty()
            && self.deletes.is_empty()
            && self.configs == ConfigChanges::None
    }

    /// The partitions of `topic` (same id in both images) that changed for `node_id`.
    fn add_topic_changes(&mut self, before: Option<&TopicImage>, topic: &TopicImage, node_id: i32) {
        for (&partition, reg) in &topic.partitions {
            let old = before.and_then(|b| b.partitions.get(&partition));
            let hosted_before = old.is_some_and(|o| o.replicas.contains(&node_id));
            let tp = TopicPartition::new(topic.name.clone(), partition);
            if !reg.replicas.contains(&node_id) {
                if hosted_before {
                    self.deletes.push((tp, topic.topic_id));
                }
                continue;
            }
            if old == Some(reg) {
                continue;
            }
            let local = LocalPartition {
                tp,
                topic_id: topic.topic_id,
                registration: reg.clone(),
            };
            if reg.leader == node_id {
                self.leaders.push(local);
            } else {
                self.followers.push(local);
            }
        }
        if let Some(before) = before {
            // Partitions are never removed from a live topic, but apply is total: a
            // registration missing from the newer image is not hosted any more.
            for (&partition, old) in &before.partitions {
                if !topic.partitions.contains_key(&partition) && old.replicas.contains(&node_id) {
                    self.deletes.push((
                        TopicPartition::new(topic.name.clone(), partition),
                        topic.topic_id,
                    ));
                }
            }
        }
    }
}

/// Which topics' effective configs may have changed: a change of the cluster-wide or this
/// node's dynamic broker config affects every topic, a topic's own change only that topic.
fn config_changes(previous: &MetadataImage, next: &MetadataImage, node_id: i32) -> ConfigChanges {
    if previous.configs == next.configs {
        return ConfigChanges::None;
    }
    let mut topics = BTreeSet::new();
    let resources: BTreeSet<&ConfigResource> =
        previous.configs.keys().chain(next.configs.keys()).collect();
    for resource in resources {
        if previous.configs.get(resource) == next.configs.get(resource) {
            continue;
        }
        match resource {
            ConfigResource::Broker(None) => return ConfigChanges::All,
            ConfigResource::Broker(Some(id)) if *id == node_id => return ConfigChanges::All,
            ConfigResource::Broker(Some(_)) => {}
            ConfigResource::Topic(name) => {
                topics.insert(name.clone());
            }
        }
    }
    if topics.is_empty() {
        ConfigChanges::None
    } else {
        ConfigChanges::Topics(topics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::MetadataRecord;

    fn topic(name: &str, topic_id: Uuid, partitions: &[(i32, &[i32], i32)]) -> Vec<MetadataRecord> {
        let mut records = vec![MetadataRecord::Topic {
            name: name.into(),
            topic_id,
        }];
        for &(partition, replicas, leader) in partitions {
            records.push(MetadataRecord::Partition {
                topic_id,
                partition,
                replicas: replicas.to_vec(),
                isr: replicas.to_vec(),
                leader,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: vec![],
                removing_replicas: vec![],
            });
        }
        records
    }

    fn names(partitions: &[LocalPartition]) -> Vec<String> {
        partitions.iter().map(|p| p.tp.to_string()).collect()
    }

    #[test]
    fn a_first_image_places_leaders_and_followers_of_this_node_only() {
        let image = MetadataImage::empty().apply(&topic(
            "t",
            Uuid::new_v4(),
            &[(0, &[1, 2], 1), (1, &[2, 1], 2), (2, &[2, 3], 2)],
        ));
        let changes = LocalReplicaChanges::between(&MetadataImage::empty(), &image, 1);
        assert_eq!(names(&changes.leaders), ["t-0"]);
        assert_eq!(
            names(&changes.followers),
            ["t-1"],
            "t-2 is not hosted on node 1"
        );
        assert!(changes.deletes.is_empty());
    }

    #[test]
    fn only_changed_partitions_of_touched_topics_are_reported() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut records = topic("a", a, &[(0, &[1, 2], 1), (1, &[1, 2], 2)]);
        records.extend(topic("b", b, &[(0, &[1], 1)]));
        let before = MetadataImage::empty().apply(&records);
        let unchanged = before.apply(&[]);
        assert!(
            LocalReplicaChanges::between(&before, &unchanged, 1).is_empty(),
            "an image that changed nothing must report nothing"
        );
        // Node 2 leads a-0 now (leader epoch 1); a-1 and b are untouched.
        let after = before.apply(&[MetadataRecord::leader_change(a, 0, 2)]);
        let changes = LocalReplicaChanges::between(&before, &after, 1);
        assert!(changes.leaders.is_empty());
        assert_eq!(names(&changes.followers), ["a-0"]);
        let reg = &changes.followers[0].registration;
        assert_eq!(
            (reg.leader, reg.leader_epoch, reg.partition_epoch),
            (2, 1, 1),
            "the follower learns the new leader with its epochs"
        );
        // An ISR change alone (no new leader) is a change of a led partition.
        let shrunk = after.apply(&[MetadataRecord::isr_change(b, 0, vec![1])]);
        let changes = LocalReplicaChanges::between(&after, &shrunk, 1);
        assert_eq!(names(&changes.leaders), ["b-0"]);
        assert_eq!(changes.leaders[0].registration.partition_epoch, 1);
    }

    #[test]
    fn deleted_recreated_and_moved_partitions_are_deletes() {
        let (old_id, new_id, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut records = topic("t", old_id, &[(0, &[1], 1)]);
        records.extend(topic("m", other, &[(0, &[1, 2], 1), (1, &[2, 3], 2)]));
        let before = MetadataImage::empty().apply(&records);
        let mut records = vec![MetadataRecord::RemoveTopic { topic_id: old_id }];
        records.extend(topic("t", new_id, &[(0, &[1], 1)]));
        records.push(MetadataRecord::PartitionChange {
            topic_id: other,
            partition: 0,
            leader: Some(2),
            isr: Some(vec![2, 3]),
            replicas: Some(vec![2, 3]),
            adding_replicas: None,
            removing_replicas: None,
            eligible_leader_replicas: None,
            last_known_elr: None,
        });
        let after = before.apply(&records);
        let changes = LocalReplicaChanges::between(&before, &after, 1);
        let mut deletes = changes.deletes.clone();
        deletes.sort_by_key(|d| d.0.to_string());
        assert_eq!(
            deletes,
            vec![
                (TopicPartition::new("m", 0), other),
                (TopicPartition::new("t", 0), old_id),
            ],
            "a re-created topic deletes the old partition; a moved replica is deleted here"
        );
        assert_eq!(names(&changes.leaders), ["t-0"]);
        assert_eq!(changes.leaders[0].topic_id, new_id);
    }

    #[test]
    fn config_changes_name_the_topics_they_affect() {
        let image = MetadataImage::empty().apply(&topic("t", Uuid::new_v4(), &[(0, &[1], 1)]));
        let config = |resource: ConfigResource| MetadataRecord::Config {
            resource,
            name: "retention.ms".into(),
            value: Some("1000".into()),
        };
        let topic_change = image.apply(&[config(ConfigResource::Topic("t".into()))]);
        assert_eq!(
            LocalReplicaChanges::between(&image, &topic_change, 1).configs,
            ConfigChanges::Topics(["t".to_string()].into())
        );
        for (resource, expected) in [
            (ConfigResource::Broker(None), ConfigChanges::All),
            (ConfigResource::Broker(Some(1)), ConfigChanges::All),
            (ConfigResource::Broker(Some(2)), ConfigChanges::None),
        ] {
            let next = image.apply(&[config(resource.clone())]);
            assert_eq!(
                LocalReplicaChanges::between(&image, &next, 1).configs,
                expected,
                "a change of {resource} as seen by node 1"
            );
        }
    }
}
