//! The cluster's metadata version (Kafka's `metadata.version` feature), after the roll in
//! a reconcile: `status.metadataVersion` from the brokers (ApiVersions' finalized
//! features), and, when `spec.metadataVersion` asks for more (or, unset, the brokers all
//! support more), UpdateFeatures once [`decide`] says it is safe. Reported in the
//! `MetadataVersion` condition (`Finalized`, `Waiting`, `UpdateRefused`,
//! `DowngradeRefused`), an Event `MetadataVersionFinalized` when it is raised; a refusal
//! from the controller is retried with the object's backoff.
//!
//! A new cluster starts at `spec.metadataVersion` through the nodes'
//! `bootstrap.release.version` (`validate`), which only a new metadata log reads.

pub mod decide;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::{Resource, ResourceExt};

use crate::crd::conditions;
use crate::crd::kafka_cluster::KafkaClusterStatus;
use crate::crd::KafkaCluster;
use crate::kafka_admin::{AdminEndpoint, KafkaAdmin, METADATA_VERSION_FEATURE};
use ironlog_protocol::Target;

use super::validate::ValidCluster;
pub use decide::{decide, Decision, FinalizeInputs};

/// The condition the metadata version reports in.
pub const METADATA_VERSION: &str = "MetadataVersion";
/// How soon a finalization that waits is looked at again.
pub const REQUEUE_WAITING: Duration = Duration::from_secs(10);
/// The longest wait before a refused finalization is tried again.
pub const REQUEUE_REFUSED_MAX: Duration = Duration::from_secs(300);

/// What the reconcile knows of the nodes when the metadata version's turn comes.
#[derive(Debug, Clone)]
pub struct NodesView {
    /// Why the roll is not settled (`None`: no pod waits for a restart, none under way).
    pub roll_unsettled: Option<String>,
    pub ready: i32,
    pub total: i32,
}

/// One look at the metadata version of `cluster` through `endpoint`: `status` gets
/// `metadataVersion` and the condition; returns when to look again (`None`: the minute
/// of a ready cluster will do).
pub async fn step(
    context: &super::reconcile::Context,
    cluster: &KafkaCluster,
    valid: &ValidCluster,
    endpoint: &AdminEndpoint,
    nodes: NodesView,
    status: &mut KafkaClusterStatus,
) -> Option<Duration> {
    let generation = cluster.meta().generation;
    let backoff_key = format!(
        "metadata-version/{}/{}",
        valid.namespace,
        cluster.name_any()
    );
    let set = |status: &mut KafkaClusterStatus, value: bool, reason: &str, message: String| {
        conditions::set_condition(
            &mut status.conditions,
            conditions::condition(METADATA_VERSION, value, reason, message, generation),
        );
    };
    let admin = match KafkaAdmin::new(endpoint) {
        Ok(admin) => admin,
        Err(e) => {
            set(status, false, "Unknown", e.to_string());
            return Some(REQUEUE_WAITING);
        }
    };
    let finalized = match admin.features(Target::AnyBroker).await {
        Ok(view) => view.finalized.get(METADATA_VERSION_FEATURE).copied(),
        Err(e) => {
            tracing::info!(cluster = %valid.name, error = %e, "the metadata version is unknown");
            set(
                status,
                false,
                "Unknown",
                format!("the brokers cannot be asked: {e}"),
            );
            return Some(REQUEUE_WAITING);
        }
    };
    let Some(finalized) = finalized else {
        set(
            status,
            false,
            "Unknown",
            "the brokers report no finalized metadata.version".to_string(),
        );
        return Some(REQUEUE_WAITING);
    };
    status.metadata_version = Some(decide::name(finalized));

    let brokers = valid.broker_nodes().map(|n| n.node_id).collect();
    let mut inputs = FinalizeInputs {
        wanted: valid.metadata_version,
        finalized,
        roll_unsettled: nodes.roll_unsettled,
        nodes_ready: nodes.ready,
        nodes_total: nodes.total,
        brokers,
        registered: Default::default(),
        supported: BTreeMap::new(),
    };
    // the brokers' own word only when a raise is possible at all
    if valid
        .metadata_version
        .is_none_or(|wanted| wanted > finalized)
    {
        if let Ok(registered) = admin.registered_brokers().await {
            inputs.registered = registered;
        }
        for id in inputs.brokers.clone() {
            match admin.features(Target::Node(id)).await {
                Ok(view) => {
                    if let Some(range) = view.supported.get(METADATA_VERSION_FEATURE) {
                        inputs.supported.insert(id, *range);
                    }
                }
                Err(e) => {
                    tracing::debug!(cluster = %valid.name, broker = id, error = %e, "no ApiVersions answer")
                }
            }
        }
    }
    let cluster_ref = cluster.object_ref(&());
    match decide(&inputs) {
        Decision::UpToDate { level } => {
            context.backoff.succeeded(&backoff_key);
            let message = if valid.metadata_version.is_some() {
                format!("finalized at {}, as the spec asks", decide::name(level))
            } else {
                format!(
                    "finalized at {}, the latest every broker supports",
                    decide::name(level)
                )
            };
            set(status, true, "Finalized", message);
            None
        }
        Decision::DowngradeRefused { finalized, wanted } => {
            set(
                status,
                false,
                "DowngradeRefused",
                format!(
                    "spec.metadataVersion {} is lower than the finalized {}: the metadata \
                     version is never lowered (Kafka refuses metadata.version downgrades \
                     across metadata format changes); the cluster stays at {}",
                    decide::name(wanted),
                    decide::name(finalized),
                    decide::name(finalized)
                ),
            );
            None
        }
        Decision::Wait { reason, .. } => {
            set(status, false, "Waiting", reason);
            Some(REQUEUE_WAITING)
        }
        Decision::Finalize { from, to } => {
            match admin.upgrade_feature(METADATA_VERSION_FEATURE, to).await {
                Ok(()) => {
                    context.backoff.succeeded(&backoff_key);
                    let message = format!(
                        "metadata.version finalized at {} (was {}): every broker runs its \
                         current image and supports it",
                        decide::name(to),
                        decide::name(from)
                    );
                    tracing::info!(cluster = %valid.name, %message);
                    crate::events::publish_distinct(
                        &context.client,
                        &cluster_ref,
                        false,
                        "MetadataVersionFinalized",
                        "Finalize",
                        message.clone(),
                    )
                    .await;
                    status.metadata_version = Some(decide::name(to));
                    set(status, true, "Finalized", message);
                    None
                }
                Err(e) => {
                    let message = format!(
                        "finalizing metadata.version {} was refused: {e}",
                        decide::name(to)
                    );
                    tracing::info!(cluster = %valid.name, %message);
                    crate::events::publish(
                        &context.recorder,
                        &cluster_ref,
                        true,
                        "MetadataVersionRefused",
                        "Finalize",
                        message.clone(),
                    )
                    .await;
                    set(status, false, "UpdateRefused", message);
                    Some(
                        context
                            .backoff
                            .failed(&backoff_key)
                            .min(REQUEUE_REFUSED_MAX),
                    )
                }
            }
        }
    }
}
