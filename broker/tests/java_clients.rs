//! Kafka's own Java stack against Ironlog: the Java client 4.1 (producer, classic and
//! consumer-protocol groups, exactly-once), its AdminClient, the 3.9 client's basics, and
//! Kafka 4.1's command-line tools run by their main classes. Each test runs one session of
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
