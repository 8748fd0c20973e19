//! Other clients than librdkafka: kafka-python and aiokafka, pure-python clients with their
//! own protocol code that negotiate (or, pinned to an old Kafka release, assume) their own
//! request versions; and confluent-kafka, whose bundled librdkafka is newer than the rdkafka
//! crate's. Each test runs one session script from `tests/clients/` with
//! `python3` against a fresh broker; the script checks every result itself and exits
//! non-zero with a sentence naming the mismatch, which the test prints.
//!
//! Without the python packages (`pip install kafka-python aiokafka python-snappy lz4
//! zstandard cramjam confluent-kafka`, done by test.sh) these tests fail, saying what to
//! install.
mod common;

use common::*;

/// Seconds one session script may take (enforced with coreutils `timeout`).
const SCRIPT_TIMEOUT_SECS: u32 = 120;
/// The python modules the sessions import (codec packages included).
const PYTHON_MODULES: &[&str] = &[
    "kafka",
    "aiokafka",
    "snappy",
    "lz4",
    "zstandard",
    "cramjam",
    "confluent_kafka",
];

/// Fails the test, naming the missing piece and how to install it, unless python and every
/// module the sessions import are there.
fn require_python_clients() {
    require_python_modules(
        PYTHON_MODULES,
        "pip install kafka-python aiokafka python-snappy lz4 zstandard cramjam confluent-kafka \
         (./test.sh does)",
    );
}

/// Runs `tests/clients/SCRIPT BOOTSTRAP ARGS...` and fails with its output (and the broker
/// log) unless it exits 0.
fn run_session(broker: &TestBroker, script: &str, args: &[&str]) {
    python_session(
        script,
        broker.bootstrap().to_string(),
        args.iter().map(|a| a.to_string()).collect(),
        SCRIPT_TIMEOUT_SECS,
    )
    .run(&broker.log_tail());
}

#[test]
fn kafka_python_session_with_negotiated_versions() {
    require_python_clients();
    let broker = TestBroker::start();
    run_session(&broker, "kafka_python_session.py", &[]);
}

/// kafka-python pinned to Kafka 2.1's request versions (no ApiVersions): the oldest
/// client generation Kafka 4.0 still serves (KIP-896), non-flexible request versions.
#[test]
fn kafka_python_session_as_a_kafka_2_1_client() {
    require_python_clients();
    let broker = TestBroker::start();
    run_session(&broker, "kafka_python_session.py", &["2.1"]);
}

/// kafka-python pinned to Kafka 3.0's request versions.
#[test]
fn kafka_python_session_as_a_kafka_3_0_client() {
    require_python_clients();
    let broker = TestBroker::start();
    run_session(&broker, "kafka_python_session.py", &["3.0"]);
}

/// kafka-python static members (group_instance_id) restarted within their session timeout:
/// the leader and a follower with the default eager assignors, and the leader with
/// cooperative-sticky, get their partitions back without the group rebalancing.
#[test]
fn kafka_python_static_members_come_back_without_a_rebalance() {
    require_python_clients();
    let broker = TestBroker::start_with(&[("group.initial.rebalance.delay.ms", "0")]);
    run_session(&broker, "static_members.py", &[]);
}

#[test]
fn aiokafka_session() {
    require_python_clients();
    let broker = TestBroker::start();
    run_session(&broker, "aiokafka_session.py", &[]);
}

/// kafka-python's default producer is idempotent (as the Java client's is since Kafka
/// 3.0): it needs InitProducerId and sequence checks.
#[test]
fn idempotent_python_producers() {
    require_python_clients();
    let broker = TestBroker::start();
    run_session(&broker, "idempotent_producers.py", &[]);
}

/// kafka-python and aiokafka transactional producers: commit, abort, and kafka-python's
/// send_offsets_to_transaction with a group consumer (KIP-890 verification on, as default).
#[test]
fn transactional_python_producers() {
    require_python_clients();
    let broker = TestBroker::start_with(&[("group.initial.rebalance.delay.ms", "0")]);
    run_session(&broker, "transactional_producers.py", &[]);
}

/// KIP-467 record errors as confluent-kafka (librdkafka 2.16) and kafka-python see them: a
/// batch with keyless records to a compacted topic fails exactly those records with
/// INVALID_RECORD and the others with the client's "part of a batch" error; resending the
/// others succeeds.
#[test]
fn python_producers_fail_only_the_records_the_broker_names() {
    require_python_clients();
    let broker = TestBroker::start();
    run_session(&broker, "record_errors.py", &[]);
}

/// kafka-python's `describe_topic_partitions` (DescribeTopicPartitions, KIP-966): paging
/// through three topics with the broker's cursor sees every partition once, in order, as
/// Metadata describes it.
#[test]
fn kafka_python_describes_topic_partitions_page_by_page() {
    require_python_clients();
    let broker = TestBroker::start();
    run_session(&broker, "describe_topic_partitions.py", &[]);
}

/// kafka-python's admin client on broker and topic configs (describe flags as Kafka 4.1
/// reports them, dynamic changes with synonyms, read-only keys refused), Kafka 4.1's
/// ListConfigResources, and the broker release it infers from ApiVersions (at least 4.1).
#[test]
fn kafka_python_admin_configs_and_kafka_4_1_apis() {
    require_python_clients();
    let broker = TestBroker::start();
    run_session(&broker, "kafka_python_configs.py", &[]);
}

/// confluent-kafka with `group.protocol=consumer`: commits of an assign()-only consumer, and
/// a cooperative-sticky group converted to the consumer protocol and back while the admin
/// client describes its type (KIP-848).
#[test]
fn confluent_kafka_consumer_protocol_session() {
    require_python_clients();
    let broker = TestBroker::start_with(&[
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "5"),
        ("group.min.session.timeout.ms", "1000"),
        ("group.consumer.heartbeat.interval.ms", "300"),
        ("group.consumer.min.heartbeat.interval.ms", "100"),
    ]);
    run_session(&broker, "confluent_kip848_session.py", &[]);
}
