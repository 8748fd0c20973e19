//! `names`: the names, labels, ports and paths of everything a KafkaCluster owns — one
//! place, so builders, the reconciler and tests agree.

use std::collections::BTreeMap;

/// The longest DNS label (a pod's hostname, a Service's name).
pub const DNS_LABEL_MAX: usize = 63;

/// The operator's controller listener: the metadata quorum.
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";
pub const CONTROLLER_PORT: i32 = 9093;
/// The operator's inter-broker listener: replication and broker-to-broker requests.
pub const REPLICATION_LISTENER: &str = "REPLICATION";
pub const REPLICATION_PORT: i32 = 9091;
/// The broker's admin HTTP listener (`/metrics`, `/health/live`, `/health/ready`).
pub const ADMIN_PORT: i32 = 9644;

/// Where each node's data volume is mounted, and the log dir in it (a subdirectory, so a
/// volume's `lost+found` is not in a log dir).
pub const DATA_MOUNT: &str = "/var/lib/ironlog";
pub const LOG_DIR: &str = "/var/lib/ironlog/data";
/// Where the cluster's ConfigMap (one properties file per node) is mounted.
pub const CONFIG_MOUNT: &str = "/etc/ironlog";

/// The field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "ironlog-operator";

pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// The KafkaCluster an object belongs to (orphans are found by it).
pub const LABEL_CLUSTER: &str = "ironlog.dev/cluster";
/// The node pool a StatefulSet or pod belongs to.
pub const LABEL_POOL: &str = "ironlog.dev/pool";
/// `"true"` on pods of pools with the broker role (the bootstrap Service selects them).
pub const LABEL_BROKER: &str = "ironlog.dev/broker";
/// `"true"` on pods of pools with the controller role.
pub const LABEL_CONTROLLER: &str = "ironlog.dev/controller";
/// A hash of a pool's node configuration on its pod template: what changed since a pod
/// started (the day-2 roller restarts pods whose hash is old; `OnDelete` alone never does).
pub const ANNOTATION_CONFIG_HASH: &str = "ironlog.dev/config-hash";
pub const MANAGED_BY: &str = "ironlog-operator";

/// `<cluster>-<pool>`: a pool's StatefulSet.
pub fn stateful_set(cluster: &str, pool: &str) -> String {
    format!("{cluster}-{pool}")
}

/// `<cluster>-<pool>-<ordinal>`: a node's pod (the StatefulSet's naming).
pub fn pod_name(cluster: &str, pool: &str, ordinal: i32) -> String {
    format!("{cluster}-{pool}-{ordinal}")
}

/// `<cluster>-nodes`: the headless Service that gives every node its DNS name.
pub fn headless_service(cluster: &str) -> String {
    format!("{cluster}-nodes")
}

/// `<cluster>-bootstrap`: the Service clients bootstrap from.
pub fn bootstrap_service(cluster: &str) -> String {
    format!("{cluster}-bootstrap")
}

/// `<cluster>-config`: the ConfigMap with each node's properties file.
pub fn config_map(cluster: &str) -> String {
    format!("{cluster}-config")
}

/// `<cluster>-node`: the nodes' ServiceAccount.
pub fn service_account(cluster: &str) -> String {
    format!("{cluster}-node")
}

/// `<cluster>-nodes`: the PodDisruptionBudget over every node.
pub fn pod_disruption_budget(cluster: &str) -> String {
    format!("{cluster}-nodes")
}

/// A node's properties file in the ConfigMap: `<pod>.properties`.
pub fn properties_file(pod: &str) -> String {
    format!("{pod}.properties")
}

/// A node's DNS name through the headless Service.
pub fn pod_host(cluster: &str, namespace: &str, pod: &str) -> String {
    format!("{pod}.{}.{namespace}.svc", headless_service(cluster))
}

/// The labels every object of `cluster` carries (the orphan selector is built from them).
pub fn cluster_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.to_string(), "ironlog".to_string()),
        (LABEL_INSTANCE.to_string(), cluster.to_string()),
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        (LABEL_CLUSTER.to_string(), cluster.to_string()),
    ])
}

/// The label selector of everything the operator made for `cluster`.
pub fn owned_selector(cluster: &str) -> String {
    format!("{LABEL_CLUSTER}={cluster},{LABEL_MANAGED_BY}={MANAGED_BY}")
}
