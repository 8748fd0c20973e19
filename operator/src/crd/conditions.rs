//! Status conditions shared by every custom resource: Kubernetes' standard `Condition`
//! (`metav1.Condition`), the condition types and reasons the operator writes, and
//! [`set_condition`], which keeps a condition's `lastTransitionTime` while its status stays
//! the same (so a status write that changes nothing really changes nothing).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The resource is what its spec asks for (`kubectl wait --for=condition=Ready`).
pub const READY: &str = "Ready";
/// The operator is still converging the resource (pods starting, a change under way).
pub const PROGRESSING: &str = "Progressing";
/// The resource is not what its spec asks for, and the reason needs a person (a refused
/// spec, a failed apply).
pub const DEGRADED: &str = "Degraded";
/// Reconciliation is paused by the `ironlog.dev/paused: "true"` annotation.
pub const PAUSED: &str = "Paused";

/// The annotation that pauses reconciliation of a resource while it is `"true"`.
pub const PAUSED_ANNOTATION: &str = "ironlog.dev/paused";

/// `"True"` / `"False"`, as conditions spell them.
pub fn status_word(value: bool) -> String {
    if value { "True" } else { "False" }.to_string()
}

/// A condition of `type_` observed at `generation`, transitioning now.
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: status_word(status),
        reason: reason.to_string(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(Timestamp::now()),
    }
}

/// Puts `new` into `conditions`, replacing the condition of the same type. Its
/// `lastTransitionTime` stays the old one when the status did not change.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            *old = new;
        }
        None => conditions.push(new),
    }
}

/// The condition of `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the resource's `ironlog.dev/paused` annotation is `"true"`.
pub fn is_paused(annotations: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    annotations
        .and_then(|a| a.get(PAUSED_ANNOTATION))
        .is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_status_keeps_its_transition_time() {
        let mut conditions = Vec::new();
        let first = condition(READY, false, "Starting", "pods starting", Some(1));
        let first_time = first.last_transition_time.clone();
        set_condition(&mut conditions, first);
        std::thread::sleep(std::time::Duration::from_millis(2));
        set_condition(
            &mut conditions,
            condition(READY, false, "Starting", "2 of 3 pods ready", Some(2)),
        );
        assert_eq!(conditions.len(), 1, "one condition per type");
        assert_eq!(
            conditions[0].last_transition_time, first_time,
            "the status stayed False: the transition time must not move"
        );
        assert_eq!(conditions[0].message, "2 of 3 pods ready");
        assert_eq!(conditions[0].observed_generation, Some(2));

        set_condition(
            &mut conditions,
            condition(READY, true, "Ready", "ready", Some(2)),
        );
        assert_ne!(
            conditions[0].last_transition_time, first_time,
            "False → True is a transition: its time must be the new one"
        );
    }
}
