//! Metadata records: the entries of the cluster metadata log (Kafka's `metadata/` record
//! types, reduced to what Ironlog needs so far).
//!
//! Wire form: stable, internally tagged JSON (`{"type":"topic","name":..,"topic_id":..}`).
//! Evolution rules, so an old log stays readable by a new broker:
//! - a new optional field is added with `#[serde(default)]`;
//! - a new record kind is a new variant with a new `type` tag;
//! - an incompatible change to a record is a new variant (`partition_v2`), the old one is kept
//!   for replay.
//!
//! One raft entry carries one [`MetadataBatch`]: the records of one controller decision,
//! applied atomically.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::features::FeatureRange;

use crate::client_quota::{ClientQuotaEntity, QuotaValue};
use crate::security::acl::StandardAcl;
use crate::security::sasl::scram::{ScramCredential, ScramMechanism};

/// Version of the [`MetadataBatch`] envelope written by this build.
pub(crate) const METADATA_BATCH_VERSION: u16 = 1;

/// Kafka's "no leader" value for a partition leader.
pub(crate) const NO_LEADER: i32 = -1;

/// A listener a broker advertises (Kafka's `BrokerEndpoint` in `RegisterBrokerRecord`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BrokerEndpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: String,
}

/// The resource a dynamic config belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub(crate) enum ConfigResource {
    Topic(String),
    /// `None` is the cluster-wide default (Kafka's broker resource with the empty name).
    Broker(Option<i32>),
}

impl std::fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigResource::Topic(name) => write!(f, "topic '{name}'"),
            ConfigResource::Broker(Some(id)) => write!(f, "broker {id}"),
            ConfigResource::Broker(None) => write!(f, "cluster default broker config"),
        }
    }
}

/// One record of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum MetadataRecord {
    /// Written once at bootstrap.
    ClusterId {
        cluster_id: String,
    },
    /// A broker (re-)registers; the registration replaces any earlier one for the same id.
    /// Its broker epoch is this record's offset (as Kafka's). A registration starts fenced
    /// (`fenced`, Kafka's `RegisterBrokerRecord.fenced`) until a heartbeat shows the broker
    /// caught up with the metadata log; records written before heartbeats existed lack the
    /// field and registered unfenced.
    RegisterBroker {
        broker_id: i32,
        incarnation_id: Uuid,
        listeners: Vec<BrokerEndpoint>,
        rack: Option<String>,
        #[serde(default)]
        fenced: bool,
        /// The feature levels the broker supports (Kafka's `RegisterBrokerRecord.features`);
        /// `None` in registrations of builds before feature records, which supported
        /// [`super::features::LEGACY_FINALIZED`]'s levels and this build's ranges.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        features: Option<BTreeMap<String, FeatureRange>>,
    },
    /// A finalized feature level (Kafka's `FeatureLevelRecord`): written at bootstrap and
    /// by UpdateFeatures. Level 0 removes a feature other than metadata.version.
    FeatureLevel {
        name: String,
        level: i16,
    },
    /// The broker stops counting as available (no partitions placed on it, not in new ISRs).
    FenceBroker {
        broker_id: i32,
    },
    /// The broker counts as available again.
    UnfenceBroker {
        broker_id: i32,
    },
    /// The registration of `broker_id` at `broker_epoch` is removed (Kafka's
    /// `UnregisterBrokerRecord`, KIP-746): the broker no longer exists for the cluster until
    /// it registers again. A record for another epoch (a newer registration) is skipped.
    UnregisterBroker {
        broker_id: i32,
        broker_epoch: i64,
    },
    Topic {
        name: String,
        topic_id: Uuid,
    },
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        /// Replicas a reassignment in progress adds (Kafka's `addingReplicas`); they are
        /// part of `replicas` already.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        adding_replicas: Vec<i32>,
        /// Replicas a reassignment in progress removes once the others are in sync (Kafka's
        /// `removingReplicas`), part of `replicas` until then.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removing_replicas: Vec<i32>,
    },
    /// A change to an existing partition. As Kafka's `PartitionChangeRecord`: `leader: Some(_)`
    /// bumps the leader epoch (even when the leader stays the same, which is how the
    /// controller forces an epoch bump); every change bumps the partition epoch.
    /// `adding_replicas` / `removing_replicas`: `Some` replaces the reassignment state
    /// (`Some(vec![])` clears it), `None` keeps it.
    PartitionChange {
        topic_id: Uuid,
        partition: i32,
        leader: Option<i32>,
        isr: Option<Vec<i32>>,
        replicas: Option<Vec<i32>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adding_replicas: Option<Vec<i32>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        removing_replicas: Option<Vec<i32>>,
        /// KIP-966 eligible leader replicas: `Some` replaces them, `None` keeps them.
        /// Records written before ELR existed lack the field (no change).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eligible_leader_replicas: Option<Vec<i32>>,
        /// KIP-966 last known ELR (here: the last leader of a partition nobody can lead).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_known_elr: Option<Vec<i32>>,
    },
    RemoveTopic {
        topic_id: Uuid,
    },
    /// `value: None` deletes the config.
    Config {
        resource: ConfigResource,
        name: String,
        value: Option<String>,
    },
    /// A block of producer ids `[next_block_start - block_size, next_block_start)` handed to
    /// `broker_id` (Kafka's `ProducerIdsRecord`, written by AllocateProducerIds).
    ProducerIds {
        broker_id: i32,
        next_block_start: i64,
        block_size: i64,
    },
    /// A SCRAM user's credential for one mechanism (Kafka's `UserScramCredentialRecord`):
    /// salt, StoredKey, ServerKey, iterations; never the password. Replaces any earlier
    /// credential of the same user and mechanism.
    UserScramCredential {
        name: String,
        mechanism: ScramMechanism,
        credential: ScramCredential,
    },
    /// Kafka's `RemoveUserScramCredentialRecord`.
    RemoveUserScramCredential {
        name: String,
        mechanism: ScramMechanism,
    },
    /// An ACL binding (Kafka's `AccessControlEntryRecord`): its id, which DeleteAcls
    /// removes it by, and the binding.
    AccessControlEntry {
        id: Uuid,
        acl: StandardAcl,
    },
    /// Kafka's `RemoveAccessControlEntryRecord`.
    RemoveAccessControlEntry {
        id: Uuid,
    },
    /// One quota of one entity (Kafka's `ClientQuotaRecord`): `value: None` removes it.
    ClientQuota {
        entity: ClientQuotaEntity,
        key: String,
        value: Option<QuotaValue>,
    },
}

impl MetadataRecord {
    /// A new partition's record: its first ISR member leads (none: [`NO_LEADER`]), at
    /// leader and partition epoch 0, with no reassignment in progress.
    pub(crate) fn new_partition(
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
    ) -> Self {
        let leader = isr.first().copied().unwrap_or(NO_LEADER);
        MetadataRecord::Partition {
            topic_id,
            partition,
            replicas,
            isr,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        }
    }

    /// A PartitionChange that elects `leader` (a leader epoch bump) and changes nothing
    /// else.
    #[cfg(test)]
    pub(crate) fn leader_change(topic_id: Uuid, partition: i32, leader: i32) -> Self {
        Self::leader_or_isr_change(topic_id, partition, Some(leader), None)
    }

    /// A PartitionChange of the ISR alone.
    #[cfg(test)]
    pub(crate) fn isr_change(topic_id: Uuid, partition: i32, isr: Vec<i32>) -> Self {
        Self::leader_or_isr_change(topic_id, partition, None, Some(isr))
    }

    #[cfg(test)]
    fn leader_or_isr_change(
        topic_id: Uuid,
        partition: i32,
        leader: Option<i32>,
        isr: Option<Vec<i32>>,
    ) -> Self {
        MetadataRecord::PartitionChange {
            topic_id,
            partition,
            leader,
            isr,
            replicas: None,
            adding_replicas: None,
            removing_replicas: None,
            eligible_leader_replicas: None,
            last_known_elr: None,
        }
    }
}

/// The payload of one raft entry: records applied atomically, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetadataBatch {
    pub version: u16,
    pub records: Vec<MetadataRecord>,
}

impl MetadataBatch {
    pub(crate) fn new(records: Vec<MetadataRecord>) -> Self {
        Self {
            version: METADATA_BATCH_VERSION,
            records,
        }
    }
}

impl std::fmt::Display for MetadataBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MetadataBatch(v{}, {} records)",
            self.version,
            self.records.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_use_stable_tagged_json() {
        let id = Uuid::from_u128(7);
        let record = MetadataRecord::Topic {
            name: "orders".into(),
            topic_id: id,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            json,
            r#"{"type":"topic","name":"orders","topic_id":"00000000-0000-0000-0000-000000000007"}"#,
            "the tagged JSON form of a Topic record is part of the on-disk format"
        );
        let config = MetadataRecord::Config {
            resource: ConfigResource::Broker(None),
            name: "log.retention.ms".into(),
            value: None,
        };
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(
            json,
            r#"{"type":"config","resource":{"kind":"broker","name":null},"name":"log.retention.ms","value":null}"#
        );
    }

    #[test]
    fn a_partition_change_from_before_eligible_leader_replicas_still_reads() {
        let json = r#"{"type":"partition_change","topic_id":"00000000-0000-0000-0000-000000000007","partition":0,"leader":2,"isr":[2,3],"replicas":null}"#;
        let record: MetadataRecord = serde_json::from_str(json).expect("an old record reads");
        let MetadataRecord::PartitionChange {
            eligible_leader_replicas,
            last_known_elr,
            ..
        } = record
        else {
            panic!("expected a PartitionChange, got {record:?}");
        };
        assert_eq!(
            (eligible_leader_replicas, last_known_elr),
            (None, None),
            "a record without the ELR fields changes neither"
        );
    }

    #[test]
    fn every_record_round_trips() {
        let topic_id = Uuid::new_v4();
        let records = vec![
            MetadataRecord::ClusterId {
                cluster_id: "abc".into(),
            },
            MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: Uuid::new_v4(),
                listeners: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "localhost".into(),
                    port: 9092,
                    security_protocol: "PLAINTEXT".into(),
                }],
                rack: Some("a".into()),
                fenced: true,
                features: Some(super::super::features::supported()),
            },
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 21,
            },
            MetadataRecord::FenceBroker { broker_id: 1 },
            MetadataRecord::UnfenceBroker { broker_id: 1 },
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id,
            },
            MetadataRecord::new_partition(topic_id, 0, vec![1], vec![1]),
            MetadataRecord::PartitionChange {
                topic_id,
                partition: 0,
                leader: Some(1),
                isr: None,
                replicas: None,
                adding_replicas: None,
                removing_replicas: None,
                eligible_leader_replicas: Some(vec![2]),
                last_known_elr: Some(vec![]),
            },
            MetadataRecord::RemoveTopic { topic_id },
            MetadataRecord::Config {
                resource: ConfigResource::Topic("t".into()),
                name: "cleanup.policy".into(),
                value: Some("compact".into()),
            },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_block_start: 2000,
                block_size: 1000,
            },
            MetadataRecord::UserScramCredential {
                name: "alice".into(),
                mechanism: ScramMechanism::Sha512,
                credential: crate::security::sasl::scram::ScramCredential::derive(
                    ScramMechanism::Sha512,
                    b"salt",
                    &[7; 64],
                    4096,
                ),
            },
            MetadataRecord::RemoveUserScramCredential {
                name: "alice".into(),
                mechanism: ScramMechanism::Sha256,
            },
            MetadataRecord::AccessControlEntry {
                id: topic_id,
                acl: crate::security::acl::tests::acl(
                    crate::security::acl::ResourceType::Topic,
                    "orders-",
                    crate::security::acl::PatternType::Prefixed,
                    "User:alice",
                    crate::security::acl::AclOperation::Read,
                    crate::security::acl::AclPermissionType::Allow,
                ),
            },
            MetadataRecord::RemoveAccessControlEntry { id: topic_id },
            MetadataRecord::ClientQuota {
                entity: [
                    ("user".to_string(), Some("alice".to_string())),
                    ("client-id".to_string(), None),
                ]
                .into_iter()
                .collect(),
                key: "producer_byte_rate".into(),
                value: Some(QuotaValue(1024.0)),
            },
            MetadataRecord::ClientQuota {
                entity: [("user".to_string(), None)].into_iter().collect(),
                key: "consumer_byte_rate".into(),
                value: None,
            },
        ];
        let batch = MetadataBatch::new(records);
        let json = serde_json::to_vec(&batch).unwrap();
        let back: MetadataBatch = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            back, batch,
            "a batch must survive a JSON round trip unchanged"
        );
    }
}
