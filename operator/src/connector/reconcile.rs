//! `reconcile`: one Connector brought to its spec through its Connect cluster's REST API.
//! The pipeline:
//!
//! 1. the finalizer (`ironlog.dev/connector`) is added first, so deleting the resource
//!    deletes the connector from the Connect cluster ([`cleanup`]);
//! 2. paused → `Paused`;
//! 3. the REST URL (`spec.connectCluster.url`, or the Service's cluster DNS name);
//! 4. the config: written (`PUT .../config`) only when Connect's differs — a PUT restarts
//!    the connector — and a config Connect refuses (400) is `InvalidConfig`, nothing else
//!    done;
//! 5. restarts asked for by a new `ironlog.dev/restart` / `ironlog.dev/restart-task` value;
//! 6. the target state (`pause`, `resume`, `stop`) and the status: the connector's and
//!    tasks' states, `Ready` when they are where the spec wants them, `Degraded` when one
//!    failed.
//!
//! A Connect worker that cannot be reached is reported (`ConnectUnreachable`) and retried
//! with the controller's exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};

use crate::connect_rest::{ConnectClient, ConnectError};
use crate::controller::{write_status, ControllerContext, FailureReason, Reconciled};
use crate::crd::conditions::{DEGRADED, PROGRESSING, READY};
use crate::crd::connector::{RESTART_ANNOTATION, RESTART_TASK_ANNOTATION};
use crate::crd::status::ResourceStatus;
use crate::crd::{Connector, ConnectorStatus};

use super::plan::{self, Readiness};

/// The finalizer that deletes the connector from its Connect cluster with the resource.
pub const FINALIZER: &str = "ironlog.dev/connector";
/// How often a connector in its target state is checked again (tasks fail later).
pub const REQUEUE_IN_SYNC: Duration = Duration::from_secs(60);
/// How soon a connector on its way to its target state is looked at again.
pub const REQUEUE_CONVERGING: Duration = Duration::from_secs(3);
/// How soon a failed connector or a refused config is looked at again.
pub const REQUEUE_FAILED: Duration = Duration::from_secs(30);

/// Why an apply or a cleanup failed (the controller retries it with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Connect(#[from] ConnectError),
}

impl FailureReason for ConnectorError {
    fn reason(&self) -> &'static str {
        match self {
            ConnectorError::Kube(_) => "Kube",
            ConnectorError::Connect(_) => "Connect",
        }
    }
}

/// Runs the Connector controller until `shutdown` completes.
pub async fn run(
    client: Client,
    namespace: Option<String>,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let connectors: Api<Connector> = crate::controller::scoped(&client, namespace.as_deref());
    let context = ControllerContext::new(client, None, metrics);
    let controller = Controller::new(connectors, watcher::Config::default());
    crate::controller::run(controller, context, shutdown).await;
}

impl Reconciled for Connector {
    type Error = ConnectorError;
    const CONTROLLER: &'static str = "connector";
    const FINALIZER: &'static str = FINALIZER;

    async fn apply(
        &self,
        context: &ControllerContext,
        namespace: &str,
    ) -> Result<Action, ConnectorError> {
        let api: Api<Connector> = Api::namespaced(context.client.clone(), namespace);
        apply(self, context, namespace, &api).await
    }
    async fn cleanup(
        &self,
        _context: &ControllerContext,
        namespace: &str,
    ) -> Result<Action, ConnectorError> {
        cleanup(self, namespace).await
    }
}

/// The Connect cluster's REST URL: `url`, or `http://<service>.<namespace>.svc:<port>`.
pub fn rest_url(connector: &Connector, namespace: &str) -> String {
    let cluster = &connector.spec.connect_cluster;
    match (&cluster.url, &cluster.service) {
        (Some(url), _) => url.clone(),
        (None, Some(service)) => {
            format!("http://{}.{namespace}.svc:{}", service.name, service.port)
        }
        // the schema requires one of them
        (None, None) => String::new(),
    }
}

async fn apply(
    connector: &Connector,
    context: &ControllerContext,
    namespace: &str,
    api: &Api<Connector>,
) -> Result<Action, ConnectorError> {
    let generation = connector.meta().generation;
    let mut status = connector.status.clone().unwrap_or_default();
    status.set_observed_generation(generation);
    if crate::controller::note_paused(connector, &mut status) {
        write_status(api, connector, &status).await?;
        return Ok(Action::await_change());
    }
    let client = match ConnectClient::new(&rest_url(connector, namespace)) {
        Ok(client) => client,
        Err(e) => {
            status.set_condition(DEGRADED, true, "InvalidSpec", e.to_string(), generation);
            status.set_condition(READY, false, "InvalidSpec", e.to_string(), generation);
            write_status(api, connector, &status).await?;
            return Ok(Action::await_change());
        }
    };
    match converge(connector, context, &client, &mut status).await {
        Ok(action) => {
            write_status(api, connector, &status).await?;
            Ok(action)
        }
        Err(ConnectError::Refused {
            status: 400,
            message,
            ..
        }) => {
            let message = format!("Connect refused the config: {message}");
            context
                .publish(
                    connector,
                    true,
                    "InvalidConfig",
                    "Configure",
                    message.clone(),
                )
                .await;
            status.set_condition(DEGRADED, true, "InvalidConfig", message.clone(), generation);
            status.set_condition(READY, false, "InvalidConfig", message, generation);
            status.set_condition(PROGRESSING, false, "InvalidConfig", "", generation);
            write_status(api, connector, &status).await?;
            Ok(Action::requeue(REQUEUE_FAILED))
        }
        Err(error) => {
            // unreachable, or busy (409 while the workers rebalance): say so, back off
            let reason = match error {
                ConnectError::Unreachable { .. } => "ConnectUnreachable",
                _ => "ConnectRefused",
            };
            status.set_condition(PROGRESSING, true, reason, error.to_string(), generation);
            status.set_condition(READY, false, reason, error.to_string(), generation);
            write_status(api, connector, &status).await?;
            Err(error.into())
        }
    }
}

/// The config, the restarts, the target state; fills `status` with what Connect reports.
async fn converge(
    connector: &Connector,
    context: &ControllerContext,
    client: &ConnectClient,
    status: &mut ConnectorStatus,
) -> Result<Action, ConnectError> {
    let name = connector.name_any();
    let generation = connector.meta().generation;
    let publish = |reason: &'static str, note: String| {
        context.publish(connector, false, reason, "Reconcile", note)
    };
    let desired = plan::desired_config(&connector.spec, &name);
    let current = client.config(&name).await?;
    if current.as_ref() != Some(&desired) {
        tracing::info!(connector = %name, url = client.url(), "writing the connector's config");
        client.put_config(&name, &desired).await?;
        let what = if current.is_none() {
            "created"
        } else {
            "config changed"
        };
        publish(
            "ConnectorConfigured",
            format!("connector {name} {what} on {}", client.url()),
        )
        .await;
    }
    let annotations = connector.annotations();
    let restart = annotations.get(RESTART_ANNOTATION);
    if plan::restart_requested(restart, status.last_restart.as_ref()) {
        tracing::info!(connector = %name, "restarting the connector and its tasks");
        client.restart(&name).await?;
        status.last_restart = restart.cloned();
        publish(
            "ConnectorRestarted",
            format!("restarted connector {name} and its tasks"),
        )
        .await;
    }
    let restart_task = annotations.get(RESTART_TASK_ANNOTATION);
    if plan::restart_requested(restart_task, status.last_task_restart.as_ref()) {
        if let Some(task) = restart_task.and_then(|v| plan::restart_task_id(v)) {
            client.restart_task(&name, task).await?;
            publish(
                "TaskRestarted",
                format!("restarted task {task} of connector {name}"),
            )
            .await;
        }
        status.last_task_restart = restart_task.cloned();
    }
    let Some(observed) = client.status(&name).await? else {
        status.set_condition(
            PROGRESSING,
            true,
            "Creating",
            "Connect has not started the connector yet",
            generation,
        );
        status.set_condition(
            READY,
            false,
            "Creating",
            "Connect has not started the connector yet",
            generation,
        );
        return Ok(Action::requeue(REQUEUE_CONVERGING));
    };
    let target = connector.spec.state;
    if let Some(action) = plan::transition(target, &observed.connector.state) {
        tracing::info!(connector = %name, action, "changing the connector's state");
        client.transition(&name, action).await?;
        publish(
            "ConnectorStateChanged",
            format!("{action} connector {name}"),
        )
        .await;
    }
    status.connector_state = Some(observed.connector.state.clone());
    status.worker_id = observed.connector.worker_id.clone();
    status.tasks = plan::task_statuses(&observed);
    Ok(match plan::readiness(target, &observed) {
        Readiness::Ready => {
            let message = format!("connector {name} is {}", plan::target_word(target));
            status.set_condition(DEGRADED, false, "InSync", "", generation);
            status.set_condition(PROGRESSING, false, "InSync", "", generation);
            status.set_condition(READY, true, "InSync", message, generation);
            Action::requeue(REQUEUE_IN_SYNC)
        }
        Readiness::Converging(message) => {
            status.set_condition(PROGRESSING, true, "Converging", message.clone(), generation);
            status.set_condition(READY, false, "Converging", message, generation);
            Action::requeue(REQUEUE_CONVERGING)
        }
        Readiness::Failed(message) => {
            status.set_condition(DEGRADED, true, "Failed", message.clone(), generation);
            status.set_condition(PROGRESSING, false, "Failed", "", generation);
            status.set_condition(READY, false, "Failed", message, generation);
            Action::requeue(REQUEUE_FAILED)
        }
    })
}

/// The resource is being deleted: delete the connector from its Connect cluster (a worker
/// that cannot be reached is retried with backoff).
async fn cleanup(connector: &Connector, namespace: &str) -> Result<Action, ConnectorError> {
    let name = connector.name_any();
    let client = match ConnectClient::new(&rest_url(connector, namespace)) {
        Ok(client) => client,
        // nothing was ever created through a URL that is not one
        Err(_) => return Ok(Action::await_change()),
    };
    tracing::info!(connector = %name, url = client.url(), "deleting the connector");
    client.delete(&name).await?;
    Ok(Action::await_change())
}
