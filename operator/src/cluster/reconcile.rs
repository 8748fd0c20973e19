//! `reconcile`: one KafkaCluster brought to its spec. The pipeline, each step a function:
//!
//! 1. paused (`ironlog.dev/paused: "true"`)? → status `Paused`, nothing applied;
//! 2. [`validate`] (pure) — a refused spec → `Degraded` (`InvalidSpec`, every problem named),
//!    nothing applied, so nothing is half-applied;
//! 3. [`build`] (pure) — every desired object, a broker pool being scaled in held at its
//!    running size until the brokers that go hold no replicas (`balance::scale_in`);
//! 4. [`apply_all`] — server-side apply under one field manager, in `build`'s order (config
//!    and Services before StatefulSets);
//! 5. [`delete_orphans`] — objects with the cluster's labels that the spec no longer wants
//!    (a removed pool's StatefulSet);
//! 6. [`observe`] + [`write_status`] — ready nodes from the StatefulSets, `Ready` /
//!    `Progressing` / `Degraded`, `observedGeneration`, the bootstrap address; once a node
//!    is ready, the brokers' own view (`health`) feeds the cluster gauges, and, with no
//!    scale-in under way, registered brokers that no pool has, without a pod and holding nothing (a scale-in's
//!    record of them lost), are unregistered (`balance::stale`);
//! 7. day 2 (`roll`): the spec's cluster-wide dynamic broker configs applied without a
//!    restart, then one step of a rolling restart of the pods whose template changed (or
//!    that are annotated for one), reported in `status.roll` and the `Rolling` condition;
//! 8. the metadata version (`metadata_version`): `status.metadataVersion` from the brokers,
//!    and `spec.metadataVersion` finalized (UpdateFeatures) once no roll is pending or
//!    under way and every broker is ready, registered and supports it;
//! 9. the balancer (`balance::executor`), once no roll is under way: one step of evening
//!    out replicas and leaders, or of draining the brokers a scale-in removes
//!    (`status.balance`, the `Balancing` and `ScaleIn` conditions); no roll starts while
//!    its moves are in flight.
//!
//! The controller is woken by changes to the KafkaCluster, to the objects it owns, and to
//! its pods (by their cluster label).
//!
//! Deleting a KafkaCluster needs no code here: every object has an owner reference to it
//! and Kubernetes' garbage collector removes them. API errors are returned to the
//! controller, which retries with backoff (`controller::error_policy`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::crd::conditions::{self, DEGRADED, PAUSED, PROGRESSING, READY};
use crate::crd::kafka_cluster::{KafkaClusterStatus, ListenerStatus};
use crate::crd::KafkaCluster;
use crate::kafka_admin::AdminEndpoint;

use super::build::{build, Desired, DesiredObjects};
use super::names;
use super::roll::plan::RollAction;
use super::validate::{validate, ValidCluster};

/// How soon a cluster whose nodes are not all ready is looked at again (owned objects'
/// changes wake it sooner).
pub const REQUEUE_NOT_READY: Duration = Duration::from_secs(10);
/// How often a ready cluster is looked at again, changes or not (its gauges are as old as
/// this at most).
pub const REQUEUE_READY: Duration = Duration::from_secs(60);

/// What the controller's reconciles share.
pub type Context = crate::controller::ControllerContext;

/// Why a reconcile failed (the controller retries it).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("the KafkaCluster has no namespace")]
    NoNamespace,
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error("deleting orphaned {kind} {name}: {source}")]
    DeleteOrphan {
        kind: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error("listing {kind}: {source}")]
    List {
        kind: &'static str,
        source: kube::Error,
    },
    #[error("writing the status: {0}")]
    Status(kube::Error),
    #[error("reading the KafkaCluster: {0}")]
    Read(kube::Error),
    #[error("rolling restart: {0}")]
    Roll(#[from] super::roll::execute::RollError),
    #[error("making the cluster's certificates: {0}")]
    Certificates(super::certs::CertError),
    #[error("scale-in: {0}")]
    ScaleIn(#[from] crate::balance::scale_in::ScaleInError),
}

impl crate::controller::FailureReason for ReconcileError {
    fn reason(&self) -> &'static str {
        match self {
            ReconcileError::NoNamespace => "NoNamespace",
            ReconcileError::Apply { .. } => "Apply",
            ReconcileError::DeleteOrphan { .. } => "DeleteOrphan",
            ReconcileError::List { .. } => "List",
            ReconcileError::Status(_) => "Status",
            ReconcileError::Read(_) => "Read",
            ReconcileError::Roll(_) => "Roll",
            ReconcileError::Certificates(_) => "Certificates",
            ReconcileError::ScaleIn(_) => "ScaleIn",
        }
    }
}

/// Runs the KafkaCluster controller until `shutdown` completes: every KafkaCluster of
/// `namespace` (all namespaces when `None`), woken by changes to it and to the objects it
/// owns.
pub async fn run(
    client: Client,
    namespace: Option<String>,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let clusters: Api<KafkaCluster> = crate::controller::scoped(&client, namespace.as_deref());
    let owned = watcher::Config::default().labels(&format!(
        "{}={}",
        names::LABEL_MANAGED_BY,
        names::MANAGED_BY
    ));
    let context = Context::new(client.clone(), None, metrics);
    let controller = Controller::new(clusters, watcher::Config::default());
    context.metrics.observe_clusters(controller.store());
    let results = controller
        .owns(
            crate::controller::scoped::<StatefulSet>(&client, namespace.as_deref()),
            owned.clone(),
        )
        .owns(
            crate::controller::scoped::<Service>(&client, namespace.as_deref()),
            owned.clone(),
        )
        .owns(
            crate::controller::scoped::<ConfigMap>(&client, namespace.as_deref()),
            owned.clone(),
        )
        // pods belong to the StatefulSets; their cluster label names the KafkaCluster (a
        // roll goes on when a pod is ready again, or annotated for a restart)
        .watches(
            crate::controller::scoped::<Pod>(&client, namespace.as_deref()),
            owned,
            |pod| {
                let cluster = pod.labels().get(names::LABEL_CLUSTER)?.clone();
                let namespace = pod.namespace()?;
                Some(ObjectRef::<KafkaCluster>::new(&cluster).within(&namespace))
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, crate::controller::error_policy, context);
    crate::controller::log_results(results, "KafkaCluster").await;
}

/// One pass of the pipeline for `cluster`, timed and counted.
pub async fn reconcile(
    cluster: Arc<KafkaCluster>,
    context: Arc<Context>,
) -> Result<Action, ReconcileError> {
    crate::controller::timed(
        "kafkacluster",
        &context.metrics,
        &context.backoff,
        &*cluster,
        reconcile_cluster(Arc::clone(&cluster), &context),
    )
    .await
}

async fn reconcile_cluster(
    cluster: Arc<KafkaCluster>,
    context: &Context,
) -> Result<Action, ReconcileError> {
    let namespace = cluster.namespace().ok_or(ReconcileError::NoNamespace)?;
    let client = &context.client;
    if cluster.meta().deletion_timestamp.is_some() {
        // owner references take the objects along
        context
            .metrics
            .forget_cluster(&namespace, &cluster.name_any());
        context
            .bytes_in
            .forget(&crate::controller::key(cluster.as_ref()));
        return Ok(Action::await_change());
    }
    // The status is a record of state machines (roll, balance, scale-in) that go on from
    // what the last pass wrote. The watch cache may not hold that write yet — an owned
    // pod's event can start this pass first — and going on from an older status would
    // lose a step (e.g. take the balancer's own moves for someone else's). So the pass
    // works on the object as the API server has it now.
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), &namespace);
    let cluster = match api
        .get_opt(&cluster.name_any())
        .await
        .map_err(ReconcileError::Read)?
    {
        Some(fresh) => Arc::new(fresh),
        None => return Ok(Action::await_change()),
    };
    let generation = cluster.meta().generation;
    let mut status = cluster.status.clone().unwrap_or_default();

    if conditions::is_paused(cluster.meta().annotations.as_ref()) {
        conditions::set_condition(
            &mut status.conditions,
            conditions::condition(
                PAUSED,
                true,
                "Annotated",
                format!(
                    "reconciliation is paused by the {} annotation",
                    conditions::PAUSED_ANNOTATION
                ),
                generation,
            ),
        );
        write_status(client, &cluster, &namespace, status).await?;
        return Ok(Action::await_change());
    }
    conditions::set_condition(
        &mut status.conditions,
        conditions::condition(PAUSED, false, "NotPaused", "", generation),
    );

    let valid = match validate(&cluster) {
        Ok(valid) => valid,
        Err(errors) => {
            let message = errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            tracing::info!(cluster = %cluster.name_any(), %message, "spec refused");
            crate::events::publish(
                &context.recorder,
                &cluster.object_ref(&()),
                true,
                "InvalidSpec",
                "Validate",
                format!("nothing applied: {message}"),
            )
            .await;
            for (type_, value) in [(DEGRADED, true), (READY, false), (PROGRESSING, false)] {
                conditions::set_condition(
                    &mut status.conditions,
                    conditions::condition(type_, value, "InvalidSpec", message.clone(), generation),
                );
            }
            status.observed_generation = generation;
            write_status(client, &cluster, &namespace, status).await?;
            return Ok(Action::await_change());
        }
    };

    // a broker pool made smaller keeps its pods until the brokers that go are drained
    let sizes = crate::balance::scale_in::sizes(context, &cluster, valid, &mut status).await?;
    let valid = sizes.valid;
    let scale_in_requeue = sizes.requeue;
    let scale_in_settled = sizes.settled;
    let desired = build(&valid);
    let mut operator_tls = None;
    let applied = match super::tls::ensure(client, &valid).await {
        Ok(certificates) => {
            operator_tls = certificates.operator_tls.clone();
            for change in &certificates.changes {
                crate::events::publish(
                    &context.recorder,
                    &cluster.object_ref(&()),
                    false,
                    "CertificateIssued",
                    "Apply",
                    change.clone(),
                )
                .await;
            }
            apply_all(client, &namespace, &desired).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = applied {
        conditions::set_condition(
            &mut status.conditions,
            conditions::condition(DEGRADED, true, "ApplyFailed", e.to_string(), generation),
        );
        crate::events::publish(
            &context.recorder,
            &cluster.object_ref(&()),
            true,
            "ApplyFailed",
            "Apply",
            e.to_string(),
        )
        .await;
        // the status write is best effort here: the apply error is what is retried
        let _ = write_status(client, &cluster, &namespace, status).await;
        return Err(e);
    }
    if status.observed_generation != generation {
        crate::events::publish(
            &context.recorder,
            &cluster.object_ref(&()),
            false,
            "Applied",
            "Apply",
            format!(
                "generation {}: {} StatefulSet(s), {} Service(s), the ConfigMap, PodDisruptionBudget and ServiceAccount applied",
                generation.unwrap_or_default(),
                desired.stateful_sets.len(),
                desired.services.len()
            ),
        )
        .await;
    }
    let deleted = delete_orphans(client, &namespace, &valid, &desired).await?;
    for (kind, name) in deleted {
        crate::events::publish(
            &context.recorder,
            &cluster.object_ref(&()),
            false,
            "OrphanDeleted",
            "Delete",
            format!("{kind} {name} is no longer in the spec"),
        )
        .await;
    }

    let observed = observe(client, &namespace, &valid).await?;
    let ready = observed.ready == observed.total;
    let summary = format!("{} of {} nodes ready", observed.ready, observed.total);
    conditions::set_condition(
        &mut status.conditions,
        conditions::condition(DEGRADED, false, "Applied", "", generation),
    );
    conditions::set_condition(
        &mut status.conditions,
        conditions::condition(
            READY,
            ready,
            if ready { "NodesReady" } else { "NodesNotReady" },
            summary.clone(),
            generation,
        ),
    );
    conditions::set_condition(
        &mut status.conditions,
        conditions::condition(
            PROGRESSING,
            !ready,
            if ready { "Converged" } else { "NodesStarting" },
            summary,
            generation,
        ),
    );
    status.observed_generation = generation;
    status.brokers = Some(format!("{}/{}", observed.ready, observed.total));
    status.cluster_id = Some(valid.cluster_id.clone());
    status.listeners = valid
        .listeners
        .iter()
        .map(|l| ListenerStatus {
            name: l.name.clone(),
            bootstrap_servers: valid.bootstrap_servers(l),
        })
        .collect();
    status.bootstrap_servers = status
        .listeners
        .first()
        .map(|l| l.bootstrap_servers.clone());
    status.operator_bootstrap_servers = Some(valid.operator_bootstrap_servers());
    // the operator's own way in: the REPLICATION listener (with its certificate when the
    // cluster has authorization), whatever the client listeners demand
    let reachable = Some(AdminEndpoint {
        bootstrap: valid.operator_bootstrap_servers(),
        tls: operator_tls,
    })
    .filter(|e| !e.bootstrap.is_empty())
    .filter(|_| observed.ready > 0);
    if let Some(endpoint) = reachable.as_ref() {
        // the gauges: best effort, a cluster that does not answer keeps its last values
        match super::health::probe(endpoint).await {
            Ok(health) => {
                context
                    .metrics
                    .set_cluster_health(&namespace, &cluster.name_any(), health)
            }
            Err(e) => {
                tracing::info!(cluster = %cluster.name_any(), error = %e, "the brokers' health is unknown")
            }
        }
    }
    let mut requeue = if ready {
        REQUEUE_READY
    } else {
        REQUEUE_NOT_READY
    };
    // brokers that left the cluster are still to be unregistered
    if let Some(scale_in) = scale_in_requeue {
        requeue = requeue.min(scale_in);
    }
    // a scale-in whose record of the brokers that left was lost: unregister them anyway
    if let Some(endpoint) = reachable.as_ref().filter(|_| scale_in_settled) {
        crate::balance::stale::unregister_stale(context, &cluster, &valid, endpoint, &status).await;
    }
    if let Some(bootstrap) = reachable.as_ref() {
        if !apply_dynamic_config(context, &cluster, &valid, bootstrap, &mut status).await {
            requeue = requeue.min(REQUEUE_NOT_READY);
        }
    }
    // no roll while the balancer's moves are in flight: a restarted broker would stall them
    let balancing = crate::balance::executor::moves_in_flight(&status);
    let mut roll_action = None;
    if !balancing {
        let rolled = super::roll::execute::step(
            client,
            &context.backoff,
            &cluster,
            &namespace,
            &valid,
            reachable.as_ref(),
            &mut status,
        )
        .await;
        match rolled {
            Ok(step) => {
                if let Some(roll) = step.requeue {
                    requeue = requeue.min(roll);
                }
                roll_action = Some(step.action);
            }
            Err(e) => {
                // the status write is best effort here: the roll's error is what is retried
                let _ = write_status(client, &cluster, &namespace, status).await;
                return Err(e.into());
            }
        }
    }
    // the metadata version after the roll: raised only once no roll is pending or under way
    if let Some(endpoint) = reachable.as_ref() {
        let nodes = super::metadata_version::NodesView {
            roll_unsettled: roll_unsettled(roll_action.as_ref()),
            ready: observed.ready,
            total: observed.total,
        };
        if let Some(again) =
            super::metadata_version::step(context, &cluster, &valid, endpoint, nodes, &mut status)
                .await
        {
            requeue = requeue.min(again);
        }
    }
    // the balancer after the roll, never during one
    if let Some(endpoint) = reachable.as_ref().filter(|_| status.roll.is_none()) {
        if let Some(balance) = crate::balance::executor::step(
            context,
            &cluster,
            endpoint,
            ready,
            &sizes.drain,
            &mut status,
        )
        .await
        {
            requeue = requeue.min(balance);
        }
    }
    write_status(client, &cluster, &namespace, status).await?;
    Ok(Action::requeue(requeue))
}

/// Why the roll is not settled, from this pass's roll step (`None`: not run, because the
/// balancer's moves are in flight); `None` when every pod runs its current template.
fn roll_unsettled(action: Option<&RollAction>) -> Option<String> {
    match action {
        None => Some("the balancer's moves are in flight (a roll waits behind them)".to_string()),
        Some(RollAction::Done) => None,
        Some(RollAction::Restart { pod, .. }) => Some(format!("pod {pod} is being restarted")),
        Some(RollAction::Wait { reason } | RollAction::Blocked { reason }) => Some(reason.clone()),
    }
}

/// Keeps the cluster-wide dynamic broker defaults equal to the spec (no restart); false
/// when the brokers could not be brought there (looked at again soon).
async fn apply_dynamic_config(
    context: &Context,
    cluster: &KafkaCluster,
    valid: &ValidCluster,
    bootstrap: &AdminEndpoint,
    status: &mut KafkaClusterStatus,
) -> bool {
    let desired = super::build::dynamic_config(valid);
    match super::roll::dynamic::apply(bootstrap, &desired, &status.dynamic_config_keys).await {
        Ok(change) => {
            if !change.is_empty() {
                let mut keys: Vec<String> = change.set.keys().cloned().collect();
                keys.extend(change.delete.iter().map(|k| format!("{k} (removed)")));
                crate::events::publish_distinct(
                    &context.client,
                    &cluster.object_ref(&()),
                    false,
                    "DynamicConfigApplied",
                    "Configure",
                    format!(
                        "cluster-wide broker configs changed without a restart: {}",
                        keys.join(", ")
                    ),
                )
                .await;
            }
            status.dynamic_config_keys = desired.into_keys().collect();
            true
        }
        Err(e) => {
            tracing::info!(cluster = %cluster.name_any(), error = %e, "the dynamic broker configs are not applied yet");
            crate::events::publish(
                &context.recorder,
                &cluster.object_ref(&()),
                true,
                "DynamicConfigFailed",
                "Configure",
                e.to_string(),
            )
            .await;
            false
        }
    }
}

/// Server-side applies every desired object, in order, under the operator's field manager
/// (forcing: the operator owns these fields).
pub async fn apply_all(
    client: &Client,
    namespace: &str,
    desired: &DesiredObjects,
) -> Result<(), ReconcileError> {
    for object in desired.in_apply_order() {
        match object {
            Desired::ServiceAccount(o) => apply(client, namespace, o, "ServiceAccount").await?,
            Desired::ConfigMap(o) => apply(client, namespace, o, "ConfigMap").await?,
            Desired::Service(o) => apply(client, namespace, o, "Service").await?,
            Desired::PodDisruptionBudget(o) => {
                apply(client, namespace, o, "PodDisruptionBudget").await?
            }
            Desired::StatefulSet(o) => apply(client, namespace, o, "StatefulSet").await?,
        }
    }
    Ok(())
}

async fn apply<K>(
    client: &Client,
    namespace: &str,
    object: &K,
    kind: &'static str,
) -> Result<(), ReconcileError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.patch(
        &name,
        &PatchParams::apply(names::FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|source| ReconcileError::Apply { kind, name, source })?;
    Ok(())
}

/// Deletes the cluster's objects (by its labels) that `desired` does not name; returns the
/// kind and name of each one deleted.
pub async fn delete_orphans(
    client: &Client,
    namespace: &str,
    cluster: &ValidCluster,
    desired: &DesiredObjects,
) -> Result<Vec<(&'static str, String)>, ReconcileError> {
    let mut deleted = Vec::new();
    let name_of = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.name.clone().unwrap_or_default()
    };
    let stateful_sets: Vec<String> = desired
        .stateful_sets
        .iter()
        .map(|o| name_of(&o.metadata))
        .collect();
    let services: Vec<String> = desired
        .services
        .iter()
        .map(|o| name_of(&o.metadata))
        .collect();
    let selector = names::owned_selector(&cluster.name);
    deleted.extend(
        delete_unwanted::<StatefulSet>(client, namespace, &selector, &stateful_sets, "StatefulSet")
            .await?,
    );
    deleted.extend(
        delete_unwanted::<Service>(client, namespace, &selector, &services, "Service").await?,
    );
    deleted.extend(
        delete_unwanted::<ConfigMap>(
            client,
            namespace,
            &selector,
            &[name_of(&desired.config_map.metadata)],
            "ConfigMap",
        )
        .await?,
    );
    deleted.extend(
        delete_unwanted::<PodDisruptionBudget>(
            client,
            namespace,
            &selector,
            &[name_of(&desired.pod_disruption_budget.metadata)],
            "PodDisruptionBudget",
        )
        .await?,
    );
    deleted.extend(
        delete_unwanted::<ServiceAccount>(
            client,
            namespace,
            &selector,
            &[name_of(&desired.service_account.metadata)],
            "ServiceAccount",
        )
        .await?,
    );
    Ok(deleted)
}

async fn delete_unwanted<K>(
    client: &Client,
    namespace: &str,
    selector: &str,
    wanted: &[String],
    kind: &'static str,
) -> Result<Vec<(&'static str, String)>, ReconcileError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let mut deleted = Vec::new();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let existing = api
        .list_metadata(&ListParams::default().labels(selector))
        .await
        .map_err(|source| ReconcileError::List { kind, source })?;
    for object in existing {
        let name = object.metadata.name.clone().unwrap_or_default();
        if wanted.contains(&name) || object.metadata.deletion_timestamp.is_some() {
            continue;
        }
        tracing::info!(kind, %name, "deleting an object the spec no longer wants");
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => deleted.push((kind, name)),
            // gone meanwhile: what we wanted
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => return Err(ReconcileError::DeleteOrphan { kind, name, source }),
        }
    }
    Ok(deleted)
}

/// Ready and wanted nodes over every pool's StatefulSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservedNodes {
    pub ready: i32,
    pub total: i32,
}

/// The ready nodes: a StatefulSet's `readyReplicas`, counted only once its status describes
/// its current spec (`observedGeneration`).
pub async fn observe(
    client: &Client,
    namespace: &str,
    cluster: &ValidCluster,
) -> Result<ObservedNodes, ReconcileError> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let mut observed = ObservedNodes { ready: 0, total: 0 };
    for pool in &cluster.spec.node_pools {
        observed.total += pool.replicas;
        let name = names::stateful_set(&cluster.name, &pool.name);
        let sts = api
            .get_opt(&name)
            .await
            .map_err(|source| ReconcileError::List {
                kind: "StatefulSet",
                source,
            })?;
        let Some(sts) = sts else { continue };
        let Some(status) = sts.status else { continue };
        if status.observed_generation == sts.metadata.generation {
            observed.ready += status.ready_replicas.unwrap_or(0).min(pool.replicas);
        }
    }
    Ok(observed)
}

/// Writes `status` through the status subresource (server-side apply, the operator's field
/// manager).
async fn write_status(
    client: &Client,
    cluster: &KafkaCluster,
    namespace: &str,
    status: KafkaClusterStatus,
) -> Result<(), ReconcileError> {
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), namespace);
    crate::controller::write_status(&api, cluster, &status)
        .await
        .map_err(ReconcileError::Status)
}

/// The condition of `type_` in a status, for tests and tools.
pub fn condition<'a>(status: &'a KafkaClusterStatus, type_: &str) -> Option<&'a Condition> {
    conditions::find(&status.conditions, type_)
}
