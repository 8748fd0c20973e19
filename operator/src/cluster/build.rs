//! `build`: every object a valid KafkaCluster needs — pure, no API calls, so each is
//! checked by snapshot tests. In the order they are applied ([`DesiredObjects::in_apply_order`]):
//! ServiceAccount, ConfigMap (a properties file per node), Services (headless, bootstrap),
//! PodDisruptionBudget, then one StatefulSet per pool — config and Services before the pods
//! that read them.
//!
//! How a node gets its configuration: the pod runs `ironlog broker --config
//! /etc/ironlog/$(POD_NAME).properties` — the container's whole command line (`command`
//! and `args`), whatever the image's entrypoint; the file holds the node's complete settings (node id,
//! roles, listeners and advertised listeners by the pod's DNS name, quorum voters, log dir,
//! the spec's config). The broker reads `IRONLOG_*` variables over the file and the image
//! presets three of them, so the container sets those three (`log.dirs`, `listeners`,
//! `advertised.listeners`) to the file's values (`$(POD_NAME)` in place of the pod's name).
//! `broker.rack` comes from the pod's topology label through the downward API.
//!
//! Every object carries the cluster's labels and a controller owner reference to the
//! KafkaCluster (deleting it garbage-collects them). StatefulSets use `OnDelete`: pods
//! restart only when the operator deletes them (the day-2 roller), and start in parallel
//! (`Parallel`: a quorum forms only when its voters start together).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    SecretVolumeSource, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec,
    TopologySpreadConstraint, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use ironlog_config::defs::{broker_config_def, UpdateMode};

use crate::crd::kafka_cluster::NodeRole;

use super::names;
use super::validate::ValidCluster;

/// The broker's program in the image (`/usr/local/bin/ironlog`, on the image's PATH).
pub const BROKER_PROGRAM: &str = "ironlog";
/// The image when the spec names neither an image nor a version.
pub const DEFAULT_IMAGE: &str = "ironlog:latest";
/// How long a node may take to stop (controlled shutdown moves leaderships first).
pub const TERMINATION_GRACE_PERIOD_SECONDS: i64 = 120;
/// The settings the broker image presets as `IRONLOG_*` variables: set again on the
/// container so the node's own values win over the image's.
pub const IMAGE_PRESET_KEYS: &[&str] = &["log.dirs", "listeners", "advertised.listeners"];
/// The user and group the broker image runs as (`USER 1000:1000` in the Dockerfile); the
/// data volume is group-owned by it (`fsGroup`) so the broker can write it.
pub const BROKER_UID: i64 = 1000;
pub const BROKER_GID: i64 = 1000;

/// Every object of one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObjects {
    pub service_account: ServiceAccount,
    pub config_map: ConfigMap,
    pub services: Vec<Service>,
    pub pod_disruption_budget: PodDisruptionBudget,
    pub stateful_sets: Vec<StatefulSet>,
}

/// One desired object of any kind, for applying them in order.
#[derive(Debug, Clone, Copy)]
pub enum Desired<'a> {
    ServiceAccount(&'a ServiceAccount),
    ConfigMap(&'a ConfigMap),
    Service(&'a Service),
    PodDisruptionBudget(&'a PodDisruptionBudget),
    StatefulSet(&'a StatefulSet),
}

impl DesiredObjects {
    /// The objects in the order they are applied: what pods read exists before the pods.
    pub fn in_apply_order(&self) -> Vec<Desired<'_>> {
        let mut out = vec![
            Desired::ServiceAccount(&self.service_account),
            Desired::ConfigMap(&self.config_map),
        ];
        out.extend(self.services.iter().map(Desired::Service));
        out.push(Desired::PodDisruptionBudget(&self.pod_disruption_budget));
        out.extend(self.stateful_sets.iter().map(Desired::StatefulSet));
        out
    }
}

/// Builds every object of `cluster`.
pub fn build(cluster: &ValidCluster) -> DesiredObjects {
    DesiredObjects {
        service_account: service_account(cluster),
        config_map: config_map(cluster),
        services: vec![headless_service(cluster), bootstrap_service(cluster)],
        pod_disruption_budget: pod_disruption_budget(cluster),
        stateful_sets: (0..cluster.spec.node_pools.len())
            .map(|pool| stateful_set(cluster, pool))
            .collect(),
    }
}

/// The controller owner reference to the KafkaCluster.
fn owner_reference(cluster: &ValidCluster) -> OwnerReference {
    OwnerReference {
        api_version: "ironlog.dev/v1alpha1".to_string(),
        kind: "KafkaCluster".to_string(),
        name: cluster.name.clone(),
        uid: cluster.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

pub(crate) fn metadata(cluster: &ValidCluster, name: String, component: &str) -> ObjectMeta {
    let mut labels = names::cluster_labels(&cluster.name);
    labels.insert(names::LABEL_COMPONENT.to_string(), component.to_string());
    ObjectMeta {
        name: Some(name),
        namespace: Some(cluster.namespace.clone()),
        labels: Some(labels),
        owner_references: Some(vec![owner_reference(cluster)]),
        ..Default::default()
    }
}

fn service_account(cluster: &ValidCluster) -> ServiceAccount {
    ServiceAccount {
        metadata: metadata(cluster, names::service_account(&cluster.name), "node"),
        // the broker calls no Kubernetes API
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

/// A node's properties file: its settings, one `key=value` a line, in order.
fn properties(settings: &[(String, String)]) -> String {
    let mut text =
        String::from("# Written by ironlog-operator from the KafkaCluster; do not edit.\n");
    for (key, value) in settings {
        text.push_str(&format!("{key}={value}\n"));
    }
    text
}

fn config_map(cluster: &ValidCluster) -> ConfigMap {
    let data: BTreeMap<String, String> = cluster
        .nodes
        .iter()
        .map(|n| (names::properties_file(&n.pod_name), properties(&n.settings)))
        .collect();
    ConfigMap {
        metadata: metadata(cluster, names::config_map(&cluster.name), "config"),
        data: Some(data),
        ..Default::default()
    }
}

fn port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_ascii_lowercase().replace('_', "-")),
        port,
        target_port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_string()),
        ..Default::default()
    }
}

fn headless_service(cluster: &ValidCluster) -> Service {
    let mut ports: Vec<ServicePort> = cluster
        .listeners
        .iter()
        .map(|l| port(&l.name, l.port))
        .collect();
    ports.push(port(names::REPLICATION_LISTENER, names::REPLICATION_PORT));
    ports.push(port(names::CONTROLLER_LISTENER, names::CONTROLLER_PORT));
    ports.push(port("admin", names::ADMIN_PORT));
    Service {
        metadata: metadata(cluster, names::headless_service(&cluster.name), "nodes"),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            // nodes find each other (the quorum forms) before any of them is ready
            publish_not_ready_addresses: Some(true),
            selector: Some(names::cluster_labels(&cluster.name)),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn bootstrap_service(cluster: &ValidCluster) -> Service {
    let mut selector = names::cluster_labels(&cluster.name);
    selector.insert(names::LABEL_BROKER.to_string(), "true".to_string());
    Service {
        metadata: metadata(
            cluster,
            names::bootstrap_service(&cluster.name),
            "bootstrap",
        ),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(selector),
            ports: Some(
                cluster
                    .listeners
                    .iter()
                    .map(|l| port(&l.name, l.port))
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod_disruption_budget(cluster: &ValidCluster) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: metadata(
            cluster,
            names::pod_disruption_budget(&cluster.name),
            "nodes",
        ),
        spec: Some(PodDisruptionBudgetSpec {
            // one node away at a time: with RF 3 and min.insync 2 writes go on
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(names::cluster_labels(&cluster.name)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pool_selector(cluster: &ValidCluster, pool: usize) -> BTreeMap<String, String> {
    BTreeMap::from([
        (names::LABEL_CLUSTER.to_string(), cluster.name.clone()),
        (
            names::LABEL_POOL.to_string(),
            cluster.spec.node_pools[pool].name.clone(),
        ),
    ])
}

/// A setting of the pool's first node with its pod name written `$(POD_NAME)`: the value
/// every pod of the pool expands to its own.
fn pod_templated(cluster: &ValidCluster, pool: usize, key: &str) -> Option<String> {
    let node = cluster.pool_nodes(pool).next()?;
    let value = node
        .settings
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())?;
    Some(value.replace(&node.pod_name, "$(POD_NAME)"))
}

/// Whether the broker applies `key` at runtime as a cluster-wide default (Kafka's
/// `cluster-wide` dynamic update mode): the operator sets such keys with
/// IncrementalAlterConfigs ([`dynamic_config`]) and their change restarts no pod.
pub fn is_cluster_wide_dynamic(key: &str) -> bool {
    broker_config_def(key).is_some_and(|def| def.update_mode == UpdateMode::ClusterWide)
}

/// The spec's keys the brokers take at runtime, with their values: the cluster-wide
/// default (broker resource `""`) the operator keeps equal to these.
pub fn dynamic_config(cluster: &ValidCluster) -> BTreeMap<String, String> {
    cluster
        .spec
        .config
        .iter()
        .filter(|(key, _)| is_cluster_wide_dynamic(key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The hash of what the pool's pods need a restart to change: the image and the nodes'
/// static settings (the properties file without the cluster-wide dynamic keys, which the
/// operator applies at runtime, and without `bootstrap.release.version`, which only a new
/// metadata log reads: a raised `spec.metadataVersion` is finalized with UpdateFeatures,
/// never by a restart). On the pod template, so a change makes a new revision.
///
/// Each node's own id, host and pod name are written as placeholders and equal shapes are
/// hashed once: a pool that grows or shrinks keeps its hash, so a scale-out or scale-in
/// restarts none of the brokers that stay.
fn config_hash(cluster: &ValidCluster, pool: usize, image: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(image.as_bytes());
    let shapes: BTreeSet<String> = cluster
        .pool_nodes(pool)
        .map(|node| {
            let node_id = node.node_id.to_string();
            let static_settings: Vec<(String, String)> = node
                .settings
                .iter()
                .filter(|(key, _)| {
                    !is_cluster_wide_dynamic(key)
                        && key != super::validate::BOOTSTRAP_RELEASE_VERSION
                })
                .map(|(key, value)| {
                    let value = if key == "node.id" && *value == node_id {
                        "{node.id}".to_string()
                    } else {
                        value
                            .replace(&node.host, "{host}")
                            .replace(&node.pod_name, "{pod}")
                    };
                    (key.clone(), value)
                })
                .collect();
            properties(&static_settings)
        })
        .collect();
    for shape in &shapes {
        hasher.update(shape.as_bytes());
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The image every node of `cluster` runs.
pub(crate) fn image(cluster: &ValidCluster) -> String {
    match (&cluster.spec.image, &cluster.spec.version) {
        (Some(image), _) => image.clone(),
        (None, Some(version)) => format!("ironlog:{version}"),
        (None, None) => DEFAULT_IMAGE.to_string(),
    }
}

fn env_value(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value),
        ..Default::default()
    }
}

fn env_field(name: &str, field_path: String) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn http_probe(path: &str, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("admin".to_string()),
            ..Default::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(5),
        ..Default::default()
    }
}

fn stateful_set(cluster: &ValidCluster, pool_index: usize) -> StatefulSet {
    let pool = &cluster.spec.node_pools[pool_index];
    let template = cluster.spec.pod_template.clone().unwrap_or_default();
    let image = image(cluster);
    let is_broker = pool.roles.contains(&NodeRole::Broker);
    let is_controller = pool.roles.contains(&NodeRole::Controller);

    let mut pod_labels = template.labels.clone();
    pod_labels.extend(names::cluster_labels(&cluster.name));
    pod_labels.extend(pool_selector(cluster, pool_index));
    pod_labels.insert(names::LABEL_COMPONENT.to_string(), "node".to_string());
    pod_labels.insert(names::LABEL_BROKER.to_string(), is_broker.to_string());
    pod_labels.insert(
        names::LABEL_CONTROLLER.to_string(),
        is_controller.to_string(),
    );

    let mut annotations = template.annotations.clone();
    annotations.insert(
        names::ANNOTATION_CONFIG_HASH.to_string(),
        config_hash(cluster, pool_index, &image),
    );
    let metrics = cluster.spec.metrics.as_ref().is_none_or(|m| m.enabled);
    if metrics {
        annotations.insert("prometheus.io/scrape".to_string(), "true".to_string());
        annotations.insert(
            "prometheus.io/port".to_string(),
            names::ADMIN_PORT.to_string(),
        );
        annotations.insert("prometheus.io/path".to_string(), "/metrics".to_string());
    }

    let mut env = vec![env_field("POD_NAME", "metadata.name".to_string())];
    for key in IMAGE_PRESET_KEYS {
        if let Some(value) = pod_templated(cluster, pool_index, key) {
            env.push(env_value(
                &ironlog_config::variable_for_config_key(key),
                value,
            ));
        }
    }
    if let Some(key) = &pool.rack_topology_key {
        env.push(env_field(
            &ironlog_config::variable_for_config_key("broker.rack"),
            format!("metadata.labels['{key}']"),
        ));
    }

    let mut ports: Vec<ContainerPort> = Vec::new();
    let container_port = |name: &str, port: i32| ContainerPort {
        name: Some(name.to_ascii_lowercase().replace('_', "-")),
        container_port: port,
        protocol: Some("TCP".to_string()),
        ..Default::default()
    };
    if is_broker {
        ports.extend(
            cluster
                .listeners
                .iter()
                .map(|l| container_port(&l.name, l.port)),
        );
        ports.push(container_port(
            names::REPLICATION_LISTENER,
            names::REPLICATION_PORT,
        ));
    }
    if is_controller {
        ports.push(container_port(
            names::CONTROLLER_LISTENER,
            names::CONTROLLER_PORT,
        ));
    }
    ports.push(container_port("admin", names::ADMIN_PORT));

    let mut volume_mounts = vec![
        VolumeMount {
            name: "data".to_string(),
            mount_path: names::DATA_MOUNT.to_string(),
            ..Default::default()
        },
        VolumeMount {
            name: "config".to_string(),
            mount_path: names::CONFIG_MOUNT.to_string(),
            read_only: Some(true),
            ..Default::default()
        },
    ];
    let mut volumes = vec![Volume {
        name: "config".to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: names::config_map(&cluster.name),
            ..Default::default()
        }),
        ..Default::default()
    }];
    if cluster.needs_certificates() {
        volume_mounts.push(VolumeMount {
            name: "tls".to_string(),
            mount_path: names::TLS_MOUNT.to_string(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "tls".to_string(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(names::node_certs(&cluster.name)),
                // the keys are readable by the broker's group only
                default_mode: Some(0o440),
                ..Default::default()
            }),
            ..Default::default()
        });
    }

    if let Some(oauth) = &cluster.oauth {
        let mounts = [
            (
                "oauth-jwks",
                &oauth.jwks_config_map,
                names::OAUTH_MOUNT,
                names::JWKS_FILE,
            ),
            (
                "oauth-jwks-ca",
                &oauth.jwks_endpoint_ca_config_map,
                names::OAUTH_CA_MOUNT,
                names::OAUTH_CA_FILE,
            ),
        ];
        for (volume, source, mount_path, file) in mounts {
            let Some(source) = source else { continue };
            volume_mounts.push(VolumeMount {
                name: volume.to_string(),
                mount_path: mount_path.to_string(),
                read_only: Some(true),
                ..Default::default()
            });
            volumes.push(Volume {
                name: volume.to_string(),
                config_map: Some(ConfigMapVolumeSource {
                    name: source.name.clone(),
                    items: Some(vec![KeyToPath {
                        key: source.key.clone(),
                        path: file.to_string(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }

    let container = Container {
        name: "ironlog".to_string(),
        image: Some(image),
        // the whole command line, not args under the image's entrypoint: the broker image's
        // ENTRYPOINT is `ironlog broker`, so args alone would run `ironlog broker broker`
        command: Some(vec![BROKER_PROGRAM.to_string()]),
        args: Some(vec![
            "broker".to_string(),
            "--config".to_string(),
            format!("{}/$(POD_NAME).properties", names::CONFIG_MOUNT),
        ]),
        env: Some(env),
        ports: Some(ports),
        resources: pool.resources.clone(),
        volume_mounts: Some(volume_mounts),
        security_context: Some(container_security_context()),
        // recovery of a large log may take long: liveness only after start-up
        startup_probe: Some(http_probe("/health/live", 5, 360)),
        liveness_probe: Some(http_probe("/health/live", 10, 6)),
        readiness_probe: Some(http_probe("/health/ready", 5, 3)),
        ..Default::default()
    };

    let topology_spread_constraints = pool.rack_topology_key.as_ref().map(|key| {
        vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: key.clone(),
            when_unsatisfiable: "ScheduleAnyway".to_string(),
            label_selector: Some(LabelSelector {
                match_labels: Some(pool_selector(cluster, pool_index)),
                ..Default::default()
            }),
            ..Default::default()
        }]
    });

    let pod = PodSpec {
        service_account_name: Some(names::service_account(&cluster.name)),
        automount_service_account_token: Some(false),
        termination_grace_period_seconds: Some(TERMINATION_GRACE_PERIOD_SECONDS),
        containers: vec![container],
        volumes: Some(volumes),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(BROKER_UID),
            run_as_group: Some(BROKER_GID),
            fs_group: Some(BROKER_GID),
            // a large volume is not walked on every start once its group is right
            fs_group_change_policy: Some("OnRootMismatch".to_string()),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        affinity: template.affinity.clone(),
        tolerations: (!template.tolerations.is_empty()).then(|| template.tolerations.clone()),
        priority_class_name: template.priority_class_name.clone(),
        topology_spread_constraints,
        ..Default::default()
    };

    let claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".to_string()),
            labels: Some(pool_selector(cluster, pool_index)),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_string()]),
            storage_class_name: pool.storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(pool.storage.size.clone()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };

    let mut meta = metadata(
        cluster,
        names::stateful_set(&cluster.name, &pool.name),
        "node",
    );
    if let Some(labels) = meta.labels.as_mut() {
        labels.insert(names::LABEL_POOL.to_string(), pool.name.clone());
    }
    StatefulSet {
        metadata: meta,
        spec: Some(StatefulSetSpec {
            replicas: Some(pool.replicas),
            service_name: Some(names::headless_service(&cluster.name)),
            pod_management_policy: Some("Parallel".to_string()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".to_string()),
                ..Default::default()
            }),
            selector: LabelSelector {
                match_labels: Some(pool_selector(cluster, pool_index)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(annotations),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            volume_claim_templates: Some(vec![claim]),
            persistent_volume_claim_retention_policy: Some(claim_retention(pool)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What becomes of a pool's volume claims when the StatefulSet shrinks or is deleted
/// (`storage.deleteClaim`): kept, unless the spec says to delete them.
fn claim_retention(
    pool: &crate::crd::kafka_cluster::NodePool,
) -> StatefulSetPersistentVolumeClaimRetentionPolicy {
    let policy = if pool.storage.delete_claim {
        "Delete"
    } else {
        "Retain"
    };
    StatefulSetPersistentVolumeClaimRetentionPolicy {
        when_deleted: Some(policy.to_string()),
        when_scaled: Some(policy.to_string()),
    }
}

/// The broker container's restrictions (Kubernetes' `restricted` Pod Security Standard):
/// no privilege escalation, no capabilities, not root.
fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::test_support::{cluster, snapshot};
    use crate::cluster::validate::validate;

    fn built() -> DesiredObjects {
        build(&validate(&cluster()).expect("the test cluster is valid"))
    }

    #[test]
    fn snapshot_of_every_object_of_a_three_node_cluster() {
        let objects = built();
        let mut yaml = String::new();
        for object in objects.in_apply_order() {
            let value = match object {
                Desired::ServiceAccount(o) => serde_json::to_value(o),
                Desired::ConfigMap(o) => serde_json::to_value(o),
                Desired::Service(o) => serde_json::to_value(o),
                Desired::PodDisruptionBudget(o) => serde_json::to_value(o),
                Desired::StatefulSet(o) => serde_json::to_value(o),
            }
            .expect("objects serialize");
            yaml.push_str("---\n");
            yaml.push_str(&serde_yaml_ng::to_string(&value).expect("objects render as YAML"));
        }
        snapshot("three-node-cluster.yaml", &yaml);
    }

    #[test]
    fn delete_claim_sets_the_claim_retention_policy_to_delete() {
        let mut c = cluster();
        c.spec.node_pools[0].storage.delete_claim = true;
        let built = build(&validate(&c).expect("valid"));
        let policy = built.stateful_sets[0]
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_claim_retention_policy.clone())
            .expect("a claim retention policy");
        assert_eq!(
            (
                policy.when_scaled.as_deref(),
                policy.when_deleted.as_deref()
            ),
            (Some("Delete"), Some("Delete"))
        );
    }

    #[test]
    fn tls_mounts_the_node_certificates_and_pods_run_restricted() {
        let mut c = cluster();
        let pod_spec = |c: &crate::crd::KafkaCluster| {
            build(&validate(c).expect("valid")).stateful_sets[0]
                .spec
                .clone()
                .and_then(|s| s.template.spec)
                .expect("a pod spec")
        };
        let plain = pod_spec(&c);
        assert!(
            !plain.volumes.iter().flatten().any(|v| v.secret.is_some()),
            "no certificates without TLS"
        );
        let security = plain.security_context.expect("a pod security context");
        assert_eq!(security.run_as_non_root, Some(true));
        assert_eq!(security.fs_group, Some(BROKER_GID));
        let container = plain.containers[0]
            .security_context
            .clone()
            .expect("a container security context");
        assert_eq!(container.allow_privilege_escalation, Some(false));
        assert_eq!(
            container.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_string()])
        );

        c.spec.listeners[0].tls = true;
        let tls = pod_spec(&c);
        let volume = tls
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "tls")
            .expect("a tls volume");
        assert_eq!(
            volume
                .secret
                .as_ref()
                .and_then(|s| s.secret_name.as_deref()),
            Some("demo-node-certs")
        );
        let mount = tls.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == "tls")
            .expect("the tls volume is mounted");
        assert_eq!(mount.mount_path, names::TLS_MOUNT);
        assert_eq!(mount.read_only, Some(true));
    }

    #[test]
    fn an_oauth_listener_mounts_the_jwks_config_map() {
        use crate::crd::kafka_cluster::{AuthenticationType, ConfigMapKey, OAuthSpec};
        let mut c = cluster();
        c.spec.listeners[0].authentication.type_ = AuthenticationType::Oauth;
        c.spec.listeners[0].authentication.oauth = Some(OAuthSpec {
            jwks_config_map: Some(ConfigMapKey {
                name: "idp-keys".into(),
                key: "keys.json".into(),
            }),
            jwks_endpoint_uri: None,
            jwks_endpoint_ca_config_map: None,
            issuer: None,
            audience: Vec::new(),
            username_claim: None,
        });
        let objects = build(&validate(&c).expect("valid"));
        let pod = objects.stateful_sets[0]
            .spec
            .clone()
            .and_then(|s| s.template.spec)
            .expect("a pod spec");
        let volume = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "oauth-jwks")
            .and_then(|v| v.config_map.clone())
            .expect("the JWKS ConfigMap volume");
        assert_eq!(volume.name, "idp-keys");
        let items = volume.items.expect("the key mapped to a file");
        assert_eq!(
            (items[0].key.as_str(), items[0].path.as_str()),
            ("keys.json", "jwks.json")
        );
        assert!(pod.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == "oauth-jwks" && m.mount_path == names::OAUTH_MOUNT));
        assert!(
            !pod.volumes
                .iter()
                .flatten()
                .any(|v| v.name == "oauth-jwks-ca"),
            "no endpoint, no endpoint CA"
        );

        // a JWKS endpoint with its CA: only the CA is mounted
        c.spec.listeners[0].authentication.oauth = Some(OAuthSpec {
            jwks_config_map: None,
            jwks_endpoint_uri: Some("https://idp.example/jwks".into()),
            jwks_endpoint_ca_config_map: Some(ConfigMapKey {
                name: "idp-ca".into(),
                key: "ca.pem".into(),
            }),
            issuer: None,
            audience: Vec::new(),
            username_claim: None,
        });
        let objects = build(&validate(&c).expect("valid"));
        let pod = objects.stateful_sets[0]
            .spec
            .clone()
            .and_then(|s| s.template.spec)
            .expect("a pod spec");
        let names: Vec<&str> = pod
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .filter(|n| n.starts_with("oauth"))
            .collect();
        assert_eq!(names, ["oauth-jwks-ca"]);
        let ca = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "oauth-jwks-ca")
            .and_then(|v| v.config_map.clone())
            .expect("the CA ConfigMap volume");
        assert_eq!(ca.name, "idp-ca");
        assert!(pod.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == "oauth-jwks-ca" && m.mount_path == names::OAUTH_CA_MOUNT));
    }

    #[test]
    fn apply_order_puts_config_and_services_before_stateful_sets() {
        let objects = built();
        let order: Vec<&str> = objects
            .in_apply_order()
            .iter()
            .map(|o| match o {
                Desired::ServiceAccount(_) => "ServiceAccount",
                Desired::ConfigMap(_) => "ConfigMap",
                Desired::Service(_) => "Service",
                Desired::PodDisruptionBudget(_) => "PodDisruptionBudget",
                Desired::StatefulSet(_) => "StatefulSet",
            })
            .collect();
        assert_eq!(
            order,
            [
                "ServiceAccount",
                "ConfigMap",
                "Service",
                "Service",
                "PodDisruptionBudget",
                "StatefulSet"
            ]
        );
    }

    fn config_hash_of(c: &crate::crd::KafkaCluster) -> String {
        let sts = &build(&validate(c).expect("valid")).stateful_sets[0];
        sts.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(names::ANNOTATION_CONFIG_HASH).cloned())
            .expect("a config hash annotation")
    }

    #[test]
    fn the_config_hash_changes_with_a_static_config_and_only_then() {
        let mut c = cluster();
        let first = config_hash_of(&c);
        assert_eq!(first, config_hash_of(&c), "the same spec hashes the same");
        // num.partitions is read-only in Kafka: only a restart changes it
        c.spec.config.insert("num.partitions".into(), "6".into());
        assert_ne!(
            first,
            config_hash_of(&c),
            "a static config change must change the hash"
        );
        let mut c = cluster();
        c.spec.version = Some("0.2.0".into());
        assert_ne!(first, config_hash_of(&c), "a new image changes the hash");
        let mut c = cluster();
        c.spec.metadata_version = Some("3.9-IV0".into());
        assert_eq!(
            first,
            config_hash_of(&c),
            "the metadata version is finalized at runtime, never by a restart"
        );
    }

    #[test]
    fn a_broker_pool_that_grows_or_shrinks_keeps_its_config_hash() {
        let mut c = cluster();
        c.spec.node_pools[0].roles = vec![crate::crd::kafka_cluster::NodeRole::Broker];
        c.spec.node_pools[0].node_id_start = Some(1);
        let mut controllers = c.spec.node_pools[0].clone();
        controllers.name = "controllers".into();
        controllers.replicas = 1;
        controllers.node_id_start = Some(0);
        controllers.roles = vec![crate::crd::kafka_cluster::NodeRole::Controller];
        c.spec.node_pools.push(controllers);
        let three = config_hash_of(&c);
        c.spec.node_pools[0].replicas = 4;
        assert_eq!(
            three,
            config_hash_of(&c),
            "a scale-out must not restart the brokers that were there"
        );
        c.spec.node_pools[0].replicas = 2;
        assert_eq!(
            three,
            config_hash_of(&c),
            "a scale-in must not restart the brokers that stay"
        );
        c.spec.config.insert("num.partitions".into(), "6".into());
        assert_ne!(three, config_hash_of(&c), "a static change still does");
    }

    #[test]
    fn a_dynamic_config_change_leaves_the_hash_and_is_applied_at_runtime() {
        let mut c = cluster();
        let first = config_hash_of(&c);
        c.spec
            .config
            .insert("log.retention.ms".into(), "1000".into());
        c.spec
            .config
            .insert("log.cleaner.threads".into(), "2".into());
        assert_eq!(
            first,
            config_hash_of(&c),
            "cluster-wide dynamic keys restart no pod"
        );
        let dynamic = dynamic_config(&validate(&c).expect("valid"));
        assert_eq!(
            dynamic.get("log.retention.ms").map(String::as_str),
            Some("1000")
        );
        assert_eq!(
            dynamic.get("log.cleaner.threads").map(String::as_str),
            Some("2")
        );
        assert!(
            !dynamic.contains_key("num.partitions")
                && !dynamic.contains_key("default.replication.factor"),
            "read-only keys are not applied at runtime: {dynamic:?}"
        );
        // the properties file still holds it: a restarted broker starts with the value
        let objects = build(&validate(&c).expect("valid"));
        let files = objects.config_map.data.expect("config map data");
        assert!(files
            .values()
            .all(|f| f.contains("log.retention.ms=1000\n")));
    }

    #[test]
    fn every_node_file_loads_in_the_broker_and_the_env_repeats_it() {
        let valid = validate(&cluster()).expect("valid");
        let objects = build(&valid);
        let data = objects.config_map.data.as_ref().expect("config map data");
        assert_eq!(data.len(), 3, "one properties file per node");
        for node in &valid.nodes {
            let text = &data[&names::properties_file(&node.pod_name)];
            let pairs = ironlog_config::parse_properties(text).expect("a properties file");
            ironlog_config::BrokerConfig::from_pairs(pairs)
                .unwrap_or_else(|e| panic!("{} does not load: {e}", node.pod_name));
        }
        let container = &objects.stateful_sets[0]
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0];
        let env = container.env.as_ref().expect("env");
        let advertised = env
            .iter()
            .find(|e| e.name == "IRONLOG_ADVERTISED_LISTENERS")
            .and_then(|e| e.value.clone())
            .expect("advertised listeners in the env");
        // what the pod of ordinal 1 expands the env to is what its file says
        let expanded = advertised.replace("$(POD_NAME)", &valid.nodes[1].pod_name);
        assert!(
            valid.nodes[1]
                .settings
                .contains(&("advertised.listeners".to_string(), expanded.clone())),
            "env {expanded} must equal the file's advertised.listeners"
        );
    }
}
