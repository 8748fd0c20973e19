//! A 3-node cluster of combined nodes started with the cluster issue's exact command line
//! (the test kit's `TestCluster`): formation in any order and at different times, topics
//! created through any node, controller failover after kill -9, a restart of every node,
//! controlled shutdown on SIGTERM, fencing of a silent broker, a forwarded request that a
//! missed heartbeat does not cut, every node's admin listener
//! and its readiness without a controller, and the refusals — a data
//! dir of another cluster, a second registration of a live node id, raft RPCs where they
//! do not belong. Until replication lands, a partition's data lives only on its leader:
//! these tests check metadata, leadership and admin behaviour as clients see them.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use kafka_protocol::messages::broker_registration_request::Listener as RegistrationListener;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    BrokerId, BrokerRegistrationRequest, CreateTopicsRequest, DescribeClusterRequest, TopicName,
    UnregisterBrokerRequest,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::Consumer;

const WAIT: Duration = Duration::from_secs(60);

/// Kafka error codes the tests expect by number.
const DUPLICATE_BROKER_REGISTRATION: i16 = 101;
const INCONSISTENT_CLUSTER_ID: i16 = 104;
const NOT_CONTROLLER: i16 = 41;
const BROKER_ID_NOT_REGISTERED: i16 = 102;

fn three_nodes() -> ClusterSpec {
    cluster_spec(3)
        .set("default.replication.factor", "3")
        .set("min.insync.replicas", "2")
}

/// One partition as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionView {
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

/// What node `id`'s Metadata answers: the broker ids and `topic`'s partitions.
fn metadata(cluster: &TestCluster, id: i32, topic: &str) -> Option<(Vec<i32>, Vec<PartitionView>)> {
    let consumer = cluster.node(id).consumer();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let mut brokers: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
    brokers.sort();
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() {
        return Some((brokers, Vec::new()));
    }
    let mut partitions: Vec<_> = t.partitions().iter().collect();
    partitions.sort_by_key(|p| p.id());
    let partitions = partitions
        .iter()
        .map(|p| PartitionView {
            leader: p.leader(),
            replicas: p.replicas().to_vec(),
            isr: p.isr().to_vec(),
        })
        .collect();
    Some((brokers, partitions))
}

/// Waits until node `id` lists `partitions` partitions of `topic`, all led, and returns them.
fn await_topic(
    cluster: &TestCluster,
    id: i32,
    topic: &str,
    partitions: usize,
) -> Vec<PartitionView> {
    let mut seen = Vec::new();
    wait_until(
        WAIT,
        &format!("node {id} to list {partitions} led partitions of {topic}"),
        || match metadata(cluster, id, topic) {
            Some((_, p)) if p.len() == partitions && p.iter().all(|p| p.leader >= 0) => {
                seen = p;
                true
            }
            _ => false,
        },
    );
    seen
}

/// Creates `topic` through node `via` only (its client listener as the one bootstrap).
fn create_topic_via(cluster: &TestCluster, via: i32, topic: &str, partitions: i32, rf: i32) {
    let admin: rdkafka::admin::AdminClient<_> = client_config(cluster.node(via).bootstrap())
        .create()
        .expect("admin client");
    let results = block_on(admin.create_topics(
        &[NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(rf),
        )],
        &admin_options().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .expect("CreateTopics round trip");
    for result in results {
        if let Err((name, code)) = result {
            panic!("creating {name} through node {via} failed: {code:?}");
        }
    }
}

/// The active controller, as DescribeQuorum (forwarded by node `via`) reports it.
fn active_controller(cluster: &TestCluster, via: i32) -> i32 {
    cluster.active_controller(via, WAIT)
}

fn kcat_lists_three_brokers(bootstrap: &str) {
    let kcat = require_kcat();
    let out = Command::new(&kcat)
        .args(["-L", "-b", bootstrap, "-m", "10"])
        .output()
        .expect("run kcat");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kcat -L -b {bootstrap} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(" 3 brokers:"),
        "kcat -L -b {bootstrap} does not list 3 brokers:\n{text}"
    );
}

#[test]
fn three_nodes_started_in_any_order_at_different_times_form_one_cluster() {
    let cluster = three_nodes()
        .start_order(&[3, 1, 2], Duration::from_millis(1500))
        .start();
    let topic = topic_name("rf3");
    create_topic_via(&cluster, 2, &topic, 6, 3);
    let mut leaders = BTreeSet::new();
    for id in cluster.node_ids() {
        let partitions = await_topic(&cluster, id, &topic, 6);
        let (brokers, _) = metadata(&cluster, id, &topic).expect("metadata");
        assert_eq!(brokers, vec![1, 2, 3], "node {id} lists every broker");
        for p in &partitions {
            let mut replicas = p.replicas.clone();
            replicas.sort();
            assert_eq!(
                replicas,
                vec![1, 2, 3],
                "node {id}: every partition on all three: {p:?}"
            );
            leaders.insert(p.leader);
        }
        kcat_lists_three_brokers(cluster.node(id).bootstrap());
    }
    assert_eq!(
        leaders.len(),
        3,
        "leaders of 6 partitions are spread over the 3 brokers: {leaders:?}"
    );
    // every node knows one cluster id, written once
    let ids: BTreeSet<String> = cluster
        .node_ids()
        .iter()
        .map(|id| {
            let text =
                std::fs::read_to_string(cluster.node(*id).data_dir().join("meta.properties"))
                    .expect("meta.properties written");
            text.lines()
                .find_map(|l| l.strip_prefix("cluster.id="))
                .expect("cluster.id in meta.properties")
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one cluster id for all nodes: {ids:?}");
}

#[test]
fn killing_the_active_controller_fails_over_and_every_node_can_restart() {
    let mut cluster = three_nodes().start();
    let before = topic_name("before");
    create_topic_via(&cluster, 1, &before, 3, 3);
    let controller = active_controller(&cluster, 1);
    cluster.kill9_node(controller);
    let survivor = cluster
        .node_ids()
        .into_iter()
        .find(|id| *id != controller)
        .unwrap();
    let new_controller = active_controller(&cluster, survivor);
    assert_ne!(
        new_controller, controller,
        "another node became the active controller"
    );
    let after = topic_name("after");
    for via in cluster
        .node_ids()
        .into_iter()
        .filter(|id| *id != controller)
    {
        create_topic_via(&cluster, via, &format!("{after}-{via}"), 2, 2);
    }
    cluster.restart_node(controller);
    cluster.wait_ready(WAIT);
    for id in cluster.node_ids() {
        await_topic(&cluster, id, &before, 3);
        for via in cluster.node_ids().into_iter().filter(|v| *v != controller) {
            await_topic(&cluster, id, &format!("{after}-{via}"), 2);
        }
    }
    // every node down, then up again: the metadata stays
    cluster.restart_all();
    for id in cluster.node_ids() {
        await_topic(&cluster, id, &before, 3);
    }
    create_topic_via(&cluster, 3, &topic_name("restarted"), 1, 3);
}

#[test]
fn sigterm_moves_leadership_away_before_the_broker_exits() {
    // a long session: a broker that simply vanished would keep its leaderships (shown as
    // no leader) well beyond this test's checks
    let mut cluster = three_nodes()
        .set("broker.session.timeout.ms", "60000")
        .start();
    let topic = topic_name("ctrl-shutdown");
    create_topic_via(&cluster, 1, &topic, 6, 3);
    let partitions = await_topic(&cluster, 1, &topic, 6);
    let controller = active_controller(&cluster, 1);
    let victim = partitions
        .iter()
        .map(|p| p.leader)
        .find(|l| *l != controller)
        .expect("a partition led by a node that is not the active controller");
    cluster.stop_node(victim);
    assert!(
        cluster
            .node(victim)
            .log_text()
            .contains("controlled shutdown"),
        "node {victim} did not go through controlled shutdown:\n{}",
        cluster.node(victim).log_tail()
    );
    // It stopped serving only once its own partitions knew they no longer lead (as Kafka's
    // broker waits to catch up to its controlled shutdown's records): before that, an
    // acks=all produce appended there would wait on followers that no longer fetch from it.
    let log = cluster.node(victim).log_text();
    let position = |line: &str| {
        log.find(line).unwrap_or_else(|| {
            panic!(
                "node {victim} never logged {line:?}:\n{}",
                cluster.node(victim).log_tail()
            )
        })
    };
    let granted = position("controlled shutdown complete");
    let applied = position("this broker's partitions applied the image that fenced it");
    let stopped = position("shutdown: background tasks stopped");
    assert!(
        granted < applied && applied < stopped,
        "node {victim} stopped its tasks before its partitions applied its fencing:\n{}",
        cluster.node(victim).log_tail()
    );
    let survivor = cluster
        .node_ids()
        .into_iter()
        .find(|id| *id != victim)
        .unwrap();
    let after = metadata(&cluster, survivor, &topic).expect("metadata").1;
    for (before, now) in partitions.iter().zip(&after) {
        assert!(
            now.leader >= 0 && now.leader != victim,
            "leadership moved before node {victim} exited: {before:?} → {now:?}"
        );
        assert!(
            !now.isr.contains(&victim),
            "node {victim} left the ISR: {now:?}"
        );
    }
}

/// A node on its way down stands for no election: with the active controller killed while
/// it waits in its controlled shutdown, the third node must take over. Had the stopping
/// node won, it would leave moments later and the survivor, one voter of three, could elect
/// nobody.
#[test]
fn a_stopping_node_does_not_become_the_active_controller() {
    let mut cluster = three_nodes()
        .set("broker.session.timeout.ms", "20000")
        .start();
    let controller = active_controller(&cluster, 1);
    let mut others = cluster
        .node_ids()
        .into_iter()
        .filter(|id| *id != controller);
    let (stopping, survivor) = (
        others.next().expect("a second node"),
        others.next().expect("a third node"),
    );
    let pid = cluster
        .node(stopping)
        .pid()
        .expect("the stopping node runs") as i32;
    // SAFETY: kill(2) on the pid of a broker process this test started and has not reaped.
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGTERM) },
        0,
        "SIGTERM to node {stopping}"
    );
    cluster.kill9_node(controller);
    let status = cluster.node_mut(stopping).wait_for_exit(WAIT);
    assert!(
        status.success(),
        "node {stopping} exited with {status} after SIGTERM"
    );
    let leader = active_controller(&cluster, survivor);
    assert_eq!(
        leader, survivor,
        "node {survivor} leads the quorum after node {controller} died and node {stopping} stopped"
    );
}

#[test]
fn a_silent_broker_is_fenced_and_unfenced_when_it_heartbeats_again() {
    let cluster = three_nodes()
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "300")
        .start();
    let topic = topic_name("fencing");
    create_topic_via(&cluster, 1, &topic, 6, 3);
    let partitions = await_topic(&cluster, 1, &topic, 6);
    let controller = active_controller(&cluster, 1);
    let victim = partitions
        .iter()
        .map(|p| p.leader)
        .find(|l| *l != controller)
        .expect("a partition led by a node that is not the active controller");
    let pid = cluster.node(victim).pid().expect("running") as i32;
    // SAFETY: signalling a child process this test started.
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGSTOP) },
        0,
        "SIGSTOP node {victim}"
    );
    let observer = controller;
    wait_until(
        WAIT,
        &format!("node {victim} fenced: gone from Metadata, its leaderships moved"),
        || {
            metadata(&cluster, observer, &topic).is_some_and(|(brokers, p)| {
                !brokers.contains(&victim) && p.iter().all(|p| p.leader >= 0 && p.leader != victim)
            })
        },
    );
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGCONT) },
        0,
        "SIGCONT node {victim}"
    );
    wait_until(
        WAIT,
        &format!("node {victim} unfenced: listed again"),
        || {
            metadata(&cluster, observer, &topic)
                .is_some_and(|(brokers, _)| brokers == vec![1, 2, 3])
        },
    );
}

/// A heartbeat the active controller leaves unanswered closes its connection; a forwarded
/// admin request in flight at that moment goes on another one (Kafka's separate channels)
/// and gets its own answer. Were it cut and resent, the resent CreateTopics could find the
/// first one done and answer TOPIC_ALREADY_EXISTS for a topic nobody else created.
#[test]
fn a_heartbeat_gone_unanswered_does_not_cut_a_forwarded_create_topics() {
    // heartbeats bounded by half the session (1.5 s), a frozen controller not replaced
    // for much longer than that
    let cluster = three_nodes()
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "200")
        .set("controller.quorum.fetch.timeout.ms", "20000")
        .start();
    let controller = active_controller(&cluster, 1);
    let via = (1..=3).find(|id| *id != controller).expect("another node");
    let topic = topic_name("frozen-controller");
    let unanswered = "BrokerHeartbeat";
    let before = cluster
        .node(via)
        .log_text()
        .lines()
        .filter(|l| l.contains("got no response") && l.contains(unanswered))
        .count();
    let pid = cluster.node(controller).pid().expect("running") as i32;
    // SAFETY: signalling a child process this test started.
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGSTOP) },
        0,
        "SIGSTOP node {controller}"
    );
    let bootstrap = cluster.node(via).bootstrap().to_string();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.clone())))
            .with_num_partitions(1)
            .with_replication_factor(3)]);
    let create = std::thread::spawn(move || {
        RawClient::connect(&bootstrap).expect_call(7, &request, "CreateTopics")
    });
    // the forward is on its way to the frozen controller; node `via`'s next heartbeat
    // goes unanswered and its connection is closed
    // (a panic here leaves it stopped: the cluster's drop kills it with SIGKILL)
    wait_until(
        WAIT,
        &format!("node {via} to log a BrokerHeartbeat without an answer"),
        || {
            cluster
                .node(via)
                .log_text()
                .lines()
                .filter(|l| l.contains("got no response") && l.contains(unanswered))
                .count()
                > before
        },
    );
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGCONT) },
        0,
        "SIGCONT node {controller}"
    );
    let created = create.join().expect("the CreateTopics thread");
    assert_eq!(
        created.topics.first().map(|t| t.error_code),
        Some(0),
        "CreateTopics {topic} through node {via} while the controller was frozen: {created:?}"
    );
}

/// The broker ids DescribeCluster v2 through node `id` lists with the fenced ones
/// (KIP-1073), sorted, each with whether it is fenced; `None` when it fails.
fn described_brokers(cluster: &TestCluster, id: i32) -> Option<Vec<(i32, bool)>> {
    let response = cluster
        .node(id)
        .raw()
        .call(
            2,
            &DescribeClusterRequest::default().with_include_fenced_brokers(true),
        )
        .ok()?;
    if response.error_code != 0 {
        return None;
    }
    let mut ids: Vec<(i32, bool)> = response
        .brokers
        .iter()
        .map(|b| (b.broker_id.0, b.is_fenced))
        .collect();
    ids.sort();
    Some(ids)
}

/// UnregisterBroker for `broker_id` through node `via`: its error code, once no longer
/// NOT_CONTROLLER (a controller election under way).
fn unregister_broker(cluster: &TestCluster, via: i32, broker_id: i32) -> i16 {
    let request = UnregisterBrokerRequest::default().with_broker_id(BrokerId(broker_id));
    let mut code = None;
    wait_until(
        WAIT,
        &format!("UnregisterBroker {broker_id} through node {via} to reach a controller"),
        || {
            code = cluster
                .node(via)
                .raw()
                .call(0, &request)
                .ok()
                .map(|r| r.error_code)
                .filter(|c| *c != NOT_CONTROLLER);
            code.is_some()
        },
    );
    code.unwrap_or(NOT_CONTROLLER)
}

/// KIP-746: a stopped node is unregistered through a node that forwards the request to the
/// active controller; DescribeCluster and Metadata on every node stop listing it, its
/// partitions' ISRs leave it out, an unknown or already removed id is
/// BROKER_ID_NOT_REGISTERED, and the node registers again when it starts.
#[test]
fn a_stopped_broker_is_unregistered_and_registers_again_when_it_starts() {
    let mut cluster = three_nodes()
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "300")
        .start();
    let topic = topic_name("unregister");
    create_topic_via(&cluster, 1, &topic, 3, 3);
    await_topic(&cluster, 1, &topic, 3);
    let controller = active_controller(&cluster, 1);
    let others: Vec<i32> = [1, 2, 3].into_iter().filter(|&n| n != controller).collect();
    // the request goes through a node that is not the active controller (forwarded)
    let (via, victim) = (others[0], others[1]);
    assert_eq!(
        unregister_broker(&cluster, via, 42),
        BROKER_ID_NOT_REGISTERED,
        "an id that never registered"
    );
    cluster.stop_node(victim);
    let staying: Vec<i32> = [1, 2, 3].into_iter().filter(|&n| n != victim).collect();
    let listed = |fenced_victim: bool| -> Vec<(i32, bool)> {
        let mut ids: Vec<(i32, bool)> = staying.iter().map(|&n| (n, false)).collect();
        if fenced_victim {
            ids.push((victim, true));
            ids.sort();
        }
        ids
    };
    // stopped, node {victim} is fenced but still registered
    wait_until(
        WAIT,
        &format!("DescribeCluster through node {via} to list node {victim} as fenced"),
        || described_brokers(&cluster, via) == Some(listed(true)),
    );
    assert_eq!(
        unregister_broker(&cluster, via, victim),
        0,
        "unregistering stopped node {victim}"
    );
    assert_eq!(
        described_brokers(&cluster, via),
        Some(listed(false)),
        "DescribeCluster (fenced brokers included) through node {via} right after the \
         UnregisterBroker answer"
    );
    for &node in &staying {
        wait_until(
            WAIT,
            &format!("node {node} to list only brokers {staying:?} (DescribeCluster, Metadata) with {victim} out of every ISR"),
            || {
                described_brokers(&cluster, node) == Some(listed(false))
                    && metadata(&cluster, node, &topic).is_some_and(|(brokers, p)| {
                        brokers == staying && p.iter().all(|p| !p.isr.contains(&victim))
                    })
            },
        );
    }
    assert_eq!(
        unregister_broker(&cluster, via, victim),
        BROKER_ID_NOT_REGISTERED,
        "a second UnregisterBroker of node {victim}"
    );
    cluster.restart_node(victim);
    for node in [1, 2, 3] {
        wait_until(
            WAIT,
            &format!("node {node} to list brokers 1, 2, 3 after node {victim} registered again"),
            || described_brokers(&cluster, node) == Some(vec![(1, false), (2, false), (3, false)]),
        );
    }
}

/// The sum of the samples of `family` on `url`'s `/metrics` whose labels include `label`
/// (`request="CreateTopics"`).
fn metric_sum(url: &str, family: &str, label: &str) -> f64 {
    let (status, text) = http("GET", &format!("{url}/metrics"), None);
    assert_eq!(status, 200, "GET {url}/metrics: {text}");
    text.lines()
        .filter(|line| line.starts_with(&format!("{family}{{")) && line.contains(label))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// `GET /health/ready` of `url`: (status, body).
fn readiness(url: &str) -> (u16, String) {
    http("GET", &format!("{url}/health/ready"), None)
}

#[test]
fn every_node_has_its_own_admin_listener_counts_forwarded_requests_and_is_not_ready_without_a_controller(
) {
    let mut cluster = three_nodes()
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "300")
        .start();
    let urls: BTreeMap<i32, String> = cluster
        .node_ids()
        .into_iter()
        .map(|id| {
            let url = cluster.node(id).admin_url().unwrap_or_else(|| {
                panic!("node {id} printed no `ironlog: listener ADMIN bound to` line")
            });
            (id, url)
        })
        .collect();
    let distinct: BTreeSet<&String> = urls.values().collect();
    assert_eq!(
        distinct.len(),
        3,
        "each node's port-0 admin listener has a port of its own: {urls:?}"
    );
    for (id, url) in &urls {
        wait_until(WAIT, &format!("node {id} ready at {url}"), || {
            readiness(url).0 == 200
        });
    }
    // A CreateTopics through a node that is not the active controller counts there and,
    // under its own name (not as an Envelope), on the controller that served it.
    let controller = active_controller(&cluster, 1);
    let via = cluster
        .node_ids()
        .into_iter()
        .find(|id| *id != controller)
        .expect("a node that is not the active controller");
    let requests = "kafka_network_requestmetrics_requests_total";
    let create_topics = r#"request="CreateTopics""#;
    let before = metric_sum(&urls[&controller], requests, create_topics);
    // Sent to node `via` itself (an admin client would send it to the controller Metadata
    // names), which forwards it in an Envelope.
    let topic = topic_name("forwarded");
    let created = RawClient::connect(cluster.node(via).bootstrap()).expect_call(
        7,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                .with_num_partitions(1)
                .with_replication_factor(3)]),
        "CreateTopics",
    );
    assert_eq!(
        created.topics.first().map(|t| t.error_code),
        Some(0),
        "CreateTopics {topic} through node {via}: {created:?}"
    );
    assert!(
        metric_sum(&urls[&via], requests, create_topics) >= 1.0,
        "node {via} counts the CreateTopics it forwarded"
    );
    assert!(
        metric_sum(&urls[&controller], requests, create_topics) > before,
        "the controller (node {controller}) counts the forwarded CreateTopics under its name"
    );
    assert_eq!(
        metric_sum(&urls[&controller], requests, r#"request="Envelope""#),
        0.0,
        "an Envelope is counted as the request inside it"
    );
    assert!(
        metric_sum(
            &urls[&controller],
            "kafka_server_socket_server_metrics_connection_creation_total",
            r#"listener="CONTROLLER""#
        ) >= 1.0,
        "the controller listener's connections are counted"
    );
    // Nodes 2 and 3 gone: node 1 has no controller to heartbeat to, and after a session
    // timeout counts as fenced — still live, no longer ready.
    cluster.kill9_node(2);
    cluster.kill9_node(3);
    let url = &urls[&1];
    let mut last = (0, String::new());
    wait_until(
        WAIT,
        "node 1 not ready once no controller answers its heartbeats",
        || {
            last = readiness(url);
            last.0 == 503
        },
    );
    assert!(
        last.1.contains(r#""registered":false"#) && last.1.contains(r#""ready":false"#),
        "the readiness body names the registration check as failing: {}",
        last.1
    );
    assert_eq!(
        http("GET", &format!("{url}/health/live"), None).0,
        200,
        "node 1 is still live while not ready"
    );
    // A quorum again (nodes 1 and 2): node 1 heartbeats, is unfenced, ready.
    cluster.restart_node(2);
    wait_until(WAIT, "node 1 ready again once a controller answers", || {
        readiness(url).0 == 200
    });
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

#[test]
fn a_data_dir_of_another_cluster_is_refused_naming_both_ids() {
    let mut other = three_nodes().start();
    let other_id = other.node(3).data_dir();
    other.stop_node(1);
    other.stop_node(2);
    other.stop_node(3);
    let other_meta = std::fs::read_to_string(other_id.join("meta.properties")).expect("meta");

    let mut cluster = three_nodes().start();
    let topic = topic_name("kept");
    create_topic_via(&cluster, 1, &topic, 3, 3);
    cluster.stop_node(3);
    let dir = cluster.node(3).data_dir();
    let own_meta = std::fs::read_to_string(dir.join("meta.properties")).expect("meta");
    std::fs::remove_dir_all(&dir).expect("clear node 3's data dir");
    copy_dir(&other_id, &dir);
    let cluster_id = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("cluster.id="))
            .expect("cluster.id")
            .to_string()
    };
    let (ours, theirs) = (cluster_id(&own_meta), cluster_id(&other_meta));
    assert_ne!(ours, theirs);

    let node = cluster.node_mut(3);
    let command = node.command().clone();
    let status = Command::new(&command.binary)
        .args(command.args())
        .output()
        .expect("run node 3 on the other cluster's data dir");
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(
        !status.status.success(),
        "node 3 must refuse to serve another cluster's data"
    );
    assert!(
        stderr.contains(&ours)
            && stderr.contains(&theirs)
            && stderr.contains("INCONSISTENT_CLUSTER_ID"),
        "the refusal names both cluster ids ({ours}, {theirs}):\n{stderr}"
    );
    // the node's data is as it was, and the rest of the cluster keeps serving
    assert_eq!(
        std::fs::read_to_string(dir.join("meta.properties")).expect("meta"),
        other_meta,
        "nothing stored changed"
    );
    create_topic_via(&cluster, 1, &topic_name("still-serving"), 1, 2);
    await_topic(&cluster, 2, &topic, 3);
}

#[test]
fn a_second_registration_of_a_live_node_id_and_a_foreign_cluster_id_are_refused() {
    let cluster = three_nodes().start();
    let controller = active_controller(&cluster, 1);
    let controller_port = cluster
        .ports(controller)
        .controller
        .expect("controller port");
    let mut raw = RawClient::connect(&format!("127.0.0.1:{controller_port}"));
    let cluster_id = std::fs::read_to_string(cluster.node(1).data_dir().join("meta.properties"))
        .expect("meta")
        .lines()
        .find_map(|l| l.strip_prefix("cluster.id=").map(str::to_string))
        .expect("cluster id");
    let registration = |cluster_id: &str| {
        BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(2))
            .with_cluster_id(StrBytes::from_string(cluster_id.to_string()))
            .with_incarnation_id(uuid::Uuid::new_v4())
            .with_listeners(vec![RegistrationListener::default()
                .with_name(StrBytes::from_static_str("PLAINTEXT"))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(1)
                .with_security_protocol(0)])
    };
    let duplicate = raw.expect_call(4, &registration(&cluster_id), "BrokerRegistration");
    assert_eq!(
        duplicate.error_code, DUPLICATE_BROKER_REGISTRATION,
        "node 2 is alive: a second registration is refused"
    );
    let foreign = raw.expect_call(
        4,
        &registration("AnotherClusterIdXXXXXX"),
        "BrokerRegistration",
    );
    assert_eq!(foreign.error_code, INCONSISTENT_CLUSTER_ID);
    // nothing changed: node 2 is still listed at its own address
    let md = cluster
        .node(1)
        .consumer()
        .fetch_metadata(None, Duration::from_secs(5))
        .expect("metadata");
    let node2 = md
        .brokers()
        .iter()
        .find(|b| b.id() == 2)
        .expect("node 2 listed");
    assert_eq!(
        format!("{}:{}", node2.host(), node2.port()),
        cluster.node(2).bootstrap(),
        "node 2's registration is untouched"
    );

    // the raft RPCs are unknown keys on a client listener: the connection closes
    let mut socket = RawSocket::connect(cluster.node(1).bootstrap());
    socket.send_raw_request(32_001, 0, b"{}");
    assert!(
        socket.closed_by_broker_within(Duration::from_secs(10)),
        "a raft key on a client listener closes that connection"
    );
    let counts: BTreeMap<i32, usize> = cluster
        .node_ids()
        .into_iter()
        .map(|id| {
            let md = cluster
                .node(id)
                .consumer()
                .fetch_metadata(None, Duration::from_secs(5));
            (id, md.map_or(0, |md| md.brokers().len()))
        })
        .collect();
    assert!(
        counts.values().all(|n| *n == 3),
        "every node still serves: {counts:?}"
    );
}

#[test]
fn bad_role_and_listener_combinations_stop_the_node_with_kafkas_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = |node_id: &str, listener_names: &str| {
        vec![
            "broker".to_string(),
            "--override".to_string(),
            format!("node.id={node_id}"),
            "--override".to_string(),
            "process.roles=broker,controller".to_string(),
            "--override".to_string(),
            "controller.quorum.voters=1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3".to_string(),
            "--override".to_string(),
            format!("controller.listener.names={listener_names}"),
            "--override".to_string(),
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,OTHER:PLAINTEXT"
                .to_string(),
            "--override".to_string(),
            "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0".to_string(),
            "--override".to_string(),
            format!("log.dirs={}", dir.path().display()),
        ]
    };
    let cases = [
        (
            base("4", "CONTROLLER"),
            "If process.roles contains the 'controller' role, the node id 4 must be included in the set of voters controller.quorum.voters=Set(1, 2, 3)",
        ),
        (
            base("1", "OTHER"),
            "controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role",
        ),
    ];
    for (args, expected) in cases {
        let out = Command::new(IRONLOG_BINARY)
            .args(&args)
            .output()
            .expect("run ironlog");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must not start");
        assert!(
            stderr.contains(expected),
            "expected Kafka's message '{expected}':\n{stderr}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("read dir").count(),
        0,
        "a refused configuration writes nothing"
    );
}
