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

/// Where a node's certificates are mounted (the `<cluster>-node-certs` Secret): its PEM
/// keystore `<pod>.keystore.pem` and the CA bundles `cluster-ca.crt` and `clients-ca.crt`.
pub const TLS_MOUNT: &str = "/etc/ironlog-tls";
/// The file of the clients CA's bundle in [`TLS_MOUNT`] (what mTLS listeners trust).
pub const CLIENTS_CA_FILE: &str = "clients-ca.crt";
/// The file of the cluster CA's bundle in [`TLS_MOUNT`].
pub const CLUSTER_CA_FILE: &str = "cluster-ca.crt";

/// Where the JSON Web Key Set of oauth listeners is mounted (from the spec's ConfigMap).
pub const OAUTH_MOUNT: &str = "/etc/ironlog-oauth";
/// The JWKS file in [`OAUTH_MOUNT`].
pub const JWKS_FILE: &str = "jwks.json";
/// Where the CA bundle of an oauth JWKS endpoint is mounted (from the spec's ConfigMap).
pub const OAUTH_CA_MOUNT: &str = "/etc/ironlog-oauth-ca";
/// The CA bundle file in [`OAUTH_CA_MOUNT`].
pub const OAUTH_CA_FILE: &str = "ca.crt";
/// Kafka's JWT-validating OAUTHBEARER server callback handler, which the broker implements.
pub const OAUTH_VALIDATOR_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";

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

/// `<cluster>-cluster-ca`: the cluster CA's key and certificate (`ca.key`, `ca.crt`).
pub fn cluster_ca(cluster: &str) -> String {
    format!("{cluster}-cluster-ca")
}

/// `<cluster>-cluster-ca-cert`: the cluster CA's certificates clients trust (`ca.crt`).
pub fn cluster_ca_cert(cluster: &str) -> String {
    format!("{cluster}-cluster-ca-cert")
}

/// `<cluster>-clients-ca`: the clients CA's key and certificate (`ca.key`, `ca.crt`).
pub fn clients_ca(cluster: &str) -> String {
    format!("{cluster}-clients-ca")
}

/// `<cluster>-clients-ca-cert`: the clients CA's certificates (`ca.crt`).
pub fn clients_ca_cert(cluster: &str) -> String {
    format!("{cluster}-clients-ca-cert")
}

/// `<cluster>-node-certs`: every node's certificate and key, mounted at [`TLS_MOUNT`].
pub fn node_certs(cluster: &str) -> String {
    format!("{cluster}-node-certs")
}

/// `<cluster>-operator-cert`: the operator's own client certificate of the cluster CA
/// (`tls.crt`, `tls.key`, and `ca.crt` to verify the brokers with), made when the cluster
/// has authorization. Only the operator reads it; no pod mounts it.
pub fn operator_cert(cluster: &str) -> String {
    format!("{cluster}-operator-cert")
}

/// The common name of the operator's certificate.
pub const OPERATOR_COMMON_NAME: &str = "ironlog-operator";

/// The principal the operator has on the brokers' internal listeners (a super user). The
/// comma and `O=` keep it apart from every User's principal (`User:<name>`,
/// `User:CN=<name>`: Kubernetes names have neither).
pub const OPERATOR_PRINCIPAL: &str = "User:CN=ironlog-operator,O=ironlog.dev";

/// The principal every node of `cluster` has on the internal listeners (a super user).
pub fn node_principal(cluster: &str) -> String {
    format!("User:CN={cluster}-nodes,O=ironlog.dev")
}

/// A node's PEM keystore (key, certificate, CA) in `<cluster>-node-certs`.
pub fn keystore_file(pod: &str) -> String {
    format!("{pod}.keystore.pem")
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
