//! Day-2 changes of a running cluster against the real control plane (API server,
//! controller manager, scheduler) with the test kit's node agent running each pod as a
//! real `ironlog` process, and the real operator binary in the cluster's network. One
//! three-broker cluster goes through, in order:
//!
//! 1. a dynamic config change (`log.retention.ms`, cluster-wide dynamic in Kafka): applied
//!    with IncrementalAlterConfigs, visible with DescribeConfigs, no pod restarted;
//! 2. a roll that must wait: pod 0 is annotated for a restart while broker 2's process is
//!    frozen (SIGSTOP), so partitions have ISR [0, 1] = min.insync.replicas 2 — the roll
//!    says so in its `Rolling` condition and restarts nothing; once broker 2 runs again
//!    and its partitions are back in sync, pod 0 is restarted;
//! 3. a static config change rolls every broker, one at a time, each exactly once, while
//!    an idempotent acks=all producer and a consumer group run throughout: every
//!    acknowledged record is read by the group, and no client error other than retriable
//!    ones.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironlog_operator::crd::KafkaCluster;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use ironlog_testkit::node_agent::NodeAgent;
use ironlog_testkit::{BootstrapServers, KafkaClients};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

use common::cluster::{condition, is_ready, pods, OperatorEnv};
use common::wait_until;

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: true,
};
const CLUSTER: &str = "roller";
const TOPIC: &str = "roll-events";
const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
/// From apply to Ready on a loaded machine.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// One step (a config applied, a blocked roll reported, a broker healed).
const STEP_TIMEOUT: Duration = Duration::from_secs(180);
/// A whole roll of three brokers.
const ROLL_TIMEOUT: Duration = Duration::from_secs(600);
/// Pacing of the producer running through the roll (records per second ~ 1000 / this).
const PRODUCE_EVERY: Duration = Duration::from_millis(20);

fn cluster_manifest(config: &[(&str, &str)]) -> serde_json::Value {
    let mut settings = serde_json::Map::new();
    for (k, v) in [
        ("default.replication.factor", "3"),
        ("min.insync.replicas", "2"),
        ("offsets.topic.replication.factor", "3"),
        ("transaction.state.log.replication.factor", "3"),
        ("transaction.state.log.min.isr", "2"),
        // a frozen broker leaves the ISRs soon
        ("replica.lag.time.max.ms", "10000"),
    ]
    .iter()
    .chain(config)
    {
        settings.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    serde_json::json!({
        "apiVersion": "ironlog.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": CLUSTER},
        "spec": {
            "version": "0.1.0",
            "nodePools": [{
                "name": "combined",
                "replicas": 3,
                "roles": ["broker", "controller"],
                "storage": {"size": "1Gi"},
            }],
            "listeners": [{"name": "PLAINTEXT", "port": 9092, "type": "internal"}],
            "config": settings,
        }
    })
}

fn topic_manifest() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "ironlog.dev/v1alpha1",
        "kind": "Topic",
        "metadata": {"name": TOPIC},
        "spec": {
            "clusterRef": {"name": CLUSTER},
            "partitions": 3,
            "replicationFactor": 3,
            "config": {"min.insync.replicas": "2"},
        }
    })
}

/// Waits until the cluster's status at its current generation is Ready and not rolling.
async fn settled(clusters: &Api<KafkaCluster>, timeout: Duration, what: &str) {
    wait_until(timeout, what, || async {
        let cluster = clusters.get(CLUSTER).await.ok()?;
        let generation = cluster.metadata.generation?;
        let (ready, _, _, at) = condition(&cluster, "Ready")?;
        let (rolling, _, _, rolling_at) = condition(&cluster, "Rolling")?;
        (ready == "True" && at == generation && rolling == "False" && rolling_at == generation)
            .then_some(())
    })
    .await;
}

/// Waits until an Event `reason` about the cluster whose note names `what` exists.
async fn event_naming(client: &kube::Client, ns: &str, reason: &str, what: &str) -> String {
    use k8s_openapi::api::events::v1::Event;
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    wait_until(
        common::EVENT_TIMEOUT,
        &format!("an Event {reason} about {CLUSTER} naming {what}"),
        || async {
            let events = api.list(&Default::default()).await.ok()?;
            events.items.into_iter().find_map(|e| {
                let note = e.note.unwrap_or_default();
                (e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(CLUSTER)
                    && note.contains(what))
                .then_some(note)
            })
        },
    )
    .await
}

/// Pod name → uid.
async fn pod_uids(client: &kube::Client, ns: &str) -> BTreeMap<String, String> {
    pods(client, ns, CLUSTER)
        .await
        .into_iter()
        .filter_map(|p| Some((p.metadata.name?, p.metadata.uid?)))
        .collect()
}

/// How many times each pod's broker started (the agent's log has a `---` line per run).
fn starts(agent: &NodeAgent, ns: &str) -> BTreeMap<String, usize> {
    (0..3)
        .map(|i| {
            let pod = format!("{CLUSTER}-combined-{i}");
            let count = agent.log(ns, &pod, "ironlog").matches("\n--- ").count()
                + usize::from(agent.log(ns, &pod, "ironlog").starts_with("--- "));
            (pod, count)
        })
        .collect()
}

async fn update_revision(client: &kube::Client, ns: &str) -> Option<String> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    api.get(&format!("{CLUSTER}-combined"))
        .await
        .ok()?
        .status?
        .update_revision
}

/// The pids of the broker process of `pod` (its argv names the pod's properties file).
fn broker_pids(pod: &str) -> Vec<i32> {
    let needle = format!("/{pod}.properties");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_broker = argv.first().is_some_and(|a| a.ends_with("ironlog"))
            && argv.iter().any(|a| a.ends_with(&needle));
        if is_broker {
            pids.push(pid);
        }
    }
    pids
}

fn signal(pids: &[i32], signal: libc::c_int) {
    for &pid in pids {
        // SAFETY: kill(2) on a broker process this test's agent started
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// The ISR of every partition of `topic`, through a client in the cluster.
fn isrs(agent: &NodeAgent, bootstrap: &str) -> Option<Vec<Vec<i32>>> {
    let bootstrap = bootstrap.to_string();
    agent.on_cluster_thread("client", move || {
        let consumer = BootstrapServers(bootstrap).consumer();
        let metadata = consumer
            .fetch_metadata(Some(TOPIC), Duration::from_secs(10))
            .ok()?;
        let topic = metadata.topics().first()?;
        Some(
            topic
                .partitions()
                .iter()
                .map(|p| {
                    let mut isr = p.isr().to_vec();
                    isr.sort();
                    isr
                })
                .collect(),
        )
    })
}

/// Errors a client retries by itself (a broker restarting, a leader or coordinator
/// moving).
fn is_retriable(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        BrokerTransportFailure
            | AllBrokersDown
            | NotLeaderForPartition
            | LeaderNotAvailable
            | NotCoordinator
            | CoordinatorNotAvailable
            | CoordinatorLoadInProgress
            | RequestTimedOut
            | NetworkException
            | NotEnoughReplicas
            | NotEnoughReplicasAfterAppend
            | RebalanceInProgress
            | OperationTimedOut
            | FencedLeaderEpoch
            | UnknownLeaderEpoch
            | KafkaStorageError
            | PartitionEOF
            | Resolve
    )
}

/// The producer and the consumer group running through the roll.
struct Clients {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeSet<String>>>,
    seen: Arc<Mutex<BTreeSet<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
    sent: Arc<AtomicUsize>,
    /// Set once `acked` holds every acknowledged record.
    deliveries_known: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Clients {
    fn start(agent: &NodeAgent, bootstrap: &str) -> Clients {
        let (producer, consumer): (FutureProducer, BaseConsumer) = {
            let bootstrap = bootstrap.to_string();
            agent.on_cluster_thread("client", move || {
                let brokers = BootstrapServers(bootstrap);
                let producer = brokers.producer_with(&[
                    ("acks", "all"),
                    ("enable.idempotence", "true"),
                    ("message.timeout.ms", "300000"),
                ]);
                let consumer = brokers.consumer_with(&[
                    ("group.id", "roll-group"),
                    ("auto.offset.reset", "earliest"),
                    ("enable.auto.commit", "true"),
                    ("enable.auto.offset.store", "true"),
                    ("enable.partition.eof", "false"),
                    ("session.timeout.ms", "30000"),
                ]);
                consumer
                    .subscribe(&[TOPIC])
                    .unwrap_or_else(|e| panic!("subscribe to {TOPIC}: {e}"));
                (producer, consumer)
            })
        };
        let clients = Clients {
            stop: Arc::new(AtomicBool::new(false)),
            acked: Default::default(),
            seen: Default::default(),
            errors: Default::default(),
            sent: Default::default(),
            deliveries_known: Default::default(),
            threads: Vec::new(),
        };
        let producer_thread = {
            let (stop, acked, errors, sent, deliveries_known) = (
                clients.stop.clone(),
                clients.acked.clone(),
                clients.errors.clone(),
                clients.sent.clone(),
                clients.deliveries_known.clone(),
            );
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                let mut i = 0usize;
                while !stop.load(Ordering::Acquire) {
                    let value = format!("r-{i}");
                    let record = FutureRecord::<str, str>::to(TOPIC)
                        .key(&value)
                        .payload(&value);
                    match producer.send_result(record) {
                        Ok(delivery) => {
                            pending.push((value, delivery));
                            sent.fetch_add(1, Ordering::Release);
                            i += 1;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {}
                        Err((e, _)) => errors.lock().unwrap().push(format!("send: {e}")),
                    }
                    std::thread::sleep(PRODUCE_EVERY);
                }
                // published at once, when every delivery is known: the consumer stops
                // once it has read all of it, so a part must never look like the whole
                let mut delivered = BTreeSet::new();
                for (value, delivery) in pending {
                    match futures::executor::block_on(delivery) {
                        Ok(Ok(_)) => {
                            delivered.insert(value);
                        }
                        Ok(Err((e, _))) => errors
                            .lock()
                            .unwrap()
                            .push(format!("delivery of {value}: {e}")),
                        Err(_) => errors
                            .lock()
                            .unwrap()
                            .push(format!("delivery of {value}: cancelled")),
                    }
                }
                *acked.lock().unwrap() = delivered;
                deliveries_known.store(true, Ordering::Release);
            })
        };
        let consumer_thread = {
            let (stop, acked, seen, errors, deliveries_known) = (
                clients.stop.clone(),
                clients.acked.clone(),
                clients.seen.clone(),
                clients.errors.clone(),
                clients.deliveries_known.clone(),
            );
            std::thread::spawn(move || {
                // after the stop: read on until every acknowledged record is seen (bounded)
                let mut drain_deadline: Option<Instant> = None;
                loop {
                    if stop.load(Ordering::Acquire) {
                        let deadline = *drain_deadline.get_or_insert(Instant::now() + STEP_TIMEOUT);
                        // the producer publishes `acked` once every delivery is known
                        if deliveries_known.load(Ordering::Acquire)
                            && acked.lock().unwrap().is_subset(&seen.lock().unwrap())
                        {
                            return;
                        }
                        if Instant::now() > deadline {
                            return;
                        }
                    }
                    match consumer.poll(Duration::from_millis(200)) {
                        None => {}
                        Some(Ok(message)) => {
                            if let Some(value) = message.payload_view::<str>().and_then(|v| v.ok())
                            {
                                seen.lock().unwrap().insert(value.to_string());
                            }
                        }
                        Some(Err(e)) => {
                            let retriable = e.rdkafka_error_code().is_some_and(is_retriable);
                            if !retriable {
                                errors.lock().unwrap().push(format!("consumer: {e}"));
                            }
                        }
                    }
                }
            })
        };
        Clients {
            threads: vec![producer_thread, consumer_thread],
            ..clients
        }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::Acquire)
    }

    /// Stops producing, waits for every delivery and for the group to read what was
    /// acknowledged; returns (acknowledged, acknowledged but not read, errors).
    fn finish(self) -> (usize, Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Release);
        for thread in self.threads {
            thread.join().expect("a client thread panicked");
        }
        let acked = self.acked.lock().unwrap().clone();
        let seen = self.seen.lock().unwrap().clone();
        let missing: Vec<String> = acked.difference(&seen).take(20).cloned().collect();
        let errors = self.errors.lock().unwrap().clone();
        (acked.len(), missing, errors)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_configs_restart_nothing_and_a_roll_waits_for_sync_and_loses_nothing() {
    let env = OperatorEnv::start(SPEC, "roll", &ZONES).await;
    let (client, ns, agent) = (&env.client, &env.ns, &env.agent);
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let bootstrap = format!("{CLUSTER}-bootstrap.{ns}.svc:9092");

    common::apply(client, ns, &cluster_manifest(&[]))
        .await
        .expect("the KafkaCluster is accepted");
    settled(
        &clusters,
        READY_TIMEOUT,
        "the new cluster is Ready and not rolling",
    )
    .await;
    common::apply(client, ns, &topic_manifest())
        .await
        .expect("the Topic is accepted");
    {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || {
                BootstrapServers(bootstrap).wait_for_topic(TOPIC, 3)
            })
        });
    }

    // 1. a dynamic config: applied at runtime, nothing restarts
    let uids = pod_uids(client, ns).await;
    assert_eq!(uids.len(), 3, "three pods: {uids:?}");
    let revision = update_revision(client, ns).await;
    common::apply(
        client,
        ns,
        &cluster_manifest(&[("log.retention.ms", "3600000")]),
    )
    .await
    .expect("the dynamic change is accepted");
    event_naming(client, ns, "DynamicConfigApplied", "log.retention.ms").await;
    let described = {
        let bootstrap = bootstrap.clone();
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || {
                let brokers = BootstrapServers(bootstrap);
                let deadline = Instant::now() + STEP_TIMEOUT;
                loop {
                    let values: Vec<Option<String>> = (0..3)
                        .map(|id| {
                            brokers
                                .broker_configs(id)
                                .get("log.retention.ms")
                                .cloned()
                                .flatten()
                        })
                        .collect();
                    if values.iter().all(|v| v.as_deref() == Some("3600000"))
                        || Instant::now() > deadline
                    {
                        return values;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        })
    };
    assert_eq!(
        described,
        vec![Some("3600000".to_string()); 3],
        "every broker describes the new log.retention.ms"
    );
    settled(
        &clusters,
        STEP_TIMEOUT,
        "the cluster is Ready and not rolling after the dynamic change",
    )
    .await;
    assert_eq!(
        pod_uids(client, ns).await,
        uids,
        "a dynamic config change restarts no pod"
    );
    assert_eq!(
        update_revision(client, ns).await,
        revision,
        "a dynamic config change leaves the pod template as it was"
    );

    // 2. a roll refuses to go on while a partition is at min.insync.replicas
    let frozen = format!("{CLUSTER}-combined-2");
    let pids = broker_pids(&frozen);
    assert_eq!(pids.len(), 1, "one broker process for {frozen}: {pids:?}");
    signal(&pids, libc::SIGSTOP);
    let shrunk = wait_until(
        STEP_TIMEOUT,
        "broker 2 leaves every ISR of the topic",
        || {
            let bootstrap = bootstrap.clone();
            let agent = &agent;
            async move {
                let isrs = tokio::task::block_in_place(|| isrs(agent, &bootstrap))?;
                isrs.iter().all(|isr| !isr.contains(&2)).then_some(isrs)
            }
        },
    )
    .await;
    assert!(
        shrunk.iter().all(|isr| isr == &vec![0, 1]),
        "with broker 2 frozen the ISRs are [0, 1]: {shrunk:?}"
    );
    let first = format!("{CLUSTER}-combined-0");
    let first_uid = uids[&first].clone();
    pod_api
        .patch(
            &first,
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"metadata": {"annotations": {"ironlog.dev/roll": "true"}}}),
            ),
        )
        .await
        .expect("annotate pod 0 for a restart");
    let blocked = wait_until(
        STEP_TIMEOUT,
        "the Rolling condition says the roll is blocked",
        || async {
            let cluster = clusters.get(CLUSTER).await.ok()?;
            let (status, reason, message, _) = condition(&cluster, "Rolling")?;
            (status == "True" && reason == "RollBlocked").then_some(message)
        },
    )
    .await;
    assert!(
        blocked.contains("min.insync.replicas 2")
            && blocked.contains(&format!("restarting broker 0 (pod {first})")),
        "the condition says why: {blocked}"
    );
    let roll = clusters
        .get(CLUSTER)
        .await
        .expect("the cluster")
        .status
        .and_then(|s| s.roll)
        .expect("status.roll while blocked");
    assert_eq!(roll.pending_pods, vec![first.clone()]);
    assert_eq!(roll.blocked_reason.as_deref(), Some(blocked.as_str()));
    assert_eq!(
        pod_api
            .get(&first)
            .await
            .expect("pod 0")
            .metadata
            .uid
            .as_deref(),
        Some(first_uid.as_str()),
        "a blocked roll restarts nothing"
    );
    signal(&pids, libc::SIGCONT);
    wait_until(
        STEP_TIMEOUT,
        "pod 0 is restarted once broker 2 is back in sync",
        || {
            let api = pod_api.clone();
            let first = first.clone();
            let first_uid = first_uid.clone();
            async move {
                let pod = api.get_opt(&first).await.ok().flatten()?;
                (pod.metadata.uid.as_deref() != Some(first_uid.as_str())).then_some(())
            }
        },
    )
    .await;
    event_naming(client, ns, "RollingRestart", &first).await;
    settled(
        &clusters,
        ROLL_TIMEOUT,
        "the cluster is Ready and the annotated roll done",
    )
    .await;

    // 3. a static config change rolls every broker once, one at a time, clients running
    let before = starts(agent, ns);
    let uids = pod_uids(client, ns).await;
    let old_revision = update_revision(client, ns).await;
    let clients = tokio::task::block_in_place(|| Clients::start(agent, &bootstrap));
    wait_until(STEP_TIMEOUT, "the producer is under way", || async {
        (clients.sent() >= 100).then_some(())
    })
    .await;
    common::apply(
        client,
        ns,
        &cluster_manifest(&[("log.retention.ms", "3600000"), ("num.partitions", "2")]),
    )
    .await
    .expect("the static change is accepted");
    let most_down = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (client, ns, most_down) = (client.clone(), ns.clone(), most_down.clone());
        tokio::spawn(async move {
            loop {
                let running = pods(&client, &ns, CLUSTER).await;
                let up = running
                    .iter()
                    .filter(|p| is_ready(p) && p.metadata.deletion_timestamp.is_none())
                    .count();
                most_down.fetch_max(3usize.saturating_sub(up), Ordering::AcqRel);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let new_revision = wait_until(ROLL_TIMEOUT, "every pod runs the new template", || async {
        let revision = update_revision(client, ns).await?;
        if Some(&revision) == old_revision.as_ref() {
            return None;
        }
        let running = pods(client, ns, CLUSTER).await;
        (running.len() == 3
            && running.iter().all(|p| {
                is_ready(p)
                    && p.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("controller-revision-hash"))
                        == Some(&revision)
            }))
        .then_some(revision)
    })
    .await;
    settled(
        &clusters,
        ROLL_TIMEOUT,
        "the cluster is Ready and the roll done",
    )
    .await;
    watcher.abort();
    let (acked, missing, errors) = tokio::task::block_in_place(|| clients.finish());
    assert!(
        acked >= 100,
        "the producer got acknowledgements through the roll ({acked})"
    );
    assert!(
        missing.is_empty(),
        "acknowledged records the consumer group never read (first 20): {missing:?}"
    );
    assert!(
        errors.is_empty(),
        "client errors beyond retriable ones: {errors:?}"
    );
    assert!(
        most_down.load(Ordering::Acquire) <= 1,
        "at most one broker was down at a time, saw {}",
        most_down.load(Ordering::Acquire)
    );
    let after = starts(agent, ns);
    for (pod, count) in &after {
        assert_eq!(
            *count,
            before[pod] + 1,
            "{pod} restarted exactly once in the roll (starts before {before:?}, after {after:?})"
        );
    }
    let now = pod_uids(client, ns).await;
    for (pod, uid) in &uids {
        assert_ne!(now.get(pod), Some(uid), "{pod} was restarted");
    }
    assert_ne!(
        Some(new_revision),
        old_revision,
        "a static change is a new template"
    );

    drop(env);
}
