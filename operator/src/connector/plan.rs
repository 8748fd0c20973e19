//! `plan`: what a Connector's spec means on a Connect cluster — pure, from the spec, its
//! annotations and what the REST API reports.

use std::collections::BTreeMap;

use crate::connect_rest::ConnectorStateInfo;
use crate::crd::connector::{ConnectorTargetState, TaskStatus};
use crate::crd::ConnectorSpec;

/// The longest task trace kept in the status.
pub const TRACE_CHARS_MAX: usize = 1000;

/// The config Connect should hold for connector `name`: the spec's, with `connector.class`,
/// `tasks.max` and `name` from the class, tasksMax and metadata.name fields.
pub fn desired_config(spec: &ConnectorSpec, name: &str) -> BTreeMap<String, String> {
    let mut config = spec.config.clone();
    config.insert("connector.class".to_string(), spec.class.clone());
    if let Some(tasks) = spec.tasks_max {
        config.insert("tasks.max".to_string(), tasks.to_string());
    }
    config.insert("name".to_string(), name.to_string());
    config
}

/// The REST action (`pause`, `resume`, `stop`) that moves a connector in `state` towards
/// `target`; `None` when it is there (or on its way: Connect moves tasks after the connector).
pub fn transition(target: ConnectorTargetState, state: &str) -> Option<&'static str> {
    match (target, state) {
        (ConnectorTargetState::Running, "PAUSED" | "STOPPED") => Some("resume"),
        (ConnectorTargetState::Paused, s) if s != "PAUSED" => Some("pause"),
        (ConnectorTargetState::Stopped, s) if s != "STOPPED" => Some("stop"),
        _ => None,
    }
}

/// The state Connect reports for a connector that reached `target`.
pub fn target_word(target: ConnectorTargetState) -> &'static str {
    match target {
        ConnectorTargetState::Running => "RUNNING",
        ConnectorTargetState::Paused => "PAUSED",
        ConnectorTargetState::Stopped => "STOPPED",
    }
}

/// Whether an annotation's value asks for a restart not yet done.
pub fn restart_requested(annotation: Option<&String>, last: Option<&String>) -> bool {
    annotation.is_some_and(|a| !a.is_empty() && Some(a) != last)
}

/// The task id of an `ironlog.dev/restart-task` value (`3`, or `3:<anything>`).
pub fn restart_task_id(value: &str) -> Option<i32> {
    value.split(':').next()?.trim().parse().ok()
}

/// How far the connector is from its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// In the target state with every task running (or, paused / stopped, the connector
    /// itself there).
    Ready,
    /// On its way (just created, rebalancing, restarting).
    Converging(String),
    /// The connector or a task failed.
    Failed(String),
}

/// Readiness of what Connect reports against `target`.
pub fn readiness(target: ConnectorTargetState, observed: &ConnectorStateInfo) -> Readiness {
    let state = observed.connector.state.as_str();
    if state == "FAILED" {
        let trace = observed.connector.trace.as_deref().unwrap_or("");
        return Readiness::Failed(format!("the connector failed: {}", first_line(trace)));
    }
    let failed: Vec<String> = observed
        .tasks
        .iter()
        .filter(|t| t.state == "FAILED")
        .map(|t| {
            format!(
                "task {} failed: {}",
                t.id,
                first_line(t.trace.as_deref().unwrap_or(""))
            )
        })
        .collect();
    if !failed.is_empty() {
        return Readiness::Failed(failed.join("; "));
    }
    let want = target_word(target);
    if state != want {
        return Readiness::Converging(format!("the connector is {state}, not yet {want}"));
    }
    if target == ConnectorTargetState::Running {
        if observed.tasks.is_empty() {
            return Readiness::Converging("no task is assigned yet".to_string());
        }
        if let Some(t) = observed.tasks.iter().find(|t| t.state != "RUNNING") {
            return Readiness::Converging(format!("task {} is {}", t.id, t.state));
        }
    }
    Readiness::Ready
}

fn first_line(trace: &str) -> &str {
    trace.lines().next().unwrap_or("")
}

/// The tasks as the status shows them (traces cut to [`TRACE_CHARS_MAX`]).
pub fn task_statuses(observed: &ConnectorStateInfo) -> Vec<TaskStatus> {
    observed
        .tasks
        .iter()
        .map(|t| TaskStatus {
            id: t.id,
            state: t.state.clone(),
            worker_id: t.worker_id.clone(),
            trace: t
                .trace
                .as_ref()
                .map(|tr| tr.chars().take(TRACE_CHARS_MAX).collect()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect_rest::{StateInfo, TaskStateInfo};
    use crate::crd::connector::ConnectCluster;

    fn observed(state: &str, tasks: &[&str]) -> ConnectorStateInfo {
        ConnectorStateInfo {
            connector: StateInfo {
                state: state.to_string(),
                worker_id: Some("w".to_string()),
                trace: None,
            },
            tasks: tasks
                .iter()
                .enumerate()
                .map(|(i, s)| TaskStateInfo {
                    id: i as i32,
                    state: s.to_string(),
                    worker_id: None,
                    trace: (*s == "FAILED").then(|| "java.lang.Boom: no\n\tat x".to_string()),
                })
                .collect(),
        }
    }

    #[test]
    fn the_config_carries_class_tasks_and_name() {
        let spec = ConnectorSpec {
            connect_cluster: ConnectCluster {
                url: Some("http://c:8083".into()),
                service: None,
            },
            class: "FileStreamSource".into(),
            tasks_max: Some(2),
            config: BTreeMap::from([("file".to_string(), "/in".to_string())]),
            state: ConnectorTargetState::Running,
        };
        let config = desired_config(&spec, "fs");
        assert_eq!(config["connector.class"], "FileStreamSource");
        assert_eq!(config["tasks.max"], "2");
        assert_eq!(config["name"], "fs");
        assert_eq!(config["file"], "/in");
    }

    #[test]
    fn transitions_move_towards_the_target() {
        use ConnectorTargetState::*;
        assert_eq!(transition(Running, "PAUSED"), Some("resume"));
        assert_eq!(transition(Running, "STOPPED"), Some("resume"));
        assert_eq!(transition(Running, "RUNNING"), None);
        assert_eq!(transition(Running, "UNASSIGNED"), None);
        assert_eq!(transition(Paused, "RUNNING"), Some("pause"));
        assert_eq!(transition(Paused, "PAUSED"), None);
        assert_eq!(transition(Stopped, "PAUSED"), Some("stop"));
    }

    #[test]
    fn readiness_needs_every_task_running_and_names_failures() {
        use ConnectorTargetState::*;
        assert_eq!(
            readiness(Running, &observed("RUNNING", &["RUNNING"])),
            Readiness::Ready
        );
        assert!(matches!(
            readiness(Running, &observed("RUNNING", &[])),
            Readiness::Converging(_)
        ));
        assert_eq!(
            readiness(Running, &observed("RUNNING", &["RUNNING", "FAILED"])),
            Readiness::Failed("task 1 failed: java.lang.Boom: no".to_string())
        );
        assert_eq!(
            readiness(Paused, &observed("PAUSED", &["PAUSED"])),
            Readiness::Ready
        );
        assert!(matches!(
            readiness(Paused, &observed("RUNNING", &["RUNNING"])),
            Readiness::Converging(_)
        ));
    }

    #[test]
    fn restarts_happen_once_per_annotation_value() {
        let v = |s: &str| Some(s.to_string());
        assert!(restart_requested(v("1").as_ref(), None));
        assert!(!restart_requested(v("1").as_ref(), v("1").as_ref()));
        assert!(restart_requested(v("2").as_ref(), v("1").as_ref()));
        assert!(!restart_requested(None, None));
        assert_eq!(restart_task_id("3"), Some(3));
        assert_eq!(restart_task_id("3:again"), Some(3));
        assert_eq!(restart_task_id("x"), None);
    }
}
