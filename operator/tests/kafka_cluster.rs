//! The KafkaCluster controller against a real API server with kube-controller-manager
//! (its StatefulSet controller makes the pods; its garbage collector follows owner
//! references): a cluster becomes its objects with the expected content, a refused spec is
//! reported and applies nothing, a removed pool's StatefulSet goes, the pause annotation
//! holds changes back, and deleting the cluster removes everything it owned.
//!
//! Each test runs its own controller scoped to its own namespace. No kubelet runs here:
//! pods are made but never start, so the cluster stays `Progressing`.

mod common;

use std::time::Duration;

use ironlog_operator::cluster::names;
use ironlog_operator::crd::KafkaCluster;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams};
use kube::Client;
use serde_json::{json, Value};

use common::{apply, documents, install_crds, namespace, plane, repo_root, wait_until};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: false,
};
/// How long the operator (and the controller manager) may take to converge.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The control plane with the CRDs, a fresh namespace, and an operator watching it (it
/// stops with the test's runtime).
async fn setup(prefix: &str) -> (Client, String) {
    let (_, client) = plane(SPEC).await;
    install_crds(&client).await;
    let ns = namespace(&client, prefix).await;
    let metrics = ironlog_operator::metrics::Metrics::new().expect("metrics register");
    tokio::spawn(ironlog_operator::cluster::reconcile::run(
        client.clone(),
        Some(ns.clone()),
        metrics,
        std::future::pending(),
    ));
    (client, ns)
}

fn example(file: &str) -> Value {
    let path = repo_root().join("examples").join(file);
    let text = std::fs::read_to_string(&path).expect("the example is readable");
    documents(&text).remove(0)
}

async fn stateful_set(client: &Client, ns: &str, name: &str) -> StatefulSet {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    wait_until(
        CONVERGE_TIMEOUT,
        &format!("StatefulSet {name} exists"),
        || {
            let api = api.clone();
            async move { api.get_opt(name).await.ok().flatten() }
        },
    )
    .await
}

/// Waits until the cluster's status has condition `type_` at `status`, observed at the
/// cluster's current generation; returns the cluster.
async fn condition(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
    status: &str,
) -> KafkaCluster {
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    wait_until(
        CONVERGE_TIMEOUT,
        &format!("KafkaCluster {name} has {type_}={status} for its generation"),
        || {
            let api = api.clone();
            async move {
                let cluster = api.get(name).await.ok()?;
                let st = cluster.status.as_ref()?;
                let c = st.conditions.iter().find(|c| c.type_ == type_)?;
                (c.status == status && c.observed_generation == cluster.metadata.generation)
                    .then_some(cluster.clone())
            }
        },
    )
    .await
}

async fn owned_count<K>(client: &Client, ns: &str, cluster: &str) -> usize
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.list_metadata(&ListParams::default().labels(&names::owned_selector(cluster)))
        .await
        .map(|l| l.items.len())
        .unwrap_or_else(|e| panic!("cannot list owned objects: {e}"))
}

#[tokio::test]
async fn a_kafka_cluster_becomes_its_stateful_set_services_and_config() {
    let (client, ns) = setup("cluster").await;
    let applied = apply(&client, &ns, &example("kafka-cluster.yaml"))
        .await
        .unwrap_or_else(|e| panic!("the example was refused: {e}"));
    let uid = applied
        .metadata
        .uid
        .clone()
        .expect("a stored object has a uid");

    let sts = stateful_set(&client, &ns, "my-cluster-combined").await;
    let spec = sts.spec.as_ref().expect("a StatefulSet spec");
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.service_name.as_deref(), Some("my-cluster-nodes"));
    assert_eq!(
        spec.update_strategy
            .as_ref()
            .and_then(|u| u.type_.as_deref()),
        Some("OnDelete"),
        "the roller decides restarts: OnDelete"
    );
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    let owner = &sts
        .metadata
        .owner_references
        .as_ref()
        .expect("owner references")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("KafkaCluster", uid.as_str(), Some(true))
    );
    let container = &spec.template.spec.as_ref().expect("a pod spec").containers[0];
    assert_eq!(container.image.as_deref(), Some("ironlog:0.1.0"));
    assert_eq!(
        container.command.as_deref(),
        Some(&["ironlog".to_string()][..]),
        "the container names its program: args alone would run under the image's \
         entrypoint (`ironlog broker`)"
    );
    assert_eq!(
        container.args.as_deref(),
        Some(
            &[
                "broker".to_string(),
                "--config".to_string(),
                "/etc/ironlog/$(POD_NAME).properties".to_string()
            ][..]
        )
    );

    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let headless = services
        .get("my-cluster-nodes")
        .await
        .expect("the headless Service");
    let headless = headless.spec.expect("a Service spec");
    assert_eq!(headless.cluster_ip.as_deref(), Some("None"));
    assert_eq!(headless.publish_not_ready_addresses, Some(true));
    let bootstrap = services
        .get("my-cluster-bootstrap")
        .await
        .expect("the bootstrap Service");
    let ports: Vec<i32> = bootstrap
        .spec
        .expect("a spec")
        .ports
        .expect("ports")
        .iter()
        .map(|p| p.port)
        .collect();
    assert_eq!(ports, [9092]);

    let config: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let data = config
        .get("my-cluster-config")
        .await
        .expect("the ConfigMap")
        .data
        .expect("data");
    for (ordinal, file) in [
        "my-cluster-combined-0.properties",
        "my-cluster-combined-1.properties",
        "my-cluster-combined-2.properties",
    ]
    .iter()
    .enumerate()
    {
        let text = data
            .get(*file)
            .unwrap_or_else(|| panic!("no {file} in the ConfigMap"));
        assert!(
            text.contains(&format!("\nnode.id={ordinal}\n")),
            "{file} names its node id:\n{text}"
        );
        assert!(
            text.contains(&format!(
                "PLAINTEXT://my-cluster-combined-{ordinal}.my-cluster-nodes.{ns}.svc:9092"
            )),
            "{file} advertises the pod's DNS name:\n{text}"
        );
        assert!(
            text.contains("\nmin.insync.replicas=2\n"),
            "{file} keeps the spec's config"
        );
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    pdbs.get("my-cluster-nodes")
        .await
        .expect("the PodDisruptionBudget");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    accounts
        .get("my-cluster-node")
        .await
        .expect("the ServiceAccount");

    // the real StatefulSet controller accepts the StatefulSet and makes its pods
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let made = wait_until(
        CONVERGE_TIMEOUT,
        "the StatefulSet controller made 3 pods",
        || {
            let pods = pods.clone();
            async move {
                let list = pods
                    .list(&ListParams::default().labels("ironlog.dev/cluster=my-cluster"))
                    .await
                    .ok()?;
                (list.items.len() == 3).then_some(list.items)
            }
        },
    )
    .await;
    let mut names: Vec<String> = made
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "my-cluster-combined-0",
            "my-cluster-combined-1",
            "my-cluster-combined-2"
        ]
    );

    // no kubelet: nothing becomes ready, and the status says so
    let cluster = condition(&client, &ns, "my-cluster", "Progressing", "True").await;
    let status = cluster.status.expect("a status");
    assert_eq!(status.observed_generation, cluster.metadata.generation);
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("a Ready condition");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "NodesNotReady")
    );
    assert_eq!(status.brokers.as_deref(), Some("0/3"));
    assert_eq!(
        status.bootstrap_servers.as_deref(),
        Some(
            format!(
                "my-cluster-combined-0.my-cluster-nodes.{ns}.svc:9092,\
                 my-cluster-combined-1.my-cluster-nodes.{ns}.svc:9092,\
                 my-cluster-combined-2.my-cluster-nodes.{ns}.svc:9092"
            )
            .as_str()
        )
    );
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(degraded.status, "False");
}

#[tokio::test]
async fn a_refused_spec_is_reported_and_applies_nothing_until_fixed() {
    let (client, ns) = setup("refused").await;
    let mut bad = example("kafka-cluster.yaml");
    bad["metadata"]["name"] = json!("refused");
    bad["spec"]["config"]["log.retention.fortnights"] = json!("2");
    bad["spec"]["config"]["node.id"] = json!("5");
    apply(&client, &ns, &bad)
        .await
        .unwrap_or_else(|e| panic!("the schema refused it: {e}"));

    let cluster = condition(&client, &ns, "refused", "Degraded", "True").await;
    let status = cluster.status.expect("a status");
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(degraded.reason, "InvalidSpec");
    assert!(
        degraded.message.contains("spec.config[log.retention.fortnights]: Unknown configuration 'log.retention.fortnights'")
            && degraded.message.contains("spec.config[node.id]: node.id is set by the operator"),
        "the condition names every problem: {}",
        degraded.message
    );
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "InvalidSpec")
    );
    for (kind, count) in [
        (
            "StatefulSet",
            owned_count::<StatefulSet>(&client, &ns, "refused").await,
        ),
        (
            "Service",
            owned_count::<Service>(&client, &ns, "refused").await,
        ),
        (
            "ConfigMap",
            owned_count::<ConfigMap>(&client, &ns, "refused").await,
        ),
        (
            "ServiceAccount",
            owned_count::<ServiceAccount>(&client, &ns, "refused").await,
        ),
    ] {
        assert_eq!(
            count, 0,
            "a refused spec must apply nothing, but a {kind} exists"
        );
    }

    // fixed: the objects come, the condition clears
    let mut good = bad.clone();
    good["spec"]["config"] = example("kafka-cluster.yaml")["spec"]["config"].clone();
    apply(&client, &ns, &good)
        .await
        .unwrap_or_else(|e| panic!("the fixed spec was refused: {e}"));
    stateful_set(&client, &ns, "refused-combined").await;
    condition(&client, &ns, "refused", "Degraded", "False").await;
    let note = common::event(&client, &ns, "refused", "Applied").await;
    assert!(
        note.contains("1 StatefulSet(s)"),
        "the Event says what was applied: {note}"
    );
}

#[tokio::test]
async fn a_removed_pool_loses_its_stateful_set_and_pausing_holds_changes_back() {
    let (client, ns) = setup("pools").await;
    let mut two = example("kafka-cluster.yaml");
    two["metadata"]["name"] = json!("pools");
    two["spec"]["nodePools"] = json!([
        {"name": "a", "replicas": 3, "nodeIdStart": 0, "roles": ["broker", "controller"], "storage": {"size": "1Gi"}},
        {"name": "b", "replicas": 2, "nodeIdStart": 10, "roles": ["broker"], "storage": {"size": "1Gi"}},
        {"name": "c", "replicas": 1, "nodeIdStart": 20, "roles": ["broker"], "storage": {"size": "1Gi"}},
    ]);
    apply(&client, &ns, &two)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    stateful_set(&client, &ns, "pools-a").await;
    stateful_set(&client, &ns, "pools-b").await;
    stateful_set(&client, &ns, "pools-c").await;

    // a broker-only pool may go (a controller pool may not: the quorum's voters are fixed)
    let mut one = two.clone();
    one["spec"]["nodePools"] = json!([
        two["spec"]["nodePools"][0].clone(),
        two["spec"]["nodePools"][1].clone()
    ]);
    apply(&client, &ns, &one)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    wait_until(CONVERGE_TIMEOUT, "pool c's StatefulSet is deleted", || {
        let api = api.clone();
        async move {
            match api.get_opt("pools-c").await.ok()? {
                None => Some(()),
                Some(sts) => sts.metadata.deletion_timestamp.map(|_| ()),
            }
        }
    })
    .await;
    let config: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let data = config
        .get("pools-config")
        .await
        .expect("the ConfigMap")
        .data
        .expect("data");
    assert_eq!(
        data.len(),
        5,
        "only pool a's and pool b's nodes keep a properties file: {:?}",
        data.keys()
    );

    // paused: a change to the spec is not applied, and the status says why
    let mut paused = one.clone();
    paused["metadata"]["annotations"] = json!({"ironlog.dev/paused": "true"});
    paused["spec"]["nodePools"][1]["replicas"] = json!(5);
    apply(&client, &ns, &paused)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let held = condition(&client, &ns, "pools", "Paused", "True").await;
    let observed = held.status.as_ref().and_then(|s| s.observed_generation);
    assert!(
        observed < held.metadata.generation,
        "a paused cluster's observedGeneration stays at the last reconciled spec: {observed:?}"
    );
    let replicas = api
        .get("pools-b")
        .await
        .expect("pool b")
        .spec
        .and_then(|s| s.replicas);
    assert_eq!(
        replicas,
        Some(2),
        "a paused cluster's StatefulSet must not change"
    );

    let mut resumed = paused.clone();
    resumed["metadata"]["annotations"] = json!({"ironlog.dev/paused": "false"});
    apply(&client, &ns, &resumed)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    wait_until(CONVERGE_TIMEOUT, "resumed: pool b has 5 replicas", || {
        let api = api.clone();
        async move {
            let sts = api.get("pools-b").await.ok()?;
            (sts.spec?.replicas == Some(5)).then_some(())
        }
    })
    .await;
    condition(&client, &ns, "pools", "Paused", "False").await;
}

#[tokio::test]
async fn deleting_the_cluster_garbage_collects_everything_it_owned() {
    let (client, ns) = setup("deleted").await;
    let mut cluster = example("kafka-cluster.yaml");
    cluster["metadata"]["name"] = json!("deleted");
    apply(&client, &ns, &cluster)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    stateful_set(&client, &ns, "deleted-combined").await;
    condition(&client, &ns, "deleted", "Progressing", "True").await;

    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), &ns);
    api.delete("deleted", &DeleteParams::foreground())
        .await
        .unwrap_or_else(|e| panic!("cannot delete the cluster: {e}"));
    let client2 = client.clone();
    let ns2 = ns.clone();
    wait_until(
        CONVERGE_TIMEOUT,
        "the garbage collector removed the cluster's StatefulSet, Services, ConfigMap, PDB and ServiceAccount",
        || {
            let client = client2.clone();
            let ns = ns2.clone();
            async move {
                let left = owned_count::<StatefulSet>(&client, &ns, "deleted").await
                    + owned_count::<Service>(&client, &ns, "deleted").await
                    + owned_count::<ConfigMap>(&client, &ns, "deleted").await
                    + owned_count::<PodDisruptionBudget>(&client, &ns, "deleted").await
                    + owned_count::<ServiceAccount>(&client, &ns, "deleted").await;
                (left == 0).then_some(())
            }
        },
    )
    .await;
}
