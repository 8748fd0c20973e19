//! `Topic` (`ironlog.dev/v1alpha1`): a Kafka topic of a KafkaCluster, reconciled through the
//! Kafka admin protocol (CreateTopics, CreatePartitions, IncrementalAlterConfigs).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ClusterRef;

/// Kafka's longest topic name.
pub const TOPIC_NAME_MAX: usize = 249;
/// The annotation that leaves the Kafka topic alone when `"true"`: the operator neither
/// changes it nor deletes it with the resource.
pub const UNMANAGED_ANNOTATION: &str = "ironlog.dev/unmanaged";

/// A Kafka topic.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ironlog.dev",
    doc = "A Kafka topic of a KafkaCluster.",
    version = "v1alpha1",
    kind = "Topic",
    plural = "topics",
    shortname = "kt",
    namespaced,
    status = "TopicStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.clusterRef.name"}"#,
    printcolumn = r#"{"name":"Topic","type":"string","jsonPath":".status.topicName"}"#,
    printcolumn = r#"{"name":"Partitions","type":"integer","jsonPath":".spec.partitions"}"#,
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicationFactor"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("has(self.spec.topicName) == has(oldSelf.spec.topicName)").message("topicName cannot be added or removed after creation"),
    validation = Rule::new("self.spec.clusterRef == oldSelf.spec.clusterRef").message("clusterRef is immutable")
)]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    /// The KafkaCluster the topic lives in.
    pub cluster_ref: ClusterRef,
    /// The Kafka topic's name; `metadata.name` when unset (set it for names Kubernetes does
    /// not allow, e.g. with `_` or upper case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = TOPIC_NAME_MAX), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "topicName is immutable"},
        {"rule": "self != '.' && self != '..'", "message": "topic name cannot be '.' or '..'"},
    ]))]
    pub topic_name: Option<String>,
    /// Number of partitions. It can grow; Kafka cannot shrink a topic (a decrease is
    /// reported as `NotSupported`).
    #[schemars(range(min = 1, max = 1_000_000))]
    pub partitions: i32,
    /// Replicas per partition; the cluster's `default.replication.factor` when unset. Not
    /// changed after creation (a reassignment is a day-2 operation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32767))]
    pub replication_factor: Option<i32>,
    /// Topic configs under Kafka's names (`retention.ms: "86400000"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}

super::status::resource_status! {
    /// What the operator observed and did.
    pub struct TopicStatus {
        /// The Kafka topic this resource manages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub topic_name: Option<String>,
        /// The topic's id in the cluster.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub topic_id: Option<String>,
    }
}
