//! `KafkaCluster` (`ironlog.dev/v1alpha1`): an Ironlog cluster — node pools, listeners,
//! broker config under Kafka's names, authorization, metrics and pod template overrides.
//!
//! What the schema can say it says (types, enums, ranges, patterns, list keys and CEL rules
//! across fields), so the API server refuses a bad spec at `kubectl apply`. What needs the
//! broker's own config tables (unknown keys, invalid values, keys the operator owns) is
//! checked by `cluster::validate` and reported in the `Degraded` condition.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most node pools a cluster may have (bounds the schema's CEL rules' cost).
pub const NODE_POOLS_MAX: usize = 16;
/// The most listeners a cluster may have.
pub const LISTENERS_MAX: usize = 16;
/// The most brokers one pool may have.
pub const POOL_REPLICAS_MAX: i32 = 1000;

/// An Ironlog cluster.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ironlog.dev",
    doc = "An Ironlog cluster: node pools, listeners, broker config, authorization.",
    version = "v1alpha1",
    kind = "KafkaCluster",
    plural = "kafkaclusters",
    shortname = "kc",
    namespaced,
    status = "KafkaClusterStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Brokers","type":"string","jsonPath":".status.brokers"}"#,
    printcolumn = r#"{"name":"Bootstrap","type":"string","jsonPath":".status.bootstrapServers","priority":1}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.spec.nodePools.exists(p, 'controller' in p.roles)").message("at least one node pool needs the controller role (the metadata quorum)"),
    validation = Rule::new("self.spec.nodePools.exists(p, 'broker' in p.roles)").message("at least one node pool needs the broker role"),
    validation = Rule::new("size(self.spec.nodePools) == 1 || self.spec.nodePools.all(p, has(p.nodeIdStart))").message("with several node pools every pool must set nodeIdStart (node ids must not depend on the order of the pools)"),
    validation = Rule::new("self.spec.listeners.all(a, self.spec.listeners.exists_one(b, b.port == a.port))").message("listener ports must be distinct"),
    validation = Rule::new("self.spec.listeners.all(a, self.spec.listeners.exists_one(b, b.name.upperAscii() == a.name.upperAscii()))").message("listener names must be distinct, ignoring case (Kafka's listener names are upper-cased)")
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterSpec {
    /// The broker container image. Defaults to `ironlog:<version>` (or `ironlog:latest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The Ironlog version the brokers run (the image tag when `image` is not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The node pools: one StatefulSet each.
    #[schemars(length(min = 1, max = NODE_POOLS_MAX))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub node_pools: Vec<NodePool>,
    /// The client listeners. The operator adds its own controller and replication
    /// listeners (`CONTROLLER` on 9093, `REPLICATION` on 9091).
    #[schemars(length(min = 1, max = LISTENERS_MAX))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub listeners: Vec<ListenerSpec>,
    /// Broker configuration under Kafka's names (`log.retention.ms: "604800000"`), checked
    /// against the broker's own config tables. Keys the operator sets itself (node ids,
    /// listeners, the quorum, log dirs, rack, authorization) are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// ACL authorization. Without it every client may do everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationSpec>,
    /// The brokers' Prometheus metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSpec>,
    /// Overrides for every broker pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplateSpec>,
}

/// A set of brokers with the same roles, storage and resources: one StatefulSet.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePool {
    /// The pool's name: part of the StatefulSet's and the pods' names.
    #[schemars(length(min = 1, max = 30), regex(pattern = super::cluster_ref::DNS_LABEL_PATTERN))]
    pub name: String,
    /// How many nodes the pool runs.
    #[schemars(range(min = 1, max = POOL_REPLICAS_MAX))]
    pub replicas: i32,
    /// The node id of the pool's first node; node `i` of the pool (pod ordinal `i`) gets
    /// `nodeIdStart + i`. Required with several pools; 0 for a single pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub node_id_start: Option<i32>,
    /// `broker`, `controller` or both (KRaft's combined mode).
    #[schemars(length(min = 1, max = 2))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub roles: Vec<NodeRole>,
    /// Each node's data volume.
    pub storage: StorageSpec,
    /// CPU and memory requests and limits of the broker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The node label whose value is a broker's `broker.rack`; pods are spread across its
    /// values. `topology.kubernetes.io/zone` or `topology.kubernetes.io/region`: the labels
    /// Kubernetes (1.35+, `PodTopologyLabelsAdmission`) copies from a pod's node onto the pod
    /// when it is scheduled, which the broker reads through the downward API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack_topology_key: Option<String>,
}

/// A node's KRaft role.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Broker,
    Controller,
}

impl NodeRole {
    /// The role as `process.roles` names it.
    pub fn as_config(self) -> &'static str {
        match self {
            NodeRole::Broker => "broker",
            NodeRole::Controller => "controller",
        }
    }
}

/// A node's persistent volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// The volume's size, a Kubernetes quantity in bytes (`100Gi`, `500M`).
    #[schemars(
        length(min = 1, max = 32),
        regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
    )]
    pub size: String,
    /// The StorageClass of the volume claims; the cluster's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

/// A client listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.authentication) || !has(self.authentication.type) || self.authentication.type != 'tls' || (has(self.tls) && self.tls)", "message": "authentication type tls needs tls: true"},
]))]
pub struct ListenerSpec {
    /// The listener's Kafka name (upper-cased in the broker's config).
    #[schemars(length(min = 1, max = 25), regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_]*$"))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "!(self.upperAscii() in ['CONTROLLER', 'REPLICATION'])", "message": "CONTROLLER and REPLICATION are the operator's own listeners"},
    ]))]
    pub name: String,
    /// The container port.
    #[schemars(range(min = 1024, max = 65535))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "!(self in [9091, 9093, 9644])", "message": "ports 9091 (replication), 9093 (controller) and 9644 (admin) are the operator's own"},
    ]))]
    pub port: i32,
    /// How clients reach the listener.
    #[serde(rename = "type")]
    pub type_: ListenerType,
    /// TLS on this listener (the operator's CA signs the brokers' certificates).
    #[serde(default)]
    pub tls: bool,
    /// How clients authenticate.
    #[serde(default)]
    pub authentication: ListenerAuthentication,
}

/// How clients reach a listener.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ListenerType {
    /// Inside the Kubernetes cluster, by the pods' DNS names.
    Internal,
    /// A NodePort Service.
    Nodeport,
    /// A LoadBalancer Service.
    Loadbalancer,
}

/// A listener's client authentication.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListenerAuthentication {
    #[serde(rename = "type", default)]
    pub type_: AuthenticationType,
}

/// A listener's client authentication mechanism.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum AuthenticationType {
    #[default]
    #[serde(rename = "none")]
    None,
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    #[serde(rename = "tls")]
    Tls,
    #[serde(rename = "oauth")]
    Oauth,
}

/// ACL authorization.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationSpec {
    #[serde(rename = "type")]
    pub type_: AuthorizationType,
    /// Principals allowed everything (`User:admin`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub super_users: Vec<String>,
}

/// The authorizer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationType {
    /// ACLs in the metadata log (Kafka's `StandardAuthorizer`).
    Simple,
}

/// The brokers' metrics endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Publish the brokers' `/metrics` for scraping (a `metrics` port on the headless
    /// Service and Prometheus scrape annotations on the pods).
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

/// Overrides for the broker pods.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Added to the pods' annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Added to the pods' labels (the operator's own labels win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

super::status::resource_status! {
    /// What the operator observed and did.
    pub struct KafkaClusterStatus {
        /// Ready brokers of all brokers, e.g. `3/3`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub brokers: Option<String>,
        /// The first internal listener's bootstrap address (`host:port,...`), for clients in the
        /// Kubernetes cluster.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bootstrap_servers: Option<String>,
        /// Per listener, its bootstrap address.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub listeners: Vec<ListenerStatus>,
        /// The cluster id the brokers are formatted with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cluster_id: Option<String>,
    }
}

/// A listener's address for clients.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    pub name: String,
    pub bootstrap_servers: String,
}
