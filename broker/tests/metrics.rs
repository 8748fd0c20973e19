//! The admin HTTP listener against the real binary: Prometheus metrics that count what
//! real clients (librdkafka) did and pass `promtool check metrics`, consumer lag equal to
//! what the group committed and the log holds, health probes, refusals of bad HTTP input,
//! and log levels changed at runtime through the BROKER_LOGGER config resource (as
//! `kafka-configs --entity-type broker-loggers` does) and through `/loggers`.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(30);

fn admin_url(broker: &TestBroker) -> String {
    broker
        .admin_url()
        .expect("the broker printed no `ironlog: listener ADMIN bound to` line")
}

/// A scrape: every sample as (name, labels, value).
struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

fn scrape(broker: &TestBroker) -> Scrape {
    let (status, text) = http("GET", &format!("{}/metrics", admin_url(broker)), None);
    assert_eq!(status, 200, "GET /metrics answered {status}: {text}");
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once('=').expect("label=value");
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            (
                name.to_string(),
                labels,
                value.parse().expect("a numeric sample"),
            )
        })
        .collect();
    Scrape { text, samples }
}

impl Scrape {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
    }

    fn expect(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("/metrics has no {name}{labels:?}:\n{}", self.text))
    }
}

/// Produce, fail a produce, consume in a group and commit part way: the per-topic
/// counters, partition gauges and the group's lag say what happened, and the scrape
/// passes promtool's lint.
#[test]
fn metrics_count_real_client_traffic_and_consumer_lag() {
    let broker = TestBroker::start();
    let topic = broker.new_topic("metered", 1);
    let values: Vec<String> = (0..10).map(|i| format!("value-{i}")).collect();
    send_all(&broker.producer(), &topic, &values);

    // A record over the topic's max.message.bytes fails as MESSAGE_TOO_LARGE.
    let small = topic_name("small");
    broker.create_topic(&small, 1, &[("max.message.bytes", "200")]);
    let refused = block_on(
        broker.producer().send(
            FutureRecord::<(), String>::to(&small)
                .partition(0)
                .payload(&"x".repeat(2_000)),
            Duration::from_secs(10),
        ),
    );
    assert!(
        refused.is_err(),
        "a 2000-byte record must be refused by max.message.bytes=200"
    );

    // A group consumes 4 of the 10 records and commits after the fourth.
    let group = "metered-group";
    let consumer = broker.consumer_with(&[("group.id", group)]);
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut consumed = 0;
    let mut last_offset = -1;
    wait_until(WAIT, "the group consumed 4 records", || {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            if m.payload().is_some() {
                consumed += 1;
                last_offset = m.offset();
            }
        }
        consumed >= 4
    });
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset(&topic, 0, Offset::Offset(last_offset + 1))
        .expect("offset");
    consumer.commit(&commit, CommitMode::Sync).expect("commit");
    let committed = consumer
        .committed(Duration::from_secs(10))
        .expect("committed offsets");
    let committed = match committed.find_partition(&topic, 0).map(|p| p.offset()) {
        Some(Offset::Offset(o)) => o,
        other => panic!("the group has no committed offset for {topic}-0: {other:?}"),
    };
    let (_, high) = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    assert_eq!((committed, high), (4, 10), "the group committed 4 of 10");

    let m = scrape(&broker);
    promtool_check_metrics(&m.text);
    let t = [("topic", topic.as_str())];
    assert_eq!(
        m.expect("kafka_server_brokertopicmetrics_messagesin_total", &t),
        10.0
    );
    let tp = [("topic", topic.as_str()), ("partition", "0")];
    let log_size = m.expect("kafka_log_log_size", &tp);
    assert_eq!(
        m.expect("kafka_server_brokertopicmetrics_bytesin_total", &t),
        log_size,
        "bytes in must equal the bytes the topic's only partition holds"
    );
    assert!(m.expect("kafka_server_brokertopicmetrics_bytesout_total", &t) >= log_size);
    assert_eq!(
        m.expect(
            "kafka_server_brokertopicmetrics_failedproducerequests_total",
            &t
        ),
        0.0
    );
    assert!(
        m.value(
            "kafka_server_brokertopicmetrics_failedproducerequests_total",
            &[("topic", small.as_str())]
        ) >= Some(1.0)
    );
    assert!(
        m.value(
            "kafka_network_requestmetrics_errors_total",
            &[("request", "Produce"), ("error", "MESSAGE_TOO_LARGE")]
        ) >= Some(1.0)
    );
    assert!(
        m.value(
            "kafka_network_requestmetrics_errors_total",
            &[("request", "Produce"), ("error", "NONE")]
        ) >= Some(1.0)
    );
    assert!(
        m.value(
            "kafka_network_requestmetrics_totaltimems_count",
            &[("request", "FetchConsumer")]
        ) >= Some(1.0)
    );
    assert!(
        m.value(
            "kafka_server_socket_server_metrics_connections",
            &[("listener", CLIENT_LISTENER)]
        ) >= Some(1.0)
    );
    assert_eq!(m.expect("kafka_log_log_logendoffset", &tp), 10.0);
    assert_eq!(
        m.expect("ironlog_partition_high_watermark", &tp),
        high as f64
    );
    assert_eq!(
        m.expect("kafka_cluster_partition_underreplicated", &tp),
        0.0
    );
    assert_eq!(
        m.expect("kafka_server_replicamanager_underreplicatedpartitions", &[]),
        0.0
    );
    assert_eq!(
        m.expect(
            "kafka_controller_kafkacontroller_activecontrollercount",
            &[]
        ),
        1.0
    );
    assert_eq!(
        m.expect(
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            &[]
        ),
        0.0
    );
    assert!(m.expect("kafka_server_replicamanager_leadercount", &[]) >= 2.0);

    // Lag: the high watermark minus the committed offset, as kafka-consumer-groups shows.
    let gtp = [
        ("consumergroup", group),
        ("topic", topic.as_str()),
        ("partition", "0"),
    ];
    assert_eq!(
        m.expect("kafka_consumergroup_current_offset", &gtp),
        committed as f64
    );
    assert_eq!(
        m.expect("kafka_consumergroup_lag", &gtp),
        (high - committed) as f64
    );

    // Committing the rest brings the lag to 0.
    let mut rest = TopicPartitionList::new();
    rest.add_partition_offset(&topic, 0, Offset::Offset(high))
        .expect("offset");
    consumer.commit(&rest, CommitMode::Sync).expect("commit");
    assert_eq!(scrape(&broker).expect("kafka_consumergroup_lag", &gtp), 0.0);
}

/// Health probes, and bad HTTP input answered with the proper status codes.
#[test]
fn admin_listener_answers_probes_and_refuses_bad_http() {
    let broker = TestBroker::start();
    let url = admin_url(&broker);
    assert_eq!(http("GET", &format!("{url}/health/live"), None).0, 200);
    let (status, body) = http("GET", &format!("{url}/health/ready"), None);
    assert_eq!(status, 200, "a started single node is ready: {body}");
    for check in [
        "registered",
        "metadata_caught_up",
        "listeners_serving",
        "log_dirs_online",
    ] {
        assert!(
            body.contains(&format!("\"{check}\":true")),
            "readiness must report {check}: {body}"
        );
    }
    // A broker nobody used yet: no partitions, groups or requests to report, and still a
    // valid scrape.
    let (status, text) = http("GET", &format!("{url}/metrics"), None);
    assert_eq!(status, 200, "a fresh broker's /metrics must render: {text}");
    promtool_check_metrics(&text);
    assert_eq!(http("GET", &format!("{url}/nothing-here"), None).0, 404);
    assert_eq!(http("POST", &format!("{url}/metrics"), Some("x")).0, 405);
    assert_eq!(http("DELETE", &format!("{url}/health/live"), None).0, 405);
    let (status, body) = http("PUT", &format!("{url}/loggers/ironlog"), Some("LOUD"));
    assert_eq!(status, 400, "an unknown level is refused: {body}");
    assert!(body.contains("not a supported log level"), "{body}");
    assert_eq!(
        http("PUT", &format!("{url}/loggers/ironlog"), Some("")).0,
        400
    );
    assert_eq!(http("DELETE", &format!("{url}/loggers/root"), None).0, 400);
    let big = "D".repeat(4_096);
    assert_eq!(
        http("PUT", &format!("{url}/loggers/ironlog"), Some(&big)).0,
        413
    );

    // Bytes that are not HTTP get 400, and the listener keeps serving.
    let address = broker.listener(ADMIN_LISTENER).expect("admin address");
    let mut socket = std::net::TcpStream::connect(&address).expect("connect to the admin port");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    socket
        .write_all(b"\x16\x03\x01 not http at all\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "garbage must be answered 400, got {answer:?}"
    );
    assert_eq!(http("GET", &format!("{url}/health/live"), None).0, 200);
}

/// `ironlog healthcheck` (the container's HEALTHCHECK) passes against a ready broker, by
/// the admin listener its settings name, and fails where no broker answers or none is set.
#[test]
fn healthcheck_command_asks_the_admin_listener() {
    let broker = TestBroker::start();
    let address = broker.listener(ADMIN_LISTENER).expect("admin address");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let output = Command::new(IRONLOG_BINARY)
            .arg("healthcheck")
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run ironlog healthcheck");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let listener = format!("admin.listener=http://{address}");
    let (ok, stderr) = run(&["--override", &listener], &[]);
    assert!(ok, "healthcheck failed against a ready broker: {stderr}");
    let (ok, stderr) = run(
        &["--path", "/health/live"],
        &[("IRONLOG_ADMIN_LISTENER", &format!("http://{address}"))],
    );
    assert!(ok, "liveness by IRONLOG_ADMIN_LISTENER failed: {stderr}");
    // An answer other than 200 fails the check.
    let (ok, stderr) = run(&["--override", &listener, "--path", "/nothing-here"], &[]);
    assert!(
        !ok && stderr.contains("404"),
        "a 404 must fail the check: {stderr}"
    );

    // Nothing listening there: a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("address").port();
    drop(free);
    let (ok, stderr) = run(
        &[
            "--override",
            &format!("admin.listener=http://127.0.0.1:{port}"),
        ],
        &[],
    );
    assert!(!ok, "healthcheck passed where nothing listens: {stderr}");
    let (ok, stderr) = run(&["--override", "admin.listener="], &[]);
    assert!(
        !ok && stderr.contains("admin.listener is empty"),
        "healthcheck with no admin listener must say so: {stderr}"
    );
    let (ok, stderr) = run(&["--override", "admin.listener=ftp://x"], &[]);
    assert!(
        !ok && stderr.contains("admin.listener"),
        "a bad setting must be named: {stderr}"
    );
}

/// DescribeConfigs / IncrementalAlterConfigs on BROKER_LOGGER change what the broker logs
/// now, with Kafka's refusals; `/loggers` shows the same levels.
#[test]
fn broker_logger_levels_change_at_runtime() {
    let broker = TestBroker::start();
    let url = admin_url(&broker);
    let mut raw = broker.raw();
    let (code, _, loggers) = raw.describe_configs(resource::BROKER_LOGGER, "1", None);
    assert_eq!(code, codes::NONE);
    let root = loggers.get("root").expect("the root logger is described");
    assert_eq!(root.value.as_deref(), Some("INFO"));
    assert_eq!(root.config_source, 6, "DYNAMIC_BROKER_LOGGER_CONFIG");
    assert!(!loggers.contains_key("ironlog::network"));

    // Before: no DEBUG line of the network module in the log.
    let debug_line = |text: &str| {
        text.lines()
            .any(|l| l.contains("DEBUG") && l.contains("ironlog::network"))
    };
    assert!(
        !debug_line(&broker.log_text()),
        "no network DEBUG lines at INFO"
    );
    let set = [("ironlog::network", config_op::SET, Some("DEBUG"))];
    assert_eq!(
        raw.incremental_alter_configs(resource::BROKER_LOGGER, "1", &set, false),
        (codes::NONE, None)
    );
    let (_, _, loggers) =
        raw.describe_configs(resource::BROKER_LOGGER, "1", Some(&["ironlog::network"]));
    assert_eq!(
        loggers
            .get("ironlog::network")
            .and_then(|c| c.value.as_deref()),
        Some("DEBUG")
    );
    let (_, body) = http("GET", &format!("{url}/loggers"), None);
    assert!(
        body.contains("\"ironlog::network\":\"DEBUG\""),
        "/loggers: {body}"
    );
    // A connection that closes is logged at DEBUG by ironlog::network.
    drop(broker.raw());
    wait_until(
        WAIT,
        "a DEBUG line of ironlog::network in the broker log",
        || debug_line(&broker.log_text()),
    );

    // Kafka's refusals.
    let refused = |ops: &[(&str, i8, Option<&str>)], name: &str| {
        broker
            .raw()
            .incremental_alter_configs(resource::BROKER_LOGGER, name, ops, false)
    };
    let (code, message) = refused(&[("ironlog", config_op::SET, Some("LOUD"))], "1");
    assert_eq!(code, codes::INVALID_CONFIG, "{message:?}");
    assert_eq!(
        refused(&[("root", config_op::DELETE, None)], "1").0,
        codes::INVALID_REQUEST
    );
    assert_eq!(
        refused(&[("ironlog", config_op::APPEND, Some("DEBUG"))], "1").0,
        codes::INVALID_REQUEST
    );
    assert_eq!(
        refused(&[("ironlog", config_op::SET, Some("DEBUG"))], "2").0,
        codes::INVALID_REQUEST
    );
    assert_eq!(
        raw.describe_configs(resource::BROKER_LOGGER, "2", None).0,
        codes::INVALID_REQUEST
    );

    // DELETE: the logger follows root again.
    let unset = [("ironlog::network", config_op::DELETE, None)];
    assert_eq!(
        raw.incremental_alter_configs(resource::BROKER_LOGGER, "1", &unset, false)
            .0,
        codes::NONE
    );
    let (_, _, loggers) = raw.describe_configs(resource::BROKER_LOGGER, "1", None);
    assert!(
        !loggers.contains_key("ironlog::network"),
        "deleted loggers are not described"
    );
}

/// logger.format=json: every log line is one JSON object.
#[test]
fn json_logs_are_one_object_per_line() {
    let broker = TestBroker::start_with(&[("logger.format", "json")]);
    wait_until(WAIT, "the `broker started` line in the JSON log", || {
        broker.log_text().contains("\"broker started\"")
    });
    let text = broker.log_text();
    // The test kit prefixes the broker's stderr lines with `[err] `.
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("[err] "))
        .collect();
    assert!(lines.len() >= 3, "the broker logged:\n{text}");
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(
            value.get("level").is_some() && value.get("fields").is_some(),
            "{line}"
        );
    }
}
