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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ironlog_testkit::control_plane::{ControlPlaneBinaries, ControlPlaneHandle, ControlPlaneSpec};
use ironlog_testkit::node_agent::{AgentConfig, ImageConfig, NodeAgent};
use ironlog_testkit::{BootstrapServers, KafkaClients};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use rdkafka::consumer::Consumer;

use common::{broker_binary, plane, repo_root, wait_until};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: true,
};
/// How long the cluster may take from `kubectl apply` to Ready on a loaded machine.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a step after that (a topic, a pod's return, the clean-up) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one kubectl command may run.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(360);
const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
const RECORDS_BEFORE: usize = 200;
const RECORDS_AFTER: usize = 100;

/// `kubectl` against the plane, bounded by [`KUBECTL_TIMEOUT`]; its stdout, or a panic
/// quoting its stderr.
fn kubectl(plane: &ControlPlaneHandle, args: &[&str]) -> String {
    let binary = ControlPlaneBinaries::locate().kubectl;
    assert!(
        binary.is_file(),
        "{} is missing: build it with operator/tests/k8s/build.sh",
        binary.display()
    );
    let dir = tempfile::tempdir().expect("a temp dir for kubectl's output");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(&binary)
        .args(args)
        .env("KUBECONFIG", &plane.kubeconfig)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("kubectl's stdout file"))
        .stderr(std::fs::File::create(&err).expect("kubectl's stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let deadline = Instant::now() + KUBECTL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kubectl") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "kubectl {} ran longer than {KUBECTL_TIMEOUT:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        status.success(),
        "kubectl {} failed ({status}):\n{stderr}{stdout}",
        args.join(" ")
    );
    stdout
}

/// The broker image as the repository's Dockerfile builds it: the broker stage's
/// `ENTRYPOINT`, `CMD`, `ENV` and `WORKDIR` (and those of the stage it is built from).
fn broker_image() -> ImageConfig {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("the Dockerfile");
    // logical lines: continuations joined, comments dropped
    let mut lines: Vec<String> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                lines.push(std::mem::take(&mut pending));
            }
        }
    }
    // stage name → (base stage, its instructions)
    let mut stages: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            let base = words.get(1).copied().unwrap_or_default().to_string();
            let name = match words.get(2) {
                Some(w) if w.eq_ignore_ascii_case("AS") => {
                    words.get(3).copied().unwrap_or_default()
                }
                _ => "",
            };
            stages.insert(name.to_string(), (base, Vec::new()));
            current = Some(name.to_string());
        } else if let Some(stage) = current.as_ref().and_then(|c| stages.get_mut(c)) {
            stage.1.push(line.clone());
        }
    }
    let mut chain = Vec::new();
    let mut stage = "broker".to_string();
    while let Some((base, instructions)) = stages.get(&stage) {
        chain.push(instructions.clone());
        stage = base.clone();
    }
    assert!(!chain.is_empty(), "the Dockerfile has no `broker` stage");
    let json_words = |rest: &str| -> Vec<String> {
        serde_json::from_str(rest.trim())
            .unwrap_or_else(|e| panic!("not an exec-form JSON array: {rest}: {e}"))
    };
    let mut image = ImageConfig::default();
    for instructions in chain.iter().rev() {
        for line in instructions {
            let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            match word.to_ascii_uppercase().as_str() {
                "ENTRYPOINT" => image.entrypoint = json_words(rest),
                "CMD" => image.cmd = json_words(rest),
                "WORKDIR" => image.working_dir = Some(rest.trim().to_string()),
                "ENV" => {
                    for pair in rest.split_whitespace() {
                        if let Some((k, v)) = pair.split_once('=') {
                            image.env.insert(k.to_string(), v.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        image.entrypoint.first().map(String::as_str),
        Some("ironlog"),
        "the broker image runs ironlog: {image:?}"
    );
    image
}

/// The operator binary in the cluster's network; stopped (SIGTERM, then killed) on drop.
struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    fn start(agent: &NodeAgent, namespace: &str) -> Operator {
        let log = agent.dir().join("operator.log");
        let file = std::fs::File::create(&log).expect("the operator's log file");
        let child = agent
            .in_cluster_command(
                "operator",
                Path::new(env!("CARGO_BIN_EXE_ironlog-operator")),
            )
            .args([
                "run",
                "--namespace",
                namespace,
                "--metrics-address",
                "0.0.0.0:8080",
            ])
            .env("KUBECONFIG", agent.in_cluster_kubeconfig())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("the operator starts");
        Operator { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints the agent's and the operator's logs when the test fails (panics) with them alive.
struct FailureLogs<'a> {
    agent: &'a NodeAgent,
    operator: &'a Operator,
}

impl Drop for FailureLogs<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "=== hosts:\n{}\n=== operator log:\n{}\n=== pod logs:\n{}",
                self.agent.hosts(),
                self.operator.log(),
                self.agent.logs()
            );
        }
    }
}

fn write_manifest(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).expect("a manifest file");
    file.write_all(text.as_bytes()).expect("write the manifest");
    path
}

async fn pods(client: &kube::Client, ns: &str, cluster: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(&format!("ironlog.dev/cluster={cluster}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

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

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
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

    let agent = NodeAgent::start(
        handle,
        AgentConfig {
            zones: ZONES.iter().map(|z| z.to_string()).collect(),
            images: BTreeMap::from([("ironlog".to_string(), broker_image())]),
            programs: BTreeMap::from([("ironlog".to_string(), broker_binary())]),
            settings: Default::default(),
        },
    )
    .await;
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
