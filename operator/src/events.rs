//! `events`: Kubernetes Events that say what the operator did and why (`kubectl describe`
//! shows them). Best effort: an Event that cannot be written is logged, never a reason to
//! fail a reconcile. The recorder folds repeats of one event into a series.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Client;

/// The reporting controller Events name.
pub const REPORTER: &str = "ironlog-operator";

/// A recorder for the operator's Events.
pub fn recorder(client: Client) -> Recorder {
    Recorder::new(client, Reporter::from(REPORTER))
}

/// Publishes a `Normal` (or, with `warning`, a `Warning`) Event about `regarding`.
pub async fn publish(
    recorder: &Recorder,
    regarding: &ObjectReference,
    warning: bool,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        // the API server refuses notes over 1 kB
        note: Some(note.chars().take(1000).collect()),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, regarding).await {
        tracing::warn!(reason, error = %e, "cannot write an Event");
    }
}

/// Publishes an Event that is never folded into an earlier one's series: for Events whose
/// note is the news (which pod a roll restarted, which configs changed), since a series
/// keeps its first note. Best effort, as [`publish`].
pub async fn publish_distinct(
    client: &Client,
    regarding: &ObjectReference,
    warning: bool,
    reason: &str,
    action: &str,
    note: String,
) {
    // a recorder of its own: nothing cached to fold into
    publish(
        &recorder(client.clone()),
        regarding,
        warning,
        reason,
        action,
        note,
    )
    .await;
}
