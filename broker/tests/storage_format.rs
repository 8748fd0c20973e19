//! `ironlog format` (Kafka's `kafka-storage.sh format`) with `--add-scram`: the credentials
//! are in the cluster's metadata from its first entry on, so a SCRAM listener admits its
//! users before anyone could create them through the admin API — a real librdkafka client
//! (the rdkafka crate) authenticates with SCRAM-SHA-256 and a wrong password is refused;
//! DescribeUserScramCredentials lists the users with their iterations; a 3-node cluster
//! whose brokers replicate over SCRAM does so from its first start. Bad arguments and formatted directories stop the command
//! with Kafka's sentence, a non-zero exit, and nothing written.
mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ironlog_testkit::cluster_security::{
    ClusterSecurity, ControllerLink, InterBrokerMechanism, NODE_PASSWORD, NODE_USER,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::DescribeUserScramCredentialsRequest;
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientContext;

const CLUSTER_ID: &str = "q1Sh-9_ISia_zwGINzRvyQ";
/// A user of DescribeUserScramCredentials: name, error code, (mechanism, iterations)s.
type UserCredentials = (String, i16, Vec<(i8, i32)>);
const SCRAM_SHA_256: i8 = 1;
const SCRAM_SHA_512: i8 = 2;
/// How long a client gets to authenticate (or to be refused).
const AUTH_WAIT: Duration = Duration::from_secs(30);

/// A PLAINTEXT listener (the kit's, for the raw client) and a SASL_PLAINTEXT one that
/// knows SCRAM only — no static user anywhere: only formatted credentials get in.
fn scram_broker_spec(data: &Path) -> BrokerSpec {
    let listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0";
    broker_spec().overrides(&[
        ("log.dirs", &data.display().to_string()),
        ("listeners", listeners),
        ("advertised.listeners", listeners),
        ("sasl.enabled.mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512"),
        ("authentication.timeout.ms", "3000"),
    ])
}

/// `ironlog format` with the node's settings (those the broker starts with) and `args`.
fn format(spec: &BrokerSpec, data: &Path, args: &[&str]) -> Output {
    let mut line = spec.command_in(data).args();
    line[0] = "format".to_string();
    Command::new(IRONLOG_BINARY)
        .args(&line)
        .args(args)
        .output()
        .expect("the ironlog binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Errors librdkafka reported through its context (authentication failures among them).
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<(RDKafkaErrorCode, String)>>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(code) = error.rdkafka_error_code() {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((code, reason.to_string()));
        }
    }
}

impl ConsumerContext for Errors {}

fn scram_client(
    bootstrap: &str,
    mechanism: &str,
    user: &str,
    password: &str,
) -> (BaseConsumer<Errors>, Errors) {
    let errors = Errors::default();
    let mut config: ClientConfig = client_config(bootstrap);
    config
        .set("security.protocol", "sasl_plaintext")
        .set("sasl.mechanism", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password)
        .set("group.id", "ironlog-test-format");
    let consumer = config
        .create_with_context(errors.clone())
        .expect("create an rdkafka consumer");
    (consumer, errors)
}

/// The client fetches the cluster's metadata over SASL, which needs authentication.
fn authenticates(bootstrap: &str, mechanism: &str, user: &str, password: &str) -> bool {
    let (consumer, _errors) = scram_client(bootstrap, mechanism, user, password);
    consumer
        .fetch_metadata(None, AUTH_WAIT)
        .map(|metadata| !metadata.brokers().is_empty())
        .unwrap_or(false)
}

/// The client is refused: librdkafka reports an authentication failure (and never gets
/// metadata), within the deadline.
fn refused(bootstrap: &str, mechanism: &str, user: &str, password: &str) -> Option<String> {
    let (consumer, errors) = scram_client(bootstrap, mechanism, user, password);
    let deadline = Instant::now() + AUTH_WAIT;
    while Instant::now() < deadline {
        if consumer
            .fetch_metadata(None, Duration::from_millis(500))
            .is_ok()
        {
            return None;
        }
        // Errors reach the context while the client is polled.
        let _ = consumer.poll(Duration::from_millis(100));
        let seen = errors.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((_, reason)) = seen
            .iter()
            .find(|(code, _)| *code == RDKafkaErrorCode::Authentication)
        {
            return Some(reason.clone());
        }
    }
    None
}

#[test]
fn formatted_scram_users_authenticate_from_the_first_start() {
    let dir = TestDir::new("ironlog-format-scram-").expect("a temp dir");
    let data = dir.path().join("data");
    let spec = scram_broker_spec(&data);
    let formatted = format(
        &spec,
        &data,
        &[
            "--cluster-id",
            CLUSTER_ID,
            "--add-scram",
            "SCRAM-SHA-256=[name=alice,password=alice-secret]",
            "--add-scram",
            "SCRAM-SHA-512=[name=bob,password=bob-secret,iterations=8192]",
        ],
    );
    assert!(
        formatted.status.success(),
        "format failed: {}",
        text(&formatted)
    );
    let meta = std::fs::read_to_string(data.join("meta.properties")).unwrap_or_else(|e| {
        panic!(
            "format wrote no meta.properties ({e}): {}",
            text(&formatted)
        )
    });
    assert!(
        meta.contains(&format!("cluster.id={CLUSTER_ID}")) && meta.contains("node.id=1"),
        "meta.properties names another cluster or node: {meta}"
    );

    let broker = spec.start();
    let sasl = broker
        .listener("SASL_PLAINTEXT")
        .expect("the broker printed its SASL_PLAINTEXT listener");
    assert!(
        authenticates(&sasl, "SCRAM-SHA-256", "alice", "alice-secret"),
        "alice's formatted SCRAM-SHA-256 credential did not let her in\n{}",
        broker.log_tail()
    );
    assert!(
        authenticates(&sasl, "SCRAM-SHA-512", "bob", "bob-secret"),
        "bob's formatted SCRAM-SHA-512 credential did not let him in\n{}",
        broker.log_tail()
    );
    let reason = refused(&sasl, "SCRAM-SHA-256", "alice", "not-alices-secret");
    assert!(
        reason.is_some(),
        "a wrong password was not refused with an authentication failure"
    );
    assert!(
        refused(&sasl, "SCRAM-SHA-512", "alice", "alice-secret").is_some(),
        "alice has no SCRAM-SHA-512 credential, yet she got in with it"
    );

    let mut raw = RawClient::connect(broker.bootstrap());
    let described = raw.expect_call(
        0,
        &DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
            UserName::default().with_name(StrBytes::from_static_str("alice")),
            UserName::default().with_name(StrBytes::from_static_str("bob")),
        ])),
        "DescribeUserScramCredentials",
    );
    assert_eq!(described.error_code, 0, "{:?}", described.error_message);
    let listed: Vec<UserCredentials> = described
        .results
        .iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.error_code,
                r.credential_infos
                    .iter()
                    .map(|c| (c.mechanism, c.iterations))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("alice".to_string(), 0, vec![(SCRAM_SHA_256, 4096)]),
            ("bob".to_string(), 0, vec![(SCRAM_SHA_512, 8192)]),
        ],
        "DescribeUserScramCredentials does not list the formatted credentials"
    );
    let metadata = raw.expect_call(
        12,
        &kafka_protocol::messages::MetadataRequest::default().with_topics(Some(Vec::new())),
        "Metadata",
    );
    assert_eq!(
        metadata
            .cluster_id
            .as_ref()
            .map(|id| id.to_string())
            .as_deref(),
        Some(CLUSTER_ID),
        "the cluster does not have the formatted cluster id"
    );

    // Neither the data dir nor the bootstrap file holds a password.
    for path in files_under(&data) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        for password in [&b"alice-secret"[..], b"bob-secret"] {
            assert!(
                !bytes.windows(password.len()).any(|w| w == password),
                "{} holds a password in plain text",
                path.display()
            );
        }
    }
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(files_under(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn bad_format_arguments_fail_clearly_and_write_nothing() {
    let dir = TestDir::new("ironlog-format-bad-").expect("a temp dir");
    let data = dir.path().join("data");
    let spec = scram_broker_spec(&data);
    for (args, expected) in [
        (
            vec!["--add-scram", "SCRAM-SHA-1=[name=a,password=b]"],
            "mechanism SCRAM-SHA-1 is not supported",
        ),
        (
            vec!["--add-scram", "SCRAM-SHA-256=[name=alice]"],
            "one of 'password' or 'saltedpassword'",
        ),
        (
            vec![
                "--add-scram",
                "SCRAM-SHA-256=[name=alice,password=x,iterations=1000]",
            ],
            "must be >= 4096",
        ),
        (
            // the first argument is fine, the second is not: nothing at all is written
            vec![
                "--add-scram",
                "SCRAM-SHA-256=[name=alice,password=alice-secret]",
                "--add-scram",
                "SCRAM-SHA-512=[password=x]",
            ],
            "supply 'name'",
        ),
    ] {
        let mut with_id = vec!["--cluster-id", CLUSTER_ID];
        with_id.extend(args.iter().copied());
        let output = format(&spec, &data, &with_id);
        let said = text(&output);
        assert!(
            !output.status.success(),
            "format {args:?} succeeded: {said}"
        );
        assert!(
            said.contains(expected),
            "format {args:?} did not say {expected:?}: {said}"
        );
        assert!(
            files_under(&data).is_empty(),
            "format {args:?} failed but wrote {:?}",
            files_under(&data)
        );
    }
    let output = format(&spec, &data, &[]);
    assert!(
        !output.status.success() && text(&output).contains("You must specify the cluster id"),
        "format without a cluster id: {}",
        text(&output)
    );

    // A formatted directory is not formatted again (its credentials stay as they were),
    // unless --ignore-formatted skips it.
    let first = format(&spec, &data, &["--cluster-id", CLUSTER_ID]);
    assert!(first.status.success(), "{}", text(&first));
    let meta = std::fs::read(data.join("meta.properties")).expect("meta.properties");
    let again = format(
        &spec,
        &data,
        &[
            "--cluster-id",
            CLUSTER_ID,
            "--add-scram",
            "SCRAM-SHA-256=[name=mallory,password=m]",
        ],
    );
    assert!(
        !again.status.success() && text(&again).contains("is already formatted"),
        "formatting twice: {}",
        text(&again)
    );
    let ignored = format(
        &spec,
        &data,
        &["--cluster-id", CLUSTER_ID, "--ignore-formatted"],
    );
    assert!(
        ignored.status.success() && text(&ignored).contains("already formatted"),
        "--ignore-formatted: {}",
        text(&ignored)
    );
    assert_eq!(
        std::fs::read(data.join("meta.properties")).expect("meta.properties"),
        meta,
        "a formatted directory was rewritten"
    );
}

/// The brokers replicate over SCRAM-SHA-512 with the credential formatted in, created
/// through no admin API: without it no follower could fetch. The controllers reach each
/// other with PLAIN — as in Kafka, a quorum cannot authenticate its voters with
/// credentials that only its own log holds.
#[test]
fn a_cluster_whose_brokers_replicate_over_scram_works_from_its_first_start_when_formatted() {
    let dir = TestDir::new("ironlog-format-cluster-").expect("a temp dir");
    let security = ClusterSecurity::new(
        &dir.path().join("certs"),
        ControllerLink::SaslSslPlain,
        InterBrokerMechanism::ScramSha512,
    );
    let node_credential = format!("SCRAM-SHA-512=[name={NODE_USER},password={NODE_PASSWORD}]");
    let cluster = replicated_cluster_spec()
        .secured(&security)
        .formatted_with(&["--cluster-id", CLUSTER_ID, "--add-scram", &node_credential])
        .start();
    let topic = topic_name("scram-formatted");
    cluster.create_replicated_topic(&topic, 1, 3, Duration::from_secs(90));
    let values: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    send_all(&cluster.producer(), &topic, &values);
    cluster.await_full_isr_on_running(&topic, 1, Duration::from_secs(90));
    let read: Vec<String> = cluster
        .consume_all(&topic, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    assert_eq!(
        read, values,
        "the records read back are not the acknowledged ones"
    );
    for id in cluster.node_ids() {
        let log = cluster.node(id).partition_log(&topic, 0);
        assert!(
            log.windows(3).any(|w| w == b"v19"),
            "node {id} did not replicate the records over SCRAM"
        );
    }
}
