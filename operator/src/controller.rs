//! `controller`: what every controller's reconcile shares — the object's `namespace/name`
//! key, a pass timed and counted in the metrics with its backoff reset on success, the
//! error policy (retry with a per-object exponential backoff), the results logged and the status written with
//! server-side apply under the operator's field manager; [`ControllerContext`], what the
//! Topic, User and Connector controllers share (for the first two, the cluster's bootstrap
//! address).

use std::future::Future;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::Serialize;

use crate::backoff::Backoff;
use crate::cluster::names::FIELD_MANAGER;
use crate::crd::KafkaCluster;
use crate::metrics::Metrics;

/// A reconcile failure's kind, as the failures metric names it.
pub trait FailureReason {
    fn reason(&self) -> &'static str;
}

/// `namespace/name` of `object`.
pub fn key<K: ResourceExt>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// Runs one reconcile `pass` of `object` for `controller`: timed, counted (with the
/// failure's reason) and, when it succeeds, the object's backoff reset.
pub async fn timed<K, E>(
    controller: &'static str,
    metrics: &Arc<Metrics>,
    backoff: &Backoff,
    object: &K,
    pass: impl Future<Output = Result<Action, E>>,
) -> Result<Action, E>
where
    K: ResourceExt,
    E: FailureReason,
{
    let timer = metrics.start(controller);
    let key = key(object);
    let result = pass.await;
    if result.is_ok() {
        backoff.succeeded(&key);
    }
    timer.done(result.as_ref().err().map(FailureReason::reason));
    result
}

/// The error policy of every controller: retry, backing off exponentially while the same
/// object keeps failing.
pub fn error_policy<K, E>(object: Arc<K>, error: &E, context: Arc<ControllerContext>) -> Action
where
    K: Resource,
    K::DynamicType: Default,
    E: std::fmt::Display,
{
    let key = key(&*object);
    let delay = context.backoff.failed(&key);
    tracing::warn!(object = %key, kind = K::kind(&Default::default()).as_ref(), error = %error, delay_ms = delay.as_millis() as u64, "retrying");
    Action::requeue(delay)
}

/// Drains a controller's results, logging each (what a running controller is awaited on).
pub async fn log_results<S, T, E>(results: S, kind: &'static str)
where
    S: futures::Stream<Item = Result<T, E>>,
    T: std::fmt::Debug,
    E: std::fmt::Display,
{
    use futures::StreamExt;
    results
        .for_each(|result| async move {
            match result {
                Ok(reconciled) => tracing::debug!(kind, ?reconciled, "reconciled"),
                Err(e) => tracing::warn!(kind, error = %e, "reconcile failed"),
            }
        })
        .await;
}

/// Writes `status` as `object`'s whole status (server-side apply, the operator's field
/// manager: fields it no longer sets go).
pub async fn write_status<K>(
    api: &Api<K>,
    object: &K,
    status: &impl Serialize,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let types = Default::default();
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&types),
        "kind": K::kind(&types),
        "status": status,
    });
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// What the Topic, User and Connector controllers' reconciles share (the first two reach
/// their cluster's brokers through it).
pub struct ControllerContext {
    pub client: kube::Client,
    pub recorder: kube::runtime::events::Recorder,
    pub metrics: Arc<Metrics>,
    /// Use this bootstrap address for every cluster instead of the KafkaCluster's status
    /// (an operator running outside the Kubernetes cluster, tests).
    pub bootstrap_override: Option<String>,
    pub backoff: Backoff,
}

impl ControllerContext {
    pub fn new(
        client: kube::Client,
        bootstrap_override: Option<String>,
        metrics: Arc<Metrics>,
    ) -> Arc<ControllerContext> {
        Arc::new(ControllerContext {
            recorder: crate::events::recorder(client.clone()),
            client,
            bootstrap_override,
            metrics,
            backoff: Backoff::default(),
        })
    }

    /// The bootstrap address of KafkaCluster `cluster` in `namespace` (or the override),
    /// `None` while it has none.
    pub async fn bootstrap(
        &self,
        namespace: &str,
        cluster: &str,
    ) -> Result<Option<String>, kube::Error> {
        if let Some(bootstrap) = &self.bootstrap_override {
            return Ok(Some(bootstrap.clone()));
        }
        let clusters: Api<KafkaCluster> = Api::namespaced(self.client.clone(), namespace);
        Ok(clusters
            .get_opt(cluster)
            .await?
            .and_then(|c| c.status)
            .and_then(|s| s.bootstrap_servers))
    }

    /// Whether KafkaCluster `cluster` is gone (so are its topics, users, ACLs: a resource's
    /// cleanup has nothing left to do). Never with a bootstrap override.
    pub async fn cluster_gone(&self, namespace: &str, cluster: &str) -> Result<bool, kube::Error> {
        if self.bootstrap_override.is_some() {
            return Ok(false);
        }
        let clusters: Api<KafkaCluster> = Api::namespaced(self.client.clone(), namespace);
        Ok(clusters.get_opt(cluster).await?.is_none())
    }
}

/// The `Api` of `K` in `namespace`, or in every namespace.
pub fn scoped<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}
