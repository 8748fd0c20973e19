//! `stale`: the fallback for a scale-in whose record of the brokers that left was lost (the
//! status write with `status.unregisteringBrokers` failed, or the status was replaced). At
//! each reconcile of a cluster with no scale-in under way, the registered brokers
//! (DescribeCluster, fenced ones included) that belong to no pool of the spec are looked
//! at, and each is unregistered (UnregisterBroker) only when all of these hold:
//!
//! - no pod of the cluster is, or may be, that broker: every node pod maps to a node id of
//!   a pool in the spec (`nodeIdStart` + ordinal), and none maps to it. A pod of a pool the
//!   spec does not have (a removed pool's, still going) could be any broker: then no broker
//!   is unregistered at all;
//! - the cluster does not list it as serving (Metadata's brokers: registered and unfenced).
//!   A broker that heartbeats is running somewhere, whatever the pods say;
//! - no partition names it as a replica (its data would be lost with it).
//!
//! A broker id whose pod still exists is never unregistered. [`stale_brokers`] is the pure
//! decision; [`unregister_stale`] reads what it needs and acts, best effort: a failure is
//! logged and looked at again at the next reconcile, never failing it.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};

use crate::cluster::names;
use crate::cluster::validate::ValidCluster;
use crate::crd::kafka_cluster::KafkaClusterStatus;
use crate::crd::KafkaCluster;
use crate::kafka_admin::{AdminEndpoint, KafkaAdmin};

use super::model::BrokerId;
use super::scale_in::describe;

/// The Event a fallback unregistration publishes.
pub const STALE_BROKER_UNREGISTERED: &str = "StaleBrokerUnregistered";

/// Which brokers the cluster's node pods are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodePods {
    /// Every node pod maps to a node id of a pool in the spec: these.
    Known(BTreeSet<BrokerId>),
    /// This pod maps to no pool of the spec: it could be any broker.
    Unknown(String),
}

/// The node id of pod `pod` of pool `pool` (its `ironlog.dev/pool` label) when that pool
/// is in `valid`'s spec and the pod is named as its StatefulSet names pods.
pub fn pod_node_id(valid: &ValidCluster, pool: Option<&str>, pod: &str) -> Option<BrokerId> {
    let pool = valid
        .spec
        .node_pools
        .iter()
        .find(|p| Some(p.name.as_str()) == pool)?;
    let prefix = format!("{}-", names::stateful_set(&valid.name, &pool.name));
    let ordinal: i32 = pod.strip_prefix(&prefix)?.parse().ok()?;
    (ordinal >= 0).then(|| pool.node_id_start.unwrap_or(0) + ordinal)
}

/// What the node pods `pods` (each its pool label and name) are.
pub fn node_pods<'a>(
    valid: &ValidCluster,
    pods: impl IntoIterator<Item = (Option<&'a str>, &'a str)>,
) -> NodePods {
    let mut ids = BTreeSet::new();
    for (pool, pod) in pods {
        match pod_node_id(valid, pool, pod) {
            Some(id) => {
                ids.insert(id);
            }
            None => return NodePods::Unknown(pod.to_string()),
        }
    }
    NodePods::Known(ids)
}

/// What the fallback does with the registered brokers that no pool has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stale {
    /// No pod, not serving, no replicas: to unregister.
    pub unregister: BTreeSet<BrokerId>,
    /// A pod is (or may be) this broker, or the cluster lists it as serving: kept.
    pub running: BTreeSet<BrokerId>,
    /// Partitions still name it as a replica: kept.
    pub holding: BTreeSet<BrokerId>,
}

impl Stale {
    /// No broker outside the spec at all.
    pub fn is_empty(&self) -> bool {
        self.unregister.is_empty() && self.running.is_empty() && self.holding.is_empty()
    }
}

/// The decision over `candidates` (registered brokers in no pool of the spec and not
/// pending a scale-in's own unregistration): `serving` the brokers the cluster lists as
/// registered and unfenced, `pods` the node pods, `replicas` every broker some partition
/// names as a replica.
pub fn stale_brokers(
    candidates: &BTreeSet<BrokerId>,
    serving: &BTreeSet<BrokerId>,
    pods: &NodePods,
    replicas: &BTreeSet<BrokerId>,
) -> Stale {
    let mut stale = Stale::default();
    for &id in candidates {
        let has_pod = match pods {
            NodePods::Known(ids) => ids.contains(&id),
            NodePods::Unknown(_) => true,
        };
        if has_pod || serving.contains(&id) {
            stale.running.insert(id);
        } else if replicas.contains(&id) {
            stale.holding.insert(id);
        } else {
            stale.unregister.insert(id);
        }
    }
    stale
}

/// The registered brokers in no pool of `valid` and not in `status.unregisteringBrokers`.
pub fn candidates(
    registered: &BTreeSet<BrokerId>,
    valid: &ValidCluster,
    status: &KafkaClusterStatus,
) -> BTreeSet<BrokerId> {
    let in_spec: BTreeSet<BrokerId> = valid.nodes.iter().map(|n| n.node_id).collect();
    let pending: BTreeSet<BrokerId> = status
        .unregistering_brokers
        .iter()
        .map(|b| b.node_id)
        .collect();
    registered
        .iter()
        .copied()
        .filter(|id| !in_spec.contains(id) && !pending.contains(id))
        .collect()
}

/// Why the fallback could not look or act (logged; the next reconcile looks again).
#[derive(Debug, thiserror::Error)]
pub enum StaleError {
    #[error("asking the brokers: {0}")]
    Admin(#[from] crate::kafka_admin::AdminError),
    #[error("listing the cluster's pods: {0}")]
    Pods(#[from] kube::Error),
}

/// Unregisters the brokers [`stale_brokers`] finds for `cluster`, its brokers reached at
/// `endpoint`, with a `StaleBrokerUnregistered` Event. Best effort (see the module doc).
pub async fn unregister_stale(
    context: &crate::controller::ControllerContext,
    cluster: &KafkaCluster,
    valid: &ValidCluster,
    endpoint: &AdminEndpoint,
    status: &KafkaClusterStatus,
) {
    match look_and_unregister(context, valid, endpoint, status).await {
        Ok(stale) => {
            if !stale.running.is_empty() || !stale.holding.is_empty() {
                tracing::info!(
                    cluster = %cluster.name_any(),
                    running = ?stale.running,
                    holding = ?stale.holding,
                    "registered brokers in no pool kept: a pod may run them, or they hold replicas"
                );
            }
            if !stale.unregister.is_empty() {
                tracing::info!(cluster = %cluster.name_any(), brokers = ?stale.unregister, "stale brokers unregistered");
                crate::events::publish(
                    &context.recorder,
                    &cluster.object_ref(&()),
                    false,
                    STALE_BROKER_UNREGISTERED,
                    "ScaleIn",
                    format!(
                        "brokers {} unregistered: registered, but in no pool, without a pod and holding no replicas",
                        describe(&stale.unregister)
                    ),
                )
                .await;
            }
        }
        Err(e) => {
            tracing::info!(cluster = %cluster.name_any(), error = %e, "stale brokers not looked at");
        }
    }
}

/// The decision and its unregistrations; `unregister` holds the brokers unregistered (or
/// found not registered any more).
async fn look_and_unregister(
    context: &crate::controller::ControllerContext,
    valid: &ValidCluster,
    endpoint: &AdminEndpoint,
    status: &KafkaClusterStatus,
) -> Result<Stale, StaleError> {
    let admin = KafkaAdmin::new(endpoint)?;
    let registered = admin.registered_brokers().await?;
    let candidates = candidates(&registered, valid, status);
    if candidates.is_empty() {
        return Ok(Stale::default());
    }
    // the pods first, then the brokers' view: a broker that starts between the two shows
    // as serving
    let pods: Api<Pod> = Api::namespaced(context.client.clone(), &valid.namespace);
    let selector = format!(
        "{}={},{}=node",
        names::LABEL_CLUSTER,
        valid.name,
        names::LABEL_COMPONENT
    );
    let listed = pods.list(&ListParams::default().labels(&selector)).await?;
    let named: Vec<(Option<String>, String)> = listed
        .items
        .iter()
        .map(|p| (p.labels().get(names::LABEL_POOL).cloned(), p.name_any()))
        .collect();
    let pods = node_pods(
        valid,
        named
            .iter()
            .map(|(pool, pod)| (pool.as_deref(), pod.as_str())),
    );
    let state = admin.replica_state().await?;
    let replicas: BTreeSet<BrokerId> = state
        .partitions
        .iter()
        .flat_map(|p| p.replicas.iter().copied())
        .collect();
    let mut stale = stale_brokers(&candidates, &state.live_brokers, &pods, &replicas);
    let mut failed = BTreeSet::new();
    for &id in &stale.unregister {
        if let Err(e) = admin.unregister_broker(id).await {
            tracing::info!(broker_id = id, error = %e, "unregistering a stale broker failed; retried at the next reconcile");
            failed.insert(id);
        }
    }
    stale.unregister.retain(|id| !failed.contains(id));
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::validate::validate;
    use crate::crd::kafka_cluster::LeftBroker;

    fn ids(ids: &[BrokerId]) -> BTreeSet<BrokerId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn only_a_broker_without_pod_service_or_replicas_is_unregistered() {
        let stale = stale_brokers(
            &ids(&[4, 5, 6, 7]),
            &ids(&[1, 2, 3, 6]),
            &NodePods::Known(ids(&[1, 2, 3, 5])),
            &ids(&[1, 2, 3, 7]),
        );
        assert_eq!(
            stale,
            Stale {
                unregister: ids(&[4]),
                // 5 has a pod, 6 heartbeats
                running: ids(&[5, 6]),
                holding: ids(&[7]),
            }
        );
    }

    #[test]
    fn a_pod_of_no_pool_in_the_spec_keeps_every_broker() {
        let stale = stale_brokers(
            &ids(&[4, 5]),
            &ids(&[1]),
            &NodePods::Unknown("c-removed-0".to_string()),
            &ids(&[]),
        );
        assert!(stale.unregister.is_empty(), "{stale:?}");
        assert_eq!(stale.running, ids(&[4, 5]));
    }

    #[test]
    fn pods_map_to_their_pools_node_ids_and_others_are_unknown() {
        let mut cluster = crate::cluster::test_support::cluster();
        cluster.spec.node_pools[0].node_id_start = Some(10);
        let valid = validate(&cluster).expect("a valid spec");
        let pool = valid.spec.node_pools[0].name.clone();
        let pod = |ordinal: i32| names::pod_name(&valid.name, &pool, ordinal);
        // a pod beyond the spec's replicas (still terminating) is still its broker
        assert_eq!(pod_node_id(&valid, Some(pool.as_str()), &pod(7)), Some(17));
        assert_eq!(pod_node_id(&valid, Some("other"), &pod(0)), None);
        assert_eq!(pod_node_id(&valid, None, &pod(0)), None);
        assert_eq!(pod_node_id(&valid, Some(pool.as_str()), "stranger-0"), None);
        let (first, second) = (pod(0), pod(4));
        assert_eq!(
            node_pods(
                &valid,
                [
                    (Some(pool.as_str()), first.as_str()),
                    (Some(pool.as_str()), second.as_str())
                ]
            ),
            NodePods::Known(ids(&[10, 14]))
        );
        assert_eq!(
            node_pods(
                &valid,
                [
                    (Some(pool.as_str()), first.as_str()),
                    (Some("gone"), "x-gone-0")
                ]
            ),
            NodePods::Unknown("x-gone-0".to_string())
        );
    }

    #[test]
    fn candidates_are_outside_the_spec_and_not_already_pending() {
        let cluster = crate::cluster::test_support::cluster();
        let valid = validate(&cluster).expect("a valid spec");
        let in_spec: Vec<BrokerId> = valid.nodes.iter().map(|n| n.node_id).collect();
        let beyond = in_spec.iter().max().copied().unwrap_or(0);
        let status = KafkaClusterStatus {
            unregistering_brokers: vec![LeftBroker {
                node_id: beyond + 1,
                pod: "p".to_string(),
            }],
            ..KafkaClusterStatus::default()
        };
        let registered: BTreeSet<BrokerId> = in_spec
            .iter()
            .copied()
            .chain([beyond + 1, beyond + 2])
            .collect();
        assert_eq!(candidates(&registered, &valid, &status), ids(&[beyond + 2]));
    }
}
