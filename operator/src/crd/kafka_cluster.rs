//! `KafkaCluster` (`ironlog.dev/v1alpha1`): an Ironlog cluster — node pools, listeners,
//! broker config under Kafka's names, authorization, metrics and pod template overrides.
//!
//! What the schema can say it says (types, enums, ranges, patterns, list keys and CEL rules
//! across fields), so the API server refuses a bad spec at `kubectl apply`. What needs the
//! broker's own config tables (unknown keys, invalid values, keys the operator owns) is
//! checked by `cluster::validate` and reported in the `Degraded` condition.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
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
    printcolumn = r#"{"name":"Metadata","type":"string","jsonPath":".status.metadataVersion","priority":1}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.spec.nodePools.exists(p, 'controller' in p.roles)").message("at least one node pool needs the controller role (the metadata quorum)"),
    validation = Rule::new("self.spec.nodePools.exists(p, 'broker' in p.roles)").message("at least one node pool needs the broker role"),
    validation = Rule::new("oldSelf.spec.nodePools.filter(o, 'controller' in o.roles).all(o, self.spec.nodePools.exists(n, n.name == o.name && 'controller' in n.roles && n.replicas == o.replicas && (has(n.nodeIdStart) ? n.nodeIdStart : 0) == (has(o.nodeIdStart) ? o.nodeIdStart : 0))) && self.spec.nodePools.filter(n, 'controller' in n.roles).all(n, oldSelf.spec.nodePools.exists(o, o.name == n.name && 'controller' in o.roles))").message("the metadata quorum's controllers are fixed at creation: a controller pool's replicas and nodeIdStart cannot change, and no pool gains or loses the controller role or is added or removed with it (changing the quorum's voters, KIP-853, is not supported yet)"),
    validation = Rule::new("has(self.spec.authorization) == has(oldSelf.spec.authorization)").message("authorization is fixed at creation: turning it on or off switches the nodes' own listeners between PLAINTEXT and mTLS, which nodes restarted one at a time cannot do (its superUsers may change)"),
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
    /// The cluster's metadata version (Kafka's `metadata.version`, as Strimzi's
    /// `metadataVersion`): `3.9-IV0`, or a release (`3.9`) for its latest. A new cluster
    /// starts at it. Raised, it is finalized (UpdateFeatures) only once no roll is pending
    /// or under way and every broker runs, is registered and supports it — until then the
    /// brokers can still go back to the version they came from. It cannot be lowered below
    /// the finalized version (Kafka refuses metadata.version downgrades across metadata
    /// format changes). Unset: the latest version every broker supports (the running
    /// release's default, as Strimzi's default of the running Kafka version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 3, max = 16),
        regex(pattern = r"^[0-9]+\.[0-9]+(-IV[0-9]+)?$")
    )]
    pub metadata_version: Option<String>,
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
    /// ACL authorization (Kafka's StandardAuthorizer; no ACL, no access). Users' ACLs are
    /// enforced; the nodes' own listeners (controller, replication) then require mTLS with
    /// the cluster CA, and the nodes and the operator are super users. Needs a listener
    /// whose clients authenticate. Fixed at creation. Without it every client may do
    /// everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationSpec>,
    /// The brokers' Prometheus metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSpec>,
    /// Overrides for every broker pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplateSpec>,
    /// The built-in balancer: when it moves partitions between brokers, and how fast.
    /// Without it: balance after a scale-out, with the defaults below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancing: Option<BalancingSpec>,
}

/// The most partitions one balancing step moves.
pub const BALANCING_MOVES_PER_STEP_MAX: i32 = 1000;

/// When and how the operator evens out replicas and leaders across the brokers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalancingSpec {
    /// `onScaleOut`: balance when a registered broker holds no replicas (a pool grew);
    /// `continuous`: also whenever the replica skew passes `skewThresholdPercent`;
    /// `disabled`: never (moves already submitted still finish).
    #[serde(default)]
    pub mode: BalancingMode,
    /// In `continuous` mode, the replica skew (the busiest broker's replicas over the mean,
    /// in percent above it) that starts a balance.
    #[serde(default = "default_skew_threshold_percent")]
    #[schemars(range(min = 1, max = 1000))]
    pub skew_threshold_percent: u32,
    /// The replication throttle on each broker a move copies to or from, bytes per second
    /// (`leader/follower.replication.throttled.rate`), cleared when the moves are done.
    #[serde(default = "default_throttle_bytes_per_second")]
    #[schemars(range(min = 1_048_576, max = 1_099_511_627_776_i64))]
    pub throttle_bytes_per_second: i64,
    /// The most partitions one step moves (the reassignments in flight at once).
    #[serde(default = "default_max_moves_per_step")]
    #[schemars(range(min = 1, max = BALANCING_MOVES_PER_STEP_MAX))]
    pub max_moves_per_step: i32,
}

impl Default for BalancingSpec {
    fn default() -> Self {
        BalancingSpec {
            mode: BalancingMode::default(),
            skew_threshold_percent: default_skew_threshold_percent(),
            throttle_bytes_per_second: default_throttle_bytes_per_second(),
            max_moves_per_step: default_max_moves_per_step(),
        }
    }
}

fn default_skew_threshold_percent() -> u32 {
    20
}

fn default_throttle_bytes_per_second() -> i64 {
    i64::try_from(crate::balance::throttle::REPLICATION_THROTTLE_BYTES_PER_SEC_DEFAULT)
        .unwrap_or(i64::MAX)
}

fn default_max_moves_per_step() -> i32 {
    10
}

/// When the balancer starts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub enum BalancingMode {
    #[default]
    OnScaleOut,
    Continuous,
    /// Not `off`: YAML 1.1 parsers (kubectl's, helm's) read an unquoted `off` as `false`.
    Disabled,
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
    /// Whether a broker's volume claim is deleted with it, as Strimzi's
    /// `storage.deleteClaim`: `false` (the default) keeps the claims of the brokers a
    /// scale-in removes and of a pool or cluster that is deleted, so nothing is lost by
    /// surprise (a pool scaled up again finds its brokers' data); `true` deletes them (the
    /// StatefulSet's `persistentVolumeClaimRetentionPolicy`, `whenScaled` and
    /// `whenDeleted` both `Delete`: a removed broker's claim goes once its pod is gone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_claim: bool,
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
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.type) && self.type == 'oauth') == has(self.oauth)", "message": "oauth settings are required with type oauth and apply to it only"},
]))]
pub struct ListenerAuthentication {
    #[serde(rename = "type", default)]
    pub type_: AuthenticationType,
    /// How OAUTHBEARER tokens are validated (type `oauth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthSpec>,
}

/// How a listener validates OAUTHBEARER tokens (JWTs): signed by a key of the JSON Web Key
/// Set, unexpired, from the issuer and for the audience named here. The brokers' settings
/// are cluster-wide: every oauth listener of a cluster has the same ones.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.jwksConfigMap) != has(self.jwksEndpointUri)", "message": "give the JSON Web Key Set as jwksConfigMap or as jwksEndpointUri, exactly one"},
    {"rule": "!has(self.jwksEndpointCaConfigMap) || has(self.jwksEndpointUri)", "message": "jwksEndpointCaConfigMap is the CA of jwksEndpointUri and needs it"},
]))]
pub struct OAuthSpec {
    /// The JSON Web Key Set as a key of a ConfigMap in the cluster's namespace, mounted into
    /// the brokers, which read it again when a token names a key id they do not know
    /// (keep it up to date with the identity provider's JWKS). Or use `jwksEndpointUri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_config_map: Option<ConfigMapKey>,
    /// The identity provider's JWKS endpoint (e.g.
    /// `https://idp.example/realms/kafka/protocol/openid-connect/certs`): the brokers fetch
    /// it at start (a broker that cannot does not start), every hour, and at once for a
    /// key id they do not know. Or use `jwksConfigMap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 8, max = 2048), regex(pattern = r"^https?://[^\s]+$"))]
    pub jwks_endpoint_uri: Option<String>,
    /// The CA bundle (PEM) the brokers trust for `jwksEndpointUri`, as a key of a ConfigMap
    /// in the cluster's namespace; unset: the CAs of the broker image's system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_endpoint_ca_config_map: Option<ConfigMapKey>,
    /// The `iss` a token must carry; not checked when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub issuer: Option<String>,
    /// Audiences of which a token's `aud` must name one; not checked when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub audience: Vec<String>,
    /// The claim that names the principal (`sub` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub username_claim: Option<String>,
}

/// A key of a ConfigMap in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKey {
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
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
    /// Principals allowed everything (`User:admin`), besides the nodes and the operator.
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
        /// The brokers' own REPLICATION listener (`host:port,...`), which the operator's
        /// admin calls use whatever security the client listeners have.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub operator_bootstrap_servers: Option<String>,
        /// Per listener, its bootstrap address.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub listeners: Vec<ListenerStatus>,
        /// The cluster id the brokers are formatted with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cluster_id: Option<String>,
        /// The metadata version the cluster is finalized at (`3.9-IV0`), as the brokers
        /// report it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub metadata_version: Option<String>,
        /// The rolling restart under way, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub roll: Option<RollStatus>,
        /// The `spec.config` keys the operator set as cluster-wide dynamic broker defaults
        /// (removed from the brokers when they leave the spec).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 1000))]
        pub dynamic_config_keys: Vec<String>,
        /// The balancer's progress; absent until it first balances.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub balance: Option<BalanceStatus>,
        /// Brokers a scale-in removed from their pool that the cluster's metadata still
        /// knows: each is unregistered (Kafka's UnregisterBroker) once its pod is gone.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 10000))]
        pub unregistering_brokers: Vec<LeftBroker>,
    }
}

/// A broker whose pod a scale-in removed, to be unregistered.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LeftBroker {
    pub node_id: i32,
    /// Its pod, which must be gone first (a running broker would register again).
    pub pod: String,
}

/// What the balancer is doing.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum BalanceState {
    /// Nothing to move (or balancing is off).
    #[default]
    Idle,
    /// Reassignments are in flight.
    Moving,
    /// Partitions should move but cannot now (`message` says why).
    Blocked,
}

/// The balancer's progress.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BalanceStatus {
    pub state: BalanceState,
    /// Partitions moved since this balance began.
    #[serde(default)]
    pub moves_done: i64,
    /// Partitions in flight plus those the next step would move (more steps may follow).
    #[serde(default)]
    pub moves_remaining: i64,
    /// The partitions the step in flight moves (reassignments submitted by the operator).
    #[serde(default)]
    pub moves_in_flight: i64,
    /// The bytes the moves in flight copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_to_move: Option<i64>,
    /// The bytes left to copy: the moves in flight and those the next step would make,
    /// from the partitions' sizes (DescribeLogDirs). Absent while idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_remaining: Option<i64>,
    /// The bytes the finished steps of this balance copied.
    #[serde(default)]
    pub bytes_done: i64,
    /// When this balance began (its first step was submitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// Seconds until `bytesRemaining` are copied at the rate observed since `startedAt`
    /// (`bytesDone` over the time since then). An estimate: absent until a step has
    /// finished, and while idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<i64>,
    /// What the balancer did last, or what blocks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The brokers whose replication throttle the moves in flight set (cleared after them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10000))]
    pub throttled_brokers: Vec<i32>,
    /// The topics whose throttled replicas the moves in flight set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10000))]
    pub throttled_topics: Vec<String>,
    /// The brokers a scale-in is emptying before their pool shrinks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10000))]
    pub draining_brokers: Vec<i32>,
}

/// A rolling restart's progress.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct RollStatus {
    /// Pods that still need a restart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16000))]
    pub pending_pods: Vec<String>,
    /// The pod restarted last, until it has rejoined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_pod: Option<String>,
    /// Why the roll does not go on, when a restart would cost availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_reason: Option<String>,
    /// Pods restarted by this roll so far.
    #[serde(default)]
    pub restarted: i32,
}

/// A listener's address for clients.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    pub name: String,
    pub bootstrap_servers: String,
}
