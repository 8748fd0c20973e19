//! `reconcile`: one Topic brought to its spec through the Kafka admin protocol. The
//! pipeline:
//!
//! 1. the finalizer (`ironlog.dev/topic`) is added first, so deleting the resource deletes
//!    the Kafka topic ([`cleanup`]);
//! 2. paused → `Paused`; `ironlog.dev/unmanaged: "true"` → the topic is left alone (and kept
//!    when the resource goes);
//! 3. ownership: of several Topics naming one Kafka topic of one cluster, the oldest manages
//!    it and the others get `ResourceConflict` and touch nothing;
//! 4. configs checked with the broker's topic config table → `InvalidSpec`;
//! 5. the cluster's bootstrap address (the KafkaCluster's status, or the operator's
//!    override), the topic described, [`plan`]ned and changed (CreateTopics,
//!    CreatePartitions, IncrementalAlterConfigs);
//! 6. status: `Ready` (or `NotSupported` when the spec asks what Kafka cannot do), the topic
//!    id, `observedGeneration`.
//!
//! Topics created outside Kubernetes are never listed, so never touched.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};

use crate::controller::{write_status, KafkaResourceError, Reconciled};
use crate::crd::conditions::{self, DEGRADED, READY};
use crate::crd::topic::UNMANAGED_ANNOTATION;
use crate::crd::{Topic, TopicStatus};
use crate::kafka_admin::{AdminEndpoint, AdminError, KafkaAdmin};

use super::plan::{invalid_configs, plan, TopicPlan};

/// The finalizer that deletes the Kafka topic with the resource.
pub const FINALIZER: &str = "ironlog.dev/topic";
/// How often a topic in sync is checked again (drift made outside Kubernetes).
pub const REQUEUE_IN_SYNC: Duration = Duration::from_secs(300);
/// How soon a topic waiting for its cluster, or refused by it, is tried again.
pub const REQUEUE_WAITING: Duration = Duration::from_secs(10);

/// What the Topic controller's reconciles share.
pub type TopicContext = crate::controller::ControllerContext;

/// Runs the Topic controller until `shutdown` completes.
pub async fn run(
    client: Client,
    namespace: Option<String>,
    bootstrap_override: Option<String>,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let topics: Api<Topic> = crate::controller::scoped(&client, namespace.as_deref());
    let context = TopicContext::new(client, bootstrap_override, metrics);
    let controller = Controller::new(topics, watcher::Config::default());
    context.metrics.observe_topics(controller.store());
    crate::controller::run(controller, context, shutdown).await;
}

impl Reconciled for Topic {
    type Error = KafkaResourceError;
    const CONTROLLER: &'static str = "topic";
    const FINALIZER: &'static str = FINALIZER;

    async fn apply(
        &self,
        context: &TopicContext,
        namespace: &str,
    ) -> Result<Action, KafkaResourceError> {
        apply(self, context, namespace).await
    }
    async fn cleanup(
        &self,
        context: &TopicContext,
        namespace: &str,
    ) -> Result<Action, KafkaResourceError> {
        cleanup(self, context, namespace).await
    }
}

/// The Kafka topic's name: `spec.topicName`, else `metadata.name`.
pub fn kafka_topic_name(topic: &Topic) -> String {
    topic
        .spec
        .topic_name
        .clone()
        .unwrap_or_else(|| topic.name_any())
}

fn is_unmanaged(topic: &Topic) -> bool {
    topic
        .annotations()
        .get(UNMANAGED_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// The Topic that manages `topic`'s Kafka topic, when it is another one. Among the Topics
/// naming the same Kafka topic of the same cluster, one that already manages it (its status
/// names the topic) keeps it; else the oldest (creation time, then name: creation times
/// have one-second resolution) takes it.
async fn managed_by_another(
    api: &Api<Topic>,
    topic: &Topic,
) -> Result<Option<String>, KafkaResourceError> {
    let name = kafka_topic_name(topic);
    let all = api.list(&ListParams::default()).await?;
    let claimants: Vec<&Topic> = all
        .items
        .iter()
        .filter(|t| t.spec.cluster_ref == topic.spec.cluster_ref && kafka_topic_name(t) == name)
        .collect();
    Ok(owner(&claimants, &name)
        .filter(|owner| owner.uid() != topic.uid())
        .map(|owner| owner.name_any()))
}

/// The Topic among `claimants` that manages Kafka topic `name` (see `managed_by_another`).
fn owner<'a>(claimants: &[&'a Topic], name: &str) -> Option<&'a Topic> {
    let manages = |t: &Topic| {
        t.status
            .as_ref()
            .is_some_and(|s| s.topic_name.as_deref() == Some(name))
    };
    claimants.iter().copied().min_by(|a, b| {
        let key = |t: &Topic| {
            (
                !manages(t),
                t.meta().creation_timestamp.as_ref().map(|c| c.0),
                t.name_any(),
            )
        };
        key(a).cmp(&key(b))
    })
}

/// The bootstrap address of the topic's cluster, or `None` while it has none.
async fn bootstrap(
    context: &TopicContext,
    namespace: &str,
    topic: &Topic,
) -> Result<Option<AdminEndpoint>, KafkaResourceError> {
    context
        .bootstrap(namespace, &topic.spec.cluster_ref.name)
        .await
}

async fn apply(
    topic: &Topic,
    context: &TopicContext,
    namespace: &str,
) -> Result<Action, KafkaResourceError> {
    let api: Api<Topic> = Api::namespaced(context.client.clone(), namespace);
    let generation = topic.meta().generation;
    let mut status = topic.status.clone().unwrap_or_default();
    let set =
        |status: &mut TopicStatus, type_: &str, value: bool, reason: &str, message: String| {
            conditions::set_condition(
                &mut status.conditions,
                conditions::condition(type_, value, reason, message, generation),
            )
        };

    if crate::controller::note_paused(topic, &mut status) {
        write_status(&api, topic, &status).await?;
        return Ok(Action::await_change());
    }
    let name = kafka_topic_name(topic);

    if is_unmanaged(topic) {
        set(
            &mut status,
            READY,
            true,
            "Unmanaged",
            format!("the {UNMANAGED_ANNOTATION} annotation leaves Kafka topic {name} alone"),
        );
        status.observed_generation = generation;
        write_status(&api, topic, &status).await?;
        return Ok(Action::await_change());
    }
    if let Some(owner) = managed_by_another(&api, topic).await? {
        let message = format!(
            "Kafka topic {name} of cluster {} is managed by the older Topic {owner}",
            topic.spec.cluster_ref.name
        );
        context
            .publish(
                topic,
                true,
                "ResourceConflict",
                "Reconcile",
                message.clone(),
            )
            .await;
        set(&mut status, READY, false, "ResourceConflict", message);
        status.observed_generation = generation;
        write_status(&api, topic, &status).await?;
        // the owner may go: look again
        return Ok(Action::requeue(REQUEUE_WAITING));
    }
    let invalid = invalid_configs(&topic.spec);
    if !invalid.is_empty() {
        let message = invalid.join("; ");
        context
            .publish(topic, true, "InvalidSpec", "Validate", message.clone())
            .await;
        set(&mut status, DEGRADED, true, "InvalidSpec", message.clone());
        set(&mut status, READY, false, "InvalidSpec", message);
        status.observed_generation = generation;
        write_status(&api, topic, &status).await?;
        return Ok(Action::await_change());
    }
    let Some(bootstrap) = bootstrap(context, namespace, topic).await? else {
        set(
            &mut status,
            READY,
            false,
            "ClusterNotReady",
            format!(
                "KafkaCluster {} has no bootstrap address yet",
                topic.spec.cluster_ref.name
            ),
        );
        status.observed_generation = generation;
        write_status(&api, topic, &status).await?;
        return Ok(Action::requeue(REQUEUE_WAITING));
    };

    let admin = KafkaAdmin::new(&bootstrap)?;
    match converge(&admin, topic, &name).await {
        Ok((described, steps)) => {
            publish_steps(context, topic, &name, &steps).await;
            let not_supported = steps.not_supported;
            set(&mut status, DEGRADED, false, "InSync", String::new());
            if not_supported.is_empty() {
                set(
                    &mut status,
                    READY,
                    true,
                    "InSync",
                    format!("Kafka topic {name} matches the spec"),
                );
            } else {
                set(
                    &mut status,
                    READY,
                    false,
                    "NotSupported",
                    not_supported.join("; "),
                );
            }
            status.topic_name = Some(name);
            status.topic_id = described;
            status.observed_generation = generation;
            write_status(&api, topic, &status).await?;
            Ok(Action::requeue(REQUEUE_IN_SYNC))
        }
        Err(error) => {
            // the cluster refused (a bad replication factor, a config it rejects) or could
            // not be reached: say so, and try again
            let reason = error.condition_reason();
            set(&mut status, READY, false, &reason, error.to_string());
            status.observed_generation = generation;
            write_status(&api, topic, &status).await?;
            Ok(Action::requeue(REQUEUE_WAITING))
        }
    }
}

/// Describes, plans and changes the topic; returns its id and what could not be done.
async fn converge(
    admin: &KafkaAdmin,
    topic: &Topic,
    name: &str,
) -> Result<(Option<String>, TopicPlan), AdminError> {
    let described = admin.describe_topic(name).await?;
    let configs = match &described {
        Some(_) => admin.topic_configs(name).await?,
        None => Default::default(),
    };
    let steps = plan(&topic.spec, described.as_ref(), &configs);
    if steps.create {
        tracing::info!(
            topic = name,
            partitions = topic.spec.partitions,
            "creating the Kafka topic"
        );
        admin
            .create_topic(
                name,
                topic.spec.partitions,
                topic.spec.replication_factor,
                &topic.spec.config,
            )
            .await?;
    }
    if let Some(count) = steps.grow_partitions_to {
        tracing::info!(topic = name, count, "adding partitions");
        admin.create_partitions(name, count).await?;
    }
    if !steps.set_configs.is_empty() || !steps.delete_configs.is_empty() {
        tracing::info!(topic = name, set = ?steps.set_configs.keys(), delete = ?steps.delete_configs, "changing topic configs");
        admin
            .alter_topic_configs(name, &steps.set_configs, &steps.delete_configs)
            .await?;
    }
    let id = if steps.changes_anything() {
        admin.describe_topic(name).await?.map(|t| t.topic_id)
    } else {
        described.map(|t| t.topic_id)
    };
    Ok((id, steps))
}

/// The Events of what `steps` did (and could not do) to Kafka topic `name`.
async fn publish_steps(context: &TopicContext, topic: &Topic, name: &str, steps: &TopicPlan) {
    let mut events: Vec<(bool, &str, String)> = Vec::new();
    if steps.create {
        events.push((
            false,
            "TopicCreated",
            format!(
                "created Kafka topic {name} with {} partitions",
                topic.spec.partitions
            ),
        ));
    }
    if let Some(count) = steps.grow_partitions_to {
        events.push((
            false,
            "PartitionsAdded",
            format!("Kafka topic {name} grown to {count} partitions"),
        ));
    }
    if !steps.create && (!steps.set_configs.is_empty() || !steps.delete_configs.is_empty()) {
        let set: Vec<&String> = steps.set_configs.keys().collect();
        events.push((
            false,
            "ConfigsChanged",
            format!("set {set:?}, removed {:?}", steps.delete_configs),
        ));
    }
    if !steps.not_supported.is_empty() {
        events.push((true, "NotSupported", steps.not_supported.join("; ")));
    }
    for (warning, reason, note) in events {
        context
            .publish(topic, warning, reason, "Reconcile", note)
            .await;
    }
}

/// The resource is being deleted: delete the Kafka topic, unless it is unmanaged, managed
/// by another Topic, or its cluster is gone.
async fn cleanup(
    topic: &Topic,
    context: &TopicContext,
    namespace: &str,
) -> Result<Action, KafkaResourceError> {
    let api: Api<Topic> = Api::namespaced(context.client.clone(), namespace);
    let name = kafka_topic_name(topic);
    if is_unmanaged(topic) {
        tracing::info!(topic = %name, "unmanaged: the Kafka topic stays");
        return Ok(Action::await_change());
    }
    if let Some(owner) = managed_by_another(&api, topic).await? {
        tracing::info!(topic = %name, %owner, "managed by another Topic: the Kafka topic stays");
        return Ok(Action::await_change());
    }
    if context
        .cluster_gone(namespace, &topic.spec.cluster_ref.name)
        .await?
    {
        tracing::info!(topic = %name, cluster = %topic.spec.cluster_ref.name, "the cluster is gone, and its topics with it");
        return Ok(Action::await_change());
    }
    let Some(bootstrap) = bootstrap(context, namespace, topic).await? else {
        return Err(KafkaResourceError::ClusterNotReady {
            cluster: topic.spec.cluster_ref.name.clone(),
            blocked: "the topic cannot be deleted",
        });
    };
    tracing::info!(topic = %name, "deleting the Kafka topic");
    KafkaAdmin::new(&bootstrap)?.delete_topic(&name).await?;
    context
        .publish(
            topic,
            false,
            "TopicDeleted",
            "Delete",
            format!("deleted Kafka topic {name} with the resource"),
        )
        .await;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ClusterRef, TopicSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn claimant(name: &str, created_s: i64, manages: bool) -> Topic {
        let mut t = Topic::new(
            name,
            TopicSpec {
                cluster_ref: ClusterRef {
                    name: "c".to_string(),
                },
                topic_name: Some("shared".to_string()),
                partitions: 1,
                replication_factor: None,
                config: Default::default(),
            },
        );
        t.metadata.uid = Some(format!("uid-{name}"));
        t.metadata.creation_timestamp = Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(created_s).expect("a timestamp"),
        ));
        if manages {
            t.status = Some(TopicStatus {
                topic_name: Some("shared".to_string()),
                ..TopicStatus::default()
            });
        }
        t
    }

    #[test]
    fn the_oldest_claimant_owns_a_topic_nobody_manages_yet() {
        let (a, b) = (
            claimant("b-older", 100, false),
            claimant("a-newer", 200, false),
        );
        assert_eq!(
            owner(&[&b, &a], "shared").map(|t| t.name_any()),
            Some("b-older".into())
        );
    }

    #[test]
    fn in_the_same_second_the_name_decides() {
        let (a, b) = (claimant("alpha", 100, false), claimant("beta", 100, false));
        assert_eq!(
            owner(&[&b, &a], "shared").map(|t| t.name_any()),
            Some("alpha".into())
        );
    }

    #[test]
    fn the_topic_that_manages_it_keeps_it_whatever_the_age() {
        let (old, managing) = (claimant("old", 100, false), claimant("managing", 200, true));
        assert_eq!(
            owner(&[&old, &managing], "shared").map(|t| t.name_any()),
            Some("managing".into()),
            "ownership must not move to an older resource that never managed the topic"
        );
    }
}
