//! `Connector` (`ironlog.dev/v1alpha1`): a Kafka Connect connector, reconciled through the
//! Connect cluster's REST API.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Restarts the connector (and its failed tasks) once when set to a new value.
pub const RESTART_ANNOTATION: &str = "ironlog.dev/restart";
/// Restarts one task once when set to a new value `<task id>` or `<task id>:<anything>` (so
/// the same task can be restarted again).
pub const RESTART_TASK_ANNOTATION: &str = "ironlog.dev/restart-task";

/// A Kafka Connect connector.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ironlog.dev",
    doc = "A Kafka Connect connector.",
    version = "v1alpha1",
    kind = "Connector",
    plural = "connectors",
    shortname = "kcn",
    namespaced,
    status = "ConnectorStatus",
    printcolumn = r#"{"name":"Class","type":"string","jsonPath":".spec.class","priority":1}"#,
    printcolumn = r#"{"name":"Tasks","type":"integer","jsonPath":".spec.tasksMax"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.connectorState"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorSpec {
    /// The Connect cluster that runs the connector.
    pub connect_cluster: ConnectCluster,
    /// The connector class (`org.apache.kafka.connect.file.FileStreamSourceConnector`).
    #[schemars(length(min = 1, max = 1024))]
    pub class: String,
    /// `tasks.max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub tasks_max: Option<i32>,
    /// The connector's config under Connect's names (besides `connector.class` and
    /// `tasks.max`, which the fields above set).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "!('connector.class' in self) && !('tasks.max' in self) && !('name' in self)", "message": "connector.class, tasks.max and name are set by the class and tasksMax fields and metadata.name"},
    ]))]
    pub config: BTreeMap<String, String>,
    /// The state the connector should be in.
    #[serde(default)]
    pub state: ConnectorTargetState,
}

/// A Connect cluster's REST API: a URL, or a Service in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.url) != has(self.service)", "message": "set exactly one of url and service"},
]))]
pub struct ConnectCluster {
    /// The REST API's base URL (`http://connect:8083`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://"))]
    pub url: Option<String>,
    /// A Service whose port serves the REST API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceRef>,
}

/// A Service port in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

/// Connect's target states.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorTargetState {
    #[default]
    Running,
    Paused,
    Stopped,
}

super::status::resource_status! {
    /// What the operator observed and did.
    pub struct ConnectorStatus {
        /// The connector's state as Connect reports it (`RUNNING`, `PAUSED`, `FAILED`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub connector_state: Option<String>,
        /// The worker running the connector.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub worker_id: Option<String>,
        /// The connector's tasks as Connect reports them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
        pub tasks: Vec<TaskStatus>,
        /// The `ironlog.dev/restart` annotation value last acted on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_restart: Option<String>,
        /// The `ironlog.dev/restart-task` annotation value last acted on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_task_restart: Option<String>,
    }
}

/// One task of the connector.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub id: i32,
    /// `RUNNING`, `PAUSED`, `FAILED`, ...
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// The start of a failed task's stack trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}
