//! `execute`: one step of a roll, as part of a KafkaCluster's reconcile. Gathers the
//! [`RollModel`] — the pods from the API server (a pod whose `controller-revision-hash`
//! is not its StatefulSet's `updateRevision` runs an old template: a changed image,
//! resources or static config hash; one annotated `ironlog.dev/roll=true` was asked to
//! restart), the partitions, ISRs, `min.insync.replicas` and the quorum from the brokers —
//! asks [`plan::next_action`], and carries it out: deletes at most one pod (the broker
//! stops with a controlled shutdown on SIGTERM, its StatefulSet makes it again from the
//! current template), with an Event giving the reason. The outcome goes into
//! `status.roll` and the `Rolling` condition; a blocked roll is looked at again with
//! backoff.
//!
//! `ironlog.dev/roll=true` on the KafkaCluster rolls every node: the annotation is copied
//! onto each pod, then removed from the KafkaCluster (an Event records it), so the request
//! outlives an operator restart and each pod's restart clears its own.
//!
//! When the brokers cannot be asked (every broker down, e.g. after a bad static config),
//! only pods that are not ready are restarted: they serve nothing, and a fixed config
//! needs their restart to come back.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};

use crate::crd::conditions;
use crate::crd::kafka_cluster::{KafkaClusterStatus, NodeRole};
use crate::crd::KafkaCluster;
use crate::kafka_admin::{AdminEndpoint, KafkaAdmin};

use super::super::names;
use super::super::validate::ValidCluster;
use super::plan::{
    next_action, PartitionState, PodState, QuorumState, RestartReason, RollAction, RollModel, Voter,
};

/// The annotation that asks for a restart: on a pod, of that node; on the KafkaCluster,
/// of every node.
pub const ROLL_ANNOTATION: &str = "ironlog.dev/roll";
/// The condition a roll reports in.
pub const ROLLING: &str = "Rolling";
/// The pod label the StatefulSet controller sets to the revision the pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// How soon a roll under way is looked at again.
pub const REQUEUE_ROLLING: Duration = Duration::from_secs(5);
/// The longest wait before a blocked roll is looked at again.
pub const REQUEUE_BLOCKED_MAX: Duration = Duration::from_secs(60);
/// Container waiting reasons that mean the pod will not come up by itself.
const STUCK_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
];

/// Why a roll step failed (the reconcile is retried).
#[derive(Debug, thiserror::Error)]
pub enum RollError {
    #[error("listing the pods of cluster {cluster}: {source}")]
    ListPods {
        cluster: String,
        source: kube::Error,
    },
    #[error("reading StatefulSet {name}: {source}")]
    StatefulSet { name: String, source: kube::Error },
    #[error("annotating pod {pod} for a restart: {source}")]
    Annotate { pod: String, source: kube::Error },
    #[error("clearing the {ROLL_ANNOTATION} annotation of the KafkaCluster: {source}")]
    ClearAnnotation { source: kube::Error },
    #[error("deleting pod {pod} to restart it: {source}")]
    DeletePod { pod: String, source: kube::Error },
}

/// What a roll step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollStep {
    pub action: RollAction,
    /// When to look again (`None`: no roll under way).
    pub requeue: Option<Duration>,
}

fn is_annotated(annotations: Option<&BTreeMap<String, String>>) -> bool {
    annotations
        .and_then(|a| a.get(ROLL_ANNOTATION))
        .is_some_and(|v| v == "true")
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn is_stuck(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|statuses| {
            statuses.iter().any(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    .is_some_and(|r| STUCK_REASONS.contains(&r))
            })
        })
}

/// Copies a KafkaCluster's roll annotation onto its pods, then removes it from the
/// KafkaCluster. Returns whether there was one.
async fn stamp_cluster_roll(
    client: &Client,
    cluster: &KafkaCluster,
    namespace: &str,
    pods: &[Pod],
) -> Result<bool, RollError> {
    if !is_annotated(cluster.meta().annotations.as_ref()) {
        return Ok(false);
    }
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let patch = serde_json::json!({"metadata": {"annotations": {ROLL_ANNOTATION: "true"}}});
    for pod in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let name = pod.name_any();
        match pod_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            // gone meanwhile: it is made again from the current template anyway
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => return Err(RollError::Annotate { pod: name, source }),
        }
    }
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), namespace);
    let clear = serde_json::json!({"metadata": {"annotations": {ROLL_ANNOTATION: null}}});
    clusters
        .patch(
            &cluster.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&clear),
        )
        .await
        .map_err(|source| RollError::ClearAnnotation { source })?;
    Ok(true)
}

/// The pool's StatefulSet's update revision, once its status describes its spec.
async fn update_revisions(
    client: &Client,
    namespace: &str,
    cluster: &ValidCluster,
) -> Result<BTreeMap<usize, Option<String>>, RollError> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let mut out = BTreeMap::new();
    for (index, pool) in cluster.spec.node_pools.iter().enumerate() {
        let name = names::stateful_set(&cluster.name, &pool.name);
        let sts = api
            .get_opt(&name)
            .await
            .map_err(|source| RollError::StatefulSet { name, source })?;
        let revision = sts.and_then(|sts| {
            let status = sts.status?;
            (status.observed_generation == sts.metadata.generation)
                .then_some(status.update_revision)
                .flatten()
        });
        out.insert(index, revision);
    }
    Ok(out)
}

/// The pods of `cluster` as the plan sees them; `None` while a StatefulSet has not yet
/// observed its spec (its pods' revisions cannot be judged).
fn pod_states(
    cluster: &ValidCluster,
    pods: &[Pod],
    revisions: &BTreeMap<usize, Option<String>>,
) -> Option<Vec<PodState>> {
    let mut out = Vec::new();
    for node in &cluster.nodes {
        let pool = &cluster.spec.node_pools[node.pool];
        let revision = revisions.get(&node.pool)?.as_ref()?;
        let pod = pods.iter().find(|p| p.name_any() == node.pod_name);
        let restart = pod.and_then(|pod| {
            if is_annotated(pod.metadata.annotations.as_ref()) {
                return Some(RestartReason::Annotated);
            }
            let current = pod.labels().get(REVISION_LABEL)?;
            (current != revision).then(|| RestartReason::TemplateChanged {
                from: current.clone(),
                to: revision.clone(),
            })
        });
        out.push(PodState {
            name: node.pod_name.clone(),
            pool: pool.name.clone(),
            ordinal: node.ordinal,
            node_id: node.node_id,
            is_broker: pool.roles.contains(&NodeRole::Broker),
            is_controller: pool.roles.contains(&NodeRole::Controller),
            exists: pod.is_some(),
            terminating: pod.is_some_and(|p| p.metadata.deletion_timestamp.is_some()),
            ready: pod.is_some_and(is_ready),
            stuck: pod.is_some_and(is_stuck),
            restart,
        });
    }
    Some(out)
}

/// The model with the brokers' view; when they cannot be asked, one where only the pods
/// that are not ready may restart.
async fn model(
    bootstrap: Option<&AdminEndpoint>,
    pods: Vec<PodState>,
    last_restarted: Option<String>,
) -> (RollModel, Option<String>) {
    let asked = async {
        let bootstrap = bootstrap.ok_or_else(|| "no bootstrap address yet".to_string())?;
        let admin = KafkaAdmin::new(bootstrap).map_err(|e| e.to_string())?;
        let replicas = admin.replica_state().await.map_err(|e| e.to_string())?;
        let quorum = admin.describe_quorum().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((replicas, quorum))
    };
    match asked.await {
        Ok((replicas, quorum)) => (
            RollModel {
                pods,
                partitions: replicas
                    .partitions
                    .into_iter()
                    .map(|p| PartitionState {
                        topic: p.topic,
                        partition: p.partition,
                        replicas: p.replicas,
                        isr: p.isr,
                        min_isr: p.min_isr,
                    })
                    .collect(),
                quorum: QuorumState {
                    voters: quorum
                        .voters
                        .iter()
                        .map(|v| Voter {
                            node_id: v.node_id,
                            caught_up: v.caught_up,
                        })
                        .collect(),
                    leader: quorum.leader,
                },
                live_brokers: replicas.live_brokers,
                last_restarted,
            },
            None,
        ),
        Err(unreachable) => {
            let pods = pods
                .into_iter()
                .map(|mut p| {
                    if p.ready && !p.stuck {
                        p.restart = None;
                    }
                    p
                })
                .collect();
            let model = RollModel {
                pods,
                partitions: Vec::new(),
                quorum: QuorumState {
                    voters: Vec::new(),
                    leader: None,
                },
                live_brokers: Default::default(),
                // the brokers cannot tell whether it rejoined
                last_restarted: None,
            };
            (model, Some(unreachable))
        }
    }
}

/// The pods of the cluster (by its label).
async fn cluster_pods(pod_api: &Api<Pod>, valid: &ValidCluster) -> Result<Vec<Pod>, RollError> {
    let selector = format!("{}={}", names::LABEL_CLUSTER, valid.name);
    Ok(pod_api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| RollError::ListPods {
            cluster: valid.name.clone(),
            source,
        })?
        .items)
}

/// One step of the roll of `cluster`; updates `status` (its `roll` and the `Rolling`
/// condition).
pub async fn step(
    client: &Client,
    backoff: &crate::backoff::Backoff,
    cluster: &KafkaCluster,
    namespace: &str,
    valid: &ValidCluster,
    bootstrap: Option<&AdminEndpoint>,
    status: &mut KafkaClusterStatus,
) -> Result<RollStep, RollError> {
    let generation = cluster.meta().generation;
    let backoff_key = format!("roll/{namespace}/{}", cluster.name_any());
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut pods = cluster_pods(&pod_api, valid).await?;
    if stamp_cluster_roll(client, cluster, namespace, &pods).await? {
        crate::events::publish_distinct(
            client,
            &cluster.object_ref(&()),
            false,
            "RollRequested",
            "Roll",
            format!(
                "the {ROLL_ANNOTATION} annotation asks for a restart of every node: {} pod(s) annotated",
                pods.len()
            ),
        )
        .await;
        pods = cluster_pods(&pod_api, valid).await?;
    }
    let revisions = update_revisions(client, namespace, valid).await?;
    let mut roll = status.roll.clone().unwrap_or_default();
    let Some(pod_states) = pod_states(valid, &pods, &revisions) else {
        // the StatefulSet controller has not caught up with a new spec yet
        return Ok(RollStep {
            action: RollAction::Wait {
                reason: "a StatefulSet has not observed its new spec yet".to_string(),
            },
            requeue: Some(REQUEUE_ROLLING),
        });
    };
    let pending: Vec<String> = pod_states
        .iter()
        .filter(|p| p.restart.is_some())
        .map(|p| p.name.clone())
        .collect();
    // a roll under way ends once its last restarted pod has rejoined
    let in_progress = status.roll.is_some();
    let action = if pending.is_empty() && !in_progress {
        RollAction::Done
    } else {
        let (model, unreachable) = model(bootstrap, pod_states, roll.current_pod.clone()).await;
        match (next_action(&model), unreachable) {
            (action @ RollAction::Restart { .. }, _) | (action, None) => action,
            (_, Some(why)) if pending.is_empty() => RollAction::Wait {
                reason: format!("the brokers cannot be asked whether the last restart rejoined: {why}"),
            },
            (_, Some(why)) => RollAction::Blocked {
                reason: format!(
                    "the brokers cannot be asked ({why}); only pods that are not ready are restarted"
                ),
            },
        }
    };
    let cluster_ref = cluster.object_ref(&());
    let step = match &action {
        RollAction::Restart { pod, reason } => {
            tracing::info!(cluster = %valid.name, %pod, %reason, "restarting a pod");
            match pod_api.delete(pod, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(source) => {
                    return Err(RollError::DeletePod {
                        pod: pod.clone(),
                        source,
                    })
                }
            }
            crate::events::publish_distinct(
                client,
                &cluster_ref,
                false,
                "RollingRestart",
                "Restart",
                format!("restarting pod {pod}: {reason}"),
            )
            .await;
            backoff.succeeded(&backoff_key);
            roll.current_pod = Some(pod.clone());
            roll.blocked_reason = None;
            roll.restarted = roll.restarted.saturating_add(1);
            roll.pending_pods = pending;
            status.set_rolling(
                true,
                "Restarting",
                format!("restarting pod {pod}: {reason}"),
                generation,
            );
            RollStep {
                action: action.clone(),
                requeue: Some(REQUEUE_ROLLING),
            }
        }
        RollAction::Wait { reason } => {
            roll.blocked_reason = None;
            roll.pending_pods = pending;
            status.set_rolling(true, "Waiting", reason.clone(), generation);
            RollStep {
                action: action.clone(),
                requeue: Some(REQUEUE_ROLLING),
            }
        }
        RollAction::Blocked { reason } => {
            if roll.blocked_reason.as_deref() != Some(reason) {
                crate::events::publish_distinct(
                    client,
                    &cluster_ref,
                    true,
                    "RollBlocked",
                    "Restart",
                    reason.clone(),
                )
                .await;
            }
            roll.blocked_reason = Some(reason.clone());
            roll.pending_pods = pending;
            status.set_rolling(true, "RollBlocked", reason.clone(), generation);
            RollStep {
                action: action.clone(),
                requeue: Some(backoff.failed(&backoff_key).min(REQUEUE_BLOCKED_MAX)),
            }
        }
        RollAction::Done => {
            backoff.succeeded(&backoff_key);
            if status.roll.is_some() {
                crate::events::publish_distinct(
                    client,
                    &cluster_ref,
                    false,
                    "RollComplete",
                    "Restart",
                    format!(
                        "every pod runs its current template ({} restarted)",
                        roll.restarted
                    ),
                )
                .await;
            }
            status.set_rolling(
                false,
                "UpToDate",
                "every pod runs its current template",
                generation,
            );
            status.roll = None;
            return Ok(RollStep {
                action,
                requeue: None,
            });
        }
    };
    status.roll = Some(roll);
    Ok(step)
}

impl KafkaClusterStatus {
    fn set_rolling(
        &mut self,
        value: bool,
        reason: &str,
        message: impl Into<String>,
        generation: Option<i64>,
    ) {
        conditions::set_condition(
            &mut self.conditions,
            conditions::condition(ROLLING, value, reason, message, generation),
        );
    }
}
