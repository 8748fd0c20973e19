//! `controller`: what every controller's reconcile shares — the object's `namespace/name`
//! key, a pass timed and counted in the metrics with its backoff reset on success, the
//! error policy (retry with a per-object exponential backoff) and the status written with
//! server-side apply under the operator's field manager.

use std::future::Future;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::Serialize;

use crate::backoff::Backoff;
use crate::cluster::names::FIELD_MANAGER;
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

/// A failed reconcile: retry, backing off exponentially while the same object keeps
/// failing.
pub fn retry<K>(object: &K, error: &dyn std::fmt::Display, backoff: &Backoff) -> Action
where
    K: Resource,
    K::DynamicType: Default,
{
    let key = key(object);
    let delay = backoff.failed(&key);
    tracing::warn!(object = %key, kind = K::kind(&Default::default()).as_ref(), error = %error, delay_ms = delay.as_millis() as u64, "retrying");
    Action::requeue(delay)
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
