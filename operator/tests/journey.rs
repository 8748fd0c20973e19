//! The user's journey, end to end, against a real control plane (API server, controller
//! manager, scheduler) with the test kit's node agent running the pods the scheduler binds
//! as real `ironlog` processes: `kubectl apply` of the CRDs and a 3-broker KafkaCluster →
//! the real StatefulSet controller makes the pods → the scheduler spreads them over three
//! zones → the brokers form one cluster → `kubectl wait --for=condition=Ready` → a Topic
//! CR converges on the brokers → a real client (librdkafka, inside the cluster's network)
//! finds it through the bootstrap Service's name, produces with acks=all and reads it
//! back → a deleted broker pod is made again, rejoins with its data and nothing
//! acknowledged is lost → `kubectl delete` of the CRs removes the pods and stops their
//! processes.
//!
//! The operator is the real `ironlog-operator` binary, in the cluster's network as it would
//! run in a pod; the pods run the image's entrypoint as the repository's Dockerfile
//! declares it (`ENTRYPOINT`, `ENV`, `WORKDIR` of the broker stage).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use ironlog_testkit::control_plane::ControlPlaneSpec;
use ironlog_testkit::{BootstrapServers, KafkaClients};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use rdkafka::consumer::Consumer;

use common::cluster::{
    broker_agent, is_ready, kubectl, pods, write_manifest, FailureLogs, Operator,
};
use common::{plane, repo_root, wait_until};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: true,
};
/// How long the cluster may take from `kubectl apply` to Ready on a loaded machine.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a step after that (a topic, a pod's return, the clean-up) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(180);
const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
const RECORDS_BEFORE: usize = 200;
const RECORDS_AFTER: usize = 100;

/// `GET path` over plain HTTP/1.1: the body of a 200 answer, or `None`.
async fn http_get(address: std::net::IpAddr, port: u16, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((address, port)).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .ok()?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_applies_a_cluster_with_kubectl_and_it_serves_clients_and_survives_a_pod_loss() {
    let (handle, client) = plane(SPEC).await;
    let ns = common::namespace(&client, "journey").await;
    let manifests = tempfile::tempdir().expect("a dir for the manifests");
    let crds = repo_root().join("crds");
    kubectl(
        handle,
        &["apply", "--server-side", "-f", &crds.to_string_lossy()],
    );
    kubectl(
        handle,
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
    );

    let agent = broker_agent(handle, &ZONES, &ns).await;
    let operator = Operator::start(&agent, &ns);
    let _logs = FailureLogs {
        agent: &agent,
        operator: &operator,
    };

    // the journey's cluster: three combined nodes over three zones, RF 3
    let cluster = write_manifest(
        manifests.path(),
        "cluster.yaml",
        r#"apiVersion: ironlog.dev/v1alpha1
kind: KafkaCluster
metadata:
  name: journey
spec:
  version: "0.1.0"
  nodePools:
    - name: combined
      replicas: 3
      roles: [broker, controller]
      rackTopologyKey: topology.kubernetes.io/zone
      storage:
        size: 1Gi
  listeners:
    - name: PLAINTEXT
      port: 9092
      type: internal
  config:
    default.replication.factor: "3"
    min.insync.replicas: "2"
    offsets.topic.replication.factor: "3"
    transaction.state.log.replication.factor: "3"
    transaction.state.log.min.isr: "2"
"#,
    );
    kubectl(
        handle,
        &["apply", "-n", &ns, "-f", &cluster.to_string_lossy()],
    );
    kubectl(
        handle,
        &[
            "wait",
            "-n",
            &ns,
            "--for=condition=Ready",
            "kafkacluster/journey",
            &format!("--timeout={}s", READY_TIMEOUT.as_secs()),
        ],
    );

    // the pods ran on the agent's nodes, one per zone (the spread constraint)
    let running = pods(&client, &ns, "journey").await;
    assert_eq!(running.len(), 3, "three broker pods");
    let mut nodes: Vec<String> = running
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(
        nodes.len(),
        3,
        "the scheduler spreads the pool over the three zones' nodes: {nodes:?}"
    );

    // the operator's cluster gauges, fed from the brokers
    let metrics_address = agent.in_cluster_address("operator");
    let gauges = wait_until(
        STEP_TIMEOUT,
        "the operator's gauges report 3 brokers and no under-replicated or offline partition",
        || {
            let ns = ns.clone();
            async move {
                let text = http_get(metrics_address, 8080, "/metrics").await?;
                let labels = format!("{{cluster=\"journey\",namespace=\"{ns}\"}}");
                let value = |name: &str| -> Option<i64> {
                    let prefix = format!("{name}{labels} ");
                    text.lines()
                        .find_map(|l| l.strip_prefix(prefix.as_str()))
                        .and_then(|v| v.trim().parse().ok())
                };
                let gauges = (
                    value("ironlog_operator_cluster_brokers_ready")?,
                    value("ironlog_operator_cluster_under_replicated_partitions")?,
                    value("ironlog_operator_cluster_offline_partitions")?,
                );
                (gauges.0 == 3).then_some(gauges)
            }
        },
    )
    .await;
    assert_eq!(
        gauges,
        (3, 0, 0),
        "brokers ready, under-replicated, offline"
    );

    // each broker's rack is its node's zone (the pool's rackTopologyKey)
    let nodes_api: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let mut zone_of_node: BTreeMap<i32, String> = BTreeMap::new();
    for pod in &running {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let ordinal: i32 = name
            .rsplit('-')
            .next()
            .and_then(|o| o.parse().ok())
            .expect("a StatefulSet pod's ordinal");
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .expect("bound");
        let zone = nodes_api
            .get(&node)
            .await
            .expect("the pod's node")
            .metadata
            .labels
            .and_then(|l| l.get("topology.kubernetes.io/zone").cloned())
            .expect("the node's zone");
        zone_of_node.insert(ordinal, zone);
    }
    let racks = {
        let bootstrap = format!("journey-bootstrap.{ns}.svc:9092");
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || {
                let brokers = BootstrapServers(bootstrap);
                (0..3)
                    .map(|id| {
                        let rack = brokers
                            .broker_configs(id)
                            .get("broker.rack")
                            .cloned()
                            .flatten();
                        (id, rack.unwrap_or_default())
                    })
                    .collect::<BTreeMap<i32, String>>()
            })
        })
    };
    assert_eq!(
        racks, zone_of_node,
        "broker.rack of each node (node id = ordinal) is its node's zone"
    );

    // a Topic CR converges on the real brokers
    let topic = write_manifest(
        manifests.path(),
        "topic.yaml",
        r#"apiVersion: ironlog.dev/v1alpha1
kind: Topic
metadata:
  name: journey-events
spec:
  clusterRef:
    name: journey
  partitions: 3
  replicationFactor: 3
  config:
    min.insync.replicas: "2"
"#,
    );
    kubectl(
        handle,
        &["apply", "-n", &ns, "-f", &topic.to_string_lossy()],
    );
    kubectl(
        handle,
        &[
            "wait",
            "-n",
            &ns,
            "--for=condition=Ready",
            "topic/journey-events",
            &format!("--timeout={}s", STEP_TIMEOUT.as_secs()),
        ],
    );

    let bootstrap = format!("journey-bootstrap.{ns}.svc:9092");
    // a client in the cluster's network: describe the topic through the bootstrap name
    let described = {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || {
                let brokers = BootstrapServers(bootstrap);
                brokers.wait_for_topic("journey-events", 3);
                let consumer = brokers.consumer();
                let metadata = consumer
                    .fetch_metadata(Some("journey-events"), Duration::from_secs(30))
                    .unwrap_or_else(|e| panic!("metadata through the bootstrap Service: {e}"));
                let hosts: Vec<String> = metadata
                    .brokers()
                    .iter()
                    .map(|b| b.host().to_string())
                    .collect();
                let replicas: Vec<usize> = metadata.topics()[0]
                    .partitions()
                    .iter()
                    .map(|p| p.replicas().len())
                    .collect();
                (hosts, replicas)
            })
        })
    };
    let (hosts, replicas) = described;
    assert_eq!(replicas, [3, 3, 3], "RF 3 on every partition");
    let mut hosts = hosts;
    hosts.sort();
    assert_eq!(
        hosts,
        (0..3)
            .map(|i| format!("journey-combined-{i}.journey-nodes.{ns}.svc"))
            .collect::<Vec<_>>(),
        "each broker advertises its pod's DNS name"
    );

    // produce acks=all and read it back
    let before: Vec<String> = (0..RECORDS_BEFORE).map(|i| format!("before-{i}")).collect();
    let produce = |values: Vec<String>| {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || {
                let brokers = BootstrapServers(bootstrap);
                let producer =
                    brokers.producer_with(&[("acks", "all"), ("message.timeout.ms", "60000")]);
                let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = values
                    .iter()
                    .map(|v| (v.as_bytes().to_vec(), Some(v.as_bytes().to_vec())))
                    .collect();
                brokers.produce_all(&producer, "journey-events", 0, &records)
            })
        })
    };
    let read_all = || {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || {
                BootstrapServers(bootstrap)
                    .consume_all("journey-events", 0, 0)
                    .iter()
                    .map(|r| r.value_str())
                    .collect::<Vec<String>>()
            })
        })
    };
    let offsets = produce(before.clone());
    assert_eq!(offsets.len(), RECORDS_BEFORE);
    assert_eq!(
        read_all(),
        before,
        "what was acknowledged is read back, in order"
    );

    // a broker pod is deleted: the StatefulSet makes it again, it rejoins with its data
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let old_uid = pod_api
        .get("journey-combined-1")
        .await
        .expect("pod 1")
        .metadata
        .uid
        .expect("a uid");
    kubectl(
        handle,
        &[
            "delete",
            "pod",
            "-n",
            &ns,
            "journey-combined-1",
            "--wait=false",
        ],
    );
    wait_until(
        STEP_TIMEOUT,
        "pod journey-combined-1 is back and ready",
        || {
            let api = pod_api.clone();
            let old_uid = old_uid.clone();
            async move {
                let pod = api.get_opt("journey-combined-1").await.ok().flatten()?;
                (pod.metadata.uid.as_deref() != Some(old_uid.as_str()) && is_ready(&pod))
                    .then_some(())
            }
        },
    )
    .await;
    let restarted_log = agent.log(&ns, "journey-combined-1", "ironlog");
    assert!(
        restarted_log.matches("--- ").count() >= 2,
        "the pod's broker ran twice (before and after the deletion):\n{restarted_log}"
    );
    kubectl(
        handle,
        &[
            "wait",
            "-n",
            &ns,
            "--for=condition=Ready",
            "kafkacluster/journey",
            &format!("--timeout={}s", STEP_TIMEOUT.as_secs()),
        ],
    );
    let after: Vec<String> = (0..RECORDS_AFTER).map(|i| format!("after-{i}")).collect();
    produce(after.clone());
    let mut expected = before.clone();
    expected.extend(after);
    assert_eq!(
        read_all(),
        expected,
        "nothing acknowledged is lost across the pod's return"
    );

    // kubectl delete of the CRs: the topic goes, the pods go, their processes stop
    kubectl(
        handle,
        &[
            "delete",
            "-n",
            &ns,
            "-f",
            &topic.to_string_lossy(),
            "--timeout=120s",
        ],
    );
    kubectl(
        handle,
        &[
            "delete",
            "-n",
            &ns,
            "-f",
            &cluster.to_string_lossy(),
            "--timeout=120s",
        ],
    );
    wait_until(
        STEP_TIMEOUT,
        "the cluster's pods are gone and their processes stopped",
        || {
            let client = client.clone();
            let ns = ns.clone();
            let agent = &agent;
            async move {
                (pods(&client, &ns, "journey").await.is_empty() && agent.pods_running() == 0)
                    .then_some(())
            }
        },
    )
    .await;
    drop(_logs);
    drop(operator);
    agent.stop().await;
}
