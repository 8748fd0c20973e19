//! Kafka's own Java stack against Ironlog: the Java client 4.1 (producer, classic and
//! consumer-protocol groups, exactly-once), its AdminClient, the 3.9 client's basics,
//! Kafka 4.1's command-line tools run by their main classes, and a Kafka Streams
//! application on a 3-node cluster through a broker kill -9. Each test runs one session of
//! `tests/clients/java` (a Maven project; `ironlog.*Session` main classes) against a fresh
//! broker (the reassignment session: a fresh four-broker cluster, every broker's address in
//! its bootstrap list; kafka-metadata-quorum: a 3-node cluster); a session runs many
//! scenarios in one JVM, prints `ok NAME` or `FAIL NAME: ...` for each and exits non-zero if
//! any failed, which the test prints.
//!
//! The sessions' expectations are Apache Kafka's answers: `tests/clients/java/
//! kafka-reference.sh` runs the same sessions against Kafka 4.1 started from the Maven jars.
//!
//! Without a JDK and Maven (`apt-get install openjdk-17-jdk-headless maven`, done by
//! test.sh), or without the Maven artifacts (resolved into ~/.m2 by test.sh, else by the
//! first test here), these tests fail, saying what is missing.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::*;

/// The groups in the sessions form as fast as their members join: no 3 s wait for more
/// members before each group's first rebalance (Kafka's default, kept by other tests;
/// kafka-reference.sh gives Kafka the same setting).
const BROKER_OVERRIDES: &[(&str, &str)] = &[("group.initial.rebalance.delay.ms", "0")];

/// Seconds one session may take (enforced with coreutils `timeout`).
const SESSION_TIMEOUT_SECS: u32 = 300;

/// The Maven project holding the sessions.
fn java_dir() -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "clients", "java"]
        .iter()
        .collect()
}

/// The classpaths the sessions run with: the compiled sessions plus kafka-clients 4.1 (and
/// kafka-tools, kafka_2.13), or plus kafka-clients 3.9 (`legacy/pom.xml`).
struct Classpaths {
    current: String,
    legacy: String,
}

/// Compiles the sessions and resolves both classpaths with Maven, once per test process
/// (under a file lock, as test processes may run side by side); fails the test with what
/// went wrong and how to fix it.
fn classpaths() -> &'static Classpaths {
    static CLASSPATHS: OnceLock<Result<Classpaths, String>> = OnceLock::new();
    match CLASSPATHS.get_or_init(build_classpaths) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn build_classpaths() -> Result<Classpaths, String> {
    let dir = java_dir();
    for (tool, arg) in [("java", "-version"), ("mvn", "-v")] {
        let ran = Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(ran, Ok(s) if s.success()) {
            return Err(format!(
                "`{tool} {arg}` does not run: install a JDK 17 and Maven \
                 (`apt-get install openjdk-17-jdk-headless maven`; ./test.sh does)"
            ));
        }
    }
    let script = "mvn -B -q compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt \
         && cd legacy && mvn -B -q dependency:build-classpath -Dmdep.outputFile=target/classpath.txt";
    let out = Command::new("flock")
        .arg(dir.join("target.lock"))
        .args(["sh", "-c", script])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run flock/mvn in {}: {e}", dir.display()))?;
    if !out.status.success() {
        return Err(format!(
            "building the Java sessions in {} failed ({}): {}\n{}\n(Maven needs Maven Central \
             or the artifacts in ~/.m2; ./test.sh resolves them)",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|cp| format!("{}:{}", dir.join("target/classes").display(), cp.trim()))
            .map_err(|e| format!("Maven wrote no classpath to {}: {e}", path.display()))
    };
    Ok(Classpaths {
        current: read(&dir.join("target/classpath.txt"))?,
        legacy: read(&dir.join("legacy/target/classpath.txt"))?,
    })
}

/// Runs `java ironlog.CLASS BOOTSTRAP` with `classpath` against a fresh broker and fails
/// with the session's report (and the broker's log) unless every scenario passed.
fn run_session(class: &str, classpath: &str) {
    run_session_with(class, classpath, &[]);
}

/// [`run_session`] on a broker with `extra` settings besides [`BROKER_OVERRIDES`].
fn run_session_with(class: &str, classpath: &str, extra: &[(&str, &str)]) {
    let overrides: Vec<(&str, &str)> = BROKER_OVERRIDES.iter().chain(extra).copied().collect();
    let broker = TestBroker::start_with(&overrides);
    ClientSession {
        program: "java".into(),
        script: PathBuf::from(format!("ironlog.{class}")),
        bootstrap: broker.bootstrap().to_string(),
        args: Vec::new(),
        dir: Some(java_dir()),
        env: vec![("CLASSPATH".into(), classpath.into())],
        timeout_secs: SESSION_TIMEOUT_SECS,
    }
    .run(&broker.log_tail());
}

/// Kafka 4.1's reassignment and election stack against a cluster of four brokers: the
/// AdminClient's alterPartitionReassignments / listPartitionReassignments / electLeaders,
/// kafka-reassign-partitions (--generate, --execute, --verify, --list) and
/// kafka-leader-election (PREFERRED, UNCLEAN), with Kafka's errors for bad input. The session
/// gets every broker's address as its bootstrap list.
#[test]
fn java_reassignment_session() {
    let classpath = &classpaths().current;
    let cluster = cluster_spec(4)
        .overrides(BROKER_OVERRIDES)
        .set("broker.session.timeout.ms", "3000")
        .set("broker.heartbeat.interval.ms", "300")
        .start();
    ClientSession {
        program: "java".into(),
        script: PathBuf::from("ironlog.ReassignSession"),
        bootstrap: cluster.bootstrap(),
        args: Vec::new(),
        dir: Some(java_dir()),
        env: vec![("CLASSPATH".into(), classpath.into())],
        timeout_secs: SESSION_TIMEOUT_SECS,
    }
    .run("(a failed cluster test keeps every node's log; see above)");
}

/// The Java client 4.1: the default producer (idempotent, acks=all) with every codec; classic
/// groups with range, cooperative-sticky and static members; the consumer protocol (KIP-848);
/// exactly-once consume-transform-produce with sendOffsetsToTransaction and fencing.
#[test]
fn java_client_session() {
    run_session("ClientSession", &classpaths().current);
}

/// The Java AdminClient 4.1 on every operation a single node implements: topics
/// (DescribeTopicPartitions, by id), configs (incrementalAlterConfigs on topics, brokers and
/// the cluster default), cluster, log dirs, offsets and DeleteRecords, group offsets,
/// transactions, producers, fencing, features.
#[test]
fn java_admin_session() {
    run_session("AdminSession", &classpaths().current);
}

/// The Java client 3.9 (applications not yet on 4.x): the default producer, a classic group
/// consumer resuming from its commit, and transactions.
#[test]
fn java_3_9_client_basics() {
    run_session("ClientBasics", &classpaths().legacy);
}

/// Kafka 4.1's command-line tools, each printing what it prints for Apache Kafka:
/// kafka-topics, kafka-configs (topics, brokers, the cluster default), console producer and
/// consumer, kafka-consumer-groups (list, describe, reset-offsets, delete-offsets, delete),
/// kafka-get-offsets, kafka-delete-records, kafka-log-dirs, kafka-transactions (list,
/// describe, describe-producers, find-hanging, abort), kafka-features, the perf tests.
#[test]
fn kafka_cli_tools_session() {
    run_session("ToolsSession", &classpaths().current);
}

/// ACLs with Kafka 4.1's `kafka-acls` (add, list with MATCH, remove; literal and prefixed
/// patterns; a refused binding) and the AdminClient's createAcls / describeAcls /
/// deleteAcls, on a broker with the StandardAuthorizer whose PLAINTEXT principal is a super
/// user (as kafka-reference.sh configures Kafka).
#[test]
fn java_acl_session() {
    run_session_with(
        "AclSession",
        &classpaths().current,
        &[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:ANONYMOUS"),
        ],
    );
}

/// Client quotas with Kafka 4.1's `kafka-configs` (--alter and --describe of a client id,
/// the default user, --delete-config) and the AdminClient's alterClientQuotas /
/// describeClientQuotas, with Kafka's refusal of an unknown key.
#[test]
fn java_quota_session() {
    run_session("QuotaSession", &classpaths().current);
}

/// Kafka 4.1's kafka-metadata-quorum against a 3-node cluster of combined nodes:
/// `describe --status` and `describe --replication` (plain and human-readable) print
/// Kafka's layout with this cluster's id, leader, voters and their endpoints, and the
/// followers' lags.
#[test]
fn kafka_metadata_quorum_on_a_three_node_cluster() {
    let cluster = cluster_spec(3).overrides(BROKER_OVERRIDES).start();
    ClientSession {
        program: "java".into(),
        script: PathBuf::from("ironlog.QuorumSession"),
        bootstrap: cluster.bootstrap(),
        args: Vec::new(),
        dir: Some(java_dir()),
        env: vec![
            ("CLASSPATH".into(), classpaths().current.clone()),
            ("IRONLOG_VOTERS".into(), cluster.voters()),
        ],
        timeout_secs: SESSION_TIMEOUT_SECS,
    }
    .run("a 3-node cluster: each node's log tail is printed as the test fails");
}

/// A Kafka Streams 4.1 application (a repartition, a RocksDB KTable backed by its changelog,
/// a windowed aggregation, exactly_once_v2) on a 3-node cluster: mid-run the session asks
/// for the broker coordinating its group to be killed with -9 and started again, later one
/// of its two instances comes back with its state wiped and restores from the changelogs;
/// the committed output must be exactly what the input adds up to.
#[test]
fn kafka_streams_exactly_once_through_a_broker_kill_and_a_restore() {
    let mut cluster = replicated_cluster_spec()
        .overrides(BROKER_OVERRIDES)
        .start();
    cluster.wait_ready(std::time::Duration::from_secs(60));
    let session = ClientSession {
        program: "java".into(),
        script: PathBuf::from("ironlog.StreamsSession"),
        bootstrap: cluster.bootstrap(),
        args: Vec::new(),
        dir: Some(java_dir()),
        env: vec![("CLASSPATH".into(), classpaths().current.clone())],
        timeout_secs: SESSION_TIMEOUT_SECS,
    };
    let mut killed = Vec::new();
    session.run_answering(
        "a 3-node cluster: each node's log tail is printed as the test fails",
        |line| {
            let id: i32 = line.strip_prefix("@@ kill-broker ")?.trim().parse().ok()?;
            cluster.kill9_node(id);
            cluster.restart_node(id);
            killed.push(id);
            Some("restarted".to_string())
        },
    );
    assert_eq!(
        killed.len(),
        1,
        "the session asked for exactly one broker kill: {killed:?}"
    );
}

/// One of Kafka's Java programs running in the background (VerifiableProducer and
/// VerifiableConsumer, whose JSON event lines on stdout are collected as they come;
/// MirrorMaker 2), its stderr kept in a file. Killed on drop.
struct JavaTool {
    child: std::process::Child,
    events: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    name: String,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl JavaTool {
    fn spawn(class: &str, args: &[&str]) -> JavaTool {
        let dir = tempfile::tempdir().expect("temp dir");
        let name = class.rsplit('.').next().unwrap_or(class).to_string();
        let stderr = dir.path().join(format!("{name}.stderr"));
        let mut child = Command::new("java")
            .arg(class)
            .args(args)
            .env("CLASSPATH", &classpaths().current)
            .current_dir(java_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run java {class}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&events);
        let reader = std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(event);
                }
            }
        });
        JavaTool {
            child,
            events,
            reader: Some(reader),
            name,
            stderr,
            _dir: dir,
        }
    }

    /// The events named `name` so far.
    fn named(&self, name: &str) -> Vec<serde_json::Value> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|e| e["name"] == name)
            .cloned()
            .collect()
    }

    /// SIGTERM (the tools' shutdown hooks flush and report), a bounded wait for the exit,
    /// then every event it printed.
    fn terminate(&mut self) -> Vec<serde_json::Value> {
        // SAFETY: kill(2) on our own unreaped child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        wait_until(
            std::time::Duration::from_secs(60),
            &format!("{} exits after SIGTERM", self.name),
            || matches!(self.child.try_wait(), Ok(Some(_))),
        );
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text[start..].to_string()
    }
}

impl Drop for JavaTool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kafka's VerifiableProducer (acks=all, with the client's default retries and
/// idempotence) and VerifiableConsumer (a classic group) across a rolling restart of a 3-node cluster, one broker at a time with a
/// controlled shutdown, as Kafka's own system tests check a broker: no send fails, every
/// acknowledged record is consumed, and each partition's log holds each value once, at
/// the offset its acknowledgement named.
#[test]
fn verifiable_producer_and_consumer_through_a_rolling_restart() {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;
    const WAIT: Duration = Duration::from_secs(120);
    let mut cluster = replicated_cluster_spec()
        .overrides(BROKER_OVERRIDES)
        .start();
    cluster.wait_ready(Duration::from_secs(60));
    let topic = topic_name("verifiable");
    cluster.create_replicated_topic(&topic, 3, 3, WAIT);
    let bootstrap = cluster.bootstrap();
    let group = topic_name("verifiable-group");
    // The tool sets retries=0 unless its config says otherwise; an application keeps the
    // client's defaults (retries, idempotence), which is what a clean bounce must serve.
    let config_dir = tempfile::tempdir().expect("temp dir");
    let producer_config = config_dir.path().join("producer.properties");
    std::fs::write(
        &producer_config,
        "retries=2147483647\nenable.idempotence=true\n",
    )
    .expect("write producer.properties");
    let producer_config = producer_config.display().to_string();
    let mut producer = JavaTool::spawn(
        "org.apache.kafka.tools.VerifiableProducer",
        &[
            "--producer.config",
            &producer_config,
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            &topic,
            "--acks",
            "-1",
            "--throughput",
            "200",
            "--max-messages",
            "-1",
        ],
    );
    let mut consumer = JavaTool::spawn(
        "org.apache.kafka.tools.VerifiableConsumer",
        &[
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            &topic,
            "--group-id",
            &group,
            "--verbose",
            "--reset-policy",
            "earliest",
            "--session-timeout",
            "10000",
        ],
    );
    let acked = |p: &JavaTool| p.named("producer_send_success").len();
    wait_until(
        WAIT,
        "the producer's first acknowledgements and the consumer's first records",
        || acked(&producer) >= 100 && !consumer.named("record_data").is_empty(),
    );
    for id in cluster.node_ids() {
        cluster.restart_node(id);
        cluster.await_full_isr_on_running(&topic, 3, WAIT);
        let before = acked(&producer);
        wait_until(
            WAIT,
            &format!("acknowledgements after broker {id} rejoined"),
            || acked(&producer) >= before + 50,
        );
    }
    let produced = producer.terminate();
    let errors: Vec<&serde_json::Value> = produced
        .iter()
        .filter(|e| e["name"] == "producer_send_error")
        .collect();
    assert!(
        errors.is_empty(),
        "{} sends failed during the rolling restart, e.g. {}\n{}",
        errors.len(),
        errors[0],
        producer.stderr_tail()
    );
    // (partition, offset) → value of every acknowledged record.
    let acks: BTreeMap<(i64, i64), String> = produced
        .iter()
        .filter(|e| e["name"] == "producer_send_success")
        .map(|e| {
            (
                (
                    e["partition"].as_i64().unwrap_or(-1),
                    e["offset"].as_i64().unwrap_or(-1),
                ),
                e["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        acks.len() >= 250,
        "the producer kept producing: {} acknowledged",
        acks.len()
    );

    let consumed = || -> BTreeSet<(i64, i64)> {
        consumer
            .named("record_data")
            .iter()
            .map(|e| {
                (
                    e["partition"].as_i64().unwrap_or(-1),
                    e["offset"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let seen = consumed();
        let missing: Vec<&(i64, i64)> = acks.keys().filter(|k| !seen.contains(k)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} acknowledged records never reached the consumer, e.g. (partition, \
             offset) {:?}\n{}",
            missing.len(),
            acks.len(),
            &missing[..missing.len().min(10)],
            consumer.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    consumer.terminate();

    for partition in 0..3 {
        let log = cluster.consume_all(&topic, partition, 0);
        let values: Vec<String> = log.iter().map(|r| r.value_str()).collect();
        let unique: BTreeSet<&String> = values.iter().collect();
        assert_eq!(
            unique.len(),
            values.len(),
            "partition {partition} holds a value twice"
        );
        for r in &log {
            if let Some(v) = acks.get(&(i64::from(partition), r.offset)) {
                assert_eq!(
                    &r.value_str(),
                    v,
                    "partition {partition} offset {}",
                    r.offset
                );
            }
        }
    }
}

/// MirrorMaker 2 (Kafka 4.1's dedicated mode) between a real Apache Kafka 4.1 node and
/// Ironlog, both ways at once — the migration path: a topic and its records arrive on the
/// other side under MM2's `source.topic` names, and a consumer group's committed offset on
/// Kafka is translated onto Ironlog, where the group resumes without skipping a record.
#[test]
fn mirror_maker_2_between_apache_kafka_and_ironlog() {
    use rdkafka::consumer::Consumer;
    use rdkafka::{Offset, TopicPartitionList};
    use std::time::Duration;
    const WAIT: Duration = Duration::from_secs(180);
    let ironlog = TestBroker::start_with(BROKER_OVERRIDES);
    let kafka = ApacheKafka::start(&classpaths().current, &[]);
    let on_kafka = BootstrapServers(kafka.bootstrap().to_string());
    let values = |prefix: &str, n: usize| -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    };

    let from_kafka = topic_name("from-kafka");
    on_kafka.create_topic(&from_kafka, 1, &[]);
    send_all(&on_kafka.producer(), &from_kafka, &values("k", 1_000));
    let group = topic_name("migrating");
    let committed_on_kafka = 600;
    {
        let consumer = on_kafka.consumer_with(&[("group.id", &group)]);
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&from_kafka, 0, Offset::Offset(committed_on_kafka))
            .expect("offset");
        consumer
            .commit(&offsets, rdkafka::consumer::CommitMode::Sync)
            .expect("the group commits on Kafka");
    }
    let from_ironlog = topic_name("from-ironlog");
    ironlog.create_topic(&from_ironlog, 1, &[]);
    send_all(&ironlog.producer(), &from_ironlog, &values("i", 500));

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("mm2.properties");
    std::fs::write(
        &config,
        format!(
            "clusters = kafka, ironlog\n\
             kafka.bootstrap.servers = {}\n\
             ironlog.bootstrap.servers = {}\n\
             kafka->ironlog.enabled = true\n\
             kafka->ironlog.topics = {from_kafka}\n\
             ironlog->kafka.enabled = true\n\
             ironlog->kafka.topics = {from_ironlog}\n\
             replication.factor = 1\n\
             checkpoints.topic.replication.factor = 1\n\
             heartbeats.topic.replication.factor = 1\n\
             offset-syncs.topic.replication.factor = 1\n\
             offset.storage.replication.factor = 1\n\
             status.storage.replication.factor = 1\n\
             config.storage.replication.factor = 1\n\
             sync.group.offsets.enabled = true\n\
             sync.group.offsets.interval.seconds = 1\n\
             emit.checkpoints.interval.seconds = 1\n\
             emit.heartbeats.interval.seconds = 1\n\
             refresh.topics.interval.seconds = 1\n\
             refresh.groups.interval.seconds = 1\n\
             offset.lag.max = 0\n",
            kafka.bootstrap(),
            ironlog.bootstrap()
        ),
    )
    .expect("write mm2.properties");
    let mm2 = JavaTool::spawn(
        "org.apache.kafka.connect.mirror.MirrorMaker",
        &[&config.display().to_string()],
    );
    let failed = |what: &str| format!("{what}\n----- MirrorMaker 2 -----\n{}", mm2.stderr_tail());

    // Kafka → Ironlog: the records, then the group's translated offset.
    let mirrored = format!("kafka.{from_kafka}");
    let deadline = std::time::Instant::now() + WAIT;
    let copied = await_mirrored(&ironlog, &mirrored, 1_000, deadline, &failed);
    assert_eq!(
        copied,
        values("k", 1_000),
        "Ironlog's {mirrored} holds Kafka's records in order"
    );

    let committed = |bootstrap: &str, topic: &str| -> Option<i64> {
        let consumer = consumer_for(bootstrap, &[("group.id", &group)]);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, 0);
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .ok()?;
        match got.find_partition(topic, 0)?.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }
    };
    let mut translated = None;
    while translated.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            failed(&format!(
                "group {group}'s offset was never translated onto Ironlog's {mirrored}"
            ))
        );
        std::thread::sleep(Duration::from_millis(500));
        translated = committed(ironlog.bootstrap(), &mirrored).filter(|o| *o > 0);
    }
    let translated = translated.unwrap_or_default();
    eprintln!("group {group}: committed {committed_on_kafka} on Kafka, translated to {translated}");
    assert!(
        translated <= committed_on_kafka,
        "a translated offset never skips records: {translated} > {committed_on_kafka}"
    );
    // The group resumes on Ironlog where MM2 put it: nothing it had not consumed is missed.
    let resumed: Vec<String> = ironlog
        .consume_all(&mirrored, 0, translated)
        .iter()
        .map(|r| r.value_str())
        .collect();
    assert_eq!(
        resumed,
        values("k", 1_000)[translated as usize..].to_vec(),
        "the group resumes on Ironlog at offset {translated} (committed {committed_on_kafka} on Kafka)"
    );

    // Ironlog → Kafka.
    let back = format!("ironlog.{from_ironlog}");
    let copied = await_mirrored(&on_kafka, &back, 500, deadline, &failed);
    assert_eq!(
        copied,
        values("i", 500),
        "Kafka's {back} holds Ironlog's records in order"
    );
}

/// Partition 0 of `topic` on `brokers` once it holds `count` records (MM2 still copying,
/// or the topic not there yet, are waited for until `deadline`); its values in order.
fn await_mirrored(
    brokers: &impl KafkaClients,
    topic: &str,
    count: i64,
    deadline: std::time::Instant,
    failed: &dyn Fn(&str) -> String,
) -> Vec<String> {
    use rdkafka::consumer::Consumer;
    loop {
        let high = brokers
            .consumer()
            .fetch_watermarks(topic, 0, std::time::Duration::from_secs(5))
            .map_or(0, |(_, high)| high);
        if high >= count {
            return brokers
                .consume_all(topic, 0, 0)
                .iter()
                .map(|r| r.value_str())
                .collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            failed(&format!("{high} of {count} records reached {topic}"))
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Kafka Connect's distributed worker (Kafka 4.1, JsonConverter) on Ironlog: its config,
/// offset and status topics (compacted, as the worker requires), its group protocol, a
/// FileStream source → topic → FileStream sink pipeline copying every line, the REST API
/// showing both connectors and their tasks RUNNING, and a worker restart (SIGTERM, lines
/// appended meanwhile) that resumes where it stopped: the sink file ends equal to the
/// source file, no line lost or doubled.
#[test]
fn kafka_connect_worker_copies_a_file_through_ironlog_and_resumes_after_a_restart() {
    use std::time::Duration;
    const WAIT: Duration = Duration::from_secs(120);
    let broker = TestBroker::start_with(BROKER_OVERRIDES);
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, output) = (dir.path().join("in.txt"), dir.path().join("out.txt"));
    let lines = |range: std::ops::Range<usize>| -> String {
        range.map(|i| format!("line {i}\n")).collect()
    };
    std::fs::write(&input, lines(0..100)).expect("write the source file");
    let id = topic_name("connect");
    let port = free_port();
    let rest = format!("http://127.0.0.1:{port}");
    let worker_config = dir.path().join("worker.properties");
    std::fs::write(
        &worker_config,
        format!(
            "bootstrap.servers={}\ngroup.id={id}\n\
             key.converter=org.apache.kafka.connect.json.JsonConverter\n\
             value.converter=org.apache.kafka.connect.json.JsonConverter\n\
             config.storage.topic={id}-configs\noffset.storage.topic={id}-offsets\n\
             status.storage.topic={id}-status\nconfig.storage.replication.factor=1\n\
             offset.storage.replication.factor=1\nstatus.storage.replication.factor=1\n\
             listeners=http://127.0.0.1:{port}\noffset.flush.interval.ms=1000\n",
            broker.bootstrap()
        ),
    )
    .expect("write worker.properties");
    let start_worker = || {
        let worker = JavaTool::spawn(
            "org.apache.kafka.connect.cli.ConnectDistributed",
            &[&worker_config.display().to_string()],
        );
        wait_until(WAIT, "the Connect worker's REST API answers", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http("GET", &format!("{rest}/connectors"), None).0 == 200
        });
        worker
    };
    let mut worker = start_worker();
    let topic = format!("{id}-lines");
    for (name, class, file_key, topic_key) in [
        ("source", "FileStreamSourceConnector", "file", "topic"),
        ("sink", "FileStreamSinkConnector", "file", "topics"),
    ] {
        let file = if name == "source" { &input } else { &output };
        let body = serde_json::json!({
            "name": name,
            "config": {
                "connector.class": format!("org.apache.kafka.connect.file.{class}"),
                "tasks.max": "1",
                file_key: file.display().to_string(),
                topic_key: topic,
            }
        });
        let (status, answer) = http_json(
            "POST",
            &format!("{rest}/connectors"),
            Some(&body.to_string()),
        );
        assert_eq!(
            status,
            201,
            "creating the {name} connector: {answer}\n{}",
            worker.stderr_tail()
        );
    }
    let running = |name: &str| {
        let (status, body) = http("GET", &format!("{rest}/connectors/{name}/status"), None);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        status == 200
            && v["connector"]["state"] == "RUNNING"
            && v["tasks"]
                .as_array()
                .is_some_and(|t| !t.is_empty() && t.iter().all(|t| t["state"] == "RUNNING"))
    };
    let copied_equals = |want: &str| std::fs::read_to_string(&output).unwrap_or_default() == want;
    wait_until(WAIT, "both connectors and their tasks RUNNING", || {
        running("source") && running("sink")
    });
    wait_until(
        WAIT,
        "the sink file holds the source file's 100 lines",
        || copied_equals(&lines(0..100)),
    );

    worker.terminate();
    let mut appended = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .expect("open the source file");
    std::io::Write::write_all(&mut appended, lines(100..150).as_bytes()).expect("append");
    drop(appended);
    let worker = start_worker();
    wait_until(
        WAIT,
        "both connectors RUNNING again after the restart",
        || running("source") && running("sink"),
    );
    let deadline = std::time::Instant::now() + WAIT;
    while !copied_equals(&lines(0..150)) {
        let got = std::fs::read_to_string(&output).unwrap_or_default();
        assert!(
            std::time::Instant::now() < deadline,
            "after the restart the sink file holds {} lines, not the source's 150 (lost or \
             doubled)\n{}",
            got.lines().count(),
            worker.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for suffix in ["configs", "offsets", "status"] {
        let configs = broker.topic_configs(&format!("{id}-{suffix}"));
        assert_eq!(
            configs.get("cleanup.policy").and_then(|v| v.as_deref()),
            Some("compact"),
            "the worker's {suffix} topic is compacted"
        );
    }
}

/// SCRAM credentials from Kafka 4.1's AdminClient and kafka-configs --entity-type users.
#[test]
fn java_scram_session() {
    run_session("ScramSession", &classpaths().current);
}

/// Kafka 4.1's kafka-metadata-quorum against a controller and two brokers: the brokers
/// are `CurrentObservers` of `describe --status` and `Observer` rows of
/// `describe --replication`, never voters.
#[test]
fn kafka_metadata_quorum_shows_broker_only_nodes_as_observers() {
    let cluster = ClusterSpec::split(IRONLOG_BINARY, 1, 2)
        .overrides(BROKER_OVERRIDES)
        .start();
    ClientSession {
        program: "java".into(),
        script: PathBuf::from("ironlog.QuorumSession"),
        bootstrap: cluster.bootstrap(),
        args: Vec::new(),
        dir: Some(java_dir()),
        env: vec![
            ("CLASSPATH".into(), classpaths().current.clone()),
            ("IRONLOG_VOTERS".into(), cluster.voters()),
            ("IRONLOG_OBSERVERS".into(), "2,3".into()),
        ],
        timeout_secs: SESSION_TIMEOUT_SECS,
    }
    .run("a controller and two brokers: each node's log tail is printed as the test fails");
}

/// The finalized metadata.version node `addr` answers in ApiVersions.
fn finalized_metadata_version(addr: &str) -> Option<i16> {
    let response = RawClient::connect(addr).expect_call(
        3,
        &kafka_protocol::messages::ApiVersionsRequest::default()
            .with_client_software_name(kafka_protocol::protocol::StrBytes::from_static_str("t"))
            .with_client_software_version(kafka_protocol::protocol::StrBytes::from_static_str("1")),
        "ApiVersions",
    );
    response
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "metadata.version")
        .map(|f| f.max_version_level)
}

/// Kafka 4.1's kafka-features against `cluster`, formatted at release 3.9 (FeaturesSession:
/// describe, a dry run, `upgrade --metadata 4.1`, a refused downgrade); afterwards every
/// node's ApiVersions converges on 4.1-IV1.
fn kafka_features_upgrade_from_3_9(nodes: i32) {
    let cluster = cluster_spec(nodes)
        .overrides(BROKER_OVERRIDES)
        .formatted_with(&[
            "--cluster-id",
            "kafkaFeatures3dot9Xxxw",
            "--release-version",
            "3.9",
        ])
        .start();
    for id in cluster.node_ids() {
        assert_eq!(
            finalized_metadata_version(cluster.node(id).bootstrap()),
            Some(21),
            "node {id} of a cluster formatted at 3.9 runs at 3.9-IV0"
        );
    }
    ClientSession {
        program: "java".into(),
        script: PathBuf::from("ironlog.FeaturesSession"),
        bootstrap: cluster.bootstrap(),
        args: Vec::new(),
        dir: Some(java_dir()),
        env: vec![("CLASSPATH".into(), classpaths().current.clone())],
        timeout_secs: SESSION_TIMEOUT_SECS,
    }
    .run("each node's log tail is printed as the test fails");
    for id in cluster.node_ids() {
        let addr = cluster.node(id).bootstrap().to_string();
        wait_until(
            std::time::Duration::from_secs(30),
            &format!("node {id}'s ApiVersions to show metadata.version 27"),
            || finalized_metadata_version(&addr) == Some(27),
        );
    }
}

#[test]
fn kafka_features_upgrades_a_single_node_formatted_at_3_9() {
    kafka_features_upgrade_from_3_9(1);
}

#[test]
fn kafka_features_upgrades_a_three_node_cluster_formatted_at_3_9() {
    kafka_features_upgrade_from_3_9(3);
}

/// One run of Kafka 4.1's `kafka-metadata-quorum` (its main class) with `args`, bounded by
/// coreutils `timeout`; returns its stdout, failing the test with both outputs unless it
/// exits 0.
fn kafka_metadata_quorum(args: &[&str], context: &str) -> String {
    kafka_tool(
        "kafka-metadata-quorum",
        "org.apache.kafka.tools.MetadataQuorumCommand",
        args,
        context,
    )
}

/// One run of Kafka 4.1's tool `name` (its main class `main_class`) with `args`, as
/// [`kafka_metadata_quorum`].
fn kafka_tool(name: &str, main_class: &str, args: &[&str], context: &str) -> String {
    let output = Command::new("timeout")
        .arg(SESSION_TIMEOUT_SECS.to_string())
        .arg("java")
        .arg(main_class)
        .args(args)
        .env("CLASSPATH", &classpaths().current)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run java");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{name} {}\n{stdout}", args.join(" "));
    assert!(
        output.status.success(),
        "{name} {} failed ({}):\n{stdout}\n{}\n{context}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The `directory.id` in node `id`'s meta.properties, as Kafka prints it.
fn meta_directory_id(cluster: &TestCluster, id: i32) -> String {
    let path = cluster.node(id).data_dir().join("meta.properties");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("directory.id="))
        .unwrap_or_else(|| panic!("no directory.id in {}:\n{text}", path.display()))
        .trim()
        .to_string()
}

/// Kafka 4.1's kafka-metadata-quorum changing a dynamic quorum (KIP-853) of three combined
/// nodes, node 1 formatted `--standalone`: `add-controller` with each observer's
/// controller.properties (`--bootstrap-controller`) makes it a voter, `describe --status`
/// (through the controllers) shows the voters with their directory ids and endpoints,
/// `remove-controller` (through a broker, which forwards it) makes one an observer again,
/// which `describe --replication` shows. `kafka-features describe` shows kraft.version
/// finalized at 1.
#[test]
fn kafka_metadata_quorum_adds_and_removes_controllers_of_a_dynamic_quorum() {
    let cluster = ClusterSpec::dynamic_standalone(IRONLOG_BINARY, 3, "kafkaToolsDynamicQrm1A")
        .overrides(BROKER_OVERRIDES)
        .start();
    let bootstrap = cluster.bootstrap();
    let controllers = cluster.controller_address(1);
    let context = "a dynamic quorum of 3 nodes";
    let features = kafka_tool(
        "kafka-features",
        "org.apache.kafka.tools.FeatureCommand",
        &["--bootstrap-server", &bootstrap, "describe"],
        context,
    );
    assert!(
        features.contains(
            "Feature: kraft.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tFinalizedVersionLevel: 1\t"
        ),
        "kraft.version 1 in kafka-features describe:\n{features}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    for id in [2, 3] {
        // what the tool reads of a controller's configuration, as Kafka's docs have it
        let properties = dir.path().join(format!("controller{id}.properties"));
        std::fs::write(
            &properties,
            format!(
                "node.id={id}\nprocess.roles=broker,controller\ncontroller.listener.names=CONTROLLER\n\
                 listeners=PLAINTEXT://{},CONTROLLER://{}\nlog.dirs={}\n",
                cluster.node(id).bootstrap(),
                cluster.controller_address(id),
                cluster.node(id).data_dir().display()
            ),
        )
        .expect("write controller.properties");
        let properties = properties.display().to_string();
        // through the controllers, as Kafka's documentation adds a controller
        let out = kafka_metadata_quorum(
            &[
                "--bootstrap-controller",
                &controllers,
                "--command-config",
                &properties,
                "add-controller",
            ],
            context,
        );
        let directory = meta_directory_id(&cluster, id);
        assert!(
            out.contains(&format!(
                "Added controller {id} with directory id {directory}"
            )),
            "add-controller {id}: {out}"
        );
    }
    let status = kafka_metadata_quorum(
        &[
            "--bootstrap-controller",
            &controllers,
            "describe",
            "--status",
        ],
        context,
    );
    let voters = status
        .lines()
        .find_map(|l| l.strip_prefix("CurrentVoters:"))
        .unwrap_or_else(|| panic!("no CurrentVoters line:\n{status}"))
        .trim()
        .to_string();
    for id in 1..=3 {
        let expected = format!(
            "{{\"id\": {id}, \"directoryId\": \"{}\", \"endpoints\": [\"CONTROLLER://{}\"]}}",
            meta_directory_id(&cluster, id),
            cluster.controller_address(id)
        );
        assert!(
            voters.contains(&expected),
            "voter {id} as {expected} in {voters}"
        );
    }

    let directory = meta_directory_id(&cluster, 3);
    let out = kafka_metadata_quorum(
        &[
            "--bootstrap-server",
            &bootstrap,
            "remove-controller",
            "--controller-id",
            "3",
            "--controller-directory-id",
            &directory,
        ],
        context,
    );
    // (Kafka 4.1 prints "Removed  KRaft controller", with two spaces)
    assert!(
        out.starts_with("Removed")
            && out.contains(&format!("KRaft controller 3 with directory id {directory}")),
        "{out}"
    );
    let mut table = String::new();
    wait_until(
        std::time::Duration::from_secs(60),
        "describe --replication to show node 3 as an observer",
        || {
            table = kafka_metadata_quorum(
                &[
                    "--bootstrap-server",
                    &bootstrap,
                    "describe",
                    "--replication",
                ],
                context,
            );
            table.lines().any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.first() == Some(&"3") && cells.last() == Some(&"Observer")
            })
        },
    );
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(directory.as_str())),
        "node 3's directory id in {table}"
    );
}
