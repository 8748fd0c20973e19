//! The Topic controller against a real API server and a real broker (started by the test
//! kit, outside Kubernetes: the operator reaches it through its bootstrap override). What
//! the operator did is checked with another client (librdkafka's metadata and admin API).

mod common;

use std::time::Duration;

use ironlog_operator::crd::Topic;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use ironlog_testkit::{KafkaClients, TestBroker};
use kube::api::{Api, DeleteParams};
use kube::Client;
use rdkafka::admin::{ConfigSource, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use serde_json::{json, Value};

use common::{apply, broker_binary, plane_with_broker, wait_until};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: false,
    scheduler: false,
};
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The control plane with the CRDs, a namespace, a broker, and a Topic controller for both.
async fn setup(prefix: &str) -> (Client, String, TestBroker) {
    let (client, ns, broker) = plane_with_broker(SPEC, prefix, plain_broker).await;
    tokio::spawn(ironlog_operator::topic::reconcile::run(
        client.clone(),
        Some(ns.clone()),
        Some(broker.bootstrap().to_string()),
        ironlog_operator::metrics::Metrics::new().expect("metrics register"),
        std::future::pending(),
    ));
    (client, ns, broker)
}

fn plain_broker() -> TestBroker {
    TestBroker::start_binary(broker_binary(), &[])
}

fn topic(name: &str, spec: Value) -> Value {
    common::of_my_cluster("Topic", name, spec)
}

/// The Kafka topic's partition count as librdkafka sees it; `None` when there is no topic.
fn partitions(broker: &TestBroker, name: &str) -> Option<usize> {
    let consumer = broker.consumer();
    let metadata = consumer
        .fetch_metadata(Some(name), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata of {name}: {e}"));
    let topic = metadata.topics().iter().find(|t| t.name() == name)?;
    if topic.error().is_some() {
        return None;
    }
    Some(topic.partitions().len())
}

/// The configs set on the topic itself, as the admin API describes them.
async fn topic_configs(broker: &TestBroker, name: &str) -> Vec<(String, String)> {
    let admin = broker.admin();
    let results = admin
        .describe_configs(
            &[ResourceSpecifier::Topic(name)],
            &ironlog_testkit::admin_options(),
        )
        .await
        .unwrap_or_else(|e| panic!("DescribeConfigs of {name}: {e}"));
    let resource = results
        .into_iter()
        .next()
        .expect("one result")
        .unwrap_or_else(|e| panic!("DescribeConfigs of {name}: {e}"));
    let mut out: Vec<(String, String)> = resource
        .entries
        .into_iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .filter_map(|e| Some((e.name, e.value?)))
        .collect();
    out.sort();
    out
}

/// Waits until Topic `name` has `Ready` at `status` with `reason`, observed at its current
/// generation; returns it.
async fn ready(client: &Client, ns: &str, name: &str, status: &str, reason: &str) -> Topic {
    common::ready_at_generation(client, ns, name, (status, reason), CONVERGE_TIMEOUT, |_| {
        true
    })
    .await
}

async fn gone(client: &Client, ns: &str, name: &str) {
    let api: Api<Topic> = Api::namespaced(client.clone(), ns);
    wait_until(
        CONVERGE_TIMEOUT,
        &format!("Topic {name} is deleted (its finalizer ran)"),
        || {
            let api = api.clone();
            async move { api.get_opt(name).await.ok()?.is_none().then_some(()) }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_is_created_grown_and_its_configs_converge_but_never_shrinks() {
    let (client, ns, broker) = setup("topic").await;
    let spec =
        json!({"partitions": 3, "replicationFactor": 1, "config": {"retention.ms": "86400000"}});
    apply(&client, &ns, &topic("orders", spec))
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let created = ready(&client, &ns, "orders", "True", "InSync").await;
    let status = created.status.expect("a status");
    assert_eq!(status.topic_name.as_deref(), Some("orders"));
    assert!(status.topic_id.is_some(), "the status names the topic id");
    assert_eq!(partitions(&broker, "orders"), Some(3));
    assert_eq!(
        topic_configs(&broker, "orders").await,
        [("retention.ms".to_string(), "86400000".to_string())]
    );
    let api: Api<Topic> = Api::namespaced(client.clone(), &ns);
    let finalizers = api
        .get("orders")
        .await
        .expect("the Topic")
        .metadata
        .finalizers;
    assert_eq!(
        finalizers.as_deref(),
        Some(&["ironlog.dev/topic".to_string()][..])
    );

    // more partitions; retention.ms dropped from the spec, cleanup.policy added
    let spec =
        json!({"partitions": 5, "replicationFactor": 1, "config": {"cleanup.policy": "compact"}});
    apply(&client, &ns, &topic("orders", spec))
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    ready(&client, &ns, "orders", "True", "InSync").await;
    assert_eq!(partitions(&broker, "orders"), Some(5));
    common::event(&client, &ns, "orders", "PartitionsAdded").await;
    let note = common::event(&client, &ns, "orders", "ConfigsChanged").await;
    assert!(
        note.contains("cleanup.policy") && note.contains("retention.ms"),
        "{note}"
    );
    assert_eq!(
        topic_configs(&broker, "orders").await,
        [("cleanup.policy".to_string(), "compact".to_string())],
        "the topic's own configs are exactly the spec's"
    );

    // fewer partitions: reported, not done; another config change still goes through
    let spec =
        json!({"partitions": 2, "replicationFactor": 1, "config": {"cleanup.policy": "delete"}});
    apply(&client, &ns, &topic("orders", spec))
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let refused = ready(&client, &ns, "orders", "False", "NotSupported").await;
    let condition = refused
        .status
        .expect("a status")
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert!(
        condition.message.contains("cannot decrease them to 2"),
        "{}",
        condition.message
    );
    assert_eq!(
        partitions(&broker, "orders"),
        Some(5),
        "a topic never shrinks"
    );
    assert_eq!(
        topic_configs(&broker, "orders").await,
        [("cleanup.policy".to_string(), "delete".to_string())]
    );

    // a config the broker refuses: reported, nothing created
    let spec = json!({"partitions": 1, "config": {"retention.fortnights": "2"}});
    apply(&client, &ns, &topic("bad-config", spec))
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let bad = ready(&client, &ns, "bad-config", "False", "InvalidSpec").await;
    let message = &bad
        .status
        .expect("a status")
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready")
        .message
        .clone();
    assert!(
        message.contains("spec.config[retention.fortnights]: Unknown topic config name"),
        "{message}"
    );
    assert_eq!(
        partitions(&broker, "bad-config"),
        None,
        "a refused Topic creates nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_topic_deletes_the_kafka_topic_unless_it_is_unmanaged() {
    let (client, ns, broker) = setup("delete").await;
    let api: Api<Topic> = Api::namespaced(client.clone(), &ns);
    for name in ["managed", "kept"] {
        apply(
            &client,
            &ns,
            &topic(name, json!({"partitions": 2, "replicationFactor": 1})),
        )
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
        ready(&client, &ns, name, "True", "InSync").await;
        assert_eq!(partitions(&broker, name), Some(2));
    }

    api.delete("managed", &DeleteParams::default())
        .await
        .expect("delete");
    gone(&client, &ns, "managed").await;
    let broker_ref = &broker;
    wait_until(
        CONVERGE_TIMEOUT,
        "Kafka topic managed is deleted",
        || async move { partitions(broker_ref, "managed").is_none().then_some(()) },
    )
    .await;

    let mut kept = topic("kept", json!({"partitions": 2, "replicationFactor": 1}));
    kept["metadata"]["annotations"] = json!({"ironlog.dev/unmanaged": "true"});
    apply(&client, &ns, &kept)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    ready(&client, &ns, "kept", "True", "Unmanaged").await;
    api.delete("kept", &DeleteParams::default())
        .await
        .expect("delete");
    gone(&client, &ns, "kept").await;
    assert_eq!(
        partitions(&broker, "kept"),
        Some(2),
        "an unmanaged topic outlives its resource"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_topics_naming_one_kafka_topic_leave_the_newer_in_conflict() {
    let (client, ns, broker) = setup("conflict").await;
    let first = json!({"topicName": "Shared_Topic", "partitions": 2, "replicationFactor": 1});
    apply(&client, &ns, &topic("first", first))
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    ready(&client, &ns, "first", "True", "InSync").await;

    let second = json!({"topicName": "Shared_Topic", "partitions": 4, "replicationFactor": 1});
    apply(&client, &ns, &topic("second", second))
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let conflicted = ready(&client, &ns, "second", "False", "ResourceConflict").await;
    let message = conflicted
        .status
        .expect("a status")
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready")
        .message;
    assert!(
        message.contains("managed by the older Topic first"),
        "{message}"
    );
    assert_eq!(
        partitions(&broker, "Shared_Topic"),
        Some(2),
        "the newer Topic must not change the topic"
    );

    // deleting the one in conflict leaves the topic to its owner
    let api: Api<Topic> = Api::namespaced(client.clone(), &ns);
    api.delete("second", &DeleteParams::default())
        .await
        .expect("delete");
    gone(&client, &ns, "second").await;
    assert_eq!(
        partitions(&broker, "Shared_Topic"),
        Some(2),
        "the owner's topic stays"
    );
    ready(&client, &ns, "first", "True", "InSync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_address_comes_from_the_kafka_clusters_status() {
    let (client, ns, broker) = plane_with_broker(SPEC, "bootstrap", plain_broker).await;
    // no override: the controller reads the cluster's status, as it does in Kubernetes
    tokio::spawn(ironlog_operator::topic::reconcile::run(
        client.clone(),
        Some(ns.clone()),
        None,
        ironlog_operator::metrics::Metrics::new().expect("metrics register"),
        std::future::pending(),
    ));
    let mut cluster: Value = common::documents(
        &std::fs::read_to_string(common::repo_root().join("examples/kafka-cluster.yaml"))
            .expect("the example"),
    )
    .remove(0);
    cluster["metadata"]["namespace"] = json!(ns);
    apply(&client, &ns, &cluster)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));

    apply(
        &client,
        &ns,
        &topic("events", json!({"partitions": 2, "replicationFactor": 1})),
    )
    .await
    .unwrap_or_else(|e| panic!("refused: {e}"));
    ready(&client, &ns, "events", "False", "ClusterNotReady").await;
    assert_eq!(partitions(&broker, "events"), None);

    // what the KafkaCluster controller writes once the cluster is up
    let clusters: Api<ironlog_operator::crd::KafkaCluster> = Api::namespaced(client.clone(), &ns);
    let status = json!({"apiVersion": "ironlog.dev/v1alpha1", "kind": "KafkaCluster",
                        "status": {"bootstrapServers": broker.bootstrap()}});
    clusters
        .patch_status(
            "my-cluster",
            &kube::api::PatchParams::apply("ironlog-tests").force(),
            &kube::api::Patch::Apply(&status),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot write the cluster's status: {e}"));
    ready(&client, &ns, "events", "True", "InSync").await;
    assert_eq!(partitions(&broker, "events"), Some(2));

    // the cluster gone, a Topic's deletion does not wait for it forever
    clusters
        .delete("my-cluster", &DeleteParams::default())
        .await
        .expect("delete the cluster");
    wait_until(CONVERGE_TIMEOUT, "the KafkaCluster is gone", || {
        let clusters = clusters.clone();
        async move {
            clusters
                .get_opt("my-cluster")
                .await
                .ok()?
                .is_none()
                .then_some(())
        }
    })
    .await;
    let api: Api<Topic> = Api::namespaced(client.clone(), &ns);
    api.delete("events", &DeleteParams::default())
        .await
        .expect("delete");
    gone(&client, &ns, "events").await;
}
