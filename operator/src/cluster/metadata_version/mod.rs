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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use kube::{Resource, ResourceExt};

use crate::crd::conditions;
use crate::crd::kafka_cluster::KafkaClusterStatus;
use crate::crd::KafkaCluster;
use crate::kafka_admin::{AdminEndpoint, KafkaAdmin, SupportedRange, METADATA_VERSION_FEATURE};
use ironlog_protocol::Target;

use super::validate::ValidCluster;
pub use decide::{decide, Decision, FinalizeInputs};

/// The condition the metadata version reports in.
pub const METADATA_VERSION: &str = "MetadataVersion";
/// How soon a finalization that waits is looked at again.
pub const REQUEUE_WAITING: Duration = Duration::from_secs(10);
/// The longest wait before a refused finalization is tried again.
pub const REQUEUE_REFUSED_MAX: Duration = Duration::from_secs(300);

/// What the brokers of a settled cluster said they support, per cluster, with what that
/// answer depends on: the brokers' supported ranges change only with their image, and
/// the brokers are asked again when the registered set changes. So a cluster left at an unset
/// `spec.metadataVersion` is not asked by every broker on every reconcile, only after a
/// roll or a registration change.
#[derive(Default)]
pub struct RangesSeen {
    seen: Mutex<HashMap<String, (Fingerprint, Ranges)>>,
}

/// The metadata.version range each broker supports.
type Ranges = BTreeMap<i32, SupportedRange>;

/// What the brokers' supported ranges were asked under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub image: String,
    pub brokers: BTreeSet<i32>,
    pub registered: BTreeSet<i32>,
}

impl RangesSeen {
    /// The ranges remembered for `key`, if they were asked under `now`.
    pub fn ranges(&self, key: &str, now: &Fingerprint) -> Option<Ranges> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(key)
            .filter(|(asked, _)| asked == now)
            .map(|(_, ranges)| ranges.clone())
    }

    pub fn remember(&self, key: &str, asked: Fingerprint, ranges: Ranges) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(key.to_string(), (asked, ranges));
    }

    pub fn forget(&self, key: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

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
        let settled = inputs.roll_unsettled.is_none() && inputs.nodes_ready >= inputs.nodes_total;
        let seen = Fingerprint {
            image: super::build::image(valid),
            brokers: inputs.brokers.clone(),
            registered: inputs.registered.clone(),
        };
        match context.metadata_versions.ranges(&backoff_key, &seen) {
            Some(ranges) if settled => inputs.supported = ranges,
            _ => {
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
                // kept only when every broker answered on a settled cluster: no pod was
                // between images while they were asked
                let complete = inputs
                    .brokers
                    .iter()
                    .all(|id| inputs.supported.contains_key(id));
                if settled && complete {
                    context.metadata_versions.remember(
                        &backoff_key,
                        seen,
                        inputs.supported.clone(),
                    );
                } else {
                    context.metadata_versions.forget(&backoff_key);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(image: &str, registered: &[i32]) -> Fingerprint {
        Fingerprint {
            image: image.to_string(),
            brokers: [1, 2, 3].into(),
            registered: registered.iter().copied().collect(),
        }
    }

    #[test]
    fn ranges_are_reused_only_under_the_image_and_registrations_they_were_asked_under() {
        let seen = RangesSeen::default();
        let ranges: BTreeMap<i32, SupportedRange> = [1, 2, 3]
            .into_iter()
            .map(|id| (id, SupportedRange { min: 21, max: 27 }))
            .collect();
        seen.remember("ns/c", fingerprint("ironlog:1", &[1, 2, 3]), ranges.clone());
        assert_eq!(
            seen.ranges("ns/c", &fingerprint("ironlog:1", &[1, 2, 3])),
            Some(ranges)
        );
        assert_eq!(
            seen.ranges("ns/c", &fingerprint("ironlog:2", &[1, 2, 3])),
            None,
            "a new image is asked again"
        );
        assert_eq!(
            seen.ranges("ns/c", &fingerprint("ironlog:1", &[1, 2])),
            None,
            "a registration change is asked again"
        );
        assert_eq!(
            seen.ranges("ns/other", &fingerprint("ironlog:1", &[1, 2, 3])),
            None
        );
        seen.forget("ns/c");
        assert_eq!(
            seen.ranges("ns/c", &fingerprint("ironlog:1", &[1, 2, 3])),
            None
        );
    }
}
