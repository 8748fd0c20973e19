//! `controller`: what every controller's reconcile shares — the object's `namespace/name`
//! key, a pass timed and counted in the metrics with its backoff reset on success, the
//! error policy (retry with a per-object exponential backoff), the results logged and the status written with
//! server-side apply under the operator's field manager; [`ControllerContext`], what the
//! Topic, User and Connector controllers share (for the first two, the cluster's bootstrap
//! address); [`Reconciled`] and [`reconcile`], their one pass: a namespaced object's apply
//! or cleanup inside its finalizer.

use std::future::Future;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, finalizer, Event};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backoff::Backoff;
use crate::cluster::names::FIELD_MANAGER;
use crate::crd::conditions::{self, PAUSED};
use crate::crd::status::ResourceStatus;
use crate::crd::KafkaCluster;
use crate::kafka_admin::{AdminEndpoint, AdminError};
use crate::metrics::Metrics;

/// A reconcile failure's kind, as the failures metric names it.
pub trait FailureReason {
    fn reason(&self) -> &'static str;
}

/// Why a pass of a [`Reconciled`] object failed (the controller retries it).
#[derive(Debug, thiserror::Error)]
pub enum PassError<E: std::error::Error + 'static> {
    #[error("the {0} has no namespace")]
    NoNamespace(String),
    /// The apply or the cleanup failed (`E`), or adding or removing the finalizer did.
    #[error("finalizer: {0}")]
    Finalizer(Box<finalizer::Error<E>>),
}

impl<E: FailureReason + std::error::Error> FailureReason for PassError<E> {
    fn reason(&self) -> &'static str {
        match self {
            PassError::NoNamespace(_) => "NoNamespace",
            // what failed inside the finalizer, not the finalizer
            PassError::Finalizer(inner) => match inner.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.reason(),
                _ => "Finalizer",
            },
        }
    }
}

/// A namespaced resource whose controller brings it to its spec ([`Reconciled::apply`])
/// and, through finalizer [`Reconciled::FINALIZER`], undoes that when it is deleted
/// ([`Reconciled::cleanup`]).
pub trait Reconciled:
    Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// Why an apply or a cleanup failed.
    type Error: FailureReason + std::error::Error + Send + 'static;
    /// The controller's name in the metrics (`topic`).
    const CONTROLLER: &'static str;
    /// The finalizer added before anything is applied.
    const FINALIZER: &'static str;

    /// Brings the object in `namespace` to its spec.
    fn apply(
        &self,
        context: &ControllerContext,
        namespace: &str,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
    /// The object is being deleted: undo what [`Reconciled::apply`] did.
    fn cleanup(
        &self,
        context: &ControllerContext,
        namespace: &str,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}

/// Why an apply or a cleanup of a resource kept in a Kafka cluster (a Topic, a User)
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaResourceError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Admin(#[from] AdminError),
    /// The cleanup cannot reach the cluster; `blocked` says what waits for it.
    #[error("KafkaCluster {cluster} has no bootstrap address yet: {blocked}")]
    ClusterNotReady {
        cluster: String,
        blocked: &'static str,
    },
    /// A TLS User's certificate could not be issued.
    #[error("issuing the user's certificate: {0}")]
    Certificate(String),
    /// The operator's own certificate for a cluster with authorization is missing or
    /// unusable.
    #[error("the operator's client certificate: {0}")]
    OperatorIdentity(String),
}

impl FailureReason for KafkaResourceError {
    fn reason(&self) -> &'static str {
        match self {
            KafkaResourceError::Kube(_) => "Kube",
            KafkaResourceError::Admin(_) => "Kafka",
            KafkaResourceError::ClusterNotReady { .. } => "ClusterNotReady",
            KafkaResourceError::Certificate(_) => "Certificate",
            KafkaResourceError::OperatorIdentity(_) => "OperatorIdentity",
        }
    }
}

/// Runs `controller` until `shutdown` completes, each pass [`reconcile`] and each failure
/// retried by [`error_policy`].
pub async fn run<K: Reconciled>(
    controller: kube::runtime::Controller<K>,
    context: Arc<ControllerContext>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let results =
        controller
            .graceful_shutdown_on(shutdown)
            .run(reconcile::<K>, error_policy, context);
    log_results(results, &K::kind(&())).await;
}

/// One pass for `object`, inside its finalizer, timed and counted.
pub async fn reconcile<K: Reconciled>(
    object: Arc<K>,
    context: Arc<ControllerContext>,
) -> Result<Action, PassError<K::Error>> {
    timed(
        K::CONTROLLER,
        &context.metrics,
        &context.backoff,
        &*object,
        in_finalizer(Arc::clone(&object), &context),
    )
    .await
}

async fn in_finalizer<K: Reconciled>(
    object: Arc<K>,
    context: &ControllerContext,
) -> Result<Action, PassError<K::Error>> {
    let namespace = object
        .namespace()
        .ok_or_else(|| PassError::NoNamespace(K::kind(&()).into_owned()))?;
    let api: Api<K> = Api::namespaced(context.client.clone(), &namespace);
    finalizer(&api, K::FINALIZER, object, |event| async {
        match event {
            Event::Apply(object) => object.apply(context, &namespace).await,
            Event::Cleanup(object) => object.cleanup(context, &namespace).await,
        }
    })
    .await
    .map_err(|e| PassError::Finalizer(Box::new(e)))
}

/// Sets the Paused condition of `object`'s `status` from its `ironlog.dev/paused`
/// annotation; whether the object is paused (then its controller changes nothing else).
pub fn note_paused<K: Resource>(object: &K, status: &mut impl ResourceStatus) -> bool {
    let generation = object.meta().generation;
    let paused = conditions::is_paused(object.meta().annotations.as_ref());
    if paused {
        status.set_condition(
            PAUSED,
            true,
            "Annotated",
            format!("paused by the {} annotation", conditions::PAUSED_ANNOTATION),
            generation,
        );
    } else {
        status.set_condition(PAUSED, false, "NotPaused", "", generation);
    }
    paused
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
pub async fn log_results<S, T, E>(results: S, kind: &str)
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
    /// Each KafkaCluster's last look at its partition sizes, for their bytes-in.
    pub bytes_in: crate::balance::bytes_in::BytesInObserver,
    /// Each KafkaCluster's brokers' supported metadata versions, asked after a roll.
    pub metadata_versions: crate::cluster::metadata_version::RangesSeen,
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
            bytes_in: Default::default(),
            metadata_versions: Default::default(),
        })
    }

    /// Where the operator's admin calls go for KafkaCluster `cluster` in `namespace` (or
    /// the override): its brokers' REPLICATION listener as the KafkaCluster's status names
    /// it, over TLS with the operator's certificate (`<cluster>-operator-cert`) when the
    /// cluster has authorization; `None` while the status names no address.
    pub async fn bootstrap(
        &self,
        namespace: &str,
        cluster: &str,
    ) -> Result<Option<AdminEndpoint>, KafkaResourceError> {
        if let Some(bootstrap) = &self.bootstrap_override {
            return Ok(Some(AdminEndpoint::plaintext(bootstrap.clone())));
        }
        let clusters: Api<KafkaCluster> = Api::namespaced(self.client.clone(), namespace);
        let Some(found) = clusters.get_opt(cluster).await? else {
            return Ok(None);
        };
        let authorization = found.spec.authorization.is_some();
        // the operator's own listener on the brokers (client listeners may demand TLS,
        // SASL or certificates the admin client does not bring); a status written before
        // it was recorded names the client bootstrap only
        let Some(bootstrap) = found
            .status
            .and_then(|s| s.operator_bootstrap_servers.or(s.bootstrap_servers))
        else {
            return Ok(None);
        };
        if !authorization {
            return Ok(Some(AdminEndpoint::plaintext(bootstrap)));
        }
        let secret_name = crate::cluster::names::operator_cert(cluster);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets.get_opt(&secret_name).await?.ok_or_else(|| {
            KafkaResourceError::OperatorIdentity(format!(
                "Secret {secret_name} does not exist yet (the KafkaCluster's reconcile makes it)"
            ))
        })?;
        let tls = crate::cluster::tls::operator_tls(&secret).map_err(|e| {
            KafkaResourceError::OperatorIdentity(format!("Secret {secret_name}: {e}"))
        })?;
        Ok(Some(AdminEndpoint {
            bootstrap,
            tls: Some(tls),
        }))
    }

    /// Publishes an Event about `object` (best effort, see [`crate::events::publish`]).
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        crate::events::publish(
            &self.recorder,
            &object.object_ref(&()),
            warning,
            reason,
            action,
            note,
        )
        .await;
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
